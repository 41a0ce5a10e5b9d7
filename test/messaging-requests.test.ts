// Request/response between plugins and with the host (docs/messaging.md): a C requester asks a C responder, the
// request chain's cycle and depth checks, timeouts, rejections and faults, host services, registry.request and
// the message envelope (ids, parents, sources, metadata) as the guests read it with current-message.
// Fixtures: test/fixtures/c/request-responder (this part) and test/fixtures/c/request-caller.
import { afterEach, describe, expect, it } from "vitest";
import { InterceptorFailed, PluginRegistry, RequestFailed, ServiceNameTaken, type CallContext, type Message, type PluginHandle } from "../src/index.js";
import { REQUEST_ERROR_CODE, MESSAGE_KIND_CODE, type RequestError } from "../src/contract/abi.js";
import { copyPlugin, dec, enc, silentLogger } from "./helpers/plugins.js";

const RESPONDER = "test/fixtures/c/request-responder";
const CALLER = "test/fixtures/c/request-caller";

type Options = NonNullable<ConstructorParameters<typeof PluginRegistry>[0]>;
let registry: PluginRegistry | undefined;
afterEach(async () => {
  await registry?.unloadAll();
  registry = undefined;
});

function make(options: Options = {}): PluginRegistry {
  registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, ...options });
  return registry;
}

/** Load a copy of `rel` under `name` (with extra manifest lines). */
function load(r: PluginRegistry, rel: string, name: string, extra = ""): Promise<PluginHandle> {
  return r.load(copyPlugin(rel, (t) => t.replace(/^name = ".*"$/m, `name = "${name}"`) + extra));
}

/** The status a C guest's plughost_request returns for `error`. */
const err = (error: RequestError) => 1 + REQUEST_ERROR_CODE[error];

/** A request-caller "ask" payload. */
const ask = (target: string, event: string, payload: string, timeoutMs = 0) => enc(`${target}\n${event}\n${timeoutMs}\n${payload}`);
/** A request-responder "relay" payload. */
const relay = (target: string, event: string, payload: string) => enc(`${target}\n${event}\n${payload}`);

