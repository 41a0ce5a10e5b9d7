/*
 * plughost_host.h: the native host table, the one definition of the ABI
 * between a native plugin's SDK (guest-sdks/c/src/plughost_native.c) and the
 * hosts that load it: the in-process addon (native/c-adapter) and the sandbox
 * helper (native/sandbox-helper). All three include this header.
 *
 * After dlopen and before plugin_init, the host calls the plugin's
 * `plughost_native_bind(table)`; the SDK keeps the table and routes the
 * plughost_* extension functions through it. Codes: register_hook and
 * hook_output return PLUGHOST_OK / PLUGHOST_ERR_*; emit and send return >= 0
 * or PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_*) (plughost_abi.h).
 */
#ifndef PLUGHOST_HOST_H
#define PLUGHOST_HOST_H

#include <stddef.h>

#include "plughost.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this table's layout; a host and an SDK that disagree do not bind. */
#define PLUGHOST_NATIVE_ABI 1u

typedef struct PlughostNativeHost {
  uint32_t abi;  /* PLUGHOST_NATIVE_ABI */
  uint32_t size; /* sizeof(PlughostNativeHost), for additive growth */
  void *host;
  int32_t (*register_hook)(void *host, const char *event_name, HookFn hook);
  int32_t (*hook_output)(void *host, const uint8_t *data, uint32_t len);
  int32_t (*emit)(void *host, const char *event_name, const uint8_t *data, uint32_t len);
  int32_t (*send)(void *host, const char *target, const char *event_name, const uint8_t *data, uint32_t len);
  const char *(*config)(void *host);
  /* Grown later (present when PLUGHOST_NATIVE_HAS(table, request)). The host asks `target` and
   * blocks this thread until the answer, a refusal or the timeout (timeout_ms 0: the host's default).
   * On 0 the answer is in *out / *out_len, allocated with `alloc` (the SDK passes its own malloc, so
   * the plugin releases it with its own free()); an empty answer is *out NULL, *out_len 0, and `alloc`
   * is not called. Otherwise PLUGHOST_REQUEST_ERR(code), *out and *out_len untouched. */
  int32_t (*request)(void *host, const char *target, const char *event_name, const uint8_t *data, uint32_t len,
                     uint32_t timeout_ms, void *(*alloc)(size_t), uint8_t **out, uint32_t *out_len);
  /* Fills *info with the envelope of the call in progress and returns 1, or returns 0 (none: init,
   * teardown, another thread). The strings and arrays belong to the host and stay valid until the
   * current callback returns. */
  int32_t (*current_message)(void *host, PlughostMessageInfo *info);
  /* Grown for the state store and the context (present when PLUGHOST_NATIVE_HAS(table, context_set); a host
   * fills in all of them or none). Same threads as emit; codes as plughost.h's plughost_state_* / _context_*
   * (PLUGHOST_STATE_ERR / PLUGHOST_CONTEXT_ERR on failure). Bytes handed back are allocated with `alloc` (the
   * SDK's malloc); an empty value is *out NULL, *out_len 0, and `alloc` is not called.
   * state_get: 1 with the value, 0 when missing. state_cas: `expected` NULL means "only if missing".
   * state_list_keys: the page as PLUGHOST_KEY_PAGE bytes (below) in *out / *out_len; returns the key count.
   * context_get: 1 with *json the value as NUL-terminated JSON, 0 when the key has no value now. */
  int32_t (*state_get)(void *host, const char *key, void *(*alloc)(size_t), uint8_t **out, uint32_t *out_len);
  int32_t (*state_set)(void *host, const char *key, const uint8_t *value, uint32_t len);
  int32_t (*state_delete)(void *host, const char *key);
  int32_t (*state_exists)(void *host, const char *key);
  int32_t (*state_increment)(void *host, const char *key, int64_t delta, int64_t *value);
  int32_t (*state_cas)(void *host, const char *key, const uint8_t *expected, uint32_t expected_len, const uint8_t *value,
                       uint32_t len);
  int32_t (*state_list_keys)(void *host, const char *cursor, uint32_t limit, void *(*alloc)(size_t), uint8_t **out,
                             uint32_t *out_len);
  int32_t (*context_get)(void *host, const char *key, void *(*alloc)(size_t), char **json);
  int32_t (*context_set)(void *host, const char *key, const char *json);
  /* Grown for plugin-defined metrics (present when PLUGHOST_NATIVE_HAS(table, metric_record); a host fills in
   * both or neither). Same threads as emit; codes as plughost.h's plughost_metric_define (the id >= 0) and
   * plughost_metric_record (0), or PLUGHOST_METRIC_ERR(code). `kind` is a PlughostMetricKind; strings are
   * NUL-terminated UTF-8 within the PLUGHOST_NATIVE_METRIC_* bounds below (no NULL in a label array): the
   * SDK refuses the rest before it crosses, as the Wasm engines refuse it unread, and the hosts refuse it again
   * (a plugin can call the table itself). The help text is cut at PLUGHOST_NATIVE_METRIC_HELP_MAX bytes. */
  int32_t (*metric_define)(void *host, int32_t kind, const char *name, const char *help, const char *const *label_names,
                           uint32_t n_labels);
  int32_t (*metric_record)(void *host, int32_t id, double value, const char *const *label_values, uint32_t n_labels);
} PlughostNativeHost;

/*
 * A key page as bytes (state_list_keys; the host's JS side makes them, src/engines/native/shared.ts
 * encodeKeyPage), little-endian: u32 n_keys, u32 has_cursor, then n_keys strings and (when has_cursor) the
 * cursor, each as u32 length and UTF-8 bytes (no NUL).
 */
/* Longest key (bytes) and value the native paths carry; longer ones are refused before they cross. */
#define PLUGHOST_NATIVE_KEY_MAX 256u
#define PLUGHOST_NATIVE_VALUE_MAX (1u << 20)
/* Longest context key and context JSON value the native paths carry. */
#define PLUGHOST_NATIVE_CONTEXT_KEY_MAX 64u
#define PLUGHOST_NATIVE_CONTEXT_VALUE_MAX (1u << 20)
/* What a metric call carries at most (the Wasm engines' read bounds, src/engines/v8/host-imports.ts
 * METRIC_BOUNDS): a longer name or label name is invalid-name, more labels limit-reached (define) or
 * invalid-labels (record), a longer label value invalid-labels; a longer help text is cut. */
#define PLUGHOST_NATIVE_METRIC_NAME_MAX 64u
#define PLUGHOST_NATIVE_METRIC_HELP_MAX 1024u
#define PLUGHOST_NATIVE_METRIC_LABELS_MAX 16u
#define PLUGHOST_NATIVE_METRIC_LABEL_NAME_MAX 64u
#define PLUGHOST_NATIVE_METRIC_LABEL_VALUE_MAX 1024u

/* The size of the first table (abi 1 as it shipped): the least an SDK accepts. */
#define PLUGHOST_NATIVE_HOST_MIN_SIZE offsetof(PlughostNativeHost, request)
/* Whether a host's table has `member` (it was filled in by a host that knows it). */
#define PLUGHOST_NATIVE_HAS(table, member) \
  ((table)->size >= offsetof(PlughostNativeHost, member) + sizeof(((PlughostNativeHost *)0)->member))

/* The plugin's export the host calls; returns the PLUGHOST_NATIVE_ABI the SDK speaks. */
typedef uint32_t (*PlughostNativeBindFn)(const PlughostNativeHost *table);

#ifdef __cplusplus
}
#endif
#endif /* PLUGHOST_HOST_H */
