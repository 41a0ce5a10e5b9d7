/*
 * Native (.so) implementation of the plughost.h extension functions:
 * plughost_register_hook, plughost_hook_output, plughost_emit, plughost_send
 * and plughost_config, over the host table of plughost_host.h. Link it into a
 * native plugin:
 *
 *   cc -shared -fPIC -O2 -I guest-sdks/c/include plugin.c \
 *      guest-sdks/c/src/plughost_native.c -o plugin.so
 *
 * A plugin written only against the legacy ABI (ctx->register_callback,
 * ctx->log) does not need this file. One that calls a plughost_* function
 * without it fails to load (undefined symbol at dlopen).
 *
 * How it reaches the host: the host (the in-process addon or the sandbox
 * helper) looks up `plughost_native_bind` after dlopen and, before
 * plugin_init, hands it a table of host functions. The table is kept in a
 * static of this .so (each plugin has its own copy: RTLD_LOCAL). Without a
 * table (an older or foreign host) every extension reports "unsupported":
 * PLUGHOST_ERR_DENIED, -1 - denied for messaging, "{}" for config.
 *
 * Which functions work where:
 *   register_hook, hook_output, config: in process and in the sandbox.
 *   emit, send, request, current_message: in process from the JS thread
 *     (inside a callback) and in the sandbox from the plugin's main call
 *     thread; from other threads they return "denied" (current_message: 0).
 *   request: in process the host answers at once or refuses with
 *     would-block (only a target that can answer on the host's thread now
 *     can answer a trusted plugin); in the sandbox the helper waits for the
 *     answer, whatever engine the target runs on.
 *
 * state_* and context_*: as emit (in process from the JS thread inside a
 *   callback, in the sandbox from the main call thread). A host whose table
 *   predates them (no PLUGHOST_NATIVE_HAS(table, context_set)) answers
 *   PLUGHOST_STATE_ERR(DENIED) / PLUGHOST_CONTEXT_ERR(DENIED), as a host
 *   without the capability does.
 * metric_define, metric_record: as emit, and bound by a table that predates
 *   them (no PLUGHOST_NATIVE_HAS(table, metric_record)) both answer
 *   PLUGHOST_METRIC_ERR(DENIED), as a host without the capability does.
 *   Arguments past the PLUGHOST_NATIVE_METRIC_* bounds are refused here with
 *   the code the Wasm engines give (help is cut), and never cross.
 * plugin_config_changed, plugin_snapshot, plugin_restore: looked up by name
 *   by the host when it loads the library, as plugin_suspend is.
 *
 * A request's answer is allocated with this file's malloc (the host calls it
 * through the table) and released by the plugin with free(): the same libc
 * whether the host is the in-process addon or the sandbox helper.
 */
#include <stdlib.h>
#include <string.h>

#include "plughost_host.h"

#define PH_EXPORT __attribute__((visibility("default")))

static const PlughostNativeHost *bound;

/* Called by the host after dlopen and before plugin_init. Returns the ABI the SDK speaks. */
PH_EXPORT uint32_t plughost_native_bind(const PlughostNativeHost *table) {
  bound = (table && table->abi == PLUGHOST_NATIVE_ABI && table->size >= PLUGHOST_NATIVE_HOST_MIN_SIZE) ? table : 0;
  return PLUGHOST_NATIVE_ABI;
}

PH_EXPORT int32_t plughost_register_hook(PluginContext *context, const char *event_name, HookFn hook) {
  (void)context;
  if (!event_name || !hook) return PLUGHOST_ERR_INVALID_NAME;
  if (!bound) return PLUGHOST_ERR_DENIED;
  return bound->register_hook(bound->host, event_name, hook);
}

PH_EXPORT int32_t plughost_hook_output(const uint8_t *data, uint32_t len) {
  if (!bound) return PLUGHOST_ERR_DENIED;
  if (!data && len) return PLUGHOST_ERR_INVALID_NAME;
  return bound->hook_output(bound->host, data, len);
}

PH_EXPORT int32_t plughost_emit(const char *event_name, const uint8_t *data, uint32_t len) {
  if (!event_name || (!data && len)) return PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_INVALID_NAME);
  if (!bound) return PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_DENIED);
  return bound->emit(bound->host, event_name, data, len);
}

