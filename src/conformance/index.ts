/**
 * The conformance suite: every language's conformance plugin
 * (guest-sdks/CONFORMANCE.md) through every case, on one engine.
 *
 * Each case loads the plugin through the public `PluginRegistry` (one case,
 * one fresh registry, so a failure never leaks into the next case) and checks
 * what the contract promises: statuses, logs, hook bytes, typed errors,
 * violations and recovery. `plughost conformance` prints the result as a
 * language × case matrix.
 */
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, copyFileSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { pino } from "pino";
import { effectiveCapabilities } from "../plugin/capabilities.js";
import { defaultCacheDir } from "../runtime/cache-dir.js";
import type { EngineInstance, HostCalls, LogLevel } from "../engines/engine.js";
import { getEngine } from "../engines/index.js";
import { PlughostError } from "../contract/errors.js";
import { loadManifest, type Manifest } from "../plugin/manifest.js";
import { PluginRegistry, type PluginHandle, type RegistryOptions } from "../runtime/registry.js";
import { HOST_WIT_VERSION } from "../contract/version.js";
import type { Message } from "../messaging/envelope.js";
import type { CallOptions } from "../runtime/calls.js";
import { buildCacheDir, buildPlugin, type GuestLanguage } from "../cli/build.js";

export type ConformanceEngine = "v8" | "wasmtime";

/** The cases, in the order they run and print. */
export const CONFORMANCE_CASES = [
  "init-teardown",
  "api-version",
  "register-callback",
  "log-levels",
  "event-dispatch",
  "payload-empty",
  "payload-1mib",
  "utf8",
  "error-results",
  "trap",
  "fuel",
  "memory-cap",
  "capability-denial",
  "reinstantiation",
  "plugin-metrics",
  "request-service",
  "request-denied",
  "current-message",
  "suspend-resume",
  "state",
  "context",
  "config-changed",
  "handoff",
] as const;
export type ConformanceCase = (typeof CONFORMANCE_CASES)[number];

/** The languages with an SDK, each with `examples/<lang>/conformance`. */
export const CONFORMANCE_LANGUAGES = ["c", "js", "rust", "go"] as const;

/** The callbacks CONFORMANCE.md's init registers, in order. */
export const CONFORMANCE_CALLBACKS = [
  "echo", "sum", "fail", "log", "register", "trap", "spin", "grow", "read-file", "emit", "counter", "upper", "metric", "request", "message",
  "state", "context", "config", "remember", "recall",
];

export interface ConformanceTarget {
  /** Column label, e.g. "rust". */
  language: string;
  /** The plugin directory (its manifest names the plugin `conformance-<language>`). */
  dir: string;
}

export interface CaseResult {
  language: string;
  plugin: string;
  case: ConformanceCase;
  ok: boolean;
  ms: number;
  /** What went wrong, when not ok. */
  error?: string;
}

export interface ConformanceReport {
  engine: ConformanceEngine;
  hostApiVersion: string;
  languages: string[];
  cases: ConformanceCase[];
  /** matrix[case][language]: "pass" or "fail". */
  matrix: Record<string, Record<string, "pass" | "fail">>;
  results: CaseResult[];
  passed: number;
  failed: number;
  ok: boolean;
  ms: number;
}

export interface ConformanceOptions {
  engine?: ConformanceEngine;
  /** Plugins to check; default: the four languages' examples. */
  targets?: readonly ConformanceTarget[];
  /** A subset of the cases; default: all. */
  cases?: readonly ConformanceCase[];
  /** Compile cache for the registries (default: the registry's default). */
  cacheDir?: string | false;
  /** Called as each result comes in (for progress output). */
  onResult?: (result: CaseResult) => void;
  /** Called before a conformance plugin is built into the build cache (its first use from an installed package). */
  onBuild?: (language: string, dir: string) => void;
}

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * The SDKs' conformance plugins shipped with this package (examples/<lang>/conformance: the sources; a checkout's
 * set-up also builds them in place). `languages` selects some of the four.
 */
export function defaultConformanceTargets(root: string = packageRoot, languages: readonly string[] = CONFORMANCE_LANGUAGES): ConformanceTarget[] {
  return languages.map((language) => ({ language, dir: path.join(root, "examples", language, "conformance") }));
}

/** A target for a plugin directory: the language is the manifest name without `conformance-`. */
export async function conformanceTargetFor(dir: string): Promise<ConformanceTarget> {
  const m = await loadManifest(path.resolve(dir), { checkEntry: false });
  return { language: m.name.replace(/^conformance-/, ""), dir: path.resolve(dir) };
}

export async function runConformance(options: ConformanceOptions = {}): Promise<ConformanceReport> {
  const started = performance.now();
  const engine = options.engine ?? "v8";
  const targets = options.targets ?? defaultConformanceTargets();
  const cases = options.cases ?? CONFORMANCE_CASES;
  const results: CaseResult[] = [];
  for (const target of targets) {
    const prepared = await prepare(target, options.onBuild);
    for (const name of cases) {
      const t0 = performance.now();
      let error: string | undefined;
      if ("error" in prepared) error = prepared.error;
      else {
        const scope = new CaseScope(engine, prepared, options.cacheDir);
        try {
          await CASES[name](scope);
        } catch (err) {
          error = describeFailure(err);
        } finally {
          await scope.close();
        }
      }
      const result: CaseResult = {
        language: target.language,
        plugin: "error" in prepared ? target.language : prepared.manifest.name,
        case: name,
        ok: error === undefined,
        ms: Math.round(performance.now() - t0),
        ...(error !== undefined ? { error } : {}),
      };
      results.push(result);
      options.onResult?.(result);
    }
  }
  const matrix: ConformanceReport["matrix"] = {};
  for (const c of cases) matrix[c] = Object.fromEntries(targets.map((t) => [t.language, "pass" as const]));
  for (const r of results) if (!r.ok) matrix[r.case]![r.language] = "fail";
  const failed = results.filter((r) => !r.ok).length;
  return {
    engine,
    hostApiVersion: HOST_WIT_VERSION,
    languages: targets.map((t) => t.language),
    cases: [...cases],
    matrix,
    results,
    passed: results.length - failed,
    failed,
    ok: failed === 0,
    ms: Math.round(performance.now() - started),
  };
}

/** The matrix as text: one row per case, one column per language, then the failures. */
export function formatConformanceReport(report: ConformanceReport): string {
  const width = Math.max(...report.cases.map((c) => c.length), 4) + 2;
  const col = Math.max(...report.languages.map((l) => l.length), 4) + 2;
  const lines = [`plughost conformance: engine ${report.engine}, host API ${report.hostApiVersion}`, ""];
  lines.push("case".padEnd(width) + report.languages.map((l) => l.padEnd(col)).join("").trimEnd());
  for (const c of report.cases) {
    lines.push(c.padEnd(width) + report.languages.map((l) => (report.matrix[c]?.[l] === "pass" ? "pass" : "FAIL").padEnd(col)).join("").trimEnd());
  }
  lines.push("", `${report.passed} passed, ${report.failed} failed (${(report.ms / 1000).toFixed(1)} s)`);
  const failures = report.results.filter((r) => !r.ok);
  if (failures.length) {
    lines.push("", "failures:");
    for (const f of failures) lines.push(`  ${f.language} / ${f.case}: ${f.error}`);
  }
  return lines.join("\n");
}

// ── per-plugin preparation ───────────────────────────────────────────────

