// The installed package: the main tarball's size (`npm pack` of dist/ as built) and the time to install it
// into a fresh project offline, the way test/cli-installed.test.ts does (npm ci from a lockfile pinning the
// tarball and plughost's production dependencies; npm's cache is warm, so this is unpacking and linking, not
// downloading). Median of 3 fresh projects, with min and max, and the size of such a project's node_modules.
//
// Then a first build per language from the installed package: in a fresh project that installed the tarball
// (and the optional peer packages a JS build needs), `npx plughost new <lang> x`, then `npx plughost build`
// timed with an empty plughost cache (a new XDG_CACHE_HOME per run, so the build cache, the compile cache and
// Go's build cache all start empty; the Rust run fetches Debian's rustc-web and crates from the network).
// C, JS and Go: median of 3 with min and max; Rust: one run (it downloads ~140 MB) unless PLUGHOST_BENCH_RUST_RUNS.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { installOffline, packRepository, writeProject } from "../test/helpers/installed-project.mjs";
import { median } from "./stats.mjs";

const GOALS = { c: 5, rust: 120 };

function npx(args, cwd, env) {
  const r = spawnSync("npx", ["--no-install", "plughost", ...args], { cwd, env, encoding: "utf8", timeout: 1_200_000 });
  if (r.status !== 0) throw new Error(`npx plughost ${args.join(" ")} failed in ${cwd} (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Seconds for `npx plughost build` of a new `lang` plugin in `project`, with an empty plughost cache. */
function firstBuild(project, lang, i, tmp) {
  const xdg = path.join(tmp, `xdg-${lang}-${i}`);
  mkdirSync(xdg);
  const env = { ...process.env, XDG_CACHE_HOME: xdg, npm_config_update_notifier: "false" };
  for (const k of ["PLUGHOST_BUILD_CACHE", "PLUGHOST_TOOLCHAINS", "PLUGHOST_RUST_TARGET_DIR", "PLUGHOST_CARGO_HOME", "GOCACHE"]) delete env[k];
  const name = `x-${lang}-${i}`;
  npx(["new", lang, name], project, env);
  const t0 = performance.now();
  npx(["build"], path.join(project, name), env);
  const s = (performance.now() - t0) / 1000;
  rmSync(xdg, { recursive: true, force: true });
  return s;
}

const round = (x) => +x.toFixed(2);

export async function run() {
  const tmp = realpathSync(mkdtempSync(path.join(tmpdir(), "plughost-bench-package-")));
  try {
    const tarball = packRepository(tmp);
    const package_tarball_bytes = statSync(tarball).size;
    const seconds = [];
    for (let i = 0; i < 3; i++) {
      const project = path.join(tmp, `app-${i}`);
      mkdirSync(project);
      writeProject(project, tarball, { typescript: false });
      const t0 = performance.now();
      installOffline(project);
      seconds.push((performance.now() - t0) / 1000);
    }
    // What a user of the v8 engine has on disk after the install (plughost and its production dependencies).
    const du = spawnSync("du", ["-sb", path.join(tmp, "app-0", "node_modules")], { encoding: "utf8" });
    const package_node_modules_bytes = Number(du.stdout.split("\t")[0]);
    const result = {
      package_tarball_bytes,
      package_node_modules_bytes,
      package_install_s: +median(seconds).toFixed(2),
      package_install_s_min: +Math.min(...seconds).toFixed(2),
      package_install_s_max: +Math.max(...seconds).toFixed(2),
    };
    console.log(`main tarball ${package_tarball_bytes} bytes (goal ≤ 2 MB); node_modules of a v8 user ${package_node_modules_bytes} bytes`);
    console.log(`install ${result.package_install_s} s median of 3 (${result.package_install_s_min}–${result.package_install_s_max}; goal ≤ 30 s)`);

    // One project for the first builds: the install is not what is timed here.
    const project = path.join(tmp, "builds");
    mkdirSync(project);
    writeProject(project, tarball, { typescript: true, extraPackages: ["@bytecodealliance/componentize-js"] });
    installOffline(project);
    const rustRuns = Number(process.env.PLUGHOST_BENCH_RUST_RUNS ?? 1);
    for (const lang of ["c", "js", "go", "rust"]) {
      const runs = lang === "rust" ? rustRuns : 3;
      const s = [];
      for (let i = 0; i < runs; i++) s.push(firstBuild(project, lang, i, tmp));
      const key = `first_build_${lang}_s`;
      result[key] = round(median(s));
      result[`${key}_min`] = round(Math.min(...s));
      result[`${key}_max`] = round(Math.max(...s));
      const goal = GOALS[lang] ? `; goal ≤ ${GOALS[lang]} s` : "";
      console.log(`first ${lang} build ${result[key]} s ${runs > 1 ? `median of ${runs} (${result[`${key}_min`]}–${result[`${key}_max`]})` : "(1 run)"}${goal}`);
    }
    return result;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
