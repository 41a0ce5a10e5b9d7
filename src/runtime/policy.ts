/**
 * The host's policy, computed in one place for the registry and for
 * `plughost.config.*` alike: which capabilities a plugin is granted, its
 * limits, whether a native plugin may run in the host process, the events
 * policy, recovery after a fault, and where a v8 plugin must run so that its
 * deadline holds. The defaults are the table in docs/fuel-and-memory.md
 * ("Default limits").
 */
import type { EngineName, Isolation, Limits, TrustLevel } from "../engines/engine.js";
import { PlughostError } from "../contract/errors.js";
import { normalizeCapability, type EventPolicy } from "../plugin/capabilities.js";

// ── limits ─────────────────────────────────────────────────────────────────

/**
 * What every plugin gets when nothing is configured, so no plugin runs
 * unbounded by accident. `defaultLimits` changes a field; a manifest may lower
 * a field, and raise it only up to `maxLimits` (without one, the default is the
 * ceiling); `defaultLimits: "unlimited"` opts out of all of them.
 */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  fuel: 1_000_000_000,
  memoryBytes: 256 * 1024 * 1024,
  tableElements: 1_000_000,
  deadlineMs: 10_000,
  initDeadlineMs: 10_000,
  unloadGraceMs: 2_000,
  // Persistent state (docs/state.md): finite, so a plugin cannot fill the host's disk by accident.
  stateBytes: 10 * 1024 * 1024,
  stateKeys: 10_000,
  // WASI resources (docs/capabilities.md "Resource limits"): host fds, sockets and disk a plugin can take.
  openFiles: 256,
  connections: 64,
  fsWriteBytes: 1024 * 1024 * 1024,
});

/** Every field of `Limits`, in one order for loops over them. */
export const LIMIT_KEYS = ["fuel", "fuelLifetime", "memoryBytes", "deadlineMs", "tableElements", "initDeadlineMs", "unloadGraceMs", "stateBytes", "stateKeys", "openFiles", "connections", "fsWriteBytes"] as const;

/** The host's side of a plugin's limits: its defaults and its ceilings (registry options of the same names). */
export interface LimitPolicy {
  /** Field by field over `DEFAULT_LIMITS`; `"unlimited"` drops the built-in defaults. */
  defaultLimits?: Limits | "unlimited" | undefined;
  /** Caps on what a manifest may request; a field left out caps at the default. */
  maxLimits?: Limits | undefined;
}

/**
 * A plugin's limits. Per field: the manifest's request, else the default
 * (`defaultLimits` over `DEFAULT_LIMITS`, none under "unlimited"); capped by
 * `maxLimits`, else by the default (a manifest can lower a limit, never raise
 * it past what the host allowed). A `maxLimits` field also applies when
 * neither the default nor the manifest gives one, so nothing runs unmetered
 * past a maximum the host set. `onClamp` reports each lowered request.
 * Never throws.
 *
 * @example
 *   effectiveLimits({ fuel: 5e9 }, { maxLimits: { fuel: 1e9 } }).fuel; // 1e9 (lowered to the ceiling)
 */
export function effectiveLimits(
  manifestLimits: Limits,
  policy: LimitPolicy = {},
  onClamp?: (field: keyof Limits, requested: number, max: number) => void,
): Limits {
  const configured = policy.defaultLimits;
  const defaults: Limits = configured === "unlimited" ? {} : { ...DEFAULT_LIMITS };
  if (configured !== undefined && configured !== "unlimited") {
    for (const key of LIMIT_KEYS) if (configured[key] !== undefined) defaults[key] = configured[key];
  }
  const out: Limits = {};
  for (const key of LIMIT_KEYS) {
    const requested = manifestLimits[key];
    const max = policy.maxLimits?.[key];
    const cap = max ?? defaults[key];
    let value = requested ?? defaults[key] ?? max;
    if (value !== undefined && cap !== undefined && value > cap) {
      if (requested !== undefined) onClamp?.(key, value, cap);
      value = cap;
    }
    if (value !== undefined) out[key] = value;
  }
  return out;
}

// ── grants ─────────────────────────────────────────────────────────────────

/** Capabilities the host grants: to every plugin, or per plugin name (`"*"` applies to all). */
export type Grants = readonly string[] | Readonly<Record<string, readonly string[]>>;

