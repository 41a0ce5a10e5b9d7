/* Sandbox measures for the plughost helper; see sandbox.c. Each returns the
 * PH_SB_* bits of the measures that took effect (0 when unavailable). */
#ifndef PLUGHOST_HELPER_SANDBOX_H
#define PLUGHOST_HELPER_SANDBOX_H
#include <stdint.h>

#define PH_EXIT_PROTOCOL 97
#define PH_EXIT_SANDBOX 98

typedef struct {
  uint64_t as_bytes;    /* RLIMIT_AS; 0 = leave */
  uint64_t cpu_seconds; /* RLIMIT_CPU; 0 = leave */
  uint64_t nofile;      /* RLIMIT_NOFILE; 0 = leave */
  uint64_t fsize_bytes; /* RLIMIT_FSIZE (0 = no file may grow) */
  uint64_t nproc;       /* RLIMIT_NPROC; 0 = leave */
} PhLimits;

/* May fork (pid namespace): returns only in the process that runs the plugin. */
unsigned ph_enter_namespaces(void);
unsigned ph_drop_privileges(void);
unsigned ph_set_rlimits(const PhLimits *limits);
unsigned ph_no_new_privs(void);
/* Phase 1: allow read-only opens (the loader maps the plugin). Phase 2: no opens. */
unsigned ph_seccomp_load(int phase);
/* Report syscalls denied since the last call: name and count. */
void ph_violations_collect(void (*emit)(const char *name, uint32_t count));
#endif
