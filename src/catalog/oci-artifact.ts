/**
 * How a plugin package is laid out as an OCI artifact (docs/catalog.md, "OCI registry"): one OCI image manifest with
 * artifactType `application/vnd.plughost.plugin.v1`, whose config blob is the package metadata
 * (`plughost-package.json`) and whose layers are the metadata again, the package signature when signed, and every
 * plugin file: the component as `application/wasm` (a native library as `application/vnd.plughost.native.v1`), the
 * manifest, `plugin.sig` and the assets, each titled by its path (`org.opencontainers.image.title`), so generic OCI
 * tools pull them as files. Manifest annotations repeat what search shows; they are never trusted for anything else.
 */
import { PackageError, PackageVerificationError } from "../contract/errors.js";
import { serializeSignature } from "../package/metadata.js";
import { PACKAGE_BOUNDS } from "../package/read.js";
import { PACKAGE_METADATA_FILE, PACKAGE_SIGNATURE_FILE, type PluginPackage } from "../package/types.js";
import { OCI_MANIFEST_MEDIA_TYPE, ociDigest, type OciDescriptor, type OciImageManifest } from "./oci-client.js";
import type { CatalogEntry } from "./types.js";

/** The artifactType of a plughost plugin artifact. */
export const PLUGIN_ARTIFACT_TYPE = "application/vnd.plughost.plugin.v1";
/** Media type of the package metadata (the config blob, and its layer). */
export const METADATA_MEDIA_TYPE = "application/vnd.plughost.package.metadata.v1+json";
/** Media type of the package signature layer. */
export const PACKAGE_SIGNATURE_MEDIA_TYPE = "application/vnd.plughost.package.signature.v1+json";
/** Media type of a WebAssembly component entry (the CNCF Wasm OCI artifact's layer type). */
export const WASM_MEDIA_TYPE = "application/wasm";
/** Media type of a native plugin's shared library. */
export const NATIVE_MEDIA_TYPE = "application/vnd.plughost.native.v1";
/** Media type of the plugin's manifest file (`+toml` or `+json` after it). */
export const PLUGIN_MANIFEST_MEDIA_TYPE = "application/vnd.plughost.plugin.manifest.v1";
/** Media type of the plugin's detached signature, `plugin.sig`. */
export const PLUGIN_SIGNATURE_MEDIA_TYPE = "application/vnd.plughost.plugin.signature.v1+json";
/** Media type of any other plugin file (an asset). */
export const ASSET_MEDIA_TYPE = "application/vnd.plughost.asset.v1";

/** The annotation naming a layer's path. */
export const TITLE_ANNOTATION = "org.opencontainers.image.title";
const A = {
  title: TITLE_ANNOTATION,
  version: "org.opencontainers.image.version",
  description: "org.opencontainers.image.description",
  licenses: "org.opencontainers.image.licenses",
  created: "org.opencontainers.image.created",
  authors: "org.opencontainers.image.authors",
  url: "org.opencontainers.image.url",
  source: "org.opencontainers.image.source",
  keywords: "dev.plughost.keywords",
  categories: "dev.plughost.categories",
  signed: "dev.plughost.signed",
  key: "dev.plughost.signature.key",
  packageDigest: "dev.plughost.package.digest",
} as const;

/** A package as an artifact: the manifest's bytes and every blob they name. */
export interface PackageArtifact {
  manifest: OciImageManifest;
  manifestBytes: Uint8Array;
  /** Digest → bytes, config included (a blob named twice is listed once). */
  blobs: Map<string, Uint8Array>;
}

