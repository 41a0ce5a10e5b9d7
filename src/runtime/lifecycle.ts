/**
 * Plugin lifecycle states (seed 003, which includes seed 000's
 * Initialized / Running / Suspended / Error / Terminated) and the legal
 * transitions between them.
 */
import { IllegalStateTransition } from "../contract/errors.js";

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

export function canTransition(from: PluginState, to: PluginState): boolean {
  // `error` is reachable from every state: a fault, a failed load or a failed teardown can happen in any of them.
  return to === "error" || TRANSITIONS[from].includes(to);
}

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

  get state(): PluginState {
    return this.#state;
  }

  to(next: PluginState): void {
    const from = this.#state;
    assertTransition(from, next, this.#plugin);
    this.#state = next;
    this.#onChange(from, next);
  }
}
