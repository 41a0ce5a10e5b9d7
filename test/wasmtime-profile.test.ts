// Profiling a wasmtime plugin (observability/profile.ts, native/wasmtime/src/profile.rs): wasmtime's guest profiler
// samples the plugin's own store from its epoch deadline callback, one sample per 1 ms tick while a call runs, and
// the result is a Firefox Profiler processed profile. test/fixtures/c/profile-busy spends event "a" in busy_a and
// event "b" in busy_b; a second copy of it under another name runs alongside and must not show up.
import { describe, it, expect, afterEach } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PluginRegistry } from "../src/runtime/registry.js";
import { ProfilingUnsupported } from "../src/contract/errors.js";
import { profilePlugin, startProfile, type FirefoxProfile, type WasmtimePluginProfile } from "../src/observability/profile.js";
import { wasmtimeByPlugin, type WasmtimeInstance } from "../src/engines/wasmtime/instance.js";
import { copyPlugin, pluginDir, root, silentLogger } from "./helpers/plugins.js";

const BUSY = "test/fixtures/c/profile-busy";
const WORK = new Uint8Array([100]); // 2,000,000 iterations a call: a few ms

const registries: PluginRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.unloadAll()));
});

async function twoPlugins(limits = ""): Promise<PluginRegistry> {
  const registry = new PluginRegistry({ cacheDir: false, logger: silentLogger(), engine: "wasmtime" });
  registries.push(registry);
  await registry.load(limits ? copyPlugin(BUSY, (t) => `${t}\n[limits]\n${limits}\n`) : pluginDir(BUSY));
  await registry.load(copyPlugin(BUSY, (t) => t.replace('name = "profile-busy"', 'name = "profile-other"')));
  return registry;
}

function instanceOf(name: string): WasmtimeInstance {
  const live = wasmtimeByPlugin.get(name);
  expect(live?.size).toBe(1);
  return [...live!][0]!;
}

function asWasmtime(p: unknown): WasmtimePluginProfile {
  expect((p as WasmtimePluginProfile).format).toBe("firefox-profiler");
  return p as WasmtimePluginProfile;
}

/** The Firefox Profiler's processed-profile shape: meta, threads whose samples point into their stack, frame and function tables, names in the string table. */
function checkShape(p: FirefoxProfile): string[] {
  expect(typeof p.meta).toBe("object");
  expect(p.meta.interval).toBe(1);
  expect(typeof p.meta.version).toBe("number");
  expect(Array.isArray(p.threads)).toBe(true);
  expect(p.threads.length).toBeGreaterThanOrEqual(1);
  const names: string[] = [];
  for (const t of p.threads) {
    const strings = t.stringArray ?? p.shared?.stringArray;
    expect(Array.isArray(strings)).toBe(true);
    const n = t.samples.stack.length;
    expect(t.samples.length ?? n).toBe(n);
    expect((t.samples.time ?? t.samples.timeDeltas)?.length).toBe(n);
    for (const s of t.samples.stack) if (s !== null) expect(s).toBeLessThan(t.stackTable.frame.length);
    for (const f of t.stackTable.frame) expect(f).toBeLessThan(t.frameTable.func.length);
    for (const fn of t.frameTable.func) expect(fn).toBeLessThan(t.funcTable.name.length);
    for (const i of t.funcTable.name) names.push(strings![i]!);
  }
  return names;
}

const share = (fns: { name: string; selfSamples: number }[], name: string, total: number) => (fns.find((f) => f.name === name)?.selfSamples ?? 0) / Math.max(1, total);

