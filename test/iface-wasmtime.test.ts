// App-defined WIT interfaces on the wasmtime engine (docs/host-interfaces.md), with the real addon and real
// components: test/fixtures/iface/rust-mirror and rust-pricing (Rust, wit-bindgen, built from source by the set-up
// against test/fixtures/wit/acme-app), and a probe component assembled here from the wasmtime WAT fixture, whose
// core code passes raw values the canonical ABI forbids to `kinds` imports and returns an invalid string from a typed
// export.
//
// Through the Engine interface with hand-made InterfaceBindings (the registry's wrapping is not under test here): every
// kind of value crosses host → guest → host → guest → host on both call paths; typed-export arguments are checked
// before the guest runs; a bad value from the host or the guest, a throwing implementation and a Promise on the JS
// thread each end the guest's call in the typed error the contract names; a Promise on the call thread is awaited.
import { describe, it, expect, beforeAll, afterEach } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { EngineInstance, Limits } from "../src/engines/engine.js";
import { wasmtimeEngine } from "../src/engines/wasmtime/engine.js";
import {
  AbiViolation,
  DeadlineExceeded,
  FuelExhausted,
  InterfaceUnavailable,
  InterfaceValueError,
  PlughostError,
  PluginTrap,
} from "../src/contract/errors.js";
import type { ImportBinding, InterfaceBindings, WitInterface } from "../src/interfaces/types.js";
import { RecordingHost } from "./fixtures/wasmtime/helpers.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const fixture = (name: string): string => path.join(ROOT, "test/fixtures/iface", name, "plugin.wasm");
const MIRROR = "acme:app/mirror@1.0.0";
const KINDS = "acme:app/kinds@1.0.0";
const CALC = "acme:app/calc@1.0.0";
const QUOTE = "acme:app/quote@1.0.0";

type Fn = (args: unknown[]) => unknown;
/** The engine does not read the interface's parsed form; a stub names it. */
const witStub = (id: string): WitInterface => {
  const [pkg, rest] = id.split("/") as [string, string];
  const [name, version] = rest.split("@") as [string, string];
  return { package: pkg, name, version, types: new Map(), functions: [] };
};
const binding = (id: string, fns: Record<string, Fn>): ImportBinding => ({ iface: witStub(id), importedAs: id, functions: new Map(Object.entries(fns)) });
const bindings = (imports: Record<string, Record<string, Fn>>, exports: string[] = []): InterfaceBindings => ({
  imports: new Map(Object.entries(imports).map(([id, fns]) => [id, binding(id, fns)])),
  exports: new Map(exports.map((id) => [id, witStub(id)])),
});

const ECHOES = ["echo-scalars", "echo-string", "echo-bytes", "echo-item", "echo-items", "echo-shape", "echo-color", "echo-perms", "echo-maybe", "echo-outcome", "echo-pair"];

/** `kinds` as a host that echoes each argument and records what it saw; `over` replaces functions. */
function kindsHost(seen: unknown[][], over: Record<string, Fn> = {}): Record<string, Fn> {
  const fns: Record<string, Fn> = {};
  for (const n of ECHOES) {
    fns[n] = (args) => {
      seen.push([n, ...args]);
      return args[0];
    };
  }
  fns["many-args"] = (args) => {
    seen.push(["many-args", ...args]);
    return 99n;
  };
  return { ...fns, ...over };
}

const calcHost = (): Record<string, Fn> => ({ add: ([a, b]) => (a as number) + (b as number) });

const open: EngineInstance[] = [];
afterEach(async () => {
  for (const i of open.splice(0)) await i.dispose();
});

async function load(
  file: string,
  interfaces: InterfaceBindings | undefined,
  limits: Limits = {},
  plugin = path.basename(path.dirname(file)),
  capabilities: string[] = [],
): Promise<EngineInstance> {
  const instance = await wasmtimeEngine.load({
    plugin,
    entryPath: file,
    bytes: new Uint8Array(readFileSync(file)),
    capabilities,
    limits,
    host: new RecordingHost(),
    ...(interfaces ? { interfaces } : {}),
  });
  open.push(instance);
  expect(await instance.init("0.1.0", "{}")).toBe(0);
  return instance;
}

