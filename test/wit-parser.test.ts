import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { WitError } from "../src/contract/errors.js";
import { compareVersions, interfaceVersionSatisfies, parseInterfaceId, parseSemver } from "../src/interfaces/semver.js";
import type { WitInterface, WitPackage, WitType } from "../src/interfaces/types.js";
import { loadWit } from "../src/interfaces/wit-load.js";
import { parseWit, resolveInterface } from "../src/interfaces/wit-parser.js";
import { root } from "./helpers/plugins.js";

const appWit = path.join(root, "test/fixtures/wit/acme-app/app.wit");
const pluginWit = path.join(root, "wit/plugin.wit");

function iface(pkgs: WitPackage[], id: string): WitInterface {
  const found = resolveInterface(pkgs, id);
  if (!found) throw new Error(`no ${id}`);
  return found;
}
const fn = (i: WitInterface, name: string) => {
  const f = i.functions.find((x) => x.name === name);
  if (!f) throw new Error(`no function ${name}`);
  return f;
};

/** The WitError a parse throws, checked for its position. */
function witError(source: string, file = "<inline>"): WitError {
  try {
    parseWit(source, file);
  } catch (err) {
    expect(err).toBeInstanceOf(WitError);
    return err as WitError;
  }
  throw new Error("parsed without an error");
}
function expectError(source: string, line: number, column: number, message: RegExp): void {
  const e = witError(source, "bad.wit");
  expect({ line: e.line, column: e.column, file: e.file }, e.message).toEqual({ line, column, file: "bad.wit" });
  expect(e.code).toBe("E_WIT_INVALID");
  expect(e.message).toMatch(message);
  expect(e.message.startsWith(`bad.wit:${line}:${column}: `)).toBe(true);
}

const u32: WitType = { kind: "u32" };
const str: WitType = { kind: "string" };

describe("parseWit: the test application's package (test/fixtures/wit/acme-app/app.wit)", () => {
  const pkgs = parseWit(readFileSync(appWit, "utf8"), appWit);

  it("has one versioned package with its interfaces in order", () => {
    expect(pkgs.map((p) => [p.name, p.version])).toEqual([["acme:app", "1.0.0"]]);
    expect(pkgs[0]!.interfaces.map((i) => i.name)).toEqual(["calc", "kinds", "mirror", "quote", "checkout", "probe"]);
    for (const i of pkgs[0]!.interfaces) expect([i.package, i.version]).toEqual(["acme:app", "1.0.0"]);
  });

  it("resolves calc and every kinds type", () => {
    const calc = iface(pkgs, "acme:app/calc@1.0.0");
    expect(calc.functions).toEqual([{ name: "add", params: [{ name: "a", type: u32 }, { name: "b", type: u32 }], result: u32 }]);
    expect(calc.docs).toBe("Host-provided: the simplest call (and the bench's).");
    const kinds = iface(pkgs, "acme:app/kinds");
    expect([...kinds.types.keys()]).toEqual(["scalars", "point", "item", "shape", "color", "perms"]);
    const scalars = kinds.types.get("scalars")!;
    expect(scalars).toMatchObject({ kind: "record", name: "scalars" });
    expect(scalars.kind === "record" && scalars.fields.map((f) => `${f.name}:${f.type.kind}`)).toEqual([
      "b:bool", "u8v:u8", "u16v:u16", "u32v:u32", "u64v:u64", "s8v:s8", "s16v:s16", "s32v:s32", "s64v:s64", "f32v:f32", "f64v:f64", "c:char",
    ]);
    const point: WitType = { kind: "record", name: "point", fields: [{ name: "x", type: { kind: "s32" } }, { name: "y", type: { kind: "s32" } }] };
    expect(kinds.types.get("item")).toEqual({
      kind: "record", name: "item",
      fields: [{ name: "id", type: { kind: "u64" } }, { name: "name", type: str }, { name: "tags", type: { kind: "list", element: str } }, { name: "weight", type: { kind: "f64" } }],
    });
    expect(kinds.types.get("shape")).toEqual({ kind: "variant", name: "shape", cases: [{ name: "circle", type: { kind: "f32" } }, { name: "rect", type: point }, { name: "empty" }] });
    expect(kinds.types.get("color")).toEqual({ kind: "enum", name: "color", cases: ["red", "green", "blue-ish"] });
    expect(kinds.types.get("perms")).toEqual({ kind: "flags", name: "perms", flags: ["read", "write", "exec-it"] });
    const item = kinds.types.get("item")!;
    expect(fn(kinds, "echo-bytes")).toMatchObject({ params: [{ name: "v", type: { kind: "list", element: { kind: "u8" } } }] });
    expect(fn(kinds, "echo-maybe").result).toEqual({ kind: "option", some: str });
    expect(fn(kinds, "echo-outcome").result).toEqual({ kind: "result", ok: item, err: str });
    expect(fn(kinds, "echo-pair").result).toEqual({ kind: "tuple", items: [u32, str] });
    expect(fn(kinds, "echo-items").params[0]!.type).toEqual({ kind: "list", element: item });
    const many = fn(kinds, "many-args");
    expect(many.params.map((p) => p.name).join("")).toBe("abcdefghijklmnopq");
    expect(many.params[8]!.type).toEqual({ kind: "option", some: u32 });
    expect(many.params[9]!.type).toBe(kinds.types.get("color"));
    expect(many.docs).toBe("More than 16 flat parameters: they spill to memory.");
  });

  it("`use` gives the very type the other interface defines", () => {
    const kinds = iface(pkgs, "acme:app/kinds@1.0.0");
    const mirror = iface(pkgs, "acme:app/mirror@1.0.0");
    expect([...mirror.types.keys()]).toEqual(["scalars", "item", "shape", "color", "perms"]);
    for (const n of mirror.types.keys()) expect(mirror.types.get(n)).toBe(kinds.types.get(n));
    expect(fn(mirror, "item-loop").params.map((p) => p.type)).toEqual([kinds.types.get("item"), u32]);
    expect(fn(mirror, "many-args")).toMatchObject({ params: [], result: { kind: "u64" } });
    expect(fn(mirror, "many-args").docs).toBe("Calls `kinds.many-args` with (1, 2, 3.5, 4.25, \"five\", [6, 7], true, -8, some(9), blue-ish, 11 … 17) and\nreturns its result.");
    expect(iface(pkgs, "acme:app/quote").types.get("item")).toBe(kinds.types.get("item"));
  });

  it("resolves worlds to versioned ids", () => {
    const worlds = Object.fromEntries(pkgs[0]!.worlds.map((w) => [w.name, w]));
    expect(worlds["mirror-plugin"]).toEqual({ name: "mirror-plugin", imports: ["acme:app/calc@1.0.0", "acme:app/kinds@1.0.0"], exports: ["acme:app/mirror@1.0.0"] });
    expect(worlds["probe-plugin"]!.exports).toEqual(["acme:app/mirror@1.0.0", "acme:app/probe@1.0.0"]);
    expect(worlds["pricing-plugin"]).toEqual({ name: "pricing-plugin", imports: [], exports: ["acme:app/quote@1.0.0"] });
    expect(worlds["cart-plugin"]).toEqual({ name: "cart-plugin", imports: ["acme:app/quote@1.0.0"], exports: ["acme:app/checkout@1.0.0"] });
    expect(worlds["loop-plugin"]).toEqual({ name: "loop-plugin", imports: ["acme:app/checkout@1.0.0"], exports: ["acme:app/quote@1.0.0"] });
  });
});

