// The installed package: the main tarball's size (`npm pack` of dist/ as built) and the time to install it
// into a fresh project offline, the way test/cli-installed.test.ts does (npm ci from a lockfile pinning the
// tarball and plughost's production dependencies; npm's cache is warm, so this is unpacking and linking, not
// downloading). Median of 3 fresh projects, with min and max.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { installOffline, packRepository, writeProject } from "../test/helpers/installed-project.mjs";
import { median } from "./stats.mjs";

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
    const result = {
      package_tarball_bytes,
      package_install_s: +median(seconds).toFixed(2),
      package_install_s_min: +Math.min(...seconds).toFixed(2),
      package_install_s_max: +Math.max(...seconds).toFixed(2),
    };
    console.log(`main tarball ${package_tarball_bytes} bytes (goal ≤ 2 MB)`);
    console.log(`install ${result.package_install_s} s median of 3 (${result.package_install_s_min}–${result.package_install_s_max}; goal ≤ 30 s)`);
    return result;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
