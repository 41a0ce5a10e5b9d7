/**
 * The hook chain runner behind `registry.runHook` (docs/hooks.md): plugin
 * hooks and the host's own (`registry.addHook`) in one priority order, each
 * one's output the next one's input, with the policies of policy.ts
 * (timeout, retries after a fault, fail-closed or fail-open, observers run
 * after the chain) and a state shared by the chain's host hooks.
 *
 * A chain of plugin hooks that declare no policy, with no host hook, no
 * interceptor, no host context and no watcher, runs on the registry's
 * synchronous path (`ChainHost.runDirect`), as `dispatch` does: no promise
 * per hook.
 */
import { HookFailed, isInstanceFault, PlughostError } from "../contract/errors.js";
import type { HookOutcome } from "../engines/engine.js";
import type { HookDeclaration } from "../plugin/manifest.js";
import { envelope, mergeMetadata, toMessage, type Envelope, type Message } from "../messaging/envelope.js";
import { currentDelivery } from "../runtime/message-chain.js";
import type { ChainWatch, HookChainResult } from "../runtime/registry.js";
import { effectiveHookPolicy, failOpenForbidden, hookPriorityOf, HOOK_ON_ERROR, onErrorFor, type HookOnError, type HookPolicy, type HookPriorityName, type ResolvedClamps } from "./policy.js";
import { PolicyInvalid } from "../runtime/policy.js";

/** What a host hook sees besides the data (seed 003's `HookContext`). */
export interface HookContext {
  /** The chain's id: unique and increasing within this host, shared by every hook of one `runHook`. */
  readonly executionId: number;
  /** The chain's event. */
  readonly event: string;
  /** When the chain began (`Date.now()` milliseconds). */
  readonly startedAt: number;
  /** Shared by the host hooks of one chain (and its observers): read and write freely; a new chain starts empty. */
  readonly state: Map<string, unknown>;
  /** The `hostContext` the chain was run with (`runHook(event, data, { hostContext })`). */
  readonly hostContext: unknown;
  /** This step's envelope (kind `hook`): id, parent, metadata. */
  readonly message: Message;
}

/** What a host hook returns: new data, `undefined` (pass the data on unchanged), or a `HookOutcome` (`{ ok: false, status }` stops the chain). */
export type HookResult = Uint8Array | HookOutcome | undefined | void;

/** A host hook: `registry.addHook(event, fn, options)`. */
export type HostHookFn = (data: Uint8Array, ctx: HookContext) => HookResult | Promise<HookResult>;

/** Options of `registry.addHook`. */
export interface HostHookOptions {
  /** A number (higher runs first) or a named level: CRITICAL 1000, HIGH 500, NORMAL 100 (default), LOW 50, CLEANUP 10. At equal priority, plugin hooks run first. */
  priority?: number | HookPriorityName;
  /** Its name in results, errors and observer statistics (default `host:<event>#<n>`); unique per event. */
  name?: string;
  /** What a failure (a throw, a bad result, a timeout) does to the chain (default: the host's `hooks.defaultOnError`). */
  onError?: HookOnError;
  /** How long the chain waits for it (a host hook cannot be stopped: past this the chain goes on without its result). */
  timeoutMs?: number;
  /** An observer: called after the chain with its final data, without blocking it; its result is ignored. */
  async?: boolean;
}

/** How the observers of one hook have fared (`registry.hookObservers()`). */
export interface ObserverStats {
  /** The plugin's name, or the host hook's. */
  hook: string;
  /** The event it observes. */
  event: string;
  /** `plugin` (a manifest hook with `async = true`) or `host` (`addHook(…, { async: true })`). */
  kind: "plugin" | "host";
  /** Runs finished (successfully or not). */
  runs: number;
  /** Runs that failed (a thrown error, a fault, a timeout, a non-zero status). */
  failures: number;
  /** Of `failures`, the timeouts. */
  timeouts: number;
  /** Runs not started because this observer already had `MAX_OBSERVER_BACKLOG` runs unfinished. */
  dropped: number;
  /** The last failure. */
  lastError?: PlughostError;
}

/** What the registry emits as `"observer-failed"` for each failed observer run. */
export interface ObserverFailure {
  /** The plugin's name, or the host hook's. */
  hook: string;
  /** The chain's event. */
  event: string;
  /** The chain it observed. */
  executionId: number;
  /** What failed. */
  error: PlughostError;
}

