/**
 * Entry point of a plugin's worker thread (`isolation: "worker"`). It
 * instantiates the component the host compiled, instrumented and verified
 * (the setup message carries the glue and the compiled core modules; nothing
 * is compiled or read from the cache here), with the in-process engine's
 * instantiation (limits and scoped WASI included), then serves calls from
 * the request ring in a synchronous loop: spin briefly when idle, then
 * sleep in `Atomics.wait`. Host imports go back to the host thread through
 * the response ring; the synchronous ones block on the reply cell until the
 * host answers. The host ends the thread with
 * `terminate()`, which also interrupts a runaway guest.
 *
 * Loading runs guest code too (start functions; a C reactor's `_initialize`,
 * which runs its constructors). With a deadline, the worker stamps each core
 * instantiation that runs a start function like a call, so the host's
 * deadline timer bounds it as well.
 */
import { Session } from "node:inspector";
import { deserialize, serialize } from "node:v8";
import type { ImportBinding, InterfaceBindings } from "../../../interfaces/types.js";
import { receiveMessageOnPort, workerData } from "node:worker_threads";
import {
  LOG_LEVELS,
  type EngineInstance,
  type HookOutcome,
  type ContextOutcome,
  type HostCalls,
  type KeyPage,
  type MessageFailure,
  type MessageInfo,
  type RegisterOutcome,
  type StateOutcome,
  type ViolationKind,
  type ResourceUsage,
} from "../../engine.js";
import { PluginTrap } from "../../../contract/errors.js";
import {
  BELL,
  CTL,
  ChannelViews,
  F64,
  HOST_CALL,
  INLINE_MAX,
  LOADED_FLAGS,
  OP,
  OVERFLOW,
  RESP,
  copyInto,
  decodeUtf8,
  encodeUtf8,
  type RingWriter,
  type WorkerSetup,
} from "./channel.js";
import { serializeError } from "./errors.js";
import { CONTEXT_ERRORS, MESSAGE_ERRORS, METRIC_ERRORS, METRIC_KIND_CODE, REGISTER_ERRORS, REQUEST_ERRORS, STATE_ERRORS } from "../../../contract/abi.js";
import { hasStartSection, instantiatePrepared } from "../engine.js";
import type { V8Instance } from "../instance.js";
import { startTimeline, stopTimeline, type GuestTimeline } from "../guest-activity.js";

const setup = workerData as WorkerSetup;
const views = new ChannelViews(setup.channel);
const ctl = views.ctl;
const bell = new Int32Array(setup.bell);
const requests = views.requestReader();
const responses = views.responseWriter();

/** This thread's clock origin (epoch ms): call start stamps are epoch times, and reading the getter cost as much as now(). */
const timeOrigin = performance.timeOrigin;

/** How long an idle worker spins before sleeping: keeps back-to-back calls off the futex path. */
const IDLE_SPIN_MS = 0.1;

const REGISTER_OUTCOMES: readonly RegisterOutcome[] = ["ok", ...REGISTER_ERRORS];
const MESSAGE_FAILURES: readonly MessageFailure[] = MESSAGE_ERRORS;
const VIOLATION_KINDS: readonly ViolationKind[] = ["fuel", "memory", "deadline", "capability", "trap", "crash", "quota", "resource"];

// ── writing to the host ─────────────────────────────────────────────────

/** Reserve a response record, waiting (bounded sleeps) while the host drains a full ring. */
function reserve(writer: RingWriter, kind: number, id: number, arg: number, len: number): number {
  let at = writer.reserve(kind, id, arg, len);
  while (at < 0) {
    ring();
    Atomics.store(ctl, CTL.RESP_WRITER_WAITING, 1);
    const tail = Atomics.load(ctl, CTL.RESP_TAIL);
    if (!writer.fits(len)) Atomics.wait(ctl, CTL.RESP_TAIL, tail, 5);
    Atomics.store(ctl, CTL.RESP_WRITER_WAITING, 0);
    at = writer.reserve(kind, id, arg, len);
  }
  return at;
}

