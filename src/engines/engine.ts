/**
 * The engine strategy interface. Every plugin form (a Wasm component on v8 or
 * wasmtime, a native C-ABI library) is loaded by an `Engine` into an
 * `EngineInstance`. The registry, hooks, limits and capabilities code talks
 * only to these interfaces and never branches on which engine is in use.
 */

import type { InterfaceBindings } from "../interfaces/types.js";
import type { ContextError, LogLevel, MessageError, MessageKind, MetricError, MetricKind, RegisterError, RequestError, StateError } from "../contract/abi.js";

/** The engines: `v8` (jco transpile, in process or in a worker), `wasmtime` (the native addon), `native` (C-ABI libraries). */
export type EngineName = "v8" | "wasmtime" | "native";
/** Log levels in WIT / C ABI order (generated from the WIT): LOG_DEBUG = 0 … LOG_ERROR = 3. */
export { LOG_LEVELS, type LogLevel } from "../contract/abi.js";

/** How a `register-callback` host call ended: "ok" or the WIT `register-error` case. */
export type RegisterOutcome = "ok" | RegisterError;
/** Why an `emit` or `send` host call was refused (the WIT `message-error` case). */
export type MessageFailure = MessageError;
/** How an `emit` / `send` host call ended: its value, or why it was refused. */
export type MessageOutcome<T> = { ok: true; value: T } | { ok: false; error: MessageFailure };
/** How a `define-metric` / `record-metric` host call ended: its value, or why it was refused (the WIT `metric-error` case). */
export type MetricOutcome<T> = { ok: true; value: T } | { ok: false; error: MetricError };
export type { MetricError, MetricKind } from "../contract/abi.js";
/** How a `request` host call ended: the target's answer, or why there is none (the WIT `request-error` case). */
export type RequestOutcome = { ok: true; value: Uint8Array } | { ok: false; error: RequestError };
export type { MessageKind, RequestError } from "../contract/abi.js";
/** What a `state-*` host call answers: a value, or a WIT `state-error`. */
export type StateOutcome<T> = { ok: true; value: T } | { ok: false; error: StateError };
/** What a `context-*` host call answers: a value, or a WIT `context-error`. */
export type ContextOutcome<T> = { ok: true; value: T } | { ok: false; error: ContextError };
export type { ContextError, StateError } from "../contract/abi.js";
/** One page of `state-list-keys`: keys in byte order, and the cursor of the next page (absent: no more). */
export interface KeyPage {
  readonly keys: readonly string[];
  readonly cursor?: string;
}

/**
 * The envelope of the message a call handles (WIT record `message-info`), as
 * `current-message` answers it.
 */
export interface MessageInfo {
  /** Unique within the host that created the message. */
  readonly id: number;
  /** The message during whose handling this one was sent. */
  readonly parentId?: number;
  /** The plugin that sent it; undefined when the host did. */
  readonly source?: string;
  /** The plugin it was addressed to; undefined for a broadcast. */
  readonly target?: string;
  readonly eventName: string;
  readonly kind: MessageKind;
  /** String metadata, in insertion order. */
  readonly metadata: readonly (readonly [string, string])[];
}

/**
 * The host side of the contract (WIT interface `plughost:plugin/host`), bound
 * to one plugin. Engines call these from guest imports; they never throw.
 */
