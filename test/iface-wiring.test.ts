// The registry side of app-defined interfaces without engines (docs/host-interfaces.md): reading a component's import
// and export names from its binary (real components: one assembled here from WAT by wasm-tools, and the built
// fixtures), on well-formed and hostile bytes; the iface capability; the manifest's [interfaces] table; wiring cycles
// and the load order of a batch; provide's checks against the WIT.
import { describe, it, expect } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse as watToComponent } from "@bytecodealliance/jco";
import { appInterfaces, componentAppInterfaces, componentNames, COMPONENT_NAME_BOUNDS, isAppInterface } from "../src/interfaces/component-names.js";
import { InterfaceProviders } from "../src/interfaces/provider.js";
import { orderForWiring, wiringCycle } from "../src/interfaces/wiring.js";
import { covers, effectiveCapabilities, ifaceAllowed, parseCapability } from "../src/plugin/capabilities.js";
import { parseManifest } from "../src/plugin/manifest.js";
import { CapabilityDenied, InterfaceUnavailable, InvalidPluginBinary, ManifestError, WitError } from "../src/contract/errors.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const APP_WIT = path.join(ROOT, "test/fixtures/wit/acme-app");

/** A component importing a functionless `kinds` (types for `use`), `calc` and a WASI interface, exporting `mirror`. */
const WAT = `(component
  (type $kinds (instance
    (type (record (field "id" u64) (field "name" string) (field "tags" (list string)) (field "weight" f64)))
    (export "item" (type (eq 0)))
    (type (variant (case "circle" f32) (case "rect" (tuple s32 s32)) (case "empty")))
    (type (flags "read" "write" "exec-it"))
    (type (enum "red" "green" "blue-ish"))
    (type (result u32 (error string)))
    (type (option (option string)))
    (type (func (param "a" u32) (param "b" u32) (result u32)))))
  (import "acme:app/kinds@1.0.0" (instance $k (type $kinds)))
  (alias export $k "item" (type $item))
  (import "acme:app/calc@1.0.0" (instance
    (alias outer 1 $item (type)) (export "item" (type (eq 0)))
    (type (func (param "a" u32) (param "b" u32) (result u32))) (export "add" (func (type 2)))))
  (import "wasi:cli/stderr@0.2.0" (instance))
  (import "plain-func" (func (param "x" string)))
  (core module $m (func (export "f") (result i32) i32.const 1))
  (core instance $i (instantiate $m))
  (func $f (result u32) (canon lift (core func $i "f")))
  (instance $e (export "touch" (func $f)))
  (export "acme:app/mirror@1.0.0" (instance $e))
  (export "run" (func $f)))`;

let component: Uint8Array;
const built = async (): Promise<Uint8Array> => (component ??= await watToComponent(WAT));

