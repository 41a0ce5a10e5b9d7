// Fault injection, v8 worker isolation: the plugin's worker thread is ended
// from outside (as a crash of that thread would end it) at random points of a
// call: before it, while the guest runs, between pipelined calls. Each call
// either answers its right result or rejects with a typed PlughostError; the
// registry restarts the plugin and the next call answers correctly; no thread
// is left behind.
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PluginCrashed, PlughostError, PluginRegistry } from "../src/index.js";
import { liveWorkerCount, workersByPlugin } from "../src/engines/v8/worker/host.js";
import { copyPlugin, enc, pluginDir, silentLogger } from "./helpers/plugins.js";

const SLOW = "test/fixtures/c/slow";
const PROBE = "test/fixtures/c/probe";

/** A small seeded PRNG (mulberry32), so a failing round can be replayed from the seed in the test name. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const SEED = Number(process.env.PLUGHOST_FAULT_SEED ?? 20_2026);

const registries: PluginRegistry[] = [];
afterEach(async () => {
  for (const r of registries.splice(0)) await r.unloadAll().catch(() => undefined);
});

const newRegistry = () => {
  const r = new PluginRegistry({
    logger: process.env.FI_DEBUG ? pino({ level: "error" }) : silentLogger(),
    cacheDir: false,
    isolation: "worker",
    // Every kill is a fault on purpose: neither the threshold nor the restart budget may end the run.
    violationThreshold: 10_000,
    recovery: { strategy: "restart", maxRetries: 10_000, baseDelayMs: 1 },
  });
  registries.push(r);
  return r;
};

/** End the plugin's live worker thread from outside; false when none runs right now (mid-restart). */
function killWorker(plugin: string): boolean {
  for (const inst of workersByPlugin.get(plugin) ?? []) {
    const t = inst.thread;
    if (t) {
      void t.terminate();
      return true;
    }
  }
  return false;
}

/** The outcome of a call: its status, or the error, which must be a typed PlughostError. */
async function outcome(p: Promise<number>): Promise<number | PlughostError> {
  try {
    return await p;
  } catch (err) {
    expect(err, `an untyped error escaped: ${String(err)}`).toBeInstanceOf(PlughostError);
    return err as PlughostError;
  }
}

/** Calls until one answers `want` (a restart may still be on its way); fails past the timeout, saying why. */
async function answersAgain(r: PluginRegistry, name: string, call: () => Promise<number>, want: number): Promise<void> {
  await vi.waitFor(
    async () => {
      const info = r.info(name);
      expect(await outcome(call()), `${name} is ${info.state}${info.disabledReason ? ` (${info.disabledReason})` : ""}`).toBe(want);
    },
    { timeout: 10_000, interval: 20 },
  );
}

