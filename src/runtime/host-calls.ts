/**
 * The host side of the contract for one plugin: `log` to a pino child logger
 * (rate-limited and truncated), `register-callback` with validation and a cap,
 * `emit`/`send` routed through the registry, and read-only config.
 */
import type { Logger } from "pino";
import type { HostCalls, LogLevel, MessageInfo, MessageOutcome, RegisterOutcome, RequestOutcome } from "../engines/engine.js";
import type { EventPolicy } from "../plugin/capabilities.js";
import { eventNameProblem } from "../contract/event-names.js";
import { DEFAULT_EVENT_POLICY, eventAllowed } from "./policy.js";
import { currentCall } from "./calls.js";
import type { PluginMetrics } from "./metrics.js";
import { contextHostCalls } from "../context/host-calls.js";
import type { ContextStore } from "../context/store.js";

/**
 * Bounds on what one plugin's host calls may do: callbacks, log volume,
 * message sizes, queues and chains (the registry option `hostCalls`).
 * Defaults: `DEFAULT_HOST_CALL_OPTIONS`.
 */
export interface HostCallOptions {
  /** Most callbacks one plugin may register. */
  maxCallbacks: number;
  /** Longest log message kept, in characters; longer ones are truncated. */
  maxLogMessage: number;
  /** Log lines per second a plugin may write (token bucket; burst = one second's worth). */
  logRatePerSecond: number;
  /** Largest emit/send payload, in bytes. */
  maxMessageBytes: number;
  /** Bytes one plugin may have queued (emitted or sent, not yet delivered) at a time; past it `queue-full`. */
  maxPendingBytesPerSender: number;
  /** Bytes queued for one plugin at a time, from all senders; past it `queue-full`. */
  maxPendingBytesPerReceiver: number;
  /** Longest message chain: a message emitted while handling hop n has hop n + 1; past this it is refused (`denied`). */
  maxMessageHops: number;
  /** Most messages that may descend from one message a host call emitted; past it they are refused (`denied`). */
  maxChainMessages: number;
  /** Most plugins one request chain may hold waiting (A asks B asks C …); a longer chain is `too-deep`. */
  maxRequestDepth: number;
  /** A request's timeout when the caller passes 0, in milliseconds. */
  defaultRequestTimeoutMs: number;
  /** The longest timeout a request may ask for, in milliseconds (longer ones are lowered to it). */
  maxRequestTimeoutMs: number;
}

/** The bounds used when the registry is given none: 256 callbacks, 1000 log lines/s, 16 MiB messages, 16 hops. */
export const DEFAULT_HOST_CALL_OPTIONS: HostCallOptions = {
  maxCallbacks: 256,
  maxLogMessage: 4096,
  logRatePerSecond: 1000,
  maxMessageBytes: 16 * 1024 * 1024,
  maxPendingBytesPerSender: 16 * 1024 * 1024,
  maxPendingBytesPerReceiver: 32 * 1024 * 1024,
  maxMessageHops: 16,
  maxChainMessages: 1024,
  maxRequestDepth: 8,
  defaultRequestTimeoutMs: 5000,
  maxRequestTimeoutMs: 60_000,
};

/**
 * What an engine checks before it copies anything out of guest memory for a
 * host call, so the host's work per call is bounded whatever the fuel.
 */
export interface HostCallBounds {
  /** A longer emit/send payload is `too-large` and is not copied. */
  maxMessageBytes: number;
  /** Bytes of a log message read from the guest; the rest is not read (the line is truncated anyway). */
  maxLogBytes: number;
  /**
   * Fuel a host call costs at least (besides 1 unit per 64 bytes copied): 1 in
   * process; a worker's host calls each cross to the host thread and cost more.
   */
  callCost: number;
}

/** Host calls that carry their bounds (those `createHostCalls` makes). */
export interface BoundedHostCalls extends HostCalls {
  readonly bounds: HostCallBounds;
}

const boundsOf = (o: HostCallOptions): HostCallBounds => ({
  maxMessageBytes: o.maxMessageBytes,
  // UTF-8 takes at most 4 bytes per character; the limit is in characters.
  maxLogBytes: o.maxLogMessage * 4,
  callCost: 1,
});

/** The bounds of `host`: its own, or the defaults for host calls made elsewhere. */
export function hostCallBounds(host: HostCalls): HostCallBounds {
  return (host as Partial<BoundedHostCalls>).bounds ?? boundsOf(DEFAULT_HOST_CALL_OPTIONS);
}

