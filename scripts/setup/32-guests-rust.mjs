// Rust guests: the examples written with the Rust SDK (guest-sdks/rust), built
// into components with Debian's rustc-web (unpacked into .cache/toolchains/ on
// first use: see guest-sdks/rust/toolchain.mjs for why that route).
import { readdirSync, existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { root, buildIfChanged } from "./_util.mjs";

export const name = "Rust guest examples (rustc-web, wasm32-wasip1)";
// wasm-ld, wasi-libc, a host C linker for proc macros, and cargo's shared libraries.
export { aptPackages } from "../../guest-sdks/rust/toolchain.mjs";

const SDK_INPUTS = [
  "guest-sdks/rust/src",
  "guest-sdks/rust/Cargo.toml",
  "guest-sdks/rust/build.mjs",
  "guest-sdks/rust/toolchain.mjs",
  "wit/plugin.wit",
  "examples/rust/Cargo.toml",
  "examples/rust/Cargo.lock",
];

export async function run() {
  const examples = path.join(root, "examples", "rust");
  if (!existsSync(examples)) return;
  let sdk;
  for (const ex of readdirSync(examples, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()) {
    const dir = path.join(examples, ex);
    if (!existsSync(path.join(dir, "Cargo.toml"))) continue;
    // The crate minus its output: plugin.wasm is written into the directory.
    const sources = readdirSync(dir).filter((f) => !f.endsWith(".wasm")).map((f) => path.join("examples", "rust", ex, f));
    await buildIfChanged(`.cache/stamps/guest-rust-${ex}`, [...sources, ...SDK_INPUTS], [path.join("examples", "rust", ex, "plugin.wasm")], async () => {
      sdk ??= await import(pathToFileURL(path.join(root, "guest-sdks", "rust", "build.mjs")).href);
      const t0 = performance.now();
      const { bytes, wasi } = await sdk.buildRustPlugin(dir);
      const kb = (bytes.length / 1024).toFixed(1);
      console.log(`[setup] examples/rust/${ex}: ${kb} KiB in ${((performance.now() - t0) / 1000).toFixed(1)} s; WASI preview1 imports: ${wasi.length ? wasi.map((w) => w.split(".")[1]).join(", ") : "none"}`);
    });
  }
}
