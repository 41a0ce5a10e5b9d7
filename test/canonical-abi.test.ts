/**
 * The canonical ABI in JS (src/interfaces/canonical-abi.ts) against the Component Model's CanonicalABI.md: layouts
 * and flattening, exact memory layouts written by hand-written core modules, round trips over every type of the test
 * application's WIT (and edge types) through real core wasm, and the guest-side and host-side value checks.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "../vendor/jco/index.js";
import { InterfaceUnavailable, InterfaceValueError } from "../src/contract/errors.js";
import { coreSignature, exportCaller, flatSignature, hostImportTrampoline, HostImplementationError, layoutOf, type GuestAbi } from "../src/interfaces/canonical-abi.js";
import { parseWit } from "../src/interfaces/wit-parser.js";
import type { WitFunction, WitInterface, WitType } from "../src/interfaces/types.js";
import { root } from "./helpers/plugins.js";

const app = parseWit(readFileSync(path.join(root, "test/fixtures/wit/acme-app/app.wit"), "utf8"), "app.wit").find((p) => p.name === "acme:app")!;
const iface = (name: string): WitInterface => app.interfaces.find((i) => i.name === name)!;
const kinds = iface("kinds");
const fnOf = (i: WitInterface, name: string): WitFunction => i.functions.find((f) => f.name === name)!;
const typeOf = (i: WitInterface, name: string): WitType => i.types.get(name)!;

const range = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${i}`);
/** Edge types the app's WIT lacks: joined variant slots, wide discriminants and flags, nested options, bare results. */
const EDGE_WIT = `package test:edge@0.1.0;
interface edge {
  variant mixed { a(u64), b(f32), c(f64), d(s8), e(string), f }
  variant small { x(f32), y(u32) }
  flags wide { ${range(32, "g").join(", ")} }
  enum big { ${range(300, "c").join(", ")} }
  record opt-rec { maybe-name: option<string>, n: u16 }
  echo-mixed: func(v: mixed) -> mixed;
  echo-small: func(v: small) -> small;
  echo-wide: func(v: wide) -> wide;
  echo-big: func(v: big) -> big;
  echo-nested: func(v: option<option<u32>>) -> option<option<u32>>;
  echo-unit: func(v: result) -> result;
  echo-lists: func(v: list<list<u8>>, c: list<char>) -> tuple<list<list<u8>>, list<char>>;
  echo-opt-rec: func(v: opt-rec) -> opt-rec;
  echo-signed: func(a: s8, b: s16, c: s64, d: u16) -> tuple<s8, s16, s64, u16>;
  flat-f32: func(x: f32) -> f32;
  flat-bool: func(x: bool) -> bool;
  flat-char: func(x: char) -> char;
  flat-u64: func(x: u64) -> u64;
  flat-s8: func(x: s8) -> s8;
  nothing: func();
}
`;
const edge = parseWit(EDGE_WIT, "edge.wit")[0]!.interfaces[0]!;

describe("layout and flattening (CanonicalABI.md)", () => {
  it("sizes, alignments and flat types of the app's types", () => {
    const l = (t: WitType) => {
      const { size, align, flat } = layoutOf(t);
      return { size, align, flat: flat.join(" ") };
    };
    expect(l(typeOf(kinds, "scalars"))).toEqual({ size: 56, align: 8, flat: "i32 i32 i32 i32 i64 i32 i32 i32 i64 f32 f64 i32" });
    expect(l(typeOf(kinds, "item"))).toEqual({ size: 32, align: 8, flat: "i64 i32 i32 i32 i32 f64" });
    expect(l(typeOf(kinds, "point"))).toEqual({ size: 8, align: 4, flat: "i32 i32" });
    // circle(f32) and rect(point) join to i32 in the first slot.
    expect(l(typeOf(kinds, "shape"))).toEqual({ size: 12, align: 4, flat: "i32 i32 i32" });
    expect(l(typeOf(kinds, "color"))).toEqual({ size: 1, align: 1, flat: "i32" });
    expect(l(typeOf(kinds, "perms"))).toEqual({ size: 1, align: 1, flat: "i32" });
    const outcome = fnOf(kinds, "echo-outcome").result!;
    // ok(item) and err(string): i64 joins i32 to i64, the rest follow item's.
    expect(l(outcome)).toEqual({ size: 40, align: 8, flat: "i32 i64 i32 i32 i32 i32 f64" });
    expect(l(fnOf(kinds, "echo-maybe").result!)).toEqual({ size: 12, align: 4, flat: "i32 i32 i32" });
    expect(l(fnOf(kinds, "echo-pair").result!)).toEqual({ size: 12, align: 4, flat: "i32 i32 i32" });
  });

  it("joins, wide discriminants and 32-bit flags", () => {
    const l = (n: string) => layoutOf(edge.types.get(n)!);
    expect(l("mixed").flat).toEqual(["i32", "i64", "i32"]); // u64 / f32 / f64 / s8 / string → i64, then string's length
    expect(l("mixed")).toMatchObject({ size: 16, align: 8 });
    expect(l("small").flat).toEqual(["i32", "i32"]); // f32 joined with u32 is i32
    expect(l("wide")).toMatchObject({ size: 4, align: 4, flat: ["i32"] }); // 17..32 flags: a u32
    expect(l("big")).toMatchObject({ size: 2, align: 2, flat: ["i32"] }); // 300 cases: a u16 discriminant
    expect(l("opt-rec")).toMatchObject({ size: 16, align: 4 });
  });

  it("spills more than 16 flat parameters and more than 1 flat result", () => {
    const many = flatSignature(fnOf(kinds, "many-args"));
    expect(many.params.length).toBe(20);
    expect(many.paramsSpilled).toBe(true);
    expect(coreSignature(fnOf(kinds, "many-args"), "import")).toEqual({ params: ["i32"], results: ["i64"] });
    expect(coreSignature(fnOf(kinds, "echo-string"), "import")).toEqual({ params: ["i32", "i32", "i32"], results: [] });
    expect(coreSignature(fnOf(kinds, "echo-string"), "export")).toEqual({ params: ["i32", "i32"], results: ["i32"] });
    expect(coreSignature(fnOf(iface("calc"), "add"), "import")).toEqual({ params: ["i32", "i32"], results: ["i32"] });
  });
});

