/**
 * The installer (docs/catalog.md "Installing, updating and removing plugins"): install, update, uninstall and
 * outdated over one plugin directory and one catalog, recorded in the directory's lockfile.
 *
 * Every change runs in three phases: plan (settle versions, fetch packages), verify (every package's digests and
 * signature against the trust list), apply (extract into the store under a temp name, rename into place, switch each
 * plugin's link by rename, write the lockfile by rename). Nothing is written before every package has verified, and
 * an install killed at any point leaves each plugin's link on a whole version, the old one or the new one.
 */
import { loadManifest } from "../plugin/manifest.js";
import { compileTrustList, type SignaturePolicy, type TrustList } from "../plugin/signatures.js";
import { resolveLoadOrder, type DependencyStrategy } from "../plugin/resolve.js";
import { CatalogError, PackageError, PackageVerificationError, ResolutionError } from "../contract/errors.js";
import { extractPackage } from "../package/extract.js";
import { platformProblem } from "../package/load.js";
import { verifyPackage } from "../package/sign.js";
import type { PackageVerification } from "../package/types.js";
import { formatLockfile, LOCKFILE_NAME, readLockfile, writeLockfile } from "./lockfile.js";
import { PluginDirLayout, storeId } from "./plugin-dir.js";
import { parseInstallSpec, pickVersion, planInstall, updateRange, type PlannedPlugin, type PlanRequest } from "./resolve.js";
import type { Catalog, LockEntry, Lockfile } from "./types.js";
import { lstat } from "node:fs/promises";
import semver from "semver";
import path from "node:path";

/** Options of `new Installer(...)`. */
export interface InstallerOptions {
  /** The plugin directory to install into (a host's `pluginDirs` entry). Created when missing. */
  pluginDir: string;
  /** Where packages come from. */
  catalog: Catalog;
  /** The trust list packages are verified against (the host config's `signatures`). */
  signatures?: SignaturePolicy | TrustList;
  /** Refuse unsigned packages even when the trust list does not `require` them (it cannot lift the list's `require`). */
  requireSignature?: boolean;
  /** The lockfile (default `<pluginDir>/plughost.lock.json`). */
  lockfile?: string;
  /**
   * The dependency strategy (the host config's `dependencies.strategy`): `latest` (default) moves an installed
   * dependency when a new range asks; `strict` and `manual` refuse with a conflict and leave the choice to you.
   */
  strategy?: DependencyStrategy;
  /** How long to wait for another install in the same plugin directory to finish, ms. Default 0: refuse at once. */
  lockWaitMs?: number;
  /** Told of each phase (e.g. to show progress); awaited, so the install waits for it. */
  onProgress?: (event: InstallProgress) => void | Promise<void>;
}

/** A phase of an install, as `onProgress` is told. */
export interface InstallProgress {
  /** `planned`: versions settled and fetched; `verified`: every package verified, nothing written yet;
   * `staged`: a plugin's files are in the store, its link not yet switched; `switched`: its link points at them;
   * `locked`: the lockfile is written. */
  stage: "planned" | "verified" | "staged" | "switched" | "locked";
  /** The plugin, for `staged` and `switched`. */
  plugin?: string;
  /** Its version, for `staged` and `switched`. */
  version?: string;
}

/** One plugin an operation installed or replaced. */
export interface InstalledPlugin {
  name: string;
  version: string;
  /** The version it replaced, when it was installed before. */
  previous?: string;
  /** The catalog digest, as the lockfile pins it. */
  digest: string;
  /** The signing key, when the package was signed and verified. */
  key?: string;
  /** The signer's trust level. */
  level?: string;
  /** Where the plugin is discovered: `<pluginDir>/<name>`. */
  path: string;
}