type Path = "sync" | "async";
const PATHS: Path[] = ["sync", "async"];
const call = async (i: EngineInstance, p: Path, iface: string, fn: string, args: unknown[]): Promise<unknown> =>
  p === "sync" ? i.callExportSync!(iface, fn, args) : await i.callExport!(iface, fn, args);

/** What the call threw (fails the test when it did not throw). */
async function failure(run: () => unknown): Promise<PlughostError> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(PlughostError);
    return err as PlughostError;
  }
  throw new Error("expected the call to fail");
}

const ITEM = { id: 7n, name: "widget ✓", tags: ["a", "b-c"], weight: 2.5 };
const SAMPLES: [string, unknown][] = [
  [
    "echo-scalars",
    { b: true, u8v: 255, u16v: 65535, u32v: 4294967295, u64v: 2n ** 64n - 1n, s8v: -128, s16v: -32768, s32v: -2147483648, s64v: -(2n ** 63n), f32v: 1.5, f64v: Math.PI, c: "😀" },
  ],
  ["echo-scalars", { b: false, u8v: 0, u16v: 0, u32v: 0, u64v: 0n, s8v: 127, s16v: 32767, s32v: 2147483647, s64v: 2n ** 63n - 1n, f32v: -0.25, f64v: -1e300, c: "a" }],
  ["echo-string", "héllo, 世界 😀"],
  ["echo-string", ""],
  ["echo-bytes", new Uint8Array([0, 1, 127, 128, 255])],
  ["echo-bytes", new Uint8Array(0)],
  ["echo-item", ITEM],
  ["echo-items", [ITEM, { id: 0n, name: "", tags: [], weight: 0 }]],
  ["echo-items", []],
  ["echo-shape", { tag: "circle", val: 1.5 }],
  ["echo-shape", { tag: "rect", val: { x: -1, y: 2147483647 } }],
  ["echo-shape", { tag: "empty" }],
  ["echo-color", "blue-ish"],
  ["echo-color", "red"],
  ["echo-perms", { read: true, write: false, execIt: true }],
  ["echo-perms", { read: false, write: false, execIt: false }],
  ["echo-maybe", "some text"],
  ["echo-maybe", undefined],
  ["echo-outcome", { tag: "ok", val: ITEM }],
  ["echo-outcome", { tag: "err", val: "out of stock" }],
  ["echo-pair", [4294967295, "four"]],
];

