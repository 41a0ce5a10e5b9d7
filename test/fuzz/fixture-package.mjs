// The fixed package (of fixture-plugin.mjs's plugin) the signature target checks
// package.sig files against: packed once into a temporary directory per process.
import os from "node:os";
import path from "node:path";
import { packPlugin } from "../../dist/package/pack.js";
import { writeSigPlugin } from "./fixture-plugin.mjs";

/** A fixed creation time, so the metadata bytes (and the seed signatures over them) never change. */
export const FIXTURE_CREATED = new Date("2026-01-01T00:00:00Z");

/** Pack the fixture plugin (unsigned); `key`/`keyId` sign it as plughost pack --key would. */
export async function fixturePackage(options = {}) {
  const dir = path.join(os.tmpdir(), `plughost-fuzz-${process.pid}`, "fixture-package");
  writeSigPlugin(dir);
  return packPlugin(dir, { created: FIXTURE_CREATED, ...options });
}

/** The parts packageFromParts takes: metadata bytes and files. */
export async function fixturePackageParts() {
  const pkg = await fixturePackage();
  return { metadataBytes: pkg.metadataBytes, files: pkg.files };
}
