// The native parts as a user gets them: the main package and this platform's per-platform packages
// (scripts/pack-platform.mjs) installed into a fresh project in a 0700 temporary directory by `npm ci --offline`
// with no network at all, then the wasmtime engine, the CLI on it, a trusted and a sandboxed native plugin (as
// root and as an ordinary user), the error when a platform package is missing, a strict TypeScript app, and app
// interfaces (WIT) on both engines.
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packPlatform } from "../scripts/pack-platform.mjs";
import { currentPlatform } from "../src/engines/native/shared.js";
import { packRepository, writeProject } from "./helpers/installed-project.mjs";
import { root } from "./helpers/plugins.js";

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const env = { ...process.env, PLUGHOST_LOG_LEVEL: "warn", npm_config_update_notifier: "false" };
// The project must find the native parts in its own node_modules, not through the repository's overrides.
for (const v of ["PLUGHOST_WASMTIME_ADDON", "PLUGHOST_NATIVE_ADDON", "PLUGHOST_SANDBOX_HELPER"]) delete env[v];

const platform = currentPlatform();
const wasmtimePackage = `@plughost/wasmtime-${platform.id}`;
const nativePackage = `@plughost/native-${platform.id}`;

let tmp: string;
let project: string;
let mainTarball: string;
let platformTarballs: { name: string; tarball: string; size: number; unpackedSize: number }[];

function sh(cmd: string, args: string[], cwd = project, options: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 300_000, env, ...options });
  return { status: r.status, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? ""), out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** Runs `source` as an ES module of the project (so `plughost` resolves to the installed package); returns its last stdout line as JSON. */
function runApp<T>(name: string, source: string, options: SpawnSyncOptions = {}, args: string[] = []): T {
  const file = path.join(project, name);
  writeFileSync(file, source, { mode: 0o644 });
  const r = sh(process.execPath, [file, ...args], project, options);
  expect(r.status, r.out).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as T;
}

function plugin(name: string, manifest: string, from: string, entry: string): string {
  const dir = path.join(project, "plugins", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "plugin.toml"), manifest, { mode: 0o644 });
  copyFileSync(from, path.join(dir, entry));
  chmodSync(path.join(dir, entry), 0o644);
  return dir;
}

function needsRoot(): void {
  expect(isRoot, "this case cuts the network (unshare --net) or drops to uid nobody, which needs root (CI and these machines run as root)").toBe(true);
}

