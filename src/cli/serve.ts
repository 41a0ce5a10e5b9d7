/** plughost serve: load plugins and serve them over HTTP (admin API and page, /metrics, health, plugin endpoints) until SIGTERM/SIGINT. */
import { pino, destination } from "pino";
import { registryOptionsFrom, serveConfigOf } from "../runtime/host-config.js";
import { PluginRegistry } from "../runtime/registry.js";
import { createServer } from "../serve/server.js";
import { describe, jsonOption, loadEach, pluginTargets, readHostConfigFile, usageError, type Command } from "./shared.js";
import { watchConfigOf } from "./watch-config.js";

export const serveCommand: Command = {
  summary: "load plugins and serve them over HTTP: admin API and page, /metrics, /healthz, /readyz, plugin endpoints",
  usage: `plughost serve [<dir|manifest>...] [--config file] [--host addr] [--port n] [--grant cap]... [--watch-config] [--strict] [--json]
Loads the plugins named (or every plugin in the host config's pluginDirs) and serves until SIGTERM or SIGINT, then
stops accepting, lets in-flight requests finish (serve.shutdownGraceMs), and unloads the plugins.
Tokens: the host config's serve.tokens, PLUGHOST_ADMIN_TOKEN (role admin) and PLUGHOST_READ_TOKEN (role read).
A plugin that fails to load is reported and the others are served; --strict stops at the first one. See docs/serve.md.
--watch-config applies the host config file's config section to the plugins when it changes (docs/config.md).`,
  options: {
    config: { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    grant: { type: "string", multiple: true },
    engine: { type: "string" },
    "watch-config": { type: "boolean" },
    strict: { type: "boolean" },
    ...jsonOption,
  },
  async run(values, positionals) {
    const hostConfig = await readHostConfigFile(values.config as string | undefined);
    const options = hostConfig ? registryOptionsFrom(hostConfig) : {};
    if (values["watch-config"] && !hostConfig) throw usageError("--watch-config needs a host config file: pass --config <file>, or run where plughost.config.json is");
    const serve = hostConfig ? serveConfigOf(hostConfig) : serveConfigOf({});
    let port = serve.port;
    if (values.port !== undefined) {
      port = Number(values.port);
      if (!/^[0-9]{1,5}$/.test(values.port as string) || port > 65535) throw usageError(`--port must be 0-65535, got ${JSON.stringify(values.port)}`);
    }
    const extra = (values.grant as string[] | undefined) ?? [];
    const base = options.grants ?? [];
    const grants = Array.isArray(base) ? [...(base as string[]), ...extra] : { ...base, "*": [...((base as Record<string, readonly string[]>)["*"] ?? []), ...extra] };
    const logger = pino({ name: "plughost", level: process.env.PLUGHOST_LOG_LEVEL ?? options.logLevel ?? "info" }, destination(2));
    // A server is watched: per-call metrics on (latencies in the admin page, calls by event in /metrics).
    const registry = new PluginRegistry({ logger, metrics: true, ...options, grants, ...(values.engine ? { engine: values.engine as "v8" | "wasmtime" } : {}) });
    const print = (record: Record<string, unknown>, text: string) => (values.json ? console.log(JSON.stringify(record)) : console.log(text));
    const server = await createServer(registry, {
      ...serve,
      host: (values.host as string | undefined) ?? serve.host,
      port,
      ready: false,
      configOverrides: hostConfig?.config ?? {},
      baseDir: hostConfig?.baseDir ?? process.cwd(),
      source: hostConfig?.source ?? "the environment",
    });
    server.endpoints.on("refused", (e) => print({ routesRefused: e.plugin, error: e.error.code, message: e.error.message }, `routes of ${e.plugin} refused: ${e.error.code} ${e.error.message}`));
    let failures = 0;
    // A signal that arrives while plugins load still stops the server, once the loading is done.
    const stopped = new Promise<string>((resolve) => {
      process.once("SIGTERM", () => resolve("SIGTERM")).once("SIGINT", () => resolve("SIGINT"));
    });
    try {
      const targets = await pluginTargets(registry, positionals, Boolean(options.pluginDirs?.length));
      if (targets.length === 0) print({ warning: "no plugins" }, "no plugins to load: name plugin directories, or set pluginDirs in plughost.config.json; the admin API can load more");
      const loaded = await loadEach(registry, targets, {
        strict: Boolean(values.strict),
        json: Boolean(values.json),
        loaded: (h) => print({ loaded: h.name, version: h.version, endpoints: server.endpoints.list(h.name).map((e) => `${e.method} ${e.path}`) }, `loaded ${h.name}@${h.version}`),
      });
      failures += loaded.failures;
      if (values["watch-config"] && hostConfig) await watchConfigOf(registry, hostConfig.source, print); // closed with the registry
      const url = await server.listen();
      server.ready = true;
      print({ listening: url, endpoints: server.endpoints.list().map((e) => `${e.method} ${e.path}`) }, `listening on ${url} (admin page: ${url}/admin)`);
      const signal = await stopped;
      print({ stopping: signal }, `${signal}: stopping (in-flight requests have ${serve.shutdownGraceMs} ms)`);
    } finally {
      await server.close().catch((err: unknown) => {
        failures++;
        console.error(describe(err));
      });
      await registry.unloadAll().catch((err: unknown) => {
        failures++;
        console.error(describe(err));
      });
    }
    print({ stopped: true }, "stopped");
    return failures ? 1 : 0;
  },
};
