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

/* What `remember` kept: the snapshot, and what plugin_restore sets. */
static uint8_t *remembered;
static uint32_t remembered_len;

static void remember(const uint8_t *data, uint32_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) abort();
  if (len) memcpy(copy, data, len);
  free(remembered);
  remembered = copy;
  remembered_len = len;
}

static int32_t on_remember(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  remember((const uint8_t *)data, len);
  return (int32_t)len;
}

/* The configuration received last (init's, then plugin_config_changed's). */
static char *config;

static void keep_config(const char *json) {
  char *copy = strdup(json);
  if (!copy) abort();
  free(config);
  config = copy;
}

/* Hook-only events: their on-event answers the "other" row. */
static int32_t on_hook_only(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  (void)data;
  (void)len;
  return UNHANDLED;
}

/* The first line of data[0..len) as a malloc'd C string; *rest / *rest_len are what follows its newline.
 * NULL when there is no newline. */
static char *line(const uint8_t *data, uint32_t len, const uint8_t **rest, uint32_t *rest_len) {
  const uint8_t *nl = memchr(data, '\n', len);
  if (!nl) return NULL;
  char *s = cstr((const char *)data, (uint32_t)(nl - data));
  if (!s) abort();
  *rest = nl + 1;
  *rest_len = len - (uint32_t)(nl + 1 - data);
  return s;
}

static int32_t output_text(const char *text) { return plughost_hook_output((const uint8_t *)text, (uint32_t)strlen(text)); }

static int32_t yes_no(int32_t rc) { return rc < 0 ? rc : output_text(rc ? "true" : "false"); }

/* CONFORMANCE.md's `state` hook: "<op>\n<key>[\n<args>]". The SDK's errors are already -1 - state-error code. */
static int32_t state_hook(const uint8_t *data, uint32_t len) {
  const uint8_t *rest, *args;
  uint32_t rest_len, args_len;
  char *op = line(data, len, &rest, &rest_len);
  if (!op) return UNHANDLED;
  int32_t rc = UNHANDLED;
  char *key = NULL;
  if (strcmp(op, "get") == 0 || strcmp(op, "delete") == 0 || strcmp(op, "exists") == 0) {
    key = cstr((const char *)rest, rest_len);
    if (!key) abort();
    if (op[0] == 'g') {
      uint8_t *value = NULL;
      uint32_t value_len = 0;
      rc = plughost_state_get(key, &value, &value_len);
      if (rc == 1) rc = plughost_hook_output(value, value_len);
      else if (rc == 0) rc = 1; /* missing */
      free(value);
    } else {
      rc = yes_no(op[0] == 'd' ? plughost_state_delete(key) : plughost_state_exists(key));
    }
  } else if ((key = line(rest, rest_len, &args, &args_len)) != NULL) {
    if (strcmp(op, "set") == 0) {
      rc = plughost_state_set(key, args, args_len);
      if (rc == 0) rc = plughost_hook_output(NULL, 0);
    } else if (strcmp(op, "incr") == 0) {
      char *text = cstr((const char *)args, args_len), *end;
      if (!text) abort();
      long long delta = strtoll(text, &end, 10);
      int64_t value;
      if (args_len > 0 && *end == 0 && (rc = plughost_state_increment(key, (int64_t)delta, &value)) == 0) {
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)value);
        rc = output_text(num);
      }
      free(text);
    } else if (strcmp(op, "cas") == 0) {
      const uint8_t *value;
      uint32_t value_len;
      char *expected = line(args, args_len, &value, &value_len);
      if (expected && strcmp(expected, "-") == 0) rc = yes_no(plughost_state_cas(key, NULL, 0, value, value_len));
      else if (expected && expected[0] == '=') rc = yes_no(plughost_state_cas(key, (const uint8_t *)expected + 1, (uint32_t)strlen(expected + 1), value, value_len));
      free(expected);
    } else if (strcmp(op, "list") == 0) {
      /* Here `key` is the limit and args the cursor (empty: from the first). */
      char *cursor = cstr((const char *)args, args_len), *end;
      if (!cursor) abort();
      unsigned long limit = strtoul(key, &end, 10);
      PlughostKeyPage page;
      if (key[0] && *end == 0 && (rc = plughost_state_list_keys(cursor[0] ? cursor : NULL, (uint32_t)limit, &page)) >= 0) {
        Buf b = {0}; /* put() joins with newlines: each key, then "next <cursor>" or "end" */
        for (uint32_t i = 0; i < page.len; i++) put(&b, page.keys[i], "");
        put(&b, page.cursor ? "next " : "end", page.cursor ? page.cursor : "");
        rc = output_text(b.s);
        free(b.s);
        plughost_key_page_free(&page);
      }
      free(cursor);
    }
  }
  free(key);
  free(op);
  return rc;
}