describe("parseWit: plughost's own contract (wit/plugin.wit)", () => {
  const pkgs = parseWit(readFileSync(pluginWit, "utf8"), pluginWit);

  it("parses every interface, with multi-line docs on types' users and functions", () => {
    expect(pkgs.map((p) => `${p.name}@${p.version}`)).toEqual(["plughost:plugin@0.1.0"]);
    const host = iface(pkgs, "plughost:plugin/host@0.1.0");
    expect(host.functions.length).toBeGreaterThanOrEqual(19);
    expect(fn(host, "log").result).toBeUndefined();
    expect(fn(host, "register-callback").result).toEqual({ kind: "result", err: host.types.get("register-error") });
    expect(fn(host, "state-get").result).toEqual({ kind: "result", ok: { kind: "option", some: { kind: "list", element: { kind: "u8" } } }, err: host.types.get("state-error") });
    expect(fn(host, "emit").docs).toBe("Publish an event to every other plugin registered for `event-name`.\nDelivery is queued and happens after the current call returns.\nReturns the number of plugins the event was queued for.");
    const info = host.types.get("message-info");
    expect(info?.kind === "record" && info.fields.map((f) => f.name)).toEqual(["id", "parent-id", "source", "target", "event-name", "kind", "metadata"]);
    expect(info?.kind === "record" && info.fields[6]!.type).toEqual({ kind: "list", element: { kind: "tuple", items: [str, str] } });
    expect(iface(pkgs, "plughost:plugin/types").docs).toBe("Types shared by the host and guest interfaces.");
    expect(fn(iface(pkgs, "plughost:plugin/guest"), "on-hook").result).toEqual({ kind: "result", ok: { kind: "list", element: { kind: "u8" } }, err: { kind: "s32" } });
  });

  it("follows `include` in worlds, without duplicates", () => {
    const w = Object.fromEntries(pkgs[0]!.worlds.map((x) => [x.name, x]));
    expect(w["plugin"]).toEqual({ name: "plugin", imports: ["plughost:plugin/host@0.1.0"], exports: ["plughost:plugin/guest@0.1.0"] });
    expect(w["plugin-with-lifecycle"]!.exports).toEqual(["plughost:plugin/guest@0.1.0", "plughost:plugin/lifecycle@0.1.0"]);
    expect(w["plugin-full"]).toEqual({
      name: "plugin-full",
      imports: ["plughost:plugin/host@0.1.0"],
      exports: ["plughost:plugin/guest@0.1.0", "plughost:plugin/lifecycle@0.1.0", "plughost:plugin/config-watch@0.1.0", "plughost:plugin/handoff@0.1.0"],
    });
  });
});

