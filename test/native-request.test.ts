// Request/response and the message envelope for native plugins (C ABI .so): the engine with a
// host that answers (trusted: requestSync, on the host's thread; sandboxed: request, answered later
// while the helper waits), hostile sandboxed plugins forging request frames, and through the registry.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createNativeEngine, nativeEngine } from "../src/engines/native/engine.js";
import type { EngineInstance, HookOutcome, MessageInfo, RequestOutcome, TrustLevel } from "../src/engines/engine.js";
import { REQUEST_ERROR_CODE, type RequestError } from "../src/contract/abi.js";
import { AbiViolation, DeadlineExceeded, PluginCrashed, RequestFailed } from "../src/contract/errors.js";
import { PluginRegistry } from "../src/runtime/registry.js";
import { currentDelivery, withDelivery, type Delivery } from "../src/runtime/message-chain.js";
import { bytes, fixture, recordingHost, request, root, until, type RecordingHost } from "./native-helpers.js";

const live: EngineInstance[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((i) => i.dispose().catch(() => {})));
});

const text = (b: Uint8Array) => Buffer.from(b).toString();
const status = (e: RequestError) => 1 + REQUEST_ERROR_CODE[e];
const ask = (target: string, event: string, payload: string, timeoutMs = 0) => bytes(`${target}\n${event}\n${timeoutMs}\n${payload}`);

interface Asked {
  target: string;
  event: string;
  data: string;
  timeoutMs: number;
  delivery: Delivery | undefined;
}

interface RequestHost extends RecordingHost {
  asked: Asked[];
  message: MessageInfo | undefined;
}

/** A host whose requests answer with `answer` (sync for trusted; for sandboxed after `delayMs`, except init's). */
function requestHost(answer: (a: Asked) => RequestOutcome, delayMs = 0): RequestHost {
  const host = recordingHost() as RequestHost;
  host.asked = [];
  host.message = undefined;
  const record = (target: string, event: string, data: Uint8Array, timeoutMs: number): Asked => {
    const a = { target, event, data: text(data), timeoutMs, delivery: currentDelivery() };
    host.asked.push(a);
    return a;
  };
  host.requestSync = (target, event, data, timeoutMs) => answer(record(target, event, data, timeoutMs));
  host.request = async (target, event, data, timeoutMs) => {
    const a = record(target, event, data, timeoutMs);
    if (delayMs && target !== "no-such-plugin") await new Promise((r) => setTimeout(r, delayMs)); // init's asks at once
    return answer(a);
  };
  host.currentMessage = () => host.message;
  return host;
}

const echoUpper = (a: Asked): RequestOutcome =>
  a.target === "nobody" ? { ok: false, error: "unknown-target" } : { ok: true, value: bytes(a.data.toUpperCase()) };

async function start(trust: TrustLevel, host: RequestHost, name = "requester", engine = nativeEngine) {
  const inst = await engine.load(request(name, trust, host));
  live.push(inst);
  expect(await inst.init("0.1.0", "{}")).toBe(0);
  return inst;
}

function output(r: HookOutcome): string {
  if (!r.ok) throw new Error(`hook failed with status ${r.status}`);
  return text(r.data);
}

const envelope: MessageInfo = {
  id: 2 ** 40 + 7,
  parentId: 41,
  source: "caller",
  target: "requester",
  eventName: "whoami",
  kind: "request",
  metadata: [
    ["trace", "abc"],
    ["user", "zoë ✓"],
  ],
};

