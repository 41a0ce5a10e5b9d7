// Persistent state, context and the optional config-watch / hand-off exports for native plugins (C ABI .so),
// trusted (in process) and sandboxed (helper process): the C SDK's plughost_state_* / plughost_context_* over the
// host table, the STATE / CONTEXT frames, the codes a HostCalls answers reaching the plugin, an older host's table
// (denied), plugin_config_changed / plugin_snapshot / plugin_restore looked up by name, and hostile lengths.
// The host side is a Map-backed HostCalls with the contract's semantics (the registry's wiring is tested elsewhere).
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { nativeEngine } from "../src/engines/native/engine.js";
import type { ContextOutcome, EngineInstance, HookOutcome, KeyPage, StateError, StateOutcome, TrustLevel } from "../src/engines/engine.js";
import { CONTEXT_ERROR_CODE, STATE_ERROR_CODE, type ContextError } from "../src/contract/abi.js";
import { AbiViolation, CapabilityDenied, InvocationFailed } from "../src/contract/errors.js";
import { PluginRegistry } from "../src/runtime/registry.js";
import { bytes, fixture, recordingHost, request, root, type RecordingHost } from "./native-helpers.js";

const live: EngineInstance[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((i) => i.dispose().catch(() => {})));
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const text = (b: Uint8Array) => Buffer.from(b).toString();
const stateErr = (e: StateError) => -1 - STATE_ERROR_CODE[e];
const contextErr = (e: ContextError) => -1 - CONTEXT_ERROR_CODE[e];
const US = "\x1f";

interface StateHost extends RecordingHost {
  store: Map<string, Uint8Array>;
  context: Map<string, string>;
  /** Every state / context call, as "member key". */
  calls: string[];
  /** When set, every state call answers this error. */
  failWith?: StateError;
}

/** A HostCalls whose state store is a Map and whose context holds host.name (read-only) and acme.* (writable). */
function stateHost(config = "{}"): StateHost {
  const host = recordingHost(config) as StateHost;
  host.store = new Map();
  host.context = new Map([["host.name", JSON.stringify("box-1")]]);
  host.calls = [];
  const fail = <T>(member: string, key: string, run: () => StateOutcome<T>): StateOutcome<T> => {
    host.calls.push(`${member} ${key}`);
    if (host.failWith) return { ok: false, error: host.failWith };
    if (key.length === 0 || Buffer.byteLength(key) > 256) return { ok: false, error: "invalid-key" };
    return run();
  };
  host.stateGet = (key) => fail("get", key, () => ({ ok: true, value: host.store.get(key) }));
  host.stateSet = (key, value) =>
    fail("set", key, () => {
      if (value.length > 1 << 20) return { ok: false, error: "too-large" };
      host.store.set(key, value.slice());
      return { ok: true, value: undefined };
    });
  host.stateDelete = (key) => fail("delete", key, () => ({ ok: true, value: host.store.delete(key) }));
  host.stateExists = (key) => fail("exists", key, () => ({ ok: true, value: host.store.has(key) }));
  host.stateIncrement = (key, delta) =>
    fail("increment", key, () => {
      const old = host.store.get(key);
      const s = old ? text(old) : "0";
      if (!/^-?[0-9]+$/.test(s)) return { ok: false, error: "not-an-integer" };
      const v = BigInt(s) + delta;
      if (v !== BigInt.asIntN(64, v)) return { ok: false, error: "not-an-integer" };
      host.store.set(key, bytes(v.toString()));
      return { ok: true, value: v };
    });
  host.stateCompareAndSwap = (key, expected, value) =>
    fail("cas", key, () => {
      const now = host.store.get(key);
      const same = expected === undefined ? now === undefined : now !== undefined && Buffer.from(now).equals(Buffer.from(expected));
      if (same) host.store.set(key, value.slice());
      return { ok: true, value: same };
    });
  host.stateListKeys = (cursor, limit) => {
    host.calls.push(`list ${cursor ?? ""}`);
    if (host.failWith) return { ok: false, error: host.failWith };
    const keys = [...host.store.keys()].sort().filter((k) => cursor === undefined || k > cursor);
    const n = Math.min(limit || 100, 1000);
    const page: KeyPage = keys.length > n ? { keys: keys.slice(0, n), cursor: keys[n - 1] } : { keys };
    return { ok: true, value: page };
  };
  host.contextGet = (key): ContextOutcome<string | undefined> => {
    host.calls.push(`ctxget ${key}`);
    if (key === "secret.key") return { ok: false, error: "denied" };
    return { ok: true, value: host.context.get(key) };
  };
  host.contextSet = (key, value): ContextOutcome<undefined> => {
    host.calls.push(`ctxset ${key}`);
    if (key.startsWith("host.")) return { ok: false, error: "read-only" };
    if (!key.startsWith("acme.")) return { ok: false, error: "unknown-key" };
    try {
      JSON.parse(value);
    } catch {
      return { ok: false, error: "invalid-value" };
    }
    host.context.set(key, value);
    return { ok: true, value: undefined };
  };
  return host;
}

