/**
 * Catalogs (docs/catalog.md): `openCatalog(location)` picks the kind from the location, and this module re-exports
 * both kinds and the catalog types.
 */
import { fileURLToPath } from "node:url";
import { CatalogError } from "../contract/errors.js";
import { DirectoryCatalog } from "./directory.js";
import { OciCatalog } from "./oci.js";
import type { Catalog, CatalogOptions } from "./types.js";

export { DirectoryCatalog, DIRECTORY_INDEX_FILE, type DirectoryCatalogOptions, type DirectoryIndex, type DirectoryIndexEntry } from "./directory.js";
export { OciCatalog } from "./oci.js";
export type { Catalog, CatalogCredentials, CatalogEntry, CatalogOptions, FetchedPackage, LockEntry, Lockfile, SearchQuery } from "./types.js";

/** Whether a catalog location names an OCI registry (`oci://…`, `http://…`, `https://…`) rather than a directory. */
export function isRegistryLocation(location: string): boolean {
  return /^(oci|https?):\/\//i.test(location);
}

/**
 * Opens a catalog: `oci://host[:port]/prefix` or `http(s)://host[:port]/prefix` is an OCI registry,
 * a `file://` URL or any other string a directory (relative to the working
 * directory); a directory is not read until the first call. Another URL scheme is a `CatalogError` "protocol".
 *
 * @example
 * const catalog = openCatalog("./catalog");
 * const [hello] = await catalog.search({ text: "hello" });
 */
export function openCatalog(location: string, options: CatalogOptions = {}): Catalog {
  if (isRegistryLocation(location)) return new OciCatalog(location, options);
  if (/^file:\/\//i.test(location)) return new DirectoryCatalog(fileURLToPath(location));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new CatalogError(location, "protocol", "is not a catalog location: give a directory, oci://host[:port]/prefix or http(s)://host[:port]/prefix");
  }
  if (location.trim() === "") throw new CatalogError(location, "not-found", "no catalog location given: give a directory or a registry URL");
  return new DirectoryCatalog(location);
}
