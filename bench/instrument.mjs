// Fuel metering and memory caps (src/instrument): runtime overhead of metered
// code against the same module uninstrumented, instrumentation throughput, and
// the per-call cost of the limits runtime. Imports compiled code from dist/.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { median, timePerCall } from "./stats.mjs";
import { buildInstrumentWorkloads } from "./fixtures/build-instrument.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const WORKLOADS = [
  // name, export, argument, prepare
  ["sha256", "sha256", 1 << 20],
  ["fib", "fib", 27],
  ["tight_loop", "tight", 30_000_000],
  ["byte_loop", "bytes", 1 << 20],
  ["plugin", "plugin", 1 << 20],
];

function time(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export async function run() {
  const { instrumentModule, createLimits, clearInstrumentCache } = await import(pathToFileURL(path.join(root, "dist", "instrument", "index.js")).href);
  const wasm = new Uint8Array(readFileSync(buildInstrumentWorkloads()));
  const result = {};

  // ── runtime overhead ──────────────────────────────────────────────────────
  const plain = new WebAssembly.Instance(new WebAssembly.Module(wasm), {}).exports;
  const instr = instrumentModule(wasm, { fuel: true, memoryBytes: 64 << 20 });
  const limits = createLimits({ fuel: 1e15, memoryBytes: 64 << 20 });
  limits.admitModule(instr);
  const metered = new WebAssembly.Instance(new WebAssembly.Module(instr.bytes), limits.imports).exports;
  plain.fill(7);
  limits.beginCall();
  metered.fill(7);
  limits.endCall();

  const overhead = (name, fn, arg) => {
    const a = [], b = [], pairs = [];
    let fuel = 0;
    // Warm both (tier-up to TurboFan), then time them in adjacent pairs, in
    // alternating order, and take the median of the pairs' ratios: a burst of
    // load on the machine spoils a pair, not the figure.
    for (let i = 0; i < 3; i++) { plain[fn](arg); limits.beginCall(); metered[fn](arg); limits.endCall(); }
    for (let i = 0; i < 15; i++) {
      let r1 = 0, r2 = 0, t1 = 0, t2 = 0;
      const runPlain = () => { t1 = time(() => { r1 = plain[fn](arg); }); };
      const runMetered = () => { limits.beginCall(); t2 = time(() => { r2 = metered[fn](arg); }); fuel = limits.endCall(); };
      if (i % 2) { runMetered(); runPlain(); } else { runPlain(); runMetered(); }
      if (r1 !== r2) throw new Error(`${name}: metered result ${r2} differs from plain ${r1}`);
      a.push(t1); b.push(t2); pairs.push(t2 / t1);
    }
    const pa = median(a), pb = median(b);
    const ratio = median(pairs);
    result[`fuel_overhead_${name}`] = +ratio.toFixed(4);
    console.log(`${name.padEnd(14)} ${pa.toFixed(2).padStart(9)} ${pb.toFixed(2).padStart(12)} ${ratio.toFixed(3).padStart(7)}   ${fuel}`);
    return ratio;
  };
  const ratios = [];
  console.log("workload        plain ms   metered ms   ratio   fuel units");
  for (const [name, fn, arg] of WORKLOADS) ratios.push(overhead(name, fn, arg));
  const geomean = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length);
  result.fuel_overhead_geomean = +geomean.toFixed(4);
  console.log(`fuel_overhead_geomean ${geomean.toFixed(3)} (goal <= 1.10)`);
  // Not in the suite: calls through a function-pointer table, the slowest metered path (entry wrapper).
  overhead("indirect", "dispatch", 5_000_000);

  // ── instrumentation throughput ────────────────────────────────────────────
  // A large real module (SpiderMonkey from componentize-js) when installed, else the workloads.
  const big = ["node_modules/@bytecodealliance/componentize-js/lib/starlingmonkey_embedding.wasm"].map((p) => path.join(root, p)).find(existsSync);
  const input = big ? new Uint8Array(readFileSync(big)) : wasm;
  const reps = big ? 7 : 200;
  const samples = [];
  let codeBytes = 0, outBytes = 0;
  for (let i = 0; i < reps + 2; i++) {
    clearInstrumentCache();
    const t = time(() => {
      const r = instrumentModule(input, { fuel: true, memoryBytes: 256 << 20, tableElements: 100_000, memoryCache: false });
      codeBytes = r.codeBytes;
      outBytes = r.bytes.length;
    });
    if (i >= 2) samples.push(t);
  }
  const ms = median(samples);
  const mbps = codeBytes / 1e6 / (ms / 1000);
  result.fuel_instrument_mb_per_s = +mbps.toFixed(1);
  result.fuel_instrument_size_ratio = +(outBytes / input.length).toFixed(3);
  const best = codeBytes / 1e6 / (Math.min(...samples) / 1000);
  result.fuel_instrument_mb_per_s_best = +best.toFixed(1);
  console.log(`instrument ${big ? path.basename(big) : "workloads"}: ${(codeBytes / 1e6).toFixed(2)} MB of code in ${ms.toFixed(1)} ms = ${mbps.toFixed(1)} MB/s median, ${best.toFixed(1)} best (goal >= 20); output ${(outBytes / input.length).toFixed(2)}x input`);

  // Cache hit (in-memory): hash + lookup.
  instrumentModule(input, { fuel: true });
  const hit = median(Array.from({ length: 5 }, () => time(() => instrumentModule(input, { fuel: true }))));
  result.fuel_instrument_cache_hit_ms = +hit.toFixed(2);
  console.log(`cache hit (sha256 of ${(input.length / 1e6).toFixed(1)} MB + lookup): ${hit.toFixed(2)} ms`);

  // ── per-call cost of the limits runtime ──────────────────────────────────
  const tiny = instrumentModule(new Uint8Array(readFileSync(buildInstrumentWorkloads())), { fuel: true });
  const lim2 = createLimits({ fuel: 1e9 });
  const inst2 = new WebAssembly.Instance(new WebAssembly.Module(tiny.bytes), lim2.imports).exports;
  const plainCall = timePerCall(() => plain.fib(1));
  const meteredCall = timePerCall(() => { lim2.beginCall(); inst2.fib(1); lim2.endCall(); });
  const unmetered = createLimits({});
  const inst3 = new WebAssembly.Instance(new WebAssembly.Module(tiny.bytes), unmetered.imports).exports;
  const unmeteredCall = timePerCall(() => { unmetered.beginCall(); inst3.fib(1); unmetered.endCall(); });
  result.limits_call_overhead_ns = +(meteredCall - plainCall).toFixed(1);
  console.log(`call fib(1): plain ${plainCall.toFixed(1)} ns, metered with beginCall/endCall ${meteredCall.toFixed(1)} ns (+${(meteredCall - plainCall).toFixed(1)}), unmetered limits ${unmeteredCall.toFixed(1)} ns`);
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(await run());
}
