/* conformance: exactly guest-sdks/CONFORMANCE.md, in C.
 *
 * Written against plughost.h only (the legacy PluginContext API plus the
 * plughost_* extensions), so the same source builds as a Wasm component
 * (node guest-sdks/c/build.mjs) and as a native .so (cc -shared -fPIC ...
 * guest-sdks/c/src/plughost_native.c).
 *
 * A CallbackFn does not receive its event name, so every event has its own
 * function. Every name is also registered as a hook: one HookFn answers all
 * of them (echo, upper, fail, and -100 for the rest).
 */
#include <plughost.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNHANDLED (-100)

/* A NUL-terminated copy of event data (data is not a C string in general). */
static char *cstr(const char *data, uint32_t len) {
  char *s = malloc((size_t)len + 1);
  if (!s) return NULL;
  if (len) memcpy(s, data, len);
  s[len] = 0;
  return s;
}

static int32_t on_echo(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  (void)data;
  return (int32_t)len;
}

static int32_t on_sum(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  uint64_t sum = 0;
  for (uint32_t i = 0; i < len; i++) sum += (uint8_t)data[i];
  return (int32_t)(sum % (1u << 31));
}

static int32_t on_fail(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  (void)data;
  (void)len;
  return -7;
}

static int32_t on_log(PluginContext *ctx, const char *data, uint32_t len) {
  char *msg = cstr(data, len);
  if (!msg) return PLUGHOST_ERR_NO_MEMORY;
  ctx->log(ctx, LOG_DEBUG, msg);
  ctx->log(ctx, LOG_INFO, msg);
  ctx->log(ctx, LOG_WARN, msg);
  ctx->log(ctx, LOG_ERROR, msg);
  free(msg);
  return 0;
}

/* Callbacks registered at run time by `register`: the "other" row. */
static int32_t on_other(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  (void)data;
  (void)len;
  return UNHANDLED;
}

static int32_t on_register(PluginContext *ctx, const char *data, uint32_t len) {
  char *name = cstr(data, len);
  if (!name) return PLUGHOST_ERR_NO_MEMORY;
  int32_t rc = ctx->register_callback(ctx, name, on_other);
  free(name);
  return rc; /* PLUGHOST_OK / _ERR_INVALID_NAME / _ERR_LIMIT_REACHED / _ERR_DENIED are 0 / 1 / 2 / 3 */
}

static int32_t on_trap(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  (void)data;
  (void)len;
  __builtin_trap(); /* `unreachable` in Wasm, SIGILL natively */
}

static int32_t on_spin(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  (void)data;
  (void)len;
  volatile uint64_t n = 0; /* volatile: the compiler cannot remove the loop */
  for (;;) n = n + 1;
  return 0; /* not reached */
}

/* What `grow` allocated, kept live so the linear memory stays grown. */
static void **grown;
static size_t n_grown, cap_grown;

static int32_t on_grow(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  if (len < 4) return 1;
  const uint8_t *b = (const uint8_t *)data;
  uint32_t mib = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
  if ((uint64_t)mib << 20 > (uint64_t)SIZE_MAX / 2) return 1;
  if (n_grown == cap_grown) {
    size_t cap = cap_grown ? cap_grown * 2 : 8;
    void **more = realloc(grown, cap * sizeof *grown);
    if (!more) return 1;
    grown = more;
    cap_grown = cap;
  }
  size_t bytes = (size_t)mib << 20;
  char *block = malloc(bytes ? bytes : 1);
  if (!block) return 1; /* malloc fails when memory.grow is refused */
  if (bytes) block[0] = block[bytes - 1] = 1;
  grown[n_grown++] = block;
  return 0;
}

static int32_t on_read_file(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  char *path = cstr(data, len);
  if (!path) return 1;
  FILE *f = fopen(path, "rb");
  free(path);
  if (!f) return 1;
  char buf[4096];
  while (fread(buf, 1, sizeof buf, f) == sizeof buf) {
  }
  int failed = ferror(f);
  fclose(f);
  return failed ? 1 : 0;
}

