/*
 * The sandbox measures the helper applies before plugin code runs:
 * namespaces, privilege drop, rlimits, no_new_privs and a seccomp allow-list
 * (libseccomp when built with HAVE_LIBSECCOMP, else a raw BPF program made
 * from the same rule table).
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include "protocol.h"
#include "shm.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#ifdef HAVE_LIBSECCOMP
#include <seccomp.h>
#endif

/* ── namespaces ─────────────────────────────────────────────────────────── */

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Die the way a waited-for process died (wait status `st`), so the host sees
 * the plugin's own signal or exit status on the helper it spawned. */
static void reproduce(int st) {
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    _exit(128 + sig);
  }
  _exit(WIFEXITED(st) ? WEXITSTATUS(st) : PH_EXIT_SANDBOX);
}

static void close_all_but(int keep) {
  for (int fd = 0; fd < 64; fd++)
    if (fd != keep) close(fd);
}

/* The violation supervisor (see ph_seccomp_supervised): fd 7 to the host,
 * the shared slot's state word, and the plugin's ends of its handshake pipes. */
static int sup_host_fd = -1;
static uint32_t *sup_slot_state;
static int sup_tx = -1, sup_rx = -1;

void ph_supervisor_setup(int host_fd, uint32_t *slot_state) {
  sup_host_fd = host_fd;
  sup_slot_state = slot_state;
}

static void supervise(pid_t plugin, int status_fd, int from_plugin, int to_plugin);

/* The helper as spawned: waits for the namespace's init and relays the
 * plugin's wait status, which init sends over `status_fd`. */
static void relay(pid_t init, int status_fd) {
  close_all_but(status_fd);
  int st;
  while (waitpid(init, &st, 0) < 0) {
    if (errno != EINTR) _exit(PH_EXIT_SANDBOX);
  }
  int plugin_st;
  if (read(status_fd, &plugin_st, sizeof plugin_st) == (ssize_t)sizeof plugin_st) reproduce(plugin_st);
  reproduce(st);
}

/* pid 1 of the namespace. The kernel drops signals that init has no handler
 * for (abort() would not end it), so the plugin runs as pid 2 and init only
 * reaps and reports. */
static void ns_init(pid_t plugin, int status_fd, int from_plugin, int to_plugin) {
  if (from_plugin >= 0) supervise(plugin, status_fd, from_plugin, to_plugin);
  close_all_but(status_fd);
  for (;;) {
    int st;
    pid_t w = waitpid(-1, &st, 0);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) _exit(PH_EXIT_SANDBOX);
    if (w == plugin) {
      ssize_t n = write(status_fd, &st, sizeof st);
      _exit(n == (ssize_t)sizeof st ? 0 : PH_EXIT_SANDBOX);
    }
  }
}

static const struct {
  int flag;
  unsigned bit;
} NS[] = {
    {CLONE_NEWNET, PH_SB_NETNS}, {CLONE_NEWNS, PH_SB_MNTNS},   {CLONE_NEWPID, PH_SB_PIDNS},
    {CLONE_NEWIPC, PH_SB_IPCNS}, {CLONE_NEWUTS, PH_SB_UTSNS},
};

