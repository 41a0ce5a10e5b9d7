// The package format (docs/catalog.md "Package format"): real packages packed from real plugins (examples/c/hello,
// test/fixtures/c/config-echo), deterministic bytes, strict reading, and every tampering case refused with its reason.
import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  compileTrustList,
  extractPackage,
  packageFromParts,
  PackageError,
  packPlugin,
  PackageVerificationError,
  publicKeyToBase64,
  readPackage,
  readPackageFile,
  signPackage,
  verifyPackage,
  writePackage,
  type PluginPackage,
  type SignaturePolicy,
} from "../src/index.js";
import { serializeMetadata, serializeSignature } from "../src/package/metadata.js";
import { writeTar, type TarEntry } from "../src/package/tar.js";
import { copyPlugin, pluginDir } from "./helpers/plugins.js";

const HELLO = "examples/c/hello";
const ECHO = "test/fixtures/c/config-echo";

const newKey = (): { privateKey: KeyObject; publicKey: string } => {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey: publicKeyToBase64(privateKey) };
};
const acme = newKey();
const other = newKey();
const trust = (policy: Partial<SignaturePolicy> = {}) => compileTrustList({ keys: { acme: acme.publicKey }, ...policy });

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), "plughost-pkg-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => "sha256-" + createHash("sha256").update(b).digest("hex");
const CREATED = new Date("2026-01-02T03:04:05.678Z");

/** The archive entries of a package, for rebuilding a tampered one. */
function entriesOf(pkg: PluginPackage): TarEntry[] {
  const out: TarEntry[] = [{ path: "plughost-package.json", bytes: pkg.metadataBytes }];
  if (pkg.signature) out.push({ path: "package.sig", bytes: serializeSignature(pkg.signature) });
  for (const [p, b] of pkg.files) out.push({ path: p, bytes: b });
  return out;
}

/** A raw ustar header with any name, type and size, and a correct checksum (for archives the writer refuses to make). */
function rawHeader(name: string, type: string, size: number, opts: { prefix?: string; linkname?: string; sizeField?: string } = {}): Uint8Array {
  const b = new Uint8Array(512);
  const put = (off: number, len: number, s: string) => b.set(new TextEncoder().encode(s).subarray(0, len), off);
  put(0, 100, name);
  put(100, 8, "0000644\0");
  put(108, 8, "0000000\0");
  put(116, 8, "0000000\0");
  put(124, 12, opts.sizeField ?? size.toString(8).padStart(11, "0") + "\0");
  put(136, 12, "00000000000\0");
  b.fill(0x20, 148, 156);
  b[156] = type.charCodeAt(0);
  if (opts.linkname) put(157, 100, opts.linkname);
  put(257, 6, "ustar\0");
  put(263, 2, "00");
  if (opts.prefix) put(345, 155, opts.prefix);
  let sum = 0;
  for (const x of b) sum += x;
  put(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return b;
}
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), (at += p.length);
  return out;
};
const block = (bytes: Uint8Array): Uint8Array => concat(bytes, new Uint8Array((512 - (bytes.length % 512)) % 512));
const END = new Uint8Array(1024);

/** An archive starting with a real package's metadata, then `rest` (raw blocks), then the end blocks. */
async function hostile(...rest: Uint8Array[]): Promise<Uint8Array> {
  const pkg = await packPlugin(pluginDir(HELLO), { created: CREATED });
  const head = writeTar([{ path: "plughost-package.json", bytes: pkg.metadataBytes }]);
  return concat(head.subarray(0, head.length - 1024), ...rest, END);
}

function refusedWith<T extends Error>(fn: () => unknown, type: new (...a: never[]) => T): T {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as T;
  }
  throw new Error("expected a refusal");
}

