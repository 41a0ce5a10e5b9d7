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
 * Native (.so) plugins: not supported yet, both return PLUGHOST_METRIC_ERR(PLUGHOST_METRIC_ERROR_DENIED).
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

#ifdef __cplusplus
}
#endif
#endif /* PLUGHOST_H */
