/**
 * The Redis state backend's synchronous transport: a node-api addon over hiredis (native/redis-sync, built by
 * `node scripts/setup.mjs redis-sync`) that runs each command on the caller's thread with hiredis's blocking API,
 * so a state call costs one loopback round trip and no thread hop. redis.ts uses it when the addon loads and the URL
 * is `redis://`, and its worker transport (redis-worker.ts) otherwise.
 *
 * Every connect, write and read is bounded by the timeout. A timeout or a dropped connection closes the connection
 * (the call is `unavailable`); the next call connects again, at most once per call. A connection the server closed
 * while it was idle (a restart) is noticed before anything is sent on it, and replaced within the same call.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { RedisCall, RedisOutcome } from "./redis-protocol.js";
import { SCRIPTS, KEY_COUNTS, nsBase, valueKeys, type ScriptName } from "./redis-scripts.js";

type Handle = object & { readonly __redisSyncHandle?: never };
type Arg = string | Uint8Array;
type Reply = null | number | bigint | Buffer | string | Error | Reply[];

/** The addon's exports. */
interface RedisSyncAddon {
  open(host: string, port: number, timeoutMs: number): Handle;
  command(handle: Handle, args: Arg[]): Reply;
  close(handle: Handle): void;
}

/** The addon's build in a checkout (the same path from src/state and dist/state). */
const REPO_ADDON = fileURLToPath(new URL("../../native/redis-sync/build/Release/plughost_redis_sync.node", import.meta.url));

let loaded: { addon: RedisSyncAddon | undefined; why: string } | undefined;

/**
 * The addon, or undefined with the reason (not built, or it does not load: no libhiredis, another Node ABI).
 * PLUGHOST_REDIS_SYNC_ADDON names a build; `PLUGHOST_REDIS_SYNC_ADDON=off` turns the transport off.
 */
export function redisSyncAddon(): { addon: RedisSyncAddon | undefined; why: string } {
  if (loaded) return loaded;
  const override = process.env.PLUGHOST_REDIS_SYNC_ADDON;
  if (override === "off" || override === "0") return (loaded = { addon: undefined, why: "PLUGHOST_REDIS_SYNC_ADDON=off" });
  const file = override || REPO_ADDON;
  if (!existsSync(file)) return (loaded = { addon: undefined, why: `${file} is not built (node scripts/setup.mjs redis-sync; needs libhiredis-dev)` });
  try {
    const addon = createRequire(import.meta.url)(file) as Partial<RedisSyncAddon> | undefined;
    if (typeof addon?.open !== "function" || typeof addon.command !== "function" || typeof addon.close !== "function")
      return (loaded = { addon: undefined, why: `${file} is not the Redis transport addon (no open/command/close)` });
    return (loaded = { addon: addon as RedisSyncAddon, why: file });
  } catch (e) {
    return (loaded = { addon: undefined, why: `${file} does not load: ${(e as Error).message}` });
  }
}

/** A transport failure: `code` ETIMEDOUT (a read, write or connect passed the timeout), ECONNREFUSED, ECONNRESET, … */
export class RedisTransportError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** What a `redis://` URL says: where, who, which database. */
interface Target {
  host: string;
  port: number;
  username: string;
  password: string;
  db: number;
}

/** Parses `redis://[user:password@]host[:port][/db]` as ioredis does (a user without a password sends no AUTH). */
export function parseRedisUrl(url: string): Target {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1") || "localhost";
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new RedisTransportError("EINVAL", `the database in the URL's path is not a number: ${JSON.stringify(u.pathname)}`);
  return { host, port: u.port ? Number(u.port) : 6379, username: decodeURIComponent(u.username), password: decodeURIComponent(u.password), db };
}

const SHAS = Object.fromEntries(Object.entries(SCRIPTS).map(([name, lua]) => [name, createHash("sha1").update(lua).digest("hex")])) as Record<ScriptName, string>;

/** True when an error thrown by the addon is a transport failure (it has a code); argument errors are not. */
const transportCode = (e: unknown): string | undefined => {
  const code = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
};

