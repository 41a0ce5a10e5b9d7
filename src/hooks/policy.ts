/**
 * Hook policies (docs/hooks.md): what a manifest's `[[hooks]]` entry or an
 * `addHook` call asks for (`timeout-ms`, `retries`, `async`, `on-error`), and
 * the host's clamps over them (host config `hooks`, registry option `hooks`).
 *
 * A hook that declares none of these takes the registry's fast path; the
 * chain runner (chain.ts) asks for the effective policy only for the others.
 */
import { PolicyInvalid } from "../runtime/policy.js";
import { DEFAULT_HOOK_PRIORITY, HOOK_PRIORITIES, type HookDeclaration, type Manifest } from "../plugin/manifest.js";

/** What happens when a hook fails (a fault, a timeout, not running): the chain stops with the error (`"fail"`) or goes on without it (`"skip"`). */
export type HookOnError = "fail" | "skip";

/** The values `on-error` accepts. */
export const HOOK_ON_ERROR: readonly HookOnError[] = ["fail", "skip"];

/** A named priority: seed 003's `HookPriority` (case-insensitive). */
export type HookPriorityName = "CRITICAL" | "HIGH" | "NORMAL" | "LOW" | "CLEANUP" | "critical" | "high" | "normal" | "low" | "cleanup";

/**
 * The host's clamps on hook policies: the registry option `hooks` and the
 * host config's `hooks` section. Every field is optional.
 */
export interface HookClamps {
  /** The longest `timeout-ms` a manifest may set; a longer one is cut to it (default 60000). */
  maxTimeoutMs?: number;
  /** The most `retries` a manifest may set; more are cut to it (default 3). */
  maxRetries?: number;
  /**
   * `on-error` of a hook that does not say (default `"fail"`: a failing hook stops the chain with its error,
   * fail-closed). `"skip"` makes chains fail-open: a failing hook is reported in the chain's `errors` and the next
   * hooks still run.
   */
  defaultOnError?: HookOnError;
  /**
   * Events whose hooks may not fail open: for them `on-error` is `"fail"` whatever a manifest or the default says,
   * and `addHook(event, fn, { onError: "skip" })` is refused. `"*"` names every event.
   */
  forbidFailOpen?: readonly string[];
}

/** The hook clamps' defaults. */
export const DEFAULT_HOOK_CLAMPS: Readonly<Required<Omit<HookClamps, "forbidFailOpen">>> = Object.freeze({
  maxTimeoutMs: 60_000,
  maxRetries: 3,
  defaultOnError: "fail",
});

/** The clamps as `resolveHookClamps` checked them, every field filled (what `effectiveHookPolicy` applies). */
export interface ResolvedClamps {
  /** See `HookClamps.maxTimeoutMs`. */
  readonly maxTimeoutMs: number;
  /** See `HookClamps.maxRetries`. */
  readonly maxRetries: number;
  /** See `HookClamps.defaultOnError`. */
  readonly defaultOnError: HookOnError;
  /** `forbidFailOpen` names `"*"`. */
  readonly forbidAll: boolean;
  /** The events of `forbidFailOpen`. */
  readonly forbid: ReadonlySet<string>;
}

/** A hook's policy once the host's clamps are applied. */
export interface HookPolicy {
  /** Milliseconds one call may take; undefined: no timeout of its own (the plugin's `deadlineMs` still applies). */
  timeoutMs: number | undefined;
  /** Calls again after an instance fault, on the replaced instance. */
  retries: number;
  /** An observer: runs after the chain, without blocking it. */
  async: boolean;
  /** What a failure does to the chain. */
  onError: HookOnError;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

function wholeNumber(option: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new PolicyInvalid(option, `is ${JSON.stringify(v)}; use a whole number from ${min} to ${max}`);
  }
  return v;
}

/**
 * The `hooks` option, checked, over `DEFAULT_HOOK_CLAMPS`.
 * @throws {@link PolicyInvalid} for a bound that is not a whole number in range, an unknown `defaultOnError`, or
 *   `forbidFailOpen` that is not a list of strings.
 */