static int32_t on_emit(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  char *name = cstr(data, len);
  if (!name) return -1;
  int32_t rc = plughost_emit(name, (const uint8_t *)data, len);
  free(name);
  return rc; /* the count, or -1 - message-error code */
}

static int32_t counter;

static int32_t on_counter(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  (void)data;
  (void)len;
  return ++counter;
}

/* `metric`: count the event's bytes in a counter labelled with the event's data. */
static int32_t on_metric(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  const char *label_names[] = {"event"};
  int32_t id = plughost_metric_define(PLUGHOST_COUNTER, "conformance_bytes_total", "bytes seen by the metric event", label_names, 1);
  if (id < 0) return id; /* -1 - metric-error code */
  char *value = cstr(data, len);
  if (!value) return -1;
  const char *label_values[] = {value};
  int32_t rc = plughost_metric_record(id, (double)len, label_values, 1);
  free(value);
  return rc;
}

/* `request`: data is "<target>\n<event>\n<payload>". Returns 0 with the answer in *answer (free()d by the caller),
 * -1 - the request-error code, or UNHANDLED when data has fewer than two newlines. */
static int32_t ask(const uint8_t *data, uint32_t len, uint8_t **answer, uint32_t *answer_len) {
  const uint8_t *nl1 = memchr(data, '\n', len);
  const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', len - (uint32_t)(nl1 + 1 - data)) : NULL;
  if (!nl2) return UNHANDLED;
  char *target = cstr((const char *)data, (uint32_t)(nl1 - data));
  char *event = cstr((const char *)nl1 + 1, (uint32_t)(nl2 - nl1 - 1));
  int32_t rc = -1;
  if (target && event) {
    const uint8_t *payload = nl2 + 1;
    rc = plughost_request(target, event, payload, len - (uint32_t)(payload - data), 0, answer, answer_len);
    if (rc > 0) rc = -rc; /* PLUGHOST_REQUEST_ERR(code) is 1 + code: -1 - code */
  }
  free(target);
  free(event);
  return rc;
}

static int32_t on_request(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  uint8_t *answer = NULL;
  uint32_t answer_len = 0;
  int32_t rc = ask((const uint8_t *)data, len, &answer, &answer_len);
  free(answer);
  return rc == 0 ? (int32_t)answer_len : rc;
}

/* A growable string for the envelope text. */
typedef struct {
  char *s;
  size_t len, cap;
} Buf;

static void put(Buf *b, const char *a, const char *c) {
  size_t need = b->len + strlen(a) + strlen(c) + 2;
  if (need > b->cap) {
    size_t cap = need * 2;
    char *more = realloc(b->s, cap);
    if (!more) abort();
    b->s = more;
    b->cap = cap;
  }
  b->len += (size_t)sprintf(b->s + b->len, "%s%s%s", b->len ? "\n" : "", a, c);
}

/* The current message as CONFORMANCE.md's envelope text (malloc'd), or NULL when there is none. */
static char *envelope(void) {
  PlughostMessageInfo m;
  if (!plughost_current_message(&m)) return NULL;
  static const char *const KINDS[] = {"event", "hook", "request"};
  Buf b = {0};
  char num[24];
  snprintf(num, sizeof num, "%llu", (unsigned long long)m.id);
  put(&b, "id ", num);
  if (m.has_parent) {
    snprintf(num, sizeof num, "%llu", (unsigned long long)m.parent_id);
    put(&b, "parent ", num);
  }
  if (m.source) put(&b, "source ", m.source);
  if (m.target) put(&b, "target ", m.target);
  put(&b, "event ", m.event_name);
  put(&b, "kind ", m.kind < 3 ? KINDS[m.kind] : "?");
  for (uint32_t i = 0; i < m.metadata_len; i++) {
    char *kv = malloc(strlen(m.metadata_keys[i]) + strlen(m.metadata_values[i]) + 2);
    if (!kv) abort();
    sprintf(kv, "%s=%s", m.metadata_keys[i], m.metadata_values[i]);
    put(&b, "meta ", kv);
    free(kv);
  }
  return b.s;
}

