// Compile the host library and CLI (src/ -> dist/).
import { root, sh, buildIfChanged } from "./_util.mjs";

export const name = "host library (tsc)";
export async function run() {
  await buildIfChanged(".cache/stamps/tsc", ["src", "tsconfig.json", "package.json"], ["dist/index.js", "dist/cli/index.js"], () => {
    sh("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  });
}
