// Recovery and lifecycle, completed (issue 14 point 6): restart(name), disable(name, reason) and enable(name); the
// fallback strategy (a named plugin takes a failed plugin's events and hooks until it recovers); the retry strategy
// (an idempotent call re-issued once on the fresh instance); init retried with backoff; unknown strategies refused.
// Uses the C lifecycle fixture: "ok" answers the configured number, its hook "tag" appends it, "count" counts per
// instance, "trap" traps, "flaky" traps once "arm" was called (a fresh instance is not armed).
import { afterEach, describe, expect, it } from "vitest";
import { InitializationFailed, ManifestError, PluginNotRunning, PluginRegistry, PluginTrap, PolicyInvalid, type RegistryOptions } from "../src/index.js";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { copyPlugin, silentLogger } from "./helpers/plugins.js";
import { fixture } from "./native-helpers.js";

const FIXTURE = "test/fixtures/c/lifecycle";

let registry: PluginRegistry | undefined;
afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
  registry = undefined;
});

/** A copy of the fixture named `name`, with `extra` TOML appended to its manifest. */
function plugin(name: string, extra = ""): string {
  return copyPlugin(FIXTURE, (t) => t.replace('name = "lifecycle"', `name = "${name}"`) + extra);
}

function newRegistry(options: RegistryOptions = {}): PluginRegistry {
  // The fixture reads the clock in init (fail-init-until), so every test grants it.
  registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, violationThreshold: 100, grants: ["clock"], ...options });
  return registry;
}

describe("restart, disable, enable", () => {
  it("restart(name) replaces the instance: its state is lost, calls made meanwhile wait and succeed", async () => {
    const r = newRegistry();
    const p = await r.load(plugin("alpha"));
    expect(await p.invoke("count")).toBe(1);
    expect(await p.invoke("count")).toBe(2);
    const restarting = r.restart("alpha");
    const during = r.invoke("alpha", "count"); // issued while the instance is re-created
    await restarting;
    expect(await during).toBe(1);
    expect(await p.invoke("count")).toBe(2);
    expect(p.state).toBe("active");
    expect(r.metrics("alpha").restarts).toBe(1);
  });

  it("disable(name, reason) stops calls with the reason; enable(name) brings a fresh instance", async () => {
    const r = newRegistry();
    const p = await r.load(plugin("alpha"));
    await p.invoke("count");
    const events: string[] = [];
    r.on("disabled", (d) => events.push(`disabled ${d.plugin}: ${d.reason}`));
    r.on("enabled", (e) => events.push(`enabled ${e.plugin}`));
    await r.disable("alpha", "maintenance window");
    expect(p.state).toBe("error");
    expect(r.info("alpha").disabledReason).toBe("maintenance window");
    const err = await p.invoke("ok").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginNotRunning);
    expect((err as PluginNotRunning).message).toMatch(/disabled \(maintenance window\)/);
    const [result] = await r.dispatch("ok");
    expect(result?.error).toBeInstanceOf(PluginNotRunning); // still listed: reported, not bypassed
    await r.enable("alpha");
    expect(p.state).toBe("active");
    expect(r.info("alpha").disabledReason).toBeUndefined();
    expect(await p.invoke("count")).toBe(1);
    expect(events).toEqual(["disabled alpha: maintenance window", "enabled alpha"]);
  });

  it("enable(name) revives a plugin the recovery policy disabled after a fault", async () => {
    const r = newRegistry({ recovery: { strategy: "disable" } });
    const p = await r.load(plugin("alpha"));
    await expect(p.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
    expect(p.state).toBe("error");
    expect(r.info("alpha").disabledReason).toMatch(/^fault: /);
    await r.enable("alpha");
    expect(await p.invoke("ok")).toBe(1);
  });

  it("refuses to enable an unloaded plugin and to restart one that is not loaded", async () => {
    const r = newRegistry();
    await r.load(plugin("alpha"));
    await r.unload("alpha");
    await expect(r.enable("alpha")).rejects.toBeInstanceOf(PluginNotRunning);
    await expect(r.restart("alpha")).rejects.toBeInstanceOf(PluginNotRunning);
  });
});

