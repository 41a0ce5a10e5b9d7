// Peers: plughost beside the tools a user would pick instead, on bench/spine.mjs' 16-byte status workload
// (test/fixtures/c/bench: checksum the input, answer the sum), all measured in this process in interleaved rounds
// so that whatever else the machine runs falls on every contender alike. Every claim is a same-run ratio.
//
//   plughost   PluginRegistry.invokeSync / invoke on the bench component (v8 engine, default limits: fuel metered)
//   Extism     @extism/extism's JS SDK, an equivalent core module against the Extism kernel ABI
//              (bench/fixtures/peers/extism-status.wat, built here), in process and with runInWorker
//   jco        the same bench component transpiled by jco with its default options, called through the glue
//   raw V8     a core module called directly: copy 16 bytes in, sum them (bench/spine.mjs' floor)
import path from "node:path";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { pino } from "pino";
import { PluginRegistry } from "../dist/index.js";
import { loadNote, median, rawV8Floor, report, spread } from "./stats.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const BENCH = path.join(root, "test/fixtures/c/bench");
const EXTISM_WAT = path.join(here, "fixtures/peers/extism-status.wat");

/** The workload's input, as in bench/spine.mjs. */
export const INPUT = new Uint8Array(16).fill(7);

/** What test/fixtures/c/bench's status callback answers for `data`: the sum of its bytes, masked to a non-negative s32. */
export function expectedStatus(data) {
  let sum = 0;
  for (const b of data) sum = (sum + b) | 0;
  return sum & 0x7fffffff;
}

/** The Extism JS SDK keeps every call's input and output block until reset(); past 2^15 blocks its addresses overflow. */
const EXTISM_RESET_EVERY = 1024;

/**
 * Loads every contender and returns, per contender, a function that makes one call on `data` and returns the
 * answer as a number (the checksum), plus `close()`. `worker: false` leaves out the two worker-thread contenders.
 * Each call function gets its arguments fixed here so that the timed loops compare calls, not argument handling.
 */
