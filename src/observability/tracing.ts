/**
 * Tracing with OpenTelemetry (`@opentelemetry/api` only: the application
 * brings the SDK, or nothing, and then every span is a no-op).
 *
 * `enableTracing(registry)` adds one interceptor to the call pipeline
 * (docs/pipeline.md) and watches each `dispatch` and `runHook` as a whole:
 *
 * - a span per call: `invoke`, `hook`, each `dispatch` step, each message
 *   delivery, named `"<kind> <plugin>:<event>"`;
 * - a span per hook chain (`runHook <event>`) and per dispatch
 *   (`dispatch <event>`), the parent of its steps' spans;
 * - a message's delivery is a child of the call that emitted or sent it
 *   (the pipeline's `parentCallId`), so a trace follows messages across
 *   plugins;
 * - host calls (`log`, `emit`, `send`, …) are events on the guest call's
 *   span by default: they are many and short, and an event costs no ids, no
 *   context and no export of its own (`hostCalls: "spans"` makes them child
 *   spans instead).
 *
 * The root of a call's spans comes from its `hostContext` (an OpenTelemetry
 * `Context`, a W3C `traceparent` string, or an object carrying one, see
 * `traceContextOf`), else from the active context (`context.active()`, set
 * when the application registered a context manager). Everything the call
 * causes (hook steps, the messages it emits, their deliveries and what they
 * emit) descends from it.
 *
 * Off, or on without an SDK to record spans, nothing is added: no
 * interceptor, no watcher, so the dispatch fast path and the sync calls run
 * as without tracing.
 */
