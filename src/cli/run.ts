/** plughost run: load plugins, dispatch events and hooks, print the results, tear down (or --watch and reload). */
import path from "node:path";
import { createInterface } from "node:readline";
import { pino, destination } from "pino";
import { HotReloader } from "../runtime/hot-reload.js";
import { PluginRegistry, type PluginHandle } from "../runtime/registry.js";
import { registryOptionsFrom } from "../runtime/host-config.js";
import type { ConfigFileWatch } from "../config/watch.js";
import { describe, jsonOption, loadEach, pluginTargets, readHostConfigFile, splitEvent, usageError, type Command } from "./shared.js";
import { watchConfigOf } from "./watch-config.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

export const runCommand: Command = {
  summary: "load plugins, dispatch events, print the results, tear down",
  usage: `plughost run <dir|manifest>... [--event name[=data]]... [--hook name[=data]]... [--grant cap]... [--config file] [--watch] [--watch-config] [--strict] [--json]
A plugin that fails to load is reported and the others run (exit status 1); --strict stops at the first one.
--watch keeps running after the events, reloading a plugin when its manifest or entry file changes (until SIGINT/SIGTERM).
--watch-config keeps running too, and applies the host config file's config section to the plugins when it changes (docs/config.md).
Events come from --event/--hook, or (when none are given and stdin is not a TTY) from JSON lines on stdin:
  {"event": "greet", "data": "world"}   or   {"hook": "transform", "data": "abc"}`,
  options: {
    event: { type: "string", multiple: true },
    hook: { type: "string", multiple: true },
    grant: { type: "string", multiple: true },
    config: { type: "string" },
    engine: { type: "string" },
    watch: { type: "boolean" },
    "watch-config": { type: "boolean" },
    strict: { type: "boolean" },
    ...jsonOption,
  },
  async run(values, positionals) {
    const hostConfig = await readHostConfigFile(values.config as string | undefined);
    const options = hostConfig ? registryOptionsFrom(hostConfig) : {};
    if (values["watch-config"] && !hostConfig) throw usageError("--watch-config needs a host config file: pass --config <file>, or run where plughost.config.json is");
    if (positionals.length === 0 && !options.pluginDirs?.length) throw usageError("run needs at least one plugin directory or manifest (or pluginDirs in the host config)");
    const extra = (values.grant as string[] | undefined) ?? [];
    const base = options.grants ?? [];
    const grants = Array.isArray(base) ? [...(base as string[]), ...extra] : { ...base, "*": [...((base as Record<string, readonly string[]>)["*"] ?? []), ...extra] };
    const registry = new PluginRegistry({
      // Plugin logs go to stderr, so stdout carries only results.
      logger: pino({ name: "plughost", level: process.env.PLUGHOST_LOG_LEVEL ?? options.logLevel ?? "info" }, destination(2)),
      ...options,
      grants,
      ...(values.engine ? { engine: values.engine as "v8" | "wasmtime" } : {}),
    });
    const out: unknown[] = [];
    const print = (record: Record<string, unknown>, text: string) => (values.json ? console.log(JSON.stringify(record)) : console.log(text));
    let failures = 0;
    let reloader: HotReloader | undefined;
    let configWatch: ConfigFileWatch | undefined;
    try {
      // pluginDirs: every plugin found there when none is named; a name that is not a path is looked up there.
      const targets = await pluginTargets(registry, positionals, Boolean(options.pluginDirs?.length));
      let handles: PluginHandle[];
      if (values.strict) handles = await registry.loadAll(targets);
      else {
        // One plugin that fails to load is reported; the others still run.
        const loaded = await loadEach(registry, targets, { strict: false, json: Boolean(values.json) });
        handles = loaded.handles;
        failures += loaded.failures;
      }
      for (const h of handles) print({ loaded: h.name, version: h.version, callbacks: h.callbacks }, `loaded ${h.name}@${h.version} [${h.callbacks.join(", ")}]`);
      if (values.watch) {
        reloader = new HotReloader(registry);
        reloader.on("reloaded", (e) => print({ reloaded: e.plugin, from: e.from, to: e.to }, `reloaded ${e.plugin} ${e.from} -> ${e.to}`));
        reloader.on("reload-failed", (e) =>
          print({ reloadFailed: e.plugin, error: e.error.code, message: e.error.message }, `reload of ${e.plugin} failed (kept the running version): ${e.error.code} ${e.error.message}`),
        );
        await reloader.watch(handles.map((h) => path.dirname(h.manifest.file)));
        print({ watching: handles.map((h) => h.name) }, `watching ${handles.map((h) => h.name).join(", ")} (Ctrl-C to stop)`);
      }
      if (values["watch-config"] && hostConfig) configWatch = await watchConfigOf(registry, hostConfig.source, print);
      const requests: { kind: "event" | "hook"; name: string; data: Uint8Array }[] = [];
      for (const e of (values.event as string[] | undefined) ?? []) requests.push({ kind: "event", ...splitEvent(e) });
      for (const e of (values.hook as string[] | undefined) ?? []) requests.push({ kind: "hook", ...splitEvent(e) });
      const handle = async (r: (typeof requests)[number]) => {
        if (r.kind === "event") {
          for (const res of await registry.dispatch(r.name, r.data)) {
            if (res.error) failures++;
            print(
              { event: r.name, plugin: res.plugin, ...(res.error ? { error: res.error.code, message: res.error.message } : { status: res.status }) },
              `${r.name} -> ${res.plugin}: ${res.error ? `${res.error.code} ${res.error.message}` : `status ${res.status}`}`,
            );
          }
        } else {
          const res = await registry.runHook(r.name, r.data);
          if (!res.ok || res.errors.length) failures++;
          print(
            {
              hook: r.name,
              ok: res.ok,
              data: dec.decode(res.data),
              status: res.status,
              stoppedBy: res.stoppedBy,
              ...(res.error ? { error: res.error.code } : {}),
              errors: res.errors.map((e) => e.error.code),
            },
            `${r.name} => ${res.ok ? JSON.stringify(dec.decode(res.data)) : res.error ? `${res.error.code} from ${res.stoppedBy}: ${res.error.message}` : `err ${res.status} from ${res.stoppedBy}`}`,
          );
        }
      };
      for (const r of requests) await handle(r);
      if (requests.length === 0 && !process.stdin.isTTY) {
        for await (const line of createInterface({ input: process.stdin })) {
          if (!line.trim()) continue;
          const msg = JSON.parse(line) as { event?: string; hook?: string; data?: string };
          const kind = msg.hook ? "hook" : "event";
          await handle({ kind, name: (msg.hook ?? msg.event)!, data: enc.encode(msg.data ?? "") });
        }
      }
      if (reloader || configWatch) await new Promise<void>((resolve) => process.once("SIGINT", resolve).once("SIGTERM", resolve));
    } finally {
      await reloader?.close();
      await configWatch?.close();
      await registry.unloadAll().catch((err: unknown) => {
        failures++;
        console.error(describe(err));
      });
    }
    void out;
    return failures ? 1 : 0;
  },
};
