// Prometheus metrics of a PluginRegistry (docs/observability.md): the exposition parses as the text format, and
// its numbers are the calls, errors, violations and durations the test made, with real C plugins on v8 and
// on wasmtime.
import { register as globalPromRegistry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { CALL_DURATION_BUCKETS, PluginRegistry, type RegistryOptions, type Violation } from "../src/index.js";
import { enc, pluginDir, silentLogger } from "./helpers/plugins.js";

const PROBE = "test/fixtures/c/probe";
const HELLO = "examples/c/hello";

const registries: PluginRegistry[] = [];
/** Per-call metrics on (they are off by default: see the test of the default below). */
const newRegistry = (options: RegistryOptions = {}) => {
  const r = new PluginRegistry({ logger: silentLogger(), cacheDir: false, metrics: true, ...options });
  registries.push(r);
  return r;
};

afterEach(async () => {
  for (const r of registries.splice(0)) await r.unloadAll().catch(() => undefined);
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

/**
 * A strict reading of the Prometheus text format (0.0.4): HELP and TYPE lines, then samples
 * `name{label="value",…} number`, each of a family whose TYPE came first; no series twice.
 */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  expect(text.endsWith("\n"), "the exposition ends with a newline").toBe(true);
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (comment) {
      if (comment[1] === "TYPE") {
        expect(["counter", "gauge", "histogram", "summary", "untyped"], line).toContain(comment[3]);
        expect(types.has(comment[2]!), `TYPE of ${comment[2]} given twice`).toBe(false);
        types.set(comment[2]!, comment[3]!);
      } else help.set(comment[2]!, comment[3]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    const [, name, rawLabels = "", rawValue] = m!;
    const labels: Record<string, string> = {};
    let rest = rawLabels;
    while (rest.length) {
      const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/.exec(rest);
      expect(l, `bad labels in: ${line}`).not.toBeNull();
      labels[l![1]!] = l![2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
      rest = rest.slice(l![0].length);
    }
    const value = rawValue === "+Inf" ? Infinity : rawValue === "-Inf" ? -Infinity : Number(rawValue);
    expect(Number.isNaN(value) && rawValue !== "NaN", `bad value in: ${line}`).toBe(false);
    const family = types.has(name!) ? name! : name!.replace(/_(bucket|sum|count)$/, "");
    expect(types.has(family), `sample ${name} before its TYPE`).toBe(true);
    if (family !== name) expect(types.get(family)).toBe("histogram");
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    expect(seen.has(key), `series given twice: ${line}`).toBe(false);
    seen.add(key);
    samples.push({ name: name!, labels, value });
  }
  return { types, help, samples };
}

/** The value of the one sample named `name` whose labels include `labels` (undefined when there is none). */
function value(e: Exposition, name: string, labels: Record<string, string>): number | undefined {
  const found = e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  expect(found.length, `${name} ${JSON.stringify(labels)} matched ${found.length} series`).toBeLessThanOrEqual(1);
  return found[0]?.value;
}

const scrape = async (r: PluginRegistry) => parseExposition(await r.metricsText());

describe("the Prometheus exposition", () => {
  it("parses, declares every family with HELP and TYPE, and counts each call, by event and by path", async () => {
    const r = newRegistry({ metrics: { latencySampleEvery: 1 } });
    const probe = await r.load(pluginDir(PROBE));
    await r.load(pluginDir(HELLO));
    for (let i = 0; i < 7; i++) probe.invokeSync("ok");
    for (let i = 0; i < 3; i++) await probe.invoke("len", enc("abc"));
    await r.dispatch("greet", enc("metrics"));
    await r.hook("hello-c", "greet", enc("hook"));

    const e = await scrape(r);
    for (const family of e.types.keys()) expect(e.help.get(family), `HELP of ${family}`).toBeTruthy();
    expect(e.types.get("plughost_plugin_calls_total")).toBe("counter");
    expect(e.types.get("plughost_plugin_call_duration_seconds")).toBe("histogram");
    expect(value(e, "plughost_plugin_calls_total", { plugin: "probe", event: "ok" })).toBe(7);
    expect(value(e, "plughost_plugin_calls_total", { plugin: "probe", event: "len" })).toBe(3);
    expect(value(e, "plughost_plugin_calls_total", { plugin: "hello-c", event: "greet" })).toBe(2);
    // The per-event counters add up to the registry's own counter.
    const perEvent = e.samples.filter((s) => s.name === "plughost_plugin_calls_total" && s.labels.plugin === "probe").reduce((a, s) => a + s.value, 0);
    expect(perEvent).toBe(r.metrics("probe").calls);
    expect(value(e, "plughost_plugin_logs_total", { plugin: "hello-c" })).toBe(r.metrics("hello-c").logs);
    expect(r.metrics("hello-c").logs).toBeGreaterThanOrEqual(3); // init, and one line per greet
    expect(value(e, "plughost_plugin_fuel_used_total", { plugin: "probe" })).toBe(r.metrics("probe").fuelUsed);
    expect(value(e, "plughost_plugin_fuel_used_total", { plugin: "probe" })).toBeGreaterThan(0);
    expect(value(e, "plughost_plugin_state", { plugin: "probe", state: "active" })).toBe(1);
    expect(value(e, "plughost_plugin_state", { plugin: "probe", state: "suspended" })).toBe(0);
    expect(value(e, "plughost_plugins", { state: "active" })).toBe(2);
    expect(value(e, "plughost_plugin_info", { plugin: "probe", version: "1.0.0", engine: "v8" })).toBe(1);
    expect(value(e, "plughost_plugin_load_duration_seconds_count", { plugin: "probe" })).toBe(1);
    expect(value(e, "plughost_plugin_load_seconds", { plugin: "probe" })).toBeCloseTo(r.metrics("probe").loadMs / 1000, 6);
    expect(value(e, "plughost_plugin_errors_total", { plugin: "probe" })).toBeUndefined();
  });

  it("counts errors by code after a trap, and the fault, the restart and the trap violation", async () => {
    const r = newRegistry({ recovery: { strategy: "restart", baseDelayMs: 0 } });
    const probe = await r.load(pluginDir(PROBE));
    const restarted = new Promise<void>((resolve) => r.once("restarted", () => resolve()));
    await expect(probe.invoke("trap")).rejects.toMatchObject({ code: "E_TRAP" });
    await restarted;
    await expect(probe.invoke("trap")).rejects.toMatchObject({ code: "E_TRAP" });
    await expect(probe.invoke("nope")).rejects.toMatchObject({ code: "E_INVOCATION_FAILED" }); // refused before the call: not counted
    expect(await probe.invoke("ok")).toBe(42);

    const e = await scrape(r);
    expect(value(e, "plughost_plugin_errors_total", { plugin: "probe", code: "E_TRAP" })).toBe(2);
    expect(e.samples.filter((s) => s.name === "plughost_plugin_errors_total").length).toBe(1);
    expect(value(e, "plughost_plugin_faults_total", { plugin: "probe" })).toBe(2);
    expect(value(e, "plughost_plugin_restarts_total", { plugin: "probe" })).toBeGreaterThanOrEqual(1);
    expect(value(e, "plughost_plugin_violations_total", { plugin: "probe", kind: "trap" })).toBe(2);
    expect(value(e, "plughost_plugin_violations", { plugin: "probe" })).toBe(2);
    expect(value(e, "plughost_plugin_violation_threshold", { plugin: "probe" })).toBe(10);
    expect(value(e, "plughost_plugin_calls_total", { plugin: "probe", event: "trap" })).toBe(2);
    expect(value(e, "plughost_plugin_calls_total", { plugin: "probe", event: "ok" })).toBe(1);
  });

  it("counts memory violations by kind as the registry's violation events report them, and they survive a reset", async () => {
    const r = newRegistry({ defaultLimits: { memoryBytes: 2 * 1024 * 1024 } });
    const events: Violation[] = [];
    r.on("violation", (v) => events.push(v));
    const probe = await r.load(pluginDir(PROBE));
    expect(await probe.invoke("grow", new Uint8Array([4]))).toBe(1); // 4 MiB refused: malloc fails
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((v) => v.kind === "memory")).toBe(true);
    r.resetViolations("probe");

    const e = await scrape(r);
    expect(value(e, "plughost_plugin_violations_total", { plugin: "probe", kind: "memory" })).toBe(events.length);
    expect(value(e, "plughost_plugin_violations", { plugin: "probe" })).toBe(0);
    expect(value(e, "plughost_plugin_errors_total", { plugin: "probe" })).toBeUndefined();
  });

  it("each exposition reads the plugins afresh, however soon after the last one", async () => {
    const r = newRegistry();
    const probe = await r.load(pluginDir(PROBE));
    for (let i = 1; i <= 5; i++) {
      probe.invokeSync("ok");
      expect(value(await scrape(r), "plughost_plugin_calls_total", { plugin: "probe", event: "ok" })).toBe(i);
    }
  });

  for (const isolation of ["in-process", "worker"] as const) {
    it(`linear memory, current and peak, follows the guest's growth (v8, ${isolation})`, async () => {
      const r = newRegistry({ isolation });
      const probe = await r.load(pluginDir(PROBE));
      const before = value(await scrape(r), "plughost_plugin_memory_bytes", { plugin: "probe" })!;
      expect(before).toBeGreaterThan(0);
      expect(before % 65536).toBe(0);
      expect(await probe.invoke("grow", new Uint8Array([1]))).toBe(0); // holds 1 MiB more
      const e = await scrape(r);
      const after = value(e, "plughost_plugin_memory_bytes", { plugin: "probe" })!;
      expect(after).toBeGreaterThanOrEqual(before + 1024 * 1024);
      expect(after % 65536).toBe(0);
      expect(value(e, "plughost_plugin_memory_peak_bytes", { plugin: "probe" })).toBe(after);
      // A trap discards the instance; the fresh one is smaller, and the peak stays.
      await expect(probe.invoke("trap")).rejects.toMatchObject({ code: "E_TRAP" });
      expect(await probe.invoke("ok")).toBe(42);
      const restarted = await scrape(r);
      expect(value(restarted, "plughost_plugin_memory_bytes", { plugin: "probe" })).toBeLessThan(after);
      expect(value(restarted, "plughost_plugin_memory_peak_bytes", { plugin: "probe" })).toBe(after);
    });
  }

  it("a histogram per plugin and event: cumulative buckets from 100 ns to 1 s, +Inf = _count = timed calls", async () => {
    expect(CALL_DURATION_BUCKETS[0]).toBe(1e-7);
    expect(CALL_DURATION_BUCKETS[CALL_DURATION_BUCKETS.length - 1]).toBe(1);
    const r = newRegistry({ metrics: { latencySampleEvery: 1 } });
    const probe = await r.load(pluginDir(PROBE));
    for (let i = 0; i < 25; i++) probe.invokeSync("ok");
    for (let i = 0; i < 4; i++) await probe.invoke("len", enc("x"));

    const e = await scrape(r);
    const buckets = e.samples.filter((s) => s.name === "plughost_plugin_call_duration_seconds_bucket" && s.labels.plugin === "probe" && s.labels.event === "ok");
    expect(buckets.map((b) => b.labels.le)).toEqual([...CALL_DURATION_BUCKETS.map((b) => String(b)), "+Inf"]);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(buckets.at(-1)!.value).toBe(25);
    expect(value(e, "plughost_plugin_call_duration_seconds_count", { plugin: "probe", event: "ok" })).toBe(25);
    expect(value(e, "plughost_plugin_call_duration_seconds_count", { plugin: "probe", event: "len" })).toBe(4);
    const sum = value(e, "plughost_plugin_call_duration_seconds_sum", { plugin: "probe", event: "ok" })!;
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(1); // 25 calls of a few microseconds

    const latency = r.latency("probe");
    expect(latency.count).toBe(29);
    expect(latency.p50Ns).toBeGreaterThan(0);
    expect(latency.p50Ns).toBeLessThanOrEqual(latency.p90Ns);
    expect(latency.p90Ns).toBeLessThanOrEqual(latency.p99Ns);
    expect(latency.p99Ns).toBeLessThan(1e9);
  });

  it("samples durations past one call per millisecond: every call counted, a fraction timed; slow calls all timed", async () => {
    const r = newRegistry({ metrics: { latencySampleEvery: 16 } });
    const probe = await r.load(pluginDir(PROBE));
    const n = 20_000;
    for (let i = 0; i < n; i++) probe.invokeSync("ok");
    const e = await scrape(r);
    expect(value(e, "plughost_plugin_calls_total", { plugin: "probe", event: "ok" })).toBe(n);
    const timed = value(e, "plughost_plugin_call_duration_seconds_count", { plugin: "probe", event: "ok" })!;
    expect(timed).toBeGreaterThanOrEqual(n / 16);
    expect(timed).toBeLessThan(n / 4); // a tight loop is far faster than one call per millisecond

    // Calls that slow down are all timed from the first one timed (within 16 calls) on: the probe sees the rate
    // only through the clock reads of the calls it times.
    for (let i = 0; i < 21; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      probe.invokeSync("len");
    }
    expect(value(await scrape(r), "plughost_plugin_call_duration_seconds_count", { plugin: "probe", event: "len" })).toBeGreaterThanOrEqual(21 - 15);
  });

  for (const [label, metrics] of [["with metrics: false", false], ["by default (no metrics option)", undefined]] as const) {
    it(`${label}, calls are counted per plugin (event=""), without a histogram; the rest is exported`, async () => {
      const r = newRegistry({ metrics });
      const probe = await r.load(pluginDir(PROBE));
      for (let i = 0; i < 5; i++) probe.invokeSync("ok");
      await expect(probe.invoke("trap")).rejects.toMatchObject({ code: "E_TRAP" });
      const e = await scrape(r);
      expect(value(e, "plughost_plugin_calls_total", { plugin: "probe", event: "" })).toBe(6);
      expect(e.types.has("plughost_plugin_call_duration_seconds")).toBe(false);
      expect(value(e, "plughost_plugin_errors_total", { plugin: "probe", code: "E_TRAP" })).toBe(1);
      expect(r.latency("probe")).toEqual({ count: 0, p50Ns: 0, p90Ns: 0, p99Ns: 0 });
    });
  }

  it("one prom-client registry per PluginRegistry, never the global one; state changes show in the gauges", async () => {
    const a = newRegistry();
    const b = newRegistry();
    expect(a.promRegistry).not.toBe(b.promRegistry);
    expect(a.promRegistry).not.toBe(globalPromRegistry);
    expect(a.metricsContentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const probe = await a.load(pluginDir(PROBE));
    probe.invokeSync("ok");
    expect(value(await scrape(b), "plughost_plugin_calls_total", { plugin: "probe", event: "ok" })).toBeUndefined();
    expect(await globalPromRegistry.metrics()).not.toContain("plughost_");

    a.suspend("probe");
    let e = await scrape(a);
    expect(value(e, "plughost_plugin_state", { plugin: "probe", state: "suspended" })).toBe(1);
    expect(value(e, "plughost_plugin_state", { plugin: "probe", state: "active" })).toBe(0);
    a.resume("probe");
    await a.unload("probe");
    e = await scrape(a);
    expect(value(e, "plughost_plugin_state", { plugin: "probe", state: "unloaded" })).toBe(1);
    expect(value(e, "plughost_plugins", { state: "unloaded" })).toBe(1);
    // Counters survive the unload.
    expect(value(e, "plughost_plugin_calls_total", { plugin: "probe", event: "ok" })).toBe(1);
  });

  it("a reload keeps counting in the same series and observes the load time again", async () => {
    const r = newRegistry();
    const probe = await r.load(pluginDir(PROBE));
    probe.invokeSync("ok");
    const again = await r.reload("probe");
    again.invokeSync("ok");
    await again.invoke("ok");
    const e = await scrape(r);
    expect(value(e, "plughost_plugin_calls_total", { plugin: "probe", event: "ok" })).toBe(3);
    expect(value(e, "plughost_plugin_load_duration_seconds_count", { plugin: "probe" })).toBe(2);
  });

  it("an application's own metric registered in promRegistry is in the exposition", async () => {
    const r = newRegistry();
    const { Counter } = await import("prom-client");
    const c = new Counter({ name: "app_requests_total", help: "Requests.", registers: [r.promRegistry] });
    c.inc(3);
    expect(value(await scrape(r), "app_requests_total", {})).toBe(3);
  });
});

describe("plugin-defined metrics through the registry", () => {
  it("a C plugin's own counter, gauge and histogram are in the exposition, and go on across a reload", async () => {
    const r = newRegistry({ grants: { "metrics-probe": ["metrics"] } });
    const plugin = await r.load(pluginDir("test/fixtures/c/metrics-probe"));
    expect(await plugin.invoke("status")).toBe(0); // init's three defines succeeded
    for (let i = 0; i < 3; i++) expect(await plugin.invoke("hit", enc("/items"))).toBe(0);
    expect(plugin.invokeSync("depth", enc("7"))).toBe(0);
    expect(await plugin.invoke("work", enc("0.002"))).toBe(0);
    expect(r.pluginMetrics.list("metrics-probe").map((m) => m.exportedName).sort()).toEqual([
      "plugin_metrics_probe_queue_depth",
      "plugin_metrics_probe_requests_total",
      "plugin_metrics_probe_work_seconds",
    ]);
    let e = await scrape(r);
    expect(e.types.get("plugin_metrics_probe_requests_total")).toBe("counter");
    expect(value(e, "plugin_metrics_probe_requests_total", { plugin: "metrics-probe", route: "/items" })).toBe(3);
    expect(value(e, "plugin_metrics_probe_queue_depth", { plugin: "metrics-probe" })).toBe(7);
    expect(value(e, "plugin_metrics_probe_work_seconds_count", { plugin: "metrics-probe", kind: "fast" })).toBe(1);
    // The host calls are counted as calls of the plugin's events, like any other.
    expect(value(e, "plughost_plugin_calls_total", { plugin: "metrics-probe", event: "hit" })).toBe(3);

    const again = await r.reload("metrics-probe");
    expect(await again.invoke("hit", enc("/items"))).toBe(0);
    e = await scrape(r);
    expect(value(e, "plugin_metrics_probe_requests_total", { plugin: "metrics-probe", route: "/items" })).toBe(4);
  });
});

describe("the exposition for a plugin in a worker", () => {
  it("counts pipelined calls by event, times each, and counts errors by code", async () => {
    const r = newRegistry({ isolation: "worker", metrics: { latencySampleEvery: 1 } });
    const probe = await r.load(pluginDir(PROBE));
    expect(r.info("probe").isolation).toBe("worker");
    expect(await Promise.all(Array.from({ length: 6 }, () => probe.invoke("ok")))).toEqual([42, 42, 42, 42, 42, 42]);
    await expect(probe.invoke("trap")).rejects.toMatchObject({ code: "E_TRAP" });
    const e = await scrape(r);
    expect(value(e, "plughost_plugin_calls_total", { plugin: "probe", event: "ok" })).toBe(6);
    expect(value(e, "plughost_plugin_call_duration_seconds_count", { plugin: "probe", event: "ok" })).toBe(6);
    expect(value(e, "plughost_plugin_errors_total", { plugin: "probe", code: "E_TRAP" })).toBe(1);
  });
});

describe("the exposition on the wasmtime engine", () => {
  it("counts calls by event and errors by code", async () => {
    const r = newRegistry({ engine: "wasmtime", metrics: { latencySampleEvery: 1 } });
    const probe = await r.load(pluginDir(PROBE));
    expect(r.info("probe").engine).toBe("wasmtime");
    for (let i = 0; i < 4; i++) expect(await probe.invoke("ok")).toBe(42);
    for (let i = 0; i < 2; i++) expect(probe.invokeSync("len", enc("ab"))).toBe(2);
    await expect(probe.invoke("trap")).rejects.toMatchObject({ code: "E_TRAP" });

    const e = await scrape(r);
    expect(value(e, "plughost_plugin_calls_total", { plugin: "probe", event: "ok" })).toBe(4);
    expect(value(e, "plughost_plugin_calls_total", { plugin: "probe", event: "len" })).toBe(2);
    expect(value(e, "plughost_plugin_calls_total", { plugin: "probe", event: "trap" })).toBe(1);
    expect(value(e, "plughost_plugin_errors_total", { plugin: "probe", code: "E_TRAP" })).toBe(1);
    expect(value(e, "plughost_plugin_call_duration_seconds_count", { plugin: "probe", event: "ok" })).toBe(4);
    expect(value(e, "plughost_plugin_info", { plugin: "probe", version: "1.0.0", engine: "wasmtime" })).toBe(1);
  });

  it("linear memory, current and peak, follows the guest's growth", async () => {
    const r = newRegistry({ engine: "wasmtime" });
    const probe = await r.load(pluginDir(PROBE));
    const before = value(await scrape(r), "plughost_plugin_memory_bytes", { plugin: "probe" })!;
    expect(before).toBeGreaterThan(0);
    expect(before % 65536).toBe(0);
    expect(await probe.invoke("grow", new Uint8Array([1]))).toBe(0);
    const e = await scrape(r);
    const after = value(e, "plughost_plugin_memory_bytes", { plugin: "probe" })!;
    expect(after).toBeGreaterThanOrEqual(before + 1024 * 1024);
    expect(value(e, "plughost_plugin_memory_peak_bytes", { plugin: "probe" })).toBe(after);
  });
});
