// The OCI registry catalog against a real registry (Debian's docker-registry on loopback): real packages packed from
// examples/c/hello (a component, in three versions) and examples/native/legacy-hello (a native library), published,
// searched, listed and fetched back byte for byte; the artifact's layout; a republish, a conflicting publish;
// signed packages verified after the round trip; every tampering of the registry's content refused with a typed
// error (a swapped blob, a layer pointing at other bytes, an older version replayed under a newer tag, another
// plugin under this plugin's name, a metadata layer that is not the config); basic auth accepted and refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CatalogError, PackageError, PackageVerificationError } from "../src/contract/errors.js";
import { packPlugin, verifyPackage, writePackage, type PluginPackage } from "../src/package/index.js";
import { compileTrustList, publicKeyToBase64 } from "../src/plugin/signatures.js";
import { catalogCredentialsFromEnv, OciCatalog, parseOciLocation } from "../src/catalog/oci.js";
import { OciClient, ociDigest, type OciImageManifest } from "../src/catalog/oci-client.js";
import {
  ASSET_MEDIA_TYPE,
  METADATA_MEDIA_TYPE,
  NATIVE_MEDIA_TYPE,
  packageToArtifact,
  PLUGIN_ARTIFACT_TYPE,
  tagToVersion,
  versionToTag,
  WASM_MEDIA_TYPE,
} from "../src/catalog/oci-artifact.js";
import { startOciRegistry, type OciRegistry } from "./helpers/oci-registry.mjs";

const root = path.resolve(__dirname, "..");
const created = new Date("2026-01-02T03:04:05Z");
const work = mkdtempSync(path.join(tmpdir(), "plughost-catalog-oci-"));
const signer = generateKeyPairSync("ed25519");

// examples/c/hello at another version (its plugin.toml's version line rewritten), packed deterministically.
async function helloAt(version: string, options: { sign?: boolean; created?: Date } = {}): Promise<PluginPackage> {
  const dir = mkdtempSync(path.join(work, `hello-${version}-`));
  cpSync(path.join(root, "examples/c/hello"), dir, { recursive: true });
  const toml = path.join(dir, "plugin.toml");
  writeFileSync(toml, readFileSync(toml, "utf8").replace(/^version = ".*"$/m, `version = "${version}"`));
  return packPlugin(dir, { created: options.created ?? created, ...(options.sign ? { key: signer.privateKey, keyId: "release-2026" } : {}) });
}