/** What `install`, `update` and `installLocked` did. */
export interface InstallResult {
  /** Plugins written (new, or at another version), dependencies first. */
  installed: InstalledPlugin[];
  /** Plugins asked for (or updated) that were already at the chosen version. */
  unchanged: { name: string; version: string }[];
  /** The lockfile written. */
  lockfile: string;
}

/** One row of `outdated`. */
export interface OutdatedPlugin {
  name: string;
  /** Installed version. */
  current: string;
  /** The highest version `update` would install (same major; 0.x: same minor), within every dependent's range. */
  wanted: string;
  /** The highest published version (`update --major` may reach it). */
  latest: string;
}

/** Whether `signatures` is already compiled. */
function isTrustList(s: SignaturePolicy | TrustList): s is TrustList {
  return s.keys instanceof Map;
}

/**
 * Installs plugins from a catalog into a plugin directory, atomically and verified, pinned in a lockfile.
 * One operation at a time per plugin directory (a lock file; a killed install's lock is broken).
 * @example
 *   const installer = new Installer({ pluginDir: "plugins", catalog: openCatalog("./catalog"), signatures: policy });
 *   await installer.install("hello-c@^0.1");
 *   const registry = new PluginRegistry({ pluginDirs: ["plugins"], signatures: policy });
 *   await registry.discoverPluginDirs();
 */
export class Installer {
  readonly #catalog: Catalog;
  readonly #trust: TrustList | undefined;
  readonly #requireSignature: boolean;
  readonly #layout: PluginDirLayout;
  readonly #lockfile: string;
  readonly #strategy: DependencyStrategy;
  readonly #progress: InstallerOptions["onProgress"];
  readonly #lockWaitMs: number;

  /** @throws {@link VerificationError} when `signatures` is not a valid trust list. */
  constructor(options: InstallerOptions) {
    this.#catalog = options.catalog;
    this.#trust = options.signatures === undefined ? undefined : isTrustList(options.signatures) ? options.signatures : compileTrustList(options.signatures);
    this.#requireSignature = options.requireSignature === true || this.#trust?.require === true;
    this.#layout = new PluginDirLayout(options.pluginDir);
    this.#lockfile = path.resolve(options.lockfile ?? path.join(this.#layout.dir, LOCKFILE_NAME));
    this.#strategy = options.strategy ?? "latest";
    this.#progress = options.onProgress;
    this.#lockWaitMs = options.lockWaitMs ?? 0;
  }

  /** The plugin directory (absolute). */
  get pluginDir(): string {
    return this.#layout.dir;
  }

  /** The lockfile's path. */
  get lockfile(): string {
    return this.#lockfile;
  }

  /** What the lockfile lists as installed. @throws {@link PackageError} for a malformed lockfile. */
  async list(): Promise<Lockfile> {
    return readLockfile(this.#lockfile);
  }

  /**
   * Install `name[@range]`: the highest published version in the range (every range an installed plugin asks of it
   * counts too), with its dependencies from the catalog.
   * @throws {@link CatalogError} (no such plugin, unreachable catalog, a path not made by the installer, a busy
   *   directory), {@link DependencyConflictError} (no version fits every range), {@link PackageVerificationError}
   *   (tampered, unsigned under `requireSignature`, untrusted key), {@link ResolutionError} (a dependency cycle).
   */
  async install(spec: string): Promise<InstallResult> {
    const { name, range } = parseInstallSpec(spec, this.#catalog.location);
    return this.#locked(async (lock) => this.#change(lock, [{ name, range }]));
  }

  /**
   * Update `name` (or every installed plugin) to the highest version in its semver-compatible range (same major;
   * for 0.x the same minor), or to the highest published with `major`. Dependents' ranges still hold.
   * @throws {@link CatalogError} `not-found` when `name` is not installed here; otherwise as `install`.
   */
  async update(name?: string, options: { major?: boolean } = {}): Promise<InstallResult> {
    return this.#locked(async (lock) => {
      const names = name === undefined ? Object.keys(lock.plugins) : [name];
      const requests: PlanRequest[] = names.map((n) => {
        const entry = lock.plugins[n];
        if (!entry) throw this.#notInstalled(n, lock);
        return { name: n, range: updateRange(entry.version, options.major === true) };
      });
      return this.#change(lock, requests);
    });
  }

