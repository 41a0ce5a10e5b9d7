/**
 * A small client of the OCI distribution API (the registry HTTP API v2) on the global `fetch`: ping, blob
 * HEAD/GET/upload (POST then a monolithic PUT), manifest PUT/GET/HEAD by tag or digest, tag list and `_catalog`, both
 * paginated through `Link` headers. Basic auth and bearer tokens (the `WWW-Authenticate` challenge's realm, service and
 * scope) are answered on a 401. Every blob and manifest read is checked against its digest, and every body is read
 * with a size bound, so a registry (or anything between) cannot swap or inflate content unnoticed.
 */
import { createHash } from "node:crypto";
import { CatalogError, PackageVerificationError } from "../contract/errors.js";
import type { CatalogCredentials } from "./types.js";

/** The OCI image manifest's media type. */
export const OCI_MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";
/** The largest manifest read (the distribution spec lets registries refuse larger ones too). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Default per-request timeout, ms. */
export const DEFAULT_TIMEOUT_MS = 30_000;
// A page of tags or repositories is a small JSON document; bound it all the same.
const MAX_LIST_BYTES = 8 * 1024 * 1024;
const MAX_PAGES = 1000;
const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
// The distribution spec's repository name and tag grammars.
const REPOSITORY_PATTERN = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** A content descriptor (OCI image spec): what a manifest says of its config and each layer. */
export interface OciDescriptor {
  mediaType: string;
  /** `sha256:<hex>`. */
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
}

/** An OCI image manifest (schemaVersion 2), as plughost writes and reads them. */
export interface OciImageManifest {
  schemaVersion: 2;
  mediaType: typeof OCI_MANIFEST_MEDIA_TYPE;
  artifactType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
  annotations?: Record<string, string>;
}

/** A manifest as read: its exact bytes, their digest, and the parsed document. */
export interface FetchedManifest {
  bytes: Uint8Array;
  /** `sha256:<hex>` of `bytes` (checked against the reference when it was a digest, and against the registry's header). */
  digest: string;
  mediaType: string;
  manifest: OciImageManifest;
}

/** Options of {@link OciClient}. */
export interface OciClientOptions {
  /** `http(s)://host[:port]`, no path. */
  baseUrl: string;
  /** How errors name the registry (the catalog location). Default `baseUrl`. */
  name?: string;
  credentials?: CatalogCredentials;
  /** Per-request timeout, ms. Default 30,000. */
  timeoutMs?: number;
  /** Entries asked for per page of tags or repositories (`n`). Default 1000. */
  pageSize?: number;
}

/** `sha256:<hex>` of some bytes, as OCI spells digests. */
export function ociDigest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Whether `name` is a repository name the distribution spec allows. */
export function isRepositoryName(name: string): boolean {
  return name.length <= 255 && REPOSITORY_PATTERN.test(name);
}

/** Whether `tag` is a tag the distribution spec allows. */
export function isTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a `WWW-Authenticate` header's first challenge (`Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  // Quoted values may hold commas (a scope with several actions), so parse key="value" pairs rather than split.
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = m[2] ?? "";
  let p: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (p = re.exec(rest)) !== null) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : (p[3] ?? "");
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/** A client of one registry. Methods reject with `CatalogError` (or `PackageVerificationError` "digest" for content whose digest differs). */
export class OciClient {
  readonly baseUrl: string;
  readonly name: string;
  private readonly credentials: CatalogCredentials;
  private readonly timeoutMs: number;
  private readonly pageSize: number;
  // The Authorization header that last worked, per token scope ("" for basic or a ready token, which serve every scope).
  private readonly authorizations = new Map<string, string>();

  constructor(options: OciClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.name = options.name ?? this.baseUrl;
    this.credentials = options.credentials ?? {};
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.pageSize = options.pageSize ?? 1000;
    if (this.credentials.token !== undefined) this.authorizations.set("", `Bearer ${this.credentials.token}`);
  }

