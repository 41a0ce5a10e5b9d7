/**
 * The package's container: a deterministic POSIX ustar archive (docs/catalog.md, "Package format").
 *
 * The writer lays out regular files only, in the order given, with fixed header fields (mode 0644, uid/gid 0, mtime 0,
 * no user or group names), each file padded to 512 bytes and the archive closed by two zero blocks. The reader is
 * strict: it accepts exactly what the writer writes (every header must equal the one the writer would make for that
 * path and size), so a package's bytes, and with them its digest, are canonical. It never trusts a size before
 * checking it against the bytes present and its bounds, and it refuses links, directories, devices, `..` and absolute
 * paths before anything is extracted.
 */
import { PackageError } from "../contract/errors.js";

/** Bytes per tar block. */
export const TAR_BLOCK = 512;

/** One regular file in an archive. */
export interface TarEntry {
  /** `/`-separated relative path. */
  path: string;
  bytes: Uint8Array;
}

/** Limits the reader enforces before allocating or extracting anything. */
export interface TarBounds {
  /** Most entries. */
  maxEntries: number;
  /** Largest single file. */
  maxFileBytes: number;
  /** Largest sum of file sizes. */
  maxTotalBytes: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Why `path` cannot be a package path, or undefined when it can (relative, `/`-separated, no `.`/`..`/empty segments). */
export function unsafePathReason(p: string): string | undefined {
  if (p.length === 0) return "is empty";
  if (p.startsWith("/") || /^[A-Za-z]:/.test(p)) return "is absolute";
  if (p.includes("\\")) return "contains a backslash";
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(p)) return "contains a control character";
  const segments = p.split("/");
  if (segments.includes("..")) return "climbs out with ..";
  if (segments.some((s) => s === "" || s === ".")) return "has an empty or . segment";
  if (encoder.encode(p).length > 255) return "is longer than 255 bytes";
  return undefined;
}

/** Split a path into ustar's prefix (≤155 bytes) and name (≤100 bytes), or undefined when no split fits. */
function splitPath(p: string): { prefix: string; name: string } | undefined {
  if (encoder.encode(p).length <= 100) return { prefix: "", name: p };
  for (let i = p.indexOf("/"); i !== -1; i = p.indexOf("/", i + 1)) {
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100 && name.length > 0) return { prefix, name };
  }
  return undefined;
}

function putString(block: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = encoder.encode(text);
  block.set(bytes.subarray(0, length), offset);
}

function putOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  // length-1 octal digits, then NUL (the common ustar spelling).
  putString(block, offset, length - 1, value.toString(8).padStart(length - 1, "0"));
}