describe("componentNames", () => {
  it("reads top-level imports and exports, the function names of imported instances, and which are app interfaces", async () => {
    const names = componentNames(await built());
    expect(names.imports).toEqual([
      { name: "acme:app/kinds@1.0.0", kind: "instance", functions: [] },
      { name: "acme:app/calc@1.0.0", kind: "instance", functions: ["add"] },
      { name: "wasi:cli/stderr@0.2.0", kind: "instance", functions: [] },
      { name: "plain-func", kind: "func" },
    ]);
    expect(names.exports).toEqual([
      { name: "acme:app/mirror@1.0.0", kind: "instance" },
      { name: "run", kind: "func" },
    ]);
    // kinds is imported for its types only: nothing to grant or provide.
    expect(appInterfaces(names)).toEqual({ imports: ["acme:app/calc@1.0.0"], exports: ["acme:app/mirror@1.0.0"] });
  });

  it("reads the built fixtures (Rust, Go, JS guests against the app world; a C guest of plughost's world)", () => {
    const cases: [string, string[], string[]][] = [
      ["test/fixtures/iface/rust-mirror/plugin.wasm", ["acme:app/calc@1.0.0", "acme:app/kinds@1.0.0"], ["acme:app/mirror@1.0.0"]],
      ["test/fixtures/iface/rust-pricing/plugin.wasm", [], ["acme:app/quote@1.0.0"]],
      ["test/fixtures/iface/go-mirror/plugin.wasm", ["acme:app/calc@1.0.0", "acme:app/kinds@1.0.0"], ["acme:app/mirror@1.0.0"]],
      ["test/fixtures/c/probe/plugin.wasm", [], []],
    ];
    for (const [file, imports, exports] of cases) {
      const abs = path.join(ROOT, file);
      expect(existsSync(abs), `${file} is built by the set-up (node scripts/setup.mjs)`).toBe(true);
      const names = componentNames(readFileSync(abs), file);
      expect(appInterfaces(names), file).toEqual({ imports, exports });
      if (file.includes("/c/")) expect(names.imports.map((i) => i.name)).toContain("plughost:plugin/host@0.1.0");
    }
    // rust-pricing's quote uses kinds.{item}: kinds comes in as types only.
    const pricing = componentNames(readFileSync(path.join(ROOT, "test/fixtures/iface/rust-pricing/plugin.wasm")));
    expect(pricing.imports.find((i) => i.name === "acme:app/kinds@1.0.0")?.functions).toEqual([]);
  });

  it("componentAppInterfaces gives what appInterfaces(componentNames) gives, reading types only for app-like imports", async () => {
    const files = [
      "test/fixtures/iface/rust-mirror/plugin.wasm",
      "test/fixtures/iface/rust-pricing/plugin.wasm",
      "test/fixtures/iface/go-mirror/plugin.wasm",
      "test/fixtures/c/probe/plugin.wasm",
      "test/fixtures/c/bench/plugin.wasm",
    ];
    const all: Uint8Array[] = [await built(), ...files.map((f) => new Uint8Array(readFileSync(path.join(ROOT, f))))];
    for (const bytes of all) {
      const full = componentNames(bytes);
      const fast = componentAppInterfaces(bytes);
      expect({ imports: fast.imports, exports: fast.exports }).toEqual(appInterfaces(full));
      expect(fast.names.imports.map((i) => i.name)).toEqual(full.imports.map((i) => i.name));
      expect(fast.names.exports).toEqual(full.exports);
      // With an app-like import the functions are read (a types-only import is told apart by them).
      if (full.imports.some(isAppInterface)) expect(fast.names.imports).toEqual(full.imports);
    }
    // Without one, the type section is not read: a component of plughost's world is only its import and export names.
    const probe = componentAppInterfaces(all[4]!);
    expect(probe.names.imports.every((i) => i.functions === undefined)).toBe(true);
    expect(probe).toMatchObject({ imports: [], exports: [] });
  });

  it("refuses what is not a component with InvalidPluginBinary naming the file", () => {
    const core = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    for (const [bytes, why] of [
      [new Uint8Array(0), /not a WebAssembly binary/],
      [new TextEncoder().encode("#!/bin/sh\necho hi\n"), /not a WebAssembly binary/],
      [core, /core WebAssembly module, not a component/],
      [new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x02, 0x00]), /layer/],
    ] as const) {
      let err: unknown;
      try {
        componentNames(bytes, "/p/plugin.wasm", { plugin: "p" });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidPluginBinary);
      expect((err as InvalidPluginBinary).file).toBe("/p/plugin.wasm");
      expect((err as InvalidPluginBinary).plugin).toBe("p");
      expect((err as Error).message).toMatch(why);
    }
  });

  it("every truncation of a component is InvalidPluginBinary or a shorter reading, never another error", async () => {
    const bytes = await built();
    let refused = 0;
    for (let n = 8; n < bytes.length; n++) {
      try {
        const names = componentNames(bytes.subarray(0, n));
        expect(names.imports.length).toBeLessThanOrEqual(4); // a cut at a section boundary reads the sections before it
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidPluginBinary);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(bytes.length / 2);
  });

  it("hostile bytes: mutated components, lying counts and sizes, long and non-UTF-8 names are refused quickly", async () => {
    const bytes = await built();
    // Deterministic byte flips over the whole binary.
    let seed = 12345;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const started = performance.now();
    for (let i = 0; i < 3000; i++) {
      const copy = bytes.slice();
      for (let k = 0; k < 3; k++) copy[8 + rand(copy.length - 8)] = rand(256);
      try {
        componentNames(copy);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidPluginBinary);
      }
    }
    expect(performance.now() - started).toBeLessThan(5000);

    const header = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    const refuse = (body: number[], why: RegExp) => {
      expect(() => componentNames(new Uint8Array([...header, ...body]))).toThrow(why);
    };
    refuse([0x0a, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f], /claims 4294967295 items/); // count 2^32-1 in a 5-byte section
    refuse([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], /claims 4294967295 bytes/); // section larger than the file
    refuse([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], /over-long|fit in 32 bits/); // a 6-byte LEB
    const long = COMPONENT_NAME_BOUNDS.nameBytes + 1;
    refuse([0x0a, 0x08, 0x01, 0x00, 0x80 | (long & 0x7f), long >> 7, 0x61, 0x05, 0x00, 0x00], /bytes long/);
    refuse([0x0a, 0x07, 0x01, 0x00, 0x02, 0xff, 0xfe, 0x05, 0x00], /not valid UTF-8/);
    refuse([0x0a, 0x06, 0x01, 0x07, 0x01, 0x61, 0x05, 0x00], /discriminant 0x7/);
    refuse([0x0a, 0x06, 0x01, 0x00, 0x01, 0x61, 0x09, 0x00], /kind 0x9/);
    refuse([0x0b, 0x08, 0x01, 0x00, 0x01, 0x61, 0x05, 0x00, 0x00, 0x00], /bytes after its last item/);
  });

  it("reads names in UTF-8: ASCII, multi-byte, and ASCII that turns multi-byte part-way", () => {
    const header = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    const importName = (name: number[]) => {
      const body = [0x01, 0x00, name.length, ...name, 0x05, 0x00]; // one import: an instance of type 0
      return componentNames(new Uint8Array([...header, 0x0a, body.length, ...body])).imports[0]!.name;
    };
    expect(importName([0x61, 0x3a, 0x62, 0x2f, 0x63])).toBe("a:b/c");
    expect(importName([0xc3, 0xa9])).toBe("é");
    expect(importName([0x61, 0x62, 0xe2, 0x82, 0xac])).toBe("ab€");
    expect(importName([0x7f])).toBe("\x7f");
  });
});