PH_EXPORT int32_t plughost_send(const char *target, const char *event_name, const uint8_t *data, uint32_t len) {
  if (!target || !event_name || (!data && len)) return PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_INVALID_NAME);
  if (!bound) return PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_DENIED);
  return bound->send(bound->host, target, event_name, data, len);
}

static void *sdk_alloc(size_t n) { return malloc(n); }

PH_EXPORT int32_t plughost_request(const char *target, const char *event_name, const uint8_t *data, uint32_t len, uint32_t timeout_ms,
                                   uint8_t **out, uint32_t *out_len) {
  if (!target || !event_name || (!data && len) || !out || !out_len) return PLUGHOST_REQUEST_ERR(PLUGHOST_REQUEST_ERROR_INVALID_NAME);
  /* A host without requests (none, or an older table): nobody can answer, as on engines without the host call. */
  if (!bound || !PLUGHOST_NATIVE_HAS(bound, request) || !bound->request)
    return PLUGHOST_REQUEST_ERR(PLUGHOST_REQUEST_ERROR_UNKNOWN_TARGET);
  uint8_t *answer = 0;
  uint32_t answer_len = 0;
  int32_t rc = bound->request(bound->host, target, event_name, data, len, timeout_ms, sdk_alloc, &answer, &answer_len);
  if (rc != 0) return rc;
  *out = answer;
  *out_len = answer ? answer_len : 0;
  return 0;
}

PH_EXPORT int32_t plughost_current_message(PlughostMessageInfo *info) {
  if (!info || !bound || !PLUGHOST_NATIVE_HAS(bound, current_message) || !bound->current_message) return 0;
  return bound->current_message(bound->host, info) == 1;
}

PH_EXPORT const char *plughost_config(void) {
  const char *c = bound ? bound->config(bound->host) : 0;
  return c ? c : "{}";
}


/* ── state and context ── */

#define STATE_ERR(code) PLUGHOST_STATE_ERR(PLUGHOST_STATE_ERROR_##code)
#define CONTEXT_ERR(code) PLUGHOST_CONTEXT_ERR(PLUGHOST_CONTEXT_ERROR_##code)

/* The host's table has the state and context members (an older one does not). */
static int has_state(void) { return bound && PLUGHOST_NATIVE_HAS(bound, context_set) && bound->context_set; }

/* A key the host could accept: 1 to PLUGHOST_NATIVE_KEY_MAX bytes (never cut: a cut key names another). */
static int key_ok(const char *key) {
  if (!key) return 0;
  size_t n = strnlen(key, PLUGHOST_NATIVE_KEY_MAX + 1);
  return n >= 1 && n <= PLUGHOST_NATIVE_KEY_MAX;
}

PH_EXPORT int32_t plughost_state_get(const char *key, uint8_t **out, uint32_t *out_len) {
  if (!out || !out_len) return STATE_ERR(INVALID_KEY);
  if (!has_state()) return STATE_ERR(DENIED);
  if (!key_ok(key)) return STATE_ERR(INVALID_KEY);
  uint8_t *value = 0;
  uint32_t value_len = 0;
  int32_t rc = bound->state_get(bound->host, key, sdk_alloc, &value, &value_len);
  if (rc != 1) return rc == 0 || rc < 0 ? rc : STATE_ERR(UNAVAILABLE);
  *out = value;
  *out_len = value ? value_len : 0;
  return 1;
}

PH_EXPORT int32_t plughost_state_set(const char *key, const uint8_t *value, uint32_t len) {
  if (!has_state()) return STATE_ERR(DENIED);
  if (!key_ok(key)) return STATE_ERR(INVALID_KEY);
  if (!value && len) return STATE_ERR(TOO_LARGE);
  if (len > PLUGHOST_NATIVE_VALUE_MAX) return STATE_ERR(TOO_LARGE);
  return bound->state_set(bound->host, key, value ? value : (const uint8_t *)"", len);
}

PH_EXPORT int32_t plughost_state_delete(const char *key) {
  if (!has_state()) return STATE_ERR(DENIED);
  if (!key_ok(key)) return STATE_ERR(INVALID_KEY);
  return bound->state_delete(bound->host, key);
}

PH_EXPORT int32_t plughost_state_exists(const char *key) {
  if (!has_state()) return STATE_ERR(DENIED);
  if (!key_ok(key)) return STATE_ERR(INVALID_KEY);
  return bound->state_exists(bound->host, key);
}

