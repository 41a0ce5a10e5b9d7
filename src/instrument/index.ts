/**
 * Fuel metering and memory/table caps for core Wasm modules, by rewriting
 * their bytes before compilation (V8 has neither a fuel counter nor a memory
 * limiter). See docs/fuel-and-memory.md for the runtime contract.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cacheMac, cacheMacAsync, cacheMacInput, macMatches, openCache, warnCacheRebuilt } from "../runtime/cache-dir.js";
import { InstrumentError } from "./errors.js";
import { rewriteModule } from "./rewrite.js";
import type { InstrumentOptions, InstrumentResult } from "./types.js";

export { InstrumentError, LimitCapError } from "./errors.js";
export { createLimits, FuelSignal, Limits, type LimitsImports, type LimitsOptions, type LimitViolationKind } from "./limits-runtime.js";
export { LIMITS_MODULE, type InstrumentOptions, type InstrumentResult, type MemoryInfo, type TableInfo } from "./types.js";

// Bump when the output for the same input and options changes.
const FORMAT = "plughost-instrument-6"; // 2: fuel threaded through calls; 3: table.grow through the host's ledger; 4: "plughost:limits" imports refused; 5: threaded twins of private immutable tables; 6: fuel entries
const MEMORY_CACHE_ENTRIES = 64;
const memoryCache = new Map<string, InstrumentResult>();

/**
 * Rewrite a core module for fuel metering and memory/table caps. Pure function
 * of (bytes, fuel, memoryBytes, tableElements); results are cached by content
 * hash in memory and, with `cacheDir`, on disk.
 */
export function instrumentModule(bytes: Uint8Array, options: InstrumentOptions = {}): InstrumentResult {
  const fuel = options.fuel ?? true;
  const label = options.label ?? "core module";
  checkCap("memoryBytes", options.memoryBytes, label);
  checkCap("tableElements", options.tableElements, label);
  const h = createHash("sha256");
  const entries = fuel && options.fuelEntries?.length ? [...options.fuelEntries] : undefined;
  h.update(`${FORMAT}\0${rewriterDigest()}\0${fuel ? 1 : 0}\0${options.memoryBytes ?? ""}\0${options.tableElements ?? ""}\0${entries ? JSON.stringify(entries) : ""}\0`);
  h.update(bytes);
  const key = h.digest("hex");
  const useMemory = options.memoryCache ?? true;
  if (useMemory) {
    const hit = memoryCache.get(key);
    if (hit) {
      memoryCache.delete(key); // refresh its place in the LRU order
      memoryCache.set(key, hit);
      return hit;
    }
  }
  let result: InstrumentResult | undefined = options.cacheDir ? readDiskCache(options.cacheDir, key) : undefined;
  if (!result) {
    const r = rewriteModule(bytes, { fuel, memoryBytes: options.memoryBytes, tableElements: options.tableElements, label, plugin: options.plugin, fuelEntries: entries });
    result = { key, ...r };
    if (options.cacheDir) {
      if (options.cacheWrite === "background") writeDiskCacheInBackground(options.cacheDir, result);
      else writeDiskCache(options.cacheDir, result);
    }
  }
  if (useMemory) {
    memoryCache.set(key, result);
    if (memoryCache.size > MEMORY_CACHE_ENTRIES) memoryCache.delete(memoryCache.keys().next().value!);
  }
  return result;
}

let ownDigest: string | undefined;

/**
 * A digest of the instrumenter's own code, so an edited rewriter never reuses
 * a disk cache written by an older one even when FORMAT was not bumped.
 */
function rewriterDigest(): string {
  if (ownDigest === undefined) {
    const h = createHash("sha256");
    try {
      const dir = path.dirname(fileURLToPath(import.meta.url));
      for (const f of readdirSync(dir).sort()) if (/\.(js|ts)$/.test(f)) h.update(f).update(readFileSync(path.join(dir, f)));
    } catch {
      // bundled or unreadable: FORMAT alone keys the cache
    }
    ownDigest = h.digest("hex").slice(0, 16);
  }
  return ownDigest;
}

/** Fuel metering only. */
export function instrumentFuel(bytes: Uint8Array, options: Omit<InstrumentOptions, "fuel"> = {}): InstrumentResult {
  return instrumentModule(bytes, { ...options, fuel: true });
}

/** Forget the in-process cache (tests, benchmarks). */
export function clearInstrumentCache(): void {
  memoryCache.clear();
}

function checkCap(name: string, v: number | undefined, label: string): void {
  if (v !== undefined && !(Number.isSafeInteger(v) && v >= 0)) {
    throw new InstrumentError(label, 0, `${name} must be a non-negative integer, got ${v}`);
  }
}

