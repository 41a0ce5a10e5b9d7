/**
 * The host's configuration: `plughost.config.json` / `plughost.config.toml`,
 * which the CLI reads and the library takes as the same object. It holds the
 * grants, default and maximum limits, violation and recovery policy, and
 * per-plugin config overrides. Validated against schema/host-config.schema.json.
 */
import { existsSync, readFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ValidateFunction } from "ajv";
import { PlughostError, type ManifestProblem } from "../contract/errors.js";
import type { Isolation, Limits } from "../engines/engine.js";
import { CapabilityError, formatCapability, parseCapability, type EventPolicy } from "../plugin/capabilities.js";
import { describeValue, formatOf, joinPointer, MAX_MEMORY_BYTES, newAjv, parseByteSize, parseDocument, schemaProblems } from "../plugin/manifest.js";
import type { SignaturePolicy } from "../plugin/signatures.js";
import { isTrustListReference, resolveTrustListReference, signaturesSectionProblems, type TrustListReference } from "../trust/host.js";
import { loadTrustList } from "../trust/store.js";
import {
  DEFAULT_EVENT_POLICY,
  DEFAULT_RECOVERY,
  effectiveLimits,
  grantsFor as policyGrantsFor,
  LIMIT_KEYS,
  type RecoveryPolicy,
  type RecoveryStrategy,
} from "./policy.js";
import type { RegistryOptions } from "./registry.js";
import type { HookClamps } from "../hooks/policy.js";
import type { DependencyStrategy } from "../plugin/resolve.js";
import type { StateOptions } from "../state/host-state.js";
import type { ContextKeyDefinition } from "../context/store.js";
import type { SandboxOptions } from "../engines/native/sandbox/host.js";
import { contextSectionProblems } from "../context/config.js";

export type { RecoveryPolicy, RecoveryStrategy };
/** One computation of limits for the registry and the host config (policy.ts). */
export { effectiveLimits };

/** The file names `loadHostConfig` looks for in a directory (a directory must hold exactly one). */
export const HOST_CONFIG_FILES = ["plughost.config.json", "plughost.config.toml"] as const;
/** Absolute path of the host config's JSON Schema (shipped as `plughost/host-config.schema.json`). */
export const HOST_CONFIG_SCHEMA_PATH = fileURLToPath(new URL("../../schema/host-config.schema.json", import.meta.url));

/** A host config that cannot be read, parsed or validated. Code `E_HOST_CONFIG_INVALID`. */
export class HostConfigError extends PlughostError {
  /** The file, or the name the caller gave the object. */
  readonly source: string;
  /** Every problem found, each with the JSON pointer of its field. */
  readonly problems: readonly ManifestProblem[];
  constructor(source: string, problems: readonly ManifestProblem[]) {
    const lines = problems.map((p) => `${p.pointer || "/"}: ${p.message}`);
    super("E_HOST_CONFIG_INVALID", `invalid host config ${source}: ${lines.join("; ")}`);
    this.source = source;
    this.problems = problems;
  }
}

/** The host's log level (pino's level names). */
export type LogLevelName = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

/** Limits as written: `memoryBytes` and `stateBytes` may also be a size string like "16MiB". */
export type LimitsInput = Omit<Limits, "memoryBytes" | "stateBytes" | "fsWriteBytes"> & {
  memoryBytes?: number | string;
  stateBytes?: number | string;
  fsWriteBytes?: number | string;
};

/** The host config's `policy` section: violations, events and recovery. */
export interface HostPolicy {
  /** Violations after which a plugin is unmounted (seed 002: 10). */
  violationThreshold: number;
  /** Unload a plugin automatically once it reaches the threshold (default true). */
  autoUnmount: boolean;
  /** Log each violation at warn level (default true). */
  logViolations: boolean;
  /** See `canSubscribe` / `canPublish` in capabilities.ts. */
  events: EventPolicy;
  /** What happens after an instance fault (see `RecoveryPolicy`). */
  recovery: RecoveryPolicy;
}

/** One bearer token of `plughost serve`: the token itself, or the environment variable that holds it, and its roles. */
export interface ServeTokenInput {
  /** The token (at least 16 characters). */
  token?: string;
  /** The environment variable holding the token (read when the server starts). */
  env?: string;
  /** `admin`, `read`, or roles of your own that plugin endpoints name in `auth.roles`. */
  roles: string[];
}

