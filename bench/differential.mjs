// Differential fuel and semantics check (docs/fuel-and-memory.md, docs/security.md): random valid core modules from
// wasm-smith (the generator of `wasm-tools smith`, built by scripts/setup/46-wasm-smith.mjs) each run three ways:
// V8 plain, V8 instrumented by src/instrument (fuel, memory and table hooks), and wasmtime through the addon's
// runCoreModule (the engine plugins use, with the same fuel unit). Every exported function is called once, in export
// order, on one instance per way, and the results, the trap kinds and the fuel are compared.
//
// A divergence is: different results or trap kinds; a module one way refuses and another accepts; fuel of a call
// that returned more than 10 % apart between V8 instrumented and wasmtime (the ±10 % rule); after an explicit
// `unreachable`, a V8 figure below wasmtime's (V8 charges the callers on the stack their whole segments, so it may
// be above: differential_trap_overcharged). After any other trap neither figure is exact (V8's is a documented
// lower bound; wasmtime's stops where it last wrote its counter back, often 0), so fuel is not compared there.
// Fuel that differs at all on a call that returned is also counted (differential_fuel_inexact), since the docs claim
// exact counts there. A stack overflow in one way only is inconclusive (the engines' stacks differ, and the
// instrumenter adds a parameter), and the module's later calls are not compared.
// A second pass (compareExhaustion) runs V8 instrumented and wasmtime again with 2,000 units a call, so that many
// calls run out, and compares where they do.
// wasm-smith exports every table, and an exported table never gets the instrumenter's threaded twin: one wasm-smith
// module in four runs with its table exports removed, and bench/differential-tables.mjs adds modules with a private
// funcref table, immutable (the twin path) or changed by code (redone without the twin), whose call_indirect sites
// hit valid entries, nulls, out-of-bounds indexes and signature mismatches. A module took the twin path when its
// instrumented form has more tables than it had.
//
//   node bench/differential.mjs [--ci] [--modules N] [--tables N] [--seed S] [--save DIR]
// --ci runs 2,000 wasm-smith modules and 600 table modules; the default is 10,000 and 3,000. Writes
// differential_modules, differential_table_modules, differential_twin_modules, differential_calls,
// differential_divergences, differential_fuel_inexact, differential_inconclusive, differential_trap_overcharged,
// differential_fuel_exhausted to bench/results/latest.json and
// exits non-zero on any divergence; --save DIR keeps each divergent module as DIR/<seed>.wasm (table modules as
// DIR/table-<seed>.wasm).
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { instrumentModule, createLimits } from "../dist/instrument/index.js";
import { stripTableExports, tableCount, tableModule } from "./differential-tables.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const GENERATOR = path.join(root, "native", "wasm-smith-gen", "target", "release", "wasm-smith-gen");
const ADDON = process.env.PLUGHOST_WASMTIME_ADDON ?? path.join(root, "native", "wasmtime", "plughost-wasmtime.node");
/** Fuel per call on both metered ways: far above what wasm-smith's termination counter lets a module run. */
export const BUDGET = 50_000_000;

let addon;
function wasmtime() {
  addon ??= createRequire(import.meta.url)(ADDON);
  if (typeof addon.runCoreModule !== "function") throw new Error(`${ADDON} has no runCoreModule: rebuild it (node scripts/setup.mjs wasmtime)`);
  return addon;
}

