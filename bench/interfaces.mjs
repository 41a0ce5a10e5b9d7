// App-defined WIT interfaces on the v8 engine (docs/host-interfaces.md). Each figure is the median over ROUNDS rounds
// (the min–max over rounds printed beside it); the keys measure what issue 15 names, through the registry:
// - host_iface_call_ns: a mirror guest calls calc.add(u32, u32) -> u32, provided with registry.provide (the registry's
//   bound function around the implementation included), in a loop (mirror.add-loop, n = 20,000), per call: a loop of n
//   calls against a loop of none (medians of 25 runs each). host_iface_call_engine_ns: the same with a bare function bound at the engine (as
//   bench/interfaces-wasmtime.mjs does), the floor the registry adds to.
// - host_iface_record_ns: kinds.echo-item (registry.provide) with a 4-field record (a 32-byte name, two tags) in and
//   out, per call (mirror.item-loop, n = 4,000); host_iface_record_engine_ns: bare at the engine.
// - typed_export_call_ns: the host calls mirror.touch(string) through handle.callSync; v8_dispatch_hook_same_run_ns is
//   v8_dispatch_hook_ns measured in the same rounds the way bench/spine.mjs does (hookSync on the C bench plugin, the
//   registry's defaults), and typed_export_vs_hook the median of the rounds' ratios (goal ≤ 1.5).
//   typed_export_call_engine_ns: callExportSync on the engine.
// The guest is the C mirror (c-probe) when it is built, else rust-mirror.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { median, silentHost, timePerCall } from "./stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const APP_WIT = path.join(root, "test/fixtures/wit/acme-app/app.wit");
const BENCH = path.join(root, "test/fixtures/c/bench");
const MIRROR = "acme:app/mirror@1.0.0";
const GUESTS = ["c-probe", "rust-mirror"].map((n) => path.join(root, "test/fixtures/iface", n));
const ROUNDS = 5;
const KINDS = ["echo-scalars", "echo-string", "echo-bytes", "echo-item", "echo-items", "echo-shape", "echo-color", "echo-perms", "echo-maybe", "echo-outcome", "echo-pair"];

/** Median ms of `fn()` over `runs` runs after five warm-ups (short runs: a loaded machine preempts fewer of them). */
function timeMs(fn, runs) {
  for (let i = 0; i < 5; i++) fn();
  const xs = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

/** ns per guest → host call: a loop of n calls against a loop of none (the export call itself). */
function perCall(loop, n, runs) {
  const full = timeMs(() => loop(n), runs);
  const empty = timeMs(() => loop(0), runs);
  return Math.max(0, ((full - empty) * 1e6) / n);
}

const item = { id: 42n, name: "x".repeat(32), tags: ["a", "b"], weight: 1.5 };

async function engineFigures(dir, app) {
  const { v8Engine } = await import(path.join(root, "dist/engines/v8/engine.js"));
  const iface = (name) => app.interfaces.find((i) => i.name === name);
  const bind = (name, fns) => [`acme:app/${name}@1.0.0`, { iface: iface(name), importedAs: `acme:app/${name}@1.0.0`, functions: new Map(Object.entries(fns)) }];
  const echo = (args) => args[0];
  const interfaces = {
    imports: new Map([bind("calc", { add: (args) => (args[0] + args[1]) >>> 0 }), bind("kinds", { ...Object.fromEntries(KINDS.map((n) => [n, echo])), "many-args": () => 0n })]),
    exports: new Map([[MIRROR, iface("mirror")]]),
  };
  const inst = await v8Engine.load({
    plugin: "bench-mirror",
    entryPath: path.join(dir, "plugin.wasm"),
    capabilities: ["stdio", "clock", "random"],
    limits: {},
    host: silentHost(),
    isolation: "in-process",
    interfaces,
  });
  await inst.init("0.1.0", "{}");
  try {
    const s = "a string argument";
    const out = { add: [], record: [], touch: [] };
    for (let r = 0; r < ROUNDS; r++) {
      out.add.push(perCall((n) => inst.callExportSync(MIRROR, "add-loop", [n]), 20_000, 25));
      out.record.push(perCall((n) => inst.callExportSync(MIRROR, "item-loop", [item, n]), 4_000, 25));
      out.touch.push(timePerCall(() => inst.callExportSync(MIRROR, "touch", [s]), { batch: 20_000, batches: 15 }));
    }
    return out;
  } finally {
    await inst.dispose();
  }
}

async function registryFigures(dir) {
  const { PluginRegistry } = await import(path.join(root, "dist/index.js"));
  const registry = new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false, grants: { "*": ["iface:acme:app/*", "stdio", "clock", "random"] } });
  try {
    registry.defineInterfaces(APP_WIT);
    registry.provide("acme:app/calc@1.0.0", { add: (a, b) => (a + b) >>> 0 });
    const echo = (v) => v;
    registry.provide("acme:app/kinds@1.0.0", { ...Object.fromEntries(KINDS.map((n) => [n.replace(/-(\w)/g, (_m, c) => c.toUpperCase()), echo])), manyArgs: () => 0n });
    const mirror = await registry.load(dir);
    const bench = await registry.load(BENCH);
    const data = new Uint8Array(16).fill(7);
    const s = "a string argument";
    // As bench/spine.mjs: many short batches, each measured twice with the other in between, the lower kept.
    const opts = { batch: 20_000, batches: 15 };
    const out = { add: [], record: [], touch: [], hook: [], ratio: [] };
    for (let r = 0; r < ROUNDS; r++) {
      out.add.push(perCall((n) => mirror.callSync("acme:app/mirror", "addLoop", n), 20_000, 25));
      out.record.push(perCall((n) => mirror.callSync("acme:app/mirror", "itemLoop", item, n), 4_000, 25));
      const t1 = timePerCall(() => mirror.callSync("acme:app/mirror", "touch", s), opts);
      const h1 = timePerCall(() => bench.hookSync("echo", data), opts);
      const t2 = timePerCall(() => mirror.callSync("acme:app/mirror", "touch", s), opts);
      const h2 = timePerCall(() => bench.hookSync("echo", data), opts);
      const touch = Math.min(t1, t2);
      const hook = Math.min(h1, h2);
      out.touch.push(touch);
      out.hook.push(hook);
      out.ratio.push(touch / hook);
    }
    return out;
  } finally {
    await registry.unloadAll();
  }
}

