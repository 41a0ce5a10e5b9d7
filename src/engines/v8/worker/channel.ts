/**
 * The shared-memory channel between the host thread and a plugin's worker
 * (`isolation: "worker"`): two single-producer single-consumer byte rings in
 * one SharedArrayBuffer (requests host → worker, responses and host calls
 * worker → host), a control block of Int32 cells signalled with `Atomics`,
 * and a reply area for synchronous host calls. Payloads too big for a ring
 * travel over a MessagePort and are picked up with `receiveMessageOnPort`;
 * the ring record that announces them is written after the post, so the
 * message is always there when the reader sees the record.
 */

/**
 * Int32 cells of the control block, grouped by the thread that writes them on
 * separate 64-byte cache lines: while one side spins on the other's cells, a
 * store to its own does not take the line away from the reader.
 */
export const CTL = {
  // Written by the host thread.
  REQ_HEAD: 0,
  RESP_TAIL: 1,
  // Written by the worker, read by the spinning host.
  REQ_TAIL: 16,
  RESP_HEAD: 17,
  /** The worker is (about to be) blocked in Atomics.wait on REQ_HEAD; the host's first wake-up clears it. */
  WORKER_SLEEPING: 18,
  /** The worker waits for the host to free response-ring space. */
  RESP_WRITER_WAITING: 19,
  /** 1 while the worker runs a call (for deadlines); 0 between calls. Alone: stored twice per timed call, read by the deadline timer. */
  RUNNING: 32,
  /** 0: no reply; 1: the host wrote a host-call reply. */
  REPLY_STATE: 48,
  REPLY_CODE: 49,
  REPLY_VALUE: 50,
  /** Reply payload length in the reply area, or -1 when it came over the reply port. */
  REPLY_LEN: 51,
} as const;
const CTL_CELLS = 64;

/** Float64 cells, after the control block. */
export const F64 = {
  /** When the running call started (epoch ms, sub-ms precision). */
  STARTED_AT: 0,
  LAST_FUEL: 1,
  LIFETIME_FUEL: 2,
  /** The instance's linear memory in bytes after the last call. */
  MEMORY_BYTES: 3,
} as const;
const F64_CELLS = 4;

/**
 * The process-wide cells: the doorbell every worker rings when the host thread
 * sleeps, and whether spinning pays (1 while the busy workers plus the host
 * thread fit on the machine's cores; spinning on an oversubscribed machine only
 * steals the CPU from the thread being waited for). HOST_SLEEPING is set by the
 * host before it waits and cleared by the first worker that rings.
 */
export const BELL = { DOORBELL: 0, HOST_SLEEPING: 1, SPIN_OK: 2 } as const;

/** Request operations (host → worker). */
export const OP = {
  INIT: 1,
  TEARDOWN: 2,
  EVENT: 3,
  HOOK: 4,
  DEFINE_NAME: 5,
  CLEAR_NAMES: 6,
  PROFILE: 7,
  SUSPEND: 8,
  RESUME: 9,
  /** config-watch.on-config-changed: the payload is the config JSON. */
  CONFIG_CHANGED: 10,
  /** handoff.snapshot: answered with RESP.BYTES. */
  SNAPSHOT: 11,
  /** handoff.restore: the payload is the snapshot. */
  RESTORE: 12,
  /** A typed export (docs/host-interfaces.md): the payload is v8.serialize([iface, fn, args]); answered with RESP.BYTES, v8.serialize(value). */
  CALL_EXPORT: 13,
} as const;
/** RESP.LOADED's arg: bits for the optional exports the guest has (lifecycle, config-watch, handoff). */
export const LOADED_FLAGS = { ON_SUSPEND: 1, ON_RESUME: 2, ON_CONFIG_CHANGED: 4, HANDOFF: 8 } as const;

