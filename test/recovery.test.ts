// Recovery policies after an instance fault (issue 3 item 6, seeds 001 and
// 003): restart with linear or exponential backoff up to maxRetries, then
// disable; disable at once; ignore (re-instantiate without counting). Uses the
// C probe fixture, whose `trap` callback traps and `count` keeps state.
import { afterEach, describe, expect, it } from "vitest";
import { PluginRegistry, PluginTrap, type RecoveryPolicy } from "../src/index.js";
import { pluginDir, silentLogger } from "./helpers/plugins.js";

const PROBE = "test/fixtures/c/probe";

let registry: PluginRegistry;
afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
});

/** A registry with the policy, the probe loaded, and the time of every restart. */
async function withPolicy(recovery: Partial<RecoveryPolicy>) {
  registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, violationThreshold: 100, recovery });
  const probe = await registry.load(pluginDir(PROBE));
  const restarts: number[] = [];
  registry.on("restarted", () => restarts.push(performance.now()));
  return { probe, restarts };
}

/** Trap the probe and wait until it is active again; resolves to how long that took (ms). */
async function trapAndRecover(probe: Awaited<ReturnType<typeof withPolicy>>["probe"]): Promise<number> {
  const restarted = new Promise((r) => registry.once("restarted", r));
  const t0 = performance.now();
  await expect(probe.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
  await restarted;
  return performance.now() - t0;
}

describe("recovery policies", () => {
  it("restart with exponential backoff waits base, 2×base, 4×base before each re-instantiation", async () => {
    const { probe } = await withPolicy({ strategy: "restart", backoff: "exponential", baseDelayMs: 40, maxRetries: 5 });
    const waits = [await trapAndRecover(probe), await trapAndRecover(probe), await trapAndRecover(probe)];
    expect(waits[0]).toBeGreaterThanOrEqual(38);
    expect(waits[1]).toBeGreaterThanOrEqual(78);
    expect(waits[2]).toBeGreaterThanOrEqual(158);
    expect(await probe.invoke("count")).toBe(1); // a fresh instance: state was lost
    expect(registry.metrics("probe")).toMatchObject({ faults: 3, restarts: 3 });
  });

  it("restart with linear backoff waits base, 2×base, 3×base (not 4×base)", async () => {
    const { probe } = await withPolicy({ strategy: "restart", backoff: "linear", baseDelayMs: 150, maxRetries: 5 });
    const waits = [await trapAndRecover(probe), await trapAndRecover(probe), await trapAndRecover(probe)];
    expect(waits[0]).toBeGreaterThanOrEqual(148);
    expect(waits[1]).toBeGreaterThanOrEqual(298);
    expect(waits[2]).toBeGreaterThanOrEqual(448);
    // Exponential would wait 600 ms here; re-instantiating the probe takes a few ms.
    expect(waits[2]).toBeLessThan(590);
  });

  it("disables the plugin once maxRetries restarts are used up", async () => {
    const { probe } = await withPolicy({ strategy: "restart", backoff: "linear", baseDelayMs: 0, maxRetries: 2 });
    await trapAndRecover(probe);
    await trapAndRecover(probe);
    await expect(probe.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
    expect(probe.state).toBe("error");
    await expect(probe.invoke("count")).rejects.toMatchObject({ code: "E_PLUGIN_NOT_RUNNING" });
    expect(registry.metrics("probe")).toMatchObject({ faults: 3, restarts: 2 });
  });

  it("disable stops the plugin at the first fault", async () => {
    const { probe, restarts } = await withPolicy({ strategy: "disable" });
    await expect(probe.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
    expect(probe.state).toBe("error");
    await expect(probe.invoke("count")).rejects.toMatchObject({ code: "E_PLUGIN_NOT_RUNNING" });
    expect(restarts).toHaveLength(0);
  });

  it("ignore re-instantiates after every fault without spending retries", async () => {
    const { probe } = await withPolicy({ strategy: "ignore", maxRetries: 1, baseDelayMs: 0 });
    for (let i = 0; i < 4; i++) await trapAndRecover(probe);
    expect(probe.state).toBe("active");
    expect(await probe.invoke("count")).toBe(1);
    expect(registry.metrics("probe")).toMatchObject({ faults: 4, restarts: 4 });
    expect(registry.violationCount("probe")).toBe(4);
  });
});
