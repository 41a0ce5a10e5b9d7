/**
 * Compile step of the v8 engine: check the bytes, transpile the component with
 * jco (instantiation mode), and cache the glue and the compiled core modules by
 * content hash, in memory and on disk.
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { mkdir, readFile, writeFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { cacheMac, macMatches, openCache, warnCacheRebuilt, type CacheRoot } from "../../runtime/cache-dir.js";
import { InvalidPluginBinary } from "../../contract/errors.js";
import { checkBuiltApiVersion } from "../../contract/version.js";
import type { TranspileOptions, TranspileResult } from "../../../vendor/jco/index.js";
import type { JcoJob, JcoReply } from "./jco-worker.js";

/** The `instantiate` function jco generates in instantiation mode. */
export type GlueInstantiate = (
  getCoreModule: (name: string) => WebAssembly.Module | Promise<WebAssembly.Module>,
  imports: Record<string, unknown>,
  instantiateCore: (module: WebAssembly.Module, imports?: WebAssembly.Imports) => Promise<WebAssembly.Instance>,
) => Promise<unknown>;

export interface CompiledComponent {
  /** sha256 of the component bytes, hex. */
  hash: string;
  instantiate: GlueInstantiate;
  /** The verified glue as a data: URL (a worker imports these same bytes). */
  glueUrl: string;
  /** Core module bytes by the file name the glue asks for. */
  coreBytes: ReadonlyMap<string, Uint8Array>;
  /** Imported interfaces, unversioned (e.g. `wasi:cli/stdout`). */
  imports: readonly string[];
  /** Exported interfaces, versioned. */
  exports: readonly string[];
  /** Compiled core modules, keyed by name plus instrumentation key. */
  modules: Map<string, WebAssembly.Module>;
  /** What the instrumenter reported for each rewritten module. */
  rewrites: Map<WebAssembly.Module, ModuleLimits>;
}

/** What the limits runtime needs to know of an instrumented core module (its bytes are not kept). */
export type ModuleLimits = Omit<import("../../instrument/index.js").InstrumentResult, "bytes">;

const GUEST_INTERFACE = "plughost:plugin/guest";
const COMPONENT_PREAMBLE = [0x00, 0x61, 0x73, 0x6d];

const memoryCache = new Map<string, Promise<CompiledComponent>>();

/** Reject what is not a component before jco sees it, with a reason a person can act on. */
export function checkComponentHeader(bytes: Uint8Array, file: string, plugin: string): void {
  if (bytes.length < 8 || COMPONENT_PREAMBLE.some((b, i) => bytes[i] !== b)) {
    throw new InvalidPluginBinary(file, "not a WebAssembly binary (no \\0asm header); the entry must be a .wasm component", { plugin });
  }
  const version = bytes[4]! | (bytes[5]! << 8);
  const layer = bytes[6]! | (bytes[7]! << 8);
  if (layer === 0 && version === 1) {
    throw new InvalidPluginBinary(
      file,
      "is a core WebAssembly module, not a component; wrap it with `wasm-tools component new` (the SDK build scripts do this)",
      { plugin },
    );
  }
  if (layer !== 1) {
    throw new InvalidPluginBinary(file, `unknown WebAssembly layer ${layer} (version ${version})`, { plugin });
  }
}

export function contentHash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Compile (transpile) a component, or return it from cache. Cached glue lives
 * in `<cacheDir>/v8/<hash>/`, sealed with the cache's key (cache-dir.ts) and
 * verified on every read; it is safe to delete.
 */
export function compileComponent(bytes: Uint8Array, options: CompileOptions): Promise<CompiledComponent> {
  checkComponentHeader(bytes, options.file, options.plugin);
  // An unsafe cache directory fails every load that names it, cached in memory or not.
  const cache = options.cacheDir ? openCache(options.cacheDir, options.plugin) : undefined;
  const hash = heldHash(bytes) ?? contentHash(bytes);
  let pending = memoryCache.get(hash);
  if (!pending) {
    pending = compileUncached(bytes, hash, cache, options);
    memoryCache.set(hash, pending);
    pending.catch(() => memoryCache.delete(hash));
    if (bytes.length >= COMPARE_MIN_BYTES) void pending.then((c) => holdIfViewed(c, bytes), () => undefined);
  }
  return pending;
}

