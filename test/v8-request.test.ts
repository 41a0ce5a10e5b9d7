// The `request` and `current-message` imports on the v8 engine, in process and in a worker: a real C plugin
// built from the SDK (test/fixtures/c/request-caller) and a hostile raw-ABI one (test/fixtures/c/request-hostile).
// The engine-level cases load one instance with the registry's own host calls (createHostCalls) whose request
// side is scripted, to check the lowering byte for byte; the registry cases run two real plugins asking each other.
import { describe, it, expect, afterEach } from "vitest";
import path from "node:path";
import { getEngine } from "../src/engines/index.js";
import type { EngineInstance, HostCalls, Isolation, Limits, MessageInfo, RequestOutcome } from "../src/engines/engine.js";
import { createHostCalls } from "../src/runtime/host-calls.js";
import { emptyMetrics } from "../src/runtime/metrics.js";
import { REQUEST_ERRORS, REQUEST_ERROR_CODE, type RequestError } from "../src/contract/abi.js";
import { AbiViolation, DeadlineExceeded, FuelExhausted, PlughostError } from "../src/contract/errors.js";
import { MAX_EVENT_NAME_BYTES } from "../src/contract/event-names.js";
import { PluginRegistry } from "../src/index.js";
import { copyPlugin, dec, enc, pluginDir, silentLogger } from "./helpers/plugins.js";

/** The C SDK's status for a refused request: 1 + the request-error code. */
const status = (e: RequestError): number => 1 + REQUEST_ERROR_CODE[e];

interface Asked {
  target: string;
  event: string;
  data: string;
  timeoutMs: number;
  how: "sync" | "async";
}

interface Script {
  answer?: (target: string, event: string, data: Uint8Array) => RequestOutcome;
  message?: MessageInfo | (() => MessageInfo | undefined);
  capabilities?: string[];
  limits?: Limits;
  /** Host calls with no request, requestSync or currentMessage at all. */
  bare?: boolean;
}

const open: EngineInstance[] = [];
/** While set, the scripted host's asynchronous requests wait for it. */
let hold: Promise<RequestOutcome> | undefined;
afterEach(async () => {
  await Promise.all(open.splice(0).map((i) => i.dispose().catch(() => undefined)));
});

async function load(rel: string, plugin: string, isolation: Isolation, script: Script = {}) {
  const asked: Asked[] = [];
  const denied: string[] = [];
  const capabilities = script.capabilities ?? ["events:publish:*"];
  const answer = script.answer ?? ((_t, _e, d) => ({ ok: true, value: d }));
  const base = createHostCalls({
    name: plugin,
    logger: silentLogger(),
    callbacks: new Set(),
    capabilities,
    metrics: emptyMetrics(),
    config: () => ({}),
    onRegistered: () => undefined,
    emit: () => ({ ok: false, error: "denied" }),
    send: () => ({ ok: false, error: "denied" }),
    onDenied: (capability, detail) => denied.push(`${capability}: ${detail}`),
  });
  let inCall = false;
  const host: HostCalls = {
    ...base,
    log: base.log.bind(base),
    registerCallback: base.registerCallback.bind(base),
    requestSync(target, event, data, timeoutMs) {
      asked.push({ target, event, data: dec(data), timeoutMs, how: "sync" });
      return answer(target, event, data);
    },
    async request(target, event, data, timeoutMs) {
      asked.push({ target, event, data: dec(data), timeoutMs, how: "async" });
      if (hold) return hold;
      // Answered later, as a request to another engine or host is (a timer for the first, a microtask after).
      if (asked.length === 1) await new Promise((r) => setTimeout(r, 20));
      else await null;
      return answer(target, event, data);
    },
    currentMessage() {
      if (!inCall) return undefined;
      const m = script.message;
      return typeof m === "function" ? m() : m;
    },
  };
  const instance = await (await getEngine("v8")).load({
    plugin,
    entryPath: path.join(pluginDir(rel), "plugin.wasm"),
    capabilities,
    limits: script.limits ?? {},
    host: script.bare ? { ...base, log: base.log.bind(base), registerCallback: base.registerCallback.bind(base) } : host,
    isolation,
  });
  open.push(instance);
  expect(await instance.init("0.1.0", "{}")).toBe(0);
  asked.length = 0; // plugin_init asks "no-such-plugin"
  inCall = true;
  return { instance, asked, denied };
}

const ask = (target: string, event: string, payload: string, timeoutMs = 0) => enc(`${target}\n${event}\n${timeoutMs}\n${payload}`);