import {
  context as otelContext,
  createTraceState,
  isSpanContextValid,
  ProxyTracer,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from "@opentelemetry/api";
import { PlughostError } from "../contract/errors.js";
import type { CallContext, Interceptor } from "../runtime/calls.js";
import type { ChainWatch, ChainWatcher, DispatchResult, HookChainResult, PluginRegistry } from "../runtime/registry.js";

/** The attribute names plughost's spans carry. */
export const TRACE_ATTRIBUTES = {
  /** The plugin called (for a host call: the plugin that made it). */
  plugin: "plughost.plugin",
  /** The event, or the host function's name. */
  event: "plughost.event",
  /** `invoke`, `hook`, `dispatch`, `message`, `host-call`; on a whole dispatch or hook chain, `dispatch` or `runHook`. */
  kind: "plughost.call.kind",
  /** The pipeline's call id (`CallContext.callId`). */
  callId: "plughost.call.id",
  /** The call during which this one was made (`CallContext.parentCallId`): for a message, the emitting call. */
  parentCallId: "plughost.call.parent_id",
  /** Fuel the call used, when the plugin is metered (its `lastCallFuel` when the call ended). */
  fuel: "plughost.fuel.used",
  /** The callback's status (invoke, dispatch, message), or the status of a hook that returned `err`. */
  status: "plughost.status",
  /** `ok` (status 0 or a hook's `ok`), `status` (another status), `rejected` (a hook's `err`), `error` (the call failed). */
  outcome: "plughost.outcome",
  /** The `PlughostError` code of a failed call (also in `error.type`). */
  errorCode: "plughost.error.code",
  /** A dispatch's subscribers called, or a hook chain's hooks called. */
  steps: "plughost.chain.steps",
  /** A dispatch's or hook chain's steps that failed. */
  failures: "plughost.chain.failures",
  /** The plugin whose hook stopped a chain. */
  stoppedBy: "plughost.chain.stopped_by",
  /** On an `emit`/`send` host call: how many plugins the message was queued for. */
  targets: "plughost.message.targets",
  /** On an `emit`/`send` host call that was refused: why (`denied`, `queue-full`, …). */
  messageError: "plughost.message.error",
} as const;

/** Options of `enableTracing`. */
export interface TracingOptions {
  /**
   * The tracer spans are made with. Default: `trace.getTracer("plughost")`,
   * the globally registered provider's (a no-op until an SDK registers one).
   */
  tracer?: Tracer;
  /**
   * How host calls appear: `"events"` (default) on the guest call's span,
   * `"spans"` as its child spans, `"none"` not at all.
   */
  hostCalls?: "events" | "spans" | "none";
  /** The trace context a call's `hostContext` carries; default `traceContextOf`. */
  contextOf?: (hostContext: unknown) => Context | undefined;
  /** Record the fuel each call used (`plughost.fuel.used`, read from the plugin's metrics as the call ends); default true. */
  fuel?: boolean;
}

/** Tracing enabled on one registry (`enableTracing`). */
export interface Tracing {
  /** The tracer spans are made with. */
  readonly tracer: Tracer;
  /** True while spans are being made: false after `disable()`, and while the global tracer has no SDK behind it. */
  readonly active: boolean;
  /** Stop tracing: calls that begin afterwards make no spans (those in progress still end theirs). Idempotent. */
  disable(): void;
}

/** A span of a call in progress, or of one that ended but whose messages have not all been delivered. */
interface Live {
  readonly span: Span;
  /** The context its children start in: the span set on its parent's context. */
  readonly ctx: Context;
  ended: boolean;
  /** `emit`/`send` host calls whose outcome has not been seen yet. */
  sending: number;
  /** Messages queued for delivery (from those outcomes), and those whose delivery began. */
  expected: number;
  delivered: number;
}

/**
 * Ended calls kept for their messages' deliveries, at most: deliveries dropped
 * before they begin (the receiver was unloaded) never claim theirs, and the
 * oldest are forgotten past this. A delivery whose parent was forgotten still
 * joins the trace through the hostContext it inherits.
 */
const MAX_SENDERS = 4096;

/** How often a tracing waiting for an SDK checks whether one was registered. */
const SDK_POLL_MS = 500;

/**
 * Trace a registry's calls with OpenTelemetry. Returns a handle whose
 * `disable()` stops it. Several tracings may be enabled on one registry
 * (each makes its own spans).
 *
 * Tracing costs nothing until spans can be recorded: with the API's global
 * tracer and no SDK registered (OpenTelemetry's "API without an SDK is a
 * no-op"), no interceptor is added, and the registry's calls (the sync fast
 * paths and the dispatch fast path included) run as without tracing;
 * `active` is false. A global provider registered later
 * (`trace.setGlobalTracerProvider`, the SDK's `register()`) is noticed within
 * half a second and tracing starts. With an SDK, every call goes through the
 * call pipeline (docs/pipeline.md, "Costs") and makes a span (a few
 * microseconds in the SDK): sample with the SDK's sampler, whose decision a
 * call's hooks and messages inherit.
 *
 * Enable it before interceptors that wait before calling `next()`: a
 * dispatch step or hook finds its dispatch's or chain's span while the step
 * is issued, i.e. while the interceptors outside tracing's run synchronously.
 *
 * Switching it on from a benchmark: `enableTracing(registry)` is "tracing on,
 * no SDK" (free, as above); `enableTracing(registry, { tracer: new
 * BasicTracerProvider().getTracer("bench") })` is "tracing on, spans made,
 * no exporter".
 *
 * @example
 *   import { enableTracing } from "plughost"; // a bench in this repository: "../dist/observability/tracing.js"
 *   const tracing = enableTracing(registry);  // the global tracer: active once an SDK is registered
 *   // … measure …
 *   tracing.disable();
 *
 * @example
 *   // With the SDK: spans of a call that came with a W3C traceparent join the caller's trace.
 *   const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
 *   enableTracing(registry, { tracer: provider.getTracer("plughost") });
 *   await registry.runHook("on-request", body, { hostContext: extractTraceContext(request.headers) });
 */
export function enableTracing(registry: PluginRegistry, options: TracingOptions = {}): Tracing {
  const tracer = options.tracer ?? trace.getTracer("plughost");
  const state = new TraceState(registry, tracer, options);
  const all = tracings.get(registry) ?? new Set<TraceState>();
  tracings.set(registry, all);
  let removeInterceptor: (() => void) | undefined;
  let poll: ReturnType<typeof setInterval> | undefined;
  let on = true;
  const start = () => {
    removeInterceptor = registry.use(state.intercept);
    all.add(state);
    registry._chains = watcherOf(all);
  };
  if (canRecord(tracer)) start();
  else if (tracer instanceof ProxyTracer) {
    poll = setInterval(() => {
      if (!canRecord(tracer)) return;
      clearInterval(poll);
      poll = undefined;
      if (on) start();
    }, SDK_POLL_MS);
    poll.unref(); // waiting for an SDK never keeps the process alive
  }
  return {
    tracer,
    get active() {
      return removeInterceptor !== undefined && on;
    },
    disable() {
      if (!on) return;
      on = false;
      if (poll) clearInterval(poll);
      if (!removeInterceptor) return;
      removeInterceptor();
      all.delete(state);
      registry._chains = all.size === 0 ? undefined : watcherOf(all);
    },
  };
}

/** The API's no-op provider (what the global proxy delegates to while no SDK is registered) and its tracer's class. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();
const NOOP_TRACER = NOOP_PROVIDER.getTracer("plughost").constructor;

/** Whether `tracer` can record spans now: not the API's no-op tracer, nor the global one while no SDK is registered. */
function canRecord(tracer: Tracer): boolean {
  if (tracer instanceof ProxyTracer) {
    const global = trace.getTracerProvider();
    return !(global instanceof ProxyTracerProvider) || global.getDelegate() !== NOOP_PROVIDER;
  }
  return tracer.constructor !== NOOP_TRACER;
}

/** The tracings enabled on each registry (its chain watcher serves them all). */
const tracings = new WeakMap<PluginRegistry, Set<TraceState>>();

function watcherOf(states: ReadonlySet<TraceState>): ChainWatcher {
  const list = [...states];
  if (list.length === 1) return list[0]!;
  return {
    begin(kind, event, hostContext) {
      const watches = list.map((s) => s.begin(kind, event, hostContext));
      return {
        step: <T>(issue: () => T): T => watches.reduceRight<() => T>((inner, w) => () => w.step(inner), issue)(),
        end: (result) => watches.forEach((w) => w.end(result)),
      };
    },
  };
}

class TraceState implements ChainWatcher {
  readonly #registry: PluginRegistry;
  readonly #tracer: Tracer;
  readonly #hostCalls: "events" | "spans" | "none";
  readonly #contextOf: (hostContext: unknown) => Context | undefined;
  readonly #fuel: boolean;
  /** Calls in progress, by call id: their children (host calls, messages) find their span here. */
  readonly #calls = new Map<number, Live>();
  /** Ended calls whose messages are still to be delivered, oldest first. */
  readonly #senders = new Map<number, Live>();
  /** While a watched dispatch or chain issues a step: the context its step's span starts in. */
  #step: Context | undefined;

  constructor(registry: PluginRegistry, tracer: Tracer, options: TracingOptions) {
    this.#registry = registry;
    this.#tracer = tracer;
    this.#hostCalls = options.hostCalls ?? "events";
    this.#contextOf = options.contextOf ?? traceContextOf;
    this.#fuel = options.fuel ?? true;
  }

  /** The interceptor: a span around each call; host calls go to `#hostCall`. */
  readonly intercept: Interceptor = (ctx, next) => {
    if (ctx.kind === "host-call") return this.#hostCall(ctx, next);
    const parent = this.#parentOf(ctx);
    const span = this.#tracer.startSpan(
      `${ctx.kind} ${ctx.plugin}:${ctx.event}`,
      { kind: ctx.kind === "message" ? SpanKind.CONSUMER : SpanKind.INTERNAL, attributes: callAttributes(ctx) },
      parent,
    );
    if (!isSpanContextValid(span.spanContext())) {
      // The API's no-op tracer with no trace context to carry (no SDK registered): nothing to record or pass on.
      return next();
    }
    // Kept even when not recording (sampled out): its children then inherit that decision rather than make their own.
    const live: Live = { span, ctx: trace.setSpan(parent, span), ended: false, sending: 0, expected: 0, delivered: 0 };
    this.#calls.set(ctx.callId, live);
    const outcome = next();
    // A sync call (invokeSync, hookSync) has already run when next() returns, but its outcome is seen a microtask
    // later, after the caller's synchronous code: its span ends now, if its outcome is already there (the reaction
    // below then runs before the marker queued after it).
    const returned = performance.now();
    // Likewise its fuel, before the caller's next sync call replaces the figure (invoke and hook have sync forms).
    const fuelThen = this.#fuel && span.isRecording() && (ctx.kind === "invoke" || ctx.kind === "hook") ? this.#lastCallFuel(ctx.plugin) : undefined;
    let later = false;
    const settled = outcome.then(
      (value) => {
        this.#end(ctx, live, value, undefined, later ? undefined : { at: returned, fuel: fuelThen });
        return value;
      },
      (err: unknown) => {
        this.#end(ctx, live, undefined, err, later ? undefined : { at: returned, fuel: fuelThen });
        throw err;
      },
    );
    queueMicrotask(() => {
      later = true;
    });
    return settled;
  };

  /** The context a call's span starts in: its parent call's span, the watched chain's, or the caller's trace context. */
  #parentOf(ctx: CallContext): Context {
    if (ctx.parentCallId !== undefined) {
      const parent = this.#calls.get(ctx.parentCallId) ?? this.#senders.get(ctx.parentCallId);
      if (parent) {
        if (ctx.kind === "message") this.#delivered(ctx.parentCallId, parent);
        return parent.ctx;
      }
    } else if (this.#step !== undefined && (ctx.kind === "hook" || ctx.kind === "dispatch")) {
      const step = this.#step;
      this.#step = undefined; // one step per window: a call made inside this one is not the chain's
      return step;
    }
    return this.#rootOf(ctx.hostContext);
  }

  #rootOf(hostContext: unknown): Context {
    return (hostContext === undefined ? undefined : this.#contextOf(hostContext)) ?? otelContext.active();
  }

  /**
   * The call ended: its outcome or error on its span, which ends. A sync call's end time (a `performance.now()`)
   * and fuel were taken as it returned (`sync`); an async call's are now.
   */
  #end(ctx: CallContext, live: Live, outcome: unknown, err: unknown, sync: { at: number; fuel: number | undefined } | undefined): void {
    const span = live.span;
    if (!span.isRecording()) {
      // nothing to record
    } else if (err !== undefined) {
      failed(span, err);
    } else if (typeof outcome === "number") {
      span.setAttribute(TRACE_ATTRIBUTES.status, outcome);
      span.setAttribute(TRACE_ATTRIBUTES.outcome, outcome === 0 ? "ok" : "status");
    } else if (isHookOutcome(outcome)) {
      if (outcome.ok) {
        span.setAttribute(TRACE_ATTRIBUTES.outcome, "ok");
      } else {
        span.setAttribute(TRACE_ATTRIBUTES.outcome, "rejected");
        span.setAttribute(TRACE_ATTRIBUTES.status, outcome.status);
      }
    }
    if (this.#fuel && span.isRecording()) {
      const fuel = sync ? sync.fuel : this.#lastCallFuel(ctx.plugin);
      if (fuel !== undefined) span.setAttribute(TRACE_ATTRIBUTES.fuel, fuel);
    }
    span.end(sync?.at);
    live.ended = true;
    this.#calls.delete(ctx.callId);
    if (live.sending > 0 || live.delivered < live.expected) {
      this.#senders.set(ctx.callId, live);
      if (this.#senders.size > MAX_SENDERS) this.#senders.delete(this.#senders.keys().next().value!);
    }
  }

  /** The plugin's fuel for its last call (exact when its calls do not overlap); undefined when unmetered or gone. */
  #lastCallFuel(plugin: string): number | undefined {
    if (!this.#registry.has(plugin)) return undefined;
    return this.#registry.metrics(plugin).lastCallFuel;
  }

  /** A message's delivery began: its sender's span is forgotten once all its messages have. */
  #delivered(id: number, sender: Live): void {
    sender.delivered++;
    if (sender.ended && sender.sending === 0 && sender.delivered >= sender.expected) this.#senders.delete(id);
  }

  /** A host call: an event on (or a child span of) the guest call's span; emit/send are counted for their deliveries. */
  #hostCall(ctx: CallContext, next: () => Promise<unknown>): unknown {
    const parent = ctx.parentCallId === undefined ? undefined : this.#calls.get(ctx.parentCallId);
    if (!parent) return next();
    const sends = ctx.event === "emit" || ctx.event === "send";
    if (sends) parent.sending++;
    const mode = this.#hostCalls;
    const at = performance.now(); // a performance timestamp: the SDK reads it on the span's own clock
    const span = mode === "spans" ? this.#tracer.startSpan(`host-call ${ctx.plugin}:${ctx.event}`, { attributes: callAttributes(ctx) }, parent.ctx) : undefined;
    const outcome = next();
    const done = performance.now(); // host calls are synchronous: done when next() returns
    return outcome.then(
      (outcome) => {
        const attributes: Attributes = { [TRACE_ATTRIBUTES.kind]: "host-call" };
        if (sends) {
          parent.sending--;
          const sent = messageOutcome(outcome);
          parent.expected += sent.targets;
          if (sent.error === undefined) attributes[TRACE_ATTRIBUTES.targets] = sent.targets;
          else attributes[TRACE_ATTRIBUTES.messageError] = sent.error;
        } else if (typeof outcome === "string" && ctx.event === "register-callback") {
          attributes[TRACE_ATTRIBUTES.outcome] = outcome;
        }
        if (span) {
          span.setAttributes(attributes);
          span.end(done);
        } else if (mode === "events" && !parent.ended) {
          parent.span.addEvent(ctx.event, attributes, at);
        }
        return outcome;
      },
      (err: unknown) => {
        if (sends) parent.sending--;
        if (span) {
          failed(span, err);
          span.end(done);
        } else if (mode === "events" && !parent.ended) {
          parent.span.addEvent(ctx.event, { [TRACE_ATTRIBUTES.kind]: "host-call", [TRACE_ATTRIBUTES.errorCode]: codeOf(err) }, at);
        }
        throw err;
      },
    );
  }

  /** A dispatch or hook chain begins: its span, the parent of its steps' spans. */
  begin(kind: "dispatch" | "runHook", event: string, hostContext: unknown): ChainWatch {
    const parent = this.#rootOf(hostContext);
    const span = this.#tracer.startSpan(`${kind} ${event}`, { attributes: { [TRACE_ATTRIBUTES.kind]: kind, [TRACE_ATTRIBUTES.event]: event } }, parent);
    const stepContext = trace.setSpan(parent, span);
    return {
      step: <T>(issue: () => T): T => {
        const previous = this.#step;
        this.#step = stepContext;
        try {
          return issue();
        } finally {
          this.#step = previous;
        }
      },
      end: (result: HookChainResult | readonly DispatchResult[]) => {
        if (span.isRecording()) {
          if (isChainResult(result)) {
            span.setAttributes({
              [TRACE_ATTRIBUTES.outcome]: result.ok ? "ok" : "rejected",
              [TRACE_ATTRIBUTES.failures]: result.errors.length,
              ...(result.ok ? {} : { [TRACE_ATTRIBUTES.status]: result.status ?? 0, [TRACE_ATTRIBUTES.stoppedBy]: result.stoppedBy ?? "" }),
            });
          } else {
            const failures = result.filter((r) => r.error !== undefined).length;
            span.setAttributes({ [TRACE_ATTRIBUTES.steps]: result.length, [TRACE_ATTRIBUTES.failures]: failures });
          }
        }
        span.end();
      },
    };
  }
}

