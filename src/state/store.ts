/**
 * A plugin's view of the host's state backend (docs/state.md): the checks a guest's `state-*` call gets before it
 * reaches the backend (key 1–256 UTF-8 bytes, one value at most 1 MiB, list limits), its quota (the plugin's
 * `stateBytes` / `stateKeys` limits), and every outcome as a WIT `state-error`. A write refused for the quota is
 * `quota-exceeded` to the guest and a violation of kind "quota" for the host. Nothing here throws into an engine.
 */
import { STATE_ERRORS, type StateError } from "../contract/abi.js";
import type { HostCalls, KeyPage, StateOutcome } from "../engines/engine.js";
import { DEFAULT_LIMITS } from "../runtime/policy.js";
import type { StateBackend, StatePage, StateUsage } from "./backend.js";

/** The longest key, in UTF-8 bytes (WIT `state-error.invalid-key`). */
export const MAX_STATE_KEY_BYTES = 256;
/** The largest value one `state-set` (or compare-and-swap) may store, in bytes (WIT `state-error.too-large`). */
export const MAX_STATE_VALUE_BYTES = 1024 * 1024;
/** Keys `state-list-keys` answers when the guest asks for 0. */
export const DEFAULT_STATE_LIST_LIMIT = 100;
/** The most keys one `state-list-keys` answers. */
export const MAX_STATE_LIST_LIMIT = 1000;
/** The quota when nothing sets one, even under `defaultLimits: "unlimited"`: state lives on the host's disk. */
export const DEFAULT_STATE_QUOTA: Readonly<StateUsage> = Object.freeze({ bytes: DEFAULT_LIMITS.stateBytes!, keys: DEFAULT_LIMITS.stateKeys! });

/** The state host calls of `HostCalls`, as one object. */
export type StateHostCalls = Required<Pick<HostCalls, "stateGet" | "stateSet" | "stateDelete" | "stateExists" | "stateListKeys" | "stateIncrement" | "stateCompareAndSwap">>;

/** What a plugin's view needs from the host. */
export interface PluginStateTarget {
  /** The plugin (its namespace). */
  readonly plugin: string;
  /** The backend, opened on first use; throws when it cannot be opened (the call answers `unavailable`). */
  backend(): StateBackend;
  /** The plugin's quota now (its limits). */
  quota(): StateUsage;
  /** A write was refused for the quota: the host records a violation of kind "quota". */
  onQuotaExceeded(detail: string): void;
  /** The backend failed (`unavailable`): the host logs it. */
  onUnavailable(operation: string, err: unknown): void;
}

const OK_UNDEFINED: StateOutcome<undefined> = Object.freeze({ ok: true, value: undefined }) as StateOutcome<undefined>;
const OK_TRUE: StateOutcome<boolean> = Object.freeze({ ok: true, value: true }) as StateOutcome<boolean>;
const OK_FALSE: StateOutcome<boolean> = Object.freeze({ ok: true, value: false }) as StateOutcome<boolean>;
const failures = Object.fromEntries(STATE_ERRORS.map((e) => [e, Object.freeze({ ok: false, error: e })])) as unknown as Record<StateError, { ok: false; error: StateError }>;

/** `key` is 1 to 256 UTF-8 bytes. */
export function stateKeyValid(key: string): boolean {
  const n = key.length;
  // UTF-16 units × 3 bounds the UTF-8 length: short keys need no count.
  return n !== 0 && (n <= MAX_STATE_KEY_BYTES / 3 || Buffer.byteLength(key, "utf8") <= MAX_STATE_KEY_BYTES);
}

/** The WIT `state-error` a backend's failure stands for (anything unknown: `unavailable`). */
export function stateFailureReason(err: unknown): StateError {
  const reason = typeof err === "object" && err !== null ? (err as { reason?: unknown }).reason : undefined;
  return typeof reason === "string" && (STATE_ERRORS as readonly string[]).includes(reason) ? (reason as StateError) : "unavailable";
}

/**
 * The state host calls of one plugin, over `target`'s backend. Each checks its arguments, runs one backend call and
 * answers an outcome; a backend failure becomes its `state-error` (quota: also `onQuotaExceeded`).
 *
 * @example
 *   const calls = pluginStateCalls({ plugin: "counter", backend: () => backend, quota: () => DEFAULT_STATE_QUOTA, onQuotaExceeded, onUnavailable });
 *   calls.stateIncrement("count", 1n); // { ok: true, value: 1n }
 */
