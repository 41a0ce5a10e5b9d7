// Catalogue metadata in the manifest (issue 18 point 1, docs/manifest.md "Catalogue metadata"):
// description, authors (and the older author), license (SPDX), homepage, repository, keywords,
// categories — parsed, validated by the schema and by the checks it cannot express, shown by inspect.
import { spawnSync } from "node:child_process";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ManifestError } from "../src/contract/errors.js";
import { loadManifest, loadManifestSchema, parseManifest } from "../src/plugin/manifest.js";
import {
  CATALOGUE_BOUNDS,
  CATALOGUE_KEYS,
  catalogueMetadataOf,
  catalogueMetadataProblems,
  catalogueUrlProblem,
  formatCatalogueMetadata,
  spdxLicenseProblem,
} from "../src/plugin/metadata.js";
import { copyPlugin, root } from "./helpers/plugins.js";

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

const HEAD = 'name = "meta"\nversion = "1.0.0"\napi-version = "^0.1.0"\nentry = "plugin.wasm"\n';
const tomlFile = path.join(root, "virtual", "meta", "plugin.toml");
const jsonFile = path.join(root, "virtual", "meta", "plugin.json");

/** A TOML manifest with `extra` lines after the required keys. */
const toml = (extra: string) => parseManifest(HEAD + extra, tomlFile, { checkEntry: false });

/** The problems parseManifest reports for a TOML manifest with `extra` lines (none: []). */
function problemsOf(extra: string): { pointer: string; message: string }[] {
  try {
    toml(extra);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    return [...(err as ManifestError).problems];
  }
}

/** The one problem reported for `extra`, at `pointer`. */
function problemAt(extra: string, pointer: string): string {
  const problems = problemsOf(extra);
  expect(problems.map((p) => p.pointer), JSON.stringify(problems)).toEqual([pointer]);
  return (problems[0] as { message: string }).message;
}

describe("catalogue metadata in the manifest", () => {
  it("parses every field from TOML and JSON into the Manifest", () => {
    const m = toml(
      [
        'description = "Turns CSV into JSON"',
        'authors = ["Ada Lovelace <ada@example.com>", "Grace Hopper"]',
        'license = "MIT OR Apache-2.0"',
        'homepage = "https://example.com/csv"',
        'repository = "git+ssh://git@github.com/acme/csv.git"',
        'keywords = ["csv", "json", "data-conversion"]',
        'categories = ["data", "text"]',
      ].join("\n"),
    );
    const expected = {
      description: "Turns CSV into JSON",
      authors: ["Ada Lovelace <ada@example.com>", "Grace Hopper"],
      license: "MIT OR Apache-2.0",
      homepage: "https://example.com/csv",
      repository: "git+ssh://git@github.com/acme/csv.git",
      keywords: ["csv", "json", "data-conversion"],
      categories: ["data", "text"],
    };
    expect(catalogueMetadataOf(m)).toEqual(expected);
    expect(m.author).toBeUndefined();

    const json = parseManifest(
      JSON.stringify({ name: "meta", version: "1.0.0", "api-version": "^0.1.0", entry: "plugin.wasm", ...expected }),
      jsonFile,
      { checkEntry: false },
    );
    expect(catalogueMetadataOf(json)).toEqual(expected);
  });

  it("reads a lone author as authors = [author], keeps author as written, and refuses both together", () => {
    const m = toml('author = "Ada <ada@example.com>"');
    expect(m.authors).toEqual(["Ada <ada@example.com>"]);
    expect(m.author).toBe("Ada <ada@example.com>");
    expect(problemAt('author = "Ada"\nauthors = ["Grace"]', "/author")).toMatch(/beside authors; move it into authors/);
  });

  it("leaves absent or empty lists out of the Manifest", () => {
    const m = toml("keywords = []\ncategories = []\nauthors = []");
    for (const key of CATALOGUE_KEYS) expect(m[key], key).toBeUndefined();
  });

  it("names the plugin and the file in the error", () => {
    try {
      toml('license = "mit"');
      expect.unreachable("a bad licence must be refused");
    } catch (err) {
      const e = err as ManifestError;
      expect(e.code).toBe("E_MANIFEST_INVALID");
      expect(e.file).toBe(tomlFile);
      expect(e.plugin).toBe("meta");
      expect(e.message).toContain(`invalid manifest ${tomlFile}: /license: "mit" is not an SPDX license id; did you mean "MIT"?`);
    }
  });
});

