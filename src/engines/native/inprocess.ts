/**
 * Trusted native plugins: the `.so` is loaded into this process by the
 * node-api addon (native/c-adapter). Calls are direct C calls (tens of ns);
 * a crash in the plugin is a crash of the host, so only trusted code runs here.
 */
import { createRequire } from "node:module";
import {
  ContextCreationFailed,
  EngineUnavailable,
  InvalidPluginBinary,
  PluginNotRunning,
  ResourceCleanupFailed,
} from "../../contract/errors.js";
import type { EngineInstance, HookOutcome, LoadRequest } from "../engine.js";
import {
  CallbackTable,
  checkApiVersion,
  currentMessageBytes,
  hostMessaging,
  locateNativeAddon,
  logLevel,
  nativeMetricCalls,
  nativeStateCalls,
  nativeUnavailable,
  packApiVersion,
  requestSyncAnswer,
} from "./shared.js";

/** The host object the addon calls back into (on the JS thread, or via the log channel). */
interface AddonHost {
  log(level: number, message: string): void;
  register(name: string, id: number, isHook: boolean): number;
  emit(name: string, data: Uint8Array): number;
  send(target: string, name: string, data: Uint8Array): number;
  /**
   * A request answered on this thread now (would-block when it cannot be). The payload is `scratch[0, len)`, or
   * `data` when it did not fit. Returns the answer's length when it was written to `scratch`, the answer itself
   * when it did not fit, or -PLUGHOST_REQUEST_ERR(code).
   */
  request(target: string, name: string, len: number, timeoutMs: number, data?: Uint8Array): number | Uint8Array;
  /** The request bytes' way in and out when they fit (copied at once both ways: no ArrayBuffer per request). */
  scratch: Uint8Array;
  /** Small hook inputs and outputs (BoundCalls.hookIn). */
  hookScratch: Uint8Array;
  /** The current call's envelope, encoded (shared.ts encodeMessageInfo), or null. */
  message(): Uint8Array | null;
  /* The state store and the context (shared.ts NativeStateCalls): numbers are plughost.h's codes. */
  stateGet(key: string): Uint8Array | number;
  stateSet(key: string, value: Uint8Array): number;
  stateDelete(key: string): number;
  stateExists(key: string): number;
  stateIncrement(key: string, delta: bigint): bigint | number;
  stateCas(key: string, expected: Uint8Array | null, value: Uint8Array): number;
  stateListKeys(cursor: string | null, limit: number): Uint8Array | number;
  contextGet(key: string): string | number;
  contextSet(key: string, json: string): number;
  /* Plugin-defined metrics (shared.ts NativeMetricCalls): an id / 0, or plughost.h's PLUGHOST_METRIC_ERR(code). */
  metricDefine(kind: number, name: string, help: string, labelNames: string[]): number;
  metricRecord(id: number, value: number, labelValues: string[]): number;
}

/** Request payloads and answers up to this size cross through the plugin's scratch array. */
const REQUEST_SCRATCH = 64 << 10;

declare const handleBrand: unique symbol;
export type NativeHandle = { readonly [handleBrand]: true };

export interface OpenedLibrary {
  handle: NativeHandle;
  name?: string;
  version?: string;
  apiVersion?: number;
  /** Whether the library defines the optional plugin_suspend / plugin_resume. */
  hasSuspend?: boolean;
  hasResume?: boolean;
  /** Whether it defines the optional plugin_config_changed / plugin_snapshot / plugin_restore. */
  hasConfigChanged?: boolean;
  hasSnapshot?: boolean;
  hasRestore?: boolean;
}

/** The two entry points of one registered callback, bound to its id on the C side. */
export interface BoundCalls {
  call(data: Uint8Array): number;
  /** Status when non-zero; else the hook's output, or null to pass the input through. */
  hook(data: Uint8Array): number | Uint8Array | null;
  /**
   * `hook` on `hookScratch[0, len)`: status (an int32) when non-zero; null to pass the input through; the output,
   * or SCRATCH_OUT + its length when it was written back to `hookScratch`.
   */
  hookIn(len: number): number | Uint8Array | null;
}

/** hookIn's answer for an output left in the hook scratch: this plus its length (above any int32 status). */
const SCRATCH_OUT = 2 ** 32;
/** Hook inputs up to this size go through the scratch: V8 keeps such arrays on its heap, and napi would copy each out. */
const SCRATCH_IN_MAX = 64;

declare const slotBrand: unique symbol;
export type SlotHandle = { readonly [slotBrand]: true };

