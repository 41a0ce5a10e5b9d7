/**
 * Ed25519 plugin signatures and the trust list (docs/signatures.md).
 *
 * A plugin is signed by a detached `plugin.sig` next to its manifest. It
 * signs a canonical statement binding the plugin's name, version and the
 * sha256 of both the manifest file and the entry file, so neither can be
 * swapped. The host's trust list maps key ids to Ed25519 public keys
 * (base64 of the 32 raw bytes), optionally pins plugin names to key ids,
 * and says whether signatures are required.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { VerificationError, type ManifestProblem } from "../contract/errors.js";
import { loadManifest, parseManifest, type Manifest } from "./manifest.js";
import { keyEntryProblems, requirementProblems, revokedKeyMessage, signerStatus } from "../trust/levels.js";
import { MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, readRegularFile, UnsafeFileError } from "./safe-read.js";
import { readEntry, verifyIntegrity } from "./verify.js";

/** The detached signature's file name, next to the manifest. */
export const SIGNATURE_FILE = "plugin.sig";
/** The `format` of a signature file, also the first line of the signed statement (domain separation). */
export const SIGNATURE_FORMAT = "plughost-signature-v1";

/** The trust list as written (registry option `signatures`, host config section `signatures`). */
export interface SignaturePolicy {
  /** Refuse plugins that are not signed by a trusted key. Default false: unsigned plugins load, signed ones are still verified. */
  require?: boolean;
  /**
   * Key id → Ed25519 public key: base64 of its 32 raw bytes (what `plughost keygen` prints), a "verified" key; or
   * a {@link TrustedKeyEntry} with its level, or its revocation.
   */
  keys: Record<string, string | TrustedKeyEntry>;
  /** Plugin name → the key ids allowed to sign it. A pinned plugin must be signed, whatever `require` says. */
  pins?: Record<string, readonly string[]>;
  /**
   * Capability pattern (`*` wildcards; `native:trusted` for a native plugin run in the host process) → the lowest
   * signer level that may ask for it, e.g. `{ "net:outbound:*": "verified" }`. Unsigned plugins are "local". Default none.
   */
  requirements?: Record<string, KeyTrustLevel>;
}

/** A trust list key with its level or revocation (docs/signatures.md). */
export interface TrustedKeyEntry {
  /** The Ed25519 public key: base64 of its 32 raw bytes. */
  key: string;
  /** How far the host trusts this signer (default "verified"). */
  level?: KeyTrustLevel;
  /** When it was revoked (ISO 8601 date): from then on it verifies nothing, whatever it signed before. */
  revoked?: string;
  /** Why it was revoked (shown in refusals). */
  reason?: string;
}

/** A checked trust list, ready for verification (made by `compileTrustList`). */
export interface TrustList {
  /** Refuse unsigned plugins. */
  readonly require: boolean;
  /** Key id → public key, for keys that are not revoked (revoked ones are only in `revoked`). */
  readonly keys: ReadonlyMap<string, KeyObject>;
  /** Plugin name → the key ids allowed to sign it. */
  readonly pins: ReadonlyMap<string, ReadonlySet<string>>;
  /** Key id → the signer's trust level (docs/signatures.md); a key given as a bare string is "verified". */
  readonly levels?: ReadonlyMap<string, KeyTrustLevel>;
  /** Key id → when (ISO 8601 date) and why it was revoked: a revoked key verifies nothing. */
  readonly revoked?: ReadonlyMap<string, { readonly date: string; readonly reason?: string }>;
  /** Capability pattern (as in grants, `*` wildcards) → the lowest signer level that may be granted it. */
  readonly requirements?: ReadonlyMap<string, KeyTrustLevel>;
}

/** A signer's trust level, highest first: "verified" > "community" > "local" (an unsigned plugin counts as "local"). */
export type KeyTrustLevel = "verified" | "community" | "local";

/** The detached signature file. Every field but `signature` is the signed statement, in clear for diagnostics. */
export interface SignatureFile {
  /** Always `SIGNATURE_FORMAT`. */
  format: typeof SIGNATURE_FORMAT;
  /** The id of the key that signed, as the trust list names it. */
  key: string;
  /** The plugin's name. */
  name: string;
  /** The plugin's version. */
  version: string;
  /** `sha256-<hex>` of the manifest file's bytes. */
  manifest: string;
  /** `sha256-<hex>` of the entry file's bytes. */
  entry: string;
  /** base64 of the 64-byte Ed25519 signature over `signingStatement(...)`. */
  signature: string;
}

