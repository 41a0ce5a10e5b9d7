/*
 * plughost-sandbox-helper: runs one untrusted native plugin in its own
 * process, behind the sandbox in sandbox.c, and serves the binary protocol in
 * protocol.h on fd 3 (requests in) and fd 4 (replies out). The plugin's own
 * stdout/stderr stay on fds 1/2, which the host routes to the plugin's logger.
 * With --shm, fds 5 and 6 carry the shared-memory call slot and its wake pipe
 * (shm.h): the fast path for one call at a time. Fd 7, when open, is where the
 * pid namespace's init reports denied syscalls (VIOLATION frames, each
 * acknowledged by one byte from the host); the plugin's process closes it.
 * Every frame on fd 4 may have been written by plugin code, except the first
 * (SANDBOX: the measures in force, sent before the library is mapped).
 *
 * usage: plughost-sandbox-helper [--as BYTES] [--cpu SECONDS] [--nofile N]
 *          [--fsize BYTES] [--nproc N] [--spin-us US] [--shm] [--no-namespaces]
 *          [--no-seccomp] PLUGIN.so
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "plughost_host.h"
#include "protocol.h"
#include "sandbox.h"
#include "shm.h"

#define IN_FD 3
#define PH_REPORT_FD 7 /* violation reports from the supervisor (init) to the host */
/* As root, each helper's plugin runs as PH_UID_BASE + the helper's pid. */
#define PH_UID_BASE 2000000000u
#define OUT_FD 4

typedef int32_t (*InitFn)(PluginContext *);
typedef PlughostNativeBindFn BindFn;
typedef const char *(*StrFn)(void);
typedef uint32_t (*U32Fn)(void);
typedef int32_t (*ConfigChangedFn)(PluginContext *, const char *);
typedef uint32_t (*SnapshotFn)(PluginContext *, uint8_t **);
typedef int32_t (*RestoreFn)(PluginContext *, const uint8_t *, uint32_t);