for (const trust of ["trusted", "untrusted"] as const) {
  describe(`native request, ${trust}`, () => {
    it("answers a request with the host's bytes, which the plugin owns and frees", async () => {
      const host = requestHost(echoUpper);
      const inst = await start(trust, host);
      expect(output(await inst.onHook("ask", ask("other", "upper", "hello world", 250)))).toBe("HELLO WORLD");
      expect(host.asked.at(-1)).toMatchObject({ target: "other", event: "upper", data: "hello world", timeoutMs: 250 });
      // Many answers of 64 KiB, each freed by the plugin with its own free(): no leak, no mismatched allocator.
      const big = "x".repeat(64 << 10);
      expect(await inst.onEvent("ask-n", bytes(`200\nother\necho\n0\n${big}`))).toBe(0);
      expect(host.asked.length).toBe(202); // init's, the ask, 200
    });

    it("an empty answer is NULL and 0; a refusal is 1 + the request-error code and leaves out/out_len alone", async () => {
      const host = requestHost((a) => (a.event === "empty" ? { ok: true, value: new Uint8Array(0) } : { ok: false, error: a.event as RequestError }));
      const inst = await start(trust, host);
      expect(output(await inst.onHook("ask", ask("other", "empty", "x")))).toBe("");
      for (const error of ["not-handled", "denied", "cycle", "too-deep", "timeout", "rejected", "failed", "would-block"] as const) {
        expect(await inst.onHook("ask", ask("other", error, "x"))).toEqual({ ok: false, status: status(error) });
      }
      expect(output(await inst.onHook("untouched", ask("other", "timeout", "x")))).toBe("ok");
      // A name longer than any the host accepts is refused by the native side, never cut and sent on.
      const asked = host.asked.length;
      expect(await inst.onHook("ask", ask("t".repeat(2000), "echo", "x"))).toEqual({ ok: false, status: status("invalid-name") });
      expect(await inst.onHook("ask", ask("other", "e".repeat(1500), "x"))).toEqual({ ok: false, status: status("invalid-name") });
      expect(host.asked.length).toBe(asked);
    });

    it("a host without request answers unknown-target; in init the plugin sees no message", async () => {
      const host = recordingHost();
      const inst = await nativeEngine.load(request("requester", trust, host));
      live.push(inst);
      expect(await inst.init("0.1.0", "{}")).toBe(0);
      expect(output(await inst.onHook("init", bytes("")))).toBe(`message=0 request=${status("unknown-target")}`);
      expect(await inst.onHook("ask", ask("other", "echo", "x"))).toEqual({ ok: false, status: status("unknown-target") });
      expect(output(await inst.onHook("whoami", bytes("")))).toBe("none");
    });

    it("reads the envelope of its call: every field, metadata in order, stable within the call", async () => {
      const host = requestHost(echoUpper);
      const inst = await start(trust, host);
      host.message = envelope;
      expect(output(await inst.onHook("whoami", bytes("")))).toBe(
        `id=${2 ** 40 + 7} parent=41 source=caller target=requester event=whoami kind=2 meta=trace=abc;user=zoë ✓`,
      );
      host.message = { id: 3, eventName: "tick", kind: "event", metadata: [] };
      expect(output(await inst.onHook("whoami", bytes("")))).toBe("id=3 parent=- source=- target=- event=tick kind=0 meta=");
      // The envelope read before a request is the one read after it, and its strings stay valid across it.
      host.message = { ...envelope, eventName: "ask-whoami" };
      expect(output(await inst.onHook("ask-whoami", ask("other", "echo", "x")))).toContain("event=ask-whoami kind=2");
      host.message = undefined;
      expect(output(await inst.onHook("whoami", bytes("")))).toBe("none");
    });

    it("from another thread: request is denied and there is no message", async () => {
      const host = requestHost(echoUpper);
      const inst = await start(trust, host);
      host.message = envelope;
      expect(output(await inst.onHook("thread", bytes("")))).toBe(`request=${status("denied")} message=0`);
      expect(host.asked).toEqual([expect.objectContaining({ target: "no-such-plugin" })]); // init's only
    });

    it("the request runs in the message chain of the call that made it", async () => {
      const host = requestHost(echoUpper);
      const inst = await start(trust, host);
      const chain: Delivery = { hop: 3, chain: { messages: 1, reported: false } };
      const r = await withDelivery(chain, () => inst.onHook("ask", ask("other", "echo", "abc")));
      expect(output(r)).toBe("ABC");
      expect(host.asked.at(-1)!.delivery).toBe(chain);
    });
  });
}

