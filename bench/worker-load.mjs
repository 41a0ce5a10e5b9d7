// Cold worker load (isolation: "worker" on the v8 engine): from `load()` until
// the worker answers, with the component already compiled on the host (the
// respawn after a fault), with a disk cache and without one. Medians of ROUNDS.
import path from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { v8Engine } from "../dist/engines/v8/engine.js";
import { median, silentHost } from "./stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ENTRY = path.join(root, "test/fixtures/c/bench/plugin.wasm");
const ROUNDS = 9;

const host = silentHost();

async function loadMs(cacheDir, limits) {
  const samples = [];
  for (let r = 0; r <= ROUNDS; r++) {
    const t0 = performance.now();
    const instance = await v8Engine.load({ plugin: "bench", entryPath: ENTRY, capabilities: [], limits, host, isolation: "worker", ...(cacheDir ? { cacheDir } : {}) });
    await instance.init("0.1.0", "{}");
    const ms = performance.now() - t0;
    await instance.dispose();
    if (r > 0) samples.push(ms); // the first load also compiles on the host
  }
  return median(samples);
}

export async function run() {
  const cacheDir = mkdtempSync(path.join(tmpdir(), "plughost-bench-load-"));
  try {
    const out = {
      worker_load_ms: await loadMs(cacheDir, {}),
      worker_load_nocache_ms: await loadMs(undefined, {}),
      worker_load_fuel_ms: await loadMs(cacheDir, { fuel: 1e9, memoryBytes: 64 << 20, deadlineMs: 10_000 }),
    };
    for (const [k, v] of Object.entries(out)) console.log(`${k.padEnd(28)} ${v.toFixed(1)} ms`);
    return out;
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
