// Fuel metering, memory/table caps and caching of src/instrument, on real
// modules written in WAT (compiled with wabt's wat2wasm) and run on V8.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FuelExhausted, InvalidPluginBinary, MemoryLimitExceeded } from "../src/contract/errors.js";
import {
  clearInstrumentCache, createLimits, FuelSignal, InstrumentError, instrumentFuel, instrumentModule, LimitCapError,
  LIMITS_MODULE, type Limits, type LimitsOptions,
} from "../src/instrument/index.js";

const tmp = mkdtempSync(path.join(tmpdir(), "plughost-instrument-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function wat(src: string, features = ["--enable-all"]): Uint8Array {
  const f = path.join(tmp, `m${n++}.wat`);
  writeFileSync(f, src);
  execFileSync("wat2wasm", [...features, f, "-o", `${f}.wasm`]);
  return new Uint8Array(readFileSync(`${f}.wasm`));
}

type Fn = (...args: unknown[]) => unknown;
interface Loaded { limits: Limits; exports: Record<string, Fn> & Record<string, unknown>; call(name: string, ...args: unknown[]): { value: unknown; fuel: number } }

function load(bytes: Uint8Array, opts: LimitsOptions = {}, extraImports: WebAssembly.Imports = {}): Loaded {
  const r = instrumentModule(bytes, { fuel: true, memoryBytes: opts.memoryBytes, tableElements: opts.tableElements });
  const limits = createLimits(opts);
  limits.admitModule(r);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(r.bytes), { ...extraImports, ...limits.imports });
  const exports = inst.exports as Loaded["exports"];
  return {
    limits,
    exports,
    call(name, ...args) {
      limits.beginCall();
      const value = (exports[name] as Fn)(...args);
      return { value, fuel: limits.endCall() };
    },
  };
}

/** What an engine does with a failed call: map fuel exhaustion to FuelExhausted. */
function callMapped(l: Loaded, name: string, ...args: unknown[]): unknown {
  l.limits.beginCall();
  try {
    const v = (l.exports[name] as Fn)(...args);
    l.limits.endCall();
    return v;
  } catch (e) {
    if (l.limits.abortCall(e)) throw new FuelExhausted(name, l.limits.callBudget, { cause: e });
    throw e;
  }
}

const COUNTS = wat(`
(module
  (memory 1)
  (global $g (mut i32) (i32.const 0))
  (tag $e (param i32))
  (func (export "straight") (result i32)
    i32.const 1 i32.const 2 i32.add nop i32.const 5 drop
    block (result i32) i32.const 3 end
    i32.mul)
  (func (export "sum") (param $n i32) (result i32) (local $s i32)
    (block $done
      (loop $top
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $s (i32.add (local.get $s) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $top)))
    (local.get $s))
  (func (export "sum_eh") (param $n i32) (result i32) (local $s i32)
    (try (do nop) (catch_all))
    (block $done
      (loop $top
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $s (i32.add (local.get $s) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $top)))
    (local.get $s))
  (func (export "ifelse") (param i32) (result i32)
    (if (result i32) (local.get 0)
      (then (i32.const 10) (i32.const 1) (i32.add))
      (else (i32.const 20))))
  (func (export "table") (param i32) (result i32)
    (block $b2 (block $b1 (block $b0
      (br_table $b0 $b1 $b2 (local.get 0)))
      (return (i32.const 100)))
      (return (i32.const 101)))
    (i32.const 102))
  (func $callee (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "caller") (result i32) (global.set $g (call $callee (i32.const 21))) (global.get $g))
  (func (export "mem") (result i32)
    (i32.store (i32.const 0) (i32.const 7)) (i32.load (i32.const 0)) (memory.size) (i32.add))
  (func $fac (export "fac") (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (i64.const 1))
      (else (i64.mul (local.get 0) (call $fac (i64.sub (local.get 0) (i64.const 1)))))))
  (func (export "early") (param i32) (result i32)
    (i32.const 7) (local.get 0) (br_if 0) (drop) (i32.const 9))
  (func (export "eh") (param i32) (result i32)
    (try (result i32)
      (do (if (local.get 0) (then (throw $e (i32.const 5)))) (i32.const 1))
      (catch $e (i32.const 1) (i32.add))))
)`);

describe("fuel counts follow DESIGN.md exactly (1 per operator; 0 for nop, drop, block, loop, unreachable, return, else, end)", () => {
  const m = load(COUNTS, { fuel: 1_000_000 });
  it("straight-line code", () => {
    expect(m.call("straight")).toEqual({ value: 9, fuel: 6 });
  });
  it("a counted loop: 12 per iteration + 4", () => {
    for (const k of [0, 1, 2, 10, 1000]) expect(m.call("sum", k)).toEqual({ value: (k * (k + 1)) / 2, fuel: 12 * k + 4 });
  });
  it("the same loop in a function that uses exception handling (counter kept in the global)", () => {
    for (const k of [0, 1, 10]) expect(m.call("sum_eh", k)).toEqual({ value: (k * (k + 1)) / 2, fuel: 12 * k + 5 });
  });
  it("if/else arms", () => {
    expect(m.call("ifelse", 1)).toEqual({ value: 11, fuel: 5 });
    expect(m.call("ifelse", 0)).toEqual({ value: 20, fuel: 3 });
  });
  it("br_table and return", () => {
    expect(m.call("table", 0)).toEqual({ value: 100, fuel: 3 });
    expect(m.call("table", 1)).toEqual({ value: 101, fuel: 3 });
    expect(m.call("table", 7)).toEqual({ value: 102, fuel: 3 });
  });
  it("calls and globals", () => {
    expect(m.call("caller")).toEqual({ value: 42, fuel: 7 });
  });
  it("memory operators", () => {
    expect(m.call("mem")).toEqual({ value: 8, fuel: 7 });
  });
  it("recursion: 9 per level + 4", () => {
    for (const k of [0, 1, 5, 20]) expect(m.call("fac", BigInt(k)).fuel).toBe(9 * k + 4);
  });
  it("a branch out of the function", () => {
    expect(m.call("early", 1)).toEqual({ value: 7, fuel: 3 });
    expect(m.call("early", 0)).toEqual({ value: 9, fuel: 4 });
  });
  it("throw and catch", () => {
    expect(m.call("eh", 0)).toEqual({ value: 1, fuel: 4 });
    expect(m.call("eh", 1)).toEqual({ value: 6, fuel: 8 });
  });
  it("reports fuel used and remaining", () => {
    m.call("sum", 10);
    expect(m.limits.lastCallFuel).toBe(124);
    expect(m.limits.fuelRemaining()).toBe(1_000_000 - 124);
  });
  it("budgets above 2^31 are counted exactly", () => {
    const big = load(COUNTS, { fuel: 5e9 });
    const k = 200_000_000; // 2.4e9 units: past the i32 range
    big.limits.beginCall();
    (big.exports.sum as Fn)(k);
    expect(big.limits.endCall()).toBe(12 * k + 4);
  });
});

