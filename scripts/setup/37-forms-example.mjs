// The forms example's plugins (examples/forms, `npm run demo`): validator-rust (Rust, wit-bindgen) and normalizer-js
// (JavaScript, componentize-js), each built against its world of examples/forms/wit from its plugin.toml's
// [interfaces] wit and world. Their toolchains are the ones steps 31 and 32 set up; nothing is installed here.
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { root, buildIfChanged } from "./_util.mjs";
import { aptPackages as rustPackages } from "../../guest-sdks/rust/toolchain.mjs";

export const name = "forms example plugins (examples/forms)";
export const aptPackages = rustPackages;

const WIT = "examples/forms/wit";

/** Each plugin: its language and the SDK files its build depends on. */
export const FORMS_PLUGINS = {
  "validator-rust": {
    lang: "rust",
    inputs: ["guest-sdks/rust/src", "guest-sdks/rust/Cargo.toml", "guest-sdks/rust/build.mjs", "guest-sdks/rust/toolchain.mjs", "guest-sdks/app-world.mjs", "wit/plugin.wit"],
  },
  "normalizer-js": {
    lang: "js",
    inputs: ["guest-sdks/js/src", "guest-sdks/js/build.mjs", "guest-sdks/component.mjs", "guest-sdks/app-world.mjs", "wit/plugin.wit", "node_modules/@bytecodealliance/componentize-js/package.json"],
  },
};

export async function run() {
  for (const [dir, { lang, inputs }] of Object.entries(FORMS_PLUGINS)) {
    const rel = path.join("examples", "forms", dir);
    if (!existsSync(path.join(root, rel, "plugin.toml"))) continue;
    await buildIfChanged(`.cache/stamps/forms-${dir}`, [rel, WIT, ...inputs], [path.join(rel, "plugin.wasm")], async () => {
      const t0 = performance.now();
      let bytes;
      if (lang === "rust") {
        const { buildRustPlugin } = await import(pathToFileURL(path.join(root, "guest-sdks", "rust", "build.mjs")).href);
        ({ bytes } = await buildRustPlugin(path.join(root, rel)));
      } else {
        const { buildJsPlugin } = await import(pathToFileURL(path.join(root, "guest-sdks", "js", "build.mjs")).href);
        ({ bytes } = await buildJsPlugin(path.join(root, rel)));
      }
      console.log(`[setup] ${rel}: ${(bytes.length / 1024).toFixed(1)} KiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    });
  }
}
