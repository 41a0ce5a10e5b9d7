/**
 * The host side of app-defined interfaces (docs/host-interfaces.md): the WIT packages the application defines
 * (`registry.defineInterfaces`), the JS implementations it provides (`registry.provide`), and the bound functions an
 * engine calls when a plugin calls one of them.
 *
 * A bound function is on the hot path of every guest → host interface call (the goal is 60 ns for `add(u32, u32)` on
 * in-process v8, lifting and lowering included), so it does the least: count the call, hand the implementation and
 * the argument array to the registry's runner (which puts the call under the plugin's current call context and the
 * pipeline's interceptors, when there are any), and on engines that cannot wait refuse a Promise. No allocation per
 * call, one try/catch (free when nothing throws).
 */
import { Counter, type Registry as PromRegistry } from "prom-client";
import { InterfaceUnavailable } from "../contract/errors.js";
import { interfaceId, jsName, unversionedId, type ImportBinding, type InterfaceFunction, type InterfaceImplementation, type WitInterface, type WitPackage } from "./types.js";
import { loadWit } from "./wit-load.js";
import { resolveInterface } from "./wit-parser.js";
import { interfaceVersionSatisfies, parseInterfaceId } from "./semver.js";

/** Options of `registry.provide`. */
export interface ProvideOptions {
  /** WIT text, or a `.wit` file or package directory, defining the interface (else the packages `defineInterfaces` gave). */
  wit?: string;
}

/** One provided interface: its WIT, the implementation, and its functions by WIT name. */
export interface HostProvider {
  /** The versioned id it was provided as, `acme:forms/store@1.0.0`. */
  readonly id: string;
  readonly iface: WitInterface;
  readonly impl: InterfaceImplementation;
  /** The implementation's function for each WIT function, by WIT name. */
  readonly functions: ReadonlyMap<string, InterfaceFunction>;
  /** Set by `unprovide`: functions bound to it then fail with `InterfaceUnavailable` "missing". */
  removed: boolean;
}

/** Calls of one interface function by one plugin (`registry.interfaceMetrics()`). */
export interface InterfaceCallStats {
  /** The calling plugin. */
  readonly plugin: string;
  /** The interface, versioned as the plugin imports it. */
  readonly iface: string;
  /** The WIT function name. */
  readonly fn: string;
  /** Calls made. */
  calls: number;
  /** Calls whose implementation threw (or, where the engine cannot wait, returned a Promise). */
  errors: number;
}

/**
 * Runs one implementation call for a plugin: under the plugin's current call (so `registry.currentCall()` and the
 * interceptors see it) when there is one, else directly. `fn.apply(self, args)` is what it must return.
 */
export type InterfaceCallRunner = (hostCall: string, fn: InterfaceFunction, self: unknown, args: unknown[]) => unknown;

/** The application's WIT packages and provided interfaces, for one registry. */
export class InterfaceProviders {
  #packages: WitPackage[] = [];
  readonly #provided = new Map<string, HostProvider>();
  readonly #stats = new Map<string, InterfaceCallStats>();

  /**
   * Add WIT packages the host knows (their interfaces may then be provided, and typed exports of plugins read their
   * types from them). A package already defined at the same version is replaced.
   * @throws {@link WitError} when the WIT cannot be read, parsed or resolved.
   */
  define(witSourceOrPath: string): WitPackage[] {
    const packages = loadWit(witSourceOrPath);
    this.#add(packages);
    return packages;
  }

