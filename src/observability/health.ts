/**
 * Plugin health (seed 003's `health`): `healthy | warning | critical` from the
 * plugin's error rate, recent faults and restarts, and violations against its
 * threshold. The rule is in docs/observability.md ("Health"); the thresholds
 * are `HealthOptions`.
 *
 * Everything is fed by the registry's events and by counters it keeps anyway:
 * nothing is added to a call. The calls in the window come from snapshots of
 * the calls counter taken when something happens (a fault, a violation, a
 * load) and whenever health is read.
 */
import type { PluginState } from "../runtime/lifecycle.js";

/** How healthy a plugin is. */
export type HealthStatus = "healthy" | "warning" | "critical";

/** A plugin's health and why (`registry.health(name)`); `reasons` is empty when healthy. */
export interface PluginHealth {
  /** The worst level any rule reached. */
  status: HealthStatus;
  /** One line per rule that was met, e.g. "2 faults in the last 60 s". */
  reasons: string[];
}

/** Thresholds of the health rule (registry option `health`), over `DEFAULT_HEALTH_OPTIONS`. */
export interface HealthOptions {
  /** The recent window, in milliseconds: faults, restarts, violations and the error rate are counted within it. */
  windowMs?: number;
  /** Error rate (failed calls ÷ calls in the window) for warning. */
  errorRateWarning?: number;
  /** Error rate for critical. */
  errorRateCritical?: number;
  /** Calls in the window below which the error rate is not judged (a single failed call is not a rate). */
  minCalls?: number;
  /** Faults in the window for warning. */
  faultsWarning?: number;
  /** Faults in the window for critical. */
  faultsCritical?: number;
  /** Restarts in the window for warning. */
  restartsWarning?: number;
  /** Restarts in the window for critical. */
  restartsCritical?: number;
  /** Violations (since load or reset) as a fraction of the unload threshold, for warning. */
  violationsWarning?: number;
  /** The same fraction for critical. */
  violationsCritical?: number;
}

/** The default thresholds: a 60 s window; 5 % / 50 % errors over at least 10 calls; 1 / 3 faults or restarts; 50 % / 80 % of the violation threshold. */
export const DEFAULT_HEALTH_OPTIONS: Required<HealthOptions> = {
  windowMs: 60_000,
  errorRateWarning: 0.05,
  errorRateCritical: 0.5,
  minCalls: 10,
  faultsWarning: 1,
  faultsCritical: 3,
  restartsWarning: 1,
  restartsCritical: 3,
  violationsWarning: 0.5,
  violationsCritical: 0.8,
};

/** What the rule reads of one plugin now. */
export interface HealthInput {
  name: string;
  state: PluginState;
  calls: number;
  errors: number;
  violations: number;
  violationThreshold: number;
}

/** Most timestamps kept per plugin and kind: past it, the window's count is at least this (enough for any threshold). */
const KEEP = 256;

class PluginSignals {
  faults: number[] = [];
  restarts: number[] = [];
  violations: number[] = [];
  /** Calls and errors counters at moments in the past, oldest first. */
  snapshots: { at: number; calls: number; errors: number }[] = [];
  /** Set when the plugin was unloaded for reaching its violation threshold, until it is loaded again. */
  unmounted: number | undefined;
}

/** The health rule and the signals it needs. Made by the registry (`registry.health()`). */
export class HealthTracker {
  readonly options: Required<HealthOptions>;
  readonly #plugins = new Map<string, PluginSignals>();
  readonly #now: () => number;

  constructor(options: HealthOptions = {}, now: () => number = Date.now) {
    this.options = { ...DEFAULT_HEALTH_OPTIONS, ...options };
    this.#now = now;
  }

