import { afterEach, describe, expect, it } from "vitest";
import { FuelExhausted, PluginRegistry } from "../src/index.js";
import { pluginDir, silentLogger } from "./helpers/plugins.js";

const PROBE = "test/fixtures/c/probe";
let registry: PluginRegistry;
const newRegistry = (options: ConstructorParameters<typeof PluginRegistry>[0] = {}) =>
  (registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, ...options }));
afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
});

describe("limits on the v8 engine", () => {
  it("stops a runaway loop with FuelExhausted, records it and re-instantiates", async () => {
    newRegistry({ defaultLimits: { fuel: 2_000_000 } });
    const probe = await registry.load(pluginDir(PROBE));
    expect(await probe.invoke("count")).toBe(1);
    const err = await probe.invoke("spin").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FuelExhausted);
    expect((err as FuelExhausted).budget).toBe(2_000_000);
    expect((err as FuelExhausted).plugin).toBe("probe");
    expect(registry.violations("probe").map((v) => v.kind)).toEqual(["fuel"]);
    // State is lost with the discarded instance.
    expect(await probe.invoke("count")).toBe(1);
  });

  it("reports the fuel a call used", async () => {
    newRegistry({ defaultLimits: { fuel: 10_000_000 } });
    const probe = await registry.load(pluginDir(PROBE));
    await probe.invoke("grow", new Uint8Array([1]));
    const small = registry.metrics("probe").lastCallFuel;
    await probe.invoke("grow", new Uint8Array([4]));
    const big = registry.metrics("probe").lastCallFuel;
    expect(small).toBeGreaterThan(1000);
    // Four times the allocations: about four times the fuel.
    expect(big / small).toBeGreaterThan(3);
    expect(big / small).toBeLessThan(5);
  });

  it("refuses memory growth past the cap: malloc fails in the guest and a violation is recorded", async () => {
    newRegistry({ defaultLimits: { memoryBytes: 4 * 1024 * 1024 } });
    const probe = await registry.load(pluginDir(PROBE));
    expect(await probe.invoke("grow", new Uint8Array([1]))).toBe(0);
    expect(await probe.invoke("grow", new Uint8Array([16]))).toBe(1);
    const kinds = registry.violations("probe").map((v) => v.kind);
    expect(kinds.length).toBeGreaterThan(0);
    expect(new Set(kinds)).toEqual(new Set(["memory"]));
    // The plugin keeps running: a refused grow is not a fault.
    expect(await probe.invoke("ok")).toBe(42);
  });

  it("unloads a plugin past its violation threshold and tells the app", async () => {
    newRegistry({ defaultLimits: { fuel: 200_000 }, violationThreshold: 3 });
    const probe = await registry.load(pluginDir(PROBE));
    const unmounted = new Promise<{ plugin: string; violations: number }>((resolve) => registry.once("unmounted", resolve));
    for (let i = 0; i < 3; i++) await expect(probe.invoke("spin")).rejects.toBeInstanceOf(FuelExhausted);
    const event = await unmounted;
    expect(event).toMatchObject({ plugin: "probe", violations: 3 });
    expect(registry.info("probe").state).toBe("unloaded");
  });

  it("disables a plugin under the disable recovery policy", async () => {
    newRegistry({ defaultLimits: { fuel: 200_000 }, recovery: { strategy: "disable" } });
    const probe = await registry.load(pluginDir(PROBE));
    await expect(probe.invoke("spin")).rejects.toBeInstanceOf(FuelExhausted);
    expect(probe.state).toBe("error");
    await expect(probe.invoke("ok")).rejects.toMatchObject({ code: "E_PLUGIN_NOT_RUNNING" });
  });
});

describe("the metering is public", () => {
  it("instrumentFuel and createLimits from the package root stop a runaway loop in any core module", async () => {
    const root = await import("../src/index.js");
    // (module (func (export "spin") (loop (br 0))))
    const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4, 115, 112, 105, 110, 0, 0, 10, 9, 1, 7, 0, 3, 64, 12, 0, 11, 11]);
    const limits = root.createLimits({ fuel: 100_000 });
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(root.instrumentFuel(bytes).bytes), limits.imports);
    limits.beginCall();
    let caught: unknown;
    try {
      (exports.spin as () => void)();
    } catch (err) {
      caught = err;
    }
    expect(limits.abortCall(caught)).toBe(true);
    expect(limits.lastCallFuel).toBeGreaterThanOrEqual(100_000);
  });
});
