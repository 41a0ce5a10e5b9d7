// Types of bench/peers.mjs, for test/bench-peers.test.ts.

/** The workload's input: 16 bytes, as in bench/spine.mjs. */
export const INPUT: Uint8Array;

/** What test/fixtures/c/bench's status callback answers for `data`. */
export function expectedStatus(data: Uint8Array): number;

export interface Contender {
  /** One call on the input fixed at load; resolves to (or returns) the checksum. */
  call: () => number | Promise<number>;
  async: boolean;
  /** What the contender meters, in words. */
  meters: string;
}

/** Loads every contender on `data`; `worker: false` leaves out the worker-thread pair. */
export function loadPeers(data?: Uint8Array, options?: { worker?: boolean }): Promise<{ contenders: Record<string, Contender>; close: () => Promise<void> }>;

/** One call of every contender on each input: contender name → its answers, one per input. */
export function peerOutputs(inputs?: Uint8Array[]): Promise<Record<string, number[]>>;

/** The bench area: the figures, keyed for bench/results/latest.json. */
export function run(): Promise<Record<string, number>>;
