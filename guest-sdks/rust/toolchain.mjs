// The Rust toolchain for wasm guests: Debian's `rustc-web`/`cargo-web` (a
// current Rust built against Debian's LLVM) plus `rust-web-src`, unpacked into
// <build cache>/toolchains/ with `apt-get download` + `dpkg-deb -x` (the build
// cache: .cache/ in a checkout, ~/.cache/plughost/build for an installed
// package, or $PLUGHOST_BUILD_CACHE; see ../component.mjs).
//
// Why this route: rustup's wasm targets cannot be downloaded here, and
// Debian's own `rustc` (1.63) is too old for wit-bindgen. rustc-web ships no
// wasm std, so builds use `-Z build-std` from rust-web-src; the packages
// conflict with Debian's rustc and with rustup, so they are unpacked rather
// than installed, and nothing outside the build cache changes.
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildCacheDir, ToolchainMissing } from "../component.mjs";

const sdk = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(sdk, "..", "..");
/** Where the toolchain is unpacked (read when a build starts, so a test or bench can move it). */
export const toolchainsDir = () => process.env.PLUGHOST_TOOLCHAINS ?? path.join(buildCacheDir(), "toolchains");

/**
 * What the unpacked toolchain needs from the system (the set-up runner installs
 * these): wasm-ld and wasi-libc to link, gcc to link host proc macros, cargo's
 * shared libraries, and those of the unpacked libLLVM.
 */
export const aptPackages = [
  "lld-16", "wasi-libc", "gcc", "libc6-dev",
  "libgit2-1.5", "libcurl4", "libssh2-1", "libsqlite3-0", "libssl3",
  "libedit2", "libffi8", "libxml2", "libz3-4", "libzstd1", "zlib1g",
];

/**
 * The system packages a build links with (wasm-ld, wasi-libc); a typed error
 * naming the apt-get command when one is missing.
 */
