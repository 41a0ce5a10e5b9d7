/**
 * A plugin's configuration: the manifest's `config.defaults`, overlaid with
 * the host's overrides (`config.<plugin>` in plughost.config.*), validated
 * against the manifest's `config.schema`. The result is what `init` receives
 * and `get-config` returns.
 */
import { PlughostError, type ManifestProblem } from "../contract/errors.js";
import { compileUserSchema, describeValue, schemaProblems, SchemaCompileError, type Manifest } from "./manifest.js";

/** The merged configuration does not satisfy the plugin's config schema. Code `E_CONFIG_INVALID`. */
export class ConfigError extends PlughostError {
  /** Pointers are relative to the merged configuration object. */
  readonly problems: readonly ManifestProblem[];
  constructor(plugin: string, problems: readonly ManifestProblem[], hint: string) {
    const lines = problems.map((p) => `${p.pointer || "/"}: ${p.message}`);
    super("E_CONFIG_INVALID", `invalid configuration: ${lines.join("; ")}; ${hint}`, { plugin });
    this.problems = problems;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && [Object.prototype, null].includes(Object.getPrototypeOf(v) as object | null);
}

/**
 * Deep-merge `override` onto `base`: objects merge key by key, anything else
 * (arrays included) replaces. Neither input is modified.
 */
export function mergeConfig(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [key, value] of Object.entries(override)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? mergeConfig(current, value) : structuredClone(value);
  }
  return out;
}

/**
 * Merge the manifest's defaults with the host's overrides and validate the
 * result against `config.schema` (when there is one). Schema `default`s fill
 * in what neither gives. Neither input is modified.
 *
 * @throws {@link ConfigError} naming the plugin and the pointers: overrides that are
 *   not an object, a config schema that does not compile, or a merged config
 *   that does not satisfy it.
 * @example
 *   const config = resolvePluginConfig(manifest, { greeting: "hi" });
 */
export function resolvePluginConfig(
  manifest: Pick<Manifest, "name" | "config"> & Partial<Pick<Manifest, "file">>,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const where = `fix config.${manifest.name} in the host config, or config.defaults in ${manifest.file ?? "the manifest"}`;
  if (!isPlainObject(overrides)) {
    throw new ConfigError(manifest.name, [{ pointer: "", message: `host overrides must be an object, got ${describeValue(overrides)}` }], where);
  }
  const merged = mergeConfig(manifest.config.defaults, overrides);
  const schema = manifest.config.schema;
  if (schema === undefined) return merged;
  let validate;
  try {
    validate = compileUserSchema(schema);
  } catch (err) {
    if (!(err instanceof SchemaCompileError)) throw err;
    throw new ConfigError(manifest.name, [{ pointer: "", message: `config.schema ${err.message}` }], `fix config.schema in ${manifest.file ?? "the manifest"}`);
  }
  if (!validate(merged)) {
    throw new ConfigError(manifest.name, schemaProblems(validate.errors ?? [], "json"), where);
  }
  return merged;
}
