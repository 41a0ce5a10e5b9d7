/** The error a plugin's configuration gets: which plugin, which source, which JSON pointer. */
import { PlughostError, type ManifestProblem } from "../contract/errors.js";

/**
 * Where a configuration value came from (docs/config.md, "Provenance"), lowest first: the manifest's defaults, the
 * schema's `default`s, the manifest's section for the host's environment, the host's overrides, an environment
 * variable, a live update (`registry.setConfig`).
 */
export type ConfigSource = "default" | "schema-default" | `env-section:${string}` | "host" | `env:${string}` | "live";

/** One thing wrong with a configuration: its pointer (relative to the merged config), what is wrong, and the source that set the value. */
export interface ConfigProblem extends ManifestProblem {
  /** The source of the value at `pointer` (or of the nearest value above it); absent when nothing set it (a missing key). */
  source?: ConfigSource;
}

/**
 * A plugin's configuration is invalid: a source that is not an object, an environment variable that names no key
 * unambiguously, a secret that cannot be resolved, or a merged config that does not satisfy the schema or the
 * validation mode. Code `E_CONFIG_INVALID`. Secret values never appear in it (`[secret]` stands in).
 */
export class ConfigError extends PlughostError {
  /** Every problem, with pointers relative to the merged configuration object. */
  readonly problems: readonly ConfigProblem[];
  /** The source of the first problem's value, when one set it. */
  readonly source: ConfigSource | undefined;
  constructor(plugin: string, problems: readonly ConfigProblem[], hint: string, redact: (text: string) => string = (t) => t) {
    const lines = problems.map((p) => `${p.pointer || "/"}: ${p.message}${p.source ? ` (from ${p.source})` : ""}`);
    super("E_CONFIG_INVALID", redact(`invalid configuration: ${lines.join("; ")}; ${hint}`), { plugin });
    this.problems = problems.map((p) => ({ ...p, message: redact(p.message) }));
    this.source = problems.find((p) => p.source !== undefined)?.source;
  }
}
