/** Paths of plugins built from source by `npm run setup`, and small test utilities. */
import { existsSync, mkdtempSync, cpSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import type { HostCalls } from "../../src/engines/engine.js";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Directory of a built plugin; fails loudly when the set-up has not built it. */
export function pluginDir(rel: string): string {
  const dir = path.join(root, rel);
  if (!existsSync(path.join(dir, "plugin.wasm"))) {
    throw new Error(`${rel}/plugin.wasm is missing: run \`node scripts/setup.mjs\` (npm test does) to build the guests`);
  }
  return dir;
}

export const silentLogger = () => pino({ level: "silent" });

/** Host calls that accept everything and keep nothing: for tests that load a plugin on an engine directly. */
export function silentHost(): HostCalls {
  return {
    log() {},
    registerCallback: () => "ok",
    emit: () => ({ ok: true, value: 0 }),
    send: () => ({ ok: true, value: undefined }),
    getConfig: () => "{}",
    getConfigValue: () => undefined,
  };
}

export const enc = (s: string) => new TextEncoder().encode(s);
export const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Copy a plugin directory to a temp dir, optionally rewriting its manifest. */
export function copyPlugin(rel: string, manifest?: (text: string) => string): string {
  const src = pluginDir(rel);
  const dir = mkdtempSync(path.join(tmpdir(), "plughost-test-"));
  cpSync(src, dir, { recursive: true });
  if (manifest) {
    const file = path.join(dir, "plugin.toml");
    writeFileSync(file, manifest(readFileSync(file, "utf8")));
  }
  return dir;
}