const CALLER = "test/fixtures/c/request-caller";
const ISOLATIONS: [string, Isolation, "sync" | "async"][] = [
  ["in process", "in-process", "sync"],
  ["in a worker", "worker", "async"],
];

describe.each(ISOLATIONS)("v8 request and current-message, %s", (_label, isolation, how) => {
  it("lowers the answer into the guest (echoed, empty, 100 KB) and passes target, event, data and timeout", async () => {
    const { instance, asked } = await load(CALLER, "request-caller", isolation, {
      answer: (t, e, d) => (e === "empty" ? { ok: true, value: new Uint8Array(0) } : e === "big" ? { ok: true, value: new Uint8Array(100_000).fill(7) } : { ok: true, value: enc(`${t}/${e}/${dec(d)}`) }),
    });
    const out = await instance.onHook("ask", ask("responder", "echo", "héllo\n\0bytes", 250));
    expect(out).toEqual({ ok: true, data: enc("responder/echo/héllo\n\0bytes") });
    expect(asked).toEqual([{ target: "responder", event: "echo", data: "héllo\n\0bytes", timeoutMs: 250, how }]);
    expect(await instance.onHook("ask", ask("responder", "empty", ""))).toEqual({ ok: true, data: new Uint8Array(0) });
    const big = await instance.onHook("ask", ask("responder", "big", "x"));
    expect(big.ok && big.data.length).toBe(100_000);
    expect(big.ok && big.data.every((b) => b === 7)).toBe(true);
    // A 100 KB payload (over the worker's inline ring records: it crosses by the port) comes back whole.
    const payload = "0123456789".repeat(10_000);
    const long = await instance.onHook("ask", ask("responder", "echo", payload));
    expect(long.ok && dec(long.data)).toBe(`responder/echo/${payload}`);
    // Many answers in one call: the SDK frees each (a leak would show as memory growth, a double free as a trap).
    expect(await instance.onEvent("ask-n", enc(`20\nresponder\necho\n0\n${"z".repeat(3000)}`))).toBe(0);
    const before = instance.memoryBytes!();
    expect(await instance.onEvent("ask-n", enc(`300\nresponder\necho\n0\n${"z".repeat(3000)}`))).toBe(0);
    expect(instance.memoryBytes!() - before).toBeLessThanOrEqual(64 * 1024); // 900 KB if the answers leaked
  });

  it("maps every request-error to the SDK's status", async () => {
    const { instance } = await load(CALLER, "request-caller", isolation, {
      answer: (_t, e) => ({ ok: false, error: e as RequestError }),
    });
    for (const e of REQUEST_ERRORS) expect(await instance.onHook("ask", ask("t", e, ""))).toEqual({ ok: false, status: status(e) });
  });

  it("answers unknown-target in init (no message) and reads the envelope of the current call", async () => {
    const message: MessageInfo = {
      id: 2 ** 40 + 3,
      parentId: 17,
      source: "asker",
      target: "request-caller",
      eventName: "whoami",
      kind: "request",
      metadata: [
        ["traceparent", "00-abc-def-01"],
        ["tenant", "ünïcode"],
        ["empty", ""],
      ],
    };
    const { instance } = await load(CALLER, "request-caller", isolation, {
      message,
      answer: (t) => ({ ok: false, error: t === "no-such-plugin" ? "unknown-target" : "failed" }),
    });
    expect(await instance.onHook("init", new Uint8Array(0))).toEqual({ ok: true, data: enc(`message=0 request=${status("unknown-target")}`) });
    const out = await instance.onHook("whoami", new Uint8Array(0));
    expect(out.ok && dec(out.data)).toBe(
      `id=${2 ** 40 + 3} parent=17 source=asker target=request-caller event=whoami kind=2 meta=traceparent=00-abc-def-01;tenant=ünïcode;empty=`,
    );
    // The SDK releases each call's envelope: many calls do not grow the guest's memory.
    const before = instance.memoryBytes!();
    for (let i = 0; i < 1500; i++) await instance.onHook("whoami", new Uint8Array(0));
    expect(instance.memoryBytes!() - before).toBeLessThanOrEqual(64 * 1024);
  });

  it("reads a broadcast from the host: no parent, source or target, no metadata", async () => {
    const { instance } = await load(CALLER, "request-caller", isolation, {
      message: { id: 1, eventName: "whoami", kind: "hook", metadata: [] },
    });
    for (let i = 0; i < 3; i++) {
      const out = await instance.onHook("whoami", new Uint8Array(0));
      expect(out.ok && dec(out.data)).toBe("id=1 parent=- source=- target=- event=whoami kind=1 meta=");
    }
  });

  it("answers none when the host has no message, and unknown-target when it cannot route requests", async () => {
    const { instance } = await load(CALLER, "request-caller", isolation, { message: () => undefined });
    expect(await instance.onHook("whoami", new Uint8Array(0))).toEqual({ ok: true, data: enc("none") });
    // Host calls without request, requestSync and currentMessage (an embedding that wires none).
    const bare = await load(CALLER, "request-caller", isolation, { bare: true });
    expect(await bare.instance.onHook("whoami", new Uint8Array(0))).toEqual({ ok: true, data: enc("none") });
    expect(await bare.instance.onHook("ask", ask("t", "echo", "x"))).toEqual({ ok: false, status: status("unknown-target") });
  });

  it("refuses a too-large answer and a host that throws without faulting the guest", async () => {
    const { instance } = await load(CALLER, "request-caller", isolation, {
      answer: (_t, e) => {
        if (e === "throw") throw new Error("broken host");
        return { ok: true, value: new Uint8Array(e === "huge" ? 17 * 1024 * 1024 : 4) };
      },
    });
    expect(await instance.onHook("ask", ask("t", "huge", ""))).toEqual({ ok: false, status: status("too-large") });
    expect(await instance.onHook("ask", ask("t", "throw", ""))).toEqual({ ok: false, status: status("failed") });
    expect(await instance.onHook("ask", ask("t", "fine", ""))).toEqual({ ok: true, data: new Uint8Array(4) });
  });

  it("refuses an empty or over-long target and event name unread (invalid-name)", async () => {
    const { instance, asked } = await load(CALLER, "request-caller", isolation);
    expect(await instance.onHook("ask", ask("", "echo", "x"))).toEqual({ ok: false, status: status("invalid-name") });
    expect(await instance.onHook("ask", ask("t".repeat(1025), "echo", "x"))).toEqual({ ok: false, status: status("invalid-name") });
    expect(await instance.onHook("ask", ask("t", "e".repeat(MAX_EVENT_NAME_BYTES + 1), "x"))).toEqual({ ok: false, status: status("invalid-name") });
    expect(asked).toEqual([]);
    expect(await instance.onHook("ask", ask("t".repeat(1024), "e".repeat(MAX_EVENT_NAME_BYTES), "x"))).toEqual({ ok: true, data: enc("x") });
  });

  it("charges fuel for each request: a loop of them under a small budget runs out", async () => {
    const { instance } = await load(CALLER, "request-caller", isolation, { limits: { fuel: 400_000 } });
    expect(await instance.onEvent("ask-n", enc("10\nt\necho\n0\nx"))).toBe(0);
    await expect(instance.onEvent("ask-n", enc("1000000\nt\necho\n0\nx"))).rejects.toBeInstanceOf(FuelExhausted);
  });
});

