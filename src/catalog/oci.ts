/**
 * The OCI registry catalog: plugin packages stored as OCI artifacts (see oci-artifact.ts) in a registry speaking the
 * distribution API, one repository per plugin (`<prefix>/<name>`), one tag per version. Everything fetched is checked
 * against its digest; the package is rebuilt from its parts and checked again against its own metadata.
 */
import semver from "semver";
import { CatalogError, PackageVerificationError } from "../contract/errors.js";
import { packageFromParts } from "../package/read.js";
import type { PluginPackage } from "../package/types.js";
import { artifactEntry, artifactParts, isPluginArtifact, packageToArtifact, tagToVersion, toPackageDigest, versionToTag } from "./oci-artifact.js";
import { isRepositoryName, OciClient, ociDigest, type OciDescriptor } from "./oci-client.js";
import { currentVersion, matchesQuery } from "./query.js";
import type { Catalog, CatalogCredentials, CatalogEntry, CatalogOptions, FetchedPackage, SearchQuery } from "./types.js";

// Registry requests in flight at once for one catalog call (blob downloads, manifests of many versions).
const CONCURRENCY = 6;

/** A registry location taken apart. */
export interface OciLocation {
  /** `http(s)://host[:port]`. */
  baseUrl: string;
  /** `host[:port]`. */
  host: string;
  /** The repository prefix ("" for none): plugin `x` lives in `<prefix>/x`. */
  prefix: string;
}

/**
 * Parses `oci://host[:port][/prefix]` (HTTPS, except for a loopback host, which is plain HTTP as container tools treat
 * it) or `http(s)://host[:port][/prefix]`.
 * @throws {@link CatalogError} "protocol" for another scheme, a query, credentials in the URL or a prefix that is not a repository path.
 */
export function parseOciLocation(location: string): OciLocation {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new CatalogError(location, "protocol", "is not a registry URL: write oci://host[:port]/prefix or http(s)://host[:port]/prefix");
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (!["oci", "http", "https"].includes(scheme)) throw new CatalogError(location, "protocol", "is not a registry URL: write oci://host[:port]/prefix or http(s)://host[:port]/prefix");
  if (url.username || url.password) throw new CatalogError(location, "protocol", "carries credentials: give them as options (or PLUGHOST_CATALOG_USERNAME/PASSWORD/TOKEN), not in the URL");
  if (url.search || url.hash) throw new CatalogError(location, "protocol", "has a query or fragment; a registry location is oci://host[:port]/prefix");
  if (!url.host) throw new CatalogError(location, "protocol", "names no registry host");
  const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, "");
  if (prefix !== "" && !isRepositoryName(prefix)) {
    throw new CatalogError(location, "protocol", `its path "${prefix}" is not a repository prefix: lower-case components of a-z, 0-9, '.', '_', '-' joined by '/'`);
  }
  const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i.test(url.hostname);
  const http = scheme === "http" || (scheme === "oci" && loopback);
  return { baseUrl: `${http ? "http" : "https"}://${url.host}`, host: url.host, prefix };
}

/** Credentials from `PLUGHOST_CATALOG_USERNAME`, `PLUGHOST_CATALOG_PASSWORD` and `PLUGHOST_CATALOG_TOKEN`, when set. */
export function catalogCredentialsFromEnv(env: NodeJS.ProcessEnv = process.env): CatalogCredentials | undefined {
  const c: CatalogCredentials = {};
  if (env.PLUGHOST_CATALOG_USERNAME) c.username = env.PLUGHOST_CATALOG_USERNAME;
  if (env.PLUGHOST_CATALOG_PASSWORD !== undefined) c.password = env.PLUGHOST_CATALOG_PASSWORD;
  if (env.PLUGHOST_CATALOG_TOKEN) c.token = env.PLUGHOST_CATALOG_TOKEN;
  return Object.keys(c).length ? c : undefined;
}

