// Per guest language (c, js, rust, go): component sizes, the 16-byte
// synchronous status call through the registry (as bench/spine.mjs measures
// v8_dispatch_status_ns), and three loads (manifest to active):
//   <lang>_load_cold_ms    empty disk and in-memory compile caches (transpile, instrument, compile);
//   <lang>_load_cached_ms  a second load of the same plugin in the same process (in-memory cache warm);
//   js_load_disk_ms        the JS plugin loaded by a fresh process whose only warm cache is the on-disk
//                          compile cache another process wrote (glue and instrumented modules; Node 20 has
//                          no serialisation of compiled Wasm, so V8 compiles again, lazily).
// Every language runs its conformance plugin (examples/<lang>/conformance), whose `echo` answers len(data):
// the same work in each language. Sizes: the conformance plugin and the minimal `hello` example.
// Each registry gets its own data directory and is closed after use: registries left open on the default
// state database make the next one wait out SQLite's busy timeout (5 s), which is not load time.
import path from "node:path";
import { mkdtempSync, rmSync, statSync, existsSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { PluginRegistry, loadManifest } from "../dist/index.js";
import { clearCompileCache } from "../dist/engines/v8/compile.js";
import { clearInstrumentCache } from "../dist/instrument/index.js";
import { loadNote, report, spread } from "./stats.mjs";

const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), "..");
// BENCH_LANGUAGES=js,c runs a subset (a quick look; the keys of the others are then absent).
const LANGUAGES = process.env.BENCH_LANGUAGES ? process.env.BENCH_LANGUAGES.split(",") : ["c", "js", "rust", "go"];
const COLD_RUNS = 5;
const CACHED_RUNS = 7;
const DISK_RUNS = 3;
const GOALS = { js_dispatch_status_ns: "≤ 5,000", js_load_cold_ms: "≤ 300", js_load_cached_ms: "≤ 50", js_load_disk_ms: "≤ 300" };

/** Per-call ns samples (one per batch of about 50 ms; JS calls are ~100× slower than C's). */
function nsPerCall(fn, batches = 9) {
  // Warm up for at least half a second: V8 tiers a large guest (StarlingMonkey) up in the background for longer
  // than a thousand calls take.
  const warm = performance.now() + 500;
  do for (let i = 0; i < 1000; i++) fn();
  while (performance.now() < warm);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) fn();
  const estimate = Number(process.hrtime.bigint() - t0) / 1000;
  const batch = Math.max(1000, Math.min(200_000, Math.round(50e6 / estimate)));
  const samples = [];
  for (let b = 0; b < batches; b++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t) / batch);
  }
  return samples;
}

function wasmSize(dir) {
  const file = path.join(dir, "plugin.wasm");
  if (!existsSync(file)) throw new Error(`${file} is missing: run node scripts/setup.mjs`);
  return statSync(file).size;
}

const tempDir = (what) => mkdtempSync(path.join(tmpdir(), `plughost-bench-lang-${what}-`));

/** ms from `registry.load` to active, with a fresh registry (own data directory) closed afterwards. */
async function timedLoad(dir, options) {
  const dataDir = tempDir("data");
  const r = new PluginRegistry({ ...options, dataDir });
  try {
    const t0 = performance.now();
    await r.load(dir);
    return performance.now() - t0;
  } finally {
    await r.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function options(dir, cacheDir) {
  const manifest = await loadManifest(dir);
  return { logger: pino({ level: "silent" }), grants: [...manifest.capabilities, ...manifest.optionalCapabilities], cacheDir };
}

/** In a child process: one load of `dir` with `cacheDir` (the on-disk cache only; its memory cache starts empty). */
async function childLoad(dir, cacheDir) {
  const ms = await timedLoad(dir, await options(dir, cacheDir));
  process.stdout.write(JSON.stringify({ ms }) + "\n");
}

export async function run() {
  const results = {};
  const spreads = {};
  for (const lang of LANGUAGES) {
    const dir = path.join(root, "examples", lang, "conformance");
    results[`${lang}_component_bytes`] = wasmSize(path.join(root, "examples", lang, "hello"));
    results[`${lang}_conformance_bytes`] = wasmSize(dir);

    const dataDir = tempDir("data");
    const registry = new PluginRegistry({ ...(await options(dir, false)), dataDir });
    const plugin = await registry.load(dir);
    const data = new Uint8Array(16).fill(7);
    if (plugin.invokeSync("echo", data) !== 16) throw new Error(`${lang}: echo of 16 bytes did not answer 16`);
    spreads[`${lang}_dispatch_status_ns`] = nsPerCall(() => plugin.invokeSync("echo", data));
    await registry.close();
    rmSync(dataDir, { recursive: true, force: true });

    const cold = [];
    for (let i = 0; i < COLD_RUNS; i++) {
      const cacheDir = tempDir("cache");
      // Both in-memory caches (glue and instrumented modules). V8's own per-process cache of compiled modules with
      // identical bytes cannot be emptied: a cold load in a fresh process pays ~100 ms more for the 12 MB JS module.
      clearCompileCache();
      clearInstrumentCache();
      cold.push(await timedLoad(dir, await options(dir, cacheDir)));
      rmSync(cacheDir, { recursive: true, force: true });
    }
    spreads[`${lang}_load_cold_ms`] = cold;

    // The same plugin again in this process: compiled glue and modules come from memory.
    const cacheDir = tempDir("cache");
    clearCompileCache();
    clearInstrumentCache();
    await timedLoad(dir, await options(dir, cacheDir));
    const cached = [];
    for (let i = 0; i < CACHED_RUNS; i++) cached.push(await timedLoad(dir, await options(dir, cacheDir)));
    spreads[`${lang}_load_cached_ms`] = cached;

    if (lang === "js") {
      // A new process, the disk cache the loads above wrote: what a host restart costs.
      const disk = [];
      for (let i = 0; i < DISK_RUNS; i++) {
        const out = execFileSync(process.execPath, [here, "--child-load", dir, cacheDir], { encoding: "utf8" });
        disk.push(JSON.parse(out.trim().split("\n").pop()).ms);
      }
      spreads.js_load_disk_ms = disk;
    }
    rmSync(cacheDir, { recursive: true, force: true });
  }
  for (const [key, xs] of Object.entries(spreads)) results[key] = spread(xs).median;

  console.log(`languages (conformance plugin, v8 engine; median [min–max]; ${await loadNote()}):`);
  console.log(`  ${"lang".padEnd(6)}${"hello B".padStart(10)}${"conformance B".padStart(15)}`);
  for (const lang of LANGUAGES) {
    console.log(`  ${lang.padEnd(6)}${String(results[`${lang}_component_bytes`]).padStart(10)}${String(results[`${lang}_conformance_bytes`]).padStart(15)}`);
  }
  for (const [key, xs] of Object.entries(spreads)) {
    report(key, xs, { unit: key.endsWith("_ns") ? "ns" : "ms", goal: GOALS[key] ?? "" });
  }
  console.log("  (js_load_disk_ms: a fresh process per run, on-disk compile cache warm, in-memory caches empty)");
  return results;
}

if (process.argv[2] === "--child-load") {
  await childLoad(process.argv[3], process.argv[4]);
  process.exit(0);
} else if (process.argv[1] && realpathSync(path.resolve(process.argv[1])) === here) {
  await run();
}