/** The host config's `serve` section (docs/serve.md), as written. */
export interface ServeConfigInput {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8080; 0: any free port). */
  port?: number;
  /** Bearer tokens and their roles. */
  tokens?: ServeTokenInput[];
  /** Require a token for /metrics (default false). */
  metricsAuth?: boolean;
  /** Serve the admin API and page (default true). */
  admin?: boolean;
  /** How long SIGTERM waits for in-flight requests before closing them (default 10000). */
  shutdownGraceMs?: number;
  /** Largest request body in bytes, or a size like "1MiB" (default 1MiB). */
  bodyLimit?: number | string;
}

/** The `serve` section after validation: every field filled. */
export interface ServeConfig {
  /** Address to listen on. */
  host: string;
  /** Port (0: any free port). */
  port: number;
  /** Bearer tokens as written (environment variables are read when the server starts). */
  tokens: ServeTokenInput[];
  /** Require a token for /metrics. */
  metricsAuth: boolean;
  /** Serve the admin API and page. */
  admin: boolean;
  /** How long shutdown waits for in-flight requests. */
  shutdownGraceMs: number;
  /** Largest request body in bytes. */
  bodyLimit: number;
}

/** The `serve` section's defaults. */
export const DEFAULT_SERVE: Readonly<Omit<ServeConfig, "tokens">> = Object.freeze({
  host: "127.0.0.1",
  port: 8080,
  metricsAuth: false,
  admin: true,
  shutdownGraceMs: 10_000,
  bodyLimit: 1024 * 1024,
});

/** What a user writes in plughost.config.json / .toml (every field optional); `validateHostConfig` turns it into a `HostConfig`. */
export interface HostConfigInput {
  /** The schema's URL or path, for editors; ignored. */
  $schema?: string;
  /** Capabilities granted to every plugin, or per plugin name (`"*"` for all); relative fs dirs are against the file's directory. */
  grants?: string[] | Record<string, string[]>;
  /** `"unlimited"` drops the built-in default limits (see `DEFAULT_LIMITS`). */
  defaultLimits?: LimitsInput | "unlimited";
  /** Ceilings no manifest may exceed. */
  maxLimits?: LimitsInput;
  /** Violations, events and recovery; each field over its default. */
  policy?: Partial<Omit<HostPolicy, "recovery">> & { recovery?: Partial<RecoveryPolicy> };
  /** The engine for Wasm plugins (default v8). */
  engine?: "v8" | "wasmtime";
  /** Where v8 plugins run. */
  isolation?: Isolation;
  /** The compile cache directory (relative: against the file's directory). */
  cacheDir?: string;
  /** Where plugins' persistent state is kept (relative: against the file's directory; docs/state.md). */
  dataDir?: string;
  /** The state backend (sqlite or redis with url) and `snapshotEveryMs` (docs/state.md). */
  state?: StateOptions;
  /** Directories scanned for plugins (relative: against the file's directory). */
  pluginDirs?: string[];
  /** Per-plugin config overrides, keyed by plugin name. */
  config?: Record<string, Record<string, unknown>>;
  /** The host's environment, e.g. "production": selects manifests' `[config.env.<environment>]` (docs/config.md). */
  environment?: string;
  /** "strict" validates every plugin's config strictly; "lenient" (default) leaves it to each manifest (docs/config.md). */
  configValidation?: "strict" | "lenient";
  /** App-defined context keys with their schema and first value (docs/context.md). */
  context?: Record<string, ContextKeyDefinition>;
  /** The host's log level (default info). */
  logLevel?: LogLevelName;
  /** The Ed25519 trust list and policy (docs/signatures.md), or `{ file, keyFile? }`: a trust list file, maybe encrypted. */
  signatures?: SignaturePolicy | TrustListReference;
  /** Native plugins approved to run in the host process (`trust = "trusted"` in their manifest). */
  trustedNative?: string[];
  /** Enforce every plugin's deadline (v8 in a worker; trusted native plugins refused). */
  requireDeadlines?: boolean;
  /** `plughost serve`: listen address, tokens, shutdown bound (docs/serve.md). */
  serve?: ServeConfigInput;
  /** Clamps on manifests' hook policies and the default on-error (docs/hooks.md). */
  hooks?: HookClamps;
  /** How `loadAll` and `reload` settle dependency versions (docs/lifecycle.md). */
  dependencies?: { strategy?: DependencyStrategy };
  /** The helper process of sandboxed native plugins: rlimits, cgroup, seccomp profile (docs/native-plugins.md). */
  nativeSandbox?: NativeSandboxInput;
}

