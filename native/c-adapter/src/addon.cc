// plughost_native: loads a legacy C-ABI plugin (.so) into this process and
// calls it. Trusted plugins only: a crash here is a crash of the host.
//
// JS surface (see src/engines/native-inprocess.ts):
//   open(path) -> { handle, name?, version?, apiVersion? }      throws {code}
//   init(handle, host, apiVersionU32, configJson) -> int32
//     host: { log, register, emit, send, message() -> Uint8Array | null (protocol.h's message-info encoding),
//             request(target, name, len, timeoutMs, data?) -> number | Uint8Array, scratch: Uint8Array (see HostRequest) }
//   bind(handle, id) -> { call(u8) -> int32, hook(u8) -> int32 | Buffer | null,
//                         hookIn(len) -> int32 | 2^32 + len | Buffer | null (bytes in host.hookScratch) }
//   teardown(handle) -> int32
//   configChanged(handle, json) -> int32, snapshot(handle) -> Buffer | null, restore(handle, u8) -> int32
//     (the optional plugin_config_changed / plugin_snapshot / plugin_restore; open reports which exist)
//   host.stateGet/stateSet/stateDelete/stateExists/stateIncrement/stateCas/stateListKeys/contextGet/contextSet:
//     shared.ts NativeStateCalls (numbers are plughost.h's codes)
//   host.metricDefine/metricRecord: shared.ts NativeMetricCalls (numbers are plughost.h's codes)
//   close(handle)                                                 throws {code: E_DLCLOSE | E_STILL_MAPPED}
//   noop()                                                        the empty node-api floor
//   shmOpen / shmSpawned / shmCall / shmClose                     the sandbox helper's call slot (shm.cc)
//
// The hot path (`call`) is raw node-api: no allocations, no C++ wrappers.
// Built with NAPI_DISABLE_CPP_EXCEPTIONS so no C++ exception can unwind
// through plugin frames.
#include <napi.h>

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "plughost_host.h"
#include "protocol.h"  // the message-info encoding, shared with the sandbox helper

void RegisterShm(napi_env env, napi_value exports);  // shm.cc

namespace {

using InitFn = int32_t (*)(PluginContext *);
using BindFn = PlughostNativeBindFn;
using StrFn = const char *(*)(void);
using U32Fn = uint32_t (*)(void);
using ConfigChangedFn = int32_t (*)(PluginContext *, const char *);
using SnapshotFn = uint32_t (*)(PluginContext *, uint8_t **);
using RestoreFn = int32_t (*)(PluginContext *, const uint8_t *, uint32_t);

constexpr size_t kMaxLog = 8192;
constexpr size_t kMaxName = 1024;

struct Entry {
  std::string name;
  CallbackFn cb = nullptr;
  HookFn hook = nullptr;
};

struct Plugin {
  PluginContext ctx{};
  PlughostNativeHost table{};
  void *handle = nullptr;
  InitFn init = nullptr;
  InitFn teardown = nullptr;
  InitFn suspend = nullptr;  // optional plugin_suspend / plugin_resume
  InitFn resume = nullptr;
  ConfigChangedFn config_changed = nullptr;  // optional plugin_config_changed / plugin_snapshot / plugin_restore
  SnapshotFn snapshot = nullptr;
  RestoreFn restore = nullptr;
  std::vector<Entry> entries;
  napi_env env = nullptr;
  napi_ref host = nullptr;
  napi_ref request_fn = nullptr;  // host.request, looked up once
  napi_ref scratch_ref = nullptr;  // host.scratch (a Uint8Array): request bytes in and answers out, when they fit
  uint8_t *scratch = nullptr;
  size_t scratch_len = 0;
  napi_ref hook_scratch_ref = nullptr;  // host.hookScratch: small hook inputs and outputs (CallHookIn)
  uint8_t *hook_scratch = nullptr;
  size_t hook_scratch_len = 0;
  pthread_t js_thread{};
  int depth = 0;  // > 0 while the JS thread is inside plugin code
  std::mutex log_mu;
  napi_threadsafe_function log_tsfn = nullptr;
  bool log_open = false;
  bool initialized = false, torn_down = false, closed = false;
  std::vector<uint8_t> hook_out;
  bool hook_out_set = false;
  std::string config = "{}";
  // Envelopes asked for by current_message: (depth of the call, decoded box or null for none), freed when that call returns.
  std::vector<std::pair<int, PhMessageBox *>> messages;
};

struct LogMsg {
  int32_t level;
  char text[1];
};

// dlopen returns the same handle for the same file: two plugins would share
// the library's globals, so a second in-process load of one file is refused.
std::unordered_set<void *> g_open;

Plugin *FromCtx(PluginContext *c) { return c ? static_cast<Plugin *>(c->host_data) : nullptr; }

// Host calls into JS are only legal on the JS thread while it is running
// plugin code on our behalf (inside init/call/hook/teardown).
bool OnJsThread(Plugin *p) { return pthread_equal(pthread_self(), p->js_thread) && p->depth > 0 && !p->closed; }

void ClearException(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value e;
    napi_get_and_clear_last_exception(env, &e);
  }
}

bool CallHost(Plugin *p, const char *method, size_t argc, napi_value *argv, napi_value *result) {
  napi_env env = p->env;
  napi_value host, fn;
  if (napi_get_reference_value(env, p->host, &host) != napi_ok || napi_get_named_property(env, host, method, &fn) != napi_ok ||
      napi_call_function(env, host, fn, argc, argv, result) != napi_ok) {
    ClearException(env);
    return false;
  }
  return true;
}

int32_t ResultInt(napi_env env, napi_value v, int32_t fallback) {
  int32_t out;
  return napi_get_value_int32(env, v, &out) == napi_ok ? out : fallback;
}

napi_value Str(napi_env env, const char *s, size_t max) {
  napi_value v;
  napi_create_string_utf8(env, s, strnlen(s, max), &v);
  return v;
}

