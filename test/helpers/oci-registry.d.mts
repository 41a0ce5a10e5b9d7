import type { ServerHandle } from "./server-process.mjs";
export function ociRegistryBinary(): string;
export function htpasswdBinary(): string;

/** A docker-registry on 127.0.0.1 with its own temporary storage. */
export interface OciRegistry extends ServerHandle {
  /** `127.0.0.1:<port>`. */
  readonly host: string;
  /** `http://127.0.0.1:<port>`. */
  readonly httpUrl: string;
  /** `oci://127.0.0.1:<port>/<prefix>`: a catalog location for `openCatalog`. */
  readonly location: string;
  /** The registry's storage root (a swapped blob can be written here). */
  readonly storageDir: string;
}

export function startOciRegistry(options?: {
  port?: number;
  /** User name → password: turns on htpasswd basic auth. */
  users?: Record<string, string>;
  /** Repository prefix of `location` (default `plughost`). */
  prefix?: string;
}): Promise<OciRegistry>;
