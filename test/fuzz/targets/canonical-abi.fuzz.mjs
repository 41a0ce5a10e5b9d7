/**
 * Fuzz target `canonical-abi`: the v8 path's readers of guest memory. The input is the guest: its bytes fill the
 * guest's linear memory (a real WebAssembly.Memory) and also drive the pointers, lengths and flat values the guest
 * passes or returns. Five areas, chosen by the first byte:
 * 0. the generated import trampolines (src/interfaces/canonical-abi.ts) of the test app's WIT and edge types: flat
 *    arguments and spilled tuples lifted from memory, results lowered through a `cabi_realloc` that may lie or grow;
 * 1. the generated export callers: results lifted from a returned pointer or flat value after a call that may grow;
 * 2. GuestMemory (src/engines/v8/guest-memory.ts): bounds, alignment, UTF-8;
 * 3. V8Instance's readers (src/engines/v8/instance.ts): on-hook's result area (plain, sink, C SDK arena paths),
 *    on-event, init, snapshot's list, the arena probe;
 * 4. the `plughost:plugin/host` imports (src/engines/v8/host-imports.ts): every import with arbitrary arguments.
 * Only a PlughostError may escape, and one whose cause is a JS error of the host's own (TypeError, RangeError…)
 * is a finding too: the engine wraps such errors in PluginTrap, which would hide a host bug as a guest fault.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PlughostError } from "../../../dist/index.js";
import { exportCaller, hostImportTrampoline, coreSignature } from "../../../dist/interfaces/canonical-abi.js";
import { parseWit } from "../../../dist/interfaces/wit-parser.js";
import { jsName } from "../../../dist/interfaces/types.js";
import { GuestMemory } from "../../../dist/engines/v8/guest-memory.js";
import { V8Instance, probeArena } from "../../../dist/engines/v8/instance.js";
import { createHostImports } from "../../../dist/engines/v8/host-imports.js";
import { newHookSink } from "../../../dist/hooks/sink.js";

const PAGE = 65536;
const MAX_PAGES = 3;

const appWit = readFileSync(fileURLToPath(new URL("../../fixtures/wit/acme-app/app.wit", import.meta.url)), "utf8");
const range = (n, p) => Array.from({ length: n }, (_, i) => `${p}${i}`);
// Types the app's WIT lacks (the same edge set test/canonical-abi.test.ts checks by hand).
const EDGE_WIT = `package fuzz:edge@0.1.0;
interface edge {
  variant mixed { a(u64), b(f32), c(f64), d(s8), e(string), f }
  variant small { x(f32), y(u32) }
  flags wide { ${range(32, "g").join(", ")} }
  enum big { ${range(300, "c").join(", ")} }
  record opt-rec { maybe-name: option<string>, n: u16 }
  echo-mixed: func(v: mixed) -> mixed;
  echo-small: func(v: small) -> small;
  echo-wide: func(v: wide) -> wide;
  echo-big: func(v: big) -> big;
  echo-nested: func(v: option<option<u32>>) -> option<option<u32>>;
  echo-unit: func(v: result) -> result;
  echo-lists: func(v: list<list<u8>>, c: list<char>) -> tuple<list<list<u8>>, list<char>>;
  echo-opt-rec: func(v: opt-rec) -> opt-rec;
  echo-signed: func(a: s8, b: s16, c: s64, d: u16) -> tuple<s8, s16, s64, u16>;
  echo-deep: func(v: list<option<result<list<string>, tuple<char, f64>>>>) -> list<option<result<list<string>, tuple<char, f64>>>>;
  flat-char: func(x: char) -> char;
  flat-u64: func(x: u64) -> u64;
  nothing: func();
}
`;
const app = parseWit(appWit, "app.wit").find((p) => p.name === "acme:app");
const edge = parseWit(EDGE_WIT, "edge.wit")[0];
/** [interface, function] pairs, in a fixed order so an input names the same function on every run. */
const FUNCS = [...app.interfaces, ...edge.interfaces].flatMap((i) => i.functions.map((f) => [i, f]));

