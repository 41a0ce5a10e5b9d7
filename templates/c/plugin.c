/* {{name}}: a plughost plugin in C. Build: plughost build . (or node guest-sdks/c/build.mjs .) */
#include <plughost.h>

static int32_t on_ping(PluginContext *ctx, const char *data, uint32_t len) {
  (void)data;
  ctx->log(ctx, LOG_INFO, "ping");
  /* As a hook, answer with the input unchanged; as an event, return its length. */
  return (int32_t)len;
}

int32_t plugin_init(PluginContext *ctx) {
  ctx->log(ctx, LOG_INFO, "{{name}} ready");
  return ctx->register_callback(ctx, "ping", on_ping);
}

int32_t plugin_teardown(PluginContext *ctx) {
  (void)ctx;
  return 0;
}
