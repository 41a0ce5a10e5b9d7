// Persistent plugin state (docs/state.md): a C plugin (test/fixtures/c/state-counter) on in-process v8 gets and sets
// a 64-byte value under a 16-byte key, per call, through hookSync: the hook call, the guest's state-get / state-set
// and the backend. SQLite in WAL mode with synchronous=NORMAL: each set is committed (durable against the host
// process being killed) when its call returns. The host holds its file (locking "exclusive"), so a get of a value
// it has read or written is answered by the backend's read cache; state_get_uncached_ns is the same get with the cache
// off (readCacheBytes 0), a read of the database on every call. Redis: the same
// get through a local redis-server (test/helpers/redis-server.mjs), a round trip on every call.
// Beside them, the same hook call without a state call (hook `mem`), measured in alternation: what the state part adds.
import path from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { PluginRegistry } from "../dist/index.js";
import { redisSyncAddon } from "../dist/state/redis-sync.js";
import { median } from "./stats.mjs";
import { startRedisServer } from "../test/helpers/redis-server.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FIXTURE = path.join(root, "test/fixtures/c/state-counter");
const enc = new TextEncoder();
const dec = new TextDecoder();
const KEY = "bench-key-16byte"; // 16 bytes
const VALUE = "v".repeat(64);

/**
 * Median ns per call of each of `calls` over short batches, alternating between them so that each sees the same
 * states of a shared, noisy machine; with the spread of the batches.
 */
function perCalls(calls, { warm = 20_000, rounds = 31, n = 2_000 } = {}) {
  const entries = Object.entries(calls);
  for (const [, call] of entries) for (let i = 0; i < warm; i++) call();
  const samples = new Map(entries.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, call] of entries) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) call();
      samples.get(name).push(Number(process.hrtime.bigint() - t0) / n);
    }
  }
  const out = {};
  for (const [name, s] of samples) {
    s.sort((a, b) => a - b);
    out[name] = { median: median(s), lo: s[0], hi: s[s.length - 1] };
  }
  return out;
}

/** A registry over `state` with the fixture loaded; its get, set and no-state calls, each checked once. */
async function setUp(state) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "plughost-bench-state-"));
  const registry = new PluginRegistry({
    logger: pino({ level: "silent" }),
    cacheDir: false,
    dataDir,
    engine: "v8",
    isolation: "in-process",
    grants: ["state", "context:*", "context:write:*"],
    ...(state ? { state } : {}),
  });
  const h = await registry.load(FIXTURE);
  registry.state("state-counter").wipe();
  const setData = enc.encode(`${KEY}=${VALUE}`);
  // Each set writes a value that differs from the stored one: SQLite skips rewriting a cell whose content is
  // unchanged, so setting the same bytes again would measure less than a real write.
  const setVariants = [0, 1].map((i) => enc.encode(`${KEY}=${String(i).repeat(64)}`));
  let turn = 0;
  const getData = enc.encode(KEY);
  const empty = new Uint8Array();
  const check = (out, want, what) => {
    if (!out.ok || dec.decode(out.data) !== want) throw new Error(`${what} answered ${out.ok ? JSON.stringify(dec.decode(out.data)) : `status ${out.status}`}`);
  };
  check(h.hookSync("set", setData), "ok", "set");
  check(h.hookSync("get", getData), VALUE, "get");
  return {
    registry,
    calls: {
      get: () => h.hookSync("get", getData),
      set: () => h.hookSync("set", setVariants[(turn ^= 1)]),
      bare: () => h.hookSync("mem", empty),
    },
    close: async () => {
      await registry.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function run() {
  const results = {};
  const sqlite = await setUp(undefined);
  let m;
  try {
    m = perCalls(sqlite.calls);
  } finally {
    await sqlite.close();
  }
  results.state_get_ns = m.get.median;
  results.state_set_ns = m.set.median;
  results.state_hook_bare_ns = m.bare.median;
  const uncached = await setUp({ readCacheBytes: 0 });
  let u;
  try {
    u = perCalls({ get: uncached.calls.get, bare: uncached.calls.bare });
  } finally {
    await uncached.close();
  }
  results.state_get_uncached_ns = u.get.median;

  const server = await startRedisServer();
  let r;
  try {
    const redis = await setUp({ backend: "redis", url: server.url });
    try {
      r = perCalls({ get: redis.calls.get, bare: redis.calls.bare }, { warm: 2_000, rounds: 15, n: 500 });
    } finally {
      await redis.close();
    }
  } finally {
    await server.close();
  }
  results.state_redis_get_us = r.get.median / 1000;

  const f = (x) => Math.round(x).toLocaleString("en");
  console.log("persistent state, a C plugin on in-process v8, 64-byte value under a 16-byte key, per call (hookSync):");
  console.log(`  state_get_ns        ${f(m.get.median)} ns  (batches ${f(m.get.lo)}–${f(m.get.hi)})   goal ≤ 2,000   SQLite, WAL, the file held by the host: answered by the backend's read cache`);
  console.log(`  state_get_uncached_ns ${f(u.get.median)} ns  (batches ${f(u.get.lo)}–${f(u.get.hi)})   the same with readCacheBytes 0: a database read per call`);
  console.log(`  state_set_ns        ${f(m.set.median)} ns  (batches ${f(m.set.lo)}–${f(m.set.hi)})   goal ≤ 20,000  SQLite, WAL + synchronous=NORMAL: committed, durable against a killed process, when the call returns (not fsynced: a power loss may lose it)`);
  console.log(`  state_hook_bare_ns  ${f(m.bare.median)} ns  the same hook call without a state call (measured in alternation)`);
  console.log(`  state_redis_get_us  ${(r.get.median / 1000).toFixed(1)} µs  (batches ${(r.get.lo / 1000).toFixed(1)}–${(r.get.hi / 1000).toFixed(1)})   goal ≤ 100   a local redis-server, one round trip per call, ${redisSyncAddon().addon ? "sync transport (hiredis on the calling thread)" : "worker transport (the hiredis addon is not built)"} (the hook without it: ${f(r.bare.median)} ns)`);
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await run());