describe("native request, trusted (in process)", () => {
  it("is answered synchronously, on the host's thread, inside the call", async () => {
    let depth = 0;
    const host = requestHost((a) => ({ ok: true, value: bytes(`${a.data}@${depth}`) }));
    const inst = await start("trusted", host);
    depth = 1;
    const r = inst.onHookSync!("ask", ask("other", "echo", "sync"));
    depth = 0;
    expect(output(r)).toBe("sync@1");
  });
});

describe("native request, trusted: bytes through the scratch arrays and around them", () => {
  it("payloads and answers larger than the scratch, and at its size, arrive whole", async () => {
    const host = requestHost((a) => ({ ok: true, value: bytes(a.event === "grow" ? a.data.repeat(16) : a.data) }));
    const inst = await start("trusted", host);
    for (const n of [0, 1, 63, 64, 65, (64 << 10) - 40, 64 << 10, (64 << 10) + 1, 100 << 10]) {
      const payload = "p".repeat(n - 1 >= 0 ? n - 1 : 0) + (n ? "!" : "");
      const r = inst.onHookSync!("ask", ask("other", "echo", payload));
      expect(output(r)).toBe(payload);
      expect(host.asked.at(-1)!.data).toBe(payload);
    }
    const grown = output(inst.onHookSync!("ask", ask("other", "grow", "0123456789abcdef".repeat(4096)))); // 64 KiB in, 1 MiB out
    expect(grown.length).toBe(1 << 20);
    expect(grown.slice(0, 20)).toBe("0123456789abcdef0123");
  });

  it("a hook re-entered while it waits for an answer gets its own input and output", async () => {
    const r = await registryWith([["again", "trusted"]]);
    const handle = r.get("again");
    r.addService("reenter", (m) => {
      const inner = handle.hookSync("upper", m.data);
      if (!inner.ok) throw new Error(`inner hook failed: ${inner.status}`);
      return new Uint8Array(inner.data);
    });
    expect(await hookText(r, "again", "ask", ask("reenter", "go", "inner bytes"))).toBe("INNER BYTES");
    expect(await hookText(r, "again", "upper", bytes("after"))).toBe("AFTER");
  });
});

describe("native request, sandboxed", () => {
  it("waits for an answer that comes later, while the host's thread goes on", async () => {
    const host = requestHost(echoUpper, 80);
    const inst = await start("untrusted", host);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    const r = await inst.onHook("ask", ask("other", "upper", "later"));
    clearInterval(timer);
    expect(output(r)).toBe("LATER");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(70);
    expect(ticks).toBeGreaterThan(3); // the event loop ran while the plugin waited
  });

  it("carries large payloads both ways (4 MiB)", async () => {
    const host = requestHost((a) => ({ ok: true, value: bytes(a.data + a.data) }));
    const inst = await start("untrusted", host);
    const payload = "ab".repeat(1 << 20);
    const r = output(await inst.onHook("ask", ask("other", "double", payload)));
    expect(r.length).toBe(4 << 20);
    expect(r.startsWith("abab") && r.endsWith("abab")).toBe(true);
  });

  it("pipelined calls after a waiting one run in order once it is answered", async () => {
    const host = requestHost(echoUpper, 30);
    const inst = await start("untrusted", host);
    const first = inst.onHook("ask", ask("other", "upper", "one"));
    const rest = [inst.onHook("echo", bytes("two")), inst.onHook("ask", ask("other", "upper", "three"))];
    expect(output(await first)).toBe("ONE");
    expect((await Promise.all(rest)).map(output)).toEqual(["two", "THREE"]);
  });

  it("a call past its deadline while waiting fails with DeadlineExceeded; the late answer goes nowhere", async () => {
    const host = requestHost(echoUpper, 700);
    const inst = await nativeEngine.load(request("requester", "untrusted", host, { limits: { deadlineMs: 300 } }));
    live.push(inst);
    expect(await inst.init("0.1.0", "{}")).toBe(0);
    await expect(inst.onHook("ask", ask("other", "upper", "slow"))).rejects.toBeInstanceOf(DeadlineExceeded);
    await until(() => host.asked.length === 2);
    await new Promise((r) => setTimeout(r, 500)); // the answer settles after the helper was killed
    await expect(inst.onHook("echo", bytes("x"))).rejects.toBeInstanceOf(DeadlineExceeded);
  });

  it("dispose while a request is outstanding rejects the call and ignores the answer", async () => {
    const host = requestHost(echoUpper, 200);
    const inst = await start("untrusted", host);
    const call = inst.onHook("ask", ask("other", "upper", "x"));
    await until(() => host.asked.length === 2);
    await inst.dispose();
    await expect(call).rejects.toBeInstanceOf(PluginCrashed);
    await new Promise((r) => setTimeout(r, 250));
  });

  it("works over the pipe alone (no shared slot)", async () => {
    const host = requestHost(echoUpper);
    const inst = await start("untrusted", host, "requester", createNativeEngine({ sandbox: { sharedMemory: false } }));
    host.message = envelope;
    expect(output(await inst.onHook("ask", ask("other", "upper", "pipe")))).toBe("PIPE");
    expect(output(await inst.onHook("whoami", bytes("")))).toContain("source=caller target=requester");
  });
});

