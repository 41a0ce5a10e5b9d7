import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DirectoryCatalog, openCatalog, OciCatalog } from "../src/catalog/index.js";
import { DIRECTORY_LOCK_FILE } from "../src/catalog/directory.js";
import { CatalogError, PackageError, PackageVerificationError } from "../src/contract/errors.js";
import { packPlugin, writePackage } from "../src/package/index.js";
import type { PluginPackage } from "../src/package/types.js";
import { copyPlugin, root } from "./helpers/plugins.js";

const temps: string[] = [];
const tempDir = (prefix = "plughost-catalog-") => {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  temps.push(d);
  return d;
};

/** A real package of examples/c/hello at `version`, with catalogue metadata. */
async function helloPackage(version: string, extra = ""): Promise<PluginPackage> {
  const dir = copyPlugin("examples/c/hello", (t) =>
    t
      .replace(/^version = .*$/m, `version = "${version}"`)
      .replace(/^keywords = .*$/m, 'keywords = ["greeting", "demo"]')
      .replace(/^categories = .*$/m, `categories = ["examples"]\n${extra}`),
  );
  temps.push(dir);
  return packPlugin(dir, { created: new Date("2026-01-02T03:04:05Z") });
}

async function transformPackage(version: string): Promise<PluginPackage> {
  const dir = copyPlugin("examples/c/transform", (t) =>
    t.replace(/^version = .*$/m, `version = "${version}"`).replace(/^keywords = .*$/m, 'keywords = ["text"]').replace(/^categories = .*$/m, 'categories = ["filters"]'),
  );
  temps.push(dir);
  return packPlugin(dir, { created: new Date("2026-01-02T03:04:05Z") });
}

let hello100: PluginPackage;
let hello110: PluginPackage;
let hello1100: PluginPackage;
let hello200rc: PluginPackage;
let transform030: PluginPackage;

beforeAll(async () => {
  [hello100, hello110, hello1100, hello200rc, transform030] = await Promise.all([
    helloPackage("1.0.0"),
    helloPackage("1.1.0"),
    helloPackage("1.10.0"),
    helloPackage("2.0.0-rc.1"),
    transformPackage("0.3.0"),
  ]);
});

afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

async function catalogWithAll(): Promise<DirectoryCatalog> {
  const catalog = new DirectoryCatalog(path.join(tempDir(), "catalog"));
  for (const p of [hello1100, hello100, transform030, hello200rc, hello110]) await catalog.publish(p);
  return catalog;
}