/**
 * Large components in the memory cache, by length, whose compiled form views their bytes anyway (its large core
 * modules are subarrays of them), so keeping them here costs no memory. A load of bytes equal to one of these,
 * compared byte for byte (~2 ms for 12.9 MB), takes its hash instead of hashing the bytes again (~10–30 ms).
 */
const heldComponents = new Map<number, { bytes: Uint8Array; hash: string }>();
const COMPARE_MIN_BYTES = 1 << 20;

function heldHash(bytes: Uint8Array): string | undefined {
  const held = bytes.length >= COMPARE_MIN_BYTES ? heldComponents.get(bytes.length) : undefined;
  if (!held || !memoryCache.has(held.hash)) return undefined;
  return Buffer.from(held.bytes.buffer, held.bytes.byteOffset, held.bytes.byteLength).equals(bytes) ? held.hash : undefined;
}

function holdIfViewed(compiled: CompiledComponent, bytes: Uint8Array): void {
  if (memoryCache.has(compiled.hash) && [...compiled.coreBytes.values()].some((b) => b.buffer === bytes.buffer)) {
    heldComponents.set(bytes.length, { bytes, hash: compiled.hash });
  }
}

export interface CompileOptions {
  file: string;
  plugin: string;
  cacheDir?: string | undefined;
  /**
   * Work for the host thread while jco transpiles a component with large core modules on a worker thread: called
   * with those modules' bytes (the v8 engine instruments them then; their compiled glue asks for them later).
   * Called only when the component is transpiled; an exception from it is ignored.
   */
  whileTranspiling?: ((largeModules: readonly Uint8Array[]) => void) | undefined;
}

interface GlueFiles {
  files: Map<string, Uint8Array>;
  /** Files that are core modules embedded in the component, by [offset, length]: the cache keeps only these numbers. */
  refs?: Map<string, [number, number]>;
  imports: string[];
  exports: string[];
}

async function compileUncached(bytes: Uint8Array, hash: string, cache: CacheRoot | undefined, options: CompileOptions): Promise<CompiledComponent> {
  const dir = cache ? path.join(cache.dir, "v8", hash) : undefined;
  const cached = cache && dir ? await readGlue(dir, hash, cache.key, bytes) : undefined;
  const glue = cached ?? (await transpile(bytes, options));
  checkWorld(glue.exports, options);
  if (cache && dir && !cached) await writeGlue(dir, hash, glue, cache.key);

  const raw = glue.files.get("plugin.js");
  if (!raw) throw new InvalidPluginBinary(options.file, "jco produced no glue", { plugin: options.plugin });
  const { url, instantiate } = await importGlue(hash, raw);
  const coreBytes = new Map<string, Uint8Array>();
  for (const [name, data] of glue.files) if (name.endsWith(".wasm")) coreBytes.set(name, data);
  return { hash, instantiate, glueUrl: url, coreBytes, imports: glue.imports, exports: glue.exports, modules: new Map(), rewrites: new Map() };
}

interface GlueModule {
  /** jco's glue as verified (before patchGlue). */
  raw: Uint8Array;
  url: string;
  instantiate: GlueInstantiate;
}

/**
 * Imported glue by component hash, the most recently used last. Node's module map keeps every imported `data:`
 * module for the life of the process anyway; this spares a load whose verified glue is byte-identical to one
 * imported before the patch, the base64 `data:` URL and the import (~0.1–0.3 ms for a C plugin's 146 KB glue).
 * The bytes decide, not the hash alone. Kept across `clearCompileCache`, as Node's module map is.
 */
const glueModules = new Map<string, GlueModule>();
const GLUE_MODULES = 32;

async function importGlue(hash: string, raw: Uint8Array): Promise<GlueModule> {
  const known = glueModules.get(hash);
  if (known && Buffer.from(known.raw.buffer, known.raw.byteOffset, known.raw.byteLength).equals(raw)) {
    glueModules.delete(hash); // refresh its place in the LRU order
    glueModules.set(hash, known);
    return known;
  }
  const js = patchGlue(raw);
  // Import the verified bytes themselves, never a path: a file could change
  // between the check and the import.
  const url = `data:text/javascript;base64,${Buffer.from(js.buffer, js.byteOffset, js.byteLength).toString("base64")}`; // a view: no copy of the glue
  const mod = (await import(url)) as { instantiate: GlueInstantiate };
  const glue: GlueModule = { raw: new Uint8Array(raw), url, instantiate: mod.instantiate }; // a copy: no one else can change it
  glueModules.delete(hash);
  glueModules.set(hash, glue);
  if (glueModules.size > GLUE_MODULES) glueModules.delete(glueModules.keys().next().value!);
  return glue;
}