/* ── output: one buffer, shared with plugin threads that log ── */

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *out_buf;
static size_t out_len, out_cap;
static pthread_t main_thread;
static uint64_t frames_sent; /* under out_mu; a call that sent frames answers on the pipe */
static void release_slot(void);

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static void flush_locked(void) {
  size_t off = 0;
  while (off < out_len) {
    ssize_t n = write(OUT_FD, out_buf + off, out_len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(0); /* the host has gone */
    off += (size_t)n;
  }
  out_len = 0;
}

static void flush_out(void) {
  pthread_mutex_lock(&out_mu);
  flush_locked();
  pthread_mutex_unlock(&out_mu);
}

typedef struct {
  const void *p;
  size_t n;
} Part;

/* Append a frame. Frames from threads other than the main loop go out at once. */
static void send_frame(uint8_t type, uint32_t id, const Part *parts, int nparts) {
  size_t body = 5;
  for (int i = 0; i < nparts; i++) body += parts[i].n;
  if (body > PH_BODY_MAX) return;
  pthread_mutex_lock(&out_mu);
  if (out_len + 4 + body > out_cap) {
    size_t cap = out_cap ? out_cap : 65536;
    while (cap < out_len + 4 + body) cap *= 2;
    uint8_t *b = realloc(out_buf, cap);
    if (!b) {
      pthread_mutex_unlock(&out_mu);
      return;
    }
    out_buf = b;
    out_cap = cap;
  }
  uint8_t *w = out_buf + out_len;
  put32(w, (uint32_t)body);
  w[4] = type;
  put32(w + 5, id);
  w += PH_HEADER;
  for (int i = 0; i < nparts; i++) {
    if (parts[i].n) memcpy(w, parts[i].p, parts[i].n);
    w += parts[i].n;
  }
  out_len += 4 + body;
  frames_sent++;
  release_slot();
  if (!pthread_equal(pthread_self(), main_thread) || out_len > 65536) flush_locked();
  pthread_mutex_unlock(&out_mu);
}

/* Results are batched until the helper would block. If the plugin crashes
 * mid-batch, send what is already answered before dying, so those calls
 * resolve instead of failing with the crash. */
static void write_all_quiet(void) {
  size_t off = 0;
  while (off < out_len) {
    ssize_t n = write(OUT_FD, out_buf + off, out_len - off);
    if (n <= 0) break;
    off += (size_t)n;
  }
  out_len = 0;
}

static void on_crash(int sig) {
  if (pthread_mutex_trylock(&out_mu) == 0) write_all_quiet();
  signal(sig, SIG_DFL);
  raise(sig);
}

static void flush_at_exit(void) {
  if (pthread_mutex_trylock(&out_mu) == 0) write_all_quiet();
}

static void install_crash_flush(void) {
  static char alt[65536];
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
  sigaltstack(&ss, NULL); /* so a stack overflow can still be reported */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_crash;
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
  const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
  atexit(flush_at_exit); /* a plugin calling exit() */
}

static void send_i32(uint8_t type, uint32_t id, int32_t v) {
  uint8_t b[4];
  put32(b, (uint32_t)v);
  Part p = {b, 4};
  send_frame(type, id, &p, 1);
}

static void fail(uint8_t kind, const char *msg, int code) {
  Part p[2] = {{&kind, 1}, {msg, strlen(msg)}};
  send_frame(PH_FAIL, 0, p, 2);
  flush_out();
  _exit(code);
}

/* ── input ── */

static uint8_t *in_buf;
static size_t in_start, in_end, in_cap;

/* Poll a little before blocking: a caller that answers quickly is served
 * without the wake-up latency of a sleeping read (the unpipelined case). */
static uint64_t spin_ns;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The shared call slot (NULL without --shm) and the read end of its wake pipe. */
static PhShm *shm;
static int wake_fd = -1;

static inline void cpu_relax(void) {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* A request waits: POSTED, or ABANDONED when the host stopped spinning before we took it. */
static int slot_waiting(uint32_t state) { return state == PH_SLOT_POSTED || state == PH_SLOT_ABANDONED; }
/* While the main thread serves a slot call: the first frame it sends means the
 * answer will come on the pipe, so free the host from spinning at once (it may
 * be a request the host must answer before we can go on). */
static int slot_serving;
/* Change the slot's state and wake the host if it sleeps on it. */
static void slot_set(uint32_t state) {
  __atomic_store_n(&shm->state, state, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&shm->host_waiting, __ATOMIC_SEQ_CST)) ph_futex_wake(&shm->state);
}
static void release_slot(void) {
  if (!slot_serving || !pthread_equal(pthread_self(), main_thread)) return;
  slot_serving = 0;
  slot_set(PH_SLOT_IDLE);
}

static int slot_posted(void) { return slot_waiting(__atomic_load_n(&shm->state, __ATOMIC_ACQUIRE)); }

/* Idle with the slot in use: spin for spin_ns watching the slot (and now and
 * then the pipe), then sleep in poll() on the pipe and the wake pipe.
 * Returns 1 when a slot request is posted, 0 when the pipe has input (or EOF). */
static int wait_input(void) {
  struct pollfd pfd = {IN_FD, POLLIN, 0};
  uint64_t start = now_ns();
  uint64_t end = start + spin_ns;
  uint64_t spin_end = start + (spin_ns < PH_SHM_HELPER_SPIN_NS ? spin_ns : PH_SHM_HELPER_SPIN_NS);
  for (unsigned i = 0;; i++) { /* spin */
    if (slot_posted()) return 1;
    if ((i & 63) == 0) {
      if (poll(&pfd, 1, 0) > 0) return 0;
      uint64_t now = now_ns();
      if (now >= spin_end) break;
      /* Past the usual gap between back-to-back calls: if the host shares this
       * CPU, let it run (it is what we wait for); elsewhere this returns at once. */
      if (now - start > 2000) sched_yield();
    }
    cpu_relax();
  }
  for (;;) { /* timed futex sleeps on the state, for the rest of spin_ns */
    uint64_t now = now_ns();
    if (now >= end) break;
    uint32_t st = __atomic_load_n(&shm->state, __ATOMIC_SEQ_CST);
    if (slot_waiting(st)) return 1;
    __atomic_store_n(&shm->helper_idle, PH_IDLE_FUTEX, __ATOMIC_SEQ_CST);
    st = __atomic_load_n(&shm->state, __ATOMIC_SEQ_CST);
    if (!slot_waiting(st)) ph_futex_wait(&shm->state, st, end - now < 20000 ? end - now : 20000);
    __atomic_store_n(&shm->helper_idle, PH_IDLE_NO, __ATOMIC_SEQ_CST);
    if (slot_posted()) return 1;
    if (poll(&pfd, 1, 0) > 0) return 0; /* pipe frames also ring the futex, but check */
  }
  for (;;) {
    /* Dekker with the host: it stores POSTED then reads helper_idle; we store
     * helper_idle then read the state. One of us sees the other. */
    __atomic_store_n(&shm->helper_idle, PH_IDLE_POLL, __ATOMIC_SEQ_CST);
    if (slot_waiting(__atomic_load_n(&shm->state, __ATOMIC_SEQ_CST))) {
      __atomic_store_n(&shm->helper_idle, PH_IDLE_NO, __ATOMIC_SEQ_CST);
      return 1;
    }
    struct pollfd p[2] = {{IN_FD, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int n = poll(p, wake_fd >= 0 ? 2 : 1, -1);
    __atomic_store_n(&shm->helper_idle, PH_IDLE_NO, __ATOMIC_SEQ_CST);
    if (n < 0 && errno != EINTR) return 0; /* let read() report it */
    if (n > 0 && (p[1].revents & POLLIN)) {
      char b[64];
      while (read(wake_fd, b, sizeof b) > 0) {
      }
    }
    if (n > 0 && (p[1].revents & (POLLHUP | POLLERR | POLLNVAL))) wake_fd = -1; /* host gone: the pipe tells */
    if (slot_posted()) return 1;
    if (n > 0 && p[0].revents) return 0;
  }
}

static void wait_briefly(void) {
  struct pollfd pfd = {IN_FD, POLLIN, 0};
  uint64_t end = now_ns() + spin_ns;
  while (poll(&pfd, 1, 0) == 0 && now_ns() < end) {
  }
}

typedef struct Frame {
  uint8_t type;
  uint32_t id;
  uint32_t len;
  uint8_t *data; /* owned copy for deferred frames; points into in_buf otherwise */
  struct Frame *next;
} Frame;

static Frame *deferred_head, *deferred_tail;

/* Read the next frame, blocking; 0 on end of input. With `slot_ok`, returns
 * 2 instead whenever the shared slot holds a request: the host posts there
 * only with nothing outstanding, so it is older than any request on the pipe
 * (which the host sends after giving up spinning on it). */
static int read_frame(Frame *f, int slot_ok) {
  for (;;) {
    if (slot_ok && shm && slot_posted()) return 2;
    size_t avail = in_end - in_start;
    if (avail >= 4) {
      uint32_t body = get32(in_buf + in_start);
      if (body < 5 || body > PH_BODY_MAX) _exit(PH_EXIT_PROTOCOL);
      if (avail >= 4 + (size_t)body) {
        uint8_t *b = in_buf + in_start;
        f->type = b[4];
        f->id = get32(b + 5);
        f->len = body - 5;
        f->data = b + PH_HEADER;
        in_start += 4 + body;
        return 1;
      }
      if (4 + (size_t)body > in_cap - in_start) { /* make room */
        memmove(in_buf, in_buf + in_start, avail);
        in_end = avail;
        in_start = 0;
        if (4 + (size_t)body > in_cap) {
          size_t cap = in_cap;
          while (cap < 4 + (size_t)body) cap *= 2;
          uint8_t *nb = realloc(in_buf, cap);
          if (!nb) _exit(PH_EXIT_PROTOCOL);
          in_buf = nb;
          in_cap = cap;
        }
      }
    } else if (in_start == in_end) {
      in_start = in_end = 0;
    } else if (in_cap - in_start < 64) {
      memmove(in_buf, in_buf + in_start, avail);
      in_end = avail;
      in_start = 0;
    }
    flush_out(); /* about to block: everything answered so far goes out */
    if (slot_ok && shm) {
      if (wait_input()) return 2;
    } else if (spin_ns) {
      wait_briefly();
    }
    ssize_t n = read(IN_FD, in_buf + in_end, in_cap - in_end);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    in_end += (size_t)n;
  }
}

/* ── the plugin ── */

typedef struct {
  char *name;
  CallbackFn cb;
  HookFn hook;
} Entry;

static PluginContext ctx;
static PlughostNativeHost table;
static Entry *entries;
static uint32_t n_entries, cap_entries;
static char *config_json;
static uint8_t *hook_out;
static uint32_t hook_out_len;
static int hook_out_set;
static int in_call;
static uint32_t next_req = 1;

static int on_main(void) { return pthread_equal(pthread_self(), main_thread) && in_call; }

/* A request to the host from inside a call: send it, then read until its
 * REPLY or ANSWER (into *answer: its payload points into in_buf, valid until
 * the next read), keeping any pipelined host requests for later. */
static void host_exchange(uint8_t type, const Part *parts, int nparts, Frame *answer) {
  uint32_t id = PH_HELPER_ID_BIT | next_req++;
  send_frame(type, id, parts, nparts);
  Frame f;
  while (read_frame(&f, 0) == 1) {
    if ((f.type == PH_REPLY || f.type == PH_ANSWER) && f.id == id) {
      *answer = f;
      return;
    }
    if (f.type == PH_REPLY || f.type == PH_ANSWER) continue; /* stray */
    Frame *d = malloc(sizeof *d);
    uint8_t *copy = malloc(f.len ? f.len : 1);
    if (!d || !copy) _exit(PH_EXIT_PROTOCOL);
    memcpy(copy, f.data, f.len);
    *d = f;
    d->data = copy;
    d->next = NULL;
    if (deferred_tail) deferred_tail->next = d;
    else deferred_head = d;
    deferred_tail = d;
  }
  _exit(0); /* host closed the channel mid-call */
}

static int32_t host_request(uint8_t type, const Part *parts, int nparts, int32_t fallback) {
  Frame f;
  host_exchange(type, parts, nparts, &f);
  return f.len >= 4 ? (int32_t)get32(f.data) : fallback;
}

static int32_t do_register(const char *name, CallbackFn cb, HookFn hook) {
  if (!name || (!cb && !hook)) return PLUGHOST_ERR_INVALID_NAME;
  if (!on_main()) return PLUGHOST_ERR_DENIED;
  size_t len = strnlen(name, 1024);
  uint32_t id = n_entries;
  for (uint32_t i = 0; i < n_entries; i++)
    if (strcmp(entries[i].name, name) == 0) id = i;
  uint8_t head[5];
  head[0] = hook != NULL;
  put32(head + 1, id);
  Part p[2] = {{head, 5}, {name, len}};
  int32_t code = host_request(PH_REGISTER, p, 2, PLUGHOST_ERR_DENIED);
  if (code != PLUGHOST_OK) return code;
  if (id == n_entries) {
    if (n_entries == cap_entries) {
      uint32_t cap = cap_entries ? cap_entries * 2 : 16;
      Entry *e = realloc(entries, cap * sizeof(Entry));
      if (!e) return PLUGHOST_ERR_NO_MEMORY;
      entries = e;
      cap_entries = cap;
    }
    entries[id] = (Entry){strndup(name, len), NULL, NULL};
    n_entries++;
  }
  if (cb) entries[id].cb = cb;
  if (hook) entries[id].hook = hook;
  return PLUGHOST_OK;
}

static int32_t ctx_register(PluginContext *c, const char *name, CallbackFn cb) {
  (void)c;
  return do_register(name, cb, NULL);
}

static void ctx_log(PluginContext *c, LogLevel level, const char *message) {
  (void)c;
  if (!message) return;
  uint8_t lv = level < LOG_DEBUG ? 0 : level > LOG_ERROR ? LOG_ERROR : (uint8_t)level;
  Part p[2] = {{&lv, 1}, {message, strnlen(message, 8192)}};
  send_frame(PH_LOG, 0, p, 2);
}

static int32_t h_register_hook(void *h, const char *name, HookFn hook) {
  (void)h;
  return do_register(name, NULL, hook);
}

static int32_t h_hook_output(void *h, const uint8_t *data, uint32_t len) {
  (void)h;
  if (!on_main()) return PLUGHOST_ERR_DENIED;
  uint8_t *p = malloc(len ? len : 1);
  if (!p) return PLUGHOST_ERR_NO_MEMORY;
  if (len) memcpy(p, data, len);
  free(hook_out);
  hook_out = p;
  hook_out_len = len;
  hook_out_set = 1;
  return PLUGHOST_OK;
}

static int32_t h_emit(void *h, const char *name, const uint8_t *data, uint32_t len) {
  (void)h;
  if (!on_main()) return PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_DENIED);
  Part p[2] = {{name, strnlen(name, 1024) + 1}, {data, len}};
  return host_request(PH_EMIT, p, 2, PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_DENIED));
}

static int32_t h_send(void *h, const char *target, const char *name, const uint8_t *data, uint32_t len) {
  (void)h;
  if (!on_main()) return PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_DENIED);
  Part p[3] = {{target, strnlen(target, 1024) + 1}, {name, strnlen(name, 1024) + 1}, {data, len}};
  return host_request(PH_SEND, p, 3, PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_DENIED));
}

