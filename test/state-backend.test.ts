// The state backends (src/state/): one suite run against SQLite (a file in a temp dir) and against a real
// redis-server started here; then what only one of them has (SIGKILL durability; an unreachable or hung server).
// The Redis backend's worker and the child processes run the compiled dist/ (npm run build).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { StateBackend, StateUsage } from "../src/state/backend.js";
import { StateBackendError } from "../src/state/errors.js";
import { openStateBackend, type StateBackendOptions } from "../src/state/open.js";
import { StateReadCache } from "../src/state/read-cache.js";
import { SqliteStateBackend } from "../src/state/sqlite.js";
import { RedisStateBackend } from "../src/state/redis.js";
import { startRedisServer, type RedisServer } from "./helpers/redis-server.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const distOpen = pathToFileURL(path.join(root, "dist/state/open.js")).href;
const enc = new TextEncoder();
const b = (s: string): Uint8Array => enc.encode(s);
const text = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v).toString("utf8"));
const BIG: StateUsage = { bytes: 10 * 2 ** 20, keys: 10_000 };
const byteOrder = (x: string, y: string): number => Buffer.compare(Buffer.from(x), Buffer.from(y));

let tmp: string;
let redis: RedisServer;
beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "plughost-state-"));
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Expect `fn` to throw a StateBackendError with `reason`, and return it. */
function refused(fn: () => unknown, reason: StateBackendError["reason"]): StateBackendError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StateBackendError);
    expect((e as StateBackendError).reason).toBe(reason);
    return e as StateBackendError;
  }
  throw new Error(`expected a ${reason} error, nothing was thrown`);
}

/** Usage recomputed from the entries: key UTF-8 bytes + value bytes, and the count. */
function counted(state: StateBackend, ns: string): StateUsage {
  const entries = state.entries(ns);
  return { bytes: entries.reduce((n, [k, v]) => n + Buffer.byteLength(k) + v.length, 0), keys: entries.length };
}