/** Lays out `pkg` as an OCI artifact. Deterministic: the same package gives the same manifest bytes (and digest). */
export function packageToArtifact(pkg: PluginPackage): PackageArtifact {
  const blobs = new Map<string, Uint8Array>();
  const describe = (bytes: Uint8Array, mediaType: string, title: string): OciDescriptor => {
    const digest = ociDigest(bytes);
    blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.byteLength, annotations: { [TITLE_ANNOTATION]: title } };
  };
  const m = pkg.metadata;
  const config = describe(pkg.metadataBytes, METADATA_MEDIA_TYPE, PACKAGE_METADATA_FILE);
  delete config.annotations;
  const layers = [describe(pkg.metadataBytes, METADATA_MEDIA_TYPE, PACKAGE_METADATA_FILE)];
  if (pkg.signature) layers.push(describe(serializeSignature(pkg.signature), PACKAGE_SIGNATURE_MEDIA_TYPE, PACKAGE_SIGNATURE_FILE));
  for (const f of m.files) {
    const bytes = pkg.files.get(f.path);
    if (!bytes) throw new PackageError(`${m.name}@${m.version}`, `the package lists ${f.path} but holds no bytes for it; pack the plugin again`, { plugin: m.name });
    layers.push(describe(bytes, fileMediaType(pkg, f.path), f.path));
  }
  const annotations: Record<string, string> = { [A.title]: m.name, [A.version]: m.version, [A.created]: m.created };
  if (m.description !== undefined) annotations[A.description] = m.description;
  if (m.license !== undefined) annotations[A.licenses] = m.license;
  if (m.authors?.length) annotations[A.authors] = m.authors.join(", ");
  if (m.homepage !== undefined) annotations[A.url] = m.homepage;
  if (m.repository !== undefined) annotations[A.source] = m.repository;
  annotations[A.keywords] = JSON.stringify(m.keywords);
  annotations[A.categories] = JSON.stringify(m.categories);
  annotations[A.signed] = pkg.signature ? "true" : "false";
  if (pkg.signature) annotations[A.key] = pkg.signature.key;
  annotations[A.packageDigest] = pkg.digest;
  const manifest: OciImageManifest = { schemaVersion: 2, mediaType: OCI_MANIFEST_MEDIA_TYPE, artifactType: PLUGIN_ARTIFACT_TYPE, config, layers, annotations };
  return { manifest, manifestBytes: new TextEncoder().encode(JSON.stringify(manifest)), blobs };
}

/** The media type of one plugin file of `pkg`. */
export function fileMediaType(pkg: Pick<PluginPackage, "metadata">, path: string): string {
  const m = pkg.metadata;
  if (path === m.entry) return m.kind === "native" ? NATIVE_MEDIA_TYPE : WASM_MEDIA_TYPE;
  if (path === m.manifest) return `${PLUGIN_MANIFEST_MEDIA_TYPE}+${path.endsWith(".json") ? "json" : "toml"}`;
  if (path === "plugin.sig") return PLUGIN_SIGNATURE_MEDIA_TYPE;
  return ASSET_MEDIA_TYPE;
}

/** Whether a manifest is a plughost plugin artifact (others in the registry are skipped by search). */
export function isPluginArtifact(manifest: OciImageManifest): boolean {
  return (manifest.artifactType ?? manifest.config.mediaType) === PLUGIN_ARTIFACT_TYPE || manifest.config.mediaType === METADATA_MEDIA_TYPE;
}

/** Where each part of a package is in an artifact: what `fetch` downloads. */
export interface ArtifactParts {
  metadata: OciDescriptor;
  signature?: OciDescriptor;
  /** Plugin file path → its layer. */
  files: Map<string, OciDescriptor>;
}

/**
 * The parts of a plugin artifact, checked before anything is downloaded: one metadata layer equal to the config, at
 * most one signature, plugin files with distinct titled paths, sizes within the package reader's bounds.
 * @throws {@link PackageError} naming `ref` when the manifest is not a well-formed plughost artifact.
 * @throws {@link PackageVerificationError} "digest" when the metadata layer is not the config blob.
 */