async function start(trust: TrustLevel, host: RecordingHost, name = "state_counter", config = "{}", capabilities: string[] = []) {
  const inst = await nativeEngine.load(request(name, trust, host, { capabilities }));
  live.push(inst);
  expect(await inst.init("0.1.0", config)).toBe(0);
  return inst;
}

function out(r: HookOutcome): string {
  if (!r.ok) throw new Error(`hook failed with status ${r.status}`);
  return text(r.data);
}

const hook = async (inst: EngineInstance, event: string, data = "") => out(await inst.onHook(event, bytes(data)));

describe.each(["trusted", "untrusted"] as const)("native state and context (%s)", (trust) => {
  it("every state function answers, with the host's values", async () => {
    const host = stateHost();
    const inst = await start(trust, host, "state_counter", "{}", ["state", "context:*", "context:write:acme.*"]);
    expect(await hook(inst, "count")).toBe("1");
    expect(await hook(inst, "count")).toBe("2");
    expect(text(host.store.get("count")!)).toBe("2"); // decimal text
    expect(await hook(inst, "set", "greeting=hello=world")).toBe("ok");
    expect(await hook(inst, "get", "greeting")).toBe("hello=world");
    expect(await hook(inst, "set", "empty=")).toBe("ok");
    expect(await hook(inst, "get", "empty")).toBe("");
    expect(await hook(inst, "get", "nope")).toBe("missing");
    expect(await hook(inst, "exists", "greeting")).toBe("1");
    expect(await hook(inst, "del", "greeting")).toBe("1");
    expect(await hook(inst, "del", "greeting")).toBe("0");
    expect(await hook(inst, "exists", "greeting")).toBe("0");
    expect(await hook(inst, "incr", "n=5")).toBe("5");
    expect(await hook(inst, "incr", "n=-7")).toBe("-2");
    expect(await hook(inst, "incr", "big=9223372036854775807")).toBe("9223372036854775807");
    expect(await hook(inst, "incr", "big=1")).toBe(`error:${STATE_ERROR_CODE["not-an-integer"]}`);
    expect(await hook(inst, "cas", `c${US}first`)).toBe("1"); // only if missing
    expect(await hook(inst, "cas", `c${US}again`)).toBe("0");
    expect(await hook(inst, "cas", `c${US}wrong${US}x`)).toBe("0");
    expect(await hook(inst, "cas", `c${US}first${US}second`)).toBe("1");
    expect(await hook(inst, "get", "c")).toBe("second");
    // keys in order, a page at a time
    expect(await hook(inst, "keys", "0")).toBe("big\nc\ncount\nempty\nn\n");
    expect(await hook(inst, "keys", "2")).toBe("big\nc\n#c");
    expect(await hook(inst, "keys", "2,c")).toBe("count\nempty\n#empty");
    expect(await hook(inst, "keys", "2,empty")).toBe("n\n");
    expect(host.calls).toContain("list c");
  });

  it("context get and set answer, and the host's refusals reach the plugin as codes", async () => {
    const host = stateHost('{"mode":"a"}');
    const inst = await start(trust, host, "state_counter", '{"mode":"a"}', ["state", "context:*", "context:write:acme.*"]);
    expect(await hook(inst, "ctx", "host.name")).toBe('"box-1"');
    expect(await hook(inst, "ctx", "acme.tenant")).toBe("none");
    expect(await hook(inst, "ctxset", 'acme.tenant={"id":7,"name":"ü"}')).toBe("ok");
    expect(await hook(inst, "ctx", "acme.tenant")).toBe('{"id":7,"name":"ü"}');
    expect(await hook(inst, "ctxset", 'host.name="x"')).toBe(`error:${CONTEXT_ERROR_CODE["read-only"]}`);
    expect(await hook(inst, "ctxset", "other.key=1")).toBe(`error:${CONTEXT_ERROR_CODE["unknown-key"]}`);
    expect(await hook(inst, "ctxset", "acme.x={oops")).toBe(`error:${CONTEXT_ERROR_CODE["invalid-value"]}`);
    expect(await hook(inst, "ctx", "secret.key")).toBe(`error:${CONTEXT_ERROR_CODE.denied}`);
    expect(await hook(inst, "ctx", "a".repeat(65))).toBe(`error:${CONTEXT_ERROR_CODE["unknown-key"]}`); // longer than any key
    expect(host.calls).not.toContain(`ctxget ${"a".repeat(65)}`);
    expect(await hook(inst, "config")).toBe('{"mode":"a"}');
  });

  it("every state-error code the host answers reaches the plugin", async () => {
    const host = stateHost();
    const inst = await start(trust, host);
    for (const error of Object.keys(STATE_ERROR_CODE) as StateError[]) {
      host.failWith = error;
      const code = `error:${STATE_ERROR_CODE[error]}`;
      expect(await hook(inst, "count")).toBe(code);
      expect(await hook(inst, "get", "k")).toBe(code);
      expect(await hook(inst, "set", "k=v")).toBe(code);
      expect(await hook(inst, "del", "k")).toBe(code);
      expect(await hook(inst, "exists", "k")).toBe(code);
      expect(await hook(inst, "cas", `k${US}v`)).toBe(code);
      expect(await hook(inst, "keys", "1")).toBe(code);
    }
    // A host whose member throws: unavailable, and the host goes on.
    host.failWith = undefined;
    host.stateGet = () => {
      throw new Error("backend down");
    };
    expect(await hook(inst, "get", "k")).toBe(`error:${STATE_ERROR_CODE.unavailable}`);
    expect(await hook(inst, "count")).toBe("1");
  });

  it("a HostCalls without state or context members: every function answers denied", async () => {
    const host = recordingHost();
    const inst = await start(trust, host);
    const denied = `error:${STATE_ERROR_CODE.denied}`;
    for (const [event, data] of [["count", ""], ["get", "k"], ["set", "k=v"], ["del", "k"], ["exists", "k"], ["incr", "k=1"], ["cas", `k${US}v`], ["keys", "0"]]) {
      expect(await hook(inst, event!, data)).toBe(denied);
    }
    expect(await hook(inst, "ctx", "host.name")).toBe(`error:${CONTEXT_ERROR_CODE.denied}`);
    expect(await hook(inst, "ctxset", "acme.a=1")).toBe(`error:${CONTEXT_ERROR_CODE.denied}`);
  });

  it("keys and values past the bounds are refused before the host sees them", async () => {
    const host = stateHost();
    const inst = await start(trust, host);
    expect(await hook(inst, "set", `${"k".repeat(257)}=v`)).toBe(`error:${STATE_ERROR_CODE["invalid-key"]}`);
    expect(await hook(inst, "get", "")).toBe(`error:${STATE_ERROR_CODE["invalid-key"]}`);
    expect(await hook(inst, "set", `big=${"x".repeat((1 << 20) + 1)}`)).toBe(`error:${STATE_ERROR_CODE["too-large"]}`);
    expect(await hook(inst, "set", `max=${"x".repeat(1 << 20)}`)).toBe("ok"); // exactly the bound
    expect(host.store.get("max")!.length).toBe(1 << 20);
    expect(host.calls.filter((c) => c.startsWith("set "))).toEqual(["set max"]);
  });

  it("config-watch and hand-off: offered when the library defines them, called, and absent otherwise", async () => {
    const host = stateHost();
    const inst = await start(trust, host, "state_counter", '{"v":1}');
    expect(typeof inst.onConfigChanged).toBe("function");
    expect(typeof inst.snapshot).toBe("function");
    expect(typeof inst.restore).toBe("function");
    expect(await hook(inst, "seen")).toBe("none");
    expect(await inst.onConfigChanged!('{"v":2}')).toBe(0);
    expect(await hook(inst, "seen")).toBe('{"v":2}');
    expect(await hook(inst, "config")).toBe('{"v":2}'); // plughost_config() answers the new config
    expect(await inst.onConfigChanged!('{"reject":true}')).toBe(1);
    expect(await hook(inst, "seen")).toBe('{"v":2}');
    for (let i = 0; i < 3; i++) await hook(inst, "count");
    expect(text(await inst.snapshot!())).toBe("3");
    // the next instance gets it back (in process a second load needs its own file: dlopen shares one file's globals)
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-native-state-"));
    dirs.push(dir);
    const copy = path.join(dir, "state_counter_next.so");
    copyFileSync(fixture("state_counter"), copy);
    const next = await nativeEngine.load(request("state_counter", trust, stateHost(), { entryPath: copy }));
    live.push(next);
    expect(await next.init("0.1.0", "{}")).toBe(0);
    expect(await hook(next, "mem")).toBe("0");
    expect(await next.restore!(bytes("41"))).toBe(0);
    expect(await hook(next, "mem")).toBe("41");
    await hook(next, "count");
    expect(text(await next.snapshot!())).toBe("42");

    const plain = await start(trust, recordingHost(), "basic");
    expect(plain.onConfigChanged).toBeUndefined();
    expect(plain.snapshot).toBeUndefined();
    expect(plain.restore).toBeUndefined();
  });

  it("a plugin holding the host table itself: hostile lengths, bad UTF-8 and other threads are refused", async () => {
    const host = stateHost();
    const inst = await start(trust, host, "state_rogue");
    const ev = (name: string) => inst.onEvent(name, bytes(""));
    expect(await ev("long-key")).toBe(stateErr("invalid-key"));
    expect(await ev("bad-utf8")).toBe(stateErr("invalid-key"));
    expect(await ev("big-value")).toBe(stateErr("too-large"));
    expect(await ev("null-value")).toBe(stateErr("too-large"));
    expect(await ev("long-ctx")).toBe(contextErr("unknown-key"));
    expect(await ev("bad-json")).toBe(contextErr("invalid-value"));
    expect(await ev("thread")).toBe(stateErr("denied"));
    expect(host.calls).toEqual([]); // none of it reached the host
    expect(await ev("ok")).toBe(0);
    expect(text(host.store.get("rogue")!)).toBe("fine");
  });
});