/** One connection to the server, on the caller's thread. */
export class RedisSyncConnection {
  readonly #addon: RedisSyncAddon;
  readonly #target: Target;
  readonly #timeoutMs: number;
  #handle: Handle | undefined;

  /** Connects now (throws RedisTransportError, EREFUSED for a refused AUTH or SELECT). */
  constructor(addon: RedisSyncAddon, url: string, timeoutMs: number) {
    this.#addon = addon;
    this.#target = parseRedisUrl(url);
    this.#timeoutMs = timeoutMs;
    this.#connect();
  }

  #connect(): void {
    const t = this.#target;
    let handle: Handle;
    try {
      handle = this.#addon.open(t.host, t.port, this.#timeoutMs);
    } catch (e) {
      const code = transportCode(e);
      if (code === undefined) throw e;
      throw new RedisTransportError(code, code === "ETIMEDOUT" ? `connect timed out after ${this.#timeoutMs} ms` : (e as Error).message);
    }
    try {
      const setup: Arg[][] = [];
      if (t.password) setup.push(t.username ? ["AUTH", t.username, t.password] : ["AUTH", t.password]);
      if (t.db !== 0) setup.push(["SELECT", String(t.db)]);
      for (const args of setup) {
        const r = this.#send(handle, args);
        if (r instanceof Error) throw new RedisTransportError("EREFUSED", `${args[0]} refused: ${r.message}`);
      }
    } catch (e) {
      this.#addon.close(handle);
      throw e;
    }
    this.#handle = handle;
  }

  #send(handle: Handle, args: Arg[]): Reply {
    try {
      return this.#addon.command(handle, args);
    } catch (e) {
      const code = transportCode(e);
      if (code === undefined) throw e;
      throw new RedisTransportError(code, code === "ETIMEDOUT" ? `no answer in ${this.#timeoutMs} ms` : (e as Error).message);
    }
  }

  /**
   * One command; a -ERR reply is returned as an Error. Connects first when the last call lost the connection, and
   * again (once) when the server closed it while it was idle. Throws RedisTransportError, the connection closed.
   */
  command(args: Arg[]): Reply {
    let fresh = false;
    if (this.#handle === undefined) {
      this.#connect();
      fresh = true;
    }
    try {
      return this.#send(this.#handle!, args);
    } catch (e) {
      this.#handle = undefined;
      if (!(e instanceof RedisTransportError) || e.code !== "ESTALE" || fresh) throw e;
    }
    this.#connect();
    try {
      return this.#send(this.#handle!, args);
    } catch (e) {
      this.#handle = undefined;
      throw e;
    }
  }

  /** EVALSHA, loading the script (SCRIPT LOAD) when the server does not have it (NOSCRIPT). */
  script(name: ScriptName, keys: string[], args: Arg[]): Reply {
    if (keys.length !== KEY_COUNTS[name]) throw new Error(`script ${name} takes ${KEY_COUNTS[name]} keys`);
    const call: Arg[] = ["EVALSHA", SHAS[name], String(keys.length), ...keys, ...args];
    const r = this.command(call);
    if (!(r instanceof Error) || !r.message.startsWith("NOSCRIPT")) return r;
    const loadedSha = this.command(["SCRIPT", "LOAD", SCRIPTS[name]]);
    if (loadedSha instanceof Error) return loadedSha;
    return this.command(call);
  }

  close(): void {
    const h = this.#handle;
    this.#handle = undefined;
    if (h !== undefined) this.#addon.close(h);
  }
}

/** A -ERR reply: the call is `unavailable` with the server's message. */
class ReplyError extends Error {}

const check = (r: Reply): Reply => {
  if (r instanceof Error) throw new ReplyError(r.message);
  return r;
};
// A plain Uint8Array over the addon's exact-size Buffer (no copy), as the worker transport hands out.
const bytes = (r: Reply): Uint8Array | null => {
  const v = check(r);
  if (v === null) return null;
  const b = v as Buffer;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
};
const textOf = (r: Reply): string => (Buffer.isBuffer(r) ? r.toString("utf8") : String(r));
const list = (r: Reply): Reply[] => check(r) as Reply[];

