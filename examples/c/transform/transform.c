/* transform: a hook that uppercases its bytes. */
#include <plughost.h>
#include <stdlib.h>

static int32_t upper(PluginContext *ctx, const char *event, const uint8_t *data, uint32_t len) {
  (void)ctx;
  (void)event;
  uint8_t small[256];
  uint8_t *out = len <= sizeof small ? small : malloc(len);
  if (!out) return PLUGHOST_ERR_NO_MEMORY;
  for (uint32_t i = 0; i < len; i++) out[i] = (data[i] >= 'a' && data[i] <= 'z') ? data[i] - 32 : data[i];
  int32_t rc = plughost_hook_output(out, len);
  if (out != small) free(out);
  return rc;
}

static int32_t on_transform(PluginContext *ctx, const char *data, uint32_t len) {
  (void)ctx;
  (void)data;
  (void)len;
  return 0;
}

int32_t plugin_init(PluginContext *ctx) {
  int32_t rc = ctx->register_callback(ctx, "transform", on_transform);
  if (rc) return rc;
  return plughost_register_hook(ctx, "transform", upper);
}

int32_t plugin_teardown(PluginContext *ctx) {
  (void)ctx;
  return 0;
}
