/** plughost build: a plugin directory into a component, with its language's guest SDK build script. */
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { MANIFEST_FILES } from "../plugin/manifest.js";
import { packageRoot, usageError, type Command } from "./shared.js";

export const buildCommand: Command = {
  summary: "build a plugin directory into a component (detects the language)",
  usage: "plughost build [dir]   (default: the current directory, which must hold a plugin.toml or plugin.json)",
  options: {},
  async run(_values, positionals) {
    const dir = path.resolve(positionals[0] ?? ".");
    if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw usageError(`${dir} is not a directory; build takes a plugin directory`);
    const files = readdirSync(dir);
    if (!positionals[0] && !MANIFEST_FILES.some((f) => files.includes(f))) {
      throw usageError(`${dir} is not a plugin directory (no ${MANIFEST_FILES.join(" or ")}); run plughost build <dir>, or plughost new <lang> <name> to start one`);
    }
    const script = files.some((f) => f.endsWith(".c"))
      ? "guest-sdks/c/build.mjs"
      : files.includes("Cargo.toml")
        ? "guest-sdks/rust/build.mjs"
        : files.includes("go.mod")
          ? "guest-sdks/go/build.mjs"
          : files.some((f) => /\.(m?js|ts)$/.test(f))
            ? "guest-sdks/js/build.mjs"
            : undefined;
    if (!script) throw usageError(`cannot tell the language of ${dir}: expected .c files, Cargo.toml, go.mod or .js/.ts sources`);
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync(process.execPath, [path.join(packageRoot, script), dir], { stdio: "inherit" });
    return r.status ?? 1;
  },
};
