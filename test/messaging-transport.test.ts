// The registry's transport wiring (docs/messaging.md, "Across hosts"): two registries, each with its own
// NatsTransport on one real nats-server, exchange requests and emits between C plugins and host services;
// the receiving host checks them as local messages (registered callbacks, request chains: a cycle through both hosts
// is refused). The two-process tests of the transport itself are test/nats-*.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsTransport, PluginRegistry, RequestFailed, type Message, type PluginHandle } from "../src/index.js";
import { REQUEST_ERROR_CODE, type RequestError } from "../src/contract/abi.js";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.mjs";
import { copyPlugin, dec, enc, silentLogger } from "./helpers/plugins.js";

const RESPONDER = "test/fixtures/c/request-responder";
const err = (e: RequestError) => 1 + REQUEST_ERROR_CODE[e];

let server: NatsServer;
let near: PluginRegistry;
let far: PluginRegistry;
let asker: PluginHandle;
let answerer: PluginHandle;
const farSeen: Message[] = [];

function host(hostId: string): PluginRegistry {
  return new PluginRegistry({
    logger: silentLogger(),
    cacheDir: false,
    hostId,
    // Worker isolation: a plugin asking another host waits, which a plugin on the host's thread cannot.
    isolation: "worker",
    transport: new NatsTransport({ servers: server.url, prefix: `t${process.pid}`, reconnectWaitMs: 50 }),
  });
}

function load(r: PluginRegistry, name: string): Promise<PluginHandle> {
  return r.load(copyPlugin(RESPONDER, (t) => t.replace(/^name = ".*"$/m, `name = "${name}"`)));
}

async function text(p: PluginHandle, event: string, data: string, metadata?: Record<string, string>): Promise<string> {
  const out = await p.hook(event, enc(data), metadata ? { metadata } : undefined);
  if (!out.ok) throw new Error(`${p.name} ${event}: status ${out.status}`);
  return dec(out.data);
}

/** Retry `fn` until it stops throwing: the other host's subscriptions reach the server a moment after it loads. */
async function eventually<T>(fn: () => Promise<T>, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

beforeAll(async () => {
  server = await startNatsServer();
  near = host("near");
  far = host("far");
  asker = await load(near, "asker");
  answerer = await load(far, "answerer");
  far.addService("clock", (m) => enc(`tick:${dec(m.data)} from=${m.source ?? "-"}`));
  far.subscribe("noted", (m) => void farSeen.push(m));
  await eventually(async () => expect(dec(await near.request("answerer", "echo", enc("up")))).toBe("up"));
}, 30_000);

afterAll(async () => {
  await near?.close();
  await far?.close();
  await server?.close();
});

describe("requests across hosts", () => {
  it("the host asks a plugin and a host service on the other host", async () => {
    expect(near.hostId).toBe("near");
    expect(dec(await near.request("answerer", "reverse", enc("abc")))).toBe("cba");
    expect(dec(await eventually(() => near.request("clock", "now", enc("1"))))).toBe("tick:1 from=-");
    const rejected = await near.request("answerer", "reject", enc("x")).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(RequestFailed);
    expect(rejected).toMatchObject({ reason: "rejected" });
    // The receiving host checks the target's registered callbacks, as for a local request.
    await expect(near.request("answerer", "never-registered")).rejects.toMatchObject({ reason: "not-handled" });
    await expect(near.request("nobody-anywhere", "echo", enc(""), { timeoutMs: 300 })).rejects.toMatchObject({ reason: "unknown-target" });
  });

  it("a plugin asks a plugin on the other host, whose envelope names it as source and keeps the metadata", async () => {
    expect(await text(asker, "relay", "answerer\nreverse\nxyz")).toBe("ok:zyx");
    const who = await text(asker, "relay", "answerer\nwhoami\n", { tenant: "t9" });
    expect(who).toMatch(/^ok:id=\d+ parent=\d+ source=asker target=answerer event=whoami kind=2 meta=tenant=t9$/);
    expect(await text(asker, "relay", "clock\nnow\n2")).toBe("ok:tick:2 from=asker");
  });

  it("a plugin unloaded here and loaded on the other host is asked there", async () => {
    const here = await load(near, "roamer");
    expect(await text(here, "echo", "near")).toBe("near");
    await near.unload("roamer");
    await load(far, "roamer");
    const who = await eventually(async () => dec(await near.request("roamer", "whoami", enc(""), { timeoutMs: 1000 })));
    expect(who).toMatch(/^id=\d+ parent=- source=- target=roamer event=whoami kind=2 meta=$/);
    await far.unload("roamer");
  });

  it("refuses a cycle through both hosts (asker asks answerer asks asker)", async () => {
    expect(await text(asker, "relay", "answerer\nrelay\nasker\necho\nx")).toBe(`ok:err:${err("cycle")}`);
  });
});

describe("emits across hosts", () => {
  it("an emit reaches the other host's plugins and subscribers; the envelope keeps source and metadata", async () => {
    farSeen.length = 0;
    expect(await text(asker, "note", "hello", { trace: "abc" })).toBe("noted");
    await eventually(async () => expect(farSeen.length).toBe(1));
    expect(farSeen[0]).toMatchObject({ source: "asker", event: "noted", kind: "event", metadata: { trace: "abc" } });
    expect(dec(farSeen[0]!.data)).toBe("hello");
    const got = await eventually(async () => {
      const t = await text(answerer, "last-noted", "");
      expect(t).not.toBe("none");
      return t;
    });
    expect(got).toMatch(/^id=\d+ parent=\d+ source=asker target=- event=noted kind=0 meta=trace=abc$/);
  });
});