describe("directory catalog: publish, versions, search, fetch", () => {
  it("stores <name>/<name>-<version>.plughost with the package's own bytes and lists it in index.json", async () => {
    const catalog = new DirectoryCatalog(path.join(tempDir(), "catalog"));
    const entry = await catalog.publish(hello100);
    const file = path.join(catalog.dir, "hello-c", "hello-c-1.0.0.plughost");
    expect(Buffer.from(readFileSync(file)).equals(Buffer.from(writePackage(hello100)))).toBe(true);
    expect(entry).toEqual({
      name: "hello-c",
      version: "1.0.0",
      description: hello100.metadata.description,
      license: "Apache-2.0",
      keywords: ["greeting", "demo"],
      categories: ["examples"],
      digest: hello100.digest,
      signed: false,
    });
    const index = JSON.parse(readFileSync(path.join(catalog.dir, "index.json"), "utf8"));
    expect(index.catalogVersion).toBe(1);
    expect(index.plugins["hello-c"]["1.0.0"]).toMatchObject({ digest: hello100.digest, size: writePackage(hello100).byteLength });
    // No temp files or lock left behind.
    expect(readdirSync(catalog.dir).sort()).toEqual(["hello-c", "index.json"]);
    expect(readdirSync(path.join(catalog.dir, "hello-c"))).toEqual(["hello-c-1.0.0.plughost"]);
  });

  it("versions: every version oldest first in semver order (1.10.0 after 1.1.0), prereleases included", async () => {
    const catalog = await catalogWithAll();
    expect((await catalog.versions("hello-c")).map((e) => e.version)).toEqual(["1.0.0", "1.1.0", "1.10.0", "2.0.0-rc.1"]);
    expect((await catalog.versions("transform-c")).map((e) => e.digest)).toEqual([transform030.digest]);
    const err = await catalog.versions("nope").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogError);
    expect(err).toMatchObject({ reason: "not-found", code: "E_CATALOG", plugin: "nope" });
    expect((err as Error).message).toContain('no plugin "nope"');
  });

  it("search: the newest release of each plugin (not a newer prerelease), by text, category and tag", async () => {
    const catalog = await catalogWithAll();
    const all = await catalog.search();
    expect(all.map((e) => `${e.name}@${e.version}`)).toEqual(["hello-c@1.10.0", "transform-c@0.3.0"]);
    // Text: case-insensitive in the name, description and keywords.
    expect((await catalog.search({ text: "HELLO" })).map((e) => e.name)).toEqual(["hello-c"]);
    expect((await catalog.search({ text: "DEMO" })).map((e) => e.name)).toEqual(["hello-c"]);
    const descWord = transform030.metadata.description!.split(/\s+/)[0]!.toUpperCase();
    expect((await catalog.search({ text: descWord })).map((e) => e.name)).toContain("transform-c");
    expect(await catalog.search({ text: "no-such-thing" })).toEqual([]);
    // Category and tag are exact.
    expect((await catalog.search({ category: "filters" })).map((e) => e.name)).toEqual(["transform-c"]);
    expect(await catalog.search({ category: "filter" })).toEqual([]);
    expect((await catalog.search({ tag: "greeting" })).map((e) => e.name)).toEqual(["hello-c"]);
    expect(await catalog.search({ tag: "greet" })).toEqual([]);
    expect((await catalog.search({ text: "c", category: "examples", tag: "demo" })).map((e) => e.name)).toEqual(["hello-c"]);
  });

  it("a catalog holding only a prerelease shows the prerelease", async () => {
    const catalog = new DirectoryCatalog(path.join(tempDir(), "catalog"));
    await catalog.publish(hello200rc);
    expect((await catalog.search()).map((e) => e.version)).toEqual(["2.0.0-rc.1"]);
  });

  it("fetch: the package with its files byte for byte and the catalog's digest", async () => {
    const catalog = await catalogWithAll();
    const { package: pkg, digest } = await catalog.fetch("hello-c", "1.1.0");
    expect(digest).toBe(hello110.digest);
    expect(pkg.digest).toBe(hello110.digest);
    expect(pkg.metadata).toEqual(hello110.metadata);
    expect([...pkg.files.keys()]).toEqual([...hello110.files.keys()]);
    for (const [p, bytes] of hello110.files) expect(Buffer.from(pkg.files.get(p)!).equals(Buffer.from(bytes))).toBe(true);
    const missing = await catalog.fetch("hello-c", "1.2.0").catch((e: unknown) => e);
    expect(missing).toMatchObject({ reason: "not-found" });
    expect((missing as Error).message).toContain("1.0.0, 1.1.0, 1.10.0, 2.0.0-rc.1");
    // A name that would leave the catalog directory is just not found.
    expect(await catalog.fetch("../hello-c", "1.1.0").catch((e: unknown) => e)).toMatchObject({ reason: "not-found" });
    expect(await catalog.fetch("hello-c", "1.1.0/../../x").catch((e: unknown) => e)).toMatchObject({ reason: "not-found" });
  });

  it("a version with build metadata is published and fetched under its full name", async () => {
    const catalog = new DirectoryCatalog(path.join(tempDir(), "catalog"));
    const built = await helloPackage("1.3.0+build.7");
    await catalog.publish(built);
    expect(existsSync(catalog.packageFile("hello-c", "1.3.0+build.7"))).toBe(true);
    expect((await catalog.versions("hello-c")).map((e) => e.version)).toEqual(["1.3.0+build.7"]);
    expect((await catalog.fetch("hello-c", "1.3.0+build.7")).digest).toBe(built.digest);
    expect(await catalog.fetch("hello-c", "v1.3.0+build.7").catch((e: unknown) => e)).toMatchObject({ reason: "not-found" });
  });

  it("publishing the same bytes again is a no-op; other bytes under a published version are a conflict, the first kept", async () => {
    const catalog = new DirectoryCatalog(path.join(tempDir(), "catalog"));
    const first = await catalog.publish(hello100);
    expect(await catalog.publish(hello100)).toEqual(first);
    const other = await helloPackage("1.0.0", 'homepage = "https://example.org/other"\n');
    expect(other.digest).not.toBe(hello100.digest);
    const err = await catalog.publish(other).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogError);
    expect(err).toMatchObject({ reason: "conflict", plugin: "hello-c" });
    expect((err as Error).message).toMatch(/already published with other bytes.*bump the version/);
    expect((await catalog.fetch("hello-c", "1.0.0")).digest).toBe(hello100.digest);
    expect(readdirSync(path.join(catalog.dir, "hello-c"))).toEqual(["hello-c-1.0.0.plughost"]);
  });

  it("publishing the same bytes again restores a stored file that was deleted or damaged", async () => {
    const catalog = new DirectoryCatalog(path.join(tempDir(), "catalog"));
    await catalog.publish(hello100);
    const file = catalog.packageFile("hello-c", "1.0.0");
    rmSync(file);
    expect(await catalog.fetch("hello-c", "1.0.0").catch((e: unknown) => e)).toMatchObject({ reason: "io" });
    await catalog.publish(hello100);
    expect((await catalog.fetch("hello-c", "1.0.0")).digest).toBe(hello100.digest);
    const bytes = readFileSync(file);
    bytes[100] ^= 1;
    writeFileSync(file, bytes);
    await catalog.publish(hello100);
    expect((await catalog.fetch("hello-c", "1.0.0")).digest).toBe(hello100.digest);
    expect(readdirSync(path.join(catalog.dir, "hello-c"))).toEqual(["hello-c-1.0.0.plughost"]);
  });

  it("refuses to publish a package whose files do not match its metadata, writing nothing", async () => {
    const catalog = new DirectoryCatalog(path.join(tempDir(), "catalog"));
    const files = new Map(hello100.files);
    const wasm = new Uint8Array(files.get("plugin.wasm")!);
    wasm[wasm.length - 1] ^= 1;
    files.set("plugin.wasm", wasm);
    const err = await catalog.publish({ ...hello100, files }).catch((e: unknown) => e);
    expect(err instanceof PackageVerificationError || err instanceof PackageError).toBe(true);
    expect(existsSync(path.join(catalog.dir, "index.json"))).toBe(false);
    expect(existsSync(path.join(catalog.dir, "hello-c", "hello-c-1.0.0.plughost"))).toBe(false);
  });
});