// ── a core module that mirrors an interface: each export calls the import of the same name ──

const wasmType = (t: string) => t;
/** WAT of a module whose export `f` passes its parameters to import `f` (allocating the return area when needed). */
function mirrorWat(i: WitInterface): string {
  const imports: string[] = [];
  const funcs: string[] = [];
  i.functions.forEach((fn, k) => {
    const imp = coreSignature(fn, "import");
    const exp = coreSignature(fn, "export");
    const sig = (s: { params: string[]; results: string[] }) =>
      `${s.params.map((p) => `(param ${wasmType(p)})`).join(" ")} ${s.results.map((r) => `(result ${r})`).join(" ")}`;
    imports.push(`(import "host" "${fn.name}" (func $i${k} ${sig(imp)}))`);
    const args = exp.params.map((_, j) => `(local.get ${j})`).join(" ");
    const spilled = flatSignature(fn).resultSpilled;
    const rl = fn.result ? layoutOf(fn.result) : undefined;
    const body = spilled
      ? `(local.set $r (call $realloc (i32.const 0) (i32.const 0) (i32.const ${rl!.align}) (i32.const ${rl!.size}))) (call $i${k} ${args} (local.get $r)) (local.get $r)`
      : `(call $i${k} ${args})`;
    funcs.push(`(func (export "${fn.name}") ${sig(exp)} (local $r i32) ${body})`);
    funcs.push(`(func (export "cabi_post_${fn.name}") ${exp.results.map((r) => `(param ${r})`).join(" ")} (global.set $posts (i32.add (global.get $posts) (i32.const 1))))`);
  });
  return `(module
  ${imports.join("\n  ")}
  (memory (export "memory") 1)
  (global $top (mut i32) (i32.const 1024))
  (global $posts (mut i32) (i32.const 0))
  (func (export "posts") (result i32) (global.get $posts))
  ;; A bump allocator that grows memory when full: every lowering may detach the host's views.
  (func $realloc (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $top) (i32.sub (local.get 2) (i32.const 1))) (i32.sub (i32.const 0) (local.get 2))))
    (global.set $top (i32.add (local.get $p) (local.get 3)))
    (block $ok
      (br_if $ok (i32.le_u (global.get $top) (i32.mul (memory.size) (i32.const 65536))))
      (drop (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $top) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))))
    (local.get $p))
  ${funcs.join("\n  ")}
)`;
}

interface Mirror {
  call(fn: string, args: unknown[]): unknown;
  seen: Map<string, unknown[][]>;
  posts(): number;
  memory: WebAssembly.Memory;
  /** What the host implementation returns: by default what it got (its first argument, or all of them as a tuple). */
  answer: (fn: string, args: unknown[]) => unknown;
}

async function mirror(i: WitInterface): Promise<Mirror> {
  const guest: GuestAbi = { memory: undefined, realloc: undefined };
  const seen = new Map<string, unknown[][]>();
  const m: Partial<Mirror> = { seen, answer: (_fn, args) => (args.length === 1 ? args[0] : args) };
  const host: Record<string, unknown> = {};
  for (const fn of i.functions) {
    host[fn.name] = hostImportTrampoline(i, fn, (args) => {
      seen.set(fn.name, [...(seen.get(fn.name) ?? []), args]);
      return m.answer!(fn.name, args);
    }, guest);
  }
  const { instance } = await WebAssembly.instantiate(await parse(mirrorWat(i)), { host: host as WebAssembly.ModuleImports });
  const e = instance.exports as Record<string, unknown>;
  guest.memory = e.memory as WebAssembly.Memory;
  guest.realloc = e.cabi_realloc as GuestAbi["realloc"];
  const callers = new Map(
    i.functions.map((fn) => [fn.name, exportCaller(i, fn, e[fn.name] as () => unknown, e[`cabi_post_${fn.name}`] as () => unknown, guest)]),
  );
  m.call = (fn, args) => callers.get(fn)!(args);
  m.posts = () => (e.posts as () => number)();
  m.memory = guest.memory;
  return m as Mirror;
}

