// Types for guest-sdks/js/testing.mjs: a minimal in-process host for tests.
export interface LoadOptions {
  /** The configuration `get-config` returns (and `init` receives, as JSON). */
  config?: Record<string, unknown>;
  /** Return a register-error case to refuse a `register-callback`. */
  registerError?: (name: string) => "invalid-name" | "limit-reached" | "denied" | undefined;
  /** The count `emit` returns, or a message-error case to fail it. */
  emitResult?: (name: string, data: Uint8Array) => number | string;
  /** Answers `request`: the answer's bytes, or a request-error case to fail it (default: "unknown-target"). */
  answer?: (target: string, name: string, data: Uint8Array, timeoutMs: number) => Uint8Array | string;
  /** Guest path -> host directory, when the component imports wasi:filesystem. */
  preopens?: Record<string, string>;
  /** The plugin's persistent state to start with (key -> value), kept in memory. */
  state?: Record<string, Uint8Array | string>;
  /** Return a state-error case to refuse an operation ("get", "set", "delete", "exists", "list", "increment", "cas"). */
  stateError?: (op: string, key: string | undefined) => "denied" | "invalid-key" | "too-large" | "quota-exceeded" | "not-an-integer" | "unavailable" | undefined;
  /** Context values (key -> value, JSON-encoded for the plugin); a key without one reads as none. */
  context?: Record<string, unknown>;
  /** The keys the plugin may write (as `context:write:<key>`); writing another is `denied`. */
  contextWritable?: string[];
  /** Return a context-error case to refuse a read (`write` false) or a write of `key`. */
  contextError?: (key: string, write: boolean) => "denied" | "unknown-key" | "invalid-value" | "read-only" | undefined;
}
export interface LoadedPlugin {
  guest: unknown;
  /** Unversioned import names the component needs. */
  imports: string[];
  logs: { level: "debug" | "info" | "warn" | "error"; message: string }[];
  registered: string[];
  emitted: { name: string; data: Uint8Array }[];
  sent: { target: string; name: string; data: Uint8Array }[];
  /** Metrics the plugin defined, and their values by `name{labelValues,...}` (a histogram's: its observations). */
  metrics: {
    defined: { kind: "counter" | "gauge" | "histogram"; name: string; help: string; labelNames: string[] }[];
    values: Record<string, number | number[]>;
  };
  /** The plugin's `request`s, in order. */
  requests: { target: string; name: string; data: Uint8Array; timeoutMs: number }[];
  /** What `current-message` answers during the next calls; `undefined` (the default) is none. */
  message:
    | { id: number; parentId?: number; source?: string; target?: string; eventName: string; kind: "event" | "hook" | "request"; metadata?: Record<string, string> }
    | undefined;
  /** The plugin's persistent state (key -> bytes) and context values (key -> JSON text), live: read or seed them. */
  state: Map<string, Uint8Array>;
  context: Map<string, string>;
  /** The optional config-watch and handoff exports; undefined when the plugin does not export them. */
  configWatch: unknown;
  handoff: unknown;
  /**
   * Deliver a new configuration as the host's live update does (`getConfig` returns it from now on): the plugin's
   * on-config-changed status, or 1 without the export (the host would reload the plugin).
   */
  setConfig(config: Record<string, unknown>): number;
  /** The plugin's snapshot; empty without the handoff export. */
  snapshot(): Uint8Array;
  /** Hand `data` to the plugin's restore; 0 without the handoff export. */
  restore(data: Uint8Array | string): number;
  init(apiVersion?: string, config?: string): number;
  teardown(): number;
  /** The optional lifecycle exports (on-suspend, on-resume); undefined when the plugin does not export them. */
  lifecycle: unknown;
  onSuspend: (() => number) | undefined;
  onResume: (() => number) | undefined;
  onEvent(name: string, data?: Uint8Array | string): number;
  onHook(name: string, data?: Uint8Array | string): { ok: Uint8Array; err?: undefined } | { err: number; ok?: undefined };
}
export function loadComponent(wasmPath: string, opts?: LoadOptions): Promise<LoadedPlugin>;
