/**
 * Per-plugin counters (`registry.metrics(name)`). They survive unload, so an
 * app can see what a plugin did.
 */
export interface PluginMetrics {
  /** Calls made into the plugin (events and hooks). */
  calls: number;
  /** Calls that ended in an error (non-zero statuses are not errors). */
  errors: number;
  /** Instance faults: traps, fuel, deadlines, crashes. */
  faults: number;
  /** Times the instance was re-created after a fault. */
  restarts: number;
  /** Faults that were crashes (a native helper process died). */
  crashes: number;
  /** Fuel used by the last metered call. */
  lastCallFuel: number;
  /** Fuel used in total. */
  fuelUsed: number;
  /** Log lines accepted by the rate limiter. */
  logs: number;
  /** Log lines dropped by the rate limiter. */
  logsDropped: number;
  /** Messages the plugin emitted or sent. */
  messagesSent: number;
  /** Messages delivered to the plugin. */
  messagesReceived: number;
  /** Time from manifest to active, last load, in milliseconds. */
  loadMs: number;
  /** Time `init` took, last load, in milliseconds. */
  initMs: number;
}

/** Counters at zero, for a plugin not called yet. */
export function emptyMetrics(): PluginMetrics {
  return {
    calls: 0,
    errors: 0,
    faults: 0,
    restarts: 0,
    crashes: 0,
    lastCallFuel: 0,
    fuelUsed: 0,
    logs: 0,
    logsDropped: 0,
    messagesSent: 0,
    messagesReceived: 0,
    loadMs: 0,
    initMs: 0,
  };
}
