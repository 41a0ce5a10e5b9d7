/**
 * plughost: a WebAssembly component plugin runtime for Node.js.
 *
 * Everything a host needs is exported from the package root: the
 * {@link PluginRegistry}, its options and events, the errors (every one a
 * {@link PlughostError} with a stable `code`), the manifest, capability,
 * signature and host-config helpers, and the instrumenter. The reference in
 * docs/api/ is generated from these declarations (`npm run docs:api`).
 *
 * @example
 *   import { PluginRegistry } from "plughost";
 *   const registry = new PluginRegistry({ grants: ["stdio"] });
 *   registry.on("violation", (v) => console.warn(v.plugin, v.kind, v.detail));
 *   const hello = await registry.load("plugins/hello");
 *   await registry.dispatch("greet", new TextEncoder().encode("world"));
 *   await registry.unloadAll();
 *
 * @packageDocumentation
 */
export { PluginRegistry, PluginHandle, DEFAULT_RECOVERY, DEFAULT_LIMITS } from "./runtime/registry.js";
export { HotReloader } from "./runtime/hot-reload.js";
/**
 * The call pipeline. `registry.use(interceptor)` wraps every invoke, hook,
 * dispatch step, message delivery and host call (onion order); each call's
 * `CallContext` carries its plugin, event, kind, callId, parentCallId,
 * deadline and the caller's `hostContext`. See docs/pipeline.md.
 *
 * @example
 *   registry.use(async (ctx, next) => {
 *     const t0 = performance.now();
 *     try {
 *       return await next();
 *     } finally {
 *       console.log(ctx.kind, ctx.plugin, ctx.event, ctx.callId, performance.now() - t0);
 *     }
 *   });
 *   await registry.dispatch("greet", data, { hostContext: { requestId: "r1" } });
 *   // in a host call: registry.currentCall()?.hostContext → { requestId: "r1" }
 */