describe("the native host table grows additively", () => {
  it("a plugin built with this SDK, bound by a host whose table predates request: unknown-target, no message, the rest works", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-old-host-"));
    dirs.push(dir);
    const exe = path.join(dir, "old-host");
    const include = path.join(root, "guest-sdks", "c", "include");
    execFileSync("gcc", ["-Wall", "-Wextra", "-O1", "-I", include, path.join(root, "test", "fixtures", "native", "old-host", "old-host.c"), "-o", exe, "-ldl"]);
    const run = (...args: string[]) => execFileSync(exe, [fixture("requester"), ...args], { encoding: "utf8" }).trim();
    expect(run()).toBe(`request=${status("unknown-target")} untouched=1 message=0 emit=1003 config={"old":true}`);
    // A table smaller than the first one is not bound at all: every extension says "unsupported".
    expect(run("16")).toBe(`request=${status("unknown-target")} untouched=1 message=0 emit=-3 config={}`);
  });
});

describe("native request, hostile sandboxed plugin", () => {
  it("a second request while one is outstanding is a protocol break: AbiViolation, helper killed, host fine", async () => {
    const host = requestHost(echoUpper, 20);
    const inst = await start("untrusted", host, "request-forger");
    const err = await inst.onEvent("double", bytes("")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbiViolation);
    expect((err as AbiViolation).message).toMatch(/second REQUEST/);
    expect(host.asked.length).toBe(1); // only the first was served
    await expect(inst.onEvent("ok", bytes("abc"))).rejects.toBeInstanceOf(AbiViolation);
    const other = await start("untrusted", requestHost(echoUpper), "requester");
    expect(output(await other.onHook("echo", bytes("still here")))).toBe("still here");
  });

  it("request and message frames forged between calls are refused and change nothing", async () => {
    const host = requestHost(echoUpper);
    const inst = await start("untrusted", host, "request-forger");
    host.message = envelope;
    let asked = 0;
    host.currentMessage = () => {
      asked++;
      return envelope;
    };
    expect(await inst.onEvent("between", bytes(""))).toBe(0);
    await new Promise((r) => setTimeout(r, 120));
    expect(host.asked).toEqual([]);
    expect(asked).toBe(0);
    expect(await inst.onEvent("ok", bytes("abcd"))).toBe(4);
  });
});

// ── through the registry: native plugins asking each other, host services, and components ──

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A plugin directory for a native fixture under `name`, allowed to publish (request) every event unless told otherwise. */
function pluginDir(fixtureName: string, name: string, trust: TrustLevel, extra = 'capabilities = ["events:publish:*"]\n'): string {
  const dir = mkdtempSync(path.join(tmpdir(), `plughost-native-req-${name}-`));
  dirs.push(dir);
  copyFileSync(fixture(fixtureName), path.join(dir, `${fixtureName}.so`));
  writeFileSync(
    path.join(dir, "plugin.toml"),
    `name = "${name}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "${fixtureName}.so"\ntrust = "${trust}"\n${extra}`,
  );
  return dir;
}