static int32_t on_message(PluginContext *ctx, const char *data, uint32_t len) {
  (void)data;
  (void)len;
  char *text = envelope();
  if (!text) return 1;
  ctx->log(ctx, LOG_INFO, text);
  free(text);
  return 0;
}

static int32_t on_upper_event(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  (void)data;
  (void)len;
  return UNHANDLED; /* `upper` is a hook case only */
}

static int32_t hook(PluginContext *ctx, const char *event, const uint8_t *data, uint32_t len) {
  (void)ctx;
  if (strcmp(event, "echo") == 0) return plughost_hook_output(data, len);
  if (strcmp(event, "fail") == 0) return -7;
  if (strcmp(event, "request") == 0) {
    uint8_t *answer = NULL;
    uint32_t answer_len = 0;
    int32_t rc = ask(data, len, &answer, &answer_len);
    if (rc == 0) rc = plughost_hook_output(answer, answer_len);
    free(answer);
    return rc;
  }
  if (strcmp(event, "message") == 0) {
    char *text = envelope();
    if (!text) return 1;
    int32_t rc = plughost_hook_output((const uint8_t *)text, (uint32_t)strlen(text));
    free(text);
    return rc;
  }
  if (strcmp(event, "upper") != 0) return UNHANDLED;
  uint8_t *out = malloc(len ? len : 1);
  if (!out) return PLUGHOST_ERR_NO_MEMORY;
  for (uint32_t i = 0; i < len; i++) out[i] = (data[i] >= 'a' && data[i] <= 'z') ? (uint8_t)(data[i] - 32) : data[i];
  int32_t rc = plughost_hook_output(out, len);
  free(out);
  return rc;
}

static const struct {
  const char *name;
  CallbackFn fn;
} CALLBACKS[] = {
    {"echo", on_echo},   {"sum", on_sum},   {"fail", on_fail},           {"log", on_log},
    {"register", on_register}, {"trap", on_trap}, {"spin", on_spin}, {"grow", on_grow},
    {"read-file", on_read_file}, {"emit", on_emit}, {"counter", on_counter}, {"upper", on_upper_event},
    {"metric", on_metric}, {"request", on_request}, {"message", on_message},
};

/* "major.minor.patch" from PluginContext's packed api_version. */
static void format_version(uint32_t v, char *out, size_t size) {
  snprintf(out, size, "%u.%u.%u", (unsigned)PLUGHOST_API_MAJOR(v), (unsigned)((v >> 8) & 0xffu), (unsigned)(v & 0xffu));
}

int32_t plugin_init(PluginContext *ctx) {
  if (strstr(plughost_config(), "\"fail-init\":true")) return -1;
  if (PLUGHOST_API_MAJOR(ctx->api_version) != 0) return -2;
  char version[40], msg[64];
  format_version(ctx->api_version, version, sizeof version);
  snprintf(msg, sizeof msg, "conformance init %s", version);
  ctx->log(ctx, LOG_INFO, msg);
  for (size_t i = 0; i < sizeof CALLBACKS / sizeof CALLBACKS[0]; i++) {
    if (ctx->register_callback(ctx, CALLBACKS[i].name, CALLBACKS[i].fn) != PLUGHOST_OK) return -3;
    if (plughost_register_hook(ctx, CALLBACKS[i].name, hook) != PLUGHOST_OK) return -3;
  }
  return 0;
}

int32_t plugin_teardown(PluginContext *ctx) {
  ctx->log(ctx, LOG_INFO, "conformance teardown");
  return 0;
}

/* The optional lifecycle interface: defining these makes the build export it. */
int32_t plugin_suspend(PluginContext *ctx) {
  ctx->log(ctx, LOG_INFO, "conformance suspended");
  return 0;
}

int32_t plugin_resume(PluginContext *ctx) {
  ctx->log(ctx, LOG_INFO, "conformance resumed");
  return 0;
}
