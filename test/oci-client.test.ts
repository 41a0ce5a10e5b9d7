// The OCI distribution client against a real registry (Debian's docker-registry on loopback): blobs and manifests
// pushed and pulled, tags and the repository catalog paginated, content swapped in the registry's storage refused by
// digest, basic auth accepted and refused, a dead registry reported as unreachable.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { CatalogError, PackageVerificationError } from "../src/contract/errors.js";
import { isRepositoryName, isTag, OCI_MANIFEST_MEDIA_TYPE, OciClient, ociDigest, parseChallenge, type OciImageManifest } from "../src/catalog/oci-client.js";
import { startOciRegistry, type OciRegistry } from "./helpers/oci-registry.mjs";

const enc = new TextEncoder();

// Where the registry's filesystem driver keeps a blob (manifests are blobs too).
function blobFile(reg: OciRegistry, digest: string): string {
  const hex = digest.slice("sha256:".length);
  return path.join(reg.storageDir, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
}

function flipByte(file: string, at = 0): void {
  const bytes = readFileSync(file);
  bytes[at] = bytes[at]! ^ 0x01;
  writeFileSync(file, bytes);
}

async function pushImage(client: OciClient, repo: string, tag: string, layerText: string): Promise<{ manifest: OciImageManifest; digest: string; layer: string }> {
  const config = enc.encode("{}");
  const layer = enc.encode(layerText);
  const configDigest = await client.pushBlob(repo, config);
  const layerDigest = await client.pushBlob(repo, layer);
  const manifest: OciImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    artifactType: "application/vnd.plughost.test.v1",
    config: { mediaType: "application/vnd.oci.empty.v1+json", digest: configDigest, size: config.byteLength },
    layers: [{ mediaType: "application/wasm", digest: layerDigest, size: layer.byteLength, annotations: { "org.opencontainers.image.title": "plugin.wasm" } }],
    annotations: { "org.opencontainers.image.version": tag },
  };
  const digest = await client.putManifest(repo, tag, enc.encode(JSON.stringify(manifest)));
  return { manifest, digest, layer: layerDigest };
}

