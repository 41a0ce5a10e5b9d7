// Fuzz target: the manifest parser and validator on plugin.json text (JSON syntax,
// schema, semantic checks). Only a ManifestError (a PlughostError) may escape.
import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseManifest } from "../../../dist/plugin/manifest.js";
import { expectTyped } from "../expected.mjs";

// An empty directory: a manifest that names files (config schema, wasm) finds nothing there.
const dir = path.join(os.tmpdir(), `plughost-fuzz-${process.pid}`, "manifest-json");
mkdirSync(dir, { recursive: true });
const file = path.join(dir, "plugin.json");

/** @param {Buffer} data */
export function fuzz(data) {
  return expectTyped(() => parseManifest(data.toString("utf8"), file));
}