describe("license: an SPDX expression", () => {
  it.each([
    "MIT",
    "Apache-2.0",
    "MIT OR Apache-2.0",
    "(MIT OR Apache-2.0) AND BSD-3-Clause",
    "GPL-2.0-or-later WITH Classpath-exception-2.0",
    "Apache-2.0 WITH LLVM-exception",
    "GPL-2.0+",
    "GPL-2.0", // deprecated, still an SPDX id
    "LicenseRef-acme-proprietary",
    "MIT or ISC", // SPDX allows lower-case operators
  ])("accepts %s", (license) => {
    expect(spdxLicenseProblem(license)).toBeUndefined();
    expect(toml(`license = ${JSON.stringify(license)}`).license).toBe(license);
  });

  it.each([
    ["mit", /"mit" is not an SPDX license id; did you mean "MIT"\?/],
    ["apache-2.0", /did you mean "Apache-2.0"\?/],
    ["Apache 2.0", /"Apache" is not an SPDX license id; use an id from https:\/\/spdx.org\/licenses\/ \(or "LicenseRef-<name>"/],
    ["NONE", /"NONE" is not an SPDX license id/],
    ["MIT OR", /not a valid SPDX expression \(it is incomplete\); join ids with AND \/ OR/],
    ["(MIT OR ISC", /not a valid SPDX expression \(Expected `\)`\)/],
    ["MIT ISC", /not a valid SPDX expression/],
    ["Classpath-exception-2.0", /is a licence exception; it follows a licence after WITH, like "GPL-2.0-or-later WITH Classpath-exception-2.0"/],
    ["MIT WITH ISC", /"ISC" is a licence, not an exception; after WITH comes an exception id/],
    ["MIT/Apache-2.0", /"MIT\/Apache-2.0" is not an SPDX license id/],
    ["", /must not be empty/],
  ])("refuses %j", (license, message) => {
    expect(spdxLicenseProblem(license)).toMatch(message);
    const problem = problemAt(`license = ${JSON.stringify(license)}`, "/license");
    // The schema words the empty string; the SPDX check words the rest.
    expect(problem).toMatch(license === "" ? /SPDX license expression/ : message);
  });

  it("refuses one longer than 256 characters before parsing it", () => {
    const long = Array.from({ length: 40 }, () => "MIT").join(" OR "); // 277 characters
    expect(long.length).toBeGreaterThan(CATALOGUE_BOUNDS.license);
    expect(spdxLicenseProblem(long)).toMatch(/at most 256 characters/);
    expect(problemAt(`license = ${JSON.stringify(long)}`, "/license")).toMatch(/SPDX license expression of at most 256 characters/);
  });

  it("refuses a description that is not a string, saying so plainly", () => {
    expect(problemAt("description = 7", "/description")).toBe("must be a string, got 7");
  });

  it("refuses a non-string licence in the schema's words", () => {
    expect(problemAt("license = 3", "/license")).toMatch(/must be an SPDX license expression/);
  });
});

describe("homepage and repository: URLs", () => {
  it("accepts http(s) homepages and the usual repository schemes", () => {
    for (const url of ["https://example.com", "http://example.com/a?b=c#d", "HTTPS://EXAMPLE.COM/x"]) {
      expect(catalogueUrlProblem(url, "homepage"), url).toBeUndefined();
      expect(toml(`homepage = ${JSON.stringify(url)}`).homepage).toBe(url);
    }
    for (const url of ["https://github.com/acme/x", "git://example.com/x.git", "ssh://git@example.com/x.git", "git+https://example.com/x.git", "git+ssh://git@example.com:2222/x.git"]) {
      expect(catalogueUrlProblem(url, "repository"), url).toBeUndefined();
      expect(toml(`repository = ${JSON.stringify(url)}`).repository).toBe(url);
    }
  });

  it.each([
    ["homepage", "ftp://example.com", /must be an http\(s\) URL/],
    ["homepage", "example.com", /must be an http\(s\) URL/],
    ["homepage", "git+ssh://git@example.com/x", /must be an http\(s\) URL/],
    ["homepage", "https://user:secret@example.com", /carries a password; remove it/],
    ["homepage", "https://user@example.com", /carries a user name; remove it/],
    ["homepage", "https://exa mple.com", /must be an absolute URL like "https:\/\/example.com\/my-plugin"/],
    ["repository", "git@github.com:acme/x.git", /must be a repository URL/],
    ["repository", "ssh://git:pw@example.com/x", /carries a password/],
    ["repository", "https://git@example.com/x", /carries a user name; remove it \(only ssh URLs name a user/],
    ["repository", "svn://example.com/x", /must be a repository URL/],
  ])("%s %j is refused", (key, url, message) => {
    expect(problemAt(`${key} = ${JSON.stringify(url)}`, "/" + key)).toMatch(message);
  });

  it("explains an scp-style address and other schemes in code, for metadata that skipped the schema", () => {
    expect(catalogueUrlProblem("git@github.com:acme/x.git", "repository")).toBe('is an scp-style address, not a URL; write it as "ssh://git@github.com/acme/x.git"');
    expect(catalogueUrlProblem("svn://example.com/x", "repository")).toMatch(/must use https, http, git, ssh, git\+https, git\+ssh, got "svn"/);
    expect(catalogueUrlProblem("https://" + "a".repeat(2100), "homepage")).toMatch(/at most 2048 characters/);
  });

  it("refuses a URL longer than 2048 characters", () => {
    expect(problemAt(`homepage = "https://example.com/${"a".repeat(2040)}"`, "/homepage")).toMatch(/at most 2048 characters/);
  });
});

describe("keywords and categories: bounded lower-case slugs", () => {
  it.each([
    ['keywords = ["JSON"]', "/keywords/0"],
    ['keywords = ["json schema"]', "/keywords/0"],
    ['keywords = ["a--b"]', "/keywords/0"],
    ['keywords = ["-a"]', "/keywords/0"],
    ['keywords = [""]', "/keywords/0"],
    [`keywords = ["${"a".repeat(33)}"]`, "/keywords/0"],
    ['categories = ["Data"]', "/categories/0"],
    ["categories = [1]", "/categories/0"],
  ])("%s is refused at %s", (line, pointer) => {
    expect(problemAt(line, pointer)).toMatch(/must be a lower-case slug of 1 to 32 characters/);
  });

  it("accepts the largest allowed lists and refuses one more", () => {
    const words = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => `w${i}`));
    expect(toml(`keywords = ${words(20)}\ncategories = ${words(5)}`).keywords).toHaveLength(20);
    expect(problemAt(`keywords = ${words(21)}`, "/keywords")).toBe("must have at most 20 items");
    expect(problemAt(`categories = ${words(6)}`, "/categories")).toBe("must have at most 5 items");
  });

  it("refuses a word listed twice, and a bare string", () => {
    expect(problemAt('keywords = ["csv", "csv"]', "/keywords")).toMatch(/must not list the same item twice/);
    expect(problemAt('categories = "data"', "/categories")).toMatch(/must be an array/);
  });
});

