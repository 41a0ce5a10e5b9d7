// Headless Chromium for the admin page's browser test (test/serve-admin-page.test.ts), which
// drives Debian's chromium through playwright-core with `executablePath`: playwright's own
// browser download is never used. PLUGHOST_CHROMIUM names another binary.
import { spawnSync } from "node:child_process";

export const name = "browser for the admin page test (chromium)";
export const aptPackages = ["chromium"];

export async function run() {
  const bin = process.env.PLUGHOST_CHROMIUM ?? "/usr/bin/chromium";
  const r = spawnSync(bin, ["--headless", "--no-sandbox", "--version"], { encoding: "utf8" });
  if (r.status !== 0) {
    console.log(`[setup] browser: ${bin} does not run (${r.error?.message ?? r.stderr.trim()}); install Debian's chromium (apt-get install chromium) or set PLUGHOST_CHROMIUM`);
  }
}
