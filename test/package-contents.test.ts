// What `npm pack` puts in the main package: what the installed library and CLI need (dist, schema, wit, the
// guest SDK sources, the templates), and no test data, build products or caches. package.json's `files` does
// the excluding with negated globs (a root .npmignore cannot take away what `files` lists). A binary meant to
// ship (for example a prebuilt adapter) must be named in INTENDED_BINARIES and re-included in `files`.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { root } from "./helpers/plugins.js";

interface PackResult {
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

const MAX_TARBALL_BYTES = 2_000_000; // issue 13's goal for the main tarball
const INTENDED_BINARIES: string[] = [];
/** Test data and build or cache output, wherever it sits in the package. */
const NOT_SHIPPED = [/^test\//, /(^|\/)testdata\//, /(^|\/)fixtures\//, /_test\.go$/, /\.(wasm|so|node|o|tsbuildinfo)$/, /(^|\/)(target|\.cache|node_modules|out)\//];
/** Test files that are template content: a scaffolded plugin's own tests. */
const TEMPLATE_TESTS = /^templates\/[^/]+\/(test\.mjs|main_test\.go)$/;

let pack: PackResult;
let shipped: Set<string>;

beforeAll(() => {
  // The package ships dist/: compile it from the sources under test.
  const tsc = spawnSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { cwd: root, encoding: "utf8" });
  if (tsc.status !== 0) throw new Error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`);
  const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
  if (r.status !== 0) throw new Error(`npm pack --dry-run failed:\n${r.stdout}${r.stderr}`);
  pack = (JSON.parse(r.stdout) as PackResult[])[0]!;
  shipped = new Set(pack.files.map((f) => f.path));
}, 180_000);

describe("the main package's contents (npm pack --dry-run)", () => {
  it("no test data, fixtures, build products or caches", () => {
    const unwanted = [...shipped].filter((p) => !INTENDED_BINARIES.includes(p) && !TEMPLATE_TESTS.test(p) && NOT_SHIPPED.some((re) => re.test(p)));
    expect(unwanted).toEqual([]);
  });

  it(`the tarball is at most ${MAX_TARBALL_BYTES} bytes`, () => {
    const largest = [...pack.files].sort((a, b) => b.size - a.size).slice(0, 5).map((f) => `${f.path} ${f.size}`);
    expect(pack.size, `tarball ${pack.size} bytes, unpacked ${pack.unpackedSize}; largest: ${largest.join(", ")}`).toBeLessThanOrEqual(MAX_TARBALL_BYTES);
  });

  it("everything the installed library and CLI use is there", () => {
    const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { main: string; types: string; bin: Record<string, string>; exports: Record<string, string | Record<string, string>> };
    const targets = [pkg.main, pkg.types, ...Object.values(pkg.bin), ...Object.values(pkg.exports).flatMap((e) => (typeof e === "string" ? [e] : Object.values(e)))];
    for (const t of targets) expect(shipped, t).toContain(path.posix.normalize(t));
    // Every tracked source of the SDKs, templates, WIT and schemas, less the test data excluded above.
    const tracked = spawnSync("git", ["ls-files", "guest-sdks", "templates", "wit", "schema"], { cwd: root, encoding: "utf8" }).stdout.trim().split("\n");
    expect(tracked.length).toBeGreaterThan(40);
    const missing = tracked.filter((p) => !shipped.has(p) && (TEMPLATE_TESTS.test(p) || !NOT_SHIPPED.some((re) => re.test(p))));
    expect(missing).toEqual([]);
    for (const lang of ["c", "js", "rust", "go"]) {
      expect(shipped).toContain(`templates/${lang}/plugin.toml`);
      expect(shipped).toContain(`guest-sdks/${lang}/build.mjs`);
    }
  });
});
