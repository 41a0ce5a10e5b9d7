// Hostile plugins against the limits and the lifecycle (issue 11): table.grow
// bombs, a 4 GiB memory minimum, an init that never returns and an unload of
// a plugin stuck in a call. Each must end with a typed error or a refused
// grow, the host alive and bounded, and another plugin still answering, on
// every engine and isolation mode where it applies.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_LIMITS,
  DeadlineExceeded,
  FuelExhausted,
  InstanceFault,
  LimitCapError,
  MemoryLimitExceeded,
  TableLimitExceeded,
  PluginRegistry,
  createLimits,
  instrumentModule,
  validateHostConfig,
  type RegistryOptions,
} from "../src/index.js";
import { liveWorkerCount } from "../src/engines/v8/worker/host.js";
import { buildFixtures } from "./fixtures/hostile-limits/build.mjs";
import { fixture as nativeFixture } from "./native-helpers.js";
import { silentLogger } from "./helpers/plugins.js";

type Variant = Awaited<ReturnType<typeof buildFixtures>>;
let fx: Variant;
beforeAll(async () => {
  fx = await buildFixtures();
});

const dirs: string[] = [];
const cacheDir = mkdtempSync(path.join(tmpdir(), "plughost-hostile-limits-cache-"));
dirs.push(cacheDir);
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const registries: PluginRegistry[] = [];
const newRegistry = (options: RegistryOptions = {}) => {
  const r = new PluginRegistry({ logger: silentLogger(), cacheDir, ...options });
  registries.push(r);
  return r;
};
afterEach(async () => {
  for (const r of registries.splice(0)) await r.unloadAll().catch(() => undefined);
});

/** A plugin directory holding one of the WAT components under `name`. */
function plugin(variant: keyof Variant, name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `plughost-hostile-limits-${name}-`));
  dirs.push(dir);
  copyFileSync(fx[variant], path.join(dir, "plugin.wasm"));
  writeFileSync(path.join(dir, "plugin.toml"), `name = "${name}"\nversion = "0.1.0"\napi-version = "^0.1.0"\nkind = "component"\nentry = "plugin.wasm"\n`);
  return dir;
}

const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const echo = new TextEncoder().encode("still here");
const MiB = 1024 * 1024;
/** Limits that never run out within a test, so only the limit under test can end a call. */
const NO_FUEL_END = { fuel: 1e15, deadlineMs: 600_000 };

/** A bystander plugin must keep answering whatever the hostile one did. */
async function bystanderAnswers(registry: PluginRegistry): Promise<void> {
  const name = `bystander-${registry.count}`;
  const other = await registry.load(plugin("plain", name));
  expect(await other.invoke("echo", echo)).toBe(echo.length);
}

const V8_MODES = [
  ["v8 in process", {}],
  ["v8 worker", { isolation: "worker" }],
] as const satisfies readonly (readonly [string, RegistryOptions])[];
const WASMTIME = { engine: "wasmtime" } as const;

