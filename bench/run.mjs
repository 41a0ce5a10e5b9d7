// Runs every benchmark area (bench/<area>.mjs exporting run()) and writes
// bench/results/latest.json: a flat object of metric name to number.
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const dir = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const areas = readdirSync(dir)
  .filter((f) => f.endsWith(".mjs") && !["run.mjs", "stats.mjs"].includes(f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort((a, b) => (a === "spine.mjs" ? -1 : b === "spine.mjs" ? 1 : a.localeCompare(b)));

// A partial run (areas named on the command line) keeps the other areas' figures.
const latest = path.join(dir, "results", "latest.json");
const results = only.length && existsSync(latest) ? JSON.parse(readFileSync(latest, "utf8")) : {};
const failed = [];
for (const file of areas) {
  console.log(`\n── ${file} ──`);
  try {
    const mod = await import(pathToFileURL(path.join(dir, file)).href);
    if (typeof mod.run !== "function") continue;
    Object.assign(results, await mod.run());
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
