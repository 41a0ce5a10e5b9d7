/**
 * The `plughost:plugin/host` interface as direct core-wasm imports.
 *
 * jco's generated import trampolines allocate a task record per call that is
 * never freed (TOOLCHAIN-NOTES), so the v8 engine hands the guest core module
 * these functions instead and does the canonical ABI lifting and lowering
 * itself. Every pointer and length the guest passes is bounds-checked.
 *
 * Host work is paid for in fuel before it is done (`Limits.charge`): 1 unit
 * per 64 bytes copied between guest and host (at least 1 per call) and 1,000
 * per message queued, so a cheap import call cannot buy unbounded host time.
 * Whatever the fuel, nothing over the host's bounds is copied: an over-long
 * event name or payload is refused unread, a log line is read up to its cap.
 * The state and context calls pay as `emit` does (STATE_CALL_COST plus 1 per
 * 64 bytes, each way); a key over 256 bytes or a value over 1 MiB is refused
 * unread (`invalid-key`, `too-large`).
 */
import { AbiViolation } from "../../contract/errors.js";
import {
  LOG_LEVELS,
  type ContextOutcome,
  type HostCalls,
  type KeyPage,
  type MessageFailure,
  type MessageInfo,
  type MetricError,
  type MetricOutcome,
  type RegisterOutcome,
  type RequestOutcome,
  type ContextError,
  type StateError,
  type StateOutcome,
} from "../engine.js";
import {
  API_VERSION,
  CONTEXT_ERROR_CODE as CONTEXT_CODES,
  STATE_ERROR_CODE as STATE_CODES,
  MESSAGE_ERROR_CODE as MESSAGE_CODES,
  MESSAGE_KIND_CODE,
  REQUEST_ERROR_CODE as REQUEST_CODES,
  METRIC_ERROR_CODE as METRIC_CODES,
  METRIC_KINDS,
  REGISTER_ERROR_CODE as REGISTER_CODES,
  WIT_PACKAGE,
} from "../../contract/abi.js";
import { MAX_EVENT_NAME_BYTES } from "../../contract/event-names.js";
import { hostCallBounds } from "../../runtime/host-calls.js";
import { encodeName, encodeString, type GuestMemory } from "./guest-memory.js";

export const HOST_IMPORT_MODULE = `${WIT_PACKAGE}/host@${API_VERSION}`;

/** Per-instance state the imports need: which export is running, and the guest allocator. */
export interface ImportContext {
  plugin: string;
  memory: GuestMemory;
  host: HostCalls;
  currentExport: string;
  realloc: ((ptr: number, oldSize: number, align: number, newSize: number) => number) | undefined;
  /** The instance's fuel meter, when it has one: host work is charged to the running call. */
  limits?: FuelCharger;
}

/** `Limits.charge`: throws (a fuel signal, mapped to FuelExhausted) when the call cannot pay. */
export interface FuelCharger {
  charge(units: number): void;
}

/** Fuel for a host call that moves `bytes` between guest and host: 1 unit per 64 bytes, at least `callCost`. */
export const copyCost = (bytes: number, callCost = 1): number => Math.max(callCost, Math.ceil(bytes / 64));
/** Fuel per message queued. */
export const MESSAGE_COST = 1000;
/** Longest `send` target read: longer is no plugin's name. */
const MAX_TARGET_BYTES = 1024;
/** Longest config key read: longer is no key of a manifest's config. */
const MAX_CONFIG_KEY_BYTES = 64 * 1024;
/** Fuel per metric defined (the host allocates its series store). */
export const METRIC_DEFINE_COST = 1000;
/**
 * What a metric host call reads at most (the same on wasmtime, native/wasmtime/src/abi.rs): a longer name is
 * refused unread, help is cut, a label list holds 16 strings of at most 64 (names) or 1,024 (values) bytes.
 */
export const METRIC_BOUNDS = { name: 64, help: 1024, labels: 16, labelName: 64, labelValue: 1024 } as const;

/** Longest `request` target read: longer is no plugin's or service's name (refused unread: `invalid-name`). */
export const MAX_REQUEST_TARGET_BYTES = 1024;

/** Fuel per `state-*` / `context-*` call, besides its bytes (a backend round trip, as a message queued is). */
export const STATE_CALL_COST = 1000;
/**
 * What the state and context calls read at most (the same on wasmtime): a longer key is refused unread
 * (`invalid-key`; a context key: `unknown-key`), as is a longer value (`too-large`; context: `invalid-value`).
 */
export const STATE_BOUNDS = { key: 256, value: 1024 * 1024, contextKey: 64, contextValue: 1024 * 1024 } as const;

/** Request data up to this many bytes is lent from a reused buffer (lendOut). */
const LENT_MAX = 64;