describe("the summed table cap in the instrumenter", () => {
  // Two tables in one module, and a second instance of it sharing the same Limits.
  let bytes: Uint8Array;
  beforeAll(async () => {
    const { parse } = await import("@bytecodealliance/jco-transpile/wasm-tools");
    bytes = await parse(`(module (table $a 1 funcref) (table $b 1 10 funcref)
      (func (export "ga") (param i32) (result i32) (table.grow $a (ref.null func) (local.get 0)))
      (func (export "gb") (param i32) (result i32) (table.grow $b (ref.null func) (local.get 0))))`);
  });

  it("caps the elements of all tables of all modules together, initial sizes included", () => {
    const seen: string[] = [];
    const r = instrumentModule(bytes, { fuel: false, tableElements: 20 });
    expect(r.definedTableElements).toBe(2);
    const limits = createLimits({ tableElements: 20, onViolation: (_k, d) => seen.push(d) });
    limits.admitModule(r, "m1", true);
    limits.admitModule(r, "m2", true);
    expect(limits.tableUsedElements).toBe(4);
    const a = new WebAssembly.Instance(new WebAssembly.Module(r.bytes), limits.imports).exports as Record<string, (n: number) => number>;
    const b = new WebAssembly.Instance(new WebAssembly.Module(r.bytes), limits.imports).exports as Record<string, (n: number) => number>;
    expect(a.ga!(10)).toBe(1); // 14 in all
    expect(b.ga!(6)).toBe(1); // 20 in all: the cap
    expect(b.ga!(1)).toBe(-1);
    expect(a.ga!(1)).toBe(-1);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatch(/table\.grow by 1 elements refused: the instance's tables hold 20 elements in all, and the cap is 20/);
    expect(limits.tableUsedElements).toBe(20);
  });

  it("gives the reservation back when the table's own maximum refuses the grow", () => {
    const r = instrumentModule(bytes, { fuel: false, tableElements: 100 });
    const limits = createLimits({ tableElements: 100 });
    limits.admitModule(r);
    const e = new WebAssembly.Instance(new WebAssembly.Module(r.bytes), limits.imports).exports as Record<string, (n: number) => number>;
    expect(e.gb!(50)).toBe(-1); // table $b has a maximum of 10
    expect(limits.tableUsedElements).toBe(2);
    expect(limits.violations).toBe(0);
  });

  it("refuses a module whose tables start over the summed cap with LimitCapError naming the plugin", () => {
    const r = instrumentModule(bytes, { fuel: false, tableElements: 3 });
    const limits = createLimits({ tableElements: 3, plugin: "p" });
    limits.admitModule(r, "guest.wasm#core0"); // 2 of 3
    let err: unknown;
    try {
      limits.admitModule(r, "guest.wasm#core1");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LimitCapError);
    expect(err).toMatchObject({ code: "E_MEMORY_LIMIT", plugin: "p", kind: "table", minimum: 4, cap: 3 });
    expect((err as Error).message).toMatch(/guest\.wasm#core1: the instance's tables would start with 4 elements in all, over the cap of 3 elements; raise limits\.tableElements/);
  });
});

describe.each([...V8_MODES, ["wasmtime", WASMTIME] as const])("table.grow bombs, %s", (_mode, modeOptions: RegistryOptions) => {
  it("64 tables grown with nothing configured: refused at the default summed cap, host bounded, others answer", async () => {
    // A threshold above the 55 refusals, so the plugin stays loaded and can be called again.
    const registry = newRegistry({ ...modeOptions, violationThreshold: 1000 });
    const bomb = await registry.load(plugin("tables64", "bomb64"));
    const rss = process.memoryUsage().rss;
    // 100,000 elements a grow, every table until it is refused: ~640 million elements without a summed cap.
    const granted = await bomb.invoke("grow", u32(100_000));
    expect(granted).toBe(900_000); // 64 initial + 9 grows; every later grow, on any table, is refused
    expect(granted + 64).toBeLessThanOrEqual(DEFAULT_LIMITS.tableElements!);
    const refusals = registry.violations("bomb64");
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals[0]).toMatchObject({ kind: "memory" });
    expect(refusals[0]!.detail).toMatch(/table\.grow .*refused.*cap (is )?1000000/);
    expect(process.memoryUsage().rss - rss).toBeLessThan(512 * MiB);
    // The plugin itself keeps running: a refused grow is not a fault.
    expect(await bomb.invoke("echo", echo)).toBe(echo.length);
    await bystanderAnswers(registry);
  });

  it("100 tables under a 1M-element table cap and a 16 MiB memory cap: the cap is on the sum", async () => {
    const registry = newRegistry({ ...modeOptions, defaultLimits: { tableElements: 1_000_000, memoryBytes: 16 * MiB } });
    const bomb = await registry.load(plugin("tables100", "bomb100"));
    const rss = process.memoryUsage().rss;
    const unmounted = new Promise((resolve) => registry.once("unmounted", resolve));
    const granted = await bomb.invoke("grow", u32(250_000));
    expect(granted).toBe(750_000);
    expect(registry.violations("bomb100").every((v) => v.kind === "memory")).toBe(true);
    // 100 refused grows are past the default violation threshold: the plugin is unmounted.
    await unmounted;
    expect(registry.info("bomb100").state).toBe("unloaded");
    expect(process.memoryUsage().rss - rss).toBeLessThan(512 * MiB);
    await bystanderAnswers(registry);
  });

  it("tables that start over the summed cap fail the load with a typed error naming the plugin", async () => {
    const registry = newRegistry({ ...modeOptions });
    const err = await registry.load(plugin("tablesBig", "bigtables")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TableLimitExceeded);
    expect(err).toMatchObject({ code: "E_TABLE_LIMIT", plugin: "bigtables", export: "instantiate", limitElements: 1_000_000 });
    expect((err as Error).message).toMatch(/cap of 1000000 table elements \(summed over all its tables\); raise limits\.tableElements/);
    if (modeOptions !== WASMTIME) {
      expect(((err as Error).cause as Error).message).toMatch(/tables would start with 200000\d elements in all, over the cap of 1000000 elements/);
    }
    expect(registry.info("bigtables").state).toBe("unloaded");
    await bystanderAnswers(registry);
  });
});

describe("finite default limits", () => {
  it("are fuel 1e9 per call, 256 MiB, 1,000,000 table elements, 10 s deadline and init deadline, 2 s unload grace, 10 MiB / 10,000 keys of state, 256 open files, 64 connections, 1 GiB written per fs:write directory", () => {
    expect(DEFAULT_LIMITS).toEqual({
      fuel: 1_000_000_000,
      memoryBytes: 256 * MiB,
      tableElements: 1_000_000,
      deadlineMs: 10_000,
      initDeadlineMs: 10_000,
      unloadGraceMs: 2_000,
      stateBytes: 10 * MiB,
      stateKeys: 10_000,
      openFiles: 256,
      connections: 64,
      fsWriteBytes: 1024 * MiB,
    });
  });

  it.each([...V8_MODES, ["wasmtime", { engine: "wasmtime" }] as const])(
    "a component declaring a 4 GiB minimum memory is refused by default with a typed error (%s)",
    async (_mode, modeOptions) => {
      const registry = newRegistry({ ...modeOptions });
      const err = await registry.load(plugin("memory4g", "huge")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MemoryLimitExceeded);
      expect(err).toMatchObject({ code: "E_MEMORY_LIMIT", plugin: "huge" });
      expect((err as Error).message).toMatch(/268435456/);
      await bystanderAnswers(registry);
    },
  );

  it('defaultLimits: "unlimited" opts out (the 4 GiB minimum then loads), and the host config accepts it', async () => {
    const registry = newRegistry({ defaultLimits: "unlimited" });
    const huge = await registry.load(plugin("memory4g", "huge"));
    expect(await huge.invoke("echo", echo)).toBe(echo.length);
    expect(validateHostConfig({ defaultLimits: "unlimited" }).defaultLimits).toBe("unlimited");
  });

  it("the host config takes initDeadlineMs and unloadGraceMs, in timer range, and nothing but \"unlimited\" as a string", () => {
    expect(validateHostConfig({ defaultLimits: { initDeadlineMs: 500, unloadGraceMs: 100 } }).defaultLimits).toEqual({ initDeadlineMs: 500, unloadGraceMs: 100 });
    expect(() => validateHostConfig({ defaultLimits: { initDeadlineMs: 0 } })).toThrow(/\/defaultLimits\/initDeadlineMs: must be a whole number of milliseconds from 1 to 2147483647, got 0$/);
    expect(() => validateHostConfig({ maxLimits: { unloadGraceMs: 2 ** 31 } })).toThrow(/\/maxLimits\/unloadGraceMs/);
    expect(() => validateHostConfig({ defaultLimits: "none" })).toThrow(/\/defaultLimits: must be "unlimited", got "none"/);
  });

  it("a manifest or defaultLimits changes one field and keeps the other defaults; maxLimits caps them", async () => {
    const registry = newRegistry({ defaultLimits: { memoryBytes: 8 * MiB }, maxLimits: { tableElements: 500_000 } });
    const bomb = await registry.load(plugin("tables64", "bomb64"));
    // The built-in table default (1,000,000) is lowered to the host's maximum.
    expect(await bomb.invoke("grow", u32(100_000))).toBe(400_000);
    await bystanderAnswers(registry);
  });
});

describe("a manifest asks, the host decides", () => {
  /** `plugin()` with a `[limits]` table appended to its manifest. */
  function asking(variant: keyof Variant, name: string, limits: string): string {
    const dir = plugin(variant, name);
    writeFileSync(path.join(dir, "plugin.toml"), `name = "${name}"\nversion = "0.1.0"\napi-version = "^0.1.0"\nkind = "component"\nentry = "plugin.wasm"\n[limits]\n${limits}\n`);
    return dir;
  }

  it.each([...V8_MODES, ["wasmtime", WASMTIME] as const])(
    "a manifest cannot raise a limit past the default when the host set no maxLimits (%s)",
    async (_mode, modeOptions) => {
      const registry = newRegistry({ ...modeOptions });
      const err = await registry.load(asking("memory4g", "greedy", 'memory = "4GiB"\ntable-elements = 4000000000')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MemoryLimitExceeded);
      expect(err).toMatchObject({ code: "E_MEMORY_LIMIT", plugin: "greedy" });
      await bystanderAnswers(registry);
    },
  );

  it("a manifest may raise a limit up to the host's maxLimits, and lower any", async () => {
    // A threshold above the refused grows below, so the plugin stays loaded.
    const registry = newRegistry({ maxLimits: { memoryBytes: 5 * 1024 * MiB }, violationThreshold: 1000 });
    const huge = await registry.load(asking("memory4g", "allowed", 'memory = "4GiB"'));
    expect(await huge.invoke("echo", echo)).toBe(echo.length);
    const small = await registry.load(asking("tables64", "modest", "table-elements = 1000"));
    // 1,000 elements in all: the 64 tables' initial elements fit, no grow of 100,000 does.
    expect(await small.invoke("grow", u32(100_000))).toBe(0);
  });
});

describe("init that never returns", () => {
  it("v8 in process: the default fuel ends it with FuelExhausted instead of freezing the host", async () => {
    const registry = newRegistry();
    const started = performance.now();
    const err = await registry.load(plugin("initSpin", "stuck-init")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FuelExhausted);
    expect(err).toMatchObject({ plugin: "stuck-init", budget: 1_000_000_000 });
    expect((err as FuelExhausted).export).toMatch(/init/);
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(registry.info("stuck-init").state).toBe("unloaded");
    await bystanderAnswers(registry);
  });

  it.each([
    ["v8 worker", { isolation: "worker" }, NO_FUEL_END],
    ["wasmtime", WASMTIME, NO_FUEL_END],
  ] as const)("%s: the init deadline disposes the instance and fails the load with DeadlineExceeded", async (_mode, modeOptions, limits) => {
    const registry = newRegistry({ ...modeOptions, defaultLimits: { ...limits, initDeadlineMs: 300 } });
    const workers = liveWorkerCount();
    const states: string[] = [];
    registry.on("state", (e) => e.plugin === "stuck-init" && states.push(e.to));
    const started = performance.now();
    const err = await registry.load(plugin("initSpin", "stuck-init")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceeded);
    expect(err).toMatchObject({ code: "E_DEADLINE_EXCEEDED", plugin: "stuck-init", export: "init", deadlineMs: 300 });
    expect((err as Error).message).toMatch(/initDeadlineMs/);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(states).toEqual(["loading", "loaded", "initializing", "error", "unloading", "unloaded"]);
    expect(liveWorkerCount()).toBe(workers);
    await bystanderAnswers(registry);
  }, 20_000);
});

describe("unload of a plugin stuck in a call", () => {
  /** Load the plugin and start a call that never returns; resolves (to that call) once it runs. */
  const stuckIn = async (registry: PluginRegistry, dir: string): Promise<{ call: Promise<unknown> }> => {
    const handle = await registry.load(dir);
    const call = handle.invoke("spin").catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100)); // the call is running
    return { call };
  };

  it.each([
    ["v8 worker", { isolation: "worker" }, NO_FUEL_END],
    ["wasmtime", WASMTIME, NO_FUEL_END],
  ] as const)("%s: ends the instance after the unload grace period and completes the unload", async (_mode, modeOptions, limits) => {
    const registry = newRegistry({ ...modeOptions, defaultLimits: { ...limits, unloadGraceMs: 300 } });
    const workers = liveWorkerCount();
    const { call } = await stuckIn(registry, plugin("plain", "stuck"));
    const started = performance.now();
    const err = await registry.unload("stuck").catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(err).toBeInstanceOf(DeadlineExceeded);
    expect(err).toMatchObject({ plugin: "stuck", export: "teardown", deadlineMs: 300 });
    expect((err as Error).message).toMatch(/unloadGraceMs.*killed/);
    expect(registry.info("stuck").state).toBe("unloaded");
    expect(registry.violations("stuck").map((v) => v.kind)).toEqual(["deadline"]);
    expect(await call).toBeInstanceOf(InstanceFault);
    expect(liveWorkerCount()).toBe(workers);
    await bystanderAnswers(registry);
  }, 20_000);

  it("native sandbox: the same, for an untrusted native plugin spinning in a call", async () => {
    const registry = newRegistry({ defaultLimits: { ...NO_FUEL_END, unloadGraceMs: 300 } });
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-hostile-limits-native-"));
    dirs.push(dir);
    copyFileSync(nativeFixture("hostile"), path.join(dir, "hostile.so"));
    writeFileSync(
      path.join(dir, "plugin.toml"),
      `name = "stuck-native"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "hostile.so"\ntrust = "untrusted"\n`,
    );
    const { call } = await stuckIn(registry, dir);
    const started = performance.now();
    const err = await registry.unload("stuck-native").catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(err).toBeInstanceOf(DeadlineExceeded);
    expect(registry.info("stuck-native").state).toBe("unloaded");
    expect(await call).toBeInstanceOf(InstanceFault);
    await bystanderAnswers(registry);
  }, 20_000);

  it.each([
    ["v8 worker", { isolation: "worker" }],
    ["wasmtime", { engine: "wasmtime" }],
  ] as const)("%s: after a deadline kill, unload skips teardown instead of reporting a status it never got", async (_mode, modeOptions) => {
    const registry = newRegistry({ ...modeOptions, defaultLimits: { fuel: 1e15, deadlineMs: 300 }, recovery: { strategy: "disable" } });
    const { call } = await stuckIn(registry, plugin("plain", "killed"));
    // Unload while the call is still running: teardown waits behind it, then the deadline kills it.
    await expect(registry.unload("killed")).resolves.toBeUndefined();
    expect(await call).toBeInstanceOf(DeadlineExceeded);
    expect(registry.info("killed").state).toBe("unloaded");
    await bystanderAnswers(registry);
  }, 20_000);
});