function blobFile(reg: OciRegistry, digest: string): string {
  const hex = digest.slice("sha256:".length);
  return path.join(reg.storageDir, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
}

// Pushes a hand-made manifest (and the blobs it names) straight through the client, as a hostile publisher could.
async function pushRaw(client: OciClient, repo: string, tag: string, manifest: OciImageManifest, blobs: Iterable<Uint8Array>): Promise<void> {
  for (const b of blobs) await client.pushBlob(repo, b);
  await client.putManifest(repo, tag, new TextEncoder().encode(JSON.stringify(manifest)));
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (!r) throw new Error("expected the call to fail, it succeeded");
  return r;
}

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("OCI catalog: publish, search, versions, fetch", () => {
  let reg: OciRegistry;
  let catalog: OciCatalog;
  let client: OciClient;
  const pkgs = new Map<string, PluginPackage>();

  beforeAll(async () => {
    reg = await startOciRegistry();
    catalog = new OciCatalog(reg.location);
    client = new OciClient({ baseUrl: reg.httpUrl });
    for (const v of ["0.2.0", "0.1.0", "1.0.0"]) pkgs.set(`hello-c@${v}`, await helloAt(v));
    pkgs.set("legacy-hello@0.1.0", await packPlugin(path.join(root, "examples/native/legacy-hello"), { created }));
    for (const pkg of pkgs.values()) await catalog.publish(pkg);
  });
  afterAll(async () => {
    await reg?.close();
  });

  it("lists every version oldest first, with the artifact manifest's digest", async () => {
    const versions = await catalog.versions("hello-c");
    expect(versions.map((e) => e.version)).toEqual(["0.1.0", "0.2.0", "1.0.0"]);
    for (const e of versions) {
      expect(e.name).toBe("hello-c");
      expect(e.digest).toMatch(/^sha256-[0-9a-f]{64}$/);
      expect(e.signed).toBe(false);
      expect(e.description).toBe("Logs on init, registers `greet`, and answers it.");
      expect(e.license).toBe("Apache-2.0");
      expect(e.keywords).toEqual(["hello", "example", "c"]);
      expect(e.categories).toEqual(["examples"]);
      expect(e.digest.replace("sha256-", "sha256:")).toBe(await client.manifestDigest("plughost/hello-c", e.version));
    }
    expect(new Set(versions.map((e) => e.digest)).size).toBe(3);
  });

  it("searches by text, category and keyword, showing each plugin's newest version", async () => {
    const all = await catalog.search();
    expect(all.map((e) => `${e.name}@${e.version}`)).toEqual(["hello-c@1.0.0", "legacy-hello@0.1.0"]);
    expect((await catalog.search({ text: "LEGACY" })).map((e) => e.name)).toEqual(["legacy-hello"]);
    expect((await catalog.search({ text: "registers" })).map((e) => e.name)).toEqual(["hello-c", "legacy-hello"]);
    expect((await catalog.search({ tag: "native" })).map((e) => e.name)).toEqual(["legacy-hello"]);
    expect((await catalog.search({ category: "examples", tag: "c" })).map((e) => e.name)).toEqual(["hello-c"]);
    expect(await catalog.search({ text: "no plugin says this" })).toEqual([]);
    expect(await catalog.search({ category: "networking" })).toEqual([]);
  });

  it("fetches a package back byte for byte, pinned by the digest versions lists", async () => {
    for (const [key, pkg] of pkgs) {
      const [name, version] = key.split("@") as [string, string];
      const fetched = await catalog.fetch(name, version);
      expect(Buffer.from(writePackage(fetched.package)).equals(Buffer.from(writePackage(pkg)))).toBe(true);
      expect(fetched.package.digest).toBe(pkg.digest);
      const listed = (await catalog.versions(name)).find((e) => e.version === version);
      expect(fetched.digest).toBe(listed?.digest);
    }
  });

  it("stores a package as an OCI artifact: the component as application/wasm, every file a titled layer", async () => {
    const { manifest } = await client.getManifest("plughost/hello-c", "1.0.0");
    expect(manifest.artifactType).toBe(PLUGIN_ARTIFACT_TYPE);
    expect(manifest.config.mediaType).toBe(METADATA_MEDIA_TYPE);
    const layers = new Map(manifest.layers.map((l) => [l.annotations?.["org.opencontainers.image.title"], l]));
    // The metadata first, then the plugin files in path order (the package's own order).
    expect([...layers.keys()]).toEqual(["plughost-package.json", "plugin.toml", "plugin.wasm"]);
    expect(layers.get("plugin.wasm")?.mediaType).toBe(WASM_MEDIA_TYPE);
    expect(layers.get("plugin.toml")?.mediaType).toBe("application/vnd.plughost.plugin.manifest.v1+toml");
    expect(layers.get("plughost-package.json")?.digest).toBe(manifest.config.digest);
    const wasm = pkgs.get("hello-c@1.0.0")!.files.get("plugin.wasm")!;
    expect(layers.get("plugin.wasm")?.digest).toBe(ociDigest(wasm));
    expect(manifest.annotations?.["org.opencontainers.image.version"]).toBe("1.0.0");
    expect(manifest.annotations?.["org.opencontainers.image.created"]).toBe("2026-01-02T03:04:05Z");
    // Three versions of one component share its blob.
    const older = await client.getManifest("plughost/hello-c", "0.1.0");
    expect(older.manifest.layers.find((l) => l.mediaType === WASM_MEDIA_TYPE)?.digest).toBe(layers.get("plugin.wasm")?.digest);

    const native = await client.getManifest("plughost/legacy-hello", "0.1.0");
    const so = native.manifest.layers.find((l) => l.annotations?.["org.opencontainers.image.title"] === "legacy-hello.so");
    expect(so?.mediaType).toBe(NATIVE_MEDIA_TYPE);
  });

  it("lays out the same package as the same manifest bytes", async () => {
    const again = await helloAt("0.2.0");
    expect(Buffer.from(packageToArtifact(again).manifestBytes).equals(Buffer.from(packageToArtifact(pkgs.get("hello-c@0.2.0")!).manifestBytes))).toBe(true);
  });

  it("republishing the same bytes is a no-op; other bytes under a published version are a conflict", async () => {
    const before = await catalog.versions("hello-c");
    const same = await catalog.publish(await helloAt("0.2.0"));
    expect(same.digest).toBe(before.find((e) => e.version === "0.2.0")?.digest);
    const other = await helloAt("0.2.0", { created: new Date("2026-06-01T00:00:00Z") });
    const err = await failure(catalog.publish(other));
    expect(err).toBeInstanceOf(CatalogError);
    expect((err as CatalogError).reason).toBe("conflict");
    expect(err.message).toMatch(/hello-c 0\.2\.0 is already published.*bump the version/);
    // The published version still serves its first bytes.
    expect((await catalog.fetch("hello-c", "0.2.0")).package.digest).toBe(pkgs.get("hello-c@0.2.0")!.digest);
  });

  it("reports an unknown plugin or version as not-found, naming it", async () => {
    const noPlugin = await failure(catalog.fetch("no-such-plugin", "1.0.0"));
    expect((noPlugin as CatalogError).reason).toBe("not-found");
    expect(noPlugin.message).toContain("no-such-plugin");
    const noVersion = await failure(catalog.fetch("hello-c", "9.9.9"));
    expect((noVersion as CatalogError).reason).toBe("not-found");
    expect(noVersion.message).toContain("no version 9.9.9");
    const noVersions = await failure(catalog.versions("no-such-plugin"));
    expect((noVersions as CatalogError).reason).toBe("not-found");
    expect((noVersions as CatalogError).plugin).toBe("no-such-plugin");
  });

  it("skips repositories under the prefix that hold no plugin, and ignores non-version tags", async () => {
    const config = new TextEncoder().encode("{}");
    await pushRaw(client, "plughost/not-a-plugin", "1.0.0", {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: ociDigest(config), size: 2 },
      layers: [],
    }, [config]);
    const latest = await client.getManifest("plughost/hello-c", "1.0.0");
    await client.putManifest("plughost/hello-c", "latest", latest.bytes);
    expect((await catalog.search()).map((e) => e.name)).toEqual(["hello-c", "legacy-hello"]);
    expect((await catalog.versions("hello-c")).map((e) => e.version)).toEqual(["0.1.0", "0.2.0", "1.0.0"]);
    const err = await failure(catalog.fetch("not-a-plugin", "1.0.0"));
    expect(err).toBeInstanceOf(PackageError);
    expect(err.message).toMatch(/is not a plughost plugin/);
  });
  it("stores other packaged files (a config schema) as titled asset layers and fetches them back", async () => {
    const dir = mkdtempSync(path.join(work, "hello-schema-"));
    cpSync(path.join(root, "examples/c/hello"), dir, { recursive: true });
    const toml = path.join(dir, "plugin.toml");
    writeFileSync(toml, readFileSync(toml, "utf8").replace(/^version = ".*"$/m, 'version = "3.0.0"') + '\n[config]\nschema = "config.schema.json"\n');
    const schema = JSON.stringify({ type: "object", properties: { greeting: { type: "string" } } });
    writeFileSync(path.join(dir, "config.schema.json"), schema);
    const pkg = await packPlugin(dir, { created });
    expect([...pkg.files.keys()]).toContain("config.schema.json");
    await catalog.publish(pkg);
    const { manifest } = await client.getManifest("plughost/hello-c", "3.0.0");
    const layer = manifest.layers.find((l) => l.annotations?.["org.opencontainers.image.title"] === "config.schema.json");
    expect(layer?.mediaType).toBe(ASSET_MEDIA_TYPE);
    const fetched = await catalog.fetch("hello-c", "3.0.0");
    expect(Buffer.from(fetched.package.files.get("config.schema.json")!).toString()).toBe(schema);
    expect(fetched.package.digest).toBe(pkg.digest);
  });
  it("shows the highest release in search, a prerelease only when a plugin has nothing else", async () => {
    await catalog.publish(await helloAt("4.0.0-beta.1"));
    expect((await catalog.search({ text: "hello-c" })).map((e) => e.version)).toEqual(["3.0.0"]);
    expect((await catalog.versions("hello-c")).map((e) => e.version).slice(-2)).toEqual(["3.0.0", "4.0.0-beta.1"]);
    const pre = new OciCatalog(`oci://${reg.host}/prerelease`);
    await pre.publish(await helloAt("0.9.0-alpha.1"));
    await pre.publish(await helloAt("0.9.0-alpha.2"));
    expect((await pre.search()).map((e) => `${e.name}@${e.version}`)).toEqual(["hello-c@0.9.0-alpha.2"]);
  });
});

