// src/engines/v8/compile.ts reuses work across loads of the same content: the imported glue module when the
// verified glue bytes equal those imported before, and a large component's hash when its bytes equal those of one
// in the memory cache. The bytes decide in both: glue that changed (even sealed with the cache's own key) is
// imported anew, and a component differing in one byte is compiled on its own.
import { describe, it, expect } from "vitest";
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { clearCompileCache, compileComponent, stubLargeModules } from "../src/engines/v8/compile.js";
import { cacheMac, CACHE_KEY_FILE } from "../src/runtime/cache-dir.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const C_HELLO = path.join(root, "examples", "c", "hello", "plugin.wasm");
const JS_HELLO = path.join(root, "examples", "js", "hello", "plugin.wasm");

describe("reuse across loads of the same content", () => {
  it("reuses the imported glue for identical verified glue, and imports changed glue anew", async () => {
    const bytes = new Uint8Array(readFileSync(C_HELLO));
    const cacheDir = mkdtempSync(path.join(tmpdir(), "plughost-glue-reuse-"));
    try {
      clearCompileCache();
      const first = await compileComponent(bytes, { file: C_HELLO, plugin: "hello-c", cacheDir });
      clearCompileCache();
      const again = await compileComponent(bytes, { file: C_HELLO, plugin: "hello-c", cacheDir }); // from the disk entry
      expect(again).not.toBe(first);
      expect(again.instantiate).toBe(first.instantiate);

      // Glue that differs yet verifies (sealed with the cache's key, as a newer jco's output would be): not the old module.
      const entry = path.join(cacheDir, "v8", first.hash);
      const meta = JSON.parse(readFileSync(path.join(entry, "meta.json"), "utf8")) as { imports: string[]; exports: string[]; files: string[]; mac: string };
      const glue = Buffer.concat([readFileSync(path.join(entry, "plugin.js")), Buffer.from("\n// a different build of the same glue\n")]);
      writeFileSync(path.join(entry, "plugin.js"), glue);
      const files = meta.files.map((name) => (name === "plugin.js" ? glue : readFileSync(path.join(entry, name))));
      const key = readFileSync(path.join(cacheDir, CACHE_KEY_FILE));
      const mac = cacheMac(key, "plughost-v8-glue-1", [first.hash, JSON.stringify([meta.imports, meta.exports, meta.files]), ...files]);
      writeFileSync(path.join(entry, "meta.json"), JSON.stringify({ ...meta, mac: mac.toString("hex") }));
      clearCompileCache();
      const changed = await compileComponent(bytes, { file: C_HELLO, plugin: "hello-c", cacheDir });
      expect(changed.instantiate).not.toBe(first.instantiate);
      expect(Buffer.from(changed.glueUrl.slice(changed.glueUrl.indexOf(",") + 1), "base64").toString()).toContain("a different build of the same glue");
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("takes a held large component's hash only for identical bytes", async () => {
    const bytes = new Uint8Array(readFileSync(JS_HELLO));
    clearCompileCache();
    const first = await compileComponent(bytes, { file: JS_HELLO, plugin: "hello-js" });
    await new Promise((r) => setImmediate(r)); // the component is held once its compile has settled
    // A fresh read of the same file: the same compiled component.
    expect(await compileComponent(new Uint8Array(readFileSync(JS_HELLO)), { file: JS_HELLO, plugin: "hello-js" })).toBe(first);

    // The same length, one byte changed (the last of the large module: a letter in its `target_features` section,
    // which neither jco nor V8 reads): compiled on its own, from those bytes, never answered with the cached one.
    const original = stubLargeModules(bytes)!.modules[0]!.original;
    const at = original.byteOffset - bytes.byteOffset + original.length - 1;
    const other = new Uint8Array(bytes);
    other[at] = other[at]! ^ 1;
    const changed = await compileComponent(other, { file: JS_HELLO, plugin: "hello-js" });
    expect(changed).not.toBe(first);
    expect(changed.hash).toBe(createHash("sha256").update(other).digest("hex"));
    expect(changed.hash).not.toBe(first.hash);
    const large = [...changed.coreBytes.values()].find((m) => m.length === original.length)!;
    expect(large[large.length - 1]).toBe(other[at]);
  }, 300_000);
});
