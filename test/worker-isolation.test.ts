import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import {
  ContextCreationFailed,
  DeadlineExceeded,
  EngineUnavailable,
  FuelExhausted,
  InitializationFailed,
  PluginExited,
  PluginRegistry,
  PluginTrap,
  type HostCalls,
} from "../src/index.js";
import { v8Engine } from "../src/engines/v8/engine.js";
import { compileComponent } from "../src/engines/v8/compile.js";
import { liveWorkerCount } from "../src/engines/v8/worker/host.js";
import { copyPlugin, dec, enc, pluginDir, silentHost, silentLogger } from "./helpers/plugins.js";

const PROBE = "test/fixtures/c/probe";
const BENCH = "test/fixtures/c/bench";
const TRANSFORM_C = "examples/c/transform";
const HELLO_C = "examples/c/hello";
const TRANSFORM_JS = "examples/js/transform";
/** A C constructor that never returns: instantiation (the reactor's _initialize) hangs. */
const HOSTILE_START = "test/fixtures/c/hostile-start";

// A disk cache lets each new worker read the transpiled glue instead of transpiling again.
const cacheDir = mkdtempSync(path.join(tmpdir(), "plughost-worker-test-"));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

const registries: PluginRegistry[] = [];
const newRegistry = (options: ConstructorParameters<typeof PluginRegistry>[0] = {}) => {
  const r = new PluginRegistry({ logger: silentLogger(), cacheDir, ...options });
  registries.push(r);
  return r;
};
afterEach(async () => {
  for (const r of registries.splice(0)) await r.unloadAll().catch(() => undefined);
});

/** A copy of a plugin whose manifest asks for worker isolation (and optionally another name). */
const workerCopy = (rel: string, name?: string) =>
  copyPlugin(rel, (t) => {
    const renamed = name ? t.replace(/^name = ".*"$/m, `name = "${name}"`) : t;
    return renamed.replace(/^(version = .*)$/m, `$1\nisolation = "worker"`);
  });

/** This process's OS threads by id (Linux). Threads started by earlier tests (a runtime's idle pool) may exit at any time, so checks follow ids, not counts. */
function threadIds(): Set<number> {
  return new Set(readdirSync("/proc/self/task").map(Number));
}

/** Which of `ids` are still running once they have all exited, or after 5 s (a terminated worker's thread is joined a moment after `terminate()` settles). */
async function lingering(ids: number[]): Promise<number[]> {
  const until = Date.now() + 5_000;
  let left = ids.filter((t) => threadIds().has(t));
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
    left = left.filter((t) => threadIds().has(t));
  }
  return left;
}

/** Fuel past the default (1e9 units can run out in 0.2-0.5 s of spinning): in deadline tests the deadline must end the spin. */
const DEADLINE_ONLY_FUEL = 1e15;

const nextTicks = () => new Promise<void>((r) => setImmediate(() => setImmediate(r)));

