/**
 * Version choice for the installer (docs/catalog.md "Installing…"): parse `name[@range]`, pick the highest published
 * version that satisfies every range asked of a plugin, and the range `update` may move within (same major; for 0.x
 * the same minor, as semver's caret says 0.x minors break).
 */
import semver from "semver";
import { CatalogError, DependencyConflictError } from "../contract/errors.js";
import type { Dependency } from "../plugin/manifest.js";
import { PLUGIN_NAME_PATTERN } from "../plugin/signatures.js";
import type { DependencyRequirement, DependencyStrategy } from "../plugin/resolve.js";
import type { Catalog, CatalogEntry, FetchedPackage } from "./types.js";


/** A parsed install spec. */
export interface InstallSpec {
  /** The plugin's name. */
  name: string;
  /** The semver range (`*` when none was given). */
  range: string;
}

/**
 * Parse `name`, `name@range` (`hello@^1.2`, `hello@1.2.3`, `hello@">=1 <3"`).
 * @throws {@link CatalogError} (`not-found`, naming `catalog`) for a malformed name or range.
 */
export function parseInstallSpec(spec: string, catalog: string): InstallSpec {
  const at = spec.indexOf("@");
  const name = at < 0 ? spec : spec.slice(0, at);
  const range = at < 0 ? "*" : spec.slice(at + 1).trim();
  if (!PLUGIN_NAME_PATTERN.test(name)) {
    throw new CatalogError(catalog, "not-found", `"${spec}" does not name a plugin: use <name> or <name>@<semver range> (names: lower-case letters, digits, . _ -)`);
  }
  if (range === "" || semver.validRange(range) === null) {
    throw new CatalogError(catalog, "not-found", `"${range}" in "${spec}" is not a semver range; use e.g. ${name}@^1.2.0 or ${name}@1.2.3`);
  }
  return { name, range };
}

/** Whether `version` satisfies every range (prereleases only where a range names one, as semver does). */
export function satisfiesAll(version: string, ranges: readonly string[]): boolean {
  return ranges.every((r) => semver.satisfies(version, r));
}

/** The highest of `entries` whose version satisfies every range, or undefined. */
export function pickVersion(entries: readonly CatalogEntry[], ranges: readonly string[]): CatalogEntry | undefined {
  let best: CatalogEntry | undefined;
  for (const e of entries) {
    if (!semver.valid(e.version) || !satisfiesAll(e.version, ranges)) continue;
    if (!best || semver.gt(e.version, best.version)) best = e;
  }
  return best;
}

/**
 * The range `update` moves `version` within: `>=version <next-major` (for `0.x.y`, `<0.(x+1).0`; for `0.0.z`
 * `<0.1.0` too, since a 0.0 plugin has no other way to get fixes), or `>=version` with `major`.
 */
export function updateRange(version: string, major = false): string {
  const v = semver.parse(version);
  if (!v) return "*";
  if (major) return `>=${v.version}`;
  const ceiling = v.major > 0 ? `${v.major + 1}.0.0` : `0.${v.minor + 1}.0`;
  return `>=${v.version} <${ceiling}`;
}

// Who asks for a requested plugin, in conflict messages.
const USER = "the install request";

/** A plugin in the plan: installed already (kept), or fetched from the catalog (to install). */
export interface PlannedPlugin {
  name: string;
  version: string;
  /** Its dependencies, as the manifest (kept) or the package metadata (fetched) lists them. */
  dependencies: readonly Dependency[];
  /** The fetched package when it is to be installed; absent when the installed version is kept. */
  fetched?: FetchedPackage;
  /** Listed as installed, but its files are not in place (removed by hand): installed again when asked for. */
  missing?: boolean;
}

/** Options of `planInstall`. */
export interface PlanOptions {
  /**
   * The dependency strategy (docs/lifecycle.md). `latest` (default): a dependency whose installed version no longer
   * satisfies every range is moved to the highest version that does. `strict`, and `manual` (the host chooses):
   * installed dependencies are never moved by another plugin's install; a range they fail is a conflict, settled by
   * installing or updating the dependency itself.
   */
  strategy?: DependencyStrategy;
}

/** One thing asked of the plan: a plugin and a range; `user` requests are re-picked even when installed. */
export interface PlanRequest {
  name: string;
  range: string;
}