/** Response kinds (worker → host). */
export const RESP = {
  LOADED: 1,
  STATUS: 2,
  HOOK_OK: 3,
  HOOK_ERR: 4,
  ERROR: 5,
  LOG: 6,
  HOST_CALL: 7,
  VIOLATION: 8,
  /** The answer to OP.PROFILE: JSON (observability/profile.ts). */
  PROFILE: 9,
  /** A call's answer as bytes (OP.SNAPSHOT). */
  BYTES: 10,
} as const;

/** Synchronous host calls the guest makes (HOST_CALL records' `arg`). */
export const HOST_CALL = {
  REGISTER: 1,
  EMIT: 2,
  SEND: 3,
  GET_CONFIG: 4,
  GET_CONFIG_VALUE: 5,
  DEFINE_METRIC: 6,
  RECORD_METRIC: 7,
  /** Answered when the host's request settles (the worker waits meanwhile): [timeout-ms u32] then target and event length-prefixed, then the data. */
  REQUEST: 8,
  /** code 1 and the envelope as JSON (MessageInfo), or code 0 (none). */
  CURRENT_MESSAGE: 9,
  /*
   * State and context (entry.ts packs, host.ts unpacks): code 0 ok, else 1 + the state-error / context-error code.
   * STATE_GET, CONTEXT_GET: value 1 and the bytes for some, 0 for none. DELETE, EXISTS, CAS: value 0 or 1.
   * INCREMENT: the new value as 8 bytes (i64 LE). LIST_KEYS: the page as JSON.
   */
  /** The key. */
  STATE_GET: 10,
  /** The key length-prefixed, then the value. */
  STATE_SET: 11,
  STATE_DELETE: 12,
  STATE_EXISTS: 13,
  /** [has-cursor u8][limit u32 LE] then the cursor. */
  STATE_LIST_KEYS: 14,
  /** [delta i64 LE] then the key. */
  STATE_INCREMENT: 15,
  /** [has-expected u8] then the key and the expected value length-prefixed, then the value. */
  STATE_CAS: 16,
  CONTEXT_GET: 17,
  /** The key length-prefixed, then the JSON. */
  CONTEXT_SET: 18,
  /**
   * An app-defined interface function (docs/host-interfaces.md): v8.serialize([id, fn, args]). Code 0 and
   * v8.serialize(value), or code 1 and the error as JSON (errors.ts). The host may await a Promise meanwhile.
   */
  IFACE: 19,
} as const;

const WRAP = 0;
export const RECORD_HEADER = 16;
const ALIGN = 16;
const RING_BYTES = 256 * 1024;
export const REPLY_BYTES = 64 * 1024;
/** Payloads above this go over the MessagePort instead of the ring. */
export const INLINE_MAX = 64 * 1024;
/** Record length meaning "the payload is waiting on the port". */
export const OVERFLOW = -1;

const padded = (len: number) => (len <= 0 ? 0 : (len + ALIGN - 1) & ~(ALIGN - 1));

/** Byte offsets of the regions of one channel's SharedArrayBuffer. */
const LAYOUT = (() => {
  const ctl = 0;
  const f64 = CTL_CELLS * 4;
  const reply = f64 + F64_CELLS * 8;
  const req = reply + REPLY_BYTES;
  const resp = req + RING_BYTES;
  return { ctl, f64, reply, req, resp, total: resp + RING_BYTES };
})();

/** Typed views over one channel's memory, built identically on both threads. */
export class ChannelViews {
  readonly ctl: Int32Array;
  readonly f64: Float64Array;
  readonly reply: Uint8Array;
  readonly buffer: SharedArrayBuffer;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.ctl = new Int32Array(buffer, LAYOUT.ctl, CTL_CELLS);
    this.f64 = new Float64Array(buffer, LAYOUT.f64, F64_CELLS);
    this.reply = new Uint8Array(buffer, LAYOUT.reply, REPLY_BYTES);
  }

  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(LAYOUT.total);
  }

  requestWriter(): RingWriter {
    return new RingWriter(this.buffer, LAYOUT.req, this.ctl, CTL.REQ_HEAD, CTL.REQ_TAIL);
  }
  requestReader(): RingReader {
    return new RingReader(this.buffer, LAYOUT.req, this.ctl, CTL.REQ_HEAD, CTL.REQ_TAIL);
  }
  responseWriter(): RingWriter {
    return new RingWriter(this.buffer, LAYOUT.resp, this.ctl, CTL.RESP_HEAD, CTL.RESP_TAIL);
  }
  responseReader(): RingReader {
    return new RingReader(this.buffer, LAYOUT.resp, this.ctl, CTL.RESP_HEAD, CTL.RESP_TAIL);
  }
}

