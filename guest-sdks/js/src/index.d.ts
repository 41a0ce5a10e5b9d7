// Types for the plughost guest SDK ("@plughost/guest"). See docs/guest-js.md.
/// <reference path="../types/plughost-host.d.ts" />
import type { LogLevel, RegisterError, MessageError, MetricKind, MetricError } from "plughost:plugin/host@0.1.0";
export type { LogLevel, RegisterError, MessageError, MetricKind, MetricError };

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

/** The configuration as the host gave it (a JSON object text). */
export function getConfigJson(): string;
export function getConfig<T = Record<string, unknown>>(): T;
/** One top-level value, parsed, or `undefined` when unset. */
export function getConfigValue<T = unknown>(key: string): T | undefined;

/** A string as UTF-8 bytes (bytes pass through). */
export function bytes(data: Uint8Array | string): Uint8Array;
/** UTF-8 bytes as a string. */
export function text(data: Uint8Array): string;
