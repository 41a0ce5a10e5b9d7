/**
 * `isolation: "worker"` on the v8 engine, host side. Each plugin instance runs
 * in its own worker thread (worker/entry.ts) and is driven through the
 * shared-memory channel (worker/channel.ts): a call is a ring record plus an
 * `Atomics.store`, not a postMessage. One process-wide pump drains every
 * worker's responses: it spins briefly while answers are due (they usually
 * come back within microseconds), then sleeps in `Atomics.waitAsync` on a
 * doorbell the workers ring, so the event loop is never held for long.
 *
 * Deadlines: the worker stamps each call's start; a per-instance timer checks
 * it and, past `limits.deadlineMs`, terminates the worker. The call rejects
 * with DeadlineExceeded and the instance is faulted, so the registry's
 * recovery path starts a fresh worker (the plugin's state is lost).
 * Loading is bounded the same way: the worker stamps the guest's start-up code
 * (core instantiation), and a start-up past the deadline kills the worker and
 * fails the load with DeadlineExceeded (export `instantiate`, as on wasmtime).
 */
import { existsSync } from "node:fs";
import { deserialize, serialize } from "node:v8";
import { isThenable } from "../../../interfaces/abi-runtime.js";
import type { InterfaceBindings, WitInterface } from "../../../interfaces/types.js";
import { availableParallelism } from "node:os";
import { SpinScore } from "../../spin-score.js";
import { fileURLToPath } from "node:url";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import {
  ContextCreationFailed,
  DeadlineExceeded,
  InterfaceUnavailable,
  InterfaceValueError,
  isInstanceFault,
  PluginCrashed,
  PluginTrap,
  type PlughostError,
} from "../../../contract/errors.js";
import {
  LOG_LEVELS,
  type EngineInstance,
  type HookOutcome,
  type HostCalls,
  type LoadRequest,
  type MessageFailure,
  type RegisterOutcome,
  type RequestOutcome,
  type ContextError,
  type ContextOutcome,
  type StateError,
  type StateOutcome,
  type ViolationKind,
  type ResourceUsage,
} from "../../engine.js";
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
  REPLY_BYTES,
  RESP,
  copyInto,
  decodeUtf8,
  encodeUtf8,
  type RingReader,
  type RingWriter,
  type WorkerSetup,
} from "./channel.js";
import { reviveError, serializeError, type SerializedError } from "./errors.js";
import { CONTEXT_ERRORS, MESSAGE_ERRORS, METRIC_ERRORS, METRIC_KINDS, REGISTER_ERRORS, REQUEST_ERRORS, STATE_ERRORS } from "../../../contract/abi.js";
import type { PreparedComponent } from "../engine.js";
import { hostCallBounds } from "../../../runtime/host-calls.js";
import { currentDelivery, withDelivery, type Delivery } from "../../../runtime/message-chain.js";

const EXPORTS = {
  load: "load",
  init: "plughost:plugin/guest#init",
  teardown: "plughost:plugin/guest#teardown",
  onEvent: "plughost:plugin/guest#on-event",
  onHook: "plughost:plugin/guest#on-hook",
  onSuspend: "plughost:plugin/lifecycle#on-suspend",
  onResume: "plughost:plugin/lifecycle#on-resume",
  onConfigChanged: "plughost:plugin/config-watch#on-config-changed",
  snapshot: "plughost:plugin/handoff#snapshot",
  restore: "plughost:plugin/handoff#restore",
} as const;

const REGISTER_OUTCOMES: readonly RegisterOutcome[] = ["ok", ...REGISTER_ERRORS];
const MESSAGE_FAILURES: readonly MessageFailure[] = MESSAGE_ERRORS;
const VIOLATION_KINDS: readonly ViolationKind[] = ["fuel", "memory", "deadline", "capability", "trap", "crash", "quota", "resource"];
/** Interned event names per worker before the table is reset. */
const MAX_NAMES = 4096;

// ── the worker entry file ────────────────────────────────────────────────

/**
 * The worker runs compiled JS. From `dist/` it is a sibling file; when this
 * module runs from TypeScript sources (vitest), it is the built copy in `dist/`.
 */
export function workerEntryPath(): string {
  const here = import.meta.url;
  const url = here.endsWith(".ts") ? new URL("../../../../dist/engines/v8/worker/entry.js", here) : new URL("./entry.js", here);
  return fileURLToPath(url);
}

let liveWorkers = 0;
/** Worker threads started by this module that have not exited yet. */
export function liveWorkerCount(): number {
  return liveWorkers;
}

// ── the pump: one per process, drains every busy worker ─────────────────

type WaitAsync = (
  typed: Int32Array,
  index: number,
  value: number,
) => { async: false; value: "not-equal" | "timed-out" } | { async: true; value: Promise<"ok" | "timed-out"> };
const atomics = Atomics as unknown as { waitAsync: WaitAsync };

/** How long the host thread spins for an answer before it blocks briefly on the doorbell. */
const HOST_SPIN_MS = 0.02;
/**
 * Then it blocks in Atomics.wait for at most this long (a futex wait: it gives
 * the CPU to the worker on a loaded machine, unlike spinning), and after that it
 * sleeps in Atomics.waitAsync so the event loop runs.
 */
const HOST_BLOCK_MS = 0.1;
/** Longest run of back-to-back microtask drains before yielding to the event loop. */
const MAX_MICROTASK_STREAK_MS = 1;

