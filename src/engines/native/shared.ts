/**
 * What the in-process and the sandboxed native paths share: the callback
 * table (event name → the id the C side assigned), the C ABI's numeric codes,
 * API version packing, and where the built artifacts live.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EngineUnavailable, InvalidPluginBinary, InvocationFailed } from "../../contract/errors.js";
import { checkBuiltApiVersion } from "../../contract/version.js";
import type { ContextError, HostCalls, KeyPage, LogLevel, MessageInfo, MessageOutcome, MetricError, RegisterOutcome, RequestError, RequestOutcome, StateError } from "../engine.js";
import { CONTEXT_ERROR_CODE, MESSAGE_KIND_CODE, METRIC_ERROR_CODE, METRIC_KINDS, REQUEST_ERROR_CODE, STATE_ERROR_CODE, messageStatus, registerStatus } from "../../contract/abi.js";
import { LOG_LEVELS } from "../engine.js";

/** Repository / package root: this file lives in src/engines or dist/engines. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

// ── where the native parts come from ─────────────────────────────────────────
//
// As napi-rs packages do: the prebuilt parts ship in per-platform packages
// (npm/<part>-<platform>/ in the repository), which plughost lists in its
// optionalDependencies; npm installs only the one whose os/cpu/libc match.
// Order: the environment override, the platform package, the repository's
// own build (a checkout after `node scripts/setup.mjs`).

/** The platforms with a prebuilt package (each has npm/wasmtime-<id>/ and npm/native-<id>/). */
export const PREBUILT_PLATFORMS: readonly string[] = ["linux-x64-gnu"];

/** This machine as napi-rs names platforms: os, cpu, libc, and the id used in package names. */
export interface PlatformInfo {
  os: NodeJS.Platform;
  cpu: string;
  /** "glibc" or "musl" on Linux; undefined elsewhere. */
  libc: "glibc" | "musl" | undefined;
  /** `linux-x64-gnu`, `linux-arm64-musl`, `darwin-arm64`, `win32-x64-msvc`, … */
  id: string;
}

let platformCache: PlatformInfo | undefined;

/** glibc or musl, as napi-rs decides it: ldd's text, else the report's glibcVersionRuntime, else its shared objects. */
function linuxLibc(): "glibc" | "musl" {
  try {
    return readFileSync("/usr/bin/ldd", "utf8").includes("musl") ? "musl" : "glibc";
  } catch {
    // no ldd: ask node's diagnostic report (glibc builds record the runtime glibc version)
  }
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string }; sharedObjects?: string[] } | undefined;
  if (report?.header?.glibcVersionRuntime) return "glibc";
  return report?.sharedObjects?.some((f) => f.includes("libc.musl-") || f.includes("ld-musl-")) ? "musl" : "glibc";
}

/** This machine's platform, computed once. */
export function currentPlatform(): PlatformInfo {
  if (platformCache) return platformCache;
  const os = process.platform;
  const cpu = process.arch;
  const libc = os === "linux" ? linuxLibc() : undefined;
  const linuxAbi = (libc === "musl" ? "musl" : "gnu") + (cpu === "arm" ? "eabihf" : ""); // napi-rs: linux-arm-gnueabihf
  const abi = libc ? linuxAbi : os === "win32" ? "msvc" : undefined;
  platformCache = { os, cpu, libc, id: abi ? `${os}-${cpu}-${abi}` : `${os}-${cpu}` };
  return platformCache;
}

/** The npm package that carries `part` ("wasmtime" or "native") for this platform. */
export function platformPackage(part: "wasmtime" | "native", platform: PlatformInfo = currentPlatform()): string {
  return `@plughost/${part}-${platform.id}`;
}

function ownVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/**
 * A file of this platform's `part` package, when that package is installed
 * beside plughost at plughost's own version (another version's binary may not
 * speak this version's protocol). undefined when there is none.
 */
export function platformPackageFile(part: "wasmtime" | "native", file: string): string | undefined {
  const name = platformPackage(part);
  let manifest: string;
  try {
    manifest = createRequire(import.meta.url).resolve(`${name}/package.json`);
  } catch {
    return undefined;
  }
  try {
    const version = (JSON.parse(readFileSync(manifest, "utf8")) as { version?: string }).version;
    const own = ownVersion();
    if (own && version !== own) return undefined;
  } catch {
    return undefined;
  }
  const full = path.join(path.dirname(manifest), file);
  return existsSync(full) ? full : undefined;
}