const PROMISING_CALL = "WebAssembly.promising(";
const PROMISING_SHIM = "__plughostPromising(";

/**
 * The glue wraps each post-return and realloc in `try { WebAssembly.promising(f) } catch { f }`. Node 20 has no
 * `WebAssembly.promising`, and the TypeError's message ("... is not a function") re-parses the enclosing function,
 * which is most of the glue: ~3 ms per wrap, ~40 ms per instantiation of a componentize-js plugin. The shim gives
 * the same result (the function itself) without the throw, and calls the real one where the engine has it.
 * Applied to the verified bytes in memory (the cache keeps jco's output as sealed).
 */
export function patchGlue(js: Uint8Array): Uint8Array {
  const buf = Buffer.from(js.buffer, js.byteOffset, js.byteLength);
  let at = buf.indexOf(PROMISING_CALL_BYTES);
  if (at < 0) return js;
  // Spliced as bytes (both strings are ASCII): the same output as decoding, replacing and encoding the text, in
  // a quarter of the time (~0.1 ms instead of ~0.4 ms for a C plugin's 146 KB glue, on every cached load).
  const parts: Buffer[] = [];
  let from = 0;
  while (at >= 0) {
    parts.push(buf.subarray(from, at), PROMISING_SHIM_BYTES);
    from = at + PROMISING_CALL_BYTES.length;
    at = buf.indexOf(PROMISING_CALL_BYTES, from);
  }
  parts.push(buf.subarray(from), PROMISING_SHIM_FUNCTION);
  return Buffer.concat(parts);
}

const PROMISING_CALL_BYTES = Buffer.from(PROMISING_CALL);
const PROMISING_SHIM_BYTES = Buffer.from(PROMISING_SHIM);
const PROMISING_SHIM_FUNCTION = Buffer.from(
  `\n// plughost (compile.ts patchGlue)\nfunction __plughostPromising(f) { return typeof WebAssembly.promising === "function" ? WebAssembly["promising"](f) : f; }\n`,
);

const TRANSPILE_OPTIONS: TranspileOptions = { name: "plugin", instantiation: "async", emitTypescriptDeclarations: false, base64Cutoff: Number.MAX_SAFE_INTEGER };

async function transpile(bytes: Uint8Array, options: CompileOptions): Promise<GlueFiles> {
  const { transpileBytes } = await import("../../../vendor/jco/index.js");
  const run = (component: Uint8Array) => transpileBytes(component, TRANSPILE_OPTIONS);
  const stubbed = stubLargeModules(bytes);
  if (stubbed) {
    // V8 validates the code jco no longer reads, on its own threads while jco runs on this one; a module it refuses
    // goes through jco whole, below, which says what is wrong.
    const valid = Promise.all(stubbed.modules.map((m) => WebAssembly.compile(m.original as Uint8Array<ArrayBuffer>))).then(() => true, () => false);
    // jco on a worker thread, while this one does the caller's work on the large modules (instrumenting them).
    const offThread = options.whileTranspiling ? transpileOffThread(stubbed.component) : undefined;
    if (offThread) {
      try {
        options.whileTranspiling!(stubbed.modules.map((m) => m.original));
      } catch {
        // the caller meets the same problem again when it needs the module, and reports it then
      }
    }
    const stubResult = offThread ? offThread.catch((err: unknown) => (err instanceof JcoWorkerGone ? run(stubbed.component) : Promise.reject(err))) : run(stubbed.component);
    try {
      const result = await stubResult;
      if (!(await valid)) throw new Error("a core module does not validate");
      const files = glueFiles(result.files);
      // jco emits each embedded core module unchanged; put the real ones back where the stubs came out.
      const outputs = [...files].filter(([name]) => name.endsWith(".wasm"));
      const refs = new Map<string, [number, number]>();
      const restored = stubbed.modules.every((m) => {
        const hit = outputs.find(([, data]) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).equals(m.stub));
        if (hit) {
          files.set(hit[0], m.original);
          refs.set(hit[0], [m.original.byteOffset - bytes.byteOffset, m.original.byteLength]);
        }
        return hit !== undefined;
      });
      if (restored) return { files, refs, imports: result.imports, exports: result.exports.map(([name]) => name) };
    } catch {
      // invalid, or anything unexpected: the whole component through jco, below
    }
    await valid;
  }
  let result;
  try {
    result = await run(bytes);
  } catch (err) {
    throw new InvalidPluginBinary(options.file, `not a valid component: ${errorText(err)}`, { plugin: options.plugin, cause: err });
  }
  return { files: glueFiles(result.files), imports: result.imports, exports: result.exports.map(([name]) => name) };
}

