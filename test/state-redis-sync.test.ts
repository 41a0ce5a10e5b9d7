// The Redis state backend's synchronous transport (src/state/redis-sync.ts over native/redis-sync, hiredis on the
// caller's thread): that it is the one in use where built, its failure modes (a stopped, a hung, a restarted server),
// AUTH and SELECT, binary values, error replies, scripts the server lost; and the fallback to the worker transport.
// The suite in state-backend.test.ts runs the shared semantics against whichever transport is in use.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import type { StateUsage } from "../src/state/backend.js";
import { StateBackendError } from "../src/state/errors.js";
import { RedisStateBackend } from "../src/state/redis.js";
import { startRedisServer, type RedisServer } from "./helpers/redis-server.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const addonBuilt = existsSync(path.join(root, "native/redis-sync/build/Release/plughost_redis_sync.node"));
const BIG: StateUsage = { bytes: 10 * 2 ** 20, keys: 10_000 };
const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v).toString("utf8"));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function refused(fn: () => unknown): StateBackendError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StateBackendError);
    expect((e as StateBackendError).reason).toBe("unavailable");
    return e as StateBackendError;
  }
  throw new Error("expected an unavailable error, nothing was thrown");
}

let server: RedisServer;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server?.close();
});

describe("Redis state backend: the synchronous transport", () => {
  it("is built here (scripts/setup/41-redis-sync.mjs builds it; setup installs libhiredis-dev)", () => {
    expect(addonBuilt, "native/redis-sync is not built: run node scripts/setup.mjs 41-redis-sync").toBe(true);
  });

  it("is the transport in use where the addon is built; the worker one on request", () => {
    const sync = new RedisStateBackend({ url: server.url, timeoutMs: 1000 });
    const worker = new RedisStateBackend({ url: server.url, timeoutMs: 1000 }, "worker");
    try {
      expect(sync.transport).toBe("sync");
      expect(worker.transport).toBe("worker");
      // The same keys through either: one layout.
      sync.set("both", "k", b("from sync"), BIG);
      expect(text(worker.get("both", "k"))).toBe("from sync");
      worker.set("both", "k", b("from worker"), BIG);
      expect(text(sync.get("both", "k"))).toBe("from worker");
      expect(sync.usage("both")).toEqual(worker.usage("both"));
    } finally {
      sync.close();
      worker.close();
    }
  });

  it("is unavailable within its timeout when the server hangs (SIGSTOP) or stops, and reconnects after a restart", async () => {
    const own = await startRedisServer();
    const state = new RedisStateBackend({ url: own.url, timeoutMs: 250 });
    try {
      expect(state.transport).toBe("sync");
      state.set("p", "k", b("v"), BIG);
      process.kill(own.pid!, "SIGSTOP");
      try {
        for (const call of [() => state.get("p", "k"), () => state.set("p", "k", b("w"), BIG), () => state.increment("p", "n", 1n, BIG)]) {
          const t0 = performance.now();
          const e = refused(call);
          const ms = performance.now() - t0;
          expect(e.message).toMatch(/did not answer (get|set|increment) in 250 ms/);
          expect(e.plugin).toBe("p");
          // The read times out; a reconnect (the connect is accepted by the kernel) times out its AUTH-free read too.
          expect(ms).toBeGreaterThanOrEqual(200);
          expect(ms).toBeLessThan(250 * 2 + 200);
        }
      } finally {
        process.kill(own.pid!, "SIGCONT");
      }
      await own.stop();
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const e = refused(() => state.get("p", "k"));
        expect(e.message).toContain(own.url);
        expect(performance.now() - t0).toBeLessThan(250);
      }
      await own.restart();
      // The first call after the restart: nothing is lost to the dead connection (it is replaced before sending).
      expect(state.get("p", "k")).toBeUndefined(); // empty: no persistence
      state.set("p", "k", b("again"), BIG);
      expect(text(state.get("p", "k"))).toBe("again");
      // A restart while connected and idle: the same.
      await own.restart();
      expect(state.exists("p", "k")).toBe(false);
    } finally {
      try {
        process.kill(own.pid!, "SIGCONT");
      } catch {
        // already gone
      }
      state.close();
      await own.close();
    }
  });

  it("authenticates with the URL's password (with or without a user) and selects the URL's database", async () => {
    const secured = await startRedisServer({ password: "s3cret:pw" });
    const url = (auth: string, db = ""): string => `redis://${auth}@127.0.0.1:${secured.port}${db}`;
    try {
      for (const auth of [":s3cret%3Apw", "default:s3cret%3Apw"]) {
        const state = new RedisStateBackend({ url: url(auth, "/3"), timeoutMs: 1000 });
        expect(state.transport).toBe("sync");
        expect(state.url).not.toContain("s3cret");
        state.set("authed", "k", b(auth), BIG);
        expect(text(state.get("authed", "k"))).toBe(auth);
        state.close();
      }
      const raw = new Redis({ port: secured.port, host: "127.0.0.1", password: "s3cret:pw", db: 3, lazyConnect: true });
      await raw.connect();
      expect(await raw.get("plughost:authed:v:k")).toBe("default:s3cret%3Apw");
      await raw.select(0);
      expect(await raw.exists("plughost:authed:v:k")).toBe(0);
      raw.disconnect();
      // A wrong password, and none: unavailable, and the password never in the message.
      const wrong = refused(() => new RedisStateBackend({ url: url(":nope-hunter2"), timeoutMs: 1000 }));
      expect(wrong.message).toMatch(/AUTH refused: WRONGPASS/);
      expect(wrong.message).not.toContain("hunter2");
      const none = new RedisStateBackend({ url: secured.url, timeoutMs: 1000 });
      expect(refused(() => none.get("p", "k")).message).toMatch(/NOAUTH/);
      none.close();
      // A database that does not exist: the server's -ERR, at open.
      expect(refused(() => new RedisStateBackend({ url: url(":s3cret%3Apw", "/99"), timeoutMs: 1000 })).message).toMatch(/SELECT refused: ERR DB index is out of range/);
    } finally {
      await secured.close();
    }
  });

  it("stores binary values and keys with NUL bytes byte for byte", () => {
    const state = new RedisStateBackend({ url: server.url, timeoutMs: 1000 });
    try {
      const value = Uint8Array.from([0, 1, 0, 0, 255, 0, 13, 10, 0]);
      state.set("bin", "a\u0000b", value, BIG);
      state.set("bin", "a", b("plain"), BIG);
      const got = state.get("bin", "a\u0000b")!;
      expect(got).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(got).equals(Buffer.from(value))).toBe(true);
      expect(text(state.get("bin", "a"))).toBe("plain");
      expect(state.list("bin", undefined, 10).keys).toEqual(["a", "a\u0000b"]);
      expect(state.usage("bin")).toEqual({ bytes: 3 + value.length + 1 + 5, keys: 2 });
      expect(state.compareAndSwap("bin", "a\u0000b", value, Uint8Array.of(0), BIG)).toBe(true);
      expect([...state.entries("bin")].map(([k, v]) => [k, [...v]])).toEqual([["a", [...b("plain")]], ["a\u0000b", [0]]]);
      // A view into a larger buffer sends only its own bytes.
      const big = Uint8Array.from([9, 0, 7, 0, 9]);
      state.putSnapshot("bin", big.subarray(1, 4));
      expect([...state.getSnapshot("bin")!]).toEqual([0, 7, 0]);
    } finally {
      state.close();
    }
  });

  it("answers an error reply as unavailable with the server's message, and carries on", async () => {
    const state = new RedisStateBackend({ url: server.url, timeoutMs: 1000 });
    const raw = new Redis({ port: server.port, host: "127.0.0.1", lazyConnect: true });
    await raw.connect();
    try {
      await raw.rpush("plughost:err:snapshot", "x"); // a list where a string belongs
      await raw.set("plughost:err:usage", "not a hash");
      const e = refused(() => state.getSnapshot("err"));
      expect(e.message).toMatch(/failed getSnapshot: WRONGTYPE Operation against a key holding the wrong kind of value/);
      expect(e.plugin).toBe("err");
      expect(refused(() => state.set("err", "k", b("v"), BIG)).message).toMatch(/failed set: .*WRONGTYPE/);
      // The connection is still good.
      state.set("fine", "k", b("v"), BIG);
      expect(text(state.get("fine", "k"))).toBe("v");
    } finally {
      raw.disconnect();
      state.close();
    }
  });

  it("loads its scripts again when the server lost them (SCRIPT FLUSH)", async () => {
    const state = new RedisStateBackend({ url: server.url, timeoutMs: 1000 });
    const raw = new Redis({ port: server.port, host: "127.0.0.1", lazyConnect: true });
    await raw.connect();
    try {
      state.set("flush", "k", b("1"), BIG);
      await raw.script("FLUSH");
      expect(state.increment("flush", "k", 41n, BIG)).toBe(42n);
      await raw.script("FLUSH");
      expect(state.delete("flush", "k")).toBe(true);
      expect(state.usage("flush")).toEqual({ bytes: 0, keys: 0 });
    } finally {
      raw.disconnect();
      state.close();
    }
  });
});

