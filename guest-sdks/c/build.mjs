#!/usr/bin/env node
// Builds a C plugin directory into a Wasm component:
//   clang (wasm32-wasi, reactor) -> core module -> embed the WIT -> component.
// With an app world (--wit/--world, or plugin.toml's [interfaces] wit and world), `wit-bindgen c` first generates
// that world's bindings, which are compiled in beside the SDK glue, and the world embedded is plughost's plus the app's.
// Usage: node guest-sdks/c/build.mjs <plugin-dir> [--out plugin.wasm] [--wit <app.wit or dir>] [--world <name>]
import { existsSync, readdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildCacheDir, buildCli, componentize, preview1Adapter, ToolchainMissing } from "../component.mjs";
import { resolveAppWorld, snakeCase } from "../app-world.mjs";

const sdk = path.dirname(fileURLToPath(import.meta.url));

/** The glue's optional interfaces (the define that compiles each in) and the plugin functions that ask for them. */
const OPTIONAL_INTERFACES = {
  PLUGHOST_LIFECYCLE: ["plugin_suspend", "plugin_resume"],
  PLUGHOST_CONFIG_WATCH: ["plugin_config_changed"],
  PLUGHOST_HANDOFF: ["plugin_snapshot", "plugin_restore"],
};
const OPTIONAL_FUNCTIONS = Object.values(OPTIONAL_INTERFACES).flat();

export function findClang() {
  for (const c of ["clang-16", "clang-17", "clang-18", "clang-15", "clang"]) {
    const r = spawnSync(c, ["--version"], { encoding: "utf8" });
    if (r.status === 0) return c;
  }
  throw new ToolchainMissing("C", "clang with the wasm32-wasi target (Debian's clang-16, lld-16, wasi-libc and libclang-rt-16-dev-wasm32)",
    "apt-get install clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32");
}

/** The wit-bindgen release whose C generator makes the app-world bindings (guest-sdks/c/bindgen pins it). */
export const WIT_BINDGEN_VERSION = "0.63.0";

/** Where guest-sdks/c/bindgen is built: <build cache>/tools/c-bindgen-<version> (cargo's target directory). */
export const cBindgenTargetDir = () => path.join(buildCacheDir(), "tools", `c-bindgen-${WIT_BINDGEN_VERSION}`);
const cBindgenBin = () => path.join(cBindgenTargetDir(), "release", "plughost-c-bindgen");

/**
 * Build guest-sdks/c/bindgen (wit-bindgen's C generator behind a small command) with the Rust guest toolchain's
 * cargo, unless it is built; returns the binary. The first build fetches about 40 crates and takes a few minutes.
 */