/** Runs `count` increments of key "n" in namespace "race" from a child process; resolves when it exits 0. */
function childIncrements(options: StateBackendOptions, count: number): Promise<void> {
  const script = `
    const { openStateBackend } = await import(${JSON.stringify(distOpen)});
    const state = openStateBackend(${JSON.stringify(options)});
    for (let i = 0; i < ${count}; i++) state.increment("race", "n", 1n, { bytes: 1e9, keys: 1e6 });
    state.close();
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`child exited ${code}: ${err}`))));
  });
}

interface Kind {
  name: "sqlite" | "redis";
  options: () => StateBackendOptions;
}
let dbCount = 0;
const kinds: Kind[] = [
  { name: "sqlite", options: () => ({ backend: "sqlite", file: path.join(tmp, `suite-${++dbCount}`, "state.db") }) },
  { name: "redis", options: () => ({ backend: "redis", url: redis.url, timeoutMs: 1000 }) },
];

describe.each(kinds)("state backend: $name", ({ name, options }) => {
  let state: StateBackend;
  let opened: StateBackendOptions;
  let nsCount = 0;
  // A fresh namespace per test, so tests never see each other's keys on the shared server.
  const fresh = (): string => `${name}-t${++nsCount}`;
  beforeAll(() => {
    opened = options();
    state = openStateBackend(opened);
    expect(state.kind).toBe(name);
  });
  afterAll(() => state?.close());

  it("gets, sets, overwrites, deletes and tells whether a key exists", () => {
    const ns = fresh();
    expect(state.get(ns, "k")).toBeUndefined();
    expect(state.exists(ns, "k")).toBe(false);
    state.set(ns, "k", b("one"), BIG);
    expect(text(state.get(ns, "k"))).toBe("one");
    expect(state.exists(ns, "k")).toBe(true);
    state.set(ns, "k", b("two!"), BIG);
    expect(text(state.get(ns, "k"))).toBe("two!");
    // Binary values come back byte for byte, an empty one included (it exists, unlike a missing key).
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    state.set(ns, "bin", all, BIG);
    expect(Buffer.from(state.get(ns, "bin")!).equals(Buffer.from(all))).toBe(true);
    state.set(ns, "empty", new Uint8Array(0), BIG);
    expect(state.get(ns, "empty")?.length).toBe(0);
    expect(state.exists(ns, "empty")).toBe(true);
    // A view into a larger buffer stores only its own bytes.
    const pool = Buffer.from("xxxxVIEWxxxx");
    state.set(ns, "view", pool.subarray(4, 8), BIG);
    expect(text(state.get(ns, "view"))).toBe("VIEW");
    expect(state.delete(ns, "k")).toBe(true);
    expect(state.delete(ns, "k")).toBe(false);
    expect(state.get(ns, "k")).toBeUndefined();
    expect(state.exists(ns, "k")).toBe(false);
  });

  it("lists keys in byte order, page by page, with a cursor that is absent on the last page", () => {
    const ns = fresh();
    // UTF-16 order and byte order differ: U+FFFD (EF BF BD) sorts before an emoji (F0 9F …) in bytes only.
    const keys = ["b", "a", "B", "a:b", "é", "z", "~", "\uFFFD", "😀", "a.b", "0", "ab"];
    for (const k of keys) state.set(ns, k, b(k), BIG);
    const expected = [...keys].sort(byteOrder);
    expect(expected.indexOf("\uFFFD")).toBeLessThan(expected.indexOf("😀"));
    expect([...keys].sort()).not.toEqual(expected);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = state.list(ns, cursor, 5);
      expect(page.keys.length).toBeLessThanOrEqual(5);
      seen.push(...page.keys);
      cursor = page.cursor;
      if (cursor !== undefined) expect(cursor).toBe(page.keys.at(-1));
      pages++;
    } while (cursor !== undefined);
    expect(seen).toEqual(expected);
    expect(pages).toBe(3);
    // A page that ends exactly at the last key says so (no cursor, no empty page after it).
    const exact = state.list(ns, undefined, keys.length);
    expect(exact.keys).toEqual(expected);
    expect(exact.cursor).toBeUndefined();
    // A cursor need not be a stored key: listing resumes after it in byte order.
    expect(state.list(ns, "a;", 3).keys).toEqual(expected.filter((k) => byteOrder(k, "a;") > 0).slice(0, 3));
    expect(state.list(ns, "😀", 10)).toEqual({ keys: [] });
    expect(state.list(fresh(), undefined, 10)).toEqual({ keys: [] });
  });

  it("increments decimal text: missing is 0, the sum is stored as text, bad values and overflow are not-an-integer", () => {
    const ns = fresh();
    expect(state.increment(ns, "n", 5n, BIG)).toBe(5n);
    expect(text(state.get(ns, "n"))).toBe("5");
    expect(state.increment(ns, "n", -8n, BIG)).toBe(-3n);
    expect(text(state.get(ns, "n"))).toBe("-3");
    expect(state.increment(ns, "zero", 0n, BIG)).toBe(0n);
    expect(text(state.get(ns, "zero"))).toBe("0");
    state.set(ns, "t", b("41"), BIG);
    expect(state.increment(ns, "t", 1n, BIG)).toBe(42n);
    for (const bad of ["abc", "1.5", " 5", "5 ", "+5", "007", "-0", "", "0x10", "99999999999999999999"]) {
      state.set(ns, "bad", b(bad), BIG);
      const e = refused(() => state.increment(ns, "bad", 1n, BIG), "not-an-integer");
      expect(e.code).toBe("E_STATE_NOT_INTEGER");
      expect(e.plugin).toBe(ns);
      expect(text(state.get(ns, "bad"))).toBe(bad);
    }
    const max = 2n ** 63n - 1n;
    const min = -(2n ** 63n);
    state.set(ns, "edge", b(String(max - 1n)), BIG);
    expect(state.increment(ns, "edge", 1n, BIG)).toBe(max);
    expect(refused(() => state.increment(ns, "edge", 1n, BIG), "not-an-integer").message).toMatch(/overflow/);
    expect(text(state.get(ns, "edge"))).toBe(String(max));
    expect(state.increment(ns, "low", min, BIG)).toBe(min);
    refused(() => state.increment(ns, "low", -1n, BIG), "not-an-integer");
    expect(text(state.get(ns, "low"))).toBe(String(min));
    expect(state.usage(ns)).toEqual(counted(state, ns));
  });

  it("compares and swaps: expecting missing, expecting a value, and a mismatch that writes nothing", () => {
    const ns = fresh();
    expect(state.compareAndSwap(ns, "k", undefined, b("first"), BIG)).toBe(true);
    expect(text(state.get(ns, "k"))).toBe("first");
    // Expecting missing on a present key: refused.
    expect(state.compareAndSwap(ns, "k", undefined, b("again"), BIG)).toBe(false);
    expect(text(state.get(ns, "k"))).toBe("first");
    expect(state.compareAndSwap(ns, "k", b("first"), b("second"), BIG)).toBe(true);
    expect(text(state.get(ns, "k"))).toBe("second");
    expect(state.compareAndSwap(ns, "k", b("first"), b("third"), BIG)).toBe(false);
    expect(state.compareAndSwap(ns, "k", b("secon"), b("third"), BIG)).toBe(false);
    expect(text(state.get(ns, "k"))).toBe("second");
    // Expecting a value of a missing key: refused and nothing created; an empty value is not "missing".
    expect(state.compareAndSwap(ns, "absent", b(""), b("x"), BIG)).toBe(false);
    expect(state.exists(ns, "absent")).toBe(false);
    state.set(ns, "e", new Uint8Array(0), BIG);
    expect(state.compareAndSwap(ns, "e", undefined, b("x"), BIG)).toBe(false);
    expect(state.compareAndSwap(ns, "e", new Uint8Array(0), b("x"), BIG)).toBe(true);
    expect(text(state.get(ns, "e"))).toBe("x");
    expect(state.usage(ns)).toEqual(counted(state, ns));
  });

  it("refuses a write past the byte quota atomically: quota-exceeded, nothing written, usage unchanged", () => {
    const ns = fresh();
    const quota = { bytes: 20, keys: 100 };
    state.set(ns, "k", b("x".repeat(19)), quota); // 1 + 19 = 20: exactly the quota
    expect(state.usage(ns)).toEqual({ bytes: 20, keys: 1 });
    const e = refused(() => state.set(ns, "m", b("y"), quota), "quota-exceeded");
    expect(e.code).toBe("E_STATE_QUOTA");
    expect(e.plugin).toBe(ns);
    expect(e.message).toMatch(/22 bytes would pass the quota of 20 bytes/);
    expect(state.exists(ns, "m")).toBe(false);
    refused(() => state.set(ns, "k", b("x".repeat(20)), quota), "quota-exceeded");
    expect(text(state.get(ns, "k"))).toBe("x".repeat(19));
    refused(() => state.increment(ns, "n", 1n, quota), "quota-exceeded");
    expect(state.exists(ns, "n")).toBe(false);
    refused(() => state.compareAndSwap(ns, "c", undefined, b("z"), quota), "quota-exceeded");
    expect(state.exists(ns, "c")).toBe(false);
    expect(state.usage(ns)).toEqual({ bytes: 20, keys: 1 });
    // Shrinking is always allowed, and frees room for the next write.
    state.set(ns, "k", b("x"), quota);
    state.set(ns, "m", b("y"), quota);
    expect(state.usage(ns)).toEqual({ bytes: 4, keys: 2 });
    // An increment that lengthens its text past the quota is refused and the old value stays.
    const tight = { bytes: 6, keys: 100 };
    state.set(ns, "n", b("9"), { bytes: 6, keys: 100 });
    refused(() => state.increment(ns, "n", 1n, tight), "quota-exceeded");
    expect(text(state.get(ns, "n"))).toBe("9");
    expect(state.usage(ns)).toEqual({ bytes: 6, keys: 3 });
    expect(state.usage(ns)).toEqual(counted(state, ns));
  });

  it("refuses a new key past the key quota, but lets existing keys be overwritten and a lowered quota be shrunk to", () => {
    const ns = fresh();
    const quota = { bytes: 1_000_000, keys: 2 };
    state.set(ns, "a", b("1"), quota);
    state.set(ns, "b", b("2"), quota);
    const e = refused(() => state.set(ns, "c", b("3"), quota), "quota-exceeded");
    expect(e.message).toMatch(/3 keys would pass the quota of 2 keys/);
    expect(state.exists(ns, "c")).toBe(false);
    refused(() => state.increment(ns, "c", 1n, quota), "quota-exceeded");
    refused(() => state.compareAndSwap(ns, "c", undefined, b("3"), quota), "quota-exceeded");
    expect(state.exists(ns, "c")).toBe(false);
    state.set(ns, "a", b("overwritten"), quota);
    expect(state.compareAndSwap(ns, "b", b("2"), b("22"), quota)).toBe(true);
    expect(state.usage(ns)).toEqual({ bytes: 2 + 11 + 2, keys: 2 });
    // Over a quota lowered to 1 key and 5 bytes: a shrinking overwrite and a delete still work; growth does not.
    const lowered = { bytes: 5, keys: 1 };
    state.set(ns, "a", b("o"), lowered);
    refused(() => state.set(ns, "a", b("oo"), { bytes: 3, keys: 1 }), "quota-exceeded");
    expect(state.delete(ns, "b")).toBe(true);
    expect(state.usage(ns)).toEqual({ bytes: 2, keys: 1 });
  });

  it("keeps usage exact through overwrites, deletes and multi-byte keys", () => {
    const ns = fresh();
    state.set(ns, "é", b("12345"), BIG); // 2 + 5
    state.set(ns, "😀", b("1"), BIG); // 4 + 1
    expect(state.usage(ns)).toEqual({ bytes: 12, keys: 2 });
    state.set(ns, "é", b("1"), BIG); // 2 + 1
    expect(state.usage(ns)).toEqual({ bytes: 8, keys: 2 });
    state.set(ns, "é", b("1234567890"), BIG);
    expect(state.usage(ns)).toEqual({ bytes: 17, keys: 2 });
    state.delete(ns, "😀");
    expect(state.usage(ns)).toEqual({ bytes: 12, keys: 1 });
    state.delete(ns, "😀");
    expect(state.usage(ns)).toEqual({ bytes: 12, keys: 1 });
    state.increment(ns, "n", 100n, BIG); // 1 + 3
    expect(state.compareAndSwap(ns, "n", b("100"), b("1"), BIG)).toBe(true);
    expect(state.usage(ns)).toEqual({ bytes: 14, keys: 2 });
    expect(state.usage(ns)).toEqual(counted(state, ns));
    expect(state.usage(fresh())).toEqual({ bytes: 0, keys: 0 });
  });

  it("isolates namespaces, including names that try to forge another's prefix", () => {
    const [x, y] = [fresh(), fresh()];
    state.set(x, "k", b("in x"), BIG);
    state.set(y, "k", b("in y"), BIG);
    expect(text(state.get(x, "k"))).toBe("in x");
    expect(text(state.get(y, "k"))).toBe("in y");
    state.delete(x, "k");
    expect(text(state.get(y, "k"))).toBe("in y");
    // ns "a" + key "b:c" and ns "a:b" + key "c" would share a naive "prefix:ns:key" string.
    const a = `${name}-a`;
    const ab = `${name}-a:b`;
    const esc = `${name}-a%3Ab`;
    for (const n of [a, ab, esc]) state.wipe(n);
    state.set(a, "b:c", b("a/b:c"), BIG);
    state.set(ab, "c", b("a:b/c"), BIG);
    state.set(esc, "c", b("a%3Ab/c"), BIG);
    expect(text(state.get(a, "b:c"))).toBe("a/b:c");
    expect(text(state.get(ab, "c"))).toBe("a:b/c");
    expect(text(state.get(esc, "c"))).toBe("a%3Ab/c");
    expect(state.list(a, undefined, 10).keys).toEqual(["b:c"]);
    expect(state.list(ab, undefined, 10).keys).toEqual(["c"]);
    expect(state.usage(a)).toEqual({ bytes: 3 + 5, keys: 1 });
    expect(state.usage(ab)).toEqual({ bytes: 1 + 5, keys: 1 });
    // Keys named like the backend's own bookkeeping are plain keys.
    const meta = fresh();
    for (const k of ["keys", "usage", "snapshot", "v:x", "v:"]) state.set(meta, k, b("7"), BIG);
    expect(state.usage(meta)).toEqual(counted(state, meta));
    expect(state.getSnapshot(meta)).toBeUndefined();
    state.wipe(ab);
    expect(state.get(ab, "c")).toBeUndefined();
    expect(text(state.get(a, "b:c"))).toBe("a/b:c");
    expect(text(state.get(esc, "c"))).toBe("a%3Ab/c");
  });

  it("wipes a namespace: its keys, usage and snapshot, and nothing of any other", () => {
    const [ns, other] = [fresh(), fresh()];
    for (let i = 0; i < 1200; i++) state.set(ns, `k${i}`, b(String(i)), BIG);
    state.putSnapshot(ns, b("snap"));
    state.set(other, "k1", b("stays"), BIG);
    state.putSnapshot(other, b("other snap"));
    state.wipe(ns);
    expect(state.usage(ns)).toEqual({ bytes: 0, keys: 0 });
    expect(state.list(ns, undefined, 10)).toEqual({ keys: [] });
    expect(state.get(ns, "k1")).toBeUndefined();
    expect(state.getSnapshot(ns)).toBeUndefined();
    expect(text(state.get(other, "k1"))).toBe("stays");
    expect(text(state.getSnapshot(other))).toBe("other snap");
    // A wiped namespace starts again from nothing.
    state.set(ns, "k1", b("new"), { bytes: 10, keys: 1 });
    expect(state.usage(ns)).toEqual({ bytes: 5, keys: 1 });
  });

  it("keeps snapshots beside the keys, outside the quota; an empty one removes it", () => {
    const ns = fresh();
    state.set(ns, "k", b("v"), { bytes: 2, keys: 1 });
    const big = Uint8Array.from({ length: 100_000 }, (_, i) => i % 251);
    state.putSnapshot(ns, big);
    expect(Buffer.from(state.getSnapshot(ns)!).equals(Buffer.from(big))).toBe(true);
    expect(state.usage(ns)).toEqual({ bytes: 2, keys: 1 });
    expect(state.list(ns, undefined, 10).keys).toEqual(["k"]);
    expect(state.entries(ns).map(([k]) => k)).toEqual(["k"]);
    state.putSnapshot(ns, b("newer"));
    expect(text(state.getSnapshot(ns))).toBe("newer");
    state.putSnapshot(ns, new Uint8Array(0));
    expect(state.getSnapshot(ns)).toBeUndefined();
  });

  it("keeps increments exact when two processes race on one key (the read-modify-write is atomic)", async () => {
    const shared = opened;
    state.wipe("race");
    await Promise.all([childIncrements(shared, 150), childIncrements(shared, 150)]);
    expect(text(state.get("race", "n"))).toBe("300");
    expect(state.usage("race")).toEqual({ bytes: 4, keys: 1 });
  });

  it("is seen by a second backend on the same store, and close is idempotent; a closed backend is unavailable", () => {
    const ns = fresh();
    const second = openStateBackend(opened);
    state.set(ns, "shared", b("from the first"), BIG);
    expect(text(second.get(ns, "shared"))).toBe("from the first");
    second.close();
    second.close();
    const e = refused(() => second.get(ns, "shared"), "unavailable");
    expect(e.code).toBe("E_STATE_UNAVAILABLE");
    expect(e.message).toMatch(/closed/);
    refused(() => second.set(ns, "x", b("y"), BIG), "unavailable");
    expect(text(state.get(ns, "shared"))).toBe("from the first");
  });
});

describe("SQLite state backend", () => {
  it("keeps everything a returned write wrote when the process is killed with SIGKILL", async () => {
    const file = path.join(tmp, "durable", "state.db");
    const script = `
      const { openStateBackend } = await import(${JSON.stringify(distOpen)});
      const state = openStateBackend({ backend: "sqlite", file: ${JSON.stringify(file)} });
      for (let i = 0; ; i++) {
        state.set("p", "k" + i, new TextEncoder().encode("value " + i), { bytes: 1e9, keys: 1e6 });
        state.increment("p", "count", 1n, { bytes: 1e9, keys: 1e6 });
        process.stdout.write(i + "\\n");
      }
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let acked = -1;
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    await new Promise<void>((resolve, reject) => {
      let buf = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        buf += d;
        const lines = buf.split("\n");
        buf = lines.pop()!;
        if (lines.length) acked = Number(lines.at(-1));
        if (acked >= 300 && child.signalCode === null) child.kill("SIGKILL");
      });
      child.once("exit", (code, signal) => (signal === "SIGKILL" ? resolve() : reject(new Error(`child exited ${code}: ${err}`))));
    });
    expect(acked).toBeGreaterThanOrEqual(300);
    const state = new SqliteStateBackend({ file });
    try {
      for (let i = 0; i <= acked; i++) expect(text(state.get("p", `k${i}`))).toBe(`value ${i}`);
      // The counter went up once per acknowledged round, and maybe once more for a round cut short.
      const count = Number(text(state.get("p", "count")));
      expect(count).toBeGreaterThanOrEqual(acked + 1);
      expect(count).toBeLessThanOrEqual(acked + 2);
      // The usage row was committed with each write: it matches the keys exactly.
      expect(state.usage("p")).toEqual(counted(state, "p"));
    } finally {
      state.close();
    }
  });

  it("keeps data across close and reopen, with synchronous FULL too", () => {
    const file = path.join(tmp, "reopen", "state.db");
    const first = new SqliteStateBackend({ file, synchronous: "full" });
    first.set("p", "k", b("kept"), BIG);
    first.putSnapshot("p", b("snap"));
    first.close();
    const second = new SqliteStateBackend({ file });
    expect(text(second.get("p", "k"))).toBe("kept");
    expect(text(second.getSnapshot("p"))).toBe("snap");
    expect(second.usage("p")).toEqual({ bytes: 5, keys: 1 });
    second.close();
  });

  it("is unavailable, with the file named, when the database cannot be opened", () => {
    const dir = path.join(tmp, "a-directory");
    mkdirSync(dir, { recursive: true });
    const e = refused(() => new SqliteStateBackend({ file: dir }), "unavailable");
    expect(e.message).toContain(dir);
    const junk = path.join(tmp, "junk.db");
    writeFileSync(junk, "this is not a database, just text long enough to have a header".repeat(20));
    expect(refused(() => new SqliteStateBackend({ file: junk }), "unavailable").message).toContain(junk);
  });
});

