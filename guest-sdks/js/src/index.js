// plughost guest SDK for JavaScript/TypeScript plugins (runs inside the
// component, on componentize-js / StarlingMonkey). Authors import it as
// "@plughost/guest"; guest-sdks/js/build.mjs stages this file next to the
// plugin's sources and points that specifier at it.
import * as host from "plughost:plugin/host@0.1.0";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** WIT case order of `register-error`, so `index + 1` matches the C SDK's codes. */
export const REGISTER_ERRORS = ["invalid-name", "limit-reached", "denied"];
/** WIT case order of `message-error`. */
export const MESSAGE_ERRORS = ["invalid-name", "unknown-target", "denied", "queue-full", "too-large"];

/** Status returned for an event or hook the plugin does not handle. */
export const UNHANDLED = -100;

export function bytes(data) {
  return typeof data === "string" ? encoder.encode(data) : data;
}
export function text(data) {
  return decoder.decode(data);
}

export function log(level, message) {
  host.log(level, String(message));
}
export const debug = (message) => host.log("debug", String(message));
export const info = (message) => host.log("info", String(message));
export const warn = (message) => host.log("warn", String(message));
export const error = (message) => host.log("error", String(message));

// componentize-js throws for a `result` import's `err`; hand it back as a value.
function payloadOf(e) {
  if (e !== null && typeof e === "object" && "payload" in e) return e.payload;
  throw e;
}

export function registerCallback(eventName) {
  try {
    host.registerCallback(eventName);
    return { ok: undefined };
  } catch (e) {
    return { err: payloadOf(e) };
  }
}

export function emit(eventName, data) {
  try {
    return { ok: host.emit(eventName, bytes(data)) };
  } catch (e) {
    return { err: payloadOf(e) };
  }
}

/** WIT metric-kind and metric-error cases, in order. */
export const METRIC_KINDS = ["counter", "gauge", "histogram"];
export const METRIC_ERRORS = ["denied", "invalid-name", "invalid-labels", "invalid-value", "limit-reached", "conflict", "unknown-metric"];

export function defineMetric(kind, name, help = "", labelNames = []) {
  try {
    return { ok: host.defineMetric(kind, name, help, labelNames.map(String)) };
  } catch (e) {
    return { err: payloadOf(e) };
  }
}

export function recordMetric(id, value, labelValues = []) {
  try {
    host.recordMetric(id, Number(value), labelValues.map(String));
    return { ok: undefined };
  } catch (e) {
    return { err: payloadOf(e) };
  }
}

export function send(target, eventName, data) {
  try {
    host.send(target, eventName, bytes(data));
    return { ok: undefined };
  } catch (e) {
    return { err: payloadOf(e) };
  }
}

/** WIT request-error cases, in order (`RequestError#code` is one of them). */
export const REQUEST_ERRORS = [
  "invalid-name", "unknown-target", "not-handled", "denied", "too-large", "cycle", "too-deep", "timeout", "rejected", "failed", "would-block",
];
/** WIT message-kind cases, in order. */
export const MESSAGE_KINDS = ["event", "hook", "request"];

/** Why a `request` failed: `code` is the WIT request-error case. */
export class RequestError extends Error {
  constructor(code, target, eventName) {
    super(`request to ${target} (${eventName}) failed: ${code}`);
    this.name = "RequestError";
    this.code = code;
    this.target = target;
    this.eventName = eventName;
  }
}

export function request(target, eventName, data = new Uint8Array(), options = {}) {
  const timeoutMs = options.timeoutMs ?? 0;
  try {
    return host.request(target, eventName, bytes(data), timeoutMs >>> 0);
  } catch (e) {
    throw new RequestError(payloadOf(e), target, eventName);
  }
}

export function currentMessage() {
  const m = host.currentMessage();
  if (m === undefined || m === null) return undefined;
  // u64 ids arrive as BigInts; the host numbers messages far below 2^53.
  const out = { id: Number(m.id), eventName: m.eventName, kind: m.kind, metadata: {} };
  if (m.parentId !== undefined && m.parentId !== null) out.parentId = Number(m.parentId);
  if (m.source !== undefined && m.source !== null) out.source = m.source;
  if (m.target !== undefined && m.target !== null) out.target = m.target;
  for (const [k, v] of m.metadata) if (!Object.hasOwn(out.metadata, k)) out.metadata[k] = v;
  return out;
}

/** WIT state-error cases, in order (`StateError#code` is one of them). */
export const STATE_ERRORS = ["denied", "invalid-key", "too-large", "quota-exceeded", "not-an-integer", "unavailable"];
/** WIT context-error cases, in order (`ContextError#code` is one of them). */
export const CONTEXT_ERRORS = ["denied", "unknown-key", "invalid-value", "read-only"];

