/**
 * Reading packages: from a file's bytes (`readPackage`), from a path (`readPackageFile`), or from parts fetched one by
 * one (`packageFromParts`, as the OCI catalog does). All three check the structure (a `PackageError`) and that every
 * file is the one the metadata names (a `PackageVerificationError` "digest"); none checks the signature, which is
 * `verifyPackage`'s job.
 */
import { PackageError, PackageVerificationError } from "../contract/errors.js";
import { readRegularFile, UnsafeFileError } from "../plugin/safe-read.js";
import { sha256 } from "../plugin/signatures.js";
import { packageDigest } from "./layout.js";
import { parseMetadata, parseSignature, serializeSignature } from "./metadata.js";
import { readTar, type TarBounds } from "./tar.js";
import { PACKAGE_METADATA_FILE, PACKAGE_SIGNATURE_FILE, type PackageMetadata, type PackageSignature, type PluginPackage } from "./types.js";

/** The reader's bounds: at most 4096 files, 256 MiB per file, 512 MiB in all; metadata at most 1 MiB. */
export const PACKAGE_BOUNDS: Readonly<TarBounds & { maxMetadataBytes: number; maxSignatureBytes: number }> = Object.freeze({
  maxEntries: 4096,
  maxFileBytes: 256 * 1024 * 1024,
  maxTotalBytes: 512 * 1024 * 1024,
  maxMetadataBytes: 1024 * 1024,
  maxSignatureBytes: 64 * 1024,
});

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** Check the metadata's bounds and that `files` holds exactly its files with their digests. */
function checkFiles(metadata: PackageMetadata, files: ReadonlyMap<string, Uint8Array>, file: string): void {
  if (metadata.files.length > PACKAGE_BOUNDS.maxEntries) throw new PackageError(file, `it lists ${metadata.files.length} files, over the limit of ${PACKAGE_BOUNDS.maxEntries}`);
  if (metadata.size > PACKAGE_BOUNDS.maxTotalBytes) throw new PackageError(file, `its files add up to ${metadata.size} bytes, over the limit of ${PACKAGE_BOUNDS.maxTotalBytes}`);
  const listed = new Set(metadata.files.map((f) => f.path));
  for (const p of files.keys()) {
    if (!listed.has(p)) throw new PackageError(file, `it holds ${p}, which ${PACKAGE_METADATA_FILE} does not list; pack the plugin again`);
  }
  for (const f of metadata.files) {
    const bytes = files.get(f.path);
    if (!bytes) throw new PackageError(file, `${PACKAGE_METADATA_FILE} lists ${f.path}, which the package does not hold; pack the plugin again`);
    const actual = sha256(bytes);
    if (bytes.length !== f.size || actual !== f.sha256) {
      throw new PackageVerificationError(
        "digest",
        `${file}: ${f.path} does not match the package metadata: it is ${bytes.length} bytes with ${actual}, the metadata names ${f.size} bytes with ${f.sha256}. The package was altered or damaged; fetch it again from a trusted source`,
        { plugin: metadata.name },
      );
    }
  }
}

function checkSignatureBytes(bytes: Uint8Array, file: string): PackageSignature {
  if (bytes.length > PACKAGE_BOUNDS.maxSignatureBytes) throw new PackageError(file, `${PACKAGE_SIGNATURE_FILE} is over ${PACKAGE_BOUNDS.maxSignatureBytes} bytes`);
  const signature = parseSignature(bytes, file);
  // Only the canonical spelling: the package digest must be the one writePackage gives.
  if (!sameBytes(bytes, serializeSignature(signature))) throw new PackageError(file, `${PACKAGE_SIGNATURE_FILE} is not in plughost's canonical layout; sign the package again with plughost`);
  return signature;
}

function parseMetadataBytes(bytes: Uint8Array, file: string): PackageMetadata {
  if (bytes.length > PACKAGE_BOUNDS.maxMetadataBytes) throw new PackageError(file, `${PACKAGE_METADATA_FILE} is over ${PACKAGE_BOUNDS.maxMetadataBytes} bytes`);
  return parseMetadata(bytes, file);
}