int32_t DoRegister(Plugin *p, const char *name, CallbackFn cb, HookFn hook) {
  if (!name || (!cb && !hook)) return PLUGHOST_ERR_INVALID_NAME;
  if (!OnJsThread(p)) return PLUGHOST_ERR_DENIED;
  size_t id = p->entries.size();
  for (size_t i = 0; i < p->entries.size(); i++)
    if (p->entries[i].name == name) id = i;
  napi_env env = p->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[3], r;
  argv[0] = Str(env, name, kMaxName);
  napi_create_uint32(env, static_cast<uint32_t>(id), &argv[1]);
  napi_get_boolean(env, hook != nullptr, &argv[2]);
  int32_t code = CallHost(p, "register", 3, argv, &r) ? ResultInt(env, r, PLUGHOST_ERR_DENIED) : PLUGHOST_ERR_DENIED;
  napi_close_handle_scope(env, scope);
  if (code != PLUGHOST_OK) return code;
  if (id == p->entries.size()) p->entries.push_back(Entry{name});
  if (cb) p->entries[id].cb = cb;
  if (hook) p->entries[id].hook = hook;
  return PLUGHOST_OK;
}

int32_t CtxRegister(PluginContext *c, const char *name, CallbackFn cb) {
  Plugin *p = FromCtx(c);
  return p ? DoRegister(p, name, cb, nullptr) : PLUGHOST_ERR_DENIED;
}

void CtxLog(PluginContext *c, LogLevel level, const char *message) {
  Plugin *p = FromCtx(c);
  if (!p || !message) return;
  int32_t lv = level < LOG_DEBUG ? 0 : level > LOG_ERROR ? LOG_ERROR : static_cast<int32_t>(level);
  if (OnJsThread(p)) {  // synchronous: logs keep their order relative to the call
    napi_handle_scope scope;
    napi_open_handle_scope(p->env, &scope);
    napi_value argv[2], r;
    napi_create_int32(p->env, lv, &argv[0]);
    argv[1] = Str(p->env, message, kMaxLog);
    CallHost(p, "log", 2, argv, &r);
    napi_close_handle_scope(p->env, scope);
    return;
  }
  // Any other thread: queue without blocking; drop when closed or the queue is full.
  size_t n = strnlen(message, kMaxLog);
  auto *m = static_cast<LogMsg *>(std::malloc(sizeof(LogMsg) + n));
  if (!m) return;
  m->level = lv;
  std::memcpy(m->text, message, n);
  m->text[n] = 0;
  std::lock_guard<std::mutex> g(p->log_mu);
  if (!p->log_open || napi_call_threadsafe_function(p->log_tsfn, m, napi_tsfn_nonblocking) != napi_ok) std::free(m);
}

void LogCallJs(napi_env env, napi_value fn, void *, void *data) {
  auto *m = static_cast<LogMsg *>(data);
  if (env && fn) {
    napi_value argv[2], undef, r;
    napi_create_int32(env, m->level, &argv[0]);
    napi_create_string_utf8(env, m->text, NAPI_AUTO_LENGTH, &argv[1]);
    napi_get_undefined(env, &undef);
    if (napi_call_function(env, undef, fn, 2, argv, &r) != napi_ok) ClearException(env);
  }
  std::free(m);
}

int32_t HostRegisterHook(void *h, const char *name, HookFn hook) { return DoRegister(static_cast<Plugin *>(h), name, nullptr, hook); }

int32_t HostHookOutput(void *h, const uint8_t *data, uint32_t len) {
  auto *p = static_cast<Plugin *>(h);
  if (!OnJsThread(p)) return PLUGHOST_ERR_DENIED;
  p->hook_out.assign(data, data + len);
  p->hook_out_set = true;
  return PLUGHOST_OK;
}

int32_t Message(Plugin *p, const char *method, const char *target, const char *name, const uint8_t *data, uint32_t len) {
  if (!OnJsThread(p)) return PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_DENIED);
  napi_env env = p->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[3], r;
  size_t argc = 0;
  if (target) argv[argc++] = Str(env, target, kMaxName);
  argv[argc++] = Str(env, name, kMaxName);
  void *copy;
  napi_create_buffer_copy(env, len, len ? data : reinterpret_cast<const uint8_t *>(""), &copy, &argv[argc++]);
  int32_t rc = CallHost(p, method, argc, argv, &r) ? ResultInt(env, r, PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_DENIED)) : PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_DENIED);
  napi_close_handle_scope(env, scope);
  return rc;
}

int32_t HostEmit(void *h, const char *name, const uint8_t *data, uint32_t len) {
  return Message(static_cast<Plugin *>(h), "emit", nullptr, name, data, len);
}
int32_t HostSend(void *h, const char *target, const char *name, const uint8_t *data, uint32_t len) {
  return Message(static_cast<Plugin *>(h), "send", target, name, data, len);
}
const char *HostConfig(void *h) { return static_cast<Plugin *>(h)->config.c_str(); }

constexpr int32_t RequestErr(int32_t code) { return PLUGHOST_REQUEST_ERR(code); }

