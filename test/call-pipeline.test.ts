// The call pipeline (issue 12, section 3): `registry.use` interceptors wrap
// every invoke, hook, dispatch step, message delivery and host call, in
// registration order (onion); each call's CallContext carries its ids, its
// parent and the caller's hostContext, which host-side code reads with
// `registry.currentCall()` and which the `log` host call's records carry.
//
// Guest: the C probe (`ok` answers 42, `log` logs "tick", `count` counts,
// `emit` emits "ping", `register <name>` binds <name> to `ok`).
import { rmSync } from "node:fs";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  InterceptorFailed,
  PluginRegistry,
  PluginTrap,
  type CallContext,
  type RegistryOptions,
} from "../src/index.js";
import { until } from "./native-helpers.js";
import { copyPlugin, enc, silentLogger } from "./helpers/plugins.js";

const PROBE = "test/fixtures/c/probe";

let registry: PluginRegistry;
const dirs: string[] = [];
afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const newRegistry = (options: RegistryOptions = {}) =>
  (registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, ...options }));

type Mode = { name: string; options: RegistryOptions };
const V8: Mode = { name: "v8 in-process", options: { engine: "v8", isolation: "in-process" } };
const MODES: Mode[] = [V8, { name: "v8 worker", options: { engine: "v8", isolation: "worker" } }, { name: "wasmtime", options: { engine: "wasmtime" } }];

function probeCopy(name: string): string {
  const dir = copyPlugin(PROBE, (t) => t.replace('name = "probe"', `name = "${name}"`));
  dirs.push(dir);
  return dir;
}

/** probe-a emits "ping" on "emit"; probe-b answers "ping" and also subscribes to "emit". */
async function twoProbes(): Promise<void> {
  await registry.load(probeCopy("probe-a"));
  await registry.load(probeCopy("probe-b"));
  expect(await registry.invoke("probe-b", "register", enc("ping"))).toBe(0);
}

/** Records every call the interceptor sees (`done` once its outcome is known). */
function recorder(): { seen: { ctx: CallContext; done: boolean }[]; use: () => void } {
  const seen: { ctx: CallContext; done: boolean }[] = [];
  return {
    seen,
    use: () =>
      registry.use(async (ctx, next) => {
        const rec = { ctx, done: false };
        seen.push(rec);
        try {
          return await next();
        } finally {
          rec.done = true;
        }
      }),
  };
}

/** A logger whose records are kept, with the call in progress when each was written. */
function capturingLogger(records: { msg?: string; callId?: number; current?: CallContext }[]) {
  // pino writes synchronously to a plain `{ write }` object: inside the host call.
  return pino({ level: "info" }, {
    write(line: string) {
      const rec = JSON.parse(line) as { msg?: string; callId?: number };
      records.push({ ...rec, current: registry.currentCall() });
    },
  });
}