export { currentCall } from "./runtime/calls.js";
export type { CallContext, CallKind, CallOptions, Interceptor } from "./runtime/calls.js";
// Messaging (docs/messaging.md): envelopes, registry.request / addService / subscribe.
export type { Message, MessageKind } from "./messaging/envelope.js";
export type { RequestOptions, ServiceHandler } from "./messaging/requests.js";
export type { EventStream, EventStreamOptions, Subscriber } from "./messaging/subscriptions.js";
// Messages across hosts (docs/messaging.md, "Across hosts"): the transport interface and the NATS transport.
export type { Transport, TransportSink, WireMessage } from "./messaging/transport.js";
export { NatsTransport } from "./messaging/nats.js";
export type { NatsTransportOptions } from "./messaging/nats.js";
// Hook chains (docs/hooks.md): registry.addHook, hook policies and the host's clamps.
export { DEFAULT_HOOK_CLAMPS, effectiveHookPolicy, resolveHookClamps } from "./hooks/policy.js";
export { MAX_OBSERVER_BACKLOG } from "./hooks/chain.js";
export type { HookClamps, HookOnError, HookPolicy, HookPriorityName, ResolvedClamps } from "./hooks/policy.js";
export type { HookContext, HookResult, HostHookFn, HostHookOptions, ObserverFailure, ObserverStats } from "./hooks/chain.js";
export type { HotReloadOptions, HotReloadEvents } from "./runtime/hot-reload.js";
export type { RegistryOptions, RecoveryPolicy, PluginInfo, DispatchResult, HookChainResult, RegistryEvents } from "./runtime/registry.js";
export * from "./contract/errors.js";
// The native sandbox's options and resource model (docs/native-plugins.md); types only: the engine loads lazily.
export type { SandboxOptions, HelperInfo } from "./engines/native/sandbox/host.js";
export type { SeccompProfile, ResourceControl } from "./engines/native/sandbox/resources.js";
export type {
  Engine,
  EngineInstance,
  EngineName,
  HookOutcome,
  HostCalls,
  Isolation,
  Limits,
  LoadRequest,
  LogLevel,
  MessageFailure,
  MessageOutcome,
  RegisterOutcome,
  TrustLevel,
  ViolationKind,
  ResourceName,
  NativeResourceName,
  ResourceUsage,
} from "./engines/engine.js";
// The WIT enums' cases, in code order (generated from wit/plugin.wit).
export { LOG_LEVELS } from "./engines/engine.js";
export { CONTEXT_ERRORS, MESSAGE_ERRORS, MESSAGE_KINDS, METRIC_ERRORS, METRIC_KINDS, REGISTER_ERRORS, REQUEST_ERRORS, STATE_ERRORS } from "./contract/abi.js";
export type { MessageError, MetricError, MetricKind, RegisterError } from "./contract/abi.js";
export type { MetricOutcome, MessageInfo, RequestOutcome, RequestError, ContextOutcome, ContextError, StateOutcome, StateError, KeyPage } from "./engines/engine.js";
export { PLUGIN_STATES, SEED_000_STATE, canTransition } from "./runtime/lifecycle.js";
export type { PluginState } from "./runtime/lifecycle.js";
export { loadManifest, parseManifest, checkConfigSchema, MANIFEST_FILES, MANIFEST_SCHEMA_PATH, MANIFEST_BOUNDS } from "./plugin/manifest.js";
export { MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, MAX_ENTRY_BYTES } from "./plugin/safe-read.js";
// Catalogue metadata in the manifest (docs/manifest.md, "Catalogue metadata").
export { CATALOGUE_BOUNDS, CATALOGUE_KEYS, spdxLicenseProblem, catalogueUrlProblem, catalogueMetadataProblems, catalogueMetadataOf, formatCatalogueMetadata } from "./plugin/metadata.js";
export type { CatalogueMetadata } from "./plugin/metadata.js";
export type { Dependency, HookDeclaration, Manifest, ManifestConfig, ManifestOptions, PluginKind } from "./plugin/manifest.js";
export { effectiveCapabilities, parseCapability, CapabilityError } from "./plugin/capabilities.js";
export type { Capability, EventPolicy, FsPreopen, ParseOptions } from "./plugin/capabilities.js";
export { resolveLoadOrder, checkApiVersion } from "./plugin/resolve.js";
export type { LoadedPlugin, Resolvable, ResolveOptions } from "./plugin/resolve.js";
// Dependencies, recovery and lazy activation (docs/lifecycle.md).
export { resolveDependencies, findConflicts, DEPENDENCY_STRATEGIES } from "./plugin/resolve.js";
export type { DependencyStrategy, DependencyConflict, DependencyRequirement, DependencyCandidate, ConflictChoice, DependencyResolution, ResolveDependenciesOptions } from "./plugin/resolve.js";
export { dependentsOf, dependencyStrategy, type GraphNode } from "./runtime/dependencies.js";
export type { DependencyOptions, ConflictHandler, LoadAllOptions, UnloadOptions } from "./runtime/dependencies.js";
export { RECOVERY_STRATEGIES, pluginRecovery, backoffDelay } from "./runtime/policy.js";
export type { ActivationRecord } from "./runtime/activation.js";
export type { ManifestRecovery } from "./plugin/manifest.js";
export {
  resolvePluginConfig,
  resolveConfig,
  ConfigError,
  configEnvVar,
  mergePatch,
  SECRET_PLACEHOLDER,
  type ConfigProblem,
  type ConfigSource,
  type ConfigInputs,
  type ConfigValidation,
  type AdditionalProperties,
  type ResolvedConfig,
  type SecretResolver,
  type ConfigManifest,
} from "./config/index.js";
export type { ConfigHostOptions, ConfigUpdate, ConfigDelivery, ConfigRefusal, PluginConfigView } from "./config/live.js";
export type { ConfigFileWatch, WatchConfigOptions } from "./config/watch.js";
export { eventNameProblem, MAX_EVENT_NAME_BYTES } from "./contract/event-names.js";
export { DEFAULT_HOST_CALL_OPTIONS } from "./runtime/host-calls.js";
export type { HostCallOptions } from "./runtime/host-calls.js";
export type { PluginMetrics } from "./runtime/metrics.js";
export type { UnmountBehavior, Violation, ViolationRecord } from "./runtime/violations.js";
// Observability (docs/observability.md): `registry.metricsText()`, `health()`, `latency()`, `logs()`, `errors()`, `watchLogs()`.
export { CALL_DURATION_BUCKETS, DEFAULT_METRICS_OPTIONS } from "./observability/metrics.js";
export type { LatencySummary, MetricsOptions } from "./observability/metrics.js";
export { DEFAULT_HEALTH_OPTIONS } from "./observability/health.js";
export type { HealthOptions, HealthStatus, PluginHealth } from "./observability/health.js";
export { DEFAULT_LOG_STORE_OPTIONS, LogWatch } from "./observability/log-store.js";
export type { ErrorReport, LogQuery, LogRecord, LogStoreOptions, LogWatchFilter } from "./observability/log-store.js";
export { enableTracing, extractTraceContext, parseTraceparent, traceContextOf, traceparentOf, TRACE_ATTRIBUTES } from "./observability/tracing.js";
export type { TraceHeaders, Tracing, TracingOptions } from "./observability/tracing.js";
export { DEFAULT_PLUGIN_METRIC_LIMITS, METRICS_CAPABILITY, PluginMetricsStore, withPluginMetrics } from "./observability/plugin-metrics.js";
export type { PluginMetricBinding, PluginMetricCalls, PluginMetricInfo, PluginMetricLimits } from "./observability/plugin-metrics.js";
// Profiling a plugin (docs/observability.md, "Profiling"): v8 plugins, in process or in a worker.
export { MAX_PROFILE_MS, profilePlugin, startProfile } from "./observability/profile.js";
export type {
  CpuProfile,
  CpuProfileNode,
  FirefoxProfile,
  FirefoxProfileThread,
  PluginProfile,
  ProfiledFunction,
  ProfileOptions,
  ProfileRecording,
  V8PluginProfile,
  WasmtimePluginProfile,
} from "./observability/profile.js";
export { getEngine } from "./engines/index.js";
// Fuel metering and memory/table caps for any core module (what the v8 engine applies to plugins).
export {
  instrumentFuel,
  instrumentModule,
  clearInstrumentCache,
  instrumentCacheWritten,
  createLimits,
  Limits as FuelLimits,
  FuelSignal,
  InstrumentError,
  LimitCapError,
  LIMITS_MODULE,
} from "./instrument/index.js";
export type { InstrumentOptions, InstrumentResult, LimitsImports, LimitsOptions, LimitViolationKind, MemoryInfo, TableInfo } from "./instrument/index.js";
export { HOST_WIT_VERSION, apiCompatible } from "./contract/version.js";
// Where the compile cache lives by default ($XDG_CACHE_HOME/plughost), and the key file that seals it.
export { defaultCacheDir, CACHE_KEY_FILE } from "./runtime/cache-dir.js";
// Persistent plugin state (docs/state.md): registry.state(name) handles, the data directory, one key's and value's bounds.
export { defaultDataDir, StateUnavailable, StateArgumentInvalid, STATE_BACKENDS } from "./state/host-state.js";
export type { PluginStateHandle, PluginStateUsage, StateOptions, StateBackendKind } from "./state/host-state.js";
export { MAX_STATE_KEY_BYTES, MAX_STATE_VALUE_BYTES, DEFAULT_STATE_QUOTA } from "./state/store.js";
// The backends themselves, for tools that read or move a host's state outside a registry.
export type { StateBackend, StatePage, StateUsage } from "./state/backend.js";
export { openStateBackend, type StateBackendOptions } from "./state/open.js";
export { StateBackendError, STATE_ERROR_CODES } from "./state/errors.js";
export type { SqliteStateOptions } from "./state/sqlite.js";
export type { RedisStateOptions } from "./state/redis.js";
// The context store (docs/context.md): registry.context, its keys, bounds and typed errors.
export { ContextStore, PREDEFINED_CONTEXT_KEYS, CONTEXT_METADATA_KEYS, MAX_CONTEXT_KEY_BYTES, DEFAULT_MAX_CONTEXT_VALUE_BYTES, contextKeyProblem } from "./context/store.js";
export type { ContextKeyDefinition, ContextKeyInfo, ContextReader, ContextStoreOptions, PredefinedContextKey } from "./context/store.js";
export type { ContextChange } from "./context/config.js";
export { ContextKeyInvalid, ContextKeyUnknown, ContextReadOnly, ContextValueInvalid, ContextSchemaInvalid } from "./context/errors.js";
export type { CallContextValues } from "./runtime/calls.js";
export type { SyncCallOptions } from "./runtime/registry.js";
export { contextAllowed } from "./plugin/capabilities.js";
export { loadHostConfig, validateHostConfig, effectiveLimits, grantsFor, registryOptionsFrom, HostConfigError, HOST_CONFIG_FILES, serveConfigOf, DEFAULT_SERVE } from "./runtime/host-config.js";
// The host's policy: limits, grants, trust, events, recovery, where a v8 plugin runs (defaults: docs/fuel-and-memory.md).
export { TrustNotApproved, PolicyInvalid, DeadlineUnenforceable, recoveryPolicy } from "./runtime/policy.js";
export type { TrustedNative, Grants, LimitPolicy } from "./runtime/policy.js";
export type { HostConfig, HostConfigInput, HostPolicy, LimitsInput, LogLevelName, NativeSandboxInput, ValidateHostConfigOptions, ServeConfig, ServeConfigInput, ServeTokenInput } from "./runtime/host-config.js";
/**
 * `plughost serve` as a library (docs/serve.md): a fastify server over a registry with the admin API and page,
 * `/metrics`, `/healthz`, `/readyz`, and the plugins' `[[api.endpoints]]` under `/plugins/<name>/`, which follow
 * load, unload and reload. A request reaches the plugin's hook as a request envelope (`encodeRequest`), and the
 * hook's output is decoded as the answer (`decodeResponse`).
 *
 * @example
 *   const registry = new PluginRegistry({ grants: ["http:serve"] });
 *   await registry.load("test/fixtures/c/http-echo");
 *   const server = await createServer(registry, { port: 0, tokens: [{ env: "ADMIN_TOKEN", roles: ["admin"] }] });
 *   const url = await server.listen();
 *   await fetch(`${url}/plugins/http-echo/echo`, { method: "POST", body: "hi" }); // 200 "hi"
 *   await server.close();
 *   await registry.unloadAll();
 */
