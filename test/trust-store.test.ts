// The trust list file (docs/signatures.md): plain or AES-256-GCM encrypted at rest, the key from the option, a key
// file or PLUGHOST_TRUST_KEY; round trip, a wrong key, every flipped byte, a truncated file, a plain file swapped in
// for the encrypted one, a missing key; and the host config's signatures.file, loading a real signed plugin.
import { spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  ENCRYPTED_TRUST_LIST_FORMAT,
  encryptTrustList,
  HostConfigError,
  isEncryptedTrustList,
  loadHostConfig,
  loadTrustList,
  openTrustList,
  PluginRegistry,
  publicKeyToBase64,
  registryOptionsFrom,
  saveTrustList,
  signPlugin,
  TrustListError,
  validateHostConfig,
  VerificationError,
  type SignaturePolicy,
} from "../src/index.js";
import { copyPlugin, silentLogger } from "./helpers/plugins.js";

const tmp = mkdtempSync(path.join(tmpdir(), "plughost-trust-store-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let registry: PluginRegistry | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await registry?.unloadAll();
  registry = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const { privateKey } = generateKeyPairSync("ed25519");
const pub = publicKeyToBase64(privateKey);
const other = publicKeyToBase64(generateKeyPairSync("ed25519").privateKey);
const POLICY: SignaturePolicy = {
  require: true,
  keys: { acme: pub, old: { key: other, revoked: "2026-11-01", reason: "rotated" } },
  pins: { "hello-c": ["acme"] },
  requirements: { "net:outbound:*": "verified" },
};
const KEY = randomBytes(32);
let n = 0;
const file = (name = "trust") => path.join(tmp, `${name}-${n++}.enc`);

async function failure(p: Promise<unknown>): Promise<TrustListError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TrustListError);
  expect((err as TrustListError).code).toBe("E_TRUST_LIST");
  return err as TrustListError;
}

