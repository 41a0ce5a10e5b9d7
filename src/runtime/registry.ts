/**
 * The PluginRegistry: every plugin form behind one handle type.
 *
 * The data path reads straight through `#loadEntry`: manifest → verify →
 * resolve → compile and instantiate (the engine) → init → active; calls go
 * through `invoke` / `dispatch` / `runHook`; `unload` tears down.
 */
import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { statSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import {
  DeadlineExceeded,
  InitializationFailed,
  InterceptorFailed,
  InvalidCallbackName,
  InvocationFailed,
  isInstanceFault,
  ManifestError,
  PluginAlreadyLoaded,
  PluginHasDependents,
  DependencyConflictError,
  InterfaceUnavailable,
  PluginNotFound,
  PluginNotRunning,
  PluginUnmounted,
  PlughostError,
  RequestFailed,
  ResolutionError,
  ResourceLimitExceeded,
  ServiceNameTaken,
  TeardownFailed,
  type InstanceFault,
} from "../contract/errors.js";
import type {
  Engine,
  EngineInstance,
  EngineName,
  HookOutcome,
  Isolation,
  Limits,
  MessageInfo,
  MessageOutcome,
  TrustLevel,
  ViolationKind,
  ResourceName,
  ResourceUsage,
} from "../engines/engine.js";
import { getEngine, nativeEngineWith } from "../engines/index.js";
import type { SandboxOptions } from "../engines/native/sandbox/host.js";
import { eventNameProblem } from "../contract/event-names.js";
import { createHostCalls, DEFAULT_HOST_CALL_OPTIONS, type HostCallOptions } from "./host-calls.js";
import {
  currentDelivery,
  enterDelivery,
  HOST_ORIGIN,
  restoreDelivery,
  withDelivery,
  type Delivery,
  type MessageChain,
} from "./message-chain.js";
import { CallbackSet } from "./callback-set.js";
import { envelope, mergeMetadata, messageId, NO_METADATA, toMessageInfo, type Envelope } from "../messaging/envelope.js";
import { Subscriptions, type EventStream, type EventStreamOptions, type Subscriber } from "../messaging/subscriptions.js";
import type { Transport } from "../messaging/transport.js";
import { MessageRouter, type RouterHost } from "../messaging/router.js";
import { refused, requestFailed, type RequestOptions, type ServiceHandler } from "../messaging/requests.js";
import { CallPipeline, currentCall, withCall, withContextMetadata, type CallContext, type CallKind, type CallOptions, type Interceptor } from "./calls.js";
import { ContextStore, type ContextKeyDefinition } from "../context/store.js";
import { applyContextSection, type ContextChange } from "../context/config.js";
import { Lifecycle, type PluginState } from "./lifecycle.js";
import { checkLogger, createLogger, type Logger } from "./logger.js";
import { checkConfigSchema, loadManifest, MANIFEST_FILES, type Manifest } from "../plugin/manifest.js";
import { emptyMetrics, type PluginMetrics } from "./metrics.js";
import { effectiveCapabilities } from "../plugin/capabilities.js";
import { defaultCacheDir } from "./cache-dir.js";
import { checkProtectedGrants, protectedPaths } from "../plugin/protected-paths.js";
import { isPackagePath, materializePackage } from "../package/load.js";
import { PluginConfigs, type ConfigHostOptions, type ConfigRefusal, type ConfigTarget, type ConfigUpdate, type PluginConfigView } from "../config/live.js";
import type { ResolvedConfig } from "../config/resolve.js";
import { redactingHostCalls } from "../config/redact-host.js";
import { watchHostConfigFile, type ConfigFileWatch, type WatchConfigOptions } from "../config/watch.js";
import { checkApiVersion, resolveLoadOrder, type ConflictChoice, type DependencyConflict } from "../plugin/resolve.js";
import { fallbackOf, retriesCall, withInitRetries } from "./recovery.js";
import { LazyPlugins, type ActivationRecord } from "./activation.js";
import { checkLoadDependencies, Dependencies, dependentsOf, rejectingPlugins, reloadConflict, type DependencyOptions, type LoadAllOptions, type UnloadOptions } from "./dependencies.js";
import { compileTrustList, verifySignature, type SignaturePolicy, type TrustList } from "../plugin/signatures.js";
import { checkTrustLevel, requestedCapabilities } from "../trust/levels.js";
import { readEntry, verifyIntegrity } from "../plugin/verify.js";
import { HOST_WIT_VERSION } from "../contract/version.js";
import type { EventPolicy } from "../plugin/capabilities.js";
import {
  checkNativeDeadline,
  effectiveLimits,
  eventPolicy,
  grantsFor,
  nativeTrust,
  pluginRecovery,
  recoveryPolicy,
  backoffDelay,
  isolationFor,
  type Grants,
  type RecoveryPolicy,
  type TrustedNative,
} from "./policy.js";
import { DEFAULT_UNMOUNT_BEHAVIOR, ViolationTracker, type UnmountBehavior, type Violation, type ViolationRecord } from "./violations.js";
import { RegistryMetrics, type LatencySummary, type MetricsOptions, type PluginProbe, type PluginSnapshot } from "../observability/metrics.js";
import { HealthTracker, type HealthOptions, type PluginHealth } from "../observability/health.js";
import { LogStore, type ErrorReport, type LogQuery, type LogRecord, type LogStoreOptions, type LogWatch, type LogWatchFilter } from "../observability/log-store.js";
import { PluginMetricsStore, withPluginMetrics, type PluginMetricLimits } from "../observability/plugin-metrics.js";
import type { Registry as PromRegistry } from "prom-client";
import { HookChains, type DirectRun, type HostHookFn, type HostHookOptions, type ObserverFailure, type ObserverStats, type StepOptions } from "../hooks/chain.js";
import { declaredHookPolicies, resolveHookClamps, type HookClamps } from "../hooks/policy.js";
import { newHookSink, type HookSink, type SinkHookCall } from "../hooks/sink.js";
import { defaultDataDir, HostState, openHostStateBackend, type PluginStateHandle, type StateOptions } from "../state/host-state.js";
import { stateQuota } from "../state/store.js";
import type { HookDeclaration } from "../plugin/manifest.js";
import { InterfaceProviders, type InterfaceCallStats, type ProvideOptions } from "../interfaces/provider.js";
import { bindPluginInterfaces, findExport, NO_INTERFACES, orderForWiring, type ExportTarget, type PluginInterfaces, type WiringHost } from "../interfaces/wiring.js";
import type { InterfaceFunction, InterfaceImplementation, WitPackage } from "../interfaces/types.js";

// Limits, grants, trust, events policy and recovery are computed in policy.ts (defaults: docs/fuel-and-memory.md).
export { DEFAULT_LIMITS, DEFAULT_RECOVERY, type RecoveryPolicy } from "./policy.js";

/** How many plugins ahead `loadAll` reads entry files. */
const READ_AHEAD = 8;

/** setTimeout's largest delay; longer limits are as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Options of `new PluginRegistry(options)`. Everything is optional; the
 * defaults bound every plugin (`DEFAULT_LIMITS`) and grant nothing.
 * `registryOptionsFrom(await loadHostConfig(dir))` builds them from a host config file.
 */
export interface RegistryOptions extends ConfigHostOptions {
  /** Engine for components that do not name one: `v8` (default) or `wasmtime`. */
  engine?: "v8" | "wasmtime";
  /** Where v8 plugins run when their manifest does not say: in the host's thread or in a worker (unset: the policy decides, see `requireDeadlines`). */
  isolation?: Isolation;
  /** Capabilities the host grants: to every plugin, or per plugin name (`"*"` applies to all). */
  grants?: Grants;
  /**
   * Limits applied where a manifest requests none, field by field over
   * `DEFAULT_LIMITS`. `"unlimited"` drops the built-in defaults (nothing is
   * bounded unless the manifest or `maxLimits` says so).
   */
  defaultLimits?: Limits | "unlimited";
  /**
   * Caps on what a manifest may request. A field left out caps at the default
   * (`defaultLimits`, else `DEFAULT_LIMITS`), so a manifest cannot raise a limit
   * the host did not allow it to raise.
   */
  maxLimits?: Limits;
  /** Per-plugin config overrides, merged over the manifest's defaults. */
  config?: Record<string, Record<string, unknown>>;
  /** Violations after which a plugin is unloaded (default 10). */
  violationThreshold?: number;
  /** Whether to unload at the threshold and log each violation (default: both). */
  unmountBehavior?: UnmountBehavior;
  /** Over `DEFAULT_RECOVERY`; an unknown strategy or backoff is `PolicyInvalid`. */
  recovery?: Partial<RecoveryPolicy>;
  /**
   * Native plugins allowed to run inside the host process (`trust = "trusted"`), by name or predicate. Default: none;
   * a manifest that asks without approval is refused (`TrustNotApproved`).
   */
  trustedNative?: TrustedNative;
  /**
   * The sandbox of untrusted native plugins (docs/native-plugins.md): its seccomp profile (`seccompProfile`:
   * "basic", "strict" or the host's own deny list), cgroup ("auto", a delegated directory, or false for rlimits
   * alone), rlimits and helper knobs. Default: the native engine's defaults.
   */
  nativeSandbox?: SandboxOptions;
  /** "open" (default): any plugin may subscribe to and publish any event; "strict": only under covering events:* capabilities. */
  events?: EventPolicy;
  /**
   * Enforce every plugin's deadline: v8 plugins run in a worker (an explicit `isolation: "in-process"` is then refused),
   * and a trusted native plugin, which runs in the host's thread, is refused. Without it, in-process v8 plugins are
   * bounded by fuel, and only a manifest's own `deadline-ms` moves one to a worker (or refuses a trusted native one).
   */
  requireDeadlines?: boolean;
  /** Directories `discoverPluginDirs()` scans for plugins (the host config's `pluginDirs`). */
  pluginDirs?: readonly string[];
  /** Level of the default logger (ignored when `logger` is given). */
  logLevel?: string;
  /**
   * On-disk cache for compiled artifacts; safe to delete. Default: `$XDG_CACHE_HOME/plughost` (else
   * `~/.cache/plughost`). It must be private to this user (created 0700; otherwise `CacheUnsafe`), and no
   * plugin may be granted a directory that contains it or lies inside it. `false` disables it.
   */
  cacheDir?: string | false;
  /** A pino logger to use instead of the default one; each plugin logs through a child with `plugin` bound. */
  logger?: Logger;
  /** Bounds on the host calls, over `DEFAULT_HOST_CALL_OPTIONS`. */
  hostCalls?: Partial<HostCallOptions>;
  /** Ed25519 trust list and policy; without it, plugin.sig files are not checked (docs/signatures.md). */
  signatures?: SignaturePolicy;
  /**
   * A directory (it must exist) where a wasmtime plugin's trap writes a Wasm core dump
   * (`<plugin>-<unix ms>-<n>.coredump`, mode 0600), named by the trap's `PluginTrap.coreDump`. Traps only, not
   * fuel or deadline stops; the v8 engine makes none (docs/observability.md, "Core dumps"). Default: none.
   */
  coreDumpDir?: string;
  /**
   * Per-call metrics: calls counted per event and their durations sampled (every call below one per millisecond,
   * one in `latencySampleEvery` above), for `plughost_plugin_calls_total{event}`, the duration histogram and
   * `latency()`. Default: off, so the call path costs what it costs without observability; `true` turns them on
   * with `DEFAULT_METRICS_OPTIONS` (`plughost serve` does). Every other metric of `metricsText()`, health and the
   * log store work either way (docs/observability.md).
   */
  metrics?: boolean | MetricsOptions;
  /** Thresholds of the health rule, over `DEFAULT_HEALTH_OPTIONS` (docs/observability.md, "Health"). */
  health?: HealthOptions;
  /** How many log lines and error reports are kept per plugin, over `DEFAULT_LOG_STORE_OPTIONS`. */
  logStore?: LogStoreOptions;
  /** Bounds on the metrics plugins define themselves (capability `metrics`), over `DEFAULT_PLUGIN_METRIC_LIMITS`. */
  pluginMetrics?: Partial<PluginMetricLimits>;
  /**
   * Carries plugin messages to other plughost processes (docs/messaging.md, "Across hosts"), e.g. a `NatsTransport`:
   * `emit` also goes out, `send` and `request` to a name not loaded here go through it, and what other hosts send
   * comes in, checked as local messages are. Default: none (messages stay in this process). `close()` stops it.
   */
  transport?: Transport;
  /** This host's identity on the transport. Default: host name, process id and a random part. */
  hostId?: string;
  /** How `loadAll` and `reload` settle dependency versions, and who chooses under "manual" (docs/lifecycle.md). */
  dependencies?: DependencyOptions;
  /** Clamps on hook policies (timeout, retries, default on-error, events that may not fail open), over `DEFAULT_HOOK_CLAMPS` (docs/hooks.md). */
  hooks?: HookClamps;
  /** App-defined context keys, each with its JSON Schema and first value (docs/context.md; the host config's `context`). */
  context?: Readonly<Record<string, ContextKeyDefinition>>;
  /**
   * The host's environment, e.g. "production" (the host config's `environment`): plugins read it as the context key
   * `environment`, and it selects manifests' `[config.env.<environment>]` sections (docs/config.md). Default: none.
   */
  environment?: string;
  /**
   * Where the host keeps plugins' persistent state (`<dataDir>/state.db` for the SQLite backend). Default:
   * `$XDG_DATA_HOME/plughost`, else `~/.local/share/plughost`. No plugin may be granted a directory that contains
   * it or lies inside it (docs/state.md).
   */
  dataDir?: string;
  /** The state backend ("sqlite", the default, or "redis" with `url`) and periodic hand-off snapshots (docs/state.md). */
  state?: StateOptions;
}

/** What the registry knows of one plugin, loaded or only discovered (`info`, `list`, `discover`). */
export interface PluginInfo {
  /** The plugin's name. */
  name: string;
  /** Its version. */
  version: string;
  /** The manifest's description. */
  description: string | undefined;
  /** Wasm component or native library. */
  kind: Manifest["kind"];
  /** The engine that runs (or will run) it. */
  engine: EngineName;
  /** Its lifecycle state. */
  state: PluginState;
  /** Absolute path of its manifest. */
  manifestPath: string;
  /** Absolute path of its entry file. */
  entryPath: string;
  /** The effective capabilities: declared ∩ granted (empty until loaded). */
  capabilities: readonly string[];
  /** Its dependencies, by name and semver range. */
  dependencies: readonly { name: string; range: string }[];
  /** Event names it registered callbacks for. */
  callbacks: readonly string[];
  /** Violations recorded since it was loaded (or last reset). */
  violations: number;
  /** The limits the plugin runs with (after defaults and caps; seed 002's get_resource_limits). Empty until loaded. */
  limits: Readonly<Limits>;
  /** The capabilities the host grants this plugin (the effective set is `capabilities`). */
  grants: readonly string[];
  /** "trusted" only for a native plugin the host approved to run in process. */
  trust: TrustLevel;
  /** Where a component runs (v8: in-process or worker); undefined for native plugins and until loaded. */
  isolation: Isolation | undefined;
  /** Why it is disabled (`disable`, or recovery after faults), while it is. */
  disabledReason?: string;
}

/** One subscriber's outcome in `dispatch`: its status, or the error that failed its call. */
export interface DispatchResult {
  /** The plugin called. */
  plugin: string;
  /** The callback's status (0 = success), when it ran. */
  status?: number;
  /** Why it could not be called or failed (`PluginNotRunning`, an `InstanceFault`, `InterceptorFailed`, …). */
  error?: PlughostError;
}

/** The outcome of `runHook`: the data after the last hook that ran, and who stopped the chain. */
export interface HookChainResult {
  /** True when every hook returned ok. */
  ok: boolean;
  /** The data as the last hook that ran returned it (the input when none did). */
  data: Uint8Array;
  /** The status of the hook that stopped the chain. */
  status?: number;
  /** The plugin whose hook stopped the chain. */
  stoppedBy?: string;
  /** Hooks that failed with an error (a host hook's name in `plugin`); with on-error "fail" the last one stopped the chain. */
  errors: { plugin: string; error: PlughostError }[];
  /** The error of the hook that stopped the chain (its on-error is "fail"). */
  error?: PlughostError;
  /** The chain's id, unique and increasing within this host (a host hook's `ctx.executionId`). */
  executionId: number;
  /** When the chain began (`Date.now()` ms). */
  startedAt: number;
}

/**
 * @internal Watches each `dispatch` and `runHook` as a whole (tracing sets `registry._chains`): the interceptors see
 * only its steps. `begin` runs when one starts; each step is issued inside `step` (so its interceptors, until their
 * first await, run inside it) and `end` hears the results. Unset, it costs a field read per dispatch or chain.
 */
export interface ChainWatcher {
  begin(kind: "dispatch" | "runHook", event: string, hostContext: unknown): ChainWatch;
}

/** @internal One watched dispatch or hook chain (see `ChainWatcher`). */
export interface ChainWatch {
  step<T>(issue: () => T): T;
  end(result: HookChainResult | readonly DispatchResult[]): void;
}

const MAX_PENDING_MESSAGES = 1024;

/** The plugin record, as the message router (src/messaging/router.ts) sees it. */
export type { Entry };

/** One plugin tracked by the registry. */
class Entry {
  readonly manifest: Manifest;
  /** `manifest.name`, kept here: read on every call. */
  readonly name: string;
  readonly lifecycle: Lifecycle;
  readonly callbacks = new CallbackSet();
  readonly metrics: PluginMetrics = emptyMetrics();
  readonly violations: ViolationTracker;
  instance: EngineInstance | undefined;
  engine: EngineName;
  capabilities: readonly string[] = [];
  config: Record<string, unknown> = {};
  /** `config` with its provenance and secrets (src/config/); set when prepared, replaced by a live update. */
  resolvedConfig: ResolvedConfig | undefined;
  limits: Limits = {};
  grants: readonly string[] = [];
  trust: TrustLevel = "untrusted";
  isolation: Isolation | undefined;
  /** The entry's bytes as verified: every instantiation (restarts too) uses these, not the file again. */
  entryBytes: Uint8Array | undefined;
  logger: Logger;
  /** Serializes calls for engines without a synchronous path. */
  queue: Promise<unknown> = Promise.resolve();
  /** Calls issued through `queue` that have not finished: a synchronous call may only run when none is. */
  pending = 0;
  /** Set while the instance is being re-created after a fault; calls (and dispatches) wait for it. */
  restarting: Promise<void> | undefined;
  /** Restarts since the last call that succeeded: `recovery.maxRetries` bounds consecutive faults, not a lifetime's. */
  restartCount = 0;
  /**
   * Set when a reload swapped another entry in for this one: a dispatch that began before the swap calls
   * `replacedBy.entry` instead. The box is shared by every entry the plugin's reloads retired and always holds the
   * newest, so a retired entry (a handle kept from before) keeps only that one alive, not each one between.
   */
  replacedBy: { entry: Entry } | undefined;
  /** The box this entry's retired predecessors point at (holds this entry while it is the newest). */
  successors: { entry: Entry } | undefined;
  /** Set while the plugin is being torn down: a second unload (e.g. one more violation past the threshold) joins it. */
  stopping: Promise<void> | undefined;
  pendingMessages = 0;
  /** Bytes of messages this plugin queued that are not delivered yet (counted once per emit, however many receive it). */
  pendingBytesOut = 0;
  /** Bytes of messages queued for this plugin that are not delivered yet. */
  pendingBytesIn = 0;
  /** The message chain of the call running now, for engines whose host calls arrive after the call was issued. */
  callDelivery: Delivery | undefined;
  /**
   * The message chains of the calls in flight on an `ordered` instance. An engine that answers host calls
   * without saying which call they belong to (the native sandbox) gets the deepest: a loop can only look longer.
   */
  inFlight: Delivery[] = [];
  /** A reload's new instance before the swap, or the old one after: no `state` events, no subscriptions. */
  quiet = false;
  /** Counts and times its calls when per-call metrics are on (shared by the entries of one plugin name). */
  probe: PluginProbe | undefined;
  /** Its recovery policy: the host's, overridden by the manifest's `[recovery]` (set when prepared). */
  recovery: RecoveryPolicy | undefined;
  /** Strategy "fallback": the plugin that takes its calls while it is restarting or disabled. */
  standIn: string | undefined;
  /** Why it is disabled (`disable`, or faults past the recovery policy), while it is. */
  disabled: string | undefined;
  /** A hook chain's direct path handed a faulted call to its ordinary path to re-issue (strategy "retry"). */
  retryHanded = false;
  /** Its app-defined interfaces: imports bound, typed exports (interfaces/wiring.ts); set when prepared. */
  ifaces: PluginInterfaces = NO_INTERFACES;
  /** The manifest's hook entries that declare a policy, by event (undefined: none; the hook chain's fast path reads it). */
  readonly hookPolicies: ReadonlyMap<string, HookDeclaration> | undefined;
  /**
   * The envelope of the plugin's `invokeSync` / `hookSync` calls, reused: the fast path writes the event into it
   * instead of allocating one per call (its id is taken only when someone asks, messaging/envelope.ts).
   */
  readonly syncEnvelope: Envelope;
  /** The delivery of those calls, carrying `syncEnvelope`. */
  readonly syncDelivery: Delivery;

  constructor(manifest: Manifest, engine: EngineName, logger: Logger, tracker: ViolationTracker, onState: (from: PluginState, to: PluginState) => void) {
    this.manifest = manifest;
    this.name = manifest.name;
    this.hookPolicies = declaredHookPolicies(manifest);
    this.engine = engine;
    this.logger = logger;
    this.violations = tracker;
    this.syncEnvelope = envelope("", "event", EMPTY, this.name, undefined, undefined, undefined);
    this.syncDelivery = { hop: 0, chain: undefined, envelope: this.syncEnvelope };
    this.lifecycle = new Lifecycle(manifest.name, (from, to) => {
      this.active = to === "active";
      this.suspended = to === "suspended";
      onState(from, to);
    });
  }

  /** `state === "active"`, kept as a field: the dispatch fast path reads it for every plugin. */
  active = false;
  /** `state === "suspended"`, kept as a field: each dispatch reads it for every subscriber (see `#callees`). */
  suspended = false;

  get state(): PluginState {
    return this.lifecycle.state;
  }
}

/** A handle on one plugin: seed 000's PluginInstance view plus calls. */
export class PluginHandle {
  readonly #registry: PluginRegistry;
  readonly #entry: Entry;

  /** @internal */
  constructor(registry: PluginRegistry, entry: Entry) {
    this.#registry = registry;
    this.#entry = entry;
  }

  /** The plugin's name. */
  get name(): string {
    return this.#entry.name;
  }
  /** Its version. */
  get version(): string {
    return this.#entry.manifest.version;
  }
  /** Its lifecycle state now. */
  get state(): PluginState {
    return this.#entry.state;
  }
  /** Event names the plugin registered with `register-callback`. */
  get callbacks(): readonly string[] {
    return [...this.#entry.callbacks];
  }
  /** Its validated manifest. */
  get manifest(): Manifest {
    return this.#entry.manifest;
  }
  /** Its counters now (a copy). */
  get metrics(): Readonly<PluginMetrics> {
    return liveMetrics(this.#entry);
  }

  /** `registry.invoke(name, event, data, options)` for this plugin; rejects as that does. */
  invoke(event: string, data: Uint8Array = EMPTY, options?: CallOptions): Promise<number> {
    return this.#registry.invoke(this.#entry.name, event, data, options);
  }

  /** `registry.hook(name, event, data, options)` for this plugin; rejects as that does. */
  hook(event: string, data: Uint8Array = EMPTY, options?: CallOptions): Promise<HookOutcome> {
    return this.#registry.hook(this.#entry.name, event, data, options);
  }

  /**
   * Synchronous fast path for in-process plugins. Throws `PluginNotRunning`
   * when the plugin is not active or its engine has no synchronous path.
   * With interceptors registered (`registry.use`), they run until their first
   * `await` and must call `next()` by then, or the call fails with
   * `InterceptorFailed` (docs/pipeline.md); no interceptor, no extra cost.
   *
   * @throws {@link PluginNotRunning} when the plugin is not active or has no synchronous path.
   * @throws {@link InvocationFailed} when it has not registered a callback for `event`.
   * @throws {@link InstanceFault} when the guest traps or runs out of fuel (the instance is then discarded and recovered).
   * @throws {@link InterceptorFailed} when an interceptor throws or does not call `next()` before its first `await`.
   */
  invokeSync(event: string, data: Uint8Array = EMPTY): number {
    const entry = this.#entry;
    const instance = entry.instance;
    if (entry.state !== "active" || !instance?.onEventSync || entry.restarting) throw notRunning(entry);
    if (!entry.callbacks.has(event)) throw notRegistered(entry, event);
    entry.metrics.calls++;
    const registry = this.#registry;
    if (registry._observed) return registry._observedSync(entry, instance, event, "invoke", data, eventSync);
    const env = entry.syncEnvelope;
    env.id = 0;
    env.event = event;
    env.kind = "event";
    env.data = data;
    env.metadata = NO_METADATA; // hookSync may have left a call's metadata in the shared envelope
    const previous = enterDelivery(entry.syncDelivery);
    try {
      const status = instance.onEventSync(event, data);
      entry.restartCount = 0;
      return status;
    } catch (err) {
      throw registry._callFailed(entry, instance, err, event);
    } finally {
      restoreDelivery(previous);
    }
  }

  /**
   * Synchronous `hook` for in-process plugins; the same rules and errors as `invokeSync`. `options` gives the call's
   * message metadata and per-call context keys, as `hook`'s do.
   * @throws {@link PluginNotRunning} when the plugin is not active or has no synchronous path.
   * @throws {@link InvocationFailed} when it has not registered a callback for `event`.
   * @throws {@link InstanceFault} when the guest faults.
   * @throws {@link InterceptorFailed} when an interceptor fails the call.
   */
  hookSync(event: string, data: Uint8Array = EMPTY, options?: SyncCallOptions): HookOutcome {
    const entry = this.#entry;
    const instance = entry.instance;
    if (entry.state !== "active" || !instance?.onHookSync || entry.restarting) throw notRunning(entry);
    if (!entry.callbacks.has(event)) throw notRegistered(entry, event);
    entry.metrics.calls++;
    const registry = this.#registry;
    const metadata = options === undefined ? undefined : syncMetadata(options);
    if (registry._observed) return registry._observedSync(entry, instance, event, "hook", data, hookSync, metadata);
    const env = entry.syncEnvelope;
    env.id = 0;
    env.event = event;
    env.kind = "hook";
    env.data = data;
    env.metadata = metadata ?? NO_METADATA;
    const previous = enterDelivery(entry.syncDelivery);
    try {
      const outcome = instance.onHookSync(event, data);
      entry.restartCount = 0;
      return outcome;
    } catch (err) {
      throw registry._callFailed(entry, instance, err, event);
    } finally {
      restoreDelivery(previous);
    }
  }

  /**
   * Call a typed export of the plugin (docs/host-interfaces.md): `iface` versioned or not (`"acme:app/mirror"`),
   * `fn` the function's camelCase or WIT name (`"echoItem"` / `"echo-item"`), `args` JS values as types.ts describes.
   * Runs as any call does (serialized, limits, interceptors, faults recorded and the instance restarted).
   * @throws {@link InterfaceUnavailable} "missing" (not exported, or its types unknown) or "unknown-function".
   * @throws {@link InterfaceValueError} when an argument does not fit its type (the instance is fine).
   * @throws {@link InstanceFault} when the guest faults (an `AbiViolation` for a bad result); as `invoke` otherwise.
   * @example
   *   const total = await registry.get("c-cart").call("acme:app/checkout", "total", [{ id: 1n, name: "a", tags: [], weight: 1 }]);
   */
  call(iface: string, fn: string, ...args: unknown[]): Promise<unknown> {
    return this.#registry._callTyped(this.#entry.name, iface, fn, args);
  }

  /**
   * Synchronous `call` for engines with a synchronous path (in-process v8; wasmtime on the JS thread when idle).
   * @throws {@link PluginNotRunning} when the plugin is not active or has no synchronous path; otherwise as `call`.
   */
  callSync(iface: string, fn: string, ...args: unknown[]): unknown {
    const entry = this.#entry;
    const instance = entry.instance;
    if (entry.state !== "active" || !instance?.callExportSync || entry.restarting) throw notRunning(entry);
    // The last function called through this handle, kept: a loop calling one function looks nothing up.
    let t = this.#lastTarget;
    if (t === undefined || iface !== this.#lastIface || fn !== this.#lastFn || entry.ifaces !== this.#lastIfaces) {
      t = findExport(entry.name, entry.ifaces, iface, fn);
      this.#lastIface = iface;
      this.#lastFn = fn;
      this.#lastIfaces = entry.ifaces;
      this.#lastTarget = t;
    }
    return this.#registry._exportSync(entry, instance, t.id, t.fn, t.label, args);
  }

  #lastIface = "";
  #lastFn = "";
  #lastIfaces: PluginInterfaces | undefined;
  #lastTarget: ExportTarget | undefined;
}

const EMPTY = new Uint8Array(0);

/** Options of `hookSync`: the call's metadata and per-call context keys (as `CallOptions`). */
export type SyncCallOptions = Pick<CallOptions, "metadata" | "context">;

/** The frozen metadata of a sync call's envelope, or undefined when it has none. */
function syncMetadata(options: SyncCallOptions): Readonly<Record<string, string>> | undefined {
  const c = options.context;
  if (c !== undefined && options.metadata === undefined) {
    // Context keys only (serve's endpoints give each request's id so): the frozen metadata is built in one step, not
    // through withContextMetadata's copies of the options and mergeMetadata's copy of its result; the same keys.
    const out: Record<string, string> = {};
    if (typeof c.requestId === "string") out["request-id"] = c.requestId;
    if (typeof c.userId === "string") out["user-id"] = c.userId;
    if (typeof c.sessionId === "string") out["session-id"] = c.sessionId;
    return out["request-id"] === undefined && out["user-id"] === undefined && out["session-id"] === undefined ? NO_METADATA : Object.freeze(out);
  }
  const m = withContextMetadata(options)?.metadata;
  return m === undefined ? undefined : mergeMetadata(undefined, m);
}

// The engine calls of the observed sync paths, as functions of their arguments: no closure per call.
const eventSync = (i: EngineInstance, event: string, data: Uint8Array): number => i.onEventSync!(event, data);
const hookSync = (i: EngineInstance, event: string, data: Uint8Array): HookOutcome => i.onHookSync!(event, data);

/** The entry's metrics with the live instance's fuel figures (discarded instances' fuel is banked). */
function liveMetrics(entry: Entry): PluginMetrics {
  const lastCallFuel = entry.instance?.lastCallFuel?.();
  const fuelUsed = entry.metrics.fuelUsed + (entry.instance?.lifetimeFuel?.() ?? 0);
  return { ...entry.metrics, fuelUsed, ...(lastCallFuel !== undefined ? { lastCallFuel } : {}) };
}

/** The instance's linear memory in bytes, when its engine tells, else undefined. */
function memoryOf(instance: EngineInstance | undefined): number | undefined {
  return instance?.memoryBytes?.();
}

/** Keep a departing instance's fuel figures in the entry's metrics, which outlive it. */
function bankFuel(entry: Entry): void {
  const instance = entry.instance;
  if (!instance) return;
  entry.metrics.fuelUsed += instance.lifetimeFuel?.() ?? 0;
  entry.metrics.lastCallFuel = instance.lastCallFuel?.() ?? entry.metrics.lastCallFuel;
}

function logCleanupFailure(entry: Entry, err: unknown): void {
  entry.logger.error({ err }, `releasing the instance failed: ${(err as Error)?.message ?? String(err)}`);
}

/** The entry calls for `entry`'s plugin go to now: a reload's replacement, or `entry` itself. */
function latest(entry: Entry): Entry {
  return entry.replacedBy?.entry ?? entry;
}

/** Violation kinds an engine reports only when it stopped the instance (the same kinds a fault is recorded as). */
const FAULT_KINDS: ReadonlySet<ViolationKind> = new Set(["fuel", "deadline", "crash", "trap"]);

function notRunning(entry: Entry): PluginNotRunning {
  const state = entry.restarting ? "restarting" : entry.disabled !== undefined ? `disabled (${entry.disabled}); enable() it` : entry.state;
  return new PluginNotRunning(state, { plugin: entry.name });
}

function notRegistered(entry: Entry, event: string): InvocationFailed {
  return new InvocationFailed(event, -1, `the plugin has not registered a callback for "${event}"`, { plugin: entry.name });
}

/**
 * The registry's events and their payloads (`registry.on(name, listener)`).
 *
 * @example
 *   registry.on("violation", (v) => console.warn(v.plugin, v.kind, v.detail, v.count));
 *   registry.on("unmounted", (e) => console.error(e.error.message));
 */
export interface RegistryEvents {
  /** A plugin changed lifecycle state. */
  state: [{ plugin: string; from: PluginState; to: PluginState }];
  /** A plugin broke a rule (a limit, a denied capability, a fault); see `Violation`. */
  violation: [Violation];
  /** A plugin reached its violation threshold and was unloaded. */
  unmounted: [{ plugin: string; violations: number; error: PluginUnmounted }];
  /** A plugin's instance was re-created after a fault. */
  restarted: [{ plugin: string; restarts: number }];
  /** A plugin's instance faulted (trap, fuel, deadline, crash); the recovery policy decides what follows. */
  fault: [{ plugin: string; error: InstanceFault }];
  /** A plugin was reloaded from version `from` to `to`. */
  reloaded: [{ plugin: string; from: string; to: string }];
  /** The transport (registry option `transport`) failed where no caller hears it: connecting, a lost connection, a publish, a bad message. */
  transportError: [PlughostError];
  /** A lazy plugin was compiled and initialised on its first event (or a call addressed to it). */
  activated: [ActivationRecord];
  /** A plugin was disabled: by `disable`, or by its recovery policy after faults. */
  disabled: [{ plugin: string; reason: string }];
  /** A disabled plugin was enabled again (`enable`). */
  enabled: [{ plugin: string }];
  /** Under the "manual" dependency strategy: conflicts wait for `resolveConflict` (docs/lifecycle.md). */
  conflict: [{ conflicts: readonly DependencyConflict[] }];
  /** An observer (an async hook) of a hook chain failed; `hookObservers()` counts them (docs/hooks.md). */
  "observer-failed": [ObserverFailure];
  /** A plugin's configuration changed (`setConfig`, a watched host config file), and how it reached the plugin (docs/config.md). */
  "config-changed": [ConfigUpdate];
  /** A configuration update was refused (invalid, or its reload failed); the old configuration stays. */
  "config-refused": [ConfigRefusal];
  /** A watched host config file's `context` section set a new value of a key, or defined a new key (docs/context.md). */
  "context-changed": [ContextChange];
}

/**
 * The plugin registry: loads plugins of every form (Wasm components on v8 or
 * wasmtime, native libraries) through one pipeline (manifest → verify →
 * resolve → compile → instantiate → init), calls them, enforces limits and
 * capabilities, records violations and recovers from faults. Its events are
 * `RegistryEvents`.
 *
 * The constructor throws `PolicyInvalid` for an unknown `recovery` or
 * `events` value and `VerificationError` for an invalid `signatures` trust list.
 *
 * @example
 *   const registry = new PluginRegistry({ grants: ["stdio"], defaultLimits: { fuel: 10_000_000 } });
 *   registry.on("violation", (v) => console.warn(v.plugin, v.kind, v.detail));
 *   const hello = await registry.load("examples/c/hello");
 *   await registry.dispatch("greet", new TextEncoder().encode("world"));
 *   await registry.unloadAll();
 */
export class PluginRegistry extends EventEmitter<RegistryEvents> {
  readonly #options: RegistryOptions;
  /** The native engine made with `nativeSandbox` (only when it is given). */
  #nativeEngine: Promise<Engine> | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #subscribers = new Map<string, Entry[]>();
  readonly #logger: Logger;
  readonly #hostCallOptions: HostCallOptions;
  readonly #calls = new CallPipeline();
  /** Hook chains: the host's hooks, policies, observers (src/hooks/chain.ts). */
  readonly #chains: HookChains<Entry>;
  readonly #recovery: RecoveryPolicy;
  readonly #events: EventPolicy;
  readonly #cacheDir: string | undefined;
  readonly #coreDumpDir: string | undefined;
  readonly #trust: TrustList | undefined;
  readonly #reloads = new Map<string, Promise<PluginHandle>>();
  /** Per instance: whether its engine reported stopping it (see #instantiate). */
  readonly #stopReported = new WeakMap<EngineInstance, { reported: boolean }>();
  readonly #metrics: RegistryMetrics;
  readonly #health: HealthTracker;
  readonly #logStore: LogStore;
  readonly #pluginMetrics: PluginMetricsStore;
  readonly #deps: Dependencies;
  /** Plugins discovered with `activation` entries, waiting for their first event (docs/lifecycle.md). */
  readonly #lazy = new LazyPlugins();
  /** The host's configuration inputs per plugin and live updates (src/config/live.ts). */
  readonly #configs: PluginConfigs;
  readonly #configWatches = new Set<ConfigFileWatch>();
  /** The context store (src/context/store.ts). */
  readonly #context: ContextStore;
  /** Each context key's value as the host config (options, then a watched file) last gave it. */
  readonly #contextFromFile = new Map<string, unknown>();
  /** Persistent state and the hand-off (src/state/host-state.ts); the backend opens on first need. */
  readonly #state: HostState;
  /** App-defined interfaces: the host's WIT packages and implementations (src/interfaces/provider.ts). */
  readonly #ifaces = new InterfaceProviders();
  /** The manifests of the `loadAll` batch loading now, for wiring cycles among them. */
  readonly #wiringBatch = new Map<string, Manifest>();
  #snapshotTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: RegistryOptions = {}) {
    super();
    this.#options = options;
    this.#logger = options.logger !== undefined ? checkLogger(options.logger) : createLogger(options.logLevel);
    this.#hostCallOptions = { ...DEFAULT_HOST_CALL_OPTIONS, ...options.hostCalls };
    this.#router = new MessageRouter(this.#routerHost());
    this.#recovery = recoveryPolicy(options.recovery);
    this.#events = eventPolicy(options.events);
    this.#chains = new HookChains<Entry>(this.#chainHost(), resolveHookClamps(options.hooks));
    this.#cacheDir = options.cacheDir === false ? undefined : path.resolve(options.cacheDir ?? defaultCacheDir());
    this.#coreDumpDir = options.coreDumpDir === undefined ? undefined : path.resolve(options.coreDumpDir);
    this.#trust = options.signatures ? compileTrustList(options.signatures) : undefined;
    this.#deps = new Dependencies(options.dependencies, (conflicts) => this.emit("conflict", { conflicts }));
    const m = options.metrics ?? false;
    this.#metrics = new RegistryMetrics({ snapshots: () => this.#snapshots() }, m !== false, typeof m === "object" ? m : {});
    this._observed = this.#metrics.perCall;
    this.#health = new HealthTracker(options.health);
    this.#logStore = new LogStore(options.logStore);
    this.#pluginMetrics = new PluginMetricsStore(this.#metrics.registry, options.pluginMetrics);
    this.#configs = new PluginConfigs(options);
    this.#state = new HostState(options.dataDir ?? defaultDataDir(), options.state ?? {}, this.#logger, openHostStateBackend);
    const dataDir = this.#state.dataDir;
    this.#context = new ContextStore({
      pluginDataDir: (name) => path.join(dataDir, "plugins", name),
      ...(options.environment !== undefined ? { environment: options.environment } : {}),
      ...(options.context ? { keys: options.context } : {}),
    });
    for (const [key, d] of Object.entries(options.context ?? {})) this.#contextFromFile.set(key, structuredClone(d.value));
    this.#state.registerMetrics(this.#metrics.registry);
    this.#ifaces.registerMetrics(this.#metrics.registry);
    const every = options.state?.snapshotEveryMs;
    if (every !== undefined && every > 0) {
      this.#snapshotTimer = setInterval(() => void this.#snapshotAll(), Math.min(every, MAX_TIMER_MS));
      this.#snapshotTimer.unref();
    }
    // Metrics and health listen to the registry's own events, as an application would.
    this.on("violation", (v) => {
      this.#metrics.violation(v.plugin, v.kind);
      this.#health.violation(v.plugin);
    });
    this.on("fault", (f) => {
      this.#health.fault(f.plugin);
      this.#notePlugin(f.plugin);
    });
    this.on("restarted", (r) => this.#health.restart(r.plugin));
    this.on("unmounted", (u) => this.#health.unmounted(u.plugin));
    this.on("state", (s) => {
      if (s.to === "active") this.#health.active(s.plugin);
    });
    this.#router.start(options);
  }

  /** The WIT contract version this host implements. */
  static readonly apiVersion = HOST_WIT_VERSION;

  /**
   * The context store (docs/context.md): define app keys with a schema, set and read values. Plugins read a key
   * with `context-get` when they hold `context:<key>`, and write it with `context-set` when they hold `context:write:<key>`.
   */
  get context(): ContextStore {
    return this.#context;
  }

  // ── app-defined interfaces (docs/host-interfaces.md) ──────────────────

  /**
   * Define WIT packages of the application: their interfaces can then be provided (`provide`), and plugins' typed
   * exports of them called with their types. A package defined again at the same version is replaced.
   * @param witSourceOrPath WIT text, a `.wit` file, or a WIT package directory (with `deps/`).
   * @throws {@link WitError} when it cannot be read, parsed or resolved.
   */
  defineInterfaces(witSourceOrPath: string): WitPackage[] {
    return this.#ifaces.define(witSourceOrPath);
  }

  /**
   * Implement an app interface for plugins that import it (and hold `iface:<ns>:<pkg>/<name>`): `id` versioned, `impl`
   * one function per WIT function keyed by its camelCase name, taking and returning JS values as types.ts describes.
   * Each call runs in the calling plugin's current call (`currentCall()`), through the interceptors, and is counted.
   * Returns a function that removes it (as `unprovide`).
   * @throws {@link InterfaceUnavailable} "missing" (no WIT defines it: `defineInterfaces` or `options.wit`),
   *   "unknown-function" (a function missing or extra), "provided-twice".
   * @example
   *   registry.defineInterfaces("wit/acme-app");
   *   registry.provide("acme:app/calc@1.0.0", { add: (a: number, b: number) => a + b });
   */
  provide<I extends { readonly [K in keyof I]: InterfaceFunction }>(id: string, impl: I, options?: ProvideOptions): () => void {
    // Generic so that an interface type (what `plughost types` declares) is accepted: it has no index signature.
    const p = this.#ifaces.provide(id, impl as InterfaceImplementation, options);
    return () => {
      if (this.#ifaces.provider(p.id) === p) this.#ifaces.unprovide(p.id);
    };
  }

  /**
   * Remove the host's implementation of an interface (versioned or not). Plugins loaded with it get
   * `InterfaceUnavailable` "missing" from each call until it is provided again and they are reloaded; new loads fail.
   * Returns whether there was one.
   */
  unprovide(id: string): boolean {
    return this.#ifaces.unprovide(id);
  }

  /** Calls of app-interface functions by plugin, interface and function (also exported as `plughost_interface_calls_total`). */
  interfaceMetrics(name?: string): InterfaceCallStats[] {
    return this.#ifaces.callStats(name);
  }

  // ── discovery ──────────────────────────────────────────────────────────

  /**
   * Read a plugin's manifest and track it as available, without loading it.
   * @throws {@link ManifestError} when the manifest cannot be read or is invalid.
   */
  async discover(pathOrDir: string): Promise<PluginInfo> {
    const read = await this.#readForDiscovery(pathOrDir);
    if ("error" in read) throw read.error;
    return this.#trackDiscovered(read.manifest);
  }

  /** A manifest read for `discover`, or why it could not be. */
  async #readForDiscovery(pathOrDir: string): Promise<{ manifest: Manifest } | { error: unknown }> {
    try {
      // configSchema "defer": a plugin's config schema is compiled only after its signature is checked (#prepare).
      // A lazy plugin is validated now (its entry must exist, its api-version fit), since nothing loads it until its event.
      const manifest = await loadManifest(pathOrDir, { checkEntry: false, configSchema: "defer" });
      if (manifest.activation) {
        checkEntryFile(manifest);
        checkApiVersion(manifest, HOST_WIT_VERSION);
      }
      return { manifest };
    } catch (error) {
      return { error };
    }
  }

  #trackDiscovered(manifest: Manifest): PluginInfo {
    const existing = this.#entries.get(manifest.name);
    if (existing && existing.state !== "unloaded") return this.#info(existing);
    const entry = this.#track(manifest);
    if (manifest.activation) this.#lazy.add(manifest.name, manifest.activation);
    else this.#lazy.remove(manifest.name);
    return this.#info(entry);
  }

  /** Discovered lazy plugins still waiting for an activation event, by name. */
  listLazy(): string[] {
    return this.list().filter((p) => this.#lazy.waiting(p.name)).map((p) => p.name);
  }

  /**
   * Activate the lazy plugins waiting for `event` (dependencies that are lazy too come first). Never rejects: a
   * failed activation is returned as the dispatch result it stands for.
   */
  async #activateFor(event: string): Promise<DispatchResult[]> {
    const names = this.#lazy.for(event);
    // Side by side: each compiles and initialises on its own (a lazy dependency is activated first by its dependent).
    const errors = await Promise.all(names.map((name) => this.#activateNamed(name, event)));
    const failed: DispatchResult[] = [];
    names.forEach((plugin, i) => {
      const error = errors[i];
      if (error) failed.push({ plugin, error });
    });
    return failed;
  }

  /** Activate one lazy plugin (once, however many callers wait); the error, if it failed. */
  async #activateNamed(name: string, trigger: string): Promise<PlughostError | undefined> {
    const entry = this.#entries.get(name);
    if (!entry || (!this.#lazy.waiting(name) && !this.#lazy.inProgress(name))) return undefined;
    try {
      await this.#lazy.activate(name, async () => {
        for (const dep of entry.manifest.dependencies) if (!dep.optional && this.#lazy.waiting(dep.name)) await this.#activateNamed(dep.name, trigger);
        const started = performance.now();
        await this.loadByName(name);
        const record: ActivationRecord = { plugin: name, trigger, ms: performance.now() - started };
        this.emit("activated", record);
      });
      return undefined;
    } catch (err) {
      const error = asPlughostError(err, name);
      this.#logger.error({ plugin: name, code: error.code }, `lazy activation on "${trigger}" failed: ${error.message}`);
      return error;
    }
  }

  /** Whether a call addressed to `entry` must activate it first. */
  #mustActivate(entry: Entry): boolean {
    return this.#lazy.size !== 0 && !entry.active && entry.state === "unloaded" && (this.#lazy.waiting(entry.name) || this.#lazy.inProgress(entry.name) !== undefined);
  }

  /** Discover the plugins in the `pluginDirs` option's directories (the host config's `pluginDirs`). */
  async discoverPluginDirs(): Promise<PluginInfo[]> {
    for (const dir of this.#options.pluginDirs ?? []) await this.scanDirectory(dir);
    return this.listAvailable();
  }

  /**
   * Discover every plugin under `dir` (manifests up to three levels deep). Returns how many were found.
   * @throws {@link ManifestError} for the first invalid manifest; a directory that cannot be read rejects with Node's fs error.
   */
  async scanDirectory(dir: string): Promise<number> {
    const found: string[] = [];
    const walk = async (d: string, depth: number): Promise<void> => {
      const dirents = await readdir(d, { withFileTypes: true });
      if (dirents.some((e) => (MANIFEST_FILES as readonly string[]).includes(e.name))) {
        found.push(d);
        return;
      }
      if (depth === 0) return;
      for (const e of dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        if (e.name.startsWith(".") || e.name === "node_modules") continue;
        const p = path.join(d, e.name);
        // A link is followed, as a directory it points to counts.
        if (e.isDirectory() || (e.isSymbolicLink() && (await stat(p)).isDirectory())) await walk(p, depth - 1);
      }
    };
    await walk(path.resolve(dir), 3);
    // Manifests are read a few at a time (their file reads overlap), and tracked in the walk's order.
    const read = await mapLimit(found, 8, (d) => this.#readForDiscovery(d));
    for (const r of read) {
      if ("error" in r) throw r.error; // those before it stay discovered, as when read one by one
      this.#trackDiscovered(r.manifest);
    }
    return found.length;
  }

  // ── loading ────────────────────────────────────────────────────────────

  /**
   * Load one plugin from a manifest file, a plugin directory or a package file (`.plughost`: verified against the trust
   * list, extracted into the cache directory's `packages/`, then loaded from there), and initialise it.
   * On failure nothing is left running and the error says which step failed.
   *
   * @throws {@link ManifestError} for a missing or invalid manifest (or config schema).
   * @throws {@link PackageError} / {@link PackageVerificationError} for a package file that is not one or fails verification.
   * @throws {@link PluginAlreadyLoaded} when a plugin of that name is loaded.
   * @throws {@link VerificationError} when the integrity or signature check fails.
   * @throws {@link ApiVersionMismatch} when the plugin needs another API version.
   * @throws {@link ResolutionError} when a required dependency is not loaded or has the wrong version.
   * @throws {@link CapabilityDenied} when a required capability is not granted (or reaches plughost's own files).
   * @throws {@link ConfigError} when the merged config does not satisfy the plugin's schema.
   * @throws {@link TrustNotApproved} / {@link DeadlineUnenforceable} when the policy refuses it.
   * @throws {@link InvalidPluginBinary}, {@link MissingImportError}, {@link EngineUnavailable}, {@link ContextCreationFailed}
   *   when the entry cannot be compiled or instantiated.
   * @throws {@link InitializationFailed} when `init` returns non-zero; an `InstanceFault` (e.g. `DeadlineExceeded`) when it faults.
   * @throws {@link CacheUnsafe} when the compile cache directory is not private to this user.
   */
  async load(pathOrDir: string): Promise<PluginHandle> {
    // A package file (.plughost) is verified and extracted into the cache, then loaded as a directory.
    const dir = isPackagePath(pathOrDir) ? await materializePackage(pathOrDir, this.#cacheDir, this.#trust) : pathOrDir;
    const manifest = await loadManifest(dir, { configSchema: "defer" });
    return this.#load(manifest);
  }

  /**
   * Load a previously discovered plugin by name.
   * @throws {@link PluginNotFound} when no plugin of that name was discovered; otherwise as `load`.
   */
  async loadByName(name: string): Promise<PluginHandle> {
    const entry = this.#entries.get(name);
    if (!entry) throw new PluginNotFound(name);
    return this.#load(await loadManifest(entry.manifest.file, { configSchema: "defer" }));
  }

  /**
   * Load several plugins, dependencies first, their versions settled by the dependency strategy (`strict` by
   * default; `latest` and `manual` may be given several versions of a plugin: docs/lifecycle.md). Stops at the
   * first failure; those loaded stay loaded. Candidates the strategy or the host's choices leave out are not loaded.
   * @throws {@link ResolutionError} for duplicate names (strict), missing dependencies or cycles; otherwise as `load`.
   * @throws {@link DependencyConflictError} when a conflict is left unsettled (see `resolveDependencies`).
   */
  async loadAll(pathsOrDirs: readonly string[], options?: LoadAllOptions): Promise<PluginHandle[]> {
    const dirs = await Promise.all(pathsOrDirs.map((p) => (isPackagePath(p) ? materializePackage(p, this.#cacheDir, this.#trust) : p)));
    const manifests = await Promise.all(dirs.map((p) => loadManifest(p, { configSchema: "defer" })));
    const loaded = [...this.#entries.values()].filter((e) => e.state === "active").map((e) => ({ name: e.name, version: e.manifest.version }));
    const plan = await this.#deps.plan(manifests, loaded, options);
    const handles: PluginHandle[] = [];
    // Exporters before the importers wired to them ([interfaces.from]), within the dependency order.
    const order = orderForWiring(plan.order);
    // Peers of the batch count as present while it loads (a peer may load after the plugin that names it).
    for (const m of order) {
      this.#deps.batch.set(m.name, m.version);
      this.#wiringBatch.set(m.name, m);
    }
    // Entry files are read a few plugins ahead: their reads (seven file-system calls each) overlap the
    // instantiation of the plugins before them. Each is verified when its plugin's turn comes, as a load verifies
    // what it read.
    const reads = new Map<Manifest, Promise<Uint8Array>>();
    const readAhead = (m: Manifest | undefined): void => {
      if (m === undefined || reads.has(m)) return;
      const read = readEntry(m.name, m.entryPath, m.dir);
      read.catch(() => undefined); // a plugin never reached (an earlier one failed) leaves no unhandled rejection
      reads.set(m, read);
    };
    try {
      for (let k = 0; k < order.length; k++) {
        for (let j = k; j < k + READ_AHEAD; j++) readAhead(order[j]);
        const m = order[k]!;
        const bytes = reads.get(m);
        reads.delete(m);
        handles.push(await this.#load(m, bytes));
      }
    } finally {
      for (const m of order) {
        if (this.#deps.batch.get(m.name) === m.version) this.#deps.batch.delete(m.name);
        if (this.#wiringBatch.get(m.name) === m) this.#wiringBatch.delete(m.name);
      }
    }
    return handles;
  }

  /**
   * Answer a dependency conflict that waits under the "manual" strategy (the `conflict` event): use `choice.version`
   * (plugins whose range rejects it are left out unless `choice.force`), or `undefined` to refuse (the load fails
   * with `DependencyConflictError`).
   * @throws {@link ResolutionError} when no conflict on `dependency` is waiting.
   */
  resolveConflict(dependency: string, choice: ConflictChoice | undefined): void {
    this.#deps.resolve(dependency, choice);
  }

  /** The dependency conflicts waiting for `resolveConflict`. */
  pendingConflicts(): DependencyConflict[] {
    return this.#deps.pending();
  }

  /** Load a manifest; `bytes`, when given, is its entry file read ahead (`loadAll`), verified here as if read now. */
  async #load(manifest: Manifest, bytes?: Promise<Uint8Array>): Promise<PluginHandle> {
    const existing = this.#entries.get(manifest.name);
    if (existing && existing.state !== "unloaded") throw new PluginAlreadyLoaded(manifest.name);
    if (this.#router.services.has(manifest.name)) throw new ServiceNameTaken(manifest.name, "a host service has it (registry.addService); remove the service or rename the plugin", { plugin: manifest.name });
    const entry = existing && existing.manifest.file === manifest.file ? this.#retrack(existing, manifest) : this.#track(manifest);
    if (this.#lazy.size !== 0 && !this.#lazy.inProgress(manifest.name)) this.#lazy.remove(manifest.name); // loaded explicitly
    const started = performance.now();
    entry.lifecycle.to("loading");
    try {
      await this.#prepare(entry, bytes);
      await withInitRetries(entry.recovery!, () => this.#start(entry), (err, n) => this.#discardFailedInit(entry, err, n));
    } catch (err) {
      await this.#abandon(entry);
      throw err;
    }
    entry.metrics.loadMs = performance.now() - started;
    this.#metrics.loaded(entry.name, entry.metrics.loadMs);
    this.#notePlugin(entry.name);
    return new PluginHandle(this, entry);
  }

  /** compile + instantiate, then init. */
  async #start(entry: Entry): Promise<void> {
    entry.instance = await this.#instantiate(entry);
    entry.lifecycle.to("loaded");
    await this.#init(entry);
  }

  /** An init that failed and will be tried again (`recovery.initRetries`): nothing of the attempt is kept. */
  async #discardFailedInit(entry: Entry, err: unknown, n: number): Promise<void> {
    entry.logger.warn({ err, attempt: n + 1 }, `init failed (${(err as Error)?.message ?? String(err)}); trying again after the backoff`);
    if (entry.state !== "error") entry.lifecycle.to("error");
    this.#unsubscribeAll(entry);
    entry.callbacks.clear();
    bankFuel(entry);
    await entry.instance?.dispose().catch((e: unknown) => logCleanupFailure(entry, e));
    entry.instance = undefined;
    entry.lifecycle.to("loading");
  }

  /** manifest → verify → resolve: everything that does not need the engine. */
  async #prepare(entry: Entry, bytes?: Promise<Uint8Array>): Promise<void> {
    const m = entry.manifest;
    entry.entryBytes = sharedEntryBytes(await (bytes ?? readEntry(m.name, m.entryPath, m.dir)));
    await verifyIntegrity(m, entry.entryBytes);
    if (this.#trust) {
      const signed = await verifySignature(m, this.#trust, entry.entryBytes);
      // The install rule again: a plugin copied in by hand gets no more than its signer's level allows.
      checkTrustLevel(this.#trust, signed.level ?? "local", requestedCapabilities(m), m.name);
    }
    checkConfigSchema(m); // plugin-supplied schema: only once the signature holds
    checkApiVersion(m, HOST_WIT_VERSION);
    checkLoadDependencies(m, (name) => this.#presentVersion(name), this.#deps.accepted);
    const o = this.#options;
    // Policy (policy.ts): the host decides, the manifest asks.
    entry.trust = m.kind === "native" ? nativeTrust(m.name, m.trust, o.trustedNative) : "untrusted";
    // Relative fs grants given to the library resolve against the working directory.
    entry.grants = grantsFor(o.grants, m.name);
    entry.capabilities = effectiveCapabilities(m.capabilities, m.optionalCapabilities, entry.grants, m.name);
    // No plugin may reach the compile cache or plughost's own files.
    // Only fs grants can reach them (the list costs a few realpath calls: not paid by plugins without one).
    if (entry.capabilities.some(isFsCapability)) checkProtectedGrants(entry.capabilities, protectedPaths(this.#cacheDir, this.#state.dataDir), m.name);
    entry.resolvedConfig = this.#configs.resolve(m, [...this.#entries.keys()]);
    entry.config = entry.resolvedConfig.value;
    entry.limits = effectiveLimits(m.limits, o, (field, requested, max) =>
      entry.logger.warn({ field, requested, max }, `limits.${field} ${requested} lowered to the host's maximum ${max}`),
    );
    if (m.kind === "native") checkNativeDeadline(m.name, entry.trust, m.limits.deadlineMs, o.requireDeadlines, entry.limits.deadlineMs);
    entry.recovery = pluginRecovery(this.#recovery, m.recovery);
    entry.standIn = fallbackOf(entry.recovery);
    if (entry.standIn !== undefined) this.#standIns = true;
    entry.isolation = isolationFor(entry.engine, {
      plugin: m.name,
      manifestIsolation: m.isolation,
      manifestDeadlineMs: m.limits.deadlineMs,
      hostIsolation: o.isolation,
      requireDeadlines: o.requireDeadlines,
      deadlineMs: entry.limits.deadlineMs,
    });
    // App interfaces: granted, provided (the host or a loaded plugin), versions compatible, no wiring cycle.
    const canWait = entry.engine !== "native" && !(entry.engine === "v8" && entry.isolation !== "worker");
    entry.ifaces = bindPluginInterfaces(m, entry.entryBytes, entry.capabilities, canWait, this.#wiringHost(entry));
  }

  /** compile + instantiate with scoped imports (engine-specific). */
  async #instantiate(entry: Entry): Promise<EngineInstance> {
    const m = entry.manifest;
    const sandbox = this.#options.nativeSandbox;
    const engine = entry.engine === "native" && sandbox ? await (this.#nativeEngine ??= nativeEngineWith(sandbox)) : await getEngine(entry.engine);
    const hostCalls = createHostCalls(
      {
        name: m.name,
        logger: entry.logger,
        callbacks: entry.callbacks,
        capabilities: entry.capabilities,
        events: this.#events,
        metrics: entry.metrics,
        config: () => entry.config,
        onRegistered: (event) => this.#subscribe(entry, event),
        emit: (event, data) => this.#emitFrom(entry, event, data),
        send: (target, event, data) => this.#sendFrom(entry, target, event, data),
        onDenied: (capability, detail) => this.recordViolation(m.name, "capability", `${detail} denied: needs ${capability}`),
        intercept: (hostCall, run) => this.#hostCall(entry, hostCall, run),
        requestSync: (target, event, data, timeoutMs) => this.#router.requestSync(entry, target, event, data, timeoutMs),
        request: (target, event, data, timeoutMs) => this.#router.requestAsync(entry, this.#within(entry), target, event, data, timeoutMs),
        currentMessage: () => this.#currentMessage(entry),
        context: this.#context,
        onLog: (level, message, callId, source = "plugin") =>
          this.#logStore.log({ plugin: m.name, level, message, time: Date.now(), ...(callId !== undefined ? { callId } : {}), source }),
      },
      this.#hostCallOptions,
    );
    // The plugin's own metrics (docs/observability.md, "Plugin-defined metrics"), through the pipeline like the other host calls.
    const host = withPluginMetrics(
      hostCalls,
      this.#pluginMetrics.bind(m.name, {
        capabilities: entry.capabilities,
        onDenied: (capability, detail) => this.recordViolation(m.name, "capability", `${detail} denied: needs ${capability}`),
        onRefused: (error, detail) => entry.logger.warn({ error }, `${detail} refused: ${error}`),
      }),
      (hostCall, run) => this.#hostCall(entry, hostCall, run),
    );
    // Persistent state (docs/state.md): the plugin's own keys with `state`; without it each call is denied and reported.
    const granted = entry.capabilities.includes("state");
    if (granted) this.#state.prepare(m.name);
    Object.assign(
      host,
      this.#state.hostCalls(m.name, granted, {
        quota: () => stateQuota(entry.limits),
        onQuotaExceeded: (detail) => this.recordViolation(m.name, "quota", detail),
        onDenied: (capability, detail) => this.recordViolation(m.name, "capability", `${detail} denied: needs ${capability}`),
        logger: entry.logger,
        intercept: (hostCall, run) => this.#hostCall(entry, hostCall, run),
      }),
    );
    // An engine that stops the instance itself (the native sandbox kills its helper past a deadline, for CPU
    // used between calls, on a crash while idle) records that here when it happens; the fault the next call
    // gets is the same event and is not recorded again (#onFault).
    const stopped = { reported: false };
    const instance = await engine.load({
      plugin: m.name,
      entryPath: m.entryPath,
      bytes: entry.entryBytes,
      capabilities: entry.capabilities,
      limits: entry.limits,
      // Secrets stay out of what the plugin makes the host show (its log lines, its metrics).
      host: redactingHostCalls(host, () => entry.resolvedConfig?.redact),
      cacheDir: this.#cacheDir,
      ...(this.#coreDumpDir ? { coreDumpDir: this.#coreDumpDir } : {}),
      isolation: entry.isolation ?? "in-process",
      trust: entry.trust,
      ...(entry.ifaces.bindings ? { interfaces: entry.ifaces.bindings } : {}),
      onViolation: (kind, detail, usage) => {
        if (FAULT_KINDS.has(kind)) stopped.reported = true;
        this.recordViolation(m.name, kind, detail, usage);
      },
    });
    this.#stopReported.set(instance, stopped);
    return instance;
  }

  /** init(api-version, config): the plugin registers its callbacks here. */
  async #init(entry: Entry): Promise<void> {
    entry.lifecycle.to("initializing");
    const started = performance.now();
    const instance = entry.instance!;
    const limit = entry.limits.initDeadlineMs;
    // An init that never returns is ended: the instance is disposed (a worker terminated, a call interrupted).
    const status = await withDeadline(instance.init(HOST_WIT_VERSION, JSON.stringify(entry.config)), limit, async () => {
      await settleWithin(instance.dispose().catch((err: unknown) => logCleanupFailure(entry, err)), limit!);
      const err = new DeadlineExceeded("init", limit!, { plugin: entry.name });
      err.message += " (limits.initDeadlineMs); the instance was stopped. Raise initDeadlineMs if init needs longer, or fix init";
      entry.logger.error({ code: err.code }, err.message);
      return err;
    });
    entry.metrics.initMs = performance.now() - started;
    if (status !== 0) throw new InitializationFailed(status, { plugin: entry.name });
    // The hand-off: every new instance gets the last stored snapshot (docs/state.md); never fatal.
    if (instance.restore && entry.capabilities.includes("state")) await this.#state.restore(entry.name, instance, entry.logger);
    entry.lifecycle.to("active");
  }

  /** A load that failed part-way leaves nothing behind but the entry (in `error`, then `unloaded`). */
  async #abandon(entry: Entry): Promise<void> {
    if (entry.state !== "error") entry.lifecycle.to("error");
    this.#unsubscribeAll(entry);
    bankFuel(entry);
    await entry.instance?.dispose().catch((err: unknown) => logCleanupFailure(entry, err));
    entry.instance = undefined;
    entry.entryBytes = undefined; // a later load reads and verifies the file again
    entry.lifecycle.to("unloading");
    entry.lifecycle.to("unloaded");
  }

  #track(manifest: Manifest): Entry {
    const entry = this.#newEntry(manifest);
    this.#entries.set(manifest.name, entry);
    return entry;
  }

  #newEntry(manifest: Manifest): Entry {
    const engine: EngineName = manifest.kind === "native" ? "native" : (manifest.engine ?? this.#options.engine ?? "v8");
    const tracker = new ViolationTracker(this.#options.violationThreshold, this.#options.unmountBehavior ?? DEFAULT_UNMOUNT_BEHAVIOR);
    const entry: Entry = new Entry(manifest, engine, this.#logger.child({ plugin: manifest.name }), tracker, (from, to) => {
      if (!entry.quiet) this.emit("state", { plugin: manifest.name, from, to });
    });
    entry.probe = this.#metrics.probe(manifest.name);
    return entry;
  }

  /**
   * Reload a loaded plugin from its manifest (or `pathOrDir`): the new
   * version is verified, compiled and initialised beside the old one, then
   * swapped in; the old one finishes its in-flight calls and is torn down.
   * On any failure the old version keeps running and the error is thrown.
   *
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   * @throws {@link PluginNotRunning} when it is not active or suspended.
   * @throws {@link ResolutionError} when the new manifest has another name, or its version breaks a dependent's range.
   * Otherwise as `load`, for the new version.
   */
  async reload(name: string, pathOrDir?: string): Promise<PluginHandle> {
    const prev = this.#reloads.get(name) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(() => this.#reload(name, pathOrDir));
    this.#reloads.set(name, run);
    try {
      return await run;
    } finally {
      if (this.#reloads.get(name) === run) this.#reloads.delete(name);
    }
  }

  async #reload(name: string, pathOrDir?: string): Promise<PluginHandle> {
    const old = this.#get(name);
    await old.restarting?.catch(() => undefined);
    if (old.state !== "active" && old.state !== "suspended") throw notRunning(old);
    const manifest = await loadManifest(pathOrDir ?? old.manifest.file, { configSchema: "defer" });
    if (manifest.name !== name) {
      throw new ResolutionError(`reload found plugin "${manifest.name}" in ${manifest.file}; a reload cannot rename`, { plugin: name });
    }
    const leaving = await this.#recheckDependents(name, old.manifest.version, manifest.version);
    const next = this.#newEntry(manifest);
    next.quiet = true;
    next.violations.threshold = old.violations.threshold;
    next.violations.behavior = old.violations.behavior;
    const started = performance.now();
    next.lifecycle.to("loading");
    try {
      await this.#prepare(next);
      next.instance = await this.#instantiate(next);
      next.lifecycle.to("loaded");
      if (old.instance) await this.#saveSnapshot(old, old.instance, "the reload"); // the new instance's init restores it
      await this.#init(next);
    } catch (err) {
      await this.#abandon(next);
      throw asPlughostError(err, name);
    }
    // Swap synchronously: calls from here on reach the new instance.
    const { loadMs: _l, initMs: _i, ...kept } = old.metrics;
    Object.assign(next.metrics, kept);
    next.metrics.loadMs = performance.now() - started;
    this.#metrics.loaded(name, next.metrics.loadMs);
    old.quiet = true;
    // A dispatch that listed the old entry (or any entry retired before it) calls the new one.
    const box = old.successors ?? { entry: next };
    box.entry = next;
    old.replacedBy = box;
    next.successors = box;
    this.#unsubscribeAll(old);
    this.#entries.set(name, next);
    next.quiet = false;
    for (const event of next.callbacks) this.#subscribe(next, event);
    if (old.state === "suspended") next.lifecycle.to("suspended");
    // The old instance's queued calls finish before its teardown runs.
    await this.#teardown(old).catch((err: unknown) => logCleanupFailure(old, err));
    for (const d of leaving) await this.#teardown(this.#get(d)).catch((err: unknown) => logCleanupFailure(old, err));
    this.emit("reloaded", { plugin: name, from: old.manifest.version, to: manifest.version });
    return new PluginHandle(this, next);
  }

  // ── configuration (docs/config.md) ────────────────────────────────────

  /**
   * A plugin's effective configuration with each secret as `[secret]`, and the source of every value by JSON
   * pointer ("default", "schema-default", "env-section:<env>", "host", "env:<VAR>", "live").
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   * @throws {@link ConfigError} when a plugin that is not loaded has an invalid configuration.
   * @example
   *   const { value, provenance } = registry.config("greeter");
   *   console.log(value.greeting, provenance["/greeting"]); // "hi" "env:PLUGHOST_GREETER_GREETING"
   */
  config(name: string): PluginConfigView {
    const entry = this.#get(name);
    const r = entry.resolvedConfig ?? this.#configs.resolve(entry.manifest, [...this.#entries.keys()]);
    return { value: r.redacted(), provenance: { ...r.provenance }, secrets: { ...r.secrets }, validation: r.validation };
  }

  /**
   * Change a plugin's configuration while it runs: `patch` is merged onto its earlier live updates (a JSON merge
   * patch: objects merge, `null` removes a key, which then falls back to the other sources), the result validated,
   * then delivered through the plugin's `on-config-changed`; without that export, or when it returns non-zero, the
   * plugin is reloaded with the new configuration. A plugin that is not running gets it when it loads.
   * Emits `config-changed`, or `config-refused` when it throws.
   * @throws {@link ConfigError} when the new configuration is invalid; the old one stays.
   * @throws {@link PluginNotFound} when no plugin of that name is tracked; the reload's error when the reload fails
   *   (the old configuration and instance stay).
   * @example
   *   await registry.setConfig("greeter", { greeting: "hello" }); // { delivered: "callback", changed: ["/greeting"] }
   */
  async setConfig(name: string, patch: Record<string, unknown>): Promise<ConfigUpdate> {
    return this.#configUpdate(this.#get(name), { live: patch });
  }

  /**
   * Watch a host config file (`plughost.config.json` / `.toml`): when its `config` section changes, each plugin
   * whose overrides changed gets its new configuration as `setConfig` delivers it (other settings need a restart).
   * Its `context` section is applied too: a defined key's changed value is set (checked against the key's schema), a
   * new key is defined (`context-changed`); a refused value is `config-refused` with `contextKey`, and the old value
   * stays. A key removed from the file keeps its definition and value.
   * A file that does not read or validate, or an invalid plugin config, is `config-refused` and changes nothing.
   * `close()` on the result (or `registry.close()`) stops watching.
   * @example
   *   const watch = await registry.watchConfig("plughost.config.json");
   */
  async watchConfig(file: string, options?: WatchConfigOptions): Promise<ConfigFileWatch> {
    const abs = path.resolve(file);
    const w = await watchHostConfigFile(
      abs,
      async (hostConfig) => {
        // Context first: a plugin reloaded for its new config then reads the new values too.
        const ctx = applyContextSection(this.#context, hostConfig.context, this.#contextFromFile, abs);
        for (const change of ctx.changed) this.emit("context-changed", change);
        for (const { key, error } of ctx.refused) {
          this.#logger.warn({ file: abs, key, code: error.code }, `context key ${key} from the host config file refused: ${error.message}; its value stays`);
          this.emit("config-refused", { file: abs, contextKey: key, error });
        }
        for (const entry of [...this.#entries.values()]) {
          const next = hostConfig.config[entry.name];
          if (!this.#configs.hostChanged(entry.name, next)) continue;
          await this.#configUpdate(entry, { host: next }).catch(() => undefined); // refused: the event says so
        }
      },
      (error) => {
        this.#logger.warn({ file: abs, code: error.code }, `the host config file did not load: ${error.message}; the configuration stays`);
        this.emit("config-refused", { file: abs, error });
      },
      options,
    );
    this.#configWatches.add(w);
    return { file: w.file, close: () => (this.#configWatches.delete(w), w.close()) };
  }

  async #configUpdate(entry: Entry, change: { live: Record<string, unknown> } | { host: Record<string, unknown> | undefined }): Promise<ConfigUpdate> {
    const name = entry.name;
    try {
      const update = await this.#configs.update(this.#configTarget(name), change, [...this.#entries.keys()]);
      this.emit("config-changed", update);
      return update;
    } catch (err) {
      const error = asPlughostError(err, name);
      this.#get(name).logger.warn({ code: error.code }, `configuration update refused: ${error.message}; the old configuration stays`);
      this.emit("config-refused", { plugin: name, error });
      throw err;
    }
  }

  /** The plugin `name` as a live update sees it: whichever entry is current (a reload replaces it). */
  #configTarget(name: string): ConfigTarget {
    const current = () => this.#get(name);
    return {
      get manifest() {
        return current().manifest;
      },
      get running() {
        const s = current().state;
        return s === "active" || s === "suspended";
      },
      get current() {
        return current().resolvedConfig;
      },
      adopt: (resolved) => {
        const e = current();
        e.resolvedConfig = resolved;
        e.config = resolved.value;
      },
      tell: (resolved) => this.#tellConfigChanged(current(), resolved),
      reload: async () => {
        await this.reload(name);
      },
    };
  }

  /** `on-config-changed` with the new config (get-config answers it from now on); undefined without the export. */
  async #tellConfigChanged(entry: Entry, resolved: ResolvedConfig): Promise<number | undefined> {
    const instance = entry.instance;
    if (!instance?.onConfigChanged || entry.state !== "active" || entry.restarting) return undefined;
    entry.resolvedConfig = resolved;
    entry.config = resolved.value;
    try {
      return await this.#serial(entry, instance, () => (entry.instance === instance ? instance.onConfigChanged!(JSON.stringify(resolved.value)) : Promise.resolve(-1)));
    } catch (err) {
      const error = this._callFailed(entry, instance, err, "config:on-config-changed");
      entry.logger.warn({ code: error.code }, `on-config-changed failed: ${resolved.redact(error.message)}; reloading with the new configuration`);
      return -1;
    }
  }

  /**
   * A reload from `from` to `to` re-checks the loaded plugins that depend on it. A range it breaks is a conflict:
   * refused under strict and latest; under manual the host chooses (force: keep them loaded; otherwise they are
   * unloaded after the swap, returned here).
   */
  async #recheckDependents(name: string, from: string, to: string): Promise<string[]> {
    const nodes = this.#graph().filter((n) => n.name !== name);
    const conflict = reloadConflict(name, from, to, nodes, this.#deps.accepted);
    if (!conflict) return [];
    const refuse = () =>
      new DependencyConflictError(this.#deps.strategy, [conflict], `cannot reload to ${to}: widen the dependents' ranges, reload them first, or use the manual strategy to choose`);
    if (this.#deps.strategy !== "manual") throw refuse();
    const choice = (await this.#deps.choose([conflict]))?.[name];
    if (!choice || choice.version !== to) throw refuse();
    const rejecting = rejectingPlugins(conflict, to);
    if (choice.force) {
      for (const p of rejecting) this.#deps.accepted.add(`${p}>${name}`);
      return [];
    }
    const out: string[] = [];
    for (const p of rejecting) for (const d of [...dependentsOf(p, nodes), p]) if (!out.includes(d)) out.push(d);
    return out;
  }

  /** The loaded plugins as a dependency graph. */
  #graph(): { name: string; version: string; dependencies: Manifest["dependencies"] }[] {
    return [...this.#entries.values()]
      .filter((e) => e.state !== "unloaded")
      .map((e) => ({
        name: e.name,
        version: e.manifest.version,
        // An importer wired to another plugin's export depends on it as on a required dependency.
        dependencies: e.ifaces.wiredTo.size === 0 ? e.manifest.dependencies : [...e.manifest.dependencies, ...[...new Set(e.ifaces.wiredTo.values())].map((name) => ({ name, range: "*", optional: false }))],
      }));
  }

  /** The version of `name` that satisfies dependencies now: active (or suspended), or in a `loadAll` batch. */
  #presentVersion(name: string): string | undefined {
    const e = this.#entries.get(name);
    if (e && (e.state === "active" || e.state === "suspended")) return e.manifest.version;
    return this.#deps.batch.get(name);
  }

  /** Reload a tracked plugin, keeping its metrics and violations. */
  #retrack(old: Entry, manifest: Manifest): Entry {
    const entry = this.#track(manifest);
    Object.assign(entry.metrics, old.metrics);
    entry.violations.threshold = old.violations.threshold;
    entry.violations.behavior = old.violations.behavior;
    return entry;
  }

  // ── unloading ──────────────────────────────────────────────────────────

  /**
   * teardown → unloaded. Metrics are kept; the plugin stays available for `loadByName`.
   * The plugin is unloaded even when teardown fails or runs past `limits.unloadGraceMs`; the error is then thrown after.
   *
   * With `{ cascade: true }`, the plugins that depend on it (required or peer, transitively) are unloaded first.
   *
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   * @throws {@link PluginHasDependents} (a `ResolutionError`) when loaded plugins depend on it and `cascade` is not set.
   * @throws {@link TeardownFailed} when `teardown` returned non-zero; {@link DeadlineExceeded} when it ran past the grace period.
   */
  async unload(name: string, options?: UnloadOptions): Promise<void> {
    const entry = this.#get(name);
    const dependents = entry.state === "unloaded" ? [] : dependentsOf(name, this.#graph());
    if (dependents.length) {
      if (!options?.cascade) throw new PluginHasDependents(name, dependents);
      for (const d of dependents) await this.#teardown(this.#get(d)).catch((err: unknown) => logCleanupFailure(this.#get(d), err));
    }
    await this.#teardown(entry);
  }

  /**
   * Unload every plugin, dependents before their dependencies. Every plugin is
   * unloaded; then the first teardown error, if any, is thrown (as `unload`).
   */
  async unloadAll(): Promise<void> {
    const active = [...this.#entries.values()].filter((e) => e.state !== "unloaded");
    let order: Entry[];
    try {
      order = resolveLoadOrder(active.map((e) => e.manifest), { accepted: this.#deps.accepted })
        .map((m) => this.#entries.get(m.name)!)
        .reverse();
    } catch {
      order = active.reverse();
    }
    const errors: unknown[] = [];
    for (const e of order) await this.#teardown(e).catch((err: unknown) => errors.push(err));
    if (errors.length) throw errors[0];
  }

  #teardown(entry: Entry): Promise<void> {
    entry.stopping ??= this.#teardownOnce(entry).finally(() => {
      entry.stopping = undefined;
    });
    return entry.stopping;
  }

  async #teardownOnce(entry: Entry): Promise<void> {
    // Without a restart to wait for, the plugin leaves `active` before `unload` returns its promise: a call made
    // after `unload()` (a synchronous dispatch running on, for one) finds it stopping.
    if (entry.restarting) await entry.restarting.catch(() => undefined);
    const state = entry.state;
    if (state === "unloaded") return;
    let failure: PlughostError | undefined;
    let killed: DeadlineExceeded | undefined;
    if (state === "active" || state === "suspended") {
      entry.lifecycle.to("stopping");
      const instance = entry.instance;
      // A reload's old instance was saved before the new one took over: a later snapshot would undo that one's work.
      if (instance && !entry.replacedBy) await this.#saveSnapshot(entry, instance, "the unload");
      if (instance) {
        const outcome = await this.#stop(entry, instance);
        failure = outcome.failure;
        killed = outcome.killed;
      }
      entry.lifecycle.to(failure ? "error" : "stopped");
    } else if (state !== "stopped" && state !== "error" && state !== "loaded") {
      entry.lifecycle.to("error");
    }
    entry.lifecycle.to("unloading");
    this.#unsubscribeAll(entry);
    bankFuel(entry);
    try {
      const disposing = entry.instance?.dispose();
      if (disposing && !(await finishes(disposing, entry.limits.unloadGraceMs))) {
        entry.logger.error(`releasing the instance did not finish within ${entry.limits.unloadGraceMs} ms (limits.unloadGraceMs); unloaded without waiting for it`);
      }
    } catch (err) {
      // The plugin is unloaded either way; the caller learns what could not be released.
      logCleanupFailure(entry, err);
      failure ??= asPlughostError(err, entry.name);
    }
    entry.instance = undefined;
    // An unloaded plugin's entry stays for its metrics; its code does not (a later load reads and verifies it again).
    entry.entryBytes = undefined;
    entry.lifecycle.to("unloaded");
    if (killed) this.recordViolation(entry.name, "deadline", killed.message);
    if (failure) throw failure;
  }

  /**
   * Run `teardown` after the calls queued before it, all within the unload
   * grace period; past it the instance is disposed (killed), so an unload
   * always finishes. Teardown is skipped, not failed, when the instance was
   * discarded by a fault while it waited.
   */
  async #stop(entry: Entry, instance: EngineInstance): Promise<{ failure?: PlughostError; killed?: DeadlineExceeded }> {
    const grace = entry.limits.unloadGraceMs;
    let killed: DeadlineExceeded | undefined;
    const skipped = (why: string) => {
      entry.logger.warn(`teardown skipped: ${why}`);
      return {};
    };
    const run = this.#serial(entry, instance, async () => (entry.instance === instance ? instance.teardown() : undefined));
    try {
      const status = await withDeadline(run, grace, async () => {
        bankFuel(entry);
        if (entry.instance === instance) entry.instance = undefined; // the killed call's fault must not restart it
        await settleWithin(instance.dispose().catch((err: unknown) => logCleanupFailure(entry, err)), grace!);
        killed = new DeadlineExceeded("teardown", grace!, { plugin: entry.name });
        killed.message += " (limits.unloadGraceMs, which covers the call in flight and teardown); the instance was killed and the plugin unloaded";
        entry.logger.error({ code: killed.code }, killed.message);
        return killed;
      });
      if (status === undefined) return skipped("the instance was discarded after a fault");
      return status === 0 ? {} : { failure: new TeardownFailed(status, { plugin: entry.name }) };
    } catch (err) {
      if (killed) return { failure: killed, killed };
      // A worker fails the calls queued behind a faulted one with that call's fault: teardown never ran.
      if (isInstanceFault(err) && !/teardown$/.test(err.export)) return skipped(`the instance had faulted (${err.message})`);
      return { failure: err instanceof PlughostError ? err : new TeardownFailed(-1, { plugin: entry.name, cause: err }) };
    }
  }

  // ── suspend / resume ───────────────────────────────────────────────────

  /**
   * Stop delivering events to a plugin without unloading it. The state changes at once; the returned promise
   * settles once the plugin was told through its optional `lifecycle.on-suspend` export (after the calls already
   * in flight), and at once when it does not export it. It never rejects: a failing or non-zero `on-suspend` is
   * logged and counted as an error (a fault is a fault, recovered as usual), and the plugin stays suspended.
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   * @throws {@link IllegalStateTransition} when it is not active.
   */
  suspend(name: string): Promise<void> {
    const entry = this.#get(name);
    entry.lifecycle.to("suspended");
    return this.#tellLifecycle(entry, "on-suspend");
  }

  /**
   * Deliver events to a suspended plugin again. The state changes at once; the returned promise settles once the
   * plugin was told through its optional `lifecycle.on-resume` export, and never rejects (as `suspend`).
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   * @throws {@link IllegalStateTransition} when it is not suspended.
   */
  resume(name: string): Promise<void> {
    const entry = this.#get(name);
    entry.lifecycle.to("active");
    return this.#tellLifecycle(entry, "on-resume");
  }

  /** Call the instance's optional lifecycle export in turn with its other calls; failures are logged and counted, never thrown. */
  async #tellLifecycle(entry: Entry, which: "on-suspend" | "on-resume"): Promise<void> {
    const instance = entry.instance;
    const tell = which === "on-suspend" ? instance?.onSuspend : instance?.onResume;
    if (!instance || !tell) return;
    const event = `lifecycle:${which}`;
    try {
      // Skipped when the instance was replaced (a fault, a restart) while the call waited its turn.
      const status = await this.#serial(entry, instance, () => (entry.instance === instance ? tell.call(instance) : Promise.resolve(0)));
      if (status !== 0) {
        entry.metrics.errors++;
        entry.logger.warn({ status }, `${which} returned status ${status}; the plugin is ${which === "on-suspend" ? "suspended" : "resumed"} all the same`);
      }
    } catch (err) {
      const error = this._callFailed(entry, instance, err, event);
      entry.logger.warn({ code: error.code }, `${which} failed: ${error.message}; the plugin is ${which === "on-suspend" ? "suspended" : "resumed"} all the same`);
    }
  }

  // ── restart / disable / enable (docs/lifecycle.md) ─────────────────────

  /**
   * Re-create the plugin's instance now: the running one is torn down (its queued calls first, all within
   * `limits.unloadGraceMs`), then a fresh instance is compiled and initialised; its state is lost. Calls made
   * meanwhile wait for it (or go to its fallback). A suspended plugin stays suspended; a disabled one is enabled.
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   * @throws {@link PluginNotRunning} when it is not loaded.
   * Otherwise as `load` for the new instance (the plugin is then disabled, with the reason).
   */
  async restart(name: string): Promise<PluginHandle> {
    const entry = latest(this.#get(name));
    if (entry.restarting) await entry.restarting.catch(() => undefined); // no await otherwise: calls made after restart() wait for it
    const state = entry.state;
    if (state !== "active" && state !== "suspended" && state !== "error") throw notRunning(entry);
    entry.restarting = this.#restartNow(entry, state === "suspended").finally(() => {
      entry.restarting = undefined;
    });
    await entry.restarting;
    return new PluginHandle(this, entry);
  }

  /** `restart`'s work: graceful stop, then a fresh instance without backoff or counting. */
  async #restartNow(entry: Entry, suspended: boolean): Promise<void> {
    await this.#stopInstance(entry);
    entry.restartCount = 0;
    const wasDisabled = entry.disabled !== undefined;
    entry.disabled = undefined;
    try {
      await this.#restart(entry, { ...(entry.recovery ?? this.#recovery), strategy: "ignore", baseDelayMs: 0 });
    } catch (err) {
      entry.disabled = `restart failed: ${(err as Error)?.message ?? String(err)}`;
      this.emit("disabled", { plugin: entry.name, reason: entry.disabled });
      throw err;
    }
    if (wasDisabled) this.emit("enabled", { plugin: entry.name });
    if (suspended) entry.lifecycle.to("suspended");
  }

  /** Tear the running instance down (teardown within the grace period), leaving the plugin `stopped` or `error`, instance gone. */
  async #stopInstance(entry: Entry): Promise<void> {
    const instance = entry.instance;
    if (instance && (entry.state === "active" || entry.state === "suspended")) {
      entry.lifecycle.to("stopping");
      await this.#saveSnapshot(entry, instance, "the restart");
      const { failure } = await this.#stop(entry, instance);
      if (failure) entry.logger.warn({ code: failure.code }, `teardown before the restart failed: ${failure.message}`);
      entry.lifecycle.to(failure ? "error" : "stopped");
    }
    bankFuel(entry);
    const left = entry.instance;
    entry.instance = undefined;
    await left?.dispose().catch((err: unknown) => logCleanupFailure(entry, err));
  }

  /**
   * Stop the plugin taking calls, with a reason, without unloading it: its instance is torn down (teardown, within
   * `limits.unloadGraceMs`) and it stays in `error` with its subscriptions, so a dispatch reports it as not
   * running (or its fallback stands in) until `enable` or `unload`. `info(name).disabledReason` tells why.
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   * @throws {@link PluginNotRunning} when it is not loaded.
   */
  async disable(name: string, reason = "disabled by the host"): Promise<void> {
    const entry = latest(this.#get(name));
    if (entry.restarting) await entry.restarting.catch(() => undefined);
    if (entry.state === "unloaded" || entry.state === "unloading" || entry.stopping) throw notRunning(entry);
    entry.disabled = reason;
    await this.#stopInstance(entry);
    if (entry.state !== "error") entry.lifecycle.to("error");
    this.emit("disabled", { plugin: entry.name, reason });
  }

  /**
   * Bring a disabled plugin back (by `disable`, or by its recovery policy after faults): a fresh instance,
   * compiled and initialised, its restart count reset. An active plugin is left as it is.
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   * @throws {@link PluginNotRunning} when it is neither disabled nor active (unloaded, say).
   * Otherwise as `load` for the new instance (it then stays disabled, with the reason).
   */
  async enable(name: string): Promise<PluginHandle> {
    const entry = latest(this.#get(name));
    if (entry.restarting) await entry.restarting.catch(() => undefined);
    if (entry.state === "active") return new PluginHandle(this, entry);
    if (entry.state !== "error" || entry.stopping) throw notRunning(entry);
    if (entry.disabled === undefined) entry.disabled = "disabled";
    entry.restarting = this.#restartNow(entry, false).finally(() => {
      entry.restarting = undefined;
    });
    await entry.restarting;
    return new PluginHandle(this, entry);
  }

  // ── queries ────────────────────────────────────────────────────────────

  /**
   * A handle on the plugin (loaded or not), for its state, metrics and calls.
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   */
  get(name: string): PluginHandle {
    return new PluginHandle(this, this.#get(name));
  }

  /** True when a plugin of that name is tracked (loaded, discovered or unloaded). */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** True when the plugin is loaded (in any state between loaded and stopping). */
  isLoaded(name: string): boolean {
    const s = this.#entries.get(name)?.state;
    return s !== undefined && s !== "unloaded";
  }

  /**
   * What the registry knows of the plugin.
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   */
  info(name: string): PluginInfo {
    return this.#info(this.#get(name));
  }

  /** Every tracked plugin, loaded or not. */
  list(): PluginInfo[] {
    return [...this.#entries.values()].map((e) => this.#info(e));
  }

  /** The plugins that are loaded (any state but unloaded). */
  listLoaded(): PluginInfo[] {
    return this.list().filter((p) => p.state !== "unloaded");
  }

  /** Discovered (or unloaded) plugins that can be loaded by name. */
  listAvailable(): PluginInfo[] {
    return this.list().filter((p) => p.state === "unloaded");
  }

  /** Number of loaded plugins. */
  get count(): number {
    return this.listLoaded().length;
  }

  /** Number of tracked plugins, loaded or not. */
  get totalCount(): number {
    return this.#entries.size;
  }

  /**
   * The plugin's counters (they survive unload).
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   */
  metrics(name: string): Readonly<PluginMetrics> {
    return liveMetrics(this.#get(name));
  }

  // ── observability (docs/observability.md) ──────────────────────────────

  /** This registry's prom-client registry (never prom-client's global one): its metrics, and any an application adds. */
  get promRegistry(): PromRegistry {
    return this.#metrics.registry;
  }

  /** The Prometheus text exposition of `promRegistry`: every plugin's metrics and the registry's (docs/observability.md). */
  metricsText(): Promise<string> {
    return this.#metrics.text();
  }

  /**
   * The metrics plugins define themselves (`define-metric` / `record-metric`, capability `metrics`): `list(name?)`
   * says what each defined, `remove(name)` unregisters a plugin's. Kept per plugin name across restarts and reloads.
   */
  get pluginMetrics(): PluginMetricsStore {
    return this.#pluginMetrics;
  }

  /** The content type of `metricsText()`, for an HTTP answer. */
  get metricsContentType(): string {
    return this.#metrics.contentType;
  }

  /**
   * Latency percentiles of the plugin's recent timed calls, in nanoseconds (zeros when none was timed or
   * per-call metrics are off). One call in `latencySampleEvery` is timed.
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   */
  latency(name: string): LatencySummary {
    this.#get(name);
    return this.#metrics.latency(name);
  }

  /**
   * Health of every tracked plugin, by name; or of one plugin. The rule: docs/observability.md ("Health").
   * @throws {@link PluginNotFound} when `name` is given and no plugin of that name is tracked.
   */
  health(): Record<string, PluginHealth>;
  health(name: string): PluginHealth;
  health(name?: string): Record<string, PluginHealth> | PluginHealth {
    if (name !== undefined) return this.#healthOf(this.#get(name));
    const out: Record<string, PluginHealth> = {};
    for (const e of this.#entries.values()) out[e.name] = this.#healthOf(e);
    return out;
  }

  /**
   * Recent log lines of one plugin (or of all, by time) matching `query`: its own lines and the host's error
   * lines about it. At most `logStore.lines` per plugin are kept.
   */
  logs(name?: string, query?: LogQuery): LogRecord[] {
    return this.#logStore.logs(name, query);
  }

  /** Recent failed calls of one plugin (or of all) matching `query`. At most `logStore.errors` per plugin are kept. */
  errors(name?: string, query?: LogQuery): ErrorReport[] {
    return this.#logStore.errors(name, query);
  }

  /**
   * New log lines as they are written, as an async iterator; leaving a `for await` (or calling `return()`) detaches it.
   *
   * @example
   *   for await (const line of registry.watchLogs({ plugin: "probe", level: "warn" })) console.log(line.message);
   */
  watchLogs(filter?: LogWatchFilter): LogWatch {
    return this.#logStore.watch(filter);
  }

  #healthOf(e: Entry): PluginHealth {
    const m = liveMetrics(e);
    return this.#health.evaluate({
      name: e.name,
      state: e.state,
      calls: m.calls,
      errors: m.errors,
      violations: e.violations.count,
      violationThreshold: e.violations.threshold,
    });
  }

  /** Note a plugin's counters for the health rule's error rate (on events: a fault, a load). */
  #notePlugin(name: string): void {
    const e = this.#entries.get(name);
    if (e) this.#health.note({ name, calls: e.metrics.calls, errors: e.metrics.errors });
  }

  #snapshots(): PluginSnapshot[] {
    return [...this.#entries.values()].map((e) => ({
      name: e.name,
      version: e.manifest.version,
      engine: e.engine,
      state: e.state,
      counters: liveMetrics(e),
      memoryBytes: memoryOf(e.instance),
      queuedBytesOut: e.pendingBytesOut,
      queuedBytesIn: e.pendingBytesIn,
      violations: e.violations.count,
      violationThreshold: e.violations.threshold,
    }));
  }

  #get(name: string): Entry {
    const entry = this.#entries.get(name);
    if (!entry) throw new PluginNotFound(name);
    return entry;
  }

  #info(e: Entry): PluginInfo {
    const m = e.manifest;
    return {
      name: m.name,
      version: m.version,
      description: m.description,
      kind: m.kind,
      engine: e.engine,
      state: e.state,
      manifestPath: m.file,
      entryPath: m.entryPath,
      capabilities: e.capabilities,
      dependencies: m.dependencies.map((d) => ({ name: d.name, range: d.range })),
      callbacks: [...e.callbacks],
      violations: e.violations.count,
      limits: { ...e.limits },
      grants: e.grants,
      trust: e.trust,
      isolation: e.isolation,
      ...(e.disabled !== undefined ? { disabledReason: e.disabled } : {}),
    };
  }

  // ── violations (seed 002) ──────────────────────────────────────────────

  /**
   * Record a violation and emit the `violation` event; returns true when it
   * pushed the plugin over its threshold (it is then unloaded and `unmounted` emitted).
   * `usage`: a resource limit's figures (kind "resource"), carried on the event as `resource`, `used`, `limit`.
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   */
  recordViolation(name: string, kind: ViolationKind, detail: string, usage?: ResourceUsage): boolean {
    const entry = this.#get(name);
    const unmount = entry.violations.record(kind, detail, usage);
    if (entry.violations.behavior.logViolations) entry.logger.warn({ violation: kind, count: entry.violations.count, ...usage }, detail);
    this.emit("violation", { plugin: name, kind, detail, count: entry.violations.count, ...usage });
    // Once: later violations during the same teardown must not unmount (and announce it) again.
    if (unmount && entry.state !== "unloaded" && entry.state !== "unloading" && !entry.stopping) {
      const count = entry.violations.count;
      const error = new PluginUnmounted(count, { plugin: name });
      void this.#teardown(entry)
        .catch(() => undefined)
        .then(() => this.emit("unmounted", { plugin: name, violations: count, error }));
    }
    return unmount;
  }

  /**
   * Violations recorded since the plugin was loaded (or last reset).
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   */
  violationCount(name: string): number {
    return this.#get(name).violations.count;
  }

  /**
   * The plugin's most recent violations, oldest first (at most 32 are kept).
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   */
  violations(name: string): readonly ViolationRecord[] {
    return this.#get(name).violations.recent;
  }

  /**
   * Forget the plugin's violations (its threshold and behaviour stay).
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   */
  resetViolations(name: string): void {
    this.#get(name).violations.reset();
  }

  /**
   * Change what happens when the plugin breaks rules, and optionally its threshold.
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   */
  setUnmountBehavior(name: string, behavior: UnmountBehavior, threshold?: number): void {
    const t = this.#get(name).violations;
    t.behavior = { ...behavior };
    if (threshold !== undefined) t.threshold = threshold;
  }

  // ── calls ──────────────────────────────────────────────────────────────

  /**
   * Add an interceptor to the call pipeline: every invoke, hook, dispatch
   * step, message delivery and host call runs inside it (after those added
   * before it). Returns a function that removes it. See docs/pipeline.md.
   */
  use(interceptor: Interceptor): () => void {
    const remove = this.#calls.use(interceptor);
    this._intercepted = true;
    this._observed = true;
    return () => {
      remove();
      this._intercepted = !this.#calls.empty;
      this._observed = this._intercepted || this.#metrics.perCall;
    };
  }

  /** The call in progress (in a host call or an interceptor), or undefined; see `currentCall` in calls.ts. */
  currentCall(): CallContext | undefined {
    return currentCall();
  }

  /** True once a plugin with a fallback was prepared: dispatch then looks for stand-ins. */
  #standIns = false;
  /** Set by the direct dispatch path when a faulted call is to be retried (read right after, in the same turn). */
  #retryNext = false;

  /** The delivery of dispatches that call only directly, reused (see `dispatch`); busy while one such loop runs. */
  readonly #directDelivery: Delivery = { hop: 0, chain: undefined, envelope: envelope("", "event", EMPTY, undefined, undefined, undefined, undefined) };
  #directBusy = false;
  /** The hook chain's direct path's output buffers (src/hooks/sink.ts), and whether a run is using them. */
  readonly #hookSinks: readonly HookSink[] = [newHookSink(), newHookSink()];
  #hookSinksBusy = false;
  readonly #hookDelivery: Delivery = { hop: 0, chain: undefined, envelope: envelope("", "hook", EMPTY, undefined, undefined, undefined, undefined) };

  /** Bumped whenever a plugin's callbacks are cleared (a restart): a dispatch's snapshot may then be stale. */
  #callbacksEpoch = 0;

  /** @internal True when an interceptor is registered (the sync fast paths then go through `_syncCall`); a plain field, read per sync call. */
  _intercepted = false;

  /** @internal Set by tracing: sees each dispatch and hook chain begin, issue its steps and end (see `ChainWatcher`). */
  _chains: ChainWatcher | undefined = undefined;

  /** @internal True when a sync call must go through `_observedSync`: interceptors are registered or per-call metrics are on. */
  _observed = false;

  /**
   * @internal `invokeSync` / `hookSync` when something observes calls: the probe counts (and may time) the call,
   * and the interceptors, if any, run around it.
   */
  _observedSync<T>(
    entry: Entry,
    instance: EngineInstance,
    event: string,
    kind: CallKind,
    data: Uint8Array,
    call: (i: EngineInstance, event: string, data: Uint8Array) => T,
    metadata?: Readonly<Record<string, string>>,
  ): T {
    const probe = entry.probe;
    const t0 = probe === undefined ? -1 : probe.begin(event);
    let ctx: CallContext | undefined;
    try {
      let out: T;
      if (this._intercepted) {
        const env = envelope(event, kind === "hook" ? "hook" : "event", data, entry.name, undefined, undefined, metadata);
        ctx = this.#calls.context(entry.name, event, kind, deadlineOf(entry), undefined, undefined);
        out = this._syncCall(entry, ctx, () => call(instance, event, data), env);
      } else {
        // Metrics only: the plugin's reused envelope and delivery, as the unobserved fast path (no allocation per call).
        const env = entry.syncEnvelope;
        env.id = 0;
        env.event = event;
        env.kind = kind === "hook" ? "hook" : "event";
        env.data = data;
        env.metadata = metadata ?? NO_METADATA;
        const previous = enterDelivery(entry.syncDelivery);
        try {
          out = call(instance, event, data);
        } finally {
          restoreDelivery(previous);
        }
      }
      entry.restartCount = 0;
      return out;
    } catch (err) {
      throw this._callFailed(entry, instance, err, event, ctx);
    } finally {
      if (t0 >= 0) probe!.end(event, t0);
    }
  }

  /** @internal A sync fast-path call through the interceptors, with its context. */
  _syncCall<T>(entry: Entry, ctx: CallContext, call: () => T, env?: Envelope): T {
    const { event, kind } = ctx;
    const delivery: Delivery = { hop: 0, chain: undefined, call: ctx, envelope: env };
    const r = this.#calls.runSync(ctx, () => withDelivery(delivery, call), (err) => lateInterceptorError(entry, ctx, err));
    if (!r.ran) {
      throw new InterceptorFailed(event, kind, `no interceptor called next() before its first await, and the sync path cannot wait: use invoke()/hook()`, { plugin: entry.name });
    }
    return r.value;
  }

  // ── typed exports and app-interface calls ──────────────────────────────

  /** What wiring (interfaces/wiring.ts) needs of the registry, for one plugin being prepared. */
  #wiringHost(entry: Entry): WiringHost {
    return {
      providers: this.#ifaces,
      manifestOf: (name) => this.#wiringBatch.get(name) ?? this.#entries.get(name)?.manifest,
      activeInterfaces: (name) => {
        const e = this.#entries.get(name);
        return e && (e.state === "active" || e.state === "suspended") ? e.ifaces : undefined;
      },
      run: (hostCall, fn, self, args) => this.#ifaceHostCall(entry, hostCall, fn, self, args),
      callWired: (exporter, iface, fn, label, args) => this.#callWired(entry, exporter, iface, fn, label, args),
    };
  }

  /**
   * A host implementation's call for `entry`'s guest: in the guest's call when it has a context; through the
   * interceptors when any. Its thunks are made by `applier`: a closure written here would make every call allocate
   * (the variables it captures), even a call that never makes it.
   */
  #ifaceHostCall(entry: Entry, hostCall: string, fn: InterfaceFunction, self: unknown, args: unknown[]): unknown {
    const f = fn as (...a: unknown[]) => unknown;
    if (this.#calls.empty) {
      const parent = (currentDelivery() ?? entry.callDelivery ?? deepest(entry.inFlight)).call;
      return parent === undefined ? f.apply(self, args) : withCall(parent, applier(f, self, args));
    }
    return this.#hostCall(entry, hostCall, applier(f, self, args));
  }

  /**
   * An importer's call of the plugin its import is wired to: on the JS thread when the exporter can take it now (a
   * value), else queued as any call (a Promise, for importers that can wait). No cycle exists (refused at load), so the
   * exporter is never mid-call on this stack.
   */
  #callWired(importer: Entry, exporter: string, iface: string, fn: string, label: string, args: unknown[]): unknown {
    const target = this.#entries.get(exporter);
    if (!target || (target.state !== "active" && target.state !== "suspended")) {
      throw new InterfaceUnavailable(iface, "missing", `plugin "${exporter}", which plugin "${importer.name}" imports it from, is not running${target ? ` (${target.state})` : ""}`, { plugin: importer.name });
    }
    const instance = target.instance;
    if (target.active && instance?.callExportSync && !target.restarting && (instance.inline || target.pending === 0)) {
      return this._exportSync(target, instance, iface, fn, label, args);
    }
    const parent = (currentDelivery() ?? importer.callDelivery ?? deepest(importer.inFlight)).call;
    return this.#export(target, iface, fn, label, args, undefined, parent === undefined ? HOST_ORIGIN : { hop: 0, chain: undefined, parent });
  }

  /** @internal `handle.call`: find the export, then call it through the pipeline. */
  _callTyped(name: string, iface: string, fn: string, args: unknown[]): Promise<unknown> {
    try {
      const entry = this.#get(name);
      if (this.#mustActivate(entry)) return this.#activateNamed(name, `call:${iface}#${fn}`).then((err) => (err ? Promise.reject(err) : this._callTyped(name, iface, fn, args)));
      const t = findExport(entry.name, entry.ifaces, iface, fn);
      return this.#export(entry, t.id, t.fn, t.label, args, undefined, hostDelivery(t.label, "event", EMPTY, name, undefined));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A typed export call through the pipeline (see `#event`). */
  #export(entry: Entry, iface: string, fn: string, label: string, args: readonly unknown[], hostContext: unknown, delivery: Delivery): Promise<unknown> {
    if (this.#calls.empty && hostContext === undefined && delivery.parent === undefined) return this.#callExport(entry, iface, fn, label, args, delivery);
    const ctx = this.#calls.context(entry.name, label, "export", deadlineOf(entry), delivery.parent, hostContext);
    const within = inCall(delivery, ctx);
    if (this.#calls.empty) return this.#callExport(entry, iface, fn, label, args, within);
    return this.#calls.run(ctx, () => this.#callExport(entry, iface, fn, label, args, within), anyOutcome);
  }

  async #callExport(entry: Entry, iface: string, fn: string, label: string, args: readonly unknown[], delivery: Delivery): Promise<unknown> {
    while (entry.restarting) await entry.restarting;
    const instance = entry.instance;
    if (entry.state !== "active" || !instance) throw notRunning(entry);
    if (!instance.callExport) throw new InterfaceUnavailable(iface, "missing", `the ${entry.engine} engine cannot call typed exports`, { plugin: entry.name });
    entry.metrics.calls++;
    const probe = entry.probe;
    const t0 = probe === undefined ? -1 : probe.begin(label);
    try {
      const out = await this.#serial(entry, instance, () => instance.callExport!(iface, fn, args), delivery);
      if (entry.instance === instance) entry.restartCount = 0;
      return out;
    } catch (err) {
      throw this._callFailed(entry, instance, err, label, delivery.call);
    } finally {
      if (t0 >= 0) probe!.end(label, t0);
    }
  }

  /** @internal A typed export call on the JS thread (`handle.callSync`, a wired import the exporter can take now). */
  _exportSync(entry: Entry, instance: EngineInstance, iface: string, fn: string, label: string, args: readonly unknown[]): unknown {
    entry.metrics.calls++;
    if (this._observed) return this._observedSync(entry, instance, label, "export", EMPTY, (i) => i.callExportSync!(iface, fn, args));
    const env = entry.syncEnvelope;
    env.id = 0;
    env.event = label;
    env.kind = "event";
    env.data = EMPTY;
    env.metadata = NO_METADATA;
    const previous = enterDelivery(entry.syncDelivery);
    try {
      const out = instance.callExportSync!(iface, fn, args);
      entry.restartCount = 0;
      return out;
    } catch (err) {
      throw this._callFailed(entry, instance, err, label);
    } finally {
      restoreDelivery(previous);
    }
  }

  /**
   * Invoke one plugin's callback for `event`; resolves to the callback's status (0 = success).
   * A call made while the plugin restarts after a fault waits for the restart.
   *
   * @throws {@link PluginNotFound} when no plugin of that name is tracked.
   * @throws {@link PluginNotRunning} when it is not active (suspended, unloaded, disabled after faults).
   * @throws {@link InvocationFailed} when it has not registered a callback for `event`.
   * @throws {@link InstanceFault} when the guest faults: `PluginTrap`, `FuelExhausted`, `DeadlineExceeded`,
   *   `MemoryLimitExceeded`, `PluginExited`, `PluginCrashed`, … (the instance is discarded; recovery follows).
   * @throws {@link InterceptorFailed} when an interceptor fails the call.
   */
  invoke(name: string, event: string, data: Uint8Array = EMPTY, options?: CallOptions): Promise<number> {
    // Not `async`: an async function returning the call's promise would add two microtask turns to every call.
    try {
      options = withContextMetadata(options);
      const entry = this.#get(name);
      if (this.#mustActivate(entry)) return this.#activateNamed(name, `invoke:${event}`).then((err) => (err ? Promise.reject(err) : this.invoke(name, event, data, options)));
      return this.#event(entry, event, data, hostDelivery(event, "event", data, name, options), "invoke", options?.hostContext);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** `invoke` as a delivery of `delivery`'s message chain: the messages the call emits continue that chain. */
  #invokeIn(name: string, event: string, data: Uint8Array, delivery: Delivery): Promise<number> {
    return this.#event(this.#get(name), event, data, delivery, "message", undefined);
  }

  /**
   * A callback call through the pipeline. Without interceptors, a caller's
   * host context or a parent context to pass on, no context is made.
   */
  #event(entry: Entry, event: string, data: Uint8Array, delivery: Delivery, kind: CallKind, hostContext: unknown): Promise<number> {
    if (this.#calls.empty && hostContext === undefined && delivery.parent === undefined) return this.#callEvent(entry, event, data, delivery);
    const ctx = this.#calls.context(entry.name, event, kind, deadlineOf(entry), delivery.parent, hostContext);
    const within = inCall(delivery, ctx);
    if (this.#calls.empty) return this.#callEvent(entry, event, data, within);
    return this.#calls.run(ctx, () => this.#callEvent(entry, event, data, within), isStatus);
  }

  /** A host call by `entry`'s guest: through the interceptors, with the guest's call as the call in progress. */
  #hostCall<T>(entry: Entry, hostCall: string, run: () => T): T {
    const parent = (currentDelivery() ?? entry.callDelivery ?? deepest(entry.inFlight)).call;
    if (this.#calls.empty) return parent ? withCall(parent, run) : run();
    const ctx = this.#calls.context(entry.name, hostCall, "host-call", undefined, parent, undefined);
    // An interceptor cannot refuse or fail a host call (the guest sees the contract's behaviour): its errors are
    // logged, and the host call runs anyway if none ran it.
    let state = "pending" as "pending" | "ran" | "threw"; // set inside inParent, which TS does not follow
    let value: T | undefined;
    let thrown: unknown;
    // Runs once: an interceptor that calls next() only after an await has had the call run without it (below), and
    // its late next() gets that outcome. Running it again would repeat the guest's request or emit, with arguments
    // the engine may have reused since (a request's data is lent for the call).
    const inParent = (): T => {
      if (state === "ran") return value as T;
      if (state === "threw") throw thrown;
      try {
        value = withCall(parent, run);
        state = "ran";
        return value;
      } catch (err) {
        state = "threw";
        thrown = err;
        throw err;
      }
    };
    try {
      this.#calls.runSync(ctx, inParent, (err) => lateInterceptorError(entry, ctx, err), "run");
    } catch (err) {
      if (state === "threw") throw err;
      lateInterceptorError(entry, ctx, err);
    }
    return state === "ran" ? (value as T) : inParent();
  }

  /**
   * One plugin's callback, on the entry itself (dispatch and message delivery come here, not through `invoke`).
   * The usual call (no stand-in, no restart under way, not one strategy "retry" may re-issue) is issued without an
   * async frame: an inline instance's call runs in the queue's turn and settles the promise the caller gets (one
   * promise, two microtask turns); an ordered instance's (a worker's) promise gets one `then`. Same checks, metrics,
   * ambient delivery and fault handling as `#callEventFull`, in the same order.
   */
  #callEvent(entry: Entry, event: string, data: Uint8Array, delivery: Delivery, retried = false): Promise<number> {
    // A call strategy "retry" may re-issue waits for the restart outside the queue: the full path.
    const retryable = entry.recovery !== undefined && retriesCall(entry.recovery, event);
    if (retried || retryable || entry.restarting !== undefined || (entry.standIn !== undefined && this.#failed(entry))) return this.#callEventFull(entry, event, data, delivery, retried);
    let instance: EngineInstance;
    try {
      instance = this.#readyNow(entry, event);
    } catch (err) {
      return Promise.reject(err);
    }
    entry.metrics.calls++;
    const probe = entry.probe;
    const t0 = probe === undefined ? -1 : probe.begin(event);
    if (instance.inline && instance.onEventSync !== undefined && !instance.ordered) {
      // As `#serial`: after the calls queued before it, with the delivery held on the entry and ambient while it runs.
      const start = (): number | Promise<number> => {
        entry.callDelivery = delivery;
        const previous = enterDelivery(delivery);
        let status: number;
        try {
          status = instance.onEventSync!(event, data);
        } catch (err) {
          restoreDelivery(previous);
          this.#eventDone(entry, delivery);
          return this.#eventFailed(entry, instance, err, event, delivery, probe, t0);
        }
        restoreDelivery(previous);
        this.#eventDone(entry, delivery);
        if (entry.instance === instance) entry.restartCount = 0;
        if (t0 >= 0) probe!.end(event, t0);
        return status;
      };
      entry.pending++;
      // The queue may hold a rejected call: the next call's `then(start, start)` runs after it all the same.
      const run = entry.queue.then(start, start);
      entry.queue = run;
      return run;
    }
    const failed = (err: unknown): never => this.#eventFailed(entry, instance, err, event, delivery, probe, t0);
    // A success has nothing to do unless a retry series is to be ended or the call is timed.
    const plain = t0 < 0 && entry.restartCount === 0;
    let run: Promise<number>;
    if (instance.ordered && delivery.hop === 0) {
      // `#serial`'s ordered case for a call the host made, without its closures.
      const previous = enterDelivery(delivery);
      try {
        // The engine settles the caller's promise itself (one promise per call, not a `then` on the engine's).
        if (plain && instance.onEventCatch !== undefined) return instance.onEventCatch(event, data, failed);
        run = instance.onEvent(event, data);
      } catch (err) {
        run = Promise.reject(err);
      } finally {
        restoreDelivery(previous);
      }
    } else {
      try {
        run = this.#serial(entry, instance, () => instance.onEvent(event, data), delivery);
      } catch (err) {
        run = Promise.reject(err);
      }
    }
    if (plain) return run.then(undefined, failed);
    return run.then((status) => {
      if (entry.instance === instance) entry.restartCount = 0;
      if (t0 >= 0) probe!.end(event, t0);
      return status;
    }, failed);
  }

  /** A queued inline call is over (`#serial`'s `finish`). */
  #eventDone(entry: Entry, delivery: Delivery): void {
    entry.pending--;
    if (entry.callDelivery === delivery) entry.callDelivery = undefined;
  }

  /** `#callEvent`'s failure, classified and attributed (the calls strategy "retry" may re-issue take `#callEventFull`). */
  #eventFailed(entry: Entry, instance: EngineInstance, err: unknown, event: string, delivery: Delivery, probe: PluginProbe | undefined, t0: number): never {
    try {
      throw this._callFailed(entry, instance, err, event, delivery.call);
    } finally {
      if (t0 >= 0) probe!.end(event, t0);
    }
  }

  /** `#callEvent` for a call that may wait (a restart under way), go to a stand-in, or be a retry. */
  async #callEventFull(entry: Entry, event: string, data: Uint8Array, delivery: Delivery, retried = false): Promise<number> {
    if (entry.standIn !== undefined && this.#failed(entry)) {
      const standIn = this.#standIn(entry, event);
      if (standIn) return this.#callEvent(standIn, event, data, delivery);
    }
    const instance = entry.restarting ? await this.#ready(entry, event) : this.#readyNow(entry, event);
    entry.metrics.calls++;
    const probe = entry.probe;
    const t0 = probe === undefined ? -1 : probe.begin(event);
    try {
      const status = await this.#serial(entry, instance, () => instance.onEvent(event, data), delivery);
      if (entry.instance === instance) entry.restartCount = 0; // it works again: a later fault starts a new series of retries
      return status;
    } catch (err) {
      const error = this._callFailed(entry, instance, err, event, delivery.call);
      // Strategy "retry": an idempotent call is issued once more, on the fresh instance.
      if (!retried && this.#retries(entry, error, event)) return this.#callEventFull(entry, event, data, delivery, true);
      throw error;
    } finally {
      if (t0 >= 0) probe!.end(event, t0);
    }
  }

  /**
   * Run one plugin's hook transform on `data`.
   * @throws {@link PluginNotFound}, {@link PluginNotRunning}, {@link InvocationFailed}, {@link InstanceFault},
   *   {@link InterceptorFailed} as `invoke`.
   */
  hook(name: string, event: string, data: Uint8Array = EMPTY, options?: CallOptions): Promise<HookOutcome> {
    try {
      options = withContextMetadata(options);
      const entry = this.#get(name);
      if (this.#mustActivate(entry)) return this.#activateNamed(name, `hook:${event}`).then((err) => (err ? Promise.reject(err) : this.hook(name, event, data, options)));
      return this.#hook(entry, event, data, options?.hostContext, hostDelivery(event, "hook", data, name, options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * A hook call through the pipeline (see `#event`); `delivery` carries its envelope (and a request's chain);
   * `timeoutMs`: a hook chain step's own timeout (docs/hooks.md).
   */
  #hook(entry: Entry, event: string, data: Uint8Array, hostContext: unknown, delivery: Delivery = HOST_ORIGIN, timeoutMs?: number): Promise<HookOutcome> {
    if (this.#calls.empty && hostContext === undefined && delivery.parent === undefined) return this.#callHook(entry, event, data, delivery, timeoutMs);
    const ctx = this.#calls.context(entry.name, event, "hook", deadlineOf(entry), delivery.parent, hostContext);
    const within = inCall(delivery, ctx);
    if (this.#calls.empty) return this.#callHook(entry, event, data, within, timeoutMs);
    return this.#calls.run(ctx, () => this.#callHook(entry, event, data, within, timeoutMs), isHookOutcome);
  }

  async #callHook(entry: Entry, event: string, data: Uint8Array, delivery: Delivery, timeoutMs?: number, retried = false): Promise<HookOutcome> {
    if (entry.retryHanded) {
      entry.retryHanded = false;
      retried = true;
    }
    if (entry.standIn !== undefined && this.#failed(entry)) {
      const standIn = this.#standIn(entry, event);
      if (standIn) return this.#callHook(standIn, event, data, delivery, timeoutMs);
    }
    const instance = entry.restarting ? await this.#ready(entry, event) : this.#readyNow(entry, event);
    entry.metrics.calls++;
    const probe = entry.probe;
    const t0 = probe === undefined ? -1 : probe.begin(event);
    const call = timeoutMs === undefined ? () => instance.onHook(event, data) : () => this.#hookWithin(entry, instance, event, data, timeoutMs);
    try {
      const outcome = await this.#serial(entry, instance, call, delivery);
      if (entry.instance === instance) entry.restartCount = 0;
      return outcome;
    } catch (err) {
      const error = this._callFailed(entry, instance, err, event, delivery.call);
      if (!retried && this.#retries(entry, error, event)) return this.#callHook(entry, event, data, delivery, timeoutMs, true);
      throw error;
    } finally {
      if (t0 >= 0) probe!.end(event, t0);
    }
  }

  /**
   * A hook call bounded by its policy's timeout. An engine that runs the call elsewhere (worker, wasmtime, sandboxed
   * native) has it stopped: the instance is disposed, which ends the call. In process the call cannot be interrupted
   * (fuel bounds it): one that returns past its timeout is discarded. Either way it is a `DeadlineExceeded` fault of
   * the instance, so recovery replaces it.
   */
  async #hookWithin(entry: Entry, instance: EngineInstance, event: string, data: Uint8Array, timeoutMs: number): Promise<HookOutcome> {
    const timedOut = () => {
      const err = new DeadlineExceeded("on-hook", timeoutMs, { plugin: entry.name });
      err.message += ` (the hook's timeout-ms on "${event}"); the instance was stopped and is replaced`;
      return err;
    };
    if (instance.inline) {
      const t0 = performance.now();
      const outcome = await instance.onHook(event, data);
      if (performance.now() - t0 > timeoutMs) throw timedOut();
      return outcome;
    }
    return withDeadline(instance.onHook(event, data), timeoutMs, async () => {
      await settleWithin(instance.dispose().catch((err: unknown) => logCleanupFailure(entry, err)), timeoutMs);
      return timedOut();
    });
  }

  /**
   * Deliver an event to every plugin registered for it, in priority order.
   * The subscribers are those active (or restarting after a fault) when the
   * dispatch begins: each is called exactly once, whatever restarts, reloads
   * (the new version is called) or unloads happen meanwhile. A failure never
   * stops the others; it is reported in its result, as is a subscriber that
   * cannot be called (`PluginNotRunning`: disabled after faults, unloaded, or
   * suspended after the dispatch began). Suspended plugins are left out.
   *
   * @throws {@link InvalidCallbackName} when `event` breaks the naming rules; every other failure is in the results.
   */
  async dispatch(event: string, data: Uint8Array = EMPTY, options?: CallOptions): Promise<DispatchResult[]> {
    checkEventName(event);
    options = withContextMetadata(options);
    // Lazy plugins waiting for the event are activated first, so it reaches them (a failed activation is a result).
    const results: DispatchResult[] = this.#lazy.size !== 0 && this.#lazy.has(event) ? await this.#activateFor(event) : [];
    const hostContext = options?.hostContext;
    const callees = this.#callees(event);
    const epoch = this.#callbacksEpoch;
    const watch = this._chains?.begin("dispatch", event, hostContext);
    // Without interceptors or a host context, runs of idle in-process subscribers are called synchronously: no
    // promise and no microtask per plugin (a fan-out to 100 C plugins is then about 100 direct calls).
    const direct = this.#calls.empty && hostContext === undefined && watch === undefined;
    // One envelope for the whole dispatch (a broadcast, like an emit); its id is taken only if someone asks. A
    // dispatch that only calls directly uses the registry's reusable one (no allocation); the dispatch gets its own
    // (same id) once a callee is called the ordinary way, which holds it across awaits.
    const metadata = options?.metadata;
    let delivery: Delivery | undefined = direct && metadata === undefined ? undefined : hostDelivery(event, "event", data, undefined, options);
    let i = 0;
    while (i < callees.length) {
      if (direct) {
        const shared = delivery === undefined && !this.#directBusy;
        const d = delivery ?? (shared ? this.#directDelivery : (delivery = hostDelivery(event, "event", data, undefined, options)));
        if (shared) {
          const env = d.envelope!;
          env.id = 0;
          env.event = event;
          env.data = data;
          this.#directBusy = true; // a dispatch made inside this loop (a host service's) gets its own
        }
        const previous = enterDelivery(d);
        try {
          i = this.#metrics.perCall
            ? this.#dispatchDirectProbed(callees, i, event, data, results, epoch)
            : this.#dispatchDirect(callees, i, event, data, results, epoch);
        } finally {
          restoreDelivery(previous);
          if (shared) this.#directBusy = false;
        }
        if (shared && i < callees.length) delivery = { hop: 0, chain: undefined, envelope: { ...d.envelope! } };
      }
      if (i === callees.length) break;
      const slow = (delivery ??= hostDelivery(event, "event", data, undefined, options));
      const entry = latest(callees[i++]!);
      // The direct path stopped at a faulted call that strategy "retry" issues again (direct: #event would call #callEvent).
      const retry = this.#retryNext;
      this.#retryNext = false;
      try {
        const call = retry
          ? this.#callEvent(entry, event, data, slow, true)
          : watch
            ? watch.step(() => this.#event(entry, event, data, slow, "dispatch", hostContext))
            : this.#event(entry, event, data, slow, "dispatch", hostContext);
        results.push({ plugin: entry.name, status: await call });
      } catch (err) {
        results.push({ plugin: entry.name, error: asPlughostError(err, entry.name) });
      }
    }
    return watched(watch, results);
  }

  /**
   * The fast path of `dispatch`. Call `callees[from…]` synchronously while each can be (an inline engine, idle, active, registered for
   * `event`); returns the index of the first that cannot, which the caller then calls the ordinary way.
   */
  #dispatchDirect(callees: readonly Entry[], from: number, event: string, data: Uint8Array, results: DispatchResult[], epoch: number): number {
    let i = from;
    for (; i < callees.length; i++) {
      const subscriber = callees[i]!;
      const entry = latest(subscriber);
      const instance = entry.instance;
      if (!instance?.inline || !instance.onEventSync || entry.pending !== 0 || entry.restarting !== undefined) break;
      if (!entry.active) break;
      // A subscriber listed when the dispatch began, not restarting, has the callback, unless a restart has cleared
      // callbacks since (the epoch) or a reload replaced it: only then is the set consulted (a lookup per plugin
      // costs as much as the rest of this loop).
      if ((entry !== subscriber || this.#callbacksEpoch !== epoch) && !entry.callbacks.has(event)) break;
      entry.metrics.calls++;
      try {
        const status = instance.onEventSync(event, data);
        entry.restartCount = 0;
        results.push({ plugin: entry.name, status });
      } catch (err) {
        const error = this._callFailed(entry, instance, err, event);
        if (this.#retries(entry, error, event)) {
          this.#retryNext = true; // dispatch re-issues it the ordinary way, once the instance is back
          return i;
        }
        results.push({ plugin: entry.name, error });
      }
    }
    return i;
  }

  /** `#dispatchDirect` with per-call metrics: the same loop, each call counted (and sometimes timed) by its probe. */
  #dispatchDirectProbed(callees: readonly Entry[], from: number, event: string, data: Uint8Array, results: DispatchResult[], epoch: number): number {
    let i = from;
    for (; i < callees.length; i++) {
      const subscriber = callees[i]!;
      const entry = latest(subscriber);
      const instance = entry.instance;
      if (!instance?.inline || !instance.onEventSync || entry.pending !== 0 || entry.restarting !== undefined) break;
      if (!entry.active) break;
      if ((entry !== subscriber || this.#callbacksEpoch !== epoch) && !entry.callbacks.has(event)) break;
      entry.metrics.calls++;
      const probe = entry.probe!;
      const t0 = probe.begin(event);
      try {
        const status = instance.onEventSync(event, data);
        entry.restartCount = 0;
        results.push({ plugin: entry.name, status });
      } catch (err) {
        const error = this._callFailed(entry, instance, err, event);
        if (this.#retries(entry, error, event)) {
          this.#retryNext = true; // dispatch re-issues it the ordinary way, once the instance is back
          return i;
        }
        results.push({ plugin: entry.name, error });
      }
      if (t0 >= 0) probe.end(event, t0);
    }
    return i;
  }

  /**
   * Chain `data` through every hook registered for `event` (plugins' and the
   * host's own, `addHook`), highest priority first: each hook's output is the
   * next one's input. An `err(status)` stops the chain; a failing hook is
   * reported in `errors` and, by its `on-error` (default: the host's
   * `hooks.defaultOnError`, "fail"), the end of the chain or skipped. Per-hook
   * timeouts, retries after a fault and async observers: docs/hooks.md. The
   * hooks are those of `dispatch`: fixed when the chain begins, each called at
   * most once (a retry aside).
   *
   * @throws {@link InvalidCallbackName} when `event` breaks the naming rules; failing hooks are in `errors`.
   */
  runHook(event: string, data: Uint8Array = EMPTY, options?: CallOptions): Promise<HookChainResult> {
    try {
      checkEventName(event);
      options = withContextMetadata(options);
    } catch (err) {
      return Promise.reject(err);
    }
    // Lazy plugins waiting for the event are activated before the chain's hooks are listed.
    if (this.#lazy.size !== 0 && this.#lazy.has(event)) return this.#activateFor(event).then(() => this.#chains.run(event, data, options));
    return this.#chains.run(event, data, options);
  }

  /**
   * Take part in `event`'s hook chains from the host: `fn(data, ctx)` runs in priority order among the plugins'
   * hooks (at equal priority after them) and returns new data, `undefined` (pass the data on) or a `HookOutcome`
   * (`{ ok: false, status }` stops the chain), at once or as a promise. `ctx` holds the chain's execution id, start
   * time, a state map shared by the chain's host hooks, the host context and this step's message. Options:
   * `priority` (a number or CRITICAL / HIGH / NORMAL / LOW / CLEANUP), `name`, `onError` ("fail" | "skip"),
   * `timeoutMs`, `async` (an observer after the chain). Returns a function that removes it (docs/hooks.md).
   *
   * @throws {@link InvalidCallbackName} when `event` breaks the naming rules.
   * @throws {@link PolicyInvalid} for a bad option, or `onError: "skip"` where the host forbids fail-open.
   */
  addHook(event: string, fn: HostHookFn, options?: HostHookOptions): () => void {
    checkEventName(event);
    return this.#chains.add(event, fn, options);
  }

  /** How the hook chains' observers (async hooks) have fared: runs, failures, timeouts, per hook and event. */
  hookObservers(): ObserverStats[] {
    return this.#chains.observerStats();
  }

  /** Resolves once every observer (async hook) started so far has finished. */
  settleHookObservers(): Promise<void> {
    return this.#chains.settleObservers();
  }

  /** The registry's side of the hook chains (src/hooks/chain.ts). */
  #chainHost() {
    return {
      callees: (event: string) => this.#callees(event),
      epoch: () => this.#callbacksEpoch,
      latest,
      nameOf: (e: Entry) => e.name,
      priorityOf: hookPriority,
      declared: (e: Entry, event: string) => e.hookPolicies?.get(event),
      canRunDirect: (hostContext: unknown) => this.#calls.empty && hostContext === undefined && this._chains === undefined,
      runDirect: (plugins: readonly Entry[], from: number, run: DirectRun) => this.#hookDirect(plugins, from, run),
      call: (e: Entry, event: string, data: Uint8Array, step: StepOptions) => {
        try {
          const delivery: Delivery = step.envelope === undefined ? HOST_ORIGIN : { hop: 0, chain: undefined, envelope: step.envelope };
          return this.#hook(e, event, data, step.hostContext, delivery, step.timeoutMs);
        } catch (err) {
          return Promise.reject(asPlughostError(err, e.name));
        }
      },
      watch: (event: string, hostContext: unknown) => this._chains?.begin("runHook", event, hostContext),
      observerFailed: (failure: ObserverFailure) => {
        this.emit("observer-failed", failure);
      },
    };
  }

  /**
   * The fast path of `runHook`, as `#dispatchDirect`: call `plugins[from…]` synchronously while each can be (an inline
   * engine, idle, active, registered, no hook policy); returns the index of the first that cannot.
   */
  #hookDirect(plugins: readonly Entry[], from: number, run: DirectRun): number {
    const event = run.event;
    // Outputs go into two sinks in turn, not new arrays (a step's input stays intact while it writes the other); the
    // final data is copied out once, as this run ends. A chain run during a step (a host service's) gets its own
    // sinks and delivery.
    const own = !this.#hookSinksBusy;
    const sinks = own ? this.#hookSinks : [newHookSink(), newHookSink()];
    this.#hookSinksBusy = true;
    // One envelope for the run, rewritten per step (its id is taken only if a guest asks: messaging/envelope.ts);
    // the registry's own, as dispatch's, when no other run is using it.
    let delivery: Delivery;
    if (own) {
      delivery = this.#hookDelivery;
      const e = delivery.envelope!;
      e.event = event;
      e.parentId = run.parent === undefined ? undefined : messageId(run.parent);
      e.metadata = run.metadata ?? run.parent?.metadata ?? NO_METADATA;
    } else {
      delivery = { hop: 0, chain: undefined, envelope: envelope(event, "hook", run.data, undefined, undefined, run.parent, run.metadata) };
    }
    const env = delivery.envelope!;
    const previous = enterDelivery(delivery);
    let i = from;
    try {
      for (; i < plugins.length; i++) {
        const subscriber = plugins[i]!;
        const entry = latest(subscriber);
        const instance = entry.instance;
        if (!instance?.inline || !instance.onHookSync || entry.pending !== 0 || entry.restarting !== undefined || !entry.active) break;
        if (entry.hookPolicies !== undefined && entry.hookPolicies.has(event)) break;
        // As in #dispatchDirect: the callback set is consulted only after a restart cleared callbacks or a reload.
        if ((entry !== subscriber || this.#callbacksEpoch !== run.epoch) && !entry.callbacks.has(event)) break;
        entry.metrics.calls++;
        const probe = entry.probe;
        const t0 = probe === undefined ? -1 : probe.begin(event);
        env.id = 0;
        env.data = run.data;
        let outcome: HookOutcome;
        try {
          const into = (instance as Partial<SinkHookCall>).onHookSyncInto;
          const d = run.data;
          const from = d === sinks[0]!.view ? sinks[0] : d === sinks[1]!.view ? sinks[1] : undefined;
          outcome = into === undefined ? instance.onHookSync(event, d) : into.call(instance, event, d, from === sinks[0] ? sinks[1]! : sinks[0]!, from);
          entry.restartCount = 0;
        } catch (err) {
          const error = this._callFailed(entry, instance, err, event);
          if (this.#retries(entry, error, event)) {
            entry.retryHanded = true; // the chain's ordinary step re-issues it once the instance is back, and only once
            return i;
          }
          run.errors.push({ plugin: entry.name, error });
          if (run.failClosed) {
            run.stop = { plugin: entry.name, error };
            return i + 1;
          }
          continue;
        } finally {
          if (t0 >= 0) probe!.end(event, t0);
        }
        if (!outcome.ok) {
          run.stop = { plugin: entry.name, status: outcome.status };
          return i + 1;
        }
        run.data = outcome.data;
      }
      return i;
    } finally {
      restoreDelivery(previous);
      if (own) this.#hookSinksBusy = false;
      const d = run.data;
      if (d === sinks[0]!.view || d === sinks[1]!.view) run.data = new Uint8Array(d); // a copy: cheaper than slice()
    }
  }

  /**
   * A copy of `event`'s subscribers taken when a dispatch begins: the live
   * list changes under it (restarts, reloads, unloads), and iterating it
   * would skip or repeat plugins. Suspended plugins are left out; a disabled
   * one stays, so that its hook is reported missing rather than bypassed.
   */
  #callees(event: string): Entry[] {
    const list = this.#subscribers.get(event);
    if (!list) return [];
    // The field, not the state getter: a fan-out to 1,000 plugins then touches no lifecycle object.
    const callees = list.filter((e) => !e.suspended);
    return this.#standIns ? this.#withStandIns(callees, event) : callees;
  }

  /** Strategy "fallback": a failed plugin's place goes to its stand-in, and no plugin is listed twice. */
  #withStandIns(callees: readonly Entry[], event: string): Entry[] {
    const out: Entry[] = [];
    for (const e of callees) {
      const pick = (e.standIn !== undefined && this.#failed(e) ? this.#standIn(e, event) : undefined) ?? e;
      if (!out.includes(pick)) out.push(pick);
    }
    return out;
  }

  /** `t`, or its stand-in when it is disabled and has one for `event` (a restarting one's calls are handed over in #callHook). */
  #standInFor(t: Entry | undefined, event: string): Entry | undefined {
    if (t === undefined || t.standIn === undefined || t.state !== "error") return t;
    return this.#standIn(t, event) ?? t;
  }

  /** Without an instance while it restarts (a fault's backoff, a re-creation), or disabled (by faults or by `disable`). */
  #failed(entry: Entry): boolean {
    return entry.state === "error" || (entry.restarting !== undefined && !(entry.active && entry.instance !== undefined));
  }

  /** The plugin standing in for `entry` for `event`: loaded, active, registered for it. */
  #standIn(entry: Entry, event: string): Entry | undefined {
    const s = this.#entries.get(entry.standIn as string);
    const e = s && latest(s);
    return e && e !== entry && e.active && e.restarting === undefined && e.callbacks.has(event) ? e : undefined;
  }

  /** Whether strategy "retry" issues a faulted call of `event` again: an instance fault, idempotent, the instance being re-created. */
  #retries(entry: Entry, error: PlughostError, event: string): boolean {
    return entry.recovery !== undefined && entry.restarting !== undefined && isInstanceFault(error) && retriesCall(entry.recovery, event);
  }

  /** Plugins registered for `event`, in the order dispatch visits them. */
  subscribers(event: string): string[] {
    return (this.#subscribers.get(event) ?? []).map((e) => e.name);
  }

  /**
   * Wait for the instance and check the call is allowed. A call that arrives
   * while the plugin restarts after a fault waits for the restart (its
   * backoff, the instantiation and init, which `limits.initDeadlineMs`
   * bounds), and gets the restart's error if that fails.
   */
  async #ready(entry: Entry, event: string): Promise<EngineInstance> {
    while (entry.restarting) await entry.restarting;
    return this.#readyNow(entry, event);
  }

  /** `#ready` when no restart is in progress: no await, so no microtask turn per call. */
  #readyNow(entry: Entry, event: string): EngineInstance {
    if (entry.state !== "active" || !entry.instance) throw notRunning(entry);
    if (!entry.callbacks.has(event)) throw notRegistered(entry, event);
    return entry.instance;
  }

  /**
   * Calls into one instance never overlap, whatever the engine. An `ordered`
   * instance (a worker) queues them itself, so they are issued at once and
   * pipeline; the others wait for the previous call here.
   */
  #serial<T>(entry: Entry, instance: EngineInstance, call: () => Promise<T>, delivery: Delivery = HOST_ORIGIN): Promise<T> {
    // The call's emits and sends continue `delivery`'s chain. It is ambient while the call is issued (engines that run
    // it then, or note it per call), and held on the entry while it runs (engines that run one call at a time and
    // answer its host calls later).
    if (instance.ordered) {
      // Issued at once: the instance orders its calls. Only a message's delivery (hop > 0) needs a place in
      // `inFlight`, the fallback of engines whose host calls do not say which call they belong to (`deepest`):
      // one the host made is what that fallback answers anyway.
      if (delivery.hop === 0) return withDelivery(delivery, call);
      entry.inFlight.push(delivery);
      const run = withDelivery(delivery, call);
      const done = () => void entry.inFlight.splice(entry.inFlight.indexOf(delivery), 1);
      void run.then(done, done);
      return run;
    }
    const start = () => {
      entry.callDelivery = delivery;
      return withDelivery(delivery, call);
    };
    const finish = () => {
      entry.pending--;
      if (entry.callDelivery === delivery) entry.callDelivery = undefined;
    };
    entry.pending++;
    const run = entry.queue.then(start, start);
    entry.queue = run.then(finish, finish);
    return run;
  }

  /**
   * @internal Classify a failed call: faults are recorded and trigger recovery,
   * once per instance (calls already queued on a faulted instance fail with
   * the same fault, which must not discard its replacement).
   */
  _callFailed(entry: Entry, instance: EngineInstance, err: unknown, event: string, call?: CallContext): PlughostError {
    const error = asPlughostError(err, entry.name);
    entry.metrics.errors++;
    this.#metrics.error(entry.name, error.code);
    const callId = (call ?? currentCall())?.callId;
    this.#logStore.error({
      plugin: entry.name,
      code: error.code,
      message: error.message,
      event,
      time: Date.now(),
      ...(callId !== undefined ? { callId } : {}),
      ...(error.stack !== undefined ? { stack: error.stack } : {}),
    });
    if (isInstanceFault(error) && instance === entry.instance) this.#onFault(entry, error);
    return error;
  }

  #onFault(entry: Entry, error: InstanceFault): void {
    entry.metrics.faults++;
    const kind = faultKind(error);
    if (kind === "crash") entry.metrics.crashes++;
    this.emit("fault", { plugin: entry.name, error });
    const broken = entry.instance;
    bankFuel(entry);
    entry.instance = undefined;
    void broken?.dispose().catch((err: unknown) => logCleanupFailure(entry, err));
    // Counted once: an engine that stopped the instance (e.g. between calls) already recorded the violation.
    const reported = broken !== undefined && this.#stopReported.get(broken)?.reported === true;
    const usage = error instanceof ResourceLimitExceeded ? resourceUsage(error) : undefined; // the figures travel with it
    const unmounting = !reported && this.recordViolation(entry.name, kind, error.message, usage);
    // A suspended plugin is recovered too (a fault in on-suspend, or in a call in flight at the suspend), and stays suspended.
    if (unmounting || entry.stopping || (entry.state !== "active" && entry.state !== "suspended")) return;
    const suspended = entry.state === "suspended";
    const policy = entry.recovery ?? this.#recovery;
    if (policy.strategy === "disable" || (policy.strategy !== "ignore" && entry.restartCount >= policy.maxRetries)) {
      entry.disabled = policy.strategy === "disable" ? `fault: ${error.message}` : `${entry.restartCount} restarts used up (recovery.maxRetries); last fault: ${error.message}`;
      entry.lifecycle.to("error");
      entry.logger.error({ code: error.code }, `disabled after fault: ${error.message}`);
      this.emit("disabled", { plugin: entry.name, reason: entry.disabled });
      return;
    }
    entry.restarting = this.#restart(entry, policy)
      .then(() => {
        if (suspended && entry.lifecycle.state === "active") entry.lifecycle.to("suspended");
      })
      .finally(() => {
        entry.restarting = undefined;
      });
    // A failed restart leaves the plugin disabled: say why (info().disabledReason, the "disabled" event), as enable() does.
    entry.restarting.catch((err: unknown) => {
      if (entry.stopping || entry.state !== "error") return;
      entry.disabled = `restart failed: ${(err as Error)?.message ?? String(err)}`;
      this.emit("disabled", { plugin: entry.name, reason: entry.disabled });
    });
  }

  /** Discard the faulted instance and re-instantiate: the plugin's state is lost, as documented. */
  async #restart(entry: Entry, policy: RecoveryPolicy): Promise<void> {
    const n = entry.restartCount;
    if (policy.strategy !== "ignore") entry.restartCount++;
    const delay = backoffDelay(policy, n);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    entry.lifecycle.to("error");
    entry.lifecycle.to("loading");
    // The subscriptions keep their place while the instance is re-created (a dispatch meanwhile waits for it);
    // those its init does not register again are dropped afterwards. A plugin whose restart fails keeps them,
    // disabled, as one that used up its retries does: dispatches report it until it is unloaded.
    this.#callbacksEpoch++;
    entry.callbacks.clear();
    try {
      entry.instance = await this.#instantiate(entry);
      entry.lifecycle.to("loaded");
      await this.#init(entry);
    } catch (err) {
      entry.logger.error({ err }, "restart failed; the plugin is disabled");
      if (entry.state !== "error") entry.lifecycle.to("error");
      throw err;
    }
    this.#unsubscribeStale(entry);
    entry.metrics.restarts++;
    this.emit("restarted", { plugin: entry.name, restarts: entry.metrics.restarts });
  }

  // ── subscriptions and messaging ────────────────────────────────────────

  #subscribe(entry: Entry, event: string): void {
    if (entry.quiet) return; // a staged reload subscribes at the swap
    let list = this.#subscribers.get(event);
    if (!list) this.#subscribers.set(event, (list = []));
    if (list.includes(entry)) return;
    // Highest priority first; ties keep registration order: the list is kept sorted, so the new subscriber goes
    // after every one of its priority or higher (found from the end: one step when all share a priority). Sorting
    // the whole list on each subscribe made loading n plugins O(n² log n).
    const p = hookPriority(entry, event);
    let at = list.length;
    while (at > 0 && hookPriority(list[at - 1]!, event) < p) at--;
    list.splice(at, 0, entry);
  }

  /** Drop `entry` from the events it no longer has a callback for. */
  #unsubscribeStale(entry: Entry): void {
    for (const [event, list] of this.#subscribers) {
      const i = entry.callbacks.has(event) ? -1 : list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.#subscribers.delete(event);
    }
  }

  #unsubscribeAll(entry: Entry): void {
    for (const [event, list] of this.#subscribers) {
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.#subscribers.delete(event);
    }
  }

  #emitFrom(from: Entry, event: string, data: Uint8Array): MessageOutcome<number> {
    if (this.#lazy.size !== 0 && this.#lazy.has(event)) this.#activateThenEmit(from, event, data);
    const targets = (this.#subscribers.get(event) ?? []).filter((e) => e !== from && (e.state === "active" || e.restarting !== undefined));
    if (targets.length === 0) {
      // No plugin here: only the host's subscribers and other hosts. The hop limit holds as for a local delivery: a
      // loop across hosts comes back through other hosts' messages.
      if (this.#subscriptions.size !== 0 || this.#router.transport !== undefined) {
        const hop = this.#within(from).hop + 1;
        if (this.#router.overHops(from, hop, `emit("${event}")`)) return { ok: false, error: "denied" };
        this.#router.beyond(from, event, data, undefined, undefined, hop);
      }
      return { ok: true, value: 0 };
    }
    const admitted = this.#admit(from, targets, data, `emit("${event}")`, event, undefined);
    if (!admitted.ok) return admitted;
    this.#deliver(from, targets, event, data, admitted.value);
    if (this.#subscriptions.size !== 0 || this.#router.transport !== undefined) this.#router.beyond(from, event, data, undefined, admitted.value.envelope, admitted.value.hop);
    return { ok: true, value: targets.length };
  }

  #sendFrom(from: Entry, target: string, event: string, data: Uint8Array): MessageOutcome<undefined> {
    const t = this.#standInFor(this.#entries.get(target), event); // a disabled target's fallback takes it
    if ((t === undefined || t.state === "unloaded") && this.#router.transport !== undefined && !this.#router.services.has(target)) {
      // Not a plugin of this host: maybe of another one (fire and forget, as a local send), within the hop limit.
      const hop = this.#within(from).hop + 1;
      if (this.#router.overHops(from, hop, `send("${target}", "${event}")`)) return { ok: false, error: "denied" };
      this.#router.beyond(from, event, data, target, undefined, hop);
      return { ok: true, value: undefined };
    }
    if (t !== undefined && t !== from && this.#mustActivate(t)) {
      // A lazy target: activated, then sent to, in the sender's message chain.
      const within = this.#within(from);
      void this.#activateNamed(target, "send").then(() => withDelivery(within, () => this.#sendFrom(from, target, event, data)));
      return { ok: true, value: undefined };
    }
    if (!t || (t.state !== "active" && !t.restarting) || t === from) return { ok: false, error: "unknown-target" };
    const admitted = this.#admit(from, [t], data, `send("${target}", "${event}")`, event, target);
    if (!admitted.ok) return admitted;
    this.#deliver(from, [t], event, data, admitted.value);
    return { ok: true, value: undefined };
  }

  /** Lazy plugins waiting for an emitted event: activated, then given the emit (in the sender's message chain). */
  #activateThenEmit(from: Entry, event: string, data: Uint8Array): void {
    const names = this.#lazy.for(event);
    const within = this.#within(from);
    void Promise.all(names.map((n) => this.#activateNamed(n, event))).then(() => {
      const targets = names.map((n) => this.#entries.get(n)).filter((e): e is Entry => e !== undefined && e !== from && e.active && e.callbacks.has(event));
      if (targets.length === 0) return;
      withDelivery(within, () => {
        const admitted = this.#admit(from, targets, data, `emit("${event}")`, event, undefined);
        if (admitted.ok) this.#deliver(from, targets, event, data, admitted.value);
      });
    });
  }

  /**
   * Whether `from` may queue `bytes` for `targets` now. Past the chain's hop
   * limit or message budget the message is refused (`denied`), recorded as a
   * violation once per chain: plugins answering or re-emitting each other's
   * events would loop or storm forever. Past the pending message count or the
   * sender's or a receiver's pending bytes it is `queue-full`.
   */
  #admit(from: Entry, targets: readonly Entry[], data: Uint8Array, what: string, event: string, to: string | undefined): MessageOutcome<Delivery> {
    const o = this.#hostCallOptions;
    const bytes = data.length;
    const within = currentDelivery() ?? from.callDelivery ?? deepest(from.inFlight);
    const hop = within.hop + 1;
    const chain: MessageChain = within.chain ?? { messages: 0, reported: false };
    let why: string | undefined;
    if (hop > o.maxMessageHops) {
      why = `the message chain would reach hop ${hop}, over the limit of ${o.maxMessageHops} (hostCalls.maxMessageHops): plugins answering each other's events loop`;
    } else if (chain.messages + targets.length > o.maxChainMessages) {
      why = `over ${o.maxChainMessages} messages descend from one message (hostCalls.maxChainMessages): plugins re-emitting each other's events storm`;
    }
    if (why) {
      if (!chain.reported) {
        chain.reported = true;
        this.recordViolation(from.name, "capability", `${what} denied: ${why}`);
      }
      return { ok: false, error: "denied" };
    }
    if (from.pendingBytesOut + bytes > o.maxPendingBytesPerSender) return { ok: false, error: "queue-full" };
    if (targets.some((t) => t.pendingMessages >= MAX_PENDING_MESSAGES || t.pendingBytesIn + bytes > o.maxPendingBytesPerReceiver)) {
      return { ok: false, error: "queue-full" };
    }
    chain.messages += targets.length;
    // The message's envelope: the sender's current message is its parent, whose metadata it inherits.
    const env = envelope(event, "event", data, to, from.name, within.envelope, undefined);
    return { ok: true, value: within.call ? { hop, chain, parent: within.call, envelope: env } : { hop, chain, envelope: env } };
  }

  /**
   * Messages are delivered after the sender's call returns, so no instance is
   * ever re-entered. Their bytes count against the sender (once) and each
   * receiver until the delivery's call settles or the message is dropped.
   */
  #deliver(from: Entry, targets: readonly Entry[], event: string, data: Uint8Array, delivery: Delivery): void {
    const bytes = data.length;
    let left = targets.length;
    from.pendingBytesOut += bytes;
    const release = (to: Entry) => {
      to.pendingBytesIn -= bytes;
      if (--left === 0) from.pendingBytesOut -= bytes;
    };
    for (const to of targets) {
      from.metrics.messagesSent++;
      to.pendingMessages++;
      to.pendingBytesIn += bytes;
      setImmediate(() => {
        to.pendingMessages--;
        // A receiver that is restarting gets the message once it is back (the call waits for it).
        if (!to.restarting && (to.state !== "active" || !to.callbacks.has(event))) {
          release(to);
          return;
        }
        to.metrics.messagesReceived++;
        this.#invokeIn(to.name, event, data, delivery)
          .catch((err: unknown) => to.logger.warn({ err, from: from.name, event }, "message delivery failed"))
          .finally(() => release(to));
      });
    }
  }

  // ── requests and host services (docs/messaging.md) ─────────────────────

  /**
   * Ask `target` (a plugin or a host service) for an answer: the target's `on-hook(event, data)` answers with
   * `ok(bytes)`; `err(status)` rejects. The request is a message of kind `request` (metadata from `options`,
   * inheriting the current message's when made while one is handled, e.g. in a host service).
   *
   * @throws {@link InvalidCallbackName} (as a rejection) when `event` breaks the naming rules.
   * @throws {@link RequestFailed} (as a rejection) with `.reason`: `unknown-target`, `not-handled`, `cycle`,
   *   `too-deep`, `too-large`, `timeout`, `rejected` (`.status` set), `failed` (the target faulted: see `cause`).
   */
  request(target: string, event: string, data: Uint8Array = EMPTY, options?: RequestOptions): Promise<Uint8Array> {
    try {
      checkEventName(event);
      options = withContextMetadata(options);
    } catch (err) {
      return Promise.reject(err);
    }
    const within = currentDelivery() ?? HOST_ORIGIN;
    if (data.length > this.#hostCallOptions.maxMessageBytes) return Promise.reject(requestFailed(target, event, refused("too-large")));
    return this.#router.requestAsync(undefined, within, target, event, data, options?.timeoutMs ?? 0, options).then((answer) => {
      if (answer.ok) return answer.value;
      throw requestFailed(target, event, answer);
    });
  }

  /**
   * Answer requests addressed to `name` with `handler` (its `Message` in, the answer's bytes out, at once or as a
   * promise; throw `RequestFailed` with a `reason` of `rejected` and a `status` to reject). A synchronous answer
   * also reaches plugins that ask from the host's thread (`requestSync`). Returns a function that removes it.
   *
   * @throws {@link ServiceNameTaken} when `name` is not a valid name or a service or a loaded plugin has it.
   */
  addService(name: string, handler: ServiceHandler): () => void {
    const problem = eventNameProblem(name);
    if (problem) throw new ServiceNameTaken(name, `${problem}; a service name follows the event naming rules`);
    if (this.#router.services.has(name)) throw new ServiceNameTaken(name, "another host service has it; remove that one first");
    const e = this.#entries.get(name);
    if (e && e.state !== "unloaded") throw new ServiceNameTaken(name, "a loaded plugin has it (plugins and services share one name space, as requests address both)");
    this.#router.services.set(name, handler);
    this.#router.transport?.addTarget?.(name);
    return () => {
      if (this.#router.services.get(name) !== handler) return;
      this.#router.services.delete(name);
      this.#router.transport?.removeTarget?.(name);
    };
  }

  /** The delivery `entry`'s host calls happen in now (as `#hostCall` finds it). */
  #within(entry: Entry): Delivery {
    return currentDelivery() ?? entry.callDelivery ?? deepest(entry.inFlight);
  }

  /** `current-message` for `entry`'s guest: none outside a call (init, teardown). */
  #currentMessage(entry: Entry): MessageInfo | undefined {
    const env = this.#within(entry).envelope;
    return env === undefined ? undefined : toMessageInfo(env);
  }

  // ── host subscribers and other hosts (docs/messaging.md) ───────────────

  readonly #subscriptions = new Subscriptions((err, message) =>
    this.#logger.warn({ err, event: message.event, source: message.source }, `a host subscriber of "${message.event}" failed`),
  );
  /** Requests, host services and other hosts (src/messaging/router.ts). */
  readonly #router: MessageRouter;

  /** This host's identity on a transport (registry option `hostId`; default host name, process id and a random part). */
  get hostId(): string {
    return this.#router.hostId;
  }

  /**
   * Receive what plugins emit for `event` (`"*"`: every event), here or, with a transport, on other hosts: with `fn`,
   * a callback (returns a function that unsubscribes); without, an `EventStream` to read with `for await`. Messages
   * arrive after the emitting call returns, in emit order; the host's own `dispatch` is not among them.
   *
   * @throws {@link InvalidCallbackName} when `event` is neither `"*"` nor a valid event name.
   */
  subscribe(event: string, fn: Subscriber): () => void;
  subscribe(event: string, options?: EventStreamOptions): EventStream;
  subscribe(event: string, fnOrOptions?: Subscriber | EventStreamOptions): (() => void) | EventStream {
    if (event !== "*") checkEventName(event);
    if (typeof fnOrOptions === "function") return this.#subscriptions.add(event, fnOrOptions);
    return this.#subscriptions.stream(event, fnOrOptions);
  }

  /**
   * Unload every plugin, end the host's subscriptions (event streams finish), then stop the transport (registry
   * option `transport`), if any. The registry is not used after it.
   */
  async close(): Promise<void> {
    await Promise.all([...this.#configWatches].map((w) => w.close()));
    if (this.#snapshotTimer) clearInterval(this.#snapshotTimer);
    this.#snapshotTimer = undefined;
    try {
      await this.unloadAll();
    } finally {
      this.#state.close(); // after the unloads' snapshots
    }
    this.#subscriptions.closeAll();
    await this.#router.stop();
  }

  // ── persistent state (docs/state.md) ──────────────────────────────────

  /**
   * A handle on a plugin's persistent state: usage, keys, values, its hand-off snapshot, and `wipe`. It works for
   * any plugin name, loaded, unloaded or only known from an earlier run (state outlives its plugin); the state
   * backend is opened on first use.
   * @throws {@link StateArgumentInvalid} for an empty name; the handle's methods throw `StateUnavailable` when the
   *   backend cannot be opened.
   * @example
   *   registry.state("counter").keys();  // ["count"]
   *   registry.state("counter").wipe();
   */
  state(name: string): PluginStateHandle {
    return this.#state.handle(name);
  }

  /**
   * Store `instance`'s hand-off snapshot (after its queued calls), if it exports one and holds `state` (a snapshot is
   * kept on the host's disk like its keys). Never throws.
   */
  #saveSnapshot(entry: Entry, instance: EngineInstance, why: string): Promise<unknown> {
    if (!instance.snapshot || !entry.capabilities.includes("state")) return Promise.resolve();
    return this.#state.save(entry.name, instance, (run) => this.#serial(entry, instance, run), entry.logger, why, stateQuota(entry.limits).bytes);
  }

  /** `state.snapshotEveryMs`: every active plugin's snapshot, between its calls; a fault in one is recovered as usual. */
  #snapshotting = false;
  async #snapshotAll(): Promise<void> {
    if (this.#snapshotting) return;
    this.#snapshotting = true;
    try {
      for (const entry of [...this.#entries.values()]) {
        const instance = entry.instance;
        if (!instance?.snapshot || entry.state !== "active" || entry.stopping || entry.restarting || !entry.capabilities.includes("state")) continue;
        await this.#state.save(
          entry.name,
          instance,
          (run) =>
            this.#serial(entry, instance, run).catch((err: unknown) => {
              throw this._callFailed(entry, instance, err, "handoff:snapshot");
            }),
          entry.logger,
          "the periodic snapshot",
          stateQuota(entry.limits).bytes,
        );
      }
    } finally {
      this.#snapshotting = false;
    }
  }

  /** The registry's side of the message router (src/messaging/router.ts). */
  #routerHost(): RouterHost {
    return {
      options: this.#hostCallOptions,
      logger: this.#logger,
      calls: this.#calls,
      intercepted: () => this._intercepted,
      entries: this.#entries,
      subscribers: this.#subscribers,
      subscriptions: this.#subscriptions,
      maxPendingMessages: MAX_PENDING_MESSAGES,
      standInFor: (t, event) => this.#standInFor(t, event),
      mustActivate: (t) => this.#mustActivate(t),
      activate: (name, trigger) => this.#activateNamed(name, trigger),
      within: (entry) => this.#within(entry),
      hook: (t, event, data, hostContext, delivery) => this.#hook(t, event, data, hostContext, delivery),
      invokeIn: (name, event, data, delivery) => this.#invokeIn(name, event, data, delivery),
      callFailed: (t, instance, err, event, call) => this._callFailed(t, instance, err, event, call),
      recordViolation: (name, kind, detail) => this.recordViolation(name, kind, detail),
      transportError: (error) => void this.emit("transportError", error),
      onState: (fn) => void this.on("state", fn),
      deadlineOf,
      lateInterceptorError,
      latest,
      inCall,
      asPlughostError,
    };
  }
}

/** The delivery of a call the host makes (hop 0), with its envelope (`target` undefined: a broadcast). */
function hostDelivery(event: string, kind: "event" | "hook", data: Uint8Array, target: string | undefined, options: CallOptions | undefined): Delivery {
  const metadata = options?.metadata === undefined ? undefined : mergeMetadata(undefined, options.metadata);
  return { hop: 0, chain: undefined, envelope: envelope(event, kind, data, target, undefined, undefined, metadata) };
}

/** `delivery` as the delivery of the call `ctx` describes: the same chain, envelope and request chain. */
function inCall(delivery: Delivery, ctx: CallContext): Delivery {
  return { hop: delivery.hop, chain: delivery.chain, call: ctx, envelope: delivery.envelope, requests: delivery.requests, deadline: delivery.deadline };
}

/** `fn` over `items`, at most `limit` at a time; results in the items' order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** A lazy plugin's entry must exist when it is discovered: its first event is no time to learn it was never built. */
function checkEntryFile(m: Manifest): void {
  // A synchronous stat: a few microseconds, where a promise's round trip through the thread pool costs far more per plugin.
  const info = statSync(m.entryPath, { throwIfNoEntry: false });
  if (info?.isFile()) return;
  const message = info ? `entry ${m.entryPath} is not a file; point it at the built plugin` : `entry file ${m.entryPath} does not exist; build the plugin first (or fix the path, which is relative to ${m.dir})`;
  throw new ManifestError(m.file, [{ pointer: "/entry", message }], { plugin: m.name });
}

/** `work`, or, when it is not settled after `ms`, the error `onTimeout` makes (it runs once, and should stop the work). */
function withDeadline<T>(work: Promise<T>, ms: number | undefined, onTimeout: () => Promise<PlughostError>): Promise<T> {
  if (ms === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      work.catch(() => undefined); // it rejects once stopped; the caller gets the timeout's error
      onTimeout().then(reject, reject);
    }, Math.min(ms, MAX_TIMER_MS));
    work.then(
      (v) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** `result`, after telling the dispatch's or chain's watcher, if any, that it ended with it. */
function watched<T extends HookChainResult | readonly DispatchResult[]>(watch: ChainWatch | undefined, result: T): T {
  watch?.end(result);
  return result;
}

/** The absolute deadline of a call starting now, from the plugin's `deadlineMs`. */
function deadlineOf(entry: Entry): number | undefined {
  const ms = entry.limits.deadlineMs;
  return ms === undefined ? undefined : Date.now() + ms;
}

const isStatus = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/** A typed export's result has the export's type, checked by the engine: an interceptor's short-circuit is taken as is. */
const anyOutcome = (_v: unknown): _v is unknown => true;

function isHookOutcome(v: unknown): v is HookOutcome {
  if (typeof v !== "object" || v === null) return false;
  const o = v as { ok?: unknown; data?: unknown; status?: unknown };
  return o.ok === true ? o.data instanceof Uint8Array : o.ok === false && isStatus(o.status);
}

/** An interceptor of a call that had to finish synchronously failed where it cannot fail the call (after its first await, or on a host call): logged. */
function lateInterceptorError(entry: Entry, ctx: CallContext, err: unknown): void {
  entry.logger.warn({ err, callId: ctx.callId }, `an interceptor failed after ${ctx.kind} "${ctx.event}" completed`);
}

/** Wait for `work`, but no longer than `ms` (a dispose that hangs must not hang the registry). */
function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Math.min(ms, MAX_TIMER_MS));
    void work.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** `f.apply(self, args)` as a thunk, made outside its caller so the caller's own frame captures nothing. */
function applier(f: (...a: unknown[]) => unknown, self: unknown, args: unknown[]): () => unknown {
  return () => f.apply(self, args);
}

/** The delivery with the highest hop (the host's own calls when there is none). */
function deepest(deliveries: readonly Delivery[]): Delivery {
  let out = HOST_ORIGIN;
  for (const d of deliveries) if (d.hop > out.hop) out = d;
  return out;
}

/** Wait for `work` (rethrowing its error) for at most `ms`; false when it had not settled by then. */
function finishes(work: Promise<unknown>, ms: number | undefined): Promise<boolean> {
  if (ms === undefined) return work.then(() => true);
  return new Promise<boolean>((resolve, reject) => {
    const timer = setTimeout(() => resolve(false), Math.min(ms, MAX_TIMER_MS));
    work.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * Entry files by content, weakly: plugins loaded from identical files share one copy of the bytes each keeps for its
 * restarts (a thousand copies of a C plugin held a thousand 18 KB buffers). Entries up to 1 MiB: a larger one would
 * pay more for the hash than it saves, and is rarely loaded many times.
 */
const entryBytesByDigest = new Map<string, WeakRef<Uint8Array>>();
const entryBytesGone = new FinalizationRegistry<string>((key) => {
  if (entryBytesByDigest.get(key)?.deref() === undefined) entryBytesByDigest.delete(key);
});
const SHARED_ENTRY_MAX_BYTES = 1 << 20;

function sharedEntryBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength > SHARED_ENTRY_MAX_BYTES) return bytes;
  const key = createHash("sha256").update(bytes).digest("base64");
  const known = entryBytesByDigest.get(key)?.deref();
  if (known !== undefined && Buffer.compare(known, bytes) === 0) return known;
  entryBytesByDigest.set(key, new WeakRef(bytes));
  entryBytesGone.register(bytes, key);
  return bytes;
}

/** Whether a capability is an fs grant (`parseCapability`'s kind "fs": the text before the first colon). */
function isFsCapability(text: string): boolean {
  return text === "fs" || text.startsWith("fs:");
}

function hookPriority(entry: Entry, event: string): number {
  return entry.manifest.hooks.find((h) => h.event === event)?.priority ?? 100;
}

/** The last name `checkEventName` accepted: a host mostly calls the same few events (the check is a regex). */
let lastValidEvent: string | undefined;

function checkEventName(event: string): void {
  if (event === lastValidEvent) return;
  const problem = eventNameProblem(event);
  if (problem) throw new InvalidCallbackName(event, problem);
  lastValidEvent = event;
}

function resourceUsage(error: ResourceLimitExceeded): ResourceUsage {
  return { resource: error.resource as ResourceName, used: error.used, limit: error.limit };
}

function faultKind(error: InstanceFault): ViolationKind {
  switch (error.code) {
    case "E_FUEL_EXHAUSTED":
      return "fuel";
    case "E_DEADLINE_EXCEEDED":
    case "E_CPU_BUDGET": // CPU time used between calls: a time limit too
      return "deadline";
    case "E_MEMORY_LIMIT":
      return "memory";
    case "E_PLUGIN_CRASHED":
      return "crash";
    case "E_RESOURCE_LIMIT": // open files, connections, bytes written, CPU seconds, processes
      return "resource";
    default:
      return "trap";
  }
}

function asPlughostError(err: unknown, plugin: string): PlughostError {
  if (err instanceof PlughostError) return err;
  return new InvocationFailed("?", -1, err instanceof Error ? err.message : String(err), { plugin, cause: err });
}

