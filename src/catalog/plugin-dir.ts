/**
 * The installer's layout of a plugin directory (docs/catalog.md "Installing…"):
 * - `<dir>/.plughost/store/<name>@<version>-<digest12>/`: an installed version's files, written once, never changed;
 * - `<dir>/<name>`: a symbolic link to its store entry, replaced in one `rename` (the atomic switch);
 * - `<dir>/.plughost/tmp/`: downloads being extracted (emptied by the next install: a killed one leaves them);
 * - `<dir>/.plughost-install.lock`: held while an install runs (pid, host, time; a dead holder's lock is broken).
 * The registry's directory scan skips dot entries and follows links, so it sees each plugin once, at its link.
 */
import { randomBytes } from "node:crypto";
import { lstat, mkdir, mkdtemp, readdir, readlink, rename, rm, symlink, unlink } from "node:fs/promises";
import path from "node:path";
import { CatalogError, PlughostError } from "../contract/errors.js";
import { LockTimeout, withLock } from "./lock.js";

const STATE_DIR = ".plughost";
const LOCK_FILE = ".plughost-install.lock";

/** The store entry's directory name for a version: `<name>@<version>-<first 12 hex of the digest>`. */
export function storeId(name: string, version: string, digest: string): string {
  return `${name}@${version}-${digest.replace(/^sha256-/, "").slice(0, 12)}`;
}