unsigned ph_enter_namespaces(void) {
  unsigned got = 0;
  int all = 0;
  for (size_t i = 0; i < sizeof NS / sizeof NS[0]; i++) all |= NS[i].flag;
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (uid == 0) {
    /* Root needs no user namespace; it drops to nobody afterwards instead. */
    if (unshare(all) == 0) {
      for (size_t i = 0; i < sizeof NS / sizeof NS[0]; i++) got |= NS[i].bit;
    } else {
      for (size_t i = 0; i < sizeof NS / sizeof NS[0]; i++)
        if (unshare(NS[i].flag) == 0) got |= NS[i].bit;
    }
  } else if (unshare(CLONE_NEWUSER | all) == 0) {
    char map[64];
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    write_file("/proc/self/setgroups", "deny");
    write_file("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    write_file("/proc/self/gid_map", map);
    got = PH_SB_USERNS;
    for (size_t i = 0; i < sizeof NS / sizeof NS[0]; i++) got |= NS[i].bit;
  } else if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) {
    got = PH_SB_USERNS | PH_SB_NETNS;
  }
  if (got & PH_SB_MNTNS) mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
  if (got & PH_SB_PIDNS) {
    /* A new pid namespace applies to children: fork its init, which forks the
     * process that runs the plugin. Everything in the namespace dies with init. */
    int sp[2];
    if (pipe2(sp, O_CLOEXEC) != 0) _exit(PH_EXIT_SANDBOX);
    pid_t init = fork();
    if (init < 0) _exit(PH_EXIT_SANDBOX);
    if (init > 0) relay(init, sp[0]);
    close(sp[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Init supervises the plugin's seccomp filter: two pipes for the hand-over of its listener. */
    int up[2] = {-1, -1}, down[2] = {-1, -1};
    if (sup_host_fd >= 0 && (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0)) _exit(PH_EXIT_SANDBOX);
    pid_t plugin = fork();
    if (plugin < 0) _exit(PH_EXIT_SANDBOX);
    if (plugin > 0) ns_init(plugin, sp[1], up[0], down[1]);
    close(sp[1]);
    if (sup_host_fd >= 0) { /* the plugin's side: never the host channel */
      close(sup_host_fd);
      close(up[0]);
      close(down[1]);
      sup_tx = up[1];
      sup_rx = down[0];
    }
  }
  return got;
}

/* ── the private root ───────────────────────────────────────────────────── */

#if defined(__x86_64__)
#define PH_TRIPLET "x86_64-linux-gnu"
#define PH_EM EM_X86_64
#elif defined(__aarch64__)
#define PH_TRIPLET "aarch64-linux-gnu"
#define PH_EM EM_AARCH64
#endif

/* Where the loader looks when there is no ld.so.cache (glibc's system dirs,
 * multiarch first), then the lib64 layout of other distributions. A library
 * is placed in the new root at the path it was found at, so the loader's own
 * search, in this order, finds it there. */
static const char *const LIBDIRS[] = {"/lib/" PH_TRIPLET, "/usr/lib/" PH_TRIPLET, "/lib", "/usr/lib", "/lib64", "/usr/lib64"};

#define STAGE "/tmp"       /* mount point of the new root while it is built */
#define MAX_LIBS 64
#define MAX_TABLE (1u << 20) /* bound on a dynamic section or string table read */

typedef struct {
  char names[MAX_LIBS][256];
  int n;
} Needed;

static int read_at(int fd, void *buf, size_t n, off_t off) {
  return pread(fd, buf, n, off) == (ssize_t)n ? 0 : -1;
}

/* A 64-bit ELF file for this machine. */
static int elf_header(int fd, Elf64_Ehdr *eh) {
  if (read_at(fd, eh, sizeof *eh, 0) != 0) return -1;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != PH_EM) return -1;
  if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > 128) return -1;
  return 0;
}

/* Append the DT_NEEDED names of the ELF file at `fd` to `out` (deduplicated). */
static void elf_needed(int fd, Needed *out) {
  Elf64_Ehdr eh;
  Elf64_Phdr ph[128];
  if (elf_header(fd, &eh) != 0 || read_at(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), (off_t)eh.e_phoff) != 0) return;
  const Elf64_Phdr *dyn = NULL;
  for (int i = 0; i < eh.e_phnum; i++)
    if (ph[i].p_type == PT_DYNAMIC) dyn = &ph[i];
  if (!dyn || dyn->p_filesz > MAX_TABLE) return;
  size_t ndyn = dyn->p_filesz / sizeof(Elf64_Dyn);
  Elf64_Dyn *d = malloc(ndyn * sizeof(Elf64_Dyn) + 1);
  if (!d || read_at(fd, d, ndyn * sizeof(Elf64_Dyn), (off_t)dyn->p_offset) != 0) {
    free(d);
    return;
  }
  uint64_t strtab = 0, strsz = 0;
  for (size_t i = 0; i < ndyn && d[i].d_tag != DT_NULL; i++) {
    if (d[i].d_tag == DT_STRTAB) strtab = d[i].d_un.d_ptr;
    if (d[i].d_tag == DT_STRSZ) strsz = d[i].d_un.d_val;
  }
  off_t stroff = -1;
  for (int i = 0; i < eh.e_phnum; i++) /* the string table's address to its file offset */
    if (ph[i].p_type == PT_LOAD && strtab >= ph[i].p_vaddr && strtab - ph[i].p_vaddr < ph[i].p_filesz)
      stroff = (off_t)(strtab - ph[i].p_vaddr + ph[i].p_offset);
  char *str = strsz && strsz <= MAX_TABLE && stroff >= 0 ? malloc(strsz + 1) : NULL;
  if (str && read_at(fd, str, strsz, stroff) == 0) {
    str[strsz] = 0;
    for (size_t i = 0; i < ndyn && d[i].d_tag != DT_NULL; i++) {
      if (d[i].d_tag != DT_NEEDED || d[i].d_un.d_val >= strsz) continue;
      const char *name = str + d[i].d_un.d_val;
      if (strchr(name, '/') || strlen(name) >= 256) continue; /* only names the loader searches for */
      int dup = 0;
      for (int k = 0; k < out->n; k++) dup |= strcmp(out->names[k], name) == 0;
      if (!dup && out->n < MAX_LIBS) strcpy(out->names[out->n++], name);
    }
  }
  free(str);
  free(d);
}

