// A synchronous Redis client for the state backend (src/state/redis-sync.ts): hiredis's blocking API on the
// caller's thread, so a state call costs one loopback round trip and no thread hop.
//
//   open(host, port, timeoutMs) -> handle        connect; every later read and write is bounded by timeoutMs
//   command(handle, args) -> reply               args: (string | Uint8Array)[], binary-safe
//   close(handle)
//
// Replies: nil -> null, integer -> number (bigint beyond 2^53), bulk -> Buffer, status -> string, array -> array,
// -ERR -> an Error object (returned, not thrown). A transport failure throws an Error whose `code` is ETIMEDOUT
// (a read or write passed the timeout), ECONNRESET (the connection dropped) or EIO; the connection is then closed
// and every later command throws ECLOSED until the caller opens a new one. Before sending, command() checks the idle
// socket: a server that closed it (a restart) throws ESTALE with nothing sent, so the caller can reconnect at once.
#include <napi.h>
#include <hiredis/hiredis.h>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace {

struct Conn {
  redisContext* ctx = nullptr;
  void drop() {
    if (ctx) redisFree(ctx);
    ctx = nullptr;
  }
  ~Conn() { drop(); }
};

Napi::Value ThrowCode(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Conn* Unwrap(Napi::Env env, const Napi::Value& v) {
  if (!v.IsExternal()) {
    Napi::TypeError::New(env, "expected a connection handle").ThrowAsJavaScriptException();
    return nullptr;
  }
  return v.As<Napi::External<Conn>>().Data();
}

timeval Tv(double ms) {
  if (!(ms > 0)) ms = 1;
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms - tv.tv_sec * 1000.0) * 1000);
  return tv;
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "open(host, port, timeoutMs)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int port = info[1].As<Napi::Number>().Int32Value();
  timeval tv = Tv(info[2].As<Napi::Number>().DoubleValue());
  redisContext* ctx = redisConnectWithTimeout(host.c_str(), port, tv);
  if (!ctx) return ThrowCode(env, "ENOMEM", "cannot allocate a Redis connection");
  if (ctx->err) {
    std::string why = ctx->errstr;
    bool timedOut = errno == EINPROGRESS || errno == ETIMEDOUT || why.find("timed out") != std::string::npos;
    redisFree(ctx);
    return ThrowCode(env, timedOut ? "ETIMEDOUT" : "ECONNREFUSED", why);
  }
  if (redisSetTimeout(ctx, tv) != REDIS_OK) {
    std::string why = ctx->errstr;
    redisFree(ctx);
    return ThrowCode(env, "EIO", why);
  }
  Conn* c = new Conn();
  c->ctx = ctx;
  return Napi::External<Conn>::New(env, c, [](Napi::Env, Conn* conn) { delete conn; });
}

Napi::Value Convert(Napi::Env env, const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_NIL:
      return env.Null();
    case REDIS_REPLY_INTEGER: {
      long long n = r->integer;
      if (n >= -9007199254740991LL && n <= 9007199254740991LL) return Napi::Number::New(env, static_cast<double>(n));
      return Napi::BigInt::New(env, static_cast<int64_t>(n));
    }
    case REDIS_REPLY_STRING:
      return Napi::Buffer<char>::Copy(env, r->str, r->len);
    case REDIS_REPLY_STATUS:
      return Napi::String::New(env, r->str, r->len);
    case REDIS_REPLY_ERROR:
      return Napi::Error::New(env, std::string(r->str, r->len)).Value();
    case REDIS_REPLY_ARRAY: {
      Napi::Array a = Napi::Array::New(env, r->elements);
      for (size_t i = 0; i < r->elements; i++) a.Set(static_cast<uint32_t>(i), Convert(env, r->element[i]));
      return a;
    }
    default:
      return env.Null();
  }
}

// True when the idle socket has something to read or was closed: the server hung up (or sent what nobody asked for).
bool Stale(redisContext* ctx) {
  pollfd p{ctx->fd, POLLIN | POLLRDHUP, 0};
  int n = poll(&p, 1, 0);
  return n > 0 && (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

Napi::Value Command(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Conn* c = Unwrap(env, info[0]);
  if (!c) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsArray()) {
    Napi::TypeError::New(env, "command(handle, args)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!c->ctx) return ThrowCode(env, "ECLOSED", "the connection is closed");
  if (Stale(c->ctx)) {
    c->drop();
    return ThrowCode(env, "ESTALE", "the server closed the connection");
  }
  Napi::Array args = info[1].As<Napi::Array>();
  uint32_t argc = args.Length();
  std::vector<const char*> argv(argc);
  std::vector<size_t> lens(argc);
  std::vector<std::string> owned(argc);  // strings' UTF-8 bytes; typed arrays are read in place
  for (uint32_t i = 0; i < argc; i++) {
    Napi::Value a = args.Get(i);
    if (a.IsString()) {
      owned[i] = a.As<Napi::String>().Utf8Value();
      argv[i] = owned[i].data();
      lens[i] = owned[i].size();
    } else if (a.IsTypedArray()) {
      Napi::TypedArray t = a.As<Napi::TypedArray>();
      argv[i] = static_cast<const char*>(t.ArrayBuffer().Data()) + t.ByteOffset();
      lens[i] = t.ByteLength();
    } else {
      Napi::TypeError::New(env, "command arguments are strings or Uint8Arrays").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  errno = 0;
  redisReply* r = static_cast<redisReply*>(redisCommandArgv(c->ctx, static_cast<int>(argc), argv.data(), lens.data()));
  if (!r) {
    int err = c->ctx->err;
    int sys = errno;
    std::string why = c->ctx->errstr;
    c->drop();
    const char* code = "EIO";
    if (err == REDIS_ERR_IO && (sys == EAGAIN || sys == EWOULDBLOCK || sys == ETIMEDOUT)) {
      code = "ETIMEDOUT";
      why = "timed out";
    } else if (err == REDIS_ERR_EOF || (err == REDIS_ERR_IO && (sys == ECONNRESET || sys == EPIPE))) {
      code = "ECONNRESET";
    }
    return ThrowCode(env, code, why);
  }
  Napi::Value out = Convert(env, r);
  freeReplyObject(r);
  return out;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Conn* c = Unwrap(env, info[0]);
  if (c) c->drop();
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("command", Napi::Function::New(env, Command));
  exports.Set("close", Napi::Function::New(env, Close));
  return exports;
}

}  // namespace

NODE_API_MODULE(plughost_redis_sync, Init)
