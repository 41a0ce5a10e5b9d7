/**
 * The directory catalog (docs/catalog.md): the embedded default, no server. A folder holding
 * `<name>/<name>-<version>.plughost` package files and an `index.json` listing every published version with what
 * `search` shows and the package file's digest. Readers only read; publishers write the package file and the index
 * each through a synced temp file and a rename, the index under a lock file, so concurrent publishers do not lose each
 * other's versions and a reader never sees half a file.
 */
import { createHash } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import path from "node:path";
import semver from "semver";
import { CatalogError, PackageError, PackageVerificationError, PlughostError } from "../contract/errors.js";
import { PACKAGE_EXTENSION, type PluginPackage } from "../package/types.js";
import { PACKAGE_BOUNDS, readPackage, writePackage } from "../package/index.js";
import { syncDir, writeFileAtomic, writeTemp } from "./atomic-file.js";
import { LockTimeout, withLock } from "./lock.js";
import { currentVersion, matchesQuery } from "./query.js";
import type { Catalog, CatalogEntry, FetchedPackage, SearchQuery } from "./types.js";

/** The index file's name in a directory catalog. */
export const DIRECTORY_INDEX_FILE = "index.json";
/** The lock file publishers hold while they update the index. */
export const DIRECTORY_LOCK_FILE = ".index.lock";

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const DIGEST = /^sha256-[0-9a-f]{64}$/;

/** One version as `index.json` records it: the catalog entry plus the package file's size and publication time. */
export interface DirectoryIndexEntry extends CatalogEntry {
  /** The package file's size in bytes. */
  size: number;
  /** When it was published (ISO 8601). */
  published: string;
}

/** The index entry of a package stored as `bytes`. */
function indexEntry(pkg: PluginPackage, bytes: Uint8Array, digest: string, published: string): DirectoryIndexEntry {
  const m = pkg.metadata;
  return {
    name: m.name,
    version: m.version,
    ...(m.description !== undefined ? { description: m.description } : {}),
    ...(m.license !== undefined ? { license: m.license } : {}),
    keywords: [...m.keywords],
    categories: [...m.categories],
    digest,
    signed: pkg.signature !== undefined,
    size: bytes.byteLength,
    published,
  };
}

/** `index.json`: plugin name → version → entry. Written with names and versions sorted. */
export interface DirectoryIndex {
  catalogVersion: 1;
  plugins: Record<string, Record<string, DirectoryIndexEntry>>;
}

/** Options of {@link DirectoryCatalog}. */
export interface DirectoryCatalogOptions {
  /** How long a publisher waits for the index lock, ms. Default 30,000. */
  lockTimeoutMs?: number;
}

const sha256 = (bytes: Uint8Array) => "sha256-" + createHash("sha256").update(bytes).digest("hex");

/** The largest package file a catalog lists: the reader's bounds plus headers, metadata and signature. */
export const MAX_PACKAGE_FILE_BYTES = PACKAGE_BOUNDS.maxTotalBytes + PACKAGE_BOUNDS.maxMetadataBytes + PACKAGE_BOUNDS.maxSignatureBytes + (PACKAGE_BOUNDS.maxEntries + 8) * 1024;

