/**
 * The v8 engine's call path: calls the guest core module's exports directly
 * and does the canonical ABI work for the four `guest` functions by hand
 * (lower arguments with `cabi_realloc`, call, lift and bounds-check results,
 * post-return). This is what makes a 16-byte dispatch cost ~100 ns instead of
 * the several microseconds of stock jco glue.
 */
import { guestActivity, guestEnter, guestExit } from "./guest-activity.js";
import {
  AbiViolation,
  FuelExhausted,
  InstanceFault,
  PlughostError,
  PluginExited,
  PluginTrap,
  ReentrancyError,
} from "../../contract/errors.js";
import type { EngineInstance, HookOutcome } from "../engine.js";
import { encodeName, encodeString, type GuestMemory } from "./guest-memory.js";
import type { ImportContext } from "./host-imports.js";
import { fillSink, type HookSink } from "../../hooks/sink.js";
import { interfaceFault, type AppInterfaces } from "./app-interfaces.js";
import { HostImplementationError, type ExportCaller } from "../../interfaces/canonical-abi.js";

type Realloc = (ptr: number, oldSize: number, align: number, newSize: number) => number;
type Fn4 = (a: number, b: number, c: number, d: number) => number;
/** An instrumenter fuel entry of a `Fn4` export: its arguments, the counter's start value, where to store what is left. */
type FuelEntry4 = (a: number, b: number, c: number, d: number, counter: number, leftAt: number) => number;

/** The guest core module's exports that the call path uses. */
export interface GuestExports {
  realloc: Realloc;
  init: Fn4;
  teardown: () => number;
  onEvent: Fn4;
  onHook: Fn4;
  /** Post-return functions, where the guest defines them (the canonical ABI requires calling them). */
  postInit: PostReturn | undefined;
  postTeardown: PostReturn | undefined;
  postOnEvent: PostReturn | undefined;
  postOnHook: PostReturn | undefined;
  /** The C SDK's argument arena, when the guest offers it (see `probeArena`). */
  arena?: Arena | undefined;
  /**
   * `onEvent`'s and `onHook`'s fuel entries (`InstrumentOptions.fuelEntries`), on a metered instance, each where its
   * export has no post-return: the arena path calls them instead, and reads the fuel left from `Arena.scratch`.
   */
  onEventFuel?: FuelEntry4 | undefined;
  onHookFuel?: FuelEntry4 | undefined;
  /** The optional `lifecycle` exports (on-suspend, on-resume) and their post-returns, when the guest exports them. */
  onSuspend?: (() => number) | undefined;
  onResume?: (() => number) | undefined;
  postOnSuspend?: PostReturn | undefined;
  postOnResume?: PostReturn | undefined;
  /** The optional `config-watch` export (config string → status), when the guest exports it. */
  onConfigChanged?: ((ptr: number, len: number) => number) | undefined;
  postOnConfigChanged?: PostReturn | undefined;
  /** The optional `handoff` exports: `snapshot` returns a pointer to its list's (ptr, len); `restore` takes a list. */
  snapshot?: (() => number) | undefined;
  postSnapshot?: PostReturn | undefined;
  restore?: ((ptr: number, len: number) => number) | undefined;
  postRestore?: PostReturn | undefined;
}

/**
 * The C SDK's bump arena for call arguments (`plughost-c-sdk-arena` in
 * guest-sdks/c/src/plughost_component.c): the host writes `on-event` and
 * `on-hook` arguments into it as `cabi_realloc` would, saving one call into
 * Wasm per argument. Addresses are checked against memory on every use: a
 * guest that lies about them can only corrupt itself.
 */
export interface Arena {
  base: number;
  size: number;
  /** Address of the guest's `arena_top` (a u32). */
  topAddr: number;
  /** Fuel `cabi_realloc` costs on the arena path: billed for each argument placed, as if the guest had run it. */
  reallocFuel: number;
  /**
   * Where a fuel entry stores the fuel left: the layout record's first 8 bytes, which nothing reads once the host has
   * (the SDK writes the record afresh whenever it is asked for it). Not the arena: a hook's output may be the input
   * passed through from there.
   */
  scratch: number;
}

type PostReturn = (ret: number) => void;

const ARENA_EXPORT = "plughost-c-sdk-arena";