describe("the iface capability", () => {
  it("parses unversioned ids and prefix wildcards, refuses versions and malformed ids", () => {
    expect(parseCapability("iface:acme:app/calc")).toEqual({ kind: "iface", id: "acme:app/calc" });
    expect(parseCapability("iface:acme:app/*")).toEqual({ kind: "iface", id: "acme:app/*" });
    expect(() => parseCapability("iface:acme:app/calc@1.0.0")).toThrow(/without a version/);
    expect(() => parseCapability("iface:calc")).toThrow(/namespace:package\/interface/);
    expect(covers(parseCapability("iface:acme:*"), parseCapability("iface:acme:app/calc"))).toBe(true);
    expect(covers(parseCapability("iface:acme:app/calc"), parseCapability("iface:acme:app/kinds"))).toBe(false);
    expect(ifaceAllowed(["iface:acme:app/calc"], "acme:app/calc@1.0.0")).toBe(true);
    expect(ifaceAllowed(["iface:acme:app/*"], "acme:app/kinds@2.0.0")).toBe(true);
    expect(ifaceAllowed(["iface:acme:app/calc", "stdio"], "acme:app/kinds@1.0.0")).toBe(false);
    expect(() => effectiveCapabilities(["iface:acme:app/calc"], [], ["iface:acme:app/kinds"], "p")).toThrow(CapabilityDenied);
  });
});