describe("parseWit: constructs", () => {
  it("every primitive (the old float32/float64 spellings are gone, as in wit-parser)", () => {
    const prims = ["bool", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "f32", "f64", "char", "string"];
    const src = `package t:p;\ninterface i {\n  f: func(${prims.map((p, k) => `a${k}: ${p}`).join(", ")});\n}`;
    const f = fn(parseWit(src)[0]!.interfaces[0]!, "f");
    expect(f.params.map((p) => p.type.kind)).toEqual(prims);
    expectError("package t:p;\ninterface i { f: func(x: float32); }", 2, 26, /unknown type 'float32' in interface i \(write f32\)/);
    expect(f.result).toBeUndefined();
  });

  it("aliases (of primitives, of aliases, of named types) resolve to their definitions", () => {
    const i = parseWit(`package t:p;
interface i {
  type bytes = list<u8>;
  type blob = bytes;
  record r { a: blob }
  type also-r = r;
  f: func(x: also-r) -> blob;
}`)[0]!.interfaces[0]!;
    const bytes: WitType = { kind: "list", element: { kind: "u8" } };
    expect(i.types.get("bytes")).toEqual(bytes);
    expect(i.types.get("blob")).toEqual(bytes);
    expect(i.types.get("also-r")).toBe(i.types.get("r"));
    expect(i.types.get("r")).toEqual({ kind: "record", name: "r", fields: [{ name: "a", type: bytes }] });
    expect(fn(i, "f")).toEqual({ name: "f", params: [{ name: "x", type: i.types.get("r") }], result: bytes });
  });

  it("every result form, options, nested options, tuples and lists", () => {
    const i = parseWit(`package t:p;
interface i {
  a: func() -> result;
  b: func() -> result<u32>;
  c: func() -> result<_, string>;
  d: func() -> result<u32, string>;
  e: func() -> option<option<u8>>;
  f: func() -> tuple<u8, tuple<s64>, list<list<string>>>;
  g: func(x: list<result<_, u8>>, y: option<tuple<bool, char>>);
}`)[0]!.interfaces[0]!;
    expect(fn(i, "a").result).toEqual({ kind: "result" });
    expect(fn(i, "b").result).toEqual({ kind: "result", ok: u32 });
    expect(fn(i, "c").result).toEqual({ kind: "result", err: str });
    expect(fn(i, "d").result).toEqual({ kind: "result", ok: u32, err: str });
    expect(fn(i, "e").result).toEqual({ kind: "option", some: { kind: "option", some: { kind: "u8" } } });
    expect(fn(i, "f").result).toEqual({ kind: "tuple", items: [{ kind: "u8" }, { kind: "tuple", items: [{ kind: "s64" }] }, { kind: "list", element: { kind: "list", element: str } }] });
    expect(fn(i, "g").params.map((p) => p.type)).toEqual([
      { kind: "list", element: { kind: "result", err: { kind: "u8" } } },
      { kind: "option", some: { kind: "tuple", items: [{ kind: "bool" }, { kind: "char" }] } },
    ]);
  });

  it("types used before they are defined, trailing commas, comments, %-escaped keywords, feature gates", () => {
    const i = parseWit(`// a plain comment
package t:p@0.2.0-rc.1+build.5;
/* a block /* nested */ comment */
interface i {
  f: func(r: later) -> later;
  record later { %type: u8, %list: string, }
  enum e { a, b, }
  flags fl { x, }
  variant v { c(u8), d, }
  /// Docs above a gate.
  @since(version = 0.2.0)
  g: func(%result: u8);
  @unstable(feature = shiny)
  h: func();
  @deprecated(version = 0.2.0)
  %interface: func();
}`)[0]!.interfaces[0]!;
    expect(i.version).toBe("0.2.0-rc.1+build.5");
    expect(i.types.get("later")).toEqual({ kind: "record", name: "later", fields: [{ name: "type", type: { kind: "u8" } }, { name: "list", type: str }] });
    expect(i.functions.map((f) => f.name)).toEqual(["f", "g", "interface"]);
    expect(fn(i, "g").params[0]!.name).toBe("result");
    expect(fn(i, "g").docs).toBe("Docs above a gate.");
    expect(i.types.get("fl")).toEqual({ kind: "flags", name: "fl", flags: ["x"] });
  });

  it("docs: `///` lines and `/** */` blocks; `////` and `//` are not docs", () => {
    const i = parseWit(`package t:p;
/// First line.
///
/// Third line.
interface i {
  /** A block doc.
   *  Second line. */
  f: func();
  //// not a doc
  // nor this
  g: func();
}`)[0]!.interfaces[0]!;
    expect(i.docs).toBe("First line.\n\nThird line.");
    expect(fn(i, "f").docs).toBe("A block doc.\n Second line.");
    expect(fn(i, "g").docs).toBeUndefined();
  });

  it("include … with {} (no ';' after the block); a rename is refused, as wasm-tools refuses renaming an id", () => {
    const [p] = parseWit("package t:p;\ninterface a {}\nworld v { import a; }\nworld w {\n  include v with {}\n  export a;\n}");
    expect(p!.worlds[1]).toEqual({ name: "w", imports: ["t:p/a"], exports: ["t:p/a"] });
    expectError("package t:p;\ninterface a {}\nworld v { import a; }\nworld w {\n  include v with { a as b }\n}", 5, 20, /only plain-named imports can be renamed/);
  });

  it("an unversioned package gives unversioned ids", () => {
    const [p] = parseWit("package t:p;\ninterface a { f: func(); }\nworld w { export a; }");
    expect(p!.version).toBeUndefined();
    expect(p!.interfaces[0]!.version).toBeUndefined();
    expect(p!.worlds[0]!.exports).toEqual(["t:p/a"]);
  });
});

