/**
 * The v8 engine's call path: calls the guest core module's exports directly
 * and does the canonical ABI work for the four `guest` functions by hand
 * (lower arguments with `cabi_realloc`, call, lift and bounds-check results,
 * post-return). This is what makes a 16-byte dispatch cost ~100 ns instead of
 * the several microseconds of stock jco glue.
 */
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

type Realloc = (ptr: number, oldSize: number, align: number, newSize: number) => number;
type Fn4 = (a: number, b: number, c: number, d: number) => number;

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
}

type PostReturn = (ret: number) => void;

/** Per-call metering (fuel), supplied when limits are in force: the instance's `Limits`. */
export interface CallMeter {
  beginCall(): void;
  /** Fuel used by the call just finished. */
  endCall(): number;
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
} as const;

export class V8Instance implements EngineInstance {
  readonly inline = true;
  readonly #plugin: string;
  readonly #guest: GuestExports;
  readonly #memory: GuestMemory;
  readonly #imports: ImportContext;
  readonly #meter: CallMeter | undefined;
  readonly #release: () => void;
  #busy = false;
  #fault: InstanceFault | undefined;
  #lastFuel = 0;
  #disposed = false;

  constructor(
    plugin: string,
    guest: GuestExports,
    memory: GuestMemory,
    imports: ImportContext,
    meter: CallMeter | undefined,
    release: () => void,
  ) {
    this.#plugin = plugin;
    this.#guest = guest;
    this.#memory = memory;
    this.#imports = imports;
    this.#meter = meter;
    this.#release = release;
  }

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

  lastCallFuel(): number {
    return this.#lastFuel;
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

  onEventSync(eventName: string, data: Uint8Array): number {
    this.#enter(EXPORTS.onEvent);
    try {
      const [np, nl] = this.#lower(encodeName(eventName), EXPORTS.onEvent);
      const [dp, dl] = this.#lower(data, EXPORTS.onEvent);
      const status = this.#guest.onEvent(np, nl, dp, dl);
      // C and Rust guests define no post-return for a status result; componentize-js guests do.
      if (this.#guest.postOnEvent) this.#guest.postOnEvent(status);
      this.#settle();
      return status;
    } catch (err) {
      throw this.#failed(err, EXPORTS.onEvent);
    }
  }

  onHookSync(eventName: string, data: Uint8Array): HookOutcome {
    const name = EXPORTS.onHook;
    this.#enter(name);
    try {
      const [np, nl] = this.#lower(encodeName(eventName), name);
      const [dp, dl] = this.#lower(data, name);
      const ret = this.#guest.onHook(np, nl, dp, dl) >>> 0;
      // result<list<u8>, s32>: u8 discriminant at 0, payload at 4.
      this.#memory.checkAlign(ret, 4, "return area", name);
      this.#memory.check(ret, 12, "return area", name);
      const dv = this.#memory.dv();
      const tag = dv.getUint8(ret);
      let outcome: HookOutcome;
      if (tag === 0) {
        const ptr = dv.getUint32(ret + 4, true);
        const len = dv.getUint32(ret + 8, true);
        outcome = { ok: true, data: this.#memory.readBytes(ptr, len, "result list", name) };
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

  #enter(exportName: string): void {
    if (this.#fault) throw this.#fault;
    if (this.#busy) throw new ReentrancyError(exportName, { plugin: this.#plugin });
    this.#busy = true;
    this.#imports.currentExport = exportName;
    this.#meter?.beginCall();
  }

  /** End a call that returned; metering may still find it over budget (and throw). */
  #settle(): void {
    this.#busy = false;
    if (this.#meter) this.#lastFuel = this.#meter.endCall();
  }

  /** Turn whatever the call threw into a typed error; a fault poisons the instance. */
  #failed(err: unknown, exportName: string): PlughostError {
    if (this.#busy) {
      // The call threw before settling: account for its fuel, ignoring a second signal.
      this.#busy = false;
      try {
        if (this.#meter) this.#lastFuel = this.#meter.endCall();
      } catch {
        // already failing
      }
    }
    const details = { plugin: this.#plugin, cause: err };
    let fault: InstanceFault;
    if (err instanceof InstanceFault) fault = err;
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
