/**
 * The registry's side of configuration (docs/config.md): the host's inputs per plugin (overrides, live updates,
 * environment, secrets, mode), and live updates delivered through `on-config-changed` or a reload.
 */
import { isDeepStrictEqual } from "node:util";
import type { PlughostError } from "../contract/errors.js";
import type { ConfigSource } from "./errors.js";
import { isPlainObject, leafPointers, mergePatch, valueAt } from "./layers.js";
import { resolveConfig, type ConfigManifest, type ConfigValidation, type ResolvedConfig } from "./resolve.js";
import type { SecretResolver } from "./secrets.js";

/** The registry options about configuration. */
export interface ConfigHostOptions {
  /** Per-plugin overrides (the host config's `config`). */
  config?: Record<string, Record<string, unknown>>;
  /** The host's environment, e.g. "production": selects each manifest's `[config.env.<environment>]`. */
  environment?: string;
  /** Resolves `{ secret = "NAME" }` (else the environment variable NAME). */
  secrets?: SecretResolver;
  /** "strict" validates every plugin's config strictly; "lenient" (default) leaves it to each manifest. */
  configValidation?: ConfigValidation;
}

/** What `registry.config(name)` returns: the effective configuration with secrets as `[secret]`, and where each value came from. */
export interface PluginConfigView {
  /** The effective configuration, each secret replaced by `[secret]`. */
  value: Record<string, unknown>;
  /** The source of each leaf value, by JSON pointer ("default", "schema-default", "env-section:<env>", "host", "env:<VAR>", "live"). */
  provenance: Record<string, ConfigSource>;
  /** The pointers that hold secrets, with the secrets' names (never their values). */
  secrets: Record<string, string>;
  /** The validation mode it passed. */
  validation: ConfigValidation;
}

/** How a live update reached the plugin. */
export type ConfigDelivery = "callback" | "reload" | "stored" | "unchanged";

/** The outcome of `registry.setConfig` (and of each plugin's share of a watched file's change); also the `config-changed` event. */
export interface ConfigUpdate {
  /** The plugin. */
  plugin: string;
  /**
   * "callback": its `on-config-changed` took it (status 0); "reload": it was reloaded with it (no such export, or a
   * non-zero status); "stored": it is not running, and gets it when it loads; "unchanged": the effective config is the same.
   */
  delivered: ConfigDelivery;
  /** Pointers whose values changed (values themselves are not given: they may be secrets). */
  changed: string[];
  /** The status `on-config-changed` returned, when it was called. */
  status?: number;
}

/** What a live update needs of one plugin in the registry. */
export interface ConfigTarget {
  readonly manifest: ConfigManifest;
  /** Active or suspended: an update must reach it now. */
  readonly running: boolean;
  /** Its configuration now, when it has been resolved. */
  readonly current: ResolvedConfig | undefined;
  /** Make `resolved` the plugin's configuration (what get-config answers). */
  adopt(resolved: ResolvedConfig): void;
  /** Call `on-config-changed`; undefined when the instance has no such export (or cannot take calls now); a fault is -1. */
  tell(resolved: ResolvedConfig): Promise<number | undefined>;
  /** Reload the plugin; its new instance resolves its configuration from the inputs stored now. */
  reload(): Promise<void>;
}

/**
 * The host's configuration inputs per plugin and the live-update flow. One update per plugin at a time: a second
 * waits for the first.
 */
export class PluginConfigs {
  readonly #options: ConfigHostOptions;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #host = new Map<string, Record<string, unknown>>();
  readonly #live = new Map<string, Record<string, unknown>>();
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(options: ConfigHostOptions, env: Readonly<Record<string, string | undefined>> = process.env) {
    this.#options = options;
    this.#env = env;
    for (const [name, overrides] of Object.entries(options.config ?? {})) this.#host.set(name, overrides);
  }

  /** The host's environment (`environment` option), if any. */
  get environment(): string | undefined {
    return this.#options.environment;
  }

