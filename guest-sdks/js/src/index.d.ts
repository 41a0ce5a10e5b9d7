// Types for the plughost guest SDK ("@plughost/guest"). See docs/guest-js.md.
/// <reference path="../types/plughost-host.d.ts" />
import type {
  LogLevel, RegisterError, MessageError, MetricKind, MetricError, RequestErrorCode, MessageKind, StateError as StateErrorCode, ContextError as ContextErrorCode,
} from "plughost:plugin/host@0.1.0";
export type { LogLevel, RegisterError, MessageError, MetricKind, MetricError, RequestErrorCode, MessageKind, StateErrorCode, ContextErrorCode };

export type Result<T, E> = { ok: T; err?: undefined } | { err: E; ok?: undefined };
type MaybePromise<T> = T | Promise<T>;

/** A status like the C ABI's: 0 is success. `undefined` means 0, `true`/`false` mean 0/1. */
export type Status = number | boolean | void;
/** What `onHook` may return: bytes or a string (UTF-8) for `ok`, `{ err: status }` to fail the chain. */
export type HookResult = Uint8Array | string | { ok: Uint8Array | string } | { err: number };

export interface PluginDefinition {
  /** `config` is the plugin's configuration as a JSON string. Register callbacks here. */
  init?(apiVersion: string, config: string): MaybePromise<Status>;
  teardown?(): MaybePromise<Status>;
  /** Missing handler: every event returns -100. */
  onEvent?(name: string, data: Uint8Array): MaybePromise<Status>;
  /** Missing handler or `undefined` result: `err(-100)`. */
  onHook?(name: string, data: Uint8Array): MaybePromise<HookResult | undefined>;
}

/** The exported `guest` interface in the shape componentize-js binds. */
export interface GuestExport {
  init(apiVersion: string, config: string): MaybePromise<number>;
  teardown(): MaybePromise<number>;
  onEvent(name: string, data: Uint8Array): MaybePromise<number>;
  onHook(name: string, data: Uint8Array): MaybePromise<{ tag: "ok"; val: Uint8Array } | { tag: "err"; val: number }>;
}

/** Use as `export const guest = definePlugin({ ... })`; the export must be named `guest`. */
export function definePlugin(def: PluginDefinition): GuestExport;

/** The optional `lifecycle` handlers: the host suspended / resumed the plugin. Return 0 (another status is logged). */
export interface LifecycleDefinition {
  /** No calls arrive until `onResume`. Missing: 0. */
  onSuspend?(): MaybePromise<Status>;
  /** Missing: 0. */
  onResume?(): MaybePromise<Status>;
}

/** The exported `lifecycle` interface in the shape componentize-js binds. */
export interface LifecycleExport {
  onSuspend(): MaybePromise<number>;
  onResume(): MaybePromise<number>;
}

/**
 * Use as `export const lifecycle = defineLifecycle({ ... })` in the plugin's entry (the export must be named
 * `lifecycle`): the build then exports the optional lifecycle interface and the host tells the plugin when it
 * suspends and resumes it.
 */
export function defineLifecycle(def: LifecycleDefinition): LifecycleExport;

/** The optional `config-watch` handler: the plugin's configuration changed while it runs. */
export interface ConfigWatchDefinition {
  /**
   * `config` is the whole new configuration as JSON (what `getConfig` returns from now on). Return 0 (or `true`, or
   * nothing) to take it; another status, or no handler, and the host reloads the plugin with it.
   */
  onConfigChanged?(config: string): MaybePromise<Status>;
}
/** The exported `config-watch` interface in the shape componentize-js binds. */
export interface ConfigWatchExport {
  onConfigChanged(config: string): MaybePromise<number>;
}
/**
 * Use as `export const configWatch = defineConfigWatch({ ... })` in the plugin's entry (the export must be named
 * `configWatch`): the build then exports the optional config-watch interface. Without it, a configuration change
 * reloads the plugin.
 */
export function defineConfigWatch(def: ConfigWatchDefinition): ConfigWatchExport;

/** The optional `handoff` handlers: carry in-memory state to the next instance across a reload or a restart. */
export interface HandoffDefinition {
  /** The state to carry (bytes or a UTF-8 string); missing or empty: nothing is carried. */
  snapshot?(): MaybePromise<Uint8Array | string | undefined>;
  /** An earlier instance's snapshot, after `init`. Return 0; another status is logged. */
  restore?(data: Uint8Array): MaybePromise<Status>;
}
/** The exported `handoff` interface in the shape componentize-js binds. */
export interface HandoffExport {
  snapshot(): MaybePromise<Uint8Array>;
  restore(data: Uint8Array): MaybePromise<number>;
}
/** Use as `export const handoff = defineHandoff({ ... })` (the export must be named `handoff`). */
export function defineHandoff(def: HandoffDefinition): HandoffExport;

export const UNHANDLED: -100;
export const REGISTER_ERRORS: readonly RegisterError[];
export const MESSAGE_ERRORS: readonly MessageError[];

export function log(level: LogLevel, message: unknown): void;
export function debug(message: unknown): void;
export function info(message: unknown): void;
export function warn(message: unknown): void;
export function error(message: unknown): void;

export function registerCallback(eventName: string): Result<void, RegisterError>;
/** `ok` is the number of plugins the event was queued for. */
export function emit(eventName: string, data: Uint8Array | string): Result<number, MessageError>;
export function send(target: string, eventName: string, data: Uint8Array | string): Result<void, MessageError>;

export const METRIC_KINDS: readonly MetricKind[];
export const METRIC_ERRORS: readonly MetricError[];
/**
 * Define one of this plugin's own metrics (needs the capability `metrics`); `ok` is its id. The host exports it
 * as `plugin_<plugin>_<name>` with a `plugin` label besides `labelNames`. The same name, kind and labels again
 * give the same id.
 */
