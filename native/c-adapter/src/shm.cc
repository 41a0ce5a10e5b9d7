// The host side of the sandbox helper's shared-memory call slot
// (native/sandbox-helper/src/shm.h has the layout and the handshake).
//
// JS surface (see src/engines/native-sandbox.ts):
//   shmOpen() -> { slot, fd, wakeFd }   fd / wakeFd go to the helper as fds 5 / 6
//   shmSpawned(slot)                     closes the helper's ends in this process
//   shmCall(slot, type, id, cb, data, spinNs)
//        CALL -> int32 status | undefined (answer will come on the pipe)
//        HOOK -> int32 (non-zero status) | Buffer (output) | null (pass through) | undefined
//   shmRing(slot)                        the host wrote to the pipe: wake a helper asleep on the futex
//   shmClose(slot)                       unmaps; later calls throw
//
// The helper is untrusted: every field is read once, lengths are checked,
// and the spin is bounded by spinNs whatever the helper writes.
#include <node_api.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstring>

extern "C" {
#include "protocol.h"
#include "shm.h"
}

namespace {

struct Slot {
  PhShm *m = nullptr;
  int child_fd = -1, child_wake = -1, wake_w = -1;
};

void CloseFd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

void Release(Slot *s) {
  if (s->m) munmap(s->m, sizeof(PhShm));
  s->m = nullptr;
  CloseFd(&s->child_fd);
  CloseFd(&s->child_wake);
  CloseFd(&s->wake_w);
}

void Finalize(napi_env, void *data, void *) {
  auto *s = static_cast<Slot *>(data);
  Release(s);
  delete s;
}

napi_value Throw(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return nullptr;
}

Slot *GetSlot(napi_env env, napi_value v) {
  void *p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok) return nullptr;
  return static_cast<Slot *>(p);
}

napi_value Int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

napi_value ShmOpen(napi_env env, napi_callback_info) {
  auto *s = new Slot();
  int wake[2] = {-1, -1};
  s->child_fd = memfd_create("plughost-slot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  bool ok = s->child_fd >= 0 && ftruncate(s->child_fd, sizeof(PhShm)) == 0 &&
            // fixed size: a helper can never make the host's mapping fault (SIGBUS)
            fcntl(s->child_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0 &&
            pipe2(wake, O_CLOEXEC) == 0;
  if (ok) {
    s->child_wake = wake[0];
    s->wake_w = wake[1];
    fcntl(s->wake_w, F_SETFL, O_NONBLOCK);  // a helper that never drains it cannot block the host
    void *m = mmap(nullptr, sizeof(PhShm), PROT_READ | PROT_WRITE, MAP_SHARED, s->child_fd, 0);
    ok = m != MAP_FAILED;
    if (ok) s->m = static_cast<PhShm *>(m);
  }
  if (!ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "cannot create the shared call slot: %s", strerror(errno));
    Release(s);
    delete s;
    return Throw(env, "E_SHM", msg);
  }
  napi_value out, slot, fd, wfd;
  napi_create_object(env, &out);
  napi_create_external(env, s, Finalize, nullptr, &slot);
  napi_create_int32(env, s->child_fd, &fd);
  napi_create_int32(env, s->child_wake, &wfd);
  napi_set_named_property(env, out, "slot", slot);
  napi_set_named_property(env, out, "fd", fd);
  napi_set_named_property(env, out, "wakeFd", wfd);
  return out;
}

napi_value ShmSpawned(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  Slot *s = argc ? GetSlot(env, arg) : nullptr;
  if (!s) return Throw(env, "E_ARG", "shmSpawned(slot)");
  CloseFd(&s->child_fd);
  CloseFd(&s->child_wake);
  return nullptr;
}

napi_value ShmClose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  Slot *s = argc ? GetSlot(env, arg) : nullptr;
  if (!s) return Throw(env, "E_ARG", "shmClose(slot)");
  Release(s);
  return nullptr;
}

inline uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

inline void Relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// After posting (or writing to the pipe): wake the helper the way it sleeps.
void Wake(Slot *s) {
  uint32_t idle = __atomic_exchange_n(&s->m->helper_idle, PH_IDLE_NO, __ATOMIC_SEQ_CST);
  if (idle == PH_IDLE_FUTEX) {
    ph_futex_wake(&s->m->state);
  } else if (idle == PH_IDLE_POLL) {
    ssize_t w = write(s->wake_w, "w", 1);  // EAGAIN: already rung
    (void)w;
  }
}

