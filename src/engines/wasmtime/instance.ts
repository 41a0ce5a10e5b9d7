/**
 * One wasmtime plugin instance behind the `EngineInstance` interface.
 *
 * Asynchronous calls run on the instance's own thread in the addon (never on
 * libuv's pool, which the host's I/O needs), so the event loop stays free and
 * different plugins run in parallel; they are queued one after the other.
 * `onEvent` goes through the instance's call ring (ring.ts): shared memory the
 * call thread reads, with no node-api call or thread-safe function per call;
 * the other asynchronous calls go through the addon's promises, ordered with
 * the ring's. The synchronous fast path runs on the JS thread. A call made while the instance
 * is inside one of its own host functions, or a synchronous call while an
 * asynchronous one is queued or running, is a `ReentrancyError`.
 *
 * After a fault the instance answers every later call with that fault, as a
 * worker does: nothing runs on it again, so `teardown` never reports a status
 * it did not produce. `dispose()` ends the instance even mid-call and does not
 * wait: the running and queued calls reject with a `PluginTrap`.
 */
import { LOG_LEVELS, type EngineInstance, type HookOutcome, type HostCalls, type ViolationKind, type ResourceName, type ResourceUsage } from "../engine.js";
import { InterfaceUnavailable, isInstanceFault, PlughostError, PluginNotRunning, PluginTrap, ReentrancyError, type InstanceFault } from "../../contract/errors.js";
import {
  STATE_LAST_FUEL,
  STATE_LIFETIME_FUEL,
  STATE_MEMORY_BYTES,
  STATE_PENDING_LOG,
  STATE_PENDING_VIOLATIONS,
  type NativeInstance,
} from "./addon.js";
import { mapNativeError } from "./errors.js";
import type { HostBridge } from "./host.js";
import type { ExportIndex } from "./app-interfaces.js";
import { CallRing, type RingNative } from "./ring.js";

export interface WasmtimeInstanceOptions {
  plugin: string;
  file: string;
  native: NativeInstance;
  /** The state array shared with the addon (fuel figures, pending counts). */
  state: Float64Array;
  bridge: HostBridge;
  host: HostCalls;
  onViolation: ((kind: ViolationKind, detail: string, usage?: ResourceUsage) => void) | undefined;
  /** The component's typed exports (app-interfaces.ts); absent: none. */
  exports?: ExportIndex;
}

const VIOLATION_KINDS = new Set<ViolationKind>(["fuel", "memory", "deadline", "capability", "trap", "crash", "resource"]);
const RESOURCES = new Set<string>(["open-files", "connections", "fs-write-bytes"]);

/** Live wasmtime instances by plugin name, for the profiler (src/observability/profile.ts) to find. */
export const wasmtimeByPlugin = new Map<string, Set<WasmtimeInstance>>();

/** A guest profile that ended with its instance (unload, reload, a fault's restart). */
export interface EndedGuestProfile {
  /** The Firefox Profiler JSON of what was sampled until then. */
  json: Promise<Uint8Array>;
  /** Why it ended. */
  reason: string;
}

export class WasmtimeInstance implements EngineInstance {
  readonly #o: WasmtimeInstanceOptions;
  #queue: Promise<unknown> = Promise.resolve();
  /** Async calls queued or running. */
  #pending = 0;
  /** Calls on the promise path (`#async`) queued or running; ring calls wait for them, and they for ring calls. */
  #chained = 0;
  /** The call ring for `onEvent` (ring.ts), opened on the first asynchronous status call; null: the addon has none. */
  #ring: CallRing | null | undefined;
  #disposed = false;
  /** The fault that ended the instance; later calls fail with it without running. */
  #fault: InstanceFault | undefined;
  readonly #onEventSync: (eventName: string, data: Uint8Array) => number;
  /** Set when a guest profile was running as the instance was disposed: that profile, finished. */
  #endedProfile: EndedGuestProfile | undefined;