/**
 * A catalog in an OCI registry. Credentials come from `options.credentials`, else from the environment
 * ({@link catalogCredentialsFromEnv}). Search lists the registry's repositories under the prefix (`/v2/_catalog`)
 * and reads the current version's manifest of each (the highest release; a prerelease only when there is no release); a registry that disables `_catalog` can still serve
 * `versions`, `fetch` and `publish`.
 *
 * @example
 * const catalog = new OciCatalog("oci://127.0.0.1:5000/plughost");
 * await catalog.publish(await packPlugin("examples/c/hello"));
 * const { package: pkg } = await catalog.fetch("hello-c", "0.1.0");
 */
export class OciCatalog implements Catalog {
  readonly location: string;
  private readonly where: OciLocation;
  private readonly client: OciClient;

  constructor(location: string, options: CatalogOptions = {}) {
    this.location = location;
    this.where = parseOciLocation(location);
    const credentials = options.credentials ?? catalogCredentialsFromEnv();
    this.client = new OciClient({
      baseUrl: this.where.baseUrl,
      name: location,
      ...(credentials ? { credentials } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
  }

  /** The repository of a plugin. */
  repository(name: string): string {
    const repo = this.where.prefix ? `${this.where.prefix}/${name}` : name;
    if (!isRepositoryName(repo)) {
      throw new CatalogError(this.location, "protocol", `plugin "${name}" cannot be an OCI repository name (no leading, trailing or doubled '.', '-' allowed there); rename the plugin to publish it to a registry`, { plugin: name });
    }
    return repo;
  }

  async search(query: SearchQuery = {}): Promise<CatalogEntry[]> {
    const start = this.where.prefix ? `${this.where.prefix}/` : "";
    const names = (await this.client.listRepositories())
      .filter((r) => r.startsWith(start) && !r.slice(start.length).includes("/"))
      .map((r) => r.slice(start.length));
    const newest = await mapLimit(names, CONCURRENCY, async (name) => {
      const versions = await this.tagVersions(name).catch((e: unknown) => {
        // A repository deleted between the listing and now has no versions.
        if (e instanceof CatalogError && e.reason === "not-found") return [] as string[];
        throw e;
      });
      const version = currentVersion(versions);
      return version === undefined ? undefined : this.entry(name, version);
    });
    return newest
      .filter((e): e is CatalogEntry => e !== undefined && matchesQuery(e, query))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async versions(name: string): Promise<CatalogEntry[]> {
    return this.about(name, `list the versions of ${name}`, () => this.listVersions(name));
  }

  async fetch(name: string, version: string): Promise<FetchedPackage> {
    return this.about(name, `fetch ${name} ${version}`, () => this.fetchPackage(name, version));
  }

  async publish(pkg: PluginPackage): Promise<CatalogEntry> {
    const { name, version } = pkg.metadata;
    return this.about(name, `publish ${name} ${version}`, () => this.publishPackage(pkg));
  }

  private async listVersions(name: string): Promise<CatalogEntry[]> {
    const versions = await this.tagVersions(name).catch((e: unknown) => {
      if (e instanceof CatalogError && e.reason === "not-found") throw this.notFound(name, `plugin ${name} is not in this catalog`, e);
      throw e;
    });
    const entries = (await mapLimit(versions, CONCURRENCY, (v) => this.entry(name, v))).filter((e): e is CatalogEntry => e !== undefined);
    if (entries.length === 0) throw this.notFound(name, `plugin ${name} has no published version in this catalog`);
    return entries;
  }

  private async fetchPackage(name: string, version: string): Promise<FetchedPackage> {
    const repo = this.repository(name);
    const tag = versionToTag(version);
    const ref = `${this.location}/${name}:${tag}`;
    const got = await this.client.getManifest(repo, tag).catch((e: unknown) => {
      if (e instanceof CatalogError && e.reason === "not-found") throw this.notFound(name, `plugin ${name} has no version ${version} in this catalog`, e);
      throw e;
    });
    const parts = artifactParts(got.manifest, ref);
    const get = (d: OciDescriptor) => this.client.getBlob(repo, d.digest, d.size);
    const [metadataBytes, signatureBytes] = await Promise.all([get(parts.metadata), parts.signature ? get(parts.signature) : undefined]);
    const paths = [...parts.files.keys()];
    const blobs = await mapLimit(paths, CONCURRENCY, (p) => get(parts.files.get(p)!));
    const files = new Map(paths.map((p, i) => [p, blobs[i]!] as const));
    const pkg = packageFromParts(metadataBytes, files, signatureBytes, ref);
    checkIdentity(pkg, name, version, ref);
    return { package: pkg, digest: toPackageDigest(got.digest) };
  }

  private async publishPackage(pkg: PluginPackage): Promise<CatalogEntry> {
    const { name, version } = pkg.metadata;
    const repo = this.repository(name);
    const tag = versionToTag(version);
    const artifact = packageToArtifact(pkg);
    const digest = ociDigest(artifact.manifestBytes);
    const existing = await this.client.manifestDigest(repo, tag);
    if (existing !== undefined) {
      if (existing === digest) return artifactEntry(name, version, artifact.manifest, digest);
      throw new CatalogError(this.location, "conflict", `${name} ${version} is already published with other content (${toPackageDigest(existing)}, this package makes ${toPackageDigest(digest)}); a published version never changes: bump the version and publish again`, { plugin: name });
    }
    // Blobs first: the registry refuses a manifest naming a blob it does not hold.
    await mapLimit([...artifact.blobs.values()], CONCURRENCY, (bytes) => this.client.pushBlob(repo, bytes));
    await this.client.putManifest(repo, tag, artifact.manifestBytes);
    return artifactEntry(name, version, artifact.manifest, digest);
  }

  // The semver versions tagged in a plugin's repository, oldest first (other tags ignored).
  private async tagVersions(name: string): Promise<string[]> {
    const tags = await this.client.listTags(this.repository(name));
    return [...new Set(tags.map(tagToVersion).filter((v) => semver.valid(v) === v))].sort(semver.compare);
  }

  // A version's entry from its manifest; undefined (skip it) when the tag holds something that is not a plugin.
  private async entry(name: string, version: string): Promise<CatalogEntry | undefined> {
    const got = await this.client.getManifest(this.repository(name), versionToTag(version));
    if (!isPluginArtifact(got.manifest)) return undefined;
    return artifactEntry(name, version, got.manifest, got.digest);
  }

  // The client's errors know the registry, not the plugin: name it (and what was being done) for the caller.
  private async about<T>(name: string, what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      if (e instanceof CatalogError && e.plugin === undefined) {
        const bare = e.message.startsWith(`${e.catalog}: `) ? e.message.slice(e.catalog.length + 2) : e.message;
        throw new CatalogError(e.catalog, e.reason, `${what}: ${bare}`, { plugin: name, cause: e });
      }
      if (e instanceof PackageVerificationError && e.plugin === undefined) {
        throw new PackageVerificationError(e.reason, `${what}: ${e.message}`, { plugin: name, cause: e });
      }
      throw e;
    }
  }

  private notFound(name: string, message: string, cause?: unknown): CatalogError {
    return new CatalogError(this.location, "not-found", `${message}; see what it has with plughost search or versions`, { plugin: name, ...(cause ? { cause } : {}) });
  }
}

// The package must be the one the repository and tag name: a package pushed under another plugin's repository or an
// older version replayed under a newer tag is refused here, before any signature is looked at.
function checkIdentity(pkg: PluginPackage, name: string, version: string, ref: string): void {
  const m = pkg.metadata;
  if (m.name !== name) {
    throw new PackageVerificationError("wrong-plugin", `${ref}: the package under ${name}'s repository is plugin ${m.name}; the registry's content was replaced: do not install it`, { plugin: name });
  }
  if (m.version !== version) {
    throw new PackageVerificationError("wrong-version", `${ref}: the package tagged ${version} is version ${m.version} (a replay of another version); do not install it`, { plugin: name });
  }
}

// map with at most `limit` calls in flight; results in input order.
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
