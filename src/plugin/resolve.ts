/**
 * Step 3 of the data path: check each plugin's api-version against the
 * host's WIT version, and order a set of plugins so that every plugin loads
 * after its dependencies.
 */
import semver from "semver";
import { DependencyConflictError, ResolutionError } from "../contract/errors.js";
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
  /** `"<plugin>><dependency>"` pairs whose version range the host waived (a `manual` choice with `force`). */
  accepted?: ReadonlySet<string>;
}

/**
 * How `resolveDependencies` settles versions (docs/lifecycle.md): `strict` fails on any conflict (two candidates of
 * one plugin, a version outside a range); `latest` picks, among the candidates of a plugin, the highest version that
 * satisfies every range asked of it, and fails when none does; `manual` reports each conflict, with every range and
 * every version, and loads once the host chose.
 */
export const DEPENDENCY_STRATEGIES = ["strict", "latest", "manual"] as const;
/** One of `DEPENDENCY_STRATEGIES`. */
export type DependencyStrategy = (typeof DEPENDENCY_STRATEGIES)[number];

/** One plugin's range on a dependency, as part of a `DependencyConflict`. */
export interface DependencyRequirement {
  /** The plugin that asks. */
  plugin: string;
  /** Its version. */
  version: string;
  /** The semver range it asks for. */
  range: string;
  /** From `dependencies`, `optional-dependencies` or `peer-dependencies`. */
  kind: "required" | "optional" | "peer";
}

/** A version of a plugin that could satisfy a dependency. */
export interface DependencyCandidate {
  /** The version. */
  version: string;
  /** True when it is the version loaded now (it cannot be replaced by a load, only by a reload). */
  loaded: boolean;
  /** Its manifest file, when it is a candidate to load. */
  file?: string;
}

/** A dependency whose versions and ranges do not fit: every range asked of it and every version available. */
export interface DependencyConflict {
  /** The plugin depended on. */
  dependency: string;
  /** Every range asked of it (those satisfied too, for the whole picture). */
  requirements: DependencyRequirement[];
  /** Every version available, highest first. */
  candidates: DependencyCandidate[];
}

/**
 * The host's answer to a conflict: use `version` (one of its candidates). Plugins whose range rejects it are left
 * out (with those that require them), unless `force` accepts the mismatch and loads them anyway.
 */
export interface ConflictChoice {
  /** The version to use. */
  version: string;
  /** Load the plugins whose range rejects `version` anyway. */
  force?: boolean;
}

/** Options of `resolveDependencies`. */
export interface ResolveDependenciesOptions extends ResolveOptions {
  /** Default `strict`. */
  strategy?: DependencyStrategy;
  /** The host's choices, by dependency name (for `manual`; under `latest` they override the pick). */
  choices?: Readonly<Record<string, ConflictChoice>>;
}

/** What `resolveDependencies` decided. */
export interface DependencyResolution<M> {
  /** The manifests to load, dependencies first. */
  order: M[];
  /** Candidates not loaded: the versions not chosen, and plugins whose range rejects the chosen version. */
  leftOut: { name: string; version: string; file: string; reason: string }[];
  /** Pairs loaded despite their range (`force`), as `"<plugin>><dependency>"`. */
  accepted: Set<string>;
}

/**
 * The version conflicts in `manifests` under `strategy`, before any choice: under `latest`, only those no version
 * settles; under `manual`, every plugin with several candidates and every range a candidate does not satisfy.
 * (`strict` reports what `resolveLoadOrder` would refuse about versions.) Missing dependencies and cycles are not
 * conflicts; `resolveDependencies` refuses them as `resolveLoadOrder` does.
 */
export function findConflicts<M extends Resolvable>(manifests: readonly M[], options: ResolveDependenciesOptions = {}): DependencyConflict[] {
  return settle(manifests, { ...options, choices: {} }).conflicts;
}

/**
 * Choose one version per plugin name by `strategy`, leave out what the choices exclude, and order the rest
 * (`resolveLoadOrder`). `strict` is `resolveLoadOrder` itself.
 * @throws {@link DependencyConflictError} with `.conflicts` when a conflict is left unsettled (`latest`: no version
 *   satisfies every range; `manual`: no choice for it), or a choice names a version that is not a candidate.
 * @throws {@link ResolutionError} for missing dependencies, cycles, a plugin already loaded, and under `strict` as `resolveLoadOrder`.
 * @example
 *   const plan = resolveDependencies(manifests, { strategy: "manual", choices: { logger: { version: "2.1.0" } } });
 *   for (const m of plan.order) await registry.load(m.dir);
 */
