// Build the JavaScript/TypeScript example plugins (examples/js/*) into
// components with componentize-js, one at a time (each takes ~8 s and a core).
import { readdirSync, existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { root, buildIfChanged } from "./_util.mjs";

export const name = "JS guest examples (componentize-js)";

const SDK_INPUTS = [
  "guest-sdks/js/src",
  "guest-sdks/js/build.mjs",
  "wit/plugin.wit",
  "node_modules/@bytecodealliance/componentize-js/package.json",
];

export async function run() {
  const examples = path.join(root, "examples", "js");
  if (!existsSync(examples)) return;
  let build;
  for (const ex of readdirSync(examples, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()) {
    const dir = path.join(examples, ex);
    // The directory minus its output: plugin.wasm is written into it.
    const sources = readdirSync(dir).filter((f) => !f.endsWith(".wasm")).map((f) => path.join("examples", "js", ex, f));
    await buildIfChanged(`.cache/stamps/guest-js-${ex}`, [...sources, ...SDK_INPUTS], [path.join("examples", "js", ex, "plugin.wasm")], async () => {
      build ??= (await import(pathToFileURL(path.join(root, "guest-sdks", "js", "build.mjs")).href)).buildJsPlugin;
      const t0 = performance.now();
      const r = await build(dir);
      const ext = r.imports.filter((i) => !i.startsWith("plughost:"));
      console.log(`[setup] examples/js/${ex}: ${(r.bytes.length / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s; WASI imports: ${ext.length ? ext.join(", ") : "none"}`);
    });
  }
}