describe("the manifest's [interfaces] table", () => {
  const base = `name = "cart"\nversion = "1.0.0"\napi-version = "^0.1.0"\nentry = "plugin.wasm"\ncapabilities = ["iface:acme:app/quote"]\n`;
  it("reads wit (resolved against the manifest's directory), world and from", () => {
    const m = parseManifest(`${base}[interfaces]\nwit = "../wit"\nworld = "cart-plugin"\n[interfaces.from]\n"acme:app/quote" = "pricing"\n`, "/srv/p/cart/plugin.toml", { checkEntry: false });
    expect(m.interfaces).toEqual({ wit: "/srv/p/wit", world: "cart-plugin", from: { "acme:app/quote": "pricing" } });
  });
  it("refuses a versioned from key, a bad plugin name, an import from itself, unknown keys", () => {
    for (const [table, pointer] of [
      [`[interfaces.from]\n"acme:app/quote@1.0.0" = "pricing"\n`, "/interfaces/from/acme:app~1quote@1.0.0"],
      [`[interfaces.from]\n"acme:app/quote" = "Pricing!"\n`, "/interfaces/from/acme:app~1quote"],
      [`[interfaces.from]\n"acme:app/quote" = "cart"\n`, "/interfaces/from/acme:app~1quote"],
      [`[interfaces]\nwitt = "x"\n`, "/interfaces/witt"],
    ] as const) {
      let err: unknown;
      try {
        parseManifest(base + table, "/srv/p/cart/plugin.toml", { checkEntry: false });
      } catch (e) {
        err = e;
      }
      expect(err, table).toBeInstanceOf(ManifestError);
      expect((err as ManifestError).problems.map((p) => p.pointer), table).toContain(pointer);
    }
  });
});

describe("wiring between plugins", () => {
  const m = (name: string, from: Record<string, string> = {}, deps: string[] = []) => ({
    name,
    interfaces: { from },
    dependencies: deps.map((d) => ({ name: d, range: "*", optional: false })),
  });
  it("finds circles of [interfaces.from] through known manifests, direct or longer", () => {
    const known = new Map([
      ["loop", m("loop", { "acme:app/checkout": "cart" })],
      ["a", m("a", { "x:y/b": "b" })],
      ["b", m("b", { "x:y/c": "c" })],
      ["c", m("c", { "x:y/a": "a" })],
      ["pricing", m("pricing")],
    ]);
    const of = (n: string) => known.get(n);
    expect(wiringCycle(m("cart", { "acme:app/quote": "loop" }), of)).toEqual({ path: ["cart", "loop", "cart"], iface: "acme:app/quote" });
    expect(wiringCycle(m("a", { "x:y/b": "b" }), of)).toEqual({ path: ["a", "b", "c", "a"], iface: "x:y/b" });
    expect(wiringCycle(m("cart", { "acme:app/quote": "pricing" }), of)).toBeUndefined();
    expect(wiringCycle(m("cart", { "acme:app/quote": "unknown" }), of)).toBeUndefined();
  });
  it("orders a batch so exporters load before their importers, within the dependency order", () => {
    const order = orderForWiring([m("cart", { "acme:app/quote": "pricing" }), m("shop", {}, ["cart"]), m("pricing"), m("other")]);
    expect(order.map((x) => x.name)).toEqual(["pricing", "cart", "shop", "other"]);
    // A circle keeps its order (its load reports the cycle).
    expect(orderForWiring([m("a", { "x:y/b": "b" }), m("b", { "x:y/a": "a" })]).map((x) => x.name)).toEqual(["a", "b"]);
  });
});

