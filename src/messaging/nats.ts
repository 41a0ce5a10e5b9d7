/**
 * A {@link Transport} over NATS (the `nats` npm client, an optional peer
 * dependency loaded when the transport starts). Subjects, under a configurable
 * prefix (default `plughost`):
 *
 *   <prefix>.event.<event>            an emit; every host subscribes to <prefix>.event.>
 *   <prefix>.plugin.<target>.<event>  a send (publish) or a request (NATS request/reply) to one
 *                                     plugin or host service; the host serving <target> subscribes
 *                                     in the queue group <prefix>.plugin.<target>, so one host
 *                                     takes each message, and a request nobody serves is answered
 *                                     at once by the server's "no responders" (unknown-target)
 *
 * A name's dots become `~` in its subject token (plugin names may contain dots;
 * NATS splits subjects on them). The payload is the binary frame of
 * src/messaging/wire.ts: the envelope, then the bytes.
 */

import { TransportError, TransportUnavailable, type PlughostError } from "../contract/errors.js";
import type { RequestOutcome } from "../engines/engine.js";
import type { Transport, TransportSink, WireMessage } from "./transport.js";
import { decodeOutcome, decodeWire, encodeOutcome, encodeWire } from "./wire.js";

/** Options of {@link NatsTransport}. */
export interface NatsTransportOptions {
  /** The server(s), e.g. `"nats://127.0.0.1:4222"` or a list for a cluster. */
  servers: string | readonly string[];
  /** The first token(s) of every subject, so several plughost deployments can share a server. Default `"plughost"`. */
  prefix?: string;
  /** How long to wait between reconnection attempts, in ms. Default 250. */
  reconnectWaitMs?: number;
  /** Reconnection attempts before the transport gives up (then every message is a `closed` error); -1: forever (the default). */
  maxReconnectAttempts?: number;
  /** How long `start` waits for the first connection, in ms. Default 5000. */
  connectTimeoutMs?: number;
  /** How long `stop` lets requests being answered finish before it disconnects, in ms. Default 2000. */
  stopGraceMs?: number;
  /** Credentials, when the server asks for them. */
  user?: string;
  /** Credentials, when the server asks for them. */
  pass?: string;
  /** A server token, when the server asks for one. */
  token?: string;
}

// The slice of the `nats` client this transport uses; kept local so that the
// package's types never reach plughost's public declarations.
interface NatsMsg {
  readonly subject: string;
  readonly reply?: string;
  readonly data: Uint8Array;
  readonly headers?: { readonly code: number };
  respond(data?: Uint8Array): boolean;
}
interface NatsSub {
  unsubscribe(): void;
}
interface NatsStatus {
  type: string;
  data: unknown;
}
interface NatsConn {
  publish(subject: string, data?: Uint8Array, opts?: { reply?: string }): void;
  subscribe(subject: string, opts: { queue?: string; callback: (err: Error | null, msg: NatsMsg) => void }): NatsSub;
  status(): AsyncIterable<NatsStatus>;
  closed(): Promise<void | Error>;
  flush(): Promise<void>;
  drain(): Promise<void>;
  close(): Promise<void>;
  isClosed(): boolean;
  getServer(): string;
}
interface NatsModule {
  connect(opts: Record<string, unknown>): Promise<NatsConn>;
  createInbox(): string;
}

/** A request waiting for its answer. */
interface Pending {
  readonly resolve: (outcome: RequestOutcome) => void;
  readonly timer: NodeJS.Timeout;
}

const TIMEOUT: RequestOutcome = Object.freeze({ ok: false, error: "timeout" });
const FAILED: RequestOutcome = Object.freeze({ ok: false, error: "failed" });
const UNKNOWN_TARGET: RequestOutcome = Object.freeze({ ok: false, error: "unknown-target" });

const NAME = "NATS";

/** The subject token of a plugin or service name: dots become `~` (plugin names never hold `~`); anything else NATS treats specially is %-escaped. */
export function natsToken(name: string): string {
  return /^[A-Za-z0-9._:/-]+$/.test(name)
    ? name.replaceAll(".", "~")
    : name.replace(/[^A-Za-z0-9_:/-]/g, (c) => `%${c.codePointAt(0)!.toString(16)}`);
}

/** The subject tail of an event name: as it is when its dots separate non-empty tokens, else a `~`-prefixed hex form (the frame holds the real name). */
function eventSubject(event: string): string {
  return /^[^.\s*>]+(\.[^.\s*>]+)*$/.test(event) ? event : `~${Buffer.from(event).toString("hex")}`;
}

function codeOf(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : undefined;
}

