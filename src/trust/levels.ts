/**
 * Trust levels (docs/signatures.md): which signer a plugin has, how much the host trusts that signer, and whether
 * that is enough for the capabilities the plugin asks for. The same rule runs when a package is installed and when
 * the registry loads a plugin, so a plugin refused at install cannot load by being copied in by hand.
 */
import type { KeyObject } from "node:crypto";
import { PackageVerificationError, type ManifestProblem } from "../contract/errors.js";
import type { Manifest } from "../plugin/manifest.js";
import type { KeyTrustLevel, TrustList } from "../plugin/signatures.js";

/** The levels, lowest first; an unsigned plugin counts as "local". */
export const TRUST_LEVELS: readonly KeyTrustLevel[] = ["local", "community", "verified"];

/** The pseudo-capability a native plugin asks for with `trust = "trusted"` (run in the host process). */
export const NATIVE_TRUSTED_CAPABILITY = "native:trusted";

/** Whether `v` is a trust level name. Never throws. */
export function isTrustLevel(v: unknown): v is KeyTrustLevel {
  return typeof v === "string" && (TRUST_LEVELS as readonly string[]).includes(v);
}

/** Order of two levels: negative when `a` is lower than `b`, 0 when equal. Never throws. */
export function compareTrustLevels(a: KeyTrustLevel, b: KeyTrustLevel): number {
  return TRUST_LEVELS.indexOf(a) - TRUST_LEVELS.indexOf(b);
}

/**
 * Whether two capability patterns can name a common capability: `*` stands for any run of characters in either.
 * A requirement applies to a capability when they overlap, so `net:outbound:*` covers `net:outbound:api.example:443`
 * and a plugin asking `net:outbound:*:*` is covered by a requirement on `net:outbound:api.example:443` too (it could
 * reach that host). Never throws.
 */
export function capabilityPatternsOverlap(a: string, b: string): boolean {
  // memo[i * (b.length + 1) + j]: 0 unknown, 1 yes, 2 no, for the suffixes a[i..] and b[j..].
  const width = b.length + 1;
  const memo = new Uint8Array((a.length + 1) * width);
  const go = (i: number, j: number): boolean => {
    const slot = i * width + j;
    if (memo[slot] !== 0) return memo[slot] === 1;
    let r: boolean;
    if (i === a.length && j === b.length) r = true;
    else if (i < a.length && a[i] === "*") r = go(i + 1, j) || (j < b.length && go(i, j + 1));
    else if (j < b.length && b[j] === "*") r = go(i, j + 1) || (i < a.length && go(i + 1, j));
    else r = i < a.length && j < b.length && a[i] === b[j] && go(i + 1, j + 1);
    memo[slot] = r ? 1 : 2;
    return r;
  };
  return go(0, 0);
}

/**
 * What a plugin asks for, as requirements see it: its capabilities, its optional capabilities and, for a native
 * plugin whose manifest says `trust = "trusted"`, {@link NATIVE_TRUSTED_CAPABILITY}. Never throws.
 */
export function requestedCapabilities(m: Pick<Manifest, "kind" | "capabilities" | "optionalCapabilities" | "trust">): string[] {
  const out = [...m.capabilities, ...m.optionalCapabilities];
  if (m.kind === "native" && m.trust === "trusted") out.push(NATIVE_TRUSTED_CAPABILITY);
  return out;
}

/** One capability a plugin asks for that its signer's level does not allow. */
export interface TrustLevelShortfall {
  /** The capability the plugin asks for. */
  capability: string;
  /** The requirement's pattern that covers it. */
  pattern: string;
  /** The lowest level the requirement allows. */
  required: KeyTrustLevel;
}

/** Every capability in `capabilities` whose requirement is above `level` (empty when none is). Never throws. */
export function trustLevelShortfalls(trust: TrustList | undefined, level: KeyTrustLevel, capabilities: readonly string[]): TrustLevelShortfall[] {
  const out: TrustLevelShortfall[] = [];
  if (!trust?.requirements) return out;
  for (const capability of capabilities) {
    for (const [pattern, required] of trust.requirements) {
      if (compareTrustLevels(level, required) < 0 && capabilityPatternsOverlap(pattern, capability)) out.push({ capability, pattern, required });
    }
  }
  return out;
}

/**
 * Refuse a plugin whose signer's `level` is below what the trust list's `requirements` ask for a capability it
 * asks for (unsigned plugins count as "local"). Used on install and in the registry's load path.
 *
 * @throws {@link PackageVerificationError} with reason "trust-level" and `plugin` set (the message starts `[plugin]`),
 *   naming every capability refused, the level it has and the level required.
 * @example
 *   // requirements: { "net:outbound:*": "verified" }
 *   checkTrustLevel(trust, "community", ["net:outbound:api.example.com:443"], "fetcher"); // throws
 */
