/**
 * What a plugin's app-defined interfaces need at load (docs/host-interfaces.md), decided before its engine sees it:
 *
 * - the app interfaces its component imports (read from the binary: `component-names.ts`), each of which must be
 *   granted (`iface:<ns>:<pkg>/<name>`, else `CapabilityDenied`) and provided: by the plugin `[interfaces.from]` names
 *   (loaded, exporting a version that satisfies the import) or by the host's `provide` (`InterfaceUnavailable`
 *   "missing" / "version" otherwise);
 * - wiring between plugins is acyclic: an importer calls its exporter while its own call runs, so a chain that came
 *   back to a plugin would call into an instance that is mid-call (`InterfaceUnavailable` "cycle");
 * - the typed exports it has, with their types from its own `[interfaces] wit` or the host's `defineInterfaces`,
 *   and the name table `handle.call` looks functions up in (versioned or not; jsName or WIT name).
 */
import { CapabilityDenied, InterfaceUnavailable, type ErrorDetails } from "../contract/errors.js";
import type { Manifest } from "../plugin/manifest.js";
import { ifaceAllowed } from "../plugin/capabilities.js";
import { componentAppInterfaces } from "./component-names.js";
import { InterfaceProviders, versionOf, type InterfaceCallRunner } from "./provider.js";
import { interfaceVersionSatisfies } from "./semver.js";
import { interfaceId, jsName, unversionedId, type ImportBinding, type InterfaceBindings, type WitInterface, type WitPackage } from "./types.js";
import { loadWit } from "./wit-load.js";
import { resolveInterface } from "./wit-parser.js";

/** One typed export as `handle.call` finds it. */
export interface ExportEntry {
  /** The versioned id the component exports. */
  readonly id: string;
  readonly iface: WitInterface;
  /** WIT function name by WIT name and by jsName. */
  readonly functions: ReadonlyMap<string, string>;
  /** `${id}#${witName}` by WIT name: the event name calls are recorded under (made once). */
  readonly labels: ReadonlyMap<string, string>;
  /** The call target by WIT name and by jsName (made once: a lookup allocates nothing). */
  readonly targets: ReadonlyMap<string, ExportTarget>;
}

/** One function of a typed export, resolved for a call. */
export interface ExportTarget {
  /** The versioned id the component exports. */
  readonly id: string;
  /** The WIT function name. */
  readonly fn: string;
  /** `${id}#${fn}`. */
  readonly label: string;
}

/** A plugin's app interfaces, as bound for its instances (kept on the registry's entry). */
export interface PluginInterfaces {
  /** App interfaces the component imports (versioned, as it imports them). */
  readonly imports: readonly string[];
  /** App interfaces it exports (versioned), typed or not. */
  readonly exports: readonly string[];
  /** Imported interface (unversioned) → the plugin whose export it is wired to. */
  readonly wiredTo: ReadonlyMap<string, string>;
  /** What the engine gets (`LoadRequest.interfaces`); undefined when the plugin has no app interfaces. */
  readonly bindings: InterfaceBindings | undefined;
  /** Typed exports by versioned and unversioned id. */
  readonly calls: ReadonlyMap<string, ExportEntry>;
}

/** What `bindPluginInterfaces` needs of the registry. */
export interface WiringHost {
  readonly providers: InterfaceProviders;
  /** The manifest of a plugin the registry knows by name (loaded, discovered, or in the batch loading now). */
  manifestOf(name: string): Manifest | undefined;
  /** A plugin's interfaces when it is loaded and active, else undefined. */
  activeInterfaces(name: string): PluginInterfaces | undefined;
  /** Runs one host implementation call for the importing plugin (provider.ts, `InterfaceCallRunner`). */
  readonly run: InterfaceCallRunner;
  /** Calls `fn` of `iface` (as the exporter exports it) on plugin `exporter`, for the importer: a value, or a Promise. */
  callWired(exporter: string, iface: string, fn: string, label: string, args: unknown[]): unknown;
}

/** A plugin that has no app interfaces: nothing to bind. */
export const NO_INTERFACES: PluginInterfaces = Object.freeze({
  imports: [],
  exports: [],
  wiredTo: new Map(),
  bindings: undefined,
  calls: new Map(),
});

/**
 * Read a plugin's app interfaces from its component, check them (grants, wiring cycles, providers, versions) and bind
 * them. Native plugins have none.
 * @throws {@link InvalidPluginBinary} when the component's names cannot be read.
 * @throws {@link CapabilityDenied} naming `iface:<id>` for an imported interface the plugin does not hold.
 * @throws {@link InterfaceUnavailable} "cycle", "missing", "version", "unknown-function" or "async".
 * @throws {@link WitError} when the manifest's `[interfaces] wit` cannot be read.
 */
