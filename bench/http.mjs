// HTTP benchmarks: a C plugin's echo endpoint through `plughost serve` against a bare fastify route that returns the
// same bytes, in the same run, on loopback.
//
// http_endpoint_rps     requests/s to POST /plugins/http-echo/echo (test/fixtures/c/http-echo) served by the CLI
// http_bare_rps         requests/s to POST /echo of a bare fastify server (body parsed as a buffer, sent back)
// http_endpoint_vs_bare their ratio (goal ≥ 0.70)
// http_endpoint_p99_ms  the endpoint's p99 latency at that load (goal ≤ 5 ms)
//
// Each server runs in a child process of its own, autocannon in this one (2 cores: one for the server, one for the
// load). Short rounds alternate bare and endpoint so a stretch of interference hits both; each round is bounded in
// time and in requests; the figures are medians over rounds, with the spread printed.
import { spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import autocannon from "autocannon";
import { median } from "./stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ECHO = path.join(root, "test/fixtures/c/http-echo");
const BODY = "x".repeat(64);
const ROUNDS = 11;
const SECONDS = 1;
const MAX_REQUESTS = 100_000;
const CONNECTIONS = 10;

// The bare server: the same fastify, the same buffer body parser and content type, no plugin.
const BARE = `
import Fastify from "fastify";
const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
app.post("/echo", async (req, reply) => reply.header("content-type", "application/octet-stream").send(req.body));
console.log(JSON.stringify({ listening: await app.listen({ host: "127.0.0.1", port: 0 }) }));
process.once("SIGTERM", () => app.close().then(() => process.exit(0)));
`;

// The design above (one core for the server, one for the load) made real where `taskset` exists: each server child's
// threads on the last CPU, this process on the first. Without it the scheduler moves both about, and the load
// generator preempting a server in its write shows up as server time, more for the slower of the two.
const CPUS = availableParallelism();
const PIN = CPUS >= 2 && spawnSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" }).status === 0;

/**
 * Pin this process and every thread it has now (the load generator runs on the main thread) to CPU 0; returns a
 * function that gives them back the affinity they had. bench/run.mjs runs every area in this one process, so an area
 * left pinned would run all later areas on one core (the worker's spin, the parallel speed-up, jco on its thread).
 */
function pinLoadGenerator() {
  if (!PIN) return () => {};
  const before = /affinity mask:\s*([0-9a-f,]+)/i.exec(spawnSync("taskset", ["-p", String(process.pid)], { encoding: "utf8" }).stdout ?? "")?.[1];
  spawnSync("taskset", ["-a", "-p", "-c", "0", String(process.pid)], { stdio: "ignore" });
  return () => {
    const mask = before ?? ((1n << BigInt(CPUS)) - 1n).toString(16);
    spawnSync("taskset", ["-a", "-p", mask, String(process.pid)], { stdio: "ignore" });
  };
}

/** Start a server child; resolves to its base URL and a stop function. */
function start(args) {
  // taskset execs node in its place: the pid, signals and exit are node's.
  const [cmd, argv] = PIN ? ["taskset", ["-c", String(CPUS - 1), process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(cmd, argv, { cwd: root, env: { ...process.env, PLUGHOST_LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`server exited (${code}) before listening: ${args.join(" ")}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (!line.startsWith("{")) return;
      const record = JSON.parse(line);
      if (record.listening) {
        child.removeAllListeners("exit");
        resolve({ url: record.listening, stop: () => new Promise((done) => (child.once("exit", done), child.kill("SIGTERM"))) });
      }
    });
  });
}

function load(url) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, method: "POST", body: BODY, headers: { "content-type": "application/octet-stream" }, connections: CONNECTIONS, duration: SECONDS, maxOverallRequests: MAX_REQUESTS },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

async function round(url) {
  const r = await load(url);
  const failed = r.errors + r.timeouts + r.non2xx;
  if (failed > 0) throw new Error(`${url}: ${failed} failed requests (errors ${r.errors}, timeouts ${r.timeouts}, non-2xx ${r.non2xx})`);
  return { rps: r.requests.total / r.duration, p99: r.latency.p99, p50: r.latency.p50 };
}

export async function run() {
  const unpin = pinLoadGenerator();
  try {
    return await measure();
  } finally {
    unpin();
  }
}

async function measure() {
  const endpoint = await start([path.join(root, "dist/cli/index.js"), "serve", ECHO, "--grant", "http:serve", "--port", "0", "--json"]);
  const bare = await start(["--input-type=module", "-e", BARE]);
  const endpointUrl = `${endpoint.url}/plugins/http-echo/echo`;
  const bareUrl = `${bare.url}/echo`;
  // The answers are the same bytes.
  for (const u of [endpointUrl, bareUrl]) {
    const res = await fetch(u, { method: "POST", body: BODY, headers: { "content-type": "application/octet-stream" } });
    const text = await res.text();
    if (res.status !== 200 || text !== BODY) throw new Error(`${u} answered ${res.status} ${JSON.stringify(text.slice(0, 80))}`);
  }
  const per = { endpoint: [], bare: [] };
  try {
    // A short warm-up of each (JIT, connection pools), not counted.
    await load(bareUrl);
    await load(endpointUrl);
    for (let i = 0; i < ROUNDS; i++) {
      per.bare.push(await round(bareUrl));
      per.endpoint.push(await round(endpointUrl));
    }
  } finally {
    await Promise.all([endpoint.stop(), bare.stop()]);
  }
  const m = (xs, k) => median(xs.map((x) => x[k]));
  const spread = (xs, k, d = 0) => `${Math.min(...xs.map((x) => x[k])).toFixed(d)}–${Math.max(...xs.map((x) => x[k])).toFixed(d)}`;
  const results = {
    http_endpoint_rps: m(per.endpoint, "rps"),
    http_bare_rps: m(per.bare, "rps"),
    // "Their ratio": of the two medians above. The per-round ratios are printed too (a round pairs two 1 s runs,
    // which a burst of other load on the machine can split).
    http_endpoint_vs_bare: m(per.endpoint, "rps") / m(per.bare, "rps"),
    http_endpoint_p99_ms: m(per.endpoint, "p99"),
  };
  console.log(`http (${ROUNDS} rounds of ${SECONDS} s or ${MAX_REQUESTS} requests, ${CONNECTIONS} connections, ${BODY.length}-byte body; ${PIN ? `servers on CPU ${CPUS - 1}, load on CPU 0` : "not pinned (no taskset)"}; medians, spread over rounds):`);
  console.log(`  http_bare_rps          ${results.http_bare_rps.toFixed(0)}  rounds ${spread(per.bare, "rps")}  (p50 ${m(per.bare, "p50")} ms, p99 ${m(per.bare, "p99")} ms)`);
  console.log(`  http_endpoint_rps      ${results.http_endpoint_rps.toFixed(0)}  rounds ${spread(per.endpoint, "rps")}  (p50 ${m(per.endpoint, "p50")} ms)`);
  const ratios = per.endpoint.map((e, i) => ({ r: e.rps / per.bare[i].rps }));
  console.log(`  http_endpoint_vs_bare  ${results.http_endpoint_vs_bare.toFixed(3)}  (goal ≥ 0.70; per round: median ${m(ratios, "r").toFixed(3)}, ${spread(ratios, "r", 2)})`);
  console.log(`  http_endpoint_p99_ms   ${results.http_endpoint_p99_ms}  rounds ${spread(per.endpoint, "p99")}  (goal ≤ 5)`);
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await run();