/** The fields of a signature file that the signature covers. */
export type SignedFields = Pick<SignatureFile, "name" | "version" | "manifest" | "entry">;

/** A key id as trust lists, signatures and lockfiles name keys: letters, digits, `.`, `_`, `-`; at most 64. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PUBLIC_KEY_PATTERN = /^[A-Za-z0-9+/]{43}=$/; // 32 bytes
/** base64 of a 64-byte Ed25519 signature (in `plugin.sig` and `package.sig`). */
export const SIGNATURE_PATTERN = /^[A-Za-z0-9+/]{86}==$/;
/** A digest as plughost writes it: `sha256-<64 lower-case hex>` (what {@link sha256} returns). */
export const DIGEST_PATTERN = /^sha256-[0-9a-f]{64}$/;
/** A plugin name (manifests, signatures, packages, catalogs, lockfiles): lower-case letters, digits, `.`, `_`, `-`; at most 64. */
export const PLUGIN_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** The characters a signed version may hold (semver's, at most 128); semver validity is checked elsewhere. */
export const VERSION_PATTERN = /^[0-9A-Za-z.+-]{1,128}$/;

/** The exact bytes that are signed: a domain-separated, line-per-field statement. Never throws. */
export function signingStatement(f: SignedFields): Buffer {
  return Buffer.from(`${SIGNATURE_FORMAT}\nname ${f.name}\nversion ${f.version}\nmanifest ${f.manifest}\nentry ${f.entry}\n`, "utf8");
}

/** `sha256-<hex>` of some bytes: how signatures, packages, catalogs and lockfiles write digests. Never throws. */
export function sha256(bytes: Uint8Array): string {
  return "sha256-" + createHash("sha256").update(bytes).digest("hex");
}

// ── keys ────────────────────────────────────────────────────────────────────

/** An Ed25519 public key from base64 of its 32 raw bytes. */
export function publicKeyFromBase64(b64: string): KeyObject {
  if (!PUBLIC_KEY_PATTERN.test(b64)) throw new Error("must be an Ed25519 public key: base64 of its 32 raw bytes (44 characters ending in =)");
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(b64, "base64").toString("base64url") }, format: "jwk" });
}

/**
 * base64 of an Ed25519 key's 32 raw public bytes (a private key gives its public half):
 * what the trust list's `keys` hold.
 * @throws `Error` when the key is not an Ed25519 key.
 */
export function publicKeyToBase64(key: KeyObject): string {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== "ed25519") throw new Error(`not an Ed25519 key (${pub.asymmetricKeyType ?? pub.type})`);
  const x = pub.export({ format: "jwk" }).x;
  if (typeof x !== "string") throw new Error("the key has no public part");
  return Buffer.from(x, "base64url").toString("base64");
}

/**
 * A fresh Ed25519 key pair: the private key as PKCS#8 PEM, the public key as
 * base64 of its raw bytes (what `plughost keygen` writes and prints).
 * @example
 *   const { privateKeyPem, publicKey } = generateSigningKey();
 *   // keep privateKeyPem secret; put publicKey in the trust list: { keys: { "release": publicKey } }
 */
export function generateSigningKey(): { privateKeyPem: string; publicKey: string } {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), publicKey: publicKeyToBase64(privateKey) };
}

/**
 * Read a PKCS#8 PEM Ed25519 private key (as `plughost keygen` writes).
 * @throws {@link VerificationError} when the file cannot be read (missing, not a
 *   regular file, over 64 KiB), is not a private key, or is not Ed25519.
 */
export async function readPrivateKey(file: string): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = createPrivateKey(await readRegularFile(file, { maxBytes: MAX_SIGNATURE_BYTES, what: "the key file" }));
  } catch (err) {
    throw new VerificationError(`cannot read the private key ${file}: ${(err as Error).message}; pass a key file written by plughost keygen`, { cause: err });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new VerificationError(`${file} is a ${key.asymmetricKeyType ?? "unknown"} key, not Ed25519; make one with plughost keygen`);
  }
  return key;
}

