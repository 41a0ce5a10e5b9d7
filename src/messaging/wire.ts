/**
 * The binary form of a {@link WireMessage} and of a request's outcome, shared by
 * transports. Compact and versioned: a fixed 16-byte head, length-prefixed UTF-8
 * strings, then the payload bytes as they are (no copy on decode).
 *
 * Message frame (little endian):
 *   u8 version (1) · u8 kind (MESSAGE_KIND_CODE) · u8 flags · u8 0 · f64 id
 *   [f64 parentId] [u32 timeoutMs] [u32 hop]
 *   str origin · str event · [str source] · [str target]
 *   u16 metadata count, each (str key, str32 value) · [u16 chain count, each str]
 *   the payload, to the end
 * where str is u16 length + UTF-8 and str32 is u32 length + UTF-8; the flags say
 * which bracketed fields are present.
 *
 * Outcome frame: u8 0 then the answer's bytes, or u8 1 then u8 REQUEST_ERROR_CODE.
 */

import { MESSAGE_KINDS, MESSAGE_KIND_CODE, REQUEST_ERRORS, REQUEST_ERROR_CODE } from "../contract/abi.js";
import type { MessageKind, RequestOutcome } from "../engines/engine.js";
import type { WireMessage } from "./transport.js";

/** The frame version this module writes and reads. */
export const WIRE_VERSION = 1;

const F_PARENT = 1;
const F_SOURCE = 2;
const F_TARGET = 4;
const F_CHAIN = 8;
const F_TIMEOUT = 16;
const F_HOP = 32;
const HEAD = 16;

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** A frame that cannot be decoded: truncated, a wrong version, a bad enum code or invalid UTF-8. */
export class WireFormatError extends Error {}

/** Encodes `message` as one frame (a fresh buffer the caller may hand to a socket). */
export function encodeWire(message: WireMessage): Uint8Array {
  const meta = message.metadata;
  const chain = message.chain;
  let flags = 0;
  // Upper bound: 3 bytes per UTF-16 unit, plus the length prefixes.
  let bound = HEAD + 8 + 4 + 2 + 2 + 3 * (message.origin.length + message.event.length);
  if (message.parentId !== undefined) flags |= F_PARENT;
  if (message.timeoutMs !== undefined) flags |= F_TIMEOUT;
  if (message.hop !== undefined) flags |= F_HOP;
  if (message.source !== undefined) { flags |= F_SOURCE; bound += 2 + 3 * message.source.length; }
  if (message.target !== undefined) { flags |= F_TARGET; bound += 2 + 3 * message.target.length; }
  let metaCount = 0;
  for (const k in meta) {
    metaCount++;
    bound += 6 + 3 * (k.length + meta[k]!.length);
  }
  if (metaCount > 0xffff) throw new WireFormatError(`${metaCount} metadata entries do not fit a frame (limit 65535)`);
  if (chain !== undefined) {
    flags |= F_CHAIN;
    bound += 2;
    for (const c of chain) bound += 2 + 3 * c.length;
  }
  bound += message.data.length;
  // A Buffer (off the JS heap) rather than a small Uint8Array: its bytes never move, and encodeInto writes straight in.
  const out = Buffer.allocUnsafe(bound);
  out[0] = WIRE_VERSION;
  out[1] = MESSAGE_KIND_CODE[message.kind];
  out[2] = flags;
  out[3] = 0;
  out.writeDoubleLE(message.id, 4);
  let at = 12;
  if (message.parentId !== undefined) { out.writeDoubleLE(message.parentId, at); at += 8; }
  if (message.timeoutMs !== undefined) { out.writeUInt32LE(u32(message.timeoutMs), at); at += 4; }
  if (message.hop !== undefined) { out.writeUInt32LE(u32(message.hop), at); at += 4; }
  at = putStr(out, at, message.origin, 2);
  at = putStr(out, at, message.event, 2);
  if (message.source !== undefined) at = putStr(out, at, message.source, 2);
  if (message.target !== undefined) at = putStr(out, at, message.target, 2);
  out.writeUInt16LE(metaCount, at);
  at += 2;
  for (const k in meta) {
    at = putStr(out, at, k, 2);
    at = putStr(out, at, meta[k]!, 4);
  }
  if (chain !== undefined) {
    out.writeUInt16LE(chain.length, at);
    at += 2;
    for (const c of chain) at = putStr(out, at, c, 2);
  }
  out.set(message.data, at);
  // A plain Uint8Array view: a Buffer's slice() would not copy, surprising a caller that copies with it.
  return new Uint8Array(out.buffer, out.byteOffset, at + message.data.length);
}

/** `n` clamped to a u32. */
function u32(n: number): number {
  return Number.isFinite(n) ? Math.max(0, Math.min(0xffffffff, Math.trunc(n))) : 0;
}

/** Writes `s` as UTF-8 after a `prefix`-byte length at `at`; the offset after it. ASCII, the usual case, byte by byte. */
function putStr(out: Buffer, at: number, s: string, prefix: 2 | 4): number {
  const start = at + prefix;
  let n = s.length;
  let ascii = true;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) { ascii = false; break; }
    out[start + i] = c;
  }
  if (!ascii) n = out.write(s, start, "utf8");
  if (prefix === 2) {
    if (n > 0xffff) throw new WireFormatError(`a string of ${n} bytes does not fit a frame (limit 65535)`);
    out.writeUInt16LE(n, at);
  } else {
    out.writeUInt32LE(n, at);
  }
  return start + n;
}