describe("parseWit: nested packages and use across packages", () => {
  const source = `package test:x;

use acme:lib/base@2.1.0 as base-alias;

world m {
  include plughost:plugin/plugin@0.1.0;
  import acme:app/calc@1.0.0;
  import base-alias;
  export acme:app/mirror@1.0.0;
}

interface local {
  use acme:app/kinds@1.0.0.{item as thing};
  use base-alias.{id};
  use acme:lib/base.{id as id2};
  f: func(t: thing, i: id, j: id2);
}

package acme:app@1.0.0 {
  interface calc { add: func(a: u32, b: u32) -> u32; }
  interface kinds { use acme:lib/base@2.1.0.{id}; record item { id: id, n: string } }
  interface mirror {
    use kinds.{item};
    echo: func(v: item) -> item;
  }
  world inner { import calc; export mirror; }
}

package plughost:plugin@0.1.0 {
  interface host { log: func(m: string); }
  interface guest { init: func() -> s32; }
  world plugin { import host; export guest; }
}

package acme:lib@2.1.0 {
  /// The base ids.
  interface base { type id = u64; }
}
`;
  const pkgs = parseWit(source, "nested.wit");

  it("returns each package, in order of appearance", () => {
    expect(pkgs.map((p) => (p.version ? `${p.name}@${p.version}` : p.name))).toEqual(["test:x", "acme:app@1.0.0", "plughost:plugin@0.1.0", "acme:lib@2.1.0"]);
  });

  it("resolves `use` within a nested package, across packages, with `as`, and through a file-level `use`", () => {
    const id: WitType = { kind: "u64" };
    const kinds = iface(pkgs, "acme:app/kinds@1.0.0");
    const item = kinds.types.get("item")!;
    expect(item).toEqual({ kind: "record", name: "item", fields: [{ name: "id", type: id }, { name: "n", type: str }] });
    expect(iface(pkgs, "acme:app/mirror").types.get("item")).toBe(item);
    const local = iface(pkgs, "test:x/local");
    expect(local.types.get("thing")).toBe(item);
    expect(fn(local, "f").params.map((p) => p.type)).toEqual([item, id, id]);
    expect(iface(pkgs, "acme:lib/base@2.1.0").docs).toBe("The base ids.");
  });

  it("resolves worlds: include from another package, imports by id and by file-level alias", () => {
    expect(pkgs[0]!.worlds).toEqual([
      {
        name: "m",
        imports: ["plughost:plugin/host@0.1.0", "acme:app/calc@1.0.0", "acme:lib/base@2.1.0"],
        exports: ["plughost:plugin/guest@0.1.0", "acme:app/mirror@1.0.0"],
      },
    ]);
    expect(pkgs[1]!.worlds).toEqual([{ name: "inner", imports: ["acme:app/calc@1.0.0"], exports: ["acme:app/mirror@1.0.0"] }]);
  });

  it("a text of nested packages only needs no root declaration", () => {
    const p = parseWit("package a:b@1.0.0 { interface i { f: func(); } }\npackage c:d { interface j { f: func(); } }");
    expect(p.map((x) => x.name)).toEqual(["a:b", "c:d"]);
    expect(parseWit("package a:b;\ninterface i { use j.{}; }\ninterface j {}")[0]!.interfaces[0]!.types.size).toBe(0);
  });
});

describe("resolveInterface", () => {
  const pkgs = parseWit(`package a:b@1.0.0 { interface i { f: func(); } }
package a:b@1.2.0 { interface i { f: func(); g: func(); } }
package a:c { interface i { h: func(); } }`);
  it("finds by exact version, or the newest when unversioned; undefined when absent", () => {
    expect(resolveInterface(pkgs, "a:b/i@1.0.0")?.functions.length).toBe(1);
    expect(resolveInterface(pkgs, "a:b/i@1.2.0")?.functions.length).toBe(2);
    expect(resolveInterface(pkgs, "a:b/i")?.version).toBe("1.2.0");
    expect(resolveInterface(pkgs, "a:c/i")?.functions[0]!.name).toBe("h");
    expect(resolveInterface(pkgs, "a:b/i@1.1.0")).toBeUndefined();
    expect(resolveInterface(pkgs, "a:b/nope")).toBeUndefined();
    expect(resolveInterface(pkgs, "nonsense")).toBeUndefined();
  });
  it("a `use` without a version takes the newest loaded", () => {
    const p = parseWit(`package a:b@1.0.0 { interface i { type t = u8; } }
package a:b@1.10.0 { interface i { type t = string; } }
package z:z { interface j { use a:b/i.{t}; } }`);
    expect(iface(p, "z:z/j").types.get("t")).toEqual(str);
  });
});

