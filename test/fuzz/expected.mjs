// Shared by the fuzz targets: only a typed PlughostError is an expected outcome of bad input.
import { PlughostError } from "../../dist/contract/errors.js";

/**
 * Run `fn`; return normally when it succeeds or throws a PlughostError. Anything
 * else (TypeError, RangeError, a plain Error, a non-Error throw) escapes: it is a finding.
 */
export function expectTyped(fn) {
  let result;
  try {
    result = fn();
  } catch (err) {
    if (err instanceof PlughostError) return undefined;
    throw err;
  }
  if (result && typeof result.then === "function") {
    return result.then(
      () => undefined,
      (err) => {
        if (err instanceof PlughostError) return undefined;
        throw err;
      },
    );
  }
  return undefined;
}
