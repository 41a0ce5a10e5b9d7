// plughost as a user gets it: `npm pack` of this repository installed into a fresh project (offline, from a
// lockfile that pins the tarball and the dependencies npm's cache holds), then the CLI run through npm's
// bin symlink and npx, and `plughost new` scaffolds checked for absolute paths, built and tested.
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findGo } from "../guest-sdks/go/build.mjs";
import { pluginDir, root } from "./helpers/plugins.js";
import { writeProject } from "./helpers/installed-project.mjs";

const repoPackage = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version: string };
const env = { ...process.env, PLUGHOST_LOG_LEVEL: "warn", GOTOOLCHAIN: "local", GOPROXY: "off", npm_config_update_notifier: "false" };

let tmp: string;
let project: string;

function sh(cmd: string, args: string[], cwd: string, options: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 300_000, env, ...options });
  return { status: r.status, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? ""), out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}
/** The installed command, through npm's symlink in node_modules/.bin. */
const plughost = (args: string[], cwd = project) => sh(path.join(project, "node_modules", ".bin", "plughost"), args, cwd);
const npx = (args: string[], cwd = project) => sh("npx", ["--no-install", "plughost", ...args], cwd);


function files(d: string, base = d): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === "target" ? [] : files(path.join(d, e.name), base)) : [path.relative(base, path.join(d, e.name))],
  );
}

/** A plugin directory in the project: a manifest and an entry copied from `entryFrom` (or given bytes). */
function plugin(name: string, manifest: string, entry: string | Uint8Array, entryName = "plugin.wasm"): string {
  const dir = path.join(project, "plugins", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "plugin.toml"), manifest);
  if (typeof entry === "string") copyFileSync(entry, path.join(dir, entryName));
  else writeFileSync(path.join(dir, entryName), entry);
  return dir;
}

