/**
 * Step 1 of the data path: read `plugin.toml` / `plugin.json`, validate it
 * against the shipped JSON Schema (schema/manifest.schema.json, the single
 * source of truth), run the checks a schema cannot express (semver ranges,
 * capability grammar, config schema), and normalize it into a `Manifest`.
 *
 * This module also holds the JSON-Schema plumbing the host config and the
 * plugin config reuse: turning ajv errors into plain-words problems with
 * JSON pointers, and compiling user-supplied schemas.
 */
import { existsSync, lstatSync, readFileSync, realpathSync, statSync, type Stats } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020Module from "ajv/dist/2020.js";
import AjvDraft7Module from "ajv";
import type { AnySchemaObject, ErrorObject, Options as AjvOptions, ValidateFunction } from "ajv";
import semver from "semver";
import { parse as parseToml, TomlError } from "smol-toml";
import { RE2JS } from "re2js";
import { ManifestError, type ManifestProblem } from "../contract/errors.js";
import { assetProblems } from "./assets.js";
import { isWithin, MAX_MANIFEST_BYTES, readRegularFile, UnsafeFileError } from "./safe-read.js";
import type { Limits, Isolation, TrustLevel } from "../engines/engine.js";
import { CapabilityError, parseCapability, formatCapability } from "./capabilities.js";
import { catalogueSemanticProblems, normalizeCatalogueMetadata } from "./metadata.js";

// ajv is CommonJS; under NodeNext its classes sit on `.default`.
const Ajv2020 = Ajv2020Module.default;
const AjvDraft7 = AjvDraft7Module.default;
export type AjvInstance = InstanceType<typeof Ajv2020> | InstanceType<typeof AjvDraft7>;

/** The manifest file names `loadManifest` looks for in a plugin directory (a directory must hold exactly one). */
export const MANIFEST_FILES = ["plugin.toml", "plugin.json"] as const;

/** Where the shipped manifest schema lives (the same path from src/ and dist/). */
export const MANIFEST_SCHEMA_PATH = fileURLToPath(new URL("../../schema/manifest.schema.json", import.meta.url));

/** What the entry is: a Wasm component of the plughost world, or a native library with the C ABI. */
export type PluginKind = "component" | "native";

/** A plugin this one needs loaded first (`dependencies` / `optional-dependencies` in the manifest). */
export interface Dependency {
  /** The other plugin's name. */
  name: string;
  /** A semver range. */
  range: string;
  /** True for an optional dependency: used when present, not required. */
  optional: boolean;
  /** True for a peer dependency (`peer-dependencies`): required in the same host, but not loaded before this one. */
  peer?: boolean;
}

/** The manifest's `[recovery]` table (docs/lifecycle.md): the host's recovery policy, field by field, for this plugin. */
export interface ManifestRecovery {
  /** restart, disable, ignore, fallback or retry. */
  strategy?: "restart" | "disable" | "ignore" | "fallback" | "retry";
  /** strategy fallback: the plugin that takes this one's events and hooks while it is down. */
  fallback?: string;
  /** strategy retry: the events whose calls may be re-issued once after a fault (true: all). */
  idempotent?: boolean | string[];
  /** Restarts allowed before the plugin is disabled. */
  maxRetries?: number;
  /** How the delay grows between restarts (and init retries). */
  backoff?: "linear" | "exponential";
  /** The first delay, in ms. */
  baseDelayMs?: number;
  /** How often a failed init is tried again before the load fails. */
  initRetries?: number;
}

/** A hook the plugin takes part in (`[[hooks]]` in the manifest). */
export interface HookDeclaration {
  /** The hook's event name. */
  event: string;
  /** Higher runs first. */
  priority: number;
  /** `timeout-ms`: how long one call of this hook may take (the host clamps it; docs/hooks.md). */
  timeoutMs?: number;
  /** `retries`: calls again after an instance fault, on the replaced instance (never after a non-zero status). */
  retries?: number;
  /** `async`: an observer, called after the chain with its final data, without blocking it. */
  async?: boolean;
  /** `on-error`: `"fail"` stops the chain with the error, `"skip"` passes the data on (unset: the host's default). */
  onError?: "fail" | "skip";
}

/** An HTTP method an endpoint may declare. */
export type EndpointMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS";

/** One `[[api.endpoints]]` entry: an HTTP endpoint under `/plugins/<name>/` served by a hook (docs/serve.md). */
export interface EndpointDeclaration {
  /** The HTTP method. */
  method: EndpointMethod;
  /** The path below `/plugins/<name>`: `/items/:id`, `/files/*`, `/`. */
  path: string;
  /** The hook event a request is passed to. */
  handler: string;
  /** JSON Schemas the request must satisfy before the plugin sees it (400 otherwise). */
  schema: { body?: Record<string, unknown>; query?: Record<string, unknown>; params?: Record<string, unknown> };
  /** At most `requests` per `windowMs` per client address (429 past it). */
  rateLimit?: { requests: number; windowMs: number };
  /** Whether a bearer token is required, and the roles that may call (any one; `admin` may call all). */
  auth: { required: boolean; roles: string[] };
}

/**
 * A plugin's manifest (plugin.toml or plugin.json) after validation and
 * normalization: keys in camelCase, capabilities normalized, paths absolute.
 * Made by `loadManifest` and `parseManifest`; docs/manifest.md describes each key.
 */
export interface Manifest {
  /** The plugin's unique name. */
  name: string;
  /** The plugin's own version (semver). */
  version: string;
  /** Semver range of host WIT versions the plugin accepts. */
  apiVersion: string;
  /** One line on what the plugin does. */
  description?: string;
  /** The older single-author key, as written (`authors` holds it too; a manifest may not give both). */
  author?: string;
  /** Its licence (an SPDX expression). */
  license?: string;
  /** Its authors (`authors = ["Name <mail>"]`; a lone `author` is read as one). */
  authors?: string[];
  /** Its home page (an http(s) URL). */
  homepage?: string;
  /** Its source repository (a URL). */
  repository?: string;
  /** Search keywords (lower case; `search --tag` matches them). */
  keywords?: string[];
  /** Catalogue categories (`search --category` matches them). */
  categories?: string[];
  /** Wasm component (default) or native library. */
  kind: PluginKind;
  /** As written in the manifest (relative). */
  entry: string;
  /** Absolute path of the entry file. */
  entryPath: string;
  /** For a native plugin: "trusted" asks to run in the host process (the host must approve it). Default "untrusted". */
  trust: TrustLevel;
  /** The engine the plugin asks for (the host's choice otherwise). */
  engine?: "v8" | "wasmtime";
  /** Where a v8 plugin asks to run. */
  isolation?: Isolation;
  /** Required capabilities, normalized (fs dirs absolute). */
  capabilities: string[];
  /** Capabilities used when granted; the plugin loads without them. */
  optionalCapabilities: string[];
  /** Required, optional and peer dependencies. */
  dependencies: Dependency[];
  /** Lazy activation: the event names of its `on-event:<name>` entries; absent when it loads eagerly. */
  activation?: string[];
  /** Its `[recovery]` table, when it has one. */
  recovery?: ManifestRecovery;
  /** The hooks it takes part in, with their priorities. */
  hooks: HookDeclaration[];
  /** The plugin's config: its JSON Schema, if any, its defaults, per-environment sections and validation mode (docs/config.md). */
  config: ManifestConfig;
  /** The limits the manifest asks for (the host's policy may lower them). */
  limits: Limits;
  /** `sha256-<hex>` or `sha256-<base64>` of the entry file, checked before it is compiled. */
  integrity?: string;
  /** What it serves over HTTP (`[[api.endpoints]]`); absent when the manifest declares no endpoint. */
  api?: { endpoints: EndpointDeclaration[] };
  /** Its `[interfaces]` table (app-defined WIT interfaces, docs/host-interfaces.md); absent when the manifest has none. */
  interfaces?: ManifestInterfaces;
  /** Its `assets` patterns, as written (relative paths or globs; matched only by `plughost pack`). */
  assets?: string[];
  /** Absolute path of the manifest file. */
  file: string;
  /** Absolute directory of the manifest file. */
  dir: string;
}