#define REQUEST_ERR(code) PLUGHOST_REQUEST_ERR(PLUGHOST_REQUEST_ERROR_##code)

/* The host answers while this (main) thread waits: other plugins, the host's
 * services or another host may take their time; the call's deadline still
 * runs, and the host caps the request's timeout by it. */
static int32_t h_request(void *h, const char *target, const char *name, const uint8_t *data, uint32_t len, uint32_t timeout_ms,
                         void *(*alloc)(size_t), uint8_t **out, uint32_t *out_len) {
  (void)h;
  if (!on_main()) return REQUEST_ERR(DENIED);
  if (!target || !name || (!data && len) || !alloc || !out || !out_len) return REQUEST_ERR(INVALID_NAME);
  size_t tn = strnlen(target, 1024), nn = strnlen(name, 1024);
  if (tn == 1024 || nn == 1024) return REQUEST_ERR(INVALID_NAME); /* longer than any name the host accepts */
  if ((size_t)len > PH_BODY_MAX - 5 - 4 - (tn + 1) - (nn + 1)) return REQUEST_ERR(TOO_LARGE); /* would not fit a frame */
  uint8_t head[4];
  put32(head, timeout_ms);
  Part p[4] = {{head, 4}, {target, tn + 1}, {name, nn + 1}, {data, len}};
  Frame f;
  host_exchange(PH_REQUEST, p, 4, &f);
  if (f.type != PH_ANSWER || f.len < 4) return REQUEST_ERR(FAILED);
  int32_t code = (int32_t)get32(f.data);
  if (code != 0) return code > 0 && code <= PLUGHOST_REQUEST_ERROR_COUNT ? code : REQUEST_ERR(FAILED);
  uint32_t n = f.len - 4;
  if (n == 0) {
    *out = NULL;
    *out_len = 0;
    return 0;
  }
  uint8_t *b = alloc(n); /* the plugin's own malloc: it free()s the answer */
  if (!b) return REQUEST_ERR(FAILED);
  memcpy(b, f.data + 4, n);
  *out = b;
  *out_len = n;
  return 0;
}

/* The current call's envelope, asked for once per call and kept until it ends. */
static PhMessageBox *msg_box;
static int msg_known; /* asked during this call (msg_box NULL: there is none) */