export interface HostCalls {
  /** `log`: write a line to the plugin's logger (rate-limited, truncated). */
  log(level: LogLevel, message: string): void;
  /** `register-callback`: subscribe the plugin to an event (checked against the name rules, the cap and the events policy). */
  registerCallback(eventName: string): RegisterOutcome;
  /** `emit`: queue an event for every subscribed plugin; the value is how many will receive it. */
  emit(eventName: string, data: Uint8Array): MessageOutcome<number>;
  /** `send`: queue an event for one plugin. */
  send(target: string, eventName: string, data: Uint8Array): MessageOutcome<undefined>;
  /** `get-config`: the plugin's resolved configuration as JSON. */
  getConfig(): string;
  /** `get-config-value`: one top-level key of the configuration as JSON, or undefined when absent. */
  getConfigValue(key: string): string | undefined;
  /** Log lines an engine dropped before they reached `log` (a full per-call buffer), for the plugin's metrics. */
  logsDropped?(count: number): void;
  /**
   * `define-metric`: define one of the plugin's own metrics (observability/plugin-metrics.ts); the value is its id.
   * Absent when the host keeps no plugin metrics: the engines then answer `denied`.
   */
  defineMetric?(kind: MetricKind, name: string, help: string, labelNames: readonly string[]): MetricOutcome<number>;
  /** `record-metric`: add to a counter, set a gauge, observe into a histogram. Absent: `denied`. */
  recordMetric?(id: number, value: number, labelValues: readonly string[]): MetricOutcome<undefined>;
  /**
   * `request` from a guest whose engine can wait (a worker, wasmtime's call thread, the sandbox helper): the
   * target's hook answers, whatever engine or host it runs on. Never rejects. `timeoutMs` 0 means the host's default.
   * Absent: the engines answer `unknown-target`.
   */
  request?(target: string, eventName: string, data: Uint8Array, timeoutMs: number): Promise<RequestOutcome>;
  /**
   * `request` from a guest running on the host's thread (in-process v8, a trusted native plugin, a synchronous
   * wasmtime call): answered at once when the target can answer on this thread, otherwise `would-block`.
   * `data` is lent for the call: an engine may reuse its bytes once this returns, so whatever keeps them copies them.
   * Absent: the engines answer `unknown-target`.
   */
  requestSync?(target: string, eventName: string, data: Uint8Array, timeoutMs: number): RequestOutcome;
  /** `current-message`: the envelope of the message the calling guest's current call handles; undefined outside a call. */
  currentMessage?(): MessageInfo | undefined;
  /*
   * The state store (docs/state.md): the calling plugin's own keys only. Each is synchronous on every engine (the
   * Redis backend waits on its own thread). Never throws: a failure is an outcome. Absent: the engines answer `denied`.
   */
  /** `state-get`: the value under `key`, or undefined. */
  stateGet?(key: string): StateOutcome<Uint8Array | undefined>;
  /** `state-set`: durable when it returns. */
  stateSet?(key: string, value: Uint8Array): StateOutcome<undefined>;
  /** `state-delete`: true when the key was there. */
  stateDelete?(key: string): StateOutcome<boolean>;
  /** `state-exists`. */
  stateExists?(key: string): StateOutcome<boolean>;
  /** `state-list-keys`: after `cursor` (undefined: from the first), at most `limit` (0: the default of 100; capped at 1,000). */
  stateListKeys?(cursor: string | undefined, limit: number): StateOutcome<KeyPage>;
  /** `state-increment`: the new value. */
  stateIncrement?(key: string, delta: bigint): StateOutcome<bigint>;
  /** `state-compare-and-swap`: `expected` undefined means "only if missing"; true when stored. */
  stateCompareAndSwap?(key: string, expected: Uint8Array | undefined, value: Uint8Array): StateOutcome<boolean>;
  /** `context-get`: the value as JSON, or undefined when the key has no value now. Absent: `denied`. */
  contextGet?(key: string): ContextOutcome<string | undefined>;
  /** `context-set`: `value` is JSON text. Absent: `denied`. */
  contextSet?(key: string, value: string): ContextOutcome<undefined>;
}

/** Per-plugin limits, after the host's policy has been applied to the manifest's request. */
export interface Limits {
  /** Fuel budget per call, in plughost fuel units (≈ Wasm instructions executed; docs/fuel-and-memory.md). Undefined: unmetered. */
  fuel?: number;
  /** Fuel budget for the plugin's whole lifetime. */
  fuelLifetime?: number;
  /** Cap in bytes on all linear memory of an instance. */
  memoryBytes?: number;
  /** Cap on the elements of ALL tables of an instance together (their initial sizes and every grow), on every engine. */
  tableElements?: number;
  /** Wall-clock limit per call, in milliseconds. */
  deadlineMs?: number;
  /** Wall-clock limit on `init`, in milliseconds (the registry enforces it; the instance is disposed past it). */
  initDeadlineMs?: number;
  /** How long `unload` waits for the in-flight call and `teardown`, in milliseconds, before it disposes the instance. */
  unloadGraceMs?: number;
  /** Quota on the plugin's persistent state, in bytes (keys' UTF-8 bytes + values' bytes; manifest `[limits] state`). */
  stateBytes?: number;
  /** Quota on the plugin's persistent state, in keys (manifest `[limits] state-keys`). */
  stateKeys?: number;
  /** Files and directories a Wasm plugin instance may hold open at once through WASI, preopens excluded (manifest `[limits] open-files`). */
  openFiles?: number;
  /** Sockets a Wasm plugin instance may hold open at once through WASI, TCP and UDP (manifest `[limits] connections`). */
  connections?: number;
  /** Bytes a Wasm plugin instance may write into each `fs:write` directory, counted per directory (manifest `[limits] fs-write-bytes`). */
  fsWriteBytes?: number;
}