/** The addon's exports (native/c-adapter/src/addon.cc, shm.cc). */
export interface NativeAddon {
  open(path: string): OpenedLibrary;
  init(handle: NativeHandle, host: AddonHost, apiVersion: number, config: string): number;
  bind(handle: NativeHandle, id: number): BoundCalls;
  teardown(handle: NativeHandle): number;
  /** The optional plugin_suspend (`resume` false) or plugin_resume (true); only when `open` reported it. */
  lifecycle(handle: NativeHandle, resume: boolean): number;
  /** The optional plugin_config_changed (plughost_config() answers `config` from then on); only when `open` reported it. */
  configChanged(handle: NativeHandle, config: string): number;
  /** The optional plugin_snapshot: its bytes, or null for none. */
  snapshot(handle: NativeHandle): Buffer | null;
  /** The optional plugin_restore. */
  restore(handle: NativeHandle, data: Uint8Array): number;
  close(handle: NativeHandle): void;
  noop(): void;
  /** The sandbox helper's shared call slot: fd and wakeFd become the helper's fds 5 and 6. */
  shmOpen(): { slot: SlotHandle; fd: number; wakeFd: number };
  shmSpawned(slot: SlotHandle): void;
  /** undefined: the answer comes on the pipe. HOOK: status, output, or null (pass through). */
  shmCall(slot: SlotHandle, type: number, id: number, cb: number, data: Uint8Array, spinNs: number): number | Buffer | null | undefined;
  shmRing(slot: SlotHandle): void;
  shmClose(slot: SlotHandle): void;
}

let addon: NativeAddon | undefined;

/** Load the addon once; EngineUnavailable when it has not been built. */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const found = locateNativeAddon();
  if (!found) throw nativeUnavailable("addon");
  try {
    addon = createRequire(import.meta.url)(found.file) as NativeAddon;
    return addon;
  } catch (err) {
    throw new EngineUnavailable("native", `the native adapter ${found.file} failed to load: ${(err as Error).message}`, { cause: err });
  }
}

function codeOf(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
}

export function openInProcess(request: LoadRequest, file: string): NativeInProcessInstance {
  const native = loadAddon();
  let lib: OpenedLibrary;
  try {
    lib = native.open(file);
  } catch (err) {
    const plugin = request.plugin;
    const code = codeOf(err);
    const message = (err as Error).message;
    if (code === "E_ALREADY_LOADED") throw new ContextCreationFailed(message, { plugin, cause: err });
    throw new InvalidPluginBinary(request.entryPath, message, { plugin, cause: err });
  }
  return new NativeInProcessInstance(request, native, lib);
}

export class NativeInProcessInstance implements EngineInstance {
  readonly inline = true;
  readonly #plugin: string;
  readonly #addon: NativeAddon;
  readonly #lib: OpenedLibrary;
  readonly #request: LoadRequest;
  readonly #table: CallbackTable;
  /** Bound entry points by callback id, made on first use. */
  readonly #bound: BoundCalls[] = [];
  /** Event name → its bound call: one lookup per synchronous call (registrations are never withdrawn). */
  readonly #callByName = new Map<string, (data: Uint8Array) => number>();
  #state: "loaded" | "active" | "stopped" | "disposed" = "loaded";
  /** Small hook inputs and outputs cross here (hookIn); one hook at a time uses it, a re-entrant one goes without. */
  readonly #hookScratch = new Uint8Array(REQUEST_SCRATCH);
  #inHookScratch = false;

  constructor(request: LoadRequest, native: NativeAddon, lib: OpenedLibrary) {
    this.#plugin = request.plugin;
    this.#request = request;
    this.#addon = native;
    this.#lib = lib;
    this.#table = new CallbackTable(request.plugin, request.host);
    if (lib.hasSuspend) this.onSuspend = () => this.#lifecycle(false);
    if (lib.hasResume) this.onResume = () => this.#lifecycle(true);
    if (lib.hasConfigChanged) {
      this.onConfigChanged = async (configJson: string) => {
        this.#checkActive();
        return this.#addon.configChanged(this.#lib.handle, configJson);
      };
    }
    if (lib.hasSnapshot) {
      this.snapshot = async () => {
        this.#checkActive();
        const r = this.#addon.snapshot(this.#lib.handle);
        return r ? new Uint8Array(r.buffer, r.byteOffset, r.byteLength) : new Uint8Array();
      };
    }
    if (lib.hasRestore) {
      this.restore = async (data: Uint8Array) => {
        this.#checkActive();
        return this.#addon.restore(this.#lib.handle, data);
      };
    }
  }

  /** plugin_config_changed / plugin_snapshot / plugin_restore, set when the library defines them. */
  onConfigChanged?: (configJson: string) => Promise<number>;
  snapshot?: () => Promise<Uint8Array>;
  restore?: (data: Uint8Array) => Promise<number>;

  /** Metadata the library exports (plugin_name, plugin_version, plugin_api_version). */
  get metadata(): { name?: string; version?: string; apiVersion?: number } {
    const { name, version, apiVersion } = this.#lib;
    return { name, version, apiVersion };
  }

  /** The hot-path function of one event's callback: `call(bytes) -> status`, no lookups. */
  boundCall(eventName: string): (data: Uint8Array) => number {
    this.#checkActive();
    return this.#boundFor(this.#table.callbackId(eventName)).call;
  }

  callbackId(eventName: string): number {
    return this.#table.callbackId(eventName);
  }

