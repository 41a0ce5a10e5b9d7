/**
 * plughost: a WebAssembly component plugin runtime for Node.js.
 *
 *   import { PluginRegistry } from "plughost";
 *   const registry = new PluginRegistry({ grants: ["stdio"] });
 *   const hello = await registry.load("plugins/hello");
 *   await registry.dispatch("greet", new TextEncoder().encode("world"));
 *   await registry.unloadAll();
 */
export { PluginRegistry, PluginHandle, DEFAULT_RECOVERY, DEFAULT_LIMITS } from "./registry.js";
export { HotReloader } from "./hot-reload.js";
export type { HotReloadOptions, HotReloadEvents } from "./hot-reload.js";
export type { RegistryOptions, RecoveryPolicy, PluginInfo, DispatchResult, HookChainResult, RegistryEvents } from "./registry.js";
export * from "./errors.js";
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
  TrustLevel,
  ViolationKind,
} from "./engine.js";
export { PLUGIN_STATES, SEED_000_STATE, canTransition } from "./lifecycle.js";
export type { PluginState } from "./lifecycle.js";
export { loadManifest, parseManifest, checkConfigSchema, MANIFEST_FILES, MANIFEST_SCHEMA_PATH, MANIFEST_BOUNDS } from "./manifest.js";
export { MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, MAX_ENTRY_BYTES } from "./safe-read.js";
export type { Manifest } from "./manifest.js";
export { effectiveCapabilities, parseCapability, CapabilityError } from "./capabilities.js";
export { resolveLoadOrder, checkApiVersion } from "./resolve.js";
export { resolvePluginConfig, ConfigError } from "./plugin-config.js";
export { eventNameProblem, MAX_EVENT_NAME_BYTES } from "./event-names.js";
export { DEFAULT_HOST_CALL_OPTIONS } from "./host-calls.js";
export type { HostCallOptions } from "./host-calls.js";
export type { PluginMetrics } from "./metrics.js";
export type { UnmountBehavior, Violation } from "./violations.js";
export { getEngine } from "./engines/index.js";
// Fuel metering and memory/table caps for any core module (what the v8 engine applies to plugins).
export {
  instrumentFuel,
  instrumentModule,
  clearInstrumentCache,
  createLimits,
  Limits as FuelLimits,
  FuelSignal,
  InstrumentError,
  LimitCapError,
  LIMITS_MODULE,
} from "./instrument/index.js";
export type { InstrumentOptions, InstrumentResult, LimitsImports, LimitsOptions, LimitViolationKind } from "./instrument/index.js";
export { HOST_WIT_VERSION, apiCompatible } from "./version.js";
// Where the compile cache lives by default ($XDG_CACHE_HOME/plughost), and the key file that seals it.
export { defaultCacheDir, CACHE_KEY_FILE } from "./cache-dir.js";
export { loadHostConfig, validateHostConfig, effectiveLimits, grantsFor, registryOptionsFrom, HostConfigError, HOST_CONFIG_FILES } from "./host-config.js";
// The host's policy: limits, grants, trust, events, recovery, where a v8 plugin runs (defaults: docs/fuel-and-memory.md).
export { TrustNotApproved, PolicyInvalid, DeadlineUnenforceable, recoveryPolicy } from "./policy.js";
export type { TrustedNative, Grants, LimitPolicy } from "./policy.js";
export type { HostConfig } from "./host-config.js";
export { fsPreopens, canSubscribe, canPublish, netAllowed, envNames, has } from "./capabilities.js";
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
} from "./signatures.js";
export type { SignaturePolicy, SignatureFile, SignatureResult, TrustList } from "./signatures.js";
