/**
 * The one way plughost reads a file a plugin supplies (manifest, entry,
 * plugin.sig): opened with O_NONBLOCK so a FIFO cannot hang the open (nor
 * hold a libuv pool thread), checked with fstat on the opened descriptor so
 * only a regular file is read, and capped before any byte is read. A file
 * that yields more bytes than its size said (procfs files report 0) is
 * refused after reading at most one byte too many, so /dev/zero,
 * /proc/self/pagemap and their kin cost nothing.
 */
import { closeSync, constants, fstatSync, openSync, readlinkSync, readSync, realpathSync } from "node:fs";
import { open, readlink, realpath } from "node:fs/promises";
import path from "node:path";

/** Size cap of a manifest file (1 MiB); a larger one is a `ManifestError`. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/** Size cap of a plugin.sig file and of a private key file (64 KiB); a larger one is refused. */
export const MAX_SIGNATURE_BYTES = 64 * 1024;
/** Size cap of an entry file (256 MiB); a larger one is refused before it is read. */
export const MAX_ENTRY_BYTES = 256 * 1024 * 1024;

/** Why a file was refused: the message says what is wrong, without the path. */
export class UnsafeFileError extends Error {
  readonly reason: "missing" | "not-regular" | "too-large" | "outside" | "unreadable";
  readonly errno: string | undefined;
  constructor(reason: UnsafeFileError["reason"], message: string, errno?: string) {
    super(message);
    this.reason = reason;
    this.errno = errno;
  }
}

export interface SafeReadOptions {
  /** Refuse the file unless it is at most this many bytes. */
  maxBytes: number;
  /** Refuse the file unless its real path (links resolved) lies inside this directory's real path. */
  within?: string;
  /** Words for the file in messages, e.g. "the manifest". */
  what?: string;
}

function describeType(mode: number): string {
  const t = mode & constants.S_IFMT;
  if (t === constants.S_IFIFO) return "a FIFO";
  if (t === constants.S_IFCHR) return "a character device";
  if (t === constants.S_IFBLK) return "a block device";
  if (t === constants.S_IFDIR) return "a directory";
  if (t === constants.S_IFSOCK) return "a socket";
  return "not a regular file";
}

/** True when `inner` is `outer` or lies below it (both absolute, links resolved). */
export function isWithin(outer: string, inner: string): boolean {
  const rel = path.relative(outer, inner);
  return rel === "" || (rel !== ".." && !rel.startsWith(".." + path.sep) && !path.isAbsolute(rel));
}

/**
 * Files up to this size are read with synchronous calls: each of the seven steps (open, fstat, readlink, realpath,
 * read, the EOF probe, close) is a few microseconds, while a promise-based step costs a libuv pool round trip
 * (tens of microseconds, more on a busy host). Larger files are read asynchronously, never blocking the loop long.
 */
const SYNC_READ_BYTES = 1024 * 1024;

/** Both read paths end so: the bytes read must be the size fstat gave, with nothing after them. */
function checkWhole(what: string, got: number, size: number, extra: number): void {
  if (got !== size || extra !== 0) {
    throw new UnsafeFileError(
      "not-regular",
      `${what} changed size while being read, or is a special file whose size is not its content (fstat said ${size} bytes); plughost reads only stable regular files`,
    );
  }
}