static int mkdirs(char *path) { /* mkdir -p, in place */
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int rc = mkdir(path, 0755);
    *p = '/';
    if (rc != 0 && errno != EEXIST) return -1;
  }
  return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static int copy_fd(int from, const char *to) {
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0555);
  if (out < 0) return -1;
  char buf[65536];
  off_t off = 0;
  ssize_t n;
  int rc = 0;
  while ((n = pread(from, buf, sizeof buf, off)) > 0) {
    if (write(out, buf, (size_t)n) != n) rc = -1;
    off += n;
  }
  if (n < 0) rc = -1;
  close(out);
  return rc;
}

/* Copy a library the plugin links (and, in turn, what that one links) into the new root. */
static void place_needed(Needed *need) {
  for (int i = 0; i < need->n; i++) { /* need->n grows as libraries bring their own */
    const char *name = need->names[i];
    void *loaded = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
    if (loaded) { /* the helper has it mapped already (libc, ...): the loader will not look for it */
      dlclose(loaded);
      continue;
    }
    for (size_t k = 0; k < sizeof LIBDIRS / sizeof LIBDIRS[0]; k++) {
      char from[512], to[600];
      snprintf(from, sizeof from, "%s/%s", LIBDIRS[k], name);
      int fd = open(from, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      Elf64_Ehdr eh;
      if (elf_header(fd, &eh) != 0) { /* another architecture's copy: the loader skips it too */
        close(fd);
        continue;
      }
      snprintf(to, sizeof to, STAGE "%s", LIBDIRS[k]);
      if (mkdirs(to) == 0) {
        snprintf(to, sizeof to, STAGE "%s", from);
        copy_fd(fd, to);
      }
      elf_needed(fd, need);
      close(fd);
      break;
    }
  }
}

const char *ph_elf_problem(int fd) {
  Elf64_Ehdr eh;
  Elf64_Phdr ph[128];
  struct stat st;
  if (fstat(fd, &st) != 0 || elf_header(fd, &eh) != 0) return NULL; /* not ours to judge: dlopen says what is wrong */
  if (read_at(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), (off_t)eh.e_phoff) != 0) return "its program headers lie past the end of the file";
  for (int i = 0; i < eh.e_phnum; i++)
    if (ph[i].p_type == PT_LOAD && (ph[i].p_offset > (uint64_t)st.st_size || ph[i].p_filesz > (uint64_t)st.st_size - ph[i].p_offset))
      return "a segment lies past the end of the file (truncated?)"; /* mapping it would end the loader with SIGBUS */
  return NULL;
}

unsigned ph_private_root(int so_fd) {
  if (mount("plughost", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1073741824") != 0) return 0;
  if (copy_fd(so_fd, STAGE PH_ROOT_LIB) != 0) return 0;
  Needed need;
  need.n = 0;
  elf_needed(so_fd, &need);
  place_needed(&need);
  if (mkdir(STAGE "/.old", 0700) != 0) return 0;
  if (syscall(SYS_pivot_root, STAGE, STAGE "/.old") != 0 || chdir("/") != 0) return 0;
  if (umount2("/.old", MNT_DETACH) != 0 || rmdir("/.old") != 0) return 0;
  /* Nothing in it may change: the plugin runs from it. */
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0) return 0;
  return PH_SB_ROOT;
}

/* ── privileges and limits ──────────────────────────────────────────────── */

#define NOBODY 65534

unsigned ph_drop_privileges(uid_t uid) {
  if (geteuid() != 0) {
    /* In a user namespace we hold every capability of that namespace: give them up. */
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    return syscall(SYS_capset, &h, d) == 0 ? PH_SB_SETUID : 0;
  }
  if (setgroups(0, NULL) != 0) return 0;
  unsigned got = PH_SB_SETUID | PH_SB_OWN_UID;
  if (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0) {
    /* Root of a user namespace that does not map that uid (a container): nobody, shared with other helpers. */
    got = PH_SB_SETUID;
    if (setresgid(NOBODY, NOBODY, NOBODY) != 0 || setresuid(NOBODY, NOBODY, NOBODY) != 0) return 0;
  }
  if (setuid(0) == 0) _exit(PH_EXIT_SANDBOX); /* must be irreversible */
  return got;
}

unsigned ph_join_cgroup(const char *dir) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= (int)sizeof path) return 0;
  /* "0": the writer moves itself; the namespaced child and its threads inherit it. */
  return write_file(path, "0") == 0 ? PH_SB_CGROUP : 0;
}

unsigned ph_set_rlimits(const PhLimits *l) {
  struct rlimit r;
  int ok = 1;
#define SET(res, v)                  \
  if ((v) > 0) {                     \
    r.rlim_cur = r.rlim_max = (v);   \
    ok &= setrlimit(res, &r) == 0;   \
  }
  SET(RLIMIT_AS, l->as_bytes);
  SET(RLIMIT_NOFILE, l->nofile);
  SET(RLIMIT_NPROC, l->nproc);
#undef SET
  if (l->cpu_seconds > 0) { /* soft: SIGXCPU, then SIGKILL a second later */
    r.rlim_cur = l->cpu_seconds;
    r.rlim_max = l->cpu_seconds + 1;
    ok &= setrlimit(RLIMIT_CPU, &r) == 0;
  }
  r.rlim_cur = r.rlim_max = l->fsize_bytes; /* 0: no file may grow */
  ok &= setrlimit(RLIMIT_FSIZE, &r) == 0;
  r.rlim_cur = r.rlim_max = 0;
  setrlimit(RLIMIT_CORE, &r);
  return ok ? PH_SB_RLIMITS : 0;
}