/**
 * Wake the host thread if it sleeps on the process-wide doorbell. The first ring clears the flag, so the records
 * published until the host is up ring no more (a notify each): awake, it drains every worker before it sleeps again.
 */
function ring(): void {
  if (Atomics.load(bell, BELL.HOST_SLEEPING) !== 0 && Atomics.exchange(bell, BELL.HOST_SLEEPING, 0) !== 0) {
    Atomics.add(bell, BELL.DOORBELL, 1);
    Atomics.notify(bell, BELL.DOORBELL);
  }
}

function publish(): void {
  responses.publish();
  ring();
}

/** One response record with an optional payload (big ones over the response port). */
function respond(kind: number, id: number, arg: number, payload?: Uint8Array, owned = false): void {
  if (payload && payload.length > INLINE_MAX) {
    // A buffer made for this record alone moves to the host thread instead of being copied (big emits and sends).
    const whole = owned && payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength && payload.buffer instanceof ArrayBuffer;
    setup.responsePort.postMessage(payload, whole ? [payload.buffer as ArrayBuffer] : []);
    reserve(responses, kind, id, arg, OVERFLOW);
  } else {
    const len = payload?.length ?? 0;
    const at = reserve(responses, kind, id, arg, len);
    if (payload) copyInto(responses.u8, at, payload);
  }
  publish();
}

function respondError(id: number, err: unknown): void {
  respond(RESP.ERROR, id, 0, encodeUtf8(JSON.stringify(serializeError(err))));
}

// ── host calls, as the guest sees them ───────────────────────────────────

/** Send a synchronous host call and block until the host thread replies. */
function hostCall(which: number, payload: Uint8Array): { code: number; value: number; bytes: Uint8Array | undefined } {
  Atomics.store(ctl, CTL.REPLY_STATE, 0);
  respond(RESP.HOST_CALL, 0, which, payload, true);
  let until = Atomics.load(bell, BELL.SPIN_OK) !== 0 ? performance.now() + IDLE_SPIN_MS : 0;
  let n = 0;
  while (Atomics.load(ctl, CTL.REPLY_STATE) === 0) {
    // The clock is read every 64th round of the spin (a reading cost more than a round); once spent, each round waits.
    if (until === 0 || ((++n & 63) === 0 && performance.now() > until)) {
      until = 0;
      Atomics.wait(ctl, CTL.REPLY_STATE, 0, 50);
    }
  }
  const code = Atomics.load(ctl, CTL.REPLY_CODE);
  const value = Atomics.load(ctl, CTL.REPLY_VALUE);
  const len = Atomics.load(ctl, CTL.REPLY_LEN);
  let bytes: Uint8Array | undefined;
  if (len === OVERFLOW) bytes = receiveMessageOnPort(setup.replyPort)?.message as Uint8Array | undefined;
  else if (len > 0) bytes = views.reply.slice(0, len);
  Atomics.store(ctl, CTL.REPLY_STATE, 0);
  return { code, value, bytes };
}

/** Length-prefixed fields: [u32 len][bytes]… then the raw tail. */
function pack(fields: readonly Uint8Array[], tail?: Uint8Array): Uint8Array {
  let size = tail?.length ?? 0;
  for (const f of fields) size += 4 + f.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let at = 0;
  for (const f of fields) {
    dv.setUint32(at, f.length, true);
    out.set(f, at + 4);
    at += 4 + f.length;
  }
  if (tail) out.set(tail, at);
  return out;
}

/**
 * Fuel per host call from a worker: each one is a round trip to the host
 * thread (tens of microseconds), so a loop of cheap calls pays for the host
 * thread's time, not only for the bytes.
 */
const WORKER_HOST_CALL_COST = 1000;