/** A manifest's `[interfaces]` table, normalized. */
export interface ManifestInterfaces {
  /** Absolute path of the `.wit` file or WIT directory holding the interfaces the plugin exports and imports. */
  wit?: string;
  /** The world of that WIT the plugin is built against. */
  world?: string;
  /** `[interfaces.from]`: imported interface (unversioned id) → the plugin whose export provides it. */
  from: Record<string, string>;
}

/** A manifest's `[config]` table, normalized. */
export interface ManifestConfig {
  /** The JSON Schema the merged configuration must satisfy (read from `schemaFile` when the manifest names a file). */
  schema?: Record<string, unknown>;
  /** Absolute path of the schema file, when `config.schema` names one. */
  schemaFile?: string;
  /** Default values (the lowest source). */
  defaults: Record<string, unknown>;
  /** `[config.env.<environment>]` sections, applied over the defaults when the host's `environment` matches. */
  env?: Record<string, Record<string, unknown>>;
  /** `config.validation`: "lenient" (default) coerces scalars; "strict" does not, and refuses unknown keys. */
  validation?: "strict" | "lenient";
  /** `config.additional-properties`: what happens to keys the schema (or the defaults) do not name. */
  additionalProperties?: "allow" | "refuse" | "remove";
}

/** Options of `loadManifest` and `parseManifest`. */
export interface ManifestOptions {
  /** Report a missing entry file as a problem at /entry. Default true. */
  checkEntry?: boolean;
  /**
   * "check" (default) compiles `config.schema` and validates the defaults now;
   * "defer" leaves that to `checkConfigSchema`, which the registry runs only
   * after the plugin's signature is verified (a plugin's schema is code-like input).
   */
  configSchema?: "check" | "defer";
}

/** Bounds on what a manifest (and any document parsed by `parseDocument`) may hold. */
export const MANIFEST_BOUNDS = Object.freeze({
  /** Nesting of tables/objects and arrays. */
  depth: 64,
  /** Values (objects, arrays, scalars) in one document. */
  values: 20_000,
  /** Entries in each of capabilities, optional-capabilities, hooks, dependencies, optional-dependencies. */
  listEntries: 1024,
  /** Problems spelt out in an error message (the rest are counted). */
  problemsShown: 10,
  /** Values in a plugin's config.schema (ajv's compile time grows with it). */
  schemaValues: 2000,
  /** Characters in one plugin-supplied regex pattern. */
  patternLength: 256,
  /** RE2 program instructions over all of a config.schema's patterns (compile time grows with them). */
  patternInstructions: 20_000,
});

/** Seed 003's named priorities. */
export const HOOK_PRIORITIES: Readonly<Record<string, number>> = {
  CRITICAL: 1000,
  HIGH: 500,
  NORMAL: 100,
  LOW: 50,
  CLEANUP: 10,
};
/** A hook's priority when the manifest gives none (NORMAL). */
export const DEFAULT_HOOK_PRIORITY = 100;

// ── JSON Schema plumbing ────────────────────────────────────────────────────

export type SyntaxFormat = "toml" | "json";

export function newAjv(draft: "2020-12" | "draft-07", extra: AjvOptions = {}): AjvInstance {
  const options: AjvOptions = {
    allErrors: true,
    verbose: true, // gives errors their parentSchema and data, for the messages
    strict: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    validateFormats: false, // no format plugin is bundled; `format` is an annotation
    ...extra,
  };
  const ajv = draft === "2020-12" ? new Ajv2020(options) : new AjvDraft7(options);
  // Annotations carrying plughost's wording; validators other than plughost ignore them.
  ajv.addKeyword({ keyword: "x-expected", schemaType: "string" });
  ajv.addKeyword({ keyword: "x-plain-type", schemaType: "boolean" });
  ajv.addKeyword({ keyword: "x-error", schemaType: "string" });
  return ajv;
}

/** Escape one JSON-pointer segment. */
export function pointerSegment(key: string | number): string {
  return String(key).replace(/~/g, "~0").replace(/\//g, "~1");
}

export function joinPointer(base: string, ...keys: (string | number)[]): string {
  return base + keys.map((k) => "/" + pointerSegment(k)).join("");
}

/** A short rendering of a value for "got …". */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value instanceof Date) return "a date";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "a table/object";
  if (typeof value === "string") {
    const s = JSON.stringify(value);
    return s.length > 80 ? s.slice(0, 77) + '…"' : s;
  }
  return String(value);
}

const TYPE_WORDS: Record<string, string> = {
  string: "a string",
  integer: "a whole number",
  number: "a number",
  boolean: "true or false",
  object: "a table/object",
  array: "an array",
  null: "null",
};

function typeWords(t: unknown): string {
  const list = Array.isArray(t) ? t : [t];
  return list.map((x) => TYPE_WORDS[String(x)] ?? String(x)).join(" or ");
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}

/** The allowed key closest to a misspelt one (snake_case, camelCase and small typos). */
export function suggestKey(key: string, allowed: readonly string[]): string | undefined {
  if (key.length > 64) return undefined; // no allowed key is that long, and edit distance costs length × length
  const norm = (s: string): string => s.replace(/([a-z0-9])([A-Z])/g, "$1-$2").replace(/_/g, "-").toLowerCase();
  const exact = allowed.find((a) => norm(a) === norm(key));
  if (exact) return exact;
  let best: string | undefined;
  let bestDist = 3;
  for (const a of allowed) {
    const d = levenshtein(norm(key), norm(a));
    if (d < bestDist) [best, bestDist] = [a, d];
  }
  return best;
}

function example(key: string, value: unknown, format: SyntaxFormat): string {
  return format === "toml" ? `${key} = ${JSON.stringify(value)}` : `"${key}": ${JSON.stringify(value)}`;
}

interface RawProblem extends ManifestProblem {
  annotated: boolean;
}

/**
 * Turn ajv errors into one problem per (pointer, message), worded for people:
 * the schema's `x-error` / `x-expected` annotations win over ajv's generic
 * messages, and wrapper errors (if, oneOf, anyOf) fold into their details.
 */