  /** `GET /v2/`: the registry speaks the API and accepts the credentials. */
  async ping(): Promise<void> {
    const res = await this.request("GET", "/v2/");
    await this.expect(res, [200], "ping the registry");
    await drain(res);
  }

  /** Whether the repository holds the blob (`HEAD /v2/<repo>/blobs/<digest>`). */
  async hasBlob(repo: string, digest: string): Promise<boolean> {
    this.checkNames(repo, digest);
    const res = await this.request("HEAD", `/v2/${repo}/blobs/${digest}`, { scope: pull(repo) });
    if (res.status === 404) return false;
    await this.expect(res, [200], `look for blob ${digest} in ${repo}`);
    return true;
  }

  /** A blob's bytes, refused unless their sha256 is `digest` and their size at most `maxBytes` (the descriptor's size when known). */
  async getBlob(repo: string, digest: string, maxBytes: number): Promise<Uint8Array> {
    this.checkNames(repo, digest);
    const res = await this.request("GET", `/v2/${repo}/blobs/${digest}`, { scope: pull(repo) });
    await this.expect(res, [200], `get blob ${digest} from ${repo}`);
    // More bytes than the descriptor says is other content than the digest names.
    const bytes = await this.readBody(res, maxBytes, `blob ${digest} of ${repo}`, true);
    const actual = ociDigest(bytes);
    if (actual !== digest) {
      throw new PackageVerificationError("digest", `${this.name}: blob ${digest} of ${repo} arrived with digest ${actual}: the registry's content was swapped or damaged; do not use it`);
    }
    return bytes;
  }

