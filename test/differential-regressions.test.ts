// The differential check (bench/differential.mjs): modules it once flagged, checked in under
// test/fixtures/differential/, run again three ways (V8 plain, V8 instrumented, wasmtime through the addon) and must
// agree; the comparison itself must flag a doctored run; and a short live run of fresh wasm-smith modules must agree.
// Needs the wasmtime addon and the generator, both built by setup (scripts/setup/45-wasmtime.mjs, 46-wasm-smith.mjs).
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { FuelExhausted } from "../src/contract/errors.js";
import { fixtures as wasmtimeFixtures, load as loadWasmtime } from "./fixtures/wasmtime/helpers.js";
// @ts-expect-error: a plain ES module without types (bench/ is not compiled)
import { BUDGET, HOST_ENTRY_FUEL, check, compare, compareExhaustion, runThreeWays } from "../bench/differential.mjs";

interface Call { export: string; outcome: string; values?: string[]; trap?: string; fuel?: number; params?: string[] }
interface Way { instantiated: boolean; error?: string; calls: Call[] }
interface Ways { ref: Way; plain: Way; inst: Way }
interface Comparison { calls: number; divergences: { export: string; what: string }[]; fuelInexact: number; overcharged: number; inconclusive: boolean }

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "differential");
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(dir, name)));
const run = (name: string): { ways: Ways; c: Comparison } => {
  const ways = runThreeWays(fixture(name)) as Ways;
  return { ways, c: compare(ways) as Comparison };
};

describe("differential regressions (test/fixtures/differential)", () => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".wasm")).sort();

  it("has the checked-in modules", () => {
    expect(files).toEqual(["host-entry-fuel-251.wasm", "ok-call-fuel-281.wasm", "trap-overcharge-1177.wasm", "trunc-trap-kind-278.wasm"]);
  });

  for (const f of files) {
    it(`${f}: the three ways agree`, () => {
      const { c } = run(f);
      expect(c.divergences).toEqual([]);
      expect(c.inconclusive).toBe(false);
    });
  }

  it("ok-call-fuel: completed calls cost exactly the same on both metered ways, but for wasmtime's host entry unit", () => {
    const { ways, c } = run("ok-call-fuel-281.wasm");
    expect(ways.ref.calls.map((x) => [x.outcome, x.fuel])).toEqual([["ok", 9], ["ok", 68]]);
    expect(ways.inst.calls.map((x) => [x.outcome, x.fuel])).toEqual([["ok", 9 - HOST_ENTRY_FUEL], ["ok", 68 - HOST_ENTRY_FUEL]]);
    expect(ways.plain.calls.map((x) => x.outcome)).toEqual(["ok", "ok"]);
    expect(c).toMatchObject({ calls: 2, fuelInexact: 0 });
  });

  it("host-entry-fuel: an `unreachable` in the export itself is charged exactly on both (wasmtime + its entry unit)", () => {
    const { ways, c } = run("host-entry-fuel-251.wasm");
    const traps = ways.ref.calls.map((x) => x.trap);
    expect(traps).toEqual(["MemoryOutOfBounds", "UnreachableCodeReached", "UnreachableCodeReached", "UnreachableCodeReached", "UnreachableCodeReached"]);
    expect(ways.inst.calls.map((x) => x.trap)).toEqual(["memory-oob", "unreachable", "unreachable", "unreachable", "unreachable"]);
    expect(ways.inst.calls.slice(2).map((x) => x.fuel)).toEqual([3, 3, 3]);
    expect(ways.ref.calls.slice(2).map((x) => x.fuel)).toEqual([3 + HOST_ENTRY_FUEL, 3 + HOST_ENTRY_FUEL, 3 + HOST_ENTRY_FUEL]);
    expect(c.overcharged).toBe(0);
  });

  it("trap-overcharge: a trap 10,000 calls down charges V8's callers their whole segments (documented), never less", () => {
    // f calls itself 10,000 deep; each level runs 8 operators before its call, and its segment goes on 40 more
    // operators past the call, so V8 charges 48 a level where 8 ran (docs/fuel-and-memory.md, exactness limits).
    const { ways, c } = run("trap-overcharge-1177.wasm");
    expect(ways.ref.calls).toEqual([expect.objectContaining({ outcome: "trap", trap: "UnreachableCodeReached", fuel: 10_000 * 8 + 3 + HOST_ENTRY_FUEL })]);
    expect(ways.inst.calls).toEqual([expect.objectContaining({ outcome: "trap", trap: "unreachable", fuel: 10_000 * 48 + 3 })]);
    expect(c.overcharged).toBe(1);
  });

  it("trunc-trap-kind: a trapping truncation at instantiation is one kind on both engines", () => {
    const { ways } = run("trunc-trap-kind-278.wasm");
    expect(ways.ref).toMatchObject({ instantiated: false, error: "IntegerOverflow" });
    expect(ways.plain).toMatchObject({ instantiated: false, error: "int-overflow" });
    expect(ways.inst).toMatchObject({ instantiated: false, error: "int-overflow" });
  });
});