export function schemaProblems(errors: readonly ErrorObject[], format: SyntaxFormat = "json"): ManifestProblem[] {
  const raw: RawProblem[] = [];
  const parent = (e: ErrorObject): AnySchemaObject => e.parentSchema ?? {};
  for (const e of errors) {
    const ps = parent(e);
    const got = describeValue(e.data);
    const params = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case "required": {
        const missing = String(params.missingProperty);
        const props = (ps.properties ?? {}) as Record<string, AnySchemaObject>;
        const ex = props[missing]?.examples?.[0];
        raw.push({
          pointer: joinPointer(e.instancePath, missing),
          message: `is required but missing` + (ex !== undefined ? `; add ${example(missing, ex, format)}` : ""),
          annotated: true,
        });
        continue;
      }
      case "additionalProperties": {
        const key = String(params.additionalProperty);
        const allowed = Object.keys((ps.properties ?? {}) as object);
        const hint = suggestKey(key, allowed);
        raw.push({
          pointer: joinPointer(e.instancePath, key),
          message:
            `unknown key ${describeValue(key)}` +
            (hint ? `; did you mean ${JSON.stringify(hint)}?` : allowed.length > 0 ? `; allowed keys are ${allowed.join(", ")}` : ""),
          annotated: true,
        });
        continue;
      }
      case "propertyNames":
        continue; // reported through the inner error, below
      case "if":
        continue; // always accompanied by its then/else errors
    }
    // Errors inside propertyNames concern the key itself.
    const pointer = e.propertyName !== undefined ? joinPointer(e.instancePath, e.propertyName) : e.instancePath;
    const shown = e.propertyName !== undefined ? describeValue(e.propertyName) : got;
    if (typeof ps["x-error"] === "string") {
      raw.push({ pointer, message: ps["x-error"], annotated: true });
      continue;
    }
    // x-plain-type: a value of the wrong type is told so plainly ("must be a string, got 42"), x-expected words the rest.
    if (typeof ps["x-expected"] === "string" && !(e.keyword === "type" && ps["x-plain-type"] === true)) {
      raw.push({ pointer, message: `must be ${ps["x-expected"]}, got ${shown}`, annotated: true });
      continue;
    }
    let message: string;
    switch (e.keyword) {
      case "type":
        message = `must be ${typeWords(params.type)}, got ${got}`;
        break;
      case "enum":
        message = `must be one of ${((params.allowedValues as unknown[]) ?? []).map((v) => JSON.stringify(v)).join(", ")}, got ${got}`;
        break;
      case "const":
        message = `must be ${JSON.stringify(params.allowedValue)}, got ${got}`;
        break;
      case "minimum":
        message = `must be at least ${params.limit}, got ${got}`;
        break;
      case "maximum":
        message = `must be at most ${params.limit}, got ${got}`;
        break;
      case "exclusiveMinimum":
        message = `must be greater than ${params.limit}, got ${got}`;
        break;
      case "exclusiveMaximum":
        message = `must be less than ${params.limit}, got ${got}`;
        break;
      case "minLength":
        message = params.limit === 1 ? "must not be empty" : `must be at least ${params.limit} characters long, got ${got}`;
        break;
      case "maxLength":
        message = `must be at most ${params.limit} characters long`;
        break;
      case "pattern":
        message = `must match the pattern ${params.pattern}, got ${shown}`;
        break;
      case "uniqueItems":
        message = `must not list the same item twice (items ${params.j} and ${params.i} are equal)`;
        break;
      case "minItems":
      case "maxItems":
      case "minProperties":
      case "maxProperties":
        message = `must have ${e.keyword.startsWith("min") ? "at least" : "at most"} ${params.limit} ${e.keyword.endsWith("Items") ? "items" : "keys"}`;
        break;
      case "false schema":
        message = "is not allowed here; remove it";
        break;
      default:
        message = e.message ?? `fails the ${e.keyword} rule`;
    }
    raw.push({ pointer, message, annotated: false });
  }
  // Per pointer: annotated problems replace generic ones (e.g. the branches of a oneOf).
  const annotatedAt = new Set(raw.filter((p) => p.annotated).map((p) => p.pointer));
  const out: ManifestProblem[] = [];
  const seen = new Set<string>();
  for (const p of raw) {
    if (!p.annotated && annotatedAt.has(p.pointer)) continue;
    const key = p.pointer + "\0" + p.message;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ pointer: p.pointer, message: p.message });
  }
  return out;
}

/**
 * Problems with a parsed document's shape, found without recursion (so a
 * document nested thousands deep is a problem, not a stack overflow):
 * nesting deeper than MANIFEST_BOUNDS.depth, more than MANIFEST_BOUNDS.values values.
 */
export function structureProblems(value: unknown): ManifestProblem[] {
  // Pointers are built only for the node reported: a long key must not be copied into every descendant's.
  type Node = { v: unknown; depth: number; parent?: Node; key?: string | number };
  const pointerOf = (n: Node): string => {
    const keys: (string | number)[] = [];
    for (let at: Node | undefined = n; at?.key !== undefined; at = at.parent) keys.push(at.key);
    return joinPointer("", ...keys.reverse());
  };
  const stack: Node[] = [{ v: value, depth: 0 }];
  let count = 0;
  while (stack.length > 0) {
    const node = stack.pop()!;
    const { v, depth } = node;
    if (++count > MANIFEST_BOUNDS.values) {
      return [{ pointer: "", message: `holds more than ${MANIFEST_BOUNDS.values} values; a manifest or config must stay small` }];
    }
    if (typeof v !== "object" || v === null || v instanceof Date) continue;
    if (depth >= MANIFEST_BOUNDS.depth) {
      return [{ pointer: pointerOf(node), message: `is nested more than ${MANIFEST_BOUNDS.depth} tables/arrays deep; flatten it` }];
    }
    if (Array.isArray(v)) v.forEach((x, i) => stack.push({ v: x, depth: depth + 1, parent: node, key: i }));
    else for (const [k, x] of Object.entries(v)) stack.push({ v: x, depth: depth + 1, parent: node, key: k });
  }
  return [];
}

/** How many values (objects, arrays, scalars) `value` holds; iterative. Call on depth-checked values. */
function countValues(value: unknown): number {
  const stack: unknown[] = [value];
  let count = 0;
  while (stack.length > 0) {
    const v = stack.pop();
    count++;
    if (typeof v === "object" && v !== null) stack.push(...(Array.isArray(v) ? v : Object.values(v)));
  }
  return count;
}

/**
 * Keys that appear twice in one JSON object (JSON.parse silently keeps the
 * last, so a reader of the file would see a different document than the
 * host). `text` must be valid JSON; iterative, linear in its length.
 */
export function duplicateJsonKeys(text: string): ManifestProblem[] {
  type Frame = { keys: Set<string>; key: string; expectKey: boolean } | { index: number };
  const stack: Frame[] = [];
  const problems: ManifestProblem[] = [];
  const where = (): string => joinPointer("", ...stack.slice(0, -1).map((f) => ("index" in f ? f.index : f.key)));
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      let escaped = false;
      while (j < text.length && text[j] !== '"') {
        if (text[j] === "\\") {
          escaped = true;
          j += 2;
        } else j++;
      }
      const top = stack[stack.length - 1];
      if (top && "keys" in top && top.expectKey) {
        const raw = text.slice(i, j + 1);
        const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (top.keys.has(key) && problems.length < MANIFEST_BOUNDS.problemsShown) {
          problems.push({ pointer: joinPointer(where(), key), message: `key ${JSON.stringify(key)} appears more than once in this object; keep one (JSON readers disagree on which wins)` });
        }
        top.keys.add(key);
        top.key = key;
      }
      i = j;
    } else if (c === "{") stack.push({ keys: new Set(), key: "", expectKey: true });
    else if (c === "[") stack.push({ index: 0 });
    else if (c === "}" || c === "]") stack.pop();
    else if (c === ":" || c === ",") {
      const top = stack[stack.length - 1];
      if (top && "keys" in top) top.expectKey = c === ",";
      else if (top && c === ",") top.index++;
    }
  }
  return problems;
}

/**
 * Parse a TOML or JSON document; syntax errors become problems with line and
 * column. Nesting, size and (JSON) duplicate keys are checked here too, so
 * every caller gets a bounded, unambiguous document or problems.
 */
export function parseDocument(text: string, format: SyntaxFormat): { value?: unknown; problems: ManifestProblem[] } {
  const checked = (value: unknown): { value?: unknown; problems: ManifestProblem[] } => {
    const shape = structureProblems(value);
    if (shape.length > 0) return { problems: shape };
    const dupes = format === "json" ? duplicateJsonKeys(text) : []; // TOML refuses duplicate keys itself
    return dupes.length > 0 ? { problems: dupes } : { value, problems: [] };
  };
  if (format === "toml") {
    try {
      // smol-toml bounds inline nesting itself; dotted keys are caught by structureProblems.
      return checked(parseToml(text, { maxDepth: MANIFEST_BOUNDS.depth }));
    } catch (err) {
      if (err instanceof TomlError) {
        const first = err.message.split("\n")[0] ?? err.message;
        return { problems: [{ pointer: "", message: `TOML syntax error at line ${err.line}, column ${err.column}: ${first}` }] };
      }
      if (err instanceof RangeError) return { problems: [{ pointer: "", message: `is nested too deeply to parse; flatten it` }] };
      throw err;
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const at = /position (\d+)/.exec(msg);
    let where = "";
    if (at) {
      const pos = Number(at[1]);
      const before = text.slice(0, pos).split("\n");
      where = ` at line ${before.length}, column ${(before[before.length - 1]?.length ?? 0) + 1}`;
    }
    const reason = msg.replace(/ in JSON at position \d+.*$/, "").replace(/ \(line \d+ column \d+\)$/, "");
    return { problems: [{ pointer: "", message: `JSON syntax error${where}: ${reason}` }] };
  }
  return checked(value);
}

export function formatOf(file: string): SyntaxFormat | undefined {
  const ext = path.extname(file).toLowerCase();
  return ext === ".toml" ? "toml" : ext === ".json" ? "json" : undefined;
}

/** The largest memory cap that means anything: wasm32's 65,536 pages of 64 KiB. */
export const MAX_MEMORY_BYTES = 4 * 1024 ** 3;

const SIZE_UNITS: Record<string, number> = { "": 1, B: 1, KB: 1e3, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 };

/**
 * A byte size: an integer, or a string like "16MiB", "512 KiB", "1.5GB".
 * Returns undefined when it is not one (or not a whole, positive, safe number of bytes).
 */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 1 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const m = /^([0-9]+(?:\.[0-9]+)?) ?(B|KB|KiB|MB|MiB|GB|GiB)?$/.exec(value.trim());
  if (!m) return undefined;
  const bytes = Number(m[1]) * (SIZE_UNITS[m[2] ?? ""] as number);
  return Number.isSafeInteger(bytes) && bytes >= 1 ? bytes : undefined;
}