export function resolveDependencies<M extends Resolvable>(manifests: readonly M[], options: ResolveDependenciesOptions = {}): DependencyResolution<M> {
  const strategy = options.strategy ?? "strict";
  if (!(DEPENDENCY_STRATEGIES as readonly string[]).includes(strategy)) {
    throw new ResolutionError(`unknown dependency strategy ${JSON.stringify(strategy)}; use "strict", "latest" or "manual"`);
  }
  if (strategy === "strict") return { order: resolveLoadOrder(manifests, options), leftOut: [], accepted: new Set(options.accepted ?? []) };
  const { chosen, conflicts, leftOut, accepted } = settle(manifests, options);
  if (conflicts.length > 0) {
    const remedy =
      strategy === "manual"
        ? "choose a version for each (loadAll's choices option, the registry's onConflict option, or registry.resolveConflict on the conflict event)"
        : "no version satisfies every range: widen a range, add a matching version, or use the manual strategy to choose";
    throw new DependencyConflictError(strategy, conflicts, remedy);
  }
  return { order: resolveLoadOrder(chosen, { ...options, accepted }), leftOut, accepted };
}

interface Settled<M> {
  chosen: M[];
  conflicts: DependencyConflict[];
  leftOut: DependencyResolution<M>["leftOut"];
  accepted: Set<string>;
}

function kindOf(d: Manifest["dependencies"][number]): DependencyRequirement["kind"] {
  return d.peer ? "peer" : d.optional ? "optional" : "required";
}

/** latest / manual: one version per name, the conflicts left for the host, and what the choices leave out. */
function settle<M extends Resolvable>(manifests: readonly M[], options: ResolveDependenciesOptions): Settled<M> {
  const strategy = options.strategy ?? "strict";
  const choices = options.choices ?? {};
  const loaded = new Map((options.loaded ?? []).map((p) => [p.name, p.version]));
  const groups = new Map<string, M[]>();
  for (const m of manifests) {
    if (loaded.has(m.name)) {
      throw new ResolutionError(`"${m.name}" is already loaded (version ${loaded.get(m.name)}); unload it before loading ${m.file}, or reload it`, { plugin: m.name });
    }
    groups.set(m.name, [...(groups.get(m.name) ?? []), m]);
  }
  for (const list of groups.values()) list.sort((a, b) => semver.rcompare(a.version, b.version));
  // Every range asked of each name, by every candidate of every plugin.
  const asked = new Map<string, DependencyRequirement[]>();
  for (const m of manifests) {
    for (const d of m.dependencies) {
      asked.set(d.name, [...(asked.get(d.name) ?? []), { plugin: m.name, version: m.version, range: d.range, kind: kindOf(d) }]);
    }
  }
  const candidatesOf = (name: string): DependencyCandidate[] => {
    const v = loaded.get(name);
    if (v !== undefined) return [{ version: v, loaded: true }];
    return (groups.get(name) ?? []).map((m) => ({ version: m.version, loaded: false, file: m.file }));
  };
  const conflicts: DependencyConflict[] = [];
  const leftOut: Settled<M>["leftOut"] = [];
  const accepted = new Set(options.accepted ?? []);
  const chosenVersion = new Map<string, string>(loaded);
  const forced = new Set<string>(); // dependency names whose choice waives the ranges

  // Requirements from plugins with one candidate decide among several candidates (theirs are not chosen yet).
  const single = (r: DependencyRequirement) => (groups.get(r.plugin)?.length ?? 0) <= 1;
  for (const [name, list] of groups) {
    const reqs = (asked.get(name) ?? []).filter(single);
    const choice = choices[name];
    if (choice) {
      if (!list.some((m) => m.version === choice.version)) {
        throw new DependencyConflictError(strategy, [{ dependency: name, requirements: asked.get(name) ?? [], candidates: candidatesOf(name) }], `the choice ${choice.version} for ${name} is not one of its candidates; choose one of them`);
      }
      chosenVersion.set(name, choice.version);
      if (choice.force) forced.add(name);
      continue;
    }
    if (list.length === 1) {
      chosenVersion.set(name, list[0]!.version);
      continue;
    }
    const fits = list.filter((m) => reqs.every((r) => satisfies(m.version, r.range)));
    if (strategy === "latest" && fits.length > 0) chosenVersion.set(name, fits[0]!.version);
    else conflicts.push({ dependency: name, requirements: asked.get(name) ?? [], candidates: candidatesOf(name) });
  }
  for (const [name, choice] of Object.entries(choices)) {
    const v = loaded.get(name);
    if (groups.has(name) || v === undefined) continue;
    if (choice.version !== v) {
      throw new DependencyConflictError(strategy, [{ dependency: name, requirements: asked.get(name) ?? [], candidates: candidatesOf(name) }], `the choice ${choice.version} for ${name} is not its loaded version ${v}; reload ${name} to change it`);
    }
    if (choice.force) forced.add(name);
  }
  for (const [name, list] of groups) {
    for (const m of list) if (chosenVersion.has(name) && m.version !== chosenVersion.get(name)) leftOut.push({ name, version: m.version, file: m.file, reason: `version ${chosenVersion.get(name)} was chosen` });
  }
  const chosen = [...groups.values()].map((list) => list.find((m) => m.version === chosenVersion.get(m.name))).filter((m): m is M => m !== undefined);

  // The chosen set's ranges against the chosen versions.
  const broken = new Map<string, DependencyRequirement[]>();
  for (const m of chosen) {
    for (const d of m.dependencies) {
      const v = chosenVersion.get(d.name);
      if (v === undefined || satisfies(v, d.range)) continue;
      if (forced.has(d.name)) {
        accepted.add(`${m.name}>${d.name}`);
        continue;
      }
      broken.set(d.name, [...(broken.get(d.name) ?? []), { plugin: m.name, version: m.version, range: d.range, kind: kindOf(d) }]);
    }
  }
  const conflicted = new Set(conflicts.map((c) => c.dependency));
  for (const [name, reqs] of broken) {
    if (conflicted.has(name)) continue;
    if (choices[name]) {
      // The host chose this version: whoever rejects it stays out.
      for (const r of reqs) leftOut.push({ name: r.plugin, version: r.version, file: fileOf(chosen, r.plugin), reason: `needs ${name} ${r.range}, and ${chosenVersion.get(name)} was chosen` });
      continue;
    }
    conflicts.push({ dependency: name, requirements: asked.get(name) ?? reqs, candidates: candidatesOf(name) });
  }
  // What requires a left-out plugin is left out too.
  const out = new Set(leftOut.filter((l) => chosen.some((m) => m.name === l.name && m.version === l.version)).map((l) => l.name));
  let grew = out.size > 0;
  while (grew) {
    grew = false;
    for (const m of chosen) {
      if (out.has(m.name)) continue;
      const lost = m.dependencies.find((d) => !d.optional && out.has(d.name));
      if (lost) {
        out.add(m.name);
        leftOut.push({ name: m.name, version: m.version, file: m.file, reason: `requires ${lost.name}, which is left out` });
        grew = true;
      }
    }
  }
  return { chosen: chosen.filter((m) => !out.has(m.name)), conflicts, leftOut, accepted };
}

