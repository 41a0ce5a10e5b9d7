// Plugin health (docs/observability.md, "Health"): healthy → warning → critical with real faults, restarts,
// violations and error rates of a C plugin, and back to healthy once they leave the window or are reset.
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_HEALTH_OPTIONS, PluginRegistry, type PluginHealth, type RegistryOptions } from "../src/index.js";
import { pluginDir, silentLogger } from "./helpers/plugins.js";

const PROBE = "test/fixtures/c/probe";
const HELLO = "examples/c/hello";
const WINDOW = 300;
/** A window that holds three restarts, which re-instantiate the plugin (slow on a loaded CI machine). */
const LONG_WINDOW = 3000;

let registry: PluginRegistry | undefined;
const newRegistry = (options: RegistryOptions = {}) =>
  (registry = new PluginRegistry({
    logger: silentLogger(),
    cacheDir: false,
    recovery: { strategy: "restart", baseDelayMs: 0, maxRetries: 100 },
    ...options,
  }));

afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
  registry = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Trap the probe and wait until its instance is back; `forget`: reset its violations (a trap is one). */
async function trap(r: PluginRegistry, forget = false): Promise<void> {
  const back = new Promise<void>((resolve) => r.once("restarted", () => resolve()));
  await expect(r.invoke("probe", "trap")).rejects.toMatchObject({ code: "E_TRAP" });
  await back;
  if (forget) r.resetViolations("probe");
}

