/**
 * The SQLite state backend: one database file per host (better-sqlite3), in WAL mode.
 *
 * Durability: with `synchronous: "normal"` (the default) a write is in the WAL when its call returns, so it survives
 * the host process being killed (SIGKILL included); a power loss or an OS crash may lose the last commits.
 * `synchronous: "full"` syncs the WAL on every commit, which survives those too at the cost of an fsync per write.
 *
 * Keys are TEXT with the BINARY collation: SQLite compares them with memcmp over their UTF-8 bytes, which is the byte
 * order the interface promises. Each namespace has a usage row updated in the same transaction as every write, so
 * `usage()` is one indexed read and the quota check cannot race another writer (writes take the lock up front:
 * BEGIN IMMEDIATE).
 */
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import type { StateBackend, StatePage, StateUsage } from "./backend.js";
import { inInt64, keyBytes, parseStoredInteger, passesQuota } from "./common.js";
import { StateBackendError, notAnIntegerError, quotaError, unavailableError } from "./errors.js";
import { StateReadCache } from "./read-cache.js";

/** Options of the SQLite state backend (`openStateBackend({ backend: "sqlite", ... })`). */
export interface SqliteStateOptions {
  /** The database file (created with its directory when missing), e.g. `<dataDir>/state.db`. */
  file: string;
  /** `"normal"` (default): durable against a process crash; `"full"`: also against power loss (an fsync per write). */
  synchronous?: "normal" | "full";
  /** How long a write waits for another process holding the database lock before it is `unavailable` (default 5000). */
  busyTimeoutMs?: number;
  /**
   * `"shared"` (default): other processes may open the file too (each write takes the lock, each read a WAL
   * snapshot). `"exclusive"`: this connection holds the file for as long as it is open, so reads take no file locks
   * (about 5x cheaper: docs/state.md); another process opening it is refused as `unavailable`. The registry uses
   * "exclusive": its file is its own.
   */
  locking?: "shared" | "exclusive";
  /**
   * With `locking: "exclusive"` only: the most bytes of recently read and written values kept in memory, so a get
   * of one of them reads no database (default 8 MiB; 0: none). Every write to the file passes through this
   * connection then, so the cache cannot go stale. Ignored with "shared".
   */
  readCacheBytes?: number;
}

// Bumped when the tables change; a newer file is refused rather than misread.
const SCHEMA_VERSION = 1;
const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  ns    TEXT NOT NULL,
  key   TEXT NOT NULL COLLATE BINARY,
  value BLOB NOT NULL,
  PRIMARY KEY (ns, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage (
  ns    TEXT PRIMARY KEY,
  bytes INTEGER NOT NULL,
  keys  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
  ns      TEXT PRIMARY KEY,
  data    BLOB NOT NULL,
  at_ms   INTEGER NOT NULL
) WITHOUT ROWID;
`;

type Db = BetterSqlite3.Database;
type Stmt = BetterSqlite3.Statement;

interface Statements {
  get: Stmt;
  len: Stmt;
  exists: Stmt;
  upsert: Stmt;
  del: Stmt;
  usage: Stmt;
  addUsage: Stmt;
  listFirst: Stmt;
  listAfter: Stmt;
  entries: Stmt;
  wipeKv: Stmt;
  wipeUsage: Stmt;
  getSnapshot: Stmt;
  putSnapshot: Stmt;
  delSnapshot: Stmt;
}

const ZERO: StateUsage = { bytes: 0, keys: 0 };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** Loads better-sqlite3 on first use, so a host that never keeps state never loads the addon. */
function loadDriver(): typeof BetterSqlite3 {
  try {
    return createRequire(import.meta.url)("better-sqlite3") as typeof BetterSqlite3;
  } catch (e) {
    throw unavailableError(undefined, `the SQLite state backend cannot load better-sqlite3 (${(e as Error).message}); run \`npm rebuild better-sqlite3\``, e);
  }
}

/**
 * Plugins' state in one SQLite file. Every method is synchronous; see the module comment for durability.
 *
 * @example
 *   const state = new SqliteStateBackend({ file: "/var/lib/plughost/state.db" });
 *   state.set("counter", "count", new TextEncoder().encode("1"), { bytes: 10 * 2 ** 20, keys: 10_000 });
 *   state.close();
 */
export class SqliteStateBackend implements StateBackend {
  readonly kind = "sqlite";
  /** The database file. */
  readonly file: string;
  #db: Db | undefined;
  #s: Statements;
  #set: (ns: string, key: string, oldLen: number | undefined, value: Uint8Array, quota: StateUsage) => void;
  #tx: <T>(fn: () => T) => T;
  // Only when the file is held exclusively; updated after each write commits.
  readonly #cache: StateReadCache | undefined;

