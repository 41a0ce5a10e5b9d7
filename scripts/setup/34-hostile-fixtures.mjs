// The hostile-plugin corpus (test/fixtures/c/hostile-*, used by test/hostile.test.ts),
// built from source with the C SDK. Plain ones (a plugin.toml) are built as step 30
// builds every C fixture, under the same stamps, so whichever step runs first builds
// them once. A fixture with its own .wit (hostile-socket: it imports wasi:sockets,
// which the plughost world does not) has a plugin.json instead, which step 30 does
// not pick up, and is built here with that WIT embedded next to the plugin world.
import { readdirSync, readFileSync, existsSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { root, buildIfChanged } from "./_util.mjs";

export const name = "hostile C fixtures (test/fixtures/c/hostile-*)";
export const aptPackages = ["clang-16", "lld-16", "wasi-libc", "libclang-rt-16-dev-wasm32"];

const base = path.join(root, "test", "fixtures", "c");

/** Core module → plugin world embedded → the fixture's extra WIT world embedded → component. */
async function buildWithExtraWit(dir, witFile) {
  const { buildCPluginCore } = await coreBuilder();
  const { componentEmbed, componentNew } = await import("@bytecodealliance/jco-transpile/wasm-tools");
  const binary = buildCPluginCore(dir);
  const pluginWit = readFileSync(path.join(root, "wit", "plugin.wit"), "utf8");
  const extraWit = readFileSync(witFile, "utf8");
  const world = /^\s*world\s+([a-z0-9-]+)/m.exec(extraWit)?.[1];
  if (!world) throw new Error(`${witFile}: no world`);
  let embedded = await componentEmbed({ binary, witSource: pluginWit, world: "plugin" });
  embedded = await componentEmbed({ binary: embedded, witSource: extraWit, world });
  writeFileSync(path.join(dir, "plugin.wasm"), await componentNew(embedded, []));
}

/** clang for wasm32-wasi with the SDK glue, as guest-sdks/c/build.mjs runs it; returns the core module. */
async function coreBuilder() {
  const { findClang } = await import(path.join(root, "guest-sdks/c/build.mjs"));
  const sdk = path.join(root, "guest-sdks", "c");
  return {
    buildCPluginCore(dir) {
      const sources = readdirSync(dir).filter((f) => f.endsWith(".c")).map((f) => path.join(dir, f));
      const tmp = mkdtempSync(path.join(tmpdir(), "plughost-hostile-"));
      try {
        const core = path.join(tmp, "core.wasm");
        const args = ["--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wall", "-Wextra", "-I", path.join(sdk, "include"),
          ...sources, path.join(sdk, "src", "plughost_component.c"), "-Wl,--strip-debug", "-o", core];
        const r = spawnSync(findClang(), args, { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`clang failed for ${dir}:\n${r.stderr}`);
        const bytes = new Uint8Array(readFileSync(core));
        if (WebAssembly.Module.imports(new WebAssembly.Module(bytes)).some((i) => i.module === "wasi_snapshot_preview1")) {
          throw new Error(`${dir}: a fixture with its own WIT must not need the preview1 adapter`);
        }
        return bytes;
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    },
  };
}

export async function run() {
  if (!existsSync(base)) return;
  const { buildCPlugin } = await import(path.join(root, "guest-sdks/c/build.mjs"));
  for (const d of readdirSync(base, { withFileTypes: true })) {
    if (!d.isDirectory() || !d.name.startsWith("hostile-")) continue;
    const dir = path.join(base, d.name);
    const rel = path.relative(root, dir);
    const wit = readdirSync(dir).find((f) => f.endsWith(".wit"));
    // Same stamp name as step 30 for the plain fixtures.
    const stamp = `.cache/stamps/c-${rel.replace(/[\\/]/g, "_")}`;
    await buildIfChanged(stamp, [rel, "guest-sdks/c", "guest-sdks/component.mjs", "wit"], [path.join(rel, "plugin.wasm")], () =>
      wit ? buildWithExtraWit(dir, path.join(dir, wit)) : buildCPlugin(dir),
    );
  }
}
