/**
 * Package signatures (docs/catalog.md, "Package format"): an Ed25519 signature over a statement naming the plugin,
 * its version and the sha256 of `plughost-package.json`, which lists every file's sha256. So one signature binds the
 * whole package, and a signature cannot be moved to another plugin or replayed under another version.
 */
import { sign, verify, type KeyObject } from "node:crypto";
import { PackageError, PackageVerificationError } from "../contract/errors.js";
import { formatCapability, parseCapability } from "../plugin/capabilities.js";
import { formatOf, parseDocument } from "../plugin/manifest.js";
import { KEY_ID_PATTERN, sha256, type TrustList } from "../plugin/signatures.js";
import { checkTrustLevel, requestedCapabilities, revokedKeyMessage, signerStatus } from "../trust/levels.js";
import { packageDigest } from "./layout.js";
import { parseMetadata, serializeMetadata } from "./metadata.js";
import { PACKAGE_SIGNATURE_FORMAT, type PackageSignature, type PackageVerification, type PluginPackage } from "./types.js";

/** The exact bytes a package signature signs. Never throws. */
export function packageStatement(f: Pick<PackageSignature, "name" | "version" | "metadata">): Uint8Array {
  return new TextEncoder().encode(`${PACKAGE_SIGNATURE_FORMAT}\nname ${f.name}\nversion ${f.version}\nmetadata ${f.metadata}\n`);
}

/**
 * Sign a package with an Ed25519 private key under `keyId` (replacing any package signature; the plugin's own
 * `plugin.sig` inside is left as it is, see `packPlugin` to sign both). Returns a new package with its new digest.
 * @throws {@link PackageVerificationError} "bad-signature" for an invalid key id or a key that is not an Ed25519 private key.
 * @example
 *   const signed = signPackage(pkg, await readPrivateKey("release.key"), "release");
 */
export function signPackage(pkg: PluginPackage, key: KeyObject, keyId: string): PluginPackage {
  const plugin = pkg.metadata.name;
  if (!KEY_ID_PATTERN.test(keyId)) throw new PackageVerificationError("bad-signature", `${plugin}: "${keyId}" is not a valid key id (letters, digits, . _ -; at most 64); pass --key-id`, { plugin });
  if (key.type !== "private" || key.asymmetricKeyType !== "ed25519") throw new PackageVerificationError("bad-signature", `${plugin}: signing a package needs an Ed25519 private key (plughost keygen makes one)`, { plugin });
  const fields = { name: pkg.metadata.name, version: pkg.metadata.version, metadata: sha256(pkg.metadataBytes) };
  const signature: PackageSignature = {
    format: PACKAGE_SIGNATURE_FORMAT,
    key: keyId,
    ...fields,
    signature: sign(null, packageStatement(fields), key).toString("base64"),
  };
  const signed = { metadata: pkg.metadata, metadataBytes: pkg.metadataBytes, files: pkg.files, signature };
  return { ...signed, digest: packageDigest(signed) };
}

/** Options of {@link verifyPackage}. */
export interface VerifyPackageOptions {
  /** Refuse an unsigned package even when the trust list does not `require` one (it cannot lift the list's `require`). */
  requireSignature?: boolean;
  /** The plugin name the caller asked for: another one in the package is "wrong-plugin". */
  expectName?: string;
  /** The version the caller asked for (a tag, a lockfile entry): another one is "wrong-version" (a replay). */
  expectVersion?: string;
  /** Names the package in messages (default: name@version). */
  file?: string;
  /**
   * The directory the packaged manifest will be loaded from (an installer knows it): relative `fs:` capabilities are
   * resolved against it before the trust-level requirements are checked, as the load will resolve them. Without it,
   * capabilities are still put in canonical form, and a relative `fs:` one is checked as written.
   */
  baseDir?: string;
}

/** What verification needs of the packaged manifest: who it says it is, and what it asks for. */
interface PackagedManifest {
  name: unknown;
  version: unknown;
  kind: "component" | "native";
  /** For trust-level requirements. */
  capabilities: string[];
}

/**
 * A capability as the load will see it (`fs:` dirs resolved, hosts in canonical form), so a requirement is checked against the
 * same string at install and at load. One that does not parse stays as written: the load refuses it with its own error.
 */
