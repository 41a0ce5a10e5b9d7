/**
 * Changes to a trust list as `plughost trust` makes them: add a key (rotation is adding the new key, re-signing,
 * then revoking the old one), revoke a key, set a capability's required level. Each returns a new policy and leaves
 * the one given unchanged; nothing is ever deleted, so a revoked key stays on record with its date.
 */
import { TrustListError } from "../contract/errors.js";
import { KEY_ID_PATTERN, publicKeyFromBase64, trustListProblems, type KeyTrustLevel, type SignaturePolicy, type TrustedKeyEntry } from "../plugin/signatures.js";
import { requirementProblems } from "./levels.js";

function entryOf(v: string | TrustedKeyEntry): TrustedKeyEntry {
  return typeof v === "string" ? { key: v } : { ...v };
}

/** The written form of an entry: a bare string for a plain verified key, else the object. */
function compact(e: TrustedKeyEntry): string | TrustedKeyEntry {
  return e.revoked === undefined && (e.level === undefined || e.level === "verified") ? e.key : e;
}

/**
 * Add a key (or change the level of a key already listed with the same public key).
 * @param file The trust list file, for errors.
 * @throws {@link TrustListError} "format" for a bad key id or public key, an id already listed with another key (ids
 *   name keys; add the new key under a new id), or a revoked key (it stays revoked).
 */
export function addTrustedKey(policy: SignaturePolicy, file: string, id: string, publicKey: string, level: KeyTrustLevel = "verified"): SignaturePolicy {
  if (!KEY_ID_PATTERN.test(id)) throw new TrustListError(file, "format", `"${id}" is not a valid key id (letters, digits, . _ -; at most 64)`);
  try {
    publicKeyFromBase64(publicKey);
  } catch (err) {
    throw new TrustListError(file, "format", `the public key for "${id}" ${(err as Error).message}`, { cause: err });
  }
  const existing = policy.keys[id];
  if (existing !== undefined) {
    const e = entryOf(existing);
    if (e.key !== publicKey) throw new TrustListError(file, "format", `key id "${id}" is already listed with another public key; add the new key under a new id, re-sign, then revoke "${id}"`);
    if (e.revoked !== undefined) throw new TrustListError(file, "format", `key "${id}" was revoked on ${e.revoked}; a revoked key stays revoked, add a new key under a new id`);
  }
  return { ...policy, keys: { ...policy.keys, [id]: compact({ key: publicKey, level }) } };
}

/**
 * Revoke a key: it stays listed with the date (and reason), verifies nothing from then on, and every plugin it signed
 * is refused naming it and the date.
 * @param options `date`: ISO 8601 date, default today (UTC); `reason`: why, shown in refusals.
 * @throws {@link TrustListError} "format" when the id is not listed, is already revoked, or the date or reason is invalid.
 */
export function revokeTrustedKey(policy: SignaturePolicy, file: string, id: string, options: { date?: string; reason?: string } = {}): SignaturePolicy {
  const existing = policy.keys[id];
  if (existing === undefined) throw new TrustListError(file, "format", `there is no key "${id}" to revoke; listed: ${Object.keys(policy.keys).join(", ") || "none"}`);
  const e = entryOf(existing);
  if (e.revoked !== undefined) throw new TrustListError(file, "format", `key "${id}" was already revoked on ${e.revoked}`);
  const date = options.date ?? new Date().toISOString().slice(0, 10);
  const next: SignaturePolicy = { ...policy, keys: { ...policy.keys, [id]: { ...e, revoked: date, ...(options.reason !== undefined ? { reason: options.reason } : {}) } } };
  const problems = trustListProblems(next, "").filter((p) => p.pointer.startsWith(`/keys/${id}`));
  if (problems.length > 0) throw new TrustListError(file, "format", problems.map((p) => `${p.pointer}: ${p.message}`).join("; "));
  return next;
}

/**
 * Require at least `level` of the signer of any plugin that asks for a capability matching `pattern`
 * (`undefined` removes the requirement).
 * @throws {@link TrustListError} "format" for a pattern that is not a capability pattern, or a bad level.
 */
export function setTrustRequirement(policy: SignaturePolicy, file: string, pattern: string, level: KeyTrustLevel | undefined): SignaturePolicy {
  const requirements = { ...(policy.requirements ?? {}) };
  if (level === undefined) delete requirements[pattern];
  else {
    const problems = requirementProblems({ [pattern]: level }, "/requirements");
    if (problems.length > 0) throw new TrustListError(file, "format", problems.map((p) => `${p.pointer}: ${p.message}`).join("; "));
    requirements[pattern] = level;
  }
  const { requirements: _, ...rest } = policy;
  return Object.keys(requirements).length > 0 ? { ...rest, requirements } : rest;
}