describe("health", () => {
  it("the defaults are the documented ones", () => {
    expect(DEFAULT_HEALTH_OPTIONS).toMatchObject({ windowMs: 60_000, errorRateWarning: 0.05, errorRateCritical: 0.5, minCalls: 10, faultsWarning: 1, faultsCritical: 3 });
  });

  it("healthy → warning after a fault → critical after three → healthy once they leave the window", async () => {
    const r = newRegistry({ health: { windowMs: LONG_WINDOW, errorRateWarning: 2, errorRateCritical: 2 } }); // rates never judged here
    await r.load(pluginDir(PROBE));
    await r.load(pluginDir(HELLO));
    expect(r.health("probe")).toEqual({ status: "healthy", reasons: [] });

    await trap(r);
    const warning = r.health("probe");
    expect(warning.status).toBe("warning");
    expect(warning.reasons).toContain("1 fault in the last 3 s");
    expect(warning.reasons).toContain("1 restart in the last 3 s");

    await trap(r);
    await r.invoke("probe", "ok");
    await trap(r);
    const critical = r.health("probe");
    expect(critical.status).toBe("critical");
    expect(critical.reasons).toContain("3 faults in the last 3 s");
    expect(critical.reasons).toContain("3 restarts in the last 3 s");

    // Every plugin at once; the other one is untouched.
    const all: Record<string, PluginHealth> = r.health();
    expect(Object.keys(all).sort()).toEqual(["hello-c", "probe"]);
    expect(all["hello-c"]).toEqual({ status: "healthy", reasons: [] });
    expect(all.probe!.status).toBe("critical");

    await sleep(LONG_WINDOW + 50);
    // The three trap violations are 30 % of the threshold (10) and no longer recent.
    expect(r.violationCount("probe")).toBe(3);
    expect(r.health("probe")).toEqual({ status: "healthy", reasons: [] });
  });

  it("violations against the threshold: warning at half, critical at 80 %, healthy after resetViolations", async () => {
    const r = newRegistry({ defaultLimits: { memoryBytes: 2 * 1024 * 1024 }, health: { windowMs: WINDOW } });
    await r.load(pluginDir(PROBE));
    r.setUnmountBehavior("probe", { autoUnmount: false, logViolations: false }, 10);
    // Each refused 4 MiB grow is one or more memory violations (no fault: the guest's malloc just fails).
    while (r.violationCount("probe") < 5) expect(await r.invoke("probe", "grow", new Uint8Array([4]))).toBe(1);
    if (r.violationCount("probe") < 8) {
      const h = r.health("probe");
      expect(h.status).toBe("warning");
      expect(h.reasons[0]).toMatch(/^\d of 10 violations before unload$/);
    }
    while (r.violationCount("probe") < 8) expect(await r.invoke("probe", "grow", new Uint8Array([4]))).toBe(1);
    const critical = r.health("probe");
    expect(critical.status).toBe("critical");
    expect(critical.reasons[0]).toMatch(/^\d+ of 10 violations before unload$/);

    r.resetViolations("probe");
    // Reset, but recent: none counts (recent violations only warn while the plugin has some).
    expect(r.health("probe")).toEqual({ status: "healthy", reasons: [] });
    expect(await r.invoke("probe", "grow", new Uint8Array([4]))).toBe(1);
    const recent = r.health("probe");
    expect(recent.status).toBe("warning");
    expect(recent.reasons.join()).toMatch(/violations? in the last 300 ms/);
    await sleep(WINDOW + 50);
    expect(r.health("probe").status).toBe("healthy");
  });

  it("the error rate over the window: warning at 5 %, critical at 50 %, judged from 10 calls on", async () => {
    const r = newRegistry({ health: { windowMs: 1000, faultsWarning: 1000, faultsCritical: 1000, restartsWarning: 1000, restartsCritical: 1000 } });
    await r.load(pluginDir(PROBE));
    await trap(r, true);
    // One failed call of one: not a rate yet (minCalls).
    expect(r.health("probe").status).toBe("healthy");
    for (let i = 0; i < 12; i++) await r.invoke("probe", "ok");
    const warning = r.health("probe");
    expect(warning.status).toBe("warning");
    expect(warning.reasons).toEqual(["error rate 7.7 % (1 of 13 calls)"]);
    for (let i = 0; i < 12; i++) await trap(r, true);
    const critical = r.health("probe");
    expect(critical.status).toBe("critical");
    expect(critical.reasons).toEqual(["error rate 52.0 % (13 of 25 calls)"]);

    // A window later, only the calls since count: ten good calls are healthy.
    await sleep(1050);
    for (let i = 0; i < 10; i++) await r.invoke("probe", "ok");
    expect(r.health("probe")).toEqual({ status: "healthy", reasons: [] });
  });

  it("a plugin disabled after a fault, and one unloaded at its threshold, are critical", async () => {
    const r = newRegistry({ recovery: { strategy: "disable" }, violationThreshold: 1 });
    await r.load(pluginDir(PROBE));
    await r.load(pluginDir(HELLO));
    r.setUnmountBehavior("probe", { autoUnmount: false, logViolations: false }, 100);
    await expect(r.invoke("probe", "trap")).rejects.toMatchObject({ code: "E_TRAP" });
    expect(r.info("probe").state).toBe("error");
    const disabled = r.health("probe");
    expect(disabled.status).toBe("critical");
    expect(disabled.reasons[0]).toMatch(/^disabled after faults/);

    const unmounted = new Promise<void>((resolve) => r.once("unmounted", () => resolve()));
    r.recordViolation("hello-c", "capability", "test: a denied call");
    await unmounted;
    expect(r.info("hello-c").state).toBe("unloaded");
    expect(r.health("hello-c").status).toBe("critical");
    expect(r.health("hello-c").reasons).toContain("unloaded at its violation threshold");

    // Loaded again, it starts afresh.
    r.resetViolations("hello-c");
    await r.loadByName("hello-c");
    expect(r.health("hello-c")).toEqual({ status: "healthy", reasons: [] });
  });

  it("health of an unknown plugin is PluginNotFound", () => {
    const r = newRegistry();
    expect(() => r.health("nobody")).toThrow(expect.objectContaining({ code: "E_PLUGIN_NOT_FOUND" }));
    expect(r.health()).toEqual({});
  });
});
