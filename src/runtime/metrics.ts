/** Per-plugin counters. They survive unload, so an app can see what a plugin did. */
export interface PluginMetrics {
  /** Calls made into the plugin (events and hooks). */
  calls: number;
  /** Calls that ended in an error (non-zero statuses are not errors). */
  errors: number;
  /** Instance faults: traps, fuel, deadlines, crashes. */
  faults: number;
  restarts: number;
  crashes: number;
  /** Fuel used by the last metered call, and in total. */
  lastCallFuel: number;
  fuelUsed: number;
  /** Log lines accepted and dropped by the rate limiter. */
  logs: number;
  logsDropped: number;
  messagesSent: number;
  messagesReceived: number;
  /** Time from manifest to active, last load. */
  loadMs: number;
  initMs: number;
}

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