static void forget_message(void) {
  free(msg_box);
  msg_box = NULL;
  msg_known = 0;
}

static int32_t h_current_message(void *h, PlughostMessageInfo *info) {
  (void)h;
  if (!info || !on_main()) return 0;
  if (!msg_known) {
    Frame f;
    host_exchange(PH_MESSAGE, NULL, 0, &f);
    msg_known = 1;
    if (f.type == PH_ANSWER && f.len >= 4 && get32(f.data) == 1) msg_box = ph_message_info_decode(f.data + 4, f.len - 4);
  }
  if (!msg_box) return 0;
  *info = msg_box->info;
  return 1;
}

static const char *h_config(void *h) {
  (void)h;
  return config_json ? config_json : "{}";
}

/* ── state and context: a STATE or CONTEXT frame each, answered with ANSWER ── */

#define STATE_ERR(code) PLUGHOST_STATE_ERR(PLUGHOST_STATE_ERROR_##code)
#define CONTEXT_ERR(code) PLUGHOST_CONTEXT_ERR(PLUGHOST_CONTEXT_ERROR_##code)

/* A key's length with its NUL, or 0 when it is NULL, empty, longer than `max` or not UTF-8 (refused, never cut). */
static size_t key_len(const char *key, size_t max) {
  if (!key) return 0;
  size_t n = strnlen(key, max + 1);
  if (n == 0 || n > max || !ph_utf8_valid((const uint8_t *)key, n)) return 0;
  return n + 1;
}

/* Send a STATE / CONTEXT frame and wait for its ANSWER: its code in range [lo, hi] (else `bad`), its bytes in *f. */
static int32_t exchange_code(uint8_t type, const Part *parts, int nparts, Frame *f, int32_t lo, int32_t hi, int32_t bad) {
  host_exchange(type, parts, nparts, f);
  if (f->type != PH_ANSWER || f->len < 4) return bad;
  int32_t code = (int32_t)get32(f->data);
  return code >= lo && code <= hi ? code : bad;
}

#define STATE_LO STATE_ERR(COUNT - 1)

static int32_t state_key_op(uint8_t op, const char *key, int32_t hi) {
  if (!on_main()) return STATE_ERR(DENIED);
  size_t kn = key_len(key, PLUGHOST_NATIVE_KEY_MAX);
  if (!kn) return STATE_ERR(INVALID_KEY);
  Part p[2] = {{&op, 1}, {key, kn}};
  Frame f;
  return exchange_code(PH_STATE, p, 2, &f, STATE_LO, hi, STATE_ERR(UNAVAILABLE));
}

/* Copy an answer's bytes (after its code) into `alloc`'s memory; NULL for none. 0 when alloc fails. */
static int answer_bytes(const Frame *f, void *(*alloc)(size_t), uint8_t **out, uint32_t *out_len) {
  uint32_t n = f->len - 4;
  *out = NULL;
  *out_len = 0;
  if (!n) return 1;
  uint8_t *b = alloc(n);
  if (!b) return 0;
  memcpy(b, f->data + 4, n);
  *out = b;
  *out_len = n;
  return 1;
}

static int32_t h_state_get(void *h, const char *key, void *(*alloc)(size_t), uint8_t **out, uint32_t *out_len) {
  (void)h;
  if (!on_main()) return STATE_ERR(DENIED);
  size_t kn = key_len(key, PLUGHOST_NATIVE_KEY_MAX);
  if (!kn || !alloc || !out || !out_len) return STATE_ERR(INVALID_KEY);
  uint8_t op = PH_STATE_GET;
  Part p[2] = {{&op, 1}, {key, kn}};
  Frame f;
  int32_t rc = exchange_code(PH_STATE, p, 2, &f, STATE_LO, 1, STATE_ERR(UNAVAILABLE));
  if (rc != 1) return rc;
  return answer_bytes(&f, alloc, out, out_len) ? 1 : STATE_ERR(UNAVAILABLE);
}

static int32_t h_state_set(void *h, const char *key, const uint8_t *value, uint32_t len) {
  (void)h;
  if (!on_main()) return STATE_ERR(DENIED);
  size_t kn = key_len(key, PLUGHOST_NATIVE_KEY_MAX);
  if (!kn) return STATE_ERR(INVALID_KEY);
  if ((!value && len) || len > PLUGHOST_NATIVE_VALUE_MAX) return STATE_ERR(TOO_LARGE);
  uint8_t op = PH_STATE_SET;
  Part p[3] = {{&op, 1}, {key, kn}, {value, len}};
  Frame f;
  return exchange_code(PH_STATE, p, 3, &f, STATE_LO, 0, STATE_ERR(UNAVAILABLE));
}

static int32_t h_state_delete(void *h, const char *key) {
  (void)h;
  return state_key_op(PH_STATE_DELETE, key, 1);
}

static int32_t h_state_exists(void *h, const char *key) {
  (void)h;
  return state_key_op(PH_STATE_EXISTS, key, 1);
}

static int32_t h_state_increment(void *h, const char *key, int64_t delta, int64_t *value) {
  (void)h;
  if (!on_main()) return STATE_ERR(DENIED);
  size_t kn = key_len(key, PLUGHOST_NATIVE_KEY_MAX);
  if (!kn || !value) return STATE_ERR(INVALID_KEY);
  uint8_t head[9];
  head[0] = PH_STATE_INCREMENT;
  put32(head + 1, (uint32_t)(uint64_t)delta);
  put32(head + 5, (uint32_t)((uint64_t)delta >> 32));
  Part p[2] = {{head, 9}, {key, kn}};
  Frame f;
  int32_t rc = exchange_code(PH_STATE, p, 2, &f, STATE_LO, 0, STATE_ERR(UNAVAILABLE));
  if (rc != 0) return rc;
  if (f.len != 12) return STATE_ERR(UNAVAILABLE);
  *value = (int64_t)((uint64_t)get32(f.data + 4) | (uint64_t)get32(f.data + 8) << 32);
  return 0;
}

static int32_t h_state_cas(void *h, const char *key, const uint8_t *expected, uint32_t expected_len, const uint8_t *value, uint32_t len) {
  (void)h;
  if (!on_main()) return STATE_ERR(DENIED);
  size_t kn = key_len(key, PLUGHOST_NATIVE_KEY_MAX);
  if (!kn) return STATE_ERR(INVALID_KEY);
  if ((!value && len) || len > PLUGHOST_NATIVE_VALUE_MAX || expected_len > PLUGHOST_NATIVE_VALUE_MAX) return STATE_ERR(TOO_LARGE);
  if (!expected) expected_len = 0;
  uint8_t head[6];
  head[0] = PH_STATE_CAS;
  head[1] = expected != NULL;
  put32(head + 2, expected_len);
  Part p[4] = {{head, 6}, {key, kn}, {expected, expected_len}, {value, len}};
  Frame f;
  return exchange_code(PH_STATE, p, 4, &f, STATE_LO, 1, STATE_ERR(UNAVAILABLE));
}

