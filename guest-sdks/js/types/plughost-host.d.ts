// Declarations for the host interface as componentize-js exposes it inside a
// component: `import { log } from "plughost:plugin/host@0.1.0"`.
// Hand-written from wit/plugin.wit (package plughost:plugin@0.1.0).
//
// componentize-js conventions, checked against 0.23:
// - enums are their WIT case names as strings ("info", "denied", ...);
// - `list<u8>` is passed as a Uint8Array (a plain number[] also works);
// - `option<T>` is `T | undefined`;
// - a `result<T, E>` import returns T on `ok` and THROWS on `err`: the thrown
//   value is an Error whose `payload` property is E. The SDK's wrappers in
//   `@plughost/guest` turn that back into `{ ok } | { err }`.

declare module "plughost:plugin/host@0.1.0" {
  export type LogLevel = "debug" | "info" | "warn" | "error";
  export type RegisterError = "invalid-name" | "limit-reached" | "denied";
  export type MessageError = "invalid-name" | "unknown-target" | "denied" | "queue-full" | "too-large";
  export type MetricKind = "counter" | "gauge" | "histogram";
  export type MetricError = "denied" | "invalid-name" | "invalid-labels" | "invalid-value" | "limit-reached" | "conflict" | "unknown-metric";

  export type RequestErrorCode =
    | "invalid-name" | "unknown-target" | "not-handled" | "denied" | "too-large" | "cycle" | "too-deep" | "timeout" | "rejected" | "failed" | "would-block";
  export type MessageKind = "event" | "hook" | "request";
  export interface MessageInfo {
    id: bigint;
    parentId?: bigint;
    source?: string;
    target?: string;
    eventName: string;
    kind: MessageKind;
    metadata: [string, string][];
  }

  export type StateError = "denied" | "invalid-key" | "too-large" | "quota-exceeded" | "not-an-integer" | "unavailable";
  export type ContextError = "denied" | "unknown-key" | "invalid-value" | "read-only";
  export interface KeyPage {
    keys: string[];
    cursor?: string;
  }

  export function log(level: LogLevel, message: string): void;
  /** @throws an Error with `payload: RegisterError` */
  export function registerCallback(eventName: string): void;
  /** @returns the number of plugins the event was queued for. @throws an Error with `payload: MessageError` */
  export function emit(eventName: string, data: Uint8Array | number[]): number;
  /** @throws an Error with `payload: MessageError` */
  export function send(target: string, eventName: string, data: Uint8Array | number[]): void;
  export function getConfig(): string;
  export function getConfigValue(key: string): string | undefined;
  /** @returns the metric's id. @throws an Error with `payload: MetricError` */
  export function defineMetric(kind: MetricKind, name: string, help: string, labelNames: string[]): number;
  /** @throws an Error with `payload: MetricError` */
  export function recordMetric(id: number, value: number, labelValues: string[]): void;
  /** @returns the answer. @throws an Error with `payload: RequestErrorCode` */
  export function request(target: string, eventName: string, data: Uint8Array | number[], timeoutMs: number): Uint8Array;
  export function currentMessage(): MessageInfo | undefined;
  /** @throws an Error with `payload: StateError` */
  export function stateGet(key: string): Uint8Array | undefined;
  /** @throws an Error with `payload: StateError` */
  export function stateSet(key: string, value: Uint8Array | number[]): void;
  /** @returns whether the key was there. @throws an Error with `payload: StateError` */
  export function stateDelete(key: string): boolean;
  /** @throws an Error with `payload: StateError` */
  export function stateExists(key: string): boolean;
  /** @throws an Error with `payload: StateError` */
  export function stateListKeys(cursor: string | undefined, limit: number): KeyPage;
  /** @returns the new value. @throws an Error with `payload: StateError` */
  export function stateIncrement(key: string, delta: bigint): bigint;
  /** @returns whether it stored `value`. @throws an Error with `payload: StateError` */
  export function stateCompareAndSwap(key: string, expected: Uint8Array | number[] | undefined, value: Uint8Array | number[]): boolean;
  /** @returns the value as JSON, or undefined when it has none. @throws an Error with `payload: ContextError` */
  export function contextGet(key: string): string | undefined;
  /** @throws an Error with `payload: ContextError` */
  export function contextSet(key: string, value: string): void;
}
