/**
 * Prometheus metrics of one PluginRegistry, in its own prom-client `Registry`
 * (never prom-client's global one).
 *
 * Most figures are counters the registry keeps anyway (`registry.metrics(name)`)
 * and are read when the exposition is made, so they cost nothing per call. Only
 * two need work on the call path: the calls per event and the call latency. A
 * `PluginProbe` per plugin does that with plain numbers (no prom-client call, no
 * label hashing), and times one call in `latencySampleEvery` (two clock reads
 * cost as much as a whole fast-path call).
 */
import { Counter, Gauge, Histogram, Registry, type Metric } from "prom-client";
import type { ViolationKind } from "../engines/engine.js";
import { PLUGIN_STATES, type PluginState } from "../runtime/lifecycle.js";
import type { PluginMetrics } from "../runtime/metrics.js";

/** Options of the registry's `metrics` option (`new PluginRegistry({ metrics })`). */
export interface MetricsOptions {
  /**
   * Past one call per millisecond, time one call in this many per plugin (1 = every call); calls rarer than
   * that are all timed. Default 16: two clock reads cost 80 ns or more, most of a fast-path call. The calls
   * counters count every call whatever this is.
   */
  latencySampleEvery?: number;
  /** How many of the latest timed calls per plugin `registry.latency(name)` reads. Default 1024. */
  recentLatencies?: number;
}

/** The defaults of `MetricsOptions`. */
export const DEFAULT_METRICS_OPTIONS: Required<MetricsOptions> = { latencySampleEvery: 16, recentLatencies: 1024 };

/** Latency percentiles of a plugin's recent timed calls (`registry.latency(name)`), in nanoseconds. */
export interface LatencySummary {
  /** Timed calls the percentiles are taken from (at most `recentLatencies`). */
  count: number;
  /** Median. */
  p50Ns: number;
  /** 90th percentile. */
  p90Ns: number;
  /** 99th percentile. */
  p99Ns: number;
}

/** Upper bounds of the call-duration buckets, in seconds: 1, 2.5 and 5 per decade from 100 ns to 1 s. */
export const CALL_DURATION_BUCKETS: readonly number[] = (() => {
  const out: number[] = [];
  for (let e = -7; e < 0; e++) for (const m of [1, 2.5, 5]) out.push(Number((m * 10 ** e).toPrecision(2)));
  out.push(1);
  return out;
})();

/** Buckets of the load-time histogram, in seconds (1 ms to 10 s). */
const LOAD_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Calls and timed durations of one event of one plugin. */
class EventStats {
  calls = 0;
  /** Timed calls per bucket (not cumulative); the last slot is +Inf. */
  readonly buckets = new Float64Array(CALL_DURATION_BUCKETS.length + 1);
  timed = 0;
  /** Sum of timed durations, in seconds. */
  sum = 0;
}

/**
 * The per-call side of one plugin's metrics. The registry calls `begin` when a
 * call starts and, when it returned a time, `end` when it finishes. One probe
 * per plugin name: a reloaded plugin keeps counting in the same one.
 */
export class PluginProbe {
  readonly plugin: string;
  readonly events = new Map<string, EventStats>();
  readonly #every: number;
  #skip = 1; // the first call is timed
  #lastEvent = "";
  #last: EventStats | undefined;
  readonly #recent: Float64Array;
  #recentCount = 0;
  #recentAt = 0;
  /** When the last timed call ended (`performance.now()`). */
  #lastEnd = Number.NEGATIVE_INFINITY;

  constructor(plugin: string, every: number, recent: number) {
    this.plugin = plugin;
    this.#every = every;
    this.#recent = new Float64Array(recent);
  }