/** The header the writer makes for a regular file `p` of `size` bytes (`p` must be safe). */
export function tarHeader(p: string, size: number): Uint8Array {
  const split = splitPath(p);
  if (!split) throw new RangeError(`path ${p} does not fit a ustar header`);
  const block = new Uint8Array(TAR_BLOCK);
  putString(block, 0, 100, split.name);
  putOctal(block, 100, 8, 0o644);
  putOctal(block, 108, 8, 0);
  putOctal(block, 116, 8, 0);
  putOctal(block, 124, 12, size);
  putOctal(block, 136, 12, 0);
  block.fill(0x20, 148, 156); // the checksum counts its own field as spaces
  block[156] = 0x30; // '0': a regular file
  putString(block, 257, 6, "ustar\0");
  putString(block, 263, 2, "00");
  putString(block, 345, 155, split.prefix);
  let sum = 0;
  for (const b of block) sum += b;
  putString(block, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

const padding = (size: number): number => (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;

/**
 * Lay out `entries` as a ustar archive, in the order given.
 * @throws `RangeError` for a path that is unsafe or does not fit a ustar header, or a file of 8 GiB or more
 *   (callers check paths first; this is the last line).
 */
export function writeTar(entries: readonly TarEntry[]): Uint8Array {
  let total = 2 * TAR_BLOCK;
  for (const e of entries) {
    const why = unsafePathReason(e.path);
    if (why) throw new RangeError(`path ${JSON.stringify(e.path)} ${why}`);
    if (e.bytes.length >= 8 ** 11) throw new RangeError(`${e.path} is too large for ustar`);
    total += TAR_BLOCK + e.bytes.length + padding(e.bytes.length);
  }
  const out = new Uint8Array(total); // zero-filled: paddings and the end blocks need no writing
  let at = 0;
  for (const e of entries) {
    out.set(tarHeader(e.path, e.bytes.length), at);
    at += TAR_BLOCK;
    out.set(e.bytes, at);
    at += e.bytes.length + padding(e.bytes.length);
  }
  return out;
}

function readString(block: Uint8Array, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

const TYPE_NAMES: Record<string, string> = {
  "1": "a hard link",
  "2": "a symbolic link",
  "3": "a character device",
  "4": "a block device",
  "5": "a directory",
  "6": "a FIFO",
  "7": "a contiguous file",
  x: "a pax extended header",
  g: "a pax global header",
  L: "a GNU long name",
  K: "a GNU long link name",
};

function isZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

/**
 * Read an archive the writer wrote. Entries are views into `bytes` (not copies).
 * @throws {@link PackageError} naming `file` for anything else: a truncated archive, a bad checksum, a link,
 *   directory or other non-regular entry, an unsafe path, a path listed twice, a size past `bounds`, a header that is
 *   not the canonical one, or bytes after the end blocks.
 */
export function readTar(bytes: Uint8Array, file: string, bounds: TarBounds): TarEntry[] {
  const fail = (problem: string): never => {
    throw new PackageError(file, `${problem}; it is not a package written by plughost pack (pack the plugin again)`);
  };
  if (bytes.length % TAR_BLOCK !== 0) fail(`its size (${bytes.length} bytes) is not a whole number of 512-byte tar blocks: truncated or not a package`);
  const entries: TarEntry[] = [];
  const seen = new Set<string>();
  let total = 0;
  let at = 0;
  for (;;) {
    if (at + 2 * TAR_BLOCK > bytes.length) fail("it is truncated: the archive ends without its two zero end blocks");
    const block = bytes.subarray(at, at + TAR_BLOCK);
    if (isZero(block)) {
      if (!isZero(bytes.subarray(at + TAR_BLOCK, at + 2 * TAR_BLOCK))) fail(`a lone zero block at byte ${at}`);
      if (at + 2 * TAR_BLOCK !== bytes.length) fail(`${bytes.length - at - 2 * TAR_BLOCK} bytes follow the end of the archive`);
      return entries;
    }
    let stored = 0;
    for (let i = 0; i < TAR_BLOCK; i++) stored += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    let name: string;
    let prefix: string;
    let sizeField: string;
    let sumField: string;
    try {
      name = readString(block, 0, 100);
      prefix = readString(block, 345, 155);
      sizeField = readString(block, 124, 12).trim();
      sumField = readString(block, 148, 8).trim();
    } catch {
      return fail(`entry ${entries.length + 1} has a header that is not UTF-8 text`);
    }
    if (!/^[0-7]{1,7}$/.test(sumField) || parseInt(sumField, 8) !== stored) fail(`entry ${entries.length + 1} (at byte ${at}) has a bad header checksum`);
    if (readString(block, 257, 6) !== "ustar" || block[262] !== 0 || block[263] !== 0x30 || block[264] !== 0x30) fail(`entry ${entries.length + 1} is not a POSIX ustar header`);
    const entryPath = prefix ? `${prefix}/${name}` : name;
    const type = String.fromCharCode(block[156] as number);
    if (type !== "0" && type !== "\0") fail(`${JSON.stringify(entryPath)} is ${TYPE_NAMES[type] ?? `of tar type ${JSON.stringify(type)}`}; a package holds regular files only`);
    const unsafe = unsafePathReason(entryPath);
    if (unsafe) fail(`the path ${JSON.stringify(entryPath)} ${unsafe}`);
    if (!/^[0-7]{1,11}$/.test(sizeField)) fail(`${entryPath} has an invalid size field`);
    const size = parseInt(sizeField, 8);
    if (entries.length >= bounds.maxEntries) fail(`it holds more than ${bounds.maxEntries} files`);
    if (size > bounds.maxFileBytes) fail(`${entryPath} is ${size} bytes, over the ${bounds.maxFileBytes}-byte limit per file`);
    total += size;
    if (total > bounds.maxTotalBytes) fail(`its files add up to more than the ${bounds.maxTotalBytes}-byte limit`);
    const start = at + TAR_BLOCK;
    if (start + size + padding(size) > bytes.length) fail(`it is truncated: ${entryPath} claims ${size} bytes but the archive ends first`);
    if (seen.has(entryPath)) fail(`${entryPath} is listed twice`);
    seen.add(entryPath);
    const canonical = tarHeader(entryPath, size);
    for (let i = 0; i < TAR_BLOCK; i++) if (canonical[i] !== block[i]) fail(`the header of ${entryPath} differs from plughost's canonical one (byte ${i}): repacked by another tool`);
    if (!isZero(bytes.subarray(start + size, start + size + padding(size)))) fail(`the padding after ${entryPath} is not zero`);
    entries.push({ path: entryPath, bytes: bytes.subarray(start, start + size) });
    at = start + size + padding(size);
  }
}
