// Worker isolation benchmarks (isolation: "worker" on the v8 engine):
// sequential dispatch, pipelined throughput across two workers, and event-loop
// lag while one worker plugin runs away into its deadline.
import path from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { PluginRegistry } from "../dist/index.js";
import { v8Engine } from "../dist/engines/v8/engine.js";
import { loadNote, report, silentHost } from "./stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BENCH = path.join(root, "test/fixtures/c/bench");
const PROBE = path.join(root, "test/fixtures/c/probe");
const ROUNDS = 7;

const host = silentHost();

/** Per-round ns per awaited call, ROUNDS rounds of n sequential calls. */
async function sequentialNs(call, n) {
  for (let i = 0; i < n; i++) await call();
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await call();
    samples.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return samples;
}

/** Calls per second with `inFlight` calls outstanding on each target (a function making one call), spread over the targets. */
function pipelined(targets, total, inFlight) {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let done = 0;
    const t0 = process.hrtime.bigint();
    const submit = (call) => {
      sent++;
      call().then(() => {
        done++;
        if (sent < total) submit(call);
        else if (done === total) resolve(total / (Number(process.hrtime.bigint() - t0) / 1e9));
      }, reject);
    };
    for (const call of targets) for (let i = 0; i < inFlight; i++) submit(call);
  });
}

/**
 * Event-loop delay (p99, ms) while one worker plugin spins into its deadline again
 * and again (each time killed and respawned) and another keeps answering in a
 * tight await loop.
 */
async function lagDuringRunaway(cacheDir, logger) {
  const registry = new PluginRegistry({
    logger,
    cacheDir,
    isolation: "worker",
    defaultLimits: { deadlineMs: 100, fuel: 1e13 }, // the deadline, not fuel, stops the runaway: a kill and a respawn each time
    violationThreshold: 1_000_000,
    recovery: { strategy: "restart", maxRetries: 1_000_000, baseDelayMs: 0 },
  });
  const runaway = await registry.load(PROBE);
  const other = await registry.load(BENCH);
  const data = new Uint8Array(16).fill(7);
  for (let i = 0; i < 10_000; i++) await other.invoke("status", data);

  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let stop = false;
  let kills = 0;
  let answered = 0;
  const spinning = (async () => {
    while (!stop) {
      const err = await runaway.invoke("spin").catch((e) => e);
      if (err?.code === "E_DEADLINE_EXCEEDED") kills++;
      else if (err?.code !== "E_PLUGIN_NOT_RUNNING") throw err;
      else await new Promise((r) => setTimeout(r, 1));
    }
  })();
  histogram.enable();
  const until = performance.now() + 2500;
  while (performance.now() < until) {
    await other.invoke("status", data);
    answered++;
  }
  histogram.disable();
  stop = true;
  await spinning;
  await registry.unloadAll();
  return { p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6, kills, answered };
}

export async function run() {
  const logger = pino({ level: "silent" });
  const cacheDir = mkdtempSync(path.join(tmpdir(), "plughost-bench-worker-"));
  const data = new Uint8Array(16).fill(7);
  try {
    // Sequential 16-byte status calls through the registry, in process and in a worker.
    const inprocRegistry = new PluginRegistry({ logger, cacheDir });
    const worker = new PluginRegistry({ logger, cacheDir, isolation: "worker" });
    const p = await inprocRegistry.load(BENCH);
    const w = await worker.load(BENCH);
    const inproc = await sequentialNs(() => p.invoke("status", data), 200_000);
    const seq = await sequentialNs(() => w.invoke("status", data), 100_000);
    await inprocRegistry.unloadAll();
    await worker.unloadAll();

    // Pipelined through the registry: two worker plugins (one per registry, same component), calls in flight on each.
    const regs = [0, 1].map(() => new PluginRegistry({ logger, cacheDir, isolation: "worker" }));
    const handles = await Promise.all(regs.map((r) => r.load(BENCH)));
    const targets = handles.map((h) => () => h.invoke("status", data));
    await pipelined(targets, 200_000, 256);
    const rates = [];
    for (let r = 0; r < ROUNDS; r++) rates.push(await pipelined(targets, 1_000_000, 256));
    for (const r of regs) await r.unloadAll();

    // Engine level: one instance, no registry bookkeeping.
    const a = await v8Engine.load({ plugin: "bench", entryPath: path.join(BENCH, "plugin.wasm"), capabilities: [], limits: {}, host, cacheDir, isolation: "worker" });
    await a.init("0.1.0", "{}");
    const engineSeq = await sequentialNs(() => a.onEvent("status", data), 100_000);
    const engineRates = [];
    for (let r = 0; r < 3; r++) engineRates.push(await pipelined([() => a.onEvent("status", data)], 1_000_000, 256));
    await a.dispose();

    const lags = [];
    let last;
    for (let r = 0; r < 3; r++) {
      last = await lagDuringRunaway(cacheDir, logger);
      lags.push(last.p99);
    }

    console.log(`worker isolation (median [min–max]: ${ROUNDS} rounds; lag: 3 runs of 2.5 s; ${await loadNote()}):`);
    report("in-process baseline, invoke (await)", inproc);
    const worker_dispatch_ns = report("worker_dispatch_ns, invoke (await)", seq, { goal: "≤ 1500" });
    report("worker engine-level onEvent (await)", engineSeq);
    report("worker engine-level pipelined (1 worker)", engineRates, { unit: "calls/s", digits: 0 });
    const worker_pipelined_calls_per_s = report("worker_pipelined_calls_per_s (2 workers)", rates, { unit: "calls/s", digits: 0, goal: "≥ 1000000" });
    const event_loop_lag_p99_ms = report("event_loop_lag_p99_ms", lags, { unit: "ms", digits: 2, goal: "≤ 20" });
    console.log(`  last lag run: max ${last.max.toFixed(1)} ms, ${last.kills} deadline kills, ${last.answered} calls answered`);
    return { worker_dispatch_ns, worker_pipelined_calls_per_s, event_loop_lag_p99_ms };
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