// A trusted plugin's request runs on the JS thread: the host answers at once (a target that can answer here now) or
// says would-block. The answer is copied into memory from the plugin's own allocator, which it free()s.
//
// Bytes cross through the plugin's scratch array (host.scratch, made by the JS side) when they fit: the payload is
// copied in before the call and the JS side copies it out at once (small copies stay on V8's heap); the answer comes
// back the same way. So a small request allocates no ArrayBuffer (their malloc and sweeping were most of its cost).
// JS answers: a number >= 0 (the answer's length, in scratch), < 0 (-PLUGHOST_REQUEST_ERR(code)), or a Uint8Array.
int32_t HostRequest(void *h, const char *target, const char *name, const uint8_t *data, uint32_t len, uint32_t timeout_ms,
                    void *(*alloc)(size_t), uint8_t **out, uint32_t *out_len) {
  auto *p = static_cast<Plugin *>(h);
  if (!OnJsThread(p)) return RequestErr(PLUGHOST_REQUEST_ERROR_DENIED);
  if (!target || !name || (!data && len) || !alloc || !out || !out_len) return RequestErr(PLUGHOST_REQUEST_ERROR_INVALID_NAME);
  // Longer than any name the host accepts: refused here rather than cut (a cut name could name another target).
  if (strnlen(target, kMaxName) == kMaxName || strnlen(name, kMaxName) == kMaxName) return RequestErr(PLUGHOST_REQUEST_ERROR_INVALID_NAME);
  if (!p->request_fn) return RequestErr(PLUGHOST_REQUEST_ERROR_UNKNOWN_TARGET);
  napi_env env = p->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[5], r, host, fn;
  argv[0] = Str(env, target, kMaxName);
  argv[1] = Str(env, name, kMaxName);
  napi_create_uint32(env, len, &argv[2]);
  napi_create_uint32(env, timeout_ms, &argv[3]);
  size_t argc = 4;
  if (len <= p->scratch_len) {
    if (len) std::memcpy(p->scratch, data, len);
  } else {  // too big for scratch: its own copy (the registry may keep the payload, in the request's envelope)
    void *copy;
    napi_value ab;
    napi_create_arraybuffer(env, len, &copy, &ab);
    std::memcpy(copy, data, len);
    napi_create_typedarray(env, napi_uint8_array, len, ab, 0, &argv[argc++]);
  }
  int32_t rc = RequestErr(PLUGHOST_REQUEST_ERROR_FAILED);
  if (napi_get_reference_value(env, p->host, &host) == napi_ok && napi_get_reference_value(env, p->request_fn, &fn) == napi_ok &&
      napi_call_function(env, host, fn, argc, argv, &r) == napi_ok) {
    napi_valuetype type;
    napi_typeof(env, r, &type);
    const uint8_t *bytes = nullptr;
    size_t n = 0;
    bool ok = false;
    if (type == napi_number) {
      double v;
      napi_get_value_double(env, r, &v);
      if (v >= 0 && v <= static_cast<double>(p->scratch_len)) {
        n = static_cast<size_t>(v);
        bytes = p->scratch;
        ok = static_cast<double>(n) == v;
      } else if (v < 0 && -v <= PLUGHOST_REQUEST_ERROR_COUNT && static_cast<double>(static_cast<int32_t>(v)) == v) {
        rc = static_cast<int32_t>(-v);
      }
    } else {
      bool is_array = false;
      napi_typedarray_type t;
      void *data_ptr = nullptr;
      if (napi_is_typedarray(env, r, &is_array) == napi_ok && is_array &&
          napi_get_typedarray_info(env, r, &t, &n, &data_ptr, nullptr, nullptr) == napi_ok && t == napi_uint8_array && n <= UINT32_MAX) {
        bytes = static_cast<const uint8_t *>(data_ptr);
        ok = true;
      }
    }
    if (ok && n == 0) {
      *out = nullptr;
      *out_len = 0;
      rc = 0;
    } else if (ok) {
      if (auto *b = static_cast<uint8_t *>(alloc(n))) {
        std::memcpy(b, bytes, n);
        *out = b;
        *out_len = static_cast<uint32_t>(n);
        rc = 0;
      }
    }
  } else {
    ClearException(env);
  }
  napi_close_handle_scope(env, scope);
  return rc;
}

int32_t HostCurrentMessage(void *h, PlughostMessageInfo *info) {
  auto *p = static_cast<Plugin *>(h);
  if (!info || !OnJsThread(p)) return 0;
  if (p->messages.empty() || p->messages.back().first != p->depth) {
    PhMessageBox *box = nullptr;
    napi_env env = p->env;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value r;
    napi_typedarray_type t;
    size_t n = 0;
    void *bytes = nullptr;
    bool is_array = false;
    if (CallHost(p, "message", 0, nullptr, &r) && napi_is_typedarray(env, r, &is_array) == napi_ok && is_array &&
        napi_get_typedarray_info(env, r, &t, &n, &bytes, nullptr, nullptr) == napi_ok && t == napi_uint8_array && n <= UINT32_MAX)
      box = ph_message_info_decode(static_cast<const uint8_t *>(bytes), static_cast<uint32_t>(n));
    napi_close_handle_scope(env, scope);
    p->messages.emplace_back(p->depth, box);
  }
  PhMessageBox *box = p->messages.back().second;
  if (!box) return 0;
  *info = box->info;
  return 1;
}

// A call into the plugin returned: the envelopes its code was given (at deeper depths) go.
inline void EndCall(Plugin *p) {
  p->depth--;
  while (!p->messages.empty() && p->messages.back().first > p->depth) {
    std::free(p->messages.back().second);
    p->messages.pop_back();
  }
}

// ── state and context: each a call of the host object's NativeStateCalls member on the JS thread ──

constexpr int32_t StateErr(int32_t code) { return PLUGHOST_STATE_ERR(code); }
constexpr int32_t ContextErr(int32_t code) { return PLUGHOST_CONTEXT_ERR(code); }

// A string of the plugin's as a JS string: NULL, empty, longer than `max` or not UTF-8 is refused (a cut or
// repaired key would name another).
bool StrArg(napi_env env, const char *s, size_t max, bool allow_empty, napi_value *out) {
  if (!s) return false;
  size_t n = strnlen(s, max + 1);
  if ((n == 0 && !allow_empty) || n > max || !ph_utf8_valid(reinterpret_cast<const uint8_t *>(s), n)) return false;
  return napi_create_string_utf8(env, s, n, out) == napi_ok;
}

napi_value BytesArg(napi_env env, const uint8_t *data, uint32_t len) {
  napi_value v;
  void *copy;
  napi_create_buffer_copy(env, len, len ? data : reinterpret_cast<const uint8_t *>(""), &copy, &v);
  return v;
}

// A host answer that is a status: an int32 within [lo, hi], else `fallback`.
int32_t StatusIn(napi_env env, napi_value r, int32_t lo, int32_t hi, int32_t fallback) {
  int32_t v;
  napi_valuetype t;
  if (napi_typeof(env, r, &t) != napi_ok || t != napi_number || napi_get_value_int32(env, r, &v) != napi_ok) return fallback;
  return v >= lo && v <= hi ? v : fallback;
}

// A host answer that is bytes: copied into `alloc`'s memory (NULL for empty). False when it is not bytes or alloc fails.
bool BytesOut(napi_env env, napi_value r, void *(*alloc)(size_t), uint8_t **out, uint32_t *out_len) {
  bool is_array = false;
  napi_typedarray_type t;
  size_t n = 0;
  void *data = nullptr;
  if (napi_is_typedarray(env, r, &is_array) != napi_ok || !is_array ||
      napi_get_typedarray_info(env, r, &t, &n, &data, nullptr, nullptr) != napi_ok || t != napi_uint8_array || n > UINT32_MAX)
    return false;
  if (n == 0) {
    *out = nullptr;
    *out_len = 0;
    return true;
  }
  auto *b = static_cast<uint8_t *>(alloc(n));
  if (!b) return false;
  std::memcpy(b, data, n);
  *out = b;
  *out_len = static_cast<uint32_t>(n);
  return true;
}

// Runs `body` in a handle scope on the JS thread; `denied` when not there.
template <typename F>
int32_t OnJs(Plugin *p, int32_t denied, F body) {
  if (!OnJsThread(p)) return denied;
  napi_handle_scope scope;
  napi_open_handle_scope(p->env, &scope);
  int32_t rc = body(p->env);
  napi_close_handle_scope(p->env, scope);
  return rc;
}

