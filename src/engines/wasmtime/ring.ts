/**
 * The call ring of a wasmtime instance (native/wasmtime/src/ring.rs) and the
 * process-wide pump that collects its answers.
 *
 * An asynchronous status call (`onEvent`) is written into a slot of memory the
 * addon shares with the instance's call thread, so it costs no node-api call,
 * no promise thread-safe function and, while calls flow, no futex wake-up:
 * the call thread spins for a while when idle, and the pump spins briefly for
 * answers (the worker isolation's scheme, src/engines/v8/worker/host.ts). When
 * spinning does not pay (a long call, more busy threads than cores) the pump
 * sleeps: it sets JS_WAITING on each ring with calls in flight, and the call
 * thread answers that with one thread-safe-function call per batch. A parked
 * call thread is woken with `ringWake()` only when it set PARKED.
 */
import { availableParallelism } from "node:os";
import { SpinScore } from "../spin-score.js";

/** Layout (mirrors native/wasmtime/src/ring.rs; i32 indices for the header, bytes for slots). */
const H_SUBMIT = 0;
const H_DONE = 16;
const H_PARKED = 32;
const H_JS_WAITING = 48;
const HEADER_BYTES = 256;
const SLOTS = 256;
const SLOT_BYTES = 64;
const S_OP = 0;
const S_NAME = 1;
const S_LEN = 2;
const S_STATUS = 3;
const S_OUTCOME = 4;
const S_DATA = 32;
/** Data longer than this is handed over with `ringStash`. */
const INLINE = SLOT_BYTES - S_DATA;
const OP_INLINE = 0;
const OP_STASHED = 1;
const OUT_FAULT = 1;
const RING_BYTES = HEADER_BYTES + SLOTS * SLOT_BYTES;

/** The addon's side of a ring (NativeInstance members; absent on an addon built before rings). */
export interface RingNative {
  openRing(wake: () => void): ArrayBuffer;
  ringName(name: string): number;
  ringStash(data: Uint8Array): void;
  ringError(): string | null;
  ringWake(): void;
  ringRefer(on: boolean): void;
}

/** What the ring's owner does with an answer: a status, or a fault's `PWT:…` reason. */
export interface RingSettler {
  /** Called once before a batch of answers is settled (log output and violations first, as after every call). */
  beforeBatch(): void;
  ok(resolve: (status: number) => void, status: number): void;
  fault(reject: (err: unknown) => void, reason: string): void;
}

interface Backlogged {
  name: number;
  data: Uint8Array;
  resolve: (status: number) => void;
  reject: (err: unknown) => void;
}

/** How long the pump spins for an answer before it sleeps until the call thread wakes it. */
const HOST_SPIN_MS = 0.02;
/**
 * While spinning mostly fails (long calls, or a loaded machine that preempts the call thread), it spins only this
 * long: a sleep costs a thread-safe-function wake-up through the event loop, and a futex-based block measured
 * slower still on a loaded machine, so a short spin that sometimes catches the answer keeps paying.
 */
const HOST_SPIN_LOW_MS = 0.003;
/** Longest run of back-to-back microtask drains before yielding to the event loop (timers, host calls). */
const MAX_MICROTASK_STREAK_MS = 1;

export class CallRing {
  readonly #native: RingNative;
  readonly #settler: RingSettler;
  readonly #i32: Int32Array;
  readonly #u8: Uint8Array;
  readonly #names = new Map<string, number>();
  // Grown as slots are first used (an instance that makes a few calls keeps them small).
  readonly #resolve: ((status: number) => void)[] = [];
  readonly #reject: ((err: unknown) => void)[] = [];
  readonly #backlog: Backlogged[] = [];
  /** Calls submitted / answered (wrapping int32 counters, as the header's). */
  #submitted = 0;
  #seen = 0;
  #referred = false;
  /** The call thread had parked when a call was published (so it was not spinning for it). */
  #woke = false;
  #idle: (() => void)[] = [];
  #closed = false;

  constructor(native: RingNative, settler: RingSettler) {
    this.#native = native;
    this.#settler = settler;
    const buf = native.openRing(() => thePump().wake());
    if (buf.byteLength !== RING_BYTES) throw new Error(`PWT:load:0:the call ring has ${buf.byteLength} bytes, expected ${RING_BYTES}`);
    this.#i32 = new Int32Array(buf);
    this.#u8 = new Uint8Array(buf);
  }

