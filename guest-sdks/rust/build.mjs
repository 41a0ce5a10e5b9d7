#!/usr/bin/env node
// Builds a Rust plugin crate into a Wasm component:
//   cargo (wasm32-wasip1, -Z build-std) -> core module -> component.
// wit-bindgen has already embedded the world's type in the module, so no
// `component embed` step is needed; the WASI preview1 adapter is added only
// when the module imports wasi_snapshot_preview1 (i.e. the plugin uses std::fs,
// std::env, stdout, clocks, ...).
// Usage: node guest-sdks/rust/build.mjs <plugin-dir>... [--out plugin.wasm]
import { readFileSync, writeFileSync, existsSync, realpathSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildCacheDir, describeBuildError, preview1Adapter } from "../component.mjs";
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
  const wasi = [...new Set(imports.filter((i) => i.module !== "plughost:plugin/host@0.1.0").map((i) => `${i.module}.${i.name}`))];
  return { bytes, wasi };
}

/** Build the Rust crate in `dir` into a component at `outFile`; returns its bytes. */
export async function buildRustPlugin(dir, outFile = path.join(dir, "plugin.wasm")) {
  checkSystemPackages();
  const env = cargoEnv(ensureToolchain());
  const core = cargoBuild(path.resolve(dir), env);
  const { bytes, wasi } = await componentize(new Uint8Array(readFileSync(core)));
  writeFileSync(outFile, bytes);
  return { bytes, wasi };
}

// Compare real paths: the script is often run through node_modules/plughost (a link).
if (process.argv[1] && realpathSync(path.resolve(process.argv[1])) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const outAt = argv.indexOf("--out");
  const out = outAt >= 0 ? argv.splice(outAt, 2)[1] : undefined;
  if (!argv.length || (out && argv.length > 1)) {
    console.error("usage: node guest-sdks/rust/build.mjs <plugin-dir>... [--out file.wasm]");
    process.exit(2);
  }
  for (const dir of argv) {
    const t0 = performance.now();
    const { bytes, wasi } = await buildRustPlugin(path.resolve(dir), out ? path.resolve(out) : undefined).catch((err) => {
      console.error(describeBuildError(err));
      process.exit(1);
    });
    const imports = wasi.length ? `imports WASI preview1 ${wasi.join(", ")}` : "imports no WASI";
    console.log(`${dir}: ${bytes.length} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${imports}`);
  }
}
