// Loads the built plugin.wasm in plughost and checks what it does.
// Run: node test.mjs (after building with `plughost build .`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { PluginRegistry } from "plughost";

const dir = path.dirname(fileURLToPath(import.meta.url));
const enc = (s) => new TextEncoder().encode(s);

test("{{name}} registers greet and answers it", async () => {
  assert.ok(existsSync(path.join(dir, "plugin.wasm")), "plugin.wasm is missing: run `plughost build .` first");
  const registry = new PluginRegistry({ cacheDir: false });
  try {
    const plugin = await registry.load(dir);
    assert.deepEqual(plugin.callbacks, ["greet"]);
    assert.equal(await plugin.invoke("greet", enc("world")), 0);
    const out = await plugin.hook("greet", enc("world"));
    assert.ok(out.ok);
    assert.equal(new TextDecoder().decode(out.data), "hello, world!");
  } finally {
    await registry.unloadAll();
  }
});
