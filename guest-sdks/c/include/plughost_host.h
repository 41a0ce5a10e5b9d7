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
} PlughostNativeHost;

/* The plugin's export the host calls; returns the PLUGHOST_NATIVE_ABI the SDK speaks. */
typedef uint32_t (*PlughostNativeBindFn)(const PlughostNativeHost *table);

#ifdef __cplusplus
}
#endif
#endif /* PLUGHOST_HOST_H */
