// The guest toolchains as a user gets them: `npm pack` of this repository installed into a fresh project
// (offline, with plughost's optional peer @bytecodealliance/componentize-js, as a JS plugin author installs it),
// then `plughost conformance` building the shipped conformance sources into the build cache on first use, every
// build leaving node_modules/plughost as npm installed it, and a missing toolchain reported as
// E_TOOLCHAIN_MISSING with the command that installs it.
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packPlatform } from "../scripts/pack-platform.mjs";
import { root } from "./helpers/plugins.js";
import { installOffline, packRepository, writeProject } from "./helpers/installed-project.mjs";

let tmp: string;
let project: string;
let buildCache: string;
let env: NodeJS.ProcessEnv;
let installed: Map<string, string>;

function sh(cmd: string, args: string[], cwd: string, options: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 900_000, env, ...options });
  return { status: r.status, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? ""), out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}
const npx = (args: string[], cwd = project, options: SpawnSyncOptions = {}) => sh("npx", ["--no-install", "plughost", ...args], cwd, options);

/** Every file under `dir` (symlinks not followed) with its sha256, or the link's target. */
function snapshot(dir: string, base = dir, out = new Map<string, string>()): Map<string, string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const rel = path.relative(base, p);
    if (e.isDirectory()) snapshot(p, base, out);
    else if (e.isSymbolicLink()) out.set(rel, `link:${realpathSync(p)}`);
    else out.set(rel, createHash("sha256").update(readFileSync(p)).digest("hex"));
  }
  return out;
}