function callAttributes(ctx: CallContext): Attributes {
  const attributes: Attributes = {
    [TRACE_ATTRIBUTES.plugin]: ctx.plugin,
    [TRACE_ATTRIBUTES.event]: ctx.event,
    [TRACE_ATTRIBUTES.kind]: ctx.kind,
    [TRACE_ATTRIBUTES.callId]: ctx.callId,
  };
  if (ctx.parentCallId !== undefined) attributes[TRACE_ATTRIBUTES.parentCallId] = ctx.parentCallId;
  return attributes;
}

/** Mark `span` failed with `err`: error status, the error's code, the exception. */
function failed(span: Span, err: unknown): void {
  const code = codeOf(err);
  span.setAttribute(TRACE_ATTRIBUTES.outcome, "error");
  span.setAttribute(TRACE_ATTRIBUTES.errorCode, code);
  span.setAttribute("error.type", code);
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

function codeOf(err: unknown): string {
  return err instanceof PlughostError ? err.code : err instanceof Error ? err.name : "unknown";
}

function isHookOutcome(v: unknown): v is { ok: true } | { ok: false; status: number } {
  return typeof v === "object" && v !== null && typeof (v as { ok?: unknown }).ok === "boolean";
}

function isChainResult(r: HookChainResult | readonly DispatchResult[]): r is HookChainResult {
  return !Array.isArray(r);
}

/** What an emit/send host call returned: how many plugins it reached, or why it was refused. */
function messageOutcome(outcome: unknown): { targets: number; error?: string } {
  if (typeof outcome !== "object" || outcome === null) return { targets: 0 };
  const o = outcome as { ok?: unknown; value?: unknown; error?: unknown };
  if (o.ok !== true) return { targets: 0, error: typeof o.error === "string" ? o.error : "refused" };
  return { targets: typeof o.value === "number" ? o.value : 1 }; // send's value is undefined: one target
}

// ── trace context in and out ─────────────────────────────────────────────

/** HTTP headers as Node gives them (`IncomingMessage.headers`, lower-case names), or a fetch `Headers`. */
export type TraceHeaders = Readonly<Record<string, string | readonly string[] | undefined>> | { get(name: string): string | null };

// The W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/), as OpenTelemetry's W3C propagator reads
// it: version ff is invalid, the ids are lower-case hex and not all zeros, version 00 has nothing after the flags,
// later versions may.
const TRACEPARENT = /^\s?((?!ff)[\da-f]{2})-((?![0]{32})[\da-f]{32})-((?![0]{16})[\da-f]{16})-([\da-f]{2})(-.*)?\s?$/;

/**
 * The span context a W3C `traceparent` value names (remote), or undefined
 * when it is not a valid one; `tracestate` is kept with it.
 */
export function parseTraceparent(traceparent: string, tracestate?: string): SpanContext | undefined {
  const m = TRACEPARENT.exec(traceparent);
  if (!m || (m[1] === "00" && m[5])) return undefined;
  return {
    traceId: m[2]!,
    spanId: m[3]!,
    traceFlags: parseInt(m[4]!, 16),
    isRemote: true,
    ...(tracestate ? { traceState: createTraceState(tracestate) } : {}),
  };
}

/**
 * The trace context an incoming HTTP request carries: its W3C `traceparent`
 * (and `tracestate`) headers read as OpenTelemetry's W3C Trace Context
 * propagator reads them (the first value of a repeated `traceparent`,
 * repeated `tracestate` values joined with commas), set on `base`. Returns
 * `base` itself when the request has no valid `traceparent`, so a server can
 * always pass the result on.
 *
 * Pass it as a call's `hostContext` (or as `{ traceContext }` inside an
 * object of your own) and the call's spans, and those of everything it
 * causes, join the caller's trace:
 *
 * @example
 *   app.post("/plugins/:name/echo", async (request) => {
 *     const traceContext = extractTraceContext(request.headers);
 *     return registry.invoke(request.params.name, "on-request", body, { hostContext: { traceContext, request } });
 *   });
 *
 * @param headers Node's `IncomingHttpHeaders` (lower-case names) or a fetch `Headers`.
 * @param base The context to add the remote span context to; default `ROOT_CONTEXT`.
 */
export function extractTraceContext(headers: TraceHeaders, base: Context = ROOT_CONTEXT): Context {
  const parent = first(header(headers, "traceparent"));
  if (parent === undefined) return base;
  const spanContext = parseTraceparent(parent, joined(header(headers, "tracestate")));
  return spanContext ? trace.setSpanContext(base, spanContext) : base;
}

/**
 * The W3C `traceparent` of the span active in `ctx` (to send on with an
 * outgoing request, or to answer with), or undefined when it has none.
 */
export function traceparentOf(ctx: Context): string | undefined {
  const sc = trace.getSpanContext(ctx);
  if (!sc || !isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

/**
 * The trace context a call's `hostContext` carries, as `enableTracing` reads
 * it by default:
 *
 * - an OpenTelemetry `Context`;
 * - a W3C `traceparent` string;
 * - an object with `traceContext` (a `Context` or a `traceparent` string),
 *   or `traceparent` (and optionally `tracestate`: strings, or arrays of
 *   them as Node gives repeated headers), or `headers` (HTTP request
 *   headers, read by `extractTraceContext`); or with those under `http`
 *   (`{ http: { traceparent, tracestate, … } }`, the shape `plughost serve`
 *   passes to a plugin endpoint's call).
 *
 * Anything else carries none (undefined): the call's spans then start in the
 * active context.
 */
export function traceContextOf(hostContext: unknown): Context | undefined {
  if (typeof hostContext === "string") return contextOfTraceparent(hostContext);
  if (typeof hostContext !== "object" || hostContext === null) return undefined;
  if (isContext(hostContext)) return hostContext;
  const found = carried(hostContext);
  if (found !== undefined) return found;
  const http = (hostContext as { http?: unknown }).http;
  return typeof http === "object" && http !== null ? carried(http) : undefined;
}

/** The trace context an object's `traceContext`, `traceparent`/`tracestate` or `headers` carry. */
function carried(from: object): Context | undefined {
  const o = from as { traceContext?: unknown; traceparent?: unknown; tracestate?: unknown; headers?: unknown };
  if (o.traceContext !== undefined) {
    if (isContext(o.traceContext)) return o.traceContext;
    return typeof o.traceContext === "string" ? contextOfTraceparent(o.traceContext) : undefined;
  }
  const traceparent = first(headerValue(o.traceparent));
  if (traceparent !== undefined) return contextOfTraceparent(traceparent, joined(headerValue(o.tracestate)));
  if (typeof o.headers === "object" && o.headers !== null) {
    const ctx = extractTraceContext(o.headers as TraceHeaders);
    return ctx === ROOT_CONTEXT ? undefined : ctx;
  }
  return undefined;
}

/** A header-like value: a string, or an array of strings; anything else is absent. */
function headerValue(v: unknown): string | readonly string[] | undefined {
  if (typeof v === "string") return v;
  return Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : undefined;
}

function joined(v: string | readonly string[] | undefined): string | undefined {
  return typeof v === "string" ? v : v?.join(",");
}

function contextOfTraceparent(traceparent: string, tracestate?: string): Context | undefined {
  const sc = parseTraceparent(traceparent, tracestate);
  return sc ? trace.setSpanContext(ROOT_CONTEXT, sc) : undefined;
}

function isContext(v: unknown): v is Context {
  if (typeof v !== "object" || v === null) return false;
  const c = v as Partial<Record<keyof Context, unknown>>;
  return typeof c.getValue === "function" && typeof c.setValue === "function" && typeof c.deleteValue === "function";
}

function header(headers: TraceHeaders, name: string): string | readonly string[] | undefined {
  if (typeof (headers as { get?: unknown }).get === "function") return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  const h = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  return h[name] ?? h[name.toUpperCase()] ?? findHeader(h, name);
}

/** A header under another case (a plain object built by hand rather than by Node). */
function findHeader(h: Readonly<Record<string, string | readonly string[] | undefined>>, name: string): string | readonly string[] | undefined {
  for (const key of Object.keys(h)) if (key.toLowerCase() === name) return h[key];
  return undefined;
}

function first(v: string | readonly string[] | undefined): string | undefined {
  return typeof v === "string" ? v : v?.[0];
}