/** `count` modules from `first` on: [{ seed, bytes }]. */
export function generate(first, count) {
  if (!existsSync(GENERATOR)) throw new Error(`${GENERATOR} is missing: node scripts/setup.mjs wasm-smith builds it`);
  const r = spawnSync(GENERATOR, [String(first), String(count)], { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`wasm-smith-gen failed: ${r.stderr}`);
  const out = [];
  const buf = r.stdout;
  for (let o = 0; o < buf.length; ) {
    const seed = Number(buf.readBigUInt64LE(o));
    const len = buf.readUInt32LE(o + 8);
    out.push({ seed, bytes: new Uint8Array(buf.subarray(o + 12, o + 12 + len)) });
    o += 12 + len;
  }
  return out;
}

// ── the three ways ──────────────────────────────────────────────────────────

/**
 * wasmtime charges 1 unit at every function entry (hard-wired; its call operators are set to 0 so a call costs 1 in
 * all, as on V8, where the call operator is charged). An export called from the host has no call operator, so
 * wasmtime's figure for it is one more than the operators it ran (docs/engine-wasmtime.md, "Both engines agree").
 */
export const HOST_ENTRY_FUEL = 1;

/** Trap kinds common to both engines: wasmtime's `Trap` names and V8's messages map onto these. */
const WASMTIME_TRAPS = {
  UnreachableCodeReached: "unreachable", MemoryOutOfBounds: "memory-oob", TableOutOfBounds: "table-oob",
  IndirectCallToNull: "indirect-call", BadSignature: "indirect-call", IntegerOverflow: "int-overflow",
  IntegerDivisionByZero: "div-zero", BadConversionToInteger: "int-overflow", StackOverflow: "stack",
  OutOfFuel: "fuel", NullReference: "null-ref",
};
const V8_TRAPS = [
  [/unreachable/, "unreachable"], [/divide by zero|remainder by zero/, "div-zero"],
  // V8 does not tell a NaN from an out-of-range float in a trapping truncation; wasmtime does: one kind for both.
  [/divide result unrepresentable|float unrepresentable|unrepresentable in integer/, "int-overflow"],
  [/memory access out of bounds|data segment/, "memory-oob"], [/table index is out of bounds|table.*out of bounds|element segment/, "table-oob"],
  [/null function|signature mismatch/, "indirect-call"], [/null/, "null-ref"], [/call stack size/, "stack"],
];
export function v8Trap(err) {
  const msg = String(err?.message ?? err);
  if (!(err instanceof WebAssembly.RuntimeError) && !(err instanceof RangeError)) return `error: ${msg}`;
  return V8_TRAPS.find(([re]) => re.test(msg))?.[1] ?? `v8: ${msg}`;
}
const wasmtimeTrap = (name) => WASMTIME_TRAPS[name] ?? `wasmtime: ${name}`;

/** The argument runCoreModule passes as parameter `j` of type `t` (core_run.rs `arg`). */
function arg(t, j) {
  const k = j * 7 + 3;
  if (t === "i32") return k;
  if (t === "i64") return BigInt(k) * 1_000_000_007n;
  if (t === "f32") return j + 0.5;
  if (t === "f64") return j + 0.25;
  return null;
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
/** A JS result as core_run.rs `fmt` writes it; `like` is wasmtime's text, which tells an i32 from a float. */
export function fmt(v, like) {
  if (typeof v === "bigint") return BigInt.asIntN(64, v).toString();
  if (typeof v === "number") {
    if (!/^([0-9a-f]{16}|nan)$/.test(like ?? "")) return String(v);
    if (Number.isNaN(v)) return "nan";
    f64[0] = v;
    return u64[0].toString(16).padStart(16, "0");
  }
  return v === null ? "null" : "ref";
}

function callV8(fn, params, like) {
  const r = fn(...params.map(arg));
  const vals = like.length === 0 ? [] : like.length === 1 ? [r] : [...r];
  return vals.map((v, i) => fmt(v, like[i]));
}

/** Run `bytes` three ways (two with `plain: false`), each call with `budget` fuel on the metered ways. */
export function runThreeWays(bytes, { budget = BUDGET, plain: withPlain = true } = {}) {
  const ref = wasmtime().runCoreModule(Buffer.from(bytes), budget);
  const ways = { ref, plain: { instantiated: false, calls: [] }, inst: { instantiated: false, calls: [] } };
  // V8 plain.
  let plainInst;
  if (withPlain) try {
    plainInst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    ways.plain.instantiated = true;
  } catch (err) {
    ways.plain.error = err instanceof WebAssembly.CompileError ? `compile: ${err.message}` : v8Trap(err);
  }
  // V8 instrumented, under a fuel budget and generous memory/table caps (so their hooks run).
  const limits = createLimits({ fuel: budget, memoryBytes: 1 << 30, tableElements: 10_000_000 });
  let instInst;
  try {
    const r = instrumentModule(bytes, { fuel: true, memoryBytes: 1 << 30, tableElements: 10_000_000, memoryCache: false });
    // The twins are tables added after the module's own.
    ways.inst.twins = tableCount(r.bytes) - tableCount(bytes);
    limits.admitModule(r, "differential");
    instInst = new WebAssembly.Instance(new WebAssembly.Module(r.bytes), { ...limits.imports });
    ways.inst.instantiated = true;
  } catch (err) {
    ways.inst.error = err instanceof WebAssembly.CompileError ? `compile: ${err.message}` : err instanceof WebAssembly.RuntimeError || err instanceof RangeError ? v8Trap(err) : `error: ${err?.message ?? err}`;
  }
  for (const c of ref.calls) {
    if (c.outcome === "skipped") continue;
    const like = c.outcome === "ok" ? c.values : [];
    const expectCount = c.outcome === "ok" ? c.values.length : undefined;
    if (plainInst) ways.plain.calls.push(one(() => callV8(plainInst.exports[c.export], c.params, likeOr(like, expectCount)), c.export));
    if (instInst) {
      limits.beginCall(budget);
      let out;
      try {
        out = { export: c.export, outcome: "ok", values: callV8(instInst.exports[c.export], c.params, likeOr(like, expectCount)) };
        out.fuel = limits.endCall();
      } catch (err) {
        const fuel = limits.abortCall(err);
        out = { export: c.export, outcome: "trap", trap: fuel ? "fuel" : v8Trap(err), fuel: limits.lastCallFuel };
      }
      ways.inst.calls.push(out);
    }
  }
  return ways;
}
// When wasmtime trapped we do not know the result arity; a V8 call that returns anyway is a divergence either way.
const likeOr = (like, n) => (n === undefined ? [] : like);
function one(f, name) {
  try {
    return { export: name, outcome: "ok", values: f() };
  } catch (err) {
    return { export: name, outcome: "trap", trap: v8Trap(err) };
  }
}

// ── comparing ───────────────────────────────────────────────────────────────

/**
 * Compare the three ways of one module. Returns { calls, divergences: [{ export, what }], fuelInexact, inconclusive }.
 * Pure, so the tests can feed it a doctored run and see it flag the difference.
 */
export function compare({ ref, plain, inst }) {
  const divergences = [];
  let fuelInexact = 0;
  let overcharged = 0;
  let calls = 0;
  const refInst = ref.instantiated;
  const refErr = refInst ? "" : ref.error.startsWith("compile:") ? "compile" : wasmtimeTrap(ref.error);
  // A stack overflow while instantiating (a recursive start function) is inconclusive, as in a call (below).
  if ([refErr, plain.error, inst.error].includes("stack")) return { calls, divergences, fuelInexact, overcharged, inconclusive: true };
  for (const [way, w] of [["v8-plain", plain], ["v8-instrumented", inst]]) {
    if (w.instantiated !== refInst) divergences.push({ export: "(instantiate)", what: `${way}: ${w.instantiated ? "instantiated" : w.error}; wasmtime: ${refInst ? "instantiated" : ref.error}` });
    else if (!refInst && refErr !== "compile" && w.error !== refErr) divergences.push({ export: "(instantiate)", what: `${way} trapped ${w.error}; wasmtime ${refErr}` });
  }
  if (!refInst || !plain.instantiated || !inst.instantiated) return { calls, divergences, fuelInexact, overcharged, inconclusive: false };
  const live = ref.calls.filter((c) => c.outcome !== "skipped");
  let plainValid = true;
  for (let i = 0; i < live.length; i++) {
    const r = live[i];
    const p = plain.calls[i];
    const m = inst.calls[i];
    const rKind = r.outcome === "ok" ? "ok" : wasmtimeTrap(r.trap);
    const mKind = m.outcome === "ok" ? "ok" : m.trap;
    const pKind = p.outcome === "ok" ? "ok" : p.trap;
    // A stack overflow depends on each engine's stack and frame sizes, not on semantics: stop comparing here.
    if ([rKind, mKind, plainValid ? pKind : ""].includes("stack")) return { calls, divergences, fuelInexact, overcharged, inconclusive: true };
    calls++;
    if (rKind !== mKind) divergences.push({ export: r.export, what: `v8-instrumented ${mKind}; wasmtime ${rKind}` });
    else if (rKind === "ok" && r.values.join() !== m.values.join()) divergences.push({ export: r.export, what: `v8-instrumented [${m.values}]; wasmtime [${r.values}]` });
    if (plainValid && rKind !== "fuel") {
      if (pKind !== rKind) divergences.push({ export: r.export, what: `v8-plain ${pKind}; wasmtime ${rKind}` });
      else if (rKind === "ok" && r.values.join() !== p.values.join()) divergences.push({ export: r.export, what: `v8-plain [${p.values}]; wasmtime [${r.values}]` });
    }
    // Out of fuel, the metered runs stop where plain V8 goes on: their states part from here.
    if (rKind === "fuel" || mKind === "fuel") plainValid = false;
    const rFuel = r.fuel - HOST_ENTRY_FUEL;
    if (rKind === mKind && rKind === "ok") {
      if (m.fuel !== rFuel) fuelInexact++;
      if (Math.abs(m.fuel - rFuel) > 0.1 * Math.max(rFuel, 1)) divergences.push({ export: r.export, what: `fuel: v8-instrumented ${m.fuel}, wasmtime ${rFuel} + ${HOST_ENTRY_FUEL} (${rKind})` });
    } else if (rKind === mKind && rKind === "unreachable") {
      // Exact on both when the `unreachable` is in the export itself. Deeper down, V8's callers on the stack have
      // been charged their whole segment, operators after the call included (docs/fuel-and-memory.md): never less.
      if (m.fuel < rFuel) divergences.push({ export: r.export, what: `fuel after unreachable: v8-instrumented ${m.fuel} is below wasmtime's ${rFuel} + ${HOST_ENTRY_FUEL}` });
      else if (m.fuel > rFuel) overcharged++;
    }
  }
  return { calls, divergences, fuelInexact, overcharged, inconclusive: false };
}

/** Fuel per call of the exhaustion pass: most generated calls that loop run out of it. */
export const TIGHT_BUDGET = 2_000;

/**
 * The exhaustion pass: V8 instrumented against wasmtime with `budget` per call. Both must agree call by call up to
 * the first call that runs out on either; there, the other must run out too, or trap otherwise. Later calls are not
 * compared (the states part).
 */
export function compareExhaustion({ ref, inst }, budget = TIGHT_BUDGET) {
  const divergences = [];
  let exhausted = 0;
  if (!ref.instantiated || !inst.instantiated) return { divergences, exhausted };
  const live = ref.calls.filter((c) => c.outcome !== "skipped");
  for (let i = 0; i < live.length; i++) {
    const r = live[i];
    const m = inst.calls[i];
    const rKind = r.outcome === "ok" ? "ok" : wasmtimeTrap(r.trap);
    const mKind = m.outcome === "ok" ? "ok" : m.trap;
    if ([rKind, mKind].includes("stack")) break;
    if (rKind !== "fuel" && mKind !== "fuel") {
      if (rKind !== mKind) divergences.push({ export: r.export, what: `budget ${budget}: v8-instrumented ${mKind}; wasmtime ${rKind}` });
      continue;
    }
    exhausted++;
    // A call that returned on one side used at most the budget there, and completed calls cost the same on both:
    // the other must not run out. A call that trapped otherwise on one side may run out first on the other (V8
    // charges a segment at its start, before the operator that traps).
    if (rKind !== mKind && (rKind === "ok" || mKind === "ok")) {
      const used = rKind === "fuel" ? m.fuel : r.fuel - HOST_ENTRY_FUEL;
      divergences.push({ export: r.export, what: `budget ${budget}: v8-instrumented ${mKind}; wasmtime ${rKind} (the other used ${used})` });
    }
    break;
  }
  return { divergences, exhausted };
}

/**
 * Generate and check `modules` wasm-smith modules and `tables` table modules from `seed`; returns the figures and the
 * divergent modules.
 */
export function check({ modules, tables = Math.round(modules * 0.3), seed = 1, log = () => {} }) {
  const figures = { modules: 0, tableModules: 0, privateTables: 0, twins: 0, tableTwins: 0, calls: 0, divergences: 0, fuelInexact: 0, overcharged: 0, inconclusive: 0, refused: 0, exhausted: 0 };
  const divergent = [];
  const chunk = 500;
  const checkOne = (ms, bytes, table) => {
    const ways = runThreeWays(bytes);
    const c = compare(ways);
    const e = compareExhaustion(runThreeWays(bytes, { budget: TIGHT_BUDGET, plain: false }));
    c.divergences.push(...e.divergences);
    figures.exhausted += e.exhausted;
    if (table) figures.tableModules++;
    else figures.modules++;
    if (ways.inst.twins > 0) { figures.twins++; if (table) figures.tableTwins++; }
    figures.calls += c.calls;
    figures.fuelInexact += c.fuelInexact;
    figures.overcharged += c.overcharged;
    if (c.inconclusive) figures.inconclusive++;
    if (!ways.ref.instantiated) figures.refused++;
    if (c.divergences.length) {
      figures.divergences++;
      divergent.push({ seed: ms, table, bytes, divergences: c.divergences });
      log(`${table ? "table module" : "seed"} ${ms}: ${c.divergences.map((d) => `${d.export}: ${d.what}`).join("; ")}`);
    }
  };
  for (let s = seed; s < seed + modules; s += chunk) {
    for (const { seed: ms, bytes } of generate(s, Math.min(chunk, seed + modules - s))) {
      // One in four without its table exports: private tables, so the twin path (or its refusal) runs.
      const stripped = ms % 4 === 3 ? stripTableExports(bytes) : null;
      if (stripped) figures.privateTables++;
      checkOne(ms, stripped ?? bytes, false);
    }
  }
  for (let s = seed; s < seed + tables; s++) checkOne(s, tableModule(s).bytes, true);
  return { figures, divergent };
}

function keys(f) {
  return {
    differential_modules: f.modules,
    differential_table_modules: f.tableModules,
    differential_twin_modules: f.twins,
    differential_calls: f.calls,
    differential_divergences: f.divergences,
    differential_fuel_inexact: f.fuelInexact,
    differential_inconclusive: f.inconclusive,
    differential_trap_overcharged: f.overcharged,
    differential_fuel_exhausted: f.exhausted,
  };
}

/** bench/run.mjs entry: the CI-sized run. */
export async function run() {
  const { figures } = check({ modules: 2000, tables: 600, log: console.log });
  console.log(figures);
  return keys(figures);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const argv = process.argv.slice(2);
  const opt = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const modules = Number(opt("--modules") ?? (argv.includes("--ci") ? 2000 : 10_000));
  const tables = Number(opt("--tables") ?? (argv.includes("--ci") ? 600 : 3000));
  const seed = Number(opt("--seed") ?? 1);
  const save = opt("--save");
  const t0 = performance.now();
  const { figures, divergent } = check({ modules, tables, seed, log: console.log });
  const secs = (performance.now() - t0) / 1000;
  console.log(`differential: ${figures.modules} wasm-smith modules (${figures.privateTables} with their table exports removed), ` +
    `${figures.tableModules} table modules, ${figures.twins} modules instrumented with a threaded twin table (${figures.tableTwins} of them table modules), ${figures.calls} calls compared, ${figures.divergences} divergent modules, ` +
    `${figures.fuelInexact} inexact fuel figures, ${figures.overcharged} trapping calls over-charged by V8's segment rule, ${figures.inconclusive} inconclusive (stack), ${figures.exhausted} calls out of fuel at ${TIGHT_BUDGET} units compared, ${figures.refused} refused by wasmtime at instantiation; ${secs.toFixed(1)} s`);
  if (save) {
    mkdirSync(save, { recursive: true });
    for (const d of divergent) writeFileSync(path.join(save, `${d.table ? "table-" : ""}${d.seed}.wasm`), d.bytes);
  }
  const latest = path.join(root, "bench", "results", "latest.json");
  const results = existsSync(latest) ? JSON.parse(readFileSync(latest, "utf8")) : {};
  Object.assign(results, keys(figures));
  mkdirSync(path.dirname(latest), { recursive: true });
  writeFileSync(latest, JSON.stringify(results, null, 2) + "\n");
  if (figures.divergences > 0) process.exitCode = 1;
}