/**
 * Producer side of a ring. Records are `[len, kind, id, arg]` (4 × i32)
 * followed by `len` payload bytes, 16-byte aligned; a record that would not
 * fit before the end of the ring is preceded by a WRAP filler. Positions are
 * free-running i32 counters; only the low bits index the ring.
 */
export class RingWriter {
  readonly u8: Uint8Array;
  readonly #i32: Int32Array;
  readonly #ctl: Int32Array;
  readonly #headCell: number;
  readonly #tailCell: number;
  readonly #mask = RING_BYTES - 1;
  /** Next write position (published or not). */
  #head: number;
  /** The reader's position as last read: reloaded only when it says the ring is full, so a write touches no line the reader writes. */
  #tail: number;

  constructor(buffer: SharedArrayBuffer, offset: number, ctl: Int32Array, headCell: number, tailCell: number) {
    this.u8 = new Uint8Array(buffer, offset, RING_BYTES);
    this.#i32 = new Int32Array(buffer, offset, RING_BYTES / 4);
    this.#ctl = ctl;
    this.#headCell = headCell;
    this.#tailCell = tailCell;
    this.#head = Atomics.load(ctl, headCell);
    this.#tail = Atomics.load(ctl, tailCell);
  }

  /** Bytes in use, by the cached reader position unless that shows no room for `need`. */
  #used(need: number): number {
    const used = (this.#head - this.#tail) | 0;
    if (used + need <= RING_BYTES) return used;
    this.#tail = Atomics.load(this.#ctl, this.#tailCell);
    return (this.#head - this.#tail) | 0;
  }

  /** Largest payload a record can carry inline. */
  static readonly capacity = RING_BYTES / 2;

  /**
   * Write a record header and return the byte offset of its payload, or -1
   * when the ring has no room (the caller retries after the reader advances).
   * `len` may be OVERFLOW (no payload bytes).
   */
  reserve(kind: number, id: number, arg: number, len: number): number {
    const size = RECORD_HEADER + padded(len);
    let pos = this.#head & this.#mask;
    const room = RING_BYTES - pos;
    const need = size > room ? size + room : size;
    if (this.#used(need) + need > RING_BYTES) return -1;
    if (size > room) {
      const w = pos >> 2;
      this.#i32[w] = room - RECORD_HEADER;
      this.#i32[w + 1] = WRAP;
      this.#head = (this.#head + room) | 0;
      pos = 0;
    }
    const w = pos >> 2;
    this.#i32[w] = len;
    this.#i32[w + 1] = kind;
    this.#i32[w + 2] = id;
    this.#i32[w + 3] = arg;
    this.#head = (this.#head + size) | 0;
    return pos + RECORD_HEADER;
  }

  /** Make every reserved record visible to the reader. */
  publish(): void {
    Atomics.store(this.#ctl, this.#headCell, this.#head);
  }

  /** True when a record of `len` payload bytes can be reserved now. */
  fits(len: number): boolean {
    const size = RECORD_HEADER + padded(len);
    const room = RING_BYTES - (this.#head & this.#mask);
    const need = size > room ? size + room : size;
    return this.#used(need) + need <= RING_BYTES;
  }
}

/** Consumer side of a ring: `next()` then read the header fields, then `advance()`. */
export class RingReader {
  readonly u8: Uint8Array;
  readonly #i32: Int32Array;
  readonly #ctl: Int32Array;
  readonly #headCell: number;
  readonly #tailCell: number;
  readonly #mask = RING_BYTES - 1;
  #tail: number;
  #pos = 0;
  len = 0;
  kind = 0;
  id = 0;
  arg = 0;

  constructor(buffer: SharedArrayBuffer, offset: number, ctl: Int32Array, headCell: number, tailCell: number) {
    this.u8 = new Uint8Array(buffer, offset, RING_BYTES);
    this.#i32 = new Int32Array(buffer, offset, RING_BYTES / 4);
    this.#ctl = ctl;
    this.#headCell = headCell;
    this.#tailCell = tailCell;
    this.#tail = Atomics.load(ctl, tailCell);
  }

  /** True when a record is waiting (without consuming it). */
  pending(): boolean {
    return Atomics.load(this.#ctl, this.#headCell) !== this.#tail;
  }

  /** Load the next record's header; false when the ring is empty. */
  next(): boolean {
    for (;;) {
      if (Atomics.load(this.#ctl, this.#headCell) === this.#tail) return false;
      const pos = this.#tail & this.#mask;
      const w = pos >> 2;
      const len = this.#i32[w]!;
      const kind = this.#i32[w + 1]!;
      if (kind === WRAP) {
        this.#tail = (this.#tail + RECORD_HEADER + len) | 0;
        continue;
      }
      this.#pos = pos + RECORD_HEADER;
      this.len = len;
      this.kind = kind;
      this.id = this.#i32[w + 2]!;
      this.arg = this.#i32[w + 3]!;
      return true;
    }
  }

  /** Byte offset of the current record's payload in `u8`. */
  get payload(): number {
    return this.#pos;
  }

  /** Done with the current record: hand its space back to the writer. */
  advance(): void {
    this.#tail = (this.#tail + RECORD_HEADER + padded(this.len)) | 0;
    Atomics.store(this.#ctl, this.#tailCell, this.#tail);
  }
}

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();
export const decodeUtf8 = (bytes: Uint8Array): string => utf8.decode(bytes);
export const encodeUtf8 = (text: string): Uint8Array => utf8Encoder.encode(text);

/** Copy `src` into `dst` at `at`; a loop beats `set` for the small payloads that dominate. */
export function copyInto(dst: Uint8Array, at: number, src: Uint8Array): void {
  const n = src.length;
  if (n > 64) dst.set(src, at);
  else for (let i = 0; i < n; i++) dst[at + i] = src[i]!;
}

/** What the host thread hands a new worker. */
export interface WorkerSetup {
  plugin: string;
  entryPath: string;
  /** Compiled, instrumented and verified on the host: the worker never compiles (nor reads the cache). */
  component: import("../engine.js").PreparedComponent;
  capabilities: readonly string[];
  limits: { fuel?: number; fuelLifetime?: number; memoryBytes?: number; tableElements?: number; openFiles?: number; connections?: number; fsWriteBytes?: number };
  /** The host calls' bounds, checked in the worker before anything is copied out of the guest. */
  bounds: { maxMessageBytes: number; maxLogBytes: number; callCost: number };
  /** Record call start times (only when a deadline is in force). */
  timeCalls: boolean;
  /** App-defined interfaces: each import's id, interface and function names (called through HOST_CALL.IFACE), and the typed exports. */
  interfaces?: {
    imports: [string, import("../../../interfaces/types.js").WitInterface, string[]][];
    exports: [string, import("../../../interfaces/types.js").WitInterface][];
  };
  channel: SharedArrayBuffer;
  bell: SharedArrayBuffer;
  /** Big request payloads (host → worker). */
  requestPort: import("node:worker_threads").MessagePort;
  /** Big responses and host-call arguments (worker → host). */
  responsePort: import("node:worker_threads").MessagePort;
  /** Big host-call replies (host → worker). */
  replyPort: import("node:worker_threads").MessagePort;
}