describe("interceptors (v8 in-process)", () => {
  it("run in registration order, as an onion, around the call", async () => {
    newRegistry(V8.options);
    await registry.load(probeCopy("probe-a"));
    const order: string[] = [];
    for (const name of ["outer", "inner"]) {
      registry.use(async (ctx, next) => {
        order.push(`${name}>${ctx.event}`);
        const out = await next();
        order.push(`${name}<${String(out)}`);
        return out;
      });
    }
    expect(await registry.invoke("probe-a", "ok")).toBe(42);
    expect(order).toEqual(["outer>ok", "inner>ok", "inner<42", "outer<42"]);
  });

  it("one that throws fails that call only, with a typed error; the other subscriber is still called", async () => {
    newRegistry(V8.options);
    await twoProbes();
    expect(await registry.invoke("probe-a", "register", enc("ping"))).toBe(0);
    registry.use((ctx, next) => {
      if (ctx.plugin === "probe-a" && ctx.kind === "dispatch") throw new Error("refused by policy");
      return next();
    });
    const results = await registry.dispatch("ping");
    expect(results.map((r) => r.plugin).sort()).toEqual(["probe-a", "probe-b"]);
    const a = results.find((r) => r.plugin === "probe-a")!;
    expect(a.error).toBeInstanceOf(InterceptorFailed);
    expect(a.error).toMatchObject({ code: "E_INTERCEPTOR_FAILED", plugin: "probe-a", kind: "dispatch" });
    expect(results.find((r) => r.plugin === "probe-b")).toEqual({ plugin: "probe-b", status: 42 });
    // probe-a is not faulted: it still answers a direct call.
    expect(await registry.invoke("probe-a", "ok")).toBe(42);
    expect(registry.get("probe-a").metrics.faults).toBe(0);
  });

  it("one that short-circuits skips the engine; an outcome of the wrong shape is a typed error", async () => {
    newRegistry(V8.options);
    await registry.load(probeCopy("probe-a"));
    const calls = registry.get("probe-a").metrics.calls;
    const remove = registry.use((ctx, next) => (ctx.event === "trap" ? 7 : next()));
    expect(await registry.invoke("probe-a", "trap")).toBe(7);
    expect(registry.get("probe-a").metrics.calls).toBe(calls);
    expect(registry.get("probe-a").metrics.faults).toBe(0);
    remove();
    registry.use(() => "not a status");
    await expect(registry.invoke("probe-a", "ok")).rejects.toMatchObject({ code: "E_INTERCEPTOR_FAILED", plugin: "probe-a" });
  });

  it("a retry interceptor can call next() twice: the engine runs twice", async () => {
    newRegistry(V8.options);
    await registry.load(probeCopy("probe-a"));
    registry.use(async (_ctx, next) => {
      await next();
      return next();
    });
    expect(await registry.invoke("probe-a", "count")).toBe(2);
    expect(await registry.invoke("probe-a", "count")).toBe(4);
  });

  it("an engine error passes through the interceptors unchanged", async () => {
    newRegistry({ ...V8.options, recovery: { strategy: "restart", backoff: "linear", baseDelayMs: 0, maxRetries: 5 } });
    await registry.load(probeCopy("probe-a"));
    const r = recorder();
    r.use();
    await expect(registry.invoke("probe-a", "trap")).rejects.toBeInstanceOf(PluginTrap);
    expect(await registry.invoke("probe-a", "ok")).toBe(42);
  });

  it("the sync fast path works with no interceptor, and with one that calls next() before its first await", async () => {
    newRegistry(V8.options);
    const handle = await registry.load(probeCopy("probe-a"));
    expect(handle.invokeSync("ok")).toBe(42);
    const r = recorder();
    const remove = registry.use(async (ctx, next) => {
      void ctx;
      return next();
    });
    r.use();
    expect(handle.invokeSync("ok")).toBe(42);
    expect(handle.hookSync("ok")).toEqual(await registry.hook("probe-a", "ok"));
    expect(r.seen.map((s) => `${s.ctx.kind}:${s.ctx.event}`)).toEqual(["invoke:ok", "hook:ok", "hook:ok"]);
    remove();
    // One that waits before calling next() cannot run on the sync path: a typed error, not a silent skip.
    const late: Promise<unknown>[] = [];
    const removeLate = registry.use(async (_ctx, next) => {
      await Promise.resolve();
      const p = next();
      late.push(p);
      return p;
    });
    expect(() => handle.invokeSync("ok")).toThrow(InterceptorFailed);
    // Its late next() does not run the call the caller was told had failed ("count" counts the guest's runs).
    expect(() => handle.invokeSync("count")).toThrow(InterceptorFailed);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(late).toHaveLength(2);
    for (const p of late) await expect(p).rejects.toThrow(/the call was not run/);
    removeLate();
    expect(handle.invokeSync("count")).toBe(1);
  });
});