describe("Redis state backend", () => {
  it("cannot be opened against a port where nothing listens: unavailable, quickly", () => {
    const t0 = performance.now();
    const e = refused(() => new RedisStateBackend({ url: "redis://127.0.0.1:1", timeoutMs: 500 }), "unavailable");
    expect(e.message).toMatch(/cannot reach the Redis state server redis:\/\/127\.0\.0\.1:1/);
    expect(performance.now() - t0).toBeLessThan(6000);
  });

  it("masks a password in its URL and messages", async () => {
    const server = await startRedisServer();
    try {
      const state = new RedisStateBackend({ url: `redis://default:hunter2@127.0.0.1:${server.port}`, timeoutMs: 1000 });
      expect(state.url).not.toContain("hunter2");
      state.close();
    } catch (e) {
      // redis-server without requirepass refuses AUTH with a password: the error must not leak it either.
      expect(e).toBeInstanceOf(StateBackendError);
      expect((e as Error).message).not.toContain("hunter2");
    } finally {
      await server.close();
    }
  });

  it("answers unavailable within its timeout when the server stops or hangs, never hangs itself, and recovers", async () => {
    const server = await startRedisServer();
    const state = new RedisStateBackend({ url: server.url, timeoutMs: 300 });
    try {
      state.set("p", "k", b("v"), BIG);
      // A hung server (SIGSTOP): the command times out.
      process.kill(server.pid!, "SIGSTOP");
      let t0 = performance.now();
      refused(() => state.get("p", "k"), "unavailable");
      expect(performance.now() - t0).toBeLessThan(300 + 1000);
      process.kill(server.pid!, "SIGCONT");
      // A stopped server: refused at once or after the timeout, never later.
      await server.stop();
      for (let i = 0; i < 5; i++) {
        t0 = performance.now();
        const e = refused(() => state.set("p", "k", b("w"), BIG), "unavailable");
        expect(e.code).toBe("E_STATE_UNAVAILABLE");
        expect(e.plugin).toBe("p");
        expect(performance.now() - t0).toBeLessThan(300 + 1000);
        await new Promise((r) => setTimeout(r, 50));
      }
      // Back on the same port (empty: no persistence): the client reconnects by itself.
      await server.restart();
      let back = false;
      for (let i = 0; i < 100 && !back; i++) {
        await new Promise((r) => setTimeout(r, 50));
        try {
          state.set("p", "k", b("again"), BIG);
          back = true;
        } catch (e) {
          expect((e as StateBackendError).reason).toBe("unavailable");
        }
      }
      expect(back).toBe(true);
      expect(text(state.get("p", "k"))).toBe("again");
    } finally {
      try {
        process.kill(server.pid!, "SIGCONT");
      } catch {
        // already gone
      }
      state.close();
      await server.close();
    }
  });
});

