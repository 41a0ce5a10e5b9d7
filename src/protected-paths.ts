/**
 * Paths no plugin may be granted: the compile cache (its glue is code the
 * host runs; its key seals it) and plughost's own package directory (the host
 * code itself). An `fs:` grant is refused when, after resolving links, its
 * directory is one of them or contains one; a grant inside the cache is
 * refused too. A grant inside the package directory stays allowed (plugins
 * shipped with it, test fixtures), since it cannot reach the host's code above.
 */
import { existsSync, realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cacheKeyPath } from "./cache-dir.js";
import { parseCapability } from "./capabilities.js";
import { CapabilityDenied } from "./errors.js";

export interface ProtectedPath {
  path: string;
  what: string;
  /** Refuse grants inside it as well as grants that contain it. */
  private: boolean;
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

/** What a registry with this cache directory must keep out of plugins' reach. */
export function protectedPaths(cacheDir: string | undefined): ProtectedPath[] {
  const out: ProtectedPath[] = [{ path: plughostPackageRoot(), what: "plughost's own package directory", private: false }];
  if (cacheDir !== undefined) {
    out.push({ path: realPath(cacheDir), what: "the compile cache", private: true });
    out.push({ path: realPath(cacheKeyPath(cacheDir)), what: "the compile cache's key", private: true });
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
      if (!within(p.path, dir) && !(p.private && within(dir, p.path))) continue;
      throw new CapabilityDenied(
        text,
        `"${text}" would give the plugin access to ${p.what} (${p.path}), which only the host may use; ` +
          `grant a directory that neither contains nor lies inside it` +
          (p.private ? ` (or move the cache with the cacheDir option)` : ""),
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