describe("a worker thread ended at random points of a call", () => {
  it(`single calls (seed ${SEED}): each answers 7 or fails typed; the restarted plugin answers 7`, async () => {
    const rnd = prng(SEED);
    const r = newRegistry();
    const slow = await r.load(pluginDir(SLOW));
    let killed = 0;
    let failed = 0;
    for (let round = 0; round < 16; round++) {
      // 1–8 million loop turns: a few ms of guest time; the kill lands before, during or after it.
      const turns = 1 + Math.floor(rnd() * 8);
      const delay = rnd() * 12;
      const call = outcome(slow.invoke("x", Uint8Array.of(turns)));
      const kill = new Promise<void>((resolve) =>
        setTimeout(() => {
          if (killWorker("slow")) killed++;
          resolve();
        }, delay),
      );
      const [result] = await Promise.all([call, kill]);
      if (result instanceof PlughostError) {
        failed++;
        expect(result).toBeInstanceOf(PluginCrashed);
        expect(result.plugin).toBe("slow");
        expect(result.message).toMatch(/slow/);
      } else {
        expect(result).toBe(7);
      }
      await answersAgain(r, "slow", () => slow.invoke("x", Uint8Array.of(1)), 7);
    }
    expect(killed).toBeGreaterThan(10);
    // Kills landed inside calls, and every one was a typed fault the registry recorded and recovered from.
    expect(failed).toBeGreaterThan(0);
    expect(r.violations("slow").every((v) => v.kind === "crash")).toBe(true);
    expect(r.metrics("slow").restarts).toBeGreaterThanOrEqual(failed);
    expect(r.info("slow").state).toBe("active");
    await r.unloadAll();
    await vi.waitFor(() => expect(liveWorkerCount()).toBe(0), { timeout: 5000 });
  });

  it(`pipelined calls (seed ${SEED + 1}): answered in order up to the kill, typed after it; state restarts from scratch`, async () => {
    const rnd = prng(SEED + 1);
    const r = newRegistry();
    const probe = await r.load(pluginDir(PROBE));
    const other = await r.load(copyPlugin(PROBE, (t) => t.replace(/^name = .*$/m, 'name = "bystander"')));
    let faulted = 0;
    for (let round = 0; round < 8; round++) {
      await answersAgain(r, "probe", () => probe.invoke("len", enc("abc")), 3);
      // The counter starts again with every new worker: read where it stands, then pipeline the counts.
      const base = await probe.invoke("count");
      // The host thread pumps answers while calls are due, so a timer would fire only after them: the kill comes
      // in the same turn, after a random number of the 2,000 calls were issued (the worker is already answering).
      const at = Math.floor(rnd() * 2000);
      const calls: Promise<number | PlughostError>[] = [];
      for (let i = 0; i < 2000; i++) {
        if (i === at) killWorker("probe");
        calls.push(outcome(probe.invoke("count")));
      }
      const results = await Promise.all(calls);
      // No wrong result: the answers that came are base+1, base+2, … in order; after the first failure none succeeds
      // on the dead thread (a later success would come from the restarted instance and count from 1).
      let next = base + 1;
      let afterFault = false;
      for (const res of results) {
        if (res instanceof PlughostError) {
          expect(res.plugin).toBe("probe");
          if (!afterFault) faulted++;
          afterFault = true;
        } else if (!afterFault) {
          expect(res).toBe(next++);
        } else {
          expect(res).toBeGreaterThanOrEqual(1);
        }
      }
      // The same plugin in its own worker never noticed.
      expect(await other.invoke("len", enc("still"))).toBe(5);
    }
    expect(faulted, "no kill landed inside a pipeline").toBeGreaterThan(0);
    await answersAgain(r, "probe", () => probe.invoke("len", enc("after")), 5);
    expect(r.info("probe").state).toBe("active");
    await r.unloadAll();
    await vi.waitFor(() => expect(liveWorkerCount()).toBe(0), { timeout: 5000 });
  });

  it("a worker ended again while the restart loads it: the plugin is disabled with the reason, typed, and enable() brings it back", async () => {
    const r = newRegistry();
    const probe = await r.load(pluginDir(PROBE));
    expect(await probe.invoke("count")).toBe(1);
    const first = [...(workersByPlugin.get("probe") ?? [])][0]!;
    const disabled = new Promise<{ reason: string }>((resolve) => r.once("disabled", resolve));
    // End every new worker as soon as it shows up, until one dies while the restart loads it (a kill that comes
    // after a restart completed is just another fault, and the next restart is tried).
    const killed = new Set([first]);
    let done = false;
    void disabled.then(() => (done = true));
    const poll = setInterval(() => {
      if (done) return clearInterval(poll);
      for (const inst of workersByPlugin.get("probe") ?? []) {
        if (!killed.has(inst) && inst.thread) {
          killed.add(inst);
          void inst.thread.terminate();
        }
      }
    }, 0);
    void first.thread!.terminate();
    const err = await outcome(probe.invoke("count"));
    expect(err).toBeInstanceOf(PluginCrashed);
    const { reason } = await disabled;
    clearInterval(poll);
    expect(reason).toMatch(/^restart failed: .*\[probe\].*(worker thread exited|crashed)/);
    expect(r.info("probe")).toMatchObject({ state: "error", disabledReason: reason });
    // Calls meanwhile are refused, typed, naming the plugin.
    const refused = await outcome(probe.invoke("count"));
    expect(refused).toBeInstanceOf(PlughostError);
    expect((refused as PlughostError).plugin).toBe("probe");
    await r.enable("probe");
    expect(await probe.invoke("count")).toBe(1);
    await r.unloadAll();
    await vi.waitFor(() => expect(liveWorkerCount()).toBe(0), { timeout: 5000 });
  });
});