describe("parseWit: errors carry file, line and column", () => {
  it("refuses resources, handles, async, streams, futures and error-context plainly", () => {
    expectError("package a:b;\ninterface i {\n  resource r;\n}", 3, 3, /resources are not supported yet/);
    expectError("package a:b;\ninterface i {\n  resource r { constructor(); }\n}", 3, 3, /resources are not supported yet/);
    expectError("package a:b;\ninterface i { f: func(x: borrow<r>); }", 2, 26, /resources \(borrow<…> handles\) are not supported yet/);
    expectError("package a:b;\ninterface i { f: func() -> own<r>; }", 2, 28, /resources \(own<…> handles\) are not supported yet/);
    expectError("package a:b;\ninterface i {\n  f: async func();\n}", 3, 6, /async functions are not supported yet/);
    expectError("package a:b;\ninterface i { f: func(s: stream<u8>); }", 2, 26, /streams are not supported yet/);
    expectError("package a:b;\ninterface i { f: func() -> future<u8>; }", 2, 28, /futures are not supported yet/);
    expectError("package a:b;\ninterface i { f: func() -> error-context; }", 2, 28, /error-context is not supported yet/);
    expectError("package a:b;\ninterface i { record r { s: stream } }", 2, 29, /streams are not supported yet/);
    expectError("package a:b;\ninterface i { type t = list<u8, 4>; }", 2, 33, /fixed-size lists/);
  });

  it("unknown names: type, interface, package, version, world", () => {
    expectError("package a:b;\ninterface i {\n  f: func(x: nope);\n}", 3, 14, /unknown type 'nope' in interface i/);
    expectError("package a:b;\ninterface i {\n  use j.{x};\n}", 3, 7, /unknown interface 'j' in package a:b/);
    expectError("package a:b;\ninterface j {}\ninterface i {\n  use j.{x};\n}", 4, 10, /interface j has no type 'x'/);
    expectError("package a:b;\ninterface i { use x:y/z.{t}; }", 2, 19, /unknown package x:y: load its WIT too/);
    expectError("package a:b@1.0.0;\ninterface z { type t = u8; }\npackage x:y { interface i { use a:b/z@2.0.0.{t}; } }", 3, 33, /package a:b@2.0.0 is not loaded \(there is a:b@1.0.0\)/);
    expectError("package a:b;\nworld w {\n  include nope;\n}", 3, 11, /unknown world 'nope' in package a:b/);
    expectError("package a:b;\nworld v {}\nworld w { import v; }", 3, 18, /unknown interface 'v' in package a:b \('v' is a world\)/);
  });

  it("duplicates, empty types, recursion, include cycles", () => {
    expectError("package a:b;\ninterface i {\n  type t = u8;\n  record t { a: u8 }\n}", 4, 10, /'t' is defined twice in interface i \(first at 3:8\)/);
    expectError("package a:b;\ninterface i { f: func(); f: func(); }", 2, 26, /'f' is defined twice/);
    expectError("package a:b;\ninterface i { record r { a: u8, a: u16 } }", 2, 33, /field 'a' appears twice in record r/);
    expectError("package a:b;\ninterface i { enum e { x, y, x } }", 2, 30, /case 'x' appears twice in enum e/);
    expectError("package a:b;\ninterface i { f: func(a: u8, a: u8); }", 2, 30, /parameter 'a' appears twice in f/);
    expectError("package a:b;\ninterface i { record r {} }", 2, 22, /record r has no fields/);
    expectError("package a:b;\ninterface i { variant v {} }", 2, 23, /variant v has no cases/);
    expectError("package a:b;\ninterface i { flags f {} }", 2, 21, /flags f is empty/);
    expectError("package a:b;\ninterface i { type t = tuple<>; }", 2, 24, /tuple<> is empty/);
    const flags = Array.from({ length: 33 }, (_, k) => `f${"abcdefghijklmnopqrstuvwxyzabcdefg"[k]}${k}`.replace(/[0-9]/g, (d) => "abcdefghij"[Number(d)]!));
    expect(witError(`package a:b;\ninterface i { flags f { ${flags.join(", ")} } }`).message).toMatch(/33 flags; at most 32/);
    expectError("package a:b;\ninterface i {\n  record r { next: option<r> }\n}", 3, 27, /type 'r' refers to itself/);
    expectError("package a:b;\ninterface i {\n  type x = y;\n  type y = x;\n}", 4, 12, /type 'x' refers to itself/);
    expectError("package a:b;\nworld v { include w; }\nworld w { include v; }", 2, 7, /world v includes itself/);
    expectError("package a:b;\ninterface i {}\ninterface i {}", 3, 11, /package a:b defines 'i' twice \(also at <inline>|package a:b defines 'i' twice/);
  });

  it("syntax: keywords as names, bad names, punctuation, unterminated input", () => {
    expectError("package a:b;\ninterface i { record r { type: u8 } }", 2, 26, /found the keyword 'type' \(write %type to use it as a name\)/);
    expectError("package a:b;\ninterface i { f: func(x: u8) }", 2, 30, /expected ';', found '}'/);
    expectError("package a:b;\ninterface i {\n  f: func(x: u8);", 3, 18, /expected '}' closing interface i, found the end of the file/);
    expectError("package a:b;\ninterface fooBar {}", 2, 11, /"fooBar" is not a valid WIT name/);
    expectError("package a:b;\ninterface i { f: func(x-yZ: u8); }", 2, 23, /"x-yZ" is not a valid WIT name/);
    expectError("package a:b;\ninterface 1x {}", 2, 11, /expected an interface name, found '1'/);
    // A later word may start with a digit; an all-uppercase word is an acronym.
    expect(fn(parseWit("package a:b;\ninterface i { f: func(a-1: u8, http-URL: u8, URL2: u8); }")[0]!.interfaces[0]!, "f").params.map((p) => p.name)).toEqual(["a-1", "http-URL", "URL2"]);
    expectError("package a:b;\ninterface i { f: func() -> u8 $ }", 2, 31, /unexpected character "\$"/);
    expectError("package a:b;\n/* never closed", 2, 1, /unterminated block comment/);
    expectError("package a:b;\ninterface i { f: func() -> (a: u8, b: u8); }", 2, 28, /named multiple results/);
    expectError("package a:b;\ninterface i { f: funk(); }", 2, 18, /expected 'func' after 'f:'/);
    expectError("package a:b;\ninterface i { type t = result<_>; }", 2, 32, /result<_> has neither side/);
    expectError("package a:b;\nworld w {\n  import f: func();\n}", 3, 10, /a named import \(import f: \.\.\.\) is not supported yet/);
    expectError("package a:b;\nworld w { export x: interface { f: func(); } }", 2, 18, /a named export/);
    expectError("package a:b;\ninterface i { @frob f: func(); }", 2, 16, /unknown feature gate '@frob'/);
    expectError("package a:b;\nfoo", 2, 1, /expected 'package', 'interface', 'world' or 'use', found 'foo'/);
  });

  it("packages: missing, repeated, late or nested declarations, bad versions", () => {
    expectError("interface i {}", 1, 1, /no package declaration/);
    expectError("package a:b;\npackage c:d;", 2, 1, /a second package declaration \(c:d\)/);
    expectError("interface i {}\npackage a:b;", 2, 1, /the package declaration must come first/);
    expectError("package c:d { }\npackage a:b;", 2, 1, /the package declaration must come first/);
    expectError("package a:b { package c:d { } }", 1, 15, /packages cannot be nested inside packages/);
    expectError("package a:b@1.0;", 1, 13, /expected a semver version/);
    expectError("package ab;", 1, 11, /expected ':' \(package names are namespace:name\)/);
    expectError("package a:b { interface i { f: func(); }", 1, 41, /expected '}' closing package a:b/);
    expectError("package a:b;\nuse local;", 2, 5, /a top-level use names an interface of another package/);
  });

  it("the error is a typed WitError with fields", () => {
    const e = witError("package a:b;\ninterface i { f: func(x: nope); }", "app.wit");
    expect(e).toMatchObject({ code: "E_WIT_INVALID", file: "app.wit", line: 2, column: 26 });
    expect(e.message).toBe("app.wit:2:26: unknown type 'nope' in interface i");
  });
});

describe("loadWit", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "plughost-wit-"));
  const write = (rel: string, text: string): string => {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, text);
    return p;
  };
  write("app/a.wit", "package acme:shop@1.2.0;\ninterface orders {\n  use acme:money/types@0.3.1.{amount};\n  use wasi:clocks/time.{instant};\n  record order { total: amount, at: instant, sku: sku }\n  use skus.{sku};\n}\n");
  write("app/b.wit", "// no package declaration: it shares the folder's\ninterface skus { type sku = string; }\nworld shop { import orders; export skus; }\n");
  write("app/README.md", "not wit");
  write("app/deps/money/types.wit", "package acme:money@0.3.1;\ninterface types { record amount { cents: s64, currency: string } }\n");
  write("app/deps/clocks.wit", "package wasi:clocks@0.2.0;\ninterface time { type instant = u64; }\n");
  write("app/deps/notes.txt", "ignored");

  it("a directory: its files form one package, deps/ directories and files are packages, uses cross them", () => {
    const pkgs = loadWit(path.join(dir, "app"));
    expect(pkgs.map((p) => `${p.name}@${p.version}`)).toEqual(["acme:shop@1.2.0", "wasi:clocks@0.2.0", "acme:money@0.3.1"]);
    const orders = iface(pkgs, "acme:shop/orders@1.2.0");
    expect(orders.types.get("order")).toEqual({
      kind: "record", name: "order",
      fields: [
        { name: "total", type: { kind: "record", name: "amount", fields: [{ name: "cents", type: { kind: "s64" } }, { name: "currency", type: str }] } },
        { name: "at", type: { kind: "u64" } },
        { name: "sku", type: str },
      ],
    });
    expect(pkgs[0]!.interfaces.map((i) => i.name)).toEqual(["orders", "skus"]);
    expect(pkgs[0]!.worlds).toEqual([{ name: "shop", imports: ["acme:shop/orders@1.2.0"], exports: ["acme:shop/skus@1.2.0"] }]);
  });

  it("a .wit file, WIT text, and the test application's directory", () => {
    expect(loadWit(path.join(dir, "app/deps/clocks.wit")).map((p) => p.name)).toEqual(["wasi:clocks"]);
    expect(loadWit("package x:y;\ninterface i { f: func(); }")[0]!.interfaces[0]!.functions[0]!.name).toBe("f");
    const app = loadWit(path.dirname(appWit));
    expect(app.map((p) => p.name)).toEqual(["acme:app"]);
    expect(app[0]!.interfaces).toHaveLength(6);
  });

  it("errors name the file: missing path, empty folder, disagreeing declarations, a bad file in deps", () => {
    const missing = path.join(dir, "nope");
    expect(() => loadWit(missing)).toThrow(WitError);
    expect(() => loadWit(missing)).toThrow(/no such WIT file or directory \(ENOENT\)/);
    mkdirSync(path.join(dir, "empty"));
    expect(() => loadWit(path.join(dir, "empty"))).toThrow(/holds no \.wit files/);
    write("two/a.wit", "package a:b;\ninterface i {}\n");
    const other = write("two/b.wit", "\npackage a:c;\ninterface j {}\n");
    let err: unknown;
    try { loadWit(path.join(dir, "two")); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(WitError);
    expect(err).toMatchObject({ file: other, line: 2, column: 9 });
    expect((err as Error).message).toMatch(/declares package a:c, .*a\.wit declares a:b; the \.wit files of one folder form one package/);
    write("baddep/a.wit", "package a:b;\ninterface i { use c:d/j.{t}; }\n");
    const bad = write("baddep/deps/c.wit", "package c:d;\ninterface j {\n  type t = nope;\n}\n");
    try { loadWit(path.join(dir, "baddep")); err = undefined; } catch (e) { err = e; }
    expect(err).toMatchObject({ code: "E_WIT_INVALID", file: bad, line: 3, column: 12 });
  });
});

