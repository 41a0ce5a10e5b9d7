/**
 * A lock file for a directory several processes write to (the directory catalog's index). Taken by creating the
 * file exclusively (`O_EXCL`); it holds the holder's pid, host and start time so a lock left by a crashed process
 * can be broken: same host and the pid is gone, or older than `staleMs` (another host, or a hung holder).
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { link, open, readFile, rename, unlink } from "node:fs/promises";

/** Options of {@link withLock}. */
export interface LockOptions {
  /** How long to wait for a live holder before giving up, ms. Default 30,000. */
  timeoutMs?: number;
  /** A lock older than this is broken whoever holds it, ms. Default 60,000 (the index lock is held for milliseconds). */
  staleMs?: number;
}

/** Thrown by {@link withLock} when the lock stays held past the timeout. */
export class LockTimeout extends Error {
  constructor(readonly file: string, readonly holder: string) {
    super(`lock ${file} is held by ${holder}`);
  }
}

interface Holder {
  pid: number;
  host: string;
  time: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parseHolder(text: string): Holder | undefined {
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    return typeof h.pid === "number" && typeof h.host === "string" && typeof h.time === "number" ? (h as Holder) : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function isStale(h: Holder | undefined, text: string, staleMs: number, now: number): boolean {
  // A half-written lock (the holder died between create and write) has no parseable body: stale only with age,
  // judged by the caller's first sight of it (the text is kept to compare).
  if (!h) return text === "" ? false : true;
  if (now - h.time > staleMs) return true;
  return h.host === hostname() && h.pid !== process.pid && !alive(h.pid);
}

async function tryCreate(file: string, body: string): Promise<boolean> {
  try {
    const fh = await open(file, "wx");
    try {
      await fh.writeFile(body);
    } finally {
      await fh.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

/**
 * Breaks a stale lock without stealing a fresh one: the lock is moved aside first; if what was moved is not the
 * stale lock that was judged (another waiter broke it and a new holder took it meanwhile), it is put back.
 */
async function breakLock(file: string, judged: string): Promise<void> {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.stale`;
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  const moved = await readFile(aside, "utf8").catch(() => "");
  if (moved !== judged) {
    await link(aside, file).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}

/** Runs `fn` holding the lock `file`; rejects with {@link LockTimeout} if it cannot be taken in time. */
export async function withLock<T>(file: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 60_000;
  const body = JSON.stringify({ pid: process.pid, host: hostname(), time: Date.now(), nonce: randomBytes(8).toString("hex") });
  const start = Date.now();
  let delay = 2;
  let emptySince: number | undefined;
  for (;;) {
    if (await tryCreate(file, body)) break;
    const text = await readFile(file, "utf8").catch(() => undefined);
    if (text === undefined) continue; // released between our create and read
    const holder = parseHolder(text);
    const now = Date.now();
    if (text === "") emptySince ??= now;
    else emptySince = undefined;
    const emptyTooLong = emptySince !== undefined && now - emptySince > Math.min(staleMs, 2_000);
    if (isStale(holder, text, staleMs, now) || emptyTooLong) {
      await breakLock(file, text);
      emptySince = undefined;
      continue;
    }
    if (now - start > timeoutMs) {
      throw new LockTimeout(file, holder ? `process ${holder.pid} on ${holder.host} since ${new Date(holder.time).toISOString()}` : "an unknown process");
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 100);
  }
  try {
    return await fn();
  } finally {
    // Only remove our own lock (it may have been broken as stale by someone else if we hung).
    const text = await readFile(file, "utf8").catch(() => undefined);
    if (text === body) await unlink(file).catch(() => undefined);
  }
}