/** Up to `limit` bytes of `file` (fewer when it is shorter). */
async function readAtMost(file: string, limit: number): Promise<Uint8Array> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.allocUnsafe(limit);
    let n = 0;
    while (n < limit) {
      const { bytesRead } = await fh.read(buf, n, limit - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

/** A strict semantic version as written (no `v`, no spaces; build metadata allowed): safe in a file name. */
function isVersion(v: string): boolean {
  return /^[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.test(v) && semver.valid(v) !== null;
}

function isStringArray(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((s) => typeof s === "string");
}

/** A directory of plugin packages with an index. Implements {@link Catalog}. */
export class DirectoryCatalog implements Catalog {
  /** The location as given. */
  readonly location: string;
  /** The catalog directory, resolved. */
  readonly dir: string;
  readonly #lockTimeoutMs: number;

  /** A catalog in `dir` (it need not exist yet: the first publish creates it). */
  constructor(dir: string, options: DirectoryCatalogOptions = {}) {
    this.location = dir;
    this.dir = path.resolve(dir);
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
  }

  /** Where a version's package file lives (name and version are checked before they make a path). */
  packageFile(name: string, version: string): string {
    return path.join(this.dir, name, `${name}-${version}${PACKAGE_EXTENSION}`);
  }

  /** The newest version (a release over a newer prerelease) of every plugin that matches, sorted by name. */
  async search(query: SearchQuery = {}): Promise<CatalogEntry[]> {
    const index = await this.#readIndex();
    const out: CatalogEntry[] = [];
    for (const name of Object.keys(index.plugins).sort()) {
      const versions = index.plugins[name]!;
      const current = currentVersion(Object.keys(versions));
      const e = current === undefined ? undefined : versions[current];
      if (e && matchesQuery(e, query)) out.push(entryOf(e));
    }
    return out;
  }

  /** Every version of `name`, oldest first; a `CatalogError` "not-found" when there is none. */
  async versions(name: string): Promise<CatalogEntry[]> {
    const versions = (await this.#readIndex()).plugins[name];
    if (!NAME.test(name) || !versions || Object.keys(versions).length === 0) {
      throw new CatalogError(this.location, "not-found", `no plugin "${name}" in this catalog (plughost search --catalog ${this.location} lists them)`, { plugin: name });
    }
    return Object.keys(versions).sort(semver.compare).map((v) => entryOf(versions[v]!));
  }

  /** One version's package: the file's digest checked against the index, the package read strictly, its name and version checked. */
  async fetch(name: string, version: string): Promise<FetchedPackage> {
    const known = (await this.#readIndex()).plugins[name];
    const entry = NAME.test(name) && isVersion(version) ? known?.[version] : undefined;
    if (!entry) {
      const have = known ? Object.keys(known).sort(semver.compare).join(", ") : "";
      throw new CatalogError(this.location, "not-found", `no version ${version} of "${name}" in this catalog${have ? ` (it has ${have})` : ""}`, { plugin: name });
    }
    const file = this.packageFile(name, version);
    let bytes: Uint8Array;
    try {
      bytes = await readAtMost(file, entry.size + 1);
    } catch (err) {
      throw new CatalogError(this.location, "io", `the index lists ${name}@${version} but its package file ${file} cannot be read (${(err as Error).message}); publish it again`, { plugin: name, cause: err });
    }
    // Read no more than the index published (a file swapped for a huge one is not loaded into memory).
    if (bytes.byteLength !== entry.size) {
      throw new PackageVerificationError("digest", `${file} is ${bytes.byteLength > entry.size ? "larger than" : `${bytes.byteLength} bytes, not`} the ${entry.size} bytes the catalog index published: the file was changed or replaced after publishing; do not install it, publish the package again`, { plugin: name });
    }
    const digest = sha256(bytes);
    if (digest !== entry.digest) {
      throw new PackageVerificationError("digest", `${file} has digest ${digest} but the catalog index published ${entry.digest}: the file was changed or replaced after publishing; do not install it, publish the package again`, { plugin: name });
    }
    const pkg = readPackage(bytes, file);
    if (pkg.metadata.name !== name) {
      throw new PackageVerificationError("wrong-plugin", `${file} holds plugin "${pkg.metadata.name}", not "${name}"; the catalog is corrupt, publish "${name}" again`, { plugin: name });
    }
    if (pkg.metadata.version !== version) {
      throw new PackageVerificationError("wrong-version", `${file} holds version ${pkg.metadata.version} of "${name}", not ${version}; the catalog is corrupt, publish ${name}@${version} again`, { plugin: name });
    }
    return { package: pkg, digest };
  }

  /** Stores the package and lists it in the index (the same bytes again: a no-op; other bytes: a "conflict"). */
  async publish(pkg: PluginPackage): Promise<CatalogEntry> {
    const { name, version } = pkg.metadata;
    const label = `${name}@${version}`;
    if (!NAME.test(name)) throw new PackageError(label, `"${name}" is not a valid plugin name (lowercase a-z, 0-9, . _ -, at most 64)`, { plugin: name });
    if (!isVersion(version)) throw new PackageError(label, `"${version}" is not a semantic version (like 1.2.3)`, { plugin: name });
    const bytes = writePackage(pkg);
    // Re-read what will be stored: a package put together in memory gets the same checks as a file from disk.
    readPackage(bytes, label);
    const digest = sha256(bytes);
    const entry = indexEntry(pkg, bytes, digest, new Date().toISOString());
    const file = this.packageFile(name, version);
    const temp = await this.#io(`write ${file}`, async () => {
      await mkdir(path.dirname(file), { recursive: true });
      return writeTemp(file, bytes);
    }, name);
    try {
      return await this.#locked(name, async () => {
        const index = await this.#readIndex();
        const existing = index.plugins[name]?.[version];
        if (existing) {
          if (existing.digest === digest) {
            // Same bytes: a no-op, except that a stored file lost or damaged since is put back from them.
            const stored = await readFile(file).then(sha256, () => undefined);
            if (stored !== digest) {
              await this.#io(`write ${file}`, async () => {
                await rename(temp, file);
                await syncDir(path.dirname(file));
              }, name);
            }
            return entryOf(existing);
          }
          throw new CatalogError(this.location, "conflict", `${label} is already published with other bytes (${existing.digest}, this package is ${digest}); a published version never changes: bump the version and publish again`, { plugin: name });
        }
        await this.#io(`write ${file}`, async () => {
          await rename(temp, file);
          await syncDir(path.dirname(file));
        }, name);
        (index.plugins[name] ??= {})[version] = entry;
        await this.#writeIndex(index, name);
        return entryOf(entry);
      });
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  /**
   * Rebuilds `index.json` from the package files on disk (after a damaged index, or files copied in by hand). Every
   * `<name>/<name>-<version>.plughost` is read and checked; a file that is not a valid package is reported, not listed.
   */
  async reindex(): Promise<{ entries: CatalogEntry[]; refused: { file: string; error: string }[] }> {
    return this.#locked(undefined, async () => {
      const index: DirectoryIndex = { catalogVersion: 1, plugins: {} };
      const refused: { file: string; error: string }[] = [];
      const names = await readdir(this.dir, { withFileTypes: true }).catch(() => []);
      for (const d of names) {
        if (!d.isDirectory() || !NAME.test(d.name)) continue;
        for (const f of await readdir(path.join(this.dir, d.name))) {
          if (!f.endsWith(PACKAGE_EXTENSION) || f.startsWith(".")) continue;
          const file = path.join(this.dir, d.name, f);
          try {
            const bytes = await readFile(file);
            const pkg = readPackage(bytes, file);
            const { name, version } = pkg.metadata;
            if (name !== d.name || file !== this.packageFile(name, version)) throw new Error(`holds ${name}@${version}, which belongs at ${this.packageFile(name, version)}`);
            const published = (await stat(file)).mtime.toISOString();
            (index.plugins[name] ??= {})[version] = indexEntry(pkg, bytes, sha256(bytes), published);
          } catch (err) {
            refused.push({ file, error: err instanceof Error ? err.message : String(err) });
          }
        }
      }
      await this.#writeIndex(index, undefined);
      const entries = Object.values(index.plugins).flatMap((vs) => Object.values(vs).map(entryOf));
      return { entries, refused };
    });
  }

  async #readIndex(): Promise<DirectoryIndex> {
    const file = path.join(this.dir, DIRECTORY_INDEX_FILE);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        // No index yet: an empty catalog, if the directory exists at all.
        const dirExists = await stat(this.dir).then((s) => s.isDirectory(), () => false);
        if (dirExists) return { catalogVersion: 1, plugins: {} };
        throw new CatalogError(this.location, "not-found", `no catalog here: ${this.dir} does not exist (publishing a package creates it)`);
      }
      throw new CatalogError(this.location, "io", `cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    return parseIndex(text, file, this.location);
  }

  async #writeIndex(index: DirectoryIndex, plugin: string | undefined): Promise<void> {
    const sorted: DirectoryIndex = { catalogVersion: 1, plugins: {} };
    for (const name of Object.keys(index.plugins).sort()) {
      const vs = index.plugins[name]!;
      sorted.plugins[name] = Object.fromEntries(Object.keys(vs).sort(semver.compare).map((v) => [v, vs[v]!]));
    }
    const file = path.join(this.dir, DIRECTORY_INDEX_FILE);
    await this.#io(`write ${file}`, () => writeFileAtomic(file, JSON.stringify(sorted, null, 2) + "\n"), plugin);
  }

  async #locked<T>(plugin: string | undefined, fn: () => Promise<T>): Promise<T> {
    await this.#io(`create ${this.dir}`, () => mkdir(this.dir, { recursive: true }), plugin);
    const lock = path.join(this.dir, DIRECTORY_LOCK_FILE);
    try {
      return await withLock(lock, fn, { timeoutMs: this.#lockTimeoutMs });
    } catch (err) {
      if (err instanceof LockTimeout) {
        throw new CatalogError(this.location, "io", `another publisher holds ${lock} (${err.holder}); wait for it, or delete the file if no publish is running`, { ...(plugin ? { plugin } : {}), cause: err });
      }
      if (err instanceof PlughostError) throw err;
      throw new CatalogError(this.location, "io", `cannot update the catalog: ${(err as Error).message}`, { ...(plugin ? { plugin } : {}), cause: err });
    }
  }

  async #io<T>(what: string, fn: () => Promise<T>, plugin: string | undefined): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof PlughostError) throw err;
      throw new CatalogError(this.location, "io", `cannot ${what}: ${(err as Error).message}`, { ...(plugin ? { plugin } : {}), cause: err });
    }
  }
}

/** The public part of an index entry. */
function entryOf(e: DirectoryIndexEntry): CatalogEntry {
  return {
    name: e.name,
    version: e.version,
    ...(e.description !== undefined ? { description: e.description } : {}),
    ...(e.license !== undefined ? { license: e.license } : {}),
    keywords: [...e.keywords],
    categories: [...e.categories],
    digest: e.digest,
    signed: e.signed,
  };
}

/** Parses and checks `index.json`: names and versions are used to build paths, so nothing is taken on trust. */
export function parseIndex(text: string, file: string, catalog: string): DirectoryIndex {
  const bad = (why: string) =>
    new CatalogError(catalog, "protocol", `${file} is not a catalog index: ${why}; restore it, or rebuild it from the package files (DirectoryCatalog.reindex)`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(`invalid JSON (${(err as Error).message})`);
  }
  const d = doc as Partial<DirectoryIndex> | null;
  if (!d || typeof d !== "object" || d.catalogVersion !== 1) throw bad("catalogVersion is not 1");
  if (!d.plugins || typeof d.plugins !== "object" || Array.isArray(d.plugins)) throw bad("plugins is not an object");
  for (const [name, versions] of Object.entries(d.plugins)) {
    if (!NAME.test(name)) throw bad(`"${name}" is not a plugin name`);
    if (!versions || typeof versions !== "object" || Array.isArray(versions)) throw bad(`plugins.${name} is not an object`);
    for (const [version, e] of Object.entries(versions)) {
      const at = `plugins.${name}.${version}`;
      if (!isVersion(version)) throw bad(`${at}: "${version}" is not a semantic version`);
      if (!e || typeof e !== "object") throw bad(`${at} is not an object`);
      if (e.name !== name || e.version !== version) throw bad(`${at} names ${e.name}@${e.version}`);
      if (typeof e.digest !== "string" || !DIGEST.test(e.digest)) throw bad(`${at}.digest is not sha256-<64 hex>`);
      if (typeof e.signed !== "boolean") throw bad(`${at}.signed is not a boolean`);
      if (!Number.isSafeInteger(e.size) || e.size < 0 || e.size > MAX_PACKAGE_FILE_BYTES) throw bad(`${at}.size is not a package size (0 to ${MAX_PACKAGE_FILE_BYTES} bytes)`);
      if (typeof e.published !== "string") throw bad(`${at}.published is not a string`);
      if (!isStringArray(e.keywords) || !isStringArray(e.categories)) throw bad(`${at}: keywords and categories must be string arrays`);
      if (e.description !== undefined && typeof e.description !== "string") throw bad(`${at}.description is not a string`);
      if (e.license !== undefined && typeof e.license !== "string") throw bad(`${at}.license is not a string`);
    }
  }
  return d as DirectoryIndex;
}
