// The call path under faults (issue 12, section 1): every subscriber present
// when a dispatch or hook chain begins is called once, in priority order,
// across restarts, reloads and unloads mid-call; a call that arrives while a
// plugin restarts waits for it instead of being dropped; maxRetries counts
// consecutive restarts; a sandbox helper killed between calls is counted once.
//
// Guests: the C probe (its `trap` traps; `register <name>` binds <name> to a
// callback answering 42, so a copy can answer "trap" without trapping), the C
// conformance plugin, the C `slow` (busy for a while in a worker), and the native fixtures hostile (segv), basic
// (`register <name>` binds <name> to echo) and intruder (spin-after).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  CpuBudgetExceeded,
  PluginCrashed,
  PluginNotRunning,
  PluginRegistry,
  PluginTrap,
  type RegistryOptions,
} from "../src/index.js";
import { fixture, until } from "./native-helpers.js";
import { copyPlugin, dec, enc, pluginDir, root, silentLogger } from "./helpers/plugins.js";

const PROBE = "test/fixtures/c/probe";
const CONFORMANCE = "examples/c/conformance";
/** What the conformance plugin's manifest asks for. */
const CONFORMANCE_GRANTS = ["stdio", "clock", `fs:read:${path.join(root, CONFORMANCE, "testdata")}`];

let registry: PluginRegistry;
const dirs: string[] = [];
afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Restarts at once unless a test says otherwise (the delay is not what these tests are about). */
const newRegistry = (options: RegistryOptions = {}) =>
  (registry = new PluginRegistry({
    logger: silentLogger(),
    cacheDir: false,
    violationThreshold: 100,
    grants: { "conformance-c": CONFORMANCE_GRANTS },
    recovery: { strategy: "restart", backoff: "exponential", baseDelayMs: 0, maxRetries: 5 },
    ...options,
  }));

type Mode = { name: string; options: RegistryOptions };
const MODES: Mode[] = [
  { name: "v8 in-process", options: { engine: "v8", isolation: "in-process" } },
  { name: "v8 worker", options: { engine: "v8", isolation: "worker" } },
  { name: "wasmtime", options: { engine: "wasmtime" } },
];

/** A copy of the probe named `name`, declaring `priority` for the events the tests use. */
function probeCopy(name: string, priority: number): string {
  const dir = copyPlugin(PROBE, (t) =>
    t.replace('name = "probe"', `name = "${name}"`) +
    `\n[[hooks]]\nevent = "trap"\npriority = ${priority}\n\n[[hooks]]\nevent = "ok"\npriority = ${priority}\n`,
  );
  dirs.push(dir);
  return dir;
}

/** probe-a (priority 300) traps on "trap"; probe-b (200) and probe-c (100) answer it with 42. */
async function threeOnTrap(): Promise<void> {
  for (const [name, priority] of [["probe-a", 300], ["probe-b", 200], ["probe-c", 100]] as const) {
    await registry.load(probeCopy(name, priority));
    if (name !== "probe-a") expect(await registry.invoke(name, "register", enc("trap"))).toBe(0);
  }
  expect(registry.subscribers("trap")).toEqual(["probe-a", "probe-b", "probe-c"]);
}

const summary = (results: { plugin: string; status?: number; error?: { code: string } }[]) =>
  results.map((r) => `${r.plugin}:${r.error ? r.error.code : r.status}`);

