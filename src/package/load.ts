/**
 * Loading a package file directly (`registry.load("x-1.2.0.plughost")`): the package is read, verified against the
 * registry's trust list, and its plugin files extracted once into the registry's cache directory under
 * `packages/<digest>/`, which the registry then loads as a plugin directory (its own signature checks run there too).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rename, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PackageError } from "../contract/errors.js";
import { openCache } from "../runtime/cache-dir.js";
import type { TrustList } from "../plugin/signatures.js";
import { sha256 } from "../plugin/signatures.js";
import { extractPackage } from "./extract.js";
import { readPackageFile } from "./read.js";
import { verifyPackage } from "./sign.js";
import { PACKAGE_EXTENSION, type PluginPackage } from "./types.js";

/** Whether `pathOrDir` names a package file (by its extension) rather than a plugin directory or manifest. Never throws. */
export function isPackagePath(pathOrDir: string): boolean {
  return pathOrDir.endsWith(PACKAGE_EXTENSION);
}

/**
 * Why a native package cannot run on this host (its library was built for another platform), or undefined when it
 * can (or is a component, which runs anywhere). Never throws.
 */
export function platformProblem(pkg: PluginPackage): string | undefined {
  const here = `${process.platform}-${process.arch}`;
  if (pkg.metadata.kind !== "native" || pkg.metadata.platform === undefined || pkg.metadata.platform === here) return undefined;
  return `its native library was built for ${pkg.metadata.platform}, and this host is ${here}; get the package built for ${here}`;
}

/** Whether `dir` holds exactly the package's files with their digests (an earlier extraction, intact). */
async function extractedIntact(pkg: PluginPackage, dir: string): Promise<boolean> {
  for (const f of pkg.metadata.files) {
    try {
      const target = path.join(dir, ...f.path.split("/"));
      if (!(await stat(target)).isFile()) return false;
      if (sha256(await readFile(target)) !== f.sha256) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Read and verify the package `file`, extract it (once per digest) and return the plugin directory to load.
 * @param cacheDir the registry's cache directory; undefined extracts into a fresh temporary directory instead.
 * @throws {@link PackageError} / {@link PackageVerificationError} as `readPackageFile` and `verifyPackage` do, and a
 *   `PackageError` for a native package built for another platform.
 * @throws {@link CacheUnsafe} when the cache directory is not private to this user.
 */
export async function materializePackage(file: string, cacheDir: string | undefined, trust: TrustList | undefined): Promise<string> {
  const pkg = await readPackageFile(path.resolve(file));
  verifyPackage(pkg, trust, { file });
  const wrongPlatform = platformProblem(pkg);
  if (wrongPlatform) throw new PackageError(file, wrongPlatform, { plugin: pkg.metadata.name });
  const root = cacheDir !== undefined ? openCache(cacheDir, pkg.metadata.name)?.dir : undefined;
  if (root === undefined) return extractToTemp(pkg);
  const target = path.join(root, "packages", pkg.digest.slice("sha256-".length));
  if (await extractedIntact(pkg, target)) return target;
  // Extract beside it, then rename into place: a reader never sees a half-written directory.
  const temp = `${target}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    await extractPackage(pkg, temp);
  } catch {
    // A read-only or full cache: it is only an optimisation, so extract where a cache-less load does
    // (a package that cannot be extracted at all fails there too, with its own error).
    await rm(temp, { recursive: true, force: true }).catch(() => undefined);
    return extractToTemp(pkg);
  }
  await rm(target, { recursive: true, force: true }).catch(() => undefined);
  try {
    await rename(temp, target);
  } catch {
    await rm(temp, { recursive: true, force: true }).catch(() => undefined);
    // Another load extracted the same package meanwhile: use it if intact; otherwise the cache is not usable now.
    if (!(await extractedIntact(pkg, target))) return extractToTemp(pkg);
  }
  return target;
}

/** Extract into a fresh private temporary directory (no cache, or one that cannot be written). */
async function extractToTemp(pkg: PluginPackage): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "plughost-package-"));
  await extractPackage(pkg, path.join(dir, "plugin"));
  return path.join(dir, "plugin");
}
