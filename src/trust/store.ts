/**
 * The trust list as a file (host config `signatures.file`): plain JSON, or encrypted at rest with AES-256-GCM
 * (./crypto.ts). When a key is available (the `key` or `keyFile` option, or `PLUGHOST_TRUST_KEY`), the file must be
 * encrypted: a plain file in its place is refused, so swapping in a plain list cannot downgrade the protection.
 */
import { randomBytes } from "node:crypto";
import { rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { TrustListError } from "../contract/errors.js";
import { readRegularFile, UnsafeFileError } from "../plugin/safe-read.js";
import { trustListProblems, type SignaturePolicy } from "../plugin/signatures.js";
import { decryptTrustList, encryptTrustList, isEncryptedTrustList, parseTrustKey, TRUST_KEY_ENV } from "./crypto.js";

/** Largest trust list file read (a list of thousands of keys fits well within it). */
export const MAX_TRUST_LIST_BYTES = 4 * 1024 * 1024;
const MAX_KEY_FILE_BYTES = 4096;

/** Where the key of an encrypted trust list comes from. */
export interface TrustListKeyOptions {
  /** The key: 32 bytes, or base64 / hex of them. */
  key?: Uint8Array | string;
  /** A file holding the key (base64 or hex text, or the 32 raw bytes). */
  keyFile?: string;
}

/** Options of {@link loadTrustList}. */
export interface LoadTrustListOptions extends TrustListKeyOptions {
  /** Where `PLUGHOST_TRUST_KEY` is looked up when neither `key` nor `keyFile` is given (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/** Options of {@link openTrustList}. */
export interface OpenTrustListOptions extends LoadTrustListOptions {
  /** Accept a plain file even when a key is available (what `plughost trust encrypt` reads). Default false. */
  allowPlain?: boolean;
}

/** A trust list file read by {@link openTrustList}. */
export interface OpenedTrustList {
  /** The trust list, validated. */
  policy: SignaturePolicy;
  /** Whether the file was encrypted. */
  encrypted: boolean;
}

/**
 * The trust list key from the options, else the environment; `undefined` when there is none.
 * @throws {@link TrustListError} "no-key" when the key file cannot be read or a key is not 32 bytes in a known form.
 */
export async function resolveTrustKey(file: string, options: LoadTrustListOptions = {}): Promise<Buffer | undefined> {
  if (options.key !== undefined) return parseTrustKey(options.key, file, "the key option");
  if (options.keyFile !== undefined) {
    let bytes: Buffer;
    try {
      bytes = await readRegularFile(options.keyFile, { maxBytes: MAX_KEY_FILE_BYTES, what: "the trust list key file" });
    } catch (err) {
      if (!(err instanceof UnsafeFileError)) throw err;
      throw new TrustListError(file, "no-key", `cannot read the key file ${options.keyFile}: ${err.message}; make one with plughost trust keygen`, { cause: err });
    }
    // Exactly 32 bytes is the raw key (a text key is 44 or 64 characters); anything else is base64 or hex text.
    return parseTrustKey(bytes.length === 32 ? bytes : bytes.toString("utf8"), file, `the key file ${options.keyFile}`);
  }
  const fromEnv = (options.env ?? process.env)[TRUST_KEY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== "") return parseTrustKey(fromEnv, file, TRUST_KEY_ENV);
  return undefined;
}

/** The checked policy in a trust list's JSON text. */
function parsePolicy(text: string, file: string): SignaturePolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new TrustListError(file, "format", `is not JSON (${(err as Error).message}); a trust list is a JSON object { keys, pins?, require?, requirements? }`, { cause: err });
  }
  const problems = trustListProblems(doc, "");
  if (problems.length > 0) throw new TrustListError(file, "format", `is not a valid trust list: ${problems.map((p) => `${p.pointer || "/"}: ${p.message}`).join("; ")}`);
  return doc as SignaturePolicy;
}

/**
 * Read a trust list file, encrypted or plain, and say which it was.
 * @throws {@link TrustListError} "format" when the file is missing, unreadable, too large, not JSON or not a valid
 *   trust list; "no-key" when it is encrypted and no key is available (or the key is malformed); "decrypt" when the
 *   key is wrong, the file was changed, or a key is available and the file is plain (unless `allowPlain`).
 */
export async function openTrustList(file: string, options: OpenTrustListOptions = {}): Promise<OpenedTrustList> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(file, { maxBytes: MAX_TRUST_LIST_BYTES, what: "the trust list" });
  } catch (err) {
    if (!(err instanceof UnsafeFileError)) throw err;
    throw new TrustListError(file, "format", `${err.message}; check signatures.file in the host config`, { cause: err });
  }
  const key = await resolveTrustKey(file, options);
  const encrypted = isEncryptedTrustList(bytes);
  if (encrypted && !key) {
    throw new TrustListError(file, "no-key", `is encrypted and no key was given; set ${TRUST_KEY_ENV} (base64 or hex of 32 bytes), or name its key file (signatures.keyFile in the host config; --key-file for plughost trust)`);
  }
  if (!key || (!encrypted && options.allowPlain)) return { policy: parsePolicy(bytes.toString("utf8"), file), encrypted: false };
  return { policy: parsePolicy(decryptTrustList(bytes, key, file).toString("utf8"), file), encrypted: true };
}

/**
 * Load a trust list file (host config `signatures.file`): plain JSON, or encrypted with AES-256-GCM under the key from
 * `options.key`, `options.keyFile` or `PLUGHOST_TRUST_KEY` (base64 or hex of 32 bytes). With a key available the file
 * must be encrypted. The result goes to `new PluginRegistry({ signatures })` or an Installer.
 *
 * @throws {@link TrustListError} as {@link openTrustList}: "decrypt" (wrong key, a changed byte, or a plain file where
 *   an encrypted one is expected), "no-key", "format".
 * @example
 *   const signatures = await loadTrustList("/etc/plughost/trust.enc", { keyFile: "/run/secrets/trust.key" });
 *   const registry = new PluginRegistry({ signatures });
 */
export async function loadTrustList(file: string, options: LoadTrustListOptions = {}): Promise<SignaturePolicy> {
  return (await openTrustList(file, options)).policy;
}

/**
 * Write a trust list file atomically (a temporary file in the same directory, then rename), mode 0600. With `key` or
 * `keyFile` it is encrypted (AES-256-GCM, a fresh nonce each time); without, it is plain JSON.
 *
 * @throws {@link TrustListError} "format" when the policy is not a valid trust list (nothing is written); "no-key"
 *   when the key or key file is unusable; Node's fs error when the directory cannot be written.
 * @example
 *   await saveTrustList("trust.enc", { keys: { acme: { key: pub, level: "verified" } } }, { keyFile: "trust.key" });
 */
export async function saveTrustList(file: string, policy: SignaturePolicy, options: TrustListKeyOptions = {}): Promise<void> {
  const problems = trustListProblems(policy, "");
  if (problems.length > 0) throw new TrustListError(file, "format", `not written, the trust list is invalid: ${problems.map((p) => `${p.pointer || "/"}: ${p.message}`).join("; ")}`);
  const text = Buffer.from(JSON.stringify(policy, null, 2) + "\n", "utf8");
  // Only the options' key: a key in the environment is for reading, not a reason to encrypt on its own.
  const key = options.key !== undefined || options.keyFile !== undefined ? await resolveTrustKey(file, { ...options, env: {} }) : undefined;
  const bytes = key ? encryptTrustList(text, key) : text;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, bytes, { mode: 0o600, flag: "wx" });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
