/**
 * The transport between plughost processes: how an `emit`, a `send` or a
 * `request` leaves this host and how one from another host comes in. The
 * default is no transport at all (messaging stays in process); the registry
 * option `transport` (for example a {@link NatsTransport}) adds one.
 *
 * The registry owns the checks: a message from another host is delivered to
 * a local plugin exactly as a local one is (its `events:subscribe` grants, its
 * registered callbacks). A transport only moves envelopes and bytes.
 */

import type { PlughostError } from "../contract/errors.js";
import type { RequestOutcome } from "../engines/engine.js";
import type { Message } from "./envelope.js";

/**
 * A message on the wire: the registry's {@link Message} envelope plus the host
 * it came from and, for a request, the chain of plugins waiting on it. Ids
 * (`id`, `parentId`) are those of the origin host: pair them with `origin`.
 * `kind` is `event` for emit and send, `request` for a request.
 */
export interface WireMessage extends Message {
  /** The `hostId` of the host that sent it. */
  readonly origin: string;
  /** For a request: the plugins already waiting in this request chain, oldest first (cycle and depth checks). */
  readonly chain?: readonly string[];
  /** For a request: how long the requester waits, in ms (the answering host may cap its call with it). */
  readonly timeoutMs?: number;
  /**
   * For an emit or a send: how deep it is in its message chain on the origin host (1 for a message sent while
   * handling a host call). The receiving host goes on counting from it, so plugins answering each other's events
   * across hosts stop at `hostCalls.maxMessageHops` as they do in one host.
   */
  readonly hop?: number;
}

/**
 * What a transport calls back into: the registry's side. Implemented by the
 * registry and handed to {@link Transport.start}.
 */
export interface TransportSink {
  /** This host's identity on the bus; messages whose `origin` is it are not delivered back. */
  readonly hostId: string;
  /** A message from another host: an emit (`target` undefined) or a send to a local plugin. Must not throw. */
  deliver(message: WireMessage): void;
  /** A request from another host to a local plugin (or host service): the outcome goes back to the requester. */
  answer(message: WireMessage): Promise<RequestOutcome>;
  /** A failure the transport cannot report to a caller (a publish while disconnected, a malformed message, a lost connection). */
  onError(error: PlughostError): void;
}

/**
 * A way for messages to cross hosts. The registry calls `start` once, then
 * `publish` / `request` for messages leaving the host, and `stop` on close.
 */
export interface Transport {
  /** Connect and start receiving; the registry calls it once (registry option `transport`). */
  start(sink: TransportSink): Promise<void>;
  /** An emit or a send leaving this host. Never throws: failures go to `sink.onError`. */
  publish(message: WireMessage): void;
  /**
   * A request leaving this host: the answer of the host that serves `message.target`;
   * `unknown-target` when nobody does, `timeout` after `timeoutMs`, `failed` when the
   * transport is down. Never rejects.
   */
  request(message: WireMessage, timeoutMs: number): Promise<RequestOutcome>;
  /**
   * A plugin or host service named `name` is now served here: sends and requests
   * addressed to it from other hosts come to this host. The registry calls it on
   * load and `addService` (and for each one already there when it starts the transport).
   */
  addTarget?(name: string): void;
  /** `name` is no longer served here (unload, a removed service). */
  removeTarget?(name: string): void;
  /** Stop receiving, let in-flight answers go out, and disconnect. Idempotent. */
  stop(): Promise<void>;
}