/** A stored integer as the host reads it (`0` or an optionally negative decimal without leading zeros), or undefined. */
function parseStoredInteger(text) {
  if (!/^(?:0|-?[1-9][0-9]{0,18})$/.test(text)) return undefined;
  const n = BigInt(text);
  return n === BigInt.asIntN(64, n) ? n : undefined;
}

/** Why a state operation failed: `code` is the WIT state-error case. Nothing was written. */
export class StateError extends Error {
  constructor(code, operation, key) {
    super(`state ${operation}${key === undefined ? "" : ` ${JSON.stringify(key)}`} failed: ${code}`);
    this.name = "StateError";
    this.code = code;
    this.operation = operation;
    this.key = key;
  }
}

function stateCall(operation, key, f) {
  try {
    return f();
  } catch (e) {
    throw new StateError(payloadOf(e), operation, key);
  }
}

/**
 * The plugin's own persistent key-value store (capability `state`): kept across traps, restarts, reloads and
 * host restarts; a write is durable when the call that made it returns. Every method throws a `StateError`.
 */
export const state = {
  get(key) {
    const v = stateCall("get", key, () => host.stateGet(key));
    return v === undefined || v === null ? undefined : new Uint8Array(v);
  },
  getText(key) {
    const v = state.get(key);
    return v === undefined ? undefined : decoder.decode(v);
  },
  set(key, value) {
    stateCall("set", key, () => host.stateSet(key, bytes(value)));
  },
  delete(key) {
    return stateCall("delete", key, () => host.stateDelete(key));
  },
  exists(key) {
    return stateCall("exists", key, () => host.stateExists(key));
  },
  listKeys(options = {}) {
    const page = stateCall("list-keys", options.cursor, () => host.stateListKeys(options.cursor ?? undefined, (options.limit ?? 0) >>> 0));
    return page.cursor === undefined || page.cursor === null ? { keys: page.keys } : { keys: page.keys, cursor: page.cursor };
  },
  keys() {
    const out = [];
    let cursor;
    do {
      const page = state.listKeys({ cursor });
      out.push(...page.keys);
      cursor = page.cursor;
    } while (cursor !== undefined);
    return out;
  },
  increment(key, delta = 1) {
    return Number(state.incrementBig(key, delta));
  },
  incrementBig(key, delta = 1n) {
    const d = BigInt(delta);
    if (d >= 0n) return stateCall("increment", key, () => host.stateIncrement(key, d));
    // componentize-js 0.23 traps lowering a negative s64 argument (the host is never reached), so a negative delta
    // is a compare-and-swap loop: as atomic, with the host's rules for the stored text (canonical decimal i64).
    for (;;) {
      const old = state.get(key);
      const current = old === undefined ? 0n : parseStoredInteger(decoder.decode(old));
      const sum = current === undefined ? undefined : current + d;
      if (sum === undefined || sum !== BigInt.asIntN(64, sum)) throw new StateError("not-an-integer", "increment", key);
      if (state.compareAndSwap(key, old, String(sum))) return sum;
    }
  },
  compareAndSwap(key, expected, value) {
    return stateCall("compare-and-swap", key, () => host.stateCompareAndSwap(key, expected === undefined ? undefined : bytes(expected), bytes(value)));
  },
};

/** Why a context read or write failed: `code` is the WIT context-error case. */
export class ContextError extends Error {
  constructor(code, operation, key) {
    super(`context ${operation} ${JSON.stringify(key)} failed: ${code}`);
    this.name = "ContextError";
    this.code = code;
    this.operation = operation;
    this.key = key;
  }
}

/**
 * Context values the host keeps (`context:<key>` to read, `context:write:<key>` to write): predefined keys
 * (`host.name`, `environment`, `request.id`, ...) and keys the host defines with a schema. Throws `ContextError`.
 */
export const context = {
  getJson(key) {
    try {
      const v = host.contextGet(key);
      return v === null ? undefined : v;
    } catch (e) {
      throw new ContextError(payloadOf(e), "get", key);
    }
  },
  get(key) {
    const v = context.getJson(key);
    return v === undefined ? undefined : JSON.parse(v);
  },
  setJson(key, json) {
    try {
      host.contextSet(key, json);
    } catch (e) {
      throw new ContextError(payloadOf(e), "set", key);
    }
  },
  set(key, value) {
    context.setJson(key, JSON.stringify(value));
  },
};

export function getConfigJson() {
  return host.getConfig();
}
export function getConfig() {
  return JSON.parse(host.getConfig() || "{}");
}
export function getConfigValue(key) {
  const v = host.getConfigValue(key);
  return v === undefined ? undefined : JSON.parse(v);
}