/**
 * Read the C SDK's arena layout, when the guest exports it, and measure the
 * fuel its `cabi_realloc` costs on the arena path (metered instances bill
 * that much per argument the host places, so fuel matches the engines that
 * call `cabi_realloc`). Throws what the guest's calls throw.
 */
export function probeArena(exports: Record<string, unknown>, memory: GuestMemory, realloc: Realloc, meter: CallMeter | undefined): Arena | undefined {
  const layout = exports[ARENA_EXPORT];
  if (typeof layout !== "function") return undefined;
  meter?.beginCall();
  const at = (layout as () => number)() >>> 0;
  meter?.endCall();
  if (at % 4 !== 0 || at + 16 > memory.u8().length) return undefined;
  const dv = memory.dv();
  const [version, base, size, topAddr] = [0, 4, 8, 12].map((o) => dv.getUint32(at + o, true)) as [number, number, number, number];
  const length = memory.u8().length;
  if (version !== 1 || base + size > length || topAddr % 4 !== 0 || topAddr + 4 > length || size < 2) return undefined;
  let reallocFuel = 0;
  if (meter) {
    const top = dv.getUint32(topAddr, true);
    meter.beginCall();
    realloc(0, 0, 1, 1);
    reallocFuel = meter.endCall();
    memory.dv().setUint32(topAddr, top, true); // give the probe's byte back
    meter.armPrebill(2 * reallocFuel); // on-event and on-hook place two arguments
  }
  return { base, size, topAddr, reallocFuel, scratch: at };
}

/** Per-call metering (fuel), supplied when limits are in force: the instance's `Limits`. */
export interface CallMeter {
  beginCall(budget?: number, prebilled?: number): void;
  armPrebill(units: number): void;
  /** Fuel used by the call just finished. */
  endCall(): number;
  /** `beginCall()` for a call through a fuel entry: returns what to arm the counter with. */
  enterCall(prebilled?: number): number;
  /** `endCall()` for a call through a fuel entry, given the fuel it stored as left. */
  leaveCall(left: number): number;
  isFuelSignal(err: unknown): boolean;
  readonly callBudget: number;
}

/** Thrown by the `wasi:cli/exit` override; never escapes the engine. */
export class ExitSignal extends Error {
  constructor(readonly exitCode: number) {
    super(`exit(${exitCode})`);
  }
}

const EXPORTS = {
  init: "plughost:plugin/guest#init",
  teardown: "plughost:plugin/guest#teardown",
  onEvent: "plughost:plugin/guest#on-event",
  onHook: "plughost:plugin/guest#on-hook",
  onSuspend: "plughost:plugin/lifecycle#on-suspend",
  onResume: "plughost:plugin/lifecycle#on-resume",
  onConfigChanged: "plughost:plugin/config-watch#on-config-changed",
  snapshot: "plughost:plugin/handoff#snapshot",
  restore: "plughost:plugin/handoff#restore",
} as const;

/** The arena's top after placing `len` bytes as the C SDK's cabi_realloc does, or -1 when they do not fit. */
function arenaFit(top: number, len: number, size: number): number {
  if (top < 0 || len === 0) return top;
  const start = (top + 15) & ~15;
  return len < size && start + len + 1 <= size ? start + len + 1 : -1;
}

/**
 * `Uint8Array.prototype.set`, called with `.call`: optimised code then calls the builtin directly, where `u8.set(…)`
 * looks the method up through an inline cache on every call (a few ns of a ~100 ns dispatch).
 */
const typedSet = Uint8Array.prototype.set as (this: Uint8Array, src: ArrayLike<number>, offset: number) => void;

/** Copy `len` bytes of `src` (`srcDv`: a DataView of the same bytes) to `at` in guest memory, four at a time. */
function copyWords(dv: DataView, u8: Uint8Array, at: number, srcDv: DataView, src: Uint8Array, len: number): void {
  let k = 0;
  for (; k + 4 <= len; k += 4) dv.setInt32(at + k, srcDv.getInt32(k, true), true);
  for (; k < len; k++) u8[at + k] = src[k]!;
}

