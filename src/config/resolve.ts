/**
 * A plugin's effective configuration (docs/config.md): its sources merged in order, each value's source
 * remembered, secrets resolved, then validated in the plugin's mode.
 */
import type { ErrorObject } from "ajv";
import { compileUserSchema, describeValue, joinPointer, schemaProblems, SchemaCompileError, type Manifest, type ManifestConfig } from "../plugin/manifest.js";
import { ConfigError, type ConfigProblem, type ConfigSource } from "./errors.js";
import { envSettings, keysAt } from "./env-vars.js";
import { isPlainObject, Layered, leafPointers, valueAt } from "./layers.js";
import { redactPointers, resolveSecrets, secretRedactor, type SecretResolver } from "./secrets.js";

/** How a plugin's configuration is validated: `config.validation` in the manifest, or the host's `configValidation`. */
export type ConfigValidation = "strict" | "lenient";
/** What happens to keys the schema (or, without one, the defaults) does not name. */
export type AdditionalProperties = "allow" | "refuse" | "remove";

/** Everything besides the manifest that a plugin's configuration comes from. */
export interface ConfigInputs {
  /** The host's overrides for this plugin (`config.<plugin>` in the host config). */
  host?: Record<string, unknown>;
  /** Live updates (`registry.setConfig`), merged: the last source. */
  live?: Record<string, unknown>;
  /** The host's environment: selects `[config.env.<environment>]`. */
  environment?: string;
  /** Where `PLUGHOST_<PLUGIN>_<KEY>` variables and secrets come from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The host's resolver for `{ secret = "NAME" }` (else the environment variable NAME). */
  secrets?: SecretResolver;
  /** "strict" makes every plugin strict; "lenient" (default) leaves it to each manifest. */
  validation?: ConfigValidation;
  /** The other plugins the host knows: a variable a longer plugin name's prefix claims is that plugin's. */
  otherPlugins?: readonly string[];
}

/** A plugin's effective configuration and where each value came from. */
export interface ResolvedConfig {
  /** The configuration the plugin gets (secrets resolved). Never modify it: a new one replaces it. */
  readonly value: Record<string, unknown>;
  /** The source of each leaf value, by JSON pointer. */
  readonly provenance: Readonly<Record<string, ConfigSource>>;
  /** The pointers that hold secrets, with the secrets' names. */
  readonly secrets: Readonly<Record<string, string>>;
  /** The mode it was validated in. */
  readonly validation: ConfigValidation;
  /** What happened to unknown keys. */
  readonly additionalProperties: AdditionalProperties;
  /** Keys `additional-properties = "remove"` dropped, by pointer. */
  readonly removed: readonly string[];
  /** Replaces each secret value in a text with `[secret]`. */
  readonly redact: (text: string) => string;
  /** `value` with every secret as `[secret]`: what the host shows. */
  redacted(): Record<string, unknown>;
}

/** The manifest fields the resolver reads. */
export type ConfigManifest = Pick<Manifest, "name"> & { config: ManifestConfig } & Partial<Pick<Manifest, "file">>;

/**
 * Merge a plugin's configuration sources in order — manifest defaults, the schema's `default`s (where nothing else
 * gives a value), `[config.env.<environment>]`, the host's overrides, `PLUGHOST_<PLUGIN>_<KEY>` variables, live
 * updates — resolve its secrets, and validate the result.
 *
 * @throws {@link ConfigError} naming the plugin, the source and the JSON pointer of each problem.
 * @example
 *   const cfg = resolveConfig(manifest, { host: { greeting: "hi" }, environment: "production" });
 *   console.log(cfg.value, cfg.provenance["/greeting"]); // "host"
 */