describe("semver", () => {
  it("interfaceVersionSatisfies: same major (0.x: same minor; 0.0.x: exact), provider at least as new", () => {
    const ok: [string, string][] = [["1.0.0", "1.0.0"], ["1.4.2", "1.0.0"], ["1.0.1", "1.0.0"], ["0.2.5", "0.2.1"], ["0.0.3", "0.0.3"], ["2.0.0", "2.0.0-rc.1"], ["1.0.0+b", "1.0.0"]];
    const no: [string, string][] = [["2.0.0", "1.0.0"], ["1.0.0", "1.1.0"], ["1.0.0", "2.0.0"], ["0.3.0", "0.2.0"], ["0.2.0", "0.2.1"], ["0.0.4", "0.0.3"], ["1.1.0-rc.1", "1.0.0"], ["x", "1.0.0"]];
    for (const [p, w] of ok) expect(interfaceVersionSatisfies(p, w), `${p} satisfies ${w}`).toBe(true);
    for (const [p, w] of no) expect(interfaceVersionSatisfies(p, w), `${p} does not satisfy ${w}`).toBe(false);
    expect(interfaceVersionSatisfies(undefined, undefined)).toBe(true);
    expect(interfaceVersionSatisfies("1.0.0", undefined)).toBe(false);
    expect(interfaceVersionSatisfies(undefined, "1.0.0")).toBe(false);
  });

  it("compareVersions and parseSemver follow semver precedence", () => {
    const sorted = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.2.0", "1.10.0"];
    expect([...sorted].reverse().sort(compareVersions)).toEqual(sorted);
    expect(compareVersions("1.0.0+a", "1.0.0+b")).toBe(0);
    expect(parseSemver("1.2.3-rc.1+x")).toEqual({ major: 1, minor: 2, patch: 3, pre: ["rc", "1"] });
    expect(parseSemver("01.2.3")).toBeUndefined();
    expect(parseSemver("1.2")).toBeUndefined();
  });

  it("parseInterfaceId", () => {
    expect(parseInterfaceId("acme:app/kinds@1.0.0")).toEqual({ package: "acme:app", namespace: "acme", packageName: "app", name: "kinds", version: "1.0.0" });
    expect(parseInterfaceId("wasi:cli/stderr")).toEqual({ package: "wasi:cli", namespace: "wasi", packageName: "cli", name: "stderr" });
    expect(parseInterfaceId("acme:my-app/get-user@0.1.0-rc.2")?.version).toBe("0.1.0-rc.2");
    for (const bad of ["acme/kinds", "acme:app", "acme:app/kinds@1.0", "Acme:app/kinds", "acme:app/kinds@", "a:b/c/d"]) expect(parseInterfaceId(bad), bad).toBeUndefined();
  });
});

