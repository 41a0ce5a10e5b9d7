/**
 * Catalogue metadata (docs/manifest.md, "Catalogue metadata"): the manifest keys a catalog
 * shows and searches — description, authors, license, homepage, repository, keywords,
 * categories. The manifest schema checks their shapes; this module holds the rules a
 * schema cannot express (an SPDX expression against the real id list, URLs that parse,
 * no credentials in them), the same checks in code for metadata that never went through
 * the schema (a package's `plughost-package.json`), and their rendering for `inspect`
 * and `search`.
 */
import { createRequire } from "node:module";
import type { ManifestProblem } from "../contract/errors.js";

const require = createRequire(import.meta.url);

/** One node of spdx-expression-parse's tree. */
type SpdxNode = { license: string; plus?: true; exception?: string } | { left: SpdxNode; conjunction: "and" | "or"; right: SpdxNode };

// CommonJS packages without types: typed here, at the one place they enter.
const parseSpdx = require("spdx-expression-parse") as (expression: string) => SpdxNode;
const SPDX_IDS: readonly string[] = require("spdx-license-ids") as string[];
const SPDX_DEPRECATED_IDS: readonly string[] = require("spdx-license-ids/deprecated.json") as string[];
const SPDX_EXCEPTIONS: readonly string[] = require("spdx-exceptions") as string[];

/** Bounds on catalogue metadata; schema/manifest.schema.json states the same numbers (a test holds them equal). */
export const CATALOGUE_BOUNDS = Object.freeze({
  /** Characters in `description` (one line). */
  description: 512,
  /** Characters in one author (`"Name <mail>"`). */
  author: 256,
  /** Entries in `authors`. */
  authors: 64,
  /** Characters in `license`. */
  license: 256,
  /** Characters in `homepage` and `repository`. */
  url: 2048,
  /** Entries in `keywords`. */
  keywords: 20,
  /** Entries in `categories`. */
  categories: 5,
  /** Characters in one keyword or category. */
  slug: 32,
});

/** The catalogue fields of a manifest, as a package's metadata and a catalog entry carry them too. */
export interface CatalogueMetadata {
  /** One line on what the plugin does. */
  description?: string;
  /** Its authors, `"Name <mail>"` each. */
  authors?: string[];
  /** An SPDX license expression. */
  license?: string;
  /** An http(s) URL. */
  homepage?: string;
  /** The source repository's URL. */
  repository?: string;
  /** Lower-case slugs `search --tag` matches. */
  keywords?: string[];
  /** Lower-case slugs `search --category` matches. */
  categories?: string[];
}

/** The catalogue keys, in the order `inspect` and `search` show them. */
export const CATALOGUE_KEYS = ["description", "authors", "license", "homepage", "repository", "keywords", "categories"] as const;

const ONE_LINE = /^[^\u0000-\u001f\u007f]*$/;
const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const REPOSITORY_SCHEMES = ["https:", "http:", "git:", "ssh:", "git+https:", "git+ssh:"];

const lowerIds = new Map<string, string>();
for (const id of [...SPDX_IDS, ...SPDX_DEPRECATED_IDS, ...SPDX_EXCEPTIONS]) lowerIds.set(id.toLowerCase(), id);
const knownIds = new Set([...SPDX_IDS, ...SPDX_DEPRECATED_IDS]);
const knownExceptions = new Set(SPDX_EXCEPTIONS);

/**
 * What is wrong with an SPDX license expression (`MIT`, `MIT OR Apache-2.0`,
 * `GPL-2.0-or-later WITH Classpath-exception-2.0`, `LicenseRef-acme`), in words with
 * the fix; undefined when it is valid. Ids are checked against the SPDX list
 * (spdx-license-ids), case-sensitively, as SPDX tools match them.
 * @example
 *   spdxLicenseProblem("mit"); // '"mit" is not an SPDX license id; did you mean "MIT"?'
 */