describe("packing", () => {
  it("is deterministic: the same plugin packed twice gives the same bytes and digest", async () => {
    const a = await packPlugin(pluginDir(HELLO));
    const b = await packPlugin(pluginDir(HELLO));
    const bytes = writePackage(a);
    expect(Buffer.from(bytes).equals(Buffer.from(writePackage(b)))).toBe(true);
    expect(a.digest).toBe(b.digest);
    expect(a.digest).toBe(sha(bytes));
    // Signed with the same key: Ed25519 is deterministic, so this holds for signed packages too.
    const s1 = await packPlugin(pluginDir(HELLO), { key: acme.privateKey, keyId: "acme" });
    const s2 = await packPlugin(pluginDir(HELLO), { key: acme.privateKey, keyId: "acme" });
    expect(Buffer.from(writePackage(s1)).equals(Buffer.from(writePackage(s2)))).toBe(true);
    expect(s1.digest).not.toBe(a.digest);
  });

  it("takes created from the newest file mtime, SOURCE_DATE_EPOCH, or the option, at seconds precision", async () => {
    const dir = copyPlugin(HELLO);
    dirs.push(dir);
    const t = new Date("2025-06-07T08:09:10.500Z");
    for (const f of ["plugin.toml", "plugin.wasm"]) utimesSync(path.join(dir, f), t, t);
    expect((await packPlugin(dir)).metadata.created).toBe("2025-06-07T08:09:10Z");
    process.env.SOURCE_DATE_EPOCH = "1700000000";
    try {
      expect((await packPlugin(dir)).metadata.created).toBe("2023-11-14T22:13:20Z");
    } finally {
      delete process.env.SOURCE_DATE_EPOCH;
    }
    expect((await packPlugin(dir, { created: CREATED })).metadata.created).toBe("2026-01-02T03:04:05Z");
  });

  it("holds the manifest, the entry, declared assets and plugin.sig, with metadata naming each file's sha256", async () => {
    const pkg = await packPlugin(pluginDir(ECHO), { key: acme.privateKey, keyId: "acme" });
    const m = pkg.metadata;
    expect(m).toMatchObject({ format: "plughost-package-v1", name: "config-echo", version: "1.0.0", kind: "component", manifest: "plugin.toml", entry: "plugin.wasm" });
    expect(m.files.map((f) => f.path)).toEqual(["config.schema.json", "plugin.sig", "plugin.toml", "plugin.wasm"]);
    for (const f of m.files) {
      const bytes = pkg.files.get(f.path) as Uint8Array;
      expect(f.sha256).toBe(sha(bytes));
      expect(f.size).toBe(bytes.length);
      if (f.path !== "plugin.sig") expect(Buffer.from(bytes).equals(readFileSync(path.join(pluginDir(ECHO), f.path)))).toBe(true);
    }
    expect(m.size).toBe(m.files.reduce((n, f) => n + f.size, 0));
    expect(m.build.plughost).toMatch(/^\d+\.\d+\.\d+/);
    // The metadata bytes are the canonical serialization, and packing never writes into the plugin directory.
    expect(Buffer.from(pkg.metadataBytes).equals(Buffer.from(serializeMetadata(m)))).toBe(true);
    expect(readdirSync(pluginDir(ECHO))).not.toContain("plugin.sig");
    const hello = await packPlugin(pluginDir(HELLO));
    expect(hello.metadata).toMatchObject({ license: "Apache-2.0", description: expect.stringContaining("greet") });
    expect(hello.metadata.files.map((f) => f.path)).toEqual(["plugin.toml", "plugin.wasm"]);
  });

  it("is a ustar archive that tar lists: metadata first, package.sig second, then the files sorted", async () => {
    const file = path.join(tempDir(), "hello.plughost");
    writeFileSync(file, writePackage(await packPlugin(pluginDir(HELLO), { key: acme.privateKey, keyId: "acme" })));
    const r = spawnSync("tar", ["tf", file], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["plughost-package.json", "package.sig", "plugin.sig", "plugin.toml", "plugin.wasm"]);
  });

  it("refuses a plugin whose files lie outside its directory, naming the file", async () => {
    // examples/forms/normalizer-js shares ../wit with its siblings: a package must be self-contained.
    const err = await packPlugin(pluginDir("examples/forms/normalizer-js")).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PackageError);
    expect((err as PackageError).message).toMatch(/forms\.wit lies outside the plugin directory/);
    expect((err as PackageError).plugin).toBe("normalizer-js");
  });

  it("refuses a key without a valid key id", async () => {
    await expect(packPlugin(pluginDir(HELLO), { key: acme.privateKey })).rejects.toBeInstanceOf(PackageError);
    await expect(packPlugin(pluginDir(HELLO), { key: acme.privateKey, keyId: "no spaces" })).rejects.toThrow(/key id/);
  });
});

