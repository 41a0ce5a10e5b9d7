#!/usr/bin/env node
// Coverage-guided fuzzing of plughost's parsers and loaders with Jazzer.js.
//
//   npm run fuzz                         every target, 60 s each
//   npm run fuzz -- --ci                 every target, 20 s each (what CI runs)
//   npm run fuzz -- --seconds 300 --target manifest-toml --target package
//
// A target is test/fuzz/targets/<name>.fuzz.mjs exporting fuzz(data: Buffer). It lets
// only PlughostError escape; anything else it throws, a hang past --timeout, or a
// crash of the process is a finding. Each target starts from its checked-in seed
// corpus test/fuzz/corpus/<name>/ plus the inputs earlier local runs found
// (.cache/fuzz/<name>/corpus, git-ignored), with the libFuzzer dictionary
// test/fuzz/dict/<name>.dict when there is one (the format's keywords). A finding's input is saved to
// .cache/fuzz/findings/<name>/ and printed (base64) so a CI log alone reproduces it;
// once fixed, keep it as test/fuzz/regressions/<name>/<short-name>.
//
// A target that must run asynchronously (returns a promise) says so in its source
// with `export const fuzzMode = "async";`; the others run in the faster sync mode. A target
// may turn off one of Jazzer's bug detectors (path-traversal, command-injection,
// prototype-pollution) with `export const disableBugDetectors = ["..."];` and a comment
// saying why that input is trusted.
//
// Writes fuzz_execs_<name> (hyphens as underscores) for each target and fuzz_crashes
// (total findings) to bench/results/latest.json. Exits 1 when any target had a finding.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const targetsDir = path.join(root, "test", "fuzz", "targets");
const jazzerCli = path.join(root, "node_modules", "@jazzer.js", "core", "dist", "cli.js");
/** How long a target may take to start (load, instrument, read its corpus) before the watchdog calls it wedged. */
const STARTUP_MS = 10 * 60_000;

