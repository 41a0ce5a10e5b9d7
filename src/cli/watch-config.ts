/** `--watch-config` of `plughost run` and `serve`: watch the host config file and print what each change did. */
import type { ConfigFileWatch } from "../config/watch.js";
import type { PluginRegistry } from "../runtime/registry.js";

/** Watch `file` through `registry.watchConfig`, printing each `config-changed` and `config-refused` (docs/config.md). */
export async function watchConfigOf(registry: PluginRegistry, file: string, print: (record: Record<string, unknown>, text: string) => void): Promise<ConfigFileWatch> {
  registry.on("config-changed", (e) =>
    print({ configChanged: e.plugin, delivered: e.delivered, changed: e.changed }, `config of ${e.plugin} changed (${e.changed.join(", ") || "no value"}): ${e.delivered}`),
  );
  registry.on("config-refused", (e) =>
    print(
      { configRefused: e.plugin ?? null, file: e.file ?? null, error: e.error.code, message: e.error.message },
      `config ${e.plugin ? `of ${e.plugin} ` : ""}refused (the old one stays): ${e.error.code} ${e.error.message}`,
    ),
  );
  const watch = await registry.watchConfig(file);
  print({ watchingConfig: watch.file }, `watching ${watch.file} for config changes`);
  return watch;
}
