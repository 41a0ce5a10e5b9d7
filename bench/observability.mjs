// Observability benchmarks: what metrics (and tracing, no exporter) cost on the fast path.
//
// metrics_overhead_ratio = v8_dispatch_status_ns with per-call metrics and tracing on ÷ the same with both off,
// measured in one run (the spine's `invokeSync("status")` on the bench C plugin, same batches). Tracing is
// enabled through dist/observability/tracing.js's enableTracing with the API's global tracer and no SDK
// registered ("tracing on, no exporter", as that module defines it: it then adds nothing to a call until an
// SDK is registered).
//
// tracing_sdk_overhead_ratio, for information: the same call with metrics and tracing through an SDK tracer
// provider that records spans and exports none (@opentelemetry/sdk-trace-base, no span processor). Such a call
// runs the interceptors; their promises settle after the call, so both sides of this ratio are timed in short
// batches with the microtasks drained between batches.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { pino } from "pino";
import { PluginRegistry } from "../dist/index.js";
import { median, timePerCall } from "./stats.mjs";

/** Median ns per call of `fn` over short batches, the event loop's microtasks drained between batches. */
async function drainedPerCall(fn, { batch = 200, batches = 151 } = {}) {
  for (let i = 0; i < batch * 10; i++) fn();
  await new Promise((resolve) => setImmediate(resolve));
  const samples = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / batch);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return median(samples);
}

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
  const trace = config.tracing && tracing ? tracing.enableTracing(registry, config.tracer ? { tracer: config.tracer } : {}) : undefined;
  return { registry, plugin, trace };
}

/** Median ns of one dispatch to 100 copies of the bench plugin, per-call metrics off and on, rounds alternated. */
async function fanout(logger) {
  const dir = mkdtempSync(path.join(tmpdir(), "plughost-bench-obs-"));
  const regs = {};
  try {
    for (const [name, metrics] of [["off", false], ["on", true]]) {
      const registry = new PluginRegistry({ logger, cacheDir: false, metrics });
      regs[name] = registry;
      for (let i = 0; i < 100; i++) {
        const p = path.join(dir, `${name}-${i}`);
        mkdirSync(p);
        copyFileSync(path.join(BENCH, "plugin.wasm"), path.join(p, "plugin.wasm"));
        writeFileSync(path.join(p, "plugin.toml"), readFileSync(path.join(BENCH, "plugin.toml"), "utf8").replace('name = "bench"', `name = "bench-${i}"`));
        await registry.load(p);
      }
    }
    const data = new Uint8Array(16).fill(7);
    for (const r of Object.values(regs)) for (let i = 0; i < 2_000; i++) await r.dispatch("status", data);
    const xs = { off: [], on: [] };
    for (let round = 0; round < 15; round++) {
      for (const [name, r] of Object.entries(regs)) {
        const N = 300;
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < N; i++) await r.dispatch("status", data);
        xs[name].push(Number(process.hrtime.bigint() - t0) / N);
      }
    }
    return { off: median(xs.off), on: median(xs.on) };
  } finally {
    for (const r of Object.values(regs)) await r.unloadAll();
    rmSync(dir, { recursive: true, force: true });
  }
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

  // Recording spans, exporting none.
  let sdk;
  if (tracing) {
    const { BasicTracerProvider } = await import("@opentelemetry/sdk-trace-base");
    const tracer = new BasicTracerProvider().getTracer("bench");
    const a = await setup(logger, configs.off, tracing);
    const b = await setup(logger, { metrics: true, tracing: true, tracer }, tracing);
    if (!b.trace?.active) throw new Error("tracing with an SDK tracer did not start");
    const xs = { off: [], sdk: [] };
    for (let r = 0; r < 3; r++) {
      xs.off.push(await drainedPerCall(() => a.plugin.invokeSync("status", data)));
      xs.sdk.push(await drainedPerCall(() => b.plugin.invokeSync("status", data)));
    }
    b.trace.disable();
    await a.registry.unloadAll();
    await b.registry.unloadAll();
    sdk = { off: median(xs.off), on: median(xs.sdk) };
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
    ...(sdk ? { v8_dispatch_status_traced_sdk_ns: sdk.on, tracing_sdk_overhead_ratio: sdk.on / sdk.off } : {}),
  };
  const fan = await fanout(logger);
  results.dispatch_fanout_100_metrics_ns = fan.on;
  results.dispatch_fanout_100_metrics_ratio = fan.on / fan.off;
  const spread = (xs) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
  console.log("observability (medians over rounds, ns per invokeSync):");
  console.log(`  off (metrics: false, no tracing)         ${off.toFixed(1)}  rounds ${spread(per.off)}`);
  console.log(`  per-call metrics (1 call in 16 timed)     ${metricsOnly.toFixed(1)}  rounds ${spread(per.metrics)}`);
  console.log(`  metrics + tracing ${tracing ? "(no-op tracer)        " : "(tracing module absent)"} ${on.toFixed(1)}  rounds ${spread(per.on)}`);
  console.log(`  metrics_only_overhead_ratio ${results.metrics_only_overhead_ratio.toFixed(3)}`);
  console.log(`  metrics_overhead_ratio      ${results.metrics_overhead_ratio.toFixed(3)}  (goal ≤ 1.3${tracing ? "" : "; tracing not built, metrics alone"})`);
  console.log(`  dispatch to 100 C plugins: metrics off ${fan.off.toFixed(0)} ns, on ${fan.on.toFixed(0)} ns, ratio ${results.dispatch_fanout_100_metrics_ratio.toFixed(3)}`);
  if (sdk) {
    console.log(`  with an SDK tracer recording spans, no exporter (drained batches): off ${sdk.off.toFixed(1)}, on ${sdk.on.toFixed(1)} ns`);
    console.log(`  tracing_sdk_overhead_ratio  ${results.tracing_sdk_overhead_ratio.toFixed(2)}  (for information)`);
  }
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await run();