  #add(packages: readonly WitPackage[]): void {
    const key = (p: WitPackage) => `${p.name}@${p.version ?? ""}`;
    const fresh = new Set(packages.map(key));
    this.#packages = [...this.#packages.filter((p) => !fresh.has(key(p))), ...packages];
  }

  /** The packages defined so far. */
  get packages(): readonly WitPackage[] {
    return this.#packages;
  }

  /** An interface the host knows: `id` versioned (that version) or not (the newest). */
  known(id: string): WitInterface | undefined {
    return resolveInterface(this.#packages, id);
  }

  /**
   * Provide an implementation of interface `id` (versioned, `acme:forms/store@1.0.0`). Every WIT function must have a
   * function under its `jsName`, and nothing else may be there.
   * @throws {@link InterfaceUnavailable} "missing" (no WIT defines it), "unknown-function" (a function missing, extra or
   *   not a function), "provided-twice" (the interface, at any version, is provided already).
   * @throws {@link WitError} when `options.wit` cannot be read.
   */
  provide(id: string, impl: InterfaceImplementation, options: ProvideOptions = {}): HostProvider {
    if (typeof id !== "string" || parseInterfaceId(id) === undefined) {
      throw new InterfaceUnavailable(String(id), "missing", `not an interface id; write it as namespace:package/interface@version, like "acme:forms/store@1.0.0"`);
    }
    const bare = unversionedId(id);
    const existing = this.#provided.get(bare);
    if (existing) throw new InterfaceUnavailable(id, "provided-twice", `${existing.id} is provided already; unprovide("${bare}") it first (one implementation per interface)`);
    let iface: WitInterface | undefined;
    if (options.wit !== undefined) {
      const packages = loadWit(options.wit);
      iface = resolveInterface(packages, id);
      if (iface) this.#add(packages);
    } else iface = this.known(id);
    if (!iface) {
      const other = this.known(bare);
      throw new InterfaceUnavailable(
        id,
        "missing",
        `no WIT the host knows defines it${other ? ` (it knows ${interfaceId(other)})` : ""}; call registry.defineInterfaces(<wit file, directory or text>) first, or pass { wit }`,
      );
    }
    if (typeof impl !== "object" || impl === null) throw new InterfaceUnavailable(id, "unknown-function", `the implementation must be an object of functions keyed by the WIT functions' camelCase names, got ${impl === null ? "null" : typeof impl}`);
    const functions = new Map<string, InterfaceFunction>();
    const wanted = new Set<string>();
    for (const f of iface.functions) {
      const key = jsName(f.name);
      wanted.add(key);
      const fn = (impl as Record<string, unknown>)[key];
      if (typeof fn !== "function") {
        throw new InterfaceUnavailable(id, "unknown-function", `the implementation has no function "${key}" for WIT function "${f.name}"${fn === undefined ? "" : ` (it is ${typeof fn})`}; add it`);
      }
      functions.set(f.name, fn as InterfaceFunction);
    }
    for (const key of Object.keys(impl)) {
      if (!wanted.has(key)) {
        throw new InterfaceUnavailable(id, "unknown-function", `the implementation has "${key}", which is not a function of the interface (it has ${[...wanted].join(", ") || "none"}); remove it or fix its name`);
      }
    }
    const provider: HostProvider = { id: interfaceId(iface), iface, impl, functions, removed: false };
    this.#provided.set(bare, provider);
    return provider;
  }

  /** Remove the implementation of `id` (versioned or not). Plugins bound to it then get "missing" from each call. True when there was one. */
  unprovide(id: string): boolean {
    const bare = unversionedId(id);
    const p = this.#provided.get(bare);
    if (!p) return false;
    p.removed = true;
    this.#provided.delete(bare);
    return true;
  }

  /** The provider of an interface (versioned or not: looked up by its unversioned id). */
  provider(id: string): HostProvider | undefined {
    return this.#provided.get(unversionedId(id));
  }

  /** The ids provided now, versioned. */
  providedIds(): string[] {
    return [...this.#provided.values()].map((p) => p.id);
  }

  /**
   * The host's provider for an import `importedAs` (versioned, as the component imports it), or why there is none.
   * @throws {@link InterfaceUnavailable} "missing" (none provided) or "version" (the provided version does not satisfy it).
   */
  providerFor(importedAs: string, plugin: string): HostProvider {
    const p = this.provider(importedAs);
    if (!p) {
      throw new InterfaceUnavailable(importedAs, "missing", `plugin "${plugin}" imports it and nobody provides it: call registry.provide("${importedAs}", impl), or name the plugin that exports it in [interfaces.from]`, { plugin });
    }
    const wanted = versionOf(importedAs);
    if (!interfaceVersionSatisfies(p.iface.version, wanted)) {
      throw new InterfaceUnavailable(importedAs, "version", `plugin "${plugin}" was built against ${wanted ?? "an unversioned interface"}, and the host provides ${p.id}, which does not satisfy it (same major version, for 0.x the same minor, and at least as new); provide a compatible version or rebuild the plugin`, { plugin });
    }
    return p;
  }

  /**
   * Bind a provider's functions for one importing plugin: the engine calls `functions.get(witName)(args)`.
   * `functionsImported`: the function names the component's import declares (when the binary says); each must exist.
   * `canWait`: the plugin's engine waits off the JS thread, so an implementation may return a Promise.
   * @throws {@link InterfaceUnavailable} "unknown-function" when the component imports a function the provider lacks.
   */
  bind(p: HostProvider, importedAs: string, plugin: string, run: InterfaceCallRunner, canWait: boolean, functionsImported?: readonly string[]): ImportBinding {
    for (const name of functionsImported ?? []) {
      if (!p.functions.has(name)) {
        throw new InterfaceUnavailable(importedAs, "unknown-function", `plugin "${plugin}" imports function "${name}", which ${p.id} as the host provides it does not have; provide a version with it or rebuild the plugin`, { plugin });
      }
    }
    const functions = new Map<string, (args: unknown[]) => unknown>();
    for (const [name, fn] of p.functions) {
      const stats = this.stats(plugin, importedAs, name);
      const label = `${unversionedId(importedAs)}#${name}`;
      const impl = p.impl;
      functions.set(name, (args) => {
        stats.calls++;
        if (p.removed) {
          stats.errors++;
          throw new InterfaceUnavailable(importedAs, "missing", `the host no longer provides it (unprovide); provide it again and reload plugin "${plugin}" (registry.reload), which binds its imports anew`, { plugin });
        }
        let out: unknown;
        try {
          out = run(label, fn, impl, args);
        } catch (err) {
          stats.errors++;
          throw err;
        }
        if (!canWait && out instanceof Promise) {
          stats.errors++;
          out.catch(() => undefined); // nobody will wait for it
          throw new InterfaceUnavailable(
            importedAs,
            "async",
            `the implementation of "${jsName(name)}" returned a Promise, and plugin "${plugin}" runs on the host's thread (in-process v8), which cannot wait for it; make it synchronous, or run the plugin on wasmtime or with worker isolation, where the call waits for it`,
            { plugin },
          );
        }
        return out;
      });
    }
    return { iface: p.iface, importedAs, functions };
  }

  /** The counters of one plugin's calls of one interface function (made on first use; kept across restarts). */
  stats(plugin: string, iface: string, fn: string): InterfaceCallStats {
    const key = `${plugin}\0${iface}\0${fn}`;
    let s = this.#stats.get(key);
    if (!s) {
      s = { plugin, iface, fn, calls: 0, errors: 0 };
      this.#stats.set(key, s);
    }
    return s;
  }

  /** Every plugin's interface-call counters, or one plugin's (copies). */
  callStats(plugin?: string): InterfaceCallStats[] {
    return [...this.#stats.values()].filter((s) => plugin === undefined || s.plugin === plugin).map((s) => ({ ...s }));
  }

  /** Export the counters as `plughost_interface_calls_total` and `plughost_interface_errors_total` (read at collection: nothing per call). */
  registerMetrics(prom: PromRegistry): void {
    const labelNames = ["plugin", "interface", "function"] as const;
    const stats = this.#stats;
    for (const [name, help, field] of [
      ["plughost_interface_calls_total", "Calls of app-defined interface functions (host-provided or wired to another plugin), by calling plugin.", "calls"],
      ["plughost_interface_errors_total", "Those calls whose implementation or exporting plugin failed.", "errors"],
    ] as const) {
      prom.registerMetric(
        new Counter({
          name,
          help,
          labelNames,
          registers: [],
          collect() {
            this.reset();
            for (const s of stats.values()) if (s[field] > 0) this.inc({ plugin: s.plugin, interface: s.iface, function: s.fn }, s[field]);
          },
        }),
      );
    }
  }
}

/** The version part of an interface id, or undefined. */
export function versionOf(id: string): string | undefined {
  const at = id.indexOf("@");
  return at < 0 ? undefined : id.slice(at + 1);
}