export function bindPluginInterfaces(
  m: Manifest,
  bytes: Uint8Array,
  capabilities: readonly string[],
  canWait: boolean,
  host: WiringHost,
): PluginInterfaces {
  if (m.kind === "native") return NO_INTERFACES;
  const details: ErrorDetails = { plugin: m.name };
  const { names, imports, exports } = componentAppInterfaces(bytes, m.entryPath, details);
  const from = m.interfaces?.from ?? {};
  if (imports.length === 0 && exports.length === 0) {
    const stray = Object.keys(from);
    if (stray.length > 0) throw new InterfaceUnavailable(stray[0]!, "missing", `[interfaces.from] names it, but plugin "${m.name}"'s component does not import it; remove the entry or rebuild the plugin against a world that imports it`, details);
    return NO_INTERFACES;
  }
  // Grants first, as WASI imports are checked: a plugin learns what to declare before what to wire.
  for (const id of imports) {
    if (ifaceAllowed(capabilities, id)) continue;
    const cap = `iface:${unversionedId(id)}`;
    const declared = m.capabilities.includes(cap) || m.optionalCapabilities.includes(cap);
    throw new CapabilityDenied(
      cap,
      declared
        ? `needs capability "${cap}" (its component imports ${id}), which the host did not grant; grant it in plughost.config.json (e.g. ${JSON.stringify({ grants: { [m.name]: [cap] } })})`
        : `its component imports ${id}, which needs the capability "${cap}"; declare it in the manifest's capabilities and have the host grant it, or rebuild the plugin without that import`,
      details,
    );
  }
  for (const key of Object.keys(from)) {
    if (!imports.some((i) => unversionedId(i) === key)) {
      throw new InterfaceUnavailable(key, "missing", `[interfaces.from] names it, but plugin "${m.name}"'s component does not import it (it imports ${imports.join(", ") || "no app interface"}); remove the entry`, details);
    }
  }
  const cycle = wiringCycle(m, host.manifestOf);
  if (cycle) {
    throw new InterfaceUnavailable(
      cycle.iface,
      "cycle",
      `plugins would call each other in a circle (${cycle.path.join(" → ")}); a plugin mid-call cannot be called again. Remove one [interfaces.from] entry (the host may provide that interface instead)`,
      details,
    );
  }
  const own = ownPackages(m);
  const typeOf = (id: string): WitInterface | undefined => (own ? resolveInterface(own, id) : undefined) ?? host.providers.known(id);
  const imported = new Map(names.imports.map((i) => [i.name, i.functions]));

  const importBindings = new Map<string, ImportBinding>();
  const wiredTo = new Map<string, string>();
  for (const id of imports) {
    const bare = unversionedId(id);
    const exporter = from[bare];
    if (exporter === undefined) {
      const p = host.providers.providerFor(id, m.name);
      importBindings.set(id, host.providers.bind(p, id, m.name, host.run, canWait, imported.get(id)));
      continue;
    }
    importBindings.set(id, wire(m.name, id, exporter, imported.get(id), canWait, host));
    wiredTo.set(bare, exporter);
  }

  const exportTypes = new Map<string, WitInterface>();
  const calls = new Map<string, ExportEntry>();
  for (const id of exports) {
    const iface = typeOf(id);
    if (!iface) continue; // exported but untyped here: handle.call says what to give
    exportTypes.set(id, iface);
    const entry = exportEntry(id, iface);
    calls.set(id, entry);
    calls.set(unversionedId(id), entry);
  }
  return { imports, exports, wiredTo, bindings: { imports: importBindings, exports: exportTypes }, calls };
}

/** The binding of an import wired to another plugin's export. */
function wire(plugin: string, id: string, exporter: string, functionsImported: readonly string[] | undefined, canWait: boolean, host: WiringHost): ImportBinding {
  const details: ErrorDetails = { plugin };
  const target = host.activeInterfaces(exporter);
  const bare = unversionedId(id);
  if (!target) {
    throw new InterfaceUnavailable(id, "missing", `[interfaces.from] wires it to plugin "${exporter}", which is not loaded and active; load "${exporter}" first`, details);
  }
  const exported = target.exports.find((e) => unversionedId(e) === bare);
  if (exported === undefined) {
    throw new InterfaceUnavailable(id, "missing", `[interfaces.from] wires it to plugin "${exporter}", which does not export it (it exports ${target.exports.join(", ") || "no app interface"})`, details);
  }
  if (!interfaceVersionSatisfies(versionOf(exported), versionOf(id))) {
    throw new InterfaceUnavailable(id, "version", `plugin "${plugin}" was built against ${id}, and plugin "${exporter}" exports ${exported}, which does not satisfy it (same major version, for 0.x the same minor, and at least as new)`, details);
  }
  const entry = target.calls.get(exported);
  if (!entry) {
    throw new InterfaceUnavailable(id, "missing", `plugin "${exporter}" exports ${exported}, but the host does not know its types; give "${exporter}" an [interfaces] wit, or define them with registry.defineInterfaces`, details);
  }
  for (const name of functionsImported ?? []) {
    if (!entry.functions.has(name)) {
      throw new InterfaceUnavailable(id, "unknown-function", `plugin "${plugin}" imports function "${name}", which ${exported} as plugin "${exporter}" exports it does not have`, details);
    }
  }
  const functions = new Map<string, (args: unknown[]) => unknown>();
  for (const f of entry.iface.functions) {
    const stats = host.providers.stats(plugin, id, f.name);
    const label = entry.labels.get(f.name)!;
    functions.set(f.name, (args) => {
      stats.calls++;
      let out: unknown;
      try {
        out = host.callWired(exporter, exported, f.name, label, args);
      } catch (err) {
        stats.errors++;
        throw err;
      }
      if (out instanceof Promise) {
        if (!canWait) {
          stats.errors++;
          out.catch(() => undefined);
          throw new InterfaceUnavailable(id, "async", `plugin "${exporter}" cannot answer on the host's thread now, and plugin "${plugin}" runs there (in-process v8), which cannot wait; run one of them on another engine`, details);
        }
        out.catch(() => void stats.errors++);
      }
      return out;
    });
  }
  return { iface: entry.iface, importedAs: id, functions };
}

