// `request` and `current-message` on the wasmtime engine, with the real addon and the C fixture
// test/fixtures/c/request-caller (built from the C SDK by the set-up).
//
// First through the Engine interface with a scripted host, which shows each path on its own: a synchronous call
// asks `requestSync` and is answered at once; an asynchronous call asks `request` and its call thread waits for the
// promise while the JS thread runs on; a dispose or the call's deadline ends that wait, a late answer is dropped;
// every request-error reaches the guest as its code; bounds are checked before anything is read. Then through
// PluginRegistry, between real plugins on both engines.
import { describe, it, expect, afterEach } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { EngineInstance, HookOutcome, Limits, MessageInfo, RequestOutcome } from "../src/engines/engine.js";
import { wasmtimeEngine } from "../src/engines/wasmtime/engine.js";
import { loadAddon } from "../src/engines/wasmtime/addon.js";
import { MESSAGE_KIND_CODE, REQUEST_ERRORS, REQUEST_ERROR_CODE, type RequestError } from "../src/contract/abi.js";
import { PluginRegistry, type PluginHandle } from "../src/index.js";
import { AbiViolation, DeadlineExceeded, FuelExhausted, PluginTrap } from "../src/contract/errors.js";
import type { HostCallBounds } from "../src/runtime/host-calls.js";
import { copyPlugin, dec, enc, pluginDir, silentLogger } from "./helpers/plugins.js";
import { RecordingHost } from "./fixtures/wasmtime/helpers.js";

const CALLER = "test/fixtures/c/request-caller";

interface Asked {
  path: "sync" | "async";
  target: string;
  event: string;
  data: string;
  timeoutMs: number;
}

/** A host whose request answers are scripted by each test. */
class RequestHost extends RecordingHost {
  asked: Asked[] = [];
  bounds: HostCallBounds = { maxMessageBytes: 16 * 1024 * 1024, maxLogBytes: 16384, callCost: 1 };
  answerSync: (target: string, event: string, data: Uint8Array) => RequestOutcome = (_t, _e, data) => ({ ok: true, value: data });
  answerAsync: (target: string, event: string, data: Uint8Array, timeoutMs: number) => Promise<RequestOutcome> = async (_t, _e, data) => ({
    ok: true,
    value: data,
  });
  message: MessageInfo | undefined;

  requestSync(target: string, event: string, data: Uint8Array, timeoutMs: number): RequestOutcome {
    this.asked.push({ path: "sync", target, event, data: dec(data), timeoutMs });
    return this.answerSync(target, event, data);
  }
  request(target: string, event: string, data: Uint8Array, timeoutMs: number): Promise<RequestOutcome> {
    this.asked.push({ path: "async", target, event, data: dec(data), timeoutMs });
    return this.answerAsync(target, event, data, timeoutMs);
  }
  currentMessage(): MessageInfo | undefined {
    return this.message;
  }
}

const open: EngineInstance[] = [];
afterEach(async () => {
  for (const i of open.splice(0)) await i.dispose();
});

async function loadCaller(host: RequestHost, limits: Limits = {}): Promise<EngineInstance> {
  const file = path.join(pluginDir(CALLER), "plugin.wasm");
  const instance = await wasmtimeEngine.load({
    plugin: "caller",
    entryPath: file,
    bytes: new Uint8Array(readFileSync(file)),
    capabilities: [],
    limits,
    host,
  });
  open.push(instance);
  expect(await instance.init("0.1.0", "{}")).toBe(0);
  return instance;
}

/** The fixture's "ask" hook input: target, event, timeout, payload. */
const ask = (target: string, event: string, payload: string, timeoutMs = 0) => enc(`${target}\n${event}\n${timeoutMs}\n${payload}`);
const text = (o: HookOutcome) => (o.ok ? dec(o.data) : `status ${o.status}`);
/** The status plughost_request returns for a refusal (plughost.h PLUGHOST_REQUEST_ERR). */
const refused = (error: RequestError) => `status ${1 + REQUEST_ERROR_CODE[error]}`;