/**
 * Read a package file's bytes (strict and bounded: see `PACKAGE_BOUNDS`). File bytes are views into `bytes`.
 * @param file names the package in errors (default "<package>").
 * @throws {@link PackageError} for anything that is not a package as `writePackage` lays it out: truncated, links,
 *   directories, `..` or absolute paths, sizes past the bounds, files missing, unlisted or out of order.
 * @throws {@link PackageVerificationError} "digest" when a file's bytes differ from what the metadata names.
 * @example
 *   const pkg = readPackage(await readFile("hello-c-0.1.0.plughost"), "hello-c-0.1.0.plughost");
 *   console.log(pkg.metadata.name, pkg.metadata.version, pkg.digest);
 */
export function readPackage(bytes: Uint8Array, file = "<package>"): PluginPackage {
  const entries = readTar(bytes, file, PACKAGE_BOUNDS);
  const first = entries[0];
  if (!first || first.path !== PACKAGE_METADATA_FILE) {
    throw new PackageError(file, `its first file is ${first ? first.path : "missing"}, not ${PACKAGE_METADATA_FILE}: not a plughost package`);
  }
  const metadata = parseMetadataBytes(first.bytes, file);
  let rest = entries.slice(1);
  let signature: PackageSignature | undefined;
  if (rest[0]?.path === PACKAGE_SIGNATURE_FILE) {
    signature = checkSignatureBytes(rest[0].bytes, file);
    rest = rest.slice(1);
  }
  // The files in the metadata's (sorted) order, nothing else: the layout is canonical.
  rest.forEach((e, i) => {
    const expected = metadata.files[i];
    if (!expected || expected.path !== e.path) {
      throw new PackageError(file, `holds ${e.path} where ${PACKAGE_METADATA_FILE} lists ${expected ? expected.path : "no more files"}; pack the plugin again`);
    }
  });
  const files = new Map(rest.map((e) => [e.path, e.bytes] as const));
  checkFiles(metadata, files, file);
  const pkg: PluginPackage = { metadata, metadataBytes: first.bytes, files, digest: sha256(bytes) };
  if (signature) pkg.signature = signature;
  return pkg;
}

/**
 * Read a package file (a regular file of at most 512 MiB plus headers).
 * @throws {@link PackageError} when the file cannot be read or is not a package; as `readPackage` otherwise.
 */
export async function readPackageFile(file: string): Promise<PluginPackage> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(file, { maxBytes: PACKAGE_BOUNDS.maxTotalBytes + PACKAGE_BOUNDS.maxMetadataBytes + 8 * 1024 * 1024, what: "the package" });
  } catch (err) {
    if (!(err instanceof UnsafeFileError)) throw err;
    throw new PackageError(file, `${err.message}; pass a .plughost file written by plughost pack`, { cause: err });
  }
  return readPackage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), file);
}

/**
 * Rebuild a package from its parts fetched separately (the metadata, each plugin file, the optional signature), as an
 * OCI registry stores them. Checks as `readPackage` does; `digest` is the one `writePackage` would give.
 * @throws {@link PackageError} for malformed metadata or signature, or a file missing or not listed.
 * @throws {@link PackageVerificationError} "digest" when a file's bytes differ from what the metadata names.
 */
export function packageFromParts(metadataBytes: Uint8Array, files: ReadonlyMap<string, Uint8Array>, signatureBytes?: Uint8Array, file = "<package>"): PluginPackage {
  const metadata = parseMetadataBytes(metadataBytes, file);
  checkFiles(metadata, files, file);
  const ordered = new Map(metadata.files.map((f) => [f.path, files.get(f.path) as Uint8Array] as const));
  const parts: Omit<PluginPackage, "digest"> = { metadata, metadataBytes, files: ordered };
  if (signatureBytes) parts.signature = checkSignatureBytes(signatureBytes, file);
  return { ...parts, digest: packageDigest(parts) };
}
