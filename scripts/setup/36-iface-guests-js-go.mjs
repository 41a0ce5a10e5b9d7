// Guests built against the test application's WIT world (test/fixtures/wit/acme-app): the JS fixture (componentize-js)
// and the Go fixture (Go 1.24+ with hand-written canonical-ABI glue) under test/fixtures/iface/. Their toolchains are
// the ones steps 31 and 33 use; nothing is installed here.
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { root, buildIfChanged } from "./_util.mjs";

export const name = "app-world guests (JS with componentize-js, Go with hand-written glue)";

const APP_WIT = "test/fixtures/wit/acme-app";

/** Each fixture: its language and the world of app.wit it implements. */
export const IFACE_GUESTS_JS_GO = {
  "js-mirror": { lang: "js", world: "mirror-plugin" },
  "go-mirror": { lang: "go", world: "mirror-plugin" },
};

const SDK_INPUTS = {
  js: ["guest-sdks/js/src", "guest-sdks/js/build.mjs", "guest-sdks/component.mjs", "guest-sdks/app-world.mjs", "wit/plugin.wit", "node_modules/@bytecodealliance/componentize-js/package.json"],
  go: ["guest-sdks/go/go.mod", "guest-sdks/go/plughost.go", "guest-sdks/go/internal", "guest-sdks/go/cabi", "guest-sdks/go/build.mjs", "guest-sdks/go/stdio-adapter.wat", "guest-sdks/component.mjs", "guest-sdks/app-world.mjs", "wit/plugin.wit"],
};

export async function run() {
  const base = path.join(root, "test", "fixtures", "iface");
  const wanted = Object.entries(IFACE_GUESTS_JS_GO).filter(([dir]) => existsSync(path.join(base, dir, "plugin.toml")));
  for (const [dir, { lang, world }] of wanted) {
    const rel = path.join("test", "fixtures", "iface", dir);
    const app = { wit: path.join(root, APP_WIT), world };
    let stamp = `.cache/stamps/iface-${dir}`;
    let go;
    if (lang === "go") {
      const sdk = await import(pathToFileURL(path.join(root, "guest-sdks", "go", "build.mjs")).href);
      go = sdk;
      // A new Go release rebuilds: the version is part of the stamp.
      stamp += `-${spawnSync(sdk.findGo(), ["env", "GOVERSION"], { encoding: "utf8" }).stdout.trim()}`;
    }
    await buildIfChanged(stamp, [rel, APP_WIT, ...SDK_INPUTS[lang]], [path.join(rel, "plugin.wasm")], async () => {
      const t0 = performance.now();
      let bytes;
      if (lang === "js") {
        const { buildJsPlugin } = await import(pathToFileURL(path.join(root, "guest-sdks", "js", "build.mjs")).href);
        ({ bytes } = await buildJsPlugin(path.join(root, rel), { world: app }));
      } else {
        bytes = await go.buildGoPlugin(path.join(root, rel), undefined, app);
      }
      console.log(`[setup] ${rel}: ${(bytes.length / 1e6).toFixed(2)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    });
  }
}
