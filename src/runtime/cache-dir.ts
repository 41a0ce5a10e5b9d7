/**
 * The on-disk compile cache: where it lives, the checks that make it private
 * to the user running the host, and the per-cache key that seals every
 * artefact in it (HMAC-SHA256). Cached glue is JavaScript the host runs and
 * cached `.cwasm` files are native code, so a file in the cache is trusted
 * only when its seal verifies on the bytes actually used.
 */
import { createHmac, randomBytes, timingSafeEqual, webcrypto } from "node:crypto";
import { closeSync, constants, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readSync, realpathSync, unlinkSync, writeSync, type Stats } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CacheUnsafe } from "../contract/errors.js";

/** The key file inside every cache directory (32 random bytes, mode 0600). */
export const CACHE_KEY_FILE = "cache.key";
const KEY_BYTES = 32;

/** An opened cache: its real path and the key that seals its artefacts. */
export interface CacheRoot {
  /** The directory's resolved path. */
  dir: string;
  /** The key that seals the artefacts in it. */
  key: Buffer;
}

/**
 * `$XDG_CACHE_HOME/plughost`, else `~/.cache/plughost` (never a shared temp
 * directory): the compile cache when the registry option `cacheDir` is not
 * set. Only computes the path; never throws.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), ".cache");
  return path.join(base, "plughost");
}

/** The key file of a cache directory (for the protected-path rule). */
export function cacheKeyPath(dir: string): string {
  return path.join(dir, CACHE_KEY_FILE);
}

const keys = new Map<string, Buffer>();

const unusable = new Set<string>();

/**
 * Create (mode 0700) or check a cache directory and return its key. Throws
 * `CacheUnsafe` when the directory is a symbolic link, is not ours, is
 * writable by other users, or lies in a directory another user could
 * rename it out of. Checked on every open; only the key is remembered.
 * Undefined when the directory cannot be created or written (a read-only
 * home, say): loads then go on without a disk cache.
 */
export function openCache(dir: string, plugin?: string): CacheRoot | undefined {
  const resolved = path.resolve(dir);
  const unsafe = (problem: string, at = resolved): never => {
    throw new CacheUnsafe(dir, at, problem, plugin !== undefined ? { plugin } : {});
  };
  // A directory that is there already needs no mkdir (every load opens the cache: a syscall saved each time).
  let st = lstatExisting(resolved);
  if (st === undefined || !st.isDirectory()) {
    try {
      mkdirSync(resolved, { recursive: true, mode: 0o700 });
    } catch (err) {
      return cannotUse(resolved, err);
    }
    st = lstatSync(resolved);
  }
  if (st.isSymbolicLink()) unsafe("is a symbolic link");
  if (!st.isDirectory()) unsafe("is not a directory");
  const uid = process.getuid?.();
  const real = realpathSync(resolved);
  if (uid !== undefined) {
    if (st.uid !== uid) unsafe(`is owned by uid ${st.uid}, not by the user running the host (uid ${uid})`);
    if (st.mode & 0o022) unsafe(`is writable by other users (mode ${(st.mode & 0o7777).toString(8)})`);
    // Every directory above it must be ours or root's, and not open to others
    // unless sticky (like /tmp), or someone else could swap the cache out.
    for (let p = path.dirname(real); ; p = path.dirname(p)) {
      const a = lstatSync(p);
      if (a.uid !== uid && a.uid !== 0) unsafe(`lies in ${p}, which is owned by uid ${a.uid}`, p);
      if (a.mode & 0o022 && !(a.mode & 0o1000)) unsafe(`lies in ${p}, which is writable by other users and not sticky`, p);
      if (p === path.dirname(p)) break;
    }
  }
  let key = keys.get(real);
  if (!key) {
    try {
      key = readOrCreateKey(real, unsafe);
    } catch (err) {
      if (err instanceof CacheUnsafe) throw err;
      return cannotUse(real, err);
    }
    keys.set(real, key);
  }
  return { dir: real, key };
}

