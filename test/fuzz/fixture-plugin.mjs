// The small, fixed plugin the signature fuzz target verifies signatures of, and the
// package its package.sig half is checked against. Fixed bytes, so the seed
// signatures made by make-seeds.mjs keep verifying.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

export const SIG_PLUGIN_NAME = "fuzz-sig";
export const SIG_MANIFEST = `name = "${SIG_PLUGIN_NAME}"
version = "1.2.3"
api-version = "^0.1.0"
entry = "plugin.wasm"
capabilities = ["clock"]
`;
// A valid, empty core module header: verification hashes the entry, it never compiles it.
export const SIG_ENTRY = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/** Write the plugin into `dir` (created); returns the manifest path. */
export function writeSigPlugin(dir) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "plugin.toml"), SIG_MANIFEST);
  writeFileSync(path.join(dir, "plugin.wasm"), SIG_ENTRY);
  return path.join(dir, "plugin.toml");
}