export async function run() {
  const dir = GUESTS.find((d) => existsSync(path.join(d, "plugin.wasm")));
  if (!existsSync(path.join(root, "dist/engines/v8/engine.js")) || !dir) {
    console.log("interfaces: skipped (build the library and the iface fixtures: node scripts/setup.mjs)");
    return {};
  }
  const { parseWit } = await import(path.join(root, "dist/interfaces/wit-parser.js"));
  const app = parseWit(readFileSync(APP_WIT, "utf8"), APP_WIT).find((p) => p.name === "acme:app");
  console.log(`  guest: ${path.basename(dir)}`);
  const engine = await engineFigures(dir, app);
  const reg = await registryFigures(dir);
  const r1 = (x) => Math.round(x * 10) / 10;
  const r2 = (x) => Math.round(x * 100) / 100;
  const out = {
    host_iface_call_ns: r1(median(reg.add)),
    host_iface_call_engine_ns: r1(median(engine.add)),
    host_iface_record_ns: Math.round(median(reg.record)),
    host_iface_record_engine_ns: Math.round(median(engine.record)),
    typed_export_call_ns: Math.round(median(reg.touch)),
    typed_export_call_engine_ns: Math.round(median(engine.touch)),
    // Not v8_dispatch_hook_ns itself: bench/spine.mjs owns that figure (measured first, on a quieter process).
    v8_dispatch_hook_same_run_ns: r1(median(reg.hook)),
    typed_export_vs_hook: r2(median(reg.ratio)),
  };
  const spread = (xs, d = 0) => `${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}`;
  console.log(`interfaces (v8 in-process; medians of ${ROUNDS} rounds, min–max over rounds):`);
  console.log(`  host_iface_call_ns            ${out.host_iface_call_ns}  rounds ${spread(reg.add, 1)}  (goal ≤ 60; registry.provide)`);
  console.log(`  host_iface_call_engine_ns     ${out.host_iface_call_engine_ns}  rounds ${spread(engine.add, 1)}  (bare function at the engine)`);
  console.log(`  host_iface_record_ns          ${out.host_iface_record_ns}  rounds ${spread(reg.record)}  (goal ≤ 300; registry.provide)`);
  console.log(`  host_iface_record_engine_ns   ${out.host_iface_record_engine_ns}  rounds ${spread(engine.record)}  (bare function at the engine)`);
  console.log(`  typed_export_call_ns          ${out.typed_export_call_ns}  rounds ${spread(reg.touch)}  (handle.callSync)`);
  console.log(`  typed_export_call_engine_ns   ${out.typed_export_call_engine_ns}  rounds ${spread(engine.touch)}`);
  console.log(`  v8_dispatch_hook_same_run_ns  ${out.v8_dispatch_hook_same_run_ns}  rounds ${spread(reg.hook, 1)}`);
  console.log(`  typed_export_vs_hook          ${out.typed_export_vs_hook}  rounds ${spread(reg.ratio, 2)}  (goal ≤ 1.5)`);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