/** Reads the input as a stream; past its end it reads zeros (so every input is complete). */
class In {
  constructor(buf) {
    this.b = buf;
    this.i = 0;
  }
  byte() {
    return this.i < this.b.length ? this.b[this.i++] : 0;
  }
  u16() {
    return this.byte() | (this.byte() << 8);
  }
  u32() {
    return (this.u16() | (this.u16() << 16)) >>> 0;
  }
  /** A pointer: mostly inside the input's bytes, sometimes near the end of memory, sometimes anything. */
  ptr(memLen) {
    switch (this.byte() & 7) {
      case 0:
        return this.u32();
      case 1:
        return (memLen - 1 - (this.byte() & 63)) >>> 0;
      case 2:
        return (this.u16() & ~7) >>> 0;
      default:
        return this.u16() % Math.max(1, this.b.length);
    }
  }
  /** A length: mostly short, sometimes huge. */
  len() {
    switch (this.byte() & 3) {
      case 0:
        return this.u32();
      case 1:
        return this.u16();
      default:
        return this.byte() & 31;
    }
  }
  core(type, memLen) {
    switch (type) {
      case "i32":
        return this.ptr(memLen) | 0;
      case "i64":
        return BigInt.asIntN(64, (BigInt(this.u32()) << 32n) | BigInt(this.u32()));
      case "f32":
        return new Float32Array(new Uint32Array([this.u32()]).buffer)[0];
      default:
        return new Float64Array(new Uint32Array([this.u32(), this.u32()]).buffer)[0];
    }
  }
}

/** A JS value for WIT type `t` (mostly one that fits; a few do not, which is the host side's typed error). */
function value(t, r, depth = 0) {
  const b = () => r.byte();
  switch (t.kind) {
    case "bool":
      return (b() & 1) === 1;
    case "u8":
      return b();
    case "u16":
      return r.u16();
    case "u32":
      return r.u32();
    case "s8":
      return (b() << 24) >> 24;
    case "s16":
      return (r.u16() << 16) >> 16;
    case "s32":
      return r.u32() | 0;
    case "u64":
      return (BigInt(r.u32()) << 32n) | BigInt(r.u32());
    case "s64":
      return BigInt.asIntN(64, (BigInt(r.u32()) << 32n) | BigInt(r.u32()));
    case "f32":
      return Math.fround(r.core("f32"));
    case "f64":
      return r.core("f64");
    case "char":
      return String.fromCodePoint(r.u32() % 0xd800);
    case "string": {
      const n = b() & 15;
      let s = "";
      for (let i = 0; i < n; i++) s += String.fromCharCode(b() & 1 ? b() : r.u16());
      return s;
    }
    case "list": {
      const n = depth > 3 ? 0 : b() & 3;
      if (t.element.kind === "u8") return Uint8Array.from({ length: n * 5 }, () => b());
      return Array.from({ length: n }, () => value(t.element, r, depth + 1));
    }
    case "option": {
      if ((b() & 1) === 0) return undefined;
      const v = value(t.some, r, depth + 1);
      return t.some.kind === "option" ? (v === undefined ? { tag: "none" } : { tag: "some", val: v }) : v;
    }
    case "result": {
      const ok = (b() & 1) === 0;
      const side = ok ? t.ok : t.err;
      return side ? { tag: ok ? "ok" : "err", val: value(side, r, depth + 1) } : { tag: ok ? "ok" : "err" };
    }
    case "tuple":
      return t.items.map((it) => value(it, r, depth + 1));
    case "record":
      return Object.fromEntries(t.fields.map((f) => [jsName(f.name), value(f.type, r, depth + 1)]));
    case "variant": {
      const c = t.cases[b() % t.cases.length];
      return c.type ? { tag: c.name, val: value(c.type, r, depth + 1) } : { tag: c.name };
    }
    case "enum":
      return t.cases[r.u16() % t.cases.length];
    case "flags":
      return Object.fromEntries(t.flags.map((f) => [jsName(f), (b() & 1) === 1]));
    default:
      throw new Error(`fuzz target: no generator for ${t.kind}`);
  }
}

