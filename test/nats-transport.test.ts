// The NATS transport on its own: two NatsTransport instances on a real nats-server, each with a sink that records
// what it is given, exchanging emits, sends and requests; the server stopped mid-run and restarted; the wire frame.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { NatsTransport } from "../src/messaging/nats.js";
import { decodeOutcome, decodeWire, encodeOutcome, encodeWire, WireFormatError } from "../src/messaging/wire.js";
import type { TransportSink, WireMessage } from "../src/messaging/transport.js";
import type { RequestOutcome } from "../src/engines/engine.js";
import { PlughostError, TransportError } from "../src/contract/errors.js";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.mjs";

const enc = new TextEncoder();
const dec = new TextDecoder();

class RecordingSink implements TransportSink {
  readonly delivered: WireMessage[] = [];
  readonly asked: WireMessage[] = [];
  readonly errors: PlughostError[] = [];
  answerWith: (m: WireMessage) => Promise<RequestOutcome> | RequestOutcome = (m) => ({ ok: true, value: enc.encode(`${m.target}:${dec.decode(m.data)}`) });
  constructor(readonly hostId: string) {}
  deliver(message: WireMessage): void {
    this.delivered.push(message);
  }
  async answer(message: WireMessage): Promise<RequestOutcome> {
    this.asked.push(message);
    return this.answerWith(message);
  }
  onError(error: PlughostError): void {
    this.errors.push(error);
  }
}