constexpr int32_t kStateLo = StateErr(PLUGHOST_STATE_ERROR_COUNT - 1);

int32_t HostStateGet(void *h, const char *key, void *(*alloc)(size_t), uint8_t **out, uint32_t *out_len) {
  auto *p = static_cast<Plugin *>(h);
  return OnJs(p, StateErr(PLUGHOST_STATE_ERROR_DENIED), [&](napi_env env) {
    napi_value k, r;
    if (!alloc || !out || !out_len || !StrArg(env, key, PLUGHOST_NATIVE_KEY_MAX, false, &k)) return StateErr(PLUGHOST_STATE_ERROR_INVALID_KEY);
    if (!CallHost(p, "stateGet", 1, &k, &r)) return StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE);
    if (BytesOut(env, r, alloc, out, out_len)) return 1;
    return StatusIn(env, r, kStateLo, 0, StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE));
  });
}

int32_t HostStateSet(void *h, const char *key, const uint8_t *value, uint32_t len) {
  auto *p = static_cast<Plugin *>(h);
  return OnJs(p, StateErr(PLUGHOST_STATE_ERROR_DENIED), [&](napi_env env) {
    napi_value argv[2], r;
    if (!StrArg(env, key, PLUGHOST_NATIVE_KEY_MAX, false, &argv[0])) return StateErr(PLUGHOST_STATE_ERROR_INVALID_KEY);
    if ((!value && len) || len > PLUGHOST_NATIVE_VALUE_MAX) return StateErr(PLUGHOST_STATE_ERROR_TOO_LARGE);
    argv[1] = BytesArg(env, value, len);
    if (!CallHost(p, "stateSet", 2, argv, &r)) return StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE);
    return StatusIn(env, r, kStateLo, 0, StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE));
  });
}

int32_t KeyOnly(void *h, const char *method, const char *key) {
  auto *p = static_cast<Plugin *>(h);
  return OnJs(p, StateErr(PLUGHOST_STATE_ERROR_DENIED), [&](napi_env env) {
    napi_value k, r;
    if (!StrArg(env, key, PLUGHOST_NATIVE_KEY_MAX, false, &k)) return StateErr(PLUGHOST_STATE_ERROR_INVALID_KEY);
    if (!CallHost(p, method, 1, &k, &r)) return StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE);
    return StatusIn(env, r, kStateLo, 1, StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE));
  });
}

int32_t HostStateDelete(void *h, const char *key) { return KeyOnly(h, "stateDelete", key); }
int32_t HostStateExists(void *h, const char *key) { return KeyOnly(h, "stateExists", key); }

int32_t HostStateIncrement(void *h, const char *key, int64_t delta, int64_t *value) {
  auto *p = static_cast<Plugin *>(h);
  return OnJs(p, StateErr(PLUGHOST_STATE_ERROR_DENIED), [&](napi_env env) {
    napi_value argv[2], r;
    if (!value || !StrArg(env, key, PLUGHOST_NATIVE_KEY_MAX, false, &argv[0])) return StateErr(PLUGHOST_STATE_ERROR_INVALID_KEY);
    napi_create_bigint_int64(env, delta, &argv[1]);
    if (!CallHost(p, "stateIncrement", 2, argv, &r)) return StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE);
    napi_valuetype t;
    napi_typeof(env, r, &t);
    if (t == napi_bigint) {
      int64_t v;
      bool lossless = false;
      if (napi_get_value_bigint_int64(env, r, &v, &lossless) != napi_ok || !lossless) return StateErr(PLUGHOST_STATE_ERROR_NOT_AN_INTEGER);
      *value = v;
      return 0;
    }
    return StatusIn(env, r, kStateLo, -1, StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE));
  });
}

int32_t HostStateCas(void *h, const char *key, const uint8_t *expected, uint32_t expected_len, const uint8_t *value, uint32_t len) {
  auto *p = static_cast<Plugin *>(h);
  return OnJs(p, StateErr(PLUGHOST_STATE_ERROR_DENIED), [&](napi_env env) {
    napi_value argv[3], r;
    if (!StrArg(env, key, PLUGHOST_NATIVE_KEY_MAX, false, &argv[0])) return StateErr(PLUGHOST_STATE_ERROR_INVALID_KEY);
    if ((!value && len) || len > PLUGHOST_NATIVE_VALUE_MAX || expected_len > PLUGHOST_NATIVE_VALUE_MAX)
      return StateErr(PLUGHOST_STATE_ERROR_TOO_LARGE);
    if (expected) argv[1] = BytesArg(env, expected, expected_len);
    else napi_get_null(env, &argv[1]);
    argv[2] = BytesArg(env, value, len);
    if (!CallHost(p, "stateCas", 3, argv, &r)) return StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE);
    return StatusIn(env, r, kStateLo, 1, StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE));
  });
}

int32_t HostStateListKeys(void *h, const char *cursor, uint32_t limit, void *(*alloc)(size_t), uint8_t **out, uint32_t *out_len) {
  auto *p = static_cast<Plugin *>(h);
  return OnJs(p, StateErr(PLUGHOST_STATE_ERROR_DENIED), [&](napi_env env) {
    napi_value argv[2], r;
    if (!alloc || !out || !out_len) return StateErr(PLUGHOST_STATE_ERROR_INVALID_KEY);
    if (!cursor) napi_get_null(env, &argv[0]);
    else if (!StrArg(env, cursor, PLUGHOST_NATIVE_KEY_MAX, false, &argv[0])) return StateErr(PLUGHOST_STATE_ERROR_INVALID_KEY);
    napi_create_uint32(env, limit, &argv[1]);
    if (!CallHost(p, "stateListKeys", 2, argv, &r)) return StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE);
    uint8_t *page = nullptr;
    uint32_t n = 0;
    if (!BytesOut(env, r, alloc, &page, &n)) return StatusIn(env, r, kStateLo, -1, StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE));
    if (n < 8) {
      std::free(page);  // alloc is the SDK's malloc
      return StateErr(PLUGHOST_STATE_ERROR_UNAVAILABLE);
    }
    *out = page;
    *out_len = n;
    return static_cast<int32_t>(ph_le32(page) & 0x7fffffff);
  });
}

constexpr int32_t kContextLo = ContextErr(PLUGHOST_CONTEXT_ERROR_COUNT - 1);