  constructor(options: SqliteStateOptions) {
    this.file = path.resolve(options.file);
    const Driver = loadDriver();
    let db: Db;
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      db = new Driver(this.file, { timeout: options.busyTimeoutMs ?? 5000 });
    } catch (e) {
      throw unavailableError(undefined, `cannot open the state database ${this.file}: ${(e as Error).message}; check that its directory is writable`, e);
    }
    try {
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
      // Set before the first read: the lock is taken then and kept (with WAL, the WAL index then lives in memory).
      if (options.locking === "exclusive") db.pragma("locking_mode = EXCLUSIVE");
      const version = db.pragma("user_version", { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new Error(`it was written by a newer plughost (schema ${version}, this one knows ${SCHEMA_VERSION}); upgrade plughost or use another dataDir`);
      }
      db.exec(SCHEMA);
      if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
      // An exclusive lock is only taken by a write: take it now, so that a file another host holds fails here.
      if (options.locking === "exclusive") db.exec("BEGIN IMMEDIATE; COMMIT");
    } catch (e) {
      db.close();
      throw unavailableError(undefined, `cannot use the state database ${this.file}: ${(e as Error).message}`, e);
    }
    this.#db = db;
    this.#cache = options.locking === "exclusive" ? new StateReadCache(options.readCacheBytes ?? 8 * 1024 * 1024) : undefined;
    this.#s = {
      get: db.prepare("SELECT value FROM kv WHERE ns = ? AND key = ?").pluck(),
      len: db.prepare("SELECT length(value) FROM kv WHERE ns = ? AND key = ?").pluck(),
      exists: db.prepare("SELECT 1 FROM kv WHERE ns = ? AND key = ?").pluck(),
      upsert: db.prepare("INSERT INTO kv (ns, key, value) VALUES (?, ?, ?) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value"),
      del: db.prepare("DELETE FROM kv WHERE ns = ? AND key = ?"),
      usage: db.prepare("SELECT bytes, keys FROM usage WHERE ns = ?").raw(),
      addUsage: db.prepare(
        "INSERT INTO usage (ns, bytes, keys) VALUES (?, ?, ?) ON CONFLICT (ns) DO UPDATE SET bytes = bytes + excluded.bytes, keys = keys + excluded.keys",
      ),
      listFirst: db.prepare("SELECT key FROM kv WHERE ns = ? ORDER BY key LIMIT ?").pluck(),
      listAfter: db.prepare("SELECT key FROM kv WHERE ns = ? AND key > ? ORDER BY key LIMIT ?").pluck(),
      entries: db.prepare("SELECT key, value FROM kv WHERE ns = ? ORDER BY key").raw(),
      wipeKv: db.prepare("DELETE FROM kv WHERE ns = ?"),
      wipeUsage: db.prepare("DELETE FROM usage WHERE ns = ?"),
      getSnapshot: db.prepare("SELECT data FROM snapshots WHERE ns = ?").pluck(),
      putSnapshot: db.prepare("INSERT INTO snapshots (ns, data, at_ms) VALUES (?, ?, ?) ON CONFLICT (ns) DO UPDATE SET data = excluded.data, at_ms = excluded.at_ms"),
      delSnapshot: db.prepare("DELETE FROM snapshots WHERE ns = ?"),
    };
    // IMMEDIATE: take the write lock before reading usage, so two processes cannot both pass the quota check.
    const txn = db.transaction((fn: () => unknown) => fn());
    this.#tx = <T>(fn: () => T): T => txn.immediate(fn) as T;
    this.#set = (ns, key, oldLen, value, quota) => {
      const dBytes = oldLen === undefined ? keyBytes(key) + value.length : value.length - oldLen;
      const dKeys = oldLen === undefined ? 1 : 0;
      if (dBytes > 0 || dKeys > 0) {
        const before = this.#usage(ns);
        const after = { bytes: before.bytes + dBytes, keys: before.keys + dKeys };
        if (passesQuota(before, after, quota)) throw quotaError(ns, key, after, quota);
      }
      this.#s.upsert.run(ns, key, value);
      if (dBytes !== 0 || dKeys !== 0) this.#s.addUsage.run(ns, dBytes, dKeys);
    };
  }

  // Every call goes through here: a closed database or an SQLite failure is `unavailable`, never a bare Error.
  #run<T>(ns: string | undefined, fn: (s: Statements) => T): T {
    if (!this.#db) throw unavailableError(ns, `the state database ${this.file} is closed`);
    try {
      return fn(this.#s);
    } catch (e) {
      if (e instanceof StateBackendError) throw e;
      throw unavailableError(ns, `the state database ${this.file} failed: ${(e as Error).message}; check the disk, the file's permissions and other processes holding it`, e);
    }
  }

  #usage(ns: string): StateUsage {
    const row = this.#s.usage.get(ns) as [number, number] | undefined;
    return row ? { bytes: row[0], keys: row[1] } : ZERO;
  }

  get(ns: string, key: string): Uint8Array | undefined {
    const cache = this.#cache;
    if (cache !== undefined && this.#db) {
      const hit = cache.get(ns, key);
      if (hit !== undefined) return hit ?? undefined;
    }
    const v = this.#run(ns, (s) => s.get.get(ns, key) as Buffer | undefined);
    cache?.put(ns, key, v ?? null);
    return v;
  }

  set(ns: string, key: string, value: Uint8Array, quota: StateUsage): void {
    this.#run(ns, (s) => this.#tx(() => this.#set(ns, key, s.len.get(ns, key) as number | undefined, value, quota)));
    this.#cache?.put(ns, key, value);
  }

  delete(ns: string, key: string): boolean {
    const deleted = this.#run(ns, (s) =>
      this.#tx(() => {
        const len = s.len.get(ns, key) as number | undefined;
        if (len === undefined) return false;
        s.del.run(ns, key);
        s.addUsage.run(ns, -(keyBytes(key) + len), -1);
        return true;
      }),
    );
    this.#cache?.put(ns, key, null);
    return deleted;
  }

  exists(ns: string, key: string): boolean {
    return this.#run(ns, (s) => s.exists.get(ns, key) !== undefined);
  }

  list(ns: string, after: string | undefined, limit: number): StatePage {
    // One more than asked tells whether a next page exists without a second query.
    const n = Math.max(1, Math.floor(limit));
    return this.#run(ns, (s) => {
      const keys = (after === undefined ? s.listFirst.all(ns, n + 1) : s.listAfter.all(ns, after, n + 1)) as string[];
      if (keys.length <= n) return { keys };
      keys.length = n;
      return { keys, cursor: keys[n - 1]! };
    });
  }

  increment(ns: string, key: string, delta: bigint, quota: StateUsage): bigint {
    const total = this.#run(ns, (s) =>
      this.#tx(() => {
        const old = s.get.get(ns, key) as Buffer | undefined;
        let current = 0n;
        if (old !== undefined) {
          const n = parseStoredInteger(old);
          if (n === undefined) throw notAnIntegerError(ns, key, false);
          current = n;
        }
        const sum = current + delta;
        if (!inInt64(sum)) throw notAnIntegerError(ns, key, true);
        this.#set(ns, key, old?.length, Buffer.from(sum.toString(), "latin1"), quota);
        return sum;
      }),
    );
    this.#cache?.put(ns, key, Buffer.from(total.toString(), "latin1"));
    return total;
  }

  compareAndSwap(ns: string, key: string, expected: Uint8Array | undefined, value: Uint8Array, quota: StateUsage): boolean {
    const swapped = this.#run(ns, (s) =>
      this.#tx(() => {
        const old = s.get.get(ns, key) as Buffer | undefined;
        if (expected === undefined ? old !== undefined : old === undefined || !sameBytes(old, expected)) return false;
        this.#set(ns, key, old?.length, value, quota);
        return true;
      }),
    );
    if (swapped) this.#cache?.put(ns, key, value);
    return swapped;
  }

  usage(ns: string): StateUsage {
    return this.#run(ns, () => this.#usage(ns));
  }

  entries(ns: string): [string, Uint8Array][] {
    return this.#run(ns, (s) => s.entries.all(ns) as [string, Buffer][]);
  }

  wipe(ns: string): void {
    this.#run(ns, (s) =>
      this.#tx(() => {
        s.wipeKv.run(ns);
        s.wipeUsage.run(ns);
        s.delSnapshot.run(ns);
      }),
    );
    this.#cache?.dropNamespace(ns);
  }

  getSnapshot(ns: string): Uint8Array | undefined {
    return this.#run(ns, (s) => s.getSnapshot.get(ns) as Buffer | undefined);
  }

  putSnapshot(ns: string, data: Uint8Array): void {
    this.#run(ns, (s) => {
      if (data.length === 0) s.delSnapshot.run(ns);
      else s.putSnapshot.run(ns, data, Date.now());
    });
  }

  close(): void {
    const db = this.#db;
    this.#db = undefined;
    this.#cache?.clear();
    if (!db) return;
    try {
      db.close();
    } catch {
      // Closing releases the handle even when the final checkpoint fails; the WAL is replayed on the next open.
    }
  }
}
