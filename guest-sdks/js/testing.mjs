// A minimal in-process host for testing one plugin component without the
// plughost engine: transpile with jco, instantiate with a recording
// `plughost:plugin/host` and, only when the component imports WASI, a
// per-instance preview2-shim WASIShim. For tests of guest SDKs and templates;
// the real host is PluginRegistry.
import { readFileSync, writeFileSync, mkdtempSync, rmSync, mkdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const LEVELS = ["debug", "info", "warn", "error"];

// Transpiling and compiling a 12 MB componentize-js component takes a second
// or two; do it once per file version and instantiate many times.
const cache = new Map();
async function transpiled(wasmPath) {
  const st = statSync(wasmPath);
  const key = `${path.resolve(wasmPath)}:${st.size}:${st.mtimeMs}`;
  if (!cache.has(key)) cache.set(key, transpile(wasmPath));
  return cache.get(key);
}
async function transpile(wasmPath) {
  const { transpileBytes } = await import("../../vendor/jco/index.js");
  const bytes = new Uint8Array(readFileSync(wasmPath));
  const { files, imports: needed } = await transpileBytes(bytes, { name: "plugin", instantiation: "async" });
  const dir = mkdtempSync(path.join(tmpdir(), "plughost-guest-test-"));
  let mod;
  try {
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), content);
    }
    mod = await import(pathToFileURL(path.join(dir, "plugin.js")).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const modules = new Map();
  const getCoreModule = (name) => {
    if (!modules.has(name)) modules.set(name, WebAssembly.compile(files[name]));
    return modules.get(name);
  };
  return { mod, needed, getCoreModule };
}

/**
 * @param {string} wasmPath
 * @param {{ config?: object, registerError?: (name: string) => string | undefined,
 *           emitResult?: (name: string, data: Uint8Array) => number | string,
 *           answer?: (target: string, name: string, data: Uint8Array, timeoutMs: number) => Uint8Array | string,
 *           preopens?: Record<string, string>, state?: Record<string, Uint8Array | string>,
 *           stateError?: (op: string, key: string) => string | undefined,
 *           context?: Record<string, unknown>, contextWritable?: string[],
 *           contextError?: (key: string, write: boolean) => string | undefined }} [opts]
 */
