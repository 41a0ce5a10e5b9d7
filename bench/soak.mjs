// Soak: many load/unload cycles and hot reloads in ONE host (one PluginRegistry,
// one process), with the process's resources sampled after a full GC:
//   c       10,000 load → call → unload cycles of a C component (v8, in process)
//   js       1,000 of a JavaScript component (componentize-js, 12 MB)
//   worker     200 of the C component in worker isolation (a thread per load)
//   native   1,000 of a C-ABI native plugin in the sandbox helper (a process per load)
//   reload   1,000 hot reloads (a rewritten manifest, picked up by HotReloader)
//            while a steady request load runs against the plugin being reloaded
// Sampled: RSS, V8 heap, open fds (/proc/self/fd), OS threads (/proc/self/task:
// worker threads show up there) and descendant processes (sandbox helpers).
// Growth is measured after a warm-up (the first fifth of each phase), from the
// median of the first samples after it to the median of the last ones.
//
// Writes soak_* keys to bench/results/latest.json (merged: other keys are kept)
// and exits non-zero when a goal is missed: RSS and heap growth ≤ 10 % per
// phase, 0 fds, threads and processes left over, every request answered.
//
//   node bench/soak.mjs            the full soak (about 3-5 minutes on 2 cores)
//   node bench/soak.mjs --ci       the same phases, shortened (CI)
//   node bench/soak.mjs --only c,reload [--scale 0.1] [--no-write]
//
// Deliberately exports no run(): bench/run.mjs (npm run bench) skips it; it is `npm run soak`.
import { cpSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { HotReloader, PluginRegistry } from "../dist/index.js";
import { descendants } from "../test/helpers/processes.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

// A full GC before each sample, so heap figures are live data and not garbage.
setFlagsFromString("--expose-gc");
const gc = globalThis.gc ?? runInNewContext("gc");

const GOALS = { rssGrowthPct: 10, heapGrowthPct: 10, fdGrowth: 0, threadGrowth: 0, processGrowth: 0, failedRequests: 0 };

const FULL = { c: 10_000, js: 1_000, worker: 200, native: 1_000, reload: 1_000 };
const CI = { c: 2_000, js: 150, worker: 40, native: 150, reload: 200 };

function parseArgs(argv) {
  const o = { ci: false, only: undefined, scale: 1, write: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--ci") o.ci = true;
    else if (a === "--only") o.only = argv[++i].split(",");
    else if (a === "--scale") o.scale = Number(argv[++i]);
    else if (a === "--no-write") o.write = false;
    else throw new Error(`soak: unknown argument ${a} (--ci, --only c,js,worker,native,reload, --scale N, --no-write)`);
  }
  return o;
}

// ── sampling ─────────────────────────────────────────────────────────────

const count = (dir) => readdirSync(dir).length;

/** What each open fd points at (a path, "socket:[…]", "anon_inode:[eventfd]", …), to name the ones left open. */
function fdTargets() {
  const out = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      out.push(`${fd} → ${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // the directory handle readdir used, closed by now
    }
  }
  return out;
}

/** Prints the fds a sample has beyond the previous one's (by what they point at), so a leak names itself. */
function fdWatcher(label) {
  let prev = { fds: Infinity, targets: [] };
  return (s) => {
    const targets = fdTargets();
    if (s.fds > prev.fds) console.log(`  ${label}: cycle ${s.cycle}: ${s.fds - prev.fds} more fds: ${targets.filter((f) => !prev.targets.includes(f)).join(", ")}`);
    prev = { fds: s.fds, targets };
  };
}

async function sample(cycle) {
  await sleep(20); // let close callbacks queued by the last unload run: a sample sees settled state
  gc();
  gc(); // the second one collects what the first one's finalizers released
  const m = process.memoryUsage();
  return {
    cycle,
    rss: m.rss,
    heap: m.heapUsed,
    external: m.external,
    fds: count("/proc/self/fd") - 1, // less the directory handle readdir itself holds
    threads: count("/proc/self/task"),
    processes: descendants(process.pid).length,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Least-squares slope of y over x (bytes per cycle). */
function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * Growth after warm-up: the median of the first quarter of the samples past it against the median of the last
 * quarter (RSS moves by tens of MB between two samples as allocators keep or return pages; medians of a quarter
 * of ~30 samples are stable where single samples are not).
 */
function growth(samples, warm) {
  const after = samples.filter((s) => s.cycle >= warm);
  const k = Math.max(1, after.length >> 2);
  const first = after.slice(0, k);
  const last = after.slice(-k);
  const pct = (key) => ((median(last.map((s) => s[key])) - median(first.map((s) => s[key]))) / median(first.map((s) => s[key]))) * 100;
  const base = first[0];
  const end = samples[samples.length - 1];
  return {
    rssGrowthPct: pct("rss"),
    heapGrowthPct: pct("heap"),
    rssBytesPerCycle: slope(after.map((s) => ({ x: s.cycle, y: s.rss }))),
    heapBytesPerCycle: slope(after.map((s) => ({ x: s.cycle, y: s.heap }))),
    // Counts must come back exactly: the last sample against the first past warm-up, and never above it in between.
    fdGrowth: Math.max(end.fds - base.fds, ...after.map((s) => s.fds - base.fds)),
    threadGrowth: Math.max(end.threads - base.threads, ...after.map((s) => s.threads - base.threads)),
    processGrowth: Math.max(end.processes - base.processes, ...after.map((s) => s.processes - base.processes)),
    rssMb: end.rss / 2 ** 20,
    heapMb: end.heap / 2 ** 20,
  };
}

// ── the phases ───────────────────────────────────────────────────────────

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A private copy of a built plugin, optionally with its manifest rewritten. */
function copyPlugin(work, rel, edit) {
  const src = path.join(root, rel);
  const entry = readdirSync(src).find((f) => f.startsWith("plugin.") || f.endsWith(".so"));
  if (!entry || !existsSync(path.join(src, "plugin.toml"))) throw new Error(`${rel} is not built: run \`node scripts/setup.mjs\` first`);
  const dir = mkdtempSync(path.join(work, path.basename(rel) + "-"));
  cpSync(src, dir, { recursive: true });
  if (edit) writeFileSync(path.join(dir, "plugin.toml"), edit(readFileSync(path.join(dir, "plugin.toml"), "utf8")));
  return dir;
}

/** One call that must answer: greet → "hello, <who>!" for the hello examples, status 0 for the native one. */
async function callOnce(registry, name, who, expectText) {
  const out = await registry.hook(name, "greet", enc.encode(who));
  if (!out.ok) throw new Error(`${name}: greet failed (status ${out.status})`);
  if (expectText && dec.decode(out.data) !== `hello, ${who}!`) throw new Error(`${name}: greet answered ${JSON.stringify(dec.decode(out.data))}`);
}

/** `n` cycles of load → one call → unload, sampled about 40 times. */
async function cycles(registry, label, dir, n, { expectText = true } = {}) {
  const every = Math.max(1, Math.floor(n / 40));
  const samples = [await sample(0)];
  const watchFds = fdWatcher(label);
  const t0 = performance.now();
  let last = t0;
  for (let i = 1; i <= n; i++) {
    const h = await registry.load(dir);
    await callOnce(registry, h.name, `c${i}`, expectText);
    await registry.unload(h.name);
    if (i % every === 0 || i === n) {
      samples.push(await sample(i));
      watchFds(samples[samples.length - 1]);
      if (performance.now() - last > 10_000) {
        last = performance.now();
        const s = samples[samples.length - 1];
        console.log(`  ${label}: ${i}/${n}  rss ${(s.rss / 2 ** 20).toFixed(1)} MB  heap ${(s.heap / 2 ** 20).toFixed(1)} MB  fds ${s.fds}  threads ${s.threads}  processes ${s.processes}`);
      }
    }
  }
  const msPerCycle = (performance.now() - t0) / n;
  return { ...growth(samples, Math.floor(n / 5)), cycles: n, msPerCycle };
}

/**
 * `n` hot reloads of a loaded C plugin while `concurrency` clients call it without pause
 * (each waits `pauseMs` between calls): every reload is a manifest rewrite (a new version,
 * written beside and renamed over, as editors do) that the HotReloader picks up.
 */
async function reloads(registry, work, n, { concurrency = 4, pauseMs = 1 } = {}) {
  const dir = copyPlugin(work, "examples/c/hello");
  const handle = await registry.load(dir); // kept, as an application keeps its handles
  const name = handle.name;
  const reloader = new HotReloader(registry, { debounceMs: 5, stabilityMs: 0 });
  await reloader.watch(dir);
  const manifest = path.join(dir, "plugin.toml");
  const text = readFileSync(manifest, "utf8");

  let reloadFailures = 0;
  reloader.on("reload-failed", (e) => {
    reloadFailures++;
    console.error(`  reload failed: ${e.error.code} ${e.error.message}`);
  });
  const every = Math.max(1, Math.floor(n / 40));
  const samples = [await sample(0)];
  const watchFds = fdWatcher("reload");

  let stop = false;
  let requests = 0;
  let failed = 0;
  const firstFailures = []; // a few, for the report: the count is what is checked
  const client = async (c) => {
    // Bounded in time too (n seconds, at least 30), so a client never outlives a soak that failed.
    for (let i = 0, until = performance.now() + Math.max(30_000, n * 1_000); !stop && performance.now() < until; i++) {
      try {
        await callOnce(registry, name, `r${c}-${i}`, true);
        requests++;
      } catch (err) {
        failed++;
        if (firstFailures.length < 3) firstFailures.push(err);
      }
      await sleep(pauseMs);
    }
  };
  const clients = Array.from({ length: concurrency }, (_, c) => client(c));
  const t0 = performance.now();
  let last = t0;
  try {
    for (let i = 1; i <= n; i++) {
      const version = `0.2.${i}`;
      const done = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`reload ${i} (to ${version}) not seen within 20 s`)), 20_000);
        const on = (e) => {
          if (e.to !== version) return;
          clearTimeout(timer);
          reloader.off("reloaded", on);
          resolve();
        };
        reloader.on("reloaded", on);
      });
      const tmp = `${manifest}.tmp`;
      writeFileSync(tmp, text.replace(/^version = ".*"$/m, `version = "${version}"`));
      renameSync(tmp, manifest);
      await done;
      if (registry.get(name).version !== version) throw new Error(`after reload ${i} the plugin runs ${registry.get(name).version}`);
      if (i % every === 0 || i === n) {
        samples.push(await sample(i));
      watchFds(samples[samples.length - 1]);
        if (performance.now() - last > 10_000) {
          last = performance.now();
          const s = samples[samples.length - 1];
          console.log(`  reload: ${i}/${n}  requests ${requests}  rss ${(s.rss / 2 ** 20).toFixed(1)} MB  heap ${(s.heap / 2 ** 20).toFixed(1)} MB  fds ${s.fds}  threads ${s.threads}`);
        }
      }
    }
  } finally {
    stop = true;
    await Promise.all(clients);
    await reloader.close();
  }
  const ms = performance.now() - t0;
  if (registry.get(name).version !== `0.2.${n}`) throw new Error(`after ${n} reloads the plugin runs ${registry.get(name).version}`);
  await registry.unload(name);
  for (const f of firstFailures) console.error(`  request failed: ${f?.stack ?? f}`);
  return { ...growth(samples, Math.floor(n / 5)), cycles: n, msPerCycle: ms / n, requests, failedRequests: failed + reloadFailures };
}

