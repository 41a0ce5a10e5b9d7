// A request across two plughost processes through a local nats-server (the NATS transport, docs/messaging.md):
// host A's registry.request(16 bytes) to a C plugin (in-process v8) loaded in host B, whose on-hook answers the
// same 16 bytes. Both hosts are real child processes (test/helpers/nats-host.mjs); the server is Debian's
// nats-server on 127.0.0.1. Also printed, for scale: a bare NATS request/reply between the same two processes (the
// floor the transport adds to), and a plugin-to-plugin request (A's C plugin in a worker asks B's plugin).
//
// nats_request_roundtrip_us: the median over every timed request of all rounds (goal ≤ 150 µs); the spread is the
// round medians' range. nats_request_floor_us: the same request/reply between two processes that hold only the
// `nats` client (bench/fixtures/nats-raw-peer.mjs, no plughost at all), measured in the same rounds: what this
// machine allows any client, the bound under which the goal cannot be met here.
import { fork } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "./stats.mjs";
import { startNatsServer } from "../test/helpers/nats-server.mjs";
import { startHost } from "../test/helpers/nats-hosts.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const peer = path.join(root, "test/fixtures/c/nats-peer");
const ROUNDS = 7;
const PER_ROUND = 1000;
const SIZE = 16;

const us = (ns) => ns / 1000;

/** A process with the `nats` client and nothing of plughost (bench/fixtures/nats-raw-peer.mjs); resolves once connected. */
function startPeer(cfg) {
  const child = fork(path.join(root, "bench/fixtures/nats-raw-peer.mjs"), [], { env: { ...process.env, PLUGHOST_NATS_PEER: JSON.stringify(cfg) }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const pending = new Map();
  let nextId = 0;
  const ready = new Promise((resolve, reject) => {
    child.on("message", (m) => {
      if (m.type === "ready") return resolve();
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.ok) p?.resolve(m.value);
      else p?.reject(new Error(m.error));
    });
    child.once("exit", (code, signal) => {
      const e = new Error(`the raw NATS peer exited (${code ?? signal})`);
      reject(e);
      for (const p of pending.values()) p.reject(e);
    });
  });
  return ready.then(() => ({
    times(n, size) {
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, n, size });
      });
    },
    stop() {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      return new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.send({ op: "stop" });
        setTimeout(() => child.kill("SIGKILL"), 3000).unref();
      });
    },
  }));
}
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

export async function run() {
  const server = await startNatsServer();
  const common = { url: server.url, prefix: "bench" };
  let a;
  let b;
  let pa;
  let pb;
  try {
    [a, b, pb] = await Promise.all([
      startHost({ ...common, hostId: "bench-a", isolation: "worker", plugins: [{ dir: peer, name: "asker" }] }),
      startHost({ ...common, hostId: "bench-b", isolation: "in-process", plugins: [{ dir: peer, name: "answerer" }] }),
      startPeer({ url: server.url, role: "responder", subject: "bench-peer.echo" }),
    ]);
    pa = await startPeer({ url: server.url, role: "requester", subject: "bench-peer.echo" });
    await b.call("rawResponder", { subject: "bench-raw.echo" });
    // Warm-up: connections, the JIT on both sides, the plugin.
    await a.call("benchRequest", { target: "answerer", event: "mirror", n: 500, size: SIZE });
    await a.call("benchRaw", { subject: "bench-raw.echo", n: 500, size: SIZE });
    await a.call("benchAsk", { plugin: "asker", target: "answerer", event: "mirror", n: 200, size: SIZE });
    await pa.times(500, SIZE);

    const all = { request: [], raw: [], peer: [], ask: [] };
    const rounds = { request: [], raw: [], peer: [], ask: [] };
    for (let r = 0; r < ROUNDS; r++) {
      // Interleaved, so a stretch of interference on the shared machine hits all four alike.
      for (const [k, op, args] of [
        ["request", "benchRequest", { target: "answerer", event: "mirror" }],
        ["peer", undefined, undefined],
        ["raw", "benchRaw", { subject: "bench-raw.echo" }],
        ["ask", "benchAsk", { plugin: "asker", target: "answerer", event: "mirror" }],
      ]) {
        const times = op === undefined ? await pa.times(PER_ROUND, SIZE) : await a.call(op, { ...args, n: k === "ask" ? PER_ROUND / 4 : PER_ROUND, size: SIZE });
        all[k].push(...times);
        rounds[k].push(median(times));
      }
    }
    const results = {
      nats_request_roundtrip_us: +us(median(all.request)).toFixed(1),
      nats_request_floor_us: +us(median(all.peer)).toFixed(1),
    };
    const line = (label, k) => {
      const lo = us(Math.min(...rounds[k]));
      const hi = us(Math.max(...rounds[k]));
      return `  ${label.padEnd(34)} ${us(median(all[k])).toFixed(1)} µs  rounds ${lo.toFixed(1)}–${hi.toFixed(1)}  p90 ${us(pct(all[k], 90)).toFixed(1)}  p99 ${us(pct(all[k], 99)).toFixed(1)}`;
    };
    console.log(`nats (${ROUNDS} rounds, ${SIZE} bytes each way, two processes, nats-server on 127.0.0.1; medians):`);
    console.log(line("nats_request_roundtrip_us", "request"));
    console.log(line("nats_request_floor_us (raw peers)", "peer"));
    console.log(line("bare NATS inside the two hosts", "raw"));
    console.log(line("plugin → plugin (worker asker)", "ask"));
    console.log(`  plughost over the raw peers: ${(us(median(all.request)) - us(median(all.peer))).toFixed(1)} µs`);
    console.log(`  goal: nats_request_roundtrip_us ≤ 150 (load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores: on a busy machine the floor rises with it)`);
    return results;
  } finally {
    await Promise.all([a?.stop(), b?.stop(), pa?.stop(), pb?.stop()]);
    await server.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
