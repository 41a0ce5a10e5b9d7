// Profiling a plugin (observability/profile.ts, `plughost profile`): V8's CPU profiler samples the host thread and
// keeps the samples taken in the profiled plugin's guest calls. test/fixtures/c/profile-busy spends event "a" in
// busy_a and event "b" in busy_b; a second copy of it under another name runs alongside and must not show up.
import { describe, it, expect, afterEach } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PluginRegistry } from "../src/runtime/registry.js";
import { PluginNotFound, ProfilingUnsupported } from "../src/contract/errors.js";
import { profilePlugin, startProfile, type CpuProfile } from "../src/observability/profile.js";
import { guestActivity } from "../src/engines/v8/guest-activity.js";
import { copyPlugin, pluginDir, root, silentLogger } from "./helpers/plugins.js";

const BUSY = "test/fixtures/c/profile-busy";
const WORK = new Uint8Array([30]); // 600,000 iterations a call: a few hundred µs

const registries: PluginRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.unloadAll()));
});

async function twoPlugins(options: ConstructorParameters<typeof PluginRegistry>[0] = {}): Promise<PluginRegistry> {
  const registry = new PluginRegistry({ cacheDir: false, logger: silentLogger(), ...options });
  registries.push(registry);
  await registry.load(pluginDir(BUSY));
  await registry.load(copyPlugin(BUSY, (t) => t.replace('name = "profile-busy"', 'name = "profile-other"')));
  return registry;
}

/** Every node reachable from the root, every sample a node, one delta per sample: a profile DevTools can open. */
function checkShape(p: CpuProfile): void {
  const ids = new Set(p.nodes.map((n) => n.id));
  expect(ids.size).toBe(p.nodes.length);
  for (const n of p.nodes) for (const c of n.children ?? []) expect(ids.has(c)).toBe(true);
  for (const s of p.samples) expect(ids.has(s)).toBe(true);
  expect(p.timeDeltas).toHaveLength(p.samples.length);
  expect(p.endTime).toBeGreaterThan(p.startTime);
  const hits = p.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
  expect(hits).toBe(p.samples.length);
}

const share = (fns: { name: string; selfSamples: number }[], name: string, total: number) => (fns.find((f) => f.name === name)?.selfSamples ?? 0) / Math.max(1, total);

