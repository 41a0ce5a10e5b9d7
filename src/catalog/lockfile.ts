/**
 * The lockfile (`plughost.lock.json` in a plugin directory, docs/catalog.md "The lockfile"): what the installer put
 * there, each plugin pinned by the catalog digest it was installed from, so `plughost install` with no name can
 * reproduce the directory byte for byte on another host. Written atomically (temp file, fsync, rename): a reader sees
 * the old file or the new one, never half of one.
 */
import { readFile } from "node:fs/promises";
import semver from "semver";
import { PackageError } from "../contract/errors.js";
import { DIGEST_PATTERN, KEY_ID_PATTERN, PLUGIN_NAME_PATTERN } from "../plugin/signatures.js";
import { writeFileAtomic } from "./atomic-file.js";
import type { LockEntry, Lockfile } from "./types.js";

/** The lockfile's name inside the plugin directory. */
export const LOCKFILE_NAME = "plughost.lock.json";

// A lockfile lists installed plugins; a few MiB is far beyond any real one.
const MAX_LOCKFILE_BYTES = 4 * 1024 * 1024;

/** An empty lockfile. */
export function emptyLockfile(): Lockfile {
  return { lockfileVersion: 1, plugins: {} };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The first problem with one entry, or undefined. */
function entryProblem(name: string, e: unknown): string | undefined {
  if (!PLUGIN_NAME_PATTERN.test(name)) return `"${name}" is not a plugin name`;
  if (!isRecord(e)) return `${name}: must be an object`;
  for (const k of Object.keys(e)) if (!["version", "digest", "catalog", "key", "dependencies"].includes(k)) return `${name}: unknown field "${k}"`;
  if (typeof e.version !== "string" || !semver.valid(e.version)) return `${name}: version must be a semver version`;
  if (typeof e.digest !== "string" || !DIGEST_PATTERN.test(e.digest)) return `${name}: digest must be sha256-<64 hex>`;
  if (typeof e.catalog !== "string" || e.catalog.length === 0) return `${name}: catalog must be a non-empty string`;
  if (e.key !== undefined && (typeof e.key !== "string" || !KEY_ID_PATTERN.test(e.key))) return `${name}: key must be a key id`;
  if (e.dependencies !== undefined && (!Array.isArray(e.dependencies) || !e.dependencies.every((d) => typeof d === "string" && PLUGIN_NAME_PATTERN.test(d)))) {
    return `${name}: dependencies must be a list of plugin names`;
  }
  return undefined;
}

/**
 * Parse a lockfile's text strictly.
 * @throws {@link PackageError} naming `file` and the first problem (not JSON, wrong version, a malformed entry).
 */
export function parseLockfile(text: string, file: string): Lockfile {
  const fail = (problem: string): never => {
    throw new PackageError(file, `is not a valid lockfile: ${problem}; fix it, or delete it and install the plugins again`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return fail(`not JSON (${(err as Error).message})`);
  }
  if (!isRecord(doc)) return fail("not a JSON object");
  if (doc.lockfileVersion !== 1) return fail(`lockfileVersion is ${JSON.stringify(doc.lockfileVersion)}, this plughost reads version 1`);
  if (!isRecord(doc.plugins)) return fail("plugins must be an object of plugin name -> entry");
  const plugins: Record<string, LockEntry> = {};
  for (const [name, e] of Object.entries(doc.plugins)) {
    const problem = entryProblem(name, e);
    if (problem) return fail(problem);
    plugins[name] = e as unknown as LockEntry;
  }
  return { lockfileVersion: 1, plugins };
}

/**
 * Read a lockfile; a missing file is an empty lockfile (nothing installed yet).
 * @throws {@link PackageError} for a file that is not a valid lockfile or cannot be read.
 */
export async function readLockfile(file: string): Promise<Lockfile> {
  let text: string;
  try {
    const bytes = await readFile(file);
    if (bytes.length > MAX_LOCKFILE_BYTES) throw new PackageError(file, `is ${bytes.length} bytes, over the ${MAX_LOCKFILE_BYTES}-byte limit of a lockfile`);
    text = bytes.toString("utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyLockfile();
    if (err instanceof PackageError) throw err;
    throw new PackageError(file, `cannot be read (${(err as Error).message})`, { cause: err });
  }
  return parseLockfile(text, file);
}

/** The lockfile's text: plugins sorted by name, fields in a fixed order, so equal contents give equal bytes. */
export function formatLockfile(lock: Lockfile): string {
  const plugins: Record<string, LockEntry> = {};
  for (const name of Object.keys(lock.plugins).sort()) {
    const e = lock.plugins[name]!;
    plugins[name] = {
      version: e.version,
      digest: e.digest,
      catalog: e.catalog,
      ...(e.key !== undefined ? { key: e.key } : {}),
      ...(e.dependencies && e.dependencies.length > 0 ? { dependencies: [...e.dependencies].sort() } : {}),
    };
  }
  return JSON.stringify({ lockfileVersion: 1, plugins }, null, 2) + "\n";
}

/**
 * Write a lockfile atomically: a temp file next to it, flushed to disk, then renamed over it.
 * @throws {@link PackageError} when it cannot be written (the old file is then unchanged).
 */
export async function writeLockfile(file: string, lock: Lockfile): Promise<void> {
  try {
    await writeFileAtomic(file, formatLockfile(lock));
  } catch (err) {
    throw new PackageError(file, `cannot be written (${(err as Error).message}); the previous lockfile is unchanged`, { cause: err });
  }
}
