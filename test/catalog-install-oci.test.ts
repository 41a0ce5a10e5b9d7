/**
 * The installer against a real OCI registry (Debian's docker-registry on loopback, with htpasswd basic auth):
 * publish, install, update across a minor, a major refused without `major`, uninstall, lockfile reproduction on a
 * fresh host, dependencies; tampered registry content (a swapped blob, an older version pushed under a newer tag)
 * refused at install with nothing written; wrong credentials refused.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Installer } from "../src/catalog/install.js";
import { LOCKFILE_NAME, readLockfile } from "../src/catalog/lockfile.js";
import { OciCatalog } from "../src/catalog/oci.js";
import { OciClient, ociDigest } from "../src/catalog/oci-client.js";
import { packageToArtifact, versionToTag } from "../src/catalog/oci-artifact.js";
import { CatalogError, PackageVerificationError } from "../src/contract/errors.js";
import type { PluginPackage } from "../src/package/types.js";
import { PluginRegistry } from "../src/runtime/registry.js";
import { makePackage, signingKey, snapshot, tempDir } from "./helpers/install-fixtures.js";
import { dec, enc, silentLogger } from "./helpers/plugins.js";
import { startOciRegistry, type OciRegistry } from "./helpers/oci-registry.mjs";

const signer = signingKey("release");
const credentials = { username: "publisher", password: "correct horse" };
let reg: OciRegistry;
let catalog: OciCatalog;
const published = new Map<string, PluginPackage>();

beforeAll(async () => {
  reg = await startOciRegistry({ users: { [credentials.username]: credentials.password } });
  catalog = new OciCatalog(reg.location, { credentials });
  const plugins = [
    { name: "greeter", version: "1.0.0" },
    { name: "greeter", version: "1.1.0" },
    { name: "greeter", version: "2.0.0" },
    { name: "lib", version: "1.0.0", example: "transform" as const },
    { name: "app", version: "1.0.0", dependencies: { lib: "^1.0.0" } },
  ];
  for (const p of plugins) {
    const pkg = await makePackage({ ...p, signer });
    published.set(`${p.name}@${p.version}`, pkg);
    await catalog.publish(pkg);
  }
});
afterAll(async () => {
  await reg?.close();
});

const registries: PluginRegistry[] = [];
afterEach(async () => {
  for (const r of registries.splice(0)) await r.unloadAll();
});

async function hostOf(pluginDir: string): Promise<PluginRegistry> {
  const registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, pluginDirs: [pluginDir], signatures: signer.policy });
  registries.push(registry);
  const found = await registry.discoverPluginDirs();
  await registry.loadAll(found.map((f) => f.manifestPath));
  return registry;
}

const installerFor = (pluginDir: string) => new Installer({ pluginDir, catalog, signatures: signer.policy, requireSignature: true });

describe("Installer with an OCI registry catalog", () => {
  it("installs, updates across a minor, refuses a major without major, crosses it with major, uninstalls", async () => {
    const pluginDir = tempDir();
    const installer = installerFor(pluginDir);
    const r = await installer.install("greeter@1.0.0");
    expect(r.installed.map((p) => [p.name, p.version, p.key])).toEqual([["greeter", "1.0.0", "release"]]);
    const entry = (await catalog.versions("greeter")).find((e) => e.version === "1.0.0")!;
    expect((await installer.list()).plugins.greeter).toEqual({ version: "1.0.0", digest: entry.digest, catalog: reg.location, key: "release" });
    let registry = await hostOf(pluginDir);
    const out = await registry.hook("greeter", "greet", enc("oci"));
    expect(out.ok && dec(out.data)).toBe("hello, oci!");
    await registry.unloadAll();

    expect(await installer.outdated()).toEqual([{ name: "greeter", current: "1.0.0", wanted: "1.1.0", latest: "2.0.0" }]);
    expect((await installer.update("greeter")).installed.map((p) => `${p.previous}->${p.version}`)).toEqual(["1.0.0->1.1.0"]);
    // The major is not crossed without asking.
    const held = await installer.update("greeter");
    expect(held.installed).toEqual([]);
    expect(held.unchanged).toEqual([{ name: "greeter", version: "1.1.0" }]);
    expect((await installer.update(undefined, { major: true })).installed.map((p) => p.version)).toEqual(["2.0.0"]);
    registry = await hostOf(pluginDir);
    expect(registry.get("greeter").version).toBe("2.0.0");
    await registry.unloadAll();

    expect(await installer.uninstall("greeter")).toEqual({ name: "greeter", version: "2.0.0" });
    expect((await installer.list()).plugins).toEqual({});
    expect(Object.keys(snapshot(pluginDir)).filter((p) => !p.startsWith(".plughost"))).toEqual([LOCKFILE_NAME]);
  });

  it("resolves dependencies from the registry and reproduces the lockfile on a fresh host with identical digests", async () => {
    const first = tempDir();
    const r = await installerFor(first).install("app");
    expect(r.installed.map((p) => `${p.name}@${p.version}`)).toEqual(["lib@1.0.0", "app@1.0.0"]);
    const fresh = tempDir();
    writeFileSync(path.join(fresh, LOCKFILE_NAME), readFileSync(path.join(first, LOCKFILE_NAME)));
    // A fresh host: its own catalog object, same registry.
    const again = await new Installer({ pluginDir: fresh, catalog: new OciCatalog(reg.location, { credentials }), signatures: signer.policy }).installLocked();
    expect(again.installed.map((p) => `${p.name}@${p.version}`).sort()).toEqual(["app@1.0.0", "lib@1.0.0"]);
    expect(snapshot(fresh)).toEqual(snapshot(first));
    const lock = await readLockfile(path.join(fresh, LOCKFILE_NAME));
    expect(lock.plugins.app!.dependencies).toEqual(["lib"]);
    const registry = await hostOf(fresh);
    expect(dec((await registry.runHook("transform", enc("oci"))).data)).toBe("OCI");
  });

  it("refuses a swapped blob, an older version pushed under a newer tag and a signature moved from another plugin, writing nothing", async () => {
    const pluginDir = tempDir();
    const installer = installerFor(pluginDir);
    await installer.install("greeter@1.0.0");
    const before = snapshot(pluginDir);

    // Publish 1.2.0 with its own component bytes, then swap that blob in the registry's storage.
    const v12 = await makePackage({ name: "greeter", version: "1.2.0", example: "transform", signer });
    await catalog.publish(v12);
    const hex = ociDigest(v12.files.get("plugin.wasm")!).slice("sha256:".length);
    const blob = path.join(reg.storageDir, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
    const genuine = readFileSync(blob);
    const swapped = Buffer.from(genuine);
    swapped[swapped.length - 10] ^= 0xff;
    writeFileSync(blob, swapped);
    try {
      const err = await installer.update("greeter").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PackageVerificationError);
      expect((err as PackageVerificationError).reason).toBe("digest");
      expect(snapshot(pluginDir)).toEqual(before);
    } finally {
      writeFileSync(blob, genuine);
    }

    // 1.0.0's genuine artifact pushed under tag 1.3.0 by someone with push rights.
    const client = new OciClient({ baseUrl: reg.httpUrl, credentials });
    const old = packageToArtifact(published.get("greeter@1.0.0")!);
    const repo = catalog.repository("greeter");
    for (const b of old.blobs.values()) await client.pushBlob(repo, b);
    await client.putManifest(repo, versionToTag("1.3.0"), new TextEncoder().encode(JSON.stringify(old.manifest)));
    const replay = await installer.install("greeter@1.3.0").catch((e: unknown) => e);
    expect(replay).toBeInstanceOf(PackageVerificationError);
    expect((replay as PackageVerificationError).reason).toBe("wrong-version");
    expect(snapshot(pluginDir)).toEqual(before);

    // 1.4.0 whose package signature was made for another plugin (moved over from its package).
    const v14 = await makePackage({ name: "greeter", version: "1.4.0", signer });
    const intruder = await makePackage({ name: "intruder", version: "1.4.0", signer });
    const moved = packageToArtifact({ ...v14, signature: intruder.signature! });
    for (const b of moved.blobs.values()) await client.pushBlob(repo, b);
    await client.putManifest(repo, versionToTag("1.4.0"), new TextEncoder().encode(JSON.stringify(moved.manifest)));
    const wrongPlugin = await installer.install("greeter@1.4.0").catch((e: unknown) => e);
    expect(wrongPlugin).toBeInstanceOf(PackageVerificationError);
    expect((wrongPlugin as PackageVerificationError).reason).toBe("wrong-plugin");
    expect((wrongPlugin as Error).message).toMatch(/made for plugin intruder/);
    expect(snapshot(pluginDir)).toEqual(before);

    // The installed version still loads.
    expect((await hostOf(pluginDir)).get("greeter").version).toBe("1.0.0");
  });

  it("refuses wrong credentials with a typed error, writing nothing", async () => {
    const pluginDir = tempDir();
    const bad = new Installer({ pluginDir, catalog: new OciCatalog(reg.location, { credentials: { ...credentials, password: "wrong" } }), signatures: signer.policy });
    const err = await bad.install("greeter").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogError);
    expect((err as CatalogError).reason).toBe("auth");
    expect(snapshot(pluginDir)).toEqual({});
  });
});