export class V8Instance implements EngineInstance {
  readonly inline = true;
  readonly #plugin: string;
  readonly #guest: GuestExports;
  readonly #memory: GuestMemory;
  readonly #imports: ImportContext;
  readonly #meter: CallMeter | undefined;
  readonly #release: () => void;
  readonly #app: AppInterfaces | undefined;
  #lastIface = "";
  #lastFn = "";
  #lastCaller: ExportCaller | undefined;
  /** `${#lastIface}#${#lastFn}`, the export's name in errors and the call's current export (made once, not per call). */
  #lastExportName = "";
  #busy = false;
  #fault: InstanceFault | undefined;
  #lastFuel = 0;
  #disposed = false;
  // The lowered arguments of the call being made (fields, not a tuple: no allocation per call).
  /** The last event name and its bytes: a plugin mostly gets one event over and over. */
  #lastName = "";
  #lastNameBytes: Uint8Array = new Uint8Array(0);
  #lastNameDv: DataView = new DataView(new ArrayBuffer(0));
  /** Where the data of a call with the last event name starts in the C SDK's arena; -1: no arena, or no room. */
  #lastNameDataAt = -1;
  /** The ok outcome `onHookSyncInto` hands out, reused. */
  readonly #okInto: { ok: true; data: Uint8Array } = { ok: true, data: new Uint8Array(0) };
  #np = 0;
  #nl = 0;
  #dp = 0;
  #dl = 0;

  constructor(
    plugin: string,
    guest: GuestExports,
    memory: GuestMemory,
    imports: ImportContext,
    meter: CallMeter | undefined,
    release: () => void,
    app?: AppInterfaces,
  ) {
    this.#plugin = plugin;
    this.#guest = guest;
    this.#memory = memory;
    this.#imports = imports;
    this.#meter = meter;
    this.#release = release;
    this.#app = app;
    // Present only when the guest exports them: the registry tells a plugin of a suspend only then.
    if (guest.onSuspend) this.onSuspend = async () => this.suspendSync();
    if (guest.onResume) this.onResume = async () => this.resumeSync();
    if (guest.onConfigChanged) this.onConfigChanged = async (configJson: string) => this.configChangedSync(configJson);
    if (guest.snapshot && guest.restore) {
      this.snapshot = async () => this.snapshotSync();
      this.restore = async (data: Uint8Array) => this.restoreSync(data);
    }
  }

  onSuspend?: () => Promise<number>;
  onResume?: () => Promise<number>;
  onConfigChanged?: (configJson: string) => Promise<number>;
  snapshot?: () => Promise<Uint8Array>;
  restore?: (data: Uint8Array) => Promise<number>;

  // ── async API (the engine contract) over the synchronous fast path ──

  async init(apiVersion: string, configJson: string): Promise<number> {
    return this.initSync(apiVersion, configJson);
  }
  async teardown(): Promise<number> {
    return this.teardownSync();
  }
  async onEvent(eventName: string, data: Uint8Array): Promise<number> {
    return this.onEventSync(eventName, data);
  }
  async onHook(eventName: string, data: Uint8Array): Promise<HookOutcome> {
    return this.onHookSync(eventName, data);
  }

  /** A typed export's function (docs/host-interfaces.md); see `callExportSync`. */
  async callExport(iface: string, fn: string, args: readonly unknown[]): Promise<unknown> {
    return this.callExportSync(iface, fn, args);
  }

