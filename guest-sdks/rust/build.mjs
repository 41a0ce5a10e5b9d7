#!/usr/bin/env node
// Builds a Rust plugin crate into a Wasm component:
//   cargo (wasm32-wasip1, -Z build-std) -> core module -> component.
// wit-bindgen has already embedded the world's type in the module, so no
// `component embed` step is needed; the WASI preview1 adapter is added only
// when the module imports wasi_snapshot_preview1 (i.e. the plugin uses std::fs,
// std::env, stdout, clocks, ...).
// An app world (docs/guest-rust.md): the crate's own `wit_bindgen::generate!` names it and embeds it beside the SDK's;
// given --wit/--world (or plugin.toml's [interfaces] wit and world), the build checks the world exists before
// compiling and that the component exports what the world exports and imports nothing else of the app's.
// Usage: node guest-sdks/rust/build.mjs <plugin-dir>... [--out plugin.wasm] [--wit <app.wit or dir>] [--world <name>]
import { readFileSync, writeFileSync, existsSync, realpathSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildCacheDir, describeBuildError, preview1Adapter } from "../component.mjs";
import { AppWorldError, appWorldSource, resolveAppWorld } from "../app-world.mjs";
import { checkSystemPackages, ensureToolchain } from "./toolchain.mjs";

const TARGET = "wasm32-wasip1";
/** Where Debian's wasi-libc (package wasi-libc) lives. */
const WASI_SYSROOT_LIB = "/usr/lib/wasm32-wasi";

/** Cargo settings every plugin build uses, as environment (a plugin's own Cargo.toml stays plain). */
function cargoEnv(env) {
  return {
    ...env,
    // One target directory for every plugin: std and wit-bindgen build once.
    CARGO_TARGET_DIR: process.env.PLUGHOST_RUST_TARGET_DIR ?? path.join(buildCacheDir(), "rust-target"),
    CARGO_TARGET_WASM32_WASIP1_LINKER: process.env.PLUGHOST_WASM_LD ?? "wasm-ld-16",
    CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS: [
      // A panic is a trap (`unreachable`): no formatting machinery, and no
      // stderr/environ/proc_exit imports dragged in to print it.
      "-Zunstable-options", "-Cpanic=immediate-abort",
      // Link Debian's wasi-libc rather than a (missing) self-contained copy,
      // with the reactor start file so `_initialize` runs constructors once.
      "-Clink-self-contained=no",
      `-Clink-arg=-L${WASI_SYSROOT_LIB}`,
      `-Clink-arg=${WASI_SYSROOT_LIB}/crt1-reactor.o`,
    ].join(" "),
    CARGO_BUILD_JOBS: process.env.CARGO_BUILD_JOBS ?? "2",
  };
}