// ── the trust list ──────────────────────────────────────────────────────────

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Problems in a trust list, as JSON pointers under `base` (empty when it is valid). */
export function trustListProblems(policy: unknown, base = "/signatures"): ManifestProblem[] {
  const out: ManifestProblem[] = [];
  if (!isRecord(policy)) return [{ pointer: base, message: "must be an object with keys (and optionally require, pins)" }];
  for (const k of Object.keys(policy)) {
    if (!["require", "keys", "pins", "requirements"].includes(k)) out.push({ pointer: `${base}/${k}`, message: `unknown key ${JSON.stringify(k)}; allowed keys are require, keys, pins, requirements` });
  }
  if (policy.require !== undefined && typeof policy.require !== "boolean") out.push({ pointer: `${base}/require`, message: "must be true or false" });
  const keys = policy.keys;
  if (!isRecord(keys)) out.push({ pointer: `${base}/keys`, message: "must be an object of key id -> Ed25519 public key (base64 of its 32 raw bytes)" });
  else {
    for (const [id, value] of Object.entries(keys)) {
      const at = `${base}/keys/${id.replace(/~/g, "~0").replace(/\//g, "~1")}`;
      if (!KEY_ID_PATTERN.test(id)) out.push({ pointer: at, message: "is not a valid key id (letters, digits, . _ -; at most 64)" });
      const entry = isRecord(value) ? value : undefined;
      if (entry) out.push(...keyEntryProblems(entry, at));
      const b64 = entry ? entry.key : value;
      const where = entry ? `${at}/key` : at;
      if (typeof b64 !== "string") out.push({ pointer: where, message: entry ? "must be a string: base64 of the 32 raw public key bytes" : "must be a string (base64 of the 32 raw public key bytes) or { key, level?, revoked?, reason? }" });
      else {
        try {
          publicKeyFromBase64(b64);
        } catch (err) {
          out.push({ pointer: where, message: (err as Error).message });
        }
      }
    }
  }
  if (policy.pins !== undefined) {
    if (!isRecord(policy.pins)) out.push({ pointer: `${base}/pins`, message: "must be an object of plugin name -> list of key ids" });
    else {
      for (const [name, ids] of Object.entries(policy.pins)) {
        const at = `${base}/pins/${name.replace(/~/g, "~0").replace(/\//g, "~1")}`;
        if (!PLUGIN_NAME_PATTERN.test(name)) out.push({ pointer: at, message: "is not a valid plugin name" });
        if (!Array.isArray(ids) || ids.length === 0) {
          out.push({ pointer: at, message: "must be a non-empty list of key ids" });
          continue;
        }
        ids.forEach((id: unknown, i) => {
          if (typeof id !== "string" || !isRecord(keys) || !(id in keys)) {
            out.push({ pointer: `${at}/${i}`, message: `${JSON.stringify(id)} is not a key id in keys; add the key or fix the pin` });
          }
        });
      }
    }
  }
  if (policy.requirements !== undefined) out.push(...requirementProblems(policy.requirements, `${base}/requirements`));
  return out;
}

/**
 * Check and compile a trust list (the registry does this for its `signatures` option): fills `levels` (a bare key
 * is "verified"), `revoked` (revoked keys are left out of `keys`) and `requirements`.
 * @throws {@link VerificationError} listing every problem (bad key ids or keys, pins naming unknown keys, bad levels,
 *   revocation dates or requirement patterns, unknown fields).
 */
export function compileTrustList(policy: SignaturePolicy): TrustList {
  const problems = trustListProblems(policy, "signatures");
  if (problems.length > 0) {
    throw new VerificationError(`invalid trust list: ${problems.map((p) => `${p.pointer}: ${p.message}`).join("; ")}`);
  }
  const keys = new Map<string, KeyObject>();
  const levels = new Map<string, KeyTrustLevel>();
  const revoked = new Map<string, { date: string; reason?: string }>();
  for (const [id, value] of Object.entries(policy.keys)) {
    const entry: TrustedKeyEntry = typeof value === "string" ? { key: value } : value;
    if (entry.revoked !== undefined) {
      revoked.set(id, { date: entry.revoked, ...(entry.reason !== undefined ? { reason: entry.reason } : {}) });
      continue; // kept out of keys, so a check that forgets revocation still refuses it
    }
    keys.set(id, publicKeyFromBase64(entry.key));
    levels.set(id, entry.level ?? "verified");
  }
  const pins = new Map(Object.entries(policy.pins ?? {}).map(([name, ids]) => [name, new Set(ids)] as const));
  const requirements = new Map(Object.entries(policy.requirements ?? {}));
  return { require: policy.require ?? false, keys, pins, levels, revoked, requirements };
}

