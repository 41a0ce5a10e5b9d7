/**
 * The canonical ABI's static facts about a `WitType` (the Component Model's CanonicalABI.md): size and alignment in
 * linear memory, and the flat core-wasm types a value passes as. Computed once per type object and cached.
 */
import type { WitCase, WitFunction, WitType } from "./types.js";

/** At most this many flat parameters pass as core parameters; more spill to memory behind one pointer. */
export const MAX_FLAT_PARAMS = 16;
/** At most this many flat results return as core results; more go through a return area. */
export const MAX_FLAT_RESULTS = 1;

/** A core WebAssembly value type. */
export type CoreType = "i32" | "i64" | "f32" | "f64";

/** Where a type lives in linear memory and how it flattens. */
export interface Layout {
  readonly size: number;
  readonly align: number;
  readonly flat: readonly CoreType[];
}

/** A variant-like type's discriminant width and payload placement. */
export interface VariantLayout extends Layout {
  /** The cases in discriminant order (option: none, some; result: ok, err; enum: payload-less). */
  readonly cases: readonly WitCase[];
  /** Bytes of the discriminant: 1, 2 or 4. */
  readonly discSize: number;
  /** Offset of the payload from the start of the value. */
  readonly payloadOffset: number;
}

const cache = new WeakMap<WitType, Layout>();

export const alignTo = (x: number, a: number): number => Math.ceil(x / a) * a;

/** The cases of a variant-like type (variant, option, result, enum), or undefined for any other kind. */
export function variantCases(t: WitType): readonly WitCase[] | undefined {
  switch (t.kind) {
    case "variant":
      return t.cases;
    case "option":
      return [{ name: "none" }, { name: "some", type: t.some }];
    case "result":
      return [
        { name: "ok", ...(t.ok ? { type: t.ok } : {}) },
        { name: "err", ...(t.err ? { type: t.err } : {}) },
      ];
    case "enum":
      return t.cases.map((name) => ({ name }));
    default:
      return undefined;
  }
}

/** The discriminant's byte size for `n` cases. */
export const discriminantSize = (n: number): number => (n <= 0x100 ? 1 : n <= 0x10000 ? 2 : 4);

/** How many 32-bit words a flags type of `n` flags uses when flattened (and when n > 16, in memory). */
export const flagWords = (n: number): number => Math.ceil(n / 32);

/** Join two flat types of different cases in the same slot (CanonicalABI.md `join`). */
export function joinFlat(a: CoreType, b: CoreType): CoreType {
  if (a === b) return a;
  if ((a === "i32" && b === "f32") || (a === "f32" && b === "i32")) return "i32";
  return "i64";
}

/** Size, alignment and flattening of `t`. */
export function layoutOf(t: WitType): Layout {
  let l = cache.get(t);
  if (!l) {
    l = compute(t);
    cache.set(t, l);
  }
  return l;
}

/** `layoutOf` for a variant-like type, with its discriminant and payload placement. */
export function variantLayout(t: WitType): VariantLayout {
  const l = layoutOf(t);
  if (!("discSize" in l)) throw new TypeError(`${t.kind} is not a variant-like type`);
  return l as VariantLayout;
}

function recordLayout(types: readonly WitType[]): Layout {
  let size = 0;
  let align = 1;
  const flat: CoreType[] = [];
  for (const ft of types) {
    const fl = layoutOf(ft);
    size = alignTo(size, fl.align) + fl.size;
    align = Math.max(align, fl.align);
    flat.push(...fl.flat);
  }
  return { size: alignTo(size, align), align, flat };
}

/** Byte offsets of a record's (or tuple's) fields. */
export function fieldOffsets(types: readonly WitType[]): number[] {
  const out: number[] = [];
  let at = 0;
  for (const ft of types) {
    const fl = layoutOf(ft);
    at = alignTo(at, fl.align);
    out.push(at);
    at += fl.size;
  }
  return out;
}