describe("v8 request in a worker, disposed while it waits", () => {
  it("fails the waiting call with a typed fault, and the late answer is dropped", async () => {
    let settle: (o: RequestOutcome) => void = () => undefined;
    const { instance, asked } = await load(CALLER, "request-caller", "worker");
    // Replace the scripted answer with one that settles only when the test says so.
    const pending = new Promise<RequestOutcome>((res) => (settle = res));
    hold = pending;
    const call = instance.onHook("ask", ask("t", "held", "x")).then(
      () => undefined,
      (e: unknown) => e,
    );
    await expect.poll(() => asked.length).toBe(1);
    await instance.dispose();
    expect(await call).toBeInstanceOf(PlughostError);
    settle({ ok: true, value: enc("late") }); // the worker is gone: nothing is written, nothing throws
    await new Promise((r) => setTimeout(r, 20));
    hold = undefined;
  });
});

describe("v8 request fuel (in process)", () => {
  it("charges 1,000 per request plus 1 unit per 64 bytes copied in, before the host reads them", async () => {
    const { instance } = await load(CALLER, "request-caller", "in-process", {
      limits: { fuel: 100_000_000 },
      answer: () => ({ ok: false, error: "rejected" }), // no answer to copy back: the figures are the request's alone
    });
    // ask-n stops at the first refusal: one request per call. The second call of each size is measured (the
    // first pays for the guest's heap growing); both payloads are past the SDK's 4 KB argument arena, so the
    // guest's own work is the same and the difference is the host's charge for the request's bytes.
    const fuelOf = async (payload: string) => {
      for (let i = 0; i < 2; i++) expect(await instance.onEvent("ask-n", enc(`1\nt\necho\n0\n${payload}`))).toBe(status("rejected"));
      return instance.lastCallFuel!();
    };
    const small = await fuelOf("y".repeat(59 + 64 * 70)); // target, event and data: 71 units
    const big = await fuelOf("y".repeat(59 + 64 * 170)); // 171 units
    expect(big - small).toBeGreaterThanOrEqual(100);
    expect(big - small).toBeLessThanOrEqual(110);
    const none = await (async () => {
      for (let i = 0; i < 2; i++) expect(await instance.onEvent("ask-n", enc(`0\nt\necho\n0\n${"y".repeat(59 + 64 * 70)}`))).toBe(0);
      return instance.lastCallFuel!();
    })();
    expect(small - none).toBeGreaterThanOrEqual(1000 + 71);
  });

  it("charges the answer's copy back before it is lowered: a 1 MB answer does not fit a small budget", async () => {
    const { instance } = await load(CALLER, "request-caller", "in-process", {
      limits: { fuel: 20_000 },
      answer: (_t, e) => ({ ok: true, value: new Uint8Array(e === "big" ? 1 << 20 : 16) }),
    });
    expect(await instance.onHook("ask", ask("t", "small", ""))).toMatchObject({ ok: true });
    await expect(instance.onHook("ask", ask("t", "big", ""))).rejects.toBeInstanceOf(FuelExhausted);
  });
});