/** The host config's `nativeSandbox` section: `SandboxOptions` as a file can write them (`addressSpaceBytes` may be a size string). */
export type NativeSandboxInput = Omit<SandboxOptions, "helperPath" | "addressSpaceBytes"> & { addressSpaceBytes?: number | string };

/** The validated, normalized host config: defaults filled, paths absolute. */
export interface HostConfig {
  /** Normalized capability strings (fs dirs absolute). A record key "*" applies to every plugin. */
  grants: string[] | Record<string, string[]>;
  /** `"unlimited"`: no built-in defaults (the registry option of the same name). */
  defaultLimits: Limits | "unlimited";
  /** Ceilings no manifest may exceed (a manifest asking for more is refused). */
  maxLimits: Limits;
  /** Violations, events and recovery. */
  policy: HostPolicy;
  /** The engine for Wasm plugins (default v8). */
  engine?: "v8" | "wasmtime";
  /** Where v8 plugins run (in-process or in a worker); unset: the policy decides. */
  isolation?: Isolation;
  /** The compile cache directory, absolute. */
  cacheDir?: string;
  /** The state data directory, absolute (unset: the registry's default). */
  dataDir?: string;
  /** The state backend and hand-off snapshots, as written. */
  state?: StateOptions;
  /** Directories scanned for plugins, absolute. */
  pluginDirs: string[];
  /** Per-plugin config overrides, keyed by plugin name. */
  config: Record<string, Record<string, unknown>>;
  /** The host's environment (selects `[config.env.<environment>]`), when set. */
  environment?: string;
  /** "strict" when every plugin's config is validated strictly. */
  configValidation?: "strict" | "lenient";
  /** App-defined context keys, as written (checked as `registry.context.define` checks them). */
  context?: Record<string, ContextKeyDefinition>;
  /** The host's log level (default info). */
  logLevel: LogLevelName;
  /** The Ed25519 trust list and policy (docs/signatures.md); from `signaturesFile` once `loadHostConfig` has read it. */
  signatures?: SignaturePolicy;
  /** The trust list file named by `signatures.file` (paths absolute); `loadHostConfig` reads it into `signatures`. */
  signaturesFile?: TrustListReference;
  /** Native plugins approved to run in the host process. */
  trustedNative: string[];
  /** Enforce every plugin's deadline (v8 in a worker; trusted native plugins refused). */
  requireDeadlines: boolean;
  /** `plughost serve`'s settings, defaults filled; absent when the file has no `serve` section (`serveConfigOf` fills it). */
  serve?: ServeConfig;
  /** Clamps on hook policies, as written (the registry fills the defaults: `DEFAULT_HOOK_CLAMPS`). */
  hooks?: HookClamps;
  /** The dependency strategy, when the file sets one (docs/lifecycle.md). */
  dependencies?: { strategy: DependencyStrategy };
  /** Options of the native plugins' sandbox helper, when the file sets any (sizes in bytes). */
  nativeSandbox?: SandboxOptions;
  /** Where it came from (file path or caller-given name), for messages. */
  source: string;
  /** What relative paths were resolved against. */
  baseDir: string;
}

export const DEFAULT_POLICY: Readonly<HostPolicy> = Object.freeze({
  violationThreshold: 10,
  autoUnmount: true,
  logViolations: true,
  events: DEFAULT_EVENT_POLICY,
  recovery: DEFAULT_RECOVERY,
});

let hostValidator: ValidateFunction | undefined;
function validator(): ValidateFunction {
  hostValidator ??= newAjv("2020-12").compile(JSON.parse(readFileSync(HOST_CONFIG_SCHEMA_PATH, "utf8")) as object);
  return hostValidator;
}