/** A guest: the input as its memory, and an allocator that tells the truth, lies, or grows memory. */
function makeGuest(data, r) {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES });
  new Uint8Array(memory.buffer).set(data.subarray(0, PAGE));
  let top = 40000;
  const realloc = (_old, _oldSize, align, size) => {
    const mode = r.byte() & 7;
    if (mode === 0) return r.ptr(memory.buffer.byteLength) | 0; // a lie: anywhere
    if (mode === 1 && memory.buffer.byteLength < MAX_PAGES * PAGE) memory.grow(1); // detaches the host's views
    const a = Math.max(1, align >>> 0);
    const p = Math.ceil(top / a) * a;
    if (p + (size >>> 0) > memory.buffer.byteLength) return r.u32() | 0;
    top = p + (size >>> 0);
    return p;
  };
  return { memory, realloc };
}

function importTrampoline(data, r) {
  const [iface, fn] = FUNCS[r.byte() % FUNCS.length];
  const guest = makeGuest(data, r);
  const abi = { memory: guest.memory, realloc: guest.realloc };
  const call = (args) => {
    if (args.length !== fn.params.length) throw new Error("fuzz target: wrong argument count (a finding)");
    return fn.result ? value(fn.result, r) : undefined;
  };
  const trampoline = hostImportTrampoline(iface, fn, call, abi);
  const sig = coreSignature(fn, "import");
  const args = sig.params.map((p) => r.core(p, guest.memory.buffer.byteLength));
  trampoline(...args);
}

function exportCall(data, r) {
  const [iface, fn] = FUNCS[r.byte() % FUNCS.length];
  const guest = makeGuest(data, r);
  const abi = { memory: guest.memory, realloc: guest.realloc };
  const sig = coreSignature(fn, "export");
  const core = () => {
    if ((r.byte() & 7) === 0 && guest.memory.buffer.byteLength < MAX_PAGES * PAGE) guest.memory.grow(1);
    return sig.results.length ? r.core(sig.results[0], guest.memory.buffer.byteLength) : undefined;
  };
  const caller = exportCaller(iface, fn, core, () => undefined, abi);
  caller(fn.params.map((p) => value(p.type, r)));
}

function guestMemory(data, r) {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES });
  new Uint8Array(memory.buffer).set(data.subarray(0, PAGE));
  const gm = new GuestMemory("fuzz");
  gm.attach(memory);
  for (let k = 0; k < 4; k++) {
    const len = gm.byteLength;
    const p = r.ptr(len);
    const l = r.len();
    switch (r.byte() & 7) {
      case 0:
        gm.readString(p, l, "string", "fuzz#read");
        break;
      case 1:
        gm.readBytes(p, l, "bytes", "fuzz#read");
        break;
      case 2:
        gm.check(p, l, "block", "fuzz#read");
        break;
      case 3:
        gm.checkAlign(p, 1 << (r.byte() & 3), "pointer", "fuzz#read");
        break;
      case 4:
        if (len < MAX_PAGES * PAGE) memory.grow(1);
        break;
      default:
        gm.u8();
        gm.dv().getUint8(Math.min(p, gm.byteLength - 1));
    }
  }
}

/** A HostCalls that answers every call (the readers are under test, not the host's services). */
function fuzzHost(r) {
  const ok = (value) => ({ ok: true, value });
  return {
    log: () => undefined,
    registerCallback: () => "ok",
    emit: () => ok(0),
    send: () => ok(undefined),
    getConfig: () => '{"a":1}',
    getConfigValue: (k) => ((r.byte() & 1) === 0 ? undefined : `v-${k.length}`),
    logsDropped: () => undefined,
    defineMetric: () => ok(1),
    recordMetric: () => ok(undefined),
    requestSync: () => ok(new Uint8Array([1, 2, 3])),
    currentMessage: () => ((r.byte() & 1) === 0 ? undefined : { id: 7, parentId: 3, source: "a", target: "b", kind: "event", eventName: "x.y", metadata: [["k", "v"]] }),
    stateGet: () => ok((r.byte() & 1) === 0 ? undefined : new Uint8Array(r.byte())),
    stateSet: () => ok(undefined),
    stateDelete: () => ok(true),
    stateExists: () => ok(false),
    stateListKeys: () => ok({ keys: ["a", "bb"], ...((r.byte() & 1) === 0 ? {} : { cursor: "bb" }) }),
    stateIncrement: (_k, d) => ok(d),
    stateCompareAndSwap: () => ok(true),
    contextGet: () => ok((r.byte() & 1) === 0 ? undefined : "ctx"),
    contextSet: () => ok(undefined),
  };
}

