/**
 * Whether spinning for another thread's answer pays: the worker isolation's pump (v8/worker/host.ts) and the
 * wasmtime call ring's (wasmtime/ring.ts). Spinning wins with idle cores (an answer in ~1-2 µs instead of a
 * wake-up) and loses on an oversubscribed machine, where it only delays the thread it waits for. Each wait is
 * scored; while spinning nearly never pays it is paused, and tried again after `retryMs`.
 */
export class SpinScore {
  /** Recent share of waits that spinning answered (exponential average over about `window` waits). */
  score = 1;
  #pausedUntil = 0;

  constructor(
    readonly window: number,
    readonly pauseBelow: number,
    readonly resumeAt: number,
    readonly retryMs = 100,
  ) {}

  get paused(): boolean {
    return this.#pausedUntil !== 0;
  }

  /** Score one wait; true when this miss paused spinning. */
  result(hit: boolean): boolean {
    this.score += hit ? (1 - this.score) / this.window : -this.score / this.window;
    if (hit || this.score >= this.pauseBelow) return false;
    this.#pausedUntil = performance.now() + this.retryMs;
    return true;
  }

  /** At a run's start: a lapsed pause ends, spinning is tried again from `resumeAt`; true when it ended. */
  resume(now: number): boolean {
    if (this.#pausedUntil === 0 || now < this.#pausedUntil) return false;
    this.#pausedUntil = 0;
    this.score = this.resumeAt;
    return true;
  }
}
