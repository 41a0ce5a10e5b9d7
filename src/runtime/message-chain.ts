/**
 * Message chains: which delivery a plugin's `emit` / `send` happens in.
 *
 * A call the host makes (invoke, dispatch, hooks, init) is hop 0. A message
 * emitted while handling a delivery of hop n has hop n + 1, and belongs to the
 * same chain as that delivery; a message emitted at hop 0 starts a chain. The
 * registry refuses a message past the hop limit or past the chain's message
 * budget, so two plugins answering each other, or a storm of re-emitting
 * plugins, ends.
 *
 * The context is ambient while a call is issued (`withDelivery`), so engines
 * that run the guest synchronously see it in their host calls, and an engine
 * that answers host calls later (a worker) snapshots it per call.
 */
import type { CallContext } from "./calls.js";
import type { Envelope } from "../messaging/envelope.js";

/** The messages that descend from one message emitted at hop 0. */
export interface MessageChain {
  /** Messages queued in this chain so far. */
  messages: number;
  /** A refusal in this chain was already recorded as a violation. */
  reported: boolean;
}

/** The call a plugin's host calls happen in: its hop and its message chain. */
export interface Delivery {
  /** 0 for a call the host made; n + 1 for a message emitted while handling hop n. */
  readonly hop: number;
  /** Undefined for host calls (hop 0): their messages each start a chain. */
  readonly chain: MessageChain | undefined;
  /** The context of the call running as this delivery (calls.ts), when it has one: host calls made during it find it here. */
  readonly call?: CallContext;
  /** For a message: the context of the call that emitted it, the parent of its delivery's call. */
  readonly parent?: CallContext;
  /**
   * The envelope of the message this call handles (`current-message`); none for init and teardown. Its id is taken
   * lazily (messaging/envelope.ts), so a call nobody asks about costs no id.
   */
  readonly envelope?: Envelope;
  /** For a request: the plugins waiting for an answer, outermost first (cycle and depth checks); none otherwise. */
  readonly requests?: readonly string[];
  /** For a request: when its caller stops waiting, in `Date.now()` milliseconds (a nested request's timeout is capped by it). */
  readonly deadline?: number;
}

/** A call the host made. */
export const HOST_ORIGIN: Delivery = Object.freeze({ hop: 0, chain: undefined });

let current: Delivery | undefined;

/** The delivery whose call is being issued or run now, or undefined outside any. */
export function currentDelivery(): Delivery | undefined {
  return current;
}

/**
 * Make `delivery` the ambient context and return the one it replaces, which
 * the caller must restore with `restoreDelivery` in a `finally`: the closure-free
 * form of `withDelivery`, for the synchronous fast paths.
 */
export function enterDelivery(delivery: Delivery | undefined): Delivery | undefined {
  const previous = current;
  current = delivery;
  return previous;
}

/** Undo `enterDelivery`. */
export function restoreDelivery(previous: Delivery | undefined): void {
  current = previous;
}

/** Run `fn` (which issues or runs a call) with `delivery` as the ambient context. */
export function withDelivery<T>(delivery: Delivery | undefined, fn: () => T): T {
  const previous = current;
  current = delivery;
  try {
    return fn();
  } finally {
    current = previous;
  }
}
