import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getHeapSpaceStatistics } from "node:v8";
import { afterAll, describe, expect, it } from "vitest";
import { ManifestError } from "../src/contract/errors.js";
import { clearManifestCache, loadManifest, loadManifestSchema, MANIFEST_FILES, MANIFEST_SCHEMA_PATH, parseByteSize, parseManifest, suggestKey } from "../src/plugin/manifest.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/manifests/", import.meta.url));
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const temps: string[] = [];

/** A copy of a fixture directory in a temp dir, with placeholder entry files (*.wasm and *.so are git-ignored). */
function fixture(name: string, entries: string[] = []): string {
  const dir = mkdtempSync(path.join(tmpdir(), "plughost-manifest-"));
  temps.push(dir);
  cpSync(path.join(FIXTURES, name), dir, { recursive: true });
  for (const e of entries) writeFileSync(path.join(dir, e), "\0asm");
  return dir;
}

afterAll(async () => {
  const { rmSync } = await import("node:fs");
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

describe("valid manifests", () => {
  it("loads the TOML form and normalizes every field", async () => {
    const dir = fixture("valid-toml", ["hello.wasm"]);
    const m = await loadManifest(dir);
    expect(m).toEqual({
      name: "hello",
      version: "1.2.3",
      apiVersion: "^0.1",
      description: "Says hello",
      author: "Ada <ada@example.com>",
      authors: ["Ada <ada@example.com>"],
      license: "Apache-2.0",
      kind: "component",
      entry: "hello.wasm",
      entryPath: path.join(dir, "hello.wasm"),
      trust: "untrusted",
      engine: "wasmtime",
      isolation: "worker",
      capabilities: [`fs:read:${path.join(dir, "data")}`, "env:HOME", "clock", "events:publish:greeting.sent"],
      optionalCapabilities: ["net:outbound:api.example.com:443", "random"],
      dependencies: [
        { name: "logger", range: "^1.2", optional: false },
        { name: "metrics", range: ">=2.0.0 <3", optional: true },
      ],
      hooks: [
        { event: "form.validate", priority: 500 },
        { event: "submission.transform", priority: 75 },
        { event: "submission.cleanup", priority: 100 },
      ],
      config: {
        schema: {
          type: "object",
          additionalProperties: false,
          required: ["greeting"],
          properties: { greeting: { type: "string", minLength: 1 }, times: { type: "integer", minimum: 1, default: 1 } },
        },
        defaults: { greeting: "hello" },
      },
      limits: { fuel: 1_000_000, fuelLifetime: 50_000_000, memoryBytes: 16 * 1024 * 1024, deadlineMs: 250, tableElements: 10000 },
      integrity: "sha256-0000000000000000000000000000000000000000000000000000000000000000",
      file: path.join(dir, "plugin.toml"),
      dir,
    });
  });

  it("reads the JSON form to the same manifest as the TOML form", async () => {
    const fromToml = await loadManifest(fixture("valid-toml", ["hello.wasm"]));
    const fromJson = await loadManifest(fixture("valid-json", ["hello.wasm"]));
    const strip = (m: typeof fromToml): object => ({ ...m, file: undefined, dir: undefined, entryPath: undefined, capabilities: m.capabilities.slice(1) });
    expect(strip(fromJson)).toEqual(strip(fromToml));
    expect(fromJson.file.endsWith("plugin.json")).toBe(true);
  });

  it("loads a native plugin with its trust level", async () => {
    const m = await loadManifest(fixture("native", ["libhello.so"]));
    expect([m.kind, m.trust, m.entry, m.engine]).toEqual(["native", "trusted", "libhello.so", undefined]);
  });

  it("fills in defaults for a minimal manifest", () => {
    const m = parseManifest('name = "tiny"\nversion = "0.1.0"\napi-version = "0.1"\nentry = "tiny.wasm"\n', "/plugins/tiny/plugin.toml", { checkEntry: false });
    expect(m).toMatchObject({
      kind: "component",
      trust: "untrusted",
      capabilities: [],
      optionalCapabilities: [],
      dependencies: [],
      hooks: [],
      config: { defaults: {} },
      limits: {},
      entryPath: "/plugins/tiny/tiny.wasm",
      dir: "/plugins/tiny",
    });
    expect(m.config.schema).toBeUndefined();
    expect("engine" in m || "isolation" in m || "description" in m).toBe(false);
  });

  it("maps seed 003's named priorities, in either case", () => {
    const hooks = ["CRITICAL", "high", "NORMAL", "low", "CLEANUP"].map((p, i) => `[[hooks]]\nevent = "e${i}"\npriority = "${p}"\n`).join("");
    const m = parseManifest(`name = "p"\nversion = "1.0.0"\napi-version = "^0.1"\nentry = "p.wasm"\n${hooks}`, "/x/plugin.toml", { checkEntry: false });
    expect(m.hooks.map((h) => h.priority)).toEqual([1000, 500, 100, 50, 10]);
  });

  it("accepts memory as an integer or a size string", () => {
    const mem = (v: string): number | undefined =>
      parseManifest(`name = "p"\nversion = "1.0.0"\napi-version = "^0.1"\nentry = "p.wasm"\n[limits]\nmemory = ${v}\n`, "/x/plugin.toml", { checkEntry: false }).limits.memoryBytes;
    expect(mem('"16MiB"')).toBe(16777216);
    expect(mem('"512 KiB"')).toBe(524288);
    expect(mem('"1.5GB"')).toBe(1_500_000_000);
    expect(mem('"4096"')).toBe(4096);
    expect(mem("65536")).toBe(65536);
  });

  it("resolves relative fs capabilities against the manifest's directory", () => {
    const m = parseManifest(
      JSON.stringify({ name: "p", version: "1.0.0", "api-version": "^0.1", entry: "p.wasm", capabilities: ["fs:write:./out", "fs:read:../shared", "fs:read:/etc/ssl"] }),
      "/srv/plugins/p/plugin.json",
      { checkEntry: false },
    );
    expect(m.capabilities).toEqual(["fs:write:/srv/plugins/p/out", "fs:read:/srv/plugins/shared", "fs:read:/etc/ssl"]);
  });
});

describe("loadManifest errors", () => {
  it("reports a missing entry file at /entry, saying to build first", async () => {
    const dir = fixture("missing-entry");
    const err = await loadManifest(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as ManifestError).problems).toEqual([
      { pointer: "/entry", message: expect.stringMatching(new RegExp(`^entry file ${path.join(dir, "target/missing.wasm")} does not exist; build the plugin first`)) as unknown as string },
    ]);
    expect((err as ManifestError).plugin).toBe("missing-entry");
  });

  it("skips the entry check with checkEntry: false", async () => {
    const m = await loadManifest(fixture("missing-entry"), { checkEntry: false });
    expect(m.entryPath.endsWith(path.join("target", "missing.wasm"))).toBe(true);
  });

  it("reports an entry that is a directory", async () => {
    const dir = fixture("missing-entry");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(path.join(dir, "target", "missing.wasm"), { recursive: true });
    await expect(loadManifest(dir)).rejects.toThrow(/\/entry: entry .*missing\.wasm is not a file/);
  });

  it("reports a directory without a manifest", async () => {
    const dir = fixture("empty-dir");
    await expect(loadManifest(dir)).rejects.toThrow(new RegExp(`no manifest in ${dir}; create plugin\\.toml or plugin\\.json`));
  });

  it("refuses a directory holding both manifest forms", async () => {
    await expect(loadManifest(fixture("both"))).rejects.toThrow(/holds both plugin\.toml and plugin\.json; keep only one/);
  });

  it("reports a path that does not exist", async () => {
    await expect(loadManifest("/nonexistent/plughost/plugin.toml")).rejects.toThrow(/\/nonexistent\/plughost\/plugin\.toml does not exist/);
  });

  it("reports TOML syntax errors with line and column", async () => {
    const err = (await loadManifest(fixture("bad-syntax-toml")).catch((e: unknown) => e)) as ManifestError;
    expect(err).toBeInstanceOf(ManifestError);
    expect(err.problems[0]?.message).toMatch(/^TOML syntax error at line 4, column \d+: /);
  });

  it("reports JSON syntax errors with line and column", async () => {
    const err = (await loadManifest(fixture("bad-syntax-json")).catch((e: unknown) => e)) as ManifestError;
    expect(err).toBeInstanceOf(ManifestError);
    expect(err.problems[0]?.message).toMatch(/^JSON syntax error at line 4, column 1: /);
  });
});

describe("the shipped schema", () => {
  it("is schema/manifest.schema.json, and is what the parser uses", () => {
    expect(MANIFEST_SCHEMA_PATH).toBe(path.join(ROOT, "schema", "manifest.schema.json"));
    expect(loadManifestSchema()).toEqual(JSON.parse(readFileSync(path.join(ROOT, "schema", "manifest.schema.json"), "utf8")));
  });

  it("accepts exactly the top-level keys the schema file lists", () => {
    const keys = Object.keys((loadManifestSchema().properties ?? {}) as object);
    expect(keys).toContain("api-version");
    for (const key of keys) {
      const err = (() => {
        try {
          parseManifest(JSON.stringify({ name: "p", version: "1.0.0", "api-version": "^0.1", entry: "p.wasm", [key]: null }), "/x/plugin.json", { checkEntry: false });
        } catch (e) {
          return e as ManifestError;
        }
        return undefined;
      })();
      // null is the wrong type for every key, but never an unknown key.
      expect(err?.problems.some((p) => p.message.startsWith("unknown key")), key).toBe(false);
    }
  });

  it("drives the wording: the name rule's message is the schema's x-expected", () => {
    const schema = loadManifestSchema() as { properties: { name: { "x-expected": string } } };
    expect(() => parseManifest(JSON.stringify({ name: "BAD", version: "1.0.0", "api-version": "^0.1", entry: "p.wasm" }), "/x/plugin.json", { checkEntry: false })).toThrow(
      `must be ${schema.properties.name["x-expected"]}, got "BAD"`,
    );
  });

  it("is documented: docs/manifest.md names every top-level key", () => {
    const doc = readFileSync(path.join(ROOT, "docs", "manifest.md"), "utf8");
    for (const key of Object.keys((loadManifestSchema().properties ?? {}) as object).filter((k) => k !== "$schema")) {
      expect(doc, key).toContain("`" + key + "`");
    }
  });

  it("has examples in docs/manifest.md that parse", () => {
    const doc = readFileSync(path.join(ROOT, "docs", "manifest.md"), "utf8");
    const blocks = [...doc.matchAll(/```(toml|json)\n([\s\S]*?)```/g)].filter((b) => /^\s*"?name"?\s*[=:]/m.test(b[2] ?? ""));
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    for (const [, lang, text] of blocks) {
      const m = parseManifest(text as string, `/docs/example/plugin.${lang}`, { checkEntry: false });
      expect(m.name).toMatch(/^(hello|greeter)$/);
    }
  });

  it("exports the manifest file names in lookup order", () => {
    expect(MANIFEST_FILES).toEqual(["plugin.toml", "plugin.json"]);
  });
});

describe("helpers", () => {
  it("parses byte sizes and refuses non-sizes", () => {
    expect(parseByteSize("1KB")).toBe(1000);
    expect(parseByteSize("1KiB")).toBe(1024);
    expect(parseByteSize("2 MiB")).toBe(2 * 1024 * 1024);
    expect(parseByteSize("1GiB")).toBe(1024 ** 3);
    expect(parseByteSize(0)).toBeUndefined();
    expect(parseByteSize(1.5)).toBeUndefined();
    expect(parseByteSize("1.3B")).toBeUndefined();
    expect(parseByteSize("ten")).toBeUndefined();
  });

  it("suggests the intended key for common misspellings", () => {
    const keys = ["api-version", "optional-capabilities", "deadline-ms"];
    expect(suggestKey("apiVersion", keys)).toBe("api-version");
    expect(suggestKey("api_version", keys)).toBe("api-version");
    expect(suggestKey("deadline-sm", keys)).toBe("deadline-ms");
    expect(suggestKey("permissions", keys)).toBeUndefined();
  });
});

describe("a manifest parsed again", () => {
  /** A plugin directory with a manifest naming `entry` (the file is created unless told not to). */
  function plugin(entry = "plugin.wasm", extra = ""): string {
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-manifest-"));
    temps.push(dir);
    writeFileSync(path.join(dir, "plugin.toml"), `name = "again"\nversion = "1.0.0"\napi-version = "^0.1.0"\nentry = "${entry}"\ncapabilities = ["clock"]\n${extra}`);
    mkdirSync(path.dirname(path.join(dir, entry)), { recursive: true });
    writeFileSync(path.join(dir, entry), "\0asm");
    return dir;
  }

  it("gives each caller its own copy", async () => {
    const dir = plugin();
    const a = await loadManifest(dir);
    a.capabilities.push("random");
    a.config.defaults.x = 1;
    const b = await loadManifest(dir);
    expect(b).not.toBe(a);
    expect(b.capabilities).toEqual(["clock"]);
    expect(b.config.defaults).toEqual({});
    clearManifestCache();
    expect(await loadManifest(dir)).toEqual(b);
  });

  it("checks the entry file every time: gone, a directory, a link out of the directory", async () => {
    for (const entry of ["plugin.wasm", "build/out/plugin.wasm"]) {
      const dir = plugin(entry);
      const file = path.join(dir, entry);
      await loadManifest(dir);
      renameSync(file, `${file}.away`);
      await expect(loadManifest(dir)).rejects.toThrow(/\/entry: entry file .* does not exist; build the plugin first/);
      mkdirSync(file);
      await expect(loadManifest(dir)).rejects.toThrow(/\/entry: entry .* is not a file/);
      rmSync(file, { recursive: true });
      const outside = path.join(mkdtempSync(path.join(tmpdir(), "plughost-manifest-")), "plugin.wasm");
      writeFileSync(outside, "\0asm");
      symlinkSync(outside, file);
      await expect(loadManifest(dir)).rejects.toThrow(/resolves to .*, outside the plugin's directory/);
      rmSync(file);
      // A link that stays inside the directory is fine, as before.
      symlinkSync(`${file}.away`, file);
      expect((await loadManifest(dir)).entryPath).toBe(file);
      // A directory on the way that links out is refused too.
      if (entry.includes("/")) {
        rmSync(path.join(dir, "build"), { recursive: true });
        symlinkSync(path.dirname(path.dirname(outside)), path.join(dir, "build"));
        mkdirSync(path.join(path.dirname(path.dirname(outside)), "out"), { recursive: true });
        writeFileSync(path.join(path.dirname(path.dirname(outside)), "out", "plugin.wasm"), "\0asm");
        await expect(loadManifest(dir)).rejects.toThrow(/resolves to .*, outside the plugin's directory/);
      }
    }
  });

  it("reads a config schema file again each time (it is not in the manifest's text)", async () => {
    const dir = plugin("plugin.wasm", '[config]\nschema = "schema.json"\n');
    writeFileSync(path.join(dir, "schema.json"), JSON.stringify({ type: "object", properties: { a: { type: "string" } } }));
    expect((await loadManifest(dir)).config.schema).toEqual({ type: "object", properties: { a: { type: "string" } } });
    writeFileSync(path.join(dir, "schema.json"), JSON.stringify({ type: "object", properties: { b: { type: "number" } } }));
    expect((await loadManifest(dir)).config.schema).toEqual({ type: "object", properties: { b: { type: "number" } } });
  });

  it("is parsed again when its text or its options change", async () => {
    const dir = plugin();
    expect((await loadManifest(dir)).version).toBe("1.0.0");
    writeFileSync(path.join(dir, "plugin.toml"), readFileSync(path.join(dir, "plugin.toml"), "utf8").replace('version = "1.0.0"', 'version = "1.0.1"'));
    expect((await loadManifest(dir)).version).toBe("1.0.1");
    writeFileSync(path.join(dir, "plugin.toml"), readFileSync(path.join(dir, "plugin.toml"), "utf8").replace('version = "1.0.1"', 'version = "one"'));
    await expect(loadManifest(dir)).rejects.toThrow(ManifestError);
    await expect(loadManifest(dir, { configSchema: "defer" })).rejects.toThrow(ManifestError);
  });

  it("keeps one parse per path: a manifest rewritten again and again does not pile up versions", async () => {
    const dir = plugin();
    const file = path.join(dir, "plugin.toml");
    const base = readFileSync(file, "utf8");
    // Text near the cached size limit (16 Ki chars): 256 versions kept would hold over 3 MiB.
    const pad = `# ${"x".repeat(12_000)}\n`;
    const rewrite = (i: number) => writeFileSync(file, base.replace('version = "1.0.0"', `version = "1.0.${i}"`) + pad);
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, "run vitest with --expose-gc (vitest.config.ts does)").toBeTypeOf("function");
    for (let i = 0; i < 50; i++) rewrite(i), await loadManifest(dir); // warm-up
    clearManifestCache();
    gc!();
    // Objects only: V8's compiled code is not something kept alive.
    const objectHeap = () => getHeapSpaceStatistics().filter((space) => !space.space_name.startsWith("code")).reduce((sum, space) => sum + space.space_used_size, 0);
    const before = objectHeap();
    for (let i = 300; i < 600; i++) {
      rewrite(i);
      expect((await loadManifest(dir)).version).toBe(`1.0.${i}`);
    }
    gc!();
    expect(objectHeap() - before).toBeLessThan(2 ** 20);
    // Going back to an earlier text parses it again, to what it says.
    rewrite(7);
    expect((await loadManifest(dir)).version).toBe("1.0.7");
  });
});
