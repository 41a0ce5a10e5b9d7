// The module generator of the differential check (bench/differential.mjs): a small binary on the wasm-smith crate,
// the generator behind `wasm-tools smith`. Installing the whole wasm-tools CLI (`cargo install wasm-tools`) builds
// ~100 crates, several minutes on 2 cores; this binary builds in about a minute and generates the same modules
// for the same config. Crates come from crates.io (versions pinned by Cargo.lock). Without cargo the step says so
// and skips; the differential check then cannot run (the wasmtime addon, which it also needs, is skipped too).
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { root, sh, buildIfChanged } from "./_util.mjs";

export const name = "wasm-smith module generator (cargo build --release)";
export const aptPackages = ["gcc", "libc6-dev"];

const crate = path.join(root, "native", "wasm-smith-gen");

function cargo() {
  const candidates = [process.env.CARGO, "cargo", path.join(os.homedir(), ".cargo", "bin", "cargo")].filter(Boolean);
  return candidates.find((c) => spawnSync(c, ["--version"], { stdio: "ignore" }).status === 0);
}

export async function run() {
  const bin = cargo();
  if (!bin) {
    console.log("[setup] wasm-smith: no cargo found; skipping the generator (bench/differential.mjs needs it)");
    return;
  }
  const inputs = ["native/wasm-smith-gen/src", "native/wasm-smith-gen/Cargo.toml", "native/wasm-smith-gen/Cargo.lock"];
  await buildIfChanged(".cache/stamps/wasm-smith", inputs, ["native/wasm-smith-gen/target/release/wasm-smith-gen"], () => {
    const t0 = performance.now();
    sh(bin, ["build", "--release", "--locked"], {
      cwd: crate,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, CARGO_BUILD_JOBS: process.env.CARGO_BUILD_JOBS ?? String(Math.min(2, os.availableParallelism())) },
    });
    console.log(`[setup] wasm-smith: built in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  });
}