// ── user-supplied JSON Schemas (plugin config) ──────────────────────────────

const DRAFT_07 = /^https?:\/\/json-schema\.org\/draft-07\/schema#?$/;
const DRAFT_2020 = /^https:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/;
const userSchemaCache = new Map<string, ValidateFunction>();

/** A user schema that ajv will not compile. */
export class SchemaCompileError extends Error {}

type LinearRegExp = { test: (s: string) => boolean; toString: () => string };

/** Matching work (input characters × RE2 instructions) allowed in one validation of a plugin's config. */
const MATCH_WORK_BUDGET = 50_000_000;

class MatchBudgetExceeded extends Error {}

/**
 * ajv's regular-expression engine for a plugin-supplied schema: RE2 (the
 * pure-JS re2js port) matches in time linear in the input, so a `pattern`,
 * `patternProperties` or `propertyNames` regex cannot backtrack
 * catastrophically. RE2 has no backreferences or lookaround; such patterns
 * fail to compile. Linear is not free (RE2's fallback costs input length ×
 * program size), so patterns are short, their programs small, and the work
 * of one validation bounded by `budget`.
 */
function linearRegExps(budget: { work: number }): ((pattern: string) => LinearRegExp) & { code: string } {
  let instructions = 0; // over the whole schema, so many small patterns cannot add up to a long compile
  const engine = (pattern: string): LinearRegExp => {
    const refuse = (why: string): never => {
      throw new SchemaCompileError(`pattern ${describeValue(pattern)} is not supported: ${why}`);
    };
    if (pattern.length > MANIFEST_BOUNDS.patternLength) refuse(`it is longer than ${MANIFEST_BOUNDS.patternLength} characters`);
    let re: RE2JS;
    try {
      re = RE2JS.compile(pattern);
    } catch (err) {
      return refuse(`${(err as Error).message}; plughost matches config patterns with RE2 (linear time), which has no backreferences or lookaround`);
    }
    const program: unknown = (re.re2Input.prog as { inst?: unknown } | undefined)?.inst;
    const size = Array.isArray(program) ? program.length : pattern.length;
    instructions += size;
    if (instructions > MANIFEST_BOUNDS.patternInstructions) refuse(`the schema's patterns expand to more than ${MANIFEST_BOUNDS.patternInstructions} RE2 instructions; use fewer or smaller repetitions`);
    const test = (s: string): boolean => {
      budget.work += (s.length + 1) * size;
      if (budget.work > MATCH_WORK_BUDGET) throw new MatchBudgetExceeded();
      return re.test(s); // no captures: RE2's DFA path
    };
    // ajv keys compiled patterns by toString(): it must differ per pattern, as a RegExp's does.
    return { test, toString: () => `re2:${pattern}` };
  };
  return Object.assign(engine, { code: "re2js" });
}

/** How `compileUserSchema` validates: whether keys `additionalProperties: false` refuses are removed instead. */
export interface UserSchemaOptions {
  /** Drop the keys an `additionalProperties: false` refuses instead of failing, as ajv's `removeAdditional: true`. Default false. */
  removeAdditional?: boolean;
}

/**
 * Compile a plugin's config schema: draft 2020-12 unless `$schema` names
 * draft-07. Compiled once per distinct schema; each gets its own ajv
 * instance so one plugin's `$id`s cannot collide with or leak into another's.
 * Schema `default`s are applied to the data validated. The schema is bounded
 * (MANIFEST_BOUNDS) and so is the pattern-matching work of each validation
 * (past it, validation fails with a problem at the root).
 */
export function compileUserSchema(schema: Record<string, unknown>, options: UserSchemaOptions = {}): ValidateFunction {
  const values = structureProblems(schema).length === 0 ? countValues(schema) : Infinity;
  if (values > MANIFEST_BOUNDS.schemaValues) {
    throw new SchemaCompileError(`is too large: more than ${MANIFEST_BOUNDS.schemaValues} values (or nested too deeply); keep a config schema small`);
  }
  const remove = options.removeAdditional === true;
  const key = `${remove ? "r" : "-"}${JSON.stringify(schema)}`;
  const cached = userSchemaCache.get(key);
  if (cached) return cached;
  const declared = schema.$schema;
  let draft: "2020-12" | "draft-07";
  if (declared === undefined || (typeof declared === "string" && DRAFT_2020.test(declared))) draft = "2020-12";
  else if (typeof declared === "string" && DRAFT_07.test(declared)) draft = "draft-07";
  else {
    throw new SchemaCompileError(
      `$schema ${describeValue(declared)} is not supported; use "https://json-schema.org/draft/2020-12/schema" or "http://json-schema.org/draft-07/schema#", or leave it out`,
    );
  }
  const budget = { work: 0 };
  const ajv = newAjv(draft, { useDefaults: true, code: { regExp: linearRegExps(budget) }, ...(remove ? { removeAdditional: true } : {}) });
  let inner: ValidateFunction;
  try {
    inner = ajv.compile(schema);
  } catch (err) {
    if (err instanceof SchemaCompileError) throw err;
    throw new SchemaCompileError(`is not a valid JSON Schema: ${err instanceof Error ? err.message : String(err)}`);
  }
  const bounded = ((data: unknown): boolean => {
    budget.work = 0;
    try {
      const ok = inner(data);
      bounded.errors = inner.errors ?? null;
      return ok;
    } catch (err) {
      if (!(err instanceof MatchBudgetExceeded)) throw err;
      const message = `matching its strings against the schema's patterns takes more than ${MATCH_WORK_BUDGET} steps; use shorter strings or simpler patterns`;
      bounded.errors = [{ keyword: "x-pattern-budget", instancePath: "", schemaPath: "#", params: {}, message }];
      return false;
    }
  }) as ValidateFunction;
  Object.assign(bounded, { schema: inner.schema, schemaEnv: inner.schemaEnv });
  // A small cache: distinct schemas come from plugins and reloads, and must not pile up.
  if (userSchemaCache.size >= 256) userSchemaCache.delete(userSchemaCache.keys().next().value as string);
  userSchemaCache.set(key, bounded);
  return bounded;
}

// ── the manifest schema ─────────────────────────────────────────────────────

let manifestValidator: ValidateFunction | undefined;

/** The schema object read from MANIFEST_SCHEMA_PATH. */
export function loadManifestSchema(): Record<string, unknown> {
  return JSON.parse(readFileSync(MANIFEST_SCHEMA_PATH, "utf8")) as Record<string, unknown>;
}

