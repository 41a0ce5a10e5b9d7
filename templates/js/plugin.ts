// The plugin: register callbacks in init, answer them in onEvent / onHook.
// Build: `plughost build .` (writes plugin.wasm). Test: `node test.mjs`.
import { definePlugin, info, registerCallback, bytes, text } from "@plughost/guest";

export const guest = definePlugin({
  init(apiVersion) {
    info(`{{name}} init (api ${apiVersion})`);
    return registerCallback("greet").err ? 1 : 0;
  },
  teardown() {
    return 0;
  },
  onEvent(name, data) {
    if (name !== "greet") return -100;
    info(`hello, ${text(data)}!`);
    return 0;
  },
  onHook(name, data) {
    if (name !== "greet") return { err: -100 };
    return bytes(`hello, ${text(data)}!`);
  },
});