function canonical(capability: string, baseDir: string | undefined): string {
  try {
    return formatCapability(parseCapability(capability, baseDir === undefined ? {} : { baseDir }));
  } catch {
    return capability;
  }
}

/** The packaged manifest's identity and capabilities, read without touching the disk. */
function packagedManifest(pkg: PluginPackage, file: string, baseDir: string | undefined): PackagedManifest {
  const bytes = pkg.files.get(pkg.metadata.manifest);
  const format = formatOf(pkg.metadata.manifest);
  const plugin = pkg.metadata.name;
  let doc: unknown;
  try {
    doc = bytes && format ? parseDocument(new TextDecoder("utf-8", { fatal: true }).decode(bytes), format).value : undefined;
  } catch {
    doc = undefined;
  }
  if (typeof doc !== "object" || doc === null) {
    // Refuse rather than guess: the load would fail on this manifest anyway.
    throw new PackageError(file, `its ${pkg.metadata.manifest} cannot be read as a manifest; pack the plugin again`, { plugin });
  }
  const d = doc as Record<string, unknown>;
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  const kind = d.kind === "native" ? "native" : "component";
  return {
    name: d.name,
    version: d.version,
    kind,
    capabilities: requestedCapabilities({
      kind,
      capabilities: strings(d.capabilities).map((c) => canonical(c, baseDir)),
      optionalCapabilities: strings(d["optional-capabilities"]).map((c) => canonical(c, baseDir)),
      trust: d.trust === "trusted" ? "trusted" : "untrusted",
    }),
  };
}

/**
 * Verify a package before it is installed or loaded: every file against the metadata's sha256 ("digest"), the
 * metadata against the signature, the signature against the trust list (known key, not revoked, pinned key if the
 * plugin is pinned), the signed name and version against the package and what the caller expected, and the signer's
 * trust level against the requirements for the capabilities the plugin asks for.
 *
 * @param trust the compiled trust list; undefined means none: an unsigned package passes unless `requireSignature`,
 *   and a signed one is only checked for consistency (there is no key to verify it with) unless `requireSignature`.
 * @throws {@link PackageVerificationError} with the reason (digest, unsigned, bad-signature, unknown-key, revoked-key,
 *   wrong-plugin, wrong-version, trust-level), naming the plugin and what to do.
 * @throws {@link PackageError} when the metadata bytes are not valid metadata, the packaged manifest is not TOML/JSON,
 *   or its kind differs from the metadata's. (A manifest naming another plugin or version than the metadata is
 *   "wrong-plugin" / "wrong-version".)
 * @example
 *   const pkg = await readPackageFile("hello-c-0.1.0.plughost");
 *   const { signed, key, level } = verifyPackage(pkg, compileTrustList(policy), { requireSignature: true, expectName: "hello-c" });
 */