class Pump {
  readonly bellBuffer = new SharedArrayBuffer(16);
  readonly #bell = new Int32Array(this.bellBuffer);
  /**
   * The instances drained: every one with calls in flight, and those gone idle since the last sweep. An array the
   * spin walks by index (a Set's iterator cost more than the drain); an instance leaves it at a sweep, not per call.
   */
  readonly #listed: WorkerInstance[] = [];
  /** Instances with calls in flight: the busy threads counted against the cores. */
  #busy = 0;
  #sweepPending = false;
  readonly #cores = availableParallelism();
  /** Mirrors the shared SPIN_OK cell: busy threads fit on the cores and spinning is not paused. */
  #spinOk = true;
  /**
   * Paused while most answers come only after the futex wait (a loaded machine), and tried again 20 ms later: a
   * short burst of preemption pauses it too, and each call of a paused stretch pays a futex wake (~16 µs on a loaded
   * 2-core VM against ~2.3 µs spinning), while a retry on a machine that is really full wastes ~16 short spins.
   */
  readonly #spin = new SpinScore(16, 0.5, 0.75, 20);
  #scheduled = false;
  #sleeping = false;
  #generation = 0;
  #streakStart = 0;
  /** The next run starts a streak (after the event loop had a turn). */
  #fresh = true;