  /** Uploads a blob unless the repository has it (HEAD, then POST and a monolithic PUT). Returns its digest. */
  async pushBlob(repo: string, bytes: Uint8Array): Promise<string> {
    const digest = ociDigest(bytes);
    if (await this.hasBlob(repo, digest)) return digest;
    const scope = push(repo);
    const started = await this.request("POST", `/v2/${repo}/blobs/uploads/`, { scope });
    await this.expect(started, [202], `start a blob upload to ${repo}`);
    await drain(started);
    const location = started.headers.get("location");
    if (!location) throw this.protocol(`the blob upload to ${repo} was accepted without a Location header`);
    const url = new URL(location, `${this.baseUrl}/`);
    url.searchParams.set("digest", digest);
    const done = await this.request("PUT", url.href, {
      scope,
      body: bytes,
      headers: { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength) },
    });
    await this.expect(done, [201], `upload blob ${digest} to ${repo}`);
    await drain(done);
    return digest;
  }

  /** Puts a manifest under a tag or its digest. Returns the manifest's digest (checked against the registry's answer). */
  async putManifest(repo: string, reference: string, bytes: Uint8Array, mediaType: string = OCI_MANIFEST_MEDIA_TYPE): Promise<string> {
    this.checkNames(repo, reference);
    const digest = ociDigest(bytes);
    const res = await this.request("PUT", `/v2/${repo}/manifests/${reference}`, {
      scope: push(repo),
      body: bytes,
      headers: { "content-type": mediaType },
    });
    await this.expect(res, [201], `put manifest ${reference} of ${repo}`);
    await drain(res);
    const answered = res.headers.get("docker-content-digest");
    if (answered && answered !== digest) throw this.protocol(`the registry stored manifest ${reference} of ${repo} as ${answered}, not ${digest}`);
    return digest;
  }

  /** The digest of the manifest under a tag or digest, or undefined when there is none (`HEAD`). */
  async manifestDigest(repo: string, reference: string): Promise<string | undefined> {
    this.checkNames(repo, reference);
    const res = await this.request("HEAD", `/v2/${repo}/manifests/${reference}`, { scope: pull(repo), headers: { accept: OCI_MANIFEST_MEDIA_TYPE } });
    if (res.status === 404) return undefined;
    await this.expect(res, [200], `look for manifest ${reference} of ${repo}`);
    const digest = res.headers.get("docker-content-digest");
    // Without the header the only way to know is to read it.
    return digest && DIGEST_PATTERN.test(digest) ? digest : (await this.getManifest(repo, reference)).digest;
  }

  /**
   * A manifest by tag or digest. Refused (`PackageVerificationError` "digest") when its bytes do not hash to the
   * digest asked for, or to the digest the registry says it serves; a `protocol` error when it is not an OCI image manifest.
   */
  async getManifest(repo: string, reference: string): Promise<FetchedManifest> {
    this.checkNames(repo, reference);
    const res = await this.request("GET", `/v2/${repo}/manifests/${reference}`, { scope: pull(repo), headers: { accept: OCI_MANIFEST_MEDIA_TYPE } });
    await this.expect(res, [200], `get manifest ${reference} of ${repo}`);
    const bytes = await this.readBody(res, MAX_MANIFEST_BYTES, `manifest ${reference} of ${repo}`);
    const digest = ociDigest(bytes);
    const claimed = DIGEST_PATTERN.test(reference) ? reference : res.headers.get("docker-content-digest");
    if (claimed && claimed !== digest) {
      throw new PackageVerificationError("digest", `${this.name}: manifest ${reference} of ${repo} arrived with digest ${digest}, not ${claimed}: the registry's content was swapped or damaged; do not use it`);
    }
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
    return { bytes, digest, mediaType, manifest: this.parseManifest(bytes, `${repo}:${reference}`) };
  }

  /** Every tag of a repository (all pages), in the registry's order. `not-found` when the repository does not exist. */
  async listTags(repo: string): Promise<string[]> {
    this.checkNames(repo);
    return this.paginate(`/v2/${repo}/tags/list?n=${this.pageSize}`, pull(repo), "tags", `list the tags of ${repo}`);
  }

  /** Every repository of the registry (`GET /v2/_catalog`, all pages). */
  async listRepositories(): Promise<string[]> {
    return this.paginate(`/v2/_catalog?n=${this.pageSize}`, "registry:catalog:*", "repositories", "list the registry's repositories");
  }

  private async paginate(first: string, scope: string, field: "tags" | "repositories", what: string): Promise<string[]> {
    const out: string[] = [];
    let next: string | undefined = first;
    for (let page = 0; next !== undefined; page++) {
      if (page >= MAX_PAGES) throw this.protocol(`${what}: more than ${MAX_PAGES} pages`);
      const res = await this.request("GET", next, { scope });
      await this.expect(res, [200], what);
      const body = parseJson(await this.readBody(res, MAX_LIST_BYTES, what));
      const list = isRecord(body) ? body[field] : undefined;
      // The spec allows `null` for an empty repository's tags.
      if (list !== null && list !== undefined && !(Array.isArray(list) && list.every((t) => typeof t === "string"))) {
        throw this.protocol(`${what}: the answer's "${field}" is not a list of strings`);
      }
      out.push(...((list as string[] | null | undefined) ?? []));
      next = nextLink(res.headers.get("link"));
    }
    return out;
  }

  private parseManifest(bytes: Uint8Array, ref: string): OciImageManifest {
    const doc = parseJson(bytes);
    if (!isRecord(doc) || doc.schemaVersion !== 2 || !isDescriptor(doc.config) || !Array.isArray(doc.layers) || !doc.layers.every(isDescriptor)) {
      throw this.protocol(`manifest ${ref} is not an OCI image manifest (schemaVersion 2 with a config and layers)`);
    }
    if (doc.annotations !== undefined && !isStringRecord(doc.annotations)) throw this.protocol(`manifest ${ref}: annotations are not strings`);
    return doc as unknown as OciImageManifest;
  }

  private checkNames(repo: string, reference?: string): void {
    if (!isRepositoryName(repo)) throw new CatalogError(this.name, "protocol", `"${repo}" is not a repository name the OCI distribution spec allows (lower-case components of a-z, 0-9 and single separators '.', '_', '__', '-', joined by '/')`);
    if (reference !== undefined && !isTag(reference) && !DIGEST_PATTERN.test(reference)) {
      throw new CatalogError(this.name, "protocol", `"${reference}" is neither an OCI tag nor a sha256 digest`);
    }
  }

  // One request, answering a 401 challenge once with the credentials given.
  private async request(method: string, pathOrUrl: string, init: { scope?: string; body?: Uint8Array; headers?: Record<string, string> } = {}): Promise<Response> {
    const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${this.baseUrl}${pathOrUrl}`;
    if (new URL(url).origin !== new URL(this.baseUrl).origin) {
      // An upload Location elsewhere would carry our credentials to another host.
      throw this.protocol(`the registry sent us to ${new URL(url).origin}, another origin than ${this.baseUrl}`);
    }
    const send = (authorization?: string) =>
      this.send(method, url, { ...init.headers, ...(authorization ? { authorization } : {}) }, init.body);
    const scope = init.scope ?? "";
    let res = await send(this.authorizations.get(scope) ?? this.authorizations.get(""));
    if (res.status !== 401) return res;
    const header = res.headers.get("www-authenticate");
    await drain(res);
    const challenge = header ? parseChallenge(header) : undefined;
    if (!challenge) throw this.auth(`${method} ${new URL(url).pathname}: 401 without a usable WWW-Authenticate challenge`);
    const authorization = await this.answer(challenge);
    res = await send(authorization);
    if (res.status === 401) {
      await drain(res);
      throw this.auth(`${method} ${new URL(url).pathname}: the registry refused the credentials given (401)`);
    }
    this.authorizations.set(challenge.scheme === "bearer" ? scope : "", authorization);
    return res;
  }

  // The Authorization header answering a challenge.
  private async answer(challenge: Challenge): Promise<string> {
    const { username, password, token } = this.credentials;
    if (challenge.scheme === "basic") {
      if (username === undefined || password === undefined) throw this.auth("the registry asks for a user name and password (basic auth); give credentials");
      return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
    }
    if (challenge.scheme !== "bearer") throw this.auth(`the registry asks for "${challenge.scheme}" authentication, which plughost does not speak (basic or bearer)`);
    if (token !== undefined) throw this.auth("the registry refused the bearer token given");
    const realm = challenge.params.realm;
    if (!realm || !/^https?:\/\//.test(realm)) throw this.auth("the registry's bearer challenge names no http(s) token realm");
    const url = new URL(realm);
    // The credentials go to the realm: never in clear text when the registry itself is reached over TLS.
    if (url.protocol === "http:" && new URL(this.baseUrl).protocol === "https:") {
      throw this.auth(`the registry's bearer challenge names a plain-http token realm (${url.origin}); the credentials would travel unencrypted, so they are not sent: fix the registry's token realm to https`);
    }
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    if (challenge.params.scope) url.searchParams.set("scope", challenge.params.scope);
    const headers: Record<string, string> = {};
    if (username !== undefined && password !== undefined) headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
    const res = await this.send("GET", url.href, headers);
    if (res.status === 401 || res.status === 403) {
      await drain(res);
      throw this.auth(`the token service ${url.origin} refused the credentials given (${res.status})`);
    }
    if (res.status !== 200) {
      await drain(res);
      throw this.auth(`the token service ${url.origin} answered ${res.status}`);
    }
    const body = parseJson(await this.readBody(res, 1024 * 1024, "the token service's answer"));
    const got = isRecord(body) ? (body.token ?? body.access_token) : undefined;
    if (typeof got !== "string" || got === "") throw this.protocol(`the token service ${url.origin} answered without a token`);
    return `Bearer ${got}`;
  }

  private async send(method: string, url: string, headers: Record<string, string>, body?: Uint8Array): Promise<Response> {
    try {
      // Blob GETs may redirect to storage elsewhere; fetch drops the Authorization header on a cross-origin redirect.
      // A Uint8Array is a valid body; the DOM typings only want it backed by an ArrayBuffer.
      return await fetch(url, { method, headers, body: body as Uint8Array<ArrayBuffer> | undefined, signal: AbortSignal.timeout(this.timeoutMs), redirect: "follow" });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why = err.name === "TimeoutError" ? `no answer in ${this.timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
      throw new CatalogError(this.name, "unreachable", `${method} ${new URL(url).pathname} failed: ${why}; check that the registry runs and the location is right`);
    }
  }

  // Throws the CatalogError that a status outside `ok` means, with the registry's own error codes.
  private async expect(res: Response, ok: readonly number[], what: string): Promise<void> {
    if (ok.includes(res.status)) return;
    let detail = "";
    try {
      const body = parseJson(await this.readBody(res, 64 * 1024, "an error answer"));
      const errors = isRecord(body) && Array.isArray(body.errors) ? body.errors : [];
      detail = errors.filter(isRecord).map((e) => `${String(e.code)}: ${String(e.message)}`).join("; ");
    } catch {
      // HEAD answers and non-JSON bodies carry no details.
    }
    const suffix = detail ? ` (${detail})` : "";
    if (res.status === 404) throw new CatalogError(this.name, "not-found", `${what}: not found${suffix}`);
    if (res.status === 401 || res.status === 403) throw this.auth(`${what}: refused (${res.status})${suffix}; check the credentials and their rights`);
    throw new CatalogError(this.name, "protocol", `${what}: the registry answered ${res.status}${suffix}`);
  }

  // The body, refused past `max` bytes (announced or streamed): as a swapped content ("digest") for a blob whose
  // descriptor gave its size, else as an answer the API does not allow.
  private async readBody(res: Response, max: number, what: string, sized = false): Promise<Uint8Array> {
    const tooBig = (size?: number) => {
      const is = size === undefined ? `longer than ${max} bytes` : `${size} bytes, more than ${max}`;
      return sized
        ? new PackageVerificationError("digest", `${this.name}: ${what} is ${is} (its descriptor's size); the registry's content was swapped or damaged: do not use it`)
        : this.protocol(`${what} is ${is}, more than a registry may send`);
    };
    const announced = Number(res.headers.get("content-length") ?? "NaN");
    if (announced > max) {
      await res.body?.cancel();
      throw tooBig(announced);
    }
    if (!res.body) return new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    let total = 0;
    const reader = res.body.getReader();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw new CatalogError(this.name, "unreachable", `${what}: the connection broke while reading (${(e as Error).message})`);
      }
      if (chunk.done) break;
      total += chunk.value.byteLength;
      if (total > max) {
        await reader.cancel();
        throw tooBig();
      }
      chunks.push(chunk.value);
    }
    return Buffer.concat(chunks, total);
  }

  private protocol(message: string): CatalogError {
    return new CatalogError(this.name, "protocol", message);
  }

  private auth(message: string): CatalogError {
    return new CatalogError(this.name, "auth", message);
  }
}

function pull(repo: string): string {
  return `repository:${repo}:pull`;
}

function push(repo: string): string {
  return `repository:${repo}:pull,push`;
}

async function drain(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // Already consumed or closed.
  }
}

// RFC 5988 `Link: </v2/...?last=x&n=100>; rel="next"`.
function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header);
  return m ? m[1] : undefined;
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return isRecord(v) && Object.values(v).every((x) => typeof x === "string");
}

function isDescriptor(v: unknown): v is OciDescriptor {
  return (
    isRecord(v) &&
    typeof v.mediaType === "string" &&
    typeof v.digest === "string" &&
    DIGEST_PATTERN.test(v.digest) &&
    typeof v.size === "number" &&
    Number.isSafeInteger(v.size) &&
    v.size >= 0 &&
    (v.annotations === undefined || isStringRecord(v.annotations))
  );
}