export function pluginStateCalls(target: PluginStateTarget): StateHostCalls {
  const ns = target.plugin;
  const failed = (operation: string, key: string | undefined, err: unknown): { ok: false; error: StateError } => {
    const reason = stateFailureReason(err);
    if (reason === "quota-exceeded") {
      const q = target.quota();
      target.onQuotaExceeded(`${operation}(${JSON.stringify(key)}) refused: the plugin's state would pass its quota of ${q.bytes} bytes / ${q.keys} keys ([limits] state, state-keys)`);
    } else if (reason === "unavailable") target.onUnavailable(operation, err);
    return failures[reason];
  };
  return {
    stateGet(key) {
      if (!stateKeyValid(key)) return failures["invalid-key"];
      try {
        return { ok: true, value: target.backend().get(ns, key) };
      } catch (err) {
        return failed("state-get", key, err);
      }
    },
    stateSet(key, value) {
      if (!stateKeyValid(key)) return failures["invalid-key"];
      if (value.length > MAX_STATE_VALUE_BYTES) return failures["too-large"];
      try {
        target.backend().set(ns, key, value, target.quota());
        return OK_UNDEFINED;
      } catch (err) {
        return failed("state-set", key, err);
      }
    },
    stateDelete(key) {
      if (!stateKeyValid(key)) return failures["invalid-key"];
      try {
        return target.backend().delete(ns, key) ? OK_TRUE : OK_FALSE;
      } catch (err) {
        return failed("state-delete", key, err);
      }
    },
    stateExists(key) {
      if (!stateKeyValid(key)) return failures["invalid-key"];
      try {
        return target.backend().exists(ns, key) ? OK_TRUE : OK_FALSE;
      } catch (err) {
        return failed("state-exists", key, err);
      }
    },
    stateListKeys(cursor, limit) {
      const n = limit === 0 ? DEFAULT_STATE_LIST_LIMIT : Math.min(limit, MAX_STATE_LIST_LIMIT);
      try {
        return { ok: true, value: toKeyPage(target.backend().list(ns, cursor, n)) };
      } catch (err) {
        return failed("state-list-keys", undefined, err);
      }
    },
    stateIncrement(key, delta) {
      if (!stateKeyValid(key)) return failures["invalid-key"];
      try {
        return { ok: true, value: target.backend().increment(ns, key, delta, target.quota()) };
      } catch (err) {
        return failed("state-increment", key, err);
      }
    },
    stateCompareAndSwap(key, expected, value) {
      if (!stateKeyValid(key)) return failures["invalid-key"];
      if (value.length > MAX_STATE_VALUE_BYTES) return failures["too-large"];
      try {
        return target.backend().compareAndSwap(ns, key, expected, value, target.quota()) ? OK_TRUE : OK_FALSE;
      } catch (err) {
        return failed("state-compare-and-swap", key, err);
      }
    },
  };
}

/**
 * The state host calls of a plugin without the capability `state`: each answers `denied` and reports the attempt
 * (a capability violation, as a denied `emit` is). The backend is never touched.
 */
export function deniedStateCalls(onDenied: (capability: string, detail: string) => void): StateHostCalls {
  const deny = <T>(detail: string): StateOutcome<T> => {
    onDenied("state", detail);
    return failures.denied;
  };
  return {
    stateGet: (key) => deny(`state-get(${JSON.stringify(key)})`),
    stateSet: (key) => deny(`state-set(${JSON.stringify(key)})`),
    stateDelete: (key) => deny(`state-delete(${JSON.stringify(key)})`),
    stateExists: (key) => deny(`state-exists(${JSON.stringify(key)})`),
    stateListKeys: () => deny("state-list-keys"),
    stateIncrement: (key) => deny(`state-increment(${JSON.stringify(key)})`),
    stateCompareAndSwap: (key) => deny(`state-compare-and-swap(${JSON.stringify(key)})`),
  };
}

/** `calls`, each run inside `intercept` (the registry's call pipeline) under its WIT name. */
export function interceptStateCalls(calls: StateHostCalls, intercept: <T>(hostCall: string, run: () => T) => T): StateHostCalls {
  return {
    stateGet: (key) => intercept("state-get", () => calls.stateGet(key)),
    stateSet: (key, value) => intercept("state-set", () => calls.stateSet(key, value)),
    stateDelete: (key) => intercept("state-delete", () => calls.stateDelete(key)),
    stateExists: (key) => intercept("state-exists", () => calls.stateExists(key)),
    stateListKeys: (cursor, limit) => intercept("state-list-keys", () => calls.stateListKeys(cursor, limit)),
    stateIncrement: (key, delta) => intercept("state-increment", () => calls.stateIncrement(key, delta)),
    stateCompareAndSwap: (key, expected, value) => intercept("state-compare-and-swap", () => calls.stateCompareAndSwap(key, expected, value)),
  };
}

/** A plugin's quota from its limits: the limits' fields, else the finite defaults. */
export function stateQuota(limits: { stateBytes?: number; stateKeys?: number }): StateUsage {
  return { bytes: limits.stateBytes ?? DEFAULT_STATE_QUOTA.bytes, keys: limits.stateKeys ?? DEFAULT_STATE_QUOTA.keys };
}

function toKeyPage(page: StatePage): KeyPage {
  return page.cursor === undefined ? { keys: page.keys } : { keys: page.keys, cursor: page.cursor };
}
