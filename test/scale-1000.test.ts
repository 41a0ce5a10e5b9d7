// Scale: a thousand C plugins in one host (issue 19). Each is the bench fixture (test/fixtures/c/bench) under its
// own name, loaded through the public API; one dispatch must reach every one of them exactly once with the right
// answer, and unloading them all must leave no plugin loaded, no subscriber, and give back what the instances held.
// Behaviour only: the timings live in bench/scale.mjs.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PluginRegistry, type PluginHandle } from "../src/index.js";
import { pluginDir, silentLogger } from "./helpers/plugins.js";

const N = 1_000;
const work = mkdtempSync(path.join(tmpdir(), "plughost-scale-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** N copies of the bench plugin, named scale-0 … scale-999. */
function pluginDirs(): string[] {
  const src = pluginDir("test/fixtures/c/bench");
  const toml = readFileSync(path.join(src, "plugin.toml"), "utf8");
  expect(toml).toMatch(/^name = "bench"$/m);
  return Array.from({ length: N }, (_, i) => {
    const dir = path.join(work, "plugins", `scale-${i}`);
    mkdirSync(dir, { recursive: true });
    copyFileSync(path.join(src, "plugin.wasm"), path.join(dir, "plugin.wasm"));
    writeFileSync(path.join(dir, "plugin.toml"), toml.replace(/^name = "bench"$/m, `name = "scale-${i}"`));
    return dir;
  });
}

/** The bench plugin's `status` answer: the byte sum of its input. */
const checksum = (data: Uint8Array): number => data.reduce((s, b) => s + b, 0) & 0x7fffffff;

async function settledMemory(): Promise<{ heap: number; external: number; fds: number; threads: number }> {
  await new Promise((r) => setTimeout(r, 20)); // close callbacks queued by the last unload run first
  const gc = (globalThis as { gc?: () => void }).gc;
  expect(gc, "run vitest with --expose-gc (vitest.config.ts does)").toBeTypeOf("function");
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external, fds: readdirSync("/proc/self/fd").length, threads: readdirSync("/proc/self/task").length };
}

describe("1,000 C plugins in one host", () => {
  it("loads them, dispatches to every one with the right result, and unloads them all", { timeout: 180_000 }, async () => {
    const dirs = pluginDirs();
    const registry = new PluginRegistry({ logger: silentLogger(), cacheDir: path.join(work, "cache"), dataDir: path.join(work, "data") });
    const unloaded = new Set<string>();
    registry.on("state", (s) => {
      if (s.to === "unloaded") unloaded.add(s.plugin);
    });
    // What one loaded and unloaded plugin leaves for the life of the process (compiled code, the glue) is not counted.
    await registry.load(dirs[0]!);
    await registry.unload("scale-0");
    const before = await settledMemory();

    // Half through loadAll (manifests read side by side, entry files read ahead), half one by one.
    const handles: PluginHandle[] = await registry.loadAll(dirs.slice(0, N / 2));
    for (const dir of dirs.slice(N / 2)) handles.push(await registry.load(dir));
    expect(registry.count).toBe(N);
    expect(handles.every((h) => h.state === "active")).toBe(true);
    expect(registry.subscribers("status")).toHaveLength(N);
    expect(new Set(registry.subscribers("status")).size).toBe(N);

    // Two payloads, so that a stale or shared answer cannot pass.
    for (const data of [new Uint8Array(16).fill(7), Uint8Array.from({ length: 16 }, (_, i) => 200 + i)]) {
      const results = await registry.dispatch("status", data);
      expect(results).toHaveLength(N);
      const want = checksum(data);
      const seen = new Set<string>();
      for (const r of results) {
        expect(r.error, `${r.plugin}: ${r.error?.message}`).toBeUndefined();
        expect(r.status, r.plugin).toBe(want);
        expect(seen.has(r.plugin), `${r.plugin} answered twice`).toBe(false);
        seen.add(r.plugin);
      }
      for (let i = 0; i < N; i++) expect(seen.has(`scale-${i}`), `scale-${i} was not called`).toBe(true);
    }
    for (const h of handles) expect(h.metrics.calls, h.name).toBe(2);
    const loaded = await settledMemory();

    await registry.unloadAll();
    expect(registry.count).toBe(0);
    expect(registry.listLoaded()).toEqual([]);
    expect(registry.subscribers("status")).toEqual([]);
    expect(handles.every((h) => h.state === "unloaded")).toBe(true);
    for (let i = 0; i < N; i++) expect(unloaded.has(`scale-${i}`), `scale-${i} never reached unloaded`).toBe(true);
    expect(await registry.dispatch("status", new Uint8Array(16))).toEqual([]);

    // The instances are gone: what loading them added to the heap and to external memory (their linear memories)
    // is given back, but for the registry's bookkeeping of unloaded plugins (their metrics survive an unload).
    const after = await settledMemory();
    const heapAdded = loaded.heap - before.heap;
    const externalAdded = loaded.external - before.external;
    expect(heapAdded, "loading 1,000 plugins added heap").toBeGreaterThan(0);
    expect(after.heap - before.heap, `heap after unload (+${heapAdded} B while loaded)`).toBeLessThan(heapAdded * 0.5);
    expect(after.external - before.external, `external memory after unload (+${externalAdded} B while loaded)`).toBeLessThan(Math.max(externalAdded * 0.1, 1 << 20));
    expect(after.fds).toBeLessThanOrEqual(before.fds);
    expect(after.threads).toBeLessThanOrEqual(before.threads);
    await registry.close();
  });
});