describe("wasmtime app interfaces: rust-mirror (every kind of value, both paths)", () => {
  const file = fixture("rust-mirror");

  for (const p of PATHS) {
    it(`${p}: every mirror echo round-trips, and the host sees the same value`, async () => {
      const seen: unknown[][] = [];
      const i = await load(file, bindings({ [KINDS]: kindsHost(seen), [CALC]: calcHost() }, [MIRROR]));
      for (const [fn, value] of SAMPLES) {
        seen.length = 0;
        const out = await call(i, p, MIRROR, fn, [value]);
        expect(out, fn).toEqual(value);
        expect(seen, fn).toEqual([[fn, value]]);
        if (value instanceof Uint8Array) expect((out as Uint8Array).constructor).toBe(Uint8Array);
      }
    });

    it(`${p}: many-args (17 parameters, spilled to memory) reach the host in order; its u64 comes back`, async () => {
      const seen: unknown[][] = [];
      const i = await load(file, bindings({ [KINDS]: kindsHost(seen), [CALC]: calcHost() }));
      expect(await call(i, p, MIRROR, "many-args", [])).toBe(99n);
      expect(seen).toEqual([["many-args", 1, 2n, 3.5, 4.25, "five", [6, 7], true, -8, 9, "blue-ish", 11, 12, 13, 14, 15, 16, 17]]);
    });

    it(`${p}: add-loop calls the host's calc.add n times`, async () => {
      let calls = 0;
      const i = await load(file, bindings({ [KINDS]: kindsHost([]), [CALC]: { add: ([a, b]) => (calls++, (a as number) + (b as number)) } }));
      expect(await call(i, p, MIRROR, "add-loop", [1000])).toBe(500500n);
      expect(calls).toBe(1000);
      // The camelCase name reaches the same function only through the registry; the engine takes WIT names.
      await expect(call(i, p, MIRROR, "addLoop", [1])).rejects.toBeInstanceOf(InterfaceUnavailable);
    });

    it(`${p}: bad arguments to a typed export are refused before the guest runs, and the instance works on`, async () => {
      const seen: unknown[][] = [];
      const i = await load(file, bindings({ [KINDS]: kindsHost(seen), [CALC]: calcHost() }));
      const cases: [string, unknown[], string, RegExp][] = [
        ["echo-string", [5], "v", /expected a string, got a number/],
        ["echo-string", [], "", /expected 1 argument/],
        ["echo-item", [{ ...ITEM, id: 7 }], "v.id", /bigint/],
        ["echo-item", [{ ...ITEM, tags: ["ok", 3] }], "v.tags[1]", /expected a string/],
        ["echo-scalars", [{ ...(SAMPLES[0]![1] as object), u8v: 256 }], "v.u8v", /u8/],
        ["echo-scalars", [{ ...(SAMPLES[0]![1] as object), c: "ab" }], "v.c", /char/],
        ["echo-shape", [{ tag: "square", val: 1 }], "v", /unknown case "square"/],
        ["echo-shape", [{ tag: "rect", val: { x: 1 } }], "v.val.y", /s32/],
        ["echo-color", ["purple"], "v", /unknown case "purple"/],
        ["echo-perms", [{ read: "yes" }], "v", /flag read: expected a boolean/],
        ["echo-bytes", [[1, 2]], "v", /Uint8Array/],
        ["echo-outcome", [{ tag: "maybe" }], "v", /unknown result tag/],
        ["echo-pair", [[1]], "v", /tuple/],
        ["add-loop", [-1], "n", /u32/],
      ];
      for (const [fn, args, where, problem] of cases) {
        const err = await failure(() => call(i, p, MIRROR, fn, args));
        expect(err, fn).toBeInstanceOf(InterfaceValueError);
        const e = err as InterfaceValueError;
        expect([e.iface, e.fn, e.path, e.side], fn).toEqual([MIRROR, fn, where, "host"]);
        expect(e.message).toMatch(problem);
        expect(e.message).toContain(`[${path.basename(path.dirname(file))}]`);
      }
      expect(seen).toEqual([]);
      expect(await call(i, p, MIRROR, "echo-string", ["still here"])).toBe("still here");
    });

    it(`${p}: a host value that does not fit ends the call in a PluginTrap caused by an InterfaceValueError naming the path`, async () => {
      const cases: [string, Fn, unknown, string][] = [
        ["echo-string", () => 42, "x", "result"],
        ["echo-item", () => ({ ...ITEM, tags: ["a", 3] }), ITEM, "result.tags[1]"],
        ["echo-scalars", () => ({ ...(SAMPLES[0]![1] as object), u64v: -1n }), SAMPLES[0]![1], "result.u64v"],
        ["echo-maybe", () => 5, "x", "result"],
      ];
      for (const [fn, impl, arg, where] of cases) {
        const i = await load(file, bindings({ [KINDS]: kindsHost([], { [fn]: impl }), [CALC]: calcHost() }));
        const err = await failure(() => call(i, p, MIRROR, fn, [arg]));
        expect(err, fn).toBeInstanceOf(PluginTrap);
        const cause = err.cause as InterfaceValueError;
        expect(cause, fn).toBeInstanceOf(InterfaceValueError);
        expect([cause.iface, cause.fn, cause.path, cause.side], fn).toEqual([KINDS, fn, where, "host"]);
        // An instance fault: this instance answers with it from now on (the registry restarts it).
        expect(await failure(() => call(i, p, MIRROR, "echo-color", ["red"]))).toBe(err);
      }
    });

    it(`${p}: an implementation that throws ends the call in a PluginTrap with what it threw as the cause`, async () => {
      const boom = new Error("the catalogue is down");
      const i = await load(file, bindings({ [KINDS]: kindsHost([], { "echo-string": () => { throw boom; } }), [CALC]: calcHost() }));
      const err = await failure(() => call(i, p, MIRROR, "echo-string", ["x"]));
      expect(err).toBeInstanceOf(PluginTrap);
      expect(err.cause).toBe(boom);
      expect(err.message).toContain("the catalogue is down");
    });
  }

  it("an implementation's Promise is awaited on the asynchronous path (the call thread waits), refused on the synchronous one", async () => {
    const slow: Fn = ([s]) => new Promise((resolve) => setTimeout(() => resolve(`${s as string}!`), 20));
    const i = await load(file, bindings({ [KINDS]: kindsHost([], { "echo-string": slow }), [CALC]: calcHost() }));
    expect(await i.callExport!(MIRROR, "echo-string", ["async"])).toBe("async!");
    expect(await i.callExport!(MIRROR, "echo-string", ["again"])).toBe("again!");
    // A rejected Promise is a throw.
    const j = await load(file, bindings({ [KINDS]: kindsHost([], { "echo-string": () => Promise.reject(new Error("no")) }), [CALC]: calcHost() }));
    const rejected = await failure(() => j.callExport!(MIRROR, "echo-string", ["x"]));
    expect(rejected).toBeInstanceOf(PluginTrap);
    expect((rejected.cause as Error).message).toBe("no");
    // On the JS thread nothing can wait for it.
    const err = await failure(() => i.callExportSync!(MIRROR, "echo-string", ["sync"]));
    expect(err).toBeInstanceOf(PluginTrap);
    const cause = err.cause as InterfaceUnavailable;
    expect(cause).toBeInstanceOf(InterfaceUnavailable);
    expect([cause.iface, cause.reason]).toEqual([KINDS, "async"]);
  });

  it("typed exports and the app imports they make run under the plugin's fuel budget", async () => {
    const i = await load(file, bindings({ [KINDS]: kindsHost([]), [CALC]: calcHost() }), { fuel: 200_000 });
    expect(await i.callExport!(MIRROR, "add-loop", [10])).toBe(55n);
    const small = i.lastCallFuel!();
    expect(small).toBeGreaterThan(0);
    // Each call to the host costs the guest at least one unit besides its own code: a long loop runs out.
    const err = await failure(() => i.callExport!(MIRROR, "add-loop", [1_000_000]));
    expect(err).toBeInstanceOf(FuelExhausted);
  });

  it("an implementation's Promise that never settles ends at the call's deadline", async () => {
    const i = await load(file, bindings({ [KINDS]: kindsHost([], { "echo-string": () => new Promise(() => undefined) }), [CALC]: calcHost() }), { deadlineMs: 150 });
    const t0 = performance.now();
    const err = await failure(() => i.callExport!(MIRROR, "echo-string", ["x"]));
    expect(err).toBeInstanceOf(DeadlineExceeded);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it("an app import absent from the bindings fails the load naming it (InterfaceUnavailable missing)", async () => {
    const f = fixture("rust-mirror");
    const req = (interfaces?: InterfaceBindings) =>
      wasmtimeEngine.load({ plugin: "m", entryPath: f, bytes: new Uint8Array(readFileSync(f)), capabilities: [], limits: {}, host: new RecordingHost(), ...(interfaces ? { interfaces } : {}) });
    for (const [interfaces, missing] of [
      [undefined, [CALC, KINDS]],
      [bindings({ [CALC]: calcHost() }), [KINDS]],
      [bindings({ [KINDS]: kindsHost([]) }), [CALC]],
    ] as const) {
      const err = await failure(() => req(interfaces));
      expect(err).toBeInstanceOf(InterfaceUnavailable);
      expect(missing).toContain((err as InterfaceUnavailable).iface);
      expect((err as InterfaceUnavailable).reason).toBe("missing");
      expect(err.message).toContain("[m]");
    }
    const partial = kindsHost([]);
    delete partial["echo-pair"];
    const err = await failure(() => req(bindings({ [KINDS]: partial, [CALC]: calcHost() })));
    expect((err as InterfaceUnavailable).reason).toBe("unknown-function");
    expect(err.message).toContain("echo-pair");
    // An expected typed export the component lacks.
    const missingExport = await failure(() => req(bindings({ [KINDS]: kindsHost([]), [CALC]: calcHost() }, [QUOTE])));
    expect([(missingExport as InterfaceUnavailable).iface, (missingExport as InterfaceUnavailable).reason]).toEqual([QUOTE, "missing"]);
  });

  it("a typed export the plugin does not have is InterfaceUnavailable, and the instance works on", async () => {
    const i = await load(file, bindings({ [KINDS]: kindsHost([]), [CALC]: calcHost() }));
    expect(((await failure(() => i.callExport!(QUOTE, "price", [ITEM]))) as InterfaceUnavailable).reason).toBe("missing");
    expect(((await failure(() => i.callExport!(MIRROR, "nope", []))) as InterfaceUnavailable).reason).toBe("unknown-function");
    // Unversioned ids name the same export.
    expect(await i.callExport!("acme:app/mirror", "touch", ["four"])).toBe(4);
  });
});

describe("wasmtime app interfaces: go-mirror (Go, another guest toolchain's lowering)", () => {
  for (const p of PATHS) {
    it(`${p}: every mirror echo round-trips, many-args and add-loop reach the host`, async () => {
      const seen: unknown[][] = [];
      // Go's runtime imports clocks and random.
      const i = await load(fixture("go-mirror"), bindings({ [KINDS]: kindsHost(seen), [CALC]: calcHost() }), {}, "go-mirror", ["clock", "random"]);
      for (const [fn, value] of SAMPLES) {
        seen.length = 0;
        expect(await call(i, p, MIRROR, fn, [value]), fn).toEqual(value);
        expect(seen, fn).toEqual([[fn, value]]);
      }
      expect(await call(i, p, MIRROR, "many-args", [])).toBe(99n);
      expect(await call(i, p, MIRROR, "add-loop", [100])).toBe(5050n);
    });
  }
});

describe("wasmtime app interfaces: c-probe (C, wit-bindgen c)", () => {
  const file = fixture("c-probe");

  for (const p of PATHS) {
    it(`${p}: every mirror echo round-trips, many-args and add-loop reach the host`, async () => {
      const seen: unknown[][] = [];
      const i = await load(file, bindings({ [KINDS]: kindsHost(seen), [CALC]: calcHost() }));
      for (const [fn, value] of SAMPLES) {
        seen.length = 0;
        expect(await call(i, p, MIRROR, fn, [value]), fn).toEqual(value);
        expect(seen, fn).toEqual([[fn, value]]);
      }
      seen.length = 0;
      expect(await call(i, p, MIRROR, "many-args", [])).toBe(99n);
      expect(seen).toEqual([["many-args", 1, 2n, 3.5, 4.25, "five", [6, 7], true, -8, 9, "blue-ish", 11, 12, 13, 14, 15, 16, 17]]);
      expect(await call(i, p, MIRROR, "add-loop", [100])).toBe(5050n);
    });

    it(`${p}: each probe ends in an AbiViolation (cause: InterfaceValueError, guest side, naming the import); the host is never asked; a restarted instance works`, async () => {
      const probes: [string, string, RegExp][] = [
        ["bad-utf8", "echo-string", /utf-?8/i],
        ["bad-bounds", "echo-bytes", /out of bounds/],
        ["bad-discriminant", "echo-shape", /discriminant/],
      ];
      for (const [probe, fn, problem] of probes) {
        const seen: unknown[][] = [];
        const i = await load(file, bindings({ [KINDS]: kindsHost(seen), [CALC]: calcHost() }));
        const err = await failure(() => call(i, p, "acme:app/probe@1.0.0", probe, []));
        expect(err, probe).toBeInstanceOf(AbiViolation);
        const cause = err.cause as InterfaceValueError;
        expect(cause, probe).toBeInstanceOf(InterfaceValueError);
        expect([cause.iface, cause.fn, cause.side], probe).toEqual([KINDS, fn, "guest"]);
        expect(cause.message, probe).toMatch(problem);
        expect(seen, probe).toEqual([]);
        expect(await failure(() => call(i, p, MIRROR, "echo-string", ["x"]))).toBe(err);
        const fresh = await load(file, bindings({ [KINDS]: kindsHost([]), [CALC]: calcHost() }));
        expect(await call(fresh, p, MIRROR, "echo-string", ["after"])).toBe("after");
      }
    });
  }
});

describe("wasmtime typed exports wired between plugins: c-cart imports quote from rust-pricing", () => {
  it("checkout.total sums quote.price over the items, the import answered by the pricing plugin's export (async path)", async () => {
    const pricing = await load(fixture("rust-pricing"), bindings({}, [QUOTE]));
    // As the registry wires [interfaces.from]: the import's function calls the exporting plugin's instance.
    const quote = { price: ([order]: unknown[]) => pricing.callExport!(QUOTE, "price", [order]) };
    const cart = await load(fixture("c-cart"), bindings({ [QUOTE]: quote, [KINDS]: kindsHost([]) }, ["acme:app/checkout@1.0.0"]));
    const items = [ITEM, { id: 1n, name: "ab", tags: [], weight: 0 }, { id: 0n, name: "", tags: ["t"], weight: 9 }];
    expect(await cart.callExport!("acme:app/checkout@1.0.0", "total", [items])).toBe(710n + 102n + 0n);
    expect(await cart.callExport!("acme:app/checkout@1.0.0", "total", [[]])).toBe(0n);
    // On the JS thread the pricing plugin's asynchronous export is a Promise: refused, as any async implementation.
    const err = await failure(() => cart.callExportSync!("acme:app/checkout@1.0.0", "total", [items]));
    expect((err.cause as InterfaceUnavailable).reason).toBe("async");
  });

  it("wired through the pricing plugin's synchronous export, the JS-thread path works too", async () => {
    const pricing = await load(fixture("rust-pricing"), bindings({}, [QUOTE]));
    const quote = { price: ([order]: unknown[]) => pricing.callExportSync!(QUOTE, "price", [order]) };
    const cart = await load(fixture("c-cart"), bindings({ [QUOTE]: quote, [KINDS]: kindsHost([]) }));
    expect(cart.callExportSync!("acme:app/checkout@1.0.0", "total", [[ITEM, ITEM]])).toBe(1420n);
  });
});

describe("wasmtime typed exports: rust-pricing", () => {
  it("quote.price answers id × 100 + the name's byte length, on both paths, with no app imports", async () => {
    const i = await load(fixture("rust-pricing"), bindings({}, [QUOTE]));
    expect(await i.callExport!(QUOTE, "price", [{ id: 3n, name: "abcd", tags: [], weight: 1 }])).toBe(304n);
    expect(i.callExportSync!(QUOTE, "price", [{ id: 2n ** 40n, name: "é", tags: ["x"], weight: 0 }])).toBe(2n ** 40n * 100n + 2n);
  });

  it("an import implemented by another plugin's typed export (as the registry wires them) works on the asynchronous path", async () => {
    const pricing = await load(fixture("rust-pricing"), bindings({}, [QUOTE]));
    // mirror's kinds.echo-string answers with the price of an item named by the string, from the pricing plugin's
    // own call thread: two instances' threads and the JS thread, none waiting on another's.
    const viaPricing: Fn = async ([s]) => String(await pricing.callExport!(QUOTE, "price", [{ id: 5n, name: s, tags: [], weight: 0 }]));
    const mirror = await load(fixture("rust-mirror"), bindings({ [KINDS]: kindsHost([], { "echo-string": viaPricing }), [CALC]: calcHost() }));
    expect(await mirror.callExport!(MIRROR, "echo-string", ["abc"])).toBe("503");
    expect(await Promise.all([mirror.callExport!(MIRROR, "echo-string", [""]), pricing.callExport!(QUOTE, "price", [ITEM])])).toEqual(["500", 710n]);
  });
});

// ── the probe component (raw core values the canonical ABI forbids)

const PROBE_WIT = `
package test:bad@1.0.0 {
  interface bad {
    /// Returns a string whose bytes are not UTF-8.
    give-string: func() -> string;
    /// Echoes "fine" through the host's kinds.echo-string and returns the length that came back.
    touch: func(s: string) -> u32;
  }
}`;

/** The acme:app package as a nested block (one witSource with several packages). */
function appPackage(): string {
  const wit = readFileSync(path.join(ROOT, "test/fixtures/wit/acme-app/app.wit"), "utf8");
  return `package acme:app@1.0.0 {\n${wit.replace(/^package acme:app@1\.0\.0;$/m, "")}\n}`;
}

const PROBE_IMPORTS = `
  (import "acme:app/kinds@1.0.0" "echo-string" (func $echo_string (param i32 i32 i32)))
  (import "acme:app/kinds@1.0.0" "echo-bytes" (func $echo_bytes (param i32 i32 i32)))
  (import "acme:app/kinds@1.0.0" "echo-shape" (func $echo_shape (param i32 i32 i32 i32)))`;

const PROBE_EXTRA = `
  (data (i32.const 2000) "\\ff\\fe\\fd\\fc")
  (data (i32.const 2008) "\\d0\\07\\00\\00\\04\\00\\00\\00")
  (data (i32.const 2016) "fine")
  (func $extra (param i32 i32) (result i32) (i32.const -100))
  (func (export "acme:app/probe@1.0.0#bad-utf8") (result i32)
    (call $echo_string (i32.const 2000) (i32.const 4) (i32.const 2100)) (i32.const 0))
  (func (export "acme:app/probe@1.0.0#bad-bounds") (result i32)
    (call $echo_bytes (i32.const 0x7fff0000) (i32.const 4096) (i32.const 2100)) (i32.const 0))
  (func (export "acme:app/probe@1.0.0#bad-discriminant") (result i32)
    (call $echo_shape (i32.const 7) (i32.const 0) (i32.const 0) (i32.const 2100)) (i32.const 0))
  (func (export "test:bad/bad@1.0.0#touch") (param i32 i32) (result i32)
    ;; a well-behaved call: echo "fine" through the host and return the length it came back with
    (call $echo_string (i32.const 2016) (i32.const 4) (i32.const 2100))
    (i32.load (i32.const 2104)))
  (func (export "test:bad/bad@1.0.0#give-string") (result i32) (i32.const 2008))`;

const BAD = "test:bad/bad@1.0.0";
let probeFile = "";
beforeAll(async () => {
  const tools = await import("@bytecodealliance/jco-transpile/wasm-tools");
  const wat = readFileSync(path.join(ROOT, "test/fixtures/wasmtime/plugin.wat"), "utf8").replace(";;@imports", PROBE_IMPORTS).replace(";;@extra", PROBE_EXTRA);
  const plugin = readFileSync(path.join(ROOT, "wit/plugin.wit"), "utf8").replace(
    /world plugin \{/,
    "world plugin {\n  import acme:app/kinds@1.0.0;\n  export acme:app/probe@1.0.0;\n  export test:bad/bad@1.0.0;",
  );
  const witSource = `${plugin}\n${appPackage()}\n${PROBE_WIT}\n`;
  const embedded = await tools.componentEmbed({ binary: await tools.parse(wat), witSource, world: "plugin" });
  const dir = mkdtempSync(path.join(tmpdir(), "iface-probe-"));
  probeFile = path.join(dir, "plugin.wasm");
  writeFileSync(probeFile, await tools.componentNew(embedded));
}, 60_000);

describe("wasmtime app interfaces: a guest that breaks the canonical ABI", () => {
  for (const p of PATHS) {
    it(`${p}: each probe ends in an AbiViolation caused by an InterfaceValueError (guest side) naming the import; the host is never asked`, async () => {
      const probes: [string, string, RegExp][] = [
        ["bad-utf8", "echo-string", /utf-?8/i],
        ["bad-bounds", "echo-bytes", /out of bounds/],
        ["bad-discriminant", "echo-shape", /discriminant/],
      ];
      for (const [probe, fn, problem] of probes) {
        const seen: unknown[][] = [];
        const i = await load(probeFile, bindings({ [KINDS]: kindsHost(seen) }), {}, "probe");
        // The well-behaved path first: the same instance reaches the host and back.
        expect(await call(i, p, BAD, "touch", [""])).toBe(4);
        seen.length = 0;
        const err = await failure(() => call(i, p, "acme:app/probe@1.0.0", probe, []));
        expect(err, probe).toBeInstanceOf(AbiViolation);
        const cause = err.cause as InterfaceValueError;
        expect(cause, probe).toBeInstanceOf(InterfaceValueError);
        expect([cause.iface, cause.fn, cause.side], probe).toEqual([KINDS, fn, "guest"]);
        expect(cause.message, probe).toMatch(problem);
        expect(seen, probe).toEqual([]);
        // The faulted instance answers with the fault; a new one (what the registry restarts) works.
        expect(await failure(() => call(i, p, BAD, "touch", [""]))).toBe(err);
        const fresh = await load(probeFile, bindings({ [KINDS]: kindsHost([]) }), {}, "probe");
        expect(await call(fresh, p, BAD, "touch", [""])).toBe(4);
      }
    });

    it(`${p}: a typed export that returns a string that is not UTF-8 is an AbiViolation (guest side, path result)`, async () => {
      const i = await load(probeFile, bindings({ [KINDS]: kindsHost([]) }), {}, "probe");
      const err = await failure(() => call(i, p, BAD, "give-string", []));
      expect(err).toBeInstanceOf(AbiViolation);
      const cause = err.cause as InterfaceValueError;
      expect(cause).toBeInstanceOf(InterfaceValueError);
      expect([cause.iface, cause.fn, cause.path, cause.side]).toEqual(["test:bad/bad@1.0.0", "give-string", "result", "guest"]);
    });
  }
});
