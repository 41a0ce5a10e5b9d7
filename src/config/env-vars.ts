/**
 * Configuration from environment variables: `PLUGHOST_<PLUGIN>_<KEY>` (docs/config.md, "Environment variables").
 *
 * A name is escaped by upper-casing it and writing `-` and `.` as `_`; nested keys are joined with `__`. So
 * plugin `http-echo`'s key `server.port` (nested: `server` then `port`) is `PLUGHOST_HTTP_ECHO_SERVER__PORT`, and its
 * top-level key `max-size` is `PLUGHOST_HTTP_ECHO_MAX_SIZE`.
 */
import { joinPointer } from "../plugin/manifest.js";
import type { ConfigProblem } from "./errors.js";
import { isPlainObject } from "./layers.js";

/** The escaped form of a plugin name or key: upper case, `-` and `.` as `_`. */
export function escapeEnvName(name: string): string {
  return name.toUpperCase().replace(/[-.]/g, "_");
}

/** The variable that sets `keys` (top-level key first) of `plugin`'s config. */
export function configEnvVar(plugin: string, keys: readonly string[]): string {
  return `PLUGHOST_${escapeEnvName(plugin)}_${keys.map(escapeEnvName).join("__")}`;
}

/** One variable read for a plugin: the keys it sets and its value. */
export interface EnvSetting {
  /** The variable's name. */
  variable: string;
  /** The path of keys it sets, top-level key first. */
  keys: string[];
  /** Its value: JSON when the text parses as JSON, else the text (or the text when the key is a string, in lenient mode). */
  value: unknown;
}

/** What the variables may name: the keys known at one level (config values so far and the schema's properties). */
export interface KeyShape {
  /** Keys known at the top level. */
  keys(path: readonly string[]): string[];
  /** Whether the schema wants a string at `path` (its `type` is "string"). */
  wantsString(path: readonly string[]): boolean;
}

/**
 * The settings the environment holds for `plugin`, in the order they apply (a parent's variable before its
 * children's, then by name), and the problems: a variable whose key segment matches two keys (ambiguous), or an
 * empty segment. A variable that another plugin's longer prefix also claims (`PLUGHOST_A_B_X` when plugins `a`
 * and `a-b` are both known) belongs to that plugin only.
 */
export function envSettings(
  plugin: string,
  env: Readonly<Record<string, string | undefined>>,
  shape: KeyShape,
  options: { otherPlugins?: readonly string[]; lenient: boolean },
): { settings: EnvSetting[]; problems: ConfigProblem[] } {
  const prefix = `PLUGHOST_${escapeEnvName(plugin)}_`;
  const settings: EnvSetting[] = [];
  const problems: ConfigProblem[] = [];
  const candidates = Object.keys(env).filter((n) => n.startsWith(prefix) && env[n] !== undefined);
  if (candidates.length === 0) return { settings, problems };
  // Only now the other plugins' prefixes: escaping every loaded plugin's name for each load made loading n plugins O(n²).
  const longer = (options.otherPlugins ?? [])
    .map((p) => `PLUGHOST_${escapeEnvName(p)}_`)
    .filter((p) => p.length > prefix.length && p.startsWith(prefix));
  const names = candidates
    .filter((n) => !longer.some((p) => n.startsWith(p)))
    .map((n) => ({ n, segments: n.slice(prefix.length).split("__") }))
    .sort((a, b) => a.segments.length - b.segments.length || (a.n < b.n ? -1 : a.n > b.n ? 1 : 0));
  for (const { n, segments } of names) {
    const source = `env:${n}` as const;
    const keys: string[] = [];
    let failed = false;
    for (const segment of segments) {
      if (!/^[A-Z0-9][A-Z0-9_]*$/.test(segment) || segment.endsWith("_")) {
        problems.push({ pointer: joinPointer("", ...keys), message: `${n} has an empty or malformed key segment ${JSON.stringify(segment)}; write nested keys as ${prefix}OUTER__INNER`, source });
        failed = true;
        break;
      }
      const matches = [...new Set(shape.keys(keys).filter((k) => escapeEnvName(k) === segment))];
      if (matches.length > 1) {
        problems.push({
          pointer: joinPointer("", ...keys),
          message: `${n} is ambiguous: it names both ${matches.map((k) => JSON.stringify(k)).join(" and ")}; set the value in the host config instead, or rename one key`,
          source,
        });
        failed = true;
        break;
      }
      keys.push(matches[0] ?? segment.toLowerCase());
    }
    if (failed) continue;
    const text = env[n] as string;
    settings.push({ variable: n, keys, value: parseEnvValue(text, options.lenient && shape.wantsString(keys)) });
  }
  return { settings, problems };
}

/** An environment variable's value: the text itself for a string key (lenient), else its JSON when it parses, else the text. */
export function parseEnvValue(text: string, asString: boolean): unknown {
  if (asString) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The keys of the object at `path` inside `value` (none when it is not an object). */
export function keysAt(value: unknown, path: readonly string[]): string[] {
  let v = value;
  for (const k of path) v = isPlainObject(v) ? v[k] : undefined;
  return isPlainObject(v) ? Object.keys(v) : [];
}
