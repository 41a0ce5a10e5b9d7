/**
 * Writing a package's plugin files into a directory (`plughost unpack`, installs, loading a package file). The
 * directory must be new or empty, so nothing already there is overwritten or mixed in.
 */
import { mkdir, open, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { PackageError } from "../contract/errors.js";
import { isWithin } from "../plugin/safe-read.js";
import { unsafePathReason } from "./tar.js";
import type { PluginPackage } from "./types.js";

/**
 * Write the plugin files of `pkg` into `dir` (created if missing; it must be empty), each 0644, with the parent
 * directories the paths need. The package is not verified here: call `verifyPackage` first.
 *
 * @throws {@link PackageError} naming `dir` when it is not empty or not a directory, or a path would land outside it
 *   (also through a link created meanwhile: files are opened with O_EXCL, never followed). On failure nothing is
 *   left: a directory this call created is removed, an empty one given is emptied again.
 * @example
 *   const pkg = await readPackageFile("hello-c-0.1.0.plughost");
 *   verifyPackage(pkg, trust);
 *   await extractPackage(pkg, "plugins/hello-c");
 */
export async function extractPackage(pkg: PluginPackage, dir: string): Promise<void> {
  const root = path.resolve(dir);
  const plugin = pkg.metadata.name;
  let created: string | undefined;
  try {
    created = await mkdir(root, { recursive: true });
    const present = await readdir(root);
    if (present.length > 0) throw new PackageError(root, `is not empty (${present.slice(0, 3).join(", ")}${present.length > 3 ? ", …" : ""}); unpack into a new or empty directory`, { plugin });
  } catch (err) {
    if (err instanceof PackageError) throw err;
    throw new PackageError(root, `cannot be used as the target directory: ${(err as Error).message}`, { plugin, cause: err });
  }
  try {
    await writeFiles(pkg, root);
  } catch (err) {
    // Leave no half-extracted plugin behind in a directory this call made (its first created ancestor included).
    if (created !== undefined) await rm(created, { recursive: true, force: true });
    else for (const name of await readdir(root).catch(() => [])) await rm(path.join(root, name), { recursive: true, force: true }); // it was empty
    throw err;
  }
}

async function writeFiles(pkg: PluginPackage, root: string): Promise<void> {
  const plugin = pkg.metadata.name;
  for (const [rel, bytes] of pkg.files) {
    const why = unsafePathReason(rel);
    const target = path.join(root, ...rel.split("/"));
    if (why || !isWithin(root, target)) throw new PackageError(root, `the package path ${JSON.stringify(rel)} ${why ?? "lands outside the directory"}; refusing to extract`, { plugin });
    try {
      await mkdir(path.dirname(target), { recursive: true });
      // "wx": fails if anything (a file or a planted link) is already there.
      const handle = await open(target, "wx", 0o644);
      try {
        await handle.writeFile(bytes);
      } finally {
        await handle.close();
      }
    } catch (err) {
      throw new PackageError(root, `cannot write ${rel}: ${(err as Error).message}`, { plugin, cause: err });
    }
  }
}