/** What the host calls need from the registry, for one plugin. */
export interface HostCallTarget {
  readonly name: string;
  readonly logger: Logger;
  readonly callbacks: Set<string>;
  readonly capabilities: readonly string[];
  /** The host's events policy (policy.ts `eventAllowed`); default "open". */
  readonly events?: EventPolicy;
  readonly metrics: PluginMetrics;
  config(): Record<string, unknown>;
  onRegistered(eventName: string): void;
  emit(eventName: string, data: Uint8Array): MessageOutcome<number>;
  send(target: string, eventName: string, data: Uint8Array): MessageOutcome<undefined>;
  onDenied(capability: string, detail: string): void;
  /**
   * A `request` the host calls checked (name, size, `events:publish`), from a guest on the host's thread: answered
   * now or `would-block`. `data` is lent for the call (engine.ts). Absent: the host calls have no `requestSync`
   * (engines answer `unknown-target`).
   */
  requestSync?(target: string, eventName: string, data: Uint8Array, timeoutMs: number): RequestOutcome;
  /** A checked `request` from a guest whose engine can wait. Absent: no `request`. */
  request?(target: string, eventName: string, data: Uint8Array, timeoutMs: number): Promise<RequestOutcome>;
  /** The envelope of the plugin's current call, or undefined (init, teardown). Absent: no `currentMessage`. */
  currentMessage?(): MessageInfo | undefined;
  /**
   * Runs each host call (its name, e.g. "log", and the call itself): the
   * registry passes its call pipeline here, so interceptors and
   * `currentCall()` see host calls. Absent: the host calls run directly.
   */
  intercept?<T>(hostCall: string, run: () => T): T;
  /**
   * Told each log line kept (after the rate limit and truncation), with the call's id when it has a context, and
   * the host's own lines about the plugin's log (`source` "host": lines dropped): the log store.
   */
  onLog?(level: LogLevel, message: string, callId: number | undefined, source?: "plugin" | "host"): void;
  /** The host's context store (docs/context.md): `context-get` / `context-set` checked against `capabilities`. Absent: `denied`. */
  readonly context?: ContextStore;
}