const HOSTILE = "test/fixtures/c/request-hostile";
/** Each attack of request-hostile and what it must end in: the status the guest reads, or a typed fault. */
const ATTACKS: [string, number | typeof AbiViolation][] = [
  ["ok", 0],
  ["oob-target", AbiViolation],
  ["oob-data", AbiViolation],
  ["huge-data", status("too-large")],
  ["huge-target", status("invalid-name")],
  ["bad-ret", AbiViolation],
  ["oob-ret", AbiViolation],
  ["bad-utf8", AbiViolation],
  ["garbage-answer", AbiViolation],
  ["misaligned-answer", 0], // list<u8> has alignment 1
  ["grow-answer", 0], // memory grew in cabi_realloc: the host writes through fresh views
  ["garbage-message", AbiViolation],
  ["misaligned-message", AbiViolation], // the metadata list needs alignment 4
  ["grow-message", 1 + 2],
  ["message-oob-ret", AbiViolation],
  ["message-bad-ret", AbiViolation],
  ["message", 1 + 2],
  ["reenter-answer", AbiViolation], // a request from inside cabi_realloc while the answer is lowered
];

describe.each(ISOLATIONS)("a hostile guest's request and current-message, %s", (_label, isolation) => {
  it.each(ATTACKS)("%s", async (attack, expected) => {
    const { instance } = await load(HOSTILE, "request-hostile", isolation, {
      message: { id: 9, parentId: 8, source: "someone", target: "request-hostile", eventName: attack, kind: "event", metadata: [["k", "v"], ["trace", "x".repeat(100)]] },
    });
    const call = instance.onEvent(attack, new Uint8Array(0));
    if (typeof expected === "number") {
      expect(await call).toBe(expected);
      return;
    }
    const err = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(expected);
    expect((err as AbiViolation).plugin).toBe("request-hostile");
  });
});

// ── two real plugins through the registry: the caller or the target in a worker ──

type RegistryOptions = NonNullable<ConstructorParameters<typeof PluginRegistry>[0]>;
let registry: PluginRegistry | undefined;
afterEach(async () => {
  await registry?.unloadAll();
  registry = undefined;
});

/** A copy of request-caller named `name`, in a worker when asked. */
function loadCaller(r: PluginRegistry, name: string, worker: boolean) {
  return r.load(copyPlugin(CALLER, (t) => t.replace(/^name = ".*"$/m, `name = "${name}"`) + (worker ? '\nisolation = "worker"\n' : "")));
}

function newRegistry(options: RegistryOptions = {}): PluginRegistry {
  registry = new PluginRegistry({ engine: "v8", logger: silentLogger(), cacheDir: false, grants: ["events:publish:*"], ...options });
  return registry;
}

const text = (o: { ok: boolean; data?: Uint8Array; status?: number }) => (o.ok ? dec(o.data!) : `status ${o.status}`);

