// conformance-js: exactly guest-sdks/CONFORMANCE.md, in JavaScript.
import {
  definePlugin, defineLifecycle, info, log, registerCallback, emit, text, REGISTER_ERRORS, MESSAGE_ERRORS, defineMetric, recordMetric, METRIC_ERRORS,
  request, currentMessage, RequestError, REQUEST_ERRORS, state, StateError, STATE_ERRORS, context, ContextError, CONTEXT_ERRORS,
  defineConfigWatch, defineHandoff,
} from "@plughost/guest";
import { readFile } from "./read-file.js";

const EVENTS = ["echo", "sum", "fail", "log", "register", "trap", "spin", "grow", "read-file", "emit", "counter", "upper", "metric", "request", "message", "state", "context", "config", "remember", "recall"];
let counter = 0;
/** What `remember` kept: the snapshot, and what restore sets. */
let remembered = new Uint8Array();
/** The configuration received last (init's, then on-config-changed's). */
let config = "";
const kept = []; // allocations kept live by `grow`
let sink = 0;

/**
 * `data` is `<target>\n<event>\n<payload>`: `{ ok: answer }` or `{ err: -1 - request-error code }`; undefined when
 * it has fewer than two newlines.
 * @param {Uint8Array} data
 */
function ask(data) {
  const first = data.indexOf(0x0a);
  const second = first < 0 ? -1 : data.indexOf(0x0a, first + 1);
  if (second < 0) return undefined;
  try {
    return { ok: request(text(data.subarray(0, first)), text(data.subarray(first + 1, second)), data.subarray(second + 1)) };
  } catch (e) {
    if (e instanceof RequestError) return { err: -1 - REQUEST_ERRORS.indexOf(e.code) };
    throw e;
  }
}

/**
 * Run `f`; a StateError or ContextError becomes `{ err: -1 - its WIT case index }`.
 * @param {() => { ok: Uint8Array | string } | { err: number }} f
 * @returns {{ ok: Uint8Array | string } | { err: number }}
 */
function guarded(f) {
  try {
    return f();
  } catch (e) {
    if (e instanceof StateError) return { err: -1 - STATE_ERRORS.indexOf(e.code) };
    if (e instanceof ContextError) return { err: -1 - CONTEXT_ERRORS.indexOf(e.code) };
    throw e;
  }
}

/**
 * Split `data` at its first `n` newlines: `n + 1` parts, or undefined when it has fewer.
 * @param {Uint8Array} data @param {number} n
 */
function split(data, n) {
  const parts = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    const nl = data.indexOf(0x0a, at);
    if (nl < 0) return undefined;
    parts.push(data.subarray(at, nl));
    at = nl + 1;
  }
  parts.push(data.subarray(at));
  return parts;
}

const yesNo = (/** @type {boolean} */ b) => (b ? "true" : "false");

/**
 * CONFORMANCE.md's `state` hook: `<op>\n<key>[\n<args>]`.
 * @param {Uint8Array} data
 * @returns {{ ok: Uint8Array | string } | { err: number }}
 */
function stateHook(data) {
  const head = split(data, 1);
  if (!head) return { err: -100 };
  const op = text(head[0]);
  const rest = head[1];
  switch (op) {
    case "get":
      return guarded(() => {
        const v = state.get(text(rest));
        return v === undefined ? { err: 1 } : { ok: v };
      });
    case "set": {
      const p = split(rest, 1);
      if (!p) return { err: -100 };
      return guarded(() => (state.set(text(p[0]), p[1]), { ok: "" }));
    }
    case "delete":
      return guarded(() => ({ ok: yesNo(state.delete(text(rest))) }));
    case "exists":
      return guarded(() => ({ ok: yesNo(state.exists(text(rest))) }));
    case "incr": {
      const p = split(rest, 1);
      if (!p || !/^-?\d+$/.test(text(p[1]))) return { err: -100 };
      return guarded(() => ({ ok: String(state.incrementBig(text(p[0]), BigInt(text(p[1])))) }));
    }
    case "cas": {
      const p = split(rest, 2);
      if (!p || p[1].length === 0) return { err: -100 };
      const mark = p[1][0];
      if (!(mark === 0x3d || (mark === 0x2d && p[1].length === 1))) return { err: -100 }; // "=" or "-"
      const expected = mark === 0x3d ? p[1].subarray(1) : undefined;
      return guarded(() => ({ ok: yesNo(state.compareAndSwap(text(p[0]), expected, p[2])) }));
    }
    case "list": {
      const p = split(rest, 1);
      if (!p || !/^\d+$/.test(text(p[0]))) return { err: -100 };
      const cursor = text(p[1]);
      return guarded(() => {
        const page = state.listKeys({ limit: Number(text(p[0])), ...(cursor ? { cursor } : {}) });
        return { ok: page.keys.map((k) => `${k}\n`).join("") + (page.cursor === undefined ? "end" : `next ${page.cursor}`) };
      });
    }
    default:
      return { err: -100 };
  }
}

/**
 * CONFORMANCE.md's `context` hook: `<key>` reads, `<key>=<json>` writes.
 * @param {string} data
 * @returns {{ ok: Uint8Array | string } | { err: number }}
 */