describe("state backend: sqlite held exclusively, with its read cache", () => {
  const open = (extra: { readCacheBytes?: number } = {}): { state: StateBackend; file: string } => {
    const file = path.join(tmp, `exclusive-${++dbCount}`, "state.db");
    return { state: openStateBackend({ backend: "sqlite", file, locking: "exclusive", ...extra }), file };
  };

  it("answers what the database holds after every kind of write, and hands out copies", () => {
    const { state, file } = open();
    try {
      expect(state.get("p", "k")).toBeUndefined(); // a cached miss …
      state.set("p", "k", b("one"), BIG); // … replaced by the write
      const got = state.get("p", "k")!;
      got[0] = 0x78; // changing what get returned changes nothing stored
      expect(text(state.get("p", "k"))).toBe("one");
      const input = b("two");
      state.set("p", "k", input, BIG);
      input[0] = 0x78; // nor does changing the caller's buffer after the set
      expect(text(state.get("p", "k"))).toBe("two");
      expect(state.increment("p", "n", 5n, BIG)).toBe(5n);
      expect(text(state.get("p", "n"))).toBe("5");
      expect(state.compareAndSwap("p", "k", b("nope"), b("x"), BIG)).toBe(false);
      expect(text(state.get("p", "k"))).toBe("two");
      expect(state.compareAndSwap("p", "k", b("two"), b("three"), BIG)).toBe(true);
      expect(text(state.get("p", "k"))).toBe("three");
      // A write the quota refuses leaves the cached value as the database has it.
      refused(() => state.set("p", "k", new Uint8Array(100), { bytes: 20, keys: 10 }), "quota-exceeded");
      expect(text(state.get("p", "k"))).toBe("three");
      expect(state.delete("p", "k")).toBe(true);
      expect(state.get("p", "k")).toBeUndefined();
      state.set("q", "k", b("other"), BIG);
      state.wipe("p");
      expect(state.get("p", "n")).toBeUndefined();
      expect(text(state.get("q", "k"))).toBe("other");
    } finally {
      state.close();
    }
    // What the cache answered is what the file holds.
    const again = openStateBackend({ backend: "sqlite", file });
    try {
      expect(again.get("p", "n")).toBeUndefined();
      expect(text(again.get("q", "k"))).toBe("other");
    } finally {
      again.close();
    }
  });

  it("stays within its byte bound and still answers evicted keys from the database", () => {
    const { state } = open({ readCacheBytes: 4096 });
    try {
      for (let i = 0; i < 200; i++) state.set("p", `key-${i}`, new Uint8Array(100).fill(i), BIG);
      for (let i = 0; i < 200; i++) expect(state.get("p", `key-${i}`)![0]).toBe(i);
    } finally {
      state.close();
    }
  });

  it("the cache itself holds at most its bound, evicts the oldest first, and forgets a wiped namespace", () => {
    const cache = new StateReadCache(4096);
    for (let i = 0; i < 200; i++) cache.put("p", `key-${i}`, new Uint8Array(100).fill(i));
    expect(cache.bytes).toBeLessThanOrEqual(4096);
    expect(cache.get("p", "key-0")).toBeUndefined(); // evicted: unknown, not "absent"
    expect(cache.get("p", "key-199")![0]).toBe(199);
    cache.put("q", "gone", null);
    expect(cache.get("q", "gone")).toBeNull(); // a known miss
    cache.dropNamespace("p");
    expect(cache.get("p", "key-199")).toBeUndefined();
    expect(cache.get("q", "gone")).toBeNull();
    cache.put("p", "huge", new Uint8Array(8192)); // larger than the bound: not kept
    expect(cache.get("p", "huge")).toBeUndefined();
  });

  it("refuses a second connection to the held file as unavailable", () => {
    const { state, file } = open();
    try {
      state.set("p", "k", b("v"), BIG);
      expect(() => openStateBackend({ backend: "sqlite", file, busyTimeoutMs: 50 })).toThrow(/locked/);
    } finally {
      state.close();
    }
  });
});
