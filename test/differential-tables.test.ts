// The differential check's table modules (bench/differential-tables.mjs): private funcref tables, immutable (the
// instrumenter's threaded twin) or changed by code (redone without it), and wasm-smith modules with their table
// exports removed. The generator must give valid, reproducible modules that take the path their kind names, and a
// short run of them must agree three ways. Needs the wasmtime addon (scripts/setup/45-wasmtime.mjs).
import { describe, expect, it } from "vitest";
import { instrumentModule } from "../src/instrument/index.js";
// @ts-expect-error: a plain ES module without types (bench/ is not compiled)
import { stripTableExports, tableCount, tableModule } from "../bench/differential-tables.mjs";
// @ts-expect-error: a plain ES module without types (bench/ is not compiled)
import { check } from "../bench/differential.mjs";

type Kind = "immutable" | "mutated" | "exported";
const gen = tableModule as (seed: number) => { kind: Kind; bytes: Uint8Array };
const tables = tableCount as (bytes: Uint8Array) => number;
const twins = (bytes: Uint8Array): number =>
  tables(instrumentModule(bytes, { fuel: true, tableElements: 10_000_000, memoryCache: false }).bytes) - tables(bytes);

describe("differential table modules", () => {
  it("are valid, the same for the same seed, and take the path their kind names", () => {
    const seen = { immutable: 0, mutated: 0, exported: 0 };
    for (let s = 1; s <= 120; s++) {
      const { kind, bytes } = gen(s);
      expect(WebAssembly.validate(bytes)).toBe(true);
      expect(gen(s).bytes).toEqual(bytes);
      seen[kind]++;
      // Immutable private tables get a twin; a changed or exported table never does.
      expect(twins(bytes) > 0).toBe(kind === "immutable");
    }
    expect(Math.min(seen.immutable, seen.mutated, seen.exported)).toBeGreaterThan(10);
  });

  it("stripTableExports makes a table private and keeps the other exports", () => {
    const { bytes } = gen(Array.from({ length: 200 }, (_, s) => s + 1).find((s) => gen(s).kind === "exported")!);
    const names = (b: Uint8Array) => WebAssembly.Module.exports(new WebAssembly.Module(b)).map((e) => `${e.kind}:${e.name}`);
    const stripped = (stripTableExports as (b: Uint8Array) => Uint8Array | null)(bytes)!;
    expect(names(stripped)).toEqual(names(bytes).filter((n) => !n.startsWith("table:")));
    expect(twins(stripped)).toBeGreaterThan(0);
    expect((stripTableExports as (b: Uint8Array) => Uint8Array | null)(stripped)).toBeNull();
  });

  it("80 table modules agree three ways, some through a twin", () => {
    const { figures } = check({ modules: 0, tables: 80, seed: 70_001 }) as { figures: Record<string, number> };
    expect(figures.tableModules).toBe(80);
    expect(figures.twins).toBeGreaterThan(20);
    expect(figures.calls).toBeGreaterThan(200);
    expect(figures.divergences).toBe(0);
    expect(figures.fuelInexact).toBe(0);
  }, 120_000);
});