  /** Calls in flight (in the ring or waiting for a slot). */
  get outstanding(): number {
    return ((this.#submitted - this.#seen) | 0) + this.#backlog.length;
  }

  /** Queue a status call; undefined when this name cannot be interned (the caller uses the promise path). */
  call(eventName: string, data: Uint8Array): Promise<number> | undefined {
    let name = this.#names.get(eventName);
    if (name === undefined) {
      name = this.#native.ringName(eventName);
      if (name < 0) return undefined;
      this.#names.set(eventName, name);
    }
    const wasIdle = this.outstanding === 0;
    let promise: Promise<number>;
    if (this.#backlog.length > 0 || ((this.#submitted - this.#seen) | 0) >= SLOTS) {
      // Full: wait for a slot, in order. The bytes are copied now, as a call takes them at once.
      const copy = data.slice();
      promise = new Promise<number>((resolve, reject) => this.#backlog.push({ name: name!, data: copy, resolve, reject }));
    } else {
      promise = new Promise<number>((resolve, reject) => this.#write(name!, data, resolve, reject));
      this.#publish();
    }
    if (wasIdle) thePump().enter(this);
    thePump().kick();
    return promise;
  }

  #write(name: number, data: Uint8Array, resolve: (status: number) => void, reject: (err: unknown) => void): void {
    const seq = this.#submitted;
    const slot = seq & (SLOTS - 1);
    const w = (HEADER_BYTES + slot * SLOT_BYTES) >> 2;
    const len = data.length;
    if (len <= INLINE) {
      this.#i32[w + S_OP] = OP_INLINE;
      const at = HEADER_BYTES + slot * SLOT_BYTES + S_DATA;
      if (len <= 16) for (let i = 0; i < len; i++) this.#u8[at + i] = data[i]!;
      else this.#u8.set(data, at);
    } else {
      this.#native.ringStash(data);
      this.#i32[w + S_OP] = OP_STASHED;
    }
    this.#i32[w + S_NAME] = name;
    this.#i32[w + S_LEN] = len;
    this.#resolve[slot] = resolve;
    this.#reject[slot] = reject;
    this.#submitted = (seq + 1) | 0;
  }

  /** Make written slots visible, and wake the call thread if it parked. */
  #publish(): void {
    Atomics.store(this.#i32, H_SUBMIT, this.#submitted);
    if (Atomics.load(this.#i32, H_PARKED) !== 0) {
      this.#woke = true;
      this.#native.ringWake();
    }
  }

  /** Whether the call thread had to be woken since the last look (a slow answer then says nothing about spinning). */
  takeWoke(): boolean {
    const woke = this.#woke;
    this.#woke = false;
    return woke;
  }

  /** Whether answers are waiting to be delivered. */
  hasWork(): boolean {
    return Atomics.load(this.#i32, H_DONE) !== this.#seen;
  }

  /** Settle the answered calls and refill from the backlog; how many were settled. */
  drain(): number {
    const done = Atomics.load(this.#i32, H_DONE);
    if (done === this.#seen) return 0;
    this.#settler.beforeBatch();
    let n = 0;
    while (this.#seen !== done) {
      const slot = this.#seen & (SLOTS - 1);
      const w = (HEADER_BYTES + slot * SLOT_BYTES) >> 2;
      const resolve = this.#resolve[slot]!;
      const reject = this.#reject[slot]!;
      this.#resolve[slot] = undefined!;
      this.#reject[slot] = undefined!;
      this.#seen = (this.#seen + 1) | 0;
      n++;
      if (this.#i32[w + S_OUTCOME] === OUT_FAULT) this.#settler.fault(reject, this.#native.ringError() ?? "PWT:trap:0:the call failed");
      else this.#settler.ok(resolve, this.#i32[w + S_STATUS]!);
    }
    if (this.#backlog.length > 0 && !this.#closed) {
      let moved = false;
      while (this.#backlog.length > 0 && ((this.#submitted - this.#seen) | 0) < SLOTS) {
        const b = this.#backlog.shift()!;
        this.#write(b.name, b.data, b.resolve, b.reject);
        moved = true;
      }
      if (moved) this.#publish();
    }
    if (this.outstanding === 0) this.#becameIdle();
    return n;
  }

  #becameIdle(): void {
    thePump().leave(this);
    if (this.#referred) {
      this.#referred = false;
      this.#native.ringRefer(false);
    }
    const idle = this.#idle;
    if (idle.length > 0) {
      this.#idle = [];
      for (const f of idle) f();
    }
  }

  /** Resolves once no call is in flight (so a call on the promise path runs after these, in order). */
  idle(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** The pump goes to sleep: ask for a wake-up, keeping the event loop alive. False: answers are already here. */
  sleep(): boolean {
    if (!this.#referred) {
      this.#referred = true;
      this.#native.ringRefer(true);
    }
    Atomics.store(this.#i32, H_JS_WAITING, 1);
    return !this.hasWork();
  }

  /** The pump is awake again: no wake-up needed. */
  awake(): void {
    Atomics.store(this.#i32, H_JS_WAITING, 0);
  }

  /** The instance was disposed: deliver what was answered, reject the rest with `err()`. */
  close(err: () => unknown): void {
    this.drain();
    this.#closed = true;
    const left: ((err: unknown) => void)[] = [];
    while (this.#seen !== this.#submitted) {
      const slot = this.#seen & (SLOTS - 1);
      left.push(this.#reject[slot]!);
      this.#resolve[slot] = undefined!;
      this.#reject[slot] = undefined!;
      this.#seen = (this.#seen + 1) | 0;
    }
    for (const b of this.#backlog.splice(0)) left.push(b.reject);
    this.#becameIdle();
    for (const reject of left) reject(err());
  }
}

/** One per process: drains every ring with calls in flight. */
class RingPump {
  readonly #active = new Set<CallRing>();
  readonly #cores = availableParallelism();
  #spinOk = true;
  /**
   * Spinning stops (here and on the call threads) only when it nearly never pays: on an oversubscribed machine the
   * spinning threads then take the CPU from the ones they wait for.
   */
  readonly #spin = new SpinScore(32, 0.25, 0.5);
  /** The run about to start was woken by a call thread: what it finds was not caught by spinning. */
  #afterWake = false;
  #scheduled = false;
  #sleeping = false;
  #streakStart = 0;
  readonly #setSpin: (ok: boolean) => void;

  constructor(setSpin: (ok: boolean) => void) {
    this.#setSpin = setSpin;
  }

  enter(r: CallRing): void {
    this.#active.add(r);
    this.#updateSpin();
  }

  leave(r: CallRing): void {
    this.#active.delete(r);
    this.#updateSpin();
  }

  /** Idle call threads may spin while busy call threads and this one fit on the cores and spinning pays. */
  #updateSpin(): void {
    const ok = this.#active.size + 1 <= this.#cores && !this.#spin.paused;
    if (ok !== this.#spinOk) {
      this.#spinOk = ok;
      this.#setSpin(ok);
    }
  }

  /** A call was submitted: make sure a drain is coming. */
  kick(): void {
    if (this.#sleeping) this.#wakeUp();
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#continue();
  }

  /** A call thread answered while the pump slept (the thread-safe function; never throws). */
  wake(): void {
    if (!this.#sleeping) return;
    this.#wakeUp();
    if (this.#scheduled) return;
    this.#streakStart = performance.now();
    this.#scheduled = true;
    this.#afterWake = true;
    this.#run();
  }

  #wakeUp(): void {
    this.#sleeping = false;
    for (const r of this.#active) r.awake();
  }

  #continue(): void {
    if (performance.now() - this.#streakStart > MAX_MICROTASK_STREAK_MS) setImmediate(this.#runFresh);
    else queueMicrotask(this.#run);
  }

  readonly #runFresh = (): void => {
    this.#streakStart = performance.now();
    this.#run();
  };

  /** Score each spin; spin less while it mostly fails (HOST_SPIN_LOW_MS), not at all while it nearly never pays. */
  #spinResult(hit: boolean): void {
    if (this.#spin.result(hit)) this.#updateSpin();
  }

  readonly #run = (): void => {
    this.#scheduled = false;
    const started = performance.now();
    if (this.#spin.resume(started)) this.#updateSpin();
    const spinning = this.#spinOk;
    let scoring = spinning && !this.#afterWake;
    this.#afterWake = false;
    const budget = this.#spin.score >= 0.5 ? HOST_SPIN_MS : HOST_SPIN_LOW_MS;
    for (;;) {
      let delivered = 0;
      for (const r of this.#active) delivered += r.drain();
      // Scored before the idle check: a lone caller's answer empties the set.
      if (delivered > 0 && scoring) this.#spinResult(true);
      if (this.#active.size === 0) return;
      if (delivered > 0) {
        // Let the callers' reactions run (they may submit more calls), then come back.
        this.#scheduled = true;
        this.#continue();
        return;
      }
      if (!spinning || performance.now() - started > budget) {
        let woken = false;
        for (const r of this.#active) if (r.takeWoke()) woken = true;
        // A parked call thread's answer misses any spin: score only waits on a spinning thread.
        if (spinning && !woken) this.#spinResult(false);
        scoring = false;
        break;
      }
    }
    this.#sleep();
  };

  #sleep(): void {
    this.#sleeping = true;
    let answered = false;
    for (const r of this.#active) if (!r.sleep()) answered = true;
    if (answered) this.kick();
  }
}

let pump: RingPump | undefined;
let setSpin: (ok: boolean) => void = () => undefined;

/** The addon's `setRingSpin` (idle call threads spin only while the pump says spinning pays). */
export function useRingSpin(f: (ok: boolean) => void): void {
  setSpin = f;
}

function thePump(): RingPump {
  return (pump ??= new RingPump((ok) => setSpin(ok)));
}
