/** Plugin configuration: sources and provenance, environment variables, secrets, validation modes, live updates (docs/config.md). */
export { ConfigError, type ConfigProblem, type ConfigSource } from "./errors.js";
export { mergeConfig, mergePatch, isSecretRef } from "./layers.js";
export { configEnvVar, escapeEnvName } from "./env-vars.js";
export { SECRET_PLACEHOLDER, secretRedactor, type SecretResolver } from "./secrets.js";
export {
  resolveConfig,
  resolvePluginConfig,
  closeSchema,
  type AdditionalProperties,
  type ConfigInputs,
  type ConfigManifest,
  type ConfigValidation,
  type ResolvedConfig,
} from "./resolve.js";