describe.each(MODES)("a fault does not skip the next subscriber ($name)", ({ options }) => {
  it("dispatch: the first of three traps; the other two are still called, once each, in priority order", async () => {
    newRegistry(options);
    await threeOnTrap();
    const results = await registry.dispatch("trap", enc("x"));
    expect(summary(results)).toEqual(["probe-a:E_TRAP", "probe-b:42", "probe-c:42"]);
    expect(results[0]!.error).toBeInstanceOf(PluginTrap);
    expect(results[0]!.error).toMatchObject({ plugin: "probe-a" });
    // The next dispatch reaches the restarted probe-a too, still first.
    expect(summary(await registry.dispatch("trap", enc("x")))).toEqual(["probe-a:E_TRAP", "probe-b:42", "probe-c:42"]);
    expect(registry.subscribers("trap")).toEqual(["probe-a", "probe-b", "probe-c"]);
    expect(registry.metrics("probe-b").calls).toBe(3); // register + two dispatches
    expect(await registry.invoke("probe-a", "ok")).toBe(42);
  });

  it("runHook: a trapping hook stops the chain (fail-closed, the default)", async () => {
    newRegistry(options);
    await registry.load(probeCopy("probe-a", 300));
    await registry.load(probeCopy("probe-b", 200));
    expect(await registry.invoke("probe-b", "register", enc("trap"))).toBe(0);
    const callsB = registry.metrics("probe-b").calls;
    const chain = await registry.runHook("trap", enc("payload"));
    expect(chain).toMatchObject({ ok: false, stoppedBy: "probe-a" });
    expect(chain.error).toBeInstanceOf(PluginTrap);
    expect(registry.metrics("probe-b").calls).toBe(callsB); // the next hook never saw the data
  });

  it("runHook failing open: a trapping hook does not let the chain bypass the next (validating) hook", async () => {
    newRegistry({ ...options, hooks: { defaultOnError: "skip" } });
    await registry.load(probeCopy("probe-a", 300));
    await registry.load(probeCopy("probe-b", 200));
    expect(await registry.invoke("probe-b", "register", enc("trap"))).toBe(0); // answers 42: err(42) rejects the data
    const chain = await registry.runHook("trap", enc("payload"));
    expect(chain).toMatchObject({ ok: false, status: 42, stoppedBy: "probe-b" });
    expect(chain.errors.map((e) => e.plugin)).toEqual(["probe-a"]);
    expect(chain.errors[0]!.error).toBeInstanceOf(PluginTrap);
  });
});

describe("a disabled subscriber is reported, not silently left out", () => {
  it("after recovery disables it, dispatch and runHook report PluginNotRunning for it and call the others", async () => {
    newRegistry({ recovery: { strategy: "disable" }, hooks: { defaultOnError: "skip" } });
    await threeOnTrap();
    expect(summary(await registry.dispatch("trap"))).toEqual(["probe-a:E_TRAP", "probe-b:42", "probe-c:42"]);
    expect(registry.info("probe-a").state).toBe("error");
    const results = await registry.dispatch("trap");
    expect(summary(results)).toEqual(["probe-a:E_PLUGIN_NOT_RUNNING", "probe-b:42", "probe-c:42"]);
    expect(results[0]!.error).toMatchObject({ plugin: "probe-a", message: expect.stringMatching(/disabled .*enable\(\) it/) });
    const chain = await registry.runHook("trap");
    expect(chain).toMatchObject({ ok: false, stoppedBy: "probe-b", status: 42 });
    expect(chain.errors.map((e) => `${e.plugin}:${e.error.code}`)).toEqual(["probe-a:E_PLUGIN_NOT_RUNNING"]);
    registry.suspend("probe-c"); // a suspended plugin is left out on purpose
    expect(summary(await registry.dispatch("trap"))).toEqual(["probe-a:E_PLUGIN_NOT_RUNNING", "probe-b:42"]);
  });
});

describe("a fault does not skip the next subscriber (native sandbox)", () => {
  function nativeDir(fixtureName: string, name: string, priority: number): string {
    const dir = mkdtempSync(path.join(tmpdir(), `plughost-call-path-${name}-`));
    dirs.push(dir);
    copyFileSync(fixture(fixtureName), path.join(dir, `${fixtureName}.so`));
    writeFileSync(
      path.join(dir, "plugin.toml"),
      `name = "${name}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "${fixtureName}.so"\ntrust = "untrusted"\n` +
        `\n[[hooks]]\nevent = "segv"\npriority = ${priority}\n`,
    );
    return dir;
  }

  it("dispatch: the first of three crashes; the other two are still called, in priority order", async () => {
    newRegistry();
    await registry.load(nativeDir("hostile", "crashy", 300));
    for (const name of ["steady-b", "steady-c"]) {
      await registry.load(nativeDir("basic", name, name === "steady-b" ? 200 : 100));
      expect(await registry.invoke(name, "register", enc("segv"))).toBe(0); // segv -> echo
    }
    const results = await registry.dispatch("segv", enc("xyz"));
    expect(summary(results)).toEqual(["crashy:E_PLUGIN_CRASHED", "steady-b:3", "steady-c:3"]);
    expect(results[0]!.error).toBeInstanceOf(PluginCrashed);
    expect(await registry.invoke("crashy", "ok", enc("back"))).toBe(4);
  });
});

