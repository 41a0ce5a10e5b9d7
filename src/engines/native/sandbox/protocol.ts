/**
 * The sandbox helper's wire protocol, mirrored from
 * native/sandbox-helper/src/protocol.h. Frames are `u32 bodyLen` (LE), then
 * `u8 type, u32 id, payload`. Everything the helper sends is untrusted: the
 * decoder checks every length before reading.
 */

export const HEADER = 9;
export const BODY_MAX = 64 << 20;
export const HELPER_ID_BIT = 0x80000000;

export const enum Msg {
  // host -> helper
  Init = 1,
  Call = 2,
  Hook = 3,
  Teardown = 4,
  Reply = 5,
  /** i32 code, bytes: the answer to a REQUEST (0 + answer, or 1 + request-error) or a MESSAGE (1 + envelope, or 0). */
  Answer = 6,
  /** The optional plugin_suspend / plugin_resume: answered with RESULT. */
  Suspend = 7,
  Resume = 8,
  /** The optional plugin_config_changed (config JSON), plugin_snapshot, plugin_restore (bytes). */
  ConfigChanged = 9,
  Snapshot = 10,
  Restore = 11,
  // helper -> host
  Ready = 64,
  Fail = 65,
  Result = 66,
  HookResult = 67,
  Log = 68,
  Register = 69,
  Emit = 70,
  Send = 71,
  Violation = 72,
  Sandbox = 73,
  /** u32 timeoutMs, target\0, name\0, data: answered (later) with ANSWER. */
  Request = 74,
  /** The envelope of the call in progress: answered with ANSWER. */
  Message = 75,
  /** u8 op (StateOp), the op's payload (protocol.h): answered with ANSWER. */
  State = 76,
  /** u8 op (ContextOp), key\0, json: answered with ANSWER. */
  Context = 77,
  /** i32 status (0, or -1: too large for a frame), the snapshot's bytes. */
  SnapshotResult = 78,
  /** u8 op (MetricOp), the op's payload (protocol.h): answered with ANSWER. */
  Metric = 79,
}

export const enum StateOp {
  Get = 1,
  Set = 2,
  Delete = 3,
  Exists = 4,
  Increment = 5,
  Cas = 6,
  List = 7,
}

export const enum ContextOp {
  Get = 1,
  Set = 2,
}

export const enum MetricOp {
  Define = 1,
  Record = 2,
}

/** protocol.h's PH_STATE_BODY_MAX / PH_CONTEXT_BODY_MAX. */
export const STATE_BODY_MAX = (2 << 20) + 4096;
export const CONTEXT_BODY_MAX = (1 << 20) + 4096;
/** protocol.h's PH_METRIC_BODY_MAX. */
export const METRIC_BODY_MAX = (16 << 10) + 4096;

export const enum FailKind {
  Dlopen = 1,
  Symbol = 2,
  Sandbox = 3,
}

/** Sandbox measures the helper reports as in force (READY flags). */
export const SANDBOX_FLAGS = {
  "user-namespace": 1 << 0,
  "net-namespace": 1 << 1,
  "pid-namespace": 1 << 2,
  "mount-namespace": 1 << 3,
  "ipc-namespace": 1 << 4,
  "uts-namespace": 1 << 5,
  /** Root: the plugin runs as a uid of its own helper; a user namespace: its capabilities dropped. */
  "dropped-privileges": 1 << 6,
  "no-new-privs": 1 << 7,
  seccomp: 1 << 8,
  rlimits: 1 << 9,
  libseccomp: 1 << 10,
  /** A private read-only root holding only the library and the system libraries it links. */
  "private-root": 1 << 11,
  /** As root: the plugin runs as a uid of its helper alone (2,000,000,000 + the helper's pid), so RLIMIT_NPROC is its own. */
  "own-uid": 1 << 12,
  /** Denied syscalls are answered and reported by the namespace's init (fd 7), not by the plugin's process. */
  "violation-supervisor": 1 << 13,
  /** The helper runs in a cgroup v2 group of its own (memory.max, pids.max, cpu.max), made by the host. */
  cgroup: 1 << 14,
} as const;
export type SandboxMeasure = keyof typeof SANDBOX_FLAGS;

