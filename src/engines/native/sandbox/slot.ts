/**
 * The shared-memory call slot between the host and one sandbox helper
 * (layout and handshake: native/sandbox-helper/src/shm.h). A lone call is
 * posted there and the addon spins briefly for the answer, so a fast callback
 * costs a few microseconds instead of two pipe writes and an event-loop
 * wake-up. Anything else (pipelined calls, big payloads, calls that log or
 * call back into the host) is answered on the pipe as before.
 */
import { loadAddon, type NativeAddon, type SlotHandle } from "../inprocess.js";

/** Largest payload (and hook output) the slot carries; bigger ones use the pipe. */
export const SLOT_DATA_MAX = 64 << 10;

export class SharedSlot {
  readonly #addon: NativeAddon;
  #slot: SlotHandle | undefined;
  /** The helper's ends: pass as its fds 5 (the memfd) and 6 (the wake pipe). */
  readonly fd: number;
  readonly wakeFd: number;

  private constructor(addon: NativeAddon, opened: { slot: SlotHandle; fd: number; wakeFd: number }) {
    this.#addon = addon;
    this.#slot = opened.slot;
    this.fd = opened.fd;
    this.wakeFd = opened.wakeFd;
  }

  /**
   * A new slot, or undefined when the addon is not built or the kernel
   * refuses (no memfd, out of fds): the pipe alone then serves.
   */
  static open(): SharedSlot | undefined {
    try {
      const addon = loadAddon();
      return new SharedSlot(addon, addon.shmOpen());
    } catch {
      return undefined;
    }
  }

  get open(): boolean {
    return this.#slot !== undefined;
  }

  /** The helper has its copies of the fds: close ours. */
  spawned(): void {
    if (this.#slot) this.#addon.shmSpawned(this.#slot);
  }

  /**
   * Post a CALL or HOOK and spin up to `spinNs` for the answer. Returns
   * undefined when the answer will come on the pipe instead. Throws (code
   * E_PROTOCOL) when the helper wrote a malformed answer.
   */
  call(type: number, id: number, cb: number, data: Uint8Array, spinNs: number): number | Buffer | null | undefined {
    if (!this.#slot) return undefined;
    return this.#addon.shmCall(this.#slot, type, id, cb, data, spinNs);
  }

  /** Frames went out on the pipe: wake a helper that sleeps on the slot instead of polling the pipe. */
  ring(): void {
    if (this.#slot) this.#addon.shmRing(this.#slot);
  }

  close(): void {
    if (this.#slot) this.#addon.shmClose(this.#slot);
    this.#slot = undefined;
  }
}