export function createHostCalls(target: HostCallTarget, options: HostCallOptions = DEFAULT_HOST_CALL_OPTIONS): BoundedHostCalls {
  const { logger, metrics } = target;
  const events = target.events ?? DEFAULT_EVENT_POLICY;
  let tokens = options.logRatePerSecond;
  let refilledAt = performance.now();
  let dropped = 0;
  // get-config's JSON, kept while the config object is the same one (a live update replaces it, never edits it).
  let configJson: string | undefined;
  let configOf: Record<string, unknown> | undefined;

  const take = (): boolean => {
    if (tokens >= 1) {
      tokens--;
      return true;
    }
    const now = performance.now();
    const refill = ((now - refilledAt) / 1000) * options.logRatePerSecond;
    if (refill >= 1) {
      tokens = Math.min(options.logRatePerSecond, tokens + refill) - 1;
      refilledAt = now;
      if (dropped) {
        logger.warn({ dropped }, `log rate limit: dropped ${dropped} messages`);
        target.onLog?.("warn", `log rate limit: dropped ${dropped} messages`, undefined, "host");
        dropped = 0;
      }
      return true;
    }
    return false;
  };

  // The last event name found valid: a plugin emits or asks under the same few names, so the check runs once each.
  let validName = "";
  const badName = (name: string): boolean => {
    if (name === validName) return false;
    if (eventNameProblem(name) !== undefined) return true;
    validName = name;
    return false;
  };

  const calls: BoundedHostCalls = {
    bounds: boundsOf(options),

    log(level: LogLevel, message: string): void {
      if (!take()) {
        dropped++;
        metrics.logsDropped++;
        return;
      }
      metrics.logs++;
      const text = message.length > options.maxLogMessage ? `${message.slice(0, options.maxLogMessage)}…[truncated]` : message;
      // The call in progress, when it has a context (calls.ts): its id ties the line to the call.
      const call = currentCall();
      if (call) logger[level]({ callId: call.callId }, text);
      else logger[level](text);
      target.onLog?.(level, text, call?.callId);
    },

    logsDropped(count: number): void {
      metrics.logsDropped += count;
      logger.warn({ dropped: count }, `${count} log entries dropped (the engine's per-call log buffer was full)`);
      target.onLog?.("warn", `${count} log entries dropped (the engine's per-call log buffer was full)`, currentCall()?.callId, "host");
    },

    registerCallback(eventName: string): RegisterOutcome {
      if (badName(eventName)) return "invalid-name";
      if (target.callbacks.has(eventName)) return "ok";
      if (target.callbacks.size >= options.maxCallbacks) return "limit-reached";
      if (!eventAllowed(target.capabilities, "subscribe", eventName, events)) {
        target.onDenied(`events:subscribe:${eventName}`, `register-callback("${eventName}")`);
        return "denied";
      }
      target.callbacks.add(eventName);
      target.onRegistered(eventName);
      return "ok";
    },

    emit(eventName: string, data: Uint8Array): MessageOutcome<number> {
      if (badName(eventName)) return { ok: false, error: "invalid-name" };
      if (data.length > options.maxMessageBytes) return { ok: false, error: "too-large" };
      if (!eventAllowed(target.capabilities, "publish", eventName, events)) {
        target.onDenied(`events:publish:${eventName}`, `emit("${eventName}")`);
        return { ok: false, error: "denied" };
      }
      return target.emit(eventName, data);
    },

    send(to: string, eventName: string, data: Uint8Array): MessageOutcome<undefined> {
      if (badName(eventName)) return { ok: false, error: "invalid-name" };
      if (data.length > options.maxMessageBytes) return { ok: false, error: "too-large" };
      if (!eventAllowed(target.capabilities, "publish", eventName, events)) {
        target.onDenied(`events:publish:${eventName}`, `send("${to}", "${eventName}")`);
        return { ok: false, error: "denied" };
      }
      return target.send(to, eventName, data);
    },

    getConfig(): string {
      const config = target.config();
      if (config !== configOf || configJson === undefined) {
        configJson = JSON.stringify(config);
        configOf = config;
      }
      return configJson;
    },

    getConfigValue(key: string): string | undefined {
      const config = target.config();
      return Object.prototype.hasOwnProperty.call(config, key) ? JSON.stringify(config[key]) : undefined;
    },
  };
  // A refusal the host calls decide themselves (the same checks as emit/send), or undefined to route the request.
  const refuse = (to: string, eventName: string, data: Uint8Array): RequestOutcome | undefined => {
    if (badName(eventName)) return { ok: false, error: "invalid-name" };
    if (data.length > options.maxMessageBytes) return { ok: false, error: "too-large" };
    if (!eventAllowed(target.capabilities, "publish", eventName, events)) {
      target.onDenied(`events:publish:${eventName}`, `request("${to}", "${eventName}")`);
      return { ok: false, error: "denied" };
    }
    return undefined;
  };
  const requestSync = target.requestSync?.bind(target);
  const request = target.request?.bind(target);
  const currentMessage = target.currentMessage?.bind(target);
  if (requestSync) calls.requestSync = (to, eventName, data, timeoutMs) => refuse(to, eventName, data) ?? requestSync(to, eventName, data, timeoutMs);
  if (request) calls.request = (to, eventName, data, timeoutMs) => {
    const refused = refuse(to, eventName, data);
    return refused ? Promise.resolve(refused) : request(to, eventName, data, timeoutMs);
  };
  if (currentMessage) calls.currentMessage = currentMessage;
  if (target.context) {
    const refused = (detail: string): void => logger.warn(detail);
    Object.assign(calls, contextHostCalls(target.context, { name: target.name, capabilities: target.capabilities, currentMessage, onDenied: target.onDenied.bind(target), onRefused: refused }));
  }

  const x = target.intercept?.bind(target);
  if (!x) return calls;
  return {
    bounds: calls.bounds,
    log: (level, message) => x("log", () => calls.log(level, message)),
    logsDropped: (count) => x("logs-dropped", () => calls.logsDropped!(count)),
    registerCallback: (eventName) => x("register-callback", () => calls.registerCallback(eventName)),
    emit: (eventName, data) => x("emit", () => calls.emit(eventName, data)),
    send: (to, eventName, data) => x("send", () => calls.send(to, eventName, data)),
    getConfig: () => x("get-config", () => calls.getConfig()),
    getConfigValue: (key) => x("get-config-value", () => calls.getConfigValue(key)),
    ...(calls.requestSync ? { requestSync: (to: string, e: string, d: Uint8Array, t: number) => x("request", () => calls.requestSync!(to, e, d, t)) } : {}),
    ...(calls.request ? { request: (to: string, e: string, d: Uint8Array, t: number) => x("request", () => calls.request!(to, e, d, t)) } : {}),
    ...(calls.currentMessage ? { currentMessage: () => x("current-message", () => calls.currentMessage!()) } : {}),
    ...(calls.contextGet ? { contextGet: (key: string) => x("context-get", () => calls.contextGet!(key)) } : {}),
    ...(calls.contextSet ? { contextSet: (key: string, value: string) => x("context-set", () => calls.contextSet!(key, value)) } : {}),
  };
}