export async function ensureCBindgen({ quiet = false } = {}) {
  const bin = cBindgenBin();
  if (existsSync(bin)) return bin;
  const { ensureToolchain } = await import("../rust/toolchain.mjs");
  const env = ensureToolchain({ quiet });
  const t0 = performance.now();
  if (!quiet) console.log(`[c] building the app-world bindings generator (wit-bindgen-c ${WIT_BINDGEN_VERSION}) into ${cBindgenTargetDir()}`);
  const args = ["build", "--release", "--locked", "--manifest-path", path.join(sdk, "bindgen", "Cargo.toml"), "--target-dir", cBindgenTargetDir()];
  const r = spawnSync(env.CARGO, args, { env: { ...env, CARGO_BUILD_JOBS: process.env.CARGO_BUILD_JOBS ?? "2" }, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0 || !existsSync(bin)) throw new Error(`building guest-sdks/c/bindgen failed (${r.status ?? r.signal}):\n${r.stderr}`);
  if (!quiet) console.log(`[c] bindings generator built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return bin;
}

/**
 * Generate the C bindings of `appWorld` into `outDir` (<world>.h and <world>.c, names in snake_case), without the
 * component-type object: the build embeds the combined world itself. The generator: $PLUGHOST_WIT_BINDGEN (a
 * wit-bindgen CLI), else guest-sdks/c/bindgen (built on first use), which runs the same generator with the same options.
 */
export async function generateBindings(appWorld, outDir) {
  const cli = process.env.PLUGHOST_WIT_BINDGEN;
  const [cmd, args] = cli
    ? [cli, ["c", appWorld.wit, "--world", appWorld.world, "--out-dir", outDir, "--no-object-file"]]
    : [await ensureCBindgen(), [appWorld.wit, appWorld.world, outDir]];
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error) throw new ToolchainMissing("C", `${cmd} (it generates the app world's C bindings)`, "unset PLUGHOST_WIT_BINDGEN to use the SDK's generator, or install wit-bindgen-cli", { cause: r.error });
  if (r.status !== 0) throw new Error(`generating the C bindings of world ${appWorld.world} of ${appWorld.wit} failed:\n${r.stderr}`);
  const c = path.join(outDir, `${snakeCase(appWorld.world)}.c`);
  if (!existsSync(c)) throw new Error(`the bindings generator wrote no ${path.basename(c)} into ${outDir}`);
  // The bindings pull in the component-type object by a symbol it defines; without the object (the build embeds
  // the combined world instead) an empty definition stands in.
  const stub = path.join(outDir, "component_type_stub.c");
  writeFileSync(stub, `void __component_type_object_force_link_${snakeCase(appWorld.world)}(void) {}\n`);
  return [c, stub];
}

/**
 * The environment for clang: PATH without node_modules/.bin directories. clang runs any `wasm-opt` it finds on
 * PATH after linking, and under npx or an npm script that is binaryen's JS build where binaryen is installed (componentize-js's jco brings it),
 * which adds 3-5 s to every build and makes the output depend on how the build was started.
 */
function clangEnv() {
  const PATH = (process.env.PATH ?? "").split(path.delimiter).filter((d) => !/[\\/]node_modules[\\/]\.bin$/.test(d)).join(path.delimiter);
  return { ...process.env, PATH };
}

/**
 * Build the C sources of `dir` (plus the SDK glue) into a component; returns its bytes.
 * `app`: the app world to build against (`{ wit, world }`; default: plugin.toml's [interfaces] wit and world; `false`:
 * none). Its bindings header is `<world>.h` (snake_case), e.g. `#include "mirror_plugin.h"`.
 */
export async function buildCPlugin(dir, outFile = path.join(dir, "plugin.wasm"), app) {
  const sources = readdirSync(dir).filter((f) => f.endsWith(".c")).map((f) => path.join(dir, f));
  if (!sources.length) throw new Error(`${dir}: no .c sources`);
  const appWorld = await resolveAppWorld(dir, app);
  const tmp = mkdtempSync(path.join(tmpdir(), "plughost-c-"));
  try {
    const core = path.join(tmp, "core.wasm");
    const bindings = appWorld ? await generateBindings(appWorld, tmp) : [];
    // A source that defines the guest exports itself (a raw-ABI plugin) does without the SDK glue.
    const raw = sources.some((f) => /"plughost:plugin\/guest@[0-9.]+#init"|PLUGHOST_WIT_GUEST\s*"#init"/.test(readFileSync(f, "utf8")));
    const link = (extra) => {
      const args = [
        "--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wall", "-Wextra",
        ...extra,
        // The bindings' arguments and results are the plugin's to free (docs/guest-c.md): no call arena.
        ...(appWorld ? ["-DPLUGHOST_NO_ARENA", "-I", tmp] : []),
        "-I", path.join(sdk, "include"),
        ...sources,
        ...bindings,
        ...(raw ? [] : [path.join(sdk, "src", "plughost_component.c")]),
        "-Wl,--strip-debug", "-o", core,
      ];
      const r = spawnSync(findClang(), args, { encoding: "utf8", env: clangEnv() });
      if (r.status !== 0) throw new Error(`clang failed for ${dir}:\n${r.stderr}`);
      return new Uint8Array(readFileSync(core));
    };
    // The SDK exports an optional interface only for a plugin that defines its functions: the first link tells
    // (they are exported when defined), a second one compiles the glue with the interfaces' defines.
    let binary = link(raw ? [] : OPTIONAL_FUNCTIONS.map((f) => `-Wl,--export-if-defined=${f}`));
    if (!raw) {
      const defined = new Set(WebAssembly.Module.exports(new WebAssembly.Module(binary)).map((e) => e.name));
      const defines = Object.entries(OPTIONAL_INTERFACES).filter(([, fns]) => fns.some((f) => defined.has(f))).map(([d]) => `-D${d}`);
      if (defines.length) binary = link(defines);
    }
    const usesWasi = WebAssembly.Module.imports(new WebAssembly.Module(binary)).some((i) => i.module === "wasi_snapshot_preview1");
    return await componentize(binary, usesWasi ? [["wasi_snapshot_preview1", preview1Adapter()]] : [], outFile, appWorld);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await buildCli(import.meta.url, "c", buildCPlugin);
