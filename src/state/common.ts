/** Rules every state backend applies the same way, so SQLite and Redis answer alike. */
import type { StateUsage } from "./backend.js";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
// Redis's own rule for INCRBY (string2ll): no sign '+', no spaces, no leading zeros, no "-0".
const DECIMAL = /^(?:0|-?[1-9][0-9]{0,18})$/;
const decoder = new TextDecoder("utf-8", { fatal: false });

/** The integer a stored value spells in decimal, or undefined when it is not a signed 64-bit decimal integer. */
export function parseStoredInteger(value: Uint8Array): bigint | undefined {
  if (value.length === 0 || value.length > 20) return undefined;
  const text = decoder.decode(value);
  if (!DECIMAL.test(text)) return undefined;
  const n = BigInt(text);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

/** True when `n` fits a signed 64-bit integer. */
export function inInt64(n: bigint): boolean {
  return n >= INT64_MIN && n <= INT64_MAX;
}

/**
 * True when a write that moves usage from `before` to `after` must be refused. Only growth past the quota is
 * refused, so a namespace over a quota that was lowered can still shrink (overwrite with less, delete).
 */
export function passesQuota(before: StateUsage, after: StateUsage, quota: StateUsage): boolean {
  return (after.bytes > quota.bytes && after.bytes > before.bytes) || (after.keys > quota.keys && after.keys > before.keys);
}

/** The UTF-8 byte length of a key. */
export function keyBytes(key: string): number {
  return Buffer.byteLength(key, "utf8");
}