const host: HostCalls & { readonly bounds: WorkerSetup["bounds"] } = {
  bounds: { ...setup.bounds, callCost: Math.max(setup.bounds.callCost, WORKER_HOST_CALL_COST) },
  log(level, message) {
    respond(RESP.LOG, 0, Math.max(0, LOG_LEVELS.indexOf(level)), encodeUtf8(message));
  },
  registerCallback(eventName) {
    return REGISTER_OUTCOMES[hostCall(HOST_CALL.REGISTER, encodeUtf8(eventName)).code] ?? "denied";
  },
  emit(eventName, data) {
    const r = hostCall(HOST_CALL.EMIT, pack([encodeUtf8(eventName)], data));
    return r.code === 0 ? { ok: true, value: r.value } : { ok: false, error: MESSAGE_FAILURES[r.code - 1] ?? "denied" };
  },
  send(target, eventName, data) {
    const r = hostCall(HOST_CALL.SEND, pack([encodeUtf8(target), encodeUtf8(eventName)], data));
    return r.code === 0 ? { ok: true, value: undefined } : { ok: false, error: MESSAGE_FAILURES[r.code - 1] ?? "denied" };
  },
  getConfig() {
    const r = hostCall(HOST_CALL.GET_CONFIG, new Uint8Array(0));
    return r.bytes ? decodeUtf8(r.bytes) : "";
  },
  getConfigValue(key) {
    const r = hostCall(HOST_CALL.GET_CONFIG_VALUE, encodeUtf8(key));
    return r.code === 1 ? decodeUtf8(r.bytes ?? new Uint8Array(0)) : undefined;
  },
  // [kind u8][count u8] then name, help and the label names, length-prefixed (the imports bound the count to 16).
  defineMetric(kind, name, help, labelNames) {
    const fields = pack([name, help, ...labelNames].map(encodeUtf8));
    const payload = new Uint8Array(2 + fields.length);
    payload[0] = METRIC_KIND_CODE[kind];
    payload[1] = labelNames.length;
    payload.set(fields, 2);
    const r = hostCall(HOST_CALL.DEFINE_METRIC, payload);
    return r.code === 0 ? { ok: true, value: r.value } : { ok: false, error: METRIC_ERRORS[r.code - 1] ?? "denied" };
  },
  // [id u32][value f64][count u8] then the label values, length-prefixed.
  recordMetric(id, value, labelValues) {
    const fields = pack(labelValues.map(encodeUtf8));
    const payload = new Uint8Array(13 + fields.length);
    const dv = new DataView(payload.buffer);
    dv.setUint32(0, id, true);
    dv.setFloat64(4, value, true);
    payload[12] = labelValues.length;
    payload.set(fields, 13);
    const r = hostCall(HOST_CALL.RECORD_METRIC, payload);
    return r.code === 0 ? { ok: true, value: undefined } : { ok: false, error: METRIC_ERRORS[r.code - 1] ?? "denied" };
  },
  // The guest's request blocks this thread until the host thread's (asynchronous) request settles.
  requestSync(target, eventName, data, timeoutMs) {
    const head = new Uint8Array(4);
    new DataView(head.buffer).setUint32(0, timeoutMs >>> 0, true);
    const fields = pack([head, encodeUtf8(target), encodeUtf8(eventName)], data);
    const r = hostCall(HOST_CALL.REQUEST, fields);
    return r.code === 0 ? { ok: true, value: r.bytes ?? new Uint8Array(0) } : { ok: false, error: REQUEST_ERRORS[r.code - 1] ?? "failed" };
  },
  currentMessage() {
    const r = hostCall(HOST_CALL.CURRENT_MESSAGE, new Uint8Array(0));
    return r.code === 1 && r.bytes ? (JSON.parse(decodeUtf8(r.bytes)) as MessageInfo) : undefined;
  },
  // The state and context calls: the host thread answers `denied` for a member its HostCalls lacks.
  stateGet(key) {
    const r = hostCall(HOST_CALL.STATE_GET, encodeUtf8(key));
    return stateAnswer(r, r.value === 1 ? (r.bytes ?? new Uint8Array(0)) : undefined);
  },
  stateSet(key, value) {
    return stateAnswer(hostCall(HOST_CALL.STATE_SET, pack([encodeUtf8(key)], value)), undefined);
  },
  stateDelete(key) {
    const r = hostCall(HOST_CALL.STATE_DELETE, encodeUtf8(key));
    return stateAnswer(r, r.value === 1);
  },
  stateExists(key) {
    const r = hostCall(HOST_CALL.STATE_EXISTS, encodeUtf8(key));
    return stateAnswer(r, r.value === 1);
  },
  stateListKeys(cursor, limit) {
    const c = cursor === undefined ? new Uint8Array(0) : encodeUtf8(cursor);
    const payload = new Uint8Array(5 + c.length);
    payload[0] = cursor === undefined ? 0 : 1;
    new DataView(payload.buffer).setUint32(1, limit >>> 0, true);
    payload.set(c, 5);
    const r = hostCall(HOST_CALL.STATE_LIST_KEYS, payload);
    if (r.code !== 0) return stateAnswer<KeyPage>(r, { keys: [] });
    const page = JSON.parse(decodeUtf8(r.bytes ?? new Uint8Array(0))) as { keys: string[]; cursor?: string };
    return { ok: true, value: page.cursor === undefined ? { keys: page.keys } : { keys: page.keys, cursor: page.cursor } };
  },
  stateIncrement(key, delta) {
    const k = encodeUtf8(key);
    const payload = new Uint8Array(8 + k.length);
    new DataView(payload.buffer).setBigInt64(0, delta, true);
    payload.set(k, 8);
    const r = hostCall(HOST_CALL.STATE_INCREMENT, payload);
    const b = r.bytes;
    return stateAnswer(r, b && b.length === 8 ? new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true) : 0n);
  },
  stateCompareAndSwap(key, expected, value) {
    const fields = pack([encodeUtf8(key), expected ?? new Uint8Array(0)], value);
    const payload = new Uint8Array(1 + fields.length);
    payload[0] = expected === undefined ? 0 : 1;
    payload.set(fields, 1);
    const r = hostCall(HOST_CALL.STATE_CAS, payload);
    return stateAnswer(r, r.value === 1);
  },
  contextGet(key) {
    const r = hostCall(HOST_CALL.CONTEXT_GET, encodeUtf8(key));
    return contextAnswer(r, r.value === 1 ? decodeUtf8(r.bytes ?? new Uint8Array(0)) : undefined);
  },
  contextSet(key, value) {
    return contextAnswer(hostCall(HOST_CALL.CONTEXT_SET, pack([encodeUtf8(key)], encodeUtf8(value))), undefined);
  },
};

