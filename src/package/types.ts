/**
 * The plugin package (`.plughost`, docs/catalog.md): one file holding a plugin's manifest, its entry (a component, or
 * a shared library per platform), its declared assets, its signatures and metadata with the sha256 of every file.
 *
 * On disk it is a POSIX ustar archive (readable with `tar tf`), written deterministically: entries sorted by path,
 * mtime/uid/gid fixed, mode 0644, no compression, so the same input gives the same bytes. The archive holds:
 * - `plughost-package.json`: the {@link PackageMetadata} (first entry);
 * - `package.sig`: the {@link PackageSignature} (optional, second entry);
 * - the plugin's files at their paths relative to the plugin directory (`plugin.toml` or `plugin.json`, the entry,
 *   assets, and `plugin.sig` when the plugin is signed, so an installed plugin loads under `signatures.require`).
 */
import type { PluginKind } from "../plugin/manifest.js";

/** The `format` of a package's metadata. */
export const PACKAGE_FORMAT = "plughost-package-v1";
/** The `format` of a package signature, also the first line of its signed statement. */
export const PACKAGE_SIGNATURE_FORMAT = "plughost-package-signature-v1";
/** A package file's extension. */
export const PACKAGE_EXTENSION = ".plughost";
/** The metadata's path inside a package. */
export const PACKAGE_METADATA_FILE = "plughost-package.json";
/** The package signature's path inside a package. */
export const PACKAGE_SIGNATURE_FILE = "package.sig";

/** One plugin file in a package. */
export interface PackageFileInfo {
  /** Path relative to the plugin directory, `/`-separated, no `..`, no leading `/`. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** `sha256-<hex>` of its bytes. */
  sha256: string;
}

/** A dependency as the package records it (from the manifest). */
export interface PackageDependency {
  name: string;
  /** The semver range the manifest asks for. */
  version: string;
  optional?: boolean;
  peer?: boolean;
}

/** A package's metadata (`plughost-package.json`). Everything the catalog shows comes from here. */
export interface PackageMetadata {
  format: typeof PACKAGE_FORMAT;
  name: string;
  version: string;
  kind: PluginKind;
  /** The manifest's path in the package (`plugin.toml` or `plugin.json`). */
  manifest: string;
  /** The entry's path in the package. */
  entry: string;
  /** For a native plugin: the platform its library was built for (`linux-x64`, `process.platform-process.arch`). */
  platform?: string;
  description?: string;
  authors?: string[];
  /** An SPDX expression. */
  license?: string;
  homepage?: string;
  repository?: string;
  keywords: string[];
  categories: string[];
  dependencies: PackageDependency[];
  /** ISO 8601, seconds precision: `SOURCE_DATE_EPOCH` when set, else the newest mtime of the packed files. */
  created: string;
  /** Who packed it: plughost's version (and anything the packer adds). */
  build: { plughost: string; [key: string]: string };
  /** Sum of the files' sizes. */
  size: number;
  /** Every plugin file, sorted by path (not the metadata or `package.sig`). */
  files: PackageFileInfo[];
}

/** A package signature: every field but `signature` repeats the signed statement in clear. */
export interface PackageSignature {
  format: typeof PACKAGE_SIGNATURE_FORMAT;
  /** The key id, as the trust list names it. */
  key: string;
  name: string;
  version: string;
  /** `sha256-<hex>` of the `plughost-package.json` bytes (which list every file's sha256). */
  metadata: string;
  /** base64 of the 64-byte Ed25519 signature over `PACKAGE_SIGNATURE_FORMAT\nname …\nversion …\nmetadata …\n`. */
  signature: string;
}

/** A package read into memory (by `readPackage`, or rebuilt from an OCI artifact's layers). */
export interface PluginPackage {
  metadata: PackageMetadata;
  /** The exact bytes of `plughost-package.json` (the signature covers these). */
  metadataBytes: Uint8Array;
  signature?: PackageSignature;
  /** Plugin files by path (every path of `metadata.files`, nothing else). */
  files: ReadonlyMap<string, Uint8Array>;
  /** `sha256-<hex>` of the package file's bytes as `writePackage` lays them out (what lockfiles pin). */
  digest: string;
}

/** What verifying a package found. */
export interface PackageVerification {
  /** Whether it carried a signature that verified. */
  signed: boolean;
  /** The key id that signed it. */
  key?: string;
  /** The signer's trust level (docs/signatures.md), when signed. */
  level?: string;
}