/** Paths of one plugin directory's installer state. */
export class PluginDirLayout {
  /** The plugin directory (absolute). */
  readonly dir: string;
  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }
  /** `<dir>/.plughost/store`. */
  get store(): string {
    return path.join(this.dir, STATE_DIR, "store");
  }
  /** `<dir>/.plughost/tmp`. */
  get tmp(): string {
    return path.join(this.dir, STATE_DIR, "tmp");
  }
  /** The link a plugin is discovered through: `<dir>/<name>`. */
  link(name: string): string {
    return path.join(this.dir, name);
  }
  /** The link's target, relative to the plugin directory (so the directory can be moved). */
  linkTarget(id: string): string {
    return path.join(STATE_DIR, "store", id);
  }

  /** Fail where the io error happened, naming the plugin directory. */
  #io(what: string, err: unknown): never {
    throw new CatalogError(this.dir, "io", `cannot ${what} (${(err as Error).message}); check the plugin directory's permissions and free space`, { cause: err });
  }

  /**
   * Run `fn` holding the install lock (`withLock`: created exclusively, holding pid, host and time; the lock of a
   * process that is gone, a killed install, is broken without stealing a fresh one). The half-extracted downloads of
   * a killed install are removed once the lock is held, and this run's when it ends.
   * @throws {@link CatalogError} `conflict` when another live install holds it past `waitMs`; `io` when it cannot be created.
   */
  async locked<T>(fn: () => Promise<T>, waitMs: number): Promise<T> {
    const file = path.join(this.dir, LOCK_FILE);
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      this.#io(`create ${this.dir}`, err);
    }
    try {
      // An install holds it for as long as downloads take: only a dead holder, or a day, makes it stale.
      return await withLock(
        file,
        async () => {
          await rm(this.tmp, { recursive: true, force: true });
          try {
            return await fn();
          } finally {
            await rm(this.tmp, { recursive: true, force: true }).catch(() => undefined);
          }
        },
        { timeoutMs: waitMs, staleMs: 24 * 3600_000 },
      );
    } catch (err) {
      if (err instanceof LockTimeout) {
        throw new CatalogError(this.dir, "conflict", `another install (${err.holder}) is running in this plugin directory; wait for it, or delete ${file} if that process is not plughost`, { cause: err });
      }
      if (err instanceof PlughostError) throw err;
      // A file-system failure (the lock or the directory cannot be written) becomes the typed error.
      if (typeof (err as NodeJS.ErrnoException).code === "string") this.#io(`write in ${this.dir}`, err);
      throw err;
    }
  }

  /**
   * Refuse to replace what the installer did not make: `<dir>/<name>` must be absent or a link into the store.
   * @throws {@link CatalogError} `io` naming the path and what to do.
   */
  async checkReplaceable(name: string): Promise<void> {
    const link = this.link(name);
    const st = await lstat(link).catch((err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? undefined : this.#io(`inspect ${link}`, err)));
    if (!st) return;
    if (st.isSymbolicLink() && (await readlink(link)).startsWith(path.join(STATE_DIR, "store") + path.sep)) return;
    throw new CatalogError(this.dir, "io", `${link} exists and was not installed by plughost install; move it away (or install into another plugin directory) so nothing of yours is overwritten`, { plugin: name });
  }

  /** The store id `<dir>/<name>` points to, or undefined when it is not an installed link. */
  async installedId(name: string): Promise<string | undefined> {
    const target = await readlink(this.link(name)).catch(() => undefined);
    const prefix = path.join(STATE_DIR, "store") + path.sep;
    return target?.startsWith(prefix) ? target.slice(prefix.length) : undefined;
  }

  /** Whether a store entry exists (it is complete: entries appear by rename only). */
  async hasStored(id: string): Promise<boolean> {
    return lstat(path.join(this.store, id)).then((s) => s.isDirectory(), () => false);
  }

  /**
   * Put a version in the store: `extract` writes its files into a fresh directory under tmp, which is then renamed
   * into the store, so a store entry is there whole or not at all.
   */
  async stage(id: string, extract: (dir: string) => Promise<void>): Promise<string> {
    const final = path.join(this.store, id);
    if (await this.hasStored(id)) return final;
    let work: string;
    try {
      await mkdir(this.tmp, { recursive: true });
      await mkdir(this.store, { recursive: true });
      work = await mkdtemp(path.join(this.tmp, "x-"));
    } catch (err) {
      return this.#io(`create ${this.tmp}`, err);
    }
    const files = path.join(work, "plugin");
    await extract(files);
    try {
      await rename(files, final);
    } catch (err) {
      if (!(await this.hasStored(id))) this.#io(`move ${id} into ${this.store}`, err);
    }
    await rm(work, { recursive: true, force: true });
    return final;
  }

  /** Point `<dir>/<name>` at store entry `id` in one rename (the previous target stays until `collect`). */
  async switch(name: string, id: string): Promise<void> {
    const tmpLink = path.join(this.tmp, `${name}.${randomBytes(6).toString("hex")}.link`);
    try {
      await mkdir(this.tmp, { recursive: true });
      await symlink(this.linkTarget(id), tmpLink, "dir");
      await rename(tmpLink, this.link(name));
    } catch (err) {
      await rm(tmpLink, { force: true });
      this.#io(`switch ${this.link(name)} to ${id}`, err);
    }
  }

  /** Remove `<dir>/<name>` when it is an installed link. */
  async removeLink(name: string): Promise<void> {
    if ((await this.installedId(name)) === undefined) return;
    try {
      await unlink(this.link(name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.#io(`remove ${this.link(name)}`, err);
    }
  }

  /**
   * Remove store entries no longer in `keep` (earlier versions, leftovers of interrupted installs). An entry a link
   * still points to stays whatever `keep` says (an install killed between its switch and its lockfile). Best effort.
   */
  async collect(keep: ReadonlySet<string>): Promise<string[]> {
    const names = await readdir(this.store).catch(() => [] as string[]);
    const linked = new Set<string>();
    for (const e of await readdir(this.dir, { withFileTypes: true }).catch(() => [])) {
      if (!e.isSymbolicLink()) continue;
      const id = await this.installedId(e.name);
      if (id !== undefined) linked.add(id);
    }
    const removed: string[] = [];
    for (const id of names) {
      if (keep.has(id) || linked.has(id)) continue;
      await rm(path.join(this.store, id), { recursive: true, force: true }).then(() => removed.push(id), () => undefined);
    }
    return removed;
  }
}