/** Where one native part was found, and how. */
export interface Located {
  file: string;
  from: "env" | "package" | "repository";
}

/** The environment override, the repository's build (a checkout), then the platform package. */
export function locatePart(envVar: string, part: "wasmtime" | "native", packageFile: string, repoFile: string): Located | undefined {
  const override = process.env[envVar];
  if (override) return { file: override, from: "env" };
  // A checkout's own build wins over an installed platform package: a contributor tests what they built. The
  // published package never contains these paths, so for an installed plughost the platform package is used.
  if (existsSync(repoFile)) return { file: repoFile, from: "repository" };
  const packaged = platformPackageFile(part, packageFile);
  return packaged ? { file: packaged, from: "package" } : undefined;
}

/** What partUnavailable says about one missing part. */
export interface MissingPart {
  engine: string;
  part: "wasmtime" | "native";
  /** "wasmtime addon", "native plugin adapter (plughost_native.node)", … */
  what: string;
  /** The scripts/setup.mjs step that builds it, and what that needs. */
  setupStep: string;
  needs: string;
  /** The variable that points plughost at a build, with its path in a checkout. */
  env: string;
  /** Another way out, when there is one ("or use the v8 engine"). */
  otherwise?: string;
}

/**
 * EngineUnavailable for a native part that is nowhere: names the platform, the
 * package that would provide it, and the two ways to get it.
 */
export function partUnavailable(m: MissingPart): EngineUnavailable {
  const p = currentPlatform();
  const name = platformPackage(m.part, p);
  const version = ownVersion() ?? "<plughost's version>";
  const platform = `${p.os} ${p.cpu}${p.libc ? ` ${p.libc}` : ""}`;
  const prebuilt = PREBUILT_PLATFORMS.includes(p.id)
    ? `it ships in ${name}, an optional dependency of plughost that is not installed here ` +
      `(npm leaves it out with --omit=optional): install it with \`npm install ${name}@${version}\``
    : `no prebuilt package exists for this platform (${name} would provide it; prebuilt: ${PREBUILT_PLATFORMS.join(", ")})`;
  return new EngineUnavailable(
    m.engine,
    `no ${m.what} for this platform (${platform}): ${prebuilt}; or build it from source: in a plughost checkout run ` +
      `\`node scripts/setup.mjs ${m.setupStep}\` (needs ${m.needs}) and set ${m.env}${m.otherwise ? `; ${m.otherwise}` : ""}`,
  );
}

const REPO_ADDON = path.join(PACKAGE_ROOT, "native", "c-adapter", "build", "Release", "plughost_native.node");
const REPO_HELPER = path.join(PACKAGE_ROOT, "native", "sandbox-helper", "build", "plughost-sandbox-helper");

/** The in-process adapter (node-api addon), or undefined when it is nowhere. */
export function locateNativeAddon(): Located | undefined {
  return locatePart("PLUGHOST_NATIVE_ADDON", "native", "plughost_native.node", REPO_ADDON);
}

/** The sandbox helper executable, or undefined when it is nowhere. */
export function locateSandboxHelper(): Located | undefined {
  return locatePart("PLUGHOST_SANDBOX_HELPER", "native", "plughost-sandbox-helper", REPO_HELPER);
}

/** EngineUnavailable for a missing adapter ("addon", trusted plugins) or sandbox helper ("helper", untrusted ones). */
export function nativeUnavailable(which: "addon" | "helper"): EngineUnavailable {
  const needs = "gcc, g++, make and python3; Linux";
  return which === "addon"
    ? partUnavailable({ engine: "native", part: "native", what: "native plugin adapter (plughost_native.node)", setupStep: "native", needs, env: "PLUGHOST_NATIVE_ADDON=<checkout>/native/c-adapter/build/Release/plughost_native.node" })
    : partUnavailable({ engine: "native", part: "native", what: "native sandbox helper (plughost-sandbox-helper)", setupStep: "native", needs, env: "PLUGHOST_SANDBOX_HELPER=<checkout>/native/sandbox-helper/build/plughost-sandbox-helper" });
}