describe("requests between v8 plugins in process and in workers (registry)", () => {
  it("a caller in a worker waits for a target in process, and for one in another worker", async () => {
    const r = newRegistry();
    const caller = await loadCaller(r, "asker", true);
    await loadCaller(r, "inline", false);
    await loadCaller(r, "isolated", true);
    // In init there is no message; its request named no loaded plugin.
    expect(text(await caller.hook("init", new Uint8Array(0)))).toBe(`message=0 request=${status("unknown-target")}`);
    expect(text(await caller.hook("ask", ask("inline", "upper", "abc")))).toBe("ABC");
    expect(text(await caller.hook("ask", ask("isolated", "upper", "def")))).toBe("DEF");
    expect(text(await caller.hook("ask", ask("isolated", "reject", "")))).toBe(`status ${status("rejected")}`);
    // The target reads its envelope: a request from the caller, whose own message is its parent.
    const outer = await caller.hook("whoami", new Uint8Array(0));
    const outerId = /^id=(\d+) /.exec(text(outer))![1];
    const inner = text(await caller.hook("ask", ask("isolated", "whoami", ""), { metadata: { tenant: "t1" } }));
    expect(inner).toMatch(new RegExp(`^id=\\d+ parent=\\d+ source=asker target=isolated event=whoami kind=2 meta=tenant=t1$`));
    expect(inner).not.toContain(`id=${outerId} `);
  });

  it("an in-process caller gets would-block from a target in a worker, and its answer from one in process", async () => {
    const r = newRegistry();
    const caller = await loadCaller(r, "asker", false);
    await loadCaller(r, "isolated", true);
    await loadCaller(r, "inline", false);
    expect(text(await caller.hook("ask", ask("isolated", "echo", "x")))).toBe(`status ${status("would-block")}`);
    expect(text(await caller.hook("ask", ask("inline", "echo", "x")))).toBe("x");
  });

  it("a worker caller's request to a spinning target times out; the caller goes on", async () => {
    const r = newRegistry({ defaultLimits: { deadlineMs: 2_000 } });
    const caller = await loadCaller(r, "asker", true);
    await loadCaller(r, "spinner", true);
    const started = Date.now();
    expect(text(await caller.hook("ask", ask("spinner", "spin", "", 150)))).toBe(`status ${status("timeout")}`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(text(await caller.hook("echo", enc("still here")))).toBe("still here");
  });

  it("a worker caller's wait ends with its deadline", async () => {
    const r = newRegistry();
    const caller = await r.load(
      copyPlugin(CALLER, (t) => t.replace(/^name = ".*"$/m, 'name = "asker"') + '\nisolation = "worker"\n[limits]\ndeadline-ms = 300\n'),
    );
    await loadCaller(r, "spinner", true);
    // The request's timeout (0: the host's 5 s default) is capped by the caller's remaining deadline.
    const started = Date.now();
    const outcome = await caller.hook("ask", ask("spinner", "spin", "")).then(
      (o) => text(o),
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeLessThan(2_500);
    // Whichever ends first: the request's timer (timeout), the target stopped at that deadline (failed), or the
    // caller's own deadline.
    if (typeof outcome === "string") expect([`status ${status("timeout")}`, `status ${status("failed")}`]).toContain(outcome);
    else expect(outcome).toBeInstanceOf(DeadlineExceeded);
  });

  it("a cycle through workers is refused, not deadlocked", async () => {
    const r = newRegistry();
    const a = await loadCaller(r, "a", true);
    await loadCaller(r, "b", true);
    // a asks b to ask a: b's request is refused (cycle), so b's hook fails with that status, which a sees as rejected.
    expect(text(await a.hook("ask", ask("b", "ask", "a\necho\n0\nx")))).toBe(`status ${status("rejected")}`);
    expect(text(await a.hook("ask", ask("b", "ask", "b\necho\n0\nx")))).toBe(`status ${status("rejected")}`);
  });

  it("a hostile guest's bad pointers fault that plugin only, with a typed error; it is restarted and answers again", async () => {
    const r = newRegistry();
    const hostile = await r.load(copyPlugin(HOSTILE, (t) => t + '\nisolation = "worker"\n'));
    await loadCaller(r, "t", false);
    await expect(hostile.invoke("oob-data", new Uint8Array(0))).rejects.toBeInstanceOf(AbiViolation);
    await expect(hostile.invoke("garbage-answer", new Uint8Array(0))).rejects.toBeInstanceOf(AbiViolation);
    await expect.poll(async () => hostile.invoke("ok", new Uint8Array(0)).catch((e: unknown) => e), { timeout: 5_000 }).toBe(0);
  });
});