/* CONFORMANCE.md's `context` hook: "<key>" reads, "<key>=<json>" writes. */
static int32_t context_hook(const uint8_t *data, uint32_t len) {
  char *text = cstr((const char *)data, len);
  if (!text) abort();
  int32_t rc;
  char *eq = strchr(text, '=');
  if (eq) {
    *eq = 0;
    rc = plughost_context_set(text, eq + 1);
    if (rc == 0) rc = plughost_hook_output(NULL, 0);
  } else {
    char *json = NULL;
    rc = plughost_context_get(text, &json);
    if (rc == 1) rc = output_text(json);
    else if (rc == 0) rc = 1; /* no value */
    free(json);
  }
  free(text);
  return rc;
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
  if (strcmp(event, "state") == 0) return state_hook(data, len);
  if (strcmp(event, "context") == 0) return context_hook(data, len);
  if (strcmp(event, "config") == 0) return output_text(config ? config : "");
  if (strcmp(event, "recall") == 0) return plughost_hook_output(remembered, remembered_len);
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
    {"metric", on_metric}, {"request", on_request}, {"message", on_message}, {"state", on_hook_only},
    {"context", on_hook_only}, {"config", on_hook_only}, {"remember", on_remember}, {"recall", on_hook_only},
};

/* "major.minor.patch" from PluginContext's packed api_version. */
static void format_version(uint32_t v, char *out, size_t size) {
  snprintf(out, size, "%u.%u.%u", (unsigned)PLUGHOST_API_MAJOR(v), (unsigned)((v >> 8) & 0xffu), (unsigned)(v & 0xffu));
}

int32_t plugin_init(PluginContext *ctx) {
  if (strstr(plughost_config(), "\"fail-init\":true")) return -1;
  if (PLUGHOST_API_MAJOR(ctx->api_version) != 0) return -2;
  keep_config(plughost_config());
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

/* The optional config-watch interface: take a new configuration unless it says "reject-change". */
int32_t plugin_config_changed(PluginContext *ctx, const char *config_json) {
  if (strstr(config_json, "\"reject-change\":true")) {
    ctx->log(ctx, LOG_INFO, "conformance config rejected");
    return 1;
  }
  keep_config(config_json);
  ctx->log(ctx, LOG_INFO, "conformance config changed");
  return 0;
}

/* The optional handoff interface: what `remember` kept crosses to the next instance. */
uint32_t plugin_snapshot(PluginContext *ctx, uint8_t **out) {
  (void)ctx;
  if (remembered_len == 0) return 0;
  *out = malloc(remembered_len);
  if (!*out) return 0;
  memcpy(*out, remembered, remembered_len);
  return remembered_len;
}

int32_t plugin_restore(PluginContext *ctx, const uint8_t *data, uint32_t len) {
  char msg[48];
  snprintf(msg, sizeof msg, "conformance restored %u", (unsigned)len);
  ctx->log(ctx, LOG_INFO, msg);
  remember(data, len);
  return 0;
}