describe("wasmtime request: the two paths", () => {
  it("a synchronous call asks requestSync and gets the answer at once; an empty answer is NULL, 0", async () => {
    const host = new RequestHost();
    host.answerSync = (target, event, data) => ({ ok: true, value: enc(`${target}/${event}/${dec(data).toUpperCase()}`) });
    const caller = await loadCaller(host);
    host.asked = [];
    expect(text(caller.onHookSync!("ask", ask("svc", "echo", "hello", 250)))).toBe("svc/echo/HELLO");
    expect(host.asked).toEqual([{ path: "sync", target: "svc", event: "echo", data: "hello", timeoutMs: 250 }]);
    host.answerSync = () => ({ ok: true, value: new Uint8Array(0) });
    const empty = caller.onHookSync!("ask", ask("svc", "empty", ""));
    expect(empty.ok && empty.data.length).toBe(0);
  });

  it("an asynchronous call asks request; its thread waits for the promise while the JS thread runs on", async () => {
    const host = new RequestHost();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const caller = await loadCaller(host);
    host.answerAsync = (_t, _e, data) => new Promise((resolve) => setTimeout(() => resolve({ ok: true, value: enc(`late:${dec(data)}`) }), 150));
    host.asked = [];
    try {
      const t0 = performance.now();
      const out = await caller.onHook("ask", ask("svc", "echo", "x".repeat(1000), 900));
      expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
      expect(text(out)).toBe(`late:${"x".repeat(1000)}`);
      expect(ticks).toBeGreaterThan(5); // the JS thread's timers fired while the guest waited
      expect(host.asked).toEqual([{ path: "async", target: "svc", event: "echo", data: "x".repeat(1000), timeoutMs: 900 }]);
    } finally {
      clearInterval(timer);
    }
    // Many requests in one call, each waited for in turn.
    let n = 0;
    host.answerAsync = async () => ({ ok: true, value: enc(String(++n)) });
    expect(await caller.onEvent("ask-n", enc(`50\nsvc\necho\n0\npayload`))).toBe(0);
    expect(n).toBe(50);
  });

  it("every request-error reaches the guest as its code, on both paths", async () => {
    const host = new RequestHost();
    const caller = await loadCaller(host);
    for (const error of REQUEST_ERRORS) {
      host.answerSync = () => ({ ok: false, error });
      host.answerAsync = async () => ({ ok: false, error });
      expect(text(caller.onHookSync!("ask", ask("svc", "echo", "x")))).toBe(refused(error));
      expect(text(await caller.onHook("ask", ask("svc", "echo", "x")))).toBe(refused(error));
    }
  });

  it("a host without request functions answers unknown-target; one that throws answers failed", async () => {
    const bare = new RecordingHost();
    const file = path.join(pluginDir(CALLER), "plugin.wasm");
    const instance = await wasmtimeEngine.load({ plugin: "bare", entryPath: file, bytes: new Uint8Array(readFileSync(file)), capabilities: [], limits: {}, host: bare });
    open.push(instance);
    expect(await instance.init("0.1.0", "{}")).toBe(0);
    // plugin_init's own request (to no-such-plugin) was refused the same way.
    expect(text(await instance.onHook("init", new Uint8Array()))).toBe(`message=0 request=${1 + REQUEST_ERROR_CODE["unknown-target"]}`);
    expect(text(instance.onHookSync!("ask", ask("svc", "echo", "x")))).toBe(refused("unknown-target"));
    expect(text(await instance.onHook("ask", ask("svc", "echo", "x")))).toBe(refused("unknown-target"));

    const host = new RequestHost();
    host.answerSync = () => {
      throw new Error("broken host");
    };
    host.answerAsync = () => Promise.reject(new Error("broken host"));
    const caller = await loadCaller(host);
    expect(text(caller.onHookSync!("ask", ask("svc", "echo", "x")))).toBe(refused("failed"));
    expect(text(await caller.onHook("ask", ask("svc", "echo", "x")))).toBe(refused("failed"));
  });

  it("the host's timeout settles the promise and releases the call thread", async () => {
    const host = new RequestHost();
    // As the registry does: no answer within timeoutMs is `timeout`; the late answer is dropped.
    const caller = await loadCaller(host);
    host.answerAsync = (_t, _e, _d, timeoutMs) => new Promise((resolve) => setTimeout(() => resolve({ ok: false, error: "timeout" }), timeoutMs));
    const t0 = performance.now();
    expect(text(await caller.onHook("ask", ask("svc", "slow", "x", 80)))).toBe(refused("timeout"));
    expect(performance.now() - t0).toBeLessThan(1000);
    // The thread is free: the next call runs.
    host.answerAsync = async () => ({ ok: true, value: enc("next") });
    expect(text(await caller.onHook("ask", ask("svc", "echo", "x")))).toBe("next");
  });

  it("a dispose ends the wait at once; the answer that comes later is dropped", async () => {
    const host = new RequestHost();
    let settle: ((o: RequestOutcome) => void) | undefined;
    const caller = await loadCaller(host);
    host.answerAsync = () => new Promise((resolve) => (settle = resolve));
    const pending = caller.onHook("ask", ask("svc", "never", "x"));
    await new Promise((r) => setTimeout(r, 50));
    expect(settle).toBeDefined();
    const t0 = performance.now();
    await caller.dispose();
    await expect(pending).rejects.toBeInstanceOf(PluginTrap);
    expect(performance.now() - t0).toBeLessThan(500);
    settle!({ ok: true, value: enc("too late") }); // nobody waits: dropped, nothing breaks
    await new Promise((r) => setTimeout(r, 20));
    expect(loadAddon().completeRequest(0xfffffff0, -1, null)).toBe(false); // an unknown ticket is dropped too
  });

  it("the caller's deadline ends the wait: DeadlineExceeded", async () => {
    const host = new RequestHost();
    const caller = await loadCaller(host, { deadlineMs: 150 });
    host.answerAsync = () => new Promise(() => undefined); // never settles
    const t0 = performance.now();
    await expect(caller.onHook("ask", ask("svc", "never", "x"))).rejects.toBeInstanceOf(DeadlineExceeded);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(1000);
  });
});

