// DESIGN.md, "Fuel": the same workload must report fuel use within ±10 % on
// both Wasm engines. Each plugin is loaded in a metered PluginRegistry on v8
// (the instrumenter's counter) and on wasmtime (native fuel), runs the same
// calls, and the per-call figures and the registry's lifetime `fuelUsed` are
// compared. The plugins are real components built from source by the set-up:
// the C bench fixture's compute callback, the conformance plugin of each
// guest language (a summing loop, a hook that rewrites its input, tiny calls),
// and the hand-written WAT fixture.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PluginRegistry, type PluginHandle } from "../src/index.js";
import { FuelExhausted } from "../src/contract/errors.js";
import { enc, pluginDir, root, silentLogger } from "./helpers/plugins.js";
import { fixtures } from "./fixtures/wasmtime/helpers.js";

const TOLERANCE = 0.1;
const BUDGET = 10_000_000_000; // metered on both engines, never reached by these workloads
const ENGINES = ["v8", "wasmtime"] as const;
type WasmEngine = (typeof ENGINES)[number];
// Registries use their default disk cache (shared with `plughost conformance`
// and other tests): the JS plugin takes tens of seconds to compile on wasmtime, once.

interface Call {
  label: string;
  kind: "event" | "hook";
  event: string;
  data: Uint8Array;
}

interface Measured {
  /** Fuel of init, then of each call, from `metrics.lastCallFuel`. */
  perCall: number[];
  /** `metrics.fuelUsed` after the calls: instantiation, init and every call. */
  fuelUsed: number;
  /** For each call, how far `fuelUsed` moved (must equal its `lastCallFuel`). */
  deltas: number[];
}

const bytes64k = new Uint8Array(randomBytes(65536));
const text16k = enc("The quick brown fox jumps over the lazy dog; 0123456789! ".repeat(288)); // 16,416 bytes
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);

const conformanceCalls: Call[] = [
  { label: "sum of 64 KiB", kind: "event", event: "sum", data: bytes64k },
  { label: "upper of 16 KiB", kind: "hook", event: "upper", data: text16k },
  { label: "echo of 4 KiB", kind: "hook", event: "echo", data: bytes64k.subarray(0, 4096) },
  { label: "sum of 256 B", kind: "event", event: "sum", data: bytes64k.subarray(0, 256) },
];

async function measure(engine: WasmEngine, dir: string, grants: string[], calls: Call[]): Promise<Measured> {
  const registry = new PluginRegistry({ engine, logger: silentLogger(), grants, defaultLimits: { fuel: BUDGET } });
  try {
    const handle = await registry.load(dir);
    expect(registry.info(handle.name).engine).toBe(engine);
    const perCall = [registry.metrics(handle.name).lastCallFuel];
    const deltas: number[] = [];
    for (const call of calls) {
      const before = registry.metrics(handle.name).fuelUsed;
      if (call.kind === "event") await handle.invoke(call.event, call.data);
      else expect((await handle.hook(call.event, call.data)).ok).toBe(true);
      const m = registry.metrics(handle.name);
      perCall.push(m.lastCallFuel);
      deltas.push(m.fuelUsed - before);
    }
    return { perCall, fuelUsed: registry.metrics(handle.name).fuelUsed, deltas };
  } finally {
    await registry.unloadAll();
  }
}

/** |wasmtime − v8| / v8 */
const spread = (v8: number, wasmtime: number) => Math.abs(wasmtime - v8) / v8;

interface Case {
  name: string;
  dir: () => Promise<string> | string;
  grants: (dir: string) => string[];
  calls: Call[];
}

const conformance = (lang: string, extraGrants: (dir: string) => string[]): Case => ({
  name: `conformance-${lang}`,
  dir: () => pluginDir(`examples/${lang}/conformance`),
  grants: (dir) => ["stdio", "clock", ...extraGrants(dir)],
  calls: conformanceCalls,
});