describe("differential comparison", () => {
  it("flags a result, a trap kind, a fuel figure past ±10 % and a refusal", () => {
    const { ways } = run("ok-call-fuel-281.wasm");
    const doctor = (f: (w: Ways) => void): string[] => {
      const w = structuredClone(ways);
      f(w);
      return (compare(w) as Comparison).divergences.map((d) => d.what);
    };
    expect(doctor((w) => { w.inst.calls[1].fuel = Math.round(68 * 1.2); })).toEqual([expect.stringMatching(/^fuel: v8-instrumented 82, wasmtime 67/)]);
    expect(doctor((w) => { w.inst.calls[1].fuel = 70; })).toEqual([]); // within 10 %: counted as inexact only
    expect(doctor((w) => { w.plain.calls[0] = { export: "", outcome: "trap", trap: "memory-oob" }; })).toEqual(["v8-plain memory-oob; wasmtime ok"]);
    expect(doctor((w) => { w.ref.calls[0].values = ["1"]; w.inst.calls[0].values = ["2"]; w.plain.calls[0].values = ["1"]; })).toEqual(["v8-instrumented [2]; wasmtime [1]"]);
    expect(doctor((w) => { w.inst = { instantiated: false, error: "compile: bad", calls: [] }; })).toEqual([expect.stringMatching(/^v8-instrumented: compile: bad/)]);
  });
});

describe("differential live run", () => {
  it("300 fresh wasm-smith modules agree three ways", () => {
    const { figures } = check({ modules: 300, seed: 900_001 }) as { figures: Record<string, number> };
    expect(figures.modules).toBe(300);
    expect(figures.calls).toBeGreaterThan(50);
    expect(figures.divergences).toBe(0);
    expect(figures.fuelInexact).toBe(0);
    expect(BUDGET).toBeGreaterThan(1_000_000);
  }, 120_000);
});

describe("differential exhaustion pass", () => {
  it("a call out of fuel on both engines agrees; one that ran out on one side far under the budget is flagged", () => {
    // Call "1" needs 67 units: at 30 both engines stop it at a check.
    const both = runThreeWays(fixture("ok-call-fuel-281.wasm"), { budget: 30, plain: false }) as Ways;
    expect(both.ref.calls[1]).toMatchObject({ outcome: "trap", trap: "OutOfFuel" });
    expect(both.inst.calls[1]).toMatchObject({ outcome: "trap", trap: "fuel" });
    expect(compareExhaustion(both, 30)).toEqual({ divergences: [], exhausted: 1 });
    const doctored = structuredClone(both);
    doctored.inst.calls[1] = { export: "1", outcome: "ok", values: [], fuel: 5 };
    expect(compareExhaustion(doctored, 30).divergences).toEqual([{ export: "1", what: "budget 30: v8-instrumented ok; wasmtime fuel (the other used 5)" }]);
  });

  it("at 40 units call \"1\" (67 units, the last 30 or so straight-line) runs out on both engines", () => {
    // wasmtime checks fuel only at loop headers and function entries, so it used to finish this call past its
    // budget, reporting exactly the budget; the addon now treats that as out of fuel, as v8 does (calls.rs).
    const w = runThreeWays(fixture("ok-call-fuel-281.wasm"), { budget: 40, plain: false }) as Ways;
    expect(w.ref.calls[1]).toMatchObject({ outcome: "trap", trap: "OutOfFuel", fuel: 40 });
    expect(w.inst.calls[1]).toMatchObject({ outcome: "trap", trap: "fuel", fuel: 67 });
    expect(compareExhaustion(w, 40)).toEqual({ divergences: [], exhausted: 1 });
  });
});

describe("wasmtime engine: a call that finishes past its budget between checks", () => {
  // The differential check's exhaustion pass found that wasmtime, which checks fuel only at loop headers and function
  // entries, let such a call return normally (reporting exactly the budget) where v8 reports FuelExhausted. The addon
  // now gives each call one spare unit and treats 0 left as out of fuel (native/wasmtime/src/calls.rs).
  it("is FuelExhausted at one unit under its cost, and runs at exactly its cost", async () => {
    await wasmtimeFixtures();
    const probe = await loadWasmtime("plugin", { limits: { fuel: 10_000_000 } });
    await probe.instance.onEvent("sum", new Uint8Array(1000));
    const cost = probe.instance.lastCallFuel!();
    await probe.instance.dispose();
    expect(cost).toBeGreaterThan(16_000);

    const exact = await loadWasmtime("plugin", { limits: { fuel: cost } });
    await exact.instance.onEvent("sum", new Uint8Array(1000));
    expect(exact.instance.lastCallFuel!()).toBe(cost);
    await exact.instance.dispose();

    const under = await loadWasmtime("plugin", { limits: { fuel: cost - 1 } });
    const err = await under.instance.onEvent("sum", new Uint8Array(1000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FuelExhausted);
    expect((err as FuelExhausted).budget).toBe(cost - 1);
    expect(under.instance.lastCallFuel!()).toBe(cost - 1);
    await under.instance.dispose();
  }, 60_000);
});