describe("OCI catalog: signed packages", () => {
  let reg: OciRegistry;
  beforeAll(async () => {
    reg = await startOciRegistry({ prefix: "team/plugins" });
  });
  afterAll(async () => {
    await reg?.close();
  });

  it("keeps both signatures through the registry; the fetched package verifies against the trust list", async () => {
    const catalog = new OciCatalog(reg.location);
    const pkg = await helloAt("2.0.0", { sign: true });
    const entry = await catalog.publish(pkg);
    expect(entry.signed).toBe(true);
    const { manifest } = await new OciClient({ baseUrl: reg.httpUrl }).getManifest("team/plugins/hello-c", "2.0.0");
    const titles = manifest.layers.map((l) => l.annotations?.["org.opencontainers.image.title"]);
    expect(titles).toContain("package.sig");
    expect(titles).toContain("plugin.sig");
    const fetched = await catalog.fetch("hello-c", "2.0.0");
    expect(fetched.package.signature?.key).toBe("release-2026");
    const trust = compileTrustList({ keys: { "release-2026": publicKeyToBase64(signer.publicKey) } });
    const verified = verifyPackage(fetched.package, trust, { requireSignature: true, expectName: "hello-c", expectVersion: "2.0.0" });
    expect(verified.signed).toBe(true);
    expect(verified.key).toBe("release-2026");
    // A trust list without the key refuses it.
    const stranger = compileTrustList({ keys: { other: publicKeyToBase64(generateKeyPairSync("ed25519").publicKey) } });
    const err = (() => {
      try {
        verifyPackage(fetched.package, stranger, { requireSignature: true });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect((err as PackageVerificationError).reason).toBe("unknown-key");
  });
});

describe("OCI catalog: tampered registry content is refused", () => {
  let reg: OciRegistry;
  let catalog: OciCatalog;
  let client: OciClient;
  let v1: PluginPackage;
  let v2: PluginPackage;
  let legacy: PluginPackage;
  beforeAll(async () => {
    reg = await startOciRegistry();
    catalog = new OciCatalog(reg.location);
    client = new OciClient({ baseUrl: reg.httpUrl });
    v1 = await helloAt("1.0.0", { sign: true });
    v2 = await helloAt("1.1.0", { sign: true });
    legacy = await packPlugin(path.join(root, "examples/native/legacy-hello"), { created });
    await catalog.publish(v1);
    await catalog.publish(v2);
  });
  afterAll(async () => {
    await reg?.close();
  });

  it("refuses a component blob whose bytes were swapped in the registry's storage", async () => {
    const file = blobFile(reg, ociDigest(v1.files.get("plugin.wasm")!));
    const genuine = readFileSync(file);
    const swapped = Buffer.from(genuine);
    swapped[swapped.length - 10] = swapped[swapped.length - 10]! ^ 0xff;
    writeFileSync(file, swapped);
    try {
      const err = await failure(catalog.fetch("hello-c", "1.0.0"));
      expect(err).toBeInstanceOf(PackageVerificationError);
      expect((err as PackageVerificationError).reason).toBe("digest");
      expect((err as PackageVerificationError).plugin).toBe("hello-c");
      expect(err.message).toMatch(/fetch hello-c 1\.0\.0: .*swapped or damaged/);
    } finally {
      writeFileSync(file, genuine);
    }
    expect((await catalog.fetch("hello-c", "1.0.0")).package.digest).toBe(v1.digest);
  });

  it("refuses a manifest whose component layer points at other bytes", async () => {
    const art = packageToArtifact(v1);
    const other = new TextEncoder().encode("\0asm not the plugin you signed");
    const manifest = structuredClone(art.manifest);
    const wasm = manifest.layers.find((l) => l.mediaType === WASM_MEDIA_TYPE)!;
    wasm.digest = ociDigest(other);
    wasm.size = other.byteLength;
    await pushRaw(client, "evil/hello-c", "1.0.0", manifest, [...art.blobs.values(), other]);
    const err = await failure(new OciCatalog(`oci://${reg.host}/evil`).fetch("hello-c", "1.0.0"));
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect((err as PackageVerificationError).reason).toBe("digest");
    expect(err.message).toContain("plugin.wasm");
  });

  it("refuses an older version replayed under a newer tag", async () => {
    const old = packageToArtifact(v1);
    await pushRaw(client, "replay/hello-c", "1.1.0", old.manifest, old.blobs.values());
    const err = await failure(new OciCatalog(`oci://${reg.host}/replay`).fetch("hello-c", "1.1.0"));
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect((err as PackageVerificationError).reason).toBe("wrong-version");
    expect(err.message).toMatch(/tagged 1\.1\.0 is version 1\.0\.0/);
  });

  it("refuses another plugin pushed under this plugin's name", async () => {
    const art = packageToArtifact(legacy);
    await pushRaw(client, "impostor/hello-c", "0.1.0", art.manifest, art.blobs.values());
    const err = await failure(new OciCatalog(`oci://${reg.host}/impostor`).fetch("hello-c", "0.1.0"));
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect((err as PackageVerificationError).reason).toBe("wrong-plugin");
    expect(err.message).toContain("legacy-hello");
  });

  it("refuses an artifact whose metadata layer is not its config", async () => {
    const art = packageToArtifact(v1);
    const forged = packageToArtifact(v2);
    const manifest = structuredClone(art.manifest);
    manifest.config = forged.manifest.config;
    await pushRaw(client, "forged/hello-c", "1.0.0", manifest, [...art.blobs.values(), ...forged.blobs.values()]);
    const err = await failure(new OciCatalog(`oci://${reg.host}/forged`).fetch("hello-c", "1.0.0"));
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect((err as PackageVerificationError).reason).toBe("digest");
  });

  it("refuses a package signature swapped for another version's", async () => {
    const art = packageToArtifact(v2);
    const manifest = structuredClone(art.manifest);
    const sigLayer = packageToArtifact(v1).manifest.layers.find((l) => l.annotations?.["org.opencontainers.image.title"] === "package.sig")!;
    manifest.layers = manifest.layers.map((l) => (l.annotations?.["org.opencontainers.image.title"] === "package.sig" ? sigLayer : l));
    await pushRaw(client, "resigned/hello-c", "1.1.0", manifest, [...art.blobs.values(), ...packageToArtifact(v1).blobs.values()]);
    const fetched = await new OciCatalog(`oci://${reg.host}/resigned`).fetch("hello-c", "1.1.0");
    // The parts are intact; the signature now covers 1.0.0's metadata, which verification refuses.
    const trust = compileTrustList({ keys: { "release-2026": publicKeyToBase64(signer.publicKey) } });
    const err = (() => {
      try {
        verifyPackage(fetched.package, trust, { requireSignature: true, expectName: "hello-c", expectVersion: "1.1.0" });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect((err as PackageVerificationError).reason).toBe("wrong-version");
    expect((err as Error).message).toMatch(/made for version 1\.0\.0, not 1\.1\.0/);
  });
});

describe("OCI catalog with basic auth", () => {
  let reg: OciRegistry;
  beforeAll(async () => {
    reg = await startOciRegistry({ users: { publisher: "s3cret-pass" } });
  });
  afterAll(async () => {
    await reg?.close();
  });

  it("publishes, searches and fetches with the right credentials", async () => {
    const catalog = new OciCatalog(reg.location, { credentials: { username: "publisher", password: "s3cret-pass" } });
    const pkg = await helloAt("0.3.0");
    await catalog.publish(pkg);
    expect((await catalog.search({ text: "hello" })).map((e) => e.version)).toEqual(["0.3.0"]);
    expect((await catalog.fetch("hello-c", "0.3.0")).package.digest).toBe(pkg.digest);
  });

  it("refuses without credentials or with a wrong password", async () => {
    for (const options of [{ credentials: {} }, { credentials: { username: "publisher", password: "guess" } }]) {
      const catalog = new OciCatalog(reg.location, options);
      for (const call of [() => catalog.search(), () => catalog.versions("hello-c"), () => catalog.fetch("hello-c", "0.3.0"), async () => catalog.publish(await helloAt("0.4.0"))]) {
        const err = await failure(call());
        expect(err).toBeInstanceOf(CatalogError);
        expect((err as CatalogError).reason).toBe("auth");
        expect((err as CatalogError).catalog).toBe(reg.location);
      }
      // Errors about one plugin name it and what was being done.
      const err = await failure(catalog.fetch("hello-c", "0.3.0"));
      expect((err as CatalogError).plugin).toBe("hello-c");
      expect(err.message).toMatch(/^\[hello-c\] oci:\/\/.*: fetch hello-c 0\.3\.0: /);
    }
  });

  it("takes credentials from PLUGHOST_CATALOG_USERNAME / PASSWORD / TOKEN", () => {
    expect(catalogCredentialsFromEnv({ PLUGHOST_CATALOG_USERNAME: "u", PLUGHOST_CATALOG_PASSWORD: "p" })).toEqual({ username: "u", password: "p" });
    expect(catalogCredentialsFromEnv({ PLUGHOST_CATALOG_TOKEN: "t" })).toEqual({ token: "t" });
    expect(catalogCredentialsFromEnv({})).toBeUndefined();
  });
});

describe("OCI catalog with bearer tokens", () => {
  let reg: OciRegistry;
  beforeAll(async () => {
    reg = await startOciRegistry({ token: true, users: { ci: "ci-pass" } });
  });
  afterAll(async () => {
    await reg?.close();
  });

  it("publishes, searches, lists and fetches through the token realm; wrong credentials are refused", async () => {
    const catalog = new OciCatalog(reg.location, { credentials: { username: "ci", password: "ci-pass" } });
    const pkg = await helloAt("0.5.0", { sign: true });
    await catalog.publish(pkg);
    expect((await catalog.search({ category: "examples" })).map((e) => `${e.name}@${e.version}`)).toEqual(["hello-c@0.5.0"]);
    expect((await catalog.versions("hello-c")).map((e) => e.signed)).toEqual([true]);
    expect((await catalog.fetch("hello-c", "0.5.0")).package.digest).toBe(pkg.digest);
    // The registry lists a scope's actions in no fixed order ("push,pull" or "pull,push"): compare them sorted.
    const sorted = (scope: string) => scope.replace(/:([a-z*,]+)$/, (_, actions: string) => `:${actions.split(",").sort().join(",")}`);
    expect(reg.tokenRequests.some((r) => r.scope.map(sorted).includes("repository:plughost/hello-c:pull,push"))).toBe(true);
    const err = await failure(new OciCatalog(reg.location, { credentials: { username: "ci", password: "stale" } }).fetch("hello-c", "0.5.0"));
    expect((err as CatalogError).reason).toBe("auth");
  });
});

describe("OCI catalog locations", () => {
  it("maps oci:// to HTTPS, except on loopback, and keeps the prefix", () => {
    expect(parseOciLocation("oci://registry.example.com/acme/plugins")).toEqual({ baseUrl: "https://registry.example.com", host: "registry.example.com", prefix: "acme/plugins" });
    expect(parseOciLocation("oci://127.0.0.1:5000/plughost")).toEqual({ baseUrl: "http://127.0.0.1:5000", host: "127.0.0.1:5000", prefix: "plughost" });
    expect(parseOciLocation("oci://localhost:5000")).toMatchObject({ baseUrl: "http://localhost:5000", prefix: "" });
    expect(parseOciLocation("https://127.0.0.1:5000/p/")).toMatchObject({ baseUrl: "https://127.0.0.1:5000", prefix: "p" });
    expect(parseOciLocation("http://reg.internal:8080/x")).toMatchObject({ baseUrl: "http://reg.internal:8080", prefix: "x" });
  });

  it("refuses other schemes, credentials in the URL, queries and bad prefixes", () => {
    for (const bad of ["ftp://h/p", "oci://user:pw@h/p", "oci://h/p?x=1", "oci://h/Upper", "oci://h/a//b", "not a url"]) {
      let err: unknown;
      try {
        parseOciLocation(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(CatalogError);
      expect((err as CatalogError).reason).toBe("protocol");
    }
  });

  it("maps versions to tags one-to-one (build metadata's + is not allowed in tags)", () => {
    for (const v of ["1.0.0", "1.0.0-rc.1", "1.0.0+build.7", "2.0.0-beta-2+sha.abc"]) expect(tagToVersion(versionToTag(v))).toBe(v);
    expect(versionToTag("1.0.0+build.7")).toBe("1.0.0_build.7");
  });

  it("refuses a plugin name that cannot be a repository name", async () => {
    const catalog = new OciCatalog("oci://127.0.0.1:1/p");
    const err = await failure(catalog.fetch("bad..name", "1.0.0"));
    expect((err as CatalogError).reason).toBe("protocol");
    expect((err as CatalogError).plugin).toBe("bad..name");
  });

  it("reports a registry that does not run as unreachable", async () => {
    const dead = await startOciRegistry();
    const location = dead.location;
    await dead.close();
    const err = await failure(new OciCatalog(location, { timeoutMs: 5000 }).versions("hello-c"));
    expect((err as CatalogError).reason).toBe("unreachable");
  });
});