/* ── seccomp ────────────────────────────────────────────────────────────── */

#if defined(__x86_64__)
#define PH_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PH_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "plughost sandbox helper: unsupported architecture"
#endif

/* Actions. DENY traps to our SIGSYS handler, which fails the call with an
 * errno and counts a violation; anything not in the table kills the process. */
#define A_ALLOW SECCOMP_RET_ALLOW
#define A_DENY SECCOMP_RET_TRAP
#define A_ENOSYS (SECCOMP_RET_ERRNO | ENOSYS)
#define A_ENOTTY (SECCOMP_RET_ERRNO | ENOTTY)
#define A_NOTIFY SECCOMP_RET_USER_NOTIF /* supervised: init answers, counts and reports */
/* A denial made while the caller may block SIGSYS (glibc's pthread_create
 * blocks every signal around clone; a trap then kills the process): a plain
 * EPERM when unsupervised, reported by init when supervised. */
#define A_DENY_QUIET (SECCOMP_RET_ERRNO | EPERM)

typedef struct {
  int nr;
  const char *name;
  uint32_t action; /* when there is no condition, or it holds */
  int arg;         /* -1: no condition; else (args[arg] & mask) == value */
  uint32_t mask, value;
  uint32_t other; /* when the condition does not hold */
} Rule;

#define R(sys) {__NR_##sys, #sys, A_ALLOW, -1, 0, 0, 0}
#define DENY(sys) {__NR_##sys, #sys, A_DENY, -1, 0, 0, 0}

static const Rule BASE[] = {
    R(read), R(write), R(readv), R(writev), R(pread64), R(pwrite64), R(close), R(fstat), R(lseek),
    R(mmap), R(munmap), R(mprotect), R(mremap), R(brk), R(madvise), R(futex), R(set_robust_list), R(get_robust_list),
    R(rseq), R(set_tid_address), R(exit), R(exit_group), R(rt_sigaction), R(rt_sigprocmask), R(rt_sigreturn),
    R(sigaltstack), R(nanosleep), R(clock_nanosleep), R(clock_gettime), R(clock_getres), R(gettimeofday), R(getpid),
    R(gettid), R(getppid), R(getuid), R(geteuid), R(getgid), R(getegid), R(getrandom), R(sched_yield),
    R(sched_getaffinity), R(getrusage), R(uname), R(sysinfo), R(getcwd), R(ppoll), R(pselect6),
    R(dup), R(dup3), R(fcntl), R(pipe2), R(eventfd2), R(epoll_create1), R(epoll_ctl), R(epoll_pwait),
    R(membarrier), R(prctl), R(times),
    R(seccomp), /* adding filters only narrows; phase 2 is loaded this way */
#ifdef __NR_poll
    R(poll), R(select), R(dup2), R(pipe), R(epoll_wait), R(getpgrp), R(time), R(alarm),
#endif
    /* clone only for threads; fork-like clones are denied. clone3 cannot be
     * inspected, so it reports ENOSYS and glibc falls back to clone. */
    {__NR_clone, "clone", A_ALLOW, 0, CLONE_THREAD, CLONE_THREAD, A_DENY},
    {__NR_clone3, "clone3", A_ENOSYS, -1, 0, 0, 0},
#ifdef __NR_fork
    DENY(fork), DENY(vfork),
#endif
    {__NR_ioctl, "ioctl", A_ENOTTY, -1, 0, 0, 0},
    DENY(socket), DENY(socketpair), DENY(connect), DENY(bind), DENY(listen), DENY(accept4), DENY(execve),
    DENY(execveat), DENY(ptrace), DENY(mount), DENY(umount2), DENY(unshare), DENY(setns), DENY(chroot),
    DENY(unlinkat), DENY(mkdirat), DENY(renameat2), DENY(setuid), DENY(setgid), DENY(kill), DENY(tkill),
#ifdef __NR_unlink
    DENY(unlink), DENY(mkdir), DENY(rename),
#endif
};

/* Metadata of paths: the loader needs it while it maps the plugin (phase 1,
 * inside the private root); plugin code gets none (phase 2). fstat(fd) is
 * newfstatat(fd, "", AT_EMPTY_PATH) in glibc, so that form stays. */
