/**
 * Request routing rules that do not need the registry's state: the request
 * chain's cycle and depth checks, the effective timeout, waiting with a
 * timeout (a late answer is dropped), and the host API's error.
 */
import { RequestFailed, type PlughostError } from "../contract/errors.js";
import type { RequestError } from "../contract/abi.js";
import type { HostCallOptions } from "../runtime/host-calls.js";
import type { CallContextValues } from "../runtime/calls.js";
import type { Message } from "./envelope.js";

/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * @internal A request's outcome inside the registry: the answer, or why there is none, with the target's status
 * (`rejected`) or the error that failed it (`failed`) for the host API's `RequestFailed`.
 */
export type Answer = { ok: true; value: Uint8Array } | { ok: false; error: RequestError; status?: number; cause?: PlughostError };

/** @internal A refusal without detail. */
export function refused(error: RequestError): Extract<Answer, { ok: false }> {
  return { ok: false, error };
}

/**
 * Why a request from `from` (a plugin, or undefined for the host) to `to` cannot join the chain of `waiting`
 * plugins: `cycle` when `to` already waits in it (or asks itself), `too-deep` when the chain would hold more than
 * `maxDepth` waiting plugins. Undefined when it may.
 */
export function chainProblem(waiting: readonly string[], from: string | undefined, to: string, maxDepth: number): "cycle" | "too-deep" | undefined {
  if (to === from || waiting.includes(to)) return "cycle";
  if (waiting.length + (from === undefined ? 0 : 1) > maxDepth) return "too-deep";
  return undefined;
}

/**
 * How long a request waits, in ms: `timeoutMs` (0: `defaultRequestTimeoutMs`), at most `maxRequestTimeoutMs`, and
 * no later than the caller's own `deadline` (`Date.now()` ms) when it has one. At least 1. `now`: the caller's
 * clock reading, if it has one (else the clock is read when a deadline needs it).
 */
export function requestTimeout(timeoutMs: number, o: Pick<HostCallOptions, "defaultRequestTimeoutMs" | "maxRequestTimeoutMs">, deadline: number | undefined, now?: number): number {
  let ms = timeoutMs > 0 ? timeoutMs : o.defaultRequestTimeoutMs;
  ms = Math.min(ms, o.maxRequestTimeoutMs);
  if (deadline !== undefined) ms = Math.min(ms, deadline - (now ?? Date.now()));
  return Math.max(1, Math.floor(ms));
}

/** `work`'s answer, or `timeout` after `ms` (the work goes on; its late answer is dropped). Never rejects. */
export function answerWithin(work: Promise<Answer>, ms: number): Promise<Answer> {
  return new Promise<Answer>((resolve) => {
    const timer = setTimeout(() => resolve(refused("timeout")), Math.min(ms, MAX_TIMER_MS));
    work.then(
      (answer) => {
        clearTimeout(timer);
        resolve(answer);
      },
      (err: unknown) => {
        clearTimeout(timer);
        resolve({ ok: false, error: "failed", ...(err instanceof Error && "code" in err ? { cause: err as PlughostError } : {}) });
      },
    );
  });
}

const HINTS: Readonly<Record<RequestError, string>> = {
  "invalid-name": "the event name breaks the naming rules (docs/manifest.md)",
  "unknown-target": "no loaded plugin or host service has that name (load it, or check the name)",
  "not-handled": "the target has not registered a callback for the event (register-callback in its init)",
  denied: "the caller lacks the events:publish capability for the event",
  "too-large": "the payload or the answer is larger than hostCalls.maxMessageBytes",
  cycle: "the target is already waiting in this request chain (A asks B asks A); answer without asking back",
  "too-deep": "the request chain is longer than hostCalls.maxRequestDepth",
  timeout: "no answer within the timeout (timeoutMs, capped by hostCalls.maxRequestTimeoutMs and the caller's deadline); a late answer is dropped",
  rejected: "the target's hook returned a non-zero status",
  failed: "the target faulted or failed while answering (see the registry's fault events and errors)",
  "would-block": "the target cannot answer on this thread now",
};

/** The host API's error for a request `answer` that has none. */
export function requestFailed(target: string, event: string, answer: Extract<Answer, { ok: false }>): RequestFailed {
  const hint = answer.cause ? `${HINTS[answer.error]}: ${answer.cause.message}` : HINTS[answer.error];
  return new RequestFailed(target, event, answer.error, hint, {
    ...(answer.status !== undefined ? { status: answer.status } : {}),
    ...(answer.cause ? { cause: answer.cause } : {}),
  });
}

/** Options of `registry.request`. */
export interface RequestOptions {
  /** How long to wait, in ms; 0 or absent: `hostCalls.defaultRequestTimeoutMs`; at most `hostCalls.maxRequestTimeoutMs`. */
  timeoutMs?: number;
  /** The request message's metadata (over the current message's, when made while one is handled). */
  metadata?: Readonly<Record<string, string>>;
  /** Passed to the target's call as `ctx.hostContext` (interceptors, host-side code). */
  hostContext?: unknown;
  /** Per-call context keys, as `CallOptions.context`: they set the metadata `request-id`, `user-id`, `session-id`. */
  context?: CallContextValues;
}

/**
 * A host service (`registry.addService`): answers the requests addressed to its name. Its `Message` is the request
 * (kind `request`, `source` the asking plugin, `data` the payload); the answer is bytes, at once or as a promise. A
 * synchronous answer also reaches plugins asking from the host's thread; a promise answers only those that can wait.
 */
export type ServiceHandler = (message: Message) => Uint8Array | Promise<Uint8Array>;