beforeAll(() => {
  // The package ships dist/: compile it from the sources under test.
  const tsc = sh(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], root);
  if (tsc.status !== 0) throw new Error(`tsc failed:\n${tsc.out}`);
  tmp = realpathSync(mkdtempSync(path.join(tmpdir(), "plughost-installed-")));
  const pack = sh("npm", ["pack", "--silent", "--pack-destination", tmp], root);
  if (pack.status !== 0) throw new Error(`npm pack failed:\n${pack.out}`);
  const tarball = path.join(tmp, pack.stdout.trim().split("\n").pop()!);
  project = path.join(tmp, "app");
  mkdirSync(project);
  // componentize-js, the JS route's optional peer dependency, as a user who builds JS plugins installs it.
  writeProject(project, tarball, { extraPackages: ["@bytecodealliance/componentize-js"] });
  const install = sh("npm", ["ci", "--offline", "--no-audit", "--no-fund"], project);
  if (install.status !== 0) throw new Error(`npm ci --offline failed:\n${install.out}`);
}, 600_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("the installed CLI (npm's bin symlink, npx)", () => {
  it("--help and --version print through node_modules/.bin and npx", () => {
    const help = plughost(["--help"]);
    expect(help.status, help.out).toBe(0);
    expect(help.stdout).toMatch(/usage: plughost <command>[\s\S]*commands:[\s\S]*validate/);
    const version = plughost(["--version"]);
    expect(version.status, version.out).toBe(0);
    expect(version.stdout).toContain(`plughost ${repoPackage.version}`);
    const viaNpx = npx(["--version", "--json"]);
    expect(viaNpx.status, viaNpx.out).toBe(0);
    expect(JSON.parse(viaNpx.stdout)).toMatchObject({ version: repoPackage.version });
    // Every command the top-level help lists has a help of its own, through the installed bin.
    const commands = [...help.stdout.split("commands:")[1]!.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]!);
    expect(commands).toEqual(["run", "inspect", "validate", "new", "conformance", "keygen", "sign", "build", "serve", "profile", "types", "glue", "pack", "unpack", "publish", "search", "versions", "trust", "install", "update", "uninstall", "outdated"]);
    for (const command of commands) {
      const sub = plughost([command, "--help"]);
      expect(sub.status, `${command} --help: ${sub.out}`).toBe(0);
      expect(sub.stdout).toContain(`usage: plughost ${command}`);
    }
    const viaNpxHelp = npx(["build", "--help"]);
    expect(viaNpxHelp.status, viaNpxHelp.out).toBe(0);
    expect(viaNpxHelp.stdout).toContain("plughost build");
  }, 60_000);

  it("a global-style install: the command is a symlink in another bin directory, run from an unrelated directory", () => {
    // npm -g links <prefix>/bin/plughost to <prefix>/lib/node_modules/plughost/dist/cli/index.js the same way.
    const bin = path.join(tmp, "global-bin");
    mkdirSync(bin, { recursive: true });
    symlinkSync(path.join(project, "node_modules", "plughost", "dist", "cli", "index.js"), path.join(bin, "plughost"));
    const r = sh("plughost", ["--version"], tmpdir(), { env: { ...env, PATH: `${bin}${path.delimiter}${env.PATH ?? ""}` } });
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toContain(`plughost ${repoPackage.version}`);
  });

  it("--json errors are JSON on stdout (usage errors and plughost errors)", () => {
    const usage = npx(["validate", "--json"]);
    expect(usage.status).toBe(2);
    expect(JSON.parse(usage.stdout)).toMatchObject({ error: "E_USAGE", message: expect.stringContaining("validate needs"), usage: expect.stringContaining("plughost validate") });
    const missing = npx(["run", path.join(project, "nowhere"), "--strict", "--json"]);
    expect(missing.status).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: "E_MANIFEST_INVALID", message: expect.stringContaining("nowhere") });
    const unknown = npx(["frobnicate", "--json"]);
    expect(unknown.status).toBe(2);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ error: "E_USAGE", commands: expect.arrayContaining(["run", "validate"]) });
  }, 60_000);

  describe("validate checks the manifest against its entry", () => {
    const hello = () => path.join(pluginDir("examples/c/hello"), "plugin.wasm");
    const random = () => path.join(pluginDir("test/fixtures/c/random-user"), "plugin.wasm");
    const toml = (name: string, extra = "", api = "^0.1.0") => `name = "${name}"\nversion = "1.0.0"\napi-version = "${api}"\nentry = "plugin.wasm"\n${extra}`;
    const validate = (dir: string) => {
      const r = npx(["validate", dir, "--json"]);
      return { status: r.status, out: r.out, report: JSON.parse(r.stdout) as { valid: boolean; plugin?: string; problems?: { code: string; message: string }[] } };
    };

    it("a good component and a good native library are valid", () => {
      expect(validate(plugin("good", toml("good"), hello())).report.valid).toBe(true);
      expect(validate(plugin("good-random", toml("good-random", 'capabilities = ["random"]\n'), random())).report.valid).toBe(true);
      const so = path.join(root, "examples", "native", "legacy-hello", "legacy-hello.so");
      const native = validate(plugin("good-native", 'name = "good-native"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "lib.so"\n', so, "lib.so"));
      expect(native.report.valid, native.out).toBe(true);
    }, 60_000);

    it("an api-version this host does not satisfy: E_API_VERSION_MISMATCH", () => {
      const r = validate(plugin("future", toml("future", "", "^2.0.0"), hello()));
      expect(r.status).toBe(1);
      expect(r.report).toMatchObject({ valid: false, plugin: "future" });
      expect(r.report.problems).toContainEqual({ code: "E_API_VERSION_MISMATCH", message: expect.stringContaining("^2.0.0") });
    }, 60_000);

    it("a garbage .wasm, and a native entry without the C ABI: E_INVALID_BINARY", () => {
      const garbage = validate(plugin("garbage", toml("garbage"), new TextEncoder().encode("this is not wasm at all")));
      expect(garbage.status).toBe(1);
      expect(garbage.report.problems).toContainEqual({ code: "E_INVALID_BINARY", message: expect.stringContaining("plugin.wasm") });
      const fakeSo = validate(plugin("fake-native", 'name = "fake-native"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "lib.so"\n', new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 0]), "lib.so"));
      expect(fakeSo.status).toBe(1);
      expect(fakeSo.report.problems).toContainEqual({ code: "E_INVALID_BINARY", message: expect.stringMatching(/does not export plugin_init and plugin_teardown/) });
    }, 60_000);

    it("a core module, and a component of another world: E_INVALID_BINARY naming the plughost world", async () => {
      const { parse, componentEmbed, componentNew } = await import("@bytecodealliance/jco-transpile/wasm-tools");
      const core = await parse('(module (func (export "run") (result i32) i32.const 1) (memory (export "memory") 1))');
      const coreOnly = validate(plugin("core-only", toml("core-only"), core));
      expect(coreOnly.status).toBe(1);
      expect(coreOnly.report.problems).toContainEqual({ code: "E_INVALID_BINARY", message: expect.stringContaining("not a component") });
      const witSource = "package test:other@1.0.0;\nworld other {\n  export run: func() -> s32;\n}\n";
      const other = await componentNew(await componentEmbed({ binary: core, witSource, world: "other" }));
      const r = validate(plugin("other-world", toml("other-world"), other));
      expect(r.status).toBe(1);
      expect(r.report.problems).toContainEqual({ code: "E_INVALID_BINARY", message: expect.stringMatching(/another world[\s\S]*plughost:plugin\/guest/) });
    }, 60_000);

    it("an entry over the entry size cap is refused before it is read (validate and inspect), in bounded time", () => {
      const dir = plugin("huge", toml("huge"), new Uint8Array(0));
      truncateSync(path.join(dir, "plugin.wasm"), 300 * 1024 * 1024); // sparse: no disk, no memory
      const started = Date.now();
      const r = validate(dir);
      expect(r.status).toBe(1);
      expect(r.report.problems).toContainEqual({ code: "E_INVALID_BINARY", message: expect.stringMatching(/more than the 268435456-byte cap/) });
      const inspect = npx(["inspect", path.join(dir, "plugin.wasm"), "--json"]);
      expect(inspect.status).toBe(1);
      expect(JSON.parse(inspect.stdout)).toMatchObject({ error: "E_INVALID_BINARY", message: expect.stringMatching(/byte cap/) });
      expect(Date.now() - started).toBeLessThan(20_000);
    }, 60_000);

    it("imports the declared capabilities do not cover: E_MISSING_IMPORT naming the interface and the capability", () => {
      const r = validate(plugin("undeclared", toml("undeclared"), random()));
      expect(r.status).toBe(1);
      expect(r.report.problems).toContainEqual({ code: "E_MISSING_IMPORT", message: expect.stringMatching(/wasi:random\/[\s\S]*declare random/) });
    }, 60_000);
  });

  describe("run with several plugins", () => {
    const hello = () => path.join(pluginDir("examples/c/hello"), "plugin.wasm");
    const greet = (dir: string) => `name = "${dir}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nentry = "plugin.wasm"\n`;

    it("reports the plugin that fails to load and runs the others; --strict stops at it", () => {
      const good = plugin("run-good", greet("run-good"), hello());
      const bad = plugin("run-bad", greet("run-bad"), new TextEncoder().encode("garbage"));
      const r = npx(["run", bad, good, "--event", "greet=world", "--json"]);
      expect(r.status, r.out).toBe(1);
      const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toContainEqual(expect.objectContaining({ loadFailed: path.join(bad, "plugin.toml"), error: "E_INVALID_BINARY" }));
      expect(lines).toContainEqual({ event: "greet", plugin: "run-good", status: 0 });
      const strict = npx(["run", bad, good, "--event", "greet=world", "--json", "--strict"]);
      expect(strict.status).toBe(1);
      expect(strict.stdout).not.toContain('"event":"greet"');
      expect(JSON.parse(strict.stdout.trim().split("\n").pop()!)).toMatchObject({ error: "E_INVALID_BINARY", plugin: "run-bad" });
    }, 60_000);

    it("on the wasmtime engine too (the installed CLI; this project has no platform package, so PLUGHOST_WASMTIME_ADDON names the repository's build: test/package-native.test.ts installs the package)", () => {
      const good = plugin("wt-good", greet("wt-good"), hello());
      const bad = plugin("wt-bad", greet("wt-bad"), new TextEncoder().encode("garbage"));
      const addon = path.join(root, "native", "wasmtime", "plughost-wasmtime.node");
      const r = sh("npx", ["--no-install", "plughost", "run", bad, good, "--engine", "wasmtime", "--event", "greet=world", "--json"], project, { env: { ...env, PLUGHOST_WASMTIME_ADDON: addon } });
      expect(r.status, r.out).toBe(1);
      const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toContainEqual(expect.objectContaining({ loadFailed: path.join(bad, "plugin.toml"), error: "E_INVALID_BINARY" }));
      expect(lines).toContainEqual({ event: "greet", plugin: "wt-good", status: 0 });
    }, 60_000);

    it("a capability error says how to grant it: --grant and the config file's grants", () => {
      const random = path.join(pluginDir("test/fixtures/c/random-user"), "plugin.wasm");
      const needy = plugin("run-needy", `${greet("run-needy")}capabilities = ["random"]\n`, random);
      const good = plugin("run-good2", greet("run-good2"), hello());
      const r = npx(["run", needy, good, "--event", "greet=x"]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/E_CAPABILITY_DENIED[\s\S]*--grant "random"[\s\S]*"grants": \["random"\] in plughost\.config\.json/);
      expect(r.stdout).toContain("greet -> run-good2: status 0");
      const granted = npx(["run", needy, "--grant", "random", "--json"]);
      expect(granted.status, granted.out).toBe(0);
      expect(granted.stdout).toContain('"loaded":"run-needy"');
    }, 60_000);
  });

  it("build with no argument outside a plugin is a usage error, not a crash", () => {
    const empty = path.join(project, "not-a-plugin");
    mkdirSync(empty, { recursive: true });
    writeFileSync(path.join(empty, "vite.config.ts"), "export default {};\n");
    const r = npx(["build"], empty);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is not a plugin directory[\s\S]*usage: plughost build/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  }, 60_000);

  it("a JS plugin's syntax error names the file, line and column", () => {
    const dir = path.join(project, "plugins", "broken-js");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "plugin.toml"), 'name = "broken-js"\nversion = "1.0.0"\napi-version = "^0.1.0"\nentry = "plugin.wasm"\n');
    writeFileSync(path.join(dir, "plugin.js"), 'export const guest = {\n  init() {\n    return 0 +;\n  },\n};\n');
    // The repository's build (the JS compiler is not a dependency of the installed package yet).
    const r = sh(process.execPath, [path.join(root, "dist", "cli", "index.js"), "build", dir], project);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${path.join(dir, "plugin.js")}:3:15: Expression expected.`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});

describe("plughost new: scaffolds that can be committed", () => {
  const absolute = () => [root, realpathSync(root), tmp];
  const scaffold = (lang: string, name: string) => {
    const r = plughost(["new", lang, name]);
    expect(r.status, r.out).toBe(0);
    const dir = path.join(project, name);
    for (const f of files(dir)) {
      const text = readFileSync(path.join(dir, f), "utf8");
      for (const abs of absolute()) expect(text, `${name}/${f}`).not.toContain(abs);
      expect(text, `${name}/${f}`).not.toMatch(/\{\{\w+\}\}|file:\/\//);
    }
    return dir;
  };

  it("c: no absolute path; builds with the installed plughost and passes its own test", () => {
    const dir = scaffold("c", "c-plugin");
    const b = plughost(["build"], dir);
    expect(b.status, b.out).toBe(0);
    const t = sh(process.execPath, ["test.mjs"], dir);
    expect(t.status, t.out).toBe(0);
    expect(t.stdout).toContain("1 passed, 0 failed");
  }, 120_000);

  it("js: no absolute path; npm run typecheck works and fails on a type error; builds and passes its own test", () => {
    const dir = scaffold("js", "js-plugin");
    expect(JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")).devDependencies).toMatchObject({ plughost: `^${repoPackage.version}`, typescript: expect.any(String) });
    const tc = sh("npm", ["run", "--silent", "typecheck"], dir);
    expect(tc.status, tc.out).toBe(0);
    writeFileSync(path.join(dir, "broken.ts"), 'import { text } from "@plughost/guest";\nexport const n: number = text(new Uint8Array());\n');
    writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ extends: "plughost/tsconfig.guest.json", files: ["plugin.ts", "broken.ts"] }));
    const bad = sh("npm", ["run", "--silent", "typecheck"], dir);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/broken\.ts\(2,14\): error TS2322/);
    rmSync(path.join(dir, "broken.ts"));
    // The installed build, with componentize-js installed beside plughost in the project.
    const b = plughost(["build"], dir);
    expect(b.status, b.out).toBe(0);
    expect(readdirSync(path.join(project, "node_modules", "plughost"))).not.toContain(".cache");
    const t = sh("npm", ["test"], dir);
    expect(t.status, t.out).toBe(0);
    expect(t.out).toMatch(/# pass 1\b/);
  }, 300_000);

  it("rust: no absolute path (the crate by a path into node_modules/plughost); cargo test runs real tests", () => {
    const dir = scaffold("rust", "rust-plugin");
    expect(readFileSync(path.join(dir, "Cargo.toml"), "utf8")).toContain('plughost = { path = "../node_modules/plughost/guest-sdks/rust" }');
    // A target directory kept between runs (the plugin's own would be rebuilt from nothing each time), and the
    // registry cache the set-up filled for the SDK's crates (offline; ~/.cargo need not hold them).
    const cargoEnv = { CARGO_TARGET_DIR: path.join(root, ".cache", "rust-host-target"), CARGO_HOME: path.join(root, ".cache", "toolchains", "cargo-home") };
    const t = sh("cargo", ["test", "--offline"], dir, { env: { ...env, ...cargoEnv } });
    expect(t.status, t.out).toBe(0);
    expect(t.out).toMatch(/test result: ok\. 2 passed; 0 failed/);
    // The installed build, with the toolchain the set-up unpacked (a user's first build fetches it into
    // ~/.cache/plughost/build); the relative path builds and nothing is written into the package.
    const b = sh(path.join(project, "node_modules", ".bin", "plughost"), ["build", dir], project, {
      env: { ...env, CARGO_NET_OFFLINE: "true", PLUGHOST_TOOLCHAINS: path.join(root, ".cache", "toolchains"), PLUGHOST_RUST_TARGET_DIR: path.join(root, ".cache", "rust-target") },
    });
    expect(b.status, b.out).toBe(0);
    expect(readdirSync(path.join(project, "node_modules", "plughost"))).not.toContain(".cache");
    const run = sh(process.execPath, ["test.mjs"], dir);
    expect(run.status, run.out).toBe(0);
  }, 600_000);

  it("go: no absolute path (the SDK by a path into node_modules/plughost); go test passes; the build's workspace is temporary", () => {
    const dir = scaffold("go", "go-plugin");
    const before = readFileSync(path.join(dir, "go.work"), "utf8");
    expect(before).toContain("../node_modules/plughost/guest-sdks/go");
    const t = sh(findGo(), ["test", "./..."], dir);
    expect(t.status, t.out).toBe(0);
    const b = plughost(["build", dir]);
    expect(b.status, b.out).toBe(0);
    expect(readFileSync(path.join(dir, "go.work"), "utf8")).toBe(before);
    expect(readFileSync(path.join(dir, "go.mod"), "utf8")).not.toMatch(/replace|\//);
    expect(statSync(path.join(dir, "plugin.wasm")).size).toBeGreaterThan(1000);
    const run = sh(process.execPath, ["test.mjs"], dir);
    expect(run.status, run.out).toBe(0);
  }, 600_000);
});
