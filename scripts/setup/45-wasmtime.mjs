// The wasmtime engine's addon (native/wasmtime): a napi-rs cdylib over the
// wasmtime crate, built in release mode with cargo and copied to
// native/wasmtime/plughost-wasmtime.node. Crates come from crates.io at build
// time (versions pinned by Cargo.lock). Needs a Rust toolchain (rustup,
// stable >= 1.95); without one the step says so and skips, and the library
// still works on the v8 engine (asking for wasmtime is EngineUnavailable).
// Rebuilds only when the crate's sources, Cargo.toml/Cargo.lock or the WIT change.
// scripts/pack-platform.mjs packs this file as @plughost/wasmtime-<platform> (npm/).
import { copyFileSync, existsSync, renameSync } from "node:fs";
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { root, sh, buildIfChanged } from "./_util.mjs";

export const name = "wasmtime engine addon (cargo build --release)";
// A C toolchain for the linker and the `cc` build scripts (wasmtime's runtime has some C).
export const aptPackages = ["gcc", "libc6-dev"];

const crate = path.join(root, "native", "wasmtime");
const addon = path.join(crate, "plughost-wasmtime.node");

function cargo() {
  const candidates = [process.env.CARGO, "cargo", path.join(os.homedir(), ".cargo", "bin", "cargo")].filter(Boolean);
  return candidates.find((c) => spawnSync(c, ["--version"], { stdio: "ignore" }).status === 0);
}

export async function run() {
  const inputs = ["native/wasmtime/src", "native/wasmtime/Cargo.toml", "native/wasmtime/Cargo.lock", "native/wasmtime/build.rs", "wit"];
  const bin = cargo();
  if (!bin) {
    if (!existsSync(addon)) console.log("[setup] wasmtime: no cargo found; skipping the addon (install Rust with rustup to enable the wasmtime engine)");
    return;
  }
  await buildIfChanged(".cache/stamps/wasmtime", inputs, ["native/wasmtime/plughost-wasmtime.node"], () => {
    const t0 = performance.now();
    console.log("[setup] wasmtime: cargo build --release (a fresh build takes several minutes)");
    sh(bin, ["build", "--release", "--locked"], {
      cwd: crate,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, CARGO_BUILD_JOBS: process.env.CARGO_BUILD_JOBS ?? String(Math.min(2, os.availableParallelism())) },
    });
    const lib = process.platform === "darwin" ? "libplughost_wasmtime.dylib" : process.platform === "win32" ? "plughost_wasmtime.dll" : "libplughost_wasmtime.so";
    // Copy then rename: overwriting in place would corrupt a running process's mapping.
    copyFileSync(path.join(crate, "target", "release", lib), `${addon}.tmp`);
    renameSync(`${addon}.tmp`, addon);
    console.log(`[setup] wasmtime: built in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  });
}
