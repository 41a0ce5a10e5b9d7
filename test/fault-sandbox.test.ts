// Fault injection, native sandbox: the helper process of an untrusted native
// plugin is killed from outside (SIGKILL, as the OOM killer or an operator
// would) at random points of a call: while a large payload goes in, while the
// plugin sums it, while pipelined calls are in flight, and between calls.
// Every call answers its right result or rejects with a typed PlughostError;
// the registry restarts the plugin and the next call is right again; no helper
// process is left behind, and a neighbour never notices.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { PluginCrashed, PlughostError, PluginRegistry } from "../src/index.js";
import { bytes, fixture } from "./native-helpers.js";

/** A small seeded PRNG (mulberry32): a failing round replays from the seed in the test name. */
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

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A plugin directory holding the `basic` native fixture, untrusted (in the sandbox helper). */
function pluginDir(name: string): { dir: string; lib: string } {
  const dir = mkdtempSync(path.join(tmpdir(), `plughost-fault-${name}-`));
  dirs.push(dir);
  // Named after the plugin: the helper's command line names the library, which tells the helpers apart.
  copyFileSync(fixture("basic"), path.join(dir, `fault-${name}.so`));
  writeFileSync(path.join(dir, "plugin.toml"), `name = "${name}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "fault-${name}.so"\ntrust = "untrusted"\n`);
  return { dir, lib: `fault-${name}.so` };
}

const registries: PluginRegistry[] = [];
afterEach(async () => {
  for (const r of registries.splice(0)) await r.unloadAll().catch(() => undefined);
});
const newRegistry = () => {
  const r = new PluginRegistry({
    logger: process.env.FI_DEBUG ? pino({ level: "error" }) : pino({ level: "silent" }),
    cacheDir: false,
    // Every kill is a fault on purpose: neither the threshold nor the restart budget may end the run.
    violationThreshold: 10_000,
    recovery: { strategy: "restart", maxRetries: 10_000, baseDelayMs: 1 },
  });
  registries.push(r);
  return r;
};

/**
 * The sandbox helper processes whose command line names the library `needle`: with `top`, only the one this
 * process started; otherwise its whole tree (the helper, its namespace's init and the plugin's process).
 */
function helpers(needle: string, top = false): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "latin1");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (top && ppid !== process.pid) continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, "latin1");
      if (cmd.includes("plughost-sandbox-helper") && cmd.includes(`/${needle}\0`)) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function killHelpers(needle: string): number {
  const pids = helpers(needle, true);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return pids.length;
}

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
    { timeout: 15_000, interval: 20 },
  );
}

/** What basic.so's `sum` answers: the byte sum, masked to a positive int32. */
const sumOf = (data: Uint8Array) => {
  let s = 0;
  for (const b of data) s = (s + b) >>> 0;
  return s & 0x7fffffff;
};

