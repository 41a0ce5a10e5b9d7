// transform-js: registers `transform`; the hook uppercases ASCII bytes.
import { definePlugin, registerCallback } from "@plughost/guest";

function upper(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data);
  for (let i = 0; i < out.length; i++) {
    const b = out[i]!;
    if (b >= 0x61 && b <= 0x7a) out[i] = b - 0x20;
  }
  return out;
}

export const guest = definePlugin({
  init() {
    return registerCallback("transform").err ? 1 : 0;
  },
  onEvent() {
    return 0;
  },
  onHook(name, data) {
    return name === "transform" ? { ok: upper(data) } : { err: -100 };
  },
});