describe("directory catalog: a tampered catalog is refused", () => {
  it("a flipped byte in a stored package: digest", async () => {
    const catalog = await catalogWithAll();
    const file = catalog.packageFile("hello-c", "1.1.0");
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] ^= 0x40;
    writeFileSync(file, bytes);
    const err = await catalog.fetch("hello-c", "1.1.0").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect(err).toMatchObject({ reason: "digest", plugin: "hello-c", code: "E_VERIFICATION_FAILED" });
    expect((err as Error).message).toContain(hello110.digest);
  });

  it("an older version's file under a newer version: digest; with the index edited to match too: wrong-version", async () => {
    const catalog = await catalogWithAll();
    writeFileSync(catalog.packageFile("hello-c", "1.10.0"), readFileSync(catalog.packageFile("hello-c", "1.0.0")));
    expect(await catalog.fetch("hello-c", "1.10.0").catch((e: unknown) => e)).toMatchObject({ reason: "digest" });
    const indexFile = path.join(catalog.dir, "index.json");
    const index = JSON.parse(readFileSync(indexFile, "utf8"));
    index.plugins["hello-c"]["1.10.0"].digest = hello100.digest;
    index.plugins["hello-c"]["1.10.0"].size = writePackage(hello100).byteLength;
    writeFileSync(indexFile, JSON.stringify(index));
    const err = await catalog.fetch("hello-c", "1.10.0").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect(err).toMatchObject({ reason: "wrong-version" });
    expect((err as Error).message).toContain("holds version 1.0.0");
  });

  it("another plugin's file under this name, index edited to match: wrong-plugin", async () => {
    const catalog = await catalogWithAll();
    writeFileSync(catalog.packageFile("hello-c", "1.0.0"), readFileSync(catalog.packageFile("transform-c", "0.3.0")));
    const indexFile = path.join(catalog.dir, "index.json");
    const index = JSON.parse(readFileSync(indexFile, "utf8"));
    index.plugins["hello-c"]["1.0.0"].digest = transform030.digest;
    index.plugins["hello-c"]["1.0.0"].size = writePackage(transform030).byteLength;
    writeFileSync(indexFile, JSON.stringify(index));
    expect(await catalog.fetch("hello-c", "1.0.0").catch((e: unknown) => e)).toMatchObject({ reason: "wrong-plugin" });
  });

  it("a file grown past what the index published is refused by size, without reading it whole", async () => {
    const catalog = await catalogWithAll();
    const file = catalog.packageFile("hello-c", "1.0.0");
    const published = readFileSync(file).byteLength;
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.alloc(64 * 1024 * 1024)]));
    const err = await catalog.fetch("hello-c", "1.0.0").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect(err).toMatchObject({ reason: "digest" });
    expect((err as Error).message).toContain(`larger than the ${published} bytes`);
    writeFileSync(file, "");
    expect(await catalog.fetch("hello-c", "1.0.0").catch((e: unknown) => (e as Error).message)).toContain(`0 bytes, not the ${published} bytes`);
  });

  it("a missing package file is an io error naming it", async () => {
    const catalog = await catalogWithAll();
    rmSync(catalog.packageFile("transform-c", "0.3.0"));
    const err = await catalog.fetch("transform-c", "0.3.0").catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: "io" });
    expect((err as Error).message).toContain("transform-c-0.3.0.plughost");
  });

  it("a damaged index is a protocol error; reindex rebuilds it from the package files and skips a bad one", async () => {
    const catalog = await catalogWithAll();
    const indexFile = path.join(catalog.dir, "index.json");
    for (const bad of ["{", '{"catalogVersion":2,"plugins":{}}', '{"catalogVersion":1,"plugins":{"../x":{}}}',
      JSON.stringify({ catalogVersion: 1, plugins: { x: { "1.0.0": { name: "x", version: "1.0.0", digest: "md5-1", signed: false, keywords: [], categories: [] } } } }),
      JSON.stringify({ catalogVersion: 1, plugins: { x: { "1.0.0": { name: "x", version: "1.0.0", digest: hello100.digest, signed: false, keywords: [], categories: [], size: -1, published: "" } } } }),
      JSON.stringify({ catalogVersion: 1, plugins: { x: { "../../1.0.0": {} } } })]) {
      writeFileSync(indexFile, bad);
      const err = await catalog.search().catch((e: unknown) => e);
      expect(err, bad).toBeInstanceOf(CatalogError);
      expect(err, bad).toMatchObject({ reason: "protocol" });
      expect((err as Error).message).toContain("reindex");
    }
    writeFileSync(path.join(catalog.dir, "hello-c", "hello-c-9.9.9.plughost"), "not a package");
    const { entries, refused } = await catalog.reindex();
    expect(entries.map((e) => `${e.name}@${e.version}`).sort()).toEqual(["hello-c@1.0.0", "hello-c@1.1.0", "hello-c@1.10.0", "hello-c@2.0.0-rc.1", "transform-c@0.3.0"]);
    expect(refused.map((r) => path.basename(r.file))).toEqual(["hello-c-9.9.9.plughost"]);
    expect((await catalog.fetch("hello-c", "1.10.0")).digest).toBe(hello1100.digest);
  });

  it("a catalog directory that does not exist is not-found; an empty one is an empty catalog", async () => {
    const missing = new DirectoryCatalog(path.join(tempDir(), "nothing-here"));
    expect(await missing.search().catch((e: unknown) => e)).toMatchObject({ reason: "not-found" });
    expect(await new DirectoryCatalog(tempDir()).search()).toEqual([]);
  });
});

