// Scale benchmarks (issue 19): a thousand C plugins in one host, and the memory one more instance costs.
//
//   fanout_1000_us        one dispatch to 1,000 C plugins (the sync path), µs per fan-out     goal ≤ 300
//   plugins_1000_load_s   1,000 C plugins loaded into one host (loadAll), manifests to active  goal ≤ 3 s
//   plugins_1000_rss_mib  process RSS those 1,000 plugins add                                goal ≤ 400 MiB
//   instance_rss_kib_v8 / instance_rss_kib_wasmtime
//                         RSS added per extra C plugin (one instance each): the delta over loading 200 more after a
//                         first one, ÷ 200                                             goal ≤ 256 KiB (v8), ≤ 128 KiB (wasmtime)
//
// Every measurement runs in a child process of its own, so that its RSS baseline is clean and one round's garbage
// or compiled code does not flatter the next. The plugin is test/fixtures/c/bench under names scale-0 … scale-999.
// Run alone: `node bench/scale.mjs` (or `node bench/run.mjs scale` to write the keys).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadNote, report, spread } from "./stats.mjs";

const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), "..");
const BENCH = path.join(root, "test/fixtures/c/bench");
const N = 1_000;
const EXTRA = 200;

/** `n` copies of the bench plugin under `dir`, each with its own name. */
function makePlugins(dir, n) {
  const toml = readFileSync(path.join(BENCH, "plugin.toml"), "utf8");
  for (let i = 0; i < n; i++) {
    const p = path.join(dir, `scale-${i}`);
    mkdirSync(p, { recursive: true });
    copyFileSync(path.join(BENCH, "plugin.wasm"), path.join(p, "plugin.wasm"));
    writeFileSync(path.join(p, "plugin.toml"), toml.replace(/^name = "bench"$/m, `name = "scale-${i}"`));
  }
}

