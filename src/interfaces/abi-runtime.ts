/**
 * Small helpers the generated canonical-ABI functions call (canonical-abi.ts): guest memory views that survive
 * `memory.grow`, UTF-8 in and out of guest memory, float/int bit casts, and describing a bad JS value.
 */

/** What the canonical ABI needs of a guest instance: its memory and allocator (filled in once it is instantiated). */
export interface GuestAbi {
  /** The guest's linear memory; undefined until the core instance exists. */
  memory: WebAssembly.Memory | undefined;
  /** The guest's `cabi_realloc(old-ptr, old-size, align, new-size) -> ptr`; undefined until instantiated. */
  realloc: ((oldPtr: number, oldSize: number, align: number, newSize: number) => number) | undefined;
}

/**
 * Cached views of a guest's memory. A `memory.grow` (in any call into the guest, `cabi_realloc` included) detaches
 * them: their length reads 0, which the generated code tests (cheaper than reading `memory.buffer`).
 */
export class MemView {
  u8 = new Uint8Array(0);
  dv = new DataView(new ArrayBuffer(0));
  readonly #guest: GuestAbi;
  constructor(guest: GuestAbi) {
    this.#guest = guest;
  }
  /** Re-create the views from the memory's current buffer; returns the byte view. */
  refresh(): Uint8Array {
    const memory = this.#guest.memory;
    if (!memory) throw new Error("the plugin's linear memory is not available (called before the component was instantiated)");
    const buffer = memory.buffer;
    this.u8 = new Uint8Array(buffer);
    this.dv = new DataView(buffer);
    return this.u8;
  }
}

const views = new WeakMap<GuestAbi, MemView>();

/** The one view holder of a guest, shared by all its generated functions. */
export function viewOf(guest: GuestAbi): MemView {
  let v = views.get(guest);
  if (!v) {
    v = new MemView(guest);
    views.set(guest, v);
  }
  return v;
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Node's Buffer methods this file uses on a plain Uint8Array (no subarray, one native call); undefined off Node. */
const nodeBuffer = Buffer.prototype as unknown as {
  latin1Slice?: (this: Uint8Array, start: number, end: number) => string;
  latin1Write?: (this: Uint8Array, s: string, offset: number, length: number) => number;
};
const latin1Slice = nodeBuffer.latin1Slice;
const latin1Write = nodeBuffer.latin1Write;

/** Strings up to this many bytes take the ASCII fast paths; longer ones go to the decoder. */
const SHORT = 64;

/** Decode `l` bytes at `p` (already bounds-checked; `dv` views the same memory) as UTF-8; null when not valid UTF-8. */
export function readStr(u8: Uint8Array, dv: DataView, p: number, l: number): string | null {
  // Kept tiny so V8 inlines it into the generated trampolines; the loops live in the two helpers.
  return l <= 8 ? readShort(u8, p, l) : readLonger(u8, dv, p, l);
}

/** Up to 8 bytes: a loop is cheaper than a call into the decoder (one-character strings come from V8's cache). */
function readShort(u8: Uint8Array, p: number, l: number): string | null {
  let s = "";
  for (let i = 0; i < l; i++) {
    const c = u8[p + i]!;
    if (c >= 0x80) return decodeSlow(u8, p, l);
    s += String.fromCharCode(c);
  }
  return s;
}

function readLonger(u8: Uint8Array, dv: DataView, p: number, l: number): string | null {
  if (l <= SHORT && latin1Slice !== undefined) {
    // Short ASCII (names, keys, ids): checked four bytes at a time, then one native copy. Bytes under 0x80 read the
    // same in Latin-1 and UTF-8, and ASCII is valid UTF-8 by construction; anything else goes to the strict decoder.
    let or = 0;
    let i = p;
    const e = p + l;
    for (; i + 4 <= e; i += 4) or |= dv.getUint32(i, true);
    for (; i < e; i++) or |= u8[i]!;
    if ((or & 0x80808080) === 0) return latin1Slice.call(u8, p, e);
  }
  return decodeSlow(u8, p, l);
}

function decodeSlow(u8: Uint8Array, p: number, l: number): string | null {
  try {
    return decoder.decode(u8.subarray(p, p + l));
  } catch {
    return null;
  }
}

/** The UTF-8 byte length of `s`, or -1 when it holds a lone surrogate (not a string of Unicode scalar values). */
export function utf8Length(s: string): number {
  const n = s.length;
  if (n <= 8) {
    // A tag or key of a few ASCII characters: a loop beats a call.
    let i = 0;
    while (i < n && s.charCodeAt(i) < 0x80) i++;
    if (i === n) return n;
  }
  // Node's byte length is a fast call; it equals the length only for ASCII (any other character takes 2-4 bytes, a
  // lone surrogate 3), so only a longer result needs the well-formedness check.
  const b = Buffer.byteLength(s, "utf8");
  if (b === n) return b;
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed() ? b : -1;
}

/** Write `s` (UTF-8 length `l`, from `utf8Length`) at `p` in guest memory (already bounds-checked). */
export function writeStr(u8: Uint8Array, p: number, s: string, l: number): void {
  if (l === s.length) {
    // ASCII (its UTF-8 length equals its length): byte stores up to ~32 characters, else one Latin-1 copy (the
    // same bytes for characters under 0x80), both cheaper than the encoder's call and subarray.
    if (l <= 32) {
      for (let i = 0; i < l; i++) u8[p + i] = s.charCodeAt(i);
      return;
    }
    if (latin1Write !== undefined) {
      latin1Write.call(u8, s, p, l);
      return;
    }
  }
  encoder.encodeInto(s, u8.subarray(p, p + l));
}

/**
 * Write `s` (`n` characters, room for `n` bytes at `p`, bounds-checked) as ASCII; false at its first character
 * that is not ASCII (the bytes written so far are then to be written again).
 */
export function writeAscii(u8: Uint8Array, p: number, s: string, n: number): boolean {
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return false;
    u8[p + i] = c;
  }
  return true;
}

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);
const f64 = new Float64Array(1);
const i64 = new BigInt64Array(f64.buffer);

/** The bits of an i32 as an f32 (a variant payload slot joined to i32). */
export function i32ToF32(x: number): number {
  i32[0] = x;
  return f32[0]!;
}
/** The bits of an f32 as an i32. */
export function f32ToI32(x: number): number {
  f32[0] = x;
  return i32[0]!;
}
/** The bits of an i64 as an f64. */
export function i64ToF64(x: bigint): number {
  i64[0] = x;
  return f64[0]!;
}
/** The bits of an f64 as an i64. */
export function f64ToI64(x: number): bigint {
  f64[0] = x;
  return i64[0]!;
}

/** A short description of a JS value for an error message. */
export function describe(x: unknown): string {
  if (x === undefined) return "undefined (missing)";
  if (x === null) return "null";
  switch (typeof x) {
    case "string":
      return x.length > 40 ? `a string of ${x.length} characters` : JSON.stringify(x);
    case "number":
    case "boolean":
      return String(x);
    case "bigint":
      return `${x}n`;
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
    default:
      if (Array.isArray(x)) return `an array of ${x.length}`;
      if (x instanceof Uint8Array) return `a Uint8Array of ${x.length}`;
      if (typeof (x as { then?: unknown }).then === "function") return "a Promise";
      return `an object (${(x as object).constructor?.name ?? "no prototype"})`;
  }
}

/** True for a Promise or other thenable. */
export function isThenable(x: unknown): boolean {
  return x !== null && (typeof x === "object" || typeof x === "function") && typeof (x as { then?: unknown }).then === "function";
}
