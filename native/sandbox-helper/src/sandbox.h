/* Sandbox measures for the plughost helper; see sandbox.c. Each returns the
 * PH_SB_* bits of the measures that took effect (0 when unavailable). */
#ifndef PLUGHOST_HELPER_SANDBOX_H
#define PLUGHOST_HELPER_SANDBOX_H
#include <stdint.h>
#include <sys/types.h>

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
/* The plugin's own filesystem: a read-only tmpfs root holding the library
 * (copied from so_fd to PH_ROOT_LIB) and the system libraries it links, and
 * nothing else. Needs the mount namespace; returns PH_SB_ROOT or 0. */
#define PH_ROOT_LIB "/plugin.so"
/* Why the ELF file at fd cannot be mapped safely (a truncated segment), or NULL. */
const char *ph_elf_problem(int fd);
unsigned ph_private_root(int so_fd);
/* As root: become `uid` (a uid of this helper alone, so RLIMIT_NPROC counts
 * only its threads). Otherwise: drop the capabilities a user namespace gave. */
unsigned ph_drop_privileges(uid_t uid);
unsigned ph_set_rlimits(const PhLimits *limits);
/* Move this process into the cgroup v2 directory `dir` (the host made it and
 * set its memory.max, pids.max, cpu.max); PH_SB_CGROUP or 0. */
unsigned ph_join_cgroup(const char *dir);
/* The seccomp profile: "basic" (NULL too) or "strict", narrowed further by
 * deny_csv (comma-separated syscall names of the basic list; modified in
 * place and kept). Call before any filter is loaded; NULL or why not. */
const char *ph_seccomp_profile(const char *profile, char *deny_csv);
unsigned ph_no_new_privs(void);
/* Phase 1: allow read-only opens (the loader maps the plugin). Phase 2: no opens. */
unsigned ph_seccomp_load(int phase);
/* The violation supervisor: call before ph_enter_namespaces with the host's
 * fd for violation reports (fd 7) and the shared slot's state word (or NULL).
 * ph_supervised() says whether init supervises this process (a pid namespace);
 * then ph_seccomp_supervised() loads the one filter (before dlopen) and hands
 * its listener to init, and ph_supervisor_phase2() ends the loader's phase. */
void ph_supervisor_setup(int host_fd, uint32_t *slot_state);
int ph_supervised(void);
unsigned ph_seccomp_supervised(void);
void ph_supervisor_phase2(void);
/* Report syscalls denied since the last call: name and count. */
void ph_violations_collect(void (*emit)(const char *name, uint32_t count));
#endif