const item = (id: bigint, name: string, tags: string[], weight: number) => ({ id, name, tags, weight });

/** Every function of `kinds` with values that reach each type's edges. */
const KIND_VALUES: [string, unknown[]][] = [
  ["echo-scalars", [{ b: true, u8v: 255, u16v: 65535, u32v: 4294967295, u64v: 2n ** 64n - 1n, s8v: -128, s16v: -32768, s32v: -2147483648, s64v: -(2n ** 63n), f32v: 1.5, f64v: -Math.PI, c: "😀" }]],
  ["echo-scalars", [{ b: false, u8v: 0, u16v: 0, u32v: 0, u64v: 0n, s8v: 127, s16v: 32767, s32v: 2147483647, s64v: 2n ** 63n - 1n, f32v: -0.25, f64v: Infinity, c: "\u{10FFFF}" }]],
  ["echo-string", ["héllo wörld 😀 — ünïcödé"]],
  ["echo-string", [""]],
  ["echo-string", ["x".repeat(100_000)]], // grows memory while lowering
  ["echo-bytes", [new Uint8Array([0, 1, 2, 254, 255])]],
  ["echo-bytes", [new Uint8Array(0)]],
  ["echo-item", [item(2n ** 63n + 5n, "widget", ["a", "bé", ""], 2.5)]],
  ["echo-items", [[item(1n, "x", [], -1), item(2n, "", ["t"], 0.5), item(3n, "z".repeat(33), ["p", "q"], 1e300)]]],
  ["echo-items", [[]]],
  ["echo-shape", [{ tag: "circle", val: 1.25 }]],
  ["echo-shape", [{ tag: "rect", val: { x: -1, y: 2147483647 } }]],
  ["echo-shape", [{ tag: "empty" }]],
  ["echo-color", ["red"]],
  ["echo-color", ["blue-ish"]],
  ["echo-perms", [{ read: true, write: false, execIt: true }]],
  ["echo-perms", [{ read: false, write: false, execIt: false }]],
  ["echo-maybe", ["some text"]],
  ["echo-maybe", [undefined]],
  ["echo-outcome", [{ tag: "ok", val: item(9n, "nine", ["n"], 9) }]],
  ["echo-outcome", [{ tag: "err", val: "bad" }]],
  ["echo-pair", [[7, "seven"]]],
];

describe("round trips through core wasm (host → export → import → host)", () => {
  let m: Mirror;
  beforeAll(async () => {
    m = await mirror(kinds);
  });

  it.each(KIND_VALUES.map(([fn, args], k) => [`${fn} #${k}`, fn, args] as const))("%s", (_label, fn, args) => {
    const before = m.seen.get(fn)?.length ?? 0;
    const posts = m.posts();
    const out = m.call(fn, args);
    expect(out).toEqual(args[0]);
    // The host implementation saw exactly what the caller sent, through two lowerings and two liftings.
    expect(m.seen.get(fn)![before]).toEqual(args);
    expect(m.posts()).toBe(posts + 1); // post-return ran
  });

  it("many-args: more than 16 flat parameters pass through a spilled block", () => {
    const args = [1, 2n, 3.5, 4.25, "five", [6, 7], true, -8, 9, "blue-ish", 11, 12, 13, 14, 15, 16, 17];
    m.answer = (fn, a) => (fn === "many-args" ? BigInt((a as number[]).length) * 1000n + 17n : a[0]);
    expect(m.call("many-args", args)).toBe(17017n);
    expect(m.seen.get("many-args")!.at(-1)).toEqual(args);
    m.call("many-args", [0, 0n, 0, 0, "", [], false, 0, undefined, "red", 0, 0, 0, 0, 0, 0, 0]);
    expect(m.seen.get("many-args")!.at(-1)![8]).toBeUndefined();
    m.answer = (_fn, a) => a[0];
  });

  it("a memory.grow during lowering leaves no stale view behind", () => {
    const pages = m.memory.buffer.byteLength / 65536;
    const big = item(1n, "n".repeat(70_000), Array.from({ length: 300 }, (_, i) => `tag-${i}-${"é".repeat(i % 7)}`), 3);
    expect(m.call("echo-items", [[big, big]])).toEqual([big, big]);
    expect(m.memory.buffer.byteLength / 65536).toBeGreaterThan(pages);
  });
});