static int32_t h_state_list_keys(void *h, const char *cursor, uint32_t limit, void *(*alloc)(size_t), uint8_t **out, uint32_t *out_len) {
  (void)h;
  if (!on_main()) return STATE_ERR(DENIED);
  size_t cn = cursor ? key_len(cursor, PLUGHOST_NATIVE_KEY_MAX) : 0;
  if ((cursor && !cn) || !alloc || !out || !out_len) return STATE_ERR(INVALID_KEY);
  uint8_t head[6];
  head[0] = PH_STATE_LIST;
  put32(head + 1, limit);
  head[5] = cursor != NULL;
  Part p[2] = {{head, 6}, {cursor, cn}};
  Frame f;
  int32_t rc = exchange_code(PH_STATE, p, 2, &f, STATE_LO, INT32_MAX, STATE_ERR(UNAVAILABLE));
  if (rc < 0) return rc;
  if (f.len < 12 || get32(f.data + 4) != (uint32_t)rc) return STATE_ERR(UNAVAILABLE);
  return answer_bytes(&f, alloc, out, out_len) ? rc : STATE_ERR(UNAVAILABLE);
}

#define CONTEXT_LO CONTEXT_ERR(COUNT - 1)

static int32_t h_context_get(void *h, const char *key, void *(*alloc)(size_t), char **json) {
  (void)h;
  if (!on_main()) return CONTEXT_ERR(DENIED);
  size_t kn = key_len(key, PLUGHOST_NATIVE_CONTEXT_KEY_MAX);
  if (!kn || !alloc || !json) return CONTEXT_ERR(UNKNOWN_KEY);
  uint8_t op = PH_CONTEXT_GET;
  Part p[2] = {{&op, 1}, {key, kn}};
  Frame f;
  int32_t rc = exchange_code(PH_CONTEXT, p, 2, &f, CONTEXT_LO, 1, CONTEXT_ERR(DENIED));
  if (rc != 1) return rc;
  uint32_t n = f.len - 4;
  char *b = alloc((size_t)n + 1);
  if (!b) return CONTEXT_ERR(INVALID_VALUE);
  if (n) memcpy(b, f.data + 4, n);
  b[n] = 0;
  *json = b;
  return 1;
}

static int32_t h_context_set(void *h, const char *key, const char *json) {
  (void)h;
  if (!on_main()) return CONTEXT_ERR(DENIED);
  size_t kn = key_len(key, PLUGHOST_NATIVE_CONTEXT_KEY_MAX);
  if (!kn) return CONTEXT_ERR(UNKNOWN_KEY);
  if (!json) return CONTEXT_ERR(INVALID_VALUE);
  size_t jn = strnlen(json, PLUGHOST_NATIVE_CONTEXT_VALUE_MAX + 1);
  if (jn > PLUGHOST_NATIVE_CONTEXT_VALUE_MAX || !ph_utf8_valid((const uint8_t *)json, jn)) return CONTEXT_ERR(INVALID_VALUE);
  uint8_t op = PH_CONTEXT_SET;
  Part p[3] = {{&op, 1}, {key, kn}, {json, jn}};
  Frame f;
  return exchange_code(PH_CONTEXT, p, 3, &f, CONTEXT_LO, 0, CONTEXT_ERR(DENIED));
}

/* ── plugin-defined metrics: a METRIC frame each, answered with ANSWER ── */

#define METRIC_ERR(code) PLUGHOST_METRIC_ERR(PLUGHOST_METRIC_ERROR_##code)
#define METRIC_LO METRIC_ERR(COUNT - 1)

/* One string of a metric call as a frame part (with its NUL): 0 when it is NULL, longer than `max` or not UTF-8. */
static int metric_part(const char *s, size_t max, Part *part) {
  if (!s) return 0;
  size_t n = strnlen(s, max + 1);
  if (n > max || !ph_utf8_valid((const uint8_t *)s, n)) return 0;
  part->p = s;
  part->n = n + 1;
  return 1;
}

static int32_t h_metric_define(void *h, int32_t kind, const char *name, const char *help, const char *const *labels, uint32_t n) {
  (void)h;
  if (!on_main()) return METRIC_ERR(DENIED);
  Part p[3 + PLUGHOST_NATIVE_METRIC_LABELS_MAX];
  uint8_t head[3] = {PH_METRIC_DEFINE, (uint8_t)kind, (uint8_t)n};
  p[0] = (Part){head, 3};
  if (kind < 0 || kind >= PLUGHOST_METRIC_KIND_COUNT || !metric_part(name, PLUGHOST_NATIVE_METRIC_NAME_MAX, &p[1])) return METRIC_ERR(INVALID_NAME);
  if (n > PLUGHOST_NATIVE_METRIC_LABELS_MAX) return METRIC_ERR(LIMIT_REACHED);
  if (n && !labels) return METRIC_ERR(INVALID_NAME);
  for (uint32_t i = 0; i < n; i++)
    if (!metric_part(labels[i], PLUGHOST_NATIVE_METRIC_LABEL_NAME_MAX, &p[3 + i])) return METRIC_ERR(INVALID_NAME);
  /* Help past its bound is cut at a character's start (the SDK does; a plugin calling the table itself may not). */
  char cut[PLUGHOST_NATIVE_METRIC_HELP_MAX + 1];
  if (!help) help = "";
  size_t hn = strnlen(help, PLUGHOST_NATIVE_METRIC_HELP_MAX + 1);
  if (hn > PLUGHOST_NATIVE_METRIC_HELP_MAX) {
    hn = PLUGHOST_NATIVE_METRIC_HELP_MAX;
    while (hn > 0 && ((unsigned char)help[hn] & 0xc0) == 0x80) hn--;
    memcpy(cut, help, hn);
    cut[hn] = 0;
    help = cut;
  }
  if (!metric_part(help, PLUGHOST_NATIVE_METRIC_HELP_MAX, &p[2])) return METRIC_ERR(INVALID_NAME);
  Frame f;
  return exchange_code(PH_METRIC, p, 3 + (int)n, &f, METRIC_LO, INT32_MAX, METRIC_ERR(DENIED));
}