export { createServer } from "./serve/server.js";
export type { ServeOptions, PlughostServer } from "./serve/server.js";
export { EndpointTable, HTTP_SERVE, PLUGIN_PREFIX, ENDPOINT_METHODS } from "./serve/endpoints.js";
export type { EndpointInfo, EndpointTableEvents, EndpointTableOptions, Limiter } from "./serve/endpoints.js";
export { encodeRequest, decodeResponse, visibleHeaders, SECRET_HEADERS } from "./serve/envelope.js";
export type { RequestHead, ResponseEnvelope } from "./serve/envelope.js";
export { TokenSet, hasRole, ADMIN_ROLE, READ_ROLE, TOKEN_ENV, MIN_TOKEN_LENGTH } from "./serve/auth.js";
export type { Principal } from "./serve/auth.js";
export type { EndpointDeclaration, EndpointMethod } from "./plugin/manifest.js";
export { fsPreopens, canSubscribe, canPublish, netAllowed, envNames, has } from "./plugin/capabilities.js";
export {
  SIGNATURE_FILE,
  SIGNATURE_FORMAT,
  signPlugin,
  verifySignature,
  compileTrustList,
  generateSigningKey,
  readPrivateKey,
  publicKeyToBase64,
  signingStatement,
} from "./plugin/signatures.js";
export type { SignaturePolicy, SignatureFile, SignatureResult, SignedFields, TrustList, KeyTrustLevel, TrustedKeyEntry } from "./plugin/signatures.js";
export {
  TRUST_LEVELS,
  NATIVE_TRUSTED_CAPABILITY,
  isTrustLevel,
  compareTrustLevels,
  capabilityPatternsOverlap,
  requestedCapabilities,
  trustLevelShortfalls,
  checkTrustLevel,
  signerStatus,
  revokedKeyMessage,
} from "./trust/index.js";
export type { TrustLevelShortfall, SignerStatus } from "./trust/index.js";
export {
  loadTrustList,
  saveTrustList,
  openTrustList,
  resolveTrustKey,
  generateTrustKey,
  encryptTrustList,
  decryptTrustList,
  isEncryptedTrustList,
  ENCRYPTED_TRUST_LIST_FORMAT,
  TRUST_KEY_ENV,
  MAX_TRUST_LIST_BYTES,
  addTrustedKey,
  revokeTrustedKey,
  setTrustRequirement,
} from "./trust/index.js";
export type { TrustListKeyOptions, LoadTrustListOptions, OpenTrustListOptions, OpenedTrustList, TrustListReference } from "./trust/index.js";