export function artifactParts(manifest: OciImageManifest, ref: string): ArtifactParts {
  if (!isPluginArtifact(manifest)) throw new PackageError(ref, `is not a plughost plugin (artifactType ${manifest.artifactType ?? "none"}, config ${manifest.config.mediaType}); publish it with plughost publish`);
  if (manifest.config.size > PACKAGE_BOUNDS.maxMetadataBytes) throw new PackageError(ref, `its metadata is ${manifest.config.size} bytes, more than ${PACKAGE_BOUNDS.maxMetadataBytes}`);
  if (manifest.layers.length > PACKAGE_BOUNDS.maxEntries + 2) throw new PackageError(ref, `has ${manifest.layers.length} layers, more than ${PACKAGE_BOUNDS.maxEntries + 2}`);
  const files = new Map<string, OciDescriptor>();
  let metadata: OciDescriptor | undefined;
  let signature: OciDescriptor | undefined;
  let total = 0;
  for (const layer of manifest.layers) {
    const title = layer.annotations?.[TITLE_ANNOTATION];
    if (title === undefined) throw new PackageError(ref, `layer ${layer.digest} has no ${TITLE_ANNOTATION} annotation naming its path`);
    if (title === PACKAGE_METADATA_FILE) {
      if (metadata) throw new PackageError(ref, `has two ${PACKAGE_METADATA_FILE} layers`);
      if (layer.digest !== manifest.config.digest) {
        throw new PackageVerificationError("digest", `${ref}: its ${PACKAGE_METADATA_FILE} layer ${layer.digest} is not its config ${manifest.config.digest}; the artifact was altered: do not install it`);
      }
      metadata = layer;
    } else if (title === PACKAGE_SIGNATURE_FILE) {
      if (signature) throw new PackageError(ref, `has two ${PACKAGE_SIGNATURE_FILE} layers`);
      if (layer.size > PACKAGE_BOUNDS.maxSignatureBytes) throw new PackageError(ref, `its ${PACKAGE_SIGNATURE_FILE} is ${layer.size} bytes, more than ${PACKAGE_BOUNDS.maxSignatureBytes}`);
      signature = layer;
    } else {
      if (files.has(title)) throw new PackageError(ref, `has two layers titled ${title}`);
      if (layer.size > PACKAGE_BOUNDS.maxFileBytes) throw new PackageError(ref, `its ${title} is ${layer.size} bytes, more than ${PACKAGE_BOUNDS.maxFileBytes}`);
      total += layer.size;
      files.set(title, layer);
    }
  }
  if (total > PACKAGE_BOUNDS.maxTotalBytes) throw new PackageError(ref, `its files total ${total} bytes, more than ${PACKAGE_BOUNDS.maxTotalBytes}`);
  return { metadata: metadata ?? manifest.config, ...(signature ? { signature } : {}), files };
}

/**
 * What search and versions show of an artifact, from its annotations (unsigned: display only). `name` and `version`
 * are the repository's and tag's, not the annotations'.
 */
export function artifactEntry(name: string, version: string, manifest: OciImageManifest, manifestDigest: string): CatalogEntry {
  const a = manifest.annotations ?? {};
  const entry: CatalogEntry = {
    name,
    version,
    keywords: stringList(a[A.keywords]),
    categories: stringList(a[A.categories]),
    digest: toPackageDigest(manifestDigest),
    signed: a[A.signed] === "true",
  };
  if (a[A.description] !== undefined) entry.description = a[A.description];
  if (a[A.licenses] !== undefined) entry.license = a[A.licenses];
  return entry;
}

/** `sha256:<hex>` (OCI) → `sha256-<hex>` (how plughost writes digests). */
export function toPackageDigest(ociDigestValue: string): string {
  return ociDigestValue.replace(/^sha256:/, "sha256-");
}

/** A semver version → an OCI tag (`+` is not allowed in tags; `_` is not allowed in semver, so the map is one-to-one). */
export function versionToTag(version: string): string {
  return version.replace(/\+/g, "_");
}

/** An OCI tag → the semver version it stands for (the inverse of {@link versionToTag}). */
export function tagToVersion(tag: string): string {
  return tag.replace(/_/g, "+");
}

function stringList(json: string | undefined): string[] {
  if (json === undefined) return [];
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}
