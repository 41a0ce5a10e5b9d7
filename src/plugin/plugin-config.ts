/**
 * A plugin's configuration now lives in src/config/ (sources, provenance, environment variables, secrets,
 * validation modes, live updates); this module keeps the first release's imports working.
 */
export { ConfigError, mergeConfig, resolvePluginConfig } from "../config/index.js";
