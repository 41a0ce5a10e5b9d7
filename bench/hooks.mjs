// Hook chains (docs/hooks.md): one registry.runHook through 10 C hooks on in-process v8, 16 bytes in and out of
// each (test/fixtures/c/hook-policy's `pass`), per chain. Also, for comparison, the same chain with one host hook in
// it (the general path) and with a policy on every hook (timeout-ms: the general path, one promise per hook).
//
// The floor, measured in alternation with the chain: the same ten hooks called on the v8 engine's instances directly
// (no registry, no chain; the registry's default limits, so metered alike), each output the next one's input:
// `hook_chain_10_floor_ns`. And spine's v8_dispatch_hook_ns (`hookSync("echo")` on test/fixtures/c/bench, which
// answers err(status), so no output is read) times ten: `v8_dispatch_hook_x10_ns`.
import path from "node:path";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { PluginRegistry } from "../dist/index.js";
import { v8Engine } from "../dist/engines/v8/engine.js";
import { DEFAULT_LIMITS } from "../dist/runtime/policy.js";
import { median, silentHost } from "./stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FIXTURE = path.join(root, "test/fixtures/c/hook-policy");
const BENCH = path.join(root, "test/fixtures/c/bench");

/**
 * Median ns per call of each of `calls` over many short batches, with their spread. The batches alternate between
 * the calls, so that each sees the same states of a shared, noisy machine.
 */
async function perCalls(calls) {
  const entries = Object.entries(calls);
  for (const [, call] of entries) for (let i = 0; i < 20_000; i++) await call(); // warm-up: every plugin's code optimised
  const samples = new Map(entries.map(([name]) => [name, []]));
  for (let r = 0; r < 31; r++) {
    for (const [name, call] of entries) {
      const N = 2_000;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) await call();
      samples.get(name).push(Number(process.hrtime.bigint() - t0) / N);
    }
  }
  const out = {};
  for (const [name, s] of samples) {
    s.sort((a, b) => a - b);
    out[name] = { median: median(s), lo: s[0], hi: s[s.length - 1] };
  }
  return out;
}

/** `n` in-process v8 engine instances of the fixture, initialised, with the registry's default limits: the floor's hooks. */
async function engineInstances(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const x = await v8Engine.load({ plugin: `floor-${i}`, entryPath: path.join(FIXTURE, "plugin.wasm"), capabilities: [], limits: { ...DEFAULT_LIMITS }, host: silentHost(), isolation: "in-process" });
    const rc = x.initSync("0.1.0", JSON.stringify({ tag: "?" }));
    if (rc !== 0) throw new Error(`the floor's instance ${i} failed to initialise (${rc})`);
    out.push(x);
  }
  return out;
}

/**
 * One chain per call, checked first. With `reference`, the machine's state beside it, measured in alternation with
 * it: a dispatch to the same plugins, the ten hooks called one after another through `hookSync` (what the chain
 * costs without the chain), the same hooks on bare engine instances (the floor), and spine's v8_dispatch_hook call
 * ten times.
 */
async function perChain(registry, event, data, reference) {
  const first = await registry.runHook(event, data);
  if (!first.ok || first.errors.length > 0 || first.data.length !== data.length) throw new Error(`the chain failed: ${JSON.stringify(first)}`);
  const calls = { chain: () => registry.runHook(event, data) };
  const cleanup = [];
  try {
    if (reference) {
      const handles = registry.subscribers(event).map((name) => registry.get(name));
      calls.dispatch = () => registry.dispatch(event, data);
      calls.bare = () => {
        let d = data;
        for (const h of handles) d = h.hookSync(event, d).data;
        return Promise.resolve(d);
      };
      const engines = await engineInstances(handles.length);
      cleanup.push(() => Promise.all(engines.map((x) => x.dispose())));
      let d = data;
      for (const x of engines) d = x.onHookSync(event, d).data;
      if (d.length !== data.length) throw new Error("the floor's hooks changed the data");
      calls.floor = () => {
        let d = data;
        for (const x of engines) d = x.onHookSync(event, d).data;
        return Promise.resolve(d);
      };
      const spine = new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false });
      cleanup.push(() => spine.unloadAll());
      const bench = await spine.load(BENCH);
      calls.spineHook = () => {
        for (let k = 0; k < 10; k++) bench.hookSync("echo", data);
        return Promise.resolve();
      };
    }
    const m = await perCalls(calls);
    return Object.assign(m.chain, reference ? { dispatch: m.dispatch, bare: m.bare, floor: m.floor, spineHook: m.spineHook } : {});
  } finally {
    for (const c of cleanup) await c();
  }
}