interface Prepared {
  target: ConformanceTarget;
  manifest: Manifest;
  /** Everything the manifest declares, required and optional: the suite grants it all. */
  grants: string[];
  /** A file inside a granted fs:read directory, for `read-file`. */
  readable: string | undefined;
}

async function prepare(target: ConformanceTarget, onBuild?: (language: string, dir: string) => void): Promise<Prepared | { error: string }> {
  let manifest: Manifest;
  let dir = target.dir;
  try {
    manifest = await loadManifest(target.dir, { checkEntry: false });
  } catch (err) {
    return { error: `cannot read the conformance plugin's manifest in ${target.dir}: ${describeFailure(err)}` };
  }
  if (!existsSync(manifest.entryPath)) {
    const shipped = isShippedSource(target);
    if (!shipped) {
      return {
        error: `${manifest.entryPath} is missing: the ${target.language} conformance plugin has not been built; run \`node scripts/setup.mjs\` (npm test does) or \`plughost build ${target.dir}\``,
      };
    }
    // The package ships the sources only: build them once into the build cache, never into the package.
    try {
      dir = await buildIntoCache(target.language as GuestLanguage, target.dir, onBuild);
      manifest = await loadManifest(dir, { checkEntry: false });
    } catch (err) {
      return { error: `cannot build the ${target.language} conformance plugin: ${describeFailure(err)}` };
    }
  }
  const grants = [...manifest.capabilities, ...manifest.optionalCapabilities];
  return { target: { ...target, dir }, manifest, grants, readable: firstReadableFile(grants) };
}

/** True for one of the conformance plugins this package ships as sources (examples/<lang>/conformance). */
function isShippedSource(target: ConformanceTarget): boolean {
  return (CONFORMANCE_LANGUAGES as readonly string[]).includes(target.language) && path.resolve(target.dir) === path.join(packageRoot, "examples", target.language, "conformance");
}

function sourceFiles(dir: string, rel = ""): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true })
    .filter((e) => !e.name.endsWith(".wasm") && e.name !== "target")
    .flatMap((e) => (e.isDirectory() ? sourceFiles(dir, path.join(rel, e.name)) : [path.join(rel, e.name)]))
    .sort();
}

/**
 * Copy a shipped conformance plugin into `<build cache>/conformance/<version>-<hash>/<lang>` and build it there
 * (once: the directory is named after the sources and the SDK, and is renamed into place when complete).
 */