describe("round trips of edge types", () => {
  let m: Mirror;
  beforeAll(async () => {
    m = await mirror(edge);
  });
  const flags = (set: number[]) => Object.fromEntries(range(32, "g").map((f, i) => [f, set.includes(i)]));
  const cases: [string, unknown[]][] = [
    ["echo-mixed", [{ tag: "a", val: 2n ** 64n - 2n }]],
    ["echo-mixed", [{ tag: "b", val: -1.5 }]],
    ["echo-mixed", [{ tag: "c", val: 1e-310 }]],
    ["echo-mixed", [{ tag: "d", val: -128 }]],
    ["echo-mixed", [{ tag: "e", val: "in a joined slot" }]],
    ["echo-mixed", [{ tag: "f" }]],
    ["echo-small", [{ tag: "x", val: 0.5 }]],
    ["echo-small", [{ tag: "y", val: 4294967295 }]],
    ["echo-wide", [flags([0, 16, 31])]],
    ["echo-wide", [flags([])]],
    ["echo-big", ["c0"]],
    ["echo-big", ["c299"]],
    ["echo-nested", [undefined]],
    ["echo-nested", [{ tag: "none" }]],
    ["echo-nested", [{ tag: "some", val: 7 }]],
    ["echo-unit", [{ tag: "ok" }]],
    ["echo-unit", [{ tag: "err" }]],
    ["echo-opt-rec", [{ maybeName: "n", n: 65535 }]],
    ["echo-opt-rec", [{ maybeName: undefined, n: 0 }]],
    ["flat-f32", [-2.5]],
    ["flat-bool", [true]],
    ["flat-bool", [false]],
    ["flat-char", ["é"]],
    ["flat-u64", [2n ** 64n - 1n]],
    ["flat-s8", [-1]],
  ];
  it.each(cases.map(([fn, args], k) => [`${fn} #${k}`, fn, args] as const))("%s", (_label, fn, args) => {
    expect(m.call(fn, args)).toEqual(args[0]);
    expect(m.seen.get(fn)!.at(-1)).toEqual(args);
  });

  it("multi-parameter functions and tuples", () => {
    const lists = [[new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([255])], ["a", "😀", "\u{10FFFF}"]];
    expect(m.call("echo-lists", lists)).toEqual(lists);
    expect(m.call("echo-signed", [-128, -32768, -(2n ** 63n), 65535])).toEqual([-128, -32768, -(2n ** 63n), 65535]);
    expect(m.call("nothing", [])).toBeUndefined();
    expect(m.seen.get("nothing")).toEqual([[]]);
  });
});

// ── exact layouts, by hand ──