/**
 * The capabilities granted to `plugin`: the list, or its entry plus the "*"
 * entry, normalized (relative fs dirs against `baseDir`, default the working
 * directory).
 */
export function grantsFor(grants: Grants | undefined, plugin: string, baseDir: string = process.cwd()): string[] {
  if (!grants) return [];
  const list = isList(grants) ? grants : [...(grants["*"] ?? []), ...(grants[plugin] ?? [])];
  return [...new Set(list.map((c) => normalizeCapability(c, { baseDir, plugin })))];
}

function isList(g: Grants): g is readonly string[] {
  return Array.isArray(g);
}

// ── trust ──────────────────────────────────────────────────────────────────

/** Native plugins the host lets run inside its own process: names, or a predicate on the name. */
export type TrustedNative = readonly string[] | ((name: string) => boolean);

/** A native plugin asked for `trust = "trusted"` and the host did not approve it (`trustedNative`). Code `E_TRUST_NOT_APPROVED`. */
export class TrustNotApproved extends PlughostError {
  constructor(plugin: string) {
    super(
      "E_TRUST_NOT_APPROVED",
      `asks for trust = "trusted" (to run its library inside the host process), which the host has not approved; ` +
        `approve it with the registry option trustedNative: [${JSON.stringify(plugin)}] or the host config key ` +
        `"trustedNative": [${JSON.stringify(plugin)}] in plughost.config.json, or remove trust = "trusted" to run it in the sandbox`,
      { plugin },
    );
  }
}

/**
 * The trust a native plugin runs with. The manifest only asks; the host
 * decides (`trustedNative`, empty by default). An unapproved request is
 * refused rather than silently sandboxed, so the author learns why.
 * @throws {@link TrustNotApproved} when trust was asked for and not approved.
 */
export function nativeTrust(plugin: string, requested: TrustLevel | undefined, trustedNative: TrustedNative | undefined): TrustLevel {
  if (requested !== "trusted") return "untrusted";
  const approved = typeof trustedNative === "function" ? trustedNative(plugin) === true : (trustedNative ?? []).includes(plugin);
  if (!approved) throw new TrustNotApproved(plugin);
  return "trusted";
}

// ── events ─────────────────────────────────────────────────────────────────

/** Events are open unless the host says "strict" (docs/capabilities.md). */
export const DEFAULT_EVENT_POLICY: EventPolicy = "open";

/**
 * The events policy option, checked.
 * @throws {@link PolicyInvalid} for anything but "open" or "strict".
 */
export function eventPolicy(value: unknown = DEFAULT_EVENT_POLICY): EventPolicy {
  if (value === "open" || value === "strict") return value;
  throw new PolicyInvalid("events", `is ${JSON.stringify(value)}; use "open" (the default) or "strict"`);
}

// The events rule lives with the capabilities it reads; the policy re-exports it.
export { eventAllowed } from "../plugin/capabilities.js";

// ── recovery ───────────────────────────────────────────────────────────────

/** The values of `RecoveryPolicy.strategy`. */
export const RECOVERY_STRATEGIES = ["restart", "disable", "ignore", "fallback", "retry"] as const;
/** What the registry does after an instance fault (see `RecoveryPolicy.strategy`). */
export type RecoveryStrategy = (typeof RECOVERY_STRATEGIES)[number];
/** The values of `RecoveryPolicy.backoff`. */
export const RECOVERY_BACKOFFS = ["linear", "exponential"] as const;

/**
 * What happens after an instance fault (trap, fuel, deadline, crash): the
 * registry option `recovery` and the host config's `policy.recovery`, over
 * `DEFAULT_RECOVERY` (restart up to 3 times, exponential backoff from 100 ms).
 */
export interface RecoveryPolicy {
  /**
   * After a fault: re-instantiate (restart), stop the plugin (disable), re-instantiate without counting (ignore),
   * restart while a named plugin takes its events and hooks (fallback), or restart and re-issue the failed call
   * once on the fresh instance when it is idempotent (retry). docs/lifecycle.md.
   */
  strategy: RecoveryStrategy;
  /** Restarts allowed before the plugin is disabled. */
  maxRetries: number;
  /** How the delay grows between consecutive restarts. */
  backoff: (typeof RECOVERY_BACKOFFS)[number];
  /** Delay before the first restart, in ms; later ones grow by the backoff. */
  baseDelayMs: number;
  /** How often a failed init (non-zero status or fault) is tried again, after the backoff, before a load fails (default 0). */
  initRetries?: number;
  /** strategy "fallback": the plugin that takes the failed one's events and hooks until it recovers. */
  fallback?: string;
  /** strategy "retry": the events whose calls are re-issued once after a fault (true: every event). */
  idempotent?: boolean | readonly string[];
}