export async function loadComponent(wasmPath, opts = {}) {
  const { mod, needed, getCoreModule } = await transpiled(wasmPath);

  let config = opts.config ?? {};
  // The plugin's persistent state, in memory (key -> bytes), and context values as JSON text.
  const stateStore = new Map(Object.entries(opts.state ?? {}).map(([k, v]) => [k, typeof v === "string" ? new TextEncoder().encode(v) : new Uint8Array(v)]));
  const contextValues = new Map(Object.entries(opts.context ?? {}).map(([k, v]) => [k, JSON.stringify(v)]));
  const stateCheck = (op, key) => {
    const byteLength = new TextEncoder().encode(key ?? "").length;
    if (key !== undefined && (byteLength === 0 || byteLength > 256)) throw "invalid-key";
    const err = opts.stateError?.(op, key);
    if (err) throw err;
  };
  const logs = [];
  const registered = [];
  const emitted = [];
  const sent = [];
  // Plugin-defined metrics: definitions by id, and values by "name{v1,v2}" (a counter's sum, a gauge's last
  // value, a histogram's observations as an array). The real host's other limits are not modelled.
  const metrics = { defined: [], values: {} };
  const requests = [];
  // What current-message answers: set `plugin.message` before a call (undefined: none, as in init).
  const state = { message: undefined };
  const host = {
    log(level, message) {
      logs.push({ level: typeof level === "number" ? LEVELS[level] : level, message });
    },
    registerCallback(name) {
      const err = opts.registerError?.(name) ?? (/^[A-Za-z0-9._:/-]{1,128}$/.test(name) ? undefined : "invalid-name");
      if (err) throw err; // jco lowers a thrown non-Error value as the `err` payload
      if (!registered.includes(name)) registered.push(name);
    },
    emit(name, data) {
      emitted.push({ name, data: new Uint8Array(data) });
      const r = opts.emitResult ? opts.emitResult(name, data) : 0;
      if (typeof r === "string") throw r;
      return r;
    },
    send(target, name, data) {
      sent.push({ target, name, data: new Uint8Array(data) });
    },
    getConfig() {
      return JSON.stringify(config);
    },
    getConfigValue(key) {
      return Object.hasOwn(config, key) ? JSON.stringify(config[key]) : undefined;
    },
    defineMetric(kind, name, help, labelNames) {
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name) || name.startsWith("__")) throw "invalid-name";
      const id = metrics.defined.findIndex((m) => m.name === name);
      if (id >= 0) {
        const m = metrics.defined[id];
        if (m.kind !== kind || m.labelNames.join("\0") !== labelNames.join("\0")) throw "conflict";
        return id;
      }
      metrics.defined.push({ kind, name, help, labelNames: [...labelNames] });
      return metrics.defined.length - 1;
    },
    recordMetric(id, value, labelValues) {
      const m = metrics.defined[id];
      if (!m) throw "unknown-metric";
      if (labelValues.length !== m.labelNames.length) throw "invalid-labels";
      if (!Number.isFinite(value) || (m.kind === "counter" && value < 0)) throw "invalid-value";
      const key = `${m.name}{${labelValues.join(",")}}`;
      if (m.kind === "counter") metrics.values[key] = (metrics.values[key] ?? 0) + value;
      else if (m.kind === "gauge") metrics.values[key] = value;
      else (metrics.values[key] ??= []).push(value);
    },
    request(target, name, data, timeoutMs) {
      requests.push({ target, name, data: new Uint8Array(data), timeoutMs });
      const r = opts.answer ? opts.answer(target, name, new Uint8Array(data), timeoutMs) : "unknown-target";
      if (typeof r === "string") throw r;
      return r;
    },
    stateGet(key) {
      stateCheck("get", key);
      const v = stateStore.get(key);
      return v === undefined ? undefined : new Uint8Array(v);
    },
    stateSet(key, value) {
      stateCheck("set", key);
      if (value.length > 1 << 20) throw "too-large";
      stateStore.set(key, new Uint8Array(value));
    },
    stateDelete(key) {
      stateCheck("delete", key);
      return stateStore.delete(key);
    },
    stateExists(key) {
      stateCheck("exists", key);
      return stateStore.has(key);
    },
    stateListKeys(cursor, limit) {
      const err = opts.stateError?.("list", cursor);
      if (err) throw err;
      const max = Math.min(limit || 100, 1000);
      // Byte order, as the host's (UTF-8 bytes compare as code points do).
      const keys = [...stateStore.keys()].filter((k) => cursor === undefined || Buffer.compare(Buffer.from(k), Buffer.from(cursor)) > 0).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      return keys.length > max ? { keys: keys.slice(0, max), cursor: keys[max - 1] } : { keys, cursor: undefined };
    },
    stateIncrement(key, delta) {
      stateCheck("increment", key);
      const old = stateStore.get(key);
      const text = old === undefined ? "0" : new TextDecoder().decode(old);
      if (!/^(?:0|-?[1-9][0-9]{0,18})$/.test(text)) throw "not-an-integer"; // the host's rule
      const sum = BigInt(text) + BigInt(delta);
      if (BigInt(text) !== BigInt.asIntN(64, BigInt(text)) || sum !== BigInt.asIntN(64, sum)) throw "not-an-integer";
      stateStore.set(key, new TextEncoder().encode(String(sum)));
      return sum;
    },
    stateCompareAndSwap(key, expected, value) {
      stateCheck("cas", key);
      const current = stateStore.get(key);
      const matches = expected === undefined ? current === undefined : current !== undefined && Buffer.compare(Buffer.from(current), Buffer.from(expected)) === 0;
      if (matches) stateStore.set(key, new Uint8Array(value));
      return matches;
    },
    contextGet(key) {
      const err = opts.contextError?.(key, false);
      if (err) throw err;
      return contextValues.get(key);
    },
    contextSet(key, value) {
      const err = opts.contextError?.(key, true) ?? (opts.contextWritable?.includes(key) ? undefined : "denied");
      if (err) throw err;
      try {
        JSON.parse(value);
      } catch {
        throw "invalid-value";
      }
      contextValues.set(key, value);
    },
    currentMessage() {
      const m = state.message;
      if (m === undefined) return undefined;
      return {
        id: BigInt(m.id),
        parentId: m.parentId === undefined ? undefined : BigInt(m.parentId),
        source: m.source,
        target: m.target,
        eventName: m.eventName,
        kind: m.kind,
        metadata: Object.entries(m.metadata ?? {}),
      };
    },
  };
  const importObject = { "plughost:plugin/host": host, "plughost:plugin/types": {} };
  const wasi = needed.filter((i) => i.startsWith("wasi:"));
  if (wasi.length) {
    const { WASIShim } = await import("@bytecodealliance/preview2-shim/instantiation");
    const shim = new WASIShim({ sandbox: { preopens: opts.preopens ?? {}, env: {}, args: [] } });
    Object.assign(importObject, shim.getImportObject());
  }
  const instance = await mod.instantiate(getCoreModule, importObject);
  const guest = instance.guest ?? instance["plughost:plugin/guest@0.1.0"];
  if (!guest) throw new Error(`${wasmPath}: does not export plughost:plugin/guest`);
  const lifecycle = instance.lifecycle ?? instance["plughost:plugin/lifecycle@0.1.0"];
  const configWatch = instance.configWatch ?? instance["plughost:plugin/config-watch@0.1.0"];
  const handoff = instance.handoff ?? instance["plughost:plugin/handoff@0.1.0"];
  return {
    guest,
    lifecycle,
    imports: needed,
    logs,
    registered,
    emitted,
    sent,
    metrics,
    requests,
    get message() {
      return state.message;
    },
    set message(m) {
      state.message = m;
    },
    init: (apiVersion = "0.1.0", cfg = JSON.stringify(config)) => guest.init(apiVersion, cfg),
    teardown: () => guest.teardown(),
    /** The plugin's persistent state (key -> bytes) and context values (key -> JSON text): read or seed them. */
    state: stateStore,
    context: contextValues,
    configWatch,
    handoff,
    /**
     * Deliver a new configuration as the host's live update does: `getConfig` returns it from now on, and the
     * plugin's on-config-changed gets it. Returns its status; without the export, 1 (the host would reload).
     */
    setConfig(next) {
      config = next;
      return configWatch ? configWatch.onConfigChanged(JSON.stringify(next)) : 1;
    },
    /** The plugin's snapshot (empty without the handoff export). */
    snapshot: () => (handoff ? new Uint8Array(handoff.snapshot()) : new Uint8Array()),
    /** Hand `data` to the plugin's restore (0 without the handoff export). */
    restore: (data) => (handoff ? handoff.restore(typeof data === "string" ? new TextEncoder().encode(data) : data) : 0),
    onSuspend: lifecycle ? () => lifecycle.onSuspend() : undefined,
    onResume: lifecycle ? () => lifecycle.onResume() : undefined,
    onEvent: (name, data = new Uint8Array()) => guest.onEvent(name, typeof data === "string" ? new TextEncoder().encode(data) : data),
    /** Returns `{ ok: Uint8Array } | { err: number }`. */
    onHook(name, data = new Uint8Array()) {
      try {
        return { ok: guest.onHook(name, typeof data === "string" ? new TextEncoder().encode(data) : data) };
      } catch (e) {
        // jco's glue throws the `err` payload (a number here), or a ComponentError carrying it.
        if (typeof e === "number") return { err: e };
        if (e && typeof e === "object" && "payload" in e) return { err: e.payload };
        throw e;
      }
    },
  };
}