describe("OCI client on an open registry", () => {
  let reg: OciRegistry;
  let client: OciClient;
  beforeAll(async () => {
    reg = await startOciRegistry();
    client = new OciClient({ baseUrl: reg.httpUrl, timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await reg?.close();
  });

  it("pings the registry", async () => {
    await expect(client.ping()).resolves.toBeUndefined();
  });

  it("uploads a blob once and reads it back by digest", async () => {
    const bytes = enc.encode("a blob of plughost bytes");
    expect(await client.hasBlob("t/blobs", ociDigest(bytes))).toBe(false);
    const digest = await client.pushBlob("t/blobs", bytes);
    expect(digest).toBe(ociDigest(bytes));
    expect(await client.hasBlob("t/blobs", digest)).toBe(true);
    // Pushing it again is answered by the HEAD: same digest, no second upload.
    expect(await client.pushBlob("t/blobs", bytes)).toBe(digest);
    expect(Buffer.from(await client.getBlob("t/blobs", digest, bytes.byteLength)).toString()).toBe("a blob of plughost bytes");
  });

  it("refuses a blob larger than the size the caller expects", async () => {
    const bytes = enc.encode("x".repeat(1000));
    const digest = await client.pushBlob("t/big", bytes);
    const err = await client.getBlob("t/big", digest, 999).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect((err as PackageVerificationError).reason).toBe("digest");
  });

  it("reports an unknown blob and manifest as not-found", async () => {
    const missing = ociDigest(enc.encode("never pushed"));
    const blob = await client.getBlob("t/blobs", missing, 100).catch((e: unknown) => e);
    expect(blob).toBeInstanceOf(CatalogError);
    expect((blob as CatalogError).reason).toBe("not-found");
    const manifest = await client.getManifest("t/nothing-here", "1.0.0").catch((e: unknown) => e);
    expect((manifest as CatalogError).reason).toBe("not-found");
    expect(await client.manifestDigest("t/blobs", "9.9.9")).toBeUndefined();
  });

  it("puts a manifest under a tag and reads it by tag and by digest", async () => {
    const { manifest, digest } = await pushImage(client, "t/app", "1.0.0", "component bytes 1");
    expect(await client.manifestDigest("t/app", "1.0.0")).toBe(digest);
    const byTag = await client.getManifest("t/app", "1.0.0");
    const byDigest = await client.getManifest("t/app", digest);
    expect(byTag.digest).toBe(digest);
    expect(byDigest.digest).toBe(digest);
    expect(byTag.manifest).toEqual(manifest);
    expect(byTag.mediaType).toBe(OCI_MANIFEST_MEDIA_TYPE);
    // The exact bytes come back (what the digest covers).
    expect(ociDigest(byDigest.bytes)).toBe(digest);
  });

  it("lists tags and repositories, following Link pagination", async () => {
    const paged = new OciClient({ baseUrl: reg.httpUrl, pageSize: 2 });
    for (const v of ["0.1.0", "0.2.0", "0.3.0"]) await pushImage(client, "t/tags", v, `tags ${v}`);
    expect((await paged.listTags("t/tags")).sort()).toEqual(["0.1.0", "0.2.0", "0.3.0"]);
    for (const r of ["p1", "p2", "p3", "p4", "p5"]) await pushImage(client, `pages/${r}`, "1.0.0", `page ${r}`);
    const repos = await paged.listRepositories();
    expect(repos.filter((r) => r.startsWith("pages/")).sort()).toEqual(["pages/p1", "pages/p2", "pages/p3", "pages/p4", "pages/p5"]);
    // Every repository exactly once across the pages.
    expect(new Set(repos).size).toBe(repos.length);
    const tagsMissing = await client.listTags("t/no-such-repo").catch((e: unknown) => e);
    expect((tagsMissing as CatalogError).reason).toBe("not-found");
  });

  it("refuses a blob whose bytes were swapped in the registry's storage", async () => {
    const { layer } = await pushImage(client, "t/swap", "1.0.0", "the genuine component");
    flipByte(blobFile(reg, layer), 3);
    const err = await client.getBlob("t/swap", layer, 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect((err as PackageVerificationError).reason).toBe("digest");
    expect((err as Error).message).toContain(layer);
  });

  it("refuses a manifest whose bytes were swapped in the registry's storage, by tag and by digest", async () => {
    const { digest } = await pushImage(client, "t/swap-manifest", "1.0.0", "manifest swap");
    // Alter the annotation's value, so the registry still parses the manifest and serves it (1.0.0 -> 1.0.1).
    const file = blobFile(reg, digest);
    flipByte(file, readFileSync(file).indexOf('"1.0.0"') + 5);
    for (const ref of ["1.0.0", digest]) {
      const err = await client.getManifest("t/swap-manifest", ref).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PackageVerificationError);
      expect((err as PackageVerificationError).reason).toBe("digest");
    }
  });

  it("refuses names and references the distribution spec does not allow, before sending anything", async () => {
    for (const bad of ["Upper/case", "a//b", "-lead", "trail-", "a..b"]) {
      expect(isRepositoryName(bad)).toBe(false);
      const err = await client.listTags(bad).catch((e: unknown) => e);
      expect((err as CatalogError).reason).toBe("protocol");
    }
    expect(isRepositoryName("plughost/hello-c")).toBe(true);
    expect(isTag("1.2.3-rc.1_build.5")).toBe(true);
    expect(isTag("1.2.3+build")).toBe(false);
    const err = await client.getManifest("t/app", "1.0.0+meta").catch((e: unknown) => e);
    expect((err as CatalogError).reason).toBe("protocol");
  });

  it("reports a registry that does not answer as unreachable", async () => {
    const dead = await startOciRegistry();
    const url = dead.httpUrl;
    await dead.close();
    const err = await new OciClient({ baseUrl: url, timeoutMs: 5000 }).ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogError);
    expect((err as CatalogError).reason).toBe("unreachable");
    expect((err as Error).message).toContain("check that the registry runs");
  });
});

describe("OCI client with basic auth", () => {
  let reg: OciRegistry;
  beforeAll(async () => {
    reg = await startOciRegistry({ users: { alice: "correct horse" } });
  });
  afterAll(async () => {
    await reg?.close();
  });

  it("pushes and pulls with the right credentials", async () => {
    const client = new OciClient({ baseUrl: reg.httpUrl, credentials: { username: "alice", password: "correct horse" } });
    await client.ping();
    const { digest, layer } = await pushImage(client, "auth/app", "1.0.0", "private component");
    expect((await client.getManifest("auth/app", "1.0.0")).digest).toBe(digest);
    expect(Buffer.from(await client.getBlob("auth/app", layer, 100)).toString()).toBe("private component");
    expect(await client.listRepositories()).toContain("auth/app");
  });

  it("refuses without credentials, naming what to give", async () => {
    const err = await new OciClient({ baseUrl: reg.httpUrl }).listTags("auth/app").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogError);
    expect((err as CatalogError).reason).toBe("auth");
    expect((err as Error).message).toMatch(/give credentials/);
  });

  it("refuses a wrong password and a wrong user", async () => {
    for (const credentials of [{ username: "alice", password: "wrong" }, { username: "mallory", password: "correct horse" }]) {
      const err = await new OciClient({ baseUrl: reg.httpUrl, credentials }).ping().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CatalogError);
      expect((err as CatalogError).reason).toBe("auth");
      expect((err as Error).message).toMatch(/refused the credentials/);
    }
  });

  it("cannot push without credentials", async () => {
    const err = await new OciClient({ baseUrl: reg.httpUrl }).pushBlob("auth/other", enc.encode("x")).catch((e: unknown) => e);
    expect((err as CatalogError).reason).toBe("auth");
    const check = new OciClient({ baseUrl: reg.httpUrl, credentials: { username: "alice", password: "correct horse" } });
    expect(await check.hasBlob("auth/other", ociDigest(enc.encode("x")))).toBe(false);
  });
});