describe("wasmtime request: bounds", () => {
  it("refuses an over-long or empty target, an over-long event name and an over-large payload unread", async () => {
    const host = new RequestHost();
    host.bounds = { ...host.bounds, maxMessageBytes: 64 };
    const caller = await loadCaller(host);
    host.asked = [];
    for (const sync of [true, false]) {
      const call = async (data: Uint8Array) => text(sync ? caller.onHookSync!("ask", data) : await caller.onHook("ask", data));
      expect(await call(ask("t".repeat(1025), "echo", "x"))).toBe(refused("invalid-name"));
      expect(await call(ask("", "echo", "x"))).toBe(refused("invalid-name"));
      expect(await call(ask("svc", "e".repeat(129), "x"))).toBe(refused("invalid-name"));
      expect(await call(ask("svc", "echo", "p".repeat(65)))).toBe(refused("too-large"));
      // At the bounds, the request goes to the host.
      expect(await call(ask("t".repeat(1024), "e".repeat(128), "p".repeat(64)))).toBe("p".repeat(64));
      // An answer over the bound is too large for the guest as well.
      host.answerSync = () => ({ ok: true, value: new Uint8Array(65) });
      host.answerAsync = async () => ({ ok: true, value: new Uint8Array(65) });
      expect(await call(ask("svc", "echo", "x"))).toBe(refused("too-large"));
      host.answerSync = (_t, _e, data) => ({ ok: true, value: data });
      host.answerAsync = async (_t, _e, data) => ({ ok: true, value: data });
    }
    expect(host.asked.map((a) => a.path)).toEqual(["sync", "sync", "async", "async"]);
  });
});

