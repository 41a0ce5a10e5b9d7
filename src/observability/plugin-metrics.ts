/**
 * Plugin-defined metrics (WIT `define-metric` / `record-metric`, seed 001's
 * `collect_metrics`): counters, gauges and histograms a plugin defines and
 * updates itself, registered into a prom-client `Registry` under the
 * plugin's own name prefix (`plugin_<plugin>_<name>`) with a `plugin` label.
 *
 * Everything a plugin can make the host allocate is bounded: metrics per
 * plugin, label names per metric, label combinations (series) per metric and
 * per plugin, name and value lengths. A refusal is the WIT `metric-error` the
 * guest gets back (and a count in `plughost_plugin_metric_refusals_total`);
 * defining without the `metrics` capability is also a `capability`
 * violation. Nothing a plugin passes can make these functions throw.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { HostCalls, MetricError, MetricKind, MetricOutcome } from "../engines/engine.js";

/** The capability a plugin needs to define metrics. */
export const METRICS_CAPABILITY = "metrics";

/** Bounds on what one plugin may define, and how its metrics are named. Defaults: `DEFAULT_PLUGIN_METRIC_LIMITS`. */
export interface PluginMetricLimits {
  /** Most metrics one plugin may define. */
  maxMetrics: number;
  /** Most label names one metric may have (besides the host's `plugin`). */
  maxLabelNames: number;
  /** Most label combinations (series) one metric may hold. */
  maxSeriesPerMetric: number;
  /** Most series over all of one plugin's metrics. */
  maxSeriesPerPlugin: number;
  /** Longest label value, in UTF-8 bytes. */
  maxLabelValueBytes: number;
  /** Longest help text kept, in characters; longer is truncated. */
  maxHelpChars: number;
  /** Histogram bucket upper bounds (the same for every plugin histogram). */
  buckets: readonly number[];
  /** Prefix of every exported name, before the plugin's name: `plugin_` gives `plugin_<plugin>_<name>`. */
  prefix: string;
}

/** 64 metrics, 8 label names, 200 series a metric, 1,000 a plugin, 128-byte values, buckets from 1 µs to 10 s (as for seconds). */
export const DEFAULT_PLUGIN_METRIC_LIMITS: Readonly<PluginMetricLimits> = Object.freeze({
  maxMetrics: 64,
  maxLabelNames: 8,
  maxSeriesPerMetric: 200,
  maxSeriesPerPlugin: 1000,
  maxLabelValueBytes: 128,
  maxHelpChars: 256,
  buckets: Object.freeze([1e-6, 1e-5, 1e-4, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]),
  prefix: "plugin_",
});

/** A metric or label name: Prometheus' charset without `:` (kept for recording rules), 1-64 bytes, not `__`-prefixed. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Label names the host sets itself (`plugin`) or Prometheus reserves for histograms and summaries. */
const RESERVED_LABELS: ReadonlySet<string> = new Set(["plugin", "le", "quantile"]);

/** What `list` reports of one plugin metric. */
export interface PluginMetricInfo {
  /** The plugin that defined it. */
  plugin: string;
  /** Its id, as `define-metric` returned it. */
  id: number;
  /** The name the plugin gave. */
  name: string;
  /** The exported name (`plugin_<plugin>_<name>`). */
  exportedName: string;
  /** Counter, gauge or histogram. */
  kind: MetricKind;
  /** The plugin's label names (the exported metric has `plugin` first). */
  labelNames: readonly string[];
  /** Label combinations recorded so far. */
  series: number;
}

/** The two host calls of one plugin, as `HostCalls` declares them. */
export type PluginMetricCalls = Required<Pick<HostCalls, "defineMetric" | "recordMetric">>;

/** What `bind` needs to know of the plugin. */
export interface PluginMetricBinding {
  /** The plugin's effective capabilities: without `metrics`, `define-metric` is `denied`. */
  capabilities: readonly string[];
  /**
   * Told of a denied `define-metric`: the capability and the call (`define-metric("x")`), as
   * `HostCallTarget.onDenied` is; the registry records a `capability` violation. The first denial, then one in 1,000.
   */
  onDenied?(capability: string, detail: string): void;
  /** Told of the other refusals, with what was refused and why (for the plugin's logger): each kind's first, then one in 1,000. */
  onRefused?(error: MetricError, detail: string): void;
}

/**
 * One label combination's values, kept here rather than in prom-client: recording is then an addition (a
 * histogram also finds its bucket), where prom-client hashes the labels on every call (measured 200-800 ns).
 * The metric reports them when it is scraped (`exportSeries`).
 */