/** `lstat` of `p`, or undefined when it cannot be looked at (missing, or a parent that is not a directory). */
function lstatExisting(p: string): Stats | undefined {
  try {
    return lstatSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

function cannotUse(dir: string, err: unknown): undefined {
  if (!unusable.has(dir)) {
    unusable.add(dir);
    process.emitWarning(`plughost: the compile cache ${dir} cannot be used (${(err as Error).message}); loading without a disk cache`, {
      code: "PLUGHOST_CACHE_UNUSABLE",
    });
  }
  return undefined;
}

function readOrCreateKey(dir: string, unsafe: (problem: string, at?: string) => never): Buffer {
  const file = cacheKeyPath(dir);
  for (let attempt = 0; attempt < 2; attempt++) {
    const key = readKey(file, unsafe);
    if (key) return key;
    // Write a complete key under a private name, then link it in: a racing
    // process either wins the link or reads the winner's key.
    const tmp = path.join(dir, `.${CACHE_KEY_FILE}.${process.pid}.${randomBytes(6).toString("hex")}`);
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
    try {
      if (writeSync(fd, randomBytes(KEY_BYTES)) !== KEY_BYTES) throw new Error(`short write of ${tmp}`);
    } catch (err) {
      // A full disk: leave no partial key behind (the cache is then not used).
      closeSync(fd);
      unlinkSync(tmp);
      throw err;
    }
    closeSync(fd);
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
  return unsafe(`has a key file ${file} that cannot be read back`, file);
}

function readKey(file: string, unsafe: (problem: string, at?: string) => never): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    return unsafe(code === "ELOOP" ? `has a key file ${file} that is a symbolic link` : `has an unreadable key file ${file} (${code})`, file);
  }
  try {
    const st = fstatSync(fd);
    const uid = process.getuid?.();
    if (!st.isFile() || st.size !== KEY_BYTES) unsafe(`has a key file ${file} that is not a ${KEY_BYTES}-byte regular file`, file);
    if (uid !== undefined && (st.uid !== uid || st.mode & 0o077)) unsafe(`has a key file ${file} that others can read or that is not ours (mode ${(st.mode & 0o777).toString(8)}, uid ${st.uid})`, file);
    const key = Buffer.alloc(KEY_BYTES);
    if (readSync(fd, key, 0, KEY_BYTES, 0) !== KEY_BYTES) unsafe(`has a truncated key file ${file}`, file);
    return key;
  } finally {
    closeSync(fd);
  }
}

/**
 * HMAC-SHA256 over a label and parts, each part length-prefixed so that no
 * two different part lists give the same input.
 */
export function cacheMac(key: Buffer, label: string, parts: readonly (Uint8Array | string)[]): Buffer {
  const h = createHmac("sha256", key).update(label).update("\0");
  // update() copies its input into the hash state, so one length buffer serves every part.
  const len = Buffer.alloc(8);
  for (const part of parts) {
    const bytes = typeof part === "string" ? Buffer.from(part, "utf8") : part;
    len.writeUInt32LE(bytes.length >>> 0, 0);
    len.writeUInt32LE(Math.floor(bytes.length / 2 ** 32), 4);
    h.update(len).update(bytes);
  }
  return h.digest();
}

/** The exact bytes `cacheMac` authenticates, as one buffer (a copy: a snapshot of the parts as they are now). */
export function cacheMacInput(label: string, parts: readonly (Uint8Array | string)[]): Buffer {
  const chunks: Uint8Array[] = [Buffer.from(`${label}\0`, "utf8")];
  for (const part of parts) {
    const bytes = typeof part === "string" ? Buffer.from(part, "utf8") : part;
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(bytes.length));
    chunks.push(len, bytes);
  }
  return Buffer.concat(chunks);
}

/**
 * `cacheMac` of a `cacheMacInput`, computed on libuv's thread pool (WebCrypto's HMAC runs there), for seals of large
 * artefacts written while a load goes on: the same input, the same MAC.
 */
export async function cacheMacAsync(key: Buffer, input: Uint8Array): Promise<Buffer> {
  const hmacKey = await webcrypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return Buffer.from(await webcrypto.subtle.sign("HMAC", hmacKey, input));
}

/** Constant-time comparison of a stored seal (hex) with the one computed. */
export function macMatches(stored: unknown, computed: Buffer): boolean {
  if (typeof stored !== "string" || !/^[0-9a-f]{64}$/.test(stored)) return false;
  return timingSafeEqual(Buffer.from(stored, "hex"), computed);
}

/** A cached artefact failed verification: it is discarded and rebuilt, and the host is told. */
export function warnCacheRebuilt(what: string, where: string): void {
  process.emitWarning(
    `plughost: cached ${what} at ${where} failed verification (changed outside plughost); it was discarded and rebuilt`,
    { code: "PLUGHOST_CACHE_REBUILT" },
  );
}