PH_EXPORT int32_t plughost_state_increment(const char *key, int64_t delta, int64_t *value) {
  if (!has_state()) return STATE_ERR(DENIED);
  if (!key_ok(key)) return STATE_ERR(INVALID_KEY);
  int64_t v = 0;
  int32_t rc = bound->state_increment(bound->host, key, delta, &v);
  if (rc == 0 && value) *value = v;
  return rc;
}

PH_EXPORT int32_t plughost_state_cas(const char *key, const uint8_t *expected, uint32_t expected_len, const uint8_t *value,
                                     uint32_t len) {
  if (!has_state()) return STATE_ERR(DENIED);
  if (!key_ok(key)) return STATE_ERR(INVALID_KEY);
  if ((!value && len) || len > PLUGHOST_NATIVE_VALUE_MAX || expected_len > PLUGHOST_NATIVE_VALUE_MAX) return STATE_ERR(TOO_LARGE);
  if (!expected) expected_len = 0;
  return bound->state_cas(bound->host, key, expected, expected_len, value ? value : (const uint8_t *)"", len);
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* Walk one string of a PLUGHOST_KEY_PAGE at *off: its bytes at *at, its length in *n. 0 when it does not fit. */
static int page_string(const uint8_t *b, uint32_t len, uint32_t *off, uint32_t *at, uint32_t *n) {
  if (len - *off < 4) return 0;
  *n = le32(b + *off);
  if (*n > len - *off - 4) return 0;
  *at = *off + 4;
  *off += 4 + *n;
  return 1;
}

/* The page bytes as one malloc'd block: the keys array, then each key and the cursor NUL-terminated. */
static int32_t decode_page(const uint8_t *b, uint32_t len, PlughostKeyPage *page) {
  if (len < 8) return STATE_ERR(UNAVAILABLE);
  uint32_t count = le32(b), has_cursor = le32(b + 4);
  if (count > (len - 8) / 4 || count > INT32_MAX) return STATE_ERR(UNAVAILABLE);
  uint32_t off = 8, at, n;
  for (uint32_t i = 0; i < count + (has_cursor ? 1u : 0u); i++)
    if (!page_string(b, len, &off, &at, &n)) return STATE_ERR(UNAVAILABLE);
  size_t arrays = (size_t)(count ? count : 1) * sizeof(char *);
  char *block = malloc(arrays + (size_t)len + count + 1);
  if (!block) return STATE_ERR(UNAVAILABLE);
  char **keys = (char **)(void *)block;
  char *w = block + arrays;
  off = 8;
  for (uint32_t i = 0; i < count; i++) {
    page_string(b, len, &off, &at, &n);
    memcpy(w, b + at, n);
    w[n] = 0;
    keys[i] = w;
    w += n + 1;
  }
  page->cursor = 0;
  if (has_cursor) {
    page_string(b, len, &off, &at, &n);
    memcpy(w, b + at, n);
    w[n] = 0;
    page->cursor = w;
  }
  page->keys = keys;
  page->len = count;
  return (int32_t)count;
}

PH_EXPORT int32_t plughost_state_list_keys(const char *cursor, uint32_t limit, PlughostKeyPage *page) {
  if (!page) return STATE_ERR(INVALID_KEY);
  page->keys = 0;
  page->len = 0;
  page->cursor = 0;
  if (!has_state()) return STATE_ERR(DENIED);
  if (cursor && !key_ok(cursor)) return STATE_ERR(INVALID_KEY);
  uint8_t *bytes = 0;
  uint32_t n = 0;
  int32_t rc = bound->state_list_keys(bound->host, cursor, limit, sdk_alloc, &bytes, &n);
  if (rc < 0) {
    free(bytes);
    return rc;
  }
  rc = decode_page(bytes, bytes ? n : 0, page);
  free(bytes);
  return rc;
}

/* The page is one block (decode_page): the keys array holds it all, cursor included. */
PH_EXPORT void plughost_key_page_free(PlughostKeyPage *page) {
  if (!page) return;
  free(page->keys);
  page->keys = 0;
  page->len = 0;
  page->cursor = 0;
}

PH_EXPORT int32_t plughost_context_get(const char *key, char **json) {
  if (!key || !json) return CONTEXT_ERR(UNKNOWN_KEY);
  if (!has_state()) return CONTEXT_ERR(DENIED);
  size_t n = strnlen(key, PLUGHOST_NATIVE_CONTEXT_KEY_MAX + 1);
  if (n == 0 || n > PLUGHOST_NATIVE_CONTEXT_KEY_MAX) return CONTEXT_ERR(UNKNOWN_KEY);
  char *value = 0;
  int32_t rc = bound->context_get(bound->host, key, sdk_alloc, &value);
  if (rc == 1 && value) {
    *json = value;
    return 1;
  }
  free(value);
  return rc == 1 ? CONTEXT_ERR(INVALID_VALUE) : rc;
}

PH_EXPORT int32_t plughost_context_set(const char *key, const char *json) {
  if (!key || !json) return !key ? CONTEXT_ERR(UNKNOWN_KEY) : CONTEXT_ERR(INVALID_VALUE);
  if (!has_state()) return CONTEXT_ERR(DENIED);
  size_t n = strnlen(key, PLUGHOST_NATIVE_CONTEXT_KEY_MAX + 1);
  if (n == 0 || n > PLUGHOST_NATIVE_CONTEXT_KEY_MAX) return CONTEXT_ERR(UNKNOWN_KEY);
  if (strnlen(json, PLUGHOST_NATIVE_CONTEXT_VALUE_MAX + 1) > PLUGHOST_NATIVE_CONTEXT_VALUE_MAX) return CONTEXT_ERR(INVALID_VALUE);
  return bound->context_set(bound->host, key, json);
}

/* ── plugin-defined metrics ── */

#define METRIC_ERR(code) PLUGHOST_METRIC_ERR(PLUGHOST_METRIC_ERROR_##code)

/* The host's table has the metric members (an older one does not). */
static int has_metrics(void) { return bound && PLUGHOST_NATIVE_HAS(bound, metric_record) && bound->metric_record && bound->metric_define; }

/* A label list within the bounds: NULL entries read as "" (as the component SDK passes them). 0 when a string is
 * longer than `max` bytes; `out` holds the strings the host gets. */
static int label_list(const char *const *in, uint32_t n, size_t max, const char **out) {
  for (uint32_t i = 0; i < n; i++) {
    out[i] = in[i] ? in[i] : "";
    if (strnlen(out[i], max + 1) > max) return 0;
  }
  return 1;
}

PH_EXPORT int32_t plughost_metric_define(PlughostMetricKind kind, const char *name, const char *help, const char *const *label_names,
                                         uint32_t n_labels) {
  const char *labels[PLUGHOST_NATIVE_METRIC_LABELS_MAX];
  if (!name || (n_labels && !label_names)) return METRIC_ERR(INVALID_NAME);
  if (!has_metrics()) return METRIC_ERR(DENIED);
  if ((int32_t)kind < 0 || (int32_t)kind >= PLUGHOST_METRIC_KIND_COUNT) return METRIC_ERR(INVALID_NAME);
  if (strnlen(name, PLUGHOST_NATIVE_METRIC_NAME_MAX + 1) > PLUGHOST_NATIVE_METRIC_NAME_MAX) return METRIC_ERR(INVALID_NAME);
  if (n_labels > PLUGHOST_NATIVE_METRIC_LABELS_MAX) return METRIC_ERR(LIMIT_REACHED);
  if (!label_list(label_names, n_labels, PLUGHOST_NATIVE_METRIC_LABEL_NAME_MAX, labels)) return METRIC_ERR(INVALID_NAME);
  /* Help past its bound is cut, at a UTF-8 character's start (the host refuses text that is not UTF-8). */
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
  return bound->metric_define(bound->host, (int32_t)kind, name, help, labels, n_labels);
}

PH_EXPORT int32_t plughost_metric_record(int32_t id, double value, const char *const *label_values, uint32_t n_labels) {
  const char *labels[PLUGHOST_NATIVE_METRIC_LABELS_MAX];
  if (n_labels && !label_values) return METRIC_ERR(INVALID_LABELS);
  if (!has_metrics()) return METRIC_ERR(DENIED);
  if (n_labels > PLUGHOST_NATIVE_METRIC_LABELS_MAX) return METRIC_ERR(INVALID_LABELS);
  if (!label_list(label_values, n_labels, PLUGHOST_NATIVE_METRIC_LABEL_VALUE_MAX, labels)) return METRIC_ERR(INVALID_LABELS);
  return bound->metric_record(bound->host, id, value, labels, n_labels);
}