beforeAll(async () => {
  // The package ships dist/: compile it from the sources under test.
  const tsc = sh(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], root);
  if (tsc.status !== 0) throw new Error(`tsc failed:\n${tsc.out}`);
  tmp = realpathSync(mkdtempSync(path.join(tmpdir(), "plughost-package-native-"))); // 0700, as a CI checkout's temp dir
  mainTarball = packRepository(tmp);
  platformTarballs = await packPlatform({ out: tmp });
  project = path.join(tmp, "app");
  mkdirSync(project);
  writeProject(project, mainTarball, { platformTarballs: platformTarballs.map((p) => p.tarball), extraPackages: ["@types/node"] });
  // No network at all: a network namespace of its own (the lockfile pins everything; npm's cache holds it).
  const install = sh("unshare", ["--net", "npm", "ci", "--offline", "--no-audit", "--no-fund"]);
  if (install.status !== 0) throw new Error(`npm ci --offline without a network failed:\n${install.out}`);
  plugin("bench", 'name = "bench"\nversion = "1.0.0"\napi-version = "^0.1.0"\nentry = "plugin.wasm"\n', path.join(root, "test", "fixtures", "c", "bench", "plugin.wasm"), "plugin.wasm");
  const basic = path.join(root, "test", "fixtures", "native", "build", "basic.so");
  for (const trust of ["trusted", "untrusted"]) {
    plugin(`native-${trust}`, `name = "native-${trust}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "basic.so"\ntrust = "${trust}"\n`, basic, "basic.so");
  }
  // The test application's WIT and a Rust plugin built against it (app interfaces, below).
  mkdirSync(path.join(project, "wit"));
  copyFileSync(path.join(root, "test", "fixtures", "wit", "acme-app", "app.wit"), path.join(project, "wit", "app.wit"));
  const mirror = path.join(root, "test", "fixtures", "iface", "rust-mirror");
  plugin("rust-mirror", readFileSync(path.join(mirror, "plugin.toml"), "utf8"), path.join(mirror, "plugin.wasm"), "plugin.wasm");
}, 600_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A strict TypeScript app typed by `plughost types` (ts-app/generated/app.ts): provides calc and kinds, calls the Rust mirror on wasmtime. */
const IFACE_TS_APP = `import { InterfaceValueError, PluginRegistry, type InterfaceImplementation, type WitPackage } from "plughost";
import type { CalcImplementation, Item, KindsImplementation, MirrorExports } from "./generated/app.js";

const registry = new PluginRegistry({ engine: "wasmtime", cacheDir: false, grants: { "*": ["iface:acme:app/*"] } });
const packages: WitPackage[] = registry.defineInterfaces("../wit");
const calc: CalcImplementation = { add: (a, b) => (a + b) >>> 0 };
const same = <T>(v: T): T => v;
const kinds: KindsImplementation = {
  echoScalars: same, echoString: same, echoBytes: same, echoItem: same, echoItems: same, echoShape: same,
  echoColor: same, echoPerms: same, echoMaybe: same, echoOutcome: same, echoPair: same,
  manyArgs: (a, b) => BigInt(a) + b,
};
const plain: InterfaceImplementation = { add: (a: number, b: number) => a + b };
registry.provide("acme:app/calc@1.0.0", calc);
registry.provide("acme:app/kinds@1.0.0", kinds);
const handle = await registry.load("../plugins/rust-mirror");
const mirror: Pick<MirrorExports, "echoItem" | "addLoop"> = {
  echoItem: (v) => handle.call("acme:app/mirror", "echoItem", v) as Promise<Item>,
  addLoop: (n) => handle.call("acme:app/mirror", "addLoop", n) as Promise<bigint>,
};
const back: Item = await mirror.echoItem({ id: 2n ** 64n - 1n, name: "tš", tags: ["x", ""], weight: -0.5 });
const sum: bigint = await mirror.addLoop(4);
let code = "";
try {
  await handle.call("acme:app/mirror", "echoItem", { id: 1, name: "n", tags: [], weight: 0 });
} catch (err) {
  if (err instanceof InterfaceValueError) code = \`\${err.code} \${err.side} \${err.path}\`;
}
await registry.unloadAll();
console.log(JSON.stringify({ packages: packages.map((p) => p.name), back: { ...back, id: String(back.id) }, sum: String(sum), code, plain: Object.keys(plain) }));
`;

describe("the per-platform packages", () => {
  it("install as plughost's optional dependencies, with os/cpu/libc, the helper executable, and nothing native in the main tarball", () => {
    expect(platformTarballs.map((p) => p.name).sort()).toEqual([nativePackage, wasmtimePackage].sort());
    const installed = (name: string) => path.join(project, "node_modules", name);
    for (const name of [wasmtimePackage, nativePackage]) {
      const meta = JSON.parse(readFileSync(path.join(installed(name), "package.json"), "utf8")) as Record<string, unknown>;
      expect(meta).toMatchObject({ version: JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).version, os: [platform.os], cpu: [platform.cpu] });
      expect(meta.libc).toEqual([platform.libc]);
      expect(statSync(path.join(installed(name), String(meta.main))).isFile()).toBe(true);
    }
    const plughostMeta = JSON.parse(readFileSync(path.join(installed("plughost"), "package.json"), "utf8")) as { optionalDependencies: Record<string, string> };
    expect(Object.keys(plughostMeta.optionalDependencies)).toEqual(expect.arrayContaining([wasmtimePackage, nativePackage]));
    const helper = statSync(path.join(installed(nativePackage), "plughost-sandbox-helper"));
    expect(helper.mode & 0o777).toBe(0o755);
    const listing = sh("tar", ["-tzf", mainTarball]).stdout.split("\n");
    expect(listing.filter((f) => /\.(node|so)$|sandbox-helper/.test(f))).toEqual([]);
  });
});