export const HAS_NAME = 1 << 16;
export const HAS_VERSION = 1 << 17;
export const HAS_API = 1 << 18;
/** READY: the library defines plugin_suspend / plugin_resume. */
export const HAS_SUSPEND = 1 << 19;
export const HAS_RESUME = 1 << 20;
/** READY: the library defines plugin_config_changed / plugin_snapshot / plugin_restore. */
export const HAS_CONFIG_CHANGED = 1 << 21;
export const HAS_SNAPSHOT = 1 << 22;
export const HAS_RESTORE = 1 << 23;

/** Helper exit codes of its own (not the plugin's). */
export const EXIT_PROTOCOL = 97;
export const EXIT_SANDBOX = 98;

export interface Frame {
  type: number;
  id: number;
  body: Buffer;
}

/** Largest body of a frame that carries no payload of the plugin's (log, register, violation, ready, fail, result). */
export const CONTROL_MAX = 64 << 10;

/** The bound on a helper frame's body, by type: only hook output and messages carry bulk data. */
export function bodyLimit(type: number): number {
  if (type === Msg.State) return STATE_BODY_MAX;
  if (type === Msg.Context) return CONTEXT_BODY_MAX;
  if (type === Msg.Metric) return METRIC_BODY_MAX;
  return type === Msg.HookResult || type === Msg.Emit || type === Msg.Send || type === Msg.Request || type === Msg.SnapshotResult
    ? BODY_MAX
    : CONTROL_MAX;
}

export type FrameHandler = (type: number, id: number, buf: Buffer, start: number, end: number) => void;

/**
 * Incremental frame decoder for the helper's output stream. Each byte is
 * looked at once: a frame inside one chunk is handed over in place; a frame
 * split across chunks is copied into a buffer of exactly its size, allocated
 * once its header (length and type) has passed the bound for its type. So a
 * hostile stream costs time linear in its size, and memory bounded per frame.
 */
export class FrameReader {
  readonly #head = Buffer.alloc(HEADER);
  #headLen = 0;
  #body: Buffer | undefined;
  #fill = 0;
  #type = 0;
  #id = 0;