function toLimits(raw: LimitsInput | "unlimited" | undefined): Limits {
  const out: Limits = {};
  if (!raw || raw === "unlimited") return out;
  for (const key of LIMIT_KEYS) {
    const v = key === "memoryBytes" || key === "stateBytes" || key === "fsWriteBytes" ? parseByteSize(raw[key]) : raw[key];
    if (typeof v === "number") out[key] = v;
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Options of `validateHostConfig`. */
export interface ValidateHostConfigOptions {
  /** Directory relative paths are resolved against. Default: the source file's directory when it is a path, else the cwd. */
  baseDir?: string;
}

/**
 * Validate a host config object (from a file or built by the embedding
 * application) and normalize it: defaults filled, capability strings
 * normalized, paths made absolute against `options.baseDir`.
 *
 * @param source The file or a name for the object, used in messages.
 * @throws {@link HostConfigError} listing every problem with its JSON pointer.
 * @example
 *   const config = validateHostConfig({ grants: ["stdio"], defaultLimits: { fuel: 1e7 } }, "my host");
 *   const registry = new PluginRegistry(registryOptionsFrom(config));
 */
export function validateHostConfig(obj: unknown, source = "host config", options: ValidateHostConfigOptions = {}): HostConfig {
  const baseDir = path.resolve(options.baseDir ?? (formatOf(source) && path.isAbsolute(source) ? path.dirname(source) : process.cwd()));
  if (!isRecord(obj)) throw new HostConfigError(source, [{ pointer: "", message: `must be an object of host settings, got ${describeValue(obj)}` }]);
  const validate = validator();
  const problems = validate(obj) ? [] : schemaProblems(validate.errors ?? [], formatOf(source) ?? "json");
  const bad = new Set(problems.map((p) => p.pointer));

  // The capability grammar says more than the schema's pattern can.
  const grants: string[] | Record<string, string[]> = Array.isArray(obj.grants) ? [] : {};
  const normalizeList = (list: unknown, pointer: string): string[] => {
    if (!Array.isArray(list)) return [];
    return list.flatMap((cap: unknown, i) => {
      const at = joinPointer(pointer, i);
      if (typeof cap !== "string") return [];
      try {
        return [formatCapability(parseCapability(cap, { baseDir }))];
      } catch (err) {
        if (!(err instanceof CapabilityError)) throw err;
        for (let k = problems.length - 1; k >= 0; k--) if (problems[k]?.pointer === at) problems.splice(k, 1);
        problems.push({ pointer: at, message: err.reason });
        return [];
      }
    });
  };
  if (Array.isArray(grants)) grants.push(...normalizeList(obj.grants, "/grants"));
  else if (isRecord(obj.grants)) {
    for (const [plugin, list] of Object.entries(obj.grants)) grants[plugin] = normalizeList(list, joinPointer("/grants", plugin));
  }

  const unlimited = obj.defaultLimits === "unlimited";
  const defaults = toLimits(obj.defaultLimits as LimitsInput | "unlimited" | undefined);
  const max = toLimits(obj.maxLimits as LimitsInput | undefined);
  for (const [key, raw] of [["defaultLimits", obj.defaultLimits], ["maxLimits", obj.maxLimits]] as const) {
    const memory = isRecord(raw) ? raw.memoryBytes : undefined;
    const at = `/${key}/memoryBytes`;
    if (memory !== undefined && !bad.has(at) && !((parseByteSize(memory) ?? Infinity) <= MAX_MEMORY_BYTES)) {
      problems.push({ pointer: at, message: `must be a whole number of bytes from 1 to 4GiB (the wasm32 maximum), got ${describeValue(memory)}` });
    }
  }
  for (const key of LIMIT_KEYS) {
    const d = defaults[key];
    const m = max[key];
    if (d !== undefined && m !== undefined && d > m) {
      problems.push({ pointer: `/defaultLimits/${key}`, message: `is ${d}, above maxLimits.${key} (${m}); lower the default or raise the maximum` });
    }
  }
  const bodyLimit = isRecord(obj.serve) ? obj.serve.bodyLimit : undefined;
  if (bodyLimit !== undefined && !bad.has("/serve/bodyLimit") && !((parseByteSize(bodyLimit) ?? Infinity) <= 1024 ** 3)) {
    problems.push({ pointer: "/serve/bodyLimit", message: `must be a whole number of bytes from 1 to 1GiB, got ${describeValue(bodyLimit)}` });
  }
  const addressSpace = isRecord(obj.nativeSandbox) ? obj.nativeSandbox.addressSpaceBytes : undefined;
  if (addressSpace !== undefined && !bad.has("/nativeSandbox/addressSpaceBytes")) {
    const n = parseByteSize(addressSpace);
    if (n === undefined || !(n >= 16 * 1024 ** 2) || !Number.isSafeInteger(n)) {
      problems.push({ pointer: "/nativeSandbox/addressSpaceBytes", message: `must be a whole number of bytes of at least 16MiB (or a size string such as "512MiB"), got ${describeValue(addressSpace)}` });
    }
  }
  // Keys must decode and pins must name listed keys.
  if (obj.signatures !== undefined) problems.push(...signaturesSectionProblems(obj.signatures, "/signatures").filter((p) => ![...bad].some((b) => p.pointer.startsWith(b))));
  problems.push(...contextSectionProblems(obj.context, "/context", bad));
  if (problems.length > 0) throw new HostConfigError(source, problems);

  const input = obj as HostConfigInput;
  const policy = input.policy ?? {};
  const config: HostConfig = {
    grants,
    defaultLimits: unlimited ? "unlimited" : defaults,
    maxLimits: max,
    policy: {
      violationThreshold: policy.violationThreshold ?? DEFAULT_POLICY.violationThreshold,
      autoUnmount: policy.autoUnmount ?? DEFAULT_POLICY.autoUnmount,
      logViolations: policy.logViolations ?? DEFAULT_POLICY.logViolations,
      events: policy.events ?? DEFAULT_POLICY.events,
      recovery: { ...DEFAULT_POLICY.recovery, ...(policy.recovery ?? {}) },
    },
    pluginDirs: (input.pluginDirs ?? []).map((d) => path.resolve(baseDir, d)),
    config: structuredClone(input.config ?? {}),
    logLevel: input.logLevel ?? "info",
    trustedNative: [...(input.trustedNative ?? [])],
    requireDeadlines: input.requireDeadlines ?? false,
    source,
    baseDir,
  };
  if (input.engine !== undefined) config.engine = input.engine;
  if (input.isolation !== undefined) config.isolation = input.isolation;
  if (input.cacheDir !== undefined) config.cacheDir = path.resolve(baseDir, input.cacheDir);
  if (input.dataDir !== undefined) config.dataDir = path.resolve(baseDir, input.dataDir);
  if (input.state !== undefined) config.state = { ...input.state };
  if (input.environment !== undefined) config.environment = input.environment;
  if (input.configValidation !== undefined) config.configValidation = input.configValidation;
  if (isTrustListReference(input.signatures)) config.signaturesFile = resolveTrustListReference(input.signatures, baseDir);
  else if (input.signatures !== undefined) config.signatures = structuredClone(input.signatures);
  if (input.context !== undefined) config.context = structuredClone(input.context);
  if (input.serve !== undefined) config.serve = serveConfig(input.serve);
  if (input.hooks !== undefined) config.hooks = structuredClone(input.hooks);
  if (input.dependencies?.strategy !== undefined) config.dependencies = { strategy: input.dependencies.strategy };
  if (input.nativeSandbox !== undefined) {
    const { addressSpaceBytes, ...rest } = structuredClone(input.nativeSandbox);
    config.nativeSandbox = { ...rest, ...(addressSpaceBytes !== undefined ? { addressSpaceBytes: parseByteSize(addressSpaceBytes) as number } : {}) };
    if (typeof rest.cgroup === "string" && rest.cgroup !== "auto") config.nativeSandbox.cgroup = path.resolve(baseDir, rest.cgroup);
  }
  return config;
}

/** The host config's `serve` section with every default filled (all defaults when it has none). Never throws. */
export function serveConfigOf(c: Pick<HostConfig, "serve">): ServeConfig {
  return c.serve ?? serveConfig(undefined);
}

function serveConfig(input: ServeConfigInput | undefined): ServeConfig {
  const s = input ?? {};
  return {
    host: s.host ?? DEFAULT_SERVE.host,
    port: s.port ?? DEFAULT_SERVE.port,
    tokens: (s.tokens ?? []).map((t) => ({ ...t, roles: [...t.roles] })),
    metricsAuth: s.metricsAuth ?? DEFAULT_SERVE.metricsAuth,
    admin: s.admin ?? DEFAULT_SERVE.admin,
    shutdownGraceMs: s.shutdownGraceMs ?? DEFAULT_SERVE.shutdownGraceMs,
    bodyLimit: s.bodyLimit === undefined ? DEFAULT_SERVE.bodyLimit : (parseByteSize(s.bodyLimit) as number),
  };
}

/**
 * Read a host config file (.json or .toml), or find plughost.config.json /
 * plughost.config.toml in a directory. Relative paths in it are resolved
 * against the file's directory.
 *
 * @throws {@link HostConfigError} when the path does not exist, a directory holds
 *   neither or both files, the file type is not .json or .toml, or the
 *   document does not parse or validate. A file that exists but cannot be
 *   read rejects with Node's fs error.
 * @throws {@link TrustListError} when `signatures.file` cannot be read, decrypted (wrong key, changed file) or is invalid.
 * @example
 *   const registry = new PluginRegistry(registryOptionsFrom(await loadHostConfig(".")));
 */
export async function loadHostConfig(pathOrDir: string): Promise<HostConfig> {
  const abs = path.resolve(pathOrDir);
  let file = abs;
  const info = await stat(abs).catch(() => undefined);
  if (!info) throw new HostConfigError(abs, [{ pointer: "", message: `${abs} does not exist; create it or pass the path of your plughost.config.json` }]);
  if (info.isDirectory()) {
    const found = HOST_CONFIG_FILES.map((f) => path.join(abs, f)).filter((f) => existsSync(f));
    if (found.length !== 1) {
      const why = found.length === 0 ? `no ${HOST_CONFIG_FILES.join(" or ")} in ${abs}; create one` : `${abs} holds both ${HOST_CONFIG_FILES.join(" and ")}; keep only one`;
      throw new HostConfigError(abs, [{ pointer: "", message: why }]);
    }
    file = found[0] as string;
  }
  const format = formatOf(file);
  if (!format) throw new HostConfigError(file, [{ pointer: "", message: `unsupported file type ${JSON.stringify(path.extname(file))}; use .json or .toml` }]);
  const parsed = parseDocument(await readFile(file, "utf8"), format);
  if (parsed.problems.length > 0) throw new HostConfigError(file, parsed.problems);
  // TOML tables have no prototype; plain objects keep the rest of plughost simple.
  const config = validateHostConfig(structuredClone(parsed.value), file, { baseDir: path.dirname(file) });
  if (config.signaturesFile) config.signatures = await loadTrustList(config.signaturesFile.file, config.signaturesFile.keyFile !== undefined ? { keyFile: config.signaturesFile.keyFile } : {});
  return config;
}

/** The capabilities granted to `plugin`: the list, or its entry plus the "*" entry (policy.ts). Never throws. */
export function grantsFor(hostConfig: Pick<HostConfig, "grants">, plugin: string): string[] {
  return policyGrantsFor(hostConfig.grants, plugin);
}

/** The host's config overrides for `plugin` (empty when there are none). */
export function configOverridesFor(hostConfig: Pick<HostConfig, "config">, plugin: string): Record<string, unknown> {
  return structuredClone(hostConfig.config[plugin] ?? {});
}

/**
 * The registry options a host config stands for: what the CLI runs with, and
 * what an embedder with a config file passes to `new PluginRegistry(...)`
 * (spread its own options, such as `logger`, over it).
 * @throws {@link HostConfigError} when `signatures.file` was not read (a config from `validateHostConfig` rather than
 *   `loadHostConfig`): running without the trust list it names would skip signature checks.
 */
export function registryOptionsFrom(c: HostConfig): RegistryOptions {
  if (c.signaturesFile && !c.signatures) {
    throw new HostConfigError(c.source, [{ pointer: "/signatures/file", message: `${c.signaturesFile.file} was not read; load the config with loadHostConfig, or set signatures from loadTrustList` }]);
  }
  return {
    grants: c.grants,
    defaultLimits: c.defaultLimits,
    maxLimits: c.maxLimits,
    config: c.config,
    violationThreshold: c.policy.violationThreshold,
    unmountBehavior: { autoUnmount: c.policy.autoUnmount, logViolations: c.policy.logViolations },
    recovery: c.policy.recovery,
    events: c.policy.events,
    trustedNative: c.trustedNative,
    requireDeadlines: c.requireDeadlines,
    pluginDirs: c.pluginDirs,
    logLevel: c.logLevel,
    ...(c.engine ? { engine: c.engine } : {}),
    ...(c.isolation ? { isolation: c.isolation } : {}),
    ...(c.cacheDir ? { cacheDir: c.cacheDir } : {}),
    ...(c.dataDir ? { dataDir: c.dataDir } : {}),
    ...(c.state ? { state: { ...c.state } } : {}),
    ...(c.environment !== undefined ? { environment: c.environment } : {}),
    ...(c.configValidation ? { configValidation: c.configValidation } : {}),
    ...(c.signatures ? { signatures: c.signatures } : {}),
    ...(c.context ? { context: c.context } : {}),
    ...(c.hooks ? { hooks: c.hooks } : {}),
    ...(c.dependencies ? { dependencies: { strategy: c.dependencies.strategy } } : {}),
    ...(c.nativeSandbox ? { nativeSandbox: { ...c.nativeSandbox } } : {}),
  };
}