static const Rule META1[] = {
    R(newfstatat), R(statx), R(faccessat), R(faccessat2), R(readlinkat),
#ifdef __NR_stat
    R(stat), R(lstat), R(access), R(readlink),
#endif
};
static const Rule META2[] = {
    {__NR_newfstatat, "newfstatat", A_ALLOW, 3, AT_EMPTY_PATH, AT_EMPTY_PATH, A_DENY},
    DENY(statx), DENY(faccessat), DENY(faccessat2), DENY(readlinkat),
#ifdef __NR_stat
    DENY(stat), DENY(lstat), DENY(access), DENY(readlink),
#endif
};

#define RO_MASK (O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND)

/* Phase 0 is the supervised filter: phase 2's rules, with every denial (and
 * every open) left to init, which knows whether the loader is still at work. */
static int count_rules(int phase, int self_pid, Rule *out, size_t cap);
static int supervised_rules(int self_pid, Rule *out, size_t cap) {
  int n = count_rules(2, self_pid, out, cap);
  for (int i = 0; i < n; i++) {
    Rule *r = &out[i];
    if (r->action == A_DENY || r->action == A_DENY_QUIET) r->action = A_NOTIFY;
    if (r->other == A_DENY) r->other = A_NOTIFY;
  }
  return n;
}

/* The profile (see ph_seccomp_profile): syscalls of the basic allow-list made
 * denials, by the strict profile or by the host's own list. */
#define PH_DENY_MAX 64
static const char *extra_deny[PH_DENY_MAX];
static int extra_deny_n;
/* strict: no new threads, no new fds, no facts about the machine. */
static const char *const STRICT[] = {"clone", "dup", "dup2", "dup3", "pipe", "pipe2", "eventfd2",
                                     "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_wait", "uname", "sysinfo",
                                     "sched_getaffinity", "getrusage", "times", "membarrier", "getcwd"};
/* What the helper itself needs after the filter is in place (its loop, dlopen, crash reports): never denied. */
static const char *const NEEDED[] = {"read", "write", "readv", "writev", "close", "fstat", "newfstatat", "lseek", "pread64",
                                     "mmap", "munmap", "mprotect", "brk", "madvise", "mremap", "futex", "exit",
                                     "exit_group", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
                                     "poll", "ppoll", "clock_gettime", "clock_nanosleep", "nanosleep", "seccomp",
                                     "openat", "open", "getpid", "gettid", "tgkill", "kill", "set_robust_list", "rseq",
                                     "set_tid_address", "prlimit64", "getrandom",
                                     "prctl" /* a later filter's no_new_privs */};

static int in_list(const char *name, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(list[i], name)) return 1;
  return 0;
}

static int known_rule(const char *name) {
  for (size_t i = 0; i < sizeof BASE / sizeof BASE[0]; i++)
    if (!strcmp(BASE[i].name, name)) return 1;
  return 0; /* path metadata (META1) is denied to plugin code already */
}

const char *ph_seccomp_profile(const char *profile, char *deny_csv) {
  int strict = 0;
  if (profile && !strcmp(profile, "strict")) strict = 1;
  else if (profile && strcmp(profile, "basic")) return "unknown seccomp profile (basic or strict)";
  if (strict)
    for (size_t i = 0; i < sizeof STRICT / sizeof STRICT[0]; i++) extra_deny[extra_deny_n++] = STRICT[i];
  for (char *save = NULL, *t = deny_csv ? strtok_r(deny_csv, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
    if (in_list(t, NEEDED, sizeof NEEDED / sizeof NEEDED[0])) return "--seccomp-deny names a syscall the helper needs";
    if (!known_rule(t)) return "--seccomp-deny names a syscall the basic profile does not list";
    if (extra_deny_n >= PH_DENY_MAX) return "--seccomp-deny lists too many syscalls";
    extra_deny[extra_deny_n++] = t;
  }
  return NULL;
}

static int count_rules_(int phase, int self_pid, Rule *out, size_t cap);
static int count_rules(int phase, int self_pid, Rule *out, size_t cap) {
  int n = count_rules_(phase, self_pid, out, cap);
  for (int i = 0; i < n; i++)
    if (in_list(out[i].name, extra_deny, (size_t)extra_deny_n))
      out[i] = (Rule){out[i].nr, out[i].name, out[i].nr == __NR_clone ? A_DENY_QUIET : A_DENY, -1, 0, 0, 0};
  return n;
}

static int count_rules_(int phase, int self_pid, Rule *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < sizeof BASE / sizeof BASE[0] && n < cap; i++) {
    Rule r = BASE[i];
    /* signals only to ourselves (abort, raise, pthread_kill) */
    if (r.nr == __NR_kill) r = (Rule){__NR_kill, "kill", A_ALLOW, 0, 0xffffffffu, (uint32_t)self_pid, A_DENY};
    out[n++] = r;
  }
  const Rule *meta = phase == 1 ? META1 : META2;
  size_t nmeta = phase == 1 ? sizeof META1 / sizeof META1[0] : sizeof META2 / sizeof META2[0];
  for (size_t i = 0; i < nmeta && n < cap; i++) out[n++] = meta[i];
  if (n + 4 > cap) return (int)n;
  /* limits of this process only (pid 0) */
  out[n++] = (Rule){__NR_prlimit64, "prlimit64", A_ALLOW, 0, 0xffffffffu, 0, A_DENY};
  out[n++] = (Rule){__NR_tgkill, "tgkill", A_ALLOW, 0, 0xffffffffu, (uint32_t)self_pid, A_DENY};
  /* Phase 1 (while the dynamic loader maps the plugin): read-only opens.
   * Phase 2 (plugin code runs): no file may be opened. */
  if (phase == 1) {
    out[n++] = (Rule){__NR_openat, "openat", A_ALLOW, 2, RO_MASK, O_RDONLY, A_DENY};
#ifdef __NR_open
    out[n++] = (Rule){__NR_open, "open", A_ALLOW, 1, RO_MASK, O_RDONLY, A_DENY};
#endif
  } else {
    out[n++] = (Rule){__NR_openat, "openat", A_DENY, -1, 0, 0, 0};
#ifdef __NR_open
    out[n++] = (Rule){__NR_open, "open", A_DENY, -1, 0, 0, 0};
#endif
  }
  return (int)n;
}