describe("mid-dispatch changes (v8 in-process)", () => {
  it("a subscriber unloaded during the dispatch is reported as PluginNotRunning, not skipped", async () => {
    newRegistry();
    await threeOnTrap();
    registry.once("fault", () => void registry.unload("probe-b"));
    const results = await registry.dispatch("trap", enc("x"));
    expect(summary(results)).toEqual(["probe-a:E_TRAP", "probe-b:E_PLUGIN_NOT_RUNNING", "probe-c:42"]);
    expect(results[1]!.error).toBeInstanceOf(PluginNotRunning);
    expect(results[1]!.error).toMatchObject({ plugin: "probe-b" });
  });

  it("a subscriber that restarted during the dispatch without registering the event again is reported, not called", async () => {
    // The dispatch waits on `slow` (a worker, so not on the synchronous fast path); meanwhile probe-b traps and
    // restarts, and its init does not register "x" again. When the dispatch reaches probe-b, on the fast path
    // again, it must see that, not call the guest with an event it no longer has.
    newRegistry();
    await registry.load(pluginDir("test/fixtures/c/slow"));
    await registry.load(probeCopy("probe-b", 200));
    expect(await registry.invoke("probe-b", "register", enc("x"))).toBe(0);
    expect(registry.subscribers("x")).toEqual(["slow", "probe-b"]);
    let done = false;
    const dispatching = registry.dispatch("x", new Uint8Array([60])).finally(() => (done = true));
    await expect(registry.invoke("probe-b", "trap")).rejects.toBeInstanceOf(PluginTrap);
    await until(() => registry.metrics("probe-b").restarts === 1 && registry.info("probe-b").state === "active", 10_000);
    expect(done).toBe(false); // the restart finished while the dispatch was still waiting on `slow`
    const results = await dispatching;
    expect(summary(results)).toEqual(["slow:7", "probe-b:E_INVOCATION_FAILED"]);
    expect(registry.subscribers("x")).toEqual(["slow"]);
  }, 30_000);

  it("a dispatch that waits on a restarting subscriber reaches a subscriber reloaded meanwhile once, in its new version", async () => {
    newRegistry({ recovery: { strategy: "restart", backoff: "linear", baseDelayMs: 1500, maxRetries: 5 } });
    await threeOnTrap();
    await expect(registry.invoke("probe-a", "trap")).rejects.toBeInstanceOf(PluginTrap); // restarts in 1.5 s
    const dispatching = registry.dispatch("ok");
    await registry.reload("probe-b");
    const results = await dispatching;
    expect(summary(results)).toEqual(["probe-a:42", "probe-b:42", "probe-c:42"]);
    expect(registry.info("probe-b").state).toBe("active");
    expect(registry.metrics("probe-a").restarts).toBe(1);
  });
});

