#!/usr/bin/env node
// Brings a fresh machine to the point where the demo, tests and benchmarks run.
// Each step in scripts/setup/ is idempotent, so running this twice is cheap.
// A step module exports `name`, optional `aptPackages` (installed together,
// first) and `run()`. Steps run in file-name order.
import { readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const stepsDir = path.join(root, "scripts", "setup");
const only = process.argv.slice(2);

// npm packages first: later steps import them.
const npmStep = await import(pathToFileURL(path.join(stepsDir, "00-npm.mjs")).href);
await npmStep.run();

const files = readdirSync(stepsDir).filter((f) => f.endsWith(".mjs") && f !== "00-npm.mjs" && !f.startsWith("_")).sort();
const steps = [];
for (const f of files) steps.push({ file: f, mod: await import(pathToFileURL(path.join(stepsDir, f)).href) });
const selected = only.length ? steps.filter((s) => only.some((o) => s.file.includes(o))) : steps;

const wanted = [...new Set(selected.flatMap((s) => s.mod.aptPackages ?? []))];
const missing = wanted.filter((p) => spawnSync("dpkg-query", ["-W", "-f=${Status}", p], { encoding: "utf8" }).stdout !== "install ok installed");
if (missing.length) {
  console.log(`[setup] apt-get install ${missing.join(" ")}`);
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  const run = (args) => {
    const r = spawnSync(sudo.length ? "sudo" : args[0], sudo.length ? args : args.slice(1), {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
    if (r.status !== 0) throw new Error(`[setup] ${args.join(" ")} failed with ${r.status}`);
  };
  run(["apt-get", "update", "-qq"]);
  run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...missing]);
}

for (const { file, mod } of selected) {
  const t0 = performance.now();
  await mod.run();
  const ms = performance.now() - t0;
  if (ms > 500) console.log(`[setup] ${mod.name ?? file}: ${(ms / 1000).toFixed(1)} s`);
}
