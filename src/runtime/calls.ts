/**
 * The call pipeline: every invoke, hook, dispatch step, message delivery and
 * host call passes through `CallPipeline`, which runs the interceptors
 * registered with `registry.use` around it (onion order, like koa middleware
 * or fastify's hook runner). A `CallContext` describes one call; it is made
 * only when an interceptor is registered or the caller passed a
 * `hostContext`, so the empty pipeline costs a branch per call.
 */
import { InterceptorFailed, PlughostError } from "../contract/errors.js";

/** What kind of call a context describes ("export": a typed export call, `handle.call` or an import wired to it). */
export type CallKind = "invoke" | "hook" | "dispatch" | "host-call" | "message" | "export";

/** One call through the pipeline. */
export interface CallContext {
  /** The plugin called (for a host call: the plugin that made it). */
  readonly plugin: string;
  /** The event (for a host call: the host function's name, e.g. "log", "emit"). */
  readonly event: string;
  /** What kind of call this is. */
  readonly kind: CallKind;
  /** Unique and increasing within the process. */
  readonly callId: number;
  /** The call during which this one was made (a message's emitting call, a host call's guest call); undefined for the host's own calls. */
  readonly parentCallId: number | undefined;
  /** When the call must be done by, in `Date.now()` milliseconds, from the plugin's `deadlineMs` limit; undefined when it has none. */
  readonly deadline: number | undefined;
  /** The caller's value (`{ hostContext }` of invoke/hook/dispatch/runHook); messages and host calls inherit their parent's. */
  readonly hostContext: unknown;
}

/** Per-call options of `invoke`, `hook`, `dispatch` and `runHook`. */
export interface CallOptions {
  /** Any value, readable by interceptors and host-side code as `ctx.hostContext` while the call runs. */
  hostContext?: unknown;
  /**
   * String metadata of the call's message envelope: the plugin reads it with `current-message`, and every message it
   * emits, sends or requests while handling the call inherits it (docs/messaging.md).
   */
  metadata?: Readonly<Record<string, string>>;
  /**
   * The call's per-call context keys (docs/context.md): each sets its metadata key (`request-id`, `user-id`,
   * `session-id`, over `metadata`), which plugins read as `request.id`, `user.id`, `session.id` with `context-get`, in
   * this call and in every hook, message and request that descends from it.
   */
  context?: CallContextValues;
}

/** The per-call context keys a caller may give (`CallOptions.context`). */
export interface CallContextValues {
  /** `request.id`: the request that started the call (metadata `request-id`). */
  requestId?: string;
  /** `user.id`: whom the call acts for (metadata `user-id`). */
  userId?: string;
  /** `session.id`: the session it belongs to (metadata `session-id`). */
  sessionId?: string;
}

/**
 * `options` with `options.context` written into its metadata (`request-id`, `user-id`, `session-id`, over the
 * metadata given); `options` itself when it has no context. Never throws.
 */
export function withContextMetadata<T extends { metadata?: Readonly<Record<string, string>>; context?: CallContextValues }>(options: T | undefined): T | undefined {
  const c = options?.context;
  if (c === undefined) return options;
  const metadata: Record<string, string> = { ...options!.metadata };
  if (typeof c.requestId === "string") metadata["request-id"] = c.requestId;
  if (typeof c.userId === "string") metadata["user-id"] = c.userId;
  if (typeof c.sessionId === "string") metadata["session-id"] = c.sessionId;
  return { ...options!, metadata };
}

/**
 * Wraps calls. `await next()` runs the rest of the chain and the call and
 * returns its outcome (a status number for invoke/dispatch/message, a
 * `HookOutcome` for hook, the host function's result for a host call). An
 * interceptor may return that outcome, another of the same shape (a
 * short-circuit: not calling `next` skips the engine), call `next` again (a
 * retry), or throw (the call fails with that error; a non-plughost error
 * becomes `InterceptorFailed`).
 */
export type Interceptor = (ctx: CallContext, next: () => Promise<unknown>) => unknown;

let lastId = 0;
let current: CallContext | undefined;

/** A fresh call id: unique and increasing. */
export function nextCallId(): number {
  return ++lastId;
}

/**
 * The call in progress: inside a host call, the guest call that made it
 * (with its `hostContext`); inside an interceptor (until its first `await`),
 * the context it was given. Undefined elsewhere, and for calls that have no
 * context (no interceptor registered and no `hostContext` passed).
 */
export function currentCall(): CallContext | undefined {
  return current;
}

/** Run `fn` with `ctx` as the call in progress. */
export function withCall<T>(ctx: CallContext | undefined, fn: () => T): T {
  const previous = current;
  current = ctx;
  try {
    return fn();
  } finally {
    current = previous;
  }
}

