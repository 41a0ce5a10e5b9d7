// conformance-js: exactly guest-sdks/CONFORMANCE.md, in JavaScript.
import {
  definePlugin, defineLifecycle, info, log, registerCallback, emit, text, REGISTER_ERRORS, MESSAGE_ERRORS, defineMetric, recordMetric, METRIC_ERRORS,
  request, currentMessage, RequestError, REQUEST_ERRORS,
} from "@plughost/guest";
import { readFile } from "./read-file.js";

const EVENTS = ["echo", "sum", "fail", "log", "register", "trap", "spin", "grow", "read-file", "emit", "counter", "upper", "metric", "request", "message"];
let counter = 0;
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
  init(apiVersion, config) {
    if (config.includes('"fail-init":true')) return -1;
    if (!apiVersion.startsWith("0.")) return -2;
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
      default:
        return { err: -100 };
    }
  },
});

// The optional lifecycle interface: exporting it makes the build pick the world plugin-with-lifecycle.
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