describe("Redis state backend: the fallback to the worker transport", () => {
  const distRedis = pathToFileURL(path.join(root, "dist/state/redis.js")).href;
  const child = (env: Record<string, string>): { stdout: string; stderr: string; status: number | null } => {
    const script = `
      const { RedisStateBackend } = await import(${JSON.stringify(distRedis)});
      const state = new RedisStateBackend({ url: ${JSON.stringify(server.url)}, timeoutMs: 1000 });
      state.set("fallback", "k", new Uint8Array([1, 0, 2]), { bytes: 1e6, keys: 100 });
      const got = [...state.get("fallback", "k")];
      state.close();
      process.stdout.write(JSON.stringify({ transport: state.transport, got }));
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 20_000 });
    return { stdout: r.stdout, stderr: r.stderr, status: r.status };
  };

  it("uses the worker transport, silently, when the addon is turned off or cannot load", () => {
    for (const value of ["off", path.join(root, "no-such-dir", "plughost_redis_sync.node"), path.join(root, "package.json")]) {
      const r = child({ PLUGHOST_REDIS_SYNC_ADDON: value });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({ transport: "worker", got: [1, 0, 2] });
    }
  });

  it("uses the synchronous transport in a child process too", () => {
    const r = child({});
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ transport: "sync", got: [1, 0, 2] });
  });
});