/** V's C request-caller fixture built as a component, under `name`, in process or in a worker. */
function componentDir(name: string, isolation: "in-process" | "worker"): string {
  const dir = mkdtempSync(path.join(tmpdir(), `plughost-native-req-${name}-`));
  dirs.push(dir);
  copyFileSync(path.join(root, "test", "fixtures", "c", "request-caller", "plugin.wasm"), path.join(dir, "plugin.wasm"));
  writeFileSync(
    path.join(dir, "plugin.toml"),
    `name = "${name}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nentry = "plugin.wasm"\nisolation = "${isolation}"\ncapabilities = ["events:publish:*"]\n`,
  );
  return dir;
}

let registry: PluginRegistry | undefined;
afterEach(async () => {
  await registry?.unloadAll().catch(() => {});
  registry = undefined;
});

async function registryWith(plugins: [name: string, trust: TrustLevel, extra?: string][], events: "open" | "strict" = "open"): Promise<PluginRegistry> {
  const trusted = plugins.filter(([, t]) => t === "trusted").map(([n]) => n);
  const grants = ["events:publish:*", "events:subscribe:*"];
  const r = (registry = new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false, trustedNative: trusted, grants, events }));
  for (const [name, trust, extra] of plugins) await r.load(pluginDir("requester", name, trust, extra));
  return r;
}

const hookText = async (r: PluginRegistry, name: string, event: string, data: Uint8Array, options?: { metadata?: Record<string, string> }) =>
  output(await r.hook(name, event, data, options));

