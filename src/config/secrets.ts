/**
 * Secrets in a plugin's configuration: `{ secret = "NAME" }` stands for a value the host resolves (its `secrets`
 * option, else the environment variable NAME). The plugin gets the value; everything the host shows of the
 * plugin (logs, metrics, errors, `registry.config`) gets `[secret]` in its place.
 */
import { joinPointer } from "../plugin/manifest.js";
import type { ConfigProblem, ConfigSource } from "./errors.js";
import { isPlainObject, isSecretRef } from "./layers.js";

/** What stands in for a secret wherever the host shows it. */
export const SECRET_PLACEHOLDER = "[secret]";

/**
 * The host's resolver for `{ secret = "NAME" }` (registry option `secrets`): the value, or undefined to fall back
 * to the environment variable NAME. It must not throw; a throw counts as undefined.
 */
export type SecretResolver = (name: string, plugin: string) => string | undefined;

/** Secret names: what an environment variable may be called. */
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * Replace every secret reference in `value` (in place) with its value. Returns the pointers of secrets with their
 * names, the values, and the problems (an invalid name, an unresolved secret).
 */
export function resolveSecrets(
  value: Record<string, unknown>,
  plugin: string,
  resolver: SecretResolver | undefined,
  env: Readonly<Record<string, string | undefined>>,
  sourceAt: (pointer: string) => ConfigSource | undefined,
): { secrets: Map<string, string>; values: Set<string>; problems: ConfigProblem[] } {
  const secrets = new Map<string, string>();
  const values = new Set<string>();
  const problems: ConfigProblem[] = [];
  const visit = (container: Record<string, unknown> | unknown[], key: string | number, pointer: string): void => {
    const v = (container as Record<string | number, unknown>)[key];
    if (isSecretRef(v)) {
      const name = v.secret;
      const source = sourceAt(pointer);
      if (!SECRET_NAME.test(name)) {
        problems.push({ pointer, message: `secret name ${JSON.stringify(name.slice(0, 64))} is not valid; use letters, digits and _ (as an environment variable)`, ...(source ? { source } : {}) });
        return;
      }
      let resolved: string | undefined;
      try {
        resolved = resolver?.(name, plugin);
      } catch {
        resolved = undefined;
      }
      resolved ??= env[name];
      if (typeof resolved !== "string") {
        problems.push({ pointer, message: `secret ${name} is not set; set the environment variable ${name} or supply it through the host's secrets resolver`, ...(source ? { source } : {}) });
        return;
      }
      (container as Record<string | number, unknown>)[key] = resolved;
      secrets.set(pointer, name);
      if (resolved !== "") values.add(resolved);
      return;
    }
    if (isPlainObject(v)) for (const k of Object.keys(v)) visit(v, k, joinPointer(pointer, k));
    else if (Array.isArray(v)) v.forEach((_, i) => visit(v, i, joinPointer(pointer, i)));
  };
  for (const k of Object.keys(value)) visit(value, k, joinPointer("", k));
  return { secrets, values, problems };
}

/**
 * A function replacing each of `values` in a text with `[secret]`: the value as written and as it appears inside
 * a JSON string (escaped), longest first so a secret that contains another is replaced whole. No values: identity.
 */
export function secretRedactor(values: Iterable<string>): (text: string) => string {
  const forms = new Set<string>();
  for (const v of values) {
    if (v === "") continue;
    forms.add(v);
    forms.add(JSON.stringify(v).slice(1, -1));
  }
  if (forms.size === 0) return (text) => text;
  const list = [...forms].sort((a, b) => b.length - a.length);
  return (text) => {
    if (typeof text !== "string") return text;
    let out = text;
    for (const f of list) if (out.includes(f)) out = out.split(f).join(SECRET_PLACEHOLDER);
    return out;
  };
}

/** A copy of `value` with the value at each of `pointers` replaced by `[secret]`. */
export function redactPointers(value: Record<string, unknown>, pointers: Iterable<string>): Record<string, unknown> {
  const out = structuredClone(value);
  for (const pointer of pointers) {
    const keys = pointer.slice(1).split("/").map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"));
    let obj: unknown = out;
    for (const k of keys.slice(0, -1)) obj = (obj as Record<string, unknown> | undefined)?.[k];
    const last = keys[keys.length - 1] as string;
    if (typeof obj === "object" && obj !== null && Object.prototype.hasOwnProperty.call(obj, last)) (obj as Record<string, unknown>)[last] = SECRET_PLACEHOLDER;
  }
  return out;
}