describe("directory catalog: concurrent publishers", () => {
  it("publishers in separate processes publishing at once all land in the index", async () => {
    const catalogDir = path.join(tempDir(), "catalog");
    const built = path.join(root, "dist/catalog/directory.js");
    expect(existsSync(built), "dist is built (npx tsc)").toBe(true);
    // Each child publishes its own package files written by this test (real packages, real processes).
    const pkgDir = tempDir();
    const packages = [hello100, hello110, hello1100, hello200rc, transform030];
    const files = packages.map((p, i) => {
      const f = path.join(pkgDir, `p${i}.plughost`);
      writeFileSync(f, writePackage(p));
      return f;
    });
    const script = `
      const { DirectoryCatalog } = await import(${JSON.stringify(built)});
      const { readPackageFile } = await import(${JSON.stringify(path.join(root, "dist/package/index.js"))});
      const pkg = await readPackageFile(process.argv[1]);
      // Start together, so the publishes overlap.
      await new Promise((r) => setTimeout(r, Math.max(0, Number(process.argv[2]) - Date.now())));
      await new DirectoryCatalog(${JSON.stringify(catalogDir)}).publish(pkg);
    `;
    const startAt = Date.now() + 1500;
    const runs = files.map(
      (f) =>
        new Promise<number>((resolve) => {
          const child = spawn(process.execPath, ["--input-type=module", "-e", script, f, String(startAt)], { stdio: ["ignore", "ignore", "inherit"] });
          child.on("exit", (code) => resolve(code ?? -1));
        }),
    );
    expect(await Promise.all(runs)).toEqual([0, 0, 0, 0, 0]);
    const catalog = new DirectoryCatalog(catalogDir);
    expect((await catalog.versions("hello-c")).map((e) => e.digest)).toEqual([hello100.digest, hello110.digest, hello1100.digest, hello200rc.digest]);
    expect((await catalog.versions("transform-c")).length).toBe(1);
    expect(existsSync(path.join(catalogDir, DIRECTORY_LOCK_FILE))).toBe(false);
  });

  it("a publisher SIGKILLed at random points leaves a readable catalog whose every listed version fetches, and the next publish works", async () => {
    const catalogDir = path.join(tempDir(), "catalog");
    const pkgDir = tempDir();
    // Twelve real packages (hello-c 3.0.0 … 3.0.11), published in a loop by the child until it is killed.
    const versions = Array.from({ length: 12 }, (_, i) => `3.0.${i}`);
    const packages = await Promise.all(versions.map((v) => helloPackage(v)));
    packages.forEach((p, i) => writeFileSync(path.join(pkgDir, `p${i}.plughost`), writePackage(p)));
    const script = `
      const { DirectoryCatalog } = await import(${JSON.stringify(path.join(root, "dist/catalog/directory.js"))});
      const { readPackageFile } = await import(${JSON.stringify(path.join(root, "dist/package/index.js"))});
      const pkgs = [];
      for (let i = 0; i < ${versions.length}; i++) pkgs.push(await readPackageFile(${JSON.stringify(pkgDir)} + "/p" + i + ".plughost"));
      const catalog = new DirectoryCatalog(${JSON.stringify(catalogDir)});
      process.stdout.write("ready\\n");
      for (;;) for (const p of pkgs) await catalog.publish(p);
    `;
    const catalog = new DirectoryCatalog(catalogDir, { lockTimeoutMs: 5_000 });
    for (let round = 0; round < 6; round++) {
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 60));
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
      const listed = existsSync(path.join(catalogDir, "index.json")) ? await catalog.versions("hello-c").catch(() => []) : [];
      for (const e of listed) expect((await catalog.fetch("hello-c", e.version)).digest, e.version).toBe(packages[versions.indexOf(e.version)]!.digest);
      // The killed publisher's lock (if it held one) is broken; this publish lands.
      await catalog.publish(packages[round]!);
      expect((await catalog.versions("hello-c")).map((e) => e.version)).toContain(versions[round]);
    }
    expect(existsSync(path.join(catalogDir, DIRECTORY_LOCK_FILE))).toBe(false);
  }, 60_000);

  it("publishes in one process at once: all land", async () => {
    const catalog = new DirectoryCatalog(path.join(tempDir(), "catalog"));
    await Promise.all([hello100, hello110, hello1100, hello200rc, transform030].map((p) => catalog.publish(p)));
    expect((await catalog.search()).length).toBe(2);
    expect((await catalog.versions("hello-c")).length).toBe(4);
  });

  it("a lock left by a dead process is broken; a live holder makes a publish wait, then fail naming the lock", async () => {
    const catalogDir = path.join(tempDir(), "catalog");
    const catalog = new DirectoryCatalog(catalogDir, { lockTimeoutMs: 300 });
    await catalog.publish(hello100);
    const lock = path.join(catalogDir, DIRECTORY_LOCK_FILE);
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    writeFileSync(lock, JSON.stringify({ pid: Number(dead.stdout), host: (await import("node:os")).hostname(), time: Date.now() }));
    await catalog.publish(hello110);
    expect(existsSync(lock)).toBe(false);
    // A live holder (this test's parent process id: alive, not us).
    writeFileSync(lock, JSON.stringify({ pid: process.ppid, host: (await import("node:os")).hostname(), time: Date.now() }));
    const t0 = Date.now();
    const err = await catalog.publish(hello1100).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(err).toBeInstanceOf(CatalogError);
    expect(err).toMatchObject({ reason: "io", plugin: "hello-c" });
    expect((err as Error).message).toContain(DIRECTORY_LOCK_FILE);
    expect((err as Error).message).toContain(`process ${process.ppid}`);
    // The live holder's lock is left alone, and nothing of the refused publish stays.
    expect(existsSync(lock)).toBe(true);
    expect(readdirSync(path.join(catalogDir, "hello-c")).sort()).toEqual(["hello-c-1.0.0.plughost", "hello-c-1.1.0.plughost"]);
    rmSync(lock);
    await catalog.publish(hello1100);
    expect((await catalog.versions("hello-c")).length).toBe(3);
  });
});

describe("openCatalog", () => {
  it("a path or file:// URL is a directory catalog; oci:// and http(s):// a registry; another scheme is refused", () => {
    const dir = tempDir();
    const a = openCatalog(dir);
    expect(a).toBeInstanceOf(DirectoryCatalog);
    expect(a.location).toBe(dir);
    expect((openCatalog(`file://${dir}`) as DirectoryCatalog).dir).toBe(dir);
    expect(openCatalog("relative/cat")).toBeInstanceOf(DirectoryCatalog);
    expect(openCatalog("oci://127.0.0.1:5000/plughost")).toBeInstanceOf(OciCatalog);
    expect(openCatalog("https://registry.example.org/plughost")).toBeInstanceOf(OciCatalog);
    expect(openCatalog("http://127.0.0.1:5000/plughost")).toBeInstanceOf(OciCatalog);
    const err = (() => {
      try {
        openCatalog("ftp://example.org/x");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CatalogError);
    expect(err).toMatchObject({ reason: "protocol", catalog: "ftp://example.org/x" });
  });
});