/* Violation counts by syscall number, written by the SIGSYS handler. */
#define NR_MAX 512
static volatile uint32_t denied[NR_MAX];
static uint32_t reported[NR_MAX];
static volatile int dirty;

static void on_sigsys(int sig, siginfo_t *si, void *uc_) {
  (void)sig;
  ucontext_t *uc = uc_;
  int nr = si->si_syscall;
  int err = (nr == __NR_openat
#ifdef __NR_open
             || nr == __NR_open
#endif
             ) ? EACCES : EPERM;
  if (nr >= 0 && nr < NR_MAX) __atomic_add_fetch(&denied[nr], 1, __ATOMIC_RELAXED);
  dirty = 1;
#if defined(__x86_64__)
  uc->uc_mcontext.gregs[REG_RAX] = -err;
#elif defined(__aarch64__)
  uc->uc_mcontext.regs[0] = (uint64_t)(int64_t)-err;
#endif
}

void ph_violations_collect(void (*emit)(const char *name, uint32_t count)) {
  if (!dirty) return;
  dirty = 0;
  Rule rules[160];
  int n = count_rules(2, 0, rules, 160);
  for (int nr = 0; nr < NR_MAX; nr++) {
    uint32_t now = __atomic_load_n(&denied[nr], __ATOMIC_RELAXED);
    if (now == reported[nr]) continue;
    const char *name = "syscall";
    for (int i = 0; i < n; i++)
      if (rules[i].nr == nr) name = rules[i].name;
    emit(name, now - reported[nr]);
    reported[nr] = now;
  }
}

#ifndef HAVE_LIBSECCOMP
/* Load the filter; with `listener`, ask for a notification fd and store it there. */
static int load_bpf(const Rule *rules, int n, int *listener) {
  struct sock_filter f[1024];
  size_t k = 0;
#define EMIT(code, jt, jf, kk) f[k++] = (struct sock_filter)BPF_JUMP(code, kk, jt, jf)
  EMIT(BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
  EMIT(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, PH_AUDIT_ARCH);
  EMIT(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS);
  EMIT(BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
  EMIT(BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0x40000000u); /* x32 ABI: refuse */
  EMIT(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS);
#endif
  for (int i = 0; i < n; i++) {
    const Rule *r = &rules[i];
    if (r->arg < 0) {
      EMIT(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (uint32_t)r->nr);
      EMIT(BPF_RET | BPF_K, 0, 0, r->action);
    } else { /* low 32 bits of the argument (little-endian) */
      EMIT(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, (uint32_t)r->nr);
      EMIT(BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, args) + 8u * (unsigned)r->arg);
      EMIT(BPF_ALU | BPF_AND | BPF_K, 0, 0, r->mask);
      EMIT(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, r->value);
      EMIT(BPF_RET | BPF_K, 0, 0, r->action);
      EMIT(BPF_RET | BPF_K, 0, 0, r->other);
    }
    if (k > sizeof f / sizeof f[0] - 8) return -1;
  }
  EMIT(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS);
#undef EMIT
  struct sock_fprog prog = {(unsigned short)k, f};
  if (!listener) return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0 ? 0 : -1;
  *listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  return *listener >= 0 ? 0 : -1;
}
#else
static uint32_t lib_action(uint32_t a) {
  if (a == A_ALLOW) return SCMP_ACT_ALLOW;
  if (a == A_DENY) return SCMP_ACT_TRAP;
  if (a == A_NOTIFY) return SCMP_ACT_NOTIFY;
  return SCMP_ACT_ERRNO(a & SECCOMP_RET_DATA);
}

static int load_libseccomp(const Rule *rules, int n, int *listener) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (!ctx) return -1;
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    const Rule *r = &rules[i];
    if (r->arg < 0) {
      rc = seccomp_rule_add(ctx, lib_action(r->action), r->nr, 0);
      continue;
    }
    rc = seccomp_rule_add(ctx, lib_action(r->action), r->nr, 1, SCMP_CMP(r->arg, SCMP_CMP_MASKED_EQ, r->mask, r->value));
    /* The complement of (a & mask) == value: some bit of mask differs. */
    for (int b = 0; b < 32 && rc == 0; b++) {
      uint32_t bit = 1u << b;
      if (!(r->mask & bit)) continue;
      rc = seccomp_rule_add(ctx, lib_action(r->other), r->nr, 1, SCMP_CMP(r->arg, SCMP_CMP_MASKED_EQ, bit, ~r->value & bit));
    }
  }
  if (rc == 0) rc = seccomp_load(ctx);
  if (rc == 0 && listener) { /* a filter with SCMP_ACT_NOTIFY rules is loaded with a listener */
    *listener = seccomp_notify_fd(ctx);
    if (*listener < 0) rc = -1;
  }
  seccomp_release(ctx);
  return rc == 0 ? 0 : -1;
}
#endif

