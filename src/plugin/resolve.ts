/**
 * Step 3 of the data path: check each plugin's api-version against the
 * host's WIT version, and order a set of plugins so that every plugin loads
 * after its dependencies.
 */
import semver from "semver";
import { ResolutionError } from "../contract/errors.js";
import type { Manifest } from "./manifest.js";
import { checkApiRange, HOST_WIT_VERSION } from "../contract/version.js";

/** A plugin that is already loaded, by name and version. */
export interface LoadedPlugin {
  /** Its name. */
  name: string;
  /** Its version. */
  version: string;
}

/** Options of `resolveLoadOrder`. */
export interface ResolveOptions {
  /** Plugins already loaded: they satisfy dependencies and are not in the result. */
  loaded?: readonly LoadedPlugin[];
}

/** What `resolveLoadOrder` reads of a manifest. */
export type Resolvable = Pick<Manifest, "name" | "version" | "dependencies" | "file">;

/**
 * Checks that the manifest's api-version range accepts the host's WIT
 * version. Under semver, 0.x minors are breaking: "^0.1" accepts 0.1.x but
 * not 0.2.0. Prereleases of the host are matched too.
 * @throws {@link ApiVersionMismatch} when the range does not accept the host's version (or is not a valid range).
 */
export function checkApiVersion(manifest: Pick<Manifest, "name" | "apiVersion">, hostVersion: string = HOST_WIT_VERSION): void {
  checkApiRange(manifest.name, manifest.apiVersion, hostVersion);
}

function satisfies(version: string, range: string): boolean {
  return semver.valid(version) !== null && semver.satisfies(version, range, { includePrerelease: true });
}

/**
 * Order `manifests` so that dependencies (required and optional, when
 * present) come first; ties break by name, so the order is deterministic.
 * @throws {@link ResolutionError} for duplicate names, missing required
 *   dependencies, versions outside a range, and cycles (naming the path).
 * @example
 *   const order = resolveLoadOrder(await Promise.all(dirs.map((d) => loadManifest(d))));
 *   for (const m of order) await registry.load(m.dir);
 */
export function resolveLoadOrder<M extends Resolvable>(manifests: readonly M[], options: ResolveOptions = {}): M[] {
  const byName = new Map<string, M>();
  for (const m of manifests) {
    const other = byName.get(m.name);
    if (other) {
      throw new ResolutionError(`two plugins are named "${m.name}" (${other.file} and ${m.file}); plugin names must be unique, so remove or rename one`, {
        plugin: m.name,
      });
    }
    byName.set(m.name, m);
  }
  const loaded = new Map((options.loaded ?? []).map((p) => [p.name, p.version]));
  for (const m of manifests) {
    if (loaded.has(m.name)) {
      throw new ResolutionError(`"${m.name}" is already loaded (version ${loaded.get(m.name)}); unload it before loading ${m.file}`, { plugin: m.name });
    }
  }

  const problems: string[] = [];
  let firstPlugin: string | undefined;
  const edges = new Map<string, string[]>(); // plugin -> dependencies to load before it
  for (const m of [...manifests].sort((a, b) => a.name.localeCompare(b.name))) {
    const before: string[] = [];
    for (const dep of m.dependencies) {
      const inSet = byName.get(dep.name);
      const version = inSet?.version ?? loaded.get(dep.name);
      if (version === undefined) {
        if (dep.optional) continue;
        problems.push(
          `"${m.name}" depends on "${dep.name}" ${dep.range}, which is neither being loaded nor already loaded; add ${dep.name} to the plugins to load, or move it to optional-dependencies`,
        );
      } else if (!satisfies(version, dep.range)) {
        problems.push(
          `"${m.name}" needs "${dep.name}" ${dep.range}${dep.optional ? " (optional)" : ""}, but ${dep.name} is ${version}; install a ${dep.name} that matches ${dep.range}, or change the range in ${m.file}`,
        );
      } else {
        if (inSet) before.push(dep.name);
        continue;
      }
      // The plugin whose dependency failed, not merely the first with a dependency.
      firstPlugin ??= m.name;
    }
    edges.set(m.name, before);
  }
  if (problems.length > 0) throw new ResolutionError(problems.join("; "), firstPlugin !== undefined ? { plugin: firstPlugin } : {});

  // Kahn's algorithm, always taking the smallest ready name.
  const waiting = new Map([...edges].map(([name, deps]) => [name, new Set(deps)]));
  const order: M[] = [];
  while (waiting.size > 0) {
    const ready = [...waiting].filter(([, deps]) => deps.size === 0).map(([name]) => name).sort();
    const next = ready[0];
    if (next === undefined) {
      const cycle = findCycle(waiting);
      throw new ResolutionError(`dependency cycle: ${cycle.join(" -> ")}; remove one of these dependencies to break it (optional ones count: a present optional dependency loads first)`, {
        plugin: cycle[0],
      });
    }
    waiting.delete(next);
    for (const deps of waiting.values()) deps.delete(next);
    order.push(byName.get(next) as M);
  }
  return order;
}

/** A cycle among the plugins left waiting, as a closed path (first name repeated last). */
function findCycle(waiting: Map<string, Set<string>>): string[] {
  const start = [...waiting.keys()].sort()[0] as string;
  const path: string[] = [];
  const index = new Map<string, number>();
  let node = start;
  // Every waiting node has a waiting dependency, so walking always closes a loop.
  while (!index.has(node)) {
    index.set(node, path.length);
    path.push(node);
    node = [...(waiting.get(node) as Set<string>)].sort()[0] as string;
  }
  return [...path.slice(index.get(node)), node];
}
