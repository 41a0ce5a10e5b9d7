// Observability benchmarks: what metrics (and tracing, no exporter) cost on the fast path.
//
// metrics_overhead_ratio = v8_dispatch_status_ns with per-call metrics and tracing on ÷ the same with both off,
// measured in one run (the spine's `invokeSync("status")` on the bench C plugin, same batches). Tracing is
// enabled through dist/observability/tracing.js's enableTracing with the API's global tracer: no SDK is
// registered, so spans are made by the no-op tracer and dropped ("tracing on, no exporter").
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { pino } from "pino";
import { PluginRegistry } from "../dist/index.js";
import { median, timePerCall } from "./stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BENCH = path.join(root, "test/fixtures/c/bench");
const TRACING = path.join(root, "dist/observability/tracing.js");

async function tracingModule() {
  if (!existsSync(TRACING)) return undefined;
  const mod = await import(pathToFileURL(TRACING).href);
  return typeof mod.enableTracing === "function" ? mod : undefined;
}

/** A registry with the bench plugin loaded, per configuration. */
async function setup(logger, config, tracing) {
  const registry = new PluginRegistry({ logger, cacheDir: false, metrics: config.metrics });
  const plugin = await registry.load(BENCH);
  const trace = config.tracing && tracing ? tracing.enableTracing(registry) : undefined;
  return { registry, plugin, trace };
}

export async function run() {
  const logger = pino({ level: "silent" });
  const tracing = await tracingModule();
  const configs = {
    off: { metrics: false, tracing: false },
    metrics: { metrics: true, tracing: false },
    on: { metrics: true, tracing: true },
  };
  const live = {};
  for (const [name, config] of Object.entries(configs)) live[name] = await setup(logger, config, tracing);
  const data = new Uint8Array(16).fill(7);
  // Short batches, the configurations interleaved round by round, the lower median of each kept per round and
  // the median over rounds: a stretch of interference then hits every configuration alike.
  const rounds = 9;
  const per = Object.fromEntries(Object.keys(configs).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, { plugin }] of Object.entries(live)) {
      per[name].push(timePerCall(() => plugin.invokeSync("status", data), { batch: 10_000, batches: 9 }));
    }
  }
  for (const { registry, trace } of Object.values(live)) {
    trace?.disable();
    await registry.unloadAll();
  }
  const off = median(per.off);
  const metricsOnly = median(per.metrics);
  const on = median(per.on);
  const results = {
    v8_dispatch_status_observed_off_ns: off,
    v8_dispatch_status_metrics_ns: metricsOnly,
    v8_dispatch_status_observed_ns: on,
    metrics_only_overhead_ratio: metricsOnly / off,
    metrics_overhead_ratio: on / off,
  };
  const spread = (xs) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
  console.log("observability (medians over rounds, ns per invokeSync):");
  console.log(`  off (metrics: false, no tracing)         ${off.toFixed(1)}  rounds ${spread(per.off)}`);
  console.log(`  per-call metrics (1 call in 16 timed)     ${metricsOnly.toFixed(1)}  rounds ${spread(per.metrics)}`);
  console.log(`  metrics + tracing ${tracing ? "(no-op tracer)        " : "(tracing module absent)"} ${on.toFixed(1)}  rounds ${spread(per.on)}`);
  console.log(`  metrics_only_overhead_ratio ${results.metrics_only_overhead_ratio.toFixed(3)}`);
  console.log(`  metrics_overhead_ratio      ${results.metrics_overhead_ratio.toFixed(3)}  (goal ≤ 1.3${tracing ? "" : "; tracing not built, metrics alone"})`);
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await run();
