/**
 * Packing a plugin directory into a package (`plughost pack`): the manifest, the entry, the config schema file, the
 * interfaces' WIT, the files the manifest's `assets` patterns match and `plugin.sig`, with metadata listing the sha256 of every file.
 */
import { readFileSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { sign, type KeyObject } from "node:crypto";
import { PackageError } from "../contract/errors.js";
import { matchAssets } from "../plugin/assets.js";
import { loadManifest, type Manifest } from "../plugin/manifest.js";
import { isWithin, MAX_ENTRY_BYTES, MAX_MANIFEST_BYTES, readRegularFile, UnsafeFileError } from "../plugin/safe-read.js";
import { KEY_ID_PATTERN, sha256, SIGNATURE_FILE, SIGNATURE_FORMAT, signingStatement, type SignatureFile } from "../plugin/signatures.js";
import { packageDigest } from "./layout.js";
import { serializeMetadata } from "./metadata.js";
import { PACKAGE_BOUNDS } from "./read.js";
import { signPackage } from "./sign.js";
import { unsafePathReason } from "./tar.js";
import { PACKAGE_FORMAT, PACKAGE_METADATA_FILE, PACKAGE_SIGNATURE_FILE, type PackageMetadata, type PluginPackage } from "./types.js";

/** Options of {@link packPlugin}. */
export interface PackOptions {
  /** Sign the plugin (a fresh `plugin.sig` in the package; the directory is not written) and the package. */
  key?: KeyObject;
  /** The key id the trust list names the key by (required with `key`). */
  keyId?: string;
  /** The package's `created` time (default: `SOURCE_DATE_EPOCH`, else the newest mtime of the packed files). */
  created?: Date;
}

let ownVersion: string | undefined;
function plughostVersion(): string {
  try {
    // src/package/ and dist/package/ are both two levels below the package root.
    ownVersion ??= (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string }).version;
  } catch {
    ownVersion = undefined;
  }
  return ownVersion ?? "unknown";
}

/** The files a plugin consists of, as absolute paths: manifest, entry, config schema file, interfaces' WIT, assets, plugin.sig. */
async function pluginFiles(m: Manifest, withSignature: boolean): Promise<string[]> {
  const out = new Set<string>([m.file, m.entryPath]);
  for (const a of await matchAssets(m, m.assets ?? [])) out.add(a);
  if (m.config.schemaFile) out.add(m.config.schemaFile);
  const wit = m.interfaces?.wit;
  if (wit) {
    const info = await stat(wit).catch(() => undefined);
    if (info?.isDirectory()) {
      for (const e of await readdir(wit, { recursive: true, withFileTypes: true })) {
        if (e.isFile() && e.name.endsWith(".wit")) out.add(path.join(e.parentPath, e.name));
      }
    } else out.add(wit);
  }
  if (withSignature) {
    const sig = path.join(m.dir, SIGNATURE_FILE);
    if (await stat(sig).then((s) => s.isFile(), () => false)) out.add(sig);
  }
  return [...out];
}

/** `created` at seconds precision, ISO 8601 with Z. */
function isoSeconds(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

function createdTime(options: PackOptions, mtimes: number[]): Date {
  if (options.created) return options.created;
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch && /^\d{1,12}$/.test(epoch)) return new Date(Number(epoch) * 1000);
  return new Date(Math.max(0, ...mtimes));
}

/**
 * Pack the plugin in `dir` (a directory or its manifest). Deterministic: the same files (and `created`) give the same
 * bytes. With `key`, both the plugin (`plugin.sig`, as `signPlugin` makes it, written into the package only) and the
 * package (`package.sig`) are signed.
 *
 * @throws {@link ManifestError} when the manifest does not load, or an `assets` pattern matches no file.
 * @throws {@link PackageError} naming the plugin directory when a file lies outside it, is not a regular file, or is
 *   too large (naming the file when an asset is a link or not a regular file), when the key id is invalid, or when `key` is given without `keyId`.
 * @example
 *   const pkg = await packPlugin("examples/c/hello", { key: await readPrivateKey("release.key"), keyId: "release" });
 *   await writeFile(`${pkg.metadata.name}-${pkg.metadata.version}.plughost`, writePackage(pkg));
 */
