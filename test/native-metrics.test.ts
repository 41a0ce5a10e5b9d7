// Plugin-defined metrics for native plugins (C ABI .so), trusted (in process) and sandboxed (helper process):
// the C SDK's plughost_metric_define / plughost_metric_record over the host table's metric_define / metric_record,
// the METRIC frames between helper and host, the registry's PluginMetricsStore behind them (the same bounds and
// outcomes as the Wasm engines, test/plugin-metrics.test.ts), the `metrics` capability, an older host's table
// (denied), and a plugin that calls the table itself or writes METRIC frames of its own.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { nativeEngine } from "../src/engines/native/engine.js";
import type { EngineInstance, TrustLevel } from "../src/engines/engine.js";
import { METRIC_ERROR_CODE, type MetricError } from "../src/contract/abi.js";
import { AbiViolation, CapabilityDenied } from "../src/contract/errors.js";
import { PluginMetricsStore, withPluginMetrics } from "../src/observability/plugin-metrics.js";
import { PluginRegistry } from "../src/runtime/registry.js";
import { bytes, fixture, recordingHost, request, root } from "./native-helpers.js";

const refused = (e: MetricError): number => -1 - METRIC_ERROR_CODE[e];

const dirs: string[] = [];
const live: EngineInstance[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((i) => i.dispose().catch(() => {})));
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

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

/** A plugin folder for the native fixture `so` under the name `name`, with `capabilities` (or optional ones). */
function pluginFolder(so: string, name: string, trust: TrustLevel, caps: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "plughost-native-metrics-"));
  dirs.push(dir);
  copyFileSync(fixture(so), path.join(dir, `${so}.so`));
  writeFileSync(
    path.join(dir, "plugin.toml"),
    `name = "${name}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "${so}.so"\ntrust = "${trust}"\n${caps}\n`,
  );
  return dir;
}

function newRegistry(name: string, grants: string[]): PluginRegistry {
  return new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false, trustedNative: [name], grants: { [name]: grants } });
}

describe.each(["trusted", "untrusted"] as const)("native plugin metrics through the registry (%s)", (trust) => {
  const name = "metrics-probe";
  const P = 'plugin="metrics-probe"';
  let registry: PluginRegistry | undefined;
  afterEach(async () => {
    await registry?.close();
    registry = undefined;
  });

  async function load(caps = 'capabilities = ["metrics"]', grants = ["metrics"]): Promise<PluginRegistry> {
    registry = newRegistry(name, grants);
    await registry.load(pluginFolder("metrics_probe", name, trust, caps));
    return registry;
  }
  const call = (event: string, data = "") => registry!.invoke(name, event, bytes(data));

  it("defines a counter, a gauge and a histogram in init; registry.metricsText() has them with the plugin label and the values recorded", async () => {
    const r = await load();
    expect(await call("status")).toBe(0);
    for (const route of ["/a", "/a", "/b", "/a"]) expect(await call("hit", route)).toBe(0);
    expect(await call("depth", "7.5")).toBe(0);
    expect(await call("depth", "3")).toBe(0);
    expect(await call("work", "0.02")).toBe(0);
    expect(await call("work", "2")).toBe(0);

    const text = await r.metricsText();
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
    expect(r.pluginMetrics.list(name).map((m) => m.name)).toEqual(["requests_total", "queue_depth", "work_seconds"]);
  });

  it("invalid names, labels and values reach the plugin as their metric-error codes, as on the Wasm engines", async () => {
    const r = await load();
    expect(await call("define", "counter requests_total route")).toBe(0); // the same definition: the same id
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
    expect(await call("record", "-1 1 /x")).toBe(refused("unknown-metric"));
    expect(await call("record", "0 1")).toBe(refused("invalid-labels"));
    expect(await call("record", "0 1 /x,extra")).toBe(refused("invalid-labels"));
    expect(await call("record", `0 1 ${"v".repeat(129)}`)).toBe(refused("invalid-labels"));
    expect(await call("record", `0 1 ${"v".repeat(2000)}`)).toBe(refused("invalid-labels"));
    expect(await call("record", "0 -1 /x")).toBe(refused("invalid-value"));
    expect(await call("record", "0 nan /x")).toBe(refused("invalid-value"));
    expect(await call("record", "1 inf")).toBe(refused("invalid-value"));
    expect(await call("record", "1 -4.5")).toBe(0);

    const s = samples(await r.metricsText());
    expect(s.get(`plugin_metrics_probe_requests_total{${P},route="/x"}`)).toBe(1);
    expect(s.get(`plugin_metrics_probe_queue_depth{${P}}`)).toBe(-4.5);
    // What is past the read bounds (a 65-byte name, 17 labels, a 2,000-byte value) never reaches the store.
    expect(s.get(`plughost_plugin_metric_refusals_total{${P},reason="invalid-name"}`)).toBe(6);
    expect(s.get(`plughost_plugin_metric_refusals_total{${P},reason="invalid-labels"}`)).toBe(3);
    expect(s.get(`plughost_plugin_metric_refusals_total{${P},reason="limit-reached"}`)).toBe(1);
    expect(r.violations(name)).toEqual([]);
  });

  it("without the grant the load is refused; with metrics optional and not granted, denied and a capability violation", async () => {
    registry = newRegistry(name, []);
    await expect(registry.load(pluginFolder("metrics_probe", name, trust, 'capabilities = ["metrics"]'))).rejects.toBeInstanceOf(CapabilityDenied);
    await registry.close();
    const r = await load('optional-capabilities = ["metrics"]', []);
    expect(await call("status")).toBe(refused("denied"));
    expect(await call("record", "0 1 /x")).toBe(refused("denied"));
    expect(await call("define", "counter later_total")).toBe(refused("denied"));
    expect(r.violations(name).map((v) => [v.kind, v.detail])).toEqual([["capability", 'define-metric("requests_total") denied: needs metrics']]);
    const text = await r.metricsText();
    expect(text).not.toContain("plugin_metrics_probe_");
    expect(samples(text).get(`plughost_plugin_metric_refusals_total{${P},reason="denied"}`)).toBe(5);
  });

  it("a restart keeps the plugin's metrics and ids", async () => {
    const r = await load();
    expect(await call("hit", "/a")).toBe(0);
    await r.restart(name);
    expect(await call("hit", "/a")).toBe(0);
    expect(await call("record", "0 5 /a")).toBe(0);
    expect(samples(await r.metricsText()).get(`plugin_metrics_probe_requests_total{${P},route="/a"}`)).toBe(7);
  });
});