async function chainOf(n, { policy = "", hostHook = false, reference = false } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "plughost-bench-hooks-"));
  const registry = new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false, engine: "v8", isolation: "in-process" });
  try {
    const manifest = readFileSync(path.join(FIXTURE, "plugin.toml"), "utf8");
    for (let i = 0; i < n; i++) {
      const p = path.join(dir, `hook-${i}`);
      cpSync(FIXTURE, p, { recursive: true });
      writeFileSync(path.join(p, "plugin.toml"), manifest.replace('name = "hook-policy"', `name = "hook-${i}"`) + `\n[[hooks]]\nevent = "pass"\npriority = ${1000 - i}\n${policy}`);
      await registry.load(p);
    }
    if (hostHook) registry.addHook("pass", () => undefined, { priority: 500 });
    return await perChain(registry, "pass", new Uint8Array(16).fill(7), reference);
  } finally {
    await registry.unloadAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run() {
  const plain = await chainOf(10, { reference: true });
  const withHost = await chainOf(10, { hostHook: true });
  const withPolicy = await chainOf(10, { policy: "timeout-ms = 1000\n" });
  const results = {
    hook_chain_10_ns: plain.median,
    hook_chain_10_floor_ns: plain.floor.median,
    v8_dispatch_hook_x10_ns: plain.spineHook.median,
    hook_chain_10_host_hook_ns: withHost.median,
    hook_chain_10_policy_ns: withPolicy.median,
  };
  console.log("hook chains, 10 C hooks of 16 bytes on in-process v8, per chain (medians of 31 batches; the first five alternate batch by batch):");
  console.log(`  hook_chain_10_ns             ${plain.median.toFixed(0)} ns  (batches ${plain.lo.toFixed(0)}–${plain.hi.toFixed(0)})   goal ≤ 1500`);
  console.log(`  hook_chain_10_floor_ns       ${plain.floor.median.toFixed(0)} ns  (batches ${plain.floor.lo.toFixed(0)}–${plain.floor.hi.toFixed(0)})   the same 10 hooks on bare engine instances`);
  console.log(`  v8_dispatch_hook_x10_ns      ${plain.spineHook.median.toFixed(0)} ns  (batches ${plain.spineHook.lo.toFixed(0)}–${plain.spineHook.hi.toFixed(0)})   spine's hookSync("echo") × 10 (an err answer)`);
  console.log(`  a dispatch to the same 10    ${plain.dispatch.median.toFixed(0)} ns  (batches ${plain.dispatch.lo.toFixed(0)}–${plain.dispatch.hi.toFixed(0)})   the machine now`);
  console.log(`  10 hookSync calls in a row   ${plain.bare.median.toFixed(0)} ns  (batches ${plain.bare.lo.toFixed(0)}–${plain.bare.hi.toFixed(0)})   the hooks without the chain`);
  console.log(`  hook_chain_10_host_hook_ns   ${withHost.median.toFixed(0)} ns  (batches ${withHost.lo.toFixed(0)}–${withHost.hi.toFixed(0)})   one host hook in the chain`);
  console.log(`  hook_chain_10_policy_ns      ${withPolicy.median.toFixed(0)} ns  (batches ${withPolicy.lo.toFixed(0)}–${withPolicy.hi.toFixed(0)})   timeout-ms on every hook`);
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
