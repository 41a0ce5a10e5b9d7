/**
 * The Redis state backend's worker thread: it owns the ioredis connection and answers requests from redis.ts
 * (protocol: redis-protocol.ts). Every write that reads before it writes (quota, increment, compare-and-swap,
 * delete, wipe) is one Lua script, so it is atomic on the server however many hosts share it.
 *
 * Layout, for namespace N under prefix P (N escaped so that ':' cannot forge another namespace's prefix):
 *   P:N:v:<key>   a value (a string)
 *   P:N:keys      a sorted set of the keys, all score 0, so ZRANGEBYLEX lists them in byte order
 *   P:N:usage     a hash: bytes, keys
 *   P:N:snapshot  the hand-off snapshot (outside the usage)
 */
import { workerData } from "node:worker_threads";
import { Redis } from "ioredis";
import type { RedisReply, RedisRequest, RedisWorkerData } from "./redis-protocol.js";
import { READY_ID } from "./redis-protocol.js";

const data = workerData as RedisWorkerData;
const signal = new Int32Array(data.signal);
const port = data.port;

// KEYS[1] value, KEYS[2] index, KEYS[3] usage; ARGV[1] is always the key's name (its byte length counts).
// charge() checks the quota for a write that changes the value from `oldlen` (existed) to `newlen` bytes and, when
// it passes, books the usage and indexes a new key; it returns the refusal {-1, bytes, keys} otherwise.
const CHARGE = `
local function charge(existed, oldlen, newlen, qb, qk)
  local db, dk
  if existed then db = newlen - oldlen; dk = 0 else db = string.len(ARGV[1]) + newlen; dk = 1 end
  if db > 0 or dk > 0 then
    local u = redis.call('HMGET', KEYS[3], 'bytes', 'keys')
    local b, k = tonumber(u[1]) or 0, tonumber(u[2]) or 0
    local nb, nk = b + db, k + dk
    if (nb > qb and nb > b) or (nk > qk and nk > k) then return {-1, nb, nk} end
  end
  if db ~= 0 then redis.call('HINCRBY', KEYS[3], 'bytes', db) end
  if dk ~= 0 then
    redis.call('HINCRBY', KEYS[3], 'keys', dk)
    redis.call('ZADD', KEYS[2], 0, ARGV[1])
  end
  return nil
end
`;

const SCRIPTS = {
  // ARGV: name, value, quota bytes, quota keys. Reply {1} or a refusal.
  stateSet: `${CHARGE}
local existed = redis.call('EXISTS', KEYS[1]) == 1
local oldlen = existed and redis.call('STRLEN', KEYS[1]) or 0
local refused = charge(existed, oldlen, string.len(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
if refused then return refused end
redis.call('SET', KEYS[1], ARGV[2])
return {1}`,
  // ARGV: name, value, quota bytes, quota keys, mode ('m': expect missing, 'p': expect ARGV[6]), expected.
  // Reply {1} stored, {0} mismatch, or a refusal.
  stateCas: `${CHARGE}
local old = redis.call('GET', KEYS[1])
if ARGV[5] == 'm' then
  if old then return {0} end
elseif (not old) or old ~= ARGV[6] then
  return {0}
end
local refused = charge(old ~= false, old and string.len(old) or 0, string.len(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
if refused then return refused end
redis.call('SET', KEYS[1], ARGV[2])
return {1}`,
  // ARGV: name, delta, quota bytes, quota keys. INCRBY is Redis's own 64-bit arithmetic (Lua numbers are doubles);
  // a refusal puts the old value back, which nobody can observe inside a script.
  // Reply {1, new decimal text}, {-2, 'overflow'|'nan'}, or a refusal.
  stateIncr: `${CHARGE}
local old = redis.call('GET', KEYS[1])
local r = redis.pcall('INCRBY', KEYS[1], ARGV[2])
if type(r) == 'table' and r.err then
  if string.find(r.err, 'overflow') then return {-2, 'overflow'} end
  return {-2, 'nan'}
end
local new = redis.call('GET', KEYS[1])
local refused = charge(old ~= false, old and string.len(old) or 0, string.len(new), tonumber(ARGV[3]), tonumber(ARGV[4]))
if refused then
  if old then redis.call('SET', KEYS[1], old) else redis.call('DEL', KEYS[1]) end
  return refused
end
return {1, new}`,
  // ARGV: name. Reply 1 when the key was there.
  stateDel: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local len = redis.call('STRLEN', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'bytes', -(string.len(ARGV[1]) + len))
redis.call('HINCRBY', KEYS[3], 'keys', -1)
return 1`,
  // KEYS[1] index; ARGV[1] the value-key prefix. Reply {name1, value1, name2, value2, ...} in byte order.
  stateEntries: `
local names = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for i, name in ipairs(names) do
  out[2 * i - 1] = name
  out[2 * i] = redis.call('GET', ARGV[1] .. name) or ''
end
return out`,
  // KEYS: index, usage, snapshot; ARGV[1] the value-key prefix. Deletes in chunks (unpack has a stack limit).
  stateWipe: `
while true do
  local names = redis.call('ZRANGE', KEYS[1], 0, 499)
  if #names == 0 then break end
  local full = {}
  for i, name in ipairs(names) do full[i] = ARGV[1] .. name end
  redis.call('DEL', unpack(full))
  redis.call('ZREM', KEYS[1], unpack(names))
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1`,
} as const;

const KEY_COUNTS: Record<keyof typeof SCRIPTS, number> = { stateSet: 3, stateCas: 3, stateIncr: 3, stateDel: 3, stateEntries: 1, stateWipe: 3 };

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

const escapeNs = (ns: string): string => ns.replace(/[%:{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const base = (ns: string): string => `${data.keyPrefix}:${escapeNs(ns)}:`;
const valueKeys = (ns: string, key: string): [string, string, string] => {
  const b = base(ns);
  return [`${b}v:${key}`, `${b}keys`, `${b}usage`];
};
// Exact-size copies: a Buffer from the socket is a view on a larger pool, and posting a view clones all of it.
const own = (b: Buffer | null): Uint8Array | null => (b === null ? null : new Uint8Array(b));

type Outcome = RedisReply extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

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