export function checkTrustLevel(trust: TrustList | undefined, level: KeyTrustLevel, capabilities: readonly string[], plugin: string): void {
  const short = trustLevelShortfalls(trust, level, capabilities);
  if (short.length === 0) return;
  const what = short.map((s) => `${s.capability} needs "${s.required}" (requirement ${s.pattern})`).join("; ");
  throw new PackageVerificationError(
    "trust-level",
    `its signer's trust level is "${level}"${level === "local" ? " (unsigned, or signed by a local key)" : ""}, too low for what it asks: ${what}. ` +
      `Have it signed by a key the trust list holds at that level, or remove the capability from its manifest`,
    { plugin },
  );
}

/** How the trust list knows a key id (see {@link signerStatus}). */
export type SignerStatus =
  | { readonly status: "trusted"; readonly key: KeyObject; readonly level: KeyTrustLevel }
  | { readonly status: "revoked"; readonly date: string; readonly reason?: string }
  | { readonly status: "unknown" };

/**
 * Look a signing key id up: trusted (with its public key and level), revoked (with when and why), or unknown.
 * Revoked keys are not in `trust.keys` at all, so a check that forgets revocation still refuses them. Never throws.
 */
export function signerStatus(trust: TrustList, keyId: string): SignerStatus {
  const revoked = trust.revoked?.get(keyId);
  if (revoked) return { status: "revoked", date: revoked.date, ...(revoked.reason !== undefined ? { reason: revoked.reason } : {}) };
  const key = trust.keys.get(keyId);
  if (!key) return { status: "unknown" };
  return { status: "trusted", key, level: trust.levels?.get(keyId) ?? "verified" };
}

/** The sentence every refusal of a revoked key uses: names the key and the revocation date (and reason). Never throws. */
export function revokedKeyMessage(keyId: string, revocation: { readonly date: string; readonly reason?: string }): string {
  return `is signed with key "${keyId}", which the trust list revoked on ${revocation.date}${revocation.reason ? ` (${revocation.reason})` : ""}; ` +
    `re-sign the plugin with a current key`;
}

// ── validation of the written form (used by trustListProblems) ───────────────

const REQUIREMENT_KINDS = ["fs", "env", "clock", "random", "stdio", "metrics", "state", "net", "events", "http", "context", "iface", "native"];
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
const MAX_REASON = 500;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Problems in a key entry's object form `{ key, level?, revoked?, reason? }` besides `key` itself (checked by the caller). */
export function keyEntryProblems(entry: Record<string, unknown>, at: string): ManifestProblem[] {
  const out: ManifestProblem[] = [];
  for (const k of Object.keys(entry)) {
    if (!["key", "level", "revoked", "reason"].includes(k)) out.push({ pointer: `${at}/${k}`, message: `unknown key ${JSON.stringify(k)}; allowed keys are key, level, revoked, reason` });
  }
  if (entry.level !== undefined && !isTrustLevel(entry.level)) out.push({ pointer: `${at}/level`, message: `must be one of ${TRUST_LEVELS.join(", ")}` });
  if (entry.revoked !== undefined) {
    const r = entry.revoked;
    if (typeof r !== "string" || !ISO_DATE.test(r) || Number.isNaN(Date.parse(r))) {
      out.push({ pointer: `${at}/revoked`, message: "must be the revocation date, ISO 8601 (2026-12-01 or 2026-12-01T10:00:00Z)" });
    }
  }
  if (entry.reason !== undefined) {
    if (typeof entry.reason !== "string" || entry.reason.length > MAX_REASON) out.push({ pointer: `${at}/reason`, message: `must be a string of at most ${MAX_REASON} characters` });
    else if (entry.revoked === undefined) out.push({ pointer: `${at}/reason`, message: "is only meaningful with revoked (the revocation date)" });
  }
  return out;
}

/** Problems in `requirements`: capability pattern → lowest level. */
export function requirementProblems(reqs: unknown, at: string): ManifestProblem[] {
  if (!isRecord(reqs)) return [{ pointer: at, message: `must be an object of capability pattern -> lowest trust level (${TRUST_LEVELS.join(", ")})` }];
  const out: ManifestProblem[] = [];
  for (const [pattern, level] of Object.entries(reqs)) {
    const p = `${at}/${pattern.replace(/~/g, "~0").replace(/\//g, "~1")}`;
    const kind = pattern.split(":")[0] ?? "";
    const known = pattern === "*" || kind.startsWith("x-") || REQUIREMENT_KINDS.includes(kind) || (kind.endsWith("*") && kind.length > 1);
    if (pattern.length === 0 || pattern.length > 256 || /\s/.test(pattern) || !known) {
      out.push({ pointer: p, message: `is not a capability pattern (such as net:outbound:*, fs:write:*, native:trusted, or *)` });
    }
    if (!isTrustLevel(level)) out.push({ pointer: p, message: `must be one of ${TRUST_LEVELS.join(", ")}` });
  }
  return out;
}
