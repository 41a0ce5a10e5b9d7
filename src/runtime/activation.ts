/**
 * Lazy activation, as VS Code's activation events (docs/lifecycle.md): a plugin whose manifest declares
 * `activation = ["on-event:<name>", …]` is discovered and validated at start-up, and compiled and initialised
 * only when one of its events first fires. This module keeps the index of plugins waiting for their event and
 * makes each activation happen once, however many callers ask for it at the same time.
 */

/** What an activation reports (the registry's `activated` event). */
export interface ActivationRecord {
  /** The plugin activated. */
  plugin: string;
  /** What woke it: an event name, or `invoke:<event>` / `send` / `request` for a call addressed to it. */
  trigger: string;
  /** How long compiling and initialising took, in ms. */
  ms: number;
}

/** The plugins waiting for their activation events, and the activations in progress. */
export class LazyPlugins {
  readonly #byEvent = new Map<string, Set<string>>();
  readonly #events = new Map<string, readonly string[]>();
  readonly #inProgress = new Map<string, Promise<void>>();

  /** How many plugins wait: 0 makes every check a field read. */
  get size(): number {
    return this.#events.size;
  }

  /** Track `plugin` as waiting for any of `events`. */
  add(plugin: string, events: readonly string[]): void {
    this.remove(plugin);
    this.#events.set(plugin, events);
    for (const e of events) {
      let set = this.#byEvent.get(e);
      if (!set) this.#byEvent.set(e, (set = new Set()));
      set.add(plugin);
    }
  }

  /** Stop tracking `plugin` (activated, loaded explicitly, or forgotten). */
  remove(plugin: string): void {
    const events = this.#events.get(plugin);
    if (!events) return;
    this.#events.delete(plugin);
    for (const e of events) {
      const set = this.#byEvent.get(e);
      set?.delete(plugin);
      if (set?.size === 0) this.#byEvent.delete(e);
    }
  }

  /** Whether `plugin` waits for activation. */
  waiting(plugin: string): boolean {
    return this.#events.has(plugin);
  }

  /** Whether some plugin waits for `event`. */
  has(event: string): boolean {
    return this.#byEvent.has(event);
  }

  /** The plugins waiting for `event`, by name. */
  for(event: string): string[] {
    return [...(this.#byEvent.get(event) ?? [])].sort();
  }

  /**
   * Activate `plugin` once: concurrent callers share one `load`. It stops waiting whether the load succeeds or
   * fails (a failed activation is not retried by the next event; `loadByName` tries again).
   */
  activate(plugin: string, load: () => Promise<void>): Promise<void> {
    const running = this.#inProgress.get(plugin);
    if (running) return running;
    const run = load().finally(() => {
      this.#inProgress.delete(plugin);
      this.remove(plugin);
    });
    this.#inProgress.set(plugin, run);
    return run;
  }

  /** The activation of `plugin` in progress, if any. */
  inProgress(plugin: string): Promise<void> | undefined {
    return this.#inProgress.get(plugin);
  }
}
