/**
 * verify: check the entry file against the manifest's `integrity`
 * (`sha256-<hex>` or `sha256-<base64>`) before anything compiles it.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { VerificationError } from "./errors.js";
import type { Manifest } from "./manifest.js";

export async function verifyIntegrity(manifest: Manifest): Promise<void> {
  if (!manifest.integrity) return;
  const m = /^sha256-(.+)$/.exec(manifest.integrity);
  if (!m) throw new VerificationError(`unsupported integrity "${manifest.integrity}"; use sha256-<hex>`, { plugin: manifest.name });
  const digest = createHash("sha256").update(await readFile(manifest.entryPath)).digest();
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