type Meta = Omit<InstrumentResult, "bytes">;

// The disk cache is sealed with its directory's key (../runtime/cache-dir.ts): a module
// changed on disk could drop the fuel and memory checks, so it is rebuilt.
const SEAL = "plughost-instrumented-1";
const seal = (cacheKey: Buffer, meta: Meta, bytes: Uint8Array) => cacheMac(cacheKey, SEAL, [JSON.stringify(meta), bytes]);

function readDiskCache(dir: string, key: string): InstrumentResult | undefined {
  let text: string;
  let cacheKey: Buffer | undefined;
  try {
    text = readFileSync(path.join(dir, `${key}.json`), "utf8");
    cacheKey = openCache(dir)?.key;
  } catch {
    return undefined; // not cached yet, or the directory is unsafe: nothing in it is used
  }
  if (!cacheKey) return undefined;
  try {
    const { mac, ...meta } = JSON.parse(text) as Meta & { mac?: unknown };
    const bytes = new Uint8Array(readFileSync(path.join(dir, `${key}.wasm`)));
    if (meta.key === key && macMatches(mac, seal(cacheKey, meta, bytes))) return { ...meta, bytes };
  } catch {
    // damaged: rebuild
  }
  warnCacheRebuilt("instrumented module", path.join(dir, `${key}.wasm`));
  return undefined;
}

const pendingWrites = new Set<Promise<void>>();

/**
 * Resolves once every disk cache entry started with `cacheWrite: "background"` is written (or given up on). The v8
 * engine has entries sealed and written on libuv's thread pool while its load goes on (a JS plugin's is 16.7 MB,
 * ~100 ms of a cold load written synchronously) and awaits this at the end, so a loaded plugin's entry is on disk.
 */
export function instrumentCacheWritten(): Promise<void> {
  return pendingWrites.size === 0 ? Promise.resolve() : Promise.all(pendingWrites).then(() => undefined);
}

function writeDiskCache(dir: string, r: InstrumentResult): void {
  try {
    const cacheKey = openCache(dir)?.key;
    if (!cacheKey) return;
    const { bytes, ...meta } = r;
    // Write then rename, so a concurrent reader never sees half a file.
    const tmp = `.${process.pid}.${Math.random().toString(36).slice(2)}`;
    for (const [file, data] of [
      [`${r.key}.wasm`, bytes],
      [`${r.key}.json`, JSON.stringify({ ...meta, mac: seal(cacheKey, meta, bytes).toString("hex") })],
    ] as const) {
      const part = path.join(dir, file + tmp);
      try {
        writeFileSync(part, data, { mode: 0o600 });
        renameSync(part, path.join(dir, file));
      } catch (err) {
        // A full disk leaves a partial file: remove it, or it keeps the space.
        rmSync(part, { force: true });
        throw err;
      }
    }
  } catch {
    // The cache is an optimisation; a read-only or full disk must not fail the load.
  }
}

function writeDiskCacheInBackground(dir: string, r: InstrumentResult): void {
  const pending = writeDiskCacheAsync(dir, r).catch(() => {
    // The cache is an optimisation; a read-only or full disk must not fail the load.
  });
  pendingWrites.add(pending);
  void pending.finally(() => pendingWrites.delete(pending));
}

async function writeDiskCacheAsync(dir: string, r: InstrumentResult): Promise<void> {
  const cacheKey = openCache(dir)?.key;
  if (!cacheKey) return;
  const { bytes, ...meta } = r;
  // Sealed and written from one snapshot, taken now: the file holds exactly the bytes the seal covers.
  const input = cacheMacInput(SEAL, [JSON.stringify(meta), bytes]);
  const snapshot = input.subarray(input.length - bytes.length);
  const mac = await cacheMacAsync(cacheKey, input);
  // Write then rename, so a concurrent reader never sees half a file; the module before its meta, which names it.
  const tmp = `.${process.pid}.${Math.random().toString(36).slice(2)}`;
  for (const [file, data] of [
    [`${r.key}.wasm`, snapshot],
    [`${r.key}.json`, JSON.stringify({ ...meta, mac: mac.toString("hex") })],
  ] as const) {
    const part = path.join(dir, file + tmp);
    try {
      await writeFile(part, data, { mode: 0o600 });
      await rename(part, path.join(dir, file));
    } catch (err) {
      // A full disk leaves a partial file: remove it, or it keeps the space.
      await rm(part, { force: true });
      throw err;
    }
  }
}