/** The jco worker stopped (or never started): its job runs on this thread instead. */
class JcoWorkerGone extends Error {}

/** A worker thread for jco, kept while used (jco's own start-up is paid once), ended after `JCO_WORKER_IDLE_MS`. */
interface JcoWorker {
  worker: Worker;
  jobs: Map<number, { resolve: (r: TranspileResult) => void; reject: (err: Error) => void }>;
  idle?: NodeJS.Timeout | undefined;
}

const JCO_WORKER_IDLE_MS = 10_000;
let jcoWorker: JcoWorker | undefined;
let nextJob = 0;

/** From `dist/` the worker is a sibling file; from the TypeScript sources (vitest), the built copy in `dist/`. */
function jcoWorkerPath(): string {
  const here = import.meta.url;
  return fileURLToPath(here.endsWith(".ts") ? new URL("../../../dist/engines/v8/jco-worker.js", here) : new URL("./jco-worker.js", here));
}

function startJcoWorker(): JcoWorker {
  const w: JcoWorker = { worker: new Worker(jcoWorkerPath()), jobs: new Map() };
  const gone = (why: string) => {
    if (jcoWorker === w) jcoWorker = undefined;
    clearTimeout(w.idle);
    for (const job of w.jobs.values()) job.reject(new JcoWorkerGone(why));
    w.jobs.clear();
  };
  w.worker.on("message", (reply: JcoReply) => {
    const job = w.jobs.get(reply.id);
    if (!job) return;
    w.jobs.delete(reply.id);
    if ("result" in reply) job.resolve(reply.result);
    else job.reject(new Error(reply.error));
    if (w.jobs.size === 0) {
      w.worker.unref();
      w.idle = setTimeout(() => void w.worker.terminate(), JCO_WORKER_IDLE_MS).unref();
    }
  });
  w.worker.on("error", (err) => gone(err.message));
  w.worker.on("exit", (code) => gone(`exited with code ${code}`));
  return w;
}

function transpileOffThread(component: Uint8Array): Promise<TranspileResult> {
  try {
    const w = (jcoWorker ??= startJcoWorker());
    clearTimeout(w.idle);
    w.worker.ref();
    const id = nextJob++;
    return new Promise<TranspileResult>((resolve, reject) => {
      w.jobs.set(id, { resolve, reject });
      w.worker.postMessage({ id, component, options: TRANSPILE_OPTIONS } satisfies JcoJob);
    });
  } catch (err) {
    return Promise.reject(new JcoWorkerGone(errorText(err)));
  }
}

function glueFiles(all: Record<string, Uint8Array>): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const [name, data] of Object.entries(all)) {
    if (name === "plugin.js" || name.endsWith(".wasm")) files.set(name, data);
  }
  return files;
}

/** Top-level core modules at least this big are transpiled as stubs (`stubLargeModules`). */
const STUB_MIN_BYTES = 1 << 20;

interface StubbedModule {
  stub: Buffer;
  original: Uint8Array;
}

/** Unsigned LEB128 at `at`: [value, next offset]; throws past the end. */
function readLeb(b: Uint8Array, at: number): [number, number] {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (at >= b.length) throw new RangeError("truncated LEB128");
    const byte = b[at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, at];
  }
  throw new RangeError("LEB128 too long");
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/**
 * jco reads (parses and validates) every byte of a component to generate its glue, though the glue depends only on
 * the core modules' imports and exports, not their code: for a componentize-js plugin (a 12 MB StarlingMonkey
 * module) that is ~0.7 s of a cold load. This gives the component with each large top-level core module replaced
 * by a stub with the same types, imports, functions, tables, memories, globals, exports, start and elements, whose
 * function bodies are `unreachable` and which has no data or custom sections; the stub glue is then used with the
 * real modules. Undefined when there is no large module, or the bytes do not parse as expected.
 */
