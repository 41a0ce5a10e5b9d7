import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { v8Engine } from "../src/engines/v8/engine.js";
import type { EngineInstance } from "../src/engines/engine.js";
import { pluginDir, silentHost } from "./helpers/plugins.js";

// memoryBytes follows the guest's memory as it grows, in process (the cached view's length) and from a worker (the
// figure the worker publishes after each call): both read the same after the same calls.
const PROBE = path.join(pluginDir("test/fixtures/c/probe"), "plugin.wasm");
const cacheDir = mkdtempSync(path.join(tmpdir(), "plughost-memory-bytes-"));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

const host = silentHost();

const load = async (isolation: "worker" | undefined): Promise<EngineInstance> => {
  const i = await v8Engine.load({ plugin: "probe", entryPath: PROBE, capabilities: [], limits: { fuel: 1e9, memoryBytes: 64 << 20 }, host, cacheDir, ...(isolation ? { isolation } : {}) });
  expect(await i.init("0.1.0", "{}")).toBe(0);
  return i;
};

describe("memoryBytes as the guest's memory grows", () => {
  it("in process and in a worker: grows by what the guest allocated, the same figure on both", async () => {
    const inproc = await load(undefined);
    const worker = await load("worker");
    try {
      const seen: [number, number][] = [];
      for (const i of [inproc, worker]) {
        const before = i.memoryBytes!();
        expect(await i.onEvent("len", new Uint8Array(3))).toBe(3);
        expect(i.memoryBytes!()).toBe(before);
        // 2 × 16 blocks of 64 KiB: at least 2 MiB more.
        expect(await i.onEvent("grow", new Uint8Array([2]))).toBe(0);
        const after = i.memoryBytes!();
        expect(after - before).toBeGreaterThanOrEqual(2 << 20);
        expect(after % 65536).toBe(0);
        expect(await i.onEvent("grow", new Uint8Array([1]))).toBe(0);
        seen.push([after, i.memoryBytes!()]);
      }
      expect(seen[1]).toEqual(seen[0]);
      expect(seen[0]![1]).toBeGreaterThan(seen[0]![0]);
    } finally {
      await inproc.dispose();
      await worker.dispose();
    }
  });
});