async function buildIntoCache(language: GuestLanguage, src: string, onBuild?: (language: string, dir: string) => void): Promise<string> {
  const version = (JSON.parse(readFileSync(path.join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
  const sdkInputs = [path.join(packageRoot, "wit", "plugin.wit"), path.join(packageRoot, "guest-sdks", language === "c" ? "c/src/plughost_component.c" : language === "js" ? "js/src/index.js" : language === "rust" ? "rust/src/lib.rs" : "go/plughost.go")];
  const hash = createHash("sha256");
  for (const f of sourceFiles(src)) hash.update(f).update("\0").update(readFileSync(path.join(src, f))).update("\0");
  for (const f of sdkInputs) if (existsSync(f)) hash.update(readFileSync(f));
  const dir = path.join(await buildCacheDir(), "conformance", `${version}-${hash.digest("hex").slice(0, 16)}`, language);
  if (existsSync(path.join(dir, "plugin.wasm"))) return dir;
  onBuild?.(language, dir);
  mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = mkdtempSync(`${dir}.tmp-`);
  try {
    cpSync(src, tmp, { recursive: true, filter: (f) => !f.endsWith(".wasm") });
    if (language === "rust") standaloneCrate(tmp);
    await buildPlugin(tmp, language);
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another run finished first: use its copy.
      if (!existsSync(path.join(dir, "plugin.wasm"))) throw err;
    }
    return dir;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The Rust conformance crate is a member of examples/rust's workspace: give the copy its own manifest (the
 * workspace's values, the SDK crate by its path in this package) and the workspace's lockfile.
 */
function standaloneCrate(dir: string): void {
  const inherited: Record<string, string> = { version: '"0.1.0"', edition: '"2021"', license: '"Apache-2.0"', publish: "false" };
  const sdk = JSON.stringify(path.join(packageRoot, "guest-sdks", "rust"));
  let toml = readFileSync(path.join(dir, "Cargo.toml"), "utf8")
    .replace(/^(\w+)\.workspace = true$/gm, (line, key: string) => (key === "plughost" ? `plughost = { path = ${sdk} }` : inherited[key] ? `${key} = ${inherited[key]}` : line));
  toml += '\n[workspace]\n\n[profile.release]\nopt-level = "s"\nlto = true\ncodegen-units = 1\nstrip = true\n';
  writeFileSync(path.join(dir, "Cargo.toml"), toml);
  const lock = path.join(packageRoot, "examples", "rust", "Cargo.lock");
  if (existsSync(lock)) copyFileSync(lock, path.join(dir, "Cargo.lock"));
}

function firstReadableFile(grants: readonly string[]): string | undefined {
  for (const g of grants) {
    const m = /^fs:(?:read|write):(.+)$/.exec(g);
    if (!m?.[1] || !existsSync(m[1])) continue;
    for (const f of readdirSync(m[1]).sort()) {
      const file = path.join(m[1], f);
      if (statSync(file).isFile()) return file;
    }
  }
  return undefined;
}

// ── one case's resources ─────────────────────────────────────────────────

interface LogLine {
  plugin: string;
  level: LogLevel;
  msg: string;
}

const PINO_LEVELS: Record<number, LogLevel> = { 20: "debug", 30: "info", 40: "warn", 50: "error" };

/** A fuel budget on every call unless a case sets its own: a plugin that loops forever fails its case instead of hanging the suite. */
const GUARD_FUEL = 20_000_000_000; // ≈ 10 s of metered work; the JS guest sums 1 MiB in about 2.5e9

class CaseScope {
  readonly engine: ConformanceEngine;
  readonly p: Prepared;
  readonly logs: LogLine[] = [];
  readonly #cacheDir: string | false | undefined;
  readonly #registries: PluginRegistry[] = [];
  readonly #tempDirs: string[] = [];
  readonly #cleanups: (() => Promise<void>)[] = [];

  constructor(engine: ConformanceEngine, p: Prepared, cacheDir: string | false | undefined) {
    this.engine = engine;
    this.p = p;
    this.#cacheDir = cacheDir;
  }

  get name(): string {
    return this.p.manifest.name;
  }

  /** The compile cache the registries use, for loading through an engine directly. */
  get engineCacheDir(): string | undefined {
    return this.#cacheDir === false ? undefined : (this.#cacheDir ?? defaultCacheDir());
  }

  /**
   * A new data directory (persistent state), removed when the case closes. Each registry gets its own unless the
   * case passes one: a host holds its SQLite file, so two open registries cannot share one.
   */
  newDataDir(): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), "plughost-conformance-data-"));
    this.#tempDirs.push(dir);
    return dir;
  }

  /** A registry on the suite's engine that grants the plugin what it declares and records its logs. */
  registry(options: RegistryOptions = {}): PluginRegistry {
    const logs = this.logs;
    const logger = pino(
      { level: "debug" },
      {
        write(line: string) {
          const rec = JSON.parse(line) as { level: number; msg?: string; plugin?: string };
          const level = PINO_LEVELS[rec.level];
          if (level && rec.plugin) logs.push({ plugin: rec.plugin, level, msg: rec.msg ?? "" });
        },
      },
    );
    const registry = new PluginRegistry({
      engine: this.engine,
      logger,
      grants: this.p.grants,
      dataDir: options.dataDir ?? this.newDataDir(),
      ...(this.#cacheDir !== undefined ? { cacheDir: this.#cacheDir } : {}),
      ...options,
      defaultLimits: options.defaultLimits === "unlimited" ? "unlimited" : { fuel: GUARD_FUEL, ...options.defaultLimits },
    });
    this.#registries.push(registry);
    return registry;
  }

  /** A fresh registry with the plugin loaded. */
  async load(options: RegistryOptions = {}): Promise<{ registry: PluginRegistry; plugin: PluginHandle }> {
    const registry = this.registry(options);
    return { registry, plugin: await registry.load(this.p.target.dir) };
  }

  /**
   * The same component under another manifest, written to a temp dir (with a
   * copy of the entry: an entry must lie inside its plugin's directory, so a
   * link to the real one would be refused): for a second instance, another
   * api-version or other capabilities.
   */
  variant(changes: { name?: string; apiVersion?: string; capabilities?: string[]; optionalCapabilities?: string[] }): string {
    const m = this.p.manifest;
    const dir = mkdtempSync(path.join(os.tmpdir(), "plughost-conformance-"));
    this.#tempDirs.push(dir);
    const entry = path.basename(m.entryPath);
    copyFileSync(m.entryPath, path.join(dir, entry));
    const doc = {
      name: changes.name ?? m.name,
      version: m.version,
      "api-version": changes.apiVersion ?? m.apiVersion,
      kind: "component",
      entry,
      capabilities: changes.capabilities ?? m.capabilities,
      "optional-capabilities": changes.optionalCapabilities ?? m.optionalCapabilities,
    };
    writeFileSync(path.join(dir, "plugin.json"), JSON.stringify(doc, null, 2));
    return dir;
  }

  onClose(cleanup: () => Promise<void>): void {
    this.#cleanups.push(cleanup);
  }

  /** Log messages of `plugin` with text `msg`, as levels, once `count` have arrived (off-thread engines log asynchronously). */
  async logged(msg: string, count: number, plugin: string = this.name): Promise<LogLevel[]> {
    const levels = () => this.logs.filter((l) => l.plugin === plugin && l.msg === msg).map((l) => l.level);
    const until = performance.now() + 2000;
    while (levels().length < count && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setImmediate(r)); // and no extra ones
    return levels();
  }

  async close(): Promise<void> {
    for (const c of this.#cleanups) await c().catch(() => undefined);
    for (const r of this.#registries) await r.close().catch(() => undefined);
    for (const d of this.#tempDirs) rmSync(d, { recursive: true, force: true });
  }
}

// ── checks ───────────────────────────────────────────────────────────────

class CheckFailed extends Error {}

function eq(actual: unknown, expected: unknown, what: string): void {
  if (!isDeepStrictEqual(actual, expected)) throw new CheckFailed(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new CheckFailed(what);
}

/** The error a promise rejects with; fails the check when it resolves. */
async function rejection(promise: Promise<unknown>, what: string): Promise<PlughostError> {
  let value: unknown;
  try {
    value = await promise;
  } catch (err) {
    if (!(err instanceof PlughostError)) throw new CheckFailed(`${what}: expected a PlughostError, got ${describeFailure(err)}`);
    return err;
  }
  throw new CheckFailed(`${what}: expected an error, got ${show(value)}`);
}

function show(v: unknown): string {
  if (v instanceof Uint8Array) return v.length > 32 ? `<${v.length} bytes>` : `bytes[${[...v].join(",")}]`;
  const text = JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? show(x) : x));
  return text === undefined ? String(v) : text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function describeFailure(err: unknown): string {
  if (err instanceof CheckFailed) return err.message;
  if (err instanceof PlughostError) return `unexpected ${err.code}: ${err.message}`;
  return `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
}

const enc = (s: string) => new TextEncoder().encode(s);
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
const upperAscii = (b: Uint8Array) => b.map((c) => (c >= 0x61 && c <= 0x7a ? c - 32 : c));
const byteSum = (b: Uint8Array) => b.reduce((a, c) => a + c, 0) % 2 ** 31;

/** Hook output as `{ ok, bytes }` / `{ ok, status }`, comparable whatever buffer type the engine returns. */
async function hook(p: PluginHandle, event: string, data: Uint8Array, options?: CallOptions): Promise<{ ok: true; data: Uint8Array } | { ok: false; status: number }> {
  const r = await p.hook(event, data, options);
  return r.ok ? { ok: true, data: new Uint8Array(r.data) } : r;
}

async function hookBytes(p: PluginHandle, event: string, data: Uint8Array, what: string, options?: CallOptions): Promise<Uint8Array> {
  const r = await hook(p, event, data, options);
  if (!r.ok) throw new CheckFailed(`${what}: expected ok(bytes), got err(${r.status})`);
  return r.data;
}

/** The `request` callback's data: `<target>\n<event>\n<payload>`. */
const ask = (target: string, event: string, payload = "") => enc(`${target}\n${event}\n${payload}`);
const reversed = (b: Uint8Array) => new Uint8Array(b).reverse();

/** The name of the host service the request cases register. */
const SERVICE = "conformance-service";

/** CONFORMANCE.md's envelope text, parsed; a line out of order, unknown or repeated fails the check. */
interface Envelope {
  id: number;
  parent?: number;
  source?: string;
  target?: string;
  event: string;
  kind: string;
  meta: string[];
}
function parseEnvelope(bytes: Uint8Array, what: string): Envelope {
  const text = new TextDecoder().decode(bytes);
  const order = ["id", "parent", "source", "target", "event", "kind", "meta"];
  const fields: Record<string, string> = {};
  const meta: string[] = [];
  let at = 0;
  for (const line of text.split("\n")) {
    const space = line.indexOf(" ");
    const key = space < 0 ? line : line.slice(0, space);
    const index = order.indexOf(key, at);
    if (space < 0 || index < 0 || (key !== "meta" && key in fields)) throw new CheckFailed(`${what}: the envelope text ${show(text)} has a line ${show(line)} out of order or unknown`);
    at = index;
    if (key === "meta") meta.push(line.slice(space + 1));
    else fields[key] = line.slice(space + 1);
  }
  const id = Number(fields.id);
  if (!(Number.isSafeInteger(id) && id > 0) || fields.event === undefined || fields.kind === undefined) throw new CheckFailed(`${what}: the envelope text ${show(text)} lacks id, event or kind`);
  return {
    id,
    ...(fields.parent !== undefined ? { parent: Number(fields.parent) } : {}),
    ...(fields.source !== undefined ? { source: fields.source } : {}),
    ...(fields.target !== undefined ? { target: fields.target } : {}),
    event: fields.event,
    kind: fields.kind,
    meta,
  };
}

/** Deterministic pseudo-random bytes. */
function noise(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let s = seed >>> 0;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** The case's plugin loaded straight through its engine, outside any registry, with `host`; disposed when the case closes. */
async function bareInstance(s: CaseScope, host: HostCalls): Promise<EngineInstance> {
  const engine = await getEngine(s.engine);
  const m = s.p.manifest;
  const instance = await engine.load({
    plugin: m.name,
    entryPath: m.entryPath,
    capabilities: effectiveCapabilities(m.capabilities, m.optionalCapabilities, s.p.grants, m.name),
    limits: { fuel: GUARD_FUEL },
    host,
    ...(s.engineCacheDir ? { cacheDir: s.engineCacheDir } : {}),
  });
  s.onClose(() => instance.dispose());
  return instance;
}

/** A HostCalls that records, for driving an engine instance without a registry. */
function recordingHost(): HostCalls & { registered: string[] } {
  const registered: string[] = [];
  return {
    registered,
    log: () => undefined,
    registerCallback: (name) => (registered.push(name), "ok"),
    emit: () => ({ ok: true, value: 0 }),
    send: () => ({ ok: false, error: "unknown-target" }),
    getConfig: () => "{}",
    getConfigValue: () => undefined,
  };
}

// ── the cases ────────────────────────────────────────────────────────────

const MiB = 1 << 20;

const CASES: Record<ConformanceCase, (s: CaseScope) => Promise<void>> = {
  /** init logs and registers, returns 0; fail-init makes it return -1; teardown logs and returns 0. */
  async "init-teardown"(s) {
    const { registry, plugin } = await s.load();
    eq(plugin.state, "active", "state after load");
    eq(plugin.callbacks, CONFORMANCE_CALLBACKS, "callbacks registered by init");
    eq(await s.logged(`conformance init ${HOST_WIT_VERSION}`, 1), ["info"], "init log");
    await registry.unload(s.name); // a non-zero teardown status would throw TeardownFailed
    eq(registry.info(s.name).state, "unloaded", "state after unload");
    eq(await s.logged("conformance teardown", 1), ["info"], "teardown log");

    const failing = s.registry({ config: { [s.name]: { "fail-init": true } } });
    const err = await rejection(failing.load(s.p.target.dir), "load with fail-init");
    eq(err.code, "E_INITIALIZATION_FAILED", "fail-init error code");
    eq((err as PlughostError & { status?: number }).status, -1, "init status with fail-init");
    eq(err.plugin, s.name, "the error names the plugin");
    eq(failing.info(s.name).state, "unloaded", "state after a failed init");
    eq(failing.info(s.name).callbacks, [], "callbacks after fail-init");
  },

  /** The host refuses a manifest built for another major; the guest refuses a host of another major (-2). */
  async "api-version"(s) {
    const registry = s.registry();
    const err = await rejection(registry.load(s.variant({ apiVersion: "^1.0.0" })), "load of a manifest for api ^1.0.0");
    eq(err.code, "E_API_VERSION_MISMATCH", "error code");
    check(err.message.includes(HOST_WIT_VERSION) && err.message.includes("^1.0.0"), `the error names both versions: ${err.message}`);

    // The guest's own check, through the public engine interface: init("1.0.0") answers -2 and registers nothing.
    const host = recordingHost();
    const instance = await bareInstance(s, host);
    eq(await instance.init("1.0.0", "{}"), -2, "init status for api-version 1.0.0");
    eq(host.registered, [], "callbacks registered by a refused init");
  },

  /** register-callback's result codes: ok, invalid-name, limit-reached; init answers -3 when one is refused. */
  async "register-callback"(s) {
    const { plugin } = await s.load();
    eq(await plugin.invoke("register", enc("late-event")), 0, "register late-event");
    check(plugin.callbacks.includes("late-event"), "late-event is registered");
    eq(await plugin.invoke("late-event"), -100, "a registered event with no case");
    eq(await plugin.invoke("register", enc("bad name!")), 1, 'register "bad name!"');
    eq(await plugin.invoke("register", new Uint8Array()), 1, 'register ""');
    eq(await plugin.invoke("register", enc("x".repeat(129))), 1, "register a 129-byte name");
    eq(await plugin.invoke("register", enc("echo")), 0, "register an already registered name");

    // Room for exactly init's callbacks.
    const full = await s.load({ hostCalls: { maxCallbacks: CONFORMANCE_CALLBACKS.length } });
    eq(await full.plugin.invoke("register", enc("one-more")), 2, "register past the host's limit");
    eq(full.plugin.callbacks.length, CONFORMANCE_CALLBACKS.length, "callbacks after a refused registration");

    const tight = s.registry({ hostCalls: { maxCallbacks: 1 } });
    const err = await rejection(tight.load(s.p.target.dir), "load with room for one callback");
    eq(err.code, "E_INITIALIZATION_FAILED", "error code");
    eq((err as PlughostError & { status?: number }).status, -3, "init status when a registration is refused");
  },

  async "log-levels"(s) {
    const { plugin } = await s.load();
    const text = `conformance log levels from ${s.p.target.language}`;
    eq(await plugin.invoke("log", enc(text)), 0, "log status");
    eq(await s.logged(text, 4), ["debug", "info", "warn", "error"], "levels logged");
  },

  /** dispatch to every subscriber, statuses, the counter, emit between two instances, a hook chain. */
  async "event-dispatch"(s) {
    const registry = s.registry();
    const plugin = await registry.load(s.p.target.dir);
    const peerName = `${s.name}-peer`;
    const peer = await registry.load(s.variant({ name: peerName }));
    eq(await registry.dispatch("echo", new Uint8Array(37)), [
      { plugin: s.name, status: 37 },
      { plugin: peerName, status: 37 },
    ], "dispatch echo (37 bytes)");
    eq(await plugin.invoke("sum", new Uint8Array([255, 255, 1])), 511, "sum [255,255,1]");
    eq(await plugin.invoke("sum", new Uint8Array(70000).fill(255)), 70000 * 255, "sum of 70000 × 255");
    eq(await plugin.invoke("counter"), 1, "counter, first");
    eq(await plugin.invoke("counter"), 2, "counter, second");
    // emit("counter") reaches the peer (never the sender) after the call returns.
    eq(await plugin.invoke("emit", enc("counter")), 1, 'emit "counter": listeners');
    const until = performance.now() + 2000;
    while (peer.metrics.messagesReceived < 1 && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    eq(peer.metrics.messagesReceived, 1, "messages the peer received");
    eq(await peer.invoke("counter"), 2, "peer counter after the message");
    eq(await plugin.invoke("counter"), 3, "sender counter (not re-entered by its own emit)");
    eq(await plugin.invoke("emit", enc("nobody-listens")), 0, 'emit "nobody-listens"');
    eq(await plugin.invoke("emit", enc("bad name!")), -1, 'emit "bad name!" (-1 - invalid-name)');
    const chain = await registry.runHook("upper", enc("abc-xyz"));
    eq({ ok: chain.ok, data: [...chain.data], errors: chain.errors.length }, { ok: true, data: [...enc("ABC-XYZ")], errors: 0 }, "hook chain upper");
  },

  async "payload-empty"(s) {
    const { registry, plugin } = await s.load();
    const empty = new Uint8Array();
    eq(await plugin.invoke("echo", empty), 0, "echo of 0 bytes");
    eq(await plugin.invoke("sum", empty), 0, "sum of 0 bytes");
    eq(await registry.dispatch("echo", empty), [{ plugin: s.name, status: 0 }], "dispatch of 0 bytes");
    eq(await hook(plugin, "echo", empty), { ok: true, data: empty }, "hook echo of 0 bytes");
    eq(await hook(plugin, "upper", empty), { ok: true, data: empty }, "hook upper of 0 bytes");
    eq(await plugin.invoke("grow", empty), 1, "grow without a count");
    eq(await plugin.invoke("counter", empty), 1, "counter still works");
  },

  async "payload-1mib"(s) {
    const { plugin } = await s.load();
    const data = noise(MiB, 1);
    eq(await plugin.invoke("echo", data), MiB, "echo of 1 MiB");
    eq(await plugin.invoke("sum", data), byteSum(data), "sum of 1 MiB");
    eq(await plugin.invoke("sum", new Uint8Array(MiB).fill(255)), (MiB * 255) % 2 ** 31, "sum of 1 MiB of 0xff");
    check(same(await hookBytes(plugin, "echo", data, "hook echo of 1 MiB"), data), "hook echo of 1 MiB returns the same bytes");
    check(same(await hookBytes(plugin, "upper", data, "hook upper of 1 MiB"), upperAscii(data)), "hook upper of 1 MiB uppercases exactly a-z");
    // And again: nothing leaked or corrupted between large calls.
    const again = noise(MiB + 3, 2);
    check(same(await hookBytes(plugin, "echo", again, "second hook echo"), again), "second hook echo of 1 MiB + 3");
  },

  /** Strings cross intact; bytes are bytes, even when they are not UTF-8. */
  async utf8(s) {
    const { plugin } = await s.load();
    const text = "héllo wörld — 日本語 🎉 \u{10FFFF} \uFFFD ok";
    eq(await plugin.invoke("log", enc(text)), 0, "log of multi-byte text");
    eq(await s.logged(text, 4), ["debug", "info", "warn", "error"], "multi-byte text logged intact at each level");
    eq(await hook(plugin, "upper", enc("aé日🎉z")), { ok: true, data: enc("Aé日🎉Z") }, "upper leaves non-ASCII bytes alone");
    eq(await plugin.invoke("sum", enc("é🎉")), byteSum(enc("é🎉")), "sum over UTF-8 bytes");
    const notUtf8 = new Uint8Array([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x8e, 0x61]);
    eq(await hook(plugin, "echo", notUtf8), { ok: true, data: notUtf8 }, "hook echo of invalid UTF-8 bytes");
    eq(await hook(plugin, "upper", notUtf8), { ok: true, data: upperAscii(notUtf8) }, "hook upper of invalid UTF-8 bytes");
    eq(await plugin.invoke("echo", notUtf8), notUtf8.length, "echo of invalid UTF-8 bytes");
    eq(await plugin.invoke("register", enc("héllo")), 1, "register a non-ASCII name");
    eq(await plugin.invoke("register", enc("日本")), 1, "register a CJK name");
  },

  /** Non-zero statuses and err results are answers, not faults: the instance stays. */
  async "error-results"(s) {
    const { plugin } = await s.load();
    eq(await plugin.invoke("counter"), 1, "counter");
    eq(await plugin.invoke("fail", enc("x")), -7, "fail");
    eq(await hook(plugin, "fail", enc("x")), { ok: false, status: -7 }, "hook fail");
    eq(await hook(plugin, "counter", enc("x")), { ok: false, status: -100 }, "hook of a non-hook case");
    eq(await plugin.invoke("upper", enc("x")), -100, "upper as an event");
    const err = await rejection(plugin.invoke("never-registered"), "invoke of an unregistered event");
    eq(err.code, "E_INVOCATION_FAILED", "unregistered event error code");
    eq(await plugin.invoke("counter"), 2, "counter kept its value (no instance was discarded)");
    eq(plugin.metrics.faults, 0, "faults");
    eq(plugin.state, "active", "state");
  },

  /** A trap is a typed error naming the plugin and the export; the fault is recorded. */
  async trap(s) {
    const { registry, plugin } = await s.load();
    const faults: string[] = [];
    registry.on("fault", (f) => faults.push(f.error.code));
    eq(await plugin.invoke("counter"), 1, "counter");
    const err = await rejection(plugin.invoke("trap"), "invoke trap");
    eq(err.code, "E_TRAP", "error code");
    eq(err.plugin, s.name, "the error names the plugin");
    check(/on-event/.test((err as PlughostError & { export?: string }).export ?? ""), `the error names the export: ${err.message}`);
    eq(faults, ["E_TRAP"], "fault events");
    eq(registry.violations(s.name).map((v) => v.kind), ["trap"], "violations");
    eq(plugin.metrics.faults, 1, "faults");
  },

  async fuel(s) {
    const budget = 20_000_000;
    const { registry, plugin } = await s.load({ defaultLimits: { fuel: budget } });
    eq(await plugin.invoke("echo", new Uint8Array(37)), 37, "echo within the budget");
    const err = await rejection(plugin.invoke("spin"), "invoke spin");
    eq(err.code, "E_FUEL_EXHAUSTED", "error code");
    eq((err as PlughostError & { budget?: number }).budget, budget, "the error names the budget");
    eq(err.plugin, s.name, "the error names the plugin");
    eq(registry.violations(s.name).map((v) => v.kind), ["fuel"], "violations");
    eq(await plugin.invoke("echo", new Uint8Array(5)), 5, "echo after the instance was replaced");
  },

  async "memory-cap"(s) {
    const { registry, plugin } = await s.load({ defaultLimits: { memoryBytes: 64 * MiB } });
    eq(await plugin.invoke("grow", u32(16)), 0, "grow 16 MiB under a 64 MiB cap");
    eq(await plugin.invoke("grow", u32(100)), 1, "grow 100 MiB under a 64 MiB cap");
    const kinds = new Set(registry.violations(s.name).map((v) => v.kind));
    eq([...kinds], ["memory"], "violations recorded");
    eq(await plugin.invoke("counter"), 1, "counter after a refused grow (same instance)");
    eq(await plugin.invoke("echo", new Uint8Array(1000)), 1000, "echo after a refused grow");
    eq(plugin.metrics.faults, 0, "a refused grow is not a fault");
  },

  /** A needed capability not granted fails the load; WASI and event capabilities are enforced. */
  async "capability-denial"(s) {
    const m = s.p.manifest;
    const needed = m.capabilities[0];
    if (needed) {
      const without = s.registry({ grants: s.p.grants.filter((g) => g !== needed) });
      const err = await rejection(without.load(s.p.target.dir), `load without ${needed}`);
      eq(err.code, "E_CAPABILITY_DENIED", "error code");
      check(err.message.includes(needed), `the error names ${needed}: ${err.message}`);
    }

    const { plugin } = await s.load();
    const file = s.p.readable;
    if (!file) throw new CheckFailed("the manifest declares no fs:read directory with a file in it, so read-file cannot be checked");
    eq(await plugin.invoke("read-file", enc(file)), 0, `read-file ${file}`);
    eq(await plugin.invoke("read-file", enc(path.join(path.dirname(file), "no-such-file.txt"))), 1, "read-file of a missing file");
    eq(await plugin.invoke("read-file", enc(m.file)), 1, "read-file outside the granted directory");

    // Event capabilities: subscribe only to init's callbacks, publish only "allowed-event".
    const events = [...CONFORMANCE_CALLBACKS.map((e) => `events:subscribe:${e}`), "events:publish:allowed-event"];
    const scoped = s.registry({ grants: [...s.p.grants, ...events], events: "strict" }); // the mode where events:* gate
    const q = await scoped.load(s.variant({ capabilities: [...m.capabilities, ...events] }));
    eq(q.callbacks, CONFORMANCE_CALLBACKS, "callbacks with subscribe capabilities");
    eq(await q.invoke("register", enc("undeclared-event")), 3, "register without events:subscribe");
    eq(await q.invoke("emit", enc("denied-event")), -3, "emit without events:publish (-1 - denied)");
    eq(await q.invoke("emit", enc("allowed-event")), 0, "emit with events:publish");
    eq(scoped.violations(s.name).map((v) => v.kind), ["capability", "capability"], "capability violations");
  },

  /** After a discard, the next call runs on a fresh instance: re-initialised, state lost. */
  async reinstantiation(s) {
    const { registry, plugin } = await s.load();
    let restarted = 0;
    registry.on("restarted", () => restarted++);
    eq(await plugin.invoke("counter"), 1, "counter");
    eq(await plugin.invoke("counter"), 2, "counter");
    await rejection(plugin.invoke("trap"), "invoke trap");
    eq(await plugin.invoke("counter"), 1, "counter on the new instance");
    eq(plugin.state, "active", "state");
    eq(plugin.callbacks, CONFORMANCE_CALLBACKS, "callbacks registered again");
    eq(await s.logged(`conformance init ${HOST_WIT_VERSION}`, 2), ["info", "info"], "init ran again");
    eq([restarted, plugin.metrics.restarts], [1, 1], "restarts");
    check(same(await hookBytes(plugin, "echo", enc("still here"), "hook echo"), enc("still here")), "hook echo after the restart");

    // Unload and load again: a new instance too.
    await registry.unload(s.name);
    const again = await registry.load(s.p.target.dir);
    eq(await again.invoke("counter"), 1, "counter after unload and load");
  },

  /** The plugin's own counter (define-metric, record-metric) in the registry's exposition; refused without `metrics`. */
  async "plugin-metrics"(s) {
    const { registry, plugin } = await s.load();
    eq(await plugin.invoke("metric", enc("alpha")), 0, "metric alpha");
    eq(await plugin.invoke("metric", enc("alpha")), 0, "metric alpha again (the same metric)");
    eq(await plugin.invoke("metric", enc("beta")), 0, "metric beta");
    eq(await plugin.invoke("metric", enc("x".repeat(200))), -3, "a label value over 128 bytes (-1 - invalid-labels)");
    const name = registry.pluginMetrics.exportedName(s.name, "conformance_bytes_total");
    const text = await registry.metricsText();
    const value = (label: string): number | undefined => {
      const line = text.split("\n").find((l) => l.startsWith(`${name}{plugin="${s.name}",event="${label}"} `));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
    };
    eq([value("alpha"), value("beta")], [10, 4], `${name} by event`);

    const without = s.registry({ grants: s.p.grants.filter((g) => g !== "metrics") });
    const q = await without.load(s.p.target.dir);
    eq(await q.invoke("metric", enc("alpha")), -1, "metric without the capability (-1 - denied)");
    eq(without.violations(s.name).map((v) => v.kind), ["capability"], "a capability violation");
  },
  /** request to a host service and to another plugin: answers, the service's view of the message, refusals as codes. */
  async "request-service"(s) {
    const registry = s.registry();
    const plugin = await registry.load(s.p.target.dir);
    const peerName = `${s.name}-peer`;
    await registry.load(s.variant({ name: peerName }));
    const seen: Message[] = [];
    registry.addService(SERVICE, (m) => {
      seen.push(m);
      return reversed(m.data);
    });

    eq(await hook(plugin, "request", ask(SERVICE, "reverse", "hello"), { metadata: { tenant: "t1" } }), { ok: true, data: enc("olleh") }, "hook request to the service");
    eq(seen.length, 1, "requests the service saw");
    const m = seen[0]!;
    eq({ source: m.source, target: m.target, event: m.event, kind: m.kind, data: [...m.data], metadata: { ...m.metadata } },
      { source: s.name, target: SERVICE, event: "reverse", kind: "request", data: [...enc("hello")], metadata: { tenant: "t1" } }, "the message the service saw");
    check(m.parentId !== undefined && m.parentId < m.id, `the request's parent is the hook's message: parentId ${m.parentId}, id ${m.id}`);
    eq(await hook(plugin, "request", ask(SERVICE, "reverse")), { ok: true, data: new Uint8Array() }, "an empty request and answer");
    eq(await hook(plugin, "request", ask(SERVICE, "reverse", "a\nb\nc")), { ok: true, data: enc("c\nb\na") }, "a payload with newlines");
    eq(await plugin.invoke("request", ask(SERVICE, "reverse", "abcd")), 4, "on-event request: the answer's length");
    const big = noise(256 * 1024, 3);
    const bigAnswer = await hookBytes(plugin, "request", new Uint8Array([...ask(SERVICE, "reverse"), ...big]), "a 256 KiB request");
    check(same(bigAnswer, reversed(big)), "a 256 KiB request and answer cross intact");

    // Another plugin answers with its on-hook; its err(status) is rejected.
    eq(await hook(plugin, "request", ask(peerName, "upper", "abc")), { ok: true, data: enc("ABC") }, "request to a plugin (upper)");
    eq(await hook(plugin, "request", ask(peerName, "fail", "x")), { ok: false, status: -9 }, "the target's err(-7) (-1 - rejected)");
    eq(await plugin.invoke("request", ask(peerName, "fail", "x")), -9, "on-event: rejected");

    // Refusals.
    eq(await hook(plugin, "request", ask("nobody-here", "reverse", "x")), { ok: false, status: -2 }, "unknown target (-1 - unknown-target)");
    eq(await hook(plugin, "request", ask(peerName, "never-registered", "x")), { ok: false, status: -3 }, "an event the target did not register (-1 - not-handled)");
    eq(await hook(plugin, "request", ask(SERVICE, "bad name!", "x")), { ok: false, status: -1 }, "an invalid event name (-1 - invalid-name)");
    eq(await hook(plugin, "request", enc("no newline")), { ok: false, status: -100 }, "request data without two newlines");
    eq(seen.length, 5, "requests the service saw (refusals never reach it)");
    eq(plugin.metrics.faults, 0, "faults");
  },

  /** Without events:publish:<event> a request is refused (denied) and recorded; with it, answered. */
  async "request-denied"(s) {
    const m = s.p.manifest;
    const events = [...CONFORMANCE_CALLBACKS.map((e) => `events:subscribe:${e}`), "events:publish:allowed-event"];
    const scoped = s.registry({ grants: [...s.p.grants, ...events], events: "strict" });
    let calls = 0;
    scoped.addService(SERVICE, (msg) => (calls++, reversed(msg.data)));
    const q = await scoped.load(s.variant({ capabilities: [...m.capabilities, ...events] }));
    eq(await hook(q, "request", ask(SERVICE, "reverse", "xy")), { ok: false, status: -4 }, "request without events:publish (-1 - denied)");
    eq(await q.invoke("request", ask(SERVICE, "reverse", "xy")), -4, "on-event request without events:publish");
    eq(calls, 0, "denied requests never reach the service");
    eq(scoped.violations(s.name).map((v) => v.kind), ["capability", "capability"], "capability violations");
    eq(await hook(q, "request", ask(SERVICE, "allowed-event", "xy")), { ok: true, data: enc("yx") }, "request with events:publish");
    eq(calls, 1, "the allowed request reached the service");
    eq(q.state, "active", "a refusal is not a fault");
  },

  /** current-message: the envelope of hooks, events and requests (from the host and from a plugin), with metadata. */
  async "current-message"(s) {
    const registry = s.registry();
    const plugin = await registry.load(s.p.target.dir);
    const peerName = `${s.name}-peer`;
    await registry.load(s.variant({ name: peerName }));

    const first = parseEnvelope(await hookBytes(plugin, "message", enc("x"), "hook message"), "hook message");
    eq({ ...first, id: 0 }, { id: 0, event: "message", kind: "hook", meta: [], ...(first.target !== undefined ? { target: s.name } : {}) }, "a hook's envelope");
    const withMeta = parseEnvelope(await hookBytes(plugin, "message", enc("x"), "hook message with metadata", { metadata: { tenant: "t1", "trace-id": "abc=1" } }), "hook message with metadata");
    eq(withMeta.meta, ["tenant=t1", "trace-id=abc=1"], "the metadata, in order");
    check(withMeta.id > first.id, `ids increase: ${first.id}, then ${withMeta.id}`);
    eq([withMeta.source, withMeta.parent], [undefined, undefined], "a host call has no source and no parent");
    // The host's request: kind request, addressed to the plugin.
    const asked = parseEnvelope(await registry.request(s.name, "message", enc("q"), { metadata: { k: "v" } }), "registry.request message");
    eq({ ...asked, id: 0 }, { id: 0, target: s.name, event: "message", kind: "request", meta: ["k=v"] }, "a host request's envelope");

    // A plugin's request: its source and parent, and the caller's metadata inherited.
    const nested = parseEnvelope(await hookBytes(plugin, "request", ask(peerName, "message"), "request to the peer's message", { metadata: { tenant: "t2" } }), "the peer's envelope");
    eq({ source: nested.source, target: nested.target, event: nested.event, kind: nested.kind, meta: nested.meta },
      { source: s.name, target: peerName, event: "message", kind: "request", meta: ["tenant=t2"] }, "a plugin's request's envelope");
    check(nested.parent !== undefined && nested.parent > asked.id && nested.parent < nested.id, `the request's parent is the caller's hook message: parent ${nested.parent}, id ${nested.id}`);

    // Events: on-event logs the envelope text. invoke is addressed to the plugin; dispatch is a broadcast (no target).
    const loggedEnvelope = async (via: string): Promise<Envelope> => {
      const find = () => s.logs.find((l) => l.plugin === s.name && l.level === "info" && l.msg.startsWith("id ") && l.msg.endsWith(`\nmeta via=${via}`));
      const until = performance.now() + 2000;
      while (find() === undefined && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
      return parseEnvelope(enc(find()?.msg ?? ""), `the envelope ${via} logged`);
    };
    eq(await plugin.invoke("message", enc("e"), { metadata: { via: "invoke" } }), 0, "invoke message");
    eq({ ...(await loggedEnvelope("invoke")), id: 0 }, { id: 0, target: s.name, event: "message", kind: "event", meta: ["via=invoke"] }, "an invoke's envelope");

    // Outside the registry's calls (an engine instance whose host calls have no current-message): none.
    const instance = await bareInstance(s, recordingHost());
    eq(await instance.init(HOST_WIT_VERSION, "{}"), 0, "init on a bare engine instance");
    eq(await instance.onHook("message", enc("x")), { ok: false, status: 1 }, "hook message without an envelope: err(1)");
    eq(await instance.onEvent("message", enc("x")), 1, "on-event message without an envelope: 1");

    // A hook chain is a broadcast: no target (a registry of its own, so that the chain's output is this plugin's).
    const alone = await s.load();
    const chain = await alone.registry.runHook("message", enc("x"), { metadata: { step: "1" } });
    if (!chain.ok) throw new CheckFailed(`runHook message: expected ok, got status ${chain.status} and ${show(chain.errors.map((e) => e.error.message))}`);
    eq(await alone.registry.dispatch("message", enc("d"), { metadata: { via: "dispatch" } }), [{ plugin: s.name, status: 0 }], "dispatch message");
    eq({ ...(await loggedEnvelope("dispatch")), id: 0 }, { id: 0, event: "message", kind: "event", meta: ["via=dispatch"] }, "a dispatch's envelope");
    const step = parseEnvelope(chain.data, "runHook message");
    eq({ ...step, id: 0 }, { id: 0, event: "message", kind: "hook", meta: ["step=1"] }, "a hook chain step's envelope (a broadcast, as dispatch)");

  },

  /** The optional lifecycle exports: suspend and resume are told (logged), calls are refused between, the instance kept. */
  async "suspend-resume"(s) {
    const { registry, plugin } = await s.load();
    eq(await plugin.invoke("counter"), 1, "counter");
    const suspended = registry.suspend(s.name);
    eq(plugin.state, "suspended", "state right after suspend()");
    await suspended;
    eq(await s.logged("conformance suspended", 1), ["info"], "on-suspend log");
    const refused = await rejection(plugin.invoke("counter"), "invoke while suspended");
    eq(refused.code, "E_PLUGIN_NOT_RUNNING", "a call while suspended is refused");
    await registry.resume(s.name);
    eq(plugin.state, "active", "state after resume()");
    eq(await s.logged("conformance resumed", 1), ["info"], "on-resume log");
    eq(await plugin.invoke("counter"), 2, "counter kept its value (the same instance)");
    eq([plugin.metrics.errors, plugin.metrics.faults], [0, 0], "errors and faults (on-suspend and on-resume returned 0)");
  },

  /** The state store: set, get, exists, increment, compare-and-swap, list with a cursor, delete; typed errors; kept across a restart; denied without `state`. */
  async state(s) {
    const { registry, plugin } = await s.load();
    const op = (text: string) => hook(plugin, "state", enc(text));
    const okText = (text: string) => ({ ok: true, data: enc(text) });
    eq(await op("get\nalpha"), { ok: false, status: 1 }, "get of a missing key");
    eq(await op("set\nalpha\none\ntwo"), okText(""), "set alpha (a value with a newline)");
    eq(await op("get\nalpha"), okText("one\ntwo"), "get alpha");
    eq(await op("set\nempty\n"), okText(""), "set an empty value");
    eq(await op("get\nempty"), okText(""), "get an empty value (present, not missing)");
    eq(await op("exists\nalpha"), okText("true"), "exists alpha");
    eq(await op("exists\nbeta"), okText("false"), "exists of a missing key");
    eq(await op("incr\nhits\n5"), okText("5"), "increment of a missing key counts from 0");
    eq(await op("incr\nhits\n-7"), okText("-2"), "a negative increment");
    eq(await op("get\nhits"), okText("-2"), "an increment stores decimal text");
    eq(await op("incr\nalpha\n1"), { ok: false, status: -5 }, "increment of text (-1 - not-an-integer)");
    eq(await op("cas\nlock\n-\nmine"), okText("true"), "compare-and-swap expecting missing, on a missing key");
    eq(await op("cas\nlock\n-\ntheirs"), okText("false"), "compare-and-swap expecting missing, on a present key");
    eq(await op("cas\nlock\n=other\ntheirs"), okText("false"), "compare-and-swap with the wrong expected value");
    eq(await op("cas\nlock\n=mine\ntheirs"), okText("true"), "compare-and-swap with the right expected value");
    eq(await op("get\nlock"), okText("theirs"), "the swapped value");
    // Keys in byte order, two to a page: alpha, empty, hits, lock.
    eq(await op("list\n2\n"), okText("alpha\nempty\nnext empty"), "list, first page");
    eq(await op("list\n2\nempty"), okText("hits\nlock\nend"), "list after the cursor: the last page");
    eq(await op("list\n0\n"), okText("alpha\nempty\nhits\nlock\nend"), "list with the host's default limit");
    eq(await op("delete\nempty"), okText("true"), "delete a present key");
    eq(await op("delete\nempty"), okText("false"), "delete it again");
    eq(await op("exists\nempty"), okText("false"), "exists after delete");
    eq(await op("get\n"), { ok: false, status: -2 }, "an empty key (-1 - invalid-key)");
    eq(await op(`set\n${"k".repeat(257)}\nx`), { ok: false, status: -2 }, "a 257-byte key (-1 - invalid-key)");
    eq(await op("bogus\nalpha"), { ok: false, status: -100 }, "an unknown operation");
    eq(registry.state(s.name).keys(), ["alpha", "hits", "lock"], "the keys the host sees");

    // A restart is a new instance; the state is the host's, so it is still there.
    await registry.restart(s.name);
    eq(await plugin.invoke("counter"), 1, "counter on the restarted instance (memory is gone)");
    eq(await op("get\nlock"), okText("theirs"), "state after a restart");
    eq(await op("incr\nhits\n3"), okText("1"), "increment after a restart");
    eq([plugin.metrics.faults, registry.violations(s.name).length], [0, 0], "faults and violations");

    // Without the capability every operation is denied (and recorded); no key is written.
    const other = s.p.grants.filter((g) => g !== "state");
    const without = s.registry({ grants: other });
    const q = await without.load(s.variant({ name: `${s.name}-stateless`, optionalCapabilities: s.p.manifest.optionalCapabilities.filter((c) => c !== "state") }));
    eq(await hook(q, "state", enc("set\nx\n1")), { ok: false, status: -1 }, "set without the capability (-1 - denied)");
    eq(await hook(q, "state", enc("get\nalpha")), { ok: false, status: -1 }, "get without the capability (-1 - denied)");
    check(without.violations(q.name).length > 0, "a denied state call is a recorded violation");
    eq(without.state(q.name).keys(), [], "nothing was written without the capability");
  },

  /** Context reads: a granted key, a per-call key from the call's context, an app key written and read back; an ungranted key denied. */
  async context(s) {
    const { registry, plugin } = await s.load({ context: { "conformance.note": { schema: { type: "string" }, value: "first" } } });
    const ctx = (text: string, options?: CallOptions) => hook(plugin, "context", enc(text), options);
    const okText = (text: string) => ({ ok: true, data: enc(text) });
    eq(await ctx("host.name"), okText(JSON.stringify(os.hostname())), "host.name (granted: context:host.name)");
    eq(await ctx("request.id"), { ok: false, status: 1 }, "request.id outside a request's context: no value");
    eq(await ctx("request.id", { context: { requestId: "req-42" } }), okText('"req-42"'), "request.id from the call's context");
    eq(await ctx("conformance.note"), okText('"first"'), "an app key's first value (context:write implies read)");
    eq(await ctx('conformance.note="second"'), okText(""), "write an app key (context:write:conformance.note)");
    eq(registry.context.get("conformance.note"), "second", "the host sees the plugin's write");
    eq(await ctx("conformance.note=42"), { ok: false, status: -3 }, "a value the key's schema refuses (-1 - invalid-value)");
    eq(await ctx("conformance.note"), okText('"second"'), "a refused write changes nothing");
    eq(registry.violations(s.name).length, 0, "no violations so far");
    eq(await ctx("user.id"), { ok: false, status: -1 }, "an ungranted key (-1 - denied)");
    eq(await ctx('host.name="x"'), { ok: false, status: -1 }, "a write without context:write (-1 - denied)");
    eq(registry.violations(s.name).map((v) => v.kind), ["capability", "capability"], "the refusals are capability violations");
    eq([plugin.state, plugin.metrics.faults], ["active", 0], "a refusal is not a fault");
  },

  /** setConfig: the plugin's on-config-changed takes a new configuration in place; one it refuses is delivered by a reload. */
  async "config-changed"(s) {
    const { registry, plugin } = await s.load({ config: { [s.name]: { greeting: "hello" } } });
    const config = async (what: string) => JSON.parse(new TextDecoder().decode(await hookBytes(plugin, "config", new Uint8Array(), what))) as unknown;
    eq(await config("config at init"), { greeting: "hello" }, "the configuration init received");
    eq(await plugin.invoke("counter"), 1, "counter");
    const update = await registry.setConfig(s.name, { greeting: "hi", n: 2 });
    eq([update.delivered, update.status], ["callback", 0], "setConfig delivered through on-config-changed");
    eq(await s.logged("conformance config changed", 1), ["info"], "on-config-changed log");
    eq(await config("config after setConfig"), { greeting: "hi", n: 2 }, "the configuration on-config-changed received");
    eq(await plugin.invoke("counter"), 2, "counter kept (the same instance)");

    // A configuration the plugin refuses (status 1) reaches it by a reload: a new instance whose init gets it.
    const refused = await registry.setConfig(s.name, { "reject-change": true });
    eq([refused.delivered, refused.status], ["reload", 1], "a refused configuration is delivered by a reload");
    eq(await s.logged("conformance config rejected", 1), ["info"], "the refusal was logged");
    eq(await s.logged(`conformance init ${HOST_WIT_VERSION}`, 2), ["info", "info"], "init ran again");
    eq(await config("config after the reload"), { greeting: "hi", n: 2, "reject-change": true }, "the reloaded instance's configuration");
    eq(await plugin.invoke("counter"), 1, "counter on the reloaded instance");
    eq(registry.get(s.name).state, "active", "state after the reload");

    // An invalid update (here: a plugin that fails init with it) leaves the old configuration and instance.
    await rejection(registry.setConfig(s.name, { "reject-change": true, "fail-init": true }), "setConfig that makes init fail");
    eq(await plugin.invoke("counter"), 2, "the old instance kept running");
    eq(await config("config after the failed update"), { greeting: "hi", n: 2, "reject-change": true }, "the old configuration stays");
  },

  /** snapshot/restore: what the plugin remembers crosses a hot reload, a restart and an unload/load; the default is nothing. */
  async handoff(s) {
    const dataDir = s.newDataDir();
    const { registry, plugin } = await s.load({ dataDir });
    const recall = async (what: string) => new TextDecoder().decode(await hookBytes(plugin, "recall", new Uint8Array(), what));
    eq(await recall("recall before anything"), "", "nothing remembered at first");
    eq(await plugin.invoke("remember", enc("carry me")), 8, "remember");
    eq(await plugin.invoke("counter"), 1, "counter");

    await registry.reload(s.name);
    eq(await s.logged("conformance restored 8", 1), ["info"], "restore after a hot reload");
    eq(await recall("recall after a hot reload"), "carry me", "the snapshot survived a hot reload");
    eq(await plugin.invoke("counter"), 1, "counter on the reloaded instance (a new instance)");

    eq(await plugin.invoke("remember", enc("second")), 6, "remember again");
    await registry.restart(s.name);
    eq(await recall("recall after a restart"), "second", "the snapshot survived a restart");

    // Close the host, then load in a new one on the same data: the snapshot is kept with the state.
    await registry.close();
    const again = s.registry({ dataDir });
    const reloaded = await again.load(s.p.target.dir);
    eq(new TextDecoder().decode(await hookBytes(reloaded, "recall", new Uint8Array(), "recall in a new registry")), "second", "the snapshot survived an unload and a new registry");
    eq([plugin.metrics.faults, reloaded.metrics.faults], [0, 0], "faults");

    // A plugin that remembers nothing snapshots nothing: restore is not called.
    const fresh = s.registry();
    await fresh.load(s.variant({ name: `${s.name}-fresh` }));
    await fresh.reload(`${s.name}-fresh`);
    eq(await s.logged("conformance restored 0", 0, `${s.name}-fresh`), [], "no restore after an empty snapshot");
  },
};
