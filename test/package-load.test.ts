// Loading a package file directly: registry.load("hello-c-0.1.0.plughost") verifies it against the trust list,
// extracts it once into <cacheDir>/packages/<digest>, and loads it from there. Real packages of examples/c/hello.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  PackageError,
  packageFromParts,
  packPlugin,
  PackageVerificationError,
  PluginRegistry,
  publicKeyToBase64,
  VerificationError,
  writePackage,
  type SignaturePolicy,
} from "../src/index.js";
import { serializeMetadata } from "../src/package/metadata.js";
import { dec, enc, pluginDir, root, silentLogger } from "./helpers/plugins.js";

const HELLO = "examples/c/hello";
const newKey = (): { privateKey: KeyObject; publicKey: string } => {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey: publicKeyToBase64(privateKey) };
};
const acme = newKey();
const other = newKey();

const registries: PluginRegistry[] = [];
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), "plughost-pkgload-"));
  dirs.push(d);
  return d;
};
afterEach(async () => {
  for (const r of registries.splice(0)) await r.unloadAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const newRegistry = (cacheDir: string | false, signatures?: SignaturePolicy): PluginRegistry => {
  const r = new PluginRegistry({ logger: silentLogger(), cacheDir, ...(signatures ? { signatures } : {}) });
  registries.push(r);
  return r;
};

/** Write a package of hello (optionally signed) into a fresh dir; returns its path. */
async function helloPackage(sign?: { key: KeyObject; keyId: string }): Promise<string> {
  const file = path.join(tempDir(), "hello-c-0.1.0.plughost");
  writeFileSync(file, writePackage(await packPlugin(pluginDir(HELLO), sign ?? {})));
  return file;
}

describe("registry.load(<package file>)", () => {
  it("loads a package file, extracted once per digest into the cache directory, and the plugin works", async () => {
    const file = await helloPackage();
    const cache = path.join(tempDir(), "cache");
    const hello = await newRegistry(cache).load(file);
    expect(hello.state).toBe("active");
    const out = await hello.hook("greet", enc("package"));
    expect(out.ok && dec(out.data)).toBe("hello, package!");
    const extracted = readdirSync(path.join(cache, "packages"));
    expect(extracted).toHaveLength(1);
    expect(extracted[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(readdirSync(path.join(cache, "packages", extracted[0]!)).sort()).toEqual(["plugin.toml", "plugin.wasm"]);

    // A second host with the same cache reuses the extraction; a damaged extraction is replaced, not loaded.
    await registries[0]!.unloadAll();
    const wasm = path.join(cache, "packages", extracted[0]!, "plugin.wasm");
    writeFileSync(wasm, "not the plugin");
    const again = await newRegistry(cache).load(file);
    expect((await again.hook("greet", enc("again"))).ok).toBe(true);
    expect(readFileSync(wasm).equals(readFileSync(path.join(pluginDir(HELLO), "plugin.wasm")))).toBe(true);
    expect(readdirSync(path.join(cache, "packages"))).toEqual(extracted); // no temp directories left behind
  });

  it("loads without a cache directory (cacheDir: false) too", async () => {
    const hello = await newRegistry(false).load(await helloPackage());
    expect(hello.name).toBe("hello-c");
  });

  it("under signatures.require loads a signed package and refuses an unsigned one before extracting", async () => {
    const policy: SignaturePolicy = { require: true, keys: { acme: acme.publicKey } };
    const signed = await helloPackage({ key: acme.privateKey, keyId: "acme" });
    const hello = await newRegistry(path.join(tempDir(), "cache"), policy).load(signed);
    expect((await hello.hook("greet", enc("signed"))).ok).toBe(true);

    const cache = path.join(tempDir(), "cache");
    const r = newRegistry(cache, policy);
    const err = await r.load(await helloPackage()).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as PackageVerificationError).reason).toBe("unsigned");
    expect(r.isLoaded("hello-c")).toBe(false);
    expect(existsSync(path.join(cache, "packages"))).toBe(false);
  });

  it("refuses a package signed by an unknown key, and a tampered package file, loading nothing", async () => {
    const r = newRegistry(path.join(tempDir(), "cache"), { keys: { acme: acme.publicKey } });
    const byOther = await helloPackage({ key: other.privateKey, keyId: "other" });
    await expect(r.load(byOther)).rejects.toMatchObject({ reason: "unknown-key", plugin: "hello-c" });

    const file = await helloPackage({ key: acme.privateKey, keyId: "acme" });
    const bytes = readFileSync(file);
    bytes[bytes.length - 1024 - 400] ^= 0xff; // inside plugin.wasm (its last 316 bytes, then 196 of padding)
    writeFileSync(file, bytes);
    await expect(r.load(file)).rejects.toMatchObject({ reason: "digest" });

    const truncated = path.join(tempDir(), "cut.plughost");
    writeFileSync(truncated, bytes.subarray(0, 3000));
    await expect(r.load(truncated)).rejects.toBeInstanceOf(PackageError);
    await expect(r.load(path.join(tempDir(), "missing.plughost"))).rejects.toBeInstanceOf(PackageError);
    expect(r.list()).toEqual([]);
  });

  it("loadAll takes package files beside plugin directories", async () => {
    const [hello] = await newRegistry(path.join(tempDir(), "cache")).loadAll([await helloPackage()]);
    expect(hello?.name).toBe("hello-c");
  });

  it("packs and loads a native plugin, recording its platform, and refuses one built for another platform", async () => {
    const native = path.join(root, "examples", "native", "legacy-hello");
    const pkg = await packPlugin(native);
    expect(pkg.metadata).toMatchObject({ kind: "native", entry: "legacy-hello.so", platform: `${process.platform}-${process.arch}` });
    const file = path.join(tempDir(), "legacy-hello-0.1.0.plughost");
    writeFileSync(file, writePackage(pkg));
    const r = newRegistry(path.join(tempDir(), "cache"));
    const handle = await r.load(file);
    expect(handle.state).toBe("active");
    expect(await r.dispatch("greet", enc("all"))).toEqual([{ plugin: "legacy-hello", status: 0 }]);
    await r.unload("legacy-hello");

    const elsewhere = process.arch === "s390x" ? "linux-x64" : "linux-s390x";
    const foreign = packageFromParts(serializeMetadata({ ...pkg.metadata, platform: elsewhere }), pkg.files);
    const foreignFile = path.join(tempDir(), "foreign.plughost");
    writeFileSync(foreignFile, writePackage(foreign));
    const err = await r.load(foreignFile).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PackageError);
    expect((err as Error).message).toMatch(new RegExp(`built for ${elsewhere}, and this host is ${process.platform}-${process.arch}`));
  });
});