  /**
   * Call `fn` (WIT name or jsName) of typed export `iface` (versioned id, or unversioned) with JS values. Arguments
   * that do not fit are an `InterfaceValueError` before the guest runs (the instance stays usable); a bad result is
   * an `AbiViolation` with that error as cause. Runs as every call does (serialized, fuel, faults).
   */
  callExportSync(iface: string, fn: string, args: readonly unknown[]): unknown {
    if (!this.#app) throw new PluginTrap(`${iface}#${fn}`, "the plugin has no typed exports bound", { plugin: this.#plugin });
    // The last function called, kept: a loop calling one function looks nothing up.
    let caller = this.#lastCaller;
    if (caller === undefined || iface !== this.#lastIface || fn !== this.#lastFn) {
      caller = this.#app.exportCaller(iface, fn);
      this.#lastIface = iface;
      this.#lastFn = fn;
      this.#lastCaller = caller;
      this.#lastExportName = `${iface}#${fn}`;
    }
    caller.check(args);
    const name = this.#lastExportName;
    this.#enter(name);
    try {
      const value = caller.unchecked(args);
      this.#settle();
      return value;
    } catch (err) {
      throw this.#failed(err, name);
    }
  }

  lastCallFuel(): number {
    return this.#lastFuel;
  }

  /** The guest's main linear memory (the one the canonical ABI lowers into), in bytes. */
  memoryBytes(): number {
    return this.#memory.byteLength;
  }

  initSync(apiVersion: string, configJson: string): number {
    this.#enter(EXPORTS.init);
    try {
      const [ap, al] = this.#lower(encodeString(apiVersion), EXPORTS.init);
      const [cp, cl] = this.#lower(encodeString(configJson), EXPORTS.init);
      const status = this.#guest.init(ap, al, cp, cl);
      this.#guest.postInit?.(status);
      this.#settle();
      return status;
    } catch (err) {
      throw this.#failed(err, EXPORTS.init);
    }
  }

  teardownSync(): number {
    this.#enter(EXPORTS.teardown);
    try {
      const status = this.#guest.teardown();
      this.#guest.postTeardown?.(status);
      this.#settle();
      return status;
    } catch (err) {
      throw this.#failed(err, EXPORTS.teardown);
    }
  }

  /** `lifecycle.on-suspend`; throws when the guest does not export it. */
  suspendSync(): number {
    return this.#lifecycleCall(this.#guest.onSuspend, this.#guest.postOnSuspend, EXPORTS.onSuspend);
  }

  /** `lifecycle.on-resume`; throws when the guest does not export it. */
  resumeSync(): number {
    return this.#lifecycleCall(this.#guest.onResume, this.#guest.postOnResume, EXPORTS.onResume);
  }

  /** `config-watch.on-config-changed` with the whole new configuration; throws when the guest does not export it. */
  configChangedSync(configJson: string): number {
    return this.#callWithBytes(this.#guest.onConfigChanged, this.#guest.postOnConfigChanged, EXPORTS.onConfigChanged, encodeString(configJson), "config-watch");
  }

  /** `handoff.restore` with an earlier instance's snapshot; throws when the guest does not export it. */
  restoreSync(data: Uint8Array): number {
    return this.#callWithBytes(this.#guest.restore, this.#guest.postRestore, EXPORTS.restore, data, "handoff");
  }

  /** `handoff.snapshot`: the guest's list<u8>, bounds-checked and copied out (1 fuel unit per 64 bytes), then post-return. */
  snapshotSync(): Uint8Array {
    const name = EXPORTS.snapshot;
    const fn = this.#guest.snapshot;
    if (!fn) throw new PluginTrap(name, "the plugin does not export the handoff interface", { plugin: this.#plugin });
    this.#enter(name);
    try {
      const ret = fn() >>> 0;
      this.#memory.checkAlign(ret, 4, "return area", name);
      this.#memory.check(ret, 8, "return area", name);
      const dv = this.#memory.dv();
      const ptr = dv.getUint32(ret, true);
      const len = dv.getUint32(ret + 4, true);
      this.#memory.check(ptr, len, "snapshot list", name);
      if (len > 0) this.#imports.limits?.charge(Math.ceil(len / 64));
      const data = this.#memory.readBytes(ptr, len, "snapshot list", name);
      this.#guest.postSnapshot?.(ret);
      this.#settle();
      return data;
    } catch (err) {
      throw this.#failed(err, name);
    }
  }

  /** An optional export taking one string or list (lowered with cabi_realloc) and returning a status. */
  #callWithBytes(fn: ((ptr: number, len: number) => number) | undefined, postReturn: PostReturn | undefined, exportName: string, bytes: Uint8Array, iface: string): number {
    if (!fn) throw new PluginTrap(exportName, `the plugin does not export the ${iface} interface`, { plugin: this.#plugin });
    this.#enter(exportName);
    try {
      const [ptr, len] = this.#lower(bytes, exportName);
      const status = fn(ptr, len);
      postReturn?.(status);
      this.#settle();
      return status;
    } catch (err) {
      throw this.#failed(err, exportName);
    }
  }

  #lifecycleCall(fn: (() => number) | undefined, postReturn: PostReturn | undefined, exportName: string): number {
    if (!fn) throw new PluginTrap(exportName, "the plugin does not export the lifecycle interface", { plugin: this.#plugin });
    this.#enter(exportName);
    try {
      const status = fn();
      postReturn?.(status);
      this.#settle();
      return status;
    } catch (err) {
      throw this.#failed(err, exportName);
    }
  }

  onEventSync(eventName: string, data: Uint8Array): number {
    const arena = this.#guest.arena;
    const dl = data.length;
    const at = this.#lastNameDataAt;
    // The usual call (the C SDK's arena, the same event as last time, data that fits) in one function, as
    // `#hookIntoArena`: the general path's helpers are not inlined that deep. Same checks, order and fuel.
    if (arena !== undefined && eventName === this.#lastName && at >= 0 && dl < arena.size && at + dl + 1 <= arena.size) {
      return this.#eventIntoArena(arena, at, data, dl);
    }
    const nameBytes = this.#nameBytes(eventName);
    const placed = this.#enterWith(EXPORTS.onEvent, nameBytes, data);
    try {
      this.#lowerArgs(placed, nameBytes, data, EXPORTS.onEvent);
      const status = this.#guest.onEvent(this.#np, this.#nl, this.#dp, this.#dl);
      // C and Rust guests define no post-return for a status result; componentize-js guests do.
      if (this.#guest.postOnEvent) this.#guest.postOnEvent(status);
      this.#settle();
      return status;
    } catch (err) {
      throw this.#failed(err, EXPORTS.onEvent);
    }
  }

  onHookSync(eventName: string, data: Uint8Array): HookOutcome {
    return this.onHookSyncInto(eventName, data, undefined);
  }

  /**
   * @internal `onHookSync`, and for the hook chain's synchronous path (src/hooks/sink.ts) with a `sink`: an ok
   * result's bytes are then copied into it instead of a new array, and the returned object is reused by the next call;
   * `from`: the sink `data` is the view of (the previous step's), read four bytes at a time.
   */
  onHookSyncInto(eventName: string, data: Uint8Array, sink: HookSink | undefined, from?: HookSink): HookOutcome {
    const arena = this.#guest.arena;
    const dl = data.length;
    const at = this.#lastNameDataAt;
    // The hook chain's usual step (a sink, the C SDK's arena, the same event as last time, short data that fits)
    // in one function: the helpers the general path calls are not inlined that deep, and each call costs about as
    // much as the work it does. Same checks, same order, same fuel as the general path below.
    if (sink !== undefined && arena !== undefined && eventName === this.#lastName && at >= 0 && dl <= 256 && dl < arena.size && at + dl + 1 <= arena.size) {
      return this.#hookIntoArena(arena, at, data, dl, sink, from);
    }
    const name = EXPORTS.onHook;
    const nameBytes = this.#nameBytes(eventName);
    const placed = this.#enterWith(name, nameBytes, data);
    try {
      this.#lowerArgs(placed, nameBytes, data, name, from);
      const ret = this.#guest.onHook(this.#np, this.#nl, this.#dp, this.#dl) >>> 0;
      // result<list<u8>, s32>: u8 discriminant at 0, payload at 4.
      this.#memory.checkAlign(ret, 4, "return area", name);
      this.#memory.check(ret, 12, "return area", name);
      const dv = this.#memory.dv();
      const tag = dv.getUint8(ret);
      let outcome: HookOutcome;
      if (tag === 0) {
        const ptr = dv.getUint32(ret + 4, true);
        const len = dv.getUint32(ret + 8, true);
        if (sink === undefined) outcome = { ok: true, data: this.#memory.readBytes(ptr, len, "result list", name) };
        else {
          this.#memory.check(ptr, len, "result list", name);
          const ok = this.#okInto;
          ok.data = fillSink(sink, this.#memory.u8(), dv, ptr >>> 0, len);
          outcome = ok;
        }
      } else if (tag === 1) {
        outcome = { ok: false, status: dv.getInt32(ret + 4, true) };
      } else {
        throw new AbiViolation(name, `result discriminant ${tag} is neither ok (0) nor err (1)`, { plugin: this.#plugin });
      }
      this.#guest.postOnHook?.(ret);
      this.#settle();
      return outcome;
    } catch (err) {
      throw this.#failed(err, name);
    }
  }

  /** `onEventSync`'s fast path: the name is `#lastNameBytes` (placed at the arena's base), `data` goes at `at`. */
  #eventIntoArena(arena: Arena, at: number, data: Uint8Array, dl: number): number {
    const name = EXPORTS.onEvent;
    const nameBytes = this.#lastNameBytes;
    const nl = nameBytes.length;
    // #enter, with #enterWith's prebilled fuel: cabi_realloc's for each non-empty argument.
    if (this.#fault) throw this.#fault;
    if (this.#busy) throw new ReentrancyError(name, { plugin: this.#plugin });
    this.#busy = true;
    this.#imports.currentExport = name;
    const meter = this.#meter;
    const guest = this.#guest;
    // A metered call through the fuel entry arms and reads the counter inside that one call into Wasm.
    const entry = meter !== undefined ? guest.onEventFuel : undefined;
    let counter = 0;
    if (meter !== undefined) {
      const prebilled = arena.reallocFuel * ((nl > 0 ? 1 : 0) + (dl > 0 ? 1 : 0));
      if (entry !== undefined) counter = meter.enterCall(prebilled);
      else meter.beginCall(undefined, prebilled);
    }
    if (guestActivity.active) guestEnter(this.#plugin);
    try {
      // #lowerArgs' arena case: each argument 16-byte aligned and followed by a zero byte, then the new top.
      const memory = this.#memory;
      const u8 = memory.u8();
      const dv = memory.dv();
      const base = arena.base;
      let np = 1; // the canonical ABI's dangling pointer for empty lists
      let dp = 1;
      let top = 0;
      if (nl > 0) {
        np = base;
        if (nl <= 64) copyWords(dv, u8, base, this.#lastNameDv, nameBytes, nl);
        else u8.set(nameBytes, base);
        u8[base + nl] = 0;
        top = nl + 1;
      }
      if (dl > 0) {
        dp = base + at;
        typedSet.call(u8, data, dp);
        u8[dp + dl] = 0;
        top = at + dl + 1;
      }
      dv.setUint32(arena.topAddr, top, true);
      let status: number;
      if (entry !== undefined) {
        status = entry(np, nl, dp, dl, counter, arena.scratch);
        // Memory may have grown (a new view) during the call.
        const left = memory.dv().getFloat64(arena.scratch, true);
        this.#busy = false;
        if (guestActivity.active) guestExit();
        this.#lastFuel = meter!.leaveCall(left);
        return status;
      }
      status = guest.onEvent(np, nl, dp, dl);
      // C and Rust guests define no post-return for a status result; componentize-js guests do.
      if (guest.postOnEvent !== undefined) guest.postOnEvent(status);
      // #settle
      this.#busy = false;
      if (guestActivity.active) guestExit();
      if (meter !== undefined) this.#lastFuel = meter.endCall();
      return status;
    } catch (err) {
      throw this.#failed(err, name);
    }
  }

  /** `onHookSyncInto`'s fast path: the name is `#lastNameBytes` (placed at the arena's base), `data` goes at `at`. */
  #hookIntoArena(arena: Arena, at: number, data: Uint8Array, dl: number, sink: HookSink, from: HookSink | undefined): HookOutcome {
    const name = EXPORTS.onHook;
    const nameBytes = this.#lastNameBytes;
    const nl = nameBytes.length;
    // #enter, with #enterWith's prebilled fuel: cabi_realloc's for each non-empty argument.
    if (this.#fault) throw this.#fault;
    if (this.#busy) throw new ReentrancyError(name, { plugin: this.#plugin });
    this.#busy = true;
    this.#imports.currentExport = name;
    const meter = this.#meter;
    const guest = this.#guest;
    // As #eventIntoArena: a metered call through the fuel entry arms and reads the counter inside its one call.
    const entry = meter !== undefined ? guest.onHookFuel : undefined;
    let counter = 0;
    if (meter !== undefined) {
      const prebilled = arena.reallocFuel * ((nl > 0 ? 1 : 0) + (dl > 0 ? 1 : 0));
      if (entry !== undefined) counter = meter.enterCall(prebilled);
      else meter.beginCall(undefined, prebilled);
    }
    if (guestActivity.active) guestEnter(this.#plugin);
    try {
      // #lowerArgs' arena case: each argument 16-byte aligned and followed by a zero byte, then the new top.
      const memory = this.#memory;
      let u8 = memory.u8();
      let dv = memory.dv();
      const base = arena.base;
      let np = 1; // the canonical ABI's dangling pointer for empty lists
      let dp = 1;
      let top = 0;
      if (nl > 0) {
        np = base;
        if (nl <= 64) copyWords(dv, u8, base, this.#lastNameDv, nameBytes, nl);
        else u8.set(nameBytes, base);
        u8[base + nl] = 0;
        top = nl + 1;
      }
      if (dl > 0) {
        dp = base + at;
        if (from !== undefined) copyWords(dv, u8, dp, from.dv, data, dl);
        else typedSet.call(u8, data, dp);
        u8[dp + dl] = 0;
        top = at + dl + 1;
      }
      dv.setUint32(arena.topAddr, top, true);
      const ret = (entry !== undefined ? entry(np, nl, dp, dl, counter, arena.scratch) : guest.onHook(np, nl, dp, dl)) >>> 0;
      // A memory.grow during the call detached the views: u8() and dv() renew them.
      u8 = memory.u8();
      dv = memory.dv();
      // Read now, settled at the end: a bad result fails the call first, and #failed then settles it from the counter,
      // which holds the same figure.
      const left = entry !== undefined ? dv.getFloat64(arena.scratch, true) : 0;
      // result<list<u8>, s32>: u8 discriminant at 0, payload at 4. The checks that throw run only when a bound fails.
      if ((ret & 3) !== 0 || ret + 12 > u8.length) {
        memory.checkAlign(ret, 4, "return area", name);
        memory.check(ret, 12, "return area", name);
      }
      const tag = u8[ret]!;
      let outcome: HookOutcome;
      if (tag === 0) {
        const ptr = dv.getUint32(ret + 4, true);
        const len = dv.getUint32(ret + 8, true);
        if (ptr + len > u8.length) memory.check(ptr, len, "result list", name);
        const ok = this.#okInto;
        ok.data = fillSink(sink, u8, dv, ptr, len);
        outcome = ok;
      } else if (tag === 1) {
        outcome = { ok: false, status: dv.getInt32(ret + 4, true) };
      } else {
        throw new AbiViolation(name, `result discriminant ${tag} is neither ok (0) nor err (1)`, { plugin: this.#plugin });
      }
      guest.postOnHook?.(ret);
      // #settle
      this.#busy = false;
      if (guestActivity.active) guestExit();
      if (meter !== undefined) this.#lastFuel = entry !== undefined ? meter.leaveCall(left) : meter.endCall();
      return outcome;
    } catch (err) {
      throw this.#failed(err, name);
    }
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#fault ??= new PluginTrap("dispose", "instance disposed", { plugin: this.#plugin });
    this.#release();
  }

  /** Copy bytes into fresh guest memory; the callee owns (and frees) them. */
  #lower(bytes: Uint8Array, exportName: string): [number, number] {
    const len = bytes.length;
    if (len === 0) return [1, 0]; // the canonical ABI's dangling pointer for empty lists
    const ptr = this.#guest.realloc(0, 0, 1, len) >>> 0;
    this.#memory.check(ptr, len, "cabi_realloc result", exportName);
    this.#memory.u8().set(bytes, ptr);
    return [ptr, len];
  }

  #nameBytes(eventName: string): Uint8Array {
    if (eventName !== this.#lastName) {
      const bytes = (this.#lastNameBytes = encodeName(eventName));
      this.#lastNameDv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      this.#lastName = eventName;
      // Where a call's data goes in the arena after this name (#enterWith), or -1 when the name alone does not fit.
      const arena = this.#guest.arena;
      const nl = bytes.length;
      this.#lastNameDataAt = arena === undefined || nl >= arena.size ? -1 : nl > 0 ? (nl + 16) & ~15 : 0;
    }
    return this.#lastNameBytes;
  }

  #enter(exportName: string, prebilled = 0): void {
    if (this.#fault) throw this.#fault;
    if (this.#busy) throw new ReentrancyError(exportName, { plugin: this.#plugin });
    this.#busy = true;
    this.#imports.currentExport = exportName;
    this.#meter?.beginCall(undefined, prebilled);
    if (guestActivity.active) guestEnter(this.#plugin);
  }

  /**
   * Enter a call that takes (name, data). Returns where `data` starts in the
   * C SDK's arena when both arguments fit there (the call is then billed
   * `cabi_realloc`'s fuel for each), or -1 when they go through `cabi_realloc`.
   * The SDK empties its arena when each call ends, so a call's arguments start
   * at its base.
   */
  #enterWith(exportName: string, name: Uint8Array, data: Uint8Array): number {
    const arena = this.#guest.arena;
    let dataAt = -1;
    let prebilled = 0;
    if (arena) {
      const nl = name.length;
      const dl = data.length;
      dataAt = nl > 0 ? (nl + 16) & ~15 : 0; // after the name and its spare byte, 16-byte aligned
      if (nl >= arena.size || dl >= arena.size || (dl > 0 ? dataAt + dl + 1 : dataAt) > arena.size) dataAt = -1;
      else prebilled = arena.reallocFuel * ((nl > 0 ? 1 : 0) + (dl > 0 ? 1 : 0));
    }
    this.#enter(exportName, prebilled);
    return dataAt;
  }

  /** Lower (name, data) into `#np…#dl`: into the arena when `#enterWith` found room, else through cabi_realloc. */
  #lowerArgs(dataAt: number, name: Uint8Array, data: Uint8Array, exportName: string, from?: HookSink): void {
    const arena = this.#guest.arena;
    if (dataAt < 0 || !arena) {
      [this.#np, this.#nl] = this.#lower(name, exportName);
      [this.#dp, this.#dl] = this.#lower(data, exportName);
      return;
    }
    // Placed as cabi_realloc places them: each 16-byte aligned and followed by a zero byte. Short ones four bytes
    // at a time through DataViews (the name's, a hook chain's buffer's): each access to guest memory checks for a
    // detached buffer, and a set() costs a builtin call.
    const u8 = this.#memory.u8();
    const dv = this.#memory.dv();
    const base = arena.base;
    const nl = name.length;
    const dl = data.length;
    this.#nl = nl;
    this.#dl = dl;
    this.#np = 1; // the canonical ABI's dangling pointer for empty lists
    this.#dp = 1;
    let top = 0;
    if (nl > 0) {
      this.#np = base;
      if (nl <= 64 && name === this.#lastNameBytes) copyWords(dv, u8, base, this.#lastNameDv, name, nl);
      else u8.set(name, base);
      u8[base + nl] = 0;
      top = nl + 1;
    }
    if (dl > 0) {
      const dp = (this.#dp = base + dataAt);
      if (from !== undefined && dl <= 256) copyWords(dv, u8, dp, from.dv, data, dl);
      else typedSet.call(u8, data, dp);
      u8[dp + dl] = 0;
      top = dataAt + dl + 1;
    }
    dv.setUint32(arena.topAddr, top, true); // the new top (< the arena's size)
  }

  /** End a call that returned; metering may still find it over budget (and throw). */
  #settle(): void {
    this.#busy = false;
    if (guestActivity.active) guestExit();
    if (this.#meter) this.#lastFuel = this.#meter.endCall();
  }

  /** Turn whatever the call threw into a typed error; a fault poisons the instance. */
  #failed(err: unknown, exportName: string): PlughostError {
    if (this.#busy) {
      // The call threw before settling: account for its fuel, ignoring a second signal.
      this.#busy = false;
      if (guestActivity.active) guestExit();
      try {
        if (this.#meter) this.#lastFuel = this.#meter.endCall();
      } catch {
        // already failing
      }
    }
    // Fuel that ran out while an interface call was being paid for: the fuel fault, not the implementation's.
    if (err instanceof HostImplementationError && this.#meter?.isFuelSignal(err.cause)) err = err.cause;
    const details = { plugin: this.#plugin, cause: err };
    let fault: InstanceFault;
    const ifaceFault = interfaceFault(err, exportName, this.#plugin);
    if (ifaceFault) fault = ifaceFault;
    else if (err instanceof InstanceFault) fault = err;
    else if (err instanceof PlughostError) return err;
    else if (this.#meter?.isFuelSignal(err)) fault = new FuelExhausted(exportName, this.#meter.callBudget, details);
    else if (err instanceof ExitSignal) fault = new PluginExited(exportName, err.exitCode, details);
    else if (err instanceof WebAssembly.RuntimeError) fault = new PluginTrap(exportName, err.message, details);
    else if (err instanceof RangeError && /call stack/i.test(err.message)) fault = new PluginTrap(exportName, "stack overflow", details);
    else fault = new PluginTrap(exportName, err instanceof Error ? err.message : String(err), details);
    this.#fault = fault;
    return fault;
  }
}