interface Series {
  /** The exported labels: `plugin`, then the plugin's. */
  labels: Record<string, string>;
  /** A counter's total, a gauge's value, a histogram's sum. */
  value: number;
  /** A histogram's observations per bucket (not cumulative; the last is past every bound), and their count. */
  buckets?: number[];
  count: number;
}

interface Defined {
  info: PluginMetricInfo;
  /** The help text exported. */
  help: string;
  metric: Counter<string> | Gauge<string> | Histogram<string>;
  /** Series key → its values; a metric without labels has the one key "". */
  series: Map<string, Series>;
}

/** What prom-client's Registry reads of a metric when it is scraped (`get` / `getForPromString`). */
interface Exported {
  labels?: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName?: string;
}

/**
 * Make `metric` report `series` when scraped: prom-client's Registry asks a metric for its values through
 * `getForPromString` (text) or `get` (JSON), in the shape its own histogram uses (buckets cumulative, `le` first).
 */
function exportSeries(d: Defined, bounds: readonly number[]): void {
  const { metric, info, series } = d;
  const name = info.exportedName;
  const values = (splay: boolean): Exported[] => {
    const out: Exported[] = [];
    for (const s of series.values()) {
      if (info.kind !== "histogram") {
        out.push({ labels: s.labels, value: s.value });
        continue;
      }
      const shared = (le: Record<string, string | number>): Pick<Exported, "labels" | "sharedLabels"> =>
        splay ? { labels: { ...le, ...s.labels } } : { labels: le, sharedLabels: s.labels };
      let acc = 0;
      bounds.forEach((le, i) => {
        acc += s.buckets![i]!;
        out.push({ ...shared({ le }), value: acc, metricName: `${name}_bucket` });
      });
      out.push({ ...shared({ le: "+Inf" }), value: s.count, metricName: `${name}_bucket` });
      out.push({ ...shared({}), value: s.value, metricName: `${name}_sum` });
      out.push({ ...shared({}), value: s.count, metricName: `${name}_count` });
    }
    return out;
  };
  const report = (splay: boolean) => async () => ({ name, help: d.help, type: info.kind, values: values(splay), aggregator: "sum" });
  // `promRegistry.resetMetrics()` zeroes them, as it does prom-client's own (the label combinations stay known).
  const reset = () => {
    for (const s of series.values()) {
      s.value = 0;
      s.count = 0;
      s.buckets?.fill(0);
    }
  };
  Object.assign(metric, { get: report(true), getForPromString: report(false), reset });
}

interface PluginState {
  byName: Map<string, Defined>;
  byId: Defined[];
  series: number;
}

const utf8 = new TextEncoder();
/** Whether `s` is at most `max` UTF-8 bytes (at most 3 bytes per UTF-16 unit, so short strings need no encoding). */
const fitsBytes = (s: string, max: number): boolean => s.length * 3 <= max || utf8.encode(s).length <= max;

/**
 * The plugin metrics of one host: bind a plugin's host calls with `bind`,
 * read them back with `list` or the prom-client registry, drop them with `remove`.
 */
export class PluginMetricsStore {
  readonly #registry: Registry;
  readonly #limits: PluginMetricLimits;
  readonly #plugins = new Map<string, PluginState>();
  /** Exported name → the plugin that owns it (two plugin names may sanitize alike). */
  readonly #owners = new Map<string, string>();
  readonly #refusals: Counter<"plugin" | "reason">;

  /** Register into `registry` (one per host; never prom-client's global one), bounded by `limits`. */
  constructor(registry: Registry, limits: Partial<PluginMetricLimits> = {}) {
    this.#registry = registry;
    const merged = { ...DEFAULT_PLUGIN_METRIC_LIMITS, ...limits };
    // Ascending and finite, as recording finds a value's bucket by scanning them in order.
    this.#limits = { ...merged, buckets: [...new Set(merged.buckets.filter((b) => Number.isFinite(b)))].sort((a, b) => a - b) };
    const existing = registry.getSingleMetric("plughost_plugin_metric_refusals_total");
    this.#refusals =
      (existing as Counter<"plugin" | "reason"> | undefined) ??
      new Counter({
        name: "plughost_plugin_metric_refusals_total",
        help: "define-metric / record-metric calls the host refused, by plugin and metric-error",
        labelNames: ["plugin", "reason"],
        registers: [registry],
      });
  }

  /** The limits in force. */
  get limits(): Readonly<PluginMetricLimits> {
    return this.#limits;
  }

  /** The exported name of a plugin's metric: the prefix, the plugin's name with other characters as `_`, the metric's name. */
  exportedName(plugin: string, name: string): string {
    return `${this.#limits.prefix}${plugin.replace(/[^A-Za-z0-9_]/g, "_")}_${name}`;
  }