describe("from the installed package", () => {
  const wasmtimeApp = `
import { readFileSync } from "node:fs";
import { PluginRegistry } from "plughost";
const registry = new PluginRegistry({ engine: "wasmtime", cacheDir: false });
const bench = await registry.load("plugins/bench");
const status = await bench.invoke("status", new Uint8Array([1, 2, 3, 250]));
const mapped = readFileSync("/proc/self/maps", "utf8").split("\\n").map((l) => l.split(/\\s+/)[5]).filter((f) => f && f.endsWith(".node"));
await registry.unloadAll();
console.log(JSON.stringify({ status, mapped: [...new Set(mapped)] }));
`;

  it('new PluginRegistry({ engine: "wasmtime" }) loads a real component and calls it, with the addon from the platform package', () => {
    const r = runApp<{ status: number; mapped: string[] }>("wasmtime-app.mjs", wasmtimeApp);
    expect(r.status).toBe(256);
    expect(r.mapped).toEqual([path.join(project, "node_modules", wasmtimePackage, "plughost-wasmtime.node")]);
  }, 60_000);

  const v8App = `
import { readdirSync } from "node:fs";
import { PluginRegistry } from "plughost";
// A private, empty compile cache: the component is transpiled here, by the vendored transpiler.
const registry = new PluginRegistry({ cacheDir: process.env.APP_CACHE });
const bench = await registry.load("plugins/bench");
const status = await bench.invoke("status", new Uint8Array([1, 2, 3, 250]));
await registry.unloadAll();
console.log(JSON.stringify({ status, cached: readdirSync(process.env.APP_CACHE, { recursive: true }).length > 0 }));
`;

  it("a user of the v8 engine installs neither binaryen, oxc-minify, preview3-shim nor jco-transpile, and components still transpile", () => {
    for (const name of ["binaryen", "oxc-minify", "@bytecodealliance/jco-transpile", "@bytecodealliance/preview3-shim"]) {
      expect(existsSync(path.join(project, "node_modules", name)), name).toBe(false);
    }
    const cache = mkdtempSync(path.join(tmp, "v8-cache-"));
    const r = runApp<{ status: number; cached: boolean }>("v8-app.mjs", v8App, { env: { ...env, APP_CACHE: cache } });
    expect(r).toEqual({ status: 256, cached: true });
  }, 60_000);

  it("npx plughost run --engine wasmtime <plugin> answers its event", () => {
    const r = sh("npx", ["--no-install", "plughost", "run", path.join(project, "plugins", "bench"), "--engine", "wasmtime", "--event", "status=abc", "--json"]);
    expect(r.status, r.out).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual({ event: "status", plugin: "bench", status: 97 + 98 + 99 });
  }, 60_000);

  const nativeApp = `
import { readdirSync, readFileSync } from "node:fs";
import { PluginRegistry } from "plughost";
/** The executables of this process's children (from /proc: no ps on a minimal machine). */
const children = () => readdirSync("/proc").filter((d) => /^\\d+$/.test(d)).flatMap((pid) => {
  try {
    const stat = readFileSync(\`/proc/\${pid}/stat\`, "utf8");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return ppid === process.pid ? [readFileSync(\`/proc/\${pid}/cmdline\`, "utf8").split("\\0")[0]] : [];
  } catch {
    return []; // gone meanwhile
  }
});
const registry = new PluginRegistry({ trustedNative: ["native-trusted"] });
const trusted = await registry.load("plugins/native-trusted");
const sandboxed = await registry.load("plugins/native-untrusted");
const sums = [await trusted.invoke("sum", new Uint8Array([1, 2, 3])), await sandboxed.invoke("sum", new Uint8Array([4, 5]))];
const upper = await registry.hook("native-untrusted", "upper", new TextEncoder().encode("abc"));
const helpers = children();
const mapped = readFileSync("/proc/self/maps", "utf8").split("\\n").map((l) => l.split(/\\s+/)[5]).filter((f) => f && f.endsWith(".node"));
await registry.unloadAll();
console.log(JSON.stringify({ uid: process.getuid(), sums, upper: upper.ok ? new TextDecoder().decode(upper.data) : upper, helpers, mapped: [...new Set(mapped)] }));
`;
  const expectNative = (r: { uid: number; sums: number[]; upper: unknown; helpers: string[]; mapped: string[] }, uid: number) => {
    expect(r.uid).toBe(uid);
    expect(r.sums).toEqual([6, 9]);
    expect(r.upper).toBe("ABC");
    // the trusted plugin ran in process through the packaged adapter, the untrusted one in the packaged helper
    expect(r.mapped).toEqual([path.join(project, "node_modules", nativePackage, "plughost_native.node")]);
    expect(r.helpers).toEqual([path.join(project, "node_modules", nativePackage, "plughost-sandbox-helper")]);
  };

  it("a trusted (in-process) and an untrusted (sandbox helper) native plugin load and answer, as root in a 0700 directory", () => {
    expect((statSync(tmp).mode & 0o777).toString(8)).toBe("700");
    expectNative(runApp("native-app.mjs", nativeApp), process.getuid!());
  }, 60_000);

  it("the same as an ordinary user (uid nobody), the helper run from the installed package", () => {
    needsRoot();
    const home = path.join(tmp, "home-nobody");
    mkdirSync(home, { recursive: true });
    chmodSync(home, 0o700);
    chownSync(home, NOBODY, NOBODY);
    chmodSync(tmp, 0o755); // that user must reach the project (a CI checkout's temp dir is root's alone)
    try {
      writeFileSync(path.join(project, "native-app.mjs"), nativeApp, { mode: 0o644 });
      const r = sh("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, "native-app.mjs"], project, { env: { ...env, HOME: home } });
      expect(r.status, r.out).toBe(0);
      expectNative(JSON.parse(r.stdout.trim().split("\n").pop()!), NOBODY);
    } finally {
      chmodSync(tmp, 0o700);
    }
  }, 60_000);

  it("without the platform package: E_ENGINE_UNAVAILABLE names the platform, the package and the build-from-source route", () => {
    const pkgDir = path.join(project, "node_modules", wasmtimePackage);
    const aside = path.join(tmp, "aside");
    renameSync(pkgDir, aside);
    try {
      const r = runApp<{ code: string; message: string }>(
        "missing-app.mjs",
        `import { PluginRegistry } from "plughost";
try { await new PluginRegistry({ engine: "wasmtime" }).load("plugins/bench"); console.log(JSON.stringify({ code: "none" })); }
catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`,
      );
      expect(r.code).toBe("E_ENGINE_UNAVAILABLE");
      expect(r.message).toContain(`(${platform.os} ${platform.cpu} ${platform.libc})`);
      expect(r.message).toContain(`npm install ${wasmtimePackage}@`);
      expect(r.message).toContain("node scripts/setup.mjs wasmtime");
      expect(r.message).toContain("PLUGHOST_WASMTIME_ADDON=");
      // The override comes first: a wrong one is named, not silently skipped.
      const wrong = runApp<{ code: string; message: string }>("missing-app.mjs", readFileSync(path.join(project, "missing-app.mjs"), "utf8"), {
        env: { ...env, PLUGHOST_WASMTIME_ADDON: path.join(tmp, "nowhere.node") },
      });
      expect(wrong).toMatchObject({ code: "E_ENGINE_UNAVAILABLE", message: expect.stringContaining(`PLUGHOST_WASMTIME_ADDON names ${path.join(tmp, "nowhere.node")}`) });
    } finally {
      renameSync(aside, pkgDir);
    }
  }, 60_000);

  it("without the native platform package: trusted and sandboxed native plugins fail with E_ENGINE_UNAVAILABLE, not a crash", () => {
    const pkgDir = path.join(project, "node_modules", nativePackage);
    const aside = path.join(tmp, "aside-native");
    renameSync(pkgDir, aside);
    try {
      const r = runApp<{ codes: string[] }>(
        "missing-native.mjs",
        `import { PluginRegistry } from "plughost";
const registry = new PluginRegistry({ trustedNative: ["native-trusted"] });
const codes = [];
for (const dir of ["plugins/native-trusted", "plugins/native-untrusted"]) {
  try { await registry.load(dir); codes.push("loaded"); } catch (e) { codes.push(e.code); }
}
console.log(JSON.stringify({ codes }));`,
      );
      expect(r.codes).toEqual(["E_ENGINE_UNAVAILABLE", "E_ENGINE_UNAVAILABLE"]);
    } finally {
      renameSync(aside, pkgDir);
    }
  }, 60_000);

  it("a strict TypeScript app that imports the public API type-checks (tsc --strict --noEmit) and runs; so does one typed by plughost types", () => {
    const app = path.join(project, "ts-app");
    mkdirSync(app, { recursive: true });
    // App interfaces: declarations generated from the app's WIT type the implementations (one tsc run for both apps).
    const gen = sh("npx", ["--no-install", "plughost", "types", "../wit", "acme:app/calc", "acme:app/kinds", "acme:app/mirror", "--out", "generated/app.ts"], app);
    expect(gen.status, gen.out).toBe(0);
    writeFileSync(path.join(app, "iface.ts"), IFACE_TS_APP);
    writeFileSync(
      path.join(app, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, types: ["node"], outDir: "out" }, files: ["main.ts", "iface.ts"] }),
    );
    writeFileSync(path.join(app, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(
      path.join(app, "main.ts"),
      `import { PluginRegistry, PlughostError, type HookOutcome, type PluginHandle, type RegistryOptions, type Violation } from "plughost";

const options: RegistryOptions = { engine: "wasmtime", cacheDir: false, trustedNative: ["native-trusted"] };
const registry = new PluginRegistry(options);
const violations: Violation[] = [];
registry.on("violation", (v: Violation) => violations.push(v));
const handles: PluginHandle[] = await registry.loadAll(["../plugins/bench", "../plugins/native-trusted"]);
const status: number = await handles[0]!.invoke("status", new Uint8Array([7, 8]));
const hooked: HookOutcome = await registry.hook("native-trusted", "upper", new TextEncoder().encode("ts"));
let code = "";
try {
  await registry.invoke("bench", "no-such-event");
} catch (err) {
  if (err instanceof PlughostError) code = err.code;
}
await registry.unloadAll();
console.log(JSON.stringify({ names: handles.map((h) => h.name), status, hooked: hooked.ok ? new TextDecoder().decode(hooked.data) : null, code, violations: violations.length }));
`,
    );
    const tsc = path.join(project, "node_modules", "typescript", "bin", "tsc");
    const check = sh(process.execPath, [tsc, "--strict", "--noEmit", "-p", "."], app);
    expect(check.status, check.out).toBe(0);
    // strictness is real: a wrong type is refused
    // (and an implementation returning the wrong type, or a provided member that is not a function)
    writeFileSync(
      path.join(app, "bad.ts"),
      'import { PluginRegistry } from "plughost";\nexport const n: number = new PluginRegistry().load("x");\n' +
        'import type { CalcImplementation } from "./generated/app.js";\nexport const calc: CalcImplementation = { add: (a, b) => String(a + b) };\n' +
        'new PluginRegistry().provide("acme:app/calc@1.0.0", { add: 1 });\n',
    );
    const bad = sh(process.execPath, [tsc, "--strict", "--noEmit", "--module", "NodeNext", "--moduleResolution", "NodeNext", "--types", "node", "bad.ts"], app);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/bad\.ts\(2,14\): error TS2322/);
    expect(bad.out).toMatch(/bad\.ts\(4,\d+\): error TS2322: Type 'string' is not assignable to type 'number \| Promise<number>'/);
    expect(bad.out).toMatch(/bad\.ts\(5,\d+\): error TS2322: Type 'number' is not assignable to type 'InterfaceFunction'/);
    const build = sh(process.execPath, [tsc, "-p", "."], app);
    expect(build.status, build.out).toBe(0);
    const run = sh(process.execPath, [path.join("out", "main.js")], app);
    expect(run.status, run.out).toBe(0);
    expect(JSON.parse(run.stdout.trim().split("\n").pop()!)).toEqual({ names: ["bench", "native-trusted"], status: 15, hooked: "TS", code: expect.stringMatching(/^E_/), violations: 0 });
    const iface = sh(process.execPath, [path.join("out", "iface.js")], app);
    expect(iface.status, iface.out).toBe(0);
    expect(JSON.parse(iface.stdout.trim().split("\n").pop()!)).toEqual({
      packages: ["acme:app"],
      back: { id: String(2n ** 64n - 1n), name: "tš", tags: ["x", ""], weight: -0.5 },
      sum: "10",
      code: "E_INTERFACE_VALUE host v.id",
      plain: ["add"],
    });
  }, 120_000);
});