describe("fallback strategy", () => {
  const PRIMARY = `\n[recovery]\nstrategy = "fallback"\nfallback = "backup"\nbase-delay-ms = 400\n`;

  async function pair(options: RegistryOptions = {}) {
    const r = newRegistry({ config: { primary: { answer: 1 }, backup: { answer: 2 } }, ...options });
    const primary = await r.load(plugin("primary", PRIMARY));
    const backup = await r.load(plugin("backup"));
    return { r, primary, backup };
  }

  it("the fallback takes the failed plugin's calls, dispatches and hook-chain place until it recovers", async () => {
    const { r, primary } = await pair();
    const enc = new Uint8Array([0]);
    expect((await r.runHook("tag", enc)).data).toEqual(new Uint8Array([0, 1, 2]));
    await expect(primary.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
    const restarted = new Promise((ok) => r.once("restarted", ok));
    // While primary waits out its 400 ms backoff, backup answers for it.
    expect(await primary.invoke("ok")).toBe(2);
    expect(await r.hook("primary", "tag", enc)).toEqual({ ok: true, data: new Uint8Array([0, 2]) });
    expect((await r.runHook("tag", enc)).data).toEqual(new Uint8Array([0, 2])); // backup once, in primary's place
    expect(await r.dispatch("ok")).toEqual([{ plugin: "backup", status: 2 }]);
    await restarted;
    expect(await primary.invoke("ok")).toBe(1);
    expect((await r.runHook("tag", enc)).data).toEqual(new Uint8Array([0, 1, 2]));
  });

  it("stands in for a disabled plugin (calls, sends, requests), until enable(name)", async () => {
    const { r, primary } = await pair();
    await r.disable("primary", "broken");
    expect(await primary.invoke("ok")).toBe(2);
    expect(await r.request("primary", "tag", new Uint8Array([0]))).toEqual(new Uint8Array([0, 2]));
    const sender = await r.load(plugin("sender"));
    const before = r.metrics("backup").messagesReceived;
    expect(await sender.invoke("send-ok", new TextEncoder().encode("primary"))).toBe(0);
    await new Promise((ok) => setTimeout(ok, 50));
    expect(r.metrics("backup").messagesReceived).toBe(before + 1);
    await r.enable("primary");
    expect(await primary.invoke("ok")).toBe(1);
  });

  it("without its fallback loaded, a failed plugin is reported as not running", async () => {
    const { r, primary } = await pair();
    await r.unload("backup");
    await r.disable("primary", "broken");
    await expect(primary.invoke("ok")).rejects.toBeInstanceOf(PluginNotRunning);
  });
});

describe("retry strategy", () => {
  const RETRY = `\n[recovery]\nstrategy = "retry"\nidempotent = ["flaky"]\nbase-delay-ms = 0\n`;

  it("re-issues an idempotent call once on the fresh instance", async () => {
    const r = newRegistry();
    const p = await r.load(plugin("alpha", RETRY));
    await p.invoke("arm");
    expect(await p.invoke("flaky")).toBe(101); // the first instance trapped; the fresh one answered
    expect(r.metrics("alpha")).toMatchObject({ faults: 1, restarts: 1 });
  });

  it("re-issues a faulted dispatch call on the direct path, once", async () => {
    const r = newRegistry();
    await r.load(plugin("alpha", RETRY));
    await r.invoke("alpha", "arm");
    expect(await r.dispatch("flaky")).toEqual([{ plugin: "alpha", status: 101 }]);
  });

  it("does not re-issue a call that is not idempotent, and re-issues at most once", async () => {
    const r = newRegistry();
    const p = await r.load(plugin("alpha", `\n[recovery]\nstrategy = "retry"\nidempotent = ["flaky", "trap"]\nbase-delay-ms = 0\nmax-retries = 5\n`));
    await p.invoke("arm");
    await expect(p.invoke("ok")).resolves.toBe(1);
    await expect(p.invoke("trap")).rejects.toBeInstanceOf(PluginTrap); // idempotent, but it traps again on the fresh instance
    expect(r.metrics("alpha").faults).toBe(2);
    const q = await newRegistry().load(plugin("beta", RETRY));
    await expect(q.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
    expect(registry!.metrics("beta").faults).toBe(1);
  });
});

describe("init retries with backoff", () => {
  it("tries a failed init again after the backoff until it succeeds", async () => {
    const r = newRegistry({ grants: ["clock"], recovery: { initRetries: 3, baseDelayMs: 100, backoff: "exponential" } });
    const states: string[] = [];
    r.on("state", (s) => states.push(s.to));
    const t0 = performance.now();
    const p = await r.load(plugin("alpha"));
    expect(p.state).toBe("active");
    expect(states.filter((s) => s === "initializing").length).toBe(1);
    // Now fail init for 250 ms: attempts at 0, 100 and 300 ms, the third succeeds.
    await r.unload("alpha");
    r.removeAllListeners("state");
    const until = Date.now() + 250;
    const r2 = newRegistry({ grants: ["clock"], config: { alpha: { "fail-init-until": until } }, recovery: { initRetries: 3, baseDelayMs: 100, backoff: "exponential" } });
    const inits: number[] = [];
    r2.on("state", (s) => s.to === "initializing" && inits.push(performance.now()));
    const t1 = performance.now();
    const q = await r2.load(plugin("alpha"));
    expect(q.state).toBe("active");
    expect(inits.length).toBe(3);
    expect(inits[1]! - t1).toBeGreaterThanOrEqual(95);
    expect(inits[2]! - inits[1]!).toBeGreaterThanOrEqual(195);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it("fails the load with the last InitializationFailed once the retries are used up", async () => {
    const r = newRegistry({ grants: ["clock"], config: { alpha: { "fail-init-until": Date.now() + 60_000 } }, recovery: { initRetries: 2, baseDelayMs: 10 } });
    let inits = 0;
    r.on("state", (s) => void (s.to === "initializing" && inits++));
    await expect(r.load(plugin("alpha"))).rejects.toBeInstanceOf(InitializationFailed);
    expect(inits).toBe(3);
    expect(r.info("alpha").state).toBe("unloaded");
  });

  it("a manifest's init-retries applies to that plugin only", async () => {
    const r = newRegistry({ grants: ["clock"], config: { alpha: { "fail-init-until": Date.now() + 60_000 } } });
    let inits = 0;
    r.on("state", (s) => void (s.to === "initializing" && inits++));
    await expect(r.load(plugin("alpha", "\n[recovery]\ninit-retries = 1\nbase-delay-ms = 1\n"))).rejects.toBeInstanceOf(InitializationFailed);
    expect(inits).toBe(2);
  });
});

describe("validation", () => {
  it("an unknown strategy is a validation error, in the manifest and in the host's options", async () => {
    const r = newRegistry();
    await expect(r.load(plugin("alpha", '\n[recovery]\nstrategy = "pray"\n'))).rejects.toBeInstanceOf(ManifestError);
    await expect(r.load(plugin("alpha", '\n[recovery]\nstrategy = "fallback"\n'))).rejects.toThrow(/needs the name of the plugin that stands in/);
    await expect(r.load(plugin("alpha", '\n[recovery]\nstrategy = "fallback"\nfallback = "alpha"\n'))).rejects.toThrow(/cannot be its own fallback/);
    await expect(r.load(plugin("alpha", '\n[recovery]\nidempotent = true\n'))).rejects.toThrow(/applies only to strategy = "retry"/);
    expect(() => new PluginRegistry({ recovery: { strategy: "pray" as never } })).toThrow(PolicyInvalid);
    expect(() => new PluginRegistry({ recovery: { strategy: "fallback" } })).toThrow(/recovery.fallback is missing/);
    expect(() => new PluginRegistry({ recovery: { initRetries: -1 } })).toThrow(PolicyInvalid);
  });
});

describe.each([
  { label: "wasmtime", manifest: 'engine = "wasmtime"' },
  { label: "a v8 worker", manifest: 'isolation = "worker"' },
])("on $label", ({ manifest }) => {
  /** The fixture on this engine: `extra` TOML appended, `manifest` added at the top level. */
  const on = (name: string, extra = "") => copyPlugin(FIXTURE, (t) => t.replace('name = "lifecycle"', `name = "${name}"\n${manifest}`) + extra);

  it("retry re-issues an idempotent call on the fresh instance; restart(name) and disable/enable work", async () => {
    const r = newRegistry();
    const p = await r.load(on("alpha", `\n[recovery]\nstrategy = "retry"\nidempotent = ["flaky"]\nbase-delay-ms = 0\n`));
    await p.invoke("arm");
    expect(await p.invoke("flaky")).toBe(101);
    expect(await p.invoke("count")).toBe(2); // the fresh instance counted the retried call
    await r.restart("alpha");
    expect(await p.invoke("count")).toBe(1);
    await r.disable("alpha", "off");
    await expect(p.invoke("ok")).rejects.toBeInstanceOf(PluginNotRunning);
    await r.enable("alpha");
    expect(await p.invoke("ok")).toBe(1);
  });

  it("a fallback takes a faulted plugin's calls while it restarts", async () => {
    const r = newRegistry({ config: { primary: { answer: 1 }, backup: { answer: 2 } } });
    const primary = await r.load(on("primary", `\n[recovery]\nstrategy = "fallback"\nfallback = "backup"\nbase-delay-ms = 400\n`));
    await r.load(on("backup"));
    await expect(primary.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
    expect(await primary.invoke("ok")).toBe(2);
    await new Promise((ok) => r.once("restarted", ok));
    await new Promise((ok) => setTimeout(ok, 10));
    expect(await primary.invoke("ok")).toBe(1);
  });
});

describe("a sandboxed native plugin", () => {
  /** test/fixtures/native's hostile.so ("ok" answers its data's length, "segv" crashes the helper) as `name`. */
  function native(name: string, extra: string): string {
    const dir = mkdtempSync(path.join(tmpdir(), `plughost-lifecycle-${name}-`));
    copyFileSync(fixture("hostile"), path.join(dir, "hostile.so"));
    writeFileSync(path.join(dir, "plugin.toml"), `name = "${name}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "hostile.so"\n${extra}`);
    return dir;
  }

  it("a crash hands its calls to the fallback until the helper is back; disable/enable and restart work", async () => {
    const r = newRegistry({ config: { backup: { answer: 2 } } });
    const primary = await r.load(native("primary", `\n[recovery]\nstrategy = "fallback"\nfallback = "backup"\nbase-delay-ms = 400\n`));
    await r.load(plugin("backup"));
    expect(await primary.invoke("ok", new Uint8Array(5))).toBe(5);
    await expect(primary.invoke("segv")).rejects.toMatchObject({ code: "E_PLUGIN_CRASHED" });
    expect(await primary.invoke("ok", new Uint8Array(5))).toBe(2); // backup stands in
    await new Promise((ok) => r.once("restarted", ok));
    await new Promise((ok) => setTimeout(ok, 10));
    expect(await primary.invoke("ok", new Uint8Array(5))).toBe(5);
    await r.disable("primary", "off");
    expect(await primary.invoke("ok", new Uint8Array(5))).toBe(2);
    await r.enable("primary");
    await r.restart("primary");
    expect(await primary.invoke("ok", new Uint8Array(3))).toBe(3);
  });
});

describe("retry in a hook chain", () => {
  it("a faulted idempotent hook is re-issued once on the fresh instance, from the chain's direct path", async () => {
    const r = newRegistry({ config: { alpha: { answer: 5 } } });
    const p = await r.load(plugin("alpha", `\n[recovery]\nstrategy = "retry"\nidempotent = ["flaky-tag"]\nbase-delay-ms = 0\n`));
    await p.invoke("arm");
    const result = await r.runHook("flaky-tag", new Uint8Array([1]));
    expect(result).toMatchObject({ ok: true, data: new Uint8Array([1, 5]), errors: [] });
    expect(r.metrics("alpha")).toMatchObject({ faults: 1, restarts: 1 });
  });

  it("without idempotent the faulted hook is reported, not re-issued", async () => {
    const r = newRegistry({ config: { alpha: { answer: 5 } } });
    const p = await r.load(plugin("alpha", `\n[recovery]\nstrategy = "retry"\nidempotent = ["flaky"]\nbase-delay-ms = 0\n`));
    await p.invoke("arm");
    const result = await r.runHook("flaky-tag", new Uint8Array([1]));
    expect(result.errors.map((e) => e.error)).toEqual([expect.any(PluginTrap)]);
    expect(r.metrics("alpha").faults).toBe(1);
  });
});
