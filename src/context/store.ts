/**
 * The context store (docs/context.md): typed values the host keeps and
 * plugins read, per key, through the `context-get` host call when they hold
 * `context:<key>` (and write with `context-set` when they hold
 * `context:write:<key>`).
 *
 * Two sorts of key:
 * - predefined (`PREDEFINED_CONTEXT_KEYS`), read-only for everyone but the
 *   host's settings: `host.name`, `host.version`, `environment` are the
 *   host's; `plugin.data-dir` is the reading plugin's own; `request.id`,
 *   `user.id` and `session.id` are the current call's, read from its
 *   message's metadata (`request-id`, `user-id`, `session-id`), so they flow
 *   through hook chains, messages and requests as metadata does.
 * - app-defined: `define(key, { schema, value?, description?, readOnly? })`
 *   by the embedding application or the host config's `context` section. Every
 *   value, whoever writes it, is checked against the key's JSON Schema.
 *
 * Values are JSON values; they cross to plugins as JSON text, which the store
 * keeps beside each value so that a read costs no serialisation.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import type { ValidateFunction } from "ajv";
import type { ManifestProblem } from "../contract/errors.js";
import type { ContextOutcome } from "../engines/engine.js";
import { compileUserSchema, describeValue, schemaProblems, SchemaCompileError } from "../plugin/manifest.js";
import { ContextKeyInvalid, ContextKeyUnknown, ContextReadOnly, ContextSchemaInvalid, ContextValueInvalid } from "./errors.js";

/** The keys every host defines. Plugins never write them; the host sets the first three through its options. */
export const PREDEFINED_CONTEXT_KEYS = ["host.name", "host.version", "environment", "plugin.data-dir", "request.id", "user.id", "session.id"] as const;
/** One of `PREDEFINED_CONTEXT_KEYS`. */
export type PredefinedContextKey = (typeof PREDEFINED_CONTEXT_KEYS)[number];

/** The per-call keys and the message metadata key each is read from (set by `CallOptions.context`). */
export const CONTEXT_METADATA_KEYS: Readonly<Record<"request.id" | "user.id" | "session.id", string>> = Object.freeze({
  "request.id": "request-id",
  "user.id": "user-id",
  "session.id": "session-id",
});

/** The longest context key, in bytes (keys are ASCII). */
export const MAX_CONTEXT_KEY_BYTES = 64;
/** The largest value (as JSON text, in UTF-8 bytes) the store keeps unless `maxValueBytes` says otherwise: 64 KiB. */
export const DEFAULT_MAX_CONTEXT_VALUE_BYTES = 64 * 1024;
/** Nesting of arrays and objects a value may have. */
const MAX_DEPTH = 64;

const KEY = /^[a-z0-9][a-z0-9._-]*$/;
const PREDEFINED: ReadonlySet<string> = new Set(PREDEFINED_CONTEXT_KEYS);
const PER_CALL: ReadonlyMap<string, string> = new Map(Object.entries(CONTEXT_METADATA_KEYS));

/**
 * What is wrong with `key` as a context key name, or undefined when it is fine: dotted lower-case names of
 * `[a-z0-9][a-z0-9._-]*`, 1-64 bytes. Never throws.
 */
export function contextKeyProblem(key: unknown): string | undefined {
  if (typeof key !== "string" || key.length === 0) return "a key must be a non-empty string";
  if (key.length > MAX_CONTEXT_KEY_BYTES) return `it is ${key.length} characters long; the limit is ${MAX_CONTEXT_KEY_BYTES}`;
  if (!KEY.test(key)) return `keys are dotted lower-case names like "acme.tenant": a-z 0-9 then a-z 0-9 . _ -`;
  return undefined;
}

/** How one app-defined key is declared (`registry.context.define`, the host config's `context` section). */
export interface ContextKeyDefinition {
  /** JSON Schema (2020-12 unless `$schema` says draft-07) every value must satisfy. Default `{}`: any JSON value. */
  schema?: Record<string, unknown>;
  /** The initial value (checked against the schema). Without it the key has no value until one is set. */
  value?: unknown;
  /** What the key means, for `describe` and docs. */
  description?: string;
  /** True: only the host writes it; a plugin's `context-set` is `read-only` even with `context:write:<key>`. */
  readOnly?: boolean;
}

/** Options of `new ContextStore(...)` (the registry passes its own). */
export interface ContextStoreOptions {
  /** `host.name`. Default: `os.hostname()`. */
  hostName?: string;
  /** `host.version`. Default: plughost's package version. */
  hostVersion?: string;
  /** `environment` (e.g. "production"). Default: none (the key has no value). */
  environment?: string;
  /** `plugin.data-dir` of each plugin. Default: none. */
  pluginDataDir?: (plugin: string) => string | undefined;
  /** App-defined keys to define at once. */
  keys?: Readonly<Record<string, ContextKeyDefinition>>;
  /** The largest value, as JSON text in UTF-8 bytes. Default `DEFAULT_MAX_CONTEXT_VALUE_BYTES` (64 KiB). */
  maxValueBytes?: number;
}