describe("wasmtime current-message", () => {
  const message: MessageInfo = {
    id: 2 ** 40 + 7,
    parentId: 41,
    source: "asker",
    target: "caller",
    eventName: "whoami",
    kind: "request",
    metadata: [
      ["traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
      ["tenant", "ünïcode ✓"],
      ["", ""],
    ],
  };

  it("answers the host's envelope, every field, on both paths; none when there is none", async () => {
    const host = new RequestHost();
    const caller = await loadCaller(host);
    const expected = `id=${2 ** 40 + 7} parent=41 source=asker target=caller event=whoami kind=2 meta=traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01;tenant=ünïcode ✓;=`;
    host.message = message;
    expect(text(caller.onHookSync!("whoami", new Uint8Array()))).toBe(expected);
    expect(text(await caller.onHook("whoami", new Uint8Array()))).toBe(expected);
    host.message = { id: 1, eventName: "whoami", kind: "event", metadata: [] };
    expect(text(caller.onHookSync!("whoami", new Uint8Array()))).toBe("id=1 parent=- source=- target=- event=whoami kind=0 meta=");
    host.message = { id: 3, eventName: "hooked", kind: "hook", metadata: [["k", "v"]], source: "s" };
    expect(text(await caller.onHook("whoami", new Uint8Array()))).toBe("id=3 parent=- source=s target=- event=hooked kind=1 meta=k=v");
    host.message = undefined;
    expect(text(await caller.onHook("whoami", new Uint8Array()))).toBe("none");
    // plugin_init saw no message (the host had none), and its request was answered (the scripted echo).
    expect(text(await caller.onHook("init", new Uint8Array()))).toBe("message=0 request=0");
  });
});

describe("wasmtime request: fuel", () => {
  it("charges 1,000 per request plus 1 unit per 64 bytes copied in, and a loop of requests under a small budget runs out", async () => {
    const host = new RequestHost();
    const caller = await loadCaller(host, { fuel: 100_000_000 });
    host.answerAsync = async () => ({ ok: false, error: "rejected" }); // no answer to copy back: the request's figures alone
    // ask-n stops at the first refusal: one request per call; the second call of each size is measured (the first
    // pays for the guest's heap growing). The payloads differ by 6,400 bytes: 100 units.
    const fuelOf = async (n: number, payload: string) => {
      for (let i = 0; i < 2; i++) expect(await caller.onEvent("ask-n", enc(`${n}\nt\necho\n0\n${payload}`))).toBe(n === 0 ? 0 : 1 + REQUEST_ERROR_CODE.rejected);
      return caller.lastCallFuel!();
    };
    const small = await fuelOf(1, "y".repeat(59 + 64 * 70)); // target, event and data: 71 units
    const big = await fuelOf(1, "y".repeat(59 + 64 * 170)); // 171 units
    expect(big - small).toBeGreaterThanOrEqual(100);
    expect(big - small).toBeLessThanOrEqual(110);
    const none = await fuelOf(0, "y".repeat(59 + 64 * 70));
    expect(small - none).toBeGreaterThanOrEqual(1000 + 71);

    const tight = await loadCaller(new RequestHost(), { fuel: 400_000 });
    expect(await tight.onEvent("ask-n", enc("10\nt\necho\n0\nx"))).toBe(0);
    await expect(tight.onEvent("ask-n", enc("1000000\nt\necho\n0\nx"))).rejects.toBeInstanceOf(FuelExhausted);
  });

  it("charges the answer's copy back before it is lowered: a 1 MB answer does not fit a small budget", async () => {
    const host = new RequestHost();
    const caller = await loadCaller(host, { fuel: 20_000 });
    host.answerAsync = async (_t, e) => ({ ok: true, value: new Uint8Array(e === "big" ? 1 << 20 : 16) });
    expect(await caller.onHook("ask", ask("t", "small", ""))).toMatchObject({ ok: true });
    await expect(caller.onHook("ask", ask("t", "big", ""))).rejects.toBeInstanceOf(FuelExhausted);
  });
});

describe("wasmtime request: a hostile guest", () => {
  const HOSTILE = "test/fixtures/c/request-hostile";
  const st = (error: RequestError) => 1 + REQUEST_ERROR_CODE[error];
  /** Each attack of request-hostile and what it must end in: the status the guest reads, or a typed fault (as on v8). */
  const ATTACKS: [string, number | "abi" | "trap"][] = [
    ["ok", 0],
    ["oob-target", "abi"],
    ["oob-data", "abi"],
    ["huge-data", st("too-large")],
    ["huge-target", st("invalid-name")],
    ["bad-ret", "abi"],
    ["oob-ret", "abi"],
    ["bad-utf8", "abi"],
    ["garbage-answer", "abi"],
    ["misaligned-answer", 0], // list<u8> has alignment 1
    ["grow-answer", 0], // memory grew in cabi_realloc
    ["garbage-message", "abi"],
    ["misaligned-message", "abi"], // the metadata list needs alignment 4
    ["grow-message", 1 + 2],
    ["message-oob-ret", "abi"],
    ["message-bad-ret", "abi"],
    ["message", 1 + 2],
    // A request from inside cabi_realloc while the answer is lowered: wasmtime's own canonical ABI check traps (v8's
    // imports refuse it as an AbiViolation): a typed fault of that plugin either way.
    ["reenter-answer", "trap"],
  ];

  it.each(ATTACKS)("%s, on both paths", async (attack, expected) => {
    for (const sync of [false, true]) {
      const host = new RequestHost();
      host.message = { id: 9, parentId: 8, source: "someone", target: "request-hostile", eventName: attack, kind: "event", metadata: [["k", "v"], ["trace", "x".repeat(100)]] };
      const file = path.join(pluginDir(HOSTILE), "plugin.wasm");
      const instance = await wasmtimeEngine.load({ plugin: "request-hostile", entryPath: file, bytes: new Uint8Array(readFileSync(file)), capabilities: [], limits: {}, host });
      open.push(instance);
      expect(await instance.init("0.1.0", "{}")).toBe(0);
      const outcome = await (sync ? Promise.resolve().then(() => instance.onEventSync!(attack, new Uint8Array(0))) : instance.onEvent(attack, new Uint8Array(0))).then(
        (n) => n,
        (e: unknown) => e,
      );
      if (typeof expected === "number") {
        expect(outcome).toBe(expected);
      } else if (expected === "trap") {
        expect(outcome).toBeInstanceOf(PluginTrap);
        expect((outcome as PluginTrap).message).toMatch(/cannot leave component instance/);
        expect((outcome as PluginTrap).plugin).toBe("request-hostile");
      } else {
        expect(outcome).toBeInstanceOf(AbiViolation);
        expect((outcome as AbiViolation).plugin).toBe("request-hostile");
      }
    }
  });
});

// ── through PluginRegistry, between real plugins ────────────────────────────

const RESPONDER = "test/fixtures/c/request-responder";
type Options = NonNullable<ConstructorParameters<typeof PluginRegistry>[0]>;
let registry: PluginRegistry | undefined;
afterEach(async () => {
  await registry?.unloadAll();
  registry = undefined;
});

function make(options: Options = {}): PluginRegistry {
  registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, engine: "wasmtime", ...options });
  return registry;
}

