/**
 * Plugin lifecycle states (seed 003, which includes seed 000's
 * Initialized / Running / Suspended / Error / Terminated) and the legal
 * transitions between them.
 */
import { IllegalStateTransition } from "../contract/errors.js";

/**
 * Where a plugin is in its lifecycle: `unloaded → loading → loaded →
 * initializing → active ⇄ suspended → stopping → stopped → unloading`, and
 * `error` from any state. Only `active` plugins take calls.
 */
export type PluginState =
  | "unloaded"
  | "loading"
  | "loaded"
  | "initializing"
  | "active"
  | "suspended"
  | "stopping"
  | "stopped"
  | "unloading"
  | "error";

/** Every `PluginState`, in lifecycle order. */
export const PLUGIN_STATES: readonly PluginState[] = [
  "unloaded",
  "loading",
  "loaded",
  "initializing",
  "active",
  "suspended",
  "stopping",
  "stopped",
  "unloading",
  "error",
];

/** Seed 000's names for the same states. */
export const SEED_000_STATE: Record<PluginState, "Initialized" | "Running" | "Suspended" | "Error" | "Terminated" | undefined> = {
  unloaded: "Terminated",
  loading: undefined,
  loaded: undefined,
  initializing: undefined,
  active: "Running",
  suspended: "Suspended",
  stopping: undefined,
  stopped: "Terminated",
  unloading: undefined,
  error: "Error",
};

const TRANSITIONS: Record<PluginState, readonly PluginState[]> = {
  unloaded: ["loading"],
  loading: ["loaded"],
  loaded: ["initializing", "unloading"],
  initializing: ["active"],
  active: ["suspended", "stopping"],
  suspended: ["active", "stopping"],
  stopping: ["stopped"],
  // stopped -> initializing: a stopped instance initialised again.
  stopped: ["initializing", "unloading"],
  unloading: ["unloaded"],
  // From error a plugin is restarted after a fault (re-instantiated: error -> loading) or unloaded.
  error: ["loading", "unloading"],
};

/**
 * Whether a plugin may move from `from` to `to`. Never throws; the registry
 * refuses an illegal move with `IllegalStateTransition`.
 *
 * @example
 *   canTransition("active", "suspended"); // true
 *   canTransition("unloaded", "active");  // false
 */
export function canTransition(from: PluginState, to: PluginState): boolean {
  // `error` is reachable from every state: a fault, a failed load or a failed teardown can happen in any of them.
  return to === "error" || TRANSITIONS[from].includes(to);
}

/**
 * Refuses a move that `canTransition` does not allow.
 * @throws {@link IllegalStateTransition} when the move is not allowed.
 */
export function assertTransition(from: PluginState, to: PluginState, plugin: string): void {
  if (!canTransition(from, to)) throw new IllegalStateTransition(from, to, { plugin });
}

/** A small state holder that refuses illegal transitions and reports each change. */
export class Lifecycle {
  #state: PluginState = "unloaded";
  readonly #plugin: string;
  readonly #onChange: (from: PluginState, to: PluginState) => void;

  constructor(plugin: string, onChange: (from: PluginState, to: PluginState) => void = () => {}) {
    this.#plugin = plugin;
    this.#onChange = onChange;
  }

  /** The current state (`unloaded` at first). */
  get state(): PluginState {
    return this.#state;
  }

  /**
   * Move to `next` and report the change.
   * @throws {@link IllegalStateTransition} when the move is not allowed (the state is unchanged).
   */
  to(next: PluginState): void {
    const from = this.#state;
    assertTransition(from, next, this.#plugin);
    this.#state = next;
    this.#onChange(from, next);
  }
}
