import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PluginRegistry, PluginTrap } from "../src/index.js";
import { v8Engine } from "../src/engines/v8/engine.js";
import { pluginDir, silentHost, silentLogger } from "./helpers/plugins.js";

// A worker's onEventCatch settles its own promise as `onEvent(...).then(undefined, onRejected)` would (the registry's awaited call).
const PROBE = "test/fixtures/c/probe";
const cacheDir = mkdtempSync(path.join(tmpdir(), "plughost-worker-catch-"));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

const host = silentHost();

describe("worker onEventCatch", () => {
  it("resolves with the status, with the handler's value on a failure, rejects with what it throws; queued and later calls reach the handler", async () => {
    const probe = await v8Engine.load({ plugin: "probe", entryPath: path.join(pluginDir(PROBE), "plugin.wasm"), capabilities: [], limits: {}, host, cacheDir, isolation: "worker" });
    try {
      expect(await probe.init("0.1.0", "{}")).toBe(0);
      const seen: unknown[] = [];
      const handled = (err: unknown): number => {
        seen.push(err);
        return -1;
      };
      expect(probe.onEventCatch).toBeTypeOf("function");
      expect(await probe.onEventCatch!("len", new Uint8Array(5), handled)).toBe(5);
      // Pipelined: the call queued behind the trap fails with the same fault; both go through the handler.
      const [trap, queued] = await Promise.all([probe.onEventCatch!("trap", new Uint8Array(0), handled), probe.onEventCatch!("len", new Uint8Array(3), handled)]);
      expect([trap, queued]).toEqual([-1, -1]);
      expect(seen[0]).toBeInstanceOf(PluginTrap);
      expect(seen[1]).toBeInstanceOf(PluginTrap);
      expect((seen[1] as Error).message).toBe((seen[0] as Error).message);
      // A faulted instance: the handler sees the fault; what it throws rejects the call.
      const thrown = new Error("mapped");
      const later = probe.onEventCatch!("len", new Uint8Array(1), (err) => {
        seen.push(err);
        throw thrown;
      });
      await expect(later).rejects.toBe(thrown);
      expect(seen[2]).toBe(seen[0]);
    } finally {
      await probe.dispose();
    }
  });

  it("the registry's awaited worker call answers in order and types a trap, counted once as an error", async () => {
    const registry = new PluginRegistry({ logger: silentLogger(), cacheDir, isolation: "worker", recovery: { strategy: "disable" } });
    try {
      const probe = await registry.load(pluginDir(PROBE));
      const calls = [probe.invoke("len", new Uint8Array(4)), probe.invoke("trap"), probe.invoke("len", new Uint8Array(2))].map((p) => p.catch((e: unknown) => e));
      const [ok, trap, queued] = await Promise.all(calls);
      expect(ok).toBe(4);
      expect(trap).toBeInstanceOf(PluginTrap);
      expect(queued).toBeInstanceOf(PluginTrap);
      expect((queued as Error).message).toBe((trap as Error).message);
      expect(registry.metrics("probe").errors).toBe(2);
      expect(registry.metrics("probe").faults).toBe(1);
    } finally {
      await registry.unloadAll();
    }
  });
});