function validator(): ValidateFunction {
  manifestValidator ??= newAjv("2020-12").compile(loadManifestSchema());
  return manifestValidator;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Problems the schema cannot express. `doc` passed the schema where `clean(pointer)`. */
function semanticProblems(doc: Record<string, unknown>, dir: string, format: SyntaxFormat, schemaPointers: Set<string>, checkConfig: boolean): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const clean = (p: string): boolean => !schemaPointers.has(p);

  const api = doc["api-version"];
  if (typeof api === "string" && clean("/api-version") && semver.validRange(api) === null) {
    problems.push({ pointer: "/api-version", message: `must be a semver range like "^0.1.0", got ${describeValue(api)}` });
  }

  const name = doc.name;
  const seenDeps = new Map<string, string>();
  for (const table of ["dependencies", "optional-dependencies", "peer-dependencies"] as const) {
    const deps = doc[table];
    if (!isRecord(deps)) continue;
    for (const [dep, range] of Object.entries(deps)) {
      const pointer = joinPointer("", table, dep);
      if (!clean(pointer)) continue;
      if (dep === name) problems.push({ pointer, message: "a plugin cannot depend on itself; remove this entry" });
      else if (typeof range === "string" && semver.validRange(range) === null) {
        problems.push({ pointer, message: `must be a semver range like "^1.2.0", got ${describeValue(range)}` });
      }
      const other = seenDeps.get(dep);
      if (other !== undefined) problems.push({ pointer, message: `${JSON.stringify(dep)} is also listed in ${other}; keep it in one table only` });
      seenDeps.set(dep, table);
    }
  }

  const recovery = doc.recovery;
  if (isRecord(recovery) && clean("/recovery")) {
    if (recovery.strategy === "fallback" && typeof recovery.fallback !== "string") {
      problems.push({ pointer: "/recovery/fallback", message: 'strategy "fallback" needs the name of the plugin that stands in; add fallback = "<plugin>"' });
    }
    if (recovery.fallback !== undefined && recovery.strategy !== "fallback") {
      problems.push({ pointer: "/recovery/fallback", message: 'applies only to strategy = "fallback"; set the strategy or remove it' });
    }
    if (recovery.fallback !== undefined && recovery.fallback === name) problems.push({ pointer: "/recovery/fallback", message: "a plugin cannot be its own fallback; name another plugin" });
    if (recovery.idempotent !== undefined && recovery.strategy !== "retry") {
      problems.push({ pointer: "/recovery/idempotent", message: 'applies only to strategy = "retry"; set the strategy or remove it' });
    }
  }

  const seenCaps = new Map<string, string>();
  for (const list of ["capabilities", "optional-capabilities"] as const) {
    const caps = doc[list];
    if (!Array.isArray(caps)) continue;
    const firstAt = new Map<string, number>(); // exact duplicates, found in linear time (ajv's uniqueItems is quadratic)
    caps.forEach((cap: unknown, i) => {
      const pointer = joinPointer("", list, i);
      if (typeof cap !== "string") return;
      const first = firstAt.get(cap);
      if (first !== undefined) {
        problems.push({ pointer: joinPointer("", list), message: `must not list the same item twice (items ${first} and ${i} are equal)` });
        return;
      }
      firstAt.set(cap, i);
      try {
        const canonical = formatCapability(parseCapability(cap, { baseDir: dir }));
        const other = seenCaps.get(canonical);
        if (other === list) {
          problems.push({ pointer, message: `${JSON.stringify(cap)} is listed twice in ${list} (in another spelling); list it once` });
        } else if (other !== undefined) {
          problems.push({ pointer, message: `${JSON.stringify(cap)} is also listed in ${other}; a capability is either required or optional` });
        }
        seenCaps.set(canonical, list);
      } catch (err) {
        if (!(err instanceof CapabilityError)) throw err;
        // The capability grammar says more than the schema's pattern can.
        schemaPointers.delete(pointer);
        problems.push({ pointer, message: err.reason });
      }
    });
  }

  const hooks = doc.hooks;
  if (Array.isArray(hooks)) {
    const events = new Map<string, number>();
    hooks.forEach((h: unknown, i) => {
      if (!isRecord(h) || typeof h.event !== "string") return;
      const first = events.get(h.event);
      if (first !== undefined) {
        problems.push({ pointer: joinPointer("", "hooks", i, "event"), message: `hook ${JSON.stringify(h.event)} is already declared at /hooks/${first}; declare each event once` });
      } else events.set(h.event, i);
    });
  }

  const limits = doc.limits;
  if (isRecord(limits) && limits.memory !== undefined && clean("/limits/memory") && !((parseByteSize(limits.memory) ?? Infinity) <= MAX_MEMORY_BYTES)) {
    problems.push({
      pointer: "/limits/memory",
      message: `must be a whole number of bytes from 1 to 4GiB (the wasm32 maximum), got ${describeValue(limits.memory)}`,
    });
  }

  const entry = doc.entry;
  if (typeof entry === "string" && clean("/entry") && entry.includes("\0")) {
    problems.push({ pointer: "/entry", message: "contains a NUL byte; remove it" });
  } else if (typeof entry === "string" && clean("/entry") && !isWithin(dir, path.resolve(dir, entry))) {
    problems.push({ pointer: "/entry", message: `${describeValue(entry)} leaves the plugin's directory ${dir}; the entry must lie inside it` });
  }

  const ifaces = doc.interfaces;
  if (isRecord(ifaces)) {
    if (typeof ifaces.wit === "string" && clean("/interfaces/wit") && ifaces.wit.includes("\0")) problems.push({ pointer: "/interfaces/wit", message: "contains a NUL byte; remove it" });
    if (isRecord(ifaces.from)) {
      for (const [id, from] of Object.entries(ifaces.from)) {
        if (from === name && clean(joinPointer("", "interfaces", "from", id))) {
          problems.push({ pointer: joinPointer("", "interfaces", "from", id), message: "a plugin cannot import an interface from itself; name another plugin, or remove the entry to use the host's" });
        }
      }
    }
  }

  if (clean("/assets")) problems.push(...assetProblems(doc.assets, clean));
  problems.push(...catalogueSemanticProblems(doc, clean));
  problems.push(...endpointProblems(doc, clean, checkConfig));
  if (checkConfig) problems.push(...configProblems(doc.config, format, clean));
  return problems;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, second: 1000, seconds: 1000, m: 60_000, minute: 60_000, minutes: 60_000, h: 3_600_000, hour: 3_600_000, hours: 3_600_000 };

/** A rate-limit window in milliseconds: an integer, or "10s", "1 minute", "2h". Undefined when it is not one. */
export function parseWindowMs(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 1 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const m = /^([0-9]{1,9}) ?([a-z]+)$/.exec(value);
  const unit = m ? DURATION_UNITS[m[2] as string] : undefined;
  if (!m || unit === undefined) return undefined;
  const ms = Number(m[1]) * unit;
  return ms >= 1 && ms <= 2_147_483_647 ? ms : undefined;
}

/**
 * `[[api.endpoints]]` rules beyond the schema: serving needs `http:serve` declared, one endpoint per method and path,
 * params named once, a window that fits a timer, and (with the config schema, after the signature is checked) body,
 * query and params schemas that compile.
 */
