/**
 * The state backend: where plugins' key-value state lives (docs/state.md). One backend serves a whole host; each
 * plugin is a namespace of its own (its name), and no call crosses namespaces. Every method is synchronous, so
 * every engine can answer a guest's `state-*` call inside the call (the Redis backend waits on a thread of its own).
 *
 * Sizes: a key counts its UTF-8 bytes, a value its bytes; a namespace's usage is the sum over its keys of both,
 * and its key count. Quotas are checked atomically with the write that would pass them.
 */
import type { StateError } from "../contract/abi.js";

/** A namespace's usage, or a quota on it. */
export interface StateUsage {
  readonly bytes: number;
  readonly keys: number;
}

/** One page of keys in byte order; `cursor` (the last key) is absent when there are no more. */
export interface StatePage {
  readonly keys: readonly string[];
  readonly cursor?: string;
}

/** A failure the backend reports as a WIT `state-error` (`quota-exceeded`, `not-an-integer`, `unavailable`). */
export interface StateFailure {
  readonly reason: StateError;
}

/**
 * A store of namespaces of keys. Methods throw a `StateBackendError` (src/state/errors.ts) for `quota-exceeded`,
 * `not-an-integer` and `unavailable`; they never throw anything else for a well-formed call.
 */
export interface StateBackend {
  /** "sqlite" or "redis": what `registry.state(name)` and the metrics name. */
  readonly kind: string;
  get(ns: string, key: string): Uint8Array | undefined;
  /** Store `value`; refused (nothing written) when usage after the write would pass `quota`. */
  set(ns: string, key: string, value: Uint8Array, quota: StateUsage): void;
  /** True when the key was there. */
  delete(ns: string, key: string): boolean;
  exists(ns: string, key: string): boolean;
  /** Keys after `after` (undefined: from the first) in byte order, at most `limit`. */
  list(ns: string, after: string | undefined, limit: number): StatePage;
  /** Add `delta` to the decimal integer under `key` (missing: 0) and return the sum; within `quota`. */
  increment(ns: string, key: string, delta: bigint, quota: StateUsage): bigint;
  /** Store `value` only if the key holds `expected` (undefined: only if missing); true when stored. */
  compareAndSwap(ns: string, key: string, expected: Uint8Array | undefined, value: Uint8Array, quota: StateUsage): boolean;
  usage(ns: string): StateUsage;
  /** Every key and value of a namespace, in byte order (for `registry.state(name)`; bounded by the quota). */
  entries(ns: string): [string, Uint8Array][];
  /** Remove every key of a namespace, and its snapshot. */
  wipe(ns: string): void;
  /** The last hand-off snapshot of a namespace (`handoff.snapshot`), outside its keys and quota. */
  getSnapshot(ns: string): Uint8Array | undefined;
  /** Replace the namespace's snapshot; an empty one removes it. */
  putSnapshot(ns: string, data: Uint8Array): void;
  /** Release the database or connection. Idempotent. */
  close(): void;
}