/** What `describe(key)` tells about a key. */
export interface ContextKeyInfo {
  readonly key: string;
  /** One of `PREDEFINED_CONTEXT_KEYS`. */
  readonly predefined: boolean;
  /** Its value comes from the current call's metadata (`request.id`, `user.id`, `session.id`). */
  readonly perCall: boolean;
  /** Plugins cannot write it (every predefined key; app keys defined with `readOnly`). */
  readonly readOnly: boolean;
  readonly description?: string;
  /** The schema values are checked against (app keys). */
  readonly schema?: Readonly<Record<string, unknown>>;
}

/** How a read finds the values that depend on who reads and when (the plugin's data dir, the call's metadata). */
export interface ContextReader {
  /** The reading plugin, for `plugin.data-dir`; undefined: the host. */
  readonly plugin?: string;
  /** The current message's metadata value of `name` (`request-id`, …); undefined when there is none. */
  metadata?(name: string): string | undefined;
}

interface AppKey {
  readonly description?: string;
  readonly readOnly: boolean;
  readonly schema: Readonly<Record<string, unknown>>;
  readonly validate: ValidateFunction;
  /** The value as JSON text; undefined: no value. */
  json?: string;
}

const PREDEFINED_DESCRIPTIONS: Readonly<Record<PredefinedContextKey, string>> = {
  "host.name": "The host machine's name.",
  "host.version": "plughost's version.",
  environment: "The host's environment (the host config's `environment`, e.g. \"production\").",
  "plugin.data-dir": "The reading plugin's own data directory, under the host's dataDir.",
  "request.id": "The id of the request that started the current call (message metadata `request-id`).",
  "user.id": "The user the current call acts for (message metadata `user-id`).",
  "session.id": "The session of the current call (message metadata `session-id`).",
};

let packageVersion: string | undefined;
function plughostVersion(): string | undefined {
  try {
    // src/context/ and dist/context/ are both two levels below the package root.
    packageVersion ??= (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string }).version;
  } catch {
    packageVersion = undefined;
  }
  return packageVersion;
}

/** What is wrong with `value` as a JSON value (only null, booleans, finite numbers, strings, arrays and plain objects), or undefined. */
function jsonProblem(value: unknown, pointer: string, depth: number): ManifestProblem | undefined {
  if (value === null || typeof value === "boolean" || typeof value === "string") return undefined;
  if (typeof value === "number") return Number.isFinite(value) ? undefined : { pointer, message: `${value} is not a JSON number` };
  if (depth > MAX_DEPTH) return { pointer, message: `is nested more than ${MAX_DEPTH} levels deep` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = jsonProblem(value[i], `${pointer}/${i}`, depth + 1);
      if (p) return p;
    }
    return undefined;
  }
  if (typeof value === "object" && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)) {
    for (const [k, v] of Object.entries(value)) {
      const p = jsonProblem(v, `${pointer}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`, depth + 1);
      if (p) return p;
    }
    return undefined;
  }
  return { pointer, message: `${typeof value === "object" ? "an object of a class" : `a ${typeof value}`} is not a JSON value` };
}

/** How deeply `text` (valid JSON) nests arrays and objects, counted without parsing. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

const utf8Length = (s: string): number => Buffer.byteLength(s, "utf8");

/**
 * The host's context store (`registry.context`). The host reads and writes
 * every key; plugins read and write through their host calls, within their
 * capabilities (`readFor` / `writeFrom`). Host-side methods throw typed errors;
 * the plugin-side ones never throw.
 *
 * @example
 *   registry.context.define("acme.tenant", { schema: { type: "string", minLength: 1 }, value: "blue" });
 *   registry.context.set("acme.tenant", "green");
 *   registry.context.get("acme.tenant"); // "green"
 */
export class ContextStore {
  readonly #keys = new Map<string, AppKey>();
  readonly #hostName: string;
  readonly #hostVersion: string | undefined;
  readonly #environment: string | undefined;
  readonly #pluginDataDir: ((plugin: string) => string | undefined) | undefined;
  /** The largest value, as JSON text in UTF-8 bytes. */
  readonly maxValueBytes: number;