describe("trust list file", () => {
  it("round-trips encrypted (key as bytes, base64, hex, key file, env), 0600, nothing readable in clear", async () => {
    const f = file();
    await saveTrustList(f, POLICY, { key: KEY });
    const bytes = readFileSync(f);
    expect(isEncryptedTrustList(bytes)).toBe(true);
    expect(bytes.subarray(0, ENCRYPTED_TRUST_LIST_FORMAT.length).toString()).toBe(ENCRYPTED_TRUST_LIST_FORMAT);
    for (const clear of ["acme", pub, "hello-c", "rotated", "net:outbound"]) expect(bytes.includes(Buffer.from(clear))).toBe(false);
    expect(statSync(f).mode & 0o777).toBe(0o600);

    expect(await loadTrustList(f, { key: KEY })).toEqual(POLICY);
    expect(await loadTrustList(f, { key: KEY.toString("base64") })).toEqual(POLICY);
    expect(await loadTrustList(f, { key: KEY.toString("hex").toUpperCase() })).toEqual(POLICY);
    const keyFile = path.join(tmp, `k-${n++}`);
    writeFileSync(keyFile, KEY.toString("base64") + "\n");
    expect(await loadTrustList(f, { keyFile })).toEqual(POLICY);
    writeFileSync(keyFile, KEY); // the 32 raw bytes
    expect(await loadTrustList(f, { keyFile })).toEqual(POLICY);
    expect(await loadTrustList(f, { env: { PLUGHOST_TRUST_KEY: KEY.toString("hex") } })).toEqual(POLICY);
    expect(await openTrustList(f, { key: KEY })).toEqual({ policy: POLICY, encrypted: true });

    // A fresh nonce each save: the same list never gives the same bytes.
    const g = file();
    await saveTrustList(g, POLICY, { key: KEY });
    expect(readFileSync(g).equals(bytes)).toBe(false);
  });

  it("concurrent saves never leave a torn file: it always decrypts to one whole list, and no temporary file stays", async () => {
    const dir = mkdtempSync(path.join(tmp, "race-"));
    const f = path.join(dir, "trust.list");
    const lists = Array.from({ length: 16 }, (_, i): SignaturePolicy => ({ keys: { [`k${i}`]: i % 2 ? pub : other } }));
    await Promise.all(lists.map((l) => saveTrustList(f, l, { key: KEY })));
    const got = await loadTrustList(f, { key: KEY });
    expect(lists).toContainEqual(got);
    expect(readdirSync(dir)).toEqual(["trust.list"]);
  });

  it("a plain file round-trips without a key", async () => {
    const f = file("plain");
    await saveTrustList(f, POLICY);
    expect(JSON.parse(readFileSync(f, "utf8"))).toEqual(POLICY);
    expect(await loadTrustList(f, { env: {} })).toEqual(POLICY);
  });

  it("refuses a wrong key as decrypt, naming the file and what to check", async () => {
    const f = file();
    await saveTrustList(f, POLICY, { key: KEY });
    const err = await failure(loadTrustList(f, { key: randomBytes(32) }));
    expect(err.reason).toBe("decrypt");
    expect(err.file).toBe(f);
    expect(err.message).toBe(`${f}: cannot be decrypted: the key is wrong or the file was changed (the AES-256-GCM tag does not verify); check PLUGHOST_TRUST_KEY or the key file, or restore the file`);
  });

  it("refuses a flipped bit in every byte of the file, and a truncated file, as decrypt", async () => {
    const f = file();
    await saveTrustList(f, POLICY, { key: KEY });
    const good = readFileSync(f);
    const t = file("tampered");
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i] = (bad[i] as number) ^ (1 << (i % 8));
      writeFileSync(t, bad);
      const err = await failure(loadTrustList(t, { key: KEY }));
      expect(err.reason, `byte ${i}`).toBe("decrypt");
    }
    for (const len of [0, 10, ENCRYPTED_TRUST_LIST_FORMAT.length + 1, ENCRYPTED_TRUST_LIST_FORMAT.length + 28, good.length - 1]) {
      writeFileSync(t, good.subarray(0, len));
      expect((await failure(loadTrustList(t, { key: KEY }))).reason, `length ${len}`).toBe("decrypt");
    }
    writeFileSync(t, Buffer.concat([good, Buffer.from("x")]));
    expect((await failure(loadTrustList(t, { key: KEY }))).reason).toBe("decrypt");
  });

  it("with a key available, a plain file in place of the encrypted one is refused (no downgrade)", async () => {
    const f = file("swapped");
    await saveTrustList(f, { keys: { evil: other } });
    const err = await failure(loadTrustList(f, { env: { PLUGHOST_TRUST_KEY: KEY.toString("base64") } }));
    expect(err.reason).toBe("decrypt");
    expect(err.message).toContain("replaced by a plain file");
    // Reading it on purpose (what plughost trust encrypt does) is allowed.
    expect((await openTrustList(f, { key: KEY, allowPlain: true })).encrypted).toBe(false);
  });

  it("an encrypted file without a key, or with a malformed key, is no-key", async () => {
    const f = file();
    await saveTrustList(f, POLICY, { key: KEY });
    const none = await failure(loadTrustList(f, { env: {} }));
    expect(none.reason).toBe("no-key");
    expect(none.message).toContain("set PLUGHOST_TRUST_KEY");
    for (const key of ["c2hvcnQ=", "zz".repeat(32), randomBytes(16)]) {
      expect((await failure(loadTrustList(f, { key }))).reason).toBe("no-key");
    }
    const missingKeyFile = await failure(loadTrustList(f, { keyFile: path.join(tmp, "no-such-key") }));
    expect(missingKeyFile.reason).toBe("no-key");
    expect(missingKeyFile.message).toContain("no-such-key");
  });

  it("a file that is not a trust list is format, naming the problem; an invalid policy is not written", async () => {
    const f = file("bad");
    writeFileSync(f, "{ nope");
    expect((await failure(loadTrustList(f, { env: {} }))).message).toContain("is not JSON");
    writeFileSync(f, JSON.stringify({ keys: { acme: "short" } }));
    const err = await failure(loadTrustList(f, { env: {} }));
    expect(err.reason).toBe("format");
    expect(err.message).toContain("/keys/acme: must be an Ed25519 public key");
    // Valid encryption around an invalid list: format, after decryption.
    const g = file();
    writeFileSync(g, encryptTrustList(Buffer.from(JSON.stringify({ keys: {}, extra: 1 })), KEY));
    expect((await failure(loadTrustList(g, { key: KEY }))).message).toContain('unknown key "extra"');
    expect((await failure(loadTrustList(path.join(tmp, "absent.json"), { env: {} }))).message).toContain("does not exist");
    // A FIFO (no writer) or a device is refused at once, never read or waited on.
    const fifo = path.join(tmp, `fifo-${n++}`);
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    expect((await failure(loadTrustList(fifo, { env: {} }))).message).toContain("not a regular file");
    expect((await failure(loadTrustList("/dev/zero", { env: {} }))).reason).toBe("format");
    expect((await failure(loadTrustList(f, { keyFile: "/dev/urandom" }))).reason).toBe("no-key");

    const h = file("never");
    const notWritten = await failure(saveTrustList(h, { keys: { "bad id!": pub } }, { key: KEY }));
    expect(notWritten.reason).toBe("format");
    expect(() => statSync(h)).toThrow();
  });

  it("the host config's signatures.file (+ keyFile) is read by loadHostConfig and enforced on load", async () => {
    const dir = mkdtempSync(path.join(tmp, "host-"));
    await saveTrustList(path.join(dir, "trust.enc"), { require: true, keys: { acme: pub } }, { key: KEY });
    writeFileSync(path.join(dir, "trust.key"), KEY.toString("hex") + "\n");
    writeFileSync(path.join(dir, "plughost.config.json"), JSON.stringify({ signatures: { file: "trust.enc", keyFile: "trust.key" } }));
    const config = await loadHostConfig(dir);
    expect(config.signatures).toEqual({ require: true, keys: { acme: pub } });
    expect(config.signaturesFile).toEqual({ file: path.join(dir, "trust.enc"), keyFile: path.join(dir, "trust.key") });

    const signed = copyPlugin("examples/c/hello");
    const unsigned = copyPlugin("examples/c/hello");
    dirs.push(signed, unsigned);
    await signPlugin(signed, privateKey, "acme");
    registry = new PluginRegistry({ ...registryOptionsFrom(config), logger: silentLogger(), cacheDir: false });
    expect((await registry.load(signed)).state).toBe("active");
    await registry.unloadAll();
    await expect(registry.load(unsigned)).rejects.toThrow(VerificationError); // require: true, from the encrypted file

    // A wrong key file: the config does not load.
    writeFileSync(path.join(dir, "trust.key"), randomBytes(32).toString("base64"));
    expect((await failure(loadHostConfig(dir))).reason).toBe("decrypt");

    // Nothing else may sit beside file; a config only validated (not loaded) cannot run without its trust list.
    expect(() => validateHostConfig({ signatures: { file: "t.enc", require: false } }, "x")).toThrow(/\/signatures\/require: cannot be set beside file/);
    const validated = validateHostConfig({ signatures: { file: "t.enc" } }, "x", { baseDir: dir });
    expect(validated.signaturesFile).toEqual({ file: path.join(dir, "t.enc") });
    expect(() => registryOptionsFrom(validated)).toThrow(HostConfigError);
  });
});
