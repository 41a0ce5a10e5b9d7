// Loads the built plugin.wasm in plughost and checks what it does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { PluginRegistry } from "plughost";

const dir = path.dirname(fileURLToPath(import.meta.url));

test("{{name}} greets", async () => {
  assert.ok(existsSync(path.join(dir, "plugin.wasm")), "plugin.wasm is missing: run `npm run build` first");
  const registry = new PluginRegistry({ cacheDir: false });
  try {
    const plugin = await registry.load(dir);
    assert.deepEqual(plugin.callbacks, ["greet"]);
    assert.equal(await plugin.invoke("greet", new TextEncoder().encode("world")), 0);
    const out = await plugin.hook("greet", new TextEncoder().encode("world"));
    assert.ok(out.ok);
    assert.equal(new TextDecoder().decode(out.data), "hello, world!");
  } finally {
    await registry.unloadAll();
  }
});