  constructor() {
    Atomics.store(this.#bell, BELL.SPIN_OK, 1);
  }

  /** An instance's calls in flight went from none to some: it is drained, and counts as a busy thread. */
  enter(w: WorkerInstance): void {
    if (!w.listed) {
      w.listed = true;
      this.#listed.push(w);
    }
    this.#busy++;
    this.#updateSpin();
  }

  /** ... and back to none: it stays listed (and its thread referenced) until the sweep, so a next call toggles nothing. */
  leave(): void {
    this.#busy--;
    this.#updateSpin();
    if (this.#sweepPending) return;
    this.#sweepPending = true;
    setImmediate(this.#sweep);
  }

  /** A disposed or faulted instance is not drained again. */
  drop(w: WorkerInstance): void {
    if (!w.listed) return;
    w.listed = false;
    const list = this.#listed;
    const i = list.indexOf(w);
    const last = list.pop()!;
    if (i >= 0 && i < list.length) list[i] = last;
  }

  /** Once the event loop has had a turn: instances still idle are unlisted and stop keeping the process alive. */
  readonly #sweep = (): void => {
    this.#sweepPending = false;
    // The event loop had its turn: a call made from now on starts a new streak (no detour through setImmediate).
    this.#fresh = true;
    const list = this.#listed;
    for (let i = list.length - 1; i >= 0; i--) {
      const w = list[i]!;
      if (!w.sweep()) continue;
      w.listed = false;
      const last = list.pop()!;
      if (i < list.length) list[i] = last;
    }
  };

  #updateSpin(): void {
    const ok = this.#busy + 1 <= this.#cores && !this.#spin.paused;
    if (ok !== this.#spinOk) {
      this.#spinOk = ok;
      Atomics.store(this.#bell, BELL.SPIN_OK, ok ? 1 : 0);
    }
  }

  /** A call was submitted: make sure a drain is coming. */
  kick(): void {
    if (this.#sleeping) this.#wakeSelf();
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#run);
  }

  #spinResult(hit: boolean): void {
    if (this.#spin.result(hit)) this.#updateSpin();
  }

  /** Every listed instance drained once; how many calls completed. */
  #drainAll(): number {
    const list = this.#listed;
    let delivered = 0;
    for (let i = 0; i < list.length; i++) delivered += list[i]!.drain();
    return delivered;
  }

  /**
   * Runs as a microtask while the current streak is short, else after the event loop had a turn: so even a caller
   * awaiting worker calls in a tight loop cannot starve timers (deadlines among them) for more than ~1 ms. The
   * streak is judged by the clock reading the run takes anyway.
   */
  readonly #run = (): void => {
    const started = performance.now();
    if (this.#fresh) {
      this.#fresh = false;
      this.#streakStart = started;
    } else if (started - this.#streakStart > MAX_MICROTASK_STREAK_MS) {
      // Still scheduled: kicks meanwhile queue nothing more.
      this.#fresh = true;
      setImmediate(this.#run);
      return;
    }
    this.#scheduled = false;
    if (this.#spin.resume(started)) this.#updateSpin();
    const spinning = this.#spinOk;
    let blocked = false;
    let spins = 0;
    for (;;) {
      const delivered = this.#drainAll();
      if (delivered > 0 && spinning && !blocked) this.#spinResult(true);
      if (this.#busy === 0) return;
      if (delivered > 0) {
        // Let the callers' reactions run (they may submit more calls), then come back.
        this.#scheduled = true;
        queueMicrotask(this.#run);
        return;
      }
      if (blocked) break;
      // The clock is read every 16th round: a round is a few loads, a clock reading cost more than one.
      if (!spinning || ((++spins & 15) === 0 && performance.now() - started > HOST_SPIN_MS)) {
        if (spinning) this.#spinResult(false);
        this.#blockBriefly();
        blocked = true;
      }
    }
    this.#sleep();
  };

  #anyWork(): boolean {
    const list = this.#listed;
    for (let i = 0; i < list.length; i++) if (list[i]!.hasWork()) return true;
    return false;
  }

  /** A short blocking wait on the doorbell: a worker that answers rings it. */
  #blockBriefly(): void {
    Atomics.store(this.#bell, BELL.HOST_SLEEPING, 1);
    const seen = Atomics.load(this.#bell, BELL.DOORBELL);
    if (!this.#anyWork()) Atomics.wait(this.#bell, BELL.DOORBELL, seen, HOST_BLOCK_MS);
    Atomics.store(this.#bell, BELL.HOST_SLEEPING, 0);
  }

  #sleep(): void {
    const generation = ++this.#generation;
    this.#sleeping = true;
    Atomics.store(this.#bell, BELL.HOST_SLEEPING, 1);
    const seen = Atomics.load(this.#bell, BELL.DOORBELL);
    if (this.#anyWork()) {
      this.#wakeSelf();
      this.kick();
      return;
    }
    const resume = () => {
      if (generation !== this.#generation) return;
      this.#sleeping = false;
      Atomics.store(this.#bell, BELL.HOST_SLEEPING, 0);
      this.#fresh = true;
      this.#run();
    };
    const wait = atomics.waitAsync(this.#bell, BELL.DOORBELL, seen);
    if (wait.async) void wait.value.then(resume);
    else queueMicrotask(resume);
  }

  /** Abandon the current sleep; its waitAsync is released so waiters never pile up. */
  #wakeSelf(): void {
    this.#sleeping = false;
    this.#generation++;
    Atomics.store(this.#bell, BELL.HOST_SLEEPING, 0);
    Atomics.add(this.#bell, BELL.DOORBELL, 1);
    Atomics.notify(this.#bell, BELL.DOORBELL);
  }
}

let pump: Pump | undefined;
const thePump = () => (pump ??= new Pump());

// ── one worker-isolated instance ─────────────────────────────────────────

interface Backlogged {
  op: number;
  id: number;
  arg: number;
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** The live worker instances by plugin name, for the profiler (observability/profile.ts) to reach a plugin's worker. */
export const workersByPlugin = new Map<string, Set<WorkerInstance>>();

export class WorkerInstance implements EngineInstance {
  /** Calls go through the worker's ring in order, so the registry may pipeline them. */
  readonly ordered = true;
  readonly #plugin: string;
  readonly #host: HostCalls;
  readonly #interfaces: InterfaceBindings | undefined;
  readonly #onViolation: LoadRequest["onViolation"];
  readonly #deadlineMs: number | undefined;
  readonly #views: ChannelViews;
  readonly #requests: RingWriter;
  readonly #responses: RingReader;
  readonly #requestPort: MessagePort;
  readonly #responsePort: MessagePort;
  readonly #replyPort: MessagePort;
  readonly #pump = thePump();
  /** The worker's ends of the three ports, transferred at spawn. */
  readonly #channelPorts: MessagePort[];
  #worker: Worker | undefined;
  #exited: Promise<void> | undefined;
  #workerError: unknown;

  // Calls in flight, in submission order (the worker answers in order).
  #resolvers: ((value: never) => void)[] = [];
  #rejecters: ((err: PlughostError) => void)[] = [];
  #exportsInFlight: string[] = [];
  /** The message chain each call in flight was issued in: its host calls (emit, send) belong to it. */
  #deliveries: (Delivery | undefined)[] = [];
  #head = 0;
  #nextId = 1;
  #backlog: Backlogged[] = [];
  #names = new Map<string, number>();
  #fault: PlughostError | undefined;
  #disposed = false;
  #timer: NodeJS.Timeout | undefined;
  /** Calls in flight (busy for the pump, the worker referenced). */
  #inFlight = false;
  /** Whether the worker thread keeps the host process alive: from its start, until a sweep finds the instance idle. */
  #referenced = true;
  /** In the pump's list of drained instances (the pump's field). @internal */
  listed = false;

  private constructor(request: LoadRequest) {
    this.#plugin = request.plugin;
    this.#host = request.host;
    this.#interfaces = request.interfaces;
    this.#onViolation = request.onViolation;
    this.#deadlineMs = request.limits.deadlineMs;
    const buffer = ChannelViews.allocate();
    this.#views = new ChannelViews(buffer);
    this.#requests = this.#views.requestWriter();
    this.#responses = this.#views.responseReader();
    const req = new MessageChannel();
    const resp = new MessageChannel();
    const reply = new MessageChannel();
    this.#requestPort = req.port1;
    this.#responsePort = resp.port1;
    this.#replyPort = reply.port1;
    this.#channelPorts = [req.port2, resp.port2, reply.port2];
  }

  /** Spawn the worker and wait until it has loaded the plugin. */
  static async start(request: LoadRequest, component: PreparedComponent): Promise<WorkerInstance> {
    const instance = new WorkerInstance(request);
    const [requestPort, responsePort, replyPort] = instance.#channelPorts as [MessagePort, MessagePort, MessagePort];
    const { fuel, fuelLifetime, memoryBytes, tableElements, openFiles, connections, fsWriteBytes } = request.limits;
    const setup: WorkerSetup = {
      plugin: request.plugin,
      entryPath: request.entryPath,
      component,
      capabilities: request.capabilities,
      limits: { fuel, fuelLifetime, memoryBytes, tableElements, openFiles, connections, fsWriteBytes },
      bounds: hostCallBounds(request.host),
      timeCalls: request.limits.deadlineMs !== undefined,
      ...(request.interfaces
        ? {
            interfaces: {
              imports: [...request.interfaces.imports].map(([id, b]): [string, WitInterface, string[]] => [id, b.iface, [...b.functions.keys()]]),
              exports: [...request.interfaces.exports],
            },
          }
        : {}),
      channel: instance.#views.buffer,
      bell: instance.#pump.bellBuffer,
      requestPort,
      responsePort,
      replyPort,
    };
    const loaded = instance.#expect<number>(EXPORTS.load);
    loaded.catch(() => undefined); // awaited below; a spawn failure must not leave it unhandled
    try {
      instance.#spawn(setup);
      // The worker tells which optional lifecycle exports the guest has: only those become methods.
      const flags = await loaded;
      if (request.interfaces && request.interfaces.exports.size > 0) {
        instance.callExport = (iface, fn, args) => {
          let payload: Uint8Array;
          try {
            payload = serialize([iface, fn, args]);
          } catch (err) {
            return Promise.reject(
              new InterfaceValueError(iface, fn, "", "host", `the arguments cannot be copied to the plugin's worker: ${(err as Error).message}`, { plugin: request.plugin }),
            );
          }
          return instance.#call<Uint8Array>(OP.CALL_EXPORT, 0, payload, `${iface}#${fn}`).then((bytes) => deserialize(bytes));
        };
      }
      if (flags & LOADED_FLAGS.ON_SUSPEND) instance.onSuspend = () => instance.#call<number>(OP.SUSPEND, 0, EMPTY, EXPORTS.onSuspend);
      if (flags & LOADED_FLAGS.ON_RESUME) instance.onResume = () => instance.#call<number>(OP.RESUME, 0, EMPTY, EXPORTS.onResume);
      if (flags & LOADED_FLAGS.ON_CONFIG_CHANGED) {
        instance.onConfigChanged = (configJson) => instance.#call<number>(OP.CONFIG_CHANGED, 0, encodeUtf8(configJson), EXPORTS.onConfigChanged);
      }
      if (flags & LOADED_FLAGS.HANDOFF) {
        instance.snapshot = () => instance.#call<Uint8Array>(OP.SNAPSHOT, 0, EMPTY, EXPORTS.snapshot);
        instance.restore = (data) => instance.#call<number>(OP.RESTORE, 0, data, EXPORTS.restore);
      }
    } catch (err) {
      await instance.dispose();
      throw err;
    }
    let live = workersByPlugin.get(request.plugin);
    if (!live) workersByPlugin.set(request.plugin, (live = new Set()));
    live.add(instance);
    return instance;
  }

  #spawn(setup: WorkerSetup): void {
    const entry = workerEntryPath();
    if (!existsSync(entry)) {
      throw new ContextCreationFailed(`the worker entry ${entry} is missing; run \`npm run build\` to compile it`, { plugin: this.#plugin });
    }
    const worker = new Worker(entry, {
      workerData: setup,
      transferList: this.#channelPorts,
      name: `plughost:${this.#plugin}`,
    } as ConstructorParameters<typeof Worker>[1]);
    liveWorkers++;
    this.#worker = worker;
    worker.on("error", (err) => {
      this.#workerError = err;
    });
    this.#exited = new Promise((resolve) => {
      worker.once("exit", (code) => {
        liveWorkers--;
        this.#onExit(code);
        resolve();
      });
    });
  }

  // ── the engine contract ──

  init(apiVersion: string, configJson: string): Promise<number> {
    const a = encodeUtf8(apiVersion);
    const c = encodeUtf8(configJson);
    const payload = new Uint8Array(a.length + c.length);
    payload.set(a, 0);
    payload.set(c, a.length);
    return this.#call<number>(OP.INIT, a.length, payload, EXPORTS.init);
  }

  teardown(): Promise<number> {
    return this.#call<number>(OP.TEARDOWN, 0, EMPTY, EXPORTS.teardown);
  }

  /** `lifecycle.on-suspend` / `on-resume`: set once the worker reported that the guest exports them. */
  onSuspend?: () => Promise<number>;
  onResume?: () => Promise<number>;
  /** The optional `config-watch` and `handoff` exports: set once the worker reported that the guest exports them. */
  onConfigChanged?: (configJson: string) => Promise<number>;
  snapshot?: () => Promise<Uint8Array>;
  restore?: (data: Uint8Array) => Promise<number>;

  /** A typed export (set when the host expects typed exports): runs in the worker as every call does. */
  callExport?: (iface: string, fn: string, args: readonly unknown[]) => Promise<unknown>;

  onEvent(eventName: string, data: Uint8Array): Promise<number> {
    return this.#call<number>(OP.EVENT, this.#nameId(eventName), data, EXPORTS.onEvent);
  }

  /** `onEvent(...).then(undefined, onRejected)` with one promise: the registry's awaited call takes this. */
  onEventCatch(eventName: string, data: Uint8Array, onRejected: (err: unknown) => number): Promise<number> {
    return this.#call<number>(OP.EVENT, this.#nameId(eventName), data, EXPORTS.onEvent, onRejected);
  }

  onHook(eventName: string, data: Uint8Array): Promise<HookOutcome> {
    return this.#call<HookOutcome>(OP.HOOK, this.#nameId(eventName), data, EXPORTS.onHook);
  }

  /**
   * Start (`intervalUs` > 0) or stop (0) V8's CPU profiler in the worker, in order with the calls
   * (observability/profile.ts); the answer is the worker's JSON.
   */
  profile(intervalUs: number): Promise<Uint8Array> {
    return this.#call<Uint8Array>(OP.PROFILE, intervalUs, EMPTY, "profile");
  }

  lastCallFuel(): number {
    return this.#views.f64[F64.LAST_FUEL]!;
  }

  /** As of the end of the last call (the worker publishes it with the fuel figures). */
  memoryBytes(): number {
    return this.#views.f64[F64.MEMORY_BYTES]!;
  }

  lifetimeFuel(): number {
    return this.#views.f64[F64.LIFETIME_FUEL]!;
  }

  /**
   * The thread running this instance, while one runs. Only for fault injection
   * (test/fault-worker.test.ts ends it from outside, as a crash would).
   * @internal
   */
  get thread(): Worker | undefined {
    return this.#worker;
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const live = workersByPlugin.get(this.#plugin);
    live?.delete(this);
    if (live?.size === 0) workersByPlugin.delete(this.#plugin);
    this.#fault ??= new PluginTrap("dispose", "instance disposed", { plugin: this.#plugin });
    this.#failAll(this.#fault);
    await this.#terminate();
    this.#requestPort.close();
    this.#responsePort.close();
    this.#replyPort.close();
  }

  // ── submitting calls ──

  /** A call; with `onRejected`, its promise settles as `.then(undefined, onRejected)` would (in the same microtask turn). */
  #call<T>(op: number, arg: number, payload: Uint8Array, exportName: string, onRejected?: (err: unknown) => T): Promise<T> {
    if (this.#fault) return onRejected === undefined ? Promise.reject(this.#fault) : Promise.reject(this.#fault).then(undefined, onRejected);
    const id = this.#nextId++ | 0;
    const promise = this.#expect<T>(exportName, onRejected);
    this.#enqueue(op, id, arg, payload);
    return promise;
  }

  /** Register the next answer's promise (answers come back in submission order). */
  #expect<T>(exportName: string, onRejected?: (err: unknown) => T): Promise<T> {
    const idle = this.#head === this.#resolvers.length;
    const promise = new Promise<T>((resolve, reject) => {
      this.#resolvers.push(resolve as (value: never) => void);
      this.#rejecters.push(onRejected === undefined ? reject : (err) => queueMicrotask(() => settleCaught(resolve, reject, onRejected, err)));
    });
    this.#exportsInFlight.push(exportName);
    this.#deliveries.push(currentDelivery());
    if (idle) this.#busy();
    this.#pump.kick();
    return promise;
  }

  #enqueue(op: number, id: number, arg: number, payload: Uint8Array): void {
    if (this.#backlog.length === 0 && this.#write(op, id, arg, payload)) {
      this.#requests.publish();
      this.#wakeWorker();
      return;
    }
    // Ring full: keep a copy (the caller may reuse its buffer) and send it as the worker catches up.
    this.#backlog.push({ op, id, arg, payload: payload.slice() });
  }

  #write(op: number, id: number, arg: number, payload: Uint8Array): boolean {
    const len = payload.length;
    if (len > INLINE_MAX) {
      if (this.#requests.reserve(op, id, arg, OVERFLOW) < 0) return false;
      this.#requestPort.postMessage(payload);
      return true;
    }
    const at = this.#requests.reserve(op, id, arg, len);
    if (at < 0) return false;
    copyInto(this.#requests.u8, at, payload);
    return true;
  }

  #flushBacklog(): void {
    let sent = 0;
    while (sent < this.#backlog.length) {
      const b = this.#backlog[sent]!;
      if (!this.#write(b.op, b.id, b.arg, b.payload)) break;
      sent++;
    }
    if (sent === 0) return;
    this.#backlog.splice(0, sent);
    this.#requests.publish();
    this.#wakeWorker();
  }

  #wakeWorker(): void {
    const ctl = this.#views.ctl;
    // The first wake clears the flag: requests published until the worker is up notify no more (it reads them all before it sleeps again).
    if (Atomics.load(ctl, CTL.WORKER_SLEEPING) !== 0 && Atomics.exchange(ctl, CTL.WORKER_SLEEPING, 0) !== 0) Atomics.notify(ctl, CTL.REQ_HEAD, 1);
  }

  /** Event names cross once, as numbered definitions; calls then carry the number. */
  #nameId(name: string): number {
    let id = this.#names.get(name);
    if (id === undefined) {
      if (this.#names.size >= MAX_NAMES) {
        this.#names.clear();
        this.#enqueue(OP.CLEAR_NAMES, 0, 0, EMPTY);
      }
      id = this.#names.size + 1;
      this.#names.set(name, id);
      this.#enqueue(OP.DEFINE_NAME, 0, id, encodeUtf8(name));
    }
    return id;
  }

  // ── receiving answers (called by the pump) ──

  /** True when the worker has written something the host has not read yet. */
  hasWork(): boolean {
    return this.#responses.pending();
  }

  /** A violation from the worker; a resource breach carries its figures after a NUL (entry.ts `onViolation`). */
  #violation(kind: ViolationKind, text: string): void {
    const nul = text.indexOf("\0");
    if (nul < 0 || kind !== "resource") return void this.#onViolation?.(kind, text);
    let usage: ResourceUsage | undefined;
    try {
      const u = JSON.parse(text.slice(nul + 1)) as Partial<ResourceUsage>;
      if (typeof u.resource === "string" && typeof u.used === "number" && typeof u.limit === "number") usage = { resource: u.resource, used: u.used, limit: u.limit };
    } catch {
      usage = undefined;
    }
    this.#onViolation?.(kind, text.slice(0, nul), usage);
  }

  /** Handle every record the worker has published; returns how many calls completed. */
  drain(): number {
    const r = this.#responses;
    let completed = 0;
    let read = 0;
    while (r.next()) {
      read++;
      const kind = r.kind;
      if (kind === RESP.LOG) this.#log(r.arg, this.#payload(r));
      else if (kind === RESP.HOST_CALL) this.#hostCall(r.arg, this.#payload(r));
      else if (kind === RESP.VIOLATION) this.#violation(VIOLATION_KINDS[r.arg] ?? "trap", decodeUtf8(this.#payload(r)));
      else {
        this.#complete(kind, r);
        completed++;
      }
      r.advance();
    }
    // A writer waiting for room sets its flag before it looks at the room: only a drain that freed some must look (not each spin round).
    if (read > 0 && Atomics.load(this.#views.ctl, CTL.RESP_WRITER_WAITING) !== 0) Atomics.notify(this.#views.ctl, CTL.RESP_TAIL, 1);
    if (this.#backlog.length) this.#flushBacklog();
    return completed;
  }

  /** The current record's payload: a view into the ring (valid until `advance`) or the port's message. */
  #payload(r: RingReader): Uint8Array {
    if (r.len === OVERFLOW) return (receiveMessageOnPort(this.#responsePort)?.message as Uint8Array | undefined) ?? EMPTY;
    return r.u8.subarray(r.payload, r.payload + r.len);
  }

  #complete(kind: number, r: RingReader): void {
    const i = this.#head;
    if (i >= this.#resolvers.length) return; // answers to calls already failed by a dispose
    const resolve = this.#resolvers[i]!;
    const reject = this.#rejecters[i]!;
    const exportName = this.#exportsInFlight[i]!;
    this.#head = i + 1;
    this.#retire();
    switch (kind) {
      case RESP.STATUS:
      case RESP.LOADED:
        (resolve as (v: number) => void)(r.arg);
        return;
      case RESP.HOOK_OK: {
        const data = r.len === OVERFLOW ? this.#payload(r) : r.u8.slice(r.payload, r.payload + r.len);
        (resolve as (v: HookOutcome) => void)({ ok: true, data });
        return;
      }
      case RESP.HOOK_ERR:
        (resolve as (v: HookOutcome) => void)({ ok: false, status: r.arg });
        return;
      case RESP.PROFILE:
      case RESP.BYTES:
        (resolve as (v: Uint8Array) => void)(r.len === OVERFLOW ? this.#payload(r) : r.u8.slice(r.payload, r.payload + r.len));
        return;
      case RESP.ERROR: {
        const err = this.#revive(this.#payload(r), exportName);
        if (isInstanceFault(err)) this.#fault ??= err;
        reject(err);
        return;
      }
      default:
        reject(new PluginTrap(exportName, `the worker sent an unknown response kind ${kind}`, { plugin: this.#plugin }));
    }
  }

  #revive(bytes: Uint8Array, exportName: string): PlughostError {
    let s: SerializedError;
    try {
      s = JSON.parse(decodeUtf8(bytes)) as SerializedError;
    } catch (cause) {
      return new PluginTrap(exportName, "the worker sent an unreadable error", { plugin: this.#plugin, cause });
    }
    return reviveError(s, (message, cause) =>
      exportName === EXPORTS.load
        ? new ContextCreationFailed(`loading in the worker failed: ${message}`, { plugin: this.#plugin, cause })
        : new PluginTrap(exportName, message, { plugin: this.#plugin, cause }),
    );
  }

  /** Drop completed entries once the in-flight queue is empty (or has a long consumed prefix). */
  #retire(): void {
    const n = this.#resolvers.length;
    if (this.#head === n) {
      this.#resolvers.length = 0;
      this.#rejecters.length = 0;
      this.#exportsInFlight.length = 0;
      this.#deliveries.length = 0;
      this.#head = 0;
      this.#idle();
    } else if (this.#head >= 4096) {
      const h = this.#head;
      this.#resolvers.splice(0, h);
      this.#rejecters.splice(0, h);
      this.#exportsInFlight.splice(0, h);
      this.#deliveries.splice(0, h);
      this.#head = 0;
    }
  }

  /** A log record of the call at the head (records precede their call's completion): logged within that call's delivery, so it carries its context. */
  #log(level: number, message: Uint8Array): void {
    try {
      withDelivery(this.#deliveries[this.#head], () => this.#host.log(LOG_LEVELS[level] ?? "info", decodeUtf8(message)));
    } catch {
      // HostCalls never throw by contract; a broken logger must not stall the worker.
    }
  }

  /** A synchronous host import called by the guest: run it here (in the running call's message chain), then release the waiting worker. */
  #hostCall(which: number, payload: Uint8Array): void {
    withDelivery(this.#deliveries[this.#head], () => this.#runHostCall(which, payload));
  }

  #runHostCall(which: number, payload: Uint8Array): void {
    const host = this.#host;
    let code = 0;
    let value = 0;
    let reply: Uint8Array | undefined;
    if (which === HOST_CALL.REQUEST) return this.#request(payload);
    if (which === HOST_CALL.IFACE) return this.#iface(payload);
    try {
      if (which === HOST_CALL.REGISTER) {
        code = REGISTER_OUTCOMES.indexOf(host.registerCallback(decodeUtf8(payload)));
      } else if (which === HOST_CALL.EMIT) {
        const [[name], data] = unpack(payload, 1);
        const outcome = host.emit(decodeUtf8(name!), data);
        if (outcome.ok) value = outcome.value;
        else code = 1 + MESSAGE_FAILURES.indexOf(outcome.error);
      } else if (which === HOST_CALL.SEND) {
        const [[target, name], data] = unpack(payload, 2);
        const outcome = host.send(decodeUtf8(target!), decodeUtf8(name!), data);
        if (!outcome.ok) code = 1 + MESSAGE_FAILURES.indexOf(outcome.error);
      } else if (which === HOST_CALL.GET_CONFIG) {
        reply = encodeUtf8(host.getConfig());
      } else if (which === HOST_CALL.GET_CONFIG_VALUE) {
        const v = host.getConfigValue(decodeUtf8(payload));
        if (v !== undefined) {
          code = 1;
          reply = encodeUtf8(v);
        }
      } else if (which === HOST_CALL.DEFINE_METRIC) {
        // The worker's own imports checked the guest's arguments; this is its packing (entry.ts).
        const [[name, help, ...labels]] = unpack(payload.subarray(2), 2 + payload[1]!);
        const kind = METRIC_KINDS[payload[0]!] ?? "counter";
        const outcome = host.defineMetric?.(kind, decodeUtf8(name!), decodeUtf8(help!), labels.map(decodeUtf8)) ?? { ok: false, error: "denied" };
        if (outcome.ok) value = outcome.value;
        else code = 1 + METRIC_ERRORS.indexOf(outcome.error);
      } else if (which === HOST_CALL.RECORD_METRIC) {
        const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
        const [labels] = unpack(payload.subarray(13), payload[12]!);
        const outcome = host.recordMetric?.(dv.getUint32(0, true), dv.getFloat64(4, true), labels.map(decodeUtf8)) ?? { ok: false, error: "denied" };
        if (!outcome.ok) code = 1 + METRIC_ERRORS.indexOf(outcome.error);
      } else if (which === HOST_CALL.CURRENT_MESSAGE) {
        const info = host.currentMessage?.();
        if (info !== undefined) {
          code = 1;
          reply = encodeUtf8(JSON.stringify(info));
        }
      } else if (which >= HOST_CALL.STATE_GET && which <= HOST_CALL.CONTEXT_SET) {
        return this.#stateCall(which, payload);
      } else code = REGISTER_OUTCOMES.indexOf("denied");
    } catch {
      code =
        which === HOST_CALL.REGISTER
          ? REGISTER_OUTCOMES.indexOf("denied")
          : which === HOST_CALL.DEFINE_METRIC || which === HOST_CALL.RECORD_METRIC
            ? 1 + METRIC_ERRORS.indexOf("denied")
            : which === HOST_CALL.CURRENT_MESSAGE
              ? 0
              : 1 + MESSAGE_FAILURES.indexOf("denied");
    }
    this.#reply(code, value, reply);
  }

  /**
   * A guest's `state-*` / `context-*` call (the worker checked its arguments; this is entry.ts's packing): run on
   * the HostCalls, `denied` for a member they lack, `unavailable` (context: `denied`) if one throws.
   */
  #stateCall(which: number, payload: Uint8Array): void {
    const host = this.#host;
    const denied = { ok: false, error: "denied" } as const;
    const isContext = which === HOST_CALL.CONTEXT_GET || which === HOST_CALL.CONTEXT_SET;
    let outcome: StateOutcome<unknown> | ContextOutcome<unknown>;
    let value = 0;
    let reply: Uint8Array | undefined;
    try {
      switch (which) {
        case HOST_CALL.STATE_GET: {
          const o = host.stateGet?.(decodeUtf8(payload)) ?? denied;
          if (o.ok && o.value !== undefined) [value, reply] = [1, o.value];
          outcome = o;
          break;
        }
        case HOST_CALL.STATE_SET: {
          const [[key], data] = unpack(payload, 1);
          outcome = host.stateSet?.(decodeUtf8(key!), data) ?? denied;
          break;
        }
        case HOST_CALL.STATE_DELETE:
        case HOST_CALL.STATE_EXISTS: {
          const key = decodeUtf8(payload);
          const o = (which === HOST_CALL.STATE_DELETE ? host.stateDelete?.(key) : host.stateExists?.(key)) ?? denied;
          if (o.ok) value = o.value ? 1 : 0;
          outcome = o;
          break;
        }
        case HOST_CALL.STATE_LIST_KEYS: {
          const limit = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(1, true);
          const o = host.stateListKeys?.(payload[0] === 1 ? decodeUtf8(payload.subarray(5)) : undefined, limit) ?? denied;
          if (o.ok) reply = encodeUtf8(JSON.stringify({ keys: o.value.keys, cursor: o.value.cursor }));
          outcome = o;
          break;
        }
        case HOST_CALL.STATE_INCREMENT: {
          const delta = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getBigInt64(0, true);
          const o = host.stateIncrement?.(decodeUtf8(payload.subarray(8)), delta) ?? denied;
          if (o.ok) {
            reply = new Uint8Array(8);
            new DataView(reply.buffer).setBigInt64(0, BigInt.asIntN(64, o.value), true);
          }
          outcome = o;
          break;
        }
        case HOST_CALL.STATE_CAS: {
          const [[key, expected], data] = unpack(payload.subarray(1), 2);
          const o = host.stateCompareAndSwap?.(decodeUtf8(key!), payload[0] === 1 ? expected : undefined, data) ?? denied;
          if (o.ok) value = o.value ? 1 : 0;
          outcome = o;
          break;
        }
        case HOST_CALL.CONTEXT_GET: {
          const o = host.contextGet?.(decodeUtf8(payload)) ?? denied;
          if (o.ok && o.value !== undefined) [value, reply] = [1, encodeUtf8(o.value)];
          outcome = o;
          break;
        }
        default: {
          const [[key], json] = unpack(payload, 1);
          outcome = host.contextSet?.(decodeUtf8(key!), decodeUtf8(json)) ?? denied;
        }
      }
    } catch {
      outcome = { ok: false, error: isContext ? "denied" : "unavailable" };
      value = 0;
      reply = undefined;
    }
    const code = outcome.ok
      ? 0
      : 1 + Math.max(0, isContext ? CONTEXT_ERRORS.indexOf(outcome.error as ContextError) : STATE_ERRORS.indexOf(outcome.error as StateError));
    this.#reply(code, outcome.ok ? value : 0, outcome.ok ? reply : undefined);
  }

  /**
   * A guest's `request`: the worker waits (blocked in its host call) while the host thread's request runs, which
   * may take as long as the request's timeout; the reply is written when it settles. A worker disposed or faulted
   * meanwhile gets none (it is gone or being torn down).
   */
  #request(payload: Uint8Array): void {
    let pending: Promise<RequestOutcome> | RequestOutcome;
    try {
      const [[head, target, name], data] = unpack(payload, 3);
      const timeoutMs = new DataView(head!.buffer, head!.byteOffset, 4).getUint32(0, true);
      // The ring's bytes are reused once this record is advanced: the host keeps its own copy.
      const args = [decodeUtf8(target!), decodeUtf8(name!), data.slice(), timeoutMs] as const;
      const host = this.#host;
      pending = host.request
        ? host.request(...args)
        : host.requestSync
          ? host.requestSync(...args)
          : { ok: false, error: "unknown-target" };
    } catch {
      pending = { ok: false, error: "failed" };
    }
    const settle = (outcome: RequestOutcome) => {
      if (this.#disposed || this.#fault) return;
      if (outcome.ok) this.#reply(0, 0, outcome.value);
      else this.#reply(1 + Math.max(0, REQUEST_ERRORS.indexOf(outcome.error)), 0, undefined);
    };
    if (pending instanceof Promise) pending.then(settle, () => settle({ ok: false, error: "failed" }));
    else settle(pending);
  }

  /**
   * HOST_CALL.IFACE: run the bound app interface function; a Promise is awaited (the worker waits), then the value (or
   * the error) goes back. The worker's trampoline checks and lowers the value.
   */
  #iface(payload: Uint8Array): void {
    const fail = (err: unknown) => {
      if (!this.#disposed && !this.#fault) this.#reply(1, 0, encodeUtf8(JSON.stringify(serializeError(err))));
    };
    const settle = (value: unknown) => {
      if (this.#disposed || this.#fault) return;
      let bytes: Uint8Array;
      try {
        bytes = serialize(value);
      } catch (err) {
        fail(new Error(`the implementation returned a value that cannot be copied to the plugin's worker: ${(err as Error).message}`));
        return;
      }
      this.#reply(0, 0, bytes);
    };
    let pending: unknown;
    try {
      const [id, fn, args] = deserialize(payload) as [string, string, unknown[]];
      const call = this.#interfaces?.imports.get(id)?.functions.get(fn);
      if (!call) throw new InterfaceUnavailable(id, "unknown-function", `no function ${fn} is bound for plugin ${this.#plugin}`, { plugin: this.#plugin });
      pending = call(args);
    } catch (err) {
      fail(err);
      return;
    }
    if (isThenable(pending)) (pending as Promise<unknown>).then(settle, fail);
    else settle(pending);
  }

  /** Release the worker waiting in a host call with its reply. */
  #reply(code: number, value: number, reply: Uint8Array | undefined): void {
    const ctl = this.#views.ctl;
    let len = 0;
    if (reply && reply.length > REPLY_BYTES) {
      this.#replyPort.postMessage(reply);
      len = OVERFLOW;
    } else if (reply) {
      this.#views.reply.set(reply, 0);
      len = reply.length;
    }
    Atomics.store(ctl, CTL.REPLY_CODE, code);
    Atomics.store(ctl, CTL.REPLY_VALUE, value);
    Atomics.store(ctl, CTL.REPLY_LEN, len);
    Atomics.store(ctl, CTL.REPLY_STATE, 1);
    Atomics.notify(ctl, CTL.REPLY_STATE, 1);
  }

  // ── busy / idle, deadlines, faults ──

  #busy(): void {
    if (this.#inFlight) return;
    this.#inFlight = true;
    this.#pump.enter(this);
    // A call in flight keeps the host process alive until it is answered.
    if (!this.#referenced) {
      this.#referenced = true;
      this.#worker?.ref();
    }
    this.#armDeadline(this.#deadlineMs ?? 0);
  }

  #idle(): void {
    if (!this.#inFlight) return;
    this.#inFlight = false;
    // The thread is let go at the pump's sweep, once the event loop had a turn: back-to-back calls toggle nothing.
    this.#pump.leave();
  }

  #unref(): void {
    if (!this.#referenced) return;
    this.#referenced = false;
    this.#worker?.unref();
  }

  /**
   * The pump's sweep (after the event loop had a turn since this instance went idle): still idle, its thread stops
   * keeping the host process alive, and it is no longer drained. False while a call is in flight again.
   * @internal
   */
  sweep(): boolean {
    if (this.#inFlight) return false;
    this.#unref();
    return true;
  }

  #armDeadline(ms: number): void {
    if (this.#deadlineMs === undefined || this.#timer) return;
    this.#timer = setTimeout(this.#checkDeadline, Math.max(1, ms));
    this.#timer.unref();
  }

  readonly #checkDeadline = (): void => {
    this.#timer = undefined;
    const deadline = this.#deadlineMs!;
    if (this.#fault || this.#head === this.#resolvers.length) return;
    this.drain(); // an answer that is already there is not late
    if (this.#fault || this.#head === this.#resolvers.length) return;
    const ctl = this.#views.ctl;
    if (Atomics.load(ctl, CTL.RUNNING) === 0) {
      this.#armDeadline(deadline);
      return;
    }
    const elapsed = performance.timeOrigin + performance.now() - this.#views.f64[F64.STARTED_AT]!;
    if (elapsed < deadline) {
      this.#armDeadline(Math.ceil(deadline - elapsed));
      return;
    }
    const exportName = this.#exportsInFlight[this.#head] ?? EXPORTS.onEvent;
    // While loading, the late code is the start-up: named `instantiate`, as the wasmtime engine names it.
    const late = exportName === EXPORTS.load ? "instantiate" : exportName;
    this.#fault = new DeadlineExceeded(late, deadline, { plugin: this.#plugin });
    this.#failAll(this.#fault);
    void this.#terminate();
  };

  /** Reject every call in flight or backlogged with `err`. */
  #failAll(err: PlughostError): void {
    const rejecters = this.#rejecters.slice(this.#head);
    this.#resolvers.length = this.#head;
    this.#deliveries.length = this.#head;
    this.#retire();
    this.#backlog.length = 0;
    for (const reject of rejecters) reject(err);
    this.#idle();
    // Not drained again, and let go at once (an idle worker must not keep the host process alive).
    this.#pump.drop(this);
    this.#unref();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #terminate(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    await worker.terminate().catch(() => undefined);
    await this.#exited;
  }

  /** The thread ended. Unless the host ended it, that is a crash: fail what is in flight. */
  #onExit(code: number): void {
    this.#worker = undefined;
    if (this.#fault) return;
    const exportName = this.#exportsInFlight[this.#head] ?? EXPORTS.onEvent;
    const cause = this.#workerError;
    const loading = exportName === EXPORTS.load;
    this.#fault = loading
      ? new ContextCreationFailed(`the plugin's worker thread exited (code ${code}) while loading`, { plugin: this.#plugin, cause })
      : new PluginCrashed(exportName, null, code, { plugin: this.#plugin, cause });
    this.#failAll(this.#fault);
  }
}

/** What a rejection reaction does: its handler's value resolves, what it throws rejects. */
function settleCaught<T>(resolve: (value: T) => void, reject: (err: unknown) => void, onRejected: (err: unknown) => T, err: unknown): void {
  let value: T;
  try {
    value = onRejected(err);
  } catch (thrown) {
    reject(thrown);
    return;
  }
  resolve(value);
}

/** Split [u32 len][bytes]×count + tail, copying out of the ring (a payload that came over the port is already ours). */
function unpack(payload: Uint8Array, count: number): [Uint8Array[], Uint8Array] {
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const cut = payload.buffer instanceof SharedArrayBuffer ? (a: number, b?: number) => payload.slice(a, b) : (a: number, b?: number) => payload.subarray(a, b);
  const fields: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const len = dv.getUint32(at, true);
    fields.push(cut(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return [fields, cut(at)];
}

/**
 * Load a plugin into its own worker thread. The v8 engine's entry (engine.ts)
 * has compiled and checked it on this thread: compile errors surface exactly
 * as in process, and the worker receives the compiled modules.
 */
export function loadInWorker(request: LoadRequest, component: PreparedComponent): Promise<EngineInstance> {
  return WorkerInstance.start(request, component);
}