/** A `list<string>` read with bounds: the strings, or why it was refused unread. */
type StrList = { ok: true; items: string[]; bytes: number } | { ok: false; tooMany: boolean; bytes: number };


export function createHostImports(ctx: ImportContext): Record<string, (...args: number[]) => void> {
  const { memory, host } = ctx;
  // lendOut's buffer; declared before the import object is returned (the functions below are hoisted, these are not).
  const lentBuf = new Uint8Array(LENT_MAX);
  let lent = lentBuf.subarray(0, 0);
  const bounds = hostCallBounds(host);
  const charge = (units: number) => ctx.limits?.charge(units);
  const cost = (bytes: number) => copyCost(bytes, bounds.callCost);
  const str = (ptr: number, len: number, what: string) => memory.readString(ptr, len, what, ctx.currentExport);
  const bytes = (ptr: number, len: number, what: string) => memory.readBytes(ptr, len, what, ctx.currentExport);
  const retArea = (ptr: number, size: number, align: number) => {
    memory.checkAlign(ptr, align, "return area", ctx.currentExport);
    memory.check(ptr, size, "return area", ctx.currentExport);
    return ptr >>> 0;
  };
  /** Lower a string into guest memory with the guest's own allocator (its copy paid for first). */
  const lowerString = (text: string): [number, number] => {
    const data = encodeString(text);
    charge(cost(data.length));
    if (data.length === 0) return [1, 0];
    if (!ctx.realloc) throw new AbiViolation(ctx.currentExport, "the guest exports no cabi_realloc", { plugin: ctx.plugin });
    const ptr = ctx.realloc(0, 0, 1, data.length);
    memory.check(ptr, data.length, "cabi_realloc result", ctx.currentExport);
    memory.u8().set(data, ptr >>> 0);
    return [ptr >>> 0, data.length];
  };
  const writeRegister = (ret: number, outcome: RegisterOutcome) => {
    const at = retArea(ret, 2, 1);
    const u8 = memory.u8();
    if (outcome === "ok") u8[at] = 0;
    else {
      u8[at] = 1;
      u8[at + 1] = REGISTER_CODES[outcome];
    }
  };
  const writeSend = (ret: number, error: MessageFailure | undefined) => {
    const at = retArea(ret, 2, 1);
    const u8 = memory.u8();
    if (error === undefined) u8[at] = 0;
    else {
      u8[at] = 1;
      u8[at + 1] = MESSAGE_CODES[error];
    }
  };
  /** `result<u32, E>` with an enum E: the discriminant, then at offset 4 the u32 or E's code (`codes[error]`). */
  const writeU32Result = <E extends string>(ret: number, outcome: { ok: true; value: number } | { ok: false; error: E }, codes: Record<E, number>) => {
    const at = retArea(ret, 8, 4);
    const dv = memory.dv();
    if (outcome.ok) {
      dv.setUint8(at, 0);
      dv.setUint32(at + 4, outcome.value, true);
    } else {
      dv.setUint8(at, 1);
      dv.setUint8(at + 4, codes[outcome.error]);
    }
  };
  const writeEmit = (ret: number, outcome: { ok: true; value: number } | { ok: false; error: MessageFailure }) => writeU32Result(ret, outcome, MESSAGE_CODES);
  /**
   * A list<string> of at most `maxItems` strings of at most `cap` bytes: the (ptr, len) array is bounds- and
   * alignment-checked, then each string; `bytes` is what was copied (each string's first cap + 1 bytes, 8 per
   * pair), which the call pays for before it uses them.
   */
  const strList = (ptr: number, count: number, maxItems: number, cap: number, what: string): StrList => {
    const n = count >>> 0;
    if (n > maxItems) return { ok: false, tooMany: true, bytes: 0 };
    if (n === 0) return { ok: true, items: [], bytes: 0 };
    memory.checkAlign(ptr, 4, what, ctx.currentExport);
    memory.check(ptr, n * 8, what, ctx.currentExport);
    const dv = memory.dv();
    const pairs: [number, number][] = [];
    let bytes = 0;
    let over = false;
    for (let i = 0; i < n; i++) {
      const p = dv.getUint32((ptr >>> 0) + i * 8, true);
      const l = dv.getUint32((ptr >>> 0) + i * 8 + 4, true);
      memory.check(p, l, `a string of ${what}`, ctx.currentExport);
      bytes += Math.min(l, cap + 1) + 8;
      if (l > cap) over = true;
      pairs.push([p, l]);
    }
    if (over) return { ok: false, tooMany: false, bytes };
    return { ok: true, items: pairs.map(([p, l]) => str(p, l, `a string of ${what}`)), bytes };
  };
  const writeDefine = (ret: number, outcome: MetricOutcome<number>) => writeU32Result(ret, outcome, METRIC_CODES);
  const writeRecord = (ret: number, error: MetricError | undefined) => {
    const at = retArea(ret, 2, 1);
    const u8 = memory.u8();
    if (error === undefined) u8[at] = 0;
    else {
      u8[at] = 1;
      u8[at + 1] = METRIC_CODES[error];
    }
  };
  const denied = { ok: false, error: "denied" } as const;
  const lastTarget = nameCache();
  const lastEvent = nameCache();
  /**
   * True while the guest's cabi_realloc runs for a value these imports lower: the canonical ABI forbids calling
   * out of the component then (a request from inside the allocator would recurse without bound).
   */
  let inRealloc = false;
  const reentered = (what: string) =>
    new AbiViolation(ctx.currentExport, `${what} was called from inside cabi_realloc while the host lowered a value`, { plugin: ctx.plugin });

  /** Why a message is refused before anything is read, or undefined. */
  const refuseUnread = (nameLen: number, dataLen: number): MessageFailure | undefined => {
    if (nameLen >>> 0 > MAX_EVENT_NAME_BYTES) return "invalid-name";
    if (dataLen >>> 0 > bounds.maxMessageBytes) return "too-large";
    return undefined;
  };

  return {
    log(level: number, ptr: number, len: number): void {
      const name = LOG_LEVELS[level];
      if (name === undefined) throw new AbiViolation(ctx.currentExport, `log level ${level} is not a log-level case`, { plugin: ctx.plugin });
      const n = Math.min(len >>> 0, bounds.maxLogBytes);
      charge(cost(n));
      memory.check(ptr, len, "log message", ctx.currentExport);
      host.log(name, n === len >>> 0 ? str(ptr, n, "log message") : prefixString(memory, ptr >>> 0, n));
    },

    "register-callback"(ptr: number, len: number, ret: number): void {
      charge(cost(Math.min(len >>> 0, MAX_EVENT_NAME_BYTES + 1)));
      if (len >>> 0 > MAX_EVENT_NAME_BYTES) {
        memory.check(ptr, len, "event name", ctx.currentExport);
        writeRegister(ret, "invalid-name");
        return;
      }
      writeRegister(ret, host.registerCallback(str(ptr, len, "event name")));
    },

    emit(namePtr: number, nameLen: number, dataPtr: number, dataLen: number, ret: number): void {
      const refused = refuseUnread(nameLen, dataLen);
      if (refused) {
        charge(cost(0));
        writeEmit(ret, { ok: false, error: refused });
        return;
      }
      charge(cost((nameLen >>> 0) + (dataLen >>> 0)) + MESSAGE_COST);
      const outcome = host.emit(str(namePtr, nameLen, "event name"), bytes(dataPtr, dataLen, "event data"));
      // One message was paid for; an emit that reached more subscribers pays for the others now.
      if (outcome.ok && outcome.value > 1) charge((outcome.value - 1) * MESSAGE_COST);
      writeEmit(ret, outcome);
    },

    send(tPtr: number, tLen: number, namePtr: number, nameLen: number, dataPtr: number, dataLen: number, ret: number): void {
      const refused = refuseUnread(nameLen, dataLen) ?? (tLen >>> 0 > MAX_TARGET_BYTES ? "unknown-target" : undefined);
      if (refused) {
        charge(cost(0));
        writeSend(ret, refused);
        return;
      }
      charge(cost((tLen >>> 0) + (nameLen >>> 0) + (dataLen >>> 0)) + MESSAGE_COST);
      const outcome = host.send(str(tPtr, tLen, "target"), str(namePtr, nameLen, "event name"), bytes(dataPtr, dataLen, "event data"));
      writeSend(ret, outcome.ok ? undefined : outcome.error);
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
      charge(cost(Math.min(keyLen >>> 0, MAX_CONFIG_KEY_BYTES + 1)));
      const value = keyLen >>> 0 > MAX_CONFIG_KEY_BYTES ? undefined : host.getConfigValue(str(keyPtr, keyLen, "config key"));
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

    "define-metric"(kind: number, namePtr: number, nameLen: number, helpPtr: number, helpLen: number, labelsPtr: number, labelsLen: number, ret: number): void {
      const kindName = METRIC_KINDS[kind];
      if (kindName === undefined) throw new AbiViolation(ctx.currentExport, `metric kind ${kind} is not a metric-kind case`, { plugin: ctx.plugin });
      const b = METRIC_BOUNDS;
      const nameRead = Math.min(nameLen >>> 0, b.name);
      const helpRead = Math.min(helpLen >>> 0, b.help);
      memory.check(namePtr, nameLen, "metric name", ctx.currentExport);
      memory.check(helpPtr, helpLen, "metric help", ctx.currentExport);
      const labels = strList(labelsPtr, labelsLen, b.labels, b.labelName, "label names");
      charge(cost(nameRead + helpRead + labels.bytes) + METRIC_DEFINE_COST);
      if (nameLen >>> 0 > b.name) return writeDefine(ret, { ok: false, error: "invalid-name" });
      if (!labels.ok) return writeDefine(ret, { ok: false, error: labels.tooMany ? "limit-reached" : "invalid-name" });
      const name = str(namePtr, nameLen, "metric name");
      const help = helpRead === helpLen >>> 0 ? str(helpPtr, helpLen, "metric help") : prefixString(memory, helpPtr >>> 0, helpRead);
      writeDefine(ret, host.defineMetric ? host.defineMetric(kindName, name, help, labels.items) : denied);
    },

    "record-metric"(id: number, value: number, labelsPtr: number, labelsLen: number, ret: number): void {
      const labels = strList(labelsPtr, labelsLen, METRIC_BOUNDS.labels, METRIC_BOUNDS.labelValue, "label values");
      charge(cost(labels.bytes));
      if (!labels.ok) return writeRecord(ret, "invalid-labels");
      const outcome = host.recordMetric ? host.recordMetric(id >>> 0, value, labels.items) : denied;
      writeRecord(ret, outcome.ok ? undefined : outcome.error);
    },

    request(tPtr: number, tLen: number, namePtr: number, nameLen: number, dataPtr: number, dataLen: number, timeoutMs: number, ret: number): void {
      if (inRealloc) throw reentered("request");
      retArea(ret, 12, 4);
      const t = tLen >>> 0;
      const refused: RequestOutcome | undefined =
        (nameLen >>> 0) > MAX_EVENT_NAME_BYTES || t === 0 || t > MAX_REQUEST_TARGET_BYTES
          ? { ok: false, error: "invalid-name" }
          : (dataLen >>> 0) > bounds.maxMessageBytes
            ? { ok: false, error: "too-large" }
            : undefined;
      if (refused) {
        charge(cost(0));
        return writeRequest(ret, refused);
      }
      charge(cost(t + (nameLen >>> 0) + (dataLen >>> 0)) + MESSAGE_COST);
      const target = lastTarget(tPtr, tLen, "request target");
      const eventName = lastEvent(namePtr, nameLen, "event name");
      const data = lendOut(dataPtr, dataLen, "request data");
      writeRequest(ret, askHost(target, eventName, data, timeoutMs >>> 0));
    },

    "current-message"(ret: number): void {
      if (inRealloc) throw reentered("current-message");
      retArea(ret, MESSAGE_INFO_AREA, 8);
      let info: MessageInfo | undefined;
      try {
        info = host.currentMessage?.();
      } catch {
        info = undefined; // HostCalls never throw by contract; a broken host answers none rather than fault the guest
      }
      if (info === undefined) {
        charge(cost(0));
        memory.u8()[ret >>> 0] = 0;
        return;
      }
      writeMessageInfo(ret, info);
    },

    "state-get"(keyPtr: number, keyLen: number, ret: number): void {
      enterState("state-get", ret, OPTION_AREA, 4);
      const key = stateKey(keyPtr, keyLen, 0, host.stateGet);
      const outcome: StateOutcome<Uint8Array | undefined> = typeof key === "string" ? askState(() => host.stateGet!(key)) : key;
      writeOptionBytes(ret, outcome, STATE_CODES, "state value");
    },

    "state-set"(keyPtr: number, keyLen: number, valuePtr: number, valueLen: number, ret: number): void {
      enterState("state-set", ret, 2, 1);
      const key = stateKey(keyPtr, keyLen, valueLen, host.stateSet, valueLen);
      if (typeof key !== "string") return writeUnitResult(ret, key, STATE_CODES);
      const value = bytes(valuePtr, valueLen, "state value");
      writeUnitResult(ret, askState(() => host.stateSet!(key, value)), STATE_CODES);
    },

    "state-delete"(keyPtr: number, keyLen: number, ret: number): void {
      enterState("state-delete", ret, 2, 1);
      const key = stateKey(keyPtr, keyLen, 0, host.stateDelete);
      writeBoolResult(ret, typeof key === "string" ? askState(() => host.stateDelete!(key)) : key, STATE_CODES);
    },

    "state-exists"(keyPtr: number, keyLen: number, ret: number): void {
      enterState("state-exists", ret, 2, 1);
      const key = stateKey(keyPtr, keyLen, 0, host.stateExists);
      writeBoolResult(ret, typeof key === "string" ? askState(() => host.stateExists!(key)) : key, STATE_CODES);
    },

    "state-list-keys"(hasCursor: number, cursorPtr: number, cursorLen: number, limit: number, ret: number): void {
      enterState("state-list-keys", ret, KEY_PAGE_AREA, 4);
      const cursorTag = optionTag(hasCursor, "cursor");
      const cl = cursorTag ? cursorLen >>> 0 : 0;
      let outcome: StateOutcome<KeyPage>;
      if (!host.stateListKeys) {
        charge(cost(0));
        outcome = denied;
      } else if (cl > STATE_BOUNDS.key) {
        charge(cost(0));
        outcome = { ok: false, error: "invalid-key" };
      } else {
        charge(cost(cl) + STATE_CALL_COST);
        const cursor = cursorTag ? str(cursorPtr, cursorLen, "state cursor") : undefined;
        outcome = askState(() => host.stateListKeys!(cursor, limit >>> 0));
      }
      writeKeyPage(ret, outcome);
    },

    // An i64 argument arrives as a BigInt (typed `number | bigint` so the import table stays one function type).
    "state-increment"(keyPtr: number, keyLen: number, delta: number | bigint, ret: number): void {
      enterState("state-increment", ret, 16, 8);
      const key = stateKey(keyPtr, keyLen, 0, host.stateIncrement);
      const outcome: StateOutcome<bigint> = typeof key === "string" ? askState(() => host.stateIncrement!(key, BigInt.asIntN(64, BigInt(delta)))) : key;
      const at = retArea(ret, 16, 8);
      const dv = memory.dv();
      if (outcome.ok) {
        dv.setUint8(at, 0);
        dv.setBigInt64(at + 8, BigInt.asIntN(64, outcome.value), true);
      } else {
        dv.setUint8(at, 1);
        dv.setUint8(at + 8, STATE_CODES[outcome.error] ?? STATE_CODES.unavailable);
      }
    },

    "state-compare-and-swap"(keyPtr: number, keyLen: number, hasExpected: number, expPtr: number, expLen: number, valuePtr: number, valueLen: number, ret: number): void {
      enterState("state-compare-and-swap", ret, 2, 1);
      const expTag = optionTag(hasExpected, "expected value");
      const el = expTag ? expLen >>> 0 : 0;
      const key = stateKey(keyPtr, keyLen, el + (valueLen >>> 0), host.stateCompareAndSwap, Math.max(el, valueLen >>> 0));
      if (typeof key !== "string") return writeBoolResult(ret, key, STATE_CODES);
      const expected = expTag ? bytes(expPtr, expLen, "expected state value") : undefined;
      const value = bytes(valuePtr, valueLen, "state value");
      writeBoolResult(ret, askState(() => host.stateCompareAndSwap!(key, expected, value)), STATE_CODES);
    },

    "context-get"(keyPtr: number, keyLen: number, ret: number): void {
      enterState("context-get", ret, OPTION_AREA, 4);
      const key = contextKey(keyPtr, keyLen, 0, host.contextGet);
      const outcome: ContextOutcome<string | undefined> = typeof key === "string" ? askContext(() => host.contextGet!(key)) : key;
      writeOptionBytes(ret, outcome.ok ? { ok: true, value: outcome.value === undefined ? undefined : encodeString(outcome.value) } : outcome, CONTEXT_CODES, "context value");
    },

    "context-set"(keyPtr: number, keyLen: number, valuePtr: number, valueLen: number, ret: number): void {
      enterState("context-set", ret, 2, 1);
      const key = contextKey(keyPtr, keyLen, valueLen, host.contextSet, valueLen);
      if (typeof key !== "string") return writeUnitResult(ret, key, CONTEXT_CODES);
      const value = str(valuePtr, valueLen, "context value");
      writeUnitResult(ret, askContext(() => host.contextSet!(key, value)), CONTEXT_CODES);
    },
  };

  // ── state and context ──

  /** Every state / context call: never from inside cabi_realloc, and its return area is checked before any work. */
  function enterState(what: string, ret: number, size: number, align: number): void {
    if (inRealloc) throw reentered(what);
    retArea(ret, size, align);
  }

  /** An option's discriminant: 0 or 1, anything else is an ABI violation. */
  function optionTag(tag: number, what: string): boolean {
    if (tag !== 0 && tag !== 1) throw new AbiViolation(ctx.currentExport, `the ${what}'s option discriminant ${tag} is neither none (0) nor some (1)`, { plugin: ctx.plugin });
    return tag === 1;
  }

  /**
   * A state key read within bounds, its call paid for (the key and `inBytes` more that the call will copy), or
   * the refusal: `denied` when the host offers no such call, `invalid-key` (empty, over 256 bytes) and
   * `too-large` (`valueLen` over 1 MiB) unread.
   */
  function stateKey(ptr: number, len: number, inBytes: number, member: unknown, valueLen = 0): string | { ok: false; error: StateError } {
    const n = len >>> 0;
    const refused: StateError | undefined =
      member === undefined ? "denied" : n === 0 || n > STATE_BOUNDS.key ? "invalid-key" : valueLen >>> 0 > STATE_BOUNDS.value ? "too-large" : undefined;
    if (refused) {
      charge(cost(0));
      return { ok: false, error: refused };
    }
    charge(cost(n + inBytes) + STATE_CALL_COST);
    return str(ptr, len, "state key");
  }

  /** As `stateKey`, for a context key (over 64 bytes: `unknown-key`) and value (over 1 MiB: `invalid-value`). */
  function contextKey(ptr: number, len: number, inBytes: number, member: unknown, valueLen = 0): string | { ok: false; error: ContextError } {
    const n = len >>> 0;
    const refused: ContextError | undefined =
      member === undefined ? "denied" : n === 0 || n > STATE_BOUNDS.contextKey ? "unknown-key" : valueLen >>> 0 > STATE_BOUNDS.contextValue ? "invalid-value" : undefined;
    if (refused) {
      charge(cost(0));
      return { ok: false, error: refused };
    }
    charge(cost(n + (inBytes >>> 0)) + STATE_CALL_COST);
    return str(ptr, len, "context key");
  }

  /** HostCalls never throw by contract; a broken backend answers `unavailable` rather than fault the guest. */
  function askState<T>(call: () => StateOutcome<T>): StateOutcome<T> {
    try {
      return call();
    } catch {
      return { ok: false, error: "unavailable" };
    }
  }

  function askContext<T>(call: () => ContextOutcome<T>): ContextOutcome<T> {
    try {
      return call();
    } catch {
      return { ok: false, error: "denied" };
    }
  }

  /** `result<_, E>` with an enum E: tag @0, E's code @1. */
  function writeUnitResult<E extends string>(ret: number, outcome: { ok: true } | { ok: false; error: E }, codes: Readonly<Record<E, number>>): void {
    const at = retArea(ret, 2, 1);
    const u8 = memory.u8();
    if (outcome.ok) u8[at] = 0;
    else {
      u8[at] = 1;
      u8[at + 1] = codes[outcome.error] ?? 0;
    }
  }

  /** `result<bool, E>`: tag @0, the bool or E's code @1. */
  function writeBoolResult<E extends string>(ret: number, outcome: { ok: true; value: boolean } | { ok: false; error: E }, codes: Readonly<Record<E, number>>): void {
    const at = retArea(ret, 2, 1);
    const u8 = memory.u8();
    if (outcome.ok) {
      u8[at] = 0;
      u8[at + 1] = outcome.value ? 1 : 0;
    } else {
      u8[at] = 1;
      u8[at + 1] = codes[outcome.error] ?? 0;
    }
  }

  /**
   * `result<option<list<u8>>, E>` (and `option<string>`, the same layout): tag @0; ok: option tag @4, (ptr, len)
   * @8; err: E's code @4. The value is lowered with cabi_realloc (its copy paid for first), then the area written.
   */
  function writeOptionBytes<E extends string>(
    ret: number,
    outcome: { ok: true; value: Uint8Array | undefined } | { ok: false; error: E },
    codes: Readonly<Record<E, number>>,
    what: string,
  ): void {
    if (!outcome.ok) {
      const at = retArea(ret, OPTION_AREA, 4);
      const u8 = memory.u8();
      u8[at] = 1;
      u8[at + 4] = codes[outcome.error] ?? 0;
      return;
    }
    const value = outcome.value;
    let ptr = 0;
    if (value !== undefined) {
      if (value.length > 0) charge(Math.ceil(value.length / 64));
      ptr = lowerBytes(value, 1, what);
    }
    const at = retArea(ret, OPTION_AREA, 4); // memory may have grown in realloc
    const dv = memory.dv();
    dv.setUint8(at, 0);
    dv.setUint8(at + 4, value === undefined ? 0 : 1);
    dv.setUint32(at + 8, ptr, true);
    dv.setUint32(at + 12, value?.length ?? 0, true);
  }

  /**
   * `result<key-page, state-error>` (24 bytes, align 4): tag @0; ok: keys (ptr, len) @4, cursor option tag @12,
   * (ptr, len) @16; err: the code @4. Each key, then the (ptr, len) list, then the cursor are lowered first.
   */
  function writeKeyPage(ret: number, outcome: StateOutcome<KeyPage>): void {
    if (!outcome.ok) {
      const at = retArea(ret, KEY_PAGE_AREA, 4);
      const u8 = memory.u8();
      u8[at] = 1;
      u8[at + 4] = STATE_CODES[outcome.error] ?? STATE_CODES.unavailable;
      return;
    }
    const keys = outcome.value.keys.map(encodeString);
    const cursor = outcome.value.cursor === undefined ? undefined : encodeString(outcome.value.cursor);
    let total = (cursor?.length ?? 0) + keys.length * 8;
    for (const k of keys) total += k.length;
    if (total > 0) charge(Math.ceil(total / 64));
    const list = new Uint8Array(keys.length * 8);
    const ldv = new DataView(list.buffer);
    keys.forEach((k, i) => {
      ldv.setUint32(i * 8, lowerBytes(k, 1, "state key"), true);
      ldv.setUint32(i * 8 + 4, k.length, true);
    });
    const listPtr = lowerBytes(list, 4, "state key list");
    const cursorPtr = cursor === undefined ? 0 : lowerBytes(cursor, 1, "state cursor");
    const at = retArea(ret, KEY_PAGE_AREA, 4);
    const dv = memory.dv();
    dv.setUint8(at, 0);
    dv.setUint32(at + 4, listPtr, true);
    dv.setUint32(at + 8, keys.length, true);
    dv.setUint8(at + 12, cursor === undefined ? 0 : 1);
    dv.setUint32(at + 16, cursorPtr, true);
    dv.setUint32(at + 20, cursor?.length ?? 0, true);
  }

  /**
   * The last name read at one call site, kept by its bytes: a guest asks the same targets for the same events,
   * and decoding a short string out of a large memory costs more than the rest of the import. Bytes equal to the
   * cached ones were valid UTF-8 when they were decoded.
   */
  function nameCache(): (ptr: number, len: number, what: string) => string {
    let known = new Uint8Array(0);
    let text = "";
    return (ptr, len, what) => {
      const n = len >>> 0;
      if (n !== known.length || n > 64) {
        const s = str(ptr, len, what);
        if (n <= 64) {
          known = memory.u8().slice(ptr >>> 0, (ptr >>> 0) + n);
          text = s;
        }
        return s;
      }
      memory.check(ptr, len, what, ctx.currentExport);
      const u8 = memory.u8();
      const p = ptr >>> 0;
      for (let i = 0; i < n; i++) {
        if (u8[p + i] !== known[i]) {
          const s = str(ptr, len, what);
          known = u8.slice(p, p + n);
          text = s;
          return s;
        }
      }
      return text;
    };
  }

  /**
   * Guest bytes for a synchronous request, lent: up to 64 of them in a buffer this instance reuses (a fresh array per
   * request costs as much as the rest of the copy), more as a copy. `requestSync` may read them only until it
   * returns (HostCalls.requestSync); the router copies what may outlive the call.
   */
  function lendOut(ptr: number, len: number, what: string): Uint8Array {
    const n = len >>> 0;
    if (n > LENT_MAX) return bytes(ptr, len, what);
    memory.check(ptr, len, what, ctx.currentExport);
    const u8 = memory.u8();
    const p = ptr >>> 0;
    if (lent.length !== n) lent = lentBuf.subarray(0, n);
    for (let i = 0; i < n; i++) lent[i] = u8[p + i]!;
    return lent;
  }

  /** `requestSync` (the guest waits on this thread; a worker's host object blocks on the host thread's answer). */
  function askHost(target: string, eventName: string, data: Uint8Array, timeoutMs: number): RequestOutcome {
    if (!host.requestSync) return { ok: false, error: "unknown-target" };
    try {
      return host.requestSync(target, eventName, data, timeoutMs);
    } catch {
      // HostCalls never throw by contract; whatever a nested call leaked is the target's failure, not this guest's.
      return { ok: false, error: "failed" };
    }
  }

  /** `result<list<u8>, request-error>`: tag @0; ok: the answer lowered with cabi_realloc, (ptr, len) @4; err: code @4. */
  function writeRequest(ret: number, outcome: RequestOutcome): void {
    if (outcome.ok && outcome.value.length > bounds.maxMessageBytes) outcome = { ok: false, error: "too-large" };
    if (!outcome.ok) {
      const at = retArea(ret, 12, 4);
      const u8 = memory.u8();
      u8[at] = 1;
      u8[at + 4] = REQUEST_CODES[outcome.error] ?? REQUEST_CODES.failed;
      return;
    }
    const answer = outcome.value;
    // The copy back is paid for like the copy in: 1 unit per 64 bytes.
    if (answer.length > 0) charge(Math.ceil(answer.length / 64));
    const ptr = lowerBytes(answer, 1, "request answer");
    const at = retArea(ret, 12, 4); // memory may have grown in realloc
    const dv = memory.dv();
    dv.setUint8(at, 0);
    dv.setUint32(at + 4, ptr, true);
    dv.setUint32(at + 8, answer.length, true);
  }

  /** Copy bytes into a block from the guest's cabi_realloc; its answer is checked (a lying allocator is an AbiViolation). */
  function lowerBytes(data: Uint8Array, align: number, what: string): number {
    if (data.length === 0) return align;
    if (!ctx.realloc) throw new AbiViolation(ctx.currentExport, "the guest exports no cabi_realloc", { plugin: ctx.plugin });
    let ptr: number;
    inRealloc = true;
    try {
      ptr = ctx.realloc(0, 0, align, data.length) >>> 0;
    } finally {
      inRealloc = false;
    }
    const u8 = memory.u8();
    const n = data.length;
    // The checks that name the failure (and build its text) run only when a bound fails.
    if ((ptr & (align - 1)) !== 0 || ptr + n > u8.length) {
      memory.checkAlign(ptr, align, `cabi_realloc result for the ${what}`, ctx.currentExport);
      memory.check(ptr, n, `cabi_realloc result for the ${what}`, ctx.currentExport);
    }
    if (n > 64) u8.set(data, ptr);
    else for (let i = 0; i < n; i++) u8[ptr + i] = data[i]!; // a short copy costs less than a call to set
    return ptr;
  }

  /**
   * `option<message-info>` (align 8, 80 bytes): tag @0, the record @8 (layout: MESSAGE_INFO). Every string and the
   * metadata list are lowered before the return area is written, since each cabi_realloc may grow memory.
   */
  function writeMessageInfo(ret: number, info: MessageInfo): void {
    const source = info.source === undefined ? undefined : encodeString(info.source);
    const target = info.target === undefined ? undefined : encodeString(info.target);
    const eventName = encodeName(info.eventName);
    const meta = info.metadata.map(([k, v]) => [encodeString(k), encodeString(v)] as const);
    let total = (source?.length ?? 0) + (target?.length ?? 0) + eventName.length + meta.length * 16;
    for (const [k, v] of meta) total += k.length + v.length;
    charge(cost(total));
    const lowered = (b: Uint8Array | undefined, what: string): [number, number] => (b === undefined ? [0, 0] : [lowerBytes(b, 1, what), b.length]);
    const [sPtr, sLen] = lowered(source, "message source");
    const [tPtr, tLen] = lowered(target, "message target");
    const [ePtr, eLen] = lowered(eventName, "message event name");
    const pairs = meta.map(([k, v]) => [lowered(k, "metadata key"), lowered(v, "metadata value")] as const);
    let listPtr = 4;
    if (pairs.length > 0) {
      const list = new Uint8Array(pairs.length * 16);
      const ldv = new DataView(list.buffer);
      pairs.forEach(([[kp, kl], [vp, vl]], i) => {
        ldv.setUint32(i * 16, kp, true);
        ldv.setUint32(i * 16 + 4, kl, true);
        ldv.setUint32(i * 16 + 8, vp, true);
        ldv.setUint32(i * 16 + 12, vl, true);
      });
      listPtr = lowerBytes(list, 4, "metadata list");
    }
    const at = retArea(ret, MESSAGE_INFO_AREA, 8);
    memory.u8().fill(0, at, at + MESSAGE_INFO_AREA);
    const dv = memory.dv();
    const r = at + 8;
    dv.setUint8(at, 1);
    dv.setBigUint64(r, BigInt(info.id), true);
    if (info.parentId !== undefined) {
      dv.setUint8(r + 8, 1);
      dv.setBigUint64(r + 16, BigInt(info.parentId), true);
    }
    if (source !== undefined) {
      dv.setUint8(r + 24, 1);
      dv.setUint32(r + 28, sPtr, true);
      dv.setUint32(r + 32, sLen, true);
    }
    if (target !== undefined) {
      dv.setUint8(r + 36, 1);
      dv.setUint32(r + 40, tPtr, true);
      dv.setUint32(r + 44, tLen, true);
    }
    dv.setUint32(r + 48, ePtr, true);
    dv.setUint32(r + 52, eLen, true);
    dv.setUint8(r + 56, MESSAGE_KIND_CODE[info.kind]);
    dv.setUint32(r + 60, listPtr, true);
    dv.setUint32(r + 64, pairs.length, true);
  }
}

/** Size of `option<message-info>`'s return area (align 8): the tag, then the 72-byte record at offset 8. */
export const MESSAGE_INFO_AREA = 80;
/** Size of `result<option<list<u8>>, E>`'s (and `result<option<string>, E>`'s) return area, align 4. */
export const OPTION_AREA = 16;
/** Size of `result<key-page, state-error>`'s return area, align 4. */
export const KEY_PAGE_AREA = 24;


const lenient = new TextDecoder();

/** The first `n` bytes of a string in guest memory, cut back to a character boundary (the rest is never read). */
function prefixString(memory: GuestMemory, ptr: number, n: number): string {
  const u8 = memory.u8();
  let end = ptr + n;
  // Back off continuation bytes (10xxxxxx) and the lead byte of the cut character.
  let k = end;
  while (k > ptr && (u8[k - 1]! & 0xc0) === 0x80) k--;
  if (k > ptr && u8[k - 1]! >= 0xc0) end = k - 1;
  return lenient.decode(u8.subarray(ptr, end));
}
