/**
 * Paths no plugin may be granted: the compile cache (its glue is code the
 * host runs; its key seals it), the data directory (every plugin's state), plughost's own package directory and the
 * node_modules directories its dependencies load from (the host's code). An
 * `fs:` grant is refused when, after resolving links, its directory is one of
 * them or contains one. A grant inside the cache is refused too; inside the
 * host's code only `fs:write` is (reading examples or fixtures shipped with
 * the package stays possible).
 */
import { existsSync, realpathSync } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { cacheKeyPath } from "../runtime/cache-dir.js";
import { parseCapability } from "./capabilities.js";
import { CapabilityDenied } from "../contract/errors.js";

export interface ProtectedPath {
  path: string;
  what: string;
  /** Grants inside it that are refused too: any, only `fs:write`, or none (only a grant containing it is refused). */
  inside: "any" | "write" | "none";
}

let packageRoot: string | undefined;

/** The installed package's root: the nearest directory above this module with plughost's package.json. */
export function plughostPackageRoot(): string {
  if (packageRoot === undefined) {
    let dir = path.dirname(fileURLToPath(import.meta.url));
    while (!existsSync(path.join(dir, "package.json")) && dir !== path.dirname(dir)) dir = path.dirname(dir);
    packageRoot = realPath(dir);
  }
  return packageRoot;
}

/** What a registry with this cache directory (and state data directory) must keep out of plugins' reach. */
export function protectedPaths(cacheDir: string | undefined, dataDir?: string): ProtectedPath[] {
  const root = plughostPackageRoot();
  const out: ProtectedPath[] = [{ path: root, what: "plughost's own package directory", inside: "write" }];
  // Where plughost's dependencies load from (installed: the app's node_modules, above the package).
  for (const dir of createRequire(import.meta.url).resolve.paths("plughost") ?? []) {
    if (existsSync(dir) && !within(realPath(dir), root)) out.push({ path: realPath(dir), what: "the node_modules plughost loads its code from", inside: "write" });
  }
  if (cacheDir !== undefined) {
    out.push({ path: realPath(cacheDir), what: "the compile cache", inside: "any" });
    out.push({ path: realPath(cacheKeyPath(cacheDir)), what: "the compile cache's key", inside: "any" });
  }
  // Every plugin's persistent state: a grant of it would read or rewrite other plugins' keys around the quota. Grants
  // inside it stay possible (the context key plugin.data-dir names <dataDir>/plugins/<name>); the database is not.
  if (dataDir !== undefined) {
    out.push({ path: realPath(dataDir), what: "the host's data directory (plugins' persistent state)", inside: "none" });
    for (const file of ["state.db", "state.db-wal", "state.db-shm"]) out.push({ path: realPath(path.join(dataDir, file)), what: "the state database", inside: "any" });
  }
  return out;
}

/** Throw `CapabilityDenied` for the first effective fs capability that reaches a protected path. */
export function checkProtectedGrants(capabilities: readonly string[], protectedList: readonly ProtectedPath[], plugin: string): void {
  for (const text of capabilities) {
    const cap = parseCapability(text, { plugin });
    if (cap.kind !== "fs") continue;
    const dir = realPath(cap.dir);
    for (const p of protectedList) {
      const inside = within(dir, p.path) && (p.inside === "any" || (p.inside === "write" && cap.access === "write"));
      if (!within(p.path, dir) && !inside) continue;
      throw new CapabilityDenied(
        text,
        `"${text}" would give the plugin access to ${p.what} (${p.path}), which only the host may use; ` +
          (p.inside === "none"
            ? "grant a directory inside it (such as the context key plugin.data-dir) or elsewhere, not one that contains it (or move it with the dataDir option)"
            : p.inside === "any"
            ? "grant a directory that neither contains nor lies inside it (or move it with the cacheDir or dataDir option)"
            : "grant a directory that does not contain it, and write access only outside it"),
        { plugin },
      );
    }
  }
}

/** True when `inner` is `outer` or lies below it. */
function within(inner: string, outer: string): boolean {
  const rel = path.relative(outer, inner);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** realpath of the longest existing prefix, plus the rest: links are resolved even for paths not created yet. */
function realPath(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  for (let dir = abs; ; dir = path.dirname(dir)) {
    try {
      return path.join(realpathSync(dir), ...rest.reverse());
    } catch {
      if (dir === path.dirname(dir)) return abs;
      rest.push(path.basename(dir));
    }
  }
}