int32_t HostContextGet(void *h, const char *key, void *(*alloc)(size_t), char **json) {
  auto *p = static_cast<Plugin *>(h);
  return OnJs(p, ContextErr(PLUGHOST_CONTEXT_ERROR_DENIED), [&](napi_env env) {
    napi_value k, r;
    if (!alloc || !json || !StrArg(env, key, PLUGHOST_NATIVE_CONTEXT_KEY_MAX, false, &k)) return ContextErr(PLUGHOST_CONTEXT_ERROR_UNKNOWN_KEY);
    if (!CallHost(p, "contextGet", 1, &k, &r)) return ContextErr(PLUGHOST_CONTEXT_ERROR_DENIED);
    size_t n = 0;
    napi_valuetype t;
    napi_typeof(env, r, &t);
    if (t != napi_string) return StatusIn(env, r, kContextLo, 0, ContextErr(PLUGHOST_CONTEXT_ERROR_DENIED));
    napi_get_value_string_utf8(env, r, nullptr, 0, &n);
    auto *b = static_cast<char *>(alloc(n + 1));
    if (!b) return ContextErr(PLUGHOST_CONTEXT_ERROR_INVALID_VALUE);
    napi_get_value_string_utf8(env, r, b, n + 1, &n);
    *json = b;
    return 1;
  });
}

int32_t HostContextSet(void *h, const char *key, const char *json) {
  auto *p = static_cast<Plugin *>(h);
  return OnJs(p, ContextErr(PLUGHOST_CONTEXT_ERROR_DENIED), [&](napi_env env) {
    napi_value argv[2], r;
    if (!StrArg(env, key, PLUGHOST_NATIVE_CONTEXT_KEY_MAX, false, &argv[0])) return ContextErr(PLUGHOST_CONTEXT_ERROR_UNKNOWN_KEY);
    if (!StrArg(env, json, PLUGHOST_NATIVE_CONTEXT_VALUE_MAX, true, &argv[1])) return ContextErr(PLUGHOST_CONTEXT_ERROR_INVALID_VALUE);
    if (!CallHost(p, "contextSet", 2, argv, &r)) return ContextErr(PLUGHOST_CONTEXT_ERROR_DENIED);
    return StatusIn(env, r, kContextLo, 0, ContextErr(PLUGHOST_CONTEXT_ERROR_DENIED));
  });
}

// ── plugin-defined metrics: the host object's metricDefine / metricRecord (shared.ts NativeMetricCalls) on the JS thread ──

constexpr int32_t MetricErr(int32_t code) { return PLUGHOST_METRIC_ERR(code); }
constexpr int32_t kMetricLo = MetricErr(PLUGHOST_METRIC_ERROR_COUNT - 1);

// A label list as a JS array of strings: false when an entry is NULL, longer than `max` or not UTF-8.
bool LabelsArg(napi_env env, const char *const *labels, uint32_t n, size_t max, napi_value *out) {
  if (n && !labels) return false;
  if (napi_create_array_with_length(env, n, out) != napi_ok) return false;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    if (!StrArg(env, labels[i], max, true, &v) || napi_set_element(env, *out, i, v) != napi_ok) return false;
  }
  return true;
}

int32_t HostMetricDefine(void *h, int32_t kind, const char *name, const char *help, const char *const *labels, uint32_t n) {
  auto *p = static_cast<Plugin *>(h);
  return OnJs(p, MetricErr(PLUGHOST_METRIC_ERROR_DENIED), [&](napi_env env) {
    napi_value argv[4], r;
    if (kind < 0 || kind >= PLUGHOST_METRIC_KIND_COUNT) return MetricErr(PLUGHOST_METRIC_ERROR_INVALID_NAME);
    if (!StrArg(env, name, PLUGHOST_NATIVE_METRIC_NAME_MAX, true, &argv[1])) return MetricErr(PLUGHOST_METRIC_ERROR_INVALID_NAME);
    if (n > PLUGHOST_NATIVE_METRIC_LABELS_MAX) return MetricErr(PLUGHOST_METRIC_ERROR_LIMIT_REACHED);
    if (!LabelsArg(env, labels, n, PLUGHOST_NATIVE_METRIC_LABEL_NAME_MAX, &argv[3])) return MetricErr(PLUGHOST_METRIC_ERROR_INVALID_NAME);
    // Help past its bound is cut (the SDK cuts it at a character; a plugin calling the table itself may not).
    if (!StrArg(env, help ? help : "", PLUGHOST_NATIVE_METRIC_HELP_MAX, true, &argv[2])) {
      size_t hn = help ? strnlen(help, PLUGHOST_NATIVE_METRIC_HELP_MAX) : 0;
      while (hn > 0 && (static_cast<unsigned char>(help[hn]) & 0xc0) == 0x80) hn--;
      if (!ph_utf8_valid(reinterpret_cast<const uint8_t *>(help), hn) || napi_create_string_utf8(env, help, hn, &argv[2]) != napi_ok)
        return MetricErr(PLUGHOST_METRIC_ERROR_INVALID_NAME);
    }
    napi_create_int32(env, kind, &argv[0]);
    if (!CallHost(p, "metricDefine", 4, argv, &r)) return MetricErr(PLUGHOST_METRIC_ERROR_DENIED);
    return StatusIn(env, r, kMetricLo, INT32_MAX, MetricErr(PLUGHOST_METRIC_ERROR_DENIED));
  });
}

int32_t HostMetricRecord(void *h, int32_t id, double value, const char *const *labels, uint32_t n) {
  auto *p = static_cast<Plugin *>(h);
  return OnJs(p, MetricErr(PLUGHOST_METRIC_ERROR_DENIED), [&](napi_env env) {
    napi_value argv[3], r;
    if (n > PLUGHOST_NATIVE_METRIC_LABELS_MAX || !LabelsArg(env, labels, n, PLUGHOST_NATIVE_METRIC_LABEL_VALUE_MAX, &argv[2]))
      return MetricErr(PLUGHOST_METRIC_ERROR_INVALID_LABELS);
    napi_create_uint32(env, static_cast<uint32_t>(id), &argv[0]);  // a u32 on the Wasm engines: a negative id is unknown
    napi_create_double(env, value, &argv[1]);
    if (!CallHost(p, "metricRecord", 3, argv, &r)) return MetricErr(PLUGHOST_METRIC_ERROR_DENIED);
    return StatusIn(env, r, kMetricLo, 0, MetricErr(PLUGHOST_METRIC_ERROR_DENIED));
  });
}