  #boundFor(id: number): BoundCalls {
    return (this.#bound[id] ??= this.#addon.bind(this.#lib.handle, id));
  }

  async init(apiVersion: string, configJson: string): Promise<number> {
    return this.initSync(apiVersion, configJson);
  }

  initSync(apiVersion: string, configJson: string): number {
    if (this.#state !== "loaded") throw new PluginNotRunning(this.#state, { plugin: this.#plugin });
    checkApiVersion(this.#plugin, apiVersion, this.#lib.apiVersion);
    const host = this.#request.host;
    const messaging = hostMessaging(host);
    const table = this.#table;
    const scratch = new Uint8Array(REQUEST_SCRATCH);
    const state = nativeStateCalls(host);
    const metrics = nativeMetricCalls(host);
    const addonHost: AddonHost = {
      log: (level, message) => host.log(logLevel(level), message),
      register: (name, id, isHook) => table.register(name, id, isHook),
      emit: messaging.emit,
      send: messaging.send,
      // The plugin runs on the host's thread and cannot wait: only an answer available now (requestSync).
      request: (target, name, len, timeoutMs, data) => {
        const answer = requestSyncAnswer(host, target, name, data ?? scratch.slice(0, len), timeoutMs);
        if (typeof answer === "number") return -answer;
        if (answer.length > scratch.length) return answer;
        scratch.set(answer);
        return answer.length;
      },
      scratch,
      hookScratch: this.#hookScratch,
      message: () => currentMessageBytes(host),
      stateGet: state.get,
      stateSet: state.set,
      stateDelete: state.delete,
      stateExists: state.exists,
      stateIncrement: state.increment,
      stateCas: state.cas,
      stateListKeys: state.listKeys,
      contextGet: state.contextGet,
      contextSet: state.contextSet,
      metricDefine: metrics.define,
      metricRecord: metrics.record,
    };
    let status: number;
    try {
      status = this.#addon.init(this.#lib.handle, addonHost, packApiVersion(apiVersion), configJson);
    } catch (err) {
      throw new ContextCreationFailed(`cannot set up the plugin context: ${(err as Error).message}`, { plugin: this.#plugin, cause: err });
    }
    this.#state = "active";
    return status;
  }

  onEventSync(eventName: string, data: Uint8Array): number {
    if (this.#state !== "active") throw new PluginNotRunning(this.#state, { plugin: this.#plugin });
    let call = this.#callByName.get(eventName);
    if (call === undefined) {
      call = this.#boundFor(this.#table.callbackId(eventName)).call;
      this.#callByName.set(eventName, call);
    }
    return call(data);
  }

  onHookSync(eventName: string, data: Uint8Array): HookOutcome {
    this.#checkActive();
    const bound = this.#boundFor(this.#table.hookId(eventName));
    let r: number | Uint8Array | null;
    if (data.length <= SCRATCH_IN_MAX && !this.#inHookScratch) {
      const scratch = this.#hookScratch;
      scratch.set(data);
      this.#inHookScratch = true;
      try {
        r = bound.hookIn(data.length);
      } finally {
        this.#inHookScratch = false;
      }
      if (typeof r === "number" && r >= SCRATCH_OUT) return { ok: true, data: scratch.slice(0, r - SCRATCH_OUT) };
    } else {
      r = bound.hook(data);
    }
    if (typeof r === "number") return { ok: false, status: r };
    return { ok: true, data: r === null ? data : new Uint8Array(r.buffer, r.byteOffset, r.byteLength) };
  }

  async onEvent(eventName: string, data: Uint8Array): Promise<number> {
    return this.onEventSync(eventName, data);
  }

  async onHook(eventName: string, data: Uint8Array): Promise<HookOutcome> {
    return this.onHookSync(eventName, data);
  }

  async teardown(): Promise<number> {
    this.#checkActive();
    this.#state = "stopped";
    return this.#addon.teardown(this.#lib.handle);
  }

  /** plugin_suspend / plugin_resume, set when the library defines them. */
  onSuspend?: () => Promise<number>;
  onResume?: () => Promise<number>;

  async #lifecycle(resume: boolean): Promise<number> {
    this.#checkActive();
    return this.#addon.lifecycle(this.#lib.handle, resume);
  }

  async dispose(): Promise<void> {
    if (this.#state === "disposed") return;
    this.#state = "disposed";
    try {
      this.#addon.close(this.#lib.handle);
    } catch (err) {
      // E_DLCLOSE: dlclose refused; E_STILL_MAPPED: it returned but the library stays loaded.
      const what = codeOf(err) === "E_STILL_MAPPED" ? "the library could not be unloaded" : "dlclose failed";
      throw new ResourceCleanupFailed(`${what}: ${(err as Error).message}`, { plugin: this.#plugin, cause: err });
    }
  }

  #checkActive(): void {
    if (this.#state !== "active") throw new PluginNotRunning(this.#state, { plugin: this.#plugin });
  }
}
