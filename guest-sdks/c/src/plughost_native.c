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
 * A request's answer is allocated with this file's malloc (the host calls it
 * through the table) and released by the plugin with free(): the same libc
 * whether the host is the in-process addon or the sandbox helper.
 */
#include <stdlib.h>

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