/** The rogue fixture on the engine, with a store of its own behind a recording HostCalls. */
async function rogue(trust: TrustLevel, capabilities = ["metrics"]) {
  const prom = new Registry();
  const store = new PluginMetricsStore(prom);
  const host = withPluginMetrics(recordingHost(), store.bind("metrics_rogue", { capabilities }));
  const inst = await nativeEngine.load(request("metrics_rogue", trust, host, { capabilities }));
  live.push(inst);
  expect(await inst.init("0.1.0", "{}")).toBe(0);
  const ev = (event: string) => inst.onEvent(event, bytes(""));
  const refusals = async () => [...samples(await prom.metrics()).entries()].filter(([k]) => k.startsWith("plughost_plugin_metric_refusals_total"));
  return { inst, ev, prom, store, refusals };
}

describe.each(["trusted", "untrusted"] as const)("native metrics: a plugin holding the host table itself (%s)", (trust) => {
  it("hostile names, kinds, label counts, NULLs, bad UTF-8 and other threads are refused before the store sees them", async () => {
    const { ev, store, prom, refusals } = await rogue(trust);
    expect(await ev("long-name")).toBe(refused("invalid-name"));
    expect(await ev("bad-utf8")).toBe(refused("invalid-name"));
    expect(await ev("bad-kind")).toBe(refused("invalid-name"));
    expect(await ev("many-labels")).toBe(refused("limit-reached"));
    expect(await ev("null-label")).toBe(refused("invalid-name"));
    expect(await ev("long-value")).toBe(refused("invalid-labels"));
    expect(await ev("null-values")).toBe(refused("invalid-labels"));
    expect(await ev("thread")).toBe(refused("denied"));
    expect(store.list("metrics_rogue")).toEqual([]);
    expect(await refusals()).toEqual([]); // none of it reached the store
    expect(await ev("ok")).toBe(0);
    expect(samples(await prom.metrics()).get('plugin_metrics_rogue_rogue_total{plugin="metrics_rogue"}')).toBe(2);
  });
});

describe("native metrics, sandboxed: METRIC frames of the plugin's own", () => {
  it("metrics can be granted to a sandboxed plugin", async () => {
    const { ev } = await rogue("untrusted", ["metrics", "stdio"]);
    expect(await ev("ok")).toBe(0);
    await expect(nativeEngine.load(request("metrics_rogue", "untrusted", recordingHost(), { capabilities: ["metrics", "fs:read:/etc"] }))).rejects.toBeInstanceOf(
      CapabilityDenied,
    );
  });

  it("a forged METRIC frame with an over-long label value is answered invalid-labels without reaching the store; the plugin goes on", async () => {
    const { ev, store, refusals } = await rogue("untrusted");
    expect(await ev("forge-long")).toBe(0);
    expect(await ev("ok")).toBe(0);
    expect(store.list("metrics_rogue").map((m) => m.name)).toEqual(["rogue_total"]);
    expect(await refusals()).toEqual([]);
  });

  it("a forged METRIC frame between calls is answered denied and defines nothing", async () => {
    const { ev, store } = await rogue("untrusted");
    expect(await ev("forge-later")).toBe(0);
    await new Promise((r) => setTimeout(r, 150));
    expect(store.list("metrics_rogue")).toEqual([]);
    expect(await ev("ok")).toBe(0);
  });

  it("a METRIC frame that breaks the layout, or claims more than its bound, is a protocol break: AbiViolation, host fine", async () => {
    for (const [event, message] of [
      ["forge-kind", /malformed METRIC frame \(op 1, 6 bytes\)/],
      ["forge-huge", /frame of 1048576 bytes \(type 79\)/],
    ] as const) {
      const { inst, ev, store } = await rogue("untrusted");
      const err = await ev(event).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AbiViolation);
      expect((err as AbiViolation).message).toMatch(message);
      expect((err as AbiViolation).plugin).toBe("metrics_rogue");
      expect(store.list("metrics_rogue")).toEqual([]);
      await expect(inst.onEvent("ok", bytes(""))).rejects.toBeInstanceOf(AbiViolation);
    }
    const other = await rogue("untrusted");
    expect(await other.ev("ok")).toBe(0);
  });
});

describe("the native host table grows additively (metrics)", () => {
  it("a plugin built with this SDK, bound by a host whose table predates metrics: both calls denied, no member called", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-metrics-old-host-"));
    dirs.push(dir);
    const exe = path.join(dir, "metrics-old-host");
    const include = path.join(root, "guest-sdks", "c", "include");
    execFileSync("gcc", ["-Wall", "-Wextra", "-O1", "-I", include, path.join(root, "test", "fixtures", "native", "old-host", "metrics-old-host.c"), "-o", exe, "-ldl"]);
    const d = refused("denied");
    expect(execFileSync(exe, [fixture("metrics_probe")], { encoding: "utf8" }).trim()).toBe(`define=${d} record=${d} called=0`);
  });
});