export function resolveConfig(manifest: ConfigManifest, inputs: ConfigInputs = {}): ResolvedConfig {
  const name = manifest.name;
  const mc = manifest.config;
  const env = inputs.env ?? process.env;
  const where = `fix config.${name} in the host config, or config.defaults in ${manifest.file ?? "the manifest"}`;
  const fail = (problems: ConfigProblem[], hint = where, redact?: (t: string) => string): never => {
    throw new ConfigError(name, problems, hint, redact);
  };
  for (const [source, layer] of [["host", inputs.host], ["live", inputs.live]] as const) {
    if (layer !== undefined && !isPlainObject(layer)) fail([{ pointer: "", message: `${source === "host" ? "host overrides" : "a live update"} must be an object, got ${describeValue(layer)}`, source }]);
  }
  const validation: ConfigValidation = mc.validation === "strict" || inputs.validation === "strict" ? "strict" : "lenient";
  const additional: AdditionalProperties = mc.additionalProperties ?? (validation === "strict" ? "refuse" : "allow");
  const schema = mc.schema;

  const layered = new Layered();
  layered.apply(mc.defaults, "default");
  const section = inputs.environment !== undefined ? mc.env?.[inputs.environment] : undefined;
  if (section) layered.apply(section, `env-section:${inputs.environment}`);
  if (inputs.host) layered.apply(inputs.host, "host");

  const vars = envSettings(name, env, {
    keys: (path) => [...new Set([...keysAt(layered.value, path), ...keysAt(inputs.live ?? {}, path), ...schemaKeys(schema, path)])],
    wantsString: (path) => schemaAt(schema, path)?.type === "string",
  }, { otherPlugins: inputs.otherPlugins ?? [], lenient: validation === "lenient" });
  if (vars.problems.length > 0) fail(vars.problems, `fix or unset the environment variable (docs/config.md, "Environment variables")`);
  for (const s of vars.settings) layered.set(s.keys, s.value, `env:${s.variable}`);
  if (inputs.live) layered.apply(inputs.live, "live");

  const value = layered.value;
  const sec = resolveSecrets(value, name, inputs.secrets, env, (p) => layered.sourceAt(p));
  const redact = secretRedactor(sec.values);
  const withSource = (p: ConfigProblem): ConfigProblem => {
    const source = p.source ?? layered.sourceAt(p.pointer);
    return source ? { ...p, source } : p;
  };
  if (sec.problems.length > 0) fail(sec.problems, where, redact);

  const removed: string[] = [];
  if (schema !== undefined) {
    const effective = additional === "allow" ? schema : closeSchema(schema);
    let validate;
    try {
      validate = compileUserSchema(effective, { removeAdditional: additional === "remove" });
    } catch (err) {
      if (!(err instanceof SchemaCompileError)) throw err;
      fail([{ pointer: "", message: `config.schema ${err.message}` }], `fix config.schema in ${manifest.file ?? "the manifest"}`);
    }
    const before = additional === "remove" ? new Set(leafPointers(value)) : undefined;
    if (!validate!(value)) {
      const errors = (validate!.errors ?? []).map((e) => hideSecretData(e, sec.secrets));
      fail(schemaProblems(errors, "json").map(withSource), where, redact);
    }
    if (before) for (const p of before) if (valueAt(value, p) === undefined) removed.push(p);
  } else {
    const problems = shapeProblems(value, mc.defaults, validation, additional, removed, "");
    if (problems.length > 0) fail(problems.map(withSource), where, redact);
  }

  const provenance: Record<string, ConfigSource> = {};
  // A leaf no source set was filled in by the schema's `default`.
  for (const p of leafPointers(value)) provenance[p] = layered.provenance.get(p) ?? "schema-default";
  const secrets = Object.fromEntries(sec.secrets);
  return {
    value,
    provenance,
    secrets,
    validation,
    additionalProperties: additional,
    removed,
    redact,
    redacted: () => redactPointers(value, sec.secrets.keys()),
  };
}

/**
 * Merge the manifest's defaults with the host's overrides and validate the result against `config.schema` (when
 * there is one); the effective configuration without provenance. Kept for callers of the first release.
 *
 * @throws {@link ConfigError} naming the plugin and the pointers.
 * @example
 *   const config = resolvePluginConfig(manifest, { greeting: "hi" });
 */