describe("OCI client with bearer tokens", () => {
  let reg: OciRegistry;
  const bob = { username: "bob", password: "token pass" };
  beforeAll(async () => {
    reg = await startOciRegistry({ token: true, users: { bob: bob.password } });
  });
  afterAll(async () => {
    await reg?.close();
  });

  it("exchanges credentials at the token realm for the scope the registry asks, and reuses the token", async () => {
    const client = new OciClient({ baseUrl: reg.httpUrl, credentials: bob });
    const { digest, layer } = await pushImage(client, "tok/app", "1.0.0", "bearer component");
    expect((await client.getManifest("tok/app", "1.0.0")).digest).toBe(digest);
    expect(Buffer.from(await client.getBlob("tok/app", layer, 100)).toString()).toBe("bearer component");
    expect(await client.listRepositories()).toContain("tok/app");
    // The registry lists a scope's actions in no fixed order ("push,pull" or "pull,push"): compare them sorted.
    const sorted = (scope: string) => scope.replace(/:([a-z*,]+)$/, (_, actions: string) => `:${actions.split(",").sort().join(",")}`);
    const scopes = reg.tokenRequests.map((r) => r.scope.map(sorted).join(" "));
    expect(scopes).toContain("repository:tok/app:pull,push");
    expect(scopes).toContain("registry:catalog:*");
    // One token per scope: pushing two blobs, a manifest and reading them back asked for each scope once.
    expect(scopes.filter((s) => s === "repository:tok/app:pull,push")).toHaveLength(1);
    expect(reg.tokenRequests.every((r) => r.user === "bob" && r.granted)).toBe(true);
  });

  it("uses a ready bearer token as given", async () => {
    const challenge = parseChallenge((await fetch(`${reg.httpUrl}/v2/`)).headers.get("www-authenticate") ?? "");
    const realm = new URL(challenge!.params.realm!);
    realm.searchParams.set("service", "plughost-test-registry");
    realm.searchParams.set("scope", "repository:tok/app:pull");
    const res = await fetch(realm, { headers: { authorization: `Basic ${Buffer.from(`${bob.username}:${bob.password}`).toString("base64")}` } });
    const { token } = (await res.json()) as { token: string };
    const client = new OciClient({ baseUrl: reg.httpUrl, credentials: { token } });
    expect(await client.listTags("tok/app")).toEqual(["1.0.0"]);
    // The token grants pull only: a push is refused, not retried with other credentials.
    const err = await client.pushBlob("tok/app", enc.encode("not allowed")).catch((e: unknown) => e);
    expect((err as CatalogError).reason).toBe("auth");
    const forged = await new OciClient({ baseUrl: reg.httpUrl, credentials: { token: `${token.slice(0, -4)}AAAA` } }).listTags("tok/app").catch((e: unknown) => e);
    expect((forged as CatalogError).reason).toBe("auth");
  });

  it("refuses when the token service refuses the credentials, or none are given", async () => {
    const wrong = await new OciClient({ baseUrl: reg.httpUrl, credentials: { username: "bob", password: "nope" } }).listTags("tok/app").catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(CatalogError);
    expect((wrong as CatalogError).reason).toBe("auth");
    expect((wrong as Error).message).toMatch(/token service .* refused the credentials/);
    const none = await new OciClient({ baseUrl: reg.httpUrl }).listTags("tok/app").catch((e: unknown) => e);
    expect((none as CatalogError).reason).toBe("auth");
  });
});

