/**
 * The host config's `signatures` section: the trust list inline (`{ keys, pins?, require?, requirements? }`) or a
 * reference to a trust list file (`{ file, keyFile? }`, relative paths against the config file's directory), which
 * `loadHostConfig` reads (decrypting it when it is encrypted).
 */
import path from "node:path";
import type { ManifestProblem } from "../contract/errors.js";
import { trustListProblems } from "../plugin/signatures.js";

/** The host config's `signatures` section when it names a trust list file. */
export interface TrustListReference {
  /** The trust list file (plain JSON or encrypted; docs/signatures.md). */
  file: string;
  /** The file holding its key (else `PLUGHOST_TRUST_KEY` is used when the file is encrypted). */
  keyFile?: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Whether a `signatures` section names a file (has a `file` field) rather than holding the list. Never throws. */
export function isTrustListReference(v: unknown): v is TrustListReference {
  return isRecord(v) && "file" in v;
}

/** Problems in a host config's `signatures` section, either form (empty when it is valid). Never throws. */
export function signaturesSectionProblems(v: unknown, base = "/signatures"): ManifestProblem[] {
  if (!isTrustListReference(v)) return trustListProblems(v, base);
  const out: ManifestProblem[] = [];
  const ref = v as unknown as Record<string, unknown>;
  for (const k of Object.keys(ref)) {
    if (k !== "file" && k !== "keyFile") out.push({ pointer: `${base}/${k}`, message: `cannot be set beside file; put ${k} in the trust list file (or drop file and write the list here)` });
  }
  for (const k of ["file", "keyFile"]) {
    if (ref[k] !== undefined && (typeof ref[k] !== "string" || ref[k] === "")) out.push({ pointer: `${base}/${k}`, message: "must be a file path" });
  }
  return out;
}

/** The reference with its paths made absolute against `baseDir`. Never throws. */
export function resolveTrustListReference(ref: TrustListReference, baseDir: string): TrustListReference {
  return { file: path.resolve(baseDir, ref.file), ...(ref.keyFile !== undefined ? { keyFile: path.resolve(baseDir, ref.keyFile) } : {}) };
}
