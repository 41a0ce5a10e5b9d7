// Plugin-defined metrics (WIT define-metric / record-metric): real plugins built from the C SDK
// (test/fixtures/c/metrics-probe) and the Go SDK (test/fixtures/go/metrics-jobs) on v8 (in process and in a
// worker) and wasmtime, recording into a prom-client Registry through PluginMetricsStore. The host calls are
// the registry's own (createHostCalls) with the store's two calls added, as the registry wires them.
import { describe, it, expect, afterEach } from "vitest";
import path from "node:path";
import { Registry } from "prom-client";
import { getEngine } from "../src/engines/index.js";
import type { EngineInstance, EngineName, Isolation, Limits } from "../src/engines/engine.js";
import { createHostCalls } from "../src/runtime/host-calls.js";
import { emptyMetrics } from "../src/runtime/metrics.js";
import { METRIC_ERROR_CODE, type MetricError } from "../src/contract/abi.js";
import { AbiViolation, CapabilityDenied, FuelExhausted } from "../src/contract/errors.js";
import { PluginRegistry } from "../src/runtime/registry.js";
import { PluginMetricsStore, withPluginMetrics, type PluginMetricLimits } from "../src/observability/plugin-metrics.js";
import { copyPlugin, enc, pluginDir, silentLogger } from "./helpers/plugins.js";

/** The SDKs' status of a refusal: -1 - the metric-error code. */
const refused = (e: MetricError): number => -1 - METRIC_ERROR_CODE[e];

interface Loaded {
  instance: EngineInstance;
  prom: Registry;
  store: PluginMetricsStore;
  denied: string[];
  refusals: string[];
}

const open: EngineInstance[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((i) => i.dispose().catch(() => undefined)));
});

interface LoadOptions {
  capabilities?: string[];
  limits?: Limits;
  store?: PluginMetricsStore;
  storeLimits?: Partial<PluginMetricLimits>;
}

async function load(rel: string, plugin: string, engine: EngineName, isolation: Isolation, o: LoadOptions = {}): Promise<Loaded> {
  const prom = new Registry();
  const store = o.store ?? new PluginMetricsStore(prom, o.storeLimits);
  const capabilities = o.capabilities ?? ["metrics", "stdio", "clock", "random"];
  const denied: string[] = [];
  const refusals: string[] = [];
  const base = createHostCalls({
    name: plugin,
    logger: silentLogger(),
    callbacks: new Set(),
    capabilities,
    metrics: emptyMetrics(),
    config: () => ({}),
    onRegistered: () => undefined,
    emit: () => ({ ok: false, error: "denied" }),
    send: () => ({ ok: false, error: "denied" }),
    onDenied: (capability, detail) => denied.push(`${capability}: ${detail}`),
  });
  const host = withPluginMetrics(
    base,
    store.bind(plugin, { capabilities, onDenied: (c, d) => denied.push(`${c}: ${d}`), onRefused: (e, d) => refusals.push(`${e}: ${d}`) }),
  );
  const instance = await (await getEngine(engine)).load({
    plugin,
    entryPath: path.join(pluginDir(rel), "plugin.wasm"),
    capabilities,
    limits: o.limits ?? {},
    host,
    isolation,
  });
  open.push(instance);
  expect(await instance.init("0.1.0", "{}")).toBe(0);
  return { instance, prom, store, denied, refusals };
}