// ── main ─────────────────────────────────────────────────────────────────

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const plan = Object.entries(opts.ci ? CI : FULL)
    .filter(([k]) => !opts.only || opts.only.includes(k))
    .map(([k, v]) => [k, Math.max(5, Math.round(v * opts.scale))]);
  const work = mkdtempSync(path.join(tmpdir(), "plughost-soak-"));
  const registry = new PluginRegistry({
    logger: pino({ level: "silent" }),
    cacheDir: path.join(work, "cache"),
    dataDir: path.join(work, "data"),
  });
  const dirs = {
    c: () => copyPlugin(work, "examples/c/hello"),
    js: () => copyPlugin(work, "examples/js/hello"),
    worker: () => copyPlugin(work, "examples/c/hello", (t) => t.replace(/^kind = /m, 'isolation = "worker"\nkind = ')),
    native: () => copyPlugin(work, "examples/native/legacy-hello"),
  };
  const started = performance.now();
  const results = {};
  let start;
  let startFds;
  try {
    // A few rounds of each phase first: what the process creates once and keeps (libuv's second loop and its
    // pipe, the inotify handle, compiled code) is then in the start sample, which the end must come back to.
    for (const [phase] of plan) {
      if (phase === "reload") await reloads(registry, work, 3);
      else await cycles(registry, phase, dirs[phase](), 3, { expectText: phase !== "native" });
    }
    start = await sample(0);
    startFds = fdTargets();
    for (const [phase, n] of plan) {
      console.log(`── ${phase}: ${n} ${phase === "reload" ? "hot reloads under load" : "load/unload cycles"}`);
      const r =
        phase === "reload" ? await reloads(registry, work, n) : await cycles(registry, phase, dirs[phase](), n, { expectText: phase !== "native" });
      results[phase] = r;
      console.log(
        `  ${phase}: ${r.msPerCycle.toFixed(1)} ms each; RSS ${r.rssGrowthPct.toFixed(2)} % (${(r.rssBytesPerCycle / 1024).toFixed(2)} KiB/cycle), ` +
          `heap ${r.heapGrowthPct.toFixed(2)} % (${r.heapBytesPerCycle.toFixed(0)} B/cycle), fds +${r.fdGrowth}, threads +${r.threadGrowth}, processes +${r.processGrowth}` +
          (r.requests !== undefined ? `; ${r.requests} requests answered, ${r.failedRequests} failed` : ""),
      );
    }
    await registry.unloadAll();
  } finally {
    await registry.close?.();
    rmSync(work, { recursive: true, force: true });
  }
  const end = await sample(0);
  const endFds = fdTargets();
  if (end.fds > start.fds) console.log(`  open at the end and not at the start:\n    ${endFds.filter((f) => !startFds.includes(f)).join("\n    ")}`);
  const phases = Object.values(results);
  const max = (k) => Math.max(...phases.map((r) => r[k] ?? 0));
  const out = {
    soak_rss_growth_pct: round(max("rssGrowthPct")),
    soak_heap_growth_pct: round(max("heapGrowthPct")),
    soak_fd_growth: Math.max(max("fdGrowth"), end.fds - start.fds),
    soak_thread_growth: max("threadGrowth"),
    soak_process_growth: Math.max(max("processGrowth"), end.processes - start.processes),
    soak_seconds: round((performance.now() - started) / 1000),
    soak_ci: opts.ci ? 1 : 0, // 1: the shortened --ci counts produced these figures
  };
  for (const [phase, r] of Object.entries(results)) {
    out[`soak_${phase}_cycles`] = r.cycles;
    out[`soak_${phase}_ms`] = round(r.msPerCycle);
    out[`soak_${phase}_rss_growth_pct`] = round(r.rssGrowthPct);
    out[`soak_${phase}_heap_growth_pct`] = round(r.heapGrowthPct);
    out[`soak_${phase}_heap_bytes_per_cycle`] = Math.round(r.heapBytesPerCycle);
    if (r.requests !== undefined) {
      out.soak_reload_requests = r.requests;
      out.soak_reload_failed_requests = r.failedRequests;
    }
  }
  console.log(JSON.stringify(out, null, 2));
  if (opts.write) writeLatest(out);

  const missed = [];
  if (out.soak_rss_growth_pct > GOALS.rssGrowthPct) missed.push(`RSS grew ${out.soak_rss_growth_pct} % (goal ≤ ${GOALS.rssGrowthPct})`);
  if (out.soak_heap_growth_pct > GOALS.heapGrowthPct) missed.push(`heap grew ${out.soak_heap_growth_pct} % (goal ≤ ${GOALS.heapGrowthPct})`);
  if (out.soak_fd_growth > GOALS.fdGrowth) missed.push(`${out.soak_fd_growth} file descriptors left open`);
  if (out.soak_thread_growth > GOALS.threadGrowth) missed.push(`${out.soak_thread_growth} threads left running`);
  if (out.soak_process_growth > GOALS.processGrowth) missed.push(`${out.soak_process_growth} helper processes left behind`);
  if ((out.soak_reload_failed_requests ?? 0) > GOALS.failedRequests) missed.push(`${out.soak_reload_failed_requests} requests or reloads failed during the hot reloads`);
  if (missed.length) {
    console.error(`soak: goals missed: ${missed.join("; ")}`);
    process.exitCode = 1;
  } else {
    console.log(`soak: all goals met in ${out.soak_seconds} s`);
  }
}

const round = (x) => Math.round(x * 100) / 100;

/** Merge into bench/results/latest.json, keeping the other benchmarks' keys. */
function writeLatest(out) {
  const file = path.join(root, "bench", "results", "latest.json");
  mkdirSync(path.dirname(file), { recursive: true });
  const prev = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  const tmp = `${file}.soak-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ ...prev, ...out }, null, 2) + "\n");
  renameSync(tmp, file);
  console.log(`wrote ${Object.keys(out).length} soak keys to bench/results/latest.json`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await main();
  } catch (err) {
    console.error(`soak failed: ${err?.stack ?? err}`);
    process.exitCode = 1;
  }
  // A failed phase may leave a plugin or a watcher behind: CI must not wait on them.
  process.exit(process.exitCode ?? 0);
}
