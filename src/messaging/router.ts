/**
 * Request routing and the wiring to other hosts, behind `registry.request`, `addService`, a guest's `request` and
 * `request-sync`, and the transport (registry option `transport`): docs/messaging.md. Taken out of the registry as
 * the hook chains were (src/hooks/chain.ts): the registry keeps its plugins and hands the router a narrow
 * `RouterHost` (entry lookup, a plugin's hook, faults and violations, the call pipeline, options).
 *
 * The synchronous paths (a guest's `request-sync`, an idle inline target's direct answer) make no closure or
 * promise per request beyond what they made in the registry.
 */
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { InterceptorFailed, PluginNotRunning, PlughostError, RequestFailed } from "../contract/errors.js";
import { REQUEST_ERRORS, type RequestError } from "../contract/abi.js";
import { eventNameProblem } from "../contract/event-names.js";
import type { EngineInstance, HookOutcome, RequestOutcome, ViolationKind } from "../engines/engine.js";
import type { HostCallOptions } from "../runtime/host-calls.js";
import { currentDelivery, enterDelivery, restoreDelivery, withDelivery, type Delivery } from "../runtime/message-chain.js";
import type { CallContext, CallPipeline } from "../runtime/calls.js";
import type { Logger } from "../runtime/logger.js";
import type { Entry, RegistryOptions } from "../runtime/registry.js";
import type { PluginState } from "../runtime/lifecycle.js";
import { envelope, mergeMetadata, toMessage, type Envelope } from "./envelope.js";
import { newHookSink, type HookSink, type SinkHookCall } from "../hooks/sink.js";
import { answerWithin, chainProblem, refused, requestTimeout, type Answer, type RequestOptions, type ServiceHandler } from "./requests.js";
import type { Subscriptions } from "./subscriptions.js";
import type { Transport, TransportSink, WireMessage } from "./transport.js";

/** What the router needs of the registry: its plugins, their calls, and where faults and violations go. */
export interface RouterHost {
  /** The registry's `hostCalls` options. */
  readonly options: HostCallOptions;
  readonly logger: Logger;
  /** The call pipeline (`registry.use`). */
  readonly calls: CallPipeline;
  /** Whether an interceptor is in the pipeline. */
  intercepted(): boolean;
  /** The loaded plugins by name. */
  readonly entries: ReadonlyMap<string, Entry>;
  /** The plugins subscribed per event, highest priority first. */
  readonly subscribers: ReadonlyMap<string, readonly Entry[]>;
  /** The host's own subscribers (`registry.subscribe`). */
  readonly subscriptions: Subscriptions;
  /** How many messages a plugin may have queued. */
  readonly maxPendingMessages: number;
  /** The plugin that takes `event` for `t` (a disabled target's fallback). */
  standInFor(t: Entry | undefined, event: string): Entry | undefined;
  /** Whether `t` is lazy and not yet activated. */
  mustActivate(t: Entry): boolean;
  /** Activate the lazy plugin `name` (an error is logged there, never thrown). */
  activate(name: string, trigger: string): Promise<PlughostError | undefined>;
  /** The delivery `entry`'s host calls happen in now. */
  within(entry: Entry): Delivery;
  /** A plugin's hook through the call pipeline and the call gate. */
  hook(t: Entry, event: string, data: Uint8Array, hostContext: unknown, delivery: Delivery): Promise<HookOutcome>;
  /** A plugin's or host's event call as a delivery (a message). */
  invokeIn(name: string, event: string, data: Uint8Array, delivery: Delivery): Promise<number>;
  /** Record a fault of `t`'s instance (restarts, metrics) and the error to report. */
  callFailed(t: Entry, instance: EngineInstance, err: unknown, event: string, call?: CallContext): PlughostError;
  recordViolation(name: string, kind: ViolationKind, detail: string): boolean;
  /** A transport error no caller hears (the registry's `transportError` event). */
  transportError(error: PlughostError): void;
  /** Follow plugins' states (to keep the transport's targets). */
  onState(fn: (s: { plugin: string; to: PluginState }) => void): void;
  deadlineOf(t: Entry): number | undefined;
  lateInterceptorError(t: Entry, ctx: CallContext, err: unknown): void;
  latest(t: Entry): Entry;
  inCall(delivery: Delivery, ctx: CallContext): Delivery;
  /** `err` as a `PlughostError` (of `plugin`). */
  asPlughostError(err: unknown, plugin: string): PlughostError;
}