function exportEntry(id: string, iface: WitInterface): ExportEntry {
  const functions = new Map<string, string>();
  const labels = new Map<string, string>();
  const targets = new Map<string, ExportTarget>();
  for (const f of iface.functions) {
    const target: ExportTarget = Object.freeze({ id, fn: f.name, label: `${id}#${f.name}` });
    functions.set(f.name, f.name);
    functions.set(jsName(f.name), f.name);
    labels.set(f.name, target.label);
    targets.set(f.name, target);
    targets.set(jsName(f.name), target);
  }
  return { id, iface, functions, labels, targets };
}

/** The packages of the manifest's `[interfaces] wit`, or undefined when it names none. */
function ownPackages(m: Manifest): WitPackage[] | undefined {
  const wit = m.interfaces?.wit;
  return wit === undefined ? undefined : loadWit(wit);
}

/**
 * A circle of `[interfaces.from]` wiring through plugin `m`, following the manifests the registry knows; undefined
 * when there is none. `path` starts and ends with `m.name`; `iface` is the first edge's interface.
 */
export function wiringCycle(m: Pick<Manifest, "name" | "interfaces">, manifestOf: (name: string) => Pick<Manifest, "name" | "interfaces"> | undefined): { path: string[]; iface: string } | undefined {
  const seen = new Set<string>();
  const visit = (name: string, path: string[]): string[] | undefined => {
    const from = (name === m.name ? m : manifestOf(name))?.interfaces?.from ?? {};
    for (const next of new Set(Object.values(from))) {
      if (next === m.name) return [...path, next];
      if (seen.has(next)) continue;
      seen.add(next);
      const found = visit(next, [...path, next]);
      if (found) return found;
    }
    return undefined;
  };
  const path = visit(m.name, [m.name]);
  if (!path) return undefined;
  const first = Object.entries(m.interfaces?.from ?? {}).find(([, p]) => p === path[1]);
  return { path, iface: first?.[0] ?? m.name };
}

/**
 * Look up a typed export for `handle.call`: `iface` versioned or not, `fn` jsName or WIT name.
 * @throws {@link InterfaceUnavailable} "missing" (not exported, or its types unknown) or "unknown-function".
 */
export function findExport(plugin: string, ifaces: PluginInterfaces, iface: string, fn: string): ExportTarget {
  const entry = ifaces.calls.get(iface);
  if (!entry) {
    const exported = ifaces.exports.find((e) => e === iface || unversionedId(e) === iface);
    throw new InterfaceUnavailable(
      iface,
      "missing",
      exported
        ? `plugin "${plugin}" exports ${exported}, but the host does not know its types; give the plugin an [interfaces] wit, or define them with registry.defineInterfaces`
        : `plugin "${plugin}" does not export it (it exports ${ifaces.exports.join(", ") || "no app interface"})`,
      { plugin },
    );
  }
  const target = entry.targets.get(fn);
  if (target === undefined) {
    throw new InterfaceUnavailable(entry.id, "unknown-function", `it has no function "${fn}" (it has ${entry.iface.functions.map((f) => jsName(f.name)).join(", ")})`, { plugin });
  }
  return target;
}


/**
 * `order` (a dependency order) changed as little as possible so that each plugin comes after the plugins its
 * `[interfaces.from]` names within the batch: an importer needs its exporter loaded. A circle is left as it is (its
 * load then fails with "cycle").
 */
export function orderForWiring<T extends Pick<Manifest, "name" | "interfaces" | "dependencies">>(order: readonly T[]): T[] {
  const inBatch = new Set(order.map((m) => m.name));
  const placed = new Set<string>();
  const out: T[] = [];
  const left = [...order];
  const ready = (m: T): boolean =>
    Object.values(m.interfaces?.from ?? {}).every((p) => !inBatch.has(p) || placed.has(p)) && m.dependencies.every((d) => d.peer || !inBatch.has(d.name) || placed.has(d.name));
  while (left.length > 0) {
    const i = left.findIndex(ready);
    const m = left.splice(i < 0 ? 0 : i, 1)[0]!;
    placed.add(m.name);
    out.push(m);
  }
  return out;
}
