/**
 * Where a hook's output goes on the hook chain's synchronous path: a buffer
 * the chain owns and reuses, so that a step costs no allocation. The chain
 * alternates two sinks (a step's input stays intact while the next step
 * writes the other), and copies the final data out once, when the direct
 * run ends. An engine instance that can fill a sink offers `onHookSyncInto`.
 */
import type { HookOutcome } from "../engines/engine.js";

/** @internal A reusable output buffer and the view of its filled part. */
export interface HookSink {
  /** The bytes; replaced (never written again) when a larger output needs more room. */
  buf: Uint8Array;
  /** `buf.subarray(0, length of the last output)`, kept while the length repeats. */
  view: Uint8Array;
  /** A DataView of `buf`, for copying four bytes at a time. */
  dv: DataView;
}

/** @internal An engine instance whose hook call can write an ok result into a sink. */
export interface SinkHookCall {
  /**
   * `onHookSync`, but an ok result's data is `sink.view` (or, for an output larger than the sink may grow, a fresh
   * copy), and the returned object may be reused by the next call: read it at once. `from`: the sink whose view
   * `data` is, when it is one (never `sink`).
   */
  onHookSyncInto(eventName: string, data: Uint8Array, sink: HookSink, from?: HookSink): HookOutcome;
}

/** Outputs up to this size are copied into a sink; larger ones are handed over as a fresh copy (the copy dominates). */
export const SINK_MAX = 64 * 1024;

/** @internal A new, empty sink. */
export function newHookSink(): HookSink {
  const buf = new Uint8Array(64);
  return { buf, view: buf.subarray(0, 0), dv: new DataView(buf.buffer) };
}

/**
 * @internal Copy `len` bytes at `ptr` of a guest's memory (`mem`, `memDv`: views of it) into `sink`; returns what
 * the step's data is (`sink.view`, or a copy when `len` exceeds `SINK_MAX`). The caller has checked the bounds.
 */
export function fillSink(sink: HookSink, mem: Uint8Array, memDv: DataView, ptr: number, len: number): Uint8Array {
  let buf = sink.buf;
  if (len > buf.length) {
    if (len > SINK_MAX) return mem.slice(ptr, ptr + len);
    buf = sink.buf = new Uint8Array(Math.max(len, 2 * buf.length));
    sink.view = buf.subarray(0, len);
    sink.dv = new DataView(buf.buffer);
  } else if (sink.view.length !== len) {
    sink.view = buf.subarray(0, len);
  }
  if (len > 256) {
    buf.set(mem.subarray(ptr, ptr + len));
    return sink.view;
  }
  // Short outputs four bytes at a time: each access to a typed array checks its buffer (guest memory can be
  // detached by a grow), and `set` through a subarray costs an allocation.
  const out = sink.dv;
  let k = 0;
  for (; k + 4 <= len; k += 4) out.setInt32(k, memDv.getInt32(ptr + k, true), true);
  for (; k < len; k++) buf[k] = mem[ptr + k]!;
  return sink.view;
}
