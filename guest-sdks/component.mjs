// What the guest build scripts share: where builds cache things (never inside
// the installed package), the toolchain-missing error, finding optional peer
// packages, the WASI preview1 reactor adapter, the core module → component
// step against wit/plugin.wit, and the CLI entry.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** This package's root directory (the checkout, or node_modules/plughost when installed). */
export const packageRoot = root;

/** The environment variable that moves every build cache (toolchains, cargo's target and home, conformance builds). */
export const BUILD_CACHE_ENV = "PLUGHOST_BUILD_CACHE";

/**
 * Where builds keep what they fetch and compile:
 *   1. $PLUGHOST_BUILD_CACHE, when set;
 *   2. <checkout>/.cache in a source checkout (what `node scripts/setup.mjs` fills);
 *   3. $XDG_CACHE_HOME/plughost/build, else ~/.cache/plughost/build, for an installed package.
 * Never inside node_modules: an installed plughost is read-only to its builds.
 */
export function buildCacheDir(env = process.env) {
  if (env[BUILD_CACHE_ENV]) return path.resolve(env[BUILD_CACHE_ENV]);
  if (isSourceCheckout()) return path.join(root, ".cache");
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), ".cache");
  return path.join(base, "plughost", "build");
}

/** True in a clone of the repository; false for a package npm installed (it sits in node_modules and has no .git). */
export function isSourceCheckout() {
  return existsSync(path.join(root, ".git")) && !root.split(path.sep).includes("node_modules");
}

/** This package's manifest. */
export function packageJson() {
  return JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
}

/**
 * A build needs a tool or package that is not there. `code` is E_TOOLCHAIN_MISSING
 * (the CLI reports it as a typed error); `install` is the command that fixes it.
 */
export class ToolchainMissing extends Error {
  /** @param {string} language @param {string} what @param {string} install @param {{ cause?: unknown, package?: string }} [details] */
  constructor(language, what, install, details = {}) {
    super(`the ${language} build needs ${what}, which is not installed: ${install}`, { cause: details.cause });
    this.name = "ToolchainMissing";
    this.code = "E_TOOLCHAIN_MISSING";
    this.language = language;
    this.package = details.package;
    this.install = install;
  }
}

/** The command that installs an optional peer package, at the version plughost declares. */
export function peerInstallCommand(name) {
  const range = packageJson().peerDependencies?.[name];
  if (!range) return `npm install --save-dev ${name}`;
  // A plain version pastes as is; a range such as >=5.0.0 needs quoting in a shell.
  return `npm install --save-dev ${/^[\w.-]+$/.test(range) ? `${name}@${range}` : `'${name}@${range}'`}`;
}

/**
 * The directory of package `name` as Node would find it from `fromDir` (each
 * node_modules up the tree), without going through its `exports`.
 */
export function findPackageDir(name, fromDir = root) {
  for (let d = path.resolve(fromDir); ; d = path.dirname(d)) {
    const candidate = path.join(d, "node_modules", name);
    if (existsSync(path.join(candidate, "package.json"))) return realpathSync(candidate);
    if (d === path.dirname(d)) return undefined;
  }
}

/**
 * Import an optional peer package of plughost (resolved from the installed
 * plughost, so from the project that installed it). Throws ToolchainMissing
 * with the install command when it is absent.
 */
export async function importPeer(name, language, entry = "") {
  const dir = findPackageDir(name);
  if (!dir) throw new ToolchainMissing(language, `the npm package ${name}`, peerInstallCommand(name), { package: name });
  // Resolved from this file, so from the project that installed plughost (each node_modules up the tree).
  return await import(entry ? `${name}/${entry}` : name);
}

/** sha256 of the vendored adapter: the byte-identical copy jco 1.35.0 ships as lib/wasi_snapshot_preview1.reactor.wasm. */
export const PREVIEW1_ADAPTER_SHA256 = "b857310c4753c8fafaa0f890e9ccf978dc3d9dbe8804b1125291a627485041d0";
/** Where the adapter ships in this package (51 KB; see guest-sdks/adapters/README.md). */
export const PREVIEW1_ADAPTER_PATH = path.join(root, "guest-sdks", "adapters", "wasi_snapshot_preview1.reactor.wasm");

/** The WASI preview1 reactor adapter, which turns wasi_snapshot_preview1 imports into WASI 0.2 ones. */
export function preview1Adapter() {
  if (!existsSync(PREVIEW1_ADAPTER_PATH)) {
    throw new Error(`the WASI preview1 reactor adapter is missing from this plughost (${PREVIEW1_ADAPTER_PATH}); reinstall plughost`);
  }
  const bytes = readFileSync(PREVIEW1_ADAPTER_PATH);
  const sha = createHash("sha256").update(bytes).digest("hex");
  if (sha !== PREVIEW1_ADAPTER_SHA256) {
    throw new Error(`the WASI preview1 reactor adapter at ${PREVIEW1_ADAPTER_PATH} has sha256 ${sha}, not ${PREVIEW1_ADAPTER_SHA256}; reinstall plughost`);
  }
  return new Uint8Array(bytes);
}