/** Requests, host services and other hosts, for one registry. */
export class MessageRouter {
  readonly #host: RouterHost;
  /** The host services (`registry.addService`), by name. */
  readonly services = new Map<string, ServiceHandler>();
  #transport: Transport | undefined;
  #transportStarted: Promise<void> | undefined;
  #transportUp = false;
  /** This host's identity on a transport. */
  hostId = "";
  /**
   * Where an idle v8 target's answer to a guest's `request-sync` is written (hooks/sink.ts): the answer is read and
   * copied into the asker at once, before any other request can be answered, so one buffer serves them all.
   */
  readonly #answerSink: HookSink = newHookSink();
  #lastAlone: readonly string[] = NO_REQUESTS;

  constructor(host: RouterHost) {
    this.#host = host;
  }

  /** The transport (registry option `transport`), if any. */
  get transport(): Transport | undefined {
    return this.#transport;
  }

  /** Stop the transport, if any, once it has started. */
  async stop(): Promise<void> {
    const t = this.#transport;
    if (t === undefined) return;
    await this.#transportStarted;
    await t.stop();
  }

  /** A message leaving for other hosts past `hostCalls.maxMessageHops` is refused, recorded once per chain, as the registry's #admit does. */
  overHops(from: Entry, hop: number, what: string): boolean {
    const max = this.#host.options.maxMessageHops;
    if (hop <= max) return false;
    const chain = this.#host.within(from).chain;
    if (chain === undefined || !chain.reported) {
      if (chain !== undefined) chain.reported = true;
      this.#host.recordViolation(from.name, "capability", `${what} denied: the message chain would reach hop ${hop}, over the limit of ${max} (hostCalls.maxMessageHops): plugins answering each other's events loop`);
    }
    return true;
  }