/** The adapter's path (see locateNativeAddon); the repository's path when it is nowhere, so a failed load names it. */
export const ADDON_PATH = locateNativeAddon()?.file ?? REPO_ADDON;
/** The sandbox helper's path (see locateSandboxHelper); the repository's path when it is nowhere. */
export const HELPER_PATH = locateSandboxHelper()?.file ?? REPO_HELPER;

/** plughost.h's PLUGHOST_ERR_DENIED. */
export const ERR_DENIED = registerStatus("denied");

export function registerCode(outcome: RegisterOutcome): number {
  const status = registerStatus(outcome);
  return Number.isInteger(status) ? status : ERR_DENIED; // an outcome outside the WIT (a loose JS HostCalls)
}

export function messageCode(outcome: MessageOutcome<number | undefined>): number {
  if (outcome.ok) return typeof outcome.value === "number" ? outcome.value : 0;
  return messageStatus(outcome.error);
}

export function logLevel(n: number): LogLevel {
  return LOG_LEVELS[n] ?? "error";
}

/** "0.1.0" → (major << 16) | (minor << 8) | patch, as plughost.h's api_version. */
export function packApiVersion(version: string): number {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return 0;
  return ((Number(m[1]) & 0xffff) << 16) | ((Number(m[2]) & 0xff) << 8) | (Number(m[3]) & 0xff);
}

