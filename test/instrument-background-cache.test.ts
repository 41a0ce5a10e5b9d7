// src/instrument/index.ts `cacheWrite: "background"` (what the v8 engine uses): the entry is sealed on the thread
// pool (cache-dir.ts cacheMacAsync, the same MAC as cacheMac) and written with temp file + rename; once
// instrumentCacheWritten() resolves it is on disk, reads back identical and verified, and a changed file is rebuilt.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { clearInstrumentCache, instrumentCacheWritten, instrumentModule } from "../src/instrument/index.js";
import { cacheMac, cacheMacAsync, cacheMacInput } from "../src/runtime/cache-dir.js";

const tmp = mkdtempSync(path.join(tmpdir(), "plughost-instrument-bg-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// (module (memory 1) (func (export "f") (result i32) (local i32) loop br 0 end i32.const 1)) as bytes:
// type () -> i32, one function, memory 1, export "f", a body with a loop.
const MODULE = new Uint8Array([
  0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
  1, 5, 1, 0x60, 0, 1, 0x7f,
  3, 2, 1, 0,
  5, 3, 1, 0, 1,
  7, 5, 1, 1, 0x66, 0, 0,
  10, 11, 1, 9, 0, 0x03, 0x40, 0x0c, 0, 0x0b, 0x41, 1, 0x0b,
]);

describe("background writes of the instrument cache", () => {
  it("cacheMacAsync over cacheMacInput is cacheMac", async () => {
    const key = randomBytes(32);
    for (const parts of [[], ["a"], ['{"x":1}', randomBytes(1 << 20)], [randomBytes(7), "é", new Uint8Array(0)]] as (string | Uint8Array)[][]) {
      expect((await cacheMacAsync(key, cacheMacInput("label", parts))).equals(cacheMac(key, "label", parts))).toBe(true);
    }
  });

  it("is on disk once instrumentCacheWritten resolves, reads back identical, and a changed file is rebuilt", async () => {
    const dir = path.join(tmp, "cache");
    clearInstrumentCache();
    const a = instrumentModule(MODULE, { cacheDir: dir, cacheWrite: "background" });
    await instrumentCacheWritten();
    expect(readdirSync(dir).sort()).toEqual([`${a.key}.json`, `${a.key}.wasm`, "cache.key"].sort());
    expect(Buffer.from(readFileSync(path.join(dir, `${a.key}.wasm`))).equals(Buffer.from(a.bytes))).toBe(true);
    // The same bytes as the synchronous write gives.
    const sync = path.join(tmp, "sync");
    clearInstrumentCache();
    const s = instrumentModule(MODULE, { cacheDir: sync });
    expect(Buffer.from(s.bytes).equals(Buffer.from(a.bytes))).toBe(true);
    // Read back from disk (verified), then a changed module file is not trusted.
    clearInstrumentCache();
    const b = instrumentModule(MODULE, { cacheDir: dir, cacheWrite: "background" });
    expect(b).not.toBe(a);
    expect(Buffer.from(b.bytes).equals(Buffer.from(a.bytes))).toBe(true);
    writeFileSync(path.join(dir, `${a.key}.wasm`), "not the module");
    clearInstrumentCache();
    const warned: string[] = [];
    const onWarning = (w: Error) => warned.push(w.message);
    process.on("warning", onWarning);
    try {
      const c = instrumentModule(MODULE, { cacheDir: dir, cacheWrite: "background" });
      expect(Buffer.from(c.bytes).equals(Buffer.from(a.bytes))).toBe(true);
      await instrumentCacheWritten();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warned.some((w) => /failed verification/.test(w))).toBe(true);
    expect(Buffer.from(readFileSync(path.join(dir, `${a.key}.wasm`))).equals(Buffer.from(a.bytes))).toBe(true);
    // No temporary file is left.
    expect(readdirSync(dir).filter((f) => f.startsWith(".") || /\.(wasm|json)\./.test(f))).toEqual([]);
  });

  it("a directory that cannot be written: the module is still returned, and the wait still resolves", async () => {
    clearInstrumentCache();
    const file = path.join(tmp, "a-file");
    writeFileSync(file, "");
    const r = instrumentModule(MODULE, { cacheDir: path.join(file, "cache"), cacheWrite: "background" });
    expect(r.bytes.length).toBeGreaterThan(MODULE.length);
    await instrumentCacheWritten();
  });
});