describe("parseWit on damaged input", () => {
  it("every mutation of the fixtures parses or throws a WitError pointing inside the text (never another error)", () => {
    const sources = [readFileSync(appWit, "utf8"), readFileSync(pluginWit, "utf8")];
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = "{}()<>,;:.=/@*_%-> \n\tabcxyz019";
    let refused = 0;
    const outside: string[] = [];
    for (let k = 0; k < 1500; k++) {
      let s = sources[k % 2]!;
      for (let m = 0; m <= rnd(3); m++) {
        const at = rnd(s.length);
        const op = rnd(3);
        if (op === 0) s = s.slice(0, at) + s.slice(at + 1 + rnd(5));
        else if (op === 1) s = s.slice(0, at) + alphabet[rnd(alphabet.length)] + s.slice(at);
        else {
          const from = rnd(s.length);
          s = s.slice(0, at) + s.slice(from, from + rnd(20)) + s.slice(at);
        }
      }
      try {
        parseWit(s, "m.wit");
      } catch (err) {
        if (!(err instanceof WitError)) throw new Error(`a ${String(err)} for:\n${s}`);
        const line = s.split("\n")[err.line - 1];
        if (line === undefined || err.column < 1 || err.column > line.length + 1) outside.push(err.message);
        refused++;
      }
    }
    expect(outside).toEqual([]);
    // Most damage is caught; some (a changed name, a dropped doc) still parses.
    expect(refused).toBeGreaterThan(500);
    expect(refused).toBeLessThan(1500);
  });
});

