/** Real plugin packages for the installer tests: examples/c/hello (or transform) under other names, versions and dependencies. */
import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { packPlugin } from "../../src/package/index.js";
import type { PluginPackage } from "../../src/package/types.js";
import { publicKeyToBase64, type SignaturePolicy } from "../../src/plugin/signatures.js";
import { pluginDir } from "./plugins.js";

/** A temp directory. */
export function tempDir(prefix = "plughost-install-"): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** An Ed25519 signing key and a trust list that trusts it under `id`. */
export function signingKey(id = "release"): { key: KeyObject; keyId: string; publicKey: string; policy: SignaturePolicy } {
  const { privateKey } = generateKeyPairSync("ed25519");
  const publicKey = publicKeyToBase64(privateKey);
  return { key: privateKey, keyId: id, publicKey, policy: { keys: { [id]: publicKey } } };
}

/** Options of `makePackage`. */
export interface FixturePlugin {
  name: string;
  version: string;
  /** `[dependencies]`: name → range. */
  dependencies?: Record<string, string>;
  /** Which example's component: hello (answers greet) or transform (upper-cases). */
  example?: "hello" | "transform";
  /** Sign with this key (plugin.sig and package.sig). */
  signer?: { key: KeyObject; keyId: string };
}

/** A plugin directory for `p`: the example's component and a manifest naming p's name, version and dependencies. */
export function makePluginDir(p: FixturePlugin): string {
  const dir = tempDir("plughost-fixture-");
  const src = pluginDir(`examples/c/${p.example ?? "hello"}`);
  cpSync(path.join(src, "plugin.wasm"), path.join(dir, "plugin.wasm"));
  const deps = Object.entries(p.dependencies ?? {});
  const toml = [
    `name = "${p.name}"`,
    `version = "${p.version}"`,
    `api-version = "^0.1.0"`,
    `description = "${p.name} for the installer tests"`,
    `license = "Apache-2.0"`,
    `kind = "component"`,
    `entry = "plugin.wasm"`,
    ...(deps.length ? ["", "[dependencies]", ...deps.map(([n, r]) => `${n} = "${r}"`)] : []),
    "",
  ].join("\n");
  writeFileSync(path.join(dir, "plugin.toml"), toml);
  return dir;
}

/** A packed (and, with a signer, signed) package of `p`, created at a fixed time so packing is reproducible. */
export async function makePackage(p: FixturePlugin): Promise<PluginPackage> {
  const dir = makePluginDir(p);
  const created = new Date("2026-01-01T00:00:00Z");
  return packPlugin(dir, p.signer ? { key: p.signer.key, keyId: p.signer.keyId, created } : { created });
}

/**
 * Everything under `dir` as path → description (file sha256, link target, "dir"), dot entries included: two
 * snapshots are equal when nothing was written, renamed or removed.
 */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out[r] = `link -> ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[r] = "dir";
        walk(p, r);
      } else out[r] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir, "");
  return out;
}