function endpointProblems(doc: Record<string, unknown>, clean: (pointer: string) => boolean, compileSchemas: boolean): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const api = doc.api;
  const endpoints = isRecord(api) && Array.isArray(api.endpoints) ? (api.endpoints as unknown[]) : [];
  if (endpoints.length === 0) return problems;
  const declared = [...(Array.isArray(doc.capabilities) ? doc.capabilities : []), ...(Array.isArray(doc["optional-capabilities"]) ? doc["optional-capabilities"] : [])];
  if (clean("/api/endpoints") && !declared.includes("http:serve")) {
    problems.push({ pointer: "/api/endpoints", message: `serving endpoints needs the capability "http:serve"; add it to capabilities (or optional-capabilities), and the host must grant it` });
  }
  const seen = new Map<string, number>();
  endpoints.forEach((e, i) => {
    if (!isRecord(e)) return;
    const at = (...keys: (string | number)[]): string => joinPointer("", "api", "endpoints", i, ...keys);
    if (typeof e.method === "string" && typeof e.path === "string" && clean(at("path")) && clean(at("method"))) {
      // `/a/:x` and `/a/:y` match the same requests: compare with params blanked.
      const shape = `${e.method} ${e.path.replace(/:[A-Za-z0-9_]+/g, ":")}`;
      const first = seen.get(shape);
      if (first !== undefined) problems.push({ pointer: at("path"), message: `${e.method} ${e.path} matches the same requests as /api/endpoints/${first}; declare each method and path once` });
      else seen.set(shape, i);
      const names = [...e.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1] as string);
      const twice = names.find((n, j) => names.indexOf(n) !== j);
      if (twice !== undefined) problems.push({ pointer: at("path"), message: `names the param ":${twice}" twice; give each param its own name` });
    }
    const rl = e["rate-limit"];
    if (isRecord(rl) && rl.window !== undefined && clean(at("rate-limit", "window")) && parseWindowMs(rl.window) === undefined) {
      problems.push({ pointer: at("rate-limit", "window"), message: `must be from 1 ms to 2147483647 ms (about 24.8 days), got ${describeValue(rl.window)}` });
    }
    const schema = e.schema;
    if (compileSchemas && isRecord(schema)) {
      for (const part of ["body", "query", "params"] as const) {
        const s = schema[part];
        if (!isRecord(s) || !clean(at("schema", part))) continue;
        try {
          compileUserSchema(s);
        } catch (err) {
          if (!(err instanceof SchemaCompileError)) throw err;
          problems.push({ pointer: at("schema", part), message: err.message });
        }
      }
    }
  });
  return problems;
}

/** The `[[api.endpoints]]` schema checks that `parseManifest(..., { configSchema: "defer" })` skipped, as problems (none when they compile). */
export function endpointSchemaProblems(m: Pick<Manifest, "api">): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  (m.api?.endpoints ?? []).forEach((e, i) => {
    for (const part of ["body", "query", "params"] as const) {
      const s = e.schema[part];
      if (!s) continue;
      try {
        compileUserSchema(s);
      } catch (err) {
        if (!(err instanceof SchemaCompileError)) throw err;
        problems.push({ pointer: joinPointer("", "api", "endpoints", i, "schema", part), message: err.message });
      }
    }
  });
  return problems;
}

/** Problems of `config.schema` (compiled with the linear-time regex engine) and of the defaults against it. */
function configProblems(config: unknown, format: SyntaxFormat, clean: (pointer: string) => boolean = () => true): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  if (isRecord(config) && isRecord(config.schema) && clean("/config/schema")) {
    let validate: ValidateFunction | undefined;
    try {
      validate = compileUserSchema(config.schema);
    } catch (err) {
      if (!(err instanceof SchemaCompileError)) throw err;
      problems.push({ pointer: "/config/schema", message: err.message });
    }
    const defaults = config.defaults ?? {};
    if (validate && isRecord(defaults) && !validate(structuredClone(defaults))) {
      // `required` is for the host to satisfy with overrides, not for the defaults.
      const errors = (validate.errors ?? []).filter((e) => e.keyword !== "required");
      for (const p of schemaProblems(errors, format)) {
        problems.push({ pointer: "/config/defaults" + p.pointer, message: `${p.message} (the defaults must satisfy config.schema)` });
      }
    }
    // Each environment's section over the defaults must satisfy it too (required keys are still the host's to give).
    const sections = isRecord(config.env) ? config.env : {};
    for (const [env, section] of Object.entries(sections)) {
      if (!validate || !isRecord(defaults) || !isRecord(section)) continue;
      if (validate(mergeShallowDeep(defaults, section))) continue;
      const errors = (validate.errors ?? []).filter((e) => e.keyword !== "required");
      for (const p of schemaProblems(errors, format)) {
        problems.push({ pointer: joinPointer("/config/env", env) + p.pointer, message: `${p.message} (config.defaults with this section must satisfy config.schema)` });
      }
    }
  }
  return problems;
}

/** `override` deep-merged onto a copy of `base` (objects by key; anything else replaces). */
function mergeShallowDeep(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [k, v] of Object.entries(override)) out[k] = isRecord(out[k]) && isRecord(v) ? mergeShallowDeep(out[k] as Record<string, unknown>, v) : structuredClone(v);
  return out;
}

/**
 * `config.schema` given as a path: read the .json file (a regular file inside the plugin's directory, at most
 * MAX_MANIFEST_BYTES) and put the parsed schema in its place. Returns the file, or the problem.
 */
function readConfigSchemaFile(doc: Record<string, unknown>, dir: string): { file?: string; problem?: ManifestProblem } {
  const config = doc.config;
  if (!isRecord(config) || typeof config.schema !== "string") return {};
  const pointer = "/config/schema";
  const file = path.resolve(dir, config.schema);
  const fail = (message: string) => ({ problem: { pointer, message } });
  if (!isWithin(dir, file)) return fail(`${describeValue(config.schema)} leaves the plugin's directory ${dir}; keep the schema file next to the manifest`);
  let info;
  try {
    info = statSync(file);
  } catch {
    return fail(`schema file ${file} does not exist; create it or give the schema inline`);
  }
  if (!info.isFile()) return fail(`schema file ${file} is not a regular file`);
  if (info.size > MAX_MANIFEST_BYTES) return fail(`schema file ${file} is ${info.size} bytes, more than the ${MAX_MANIFEST_BYTES}-byte cap; keep a config schema small`);
  if (!isWithin(realpathSync(dir), realpathSync(file))) return fail(`schema file ${file} resolves outside the plugin's directory; keep it there (not a link out)`);
  const parsed = parseDocument(readFileSync(file, "utf8"), "json");
  if (parsed.problems.length > 0) return fail(`schema file ${file}: ${parsed.problems.map((p) => `${p.pointer || "/"}: ${p.message}`).join("; ")}`);
  if (!isRecord(parsed.value)) return fail(`schema file ${file} must hold a JSON object (a JSON Schema), got ${describeValue(parsed.value)}`);
  config.schema = parsed.value;
  return { file };
}

function toLimits(raw: Record<string, unknown> | undefined): Limits {
  const limits: Limits = {};
  if (!raw) return limits;
  if (typeof raw.fuel === "number") limits.fuel = raw.fuel;
  if (typeof raw["fuel-lifetime"] === "number") limits.fuelLifetime = raw["fuel-lifetime"];
  const memory = parseByteSize(raw.memory);
  if (memory !== undefined) limits.memoryBytes = memory;
  if (typeof raw["deadline-ms"] === "number") limits.deadlineMs = raw["deadline-ms"];
  if (typeof raw["table-elements"] === "number") limits.tableElements = raw["table-elements"];
  const state = parseByteSize(raw.state);
  if (state !== undefined) limits.stateBytes = state;
  if (typeof raw["state-keys"] === "number") limits.stateKeys = raw["state-keys"];
  if (typeof raw["open-files"] === "number") limits.openFiles = raw["open-files"];
  if (typeof raw.connections === "number") limits.connections = raw.connections;
  const fsWrite = parseByteSize(raw["fs-write-bytes"]);
  if (fsWrite !== undefined) limits.fsWriteBytes = fsWrite;
  return limits;
}

function toEndpoints(api: unknown): EndpointDeclaration[] {
  const list = isRecord(api) && Array.isArray(api.endpoints) ? (api.endpoints as Record<string, unknown>[]) : [];
  return list.map((e) => {
    const schema = isRecord(e.schema) ? structuredClone(e.schema) : {};
    const rl = e["rate-limit"] as { requests: number; window: number | string } | undefined;
    const auth = isRecord(e.auth) ? e.auth : {};
    const out: EndpointDeclaration = {
      method: e.method as EndpointMethod,
      path: e.path as string,
      handler: e.handler as string,
      schema: schema as EndpointDeclaration["schema"],
      auth: { required: auth.required === true, roles: Array.isArray(auth.roles) ? [...(auth.roles as string[])] : [] },
    };
    if (rl) out.rateLimit = { requests: rl.requests, windowMs: parseWindowMs(rl.window) as number };
    return out;
  });
}