export async function packPlugin(dir: string, options: PackOptions = {}): Promise<PluginPackage> {
  const m = await loadManifest(dir);
  const fail = (problem: string, cause?: unknown): never => {
    throw new PackageError(m.dir, problem, { plugin: m.name, ...(cause !== undefined ? { cause } : {}) });
  };
  if (options.key && (options.keyId === undefined || !KEY_ID_PATTERN.test(options.keyId))) {
    fail(`"${options.keyId ?? ""}" is not a valid key id (letters, digits, . _ -; at most 64); pass --key-id`);
  }
  if (options.key && (options.key.type !== "private" || options.key.asymmetricKeyType !== "ed25519")) fail("signing needs an Ed25519 private key (plughost keygen makes one)");

  const files = new Map<string, Uint8Array>();
  const mtimes: number[] = [];
  for (const abs of await pluginFiles(m, !options.key)) {
    const rel = path.relative(m.dir, abs).split(path.sep).join("/");
    if (!isWithin(m.dir, abs)) fail(`${abs} lies outside the plugin directory; a package holds only files below it (move the file in, or point the manifest at a copy)`);
    const why = unsafePathReason(rel);
    if (why) fail(`the path ${rel} ${why}`);
    if (rel === PACKAGE_METADATA_FILE || rel === PACKAGE_SIGNATURE_FILE) fail(`${rel} is a name the package format reserves; rename the file`);
    try {
      const max = rel === SIGNATURE_FILE ? 64 * 1024 : abs === m.file ? MAX_MANIFEST_BYTES : MAX_ENTRY_BYTES;
      files.set(rel, await readRegularFile(abs, { maxBytes: Math.min(max, PACKAGE_BOUNDS.maxFileBytes), within: m.dir, what: rel }));
      mtimes.push((await stat(abs)).mtimeMs);
    } catch (err) {
      if (!(err instanceof UnsafeFileError)) throw err;
      fail(`${rel}: ${err.message}`, err);
    }
  }
  if (options.key && options.keyId) {
    // The plugin's own signature, made as signPlugin makes it, so the installed plugin loads under signatures.require.
    const fields = {
      name: m.name,
      version: m.version,
      manifest: sha256(files.get(path.relative(m.dir, m.file).split(path.sep).join("/")) as Uint8Array),
      entry: sha256(files.get(path.relative(m.dir, m.entryPath).split(path.sep).join("/")) as Uint8Array),
    };
    const sig: SignatureFile = { format: SIGNATURE_FORMAT, key: options.keyId, ...fields, signature: sign(null, signingStatement(fields), options.key).toString("base64") };
    files.set(SIGNATURE_FILE, new TextEncoder().encode(JSON.stringify(sig, null, 2) + "\n"));
  }

  const paths = [...files.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const metadata: PackageMetadata = {
    format: PACKAGE_FORMAT,
    name: m.name,
    version: m.version,
    kind: m.kind,
    manifest: path.relative(m.dir, m.file).split(path.sep).join("/"),
    entry: path.relative(m.dir, m.entryPath).split(path.sep).join("/"),
    keywords: m.keywords ?? [],
    categories: m.categories ?? [],
    dependencies: m.dependencies.map((d) => ({ name: d.name, version: d.range, ...(d.optional ? { optional: true } : {}), ...(d.peer ? { peer: true } : {}) })),
    created: isoSeconds(createdTime(options, mtimes)),
    build: { plughost: plughostVersion() },
    size: paths.reduce((n, p) => n + (files.get(p) as Uint8Array).length, 0),
    files: paths.map((p) => ({ path: p, size: (files.get(p) as Uint8Array).length, sha256: sha256(files.get(p) as Uint8Array) })),
  };
  // A native library is built for one platform: the packer's.
  if (m.kind === "native") metadata.platform = `${process.platform}-${process.arch}`;
  if (m.description !== undefined) metadata.description = m.description;
  const authors = m.authors ?? (m.author !== undefined ? [m.author] : undefined);
  if (authors !== undefined) metadata.authors = authors;
  for (const field of ["license", "homepage", "repository"] as const) {
    const v = m[field];
    if (v !== undefined) metadata[field] = v;
  }
  const ordered = new Map(paths.map((p) => [p, files.get(p) as Uint8Array] as const));
  const parts = { metadata, metadataBytes: serializeMetadata(metadata), files: ordered };
  const pkg: PluginPackage = { ...parts, digest: packageDigest(parts) };
  return options.key && options.keyId ? signPackage(pkg, options.key, options.keyId) : pkg;
}