export function spdxLicenseProblem(expression: string): string | undefined {
  if (expression.trim() === "") return 'must not be empty; give an SPDX expression like "MIT" or "MIT OR Apache-2.0"';
  if (expression.length > CATALOGUE_BOUNDS.license) return `must be at most ${CATALOGUE_BOUNDS.license} characters long`;
  // Words first: an unknown id gets a named suggestion rather than the parser's "unexpected character".
  let previous = "";
  for (const word of expression.split(/[\s()]+/)) {
    const afterWith = /^WITH$/i.test(previous);
    previous = word;
    const id = word.endsWith("+") ? word.slice(0, -1) : word;
    if (id === "" || /^(AND|OR|WITH)$/i.test(id) || /^(LicenseRef|DocumentRef)-/.test(id)) continue;
    if (knownExceptions.has(id) && !afterWith) return `${JSON.stringify(id)} is a licence exception; it follows a licence after WITH, like "GPL-2.0-or-later WITH ${id}"`;
    if (knownIds.has(id) && afterWith) return `${JSON.stringify(id)} is a licence, not an exception; after WITH comes an exception id like "Classpath-exception-2.0"`;
    if (knownIds.has(id) || knownExceptions.has(id)) continue;
    const near = lowerIds.get(id.toLowerCase());
    return (
      `${JSON.stringify(id)} is not an SPDX license id` +
      (near ? `; did you mean ${JSON.stringify(near)}?` : `; use an id from https://spdx.org/licenses/ (or "LicenseRef-<name>" for a licence of your own)`)
    );
  }
  try {
    parseSpdx(expression);
  } catch (err) {
    // The parser's own errors name the offset; a TypeError is its way of saying the expression stopped short.
    const why = err instanceof TypeError ? "it is incomplete" : err instanceof Error ? err.message : String(err);
    return `is not a valid SPDX expression (${why}); join ids with AND / OR, group with parentheses, like "(MIT OR Apache-2.0) AND BSD-3-Clause"`;
  }
  return undefined;
}