  constructor(options: WasmtimeInstanceOptions) {
    this.#o = options;
    let live = wasmtimeByPlugin.get(options.plugin);
    if (!live) wasmtimeByPlugin.set(options.plugin, (live = new Set()));
    live.add(this);
    this.#onEventSync = options.native.syncCaller();
    // Present only when the guest exports them (an addon built before the lifecycle interface has neither).
    if (options.native.hasOnSuspend === true) this.onSuspend = () => this.#async("on-suspend", () => this.#o.native.onSuspend());
    if (options.native.hasOnResume === true) this.onResume = () => this.#async("on-resume", () => this.#o.native.onResume());
    // Likewise config-watch and handoff (an addon built before them reports neither).
    if (options.native.hasOnConfigChanged === true) {
      this.onConfigChanged = (configJson) => this.#async("on-config-changed", () => this.#o.native.onConfigChanged(configJson));
    }
    if (options.native.hasSnapshot === true) {
      // A plain Uint8Array over the addon's Buffer, as the other engines answer.
      this.snapshot = () => this.#async("snapshot", async () => plain(await this.#o.native.snapshot()));
    }
    if (options.native.hasRestore === true) this.restore = (data) => this.#async("restore", () => this.#o.native.restore(data));
  }

  /**
   * Call `fn` (WIT name) of typed export `iface` on the instance's call thread: its app imports may then return
   * Promises. Arguments are checked before the guest runs (`InterfaceValueError`; the instance is fine).
   */
  callExport(iface: string, fn: string, args: readonly unknown[]): Promise<unknown> {
    const native = this.#o.native;
    let index: number;
    try {
      index = this.#exportIndex(iface, fn);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#async(`${iface}#${fn}`, () => native.callExport!(index, args), { iface, fn });
  }

  /** `callExport` on the JS thread: its app imports must answer synchronously (a Promise fails the call). */
  callExportSync(iface: string, fn: string, args: readonly unknown[]): unknown {
    const index = this.#exportIndex(iface, fn);
    this.#enterSync(fn);
    let out: unknown;
    try {
      out = this.#o.native.callExportSync!(index, args);
    } catch (err) {
      throw this.#fail(err, `${iface}#${fn}`, { iface, fn });
    }
    const s = this.#o.state;
    if (s[STATE_PENDING_LOG] !== 0 || s[STATE_PENDING_VIOLATIONS] !== 0) this.#drain();
    return out;
  }

  #exportIndex(iface: string, fn: string): number {
    const { exports, plugin } = this.#o;
    if (!exports || typeof this.#o.native.callExport !== "function") {
      throw new InterfaceUnavailable(iface, "missing", `plugin ${plugin} exports no app interfaces`, { plugin });
    }
    return exports.find(iface, fn, plugin);
  }

  /** `lifecycle.on-suspend` / `on-resume`, set when the guest exports them. */
  onSuspend?: () => Promise<number>;
  onResume?: () => Promise<number>;
  // `config-watch.on-config-changed`, `handoff.snapshot` / `restore`: own properties only when the guest exports
  // them (`declare` emits no field), so `"snapshot" in instance` says whether it has them.
  /** `config-watch.on-config-changed`, set when the guest exports it. */
  declare onConfigChanged?: (configJson: string) => Promise<number>;
  /** `handoff.snapshot`, set when the guest exports it. */
  declare snapshot?: () => Promise<Uint8Array>;
  /** `handoff.restore`, set when the guest exports it. */
  declare restore?: (data: Uint8Array) => Promise<number>;

  init(apiVersion: string, configJson: string): Promise<number> {
    return this.#async("init", () => this.#o.native.init(apiVersion, configJson));
  }

  teardown(): Promise<number> {
    return this.#async("teardown", () => this.#o.native.teardown());
  }

  onEvent(eventName: string, data: Uint8Array): Promise<number> {
    // The ring (no node-api call or thread-safe function per call) while no promise-path call is queued, so the
    // calls still run in the order they were made.
    if (this.#chained === 0 && !this.#disposed && this.#fault === undefined && this.#o.bridge.depth === 0) {
      const ring = this.#ring === undefined ? this.#openRing() : this.#ring;
      const p = ring?.call(eventName, data);
      if (p !== undefined) {
        this.#pending++;
        return p;
      }
    }
    return this.#async("on-event", () => this.#o.native.onEvent(eventName, data));
  }

