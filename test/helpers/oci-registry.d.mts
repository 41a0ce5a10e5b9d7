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
  /** With `token`: every request the token service answered (who asked, for which scopes, whether it granted them). */
  readonly tokenRequests: ReadonlyArray<{ user: string | null; scope: string[]; granted: boolean }>;
}

export function startOciRegistry(options?: {
  port?: number;
  /** User name → password: turns on htpasswd basic auth (or, with `token`, who gets tokens). */
  users?: Record<string, string>;
  /** Bearer-token auth through a token service on 127.0.0.1 (needs openssl for its certificate). */
  token?: boolean;
  /** Repository prefix of `location` (default `plughost`). */
  prefix?: string;
}): Promise<OciRegistry>;