/** A state host call's reply: `value` when ok (code 0), else the state-error 1 + code names. */
function stateAnswer<T>(r: { code: number }, value: T): StateOutcome<T> {
  return r.code === 0 ? { ok: true, value } : { ok: false, error: STATE_ERRORS[r.code - 1] ?? "unavailable" };
}

function contextAnswer<T>(r: { code: number }, value: T): ContextOutcome<T> {
  return r.code === 0 ? { ok: true, value } : { ok: false, error: CONTEXT_ERRORS[r.code - 1] ?? "denied" };
}

function onViolation(kind: ViolationKind, detail: string, usage?: ResourceUsage): void {
  // A resource breach's figures travel after a NUL (a detail never holds one: it is made here, not by the guest).
  const text = usage ? `${detail.replaceAll("\0", "")}\0${JSON.stringify(usage)}` : detail;
  respond(RESP.VIOLATION, 0, VIOLATION_KINDS.indexOf(kind), encodeUtf8(text));
}

// ── serving calls ────────────────────────────────────────────────────────

type SyncInstance = EngineInstance &
  Pick<V8Instance, "initSync" | "teardownSync" | "onEventSync" | "onHookSync" | "suspendSync" | "resumeSync" | "configChangedSync" | "snapshotSync" | "restoreSync" | "callExportSync">;

const names = new Map<number, string>();
/** A deadline is in force: calls are stamped for the host's deadline timer. */
const timeCalls = setup.timeCalls;

function takePayload(): Uint8Array {
  if (requests.len === OVERFLOW) return (receiveMessageOnPort(setup.requestPort)?.message as Uint8Array | undefined) ?? new Uint8Array(0);
  const at = requests.payload;
  return requests.u8.subarray(at, at + requests.len);
}

function eventName(id: number): string {
  const name = names.get(id);
  if (name === undefined) throw new PluginTrap("dispatch", `the host used event name #${id} before defining it`, { plugin: setup.plugin });
  return name;
}