/**
 * Messages between plughost processes over a NATS server: `emit` reaches every
 * other host, `send` and `request` reach the host where the target plugin (or
 * host service) is loaded. Give it to the registry as its `transport` option.
 *
 * While the connection is down, each publish and request is refused with a
 * {@link TransportError} (`reason: "disconnected"`) through the registry's
 * error handler (requests also answer `failed`); deliveries inside the host go
 * on as usual, and the client reconnects by itself.
 *
 * @example
 *   import { PluginRegistry, NatsTransport } from "plughost";
 *   const registry = new PluginRegistry({ transport: new NatsTransport({ servers: "nats://127.0.0.1:4222" }) });
 */
export class NatsTransport implements Transport {
  readonly #options: NatsTransportOptions;
  readonly #prefix: string;
  #nc: NatsConn | undefined;
  #sink: TransportSink | undefined;
  #started = false;
  #down = false;
  #stopped = false;
  #emits: NatsSub | undefined;
  readonly #targets = new Map<string, NatsSub | undefined>();
  readonly #answering = new Set<Promise<void>>();
  // Requests go out with a reply subject under one inbox of ours ("<inbox>.<token>"), answered through one
  // subscription: the client's own request() builds two Errors (stack traces) per request, a third of its cost.
  #inbox = "";
  #nextToken = 0;
  readonly #pending = new Map<string, Pending>();