describe("profiling a wasmtime plugin", () => {
  it("samples the plugin's own calls, sync and async, into a Firefox Profiler profile naming its functions", async () => {
    const registry = await twoPlugins();
    const recording = await startProfile(registry, "profile-busy");
    const until = performance.now() + 500;
    let busyMs = 0; // time spent in profile-busy's calls, as the caller saw it
    while (performance.now() < until) {
      let t = performance.now();
      registry.get("profile-busy").invokeSync("a", WORK); // the JS thread's sync path
      busyMs += performance.now() - t;
      t = performance.now();
      await registry.invoke("profile-busy", "a", WORK); // the instance's call thread
      busyMs += performance.now() - t;
      // The same module in another plugin, busy in busy_b: not sampled.
      await registry.invoke("profile-other", "b", WORK);
      registry.get("profile-other").invokeSync("b", WORK);
    }
    const p = asWasmtime(await recording.stop());
    expect(p.plugin).toBe("profile-busy");
    expect(p.ended).toBeUndefined();
    expect(p.samplingIntervalUs).toBe(1000);
    expect(p.durationMs).toBeGreaterThanOrEqual(500);
    // The JSON as written parses back to the same profile.
    const profile = JSON.parse(JSON.stringify(p.profile)) as FirefoxProfile;
    const names = checkShape(profile);
    expect(names).toContain("busy_a");
    expect(names).not.toContain("busy_b");
    // One sample per 1 ms tick while a call ran: about busyMs of them (ticks can be late on a loaded machine, never early).
    expect(p.samples).toBeGreaterThan(busyMs * 0.3);
    expect(p.samples).toBeLessThan(busyMs * 1.2 + 10);
    expect(p.wasmSamples).toBe(p.samples);
    expect(p.functions[0]!.name).toBe("busy_a");
    expect(share(p.functions, "busy_a", p.samples)).toBeGreaterThan(0.8);
    expect(share(p.functions, "busy_b", p.samples)).toBe(0);
    expect(p.functions[0]!.url).toMatch(/^wasm-module:/);
    expect(instanceOf("profile-busy").profiling).toBe(false);
  });

  it("adds nothing to calls while no profile runs: no sampling before, after, or on other plugins", async () => {
    const registry = await twoPlugins();
    const busy = instanceOf("profile-busy");
    const other = instanceOf("profile-other");
    expect(busy.profiling).toBe(false);
    for (let i = 0; i < 10; i++) {
      registry.get("profile-busy").invokeSync("a", WORK);
      await registry.invoke("profile-busy", "a", WORK);
    }
    expect(busy.profileSamples).toBe(0);

    const recording = await startProfile(registry, "profile-busy");
    expect(busy.profiling).toBe(true);
    expect(other.profiling).toBe(false);
    for (let i = 0; i < 10; i++) {
      registry.get("profile-busy").invokeSync("a", WORK);
      registry.get("profile-other").invokeSync("b", WORK);
    }
    const p = asWasmtime(await recording.stop());
    expect(p.samples).toBeGreaterThan(0);
    expect(busy.profileSamples).toBe(p.samples);
    expect(other.profileSamples).toBe(0);

    // Stopped: the epoch callback is back to checking the deadline every 5 ticks, and takes no sample.
    expect(busy.profiling).toBe(false);
    const before = busy.profileSamples;
    for (let i = 0; i < 10; i++) {
      registry.get("profile-busy").invokeSync("a", WORK);
      await registry.invoke("profile-busy", "a", WORK);
    }
    expect(busy.profileSamples).toBe(before);
  });

  it("leaves deadlines as they are while sampling every tick, and ends the profile cleanly on a fault", async () => {
    // 3 ms: calls of event "a" with 10 (about 0.3 ms) pass; 255 × 40 (about 200 ms unbounded here) exceeds it on any machine.
    const registry = await twoPlugins("deadline-ms = 3");
    const deadlineCall = async (): Promise<number> => {
      const t = performance.now();
      const err = await registry.invoke("profile-busy", "a", new Uint8Array([255, 40])).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe("E_DEADLINE_EXCEEDED");
      return performance.now() - t;
    };
    const recording = await startProfile(registry, "profile-busy");
    for (let i = 0; i < 20; i++) expect(await registry.invoke("profile-busy", "a", new Uint8Array([10]))).toBeGreaterThanOrEqual(0);
    const profiled = await deadlineCall();
    expect(profiled).toBeGreaterThanOrEqual(2.9);
    expect(profiled).toBeLessThan(200);
    // The fault ends the profile with what was sampled up to it.
    const p = asWasmtime(await recording.stop());
    expect(p.ended).toMatch(/faulted/);
    expect(p.samples).toBeGreaterThanOrEqual(2);
    expect(p.functions[0]!.name).toBe("busy_a");
    // The same call unprofiled (on the restarted instance) fails the same way.
    const plain = await deadlineCall();
    expect(plain).toBeGreaterThanOrEqual(2.9);
    expect(plain).toBeLessThan(200);
  });

  it("refuses a second profile of the same plugin, and ends a profile cleanly when the plugin is unloaded", async () => {
    const registry = await twoPlugins();
    const first = await startProfile(registry, "profile-busy");
    const again = await startProfile(registry, "profile-busy").catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ProfilingUnsupported);
    expect((again as Error).message).toMatch(/already running/);
    // Another plugin can be profiled meanwhile.
    const other = await startProfile(registry, "profile-other");
    for (let i = 0; i < 20; i++) await registry.invoke("profile-busy", "a", WORK);
    await registry.unload("profile-busy");
    const p = asWasmtime(await first.stop());
    expect(p.ended).toMatch(/disposed/);
    expect(p.samples).toBeGreaterThan(5);
    expect(checkShape(p.profile)).toContain("busy_a");
    const o = asWasmtime(await other.stop());
    expect(o.samples).toBe(0);
    expect(o.ended).toBeUndefined();
    // Once stopped, profiling again is allowed.
    const third = await startProfile(registry, "profile-other");
    await third.stop();
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
    const p = asWasmtime(await profilePlugin(registry, "profile-other", 300));
    running = false;
    await load;
    expect(p.durationMs).toBeGreaterThanOrEqual(290);
    expect(share(p.functions, "busy_a", p.samples)).toBeGreaterThan(0.2);
    expect(share(p.functions, "busy_b", p.samples)).toBeGreaterThan(0.2);
    const idle = asWasmtime(await profilePlugin(registry, "profile-busy", 50));
    expect(idle.samples).toBe(0);
  });
});

