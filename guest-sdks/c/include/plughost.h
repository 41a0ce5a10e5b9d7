/*
 * plughost.h: the plughost C plugin API.
 *
 * This is the legacy C plugin ABI (seed 000): a plugin exports
 * `plugin_init(PluginContext*)` and `plugin_teardown(PluginContext*)`, and
 * uses `ctx->register_callback` and `ctx->log`. The same source builds two
 * ways:
 *   - natively (`cc -shared -fPIC`): a `.so` loaded by plughost's native adapter;
 *   - for wasm32-wasi with plughost_component.c linked in: a Wasm component of
 *     the `plughost:plugin/plugin` world, whose glue maps `init`, `teardown`,
 *     `on-event` and `on-hook` onto these functions.
 *
 * Extensions beyond the legacy ABI (hook transforms, messaging, config) are
 * declared below as plughost_* functions; they exist in both builds where the
 * host supports them.
 */
#ifndef PLUGHOST_H
#define PLUGHOST_H

#include <stddef.h>
#include <stdint.h>

#include "plughost_abi.h" /* generated from wit/plugin.wit: API version, enum codes */

#ifdef __cplusplus
extern "C" {
#endif

/* PLUGHOST_API_VERSION (plughost_abi.h) is (major << 16) | (minor << 8) | patch. */
#define PLUGHOST_API_MAJOR(v) (((v) >> 16) & 0xffffu)

typedef enum {
  LOG_DEBUG = PLUGHOST_LOG_LEVEL_DEBUG,
  LOG_INFO = PLUGHOST_LOG_LEVEL_INFO,
  LOG_WARN = PLUGHOST_LOG_LEVEL_WARN,
  LOG_ERROR = PLUGHOST_LOG_LEVEL_ERROR,
} LogLevel;

typedef struct PluginContext PluginContext;

typedef int32_t (*CallbackFn)(PluginContext *context, const char *event_data, uint32_t data_len);
typedef int32_t (*RegisterCallbackFn)(PluginContext *context, const char *event_name, CallbackFn callback);
typedef void (*LogFn)(PluginContext *context, LogLevel level, const char *message);

struct PluginContext {
  uint32_t api_version;
  void *host_data;
  void *plugin_data;
  RegisterCallbackFn register_callback;
  LogFn log;
};

/* register_callback return codes (0 = success): 1 + the WIT register-error code. */
#define PLUGHOST_OK 0
#define PLUGHOST_ERR_INVALID_NAME PLUGHOST_REGISTER_STATUS(PLUGHOST_REGISTER_ERROR_INVALID_NAME)
#define PLUGHOST_ERR_LIMIT_REACHED PLUGHOST_REGISTER_STATUS(PLUGHOST_REGISTER_ERROR_LIMIT_REACHED)
#define PLUGHOST_ERR_DENIED PLUGHOST_REGISTER_STATUS(PLUGHOST_REGISTER_ERROR_DENIED)
/* The SDK's own code (not a WIT case): an allocation failed in the guest. */
#define PLUGHOST_ERR_NO_MEMORY 4

/* The two exports every plugin defines. */
int32_t plugin_init(PluginContext *context);
int32_t plugin_teardown(PluginContext *context);

/*
 * Optional: told when the host suspends the plugin (no calls arrive until it is resumed) and when it resumes it
 * (WIT interface `lifecycle`). Return 0; another status is logged, and the plugin is suspended or resumed all
 * the same. A component built by guest-sdks/c/build.mjs exports the lifecycle interface only when one of its
 * sources defines plugin_suspend or plugin_resume (one without the other is told nothing for the missing one);
 * a native plugin's are looked up by name when it is loaded.
 */
int32_t plugin_suspend(PluginContext *context);
int32_t plugin_resume(PluginContext *context);

/*
 * Optional metadata exports for native plugins (the native adapter reads them
 * when present and checks them against the manifest).
 */
const char *plugin_name(void);
const char *plugin_version(void);

/*
 * Hook transform (plughost extension). A plugin that wants to transform data
 * for a hook event registers a HookFn with plughost_register_hook. The
 * function writes its output with plughost_hook_output (which copies it) and
 * returns 0; a non-zero return fails the hook with that status. If a hook
 * returns 0 without writing output, the input passes through unchanged.
 */
typedef int32_t (*HookFn)(PluginContext *context, const char *event_name, const uint8_t *data, uint32_t data_len);
int32_t plughost_register_hook(PluginContext *context, const char *event_name, HookFn hook);
int32_t plughost_hook_output(const uint8_t *data, uint32_t len);

/* Messaging (plughost extension). Return >= 0 on success, -1 - message-error code on failure. */
int32_t plughost_emit(const char *event_name, const uint8_t *data, uint32_t len);
int32_t plughost_send(const char *target, const char *event_name, const uint8_t *data, uint32_t len);

/* Configuration (plughost extension): the plugin's config as JSON. The string
 * is owned by the SDK and valid until the next call. */
const char *plughost_config(void);

/*
 * Plugin-defined metrics (plughost extension; the plugin needs the capability
 * "metrics"). The host exports them as plugin_<plugin>_<name>, with a
 * `plugin` label besides the plugin's own (docs/guest-c.md lists the limits).
 *
 * plughost_metric_define returns the metric's id (>= 0), or
 * PLUGHOST_METRIC_ERR(code) (< 0) with a WIT metric-error code
 * (PLUGHOST_METRIC_ERROR_DENIED, _INVALID_NAME, ...). Defining the same name
 * again with the same kind and label names returns the same id.
 * plughost_metric_record adds `value` to a counter, sets a gauge to it or
 * observes it in a histogram; `label_values` are in the order of the label
 * names. It returns 0 or PLUGHOST_METRIC_ERR(code).
 * Native (.so) plugins: the same, trusted and sandboxed, from the threads plughost_emit works on (elsewhere,
 * and bound by a host whose table predates metrics, both return PLUGHOST_METRIC_ERR(PLUGHOST_METRIC_ERROR_DENIED)).
 */
typedef enum {
  PLUGHOST_COUNTER = PLUGHOST_METRIC_KIND_COUNTER,
  PLUGHOST_GAUGE = PLUGHOST_METRIC_KIND_GAUGE,
  PLUGHOST_HISTOGRAM = PLUGHOST_METRIC_KIND_HISTOGRAM,
} PlughostMetricKind;
#define PLUGHOST_METRIC_ERR(code) (-1 - (code))
int32_t plughost_metric_define(PlughostMetricKind kind, const char *name, const char *help, const char *const *label_names, uint32_t n_labels);
int32_t plughost_metric_record(int32_t id, double value, const char *const *label_values, uint32_t n_labels);

/*
 * Request/response (plughost extension; the plugin needs
 * "events:publish:<event_name>"). Asks `target` (a plugin or a host service)
 * to answer `data` for `event_name`: the target's hook runs and its output is
 * the answer. timeout_ms 0 means the host's default. Returns 0 and sets
 * *out / *out_len to the answer, which the caller releases with free() (an
 * empty answer is *out == NULL, *out_len == 0); or PLUGHOST_REQUEST_ERR(code)
 * (> 0) with a WIT request-error code (PLUGHOST_REQUEST_ERROR_TIMEOUT,
 * _CYCLE, _REJECTED, ...), *out and *out_len untouched.
 */
#define PLUGHOST_REQUEST_ERR(code) (1 + (code))
int32_t plughost_request(const char *target, const char *event_name, const uint8_t *data, uint32_t len, uint32_t timeout_ms,
                         uint8_t **out, uint32_t *out_len);

/*
 * The envelope of the message the current call handles (plughost extension).
 * plughost_current_message fills *info and returns 1, or returns 0 outside a
 * call (in plugin_init and plugin_teardown). The strings and arrays are owned
 * by the SDK and valid until the current callback returns.
 */
typedef struct PlughostMessageInfo {
  uint64_t id;
  uint64_t parent_id;      /* meaningful when has_parent */
  int32_t has_parent;
  const char *source;      /* NULL when the host sent it */
  const char *target;      /* NULL for a broadcast */
  const char *event_name;
  uint32_t kind;           /* PLUGHOST_MESSAGE_KIND_EVENT, _HOOK or _REQUEST */
  uint32_t metadata_len;
  const char *const *metadata_keys;
  const char *const *metadata_values;
} PlughostMessageInfo;
int32_t plughost_current_message(PlughostMessageInfo *info);

/*
 * Persistent state (plughost extension; the plugin needs the capability "state"; docs/state.md). The plugin's own
 * key-value store, kept by the host across traps, restarts, reloads and host restarts. Keys are NUL-terminated
 * UTF-8 (1 to 256 bytes). Errors are PLUGHOST_STATE_ERR(code) (< 0) with a WIT state-error code
 * (PLUGHOST_STATE_ERROR_DENIED, _QUOTA_EXCEEDED, ...).
 *
 * plughost_state_get: 1 and *out / *out_len set to a copy the caller releases with free() (an empty value is
 *   *out == NULL, *out_len == 0), or 0 when the key is missing.
 * plughost_state_set: 0 once stored (durable when the current call returns).
 * plughost_state_delete: 1 when the key was there, 0 when not.
 * plughost_state_exists: 1 or 0.
 * plughost_state_increment: 0 and *value set to the new value (the stored value is decimal text; missing is 0).
 * plughost_state_cas: stores `value` only if the key holds `expected` now (expected == NULL: only if it is
 *   missing); 1 when stored, 0 when not.
 * plughost_state_list_keys: fills *page with at most `limit` keys after `cursor` (NULL: from the first; limit 0:
 *   the host's default of 100) and returns the number of keys; release it with plughost_key_page_free.
 *   page->cursor is NULL when there are no more keys.
 */
#define PLUGHOST_STATE_ERR(code) (-1 - (code))
int32_t plughost_state_get(const char *key, uint8_t **out, uint32_t *out_len);
int32_t plughost_state_set(const char *key, const uint8_t *value, uint32_t len);
int32_t plughost_state_delete(const char *key);
int32_t plughost_state_exists(const char *key);
int32_t plughost_state_increment(const char *key, int64_t delta, int64_t *value);
int32_t plughost_state_cas(const char *key, const uint8_t *expected, uint32_t expected_len, const uint8_t *value, uint32_t len);
typedef struct PlughostKeyPage {
  char **keys;
  uint32_t len;
  char *cursor; /* NULL: no more keys */
} PlughostKeyPage;
int32_t plughost_state_list_keys(const char *cursor, uint32_t limit, PlughostKeyPage *page);
void plughost_key_page_free(PlughostKeyPage *page);

/*
 * Context (plughost extension; docs/config.md): values the host keeps, read with "context:<key>" and written
 * with "context:write:<key>". plughost_context_get returns 1 and *json set to the value as NUL-terminated JSON,
 * released with free(); 0 when the key has no value now; or PLUGHOST_CONTEXT_ERR(code) (< 0) with a WIT
 * context-error code. plughost_context_set returns 0 or PLUGHOST_CONTEXT_ERR(code).
 */
#define PLUGHOST_CONTEXT_ERR(code) (-1 - (code))
int32_t plughost_context_get(const char *key, char **json);
int32_t plughost_context_set(const char *key, const char *json);

/*
 * Optional exports, as plugin_suspend: a component exports the interface only when a source defines them; a
 * native plugin's are looked up by name when it is loaded.
 * plugin_config_changed (WIT config-watch): the whole new configuration as JSON (plughost_config() returns it
 *   from now on too). Return 0 to take it; another status, or no such function, and the host reloads the plugin.
 * plugin_snapshot / plugin_restore (WIT handoff): carry in-memory state to the next instance after a reload or a
 *   restart. plugin_snapshot returns a malloc'd buffer in *out (the SDK frees it) and its length (0: nothing);
 *   plugin_restore gets it after plugin_init and returns 0.
 */
int32_t plugin_config_changed(PluginContext *context, const char *config_json);
uint32_t plugin_snapshot(PluginContext *context, uint8_t **out);
int32_t plugin_restore(PluginContext *context, const uint8_t *data, uint32_t len);

#ifdef __cplusplus
}
#endif
#endif /* PLUGHOST_H */
