/**
 * The manifest's `assets` key: paths or simple globs (`*` within a segment, `**` any depth) relative to the plugin
 * directory, naming the extra files `plughost pack` puts in the package. Patterns are checked when the manifest loads;
 * they are matched only at pack time (an installed plugin may be loaded without its sources).
 */
import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import { ManifestError, PackageError, type ManifestProblem } from "../contract/errors.js";

/** Bounds of the `assets` key (the schema states the same). */
export const ASSET_BOUNDS = Object.freeze({
  /** Patterns in one manifest. */
  maxPatterns: 256,
  /** Characters in one pattern. */
  maxPatternLength: 256,
  /** Directory entries walked while matching (a plugin directory is small; a huge one is a mistake). */
  maxWalkedEntries: 100_000,
});

/** Why `pattern` is not a valid asset pattern, or undefined when it is one. */
export function assetPatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return "must not be empty";
  if (pattern.length > ASSET_BOUNDS.maxPatternLength) return `must be at most ${ASSET_BOUNDS.maxPatternLength} characters`;
  if (pattern.includes("\0")) return "contains a NUL byte; remove it";
  if (pattern.includes("\\")) return `${JSON.stringify(pattern)} contains a backslash; separate directories with "/"`;
  if (pattern.startsWith("/") || /^[A-Za-z]:/.test(pattern)) return `${JSON.stringify(pattern)} is absolute; give a path relative to the plugin directory`;
  const segments = pattern.split("/");
  if (segments.some((s) => s === "..")) return `${JSON.stringify(pattern)} leaves the plugin directory (..); assets must lie inside it`;
  if (segments.some((s) => s === "" || s === ".")) return `${JSON.stringify(pattern)} has an empty or "." segment; write it as a plain relative path like "data/table.json"`;
  if (segments.some((s) => s.includes("**") && s !== "**")) return `${JSON.stringify(pattern)}: "**" must be a whole segment, like "static/**"`;
  return undefined;
}

/**
 * Problems of a manifest's `assets` value, with pointers under /assets. `clean` says whether the schema passed a
 * pointer (a pattern the schema already refused is not reported twice).
 */
export function assetProblems(assets: unknown, clean: (pointer: string) => boolean = () => true): ManifestProblem[] {
  if (!Array.isArray(assets)) return [];
  const problems: ManifestProblem[] = [];
  assets.forEach((p: unknown, i) => {
    if (typeof p !== "string" || !clean(`/assets/${i}`)) return;
    const why = assetPatternProblem(p);
    if (why) problems.push({ pointer: `/assets/${i}`, message: why });
  });
  return problems;
}

/** Whether one path segment matches a pattern segment with `*` wildcards (two-pointer, linear backtracking). */
function segmentMatches(pat: string, s: string): boolean {
  let p = 0, i = 0, star = -1, mark = 0;
  while (i < s.length) {
    if (p < pat.length && pat[p] !== "*" && pat[p] === s[i]) { p++; i++; }
    else if (p < pat.length && pat[p] === "*") { star = p++; mark = i; }
    else if (star >= 0) { p = star + 1; i = ++mark; }
    else return false;
  }
  while (p < pat.length && pat[p] === "*") p++;
  return p === pat.length;
}

/**
 * Whether the relative path `rel` ("/"-separated) matches `pattern`. `**` as the last segment matches one or more
 * segments (the files below a directory); elsewhere it matches zero or more.
 */
export function assetMatches(pattern: string, rel: string): boolean {
  const ps = pattern.split("/");
  const ss = rel.split("/");
  // Memoized over (pattern segment, path segment): polynomial however many `**` a pattern has.
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (ss.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let r: boolean;
    if (i === ps.length) r = j === ss.length;
    else if (ps[i] === "**") r = i === ps.length - 1 ? j < ss.length : go(i + 1, j) || (j < ss.length && go(i, j + 1));
    else r = j < ss.length && segmentMatches(ps[i] as string, ss[j] as string) && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

/** Identifies the plugin whose assets are matched, for errors. */
export interface AssetOwner {
  /** The plugin's name. */
  name: string;
  /** Absolute path of its manifest file. */
  file: string;
  /** Absolute plugin directory. */
  dir: string;
}

/**
 * The files the `assets` patterns match in the plugin directory, as sorted, deduplicated absolute paths. Links are not
 * followed while walking. Directories themselves are not matched (`static/**` names the files below `static`).
 *
 * @throws {@link ManifestError} (pointer `/assets/<i>`) when a pattern matches no file.
 * @throws {@link PackageError} naming the file when a match is a link or not a regular file, or when the directory
 *   holds more than `ASSET_BOUNDS.maxWalkedEntries` entries.
 */
export async function matchAssets(owner: AssetOwner, patterns: readonly string[]): Promise<string[]> {
  if (patterns.length === 0) return [];
  const entries = await readdir(owner.dir, { recursive: true, withFileTypes: true });
  if (entries.length > ASSET_BOUNDS.maxWalkedEntries) {
    throw new PackageError(owner.dir, `holds more than ${ASSET_BOUNDS.maxWalkedEntries} entries; pack a smaller directory`, { plugin: owner.name });
  }
  const candidates = entries
    .filter((e) => !e.isDirectory())
    .map((e) => path.join(e.parentPath, e.name))
    .map((abs) => ({ abs, rel: path.relative(owner.dir, abs).split(path.sep).join("/") }));
  const out = new Set<string>();
  const problems: ManifestProblem[] = [];
  for (const [i, pattern] of patterns.entries()) {
    const hits = candidates.filter((c) => assetMatches(pattern, c.rel));
    if (hits.length === 0) problems.push({ pointer: `/assets/${i}`, message: `${JSON.stringify(pattern)} matches no file in ${owner.dir}; fix the pattern or add the file` });
    for (const h of hits) out.add(h.abs);
  }
  if (problems.length > 0) throw new ManifestError(owner.file, problems, { plugin: owner.name });
  for (const abs of out) {
    // lstat: a link (even to a file inside) is refused, so the package holds what the directory shows.
    const info = await lstat(abs);
    const rel = path.relative(owner.dir, abs).split(path.sep).join("/");
    if (info.isSymbolicLink()) throw new PackageError(abs, `asset ${rel} is a link; copy the file into the plugin directory instead`, { plugin: owner.name });
    if (!info.isFile()) throw new PackageError(abs, `asset ${rel} is not a regular file`, { plugin: owner.name });
  }
  return [...out].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