export function stubLargeModules(bytes: Uint8Array): { component: Uint8Array; modules: StubbedModule[] } | undefined {
  try {
    const parts: Uint8Array[] = [bytes.subarray(0, 8)];
    const modules: StubbedModule[] = [];
    let at = 8;
    while (at < bytes.length) {
      const id = bytes[at]!;
      const [size, body] = readLeb(bytes, at + 1);
      const end = body + size;
      if (end > bytes.length) return undefined;
      if (id === 1 && size >= STUB_MIN_BYTES) {
        const original = bytes.subarray(body, end);
        const stub = stubModule(original);
        if (!stub) return undefined;
        modules.push({ stub, original });
        parts.push(Uint8Array.from([1, ...leb(stub.length)]), stub);
      } else {
        parts.push(bytes.subarray(at, end));
      }
      at = end;
    }
    if (modules.length === 0) return undefined;
    return { component: new Uint8Array(Buffer.concat(parts)), modules };
  } catch {
    return undefined;
  }
}

const CUSTOM = 0;
const CODE = 10;
const DATA = 11;
const DATA_COUNT = 12;
/** A function body (its size, then: no locals, `unreachable`, `end`). */
const STUB_BODY = [3, 0x00, 0x00, 0x0b];

function stubModule(m: Uint8Array): Buffer | undefined {
  if (m.length < 8 || m[0] !== 0 || m[1] !== 0x61 || m[2] !== 0x73 || m[3] !== 0x6d || m[4] !== 1) return undefined;
  const parts: Uint8Array[] = [m.subarray(0, 8)];
  let at = 8;
  while (at < m.length) {
    const id = m[at]!;
    const [size, body] = readLeb(m, at + 1);
    const end = body + size;
    if (end > m.length) return undefined;
    if (id === CODE) {
      const [count] = readLeb(m, body);
      const head = leb(count);
      const bodies = new Uint8Array(count * STUB_BODY.length);
      for (let i = 0; i < count; i++) bodies.set(STUB_BODY, i * STUB_BODY.length);
      parts.push(Uint8Array.from([CODE, ...leb(head.length + bodies.length), ...head]), bodies);
    } else if (id !== CUSTOM && id !== DATA && id !== DATA_COUNT) {
      parts.push(m.subarray(at, end));
    }
    at = end;
  }
  return Buffer.concat(parts);
}

/** The component must export `plughost:plugin/guest` at a compatible version. */
function checkWorld(exports: readonly string[], options: CompileOptions): void {
  const guest = exports.find((e) => e.startsWith(GUEST_INTERFACE + "@"));
  if (!guest) {
    throw new InvalidPluginBinary(
      options.file,
      `is a component of another world: it exports [${exports.join(", ")}] but not ${GUEST_INTERFACE}; build it against wit/plugin.wit (world plughost:plugin/plugin)`,
      { plugin: options.plugin },
    );
  }
  checkBuiltApiVersion(options.plugin, guest.slice(GUEST_INTERFACE.length + 1));
}

const GLUE_SEAL = "plughost-v8-glue-1";
const GLUE_FILE = /^(plugin\.js|[\w.-]+\.wasm)$/;

interface GlueMeta {
  imports: string[];
  exports: string[];
  files: string[];
  /** Large core modules read from the component itself (its bytes hash to the entry's name): name → [offset, length]. */
  refs?: Record<string, [number, number]>;
  mac: string;
}

/**
 * The seal covers the component hash, the metadata (with the refs, when there are any) and every stored file, in
 * order. A referenced module is covered by the hash: it is read from the component bytes that hashed to it.
 */
function sealGlue(key: Buffer, hash: string, glue: GlueFiles, names: readonly string[]): Buffer {
  const refs = glue.refs?.size ? [Object.fromEntries(glue.refs)] : [];
  const parts: (string | Uint8Array)[] = [hash, JSON.stringify([glue.imports, glue.exports, names, ...refs])];
  for (const name of names) parts.push(glue.files.get(name)!);
  return cacheMac(key, GLUE_SEAL, parts);
}