  #of(plugin: string): PluginSignals {
    let s = this.#plugins.get(plugin);
    if (!s) this.#plugins.set(plugin, (s = new PluginSignals()));
    return s;
  }

  /** An instance fault (registry event `fault`). */
  fault(plugin: string): void {
    push(this.#of(plugin).faults, this.#now());
  }

  /** A restart after a fault (registry event `restarted`). */
  restart(plugin: string): void {
    push(this.#of(plugin).restarts, this.#now());
  }

  /** A violation (registry event `violation`). */
  violation(plugin: string): void {
    push(this.#of(plugin).violations, this.#now());
  }

  /** The plugin was unloaded at its violation threshold (registry event `unmounted`). */
  unmounted(plugin: string): void {
    this.#of(plugin).unmounted = this.#now();
  }

  /** The plugin became active (a load or reload): an earlier unmount no longer counts. */
  active(plugin: string): void {
    this.#of(plugin).unmounted = undefined;
  }

  /** Note the counters now: the error rate of a later reading is taken against the latest note older than the window. */
  note(input: Pick<HealthInput, "name" | "calls" | "errors">): void {
    const s = this.#of(input.name);
    const at = this.#now();
    const last = s.snapshots[s.snapshots.length - 1];
    // One per tenth of the window is enough to find a baseline near its start.
    if (last && at - last.at < this.options.windowMs / 10) {
      if (last.calls === input.calls && last.errors === input.errors) return;
      if (s.snapshots.length > 1) s.snapshots.pop();
    }
    s.snapshots.push({ at, calls: input.calls, errors: input.errors });
    // Keep one note older than the window (the baseline) and those after it.
    const start = at - this.options.windowMs;
    while (s.snapshots.length > 2 && s.snapshots[1]!.at <= start) s.snapshots.shift();
  }

  /** The rule, for one plugin. */
  evaluate(input: HealthInput): PluginHealth {
    const o = this.options;
    const now = this.#now();
    const start = now - o.windowMs;
    const s = this.#of(input.name);
    const windowS = o.windowMs >= 1000 ? `${Math.round(o.windowMs / 1000)} s` : `${o.windowMs} ms`;
    const critical: string[] = [];
    const warning: string[] = [];

    if (input.state === "error") critical.push("disabled after faults (state error): reload or unload it");
    if (input.state === "unloaded" && s.unmounted !== undefined) critical.push("unloaded at its violation threshold");

    // The baseline: the latest note at or before the window's start, else the oldest (a window not yet full).
    let base = s.snapshots[0];
    for (const n of s.snapshots) if (n.at <= start) base = n;
    const calls = input.calls - (base?.calls ?? 0);
    const errors = input.errors - (base?.errors ?? 0);
    if (calls >= o.minCalls && calls > 0) {
      const rate = errors / calls;
      const text = `error rate ${(rate * 100).toFixed(1)} % (${errors} of ${calls} calls)`;
      if (rate >= o.errorRateCritical) critical.push(text);
      else if (rate >= o.errorRateWarning) warning.push(text);
    }
    judge(count(s.faults, start), o.faultsWarning, o.faultsCritical, (n) => `${n} fault${n === 1 ? "" : "s"} in the last ${windowS}`, warning, critical);
    judge(count(s.restarts, start), o.restartsWarning, o.restartsCritical, (n) => `${n} restart${n === 1 ? "" : "s"} in the last ${windowS}`, warning, critical);

    const threshold = input.violationThreshold;
    const v = input.violations;
    const vText = `${v} of ${threshold} violations before unload`;
    if (threshold > 0 && v >= o.violationsCritical * threshold) critical.push(vText);
    else if (threshold > 0 && v > 0 && v >= o.violationsWarning * threshold) warning.push(vText);
    else {
      const recent = count(s.violations, start);
      if (recent > 0 && v > 0) warning.push(`${recent} violation${recent === 1 ? "" : "s"} in the last ${windowS}`);
    }

    this.note(input);
    if (critical.length) return { status: "critical", reasons: [...critical, ...warning] };
    if (warning.length) return { status: "warning", reasons: warning };
    return { status: "healthy", reasons: [] };
  }
}

function push(times: number[], t: number): void {
  times.push(t);
  if (times.length > KEEP) times.shift();
}

function count(times: readonly number[], start: number): number {
  let n = 0;
  for (let i = times.length - 1; i >= 0 && times[i]! > start; i--) n++;
  return n;
}

function judge(n: number, warn: number, crit: number, text: (n: number) => string, warning: string[], critical: string[]): void {
  if (n >= crit) critical.push(text(n));
  else if (n >= warn && n > 0) warning.push(text(n));
}
