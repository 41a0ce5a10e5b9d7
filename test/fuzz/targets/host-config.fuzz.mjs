// Fuzz target: the host-config loader (loadHostConfig) on a plughost.config.json or
// .toml file: syntax, schema, capability grammar in grants, limits and byte sizes,
// serve, signatures and context sections. The first byte picks the format ('t' for
// TOML, anything else JSON); the rest is the file. Only a PlughostError may escape.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadHostConfig } from "../../../dist/runtime/host-config.js";
import { expectTyped } from "../expected.mjs";

export const fuzzMode = "async";
// The host config is the operator's own file: reading a trust list it names outside
// its directory (signatures.file = "../x") is intended, not a path traversal.
export const disableBugDetectors = ["path-traversal"];

const dir = path.join(os.tmpdir(), `plughost-fuzz-${process.pid}`, "host-config");
mkdirSync(dir, { recursive: true });
const jsonFile = path.join(dir, "plughost.config.json");
const tomlFile = path.join(dir, "plughost.config.toml");

/** @param {Buffer} data */
export function fuzz(data) {
  const file = data[0] === 0x74 ? tomlFile : jsonFile;
  writeFileSync(file, data.subarray(1));
  return expectTyped(() => loadHostConfig(file));
}