beforeAll(async () => {
  // The package ships dist/: compile it from the sources under test.
  const tsc = spawnSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { cwd: root, encoding: "utf8" });
  if (tsc.status !== 0) throw new Error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`);
  tmp = realpathSync(mkdtempSync(path.join(tmpdir(), "plughost-toolchains-")));
  project = path.join(tmp, "app");
  mkdirSync(project);
  // This machine's per-platform packages (the wasmtime addon), built by the set-up, as a user's install gets them.
  const platformTarballs = (await packPlatform({ out: tmp })).map((p) => p.tarball);
  writeProject(project, packRepository(tmp), { extraPackages: ["@bytecodealliance/componentize-js"], platformTarballs });
  installOffline(project);
  installed = snapshot(path.join(project, "node_modules", "plughost"));
  buildCache = path.join(tmp, "build-cache");
  env = {
    ...process.env,
    PLUGHOST_LOG_LEVEL: "warn",
    GOTOOLCHAIN: "local",
    GOPROXY: "off",
    // Cargo resolves a new plugin's dependencies from the index the set-up cached, without the network.
    CARGO_NET_OFFLINE: "true",
    npm_config_update_notifier: "false",
    // Outside node_modules, and empty: the conformance plugins are built into it on first use.
    PLUGHOST_BUILD_CACHE: buildCache,
    XDG_CACHE_HOME: path.join(tmp, "xdg"),
    // The Rust toolchain the set-up already unpacked (fetching it again is ~20 s and 140 MB per run), its crates
    // and its std build; only the plugin's own crate and the component are new.
    PLUGHOST_TOOLCHAINS: path.join(root, ".cache", "toolchains"),
    PLUGHOST_RUST_TARGET_DIR: path.join(root, ".cache", "rust-target"),
  };
}, 600_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("plughost conformance from the installed package", () => {
  it("--engine v8: the shipped sources of all four languages are built into the build cache and pass every case", () => {
    const r = npx(["conformance", "--engine", "v8", "--json"]);
    expect(r.status, r.out).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; engine: string; languages: string[]; passed: number; failed: number; cases: string[] };
    expect(report).toMatchObject({ ok: true, engine: "v8", languages: ["c", "js", "rust", "go"], failed: 0 });
    expect(report.passed).toBe(report.cases.length * 4);
    for (const lang of ["c", "js", "rust", "go"]) expect(r.stderr).toMatch(new RegExp(`building the ${lang} conformance plugin into ${buildCache}/conformance/`));
    // One directory per language, named after plughost's version and a hash of the sources.
    const built = readdirSync(path.join(buildCache, "conformance")).flatMap((d) => readdirSync(path.join(buildCache, "conformance", d)).map((lang) => ({ d, lang })));
    expect(built.map((b) => b.lang).sort()).toEqual(["c", "go", "js", "rust"]);
    for (const { d, lang } of built) {
      expect(d).toMatch(new RegExp(`^${JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).version}-[0-9a-f]{16}$`));
      expect(statSync(path.join(buildCache, "conformance", d, lang, "plugin.wasm")).size).toBeGreaterThan(10_000);
    }
    // Built once: a second run uses the cached plugins.
    const again = npx(["conformance", "--engine", "v8", "--json", "--language", "c", "--language", "rust", "--case", "init-teardown"]);
    expect(again.status, again.out).toBe(0);
    expect(again.stderr).not.toContain("building the");
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, languages: ["c", "rust"], passed: 2 });
  }, 900_000);

  it("--engine wasmtime (the addon from the platform package): the same plugins from the build cache pass every case", () => {
    const r = npx(["conformance", "--engine", "wasmtime", "--json"]);
    expect(r.status, r.out).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; languages: string[]; passed: number; cases: string[] };
    expect(report).toMatchObject({ ok: true, engine: "wasmtime", languages: ["c", "js", "rust", "go"], failed: 0 });
    expect(report.passed).toBe(report.cases.length * 4);
    expect(r.stderr).not.toContain("building the");
  }, 600_000);

  it("builds of every language leave node_modules/plughost exactly as npm installed it", () => {
    for (const lang of ["c", "js", "go", "rust"]) {
      const made = npx(["new", lang, `p-${lang}`]);
      expect(made.status, made.out).toBe(0);
      const b = npx(["build", "--json"], path.join(project, `p-${lang}`));
      expect(b.status, b.out).toBe(0);
      expect(JSON.parse(b.stdout)).toMatchObject({ built: path.join(project, `p-${lang}`, "plugin.wasm"), language: lang });
    }
    const after = snapshot(path.join(project, "node_modules", "plughost"));
    const changed = [...new Set([...installed.keys(), ...after.keys()])].filter((f) => installed.get(f) !== after.get(f));
    expect(changed).toEqual([]);
    expect(existsSync(path.join(project, "node_modules", "plughost", ".cache"))).toBe(false);
  }, 600_000);
});

describe("a missing toolchain is E_TOOLCHAIN_MISSING with the command that installs it", () => {
  it("JS without the optional peer @bytecodealliance/componentize-js: the npm install command at plughost's version", () => {
    const dir = path.join(project, "js-no-compiler");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "plugin.toml"), 'name = "js-no-compiler"\nversion = "1.0.0"\napi-version = "^0.1.0"\nentry = "plugin.wasm"\n');
    writeFileSync(path.join(dir, "plugin.js"), "export const guest = { init() { return 0; } };\n");
    const pkg = path.join(project, "node_modules", "@bytecodealliance", "componentize-js");
    const aside = path.join(tmp, "componentize-js-aside");
    renameSync(pkg, aside);
    try {
      const r = npx(["build"], dir);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(
        "error E_TOOLCHAIN_MISSING: the JavaScript build needs the npm package @bytecodealliance/componentize-js, which is not installed: npm install --save-dev @bytecodealliance/componentize-js@0.23.0",
      );
      expect(r.stderr).not.toMatch(/\n\s+at /);
      const json = npx(["build", "--json"], dir);
      expect(json.status).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ error: "E_TOOLCHAIN_MISSING", message: expect.stringContaining("npm install --save-dev @bytecodealliance/componentize-js@0.23.0") });
      // conformance reports it per language instead of failing to start (a build cache without the JS plugin).
      const conf = npx(["conformance", "--language", "js", "--case", "init-teardown", "--json"], project, { env: { ...env, PLUGHOST_BUILD_CACHE: path.join(tmp, "cache-without-js") } });
      expect(conf.status).toBe(1);
      const report = JSON.parse(conf.stdout) as { results: { language: string; ok: boolean; error?: string }[] };
      expect(report.results).toEqual([expect.objectContaining({ language: "js", ok: false, error: expect.stringContaining("npm install --save-dev @bytecodealliance/componentize-js@0.23.0") })]);
    } finally {
      renameSync(aside, pkg);
    }
    expect(existsSync(path.join(dir, "plugin.wasm"))).toBe(false);
  }, 120_000);

  it("C without clang: the apt-get command", () => {
    const made = npx(["new", "c", "c-no-clang"]);
    expect(made.status, made.out).toBe(0);
    // No PATH at all: neither clang-16 nor any other clang is found.
    const r = sh(process.execPath, [path.join(project, "node_modules", "plughost", "dist", "cli", "index.js"), "build", "c-no-clang"], project, { env: { ...env, PATH: path.join(tmp, "empty-bin") } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error E_TOOLCHAIN_MISSING: the C build needs clang .* apt-get install clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32/m);
  }, 60_000);
});

describe("the transpiler and wasm-tools are plughost's vendored copies (vendor/jco)", () => {
  it("with componentize-js's binaryen, jco and jco-transpile moved away, the v8 engine transpiles the conformance plugins and a C plugin builds", () => {
    // componentize-js (a JS plugin author's optional peer) brings jco, and jco brings jco-transpile and binaryen;
    // plughost itself must use none of them.
    const moved = ["binaryen", "@bytecodealliance/jco", "@bytecodealliance/jco-transpile"].map((name) => ({ from: path.join(project, "node_modules", name), to: path.join(tmp, `aside-${name.replace("/", "-")}`) }));
    for (const m of moved) expect(existsSync(m.from), m.from).toBe(true);
    for (const m of moved) renameSync(m.from, m.to);
    try {
      // A fresh compile cache, so the v8 engine transpiles instead of reading cached glue.
      const fresh = { env: { ...env, XDG_CACHE_HOME: path.join(tmp, "xdg-vendored-only") } };
      const r = npx(["conformance", "--engine", "v8", "--language", "c", "--language", "rust", "--json"], project, fresh);
      expect(r.status, r.out).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, failed: 0 });
      const made = npx(["new", "c", "c-vendored-only"]);
      expect(made.status, made.out).toBe(0);
      const b = npx(["build"], path.join(project, "c-vendored-only"), fresh);
      expect(b.status, b.out).toBe(0);
    } finally {
      for (const m of moved) renameSync(m.to, m.from);
    }
  }, 300_000);
});

describe("the WASI preview1 reactor adapter plughost ships", () => {
  it("is byte-identical to the one in jco (this repository's node_modules), and is what the installed package has", () => {
    const shipped = readFileSync(path.join(root, "guest-sdks", "adapters", "wasi_snapshot_preview1.reactor.wasm"));
    const jco = readFileSync(path.join(root, "node_modules", "@bytecodealliance", "jco", "lib", "wasi_snapshot_preview1.reactor.wasm"));
    expect(createHash("sha256").update(shipped).digest("hex")).toBe(createHash("sha256").update(jco).digest("hex"));
    expect(readFileSync(path.join(project, "node_modules", "plughost", "guest-sdks", "adapters", "wasi_snapshot_preview1.reactor.wasm")).equals(shipped)).toBe(true);
  });
});