// ── signing ─────────────────────────────────────────────────────────────────

/** The statement for a plugin as it is on disk now. */
async function statementFor(m: Manifest, entry?: Uint8Array): Promise<SignedFields & { manifestText: string }> {
  let manifestBytes: Buffer;
  try {
    manifestBytes = await readRegularFile(m.file, { maxBytes: MAX_MANIFEST_BYTES, what: "the manifest" });
  } catch (err) {
    if (!(err instanceof UnsafeFileError)) throw err;
    throw new VerificationError(`${m.file}: ${err.message}; make it a regular file and sign the plugin again`, { plugin: m.name, cause: err });
  }
  const entryBytes = entry ?? (await readEntry(m.name, m.entryPath, m.dir));
  return { name: m.name, version: m.version, manifest: sha256(manifestBytes), entry: sha256(entryBytes), manifestText: manifestBytes.toString("utf8") };
}

/**
 * Sign the plugin in `pathOrDir` (a directory or its manifest): writes
 * `plugin.sig` next to the manifest. The manifest's `integrity`, if any, must
 * already match the entry.
 *
 * @throws {@link VerificationError} for an invalid key id, a key that is not an
 *   Ed25519 private key, or an entry that does not match the manifest's integrity.
 * @throws {@link ManifestError} when the manifest does not load.
 * @throws {@link InvalidPluginBinary} when the entry file cannot be read.
 * @example
 *   const key = await readPrivateKey("release.pem");
 *   const { file } = await signPlugin("plugins/hello", key, "release");
 */
export async function signPlugin(pathOrDir: string, privateKey: KeyObject, keyId: string): Promise<{ file: string; signature: SignatureFile }> {
  if (!KEY_ID_PATTERN.test(keyId)) throw new VerificationError(`"${keyId}" is not a valid key id (letters, digits, . _ -; at most 64); pass --key-id`);
  if (privateKey.type !== "private" || privateKey.asymmetricKeyType !== "ed25519") throw new VerificationError("signing needs an Ed25519 private key");
  const m = await loadManifest(pathOrDir);
  await verifyIntegrity(m);
  const { manifestText: _, ...fields } = await statementFor(m);
  const signature: SignatureFile = {
    format: SIGNATURE_FORMAT,
    key: keyId,
    ...fields,
    signature: sign(null, signingStatement(fields), privateKey).toString("base64"),
  };
  const file = path.join(m.dir, SIGNATURE_FILE);
  await writeFile(file, JSON.stringify(signature, null, 2) + "\n");
  return { file, signature };
}

// ── verification ────────────────────────────────────────────────────────────

/** Parse a signature file strictly; returns the reason when it is malformed. */
function parseSignatureFile(text: string): SignatureFile | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  if (!isRecord(doc)) return "not a JSON object";
  const checks: [keyof SignatureFile, RegExp | string][] = [
    ["format", SIGNATURE_FORMAT],
    ["key", KEY_ID_PATTERN],
    ["name", PLUGIN_NAME_PATTERN],
    ["version", VERSION_PATTERN],
    ["manifest", DIGEST_PATTERN],
    ["entry", DIGEST_PATTERN],
    ["signature", SIGNATURE_PATTERN],
  ];
  for (const [field, rule] of checks) {
    const v = doc[field];
    const ok = typeof v === "string" && (typeof rule === "string" ? v === rule : rule.test(v));
    if (!ok) return `field "${field}" is ${v === undefined ? "missing" : `invalid (${JSON.stringify(v).slice(0, 80)})`}`;
  }
  const extra = Object.keys(doc).filter((k) => !checks.some(([f]) => f === k));
  if (extra.length) return `unknown field(s) ${extra.join(", ")}`;
  return doc as unknown as SignatureFile;
}

/** What `verifySignature` found. */
export interface SignatureResult {
  /** Whether a signature was present and verified. */
  signed: boolean;
  /** The key id that signed it. */
  key?: string;
  /** The signer's trust level, when signed. */
  level?: KeyTrustLevel;
}