/**
 * Settle the versions to install for `requests`, given what is installed: each requested plugin at the highest
 * version in its range (and every range other plugins ask of it); their dependencies (required and peer; optional
 * ones only when present) kept when the installed version fits, else picked the same way, transitively. Fetches
 * each package it picks (its dependencies are in its metadata); verifies nothing: the caller does, before writing.
 * @returns every plugin of the resulting set (kept and fetched), by name.
 * @throws {@link DependencyConflictError} when no published version satisfies every range asked of a plugin.
 * @throws {@link CatalogError} (`not-found`) when the catalog has no such plugin; otherwise as `Catalog.fetch`.
 */
export async function planInstall(
  catalog: Catalog,
  requests: readonly PlanRequest[],
  installed: ReadonlyMap<string, PlannedPlugin>,
  options: PlanOptions = {},
): Promise<Map<string, PlannedPlugin>> {
  const strategy = options.strategy ?? "latest";
  const chosen = new Map(installed);
  const userRanges = new Map<string, string[]>();
  for (const r of requests) userRanges.set(r.name, [...(userRanges.get(r.name) ?? []), r.range]);
  const picked = new Set<string>();
  const versionsOf = new Map<string, Promise<CatalogEntry[]>>();
  const queue = [...userRanges.keys()];

  // Plugins' ranges first, the request's last: a conflict error names its first requirement's plugin.
  const requirements = (name: string): DependencyRequirement[] => {
    const out: DependencyRequirement[] = [];
    for (const p of chosen.values()) {
      for (const d of p.dependencies) {
        if (d.name === name) out.push({ plugin: p.name, version: p.version, range: d.range, kind: d.peer ? "peer" : d.optional ? "optional" : "required" });
      }
    }
    for (const range of userRanges.get(name) ?? []) out.push({ plugin: USER, version: "", range, kind: "required" });
    return out;
  };

  // Each round settles one name; a name comes back only when a newly picked plugin asks something of it, and a
  // range set only narrows, so this ends; the bound guards against a catalog that changes under the loop.
  for (let rounds = 0; queue.length > 0; rounds++) {
    if (rounds > 10_000) throw new CatalogError(catalog.location, "protocol", "dependency resolution did not settle after 10,000 steps; check the catalog for dependency cycles that change version on each step");
    const name = queue.shift()!;
    const reqs = requirements(name);
    const ranges = reqs.map((r) => r.range);
    const current = chosen.get(name);
    const mustPick = userRanges.has(name) && !picked.has(name);
    if (current && !current.missing && !mustPick && satisfiesAll(current.version, ranges)) continue;
    if (!current && !reqs.some((r) => r.kind !== "optional")) continue; // only optional asks: not installed for them
    let list = versionsOf.get(name);
    if (!list) versionsOf.set(name, (list = catalog.versions(name)));
    const entries = await list;
    const pick = pickVersion(entries, ranges);
    const conflict = (remedy: string): never => {
      const candidates = [...entries].sort((a, b) => semver.rcompare(a.version, b.version)).map((e) => ({ version: e.version, loaded: e.version === current?.version }));
      throw new DependencyConflictError(strategy, [{ dependency: name, requirements: reqs, candidates }], remedy);
    };
    if (!pick && reqs.every((r) => r.plugin === USER)) {
      const have = entries.map((e) => e.version).join(", ");
      throw new CatalogError(catalog.location, "not-found", `no version of ${name} matches ${ranges.join(" and ")} (it has ${have || "none"}); ask for one of those`, { plugin: name });
    }
    if (!pick) return conflict(`no version of ${name} in ${catalog.location} satisfies every range; widen a range, publish a matching version, or install the plugins that ask for it at other versions`);
    if (strategy !== "latest" && current && !picked.has(name) && !userRanges.has(name) && pick.version !== current.version) {
      return conflict(`the ${strategy} strategy does not move an installed dependency; choose its version yourself (plughost install ${name}@${pick.version}, or plughost update ${name}), or use the latest strategy`);
    }
    picked.add(name);
    // The installed version, when it is the pick, stays as it is (no download).
    if (current && !current.missing && current.version === pick.version) continue;
    const fetched = await catalog.fetch(name, pick.version);
    const dependencies = fetched.package.metadata.dependencies.map((d) => ({ name: d.name, range: d.version, optional: d.optional === true, ...(d.peer ? { peer: true } : {}) }));
    chosen.set(name, { name, version: pick.version, dependencies, fetched });
    for (const d of dependencies) if (!d.optional || chosen.has(d.name)) queue.push(d.name);
  }
  return chosen;
}