/** Load a copy of `rel` under `name`, on `engine` (the registry's default: wasmtime). */
function loadAs(r: PluginRegistry, rel: string, name: string, engine?: "v8" | "wasmtime", extra = ""): Promise<PluginHandle> {
  return r.load(
    copyPlugin(rel, (t) => {
      let out = t.replace(/^name = ".*"$/m, `name = "${name}"`);
      if (engine) out = out.replace(/^entry = .*$/m, (e) => `${e}\nengine = "${engine}"`);
      return out + extra;
    }),
  );
}

const status = (error: RequestError) => ({ ok: false, status: 1 + REQUEST_ERROR_CODE[error] });
/** A request-responder "relay" payload. */
const relay = (target: string, event: string, payload: string) => enc(`${target}\n${event}\n${payload}`);
/** A "whoami" answer as fields. */
const envelope = (s: string): Record<string, string> => Object.fromEntries(s.split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));

describe("wasmtime request through the registry", () => {
  it("a wasmtime plugin asks another on its call thread: answers, rejections, refusals", async () => {
    const r = make();
    const caller = await loadAs(r, CALLER, "caller");
    await loadAs(r, RESPONDER, "resp");
    expect(r.info("caller").engine).toBe("wasmtime");
    expect(text(await caller.hook("ask", ask("resp", "reverse", "abc")))).toBe("cba");
    expect(await caller.hook("ask", ask("resp", "reject", "x"))).toEqual(status("rejected"));
    expect(await caller.hook("ask", ask("nobody", "echo", "x"))).toEqual(status("unknown-target"));
    expect(await caller.hook("ask", ask("resp", "not-registered", "x"))).toEqual(status("not-handled"));
    // Many in one call, each waited for on the call thread.
    expect(await caller.invoke("ask-n", enc("20\nresp\necho\n0\npayload"))).toBe(0);
  });

  it("asks across engines: wasmtime to in-process v8 and v8 in a worker, and a v8 worker to wasmtime", async () => {
    const r = make();
    const caller = await loadAs(r, CALLER, "caller");
    await loadAs(r, RESPONDER, "inproc", "v8");
    await loadAs(r, RESPONDER, "worker", "v8", '\n[limits]\ndeadline-ms = 5000\n');
    expect(r.info("inproc").engine).toBe("v8");
    expect(text(await caller.hook("ask", ask("inproc", "reverse", "abc")))).toBe("cba");
    expect(text(await caller.hook("ask", ask("worker", "reverse", "xyz")))).toBe("zyx");
    await loadAs(r, RESPONDER, "wt", "wasmtime");
    const asker = await loadAs(r, CALLER, "asker", "v8", '\n[limits]\ndeadline-ms = 5000\n');
    expect(text(await asker.hook("ask", ask("wt", "reverse", "123")))).toBe("321");
  });

  it("several call threads wait at once, each for its own answers", async () => {
    const r = make();
    await loadAs(r, RESPONDER, "inproc", "v8");
    await loadAs(r, RESPONDER, "wt");
    const callers = await Promise.all([0, 1, 2, 3].map((i) => loadAs(r, CALLER, `caller${i}`)));
    const statuses = await Promise.all(
      callers.flatMap((c, i) => [
        c.invoke("ask-n", enc(`100\n${i % 2 ? "inproc" : "wt"}\necho\n0\nfrom ${i}`)),
        c.hook("ask", ask(i % 2 ? "wt" : "inproc", "reverse", `caller ${i}`)).then(text),
      ]),
    );
    expect(statuses).toEqual(callers.flatMap((_, i) => [0, [...`caller ${i}`].reverse().join("")]));
  });

  it("refuses a cycle between wasmtime plugins instead of deadlocking their call threads", async () => {
    const r = make();
    const a = await loadAs(r, RESPONDER, "a");
    await loadAs(r, RESPONDER, "b");
    expect(text(await a.hook("relay", relay("b", "relay", "a\necho\nx")))).toBe(`ok:err:${1 + REQUEST_ERROR_CODE.cycle}`);
    expect(text(await a.hook("relay", relay("b", "relay", "c\necho\nx")))).toBe(`ok:err:${1 + REQUEST_ERROR_CODE["unknown-target"]}`);
    expect(text(await a.hook("relay", relay("b", "echo", "fine")))).toBe("ok:fine");
  });

  it("a target that does not answer in time: the caller gets timeout and its thread runs on; a faulting target is failed", async () => {
    const r = make({ hostCalls: { maxRequestTimeoutMs: 100 } });
    const caller = await loadAs(r, CALLER, "caller");
    await loadAs(r, CALLER, "spinner", undefined, '\n[limits]\ndeadline-ms = 400\n');
    const t0 = performance.now();
    expect(await caller.hook("ask", ask("spinner", "spin", "x", 5000))).toEqual(status("timeout"));
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(90);
    expect(took).toBeLessThan(380); // released by the request timeout, not by the spinner's deadline
    // The caller's thread is free at once; the spinner is busy until its deadline stops it, then recovered.
    expect(text(await caller.hook("whoami", enc("")))).toMatch(/^id=\d+ /);
    // Asked again until it answers (each ask times out after 100 ms while the spinner is busy or restarting).
    const eventually = async (payload: string) => {
      let got = "";
      for (let i = 0; i < 40 && got !== payload; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        got = text(await caller.hook("ask", ask("spinner", "echo", payload)));
      }
      return got;
    };
    expect(await eventually("back")).toBe("back");
    expect(await caller.hook("ask", ask("spinner", "trap", "x"))).toEqual(status("failed"));
    // The registry replaces the faulted instance; once it is back it answers again.
    expect(await eventually("recovered")).toBe("recovered");
  });

  it("a synchronous wasmtime call asks with requestSync: in-process v8 answers now; a host service that would wait is would-block", async () => {
    const r = make();
    const caller = await loadAs(r, CALLER, "caller");
    await loadAs(r, RESPONDER, "inproc", "v8");
    r.addService("now", (m) => enc(`now:${dec(m.data)}`));
    r.addService("later", async (m) => enc(`later:${dec(m.data)}`));
    expect(text(caller.hookSync("ask", ask("inproc", "reverse", "abc")))).toBe("cba");
    expect(text(caller.hookSync("ask", ask("now", "t", "1")))).toBe("now:1");
    expect(caller.hookSync("ask", ask("later", "t", "2"))).toEqual(status("would-block"));
    // The same service from the call thread, which can wait.
    expect(text(await caller.hook("ask", ask("later", "t", "3")))).toBe("later:3");
  });

  it("an in-process v8 plugin's requestSync is answered by an idle wasmtime plugin on the JS thread; a busy one is would-block", async () => {
    const r = make({ defaultLimits: "unlimited" }); // the spin below runs until its deadline, not out of fuel
    const asker = await loadAs(r, CALLER, "asker", "v8");
    const wt = await loadAs(r, CALLER, "wt", "wasmtime", '\n[limits]\ndeadline-ms = 300\n');
    expect(text(await asker.hook("ask", ask("wt", "upper", "abc")))).toBe("ABC");
    expect(text(asker.hookSync("ask", ask("wt", "echo", "")))).toBe("");
    // Busy on its call thread: the v8 plugin cannot wait for it.
    const spinning = wt.hook("spin", enc(""));
    expect(await asker.hook("ask", ask("wt", "echo", "x"))).toEqual(status("would-block"));
    await expect(spinning).rejects.toBeInstanceOf(DeadlineExceeded);
  });

  it("current-message: the hook's envelope with its metadata, and a request's (kind request, source, parent, metadata inherited)", async () => {
    const r = make();
    const a = await loadAs(r, RESPONDER, "a");
    await loadAs(r, RESPONDER, "b");
    const outer = envelope(text(await a.hook("whoami", enc(""), { metadata: { tenant: "t1" } })));
    expect(outer).toMatchObject({ parent: "-", source: "-", target: "a", event: "whoami", kind: String(MESSAGE_KIND_CODE.hook), meta: "tenant=t1" });
    const answer = text(await a.hook("relay", relay("b", "whoami", ""), { metadata: { tenant: "t2", trace: "ünï" } }));
    expect(answer.startsWith("ok:")).toBe(true);
    const inner = envelope(answer.slice(3));
    expect(inner).toMatchObject({ source: "a", target: "b", event: "whoami", kind: String(MESSAGE_KIND_CODE.request), meta: "tenant=t2;trace=ünï" });
    expect(Number(inner.parent)).toBeGreaterThan(Number(outer.id));
    expect(Number(inner.id)).toBeGreaterThan(Number(inner.parent));
    // None in init.
    const caller = await loadAs(r, CALLER, "caller");
    expect(text(await caller.hook("init", enc("")))).toBe(`message=0 request=${1 + REQUEST_ERROR_CODE["unknown-target"]}`);
  });
});

