/**
 * What the in-process and the sandboxed native paths share: the callback
 * table (event name → the id the C side assigned), the C ABI's numeric codes,
 * API version packing, and where the built artifacts live.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidPluginBinary, InvocationFailed } from "../../contract/errors.js";
import { checkBuiltApiVersion } from "../../contract/version.js";
import type { HostCalls, LogLevel, MessageOutcome, RegisterOutcome } from "../engine.js";
import { messageStatus, registerStatus } from "../../contract/abi.js";
import { LOG_LEVELS } from "../engine.js";

/** Repository / package root: this file lives in src/engines or dist/engines. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const ADDON_PATH =
  process.env.PLUGHOST_NATIVE_ADDON ?? path.join(PACKAGE_ROOT, "native", "c-adapter", "build", "Release", "plughost_native.node");
export const HELPER_PATH =
  process.env.PLUGHOST_SANDBOX_HELPER ?? path.join(PACKAGE_ROOT, "native", "sandbox-helper", "build", "plughost-sandbox-helper");

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