  constructor(options: NatsTransportOptions) {
    const prefix = options.prefix ?? "plughost";
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) {
      throw new TransportError(NAME, "connect", `prefix "${prefix}" is not a NATS subject prefix; use tokens of A-Z, a-z, 0-9, _ and - separated by dots`);
    }
    this.#options = options;
    this.#prefix = prefix;
  }

  /** Whether the connection is up (false before `start`, while reconnecting and after `stop`). */
  get connected(): boolean {
    return this.#nc !== undefined && !this.#down && !this.#stopped && !this.#nc.isClosed();
  }

  /** The subject prefix in use. */
  get prefix(): string {
    return this.#prefix;
  }

  /** Loads the client, connects, and subscribes to emits and to every target added so far. Throws {@link TransportUnavailable} or a `connect` {@link TransportError}. */
  async start(sink: TransportSink): Promise<void> {
    if (this.#started) throw new TransportError(NAME, "failed", "start was called twice; a transport serves one registry");
    this.#started = true;
    let mod: NatsModule;
    try {
      mod = (await import("nats")) as unknown as NatsModule;
    } catch (e) {
      throw new TransportUnavailable(NAME, "npm install nats", { cause: e });
    }
    const o = this.#options;
    const opts: Record<string, unknown> = {
      servers: typeof o.servers === "string" ? o.servers : [...o.servers],
      name: `plughost:${sink.hostId}`,
      noEcho: true, // this host's own emits never come back to it
      reconnect: true,
      maxReconnectAttempts: o.maxReconnectAttempts ?? -1,
      reconnectTimeWait: o.reconnectWaitMs ?? 250,
      reconnectJitter: 50,
      timeout: o.connectTimeoutMs ?? 5000,
      noAsyncTraces: true,
    };
    if (o.user !== undefined) opts.user = o.user;
    if (o.pass !== undefined) opts.pass = o.pass;
    if (o.token !== undefined) opts.token = o.token;
    let nc: NatsConn;
    try {
      nc = await mod.connect(opts);
    } catch (e) {
      throw new TransportError(NAME, "connect", `cannot connect to ${String(opts.servers)} (${codeOf(e) ?? (e as Error).message}); start the server or fix the address`, { cause: e });
    }
    this.#sink = sink;
    this.#nc = nc;
    this.#inbox = `${mod.createInbox()}.`;
    nc.subscribe(`${this.#inbox}*`, { callback: (err, msg) => this.#onReply(err, msg) });
    this.#emits = nc.subscribe(`${this.#prefix}.event.>`, { callback: (err, msg) => this.#onMessage(err, msg, undefined) });
    for (const name of this.#targets.keys()) this.#targets.set(name, this.#subscribeTarget(nc, name));
    void this.#watch(nc);
  }

  /** Serve `name` here: subscribes to its subject in its queue group. Before `start`, remembered. */
  addTarget(name: string): void {
    if (this.#targets.has(name) && (this.#targets.get(name) !== undefined || !this.#nc)) return;
    this.#targets.set(name, this.#nc && !this.#stopped ? this.#subscribeTarget(this.#nc, name) : undefined);
  }

  /**
   * Resolves once the server has processed everything this transport sent so far, subscriptions included (after
   * `addTarget` / `removeTarget`, requests from other hosts then find the target, or no longer find it).
   */
  async flush(): Promise<void> {
    if (this.#nc && !this.#stopped && !this.#down && !this.#nc.isClosed()) await this.#nc.flush();
  }

  /** Stop serving `name` here. */
  removeTarget(name: string): void {
    this.#targets.get(name)?.unsubscribe();
    this.#targets.delete(name);
  }

  publish(message: WireMessage): void {
    const nc = this.#usable(message);
    if (!nc) return;
    const subject = message.target === undefined
      ? `${this.#prefix}.event.${eventSubject(message.event)}`
      : `${this.#prefix}.plugin.${natsToken(message.target)}.${eventSubject(message.event)}`;
    try {
      nc.publish(subject, encodeWire(message));
    } catch (e) {
      this.#report(this.#failure(e, `message "${message.event}"${message.target ? ` to "${message.target}"` : ""}`));
    }
  }

  request(message: WireMessage, timeoutMs: number): Promise<RequestOutcome> {
    if (message.target === undefined) return Promise.resolve(UNKNOWN_TARGET);
    const nc = this.#usable(message);
    if (!nc) return Promise.resolve(FAILED);
    const subject = `${this.#prefix}.plugin.${natsToken(message.target)}.${eventSubject(message.event)}`;
    let frame: Uint8Array;
    try {
      frame = encodeWire(message.timeoutMs === undefined ? { ...message, timeoutMs } : message);
    } catch (e) {
      this.#report(new TransportError(NAME, "too-large", `request "${message.event}" to "${message.target}": ${(e as Error).message}`, { cause: e }));
      return Promise.resolve({ ok: false, error: "too-large" });
    }
    const token = (++this.#nextToken).toString(36);
    return new Promise<RequestOutcome>((resolve) => {
      const timer = setTimeout(() => {
        // A late answer finds no entry and is dropped.
        this.#pending.delete(token);
        resolve(TIMEOUT);
      }, Math.max(1, Math.ceil(timeoutMs)));
      this.#pending.set(token, { resolve, timer });
      try {
        nc.publish(subject, frame, { reply: this.#inbox + token });
      } catch (e) {
        clearTimeout(timer);
        this.#pending.delete(token);
        const err = this.#failure(e, `request "${message.event}" to "${message.target}"`);
        this.#report(err);
        resolve({ ok: false, error: err.reason === "too-large" ? "too-large" : "failed" });
      }
    });
  }

  /** An answer (or the server's "no responders") on our inbox. */
  #onReply(err: Error | null, msg: NatsMsg): void {
    if (err) return;
    const token = msg.subject.slice(this.#inbox.length);
    const p = this.#pending.get(token);
    if (!p) return;
    this.#pending.delete(token);
    clearTimeout(p.timer);
    // The server's status message: no payload, code 503 (our own answers are never empty).
    if (msg.data.length === 0 && msg.headers?.code === 503) return p.resolve(UNKNOWN_TARGET);
    try {
      p.resolve(decodeOutcome(msg.data));
    } catch (e) {
      this.#report(new TransportError(NAME, "bad-message", `a malformed answer on ${msg.subject} was dropped: ${(e as Error).message}`, { cause: e }));
      p.resolve(FAILED);
    }
  }

  /** Every request still waiting answers `failed`: its answer cannot come (the connection dropped, or stop). */
  #failPending(): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.resolve(FAILED);
    }
    this.#pending.clear();
  }

  /** Unsubscribes, lets requests being answered finish (up to `stopGraceMs`), flushes and disconnects. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#failPending();
    const nc = this.#nc;
    if (!nc) return;
    this.#emits?.unsubscribe();
    for (const sub of this.#targets.values()) sub?.unsubscribe();
    if (this.#answering.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.#answering]),
        new Promise<void>((r) => { timer = setTimeout(r, this.#options.stopGraceMs ?? 2000); }),
      ]);
      clearTimeout(timer);
    }
    if (nc.isClosed()) return;
    try {
      if (this.#down) await nc.close();
      else await nc.drain();
    } catch {
      await nc.close().catch(() => undefined);
    }
  }

  #subscribeTarget(nc: NatsConn, name: string): NatsSub {
    const token = natsToken(name);
    return nc.subscribe(`${this.#prefix}.plugin.${token}.>`, {
      queue: `${this.#prefix}.plugin.${token}`,
      callback: (err, msg) => this.#onMessage(err, msg, name),
    });
  }

  /** One message from the bus: an emit (`target` undefined) or a send or request to the local `target`. */
  #onMessage(err: Error | null, msg: NatsMsg, target: string | undefined): void {
    const sink = this.#sink;
    if (err || !sink || this.#stopped) return;
    let message: WireMessage;
    try {
      message = decodeWire(msg.data);
    } catch (e) {
      this.#report(new TransportError(NAME, "bad-message", `a malformed message on ${msg.subject} was dropped: ${(e as Error).message}`, { cause: e }));
      if (msg.reply) msg.respond(encodeOutcome({ ok: false, error: "failed" }));
      return;
    }
    if (message.origin === sink.hostId && target === undefined) return;
    if (message.target !== target) {
      this.#report(new TransportError(NAME, "bad-message", `a message on ${msg.subject} names target "${message.target ?? "(none)"}"; it was dropped`));
      if (msg.reply) msg.respond(encodeOutcome({ ok: false, error: "unknown-target" }));
      return;
    }
    if (!msg.reply) {
      if (message.kind === "request") {
        this.#report(new TransportError(NAME, "bad-message", `request "${message.event}" from host "${message.origin}" came without a reply subject; it was dropped`));
        return;
      }
      try {
        sink.deliver(message);
      } catch (e) {
        this.#report(new TransportError(NAME, "failed", `delivering "${message.event}" from host "${message.origin}" failed: ${(e as Error).message}`, { cause: e }));
      }
      return;
    }
    const answering = this.#answer(sink, message, msg);
    this.#answering.add(answering);
    void answering.finally(() => this.#answering.delete(answering));
  }

  async #answer(sink: TransportSink, message: WireMessage, msg: NatsMsg): Promise<void> {
    let outcome: RequestOutcome;
    try {
      outcome = await sink.answer(message);
    } catch (e) {
      this.#report(new TransportError(NAME, "failed", `answering request "${message.event}" from host "${message.origin}" failed: ${(e as Error).message}`, { cause: e }));
      outcome = { ok: false, error: "failed" };
    }
    try {
      msg.respond(encodeOutcome(outcome));
    } catch (e) {
      this.#report(this.#failure(e, `the answer to request "${message.event}" from host "${message.origin}"`));
    }
  }

  /** The connection, when a message may go out now; otherwise reports why not and answers undefined. */
  #usable(message: WireMessage): NatsConn | undefined {
    const nc = this.#nc;
    const what = `${message.kind === "request" ? "request" : "message"} "${message.event}"${message.target ? ` to "${message.target}"` : ""}`;
    if (!nc || this.#stopped || nc.isClosed()) {
      this.#report(new TransportError(NAME, "closed", `${what} not sent to other hosts: the transport is ${nc ? "stopped" : "not started"}`));
      return undefined;
    }
    if (this.#down) {
      this.#report(new TransportError(NAME, "disconnected", `${what} not sent to other hosts: the connection to the server is down (reconnecting)`));
      return undefined;
    }
    return nc;
  }

  #failure(e: unknown, what: string): TransportError {
    const code = codeOf(e);
    if (code === "MAX_PAYLOAD_EXCEEDED") return new TransportError(NAME, "too-large", `${what} is larger than the server's max_payload`, { cause: e });
    if (code === "CONNECTION_CLOSED") return new TransportError(NAME, "closed", `${what}: the connection is closed`, { cause: e });
    if (code === "DISCONNECT" || code === "CONNECTION_REFUSED") return new TransportError(NAME, "disconnected", `${what}: the connection to the server is down`, { cause: e });
    return new TransportError(NAME, "failed", `${what}: ${code ?? (e as Error).message}`, { cause: e });
  }

  #report(error: PlughostError): void {
    try {
      this.#sink?.onError(error);
    } catch {
      // The sink's handler failing must not take the transport down.
    }
  }

  /** Follows the connection's state: down between a disconnect and the reconnect; closed for good after the attempts run out. */
  async #watch(nc: NatsConn): Promise<void> {
    void nc.closed().then((e) => {
      if (this.#stopped) return;
      this.#down = true;
      this.#failPending();
      this.#report(new TransportError(NAME, "closed", `the connection closed${e instanceof Error ? ` (${e.message})` : ""} and will not reconnect; messages to other hosts are dropped`, { cause: e }));
    });
    try {
      for await (const s of nc.status()) {
        if (this.#stopped) return;
        if (s.type === "disconnect") {
          this.#down = true;
          this.#failPending();
          this.#report(new TransportError(NAME, "disconnected", `lost the connection to ${String(s.data)}; reconnecting, messages to other hosts are refused meanwhile`));
        } else if (s.type === "reconnect") {
          this.#down = false;
        } else if (s.type === "error") {
          this.#report(new TransportError(NAME, "failed", `the server reported an error: ${String(s.data)}`));
        }
      }
    } catch {
      // The iterator ends with the connection.
    }
  }
}