function importContext(gm, host, realloc) {
  return { plugin: "fuzz", memory: gm, host, currentExport: "fuzz#call", realloc };
}

function hostImports(data, r) {
  const guest = makeGuest(data, r);
  const gm = new GuestMemory("fuzz");
  gm.attach(guest.memory);
  const imports = createHostImports(importContext(gm, fuzzHost(r), guest.realloc));
  const names = Object.keys(imports).sort();
  for (let k = 0; k < 3; k++) {
    const name = names[r.byte() % names.length];
    const f = imports[name];
    const args = Array.from({ length: f.length }, () => (r.byte() & 3) === 0 ? r.len() : r.ptr(gm.byteLength));
    // The one i64 parameter (state-increment's delta) arrives as a bigint from core wasm.
    if (name === "state-increment") args[2] = r.core("i64");
    f(...args);
  }
}

function instance(data, r) {
  const guest = makeGuest(data, r);
  const gm = new GuestMemory("fuzz");
  gm.attach(guest.memory);
  const ctx = importContext(gm, fuzzHost(r), guest.realloc);
  const ret = () => r.ptr(gm.byteLength);
  const exports = {
    realloc: guest.realloc,
    init: () => r.u32() | 0,
    teardown: () => 0,
    onEvent: () => r.byte(),
    onHook: ret,
    postInit: undefined,
    postTeardown: undefined,
    postOnEvent: undefined,
    postOnHook: undefined,
    snapshot: ret,
    restore: () => 0,
  };
  // The C SDK's arena, as the guest describes it (the probe must refuse a layout that lies).
  const layoutAt = r.ptr(gm.byteLength);
  if ((r.byte() & 1) === 0) exports.arena = probeArena({ "plughost-c-sdk-arena": () => layoutAt }, gm, guest.realloc, undefined);
  const inst = new V8Instance("fuzz", exports, gm, ctx, undefined, () => undefined);
  const sink = newHookSink();
  const event = ["e", "some.event", "x".repeat(r.byte())][r.byte() % 3];
  for (let k = 0; k < 4; k++) {
    const payload = data.subarray(0, r.byte() * 2);
    try {
      switch (r.byte() % 6) {
        case 0:
          inst.onHookSync(event, payload);
          break;
        case 1:
        case 2:
          inst.onHookSyncInto(event, payload, sink, undefined);
          break;
        case 3:
          inst.onEventSync(event, payload);
          break;
        case 4:
          inst.snapshotSync();
          break;
        default:
          inst.initSync("0.1.0", "{}");
      }
    } catch (err) {
      expected(err);
    }
  }
}

/** Return for a typed error of the guest's making; rethrow anything else (a finding). */
function expected(err) {
  if (!(err instanceof PlughostError)) throw err;
  const cause = err.cause;
  if (cause instanceof Error && !(cause instanceof PlughostError) && !(cause instanceof WebAssembly.RuntimeError)) {
    throw new Error(`a host error disguised as ${err.name}: ${cause.name}: ${cause.message}`, { cause });
  }
}

const AREAS = [importTrampoline, exportCall, guestMemory, instance, hostImports];

/** @param {Buffer} data */
export function fuzz(data) {
  const r = new In(data);
  const area = AREAS[r.byte() % AREAS.length];
  try {
    area(data, r);
  } catch (err) {
    expected(err);
  }
}
