/**
 * The registry's side of dependencies (docs/lifecycle.md): the strategy in force and the host's choices for
 * conflicts (`manual`), the check of one plugin's dependencies at load, who depends on a plugin (unload and its
 * cascade), and what a reload to another version breaks. The pure resolution is in plugin/resolve.ts.
 */
import semver from "semver";
import { DependencyConflictError, ResolutionError } from "../contract/errors.js";
import type { Dependency, Manifest } from "../plugin/manifest.js";
import {
  DEPENDENCY_STRATEGIES,
  resolveDependencies,
  type ConflictChoice,
  type DependencyConflict,
  type DependencyRequirement,
  type DependencyResolution,
  type DependencyStrategy,
  type LoadedPlugin,
  type Resolvable,
} from "../plugin/resolve.js";
import { PolicyInvalid } from "./policy.js";

/**
 * The host's answer to conflicts it was shown: a choice per dependency name, or `undefined` to refuse (the load
 * then fails with the `DependencyConflictError`). May be async: the load waits for it.
 */
export type ConflictHandler = (
  conflicts: readonly DependencyConflict[],
) => Readonly<Record<string, ConflictChoice>> | undefined | Promise<Readonly<Record<string, ConflictChoice>> | undefined>;

/** The registry option `dependencies`. */
export interface DependencyOptions {
  /** How versions are settled: "strict" (default), "latest" or "manual" (see `DependencyStrategy`). */
  strategy?: DependencyStrategy;
  /**
   * Under "manual": called with the conflicts of a `loadAll` or `reload`; its choices settle them. Without it, the
   * registry emits `conflict` and waits for `registry.resolveConflict`; with no listener either, the load fails
   * with `DependencyConflictError`.
   */
  onConflict?: ConflictHandler;
}

/** Options of `registry.loadAll`. */
export interface LoadAllOptions {
  /** This load's strategy, over the registry's `dependencies.strategy`. */
  strategy?: DependencyStrategy;
  /** Choices made up front, by dependency name (e.g. after a `DependencyConflictError`). */
  choices?: Readonly<Record<string, ConflictChoice>>;
}

/** Options of `registry.unload`. */
export interface UnloadOptions {
  /** Unload the plugins that depend on it (required or peer, transitively) first, instead of refusing. */
  cascade?: boolean;
}

/** What a loaded plugin is, for the graph. */
export interface GraphNode {
  /** The plugin's name. */
  name: string;
  /** Its version. */
  version: string;
  /** Its manifest's dependencies (required, optional and peer). */
  dependencies: readonly Dependency[];
}

/** The strategy option, checked. @throws {@link PolicyInvalid} for anything but strict, latest or manual. */
export function dependencyStrategy(value: unknown = "strict"): DependencyStrategy {
  if ((DEPENDENCY_STRATEGIES as readonly unknown[]).includes(value)) return value as DependencyStrategy;
  throw new PolicyInvalid("dependencies.strategy", `is ${JSON.stringify(value)}; use "strict" (the default), "latest" or "manual"`);
}

/**
 * Who depends on `name` (required or peer dependencies; optional ones do not hold a plugin), transitively, in the
 * order to unload them: dependents of dependents first.
 */
export function dependentsOf(name: string, nodes: readonly GraphNode[]): string[] {
  const out: string[] = [];
  const visit = (n: string, path: Set<string>): void => {
    for (const node of nodes) {
      if (path.has(node.name) || !node.dependencies.some((d) => d.name === n && !d.optional)) continue;
      path.add(node.name);
      visit(node.name, path);
      path.delete(node.name);
      if (!out.includes(node.name)) out.push(node.name);
    }
  };
  visit(name, new Set([name]));
  return out;
}

/**
 * One plugin's dependencies at load: each required or peer dependency present (`versionOf`: loaded, or in the
 * batch being loaded) at a version in its range, unless the host waived the range (`accepted`); a present
 * optional dependency in its range too.
 * @throws {@link ResolutionError} naming the dependency, its range and what is loaded.
 */
export function checkLoadDependencies(m: Pick<Manifest, "name" | "dependencies">, versionOf: (name: string) => string | undefined, accepted: ReadonlySet<string>): void {
  for (const dep of m.dependencies) {
    const version = versionOf(dep.name);
    if (version === undefined) {
      if (dep.optional) continue;
      const how = dep.peer ? "load them together with loadAll (a peer may load after it)" : "load it first (or use loadAll)";
      throw new ResolutionError(`requires ${dep.peer ? "the peer " : ""}${dep.name} ${dep.range}, which is not loaded; ${how}`, { plugin: m.name });
    }
    if (!satisfies(version, dep.range) && !accepted.has(`${m.name}>${dep.name}`)) {
      throw new ResolutionError(`requires ${dep.name} ${dep.range}, but ${version} is loaded`, { plugin: m.name });
    }
  }
}