describe("exact memory layouts", () => {
  it("lifts an item a core module wrote by hand, and lowers one byte for byte", async () => {
    const item = typeOf(kinds, "item");
    const f: WitFunction = { name: "get", params: [], result: item };
    const put: WitFunction = { name: "put", params: [{ name: "v", type: item }], result: { kind: "u32" } };
    // item at 64: id u64 @0, name (ptr, len) @8, tags (ptr, len) @16, weight f64 @24; "abc" at 200; tags list at 208
    // holding ("xy" at 224); put(v) returns the address of v's name bytes as the host lowered them.
    const wat = `(module (memory (export "memory") 1)
      (data (i32.const 64) "\\2a\\00\\00\\00\\00\\00\\00\\80" "\\c8\\00\\00\\00\\03\\00\\00\\00" "\\d0\\00\\00\\00\\01\\00\\00\\00" "\\00\\00\\00\\00\\00\\00\\f8\\3f")
      (data (i32.const 200) "abc")
      (data (i32.const 208) "\\e0\\00\\00\\00\\02\\00\\00\\00")
      (data (i32.const 224) "xy")
      (global $top (mut i32) (i32.const 4096))
      (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (local $p i32)
        (local.set $p (i32.and (i32.add (global.get $top) (i32.sub (local.get 2) (i32.const 1))) (i32.sub (i32.const 0) (local.get 2))))
        (global.set $top (i32.add (local.get $p) (local.get 3))) (local.get $p))
      (func (export "get") (result i32) (i32.const 64))
      (func (export "put") (param i64 i32 i32 i32 i32 f64) (result i32) (local.get 1)))`;
    const { instance } = await WebAssembly.instantiate(await parse(wat));
    const e = instance.exports as Record<string, unknown>;
    const guest: GuestAbi = { memory: e.memory as WebAssembly.Memory, realloc: e.cabi_realloc as GuestAbi["realloc"] };
    const get = exportCaller(kinds, f, e.get as () => number, undefined, guest);
    expect(get([])).toEqual({ id: 0x800000000000002an, name: "abc", tags: ["xy"], weight: 1.5 });
    const at = exportCaller(kinds, put, e.put as () => number, undefined, guest)([{ id: 1n, name: "hi!", tags: [], weight: 0 }]) as number;
    expect(new TextDecoder().decode(new Uint8Array(guest.memory!.buffer, at, 3))).toBe("hi!");
  });

  it("stores a variant result in the guest's return area: discriminant byte, payload at its offset", async () => {
    const shape = fnOf(kinds, "echo-shape");
    const memory = new WebAssembly.Memory({ initial: 1 });
    const guest: GuestAbi = { memory, realloc: () => 0 };
    const t = hostImportTrampoline(kinds, shape, () => ({ tag: "rect", val: { x: -2, y: 3 } }), guest) as (...a: number[]) => void;
    t(0, 0, 0, 512);
    const dv = new DataView(memory.buffer);
    expect([dv.getUint8(512), dv.getInt32(516, true), dv.getInt32(520, true)]).toEqual([1, -2, 3]);
    const t2 = hostImportTrampoline(kinds, shape, () => ({ tag: "circle", val: 0.5 }), guest) as (...a: number[]) => void;
    t2(2, 0, 0, 512);
    expect([dv.getUint8(512), dv.getFloat32(516, true)]).toEqual([0, 0.5]);
  });

  it("flat values: an f32 payload travels as its i32 bits, an enum as its index, flags as a bit word", () => {
    const guest: GuestAbi = { memory: new WebAssembly.Memory({ initial: 1 }), realloc: undefined };
    const seen: unknown[] = [];
    const shape = hostImportTrampoline(kinds, fnOf(kinds, "echo-shape"), (a) => (seen.push(a[0]), { tag: "empty" }), guest) as (...a: number[]) => void;
    const bits = new Int32Array(new Float32Array([0.75]).buffer)[0]!;
    shape(0, bits, 0, 0);
    expect(seen.pop()).toEqual({ tag: "circle", val: 0.75 });
    const color = hostImportTrampoline(kinds, fnOf(kinds, "echo-color"), (a) => (seen.push(a[0]), "green"), guest) as (d: number) => number;
    expect(color(2)).toBe(1);
    expect(seen.pop()).toBe("blue-ish");
    const perms = hostImportTrampoline(kinds, fnOf(kinds, "echo-perms"), (a) => (seen.push(a[0]), { write: true }), guest) as (w: number) => number;
    expect(perms(0b101)).toBe(0b010);
    expect(seen.pop()).toEqual({ read: true, write: false, execIt: true });
    const add = hostImportTrampoline(iface("calc"), fnOf(iface("calc"), "add"), (a) => ((a[0] as number) + (a[1] as number)) >>> 0, guest) as (a: number, b: number) => number;
    expect(add(-1, 2)).toBe(1); // -1 as i32 is u32 4294967295; the u32 result 1 returns as is
    expect(add(-2, 0)).toBe(-2 >>> 0); // the JS value of a u32 result over 2^31 (as an i32 it is negative)
  });
});

// ── guest-side violations ──

function expectValueError(fn: () => unknown, side: "guest" | "host", pathText: string, problem: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InterfaceValueError);
  const v = err as InterfaceValueError;
  expect({ side: v.side, path: v.path, code: v.code }).toEqual({ side, path: pathText, code: "E_INTERFACE_VALUE" });
  expect(v.message).toMatch(problem);
}

