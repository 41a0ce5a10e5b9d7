/** Writing a file so that readers see either the old bytes or all the new ones: a synced temp file, then rename. */
import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import path from "node:path";

/** A temp file name beside `file` (same directory, so the rename does not cross file systems). */
export function tempPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
}

/** Writes `bytes` to a new temp file beside `file` and syncs it; returns the temp path (rename or remove it). */
export async function writeTemp(file: string, bytes: Uint8Array | string): Promise<string> {
  const temp = tempPath(file);
  const fh = await open(temp, "wx", 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  return temp;
}

/** Syncs a directory so a rename in it survives a crash (best effort: some file systems refuse). */
export async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Not supported here; the rename is still atomic, only its durability is the file system's.
  }
}

/** Replaces `file` with `bytes` atomically. */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  const temp = await writeTemp(file, bytes);
  try {
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await syncDir(path.dirname(file));
}
