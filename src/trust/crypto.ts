/**
 * The trust list encrypted at rest: AES-256-GCM under a 32-byte key (from `PLUGHOST_TRUST_KEY`, a key file, or the
 * caller). The file is a format line, the nonce, the tag and the ciphertext; the format line is authenticated with the
 * data, so a wrong key, a flipped byte anywhere, or a changed header are all refused as "decrypt".
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { TrustListError } from "../contract/errors.js";

/** The `format` of an encrypted trust list file. */
export const ENCRYPTED_TRUST_LIST_FORMAT = "plughost-trust-list-encrypted-v1";
/** The environment variable holding the trust list key (base64 or hex of 32 bytes). */
export const TRUST_KEY_ENV = "PLUGHOST_TRUST_KEY";

const CIPHER = "aes-256-gcm";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The first bytes of an encrypted trust list file: its format line, authenticated with the data. */
export const ENCRYPTED_TRUST_LIST_MAGIC = Buffer.from(`${ENCRYPTED_TRUST_LIST_FORMAT}\n`, "ascii");

/** Whether file bytes are an encrypted trust list (they start with its format line). Never throws. */
export function isEncryptedTrustList(bytes: Uint8Array): boolean {
  return bytes.length >= ENCRYPTED_TRUST_LIST_MAGIC.length && ENCRYPTED_TRUST_LIST_MAGIC.equals(bytes.subarray(0, ENCRYPTED_TRUST_LIST_MAGIC.length));
}

/**
 * A trust list key from its forms: 32 raw bytes, or a string holding 64 hex digits or base64 of 32 bytes
 * (surrounding whitespace ignored, so a key file may end in a newline).
 * @param file The trust list file, for the error.
 * @param source Where the key came from ("PLUGHOST_TRUST_KEY", a key file's path), for the error.
 * @throws {@link TrustListError} "no-key" when it is not 32 bytes in one of those forms.
 */
export function parseTrustKey(key: Uint8Array | string, file: string, source: string): Buffer {
  if (typeof key !== "string") {
    if (key.length === 32) return Buffer.from(key);
    throw new TrustListError(file, "no-key", `the key from ${source} is ${key.length} bytes, not 32; make one with plughost trust keygen`);
  }
  const text = key.trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, "hex");
  if (text.length === 44 && B64.test(text)) {
    const bytes = Buffer.from(text, "base64");
    if (bytes.length === 32) return bytes;
  }
  throw new TrustListError(file, "no-key", `the key from ${source} is not 32 bytes as base64 (44 characters) or hex (64 digits); make one with plughost trust keygen`);
}

/** A fresh random trust list key, base64 (what `plughost trust keygen` writes). Never throws. */
export function generateTrustKey(): string {
  return randomBytes(32).toString("base64");
}

/**
 * Encrypt a trust list's bytes under a 32-byte key. The file is the format line, a fresh 12-byte nonce, the 16-byte
 * GCM tag, then the ciphertext; the format line is authenticated too. Never throws for a 32-byte key.
 */
export function encryptTrustList(plain: Uint8Array, key: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(ENCRYPTED_TRUST_LIST_MAGIC);
  const data = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([ENCRYPTED_TRUST_LIST_MAGIC, iv, cipher.getAuthTag(), data]);
}

/**
 * Decrypt an encrypted trust list file's bytes with a 32-byte key.
 * @throws {@link TrustListError} "decrypt" when they are not an encrypted trust list, are cut short, or the GCM tag
 *   does not verify: a wrong key or a changed file (GCM cannot tell which).
 */
export function decryptTrustList(bytes: Uint8Array, key: Buffer, file: string): Buffer {
  const head = ENCRYPTED_TRUST_LIST_MAGIC.length;
  if (!isEncryptedTrustList(bytes) || bytes.length < head + IV_BYTES + TAG_BYTES) {
    throw new TrustListError(
      file,
      "decrypt",
      `is not an encrypted trust list (it does not start with "${ENCRYPTED_TRUST_LIST_FORMAT}" or is cut short), but a trust list key is set: ` +
        "it was changed or replaced by a plain file; restore it, or encrypt the plain list with plughost trust encrypt",
    );
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const iv = buf.subarray(head, head + IV_BYTES);
  const tag = buf.subarray(head + IV_BYTES, head + IV_BYTES + TAG_BYTES);
  try {
    const decipher = createDecipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(ENCRYPTED_TRUST_LIST_MAGIC);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(buf.subarray(head + IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch (err) {
    throw new TrustListError(
      file,
      "decrypt",
      "cannot be decrypted: the key is wrong or the file was changed (the AES-256-GCM tag does not verify); check PLUGHOST_TRUST_KEY or the key file, or restore the file",
      { cause: err },
    );
  }
}