  /**
   * The delivery of a request from `from` (undefined: the host) made in `within`, or why it cannot be made
   * (`cycle`, `too-deep`). Its deadline is when the caller stops waiting.
   */
  #requestDelivery(
    from: Entry | undefined,
    within: Delivery,
    to: string,
    event: string,
    data: Uint8Array,
    timeoutMs: number,
    metadata: Readonly<Record<string, string>> | undefined,
    sync: boolean,
  ): Delivery | RequestError {
    const waiting = within.requests ?? NO_REQUESTS;
    const problem = chainProblem(waiting, from?.name, to, this.#host.options.maxRequestDepth);
    if (problem) return problem;
    // A synchronous request is answered before it returns: no wait, so no deadline (and no clock read). Otherwise the
    // caller's own deadline bounds the wait: a nested request's, the call's, else the plugin's whole limit.
    let deadline: number | undefined;
    if (!sync) {
      const now = Date.now(); // one clock read (a slow call on some hosts)
      const deadlineMs = from?.limits.deadlineMs;
      const callerDeadline = within.deadline ?? within.call?.deadline ?? (deadlineMs === undefined ? undefined : now + deadlineMs);
      deadline = now + requestTimeout(timeoutMs, this.#host.options, callerDeadline, now);
    }
    const parent = within.envelope;
    const env = envelope(event, "request", data, to, from?.name, parent, metadata === undefined ? undefined : mergeMetadata(parent?.metadata, metadata));
    return {
      hop: within.hop,
      chain: within.chain,
      parent: within.call,
      envelope: env,
      requests: from === undefined ? waiting : waiting.length === 0 ? this.#alone(from.name) : [...waiting, from.name],
      deadline,
    };
  }

  /** The request chain of `name` asking outside any request, frozen; the last one is kept (a guest asks again and again). */
  #alone(name: string): readonly string[] {
    const last = this.#lastAlone;
    if (last.length === 1 && last[0] === name) return last;
    return (this.#lastAlone = Object.freeze([name]));
  }

  /** `requestSync` of `from`'s guest: answered now by a target that can answer on this thread, else `would-block`. */
  requestSync(from: Entry, to: string, event: string, lent: Uint8Array, timeoutMs: number): RequestOutcome {
    // `lent` is the engine's until this returns (engine.ts): a host service may keep its message, and an interceptor
    // may hold the call, so those get a copy; a plugin's hook copies the bytes into its guest before returning.
    const service = this.services.get(to);
    const data = service !== undefined || this.#host.intercepted() ? lent.slice() : lent;
    const d = this.#requestDelivery(from, this.#host.within(from), to, event, data, timeoutMs, undefined, true);
    if (typeof d === "string") return refused(d);
    if (service) return this.#serviceSync(service, d);
    const t = this.#host.standInFor(this.#host.entries.get(to), event);
    if (t !== undefined && this.#host.mustActivate(t)) return refused("would-block"); // a lazy target: activating it takes a wait
    if (this.#transport !== undefined && (t === undefined || t.state === "unloaded")) return refused("would-block"); // maybe on another host: only a wait tells
    // `active` is `state === "active"` kept as a field (the state is a getter).
    if (t === undefined || t.quiet || (!t.active && t.restarting === undefined)) return refused("unknown-target");
    if (t.restarting === undefined && !t.callbacks.has(event)) return refused("not-handled");
    const instance = t.instance;
    // Any idle instance with a synchronous hook answers: in-process v8, trusted native, wasmtime's sync caller.
    if (!instance?.onHookSync || t.pending !== 0 || t.restarting !== undefined || !t.active) return refused("would-block");
    return this.#answerSync(t, instance, event, data, d, this.#answerSink);
  }

  /**
   * The target's hook, called on this thread now as the request `d`'s delivery. With `sink` (a guest's synchronous
   * request, whose answer is copied out before the next request), an engine that can writes the answer into it.
   */
  #answerSync(t: Entry, instance: EngineInstance, event: string, data: Uint8Array, d: Delivery, sink: HookSink | undefined): Answer {
    t.metrics.calls++;
    const probe = t.probe;
    const t0 = probe === undefined ? -1 : probe.begin(event);
    let ctx: CallContext | undefined;
    let outcome: HookOutcome;
    try {
      if (this.#host.intercepted()) {
        const c = (ctx = this.#host.calls.context(t.name, event, "hook", this.#host.deadlineOf(t), d.parent, undefined));
        const within = this.#host.inCall(d, c);
        const r = this.#host.calls.runSync(c, () => withDelivery(within, () => instance.onHookSync!(event, data)), (err) => this.#host.lateInterceptorError(t, c, err));
        if (!r.ran) {
          const cause = new InterceptorFailed(event, "hook", "no interceptor called next() before its first await, and a synchronous request cannot wait", { plugin: t.name });
          return { ok: false, error: "failed", cause };
        }
        outcome = r.value;
      } else {
        const previous = enterDelivery(d);
        try {
          const into = sink === undefined ? undefined : (instance as Partial<SinkHookCall>).onHookSyncInto;
          outcome = into === undefined ? instance.onHookSync!(event, data) : into.call(instance, event, data, sink!);
        } finally {
          restoreDelivery(previous);
        }
      }
      t.restartCount = 0;
    } catch (err) {
      return { ok: false, error: "failed", cause: this.#host.callFailed(t, instance, err, event, ctx) };
    } finally {
      if (t0 >= 0) probe!.end(event, t0);
    }
    return this.#answerOf(outcome);
  }

  /** A hook's outcome as a request's answer. */
  #answerOf(outcome: HookOutcome): Answer {
    if (!outcome.ok) return { ok: false, error: "rejected", status: outcome.status };
    if (outcome.data.length > this.#host.options.maxMessageBytes) return refused("too-large");
    return { ok: true, value: outcome.data };
  }

  /**
   * A request from `from` (undefined: the host) made in `within`, answered by a host service or a plugin on any
   * engine, within its timeout. Never rejects.
   */
  requestAsync(from: Entry | undefined, within: Delivery, to: string, event: string, data: Uint8Array, timeoutMs: number, options?: RequestOptions): Promise<Answer> {
    const d = this.#requestDelivery(from, within, to, event, data, timeoutMs, options?.metadata, false);
    if (typeof d === "string") return Promise.resolve(refused(d));
    return this.#route(d, to, event, data, options?.hostContext, true);
  }

  /**
   * Deliver the request `d` to `to`: a host service, a plugin here, or (`forward`, with a transport) another host.
   * Never rejects.
   */
  #route(d: Delivery, to: string, event: string, data: Uint8Array, hostContext: unknown, forward: boolean): Promise<Answer> {
    // What is left of the wait is read from the clock only where a wait is armed: an answer given at once needs none.
    const service = this.services.get(to);
    if (service) return answerWithin(this.#serviceAsync(service, d), d.deadline! - Date.now());
    const t = this.#host.standInFor(this.#host.entries.get(to), event);
    if (t !== undefined && this.#host.mustActivate(t)) {
      const ms = d.deadline! - Date.now();
      return answerWithin(this.#host.activate(to, "request").then(() => this.#route(d, to, event, data, hostContext, forward)), ms);
    }
    if (forward && this.#transport !== undefined && (t === undefined || t.state === "unloaded")) return this.#requestRemote(d, d.deadline! - Date.now()); // not served here
    if (t === undefined || t.quiet || (!t.active && t.restarting === undefined)) return Promise.resolve(refused("unknown-target"));
    if (t.restarting === undefined && !t.callbacks.has(event)) return Promise.resolve(refused("not-handled"));
    // An idle inline target answers at once when no call runs on this thread (the host's own request, one from
    // another host): no queue turn and no timer, and the same outcome (such a call runs to its end anyway).
    const instance = t.instance;
    if (instance?.inline && instance.onHookSync && t.pending === 0 && t.restarting === undefined && t.active && hostContext === undefined && !this.#host.intercepted() && currentDelivery() === undefined) {
      return Promise.resolve(this.#answerSync(t, instance, event, data, d, undefined)); // the answer is the caller's: no sink
    }
    let work: Promise<Answer>;
    try {
      work = this.#host.hook(t, event, data, hostContext, d).then(
        (outcome) => this.#answerOf(outcome),
        (err: unknown) => this.#failedAnswer(t, event, err),
      );
    } catch (err) {
      work = Promise.resolve(this.#failedAnswer(t, event, err));
    }
    return answerWithin(work, d.deadline! - Date.now());
  }

  /** Why a target's call for a request failed: gone, no longer handling the event, or a failure (recorded already). */
  #failedAnswer(t: Entry, event: string, err: unknown): Answer {
    if (err instanceof PluginNotRunning) return refused("unknown-target");
    if (!this.#host.latest(t).callbacks.has(event)) return refused("not-handled");
    return { ok: false, error: "failed", cause: this.#host.asPlughostError(err, t.name) };
  }

  /** A host service's answer on this thread: a promise (or anything not bytes) cannot be waited for here. */
  #serviceSync(service: ServiceHandler, d: Delivery): Answer {
    let out: Uint8Array | Promise<Uint8Array>;
    try {
      out = withDelivery(d, () => service(toMessage(d.envelope!)));
    } catch (err) {
      return this.#serviceFailed(d, err);
    }
    if (out instanceof Uint8Array) return this.#answerOf({ ok: true, data: out });
    if (isThenable(out)) {
      out.then(undefined, (err: unknown) => void this.#serviceFailed(d, err));
      return refused("would-block");
    }
    return this.#serviceFailed(d, new TypeError("the handler answered neither bytes (Uint8Array) nor a promise of them"));
  }

  /** A host service's answer, waited for. */
  async #serviceAsync(service: ServiceHandler, d: Delivery): Promise<Answer> {
    try {
      const out = await withDelivery(d, () => service(toMessage(d.envelope!)));
      if (out instanceof Uint8Array) return this.#answerOf({ ok: true, data: out });
      throw new TypeError("the handler answered neither bytes (Uint8Array) nor a promise of them");
    } catch (err) {
      return this.#serviceFailed(d, err);
    }
  }

  /** A host service that threw: its `RequestFailed` reason passes on (a rejection with a status); anything else is `failed`, logged. */
  #serviceFailed(d: Delivery, err: unknown): Answer {
    if (err instanceof RequestFailed && (REQUEST_ERRORS as readonly string[]).includes(err.reason)) {
      return { ok: false, error: err.reason as RequestError, ...(err.status !== undefined ? { status: err.status } : {}) };
    }
    const env = d.envelope!;
    this.#host.logger.warn({ err, service: env.target, event: env.event }, `host service "${env.target}" failed to answer "${env.event}"`);
    return { ok: false, error: "failed", ...(err instanceof PlughostError ? { cause: err } : {}) };
  }

  /** Connect the transport (registry option `transport`) and keep its targets: the loaded plugins and host services. */
  start(options: Pick<RegistryOptions, "transport" | "hostId">): void {
    this.hostId = options.hostId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    const t = options.transport;
    if (t === undefined) return;
    this.#transport = t;
    const sink: TransportSink = {
      hostId: this.hostId,
      // A malformed message from a transport is its error, never the host's crash.
      deliver: (m) => {
        try {
          this.#fromRemote(m);
        } catch (err) {
          this.#transportError(this.#host.asPlughostError(err, ""));
        }
      },
      answer: (m) => {
        try {
          return this.#answerRemote(m);
        } catch (err) {
          this.#transportError(this.#host.asPlughostError(err, ""));
          return Promise.resolve(refused("failed"));
        }
      },
      onError: (e) => this.#transportError(e),
    };
    this.#transportStarted = t.start(sink).then(
      () => void (this.#transportUp = true),
      (err: unknown) => this.#transportError(this.#host.asPlughostError(err, "")),
    );
    this.#host.onState((s) => {
      if (s.to === "active") t.addTarget?.(s.plugin);
      else if (s.to === "unloaded") t.removeTarget?.(s.plugin);
    });
  }

  #transportError(error: PlughostError): void {
    this.#host.logger.warn({ err: error, code: error.code }, error.message);
    this.#host.transportError(error);
  }

  /**
   * An emit (`to` undefined) or a send to a plugin not loaded here, leaving the sender's call: to the host's
   * subscribers (emits) and the transport. `env` is the local message's envelope when it has one.
   */
  beyond(from: Entry, event: string, data: Uint8Array, to: string | undefined, env: Envelope | undefined, hop: number): void {
    const e = env ?? envelope(event, "event", data, to, from.name, this.#host.within(from).envelope, undefined);
    if (to === undefined && this.#host.subscriptions.wants(event)) this.#host.subscriptions.publish(toMessage(e));
    const t = this.#transport;
    if (t === undefined) return;
    // The message's hop goes along, so plugins answering each other's events across hosts end at the hop limit too
    // (on transports that carry it: see `wireHop`).
    const wire: WireMessage = { ...toMessage(e), origin: this.hostId, hop };
    if (this.#transportUp) t.publish(wire);
    else void this.#transportStarted!.then(() => this.#transportUp && t.publish(wire));
  }

  /** A request to a name not served here, through the transport. */
  async #requestRemote(d: Delivery, ms: number): Promise<Answer> {
    if (!this.#transportUp) await this.#transportStarted;
    const wire: WireMessage = { ...toMessage(d.envelope!), origin: this.hostId, chain: d.requests ?? NO_REQUESTS, timeoutMs: ms };
    return answerWithin(this.#transport!.request(wire, ms), ms + 50);
  }

  /** An emit or a send from another host: delivered as a local one would be (registered callbacks, queue bounds). */
  #fromRemote(m: WireMessage): void {
    if (m.origin === this.hostId || m.kind !== "event" || eventNameProblem(m.event)) return;
    const env = envelope(m.event, "event", m.data, m.target, m.source, undefined, m.metadata);
    if (m.parentId !== undefined) env.parentId = m.parentId;
    if (m.target === undefined && this.#host.subscriptions.wants(m.event)) this.#host.subscriptions.publish(toMessage(env));
    const o = this.#host.options;
    const bytes = m.data.length;
    const candidates = m.target === undefined ? (this.#host.subscribers.get(m.event) ?? []) : [this.#host.entries.get(m.target)].filter((e): e is Entry => e !== undefined);
    const targets = candidates.filter(
      (e) => (e.state === "active" || e.restarting !== undefined) && !e.quiet && e.pendingMessages < this.#host.maxPendingMessages && e.pendingBytesIn + bytes <= o.maxPendingBytesPerReceiver,
    );
    if (targets.length < candidates.length) this.#host.logger.warn({ event: m.event, origin: m.origin }, "a message from another host was dropped for some receivers: their queues are full");
    if (targets.length === 0) return;
    // A new chain at the sender's hop: the local hop and budget limits bound what it sets off here.
    const hop = wireHop(m);
    if (hop > o.maxMessageHops) {
      this.#host.logger.warn({ event: m.event, origin: m.origin, hop }, `a message from another host was dropped: hop ${hop} is over hostCalls.maxMessageHops (plugins answering each other's events across hosts)`);
      return;
    }
    const delivery: Delivery = { hop, chain: { messages: targets.length, reported: false }, envelope: env };
    for (const to of targets) {
      to.pendingMessages++;
      to.pendingBytesIn += bytes;
      setImmediate(() => {
        to.pendingMessages--;
        const release = () => void (to.pendingBytesIn -= bytes);
        if (!to.restarting && (to.state !== "active" || !to.callbacks.has(m.event))) return release();
        to.metrics.messagesReceived++;
        this.#host.invokeIn(to.name, m.event, m.data, delivery)
          .catch((err: unknown) => to.logger.warn({ err, origin: m.origin, from: m.source, event: m.event }, "message delivery failed"))
          .finally(release);
      });
    }
  }

  /** A request from another host to a plugin or host service here (never forwarded again). */
  #answerRemote(m: WireMessage): Promise<RequestOutcome> {
    const to = m.target;
    if (to === undefined || m.kind !== "request") return Promise.resolve(refused("unknown-target"));
    if (eventNameProblem(m.event)) return Promise.resolve(refused("invalid-name"));
    if (m.data.length > this.#host.options.maxMessageBytes) return Promise.resolve(refused("too-large"));
    const waiting = m.chain ?? NO_REQUESTS;
    const problem = chainProblem(waiting, undefined, to, this.#host.options.maxRequestDepth);
    if (problem) return Promise.resolve(refused(problem));
    const ms = requestTimeout(m.timeoutMs ?? 0, this.#host.options, undefined);
    const env = envelope(m.event, "request", m.data, to, m.source, undefined, m.metadata);
    if (m.parentId !== undefined) env.parentId = m.parentId;
    const d: Delivery = { hop: 0, chain: undefined, envelope: env, requests: waiting, deadline: Date.now() + ms };
    return this.#route(d, to, m.event, m.data, undefined, false);
  }
}

/** The hop of a message from another host: its `hop` when the transport carries one, else 1. */
function wireHop(m: WireMessage): number {
  const hop = m.hop;
  return typeof hop === "number" && Number.isInteger(hop) && hop >= 1 ? hop : 1;
}

/** A request chain with nobody waiting. */
const NO_REQUESTS: readonly string[] = Object.freeze([]);

function isThenable(v: unknown): v is Promise<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}
