/**
 * The engine strategy interface. Every plugin form (a Wasm component on v8 or
 * wasmtime, a native C-ABI library) is loaded by an `Engine` into an
 * `EngineInstance`. The registry, hooks, limits and capabilities code talks
 * only to these interfaces and never branches on which engine is in use.
 */

import type { LogLevel, MessageError, RegisterError } from "../contract/abi.js";

export type EngineName = "v8" | "wasmtime" | "native";
/** Log levels in WIT / C ABI order (generated from the WIT): LOG_DEBUG = 0 … LOG_ERROR = 3. */
export { LOG_LEVELS, type LogLevel } from "../contract/abi.js";

export type RegisterOutcome = "ok" | RegisterError;
export type MessageFailure = MessageError;
export type MessageOutcome<T> = { ok: true; value: T } | { ok: false; error: MessageFailure };

/**
 * The host side of the contract (WIT interface `plughost:plugin/host`), bound
 * to one plugin. Engines call these from guest imports; they never throw.
 */
export interface HostCalls {
  log(level: LogLevel, message: string): void;
  registerCallback(eventName: string): RegisterOutcome;
  emit(eventName: string, data: Uint8Array): MessageOutcome<number>;
  send(target: string, eventName: string, data: Uint8Array): MessageOutcome<undefined>;
  getConfig(): string;
  getConfigValue(key: string): string | undefined;
  /** Log lines an engine dropped before they reached `log` (a full per-call buffer), for the plugin's metrics. */
  logsDropped?(count: number): void;
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
}

export type Isolation = "in-process" | "worker";
export type TrustLevel = "trusted" | "untrusted";

export interface LoadRequest {
  /** The plugin's name, for errors and logs. */
  plugin: string;
  /** Absolute path of the entry file (`.wasm` component or `.so` library). */
  entryPath: string;
  /** The entry's bytes, when already read (and verified). */
  bytes?: Uint8Array;
  /** The effective capability set: declared ∩ granted. */
  capabilities: readonly string[];
  limits: Limits;
  host: HostCalls;
  /** Directory for on-disk caches; undefined disables the disk cache. */
  cacheDir?: string;
  isolation?: Isolation;
  trust?: TrustLevel;
  /**
   * Called when the engine observes a violation that did not fail the call (e.g. a refused memory.grow), or
   * when it stopped the instance itself (kinds fuel, deadline, crash, trap: e.g. the native sandbox killing a
   * helper between calls). After such a report the registry does not record the fault a call then gets again.
   */
  onViolation?: (kind: ViolationKind, detail: string) => void;
}

export type ViolationKind = "fuel" | "memory" | "deadline" | "capability" | "trap" | "crash";

export type HookOutcome = { ok: true; data: Uint8Array } | { ok: false; status: number };

/**
 * One live instance of a plugin. Calls are serialized by the caller: an
 * instance runs one call at a time. A method throws an `InstanceFault`
 * (trap, fuel, deadline, crash, exit) after which the instance is unusable.
 */
export interface EngineInstance {
  init(apiVersion: string, configJson: string): Promise<number>;
  teardown(): Promise<number>;
  onEvent(eventName: string, data: Uint8Array): Promise<number>;
  onHook(eventName: string, data: Uint8Array): Promise<HookOutcome>;
  /**
   * The instance accepts overlapping calls and runs them one at a time in the
   * order they were made (a worker's call ring), so callers need not wait for
   * one call before issuing the next.
   */
  readonly ordered?: boolean;
  /** Synchronous fast path, offered by in-process engines only. */
  onEventSync?(eventName: string, data: Uint8Array): number;
  onHookSync?(eventName: string, data: Uint8Array): HookOutcome;
  /** Fuel used by the last completed call, when metered. */
  lastCallFuel?(): number;
  /** Fuel used by every call (and instantiation) of this instance so far, when metered. */
  lifetimeFuel?(): number;
  /**
   * Release everything the instance holds. Idempotent. It must end the
   * instance even while a call is running (a worker is terminated, a helper
   * process killed, a wasmtime call interrupted), and every call still
   * pending then rejects with an `InstanceFault`: the registry relies on this
   * when `init` runs past its deadline or `teardown` past the unload grace.
   */
  dispose(): Promise<void>;
}

export interface Engine {
  readonly name: EngineName;
  load(request: LoadRequest): Promise<EngineInstance>;
}
