// The manifest's `assets` key (docs/manifest.md, docs/catalog.md "Package format"): patterns checked at load, matched
// at pack time, the files packed from a real copy of examples/c/hello, covered by the digests, and extracted intact.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ManifestError, PackageError, PackageVerificationError } from "../src/contract/errors.js";
import { extractPackage, packageFromParts, packPlugin, readPackage, writePackage } from "../src/package/index.js";
import { assetMatches, assetPatternProblem } from "../src/plugin/assets.js";
import { loadManifest } from "../src/plugin/manifest.js";
import { copyPlugin } from "./helpers/plugins.js";

const HELLO = "examples/c/hello";
const created = new Date("2026-01-01T00:00:00Z");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A copy of examples/c/hello with `assets = <list>` and data/table.json, data/nested/notes.txt. */
function helloWithAssets(assets: string): string {
  const dir = copyPlugin(HELLO, (t) => `${t.replace(/\n?$/, "\n")}assets = ${assets}\n`); // hello's manifest has no table: a top-level key
  dirs.push(dir);
  mkdirSync(path.join(dir, "data", "nested"), { recursive: true });
  writeFileSync(path.join(dir, "data", "table.json"), '{"rows": [1, 2, 3]}\n');
  writeFileSync(path.join(dir, "data", "nested", "notes.txt"), "nested asset\n");
  return dir;
}

function refused<E extends Error>(fn: () => Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  return fn().then(
    () => {
      throw new Error("expected a refusal");
    },
    (err: unknown) => {
      expect(err).toBeInstanceOf(type);
      return err as E;
    },
  );
}

describe("asset patterns", () => {
  it("match * within a segment and ** at any depth", () => {
    expect(assetMatches("data/table.json", "data/table.json")).toBe(true);
    expect(assetMatches("templates/*.html", "templates/a.html")).toBe(true);
    expect(assetMatches("templates/*.html", "templates/x/a.html")).toBe(false);
    expect(assetMatches("static/**", "static/a/b/c.css")).toBe(true);
    expect(assetMatches("static/**", "static")).toBe(false);
    expect(assetMatches("**/*.txt", "a.txt")).toBe(true);
    expect(assetMatches("a/**/b", "a/b")).toBe(true);
    expect(assetMatches("a/**/b", "a/x/y/b")).toBe(true);
    expect(assetMatches("*a*a*a*a*a*b", "a".repeat(200))).toBe(false);
  });

  it("refuse .., absolute paths, backslashes and partial **", () => {
    expect(assetPatternProblem("../secret")).toMatch(/leaves the plugin directory/);
    expect(assetPatternProblem("/etc/passwd")).toMatch(/is absolute/);
    expect(assetPatternProblem("C:/x")).toMatch(/is absolute/);
    expect(assetPatternProblem("data\\x")).toMatch(/backslash/);
    expect(assetPatternProblem("a//b")).toMatch(/empty or "\." segment/);
    expect(assetPatternProblem("a/**b")).toMatch(/whole segment/);
    expect(assetPatternProblem("static/**")).toBeUndefined();
  });
});

describe("the assets key in a manifest", () => {
  it("loads as written from TOML and JSON", async () => {
    const dir = helloWithAssets('["data/table.json", "data/**"]');
    expect((await loadManifest(dir)).assets).toEqual(["data/table.json", "data/**"]);
    const json = copyPlugin(HELLO);
    dirs.push(json);
    unlinkSync(path.join(json, "plugin.toml"));
    writeFileSync(path.join(json, "plugin.json"), JSON.stringify({ name: "hello-c", version: "0.1.0", "api-version": "^0.1.0", entry: "plugin.wasm", assets: ["templates/*.html"] }));
    // Matched only at pack time: a pattern with no file yet loads.
    expect((await loadManifest(json)).assets).toEqual(["templates/*.html"]);
  });

  it("refuses bad patterns with a ManifestError pointing at each", async () => {
    const dir = helloWithAssets('["../up", "/abs", "ok/*.txt", "a\\\\b"]');
    const err = await refused(() => loadManifest(dir), ManifestError);
    expect(err.problems.map((p) => p.pointer)).toEqual(["/assets/0", "/assets/1", "/assets/3"]);
    expect(err.message).toMatch(/\/assets\/0: "\.\.\/up" leaves the plugin directory/);
  });

  it("refuses a non-list, an empty pattern and too many patterns by the schema", async () => {
    await refused(() => loadManifest(helloWithAssets('"data/table.json"')), ManifestError);
    const empty = await refused(() => loadManifest(helloWithAssets('[""]')), ManifestError);
    expect(empty.problems.map((p) => p.pointer)).toEqual(["/assets/0"]);
    const many = JSON.stringify(Array.from({ length: 257 }, (_, i) => `f${i}`));
    const tooMany = await refused(() => loadManifest(helloWithAssets(many)), ManifestError);
    expect(tooMany.problems[0]?.pointer).toBe("/assets");
  });
});