export class CallPipeline {
  #interceptors: readonly Interceptor[] = [];

  /** True when no interceptor is registered: callers then skip the pipeline. */
  get empty(): boolean {
    return this.#interceptors.length === 0;
  }

  /** Add an interceptor after the others (it runs inside them). Returns a function that removes it. */
  use(interceptor: Interceptor): () => void {
    this.#interceptors = [...this.#interceptors, interceptor];
    return () => {
      this.#interceptors = this.#interceptors.filter((i) => i !== interceptor);
    };
  }

  /** A context for a new call. */
  context(plugin: string, event: string, kind: CallKind, deadline: number | undefined, parent: CallContext | undefined, hostContext: unknown): CallContext {
    return {
      plugin,
      event,
      kind,
      callId: nextCallId(),
      parentCallId: parent?.callId,
      deadline: kind === "host-call" ? parent?.deadline : deadline,
      hostContext: parent && hostContext === undefined ? parent.hostContext : hostContext,
    };
  }

  /** Run an asynchronous call through the interceptors; `valid` checks a short-circuited outcome's shape. */
  async run<T>(ctx: CallContext, call: () => Promise<T>, valid: (v: unknown) => v is T): Promise<T> {
    const chain = this.#interceptors; // fixed for this call: use() during it does not change it
    const step = (i: number): Promise<unknown> => {
      if (i === chain.length) return call();
      try {
        return Promise.resolve(withCall(ctx, () => chain[i]!(ctx, () => step(i + 1))));
      } catch (err) {
        return Promise.reject(err);
      }
    };
    let outcome: unknown;
    try {
      outcome = await step(0);
    } catch (err) {
      throw err instanceof PlughostError ? err : new InterceptorFailed(ctx.event, ctx.kind, errorText(err), { plugin: ctx.plugin, cause: err });
    }
    if (!valid(outcome)) {
      throw new InterceptorFailed(ctx.event, ctx.kind, `it returned ${describe(outcome)}, not the call's outcome`, { plugin: ctx.plugin });
    }
    return outcome;
  }

  /**
   * Run a call that must finish synchronously (a host call, `invokeSync`,
   * `hookSync`). The interceptors run until their first `await`: `next()`
   * runs the call at once, and its result is the call's outcome whatever the
   * interceptors return later. Returns `skipped` when no interceptor called
   * `next()` synchronously (the caller decides: a host call runs anyway, a
   * sync invoke fails). An interceptor's synchronous throw fails the call;
   * a later rejection is reported to `onLateError`.
   *
   * A `next()` called after that (past an `await`) comes when the caller has
   * gone on without the call: with `late` "refuse" it rejects with
   * `InterceptorFailed` and the call is not run (its caller was told it
   * failed, and its arguments may have been reused); with "run" (a host call,
   * which the caller then ran itself) `call` gives it that outcome.
   */
  runSync<T>(ctx: CallContext, call: () => T, onLateError: (err: unknown) => void, late: "refuse" | "run" = "refuse"): { ran: true; value: T } | { ran: false } {
    const chain = this.#interceptors;
    let ran = false;
    let settled = false;
    let failed = false;
    let value: T | undefined;
    let error: unknown;
    const step = (i: number): Promise<unknown> => {
      if (i === chain.length) {
        if (!ran && settled && late === "refuse") {
          return Promise.reject(new InterceptorFailed(ctx.event, ctx.kind, "next() was called after an await, once the synchronous call had gone on without it; the call was not run", { plugin: ctx.plugin }));
        }
        if (!ran) {
          ran = true;
          try {
            value = call();
          } catch (err) {
            failed = true;
            error = err;
          }
        }
        return failed ? Promise.reject(error) : Promise.resolve(value);
      }
      return Promise.resolve(withCall(ctx, () => chain[i]!(ctx, () => step(i + 1))));
    };
    let outer: Promise<unknown>;
    try {
      outer = step(0);
      settled = true;
    } catch (err) {
      settled = true;
      if (failed && err === error) throw err; // the call's own error, rethrown by an interceptor
      throw err instanceof PlughostError ? err : new InterceptorFailed(ctx.event, ctx.kind, errorText(err), { plugin: ctx.plugin, cause: err });
    }
    outer.catch((err: unknown) => {
      if (!(failed && err === error)) onLateError(err);
    });
    if (failed) throw error; // the call's error reaches the caller as it would without interceptors
    return ran ? { ran: true, value: value as T } : { ran: false };
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function describe(v: unknown): string {
  if (v === null || typeof v !== "object") return typeof v === "string" ? `the string "${v}"` : String(v);
  return Array.isArray(v) ? "an array" : "an object of another shape";
}