/** What is wrong with a homepage or repository URL; undefined when it is fine. */
export function catalogueUrlProblem(value: string, key: "homepage" | "repository"): string | undefined {
  const example = key === "homepage" ? '"https://example.com/my-plugin"' : '"https://github.com/acme/my-plugin"';
  if (value.length > CATALOGUE_BOUNDS.url) return `must be at most ${CATALOGUE_BOUNDS.url} characters long`;
  if (/^[\w.-]+@[\w.-]+:/.test(value)) return `is an scp-style address, not a URL; write it as "ssh://${value.replace(":", "/")}"`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be an absolute URL like ${example}, got ${JSON.stringify(value.slice(0, 80))}`;
  }
  const schemes = key === "homepage" ? ["https:", "http:"] : REPOSITORY_SCHEMES;
  if (!schemes.includes(url.protocol)) return `must use ${schemes.map((s) => s.slice(0, -1)).join(", ")}, got ${JSON.stringify(url.protocol.slice(0, -1))}; like ${example}`;
  if (url.hostname === "") return `names no host; write it like ${example}`;
  // A manifest is published with the package: a password in it would be published too.
  if (url.password !== "") return "carries a password; remove it (the manifest is published with the package)";
  if (url.username !== "" && !url.protocol.includes("ssh")) return "carries a user name; remove it (only ssh URLs name a user, like ssh://git@host/repo)";
  return undefined;
}

/** Whether a place (a JSON pointer) is left to these checks: false where the schema already reported it. */
type Clean = (pointer: string) => boolean;

/**
 * The catalogue-metadata checks a JSON Schema cannot express, on a raw manifest
 * document (keys as written): the SPDX expression, URLs, and `author` beside
 * `authors`. Places `clean` says the schema already reported are skipped.
 */
export function catalogueSemanticProblems(doc: Readonly<Record<string, unknown>>, clean: Clean = () => true): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  if (typeof doc.license === "string" && clean("/license")) {
    const p = spdxLicenseProblem(doc.license);
    if (p) problems.push({ pointer: "/license", message: p });
  }
  for (const key of ["homepage", "repository"] as const) {
    const v = doc[key];
    if (typeof v === "string" && clean("/" + key)) {
      const p = catalogueUrlProblem(v, key);
      if (p) problems.push({ pointer: "/" + key, message: p });
    }
  }
  if (doc.author !== undefined && doc.authors !== undefined) {
    problems.push({ pointer: "/author", message: "is given beside authors; move it into authors (author is the older single-name form)" });
  }
  return problems;
}

/**
 * Every catalogue-metadata rule (types, bounds, slugs, one-line texts, and the
 * semantic checks) in code, for metadata that did not pass the manifest schema:
 * a package's `plughost-package.json` or a catalog's index. Unknown keys are
 * not this function's business. Pointers are relative to `meta`.
 * @example
 *   const problems = catalogueMetadataProblems(JSON.parse(text));
 *   if (problems.length > 0) throw new PackageError(...);
 */
export function catalogueMetadataProblems(meta: Readonly<Record<string, unknown>>): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const bad = new Set<string>();
  const report = (pointer: string, message: string): void => {
    problems.push({ pointer, message });
    bad.add(pointer);
  };
  const line = (pointer: string, v: unknown, max: number, what: string): void => {
    if (typeof v !== "string") report(pointer, `must be ${what}, got ${typeof v}`);
    else if (v.length === 0 || v.length > max || !ONE_LINE.test(v)) report(pointer, `must be ${what}: 1 to ${max} characters on one line`);
  };
  const list = (key: string, max: number, item: (pointer: string, v: unknown) => void): void => {
    const v = meta[key];
    if (v === undefined) return;
    if (!Array.isArray(v)) return report("/" + key, "must be an array");
    if (v.length > max) return report("/" + key, `must have at most ${max} items`);
    const seen = new Set<unknown>();
    v.forEach((x: unknown, i) => {
      item(`/${key}/${i}`, x);
      if (seen.has(x)) report("/" + key, `must not list the same item twice (${JSON.stringify(x)})`);
      seen.add(x);
    });
  };
  const slug = (pointer: string, v: unknown): void => {
    if (typeof v !== "string" || v.length > CATALOGUE_BOUNDS.slug || !SLUG.test(v)) {
      report(pointer, `must be a lower-case slug of 1 to ${CATALOGUE_BOUNDS.slug} characters (a-z, 0-9, single '-' between words) like "json-schema", got ${JSON.stringify(v)?.slice(0, 80)}`);
    }
  };
  if (meta.description !== undefined) line("/description", meta.description, CATALOGUE_BOUNDS.description, "a description");
  if (meta.author !== undefined) line("/author", meta.author, CATALOGUE_BOUNDS.author, "a name like \"Ada <ada@example.com>\"");
  list("authors", CATALOGUE_BOUNDS.authors, (p, v) => line(p, v, CATALOGUE_BOUNDS.author, 'a name like "Ada <ada@example.com>"'));
  for (const key of ["license", "homepage", "repository"]) if (meta[key] !== undefined && typeof meta[key] !== "string") report("/" + key, `must be a string, got ${typeof meta[key]}`);
  list("keywords", CATALOGUE_BOUNDS.keywords, slug);
  list("categories", CATALOGUE_BOUNDS.categories, slug);
  problems.push(...catalogueSemanticProblems(meta, (p) => !bad.has(p)));
  return problems;
}

/**
 * The catalogue fields of a raw manifest document, normalized: a lone `author`
 * becomes `authors: [author]`, empty lists are left out. `doc` passed validation.
 */
export function normalizeCatalogueMetadata(doc: Readonly<Record<string, unknown>>): CatalogueMetadata {
  const out: CatalogueMetadata = {};
  for (const key of ["description", "license", "homepage", "repository"] as const) {
    const v = doc[key];
    if (typeof v === "string") out[key] = v;
  }
  const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.length > 0 ? v.map(String) : undefined);
  const authors = strings(doc.authors) ?? (typeof doc.author === "string" ? [doc.author] : undefined);
  if (authors) out.authors = authors;
  const keywords = strings(doc.keywords);
  if (keywords) out.keywords = keywords;
  const categories = strings(doc.categories);
  if (categories) out.categories = categories;
  return out;
}

/** The catalogue fields present in `source` (a Manifest, a PackageMetadata, a catalog entry), copied. */
export function catalogueMetadataOf(source: Readonly<CatalogueMetadata>): CatalogueMetadata {
  const out: CatalogueMetadata = {};
  for (const key of CATALOGUE_KEYS) {
    const v = source[key];
    if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    (out as Record<string, unknown>)[key] = Array.isArray(v) ? [...v] : v;
  }
  return out;
}

/**
 * The catalogue fields as `key: value` lines for people (`inspect`, `search`),
 * in CATALOGUE_KEYS order; lists joined by ", ". No line for an absent field.
 * @example
 *   formatCatalogueMetadata({ license: "MIT", keywords: ["json"] }); // ["license: MIT", "keywords: json"]
 */
export function formatCatalogueMetadata(meta: Readonly<CatalogueMetadata>): string[] {
  const lines: string[] = [];
  for (const key of CATALOGUE_KEYS) {
    const v = meta[key];
    if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    lines.push(`${key}: ${Array.isArray(v) ? v.join(", ") : v}`);
  }
  return lines;
}
