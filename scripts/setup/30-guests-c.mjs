// C guests: the examples and test plugins written with the C SDK, built into components.
import { readdirSync, readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { root, buildIfChanged } from "./_util.mjs";

export const name = "C guests (clang wasm32-wasi)";
export const aptPackages = ["clang-16", "lld-16", "wasi-libc", "libclang-rt-16-dev-wasm32"];

/** Every directory holding a plugin.toml and .c sources, under examples/c and test/fixtures/c. */
export function cPluginDirs() {
  const dirs = [];
  for (const base of ["examples/c", "test/fixtures/c"]) {
    const abs = path.join(root, base);
    if (!existsSync(abs)) continue;
    for (const d of readdirSync(abs, { withFileTypes: true })) {
      const dir = path.join(abs, d.name);
      if (d.isDirectory() && existsSync(path.join(dir, "plugin.toml")) && readdirSync(dir).some((f) => f.endsWith(".c"))) dirs.push(dir);
    }
  }
  return dirs;
}

/**
 * `.c` and `.h` files a plugin's sources #include from elsewhere (a fixture built over an example or another fixture), and
 * those they include in turn, so edits there rebuild it.
 */
function includedSources(dir) {
  const found = new Set();
  const scan = (file) => {
    for (const m of readFileSync(file, "utf8").matchAll(/^#include "([^"]+\.[ch])"/gm)) {
      const included = path.resolve(path.dirname(file), m[1]);
      const rel = path.relative(root, included);
      if (found.has(rel)) continue;
      found.add(rel);
      scan(included);
    }
  };
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".c"))) scan(path.join(dir, f));
  return [...found];
}

export async function run() {
  const { buildCPlugin } = await import(path.join(root, "guest-sdks/c/build.mjs"));
  for (const dir of cPluginDirs()) {
    const rel = path.relative(root, dir);
    await buildIfChanged(`.cache/stamps/c-${rel.replace(/[\\/]/g, "_")}`, [rel, "guest-sdks/c", "guest-sdks/component.mjs", "wit", ...includedSources(dir)], [path.join(rel, "plugin.wasm")], () =>
      buildCPlugin(dir),
    );
  }
}