describe("reading", () => {
  it("round-trips: read(write(pkg)) has the same metadata, files and digest, and writes back the same bytes", async () => {
    const pkg = await packPlugin(pluginDir(ECHO), { key: acme.privateKey, keyId: "acme" });
    const bytes = writePackage(pkg);
    const back = readPackage(bytes, "echo.plughost");
    expect(back.metadata).toEqual(pkg.metadata);
    expect(back.signature).toEqual(pkg.signature);
    expect(back.digest).toBe(pkg.digest);
    expect(Buffer.from(writePackage(back)).equals(Buffer.from(bytes))).toBe(true);
    const file = path.join(tempDir(), "echo.plughost");
    writeFileSync(file, bytes);
    expect((await readPackageFile(file)).digest).toBe(pkg.digest);
  });

  it("packageFromParts rebuilds the same package (and digest) from its separate parts", async () => {
    const pkg = await packPlugin(pluginDir(HELLO), { key: acme.privateKey, keyId: "acme" });
    const files = new Map([...pkg.files].reverse()); // order of arrival does not matter
    const rebuilt = packageFromParts(pkg.metadataBytes, files, serializeSignature(pkg.signature!), "oci://x/hello-c:0.1.0");
    expect(rebuilt.digest).toBe(pkg.digest);
    expect([...rebuilt.files.keys()]).toEqual([...pkg.files.keys()]);
    // A swapped part: digest; a missing or an extra part: structure.
    const swapped = new Map(files).set("plugin.wasm", readFileSync(path.join(pluginDir(ECHO), "plugin.wasm")));
    expect(refusedWith(() => packageFromParts(pkg.metadataBytes, swapped), PackageVerificationError).reason).toBe("digest");
    const missing = new Map(files);
    missing.delete("plugin.toml");
    expect(refusedWith(() => packageFromParts(pkg.metadataBytes, missing, undefined, "oci://x"), PackageError).message).toMatch(/plugin\.toml/);
    const extra = new Map(files).set("evil.sh", new Uint8Array(3));
    expect(refusedWith(() => packageFromParts(pkg.metadataBytes, extra), PackageError).message).toMatch(/evil\.sh/);
    // A signature in another spelling than plughost's would change the digest: refused.
    const respelled = new TextEncoder().encode(JSON.stringify(pkg.signature));
    expect(refusedWith(() => packageFromParts(pkg.metadataBytes, files, respelled), PackageError).message).toMatch(/canonical/);
  });

  it("refuses a flipped byte in the entry with reason digest, naming the file and the plugin", async () => {
    const bytes = writePackage(await packPlugin(pluginDir(HELLO)));
    const tampered = Uint8Array.from(bytes);
    tampered[tampered.length - 1024 - 700] ^= 0x01; // inside plugin.wasm, the last file
    const err = refusedWith(() => readPackage(tampered, "hello.plughost"), PackageVerificationError);
    expect(err.reason).toBe("digest");
    expect(err.code).toBe("E_VERIFICATION_FAILED");
    expect(err.plugin).toBe("hello-c");
    expect(err.message).toMatch(/hello\.plughost: plugin\.wasm does not match/);
  });

  it("refuses a swapped file (another plugin's entry under the same name) with reason digest", async () => {
    const pkg = await packPlugin(pluginDir(HELLO));
    const entries = entriesOf(pkg).map((e) => (e.path === "plugin.wasm" ? { ...e, bytes: readFileSync(path.join(pluginDir(ECHO), "plugin.wasm")) } : e));
    expect(refusedWith(() => readPackage(writeTar(entries)), PackageVerificationError).reason).toBe("digest");
  });

  it("refuses files missing, unlisted, out of order, or a first entry that is not the metadata", async () => {
    const pkg = await packPlugin(pluginDir(HELLO));
    const entries = entriesOf(pkg);
    const cases: [TarEntry[], RegExp][] = [
      [entries.filter((e) => e.path !== "plugin.toml"), /lists plugin\.toml|holds plugin\.wasm where/],
      [[...entries, { path: "extra.txt", bytes: new Uint8Array(1) }], /extra\.txt/],
      [[entries[0]!, entries[2]!, entries[1]!], /holds plugin\.wasm where/],
      [entries.slice(1), /not plughost-package\.json/],
      [[{ path: "plughost-package.json", bytes: new TextEncoder().encode("{}") }, ...entries.slice(1)], /"format"|field/],
    ];
    for (const [e, message] of cases) expect(refusedWith(() => readPackage(writeTar(e), "p"), PackageError).message).toMatch(message);
  });

  it("refuses hostile archives before anything is extracted: .., absolute paths, links, devices, huge sizes, truncation", async () => {
    const body = block(new TextEncoder().encode("x"));
    const cases: [Uint8Array, RegExp][] = [
      [await hostile(rawHeader("../escape.txt", "0", 1), body), /climbs out/],
      [await hostile(rawHeader("a/../../escape.txt", "0", 1), body), /climbs out/],
      [await hostile(rawHeader("/etc/passwd", "0", 1), body), /absolute/],
      [await hostile(rawHeader("plugin.wasm", "2", 0, { linkname: "/etc/passwd" })), /symbolic link/],
      [await hostile(rawHeader("plugin.wasm", "1", 0, { linkname: "plughost-package.json" })), /hard link/],
      [await hostile(rawHeader("assets", "5", 0)), /directory/],
      [await hostile(rawHeader("dev", "3", 0)), /character device/],
      [await hostile(rawHeader("PaxHeaders/x", "x", 0)), /pax extended header/],
      [await hostile(rawHeader("huge.bin", "0", 0, { sizeField: "77777777777\0" })), /over the \d+-byte limit per file/],
      [await hostile(rawHeader("big.bin", "0", 0, { sizeField: "00077777777\0" })), /truncated/],
      [await hostile(rawHeader("a\\b", "0", 1), body), /backslash/],
      [await hostile(rawHeader("plugin.wasm", "0", 1, { prefix: ".." }), body), /climbs out/],
    ];
    for (const [bytes, message] of cases) {
      const err = refusedWith(() => readPackage(bytes, "hostile.plughost"), PackageError);
      expect(err.message).toMatch(message);
      expect(err.file).toBe("hostile.plughost");
    }
    // Structural damage: truncated, a bad checksum, bytes after the end, an odd length, a duplicate path.
    const good = writePackage(await packPlugin(pluginDir(HELLO)));
    const badSum = Uint8Array.from(good);
    badSum[0] ^= 1;
    const dup = writeTar([...entriesOf(await packPlugin(pluginDir(HELLO)))].flatMap((e) => (e.path === "plugin.wasm" ? [e, e] : [e])));
    const structural: [Uint8Array, RegExp][] = [
      [good.subarray(0, good.length - 1024 - 512), /truncated/],
      [good.subarray(0, 600), /whole number of 512-byte/],
      [badSum, /bad header checksum/],
      [concat(good, new Uint8Array(512).fill(1)), /follow the end/],
      [dup, /listed twice/],
      [new Uint8Array(0), /truncated/],
    ];
    for (const [bytes, message] of structural) expect(refusedWith(() => readPackage(bytes, "p"), PackageError).message).toMatch(message);
  });
  it("answers any damaged package with a typed error, never another exception (1000 seeded corruptions)", async () => {
    const good = writePackage(await packPlugin(pluginDir(HELLO), { key: acme.privateKey, keyId: "acme" }));
    let seed = 18;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31; // a fixed LCG: the same corruptions every run
      return seed % n;
    };
    const outcomes = { read: 0, package: 0, digest: 0 };
    for (let i = 0; i < 1000; i++) {
      let bytes = Uint8Array.from(good);
      const kind = i % 3;
      // Flip bytes in the headers and JSON (the first 3 KiB), anywhere, or cut the file short.
      if (kind === 0) for (let k = 0; k <= rand(3); k++) bytes[rand(3072)] ^= 1 + rand(255);
      else if (kind === 1) bytes[rand(bytes.length)] ^= 1 + rand(255);
      else bytes = bytes.subarray(0, rand(bytes.length));
      try {
        const pkg = readPackage(bytes, "fuzz.plughost");
        verifyPackage(pkg, trust());
        outcomes.read++;
      } catch (err) {
        if (err instanceof PackageVerificationError) outcomes.digest++;
        else if (err instanceof PackageError) outcomes.package++;
        else throw new Error(`corruption ${i} (kind ${kind}) threw ${String(err)}`);
      }
    }
    // Flips in padding or the end blocks are refused too (the layout is canonical), so nearly nothing reads.
    expect(outcomes.package).toBeGreaterThan(300);
    expect(outcomes.digest).toBeGreaterThan(50);
    expect(outcomes.read).toBe(0);
  });
});