/** One set of defaults, for the registry and the host config (schema/host-config.schema.json repeats them). */
export const DEFAULT_RECOVERY: Readonly<RecoveryPolicy> = Object.freeze({ strategy: "restart", maxRetries: 3, backoff: "exponential", baseDelayMs: 100 });

/** A host option that holds a value plughost does not know (a typo would otherwise fall back silently). Code `E_POLICY_INVALID`. */
export class PolicyInvalid extends PlughostError {
  /** The option, e.g. `recovery.strategy`. */
  readonly option: string;
  constructor(option: string, message: string) {
    super("E_POLICY_INVALID", `${option} ${message}`);
    this.option = option;
  }
}

/**
 * `partial` over `DEFAULT_RECOVERY`, checked.
 * @throws {@link PolicyInvalid} for an unknown strategy or backoff, or a retry count or delay that is not a whole number ≥ 0.
 * @example
 *   recoveryPolicy({ strategy: "disable" }); // { strategy: "disable", maxRetries: 3, backoff: "exponential", baseDelayMs: 100 }
 */
export function recoveryPolicy(partial: Partial<RecoveryPolicy> = {}): RecoveryPolicy {
  const p: RecoveryPolicy = { ...DEFAULT_RECOVERY, ...definedOnly(partial) };
  if (!(RECOVERY_STRATEGIES as readonly string[]).includes(p.strategy)) {
    throw new PolicyInvalid("recovery.strategy", `is ${JSON.stringify(p.strategy)}; use one of ${RECOVERY_STRATEGIES.map((s) => `"${s}"`).join(", ")}`);
  }
  if (!(RECOVERY_BACKOFFS as readonly string[]).includes(p.backoff)) {
    throw new PolicyInvalid("recovery.backoff", `is ${JSON.stringify(p.backoff)}; use "linear" or "exponential"`);
  }
  for (const key of ["maxRetries", "baseDelayMs"] as const) {
    if (!Number.isSafeInteger(p[key]) || p[key] < 0) throw new PolicyInvalid(`recovery.${key}`, `is ${String(p[key])}; use a whole number of at least 0`);
  }
  if (p.initRetries !== undefined && (!Number.isSafeInteger(p.initRetries) || p.initRetries < 0)) {
    throw new PolicyInvalid("recovery.initRetries", `is ${String(p.initRetries)}; use a whole number of at least 0`);
  }
  if (p.strategy === "fallback" && p.fallback === undefined) {
    throw new PolicyInvalid("recovery.fallback", 'is missing; strategy "fallback" needs the name of the plugin that stands in');
  }
  return p;
}

/**
 * A plugin's recovery policy: the host's (`recoveryPolicy`), field by field overridden by the manifest's
 * `[recovery]` table. The manifest was validated when parsed; this checks the combination.
 * @throws {@link PolicyInvalid} as `recoveryPolicy`, e.g. strategy "fallback" without a fallback.
 */
export function pluginRecovery(host: RecoveryPolicy, manifest: Partial<RecoveryPolicy> | undefined): RecoveryPolicy {
  if (manifest === undefined) return host;
  const merged = { ...host, ...definedOnly(manifest) };
  // The host's fallback or idempotent list belong to the host's strategy, not to a strategy the manifest chose.
  if (manifest.strategy !== undefined && manifest.strategy !== host.strategy) {
    if (manifest.fallback === undefined) delete merged.fallback;
    if (manifest.idempotent === undefined) delete merged.idempotent;
  }
  return recoveryPolicy(merged);
}