/**
 * App-defined WIT interfaces (docs/host-interfaces.md): parsing and loading WIT, interface versions, and
 * TypeScript declarations for implementations and typed exports.
 */
export { parseWit, resolveInterface } from "./interfaces/wit-parser.js";
export { loadWit } from "./interfaces/wit-load.js";
export { interfaceVersionSatisfies, parseInterfaceId, compareVersions } from "./interfaces/semver.js";
export type { InterfaceIdParts } from "./interfaces/semver.js";
export { interfaceDeclarations, interfacesDeclarations } from "./interfaces/typescript.js";
export type { ProvideOptions, InterfaceCallStats } from "./interfaces/provider.js";
export { componentNames, appInterfaces } from "./interfaces/component-names.js";
export type { ComponentNames, ComponentItem, ComponentItemKind } from "./interfaces/component-names.js";
export type { ManifestInterfaces } from "./plugin/manifest.js";
export { interfaceId, unversionedId, jsName } from "./interfaces/types.js";
export type {
  ImportBinding,
  InterfaceBindings,
  InterfaceFunction,
  InterfaceImplementation,
  WitCase,
  WitField,
  WitFunction,
  WitInterface,
  WitPackage,
  WitParam,
  WitPrimitive,
  WitType,
  WitWorld,
} from "./interfaces/types.js";
// Plugin packages (.plughost files, docs/catalog.md "Package format").
export {
  packPlugin,
  writePackage,
  packageDigest,
  readPackage,
  readPackageFile,
  packageFromParts,
  PACKAGE_BOUNDS,
  signPackage,
  verifyPackage,
  packageStatement,
  extractPackage,
  PACKAGE_FORMAT,
  PACKAGE_SIGNATURE_FORMAT,
  PACKAGE_EXTENSION,
  PACKAGE_METADATA_FILE,
  PACKAGE_SIGNATURE_FILE,
} from "./package/index.js";
export type {
  PackOptions,
  VerifyPackageOptions,
  PackageMetadata,
  PackageSignature,
  PackageFileInfo,
  PackageDependency,
  PluginPackage,
  PackageVerification,
  TarBounds,
} from "./package/index.js";
// Catalogs (docs/catalog.md "Catalogs", "Directory catalog").
export { openCatalog, isRegistryLocation, DirectoryCatalog, DIRECTORY_INDEX_FILE } from "./catalog/index.js";
export type { DirectoryCatalogOptions, DirectoryIndex, DirectoryIndexEntry } from "./catalog/index.js";
export type { Catalog, CatalogCredentials, CatalogEntry, CatalogOptions, FetchedPackage, LockEntry, Lockfile, SearchQuery } from "./catalog/types.js";
// The OCI registry catalog (docs/catalog.md "OCI registry").
export { OciCatalog, parseOciLocation, catalogCredentialsFromEnv } from "./catalog/oci.js";
export type { OciLocation } from "./catalog/oci.js";
export { OciClient, ociDigest, OCI_MANIFEST_MEDIA_TYPE } from "./catalog/oci-client.js";
export type { OciClientOptions, OciDescriptor, OciImageManifest, FetchedManifest } from "./catalog/oci-client.js";
export { packageToArtifact, PLUGIN_ARTIFACT_TYPE } from "./catalog/oci-artifact.js";
export type { PackageArtifact } from "./catalog/oci-artifact.js";
// Installing from catalogs (docs/catalog.md "Installing, updating and removing plugins", "The lockfile").
export { Installer } from "./catalog/install.js";
export type { InstallerOptions, InstallProgress, InstalledPlugin, InstallResult, OutdatedPlugin } from "./catalog/install.js";
export { LOCKFILE_NAME, readLockfile, writeLockfile, parseLockfile, formatLockfile, emptyLockfile } from "./catalog/lockfile.js";
export { parseInstallSpec, pickVersion, updateRange, planInstall } from "./catalog/resolve.js";
export type { InstallSpec, PlannedPlugin, PlanOptions, PlanRequest } from "./catalog/resolve.js";