describe("provide", () => {
  const calc = "acme:app/calc@1.0.0";
  const fresh = () => {
    const p = new InterfaceProviders();
    p.define(APP_WIT);
    return p;
  };
  const reason = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (err) {
      if (err instanceof InterfaceUnavailable) return err.reason;
      throw err;
    }
    return undefined;
  };
  it("checks the implementation against the WIT: every function, nothing else", () => {
    const p = fresh();
    expect(reason(() => p.provide(calc, {}))).toBe("unknown-function");
    expect(reason(() => p.provide(calc, { add: (a: number, b: number) => a + b, sub: () => 0 }))).toBe("unknown-function");
    expect(reason(() => p.provide(calc, { add: 3 } as never))).toBe("unknown-function");
    expect(reason(() => p.provide("acme:app/kinds@1.0.0", { echoString: (s: string) => s }))).toBe("unknown-function");
    expect(() => p.provide(calc, {})).toThrow(/no function "add"/);
    const provided = p.provide(calc, { add: (a: number, b: number) => a + b });
    expect(provided.id).toBe(calc);
    expect([...provided.functions.keys()]).toEqual(["add"]);
  });
  it("refuses a second provider of the same interface, at any version, until unprovided", () => {
    const p = fresh();
    p.provide(calc, { add: (a: number, b: number) => a + b });
    expect(reason(() => p.provide(calc, { add: () => 0 }))).toBe("provided-twice");
    expect(reason(() => p.provide("acme:app/calc", { add: () => 0 }))).toBe("provided-twice");
    expect(p.unprovide("acme:app/calc")).toBe(true);
    expect(p.unprovide("acme:app/calc")).toBe(false);
    expect(p.provide(calc, { add: () => 0 }).id).toBe(calc);
  });
  it("needs a WIT that defines the interface at that version (defineInterfaces or { wit })", () => {
    const bare = new InterfaceProviders();
    expect(reason(() => bare.provide(calc, { add: () => 0 }))).toBe("missing");
    expect(reason(() => bare.provide("not an id", { add: () => 0 }))).toBe("missing");
    expect(() => bare.provide(calc, { add: () => 0 }, { wit: "/no/such/dir" })).toThrow(WitError);
    expect(bare.provide(calc, { add: () => 0 }, { wit: APP_WIT }).iface.functions.map((f) => f.name)).toEqual(["add"]);
    const p = fresh();
    expect(() => p.provide("acme:app/calc@1.1.0", { add: () => 0 })).toThrow(/it knows acme:app\/calc@1.0.0/);
  });
  it("matches an import's version by semver: same major (0.x: same minor), the provider at least as new", () => {
    const p = new InterfaceProviders();
    p.define(readFileSync(path.join(APP_WIT, "app.wit"), "utf8").replace("package acme:app@1.0.0;", "package acme:app@1.2.0;"));
    p.provide("acme:app/calc@1.2.0", { add: () => 0 });
    expect(p.providerFor("acme:app/calc@1.0.0", "x").id).toBe("acme:app/calc@1.2.0");
    expect(p.providerFor("acme:app/calc@1.2.0", "x").id).toBe("acme:app/calc@1.2.0");
    expect(reason(() => p.providerFor("acme:app/calc@1.3.0", "x"))).toBe("version");
    expect(reason(() => p.providerFor("acme:app/calc@2.0.0", "x"))).toBe("version");
    expect(reason(() => p.providerFor("acme:app/kinds@1.0.0", "x"))).toBe("missing");
  });
  it("binds functions that count calls and errors, and refuse a Promise where the plugin cannot wait", async () => {
    const p = fresh();
    let fail = false;
    const provided = p.provide(calc, {
      add: (a: number, b: number) => {
        if (fail) throw new Error("no");
        return a + b;
      },
    });
    const run = (_h: string, fn: (...a: never[]) => unknown, self: unknown, args: unknown[]) => (fn as (...a: unknown[]) => unknown).apply(self, args);
    const add = p.bind(provided, calc, "plug", run, false).functions.get("add")!;
    expect(add([2, 3])).toBe(5);
    fail = true;
    expect(() => add([2, 3])).toThrow("no");
    expect(p.callStats("plug")).toEqual([{ plugin: "plug", iface: calc, fn: "add", calls: 2, errors: 1 }]);
    expect(reason(() => p.bind(provided, calc, "plug", run, false, ["add", "mul"]))).toBe("unknown-function");

    const asyncP = new InterfaceProviders();
    asyncP.define(APP_WIT);
    const slow = asyncP.provide(calc, { add: async (a: number, b: number) => a + b });
    expect(reason(() => asyncP.bind(slow, calc, "inproc", run, false).functions.get("add")!([1, 2]))).toBe("async");
    await expect(asyncP.bind(slow, calc, "wasmtime", run, true).functions.get("add")!([1, 2])).resolves.toBe(3);
    // After unprovide, a bound function fails with "missing".
    asyncP.unprovide(calc);
    expect(reason(() => asyncP.bind(slow, calc, "wasmtime", run, true).functions.get("add")!([1, 2]))).toBe("missing");
  });
});