  #stats(event: string): EventStats {
    let s = this.events.get(event);
    if (s === undefined) this.events.set(event, (s = new EventStats()));
    this.#lastEvent = event;
    this.#last = s;
    return s;
  }

  /** Count a call of `event`; returns its start (`performance.now()`) when this call is timed, else -1. */
  begin(event: string): number {
    // A plugin mostly gets the same event again: compare before the map lookup.
    const s = event === this.#lastEvent && this.#last !== undefined ? this.#last : this.#stats(event);
    s.calls++;
    if (--this.#skip !== 0) return -1;
    this.#skip = this.#every;
    return performance.now();
  }

  /** Record a timed call of `event` that started at `t0` (from `begin`). */
  end(event: string, t0: number): void {
    const now = performance.now();
    const ms = now - t0;
    // Calls rarer than one per millisecond are all timed (their clock reads cost nothing that matters); past that
    // rate, one in `every`. The clock read here decides it: no extra read.
    if (now - this.#lastEnd >= 1) this.#skip = 1;
    this.#lastEnd = now;
    const s = event === this.#lastEvent && this.#last !== undefined ? this.#last : this.#stats(event);
    const seconds = ms / 1000;
    let i = 0;
    const bounds = CALL_DURATION_BUCKETS;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    s.buckets[i]!++;
    s.timed++;
    s.sum += seconds;
    this.#recent[this.#recentAt] = ms * 1e6;
    this.#recentAt = (this.#recentAt + 1) % this.#recent.length;
    if (this.#recentCount < this.#recent.length) this.#recentCount++;
  }

  /** Percentiles of the recent timed calls. */
  latency(): LatencySummary {
    const n = this.#recentCount;
    if (n === 0) return { count: 0, p50Ns: 0, p90Ns: 0, p99Ns: 0 };
    const xs = this.#recent.slice(0, n).sort();
    const at = (q: number) => xs[Math.min(n - 1, Math.ceil(q * n) - 1)]!;
    return { count: n, p50Ns: at(0.5), p90Ns: at(0.9), p99Ns: at(0.99) };
  }
}

/** What the metrics read from the registry when the exposition is made: one entry per tracked plugin. */
export interface PluginSnapshot {
  name: string;
  version: string;
  engine: string;
  state: PluginState;
  counters: Readonly<PluginMetrics>;
  /** Linear memory in bytes now, when the engine can tell (undefined otherwise, or when not instantiated). */
  memoryBytes: number | undefined;
  /** Bytes of messages queued by the plugin and for it, not delivered yet. */
  queuedBytesOut: number;
  queuedBytesIn: number;
  /** Violations since load or the last reset, and the unload threshold. */
  violations: number;
  violationThreshold: number;
}

/** The registry's side of the metrics: its plugins, read at scrape time. */
export interface MetricsSource {
  snapshots(): PluginSnapshot[];
}

const STATES = PLUGIN_STATES;

/**
 * The metrics of one PluginRegistry: a prom-client `Registry` whose metrics
 * are filled from the registry's counters and the plugins' probes when it is
 * read. Made by the registry; reach it as `registry.promRegistry`.
 */
export class RegistryMetrics {
  /** The prom-client registry: `metricsText()` reads it; applications may register their own metrics in it. */
  readonly registry = new Registry();
  readonly #source: MetricsSource;
  readonly #options: Required<MetricsOptions>;
  /** Per plugin name; undefined when per-call metrics are off. */
  readonly #probes: Map<string, PluginProbe> | undefined;
  readonly #errors = new Map<string, Map<string, number>>();
  readonly #violations = new Map<string, Map<ViolationKind, number>>();
  readonly #peakMemory = new Map<string, number>();
  /** Set while `text()` builds an exposition (concurrent `text()` calls each take a fresh snapshot). */
  #exposition: { list: PluginSnapshot[] | undefined } | undefined;
  readonly #loadSeconds: Histogram<"plugin">;

  constructor(source: MetricsSource, perCall: boolean, options: MetricsOptions = {}) {
    this.#source = source;
    const every = Math.max(1, Math.floor(options.latencySampleEvery ?? DEFAULT_METRICS_OPTIONS.latencySampleEvery));
    this.#options = { latencySampleEvery: every, recentLatencies: Math.max(1, Math.floor(options.recentLatencies ?? DEFAULT_METRICS_OPTIONS.recentLatencies)) };
    this.#probes = perCall ? new Map() : undefined;
    this.#define();
    this.#loadSeconds = new Histogram({
      name: "plughost_plugin_load_duration_seconds",
      help: "Time from manifest to active (load and reload), per plugin.",
      labelNames: ["plugin"],
      buckets: LOAD_BUCKETS,
      registers: [this.registry],
    });
  }

  /** True when calls are counted per event and timed (the registry option `metrics`). */
  get perCall(): boolean {
    return this.#probes !== undefined;
  }

  /** The probe of `plugin` (made on first use), or undefined when per-call metrics are off. */
  probe(plugin: string): PluginProbe | undefined {
    const probes = this.#probes;
    if (!probes) return undefined;
    let p = probes.get(plugin);
    if (!p) probes.set(plugin, (p = new PluginProbe(plugin, this.#options.latencySampleEvery, this.#options.recentLatencies)));
    return p;
  }

  /** Count a failed call by its error code. */
  error(plugin: string, code: string): void {
    bump(this.#errors, plugin, code);
  }

  /** Count a violation by kind (the registry's `violation` event). */
  violation(plugin: string, kind: ViolationKind): void {
    bump(this.#violations, plugin, kind);
  }

  /** Record a load or reload that took `ms`. */
  loaded(plugin: string, ms: number): void {
    this.#loadSeconds.observe({ plugin }, ms / 1000);
  }

  /** Recent latency percentiles of `plugin` (zeros when nothing was timed or per-call metrics are off). */
  latency(plugin: string): LatencySummary {
    return this.#probes?.get(plugin)?.latency() ?? { count: 0, p50Ns: 0, p90Ns: 0, p99Ns: 0 };
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    // Every collect of this exposition reads one snapshot of the plugins, taken now.
    this.#exposition = { list: undefined };
    try {
      return await this.registry.metrics();
    } finally {
      this.#exposition = undefined;
    }
  }

  /** The exposition's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  #define(): void {
    const registers = [this.registry];
    const snapshots = (): PluginSnapshot[] => {
      const list = this.#source.snapshots();
      for (const s of list) {
        if (s.memoryBytes !== undefined && s.memoryBytes > (this.#peakMemory.get(s.name) ?? 0)) this.#peakMemory.set(s.name, s.memoryBytes);
      }
      return list;
    };
    // One snapshot per `text()`: its collects share it. A direct `registry.metrics()` call takes one per metric.
    const current = (): PluginSnapshot[] => {
      const exposition = this.#exposition;
      if (!exposition) return snapshots();
      return (exposition.list ??= snapshots());
    };
    const probes = this.#probes;

    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (c: Counter<L>) => void) =>
      new Counter<L>({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          fill(this);
        },
      });
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (g: Gauge<L>) => void) =>
      new Gauge<L>({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          fill(this);
        },
      });
    /** Each plugin's counter field as one counter. */
    const perPlugin = (name: string, help: string, field: keyof PluginMetrics) =>
      counter(name, help, ["plugin"], (c) => {
        for (const s of current()) c.inc({ plugin: s.name }, s.counters[field]);
      });

    counter("plughost_plugin_calls_total", "Calls into the plugin (events, hooks, dispatch steps, message deliveries), per event; event=\"\" sums them when per-call metrics are off.", ["plugin", "event"], (c) => {
      for (const s of current()) {
        const p = probes?.get(s.name);
        if (!probes) c.inc({ plugin: s.name, event: "" }, s.counters.calls);
        else if (p) for (const [event, st] of p.events) c.inc({ plugin: s.name, event }, st.calls);
      }
    });
    counter("plughost_plugin_errors_total", "Calls that failed, by error code (a non-zero status is not an error).", ["plugin", "code"], (c) => {
      for (const [plugin, codes] of this.#errors) for (const [code, n] of codes) c.inc({ plugin, code }, n);
    });
    perPlugin("plughost_plugin_faults_total", "Instance faults: traps, fuel, deadlines, memory, crashes.", "faults");
    perPlugin("plughost_plugin_restarts_total", "Times the instance was re-created after a fault.", "restarts");
    perPlugin("plughost_plugin_crashes_total", "Faults that were crashes (a native helper process died).", "crashes");
    counter("plughost_plugin_fuel_used_total", "Fuel used by every metered call (plughost fuel units, about one per Wasm instruction).", ["plugin"], (c) => {
      for (const s of current()) c.inc({ plugin: s.name }, s.counters.fuelUsed);
    });
    gauge("plughost_plugin_last_call_fuel", "Fuel used by the plugin's last metered call.", ["plugin"], (g) => {
      for (const s of current()) g.set({ plugin: s.name }, s.counters.lastCallFuel);
    });
    perPlugin("plughost_plugin_logs_total", "Log lines the plugin wrote that were kept (passed the rate limit).", "logs");
    perPlugin("plughost_plugin_logs_dropped_total", "Log lines dropped by the rate limit or the engine's per-call buffer.", "logsDropped");
    perPlugin("plughost_plugin_messages_sent_total", "Messages the plugin emitted or sent (one per receiver).", "messagesSent");
    perPlugin("plughost_plugin_messages_received_total", "Messages delivered to the plugin.", "messagesReceived");
    gauge("plughost_plugin_queued_bytes", "Bytes of messages not delivered yet: sent by the plugin (direction=out) or for it (direction=in).", ["plugin", "direction"], (g) => {
      for (const s of current()) {
        g.set({ plugin: s.name, direction: "out" }, s.queuedBytesOut);
        g.set({ plugin: s.name, direction: "in" }, s.queuedBytesIn);
      }
    });
    counter("plughost_plugin_violations_total", "Violations by kind (fuel, memory, deadline, capability, trap, crash); they survive resetViolations.", ["plugin", "kind"], (c) => {
      for (const [plugin, kinds] of this.#violations) for (const [kind, n] of kinds) c.inc({ plugin, kind }, n);
    });
    gauge("plughost_plugin_violations", "Violations since load or the last reset, counted against the unload threshold.", ["plugin"], (g) => {
      for (const s of current()) g.set({ plugin: s.name }, s.violations);
    });
    gauge("plughost_plugin_violation_threshold", "Violations at which the plugin is unloaded.", ["plugin"], (g) => {
      for (const s of current()) g.set({ plugin: s.name }, s.violationThreshold);
    });
    gauge("plughost_plugin_memory_bytes", "Linear memory of the plugin's instance, in bytes (absent when the engine cannot tell).", ["plugin"], (g) => {
      for (const s of current()) if (s.memoryBytes !== undefined) g.set({ plugin: s.name }, s.memoryBytes);
    });
    gauge("plughost_plugin_memory_peak_bytes", "Largest linear memory seen for the plugin, in bytes, over its instances (Wasm memory never shrinks, so an instance's peak is its last size).", ["plugin"], (g) => {
      current();
      for (const [plugin, n] of this.#peakMemory) g.set({ plugin }, n);
    });
    gauge("plughost_plugin_state", "The plugin's lifecycle state: 1 for the state it is in, 0 for the others.", ["plugin", "state"], (g) => {
      for (const s of current()) for (const st of STATES) g.set({ plugin: s.name, state: st }, st === s.state ? 1 : 0);
    });
    gauge("plughost_plugin_info", "Always 1; the plugin's version and engine as labels.", ["plugin", "version", "engine"], (g) => {
      for (const s of current()) g.set({ plugin: s.name, version: s.version, engine: s.engine }, 1);
    });
    gauge("plughost_plugins", "Tracked plugins, by lifecycle state.", ["state"], (g) => {
      const list = current();
      for (const st of STATES) g.set({ state: st }, list.filter((s) => s.state === st).length);
    });
    gauge("plughost_plugin_load_seconds", "Time from manifest to active of the plugin's last load, in seconds.", ["plugin"], (g) => {
      for (const s of current()) if (s.counters.loadMs > 0) g.set({ plugin: s.name }, s.counters.loadMs / 1000);
    });
    if (probes) this.registry.registerMetric(callDuration(probes));
  }
}

function bump<K>(map: Map<string, Map<K, number>>, plugin: string, key: K): void {
  let m = map.get(plugin);
  if (!m) map.set(plugin, (m = new Map()));
  m.set(key, (m.get(key) ?? 0) + 1);
}

const DURATION_NAME = "plughost_plugin_call_duration_seconds";

/** One sample line of the exposition, as prom-client's registry formats it. */
interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * The call-duration histogram, built from the probes' bucket counts when it is
 * read. prom-client's registry asks a metric only for its name and its values
 * (`getForPromString`, `get` for JSON): this answers from the probes, which
 * count without label hashing. A `Histogram` would hash labels per observation.
 */
function callDuration(probes: Map<string, PluginProbe>): Metric<string> {
  const read = async () => {
    const values: Sample[] = [];
    for (const [plugin, probe] of probes) {
      for (const [event, s] of probe.events) {
        if (s.timed === 0) continue;
        let cumulative = 0;
        for (let i = 0; i < CALL_DURATION_BUCKETS.length; i++) {
          cumulative += s.buckets[i]!;
          values.push({ metricName: `${DURATION_NAME}_bucket`, labels: { plugin, event, le: CALL_DURATION_BUCKETS[i]! }, value: cumulative });
        }
        values.push({ metricName: `${DURATION_NAME}_bucket`, labels: { plugin, event, le: "+Inf" }, value: s.timed });
        values.push({ metricName: `${DURATION_NAME}_sum`, labels: { plugin, event }, value: s.sum });
        values.push({ metricName: `${DURATION_NAME}_count`, labels: { plugin, event }, value: s.timed });
      }
    }
    return { name: DURATION_NAME, help: DURATION_HELP, type: "histogram", values, aggregator: "sum" };
  };
  const metric = { name: DURATION_NAME, help: DURATION_HELP, type: "histogram", aggregator: "sum", get: read, getForPromString: read, reset() {} };
  // The registry accepts any object of that shape; its declared type lists prom-client's own classes only.
  return metric as unknown as Metric<string>;
}

const DURATION_HELP = "Duration of timed calls into the plugin, per event, in seconds: every call below one per millisecond, one in latencySampleEvery above.";