  /**
   * Feed a chunk; calls `onFrame(type, id, buf, start, end)` per complete
   * frame, the payload being `buf[start, end)` (valid only during the call).
   * Returns undefined, or what is wrong with the stream (then stop feeding it).
   */
  push(chunk: Buffer, onFrame: FrameHandler): string | undefined {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      const body = this.#body;
      if (body) {
        const take = Math.min(n - off, body.length - this.#fill);
        chunk.copy(body, this.#fill, off, off + take);
        this.#fill += take;
        off += take;
        if (this.#fill === body.length) {
          this.#body = undefined;
          onFrame(this.#type, this.#id, body, 0, body.length);
        }
        continue;
      }
      let head: Buffer;
      let at: number;
      if (this.#headLen === 0 && n - off >= HEADER) {
        head = chunk;
        at = off;
      } else {
        const take = Math.min(HEADER - this.#headLen, n - off);
        chunk.copy(this.#head, this.#headLen, off, off + take);
        this.#headLen += take;
        off += take;
        if (this.#headLen < HEADER) break;
        this.#headLen = 0;
        head = this.#head;
        at = 0;
      }
      const len = head.readUInt32LE(at);
      const type = head[at + 4]!;
      const limit = bodyLimit(type);
      if (len < 5 || len > limit) return `a frame of ${len} bytes (type ${type}); the protocol allows 5 to ${limit}`;
      const id = head.readUInt32LE(at + 5);
      if (head === chunk) {
        if (n - off >= 4 + len) { // the whole frame is here: no copy
          onFrame(type, id, chunk, off + HEADER, off + 4 + len);
          off += 4 + len;
          continue;
        }
        off += HEADER;
      }
      if (len === 5) {
        onFrame(type, id, this.#head, 0, 0);
        continue;
      }
      this.#type = type;
      this.#id = id;
      this.#body = Buffer.allocUnsafe(len - 5);
      this.#fill = 0;
    }
    return undefined;
  }
}

/** Longest stdout/stderr line passed on; the rest of a longer line is dropped and counted. */
export const LINE_MAX = 64 << 10;

/**
 * Splits a plugin's stdout or stderr into lines, in time linear in the bytes
 * and memory bounded by LINE_MAX: a longer line is cut, and the cut line says
 * how many bytes were dropped.
 */
export class LineSplitter {
  #buf: Buffer | undefined;
  #len = 0;
  #dropped = 0;
  readonly #emit: (line: string) => void;

  constructor(emit: (line: string) => void) {
    this.#emit = emit;
  }

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      const nl = chunk.indexOf(10, off);
      const end = nl < 0 ? chunk.length : nl;
      const take = Math.min(end - off, LINE_MAX - this.#len);
      if (take > 0) {
        this.#buf ??= Buffer.allocUnsafe(LINE_MAX);
        chunk.copy(this.#buf, this.#len, off, off + take);
        this.#len += take;
      }
      this.#dropped += end - off - take;
      if (nl < 0) return;
      this.#flush();
      off = nl + 1;
    }
  }

  /** The stream ended: pass on an unterminated last line. */
  end(): void {
    if (this.#len || this.#dropped) this.#flush();
  }

  #flush(): void {
    let line = this.#buf ? this.#buf.toString("utf8", 0, this.#len) : "";
    if (this.#dropped) line += ` [line cut at ${LINE_MAX} bytes: ${this.#dropped} bytes dropped]`;
    this.#len = 0;
    this.#dropped = 0;
    this.#emit(line);
  }
}

/**
 * Batches outgoing frames and writes them once per microtask. Two buffers
 * take turns: the one being written comes back as the spare once the stream
 * is done with it, so a steady pipeline allocates nothing per batch.
 */
export class FrameWriter {
  #out: Buffer = Buffer.allocUnsafe(1 << 16);
  #spare: Buffer | undefined;
  #len = 0;
  #scheduled = false;
  readonly #write: (chunk: Buffer, done: () => void) => void;
  readonly #flush = (): void => {
    this.#scheduled = false;
    if (!this.#len) return;
    const full = this.#out;
    const chunk = full.subarray(0, this.#len);
    const spare = this.#spare;
    this.#out = spare && spare.length >= full.length ? spare : Buffer.allocUnsafe(full.length);
    this.#spare = undefined;
    this.#len = 0;
    this.#write(chunk, () => {
      this.#spare = full;
    });
  };

  constructor(write: (chunk: Buffer, done: () => void) => void) {
    this.#write = write;
  }

  #reserve(n: number): number {
    if (this.#len + n > this.#out.length) {
      const next = Buffer.allocUnsafe(Math.max(this.#out.length * 2, this.#len + n));
      this.#out.copy(next, 0, 0, this.#len);
      this.#out = next;
    }
    const at = this.#len;
    this.#len += n;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
    return at;
  }

  /** A frame whose payload is `u32 word` then `data` (CALL, HOOK, INIT) or just `word` (REPLY). */
  frame(type: number, id: number, word: number | undefined, data?: Uint8Array): void {
    const payload = (word === undefined ? 0 : 4) + (data ? data.length : 0);
    if (payload + 5 > BODY_MAX) throw new RangeError(`frame of ${payload} bytes exceeds the protocol's ${BODY_MAX}-byte limit`);
    const at = this.#reserve(HEADER + payload);
    const out = this.#out;
    out.writeUInt32LE(5 + payload, at);
    out[at + 4] = type;
    out.writeUInt32LE(id >>> 0, at + 5);
    let p = at + HEADER;
    if (word !== undefined) {
      out.writeUInt32LE(word >>> 0, p);
      p += 4;
    }
    if (data && data.length) out.set(data, p);
  }
}

/** Read a NUL-terminated string from `body` at `off` (up to `limit`); returns it and the offset after the NUL. */
export function cstr(body: Buffer, off: number, limit = body.length): [string, number] {
  let end = body.indexOf(0, off);
  if (end < 0 || end > limit) end = limit;
  return [body.toString("utf8", off, end), Math.min(end + 1, limit)];
}