export function resolvePluginConfig(manifest: ConfigManifest, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return resolveConfig(manifest, { host: overrides, env: {} }).value;
}

/** An ajv error whose data is a secret (or holds one) shows `[secret]` instead. */
function hideSecretData(e: ErrorObject, secrets: ReadonlyMap<string, string>): ErrorObject {
  for (const p of secrets.keys()) if (p === e.instancePath || p.startsWith(e.instancePath + "/")) return { ...e, data: "[secret]" };
  return e;
}

/** The schema's `properties` at `path`, followed through nested `properties` only. */
function schemaAt(schema: Record<string, unknown> | undefined, path: readonly string[]): Record<string, unknown> | undefined {
  let s: unknown = schema;
  for (const k of path) {
    const props = isPlainObject(s) ? s.properties : undefined;
    s = isPlainObject(props) ? props[k] : undefined;
  }
  return isPlainObject(s) ? s : undefined;
}

function schemaKeys(schema: Record<string, unknown> | undefined, path: readonly string[]): string[] {
  const props = schemaAt(schema, path)?.properties;
  return isPlainObject(props) ? Object.keys(props) : [];
}

/**
 * The schema with `additionalProperties: false` wherever an object schema names `properties` and says nothing of
 * other keys (followed through `properties`, `items` and `$defs`; not into combinators, where it would refuse
 * keys a sibling names).
 */
export function closeSchema(schema: Record<string, unknown>): Record<string, unknown> {
  const close = (s: unknown): unknown => {
    if (!isPlainObject(s)) return s;
    const out: Record<string, unknown> = { ...s };
    const combined = ["allOf", "anyOf", "oneOf", "$ref", "if"].some((k) => k in s);
    if (isPlainObject(s.properties)) {
      out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, close(v)]));
      if (!combined && !("additionalProperties" in s) && !("patternProperties" in s) && !("unevaluatedProperties" in s)) out.additionalProperties = false;
    }
    if (isPlainObject(s.items)) out.items = close(s.items);
    for (const defs of ["$defs", "definitions"]) {
      if (isPlainObject(s[defs])) out[defs] = Object.fromEntries(Object.entries(s[defs] as Record<string, unknown>).map(([k, v]) => [k, close(v)]));
    }
    return out;
  };
  return close(schema) as Record<string, unknown>;
}

function jsonType(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "number" && Number.isInteger(v) ? "number" : typeof v;
}

/**
 * Without a schema, the defaults are the shape: an unknown key (one the defaults do not have, where they have an
 * object) is refused or removed per `additional`, and in strict mode a value must have its default's JSON type.
 */
function shapeProblems(value: Record<string, unknown>, defaults: Record<string, unknown>, validation: ConfigValidation, additional: AdditionalProperties, removed: string[], base: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [k, v] of Object.entries(value)) {
    const pointer = joinPointer(base, k);
    if (!Object.prototype.hasOwnProperty.call(defaults, k)) {
      if (additional === "refuse") problems.push({ pointer, message: `unknown key ${JSON.stringify(k)}: the defaults do not have it${Object.keys(defaults).length ? `; known keys are ${Object.keys(defaults).join(", ")}` : ""}` });
      else if (additional === "remove") {
        delete value[k];
        removed.push(pointer);
      }
      continue;
    }
    const d = defaults[k];
    if (validation === "strict" && d !== null && jsonType(d) !== jsonType(v)) {
      problems.push({ pointer, message: `must be ${jsonType(d) === "object" ? "a table/object" : `a ${jsonType(d)}`} as its default is (strict validation does not convert), got ${describeValue(v)}` });
      continue;
    }
    if (isPlainObject(d) && isPlainObject(v)) problems.push(...shapeProblems(v, d, validation, additional, removed, pointer));
  }
  return problems;
}
