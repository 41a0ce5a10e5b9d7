/**
 * Recovery after faults, beyond restart / disable / ignore (docs/lifecycle.md): which calls the `retry`
 * strategy re-issues, and init retried with backoff. The policy itself is computed in policy.ts; the registry
 * acts on it (its #onFault, #restart and the fallback routing of its calls).
 */
import { InitializationFailed, isInstanceFault, PlughostError } from "../contract/errors.js";
import { backoffDelay, type RecoveryPolicy } from "./policy.js";

/** Whether a call of `event` that faulted is re-issued once on the fresh instance (strategy "retry"). */
export function retriesCall(policy: RecoveryPolicy, event: string): boolean {
  if (policy.strategy !== "retry") return false;
  const idempotent = policy.idempotent;
  return idempotent === true || (Array.isArray(idempotent) && idempotent.includes(event));
}

/** Whether `policy` hands a failed plugin's calls to another plugin, and which. */
export function fallbackOf(policy: RecoveryPolicy): string | undefined {
  return policy.strategy === "fallback" ? policy.fallback : undefined;
}

/** Whether an init failure may be tried again: a non-zero status or an instance fault (not a refused load). */
export function initRetryable(err: unknown): boolean {
  return err instanceof InitializationFailed || (err instanceof PlughostError && isInstanceFault(err));
}

/**
 * Run `attempt` (instantiate and init) up to `1 + policy.initRetries` times: after a retryable failure,
 * `cleanup` discards what it left and the next try waits the backoff (`backoffDelay`). The last error is thrown.
 */
export async function withInitRetries(
  policy: RecoveryPolicy,
  attempt: () => Promise<void>,
  cleanup: (err: unknown, n: number) => Promise<void>,
): Promise<void> {
  const retries = policy.initRetries ?? 0;
  for (let n = 0; ; n++) {
    try {
      await attempt();
      return;
    } catch (err) {
      if (n >= retries || !initRetryable(err)) throw err;
      await cleanup(err, n);
      const delay = backoffDelay(policy, n);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    }
  }
}