describe("a guest value the canonical ABI forbids is an InterfaceValueError from the guest", () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const guest: GuestAbi = { memory, realloc: () => 2048 };
  const u8 = new Uint8Array(memory.buffer);
  const dv = new DataView(memory.buffer);
  const never = () => {
    throw new Error("the host must not be called with a bad value");
  };
  const tramp = (i: WitInterface, name: string) => hostImportTrampoline(i, fnOf(i, name), never, guest) as (...a: number[]) => unknown;

  it("invalid UTF-8", () => {
    u8.set([0xff, 0xfe, 0xfd, 0xfc], 100);
    expectValueError(() => tramp(kinds, "echo-string")(100, 4, 0), "guest", "v", /not valid UTF-8/);
    u8.set([0x61, 0xc3], 100); // a truncated two-byte sequence
    expectValueError(() => tramp(kinds, "echo-string")(100, 2, 0), "guest", "v", /not valid UTF-8/);
  });

  it("a string or list outside memory", () => {
    expectValueError(() => tramp(kinds, "echo-bytes")(65530, 100, 0), "guest", "v", /outside the plugin's 65536-byte memory/);
    expectValueError(() => tramp(kinds, "echo-string")(-8, 4, 0), "guest", "v", /outside/); // a pointer ≥ 2 GiB
    expectValueError(() => tramp(kinds, "echo-items")(64, 0x10000000, 0), "guest", "v", /outside/);
  });

  it("a bad string deep in a list names its place", () => {
    // item list of 2 at 256; item 1's tags at 512: ("ok" at 600, bad at 604)
    const at = 256;
    dv.setBigUint64(at + 32, 1n, true);
    dv.setUint32(at + 32 + 8, 600, true);
    dv.setUint32(at + 32 + 12, 2, true);
    dv.setUint32(at + 32 + 16, 512, true);
    dv.setUint32(at + 32 + 20, 2, true);
    dv.setUint32(at + 8, 600, true);
    dv.setUint32(at + 12, 2, true);
    dv.setUint32(at + 20, 0, true);
    u8.set([0x6f, 0x6b], 600);
    u8.set([0xc0, 0x80], 604); // an overlong encoding
    dv.setUint32(512, 600, true);
    dv.setUint32(516, 2, true);
    dv.setUint32(520, 604, true);
    dv.setUint32(524, 2, true);
    expectValueError(() => tramp(kinds, "echo-items")(at, 2, 0), "guest", "v[1].tags[1]", /not valid UTF-8/);
  });

  it("misaligned pointers: a list of items, a return area, spilled parameters", () => {
    expectValueError(() => tramp(kinds, "echo-items")(258, 1, 0), "guest", "v", /not 8-byte aligned/);
    u8.set([0x61], 100);
    expectValueError(() => tramp(kinds, "echo-string")(100, 1, 2), "guest", "result", /return area 2 is not a 4-byte aligned/);
    expectValueError(() => tramp(kinds, "echo-string")(100, 1, 65534), "guest", "result", /return area/);
    expectValueError(() => tramp(kinds, "many-args")(4), "guest", "", /spilled parameters at 4 are not a 8-byte aligned/);
  });

  it("bad discriminants: a variant, an enum, an option, a result", () => {
    expectValueError(() => tramp(kinds, "echo-shape")(7, 0, 0, 0), "guest", "v", /discriminant 7 is not a case of variant shape \(0\.\.2\)/);
    expectValueError(() => tramp(kinds, "echo-color")(3), "guest", "v", /discriminant 3 is not a case of enum color/);
    expectValueError(() => tramp(kinds, "echo-maybe")(2, 0, 0, 0), "guest", "v", /discriminant 2 is not a case of option<string>/);
    expectValueError(() => tramp(kinds, "echo-outcome")(5, 0n as never, 0, 0, 0, 0, 0, 0), "guest", "v", /discriminant 5/);
  });

  it("a char that is no Unicode scalar value", () => {
    expectValueError(() => tramp(edge, "flat-char")(0xd800), "guest", "x", /char 55296 is not a Unicode scalar value/);
    expectValueError(() => tramp(edge, "flat-char")(0x110000), "guest", "x", /char 1114112/);
  });

  it("a bool byte over 1 reads as true (the spec's choice); bits past the last flag are ignored", () => {
    const seen: unknown[] = [];
    const b = hostImportTrampoline(edge, fnOf(edge, "flat-bool"), (a) => (seen.push(a[0]), true), guest) as (x: number) => number;
    expect(b(2)).toBe(1);
    expect(seen).toEqual([true]);
    const p = hostImportTrampoline(kinds, fnOf(kinds, "echo-perms"), (a) => (seen.push(a[0]), {}), guest) as (x: number) => number;
    expect(p(0xf8)).toBe(0);
    expect(seen[1]).toEqual({ read: false, write: false, execIt: false });
  });

  it("a guest whose cabi_realloc answers outside memory", () => {
    const bad: GuestAbi = { memory, realloc: () => 65534 };
    const t = hostImportTrampoline(kinds, fnOf(kinds, "echo-string"), () => "four", bad) as (...a: number[]) => void;
    u8.set([0x61], 100);
    expectValueError(() => t(100, 1, 8), "guest", "result", /cabi_realloc returned 65534/);
  });

  it("an export result the guest got wrong", async () => {
    const { instance } = await WebAssembly.instantiate(
      await parse(`(module (memory (export "memory") 1) (data (i32.const 16) "\\09") (data (i32.const 32) "\\00\\00\\01\\00\\05")
        (func (export "shape") (result i32) (i32.const 16)) (func (export "str") (result i32) (i32.const 32)) (func (export "odd") (result i32) (i32.const 33)))`),
    );
    const e = instance.exports as Record<string, () => number>;
    const guest2: GuestAbi = { memory: e.memory as unknown as WebAssembly.Memory, realloc: undefined };
    const getShape: WitFunction = { name: "s", params: [], result: typeOf(kinds, "shape") };
    const getStr: WitFunction = { name: "t", params: [], result: { kind: "string" } };
    expectValueError(() => exportCaller(kinds, getShape, e.shape!, undefined, guest2)([]), "guest", "result", /discriminant 9/);
    expectValueError(() => exportCaller(kinds, getStr, e.str!, undefined, guest2)([]), "guest", "result", /string \[65536, 65541\) is outside/);
    expectValueError(() => exportCaller(kinds, getStr, e.odd!, undefined, guest2)([]), "guest", "result", /returned pointer 33 is not a 4-byte aligned/);
  });
});

