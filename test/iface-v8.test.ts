/**
 * App-defined interfaces on the v8 engine with real components: the mirror plugins built from Rust, Go and JS
 * (test/fixtures/iface/*-mirror, world acme:app/mirror-plugin) call the host's `kinds` and `calc` through the
 * canonical-ABI trampolines and are called through typed exports; a component made here from a hand-written core
 * module breaks the ABI on purpose. Driven at the engine level (the registry's wiring is tested elsewhere).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { componentEmbed, componentNew, parse } from "../vendor/jco/index.js";
import {
  AbiViolation,
  InstanceFault,
  InterfaceUnavailable,
  InterfaceValueError,
  PluginTrap,
} from "../src/contract/errors.js";
import type { EngineInstance, HostCalls, LoadRequest } from "../src/engines/engine.js";
import { v8Engine } from "../src/engines/v8/engine.js";
import { parseWit } from "../src/interfaces/wit-parser.js";
import { interfaceId, jsName, type ImportBinding, type InterfaceBindings, type WitInterface } from "../src/interfaces/types.js";
import { root } from "./helpers/plugins.js";
import { ECHOES, item } from "./helpers/acme-app.js";

const APP_WIT = path.join(root, "test/fixtures/wit/acme-app/app.wit");
const appText = readFileSync(APP_WIT, "utf8");
const app = parseWit(appText, APP_WIT).find((p) => p.name === "acme:app")!;
const I = (name: string): WitInterface => app.interfaces.find((i) => i.name === name)!;
const MIRROR = "acme:app/mirror@1.0.0";

const host: HostCalls = {
  log: () => undefined,
  registerCallback: () => "ok",
  emit: () => ({ ok: true, value: 0 }),
  send: () => ({ ok: true, value: undefined }),
  getConfig: () => "{}",
  getConfigValue: () => undefined,
};

type Impl = Record<string, (...args: never[]) => unknown>;
/** The host side: each kinds function returns what it got (unless overridden), calc.add adds; every call is recorded. */
function hostSide(overrides: Impl = {}) {
  const seen: [string, unknown[]][] = [];
  const bind = (iface: WitInterface): ImportBinding => ({
    iface,
    importedAs: interfaceId(iface),
    functions: new Map(
      iface.functions.map((fn) => [
        fn.name,
        (args: unknown[]) => {
          seen.push([fn.name, args]);
          const own = overrides[jsName(fn.name)];
          if (own) return (own as (...a: unknown[]) => unknown)(...args);
          if (fn.name === "add") return ((args[0] as number) + (args[1] as number)) >>> 0;
          if (fn.name === "many-args") return 17017n;
          return args[0];
        },
      ]),
    ),
  });
  const interfaces: InterfaceBindings = {
    imports: new Map([
      ["acme:app/calc@1.0.0", bind(I("calc"))],
      ["acme:app/kinds@1.0.0", bind(I("kinds"))],
    ]),
    exports: new Map([[MIRROR, I("mirror")]]),
  };
  return { seen, interfaces };
}

const live: EngineInstance[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((i) => i.dispose()));
});

/** The capabilities a fixture's plugin.toml declares (the engine checks its WASI imports against them). */
function capabilitiesOf(dir: string): string[] {
  const line = /^capabilities\s*=\s*\[(.*)\]/m.exec(readFileSync(path.join(dir, "plugin.toml"), "utf8"));
  return line ? [...line[1]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!) : [];
}

async function load(name: string, interfaces: InterfaceBindings | undefined, extra: Partial<LoadRequest> = {}, bytes?: Uint8Array): Promise<EngineInstance> {
  const dir = path.join(root, "test/fixtures/iface", name);
  // The C probe plugin exports the probes beside mirror.
  if (name === "c-probe" && interfaces) interfaces = { ...interfaces, exports: new Map([...interfaces.exports, ["acme:app/probe@1.0.0", I("probe")]]) };
  const instance = await v8Engine.load({
    plugin: name,
    entryPath: path.join(dir, "plugin.wasm"),
    capabilities: bytes ? [] : capabilitiesOf(dir),
    limits: {},
    host,
    isolation: "in-process",
    interfaces,
    ...(bytes ? { bytes } : {}),
    ...extra,
  });
  live.push(instance);
  expect(await instance.init("0.1.0", "{}")).toBe(0);
  return instance;
}


