// Runs every benchmark area (bench/<area>.mjs exporting run()) and writes
// bench/results/latest.json: a flat object of metric name to number.
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { spawn } from "node:child_process";

const dir = path.dirname(fileURLToPath(import.meta.url));

if (process.env.PLUGHOST_BENCH_AREA) {
  const mod = await import(pathToFileURL(process.env.PLUGHOST_BENCH_AREA).href);
  const out = typeof mod.run === "function" ? await mod.run() : {};
  await new Promise((done) => process.send({ results: out ?? {} }, done));
  process.exit(0);
}

const only = process.argv.slice(2);
const areas = readdirSync(dir)
  .filter((f) => f.endsWith(".mjs") && !["run.mjs", "stats.mjs"].includes(f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort((a, b) => (a === "spine.mjs" ? -1 : b === "spine.mjs" ? 1 : a.localeCompare(b)));

// A partial run (areas named on the command line) keeps the other areas' figures.
const latest = path.join(dir, "results", "latest.json");
const results = only.length && existsSync(latest) ? JSON.parse(readFileSync(latest, "utf8")) : {};
const failed = [];
// Each area runs in a process of its own (this file again, told which area by PLUGHOST_BENCH_AREA): an area left
// behind threads, pinned CPUs, a grown heap or parked workers, which slowed the areas after it (a full run once
// measured wasmtime's sync call at 710 ns, 440 alone).
function runArea(file) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
      stdio: ["inherit", "inherit", "inherit", "ipc"],
      env: { ...process.env, PLUGHOST_BENCH_AREA: path.join(dir, file) },
    });
    let got;
    child.on("message", (m) => (got = m.results));
    child.once("error", reject);
    child.once("exit", (code, signal) => (got && code === 0 ? resolve(got) : reject(new Error(`exited with ${signal ?? code}`))));
  });
}
for (const file of areas) {
  console.log(`\n── ${file} ──`);
  try {
    Object.assign(results, await runArea(file));
  } catch (err) {
    failed.push(file);
    console.error(`${file} failed: ${err?.stack ?? err}`);
  }
}
mkdirSync(path.join(dir, "results"), { recursive: true });
writeFileSync(latest, JSON.stringify(results, null, 2) + "\n");
console.log(`\nwrote bench/results/latest.json (${Object.keys(results).length} metrics)`);
if (failed.length) {
  console.error(`failed areas: ${failed.join(", ")}`);
  process.exitCode = 1;
}