/** The backoff delay before attempt `n + 1` (n = 0 for the first retry), in ms. */
export function backoffDelay(policy: Pick<RecoveryPolicy, "backoff" | "baseDelayMs">, n: number): number {
  return policy.backoff === "linear" ? policy.baseDelayMs * (n + 1) : policy.baseDelayMs * 2 ** n;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ── where a v8 plugin runs ─────────────────────────────────────────────────

/** A plugin asked for a deadline where it would run in the host's thread, which no deadline can interrupt. Code `E_DEADLINE_UNENFORCEABLE`. */
export class DeadlineUnenforceable extends PlughostError {
  /** The deadline asked for, in milliseconds. */
  readonly deadlineMs: number;
  constructor(plugin: string, deadlineMs: number, why: string, where: string, remedy: string) {
    super("E_DEADLINE_UNENFORCEABLE", `asks for a ${deadlineMs} ms deadline (${why}), but runs ${where}, where a call cannot be interrupted; ${remedy}`, { plugin });
    this.deadlineMs = deadlineMs;
  }
}

/** Why a deadline counts as asked for: the manifest's own, or the host's `requireDeadlines`. */
function deadlineAsked(manifestDeadlineMs: number | undefined, requireDeadlines: boolean | undefined): string | undefined {
  if (manifestDeadlineMs !== undefined) return "the manifest's deadline-ms";
  return requireDeadlines ? "the host's requireDeadlines" : undefined;
}

/**
 * A trusted native plugin runs in the host's thread: a deadline asked for
 * explicitly cannot hold there, so the load is refused instead of ignoring it.
 * @throws {@link DeadlineUnenforceable} for a trusted plugin with a deadline asked for.
 */
export function checkNativeDeadline(plugin: string, trust: TrustLevel, manifestDeadlineMs: number | undefined, requireDeadlines: boolean | undefined, deadlineMs: number | undefined): void {
  const why = deadlineAsked(manifestDeadlineMs, requireDeadlines);
  if (trust !== "trusted" || why === undefined || deadlineMs === undefined) return;
  throw new DeadlineUnenforceable(plugin, deadlineMs, why, "in the host process (trust = \"trusted\")", 'remove trust = "trusted" so it runs in the sandbox, where deadlines hold, or drop the deadline');
}

/** What `isolationFor` decides from: the manifest's and the host's wishes and the deadline. */
export interface IsolationInput {
  plugin: string;
  /** The manifest's `isolation`, if it names one. */
  manifestIsolation: Isolation | undefined;
  /** The manifest's `deadline-ms`, if it asks for one. */
  manifestDeadlineMs: number | undefined;
  /** The host's `isolation` option, if set. */
  hostIsolation: Isolation | undefined;
  /** The host's `requireDeadlines` option. */
  requireDeadlines: boolean | undefined;
  /** The deadline the plugin will run with (after defaults and caps). */
  deadlineMs: number | undefined;
}

/**
 * Where a v8 component runs. In process, a call cannot be interrupted: there,
 * fuel bounds each call, and the deadline (the built-in default or a host
 * default) is not enforced. A deadline that was asked for explicitly (the
 * manifest's `deadline-ms`, or the host's `requireDeadlines`) is honoured by
 * running the plugin in a worker; when in-process was also asked for
 * explicitly the load is refused.
 * @throws {@link DeadlineUnenforceable} when a deadline was asked for and in-process was too.
 */
export function v8Isolation(i: IsolationInput): Isolation {
  const chosen = i.manifestIsolation ?? i.hostIsolation ?? "in-process";
  if (chosen === "worker" || i.deadlineMs === undefined) return chosen;
  const why = deadlineAsked(i.manifestDeadlineMs, i.requireDeadlines);
  if (why === undefined) return chosen;
  if (i.manifestIsolation === "in-process" || i.hostIsolation === "in-process") {
    throw new DeadlineUnenforceable(
      i.plugin,
      i.deadlineMs,
      why,
      "in-process on the v8 engine",
      'remove isolation = "in-process" (or the host\'s isolation: "in-process") so it runs in a worker, use engine = "wasmtime", or drop the deadline (fuel then bounds each call)',
    );
  }
  return "worker";
}

/**
 * Where a plugin runs, decided here once per load and handed to the engine
 * (`LoadRequest.isolation`), which acts on it: v8 by the rules above; wasmtime
 * as asked (its calls run off the JS thread either way); a native plugin has
 * no isolation mode (trust decides where it runs).
 * @throws {@link DeadlineUnenforceable} as `v8Isolation` does.
 */
export function isolationFor(engine: EngineName, i: IsolationInput): Isolation | undefined {
  if (engine === "v8") return v8Isolation(i);
  if (engine === "wasmtime") return i.manifestIsolation ?? i.hostIsolation ?? "in-process";
  return undefined;
}