/** Decodes a frame written by {@link encodeWire}; the payload is a view into `frame`. Throws {@link WireFormatError}. */
export function decodeWire(frame: Uint8Array): WireMessage {
  const r = new Reader(frame);
  if (frame.length < 12) throw new WireFormatError(`a frame of ${frame.length} bytes is shorter than its head`);
  if (frame[0] !== WIRE_VERSION) throw new WireFormatError(`frame version ${frame[0]} (this host reads ${WIRE_VERSION})`);
  const kind: MessageKind | undefined = MESSAGE_KINDS[frame[1]!];
  if (kind === undefined) throw new WireFormatError(`unknown message kind ${frame[1]}`);
  const flags = frame[2]!;
  r.at = 4;
  const id = r.f64();
  const parentId = flags & F_PARENT ? r.f64() : undefined;
  const timeoutMs = flags & F_TIMEOUT ? r.u32() : undefined;
  const hop = flags & F_HOP ? r.u32() : undefined;
  const origin = r.str(r.u16());
  const event = r.str(r.u16());
  const source = flags & F_SOURCE ? r.str(r.u16()) : undefined;
  const target = flags & F_TARGET ? r.str(r.u16()) : undefined;
  const metaCount = r.u16();
  let metadata: Record<string, string> = NO_METADATA;
  if (metaCount > 0) {
    metadata = {};
    for (let i = 0; i < metaCount; i++) {
      const k = r.str(r.u16());
      const v = r.str(r.u32());
      // A key "__proto__" from another host stays a plain key, never the object's prototype.
      if (k === "__proto__") Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      else metadata[k] = v;
    }
  }
  let chain: string[] | undefined;
  if (flags & F_CHAIN) {
    const n = r.u16();
    chain = [];
    for (let i = 0; i < n; i++) chain.push(r.str(r.u16()));
  }
  const message: {
    -readonly [K in keyof WireMessage]: WireMessage[K];
  } = { id, event, kind, data: frame.subarray(r.at), metadata, origin };
  if (parentId !== undefined) message.parentId = parentId;
  if (source !== undefined) message.source = source;
  if (target !== undefined) message.target = target;
  if (chain !== undefined) message.chain = chain;
  if (timeoutMs !== undefined) message.timeoutMs = timeoutMs;
  if (hop !== undefined) message.hop = hop;
  return message;
}

const NO_METADATA: Record<string, string> = Object.freeze({}) as Record<string, string>;
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

/** Bounds-checked little-endian reads from a frame. */
class Reader {
  at = 0;
  constructor(readonly b: Uint8Array) {}
  #need(n: number): void {
    if (this.at + n > this.b.length) throw new WireFormatError("the frame is truncated");
  }
  u16(): number {
    this.#need(2);
    const v = this.b[this.at]! | (this.b[this.at + 1]! << 8);
    this.at += 2;
    return v;
  }
  u32(): number {
    this.#need(4);
    const b = this.b;
    const v = (b[this.at]! | (b[this.at + 1]! << 8) | (b[this.at + 2]! << 16)) + b[this.at + 3]! * 0x1000000;
    this.at += 4;
    return v;
  }
  f64(): number {
    this.#need(8);
    for (let i = 0; i < 8; i++) f64Bytes[i] = this.b[this.at + i]!;
    this.at += 8;
    return f64[0]!;
  }
  /** `n` bytes of UTF-8; short ASCII strings (names, the usual case) without a decoder call. */
  str(n: number): string {
    this.#need(n);
    const b = this.b;
    const start = this.at;
    this.at += n;
    if (n <= 64) {
      let s = "";
      for (let i = start; i < start + n; i++) {
        const c = b[i]!;
        if (c > 0x7f) return decodeUtf8(b, start, n);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return decodeUtf8(b, start, n);
  }
}

/** Encodes a request's outcome as the reply frame. */
export function encodeOutcome(outcome: RequestOutcome): Uint8Array {
  if (!outcome.ok) return Uint8Array.of(1, REQUEST_ERROR_CODE[outcome.error]);
  const out = new Uint8Array(1 + outcome.value.length);
  out.set(outcome.value, 1);
  return out;
}

/** Decodes a reply frame; the answer is a view into `frame`. Throws {@link WireFormatError}. */
export function decodeOutcome(frame: Uint8Array): RequestOutcome {
  if (frame.length >= 1 && frame[0] === 0) return { ok: true, value: frame.subarray(1) };
  if (frame.length === 2 && frame[0] === 1) {
    const error = REQUEST_ERRORS[frame[1]!];
    if (error !== undefined) return { ok: false, error };
  }
  throw new WireFormatError(`a reply of ${frame.length} bytes is not an outcome frame`);
}

function decodeUtf8(frame: Uint8Array, at: number, n: number): string {
  try {
    return utf8Decoder.decode(frame.subarray(at, at + n));
  } catch {
    throw new WireFormatError("a string is not valid UTF-8");
  }
}
