// Fuzz target: the two signature statement parsers and what follows them.
//   first byte even: the rest is a plugin.sig next to a fixed plugin, checked by
//     verifySignature (parse, signer lookup and revocation, pins, Ed25519, digests);
//   first byte odd: the rest is the package.sig of a fixed package, checked by
//     packageFromParts (strict, canonical layout) and verifyPackage.
// The trust list holds a fixed test key (keys.mjs) whose signatures seed the corpus.
// Only a PlughostError may escape.
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseManifest } from "../../../dist/plugin/manifest.js";
import { compileTrustList, verifySignature } from "../../../dist/plugin/signatures.js";
import { packageFromParts } from "../../../dist/package/read.js";
import { verifyPackage } from "../../../dist/package/sign.js";
import { expectTyped } from "../expected.mjs";
import { FUZZ_TRUST_POLICY } from "../keys.mjs";
import { SIG_MANIFEST, writeSigPlugin } from "../fixture-plugin.mjs";
import { fixturePackageParts } from "../fixture-package.mjs";

export const fuzzMode = "async";

const dir = path.join(os.tmpdir(), `plughost-fuzz-${process.pid}`, "signature");
const manifestFile = writeSigPlugin(dir);
const sigFile = path.join(dir, "plugin.sig");
const manifest = parseManifest(SIG_MANIFEST, manifestFile, { checkEntry: false });
const trust = compileTrustList(FUZZ_TRUST_POLICY);
const parts = await fixturePackageParts();

/** @param {Buffer} data */
export function fuzz(data) {
  const body = data.subarray(1);
  if (((data[0] ?? 0) & 1) === 0) {
    writeFileSync(sigFile, body);
    return expectTyped(() => verifySignature(manifest, trust));
  }
  return expectTyped(() => {
    const pkg = packageFromParts(parts.metadataBytes, parts.files, body, "fuzz.plughost");
    verifyPackage(pkg, trust, { requireSignature: true, expectName: pkg.metadata.name });
  });
}
