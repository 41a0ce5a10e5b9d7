/**
 * The state-* and context-* host functions and the optional config-watch / handoff exports on the v8 engine, in
 * process and in a worker, through the engine's boundary (HostCalls). The state fixture is the shared C component
 * test/fixtures/c/state-counter; the host side is a HostCalls object backed by a sorted Map (the engine sees only
 * HostCalls, so this is the whole of what it talks to). Hostile guests (test/fixtures/c/state-hostile) end in typed
 * errors and the host carries on.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { AbiViolation, FuelExhausted, PlughostError } from "../src/contract/errors.js";
import { CONTEXT_ERRORS, STATE_ERRORS, type ContextError, type StateError } from "../src/contract/abi.js";
import type { ContextOutcome, EngineInstance, HostCalls, Isolation, KeyPage, Limits, StateOutcome } from "../src/engines/engine.js";
import { v8Engine } from "../src/engines/v8/engine.js";
import { createHostImports, STATE_CALL_COST, type ImportContext } from "../src/engines/v8/host-imports.js";
import { GuestMemory } from "../src/engines/v8/guest-memory.js";
import { SqliteStateBackend } from "../src/state/sqlite.js";
import { pluginStateCalls } from "../src/state/store.js";
import { dec, enc, pluginDir, silentHost } from "./helpers/plugins.js";

const COUNTER = "test/fixtures/c/state-counter";
const HOSTILE = "test/fixtures/c/state-hostile";
const PLAIN = "test/fixtures/c/probe";

/** A HostCalls with a state store in a sorted Map and a context store, recording what reached it. */
function mapHost(options: { fail?: StateError; contextFail?: ContextError; omit?: boolean } = {}) {
  const store = new Map<string, Uint8Array>();
  const context = new Map<string, string>([["host.name", JSON.stringify("plughost-test")]]);
  const calls: string[] = [];
  const state = <T>(name: string, run: () => T): StateOutcome<T> => {
    calls.push(name);
    return options.fail ? { ok: false, error: options.fail } : { ok: true, value: run() };
  };
  const ctx = <T>(name: string, run: () => ContextOutcome<T>): ContextOutcome<T> => {
    calls.push(name);
    return options.contextFail ? { ok: false, error: options.contextFail } : run();
  };
  const same = (a: Uint8Array | undefined, b: Uint8Array | undefined) =>
    a === undefined || b === undefined ? a === b : a.length === b.length && a.every((x, i) => x === b[i]);
  const base: HostCalls = silentHost();
  if (options.omit) return { host: base, store, context, calls };
  const host: HostCalls = {
    ...base,
    stateGet: (key) => state("get", () => store.get(key)),
    stateSet: (key, value) => state("set", () => void store.set(key, value.slice())),
    stateDelete: (key) => state("delete", () => store.delete(key)),
    stateExists: (key) => state("exists", () => store.has(key)),
    stateListKeys: (cursor, limit) =>
      state("list", (): KeyPage => {
        const keys = [...store.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        const from = cursor === undefined ? keys : keys.filter((k) => Buffer.compare(Buffer.from(k), Buffer.from(cursor)) > 0);
        const page = from.slice(0, Math.min(limit || 100, 1000));
        return page.length < from.length ? { keys: page, cursor: page[page.length - 1]! } : { keys: page };
      }),
    stateIncrement: (key, delta) => {
      calls.push("increment");
      if (options.fail) return { ok: false, error: options.fail };
      const old = store.get(key);
      const text = old === undefined ? "0" : dec(old);
      if (!/^-?\d+$/.test(text)) return { ok: false, error: "not-an-integer" };
      const sum = BigInt(text) + delta;
      if (sum !== BigInt.asIntN(64, sum)) return { ok: false, error: "not-an-integer" };
      store.set(key, enc(sum.toString()));
      return { ok: true, value: sum };
    },
    stateCompareAndSwap: (key, expected, value) =>
      state("cas", () => {
        if (!same(store.get(key), expected)) return false;
        store.set(key, value.slice());
        return true;
      }),
    contextGet: (key) =>
      ctx("context-get", () => (key.startsWith("x.") ? { ok: false, error: "unknown-key" } : { ok: true, value: context.get(key) })),
    contextSet: (key, value) =>
      ctx("context-set", () => {
        if (key.startsWith("host.")) return { ok: false, error: "read-only" };
        try {
          JSON.parse(value);
        } catch {
          return { ok: false, error: "invalid-value" };
        }
        context.set(key, value);
        return { ok: true, value: undefined };
      }),
  };
  return { host, store, context, calls };
}

const dataDir = mkdtempSync(path.join(tmpdir(), "plughost-v8-state-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const live: EngineInstance[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((i) => i.dispose()));
});

async function load(rel: string, host: HostCalls, isolation: Isolation, limits: Limits = {}, init = true): Promise<EngineInstance> {
  const instance = await v8Engine.load({
    plugin: path.basename(rel),
    entryPath: path.join(pluginDir(rel), "plugin.wasm"),
    capabilities: [],
    limits,
    host,
    isolation,
  });
  live.push(instance);
  if (init) expect(await instance.init("0.1.0", '{"greeting":"hi"}')).toBe(0);
  return instance;
}

/** A hook's answer as bytes (a failed hook fails the test). */
async function hook(instance: EngineInstance, event: string, data: Uint8Array | string = ""): Promise<Uint8Array> {
  const outcome = await instance.onHook(event, typeof data === "string" ? enc(data) : data);
  if (!outcome.ok) throw new Error(`hook ${event} failed with status ${outcome.status}`);
  return outcome.data;
}
const text = async (instance: EngineInstance, event: string, data: Uint8Array | string = "") => dec(await hook(instance, event, data));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

describe.each(["in-process", "worker"] as const)("v8 state and context (%s)", (isolation) => {
  it("answers every state function byte for byte", async () => {
    const { host, store, calls } = mapHost();
    const p = await load(COUNTER, host, isolation);
    // Every byte value, '=' and NUL included, round-trips unchanged; the key is UTF-8.
    const value = Uint8Array.from({ length: 256 }, (_, i) => i);
    const key = "ключ.å";
    expect(await text(p, "set", concat(enc(`${key}=`), value))).toBe("ok");
    expect(store.get(key)).toEqual(value);
    expect(await hook(p, "get", key)).toEqual(value);
    // A large value (beyond the worker's inline reply area) and an empty one.
    const big = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) & 0xff);
    expect(await text(p, "set", concat(enc("big="), big))).toBe("ok");
    expect(await hook(p, "get", "big")).toEqual(big);
    expect(await text(p, "set", "empty=")).toBe("ok");
    expect(store.get("empty")).toEqual(new Uint8Array(0));
    expect(await hook(p, "get", "empty")).toEqual(new Uint8Array(0));
    expect(await text(p, "exists", "empty")).toBe("1");
    expect(await text(p, "get", "nope")).toBe("missing");
    expect(await text(p, "exists", "nope")).toBe("0");
    // delete: true once, then false.
    expect(await text(p, "del", "empty")).toBe("1");
    expect(await text(p, "del", "empty")).toBe("0");
    expect(store.has("empty")).toBe(false);
    // increment: decimal text, missing is 0, negative deltas, the full i64 range, overflow refused.
    expect(await text(p, "count")).toBe("1");
    expect(await text(p, "count")).toBe("2");
    expect(dec(store.get("count")!)).toBe("2");
    expect(await text(p, "incr", "n=-5")).toBe("-5");
    store.set("n", enc("9223372036854775806"));
    expect(await text(p, "incr", "n=1")).toBe("9223372036854775807");
    expect(await text(p, "incr", "n=1")).toBe(`error:${STATE_ERRORS.indexOf("not-an-integer")}`);
    store.set("m", enc("-9223372036854775808"));
    expect(await text(p, "incr", "m=0")).toBe("-9223372036854775808");
    // compare-and-swap: only-if-missing, a match, a mismatch, an empty expected value.
    const US = "\x1f";
    expect(await text(p, "cas", `c${US}one`)).toBe("1");
    expect(await text(p, "cas", `c${US}again`)).toBe("0");
    expect(await text(p, "cas", `c${US}one${US}two`)).toBe("1");
    expect(await text(p, "cas", `c${US}one${US}three`)).toBe("0");
    expect(dec(store.get("c")!)).toBe("two");
    store.set("e", new Uint8Array(0));
    expect(await text(p, "cas", `e${US}${US}filled`)).toBe("1");
    expect(dec(store.get("e")!)).toBe("filled");
    // list-keys: pages in byte order with a cursor, then the end.
    store.clear();
    for (const k of ["b", "a", "d", "c", "é"]) store.set(k, enc(k));
    expect(await text(p, "keys", "2")).toBe("a\nb\n#b");
    expect(await text(p, "keys", "2,b")).toBe("c\nd\n#d");
    expect(await text(p, "keys", "2,d")).toBe("é\n");
    expect(await text(p, "keys", "0")).toBe("a\nb\nc\nd\né\n");
    expect(calls).toContain("list");
  });

  it("keeps state in a real SQLite backend, with its quota, through the engine", async () => {
    const file = path.join(dataDir, `${isolation}.db`);
    const backend = new SqliteStateBackend({ file });
    const quotaHits: string[] = [];
    const host: HostCalls = {
      ...mapHost({ omit: true }).host,
      ...pluginStateCalls({
        plugin: "state-counter",
        backend: () => backend,
        quota: () => ({ bytes: 4096, keys: 8 }),
        onQuotaExceeded: (detail) => void quotaHits.push(detail),
        onUnavailable: () => {},
      }),
    };
    const p = await load(COUNTER, host, isolation);
    const value = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
    expect(await text(p, "set", concat(enc("bin="), value))).toBe("ok");
    expect(await hook(p, "get", "bin")).toEqual(value);
    expect(await text(p, "count")).toBe("1");
    expect(await text(p, "count")).toBe("2");
    expect(await text(p, "keys", "0")).toBe("bin\ncount\n");
    // Over the 4 KiB quota: quota-exceeded reaches the guest, nothing is written, the host hears of it.
    expect(await text(p, "set", concat(enc("big="), new Uint8Array(5000)))).toBe(`error:${STATE_ERRORS.indexOf("quota-exceeded")}`);
    expect(quotaHits.length).toBe(1);
    expect(await text(p, "exists", "big")).toBe("0");
    backend.close();
    // What a returned call wrote is in the file.
    const reopened = new SqliteStateBackend({ file });
    try {
      expect(new Uint8Array(reopened.get("state-counter", "bin")!)).toEqual(value);
      expect(dec(reopened.get("state-counter", "count")!)).toBe("2");
    } finally {
      reopened.close();
    }
  });

  it("reads and writes context values as JSON", async () => {
    const { host, context } = mapHost();
    const p = await load(COUNTER, host, isolation);
    expect(await text(p, "ctx", "host.name")).toBe('"plughost-test"');
    expect(await text(p, "ctx", "acme.tenant")).toBe("none");
    const json = JSON.stringify({ id: "t-1", name: "Zoë ✓", n: [1, 2] });
    expect(await text(p, "ctxset", `acme.tenant=${json}`)).toBe("ok");
    expect(context.get("acme.tenant")).toBe(json);
    expect(await text(p, "ctx", "acme.tenant")).toBe(json);
    expect(await text(p, "ctxset", "acme.tenant={broken")).toBe(`error:${CONTEXT_ERRORS.indexOf("invalid-value")}`);
    expect(await text(p, "ctxset", 'host.name="me"')).toBe(`error:${CONTEXT_ERRORS.indexOf("read-only")}`);
    expect(await text(p, "ctx", "x.unknown")).toBe(`error:${CONTEXT_ERRORS.indexOf("unknown-key")}`);
  });

  it("hands every state-error code to the guest", async () => {
    for (const error of STATE_ERRORS) {
      const { host, store } = mapHost({ fail: error });
      store.set("k", enc("v"));
      const p = await load(COUNTER, host, isolation);
      const code = `error:${STATE_ERRORS.indexOf(error)}`;
      expect(await text(p, "count")).toBe(code);
      expect(await text(p, "get", "k")).toBe(code);
      expect(await text(p, "set", "k=v2")).toBe(code);
      expect(await text(p, "del", "k")).toBe(code);
      expect(await text(p, "exists", "k")).toBe(code);
      expect(await text(p, "keys", "10")).toBe(code);
      expect(await text(p, "cas", "k\x1fv2")).toBe(code);
      expect(store.get("k")).toEqual(enc("v"));
    }
  });

  it("hands every context-error code to the guest", async () => {
    for (const error of CONTEXT_ERRORS) {
      const { host } = mapHost({ contextFail: error });
      const p = await load(COUNTER, host, isolation);
      const code = `error:${CONTEXT_ERRORS.indexOf(error)}`;
      expect(await text(p, "ctx", "host.name")).toBe(code);
      expect(await text(p, "ctxset", "acme.tenant=1")).toBe(code);
    }
  });

  it("answers denied for every call the HostCalls do not offer", async () => {
    const { host } = mapHost({ omit: true });
    const p = await load(COUNTER, host, isolation);
    const denied = `error:${STATE_ERRORS.indexOf("denied")}`;
    for (const [event, data] of [["count", ""], ["get", "k"], ["set", "k=v"], ["del", "k"], ["exists", "k"], ["keys", "5"], ["cas", "k\x1fv"], ["incr", "k=2"]]) {
      expect(await text(p, event!, data!)).toBe(denied);
    }
    expect(await text(p, "ctx", "host.name")).toBe(`error:${CONTEXT_ERRORS.indexOf("denied")}`);
    expect(await text(p, "ctxset", "acme.tenant=1")).toBe(`error:${CONTEXT_ERRORS.indexOf("denied")}`);
    expect(await text(p, "mem")).toBe("1"); // the plugin ran on
  });

  it("ends hostile calls in typed errors, refuses over-long inputs unread, and the host carries on", async () => {
    const { host, calls } = mapHost();
    const probe = await load(HOSTILE, host, isolation);
    expect(await probe.onEvent("ok", new Uint8Array(0))).toBe(0);
    // Refused unread: a key over 256 bytes (or empty) is invalid-key, a value over 1 MiB too-large, a context value
    // over 1 MiB invalid-value; the pointers are past memory and never read.
    const before = calls.length;
    expect(await probe.onEvent("huge-key", new Uint8Array(0))).toBe(1 + STATE_ERRORS.indexOf("invalid-key"));
    expect(await probe.onEvent("empty-key", new Uint8Array(0))).toBe(1 + STATE_ERRORS.indexOf("invalid-key"));
    expect(await probe.onEvent("huge-cursor", new Uint8Array(0))).toBe(1 + STATE_ERRORS.indexOf("invalid-key"));
    expect(await probe.onEvent("huge-value", new Uint8Array(0))).toBe(1 + STATE_ERRORS.indexOf("too-large"));
    expect(await probe.onEvent("huge-context", new Uint8Array(0))).toBe(1 + CONTEXT_ERRORS.indexOf("invalid-value"));
    expect(calls.length).toBe(before);
    // Memory growing inside cabi_realloc while the host lowers an answer is fine.
    expect(await probe.onEvent("grow-answer", new Uint8Array(0))).toBe(0);
    expect(await probe.onEvent("grow-keys", new Uint8Array(0))).toBe(0);
    // Each of these breaks the canonical ABI: a typed AbiViolation naming the plugin, and only that instance is gone.
    for (const attack of [
      "oob-key",
      "bad-utf8-key",
      "oob-ret",
      "misaligned-ret",
      "misaligned-increment",
      "garbage-answer",
      "garbage-keys",
      "misaligned-keys",
      "bad-option",
      "bad-cas-option",
      "oob-value",
      "bad-utf8-context",
      "reenter",
    ]) {
      const p = await load(HOSTILE, host, isolation);
      const err = await p.onEvent(attack, new Uint8Array(0)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, attack).toBeInstanceOf(AbiViolation);
      expect((err as PlughostError).code).toBe("E_ABI_VIOLATION");
      expect((err as PlughostError).plugin).toBe("state-hostile");
      // The faulted instance stays faulted; a fresh one (and the first) still work.
      await expect(p.onEvent("ok", new Uint8Array(0))).rejects.toBeInstanceOf(PlughostError);
    }
    expect(await probe.onEvent("ok", new Uint8Array(0))).toBe(0);
    // No attack wrote anything: the only writes are each instance's init.
    expect(calls.filter((c) => c !== "get" && c !== "list")).toEqual(Array(14).fill("set"));
  });

  it("charges fuel per call and per byte", async () => {
    const { host } = mapHost();
    const p = await load(COUNTER, host, isolation, { fuel: 50_000_000 });
    const fuelOf = async (event: string, data: Uint8Array | string) => {
      await hook(p, event, data);
      return p.lastCallFuel!();
    };
    const HALF_MIB = 512 * 1024;
    const bigSet = concat(enc("k="), new Uint8Array(HALF_MIB));
    // Warm up (first calls touch fresh pages in the guest's allocator).
    for (let i = 0; i < 3; i++) {
      await fuelOf("set", "k=");
      await fuelOf("set", bigSet);
    }
    // 512 KiB in is 8,192 units for the bytes. A call's bytes are billed at least the call's base cost (1 in
    // process; 1,000 in a worker, for the round trip to the host thread), so a worker's difference is 1,000 less.
    const slack = isolation === "worker" ? 1000 : 0;
    const small = await fuelOf("set", "k=");
    const large = await fuelOf("set", bigSet);
    expect(large - small).toBeGreaterThanOrEqual(HALF_MIB / 64 - slack);
    await fuelOf("set", "k=");
    const getNone = await fuelOf("get", "k");
    await fuelOf("set", bigSet);
    const getLarge = await fuelOf("get", "k");
    // ... and 512 KiB out as much again (the guest copies nothing itself: the SDK hands the host's block over).
    expect(getLarge - getNone).toBeGreaterThanOrEqual(HALF_MIB / 64);
    // A budget that covers init and a small write but not the bytes of a 2 MiB compare-and-swap: FuelExhausted
    // before the write is done. (In a worker, init's 14 registrations cost 1,000 each, more than those bytes; the
    // worker runs this same import code, and the boundary test below covers a charge that throws.)
    if (isolation === "worker") return;
    const { host: h2, store } = mapHost();
    const probe = await load(COUNTER, h2, isolation, { fuel: 50_000_000 });
    const budget = Math.max(probe.lastCallFuel!(), small) + 4000;
    expect(budget).toBeLessThan(small + (2 * 1024 * 1024) / 64);
    const tight = await load(COUNTER, h2, isolation, { fuel: budget });
    expect(await text(tight, "set", "a=1")).toBe("ok");
    const MiB = new Uint8Array(1024 * 1024);
    const err = await tight.onHook("cas", concat(enc("k\x1f"), MiB, enc("\x1f"), MiB)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FuelExhausted);
    expect(store.has("k")).toBe(false);
  });

  it("calls on-config-changed, snapshot and restore, and a plugin without them has no such members", async () => {
    const { host } = mapHost();
    const p = await load(COUNTER, host, isolation);
    expect(typeof p.onConfigChanged).toBe("function");
    expect(typeof p.snapshot).toBe("function");
    expect(typeof p.restore).toBe("function");
    expect(await text(p, "config")).toBe('{"greeting":"hi"}');
    expect(await p.onConfigChanged!('{"greeting":"hello","n":2}')).toBe(0);
    expect(await text(p, "config")).toBe('{"greeting":"hello","n":2}');
    expect(await text(p, "seen")).toBe('{"greeting":"hello","n":2}');
    expect(await p.onConfigChanged!('{"reject":true}')).toBe(1);
    expect(await text(p, "seen")).toBe('{"greeting":"hello","n":2}');
    // A long config (beyond the SDK's argument arena).
    const long = JSON.stringify({ blob: "x".repeat(100_000) });
    expect(await p.onConfigChanged!(long)).toBe(0);
    expect(await text(p, "config")).toBe(long);

    for (let i = 0; i < 3; i++) await hook(p, "count");
    expect(await text(p, "mem")).toBe("3");
    const snap = await p.snapshot!();
    expect(dec(snap)).toBe("3");
    expect(dec(await p.snapshot!())).toBe("3"); // repeatable: the SDK freed the first one in post-return

    const next = await load(COUNTER, host, isolation);
    expect(await text(next, "mem")).toBe("0");
    expect(await next.restore!(snap)).toBe(0);
    expect(await text(next, "mem")).toBe("3");
    await hook(next, "count");
    expect(await text(next, "mem")).toBe("4");
    expect(await text(next, "count")).toBe("5"); // the persistent counter went on from the store
    expect(await next.restore!(new Uint8Array(0))).toBe(0);
    expect(await text(next, "mem")).toBe("0");

    const plain = await load(PLAIN, host, isolation, {}, false);
    expect(plain.onConfigChanged).toBeUndefined();
    expect(plain.snapshot).toBeUndefined();
    expect(plain.restore).toBeUndefined();
  });
});