/** Run cargo for the crate in `dir`; returns the path of the core module it produced. */
function cargoBuild(dir, env) {
  const manifest = path.join(dir, "Cargo.toml");
  if (!existsSync(manifest)) throw new Error(`${dir}: no Cargo.toml`);
  const args = [
    "build", "--release", "--lib", "--target", TARGET,
    "-Zbuild-std=std,panic_abort",
    "--manifest-path", manifest,
    "--message-format=json-render-diagnostics",
  ];
  const r = spawnSync(env.CARGO, args, { env, encoding: "utf8", maxBuffer: 256 << 20, stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) throw new Error(`cargo build failed for ${dir} (${r.status ?? r.signal})`);
  let wasm;
  for (const line of r.stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const msg = JSON.parse(line);
    if (msg.reason === "compiler-artifact" && path.resolve(msg.manifest_path) === path.resolve(manifest) && msg.target.kind.includes("cdylib")) {
      wasm = msg.filenames.find((f) => f.endsWith(".wasm"));
    }
  }
  if (!wasm) throw new Error(`${manifest}: cargo produced no .wasm; the crate needs [lib] crate-type = ["cdylib"]`);
  return wasm;
}

/** Turn a core module into a component; returns its bytes and its non-plughost imports. */
export async function componentize(binary) {
  const { componentNew } = await import("../../vendor/jco/index.js");
  const imports = WebAssembly.Module.imports(new WebAssembly.Module(binary));
  const adapters = [];
  if (imports.some((i) => i.module === "wasi_snapshot_preview1")) {
    adapters.push(["wasi_snapshot_preview1", preview1Adapter()]);
  }
  const bytes = await componentNew(binary, adapters);
  const wasi = [...new Set(imports.filter((i) => i.module === "wasi_snapshot_preview1").map((i) => `${i.module}.${i.name}`))];
  return { bytes, wasi };
}

/** The interfaces a component's world imports and exports, as WIT names (`acme:app/calc@1.0.0`). */
export async function worldInterfaces(component) {
  const { componentWit } = await import("../../vendor/jco/index.js");
  const wit = await componentWit(component);
  const pick = (kind) => [...wit.matchAll(new RegExp(`^\\s*${kind}\\s+([a-z0-9-]+:[a-z0-9-]+/[a-z0-9-]+(?:@[^;\\s]+)?);`, "gm"))].map((m) => m[1]);
  return { imports: pick("import"), exports: pick("export") };
}

/**
 * Check a built component against its app world: it exports every interface the world exports and no other of the
 * app's packages, and imports none of them beyond the world's (an unused import may be left out).
 */
async function checkAgainstWorld(dir, bytes, appWorld) {
  const { componentEmbed, componentNew } = await import("../../vendor/jco/index.js");
  const { source, world } = appWorldSource(appWorld);
  const expected = await worldInterfaces(await componentNew(await componentEmbed({ dummy: true, witSource: source, world })));
  const got = await worldInterfaces(bytes);
  const app = (name) => !name.startsWith("plughost:") && !name.startsWith("wasi:");
  const missing = expected.exports.filter((e) => app(e) && !got.exports.includes(e));
  const extraExports = got.exports.filter((e) => app(e) && !expected.exports.includes(e));
  const extraImports = got.imports.filter((i) => app(i) && !expected.imports.includes(i));
  const problems = [
    ...missing.map((e) => `it does not export ${e}`),
    ...extraExports.map((e) => `it exports ${e}, which the world does not`),
    ...extraImports.map((i) => `it imports ${i}, which the world does not`),
  ];
  if (problems.length) {
    throw new AppWorldError(`${dir}: the component does not match world ${appWorld.appWorldId}: ${problems.join("; ")}. Generate the crate's bindings with wit_bindgen::generate!({ world: "${appWorld.world}", ... }) from ${appWorld.wit}, or build with the world it uses (--world)`);
  }
}

/**
 * Build the Rust crate in `dir` into a component at `outFile`; returns its bytes.
 * `app`: the app world it is built against (`{ wit, world }`; default: plugin.toml's [interfaces] wit and world;
 * `false`: none), checked before and after the build.
 */
export async function buildRustPlugin(dir, outFile = path.join(dir, "plugin.wasm"), app) {
  const appWorld = await resolveAppWorld(dir, app);
  checkSystemPackages();
  const env = cargoEnv(ensureToolchain());
  const core = cargoBuild(path.resolve(dir), env);
  const { bytes, wasi } = await componentize(new Uint8Array(readFileSync(core)));
  if (appWorld) await checkAgainstWorld(dir, bytes, appWorld);
  writeFileSync(outFile, bytes);
  return { bytes, wasi };
}

// Compare real paths: the script is often run through node_modules/plughost (a link).
if (process.argv[1] && realpathSync(path.resolve(process.argv[1])) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const flag = (name) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv.splice(at, 2)[1] : undefined;
  };
  const out = flag("--out");
  const wit = flag("--wit");
  const world = flag("--world");
  const app = wit || world ? { wit: wit && path.resolve(wit), world } : undefined;
  if (!argv.length || (out && argv.length > 1)) {
    console.error("usage: node guest-sdks/rust/build.mjs <plugin-dir>... [--out file.wasm] [--wit <app.wit or dir>] [--world <name>]");
    process.exit(2);
  }
  for (const dir of argv) {
    const t0 = performance.now();
    const { bytes, wasi } = await buildRustPlugin(path.resolve(dir), out ? path.resolve(out) : undefined, app).catch((err) => {
      console.error(describeBuildError(err));
      process.exit(1);
    });
    const imports = wasi.length ? `imports WASI preview1 ${wasi.join(", ")}` : "imports no WASI";
    console.log(`${dir}: ${bytes.length} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${imports}`);
  }
}