export function resolveHookClamps(c: HookClamps = {}): ResolvedClamps {
  const maxTimeoutMs = c.maxTimeoutMs === undefined ? DEFAULT_HOOK_CLAMPS.maxTimeoutMs : wholeNumber("hooks.maxTimeoutMs", c.maxTimeoutMs, 1, MAX_TIMER_MS);
  const maxRetries = c.maxRetries === undefined ? DEFAULT_HOOK_CLAMPS.maxRetries : wholeNumber("hooks.maxRetries", c.maxRetries, 0, 100);
  const defaultOnError = c.defaultOnError ?? DEFAULT_HOOK_CLAMPS.defaultOnError;
  if (!HOOK_ON_ERROR.includes(defaultOnError)) {
    throw new PolicyInvalid("hooks.defaultOnError", `is ${JSON.stringify(defaultOnError)}; use "fail" or "skip"`);
  }
  const list = c.forbidFailOpen ?? [];
  if (!Array.isArray(list) || list.some((e) => typeof e !== "string")) {
    throw new PolicyInvalid("hooks.forbidFailOpen", `is ${JSON.stringify(list)}; use a list of event names ("*" for all)`);
  }
  return { maxTimeoutMs, maxRetries, defaultOnError, forbidAll: list.includes("*"), forbid: new Set(list) };
}

/** Whether the host forbids fail-open for `event`'s hooks. */
export function failOpenForbidden(clamps: ResolvedClamps, event: string): boolean {
  return clamps.forbidAll || clamps.forbid.has(event);
}

/** `on-error` for a hook of `event` that asks for `asked` (undefined: the host's default), after the clamps. */
export function onErrorFor(clamps: ResolvedClamps, event: string, asked: HookOnError | undefined): HookOnError {
  if (failOpenForbidden(clamps, event)) return "fail";
  return asked ?? clamps.defaultOnError;
}

/**
 * A manifest hook's effective policy: its declaration (undefined: none) clamped by the host. A timeout above
 * `maxTimeoutMs` is cut to it, retries above `maxRetries` likewise, and `"skip"` becomes `"fail"` on an event
 * whose fail-open the host forbids.
 */
export function effectiveHookPolicy(clamps: ResolvedClamps, event: string, declared: HookDeclaration | undefined): HookPolicy {
  const t = declared?.timeoutMs;
  return {
    timeoutMs: t === undefined ? undefined : Math.min(t, clamps.maxTimeoutMs),
    retries: Math.min(declared?.retries ?? 0, clamps.maxRetries),
    async: declared?.async === true,
    onError: onErrorFor(clamps, event, declared?.onError),
  };
}

/**
 * @internal The manifest's hook entries that declare a policy, by event; undefined when none does (the chain's
 * fast path then never looks further).
 */
export function declaredHookPolicies(manifest: Pick<Manifest, "hooks">): ReadonlyMap<string, HookDeclaration> | undefined {
  let out: Map<string, HookDeclaration> | undefined;
  for (const h of manifest.hooks) {
    if (h.timeoutMs === undefined && h.retries === undefined && h.async !== true && h.onError === undefined) continue;
    (out ??= new Map()).set(h.event, h);
  }
  return out;
}

/**
 * A priority as `addHook` takes it: a finite number or a named level (case-insensitive).
 * @throws {@link PolicyInvalid} for anything else.
 */
export function hookPriorityOf(p: number | string | undefined, option = "priority"): number {
  if (p === undefined) return DEFAULT_HOOK_PRIORITY;
  if (typeof p === "number" && Number.isFinite(p)) return p;
  if (typeof p === "string") {
    const named = HOOK_PRIORITIES[p.toUpperCase()];
    if (named !== undefined) return named;
  }
  throw new PolicyInvalid(option, `is ${JSON.stringify(p)}; use a number or one of ${Object.keys(HOOK_PRIORITIES).join(", ")}`);
}