Napi::Value Fail(Napi::Env env, const char *code, const std::string &message, const char *symbol = nullptr) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  if (symbol) e.Set("symbol", Napi::String::New(env, symbol));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Plugin *Unwrap(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsExternal()) return nullptr;
  return info[0].As<Napi::External<Plugin>>().Data();
}

Napi::Value Open(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return Fail(env, "E_ARG", "open(path): path must be a string");
  std::string path = info[0].As<Napi::String>();
  dlerror();
  void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    return Fail(env, "E_DLOPEN", e ? e : "dlopen failed");
  }
  if (g_open.count(h)) {
    dlclose(h);
    return Fail(env, "E_ALREADY_LOADED", path + " is already loaded in this process; load a copy or run it untrusted");
  }
  auto init = reinterpret_cast<InitFn>(dlsym(h, "plugin_init"));
  auto teardown = reinterpret_cast<InitFn>(dlsym(h, "plugin_teardown"));
  if (!init || !teardown) {
    const char *sym = init ? "plugin_teardown" : "plugin_init";
    dlclose(h);
    return Fail(env, "E_MISSING_SYMBOL", std::string("missing required export ") + sym, sym);
  }
  g_open.insert(h);
  auto *p = new Plugin();
  p->handle = h;
  p->init = init;
  p->teardown = teardown;
  p->suspend = reinterpret_cast<InitFn>(dlsym(h, "plugin_suspend"));
  p->resume = reinterpret_cast<InitFn>(dlsym(h, "plugin_resume"));
  p->config_changed = reinterpret_cast<ConfigChangedFn>(dlsym(h, "plugin_config_changed"));
  p->snapshot = reinterpret_cast<SnapshotFn>(dlsym(h, "plugin_snapshot"));
  p->restore = reinterpret_cast<RestoreFn>(dlsym(h, "plugin_restore"));
  p->ctx.host_data = p;
  p->ctx.register_callback = CtxRegister;
  p->ctx.log = CtxLog;
  p->table = PlughostNativeHost{PLUGHOST_NATIVE_ABI, sizeof(PlughostNativeHost), p, HostRegisterHook, HostHookOutput,
                                HostEmit, HostSend, HostConfig, HostRequest, HostCurrentMessage,
                                HostStateGet, HostStateSet, HostStateDelete, HostStateExists, HostStateIncrement,
                                HostStateCas, HostStateListKeys, HostContextGet, HostContextSet, HostMetricDefine,
                                HostMetricRecord};
  Napi::Object out = Napi::Object::New(env);
  out.Set("handle", Napi::External<Plugin>::New(env, p));
  out.Set("hasSuspend", Napi::Boolean::New(env, p->suspend != nullptr));
  out.Set("hasResume", Napi::Boolean::New(env, p->resume != nullptr));
  out.Set("hasConfigChanged", Napi::Boolean::New(env, p->config_changed != nullptr));
  out.Set("hasSnapshot", Napi::Boolean::New(env, p->snapshot != nullptr));
  out.Set("hasRestore", Napi::Boolean::New(env, p->restore != nullptr));
  if (auto f = reinterpret_cast<StrFn>(dlsym(h, "plugin_name"))) {
    if (const char *s = f()) out.Set("name", Napi::String::New(env, s, strnlen(s, kMaxName)));
  }
  if (auto f = reinterpret_cast<StrFn>(dlsym(h, "plugin_version"))) {
    if (const char *s = f()) out.Set("version", Napi::String::New(env, s, strnlen(s, kMaxName)));
  }
  if (auto f = reinterpret_cast<U32Fn>(dlsym(h, "plugin_api_version"))) out.Set("apiVersion", Napi::Number::New(env, f()));
  return out;
}

// A scratch Uint8Array of the host object's, kept alive (and its address with it) until close.
void KeepScratch(napi_env env, Napi::Value v, napi_ref *ref, uint8_t **data, size_t *len) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) return;
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  *data = a.Data();
  *len = a.ElementLength();
  napi_create_reference(env, v, 1, ref);
}

Napi::Value Init(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Plugin *p = Unwrap(info);
  if (!p || info.Length() < 4 || !info[1].IsObject() || !info[2].IsNumber() || !info[3].IsString())
    return Fail(env, "E_ARG", "init(handle, host, apiVersion, config)");
  if (p->closed || p->initialized) return Fail(env, "E_STATE", "init called twice or after close");
  Napi::Object host = info[1].As<Napi::Object>();
  Napi::Value log = host.Get("log");
  if (!log.IsFunction()) return Fail(env, "E_ARG", "host.log must be a function");
  p->env = env;
  p->js_thread = pthread_self();
  napi_create_reference(env, host, 1, &p->host);
  Napi::Value request = host.Get("request");
  if (request.IsFunction()) napi_create_reference(env, request, 1, &p->request_fn);
  KeepScratch(env, host.Get("scratch"), &p->scratch_ref, &p->scratch, &p->scratch_len);
  KeepScratch(env, host.Get("hookScratch"), &p->hook_scratch_ref, &p->hook_scratch, &p->hook_scratch_len);
  p->config = info[3].As<Napi::String>();
  napi_value name;
  napi_create_string_utf8(env, "plughost-native-log", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, log, nullptr, name, 4096, 1, nullptr, nullptr, nullptr, LogCallJs, &p->log_tsfn) !=
      napi_ok)
    return Fail(env, "E_CONTEXT", "cannot create the log channel");
  napi_unref_threadsafe_function(env, p->log_tsfn);  // never keeps the host alive
  p->log_open = true;
  if (auto bind = reinterpret_cast<BindFn>(dlsym(p->handle, "plughost_native_bind"))) bind(&p->table);
  p->ctx.api_version = info[2].As<Napi::Number>().Uint32Value();
  p->depth++;
  int32_t rc = p->init(&p->ctx);
  EndCall(p);
  p->initialized = true;
  return Napi::Number::New(env, rc);
}

Napi::Value Teardown(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Plugin *p = Unwrap(info);
  if (!p || p->closed || !p->initialized || p->torn_down) return Fail(env, "E_STATE", "teardown: plugin is not initialised");
  p->depth++;
  int32_t rc = p->teardown(&p->ctx);
  EndCall(p);
  p->torn_down = true;
  return Napi::Number::New(env, rc);
}

