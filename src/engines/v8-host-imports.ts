/**
 * The `plughost:plugin/host` interface as direct core-wasm imports.
 *
 * jco's generated import trampolines allocate a task record per call that is
 * never freed (TOOLCHAIN-NOTES), so the v8 engine hands the guest core module
 * these functions instead and does the canonical ABI lifting and lowering
 * itself. Every pointer and length the guest passes is bounds-checked.
 */
import { AbiViolation } from "../errors.js";
import { LOG_LEVELS, type HostCalls, type MessageFailure, type RegisterOutcome } from "../engine.js";
import { encodeString, type GuestMemory } from "./guest-memory.js";

export const HOST_IMPORT_MODULE = "plughost:plugin/host@0.1.0";

/** Per-instance state the imports need: which export is running, and the guest allocator. */
export interface ImportContext {
  plugin: string;
  memory: GuestMemory;
  host: HostCalls;
  currentExport: string;
  realloc: ((ptr: number, oldSize: number, align: number, newSize: number) => number) | undefined;
}

const REGISTER_CODES: Record<Exclude<RegisterOutcome, "ok">, number> = { "invalid-name": 0, "limit-reached": 1, denied: 2 };
const MESSAGE_CODES: Record<MessageFailure, number> = {
  "invalid-name": 0,
  "unknown-target": 1,
  denied: 2,
  "queue-full": 3,
  "too-large": 4,
};

export function createHostImports(ctx: ImportContext): Record<string, (...args: number[]) => void> {
  const { memory, host } = ctx;
  const str = (ptr: number, len: number, what: string) => memory.readString(ptr, len, what, ctx.currentExport);
  const bytes = (ptr: number, len: number, what: string) => memory.readBytes(ptr, len, what, ctx.currentExport);
  const retArea = (ptr: number, size: number, align: number) => {
    memory.checkAlign(ptr, align, "return area", ctx.currentExport);
    memory.check(ptr, size, "return area", ctx.currentExport);
    return ptr >>> 0;
  };
  /** Lower a string into guest memory with the guest's own allocator. */
  const lowerString = (text: string): [number, number] => {
    const data = encodeString(text);
    if (data.length === 0) return [1, 0];
    if (!ctx.realloc) throw new AbiViolation(ctx.currentExport, "the guest exports no cabi_realloc", { plugin: ctx.plugin });
    const ptr = ctx.realloc(0, 0, 1, data.length);
    memory.check(ptr, data.length, "cabi_realloc result", ctx.currentExport);
    memory.u8().set(data, ptr >>> 0);
    return [ptr >>> 0, data.length];
  };

  return {
    log(level: number, ptr: number, len: number): void {
      const name = LOG_LEVELS[level];
      if (name === undefined) throw new AbiViolation(ctx.currentExport, `log level ${level} is not a log-level case`, { plugin: ctx.plugin });
      host.log(name, str(ptr, len, "log message"));
    },

    "register-callback"(ptr: number, len: number, ret: number): void {
      const outcome = host.registerCallback(str(ptr, len, "event name"));
      const at = retArea(ret, 2, 1);
      const u8 = memory.u8();
      if (outcome === "ok") u8[at] = 0;
      else {
        u8[at] = 1;
        u8[at + 1] = REGISTER_CODES[outcome];
      }
    },

    emit(namePtr: number, nameLen: number, dataPtr: number, dataLen: number, ret: number): void {
      const outcome = host.emit(str(namePtr, nameLen, "event name"), bytes(dataPtr, dataLen, "event data"));
      const at = retArea(ret, 8, 4);
      const dv = memory.dv();
      if (outcome.ok) {
        dv.setUint8(at, 0);
        dv.setUint32(at + 4, outcome.value, true);
      } else {
        dv.setUint8(at, 1);
        dv.setUint8(at + 4, MESSAGE_CODES[outcome.error]);
      }
    },

    send(tPtr: number, tLen: number, namePtr: number, nameLen: number, dataPtr: number, dataLen: number, ret: number): void {
      const outcome = host.send(str(tPtr, tLen, "target"), str(namePtr, nameLen, "event name"), bytes(dataPtr, dataLen, "event data"));
      const at = retArea(ret, 2, 1);
      const u8 = memory.u8();
      if (outcome.ok) u8[at] = 0;
      else {
        u8[at] = 1;
        u8[at + 1] = MESSAGE_CODES[outcome.error];
      }
    },

    "get-config"(ret: number): void {
      retArea(ret, 8, 4);
      const [ptr, len] = lowerString(host.getConfig());
      const at = retArea(ret, 8, 4); // memory may have grown in realloc
      const dv = memory.dv();
      dv.setUint32(at, ptr, true);
      dv.setUint32(at + 4, len, true);
    },

    "get-config-value"(keyPtr: number, keyLen: number, ret: number): void {
      const value = host.getConfigValue(str(keyPtr, keyLen, "config key"));
      retArea(ret, 12, 4);
      if (value === undefined) {
        memory.u8()[ret >>> 0] = 0;
        return;
      }
      const [ptr, len] = lowerString(value);
      const at = retArea(ret, 12, 4);
      const dv = memory.dv();
      dv.setUint8(at, 1);
      dv.setUint32(at + 4, ptr, true);
      dv.setUint32(at + 8, len, true);
    },
  };
}