  /**
   * @throws the errors of `define` for an entry of `options.keys`.
   */
  constructor(options: ContextStoreOptions = {}) {
    this.#hostName = options.hostName ?? os.hostname();
    this.#hostVersion = options.hostVersion ?? plughostVersion();
    this.#environment = options.environment;
    this.#pluginDataDir = options.pluginDataDir;
    this.maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_CONTEXT_VALUE_BYTES;
    for (const [key, definition] of Object.entries(options.keys ?? {})) this.define(key, definition);
  }

  /**
   * Define an app key: its schema, and optionally its first value.
   * @throws {@link ContextKeyInvalid} when the name breaks the key rules, is predefined, or is defined already.
   * @throws {@link ContextSchemaInvalid} when `schema` is not a usable JSON Schema.
   * @throws {@link ContextValueInvalid} when `value` is not JSON or does not satisfy the schema.
   */
  define(key: string, definition: ContextKeyDefinition = {}): void {
    const problem = contextKeyProblem(key);
    if (problem) throw new ContextKeyInvalid(String(key), problem);
    if (PREDEFINED.has(key)) throw new ContextKeyInvalid(key, "is predefined; define app keys under a prefix of your own, like \"acme.\"");
    if (this.#keys.has(key)) throw new ContextKeyInvalid(key, "is defined already; set its value with registry.context.set, or delete it first");
    const schema = definition.schema ?? {};
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
      throw new ContextSchemaInvalid(key, `must be a JSON Schema object, got ${describeValue(schema)}`);
    }
    let validate: ValidateFunction;
    try {
      validate = compileUserSchema(structuredClone(schema));
    } catch (err) {
      if (err instanceof SchemaCompileError) throw new ContextSchemaInvalid(key, err.message);
      throw err;
    }
    const entry: AppKey = {
      readOnly: definition.readOnly === true,
      schema: structuredClone(schema),
      validate,
      ...(definition.description !== undefined ? { description: definition.description } : {}),
    };
    if (definition.value !== undefined) entry.json = this.#checkHostValue(key, entry, definition.value);
    this.#keys.set(key, entry);
  }

  /**
   * Set an app key's value (the host may write read-only app keys).
   * @throws {@link ContextKeyUnknown} when the key is not defined.
   * @throws {@link ContextReadOnly} for a predefined key (they come from the registry's options and the call).
   * @throws {@link ContextValueInvalid} when the value is not JSON, too large, or does not satisfy the schema.
   */
  set(key: string, value: unknown): void {
    const entry = this.#appKey(key);
    entry.json = this.#checkHostValue(key, entry, value);
  }

  /**
   * Remove an app key's value (the key stays defined; plugins read none). True when it had one.
   * @throws {@link ContextKeyUnknown} / {@link ContextReadOnly} as `set`.
   */
  clear(key: string): boolean {
    const entry = this.#appKey(key);
    const had = entry.json !== undefined;
    delete entry.json;
    return had;
  }

  /** Remove an app key's definition and value; true when it was defined. Predefined keys stay. Never throws. */
  delete(key: string): boolean {
    return this.#keys.delete(key);
  }

  /**
   * A key's value as the host sees it (a fresh copy), or undefined when it has none. Per-call keys and
   * `plugin.data-dir` have values only as a plugin reads them; pass `reader` to see what that plugin would read.
   * @throws {@link ContextKeyUnknown} when the key is not defined.
   */
  get(key: string, reader: ContextReader = {}): unknown {
    const json = this.#json(key, reader);
    if (json === null) throw new ContextKeyUnknown(key);
    return json === undefined ? undefined : JSON.parse(json);
  }

  /** Whether `key` is defined (predefined or app-defined). Never throws. */
  has(key: string): boolean {
    return PREDEFINED.has(key) || this.#keys.has(key);
  }

