import { spawnSync } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  loadManifest,
  PluginRegistry,
  publicKeyToBase64,
  SIGNATURE_FILE,
  signPlugin,
  validateHostConfig,
  VerificationError,
  verifySignature,
  compileTrustList,
  HostConfigError,
  type SignatureFile,
  type SignaturePolicy,
} from "../src/index.js";
import { copyPlugin, dec, enc, root, silentLogger } from "./helpers/plugins.js";

const HELLO = "examples/c/hello";
const cli = path.join(root, "dist/cli/index.js");

const newKey = (): { privateKey: KeyObject; publicKey: string } => {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey: publicKeyToBase64(privateKey) };
};
const acme = newKey();
const other = newKey();

let registry: PluginRegistry | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await registry?.unloadAll();
  registry = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const newRegistry = (signatures?: SignaturePolicy) =>
  (registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, ...(signatures ? { signatures } : {}) }));
const trusting = (extra: Partial<SignaturePolicy> = {}): SignaturePolicy => ({ require: true, keys: { acme: acme.publicKey }, ...extra });

/** A fresh copy of hello, signed with `key` as `keyId`. */
async function signedHello(key: KeyObject = acme.privateKey, keyId = "acme"): Promise<string> {
  const dir = copyPlugin(HELLO);
  dirs.push(dir);
  await signPlugin(dir, key, keyId);
  return dir;
}

const sigOf = (dir: string): SignatureFile => JSON.parse(readFileSync(path.join(dir, SIGNATURE_FILE), "utf8")) as SignatureFile;

/** Loading `dir` refuses with a VerificationError naming hello-c and matching `reason`; nothing is left loaded. */
async function expectRefused(r: PluginRegistry, dir: string, reason: RegExp): Promise<VerificationError> {
  const err = await r.load(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VerificationError);
  const v = err as VerificationError;
  expect(v.code).toBe("E_VERIFICATION_FAILED");
  expect(v.plugin).toBe("hello-c");
  expect(v.message).toMatch(reason);
  expect(r.isLoaded("hello-c")).toBe(false);
  return v;
}

describe("Ed25519 signatures", () => {
  it("a signed plugin loads under require and works", async () => {
    const dir = await signedHello();
    const sig = sigOf(dir);
    expect(sig).toMatchObject({ format: "plughost-signature-v1", key: "acme", name: "hello-c", version: "0.1.0" });
    expect(sig.entry).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(Buffer.from(sig.signature, "base64")).toHaveLength(64);

    const hello = await newRegistry(trusting()).load(dir);
    expect(hello.state).toBe("active");
    const out = await hello.hook("greet", enc("signed"));
    expect(out.ok && dec(out.data)).toBe("hello, signed!");
    expect(await verifySignature(await loadManifest(dir), compileTrustList(trusting()))).toEqual({ signed: true, key: "acme", level: "verified" });
  });

  it("refuses changed entry bytes before compiling them", async () => {
    const dir = await signedHello();
    // Not even a Wasm module: a load that compiled first would fail with E_INVALID_BINARY instead.
    writeFileSync(path.join(dir, "plugin.wasm"), "not wasm at all");
    await expectRefused(newRegistry(trusting()), dir, /plugin\.wasm: digest mismatch: changed after signing/);
  });

  it("refuses a changed manifest (a bumped version)", async () => {
    const dir = await signedHello();
    const toml = path.join(dir, "plugin.toml");
    writeFileSync(toml, readFileSync(toml, "utf8").replace('version = "0.1.0"', 'version = "0.1.1"'));
    const err = await expectRefused(newRegistry(trusting()), dir, /plugin\.toml: digest mismatch/);
    expect(err.message).toContain("signed hello-c@0.1.0, now hello-c@0.1.1");
  });

  it("refuses an altered signature, and a signature by another key under a trusted id", async () => {
    const dir = await signedHello();
    const sig = sigOf(dir);
    const bytes = Buffer.from(sig.signature, "base64");
    bytes[10]! ^= 0x01;
    writeFileSync(path.join(dir, SIGNATURE_FILE), JSON.stringify({ ...sig, signature: bytes.toString("base64") }));
    await expectRefused(newRegistry(trusting()), dir, /plugin\.sig: bad signature: it does not verify with key "acme"/);

    const forged = await signedHello(other.privateKey, "acme");
    await expectRefused(newRegistry(trusting()), forged, /bad signature/);
  });

  it("refuses a signature whose claims were edited to match tampered files", async () => {
    const dir = await signedHello();
    writeFileSync(path.join(dir, "plugin.wasm"), "evil");
    const sig = sigOf(dir);
    const evil = "sha256-" + (await import("node:crypto")).createHash("sha256").update("evil").digest("hex");
    writeFileSync(path.join(dir, SIGNATURE_FILE), JSON.stringify({ ...sig, entry: evil }));
    await expectRefused(newRegistry(trusting()), dir, /bad signature/);
  });

  it("refuses an unknown key id, and a malformed signature file", async () => {
    const dir = await signedHello(other.privateKey, "stranger");
    await expectRefused(newRegistry(trusting()), dir, /signed with key "stranger", which is not in the trust list/);
    // Also without require: a present signature must verify.
    await expectRefused(newRegistry(trusting({ require: false })), dir, /not in the trust list/);

    writeFileSync(path.join(dir, SIGNATURE_FILE), '{"key": "acme"}');
    await expectRefused(newRegistry(trusting()), dir, /not a valid plughost signature file: field "format" is missing/);
  });

  it("unsigned: refused under require, loaded without it", async () => {
    const dir = copyPlugin(HELLO);
    dirs.push(dir);
    await expectRefused(newRegistry(trusting()), dir, /plugin\.sig: is missing and signatures are required; sign it with plughost sign/);
    await registry!.unloadAll();

    expect((await newRegistry(trusting({ require: false })).load(dir)).state).toBe("active");
    await registry!.unloadAll();
    expect((await newRegistry().load(dir)).state).toBe("active");
  });

  it("without require, a signed plugin is still verified", async () => {
    const dir = await signedHello();
    writeFileSync(path.join(dir, "plugin.wasm"), "tampered");
    await expectRefused(newRegistry(trusting({ require: false })), dir, /digest mismatch/);
  });

  it("pins: only the pinned keys may sign a plugin, and a pinned plugin must be signed", async () => {
    const policy = trusting({ require: false, keys: { acme: acme.publicKey, other: other.publicKey }, pins: { "hello-c": ["acme"] } });
    const byOther = await signedHello(other.privateKey, "other");
    await expectRefused(newRegistry(policy), byOther, /signed with key "other", but hello-c is pinned to key acme/);

    const unsigned = copyPlugin(HELLO);
    dirs.push(unsigned);
    await expectRefused(newRegistry(policy), unsigned, /is missing, and hello-c is pinned to key acme/);

    expect((await newRegistry(policy).load(await signedHello())).state).toBe("active");
  });

  it("refuses a manifest that differs from the one whose bytes were verified", async () => {
    const dir = await signedHello();
    const m = await loadManifest(dir);
    const err = await verifySignature({ ...m, capabilities: ["stdio"] }, compileTrustList(trusting())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as Error).message).toMatch(/plugin\.toml: changed while the plugin was loading/);
  });

  it("an invalid trust list is refused when the registry is made, and in a host config", () => {
    expect(() => newRegistry({ keys: { acme: "c2hvcnQ=" } })).toThrow(/invalid trust list: signatures\/keys\/acme: must be an Ed25519 public key/);
    expect(() => newRegistry({ keys: { acme: acme.publicKey }, pins: { "hello-c": ["ghost"] } })).toThrow(VerificationError);
    registry = undefined;

    const ok = validateHostConfig({ signatures: { require: true, keys: { acme: acme.publicKey }, pins: { "hello-c": ["acme"] } } });
    expect(ok.signatures).toEqual({ require: true, keys: { acme: acme.publicKey }, pins: { "hello-c": ["acme"] } });
    const bad = (() => {
      try {
        validateHostConfig({ signatures: { keys: { acme: "nope" }, pins: { "hello-c": ["ghost"] } } });
      } catch (e) {
        return e;
      }
    })();
    expect(bad).toBeInstanceOf(HostConfigError);
    expect((bad as HostConfigError).problems.map((p) => p.pointer).sort()).toEqual(["/signatures/keys/acme", "/signatures/pins/hello-c/0"]);
  });
});