/**
 * The verify step's signature check, before anything compiles. Refuses with a
 * `VerificationError` naming the plugin, the file and the reason: missing
 * signature (under `require`, or for a pinned plugin), malformed file, unknown
 * or unpinned key, bad signature, or a manifest / entry that changed after
 * signing. A present signature is always checked.
 *
 * @throws {@link VerificationError} as above.
 * @throws {@link InvalidPluginBinary} when the entry file cannot be read.
 * @throws {@link ManifestError} when the manifest was replaced by an invalid one while loading.
 */
export async function verifySignature(m: Manifest, trust: TrustList, entryBytes?: Uint8Array): Promise<SignatureResult> {
  const fail = (file: string, reason: string): never => {
    throw new VerificationError(`${file}: ${reason}`, { plugin: m.name });
  };
  const sigPath = path.join(m.dir, SIGNATURE_FILE);
  const pinned = trust.pins.get(m.name);
  let raw: Buffer;
  try {
    // Non-blocking, regular files only, capped before reading: a FIFO or /dev/zero here fails at once.
    raw = await readRegularFile(sigPath, { maxBytes: MAX_SIGNATURE_BYTES, what: "the signature file" });
  } catch (err) {
    if (!(err instanceof UnsafeFileError)) throw err;
    if (err.reason !== "missing") return fail(sigPath, `${err.message}; re-sign with plughost sign to write a regular plugin.sig`);
    if (pinned) return fail(sigPath, `is missing, and ${m.name} is pinned to key ${[...pinned].join(", ")}; sign it with plughost sign ${m.dir} --key <key file>`);
    if (trust.require) return fail(sigPath, `is missing and signatures are required; sign it with plughost sign ${m.dir} --key <key file>`);
    return { signed: false };
  }
  const sig = parseSignatureFile(raw.toString("utf8"));
  if (typeof sig === "string") return fail(sigPath, `is not a valid plughost signature file: ${sig}; re-sign with plughost sign`);

  const signer = signerStatus(trust, sig.key);
  if (signer.status === "revoked") return fail(sigPath, revokedKeyMessage(sig.key, signer));
  if (signer.status === "unknown") return fail(sigPath, `is signed with key "${sig.key}", which is not in the trust list; add its public key under signatures.keys if you trust it`);
  const key = signer.key;
  if (pinned && !pinned.has(sig.key)) return fail(sigPath, `is signed with key "${sig.key}", but ${m.name} is pinned to key ${[...pinned].join(", ")}; re-sign it with one of those`);
  if (!verify(null, signingStatement(sig), key, Buffer.from(sig.signature, "base64"))) {
    return fail(sigPath, `bad signature: it does not verify with key "${sig.key}" (the signature file was altered, or made with another key); re-sign the plugin`);
  }

  // The signature is authentic; now the files must be the ones it names.
  const now = await statementFor(m, entryBytes);
  if (now.manifest !== sig.manifest) {
    const what = now.version !== sig.version || now.name !== sig.name ? ` (signed ${sig.name}@${sig.version}, now ${now.name}@${now.version})` : "";
    return fail(m.file, `digest mismatch: changed after signing${what}; it is ${now.manifest}, the signature covers ${sig.manifest}. Re-sign the plugin if the change is yours`);
  }
  if (now.entry !== sig.entry) {
    return fail(m.entryPath, `digest mismatch: changed after signing; it is ${now.entry}, the signature covers ${sig.entry}. Re-sign the plugin if the new build is yours`);
  }
  if (now.name !== sig.name || now.version !== sig.version) {
    return fail(sigPath, `signs ${sig.name}@${sig.version}, but the manifest is ${now.name}@${now.version}; re-sign the plugin`);
  }
  // The manifest bytes just verified must be the ones loaded (it may have been replaced since it was parsed).
  // configSchema "defer": the plugin's config schema is compiled only after this check succeeds.
  if (JSON.stringify(parseManifest(now.manifestText, m.file, { checkEntry: false, configSchema: "defer" })) !== JSON.stringify(m)) {
    return fail(m.file, "changed while the plugin was loading; load it again");
  }
  return { signed: true, key: sig.key, level: signer.level };
}