  /** Every defined key: the predefined ones, then app keys in the order they were defined. */
  keys(): string[] {
    return [...PREDEFINED_CONTEXT_KEYS, ...this.#keys.keys()];
  }

  /**
   * What the store knows of a key.
   * @throws {@link ContextKeyUnknown} when it is not defined.
   */
  describe(key: string): ContextKeyInfo {
    if (PREDEFINED.has(key)) {
      return { key, predefined: true, perCall: PER_CALL.has(key), readOnly: true, description: PREDEFINED_DESCRIPTIONS[key as PredefinedContextKey] };
    }
    const entry = this.#keys.get(key);
    if (!entry) throw new ContextKeyUnknown(key);
    return {
      key,
      predefined: false,
      perCall: false,
      readOnly: entry.readOnly,
      schema: structuredClone(entry.schema),
      ...(entry.description !== undefined ? { description: entry.description } : {}),
    };
  }

  /**
   * A plugin's `context-get` after its capability was checked: the value as JSON, undefined when it has none,
   * or `unknown-key`. Never throws.
   */
  readFor(key: string, reader: ContextReader): ContextOutcome<string | undefined> {
    const json = this.#json(key, reader);
    return json === null ? { ok: false, error: "unknown-key" } : { ok: true, value: json };
  }

  /**
   * A plugin's `context-set` after its capability was checked: `read-only` for predefined and read-only keys,
   * `unknown-key`, `invalid-value` (not JSON, larger than `maxValueBytes`, nested too deeply, or against the schema),
   * else stored. `problem` receives why a value was refused, for the host's log. Never throws.
   */
  writeFrom(key: string, json: string, problem?: (why: string) => void): ContextOutcome<undefined> {
    if (PREDEFINED.has(key)) return { ok: false, error: "read-only" };
    const entry = this.#keys.get(key);
    if (!entry) return { ok: false, error: "unknown-key" };
    if (entry.readOnly) return { ok: false, error: "read-only" };
    const refuse = (why: string): ContextOutcome<undefined> => {
      problem?.(why);
      return { ok: false, error: "invalid-value" };
    };
    // Cheap bounds before any parsing: the length in UTF-16 units is at most the UTF-8 length.
    if (json.length > this.maxValueBytes || utf8Length(json) > this.maxValueBytes) return refuse(`the value is larger than ${this.maxValueBytes} bytes`);
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch {
      return refuse("the value is not JSON");
    }
    if (jsonDepth(json) > MAX_DEPTH) return refuse(`the value is nested more than ${MAX_DEPTH} levels deep`);
    const problems = this.#schemaProblems(entry, value);
    if (problems.length > 0) return refuse(problems.map((p) => `${p.pointer || "/"}: ${p.message}`).join("; "));
    // Re-serialised: the stored text is canonical, and holds any defaults the schema filled in.
    const text = JSON.stringify(value);
    if (utf8Length(text) > this.maxValueBytes) return refuse(`the value is larger than ${this.maxValueBytes} bytes`);
    entry.json = text;
    return { ok: true, value: undefined };
  }

  /** The value's JSON; undefined: no value now; null: no such key. */
  #json(key: string, reader: ContextReader): string | undefined | null {
    const entry = this.#keys.get(key);
    if (entry) return entry.json;
    switch (key) {
      case "host.name":
        return JSON.stringify(this.#hostName);
      case "host.version":
        return this.#hostVersion === undefined ? undefined : JSON.stringify(this.#hostVersion);
      case "environment":
        return this.#environment === undefined ? undefined : JSON.stringify(this.#environment);
      case "plugin.data-dir": {
        const dir = reader.plugin === undefined ? undefined : this.#pluginDataDir?.(reader.plugin);
        return dir === undefined ? undefined : JSON.stringify(dir);
      }
      case "request.id":
      case "user.id":
      case "session.id": {
        const v = reader.metadata?.(PER_CALL.get(key) as string);
        return v === undefined ? undefined : JSON.stringify(v);
      }
      default:
        return null;
    }
  }

  #appKey(key: string): AppKey {
    if (PREDEFINED.has(key)) {
      const how = PER_CALL.has(key)
        ? `it is the current call's; pass it with CallOptions.context (or the message metadata "${PER_CALL.get(key)}")`
        : key === "plugin.data-dir"
          ? "it follows from the registry's dataDir"
          : `it comes from the registry's options (${key === "environment" ? "environment" : "the host itself"})`;
      throw new ContextReadOnly(key, how);
    }
    const entry = this.#keys.get(key);
    if (!entry) throw new ContextKeyUnknown(key);
    return entry;
  }

  /** A host-given value checked and serialised. */
  #checkHostValue(key: string, entry: AppKey, value: unknown): string {
    const notJson = jsonProblem(value, "", 0);
    if (notJson) throw new ContextValueInvalid(key, [notJson]);
    const copy: unknown = structuredClone(value);
    const problems = this.#schemaProblems(entry, copy);
    if (problems.length > 0) throw new ContextValueInvalid(key, problems);
    const text = JSON.stringify(copy);
    const size = utf8Length(text);
    if (size > this.maxValueBytes) {
      throw new ContextValueInvalid(key, [{ pointer: "", message: `is ${size} bytes as JSON, over the limit of ${this.maxValueBytes} (ContextStoreOptions.maxValueBytes)` }]);
    }
    return text;
  }

  #schemaProblems(entry: AppKey, value: unknown): ManifestProblem[] {
    try {
      if (entry.validate(value)) return [];
      return schemaProblems(entry.validate.errors ?? []);
    } catch (err) {
      // A pathological value must not take the host down (e.g. a deep recursion in a validator).
      return [{ pointer: "", message: `could not be checked: ${err instanceof Error ? err.message : String(err)}` }];
    }
  }
}