describe("packing assets", () => {
  it("packs the matched files (sorted, once), extracts them nested, and the installed plugin reads the same bytes", async () => {
    const dir = helloWithAssets('["data/table.json", "data/**"]');
    const pkg = await packPlugin(dir, { created });
    expect(pkg.metadata.files.map((f) => f.path)).toEqual(["data/nested/notes.txt", "data/table.json", "plugin.toml", "plugin.wasm"]);
    const read = readPackage(writePackage(pkg), "hello.plughost");
    const installed = mkdtempSync(path.join(tmpdir(), "plughost-assets-"));
    dirs.push(installed);
    const target = path.join(installed, "hello-c");
    await extractPackage(read, target);
    for (const rel of ["data/table.json", "data/nested/notes.txt"]) {
      expect(readFileSync(path.join(target, rel))).toEqual(readFileSync(path.join(dir, rel)));
    }
    const m = await loadManifest(target);
    expect(readFileSync(path.join(m.dir, "data", "nested", "notes.txt"), "utf8")).toBe("nested asset\n");
  });

  it("is deterministic with assets, wherever the plugin directory is", async () => {
    const a = helloWithAssets('["data/**"]');
    const b = helloWithAssets('["data/**"]');
    const one = writePackage(await packPlugin(a, { created }));
    expect(writePackage(await packPlugin(a, { created }))).toEqual(one);
    expect(writePackage(await packPlugin(b, { created }))).toEqual(one);
  });

  it("covers the assets by the digests: changed asset bytes are refused with reason digest", async () => {
    const pkg = await packPlugin(helloWithAssets('["data/**"]'), { created });
    const files = new Map(pkg.files);
    files.set("data/table.json", new TextEncoder().encode('{"rows": [1, 2, 4]}\n'));
    let err: unknown;
    try {
      packageFromParts(pkg.metadataBytes, files);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect((err as PackageVerificationError).reason).toBe("digest");
    // The same change made in the package's bytes.
    const bytes = Uint8Array.from(writePackage(pkg));
    const at = Buffer.from(bytes).indexOf('"rows": [1, 2, 3]');
    expect(at).toBeGreaterThan(0);
    bytes[at + 15] = "4".charCodeAt(0);
    let err2: unknown;
    try {
      readPackage(bytes, "hello.plughost");
    } catch (e) {
      err2 = e;
    }
    expect((err2 as PackageVerificationError).reason).toBe("digest");
  });

  it("refuses a pattern that matches nothing with a ManifestError naming it", async () => {
    const err = await refused(() => packPlugin(helloWithAssets('["data/**", "templates/*.html"]'), { created }), ManifestError);
    expect(err.problems).toEqual([{ pointer: "/assets/1", message: expect.stringMatching(/^"templates\/\*\.html" matches no file in /) }]);
  });

  it("refuses a link among the matches with a PackageError naming the file", async () => {
    const dir = helloWithAssets('["data/**"]');
    symlinkSync(path.join(dir, "data", "table.json"), path.join(dir, "data", "alias.json"));
    const err = await refused(() => packPlugin(dir, { created }), PackageError);
    expect(err.file).toBe(path.join(dir, "data", "alias.json"));
    expect(err.message).toMatch(/asset data\/alias\.json is a link/);
    const outside = helloWithAssets('["data/**"]');
    symlinkSync("/etc", path.join(outside, "data", "etc"));
    expect((await refused(() => packPlugin(outside, { created }), PackageError)).message).toMatch(/asset data\/etc is a link/);
  });
});