static int32_t h_metric_record(void *h, int32_t id, double value, const char *const *labels, uint32_t n) {
  (void)h;
  if (!on_main()) return METRIC_ERR(DENIED);
  if (n > PLUGHOST_NATIVE_METRIC_LABELS_MAX || (n && !labels)) return METRIC_ERR(INVALID_LABELS);
  Part p[1 + PLUGHOST_NATIVE_METRIC_LABELS_MAX];
  uint8_t head[14];
  uint64_t bits;
  memcpy(&bits, &value, 8);
  head[0] = PH_METRIC_RECORD;
  head[1] = (uint8_t)n;
  put32(head + 2, (uint32_t)id);
  put32(head + 6, (uint32_t)bits);
  put32(head + 10, (uint32_t)(bits >> 32));
  p[0] = (Part){head, 14};
  for (uint32_t i = 0; i < n; i++)
    if (!metric_part(labels[i], PLUGHOST_NATIVE_METRIC_LABEL_VALUE_MAX, &p[1 + i])) return METRIC_ERR(INVALID_LABELS);
  Frame f;
  return exchange_code(PH_METRIC, p, 1 + (int)n, &f, METRIC_LO, 0, METRIC_ERR(DENIED));
}

static void send_violation(const char *name, uint32_t count) {
  uint8_t b[4];
  put32(b, count);
  Part p[2] = {{b, 4}, {name, strlen(name)}};
  send_frame(PH_VIOLATION, 0, p, 2);
}

/* ── calls ── */

static InitFn plugin_init_fn, plugin_teardown_fn;
static InitFn plugin_suspend_fn, plugin_resume_fn; /* optional */
static ConfigChangedFn plugin_config_changed_fn;     /* optional */
static SnapshotFn plugin_snapshot_fn;
static RestoreFn plugin_restore_fn;
static BindFn bind_fn;

/* Run callback `cb` for a CALL or HOOK; a HOOK's output is left in hook_out. */
static int32_t run_callback(uint8_t type, uint32_t cb, const uint8_t *data, uint32_t len) {
  Entry *e = cb < n_entries ? &entries[cb] : NULL;
  int32_t rc = -1;
  hook_out_set = 0;
  in_call = 1;
  if (type == PH_HOOK && e && e->hook) rc = e->hook(&ctx, e->name, data, len);
  else if (e && e->cb) rc = e->cb(&ctx, (const char *)data, len);
  ph_violations_collect(send_violation);
  in_call = 0;
  forget_message();
  return rc;
}

static void send_answer(uint8_t type, uint32_t id, int32_t rc) {
  if (type == PH_CALL) {
    send_i32(PH_RESULT, id, rc);
    return;
  }
  uint8_t head[5];
  put32(head, (uint32_t)rc);
  head[4] = rc == 0 && hook_out_set;
  Part p[2] = {{head, 5}, {hook_out, head[4] ? hook_out_len : 0}};
  send_frame(PH_HOOK_RESULT, id, p, 2);
}

