/**
 * Bounds-checked access to a guest's linear memory. Views are cached and
 * re-created only when a `memory.grow` has detached them.
 */
import { AbiViolation } from "../../contract/errors.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

export class GuestMemory {
  #memory: WebAssembly.Memory | undefined;
  #u8 = new Uint8Array(0);
  #dv = new DataView(new ArrayBuffer(0));
  #shared = false;
  readonly plugin: string;

  constructor(plugin: string) {
    this.plugin = plugin;
  }

  /** Bytes of the attached memory now (0 before attach). */
  get byteLength(): number {
    if (this.#memory === undefined) return 0;
    // A grow detaches a non-shared memory's buffer (the cached view's length, a field, is then 0 and u8() re-reads
    // it), so that length is current; reading memory.buffer is a builtin call. A shared memory's buffer stays attached.
    return this.#shared ? this.#memory.buffer.byteLength : this.u8().length;
  }

  attach(memory: WebAssembly.Memory): void {
    this.#memory = memory;
    this.#shared = memory.buffer instanceof SharedArrayBuffer;
    this.#refresh();
  }

  #refresh(): void {
    const buffer = this.#memory!.buffer;
    this.#u8 = new Uint8Array(buffer);
    this.#dv = new DataView(buffer);
  }

  /** A byte view valid until the next call into the guest. */
  u8(): Uint8Array {
    // A detached view has length 0: cheaper to test than reading memory.buffer.
    if (this.#u8.length === 0) this.#refresh();
    return this.#u8;
  }

  dv(): DataView {
    // The byte view goes with it (both are made from one buffer): its length is a field load, a DataView's
    // byteLength a builtin call.
    if (this.#u8.length === 0) this.#refresh();
    return this.#dv;
  }

  /** Throw unless [ptr, ptr+len) lies inside memory. */
  check(ptr: number, len: number, what: string, exportName: string): void {
    // >>> 0: the canonical ABI passes pointers as i32; negative means >= 2 GiB.
    const p = ptr >>> 0;
    const l = len >>> 0;
    if (p + l > this.u8().length) {
      throw new AbiViolation(exportName, `${what} [${p}, ${p + l}) is outside the guest's ${this.u8().length}-byte memory`, {
        plugin: this.plugin,
      });
    }
  }

  checkAlign(ptr: number, align: number, what: string, exportName: string): void {
    if ((ptr >>> 0) % align !== 0) {
      throw new AbiViolation(exportName, `${what} ${ptr >>> 0} is not ${align}-byte aligned`, { plugin: this.plugin });
    }
  }

  /** Read a string the guest passed or returned; invalid UTF-8 is an ABI violation. */
  readString(ptr: number, len: number, what: string, exportName: string): string {
    if (len === 0) return "";
    this.check(ptr, len, what, exportName);
    const p = ptr >>> 0;
    try {
      return utf8.decode(this.#u8.subarray(p, p + (len >>> 0)));
    } catch {
      throw new AbiViolation(exportName, `${what} is not valid UTF-8`, { plugin: this.plugin });
    }
  }

  /** Copy bytes out of guest memory. */
  readBytes(ptr: number, len: number, what: string, exportName: string): Uint8Array {
    if (len === 0) return new Uint8Array(0);
    this.check(ptr, len, what, exportName);
    const p = ptr >>> 0;
    return this.#u8.slice(p, p + (len >>> 0));
  }
}

const encodedNames = new Map<string, Uint8Array>();

/** UTF-8 bytes of an event name; names repeat, so they are cached (bounded). */
export function encodeName(name: string): Uint8Array {
  let bytes = encodedNames.get(name);
  if (!bytes) {
    bytes = utf8Encoder.encode(name);
    if (encodedNames.size < 4096) encodedNames.set(name, bytes);
  }
  return bytes;
}

export function encodeString(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}