function serve(instance: SyncInstance): never {
  const f64 = views.f64;
  for (;;) {
    if (!requests.next()) {
      idle();
      continue;
    }
    const op = requests.kind;
    const id = requests.id;
    if (op === OP.DEFINE_NAME) {
      names.set(requests.arg, decodeUtf8(takePayload()));
      requests.advance();
      continue;
    }
    if (op === OP.CLEAR_NAMES) {
      names.clear();
      requests.advance();
      continue;
    }
    if (op === OP.PROFILE) {
      const answer = profileOp(requests.arg);
      requests.advance();
      respond(RESP.PROFILE, id, 0, answer, true);
      continue;
    }
    if (timeCalls) {
      f64[F64.STARTED_AT] = timeOrigin + performance.now();
      Atomics.store(ctl, CTL.RUNNING, 1);
    }
    // The payload is a view into the ring: the record is handed back only after the call.
    let status = 0;
    let hook: HookOutcome | undefined;
    let answer: Uint8Array | undefined;
    let failure: unknown;
    let failed = false;
    try {
      if (op === OP.EVENT) status = instance.onEventSync(eventName(requests.arg), takePayload());
      else if (op === OP.HOOK) hook = instance.onHookSync(eventName(requests.arg), takePayload());
      else if (op === OP.INIT) {
        const payload = takePayload();
        status = instance.initSync(decodeUtf8(payload.subarray(0, requests.arg)), decodeUtf8(payload.subarray(requests.arg)));
      } else if (op === OP.TEARDOWN) status = instance.teardownSync();
      else if (op === OP.SUSPEND) status = instance.suspendSync();
      else if (op === OP.RESUME) status = instance.resumeSync();
      else if (op === OP.CONFIG_CHANGED) status = instance.configChangedSync(decodeUtf8(takePayload()));
      else if (op === OP.SNAPSHOT) answer = instance.snapshotSync();
      else if (op === OP.RESTORE) status = instance.restoreSync(takePayload().slice());
      else if (op === OP.CALL_EXPORT) {
        const [iface, fn, args] = deserialize(takePayload()) as [string, string, unknown[]];
        answer = serialize(instance.callExportSync(iface, fn, args));
      }
      else throw new PluginTrap("dispatch", `unknown request op ${op}`, { plugin: setup.plugin });
    } catch (err) {
      failed = true;
      failure = err;
    }
    finishCall(instance);
    // Handed back just before the answer is published: both cells share a cache line, which then crosses once.
    requests.advance();
    if (failed) respondError(id, failure);
    else if (answer !== undefined) respond(RESP.BYTES, id, 0, answer, true);
    else if (hook === undefined) respond(RESP.STATUS, id, status);
    else if (hook.ok) respond(RESP.HOOK_OK, id, 0, hook.data);
    else respond(RESP.HOOK_ERR, id, hook.status);
  }
}

let lastFuel: (() => number) | undefined;
let lifetimeFuel: (() => number) | undefined;

// ── profiling (observability/profile.ts) ─────────────────────────────────

let profiling: { session: Session; timeline: GuestTimeline; offsetUs: number } | undefined;

/** A DevTools protocol command on this thread's own inspector session: its answer comes back before `post` returns. */
function post(session: Session, method: string, params?: object): unknown {
  let answer: unknown;
  let failure: Error | null = null;
  session.post(method, params ?? {}, (err, result) => {
    failure = err;
    answer = result;
  });
  if (failure) throw failure;
  return answer;
}

/**
 * OP.PROFILE: `interval` > 0 starts V8's CPU profiler on this thread (every `interval` µs) and the guest timeline;
 * 0 stops both and answers `{ profile, timeline, offsetUs }` as JSON. A failure answers `{ error }`.
 */