describe("isolation: worker on the v8 engine", () => {
  it("gives the same dispatch and hook results as in process", async () => {
    const inproc = newRegistry();
    const worker = newRegistry({ isolation: "worker" });
    for (const rel of [PROBE, BENCH, TRANSFORM_C, HELLO_C]) {
      await inproc.load(pluginDir(rel));
      await worker.load(pluginDir(rel));
    }
    expect(worker.get("probe").callbacks).toEqual(inproc.get("probe").callbacks);

    const payloads = [new Uint8Array(0), enc("hello, worker"), new Uint8Array(16).fill(7), new Uint8Array(300_000).fill(0x61)];
    for (const data of payloads) {
      expect(await worker.invoke("probe", "len", data)).toBe(await inproc.invoke("probe", "len", data));
      expect(await worker.invoke("bench", "status", data)).toBe(await inproc.invoke("bench", "status", data));
      const w = await worker.hook("transform-c", "transform", data);
      const i = await inproc.hook("transform-c", "transform", data);
      expect(w).toEqual(i);
    }
    expect(await worker.invoke("probe", "ok")).toBe(42);
    const greetW = await worker.runHook("greet", enc("you"));
    const greetI = await inproc.runHook("greet", enc("you"));
    expect(dec(greetW.data)).toBe(dec(greetI.data));
    expect(await worker.dispatch("greet", enc("x"))).toEqual(await inproc.dispatch("greet", enc("x")));
    // Instance state lives in the worker and persists across calls.
    expect(await worker.invoke("probe", "count")).toBe(1);
    expect(await worker.invoke("probe", "count")).toBe(2);
  });

  it("runs a componentize-js plugin in a worker with the same hook output", async () => {
    const inproc = newRegistry();
    const worker = newRegistry({ isolation: "worker" });
    await inproc.load(pluginDir(TRANSFORM_JS));
    await worker.load(pluginDir(TRANSFORM_JS));
    for (const text of ["abc", "Grüße, wörld", ""]) {
      expect(await worker.hook("transform-js", "transform", enc(text))).toEqual(await inproc.hook("transform-js", "transform", enc(text)));
    }
  });

  it("routes host calls to the host thread: log, register-callback outcomes, config", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const registry = newRegistry({ isolation: "worker", logger, hostCalls: { maxCallbacks: 12 } });
    const probe = await registry.load(pluginDir(PROBE));
    expect(probe.callbacks).toHaveLength(10);

    expect(await probe.invoke("log")).toBe(0);
    expect(registry.metrics("probe").logs).toBe(1);
    expect(lines.some((l) => JSON.parse(l).msg === "tick" && JSON.parse(l).plugin === "probe")).toBe(true);

    // register-callback returns the host's real outcome to the guest, synchronously.
    expect(await probe.invoke("register", enc("bad name!\0"))).toBe(1);
    expect(await probe.invoke("register", enc("a.b:c/d-e_f\0"))).toBe(0);
    expect(await probe.invoke("register", enc("second\0"))).toBe(0);
    expect(await probe.invoke("register", enc("one-too-many\0"))).toBe(2);
    expect(probe.callbacks).toContain("a.b:c/d-e_f");
    expect(await probe.invoke("a.b:c/d-e_f")).toBe(42);

    // init reads the config through get-config: the override reaches the worker.
    const failing = newRegistry({ isolation: "worker", config: { probe: { "fail-init": true } } });
    await expect(failing.load(pluginDir(PROBE))).rejects.toBeInstanceOf(InitializationFailed);
  });

  it("runs capability-scoped WASI inside the worker: stdio to the logger, clocks, random, config values", async () => {
    const lines: { level: number; msg: string; plugin?: string }[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const registry = newRegistry({
      isolation: "worker",
      logger,
      grants: ["stdio", "clock", "random"],
      config: { "stdio-go": { name: "gopher", n: 12 } },
    });
    const go = await registry.load(pluginDir("guest-sdks/go/testdata/stdio"));
    expect(await go.invoke("print", enc("x"))).toBe(0);
    const got = lines.filter((l) => /^(to std|from println)/.test(l.msg)).map((l) => [l.level, l.msg, l.plugin]);
    expect(got).toEqual([
      [30, "to stdout: x", "stdio-go"],
      [40, "to stderr", "stdio-go"],
      [40, "from println", "stdio-go"],
    ]);
    expect(await go.invoke("sleep")).toBeGreaterThanOrEqual(20);
    // get-config-value and get-config, answered by the host thread.
    expect(await go.invoke("config", enc("name"))).toBe('"gopher"'.length);
    expect(await go.invoke("config", enc("missing"))).toBe(-1);
    const r = await go.hook("config");
    expect(r.ok && JSON.parse(dec(r.data))).toEqual({ name: "gopher", n: 12 });

    const dice = await registry.load(pluginDir("test/fixtures/c/random-user"));
    const rolls = new Set<number>();
    for (let i = 0; i < 20; i++) rolls.add(await dice.invoke("roll"));
    expect(rolls.size).toBeGreaterThan(1);
    for (const v of rolls) expect(v).toBeGreaterThanOrEqual(0);
  });

  it("delivers emit/send between a worker plugin and an in-process one, both ways", async () => {
    const registry = newRegistry();
    const w = await registry.load(workerCopy(PROBE, "probe-w"));
    const p = await registry.load(pluginDir(PROBE));
    expect(await p.invoke("register", enc("ping\0"))).toBe(0);
    expect(await w.invoke("register", enc("ping\0"))).toBe(0);

    // Worker → in-process: emit returns the number of receivers (the real outcome).
    expect(await w.invoke("emit", enc("from worker"))).toBe(1);
    await nextTicks();
    expect(registry.metrics("probe").messagesReceived).toBe(1);
    expect(registry.metrics("probe-w").messagesSent).toBe(1);

    // In-process → worker.
    expect(await p.invoke("emit", enc("from host thread"))).toBe(1);
    await nextTicks();
    await new Promise((r) => setTimeout(r, 20));
    expect(registry.metrics("probe-w").messagesReceived).toBe(1);

    // A payload too big for the ring crosses over the port.
    expect(await w.invoke("emit", new Uint8Array(200_000).fill(3))).toBe(1);
    await nextTicks();
    await new Promise((r) => setTimeout(r, 20));
    expect(registry.metrics("probe").messagesReceived).toBe(2);
  });

  it("hands a config bigger than the reply area to the worker intact, and a big hook result back", async () => {
    const config = { name: "gopher", huge: "x".repeat(100_000), tail: "end" };
    const registry = newRegistry({ isolation: "worker", grants: ["stdio", "clock", "random"], config: { "stdio-go": config } });
    const go = await registry.load(pluginDir("guest-sdks/go/testdata/stdio"));
    // get-config's reply (> 64 KiB) and the hook's result (> 64 KiB) both go over the ports.
    const r = await go.hook("config");
    expect(r.ok && JSON.parse(dec(r.data))).toEqual(config);
    expect(await go.invoke("config", enc("tail"))).toBe('"end"'.length);
  });

  it("kills a runaway call at its deadline, records it, and respawns a worker that answers again", async () => {
    const registry = newRegistry({ isolation: "worker", defaultLimits: { deadlineMs: 150, fuel: DEADLINE_ONLY_FUEL } });
    const probe = await registry.load(pluginDir(PROBE));
    expect(await probe.invoke("count")).toBe(1);
    expect(await probe.invoke("count")).toBe(2);
    const restarted = new Promise((r) => registry.once("restarted", r));
    const started = performance.now();
    const err = await probe.invoke("spin").catch((e: unknown) => e);
    const took = performance.now() - started;
    expect(err).toBeInstanceOf(DeadlineExceeded);
    expect(err).toMatchObject({ code: "E_DEADLINE_EXCEEDED", plugin: "probe", deadlineMs: 150, export: "plughost:plugin/guest#on-event" });
    expect(took).toBeGreaterThanOrEqual(145);
    expect(registry.violations("probe").map((v) => v.kind)).toEqual(["deadline"]);
    await restarted;
    // A new worker: the state was lost with the old one.
    expect(await probe.invoke("count")).toBe(1);
    expect(probe.state).toBe("active");
    // The killed thread is gone (its exit is reported asynchronously); only the new one runs.
    await vi.waitFor(() => expect(liveWorkerCount()).toBe(1), { timeout: 5000 });
  });

  it("pipelines registry calls into a worker plugin: all in flight at once, answered in call order", async () => {
    const registry = newRegistry({ isolation: "worker" });
    const probe = await registry.load(pluginDir(PROBE));
    const calls = Array.from({ length: 2000 }, () => registry.invoke("probe", "count"));
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
    expect(probe.metrics.calls).toBe(2000);
  });

  it("counts one fault when calls queued behind a runaway fail with it, and respawns once", async () => {
    const registry = newRegistry({ isolation: "worker", defaultLimits: { deadlineMs: 150, fuel: DEADLINE_ONLY_FUEL } });
    await registry.load(pluginDir(PROBE));
    let restarts = 0;
    registry.on("restarted", () => restarts++);
    const restarted = new Promise((r) => registry.once("restarted", r));
    const spin = registry.invoke("probe", "spin").catch((e: unknown) => e);
    const queued = Array.from({ length: 5 }, () => registry.invoke("probe", "count").catch((e: unknown) => e));
    expect(await spin).toBeInstanceOf(DeadlineExceeded);
    for (const r of await Promise.all(queued)) expect(typeof r === "number" || r instanceof Error).toBe(true);
    await restarted;
    expect(registry.violations("probe").map((v) => v.kind)).toEqual(["deadline"]);
    expect(registry.metrics("probe")).toMatchObject({ faults: 1 });
    expect(await registry.invoke("probe", "count")).toBeGreaterThanOrEqual(1);
    expect(restarts).toBe(1);
  });

  it("keeps the event loop and other plugins answering while a worker plugin runs away", async () => {
    const registry = newRegistry({ defaultLimits: { deadlineMs: 600, fuel: DEADLINE_ONLY_FUEL } });
    const runaway = await registry.load(workerCopy(PROBE, "runaway"));
    const other = await registry.load(workerCopy(BENCH, "other"));
    const inproc = await registry.load(pluginDir(PROBE));

    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    let answered = 0;
    let inprocAnswered = 0;
    let settled = false;
    const spin = runaway.invoke("spin").then(
      () => "returned",
      (e: unknown) => e,
    );
    void spin.then(() => (settled = true));
    const data = new Uint8Array(16).fill(1);
    while (!settled) {
      expect(await other.invoke("status", data)).toBe(16);
      answered++;
      expect(await inproc.invoke("len", data)).toBe(16);
      inprocAnswered++;
      // No explicit yield: awaiting worker calls in a tight loop must not starve timers.
    }
    clearInterval(timer);
    expect(await spin).toBeInstanceOf(DeadlineExceeded);
    // ~600 ms of runaway: the loop kept running timers (the deadline's among them) and
    // both other plugins kept answering.
    expect(ticks).toBeGreaterThan(20);
    expect(answered).toBeGreaterThan(100);
    expect(inprocAnswered).toBe(answered);
  });

  it("turns traps, exit and fuel exhaustion in the worker into the same typed errors as in process", async () => {
    const registry = newRegistry({ isolation: "worker", defaultLimits: { fuel: 2_000_000 } });
    const inproc = newRegistry({ defaultLimits: { fuel: 2_000_000 } });
    const probe = await registry.load(pluginDir(PROBE));
    const ref = await inproc.load(pluginDir(PROBE));
    for (const [event, cls] of [
      ["trap", PluginTrap],
      ["exit", PluginExited],
      ["spin", FuelExhausted],
    ] as const) {
      const w = await probe.invoke(event).catch((e: unknown) => e);
      const i = await ref.invoke(event).catch((e: unknown) => e);
      expect(w).toBeInstanceOf(cls);
      expect(w).toBeInstanceOf(Error);
      const pick = (e: unknown) => {
        const { code, plugin, message, export: exp, budget, exitCode } = e as Record<string, unknown>;
        return { code, plugin, message, export: exp, budget, exitCode };
      };
      expect(pick(w)).toEqual(pick(i));
      await new Promise((r) => registry.once("restarted", r));
      await new Promise((r) => setImmediate(r));
    }
    expect(registry.violations("probe").map((v) => v.kind)).toEqual(["trap", "trap", "fuel"]);
    expect(registry.metrics("probe").restarts).toBe(3);
    // Metering works in the worker: the fuel a call used is reported.
    await probe.invoke("grow", new Uint8Array([1]));
    expect(registry.metrics("probe").lastCallFuel).toBeGreaterThan(1000);
  });

  it("forwards a refused memory.grow from the worker as a violation without failing the plugin", async () => {
    const registry = newRegistry({ isolation: "worker", defaultLimits: { memoryBytes: 4 * 1024 * 1024 } });
    const probe = await registry.load(pluginDir(PROBE));
    expect(await probe.invoke("grow", new Uint8Array([1]))).toBe(0);
    expect(await probe.invoke("grow", new Uint8Array([16]))).toBe(1);
    expect(new Set(registry.violations("probe").map((v) => v.kind))).toEqual(new Set(["memory"]));
    expect(await probe.invoke("ok")).toBe(42);
  });

  it("reports load failures with the same typed errors as in process", async () => {
    const registry = newRegistry({ isolation: "worker" });
    // random-user imports wasi:random; without the grant the load fails before any worker starts.
    const inproc = newRegistry();
    const w = await registry.load(pluginDir("test/fixtures/c/random-user")).catch((e: unknown) => e);
    const i = await inproc.load(pluginDir("test/fixtures/c/random-user")).catch((e: unknown) => e);
    expect((w as { code?: string }).code).toBe((i as { code?: string }).code);
    expect((w as Error).message).toBe((i as Error).message);
    expect(liveWorkerCount()).toBe(0);
  });

  it("pipelines many calls into one worker and answers them in order", async () => {
    const host: HostCalls = silentHost();
    const load = (rel: string, plugin: string) =>
      v8Engine.load({ plugin, entryPath: path.join(pluginDir(rel), "plugin.wasm"), capabilities: [], limits: {}, host, cacheDir, isolation: "worker" });
    const probe = await load(PROBE, "probe");
    const transform = await load(TRANSFORM_C, "transform-c");
    try {
      expect(await probe.init("0.1.0", "{}")).toBe(0);
      expect(await transform.init("0.1.0", "{}")).toBe(0);
      // More calls than the ring holds at once, with sizes from 0 to 200 KiB (some go over the port).
      const sizes = Array.from({ length: 5000 }, (_, i) => (i % 997 === 0 ? 200_000 : i % 50));
      const results = await Promise.all(sizes.map((n) => probe.onEvent("len", new Uint8Array(n))));
      expect(results).toEqual(sizes);
      const texts = Array.from({ length: 2000 }, (_, i) => `item ${i} ${"x".repeat(i % 300)}`);
      const hooks = await Promise.all(texts.map((t) => transform.onHook("transform", enc(t))));
      expect(hooks.map((h) => (h.ok ? dec(h.data) : `err ${h.status}`))).toEqual(texts.map((t) => t.toUpperCase()));
      const big = new Uint8Array(3 * 1024 * 1024).fill(0x62);
      const out = await transform.onHook("transform", big);
      expect(out.ok && out.data.length === big.length && out.data.every((b) => b === 0x42)).toBe(true);
    } finally {
      await probe.dispose();
      await transform.dispose();
    }
    expect(liveWorkerCount()).toBe(0);
  });

  it("bounds loading by the deadline: a start-up that never returns fails the load, kills its worker, and the rest keeps answering", async () => {
    const registry = newRegistry({ isolation: "worker", defaultLimits: { deadlineMs: 200, fuel: DEADLINE_ONLY_FUEL } });
    const other = await registry.load(workerCopy(PROBE, "probe-w"));
    const inproc = await registry.load(copyPlugin(PROBE));
    // Transpile on the host thread now, so the timing below is the worker's start plus the deadline.
    const entry = path.join(pluginDir(HOSTILE_START), "plugin.wasm");
    await compileComponent(new Uint8Array(readFileSync(entry)), { file: entry, plugin: "hostile-start", cacheDir });
    expect(await other.invoke("count")).toBe(1);
    const workersBefore = liveWorkerCount();
    const threadsBefore = threadIds();

    const started = performance.now();
    let settled = false;
    const loading = registry.load(pluginDir(HOSTILE_START)).then(
      () => "loaded",
      (e: unknown) => e,
    );
    void loading.then(() => (settled = true));
    // While the start-up spins in its worker, both other plugins keep answering.
    let answered = 0;
    const data = new Uint8Array(16);
    while (!settled) {
      expect(await other.invoke("len", data)).toBe(16);
      expect(await inproc.invoke("len", data)).toBe(16);
      answered++;
    }
    const err = await loading;
    const took = performance.now() - started;

    expect(err).toBeInstanceOf(DeadlineExceeded);
    expect(err).toMatchObject({ code: "E_DEADLINE_EXCEEDED", plugin: "hostile-start", deadlineMs: 200, export: "instantiate" });
    expect((err as Error).message).toBe("[hostile-start] instantiate: exceeded its 200 ms deadline");
    // Only the start-up's own time counts, and the kill follows the deadline closely
    // (the rest is the worker's start, ~0.1-0.3 s, more on a loaded machine).
    expect(took).toBeGreaterThanOrEqual(195);
    expect(took).toBeLessThan(5000);
    expect(answered).toBeGreaterThan(10);

    // Nothing is left behind: the thread has exited by the time the load rejects.
    expect(liveWorkerCount()).toBe(workersBefore);
    expect([...threadIds()].filter((t) => !threadsBefore.has(t))).toEqual([]);
    expect(registry.isLoaded("hostile-start")).toBe(false);
    expect(registry.info("hostile-start").state).toBe("unloaded");
    // The other worker plugin is the same instance, state intact.
    expect(await other.invoke("count")).toBe(2);
    expect(await inproc.invoke("ok")).toBe(42);
    expect(registry.violations("probe-w")).toEqual([]);

    // The wasmtime engine (epoch deadline) fails the same load with the same error, where its addon is built.
    const wasmtime = newRegistry({ engine: "wasmtime", defaultLimits: { deadlineMs: 200, fuel: DEADLINE_ONLY_FUEL } });
    const onWasmtime = await wasmtime.load(pluginDir(HOSTILE_START)).catch((e: unknown) => e);
    if (!(onWasmtime instanceof EngineUnavailable)) {
      const pick = (e: unknown) => {
        const { code, plugin, message, export: exp, deadlineMs } = e as Record<string, unknown>;
        return { cls: (e as Error).constructor, code, plugin, message, export: exp, deadlineMs };
      };
      expect(pick(onWasmtime)).toEqual(pick(err));
    }
  });

  it("with fuel and no deadline, the same start-up fails the load with a typed error, in process and in a worker", async () => {
    const results: unknown[] = [];
    for (const isolation of ["in-process", "worker"] as const) {
      const registry = newRegistry({ isolation, defaultLimits: { fuel: 5_000_000 } });
      const other = await registry.load(copyPlugin(PROBE));
      const workersBefore = liveWorkerCount();
      const started = performance.now();
      const err = await registry.load(pluginDir(HOSTILE_START)).catch((e: unknown) => e);
      expect(performance.now() - started).toBeLessThan(15_000);
      // Fuel runs out inside instantiation: FuelExhausted at "instantiate", as wasmtime reports it.
      expect(err).toBeInstanceOf(FuelExhausted);
      expect(err).toMatchObject({ code: "E_FUEL_EXHAUSTED", plugin: "hostile-start", export: "instantiate" });
      expect(liveWorkerCount()).toBe(workersBefore);
      expect(await other.invoke("ok")).toBe(42);
      results.push(err);
    }
    // The worker reports exactly what the in-process engine does.
    expect((results[1] as Error).message).toBe((results[0] as Error).message);
  });

  it("terminates the worker on unload: no thread is left behind", async () => {
    // Warm up once so lazily started process threads (libuv pool, …) are already there.
    const warm = newRegistry({ isolation: "worker" });
    await warm.load(pluginDir(PROBE));
    await warm.unloadAll();
    const workersBefore = liveWorkerCount();
    const threadsBefore = threadIds();

    const registry = newRegistry({ isolation: "worker" });
    await registry.load(pluginDir(PROBE));
    await registry.load(workerCopy(BENCH, "bench-w"));
    expect(liveWorkerCount()).toBe(workersBefore + 2);
    // Each worker runs on an OS thread of its own.
    const started = [...threadIds()].filter((t) => !threadsBefore.has(t));
    expect(started.length).toBeGreaterThanOrEqual(2);
    await registry.unload("probe");
    expect(liveWorkerCount()).toBe(workersBefore + 1);
    await registry.unloadAll();
    expect(liveWorkerCount()).toBe(workersBefore);
    // terminate() settles when the worker's isolate has stopped; its OS thread is joined a moment later, so wait
    // (bounded) for those threads to exit rather than sample once on a loaded machine.
    expect(await lingering(started)).toEqual([]);
  });
});