function compute(t: WitType): Layout {
  switch (t.kind) {
    case "bool":
    case "u8":
    case "s8":
      return { size: 1, align: 1, flat: ["i32"] };
    case "u16":
    case "s16":
      return { size: 2, align: 2, flat: ["i32"] };
    case "u32":
    case "s32":
    case "char":
      return { size: 4, align: 4, flat: ["i32"] };
    case "f32":
      return { size: 4, align: 4, flat: ["f32"] };
    case "u64":
    case "s64":
      return { size: 8, align: 8, flat: ["i64"] };
    case "f64":
      return { size: 8, align: 8, flat: ["f64"] };
    case "string":
    case "list":
      return { size: 8, align: 4, flat: ["i32", "i32"] };
    case "record":
      return recordLayout(t.fields.map((f) => f.type));
    case "tuple":
      return recordLayout(t.items);
    case "flags": {
      const n = t.flags.length;
      if (n === 0) return { size: 0, align: 1, flat: [] };
      const words = flagWords(n);
      const flat = new Array<CoreType>(words).fill("i32");
      if (n <= 8) return { size: 1, align: 1, flat };
      if (n <= 16) return { size: 2, align: 2, flat };
      return { size: 4 * words, align: 4, flat };
    }
    case "variant":
    case "option":
    case "result":
    case "enum": {
      const cases = variantCases(t)!;
      const discSize = discriminantSize(cases.length);
      let caseAlign = 1;
      let caseSize = 0;
      const payload: CoreType[] = [];
      for (const c of cases) {
        if (!c.type) continue;
        const cl = layoutOf(c.type);
        caseAlign = Math.max(caseAlign, cl.align);
        caseSize = Math.max(caseSize, cl.size);
        cl.flat.forEach((ft, i) => {
          payload[i] = i < payload.length ? joinFlat(payload[i]!, ft) : ft;
        });
      }
      const align = Math.max(discSize, caseAlign);
      const payloadOffset = alignTo(discSize, caseAlign);
      const v: VariantLayout = { size: alignTo(payloadOffset + caseSize, align), align, flat: ["i32", ...payload], cases, discSize, payloadOffset };
      return v;
    }
  }
}

/** The flat core signature of a function as the canonical ABI passes it (before spilling). */
export interface FlatSignature {
  /** Flat parameter types of all parameters, in order. */
  readonly params: readonly CoreType[];
  /** Flat result types. */
  readonly results: readonly CoreType[];
  /** More than MAX_FLAT_PARAMS: the parameters pass in memory behind one i32 pointer. */
  readonly paramsSpilled: boolean;
  /** More than MAX_FLAT_RESULTS: the result passes through a return area. */
  readonly resultSpilled: boolean;
  /** The parameters as one tuple (the spilled layout). */
  readonly paramTuple: WitType;
}

const sigCache = new WeakMap<WitFunction, FlatSignature>();

/** The flat signature of `fn`. */
export function flatSignature(fn: WitFunction): FlatSignature {
  let s = sigCache.get(fn);
  if (!s) {
    const paramTuple: WitType = { kind: "tuple", items: fn.params.map((p) => p.type) };
    const params = layoutOf(paramTuple).flat;
    const results = fn.result ? layoutOf(fn.result).flat : [];
    s = { params, results, paramsSpilled: params.length > MAX_FLAT_PARAMS, resultSpilled: results.length > MAX_FLAT_RESULTS, paramTuple };
    sigCache.set(fn, s);
  }
  return s;
}

/**
 * The core-wasm signature of `fn`: as imported by a guest (`lower`: a spilled result adds an i32 return-area pointer
 * parameter and returns nothing), or as exported by a guest (`lift`: a spilled result returns an i32 pointer).
 */
export function coreSignature(fn: WitFunction, side: "import" | "export"): { params: CoreType[]; results: CoreType[] } {
  const s = flatSignature(fn);
  const params: CoreType[] = s.paramsSpilled ? ["i32"] : [...s.params];
  if (!s.resultSpilled) return { params, results: [...s.results] };
  return side === "import" ? { params: [...params, "i32"], results: [] } : { params, results: ["i32"] };
}