describe("v8 state imports, at the boundary", () => {
  /** The imports over a bare memory, with a fuel spy. */
  function direct(host: HostCalls) {
    const memory = new GuestMemory("p");
    memory.attach(new WebAssembly.Memory({ initial: 2 }));
    const charged: number[] = [];
    let top = 4096;
    const ctx: ImportContext = {
      plugin: "p",
      memory,
      host,
      currentExport: "on-event",
      realloc: (_p, _o, align, size) => {
        top = Math.ceil(top / align) * align;
        const at = top;
        top += size;
        return at;
      },
      limits: { charge: (n: number) => void charged.push(n) },
    };
    return { imports: createHostImports(ctx), memory, charged };
  }

  it("charges 1,000 per call plus 1 per 64 bytes each way, and only the base for a refusal", () => {
    const { host, store } = mapHost();
    const { imports, memory, charged } = direct(host);
    const u8 = memory.u8();
    u8.set(enc("key"), 0);
    imports["state-set"]!(0, 3, 1024, 64 * 100, 64);
    expect(charged).toEqual([STATE_CALL_COST + Math.ceil((3 + 6400) / 64)]);
    expect(store.get("key")!.length).toBe(6400);
    charged.length = 0;
    imports["state-get"]!(0, 3, 64);
    expect(charged).toEqual([STATE_CALL_COST + 1, 100]); // the key in, the 6,400-byte answer out
    charged.length = 0;
    imports["state-get"]!(0, 300, 64); // over 256: refused unread
    expect(charged).toEqual([1]);
    expect(u8[64]).toBe(1);
    expect(u8[68]).toBe(STATE_ERRORS.indexOf("invalid-key"));
    charged.length = 0;
    imports["state-set"]!(0, 3, 0, 2 * 1024 * 1024, 64);
    expect(charged).toEqual([1]);
    expect(u8.subarray(64, 66)).toEqual(new Uint8Array([1, STATE_ERRORS.indexOf("too-large")]));
    // A charge that cannot be paid stops the call before the host does anything.
    const { host: h3, store: s3 } = mapHost();
    const broke = direct(h3);
    broke.memory.u8().set(enc("key"), 0);
    const poor = createHostImports({
      plugin: "p",
      memory: broke.memory,
      host: h3,
      currentExport: "on-event",
      realloc: undefined,
      limits: {
        charge: () => {
          throw new Error("out of fuel");
        },
      },
    });
    expect(() => poor["state-set"]!(0, 3, 1024, 64, 64)).toThrow("out of fuel");
    expect(s3.size).toBe(0);
    const { imports: none, charged: c2, memory: m2 } = direct(mapHost({ omit: true }).host);
    m2.u8().set(enc("key"), 0);
    none["state-exists"]!(0, 3, 64);
    expect(c2).toEqual([1]);
    expect(m2.u8().subarray(64, 66)).toEqual(new Uint8Array([1, STATE_ERRORS.indexOf("denied")]));
  });
});