  /**
   * The `define-metric` and `record-metric` host calls of `plugin`. Binding
   * the same plugin again (a restarted or reloaded instance) shares its
   * metrics: the same name gets the same id and keeps its values.
   */
  bind(plugin: string, binding: PluginMetricBinding): PluginMetricCalls {
    const allowed = binding.capabilities.includes(METRICS_CAPABILITY);
    // Each kind of refusal is reported on its first time, then once per 1,000, so a plugin refused in a loop
    // cannot flood the host's log; the refusals counter counts them all.
    const told = new Map<MetricError, number>();
    const refuse = <T>(error: MetricError, detail: string): MetricOutcome<T> => {
      this.#refusals.inc({ plugin, reason: error });
      const n = told.get(error) ?? 0;
      told.set(error, n + 1);
      if (n % 1000 === 0) {
        if (error === "denied") binding.onDenied?.(METRICS_CAPABILITY, detail);
        else binding.onRefused?.(error, n === 0 ? detail : `${detail} (${n + 1} such refusals)`);
      }
      return { ok: false, error };
    };
    return {
      defineMetric: (kind, name, help, labelNames) => {
        if (!allowed) return refuse("denied", `define-metric("${String(name).slice(0, 64)}")`);
        return this.#define(plugin, kind, name, help, labelNames, refuse);
      },
      recordMetric: (id, value, labelValues) => {
        // No violation here: a plugin without the capability was refused (and recorded) at define-metric.
        if (!allowed) {
          this.#refusals.inc({ plugin, reason: "denied" });
          return { ok: false, error: "denied" };
        }
        return this.#record(plugin, id, value, labelValues, refuse);
      },
    };
  }

