// The wasmtime engine's typed route for app imports whose parameters and result are flat scalars (iface.rs `typed`):
// the rust-mirror fixture's add-loop calls the host's calc.add(u32, u32) -> u32, linked as a typed host function that
// reaches JS without `Val` vectors and shares one handle scope per export call (iface.rs `CallScope`). It must answer
// exactly as the generic route does: every value that does not fit a u32, a throw and a Promise each end the guest's
// call in the contract's error, on both call paths, and a nested synchronous call of another instance from inside the
// implementation keeps the handle scopes nested.
import { describe, it, expect, afterEach } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { EngineInstance } from "../src/engines/engine.js";
import { wasmtimeEngine } from "../src/engines/wasmtime/engine.js";
import { InterfaceUnavailable, InterfaceValueError, PlughostError, PluginTrap } from "../src/contract/errors.js";
import type { InterfaceBindings, WitInterface } from "../src/interfaces/types.js";
import { RecordingHost } from "./fixtures/wasmtime/helpers.js";

const FILE = path.resolve(import.meta.dirname, "..", "test/fixtures/iface/rust-mirror/plugin.wasm");
const MIRROR = "acme:app/mirror@1.0.0";
const KINDS = "acme:app/kinds@1.0.0";
const CALC = "acme:app/calc@1.0.0";

type Fn = (args: unknown[]) => unknown;
const witStub = (id: string): WitInterface => {
  const [pkg, rest] = id.split("/") as [string, string];
  const [name, version] = rest.split("@") as [string, string];
  return { package: pkg, name, version, types: new Map(), functions: [] };
};
const ECHOES = ["echo-scalars", "echo-string", "echo-bytes", "echo-item", "echo-items", "echo-shape", "echo-color", "echo-perms", "echo-maybe", "echo-outcome", "echo-pair"];
const kinds: Record<string, Fn> = { ...Object.fromEntries(ECHOES.map((n) => [n, (a: unknown[]) => a[0]])), "many-args": () => 0n };
const bindings = (add: Fn): InterfaceBindings => ({
  imports: new Map(
    [
      [CALC, { add }],
      [KINDS, kinds],
    ].map(([id, fns]) => [id as string, { iface: witStub(id as string), importedAs: id as string, functions: new Map(Object.entries(fns as Record<string, Fn>)) }]),
  ),
  exports: new Map(),
});

const open: EngineInstance[] = [];
afterEach(async () => {
  for (const i of open.splice(0)) await i.dispose();
});

async function load(add: Fn): Promise<EngineInstance> {
  const instance = await wasmtimeEngine.load({
    plugin: "rust-mirror",
    entryPath: FILE,
    bytes: new Uint8Array(readFileSync(FILE)),
    capabilities: [],
    limits: {},
    host: new RecordingHost(),
    interfaces: bindings(add),
  });
  open.push(instance);
  expect(await instance.init("0.1.0", "{}")).toBe(0);
  return instance;
}

type Path = "sync" | "async";
const addLoop = async (i: EngineInstance, p: Path, n: number): Promise<unknown> =>
  p === "sync" ? i.callExportSync!(MIRROR, "add-loop", [n]) : await i.callExport!(MIRROR, "add-loop", [n]);

async function failure(run: () => unknown): Promise<PlughostError> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(PlughostError);
    return err as PlughostError;
  }
  throw new Error("expected the call to fail");
}

describe("wasmtime app interfaces: the typed route of a scalar import (calc.add)", () => {
  for (const p of ["sync", "async"] as Path[]) {
    it(`${p}: a loop longer than a handle scope's renewal sees every argument and sums every result`, async () => {
      const seen: [unknown, unknown][] = [];
      const i = await load(([a, b]) => (seen.push([a, b]), (a as number) + (b as number)));
      const n = p === "sync" ? 5000 : 300;
      // add-loop sums add(i, 1) for i in 0..n.
      expect(await addLoop(i, p, n)).toBe(BigInt((n * (n + 1)) / 2));
      expect(seen.length).toBe(n);
      expect(seen[0]).toEqual([0, 1]);
      expect(seen[n - 1]).toEqual([n - 1, 1]);
      // The largest u32 comes back whole.
      const j = await load(() => 4294967295);
      expect(await addLoop(j, p, 2)).toBe(2n * 4294967295n);
    });

    it(`${p}: a result that is not a u32 ends the call in a PluginTrap caused by an InterfaceValueError at "result"`, async () => {
      const bad: [string, unknown, RegExp][] = [
        ["a string", "3", /got a string/],
        ["a negative number", -1, /got -1/],
        ["a fraction", 1.5, /got 1\.5/],
        ["2^32", 2 ** 32, /got 4294967296/],
        ["a bigint", 3n, /got a bigint/],
        ["undefined", undefined, /got undefined/],
        ["NaN", NaN, /got NaN/],
      ];
      for (const [what, value, problem] of bad) {
        const i = await load(() => value);
        const err = await failure(() => addLoop(i, p, 3));
        expect(err, what).toBeInstanceOf(PluginTrap);
        const cause = err.cause as InterfaceValueError;
        expect(cause, what).toBeInstanceOf(InterfaceValueError);
        expect([cause.iface, cause.fn, cause.path, cause.side], what).toEqual([CALC, "add", "result", "host"]);
        expect(cause.message, what).toMatch(problem);
      }
    });

    it(`${p}: an implementation that throws ends the call in a PluginTrap with what it threw as the cause`, async () => {
      const boom = new Error("no adding today");
      let calls = 0;
      const i = await load(() => {
        if (++calls === 3) throw boom;
        return 1;
      });
      const err = await failure(() => addLoop(i, p, 10));
      expect(err).toBeInstanceOf(PluginTrap);
      expect(err.cause).toBe(boom);
      expect(calls).toBe(3);
    });
  }

  it("a Promise is awaited on the asynchronous path and refused on the synchronous one (InterfaceUnavailable async)", async () => {
    const i = await load(async ([a, b]) => (a as number) + (b as number));
    expect(await addLoop(i, "async", 4)).toBe(10n);
    const j = await load(async () => 1);
    const err = await failure(() => addLoop(j, "sync", 4));
    expect(err).toBeInstanceOf(PluginTrap);
    const cause = err.cause as InterfaceUnavailable;
    expect(cause).toBeInstanceOf(InterfaceUnavailable);
    expect([cause.iface, cause.reason]).toEqual([CALC, "async"]);
  });

  it("an implementation that calls another instance synchronously, itself calling add, answers correctly (nested scopes)", async () => {
    const inner = await load(([a, b]) => (a as number) + (b as number));
    const outer = await load(([a, b]) => Number(inner.callExportSync!(MIRROR, "add-loop", [a as number])) + (b as number));
    // outer: sum over i < 40 of (sum over k < i of (k + 1)) + 1 = sum of (i(i+1)/2 + 1).
    let want = 0;
    for (let k = 0; k < 40; k++) want += (k * (k + 1)) / 2 + 1;
    expect(await addLoop(outer, "sync", 40)).toBe(BigInt(want));
    // Both work on afterwards, on both paths.
    expect(await addLoop(inner, "sync", 10)).toBe(55n);
    expect(await addLoop(outer, "async", 3)).toBe(BigInt(1 + 2 + 4));
  });
});