/** @internal A host hook as registered. */
interface HostHook {
  readonly name: string;
  readonly event: string;
  readonly priority: number;
  readonly fn: HostHookFn;
  readonly onError: HookOnError | undefined;
  readonly timeoutMs: number | undefined;
  readonly async: boolean;
}

/** @internal What the direct path reads and writes. */
export interface DirectRun {
  readonly event: string;
  data: Uint8Array;
  readonly errors: HookChainResult["errors"];
  /** Whether an error stops the chain (hooks without a policy take the host's default). */
  readonly failClosed: boolean;
  /** Set when a hook stopped the chain. */
  stop: { plugin: string; status?: number; error?: PlughostError } | undefined;
  /** The message being handled when the chain began (a host service's, say): the steps' parent. */
  readonly parent: Envelope | undefined;
  /** The steps' metadata (the caller's over the parent's); undefined: the parent's. */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  /** The host's callback epoch when the chain began (`ChainHost.epoch`). */
  readonly epoch: number;
}

/** @internal The registry's side of a chain: how to list, call and watch plugin hooks. */
export interface ChainHost<P> {
  /** The plugins registered for `event`, in priority order, as the chain begins. */
  callees(event: string): P[];
  /** Changes whenever a plugin's callbacks are cleared: while it has not, a listed plugin still has its callback. */
  epoch(): number;
  /** The entry a reload swapped in for `p` (or `p`). */
  latest(p: P): P;
  nameOf(p: P): string;
  priorityOf(p: P, event: string): number;
  /** The manifest's hook entry for `event` when it declares a policy; undefined otherwise. */
  declared(p: P, event: string): HookDeclaration | undefined;
  /** Whether this chain may call plugins synchronously (no interceptor, no host context, no watcher). */
  canRunDirect(hostContext: unknown): boolean;
  /** Call `plugins[from…]` synchronously while each can be (inline, idle, no policy); the index of the first that cannot. */
  runDirect(plugins: readonly P[], from: number, run: DirectRun): number;
  /** One plugin's hook through the pipeline; rejects with the (recorded) `PlughostError`. */
  call(p: P, event: string, data: Uint8Array, step: StepOptions): Promise<HookOutcome>;
  /** The chain's watcher (tracing), if any. */
  watch(event: string, hostContext: unknown): ChainWatch | undefined;
  /** An observer failed: the registry emits `"observer-failed"`. */
  observerFailed(failure: ObserverFailure): void;
}

/** @internal How one plugin step is called. */
export interface StepOptions {
  hostContext: unknown;
  timeoutMs: number | undefined;
  envelope: Envelope | undefined;
}

/** Options of one chain (`runHook`'s `CallOptions`). */
interface RunOptions {
  hostContext?: unknown;
  metadata?: Readonly<Record<string, string>>;
}

/** One step of the chain's plan. */
type Step<P> = { kind: "plugin"; plugin: P } | { kind: "host"; host: HostHook };

let lastExecutionId = 0;

/** Unfinished runs one observer may have; a chain past it does not call that observer (counted in `dropped`). */
export const MAX_OBSERVER_BACKLOG = 1024;

/** The chain runner of one registry. */
export class HookChains<P> {
  readonly #host: ChainHost<P>;
  readonly #clamps: ResolvedClamps;
  /** Host hooks by event, highest priority first (ties: registration order). */
  readonly #hostHooks = new Map<string, HostHook[]>();
  readonly #observerStats = new Map<string, ObserverStats>();
  readonly #pendingObservers = new Set<Promise<void>>();
  /** Runs started and not finished, per observer (its stats key). */
  readonly #observerBacklog = new Map<string, number>();
  #unnamed = 0;

  constructor(host: ChainHost<P>, clamps: ResolvedClamps) {
    this.#host = host;
    this.#clamps = clamps;
  }

  /** The clamps in force (for `info` and docs). */
  get clamps(): ResolvedClamps {
    return this.#clamps;
  }

