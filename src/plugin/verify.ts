/**
 * verify: read the entry file once and check those bytes against the
 * manifest's `integrity` (`sha256-<hex>` or `sha256-<base64>`) before anything
 * compiles them. The registry hands the same bytes to the engine, so what was
 * verified is what runs (restarts included).
 */
import { createHash } from "node:crypto";
import { InvalidPluginBinary, VerificationError } from "../contract/errors.js";
import type { Manifest } from "./manifest.js";
import { MAX_ENTRY_BYTES, readRegularFile } from "./safe-read.js";

/**
 * The entry file's bytes, or a typed error naming the file. Read with
 * readRegularFile: a regular file of at most MAX_ENTRY_BYTES (256 MiB), and,
 * given the plugin's directory `within`, one whose real path lies inside it.
 */
export async function readEntry(plugin: string, entryPath: string, within?: string): Promise<Uint8Array> {
  try {
    const bytes = await readRegularFile(entryPath, { maxBytes: MAX_ENTRY_BYTES, what: "the entry file", ...(within !== undefined ? { within } : {}) });
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (err) {
    throw new InvalidPluginBinary(entryPath, `cannot use the entry file: ${(err as Error).message}`, { plugin, cause: err });
  }
}

export async function verifyIntegrity(manifest: Manifest, entryBytes?: Uint8Array): Promise<void> {
  if (!manifest.integrity) return;
  const m = /^sha256-(.+)$/.exec(manifest.integrity);
  if (!m) throw new VerificationError(`unsupported integrity "${manifest.integrity}"; use sha256-<hex>`, { plugin: manifest.name });
  const digest = createHash("sha256").update(entryBytes ?? (await readEntry(manifest.name, manifest.entryPath))).digest();
  const expected = m[1]!;
  const matches = /^[0-9a-f]{64}$/i.test(expected)
    ? digest.toString("hex") === expected.toLowerCase()
    : digest.toString("base64") === expected;
  if (!matches) {
    throw new VerificationError(
      `${manifest.entryPath} does not match the manifest's integrity ${manifest.integrity} (sha256-${digest.toString("hex")}); rebuild or update the manifest`,
      { plugin: manifest.name },
    );
  }
}