describe("profiling an in-process v8 plugin", () => {
  it("keeps the profiled plugin's Wasm functions, not another plugin's running the same module, whichever way they are called", async () => {
    const registry = await twoPlugins();
    const recording = await startProfile(registry, "profile-busy", { samplingIntervalUs: 100 });
    const until = performance.now() + 400;
    let rounds = 0;
    // profile-busy only ever runs busy_a; profile-other, the same module, runs busy_b as much, in between.
    while (performance.now() < until) {
      rounds++;
      await registry.invoke("profile-busy", "a", WORK);
      registry.get("profile-busy").invokeSync("a", WORK);
      await registry.dispatch("a", WORK); // both subscribe: the dispatch fast path, profile-other's busy_a too
      await Promise.all([registry.invoke("profile-other", "b", WORK), registry.invoke("profile-busy", "a", WORK)]);
      registry.get("profile-other").invokeSync("b", WORK);
    }
    const p = await recording.stop();
    if (p.format !== "v8-cpuprofile") throw new Error(`a v8 plugin's profile is a V8 CPU profile, got ${p.format}`);
    expect(p.plugin).toBe("profile-busy");
    expect(p.calls).toBe(4 * rounds);
    expect(p.samples).toBeGreaterThan(100);
    expect(p.wasmSamples / p.samples).toBeGreaterThan(0.9);
    expect(p.truncated).toBe(false);
    expect(share(p.functions, "busy_a", p.samples)).toBeGreaterThan(0.85);
    // A sample at the very edge of a call can land on the neighbour's first instructions: a handful at most.
    expect(share(p.functions, "busy_b", p.samples)).toBeLessThan(0.03);
    expect(p.functions[0]!.name).toBe("busy_a");
    expect(p.functions[0]!.url).toMatch(/^wasm:\/\//);
    checkShape(p.cpuProfile);
    expect(p.cpuProfile.nodes[1]!.callFrame.functionName).toBe("(plugin profile-busy)");
    expect(guestActivity.active).toBe(false);
  });

  it("profilePlugin samples for the time asked while the application calls the plugin", async () => {
    const registry = await twoPlugins();
    let running = true;
    const load = (async () => {
      while (running) {
        await registry.invoke("profile-other", "a", WORK);
        await registry.invoke("profile-other", "b", WORK);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const p = await profilePlugin(registry, "profile-other", 250);
    running = false;
    await load;
    expect(p.durationMs).toBeGreaterThanOrEqual(240);
    const a = share(p.functions, "busy_a", p.samples);
    const b = share(p.functions, "busy_b", p.samples);
    expect(a).toBeGreaterThan(0.25);
    expect(b).toBeGreaterThan(0.25);
    // Nothing of profile-busy's, which was not called.
    const idle = await profilePlugin(registry, "profile-busy", 50);
    expect(idle.samples).toBe(0);
    expect(idle.calls).toBe(0);
  });

  it("refuses what it cannot profile with a typed error naming the plugin and what to change", async () => {
    const registry = await twoPlugins();
    await expect(startProfile(registry, "nope")).rejects.toBeInstanceOf(PluginNotFound);
    const first = await startProfile(registry, "profile-busy");
    const again = await startProfile(registry, "profile-busy").catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ProfilingUnsupported);
    expect((again as ProfilingUnsupported).message).toMatch(/already running/);
    await first.stop();
    await expect(profilePlugin(registry, "profile-busy", 0)).rejects.toBeInstanceOf(RangeError);

    // A wasmtime plugin gets wasmtime's guest profiler instead (test/wasmtime-profile.test.ts), in its own format.
    const wasmtime = await twoPlugins({ engine: "wasmtime" });
    const wt = await startProfile(wasmtime, "profile-busy");
    const busy = await startProfile(wasmtime, "profile-busy").catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(ProfilingUnsupported);
    expect((busy as ProfilingUnsupported).code).toBe("E_PROFILING_UNSUPPORTED");
    expect((busy as ProfilingUnsupported).plugin).toBe("profile-busy");
    expect((await wt.stop()).format).toBe("firefox-profiler");
  });
});

describe("profiling a v8 plugin in a worker", () => {
  it("runs the profiler in the plugin's worker, in order with its calls, and keeps only that plugin's samples", async () => {
    const registry = await twoPlugins({ isolation: "worker" });
    const recording = await startProfile(registry, "profile-busy");
    const until = performance.now() + 400;
    let rounds = 0;
    while (performance.now() < until) {
      rounds++;
      await Promise.all([
        registry.invoke("profile-busy", "a", WORK),
        registry.invoke("profile-other", "b", WORK),
        registry.invoke("profile-busy", "a", WORK),
        registry.invoke("profile-other", "b", WORK),
      ]);
    }
    const p = await recording.stop();
    expect(p.calls).toBe(2 * rounds);
    expect(p.samples).toBeGreaterThan(100);
    // profile-other's busy_b runs in its own worker, unsampled.
    expect(share(p.functions, "busy_a", p.samples)).toBeGreaterThan(0.85);
    expect(share(p.functions, "busy_b", p.samples)).toBe(0);
    checkShape(p.cpuProfile);
    // Stopped: the worker can be profiled again; a worker that is gone is a typed error.
    const again = await startProfile(registry, "profile-busy");
    await registry.unload("profile-busy");
    const gone = await again.stop().catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(ProfilingUnsupported);
    expect((gone as Error).message).toMatch(/worker ended during the profile/);
  });
});

describe("plughost profile", () => {
  const cli = path.join(root, "dist/cli/index.js");
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env: { ...process.env, PLUGHOST_LOG_LEVEL: "warn" } });

  it("calls the plugin for the time given, writes a DevTools profile and prints the functions by self time", () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), "plughost-profile-")), "busy.cpuprofile");
    const r = run("profile", path.join(root, BUSY), "--seconds", "0.4", "--event", "b=\u0014", "--out", out, "--json");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout) as { plugin: string; out: string; callsMade: number; samples: number; functions: { name: string; selfSamples: number }[] };
    expect(summary.plugin).toBe("profile-busy");
    expect(summary.out).toBe(out);
    expect(summary.callsMade).toBeGreaterThan(10);
    expect(summary.functions[0]!.name).toBe("busy_b");
    expect(share(summary.functions, "busy_b", summary.samples)).toBeGreaterThan(0.8);
    checkShape(JSON.parse(readFileSync(out, "utf8")) as CpuProfile);

    const text = run("profile", path.join(root, BUSY), "--seconds", "0.2", "--event", "a=\u0014", "--out", out);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^profiled profile-busy for 0\.\d s: \d+ calls \(0 failed\)/);
    expect(text.stdout).toMatch(/\n\s+\d+\.\d\s+\d+\.\d\s+busy_a\n/);
  });

  it("needs something to call the plugin with, and a sane duration", () => {
    const none = run("profile", path.join(root, BUSY), "--seconds", "0.1");
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/at least one --event or --hook/);
    const bad = run("profile", path.join(root, BUSY), "--seconds", "0", "--event", "a");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--seconds must be/);
  });
});
