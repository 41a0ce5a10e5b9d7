/** What the command modules share: the command shape, usage errors, error text, the package's root and version, reading the host config and loading plugins one by one. */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ParseArgsConfig } from "node:util";
import { capabilityNeeded } from "../plugin/capability-imports.js";
import { CapabilityDenied, MissingImportError, PlughostError } from "../contract/errors.js";
import { HOST_CONFIG_FILES, loadHostConfig, registryOptionsFrom, type HostConfig } from "../runtime/host-config.js";
import { loadManifest, type Manifest } from "../plugin/manifest.js";
import { resolveLoadOrder } from "../plugin/resolve.js";
import type { PluginHandle, PluginRegistry, RegistryOptions } from "../runtime/registry.js";

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  run(values: Record<string, string | boolean | string[] | undefined>, positionals: string[]): Promise<number>;
}

export const jsonOption = { json: { type: "boolean" as const, description: "machine-readable output" } };

export class UsageError extends Error {}
export const usageError = (m: string) => new UsageError(m);

export function describe(err: unknown): string {
  if (err instanceof PlughostError) return `error ${err.code}: ${err.message}`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}

/** How to grant what a capability error names, through this command line and the host config file. */
export function grantHint(err: unknown): string {
  let caps: string[] = [];
  if (err instanceof CapabilityDenied) caps = [err.capability];
  else if (err instanceof MissingImportError) caps = [...new Set(err.imports.map(capabilityNeeded).filter((c): c is string => c !== undefined))];
  if (!caps.length) return "";
  const flags = caps.map((c) => `--grant ${JSON.stringify(c)}`).join(" ");
  const declare = err instanceof MissingImportError ? ` (the plugin must also declare ${caps.length === 1 ? "it" : "them"} in its manifest's capabilities)` : "";
  return `; to grant ${caps.length === 1 ? "it" : "them"}: plughost run ... ${flags}, or "grants": ${JSON.stringify(caps)} in ${HOST_CONFIG_FILES[0]} (--config file)${declare}`;
}

/** The installed package's version (package.json next to dist/). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
}

const utf8 = new TextEncoder();

/** `--event name=data` / `--hook name=data`: the name, and the data as UTF-8 (empty without `=`). */
export function splitEvent(spec: string): { name: string; data: Uint8Array } {
  const i = spec.indexOf("=");
  return i < 0 ? { name: spec, data: new Uint8Array(0) } : { name: spec.slice(0, i), data: utf8.encode(spec.slice(i + 1)) };
}

/** plughost.config.{json,toml} (given, or found in the working directory), if any. */
export async function readHostConfigFile(file: string | undefined): Promise<HostConfig | undefined> {
  const candidate = file ?? HOST_CONFIG_FILES.find((f) => existsSync(f));
  return candidate ? loadHostConfig(path.resolve(candidate)) : undefined;
}

/** The same, as registry options (none without a file). */
export async function readHostConfig(file: string | undefined): Promise<RegistryOptions> {
  const config = await readHostConfigFile(file);
  return config ? registryOptionsFrom(config) : {};
}

/**
 * What `run` and `serve` load: the named plugins (paths, or names found in the host's pluginDirs), or, when none is
 * named, every plugin found in pluginDirs except the lazy ones (`activation`), which the registry activates when
 * one of their events first fires.
 */
export async function pluginTargets(registry: PluginRegistry, named: readonly string[], scanDirs: boolean): Promise<string[]> {
  const found = scanDirs ? await registry.discoverPluginDirs() : [];
  if (named.length === 0) {
    const lazy = new Set(registry.listLazy());
    return found.filter((i) => !lazy.has(i.name)).map((i) => i.manifestPath);
  }
  return named.map((p) => (existsSync(p) ? undefined : found.find((i) => i.name === p)?.manifestPath) ?? path.resolve(p));
}

/**
 * Load `targets` (plugin directories or manifests) in dependency order, one at a time. A target whose manifest or
 * load fails is reported (a JSON line or a line on stderr, with a grant hint for capability errors) and the others
 * still load; with `strict`, the first failure is thrown instead. Returns the handles and the number of failures.
 */
export async function loadEach(
  registry: PluginRegistry,
  targets: readonly string[],
  options: { strict: boolean; json: boolean; loaded?: (h: PluginHandle) => void },
): Promise<{ handles: PluginHandle[]; failures: number }> {
  let failures = 0;
  const failed = (target: string, err: unknown) => {
    if (options.strict) throw err;
    failures++;
    const code = err instanceof PlughostError ? err.code : "E_LOAD_FAILED";
    const message = `${err instanceof Error ? err.message : String(err)}${grantHint(err)}`;
    if (options.json) console.log(JSON.stringify({ loadFailed: target, error: code, message }));
    else console.error(`failed to load ${target}: ${code} ${message}`);
  };
  const manifests: Manifest[] = [];
  for (const t of targets) {
    try {
      manifests.push(await loadManifest(t, { configSchema: "defer" }));
    } catch (err) {
      failed(t, err);
    }
  }
  let ordered: Manifest[];
  try {
    ordered = resolveLoadOrder(manifests);
  } catch {
    ordered = manifests; // each load reports its own unresolved dependency
  }
  const handles: PluginHandle[] = [];
  for (const m of ordered) {
    try {
      const h = await registry.load(m.file);
      handles.push(h);
      options.loaded?.(h);
    } catch (err) {
      failed(m.file, err);
    }
  }
  return { handles, failures };
}