  /**
   * Remove an installed plugin: its link, its lockfile entry and its stored files. Its dependencies stay.
   * @throws {@link CatalogError} `not-found` when it is not installed here; {@link ResolutionError} when another
   *   installed plugin depends on it (uninstall that one first).
   */
  async uninstall(name: string): Promise<{ name: string; version: string }> {
    return this.#locked(async (lock) => {
      const entry = lock.plugins[name];
      if (!entry) throw this.#notInstalled(name, lock);
      const dependents = Object.entries(lock.plugins)
        .filter(([n, e]) => n !== name && e.dependencies?.includes(name))
        .map(([n]) => n);
      if (dependents.length > 0) {
        throw new ResolutionError(`cannot uninstall ${name}: ${dependents.join(", ")} ${dependents.length === 1 ? "depends" : "depend"} on it; uninstall ${dependents.length === 1 ? "it" : "them"} first`, { plugin: name });
      }
      // The link goes first: killed after it, the lockfile still names the plugin and `install` with no name brings it back.
      await this.#layout.removeLink(name);
      const plugins = { ...lock.plugins };
      delete plugins[name];
      await writeLockfile(this.#lockfile, { lockfileVersion: 1, plugins });
      await this.#layout.collect(this.#keep(plugins));
      return { name, version: entry.version };
    });
  }

  /**
   * The installed plugins with a newer version published: `wanted` (what `update` installs) and `latest`.
   * @throws {@link CatalogError} when the catalog cannot be read.
   */
  async outdated(): Promise<OutdatedPlugin[]> {
    const lock = await readLockfile(this.#lockfile);
    const installed = await this.#installed(lock);
    const out: OutdatedPlugin[] = [];
    for (const [name, entry] of Object.entries(lock.plugins).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const versions = await this.#catalog.versions(name).catch((err: unknown) => {
        if (err instanceof CatalogError && err.reason === "not-found") return [];
        throw err;
      });
      const asked = [...installed.values()].flatMap((p) => p.dependencies.filter((d) => d.name === name).map((d) => d.range));
      const wanted = pickVersion(versions, [updateRange(entry.version), ...asked])?.version ?? entry.version;
      // A catalog whose newest release is older than what is installed (a prerelease, an unpublished version) is not news.
      const newest = pickVersion(versions, ["*"])?.version;
      const latest = newest !== undefined && semver.gt(newest, entry.version) ? newest : entry.version;
      if (wanted !== entry.version || latest !== entry.version) out.push({ name, current: entry.version, wanted, latest });
    }
    return out;
  }

  /**
   * Make the plugin directory what its lockfile says (a fresh host, or after a manual change): each plugin at its
   * locked version, its package's digest equal to the pinned one, verified as on install.
   * @throws {@link PackageVerificationError} "digest" when the catalog now serves other bytes than the lockfile pins;
   *   otherwise as `install`.
   */
  async installLocked(): Promise<InstallResult> {
    return this.#locked(async (lock) => {
      const todo: PlannedPlugin[] = [];
      const unchanged: InstallResult["unchanged"] = [];
      for (const name of dependenciesFirst(lock)) {
        const entry = lock.plugins[name]!;
        const id = storeId(name, entry.version, entry.digest);
        if ((await this.#layout.installedId(name)) === id && (await this.#layout.hasStored(id))) {
          unchanged.push({ name, version: entry.version });
          continue;
        }
        const fetched = await this.#catalog.fetch(name, entry.version);
        if (fetched.digest !== entry.digest) {
          throw new PackageVerificationError(
            "digest",
            `${this.#catalog.location}: ${name}@${entry.version} is ${fetched.digest} there, but ${this.#lockfile} pins ${entry.digest}; the published package changed: find out why before installing it (plughost update ${name} accepts the new one)`,
            { plugin: name },
          );
        }
        todo.push({ name, version: entry.version, dependencies: [], fetched });
      }
      const verified = this.#verifyAll(todo);
      await this.#progress?.({ stage: "verified" });
      const installed = await this.#apply(lock, todo, verified, lock);
      return { installed, unchanged, lockfile: this.#lockfile };
    });
  }

  // ── the phases ─────────────────────────────────────────────────────────

  /** Run `fn` holding the directory's install lock, with the lockfile as it is now. */
  async #locked<T>(fn: (lock: Lockfile) => Promise<T>): Promise<T> {
    return this.#layout.locked(async () => fn(await readLockfile(this.#lockfile)), this.#lockWaitMs);
  }

  #notInstalled(name: string, lock: Lockfile): CatalogError {
    const names = Object.keys(lock.plugins);
    return new CatalogError(this.#layout.dir, "not-found", `${name} is not installed here (${names.length ? `installed: ${names.join(", ")}` : "nothing is installed"}); plughost install ${name} installs it`, {
      plugin: name,
    });
  }

  /**
   * The installed plugins with their manifests' dependencies (a plugin whose manifest cannot be read asks nothing).
   * One whose link is gone or points elsewhere than the lockfile says is `missing`: installed again when asked for.
   */
  async #installed(lock: Lockfile): Promise<Map<string, PlannedPlugin>> {
    const out = new Map<string, PlannedPlugin>();
    for (const [name, e] of Object.entries(lock.plugins)) {
      const missing = (await this.#layout.installedId(name)) !== storeId(name, e.version, e.digest);
      const dependencies = await loadManifest(this.#layout.link(name), { checkEntry: false, configSchema: "defer" }).then(
        (m) => m.dependencies,
        () => [],
      );
      out.set(name, { name, version: e.version, dependencies, ...(missing ? { missing } : {}) });
    }
    return out;
  }

  /** Plan, verify and apply a change asked by `requests`. */
  async #change(lock: Lockfile, requests: PlanRequest[]): Promise<InstallResult> {
    const installed = await this.#installed(lock);
    const plan = await planInstall(this.#catalog, requests, installed, { strategy: this.#strategy });
    await this.#progress?.({ stage: "planned" });
    // The whole resulting set must load: every required dependency present and in range, no cycle.
    const order = resolveLoadOrder([...plan.values()].map((p) => ({ ...p, dependencies: [...p.dependencies], file: p.fetched ? `${this.#catalog.location} ${p.name}@${p.version}` : this.#layout.link(p.name) })));
    const todo = order.map((p) => plan.get(p.name)!).filter((p) => p.fetched !== undefined);
    // The plugin's link would be `<pluginDir>/<name>`: this name is the lockfile's own path there.
    const clash = todo.find((p) => p.name === LOCKFILE_NAME);
    if (clash) throw new CatalogError(this.#catalog.location, "conflict", `cannot install a plugin named ${LOCKFILE_NAME}: it would collide with the lockfile in ${this.#layout.dir}`, { plugin: clash.name });
    const verified = this.#verifyAll(todo);
    await this.#progress?.({ stage: "verified" });
    const unchanged = requests.filter((r) => !todo.some((p) => p.name === r.name)).map((r) => ({ name: r.name, version: plan.get(r.name)!.version }));
    const next: Record<string, LockEntry> = { ...lock.plugins };
    for (const p of plan.values()) {
      const entry = next[p.name];
      if (!p.fetched) continue;
      const deps = p.dependencies.filter((d) => !d.optional || plan.has(d.name)).map((d) => d.name);
      next[p.name] = { version: p.version, digest: p.fetched.digest, catalog: this.#catalog.location, ...(entry?.key ? { key: entry.key } : {}), dependencies: deps };
    }
    const installedNow = await this.#apply(lock, todo, verified, { lockfileVersion: 1, plugins: next });
    return { installed: installedNow, unchanged, lockfile: this.#lockfile };
  }

  /** Verify every package to install, before anything is written. */
  #verifyAll(todo: readonly PlannedPlugin[]): Map<string, PackageVerification> {
    const out = new Map<string, PackageVerification>();
    for (const p of todo) {
      const v = verifyPackage(p.fetched!.package, this.#trust, {
        requireSignature: this.#requireSignature,
        expectName: p.name,
        expectVersion: p.version,
        file: `${this.#catalog.location} ${p.name}@${p.version}`,
        // Where the registry will load its manifest from: relative fs: grants resolve there, at install as at load.
        baseDir: path.dirname(path.join(this.#layout.link(p.name), p.fetched!.package.metadata.manifest)),
      });
      // A native library for another platform would install fine and fail at every load: refuse it now.
      const wrongPlatform = platformProblem(p.fetched!.package);
      if (wrongPlatform) throw new PackageError(`${this.#catalog.location} ${p.name}@${p.version}`, wrongPlatform, { plugin: p.name });
      out.set(p.name, v);
    }
    return out;
  }

  /** Stage, switch, lock, collect. `next` is the lockfile to write (its entries for `todo` get their keys here). */
  async #apply(before: Lockfile, todo: readonly PlannedPlugin[], verified: ReadonlyMap<string, PackageVerification>, next: Lockfile): Promise<InstalledPlugin[]> {
    for (const p of todo) await this.#layout.checkReplaceable(p.name);
    const done: InstalledPlugin[] = [];
    for (const p of todo) {
      const fetched = p.fetched!;
      const id = storeId(p.name, p.version, fetched.digest);
      await this.#layout.stage(id, (dir) => extractPackage(fetched.package, dir));
      await this.#progress?.({ stage: "staged", plugin: p.name, version: p.version });
      await this.#layout.switch(p.name, id);
      await this.#progress?.({ stage: "switched", plugin: p.name, version: p.version });
      const v = verified.get(p.name);
      const entry = next.plugins[p.name]!;
      // The key the package's signature names, verified or not (no trust list): the same lockfile on every host.
      const signedBy = fetched.package.signature?.key;
      if (signedBy !== undefined) entry.key = signedBy;
      else delete entry.key;
      const previous = before.plugins[p.name]?.version;
      done.push({
        name: p.name,
        version: p.version,
        ...(previous !== undefined ? { previous } : {}),
        digest: fetched.digest,
        ...(v?.signed && v.key ? { key: v.key } : {}),
        ...(v?.level ? { level: v.level } : {}),
        path: this.#layout.link(p.name),
      });
    }
    // Nothing changed, nothing written: a lockfile under version control stays untouched.
    if (formatLockfile(next) !== formatLockfile(before) || !(await exists(this.#lockfile))) await writeLockfile(this.#lockfile, next);
    await this.#progress?.({ stage: "locked" });
    await this.#layout.collect(this.#keep(next.plugins));
    return done;
  }

  /** The store ids a lockfile's entries use. */
  #keep(plugins: Readonly<Record<string, LockEntry>>): Set<string> {
    return new Set(Object.entries(plugins).map(([n, e]) => storeId(n, e.version, e.digest)));
  }
}

/** Whether a path exists. */
async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

/** The lockfile's plugins, each after the dependencies it records (by name otherwise; a cycle is cut where met). */
function dependenciesFirst(lock: Lockfile): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name) || !lock.plugins[name]) return;
    seen.add(name);
    for (const d of [...(lock.plugins[name]!.dependencies ?? [])].sort()) visit(d);
    out.push(name);
  };
  for (const name of Object.keys(lock.plugins).sort()) visit(name);
  return out;
}
