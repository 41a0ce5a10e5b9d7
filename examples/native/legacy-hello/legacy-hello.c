/* legacy-hello: written only against the legacy C ABI of plughost.h
 * (plugin_init, plugin_teardown, ctx->register_callback, ctx->log), so the
 * same source builds as a native .so and as a Wasm component.
 *
 *   native:  cc -shared -fPIC -O2 -I guest-sdks/c/include legacy-hello.c -o legacy-hello.so
 *   wasm:    node guest-sdks/c/build.mjs examples/native/legacy-hello
 */
#include <plughost.h>
#include <string.h>

static int32_t on_greet(PluginContext *ctx, const char *data, uint32_t len) {
  char msg[256] = "hello, ";
  uint32_t n = len > 200 ? 200 : len;
  memcpy(msg + 7, data, n);
  memcpy(msg + 7 + n, "!", 2);
  ctx->log(ctx, LOG_INFO, msg);
  return 0;
}

int32_t plugin_init(PluginContext *ctx) {
  ctx->log(ctx, LOG_INFO, "legacy-hello: init");
  return ctx->register_callback(ctx, "greet", on_greet);
}

int32_t plugin_teardown(PluginContext *ctx) {
  ctx->log(ctx, LOG_INFO, "legacy-hello: teardown");
  return 0;
}