describe("wasmtime request: fuel as on v8", () => {
  it("a request and a current-message cost the same fuel on both engines (within the cross-engine ±10 %)", async () => {
    const fuel = async (engine: "v8" | "wasmtime") => {
      const r = make({ engine, defaultLimits: { fuel: 1_000_000_000 } });
      const caller = await loadAs(r, CALLER, "caller");
      await loadAs(r, RESPONDER, "resp", "v8");
      const out: number[] = [];
      for (const [event, data] of [
        ["ask", ask("resp", "echo", "x".repeat(4096))],
        ["ask", ask("resp", "echo", "")],
        ["ask", ask("nobody", "echo", "x")],
        ["whoami", enc("")],
      ] as const) {
        const o = await caller.hook(event, data, { metadata: { tenant: "t".repeat(500) } });
        expect(o.ok || event === "ask").toBe(true);
        out.push(r.metrics("caller").lastCallFuel);
      }
      await r.unloadAll();
      return out;
    };
    const v8 = await fuel("v8");
    const wt = await fuel("wasmtime");
    for (let i = 0; i < v8.length; i++) {
      expect(v8[i]).toBeGreaterThan(1000);
      expect(Math.abs(wt[i]! - v8[i]!) / v8[i]!).toBeLessThanOrEqual(0.1);
    }
  });
});