/** The `[recovery]` table in camelCase (the schema checked its values). */
function toRecovery(raw: unknown): ManifestRecovery | undefined {
  if (!isRecord(raw)) return undefined;
  const keys: [string, keyof ManifestRecovery][] = [
    ["strategy", "strategy"],
    ["fallback", "fallback"],
    ["idempotent", "idempotent"],
    ["max-retries", "maxRetries"],
    ["backoff", "backoff"],
    ["base-delay-ms", "baseDelayMs"],
    ["init-retries", "initRetries"],
  ];
  const out: Record<string, unknown> = {};
  for (const [from, to] of keys) if (raw[from] !== undefined) out[to] = Array.isArray(raw[from]) ? [...(raw[from] as string[])] : raw[from];
  return out as ManifestRecovery;
}

function toHookDeclaration(h: Record<string, unknown>): HookDeclaration {
  const out: HookDeclaration = { event: h.event as string, priority: priorityOf(h.priority) };
  if (typeof h["timeout-ms"] === "number") out.timeoutMs = h["timeout-ms"];
  if (typeof h.retries === "number") out.retries = h.retries;
  if (h.async === true) out.async = true;
  if (h["on-error"] === "fail" || h["on-error"] === "skip") out.onError = h["on-error"];
  return out;
}

function priorityOf(p: unknown): number {
  if (typeof p === "number") return p;
  if (typeof p === "string") return HOOK_PRIORITIES[p.toUpperCase()] ?? DEFAULT_HOOK_PRIORITY;
  return DEFAULT_HOOK_PRIORITY;
}

/**
 * Parse and validate a manifest's text. The format follows the file's
 * extension (.toml or .json); `file` also anchors relative paths.
 *
 * @throws {@link ManifestError} listing every problem found (syntax, schema,
 *   capabilities, limits, config schema, a missing entry file unless
 *   `options.checkEntry` is false), each with its JSON pointer.
 * @example
 *   const m = parseManifest(text, "plugins/hello/plugin.toml", { checkEntry: false });
 */
export function parseManifest(text: string, file: string, options: ManifestOptions = {}): Manifest {
  const abs = path.resolve(file);
  const checkEntry = options.checkEntry ?? true;
  // The same text at the same path parses to the same manifest: only the entry file is looked at again.
  const key = `${options.configSchema ?? "check"}\0${abs}`;
  const known = parsedManifests.get(key);
  if (known !== undefined && known.text === text) {
    parsedManifests.delete(key); // refresh its place in the LRU order
    parsedManifests.set(key, known);
    const m = known.manifest;
    if (checkEntry && m.entry !== "") {
      const problem = entryProblem(m.entryPath, m.dir, m.kind);
      if (problem) throw new ManifestError(abs, [problem], { plugin: m.name });
    }
    return structuredClone(m);
  }
  const manifest = parseUncached(text, abs, options);
  // A schema read from another file is not in the text, so such a manifest is parsed again each time.
  if (manifest.config.schemaFile === undefined && text.length <= PARSED_MANIFEST_MAX_CHARS) {
    parsedManifests.delete(key);
    parsedManifests.set(key, { text, manifest: structuredClone(manifest) });
    if (parsedManifests.size > PARSED_MANIFESTS) parsedManifests.delete(parsedManifests.keys().next().value!);
  } else {
    parsedManifests.delete(key);
  }
  return manifest;
}

/**
 * The last manifest parsed at each path (by options and path), with its text, the most recently used last: a plugin
 * loaded again unchanged (a reload, a restart, another registry) skips the parse, the schema and the semantic checks,
 * whose outcome depends on nothing else. One entry per path, so a manifest edited again and again replaces its entry
 * rather than adding one per version. Each caller gets its own copy. Bounded in entries and in the text each holds.
 */
const parsedManifests = new Map<string, { text: string; manifest: Manifest }>();
const PARSED_MANIFESTS = 256;
const PARSED_MANIFEST_MAX_CHARS = 16 * 1024;

/** Forget the manifests parsed so far (tests and benchmarks that measure a first parse). */
export function clearManifestCache(): void {
  parsedManifests.clear();
}

/**
 * Why the entry file cannot be used: it does not exist, is not a file, or resolves outside the plugin's directory.
 * An entry below `dir` none of whose path components below it is a symbolic link resolves inside it: one lstat per
 * component says so (one for `plugin.wasm`), where the general check is two realpath walks.
 */
function entryProblem(entryPath: string, dir: string, kind: PluginKind): ManifestProblem | undefined {
  const rel = path.relative(dir, entryPath);
  if (rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel)) {
    const parts = rel.split(path.sep);
    let at = dir;
    let info: Stats | undefined;
    try {
      for (const part of parts) {
        at = path.join(at, part);
        info = lstatSync(at, { throwIfNoEntry: false });
        if (info === undefined || info.isSymbolicLink()) break;
      }
    } catch {
      info = undefined; // ENOTDIR and the like: the general check below says what is wrong
    }
    if (info !== undefined && at === entryPath && !info.isSymbolicLink()) {
      return info.isFile() ? undefined : { pointer: "/entry", message: `entry ${entryPath} is not a file; point it at the built ${kind === "native" ? "library" : ".wasm component"}` };
    }
  }
  if (!existsSync(entryPath)) {
    return { pointer: "/entry", message: `entry file ${entryPath} does not exist; build the plugin first (or fix the path, which is relative to ${dir})` };
  } else if (!statSync(entryPath).isFile()) {
    return { pointer: "/entry", message: `entry ${entryPath} is not a file; point it at the built ${kind === "native" ? "library" : ".wasm component"}` };
  } else if (!isWithin(realpathSync.native(dir), realpathSync.native(entryPath))) {
    // .native: one realpath(3) call, where the JS walk lstat()s every component (per load, per plugin).
    return { pointer: "/entry", message: `entry ${entryPath} resolves to ${realpathSync(entryPath)}, outside the plugin's directory; a signature or package covers only what is inside it, so keep the entry there (not a link out)` };
  }
  return undefined;
}

function parseUncached(text: string, abs: string, options: ManifestOptions): Manifest {
  const dir = path.dirname(abs);
  const format = formatOf(abs);
  if (!format) {
    throw new ManifestError(abs, [{ pointer: "", message: `unsupported manifest file type ${JSON.stringify(path.extname(abs))}; name it ${MANIFEST_FILES.join(" or ")}` }]);
  }
  if (text.length > MAX_MANIFEST_BYTES) {
    throw new ManifestError(abs, [{ pointer: "", message: `is ${text.length} characters long, more than the ${MAX_MANIFEST_BYTES}-byte manifest cap; keep manifests small` }]);
  }
  const parsed = parseDocument(text, format);
  if (parsed.problems.length > 0) throw new ManifestError(abs, parsed.problems);
  const doc = parsed.value;
  if (!isRecord(doc)) {
    throw new ManifestError(abs, [{ pointer: "", message: `must be a ${format === "toml" ? "TOML document" : "JSON object"} of manifest keys, got ${describeValue(doc)}` }]);
  }
  // Oversized lists are refused before anything walks them item by item.
  const tooLong = listProblems(doc);
  if (tooLong.length > 0) throw new ManifestError(abs, tooLong, typeof doc.name === "string" ? { plugin: doc.name } : {});

  const validate = validator();
  const schemaErrs = validate(doc) ? [] : schemaProblems(validate.errors ?? [], format);
  const schemaPointers = new Set(schemaErrs.map((p) => p.pointer));
  // A schema named by path is read now, so every later check sees the schema itself.
  const schemaFile = schemaPointers.has("/config/schema") ? {} : readConfigSchemaFile(doc, dir);
  if (schemaFile.problem) schemaErrs.push(schemaFile.problem), schemaPointers.add("/config/schema");
  const semantic = semanticProblems(doc, dir, format, schemaPointers, (options.configSchema ?? "check") === "check");
  const problems = [...schemaErrs.filter((p) => schemaPointers.has(p.pointer)), ...semantic];

  const entry = typeof doc.entry === "string" ? doc.entry : "";
  const entryPath = path.resolve(dir, entry);
  if ((options.checkEntry ?? true) && entry !== "" && !problems.some((p) => p.pointer === "/entry")) {
    const problem = entryProblem(entryPath, dir, doc.kind === "native" ? "native" : "component");
    if (problem) problems.push(problem);
  }

  const name = typeof doc.name === "string" ? doc.name : undefined;
  if (problems.length > 0) throw new ManifestError(abs, shortPointers(problems), name !== undefined ? { plugin: name } : {});
  const manifest = normalize(doc, abs, dir, entryPath);
  if (schemaFile.file) manifest.config.schemaFile = schemaFile.file;
  return manifest;
}

