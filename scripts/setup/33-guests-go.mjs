// Go guests: the examples written with the Go SDK (examples/go/*), built into
// components with Go 1.24+ (GOOS=wasip1 -buildmode=c-shared) and the WASI
// preview1 reactor adapter. Go comes from $GO, PATH or /usr/local/go/bin; it is
// not an apt package (Debian 12's Go 1.19 cannot target wasip1).
import { readdirSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { root, buildIfChanged } from "./_util.mjs";

export const name = "Go guest examples (go wasip1 c-shared)";

// What goes into a component (not plughosttest, tests or testdata builds).
const SDK_INPUTS = [
  "guest-sdks/go/go.mod",
  "guest-sdks/go/plughost.go",
  "guest-sdks/go/internal",
  "guest-sdks/go/build.mjs",
  "guest-sdks/component.mjs",
  "guest-sdks/go/stdio-adapter.wat",
  "wit/plugin.wit",
];

export async function run() {
  const examples = path.join(root, "examples", "go");
  if (!existsSync(examples)) return;
  const sdk = await import(pathToFileURL(path.join(root, "guest-sdks", "go", "build.mjs")).href);
  const go = sdk.findGo();
  // A new Go release rebuilds everything: the version is part of the stamp.
  const goVersion = spawnSync(go, ["env", "GOVERSION"], { encoding: "utf8" }).stdout.trim();
  const dirs = readdirSync(examples, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(examples, e.name, "plugin.toml")))
    .map((e) => path.join("examples", "go", e.name))
    .sort();
  // The SDK's own stdio test plugin, used by the Go and worker-isolation tests.
  dirs.push(path.join("guest-sdks", "go", "testdata", "stdio"));
  // Test plugins written in Go (test/fixtures/go/<name>: a plugin.toml and a main package).
  const fixtures = path.join(root, "test", "fixtures", "go");
  if (existsSync(fixtures)) {
    for (const e of readdirSync(fixtures, { withFileTypes: true }).filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
      if (existsSync(path.join(fixtures, e.name, "plugin.toml"))) dirs.push(path.join("test", "fixtures", "go", e.name));
    }
  }
  for (const rel of dirs) {
    const ex = rel.replace(/[\\/]/g, "_");
    const sources = readdirSync(path.join(root, rel)).filter((f) => !f.endsWith(".wasm")).map((f) => path.join(rel, f));
    await buildIfChanged(`.cache/stamps/guest-go-${ex}-${goVersion}`, [...sources, ...SDK_INPUTS], [path.join(rel, "plugin.wasm")], async () => {
      const t0 = performance.now();
      const bytes = await sdk.buildGoPlugin(path.join(root, rel));
      console.log(`[setup] ${rel}: ${(bytes.length / 1e6).toFixed(2)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    });
  }
}
