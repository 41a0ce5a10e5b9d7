#!/usr/bin/env node
// Builds a C plugin directory into a Wasm component:
//   clang (wasm32-wasi, reactor) -> core module -> embed the WIT -> component.
// Usage: node guest-sdks/c/build.mjs <plugin-dir> [--out plugin.wasm]
import { readdirSync, readFileSync, mkdtempSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildCli, componentize, preview1Adapter, ToolchainMissing } from "../component.mjs";

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

/**
 * The environment for clang: PATH without node_modules/.bin directories. clang runs any `wasm-opt` it finds on
 * PATH after linking, and under npx or an npm script that is binaryen's JS build where binaryen is installed (componentize-js's jco brings it),
 * which adds 3-5 s to every build and makes the output depend on how the build was started.
 */
function clangEnv() {
  const PATH = (process.env.PATH ?? "").split(path.delimiter).filter((d) => !/[\\/]node_modules[\\/]\.bin$/.test(d)).join(path.delimiter);
  return { ...process.env, PATH };
}

/** Build the C sources of `dir` (plus the SDK glue) into a component; returns its bytes. */
export async function buildCPlugin(dir, outFile = path.join(dir, "plugin.wasm")) {
  const sources = readdirSync(dir).filter((f) => f.endsWith(".c")).map((f) => path.join(dir, f));
  if (!sources.length) throw new Error(`${dir}: no .c sources`);
  const tmp = mkdtempSync(path.join(tmpdir(), "plughost-c-"));
  try {
    const core = path.join(tmp, "core.wasm");
    // A source that defines the guest exports itself (a raw-ABI plugin) does without the SDK glue.
    const raw = sources.some((f) => /"plughost:plugin\/guest@[0-9.]+#init"|PLUGHOST_WIT_GUEST\s*"#init"/.test(readFileSync(f, "utf8")));
    const link = (extra) => {
      const args = [
        "--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wall", "-Wextra",
        ...extra,
        "-I", path.join(sdk, "include"),
        ...sources,
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
    return await componentize(binary, usesWasi ? [["wasi_snapshot_preview1", preview1Adapter()]] : [], outFile);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await buildCli(import.meta.url, "c", buildCPlugin);
