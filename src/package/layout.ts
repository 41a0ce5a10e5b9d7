/**
 * A package's byte layout: `plughost-package.json` first, `package.sig` second (when signed), then the plugin files
 * sorted by path, as one deterministic ustar archive. `writePackage` makes the bytes; `packageDigest` hashes the same
 * bytes without building them (what lockfiles pin).
 */
import { createHash } from "node:crypto";
import { serializeSignature } from "./metadata.js";
import { TAR_BLOCK, tarHeader, writeTar, type TarEntry } from "./tar.js";
import { PACKAGE_METADATA_FILE, PACKAGE_SIGNATURE_FILE, type PluginPackage } from "./types.js";

/** The archive's entries for `pkg`, in the package order. */
export function packageEntries(pkg: Pick<PluginPackage, "metadata" | "metadataBytes" | "signature" | "files">): TarEntry[] {
  const entries: TarEntry[] = [{ path: PACKAGE_METADATA_FILE, bytes: pkg.metadataBytes }];
  if (pkg.signature) entries.push({ path: PACKAGE_SIGNATURE_FILE, bytes: serializeSignature(pkg.signature) });
  for (const f of pkg.metadata.files) {
    const bytes = pkg.files.get(f.path);
    if (!bytes) throw new RangeError(`the package lists ${f.path} but holds no bytes for it`);
    entries.push({ path: f.path, bytes });
  }
  return entries;
}

/**
 * The package file's bytes: deterministic, so the same package always gives the same bytes (and digest).
 * @throws `RangeError` when `pkg.files` lacks a file its metadata lists (a package built by hand, not by this module).
 * @example
 *   const pkg = await packPlugin("examples/c/hello");
 *   await writeFile("hello-c-0.1.0.plughost", writePackage(pkg));
 */
export function writePackage(pkg: PluginPackage): Uint8Array {
  return writeTar(packageEntries(pkg));
}

/** `sha256-<hex>` of what `writePackage` would write, hashed entry by entry without building the archive. */
export function packageDigest(pkg: Pick<PluginPackage, "metadata" | "metadataBytes" | "signature" | "files">): string {
  const hash = createHash("sha256");
  for (const e of packageEntries(pkg)) {
    hash.update(tarHeader(e.path, e.bytes.length));
    hash.update(e.bytes);
    const pad = (TAR_BLOCK - (e.bytes.length % TAR_BLOCK)) % TAR_BLOCK;
    if (pad) hash.update(new Uint8Array(pad));
  }
  hash.update(new Uint8Array(2 * TAR_BLOCK));
  return "sha256-" + hash.digest("hex");
}