// The answer in the slot, read once; then the slot is free again.
napi_value Consume(napi_env env, PhShm *m, uint32_t type) {
  int32_t status = __atomic_load_n(&m->status, __ATOMIC_RELAXED);
  uint32_t out_set = __atomic_load_n(&m->out_set, __ATOMIC_RELAXED);
  uint32_t out_len = __atomic_load_n(&m->out_len, __ATOMIC_RELAXED);
  napi_value out = nullptr;
  if (type == PH_CALL || status != 0) {
    out = Int(env, status);
  } else if (!out_set) {
    napi_get_null(env, &out);
  } else if (out_len > PH_SHM_DATA_MAX) {
    return Throw(env, "E_PROTOCOL", "the helper answered with an out-of-bounds output length");
  } else {
    void *copy;
    napi_create_buffer_copy(env, out_len, m->out, &copy, &out);
  }
  __atomic_store_n(&m->state, PH_SLOT_IDLE, __ATOMIC_RELEASE);
  return out;
}

// shmCall(slot, type, id, cb, data, spinNs)
napi_value ShmCall(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Slot *s = argc == 6 ? GetSlot(env, argv[0]) : nullptr;
  uint32_t type = 0, id = 0, cb = 0, spin = 0;
  napi_typedarray_type t;
  size_t len = 0;
  void *data = nullptr;
  if (!s || napi_get_value_uint32(env, argv[1], &type) != napi_ok || napi_get_value_uint32(env, argv[2], &id) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &cb) != napi_ok ||
      napi_get_typedarray_info(env, argv[4], &t, &len, &data, nullptr, nullptr) != napi_ok || t != napi_uint8_array ||
      napi_get_value_uint32(env, argv[5], &spin) != napi_ok || (type != PH_CALL && type != PH_HOOK) ||
      len > PH_SHM_DATA_MAX)
    return Throw(env, "E_ARG", "shmCall(slot, type, id, cb, data <= 64 KiB, spinNs)");
  PhShm *m = s->m;
  if (!m) return Throw(env, "E_STATE", "the shared call slot is closed");
  __atomic_store_n(&m->type, type, __ATOMIC_RELAXED);
  __atomic_store_n(&m->id, id, __ATOMIC_RELAXED);
  __atomic_store_n(&m->cb, cb, __ATOMIC_RELAXED);
  __atomic_store_n(&m->len, static_cast<uint32_t>(len), __ATOMIC_RELAXED);
  if (len) std::memcpy(m->in, data, len);
  __atomic_store_n(&m->state, PH_SLOT_POSTED, __ATOMIC_SEQ_CST);
  Wake(s);
  const uint64_t start = NowNs();
  const uint64_t until = start + spin;
  const uint64_t spin_until = start + (spin < PH_SHM_HOST_SPIN_NS ? spin : PH_SHM_HOST_SPIN_NS);
  for (uint32_t i = 0;; i++) {
    uint32_t st = __atomic_load_n(&m->state, __ATOMIC_ACQUIRE);
    if (st == PH_SLOT_DONE) return Consume(env, m, type);
    if (st != PH_SLOT_POSTED) return nullptr;  // answered on the pipe
    if ((i & 31) != 0) {
      Relax();
      continue;
    }
    uint64_t now = NowNs();
    if (now >= until) break;
    if (now - start > 1000) sched_yield();  // past a fast round trip: a helper sharing this CPU gets to run
    if (now >= spin_until) {
      // Past the spin: sleep on the state word; the helper wakes us. In short
      // naps, so that a state changed without a wake (a plugin scribbling on
      // the slot) is still seen soon.
      __atomic_store_n(&m->host_waiting, 1, __ATOMIC_SEQ_CST);
      ph_futex_wait(&m->state, PH_SLOT_POSTED, until - now < 100000 ? until - now : 100000);
      __atomic_store_n(&m->host_waiting, 0, __ATOMIC_SEQ_CST);
    }
  }
  uint32_t expect = PH_SLOT_POSTED;
  if (__atomic_compare_exchange_n(&m->state, &expect, PH_SLOT_ABANDONED, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
    return nullptr;  // the helper will answer on the pipe
  if (expect == PH_SLOT_DONE) return Consume(env, m, type);
  return nullptr;
}

napi_value ShmRing(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  Slot *s = argc ? GetSlot(env, arg) : nullptr;
  if (s && s->m) Wake(s);
  return nullptr;
}

}  // namespace

// Called from addon.cc's module init.
void RegisterShm(napi_env env, napi_value exports) {
  const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {{"shmOpen", ShmOpen}, {"shmSpawned", ShmSpawned}, {"shmCall", ShmCall}, {"shmRing", ShmRing}, {"shmClose", ShmClose}};
  for (const auto &f : fns) {
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &v);
    napi_set_named_property(env, exports, f.name, v);
  }
}