const CASES: Case[] = [
  {
    name: "C bench fixture (checksum callback)",
    dir: () => pluginDir("test/fixtures/c/bench"),
    grants: () => [],
    calls: [
      { label: "status of 16 B", kind: "event", event: "status", data: bytes64k.subarray(0, 16) },
      { label: "status of 4 KiB", kind: "event", event: "status", data: bytes64k.subarray(0, 4096) },
      { label: "status of 64 KiB", kind: "event", event: "status", data: bytes64k },
    ],
  },
  {
    name: "WAT fixture (hand-written canonical ABI)",
    // Its manifest pins engine = "wasmtime"; a copy without that line runs on either. Its deadline-ms goes too:
    // on v8 a manifest deadline moves the plugin to a worker, and this compares the in-process engines.
    dir: async () => {
      await fixtures();
      const dir = mkdtempSync(path.join(tmpdir(), "plughost-fuel-"));
      cpSync(path.join(root, "test", "fixtures", "wasmtime"), dir, { recursive: true });
      const manifest = path.join(dir, "plugin.toml");
      writeFileSync(manifest, readFileSync(manifest, "utf8").replace(/^engine = .*$/m, "").replace(/^deadline-ms = .*$/m, ""));
      return dir;
    },
    grants: () => [],
    calls: [
      { label: "sum of 1000 B", kind: "event", event: "sum", data: bytes64k.subarray(0, 1000) },
      { label: "work of 100k rounds", kind: "event", event: "work", data: u32(100_000) },
      { label: "upper of 16 KiB", kind: "hook", event: "upper", data: text16k },
    ],
  },
  conformance("c", (dir) => [`fs:read:${path.join(dir, "testdata")}`]),
  conformance("rust", (dir) => [`fs:read:${path.join(dir, "testdata")}`]),
  conformance("go", (dir) => ["random", `fs:read:${path.join(dir, "data")}`]),
  conformance("js", (dir) => [`fs:read:${path.join(dir, "testdata")}`]),
];

describe.each(CASES)("fuel on v8 and wasmtime: $name", (c) => {
  const results = new Map<WasmEngine, Measured>();

  beforeAll(async () => {
    const dir = await c.dir();
    for (const engine of ENGINES) results.set(engine, await measure(engine, dir, c.grants(dir), c.calls));
  }, 600_000);

  it.each(["init", ...c.calls.map((x) => x.label)].map((label, i) => ({ label, i })))("$label: within ±10 %", ({ i }) => {
    const v8 = results.get("v8")!.perCall[i]!;
    const wt = results.get("wasmtime")!.perCall[i]!;
    expect(v8).toBeGreaterThan(0);
    expect(wt).toBeGreaterThan(0);
    expect(spread(v8, wt), `v8 ${v8}, wasmtime ${wt}`).toBeLessThanOrEqual(TOLERANCE);
  });

  it("registry fuelUsed: grows by each call's fuel, and agrees within ±10 % over the plugin's life", () => {
    for (const engine of ENGINES) {
      const m = results.get(engine)!;
      expect(m.deltas).toEqual(m.perCall.slice(1));
      // Instantiation and init come before the first call.
      expect(m.fuelUsed).toBeGreaterThanOrEqual(m.perCall.reduce((a, b) => a + b, 0));
    }
    const v8 = results.get("v8")!.fuelUsed;
    const wt = results.get("wasmtime")!.fuelUsed;
    expect(spread(v8, wt), `v8 ${v8}, wasmtime ${wt}`).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe.each(ENGINES)("registry fuelUsed across a fuel fault on %s", (engine) => {
  let registry: PluginRegistry;
  let conf: PluginHandle;

  beforeAll(async () => {
    const dir = pluginDir("examples/c/conformance");
    registry = new PluginRegistry({
      engine,
      logger: silentLogger(),
      grants: ["stdio", "clock", `fs:read:${path.join(dir, "testdata")}`],
      defaultLimits: { fuel: 2_000_000 },
      recovery: { strategy: "restart", maxRetries: 3, backoff: "linear", baseDelayMs: 0 },
    });
    conf = await registry.load(dir);
  }, 120_000);
  afterAll(async () => {
    await registry?.unloadAll();
  });

  it("keeps the faulted instance's fuel after the restart, and counts on", async () => {
    const start = registry.metrics(conf.name).fuelUsed;
    await expect(conf.invoke("spin")).rejects.toBeInstanceOf(FuelExhausted);
    // The spin used its whole 2M budget; that instance is gone, its fuel is not.
    const afterFault = registry.metrics(conf.name).fuelUsed;
    expect(afterFault - start).toBeGreaterThanOrEqual(2_000_000);
    expect(afterFault - start).toBeLessThan(2_000_000 * (1 + TOLERANCE));
    expect(await conf.invoke("counter")).toBe(1); // a fresh instance (restart re-ran init)
    expect(registry.metrics(conf.name).restarts).toBe(1);
    const now = registry.metrics(conf.name);
    expect(now.fuelUsed).toBeGreaterThan(afterFault + now.lastCallFuel);
    expect(conf.metrics.fuelUsed).toBe(now.fuelUsed); // the handle sees the same live figure
    await registry.unload(conf.name);
    // Kept after unload, with the teardown call's fuel added.
    const unloaded = registry.metrics(conf.name);
    expect(unloaded.lastCallFuel).toBeGreaterThan(0);
    expect(unloaded.fuelUsed).toBe(now.fuelUsed + unloaded.lastCallFuel);
  });
});