describe("the sandbox helper killed at random points of a call", () => {
  it(`large single calls (seed ${SEED}): the right sum or a typed PluginCrashed; restarted, the next sum is right`, async () => {
    const rnd = prng(SEED);
    const r = newRegistry();
    const { dir, lib } = pluginDir("summer");
    const neighbour = await r.load(pluginDir("neighbour").dir);
    const summer = await r.load(dir);
    expect(helpers(lib, true)).toHaveLength(1);
    let failed = 0;
    for (let round = 0; round < 14; round++) {
      // 0.25–4 MiB of random bytes: the kill lands while they are copied in, summed, or answered, or after.
      const data = new Uint8Array(Math.floor((0.25 + rnd() * 3.75) * (1 << 20)));
      for (let i = 0; i < data.length; i += 997) data[i] = Math.floor(rnd() * 256);
      const call = outcome(summer.invoke("sum", data));
      await new Promise((resolve) => setTimeout(resolve, rnd() * 6));
      killHelpers(lib);
      const result = await call;
      if (result instanceof PlughostError) {
        failed++;
        expect(result).toBeInstanceOf(PluginCrashed);
        expect(result.plugin).toBe("summer");
        expect((result as PluginCrashed).signal).toBe("SIGKILL");
      } else {
        expect(result).toBe(sumOf(data));
      }
      const check = Uint8Array.of(round, 1, 2, 3);
      await answersAgain(r, "summer", () => summer.invoke("sum", check), sumOf(check));
      expect(await neighbour.invoke("echo", bytes("still here"))).toBe(10);
    }
    expect(failed, "no kill landed inside a call").toBeGreaterThan(0);
    expect(r.violations("summer").every((v) => v.kind === "crash")).toBe(true);
    expect(r.violationCount("neighbour")).toBe(0);
    // One helper per plugin: the killed ones were reaped, none was started twice.
    expect(helpers(lib, true)).toHaveLength(1);
    await r.unloadAll();
    await vi.waitFor(() => expect(helpers(lib)).toHaveLength(0), { timeout: 5000 });
  });

  it(`pipelined calls (seed ${SEED + 1}): answered in order up to the kill, typed after it`, async () => {
    const rnd = prng(SEED + 1);
    const r = newRegistry();
    const { dir, lib } = pluginDir("counter");
    const counter = await r.load(dir);
    let faulted = 0;
    for (let round = 0; round < 10; round++) {
      await answersAgain(r, "counter", () => counter.invoke("echo", bytes("abc")), 3);
      const base = await counter.invoke("counter", bytes(""));
      // Pipelined calls take about a microsecond each: the kill comes in the same turn, after a random number of the
      // 3,000 calls were issued (the helper is already answering the first ones).
      const at = Math.floor(rnd() * 3000);
      const calls: Promise<number | PlughostError>[] = [];
      for (let i = 0; i < 3000; i++) {
        if (i === at) killHelpers(lib);
        calls.push(outcome(counter.invoke("counter", bytes(""))));
      }
      let next = base + 1;
      let afterFault = false;
      for (const res of await Promise.all(calls)) {
        if (res instanceof PlughostError) {
          expect(res.plugin).toBe("counter");
          if (!afterFault) faulted++;
          afterFault = true;
        } else if (!afterFault) {
          // No wrong answer: the counter of the killed helper, in call order.
          expect(res).toBe(next++);
        } else {
          // Only a restarted helper can answer after the fault, and its counter starts again.
          expect(res).toBeGreaterThanOrEqual(1);
          expect(res).toBeLessThanOrEqual(3000);
        }
      }
    }
    expect(faulted, "no kill landed inside a pipeline").toBeGreaterThan(0);
    await answersAgain(r, "counter", () => counter.invoke("echo", bytes("after")), 5);
    expect(r.info("counter").state).toBe("active");
    await r.unloadAll();
    await vi.waitFor(() => expect(helpers(lib)).toHaveLength(0), { timeout: 5000 });
  });

  it("a helper killed again while the restart starts it: the plugin is disabled with the reason, and enable() brings it back", async () => {
    const r = newRegistry();
    const { dir, lib } = pluginDir("twice");
    const twice = await r.load(dir);
    expect(await twice.invoke("counter", bytes(""))).toBe(1);
    const [first] = helpers(lib, true);
    const disabled = new Promise<{ reason: string }>((resolve) => r.once("disabled", resolve));
    // After each fault, kill every new helper as soon as it shows up, until one dies while the restart starts it
    // (a kill that comes after a restart completed is just another fault, and the next restart is tried).
    const killed = new Set<number>([first!]);
    let done = false;
    void disabled.then(() => (done = true));
    const poll = setInterval(() => {
      if (done) return clearInterval(poll);
      for (const pid of helpers(lib, true)) {
        if (!killed.has(pid)) {
          killed.add(pid);
          process.kill(pid, "SIGKILL");
        }
      }
    }, 0);
    process.kill(first!, "SIGKILL");
    // Calls meanwhile: the plugin's own process may answer a last one (right) before the host sees its helper gone;
    // after that they are typed faults or refusals, never a wrong count.
    let seen = 1;
    for (let i = 0; i < 200 && !done; i++) {
      const res = await outcome(twice.invoke("counter", bytes("")));
      if (typeof res === "number") {
        expect(res === seen + 1 || res === 1, `counter answered ${res} after ${seen}`).toBe(true);
        seen = res;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const { reason } = await disabled;
    clearInterval(poll);
    expect(killed.size).toBeGreaterThan(1);
    expect(reason).toMatch(/^restart failed: .*\[twice\]/);
    expect(r.info("twice")).toMatchObject({ state: "error", disabledReason: reason });
    const refused = await outcome(twice.invoke("counter", bytes("")));
    expect(refused).toBeInstanceOf(PlughostError);
    expect((refused as PlughostError).plugin).toBe("twice");
    await r.enable("twice");
    expect(await twice.invoke("counter", bytes(""))).toBe(1);
    await r.unloadAll();
    await vi.waitFor(() => expect(helpers(lib)).toHaveLength(0), { timeout: 5000 });
  });

  it("a helper killed while idle: the next call is a typed fault or already served by a restarted helper, then right", async () => {
    const r = newRegistry();
    const { dir, lib } = pluginDir("idle");
    const idle = await r.load(dir);
    for (let round = 0; round < 5; round++) {
      expect(await outcome(idle.invoke("echo", bytes("warm")))).toBe(4);
      expect(killHelpers(lib)).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const first = await outcome(idle.invoke("echo", bytes("12345")));
      if (first instanceof PlughostError) expect(first).toBeInstanceOf(PluginCrashed);
      else expect(first).toBe(5);
      await answersAgain(r, "idle", () => idle.invoke("echo", bytes("123456")), 6);
    }
    await r.unloadAll();
    await vi.waitFor(() => expect(helpers(lib)).toHaveLength(0), { timeout: 5000 });
  });
});
