/* hello: logs on init, registers `greet`, and answers it.
 * Written against the legacy C ABI only, so it also builds as a native .so. */
#include <plughost.h>
#include <string.h>

static int32_t on_greet(PluginContext *ctx, const char *data, uint32_t len) {
  char msg[256];
  uint32_t n = len > 200 ? 200 : len;
  memcpy(msg, "hello, ", 7);
  memcpy(msg + 7, data, n);
  memcpy(msg + 7 + n, "!", 2);
  ctx->log(ctx, LOG_INFO, msg);
  /* As a hook, `greet` answers with the greeting itself. */
  return plughost_hook_output((const uint8_t *)msg, (uint32_t)strlen(msg));
}

int32_t plugin_init(PluginContext *ctx) {
  ctx->log(ctx, LOG_INFO, "hello from C");
  return ctx->register_callback(ctx, "greet", on_greet);
}

int32_t plugin_teardown(PluginContext *ctx) {
  ctx->log(ctx, LOG_INFO, "goodbye from C");
  return 0;
}