describe.each(MODES)("call contexts ($name)", ({ options }) => {
  it("a timing interceptor sees every kind of call: invoke, hook, dispatch steps, host calls and messages", async () => {
    newRegistry(options);
    await twoProbes();
    expect(await registry.invoke("probe-b", "register", enc("emit"))).toBe(0);
    const r = recorder();
    r.use();
    expect(await registry.invoke("probe-a", "log")).toBe(0);
    await registry.hook("probe-a", "ok");
    const results = await registry.dispatch("emit", enc("x"));
    expect(results.map((x) => x.plugin)).toEqual(["probe-a", "probe-b"]);
    await until(() => r.seen.some((s) => s.ctx.kind === "message" && s.done));
    const kinds = r.seen.map((s) => `${s.ctx.kind}:${s.ctx.plugin}:${s.ctx.event}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        "invoke:probe-a:log",
        "host-call:probe-a:log",
        "hook:probe-a:ok",
        "dispatch:probe-a:emit",
        "host-call:probe-a:emit",
        "dispatch:probe-b:emit",
        "message:probe-b:ping",
      ]),
    );
    const ids = r.seen.map((s) => s.ctx.callId);
    expect(new Set(ids).size).toBe(ids.length);
    // Ids increase in the order calls begin.
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it("a message's delivery and a host call have the emitting call as parent", async () => {
    newRegistry(options);
    await twoProbes();
    const r = recorder();
    r.use();
    expect(await registry.invoke("probe-a", "emit", enc("x"))).toBe(1); // one receiver
    await until(() => r.seen.some((s) => s.ctx.kind === "message" && s.done));
    const call = r.seen.find((s) => s.ctx.kind === "invoke")!.ctx;
    const emit = r.seen.find((s) => s.ctx.kind === "host-call" && s.ctx.event === "emit")!.ctx;
    const message = r.seen.find((s) => s.ctx.kind === "message")!.ctx;
    expect(call.parentCallId).toBeUndefined();
    expect(emit.parentCallId).toBe(call.callId);
    expect(message).toMatchObject({ plugin: "probe-b", event: "ping", parentCallId: call.callId });
  });

  it("hostContext reaches interceptors, messages and host-side code (currentCall) during host calls; log records carry the callId", async () => {
    const records: { msg?: string; callId?: number; current?: CallContext }[] = [];
    newRegistry({ ...options, logger: capturingLogger(records) });
    await twoProbes();
    const r = recorder();
    r.use();
    const req = { requestId: "r-1" };
    expect(await registry.invoke("probe-a", "log", undefined, { hostContext: req })).toBe(0);
    const tick = records.find((x) => x.msg === "tick")!;
    const call = r.seen.find((s) => s.ctx.kind === "invoke")!.ctx;
    expect(call.hostContext).toBe(req);
    expect(tick.current?.callId).toBe(call.callId);
    expect(tick.current?.hostContext).toBe(req);
    expect(tick.callId).toBe(call.callId);

    const req2 = { requestId: "r-2" };
    await registry.dispatch("emit", enc("y"), { hostContext: req2 });
    await until(() => r.seen.some((s) => s.ctx.kind === "message" && s.done));
    expect(r.seen.find((s) => s.ctx.kind === "dispatch")!.ctx.hostContext).toBe(req2);
    expect(r.seen.find((s) => s.ctx.kind === "message")!.ctx.hostContext).toBe(req2);
    expect(registry.currentCall()).toBeUndefined();
  });

  it("with no interceptor, a hostContext is still visible to host-side code, and calls without one make no context", async () => {
    const records: { msg?: string; callId?: number; current?: CallContext }[] = [];
    newRegistry({ ...options, logger: capturingLogger(records) });
    await registry.load(probeCopy("probe-a"));
    expect(await registry.invoke("probe-a", "log")).toBe(0);
    expect(await registry.invoke("probe-a", "log", undefined, { hostContext: "ctx-2" })).toBe(0);
    const ticks = records.filter((x) => x.msg === "tick");
    expect(ticks).toHaveLength(2);
    expect(ticks[0]!.current).toBeUndefined();
    expect(ticks[0]!.callId).toBeUndefined();
    expect(ticks[1]!.current).toMatchObject({ plugin: "probe-a", event: "log", kind: "invoke", hostContext: "ctx-2" });
    expect(ticks[1]!.callId).toBe(ticks[1]!.current!.callId);
  });
});
