/**
 * Per-plugin violation tracking (seed 002): each limit breach and denied
 * capability is recorded; past a threshold the plugin is unloaded according
 * to its unmount behaviour.
 */
import type { ResourceName, ResourceUsage, ViolationKind } from "../engines/engine.js";

/** What happens when a plugin breaks a rule (registry option `unmountBehavior`; default: both true). */
export interface UnmountBehavior {
  /** Unload the plugin automatically once the threshold is reached. */
  autoUnmount: boolean;
  /** Log each violation at warn level. */
  logViolations: boolean;
}

/**
 * The payload of the registry's `violation` event: one plugin broke a rule (a
 * limit, a denied capability, a fault). Past the plugin's threshold it is
 * unloaded and an `unmounted` event follows.
 *
 * @example
 *   registry.on("violation", (v: Violation) => console.warn(v.plugin, v.kind, v.detail, v.count));
 */
export interface Violation {
  /** The plugin that broke the rule. */
  plugin: string;
  /** Which kind of rule it broke. */
  kind: ViolationKind;
  /** What happened, in words (the fault's message, or the call that was denied and the capability it needs). */
  detail: string;
  /** The plugin's violations so far, this one included. */
  count: number;
  /** Kind "resource": which resource limit was reached (`open-files`, `connections`, `fs-write-bytes`). */
  resource?: ResourceName;
  /** Kind "resource": what the plugin would have held or used with the refused operation. */
  used?: number;
  /** Kind "resource": the plugin's limit. */
  limit?: number;
}

/** One violation as the registry keeps it (`registry.violations(name)`: the most recent 32). */
export interface ViolationRecord {
  /** Which kind of rule was broken. */
  kind: ViolationKind;
  /** What happened, in words. */
  detail: string;
  /** When it was recorded, in `Date.now()` milliseconds. */
  at: number;
  /** Kind "resource": the resource, what would have been used and the limit. */
  usage?: ResourceUsage;
}

/** Violations after which a plugin is unmounted when nothing else is configured (seed 002). */
export const DEFAULT_VIOLATION_THRESHOLD = 10;
/** Unmount at the threshold and log each violation. */
export const DEFAULT_UNMOUNT_BEHAVIOR: UnmountBehavior = { autoUnmount: true, logViolations: true };
const KEEP_RECENT = 32;

/** One plugin's violations: the count, the count per kind, the most recent ones. */
export class ViolationTracker {
  #count = 0;
  #byKind = new Map<ViolationKind, number>();
  #recent: ViolationRecord[] = [];
  /** Violations after which `record` says to unmount. */
  threshold: number;
  /** Whether to unmount at the threshold and log each violation. */
  behavior: UnmountBehavior;

  constructor(threshold = DEFAULT_VIOLATION_THRESHOLD, behavior: UnmountBehavior = DEFAULT_UNMOUNT_BEHAVIOR) {
    this.threshold = threshold;
    this.behavior = { ...behavior };
  }

  /** Record one violation; true when the plugin should now be unmounted. */
  record(kind: ViolationKind, detail: string, usage?: ResourceUsage): boolean {
    this.#count++;
    this.#byKind.set(kind, (this.#byKind.get(kind) ?? 0) + 1);
    this.#recent.push(usage ? { kind, detail, at: Date.now(), usage: { ...usage } } : { kind, detail, at: Date.now() });
    if (this.#recent.length > KEEP_RECENT) this.#recent.shift();
    return this.behavior.autoUnmount && this.#count >= this.threshold;
  }

  /** Violations since the plugin was loaded or the count was reset. */
  get count(): number {
    return this.#count;
  }

  /** Violations of one kind. */
  countOf(kind: ViolationKind): number {
    return this.#byKind.get(kind) ?? 0;
  }

  /** The most recent violations, oldest first (at most 32 are kept). */
  get recent(): readonly ViolationRecord[] {
    return this.#recent;
  }

  /** Forget every violation (the threshold and behaviour stay). */
  reset(): void {
    this.#count = 0;
    this.#byKind.clear();
    this.#recent = [];
  }
}