describe("native state, sandboxed: frames of the plugin's own", () => {
  it("state and context capabilities can be granted to a sandboxed plugin; files still cannot", async () => {
    const inst = await start("untrusted", stateHost(), "state_counter", "{}", ["state", "context:host.name", "context:write:acme.tenant"]);
    expect(await hook(inst, "ctx", "host.name")).toBe('"box-1"');
    await expect(nativeEngine.load(request("state_counter", "untrusted", stateHost(), { capabilities: ["state", "fs:read:/etc"] }))).rejects.toBeInstanceOf(
      CapabilityDenied,
    );
  });

  it("a forged STATE frame with an over-long key is refused without a host call; the plugin goes on", async () => {
    const host = stateHost();
    const inst = await start("untrusted", host, "state_rogue");
    expect(await inst.onEvent("forge-long", bytes(""))).toBe(0);
    expect(await inst.onEvent("ok", bytes(""))).toBe(0);
    expect(host.calls).toEqual(["set rogue"]);
    expect([...host.store.keys()]).toEqual(["rogue"]);
  });

  it("a forged STATE frame between calls is answered denied and changes nothing", async () => {
    const host = stateHost();
    const inst = await start("untrusted", host, "state_rogue");
    expect(await inst.onEvent("forge-later", bytes(""))).toBe(0);
    await new Promise((r) => setTimeout(r, 150));
    expect(host.calls).toEqual([]);
    expect(await inst.onEvent("ok", bytes(""))).toBe(0);
    expect(host.store.has("later")).toBe(false);
  });

  it("a STATE frame that breaks the layout, or claims more than its bound, is a protocol break: AbiViolation, host fine", async () => {
    for (const event of ["forge-nul", "forge-huge"]) {
      const host = stateHost();
      const inst = await start("untrusted", host, "state_rogue");
      const err = await inst.onEvent(event, bytes("")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AbiViolation);
      expect((err as AbiViolation).message).toMatch(event === "forge-nul" ? /malformed STATE frame/ : /frame of 3145728 bytes \(type 76\)/);
      expect((err as AbiViolation).plugin).toBe("state_rogue");
      expect(host.calls).toEqual([]);
      await expect(inst.onEvent("ok", bytes(""))).rejects.toBeInstanceOf(AbiViolation);
    }
    const other = await start("untrusted", stateHost());
    expect(await hook(other, "count")).toBe("1");
  });

  it("a CONTEXT frame claiming more than its bound is a protocol break; a snapshot larger than a frame fails the call, typed", async () => {
    const host = stateHost();
    const inst = await start("untrusted", host, "state_rogue");
    const err = await inst.onEvent("forge-ctx", bytes("")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbiViolation);
    expect((err as AbiViolation).message).toMatch(/frame of 2097152 bytes \(type 77\)/);
    const big = await start("untrusted", stateHost(), "state_rogue");
    const snap = await big.snapshot!().catch((e: unknown) => e);
    expect(snap).toBeInstanceOf(InvocationFailed);
    expect((snap as InvocationFailed).message).toMatch(/64 MiB/);
    expect(await big.onEvent("ok", bytes(""))).toBe(0); // the plugin goes on
  });

  it("pipelined calls each see the store as the calls before them left it", async () => {
    const host = stateHost();
    const inst = await start("untrusted", host);
    const results = await Promise.all([1, 2, 3, 4].map(() => inst.onHook("count", bytes(""))));
    expect(results.map(out)).toEqual(["1", "2", "3", "4"]);
    expect(text(host.store.get("count")!)).toBe("4");
  });
});