describe("description and authors", () => {
  it.each([
    ['description = "two\\nlines"', "/description"],
    ['description = ""', "/description"],
    [`description = "${"d".repeat(513)}"`, "/description"],
    ['authors = ["Ada\\u0000"]', "/authors/0"],
    [`authors = ["${"a".repeat(257)}"]`, "/authors/0"],
    ['author = ""', "/author"],
  ])("%s is refused at %s", (line, pointer) => {
    expect(problemAt(line, pointer)).toMatch(/one line|on one line/);
  });

  it("accepts a 512-character description and 64 authors, refuses 65 authors and a duplicate", () => {
    const m = toml(`description = "${"d".repeat(512)}"\nauthors = ${JSON.stringify(Array.from({ length: 64 }, (_, i) => `A${i}`))}`);
    expect(m.description).toHaveLength(512);
    expect(m.authors).toHaveLength(64);
    expect(problemAt(`authors = ${JSON.stringify(Array.from({ length: 65 }, (_, i) => `A${i}`))}`, "/authors")).toBe("must have at most 64 items");
    expect(problemAt('authors = ["Ada", "Ada"]', "/authors")).toMatch(/must not list the same item twice/);
  });

  it("reports every bad field at once", () => {
    const problems = problemsOf('license = "mit"\nhomepage = "ftp://x"\nkeywords = ["X"]\ndescription = "a\\nb"');
    expect(problems.map((p) => p.pointer).sort()).toEqual(["/description", "/homepage", "/keywords/0", "/license"]);
  });
});