export function checkSystemPackages(wasmLd = process.env.PLUGHOST_WASM_LD ?? "wasm-ld-16") {
  const missing = [];
  if (spawnSync(wasmLd, ["--version"]).status !== 0) missing.push("lld-16");
  if (!existsSync("/usr/lib/wasm32-wasi/crt1-reactor.o")) missing.push("wasi-libc");
  if (spawnSync("cc", ["--version"]).status !== 0) missing.push("gcc", "libc6-dev");
  if (missing.length) throw new ToolchainMissing("Rust", `Debian's ${missing.join(", ")}`, `apt-get install ${aptPackages.join(" ")}`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout ?? ""}${r.stderr ?? ""}`);
  return r.stdout ?? "";
}

/** `Depends:` package names of the candidate version of `pkg`. */
function depends(pkg) {
  const show = run("apt-cache", ["show", "--no-all-versions", pkg]);
  const line = show.split("\n").find((l) => l.startsWith("Depends:")) ?? "";
  return line.slice(9).split(",").map((d) => d.trim().split(/\s|:/)[0]).filter(Boolean);
}

function candidateVersion(pkg) {
  const m = /Candidate:\s*(\S+)/.exec(run("apt-cache", ["policy", pkg]));
  if (!m || m[1] === "(none)") return undefined;
  return m[1];
}

/** The packages to fetch: the toolchain and the versioned libraries it links (libstd-rust-web-N, libllvmN). */
function packageSet() {
  const stdDev = depends("libstd-rust-web-dev").find((d) => d.startsWith("libstd-rust-web-"));
  if (!stdDev) throw new Error("apt: libstd-rust-web-dev has no libstd-rust-web-N dependency");
  const llvm = depends(stdDev).find((d) => /^libllvm\d+$/.test(d));
  return ["rustc-web", "cargo-web", "rust-web-src", "libstd-rust-web-dev", stdDev, ...(llvm ? [llvm] : [])];
}

/**
 * Make sure the toolchain is unpacked; returns the environment to run its
 * cargo with. Cheap when it is already there (one stat and one file read).
 */
export function ensureToolchain({ quiet = false } = {}) {
  const toolchains = toolchainsDir();
  const stampFile = path.join(toolchains, "rust-web.stamp");
  if (existsSync(stampFile)) {
    const dir = readFileSync(stampFile, "utf8").trim();
    if (existsSync(path.join(dir, "usr", "bin", "cargo"))) return toolchainEnv(dir);
  }
  const t0 = performance.now();
  if (spawnSync("apt-cache", ["--version"]).status !== 0) {
    throw new ToolchainMissing("Rust", "Debian's apt (the Rust route fetches rustc-web, cargo-web and rust-web-src from Debian 12)", "build on Debian 12, or see docs/guest-rust.md");
  }
  if (!candidateVersion("rustc-web")) {
    // A fresh machine may have no package lists yet.
    run(process.getuid?.() === 0 ? "apt-get" : "sudo", [...(process.getuid?.() === 0 ? [] : ["apt-get"]), "update", "-qq"]);
  }
  const version = candidateVersion("rustc-web");
  if (!version) throw new Error("apt has no rustc-web package: the Rust guest toolchain comes from Debian 12 (bookworm-security)");
  const upstream = version.replace(/^\d+:/, "").split("+")[0]; // 1.96.0+dfsg1-1~deb12u2 -> 1.96.0
  const dir = path.join(toolchains, `rust-web-${upstream}`);
  const debs = path.join(toolchains, "debs");
  mkdirSync(debs, { recursive: true });
  const pkgs = packageSet();
  if (!quiet) console.log(`[rust] fetching Debian ${pkgs.join(" ")} (${version})`);
  // apt-get download writes into the working directory; the _apt sandbox
  // warning as root is harmless.
  run("apt-get", ["download", "-qq", ...pkgs], { cwd: debs });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const pkg of pkgs) {
    const deb = readdirSync(debs).filter((f) => f.startsWith(`${pkg}_`)).sort().at(-1);
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${debs}`);
    const file = path.join(debs, deb);
    if (pkg === "rust-web-src") {
      // Only library/ is needed for -Z build-std (4,300 of 60,000 files).
      run("sh", ["-c", `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards './usr/src/rustc-*/library/*'`, "sh", file, dir]);
    } else {
      run("dpkg-deb", ["-x", file, dir]);
    }
  }
  // rustc finds the std sources at <sysroot>/lib/rustlib/src/rust/library.
  const srcDir = readdirSync(path.join(dir, "usr", "src")).find((d) => d.startsWith("rustc-"));
  if (!srcDir) throw new Error("rust-web-src: no usr/src/rustc-* in the package");
  const link = path.join(dir, "usr", "lib", "rustlib", "src", "rust");
  mkdirSync(path.dirname(link), { recursive: true });
  rmSync(link, { force: true });
  symlinkSync(path.join("..", "..", "..", "src", srcDir), link);
  // The .debs are 140 MB; the unpacked tree is all that is needed from here on.
  rmSync(debs, { recursive: true, force: true });
  const env = toolchainEnv(dir);
  run(env.RUSTC, ["--version"], { env });
  writeFileSync(stampFile, `${dir}\n`);
  if (!quiet) console.log(`[rust] toolchain ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${dir}`);
  return env;
}

/** Environment for the unpacked toolchain, isolated from any rustup install. */
function toolchainEnv(dir) {
  const bin = path.join(dir, "usr", "bin");
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("RUSTUP_") || k === "RUSTFLAGS" || k === "CARGO_BUILD_TARGET") delete env[k];
  return {
    ...env,
    PATH: `${bin}:${env.PATH ?? "/usr/bin:/bin"}`,
    // rustc's RUNPATH is /usr/lib/<triple>; here librustc_driver and libLLVM are unpacked beside it.
    LD_LIBRARY_PATH: [path.join(dir, "usr", "lib", "x86_64-linux-gnu"), env.LD_LIBRARY_PATH].filter(Boolean).join(":"),
    RUSTC: path.join(bin, "rustc"),
    RUSTDOC: path.join(bin, "rustdoc"),
    CARGO: path.join(bin, "cargo"),
    // Its own registry cache, so rustup's cargo and this one never share state.
    CARGO_HOME: process.env.PLUGHOST_CARGO_HOME ?? path.join(toolchainsDir(), "cargo-home"),
    // -Z build-std and -C panic=immediate-abort are unstable features.
    RUSTC_BOOTSTRAP: "1",
  };
}