/** The samples of a Prometheus text exposition: `name{labels}` → value; every non-comment line must parse. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    out.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return out;
}

const ENGINES: [string, EngineName, Isolation][] = [
  ["v8", "v8", "in-process"],
  ["v8 worker", "v8", "worker"],
  ["wasmtime", "wasmtime", "in-process"],
];

describe.each(ENGINES)("plugin metrics from a C plugin on %s", (_label, engine, isolation) => {
  const C = "test/fixtures/c/metrics-probe";
  const P = 'plugin="metrics-probe"';

  it("defines a counter, a gauge and a histogram in init and records them under the plugin's prefix", async () => {
    const { instance, prom } = await load(C, "metrics-probe", engine, isolation);
    expect(await instance.onEvent("status", enc(""))).toBe(0);
    for (const route of ["/a", "/a", "/b", "/a"]) expect(await instance.onEvent("hit", enc(route))).toBe(0);
    expect(await instance.onEvent("depth", enc("7.5"))).toBe(0);
    expect(await instance.onEvent("depth", enc("3"))).toBe(0);
    expect(await instance.onEvent("work", enc("0.02"))).toBe(0);
    expect(await instance.onEvent("work", enc("2"))).toBe(0);

    const text = await prom.metrics();
    expect(text).toContain("# TYPE plugin_metrics_probe_requests_total counter");
    expect(text).toContain("# HELP plugin_metrics_probe_requests_total Requests handled, by route");
    const s = samples(text);
    expect(s.get(`plugin_metrics_probe_requests_total{${P},route="/a"}`)).toBe(3);
    expect(s.get(`plugin_metrics_probe_requests_total{${P},route="/b"}`)).toBe(1);
    expect(s.get(`plugin_metrics_probe_queue_depth{${P}}`)).toBe(3);
    expect(s.get(`plugin_metrics_probe_work_seconds_count{${P},kind="fast"}`)).toBe(2);
    expect(s.get(`plugin_metrics_probe_work_seconds_sum{${P},kind="fast"}`)).toBeCloseTo(2.02, 10);
    expect(s.get(`plugin_metrics_probe_work_seconds_bucket{le="0.05",${P},kind="fast"}`)).toBe(1);
    expect(s.get(`plugin_metrics_probe_work_seconds_bucket{le="+Inf",${P},kind="fast"}`)).toBe(2);
  });

  it("refuses bad names, conflicts, unknown ids, wrong labels and bad values with the WIT error, and records nothing for them", async () => {
    const { instance, prom, refusals } = await load(C, "metrics-probe", engine, isolation);
    const call = (event: string, data: string) => instance.onEvent(event, enc(data));
    // The same definition again is the same id; init defined ids 0, 1, 2.
    expect(await call("define", "counter requests_total route")).toBe(0);
    expect(await call("define", "counter errors_total code")).toBe(3);
    expect(await call("define", "counter 9lives")).toBe(refused("invalid-name"));
    expect(await call("define", "counter bad-name")).toBe(refused("invalid-name"));
    expect(await call("define", "counter __reserved")).toBe(refused("invalid-name"));
    expect(await call("define", `counter ${"x".repeat(65)}`)).toBe(refused("invalid-name"));
    expect(await call("define", "gauge ok_gauge plugin")).toBe(refused("invalid-name"));
    expect(await call("define", "histogram ok_hist le")).toBe(refused("invalid-name"));
    expect(await call("define", "gauge ok_gauge a,a")).toBe(refused("invalid-name"));
    expect(await call("define", "gauge requests_total route")).toBe(refused("conflict"));
    expect(await call("define", "counter requests_total path")).toBe(refused("conflict"));
    expect(await call("define", "gauge many a,b,c,d,e,f,g,h,i")).toBe(refused("limit-reached"));
    expect(await call("define", `gauge huge ${Array.from({ length: 17 }, (_, i) => `l${i}`).join(",")}`)).toBe(refused("limit-reached"));

    expect(await call("record", "0 1 /x")).toBe(0);
    expect(await call("record", "99 1 /x")).toBe(refused("unknown-metric"));
    expect(await call("record", "0 1")).toBe(refused("invalid-labels"));
    expect(await call("record", "0 1 /x,extra")).toBe(refused("invalid-labels"));
    expect(await call("record", `0 1 ${"v".repeat(129)}`)).toBe(refused("invalid-labels"));
    expect(await call("record", `0 1 ${"v".repeat(2000)}`)).toBe(refused("invalid-labels"));
    expect(await call("record", "0 -1 /x")).toBe(refused("invalid-value"));
    expect(await call("record", "0 nan /x")).toBe(refused("invalid-value"));
    expect(await call("record", "1 inf")).toBe(refused("invalid-value"));
    expect(await call("record", "1 -4.5")).toBe(0);

    const s = samples(await prom.metrics());
    expect(s.get('plugin_metrics_probe_requests_total{plugin="metrics-probe",route="/x"}')).toBe(1);
    expect(s.get('plugin_metrics_probe_queue_depth{plugin="metrics-probe"}')).toBe(-4.5);
    // Refusals the engine makes before reading (a name or value over its read bounds) never reach the store.
    expect(s.get('plughost_plugin_metric_refusals_total{plugin="metrics-probe",reason="invalid-name"}')).toBe(6);
    expect(s.get('plughost_plugin_metric_refusals_total{plugin="metrics-probe",reason="invalid-labels"}')).toBe(3);
    // Reported to the host once per kind (then one in 1,000), counted every time.
    expect(refusals.filter((r) => r.startsWith("invalid-name"))).toEqual([
      'invalid-name: define-metric("9lives"): a metric name is 1-64 characters of [A-Za-z0-9_], not starting with a digit or "__"',
    ]);
    expect(refusals.filter((r) => r.startsWith("invalid-value"))).toHaveLength(1);
  });

  it("bounds the label combinations of a metric, and the metrics of a plugin", async () => {
    const { instance, prom } = await load(C, "metrics-probe", engine, isolation, { storeLimits: { maxSeriesPerMetric: 50, maxMetrics: 5 } });
    expect(await instance.onEvent("flood", enc("49"))).toBe(0);
    expect(await instance.onEvent("flood", enc("60"))).toBe(refused("limit-reached"));
    const series = [...samples(await prom.metrics()).keys()].filter((k) => k.startsWith("plugin_metrics_probe_requests_total{"));
    expect(series).toHaveLength(50);
    // A known combination is still recorded at the limit.
    expect(await instance.onEvent("hit", enc("r1"))).toBe(0);
    expect(await instance.onEvent("define", enc("counter fourth"))).toBe(3);
    expect(await instance.onEvent("define", enc("counter fifth"))).toBe(4);
    expect(await instance.onEvent("define", enc("counter sixth"))).toBe(refused("limit-reached"));
  });

  it("denies a plugin without the metrics capability, as a capability violation, and exports nothing", async () => {
    const { instance, prom, denied } = await load(C, "metrics-probe", engine, isolation, { capabilities: [] });
    expect(await instance.onEvent("status", enc(""))).toBe(refused("denied"));
    expect(await instance.onEvent("record", enc("0 1 /x"))).toBe(refused("denied"));
    // The first of init's three defines is reported (a violation, then one in 1,000); records are not violations.
    expect(denied).toEqual(['metrics: define-metric("requests_total")']);
    expect(samples(await prom.metrics()).get('plughost_plugin_metric_refusals_total{plugin="metrics-probe",reason="denied"}')).toBe(4);
    expect(await prom.metrics()).not.toContain("plugin_metrics_probe_");
  });

  it("keeps a plugin's metrics and ids across a new instance (restart, reload) bound to the same store", async () => {
    const first = await load(C, "metrics-probe", engine, isolation);
    expect(await first.instance.onEvent("hit", enc("/a"))).toBe(0);
    await first.instance.dispose();
    const second = await load(C, "metrics-probe", engine, isolation, { store: first.store });
    expect(await second.instance.onEvent("hit", enc("/a"))).toBe(0);
    expect(await second.instance.onEvent("record", enc("0 5 /a"))).toBe(0);
    expect(samples(await first.prom.metrics()).get('plugin_metrics_probe_requests_total{plugin="metrics-probe",route="/a"}')).toBe(7);
    first.store.remove("metrics-probe");
    expect(await first.prom.metrics()).not.toContain("plugin_metrics_probe_");
  });

  it("charges fuel for the host's work: each define costs at least 1,000 units, and a loop of them runs out of fuel", async () => {
    const { instance } = await load(C, "metrics-probe", engine, isolation, { limits: { fuel: 10_000_000 } });
    expect(await instance.onEvent("define-many", enc("1"))).toBe(1);
    const one = instance.lastCallFuel!();
    expect(await instance.onEvent("define-many", enc("21"))).toBe(21); // c0 again (the same id), then 20 new
    expect((instance.lastCallFuel!() - one) / 20).toBeGreaterThanOrEqual(1000);
    await expect(instance.onEvent("define-many", enc("20000"))).rejects.toBeInstanceOf(FuelExhausted);
  });
});

describe.each(ENGINES.filter(([, , iso]) => iso === "in-process"))("plugin metrics from a Go plugin on %s", (_label, engine, isolation) => {
  const GO = "test/fixtures/go/metrics-jobs";

  it("counts jobs per queue, sets a gauge, and gets the host's refusals back as MetricError", async () => {
    const { instance, prom } = await load(GO, "metrics-jobs", engine, isolation);
    for (const q of ["mail", "mail", "print"]) expect(await instance.onEvent("job", enc(q))).toBe(0);
    expect(await instance.onEvent("temp", enc("21.5"))).toBe(0);
    expect(await instance.onEvent("bad-name", enc(""))).toBe(refused("invalid-name"));
    expect(await instance.onEvent("conflict", enc(""))).toBe(refused("conflict"));
    expect(await instance.onEvent("bad-value", enc(""))).toBe(refused("invalid-value"));
    const s = samples(await prom.metrics());
    expect(s.get('plugin_metrics_jobs_jobs_total{plugin="metrics-jobs",queue="mail"}')).toBe(2);
    expect(s.get('plugin_metrics_jobs_jobs_total{plugin="metrics-jobs",queue="print"}')).toBe(1);
    expect(s.get('plugin_metrics_jobs_temperature_celsius{plugin="metrics-jobs"}')).toBe(21.5);
  });
});

describe.each(ENGINES)("a plugin that breaks the metric calls' ABI on %s", (_label, engine, isolation) => {
  const H = "test/fixtures/c/metrics-hostile";

  it.each([
    ["oob-name", /metric name \[\d+, \d+\) is outside/],
    ["oob-list", /label names.*\[\d+, \d+\) is outside/],
    ["oob-item", /a string of (the list|label names).*is outside|label names: a string of the list \[/],
    ["misaligned", /label names \d+ is not 4-byte aligned/],
    ["bad-kind", /metric kind 9 is not a metric-kind case/],
    ["bad-utf8", /metric name is not valid UTF-8/],
  ])("%s is an AbiViolation that names the argument, for that plugin alone", async (event, message) => {
    const { instance } = await load(H, "metrics-hostile", engine, isolation);
    const err = await instance.onEvent(event, enc("")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbiViolation);
    expect((err as AbiViolation).plugin).toBe("metrics-hostile");
    expect((err as Error).message).toMatch(message);
  });

  it("refuses a huge label list or an oversized label name unread, as a WIT error, and goes on", async () => {
    const { instance, prom } = await load(H, "metrics-hostile", engine, isolation);
    expect(await instance.onEvent("huge-list", enc(""))).toBe(refused("invalid-labels"));
    expect(await instance.onEvent("huge-value", enc(""))).toBe(refused("invalid-name"));
    expect(await instance.onEvent("ok", enc(""))).toBe(0);
    expect(await prom.metrics()).toContain("# TYPE plugin_metrics_hostile_ok_total counter");
  });
});

describe("PluginMetricsStore", () => {
  it("refuses an exported name another plugin (or the host) already holds, lists what each plugin defined, resets with the registry", async () => {
    const prom = new Registry();
    const store = new PluginMetricsStore(prom);
    const a = store.bind("a-b", { capabilities: ["metrics"] });
    const b = store.bind("a_b", { capabilities: ["metrics"] });
    expect(a.defineMetric("counter", "x_total", "", [])).toEqual({ ok: true, value: 0 });
    // "a-b" and "a_b" both export plugin_a_b_x_total.
    expect(b.defineMetric("counter", "x_total", "", [])).toEqual({ ok: false, error: "conflict" });
    expect(b.defineMetric("gauge", "refusals", "", [])).toEqual({ ok: true, value: 0 });
    const host = store.bind("plughost", { capabilities: ["metrics"] });
    expect(host.defineMetric("counter", "metric_refusals_total", "", [])).toEqual({ ok: true, value: 0 });
    expect(store.list("a-b")).toEqual([{ plugin: "a-b", id: 0, name: "x_total", exportedName: "plugin_a_b_x_total", kind: "counter", labelNames: [], series: 0 }]);
    expect(store.list().map((m) => m.exportedName).sort()).toEqual(["plugin_a_b_refusals", "plugin_a_b_x_total", "plugin_plughost_metric_refusals_total"]);
    expect(a.recordMetric(0, 2, [])).toEqual({ ok: true, value: undefined });
    expect(store.list("a-b")[0]!.series).toBe(1);
    expect(await prom.metrics()).toContain("plugin_a_b_x_total{plugin=\"a-b\"} 2");
    prom.resetMetrics();
    expect(await prom.metrics()).toContain("plugin_a_b_x_total{plugin=\"a-b\"} 0");
  });

  it("reports each kind of refusal once, then one in 1,000, and runs the calls through an interceptor", () => {
    const prom = new Registry();
    const store = new PluginMetricsStore(prom);
    const refusals: string[] = [];
    const seen: string[] = [];
    const calls = store.bind("p", { capabilities: ["metrics"], onRefused: (e, d) => refusals.push(`${e}: ${d}`) });
    const base = createHostCalls({
      name: "p",
      logger: silentLogger(),
      callbacks: new Set(),
      capabilities: ["metrics"],
      metrics: emptyMetrics(),
      config: () => ({}),
      onRegistered: () => undefined,
      emit: () => ({ ok: false, error: "denied" }),
      send: () => ({ ok: false, error: "denied" }),
      onDenied: () => undefined,
    });
    const host = withPluginMetrics(base, calls, (name, run) => {
      seen.push(name);
      return run();
    });
    expect(host.getConfig()).toBe("{}");
    for (let i = 0; i < 2001; i++) expect(host.recordMetric(7, 1, [])).toEqual({ ok: false, error: "unknown-metric" });
    expect(host.defineMetric("gauge", "g", "", [])).toEqual({ ok: true, value: 0 });
    expect(refusals).toEqual([
      "unknown-metric: record-metric(7): the plugin defined no metric with that id",
      "unknown-metric: record-metric(7): the plugin defined no metric with that id (1001 such refusals)",
      "unknown-metric: record-metric(7): the plugin defined no metric with that id (2001 such refusals)",
    ]);
    expect(seen.filter((n) => n === "record-metric")).toHaveLength(2001);
    expect(seen.at(-1)).toBe("define-metric");
  });
});

describe.each(["v8", "wasmtime"] as const)("plugin metrics through the registry on %s", (engine) => {
  const C = "test/fixtures/c/metrics-probe";

  it("exports a granted plugin's metrics in metricsText, through the call pipeline", async () => {
    const registry = new PluginRegistry({ engine, grants: ["metrics"], logger: silentLogger(), cacheDir: false });
    const hostCalls: string[] = [];
    registry.use((ctx, next) => {
      if (ctx.kind === "host-call") hostCalls.push(ctx.event);
      return next();
    });
    try {
      await registry.load(pluginDir(C));
      await registry.invoke("metrics-probe", "hit", enc("/a"));
      await registry.invoke("metrics-probe", "hit", enc("/a"));
      expect(await registry.metricsText()).toContain('plugin_metrics_probe_requests_total{plugin="metrics-probe",route="/a"} 2');
      expect(registry.pluginMetrics.list("metrics-probe").map((m) => m.name)).toEqual(["requests_total", "queue_depth", "work_seconds"]);
      expect(hostCalls.filter((c) => c === "define-metric")).toHaveLength(3);
      expect(hostCalls.filter((c) => c === "record-metric")).toHaveLength(2);
    } finally {
      await registry.unloadAll();
    }
  });

  it("refuses the load without the grant; with metrics optional the plugin gets denied and a violation is recorded", async () => {
    const registry = new PluginRegistry({ engine, grants: [], logger: silentLogger(), cacheDir: false });
    try {
      await expect(registry.load(pluginDir(C))).rejects.toBeInstanceOf(CapabilityDenied);
      await registry.load(copyPlugin(C, (t) => t.replace('capabilities = ["metrics"]', 'optional-capabilities = ["metrics"]')));
      expect(await registry.invoke("metrics-probe", "status", enc(""))).toBe(refused("denied"));
      expect(registry.violations("metrics-probe").map((v) => [v.kind, v.detail])).toEqual([["capability", 'define-metric("requests_total") denied: needs metrics']]);
      expect(await registry.metricsText()).not.toContain("plugin_metrics_probe_");
    } finally {
      await registry.unloadAll();
    }
  });
});

describe("plugin metrics fuel, v8 against wasmtime", () => {
  it("charges the same fuel for define-metric and record-metric on both engines (a few units apart: the call's own entry)", async () => {
    const C = "test/fixtures/c/metrics-probe";
    const calls: [string, string][] = [
      ["define", "counter fuel_total a,b"],
      ["record", "3 1 x,y"],
      ["record", `3 1 ${"v".repeat(100)},${"w".repeat(100)}`],
      ["hit", "/route"],
      ["define-many", "5"],
      ["define", "counter 9bad"],
    ];
    const fuel: Record<string, number[]> = {};
    for (const engine of ["v8", "wasmtime"] as const) {
      const { instance } = await load(C, "metrics-probe", engine, "in-process", { limits: { fuel: 100_000_000 } });
      fuel[engine] = [];
      for (const [event, data] of calls) {
        await instance.onEvent(event, enc(data));
        fuel[engine]!.push(instance.lastCallFuel!());
      }
    }
    calls.forEach(([event, data], i) => {
      const [v8, wt] = [fuel.v8![i]!, fuel.wasmtime![i]!];
      // Measured 3 units apart on every call; the import glue wasmtime runs (9 units for a define) is given back.
      expect(Math.abs(v8 - wt), `${event} ${data.slice(0, 20)}: v8 ${v8}, wasmtime ${wt}`).toBeLessThanOrEqual(5);
    });
    // A define is dominated by its 1,000 units, the same on both.
    expect(fuel.v8![0]).toBeGreaterThan(1000);
  });
});