describe("the same rules in code (package metadata)", () => {
  const good = {
    description: "Turns CSV into JSON",
    authors: ["Ada"],
    license: "MIT",
    homepage: "https://example.com",
    repository: "https://github.com/acme/csv",
    keywords: ["csv"],
    categories: ["data"],
    // Other keys of a package's metadata are not this check's business.
    name: "csv",
    files: [],
  };

  it("passes good metadata", () => {
    expect(catalogueMetadataProblems(good)).toEqual([]);
    expect(catalogueMetadataProblems({})).toEqual([]);
  });

  // Each bad value is refused by parseManifest (schema + semantic checks) and by the code-only check at the same place.
  it.each([
    ["description", "a\nb"],
    ["description", 1],
    ["authors", ["x".repeat(257)]],
    ["authors", "Ada"],
    ["authors", Array.from({ length: 65 }, (_, i) => `A${i}`)],
    ["license", "mit"],
    ["license", "MIT OR"],
    ["license", 1],
    ["homepage", "ftp://example.com"],
    ["homepage", "https://u:p@example.com"],
    ["repository", "git@github.com:a/b.git"],
    ["keywords", ["Upper"]],
    ["keywords", ["a", "a"]],
    ["keywords", Array.from({ length: 21 }, (_, i) => `k${i}`)],
    ["categories", Array.from({ length: 6 }, (_, i) => `c${i}`)],
    ["categories", [""]],
  ])("%s = %j is refused by both", (key, value) => {
    const inCode = catalogueMetadataProblems({ ...good, [key]: value }).map((p) => p.pointer);
    const doc = { name: "meta", version: "1.0.0", "api-version": "^0.1.0", entry: "plugin.wasm", ...good, [key]: value } as Record<string, unknown>;
    delete doc.files;
    let inManifest: string[] = [];
    try {
      parseManifest(JSON.stringify(doc), jsonFile, { checkEntry: false });
    } catch (err) {
      inManifest = (err as ManifestError).problems.map((p) => p.pointer);
    }
    expect(inCode.length, `code check of ${key}`).toBeGreaterThan(0);
    expect(new Set(inCode), `${key}: code and schema report the same places`).toEqual(new Set(inManifest));
  });

  it("states the same bounds as the manifest schema", () => {
    const schema = loadManifestSchema() as { properties: Record<string, Record<string, unknown>>; $defs: Record<string, Record<string, unknown>> };
    const p = schema.properties;
    expect(p.description?.maxLength).toBe(CATALOGUE_BOUNDS.description);
    expect(p.license?.maxLength).toBe(CATALOGUE_BOUNDS.license);
    expect(p.homepage?.maxLength).toBe(CATALOGUE_BOUNDS.url);
    expect(p.repository?.maxLength).toBe(CATALOGUE_BOUNDS.url);
    expect(p.authors?.maxItems).toBe(CATALOGUE_BOUNDS.authors);
    expect(p.keywords?.maxItems).toBe(CATALOGUE_BOUNDS.keywords);
    expect(p.categories?.maxItems).toBe(CATALOGUE_BOUNDS.categories);
    expect(schema.$defs.person?.maxLength).toBe(CATALOGUE_BOUNDS.author);
    expect(schema.$defs.slug?.maxLength).toBe(CATALOGUE_BOUNDS.slug);
  });

  it("formats the fields for people in a fixed order, leaving out absent ones", () => {
    expect(formatCatalogueMetadata({ categories: ["data"], license: "MIT", keywords: ["csv", "json"], authors: [] })).toEqual(["license: MIT", "keywords: csv, json", "categories: data"]);
    expect(formatCatalogueMetadata(good)).toEqual([
      "description: Turns CSV into JSON",
      "authors: Ada",
      "license: MIT",
      "homepage: https://example.com",
      "repository: https://github.com/acme/csv",
      "keywords: csv",
      "categories: data",
    ]);
  });
});