describe.each(MODES)("an event sent right after a fault is delivered ($name)", ({ options }) => {
  it("dispatch right after a trap waits for the restart and reaches the new instance", async () => {
    newRegistry(options);
    await registry.load(pluginDir(CONFORMANCE));
    await expect(registry.invoke("conformance-c", "trap")).rejects.toBeInstanceOf(PluginTrap);
    expect(await registry.dispatch("echo", enc("abc"))).toEqual([{ plugin: "conformance-c", status: 3 }]);
    const chain = await registry.runHook("echo", enc("abc"));
    expect(chain.ok && dec(chain.data)).toBe("abc");
  });

  it("with a backoff, a call waits for it (bounded) instead of failing or being dropped", async () => {
    newRegistry({ ...options, recovery: { strategy: "restart", backoff: "linear", baseDelayMs: 300, maxRetries: 5 } });
    await registry.load(pluginDir(CONFORMANCE));
    await expect(registry.invoke("conformance-c", "trap")).rejects.toBeInstanceOf(PluginTrap);
    const t0 = performance.now();
    expect(await registry.dispatch("echo", enc("abcd"))).toEqual([{ plugin: "conformance-c", status: 4 }]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});

describe.each(MODES)("a message sent right after a fault is delivered ($name)", ({ options }) => {
  it("an emit to a plugin that is restarting reaches it once it is back, not nobody", async () => {
    newRegistry({ ...options, grants: { "*": ["stdio", "clock", `fs:read:${tmpdir()}`] } });
    for (const name of ["sender", "receiver"]) {
      const dir = copyPlugin(CONFORMANCE, (t) => t.replace('name = "conformance-c"', `name = "${name}"`));
      dirs.push(dir);
      await registry.load(dir);
    }
    await expect(registry.invoke("receiver", "trap")).rejects.toBeInstanceOf(PluginTrap);
    expect(await registry.invoke("sender", "emit", enc("echo"))).toBe(1); // one receiver, though it is restarting
    await until(() => registry.metrics("receiver").messagesReceived === 1 && registry.metrics("receiver").calls === 2, 10_000);
    expect(registry.metrics("receiver")).toMatchObject({ errors: 1, restarts: 1 }); // only the trap failed
  });
});

describe("an event sent right after a fault is delivered (CLI)", () => {
  it("plughost run --event trap --event trap --event echo=x prints three results", () => {
    const r = spawnSync(
      process.execPath,
      [path.join(root, "dist/cli/index.js"), "run", pluginDir(CONFORMANCE), ...CONFORMANCE_GRANTS.flatMap((g) => ["--grant", g]), "--event", "trap", "--event", "trap", "--event", "echo=x", "--json"],
      { encoding: "utf8", env: { ...process.env, PLUGHOST_LOG_LEVEL: "error" } },
    );
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => "event" in l)).toEqual([
      expect.objectContaining({ event: "trap", plugin: "conformance-c", error: "E_TRAP" }),
      expect.objectContaining({ event: "trap", plugin: "conformance-c", error: "E_TRAP" }),
      { event: "echo", plugin: "conformance-c", status: 1 },
    ]);
    expect(r.status).toBe(1); // a call failed
  });
});

describe("restartCount counts consecutive restarts", () => {
  it("a successful call after a restart resets it: maxRetries 2 survives any number of isolated traps", async () => {
    newRegistry({ recovery: { strategy: "restart", backoff: "linear", baseDelayMs: 0, maxRetries: 2 } });
    const probe = await registry.load(pluginDir(PROBE));
    for (let i = 0; i < 4; i++) {
      await expect(probe.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
      expect(await probe.invoke("ok")).toBe(42);
    }
    expect(probe.state).toBe("active");
    expect(registry.metrics("probe")).toMatchObject({ faults: 4, restarts: 4 });
    // Consecutive faults still use the retries up: trap, trap (on the restarted instance), trap -> disabled.
    await expect(probe.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
    await expect(probe.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
    await expect(probe.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
    expect(probe.state).toBe("error");
    await expect(probe.invoke("ok")).rejects.toBeInstanceOf(PluginNotRunning);
  });
});

describe("a sandbox helper killed past a call's deadline", () => {
  it("is one deadline violation, not two (the engine reports the kill and the call fails with it)", async () => {
    newRegistry();
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-call-path-spin-"));
    dirs.push(dir);
    copyFileSync(fixture("hostile"), path.join(dir, "hostile.so"));
    writeFileSync(
      path.join(dir, "plugin.toml"),
      'name = "spinner"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "hostile.so"\ntrust = "untrusted"\n\n[limits]\ndeadline-ms = 300\n',
    );
    const h = await registry.load(dir);
    await expect(h.invoke("spin", enc(""))).rejects.toMatchObject({ code: "E_DEADLINE_EXCEEDED", plugin: "spinner" });
    expect(registry.violations("spinner").map((v) => v.kind)).toEqual(["deadline"]);
    expect(registry.metrics("spinner").faults).toBe(1);
    expect(await h.invoke("ok", enc("back"))).toBe(4); // restarted
  }, 20_000);
});

describe("a sandbox helper killed between calls for CPU (CpuBudgetExceeded)", () => {
  it("is one deadline violation and one fault, not a trap and not twice; the plugin restarts", async () => {
    newRegistry();
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-call-path-intruder-"));
    dirs.push(dir);
    copyFileSync(fixture("intruder"), path.join(dir, "intruder.so"));
    writeFileSync(
      path.join(dir, "plugin.toml"),
      'name = "intruder"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "intruder.so"\ntrust = "untrusted"\n',
    );
    const h = await registry.load(dir);
    const other = await registry.load(pluginDir(CONFORMANCE));
    const killed = new Promise((r) => registry.once("violation", r));
    expect(await h.invoke("spin-after", enc(""))).toBe(0);
    await killed; // the host measured the idle CPU and killed the helper (default budget 2 s)
    expect(registry.violations("intruder").map((v) => v.kind)).toEqual(["deadline"]);
    const err = await h.invoke("ok", enc("")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CpuBudgetExceeded);
    expect(err).toMatchObject({ code: "E_CPU_BUDGET", plugin: "intruder" });
    expect(registry.violations("intruder").map((v) => v.kind)).toEqual(["deadline"]);
    expect(registry.metrics("intruder").faults).toBe(1);
    expect(await h.invoke("ok", enc("back"))).toBe(4); // restarted
    expect(await other.invoke("echo", enc("still"))).toBe(5);
  }, 60_000);
});
