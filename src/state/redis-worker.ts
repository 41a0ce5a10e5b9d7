/**
 * The Redis state backend's worker thread: it owns the ioredis connection and answers requests from redis.ts
 * (protocol: redis-protocol.ts). Every write that reads before it writes (quota, increment, compare-and-swap,
 * delete, wipe) is one Lua script, so it is atomic on the server however many hosts share it.
 *
 * The key layout and the scripts are redis-scripts.ts's, shared with the synchronous transport (redis-sync.ts).
 */
import { workerData } from "node:worker_threads";
import { Redis } from "ioredis";
import type { RedisOutcome, RedisReply, RedisRequest, RedisWorkerData } from "./redis-protocol.js";
import { READY_ID } from "./redis-protocol.js";
import { KEY_COUNTS, SCRIPTS, nsBase, valueKeys as keysOf } from "./redis-scripts.js";

const data = workerData as RedisWorkerData;
const signal = new Int32Array(data.signal);
const port = data.port;

const redis = new Redis(data.url, {
  lazyConnect: true,
  // Fail fast while disconnected instead of queueing: the caller is blocked and wants `unavailable` now.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: data.timeoutMs,
  connectTimeout: data.timeoutMs,
  retryStrategy: (times) => Math.min(50 * times, 1000),
});
// Errors reach callers through their commands; the event would otherwise be an unhandled 'error'.
redis.on("error", () => {});
for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: KEY_COUNTS[name as keyof typeof SCRIPTS], lua });

type Arg = string | number | Buffer | Uint8Array;
type ScriptFn = (...args: Arg[]) => Promise<unknown>;
const scripts = redis as unknown as Record<`${keyof typeof SCRIPTS}` | `${keyof typeof SCRIPTS}Buffer`, ScriptFn>;

const base = (ns: string): string => nsBase(data.keyPrefix, ns);
const valueKeys = (ns: string, key: string): [string, string, string] => keysOf(data.keyPrefix, ns, key);
// Exact-size copies: a Buffer from the socket is a view on a larger pool, and posting a view clones all of it.
const own = (b: Buffer | null): Uint8Array | null => (b === null ? null : new Uint8Array(b));

type Outcome = RedisOutcome;

function refusalOrOk(r: unknown[], value: unknown): Outcome {
  if (r[0] === -1) return { ok: false, kind: "quota", bytes: Number(r[1]), keys: Number(r[2]) };
  return { ok: true, value };
}

async function serve(req: RedisRequest): Promise<Outcome> {
  switch (req.op) {
    case "get":
      return { ok: true, value: own(await redis.getBuffer(valueKeys(req.ns, req.key)[0])) };
    case "exists":
      return { ok: true, value: (await redis.exists(valueKeys(req.ns, req.key)[0])) === 1 };
    case "delete":
      return { ok: true, value: (await scripts.stateDel!(...valueKeys(req.ns, req.key), req.key)) === 1 };
    case "set": {
      const r = (await scripts.stateSet!(...valueKeys(req.ns, req.key), req.key, Buffer.from(req.value.buffer, req.value.byteOffset, req.value.length), req.quota.bytes, req.quota.keys)) as unknown[];
      return refusalOrOk(r, undefined);
    }
    case "cas": {
      const expected = req.expected === null ? "" : Buffer.from(req.expected.buffer, req.expected.byteOffset, req.expected.length);
      const r = (await scripts.stateCas!(
        ...valueKeys(req.ns, req.key),
        req.key,
        Buffer.from(req.value.buffer, req.value.byteOffset, req.value.length),
        req.quota.bytes,
        req.quota.keys,
        req.expected === null ? "m" : "p",
        expected,
      )) as unknown[];
      return refusalOrOk(r, r[0] === 1);
    }
    case "increment": {
      const r = (await scripts.stateIncr!(...valueKeys(req.ns, req.key), req.key, req.delta, req.quota.bytes, req.quota.keys)) as unknown[];
      if (r[0] === -2) return { ok: false, kind: "not-an-integer", overflow: r[1] === "overflow" };
      return refusalOrOk(r, String(r[1]));
    }
    case "list": {
      const [, index] = valueKeys(req.ns, "");
      const from = req.after === null ? "-" : `(${req.after}`;
      const keys = await redis.zrangebylex(index, from, "+", "LIMIT", 0, req.limit + 1);
      return { ok: true, value: keys };
    }
    case "usage": {
      const [, , usage] = valueKeys(req.ns, "");
      const [bytes, keys] = await redis.hmget(usage, "bytes", "keys");
      return { ok: true, value: { bytes: Number(bytes ?? 0), keys: Number(keys ?? 0) } };
    }
    case "entries": {
      const b = base(req.ns);
      const flat = (await scripts.stateEntriesBuffer!(`${b}keys`, `${b}v:`)) as Buffer[];
      const out: [string, Uint8Array][] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!.toString("utf8"), new Uint8Array(flat[i + 1]!)]);
      return { ok: true, value: out };
    }
    case "wipe": {
      const b = base(req.ns);
      await scripts.stateWipe!(`${b}keys`, `${b}usage`, `${b}snapshot`, `${b}v:`);
      return { ok: true, value: undefined };
    }
    case "getSnapshot":
      return { ok: true, value: own(await redis.getBuffer(`${base(req.ns)}snapshot`)) };
    case "putSnapshot": {
      const k = `${base(req.ns)}snapshot`;
      if (req.data.length === 0) await redis.del(k);
      else await redis.set(k, Buffer.from(req.data.buffer, req.data.byteOffset, req.data.length));
      return { ok: true, value: undefined };
    }
    case "close":
      await redis.quit().catch(() => redis.disconnect());
      return { ok: true, value: undefined };
  }
}

function reply(r: RedisReply): void {
  port.postMessage(r);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e));

port.on("message", (req: RedisRequest) => {
  serve(req).then(
    (outcome) => reply({ id: req.id, ...outcome } as RedisReply),
    (e: unknown) => reply({ id: req.id, ok: false, kind: "unavailable", message: describe(e) }),
  );
});

redis.connect().then(
  () => reply({ id: READY_ID, ok: true, value: undefined }),
  (e: unknown) => reply({ id: READY_ID, ok: false, kind: "unavailable", message: describe(e) }),
);