function message(over: Partial<WireMessage> & { origin: string; event: string }): WireMessage {
  return { id: 1, kind: "event", data: new Uint8Array(), metadata: {}, ...over };
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("wire frame", () => {
  it("round-trips every envelope field and the bytes", () => {
    const m: WireMessage = {
      id: 2 ** 40 + 7, parentId: 3, source: "a.b", target: "ü-target", event: "order.created", kind: "request",
      data: Uint8Array.of(0, 1, 2, 255), metadata: JSON.parse('{ "trace": "t-1", "__proto__": "x", "empty": "" }') as Record<string, string>, origin: "host-a",
      chain: ["a.b", "c"], timeoutMs: 1234, hop: 3,
    };
    const back = decodeWire(encodeWire(m));
    expect({ ...back, data: [...back.data], metadata: { ...back.metadata } }).toEqual({ ...m, data: [0, 1, 2, 255], metadata: { ...m.metadata } });
    expect(Object.getPrototypeOf(back.metadata)).toBe(Object.prototype);
    expect(Object.keys(back.metadata)).toEqual(["trace", "__proto__", "empty"]);
    const bare = decodeWire(encodeWire(message({ origin: "h", event: "e" })));
    expect({ ...bare, metadata: { ...bare.metadata } }).toEqual({ id: 1, kind: "event", data: new Uint8Array(), metadata: {}, origin: "h", event: "e" });
    expect("parentId" in bare || "source" in bare || "target" in bare || "chain" in bare || "hop" in bare).toBe(false);
  });

  it("refuses truncated, foreign and corrupt frames with a WireFormatError", () => {
    const frame = encodeWire(message({ origin: "host-a", event: "e", source: "p", data: enc.encode("hello") }));
    expect(() => decodeWire(frame.subarray(0, 8))).toThrow(WireFormatError);
    expect(() => decodeWire(frame.subarray(0, 17))).toThrow(/truncated/);
    const v2 = frame.slice();
    v2[0] = 2;
    expect(() => decodeWire(v2)).toThrow(/version 2/);
    const kind = frame.slice();
    kind[1] = 9;
    expect(() => decodeWire(kind)).toThrow(/kind 9/);
    expect(decodeOutcome(encodeOutcome({ ok: true, value: enc.encode("yes") }))).toEqual({ ok: true, value: enc.encode("yes") });
    expect(decodeOutcome(encodeOutcome({ ok: false, error: "cycle" }))).toEqual({ ok: false, error: "cycle" });
    expect(() => decodeOutcome(Uint8Array.of(1, 200))).toThrow(WireFormatError);
    expect(() => decodeOutcome(new Uint8Array())).toThrow(WireFormatError);
  });
});

describe("NatsTransport between two hosts", () => {
  let server: NatsServer;
  let a: NatsTransport;
  let b: NatsTransport;
  const sinkA = new RecordingSink("host-a");
  const sinkB = new RecordingSink("host-b");

  beforeAll(async () => {
    server = await startNatsServer();
    a = new NatsTransport({ servers: server.url, prefix: "t1", reconnectWaitMs: 100 });
    b = new NatsTransport({ servers: server.url, prefix: "t1", reconnectWaitMs: 100 });
    a.addTarget("alpha");
    await a.start(sinkA);
    await b.start(sinkB);
    b.addTarget("beta.svc");
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await server?.close();
  });

  it("an emit reaches the other host with its envelope, never its own", async () => {
    const before = sinkA.delivered.length;
    a.publish(message({ origin: "host-a", id: 41, parentId: 40, source: "alpha", event: "order.created", data: enc.encode("o-1"), metadata: { trace: "abc" }, hop: 2 }));
    await until(() => sinkB.delivered.length === 1, "the emit on host b");
    const got = sinkB.delivered[0]!;
    expect(got).toMatchObject({ origin: "host-a", id: 41, parentId: 40, source: "alpha", event: "order.created", kind: "event", hop: 2 });
    expect(got.target).toBeUndefined();
    expect(dec.decode(got.data)).toBe("o-1");
    expect({ ...got.metadata }).toEqual({ trace: "abc" });
    await new Promise((r) => setTimeout(r, 100));
    expect(sinkA.delivered.length).toBe(before);
    sinkB.delivered.length = 0;
  });

  it("event names that are no valid subject tail still cross, under their own name", async () => {
    for (const event of ["a..b", ".lead", "trail.", "x:y/z"]) a.publish(message({ origin: "host-a", event }));
    await until(() => sinkB.delivered.length === 4, "the four emits on host b");
    expect(sinkB.delivered.map((m) => m.event)).toEqual(["a..b", ".lead", "trail.", "x:y/z"]);
    expect(sinkB.errors).toHaveLength(0);
    sinkB.delivered.length = 0;
  });

  it("a send reaches only the host that serves the target (a dotted name)", async () => {
    a.publish(message({ origin: "host-a", source: "alpha", target: "beta.svc", event: "job", data: enc.encode("j") }));
    b.publish(message({ origin: "host-b", source: "beta.svc", target: "alpha", event: "job.done", data: enc.encode("d") }));
    await until(() => sinkB.delivered.length === 1 && sinkA.delivered.length === 1, "both sends");
    expect(sinkB.delivered[0]).toMatchObject({ target: "beta.svc", event: "job", source: "alpha" });
    expect(sinkA.delivered[0]).toMatchObject({ target: "alpha", event: "job.done", source: "beta.svc" });
    // "beta" is not "beta.svc": nobody serves it, so the send goes nowhere.
    a.publish(message({ origin: "host-a", target: "beta", event: "job" }));
    await new Promise((r) => setTimeout(r, 100));
    expect(sinkB.delivered.length).toBe(1);
    sinkA.delivered.length = 0;
    sinkB.delivered.length = 0;
  });

  it("a request is answered by the serving host, with the chain and the timeout carried", async () => {
    const out = await a.request(message({ origin: "host-a", kind: "request", source: "alpha", target: "beta.svc", event: "price", data: enc.encode("q"), chain: ["alpha"] }), 2000);
    expect(out.ok && dec.decode(out.value)).toBe("beta.svc:q");
    expect(sinkB.asked.at(-1)).toMatchObject({ kind: "request", chain: ["alpha"], timeoutMs: 2000, origin: "host-a" });
    sinkB.answerWith = () => ({ ok: false, error: "not-handled" });
    expect(await a.request(message({ origin: "host-a", kind: "request", target: "beta.svc", event: "nope" }), 2000)).toEqual({ ok: false, error: "not-handled" });
    sinkB.answerWith = () => ({ ok: true, value: new Uint8Array() });
    const empty = await a.request(message({ origin: "host-a", kind: "request", target: "beta.svc", event: "x" }), 2000);
    expect(empty.ok && empty.value.length).toBe(0);
  });

  it("nobody serving the target is unknown-target at once; a slow answer is timeout", async () => {
    const t0 = Date.now();
    expect(await a.request(message({ origin: "host-a", kind: "request", target: "gamma", event: "x" }), 5000)).toEqual({ ok: false, error: "unknown-target" });
    expect(Date.now() - t0).toBeLessThan(1000);
    sinkB.answerWith = () => new Promise((r) => setTimeout(() => r({ ok: true, value: enc.encode("late") }), 400));
    expect(await a.request(message({ origin: "host-a", kind: "request", target: "beta.svc", event: "slow" }), 100)).toEqual({ ok: false, error: "timeout" });
    // A sink that throws is `failed` for the requester and an error on the answering side.
    sinkB.answerWith = () => { throw new Error("boom"); };
    expect(await a.request(message({ origin: "host-a", kind: "request", target: "beta.svc", event: "x" }), 2000)).toEqual({ ok: false, error: "failed" });
    expect(sinkB.errors.at(-1)).toBeInstanceOf(TransportError);
    expect(sinkB.errors.at(-1)!.message).toMatch(/boom/);
    sinkB.answerWith = (m) => ({ ok: true, value: enc.encode(`beta.svc:${dec.decode(m.data)}`) });
    await new Promise((r) => setTimeout(r, 400));
  });

  it("a message over the server's max_payload is a too-large error; a request answers too-large", async () => {
    sinkA.errors.length = 0;
    const big = new Uint8Array(2 * 1024 * 1024);
    a.publish(message({ origin: "host-a", event: "big", data: big }));
    expect(sinkA.errors).toHaveLength(1);
    expect(sinkA.errors[0]).toMatchObject({ code: "E_TRANSPORT", reason: "too-large" });
    expect(await a.request(message({ origin: "host-a", kind: "request", target: "beta.svc", event: "big", data: big }), 2000)).toEqual({ ok: false, error: "too-large" });
    expect(sinkA.errors).toHaveLength(2);
    // The connection is fine afterwards.
    const out = await a.request(message({ origin: "host-a", kind: "request", target: "beta.svc", event: "small", data: enc.encode("s") }), 2000);
    expect(out.ok && dec.decode(out.value)).toBe("beta.svc:s");
    sinkA.errors.length = 0;
  });

  it("removeTarget stops serving a name; addTarget serves it again", async () => {
    b.removeTarget("beta.svc");
    await b.flush();
    expect(await a.request(message({ origin: "host-a", kind: "request", target: "beta.svc", event: "x" }), 2000)).toEqual({ ok: false, error: "unknown-target" });
    b.addTarget("beta.svc");
    await b.flush();
    const out = await a.request(message({ origin: "host-a", kind: "request", target: "beta.svc", event: "x", data: enc.encode("1") }), 2000);
    expect(out.ok && dec.decode(out.value)).toBe("beta.svc:1");
  });

  it("a malformed message from the bus is a bad-message error, not a crash", async () => {
    const raw = await import("nats");
    const nc = await raw.connect({ servers: server.url });
    nc.publish("t1.event.x", Uint8Array.of(1, 2, 3));
    const reply = await nc.request("t1.plugin.alpha.x", Uint8Array.of(7), { timeout: 2000 });
    expect(decodeOutcome(reply.data)).toEqual({ ok: false, error: "failed" });
    // A well-formed request on alpha's subject that names another target is refused, not answered for alpha.
    const asked = sinkA.asked.length;
    const misrouted = await nc.request("t1.plugin.alpha.x", encodeWire(message({ origin: "rogue", kind: "request", target: "beta.svc", event: "x" })), { timeout: 2000 });
    expect(decodeOutcome(misrouted.data)).toEqual({ ok: false, error: "unknown-target" });
    expect(sinkA.asked.length).toBe(asked);
    await until(() => sinkB.errors.some((e) => e instanceof TransportError && e.reason === "bad-message"), "b's bad-message error");
    expect(sinkA.errors.some((e) => e instanceof TransportError && e.reason === "bad-message")).toBe(true);
    await nc.close();
  });

  it("with the server stopped, publishes and requests are typed errors; after it restarts both work again", async () => {
    sinkA.errors.length = 0;
    // A request in flight when the connection drops answers failed at once, not at its timeout.
    sinkB.answerWith = () => new Promise((r) => setTimeout(() => r({ ok: true, value: enc.encode("never") }), 3000));
    const inFlight = a.request(message({ origin: "host-a", kind: "request", target: "beta.svc", event: "slow" }), 20_000);
    await until(() => sinkB.asked.at(-1)?.event === "slow", "the slow request on host b");
    const t0 = Date.now();
    await server.stop();
    expect(await inFlight).toEqual({ ok: false, error: "failed" });
    expect(Date.now() - t0).toBeLessThan(5000);
    sinkB.answerWith = (m) => ({ ok: true, value: enc.encode(`beta.svc:${dec.decode(m.data)}`) });
    await until(() => !a.connected && !b.connected, "both to notice the disconnect");
    expect(sinkA.errors.some((e) => e instanceof TransportError && e.reason === "disconnected")).toBe(true);
    sinkA.errors.length = 0;
    a.publish(message({ origin: "host-a", event: "while.down" }));
    expect(sinkA.errors).toHaveLength(1);
    expect(sinkA.errors[0]).toMatchObject({ code: "E_TRANSPORT", reason: "disconnected", transport: "NATS" });
    expect(sinkA.errors[0]!.message).toMatch(/"while\.down" not sent to other hosts/);
    expect(await a.request(message({ origin: "host-a", kind: "request", target: "beta.svc", event: "x" }), 1000)).toEqual({ ok: false, error: "failed" });
    expect(sinkA.errors).toHaveLength(2);
    await server.restart();
    await until(() => a.connected && b.connected, "both to reconnect", 10_000);
    // The client re-subscribes as it reconnects; once b's subscriptions reached the server, a finds beta.svc.
    await b.flush();
    const out = await a.request(message({ origin: "host-a", kind: "request", target: "beta.svc", event: "x", data: enc.encode("again") }), 2000);
    expect(out.ok && dec.decode(out.value)).toBe("beta.svc:again");
    a.publish(message({ origin: "host-a", event: "after.restart" }));
    await until(() => sinkB.delivered.some((m) => m.event === "after.restart"), "the emit after the restart");
  }, 30_000);

  it("after stop, messages are closed errors and stop is idempotent", async () => {
    const c = new NatsTransport({ servers: server.url, prefix: "t1" });
    const sink = new RecordingSink("host-c");
    await c.start(sink);
    await c.stop();
    await c.stop();
    c.publish(message({ origin: "host-c", event: "x" }));
    expect(sink.errors[0]).toMatchObject({ reason: "closed" });
    expect(await c.request(message({ origin: "host-c", kind: "request", target: "alpha", event: "x" }), 100)).toEqual({ ok: false, error: "failed" });
    await expect(c.start(sink)).rejects.toMatchObject({ code: "E_TRANSPORT" });
  });
});

describe("NatsTransport set-up errors", () => {
  it("a server that does not answer is a connect error naming the address", async () => {
    const probe = await startNatsServer();
    const url = probe.url;
    await probe.close();
    const t = new NatsTransport({ servers: url, connectTimeoutMs: 1000, maxReconnectAttempts: 0 });
    const err = await t.start(new RecordingSink("h")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ reason: "connect", code: "E_TRANSPORT" });
    expect((err as Error).message).toContain(url);
  });

  it("a bad prefix is refused when the transport is made", () => {
    expect(() => new NatsTransport({ servers: "nats://127.0.0.1:1", prefix: "a.>" })).toThrow(TransportError);
    expect(() => new NatsTransport({ servers: "nats://127.0.0.1:1", prefix: "" })).toThrow(/prefix/);
  });

  it("without the nats package, start is TransportUnavailable naming npm install nats", () => {
    // A child whose module resolution has no "nats" (a resolve hook refuses it), importing the compiled transport (dist/).
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-nonats-"));
    writeFileSync(path.join(dir, "hook.mjs"), `export async function resolve(s, c, next) { if (s === "nats") { const e = new Error("Cannot find package 'nats'"); e.code = "ERR_MODULE_NOT_FOUND"; throw e; } return next(s, c); }\n`);
    writeFileSync(path.join(dir, "register.mjs"), `import { register } from "node:module"; register(${JSON.stringify(new URL(`file://${path.join(dir, "hook.mjs")}`).href)});\n`);
    const script = `
      const { NatsTransport } = await import(${JSON.stringify(path.resolve("dist/messaging/nats.js"))});
      const t = new NatsTransport({ servers: "nats://127.0.0.1:1" });
      try { await t.start({ hostId: "h", deliver() {}, async answer() { return { ok: false, error: "failed" }; }, onError() {} }); console.log("started"); }
      catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`;
    const r = spawnSync(process.execPath, ["--import", path.join(dir, "register.mjs"), "--input-type=module", "-e", script], { encoding: "utf8", cwd: process.cwd() });
    const line = r.stdout.trim().split("\n").at(-1) ?? "";
    expect(r.stderr).toBe("");
    const out = JSON.parse(line) as { name: string; code: string; message: string };
    expect(out).toMatchObject({ name: "TransportUnavailable", code: "E_TRANSPORT_UNAVAILABLE" });
    expect(out.message).toContain("npm install nats");
  });
});