describe("parseWit agrees with wasm-tools' WIT parser (through jco's componentEmbed)", () => {
  const w = "\nworld w { import i; }";
  // [name, WIT, accepted by both]: each sample is given to both parsers.
  const samples: [string, string, boolean][] = [
    ["the test application", readFileSync(appWit, "utf8"), true],
    ["plughost's contract", readFileSync(pluginWit, "utf8"), true],
    ["acronyms and digit words", "package a:b;\ninterface i { f: func(URL: u8, http-URL: u8, a-1: u8, x-1y: u8); }" + w, true],
    ["a word of mixed case", "package a:b;\ninterface i { f: func(x-yZ: u8); }" + w, false],
    ["trailing commas", "package a:b;\ninterface i { f: func(a: u8,) -> tuple<u8,>; record r { x: u8, } }" + w, true],
    ["%-escaped keywords", "package a:b;\ninterface i { record r { %type: u8 } %use: func(); }" + w, true],
    ["empty use", "package a:b;\ninterface j {}\ninterface i { use j.{}; }" + w, true],
    ["file-level use", "package a:b;\nuse c:d/x@1.0.0 as y;\nworld w { import y; }\npackage c:d@1.0.0 { interface x { f: func(); } }", true],
    ["types in a world", "package a:b;\nworld w { type t = u8; import i; }\ninterface i {}", true],
    ["include with {}", "package a:b;\ninterface i {}\nworld v { import i; }\nworld w { include v with {} }", true],
    ["include with a rename of an id", "package a:b;\ninterface i {}\nworld v { import i; }\nworld w { include v with { i as j } }", false],
    ["all result forms", "package a:b;\ninterface i { a: func() -> result; b: func() -> result<u8>; c: func() -> result<_, u8>; d: func() -> option<option<u8>>; }" + w, true],
    ["mixed-case word", "package a:b;\ninterface i { f: func(aB: u8); }" + w, false],
    ["result<_>", "package a:b;\ninterface i { type t = result<_>; }" + w, false],
    ["float32", "package a:b;\ninterface i { f: func(a: float32); }" + w, false],
    ["recursive record", "package a:b;\ninterface i { record r { n: list<r> } }" + w, false],
    ["a name defined twice", "package a:b;\ninterface j { type t = u8; }\ninterface i { use j.{t}; type t = u16; }" + w, false],
    ["empty variant", "package a:b;\ninterface i { variant v {} }" + w, false],
    ["empty enum", "package a:b;\ninterface i { enum e {} }" + w, false],
    ["package line after a nested package", "package c:d@1.0.0 { interface x { f: func(); } }\npackage a:b;\nworld w { import c:d/x@1.0.0; }", false],
    ["unknown type", "package a:b;\ninterface i { f: func(x: nope); }" + w, false],
    ["unknown interface in use", "package a:b;\ninterface i { use nope.{t}; }" + w, false],
    ["missing semicolon", "package a:b;\ninterface i { f: func() }" + w, false],
  ];

  it("accepts and refuses the same texts", async () => {
    const { componentEmbed } = await import("@bytecodealliance/jco-transpile/wasm-tools");
    const core = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const outcomes: string[] = [];
    for (const [name, src, accepted] of samples) {
      const world = /world w\b/.test(src) ? "w" : /world mirror-plugin/.test(src) ? "mirror-plugin" : "plugin";
      const real = await componentEmbed({ binary: core, witSource: src, world }).then(() => true, () => false);
      let mine = true;
      try { parseWit(src); } catch (err) { expect(err).toBeInstanceOf(WitError); mine = false; }
      outcomes.push(`${name}: wasm-tools ${real}, plughost ${mine}, expected ${accepted}`);
    }
    expect(outcomes).toEqual(samples.map(([name, , a]) => `${name}: wasm-tools ${a}, plughost ${a}, expected ${a}`));
  });

  it("plughost is stricter about empty records, flags and tuples and >32 flags, which the canonical ABI is retiring", async () => {
    const { componentEmbed } = await import("@bytecodealliance/jco-transpile/wasm-tools");
    const core = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    for (const body of ["record r {}", "flags f {}", "type t = tuple<>;"]) {
      const src = `package a:b;\ninterface i { ${body} }\nworld w { import i; }`;
      await expect(componentEmbed({ binary: core, witSource: src, world: "w" })).resolves.toBeDefined();
      expect(() => parseWit(src)).toThrow(/has no fields|is empty/);
    }
  });
});