// lifecycle(handle, resume): the optional plugin_suspend (false) or plugin_resume (true).
Napi::Value Lifecycle(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Plugin *p = Unwrap(info);
  if (!p || info.Length() < 2 || !info[1].IsBoolean()) return Fail(env, "E_ARG", "lifecycle(handle, resume)");
  if (p->closed || !p->initialized || p->torn_down) return Fail(env, "E_STATE", "lifecycle: plugin is not initialised");
  InitFn fn = info[1].As<Napi::Boolean>().Value() ? p->resume : p->suspend;
  if (!fn) return Fail(env, "E_MISSING_SYMBOL", "the plugin does not export plugin_suspend / plugin_resume");
  p->depth++;
  int32_t rc = fn(&p->ctx);
  EndCall(p);
  return Napi::Number::New(env, rc);
}

bool Active(Plugin *p) { return p && !p->closed && p->initialized && !p->torn_down; }

// configChanged(handle, json): the optional plugin_config_changed; plughost_config() answers the new config from now on.
Napi::Value ConfigChanged(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Plugin *p = Unwrap(info);
  if (!p || info.Length() < 2 || !info[1].IsString()) return Fail(env, "E_ARG", "configChanged(handle, json)");
  if (!Active(p)) return Fail(env, "E_STATE", "configChanged: plugin is not initialised");
  if (!p->config_changed) return Fail(env, "E_MISSING_SYMBOL", "the plugin does not export plugin_config_changed");
  p->config = info[1].As<Napi::String>();
  p->depth++;
  int32_t rc = p->config_changed(&p->ctx, p->config.c_str());
  EndCall(p);
  return Napi::Number::New(env, rc);
}

// snapshot(handle) -> Buffer | null: the optional plugin_snapshot; its buffer is the plugin's malloc's, freed here.
Napi::Value Snapshot(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Plugin *p = Unwrap(info);
  if (!p) return Fail(env, "E_ARG", "snapshot(handle)");
  if (!Active(p)) return Fail(env, "E_STATE", "snapshot: plugin is not initialised");
  if (!p->snapshot) return Fail(env, "E_MISSING_SYMBOL", "the plugin does not export plugin_snapshot");
  uint8_t *out = nullptr;
  p->depth++;
  uint32_t n = p->snapshot(&p->ctx, &out);
  EndCall(p);
  Napi::Value r = env.Null();
  if (out && n) r = Napi::Buffer<uint8_t>::Copy(env, out, n);
  std::free(out);
  return r;
}

// restore(handle, data) -> int32: the optional plugin_restore.
Napi::Value Restore(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Plugin *p = Unwrap(info);
  if (!p || info.Length() < 2 || !info[1].IsTypedArray()) return Fail(env, "E_ARG", "restore(handle, data)");
  if (!Active(p)) return Fail(env, "E_STATE", "restore: plugin is not initialised");
  if (!p->restore) return Fail(env, "E_MISSING_SYMBOL", "the plugin does not export plugin_restore");
  Napi::Uint8Array a = info[1].As<Napi::Uint8Array>();
  std::vector<uint8_t> copy(a.Data(), a.Data() + a.ElementLength());  // the plugin's view stays valid whatever JS does
  p->depth++;
  int32_t rc = p->restore(&p->ctx, copy.empty() ? reinterpret_cast<const uint8_t *>("") : copy.data(), static_cast<uint32_t>(copy.size()));
  EndCall(p);
  return Napi::Number::New(env, rc);
}

// dl_iterate_phdr probe: is an object with this base address and name still loaded?
struct MappedProbe {
  ElfW(Addr) base;
  const char *name;
  bool found;
};

int FindMapped(struct dl_phdr_info *info, size_t, void *data) {
  auto *p = static_cast<MappedProbe *>(data);
  if (info->dlpi_addr == p->base && info->dlpi_name && std::strcmp(info->dlpi_name, p->name) == 0) {
    p->found = true;
    return 1;
  }
  return 0;
}

Napi::Value Close(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Plugin *p = Unwrap(info);
  if (!p) return Fail(env, "E_ARG", "close(handle)");
  if (p->closed) return env.Undefined();
  p->closed = true;
  {
    std::lock_guard<std::mutex> g(p->log_mu);
    if (p->log_open) napi_release_threadsafe_function(p->log_tsfn, napi_tsfn_release);
    p->log_open = false;
  }
  if (p->host) napi_delete_reference(env, p->host);
  p->host = nullptr;
  for (napi_ref *ref : {&p->request_fn, &p->scratch_ref, &p->hook_scratch_ref}) {
    if (*ref) napi_delete_reference(env, *ref);
    *ref = nullptr;
  }
  p->scratch = p->hook_scratch = nullptr;
  p->scratch_len = p->hook_scratch_len = 0;
  p->entries.clear();
  // The Plugin itself is kept: a plugin thread may still hold &p->ctx and
  // call log, which then finds log_open == false and drops the message.
  struct link_map *lm = nullptr;
  std::string name;
  ElfW(Addr) base = 0;
  if (dlinfo(p->handle, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name) {
    name = lm->l_name;
    base = lm->l_addr;
  }
  dlerror();
  if (dlclose(p->handle) != 0) {
    const char *e = dlerror();
    return Fail(env, "E_DLCLOSE", e ? e : "dlclose failed");
  }
  // dlclose succeeds without unmapping a library marked NODELETE (-z nodelete,
  // RTLD_NODELETE) or holding STB_GNU_UNIQUE symbols (C++ inline statics):
  // its code, globals and threads stay in the host. Say so, and keep refusing
  // a second in-process load of that file, which would share those globals.
  if (!name.empty()) {
    MappedProbe probe{base, name.c_str(), false};
    dl_iterate_phdr(FindMapped, &probe);
    if (probe.found) {
      return Fail(env, "E_STILL_MAPPED",
                  name + " is still mapped after dlclose (built with -z nodelete, or it has unique symbols): its code and "
                         "globals stay in the host process until it exits, and this file cannot be loaded in process again; "
                         "run it untrusted, or rebuild it without nodelete / unique symbols");
    }
  }
  g_open.erase(p->handle);
  return env.Undefined();
}

// ── hot path: raw node-api ─────────────────────────────────────────────────

// One JS function per (plugin, callback id): the id travels as the
// function's data, so a call reads one argument.
struct BoundCb {
  Plugin *p;
  uint32_t id;
};

bool ReadArgs(napi_env env, napi_callback_info info, Plugin **p, Entry **e, const uint8_t **data, size_t *len) {
  size_t argc = 1;
  napi_value arg;
  void *self;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, &self);
  auto *b = static_cast<BoundCb *>(self);
  *p = b->p;
  napi_typedarray_type t;
  void *ptr;
  if (argc < 1 || napi_get_typedarray_info(env, arg, &t, len, &ptr, nullptr, nullptr) != napi_ok || t != napi_uint8_array) {
    napi_throw_type_error(env, "E_ARG", "expected (data: Uint8Array)");
    return false;
  }
  if ((*p)->closed || !(*p)->initialized || (*p)->torn_down || b->id >= (*p)->entries.size()) {
    napi_throw_error(env, "E_STATE", "no such callback, or the plugin is not active");
    return false;
  }
  *e = &(*p)->entries[b->id];
  *data = ptr ? static_cast<const uint8_t *>(ptr) : reinterpret_cast<const uint8_t *>("");
  return true;
}