/* Serve the request in the shared slot (see shm.h for the handshake). */
static void serve_slot(void) {
  uint8_t type = (uint8_t)__atomic_load_n(&shm->type, __ATOMIC_RELAXED);
  uint32_t id = __atomic_load_n(&shm->id, __ATOMIC_RELAXED);
  uint32_t cb = __atomic_load_n(&shm->cb, __ATOMIC_RELAXED);
  uint32_t len = __atomic_load_n(&shm->len, __ATOMIC_RELAXED);
  if (len > PH_SHM_DATA_MAX || (type != PH_CALL && type != PH_HOOK)) _exit(PH_EXIT_PROTOCOL);
  pthread_mutex_lock(&out_mu);
  uint64_t before = frames_sent;
  pthread_mutex_unlock(&out_mu);
  slot_serving = 1;
  int32_t rc = run_callback(type, cb, shm->in, len);
  slot_serving = 0;
  pthread_mutex_lock(&out_mu);
  int quiet = frames_sent == before; /* nothing went out on the pipe that must precede the answer */
  pthread_mutex_unlock(&out_mu);
  int has_out = type == PH_HOOK && rc == 0 && hook_out_set;
  if (quiet && (!has_out || hook_out_len <= PH_SHM_DATA_MAX)) {
    shm->status = rc;
    shm->out_set = (uint32_t)has_out;
    shm->out_len = has_out ? hook_out_len : 0;
    if (has_out && hook_out_len) memcpy(shm->out, hook_out, hook_out_len);
    uint32_t expect = PH_SLOT_POSTED;
    if (__atomic_compare_exchange_n(&shm->state, &expect, PH_SLOT_DONE, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      if (__atomic_load_n(&shm->host_waiting, __ATOMIC_SEQ_CST)) ph_futex_wake(&shm->state);
      return;
    }
  }
  /* The host stopped spinning, or the answer must follow frames on the pipe. */
  slot_set(PH_SLOT_IDLE);
  send_answer(type, id, rc);
  flush_out();
}

/* Map the slot the host created (fd 5) and keep the wake pipe (fd 6). */
static void map_shm(void) {
  struct stat st;
  if (fstat(PH_SHM_FD, &st) != 0 || (size_t)st.st_size < sizeof(PhShm) || fcntl(PH_WAKE_FD, F_GETFD) < 0)
    fail(PH_FAIL_SANDBOX, "--shm: fds 5 and 6 must be the call slot and its wake pipe", PH_EXIT_SANDBOX);
  void *m = mmap(NULL, sizeof(PhShm), PROT_READ | PROT_WRITE, MAP_SHARED, PH_SHM_FD, 0);
  if (m == MAP_FAILED) fail(PH_FAIL_SANDBOX, "--shm: cannot map the call slot", PH_EXIT_SANDBOX);
  close(PH_SHM_FD);
  shm = m;
  wake_fd = PH_WAKE_FD;
  fcntl(wake_fd, F_SETFL, O_NONBLOCK);
  fcntl(wake_fd, F_SETFD, FD_CLOEXEC);
}

static uint64_t arg_u64(const char *s) { return strtoull(s, NULL, 10); }

int main(int argc, char **argv) {
  PhLimits lim = {0, 0, 0, 0, 0};
  int use_ns = 1, use_seccomp = 1, use_shm = 0;
  const char *path = NULL, *profile = NULL, *cgroup = NULL;
  char *deny_csv = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int more = i + 1 < argc;
    if (!strcmp(a, "--as") && more) lim.as_bytes = arg_u64(argv[++i]);
    else if (!strcmp(a, "--cpu") && more) lim.cpu_seconds = arg_u64(argv[++i]);
    else if (!strcmp(a, "--nofile") && more) lim.nofile = arg_u64(argv[++i]);
    else if (!strcmp(a, "--fsize") && more) lim.fsize_bytes = arg_u64(argv[++i]);
    else if (!strcmp(a, "--nproc") && more) lim.nproc = arg_u64(argv[++i]);
    else if (!strcmp(a, "--spin-us") && more) spin_ns = arg_u64(argv[++i]) * 1000u;
    else if (!strcmp(a, "--seccomp-profile") && more) profile = argv[++i];
    else if (!strcmp(a, "--seccomp-deny") && more) deny_csv = argv[++i];
    else if (!strcmp(a, "--cgroup") && more) cgroup = argv[++i];
    else if (!strcmp(a, "--shm")) use_shm = 1;
    else if (!strcmp(a, "--no-namespaces")) use_ns = 0;
    else if (!strcmp(a, "--no-seccomp")) use_seccomp = 0;
    else path = a;
  }
  main_thread = pthread_self();
  /* Spawned in a process group of its own: this pid is unique among live
   * helpers, and so is the uid made from it (see ph_drop_privileges). */
  pid_t helper_pid = getpid();
  signal(SIGPIPE, SIG_IGN);
  in_cap = 65536;
  in_buf = malloc(in_cap);
  if (!in_buf) return PH_EXIT_PROTOCOL;
  if (fcntl(IN_FD, F_GETFD) < 0 || fcntl(OUT_FD, F_GETFD) < 0) {
    fprintf(stderr, "plughost-sandbox-helper: fds 3 and 4 must be the protocol channel\n");
    return 2;
  }
  if (!path) fail(PH_FAIL_SANDBOX, "usage: plughost-sandbox-helper [options] PLUGIN.so", 2);
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the host */
  if (use_shm) map_shm(); /* before the sandbox: seccomp then needs nothing for it */

  /* Open the library while we may still read it; map it after dropping privileges. */
  int so_fd = open(path, O_RDONLY | O_CLOEXEC);
  if (so_fd < 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
    fail(PH_FAIL_DLOPEN, msg, PH_EXIT_SANDBOX);
  }

  const char *bad = ph_elf_problem(so_fd);
  if (bad) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s", path, bad);
    fail(PH_FAIL_DLOPEN, msg, PH_EXIT_SANDBOX);
  }

  unsigned flags = 0;
  {
    const char *why = ph_seccomp_profile(profile, deny_csv);
    if (why) fail(PH_FAIL_SANDBOX, why, PH_EXIT_SANDBOX);
  }
  if (cgroup) { /* before the namespaces: the namespaced child and its threads inherit it */
    flags |= ph_join_cgroup(cgroup);
    if (!(flags & PH_SB_CGROUP)) fail(PH_FAIL_SANDBOX, "cannot join the cgroup the host made for this plugin", PH_EXIT_SANDBOX);
  }
  int report_fd = fcntl(PH_REPORT_FD, F_GETFD) >= 0; /* the host's channel for the violation supervisor */
  if (report_fd && use_ns && use_seccomp) ph_supervisor_setup(PH_REPORT_FD, shm ? &shm->state : NULL);
  if (use_ns) flags |= ph_enter_namespaces(); /* may fork: below runs in the namespaced child */
  if (report_fd && !ph_supervised()) close(PH_REPORT_FD); /* unsupervised: the plugin must not hold it */
  main_thread = pthread_self();
  if (use_ns) {
    /* Before the library is mapped: its constructors run inside dlopen. */
    if (flags & PH_SB_MNTNS) flags |= ph_private_root(so_fd);
    if (!(flags & PH_SB_ROOT))
      fail(PH_FAIL_SANDBOX, "cannot hide the host's files from the plugin (no mount namespace or no private root)", PH_EXIT_SANDBOX);
  }
  flags |= ph_drop_privileges((uid_t)(PH_UID_BASE + (uint32_t)helper_pid));
  if (geteuid() == 0 || getuid() == 0)
    fail(PH_FAIL_SANDBOX, "cannot drop root privileges (no unprivileged uid is mapped here)", PH_EXIT_SANDBOX);
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* again: a credential change clears it */
  flags |= ph_set_rlimits(&lim);
  flags |= ph_no_new_privs();
  if (use_seccomp && ph_supervised()) {
    unsigned s = ph_seccomp_supervised();
    if (!s) fail(PH_FAIL_SANDBOX, "cannot load the seccomp filter or hand its listener to the supervisor", PH_EXIT_SANDBOX);
    flags |= s;
  } else if (use_seccomp) {
    unsigned s = ph_seccomp_load(1);
    if (!s) fail(PH_FAIL_SANDBOX, "cannot load the seccomp filter", PH_EXIT_SANDBOX);
    flags |= s;
  }

  { /* Sent before dlopen, so it is the helper's word: constructors run inside dlopen and may write anything after it. */
    uint8_t b[4];
    put32(b, flags);
    Part p = {b, 4};
    send_frame(PH_SANDBOX, 0, &p, 1);
    flush_out();
  }
  char fdpath[64];
  if (flags & PH_SB_ROOT) { /* the copy in the private root is what gets mapped */
    close(so_fd);
    so_fd = -1;
  }
  if (flags & PH_SB_ROOT) snprintf(fdpath, sizeof fdpath, "%s", PH_ROOT_LIB);
  else snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", so_fd);
  void *h = dlopen(fdpath, RTLD_NOW | RTLD_LOCAL);
  if (!h && !(flags & PH_SB_ROOT)) h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    char msg[1024];
    const char *rest = e ? strstr(e, fdpath) : NULL; /* name the real file, not the fd */
    if (rest) snprintf(msg, sizeof msg, "%s%s", path, rest + strlen(fdpath));
    else snprintf(msg, sizeof msg, "%s", e ? e : "dlopen failed");
    fail(PH_FAIL_DLOPEN, msg, PH_EXIT_SANDBOX);
  }
  if (so_fd >= 0) close(so_fd);
  plugin_init_fn = (InitFn)dlsym(h, "plugin_init");
  plugin_teardown_fn = (InitFn)dlsym(h, "plugin_teardown");
  if (!plugin_init_fn) fail(PH_FAIL_SYMBOL, "plugin_init", PH_EXIT_SANDBOX);
  if (!plugin_teardown_fn) fail(PH_FAIL_SYMBOL, "plugin_teardown", PH_EXIT_SANDBOX);
  plugin_suspend_fn = (InitFn)dlsym(h, "plugin_suspend");
  plugin_resume_fn = (InitFn)dlsym(h, "plugin_resume");
  plugin_config_changed_fn = (ConfigChangedFn)dlsym(h, "plugin_config_changed");
  plugin_snapshot_fn = (SnapshotFn)dlsym(h, "plugin_snapshot");
  plugin_restore_fn = (RestoreFn)dlsym(h, "plugin_restore");
  bind_fn = (BindFn)dlsym(h, "plughost_native_bind");
  StrFn name_fn = (StrFn)dlsym(h, "plugin_name");
  StrFn version_fn = (StrFn)dlsym(h, "plugin_version");
  U32Fn api_fn = (U32Fn)dlsym(h, "plugin_api_version");
  if (use_seccomp && (flags & PH_SB_SUPERVISED)) {
    ph_supervisor_phase2(); /* the loader is done: from now on init refuses opens too */
  } else if (use_seccomp) {
    unsigned s = ph_seccomp_load(2);
    if (!s) fail(PH_FAIL_SANDBOX, "cannot load the seccomp filter", PH_EXIT_SANDBOX);
  }

  install_crash_flush();
  ctx.register_callback = ctx_register;
  ctx.log = ctx_log;
  ctx.host_data = &table;
  table = (PlughostNativeHost){PLUGHOST_NATIVE_ABI, sizeof(PlughostNativeHost), NULL, h_register_hook, h_hook_output,
                               h_emit, h_send, h_config, h_request, h_current_message,
                               h_state_get, h_state_set, h_state_delete, h_state_exists, h_state_increment,
                               h_state_cas, h_state_list_keys, h_context_get, h_context_set, h_metric_define,
                               h_metric_record};

  {
    const char *nm = name_fn ? name_fn() : NULL;
    const char *vs = version_fn ? version_fn() : NULL;
    uint32_t api = api_fn ? api_fn() : 0;
    flags |= (nm ? PH_HAS_NAME : 0) | (vs ? PH_HAS_VERSION : 0) | (api_fn ? PH_HAS_API : 0);
    flags |= (plugin_suspend_fn ? PH_HAS_SUSPEND : 0) | (plugin_resume_fn ? PH_HAS_RESUME : 0);
    flags |= (plugin_config_changed_fn ? PH_HAS_CONFIG_CHANGED : 0) | (plugin_snapshot_fn ? PH_HAS_SNAPSHOT : 0) |
             (plugin_restore_fn ? PH_HAS_RESTORE : 0);
    uint8_t head[8];
    put32(head, flags);
    put32(head + 4, api);
    Part p[3] = {{head, 8}, {nm ? nm : "", nm ? strnlen(nm, 256) + 1 : 1}, {vs ? vs : "", vs ? strnlen(vs, 256) + 1 : 1}};
    send_frame(PH_READY, 0, p, 3);
  }

  for (;;) {
    Frame f, *d = deferred_head;
    if (d) {
      deferred_head = d->next;
      if (!deferred_head) deferred_tail = NULL;
      f = *d;
      free(d);
    } else {
      int r = read_frame(&f, 1);
      if (r == 0) break;
      if (r == 2) {
        serve_slot();
        continue;
      }
      if (f.len) { /* own the payload: a nested host request may move in_buf */
        uint8_t *copy = malloc(f.len);
        if (!copy) _exit(PH_EXIT_PROTOCOL);
        memcpy(copy, f.data, f.len);
        f.data = copy;
      } else {
        f.data = NULL;
      }
    }
    int32_t rc = -1;
    switch (f.type) {
      case PH_INIT: {
        if (f.len < 4) _exit(PH_EXIT_PROTOCOL);
        free(config_json);
        config_json = strndup((const char *)f.data + 4, f.len - 4);
        ctx.api_version = get32(f.data);
        in_call = 1;
        if (bind_fn) bind_fn(&table);
        rc = plugin_init_fn(&ctx);
        ph_violations_collect(send_violation);
        in_call = 0;
        forget_message();
        send_i32(PH_RESULT, f.id, rc);
        break;
      }
      case PH_CALL:
      case PH_HOOK:
        if (f.len < 4) _exit(PH_EXIT_PROTOCOL);
        rc = run_callback(f.type, get32(f.data), f.data + 4, f.len - 4);
        send_answer(f.type, f.id, rc);
        break;
      case PH_SUSPEND:
      case PH_RESUME: {
        InitFn fn = f.type == PH_SUSPEND ? plugin_suspend_fn : plugin_resume_fn;
        in_call = 1;
        rc = fn ? fn(&ctx) : 0; /* the host asks only when READY said it is there */
        ph_violations_collect(send_violation);
        in_call = 0;
        forget_message();
        send_i32(PH_RESULT, f.id, rc);
        break;
      }
      case PH_CONFIG_CHANGED: { /* the host asks only when READY said it is there */
        free(config_json);
        config_json = strndup(f.len ? (const char *)f.data : "", f.len); /* plughost_config() answers it from now on */
        in_call = 1;
        rc = plugin_config_changed_fn && config_json ? plugin_config_changed_fn(&ctx, config_json) : 1;
        ph_violations_collect(send_violation);
        in_call = 0;
        forget_message();
        send_i32(PH_RESULT, f.id, rc);
        break;
      }
      case PH_RESTORE:
        in_call = 1;
        rc = plugin_restore_fn ? plugin_restore_fn(&ctx, f.len ? f.data : (const uint8_t *)"", f.len) : 0;
        ph_violations_collect(send_violation);
        in_call = 0;
        forget_message();
        send_i32(PH_RESULT, f.id, rc);
        break;
      case PH_SNAPSHOT: {
        uint8_t *snap = NULL;
        in_call = 1;
        uint32_t n = plugin_snapshot_fn ? plugin_snapshot_fn(&ctx, &snap) : 0;
        ph_violations_collect(send_violation);
        in_call = 0;
        forget_message();
        if (!snap) n = 0;
        uint8_t head[4];
        int too_large = (size_t)n > PH_BODY_MAX - 5 - 4;
        put32(head, too_large ? (uint32_t)-1 : 0u);
        Part p[2] = {{head, 4}, {snap, too_large ? 0 : n}};
        send_frame(PH_SNAPSHOT_RESULT, f.id, p, 2);
        free(snap); /* the plugin's malloc: the same libc */
        break;
      }
      case PH_TEARDOWN:
        in_call = 1;
        rc = plugin_teardown_fn(&ctx);
        ph_violations_collect(send_violation);
        in_call = 0;
        forget_message();
        send_i32(PH_RESULT, f.id, rc);
        break;
      default:
        break; /* stray replies */
    }
    free(f.data);
  }
  flush_out();
  _exit(0); /* plugin threads end with us; no atexit handlers of plugin code */
}