export function defineMetric(kind: MetricKind, name: string, help?: string, labelNames?: readonly string[]): Result<number, MetricError>;
/** Add to a counter, set a gauge, observe into a histogram; `labelValues` in the order of the label names. */
export function recordMetric(id: number, value: number, labelValues?: readonly string[]): Result<void, MetricError>;

export const REQUEST_ERRORS: readonly RequestErrorCode[];
export const MESSAGE_KINDS: readonly MessageKind[];

/** Why a `request` failed. */
export class RequestError extends Error {
  /** The WIT request-error case: `"timeout"`, `"rejected"`, `"cycle"`, ... */
  readonly code: RequestErrorCode;
  readonly target: string;
  readonly eventName: string;
  constructor(code: RequestErrorCode, target: string, eventName: string);
}

/**
 * Ask `target` (a plugin or a host service) for an answer: the target's `onHook` runs on `data` for `eventName`
 * and its output is the answer (an `{ err }` is a `RequestError` with code `"rejected"`). Needs
 * `events:publish:<eventName>`. Blocks until the answer, a refusal or the timeout (`timeoutMs` 0 or absent: the
 * host's default, 5 s; the host caps it).
 * @throws RequestError
 */
export function request(target: string, eventName: string, data?: Uint8Array | string, options?: { timeoutMs?: number }): Uint8Array;

/** The envelope of the message the current call handles. */
export interface MessageInfo {
  /** Unique within the host that created it. */
  id: number;
  /** The message during whose handling this one was sent. */
  parentId?: number;
  /** The sending plugin; absent when the host sent it. */
  source?: string;
  /** The addressed plugin; absent for a broadcast (emit, dispatch, a hook chain). */
  target?: string;
  eventName: string;
  kind: MessageKind;
  /** The host's string metadata (for example `traceparent`). */
  metadata: Record<string, string>;
}
/** The current call's envelope; `undefined` in `init` and `teardown`. */
export function currentMessage(): MessageInfo | undefined;

export const STATE_ERRORS: readonly StateErrorCode[];
export const CONTEXT_ERRORS: readonly ContextErrorCode[];

/** Why a state operation failed. Nothing was written. */
export class StateError extends Error {
  /** The WIT state-error case: `"denied"`, `"quota-exceeded"`, ... */
  readonly code: StateErrorCode;
  /** `"get"`, `"set"`, `"delete"`, `"exists"`, `"list-keys"`, `"increment"` or `"compare-and-swap"`. */
  readonly operation: string;
  readonly key: string | undefined;
  constructor(code: StateErrorCode, operation: string, key?: string);
}

/** One page of `state.listKeys`: keys in byte order; `cursor` for the next page, absent on the last. */
export interface KeyPage {
  keys: string[];
  cursor?: string;
}

/**
 * The plugin's own persistent key-value store (needs the capability `state`; docs/state.md): kept across traps,
 * restarts, hot reloads and host restarts, invisible to other plugins. Keys are 1 to 256 bytes of UTF-8; a write
 * is durable when the call that made it returns. Every method throws a `StateError`.
 */
export const state: {
  /** The value, or `undefined` when the key is missing. */
  get(key: string): Uint8Array | undefined;
  /** The value as UTF-8 text. */
  getText(key: string): string | undefined;
  set(key: string, value: Uint8Array | string): void;
  /** `true` when the key was there. */
  delete(key: string): boolean;
  exists(key: string): boolean;
  /** Keys after `cursor`, at most `limit` (0 or absent: the host's default of 100; capped at 1,000). */
  listKeys(options?: { cursor?: string; limit?: number }): KeyPage;
  /** Every key, page by page. */
  keys(): string[];
  /** Add `delta` (default 1) to the integer under `key` (decimal text; missing is 0), atomically; the new value. */
  increment(key: string, delta?: number | bigint): number;
  /** `increment` with the full 64-bit range. */
  incrementBig(key: string, delta?: number | bigint): bigint;
  /** Store `value` only if the key holds `expected` now (`undefined`: only if missing), atomically; `true` when stored. */
  compareAndSwap(key: string, expected: Uint8Array | string | undefined, value: Uint8Array | string): boolean;
};

/** Why a context read or write failed. */
export class ContextError extends Error {
  /** The WIT context-error case: `"denied"`, `"unknown-key"`, `"invalid-value"` or `"read-only"`. */
  readonly code: ContextErrorCode;
  readonly operation: "get" | "set";
  readonly key: string;
  constructor(code: ContextErrorCode, operation: "get" | "set", key: string);
}

/**
 * Values the host keeps (docs/context.md): predefined keys (`host.name`, `host.version`, `environment`,
 * `plugin.data-dir`, `request.id`, `user.id`, `session.id`) and keys the host defines with a schema. Reading needs
 * `context:<key>`, writing `context:write:<key>`. Every method throws a `ContextError`.
 */
export const context: {
  /** The value, parsed; `undefined` when the key has no value now (`request.id` outside a request). */
  get<T = unknown>(key: string): T | undefined;
  /** The value as JSON text. */
  getJson(key: string): string | undefined;
  /** Set the value (JSON-encoded; checked against the key's schema). */
  set(key: string, value: unknown): void;
  setJson(key: string, json: string): void;
};

/** The configuration as the host gave it (a JSON object text). */
export function getConfigJson(): string;
export function getConfig<T = Record<string, unknown>>(): T;
/** One top-level value, parsed, or `undefined` when unset. */
export function getConfigValue<T = unknown>(key: string): T | undefined;

/** A string as UTF-8 bytes (bytes pass through). */
export function bytes(data: Uint8Array | string): Uint8Array;
/** UTF-8 bytes as a string. */
export function text(data: Uint8Array): string;