/** Run this file as a child doing one measurement; its last stdout line is the JSON result. */
function child(mode, args) {
  const r = spawnSync(process.execPath, ["--expose-gc", here, "--child", mode, ...args], { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`scale child ${mode} failed (${r.status}): ${r.stderr || r.stdout}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1));
}

// ── children ─────────────────────────────────────────────────────────────

function settledRss() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage.rss();
}

async function registryFor(cacheDir, engine) {
  const { pino } = await import("pino");
  const { PluginRegistry } = await import("../dist/index.js");
  return new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir, dataDir: path.join(cacheDir, "..", "data"), engine });
}

/** Load N plugins in a fresh host: load time, RSS added, then the fan-out's per-batch samples. */
async function childLoad(pluginsDir, cacheDir) {
  const registry = await registryFor(cacheDir, "v8");
  await new Promise((r) => setTimeout(r, 20));
  const rss0 = settledRss();
  // loadAll, as a host loading its plugin set does: manifests read side by side, entry files read ahead.
  const dirs = Array.from({ length: N }, (_, i) => path.join(pluginsDir, `scale-${i}`));
  const t0 = performance.now();
  const handles = await registry.loadAll(dirs);
  const loadS = (performance.now() - t0) / 1000;
  if (handles.length !== N || registry.count !== N) throw new Error(`loadAll loaded ${registry.count} of ${N} plugins`);
  const data = new Uint8Array(16).fill(7);
  const first = await registry.dispatch("status", data);
  if (first.length !== N || first.some((r) => r.error || r.status !== 112)) throw new Error(`the fan-out reached ${first.filter((r) => !r.error).length} of ${N} plugins`);
  const rssMib = (settledRss() - rss0) / 2 ** 20;
  for (let i = 0; i < 300; i++) await registry.dispatch("status", data); // warm-up: every plugin's call path optimised
  // Many short batches: the median reflects the machine's usual state, not a stretch of interference.
  const fanoutUs = [];
  for (let b = 0; b < 21; b++) {
    const K = 20;
    const t = process.hrtime.bigint();
    for (let i = 0; i < K; i++) await registry.dispatch("status", data);
    fanoutUs.push(Number(process.hrtime.bigint() - t) / K / 1000);
  }
  await registry.close();
  return { loadS, rssMib, fanoutUs };
}

/** RSS added per plugin instance on `engine`: one plugin first (what every host pays once), then EXTRA more. */
async function childInstance(pluginsDir, cacheDir, engine) {
  const registry = await registryFor(cacheDir, engine);
  await registry.load(path.join(pluginsDir, "scale-0"));
  await registry.dispatch("status", new Uint8Array(16));
  await new Promise((r) => setTimeout(r, 20));
  const rss0 = settledRss();
  for (let i = 1; i <= EXTRA; i++) await registry.load(path.join(pluginsDir, `scale-${i}`));
  const results = await registry.dispatch("status", new Uint8Array(16).fill(7));
  if (results.length !== EXTRA + 1 || results.some((r) => r.error)) throw new Error(`${engine}: the fan-out reached ${results.filter((r) => !r.error).length} of ${EXTRA + 1}`);
  await new Promise((r) => setTimeout(r, 20));
  const kib = (settledRss() - rss0) / 1024 / EXTRA;
  await registry.close();
  return { kib };
}

// ── the bench ────────────────────────────────────────────────────────────

export async function run() {
  if (!existsSync(path.join(BENCH, "plugin.wasm"))) throw new Error("test/fixtures/c/bench/plugin.wasm is missing: run `node scripts/setup.mjs`");
  const work = mkdtempSync(path.join(tmpdir(), "plughost-bench-scale-"));
  try {
    const plugins = path.join(work, "plugins");
    makePlugins(plugins, N);
    const cache = path.join(work, "cache");
    mkdirSync(cache, { mode: 0o700 });
    // A first host fills the compile cache: the rounds then measure a host starting with it warm, as a restart does.
    child("instance", [plugins, cache, "v8"]);
    const loads = [];
    for (let r = 0; r < 3; r++) loads.push(child("load", [plugins, cache]));
    const instance = { v8: [], wasmtime: [] };
    for (let r = 0; r < 3; r++) for (const engine of ["v8", "wasmtime"]) instance[engine].push(child("instance", [plugins, cache, engine]).kib);

    console.log(`scale (${await loadNote()}; every figure: median [min–max] over rounds, each round a fresh process):`);
    const fanout = loads.flatMap((l) => l.fanoutUs);
    const results = {
      fanout_1000_us: report("fanout_1000_us", fanout, { unit: "µs", goal: "≤ 300" }),
      plugins_1000_load_s: report("plugins_1000_load_s", loads.map((l) => l.loadS), { unit: "s", goal: "≤ 3", digits: 2 }),
      plugins_1000_rss_mib: report("plugins_1000_rss_mib", loads.map((l) => l.rssMib), { unit: "MiB", goal: "≤ 400" }),
      instance_rss_kib_v8: report("instance_rss_kib_v8", instance.v8, { unit: "KiB", goal: "≤ 256" }),
      instance_rss_kib_wasmtime: report("instance_rss_kib_wasmtime", instance.wasmtime, { unit: "KiB", goal: "≤ 128" }),
    };
    const s = spread(loads.map((l) => spread(l.fanoutUs).median));
    console.log(`  fan-out medians per round: ${loads.map((l) => spread(l.fanoutUs).median.toFixed(0)).join(", ")} µs (${(s.median / N * 1000).toFixed(0)} ns per plugin)`);
    return results;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const argv = process.argv.slice(2);
if (argv[0] === "--child") {
  const [, mode, plugins, cache, engine] = argv;
  const out = mode === "load" ? await childLoad(plugins, cache) : await childInstance(plugins, cache, engine);
  console.log(JSON.stringify(out));
  process.exit(0); // a wasmtime or worker thread left behind must not hold the round open
} else if (process.argv[1] === here) {
  await run();
}