describe("plughost keygen + sign", () => {
  const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });

  it("have --help", () => {
    for (const cmd of ["keygen", "sign"]) {
      const r = run([cmd, "--help"]);
      expect(r.status, cmd).toBe(0);
      expect(r.stdout).toContain(`plughost ${cmd}`);
    }
    expect(run(["sign", "x"]).stderr).toContain("sign needs --key");
  });

  it("round trip: keygen, sign, and the registry accepts the signature under require", async () => {
    const keys = mkdtempSync(path.join(tmpdir(), "plughost-keys-"));
    dirs.push(keys);
    const kg = run(["keygen", "release-2026", "--out", keys, "--json"]);
    expect(kg.status, kg.stderr).toBe(0);
    const made = JSON.parse(kg.stdout) as { keyId: string; publicKey: string; privateKeyFile: string; publicKeyFile: string };
    expect(made.keyId).toBe("release-2026");
    expect(readFileSync(made.publicKeyFile, "utf8").trim()).toBe(made.publicKey);
    expect(statSync(made.privateKeyFile).mode & 0o077).toBe(0); // private key readable by its owner only
    expect(run(["keygen", "release-2026", "--out", keys]).status).toBe(2); // never overwrites a key

    const dir = copyPlugin(HELLO);
    dirs.push(dir);
    const s = run(["sign", dir, "--key", made.privateKeyFile]);
    expect(s.status, s.stderr).toBe(0);
    expect(s.stdout).toContain('signed hello-c@0.1.0 with key "release-2026"');
    expect(sigOf(dir).key).toBe("release-2026");

    const hello = await newRegistry({ require: true, keys: { [made.keyId]: made.publicKey } }).load(dir);
    expect(hello.state).toBe("active");
    await registry!.unloadAll();

    // --key-id overrides the name taken from the key file; the trust list must then know that id.
    expect(run(["sign", dir, "--key", made.privateKeyFile, "--key-id", "ci"]).status).toBe(0);
    await expectRefused(newRegistry({ require: true, keys: { [made.keyId]: made.publicKey } }), dir, /key "ci", which is not in the trust list/);
  });

  it("run applies the host config's signatures section", async () => {
    const cfgDir = mkdtempSync(path.join(tmpdir(), "plughost-cfg-"));
    dirs.push(cfgDir);
    const config = path.join(cfgDir, "plughost.config.json");
    writeFileSync(config, JSON.stringify({ signatures: { require: true, keys: { acme: acme.publicKey } } }));
    const unsigned = copyPlugin(HELLO);
    dirs.push(unsigned);
    const refused = run(["run", unsigned, "--config", config, "--event", "greet=x"]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/failed to load .*plugin\.toml: E_VERIFICATION_FAILED \[hello-c\] .*plugin\.sig: is missing and signatures are required/);

    const ok = run(["run", await signedHello(), "--config", config, "--event", "greet=x", "--json"]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('"loaded":"hello-c"');
  });
});
