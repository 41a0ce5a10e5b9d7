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
