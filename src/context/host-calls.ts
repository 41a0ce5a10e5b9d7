/**
 * The `context-get` / `context-set` host calls of one plugin: the capability
 * check (a refusal is a `capability` violation, as a denied emit is), then the
 * store. Per-call keys are read from the message the plugin's current call
 * handles, so they follow hook chains, messages and requests.
 */
import type { ContextOutcome, MessageInfo } from "../engines/engine.js";
import { contextAllowed } from "../plugin/capabilities.js";
import { contextKeyProblem, type ContextReader, type ContextStore } from "./store.js";

/** What the context host calls need to know of the calling plugin. */
export interface ContextCallTarget {
  readonly name: string;
  /** The effective capability set. */
  readonly capabilities: readonly string[];
  /** The envelope of the plugin's current call (undefined outside one: init, teardown). */
  currentMessage?(): MessageInfo | undefined;
  /** A read or write the capabilities do not cover: the registry records a violation. */
  onDenied(capability: string, detail: string): void;
  /** A write refused for its value (`invalid-value`), with why: for the plugin's log. */
  onRefused?(detail: string): void;
}

/** The two host calls, bound to one plugin. */
export interface ContextHostCalls {
  contextGet(key: string): ContextOutcome<string | undefined>;
  contextSet(key: string, value: string): ContextOutcome<undefined>;
}

/** A key quoted for a message, cut short: a guest chooses it. */
const quote = (key: string): string => JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key);

/** `context-get` / `context-set` for `target` over `store`. The functions never throw. */
export function contextHostCalls(store: ContextStore, target: ContextCallTarget): ContextHostCalls {
  const reader: ContextReader = {
    plugin: target.name,
    metadata(name: string): string | undefined {
      const pairs = target.currentMessage?.()?.metadata;
      if (pairs === undefined) return undefined;
      for (const [k, v] of pairs) if (k === name) return v;
      return undefined;
    },
  };
  return {
    contextGet(key: string): ContextOutcome<string | undefined> {
      try {
        // No key of a malformed name can exist: nothing to deny.
        if (contextKeyProblem(key)) return { ok: false, error: "unknown-key" };
        if (!contextAllowed(target.capabilities, "read", key)) {
          target.onDenied(`context:${key}`, `context-get(${quote(key)})`);
          return { ok: false, error: "denied" };
        }
        return store.readFor(key, reader);
      } catch {
        return { ok: false, error: "unknown-key" }; // defensive: a host call never throws into an engine
      }
    },
    contextSet(key: string, value: string): ContextOutcome<undefined> {
      try {
        if (contextKeyProblem(key)) return { ok: false, error: "unknown-key" };
        if (!contextAllowed(target.capabilities, "write", key)) {
          target.onDenied(`context:write:${key}`, `context-set(${quote(key)})`);
          return { ok: false, error: "denied" };
        }
        return store.writeFrom(key, value, (why) => target.onRefused?.(`context-set(${quote(key)}) refused: invalid-value: ${why}`));
      } catch {
        return { ok: false, error: "invalid-value" };
      }
    },
  };
}
