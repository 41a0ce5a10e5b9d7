// Trust levels, revocation and per-capability requirements (docs/signatures.md): the compiled trust list, the
// install-time rule (checkTrustLevel) and the same rule in the registry's load path, on real plugins (examples/c/hello
// and the native examples/native/legacy-hello), really signed.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  capabilityPatternsOverlap,
  checkTrustLevel,
  compileTrustList,
  loadManifest,
  NATIVE_TRUSTED_CAPABILITY,
  PackageVerificationError,
  PluginRegistry,
  publicKeyToBase64,
  requestedCapabilities,
  signerStatus,
  signPlugin,
  VerificationError,
  type SignaturePolicy,
} from "../src/index.js";
import { copyPlugin, dec, enc, root, silentLogger } from "./helpers/plugins.js";

const newKey = (): { privateKey: KeyObject; publicKey: string } => {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey: publicKeyToBase64(privateKey) };
};
const release = newKey(); // verified
const community = newKey();
const old = newKey(); // revoked
const NET = "net:outbound:api.example.com:443";

let registry: PluginRegistry | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await registry?.unloadAll();
  registry = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const policy = (extra: Partial<SignaturePolicy> = {}): SignaturePolicy => ({
  keys: {
    release: release.publicKey,
    community: { key: community.publicKey, level: "community" },
    old: { key: old.publicKey, revoked: "2026-11-30", reason: "laptop stolen" },
  },
  requirements: { "net:outbound:*": "verified", [NATIVE_TRUSTED_CAPABILITY]: "verified", "clock": "community" },
  ...extra,
});

/** A copy of the native legacy-hello asking to run in the host process (`trust = "trusted"`). */
function trustedNative(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "plughost-trust-"));
  dirs.push(dir);
  cpSync(path.join(root, "examples/native/legacy-hello"), dir, { recursive: true });
  const file = path.join(dir, "plugin.toml");
  writeFileSync(file, readFileSync(file, "utf8").replace('trust = "untrusted"', 'trust = "trusted"'));
  return dir;
}

/** hello-c asking for `caps`, signed with `key` as `keyId` (unsigned without a key). */
async function hello(caps: string[], key?: KeyObject, keyId?: string): Promise<string> {
  const dir = copyPlugin("examples/c/hello", (t) => t + `capabilities = ${JSON.stringify(caps)}\n`);
  dirs.push(dir);
  if (key && keyId) await signPlugin(dir, key, keyId);
  return dir;
}

const newRegistry = (signatures: SignaturePolicy, extra: ConstructorParameters<typeof PluginRegistry>[0] = {}) =>
  (registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, signatures, grants: [NET, "clock"], ...extra }));