const RUNAWAY = wat(`
(module
  (global $iters (export "iters") (mut i32) (i32.const 0))
  (func (export "spin") (loop $l (global.set $iters (i32.add (global.get $iters) (i32.const 1))) (br $l)))
  (func $down (export "down") (param i32) (result i32)
    (global.set $iters (i32.add (global.get $iters) (i32.const 1)))
    (i32.add (call $down (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "spin_catch") (result i32)
    ;; tries to swallow the exhaustion and carry on
    (block $out (loop $l
      (try (do (call $spin_inner)) (catch_all (br $out)))
      (br $l)))
    (i32.const 1))
  (func $spin_inner (loop $l (global.set $iters (i32.add (global.get $iters) (i32.const 1))) (br $l)))
  (func (export "overrun") (result i32)
    ;; a long straight line after a branch target: no check point inside
    (block $b (br_if $b (i32.const 1)))
    ${"(drop (i32.const 1))".repeat(200)}
    (i32.const 0))
)`);

function iters(l: Loaded): number {
  return (l.exports.iters as WebAssembly.Global).value as number;
}

describe("fuel exhaustion", () => {
  it("refuses a module that imports the fuel counter itself (it could refill it)", () => {
    // Exception handling keeps the counter in the global: accepted, this loop refilled it and never ran out.
    const refill = wat(`(module (import "${LIMITS_MODULE}" "fuel" (global $f (mut i64)))
      (func (export "spin") (loop $l (global.set $f (i64.const 1000000)) (try (do (nop)) (catch_all)) (br $l))))`);
    expect(() => instrumentModule(refill, { fuel: true })).toThrow(InstrumentError);
    expect(() => instrumentModule(refill, { fuel: true })).toThrow(/reserved for the instrumenter/);
  });
  it("stops an infinite loop, and the engine maps it to FuelExhausted", () => {
    const l = load(RUNAWAY, { fuel: 10_000 });
    expect(() => callMapped(l, "spin")).toThrow(FuelExhausted);
    expect(l.limits.exhausted).toBe(true);
    // Each iteration costs 5 units: the loop ran no further than its budget.
    expect(iters(l)).toBeGreaterThan(1900);
    expect(iters(l)).toBeLessThanOrEqual(2001);
  });
  it("stops unbounded recursion before the stack overflows", () => {
    const l = load(RUNAWAY, { fuel: 5_000 });
    let err: unknown;
    try { callMapped(l, "down", 0); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(FuelExhausted);
    expect((err as FuelExhausted).code).toBe("E_FUEL_EXHAUSTED");
    expect(iters(l)).toBeLessThan(5_000 / 8 + 2);
  });
  it("cannot be swallowed by a Wasm catch_all: the module does not run on", () => {
    const l = load(RUNAWAY, { fuel: 10_000 });
    l.limits.beginCall();
    let err: unknown;
    try { (l.exports.spin_catch as Fn)(); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(WebAssembly.RuntimeError);
    expect(l.limits.isFuelSignal(err)).toBe(true);
    expect(iters(l)).toBeLessThanOrEqual(2001);
  });
  it("a call that overran its budget between check points fails at endCall", () => {
    const l = load(RUNAWAY, { fuel: 50 });
    l.limits.beginCall();
    expect((l.exports.overrun as Fn)()).toBe(0);
    let err: unknown;
    try { l.limits.endCall(); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(FuelSignal);
    expect(l.limits.isFuelSignal(err)).toBe(true);
    expect((err as FuelSignal).used).toBe(203);
  });
  it("an ordinary trap is not a fuel signal", () => {
    const l = load(wat(`(module (func (export "boom") unreachable))`), { fuel: 100 });
    l.limits.beginCall();
    let err: unknown;
    try { (l.exports.boom as Fn)(); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(WebAssembly.RuntimeError);
    expect(l.limits.isFuelSignal(err)).toBe(false);
  });
  it("reports the exhaustion as a violation", () => {
    const seen: string[] = [];
    const l = load(RUNAWAY, { fuel: 100, onViolation: (k) => seen.push(k) });
    expect(() => callMapped(l, "spin")).toThrow(FuelExhausted);
    expect(seen).toEqual(["fuel"]);
  });
  it("a lifetime budget spans calls", () => {
    const l = load(COUNTS, { fuel: 1000, fuelLifetime: 100 });
    expect(l.call("sum", 3).fuel).toBe(40);
    expect(l.call("sum", 3).fuel).toBe(40);
    expect(l.limits.lifetimeRemaining).toBe(20);
    expect(() => callMapped(l, "sum", 3)).toThrow(FuelExhausted);
    expect(l.limits.lifetimeRemaining).toBe(0);
  });
  it("beginCall(budget) overrides the default budget", () => {
    const l = load(COUNTS, { fuel: 1000 });
    expect(() => { l.limits.beginCall(30); (l.exports.sum as Fn)(3); }).toThrow(WebAssembly.RuntimeError);
    expect(l.limits.exhausted).toBe(true);
    l.limits.beginCall(40);
    expect((l.exports.sum as Fn)(3)).toBe(6);
    expect(l.limits.endCall()).toBe(40);
  });
  it("unmetered limits run instrumented code without a budget", () => {
    const l = load(COUNTS, {});
    expect(l.limits.metered).toBe(false);
    expect(l.call("sum", 1000)).toEqual({ value: 500500, fuel: 0 });
  });
  it("modules of one instance share one counter", () => {
    const a = instrumentModule(wat(`(module (func (export "f") (result i32) (i32.add (i32.const 1) (i32.const 2))))`));
    const b = instrumentModule(wat(`(module (import "a" "f" (func $f (result i32))) (func (export "g") (result i32) (i32.mul (call $f) (i32.const 2))))`));
    const limits = createLimits({ fuel: 1000 });
    const ia = new WebAssembly.Instance(new WebAssembly.Module(a.bytes), limits.imports);
    const ib = new WebAssembly.Instance(new WebAssembly.Module(b.bytes), { a: ia.exports, ...limits.imports });
    limits.beginCall();
    expect((ib.exports.g as Fn)()).toBe(6);
    expect(limits.endCall()).toBe(3 + 3);
  });
});

// Fuel travels through direct calls as an extra parameter and result; other
// ways into a function go through an entry wrapper. Counts must not change.
const CALLS = wat(`
(module
  (type $ii (func (param i32) (result i32)))
  (table $t (export "tab") 3 funcref)
  (elem (table $t) (i32.const 0) func $dbl)
  (tag $e)
  (global $iters (export "iters") (mut i32) (i32.const 0))
  (func $dbl (export "dbl") (export "dbl2") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "via_table") (param i32) (result i32) (call_indirect (type $ii) (local.get 0) (i32.const 0)))
  (func (export "set_ref") (table.set $t (i32.const 1) (ref.func $dbl)))
  (func (export "pair") (param i32) (result i32 i32)
    (local.get 0) (local.get 0) (br_if 0 (local.get 0)) (drop) (drop) (i32.const 7) (i32.const 8))
  (func (export "bt") (param i32) (result i32)
    (block $a (result i32) (br_table $a 1 (i32.const 10) (local.get 0))) (i32.const 1) (i32.add))
  (func $count (export "count") (param i32 i64) (result i64)
    (if (result i64) (i32.eqz (local.get 0))
      (then (local.get 1))
      (else (return_call $count (i32.sub (local.get 0) (i32.const 1)) (i64.add (local.get 1) (i64.const 1))))))
  (func $thrower (param i32) (result i32) (if (local.get 0) (then (throw $e))) (i32.const 1))
  (func $middle (param i32) (result i32) (i32.add (call $thrower (local.get 0)) (i32.const 1)))
  (func (export "catcher") (param i32) (result i32)
    (try (result i32) (do (call $middle (local.get 0))) (catch $e (i32.const 100))))
  (func $boom (drop (i32.add (i32.const 1) (i32.const 2))) unreachable)
  (func (export "trap_in_callee") (drop (i32.const 1)) (call $boom))
  (func $sum (param $n i32) (param $acc i32) (result i32) (local $tmp i32)
    (local.set $tmp (i32.add (local.get $acc) (local.get $n)))
    (if (result i32) (i32.eqz (local.get $n))
      (then (local.get $acc))
      (else (call $sum (i32.sub (local.get $n) (i32.const 1)) (local.get $tmp)))))
  (func (export "sum") (param i32) (result i32) (call $sum (local.get 0) (i32.const 0)))
  ;; recursion whose call sits inside a loop: bounded by the loop header's check
  (func $r (export "loop_rec") (loop $l (global.set $iters (i32.add (global.get $iters) (i32.const 1))) (call $r) (br $l)))
  ;; recursion through the table (and so through the entry wrapper)
  (func $ind (export "ind_rec") (global.set $iters (i32.add (global.get $iters) (i32.const 1))) (call_indirect (i32.const 2)))
  (elem (table $t) (i32.const 2) func $ind)
)`, ["--enable-tail-call", "--enable-exceptions"]);

describe("fuel through calls: same counts on every path into a function", () => {
  const m = load(CALLS, { fuel: 1e9 });
  it("direct, exported and table calls", () => {
    expect(m.call("dbl", 5)).toEqual({ value: 10, fuel: 3 });
    expect(m.call("via_table", 5)).toEqual({ value: 10, fuel: 6 });
  });
  it("a function keeps one identity as export, table element and ref.func", () => {
    expect(m.exports.dbl).toBe(m.exports.dbl2);
    const tab = m.exports.tab as WebAssembly.Table;
    expect(tab.get(0)).toBe(m.exports.dbl);
    m.call("set_ref");
    expect(tab.get(1)).toBe(m.exports.dbl);
  });
  it("multiple results and branches to the function label (br_if, br_table)", () => {
    expect(m.call("pair", 3)).toEqual({ value: [3, 3], fuel: 4 });
    expect(m.call("pair", 0)).toEqual({ value: [7, 8], fuel: 6 });
    expect(m.call("bt", 0)).toEqual({ value: 11, fuel: 5 });
    expect(m.call("bt", 1)).toEqual({ value: 10, fuel: 3 });
  });
  it("non-tail recursion: 12 per level + 11", () => {
    for (const k of [0, 1, 10, 100]) expect(m.call("sum", k)).toEqual({ value: (k * (k + 1)) / 2, fuel: 12 * k + 11 });
  });
  it("a million tail calls run in constant stack and are all counted", () => {
    expect(m.call("count", 1_000_000, 0n)).toEqual({ value: 1_000_000n, fuel: 10 * 1_000_000 + 4 });
  });
  it("an exception thrown two calls down is caught with its callees' fuel counted", () => {
    expect(m.call("catcher", 0)).toEqual({ value: 2, fuel: 10 });
    expect(m.call("catcher", 1)).toEqual({ value: 100, fuel: 12 });
  });
  it("a call that traps in a callee still accounts for the fuel it used", () => {
    m.limits.beginCall();
    let err: unknown;
    try { (m.exports.trap_in_callee as Fn)(); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(WebAssembly.RuntimeError);
    expect(m.limits.abortCall(err)).toBe(false);
    expect(m.limits.lastCallFuel).toBe(5);
  });
  it("recursion with the call inside a loop runs out of fuel, not stack", () => {
    const l = load(CALLS, { fuel: 5_000 });
    expect(() => callMapped(l, "loop_rec")).toThrow(FuelExhausted);
    // 6 units per level (the `br` after the call is charged with its segment).
    expect(iters(l)).toBeGreaterThan(800);
    expect(iters(l)).toBeLessThanOrEqual(834);
  });
  it("recursion through a table runs out of fuel, not stack", () => {
    const l = load(CALLS, { fuel: 3_000 });
    expect(() => callMapped(l, "ind_rec")).toThrow(FuelExhausted);
    // 6 units per level.
    expect(iters(l)).toBeGreaterThan(450);
    expect(iters(l)).toBeLessThanOrEqual(501);
  });
});

// A table the module defines, does not export and never changes gets a threaded twin: call_indirect on it passes the
// fuel as a direct call does instead of going through the callee's entry wrapper. Each module below is built twice,
// with the table private (the twin path) and exported (the wrapper path); counts, results and traps must agree.
function tableVariants(src: (tableExport: string) => string, features = ["--enable-all"]): { twin: Uint8Array; wrapper: Uint8Array } {
  return { twin: wat(src(""), features), wrapper: wat(src(`(export "tab")`), features) };
}

/** The tables of the instrumented module and the table each call_indirect names. */
function instrumentedTables(bytes: Uint8Array, opts: { tableElements?: number } = {}): { tables: number; indirectTables: string[] } {
  const r = instrumentModule(bytes, { fuel: true, memoryCache: false, ...opts });
  const f = path.join(tmp, `m${n++}.out.wasm`);
  writeFileSync(f, r.bytes);
  const text = execFileSync("wasm2wat", ["--enable-all", f], { encoding: "utf8" });
  return {
    tables: (text.match(/^\s*\(table /gm) ?? []).length,
    indirectTables: [...text.matchAll(/call_indirect(?: (\d+))? \(type/g)].map((m) => m[1] ?? "0"),
  };
}

function trapOf(fn: () => unknown): string {
  try { fn(); } catch (e) { return e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e); }
  return "no trap";
}

const TWIN = tableVariants((tableExport) => `
(module
  (type $ii (func (param i32) (result i32)))
  (type $ii2 (func (param i32) (result i32))) ;; equal to $ii
  (type $v (func))
  (type $i64 (func (param i64) (result i64)))
  (import "env" "host" (func $host (param i32) (result i32)))
  (memory 1)
  (table $t ${tableExport} 9 funcref)
  (elem (table $t) (i32.const 0) func $dbl $host $ind)
  (elem (table $t) (i32.const 4) funcref (ref.func $inc) (ref.null func) (ref.func $noop))
  (elem (table $t) (i32.const 7) func $thrower $sum)
  (tag $e)
  (global $iters (export "iters") (mut i32) (i32.const 0))
  (func $dbl (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func $inc (type $ii2) (i32.add (local.get 0) (i32.const 1)))
  (func $noop)
  (func $ind (global.set $iters (i32.add (global.get $iters) (i32.const 1))) (call_indirect (type $v) (i32.const 2)))
  (func $thrower (param i32) (result i32) (if (local.get 0) (then (throw $e))) (local.get 0))
  (func $sum (param $n i32) (result i32) (local $s i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $s (i32.add (local.get $s) (call_indirect (type $ii) (local.get $n) (i32.const 4))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $s))
  (func (export "call") (param $i i32) (param $x i32) (result i32) (call_indirect (type $ii) (local.get $x) (local.get $i)))
  (func (export "call2") (param $i i32) (param $x i32) (result i32) (call_indirect (type $ii2) (local.get $x) (local.get $i)))
  (func (export "callv") (param $i i32) (call_indirect (type $v) (local.get $i)))
  (func (export "call64") (param $i i32) (result i64) (call_indirect (type $i64) (i64.const 1) (local.get $i)))
  (func (export "ind_rec") (call_indirect (type $v) (i32.const 2)))
  (func (export "then_oob") (param $i i32) (result i32) (drop (call_indirect (type $ii) (i32.const 1) (local.get $i))) (i32.load (i32.const 70000)))
  (func (export "catcher") (param i32) (result i32)
    (try (result i32) (do (call_indirect (type $ii) (local.get 0) (i32.const 7))) (catch $e (i32.const 100))))
)`);

describe("call_indirect on a private, immutable table: the threaded twin", () => {
  const env = { env: { host: (x: number) => x + 1000 } };
  it("a private table gets a twin that every call_indirect names; an exported one keeps the wrapper path", () => {
    expect(instrumentedTables(TWIN.twin)).toEqual({ tables: 2, indirectTables: Array(9).fill("1") });
    expect(instrumentedTables(TWIN.wrapper)).toEqual({ tables: 1, indirectTables: Array(9).fill("0") });
    // With a table cap too (the table section is rewritten then).
    expect(instrumentedTables(TWIN.twin, { tableElements: 100 }).tables).toBe(2);
  });
  it("charges the same fuel as the wrapper path, to defined and imported functions, equal types included", () => {
    const a = load(TWIN.twin, { fuel: 1e9 }, env), b = load(TWIN.wrapper, { fuel: 1e9 }, env);
    const calls: [string, ...unknown[]][] = [["call", 0, 5], ["call", 1, 5], ["call", 4, 5], ["call2", 0, 5], ["call2", 4, 9], ["callv", 6], ["call", 8, 10], ["catcher", 0], ["catcher", 1]];
    for (const [name, ...args] of calls) expect(a.call(name, ...args)).toEqual(b.call(name, ...args));
    expect(a.call("call", 0, 5)).toEqual({ value: 10, fuel: 6 });
    expect(a.call("call", 1, 5)).toEqual({ value: 1005, fuel: 3 });
    expect(a.call("call", 8, 10)).toEqual(b.call("call", 8, 10));
    expect(a.call("catcher", 1)).toEqual({ value: 100, fuel: 9 });
  });
  it("out-of-bounds, null and signature-mismatch calls trap as uninstrumented, and report the same fuel", () => {
    const plain = new WebAssembly.Instance(new WebAssembly.Module(TWIN.twin), env).exports as Record<string, Fn>;
    const a = load(TWIN.twin, { fuel: 1e9 }, env), b = load(TWIN.wrapper, { fuel: 1e9 }, env);
    const cases: [string, ...unknown[]][] = [
      ["call", 9, 1], ["call", 1000, 1], ["call", -1, 1], // out of bounds
      ["call", 5, 1], ["callv", 5], ["call", 3, 1], // null: filled by an expression, never filled
      ["callv", 0], ["call", 2, 1], ["call", 6, 1], ["call64", 0], ["call64", 1], // signature mismatch, imports too
      ["then_oob", 0], // a trap after the call: the global holds what the callee left
    ];
    for (const [name, ...args] of cases) {
      const want = trapOf(() => plain[name]!(...args));
      expect(want).toMatch(/RuntimeError/);
      for (const l of [a, b]) {
        l.limits.beginCall();
        let err: unknown;
        try { (l.exports[name] as Fn)(...args); } catch (e) { err = e; }
        expect(trapOf(() => { throw err; }), `${name}(${args})`).toBe(want);
        expect(l.limits.abortCall(err)).toBe(false);
      }
      expect(a.limits.lastCallFuel, `${name}(${args})`).toBe(b.limits.lastCallFuel);
    }
  });
  it("recursion through the twin runs out of fuel, not stack, at the same depth", () => {
    const a = load(TWIN.twin, { fuel: 3_000 }, env), b = load(TWIN.wrapper, { fuel: 3_000 }, env);
    expect(() => callMapped(a, "ind_rec")).toThrow(FuelExhausted);
    expect(() => callMapped(b, "ind_rec")).toThrow(FuelExhausted);
    expect(iters(a)).toBe(iters(b));
    expect(iters(a)).toBeGreaterThan(450);
  });
  it("runs out at the same operator as the wrapper path, on every budget", () => {
    for (let budget = 1; budget <= 60; budget++) {
      const a = load(TWIN.twin, { fuel: budget }, env), b = load(TWIN.wrapper, { fuel: budget }, env);
      const ra = trapOf(() => callMapped(a, "call", 8, 3)), rb = trapOf(() => callMapped(b, "call", 8, 3));
      expect(ra, `budget ${budget}`).toBe(rb);
    }
  });
});

describe("tables that keep the wrapper path", () => {
  const mutators: [string, string][] = [
    ["table.set", "(table.set $t (i32.const 1) (ref.null func))"],
    ["table.grow", "(drop (table.grow $t (ref.null func) (i32.const 1)))"],
    ["table.fill", "(table.fill $t (i32.const 1) (ref.null func) (i32.const 1))"],
    ["table.copy into it", "(table.copy $t $t (i32.const 1) (i32.const 0) (i32.const 1))"],
    ["table.init", "(table.init $t $p (i32.const 1) (i32.const 0) (i32.const 1))"],
  ];
  for (const [what, op] of mutators) {
    it(`a table changed by ${what} (after the calls, so the module is redone) keeps the wrapper path and its counts`, () => {
      const src = `(module
        (type $ii (func (param i32) (result i32)))
        (table $t 2 10 funcref)
        (elem (table $t) (i32.const 0) func $dbl)
        (elem $p func $dbl)
        (func $dbl (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
        (func (export "call") (param $i i32) (param $x i32) (result i32) (call_indirect (type $ii) (local.get $x) (local.get $i)))
        (func (export "mutate") ${op}))`;
      const bytes = wat(src);
      expect(instrumentedTables(bytes)).toEqual({ tables: 1, indirectTables: ["0"] });
      const l = load(bytes, { fuel: 1e9 });
      expect(l.call("call", 0, 5)).toEqual({ value: 10, fuel: 6 });
      l.call("mutate");
      expect(l.call("call", 0, 5)).toEqual({ value: 10, fuel: 6 });
    });
  }
  it("an imported table keeps the wrapper path", () => {
    const bytes = wat(`(module (import "env" "tab" (table $t 2 funcref))
      (type $ii (func (param i32) (result i32)))
      (elem (table $t) (i32.const 0) func $dbl)
      (func $dbl (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
      (func (export "call") (param $i i32) (param $x i32) (result i32) (call_indirect (type $ii) (local.get $x) (local.get $i))))`);
    expect(instrumentedTables(bytes)).toEqual({ tables: 0, indirectTables: ["0"] }); // none defined
  });
  // Written by hand: wabt accepts neither a global.get element nor rec groups.
  const head = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const rest = [
    0x03, 0x03, 0x02, 0x00, 0x01, // functions $dbl (type 0), call (type 1)
    0x04, 0x04, 0x01, 0x70, 0x00, 0x02, // (table 2 funcref)
    0x07, 0x08, 0x01, 0x04, 0x63, 0x61, 0x6c, 0x6c, 0x00, 0x01, // (export "call" (func 1))
  ];
  const code = [0x0a, 0x13, 0x02, 0x07, 0x00, 0x20, 0x00, 0x41, 0x02, 0x6c, 0x0b, 0x09, 0x00, 0x20, 0x01, 0x20, 0x00, 0x11, 0x00, 0x00, 0x0b];
  const funcTypes = [0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]; // (i32) -> i32, (i32 i32) -> i32
  const tableCount = (bytes: Uint8Array): number => {
    let p = 8;
    while (p < bytes.length) {
      const id = bytes[p]!;
      let size = 0, shift = 0, c: number;
      p++;
      do { c = bytes[p++]!; size |= (c & 0x7f) << shift; shift += 7; } while (c & 0x80);
      if (id === 4) return bytes[p]!;
      p += size;
    }
    return 0;
  };
  it("a table filled from a global keeps the wrapper path", () => {
    const bytes = new Uint8Array([...head,
      0x01, 0x0c, 0x02, ...funcTypes,
      0x02, 0x0a, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x67, 0x03, 0x70, 0x00, // (import "env" "g" (global funcref))
      ...rest,
      0x09, 0x09, 0x01, 0x04, 0x41, 0x00, 0x0b, 0x01, 0x23, 0x00, 0x0b, // (elem (i32.const 0) funcref (global.get 0))
      ...code]);
    new WebAssembly.Module(bytes);
    const r = instrumentModule(bytes, { fuel: true, memoryCache: false });
    expect(tableCount(r.bytes)).toBe(1);
    const g = new WebAssembly.Global({ value: "anyfunc" }, null);
    const limits = createLimits({ fuel: 1e9 });
    limits.admitModule(r);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(r.bytes), { env: { g }, ...limits.imports });
    limits.beginCall();
    expect(() => (inst.exports.call as Fn)(0, 5)).toThrow(WebAssembly.RuntimeError);
  });
  it("a module with rec groups or subtypes keeps the wrapper path (their types are not compared by structure)", () => {
    const elem = [0x09, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00]; // (elem (i32.const 0) func 0)
    const rec = new Uint8Array([...head, 0x01, 0x10, 0x01, 0x4e, 0x03, ...funcTypes, 0x5f, 0x00, ...rest, ...elem, ...code]);
    const sub = new Uint8Array([...head, 0x01, 0x0e, 0x02, 0x50, 0x00, ...funcTypes.slice(0, 5), ...funcTypes.slice(5), ...rest, ...elem, ...code]);
    const plain = new Uint8Array([...head, 0x01, 0x0c, 0x02, ...funcTypes, ...rest, ...elem, ...code]);
    expect(tableCount(instrumentModule(plain, { fuel: true, memoryCache: false }).bytes)).toBe(2);
    for (const bytes of [rec, sub]) expect(tableCount(instrumentModule(bytes, { fuel: true, memoryCache: false }).bytes)).toBe(1);
  });
});

describe("return_call_indirect through a twin stays threaded", () => {
  const TAIL = tableVariants((tableExport) => `
  (module
    (type $t (func (param i32) (result i32)))
    (table ${tableExport} 2 funcref)
    (elem (i32.const 0) $f $spin)
    (func $f (export "f") (param i32) (result i32)
      (if (result i32) (i32.eqz (local.get 0))
        (then (i32.const 7))
        (else (return_call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0)))))
    (func $spin (export "spin") (param i32) (result i32)
      (return_call_indirect (type $t) (local.get 0) (i32.const 1))))`, ["--enable-tail-call"]);
  it("counts the same as the unthreaded module: 8 per level + 4", () => {
    expect(instrumentedTables(TAIL.twin).tables).toBe(2);
    const a = load(TAIL.twin, { fuel: 1e9 }), b = load(TAIL.wrapper, { fuel: 1e9 });
    for (const k of [0, 1, 1000, 100_000]) {
      expect(a.call("f", k)).toEqual({ value: 7, fuel: 8 * k + 4 });
      expect(b.call("f", k)).toEqual({ value: 7, fuel: 8 * k + 4 });
    }
  });
  it("an endless indirect tail loop runs out of fuel", () => {
    const l = load(TAIL.twin, { fuel: 100_000 });
    expect(() => callMapped(l, "spin", 0)).toThrow(FuelExhausted);
  });
});

describe("the name section follows the renumbering", () => {
  it("local names skip the fuel parameter; function names stay with their functions", () => {
    const src = `(module (func $sum (export "sum") (param $n i32) (param $acc i32) (result i32) (local $tmp i32)
      (local.set $tmp (i32.add (local.get $n) (local.get $acc))) (local.get $tmp)))`;
    const f = path.join(tmp, `m${n++}.wat`);
    writeFileSync(f, src);
    execFileSync("wat2wasm", ["--debug-names", f, "-o", `${f}.wasm`]);
    const r = instrumentModule(new Uint8Array(readFileSync(`${f}.wasm`)), { memoryCache: false });
    writeFileSync(`${f}.out.wasm`, r.bytes);
    const text = execFileSync("wasm2wat", [`${f}.out.wasm`], { encoding: "utf8" });
    expect(text).toContain("(func $sum (type 1) (param $n i32) (param $acc i32) (param i64) (result i32 i64)");
    expect(text).toContain("(local $tmp i32)");
    expect(text).toContain("local.set $tmp");
  });
});

describe("modules whose tail calls cannot carry the fuel (indirect, to imports) are metered the unthreaded way", () => {
  const TAIL = wat(`
  (module
    (type $t (func (param i32) (result i32)))
    (import "env" "id" (func $id (param i32) (result i32)))
    (table 2 funcref)
    (elem (i32.const 0) $f $spin)
    (func $f (export "f") (param i32) (result i32)
      (if (result i32) (i32.eqz (local.get 0))
        (then (return_call $id (i32.const 7)))
        (else (return_call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0)))))
    (func $spin (export "spin") (param i32) (result i32)
      (return_call_indirect (type $t) (local.get 0) (i32.const 1))))`, ["--enable-tail-call"]);
  const env = { env: { id: (x: number) => x } };
  it("counts the same: 8 per level + 5", () => {
    const l = load(TAIL, { fuel: 1e9 }, env);
    for (const k of [0, 1, 1000]) expect(l.call("f", k)).toEqual({ value: 7, fuel: 8 * k + 5 });
  });
  it("an endless indirect tail loop runs out of fuel", () => {
    const l = load(TAIL, { fuel: 100_000 }, env);
    expect(() => callMapped(l, "spin", 0)).toThrow(FuelExhausted);
  });
});

describe("memory and table caps", () => {
  const GROW = wat(`
  (module
    (memory (export "mem") 1)
    (table $t (export "tab") 1 funcref)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "size") (result i32) (memory.size))
    (func (export "tgrow") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0))))`);

  it("memory.grow past the cap returns -1 and reports a violation", () => {
    const seen: [string, string][] = [];
    const l = load(GROW, { memoryBytes: 4 * 65536, onViolation: (k, d) => seen.push([k, d]) });
    expect(l.call("grow", 2).value).toBe(1);
    expect(l.call("grow", 2).value).toBe(-1);
    expect(seen).toHaveLength(1);
    expect(seen[0]![0]).toBe("memory");
    expect(seen[0]![1]).toMatch(/refused/);
    expect(l.call("grow", 1).value).toBe(3);
    expect(l.call("size").value).toBe(4);
    expect(l.call("grow", 1).value).toBe(-1);
    expect(l.limits.memoryUsedBytes).toBe(4 * 65536);
    expect(l.limits.violations).toBe(2);
    // The host cannot grow it past the cap either: the maximum was rewritten.
    expect(() => (l.exports.mem as WebAssembly.Memory).grow(1)).toThrow(RangeError);
  });

  it("the cap covers all memories of an instance", () => {
    const r1 = instrumentModule(GROW, { memoryBytes: 3 * 65536 });
    const limits = createLimits({ memoryBytes: 3 * 65536 });
    limits.admitModule(r1);
    limits.admitModule(r1);
    const i1 = new WebAssembly.Instance(new WebAssembly.Module(r1.bytes), limits.imports);
    const i2 = new WebAssembly.Instance(new WebAssembly.Module(r1.bytes), limits.imports);
    // One page left in the instance's budget: whichever memory asks first gets it.
    expect((i2.exports.grow as Fn)(1)).toBe(1);
    expect((i1.exports.grow as Fn)(1)).toBe(-1);
    expect(() => limits.admitModule(r1, "third")).toThrow(LimitCapError);
  });

  it("refuses a module whose initial memory is over the cap, naming the memory, its minimum and the cap", () => {
    const big = wat(`(module (memory 10))`);
    let err: unknown;
    try { instrumentModule(big, { memoryBytes: 65536 * 4, label: "guest.wasm#core0" }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(LimitCapError);
    expect(err).toBeInstanceOf(MemoryLimitExceeded);
    const e = err as LimitCapError;
    expect(e.message).toContain("memory 0");
    expect(e.message).toContain("10 pages (655360 bytes)");
    expect(e.message).toContain("cap of 262144 bytes");
    expect(e.message).toContain("guest.wasm#core0");
    expect(e.minimum).toBe(655360);
    expect(e.cap).toBe(262144);
  });

  it("reports imported memories so the host can check them", () => {
    const r = instrumentModule(wat(`(module (import "env" "memory" (memory 2 100)) (memory 1) (func (export "f")))`), { memoryBytes: 1 << 20 });
    expect(r.memories).toEqual([
      { index: 0, imported: true, module: "env", name: "memory", minimumPages: 2, maximumPages: 100, shared: false },
      { index: 1, imported: false, minimumPages: 1, maximumPages: 16, shared: false },
    ]);
    expect(r.definedMemoryBytes).toBe(65536);
    const limits = createLimits({ memoryBytes: 65536 });
    expect(() => limits.admitModule(r, "m", true)).toThrow(/imported memory 0 \(env\.memory\)/);
  });

  it("table.grow past the cap returns -1 and reports a violation", () => {
    const seen: string[] = [];
    const l = load(GROW, { tableElements: 10, onViolation: (_k, d) => seen.push(d) });
    expect(l.call("tgrow", 5).value).toBe(1);
    expect(l.call("tgrow", 10).value).toBe(-1);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/table\.grow by 10 elements refused/);
    expect(l.call("tgrow", 4).value).toBe(6);
    expect((l.exports.tab as WebAssembly.Table).length).toBe(10);
    expect(() => (l.exports.tab as WebAssembly.Table).grow(1)).toThrow(RangeError);
  });

  it("refuses a table whose initial size is over the cap", () => {
    expect(() => instrumentModule(wat(`(module (table 100 funcref))`), { tableElements: 10 })).toThrow(/table 0 declares a minimum of 100 elements, over the cap of 10/);
  });
});

describe("caching", () => {
  it("returns identical bytes for the same module, from memory and from disk", () => {
    const dir = path.join(tmp, "cache");
    clearInstrumentCache();
    const a = instrumentModule(COUNTS, { cacheDir: dir, memoryBytes: 1 << 20 });
    const b = instrumentModule(COUNTS, { cacheDir: dir, memoryBytes: 1 << 20 });
    expect(b).toBe(a);
    // The entry, and the key that seals it (src/runtime/cache-dir.ts).
    expect(readdirSync(dir).sort()).toEqual([`${a.key}.json`, `${a.key}.wasm`, "cache.key"].sort());
    clearInstrumentCache();
    const c = instrumentModule(COUNTS, { cacheDir: dir, memoryBytes: 1 << 20 });
    expect(c).not.toBe(a);
    expect(Buffer.from(c.bytes).equals(Buffer.from(a.bytes))).toBe(true);
    expect(c.memories).toEqual(a.memories);
    // Fresh, uncached work gives the same bytes too.
    const d = instrumentModule(COUNTS, { memoryCache: false, memoryBytes: 1 << 20 });
    expect(Buffer.from(d.bytes).equals(Buffer.from(a.bytes))).toBe(true);
    // Different options, different key.
    expect(instrumentModule(COUNTS, { memoryCache: false }).key).not.toBe(a.key);
  });
  it("instrumentFuel is instrumentModule with fuel on", () => {
    const r = instrumentFuel(COUNTS, { memoryCache: false });
    expect(r.fuel).toBe(true);
    expect(r.limitsImports).toEqual(["fuel"]);
    expect(WebAssembly.Module.imports(new WebAssembly.Module(r.bytes)).map((i) => `${i.module}.${i.name}:${i.kind}`)).toEqual([`${LIMITS_MODULE}.fuel:global`]);
  });
});

describe("bad input gives a typed error, never a corrupt module", () => {
  const cases: [string, Uint8Array][] = [
    ["garbage", new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])],
    ["empty", new Uint8Array(0)],
    ["a component", new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 0x01, 0])],
    ["truncated", COUNTS.subarray(0, COUNTS.length - 7)],
    ["unknown section", new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x63, 0x00])],
    // type () -> (), one function whose body uses reserved opcode 0xff
    ["unknown opcode", new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 5, 1, 3, 0, 0xff, 0x0b])],
  ];
  for (const [name, bytes] of cases) {
    it(name, () => {
      let err: unknown;
      try { instrumentModule(bytes, { memoryCache: false }); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InstrumentError);
      expect(err).toBeInstanceOf(InvalidPluginBinary);
      expect((err as InstrumentError).code).toBe("E_INVALID_BINARY");
    });
  }
  it("rejects nonsense caps", () => {
    expect(() => instrumentModule(COUNTS, { memoryBytes: -1 })).toThrow(InstrumentError);
  });
});

