/**
 * Interface ids and versions (docs/host-interfaces.md): parsing `ns:pkg/iface@1.2.3`, and the compatibility rule
 * between the version a plugin imports and the version the host (or another plugin) provides.
 */

/** A parsed semver version; `pre` holds the pre-release identifiers (empty for a release). Build metadata is dropped. */
export interface SemVer {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly pre: readonly string[];
}

const SEMVER = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** Parses `1.2.3`, `1.2.3-rc.1` or `1.2.3+build`; undefined when it is not semver. */
export function parseSemver(version: string): SemVer | undefined {
  const m = SEMVER.exec(version);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre: m[4] ? m[4].split(".") : [] };
}

function comparePre(a: readonly string[], b: readonly string[]): number {
  // A release ranks above its pre-releases; identifiers compare numerically when both are numbers.
  if (a.length === 0 || b.length === 0) return b.length - a.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    const xn = /^[0-9]+$/.test(x);
    const yn = /^[0-9]+$/.test(y);
    if (xn && yn) return Number(x) - Number(y);
    if (xn !== yn) return xn ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** Semver order: negative when a < b, 0 when equal (build metadata ignored), positive when a > b. Not semver: string order. */
export function compareVersions(a: string, b: string): number {
  const x = parseSemver(a);
  const y = parseSemver(b);
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0;
  return x.major - y.major || x.minor - y.minor || x.patch - y.patch || comparePre(x.pre, y.pre);
}

/**
 * Whether an interface at version `provided` satisfies an importer built against `wanted`: the same major (for 0.x
 * the same minor, and for 0.0.x the same patch, as semver's caret), and `provided` at least `wanted`. Unversioned
 * interfaces (undefined) only match unversioned ones.
 */
export function interfaceVersionSatisfies(provided: string | undefined, wanted: string | undefined): boolean {
  if (provided === undefined || wanted === undefined) return provided === wanted;
  const p = parseSemver(provided);
  const w = parseSemver(wanted);
  if (!p || !w) return false;
  if (p.major !== w.major) return false;
  if (w.major === 0) {
    if (p.minor !== w.minor) return false;
    if (w.minor === 0 && p.patch !== w.patch) return false;
  }
  // A pre-release provider only satisfies a pre-release of the same version (semver's rule).
  if (p.pre.length > 0 && (w.pre.length === 0 || p.major !== w.major || p.minor !== w.minor || p.patch !== w.patch)) return false;
  return compareVersions(provided, wanted) >= 0;
}

/** The parts of an interface id `ns:pkg/iface@1.2.3`. */
export interface InterfaceIdParts {
  /** `ns:pkg`. */
  readonly package: string;
  readonly namespace: string;
  readonly packageName: string;
  /** The interface's name. */
  readonly name: string;
  readonly version?: string;
}

const NAME = "[a-z][a-z0-9]*(?:-[a-z0-9]+)*|[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*";
const ID = new RegExp(`^(${NAME}):(${NAME})/(${NAME})(?:@(.+))?$`);

/** Parses `ns:pkg/iface` or `ns:pkg/iface@1.2.3`; undefined when it is not an interface id (or its version is not semver). */
export function parseInterfaceId(id: string): InterfaceIdParts | undefined {
  const m = ID.exec(id);
  if (!m) return undefined;
  const version = m[4];
  if (version !== undefined && !parseSemver(version)) return undefined;
  return { package: `${m[1]}:${m[2]}`, namespace: m[1]!, packageName: m[2]!, name: m[3]!, ...(version !== undefined ? { version } : {}) };
}
