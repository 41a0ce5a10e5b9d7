/**
 * The host config's `context` section: app-defined context keys, each
 * `{ schema?, value?, description?, readOnly? }`, checked as
 * `registry.context.define` would check them, with each problem at its JSON
 * pointer (schema/host-config.schema.json checks the shape).
 */
import type { ManifestProblem } from "../contract/errors.js";
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