export function verifyPackage(pkg: PluginPackage, trust: TrustList | undefined, options: VerifyPackageOptions = {}): PackageVerification {
  // Trust the bytes, not the parsed object: the metadata that counts is the one the signature covers.
  const where = options.file ?? `${pkg.metadata.name}@${pkg.metadata.version}`;
  const metadata = parseMetadata(pkg.metadataBytes, where);
  const plugin = metadata.name;
  const refuse = (reason: PackageVerificationError["reason"], message: string): never => {
    throw new PackageVerificationError(reason, `${where}: ${message}`, { plugin });
  };
  if (!Buffer.from(serializeMetadata(metadata)).equals(serializeMetadata(pkg.metadata))) refuse("digest", "its parsed metadata differs from its plughost-package.json bytes; read the package again");
  for (const f of metadata.files) {
    const bytes = pkg.files.get(f.path);
    if (!bytes) return refuse("digest", `${f.path} is listed but missing; fetch the package again`);
    const actual = sha256(bytes);
    if (actual !== f.sha256 || bytes.length !== f.size) refuse("digest", `${f.path} is ${actual}, the package metadata names ${f.sha256}: altered or damaged; fetch it again from a trusted source`);
  }
  if (pkg.files.size !== metadata.files.length) refuse("digest", "it holds files its metadata does not list; pack the plugin again");
  if (options.expectName !== undefined && metadata.name !== options.expectName) {
    refuse("wrong-plugin", `holds plugin ${metadata.name}, not ${options.expectName} as asked; the catalog entry points at another plugin's package`);
  }
  if (options.expectVersion !== undefined && metadata.version !== options.expectVersion) {
    refuse("wrong-version", `holds ${metadata.name}@${metadata.version}, not version ${options.expectVersion} as asked (an older package replayed under a newer version?); refuse it and report it to the catalog's owner`);
  }

  // The caller may add the requirement, never lift the trust list's (a `false` here is no way around host policy).
  const required = options.requireSignature === true || trust?.require === true;
  const pinned = trust?.pins.get(plugin);
  const sig = pkg.signature;
  const manifest = packagedManifest(pkg, where, options.baseDir);
  // The plugin that loads is the one its manifest names: the metadata must name the same one (pins, the link's name
  // and the lockfile go by the metadata's name). Checked once the signature's own findings are in.
  const sameIdentity = (): void => {
    if (manifest.name !== metadata.name) refuse("wrong-plugin", `its ${metadata.manifest} names plugin ${JSON.stringify(manifest.name)}, its package metadata ${metadata.name}: not a package plughost pack made; do not install it`);
    if (manifest.version !== metadata.version) refuse("wrong-version", `its ${metadata.manifest} names version ${JSON.stringify(manifest.version)}, its package metadata ${metadata.version}: not a package plughost pack made; do not install it`);
    if (manifest.kind !== metadata.kind) throw new PackageError(where, `its ${metadata.manifest} is a ${manifest.kind} plugin, its package metadata says ${metadata.kind}: not a package plughost pack made; do not install it`, { plugin });
  };
  const capabilities = manifest.capabilities;
  if (!sig) {
    if (required) refuse("unsigned", "is not signed, and a signature is required; get a signed package, or sign it with plughost pack --key");
    if (pinned) refuse("unsigned", `is not signed, and ${plugin} is pinned to key ${[...pinned].join(", ")}; get a package signed with that key`);
    sameIdentity();
    checkTrustLevel(trust, "local", capabilities, plugin);
    return { signed: false, level: "local" };
  }
  // The signature's own statement first: a genuine signature of another plugin or version is then named as such.
  if (!trust) {
    if (required) refuse("unknown-key", `is signed with key "${sig.key}", but there is no trust list to verify it with; configure signatures.keys`);
  } else {
    const status = signerStatus(trust, sig.key);
    if (status.status === "revoked") refuse("revoked-key", revokedKeyMessage(sig.key, status));
    if (status.status === "unknown") refuse("unknown-key", `is signed with key "${sig.key}", which is not in the trust list; add its public key under signatures.keys if you trust it`);
    if (status.status === "trusted") {
      if (pinned && !pinned.has(sig.key)) refuse("unknown-key", `is signed with key "${sig.key}", but ${plugin} is pinned to key ${[...pinned].join(", ")}`);
      if (!verify(null, packageStatement(sig), status.key, Buffer.from(sig.signature, "base64"))) {
        refuse("bad-signature", `its package signature does not verify with key "${sig.key}" (package.sig was altered, or made with another key); sign the package again`);
      }
    }
  }
  if (sig.name !== metadata.name) refuse("wrong-plugin", `its signature (key "${sig.key}") was made for plugin ${sig.name}, not ${metadata.name}: a signature moved from another package`);
  if (sig.version !== metadata.version) refuse("wrong-version", `its signature (key "${sig.key}") was made for version ${sig.version}, not ${metadata.version}: a package replayed under another version`);
  if (sig.metadata !== sha256(pkg.metadataBytes)) refuse("digest", `plughost-package.json changed after signing (it is ${sha256(pkg.metadataBytes)}, the signature covers ${sig.metadata}); fetch the package again`);
  sameIdentity();
  if (!trust) return { signed: false, key: sig.key };
  const status = signerStatus(trust, sig.key);
  const level = status.status === "trusted" ? status.level : "local";
  checkTrustLevel(trust, level, capabilities, plugin);
  return { signed: true, key: sig.key, level };
}