function contextHook(data) {
  const eq = data.indexOf("=");
  if (eq >= 0) return guarded(() => (context.setJson(data.slice(0, eq), data.slice(eq + 1)), { ok: "" }));
  return guarded(() => {
    const v = context.getJson(data);
    return v === undefined ? { err: 1 } : { ok: v };
  });
}

/** The current message as CONFORMANCE.md's envelope text, or undefined. */
function envelope() {
  const m = currentMessage();
  if (!m) return undefined;
  const lines = [`id ${m.id}`];
  if (m.parentId !== undefined) lines.push(`parent ${m.parentId}`);
  if (m.source !== undefined) lines.push(`source ${m.source}`);
  if (m.target !== undefined) lines.push(`target ${m.target}`);
  lines.push(`event ${m.eventName}`, `kind ${m.kind}`);
  for (const [k, v] of Object.entries(m.metadata)) lines.push(`meta ${k}=${v}`);
  return lines.join("\n");
}

/** @param {Uint8Array} data */
function upper(data) {
  const out = new Uint8Array(data);
  for (let i = 0; i < out.length; i++) if (out[i] >= 0x61 && out[i] <= 0x7a) out[i] -= 0x20;
  return out;
}

export const guest = definePlugin({
  init(apiVersion, cfg) {
    if (cfg.includes('"fail-init":true')) return -1;
    if (!apiVersion.startsWith("0.")) return -2;
    config = cfg;
    info(`conformance init ${apiVersion}`);
    for (const e of EVENTS) if (registerCallback(e).err) return -3;
    return 0;
  },
  teardown() {
    info("conformance teardown");
    return 0;
  },
  onEvent(name, data) {
    switch (name) {
      case "echo":
        return data.length;
      case "sum": {
        let s = 0;
        for (let i = 0; i < data.length; i++) s = (s + data[i]) % 0x80000000;
        return s;
      }
      case "fail":
        return -7;
      case "log": {
        const m = text(data);
        for (const level of /** @type {const} */ (["debug", "info", "warn", "error"])) log(level, m);
        return 0;
      }
      case "register": {
        const r = registerCallback(text(data));
        return r.err ? REGISTER_ERRORS.indexOf(r.err) + 1 : 0;
      }
      case "trap":
        // An uncaught exception out of an export is the JS guest's trap.
        throw new Error("conformance trap");
      case "spin":
        for (;;) sink = (sink + 1) | 0;
      case "grow": {
        if (data.length < 4) return 1;
        const mib = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
        try {
          const block = new Uint8Array(mib * 1024 * 1024);
          // Touch every page so the memory is really committed.
          for (let i = 0; i < block.length; i += 65536) block[i] = 1;
          kept.push(block);
          return 0;
        } catch {
          return 1;
        }
      }
      case "read-file":
        return readFile(text(data)) ? 0 : 1;
      case "emit": {
        const r = emit(text(data), data);
        return r.err ? -1 - MESSAGE_ERRORS.indexOf(r.err) : r.ok;
      }
      case "counter":
        return ++counter;
      case "metric": {
        const id = defineMetric("counter", "conformance_bytes_total", "bytes seen by the metric event", ["event"]);
        if (id.err) return -1 - METRIC_ERRORS.indexOf(id.err);
        const r = recordMetric(id.ok, data.length, [text(data)]);
        return r.err ? -1 - METRIC_ERRORS.indexOf(r.err) : 0;
      }
      case "request": {
        const r = ask(data);
        return r === undefined ? -100 : r.err ?? r.ok.length;
      }
      case "message": {
        const t = envelope();
        if (t === undefined) return 1;
        info(t);
        return 0;
      }
      case "remember":
        remembered = new Uint8Array(data);
        return data.length;
      default:
        return -100;
    }
  },
  onHook(name, data) {
    switch (name) {
      case "echo":
        return { ok: data };
      case "upper":
        return { ok: upper(data) };
      case "fail":
        return { err: -7 };
      case "request":
        return ask(data) ?? { err: -100 };
      case "message": {
        const t = envelope();
        return t === undefined ? { err: 1 } : { ok: t };
      }
      case "state":
        return stateHook(data);
      case "context":
        return contextHook(text(data));
      case "config":
        return { ok: config };
      case "recall":
        return { ok: remembered };
      default:
        return { err: -100 };
    }
  },
});

// The optional lifecycle interface: exporting it (with configWatch and handoff below) makes the build pick the
// world plugin-full.
export const lifecycle = defineLifecycle({
  onSuspend() {
    info("conformance suspended");
    return 0;
  },
  onResume() {
    info("conformance resumed");
    return 0;
  },
});

// The optional config-watch interface: take a new configuration unless it says "reject-change".
export const configWatch = defineConfigWatch({
  onConfigChanged(cfg) {
    if (cfg.includes('"reject-change":true')) {
      info("conformance config rejected");
      return 1;
    }
    config = cfg;
    info("conformance config changed");
    return 0;
  },
});

// The optional handoff interface: what `remember` kept crosses to the next instance.
export const handoff = defineHandoff({
  snapshot() {
    return remembered;
  },
  restore(data) {
    info(`conformance restored ${data.length}`);
    remembered = new Uint8Array(data);
    return 0;
  },
});