/** The meta's refs, checked against the component (`length` bytes) and the stored file names; throws when malformed. */
function readRefs(meta: GlueMeta, names: readonly string[], length: number): Map<string, [number, number]> | undefined {
  if (meta.refs === undefined) return undefined;
  if (meta.refs === null || typeof meta.refs !== "object") throw new Error("bad refs");
  const refs = new Map<string, [number, number]>();
  for (const [name, at] of Object.entries(meta.refs)) {
    const ok = GLUE_FILE.test(name) && name !== "plugin.js" && !names.includes(name) && Array.isArray(at) && at.length === 2;
    const [off, len] = ok ? at : [-1, -1];
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 8 || len < 8 || off + len > length) throw new Error("bad ref");
    refs.set(name, [off, len]);
  }
  return refs;
}

/**
 * A cache file: small ones with one synchronous read (a pool round trip per step costs more), large ones
 * asynchronously. Anything but a regular file (a FIFO would block the read) is refused as damaged.
 */
async function readCached(file: string): Promise<Buffer> {
  const info = statSync(file);
  if (!info.isFile()) throw new Error(`${file} is not a regular file`);
  return info.size <= 1024 * 1024 ? readFileSync(file) : readFile(file);
}

/**
 * The cached glue, when its seal verifies; otherwise undefined. An entry that
 * exists but does not verify is removed (and reported) so it is rebuilt.
 */
async function readGlue(dir: string, hash: string, key: Buffer, bytes: Uint8Array): Promise<GlueFiles | undefined> {
  let text: string;
  try {
    text = (await readCached(path.join(dir, "meta.json"))).toString("utf8");
  } catch {
    return undefined; // not cached yet
  }
  try {
    const meta = JSON.parse(text) as GlueMeta;
    const names = meta.files;
    if (!Array.isArray(names) || !names.includes("plugin.js") || !names.every((n) => typeof n === "string" && GLUE_FILE.test(n))) {
      throw new Error("bad file list");
    }
    const refs = readRefs(meta, names, bytes.length);
    const files = new Map<string, Uint8Array>();
    for (const name of names) files.set(name, new Uint8Array(await readCached(path.join(dir, name))));
    const glue: GlueFiles = { files, imports: meta.imports, exports: meta.exports, ...(refs ? { refs } : {}) };
    if (macMatches(meta.mac, sealGlue(key, hash, glue, names))) {
      for (const [name, [off, len]] of refs ?? []) files.set(name, bytes.subarray(off, off + len));
      return glue;
    }
  } catch {
    // unreadable or malformed: the same as a bad seal
  }
  warnCacheRebuilt("v8 glue", dir);
  // On a read-only cache the damaged entry stays; it is rebuilt in memory each time and never trusted.
  await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  return undefined;
}

/**
 * Best effort: the cache is an optimisation, so a read-only or full disk (EROFS, ENOSPC, EDQUOT, …) costs the
 * next load a transpile, never this load; whatever was half written is removed.
 */
async function writeGlue(dir: string, hash: string, glue: GlueFiles, key: Buffer): Promise<void> {
  // Write to a temporary directory and rename, so a crash never leaves a half-written entry.
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    // Large embedded core modules are not copied: the component holds them, at the offsets the meta records.
    const names = [...glue.files.keys()].filter((n) => !glue.refs?.has(n)).sort();
    for (const name of names) await writeFile(path.join(tmp, name), glue.files.get(name)!, { mode: 0o600 });
    const meta: GlueMeta = {
      imports: glue.imports,
      exports: glue.exports,
      files: names,
      ...(glue.refs?.size ? { refs: Object.fromEntries(glue.refs) } : {}),
      mac: sealGlue(key, hash, glue, names).toString("hex"),
    };
    await writeFile(path.join(tmp, "meta.json"), JSON.stringify(meta), { mode: 0o600 });
    // A failed rename: another process won the race (its entry is equivalent, and verified when read) or the disk refused.
    await rename(tmp, dir);
  } catch {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n").slice(0, 6).join(" ").slice(0, 600);
}

/** Drop the in-memory compile cache (tests and benchmarks use it to measure cold loads). */
export function clearCompileCache(): void {
  memoryCache.clear();
  heldComponents.clear();
}