/** Problems with pointers cut to 256 characters: a hostile key must not make a megabyte-long error. */
function shortPointers(problems: ManifestProblem[]): ManifestProblem[] {
  return problems.map((p) => (p.pointer.length > 256 ? { pointer: p.pointer.slice(0, 255) + "…", message: p.message } : p));
}

/** Lists longer than MANIFEST_BOUNDS.listEntries, by count only. */
function listProblems(doc: Record<string, unknown>): ManifestProblem[] {
  const max = MANIFEST_BOUNDS.listEntries;
  const out: ManifestProblem[] = [];
  for (const key of ["capabilities", "optional-capabilities", "hooks", "dependencies", "optional-dependencies", "peer-dependencies"]) {
    const v = doc[key];
    const n = Array.isArray(v) ? v.length : isRecord(v) ? Object.keys(v).length : 0;
    if (n > max) out.push({ pointer: joinPointer("", key), message: `has ${n} entries, more than the ${max} a manifest may declare` });
  }
  return out;
}

/**
 * The `config.schema` checks that `parseManifest(..., { configSchema: "defer" })`
 * skipped: compile the plugin's schema and validate its defaults against it.
 * @throws {@link ManifestError} with pointers under /config.
 */
export function checkConfigSchema(m: Pick<Manifest, "name" | "file" | "config">): void {
  const format = formatOf(m.file) ?? "json";
  const problems = configProblems({ schema: m.config.schema, defaults: m.config.defaults, env: m.config.env }, format);
  if (problems.length > 0) throw new ManifestError(m.file, problems, { plugin: m.name });
}

function normalize(doc: Record<string, unknown>, file: string, dir: string, entryPath: string): Manifest {
  const str = (k: string): string | undefined => (typeof doc[k] === "string" ? (doc[k] as string) : undefined);
  const caps = (k: string): string[] => ((doc[k] as string[] | undefined) ?? []).map((c) => formatCapability(parseCapability(c, { baseDir: dir })));
  const deps = (k: string, optional: boolean): Dependency[] =>
    Object.entries((doc[k] as Record<string, string> | undefined) ?? {}).map(([name, range]) => ({ name, range, optional }));
  const config = (doc.config as Record<string, unknown> | undefined) ?? {};
  const kind = (str("kind") ?? "component") as PluginKind;

  const manifest: Manifest = {
    name: doc.name as string,
    version: doc.version as string,
    apiVersion: doc["api-version"] as string,
    kind,
    entry: doc.entry as string,
    entryPath,
    trust: (str("trust") ?? "untrusted") as TrustLevel,
    capabilities: caps("capabilities"),
    optionalCapabilities: caps("optional-capabilities"),
    dependencies: [...deps("dependencies", false), ...deps("optional-dependencies", true), ...deps("peer-dependencies", false).map((d) => ({ ...d, peer: true }))],
    hooks: ((doc.hooks as Record<string, unknown>[] | undefined) ?? []).map(toHookDeclaration),
    config: { defaults: structuredClone((config.defaults as Record<string, unknown> | undefined) ?? {}) },
    limits: toLimits(doc.limits as Record<string, unknown> | undefined),
    file,
    dir,
  };
  if (isRecord(config.schema)) manifest.config.schema = structuredClone(config.schema);
  if (isRecord(config.env)) manifest.config.env = structuredClone(config.env) as Record<string, Record<string, unknown>>;
  if (config.validation === "strict" || config.validation === "lenient") manifest.config.validation = config.validation;
  const extra = config["additional-properties"];
  if (extra === "allow" || extra === "refuse" || extra === "remove") manifest.config.additionalProperties = extra;
  const endpoints = toEndpoints(doc.api);
  if (endpoints.length > 0) manifest.api = { endpoints };
  for (const k of ["author", "integrity"] as const) {
    const v = str(k);
    if (v !== undefined) manifest[k] = v;
  }
  Object.assign(manifest, normalizeCatalogueMetadata(doc));
  const recovery = toRecovery(doc.recovery);
  if (recovery) manifest.recovery = recovery;
  if (isRecord(doc.interfaces)) {
    const i = doc.interfaces;
    const ifaces: ManifestInterfaces = { from: isRecord(i.from) ? { ...(i.from as Record<string, string>) } : {} };
    if (typeof i.wit === "string") ifaces.wit = path.resolve(dir, i.wit);
    if (typeof i.world === "string") ifaces.world = i.world;
    manifest.interfaces = ifaces;
  }
  if (Array.isArray(doc.assets)) manifest.assets = [...(doc.assets as string[])];
  const activation = doc.activation as string[] | undefined;
  if (activation && activation.length > 0) manifest.activation = [...new Set(activation.map((a) => a.slice("on-event:".length)))];
  if (doc.engine !== undefined) manifest.engine = doc.engine as "v8" | "wasmtime";
  if (doc.isolation !== undefined) manifest.isolation = doc.isolation as Isolation;
  return manifest;
}

/**
 * Load a manifest from a file, or from a directory holding plugin.toml or
 * plugin.json (not both: which one wins would be a guess). The file must be a
 * regular file of at most `MAX_MANIFEST_BYTES`.
 *
 * @throws {@link ManifestError} when the path does not exist, a directory holds no
 *   manifest or both, the file is not a regular file or too large, or
 *   `parseManifest` finds problems. A file that cannot be read for another
 *   reason rejects with Node's fs error.
 * @example
 *   const m = await loadManifest("examples/c/hello");
 *   console.log(m.name, m.version, m.capabilities);
 */
export async function loadManifest(pathOrDir: string, options: ManifestOptions = {}): Promise<Manifest> {
  const abs = path.resolve(pathOrDir);
  let info;
  try {
    info = statSync(abs); // one syscall: cheaper than a round trip through libuv's pool
  } catch {
    throw new ManifestError(abs, [{ pointer: "", message: `${abs} does not exist; pass a plugin directory or its ${MANIFEST_FILES.join(" / ")}` }]);
  }
  let file = abs;
  if (info.isDirectory()) {
    const found = MANIFEST_FILES.map((f) => path.join(abs, f)).filter((f) => existsSync(f));
    if (found.length === 0) {
      throw new ManifestError(path.join(abs, MANIFEST_FILES[0]), [{ pointer: "", message: `no manifest in ${abs}; create ${MANIFEST_FILES.join(" or ")}` }]);
    }
    if (found.length > 1) {
      throw new ManifestError(found[0] as string, [{ pointer: "", message: `${abs} holds both ${MANIFEST_FILES.join(" and ")}; keep only one` }]);
    }
    file = found[0] as string;
  }
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(file, { maxBytes: MAX_MANIFEST_BYTES, what: "the manifest" });
  } catch (err) {
    if (!(err instanceof UnsafeFileError)) throw err;
    throw new ManifestError(file, [{ pointer: "", message: `${err.message}; make ${path.basename(file)} a regular file of at most ${MAX_MANIFEST_BYTES} bytes` }], { cause: err });
  }
  return parseManifest(bytes.toString("utf8"), file, options);
}