function profileOp(interval: number): Uint8Array {
  try {
    if (interval > 0) {
      if (profiling) throw new Error("a profile is already running in this worker");
      const session = new Session();
      session.connect();
      post(session, "Profiler.enable");
      post(session, "Profiler.setSamplingInterval", { interval });
      post(session, "Profiler.start");
      profiling = { session, timeline: startTimeline(), offsetUs: Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000 };
      return encodeUtf8("{}");
    }
    const p = profiling;
    if (!p) throw new Error("no profile is running in this worker");
    profiling = undefined;
    const { profile } = post(p.session, "Profiler.stop") as { profile: unknown };
    stopTimeline(p.timeline);
    p.session.disconnect();
    return encodeUtf8(JSON.stringify({ profile, timeline: p.timeline, offsetUs: p.offsetUs }));
  } catch (err) {
    return encodeUtf8(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
  }
}

function finishCall(instance: SyncInstance): void {
  if (timeCalls) Atomics.store(ctl, CTL.RUNNING, 0);
  // Field reads, no crossing into Wasm: the figures the meter kept at endCall, and memory as GuestMemory's cached view's length.
  if (lastFuel) views.f64[F64.LAST_FUEL] = lastFuel.call(instance);
  if (lifetimeFuel) views.f64[F64.LIFETIME_FUEL] = lifetimeFuel.call(instance);
  views.f64[F64.MEMORY_BYTES] = instance.memoryBytes?.() ?? 0;
}

/** Nothing to do: spin a little (cheap wake-up for back-to-back calls), then sleep until the host writes. */
function idle(): void {
  const until = Atomics.load(bell, BELL.SPIN_OK) !== 0 ? performance.now() + IDLE_SPIN_MS : 0;
  let n = 0;
  while (!requests.pending()) {
    if ((until === 0 || (++n & 255) === 0) && performance.now() > until) {
      Atomics.store(ctl, CTL.WORKER_SLEEPING, 1);
      const head = Atomics.load(ctl, CTL.REQ_HEAD);
      if (!requests.pending()) Atomics.wait(ctl, CTL.REQ_HEAD, head);
      Atomics.store(ctl, CTL.WORKER_SLEEPING, 0);
      return;
    }
  }
}

type Instantiate = (source: unknown, imports?: WebAssembly.Imports) => Promise<unknown>;
type Compile = (bytes: BufferSource) => Promise<WebAssembly.Module>;

function toBytes(source: BufferSource): Uint8Array {
  return ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength) : new Uint8Array(source);
}

/**
 * Stamp, like a call, each core instantiation that runs guest code: one with a
 * start function (jco runs the reactor's `_initialize`, hence C constructors,
 * from a shim's start function). Only those spans count towards the deadline
 * while loading. Booting the worker, importing the glue, compiling and the
 * other instantiations run no guest code, and V8's own work in them took 170 ms
 * and more on a loaded machine; counting it failed good loads. A module compiled
 * where this cannot see is timed, to be safe; the host says which of the
 * modules it compiled have a start section. The wrappers live in this
 * worker's own realm; the returned function removes them once loaded.
 */
function timeInstantiation(): () => void {
  const wasm = WebAssembly as unknown as {
    instantiate: Instantiate;
    compile: Compile;
    Module: typeof WebAssembly.Module;
    Instance: typeof WebAssembly.Instance;
  };
  const { instantiate, compile, Module, Instance } = wasm;
  const withoutStart = new WeakSet<WebAssembly.Module>(setup.component.modules.filter((m) => !m.hasStart).map((m) => m.module));
  const seen = (module: WebAssembly.Module, bytes: BufferSource): WebAssembly.Module => {
    if (!hasStartSection(toBytes(bytes))) withoutStart.add(module);
    return module;
  };
  let depth = 0;
  const enter = (module: unknown): boolean => {
    if (module instanceof Module && withoutStart.has(module)) return false;
    if (depth++ === 0) {
      views.f64[F64.STARTED_AT] = timeOrigin + performance.now();
      Atomics.store(ctl, CTL.RUNNING, 1);
    }
    return true;
  };
  const leave = (): void => {
    if (--depth === 0) Atomics.store(ctl, CTL.RUNNING, 0);
  };
  const timed = (module: WebAssembly.Module, imports?: WebAssembly.Imports): Promise<unknown> => {
    if (!enter(module)) return instantiate.call(WebAssembly, module, imports);
    let pending: Promise<unknown>;
    try {
      pending = instantiate.call(WebAssembly, module, imports);
    } catch (err) {
      leave();
      throw err;
    }
    return pending.finally(leave);
  };
  wasm.Module = new Proxy(Module, {
    construct(target, args, newTarget) {
      return seen(Reflect.construct(target, args, newTarget) as WebAssembly.Module, args[0] as BufferSource);
    },
  });
  wasm.compile = (bytes) => compile.call(WebAssembly, bytes).then((module) => seen(module, bytes));
  wasm.instantiate = (source, imports) => {
    if (source instanceof Module) return timed(source, imports);
    // From bytes: compile (not guest code), then time the instantiation alone.
    return wasm.compile(source as BufferSource).then(async (module) => ({ module, instance: await timed(module, imports) }));
  };
  wasm.Instance = new Proxy(Instance, {
    construct(target, args, newTarget) {
      const timing = enter(args[0]);
      try {
        return Reflect.construct(target, args, newTarget) as object;
      } finally {
        if (timing) leave();
      }
    },
  });
  return () => {
    Object.assign(wasm, { instantiate, compile, Module, Instance });
  };
}

