/**
 * The host config's `context` section: app-defined context keys, each
 * `{ schema?, value?, description?, readOnly? }`, checked as
 * `registry.context.define` would check them, with each problem at its JSON
 * pointer (schema/host-config.schema.json checks the shape).
 */
import { isDeepStrictEqual } from "node:util";
import { PlughostError, type ManifestProblem } from "../contract/errors.js";
import { joinPointer } from "../plugin/manifest.js";
import { ContextKeyInvalid, ContextSchemaInvalid, ContextValueInvalid } from "./errors.js";
import { ContextStore, type ContextKeyDefinition } from "./store.js";

/**
 * The problems of a `context` section (`section` as written, at `pointer`), skipping keys whose pointer is in `bad`
 * (the schema already reported them). Never throws.
 */
export function contextSectionProblems(section: unknown, pointer: string, bad: ReadonlySet<string> = new Set()): ManifestProblem[] {
  if (typeof section !== "object" || section === null || Array.isArray(section)) return [];
  const scratch = new ContextStore({ hostName: "", hostVersion: "" });
  const problems: ManifestProblem[] = [];
  for (const [key, definition] of Object.entries(section as Record<string, unknown>)) {
    const at = joinPointer(pointer, key);
    if ([...bad].some((b) => b === pointer || b.startsWith(at))) continue;
    if (typeof definition !== "object" || definition === null) continue; // the schema says so
    try {
      scratch.define(key, definition as ContextKeyDefinition);
    } catch (err) {
      const why = err instanceof Error ? err.message.replace(/^context key "[^"]*": /, "") : String(err);
      if (err instanceof ContextValueInvalid) {
        for (const p of err.problems) problems.push({ pointer: joinPointer(at, "value") + p.pointer, message: p.message });
      } else if (err instanceof ContextSchemaInvalid) {
        problems.push({ pointer: joinPointer(at, "schema"), message: why.replace(/^the schema of context key "[^"]*" /, "") });
      } else if (err instanceof ContextKeyInvalid) {
        problems.push({ pointer: at, message: `the key ${why}` });
      } else {
        problems.push({ pointer: at, message: why });
      }
    }
  }
  return problems;
}

/** One key of a watched host config file's `context` section that was applied: a new value of a defined key, or a new key. */
export interface ContextChange {
  /** The key. */
  key: string;
  /** "set": a defined key got the file's new value; "defined": the key was new, and was defined as the file says. */
  applied: "set" | "defined";
  /** The watched file. */
  file?: string;
}

/** The outcome of `applyContextSection`. */
export interface ContextSectionResult {
  /** The keys applied, in the file's order. */
  changed: ContextChange[];
  /** The keys refused, each with its typed error (`ContextValueInvalid`, `ContextSchemaInvalid`, …); their old values stay. */
  refused: { key: string; error: PlughostError }[];
}

/**
 * Apply a re-read `context` section to a running store (a watched host config file). `seen` holds each key's value
 * as the file last gave it (updated here): only a value that changed in the file is set, so that a value the host or
 * a plugin wrote since is not overwritten by a save that left it alone. A defined key's new value goes through
 * `store.set` (checked against the key's schema in the store); a new key is defined. A key (or its value) removed
 * from the file keeps its value and definition; a changed schema, description or readOnly of a defined key is not
 * applied (they are read at start-up). Never throws: each refusal is in `refused`, and the old value stays.
 */
export function applyContextSection(
  store: ContextStore,
  section: Readonly<Record<string, ContextKeyDefinition>> | undefined,
  seen: Map<string, unknown>,
  file?: string,
): ContextSectionResult {
  const result: ContextSectionResult = { changed: [], refused: [] };
  for (const [key, definition] of Object.entries(section ?? {})) {
    const at = file !== undefined ? { file } : {};
    try {
      if (!store.has(key)) {
        store.define(key, definition);
        seen.set(key, structuredClone(definition.value));
        result.changed.push({ key, applied: "defined", ...at });
        continue;
      }
      if (definition.value === undefined || (seen.has(key) && isDeepStrictEqual(seen.get(key), definition.value))) continue;
      store.set(key, definition.value);
      seen.set(key, structuredClone(definition.value));
      result.changed.push({ key, applied: "set", ...at });
    } catch (err) {
      const error = err instanceof PlughostError ? err : new ContextValueInvalid(key, [{ pointer: "", message: err instanceof Error ? err.message : String(err) }]);
      result.refused.push({ key, error });
    }
  }
  return result;
}