napi_value CallCb(napi_env env, napi_callback_info info) {
  Plugin *p;
  Entry *e;
  const uint8_t *data;
  size_t len;
  if (!ReadArgs(env, info, &p, &e, &data, &len)) return nullptr;
  if (!e->cb) {
    napi_throw_error(env, "E_STATE", "no callback registered under this id");
    return nullptr;
  }
  p->depth++;
  int32_t rc = e->cb(&p->ctx, reinterpret_cast<const char *>(data), static_cast<uint32_t>(len));
  EndCall(p);
  napi_value out;
  napi_create_int32(env, rc, &out);
  return out;
}

// Run entry `e`'s hook (or its callback) on `data`; its status, with any output left in p->hook_out.
int32_t RunHook(Plugin *p, Entry *e, const uint8_t *data, size_t len) {
  p->hook_out_set = false;
  p->depth++;
  int32_t rc;
  if (e->hook) rc = e->hook(&p->ctx, e->name.c_str(), data, static_cast<uint32_t>(len));
  else rc = e->cb ? e->cb(&p->ctx, reinterpret_cast<const char *>(data), static_cast<uint32_t>(len)) : -1;
  EndCall(p);
  return rc;
}

napi_value CallHook(napi_env env, napi_callback_info info) {
  Plugin *p;
  Entry *e;
  const uint8_t *data;
  size_t len;
  if (!ReadArgs(env, info, &p, &e, &data, &len)) return nullptr;
  int32_t rc = RunHook(p, e, data, len);
  napi_value out;
  if (rc != 0) napi_create_int32(env, rc, &out);
  else if (!p->hook_out_set) napi_get_null(env, &out);  // pass the input through
  else {
    void *copy;
    const void *src = p->hook_out.empty() ? static_cast<const void *>("") : static_cast<const void *>(p->hook_out.data());
    napi_create_buffer_copy(env, p->hook_out.size(), src, &copy, &out);
  }
  p->hook_out.clear();
  p->hook_out_set = false;
  return out;
}

// hookIn(len): the hook's input is host.hookScratch[0, len), and its output goes back there when it fits,
// answered as 2^32 + its length (never an int32 status). Small byte arrays made in JS live on V8's heap, and
// handing one to napi_get_typedarray_info (or answering with a node Buffer) allocates a backing store per call:
// most of the cost of a small hook or request answered by a trusted plugin.
napi_value CallHookIn(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  void *self;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, &self);
  auto *b = static_cast<BoundCb *>(self);
  Plugin *p = b->p;
  uint32_t len;
  if (argc < 1 || napi_get_value_uint32(env, arg, &len) != napi_ok || len > p->hook_scratch_len) {
    napi_throw_type_error(env, "E_ARG", "expected (len: number) within the hook scratch");
    return nullptr;
  }
  if (p->closed || !p->initialized || p->torn_down || b->id >= p->entries.size()) {
    napi_throw_error(env, "E_STATE", "no such callback, or the plugin is not active");
    return nullptr;
  }
  const uint8_t *data = p->hook_scratch ? p->hook_scratch : reinterpret_cast<const uint8_t *>("");
  int32_t rc = RunHook(p, &p->entries[b->id], data, len);
  napi_value out;
  if (rc != 0) napi_create_int32(env, rc, &out);
  else if (!p->hook_out_set) napi_get_null(env, &out);
  else if (p->hook_out.size() <= p->hook_scratch_len) {
    if (!p->hook_out.empty()) std::memcpy(p->hook_scratch, p->hook_out.data(), p->hook_out.size());
    napi_create_double(env, 4294967296.0 + static_cast<double>(p->hook_out.size()), &out);
  } else {
    void *copy;
    napi_create_buffer_copy(env, p->hook_out.size(), p->hook_out.data(), &copy, &out);
  }
  p->hook_out.clear();
  p->hook_out_set = false;
  return out;
}

void FreeBound(napi_env, void *data, void *) { delete static_cast<BoundCb *>(data); }

// bind(handle, id) -> { call(data) -> int32, hook(data) -> int32 | Buffer | null, hookIn(len) -> int32 | number | Buffer | null }
Napi::Value Bind(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Plugin *p = Unwrap(info);
  if (!p || info.Length() < 2 || !info[1].IsNumber()) return Fail(env, "E_ARG", "bind(handle, id)");
  uint32_t id = info[1].As<Napi::Number>().Uint32Value();
  Napi::Object out = Napi::Object::New(env);
  const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {{"call", CallCb}, {"hook", CallHook}, {"hookIn", CallHookIn}};
  for (const auto &f : fns) {
    auto *b = new BoundCb{p, id};
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, b, &v);
    napi_add_finalizer(env, v, b, FreeBound, nullptr, nullptr);
    out.Set(f.name, Napi::Value(env, v));
  }
  return out;
}

napi_value Noop(napi_env, napi_callback_info) { return nullptr; }

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  exports.Set("teardown", Napi::Function::New(env, Teardown, "teardown"));
  exports.Set("lifecycle", Napi::Function::New(env, Lifecycle, "lifecycle"));
  exports.Set("configChanged", Napi::Function::New(env, ConfigChanged, "configChanged"));
  exports.Set("snapshot", Napi::Function::New(env, Snapshot, "snapshot"));
  exports.Set("restore", Napi::Function::New(env, Restore, "restore"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("bind", Napi::Function::New(env, Bind, "bind"));
  napi_value noop;
  napi_create_function(env, "noop", NAPI_AUTO_LENGTH, Noop, nullptr, &noop);
  exports.Set("noop", Napi::Value(env, noop));
  RegisterShm(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(plughost_native, InitModule)
