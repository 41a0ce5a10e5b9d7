/**
 * The typed error of the state backends (src/state/backend.ts): one class whose `reason` is the WIT `state-error`
 * case a guest sees, and whose `code` is stable for the embedding application.
 */
import { PlughostError, type ErrorDetails } from "../contract/errors.js";
import type { StateError } from "../contract/abi.js";

/** The stable code of each `state-error` case. */
export const STATE_ERROR_CODES: Readonly<Record<StateError, string>> = {
  "denied": "E_STATE_DENIED",
  "invalid-key": "E_STATE_INVALID_KEY",
  "too-large": "E_STATE_TOO_LARGE",
  "quota-exceeded": "E_STATE_QUOTA",
  "not-an-integer": "E_STATE_NOT_INTEGER",
  "unavailable": "E_STATE_UNAVAILABLE",
};

/**
 * A state operation failed: the quota would be passed (`quota-exceeded`, nothing was written), the value under an
 * incremented key is not a decimal 64-bit integer or the sum overflows (`not-an-integer`), or the database or Redis
 * server cannot be reached or written (`unavailable`). `plugin` is the namespace. Codes: {@link STATE_ERROR_CODES}.
 *
 * @example
 *   try {
 *     backend.set("counter", "k", bytes, { bytes: 1024, keys: 10 });
 *   } catch (e) {
 *     if (e instanceof StateBackendError && e.reason === "quota-exceeded") console.warn(e.message);
 *   }
 */
export class StateBackendError extends PlughostError {
  /** The WIT `state-error` case the guest is answered with. */
  readonly reason: StateError;
  constructor(reason: StateError, message: string, details: ErrorDetails = {}) {
    super(STATE_ERROR_CODES[reason], message, details);
    this.reason = reason;
  }
}

/** The error for a write refused by the quota; `usage` is what the namespace would hold after it. */
export function quotaError(ns: string, key: string, after: { bytes: number; keys: number }, quota: { bytes: number; keys: number }): StateBackendError {
  const which =
    after.keys > quota.keys
      ? `${after.keys} keys would pass the quota of ${quota.keys} keys`
      : `${after.bytes} bytes would pass the quota of ${quota.bytes} bytes`;
  return new StateBackendError(
    "quota-exceeded",
    `state write to key ${JSON.stringify(key.slice(0, 64))} refused, nothing written: ${which}; delete keys, or raise [limits] state / state-keys`,
    { plugin: ns },
  );
}

/** The error for an increment of a value that is not a decimal 64-bit integer, or a sum that overflows. */
export function notAnIntegerError(ns: string, key: string, overflow: boolean): StateBackendError {
  const what = overflow
    ? "the sum overflows a signed 64-bit integer"
    : "the value is not a decimal 64-bit integer (digits, an optional leading '-', no leading zeros or spaces)";
  return new StateBackendError("not-an-integer", `cannot increment state key ${JSON.stringify(key.slice(0, 64))}: ${what}; nothing written`, { plugin: ns });
}

/** The error for a backend that cannot serve the call; `cause` is the underlying failure. */
export function unavailableError(ns: string | undefined, what: string, cause?: unknown): StateBackendError {
  const details: ErrorDetails = {};
  if (ns !== undefined) details.plugin = ns;
  if (cause !== undefined) details.cause = cause;
  return new StateBackendError("unavailable", what, details);
}
