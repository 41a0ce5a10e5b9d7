// Fuzz target: the package reader on mutated real packages (seeds: make-seeds.mjs).
// The input is a .plughost file; it goes the way materializePackage takes it: readPackage
// (bounded tar, metadata, package.sig, digests), verifyPackage against a trust list with
// the fixed test key, the platform check, then extractPackage into a fresh directory
// (path checks, no overwrite). Only a PlughostError may escape.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { compileTrustList } from "../../../dist/plugin/signatures.js";
import { readPackage } from "../../../dist/package/read.js";
import { verifyPackage } from "../../../dist/package/sign.js";
import { platformProblem } from "../../../dist/package/load.js";
import { extractPackage } from "../../../dist/package/extract.js";
import { expectTyped } from "../expected.mjs";
import { FUZZ_TRUST_POLICY } from "../keys.mjs";

export const fuzzMode = "async";

const trust = compileTrustList(FUZZ_TRUST_POLICY);
const base = mkdtempSync(path.join(os.tmpdir(), `plughost-fuzz-package-`));

/** @param {Buffer} data */
export function fuzz(data) {
  return expectTyped(async () => {
    const pkg = readPackage(new Uint8Array(data.buffer, data.byteOffset, data.length), "fuzz.plughost");
    verifyPackage(pkg, trust, { file: "fuzz.plughost" });
    platformProblem(pkg);
    const dir = path.join(base, "x");
    try {
      await extractPackage(pkg, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
