// Guests built against the test application's WIT world (test/fixtures/wit/acme-app): the C and Rust fixtures under
// test/fixtures/iface/. The C ones need wit-bindgen's C generator: guest-sdks/c/bindgen (wit-bindgen-c, pinned by its
// Cargo.lock), built once with the Rust guest toolchain's cargo into the build cache and skipped when there.
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { root, buildIfChanged } from "./_util.mjs";
import { aptPackages as cPackages } from "./30-guests-c.mjs";
import { aptPackages as rustPackages } from "../../guest-sdks/rust/toolchain.mjs";

export const name = "app-world guests (C with wit-bindgen c, Rust with wit-bindgen)";
export const aptPackages = [...new Set([...cPackages, ...rustPackages])];

const APP_WIT = "test/fixtures/wit/acme-app";

/** Each fixture: its language and the world of app.wit it implements. */
export const IFACE_GUESTS = {
  "c-probe": { lang: "c", world: "probe-plugin" },
  "rust-mirror": { lang: "rust", world: "mirror-plugin" },
  "rust-pricing": { lang: "rust", world: "pricing-plugin" },
  "c-cart": { lang: "c", world: "cart-plugin" },
  "c-loop": { lang: "c", world: "loop-plugin" },
};

const SDK_INPUTS = {
  c: ["guest-sdks/c/include", "guest-sdks/c/src", "guest-sdks/c/build.mjs", "guest-sdks/c/bindgen/Cargo.lock", "guest-sdks/c/bindgen/src", "guest-sdks/component.mjs", "guest-sdks/app-world.mjs", "wit/plugin.wit"],
  rust: ["guest-sdks/component.mjs", "guest-sdks/rust/src", "guest-sdks/rust/Cargo.toml", "guest-sdks/rust/build.mjs", "guest-sdks/rust/toolchain.mjs", "guest-sdks/app-world.mjs", "wit/plugin.wit"],
};

export async function run() {
  const base = path.join(root, "test", "fixtures", "iface");
  const wanted = Object.entries(IFACE_GUESTS).filter(([dir]) => existsSync(path.join(base, dir, "plugin.toml")));
  if (wanted.some(([, g]) => g.lang === "c")) {
    const { ensureCBindgen } = await import(pathToFileURL(path.join(root, "guest-sdks", "c", "build.mjs")).href);
    await ensureCBindgen();
  }
  for (const [dir, { lang, world }] of wanted) {
    const rel = path.join("test", "fixtures", "iface", dir);
    await buildIfChanged(`.cache/stamps/iface-${dir}`, [rel, APP_WIT, ...SDK_INPUTS[lang]], [path.join(rel, "plugin.wasm")], async () => {
      const t0 = performance.now();
      const app = { wit: path.join(root, APP_WIT), world };
      let bytes;
      if (lang === "c") {
        const { buildCPlugin } = await import(pathToFileURL(path.join(root, "guest-sdks", "c", "build.mjs")).href);
        bytes = await buildCPlugin(path.join(root, rel), undefined, app);
      } else {
        const { buildRustPlugin } = await import(pathToFileURL(path.join(root, "guest-sdks", "rust", "build.mjs")).href);
        ({ bytes } = await buildRustPlugin(path.join(root, rel), undefined, app));
      }
      console.log(`[setup] ${rel}: ${(bytes.length / 1024).toFixed(1)} KiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    });
  }
}