describe("native request through the registry", () => {
  const pairs: [TrustLevel, TrustLevel][] = [
    ["trusted", "trusted"],
    ["untrusted", "untrusted"],
    ["untrusted", "trusted"],
  ];
  for (const [from, to] of pairs) {
    it(`${from} asks ${to}: the target's hook answers, with a request envelope whose parent is the caller's message`, async () => {
      const r = await registryWith([
        ["asker", from],
        ["answerer", to],
      ]);
      expect(await hookText(r, "asker", "ask", ask("answerer", "upper", "sixteen bytes ok"))).toBe("SIXTEEN BYTES OK");
      // In plugin_init there is no current message, and a request to a name nobody has is unknown-target.
      expect(await hookText(r, "asker", "init", bytes(""))).toBe(`message=0 request=${status("unknown-target")}`);
      const who = await hookText(r, "asker", "ask-whoami", ask("answerer", "whoami", ""), { metadata: { trace: "t-1" } });
      const asker = /^id=(\d+) parent=- source=- target=asker event=ask-whoami kind=1 meta=trace=t-1$/.exec(who);
      expect(asker, who).not.toBeNull();
      // The answerer's envelope, as the asker received it.
      const nested = await hookText(r, "asker", "ask", ask("answerer", "whoami", ""), { metadata: { trace: "t-2" } });
      expect(nested).toMatch(/^id=\d+ parent=\d+ source=asker target=answerer event=whoami kind=2 meta=trace=t-2$/);
      expect(await r.hook("asker", "ask", ask("answerer", "reject", ""))).toEqual({ ok: false, status: status("rejected") });
      expect(await r.hook("asker", "ask", ask("nobody", "echo", ""))).toEqual({ ok: false, status: status("unknown-target") });
      expect(await r.hook("asker", "ask", ask("answerer", "unregistered", ""))).toEqual({ ok: false, status: status("not-handled") });
    });
  }

  it("a trusted plugin cannot wait: a sandboxed target, or a host service that answers later, is would-block", async () => {
    const r = await registryWith([
      ["asker", "trusted"],
      ["boxed", "untrusted"],
    ]);
    r.addService("clock", () => bytes("now"));
    r.addService("slow", async () => bytes("later"));
    expect(await r.hook("asker", "ask", ask("boxed", "echo", "x"))).toEqual({ ok: false, status: status("would-block") });
    expect(await hookText(r, "asker", "ask", ask("clock", "time", ""))).toBe("now");
    expect(await r.hook("asker", "ask", ask("slow", "time", ""))).toEqual({ ok: false, status: status("would-block") });
  });

  it("a sandboxed plugin waits for a host service that answers later, and for a plugin in a worker", async () => {
    const r = await registryWith([["asker", "untrusted"]]);
    r.addService("slow", async (m) => {
      await new Promise((res) => setTimeout(res, 30));
      return bytes(`${m.source}:${m.event}:${Buffer.from(m.data).toString()}`);
    });
    expect(await hookText(r, "asker", "ask", ask("slow", "time", "abc"))).toBe("asker:time:abc");
    await r.load(componentDir("in-worker", "worker"));
    expect(await hookText(r, "asker", "ask", ask("in-worker", "upper", "from a box"))).toBe("FROM A BOX");
    // ... and the component asks the sandboxed plugin back, from its worker.
    expect(await hookText(r, "in-worker", "ask", ask("asker", "upper", "from a worker"))).toBe("FROM A WORKER");
  });

  it("a trusted plugin and an in-process component answer each other synchronously", async () => {
    const r = await registryWith([["asker", "trusted"]]);
    await r.load(componentDir("inline", "in-process"));
    expect(await hookText(r, "asker", "ask", ask("inline", "upper", "to v8"))).toBe("TO V8");
    expect(await hookText(r, "inline", "ask", ask("asker", "upper", "to native"))).toBe("TO NATIVE");
  });

  it("cycles and depth: A asks B asks A is a cycle for B; the answer to A is B's refusal", async () => {
    for (const trust of ["trusted", "untrusted"] as const) {
      const r = await registryWith([
        [`a-${trust}`, trust],
        [`b-${trust}`, trust],
      ]);
      const inner = `a-${trust}\necho\n0\nx`;
      // B's hook returns its refusal status (cycle) and A's request is then rejected with that status.
      expect(await r.hook(`a-${trust}`, "ask", ask(`b-${trust}`, "ask", inner))).toEqual({ ok: false, status: status("rejected") });
      const err = await r.request(`b-${trust}`, "ask", bytes(`a-${trust}\nask\n0\nb-${trust}\necho\n0\nx`)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RequestFailed);
      expect(err).toMatchObject({ reason: "rejected", status: status("rejected") }); // a's ask of b was a cycle: rejected by a
      await r.unloadAll();
    }
  });

  it("without events:publish the request is denied and recorded as a capability violation", async () => {
    const subscribe = 'capabilities = ["events:subscribe:*"]\n';
    const r = await registryWith(
      [
        ["shy", "untrusted", subscribe],
        ["answerer", "untrusted", 'capabilities = ["events:subscribe:*", "events:publish:*"]\n'],
      ],
      "strict",
    );
    expect(await r.hook("shy", "ask", ask("answerer", "echo", "x"))).toEqual({ ok: false, status: status("denied") });
    expect(r.violations("shy").some((v) => v.kind === "capability" && /events:publish:echo/.test(v.detail))).toBe(true);
  });

  it("a sandboxed target that crashes while answering is failed for the asker; the asker carries on", async () => {
    const r = await registryWith([
      ["asker", "untrusted"],
      ["crasher", "untrusted"],
    ]);
    expect(await r.hook("asker", "ask", ask("crasher", "crash", ""))).toEqual({ ok: false, status: status("failed") });
    expect(r.violations("crasher").some((v) => v.kind === "crash")).toBe(true);
    expect(await hookText(r, "asker", "echo", bytes("alive"))).toBe("alive");
  });

  it("a sandboxed asker's timeout ends its wait for a target that does not answer", async () => {
    const r = await registryWith([
      ["asker", "untrusted"],
      ["spinner", "untrusted", 'capabilities = ["events:publish:*"]\n[limits]\ndeadline-ms = 400\n'],
    ]);
    const t0 = performance.now();
    expect(await r.hook("asker", "ask", ask("spinner", "spin", "", 100))).toEqual({ ok: false, status: status("timeout") });
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(await hookText(r, "asker", "echo", bytes("next"))).toBe("next");
  });
});
