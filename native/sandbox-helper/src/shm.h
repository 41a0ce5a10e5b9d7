/*
 * The shared-memory call slot between the host (native/c-adapter, shm.cc)
 * and one sandbox helper: the fast path for one call at a time.
 *
 * The host creates a sealed memfd (fixed size: neither side can shrink it
 * under the other) and a wake pipe, and hands the helper fd 5 (the memfd) and
 * fd 6 (the wake pipe's read end). The helper maps fd 5 before its sandbox
 * goes up, so seccomp needs nothing new: the slot is plain memory, waking is
 * futex (already allowed: pthreads need it) or read/write/poll on a pipe.
 *
 * Waiting, both sides: spin (the helper up to PH_SHM_HELPER_SPIN_NS, the
 * host up to PH_SHM_HOST_SPIN_NS), calling sched_yield() now and then after
 * the first 1-2 us so that when host and helper share one CPU the other side
 * gets to run (measured pinned to one CPU: p50 28 us without, 8 us with;
 * on two CPUs it returns at once). Then, when the window asked for is longer,
 * sleep on the state word with timed FUTEX_WAITs. The helper, idle past its
 * window, sleeps in poll() on the pipe and the wake pipe.
 *
 * One call at a time. The host posts a request (CALL or HOOK, payload up to
 * PH_SHM_DATA_MAX) only when it has nothing else outstanding, then spins a
 * little for the answer:
 *
 *   host:   fill request, state = POSTED; wake the helper as helper_idle says
 *   helper: take a POSTED or ABANDONED request, run it; answer in the slot: CAS(POSTED -> DONE)
 *           or, when it had to send frames during the call (logs, register,
 *           violations...) or the host gave up spinning (ABANDONED), or the
 *           output does not fit: state = IDLE, then a normal RESULT frame on
 *           the pipe, so that ordering with those frames holds. The first
 *           frame the call sends already sets IDLE, so a host that must answer
 *           a request (register, emit, send) stops spinning at once.
 *   host:   DONE -> read the answer, state = IDLE. Spin over: CAS(POSTED ->
 *           ABANDONED) and wait for the pipe answer like any pipelined call.
 *
 * The plugin runs in the helper and can write anything here at any time: the
 * host reads each field once, bounds-checks lengths, never waits on this
 * memory without a time bound, and treats an unknown state as "answer on the
 * pipe" (where the deadline and crash handling apply as usual).
 */
#ifndef PLUGHOST_HELPER_SHM_H
#define PLUGHOST_HELPER_SHM_H
#include <stdint.h>

#define PH_SHM_FD 5
#define PH_WAKE_FD 6
#define PH_SHM_DATA_MAX (64u << 10)

enum { PH_SLOT_IDLE = 0, PH_SLOT_POSTED = 1, PH_SLOT_DONE = 2, PH_SLOT_ABANDONED = 3 };
/* helper_idle: awake; asleep in poll() (write a byte to the wake pipe); asleep in FUTEX_WAIT on state (futex wake). */
enum { PH_IDLE_NO = 0, PH_IDLE_POLL = 1, PH_IDLE_FUTEX = 2 };
/* Pure spinning before a futex sleep. The idle helper spins long: 5 us let
 * it fall asleep between back-to-back calls, and every call paid a futex
 * wake-up (p50 25-30 us on the loaded 2-vCPU machine; 50 us: p50 0.5 us).
 * The host spins short: an answer that is not there after 5 us means the
 * helper is slow or shares the host's CPU, and spinning on would only keep
 * it off that CPU. */
#ifndef PH_SHM_HELPER_SPIN_NS
#define PH_SHM_HELPER_SPIN_NS 50000u
#endif
#ifndef PH_SHM_HOST_SPIN_NS
#define PH_SHM_HOST_SPIN_NS 5000u
#endif

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Shared (not private) futexes: the word lives in a MAP_SHARED mapping of two processes. */
static inline void ph_futex_wait(uint32_t *word, uint32_t expect, uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  syscall(SYS_futex, word, FUTEX_WAIT, expect, &ts, NULL, 0);
}
static inline void ph_futex_wake(uint32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0); }

typedef struct {
  /* written by both sides, with atomics */
  uint32_t state;
  uint32_t helper_idle;  /* PH_IDLE_*: how the host wakes the helper after posting */
  uint32_t host_waiting; /* 1 while the host sleeps in FUTEX_WAIT on state: the helper wakes it */
  uint8_t pad0[52];
  /* request (host -> helper), valid while POSTED */
  uint32_t type; /* PH_CALL or PH_HOOK */
  uint32_t id;   /* the request id, for an answer on the pipe */
  uint32_t cb;
  uint32_t len;
  /* answer (helper -> host), valid once DONE */
  int32_t status;
  uint32_t out_set; /* hook: 1 when output was written */
  uint32_t out_len;
  uint8_t pad1[36];
  uint8_t in[PH_SHM_DATA_MAX];
  uint8_t out[PH_SHM_DATA_MAX];
} PhShm;

#endif