function status(v, fallback) {
  if (v === undefined || v === null) return fallback;
  if (typeof v === "boolean") return v ? 0 : 1;
  return v | 0;
}

// The `data` a handler gets is made by the bindings, in another realm than the plugin's code: `instanceof
// Uint8Array` is false for it (and for `data.map(...)`), so returning it from onHook was an error, not bytes.
const isBytes = (v) => v instanceof Uint8Array || (ArrayBuffer.isView(v) && Object.prototype.toString.call(v) === "[object Uint8Array]");

// The tagged form is what componentize-js lowers without a throw (throwing an
// `err` costs microseconds, returning `{tag, val}` does not).
function hookResult(r) {
  if (r === undefined || r === null) return { tag: "err", val: UNHANDLED };
  if (isBytes(r) || typeof r === "string") return { tag: "ok", val: bytes(r) };
  if (typeof r === "object") {
    if ("err" in r) return { tag: "err", val: r.err | 0 };
    if ("ok" in r) return { tag: "ok", val: bytes(r.ok) };
  }
  if (typeof r === "number") return { tag: "err", val: r | 0 };
  throw new TypeError("onHook must return Uint8Array | string | { ok } | { err }");
}

const isThenable = (v) => v !== null && typeof v === "object" && typeof v.then === "function";
// `f` is one of the module-level functions below, not a closure made per call: the guest's interpreter pays for
// every allocation (and the garbage collections they bring) on each event.
const map = (v, f) => (isThenable(v) ? v.then(f) : f(v));
const statusOr0 = (v) => status(v, 0);

/**
 * The optional `lifecycle` interface: the host tells the plugin it suspended and resumed it. Use it as
 * `export const lifecycle = defineLifecycle({ onSuspend() {...}, onResume() {...} })` in the plugin's entry;
 * the build then exports the interface (world plugin-with-lifecycle). A missing handler answers 0.
 */
export function defineLifecycle(def) {
  return {
    onSuspend() {
      return def.onSuspend ? map(def.onSuspend(), statusOr0) : 0;
    },
    onResume() {
      return def.onResume ? map(def.onResume(), statusOr0) : 0;
    },
  };
}

/**
 * The optional `config-watch` interface: the plugin takes a new configuration while it runs. Use it as
 * `export const configWatch = defineConfigWatch({ onConfigChanged(config) {...} })`; return 0 (or true, or
 * nothing) to take it. Any other status, a missing handler, or no `configWatch` export at all: the host reloads
 * the plugin with the new configuration.
 */
export function defineConfigWatch(def) {
  return {
    onConfigChanged(config) {
      return def.onConfigChanged ? map(def.onConfigChanged(config), statusOr0) : 1;
    },
  };
}

/**
 * The optional `handoff` interface: carry in-memory state to the next instance across a hot reload or a restart.
 * Use it as `export const handoff = defineHandoff({ snapshot() {...}, restore(data) {...} })`. `snapshot` returns
 * bytes or a string (missing or empty: nothing is carried); `restore` gets them after the next instance's `init`.
 */
export function defineHandoff(def) {
  return {
    snapshot() {
      return def.snapshot ? map(def.snapshot(), (v) => (v === undefined || v === null ? new Uint8Array() : bytes(v))) : new Uint8Array();
    },
    restore(data) {
      return def.restore ? map(def.restore(data), statusOr0) : 0;
    },
  };
}

/**
 * Turn a plugin definition into the object componentize-js expects for the
 * exported `guest` interface. Use it as `export const guest = definePlugin({...})`.
 */
export function definePlugin(def) {
  const guest = {
    init(apiVersion, config) {
      return def.init ? map(def.init(apiVersion, config), statusOr0) : 0;
    },
    teardown() {
      return def.teardown ? map(def.teardown(), statusOr0) : 0;
    },
    onEvent(name, data) {
      if (!def.onEvent) return UNHANDLED;
      const v = def.onEvent(name, data);
      // The common answer, a number, without a call: the interpreter makes each one cost.
      return typeof v === "number" ? v | 0 : map(v, statusOr0);
    },
    onHook(name, data) {
      return def.onHook ? map(def.onHook(name, data), hookResult) : { tag: "err", val: UNHANDLED };
    },
  };
  // For the bindings guest-sdks/js/build.mjs rewrites: they call `def.onEvent` themselves and map only a result that
  // is not a number, which saves an interpreted frame per event. Not enumerable: the interface object is unchanged.
  if (typeof def.onEvent === "function") Object.defineProperties(guest, { __plughostDef: { value: def }, __plughostStatus: { value: mapStatus } });
  return guest;
}

/** A status that is not a number (a boolean, nothing, a promise), as `onEvent` maps it. */
const mapStatus = (v) => map(v, statusOr0);
