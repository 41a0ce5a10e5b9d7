/**
 * Errors raised while rewriting a core module. They extend the project-wide
 * hierarchy in src/contract/errors.ts so engines can map them without special cases.
 */
import { InvalidPluginBinary, MemoryLimitExceeded, type ErrorDetails } from "../contract/errors.js";

/**
 * The bytes are not a core module the instrumenter understands (garbage,
 * truncated, unknown opcode or section), or an option is out of range. An
 * `InvalidPluginBinary`, code `E_INVALID_BINARY`.
 */
export class InstrumentError extends InvalidPluginBinary {
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;
  constructor(label: string, offset: number, reason: string, details: ErrorDetails = {}) {
    super(label, `cannot instrument core module: ${reason} (at byte ${offset})`, details);
    this.offset = offset;
  }
}

/**
 * A module whose declared initial memory or table size is already over the
 * cap. Raised at instrumentation (or admission) time, before any code runs.
 * A `MemoryLimitExceeded`, code `E_MEMORY_LIMIT`, for tables too.
 */
export class LimitCapError extends MemoryLimitExceeded {
  /** Whether a memory or a table is over its cap. */
  readonly kind: "memory" | "table";
  /** Its index in the module's memory or table index space. */
  readonly index: number;
  /** Its declared initial size (bytes for a memory, elements for a table). */
  readonly minimum: number;
  /** The cap it is over, in the same unit. */
  readonly cap: number;
  constructor(label: string, kind: "memory" | "table", index: number, minimum: number, cap: number, message: string, details: ErrorDetails = {}) {
    super(label, kind === "memory" ? cap : cap, details);
    this.kind = kind;
    this.index = index;
    this.minimum = minimum;
    this.cap = cap;
    // The base class words this as a failed grow; say what actually happened.
    this.message = `${details.plugin ? `[${details.plugin}] ` : ""}${label}: ${message}`;
  }
}
