/**
 * The Component Model's canonical ABI in JS, driven by the WIT type model (types.ts), for engines that run a guest's
 * core module in V8 (the v8 engine) and so do the lifting and lowering themselves.
 *
 * Two builders, each generating one specialised JS function per WIT function once (`new Function`), so a call does
 * no work beyond the value's own: no type dispatch, no per-call allocation except the values themselves.
 * - `hostImportTrampoline`: the core-wasm function a guest imports for a host interface function: lifts the guest's
 *   flat arguments (or the spilled tuple behind one pointer), calls the host, lowers the result (flat, or into the
 *   guest's return area; strings and lists through the guest's `cabi_realloc`).
 * - `exportCaller`: calls a guest's core export of a typed interface with JS values: checks and lowers them, calls,
 *   lifts the result (flat, or from the returned pointer), then calls the guest's post-return.
 *
 * Checks: a value the guest gives that the ABI forbids (invalid UTF-8, a pointer or length outside memory, a
 * misaligned pointer, a discriminant past the last case, a char that is no Unicode scalar value) throws an
 * `InterfaceValueError` with side "guest"; a JS value that does not fit its type (wrong type, out of range, unknown
 * case/enum/flag, an extra record field or a missing one) throws one with side "host". `path` names the place in the
 * value: `v.tags[2]`, `result.val.name`. A bool byte over 1 reads as true, as the spec says; f32 NaNs are not
 * canonicalised. A host implementation that throws surfaces as a `HostImplementationError` (its `cause` the thrown
 * value), one that returns a Promise as an `InterfaceUnavailable` "async": the engine maps all three to the fault
 * that ends the guest's call.
 */
import { InterfaceUnavailable, InterfaceValueError } from "../contract/errors.js";
import { fieldOffsets, flatSignature, layoutOf, variantLayout, type CoreType } from "./abi-layout.js";
import { describe, f32ToI32, f64ToI64, i32ToF32, i64ToF64, isThenable, readStr, utf8Length, viewOf, writeAscii, writeStr, type GuestAbi } from "./abi-runtime.js";
import { interfaceId, jsName, type WitFunction, type WitInterface, type WitType } from "./types.js";

export { MAX_FLAT_PARAMS, MAX_FLAT_RESULTS, layoutOf, flatSignature, coreSignature, type CoreType, type Layout } from "./abi-layout.js";
export type { GuestAbi } from "./abi-runtime.js";