describe("the native host table grows additively (state and context)", () => {
  it("a plugin built with this SDK, bound by a host whose table predates state: every call denied, nothing handed back", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-state-old-host-"));
    dirs.push(dir);
    const exe = path.join(dir, "state-old-host");
    const include = path.join(root, "guest-sdks", "c", "include");
    execFileSync("gcc", ["-Wall", "-Wextra", "-O1", "-I", include, path.join(root, "test", "fixtures", "native", "old-host", "state-old-host.c"), "-o", exe, "-ldl"]);
    const s = stateErr("denied");
    const c = contextErr("denied");
    expect(execFileSync(exe, [fixture("state_counter")], { encoding: "utf8" }).trim()).toBe(
      `get=${s} set=${s} delete=${s} exists=${s} incr=${s} cas=${s} list=${s} ctxget=${c} ctxset=${c} untouched=1`,
    );
  });
});

describe.each(["trusted", "untrusted"] as const)("native state through the registry (%s)", (trust) => {
  let registry: PluginRegistry | undefined;
  afterEach(async () => {
    await registry?.close();
    registry = undefined;
  });

  it("the count persists in the SQLite store across a restart, the hand-off carries memory, live config is taken", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "plughost-native-state-data-"));
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-native-state-plugin-"));
    dirs.push(dataDir, dir);
    const name = `counter-${trust}`;
    copyFileSync(fixture("state_counter"), path.join(dir, "state_counter.so"));
    writeFileSync(
      path.join(dir, "plugin.toml"),
      `name = "${name}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "state_counter.so"\ntrust = "${trust}"\n` +
        `capabilities = ["state", "context:host.name"]\n`,
    );
    registry = new PluginRegistry({
      logger: pino({ level: "silent" }),
      cacheDir: false,
      dataDir,
      trustedNative: [name],
      grants: { [name]: ["state", "context:host.name"] },
    });
    await registry.load(dir);
    const hookOut = async (event: string, data = "") => out(await registry!.hook(name, event, bytes(data)));
    for (let i = 1; i <= 3; i++) expect(await hookOut("count")).toBe(String(i));
    expect(text(registry.state(name).get("count")!)).toBe("3");
    expect(await hookOut("ctx", "host.name")).toMatch(/^".+"$/);
    expect(await hookOut("ctx", "acme.tenant")).toBe(`error:${CONTEXT_ERROR_CODE.denied}`); // not granted
    await registry.restart(name);
    expect(await hookOut("mem")).toBe("3"); // snapshot before the restart, restore after init
    expect(await hookOut("count")).toBe("4"); // the store kept it
    const taken = await registry.setConfig(name, { mode: "b" });
    expect(taken.delivered).toBe("callback");
    expect(JSON.parse(await hookOut("config"))).toMatchObject({ mode: "b" });
    expect(JSON.parse(await hookOut("seen"))).toMatchObject({ mode: "b" });
    const refused = await registry.setConfig(name, { reject: true });
    expect(refused.delivered).toBe("reload");
    expect(JSON.parse(await hookOut("config"))).toMatchObject({ mode: "b", reject: true });
    expect(await hookOut("mem")).toBe("4"); // carried across the reload too
  });
});
