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
 *   emit, send: in process from the JS thread (inside a callback) and in the
 *     sandbox from the plugin's main call thread; from other threads they
 *     return PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_DENIED).
 */
#include "plughost_host.h"

#define PH_EXPORT __attribute__((visibility("default")))

static const PlughostNativeHost *bound;

/* Called by the host after dlopen and before plugin_init. Returns the ABI the SDK speaks. */
PH_EXPORT uint32_t plughost_native_bind(const PlughostNativeHost *table) {
  bound = (table && table->abi == PLUGHOST_NATIVE_ABI && table->size >= sizeof(PlughostNativeHost)) ? table : 0;
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

PH_EXPORT const char *plughost_config(void) {
  const char *c = bound ? bound->config(bound->host) : 0;
  return c ? c : "{}";
}


/* Plugin-defined metrics are not part of the native host table yet: refused as denied, so a plugin
 * that uses them still builds and loads natively. */
PH_EXPORT int32_t plughost_metric_define(PlughostMetricKind kind, const char *name, const char *help, const char *const *label_names,
                                         uint32_t n_labels) {
  (void)kind, (void)name, (void)help, (void)label_names, (void)n_labels;
  return PLUGHOST_METRIC_ERR(PLUGHOST_METRIC_ERROR_DENIED);
}

PH_EXPORT int32_t plughost_metric_record(int32_t id, double value, const char *const *label_values, uint32_t n_labels) {
  (void)id, (void)value, (void)label_values, (void)n_labels;
  return PLUGHOST_METRIC_ERR(PLUGHOST_METRIC_ERROR_DENIED);
}