/** A host implementation threw while a guest called it; `cause` is what it threw. */
export class HostImplementationError extends Error {
  readonly iface: string;
  readonly fn: string;
  constructor(iface: string, fn: string, cause: unknown) {
    super(`${iface}#${fn}: the host's implementation failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "HostImplementationError";
    this.iface = iface;
    this.fn = fn;
  }
}

/** The host's function for one WIT function: JS arguments in, a JS value out. */
export type HostCall = (args: unknown[]) => unknown;

/** A typed export's caller: `(args) => value`, with its two halves for engines that check before entering a call. */
export interface ExportCaller {
  (args: readonly unknown[]): unknown;
  /** Check the arguments only (an `InterfaceValueError` side "host"); nothing runs in the guest. */
  check(args: readonly unknown[]): void;
  /** Lower, call, lift and post-return; `args` must have passed `check`. */
  unchecked(args: readonly unknown[]): unknown;
}

// ─── code generation ───

type Expr = string;
type ListType = WitType & { kind: "list" };
interface FlatVal {
  readonly expr: Expr;
  readonly type: CoreType;
}

const REFRESH = "if (u8.length === 0) { u8 = V.refresh(); dv = V.dv; }";
const lit = (s: string): string => JSON.stringify(s);
const isIdent = (e: string): boolean => /^[A-Za-z_$][\w$]*$/.test(e);
const propKey = (name: string): string => (isIdent(name) ? name : lit(name));
const prop = (obj: Expr, name: string): Expr => (isIdent(name) ? `${obj}.${name}` : `${obj}[${lit(name)}]`);
const pathDot = (path: Expr, name: string): Expr => `${path} + ${lit(`.${name}`)}`;
const pathIdx = (path: Expr, i: Expr): Expr => `${path} + "[" + ${i} + "]"`;

/** Builds one function's body: statements, fresh names, and the constants it closes over. */
class Gen {
  #n = 0;
  readonly lines: string[] = [];
  readonly names: string[] = [];
  readonly values: unknown[] = [];
  /** Whether a string's lone surrogates are checked in the check pass (true) or when lowering (false). */
  constructor(readonly strictStrings: boolean) {}
  fresh(prefix: string): string {
    return `${prefix}${this.#n++}`;
  }
  emit(line: string): void {
    this.lines.push(line);
  }
  konst(value: unknown, hint: string): string {
    const name = `$${hint}${this.names.length}`;
    this.names.push(name);
    this.values.push(value);
    return name;
  }
  /** Bind an expression to a const unless it is already a name. */
  bind(e: Expr, prefix = "x"): string {
    if (isIdent(e)) return e;
    const n = this.fresh(prefix);
    this.emit(`const ${n} = ${e};`);
    return n;
  }
}

/** Reads flat values in order, converting a joined slot back to the type the case wants. */
class Reader {
  i = 0;
  constructor(readonly vals: readonly FlatVal[]) {}
  next(want: CoreType): Expr {
    const v = this.vals[this.i++];
    if (!v) throw new Error("canonical ABI: flat values ran out (internal)");
    return coerceLift(v.expr, v.type, want);
  }
}

function coerceLift(e: Expr, have: CoreType, want: CoreType): Expr {
  if (have === want) return e;
  if (have === "i32" && want === "f32") return `I2F(${e})`;
  if (have === "i64" && want === "i32") return `Number(BigInt.asIntN(32, ${e}))`;
  if (have === "i64" && want === "f32") return `I2F(Number(BigInt.asIntN(32, ${e})))`;
  if (have === "i64" && want === "f64") return `L2D(${e})`;
  throw new Error(`canonical ABI: cannot read ${want} from a ${have} slot (internal)`);
}

function coerceLower(e: Expr, have: CoreType, want: CoreType): Expr {
  if (have === want) return e;
  if (have === "f32" && want === "i32") return `F2I(${e})`;
  if (have === "i32" && want === "i64") return `BigInt(${e} >>> 0)`;
  if (have === "f32" && want === "i64") return `BigInt(F2I(${e}) >>> 0)`;
  if (have === "f64" && want === "i64") return `D2L(${e})`;
  throw new Error(`canonical ABI: cannot put ${have} in a ${want} slot (internal)`);
}

const ZERO: Record<CoreType, string> = { i32: "0", i64: "0n", f32: "0", f64: "0" };

function typeName(t: WitType): string {
  switch (t.kind) {
    case "record":
    case "variant":
    case "enum":
    case "flags":
      return `${t.kind} ${t.name}`;
    case "list":
      return `list<${typeName(t.element)}>`;
    case "option":
      return `option<${typeName(t.some)}>`;
    case "result":
      return `result<${t.ok ? typeName(t.ok) : "_"}, ${t.err ? typeName(t.err) : "_"}>`;
    case "tuple":
      return `tuple<${t.items.map(typeName).join(", ")}>`;
    default:
      return t.kind;
  }
}

// ── lifting (guest → JS): every check here is a guest error ──

function charCheck(g: Gen, c: string, path: Expr): void {
  g.emit(`if (${c} >= 0x110000 || (${c} >= 0xd800 && ${c} < 0xe000)) throw Eg(${path}, "char " + ${c} + " is not a Unicode scalar value");`);
}

function liftStringAt(g: Gen, p: string, l: string, path: Expr): Expr {
  g.emit(`if (${p} + ${l} > u8.length) throw Eg(${path}, "string [" + ${p} + ", " + (${p} + ${l}) + ") is outside the plugin's " + u8.length + "-byte memory");`);
  const s = g.fresh("s");
  g.emit(`const ${s} = RS(u8, dv, ${p}, ${l});`);
  g.emit(`if (${s} === null) throw Eg(${path}, "string is not valid UTF-8");`);
  return s;
}

function liftListAt(g: Gen, elem: WitType, p: string, l: string, path: Expr): Expr {
  const el = layoutOf(elem);
  if (el.align > 1) g.emit(`if (${p} % ${el.align} !== 0) throw Eg(${path}, "list pointer " + ${p} + " is not ${el.align}-byte aligned");`);
  g.emit(
    `if (${p} + ${l} * ${el.size} > u8.length) throw Eg(${path}, "list of " + ${l} + " at " + ${p} + " (" + ${l} * ${el.size} + " bytes) is outside the plugin's " + u8.length + "-byte memory");`,
  );
  if (elem.kind === "u8") return `u8.slice(${p}, ${p} + ${l})`;
  const arr = g.fresh("a");
  const i = g.fresh("i");
  g.emit(`const ${arr} = [];`);
  g.emit(`for (let ${i} = 0; ${i} < ${l}; ${i}++) {`);
  const v = load(g, elem, `${p} + ${i} * ${el.size}`, pathIdx(path, i), false);
  g.emit(`${arr}.push(${v});`);
  g.emit("}");
  return arr;
}

/** The JS value of case `k` of variant-like `t`, its payload (if any) already lifted to `val`. */
function caseValue(t: WitType, k: number, val: Expr | undefined, tagged: boolean): Expr {
  switch (t.kind) {
    case "option":
      if (k === 0) return tagged ? `{ tag: "none" }` : "undefined";
      return tagged ? `{ tag: "some", val: ${val} }` : val!;
    case "result":
      return `{ tag: ${k === 0 ? '"ok"' : '"err"'}${val !== undefined ? `, val: ${val}` : ""} }`;
    case "variant":
      return `{ tag: ${lit(t.cases[k]!.name)}${val !== undefined ? `, val: ${val}` : ""} }`;
    default:
      throw new Error("caseValue: not a variant (internal)");
  }
}

/** The path of a case's payload: the option's own value (untagged), else `.val`. */
function payloadPath(t: WitType, path: Expr, tagged: boolean): Expr {
  return t.kind === "option" && !tagged ? path : pathDot(path, "val");
}
/** Option payloads that are themselves options use the tagged form. */
const payloadTagged = (t: WitType): boolean => t.kind === "option" && t.some.kind === "option";

function discError(g: Gen, t: WitType, d: string, path: Expr, n: number): void {
  g.emit(`throw Eg(${path}, "discriminant " + ${d} + " is not a case of ${typeName(t)} (0..${n - 1})");`);
}

function enumLift(g: Gen, t: WitType & { kind: "enum" }, d: string, path: Expr): Expr {
  const names = g.konst(Object.freeze([...t.cases]), "names");
  g.emit(`if (${d} >= ${t.cases.length}) { ${captureLines(g, () => discError(g, t, d, path, t.cases.length))} }`);
  return `${names}[${d}]`;
}

/** Run `fn` and return the lines it emitted, joined (for nesting inside a one-line block). */
function captureLines(g: Gen, fn: () => void): string {
  const at = g.lines.length;
  fn();
  return g.lines.splice(at).join(" ");
}

function flagsLift(t: WitType & { kind: "flags" }, word: (w: number) => Expr): Expr {
  const words = t.flags.map((_, i) => i >> 5);
  const parts = t.flags.map((f, i) => `${propKey(jsName(f))}: (${word(words[i]!)} & ${(1 << (i & 31)) >>> 0}) !== 0`);
  return `{ ${parts.join(", ")} }`;
}

function liftFlat(g: Gen, t: WitType, r: Reader, path: Expr, tagged: boolean): Expr {
  switch (t.kind) {
    case "bool":
      return `(${r.next("i32")} !== 0)`;
    case "u8":
      return `(${r.next("i32")} & 255)`;
    case "u16":
      return `(${r.next("i32")} & 65535)`;
    case "u32":
      return `(${r.next("i32")} >>> 0)`;
    case "s8":
      return `((${r.next("i32")} << 24) >> 24)`;
    case "s16":
      return `((${r.next("i32")} << 16) >> 16)`;
    case "s32":
      return `(${r.next("i32")} | 0)`;
    case "u64": {
      // Core i64 values arrive signed: only a negative one (>= 2^63 as u64) needs the conversion (a new BigInt).
      const x = g.bind(r.next("i64"), "b");
      return `(${x} < 0n ? BigInt.asUintN(64, ${x}) : ${x})`;
    }
    case "s64":
      return r.next("i64"); // core i64 values reach JS as signed bigints already
    case "f32":
      return r.next("f32");
    case "f64":
      return r.next("f64");
    case "char": {
      const c = g.fresh("c");
      g.emit(`const ${c} = ${r.next("i32")} >>> 0;`);
      charCheck(g, c, path);
      return `String.fromCodePoint(${c})`;
    }
    case "string":
    case "list": {
      const p = g.fresh("p");
      const l = g.fresh("l");
      g.emit(`const ${p} = ${r.next("i32")} >>> 0, ${l} = ${r.next("i32")} >>> 0;`);
      return t.kind === "string" ? liftStringAt(g, p, l, path) : liftListAt(g, (t as ListType).element, p, l, path);
    }
    case "record": {
      const parts = t.fields.map((f) => {
        const name = jsName(f.name);
        return `${propKey(name)}: ${g.bind(liftFlat(g, f.type, r, pathDot(path, name), false), "f")}`;
      });
      return `{ ${parts.join(", ")} }`;
    }
    case "tuple":
      return `[${t.items.map((it, i) => g.bind(liftFlat(g, it, r, pathIdx(path, String(i)), false), "f")).join(", ")}]`;
    case "flags": {
      const words = layoutOf(t).flat.map(() => g.bind(r.next("i32"), "w"));
      return flagsLift(t, (w) => words[w]!);
    }
    case "enum": {
      const d = g.bind(`${r.next("i32")} >>> 0`, "d");
      return enumLift(g, t, d, path);
    }
    case "variant":
    case "option":
    case "result": {
      const vl = variantLayout(t);
      const d = g.bind(`${r.next("i32")} >>> 0`, "d");
      const payload = r.vals.slice(r.i, r.i + vl.flat.length - 1);
      r.i += vl.flat.length - 1;
      const out = g.fresh("v");
      g.emit(`let ${out};`);
      g.emit(`switch (${d}) {`);
      vl.cases.forEach((c, k) => {
        g.emit(`case ${k}: {`);
        const val = c.type ? liftFlat(g, c.type, new Reader(payload), payloadPath(t, path, tagged), payloadTagged(t)) : undefined;
        g.emit(`${out} = ${caseValue(t, k, val, tagged)}; break; }`);
      });
      g.emit("default:");
      discError(g, t, d, path, vl.cases.length);
      g.emit("}");
      return out;
    }
  }
}

function load(g: Gen, t: WitType, addr: Expr, path: Expr, tagged: boolean): Expr {
  switch (t.kind) {
    case "bool":
      return `(u8[${addr}] !== 0)`;
    case "u8":
      return `u8[${addr}]`;
    case "s8":
      return `dv.getInt8(${addr})`;
    case "u16":
      return `dv.getUint16(${addr}, true)`;
    case "s16":
      return `dv.getInt16(${addr}, true)`;
    case "u32":
      return `dv.getUint32(${addr}, true)`;
    case "s32":
      return `dv.getInt32(${addr}, true)`;
    case "u64":
      return `dv.getBigUint64(${addr}, true)`;
    case "s64":
      return `dv.getBigInt64(${addr}, true)`;
    case "f32":
      return `dv.getFloat32(${addr}, true)`;
    case "f64":
      return `dv.getFloat64(${addr}, true)`;
    case "char": {
      const c = g.bind(`dv.getUint32(${addr}, true)`, "c");
      charCheck(g, c, path);
      return `String.fromCodePoint(${c})`;
    }
    case "string":
    case "list": {
      const a = g.bind(addr, "m");
      const p = g.fresh("p");
      const l = g.fresh("l");
      g.emit(`const ${p} = dv.getUint32(${a}, true), ${l} = dv.getUint32(${a} + 4, true);`);
      return t.kind === "string" ? liftStringAt(g, p, l, path) : liftListAt(g, (t as ListType).element, p, l, path);
    }
    case "record": {
      const a = g.bind(addr, "m");
      const offs = fieldOffsets(t.fields.map((f) => f.type));
      const parts = t.fields.map((f, i) => {
        const name = jsName(f.name);
        return `${propKey(name)}: ${g.bind(load(g, f.type, `${a} + ${offs[i]}`, pathDot(path, name), false), "f")}`;
      });
      return `{ ${parts.join(", ")} }`;
    }
    case "tuple": {
      const a = g.bind(addr, "m");
      const offs = fieldOffsets(t.items);
      return `[${t.items.map((it, i) => g.bind(load(g, it, `${a} + ${offs[i]}`, pathIdx(path, String(i)), false), "f")).join(", ")}]`;
    }
    case "flags": {
      const a = g.bind(addr, "m");
      const size = layoutOf(t).size;
      const words =
        size === 1 ? [g.bind(`u8[${a}]`, "w")] : size === 2 ? [g.bind(`dv.getUint16(${a}, true)`, "w")] : layoutOf(t).flat.map((_, w) => g.bind(`dv.getUint32(${a} + ${4 * w}, true)`, "w"));
      return flagsLift(t, (w) => words[w]!);
    }
    case "enum":
    case "variant":
    case "option":
    case "result": {
      const vl = variantLayout(t);
      const a = g.bind(addr, "m");
      const d = g.bind(vl.discSize === 1 ? `u8[${a}]` : vl.discSize === 2 ? `dv.getUint16(${a}, true)` : `dv.getUint32(${a}, true)`, "d");
      if (t.kind === "enum") return enumLift(g, t, d, path);
      const out = g.fresh("v");
      g.emit(`let ${out};`);
      g.emit(`switch (${d}) {`);
      vl.cases.forEach((c, k) => {
        g.emit(`case ${k}: {`);
        const val = c.type ? load(g, c.type, `${a} + ${vl.payloadOffset}`, payloadPath(t, path, tagged), payloadTagged(t)) : undefined;
        g.emit(`${out} = ${caseValue(t, k, val, tagged)}; break; }`);
      });
      g.emit("default:");
      discError(g, t, d, path, vl.cases.length);
      g.emit("}");
      return out;
    }
  }
}

// ── checking JS values (host side) ──

function fail(path: Expr, what: string, v: string): string {
  return `throw Eh(${path}, ${lit(`expected ${what}, got `)} + DESC(${v}));`;
}

const INT_CHECK: Partial<Record<WitType["kind"], [string, string]>> = {
  u8: ["(V & 255) !== V", "u8 (an integer 0..255)"],
  u16: ["(V & 65535) !== V", "u16 (an integer 0..65535)"],
  u32: ["(V >>> 0) !== V", "u32 (an integer 0..4294967295)"],
  s8: ["((V << 24) >> 24) !== V", "s8 (an integer -128..127)"],
  s16: ["((V << 16) >> 16) !== V", "s16 (an integer -32768..32767)"],
  s32: ["(V | 0) !== V", "s32 (an integer -2147483648..2147483647)"],
  // Comparisons with constants: no BigInt is allocated.
  u64: ['typeof V !== "bigint" || V < 0n || V > 0xffffffffffffffffn', "u64 (a bigint 0n..2n**64n-1n)"],
  s64: ['typeof V !== "bigint" || V < -0x8000000000000000n || V > 0x7fffffffffffffffn', "s64 (a bigint -2n**63n..2n**63n-1n)"],
  f32: ['typeof V !== "number"', "f32 (a number)"],
  f64: ['typeof V !== "number"', "f64 (a number)"],
  bool: ['typeof V !== "boolean"', "bool (true or false)"],
};

function unknownKeys(g: Gen, v: string, known: readonly string[], path: Expr, what: string): void {
  const k = g.fresh("k");
  const test = known.length ? known.map((n) => `${k} !== ${lit(n)}`).join(" && ") : "true";
  g.emit(
    `for (const ${k} in ${v}) if (${test}) throw Eh(${path}, "unknown ${what} " + JSON.stringify(${k}) + ${lit(` (${known.length ? known.join(", ") : "none"})`)});`,
  );
}

function check(g: Gen, t: WitType, e: Expr, path: Expr, tagged: boolean): void {
  const ints = INT_CHECK[t.kind];
  if (ints) {
    const v = g.bind(e, "x");
    g.emit(`if (${ints[0].replaceAll("V", v)}) ${fail(path, ints[1], v)}`);
    return;
  }
  const v = g.bind(e, "x");
  const objectCheck = (what: string) => g.emit(`if (typeof ${v} !== "object" || ${v} === null) ${fail(path, what, v)}`);
  switch (t.kind) {
    case "char":
      g.emit(`if (typeof ${v} !== "string" || !ISCHAR(${v})) ${fail(path, "char (a string of one Unicode scalar value)", v)}`);
      return;
    case "string":
      g.emit(`if (typeof ${v} !== "string") ${fail(path, "a string", v)}`);
      if (g.strictStrings) g.emit(`if (!${v}.isWellFormed()) throw Eh(${path}, "string holds a lone surrogate (not valid Unicode)");`);
      return;
    case "list": {
      if (t.element.kind === "u8") {
        g.emit(`if (!(${v} instanceof Uint8Array)) ${fail(path, "list<u8> (a Uint8Array)", v)}`);
        return;
      }
      g.emit(`if (!Array.isArray(${v})) ${fail(path, `${typeName(t)} (an array)`, v)}`);
      const i = g.fresh("i");
      g.emit(`for (let ${i} = 0; ${i} < ${v}.length; ${i}++) {`);
      check(g, t.element, `${v}[${i}]`, pathIdx(path, i), false);
      g.emit("}");
      return;
    }
    case "record": {
      objectCheck(`${typeName(t)} (an object)`);
      const names = t.fields.map((f) => jsName(f.name));
      unknownKeys(g, v, names, path, `field of record ${t.name}:`);
      t.fields.forEach((f, i) => check(g, f.type, prop(v, names[i]!), pathDot(path, names[i]!), false));
      return;
    }
    case "tuple":
      g.emit(`if (!Array.isArray(${v}) || ${v}.length !== ${t.items.length}) ${fail(path, `${typeName(t)} (an array of ${t.items.length})`, v)}`);
      t.items.forEach((it, i) => check(g, it, `${v}[${i}]`, pathIdx(path, String(i)), false));
      return;
    case "flags": {
      objectCheck(`${typeName(t)} (an object of booleans)`);
      const names = t.flags.map(jsName);
      unknownKeys(g, v, names, path, `flag of ${t.name}:`);
      for (const n of names) {
        const f = g.bind(prop(v, n), "x");
        g.emit(`if (${f} !== undefined && typeof ${f} !== "boolean") ${fail(pathDot(path, n), "a boolean flag", f)}`);
      }
      return;
    }
    case "enum":
      g.emit(`switch (${v}) { ${t.cases.map((c) => `case ${lit(c)}:`).join(" ")} break; default: ${fail(path, `one of ${t.cases.join(", ")} (enum ${t.name})`, v)} }`);
      return;
    case "option":
      if (!tagged) {
        g.emit(`if (${v} !== undefined && ${v} !== null) {`);
        check(g, t.some, v, path, payloadTagged(t));
        g.emit("}");
        return;
      }
    // falls through: the tagged form is a variant { tag: "none" } | { tag: "some", val }
    case "variant":
    case "result": {
      objectCheck(`${typeName(t)} (an object { tag, val })`);
      const cases = variantLayout(t).cases;
      g.emit(`switch (${v}.tag) {`);
      for (const c of cases) {
        g.emit(`case ${lit(c.name)}:`);
        if (c.type) check(g, c.type, `${v}.val`, pathDot(path, "val"), payloadTagged(t));
        g.emit("break;");
      }
      g.emit(`default: throw Eh(${pathDot(path, "tag")}, ${lit(`expected one of ${cases.map((c) => c.name).join(", ")} (${typeName(t)}), got `)} + DESC(${v}.tag));`);
      g.emit("}");
      return;
    }
    default:
      throw new Error(`canonical ABI: no check for ${t.kind} (internal)`);
  }
}

// ── lowering (JS → guest), on values already checked ──

/** Allocate `size` bytes aligned to `align` with the guest's cabi_realloc; returns the pointer's name. */
function alloc(g: Gen, size: Expr, align: number, path: Expr, into?: string): string {
  const p = into ?? g.fresh("p");
  g.emit(`${into ? "" : "const "}${p} = R(0, 0, ${align}, ${size}) >>> 0;`);
  g.emit(REFRESH);
  g.emit(
    `if (${p} % ${align} !== 0 || ${p} + ${size} > u8.length) throw Eg(${path}, "cabi_realloc returned " + ${p} + ", not a ${align}-byte aligned block of " + (${size}) + " bytes inside the plugin's memory");`,
  );
  return p;
}

/**
 * Lower a string. A short one is first taken for ASCII: a block of its length is allocated and written a character
 * at a time, which finds out whether it is ASCII on the way (no separate pass to measure it). At the first other
 * character the block is reallocated to the UTF-8 length and written again.
 */
function lowerString(g: Gen, v: string, path: Expr): [string, string] {
  const l = g.fresh("l");
  const p = g.fresh("p");
  const measure = (): void => {
    g.emit(`${l} = UL(${v});`);
    if (!g.strictStrings) g.emit(`if (${l} < 0) throw Eh(${path}, "string holds a lone surrogate (not valid Unicode)");`);
  };
  g.emit(`let ${l} = ${v}.length, ${p} = 1;`);
  g.emit(`if (${l} > ${ASCII_FIRST}) {`);
  measure();
  alloc(g, l, 1, path, p);
  g.emit(`WS(u8, ${p}, ${v}, ${l});`);
  g.emit(`} else if (${l} > 0) {`);
  alloc(g, l, 1, path, p);
  g.emit(`if (!WA(u8, ${p}, ${v}, ${l})) {`);
  const n = g.fresh("n");
  g.emit(`const ${n} = ${l};`);
  measure();
  g.emit(`${p} = R(${p}, ${n}, 1, ${l}) >>> 0;`);
  g.emit(REFRESH);
  g.emit(`if (${p} + ${l} > u8.length) throw Eg(${path}, "cabi_realloc returned " + ${p} + ", not a block of " + ${l} + " bytes inside the plugin's memory");`);
  g.emit(`WS(u8, ${p}, ${v}, ${l});`);
  g.emit("}");
  g.emit("}");
  return [p, l];
}

/** Strings up to this many characters are lowered as ASCII first (`lowerString`). */
const ASCII_FIRST = 64;

function lowerList(g: Gen, elem: WitType, v: string, path: Expr): [string, string] {
  const el = layoutOf(elem);
  const n = g.bind(`${v}.length`, "n");
  const p = g.fresh("p");
  g.emit(`let ${p} = ${el.align};`);
  g.emit(`if (${n} > 0) {`);
  alloc(g, `${n} * ${el.size}`, el.align, path, p);
  if (elem.kind === "u8") g.emit(`u8.set(${v}, ${p});`);
  else {
    const i = g.fresh("i");
    g.emit(`for (let ${i} = 0; ${i} < ${n}; ${i}++) {`);
    store(g, elem, `${v}[${i}]`, `${p} + ${i} * ${el.size}`, pathIdx(path, i), false);
    g.emit("}");
  }
  g.emit("}");
  return [p, n];
}

function flagWordsOf(t: WitType & { kind: "flags" }, v: string): Expr[] {
  const words: string[][] = layoutOf(t).flat.map(() => []);
  t.flags.forEach((f, i) => words[i >> 5]!.push(`(${prop(v, jsName(f))} ? ${(1 << (i & 31)) >>> 0} : 0)`));
  return words.map((w) => (w.length ? `(${w.join(" | ")})` : "0"));
}

/** For a variant-like value `v`: emit the branch per case, calling `body(k, payloadExpr)` inside each. */
function caseSwitch(g: Gen, t: WitType, v: string, tagged: boolean, body: (k: number, payload: Expr | undefined) => void): void {
  const cases = variantLayout(t).cases;
  if (t.kind === "enum") {
    g.emit(`switch (${v}) {`);
    cases.forEach((c, k) => {
      g.emit(`case ${lit(c.name)}: {`);
      body(k, undefined);
      g.emit("break; }");
    });
    g.emit("}");
    return;
  }
  if (t.kind === "option" && !tagged) {
    g.emit(`if (${v} === undefined || ${v} === null) {`);
    body(0, undefined);
    g.emit("} else {");
    body(1, v);
    g.emit("}");
    return;
  }
  g.emit(`switch (${v}.tag) {`);
  cases.forEach((c, k) => {
    g.emit(`case ${lit(c.name)}: {`);
    body(k, c.type ? `${v}.val` : undefined);
    g.emit("break; }");
  });
  g.emit("}");
}

function lowerFlat(g: Gen, t: WitType, e: Expr, path: Expr, tagged: boolean): FlatVal[] {
  switch (t.kind) {
    case "bool":
      return [{ expr: `(${e} ? 1 : 0)`, type: "i32" }];
    case "u8":
    case "u16":
    case "u32":
    case "s8":
    case "s16":
    case "s32":
      return [{ expr: e, type: "i32" }];
    case "u64":
    case "s64":
      return [{ expr: e, type: "i64" }];
    case "f32":
      return [{ expr: e, type: "f32" }];
    case "f64":
      return [{ expr: e, type: "f64" }];
    case "char":
      return [{ expr: `${e}.codePointAt(0)`, type: "i32" }];
    case "string": {
      const [p, l] = lowerString(g, g.bind(e), path);
      return [
        { expr: p, type: "i32" },
        { expr: l, type: "i32" },
      ];
    }
    case "list": {
      const [p, l] = lowerList(g, (t as ListType).element, g.bind(e), path);
      return [
        { expr: p, type: "i32" },
        { expr: l, type: "i32" },
      ];
    }
    case "record": {
      const v = g.bind(e);
      return t.fields.flatMap((f) => lowerFlat(g, f.type, prop(v, jsName(f.name)), pathDot(path, jsName(f.name)), false));
    }
    case "tuple": {
      const v = g.bind(e);
      return t.items.flatMap((it, i) => lowerFlat(g, it, `${v}[${i}]`, pathIdx(path, String(i)), false));
    }
    case "flags": {
      const v = g.bind(e);
      return flagWordsOf(t, v).map((w) => ({ expr: g.bind(w, "w"), type: "i32" as const }));
    }
    case "enum":
    case "variant":
    case "option":
    case "result": {
      const vl = variantLayout(t);
      const v = g.bind(e);
      const d = g.fresh("d");
      const slotTypes = vl.flat.slice(1);
      const slots = slotTypes.map(() => g.fresh("q"));
      g.emit(`let ${d} = 0${slots.map((s, i) => `, ${s} = ${ZERO[slotTypes[i]!]}`).join("")};`);
      caseSwitch(g, t, v, tagged, (k, payload) => {
        g.emit(`${d} = ${k};`);
        const c = vl.cases[k]!;
        if (!c.type || payload === undefined) return;
        const flat = lowerFlat(g, c.type, payload, payloadPath(t, path, tagged), payloadTagged(t));
        flat.forEach((f, i) => g.emit(`${slots[i]} = ${coerceLower(f.expr, f.type, slotTypes[i]!)};`));
      });
      return [{ expr: d, type: "i32" }, ...slots.map((s, i) => ({ expr: s, type: slotTypes[i]! }))];
    }
  }
}

function store(g: Gen, t: WitType, e: Expr, addr: Expr, path: Expr, tagged: boolean): void {
  switch (t.kind) {
    case "bool":
      g.emit(`u8[${addr}] = ${e} ? 1 : 0;`);
      return;
    case "u8":
    case "s8":
      g.emit(`u8[${addr}] = ${e};`);
      return;
    case "u16":
    case "s16":
      g.emit(`dv.setUint16(${addr}, ${e}, true);`);
      return;
    case "u32":
    case "s32":
      g.emit(`dv.setUint32(${addr}, ${e}, true);`);
      return;
    case "u64":
      g.emit(`dv.setBigUint64(${addr}, ${e}, true);`);
      return;
    case "s64":
      g.emit(`dv.setBigInt64(${addr}, ${e}, true);`);
      return;
    case "f32":
      g.emit(`dv.setFloat32(${addr}, ${e}, true);`);
      return;
    case "f64":
      g.emit(`dv.setFloat64(${addr}, ${e}, true);`);
      return;
    case "char":
      g.emit(`dv.setUint32(${addr}, ${e}.codePointAt(0), true);`);
      return;
    case "string":
    case "list": {
      const a = g.bind(addr, "m");
      const [p, l] = t.kind === "string" ? lowerString(g, g.bind(e), path) : lowerList(g, (t as ListType).element, g.bind(e), path);
      g.emit(`dv.setUint32(${a}, ${p}, true); dv.setUint32(${a} + 4, ${l}, true);`);
      return;
    }
    case "record": {
      const v = g.bind(e);
      const a = g.bind(addr, "m");
      const offs = fieldOffsets(t.fields.map((f) => f.type));
      t.fields.forEach((f, i) => store(g, f.type, prop(v, jsName(f.name)), `${a} + ${offs[i]}`, pathDot(path, jsName(f.name)), false));
      return;
    }
    case "tuple": {
      const v = g.bind(e);
      const a = g.bind(addr, "m");
      const offs = fieldOffsets(t.items);
      t.items.forEach((it, i) => store(g, it, `${v}[${i}]`, `${a} + ${offs[i]}`, pathIdx(path, String(i)), false));
      return;
    }
    case "flags": {
      const v = g.bind(e);
      const a = g.bind(addr, "m");
      const size = layoutOf(t).size;
      const words = flagWordsOf(t, v);
      if (size === 1) g.emit(`u8[${a}] = ${words[0]};`);
      else if (size === 2) g.emit(`dv.setUint16(${a}, ${words[0]}, true);`);
      else words.forEach((w, i) => g.emit(`dv.setUint32(${a} + ${4 * i}, ${w}, true);`));
      return;
    }
    case "enum":
    case "variant":
    case "option":
    case "result": {
      const vl = variantLayout(t);
      const v = g.bind(e);
      const a = g.bind(addr, "m");
      const setDisc = (k: number) =>
        vl.discSize === 1 ? `u8[${a}] = ${k};` : vl.discSize === 2 ? `dv.setUint16(${a}, ${k}, true);` : `dv.setUint32(${a}, ${k}, true);`;
      caseSwitch(g, t, v, tagged, (k, payload) => {
        g.emit(setDisc(k));
        const c = vl.cases[k]!;
        if (c.type && payload !== undefined) store(g, c.type, payload, `${a} + ${vl.payloadOffset}`, payloadPath(t, path, tagged), payloadTagged(t));
      });
      return;
    }
  }
}

// ── assembling functions ──

const RUNTIME_NAMES = ["V", "G", "Eg", "Eh", "RS", "UL", "WS", "WA", "I2F", "F2I", "L2D", "D2L", "DESC", "ISCHAR", "ISTHEN", "NOREALLOC"] as const;

function isChar(s: string): boolean {
  const cp = s.codePointAt(0);
  if (cp === undefined || s.length !== (cp > 0xffff ? 2 : 1)) return false;
  return cp < 0xd800 || cp > 0xdfff;
}

function runtime(ifaceId: string, fnName: string, guest: GuestAbi): unknown[] {
  const eg = (path: string, problem: string) => new InterfaceValueError(ifaceId, fnName, path, "guest", problem);
  const eh = (path: string, problem: string) => new InterfaceValueError(ifaceId, fnName, path, "host", problem);
  const noRealloc = () => {
    throw new InterfaceValueError(ifaceId, fnName, "", "guest", "the plugin exports no cabi_realloc, which lowering this value needs");
  };
  return [viewOf(guest), guest, eg, eh, readStr, utf8Length, writeStr, writeAscii, i32ToF32, f32ToI32, i64ToF64, f64ToI64, describe, isChar, isThenable, noRealloc];
}

/** The prologue a body needs: memory views and the allocator, when it uses them. */
function prologue(body: string): string {
  const lines: string[] = [];
  if (/\b(u8|dv)\b/.test(body)) lines.push("let u8 = V.u8, dv = V.dv;", REFRESH);
  if (/\bR\(/.test(body)) lines.push("const R = G.realloc ?? NOREALLOC;");
  return lines.join("\n");
}

let compiled = 0;

/**
 * Compile one generated function. Its source names it uniquely (a sourceURL, which also labels it in profiles): V8
 * caches `new Function` by source, and functions from one cached source share their type feedback, so the same
 * trampoline of two plugin instances (each closing over its own memory, allocator and host function) would turn
 * polymorphic and lose its inlining; unique sources keep each instance's code specialised.
 */
function compile<T>(g: Gen, rt: unknown[], fnSource: string): T {
  const names = [...RUNTIME_NAMES, ...g.names];
  const url = `plughost-abi/${++compiled}/${safeName(fnSource.slice(16, fnSource.indexOf("(")))}.js`;
  const factory = new Function(...names, `"use strict";\n${fnSource}\n//# sourceURL=${url}`) as (...values: unknown[]) => T;
  return factory(...rt, ...g.values);
}

const safeName = (s: string): string => s.replace(/[^\w$]/g, "_");

/** A result type whose JS form may be an object (a Promise would pass some checks): tested for thenables first. */
function objectLike(t: WitType): boolean {
  return !(t.kind in INT_CHECK) && t.kind !== "string" && t.kind !== "char" && t.kind !== "enum";
}

/**
 * The core-wasm function a guest imports for `fn` of host interface `iface` (module `<versioned id>`, field `fn.name`).
 * `call` gets the lifted arguments and returns the JS result; `guest` gives the guest's memory and `cabi_realloc`
 * (read at call time, so it may be filled in after instantiation). Throws `InterfaceValueError` (side "guest" for a
 * bad argument or return area, "host" for a result that does not fit), `HostImplementationError` when `call` throws,
 * and `InterfaceUnavailable` "async" when `call` returns a Promise.
 */
export function hostImportTrampoline(iface: WitInterface, fn: WitFunction, call: HostCall, guest: GuestAbi): (...core: never[]) => unknown {
  const id = interfaceId(iface);
  const sig = flatSignature(fn);
  const g = new Gen(false);
  const callK = g.konst(call, "call");
  const hostErr = g.konst((e: unknown) => new HostImplementationError(id, fn.name, e), "hi");
  const asyncErr = g.konst(
    () =>
      new InterfaceUnavailable(
        id,
        "async",
        `the implementation of ${fn.name} returned a Promise, but a plugin on the in-process v8 engine cannot wait for one; run the plugin with worker isolation or on the wasmtime engine, or make ${jsName(fn.name)} synchronous`,
      ),
    "async",
  );
  const params: string[] = [];
  const args: string[] = [];
  if (sig.paramsSpilled) {
    params.push("pp");
    const tl = layoutOf(sig.paramTuple);
    g.emit("const pa = pp >>> 0;");
    g.emit(
      `if (pa % ${tl.align} !== 0 || pa + ${tl.size} > u8.length) throw Eg("", "spilled parameters at " + pa + " are not a ${tl.align}-byte aligned block of ${tl.size} bytes inside the plugin's memory");`,
    );
    const offs = fieldOffsets(fn.params.map((p) => p.type));
    fn.params.forEach((p, i) => args.push(g.bind(load(g, p.type, `pa + ${offs[i]}`, lit(jsName(p.name)), false), "a")));
  } else {
    sig.params.forEach((_, i) => params.push(`P${i}`));
    const r = new Reader(sig.params.map((type, i) => ({ expr: `P${i}`, type })));
    for (const p of fn.params) args.push(g.bind(liftFlat(g, p.type, r, lit(jsName(p.name)), false), "a"));
  }
  if (sig.resultSpilled) {
    params.push("ret");
    const rl = layoutOf(fn.result!);
    g.emit("const rp = ret >>> 0;");
    g.emit(
      `if (rp % ${rl.align} !== 0 || rp + ${rl.size} > u8.length) throw Eg("result", "return area " + rp + " is not a ${rl.align}-byte aligned block of ${rl.size} bytes inside the plugin's memory");`,
    );
  }
  g.emit("let r;");
  g.emit(`try { r = ${callK}([${args.join(", ")}]); } catch (e) { throw ${hostErr}(e); }`);
  if (!fn.result) {
    g.emit(`if (r !== undefined && ISTHEN(r)) throw ${asyncErr}();`);
  } else {
    if (objectLike(fn.result)) g.emit(`if (ISTHEN(r)) throw ${asyncErr}();`);
    g.emit("try {");
    check(g, fn.result, "r", lit("result"), false);
    g.emit(`} catch (e) { throw ISTHEN(r) ? ${asyncErr}() : e; }`);
    if (sig.resultSpilled) store(g, fn.result, "r", "rp", lit("result"), false);
    else {
      const flat = lowerFlat(g, fn.result, "r", lit("result"), false);
      g.emit(`return ${flat[0]!.expr};`);
    }
  }
  const body = g.lines.join("\n");
  const src = `return function ${safeName(`${iface.name}_${fn.name}`)}(${params.join(", ")}) {\n${prologue(body)}\n${body}\n};`;
  return compile(g, runtime(id, fn.name, guest), src);
}

/**
 * A caller for `fn` of a guest's typed export `iface`: `coreExport` is the guest core's `<versioned id>#<name>`,
 * `postReturn` its `cabi_post_…` (if any). Arguments are checked first (side "host", nothing has run in the guest),
 * then lowered (strings and lists through the guest's `cabi_realloc`; more than 16 flat values spill into one block);
 * the result is lifted (side "guest" errors) and copied out before post-return runs.
 */
export function exportCaller(
  iface: WitInterface,
  fn: WitFunction,
  coreExport: (...core: never[]) => unknown,
  postReturn: ((...core: never[]) => unknown) | undefined,
  guest: GuestAbi,
): ExportCaller {
  const id = interfaceId(iface);
  const sig = flatSignature(fn);
  const rt = runtime(id, fn.name, guest);

  // The check pass.
  const gc = new Gen(true);
  gc.emit(`if (args.length !== ${fn.params.length}) throw Eh("", "expected ${fn.params.length} argument${fn.params.length === 1 ? "" : "s"}, got " + args.length);`);
  fn.params.forEach((p, i) => check(gc, p.type, `args[${i}]`, lit(jsName(p.name)), false));
  const checkFn = compile<(args: readonly unknown[]) => void>(gc, rt, `return function check(args) {\n${gc.lines.join("\n")}\n};`);

  // The call.
  const g = new Gen(true);
  const core = g.konst(coreExport, "core");
  const post = postReturn ? g.konst(postReturn, "post") : undefined;
  let coreArgs: string[];
  if (sig.paramsSpilled) {
    const tl = layoutOf(sig.paramTuple);
    const tp = alloc(g, String(tl.size), tl.align, '""');
    const offs = fieldOffsets(fn.params.map((p) => p.type));
    fn.params.forEach((p, i) => store(g, p.type, `args[${i}]`, `${tp} + ${offs[i]}`, lit(jsName(p.name)), false));
    coreArgs = [tp];
  } else {
    coreArgs = fn.params.flatMap((p, i) => lowerFlat(g, p.type, `args[${i}]`, lit(jsName(p.name)), false).map((f) => g.bind(f.expr, "f")));
  }
  g.emit(`const ret = ${core}(${coreArgs.join(", ")});`);
  let out = "undefined";
  if (fn.result) {
    if (sig.resultSpilled) {
      const rl = layoutOf(fn.result);
      g.emit(REFRESH);
      g.emit("const rp = ret >>> 0;");
      g.emit(
        `if (rp % ${rl.align} !== 0 || rp + ${rl.size} > u8.length) throw Eg("result", "returned pointer " + rp + " is not a ${rl.align}-byte aligned block of ${rl.size} bytes inside the plugin's memory");`,
      );
      out = g.bind(load(g, fn.result, "rp", lit("result"), false), "out");
    } else {
      // The call may have grown memory: refresh the views when the lift reads memory.
      const at = g.lines.length;
      const r = new Reader([{ expr: "ret", type: sig.results[0]! }]);
      out = g.bind(liftFlat(g, fn.result, r, lit("result"), false), "out");
      if (/\b(u8|dv)\b/.test(g.lines.slice(at).join("\n"))) g.lines.splice(at, 0, REFRESH);
    }
  }
  if (post) g.emit(sig.results.length || sig.resultSpilled ? `${post}(ret);` : `${post}();`);
  g.emit(`return ${out};`);
  const body = g.lines.join("\n");
  const unchecked = compile<(args: readonly unknown[]) => unknown>(g, rt, `return function ${safeName(`${iface.name}_${fn.name}`)}(args) {\n${prologue(body)}\n${body}\n};`);
  const caller = ((args: readonly unknown[]) => {
    checkFn(args);
    return unchecked(args);
  }) as ExportCaller;
  caller.check = checkFn;
  caller.unchecked = unchecked;
  return caller;
}

/** The generated source of a trampoline or export caller, for debugging (`PLUGHOST_DEBUG_ABI`). @internal */
export const generatorInternals = { liftFlat, load, check, lowerFlat, store };