/** Where a Wasm plugin runs: on the host's thread, or in a worker thread (where a deadline can stop a call). */
export type Isolation = "in-process" | "worker";
/** A native plugin's trust: "trusted" runs in the host process (host-approved), "untrusted" in the sandbox helper. */
export type TrustLevel = "trusted" | "untrusted";

/** What the registry hands an engine to load one plugin, after verification and policy. */
export interface LoadRequest {
  /** The plugin's name, for errors and logs. */
  plugin: string;
  /** Absolute path of the entry file (`.wasm` component or `.so` library). */
  entryPath: string;
  /** The entry's bytes, when already read (and verified). */
  bytes?: Uint8Array;
  /** The effective capability set: declared ∩ granted. */
  capabilities: readonly string[];
  /** The limits to enforce (after the host's policy). */
  limits: Limits;
  /** The host calls bound to this plugin. */
  host: HostCalls;
  /** Directory for on-disk caches; undefined disables the disk cache. */
  cacheDir?: string;
  /** Where a trap's Wasm core dump is written, on engines that make them (wasmtime); undefined: none. */
  coreDumpDir?: string;
  /** Where the plugin runs, as the policy decided (`isolationFor`); undefined for native plugins. */
  isolation?: Isolation;
  /** A native plugin's trust, as the host approved it. */
  trust?: TrustLevel;
  /**
   * Called when the engine observes a violation that did not fail the call (e.g. a refused memory.grow), or
   * when it stopped the instance itself (kinds fuel, deadline, crash, trap: e.g. the native sandbox killing a
   * helper between calls). After such a report the registry does not record the fault a call then gets again.
   */
  onViolation?: (kind: ViolationKind, detail: string, usage?: ResourceUsage) => void;
  /**
   * The app-defined interfaces this plugin imports (bound by the registry: provided by the host or exported by another
   * plugin) and the typed exports the host expects it to have (docs/host-interfaces.md). Absent: none. An engine
   * refuses to load a component that imports an app interface missing here (`InterfaceUnavailable` "missing").
   */
  interfaces?: InterfaceBindings;
}

/** The kinds of rule a plugin can break: a limit (fuel, memory, deadline, its state quota), a denied capability, a trap, a crash. */
export type ViolationKind = "fuel" | "memory" | "deadline" | "capability" | "trap" | "crash" | "quota" | "resource";

/** A resource a plugin holds or uses, counted against one of its limits (violation kind "resource"). */
export type ResourceName = "open-files" | "connections" | "fs-write-bytes" | NativeResourceName;

/**
 * Resources only a sandboxed native plugin's helper has limits on (docs/native-plugins.md): CPU seconds over its
 * lifetime (RLIMIT_CPU or the cgroup), memory (its cgroup's memory.max), processes and threads (pids.max).
 */
export type NativeResourceName = "cpu-seconds" | "memory" | "processes";

/**
 * The figures of a resource-limit breach: which resource, how much the plugin would have used with the refused
 * operation, and its limit (`used > limit`).
 */
export interface ResourceUsage {
  /** The resource: `open-files` (`limits.openFiles`), `connections` (`limits.connections`), `fs-write-bytes` (`limits.fsWriteBytes`). */
  resource: ResourceName;
  /** What the plugin would have held or used, had the operation been allowed. */
  used: number;
  /** The plugin's limit on it. */
  limit: number;
}

/** What a hook returned: ok with the (possibly changed) data, or a non-zero status that stops the chain. */
export type HookOutcome = { ok: true; data: Uint8Array } | { ok: false; status: number };

/**
 * One live instance of a plugin. Calls are serialized by the caller: an
 * instance runs one call at a time. A method throws an `InstanceFault`
 * (trap, fuel, deadline, crash, exit) after which the instance is unusable.
 */