/** A read failure as the UnsafeFileError the callers expect (one already typed passes through). */
function asUnsafe(err: unknown, what: string): UnsafeFileError {
  if (err instanceof UnsafeFileError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return new UnsafeFileError("unreadable", `${what} cannot be read (${code ?? (err as Error).message})`, code);
}

/**
 * Read a regular file of at most `maxBytes` bytes. Throws `UnsafeFileError`
 * (reason missing, not-regular, too-large, outside, unreadable); never blocks
 * on a FIFO or device and never allocates more than the cap (plus one byte).
 */
export async function readRegularFile(file: string, options: SafeReadOptions): Promise<Buffer> {
  const small = readSmallFileSync(file, options);
  return small ?? readLargeFile(file, options);
}

/** `readRegularFile` for a file of at most SYNC_READ_BYTES, with the same checks; undefined when it is larger. */
function readSmallFileSync(file: string, options: SafeReadOptions): Buffer | undefined {
  const what = options.what ?? "the file";
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UnsafeFileError("missing", `${what} does not exist`, code);
    throw new UnsafeFileError("unreadable", `${what} cannot be opened (${code ?? (err as Error).message})`, code);
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) {
      throw new UnsafeFileError("not-regular", `${what} is ${describeType(info.mode)}, not a regular file; plughost reads only regular files`);
    }
    if (info.size > SYNC_READ_BYTES && info.size <= options.maxBytes) return undefined;
    if (options.within !== undefined) {
      let real: string;
      try {
        real = process.platform === "linux" ? readlinkSync(`/proc/self/fd/${fd}`) : realpathSync(file);
      } catch {
        real = realpathSync(file);
      }
      const root = realpathSync(options.within);
      if (!isWithin(root, real)) {
        throw new UnsafeFileError("outside", `${what} resolves to ${real}, outside the plugin directory ${root}; keep it inside the plugin's directory`);
      }
    }
    if (info.size > options.maxBytes) {
      throw new UnsafeFileError("too-large", `${what} is ${info.size} bytes, more than the ${options.maxBytes}-byte cap`);
    }
    const buf = Buffer.alloc(info.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    let extra: number;
    try {
      extra = readSync(fd, Buffer.alloc(1), 0, 1, got);
    } catch {
      extra = 1;
    }
    checkWhole(what, got, info.size, extra);
    return buf;
  } catch (err) {
    throw asUnsafe(err, what);
  } finally {
    try {
      closeSync(fd);
    } catch {
      // nothing to do: the descriptor is gone either way
    }
  }
}

/** `readRegularFile` with promise-based calls, for files larger than SYNC_READ_BYTES. */
async function readLargeFile(file: string, options: SafeReadOptions): Promise<Buffer> {
  const what = options.what ?? "the file";
  let fh;
  try {
    // O_NONBLOCK: opening a FIFO with no writer returns at once; O_NOCTTY: a tty never becomes ours.
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UnsafeFileError("missing", `${what} does not exist`, code);
    throw new UnsafeFileError("unreadable", `${what} cannot be opened (${code ?? (err as Error).message})`, code);
  }
  try {
    const info = await fh.stat();
    if (!info.isFile()) {
      throw new UnsafeFileError("not-regular", `${what} is ${describeType(info.mode)}, not a regular file; plughost reads only regular files`);
    }
    if (options.within !== undefined) {
      // The descriptor's own path on Linux (no race with a link swapped after the open); realpath elsewhere.
      const real = process.platform === "linux" ? await readlink(`/proc/self/fd/${fh.fd}`).catch(() => realpath(file)) : await realpath(file);
      const root = await realpath(options.within);
      if (!isWithin(root, real)) {
        throw new UnsafeFileError("outside", `${what} resolves to ${real}, outside the plugin directory ${root}; keep it inside the plugin's directory`);
      }
    }
    if (info.size > options.maxBytes) {
      throw new UnsafeFileError("too-large", `${what} is ${info.size} bytes, more than the ${options.maxBytes}-byte cap`);
    }
    // Read exactly the size fstat reported, then prove EOF with one more byte.
    const buf = Buffer.alloc(info.size);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    // procfs files may refuse a 1-byte read (pagemap: EINVAL): that too is not a plain file.
    const extra = await fh.read(Buffer.alloc(1), 0, 1, got).then((r) => r.bytesRead, () => 1);
    checkWhole(what, got, info.size, extra);
    return buf;
  } catch (err) {
    throw asUnsafe(err, what);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
