/**
 * The package's two JSON documents, `plughost-package.json` and `package.sig`: written with a fixed key order (so a
 * package's bytes are deterministic) and read strictly (unknown fields, wrong types and unsafe paths are refused).
 */
import { PackageError } from "../contract/errors.js";
import { MANIFEST_FILES } from "../plugin/manifest.js";
import { DIGEST_PATTERN, KEY_ID_PATTERN, PLUGIN_NAME_PATTERN, SIGNATURE_PATTERN, VERSION_PATTERN } from "../plugin/signatures.js";
import { unsafePathReason } from "./tar.js";
import {
  PACKAGE_FORMAT,
  PACKAGE_METADATA_FILE,
  PACKAGE_SIGNATURE_FILE,
  PACKAGE_SIGNATURE_FORMAT,
  type PackageDependency,
  type PackageFileInfo,
  type PackageMetadata,
  type PackageSignature,
} from "./types.js";

const CREATED_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

const encoder = new TextEncoder();

/** The bytes of `plughost-package.json` for `m`: keys in the documented order, two-space indent, final newline. */
export function serializeMetadata(m: PackageMetadata): Uint8Array {
  const ordered: Record<string, unknown> = {
    format: m.format,
    name: m.name,
    version: m.version,
    kind: m.kind,
    manifest: m.manifest,
    entry: m.entry,
    platform: m.platform,
    description: m.description,
    authors: m.authors,
    license: m.license,
    homepage: m.homepage,
    repository: m.repository,
    keywords: m.keywords,
    categories: m.categories,
    dependencies: m.dependencies.map((d) => ({ name: d.name, version: d.version, optional: d.optional, peer: d.peer })),
    created: m.created,
    build: Object.fromEntries(Object.entries(m.build).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    size: m.size,
    files: m.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
  };
  return encoder.encode(JSON.stringify(ordered, null, 2) + "\n");
}

/** The bytes of `package.sig` for `s`. */
export function serializeSignature(s: PackageSignature): Uint8Array {
  const ordered = { format: s.format, key: s.key, name: s.name, version: s.version, metadata: s.metadata, signature: s.signature };
  return encoder.encode(JSON.stringify(ordered, null, 2) + "\n");
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseJson(bytes: Uint8Array, file: string, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new PackageError(file, `${what} is not UTF-8 JSON (${(err as Error).message}); pack the plugin again`);
  }
  if (!isRecord(doc)) throw new PackageError(file, `${what} is not a JSON object; pack the plugin again`);
  return doc;
}

function unknownFields(doc: Record<string, unknown>, allowed: readonly string[]): string[] {
  return Object.keys(doc).filter((k) => !allowed.includes(k));
}

const METADATA_FIELDS = [
  "format", "name", "version", "kind", "manifest", "entry", "platform", "description", "authors", "license", "homepage",
  "repository", "keywords", "categories", "dependencies", "created", "build", "size", "files",
] as const;

/**
 * Parse `plughost-package.json` strictly.
 * @throws {@link PackageError} naming `file` and the first field that is missing, of the wrong type, or unsafe.
 */
export function parseMetadata(bytes: Uint8Array, file: string): PackageMetadata {
  const doc = parseJson(bytes, file, PACKAGE_METADATA_FILE);
  const bad = (field: string, problem: string): never => {
    throw new PackageError(file, `${PACKAGE_METADATA_FILE}: "${field}" ${problem}; pack the plugin again with plughost pack`);
  };
  const extra = unknownFields(doc, METADATA_FIELDS);
  if (extra.length) bad(extra[0] as string, "is not a field of the package format");
  if (doc.format !== PACKAGE_FORMAT) bad("format", `must be "${PACKAGE_FORMAT}" (got ${JSON.stringify(doc.format)}): a newer plughost may have written it`);
  const str = (field: string, pattern?: RegExp, optional = false): string | undefined => {
    const v = doc[field];
    if (v === undefined && optional) return undefined;
    if (typeof v !== "string" || (pattern && !pattern.test(v)) || v.length > 4096) bad(field, v === undefined ? "is missing" : `is invalid (${JSON.stringify(v).slice(0, 80)})`);
    return v as string;
  };
  const strList = (field: string, optional = false): string[] | undefined => {
    const v = doc[field];
    if (v === undefined && optional) return undefined;
    if (!Array.isArray(v) || v.length > 256 || !v.every((x) => typeof x === "string" && x.length <= 1024)) bad(field, "must be a list of strings");
    return [...(v as string[])];
  };
  const safePath = (field: string): string => {
    const p = str(field) as string;
    const why = unsafePathReason(p);
    if (why) bad(field, `names a path that ${why}`);
    return p;
  };
  const name = str("name", PLUGIN_NAME_PATTERN) as string;
  const version = str("version", VERSION_PATTERN) as string;
  const kind = doc.kind;
  if (kind !== "component" && kind !== "native") bad("kind", 'must be "component" or "native"');
  const manifest = safePath("manifest");
  if (!(MANIFEST_FILES as readonly string[]).includes(manifest)) bad("manifest", `must be ${MANIFEST_FILES.join(" or ")}`);
  const entry = safePath("entry");

  if (!Array.isArray(doc.dependencies) || doc.dependencies.length > 1024) bad("dependencies", "must be a list");
  const dependencies: PackageDependency[] = (doc.dependencies as unknown[]).map((d, i) => {
    if (!isRecord(d) || unknownFields(d, ["name", "version", "optional", "peer"]).length) return bad(`dependencies/${i}`, "must be { name, version, optional?, peer? }");
    if (typeof d.name !== "string" || !PLUGIN_NAME_PATTERN.test(d.name)) return bad(`dependencies/${i}/name`, "is not a plugin name");
    if (typeof d.version !== "string" || d.version.length > 256) return bad(`dependencies/${i}/version`, "must be a semver range");
    if (d.optional !== undefined && typeof d.optional !== "boolean") return bad(`dependencies/${i}/optional`, "must be true or false");
    if (d.peer !== undefined && typeof d.peer !== "boolean") return bad(`dependencies/${i}/peer`, "must be true or false");
    const dep: PackageDependency = { name: d.name, version: d.version };
    if (d.optional !== undefined) dep.optional = d.optional;
    if (d.peer !== undefined) dep.peer = d.peer;
    return dep;
  });

  const build = doc.build;
  if (!isRecord(build) || typeof build.plughost !== "string" || !Object.values(build).every((v) => typeof v === "string")) bad("build", 'must be an object of strings with "plughost"');
  if (typeof doc.size !== "number" || !Number.isSafeInteger(doc.size) || doc.size < 0) bad("size", "must be a byte count");

  if (!Array.isArray(doc.files) || doc.files.length === 0) bad("files", "must list the plugin's files");
  const files: PackageFileInfo[] = [];
  let sum = 0;
  for (const [i, f] of (doc.files as unknown[]).entries()) {
    if (!isRecord(f) || unknownFields(f, ["path", "size", "sha256"]).length) bad(`files/${i}`, "must be { path, size, sha256 }");
    const r = f as Record<string, unknown>;
    const why = typeof r.path === "string" ? unsafePathReason(r.path) : "is not a string";
    if (why) bad(`files/${i}/path`, `names a path that ${why}`);
    if (r.path === PACKAGE_METADATA_FILE || r.path === PACKAGE_SIGNATURE_FILE) bad(`files/${i}/path`, "names a file reserved for the package itself");
    if (typeof r.size !== "number" || !Number.isSafeInteger(r.size) || r.size < 0) bad(`files/${i}/size`, "must be a byte count");
    if (typeof r.sha256 !== "string" || !DIGEST_PATTERN.test(r.sha256)) bad(`files/${i}/sha256`, "must be sha256-<64 hex digits>");
    const info = { path: r.path as string, size: r.size as number, sha256: r.sha256 as string };
    const prev = files[files.length - 1];
    if (prev && !(prev.path < info.path)) bad(`files/${i}/path`, "is not in sorted order (or is listed twice)");
    files.push(info);
    sum += info.size;
  }
  if (sum !== doc.size) bad("size", `is ${String(doc.size)}, but the files add up to ${sum}`);
  if (!files.some((f) => f.path === manifest)) bad("manifest", "is not among the files");
  if (!files.some((f) => f.path === entry)) bad("entry", "is not among the files");
  const created = str("created", CREATED_PATTERN) as string;

  const m: PackageMetadata = {
    format: PACKAGE_FORMAT,
    name,
    version,
    kind: kind as PackageMetadata["kind"],
    manifest,
    entry,
    keywords: strList("keywords") as string[],
    categories: strList("categories") as string[],
    dependencies,
    created,
    build: { ...(build as Record<string, string>), plughost: (build as Record<string, string>).plughost as string },
    size: sum,
    files,
  };
  const platform = str("platform", /^[a-z0-9_]+-[a-z0-9_]+$/, true);
  if (platform !== undefined) m.platform = platform;
  for (const field of ["description", "license", "homepage", "repository"] as const) {
    const v = str(field, undefined, true);
    if (v !== undefined) m[field] = v;
  }
  const authors = strList("authors", true);
  if (authors !== undefined) m.authors = authors;
  return m;
}

/**
 * Parse `package.sig` strictly.
 * @throws {@link PackageError} naming `file` when it is malformed.
 */
export function parseSignature(bytes: Uint8Array, file: string): PackageSignature {
  const doc = parseJson(bytes, file, PACKAGE_SIGNATURE_FILE);
  const checks: [keyof PackageSignature, RegExp | string][] = [
    ["format", PACKAGE_SIGNATURE_FORMAT],
    ["key", KEY_ID_PATTERN],
    ["name", PLUGIN_NAME_PATTERN],
    ["version", VERSION_PATTERN],
    ["metadata", DIGEST_PATTERN],
    ["signature", SIGNATURE_PATTERN],
  ];
  for (const [field, rule] of checks) {
    const v = doc[field];
    const ok = typeof v === "string" && (typeof rule === "string" ? v === rule : rule.test(v));
    if (!ok) throw new PackageError(file, `${PACKAGE_SIGNATURE_FILE}: field "${field}" is ${v === undefined ? "missing" : `invalid (${JSON.stringify(v).slice(0, 80)})`}; sign the package again`);
  }
  const extra = unknownFields(doc, checks.map(([f]) => f));
  if (extra.length) throw new PackageError(file, `${PACKAGE_SIGNATURE_FILE}: unknown field(s) ${extra.join(", ")}; sign the package again`);
  return doc as unknown as PackageSignature;
}