  #state(plugin: string): PluginState {
    let s = this.#plugins.get(plugin);
    if (!s) this.#plugins.set(plugin, (s = { byName: new Map(), byId: [], series: 0 }));
    return s;
  }

  #define(
    plugin: string,
    kind: MetricKind,
    name: string,
    help: string,
    labelNames: readonly string[],
    refuse: (error: MetricError, detail: string) => MetricOutcome<number>,
  ): MetricOutcome<number> {
    const l = this.#limits;
    const what = `define-metric("${name.slice(0, 64)}")`;
    if (!NAME.test(name) || name.startsWith("__")) return refuse("invalid-name", `${what}: a metric name is 1-64 characters of [A-Za-z0-9_], not starting with a digit or "__"`);
    if (labelNames.length > l.maxLabelNames) return refuse("limit-reached", `${what}: ${labelNames.length} label names, over the limit of ${l.maxLabelNames}`);
    const seen = new Set<string>();
    for (const label of labelNames) {
      if (!NAME.test(label) || label.startsWith("__") || RESERVED_LABELS.has(label) || seen.has(label)) {
        return refuse("invalid-name", `${what}: label name "${label.slice(0, 64)}" is invalid, reserved (plugin, le, quantile) or repeated`);
      }
      seen.add(label);
    }
    const s = this.#state(plugin);
    const known = s.byName.get(name);
    if (known) {
      const same = known.info.kind === kind && known.info.labelNames.length === labelNames.length && known.info.labelNames.every((n, i) => n === labelNames[i]);
      return same ? { ok: true, value: known.info.id } : refuse("conflict", `${what}: "${name}" is already a ${known.info.kind} with labels [${known.info.labelNames.join(", ")}]`);
    }
    if (s.byId.length >= l.maxMetrics) return refuse("limit-reached", `${what}: the plugin already has ${l.maxMetrics} metrics, the limit`);
    const exportedName = this.exportedName(plugin, name);
    const owner = this.#owners.get(exportedName);
    if ((owner !== undefined && owner !== plugin) || (owner === undefined && this.#registry.getSingleMetric(exportedName))) {
      return refuse("conflict", `${what}: the exported name ${exportedName} is taken by ${owner ? `plugin ${owner}` : "another metric of the host"}`);
    }
    const config = {
      name: exportedName,
      help: (help.length > l.maxHelpChars ? `${help.slice(0, l.maxHelpChars)}…` : help) || `${name}, defined by plugin ${plugin}`,
      labelNames: ["plugin", ...labelNames],
      registers: [this.#registry],
    };
    const metric =
      kind === "counter" ? new Counter(config) : kind === "gauge" ? new Gauge(config) : new Histogram({ ...config, buckets: [...l.buckets] });
    const info: PluginMetricInfo = { plugin, id: s.byId.length, name, exportedName, kind, labelNames: [...labelNames], series: 0 };
    const defined: Defined = { info, help: config.help, metric, series: new Map() };
    exportSeries(defined, l.buckets);
    s.byName.set(name, defined);
    s.byId.push(defined);
    this.#owners.set(exportedName, plugin);
    return { ok: true, value: info.id };
  }

  #record(
    plugin: string,
    id: number,
    value: number,
    labelValues: readonly string[],
    refuse: (error: MetricError, detail: string) => MetricOutcome<undefined>,
  ): MetricOutcome<undefined> {
    const s = this.#plugins.get(plugin);
    const d = s?.byId[id];
    if (!s || !d) return refuse("unknown-metric", `record-metric(${id}): the plugin defined no metric with that id`);
    const { info } = d;
    if (!Number.isFinite(value) || (info.kind === "counter" && value < 0)) {
      return refuse("invalid-value", `record-metric("${info.name}", ${value}): ${info.kind === "counter" ? "a counter only adds finite values >= 0" : "the value must be finite"}`);
    }
    let key = "";
    if (labelValues.length !== info.labelNames.length) {
      return refuse("invalid-labels", `record-metric("${info.name}"): ${labelValues.length} label values for ${info.labelNames.length} label names`);
    }
    // One value is its own key; more are length-prefixed, so that no two different value lists share a key.
    if (labelValues.length === 1) key = labelValues[0]!;
    else for (const v of labelValues) key += `${v.length}:${v}`;
    let series = d.series.get(key);
    if (!series) {
      const l = this.#limits;
      for (const v of labelValues) {
        if (!fitsBytes(v, l.maxLabelValueBytes)) return refuse("invalid-labels", `record-metric("${info.name}"): a label value is over ${l.maxLabelValueBytes} bytes`);
      }
      if (d.series.size >= l.maxSeriesPerMetric) return refuse("limit-reached", `record-metric("${info.name}"): the metric has ${l.maxSeriesPerMetric} label combinations, the limit`);
      if (s.series >= l.maxSeriesPerPlugin) return refuse("limit-reached", `record-metric("${info.name}"): the plugin's metrics have ${l.maxSeriesPerPlugin} label combinations, the limit`);
      const labels: Record<string, string> = { plugin };
      info.labelNames.forEach((n, i) => (labels[n] = labelValues[i]!));
      series = { labels, value: 0, count: 0, ...(info.kind === "histogram" ? { buckets: new Array<number>(l.buckets.length + 1).fill(0) } : {}) };
      d.series.set(key, series);
      info.series++;
      s.series++;
    }
    if (info.kind === "counter") series.value += value;
    else if (info.kind === "gauge") series.value = value;
    else {
      const bounds = this.#limits.buckets;
      let i = 0;
      while (i < bounds.length && value > bounds[i]!) i++;
      series.buckets![i]!++;
      series.value += value;
      series.count++;
    }
    return { ok: true, value: undefined };
  }

  /** The metrics a plugin (or every plugin) defined. */
  list(plugin?: string): PluginMetricInfo[] {
    const states = plugin === undefined ? [...this.#plugins.values()] : [this.#plugins.get(plugin)].filter((s): s is PluginState => !!s);
    return states.flatMap((s) => s.byId.map((d) => ({ ...d.info, labelNames: [...d.info.labelNames] })));
  }

  /** Unregister a plugin's metrics and forget them (on unload: a plugin loaded again starts from zero). */
  remove(plugin: string): void {
    const s = this.#plugins.get(plugin);
    if (!s) return;
    for (const d of s.byId) {
      this.#registry.removeSingleMetric(d.info.exportedName);
      this.#owners.delete(d.info.exportedName);
    }
    this.#plugins.delete(plugin);
  }
}

/**
 * `host` with a plugin's metric host calls added: how a registry wires `PluginMetricsStore.bind` into the calls
 * it hands an engine. `intercept` runs each call (its WIT name and the call), as `HostCallTarget.intercept` does,
 * so the call pipeline sees them like the other host calls.
 */
export function withPluginMetrics<H extends HostCalls>(
  host: H,
  calls: PluginMetricCalls,
  intercept?: <T>(hostCall: string, run: () => T) => T,
): H & PluginMetricCalls {
  const wired: PluginMetricCalls = intercept
    ? {
        defineMetric: (kind, name, help, labelNames) => intercept("define-metric", () => calls.defineMetric(kind, name, help, labelNames)),
        recordMetric: (id, value, labelValues) => intercept("record-metric", () => calls.recordMetric(id, value, labelValues)),
      }
    : calls;
  return Object.assign(Object.create(Object.getPrototypeOf(host) as object | null) as H, host, wired);
}
