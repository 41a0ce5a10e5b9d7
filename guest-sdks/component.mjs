// What the C and Go build scripts share: the WASI preview1 reactor adapter,
// the core module → component step against wit/plugin.wit, and the CLI entry.
import { existsSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** jco's preview1 reactor adapter, which turns wasi_snapshot_preview1 imports into WASI 0.2 ones. */
export function preview1Adapter() {
  const candidates = [
    path.join(root, "node_modules", "@bytecodealliance", "jco", "lib"),
    path.join(root, "node_modules", "@bytecodealliance", "componentize-js", "node_modules", "@bytecodealliance", "jco", "lib"),
  ].map((d) => path.join(d, "wasi_snapshot_preview1.reactor.wasm"));
  const file = candidates.find((f) => existsSync(f));
  if (!file) throw new Error(`the WASI preview1 reactor adapter is missing (looked for ${candidates.join(", ")}): run npm install`);
  return new Uint8Array(readFileSync(file));
}

/** Embed the plughost world into a core module, make it a component with `adapters`, write it to `outFile`. */
export async function componentize(binary, adapters, outFile) {
  const { componentEmbed, componentNew } = await import("@bytecodealliance/jco-transpile/wasm-tools");
  const witSource = readFileSync(path.join(root, "wit", "plugin.wit"), "utf8");
  const embedded = await componentEmbed({ binary, witSource, world: "plugin" });
  const component = await componentNew(embedded, adapters);
  writeFileSync(outFile, component);
  return component;
}

/** `node guest-sdks/<lang>/build.mjs <plugin-dir> [--out file.wasm]`, when `metaUrl` is the script run. */
export async function buildCli(metaUrl, lang, build) {
  if (!process.argv[1] || realpathSync(path.resolve(process.argv[1])) !== realpathSync(fileURLToPath(metaUrl))) return;
  const [dir, flag, out] = process.argv.slice(2);
  if (!dir) {
    console.error(`usage: node guest-sdks/${lang}/build.mjs <plugin-dir> [--out file.wasm]`);
    process.exit(2);
  }
  try {
    const bytes = await build(path.resolve(dir), flag === "--out" && out ? path.resolve(out) : undefined);
    console.log(`${dir}: ${bytes.length} bytes`);
  } catch (err) {
    // A build failure is the user's to fix: its message, not a stack trace.
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
