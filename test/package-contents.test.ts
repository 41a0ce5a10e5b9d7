// What `npm pack` puts in the main package: what the installed library and CLI need (dist, schema, wit, the
// guest SDK sources, the templates), and no test data, build products or caches. package.json's `files` does
// the excluding with negated globs (a root .npmignore cannot take away what `files` lists). A binary meant to
// ship (for example a prebuilt adapter) must be named in INTENDED_BINARIES and re-included in `files`.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { PARTS } from "../scripts/pack-platform.mjs";
import { PREBUILT_PLATFORMS } from "../src/engines/native/shared.js";
import { root } from "./helpers/plugins.js";

interface PackResult {
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

const MAX_TARBALL_BYTES = 2_000_000; // issue 13's goal for the main tarball
/** The WASI preview1 reactor adapter: C and Go builds from the installed package need it (docs/guest-toolchains.md). */
const INTENDED_BINARIES: string[] = ["guest-sdks/adapters/wasi_snapshot_preview1.reactor.wasm"];
/** Test data and build or cache output, wherever it sits in the package. */
const NOT_SHIPPED = [/^test\//, /^npm\//, /^native\//, /(^|\/)testdata\//, /(^|\/)fixtures\//, /_test\.go$/, /\.(wasm|so|node|o|tsbuildinfo)$/, /(^|\/)(target|\.cache|node_modules|out)\//];
/** Test files that are template content: a scaffolded plugin's own tests. */
const TEMPLATE_TESTS = /^templates\/[^/]+\/(test\.mjs|main_test\.go)$/;
/** What the shipped conformance plugins read (`fs:read:testdata` in their manifests): part of `plughost conformance`, not test data. */
const CONFORMANCE_DATA = /^examples\/[^/]+\/conformance\/testdata\/[^/]+$/;

let pack: PackResult;
let shipped: Set<string>;

beforeAll(() => {
  // The package ships dist/: compile it from the sources under test.
  const tsc = spawnSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { cwd: root, encoding: "utf8" });
  if (tsc.status !== 0) throw new Error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`);
  const r = spawnSync("npm", ["pack", "--dry-run", "--json"], { cwd: root, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
  if (r.status !== 0) throw new Error(`npm pack --dry-run failed:\n${r.stdout}${r.stderr}`);
  pack = (JSON.parse(r.stdout) as PackResult[])[0]!;
  shipped = new Set(pack.files.map((f) => f.path));
}, 180_000);

describe("the main package's contents (npm pack --dry-run)", () => {
  it("no test data, fixtures, build products or caches", () => {
    const unwanted = [...shipped].filter((p) => !INTENDED_BINARIES.includes(p) && !TEMPLATE_TESTS.test(p) && !CONFORMANCE_DATA.test(p) && NOT_SHIPPED.some((re) => re.test(p)));
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
    // The vendored transpiler and wasm-tools (vendor/jco/README.md), with jco's licence.
    for (const f of ["index.js", "index.d.ts", "tools.br", "tools.json", "LICENSE"]) expect(shipped).toContain(`vendor/jco/${f}`);
    for (const lang of ["c", "js", "rust", "go"]) {
      expect(shipped).toContain(`templates/${lang}/plugin.toml`);
      expect(shipped).toContain(`guest-sdks/${lang}/build.mjs`);
    }
  });

  it("app interfaces: every interfaces module compiled, the CLI's types/glue/new --world, the app-world helpers the guest builds use", () => {
    const modules = readdirSync(path.join(root, "src", "interfaces")).filter((f) => f.endsWith(".ts")).map((f) => f.slice(0, -3));
    expect(modules).toEqual(expect.arrayContaining(["wit-parser", "wit-load", "provider", "wiring", "canonical-abi", "typescript", "go-glue"]));
    for (const m of modules) for (const ext of [".js", ".d.ts"]) expect(shipped).toContain(`dist/interfaces/${m}${ext}`);
    for (const f of ["dist/cli/types.js", "dist/cli/glue.js", "dist/cli/new-world.js", "dist/engines/v8/app-interfaces.js", "dist/engines/wasmtime/app-interfaces.js"]) {
      expect(shipped).toContain(f);
    }
    // app-world.mjs (world resolution for every SDK's build), wit-bindgen's C generator as sources (built on first
    // use into the build cache, never into the package), and the Go glue's canonical-ABI package.
    for (const f of ["guest-sdks/app-world.mjs", "guest-sdks/c/bindgen/Cargo.toml", "guest-sdks/c/bindgen/Cargo.lock", "guest-sdks/c/bindgen/src/main.rs", "guest-sdks/go/cabi/cabi.go"]) {
      expect(shipped).toContain(f);
    }
    expect([...shipped].filter((f) => f.startsWith("guest-sdks/c/bindgen/")).sort()).toEqual(["guest-sdks/c/bindgen/Cargo.lock", "guest-sdks/c/bindgen/Cargo.toml", "guest-sdks/c/bindgen/src/main.rs"]);
  });

  it("no stale build output: every compiled file in dist/ has its source in src/ (else: rm -rf dist && npm run build)", () => {
    const stale = [...shipped].filter((f) => f.startsWith("dist/") && f.endsWith(".js") && !existsSync(path.join(root, "src", f.slice("dist/".length).replace(/\.js$/, ".ts"))));
    expect(stale).toEqual([]);
  });
});

describe("the per-platform packages (npm/<part>-<platform>/, packed by scripts/pack-platform.mjs)", () => {
  interface PlatformManifest {
    name: string;
    version: string;
    os: string[];
    cpu: string[];
    libc?: string[];
    main: string;
    files: string[];
  }
  const main = () => JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version: string; optionalDependencies?: Record<string, string> };
  const templates = () =>
    readdirSync(path.join(root, "npm")).map((dir) => ({ dir, manifest: JSON.parse(readFileSync(path.join(root, "npm", dir, "package.json"), "utf8")) as PlatformManifest }));

  it("each template is a napi-rs style platform package at plughost's version: os, cpu, libc, files and main", () => {
    expect(templates().length).toBeGreaterThanOrEqual(2);
    for (const { dir, manifest } of templates()) {
      const [part, ...platform] = dir.split("-");
      expect(Object.keys(PARTS), dir).toContain(part);
      expect(manifest.name).toBe(`@plughost/${dir}`);
      expect(manifest.version, dir).toBe(main().version);
      expect(manifest.os).toEqual([platform[0]]);
      expect(manifest.cpu).toEqual([platform[1]]);
      const abi = platform[2];
      if (abi === "gnu" || abi === "musl") expect(manifest.libc).toEqual([abi === "gnu" ? "glibc" : "musl"]);
      expect(manifest.files).toContain(manifest.main);
      expect([...manifest.files].sort()).toEqual(PARTS[part as keyof typeof PARTS].files.map(([, name]) => name).sort());
    }
  });

  it("plughost's optionalDependencies list every template at its own version, and the loaders' prebuilt platforms match", () => {
    const expected = Object.fromEntries(templates().map(({ manifest }) => [manifest.name, main().version]));
    expect(main().optionalDependencies).toEqual(expected);
    for (const part of Object.keys(PARTS)) {
      const platforms = templates().filter(({ dir }) => dir.startsWith(`${part}-`)).map(({ dir }) => dir.slice(part.length + 1));
      expect(platforms.sort(), part).toEqual([...PREBUILT_PLATFORMS].sort());
    }
  });

  it("the repository's lockfile pins them as optional entries with their os/cpu/libc (npm ci skips what is not published or not this platform)", () => {
    const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8")) as { packages: Record<string, Record<string, unknown>> };
    expect(lock.packages[""]?.optionalDependencies).toEqual(main().optionalDependencies);
    for (const { manifest } of templates()) {
      expect(lock.packages[`node_modules/${manifest.name}`], manifest.name).toMatchObject({
        version: manifest.version,
        optional: true,
        os: manifest.os,
        cpu: manifest.cpu,
        ...(manifest.libc ? { libc: manifest.libc } : {}),
      });
    }
  });
});
