/**
 * What `search` means, shared by every catalog kind: which entries match a query, and which version of a plugin is
 * its current one (shown by `search`).
 */
import semver from "semver";
import type { CatalogEntry, SearchQuery } from "./types.js";

/** Whether `e` matches `q`: text case-insensitively in the name, description or a keyword; category and tag exactly. */
export function matchesQuery(e: CatalogEntry, q: SearchQuery): boolean {
  if (q.category !== undefined && !e.categories.includes(q.category)) return false;
  if (q.tag !== undefined && !e.keywords.includes(q.tag)) return false;
  if (q.text !== undefined && q.text !== "") {
    const t = q.text.toLowerCase();
    if (![e.name, e.description ?? "", ...e.keywords].some((s) => s.toLowerCase().includes(t))) return false;
  }
  return true;
}

/**
 * A plugin's current version among `versions` (valid semver strings): the highest release, or the highest
 * prerelease when there is no release (as npm's `latest` is never a prerelease unless nothing else exists).
 */
export function currentVersion(versions: readonly string[]): string | undefined {
  const sorted = [...versions].sort(semver.rcompare);
  return sorted.find((v) => semver.prerelease(v) === null) ?? sorted[0];
}