  /**
   * The plugin's configuration from the inputs stored now.
   * @throws {@link ConfigError} as `resolveConfig`.
   */
  resolve(manifest: ConfigManifest, otherPlugins: readonly string[]): ResolvedConfig {
    return resolveConfig(manifest, this.#inputs(manifest.name, this.#host.get(manifest.name), this.#live.get(manifest.name), otherPlugins));
  }

  /** Whether `next` differs from the host's overrides for `name` now (a watched file changed them). */
  hostChanged(name: string, next: Record<string, unknown> | undefined): boolean {
    return !isDeepStrictEqual(this.#host.get(name) ?? {}, next ?? {});
  }

  #inputs(name: string, host: Record<string, unknown> | undefined, live: Record<string, unknown> | undefined, otherPlugins: readonly string[]) {
    const o = this.#options;
    return {
      ...(host ? { host } : {}),
      ...(live ? { live } : {}),
      ...(o.environment !== undefined ? { environment: o.environment } : {}),
      ...(o.secrets ? { secrets: o.secrets } : {}),
      ...(o.configValidation ? { validation: o.configValidation } : {}),
      env: this.#env,
      // Its own name may stay: env-vars.ts counts only prefixes longer than the plugin's own (no copy per load).
      otherPlugins,
    };
  }

  /**
   * Apply a change of one plugin's inputs: a live patch (JSON merge patch onto its earlier live updates) or new
   * host overrides (a watched file). Validated first: an invalid change throws and nothing changes. Then the
   * running plugin gets it through `on-config-changed`, or is reloaded; when the reload fails, the old inputs and
   * config are back and its error is thrown.
   * @throws {@link ConfigError} when the new configuration is invalid; the reload's error when it fails.
   */
  update(target: ConfigTarget, change: { live: Record<string, unknown> } | { host: Record<string, unknown> | undefined }, otherPlugins: readonly string[]): Promise<ConfigUpdate> {
    const name = target.manifest.name;
    const prev = this.#queues.get(name) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(() => this.#update(target, change, otherPlugins));
    this.#queues.set(name, run);
    const clear = () => {
      if (this.#queues.get(name) === run) this.#queues.delete(name);
    };
    run.then(clear, clear);
    return run;
  }

  async #update(target: ConfigTarget, change: { live: Record<string, unknown> } | { host: Record<string, unknown> | undefined }, otherPlugins: readonly string[]): Promise<ConfigUpdate> {
    const name = target.manifest.name;
    const oldHost = this.#host.get(name);
    const oldLive = this.#live.get(name);
    const host = "host" in change ? change.host : oldHost;
    // A patch that is not an object: the resolver refuses it in its words (a live update must be an object).
    if ("live" in change && !isPlainObject(change.live)) resolveConfig(target.manifest, this.#inputs(name, host, change.live as Record<string, unknown>, otherPlugins));
    const live = "live" in change ? mergePatch(oldLive ?? {}, change.live) : oldLive;
    const resolved = resolveConfig(target.manifest, this.#inputs(name, host, live, otherPlugins));
    const store = (h: Record<string, unknown> | undefined, l: Record<string, unknown> | undefined) => {
      if (h === undefined) this.#host.delete(name);
      else this.#host.set(name, h);
      if (l === undefined || Object.keys(l).length === 0) this.#live.delete(name);
      else this.#live.set(name, l);
    };
    store(host, live);
    const before = target.current;
    const changed = changedPointers(before?.value, resolved.value);
    if (!target.running) {
      target.adopt(resolved); // what registry.config shows until it loads (which resolves it again)
      return { plugin: name, delivered: "stored", changed };
    }
    if (changed.length === 0) {
      target.adopt(resolved); // the same values; their sources may differ
      return { plugin: name, delivered: "unchanged", changed };
    }
    const status = await target.tell(resolved);
    if (status === 0) return { plugin: name, delivered: "callback", changed, status };
    try {
      await target.reload();
    } catch (err) {
      store(oldHost, oldLive);
      if (before) target.adopt(before);
      throw err;
    }
    return { plugin: name, delivered: "reload", changed, ...(status !== undefined ? { status } : {}) };
  }
}

/** Pointers whose values differ between two configurations (leaves of either). */
export function changedPointers(a: Record<string, unknown> | undefined, b: Record<string, unknown>): string[] {
  const all = new Set([...leafPointers(a ?? {}), ...leafPointers(b)]);
  return [...all].filter((p) => p !== "" && !isDeepStrictEqual(valueAt(a ?? {}, p), valueAt(b, p))).sort();
}

/** An update the registry refused, for the `config-refused` event. */
export interface ConfigRefusal {
  /** The plugin, when the refusal concerns one (a host config file that does not parse concerns none). */
  plugin?: string;
  /** The watched file, for changes that came from one. */
  file?: string;
  /** The context key, when the refusal concerns a watched file's `context` section (its old value stays). */
  contextKey?: string;
  /**
   * Why: a `ConfigError`, a `HostConfigError`, the reload's error, or for a context key a `ContextValueInvalid`
   * (or `ContextSchemaInvalid`, `ContextKeyInvalid`). The old configuration stays.
   */
  error: PlughostError;
}