  /** A plugin hook's effective policy for `event`. */
  policyOf(p: P, event: string): HookPolicy {
    return effectiveHookPolicy(this.#clamps, event, this.#host.declared(p, event));
  }

  /**
   * Add a host hook (see `registry.addHook`).
   * @throws {@link PolicyInvalid} for a bad priority, timeout, onError or name, or `onError: "skip"` on an event whose fail-open the host forbids.
   */
  add(event: string, fn: HostHookFn, options: HostHookOptions = {}): () => void {
    if (typeof fn !== "function") throw new PolicyInvalid("addHook fn", `is ${typeof fn}; pass a function (data, ctx) => Uint8Array | undefined | HookOutcome`);
    const priority = hookPriorityOf(options.priority, "addHook priority");
    if (options.onError !== undefined && !HOOK_ON_ERROR.includes(options.onError)) {
      throw new PolicyInvalid("addHook onError", `is ${JSON.stringify(options.onError)}; use "fail" or "skip"`);
    }
    if (options.onError === "skip" && failOpenForbidden(this.#clamps, event)) {
      throw new PolicyInvalid("addHook onError", `is "skip", but the host forbids fail-open for "${event}" (hooks.forbidFailOpen); use "fail" or leave it unset`);
    }
    const t = options.timeoutMs;
    if (t !== undefined && (!Number.isInteger(t) || t < 1 || t > 2 ** 31 - 1)) {
      throw new PolicyInvalid("addHook timeoutMs", `is ${JSON.stringify(t)}; use a whole number of milliseconds from 1 to 2147483647`);
    }
    const list = this.#hostHooks.get(event) ?? [];
    const name = options.name ?? `host:${event}#${++this.#unnamed}`;
    if (typeof name !== "string" || name.length === 0 || list.some((h) => h.name === name)) {
      throw new PolicyInvalid("addHook name", `${JSON.stringify(name)} is ${typeof name === "string" && name.length > 0 ? "already a host hook of this event" : "not a name"}; pick another`);
    }
    const hook: HostHook = { name, event, priority, fn, onError: options.onError, timeoutMs: t, async: options.async === true };
    list.push(hook);
    list.sort((a, b) => b.priority - a.priority); // stable: ties keep registration order
    this.#hostHooks.set(event, list);
    return () => {
      const now = this.#hostHooks.get(event);
      const i = now?.indexOf(hook) ?? -1;
      if (i < 0) return;
      now!.splice(i, 1);
      if (now!.length === 0) this.#hostHooks.delete(event);
    };
  }

  /** Observer statistics, one row per observing hook and event. */
  observerStats(): ObserverStats[] {
    return [...this.#observerStats.values()].map((s) => ({ ...s }));
  }

  /** Resolves once every observer run started so far has finished. */
  async settleObservers(): Promise<void> {
    while (this.#pendingObservers.size > 0) await Promise.allSettled([...this.#pendingObservers]);
  }

  /**
   * Run the chain of `event` over `data`. A chain whose hooks are all called synchronously (the direct path) costs
   * no promise but its result's; anything else continues in `#direct` or `#general`.
   */
  run(event: string, data: Uint8Array, options: RunOptions | undefined): Promise<HookChainResult> {
    try {
      const host = this.#host;
      const executionId = ++lastExecutionId;
      const startedAt = Date.now();
      const hostContext = options?.hostContext;
      const plugins = host.callees(event);
      const hostHooks = this.#hostHooks.get(event);
      const parent = currentDelivery()?.envelope;
      const metadata = options?.metadata === undefined ? undefined : mergeMetadata(parent?.metadata, options.metadata);
      // onErrorFor(clamps, event, undefined) === "fail", without the set lookup when the default already fails closed.
      const failClosed = this.#clamps.defaultOnError === "fail" || failOpenForbidden(this.#clamps, event);
      const run: DirectRun = { event, data, errors: [], failClosed, stop: undefined, parent, metadata, epoch: host.epoch() };

      // The fast path: plugin hooks only, nothing watching, each called synchronously while it can be.
      if (hostHooks === undefined && host.canRunDirect(hostContext)) {
        const i = host.runDirect(plugins, 0, run);
        // All called: none declares a policy, so none is an observer.
        if (i === plugins.length && run.stop === undefined) return Promise.resolve(resultOf(run, executionId, startedAt));
        return this.#direct(plugins, i, run, executionId, startedAt, hostContext);
      }
      return this.#general(plugins, hostHooks, run, executionId, startedAt, hostContext);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The fast path after `runDirect` stopped at `plugins[i]`: a hook with a policy, one that cannot be called synchronously, or the chain's end. */
  async #direct(plugins: readonly P[], i: number, run: DirectRun, executionId: number, startedAt: number, hostContext: unknown): Promise<HookChainResult> {
    const host = this.#host;
    const event = run.event;
    let observers: Step<P>[] | undefined;
    while (run.stop === undefined && i < plugins.length) {
      const p = host.latest(plugins[i++]!);
      const policy = this.policyOf(p, event);
      if (policy.async) {
        (observers ??= []).push({ kind: "plugin", plugin: p });
      } else {
        await this.#pluginStep(p, policy, run, { hostContext, timeoutMs: policy.timeoutMs, envelope: stepEnvelope(run) }, undefined);
        if (run.stop !== undefined) break;
      }
      if (i < plugins.length) i = host.runDirect(plugins, i, run);
    }
    // A chain that stopped early still has its observers called (only hooks with a policy can be one).
    for (; i < plugins.length; i++) {
      const p = host.latest(plugins[i]!);
      if (host.declared(p, event)?.async === true) (observers ??= []).push({ kind: "plugin", plugin: p });
    }
    const result = resultOf(run, executionId, startedAt);
    if (observers) this.#observe(observers, result, run, executionId, startedAt, undefined, hostContext);
    return result;
  }

  /** A chain with host hooks, or watched, or with a host context: each step through the pipeline (plugin hooks without a policy still synchronously where they can be). */
  async #general(plugins: readonly P[], hostHooks: HostHook[] | undefined, run: DirectRun, executionId: number, startedAt: number, hostContext: unknown): Promise<HookChainResult> {
    const host = this.#host;
    const event = run.event;
    const watch = host.watch(event, hostContext);
    const steps = plan(plugins, hostHooks ?? [], (p) => host.priorityOf(p, event));
    let state: Map<string, unknown> | undefined;
    const observers: Step<P>[] = [];
    // Host hooks do not stop plugin hooks without a policy from being called synchronously.
    const direct = watch === undefined && host.canRunDirect(hostContext);
    let at = 0;
    for (; at < steps.length; at++) {
      let step = steps[at]!;
      if (step.kind === "plugin") {
        if (direct) {
          // The plugin steps up to the next host hook, in one direct run (one set-up and one copy of the data out,
          // not one per plugin); it stops at the first plugin that needs the pipeline, which the code below calls.
          let end = at + 1;
          while (end < steps.length && steps[end]!.kind === "plugin") end++;
          const segment = pluginsOf(steps, at, end);
          const ran = host.runDirect(segment, 0, run);
          if (run.stop !== undefined) {
            at += ran - 1;
            break;
          }
          if (ran === segment.length) {
            at = end - 1;
            continue;
          }
          at += ran;
          step = steps[at]!;
        }
        const p = host.latest((step as { plugin: P }).plugin);
        const policy = this.policyOf(p, event);
        if (policy.async) {
          observers.push({ kind: "plugin", plugin: p });
          continue;
        }
        await this.#pluginStep(p, policy, run, { hostContext, timeoutMs: policy.timeoutMs, envelope: stepEnvelope(run) }, watch);
      } else {
        const h = step.host;
        if (h.async) {
          observers.push(step);
          continue;
        }
        state ??= new Map();
        const ctx = hookContext(executionId, startedAt, state, hostContext, run, run.data, h.name);
        await this.#hostStep(h, ctx, run, watch);
      }
      if (run.stop !== undefined) break;
    }
    // A chain that stopped early still has its observers called.
    for (at++; at < steps.length; at++) {
      const step = steps[at]!;
      if (step.kind === "host" ? step.host.async : host.declared(host.latest(step.plugin), event)?.async === true) observers.push(step);
    }
    const result = resultOf(run, executionId, startedAt);
    watch?.end(result);
    if (observers.length > 0) this.#observe(observers, result, run, executionId, startedAt, state, hostContext);
    return result;
  }

  /** One plugin hook, with its timeout and retries; its failure is handled by its `on-error`. */
  async #pluginStep(p: P, policy: HookPolicy, run: DirectRun, step: StepOptions, watch: ChainWatch | undefined): Promise<void> {
    const host = this.#host;
    let target = p;
    for (let attempt = 0; ; attempt++) {
      try {
        const issue = () => host.call(target, run.event, run.data, step);
        const outcome = await (watch ? watch.step(issue) : issue());
        if (!outcome.ok) run.stop = { plugin: host.nameOf(target), status: outcome.status };
        else run.data = outcome.data;
        return;
      } catch (err) {
        const error = err instanceof PlughostError ? err : new PlughostError("E_INVOCATION_FAILED", String(err), { plugin: host.nameOf(target), cause: err });
        // Only a fault of the instance is worth another try, and only on the instance that replaces it (the call
        // waits for the restart); a plugin that is not running or an interceptor's refusal would fail again.
        if (isInstanceFault(error) && attempt < policy.retries) {
          target = host.latest(target);
          continue;
        }
        run.errors.push({ plugin: host.nameOf(target), error });
        if (policy.onError === "fail") run.stop = { plugin: host.nameOf(target), error };
        return;
      }
    }
  }

  /** One host hook: its result interpreted, its failure handled by its `onError`. */
  async #hostStep(h: HostHook, ctx: HookContext, run: DirectRun, watch: ChainWatch | undefined): Promise<void> {
    const onError = onErrorFor(this.#clamps, run.event, h.onError);
    try {
      const outcome = await this.#callHost(h, ctx, run.data, watch);
      if (outcome === undefined) return;
      if (!outcome.ok) run.stop = { plugin: h.name, status: outcome.status };
      else run.data = outcome.data;
    } catch (err) {
      const error = asHookFailed(err, h);
      run.errors.push({ plugin: h.name, error });
      if (onError === "fail") run.stop = { plugin: h.name, error };
    }
  }

  /** Call a host hook and check what it answered; undefined: pass the data on. */
  async #callHost(h: HostHook, ctx: HookContext, data: Uint8Array, watch: ChainWatch | undefined): Promise<HookOutcome | undefined> {
    const issue = () => h.fn(data, ctx);
    let answer = watch ? watch.step(issue) : issue();
    if (isThenable(answer)) answer = await withTimeout(Promise.resolve(answer), h.timeoutMs, () => new HookFailed(h.name, h.event, "timeout", `did not settle within its ${h.timeoutMs} ms timeout; the chain went on without it`));
    if (answer === undefined) return undefined;
    if (answer instanceof Uint8Array) return { ok: true, data: answer };
    if (isHookOutcome(answer)) return answer;
    throw new HookFailed(h.name, h.event, "bad-result", `returned ${describe(answer)}; return a Uint8Array, undefined or a HookOutcome ({ ok: true, data } / { ok: false, status })`);
  }

  /** Start the chain's observers: each gets the chain's final data; none blocks the chain or another. */
  #observe(observers: Step<P>[], result: HookChainResult, run: DirectRun, executionId: number, startedAt: number, state: Map<string, unknown> | undefined, hostContext: unknown): void {
    const host = this.#host;
    const event = run.event;
    for (const step of observers) {
      const name = step.kind === "plugin" ? host.nameOf(step.plugin) : step.host.name;
      const kind = step.kind;
      const key = `${kind}\0${name}\0${event}`;
      let stats = this.#observerStats.get(key);
      if (!stats) this.#observerStats.set(key, (stats = { hook: name, event, kind, runs: 0, failures: 0, timeouts: 0, dropped: 0 }));
      const s = stats;
      // Chains may come faster than a slow observer finishes: its backlog is bounded, the excess dropped and counted.
      const backlog = this.#observerBacklog.get(key) ?? 0;
      if (backlog >= MAX_OBSERVER_BACKLOG) {
        s.dropped++;
        continue;
      }
      this.#observerBacklog.set(key, backlog + 1);
      const work = (async () => {
        // After the caller has its result: an observer never runs before the chain's own continuation.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (step.kind === "plugin") {
          const p = host.latest(step.plugin);
          const policy = this.policyOf(p, event);
          const outcome = await host.call(p, event, result.data, { hostContext, timeoutMs: policy.timeoutMs, envelope: stepEnvelope(run, result.data) });
          if (!outcome.ok) throw new HookFailed(name, event, "bad-result", `(a plugin observer) answered err(${outcome.status})`, { plugin: name });
        } else {
          state ??= new Map();
          const ctx = hookContext(executionId, startedAt, state, hostContext, run, result.data, name);
          await this.#callHost(step.host, ctx, result.data, undefined);
        }
      })().then(
        () => void s.runs++,
        (err: unknown) => {
          const error = step.kind === "host" ? asHookFailed(err, step.host) : err instanceof PlughostError ? err : new PlughostError("E_INVOCATION_FAILED", String(err), { plugin: name, cause: err });
          s.runs++;
          s.failures++;
          if (error.code === "E_DEADLINE_EXCEEDED" || (error instanceof HookFailed && error.reason === "timeout")) s.timeouts++;
          s.lastError = error;
          host.observerFailed({ hook: name, event, executionId, error });
        },
      );
      this.#pendingObservers.add(work);
      void work.finally(() => {
        this.#pendingObservers.delete(work);
        const left = (this.#observerBacklog.get(key) ?? 1) - 1;
        if (left === 0) this.#observerBacklog.delete(key);
        else this.#observerBacklog.set(key, left);
      });
    }
  }
}

/** Plugins and host hooks in one order: highest priority first; at equal priority plugins before host hooks. */
function plan<P>(plugins: readonly P[], hostHooks: readonly HostHook[], priorityOf: (p: P) => number): Step<P>[] {
  const out: Step<P>[] = [];
  let h = 0;
  for (const p of plugins) {
    const prio = priorityOf(p);
    while (h < hostHooks.length && hostHooks[h]!.priority > prio) out.push({ kind: "host", host: hostHooks[h++]! });
    out.push({ kind: "plugin", plugin: p });
  }
  while (h < hostHooks.length) out.push({ kind: "host", host: hostHooks[h++]! });
  return out;
}

/** The plugins of `steps[from…to)`, all plugin steps. */
function pluginsOf<P>(steps: readonly Step<P>[], from: number, to: number): P[] {
  const out = new Array<P>(to - from);
  for (let i = from; i < to; i++) out[i - from] = (steps[i] as { plugin: P }).plugin;
  return out;
}

function resultOf(run: DirectRun, executionId: number, startedAt: number): HookChainResult {
  const stop = run.stop;
  if (stop === undefined) return { ok: true, data: run.data, errors: run.errors, executionId, startedAt };
  const out: HookChainResult = { ok: false, data: run.data, stoppedBy: stop.plugin, errors: run.errors, executionId, startedAt };
  if (stop.status !== undefined) out.status = stop.status;
  if (stop.error !== undefined) out.error = stop.error;
  return out;
}

/** A step's envelope (kind `hook`, from the host; a chain is a broadcast, so no target): its id is taken only if someone asks. */
function stepEnvelope(run: DirectRun, data: Uint8Array = run.data): Envelope {
  return envelope(run.event, "hook", data, undefined, undefined, run.parent, run.metadata);
}

function hookContext(executionId: number, startedAt: number, state: Map<string, unknown>, hostContext: unknown, run: DirectRun, data: Uint8Array, name: string): HookContext {
  let message: Message | undefined;
  return {
    executionId,
    event: run.event,
    startedAt,
    state,
    hostContext,
    get message(): Message {
      return (message ??= toMessage(stepEnvelope(run, data)));
    },
  };
}

function asHookFailed(err: unknown, h: HostHook): PlughostError {
  if (err instanceof PlughostError) return err;
  return new HookFailed(h.name, h.event, "threw", `threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

function isHookOutcome(v: unknown): v is HookOutcome {
  if (typeof v !== "object" || v === null) return false;
  const o = v as { ok?: unknown; data?: unknown; status?: unknown };
  return o.ok === true ? o.data instanceof Uint8Array : o.ok === false && typeof o.status === "number" && Number.isInteger(o.status);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? `an object (${Object.keys(v as object).slice(0, 3).join(", ") || "no keys"})` : `a ${typeof v}`;
}

/** `work`, or the error `late()` makes when it has not settled after `ms` (undefined: no limit). */
function withTimeout<T>(work: Promise<T>, ms: number | undefined, late: () => PlughostError): Promise<T> {
  if (ms === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(late()), ms);
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