function fileOf(manifests: readonly Resolvable[], name: string): string {
  return manifests.find((m) => m.name === name)?.file ?? "";
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
  if (manifest.apiVersion === lastAccepted.range && hostVersion === lastAccepted.host) return;
  checkApiRange(manifest.name, manifest.apiVersion, hostVersion);
  lastAccepted = { range: manifest.apiVersion, host: hostVersion };
}

/** The last range accepted, and for which host version: most loads name the same one, and semver parses it each time. */
let lastAccepted: { range?: string; host?: string } = {};

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
          `"${m.name}" ${dep.peer ? "has the peer" : "depends on"} "${dep.name}" ${dep.range}, which is neither being loaded nor already loaded; add ${dep.name} to the plugins to load, or move it to optional-dependencies`,
        );
      } else if (!satisfies(version, dep.range) && !options.accepted?.has(`${m.name}>${dep.name}`)) {
        problems.push(
          `"${m.name}" needs "${dep.name}" ${dep.range}${dep.optional ? " (optional)" : ""}, but ${dep.name} is ${version}; install a ${dep.name} that matches ${dep.range}, or change the range in ${m.file}`,
        );
      } else {
        // A peer needs only to be there: no order between peers, so two plugins may be each other's peers.
        if (inSet && !dep.peer) before.push(dep.name);
        continue;
      }
      // The plugin whose dependency failed, not merely the first with a dependency.
      firstPlugin ??= m.name;
    }
    edges.set(m.name, before);
  }
  if (problems.length > 0) throw new ResolutionError(problems.join("; "), firstPlugin !== undefined ? { plugin: firstPlugin } : {});

  // Kahn's algorithm, always taking the smallest ready name: the ready names in a min-heap, and each name's
  // dependents indexed, so that ordering n plugins is O(n log n) (a scan of every waiting plugin per step was O(n²)).
  const waiting = new Map([...edges].map(([name, deps]) => [name, new Set(deps)]));
  const dependents = new Map<string, string[]>();
  const ready = new NameHeap();
  for (const [name, deps] of waiting) {
    if (deps.size === 0) ready.push(name);
    for (const d of deps) {
      const list = dependents.get(d);
      if (list) list.push(name);
      else dependents.set(d, [name]);
    }
  }
  const order: M[] = [];
  while (waiting.size > 0) {
    const next = ready.pop();
    if (next === undefined) {
      const cycle = findCycle(waiting);
      throw new ResolutionError(`dependency cycle: ${cycle.join(" -> ")}; remove one of these dependencies to break it (optional ones count: a present optional dependency loads first)`, {
        plugin: cycle[0],
      });
    }
    waiting.delete(next);
    for (const name of dependents.get(next) ?? []) {
      const deps = waiting.get(name);
      if (deps?.delete(next) && deps.size === 0) ready.push(name);
    }
    order.push(byName.get(next) as M);
  }
  return order;
}

/** A min-heap of names, in the order `Array.prototype.sort` gives strings (UTF-16 code units). */
class NameHeap {
  readonly #a: string[] = [];

  push(name: string): void {
    const a = this.#a;
    let i = a.push(name) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!(a[i]! < a[up]!)) break;
      [a[i], a[up]] = [a[up]!, a[i]!];
      i = up;
    }
  }

  pop(): string | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && a[l]! < a[m]!) m = l;
      if (r < a.length && a[r]! < a[m]!) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
    return top;
  }
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