  #openRing(): CallRing | null {
    const native = this.#o.native;
    if (typeof native.openRing !== "function") return (this.#ring = null);
    const settled = () => {
      this.#pending--;
    };
    return (this.#ring = new CallRing(native as RingNative, {
      beforeBatch: () => this.#drain(),
      ok: (resolve, status) => {
        settled();
        resolve(status);
      },
      fault: (reject, reason) => {
        settled();
        // Queued behind a call that faulted (the addon answers `poisoned` without running it), as on the promise path.
        if (this.#fault) reject(this.#fault);
        else reject(this.#fail(new Error(reason), "on-event"));
      },
    }));
  }

  async onHook(eventName: string, data: Uint8Array): Promise<HookOutcome> {
    return hookOutcome(await this.#async("on-hook", () => this.#o.native.onHook(eventName, data)));
  }

  onEventSync(eventName: string, data: Uint8Array): number {
    this.#enterSync("on-event");
    let status: number;
    try {
      status = this.#onEventSync(eventName, data);
    } catch (err) {
      throw this.#fail(err, "on-event");
    }
    const s = this.#o.state;
    if (s[STATE_PENDING_LOG] !== 0 || s[STATE_PENDING_VIOLATIONS] !== 0) this.#drain();
    return status;
  }

  onHookSync(eventName: string, data: Uint8Array): HookOutcome {
    this.#enterSync("on-hook");
    let out: Uint8Array | number;
    try {
      out = this.#o.native.onHookSync(eventName, data);
    } catch (err) {
      throw this.#fail(err, "on-hook");
    }
    this.#drain();
    return hookOutcome(out);
  }

  lastCallFuel(): number {
    return this.#o.state[STATE_LAST_FUEL] ?? 0;
  }

  /** All linear memory of the instance's store, as of the end of the last call (or of instantiation). */
  memoryBytes(): number {
    return this.#o.state[STATE_MEMORY_BYTES] ?? 0;
  }

  /** Fuel used over the instance's lifetime. */
  lifetimeFuel(): number {
    return this.#o.state[STATE_LIFETIME_FUEL] ?? 0;
  }

  /** Ends the instance at once, even mid-call: the addon stops the running call and rejects the pending ones. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#o.native.dispose();
    this.#ring?.close(() => {
      this.#pending--;
      return this.#disposedDuring("on-event");
    });
    const live = wasmtimeByPlugin.get(this.#o.plugin);
    live?.delete(this);
    if (live?.size === 0) wasmtimeByPlugin.delete(this.#o.plugin);
    // A profile running now ends with the instance, keeping what it sampled.
    if (this.#o.native.profiling === true) {
      const json = this.#o.native.stopProfile!();
      json.catch(() => undefined); // read by the profile's stop(), if ever
      const reason = this.#fault ? `the plugin faulted (${this.#fault.message}); its instance was discarded` : "the plugin's instance was disposed (an unload, a reload or a restart)";
      this.#endedProfile = { json, reason };
    }
  }

  /** The plugin's name. */
  get plugin(): string {
    return this.#o.plugin;
  }

  /** Whether this addon has the guest profiler. */
  get canProfile(): boolean {
    return typeof this.#o.native.startProfile === "function";
  }

  /** Start wasmtime's guest profiler on this instance (observability/profile.ts); throws when one runs or it is disposed. */
  startProfile(): void {
    if (this.#disposed) throw new PluginNotRunning("disposed", { plugin: this.#o.plugin });
    this.#o.native.startProfile!(this.#o.plugin);
  }

  /**
   * Stop the profile and give its JSON, or the one that ended with the instance (then with why it ended).
   * Rejects when none ran.
   */
  async stopProfile(): Promise<{ json: Uint8Array; ended?: string }> {
    const ended = this.#endedProfile;
    if (ended) {
      this.#endedProfile = undefined;
      return { json: await ended.json, ended: ended.reason };
    }
    return { json: await this.#o.native.stopProfile!() };
  }

  /** Whether a guest profile runs on this instance; false: calls run with no sampling at all. */
  get profiling(): boolean {
    return this.#o.native.profiling === true;
  }

  /** Samples the guest profiler took on this instance over all its profiles. */
  get profileSamples(): number {
    return this.#o.native.profileSamples ?? 0;
  }

  #enterSync(exportName: string): void {
    const { plugin, bridge } = this.#o;
    if (this.#disposed) throw new PluginNotRunning("disposed", { plugin });
    if (this.#fault) throw this.#fault;
    if (bridge.depth > 0 || this.#pending > 0) throw new ReentrancyError(exportName, { plugin });
  }

  #async<T>(exportName: string, call: () => Promise<T>, typed?: { iface: string; fn: string }): Promise<T> {
    const { plugin, bridge } = this.#o;
    if (this.#disposed) return Promise.reject(new PluginNotRunning("disposed", { plugin }));
    if (this.#fault) return Promise.reject(this.#fault);
    if (bridge.depth > 0) return Promise.reject(new ReentrancyError(exportName, { plugin }));
    this.#pending++;
    // The first promise-path call after ring calls waits for them, so that calls run in the order they were made.
    if (this.#chained++ === 0 && this.#ring && this.#ring.outstanding > 0) this.#queue = this.#ring.idle();
    const run = this.#queue.then(async () => {
      try {
        // Queued behind a call that faulted or was disposed: this one never runs.
        if (this.#fault) throw this.#fault;
        if (this.#disposed) throw this.#disposedDuring(exportName);
        const out = await call();
        this.#drain();
        return out;
      } catch (err) {
        throw this.#fail(err, exportName, typed);
      } finally {
        this.#pending--;
        this.#chained--;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #disposedDuring(exportName: string): PluginTrap {
    return new PluginTrap(exportName, "the instance was disposed while this call was pending (unload grace period, init deadline or an explicit dispose)", {
      plugin: this.#o.plugin,
    });
  }

  #fail(err: unknown, exportName: string, typed?: { iface: string; fn: string }): PlughostError {
    if (err instanceof PlughostError) return err; // thrown here (the fault it answers with, or disposed while queued)
    this.#drain();
    let error = mapNativeError(err, { plugin: this.#o.plugin, file: this.#o.file, export: exportName, hostError: this.#o.bridge.takeThrown(), ...typed });
    // The addon's `disposed` answer to a call that was running: an InstanceFault, as on the other engines.
    if (this.#disposed && error instanceof PluginNotRunning) error = this.#disposedDuring(exportName);
    if (isInstanceFault(error)) this.#fault ??= error;
    return error;
  }

  /** Deliver buffered log output and violations to the host. */
  #drain(): void {
    const { native, state, host, onViolation } = this.#o;
    if (state[STATE_PENDING_LOG] !== 0) {
      const { entries, dropped } = native.takeLog();
      for (const e of entries) host.log(LOG_LEVELS[e.level] ?? "info", e.message);
      if (dropped > 0) reportDropped(host, dropped);
    }
    if (state[STATE_PENDING_VIOLATIONS] !== 0) {
      for (const v of native.takeViolations()) {
        const kind = VIOLATION_KINDS.has(v.kind as ViolationKind) ? (v.kind as ViolationKind) : "memory";
        const usage =
          kind === "resource" && v.resource && RESOURCES.has(v.resource) && typeof v.used === "number" && typeof v.limit === "number"
            ? { resource: v.resource as ResourceName, used: v.used, limit: v.limit }
            : undefined;
        onViolation?.(kind, v.detail, usage);
      }
    }
  }
}

/**
 * Lines dropped because the per-call buffer was full (1024 entries or 1 MiB,
 * native/wasmtime/src/output.rs) never reached `log`, so the rate limiter did
 * not count them: hand the count to the host. A host without `logsDropped`
 * gets a warning line instead.
 */
function reportDropped(host: HostCalls, dropped: number): void {
  if (host.logsDropped) host.logsDropped(dropped);
  else host.log("warn", `plughost: ${dropped} log entries dropped (more than 1024 entries or 1048576 bytes in one call)`);
}

function plain(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function hookOutcome(out: Uint8Array | number): HookOutcome {
  return typeof out === "number" ? { ok: false, status: out } : { ok: true, data: out };
}
