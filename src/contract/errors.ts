/**
 * Every error plughost raises. One hierarchy, each class with a stable `code`,
 * the plugin's name where there is one, and the underlying `cause`.
 * No plugin failure reaches the embedding application as a bare `Error`.
 */
import type { DependencyConflict, DependencyStrategy } from "../plugin/resolve.js";

/** What every error may carry besides its message: the plugin concerned and the cause. */
export interface ErrorDetails {
  /** The plugin concerned, when there is one. */
  plugin?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The base of every error plughost throws or reports: a stable `code`, the
 * plugin's name (also at the start of the message) and the underlying `cause`.
 * Test for a kind with `instanceof` (the subclasses below) or by `code`.
 *
 * @example
 *   try {
 *     await registry.load("plugins/hello");
 *   } catch (e) {
 *     if (e instanceof PlughostError) console.error(e.code, e.plugin, e.message);
 *   }
 */
export class PlughostError extends Error {
  /** Stable machine-readable code, e.g. `E_MANIFEST_INVALID`. */
  readonly code: string;
  /** The plugin concerned, or undefined when the error is not about one plugin. */
  readonly plugin: string | undefined;

  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(details.plugin ? `[${details.plugin}] ${message}` : message, { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.plugin = details.plugin;
  }
}

// ── manifest, verify, resolve ───────────────────────────────────────────────

/** One thing wrong with a manifest (see {@link ManifestError.problems}). */
export interface ManifestProblem {
  /** JSON pointer to the offending field ("" for the whole document). */
  pointer: string;
  /** What is wrong, in words. */
  message: string;
}

/** A manifest that cannot be read, parsed or validated. Code `E_MANIFEST_INVALID`. */
export class ManifestError extends PlughostError {
  /** The manifest file (or the directory searched for one). */
  readonly file: string;
  /** Every problem found; the message spells out only the first ten. */
  readonly problems: readonly ManifestProblem[];
  constructor(file: string, problems: readonly ManifestProblem[], details: ErrorDetails = {}) {
    // The message spells out the first ten problems (a hostile manifest can have thousands); `problems` has them all.
    const lines = problems.slice(0, 10).map((p) => `${p.pointer || "/"}: ${p.message}`);
    if (problems.length > 10) lines.push(`… and ${problems.length - 10} more`);
    super("E_MANIFEST_INVALID", `invalid manifest ${file}: ${lines.join("; ")}`, details);
    this.file = file;
    this.problems = problems;
  }
}

/** A plugin's integrity or signature check failed. Code `E_VERIFICATION_FAILED`. */
export class VerificationError extends PlughostError {
  constructor(message: string, details: ErrorDetails = {}) {
    super("E_VERIFICATION_FAILED", message, details);
  }
}

/** Dependencies cannot be satisfied, or they form a cycle. Code `E_RESOLUTION_FAILED`. */
export class ResolutionError extends PlughostError {
  constructor(message: string, details: ErrorDetails = {}) {
    super("E_RESOLUTION_FAILED", message, details);
  }
}

/** `unload` of a plugin that loaded plugins depend on, without `{ cascade: true }`. Code `E_RESOLUTION_FAILED`. */
export class PluginHasDependents extends ResolutionError {
  /** The loaded plugins that depend on it (required or peer), dependents of dependents included. */
  readonly dependents: readonly string[];
  constructor(plugin: string, dependents: readonly string[]) {
    super(
      `cannot unload: ${dependents.join(", ")} ${dependents.length === 1 ? "depends" : "depend"} on it; unload ${dependents.length === 1 ? "it" : "them"} first, or pass { cascade: true } to unload them with it`,
      { plugin },
    );
    this.dependents = dependents;
  }
}

/**
 * Dependency conflicts the strategy did not settle (`strict`: any; `latest`: no version satisfies every range;
 * `manual`: no choice was given). `.conflicts` names, per dependency, every range asked for and every version
 * available; under `manual`, answer them with `loadAll(paths, { choices })`, the `onConflict` option or
 * `registry.resolveConflict` (docs/lifecycle.md). Code `E_DEPENDENCY_CONFLICT`.
 */
export class DependencyConflictError extends PlughostError {
  /** The unsettled conflicts. */
  readonly conflicts: readonly DependencyConflict[];
  /** The strategy in force. */
  readonly strategy: DependencyStrategy;
  constructor(strategy: DependencyStrategy, conflicts: readonly DependencyConflict[], remedy: string) {
    const first = conflicts[0];
    super(
      "E_DEPENDENCY_CONFLICT",
      `${conflicts.length} dependency conflict${conflicts.length === 1 ? "" : "s"} under the "${strategy}" strategy: ${conflicts.map(describeConflict).join("; ")}; ${remedy}`,
      first?.requirements[0] ? { plugin: first.requirements[0].plugin } : {},
    );
    this.conflicts = conflicts;
    this.strategy = strategy;
  }
}

function describeConflict(c: DependencyConflict): string {
  const wants = c.requirements.map((r) => `${r.plugin} needs ${c.dependency} ${r.range}${r.kind === "required" ? "" : ` (${r.kind})`}`).join(", ");
  const has = c.candidates.length === 0 ? "none is available" : `available: ${c.candidates.map((v) => `${v.version}${v.loaded ? " (loaded)" : ""}`).join(", ")}`;
  return `${wants}; ${has}`;
}

/** Seed 000: the plugin's API version is incompatible with the host's. Code `E_API_VERSION_MISMATCH`. */
export class ApiVersionMismatch extends PlughostError {
  /** The WIT contract version this host provides. */
  readonly expected: string;
  /** The version (or semver range) the plugin requires. */
  readonly actual: string;
  constructor(expected: string, actual: string, details: ErrorDetails = {}) {
    super(
      "E_API_VERSION_MISMATCH",
      `plugin API version mismatch: host provides ${expected}, plugin requires ${actual}`,
      details,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

// ── compile, instantiate ────────────────────────────────────────────────────

/** The entry file is not a valid Wasm component of the plughost world (or not a loadable library). Code `E_INVALID_BINARY`. */
export class InvalidPluginBinary extends PlughostError {
  /** The entry file. */
  readonly file: string;
  constructor(file: string, reason: string, details: ErrorDetails = {}) {
    super("E_INVALID_BINARY", `${file}: ${reason}`, details);
    this.file = file;
  }
}

/** The component imports something the host will not supply. Code `E_MISSING_IMPORT`. */
export class MissingImportError extends PlughostError {
  /** The imports the host does not supply. */
  readonly imports: readonly string[];
  constructor(imports: readonly string[], hint: string, details: ErrorDetails = {}) {
    super("E_MISSING_IMPORT", `component imports ${imports.join(", ")}, which the host does not supply: ${hint}`, details);
    this.imports = imports;
  }
}

/** A capability the plugin needs was not granted, or a call used one it does not hold. Code `E_CAPABILITY_DENIED`. */
export class CapabilityDenied extends PlughostError {
  /** The capability that was missing, e.g. `fs:read:/data`. */
  readonly capability: string;
  constructor(capability: string, message: string, details: ErrorDetails = {}) {
    super("E_CAPABILITY_DENIED", message, details);
    this.capability = capability;
  }
}

/** Seed 000: the host could not build the plugin's context / instance. Code `E_CONTEXT_CREATION_FAILED`. */
export class ContextCreationFailed extends PlughostError {
  constructor(message: string, details: ErrorDetails = {}) {
    super("E_CONTEXT_CREATION_FAILED", message, details);
  }
}

/** The requested engine is not available on this machine (for example, its addon was not built). Code `E_ENGINE_UNAVAILABLE`. */
export class EngineUnavailable extends PlughostError {
  constructor(engine: string, reason: string, details: ErrorDetails = {}) {
    super("E_ENGINE_UNAVAILABLE", `engine "${engine}" is not available: ${reason}`, details);
  }
}

/**
 * Building a plugin needs a toolchain this machine lacks (clang, Go, the Rust route's packages, or the optional
 * peer `@bytecodealliance/componentize-js`); the message ends with the command that installs it. Code
 * `E_TOOLCHAIN_MISSING`. Thrown by `plughost build` and `plughost conformance` when they build.
 */
export class ToolchainMissing extends PlughostError {
  constructor(message: string, details: ErrorDetails = {}) {
    super("E_TOOLCHAIN_MISSING", message, details);
  }
}

// ── lifecycle ──────────────────────────────────────────────────────────────

/** Seed 000: `init` returned a non-zero status. Code `E_INITIALIZATION_FAILED`. */
export class InitializationFailed extends PlughostError {
  /** The status `init` returned. */
  readonly status: number;
  constructor(status: number, details: ErrorDetails = {}) {
    super("E_INITIALIZATION_FAILED", `init returned ${status}`, details);
    this.status = status;
  }
}

/** Seed 000: `teardown` returned a non-zero status. Code `E_TEARDOWN_FAILED`. */
export class TeardownFailed extends PlughostError {
  /** The status `teardown` returned. */
  readonly status: number;
  constructor(status: number, details: ErrorDetails = {}) {
    super("E_TEARDOWN_FAILED", `teardown returned ${status}`, details);
    this.status = status;
  }
}

/** Seed 000: resources could not be released after teardown. Code `E_RESOURCE_CLEANUP_FAILED`. */
export class ResourceCleanupFailed extends PlughostError {
  constructor(message: string, details: ErrorDetails = {}) {
    super("E_RESOURCE_CLEANUP_FAILED", message, details);
  }
}

/** A lifecycle transition that the state machine does not allow (see `canTransition`). Code `E_ILLEGAL_TRANSITION`. */
export class IllegalStateTransition extends PlughostError {
  /** The state the plugin was in. */
  readonly from: string;
  /** The state it was asked to move to. */
  readonly to: string;
  constructor(from: string, to: string, details: ErrorDetails = {}) {
    super("E_ILLEGAL_TRANSITION", `illegal state transition ${from} -> ${to}`, details);
    this.from = from;
    this.to = to;
  }
}

/** Seed 000: a call to a plugin that is not active. Code `E_PLUGIN_NOT_RUNNING`. */
export class PluginNotRunning extends PlughostError {
  /** The state the plugin was in (or `restarting`). */
  readonly state: string;
  constructor(state: string, details: ErrorDetails = {}) {
    super("E_PLUGIN_NOT_RUNNING", `plugin is ${state}, not active; load and initialise it first`, details);
    this.state = state;
  }
}

/** No plugin of that name is known to the registry. Code `E_PLUGIN_NOT_FOUND`. */
export class PluginNotFound extends PlughostError {
  constructor(name: string) {
    super("E_PLUGIN_NOT_FOUND", `no plugin named "${name}" is loaded or discovered`, { plugin: name });
  }
}

/** A plugin of that name is already loaded. Code `E_PLUGIN_ALREADY_LOADED`. */
export class PluginAlreadyLoaded extends PlughostError {
  constructor(name: string) {
    super("E_PLUGIN_ALREADY_LOADED", `a plugin named "${name}" is already loaded; unload it first`, { plugin: name });
  }
}

// ── callbacks and calls ─────────────────────────────────────────────────────

/** Seed 000: an event name that breaks the naming rules (see `eventNameProblem`). Code `E_INVALID_CALLBACK_NAME`. */
export class InvalidCallbackName extends PlughostError {
  /** The name refused. */
  readonly eventName: string;
  constructor(eventName: string, reason: string, details: ErrorDetails = {}) {
    super("E_INVALID_CALLBACK_NAME", `invalid callback name ${JSON.stringify(eventName.slice(0, 64))}: ${reason}`, details);
    this.eventName = eventName;
  }
}

/** Seed 000: the host refused a callback registration. Code `E_REGISTRATION_FAILED`. */
export class RegistrationFailed extends PlughostError {
  /** The status the registration was answered with. */
  readonly status: number;
  constructor(status: number, reason: string, details: ErrorDetails = {}) {
    super("E_REGISTRATION_FAILED", `callback registration failed (${status}): ${reason}`, details);
    this.status = status;
  }
}

/** Seed 000: a callback returned a non-zero status, or has not been registered. Code `E_INVOCATION_FAILED`. */
export class InvocationFailed extends PlughostError {
  /** The status the callback returned (-1 when it is not registered). */
  readonly status: number;
  /** The event whose callback failed. */
  readonly event: string;
  constructor(event: string, status: number, reason: string, details: ErrorDetails = {}) {
    super("E_INVOCATION_FAILED", `callback "${event}" failed (${status}): ${reason}`, details);
    this.status = status;
    this.event = event;
  }
}

/** A call into a plugin while another call into the same instance is running. Code `E_REENTRANCY`. */
export class ReentrancyError extends PlughostError {
  /** The export that was called re-entrantly. */
  readonly export: string;
  constructor(exportName: string, details: ErrorDetails = {}) {
    super("E_REENTRANCY", `re-entrant call to ${exportName} refused: the instance is already running a call`, details);
    this.export = exportName;
  }
}

/**
 * An interceptor (`registry.use`) threw, returned a value of the wrong shape
 * for the call, or could not run where the call must finish synchronously.
 * Only that call fails; the plugin is not faulted. Code `E_INTERCEPTOR_FAILED`.
 */
export class InterceptorFailed extends PlughostError {
  /** The event of the call. */
  readonly event: string;
  /** The kind of call (`CallKind`: invoke, hook, dispatch, message, host). */
  readonly kind: string;
  constructor(event: string, kind: string, reason: string, details: ErrorDetails = {}) {
    super("E_INTERCEPTOR_FAILED", `interceptor failed on ${kind} "${event}": ${reason}; fix or remove the interceptor passed to registry.use()`, details);
    this.event = event;
    this.kind = kind;
  }
}

// ── limits and faults (the instance is discarded after each) ────────────────

/**
 * Base of the errors after which the instance is discarded and re-instantiated
 * (the registry's recovery policy decides whether it restarts). Test with
 * `isInstanceFault` or `instanceof`.
 */
export class InstanceFault extends PlughostError {
  /** The export that was running when the fault happened. */
  readonly export: string;
  constructor(code: string, exportName: string, message: string, details: ErrorDetails = {}) {
    super(code, `${exportName}: ${message}`, details);
    this.export = exportName;
  }
}

/** The guest trapped (unreachable, out-of-bounds access, stack overflow, …). Code `E_TRAP`. */
export class PluginTrap extends InstanceFault {
  /** Path of the Wasm core dump written for this trap (wasmtime, with `RegistryOptions.coreDumpDir`). */
  coreDump?: string;

  constructor(exportName: string, reason: string, details: ErrorDetails = {}) {
    super("E_TRAP", exportName, `trapped: ${reason}`, details);
  }
}

/** The guest broke the canonical ABI (bad pointer, length, alignment or UTF-8). The instance is discarded. Code `E_ABI_VIOLATION`. */
export class AbiViolation extends InstanceFault {
  constructor(exportName: string, reason: string, details: ErrorDetails = {}) {
    super("E_ABI_VIOLATION", exportName, `broke the canonical ABI: ${reason}`, details);
  }
}

/** The call used up its fuel budget. Code `E_FUEL_EXHAUSTED`. */
export class FuelExhausted extends InstanceFault {
  /** The fuel budget per call (`limits.fuel`). */
  readonly budget: number;
  constructor(exportName: string, budget: number, details: ErrorDetails = {}) {
    super("E_FUEL_EXHAUSTED", exportName, `ran out of fuel (budget ${budget} units); raise limits.fuel or fix the loop`, details);
    this.budget = budget;
  }
}

/** The call ran past its wall-clock deadline. Code `E_DEADLINE_EXCEEDED`. */
export class DeadlineExceeded extends InstanceFault {
  /** The deadline in milliseconds (`limits.deadlineMs`). */
  readonly deadlineMs: number;
  constructor(exportName: string, deadlineMs: number, details: ErrorDetails = {}) {
    super("E_DEADLINE_EXCEEDED", exportName, `exceeded its ${deadlineMs} ms deadline`, details);
    this.deadlineMs = deadlineMs;
  }
}

/** The guest tried to grow memory past its cap. Code `E_MEMORY_LIMIT`. */
export class MemoryLimitExceeded extends InstanceFault {
  /** The cap in bytes (`limits.memoryBytes`). */
  readonly limitBytes: number;
  constructor(exportName: string, limitBytes: number, details: ErrorDetails = {}) {
    super("E_MEMORY_LIMIT", exportName, `tried to grow memory past its ${limitBytes}-byte cap`, details);
    this.limitBytes = limitBytes;
  }
}

/** The guest called `exit`. Only the plugin stops; the host carries on. Code `E_PLUGIN_EXITED`. */
export class PluginExited extends InstanceFault {
  /** The code the guest passed to `exit`. */
  readonly exitCode: number;
  constructor(exportName: string, exitCode: number, details: ErrorDetails = {}) {
    super("E_PLUGIN_EXITED", exportName, `called exit(${exitCode}); a plugin cannot end the host`, details);
    this.exitCode = exitCode;
  }
}

/** A sandboxed native helper process died (signal or unexpected exit). Code `E_PLUGIN_CRASHED`. */
export class PluginCrashed extends InstanceFault {
  /** The signal that ended the helper, or null. */
  readonly signal: string | null;
  /** The helper's exit code, or null when a signal ended it. */
  readonly exitCode: number | null;
  constructor(exportName: string, signal: string | null, exitCode: number | null, details: ErrorDetails = {}) {
    super("E_PLUGIN_CRASHED", exportName, `plugin process crashed (${signal ?? `exit ${exitCode}`})`, details);
    this.signal = signal;
    this.exitCode = exitCode;
  }
}

/** The plugin was unloaded automatically after too many violations (the `unmounted` event carries it). Code `E_PLUGIN_UNMOUNTED`. */
export class PluginUnmounted extends PlughostError {
  constructor(violations: number, details: ErrorDetails = {}) {
    super("E_PLUGIN_UNMOUNTED", `unloaded after ${violations} violations`, details);
  }
}

/** True for errors after which the engine instance must be discarded. */
export function isInstanceFault(err: unknown): err is InstanceFault {
  return err instanceof InstanceFault;
}

/** The compile cache directory is not private to the user running the host; nothing in it is used. Code `E_CACHE_UNSAFE`. */
export class CacheUnsafe extends PlughostError {
  /** The cache directory as configured. */
  readonly path: string;
  /** The path that failed the check (the directory, a parent or its key file). */
  readonly offending: string;
  /** What is wrong with it, in words. */
  readonly problem: string;
  constructor(dir: string, offending: string, problem: string, details: ErrorDetails = {}) {
    super(
      "E_CACHE_UNSAFE",
      `the compile cache ${dir} ${problem}; cached code there could have been planted by someone else, so it is not used. ` +
        "Remove it, or use a directory that only this user can write (the cacheDir option, XDG_CACHE_HOME, or cacheDir: false)",
      details,
    );
    this.path = dir;
    this.offending = offending;
    this.problem = problem;
  }
}

/** A sandboxed native plugin kept using CPU between its calls (threads left running) past its budget; its helper was killed. Code `E_CPU_BUDGET`. */
export class CpuBudgetExceeded extends InstanceFault {
  /** The CPU budget between calls, in milliseconds. */
  readonly budgetMs: number;
  /** The CPU time used between calls, in milliseconds. */
  readonly usedMs: number;
  constructor(exportName: string, usedMs: number, budgetMs: number, details: ErrorDetails = {}) {
    super(
      "E_CPU_BUDGET",
      exportName,
      `used ${usedMs} ms of CPU between calls, past its budget of ${budgetMs} ms; the helper was killed. ` +
        "A plugin's threads must stop working when its call returns (or raise the sandbox option idleCpuMs)",
      details,
    );
    this.budgetMs = budgetMs;
    this.usedMs = usedMs;
  }
}

/**
 * A plugin went past one of its resource limits (`resource`: "open-files", "connections", "fs-write-bytes",
 * "cpu-seconds", "processes", "memory"), with the figures. Thrown when the breach ended the instance (a sandboxed
 * native plugin's helper killed by RLIMIT_CPU or its cgroup); a breach the plugin survives (an open refused with
 * EMFILE) is recorded as a violation of kind "resource" with the same figures. Code `E_RESOURCE_LIMIT`.
 */
export class ResourceLimitExceeded extends InstanceFault {
  /** Which limit: the manifest's `[limits]` key or the sandbox measure. */
  readonly resource: string;
  /** What the plugin used (or asked for) when it was stopped, in the limit's unit. */
  readonly used: number;
  /** The limit, in the same unit. */
  readonly limit: number;
  constructor(exportName: string, resource: string, used: number, limit: number, details: ErrorDetails = {}) {
    super(
      "E_RESOURCE_LIMIT",
      exportName,
      `went past its ${resource} limit (used ${used}, limit ${limit}); raise the limit if the plugin needs more, or fix the plugin`,
      details,
    );
    this.resource = resource;
    this.used = used;
    this.limit = limit;
  }
}

/** The guest's tables would hold more elements than its cap, summed over all its tables (`limits.tableElements`). Code `E_TABLE_LIMIT`. */
export class TableLimitExceeded extends InstanceFault {
  /** The cap in table elements. */
  readonly limitElements: number;
  constructor(exportName: string, limitElements: number, details: ErrorDetails = {}) {
    super(
      "E_TABLE_LIMIT",
      exportName,
      `needs more than its cap of ${limitElements} table elements (summed over all its tables); raise limits.tableElements or shrink the tables`,
      details,
    );
    this.limitElements = limitElements;
  }
}

/** A plugin endpoint's answer that does not follow the envelope layout (docs/serve.md); the server answers 502. Code `E_BAD_RESPONSE`. */
export class BadPluginResponse extends PlughostError {
  constructor(plugin: string, why: string) {
    super("E_BAD_RESPONSE", `plugin "${plugin}" answered with ${why}; write u32le N, an N-byte JSON head { status, headers }, then the body (docs/serve.md)`, { plugin });
  }
}

/**
 * A plugin cannot be profiled where it runs (docs/observability.md, "Profiling"): V8's CPU profiler serves v8
 * plugins (in process or in a worker), not wasmtime ones; the message says what to change. Also a profile already
 * running for that plugin, or a worker that ended during one. Code `E_PROFILING_UNSUPPORTED`.
 */
export class ProfilingUnsupported extends PlughostError {
  constructor(reason: string, details: ErrorDetails = {}) {
    super("E_PROFILING_UNSUPPORTED", `cannot profile: ${reason}`, details);
  }
}

// ── hooks (registry.addHook) ──────────────────────────────────────────────

/** Why a host hook failed (see {@link HookFailed.reason}). */
export type HookFailureReason = "threw" | "bad-result" | "timeout";

/**
 * A host hook (`registry.addHook`) threw, returned something that is neither a `Uint8Array`, `undefined` nor a
 * `HookOutcome`, or did not settle within its `timeoutMs` (the chain stopped waiting for it). Its `onError` decides
 * whether the chain stops or goes on (docs/hooks.md). Code `E_HOOK_FAILED`.
 */
export class HookFailed extends PlughostError {
  /** The host hook's name (`addHook`'s `name` option). */
  readonly hook: string;
  /** The hook chain's event. */
  readonly event: string;
  /** What went wrong. */
  readonly reason: HookFailureReason;
  constructor(hook: string, event: string, reason: HookFailureReason, message: string, details: ErrorDetails = {}) {
    super("E_HOOK_FAILED", `host hook "${hook}" on "${event}" ${message}`, details);
    this.hook = hook;
    this.event = event;
    this.reason = reason;
  }
}

// ── transports (messages across hosts) ─────────────────────────────────────

/** Why a transport failed (see {@link TransportError.reason}). */
export type TransportFailureReason = "connect" | "disconnected" | "closed" | "too-large" | "bad-message" | "failed";

/**
 * A message could not cross hosts (docs/messaging.md, "Across hosts"): the bus could not be reached, the connection
 * was lost (a publish while disconnected: local deliveries are unaffected, the message to other hosts is dropped),
 * the transport was stopped, a payload exceeds the bus's limit, or a message from another host is malformed.
 * Reported through the registry's error handler, never thrown at a plugin. Code `E_TRANSPORT`.
 */
export class TransportError extends PlughostError {
  /** What failed. */
  readonly reason: TransportFailureReason;
  /** The transport, e.g. `"nats"`. */
  readonly transport: string;
  constructor(transport: string, reason: TransportFailureReason, message: string, details: ErrorDetails = {}) {
    super("E_TRANSPORT", `${transport} transport: ${message}`, details);
    this.transport = transport;
    this.reason = reason;
  }
}

/**
 * A transport's client library is not installed (the NATS transport needs the optional peer dependency `nats`:
 * `npm install nats`). Code `E_TRANSPORT_UNAVAILABLE`.
 */
export class TransportUnavailable extends PlughostError {
  constructor(transport: string, install: string, details: ErrorDetails = {}) {
    super("E_TRANSPORT_UNAVAILABLE", `the ${transport} transport needs a package that is not installed; run \`${install}\``, details);
  }
}

// ── requests and host services (docs/messaging.md) ──────────────────────────

/**
 * A request (`registry.request`) got no answer: `reason` says why, in the WIT `request-error` terms (`unknown-target`,
 * `not-handled`, `cycle`, `too-deep`, `timeout`, `rejected`, `failed`, …); for `rejected`, `status` is the non-zero
 * status the target's hook returned. Code `E_REQUEST_FAILED`.
 */
export class RequestFailed extends PlughostError {
  /** Why there is no answer (a WIT `request-error` case). */
  readonly reason: string;
  /** The status the target's hook returned, when `reason` is `rejected`. */
  readonly status: number | undefined;
  /** The plugin or host service asked. */
  readonly target: string;
  /** The event asked for. */
  readonly event: string;
  constructor(target: string, event: string, reason: string, hint: string, details: ErrorDetails & { status?: number } = {}) {
    super("E_REQUEST_FAILED", `request "${event}" to "${target}" failed (${reason}${details.status !== undefined ? ` ${details.status}` : ""}): ${hint}`, details);
    this.reason = reason;
    this.status = details.status;
    this.target = target;
    this.event = event;
  }
}

/**
 * A host service name that cannot be used: it is not a valid name, another service has it, or a loaded plugin has it
 * (`addService`); or a plugin that would load under a service's name. Names of plugins and services share one space,
 * since requests address both. Code `E_SERVICE_NAME`.
 */
export class ServiceNameTaken extends PlughostError {
  /** The contested name. */
  readonly service: string;
  constructor(name: string, reason: string, details: ErrorDetails = {}) {
    super("E_SERVICE_NAME", `the name "${name}" cannot be used: ${reason}`, details);
    this.service = name;
  }
}

// ── app-defined interfaces (docs/host-interfaces.md) ────────────────────────

/** WIT text that cannot be parsed or resolved. Code `E_WIT_INVALID`. */
export class WitError extends PlughostError {
  /** The file (or "<inline>") and the 1-based line and column of the problem. */
  readonly file: string;
  readonly line: number;
  readonly column: number;
  constructor(file: string, line: number, column: number, problem: string, details: ErrorDetails = {}) {
    super("E_WIT_INVALID", `${file}:${line}:${column}: ${problem}`, details);
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

/**
 * A value that does not fit its WIT type, at `path` (e.g. `order.lines[2].sku`). `side` says who gave it: "guest" (a
 * plugin's argument to a host interface or its export's result), or "host" (an implementation's result, or
 * `handle.call`'s arguments). When it happens mid-call the guest's call ends in an `AbiViolation` (guest side) or a
 * `PluginTrap` (host side) whose cause is this error. Code `E_INTERFACE_VALUE`.
 */
export class InterfaceValueError extends PlughostError {
  /** The interface (versioned id), function and value path. */
  readonly iface: string;
  readonly fn: string;
  readonly path: string;
  readonly side: "guest" | "host";
  constructor(iface: string, fn: string, path: string, side: "guest" | "host", problem: string, details: ErrorDetails = {}) {
    super("E_INTERFACE_VALUE", `${iface}#${fn}: ${path ? `${path}: ` : ""}${problem} (from the ${side === "guest" ? "plugin" : "host"})`, details);
    this.iface = iface;
    this.fn = fn;
    this.path = path;
    this.side = side;
  }
}

/**
 * An app-defined interface that cannot be used as asked: not provided or exported by anyone, a version that does not
 * satisfy the importer (semver: same major, and for 0.x the same minor; the provider at least as new), an unknown
 * function, a wiring cycle between plugins, or an async implementation where the engine cannot wait (in-process v8).
 * `reason` is one of "missing", "version", "unknown-function", "cycle", "async", "provided-twice". (Not granted is a
 * `CapabilityDenied` for `iface:<id>`.) Code `E_INTERFACE_UNAVAILABLE`.
 */
export class InterfaceUnavailable extends PlughostError {
  readonly iface: string;
  readonly reason: "missing" | "version" | "unknown-function" | "cycle" | "async" | "provided-twice";
  constructor(iface: string, reason: InterfaceUnavailable["reason"], message: string, details: ErrorDetails = {}) {
    super("E_INTERFACE_UNAVAILABLE", `${iface}: ${message}`, details);
    this.iface = iface;
    this.reason = reason;
  }
}

// ── packages, catalogs, trust (docs/catalog.md) ─────────────────────────────

/**
 * A package file (`.plughost`) or an OCI artifact that cannot be read as a plugin package: not the format, a file
 * missing or listed twice, a path that escapes the package, sizes past the reader's bounds. `file` names the package
 * (or `oci://…` reference). Code `E_PACKAGE_INVALID`.
 */
export class PackageError extends PlughostError {
  /** The package file or reference concerned. */
  readonly file: string;
  constructor(file: string, problem: string, details: ErrorDetails = {}) {
    super("E_PACKAGE_INVALID", `${file}: ${problem}`, details);
    this.file = file;
  }
}

/**
 * A package refused by verification on install or load. `reason`:
 * - "digest": a file's or blob's sha256 differs from the one the package (or registry manifest) names (a swapped layer);
 * - "unsigned": no signature, and the host or `--require-signature` requires one;
 * - "bad-signature": the signature does not verify over the package statement;
 * - "unknown-key": signed by a key not in the trust list;
 * - "revoked-key": signed by a key the trust list revoked (the message names the key and the revocation date);
 * - "wrong-plugin": the signature names another plugin than the package;
 * - "wrong-version": the signature or package names another version than the tag or lockfile asked for (a replay);
 * - "trust-level": the signer's trust level is below what the policy requires for a capability the plugin asks for.
 * It is a `VerificationError` (code `E_VERIFICATION_FAILED`), as the load path's signature checks are.
 */
export class PackageVerificationError extends VerificationError {
  readonly reason: "digest" | "unsigned" | "bad-signature" | "unknown-key" | "revoked-key" | "wrong-plugin" | "wrong-version" | "trust-level";
  constructor(reason: PackageVerificationError["reason"], message: string, details: ErrorDetails = {}) {
    super(message, details);
    this.reason = reason;
  }
}

/**
 * A catalog that cannot do what was asked. `reason`: "not-found" (no such plugin or version, or no version in the
 * range), "unreachable" (connection refused, DNS, timeout), "auth" (401/403 after trying the credentials given),
 * "protocol" (an answer the OCI distribution spec does not allow, or a malformed index), "conflict" (publishing a
 * version that exists with other bytes), "io" (the directory catalog or the plugin directory cannot be written).
 * `catalog` names the catalog (directory path or registry URL). Code `E_CATALOG`.
 */
export class CatalogError extends PlughostError {
  readonly reason: "not-found" | "unreachable" | "auth" | "protocol" | "conflict" | "io";
  readonly catalog: string;
  constructor(catalog: string, reason: CatalogError["reason"], message: string, details: ErrorDetails = {}) {
    super("E_CATALOG", `${catalog}: ${message}`, details);
    this.catalog = catalog;
    this.reason = reason;
  }
}

/**
 * A trust list that cannot be opened or used: a wrong key or a tampered encrypted file ("decrypt": AES-256-GCM's
 * tag does not verify, which cannot tell the two apart), a missing key ("no-key"), or a file that is not a trust list
 * ("format"). `file` names the trust list file. Code `E_TRUST_LIST`.
 */
export class TrustListError extends PlughostError {
  readonly reason: "decrypt" | "no-key" | "format";
  readonly file: string;
  constructor(file: string, reason: TrustListError["reason"], message: string, details: ErrorDetails = {}) {
    super("E_TRUST_LIST", `${file}: ${message}`, details);
    this.file = file;
    this.reason = reason;
  }
}