// App-defined WIT interfaces (docs/host-interfaces.md) as a user of the installed package has them: `plughost types`
// through npx, a JS app providing kinds/calc to a Rust mirror plugin on each engine, and a Go plugin scaffolded and
// built against the app world from node_modules/plughost. (The strict TypeScript app typed by `plughost types` is
// part of the TypeScript test above: one tsc run for both apps.)
describe("app interfaces from the installed package", () => {
  const wit = () => path.join(project, "wit");

  it("npx plughost types <wit dir> prints the declarations of every interface", () => {
    const r = sh("npx", ["--no-install", "plughost", "types", wit()]);
    expect(r.status, r.out).toBe(0);
    expect(r.stdout).toMatch(/^\/\/ Generated by `plughost types` from acme:app\/calc@1\.0\.0, acme:app\/kinds@1\.0\.0, acme:app\/mirror@1\.0\.0/);
    expect(r.stdout).toContain("export interface Item {\n  id: bigint;\n  name: string;\n  tags: Array<string>;\n  weight: number;\n}");
    expect(r.stdout).toContain('export type Color = "red" | "green" | "blue-ish";');
    for (const n of ["Calc", "Kinds", "Mirror", "Quote", "Checkout", "Probe"]) {
      expect(r.stdout).toContain(`export interface ${n}Implementation {`);
      expect(r.stdout).toContain(`export interface ${n}Exports {`);
    }
  }, 60_000);

  const jsApp = `
import { readFileSync } from "node:fs";
import { PluginRegistry } from "plughost";
const [engine, isolation] = process.argv.slice(2);
const registry = new PluginRegistry({ engine, ...(engine === "v8" ? { isolation } : {}), cacheDir: false, grants: { "*": ["iface:acme:app/*"] } });
registry.defineInterfaces("wit");
registry.provide("acme:app/calc@1.0.0", { add: (a, b) => a + b });
const seen = [];
const echo = (fn) => (v) => (seen.push([fn, v]), v);
const kinds = ["echoScalars", "echoString", "echoBytes", "echoItem", "echoItems", "echoShape", "echoColor", "echoPerms", "echoMaybe", "echoOutcome", "echoPair"];
registry.provide("acme:app/kinds@1.0.0", { ...Object.fromEntries(kinds.map((f) => [f, echo(f)])), manyArgs: () => 0n });
const handle = await registry.load("plugins/rust-mirror");
const item = { id: 2n ** 63n + 5n, name: "widgét 😀", tags: ["a", ""], weight: 2.5 };
const back = await registry.get("rust-mirror").call("acme:app/mirror", "echoItem", item);
const sum = await handle.call("acme:app/mirror", "add-loop", 10);
const calls = registry.interfaceMetrics("rust-mirror").filter((s) => s.calls > 0).map((s) => \`\${s.iface} \${s.fn} \${s.calls}\`);
const mapped = readFileSync("/proc/self/maps", "utf8").split("\\n").map((l) => l.split(/\\s+/)[5]).filter((f) => f && f.endsWith(".node"));
await registry.unloadAll();
const str = (v) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? \`\${x}n\` : x));
console.log(JSON.stringify({ back: str(back), sent: str(item), seen: str(seen), sum: String(sum), calls, mapped: [...new Set(mapped)] }));
`;

  it.each([
    ["v8", "in-process"],
    ["v8", "worker"],
    ["wasmtime", "in-process"],
  ])("a JS app provides kinds and calc and calls the Rust mirror's echoItem on %s (%s)", (engine, isolation) => {
    const r = runApp<{ back: string; sent: string; seen: string; sum: string; calls: string[]; mapped: string[] }>("iface-app.mjs", jsApp, {}, [engine, isolation]);
    expect(r.back).toBe(r.sent);
    expect(r.seen).toBe(JSON.stringify([["echoItem", JSON.parse(r.sent)]]));
    expect(r.sum).toBe("55");
    expect(r.calls).toEqual(["acme:app/calc@1.0.0 add 10", "acme:app/kinds@1.0.0 echo-item 1"]);
    if (engine === "wasmtime") expect(r.mapped).toEqual([path.join(project, "node_modules", wasmtimePackage, "plughost-wasmtime.node")]);
    else expect(r.mapped).toEqual([]);
  }, 60_000);

  it("plughost new go --world scaffolds against node_modules/plughost, builds, passes its own test; plughost glue go regenerates the same glue", () => {
    const goEnv = { env: { ...env, GOTOOLCHAIN: "local", GOPROXY: "off" } };
    const plugins = path.join(project, "plugins");
    const made = sh("npx", ["--no-install", "plughost", "new", "go", "go-world", "--world", `${path.join(wit(), "app.wit")}#mirror-plugin`], plugins, goEnv);
    expect(made.status, made.out).toBe(0);
    const dir = path.join(plugins, "go-world");
    for (const f of ["go.mod", "go.work", "plugin.toml", "app_world.go", "main.go", "test.mjs"]) {
      expect(readFileSync(path.join(dir, f), "utf8"), f).not.toContain(tmp);
    }
    expect(readFileSync(path.join(dir, "go.work"), "utf8")).toContain("../../node_modules/plughost/guest-sdks/go");
    const glue = readFileSync(path.join(dir, "app_world.go"), "utf8");
    rmSync(path.join(dir, "app_world.go"));
    const regen = sh("npx", ["--no-install", "plughost", "glue", "go", dir], project, goEnv);
    expect(regen.status, regen.out).toBe(0);
    expect(readFileSync(path.join(dir, "app_world.go"), "utf8")).toBe(glue);
    const build = sh("npx", ["--no-install", "plughost", "build", dir], project, goEnv);
    expect(build.status, build.out).toBe(0);
    expect(build.out).toContain("imports acme:app/kinds@1.0.0");
    const test = sh(process.execPath, ["--test", path.join(dir, "test.mjs")], project, goEnv);
    expect(test.status, test.out).toBe(0);
    expect(test.stdout).toMatch(/# pass [1-9]/);
    expect(test.stdout).toMatch(/# fail 0/);
  }, 180_000);
});