async function refusal(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

describe("trust list: levels, revocation, requirements", () => {
  it("compileTrustList fills levels, revoked and requirements; revoked keys are kept out of keys", () => {
    const t = compileTrustList(policy());
    expect([...t.keys.keys()].sort()).toEqual(["community", "release"]);
    expect(Object.fromEntries(t.levels ?? [])).toEqual({ release: "verified", community: "community" });
    expect(Object.fromEntries(t.revoked ?? [])).toEqual({ old: { date: "2026-11-30", reason: "laptop stolen" } });
    expect(Object.fromEntries(t.requirements ?? [])).toEqual({ "net:outbound:*": "verified", "native:trusted": "verified", clock: "community" });
    expect(signerStatus(t, "old")).toEqual({ status: "revoked", date: "2026-11-30", reason: "laptop stolen" });
    expect(signerStatus(t, "community")).toMatchObject({ status: "trusted", level: "community" });
    expect(signerStatus(t, "ghost")).toEqual({ status: "unknown" });
  });

  it("refuses bad levels, revocation dates, reasons without a date and requirement patterns, naming each", () => {
    const bad = {
      keys: {
        a: { key: release.publicKey, level: "gold" },
        b: { key: community.publicKey, revoked: "last tuesday" },
        c: { key: old.publicKey, reason: "why" },
        d: { key: "short", extra: 1 },
      },
      requirements: { "net:outbound:*": "trusted", "bogus pattern": "verified", "tcp:*": "local" },
    } as unknown as SignaturePolicy;
    let err: unknown;
    try {
      compileTrustList(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VerificationError);
    const m = (err as Error).message;
    for (const part of [
      "signatures/keys/a/level: must be one of local, community, verified",
      "signatures/keys/b/revoked: must be the revocation date",
      "signatures/keys/c/reason: is only meaningful with revoked",
      'signatures/keys/d/extra: unknown key "extra"',
      "signatures/keys/d/key: must be an Ed25519 public key",
      "signatures/requirements/net:outbound:*: must be one of",
      "signatures/requirements/bogus pattern: is not a capability pattern",
      "signatures/requirements/tcp:*: is not a capability pattern",
    ]) expect(m).toContain(part);
  });

  it("capability patterns overlap when some capability matches both", () => {
    expect(capabilityPatternsOverlap("net:outbound:*", NET)).toBe(true);
    expect(capabilityPatternsOverlap(NET, "net:outbound:*:*")).toBe(true); // a wildcard ask could reach it
    expect(capabilityPatternsOverlap("net:outbound:*.example.com:*", "net:outbound:evil.org:443")).toBe(false);
    expect(capabilityPatternsOverlap("fs:write:*", "fs:read:/data")).toBe(false);
    expect(capabilityPatternsOverlap("env:APP_*", "env:HOME")).toBe(false);
    expect(capabilityPatternsOverlap("*", "clock")).toBe(true);
    expect(capabilityPatternsOverlap("clock", "clock")).toBe(true);
    expect(capabilityPatternsOverlap("clock", "clocks")).toBe(false);
  });

  it("checkTrustLevel refuses a level below a requirement with a PackageVerificationError naming plugin, capability and levels", () => {
    const t = compileTrustList(policy());
    expect(() => checkTrustLevel(t, "verified", [NET, "clock"], "p")).not.toThrow();
    expect(() => checkTrustLevel(t, "community", ["clock", "random"], "p")).not.toThrow();
    expect(() => checkTrustLevel(undefined, "local", [NET], "p")).not.toThrow(); // no trust list, no requirements
    let err: unknown;
    try {
      checkTrustLevel(t, "local", [NET, "clock", "random"], "fetcher");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PackageVerificationError);
    const v = err as PackageVerificationError;
    expect(v.reason).toBe("trust-level");
    expect(v.code).toBe("E_VERIFICATION_FAILED");
    expect(v.plugin).toBe("fetcher");
    expect(v.message).toMatch(/^\[fetcher\] its signer's trust level is "local"/);
    expect(v.message).toContain(`${NET} needs "verified" (requirement net:outbound:*)`);
    expect(v.message).toContain(`clock needs "community" (requirement clock)`);
    expect(v.message).not.toContain("random");
  });

  it("requestedCapabilities adds native:trusted for a native plugin asking to run in the host process", async () => {
    expect(requestedCapabilities(await loadManifest(trustedNative()))).toEqual([NATIVE_TRUSTED_CAPABILITY]);
    expect(requestedCapabilities(await loadManifest(path.join(root, "examples/native/legacy-hello")))).toEqual([]);
    const withCaps = await loadManifest(await hello(["clock"]));
    expect(requestedCapabilities(withCaps)).toEqual(["clock"]);
  });

  it("the registry loads a plugin asking net:outbound only when a verified key signed it", async () => {
    const good = await hello([NET], release.privateKey, "release");
    const h = await newRegistry(policy()).load(good);
    expect(dec((await h.hook("greet", enc("verified"))).data)).toContain("verified");
    await registry?.unloadAll();

    const lower = await hello([NET], community.privateKey, "community");
    const err = await refusal(newRegistry(policy()).load(lower));
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect((err as PackageVerificationError).reason).toBe("trust-level");
    expect((err as PackageVerificationError).plugin).toBe("hello-c");
    expect(err.message).toContain(`its signer's trust level is "community"`);
    expect(registry?.isLoaded("hello-c")).toBe(false);

    // Unsigned counts as local: refused for clock (community required) even though signatures are not required.
    const unsigned = await hello(["clock"]);
    const err2 = await refusal(newRegistry(policy()).load(unsigned));
    expect((err2 as PackageVerificationError).reason).toBe("trust-level");
    expect(err2.message).toContain(`"local" (unsigned, or signed by a local key)`);
    // A community signer may have clock.
    const h2 = await newRegistry(policy()).load(await hello(["clock"], community.privateKey, "community"));
    expect(h2.state).toBe("active");
  });

  it("a native plugin asking trust = trusted runs in the host process only when signed by a verified key", async () => {
    const native = async (key: KeyObject, id: string): Promise<string> => {
      const dir = trustedNative();
      await signPlugin(dir, key, id);
      return dir;
    };
    const err = await refusal(newRegistry(policy(), { trustedNative: ["legacy-hello"] }).load(await native(community.privateKey, "community")));
    expect((err as PackageVerificationError).reason).toBe("trust-level");
    expect(err.message).toContain(`native:trusted needs "verified"`);
    await registry?.unloadAll();
    const h = await newRegistry(policy(), { trustedNative: ["legacy-hello"] }).load(await native(release.privateKey, "release"));
    expect(h.state).toBe("active");
  });

  it("a revoked key refuses loads of plugins it signed, naming the key and the date; rotation to a new key loads", async () => {
    const dir = await hello([], old.privateKey, "old");
    const err = await refusal(newRegistry(policy()).load(dir));
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as VerificationError).plugin).toBe("hello-c");
    expect(err.message).toMatch(/plugin\.sig: is signed with key "old", which the trust list revoked on 2026-11-30 \(laptop stolen\); re-sign the plugin with a current key/);
    // Revocation wins even when signatures are not required and the plugin is pinned to the key.
    const pinned = await refusal(newRegistry(policy({ pins: { "hello-c": ["old"] } })).load(dir));
    expect(pinned.message).toContain('revoked on 2026-11-30');

    // Rotation: re-sign with the current key; the same directory loads.
    await signPlugin(dir, release.privateKey, "release");
    const h = await newRegistry(policy()).load(dir);
    expect(h.state).toBe("active");
  });
});