describe("verification", () => {
  it("accepts a package signed by a trusted key and reports the key and its level", async () => {
    const pkg = readPackage(writePackage(await packPlugin(pluginDir(HELLO), { key: acme.privateKey, keyId: "acme" })));
    expect(verifyPackage(pkg, trust(), { requireSignature: true, expectName: "hello-c", expectVersion: "0.1.0" })).toEqual({ signed: true, key: "acme", level: "verified" });
    const community = compileTrustList({ keys: { acme: { key: acme.publicKey, level: "community" } } });
    expect(verifyPackage(pkg, community).level).toBe("community");
    // Unsigned passes when nothing requires a signature, as "local".
    expect(verifyPackage(await packPlugin(pluginDir(HELLO)), trust())).toEqual({ signed: false, level: "local" });
  });

  it("refuses a signature naming another plugin (wrong-plugin)", async () => {
    const hello = await packPlugin(pluginDir(HELLO));
    const echo = await packPlugin(pluginDir(ECHO), { key: acme.privateKey, keyId: "acme" });
    const moved = readPackage(writeTar([entriesOf(hello)[0]!, { path: "package.sig", bytes: serializeSignature(echo.signature!) }, ...entriesOf(hello).slice(1)]));
    const err = refusedWith(() => verifyPackage(moved, trust()), PackageVerificationError);
    expect(err.reason).toBe("wrong-plugin");
    expect(err.message).toMatch(/made for plugin config-echo, not hello-c/);
    // And a package holding another plugin than the one asked for.
    expect(refusedWith(() => verifyPackage(echo, trust(), { expectName: "hello-c" }), PackageVerificationError).reason).toBe("wrong-plugin");
  });

  it("refuses signed metadata that names another plugin or version than the packaged manifest (the one that loads)", async () => {
    const hello = await packPlugin(pluginDir(HELLO));
    // Genuinely signed by a trusted key, but the metadata says "payments" while plugin.toml says hello-c: pins and the
    // link would go by one name, the registry would load the other.
    const renamed = signPackage(packageFromParts(serializeMetadata({ ...hello.metadata, name: "payments" }), hello.files), acme.privateKey, "acme");
    const err = refusedWith(() => verifyPackage(renamed, trust(), { expectName: "payments" }), PackageVerificationError);
    expect(err.reason).toBe("wrong-plugin");
    expect(err.message).toMatch(/names plugin "hello-c", its package metadata payments/);
    const bumped = signPackage(packageFromParts(serializeMetadata({ ...hello.metadata, version: "9.0.0" }), hello.files), acme.privateKey, "acme");
    expect(refusedWith(() => verifyPackage(bumped, trust(), { expectVersion: "9.0.0" }), PackageVerificationError).reason).toBe("wrong-version");
    const native = signPackage(packageFromParts(serializeMetadata({ ...hello.metadata, kind: "native" }), hello.files), acme.privateKey, "acme");
    expect(refusedWith(() => verifyPackage(native, trust()), PackageError).message).toMatch(/is a component plugin, its package metadata says native/);
  });

  it("refuses a version replay: an old package under a newer version, or its signature moved onto newer metadata (wrong-version)", async () => {
    const old = await packPlugin(pluginDir(HELLO), { key: acme.privateKey, keyId: "acme" });
    const err = refusedWith(() => verifyPackage(old, trust(), { expectVersion: "0.2.0" }), PackageVerificationError);
    expect(err.reason).toBe("wrong-version");
    expect(err.message).toMatch(/hello-c@0\.1\.0, not version 0\.2\.0/);
    // The metadata rewritten to say 0.2.0, the genuine 0.1.0 signature kept.
    const meta = serializeMetadata({ ...old.metadata, version: "0.2.0" });
    const relabeled = packageFromParts(meta, old.files, serializeSignature(old.signature!));
    expect(refusedWith(() => verifyPackage(relabeled, trust(), { expectVersion: "0.2.0" }), PackageVerificationError).reason).toBe("wrong-version");
    // Also rewriting the signature's version breaks the signature itself.
    const forged = packageFromParts(meta, old.files, serializeSignature({ ...old.signature!, version: "0.2.0" }));
    expect(refusedWith(() => verifyPackage(forged, trust()), PackageVerificationError).reason).toBe("bad-signature");
  });

  it("refuses metadata edited after signing (digest), unsigned when required, unknown, unpinned and revoked keys", async () => {
    const signed = await packPlugin(pluginDir(HELLO), { key: acme.privateKey, keyId: "acme" });
    const edited = packageFromParts(serializeMetadata({ ...signed.metadata, description: "now something else" }), signed.files, serializeSignature(signed.signature!));
    expect(refusedWith(() => verifyPackage(edited, trust()), PackageVerificationError).reason).toBe("digest");

    const unsigned = await packPlugin(pluginDir(HELLO));
    expect(refusedWith(() => verifyPackage(unsigned, trust(), { requireSignature: true }), PackageVerificationError).reason).toBe("unsigned");
    expect(refusedWith(() => verifyPackage(unsigned, trust({ require: true })), PackageVerificationError).reason).toBe("unsigned");
    // requireSignature: false cannot lift the trust list's require.
    expect(refusedWith(() => verifyPackage(unsigned, trust({ require: true }), { requireSignature: false }), PackageVerificationError).reason).toBe("unsigned");
    expect(refusedWith(() => verifyPackage(unsigned, undefined, { requireSignature: true }), PackageVerificationError).reason).toBe("unsigned");
    expect(refusedWith(() => verifyPackage(unsigned, trust({ pins: { "hello-c": ["acme"] } })), PackageVerificationError).reason).toBe("unsigned");

    const byOther = signPackage(unsigned, other.privateKey, "other");
    const unknown = refusedWith(() => verifyPackage(byOther, trust()), PackageVerificationError);
    expect(unknown.reason).toBe("unknown-key");
    expect(unknown.message).toMatch(/key "other"/);
    const pinned = compileTrustList({ keys: { acme: acme.publicKey, other: other.publicKey }, pins: { "hello-c": ["acme"] } });
    expect(refusedWith(() => verifyPackage(byOther, pinned), PackageVerificationError).message).toMatch(/pinned to key acme/);
    // Signed by "acme" in name, but with another private key.
    const impostor = signPackage(unsigned, other.privateKey, "acme");
    expect(refusedWith(() => verifyPackage(impostor, trust()), PackageVerificationError).reason).toBe("bad-signature");

    const revokedList = compileTrustList({ keys: { acme: { key: acme.publicKey, revoked: "2026-11-30", reason: "laptop stolen" } } });
    const revoked = refusedWith(() => verifyPackage(signed, revokedList), PackageVerificationError);
    expect(revoked.reason).toBe("revoked-key");
    expect(revoked.message).toMatch(/"acme".*revoked on 2026-11-30 \(laptop stolen\)/);
  });

  it("refuses a signer whose level is below the requirement for a capability the plugin asks for (trust-level)", async () => {
    const dir = copyPlugin(HELLO, (t) => t.replace('kind = "component"', 'kind = "component"\ncapabilities = ["net:outbound:api.example.com:443"]'));
    dirs.push(dir);
    const pkg = await packPlugin(dir, { key: acme.privateKey, keyId: "acme" });
    const requirements = { "net:outbound:*": "verified" as const };
    const community = compileTrustList({ keys: { acme: { key: acme.publicKey, level: "community" } }, requirements });
    const err = refusedWith(() => verifyPackage(pkg, community), PackageVerificationError);
    expect(err.reason).toBe("trust-level");
    expect(err.message).toMatch(/net:outbound:api\.example\.com:443 needs "verified"/);
    expect(verifyPackage(pkg, compileTrustList({ keys: { acme: acme.publicKey }, requirements })).level).toBe("verified");
    // Unsigned counts as local.
    const unsigned = await packPlugin(dir);
    expect(refusedWith(() => verifyPackage(unsigned, community), PackageVerificationError).reason).toBe("trust-level");
  });

  it("checks requirements against capabilities as the load will see them: a relative fs dir resolved against baseDir", async () => {
    const dir = copyPlugin(HELLO, (t) => t.replace('kind = "component"', 'kind = "component"\ncapabilities = ["fs:write:data"]'));
    dirs.push(dir);
    const pkg = await packPlugin(dir, { key: acme.privateKey, keyId: "acme" });
    const community = compileTrustList({ keys: { acme: { key: acme.publicKey, level: "community" } }, requirements: { "fs:write:/srv/plugins/*": "verified" } });
    const err = refusedWith(() => verifyPackage(pkg, community, { baseDir: "/srv/plugins/hello" }), PackageVerificationError);
    expect(err.reason).toBe("trust-level");
    expect(err.message).toMatch(/fs:write:\/srv\/plugins\/hello\/data needs "verified"/);
    // Installed elsewhere, the requirement does not apply.
    expect(verifyPackage(pkg, community, { baseDir: "/opt/other/hello" }).level).toBe("community");
  });

  it("re-checks the files of a package object changed after reading (digest)", async () => {
    const pkg = await packPlugin(pluginDir(HELLO), { key: acme.privateKey, keyId: "acme" });
    const swapped: PluginPackage = { ...pkg, files: new Map(pkg.files).set("plugin.toml", new TextEncoder().encode('name = "x"\n')) };
    expect(refusedWith(() => verifyPackage(swapped, trust()), PackageVerificationError).reason).toBe("digest");
  });
});