/** A reload of `name` from `from` to `to`: the conflict with the loaded plugins whose range rejects `to`, if any. */
export function reloadConflict(name: string, from: string, to: string, nodes: readonly GraphNode[], accepted: ReadonlySet<string>): DependencyConflict | undefined {
  const requirements: DependencyRequirement[] = [];
  let broken = false;
  for (const n of nodes) {
    const d = n.dependencies.find((x) => x.name === name);
    if (!d) continue;
    requirements.push({ plugin: n.name, version: n.version, range: d.range, kind: d.peer ? "peer" : d.optional ? "optional" : "required" });
    if (!satisfies(to, d.range) && !accepted.has(`${n.name}>${name}`)) broken = true;
  }
  if (!broken) return undefined;
  return {
    dependency: name,
    requirements,
    candidates: [
      { version: to, loaded: false },
      { version: from, loaded: true },
    ],
  };
}

/** The plugins whose range in `conflict` rejects `version` (optional dependents included: a present one must fit too). */
export function rejectingPlugins(conflict: DependencyConflict, version: string): string[] {
  return conflict.requirements.filter((r) => !satisfies(version, r.range)).map((r) => r.plugin);
}

function satisfies(version: string, range: string): boolean {
  return semver.valid(version) !== null && semver.satisfies(version, range, { includePrerelease: true });
}

/** A conflict shown to the host and not answered yet. */
interface Waiting {
  conflict: DependencyConflict;
  resolve: (choice: ConflictChoice | undefined) => void;
}

/**
 * The registry's dependency state: the strategy, the host's answers (callback, or the `conflict` event and
 * `resolveConflict`), the ranges the host waived, and the plugins of a `loadAll` in progress (a peer may load
 * after the plugin that names it).
 */
export class Dependencies {
  readonly strategy: DependencyStrategy;
  readonly #onConflict: ConflictHandler | undefined;
  /** Tells the host about conflicts waiting for it; true when someone listens. */
  readonly #announce: (conflicts: readonly DependencyConflict[]) => boolean;
  readonly #waiting = new Map<string, Waiting[]>();
  /** `"<plugin>><dependency>"` pairs loaded despite their range (a forced choice). */
  readonly accepted = new Set<string>();
  /** Name → version of the plugins of the `loadAll` batches in progress. */
  readonly batch = new Map<string, string>();

  constructor(options: DependencyOptions | undefined, announce: (conflicts: readonly DependencyConflict[]) => boolean) {
    this.strategy = dependencyStrategy(options?.strategy);
    this.#onConflict = options?.onConflict;
    this.#announce = announce;
  }

  /**
   * The load plan for `manifests`: `resolveDependencies` under the strategy; under `manual`, conflicts go to the
   * host and the plan is made again with its choices (a choice may bring new conflicts to light, so a few rounds).
   * @throws {@link DependencyConflictError} when the host does not answer or refuses; otherwise as `resolveDependencies`.
   */
  async plan<M extends Resolvable>(manifests: readonly M[], loaded: readonly LoadedPlugin[], options: LoadAllOptions = {}): Promise<DependencyResolution<M>> {
    const strategy = options.strategy === undefined ? this.strategy : dependencyStrategy(options.strategy);
    let choices: Record<string, ConflictChoice> = { ...options.choices };
    for (let round = 0; ; round++) {
      try {
        const plan = resolveDependencies(manifests, { loaded, strategy, choices, accepted: this.accepted });
        for (const pair of plan.accepted) this.accepted.add(pair);
        return plan;
      } catch (err) {
        if (!(err instanceof DependencyConflictError) || strategy !== "manual" || round >= 8) throw err;
        const answered = await this.choose(err.conflicts);
        if (!answered) throw err;
        choices = { ...choices, ...answered };
      }
    }
  }

  /**
   * Ask the host: the `onConflict` option, else the `conflict` event (answers through `resolve`). Undefined when
   * nobody can answer or the host refused.
   */
  async choose(conflicts: readonly DependencyConflict[]): Promise<Record<string, ConflictChoice> | undefined> {
    if (this.#onConflict) {
      const answer = await this.#onConflict(conflicts);
      return answer ? { ...answer } : undefined;
    }
    const answers = conflicts.map(
      (conflict) =>
        new Promise<ConflictChoice | undefined>((resolve) => {
          const list = this.#waiting.get(conflict.dependency) ?? [];
          list.push({ conflict, resolve });
          this.#waiting.set(conflict.dependency, list);
        }),
    );
    if (!this.#announce(conflicts)) {
      for (const c of conflicts) this.#waiting.delete(c.dependency);
      return undefined;
    }
    const chosen = await Promise.all(answers);
    if (chosen.some((c) => c === undefined)) return undefined;
    return Object.fromEntries(conflicts.map((c, i) => [c.dependency, chosen[i] as ConflictChoice]));
  }

  /**
   * The host's answer to a waiting conflict on `dependency`: a choice, or `undefined` to refuse (the load fails).
   * @throws {@link ResolutionError} when no conflict on `dependency` is waiting.
   */
  resolve(dependency: string, choice: ConflictChoice | undefined): void {
    const list = this.#waiting.get(dependency);
    if (!list || list.length === 0) throw new ResolutionError(`no dependency conflict on "${dependency}" is waiting for a choice; see registry.pendingConflicts()`);
    this.#waiting.delete(dependency);
    for (const w of list) w.resolve(choice);
  }

  /** The conflicts waiting for `resolve`. */
  pending(): DependencyConflict[] {
    return [...this.#waiting.values()].flatMap((list) => list.map((w) => w.conflict));
  }
}