// A server that answers what a broken or hostile registry might: each path's handler says how.
async function hostile(handlers: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>): Promise<{ url: string; seen: string[]; close: () => Promise<void> }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? "-"}`);
    const handler = Object.entries(handlers).find(([prefix]) => (req.url ?? "").startsWith(prefix))?.[1];
    if (handler) handler(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe("OCI client against answers the API does not allow", () => {
  const digest = ociDigest(enc.encode("x"));

  it("refuses an oversized manifest, a non-manifest and a blob longer than its descriptor", async () => {
    const srv = await hostile({
      "/v2/big/manifests/": (_q, res) => res.writeHead(200, { "content-type": OCI_MANIFEST_MEDIA_TYPE }).end(Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)),
      "/v2/html/manifests/": (_q, res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>login</html>"),
      "/v2/shape/manifests/": (_q, res) => res.writeHead(200).end(JSON.stringify({ schemaVersion: 2, config: { digest: "md5:x" }, layers: "no" })),
      "/v2/long/blobs/": (_q, res) => {
        // Streamed without a length: the bound is enforced while reading.
        res.writeHead(200);
        res.write(Buffer.alloc(600));
        res.end(Buffer.alloc(600));
      },
    });
    try {
      const client = new OciClient({ baseUrl: srv.url });
      const big = await client.getManifest("big", "1.0.0").catch((e: unknown) => e);
      expect((big as CatalogError).reason).toBe("protocol");
      expect((big as Error).message).toMatch(/more than a registry may send/);
      for (const repo of ["html", "shape"]) {
        const err = await client.getManifest(repo, "1.0.0").catch((e: unknown) => e);
        expect((err as CatalogError).reason, repo).toBe("protocol");
        expect((err as Error).message).toMatch(/is not an OCI image manifest/);
      }
      const long = await client.getBlob("long", digest, 1000).catch((e: unknown) => e);
      expect(long).toBeInstanceOf(PackageVerificationError);
      expect((long as PackageVerificationError).reason).toBe("digest");
    } finally {
      await srv.close();
    }
  });

  it("refuses an upload without a Location, and never follows one to another origin with the credentials", async () => {
    const elsewhere = await hostile({ "/": (_q, res) => res.writeHead(201).end() });
    const srv = await hostile({
      "/v2/noloc/blobs/uploads/": (_q, res) => res.writeHead(202).end(),
      "/v2/away/blobs/uploads/": (_q, res) => res.writeHead(202, { location: `${elsewhere.url}/steal` }).end(),
      "/v2/": (req, res) => {
        if (req.headers.authorization) res.writeHead(404).end();
        else res.writeHead(401, { "www-authenticate": 'Basic realm="r"' }).end();
      },
    });
    try {
      const client = new OciClient({ baseUrl: srv.url, credentials: { username: "u", password: "p" } });
      const noloc = await client.pushBlob("noloc", enc.encode("x")).catch((e: unknown) => e);
      expect((noloc as CatalogError).reason).toBe("protocol");
      expect((noloc as Error).message).toMatch(/without a Location/);
      const away = await client.pushBlob("away", enc.encode("x")).catch((e: unknown) => e);
      expect((away as CatalogError).reason).toBe("protocol");
      expect((away as Error).message).toMatch(/another origin/);
      expect(elsewhere.seen).toEqual([]);
    } finally {
      await srv.close();
      await elsewhere.close();
    }
  });

  it("refuses malformed tag lists, reports server errors with the registry's codes, and gives up on a silent server", async () => {
    const srv = await hostile({
      "/v2/badtags/tags/list": (_q, res) => res.writeHead(200).end(JSON.stringify({ name: "badtags", tags: [1, 2] })),
      "/v2/nulltags/tags/list": (_q, res) => res.writeHead(200).end(JSON.stringify({ name: "nulltags", tags: null })),
      "/v2/broken/tags/list": (_q, res) => res.writeHead(500).end(JSON.stringify({ errors: [{ code: "UNKNOWN", message: "disk on fire" }] })),
      "/v2/silent/": () => {
        // Never answers.
      },
    });
    try {
      const client = new OciClient({ baseUrl: srv.url, timeoutMs: 500 });
      expect(((await client.listTags("badtags").catch((e: unknown) => e)) as CatalogError).reason).toBe("protocol");
      expect(await client.listTags("nulltags")).toEqual([]);
      const broken = await client.listTags("broken").catch((e: unknown) => e);
      expect((broken as CatalogError).reason).toBe("protocol");
      expect((broken as Error).message).toMatch(/answered 500 \(UNKNOWN: disk on fire\)/);
      const silent = await client.listTags("silent").catch((e: unknown) => e);
      expect((silent as CatalogError).reason).toBe("unreachable");
      expect((silent as Error).message).toMatch(/no answer in 500 ms/);
    } finally {
      await srv.close();
    }
  });

  it("refuses challenges it cannot answer", async () => {
    const srv = await hostile({
      "/v2/negotiate/": (_q, res) => res.writeHead(401, { "www-authenticate": "Negotiate" }).end(),
      "/v2/ftp/": (_q, res) => res.writeHead(401, { "www-authenticate": 'Bearer realm="ftp://t/token",service="s"' }).end(),
      "/v2/bare/": (_q, res) => res.writeHead(401).end(),
    });
    try {
      const client = new OciClient({ baseUrl: srv.url, credentials: { username: "u", password: "p" } });
      const messages: Record<string, RegExp> = { negotiate: /"negotiate" authentication/, ftp: /no http\(s\) token realm/, bare: /without a usable WWW-Authenticate/ };
      for (const [repo, message] of Object.entries(messages)) {
        const err = await client.listTags(repo).catch((e: unknown) => e);
        expect((err as CatalogError).reason, repo).toBe("auth");
        expect((err as Error).message).toMatch(message);
      }
    } finally {
      await srv.close();
    }
  });
});

describe("credentials and the token realm", () => {
  it("never sends credentials to a plain-http token realm named by an https registry", async () => {
    const calls: string[] = [];
    vi.stubGlobal("fetch", async (url: string | URL) => {
      calls.push(String(url));
      return new Response(null, { status: 401, headers: { "www-authenticate": 'Bearer realm="http://auth.example/token",service="reg"' } });
    });
    try {
      const client = new OciClient({ baseUrl: "https://registry.example", credentials: { username: "u", password: "secret-pw" } });
      const err = await client.listTags("app").catch((e: unknown) => e);
      expect((err as CatalogError).reason).toBe("auth");
      expect((err as Error).message).toMatch(/plain-http token realm/);
      expect((err as Error).message).not.toMatch(/secret-pw/);
      expect(calls.every((u) => u.startsWith("https://registry.example/"))).toBe(true);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe("WWW-Authenticate challenges", () => {
  it("parses bearer challenges whose scope holds commas", () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"')).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" },
    });
  });

  it("parses basic challenges, unquoted values and escapes", () => {
    expect(parseChallenge('Basic realm="a \\"quoted\\" realm"')).toEqual({ scheme: "basic", params: { realm: 'a "quoted" realm' } });
    expect(parseChallenge("Bearer realm=https://t.example/token, service=reg")).toEqual({ scheme: "bearer", params: { realm: "https://t.example/token", service: "reg" } });
    expect(parseChallenge("")).toBeUndefined();
  });
});