unsigned ph_seccomp_load(int phase) {
  if (phase == 1) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSYS, &sa, NULL);
  }
  Rule rules[160];
  int n = count_rules(phase, getpid(), rules, 160);
#ifdef HAVE_LIBSECCOMP
  return load_libseccomp(rules, n, NULL) == 0 ? PH_SB_SECCOMP | PH_SB_LIBSECCOMP : 0;
#else
  return load_bpf(rules, n, NULL) == 0 ? PH_SB_SECCOMP : 0;
#endif
}

/* ── the violation supervisor ───────────────────────────────────────────────
 * When the plugin runs under a pid namespace, its seccomp filter is loaded
 * ONCE, before the library is mapped, and every denial (and every open) is a
 * user notification answered by the namespace's init: a separate process,
 * outside the filter, whose memory the plugin cannot touch. Init fails the
 * call (EPERM, EACCES for opens), and reports it on fd 7, a channel only it
 * holds, waiting for the host's acknowledgement before the plugin goes on:
 * so the host has recorded the violation before it can see the call's
 * answer, and a plugin cannot forge, hide or flood violations. While the
 * loader maps the library (until the helper says "phase 2", or closes the
 * pipe) read-only opens and path metadata are let through: the private root
 * holds nothing but the library and the system libraries it links. */

int ph_supervised(void) { return sup_tx >= 0; }

static int is_open(int nr) {
#ifdef __NR_open
  if (nr == __NR_open) return 1;
#endif
  return nr == __NR_openat;
}

/* What the loader may do in phase 1: read-only opens, path metadata. */
static int phase1_ok(int nr, const __u64 *a) {
#ifdef __NR_open
  if (nr == __NR_open) return ((uint32_t)a[1] & RO_MASK) == O_RDONLY;
#endif
  if (nr == __NR_openat) return ((uint32_t)a[2] & RO_MASK) == O_RDONLY;
  for (size_t i = 0; i < sizeof META1 / sizeof META1[0]; i++)
    if (META1[i].nr == nr) return 1;
  return 0;
}

