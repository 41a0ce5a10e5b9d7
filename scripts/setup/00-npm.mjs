// npm packages: install when node_modules is missing or older than the lockfile.
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { root, sh } from "./_util.mjs";

export const name = "npm packages";
export async function run() {
  const marker = path.join(root, "node_modules", ".package-lock.json");
  const lock = path.join(root, "package-lock.json");
  const pkg = path.join(root, "package.json");
  const stale =
    !existsSync(marker) ||
    (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs) ||
    statSync(pkg).mtimeMs > statSync(marker).mtimeMs;
  if (!stale) return;
  console.log("[setup] npm install");
  sh("npm", [existsSync(lock) ? "ci" : "install", "--no-audit", "--no-fund"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
}
