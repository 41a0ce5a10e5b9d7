// Fuzz target: the manifest parser and validator on plugin.toml text (TOML syntax,
// schema, semantic checks). Only a ManifestError (a PlughostError) may escape.
import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseManifest } from "../../../dist/plugin/manifest.js";
import { expectTyped } from "../expected.mjs";

// A plugin's config and endpoint schemas are compiled by ajv into a validator function, so
// their strings reach `new Function` as quoted data, which Jazzer's remote-code-execution
// canary cannot tell from code. test/fuzz-regressions.test.ts tries real injections
// through parseManifest instead; the canary inputs the fuzzer found are kept as regressions.
export const disableBugDetectors = ["remote-code-execution"];

// An empty directory: a manifest that names files (config schema, wasm) finds nothing there.
const dir = path.join(os.tmpdir(), `plughost-fuzz-${process.pid}`, "manifest-toml");
mkdirSync(dir, { recursive: true });
const file = path.join(dir, "plugin.toml");

/** @param {Buffer} data */
export function fuzz(data) {
  return expectTyped(() => parseManifest(data.toString("utf8"), file));
}