/** The prefix of the core exports of the optional `lifecycle` interface (on-suspend, on-resume). */
export const LIFECYCLE_EXPORT_PREFIX = "plughost:plugin/lifecycle@";

/** The optional export interfaces of wit/plugin.wit, in the order a generated world lists them. */
export const OPTIONAL_INTERFACES = ["lifecycle", "config-watch", "handoff"];

/** The worlds wit/plugin.wit defines, by the optional interfaces they export. */
const NAMED_WORLDS = { "": "plugin", lifecycle: "plugin-with-lifecycle", "lifecycle,config-watch,handoff": "plugin-full" };

/** The optional interfaces a core module exports functions of (`plughost:plugin/<name>@…#…`), in OPTIONAL_INTERFACES order. */
export function optionalExportsOf(binary) {
  const names = WebAssembly.Module.exports(new WebAssembly.Module(binary)).map((e) => e.name);
  return OPTIONAL_INTERFACES.filter((i) => names.some((n) => n.startsWith(`plughost:plugin/${i}@`)));
}

/**
 * The world a core module implements: `plugin` plus the optional interfaces it exports. A set that a world of
 * wit/plugin.wit names (none, lifecycle alone, all three) is that world; any other gets a generated one,
 * `plugin-with-<a>-<b>`, whose text `worldSource` appends to the WIT.
 */
export function worldOf(binary) {
  return worldFor(optionalExportsOf(binary)).world;
}

/** The world name for a set of optional interfaces, and the WIT to append for it (empty for a named world). */
export function worldFor(optional) {
  const key = OPTIONAL_INTERFACES.filter((i) => optional.includes(i));
  const named = NAMED_WORLDS[key.join(",")];
  if (named) return { world: named, source: "" };
  const world = `plugin-with-${key.join("-")}`;
  return { world, source: `\n/// Generated by the build: \`plugin\` with the optional exports this plugin defines.\nworld ${world} {\n  include plugin;\n${key.map((i) => `  export ${i};\n`).join("")}}\n` };
}

/**
 * Embed the plughost world into a core module, make it a component with `adapters`, write it to `outFile`.
 * With `appWorld` (app-world.mjs's resolveAppWorld), the world embedded is plughost's plus the app's.
 */
export async function componentize(binary, adapters, outFile, appWorld) {
  const { componentEmbed, componentNew } = await import("../vendor/jco/index.js");
  const { world: pluginWorld, source } = worldFor(optionalExportsOf(binary));
  let world = pluginWorld;
  let witSource = readFileSync(path.join(root, "wit", "plugin.wit"), "utf8") + source;
  if (appWorld) {
    const { appWorldSource } = await import("./app-world.mjs");
    ({ source: witSource, world } = appWorldSource(appWorld, { base: pluginWorld, extra: source }));
  }
  const embedded = await componentEmbed({ binary, witSource, world });
  const component = await componentNew(embedded, adapters);
  writeFileSync(outFile, component);
  return component;
}

/** How a build failure is printed: a typed one with its code, any other with its message (never a stack trace). */
export function describeBuildError(err) {
  const message = err instanceof Error ? err.message : String(err);
  return err && typeof err === "object" && "code" in err && typeof err.code === "string" && err.code.startsWith("E_")
    ? `error ${err.code}: ${message}`
    : `error: ${message}`;
}

/**
 * `node guest-sdks/<lang>/build.mjs <plugin-dir> [--out file.wasm] [--wit <file|dir>] [--world <name>]`, when
 * `metaUrl` is the script run. `build` gets (dir, outFile, { wit, world }): the app world to build against, when given.
 */
export async function buildCli(metaUrl, lang, build) {
  if (!process.argv[1] || realpathSync(path.resolve(process.argv[1])) !== realpathSync(fileURLToPath(metaUrl))) return;
  const args = process.argv.slice(2);
  const opts = {};
  const positional = [];
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    if ((flag === "--out" || flag === "--wit" || flag === "--world") && args[i + 1] !== undefined) opts[flag.slice(2)] = args[++i];
    else positional.push(flag);
  }
  const [dir] = positional;
  if (!dir || positional.length > 1) {
    console.error(`usage: node guest-sdks/${lang}/build.mjs <plugin-dir> [--out file.wasm] [--wit <app.wit or dir>] [--world <name>]`);
    process.exit(2);
  }
  try {
    const app = opts.wit || opts.world ? { wit: opts.wit && path.resolve(opts.wit), world: opts.world } : undefined;
    const bytes = await build(path.resolve(dir), opts.out ? path.resolve(opts.out) : undefined, app);
    console.log(`${dir}: ${bytes.length} bytes`);
  } catch (err) {
    // A build failure is the user's to fix: its message, not a stack trace.
    console.error(describeBuildError(err));
    process.exit(1);
  }
}