export function unpackApiVersion(v: number): string {
  return `${(v >>> 16) & 0xffff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** A plugin that exports `plugin_api_version` must be built for a compatible API (src/contract/version.ts has the rule). */
export function checkApiVersion(plugin: string, hostVersion: string, pluginApi: number | undefined): void {
  if (pluginApi === undefined) return;
  checkBuiltApiVersion(plugin, unpackApiVersion(pluginApi), hostVersion);
}

interface Slot {
  id: number;
  callback: boolean;
  hook: boolean;
}

/** Event name → the C side's callback id, filled as the plugin registers. */
export class CallbackTable {
  readonly #slots = new Map<string, Slot>();
  readonly #plugin: string;
  readonly #host: HostCalls;

  constructor(plugin: string, host: HostCalls) {
    this.#plugin = plugin;
    this.#host = host;
  }

  /** The plugin asked for `name` (validation is the host's); returns a PLUGHOST_* code. */
  register(name: string, id: number, isHook: boolean): number {
    const code = registerCode(this.#host.registerCallback(name));
    if (code !== 0) return code;
    const slot = this.#slots.get(name) ?? { id, callback: false, hook: false };
    if (isHook) slot.hook = true;
    else slot.callback = true;
    this.#slots.set(name, slot);
    return 0;
  }

  /** The callback id for an event, or InvocationFailed when none was registered. */
  callbackId(name: string): number {
    const slot = this.#slots.get(name);
    if (!slot || !slot.callback) {
      throw new InvocationFailed(name, -1, slot ? "only a hook is registered for this event" : "no callback registered", {
        plugin: this.#plugin,
      });
    }
    return slot.id;
  }

  /** For hooks either a HookFn or a CallbackFn will do. */
  hookId(name: string): number {
    const slot = this.#slots.get(name);
    if (!slot) throw new InvocationFailed(name, -1, "no callback or hook registered", { plugin: this.#plugin });
    return slot.id;
  }

  names(): string[] {
    return [...this.#slots.keys()];
  }
}

/** Message helpers as the C side wants them: plain numbers, never throwing. */
export function hostMessaging(host: HostCalls) {
  return {
    emit: (name: string, data: Uint8Array): number => safe(() => messageCode(host.emit(name, data))),
    send: (target: string, name: string, data: Uint8Array): number => safe(() => messageCode(host.send(target, name, data))),
  };
}

/** plughost.h's PLUGHOST_REQUEST_ERR(code): 1 + the request-error code (0 is an answer). */
export function requestStatus(error: RequestError): number {
  const code = REQUEST_ERROR_CODE[error];
  return code === undefined ? 1 + REQUEST_ERROR_CODE.failed : 1 + code; // an error outside the WIT (a loose JS HostCalls)
}

/** A synchronous request as the addon wants it: the answer's bytes, or PLUGHOST_REQUEST_ERR(code); never throws. */
export function requestSyncAnswer(host: HostCalls, target: string, name: string, data: Uint8Array, timeoutMs: number): Uint8Array | number {
  let outcome: RequestOutcome;
  try {
    outcome = host.requestSync ? host.requestSync(target, name, data, timeoutMs) : { ok: false, error: "unknown-target" };
  } catch {
    outcome = { ok: false, error: "failed" };
  }
  return outcome.ok ? outcome.value : requestStatus(outcome.error);
}

/** An asynchronous request (a sandboxed plugin waits for it): resolves to the answer's bytes or PLUGHOST_REQUEST_ERR(code). */
export async function requestAnswer(host: HostCalls, target: string, name: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array | number> {
  let outcome: RequestOutcome;
  try {
    outcome = host.request ? await host.request(target, name, data, timeoutMs) : { ok: false, error: "unknown-target" };
  } catch {
    outcome = { ok: false, error: "failed" };
  }
  return outcome.ok ? outcome.value : requestStatus(outcome.error);
}

const MI_PARENT = 1;
const MI_SOURCE = 2;
const MI_TARGET = 4;
const MI_HEAD = 28;
const utf8 = new TextEncoder();

/**
 * The envelope in the encoding the addon and the helper decode (native/sandbox-helper/src/protocol.h,
 * ph_message_info_decode): a fixed head, then each string as u32 length, UTF-8 bytes, NUL.
 */
export function encodeMessageInfo(info: MessageInfo): Uint8Array {
  const strings: Uint8Array[] = [];
  if (info.source !== undefined) strings.push(utf8.encode(info.source));
  if (info.target !== undefined) strings.push(utf8.encode(info.target));
  strings.push(utf8.encode(info.eventName));
  for (const [k, v] of info.metadata) strings.push(utf8.encode(k), utf8.encode(v));
  let size = MI_HEAD;
  for (const s of strings) size += 4 + s.length + 1;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  const flags = (info.parentId !== undefined ? MI_PARENT : 0) | (info.source !== undefined ? MI_SOURCE : 0) | (info.target !== undefined ? MI_TARGET : 0);
  view.setUint32(0, flags, true);
  view.setUint32(4, MESSAGE_KIND_CODE[info.kind] ?? 0, true);
  const split = (at: number, n: number): void => {
    view.setUint32(at, n >>> 0, true);
    view.setUint32(at + 4, Math.floor(n / 0x1_0000_0000) >>> 0, true);
  };
  split(8, info.id);
  split(16, info.parentId ?? 0);
  view.setUint32(24, info.metadata.length, true);
  let at = MI_HEAD;
  for (const s of strings) {
    view.setUint32(at, s.length, true);
    out.set(s, at + 4);
    at += 4 + s.length + 1; // the NUL is already 0
  }
  return out;
}

/** `current-message` as the addon and the helper want it: the encoded envelope, or null outside a call; never throws. */
export function currentMessageBytes(host: HostCalls): Uint8Array | null {
  try {
    const info = host.currentMessage?.();
    return info ? encodeMessageInfo(info) : null;
  } catch {
    return null;
  }
}

function safe(f: () => number): number {
  try {
    return f();
  } catch {
    return messageStatus("denied");
  }
}

/**
 * When the registry hands us verified bytes, load exactly those: write them to
 * a private file (the caller removes it once loaded), so the file on disk
 * cannot be swapped between verification and dlopen.
 */
export async function privateCopy(entryPath: string, bytes: Uint8Array | undefined): Promise<{ file: string; cleanup: () => Promise<void> }> {
  if (!bytes) {
    if (!existsSync(entryPath)) throw new InvalidPluginBinary(entryPath, "no such file");
    return { file: entryPath, cleanup: async () => {} };
  }
  const dir = await mkdtemp(path.join(tmpdir(), "plughost-native-"));
  const file = path.join(dir, path.basename(entryPath));
  await writeFile(file, bytes, { mode: 0o644 });
  return { file, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

// ── state and context, as the C side wants them (plughost_host.h) ───────────

/** plughost_host.h's PLUGHOST_NATIVE_KEY_MAX / _VALUE_MAX / _CONTEXT_KEY_MAX / _CONTEXT_VALUE_MAX. */
export const NATIVE_KEY_MAX = 256;
export const NATIVE_VALUE_MAX = 1 << 20;
export const NATIVE_CONTEXT_KEY_MAX = 64;
export const NATIVE_CONTEXT_VALUE_MAX = 1 << 20;

/** plughost.h's PLUGHOST_STATE_ERR(code): -1 - the state-error code. */
export function stateStatus(error: StateError): number {
  const code = STATE_ERROR_CODE[error];
  return -1 - (code === undefined ? STATE_ERROR_CODE.unavailable : code); // outside the WIT: a loose JS HostCalls
}

/** plughost.h's PLUGHOST_CONTEXT_ERR(code): -1 - the context-error code. */
export function contextStatus(error: ContextError): number {
  const code = CONTEXT_ERROR_CODE[error];
  return -1 - (code === undefined ? CONTEXT_ERROR_CODE.denied : code);
}

/**
 * The state and context host calls with the C side's codes (plughost_host.h): a number is a status (0 / 1 as
 * the C function answers, < 0 an error), bytes or a string a value. Never throws; a HostCalls without a member
 * answers `denied`, one that throws `unavailable` (state) or `denied` (context).
 */
export interface NativeStateCalls {
  /** Uint8Array: the value (1); 0: missing; < 0: error. */
  get(key: string): Uint8Array | number;
  set(key: string, value: Uint8Array): number;
  delete(key: string): number;
  exists(key: string): number;
  /** bigint: the new value; number: error. */
  increment(key: string, delta: bigint): bigint | number;
  /** `expected` null: only if missing. */
  cas(key: string, expected: Uint8Array | null, value: Uint8Array): number;
  /** Uint8Array: the page (encodeKeyPage); number: error. */
  listKeys(cursor: string | null, limit: number): Uint8Array | number;
  /** string: the JSON value (1); 0: no value now; < 0: error. */
  contextGet(key: string): string | number;
  contextSet(key: string, json: string): number;
}

const DENIED_STATE = -1 - STATE_ERROR_CODE.denied;
const DENIED_CONTEXT = -1 - CONTEXT_ERROR_CODE.denied;

function guard<T>(fallback: number, run: () => T | number): T | number {
  try {
    return run();
  } catch {
    return fallback;
  }
}

/** The HostCalls' state and context members as NativeStateCalls. */
export function nativeStateCalls(host: HostCalls): NativeStateCalls {
  const unavailable = stateStatus("unavailable");
  const failed = (e: StateError) => stateStatus(e);
  return {
    get: (key) =>
      guard(unavailable, () => {
        if (!host.stateGet) return DENIED_STATE;
        const r = host.stateGet(key);
        return r.ok ? (r.value ?? 0) : failed(r.error);
      }),
    set: (key, value) =>
      guard(unavailable, () => {
        if (!host.stateSet) return DENIED_STATE;
        const r = host.stateSet(key, value);
        return r.ok ? 0 : failed(r.error);
      }) as number,
    delete: (key) =>
      guard(unavailable, () => {
        if (!host.stateDelete) return DENIED_STATE;
        const r = host.stateDelete(key);
        return r.ok ? (r.value ? 1 : 0) : failed(r.error);
      }) as number,
    exists: (key) =>
      guard(unavailable, () => {
        if (!host.stateExists) return DENIED_STATE;
        const r = host.stateExists(key);
        return r.ok ? (r.value ? 1 : 0) : failed(r.error);
      }) as number,
    increment: (key, delta) =>
      guard(unavailable, () => {
        if (!host.stateIncrement) return DENIED_STATE;
        const r = host.stateIncrement(key, delta);
        if (!r.ok) return failed(r.error);
        // The C side holds an int64: a host answering beyond it is refused, not wrapped.
        return r.value === BigInt.asIntN(64, r.value) ? r.value : failed("not-an-integer");
      }),
    cas: (key, expected, value) =>
      guard(unavailable, () => {
        if (!host.stateCompareAndSwap) return DENIED_STATE;
        const r = host.stateCompareAndSwap(key, expected ?? undefined, value);
        return r.ok ? (r.value ? 1 : 0) : failed(r.error);
      }) as number,
    listKeys: (cursor, limit) =>
      guard(unavailable, () => {
        if (!host.stateListKeys) return DENIED_STATE;
        const r = host.stateListKeys(cursor ?? undefined, limit);
        return r.ok ? encodeKeyPage(r.value) : failed(r.error);
      }),
    contextGet: (key) =>
      guard(DENIED_CONTEXT, () => {
        if (!host.contextGet) return DENIED_CONTEXT;
        const r = host.contextGet(key);
        if (!r.ok) return contextStatus(r.error);
        return r.value === undefined ? 0 : r.value;
      }),
    contextSet: (key, json) =>
      guard(DENIED_CONTEXT, () => {
        if (!host.contextSet) return DENIED_CONTEXT;
        const r = host.contextSet(key, json);
        return r.ok ? 0 : contextStatus(r.error);
      }) as number,
  };
}

/**
 * A key page as the C side decodes it (plughost_host.h, PLUGHOST_KEY_PAGE): u32 n_keys, u32 has_cursor, then
 * each key and the cursor as u32 length and UTF-8 bytes.
 */
export function encodeKeyPage(page: KeyPage): Uint8Array {
  const strings = page.keys.map((k) => utf8.encode(k));
  if (page.cursor !== undefined) strings.push(utf8.encode(page.cursor));
  let size = 8;
  for (const s of strings) size += 4 + s.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, page.keys.length, true);
  view.setUint32(4, page.cursor !== undefined ? 1 : 0, true);
  let at = 8;
  for (const s of strings) {
    view.setUint32(at, s.length, true);
    out.set(s, at + 4);
    at += 4 + s.length;
  }
  return out;
}

// ── plugin-defined metrics, as the C side wants them (plughost_host.h) ──────

/**
 * plughost_host.h's PLUGHOST_NATIVE_METRIC_*: the Wasm engines' read bounds (v8/host-imports.ts METRIC_BOUNDS).
 * Bytes of a name, a help text (longer is cut), label names and values; labels per call.
 */
export const NATIVE_METRIC_BOUNDS = { name: 64, help: 1024, labels: 16, labelName: 64, labelValue: 1024 } as const;

/** plughost.h's PLUGHOST_METRIC_ERR(code): -1 - the metric-error code. */
export function metricStatus(error: MetricError): number {
  const code = METRIC_ERROR_CODE[error];
  return -1 - (code === undefined ? METRIC_ERROR_CODE.denied : code);
}

/**
 * The metric host calls with the C side's codes: define answers the id (>= 0), record 0, or < 0 an error. Never
 * throws; a HostCalls without the member (or one that throws) answers `denied`.
 */
export interface NativeMetricCalls {
  /** `kind`: a PlughostMetricKind (0 counter, 1 gauge, 2 histogram); another is invalid-name. */
  define(kind: number, name: string, help: string, labelNames: string[]): number;
  /** `id` as the Wasm engines take it, a u32 (a negative C id is unknown-metric). */
  record(id: number, value: number, labelValues: string[]): number;
}

/** The HostCalls' defineMetric / recordMetric as NativeMetricCalls. */
export function nativeMetricCalls(host: HostCalls): NativeMetricCalls {
  const denied = metricStatus("denied");
  return {
    define: (kind, name, help, labelNames) =>
      guard(denied, () => {
        const k = METRIC_KINDS[kind];
        if (k === undefined) return metricStatus("invalid-name");
        if (!host.defineMetric) return denied;
        const r = host.defineMetric(k, name, help, labelNames);
        if (!r.ok) return metricStatus(r.error);
        // The C side holds an int32 id: a loose HostCalls answering beyond it is refused, not wrapped.
        return Number.isInteger(r.value) && r.value >= 0 && r.value <= 0x7fffffff ? r.value : metricStatus("limit-reached");
      }) as number,
    record: (id, value, labelValues) =>
      guard(denied, () => {
        if (!host.recordMetric) return denied;
        const r = host.recordMetric(id >>> 0, value, labelValues);
        return r.ok ? 0 : metricStatus(r.error);
      }) as number,
  };
}