export async function loadPeers(data = INPUT, { worker = true } = {}) {
  const closers = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const logger = pino({ level: "silent" });
    const contenders = {};

    // plughost, in process: the registry's defaults (fuel, memory and table caps), and without limits.
    const metered = new PluginRegistry({ logger, cacheDir: false });
    closers.push(() => metered.unloadAll());
    const p = await metered.load(BENCH);
    const unlimited = new PluginRegistry({ logger, cacheDir: false, defaultLimits: "unlimited" });
    closers.push(() => unlimited.unloadAll());
    const u = await unlimited.load(BENCH);
    contenders.plughost = { call: () => p.invokeSync("status", data), async: false, meters: "fuel, memory and table caps, deadline" };
    contenders.plughost_unmetered = { call: () => u.invokeSync("status", data), async: false, meters: "none (defaultLimits: unlimited)" };
    contenders.plughost_async = { call: () => p.invoke("status", data), async: true, meters: "fuel, memory and table caps, deadline" };

    // Extism: the plugin is built from its WAT source here (wasm-tools, as the floor below).
    const { parse } = await import("@bytecodealliance/jco-transpile/wasm-tools");
    const extismWasm = await parse(readFileSync(EXTISM_WAT, "utf8"));
    const { default: createPlugin } = await import("@extism/extism");
    const extismCall = (plugin) => {
      let n = 0;
      return async () => {
        const out = await plugin.call("status", data);
        if (++n % EXTISM_RESET_EVERY === 0) await plugin.reset();
        return out.getInt32(0, true);
      };
    };
    const ext = await createPlugin({ wasm: [{ data: extismWasm }] }, { useWasi: false, runInWorker: false });
    closers.push(() => ext.close());
    contenders.extism = { call: extismCall(ext), async: true, meters: "none (the JS SDK has no fuel, memory cap or timeout)" };

    // jco: default transpile options; the host imports mapped onto a module of no-op functions, as a user would.
    const { transpileBytes } = await import("../vendor/jco/index.js");
    const glue = await transpileBytes(readFileSync(path.join(BENCH, "plugin.wasm")), { name: "bench", map: { "plughost:plugin/*": "./host.js#*" } });
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-bench-jco-"));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    for (const [name, bytes] of Object.entries(glue.files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), bytes);
    }
    writeFileSync(path.join(dir, "host.js"), "export const host = { log() {}, registerCallback() {} };\n");
    const { guest } = await import(pathToFileURL(path.join(dir, "bench.js")).href);
    const rc = guest.init("0.1.0", "{}");
    if (rc !== 0) throw new Error(`bench/peers: the jco-transpiled bench plugin's init answered ${rc}; rebuild it with node scripts/setup.mjs`);
    contenders.jco = { call: () => guest.onEvent("status", data), async: false, meters: "none (stock glue)" };

    // Raw V8: bench/spine.mjs' floor, a core module that sums n bytes at p.
    contenders.raw = { call: await rawV8Floor(data), async: false, meters: "none" };

    if (worker) {
      const w = new PluginRegistry({ logger, cacheDir: false, isolation: "worker" });
      closers.push(() => w.unloadAll());
      const wp = await w.load(BENCH);
      contenders.plughost_worker = { call: () => wp.invoke("status", data), async: true, meters: "fuel, memory and table caps, deadline" };
      const extW = await createPlugin({ wasm: [{ data: extismWasm }] }, { useWasi: false, runInWorker: true });
      closers.push(() => extW.close());
      contenders.extism_worker = { call: extismCall(extW), async: true, meters: "none (the JS SDK has no fuel, memory cap or timeout)" };
    }
    return { contenders, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** One call of every contender on each input: name → answers (a correctness check, not a timing). */
export async function peerOutputs(inputs = [INPUT]) {
  const out = {};
  for (const data of inputs) {
    const { contenders, close } = await loadPeers(data);
    try {
      for (const [name, c] of Object.entries(contenders)) (out[name] ??= []).push(await c.call());
    } finally {
      await close();
    }
  }
  return out;
}

/**
 * A timing loop of its own per contender, compiled from source each time: one loop shared by several call
 * functions goes megamorphic and taxes all of them (a few ns, a tenth of the raw floor).
 */
const AsyncFunction = (async () => {}).constructor;
function timingLoop(isAsync) {
  const body = `const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) ${isAsync ? "await " : ""}call();
    return Number(process.hrtime.bigint() - t0) / n;`;
  return isAsync ? new AsyncFunction("call", "n", body) : new Function("call", "n", body);
}

const BATCH_MS = 20;

/**
 * Rounds of one batch per contender, the order rotated each round; each batch is sized to about BATCH_MS.
 * Returns name → per-round ns per call.
 */
async function interleaved(contenders, rounds) {
  const entries = Object.entries(contenders).map(([name, c]) => ({ name, call: c.call, loop: timingLoop(c.async), n: 0 }));
  for (const e of entries) {
    // Warm up (optimised code everywhere), then size the batch from the last warm-up's per-call time.
    let n = 16;
    let ns = await e.loop(e.call, n);
    while (ns * n < 100e6 && n < 2_000_000) {
      n *= 4;
      ns = await e.loop(e.call, n);
    }
    e.n = Math.max(20, Math.round((BATCH_MS * 1e6) / ns));
  }
  const samples = Object.fromEntries(entries.map((e) => [e.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < entries.length; k++) {
      const e = entries[(r + k) % entries.length];
      samples[e.name].push(await e.loop(e.call, e.n));
    }
  }
  return samples;
}

/** Per-round ratio a ÷ b (same round, adjacent batches): the spread of a same-run ratio. */
const ratios = (a, b) => a.map((x, i) => x / b[i]);

export async function run() {
  console.log(`peers (${await loadNote()}; medians [min–max] over interleaved rounds of ~${BATCH_MS} ms batches):`);
  const { contenders, close } = await loadPeers(INPUT);
  let s;
  try {
    // Equivalent workloads: every contender answers the same checksum for the same 16 bytes, or nothing is timed.
    const want = expectedStatus(INPUT);
    for (const [name, c] of Object.entries(contenders)) {
      const got = await c.call();
      if (got !== want) throw new Error(`bench/peers: ${name} answered ${got} for the 16-byte input, plughost's bench plugin answers ${want}: the workloads differ`);
    }
    const { plughost_worker, extism_worker, ...inProcess } = contenders;
    // In-process contenders first, the worker pair after: an idle worker costs nothing, a busy one takes a core.
    s = { ...(await interleaved(inProcess, 21)), ...(await interleaved({ plughost_worker, extism_worker }, 15)) };
  } finally {
    await close();
  }

  console.log("  in process (plughost meters fuel, memory and table caps and a deadline by default; Extism's JS SDK, stock jco glue and raw V8 meter nothing):");
  const results = {
    peers_v8_dispatch_status_ns: report("plughost invokeSync (metered)", s.plughost, { goal: "≤ 75" }),
    peers_v8_dispatch_status_unmetered_ns: report("plughost invokeSync (unlimited)", s.plughost_unmetered),
    peers_v8_dispatch_async_ns: report("plughost await invoke (metered)", s.plughost_async),
    peer_extism_call_ns: report("Extism await call (no metering)", s.extism),
    peer_jco_call_ns: report("jco glue onEvent (no metering)", s.jco),
    peer_raw_v8_ns: report("raw V8 core call (floor)", s.raw),
  };
  console.log("  worker thread:");
  results.peers_worker_dispatch_ns = report("plughost worker await invoke", s.plughost_worker, { goal: "≤ 1500" });
  results.peer_extism_worker_ns = report("Extism runInWorker await call", s.extism_worker);

  console.log("  same-run speed-ups (key: ratio of medians; spread: per-round ratios):");
  const ratio = (key, label, a, b, goal) => {
    const r = ratios(a, b);
    const x = spread(r);
    results[key] = median(a) / median(b);
    console.log(`  ${key.padEnd(34)} ${results[key].toFixed(1).padStart(10)} ×   [${x.min.toFixed(1)}–${x.max.toFixed(1)}, n=${x.n}]  ${label}${goal ? `  goal ${goal}` : ""}`);
  };
  ratio("v8_vs_extism", "Extism call ÷ plughost invokeSync", s.extism, s.plughost, "≥ 20");
  ratio("v8_async_vs_extism", "Extism call ÷ plughost await invoke (both async)", s.extism, s.plughost_async);
  ratio("v8_vs_jco", "jco glue ÷ plughost invokeSync", s.jco, s.plughost, "≥ 20");
  ratio("worker_vs_extism_worker", "Extism runInWorker ÷ plughost worker", s.extism_worker, s.plughost_worker, "≥ 20");
  console.log(`  plughost invokeSync is ${(results.peers_v8_dispatch_status_ns / results.peer_raw_v8_ns).toFixed(1)}× the raw floor; Extism resets its plugin every ${EXTISM_RESET_EVERY} calls (its SDK keeps every block until reset), included in its figure`);
  console.log(`  ${await loadNote()} at the end`);
  return results;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run();
}