static int write_all_fd(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Tell the host, and wait until it has recorded it. */
static void report_denied(int nr) {
  static uint64_t window_start;
  static unsigned in_window;
  Rule rules[160];
  int n = count_rules(2, 0, rules, 160);
  const char *name = "syscall";
  for (int i = 0; i < n; i++)
    if (rules[i].nr == nr) name = rules[i].name;
  size_t len = strlen(name);
  uint8_t f[64];
  uint32_t body = (uint32_t)(5 + 4 + len);
  memcpy(f, &body, 4); /* little-endian on every supported target */
  f[4] = PH_VIOLATION;
  memset(f + 5, 0, 4);
  uint32_t one = 1;
  memcpy(f + 9, &one, 4);
  memcpy(f + 13, name, len);
  /* A call in the shared slot must be answered on the pipe, after this report. */
  if (sup_slot_state) {
    uint32_t expect = PH_SLOT_POSTED;
    if (__atomic_compare_exchange_n(sup_slot_state, &expect, PH_SLOT_ABANDONED, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      ph_futex_wake(sup_slot_state);
  }
  if (write_all_fd(sup_host_fd, f, 13 + len) == 0) {
    uint8_t ack;
    while (read(sup_host_fd, &ack, 1) < 0 && errno == EINTR) {
    }
  }
  /* Past 200 denials in 100 ms, slow the plugin down: the host pays for each report. */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  if (now - window_start > 100000000u) {
    window_start = now;
    in_window = 0;
  }
  if (++in_window > 200) {
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
}

static void answer(int listener, void *req_buf, void *resp_buf, size_t req_size, size_t resp_size, int phase) {
  struct seccomp_notif *req = req_buf;
  struct seccomp_notif_resp *resp = resp_buf;
  memset(req, 0, req_size);
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) != 0) return; /* the caller died meanwhile */
  memset(resp, 0, resp_size);
  resp->id = req->id;
  int nr = req->data.nr;
  if (phase == 1 && phase1_ok(nr, req->data.args)) {
    resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE; /* decided on register arguments only */
  } else {
    resp->error = is_open(nr) ? -EACCES : -EPERM;
    report_denied(nr);
  }
  ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp); /* ENOENT when the caller died: nothing to do */
}

static void report_exit(int status_fd, int st) {
  ssize_t n = write(status_fd, &st, sizeof st);
  _exit(n == (ssize_t)sizeof st ? 0 : PH_EXIT_SANDBOX);
}

/* Init's loop: take the listener over, answer notifications, reap. */
static void supervise(pid_t plugin, int status_fd, int from_plugin, int to_plugin) {
  for (int fd = 0; fd < 64; fd++)
    if (fd != status_fd && fd != from_plugin && fd != to_plugin && fd != sup_host_fd) close(fd);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) _exit(PH_EXIT_SANDBOX);
  struct seccomp_notif_sizes sz = {sizeof(struct seccomp_notif), sizeof(struct seccomp_notif_resp), 0};
  syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz);
  size_t req_size = sz.seccomp_notif > sizeof(struct seccomp_notif) ? sz.seccomp_notif : sizeof(struct seccomp_notif);
  size_t resp_size = sz.seccomp_notif_resp > sizeof(struct seccomp_notif_resp) ? sz.seccomp_notif_resp : sizeof(struct seccomp_notif_resp);
  void *req = calloc(1, req_size), *resp = calloc(1, resp_size);
  if (!req || !resp) _exit(PH_EXIT_SANDBOX);
  int listener = -1, phase = 1, handed = 0;
  for (;;) {
    int st;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0)
      if (w == plugin) report_exit(status_fd, st);
    if (w < 0 && errno == ECHILD) _exit(PH_EXIT_SANDBOX);
    struct pollfd p[3] = {{sfd, POLLIN, 0}, {from_plugin, POLLIN, 0}, {listener, POLLIN, 0}};
    if (poll(p, 3, -1) < 0) continue;
    if (p[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {
      }
    }
    if (p[1].revents) {
      if (!handed) { /* the listener's fd number in the plugin's process: take a copy of it */
        int theirs = -1;
        uint8_t ok = 0;
        if (read(from_plugin, &theirs, sizeof theirs) == (ssize_t)sizeof theirs) {
          int pidfd = (int)syscall(SYS_pidfd_open, plugin, 0);
          if (pidfd >= 0) listener = (int)syscall(SYS_pidfd_getfd, pidfd, theirs, 0);
          if (pidfd >= 0) close(pidfd);
          ok = listener >= 0;
        }
        handed = 1;
        (void)!write(to_plugin, &ok, 1);
        close(to_plugin);
      } else { /* "phase 2", or the pipe closed: the loader is done */
        uint8_t b;
        phase = 2;
        if (read(from_plugin, &b, 1) <= 0) {
          close(from_plugin);
          from_plugin = -1;
        }
      }
    }
    if (listener >= 0 && (p[2].revents & POLLIN)) answer(listener, req, resp, req_size, resp_size, phase);
    if (listener >= 0 && (p[2].revents & (POLLHUP | POLLERR | POLLNVAL)) && !(p[2].revents & POLLIN)) {
      close(listener); /* nobody is left under the filter */
      listener = -1;
    }
  }
}

unsigned ph_seccomp_supervised(void) {
  Rule rules[160];
  int n = supervised_rules(getpid(), rules, 160);
  int listener = -1;
#ifdef HAVE_LIBSECCOMP
  unsigned flags = PH_SB_SECCOMP | PH_SB_LIBSECCOMP | PH_SB_SUPERVISED;
  if (load_libseccomp(rules, n, &listener) != 0) return 0;
#else
  unsigned flags = PH_SB_SECCOMP | PH_SB_SUPERVISED;
  if (load_bpf(rules, n, &listener) != 0) return 0;
#endif
  uint8_t ok = 0;
  if (write_all_fd(sup_tx, &listener, sizeof listener) != 0 || read(sup_rx, &ok, 1) != 1) ok = 0;
  close(listener); /* init holds it now; the plugin must not */
  close(sup_rx);
  sup_rx = -1;
  return ok == 1 ? flags : 0;
}

void ph_supervisor_phase2(void) {
  if (sup_tx < 0) return;
  uint8_t b = 2;
  (void)!write(sup_tx, &b, 1);
  close(sup_tx);
  sup_tx = -1;
}

unsigned ph_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? PH_SB_NO_NEW_PRIVS : 0; }