function parseArgs(argv) {
  const opts = { seconds: 60, targets: [], timeoutMs: 10_000, ci: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--ci") opts.ci = true;
    else if (a.startsWith("--seconds")) opts.seconds = Number(value());
    else if (a.startsWith("--target")) opts.targets.push(...value().split(","));
    else if (a.startsWith("--timeout")) opts.timeoutMs = Number(value());
    else if (a === "--help" || a === "-h") {
      console.log("usage: node scripts/fuzz.mjs [--ci] [--seconds N] [--target NAME]... [--timeout MS per input]");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (opts.ci && !argv.some((a) => a.startsWith("--seconds"))) opts.seconds = 20;
  if (!(opts.seconds > 0) || !(opts.timeoutMs > 0)) throw new Error("--seconds and --timeout must be positive numbers");
  return opts;
}

/** Every target name, from test/fuzz/targets/<name>.fuzz.mjs. */
export function listTargets() {
  return readdirSync(targetsDir)
    .filter((f) => f.endsWith(".fuzz.mjs"))
    .map((f) => f.slice(0, -".fuzz.mjs".length))
    .sort();
}

/** The bench key for a target's execution count. */
export function execsKey(target) {
  return `fuzz_execs_${target.replace(/-/g, "_")}`;
}

function runTarget(name, opts) {
  const targetFile = path.join(targetsDir, `${name}.fuzz.mjs`);
  const source = readFileSync(targetFile, "utf8");
  const asyncMode = /export\s+const\s+fuzzMode\s*=\s*["']async["']/.test(source);
  const disabled = [...(/export\s+const\s+disableBugDetectors\s*=\s*\[([^\]]*)\]/.exec(source)?.[1] ?? "").matchAll(/["']([\w-]+)["']/g)].map((m) => m[1]);
  const work = path.join(root, ".cache", "fuzz", name, "corpus");
  const findings = path.join(root, ".cache", "fuzz", "findings", name);
  const seeds = path.join(root, "test", "fuzz", "corpus", name);
  const dict = path.join(root, "test", "fuzz", "dict", `${name}.dict`);
  mkdirSync(work, { recursive: true });
  mkdirSync(findings, { recursive: true });
  const before = new Set(readdirSync(findings));
  const args = [
    jazzerCli,
    targetFile,
    work, // first corpus directory: new inputs land here, never in the checked-in seeds
    ...(existsSync(seeds) ? [seeds] : []),
    ...(asyncMode ? [] : ["--sync"]),
    ...disabled.flatMap((d) => ["--disable_bug_detectors", d]),
    `--timeout=${opts.timeoutMs}`,
    "--",
    `-max_total_time=${opts.seconds}`,
    "-print_final_stats=1",
    `-artifact_prefix=${findings}${path.sep}`,
    "-rss_limit_mb=3072",
    "-max_len=65536",
    ...(existsSync(dict) ? [`-dict=${dict}`] : []),
  ];
  const t0 = Date.now();
  return new Promise((resolve) => {
    // V8 catches a Wasm guest's out-of-bounds access with a SIGSEGV handler (guard pages); libFuzzer's own handler
    // would take that for a crash of the host. Inline bounds checks instead: same semantics, and a real segfault
    // is still libFuzzer's (with its input saved).
    const child = spawn(process.execPath, ["--disable-wasm-trap-handler", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let startedAt = 0; // when libFuzzer began running inputs (its INITED line)
    let watchdog;
    let killedByWatchdog = false;
    // Jazzer's own timeout catches a slow input; the watchdog catches a wedged process (e.g. an async target whose
    // promise never settles). It is armed twice: first for start-up (loading and instrumenting the target, which a
    // busy machine can stretch to minutes), then, once inputs run, for the run's time plus slack. One timer for both
    // once killed a healthy run on a slow machine while libFuzzer was printing its final report.
    const arm = (ms) => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        killedByWatchdog = true;
        child.kill("SIGKILL");
      }, ms);
    };
    const keep = (chunk) => {
      out += chunk;
      if (!startedAt && /#\d+\s+INITED/.test(out.slice(-(String(chunk).length + 64)))) {
        startedAt = Date.now();
        arm((opts.seconds + 60) * 1000 + opts.timeoutMs);
      }
      // libFuzzer prints a status line per new input: keep only the tail in memory.
      if (out.length > 1_000_000) out = out.slice(-200_000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    arm(STARTUP_MS + (opts.seconds + 60) * 1000 + opts.timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(watchdog);
      const saved = readdirSync(findings).filter((f) => !before.has(f));
      // libFuzzer's "DONE" status line ends its loop: every input after it has run and passed.
      const done = /^#(\d+)\s+DONE\b/m.exec(out);
      const execs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(out)?.[1] ?? /Done (\d+) runs/.exec(out)?.[1] ?? done?.[1] ?? 0);
      // In async mode Jazzer ends libFuzzer from its own thread; with the Wasm transpiler's threads alive Node then
      // aborts on exit. After libFuzzer's loop has ended with no input saved, such an end is that of a clean run:
      // the inputs all ran; what failed is the process's exit, which no input caused.
      const diedAfterDone = (code !== 0 || signal !== null) && done !== null && saved.length === 0;
      const finding = !diedAfterDone && (code !== 0 || signal !== null || saved.length > 0);
      const ms = Date.now() - t0;
      resolve({ name, execs, code, signal, saved: saved.map((f) => path.join(findings, f)), finding, diedAfterDone, killedByWatchdog, out, ms, startupMs: startedAt ? startedAt - t0 : ms });
    });
  });
}

function describeFinding(r) {
  const how = r.killedByWatchdog ? `killed by the watchdog after ${(r.ms / 1000).toFixed(0)} s (${r.startupMs === r.ms ? "never started running inputs" : "wedged while running inputs"})` : `exit ${r.code ?? r.signal}`;
  const lines = [`\n✗ ${r.name}: finding (${how}; ${r.execs} executions)`];
  // The finding's report: Jazzer prints the error and its stack before the crash input.
  const idx = r.out.search(/==\d+== |Uncaught Exception|ERROR:|Timeout|Segmentation/);
  lines.push(r.out.slice(idx >= 0 ? idx : Math.max(0, r.out.length - 4000)).slice(0, 6000).trimEnd());
  for (const f of r.saved) {
    const data = readFileSync(f);
    lines.push(`saved input: ${path.relative(root, f)} (${data.length} bytes)`);
    if (data.length <= 4096) lines.push(`base64: ${data.toString("base64")}`);
  }
  lines.push(`once fixed, keep it: cp <input> test/fuzz/regressions/${r.name}/<short-name>`);
  return lines.join("\n");
}

/** Merge keys into bench/results/latest.json, re-read just before writing (other benches write it too). */
function writeResults(keys) {
  const file = path.join(root, "bench", "results", "latest.json");
  mkdirSync(path.dirname(file), { recursive: true });
  const current = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  Object.assign(current, keys);
  writeFileSync(file + ".fuzz.tmp", JSON.stringify(current, null, 2) + "\n");
  renameSync(file + ".fuzz.tmp", file);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(path.join(root, "dist", "index.js"))) throw new Error("dist/ is missing: run `npm run build` (or `npm run setup`) first");
  if (!existsSync(jazzerCli)) throw new Error("@jazzer.js/core is not installed: run `npm run setup`");
  const all = listTargets();
  const names = opts.targets.length ? opts.targets : all;
  for (const n of names) if (!all.includes(n)) throw new Error(`no fuzz target ${n}; targets: ${all.join(", ")}`);

  console.log(`fuzzing ${names.length} target(s), ${opts.seconds} s each, ${opts.timeoutMs} ms per input at most`);
  const keys = {};
  let crashes = 0;
  const results = [];
  for (const name of names) {
    const r = await runTarget(name, opts);
    results.push(r);
    keys[execsKey(name)] = r.execs;
    if (r.finding) {
      crashes += Math.max(1, r.saved.length);
      console.error(describeFinding(r));
    } else if (r.execs === 0) {
      // A target that never ran an input proves nothing: treat as a failure of the run.
      crashes += 1;
      console.error(`\n✗ ${name}: ran no input\n${r.out.slice(-4000)}`);
    } else {
      console.log(`✓ ${name}: ${r.execs} executions in ${(r.ms / 1000).toFixed(1)} s (start-up ${(r.startupMs / 1000).toFixed(1)} s), no finding`);
      if (r.diedAfterDone) console.log(`  (its process then ended with ${r.signal ?? `exit ${r.code}`} after libFuzzer's loop had finished, no input saved: not a finding)`);
    }
  }
  keys.fuzz_crashes = crashes;
  writeResults(keys);
  const total = results.reduce((s, r) => s + r.execs, 0);
  console.log(`\nfuzz: ${total} executions over ${names.length} target(s), ${crashes} finding(s); wrote ${Object.keys(keys).length} keys to bench/results/latest.json`);
  if (crashes > 0) process.exitCode = 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`fuzz: ${err?.message ?? err}`);
    process.exitCode = 2;
  });
}