describe.each(["c-probe", "rust-mirror", "go-mirror", "js-mirror"])("%s on v8", (name) => {
  it("every echo crosses host → guest → host → guest → host unchanged", async () => {
    const { seen, interfaces } = hostSide();
    const p = await load(name, interfaces);
    for (const [fn, value] of ECHOES) {
      seen.length = 0;
      expect(await p.callExport!(MIRROR, fn, [value]), fn).toEqual(value);
      // The host implementation saw exactly what the caller passed, after two lowerings and two liftings.
      expect(seen, fn).toEqual([[fn, [value]]]);
    }
  });

  it("many-args (20 flat values: spilled to memory), add-loop, item-loop, touch; callExportSync and jsNames", async () => {
    const { seen, interfaces } = hostSide();
    const p = await load(name, interfaces);
    expect(p.callExportSync!(MIRROR, "many-args", [])).toBe(17017n);
    expect(seen).toEqual([["many-args", [1, 2n, 3.5, 4.25, "five", [6, 7], true, -8, 9, "blue-ish", 11, 12, 13, 14, 15, 16, 17]]]);
    seen.length = 0;
    expect(p.callExportSync!(MIRROR, "addLoop", [100])).toBe(5050n); // Σ (i + 1), i < 100
    expect(seen.length).toBe(100);
    expect(seen[99]).toEqual(["add", [99, 1]]);
    const v = item(77n, "loop", ["a"], 1);
    expect(p.callExportSync!("acme:app/mirror", "item-loop", [v, 5])).toBe(5);
    expect(p.callExportSync!(MIRROR, "touch", ["héllo"])).toBe(6);
  });

  it("a throwing implementation ends the guest's call in PluginTrap with what it threw as cause; the instance is discarded", async () => {
    const boom = new Error("store offline");
    const { interfaces } = hostSide({
      echoString: () => {
        throw boom;
      },
    });
    const p = await load(name, interfaces);
    const err = await p.callExport!(MIRROR, "echo-string", ["x"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginTrap);
    expect((err as PluginTrap).cause).toBe(boom);
    expect((err as Error).message).toMatch(/acme:app\/kinds@1\.0\.0#echo-string: the host's implementation failed: store offline/);
    // Faulted: the registry restarts it; this instance refuses further calls.
    await expect(p.callExport!(MIRROR, "touch", ["x"])).rejects.toBeInstanceOf(InstanceFault);
    const next = await load(name, hostSide().interfaces);
    expect(await next.callExport!(MIRROR, "echo-string", ["back"])).toBe("back");
  });

  it("an async implementation is refused on in-process v8: PluginTrap with InterfaceUnavailable async as cause", async () => {
    const { interfaces } = hostSide({ add: async () => 1 });
    const p = await load(name, interfaces);
    const err = await p.callExport!(MIRROR, "add-loop", [3]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginTrap);
    const cause = (err as PluginTrap).cause;
    expect(cause).toBeInstanceOf(InterfaceUnavailable);
    expect((cause as InterfaceUnavailable).reason).toBe("async");
    expect((cause as Error).message).toMatch(/run the plugin with worker isolation or on the wasmtime engine, or make add synchronous/);
  });

  it("a host result that does not fit is PluginTrap with a host-side InterfaceValueError naming the place", async () => {
    const { interfaces } = hostSide({ echoItem: () => item(1n, "n", ["ok", 5 as unknown as string], 1) });
    const p = await load(name, interfaces);
    const err = await p.callExport!(MIRROR, "echo-item", [item(1n, "n", [], 1)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginTrap);
    const cause = (err as PluginTrap).cause as InterfaceValueError;
    expect(cause).toBeInstanceOf(InterfaceValueError);
    expect({ side: cause.side, path: cause.path, iface: cause.iface, fn: cause.fn }).toEqual({ side: "host", path: "result.tags[1]", iface: "acme:app/kinds@1.0.0", fn: "echo-item" });
  });

  it("typed export arguments that do not fit fail before the guest runs; the instance stays usable", async () => {
    const { seen, interfaces } = hostSide();
    const p = await load(name, interfaces);
    const err = await p.callExport!(MIRROR, "echo-item", [{ id: 1, name: "n", tags: [], weight: 1 }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterfaceValueError);
    expect({ side: (err as InterfaceValueError).side, path: (err as InterfaceValueError).path }).toEqual({ side: "host", path: "v.id" });
    expect(seen).toEqual([]);
    await expect(p.callExport!(MIRROR, "echo-color", ["purple"])).rejects.toThrow(/one of red, green, blue-ish/);
    expect(await p.callExport!(MIRROR, "echo-color", ["green"])).toBe("green");
    await expect(p.callExport!(MIRROR, "no-such", [])).rejects.toMatchObject({ code: "E_INTERFACE_UNAVAILABLE", reason: "unknown-function" });
    await expect(p.callExport!("acme:app/quote", "price", [])).rejects.toMatchObject({ code: "E_INTERFACE_UNAVAILABLE", reason: "missing" });
    expect(await p.callExport!(MIRROR, "touch", ["still fine"])).toBe(10);
  });
});

describe("typed exports under the call machinery", () => {
  it("are metered: fuel is counted per call, and a loop past the budget is FuelExhausted (the instance is discarded)", async () => {
    const p = await load("rust-mirror", hostSide().interfaces, { limits: { fuel: 2_000_000 } });
    expect(p.callExportSync!(MIRROR, "add-loop", [10])).toBe(55n);
    const small = p.lastCallFuel!();
    expect(small).toBeGreaterThan(0);
    p.callExportSync!(MIRROR, "add-loop", [1000]);
    expect(p.lastCallFuel!()).toBeGreaterThan(small);
    const err = await p.callExport!(MIRROR, "add-loop", [10_000_000]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_FUEL_EXHAUSTED" });
    await expect(p.callExport!(MIRROR, "touch", ["x"])).rejects.toBeInstanceOf(InstanceFault);
  });

  it("a plugin that only exports (rust-pricing): quote.price(order) = id × 100 + the name's byte length", async () => {
    const p = await load("rust-pricing", { imports: new Map(), exports: new Map([["acme:app/quote@1.0.0", I("quote")]]) });
    expect(await p.callExport!("acme:app/quote@1.0.0", "price", [item(7n, "wïdget", [], 1)])).toBe(707n);
    expect(p.callExportSync!("acme:app/quote", "price", [item(0n, "", ["x"], 0)])).toBe(0n);
  });
});

describe.each(["rust-mirror", "c-probe"])("%s with worker isolation: interface calls cross to the host thread", (name) => {
  const inWorker = { isolation: "worker" as const };

  it("echoes, spilled parameters and loops work as in process", async () => {
    const { seen, interfaces } = hostSide();
    const p = await load(name, interfaces, inWorker);
    for (const [fn, value] of ECHOES) expect(await p.callExport!(MIRROR, fn, [value]), fn).toEqual(value);
    seen.length = 0;
    expect(await p.callExport!(MIRROR, "many-args", [])).toBe(17017n);
    expect(seen).toEqual([["many-args", [1, 2n, 3.5, 4.25, "five", [6, 7], true, -8, 9, "blue-ish", 11, 12, 13, 14, 15, 16, 17]]]);
    expect(await p.callExport!(MIRROR, "add-loop", [50])).toBe(1275n);
  });

  it("each interface call from a worker is paid for in fuel as a host call is (a round trip between threads)", async () => {
    const p = await load(name, hostSide().interfaces, { ...inWorker, limits: { fuel: 50_000_000 } });
    await p.callExport!(MIRROR, "add-loop", [0]);
    const none = p.lastCallFuel!();
    await p.callExport!(MIRROR, "add-loop", [100]);
    expect(p.lastCallFuel!() - none).toBeGreaterThanOrEqual(100 * 1000);
    await expect(p.callExport!(MIRROR, "add-loop", [100_000])).rejects.toMatchObject({ code: "E_FUEL_EXHAUSTED" });
  });

  it("an async implementation is awaited: the worker waits, the host thread does not", async () => {
    const { interfaces } = hostSide({
      add: async (a: number, b: number) => {
        await new Promise((r) => setTimeout(r, 1));
        return a + b;
      },
      echoString: async (s: string) => s.toUpperCase(),
    });
    const p = await load(name, interfaces, inWorker);
    expect(await p.callExport!(MIRROR, "add-loop", [5])).toBe(15n);
    expect(await p.callExport!(MIRROR, "echo-string", ["quiet"])).toBe("QUIET");
  });

  it("a throwing or rejecting implementation ends the call in PluginTrap naming what it threw; a bad result too", async () => {
    const { interfaces } = hostSide({
      echoString: () => {
        throw new RangeError("store offline");
      },
      echoBytes: async () => {
        throw new Error("rejected");
      },
      echoColor: () => "purple",
    });
    for (const [fn, arg, problem] of [
      ["echo-string", "x", /store offline/],
      ["echo-bytes", new Uint8Array(1), /rejected/],
      ["echo-color", "red", /one of red, green, blue-ish/],
    ] as const) {
      const p = await load(name, interfaces, inWorker);
      const err = await p.callExport!(MIRROR, fn, [arg]).catch((e: unknown) => e);
      expect(err, fn).toBeInstanceOf(PluginTrap);
      expect(((err as PluginTrap).cause as Error).message, fn).toMatch(problem);
    }
  });

  it("bad export arguments fail in the worker before the guest runs; the instance stays usable", async () => {
    const p = await load(name, hostSide().interfaces, inWorker);
    const err = await p.callExport!(MIRROR, "echo-item", [{ id: 1, name: "n", tags: [], weight: 1 }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterfaceValueError);
    expect({ side: (err as InterfaceValueError).side, path: (err as InterfaceValueError).path }).toEqual({ side: "host", path: "v.id" });
    expect(await p.callExport!(MIRROR, "touch", ["four"])).toBe(4);
  });
});

describe("loading", () => {
  it("a component importing an app interface nobody bound fails to load: InterfaceUnavailable missing, naming it", async () => {
    const { interfaces } = hostSide();
    const onlyCalc: InterfaceBindings = { imports: new Map([...interfaces.imports].filter(([k]) => k.includes("calc"))), exports: interfaces.exports };
    const err = await load("rust-mirror", onlyCalc).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterfaceUnavailable);
    expect((err as InterfaceUnavailable).reason).toBe("missing");
    expect((err as InterfaceUnavailable).iface).toBe("acme:app/kinds");
    expect((err as Error).message).toMatch(/plugin rust-mirror imports it/);
    await expect(load("rust-mirror", undefined)).rejects.toMatchObject({ code: "E_INTERFACE_UNAVAILABLE", reason: "missing" });
  });

  it("a typed export the host expects but the component lacks fails the load", async () => {
    const { interfaces } = hostSide();
    const expectsQuote: InterfaceBindings = { imports: interfaces.imports, exports: new Map([["acme:app/quote@1.0.0", I("quote")]]) };
    await expect(load("rust-mirror", expectsQuote)).rejects.toMatchObject({ code: "E_INTERFACE_UNAVAILABLE", reason: "missing", iface: "acme:app/quote@1.0.0" });
  });

});

// ── a component that breaks the ABI on purpose, made here from a hand-written core module ──

const PLUGIN_WIT = readFileSync(path.join(root, "wit/plugin.wit"), "utf8");
const body = (text: string) => text.replace(/^package [^;]+;/m, "");
const PROBE_WORLD = `package test:wat-probe;
world wat-probe {
  include plughost:plugin/plugin@0.1.0;
  import acme:app/calc@1.0.0;
  import acme:app/kinds@1.0.0;
  export acme:app/probe@1.0.0;
}
package acme:app@1.0.0 {
${body(appText)}
}
package plughost:plugin@0.1.0 {
${body(PLUGIN_WIT)}
}
`;
const G = "plughost:plugin/guest@0.1.0#";
const P = "acme:app/probe@1.0.0#";
const PROBE_CORE = `(module
  (import "acme:app/kinds@1.0.0" "echo-string" (func $echo_string (param i32 i32 i32)))
  (import "acme:app/kinds@1.0.0" "echo-bytes" (func $echo_bytes (param i32 i32 i32)))
  (import "acme:app/kinds@1.0.0" "echo-shape" (func $echo_shape (param i32 i32 i32 i32)))
  (import "acme:app/calc@1.0.0" "add" (func $add (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "\\ff\\fe\\fd\\fc")
  (global $top (mut i32) (i32.const 4096))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $top) (i32.sub (local.get 2) (i32.const 1))) (i32.sub (i32.const 0) (local.get 2))))
    (global.set $top (i32.add (local.get $p) (local.get 3))) (local.get $p))
  (func (export "${G}init") (param i32 i32 i32 i32) (result i32) (i32.const 0))
  (func (export "${G}teardown") (result i32) (i32.const 0))
  ;; on-event: status = calc.add(len(name), len(data)): an app import from a plughost callback.
  (func (export "${G}on-event") (param i32 i32 i32 i32) (result i32) (call $add (local.get 1) (local.get 3)))
  (func (export "${G}on-hook") (param i32 i32 i32 i32) (result i32)
    (i32.store8 (i32.const 64) (i32.const 0)) (i32.store (i32.const 68) (local.get 2)) (i32.store (i32.const 72) (local.get 3)) (i32.const 64))
  (func (export "${P}bad-utf8") (result i32) (call $echo_string (i32.const 16) (i32.const 4) (i32.const 32)) (i32.const 1))
  (func (export "${P}bad-bounds") (result i32) (call $echo_bytes (i32.const 65000) (i32.const 100000) (i32.const 32)) (i32.const 1))
  (func (export "${P}bad-discriminant") (result i32) (call $echo_shape (i32.const 7) (i32.const 0) (i32.const 0) (i32.const 32)) (i32.const 1))
)`;

describe("a guest that breaks the canonical ABI (a component from a hand-written core module)", () => {
  let bytes: Uint8Array;
  beforeAll(async () => {
    const core = await parse(PROBE_CORE);
    bytes = await componentNew(await componentEmbed({ binary: core, witSource: PROBE_WORLD, world: "test:wat-probe/wat-probe" }));
  });
  const probeBindings = (): InterfaceBindings => {
    const { interfaces } = hostSide();
    return { imports: interfaces.imports, exports: new Map([["acme:app/probe@1.0.0", I("probe")]]) };
  };
  const loadProbe = (isolation: "in-process" | "worker") =>
    load("wat-probe", probeBindings(), { entryPath: path.join(root, "test/fixtures/iface/wat-probe.wasm"), isolation }, bytes);

  it.each([
    ["bad-utf8", /string is not valid UTF-8/],
    ["bad-bounds", /list of 100000 at 65000 \(100000 bytes\) is outside the plugin's 65536-byte memory/],
    ["bad-discriminant", /discriminant 7 is not a case of variant shape/],
  ] as const)("%s: AbiViolation with a guest-side InterfaceValueError; the host survives and a new instance works", async (probe, problem) => {
    for (const isolation of ["in-process", "worker"] as const) {
      const p = await loadProbe(isolation);
      const err = await p.callExport!("acme:app/probe@1.0.0", probe, []).catch((e: unknown) => e);
      expect(err, isolation).toBeInstanceOf(AbiViolation);
      const cause = (err as AbiViolation).cause as InterfaceValueError;
      if (isolation === "in-process") {
        expect(cause).toBeInstanceOf(InterfaceValueError);
        expect({ side: cause.side, path: cause.path, iface: cause.iface }).toEqual({ side: "guest", path: "v", iface: "acme:app/kinds@1.0.0" });
      } else {
        expect(cause.name).toBe("InterfaceValueError"); // a worker's cause crosses as its name and message
      }
      expect(cause.message, isolation).toMatch(problem);
      await expect(p.onEvent("e", new Uint8Array(1))).rejects.toBeInstanceOf(AbiViolation); // the instance is faulted
      const next = await loadProbe(isolation);
      expect(await next.onEvent("four", new Uint8Array(3))).toBe(7); // calc.add(4, 3) from a plughost callback
    }
  });
});

describe("c-probe (C, wit-bindgen c) breaks the canonical ABI through its bindings' raw imports", () => {
  it.each([
    ["bad-utf8", /string is not valid UTF-8/],
    ["bad-bounds", /list of 1000 at 4294967280 .* is outside the plugin's \d+-byte memory/],
    ["bad-discriminant", /discriminant 7 is not a case of variant shape/],
  ])("%s: AbiViolation with a guest-side InterfaceValueError; the next instance's calls work", async (probe, problem) => {
    const { seen, interfaces } = hostSide();
    const p = await load("c-probe", interfaces);
    const err = await p.callExport!("acme:app/probe@1.0.0", probe, []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbiViolation);
    const cause = (err as AbiViolation).cause as InterfaceValueError;
    expect(cause).toBeInstanceOf(InterfaceValueError);
    expect({ side: cause.side, path: cause.path }).toEqual({ side: "guest", path: "v" });
    expect(cause.message).toMatch(problem);
    expect(seen).toEqual([]); // the host implementation never saw the bad value
    await expect(p.callExport!(MIRROR, "touch", ["x"])).rejects.toBeInstanceOf(AbiViolation);
    const next = await load("c-probe", hostSide().interfaces);
    expect(await next.callExport!(MIRROR, "echo-item", [item(3n, "three", ["t"], 3)])).toEqual(item(3n, "three", ["t"], 3));
  });
});
