/**
 * What the Redis state backend (redis.ts, on the caller's thread) and its worker (redis-worker.ts, which owns the
 * connection) say to each other. A request goes through a MessagePort; the worker posts the reply on the same port,
 * then bumps a counter in a SharedArrayBuffer and notifies it, which wakes the caller blocked in Atomics.wait.
 */
import type { MessagePort } from "node:worker_threads";
import type { StateUsage } from "./backend.js";

/** One call; `id` pairs it with its reply (a reply for an earlier, timed-out call is dropped). */
export type RedisRequest = { readonly id: number } & (
  | { readonly op: "get" | "exists" | "delete"; readonly ns: string; readonly key: string }
  | { readonly op: "set"; readonly ns: string; readonly key: string; readonly value: Uint8Array; readonly quota: StateUsage }
  | { readonly op: "increment"; readonly ns: string; readonly key: string; readonly delta: string; readonly quota: StateUsage }
  | {
      readonly op: "cas";
      readonly ns: string;
      readonly key: string;
      readonly expected: Uint8Array | null;
      readonly value: Uint8Array;
      readonly quota: StateUsage;
    }
  | { readonly op: "list"; readonly ns: string; readonly after: string | null; readonly limit: number }
  | { readonly op: "usage" | "entries" | "wipe" | "getSnapshot"; readonly ns: string }
  | { readonly op: "putSnapshot"; readonly ns: string; readonly data: Uint8Array }
  | { readonly op: "close" }
);

/** A call's outcome: a value, or which `state-error` it is (the caller builds the typed error). */
export type RedisReply = { readonly id: number } & (
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly kind: "quota"; readonly bytes: number; readonly keys: number }
  | { readonly ok: false; readonly kind: "not-an-integer"; readonly overflow: boolean }
  | { readonly ok: false; readonly kind: "unavailable"; readonly message: string }
);

/** A request without its id: what redis.ts asks of either transport. */
export type RedisCall = RedisRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

/** A reply without its id: what serving one request comes to, on either transport. */
export type RedisOutcome = RedisReply extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

/** What the worker is started with. */
export interface RedisWorkerData {
  readonly url: string;
  readonly keyPrefix: string;
  readonly timeoutMs: number;
  readonly port: MessagePort;
  /** Int32Array over it: [0] counts replies posted. */
  readonly signal: SharedArrayBuffer;
}

/** The id of the worker's first reply: connected (ok) or not. */
export const READY_ID = 0;
