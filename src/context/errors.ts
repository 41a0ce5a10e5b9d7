/**
 * The typed errors of the context store (docs/context.md). The host's own
 * calls (`registry.context.define/set/…`) throw them; a plugin's reads and
 * writes never throw and get a WIT `context-error` instead.
 */
import { PlughostError, type ErrorDetails, type ManifestProblem } from "../contract/errors.js";

/** A context key name that breaks the key rules, or a definition of a key that exists already. Code `E_CONTEXT_KEY_INVALID`. */
export class ContextKeyInvalid extends PlughostError {
  /** The key as given. */
  readonly key: string;
  constructor(key: string, reason: string, details: ErrorDetails = {}) {
    super("E_CONTEXT_KEY_INVALID", `context key ${JSON.stringify(key)}: ${reason}`, details);
    this.key = key;
  }
}

/** A key the store does not define. Code `E_CONTEXT_UNKNOWN_KEY`. */
export class ContextKeyUnknown extends PlughostError {
  /** The key as given. */
  readonly key: string;
  constructor(key: string, details: ErrorDetails = {}) {
    super(
      "E_CONTEXT_UNKNOWN_KEY",
      `context key ${JSON.stringify(key)} is not defined; define it first with registry.context.define(${JSON.stringify(key)}, { schema }) ` +
        `or in the host config's context section`,
      details,
    );
    this.key = key;
  }
}

/** A write to a key the caller may not write (a predefined key). Code `E_CONTEXT_READ_ONLY`. */
export class ContextReadOnly extends PlughostError {
  /** The key as given. */
  readonly key: string;
  constructor(key: string, how: string, details: ErrorDetails = {}) {
    super("E_CONTEXT_READ_ONLY", `context key ${JSON.stringify(key)} is read-only: ${how}`, details);
    this.key = key;
  }
}

/** A value that is not JSON, is too large, or does not satisfy its key's schema. Code `E_CONTEXT_VALUE_INVALID`. */
export class ContextValueInvalid extends PlughostError {
  /** The key written. */
  readonly key: string;
  /** What is wrong, each with the JSON pointer inside the value ("" for the whole value). */
  readonly problems: readonly ManifestProblem[];
  constructor(key: string, problems: readonly ManifestProblem[], details: ErrorDetails = {}) {
    const lines = problems.slice(0, 10).map((p) => `${p.pointer || "/"}: ${p.message}`);
    if (problems.length > 10) lines.push(`… and ${problems.length - 10} more`);
    super("E_CONTEXT_VALUE_INVALID", `invalid value for context key ${JSON.stringify(key)}: ${lines.join("; ")}`, details);
    this.key = key;
    this.problems = problems;
  }
}

/** A key's schema that is not a usable JSON Schema. Code `E_CONTEXT_SCHEMA_INVALID`. */
export class ContextSchemaInvalid extends PlughostError {
  /** The key being defined. */
  readonly key: string;
  constructor(key: string, reason: string, details: ErrorDetails = {}) {
    super("E_CONTEXT_SCHEMA_INVALID", `the schema of context key ${JSON.stringify(key)} ${reason}`, details);
    this.key = key;
  }
}
