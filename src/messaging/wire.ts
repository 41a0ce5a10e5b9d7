/**
 * The binary form of a {@link WireMessage} and of a request's outcome, shared by
 * transports. Compact and versioned: a fixed 16-byte head, length-prefixed UTF-8
 * strings, then the payload bytes as they are (no copy on decode).
 *
 * Message frame (little endian):
 *   u8 version (1) · u8 kind (MESSAGE_KIND_CODE) · u8 flags · u8 0 · f64 id
 *   [f64 parentId] [u32 timeoutMs]
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
const HEAD = 16;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** A frame that cannot be decoded: truncated, a wrong version, a bad enum code or invalid UTF-8. */
export class WireFormatError extends Error {}

/** Encodes `message` as one frame (a fresh buffer the caller may hand to a socket). */
export function encodeWire(message: WireMessage): Uint8Array {
  const meta = Object.entries(message.metadata);
  const chain = message.chain;
  let flags = 0;
  // Upper bound: 3 bytes per UTF-16 unit, plus the length prefixes.
  let bound = HEAD + 8 + 4 + 2 + 2 + 3 * (message.origin.length + message.event.length);
  if (message.parentId !== undefined) flags |= F_PARENT;
  if (message.timeoutMs !== undefined) flags |= F_TIMEOUT;
  if (message.source !== undefined) { flags |= F_SOURCE; bound += 2 + 3 * message.source.length; }
  if (message.target !== undefined) { flags |= F_TARGET; bound += 2 + 3 * message.target.length; }
  for (const [k, v] of meta) bound += 6 + 3 * (k.length + v.length);
  if (chain !== undefined) {
    flags |= F_CHAIN;
    bound += 2;
    for (const c of chain) bound += 2 + 3 * c.length;
  }
  bound += message.data.length;
  const out = new Uint8Array(bound);
  const view = new DataView(out.buffer);
  out[0] = WIRE_VERSION;
  out[1] = MESSAGE_KIND_CODE[message.kind];
  out[2] = flags;
  view.setFloat64(4, message.id, true);
  let at = 12;
  if (message.parentId !== undefined) { view.setFloat64(at, message.parentId, true); at += 8; }
  if (message.timeoutMs !== undefined) { view.setUint32(at, Math.max(0, Math.min(0xffffffff, Math.trunc(message.timeoutMs))), true); at += 4; }
  const str = (s: string): void => {
    const n = utf8.encodeInto(s, out.subarray(at + 2)).written;
    if (n > 0xffff) throw new WireFormatError(`a string of ${n} bytes does not fit a frame (limit 65535)`);
    view.setUint16(at, n, true);
    at += 2 + n;
  };
  str(message.origin);
  str(message.event);
  if (message.source !== undefined) str(message.source);
  if (message.target !== undefined) str(message.target);
  if (meta.length > 0xffff) throw new WireFormatError(`${meta.length} metadata entries do not fit a frame (limit 65535)`);
  view.setUint16(at, meta.length, true);
  at += 2;
  for (const [k, v] of meta) {
    str(k);
    const n = utf8.encodeInto(v, out.subarray(at + 4)).written;
    view.setUint32(at, n, true);
    at += 4 + n;
  }
  if (chain !== undefined) {
    view.setUint16(at, chain.length, true);
    at += 2;
    for (const c of chain) str(c);
  }
  out.set(message.data, at);
  return out.subarray(0, at + message.data.length);
}

/** Decodes a frame written by {@link encodeWire}; the payload is a view into `frame`. Throws {@link WireFormatError}. */
export function decodeWire(frame: Uint8Array): WireMessage {
  if (frame.length < 12) throw new WireFormatError(`a frame of ${frame.length} bytes is shorter than its head`);
  if (frame[0] !== WIRE_VERSION) throw new WireFormatError(`frame version ${frame[0]} (this host reads ${WIRE_VERSION})`);
  const kind: MessageKind | undefined = MESSAGE_KINDS[frame[1]!];
  if (kind === undefined) throw new WireFormatError(`unknown message kind ${frame[1]}`);
  const flags = frame[2]!;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let at = 12;
  const need = (n: number): void => {
    if (at + n > frame.length) throw new WireFormatError("the frame is truncated");
  };
  const str = (): string => {
    need(2);
    const n = view.getUint16(at, true);
    need(2 + n);
    const s = decodeUtf8(frame, at + 2, n);
    at += 2 + n;
    return s;
  };
  const id = view.getFloat64(4, true);
  let parentId: number | undefined;
  let timeoutMs: number | undefined;
  if (flags & F_PARENT) { need(8); parentId = view.getFloat64(at, true); at += 8; }
  if (flags & F_TIMEOUT) { need(4); timeoutMs = view.getUint32(at, true); at += 4; }
  const origin = str();
  const event = str();
  const source = flags & F_SOURCE ? str() : undefined;
  const target = flags & F_TARGET ? str() : undefined;
  need(2);
  const metaCount = view.getUint16(at, true);
  at += 2;
  // No prototype: a key such as "__proto__" from another host is a plain key.
  const metadata = Object.create(null) as Record<string, string>;
  for (let i = 0; i < metaCount; i++) {
    const k = str();
    need(4);
    const n = view.getUint32(at, true);
    need(4 + n);
    metadata[k] = decodeUtf8(frame, at + 4, n);
    at += 4 + n;
  }
  let chain: string[] | undefined;
  if (flags & F_CHAIN) {
    need(2);
    const n = view.getUint16(at, true);
    at += 2;
    chain = [];
    for (let i = 0; i < n; i++) chain.push(str());
  }
  const message: {
    -readonly [K in keyof WireMessage]: WireMessage[K];
  } = { id, event, kind, data: frame.subarray(at), metadata, origin };
  if (parentId !== undefined) message.parentId = parentId;
  if (source !== undefined) message.source = source;
  if (target !== undefined) message.target = target;
  if (chain !== undefined) message.chain = chain;
  if (timeoutMs !== undefined) message.timeoutMs = timeoutMs;
  return message;
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
