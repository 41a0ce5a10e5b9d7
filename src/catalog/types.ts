/**
 * Catalogs (docs/catalog.md): where packages are published, searched and installed from. Two kinds sit behind one
 * interface: a directory of `.plughost` files with an `index.json` (the embedded default, no server), and an OCI
 * registry (the distribution API; a plugin is an OCI artifact whose component is a layer of media type
 * `application/wasm`). `openCatalog(location)` picks the kind from the location.
 */
import type { PluginPackage } from "../package/types.js";

/** One published version of a plugin, as a catalog lists it. */
export interface CatalogEntry {
  name: string;
  version: string;
  description?: string;
  license?: string;
  keywords: string[];
  categories: string[];
  /** `sha256-<hex>` of the package (the directory catalog's file; for OCI the artifact manifest's digest). */
  digest: string;
  /** Whether the package carries a package signature (not yet verified). */
  signed: boolean;
}

/** What `search` matches: all given terms must match. */
export interface SearchQuery {
  /** Case-insensitive substring of the name, description or a keyword. */
  text?: string;
  /** Exact category. */
  category?: string;
  /** Exact keyword (`--tag`). */
  tag?: string;
}

/** A fetched package with where it came from. */
export interface FetchedPackage {
  package: PluginPackage;
  /** The catalog's digest for it (as in `CatalogEntry.digest`; what the lockfile pins). */
  digest: string;
}

/** Credentials for an OCI registry (basic, or a bearer token exchanged through the registry's token realm). */
export interface CatalogCredentials {
  username?: string;
  password?: string;
  /** A ready bearer token. */
  token?: string;
}

/** Options of `openCatalog`. */
export interface CatalogOptions {
  credentials?: CatalogCredentials;
  /** Per-request timeout for registry calls, ms. Default 30,000. */
  timeoutMs?: number;
}

/** A catalog of plugin packages. Every method rejects with a `CatalogError` (or a `PackageError` for bad packages). */
export interface Catalog {
  /** The location as given (directory path, or `oci://host[:port]/prefix` / `http(s)://…`). */
  readonly location: string;
  /** The newest version of every plugin that matches, sorted by name. */
  search(query?: SearchQuery): Promise<CatalogEntry[]>;
  /** Every version of a plugin, oldest first (semver order). `not-found` when the catalog has none. */
  versions(name: string): Promise<CatalogEntry[]>;
  /** One version's package, its digests checked against the catalog's (a mismatch is a `PackageVerificationError` "digest"). */
  fetch(name: string, version: string): Promise<FetchedPackage>;
  /** Publish a package; publishing the same bytes again is a no-op, other bytes under a published version a `conflict`. */
  publish(pkg: PluginPackage): Promise<CatalogEntry>;
}

/** One installed plugin as the lockfile pins it. */
export interface LockEntry {
  version: string;
  /** The catalog digest it was installed from. */
  digest: string;
  /** The catalog location. */
  catalog: string;
  /** The signing key id, when it was signed. */
  key?: string;
  /** Plugins installed as its dependencies. */
  dependencies?: string[];
}

/** `plughost.lock.json`: what is installed in a plugin directory, pinned by digest. */
export interface Lockfile {
  lockfileVersion: 1;
  /** Plugin name → its lock entry, sorted by name when written. */
  plugins: Record<string, LockEntry>;
}