describe("examples and inspect", () => {
  it("every example carries a valid licence, authors, keywords and categories", async () => {
    const manifests = execFileSync("git", ["ls-files", "examples/*plugin.toml", "examples/*plugin.json"], { cwd: root, encoding: "utf8" }).trim().split("\n");
    expect(manifests.length).toBeGreaterThanOrEqual(19);
    for (const file of manifests) {
      const m = await loadManifest(path.join(root, file), { checkEntry: false });
      expect(m.license, file).toBe("Apache-2.0");
      expect(m.authors?.length, file).toBeGreaterThan(0);
      expect(m.keywords?.length, file).toBeGreaterThan(0);
      expect(m.categories?.length, file).toBeGreaterThan(0);
      expect(m.description, file).toBeTruthy();
    }
  });

  it("the plughost new templates' commented catalogue lines make a valid manifest once uncommented", () => {
    for (const lang of ["c", "go", "js", "rust"]) {
      const template = readFileSync(path.join(root, "templates", lang, "plugin.toml"), "utf8");
      const uncommented = template.replace(/\{\{name\}\}/g, "my-plugin").replace(/^# ((?:authors|license|homepage|repository|keywords|categories) = .*)$/gm, "$1");
      expect(uncommented, lang).not.toBe(template);
      const m = parseManifest(uncommented, path.join(root, "virtual", lang, "plugin.toml"), { checkEntry: false, configSchema: "defer" });
      expect(Object.keys(catalogueMetadataOf(m)).sort(), lang).toEqual([...CATALOGUE_KEYS].sort());
    }
  });

  it("plughost inspect shows the metadata of a real plugin, in text and in --json", () => {
    const dir = copyPlugin("examples/c/hello", (text) =>
      text.replace(/^keywords = .*$/m, 'keywords = ["hello", "greeting"]').replace(/^license = .*$/m, 'license = "MIT OR Apache-2.0"\nhomepage = "https://example.com/hello"\nrepository = "https://github.com/acme/hello"'),
    );
    temps.push(dir);
    const cli = path.join(root, "dist/cli/index.js");
    const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env: { ...process.env, PLUGHOST_LOG_LEVEL: "warn" } });
    const text = run(["inspect", dir]);
    expect(text.status, text.stderr).toBe(0);
    const lines = text.stdout.split("\n");
    for (const line of [
      "description: Logs on init, registers `greet`, and answers it.",
      "authors: The plughost authors",
      "license: MIT OR Apache-2.0",
      "homepage: https://example.com/hello",
      "repository: https://github.com/acme/hello",
      "keywords: hello, greeting",
      "categories: examples",
    ]) {
      expect(lines, line).toContain(line);
    }
    const json = run(["inspect", dir, "--json"]);
    expect(json.status, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as { manifest: Record<string, unknown> };
    expect(report.manifest).toMatchObject({
      name: "hello-c",
      license: "MIT OR Apache-2.0",
      authors: ["The plughost authors"],
      homepage: "https://example.com/hello",
      repository: "https://github.com/acme/hello",
      keywords: ["hello", "greeting"],
      categories: ["examples"],
    });
  });

  it("plughost inspect and validate refuse a plugin whose licence is not SPDX, naming the field", () => {
    const dir = copyPlugin("examples/c/hello", (text) => text.replace(/^license = .*$/m, 'license = "Apache 2"'));
    temps.push(dir);
    const cli = path.join(root, "dist/cli/index.js");
    for (const cmd of ["inspect", "validate"]) {
      const r = spawnSync(process.execPath, [cli, cmd, dir], { encoding: "utf8", env: { ...process.env, PLUGHOST_LOG_LEVEL: "warn" } });
      expect(r.status, cmd).not.toBe(0);
      expect(r.stdout + r.stderr, cmd).toContain('/license: "Apache" is not an SPDX license id');
    }
  });
});
