/**
 * The plugin API version and the one rule for which plugins a host accepts.
 * Every engine and the resolver use these; none repeats the rule.
 */
import semver from "semver";
import { API_VERSION } from "./abi.js";
import { ApiVersionMismatch } from "./errors.js";

/** The version of the WIT package `plughost:plugin` this host implements (generated from wit/plugin.wit). */
export const HOST_WIT_VERSION = API_VERSION;

/**
 * The part of a version that breaks compatibility, as semver has it: the major
 * version, or for 0.x the minor ("0.1" and "0.2" are incompatible).
 */
export function apiLine(version: string): string | undefined {
  const m = /^(\d+)\.(\d+)(?:\.\d+)?/.exec(version.trim());
  if (!m) return undefined;
  return m[1] === "0" ? `0.${Number(m[2])}` : String(Number(m[1]));
}

/**
 * Whether a plugin built against `pluginVersion` of the API runs on a host that
 * provides `hostVersion` (default: this host): the same major version, or for
 * 0.x the same minor. Never throws; an unparsable version is incompatible.
 *
 * @example
 *   apiCompatible("0.1.3", "0.1.0"); // true
 *   apiCompatible("0.2.0", "0.1.0"); // false
 */
export function apiCompatible(pluginVersion: string, hostVersion: string = HOST_WIT_VERSION): boolean {
  const line = apiLine(pluginVersion);
  return line !== undefined && line === apiLine(hostVersion);
}

/** Throws `ApiVersionMismatch` unless a plugin built against `pluginVersion` (from its binary) runs on this host. */
export function checkBuiltApiVersion(plugin: string, pluginVersion: string, hostVersion: string = HOST_WIT_VERSION): void {
  if (!apiCompatible(pluginVersion, hostVersion)) throw new ApiVersionMismatch(hostVersion, pluginVersion, { plugin });
}

/**
 * Throws `ApiVersionMismatch` unless the manifest's api-version range accepts
 * the host's version. Under semver, 0.x minors are breaking: "^0.1" accepts
 * 0.1.x but not 0.2.0. Prereleases of the host are matched too.
 */
export function checkApiRange(plugin: string, range: string, hostVersion: string = HOST_WIT_VERSION): void {
  const valid = semver.validRange(range);
  if (valid === null || !semver.satisfies(hostVersion, valid, { includePrerelease: true })) {
    throw new ApiVersionMismatch(hostVersion, range, { plugin });
  }
}