/** A "whoami" answer as fields. */
function envelope(text: string): Record<string, string> {
  return Object.fromEntries(text.split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
}

const modes: [string, Options][] = [["v8 in process", { engine: "v8" }]];

describe.each(modes)("requests between C plugins (%s)", (_mode, options) => {
  it("answers with the target's hook output, and rejects with its status", async () => {
    const r = make(options);
    const caller = await load(r, CALLER, "caller");
    await load(r, RESPONDER, "resp");
    expect(await caller.hook("ask", ask("resp", "echo", "hello"))).toEqual({ ok: true, data: enc("hello") });
    expect(await caller.hook("ask", ask("resp", "reverse", "abc"))).toEqual({ ok: true, data: enc("cba") });
    expect(await caller.hook("ask", ask("resp", "reject", "x"))).toEqual({ ok: false, status: err("rejected") });
    expect(await caller.hook("ask", ask("nobody", "echo", "x"))).toEqual({ ok: false, status: err("unknown-target") });
    expect(await caller.hook("ask", ask("resp", "not-registered", "x"))).toEqual({ ok: false, status: err("not-handled") });
    expect(await caller.hook("ask", ask("resp", "Bad Name!", "x"))).toEqual({ ok: false, status: err("invalid-name") });
  });

  it("refuses a cycle (A asks B asks A) and a chain deeper than hostCalls.maxRequestDepth", async () => {
    const r = make({ ...options, hostCalls: { maxRequestDepth: 3 } });
    const a = await load(r, RESPONDER, "a");
    for (const name of ["b", "c", "d", "e"]) await load(r, RESPONDER, name);
    const text = async (p: Promise<{ ok: boolean }>) => {
      const o = (await p) as { ok: true; data: Uint8Array };
      expect(o.ok).toBe(true);
      return dec(o.data);
    };
    // Asking oneself, and asking back through another plugin.
    expect(await text(a.hook("relay", relay("a", "echo", "x")))).toBe(`err:${err("cycle")}`);
    expect(await text(a.hook("relay", relay("b", "relay", "a\necho\nx")))).toBe(`ok:err:${err("cycle")}`);
    // a, b and c waiting: three, the limit (d answers); d asking e would make four waiting.
    expect(await text(a.hook("relay", relay("b", "relay", "c\nrelay\nd\necho\nx")))).toBe("ok:ok:ok:x");
    expect(await text(a.hook("relay", relay("b", "relay", "c\nrelay\nd\nrelay\ne\necho\nx")))).toBe(`ok:ok:ok:err:${err("too-deep")}`);
  });

  it("gives each request an envelope: kind request, the caller as source, the caller's message as parent, its metadata inherited", async () => {
    const r = make(options);
    const a = await load(r, RESPONDER, "a");
    await load(r, RESPONDER, "b");
    const own = await a.hook("whoami", enc(""), { metadata: { tenant: "t1" } });
    const outer = envelope(dec((own as { data: Uint8Array }).data));
    expect(outer).toMatchObject({ parent: "-", source: "-", target: "a", event: "whoami", kind: String(MESSAGE_KIND_CODE.hook), meta: "tenant=t1" });
    const answer = await a.hook("relay", relay("b", "whoami", ""), { metadata: { tenant: "t2", trace: "x=1" } });
    const text = dec((answer as { data: Uint8Array }).data);
    expect(text.startsWith("ok:")).toBe(true);
    const inner = envelope(text.slice(3));
    expect(inner).toMatchObject({ source: "a", target: "b", event: "whoami", kind: String(MESSAGE_KIND_CODE.request), meta: "tenant=t2;trace=x=1" });
    expect(Number(inner.parent)).toBeGreaterThan(Number(outer.id));
    expect(Number(inner.id)).toBeGreaterThan(Number(inner.parent));
  });

  it("gives each synchronous answer its own bytes, whatever their size, nested answers included", async () => {
    // A guest's synchronous request has its answer written into one reused buffer (messaging/router.ts): short,
    // long (it grows) and over its 64 KiB cap (a copy), one after another and nested, each arrives intact.
    const r = make(options);
    const caller = await load(r, CALLER, "caller");
    const a = await load(r, RESPONDER, "a");
    await load(r, RESPONDER, "b");
    await load(r, RESPONDER, "c");
    const text = (n: number, seed: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(97 + ((i * 7 + seed) % 26))).join("");
    const reversed = (s: string) => [...s].reverse().join("");
    for (const [n, seed] of [[3, 1], [100, 2], [256, 3], [5, 4], [5000, 5], [70_000, 6], [257, 7], [16, 8]] as const) {
      const payload = text(n, seed);
      // "reverse" answers up to 256 bytes (the fixture's buffer); "echo" any size.
      const event = n <= 256 ? "reverse" : "echo";
      const expected = n <= 256 ? reversed(payload) : payload;
      expect(await caller.hook("ask", ask("a", event, payload))).toEqual({ ok: true, data: enc(expected) });
      expect(await caller.hook("ask", ask("c", "echo", payload))).toEqual({ ok: true, data: enc(payload) });
      // a asks b, which asks c while a waits: c's answer is read by b before b's own answer is written (the fixture's
      // relay answers up to 8 KiB).
      if (n > 8000) continue;
      const nested = (await a.hook("relay", relay("b", "relay", `c\n${event}\n${payload}`))) as { ok: true; data: Uint8Array };
      expect(dec(nested.data)).toBe(`ok:ok:${expected}`);
    }
  });
});

describe("envelopes of the host's calls and faults while answering", () => {
  it("invokeSync, hookSync and dispatch carry envelopes too; ids are unique and increasing", async () => {
    const r = make();
    const a = await load(r, RESPONDER, "a");
    const first = envelope(dec((a.hookSync("whoami", enc("")) as { data: Uint8Array }).data));
    const second = envelope(dec((a.hookSync("whoami", enc("")) as { data: Uint8Array }).data));
    expect(first).toMatchObject({ parent: "-", source: "-", target: "a", event: "whoami", kind: String(MESSAGE_KIND_CODE.hook), meta: "" });
    expect(Number(second.id)).toBeGreaterThan(Number(first.id));
    // A dispatch is one broadcast message: no target; the callback records what it saw.
    await r.dispatch("noted", enc("x"), { metadata: { tenant: "t3" } });
    const seen = envelope(dec((a.hookSync("last-noted", enc("")) as { data: Uint8Array }).data));
    expect(seen).toMatchObject({ parent: "-", source: "-", target: "-", event: "noted", kind: String(MESSAGE_KIND_CODE.event), meta: "tenant=t3" });
    expect(Number(seen.id)).toBeGreaterThan(Number(second.id));
    a.invokeSync("noted", enc("y"));
    const direct = envelope(dec((a.hookSync("last-noted", enc("")) as { data: Uint8Array }).data));
    expect(direct).toMatchObject({ target: "a", event: "noted", kind: String(MESSAGE_KIND_CODE.event), meta: "" });
    // A synchronous hook that requests: the request's parent is the hookSync's message.
    const relayed = dec((a.hookSync("relay", relay("b-missing", "echo", "")) as { data: Uint8Array }).data);
    expect(relayed).toBe(`err:${err("unknown-target")}`);
  });

  it("a dispatch is one message for all its subscribers, whether called directly or the ordinary way", async () => {
    const r = make();
    const a = await load(r, RESPONDER, "a");
    const w = await load(r, RESPONDER, "w", '\nisolation = "worker"\n');
    await load(r, RESPONDER, "z");
    const seenBy = async (p: PluginHandle) => envelope(dec(((await p.hook("last-noted", enc(""))) as { data: Uint8Array }).data));
    for (let round = 0; round < 2; round++) await r.dispatch("noted", enc("x")); // a direct, w through its worker, z direct again
    const [ea, ew, ez] = [await seenBy(a), await seenBy(w), await seenBy(r.get("z"))];
    expect(ea).toMatchObject({ source: "-", target: "-", event: "noted", kind: String(MESSAGE_KIND_CODE.event) });
    expect([ew.id, ez.id]).toEqual([ea.id, ea.id]);
    await r.dispatch("noted", enc("y"));
    const next = await seenBy(a);
    expect(Number(next.id)).toBeGreaterThan(Number(ea.id));
    expect((await seenBy(w)).id).toBe(next.id);
  });

  it("a target that faults while answering is failed for the caller, recorded, and recovered", async () => {
    const r = make({ recovery: { strategy: "restart", baseDelayMs: 0 } });
    const a = await load(r, CALLER, "a");
    await load(r, CALLER, "b");
    const faults: string[] = [];
    r.on("fault", (f) => faults.push(`${f.plugin}:${f.error.code}`));
    const restarted = new Promise((res) => r.once("restarted", res));
    expect(await a.hook("ask", ask("b", "trap", "x"))).toEqual({ ok: false, status: err("failed") });
    expect(faults).toEqual(["b:E_TRAP"]);
    await restarted;
    // Until the restart has settled, an in-process caller is told would-block (the target cannot answer now).
    for (let i = 0; i < 100 && ((await a.hook("ask", ask("b", "echo", "x"))) as { status?: number }).status === err("would-block"); i++) await new Promise((res) => setTimeout(res, 5));
    expect(await a.hook("ask", ask("b", "echo", "again"))).toEqual({ ok: true, data: enc("again") });
    expect(r.get("a").metrics.faults).toBe(0);
  });

  it("refuses a request without events:publish under the strict policy, as a capability violation", async () => {
    const r = make({ events: "strict", grants: { "*": ["events:subscribe:*"], allowed: ["events:publish:echo"] } });
    const extra = '\ncapabilities = ["events:subscribe:*"]\noptional-capabilities = ["events:publish:echo"]\n';
    const denied = await load(r, CALLER, "denied", extra);
    const allowed = await load(r, CALLER, "allowed", extra);
    await load(r, RESPONDER, "resp", '\ncapabilities = ["events:subscribe:*"]\n');
    const violations: string[] = [];
    r.on("violation", (v) => violations.push(`${v.plugin}:${v.kind}:${v.detail}`));
    expect(await allowed.hook("ask", ask("resp", "echo", "ok"))).toEqual({ ok: true, data: enc("ok") });
    expect(await denied.hook("ask", ask("resp", "echo", "no"))).toEqual({ ok: false, status: err("denied") });
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatch(/^denied:capability:request\("resp", "echo"\) denied: needs events:publish:echo$/);
  });

  it("passes requests through the call pipeline: the host call and the target's hook, child of the caller's call", async () => {
    const r = make();
    const a = await load(r, CALLER, "a");
    await load(r, RESPONDER, "resp");
    const calls: { plugin: string; event: string; kind: string; callId: number; parentCallId: number | undefined }[] = [];
    r.use(async (ctx, next) => {
      calls.push({ plugin: ctx.plugin, event: ctx.event, kind: ctx.kind, callId: ctx.callId, parentCallId: ctx.parentCallId });
      return next();
    });
    expect(await a.hook("ask", ask("resp", "echo", "through"))).toEqual({ ok: true, data: enc("through") });
    const outer = calls.find((c) => c.plugin === "a" && c.kind === "hook")!;
    const hostCall = calls.find((c) => c.kind === "host-call" && c.event === "request")!;
    const answer = calls.find((c) => c.plugin === "resp" && c.kind === "hook")!;
    expect(hostCall).toMatchObject({ plugin: "a", parentCallId: outer.callId });
    expect(answer).toMatchObject({ event: "echo", parentCallId: outer.callId });
  });
});

/** An interceptor that calls next() only after an await for the calls `matches` picks; what those next() return. */
function lateNext(r: PluginRegistry, matches: (ctx: CallContext) => boolean): Promise<unknown>[] {
  const late: Promise<unknown>[] = [];
  r.use(async (ctx, next) => {
    if (!matches(ctx)) return next();
    await Promise.resolve();
    const p = next();
    late.push(p);
    return p;
  });
  return late;
}

describe("request data lent by the engine for the call", () => {
  // In-process v8 hands requestSync a guest's request bytes in a buffer it reuses (engines/v8/host-imports.ts):
  // whatever may outlive the call gets its own copy.
  it("a host service keeps the data of each request it was given", async () => {
    const r = make();
    const caller = await load(r, CALLER, "caller");
    const kept: Uint8Array[] = [];
    r.addService("keep", (m) => {
      kept.push(m.data);
      return enc("ok");
    });
    // Same length: the engine's buffer is reused as is.
    expect(await caller.hook("ask", ask("keep", "note", "first1"))).toEqual({ ok: true, data: enc("ok") });
    expect(await caller.hook("ask", ask("keep", "note", "secnd2"))).toEqual({ ok: true, data: enc("ok") });
    expect(kept.map(dec)).toEqual(["first1", "secnd2"]);
  });

  it("a host-call interceptor's next() after an await gets the request's outcome; the request is not made again", async () => {
    const r = make();
    const caller = await load(r, CALLER, "caller");
    let asked = 0;
    r.addService("count", (m) => enc(`n${++asked}:${dec(m.data)}`));
    const late = lateNext(r, (ctx) => ctx.kind === "host-call" && ctx.event === "request");
    // The host call runs without the interceptor (it cannot wait on the host's thread), once.
    expect(await caller.hook("ask", ask("count", "x", "abc"))).toEqual({ ok: true, data: enc("n1:abc") });
    expect(late).toHaveLength(1);
    const outcome = await late[0];
    expect(outcome).toMatchObject({ ok: true });
    expect(dec((outcome as { value: Uint8Array }).value)).toBe("n1:abc");
    expect(asked).toBe(1);
  });

  it("a hook interceptor's next() after an await fails the synchronous request, and does not run the hook late", async () => {
    const r = make();
    const caller = await load(r, CALLER, "caller");
    await load(r, RESPONDER, "resp");
    const late = lateNext(r, (ctx) => ctx.kind === "hook" && ctx.plugin === "resp");
    expect(await caller.hook("ask", ask("resp", "echo", "hi"))).toEqual({ ok: false, status: err("failed") });
    expect(late).toHaveLength(1);
    await expect(late[0]).rejects.toBeInstanceOf(InterceptorFailed);
    await expect(late[0]).rejects.toThrow(/the call was not run/);
  });
});

describe("registry.request and host services", () => {
  it("the host asks a plugin; refusals are RequestFailed with a reason", async () => {
    const r = make();
    await load(r, RESPONDER, "resp");
    expect(dec(await r.request("resp", "reverse", enc("abc")))).toBe("cba");
    const rejected = await r.request("resp", "reject", enc("x")).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(RequestFailed);
    expect(rejected).toMatchObject({ code: "E_REQUEST_FAILED", reason: "rejected", status: 7, target: "resp", event: "reject" });
    await expect(r.request("nobody", "echo")).rejects.toMatchObject({ reason: "unknown-target" });
    await expect(r.request("resp", "nothing-here")).rejects.toMatchObject({ reason: "not-handled" });
    const who = envelope(dec(await r.request("resp", "whoami", enc(""), { metadata: { k: "v" } })));
    expect(who).toMatchObject({ parent: "-", source: "-", target: "resp", event: "whoami", kind: String(MESSAGE_KIND_CODE.request), meta: "k=v" });
  });

  it("a plugin asks a host service, which sees the request's Message; a promise answers only callers that can wait", async () => {
    const r = make();
    const caller = await load(r, CALLER, "caller");
    const seen: Message[] = [];
    r.addService("clock", (m) => {
      seen.push(m);
      return enc(`tick:${dec(m.data)}`);
    });
    r.addService("slow", async (m) => enc(`later:${dec(m.data)}`));
    expect(await caller.hook("ask", ask("clock", "now", "1"), { metadata: { tenant: "t" } })).toEqual({ ok: true, data: enc("tick:1") });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ source: "caller", target: "clock", event: "now", kind: "request", metadata: { tenant: "t" } });
    expect(seen[0]!.parentId).toBeLessThan(seen[0]!.id);
    // In-process v8 asks on the host's thread: the async service would block it.
    expect(await caller.hook("ask", ask("slow", "now", "2"))).toEqual({ ok: false, status: err("would-block") });
    expect(dec(await r.request("slow", "now", enc("3")))).toBe("later:3");
  });

  it("keeps plugin and service names apart", async () => {
    const r = make();
    await load(r, RESPONDER, "resp");
    expect(() => r.addService("resp", () => enc(""))).toThrow(ServiceNameTaken);
    expect(() => r.addService("Not A Name", () => enc(""))).toThrow(ServiceNameTaken);
    const remove = r.addService("svc", () => enc(""));
    expect(() => r.addService("svc", () => enc(""))).toThrow(ServiceNameTaken);
    await expect(load(r, RESPONDER, "svc")).rejects.toBeInstanceOf(ServiceNameTaken);
    remove();
    await load(r, RESPONDER, "svc");
  });

  it("caps a nested request's timeout by its caller's: the plugin in between is free when the host stops waiting", async () => {
    // No fuel limit: b spins until its deadline, whatever the machine's speed.
    const r = make({ isolation: "worker", defaultLimits: "unlimited" });
    await load(r, RESPONDER, "a");
    await load(r, CALLER, "b", "\n[limits]\ndeadline-ms = 2000\n");
    const t0 = Date.now();
    // a asks b, whose "spin" never answers; a's own request asked for the default 5 s, but the host waits 300 ms.
    const first = await r.request("a", "relay", relay("b", "spin", ""), { timeoutMs: 300 }).then(dec, (e: RequestFailed) => e.reason);
    expect([`err:${err("timeout")}`, "timeout"]).toContain(first);
    // a stopped waiting for b with the host: it answers again at once, long before b's deadline ends the spin.
    expect(dec(await r.request("a", "echo", enc("free"), { timeoutMs: 1500 }))).toBe("free");
    expect(Date.now() - t0).toBeLessThan(1500); // b spins until 2000 ms: a waited for it no longer than the host did
  });

  it("times out: the caller's wait ends, the late answer is dropped", async () => {
    const r = make({ hostCalls: { maxRequestTimeoutMs: 50 } });
    let answered = false;
    r.addService("never", () => new Promise<Uint8Array>((resolve) => setTimeout(() => { answered = true; resolve(enc("late")); }, 200)));
    const t0 = Date.now();
    await expect(r.request("never", "x", enc(""), { timeoutMs: 10_000 })).rejects.toMatchObject({ reason: "timeout" });
    expect(Date.now() - t0).toBeLessThan(190);
    expect(answered).toBe(false);
  });
});