// ── host-side values ──

describe("a JS value that does not fit is an InterfaceValueError from the host", () => {
  const guest: GuestAbi = { memory: new WebAssembly.Memory({ initial: 1 }), realloc: () => 1024 };
  const noop = () => 0;
  const check = (i: WitInterface, name: string, args: unknown[]) => () => exportCaller(i, fnOf(i, name), noop, undefined, guest).check(args);
  const good = item(1n, "n", ["t"], 1);

  it.each([
    ["wrong argument count", kinds, "echo-string", [], "", /expected 1 argument, got 0/],
    ["a number for a string", kinds, "echo-string", [5], "v", /expected a string, got 5/],
    ["a lone surrogate", kinds, "echo-string", ["a\uD800b"], "v", /lone surrogate/],
    ["an array for list<u8>", kinds, "echo-bytes", [[1, 2]], "v", /list<u8> \(a Uint8Array\)/],
    ["a number for a u64", kinds, "echo-item", [{ ...good, id: 1 }], "v.id", /expected u64/],
    ["a u64 out of range", kinds, "echo-item", [{ ...good, id: -1n }], "v.id", /expected u64/],
    ["a missing field", kinds, "echo-item", [{ id: 1n, name: "n", tags: [] }], "v.weight", /got undefined \(missing\)/],
    ["an extra field", kinds, "echo-item", [{ ...good, colour: "red" }], "v", /unknown field of record item: "colour"/],
    ["a bad list element", kinds, "echo-items", [[good, { ...good, tags: ["ok", 3] }]], "v[1].tags[1]", /expected a string, got 3/],
    ["a u8 of 256", kinds, "echo-scalars", [{ b: true, u8v: 256 }], "v.u8v", /expected u8/],
    ["a bool that is a number", kinds, "echo-scalars", [{ b: 1 }], "v.b", /expected bool/],
    ["an unknown variant case", kinds, "echo-shape", [{ tag: "square", val: 1 }], "v.tag", /expected one of circle, rect, empty/],
    ["a bad payload", kinds, "echo-shape", [{ tag: "rect", val: { x: 1.5, y: 0 } }], "v.val.x", /expected s32/],
    ["an unknown enum case", kinds, "echo-color", ["purple"], "v", /one of red, green, blue-ish \(enum color\), got "purple"/],
    ["an unknown flag", kinds, "echo-perms", [{ read: true, delete: true }], "v", /unknown flag of perms: "delete"/],
    ["a flag that is no boolean", kinds, "echo-perms", [{ read: "yes" }], "v.read", /a boolean flag/],
    ["a result without a known tag", kinds, "echo-outcome", [{ tag: "fine", val: good }], "v.tag", /expected one of ok, err/],
    ["a tuple too short", kinds, "echo-pair", [[1]], "v", /tuple<u32, string> \(an array of 2\)/],
    ["a char of two characters", edge, "flat-char", ["ab"], "x", /expected char/],
    ["an s8 of -129", edge, "flat-s8", [-129], "x", /expected s8/],
    ["a tagged inner option", edge, "echo-nested", [{ tag: "maybe" }], "v.tag", /expected one of none, some/],
  ] as const)("%s", (_label, i, fn, args, pathText, problem) => {
    expectValueError(check(i, fn, args as unknown as unknown[]), "host", pathText, problem);
  });

  it("a host result that does not fit ends the guest's call: InterfaceValueError with the result's path", () => {
    const t = hostImportTrampoline(kinds, fnOf(kinds, "echo-item"), () => ({ ...good, tags: "not a list" }), guest) as (...a: unknown[]) => void;
    expectValueError(() => t(1n, 0, 0, 0, 0, 0, 8), "host", "result.tags", /list<string> \(an array\)/);
    const add = hostImportTrampoline(iface("calc"), fnOf(iface("calc"), "add"), () => 2 ** 32, guest) as (a: number, b: number) => number;
    expectValueError(() => add(1, 2), "host", "result", /expected u32.*got 4294967296/);
  });

  it("a throwing implementation is a HostImplementationError with what it threw as cause", () => {
    const boom = new RangeError("no such user");
    const t = hostImportTrampoline(iface("calc"), fnOf(iface("calc"), "add"), () => {
      throw boom;
    }, guest) as (a: number, b: number) => number;
    let err: unknown;
    try {
      t(1, 2);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HostImplementationError);
    expect((err as Error).cause).toBe(boom);
    expect((err as Error).message).toMatch(/acme:app\/calc@1\.0\.0#add: the host's implementation failed: no such user/);
  });

  it("a Promise from an implementation is InterfaceUnavailable async, whatever the result type", () => {
    for (const name of ["echo-item", "echo-perms", "echo-maybe", "echo-string"]) {
      const t = hostImportTrampoline(kinds, fnOf(kinds, name), async () => undefined, guest) as (...a: unknown[]) => void;
      let err: unknown;
      try {
        t(...flatSignature(fnOf(kinds, name)).params.map((p) => (p === "i64" ? 0n : 0)), 8);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(InterfaceUnavailable);
      expect((err as InterfaceUnavailable).reason).toBe("async");
      expect((err as Error).message).toMatch(/cannot wait for one; run the plugin with worker isolation or on the wasmtime engine, or make/);
    }
  });
});

// ── string fast paths (short ASCII by a loop or one copy, the rest by the strict decoder/encoder) ──

describe("strings of every length class cross both ways with their checks", () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  let next = 4096;
  // A bump allocator standing in for cabi_realloc; records what the host asked for.
  const asked: number[] = [];
  // The blocks the host asked to grow: (old pointer, old size).
  const grown: [number, number][] = [];
  let firstAt = 0;
  const guest: GuestAbi = {
    memory,
    realloc: (p, o, align, size) => {
      asked.push(size);
      if (p !== 0) grown.push([p, o]);
      next = Math.ceil(next / align) * align;
      const at = next;
      next += size;
      if (next > 60000) next = 4096;
      return at;
    },
  };
  const u8 = new Uint8Array(memory.buffer);
  const dv = new DataView(memory.buffer);
  const enc = new TextEncoder();
  // Lengths around each threshold: the 8-byte loop, the 16/32-byte store loops, the 64-byte ASCII copy.
  const LENGTHS = [0, 1, 7, 8, 9, 12, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 300];
  const samples = LENGTHS.flatMap((n) => [
    "k".repeat(n),
    // Non-ASCII at the end, in the middle and at the start: 2-, 3- and 4-byte sequences.
    n > 1 ? "a".repeat(n - 1) + "é" : "é",
    n > 2 ? "b".repeat(n >> 1) + "€" + "c".repeat(n - (n >> 1) - 1) : "€",
    n > 2 ? "😀" + "d".repeat(n - 2) : "😀",
  ]);

  it("a guest's string reaches the host as written, and the host's is written back byte for byte", () => {
    let seen: unknown;
    const t = hostImportTrampoline(kinds, fnOf(kinds, "echo-string"), (args) => (seen = args[0]), guest) as (p: number, l: number, ret: number) => void;
    for (const s of samples) {
      const bytes = enc.encode(s);
      u8.set(bytes, 1000);
      asked.length = 0;
      grown.length = 0;
      firstAt = next;
      t(1000, bytes.length, 8);
      expect(seen, JSON.stringify(s)).toBe(s);
      const p = dv.getUint32(8, true);
      const l = dv.getUint32(12, true);
      expect(l).toBe(bytes.length);
      expect(u8.slice(p, p + l)).toEqual(bytes);
      // One allocation of the exact length; none for the empty string (its pointer is the alignment, 1). A short
      // string is written as ASCII first: one that is not gets its block grown to its UTF-8 length.
      const ascii = bytes.length === s.length;
      expect(asked).toEqual(!bytes.length ? [] : ascii || s.length > 64 ? [bytes.length] : [s.length, bytes.length]);
      if (!ascii && s.length <= 64) expect(grown).toEqual([[firstAt, s.length]]);
      if (!bytes.length) expect(p).toBe(1);
    }
  });

  it("invalid UTF-8 is refused at every length, wherever the bad byte is", () => {
    const t = hostImportTrampoline(kinds, fnOf(kinds, "echo-string"), () => "", guest) as (p: number, l: number, ret: number) => void;
    for (const n of LENGTHS.filter((x) => x > 0)) {
      for (const at of new Set([0, n >> 1, n - 1])) {
        for (const bad of [[0x80], [0xff], [0xc3], [0xed, 0xa0, 0x80]]) {
          // ASCII around a stray continuation byte, an impossible byte, a truncated sequence or an encoded surrogate.
          const bytes = new Uint8Array(n + bad.length - 1).fill(0x61);
          bytes.set(bad, at);
          u8.set(bytes, 2000);
          expectValueError(() => t(2000, bytes.length, 8), "guest", "v", /not valid UTF-8/);
        }
      }
    }
  });

  it("a host string with a lone surrogate is refused at every length", () => {
    for (const n of [1, 8, 9, 16, 17, 64, 65, 200]) {
      for (const s of ["\uD800" + "a".repeat(n - 1), "a".repeat(n - 1) + "\uDC00"]) {
        const t = hostImportTrampoline(kinds, fnOf(kinds, "echo-string"), () => s, guest) as (p: number, l: number, ret: number) => void;
        expectValueError(() => t(0, 0, 8), "host", "result", /lone surrogate/);
      }
    }
  });
});