describe("extracting", () => {
  it("writes the plugin files into a new directory, and refuses a non-empty one", async () => {
    const pkg = await packPlugin(pluginDir(ECHO), { key: acme.privateKey, keyId: "acme" });
    const dir = path.join(tempDir(), "echo");
    await extractPackage(pkg, dir);
    expect(readdirSync(dir).sort()).toEqual(["config.schema.json", "plugin.sig", "plugin.toml", "plugin.wasm"]);
    expect(sha(readFileSync(path.join(dir, "plugin.wasm")))).toBe(pkg.metadata.files.find((f) => f.path === "plugin.wasm")!.sha256);
    const err = await extractPackage(pkg, dir).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PackageError);
    expect((err as Error).message).toMatch(/is not empty/);
  });

  it("refuses a package object whose paths would escape the directory, leaving nothing written", async () => {
    const pkg = await packPlugin(pluginDir(HELLO));
    const evil: PluginPackage = { ...pkg, files: new Map([["../escape.txt", new Uint8Array(1)]]) };
    const base = tempDir();
    const dir = path.join(base, "target");
    mkdirSync(dir);
    await expect(extractPackage(evil, dir)).rejects.toThrow(/climbs out/);
    expect(readdirSync(base)).toEqual(["target"]);
    // A good file first, then the bad one: what was written is taken back, in a given dir and in one made for it.
    const mixed: PluginPackage = { ...pkg, files: new Map([["a.txt", new Uint8Array(1)], ["../escape.txt", new Uint8Array(1)]]) };
    await expect(extractPackage(mixed, dir)).rejects.toThrow(/climbs out/);
    expect(readdirSync(dir)).toEqual([]);
    await expect(extractPackage(mixed, path.join(base, "new", "deeper"))).rejects.toThrow(/climbs out/);
    expect(readdirSync(base)).toEqual(["target"]);
  });
});