describe("plughost profile --engine wasmtime", () => {
  const cli = path.join(root, "dist/cli/index.js");
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env: { ...process.env, PLUGHOST_LOG_LEVEL: "warn" } });

  it("writes a Firefox Profiler profile and prints the functions by self time", () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), "plughost-profile-")), "busy.json");
    const r = run("profile", path.join(root, BUSY), "--engine", "wasmtime", "--seconds", "0.4", "--event", "b=\u0064", "--out", out, "--json");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout) as { format: string; plugin: string; out: string; callsMade: number; samples: number; functions: { name: string; selfSamples: number }[] };
    expect(summary.format).toBe("firefox-profiler");
    expect(summary.plugin).toBe("profile-busy");
    expect(summary.out).toBe(out);
    expect(summary.callsMade).toBeGreaterThan(10);
    expect(summary.samples).toBeGreaterThan(50);
    expect(summary.functions[0]!.name).toBe("busy_b");
    expect(checkShape(JSON.parse(readFileSync(out, "utf8")) as FirefoxProfile)).toContain("busy_b");

    const text = run("profile", path.join(root, BUSY), "--engine", "wasmtime", "--seconds", "0.2", "--event", "a=\u0064", "--out", out);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^profiled profile-busy for 0\.\d s: \d+ calls \(0 failed\)/);
    expect(text.stdout).toMatch(/\n\s+\d+\.\d\s+\d+\.\d\s+busy_a\n/);
    expect(text.stdout).toMatch(/profiler\.firefox\.com/);
    const bad = run("profile", path.join(root, BUSY), "--engine", "native", "--event", "a");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--engine must be v8 or wasmtime/);
  });
});