describe("fuel entries: an export's call and its fuel settlement in one call into Wasm", () => {
  const ENTRY = "plughost-fuel-entry:";
  // `sum` loops n times (12 per iteration + 4); `overrun` has no check point inside its 200-operator body;
  // `viaTail` forces the unthreaded rewrite (a tail call to an import cannot carry the fuel along).
  const src = (tail: boolean) => `(module
    (import "env" "imp" (func $imp (param i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "sum") (param $n i32) (result i32) (local $acc i32)
      (block $done (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
      (local.get $acc))
    (func (export "spin") (loop $l (br $l)))
    (func (export "overrun") (result i32)
      (block $b (br_if $b (i32.const 1)))
      ${"(drop (i32.const 1))".repeat(200)}
      (i32.const 0))
    ${tail ? `(func (export "viaTail") (param i32) (result i32) (return_call $imp (local.get 0)))` : ""}
    (func (export "${ENTRY}taken") (param i32 i32 f64 i32) (result i32) (i32.const 7))
    (func (export "taken") (param i32) (result i32) (local.get 0)))`;
  const imports = { env: { imp: (x: number) => x } };

  function withEntries(bytes: Uint8Array, opts: LimitsOptions, entries: string[]) {
    const r = instrumentModule(bytes, { fuel: true, fuelEntries: entries, memoryCache: false });
    const limits = createLimits(opts);
    limits.admitModule(r);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(r.bytes), { ...imports, ...limits.imports });
    const e = inst.exports as Record<string, Fn> & { memory: WebAssembly.Memory };
    /** A call through the entry, as V8Instance's arena path makes it: fuel left stored at address 64. */
    const viaEntry = (name: string, prebilled: number, ...args: number[]) => {
      const counter = limits.enterCall(prebilled);
      const value = e[`${ENTRY}${name}`]!(...args, counter, 64);
      return { value, fuel: limits.leaveCall(new DataView(e.memory.buffer).getFloat64(64, true)) };
    };
    return { r, limits, e, viaEntry };
  }

  for (const tail of [false, true]) {
    it(`charges what beginCall/endCall charge, prebilled fuel included (${tail ? "unthreaded" : "threaded"} rewrite)`, () => {
      const bytes = wat(src(tail));
      const plain = load(bytes, { fuel: 100_000 }, imports);
      const { e, viaEntry } = withEntries(bytes, { fuel: 100_000 }, ["sum", "missing", "memory"]);
      expect(Object.keys(e).filter((k) => k.startsWith(ENTRY)).sort()).toEqual([`${ENTRY}sum`, `${ENTRY}taken`]);
      for (const n of [0, 1, 3, 100]) {
        const want = plain.call("sum", n);
        expect(want.value).toBe((n * (n + 1)) / 2);
        expect(viaEntry("sum", 0, n)).toEqual(want);
        expect(viaEntry("sum", 9, n)).toEqual({ value: want.value, fuel: want.fuel + 9 });
        // Calls through the entry and through beginCall/endCall mix: each arms the counter for itself.
        expect(plain.call("sum", n)).toEqual(want);
      }
    });
  }

  it("arms the counter: a runaway call through the entry runs out of fuel and maps to FuelExhausted", () => {
    const { limits, e } = withEntries(wat(src(false)), { fuel: 1_000 }, ["spin"]);
    let err: unknown;
    try { e[`${ENTRY}spin`]!(limits.enterCall(0), 64); } catch (x) { err = x; }
    expect(err).toBeInstanceOf(WebAssembly.RuntimeError);
    expect(limits.abortCall(err)).toBe(true);
    expect(limits.exhausted).toBe(true);
    // The next call starts with a fresh budget again.
    limits.beginCall();
    expect(limits.endCall()).toBe(0);
  });

  it("a call that overran its budget between check points fails at leaveCall", () => {
    const { limits, viaEntry } = withEntries(wat(src(false)), { fuel: 50 }, ["overrun"]);
    let err: unknown;
    try { viaEntry("overrun", 0); } catch (x) { err = x; }
    expect(err).toBeInstanceOf(FuelSignal);
    expect((err as FuelSignal).used).toBe(203);
    expect(limits.isFuelSignal(err)).toBe(true);
  });

  it("a lifetime budget spans calls through the entry", () => {
    const bytes = wat(src(false));
    const cost = load(bytes, { fuel: 1000 }, imports).call("sum", 3).fuel;
    const { limits, viaEntry } = withEntries(bytes, { fuel: 1000, fuelLifetime: 2 * cost + cost / 2 }, ["sum"]);
    expect(viaEntry("sum", 0, 3)).toEqual({ value: 6, fuel: cost });
    expect(viaEntry("sum", 0, 3)).toEqual({ value: 6, fuel: cost });
    expect(limits.lifetimeRemaining).toBe(cost / 2);
    expect(() => viaEntry("sum", 0, 3)).toThrow(WebAssembly.RuntimeError);
  });

  it("no entry: unmetered modules, modules without memory, and names already exported", () => {
    const bytes = wat(src(false));
    const unmetered = instrumentModule(bytes, { fuel: false, memoryBytes: 1 << 20, fuelEntries: ["sum"], memoryCache: false });
    expect(WebAssembly.Module.exports(new WebAssembly.Module(unmetered.bytes)).map((x) => x.name)).not.toContain(`${ENTRY}sum`);
    const noMemory = instrumentModule(wat(`(module (func (export "f") (result i32) (i32.const 1)))`), { fuel: true, fuelEntries: ["f"], memoryCache: false });
    expect(WebAssembly.Module.exports(new WebAssembly.Module(noMemory.bytes)).map((x) => x.name)).toEqual(["f"]);
    // `taken`'s entry name is the module's own export: it keeps it, with its own behaviour.
    const { e } = withEntries(bytes, { fuel: 1000 }, ["taken"]);
    expect(e[`${ENTRY}taken`]!(1, 2, 3, 4)).toBe(7);
    // The options that shape the output key the cache: the same bytes without entries are another entry.
    expect(instrumentModule(bytes, { fuel: true, fuelEntries: ["sum"] }).key).not.toBe(instrumentModule(bytes, { fuel: true }).key);
  });
});
