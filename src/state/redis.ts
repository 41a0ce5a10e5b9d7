/**
 * The Redis state backend, for hosts that share state across processes. The interface is synchronous (an engine
 * answers a guest's `state-*` call inside the call), so it has two transports (`transport`):
 *   - "sync": a node-api addon over hiredis runs each command on the caller's thread (redis-sync.ts), one round
 *     trip per call; used when the addon is built (`node scripts/setup.mjs redis-sync`) and loads, for `redis://`.
 *   - "worker": the ioredis client in a worker thread of its own (redis-worker.ts), the caller blocked in
 *     Atomics.wait until the worker's reply is posted; the fallback (no addon, or `rediss://`).
 * Both bound every call: an unreachable or hung server is `unavailable` after `timeoutMs`, never a hang. Both run
 * the same commands and Lua scripts (redis-scripts.ts), so the key layout and every semantic are the same.
 *
 * Durability is the server's: with `appendonly yes` and `appendfsync always` a returned write survives a server
 * crash; Redis's defaults may lose the last second or more.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import type { StateBackend, StatePage, StateUsage } from "./backend.js";
import { notAnIntegerError, quotaError, unavailableError } from "./errors.js";
import { READY_ID, type RedisCall, type RedisOutcome, type RedisReply, type RedisRequest, type RedisWorkerData } from "./redis-protocol.js";
import { RedisSyncConnection, RedisTransportError, redisSyncAddon, serveSync } from "./redis-sync.js";

/** Options of the Redis state backend (`openStateBackend({ backend: "redis", ... })`). */
export interface RedisStateOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`). */
  url: string;
  /** How long one call may take, and the connection at open, before it is `unavailable` (default 2000 ms). */
  timeoutMs?: number;
  /** Prefix of every Redis key (default `plughost`): keys are `<prefix>:<plugin>:…`. */
  keyPrefix?: string;
}

type Call = RedisCall;

/** How the backend talks to the server: hiredis on the caller's thread, or ioredis in a worker thread. */
export type RedisTransport = "sync" | "worker";

// The margin over the worker's own command timeout before the caller gives up on the worker itself.
const WORKER_MARGIN_MS = 500;
// Starting the thread and loading ioredis, on top of the connection's own timeout.
const STARTUP_MS = 5000;

function workerEntryPath(): string {
  const here = import.meta.url;
  // Under vitest (or tsx) this module is the .ts source; the worker must be compiled JavaScript.
  const url = here.endsWith(".ts") ? new URL("../../dist/state/redis-worker.js", here) : new URL("./redis-worker.js", here);
  return fileURLToPath(url);
}

// Exact-size copies: posting a view clones the whole buffer beneath it (a Buffer may sit in an 8 KiB pool).
const exact = (b: Uint8Array): Uint8Array => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice());

/**
 * Plugins' state on a Redis server. Every method is synchronous and bounded by `timeoutMs`.
 *
 * @example
 *   const state = new RedisStateBackend({ url: "redis://127.0.0.1:6379" });
 *   state.get("counter", "count"); // Uint8Array | undefined
 *   state.close();
 */
export class RedisStateBackend implements StateBackend {
  readonly kind = "redis";
  /** The server's URL with any password masked. */
  readonly url: string;
  /** "sync" (hiredis on the caller's thread) or "worker" (ioredis in a worker thread). */
  readonly transport: RedisTransport;
  readonly #timeoutMs: number;
  readonly #keyPrefix: string;
  #sync: RedisSyncConnection | undefined;
  #closed = false;
  #worker: Worker | undefined;
  #port: MessagePort | undefined;
  #signal: Int32Array = new Int32Array(0);
  #seq = READY_ID;
  #exitReason: string | undefined;

  /**
   * `transport`: "worker" forces the worker transport (tests and comparisons); by default it is "sync" when its
   * addon loads and the URL is `redis://`, else "worker".
   */
  constructor(options: RedisStateOptions, transport?: RedisTransport) {
    this.url = options.url.replace(/\/\/([^@/]*)@/, "//***@");
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#keyPrefix = options.keyPrefix ?? "plughost";
    const addon = transport === "worker" || !/^redis:/i.test(options.url) ? undefined : redisSyncAddon().addon;
    this.transport = addon ? "sync" : "worker";
    if (addon) {
      try {
        this.#sync = new RedisSyncConnection(addon, options.url, this.#timeoutMs);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        throw unavailableError(undefined, `cannot reach the Redis state server ${this.url}: ${why}; check state.url and that the server runs`, e);
      }
      return;
    }
    const entry = workerEntryPath();
    if (!existsSync(entry)) throw unavailableError(undefined, `the Redis state worker ${entry} is missing; run \`npm run build\` to compile it`);
    const shared = new SharedArrayBuffer(4);
    this.#signal = new Int32Array(shared);
    const { port1, port2 } = new MessageChannel();
    const data: RedisWorkerData = { url: options.url, keyPrefix: options.keyPrefix ?? "plughost", timeoutMs: this.#timeoutMs, port: port2, signal: shared };
    // None of the host's flags: the worker runs plain JavaScript, and some flags stop it from starting at all
    // (`--input-type`, which a host run as `node --input-type=module -e` has).
    let worker: Worker;
    try {
      worker = new Worker(entry, { workerData: data, transferList: [port2], execArgv: [], name: "plughost:state-redis" } as ConstructorParameters<typeof Worker>[1]);
    } catch (e) {
      throw unavailableError(undefined, `cannot start the Redis state worker: ${(e as Error).message}`, e);
    }
    // The host process must be able to exit with a backend it never closed.
    worker.unref();
    worker.on("error", (e) => (this.#exitReason = `its worker failed: ${e.message}`));
    worker.on("exit", (code) => (this.#exitReason ??= `its worker exited (${code})`));
    this.#worker = worker;
    this.#port = port1;
    const ready = this.#wait(port1, READY_ID, this.#timeoutMs + STARTUP_MS);
    if (!ready || !ready.ok) {
      this.close();
      const why = !ready ? `no answer in ${this.#timeoutMs + STARTUP_MS} ms` : ready.kind === "unavailable" ? ready.message : ready.kind;
      throw unavailableError(undefined, `cannot reach the Redis state server ${this.url}: ${why}; check state.url and that the server runs`);
    }
  }

  // Block until the reply with `id` is posted, or the deadline passes (undefined). Replies to earlier, timed-out
  // calls are dropped on the way.
  #wait(port: MessagePort, id: number, timeoutMs: number): RedisReply | undefined {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = Atomics.load(this.#signal, 0);
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
        const reply = m.message as RedisReply;
        if (reply.id === id) return reply;
      }
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      Atomics.wait(this.#signal, 0, seen, left);
    }
  }

  // One call on the synchronous transport: a transport failure is `unavailable` (the next call reconnects).
  #callSync(ns: string | undefined, call: Call, conn: RedisSyncConnection): RedisOutcome {
    try {
      return serveSync(conn, this.#keyPrefix, call);
    } catch (e) {
      if (e instanceof RedisTransportError && e.code === "ETIMEDOUT")
        throw unavailableError(ns, `the Redis state server ${this.url} did not answer ${call.op} in ${this.#timeoutMs} ms; check that it runs and is reachable`, e);
      if (e instanceof RedisTransportError) return { ok: false, kind: "unavailable", message: e.message };
      throw e;
    }
  }

  #call(ns: string | undefined, call: Call): unknown {
    if (this.#sync) return this.#settle(ns, call, this.#callSync(ns, call, this.#sync));
    if (this.#closed) throw unavailableError(ns, `the Redis state backend ${this.url} is closed`);
    if (!this.#port) throw unavailableError(ns, `the Redis state backend ${this.url} is closed`);
    if (this.#exitReason !== undefined) throw unavailableError(ns, `the Redis state backend ${this.url} stopped: ${this.#exitReason}`);
    const id = ++this.#seq;
    this.#port.postMessage({ id, ...call });
    const reply = this.#wait(this.#port, id, this.#timeoutMs + WORKER_MARGIN_MS);
    if (!reply) throw unavailableError(ns, `the Redis state server ${this.url} did not answer ${call.op} in ${this.#timeoutMs} ms; check that it runs and is reachable`);
    return this.#settle(ns, call, reply);
  }

  // The value of an outcome, or its typed error.
  #settle(ns: string | undefined, call: Call, reply: RedisOutcome): unknown {
    if (reply.ok) return reply.value;
    const key = "key" in call ? call.key : "";
    switch (reply.kind) {
      case "quota":
        // Only writes carry a quota; the refusal names the usage they would have reached.
        throw quotaError(ns ?? "", key, reply, "quota" in call ? call.quota : { bytes: 0, keys: 0 });
      case "not-an-integer":
        throw notAnIntegerError(ns ?? "", key, reply.overflow);
      case "unavailable":
        throw unavailableError(ns, `the Redis state server ${this.url} failed ${call.op}: ${reply.message}; check that it runs and is reachable`);
    }
  }

  get(ns: string, key: string): Uint8Array | undefined {
    return (this.#call(ns, { op: "get", ns, key }) as Uint8Array | null) ?? undefined;
  }

  set(ns: string, key: string, value: Uint8Array, quota: StateUsage): void {
    this.#call(ns, { op: "set", ns, key, value: exact(value), quota: { bytes: quota.bytes, keys: quota.keys } });
  }

  delete(ns: string, key: string): boolean {
    return this.#call(ns, { op: "delete", ns, key }) as boolean;
  }

  exists(ns: string, key: string): boolean {
    return this.#call(ns, { op: "exists", ns, key }) as boolean;
  }

  list(ns: string, after: string | undefined, limit: number): StatePage {
    const n = Math.max(1, Math.floor(limit));
    const keys = this.#call(ns, { op: "list", ns, after: after ?? null, limit: n }) as string[];
    if (keys.length <= n) return { keys };
    keys.length = n;
    return { keys, cursor: keys[n - 1]! };
  }

  increment(ns: string, key: string, delta: bigint, quota: StateUsage): bigint {
    return BigInt(this.#call(ns, { op: "increment", ns, key, delta: delta.toString(), quota: { bytes: quota.bytes, keys: quota.keys } }) as string);
  }

  compareAndSwap(ns: string, key: string, expected: Uint8Array | undefined, value: Uint8Array, quota: StateUsage): boolean {
    const call: Call = { op: "cas", ns, key, expected: expected === undefined ? null : exact(expected), value: exact(value), quota: { bytes: quota.bytes, keys: quota.keys } };
    return this.#call(ns, call) as boolean;
  }

  usage(ns: string): StateUsage {
    return this.#call(ns, { op: "usage", ns }) as StateUsage;
  }

  entries(ns: string): [string, Uint8Array][] {
    return this.#call(ns, { op: "entries", ns }) as [string, Uint8Array][];
  }

  wipe(ns: string): void {
    this.#call(ns, { op: "wipe", ns });
  }

  getSnapshot(ns: string): Uint8Array | undefined {
    return (this.#call(ns, { op: "getSnapshot", ns }) as Uint8Array | null) ?? undefined;
  }

  putSnapshot(ns: string, data: Uint8Array): void {
    this.#call(ns, { op: "putSnapshot", ns, data: exact(data) });
  }

  close(): void {
    this.#closed = true;
    if (this.#sync) {
      this.#sync.close();
      this.#sync = undefined;
      return;
    }
    const port = this.#port;
    const worker = this.#worker;
    this.#port = undefined;
    this.#worker = undefined;
    if (!port || !worker) return;
    // A polite QUIT, briefly; the thread is ended either way.
    if (this.#exitReason === undefined) {
      const id = ++this.#seq;
      port.postMessage({ id, op: "close" } satisfies RedisRequest);
      this.#wait(port, id, Math.min(this.#timeoutMs, 500));
    }
    port.close();
    void worker.terminate().catch(() => {});
  }
}