function refusalOrOk(r: Reply[], value: unknown): RedisOutcome {
  if (r[0] === -1) return { ok: false, kind: "quota", bytes: Number(r[1]), keys: Number(r[2]) };
  return { ok: true, value };
}

/**
 * Serves one request on `conn`, as the worker's serve() does with ioredis: the same commands, scripts and replies.
 * A -ERR reply is `unavailable` with its message; transport failures are thrown (RedisTransportError).
 */
export function serveSync(conn: RedisSyncConnection, prefix: string, req: RedisCall): RedisOutcome {
  try {
    return serve(conn, prefix, req);
  } catch (e) {
    if (e instanceof ReplyError) return { ok: false, kind: "unavailable", message: e.message };
    throw e;
  }
}

function serve(conn: RedisSyncConnection, prefix: string, req: RedisCall): RedisOutcome {
  switch (req.op) {
    case "get":
      return { ok: true, value: bytes(conn.command(["GET", valueKeys(prefix, req.ns, req.key)[0]])) };
    case "exists":
      return { ok: true, value: check(conn.command(["EXISTS", valueKeys(prefix, req.ns, req.key)[0]])) === 1 };
    case "delete":
      return { ok: true, value: check(conn.script("stateDel", valueKeys(prefix, req.ns, req.key), [req.key])) === 1 };
    case "set": {
      const r = list(conn.script("stateSet", valueKeys(prefix, req.ns, req.key), [req.key, req.value, String(req.quota.bytes), String(req.quota.keys)]));
      return refusalOrOk(r, undefined);
    }
    case "cas": {
      const args: Arg[] = [req.key, req.value, String(req.quota.bytes), String(req.quota.keys), req.expected === null ? "m" : "p", req.expected ?? ""];
      const r = list(conn.script("stateCas", valueKeys(prefix, req.ns, req.key), args));
      return refusalOrOk(r, r[0] === 1);
    }
    case "increment": {
      const r = list(conn.script("stateIncr", valueKeys(prefix, req.ns, req.key), [req.key, req.delta, String(req.quota.bytes), String(req.quota.keys)]));
      if (r[0] === -2) return { ok: false, kind: "not-an-integer", overflow: textOf(r[1]!) === "overflow" };
      return refusalOrOk(r, textOf(r[1]!));
    }
    case "list": {
      const [, index] = valueKeys(prefix, req.ns, "");
      const from = req.after === null ? "-" : `(${req.after}`;
      const keys = list(conn.command(["ZRANGEBYLEX", index, from, "+", "LIMIT", "0", String(req.limit + 1)]));
      return { ok: true, value: keys.map(textOf) };
    }
    case "usage": {
      const [, , usage] = valueKeys(prefix, req.ns, "");
      const [b, k] = list(conn.command(["HMGET", usage, "bytes", "keys"]));
      return { ok: true, value: { bytes: b === null ? 0 : Number(textOf(b!)), keys: k === null ? 0 : Number(textOf(k!)) } };
    }
    case "entries": {
      const b = nsBase(prefix, req.ns);
      const flat = list(conn.script("stateEntries", [`${b}keys`], [`${b}v:`])) as Buffer[];
      const out: [string, Uint8Array][] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!.toString("utf8"), bytes(flat[i + 1]!)!]);
      return { ok: true, value: out };
    }
    case "wipe": {
      const b = nsBase(prefix, req.ns);
      check(conn.script("stateWipe", [`${b}keys`, `${b}usage`, `${b}snapshot`], [`${b}v:`]));
      return { ok: true, value: undefined };
    }
    case "getSnapshot":
      return { ok: true, value: bytes(conn.command(["GET", `${nsBase(prefix, req.ns)}snapshot`])) };
    case "putSnapshot": {
      const k = `${nsBase(prefix, req.ns)}snapshot`;
      check(req.data.length === 0 ? conn.command(["DEL", k]) : conn.command(["SET", k, req.data]));
      return { ok: true, value: undefined };
    }
    case "close":
      conn.close();
      return { ok: true, value: undefined };
  }
}