/**
 * An app interface function as the worker's trampolines call it: the JS arguments cross to the host thread, which
 * runs the bound function (awaiting a Promise: this thread waits) and sends its value back.
 */
function ifaceCall(id: string, fn: string, args: unknown[]): unknown {
  const r = hostCall(HOST_CALL.IFACE, serialize([id, fn, args]));
  const bytes = r.bytes ?? new Uint8Array(0);
  if (r.code === 0) return deserialize(bytes);
  let failure: { name?: string; message?: string } = {};
  try {
    failure = JSON.parse(decodeUtf8(bytes)) as { name?: string; message?: string };
  } catch {
    // an unreadable error: reported as such below
  }
  // The trampoline wraps it: the guest's call ends in a PluginTrap with this as cause.
  throw Object.assign(new Error(failure.message ?? "the host's implementation failed"), { name: failure.name ?? "Error" });
}

function interfaceBindings(): InterfaceBindings | undefined {
  const s = setup.interfaces;
  if (!s) return undefined;
  const imports = new Map<string, ImportBinding>(
    s.imports.map(([id, iface, fns]) => [id, { iface, importedAs: id, functions: new Map(fns.map((fn) => [fn, (args: unknown[]) => ifaceCall(id, fn, args)])) }]),
  );
  return { imports, exports: new Map(s.exports) };
}

async function main(): Promise<void> {
  let instance: EngineInstance;
  const untime = timeCalls ? timeInstantiation() : undefined;
  try {
    instance = await instantiatePrepared(setup.component, {
      plugin: setup.plugin,
      entryPath: setup.entryPath,
      capabilities: setup.capabilities,
      limits: setup.limits,
      host,
      onViolation,
      interfaces: interfaceBindings(),
    });
  } catch (err) {
    respondError(0, err);
    return;
  } finally {
    untime?.();
  }
  const sync = instance as SyncInstance;
  if (typeof sync.onEventSync !== "function" || typeof sync.initSync !== "function") {
    respondError(0, new PluginTrap("load", "the in-process v8 engine offered no synchronous call path", { plugin: setup.plugin }));
    return;
  }
  lastFuel = typeof instance.lastCallFuel === "function" && (setup.limits.fuel !== undefined || setup.limits.fuelLifetime !== undefined) ? instance.lastCallFuel : undefined;
  // Present once the engine reports lifetime fuel; looked up structurally so either version works.
  const lifetime = (instance as { lifetimeFuel?: () => number }).lifetimeFuel;
  lifetimeFuel = typeof lifetime === "function" ? lifetime : undefined;
  respond(
    RESP.LOADED,
    0,
    (sync.onSuspend ? LOADED_FLAGS.ON_SUSPEND : 0) |
      (sync.onResume ? LOADED_FLAGS.ON_RESUME : 0) |
      (sync.onConfigChanged ? LOADED_FLAGS.ON_CONFIG_CHANGED : 0) |
      (sync.snapshot && sync.restore ? LOADED_FLAGS.HANDOFF : 0),
  );
  serve(sync);
}

void main();