export interface EngineInstance {
  /** Run the guest's `init` with the host's API version and the plugin's config; resolves to its status (0 ok). */
  init(apiVersion: string, configJson: string): Promise<number>;
  /** Run the guest's `teardown`; resolves to its status (0 ok). */
  teardown(): Promise<number>;
  /** Deliver an event to the guest's callback; resolves to its status. */
  onEvent(eventName: string, data: Uint8Array): Promise<number>;
  /**
   * Optional: `onEvent(eventName, data).then(undefined, onRejected)` with one promise per call instead of two; a
   * failure is handled in the same microtask turn, a success settles one turn sooner (the worker engine has it).
   */
  onEventCatch?(eventName: string, data: Uint8Array, onRejected: (err: unknown) => number): Promise<number>;
  /** Run the guest's hook on `data`. */
  onHook(eventName: string, data: Uint8Array): Promise<HookOutcome>;
  /**
   * The instance accepts overlapping calls and runs them one at a time in the
   * order they were made (a worker's call ring), so callers need not wait for
   * one call before issuing the next.
   */
  readonly ordered?: boolean;
  /**
   * The async calls run to completion on the calling thread before they
   * return (in-process v8, trusted native): `dispatch` may then call
   * `onEventSync` directly. An engine that runs calls elsewhere (wasmtime's
   * call thread) leaves this unset, so that dispatch never blocks the event
   * loop on it.
   */
  readonly inline?: boolean;
  /**
   * The guest's optional `lifecycle.on-suspend` (the host suspended the plugin); present only when the plugin
   * exports it. Runs as any call does (serialized, under fuel and deadline); resolves to its status (0 ok).
   */
  onSuspend?(): Promise<number>;
  /** The guest's optional `lifecycle.on-resume` (the host resumed the plugin); present only when the plugin exports it. */
  onResume?(): Promise<number>;
  /**
   * The guest's optional `config-watch.on-config-changed` with the whole new configuration as JSON; present only
   * when the plugin exports it. Runs as any call does; resolves to its status (0: taken; otherwise the host reloads).
   */
  onConfigChanged?(configJson: string): Promise<number>;
  /** The guest's optional `handoff.snapshot`: its in-memory state (empty: nothing to carry). Present only when exported. */
  snapshot?(): Promise<Uint8Array>;
  /** The guest's optional `handoff.restore` with an earlier instance's snapshot; resolves to its status (0 ok). */
  restore?(data: Uint8Array): Promise<number>;
  /**
   * Call one function of a typed export (`interfaces.exports`): `iface` is the versioned id the component exports,
   * `fn` the WIT function name, `args` JS values (types/ convention). Runs as any call does (serialized, under fuel and
   * deadline); arguments are checked before the guest runs (`InterfaceValueError`, the instance is fine), the result on
   * the way out (`AbiViolation` with an `InterfaceValueError` cause). Present on engines that support typed exports.
   */
  callExport?(iface: string, fn: string, args: readonly unknown[]): Promise<unknown>;
  /** Synchronous `callExport`, offered by in-process engines only. */
  callExportSync?(iface: string, fn: string, args: readonly unknown[]): unknown;
  /** Synchronous fast path, offered by in-process engines only. */
  onEventSync?(eventName: string, data: Uint8Array): number;
  /** Synchronous `onHook`, offered by in-process engines only. */
  onHookSync?(eventName: string, data: Uint8Array): HookOutcome;
  /** Fuel used by the last completed call, when metered. */
  lastCallFuel?(): number;
  /** Fuel used by every call (and instantiation) of this instance so far, when metered. */
  lifetimeFuel?(): number;
  /** Bytes of linear memory the instance holds now, when the engine can tell without calling the guest. */
  memoryBytes?(): number;
  /**
   * Release everything the instance holds. Idempotent. It must end the
   * instance even while a call is running (a worker is terminated, a helper
   * process killed, a wasmtime call interrupted), and every call still
   * pending then rejects with an `InstanceFault`: the registry relies on this
   * when `init` runs past its deadline or `teardown` past the unload grace.
   */
  dispose(): Promise<void>;
}

/**
 * A strategy that turns a verified plugin into a running instance
 * (CONTRIBUTING.md: "add an engine"). `getEngine(name)` returns one.
 */
export interface Engine {
  /** The engine's name. */
  readonly name: EngineName;
  /**
   * Compile and instantiate the plugin, enforcing `request.limits` and
   * `request.capabilities`. Rejects with a `PlughostError`: `InvalidPluginBinary`,
   * `MissingImportError`, `CapabilityDenied`, `ContextCreationFailed`, `EngineUnavailable`
   * or an `InstanceFault` raised while instantiating.
   */
  load(request: LoadRequest): Promise<EngineInstance>;
}
