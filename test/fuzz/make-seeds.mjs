#!/usr/bin/env node
// Writes the generated seed inputs of the signature and package fuzz targets
// (test/fuzz/corpus/{signature,package}/gen-*): signatures made with the fixed test
// keys of keys.mjs, and real packages of small plugins. Run it again (after
// `npm run build`) when the signature or package format changes:
//   node test/fuzz/make-seeds.mjs
import { createPrivateKey } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serializeSignature } from "../../dist/package/metadata.js";
import { writePackage } from "../../dist/package/layout.js";
import { packPlugin } from "../../dist/package/pack.js";
import { signPackage } from "../../dist/package/sign.js";
import { signPlugin } from "../../dist/plugin/signatures.js";
import { fixturePackage, FIXTURE_CREATED } from "./fixture-package.mjs";
import { writeSigPlugin } from "./fixture-plugin.mjs";
import { FUZZ_KEY_ID, FUZZ_PRIVATE_KEY_PEM, REVOKED_KEY_ID, REVOKED_PRIVATE_KEY_PEM } from "./keys.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const key = createPrivateKey(FUZZ_PRIVATE_KEY_PEM);
const revoked = createPrivateKey(REVOKED_PRIVATE_KEY_PEM);

function outDir(target) {
  const d = path.join(here, "corpus", target);
  mkdirSync(d, { recursive: true });
  for (const f of readdirSync(d)) if (f.startsWith("gen-")) rmSync(path.join(d, f));
  return d;
}
const tagged = (tag, bytes) => Buffer.concat([Buffer.from([tag]), Buffer.from(bytes)]);

// signature: 0x00 + plugin.sig, 0x01 + package.sig
const sig = outDir("signature");
const work = path.join(os.tmpdir(), `plughost-fuzz-seeds-${process.pid}`);
const pluginDir = path.join(work, "sig-plugin");
writeSigPlugin(pluginDir);
const good = await signPlugin(pluginDir, key, FUZZ_KEY_ID);
writeFileSync(path.join(sig, "gen-plugin-sig-valid"), tagged(0, JSON.stringify(good.signature, null, 2) + "\n"));
const old = await signPlugin(pluginDir, revoked, REVOKED_KEY_ID);
writeFileSync(path.join(sig, "gen-plugin-sig-revoked"), tagged(0, JSON.stringify(old.signature, null, 2) + "\n"));
writeFileSync(path.join(sig, "gen-plugin-sig-other-version"), tagged(0, JSON.stringify({ ...good.signature, version: "1.2.4" })));
const pkg = await fixturePackage();
writeFileSync(path.join(sig, "gen-package-sig-valid"), tagged(1, serializeSignature(signPackage(pkg, key, FUZZ_KEY_ID).signature)));
writeFileSync(path.join(sig, "gen-package-sig-revoked"), tagged(1, serializeSignature(signPackage(pkg, revoked, REVOKED_KEY_ID).signature)));

// package: whole .plughost files of small real plugins, signed and not
const pk = outDir("package");
writeFileSync(path.join(pk, "gen-fixture-unsigned.plughost"), writePackage(pkg));
writeFileSync(path.join(pk, "gen-fixture-signed.plughost"), writePackage(signPackage(pkg, key, FUZZ_KEY_ID)));
for (const [name, dir] of [["wasmtime-fixture", "test/fixtures/wasmtime"], ["native-legacy-hello", "examples/native/legacy-hello"]]) {
  const abs = path.join(root, dir);
  if (!existsSync(abs)) throw new Error(`${dir} is missing: run npm run setup first`);
  const p = await packPlugin(abs, { created: FIXTURE_CREATED, key, keyId: FUZZ_KEY_ID });
  writeFileSync(path.join(pk, `gen-${name}.plughost`), writePackage(p));
}
rmSync(work, { recursive: true, force: true });
console.log(`wrote ${readdirSync(sig).length} signature and ${readdirSync(pk).length} package seeds`);
