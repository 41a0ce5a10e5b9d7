// One plughost process for the NATS transport's tests and bench: a registry (the compiled dist/) with a
// NatsTransport, the plugins named in PLUGHOST_NATS_HOST loaded, driven by its parent over IPC (child_process.fork).
//
// PLUGHOST_NATS_HOST = { url, prefix, hostId?, events?: "open" | "strict", isolation?: "in-process" | "worker",
//                        plugins: [{ dir, name }], services?: [name], config?: { <plugin>: {…} },
//                        hostCalls?: {…}, watch?: [event] (reported as "seen" too) }
// Requests (parent → child): { id, op, ...args }; answers: { id, ok: true, value } or { id, ok: false, error }.
// Reports (child → parent): { type: "ready", hostId }, { type: "seen", event, text, source }, { type: "transport-error",
// code, reason, message }.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { NatsTransport, PluginRegistry } from "../../dist/index.js";

const cfg = JSON.parse(process.env.PLUGHOST_NATS_HOST ?? "{}");
const enc = new TextEncoder();
const dec = new TextDecoder();
const send = (m) => process.send?.(m);

/** A transport that reports its errors to the parent too, then hands them to the registry's sink. */
class Reporting {
  constructor(inner) {
    this.inner = inner;
  }
  start(sink) {
    return this.inner.start({
      hostId: sink.hostId,
      deliver: (m) => sink.deliver(m),
      answer: (m) => sink.answer(m),
      onError: (e) => {
        send({ type: "transport-error", code: e.code, reason: e.reason, message: e.message });
        sink.onError(e);
      },
    });
  }
  publish(m) { this.inner.publish(m); }
  request(m, t) { return this.inner.request(m, t); }
  addTarget(n) { this.inner.addTarget(n); }
  removeTarget(n) { this.inner.removeTarget(n); }
  stop() { return this.inner.stop(); }
}

const transport = new NatsTransport({ servers: cfg.url, prefix: cfg.prefix, reconnectWaitMs: 100 });
const registry = new PluginRegistry({
  transport: new Reporting(transport),
  events: cfg.events ?? "open",
  ...(cfg.isolation ? { isolation: cfg.isolation } : {}),
  ...(cfg.config ? { config: cfg.config } : {}),
  ...(cfg.hostCalls ? { hostCalls: cfg.hostCalls } : {}),
  grants: ["events:publish:*", "events:subscribe:*"],
  cacheDir: false,
  ...(cfg.hostId ? { hostId: cfg.hostId } : {}),
});

// Each plugin from a copy of its directory under the name asked for.
const work = mkdtempSync(path.join(tmpdir(), "plughost-nats-host-"));
for (const p of cfg.plugins ?? []) {
  const dir = path.join(work, p.name);
  cpSync(p.dir, dir, { recursive: true });
  const toml = path.join(dir, "plugin.toml");
  writeFileSync(toml, readFileSync(toml, "utf8").replace(/^name = ".*"$/m, `name = "${p.name}"`));
  await registry.load(dir);
}
for (const name of cfg.services ?? []) {
  registry.addService(name, (message) => enc.encode(`${name}:${dec.decode(message.data)} from=${message.source ?? "-"}`));
}
for (const event of ["seen", ...(cfg.watch ?? [])]) {
  registry.subscribe(event, (message) => send({ type: "seen", event: message.event, text: dec.decode(message.data), source: message.source }));
}
// Ready once the transport is connected and the server has this host's subscriptions.
for (const end = Date.now() + 10_000; !transport.connected; await new Promise((r) => setTimeout(r, 10))) {
  if (Date.now() > end) throw new Error("the transport did not connect in 10 s");
}
await transport.flush();

const failure = (e) => ({ name: e?.name, code: e?.code, reason: e?.reason, status: e?.status, message: String(e?.message ?? e) });

let raw;
const ops = {
  async hook({ plugin, event, data, metadata }) {
    const out = await registry.hook(plugin, event, enc.encode(data ?? ""), metadata ? { metadata } : undefined);
    return out.ok ? { data: dec.decode(out.data) } : { status: out.status };
  },
  async request({ target, event, data, timeoutMs, metadata }) {
    return dec.decode(await registry.request(target, event, enc.encode(data ?? ""), { timeoutMs, metadata }));
  },
  async dispatch({ event, data, metadata }) {
    const results = await registry.dispatch(event, enc.encode(data ?? ""), { metadata });
    return results.length;
  },
  /** `n` host requests of `size` bytes to `target`, one after another: each one's time in ns. */
  async benchRequest({ target, event, n, size }) {
    const data = new Uint8Array(size).fill(120);
    const times = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await registry.request(target, event, data, { timeoutMs: 5000 });
      times.push(Number(process.hrtime.bigint() - t0));
    }
    return times;
  },
  /** `n` plugin-to-plugin requests: `plugin`'s ask hook asks `target` across the bus, each one's time in ns. */
  async benchAsk({ plugin, target, event, n, size }) {
    const data = enc.encode(`${target}\n${event}\n5000\n${"x".repeat(size)}`);
    const times = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      const out = await registry.hook(plugin, "ask", data);
      times.push(Number(process.hrtime.bigint() - t0));
      if (!out.ok) throw new Error(`ask failed with status ${out.status}`);
    }
    return times;
  },
  /** A bare NATS responder on `subject` (echoes), for the bench's floor. */
  async rawResponder({ subject }) {
    const { connect } = await import("nats");
    raw ??= await connect({ servers: cfg.url, noAsyncTraces: true });
    raw.subscribe(subject, { callback: (_err, msg) => msg.respond(msg.data) });
    await raw.flush();
    return true;
  },
  /** `n` bare NATS requests of `size` bytes to `subject`: each one's time in ns. */
  async benchRaw({ subject, n, size }) {
    const { connect } = await import("nats");
    raw ??= await connect({ servers: cfg.url, noAsyncTraces: true });
    const data = new Uint8Array(size).fill(120);
    const times = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await raw.request(subject, data, { timeout: 5000 });
      times.push(Number(process.hrtime.bigint() - t0));
    }
    return times;
  },
  async flush() {
    await transport.flush();
    return true;
  },
  connected() {
    return transport.connected;
  },
  async stop() {
    await raw?.close();
    if (typeof registry.close === "function") await registry.close();
    else await registry.unloadAll();
    await transport.stop();
    rmSync(work, { recursive: true, force: true });
    setImmediate(() => process.exit(0));
    return true;
  },
};

process.on("message", async (m) => {
  try {
    send({ id: m.id, ok: true, value: await ops[m.op](m) });
  } catch (e) {
    send({ id: m.id, ok: false, error: failure(e) });
  }
});
send({ type: "ready", hostId: cfg.hostId });
