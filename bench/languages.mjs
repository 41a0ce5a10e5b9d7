// Per guest language (c, js, rust, go): component sizes, the 16-byte
// synchronous status call through the registry (as bench/spine.mjs measures
// v8_dispatch_status_ns), and the cold load (manifest to active, empty disk
// and in-memory caches). Every language runs its conformance plugin
// (examples/<lang>/conformance), whose `echo` answers len(data): the same
// work in each language. Sizes: the conformance plugin and the minimal
// `hello` example.
import path from "node:path";
import { mkdtempSync, rmSync, statSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { PluginRegistry, loadManifest } from "../dist/index.js";
import { clearCompileCache } from "../dist/engines/v8/compile.js";
import { median } from "./stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const LANGUAGES = ["c", "js", "rust", "go"];
const COLD_RUNS = 5;

/** Median ns per call, in batches of about 50 ms each (JS calls are ~100× slower than C's). */
function nsPerCall(fn, batches = 9) {
  for (let i = 0; i < 1000; i++) fn();
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
  return median(samples);
}

function wasmSize(dir) {
  const file = path.join(dir, "plugin.wasm");
  if (!existsSync(file)) throw new Error(`${file} is missing: run node scripts/setup.mjs`);
  return statSync(file).size;
}

export async function run() {
  const logger = pino({ level: "silent" });
  const results = {};
  for (const lang of LANGUAGES) {
    const dir = path.join(root, "examples", lang, "conformance");
    const manifest = await loadManifest(dir);
    const grants = [...manifest.capabilities, ...manifest.optionalCapabilities];
    results[`${lang}_component_bytes`] = wasmSize(path.join(root, "examples", lang, "hello"));
    results[`${lang}_conformance_bytes`] = wasmSize(dir);

    const registry = new PluginRegistry({ logger, grants, cacheDir: false });
    const plugin = await registry.load(dir);
    const data = new Uint8Array(16).fill(7);
    if (plugin.invokeSync("echo", data) !== 16) throw new Error(`${lang}: echo of 16 bytes did not answer 16`);
    results[`${lang}_dispatch_status_ns`] = nsPerCall(() => plugin.invokeSync("echo", data));
    await registry.unloadAll();

    const cold = [];
    for (let i = 0; i < COLD_RUNS; i++) {
      const cacheDir = mkdtempSync(path.join(tmpdir(), "plughost-bench-lang-"));
      clearCompileCache();
      const r = new PluginRegistry({ logger, grants, cacheDir });
      const t0 = performance.now();
      await r.load(dir);
      cold.push(performance.now() - t0);
      await r.unloadAll();
      rmSync(cacheDir, { recursive: true, force: true });
    }
    results[`${lang}_load_cold_ms`] = median(cold);
  }
  console.log("languages (medians; conformance plugin, v8 engine):");
  console.log(`  ${"lang".padEnd(6)}${"hello B".padStart(10)}${"conformance B".padStart(15)}${"status ns".padStart(11)}${"cold load ms".padStart(14)}`);
  for (const lang of LANGUAGES) {
    const r = (k) => results[`${lang}_${k}`];
    console.log(
      `  ${lang.padEnd(6)}${String(r("component_bytes")).padStart(10)}${String(r("conformance_bytes")).padStart(15)}` +
        `${r("dispatch_status_ns").toFixed(1).padStart(11)}${r("load_cold_ms").toFixed(1).padStart(14)}`,
    );
  }
  return results;
}
