// Two real plughost processes (test/helpers/nats-host.mjs: a registry with a NatsTransport and C plugins built from
// the SDK) on a real nats-server: emit, send and request across hosts with their envelopes, the receiving side's
// capability checks (strict events policy), a cycle across hosts, and the server stopped mid-run (typed errors, local
// delivery unaffected) and restarted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import path from "node:path";
import { startNatsServer, type NatsServer } from "./helpers/nats-server.mjs";
import { startHost, type HostProcess } from "./helpers/nats-hosts.mjs";

const peer = path.resolve("test/fixtures/c/nats-peer");
// The request-error codes as a C plugin sees them: PLUGHOST_REQUEST_ERR(code) = 1 + code.
const ERR = { "unknown-target": 2, "not-handled": 3, cycle: 6, timeout: 8, rejected: 9 } as const;

describe("two plughost hosts over NATS", () => {
  let server: NatsServer;
  let a: HostProcess;
  let b: HostProcess;

  beforeAll(async () => {
    server = await startNatsServer();
    const common = { url: server.url, prefix: "hosts", events: "strict" as const, isolation: "worker" as const };
    [a, b] = await Promise.all([
      startHost({ ...common, hostId: "host-a", plugins: [{ dir: peer, name: "peer-a1" }, { dir: peer, name: "peer-a2" }] }),
      startHost({ ...common, hostId: "host-b", plugins: [{ dir: peer, name: "peer-b1" }], services: ["clock-svc"] }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await server?.close();
  });

  const seenFrom = (h: HostProcess, source: string, event: string) => h.seen.filter((s) => s.source === source && s.text.startsWith(`${event} `));

  it("a plugin's emit reaches the other host's subscriber with its envelope and metadata, and the local one", async () => {
    const out = await a.call("hook", { plugin: "peer-a1", event: "do.emit", data: "news\nhello", metadata: { trace: "t-1" } });
    expect(out).toEqual({ data: "news\nhello" }); // status 0, the hook's input passed through
    await b.until(() => seenFrom(b, "peer-b1", "news").length === 1, "news on host b");
    expect(seenFrom(b, "peer-b1", "news")[0]!.text).toBe("news source=peer-a1 target=- kind=0 meta=trace=t-1 data=hello");
    await a.until(() => seenFrom(a, "peer-a2", "news").length === 1, "news on host a");
    // peer-a1 does not hear its own emit, on either host.
    expect(seenFrom(a, "peer-a1", "news")).toHaveLength(0);
  });

  it("the receiving side's grants hold: an event the plugin may not subscribe to never reaches it", async () => {
    await a.call("hook", { plugin: "peer-a1", event: "do.emit", data: "secret\ns" });
    await a.call("hook", { plugin: "peer-a1", event: "do.emit", data: "news\nafter-secret" });
    await b.until(() => seenFrom(b, "peer-b1", "news").some((s) => s.text.endsWith("data=after-secret")), "the marker on host b");
    expect(b.seen.some((s) => s.text.startsWith("secret "))).toBe(false);
    // A send of the ungranted event to it is dropped too.
    await a.call("hook", { plugin: "peer-a1", event: "do.send", data: "peer-b1\nsecret\nx" });
    await a.call("hook", { plugin: "peer-a1", event: "do.send", data: "peer-b1\ndirect\nafter" });
    await b.until(() => seenFrom(b, "peer-b1", "direct").length === 1, "the direct send on host b");
    expect(seenFrom(b, "peer-b1", "direct")[0]!.text).toBe("direct source=peer-a1 target=peer-b1 kind=0 meta= data=after");
    expect(b.seen.some((s) => s.text.startsWith("secret "))).toBe(false);
    // Only peer-b1 got the send: peer-a2 on host a did not.
    expect(seenFrom(a, "peer-a2", "direct")).toHaveLength(0);
  });

  it("a plugin's request is answered by a plugin on the other host; refusals keep their reason", async () => {
    expect(await a.call("hook", { plugin: "peer-a1", event: "ask", data: "peer-b1\necho\n2000\nping" })).toEqual({ data: "peer-b1:ping" });
    expect(await a.call("hook", { plugin: "peer-a1", event: "ask", data: "nobody\necho\n2000\nx" })).toEqual({ status: ERR["unknown-target"] });
    expect(await a.call("hook", { plugin: "peer-a1", event: "ask", data: "peer-b1\nreject\n2000\nx" })).toEqual({ status: ERR.rejected });
    expect(await a.call("hook", { plugin: "peer-a1", event: "ask", data: "peer-b1\nsecret\n2000\nx" })).toEqual({ status: ERR["not-handled"] });
  });

  it("a request chain that comes back to a waiting plugin on the first host is a cycle", async () => {
    // peer-a1 asks peer-b1 to relay a request to peer-a1, which is waiting: refused as a cycle on host a.
    const out = await a.call("hook", { plugin: "peer-a1", event: "ask", data: "peer-b1\nrelay\n3000\npeer-a1\necho\n1000\nz" });
    expect(out).toEqual({ data: `refused:${ERR.cycle}` });
    // Through a third plugin it is still a cycle: a1 → b1 → a2 → a1.
    const longer = await a.call("hook", { plugin: "peer-a1", event: "ask", data: "peer-b1\nrelay\n3000\npeer-a2\nrelay\n2000\npeer-a1\necho\n1000\nz" });
    expect(longer).toEqual({ data: `refused:${ERR.cycle}` });
  });

  it("the host requests a plugin and a host service on the other host; a timeout is a RequestFailed", async () => {
    expect(await a.call("request", { target: "peer-b1", event: "echo", data: "from-host" })).toBe("peer-b1:from-host");
    expect(await a.call("request", { target: "clock-svc", event: "now", data: "q" })).toBe("clock-svc:q from=-");
    // 40 million iterations: well within the plugin's fuel, far over 20 ms.
    const err = await a.call("request", { target: "peer-b1", event: "slow", data: "40", timeoutMs: 20 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_REQUEST_FAILED", reason: "timeout" });
    // The late answer is dropped; peer-b1 is idle again once a call queued behind the slow one returns.
    expect(await b.call("hook", { plugin: "peer-b1", event: "echo", data: "idle" })).toEqual({ data: "peer-b1:idle" });
    const none = await a.call("request", { target: "nobody", event: "echo" }).catch((e: unknown) => e);
    expect(none).toMatchObject({ code: "E_REQUEST_FAILED", reason: "unknown-target" });
  });

  it("with the server stopped, messages to the other host are typed errors and local delivery goes on; after a restart they cross again", async () => {
    await server.stop();
    await a.until(() => a.errors.some((e) => e.reason === "disconnected"), "host a's disconnect");
    a.errors.length = 0;
    // The emit still reaches peer-a2 here; host b cannot get it, and host a says so.
    expect(await a.call("hook", { plugin: "peer-a1", event: "do.emit", data: "news\nwhile-down" })).toEqual({ data: "news\nwhile-down" });
    await a.until(() => seenFrom(a, "peer-a2", "news").some((s) => s.text.endsWith("data=while-down")), "the local delivery");
    await a.until(() => a.errors.some((e) => e.code === "E_TRANSPORT" && e.reason === "disconnected" && e.message.includes('"news"')), "the publish error");
    // A request across is refused at once, not hung.
    const t0 = Date.now();
    const err = await a.call("request", { target: "peer-b1", event: "echo", data: "x", timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_REQUEST_FAILED" });
    expect(Date.now() - t0).toBeLessThan(2000);
    // A request inside the host still works.
    expect(await a.call("hook", { plugin: "peer-a1", event: "ask", data: "peer-a2\necho\n2000\nlocal" })).toEqual({ data: "peer-a2:local" });

    await server.restart();
    const end = Date.now() + 15_000;
    while (!((await a.call("connected")) && (await b.call("connected")))) {
      if (Date.now() > end) throw new Error("the hosts did not reconnect");
      await new Promise((r) => setTimeout(r, 50));
    }
    // Once host b's subscriptions are back on the server, host a finds peer-b1 again.
    await b.call("flush");
    expect(await a.call("request", { target: "peer-b1", event: "echo", data: "back" })).toBe("peer-b1:back");
    await a.call("hook", { plugin: "peer-a1", event: "do.emit", data: "news\nafter-restart" });
    await b.until(() => seenFrom(b, "peer-b1", "news").some((s) => s.text.endsWith("data=after-restart")), "news after the restart");
    expect(seenFrom(b, "peer-b1", "news").some((s) => s.text.endsWith("data=while-down"))).toBe(false);
  }, 45_000);
});

describe("a message loop across two hosts", () => {
  let server: NatsServer;
  let a: HostProcess;
  let b: HostProcess;
  const relay = path.resolve("test/fixtures/c/hostile-messaging");

  beforeAll(async () => {
    server = await startNatsServer();
    const common = { url: server.url, prefix: "loop", hostCalls: { maxMessageHops: 6 }, watch: ["ping", "pong"] };
    // ping-a answers every "ping" with a "pong", pong-b every "pong" with a "ping": without end, but for the hop limit.
    [a, b] = await Promise.all([
      startHost({ ...common, hostId: "loop-a", plugins: [{ dir: relay, name: "ping-a" }], config: { "ping-a": { listen: "ping", reply: "pong" } } }),
      startHost({ ...common, hostId: "loop-b", plugins: [{ dir: relay, name: "pong-b" }], config: { "pong-b": { listen: "pong", reply: "ping" } } }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await server?.close();
  });

  it("ends at hostCalls.maxMessageHops, counted across both hosts", async () => {
    await a.call("dispatch", { event: "ping", data: "go" });
    // Host a sees its plugin's pongs; host b its plugin's pings (a host's subscribers hear both hosts' emits).
    await b.until(() => b.seen.filter((s) => s.event === "ping" && s.source === "pong-b").length >= 2, "the loop to get going");
    // Let it run out, then check it stays stopped.
    let last = -1;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const n = a.seen.length + b.seen.length;
      if (n === last) break;
      last = n;
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(a.seen.length + b.seen.length).toBe(last);
    const pongs = a.seen.filter((s) => s.event === "pong" && s.source === "ping-a").length;
    const pings = b.seen.filter((s) => s.event === "ping" && s.source === "pong-b").length;
    // dispatch → pong (hop 1) → ping (2) → … → ping (6): pong-b answers three pongs, the last one at hop 5; the pong
    // that would be hop 7 is refused at its sender (denied, as a local one would be), so no host sees it.
    expect(pings).toBe(3);
    expect(pongs).toBe(3);
  }, 30_000);
});
