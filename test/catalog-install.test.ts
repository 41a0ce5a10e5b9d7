/**
 * The installer against a real directory catalog: real packages packed from examples/c/hello and /transform, real
 * signatures, installs loaded by a real PluginRegistry afterwards.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DirectoryCatalog } from "../src/catalog/directory.js";
import { Installer } from "../src/catalog/install.js";
import { LOCKFILE_NAME, parseLockfile, readLockfile } from "../src/catalog/lockfile.js";
import { parseInstallSpec, pickVersion, updateRange } from "../src/catalog/resolve.js";
import type { Catalog, CatalogEntry, FetchedPackage } from "../src/catalog/types.js";
import { CatalogError, DependencyConflictError, PackageError, PackageVerificationError, ResolutionError } from "../src/contract/errors.js";
import { packageFromParts, packPlugin, writePackage } from "../src/package/index.js";
import { serializeMetadata } from "../src/package/metadata.js";
import { PluginRegistry } from "../src/runtime/registry.js";
import { makePackage, makePluginDir, signingKey, snapshot, tempDir } from "./helpers/install-fixtures.js";
import { dec, enc, root, silentLogger } from "./helpers/plugins.js";

const registries: PluginRegistry[] = [];
afterEach(async () => {
  for (const r of registries.splice(0)) await r.unloadAll();
});

const signer = signingKey("release");

/** A catalog with the given plugins published, signed by `signer` unless `unsigned`. */
async function catalogWith(plugins: { name: string; version: string; dependencies?: Record<string, string>; example?: "hello" | "transform"; unsigned?: boolean }[]) {
  const dir = tempDir("plughost-catalog-");
  const catalog = new DirectoryCatalog(dir);
  for (const p of plugins) await catalog.publish(await makePackage({ ...p, ...(p.unsigned ? {} : { signer }) }));
  return { dir, catalog };
}

/** Load everything in `pluginDir` with a fresh registry, as a host would; returns it. */
async function hostOf(pluginDir: string, signatures = signer.policy) {
  const registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, pluginDirs: [pluginDir], signatures });
  registries.push(registry);
  const found = await registry.discoverPluginDirs();
  await registry.loadAll(found.map((f) => f.manifestPath));
  return registry;
}

async function greet(registry: PluginRegistry, name: string, who: string): Promise<string> {
  const out = await registry.hook(name, "greet", enc(who));
  if (!out.ok) throw new Error(`greet failed: ${JSON.stringify(out)}`);
  return dec(out.data);
}

/** Rewrite a catalog's index so `name@version` names `bytes` (as a catalog owner, or an attacker with write access, could). */
function forceIndex(catalogDir: string, name: string, version: string, bytes: Uint8Array, digest: string) {
  const indexFile = path.join(catalogDir, "index.json");
  const index = JSON.parse(readFileSync(indexFile, "utf8"));
  const file = path.join(catalogDir, name, `${name}-${version}.plughost`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, bytes);
  const base = index.plugins[name]?.[Object.keys(index.plugins[name] ?? {})[0] ?? ""] ?? {};
  (index.plugins[name] ??= {})[version] = { ...base, name, version, digest, size: bytes.byteLength, signed: true };
  writeFileSync(indexFile, JSON.stringify(index, null, 2));
}

const sha = (b: Uint8Array) => "sha256-" + createHash("sha256").update(b).digest("hex");

describe("install specs and version choice", () => {
  it("parses name and name@range, refusing bad names and ranges with a typed error", () => {
    expect(parseInstallSpec("hello-c", "cat")).toEqual({ name: "hello-c", range: "*" });
    expect(parseInstallSpec("hello-c@^1.2", "cat")).toEqual({ name: "hello-c", range: "^1.2" });
    expect(() => parseInstallSpec("Hello", "cat")).toThrow(CatalogError);
    expect(() => parseInstallSpec("hello@banana", "cat")).toThrow(/not a semver range/);
  });

  it("picks the highest version in every range; update stays in the major (0.x: the minor)", () => {
    const e = (version: string) => ({ name: "x", version, keywords: [], categories: [], digest: "sha256-" + "0".repeat(64), signed: false }) as CatalogEntry;
    const list = ["1.0.0", "1.2.0", "1.10.1", "2.0.0", "2.1.0-beta.1"].map(e);
    expect(pickVersion(list, ["^1"])?.version).toBe("1.10.1");
    expect(pickVersion(list, ["*"])?.version).toBe("2.0.0");
    expect(pickVersion(list, ["^1", "<1.5"])?.version).toBe("1.2.0");
    expect(pickVersion(list, ["^3"])).toBeUndefined();
    expect(updateRange("1.2.0")).toBe(">=1.2.0 <2.0.0");
    expect(updateRange("0.3.1")).toBe(">=0.3.1 <0.4.0");
    expect(updateRange("1.2.0", true)).toBe(">=1.2.0");
  });
});

describe("lockfile", () => {
  it("is parsed strictly: a damaged lockfile is a PackageError naming the file", () => {
    expect(() => parseLockfile("{", "/x/plughost.lock.json")).toThrow(PackageError);
    expect(() => parseLockfile(JSON.stringify({ lockfileVersion: 2, plugins: {} }), "f")).toThrow(/lockfileVersion is 2/);
    expect(() => parseLockfile(JSON.stringify({ lockfileVersion: 1, plugins: { a: { version: "1.0.0", digest: "sha256-bad", catalog: "c" } } }), "f")).toThrow(/digest/);
    const ok = { lockfileVersion: 1, plugins: { a: { version: "1.0.0", digest: "sha256-" + "a".repeat(64), catalog: "c", dependencies: ["b"] } } };
    expect(parseLockfile(JSON.stringify(ok), "f")).toEqual(ok);
  });
});

describe("Installer with a directory catalog", () => {
  it("installs the highest version in range, verified, atomically linked, pinned in the lockfile, and a registry loads it", async () => {
    const { catalog } = await catalogWith([
      { name: "greeter", version: "1.0.0" },
      { name: "greeter", version: "1.4.0" },
      { name: "greeter", version: "2.0.0" },
    ]);
    const pluginDir = tempDir();
    const installer = new Installer({ pluginDir, catalog, signatures: signer.policy, requireSignature: true });
    const result = await installer.install("greeter@^1.0.0");
    expect(result.installed.map((p) => [p.name, p.version, p.key, p.level])).toEqual([["greeter", "1.4.0", "release", "verified"]]);
    const entries = await catalog.versions("greeter");
    const lock = await readLockfile(path.join(pluginDir, LOCKFILE_NAME));
    expect(lock.plugins.greeter).toEqual({ version: "1.4.0", digest: entries.find((e) => e.version === "1.4.0")!.digest, catalog: catalog.location, key: "release" });
    const link = path.join(pluginDir, "greeter");
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toMatch(/^\.plughost\/store\/greeter@1\.4\.0-[0-9a-f]{12}$/);
    expect(existsSync(path.join(link, "plugin.sig"))).toBe(true);
    expect(existsSync(path.join(pluginDir, ".plughost-install.lock"))).toBe(false);

    const registry = await hostOf(pluginDir);
    expect(registry.get("greeter").version).toBe("1.4.0");
    expect(await greet(registry, "greeter", "installer")).toBe("hello, installer!");

    // Installing again changes nothing, not even the lockfile's modification time.
    const before = snapshot(pluginDir);
    const lockTime = statSync(path.join(pluginDir, LOCKFILE_NAME)).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    const again = await installer.install("greeter@^1");
    expect(again.installed).toEqual([]);
    expect(again.unchanged).toEqual([{ name: "greeter", version: "1.4.0" }]);
    expect(snapshot(pluginDir)).toEqual(before);
    expect(statSync(path.join(pluginDir, LOCKFILE_NAME)).mtimeMs).toBe(lockTime);

    // Without a trust list nothing is verified against keys: the result says unsigned, the lockfile still names the
    // key the package's signature names (the same lockfile on every host).
    const bare = tempDir();
    const unverified = await new Installer({ pluginDir: bare, catalog }).install("greeter@^1");
    expect(unverified.installed.map((p) => [p.version, p.key])).toEqual([["1.4.0", undefined]]);
    expect(readFileSync(path.join(bare, LOCKFILE_NAME), "utf8")).toBe(readFileSync(path.join(pluginDir, LOCKFILE_NAME), "utf8"));
  });

  it("resolves dependencies from the catalog (highest in range, kept when installed), records them, and guards uninstall", async () => {
    const { catalog } = await catalogWith([
      { name: "lib", version: "1.0.0", example: "transform" },
      { name: "lib", version: "1.2.0", example: "transform" },
      { name: "lib", version: "2.0.0", example: "transform" },
      { name: "app", version: "1.0.0", dependencies: { lib: "^1.0.0" } },
      { name: "other", version: "1.0.0", dependencies: { lib: "^1.0.0" } },
      { name: "greedy", version: "1.0.0", dependencies: { lib: "^2.0.0" } },
    ]);
    const pluginDir = tempDir();
    const installer = new Installer({ pluginDir, catalog, signatures: signer.policy });
    const r = await installer.install("app");
    expect(r.installed.map((p) => `${p.name}@${p.version}`)).toEqual(["lib@1.2.0", "app@1.0.0"]); // dependencies first
    let lock = await installer.list();
    expect(lock.plugins.app!.dependencies).toEqual(["lib"]);
    expect(lock.plugins.lib!.version).toBe("1.2.0");

    // A second dependent keeps the installed lib.
    const r2 = await installer.install("other");
    expect(r2.installed.map((p) => p.name)).toEqual(["other"]);

    // lib ^2 conflicts with the ^1 that app and other ask: refused with every range named, nothing changed.
    const before = snapshot(pluginDir);
    const err = await installer.install("greedy").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyConflictError);
    expect((err as Error).message).toMatch(/app needs lib \^1\.0\.0/);
    expect((err as Error).message).toMatch(/greedy needs lib \^2\.0\.0/);
    expect(snapshot(pluginDir)).toEqual(before);
    // Asking for lib 2 directly: the dependents' ranges still hold.
    const direct = await installer.install("lib@^2").catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(DependencyConflictError);
    expect((direct as DependencyConflictError).plugin).toBe("app");
    expect((direct as Error).message).toMatch(/app needs lib \^1\.0\.0, other needs lib \^1\.0\.0, the install request needs lib \^2; available: 2\.0\.0, 1\.2\.0 \(loaded\), 1\.0\.0/);
    expect(snapshot(pluginDir)).toEqual(before);

    const registry = await hostOf(pluginDir);
    expect(registry.list().map((p) => `${p.name}@${p.version}`).sort()).toEqual(["app@1.0.0", "lib@1.2.0", "other@1.0.0"]);
    expect(dec((await registry.runHook("transform", enc("abc"))).data)).toBe("ABC");
    await registry.unloadAll();

    const refused = await installer.uninstall("lib").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ResolutionError);
    expect((refused as Error).message).toMatch(/app, other depend on it/);
    await installer.uninstall("app");
    await installer.uninstall("other");
    expect(await installer.uninstall("lib")).toEqual({ name: "lib", version: "1.2.0" });
    lock = await installer.list();
    expect(lock.plugins).toEqual({});
    expect(Object.keys(snapshot(pluginDir)).filter((p) => !p.startsWith(".plughost/") && p !== ".plughost")).toEqual([LOCKFILE_NAME]);
    expect(snapshot(pluginDir)[".plughost/store"]).toBe("dir");
    expect(Object.keys(snapshot(pluginDir)).filter((p) => p.startsWith(".plughost/store/"))).toEqual([]);
    await expect(installer.uninstall("lib")).rejects.toThrow(/lib is not installed here/);
  });

  it("moves an installed dependency under the latest strategy, refuses to under strict and manual", async () => {
    const { catalog } = await catalogWith([
      { name: "lib", version: "1.0.0", example: "transform" },
      { name: "lib", version: "1.2.0", example: "transform" },
      { name: "app", version: "1.0.0", dependencies: { lib: "^1.2.0" } },
    ]);
    for (const strategy of ["strict", "manual"] as const) {
      const pluginDir = tempDir();
      const installer = new Installer({ pluginDir, catalog, signatures: signer.policy, strategy });
      await installer.install("lib@1.0.0");
      const before = snapshot(pluginDir);
      const err = await installer.install("app").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DependencyConflictError);
      expect((err as DependencyConflictError).strategy).toBe(strategy);
      expect((err as Error).message).toMatch(new RegExp(`app needs lib \\^1\\.2\\.0.*the ${strategy} strategy does not move an installed dependency; choose its version yourself \\(plughost install lib@1\\.2\\.0`));
      expect(snapshot(pluginDir)).toEqual(before);
      // Choosing it by hand settles it.
      await installer.install("lib@1.2.0");
      expect((await installer.install("app")).installed.map((p) => p.name)).toEqual(["app"]);
    }
    const pluginDir = tempDir();
    const latest = new Installer({ pluginDir, catalog, signatures: signer.policy });
    await latest.install("lib@1.0.0");
    const r = await latest.install("app");
    expect(r.installed.map((p) => `${p.name}@${p.previous ?? "-"}->${p.version}`)).toEqual(["lib@1.0.0->1.2.0", "app@-->1.0.0"]);
  });

  it("updates within the compatible range, refuses to cross a major without major, and outdated says so", async () => {
    const { catalog } = await catalogWith([{ name: "greeter", version: "1.0.0" }]);
    const pluginDir = tempDir();
    const installer = new Installer({ pluginDir, catalog, signatures: signer.policy });
    await installer.install("greeter");
    expect(await installer.outdated()).toEqual([]);
    for (const version of ["1.1.0", "2.0.0"]) await catalog.publish(await makePackage({ name: "greeter", version, signer }));
    expect(await installer.outdated()).toEqual([{ name: "greeter", current: "1.0.0", wanted: "1.1.0", latest: "2.0.0" }]);

    const r = await installer.update();
    expect(r.installed.map((p) => [p.name, p.previous, p.version])).toEqual([["greeter", "1.0.0", "1.1.0"]]);
    // Nothing compatible is newer: update changes nothing, the major stays uncrossed.
    const r2 = await installer.update("greeter");
    expect(r2.installed).toEqual([]);
    expect((await installer.list()).plugins.greeter!.version).toBe("1.1.0");
    expect(await installer.outdated()).toEqual([{ name: "greeter", current: "1.1.0", wanted: "1.1.0", latest: "2.0.0" }]);

    const r3 = await installer.update("greeter", { major: true });
    expect(r3.installed.map((p) => p.version)).toEqual(["2.0.0"]);
    expect(await installer.outdated()).toEqual([]);
    // Earlier versions left the store.
    expect(Object.keys(snapshot(pluginDir)).filter((p) => /^\.plughost\/store\/[^/]+$/.test(p))).toEqual([expect.stringMatching(/^\.plughost\/store\/greeter@2\.0\.0-/)]);
    const registry = await hostOf(pluginDir);
    expect(registry.get("greeter").version).toBe("2.0.0");
    await expect(installer.update("nothing-here")).rejects.toThrow(CatalogError);
  });

  it("a prerelease installed on purpose is not reported outdated by an older release", async () => {
    const { catalog } = await catalogWith([
      { name: "edge", version: "1.0.0" },
      { name: "edge", version: "2.0.0-beta.1" },
    ]);
    const installer = new Installer({ pluginDir: tempDir(), catalog, signatures: signer.policy });
    expect((await installer.install("edge@2.0.0-beta.1")).installed.map((p) => p.version)).toEqual(["2.0.0-beta.1"]);
    expect(await installer.outdated()).toEqual([]);
    await catalog.publish(await makePackage({ name: "edge", version: "2.0.0", signer }));
    expect(await installer.outdated()).toEqual([{ name: "edge", current: "2.0.0-beta.1", wanted: "2.0.0", latest: "2.0.0" }]);
    expect((await installer.update("edge")).installed.map((p) => p.version)).toEqual(["2.0.0"]);
  });

  it("0.x updates stay within the minor", async () => {
    const { catalog } = await catalogWith([{ name: "young", version: "0.1.0" }]);
    const pluginDir = tempDir();
    const installer = new Installer({ pluginDir, catalog, signatures: signer.policy });
    await installer.install("young");
    for (const version of ["0.1.5", "0.2.0"]) await catalog.publish(await makePackage({ name: "young", version, signer }));
    const r = await installer.update("young");
    expect(r.installed.map((p) => p.version)).toEqual(["0.1.5"]);
    expect(await installer.outdated()).toEqual([{ name: "young", current: "0.1.5", wanted: "0.1.5", latest: "0.2.0" }]);
  });

  it("reproduces the lockfile on a fresh plugin directory with identical digests and bytes", async () => {
    const { catalog } = await catalogWith([
      { name: "lib", version: "1.0.0", example: "transform" },
      { name: "app", version: "1.3.0", dependencies: { lib: "^1" } },
    ]);
    const first = tempDir();
    await new Installer({ pluginDir: first, catalog, signatures: signer.policy }).install("app");
    const fresh = tempDir();
    cpSync(path.join(first, LOCKFILE_NAME), path.join(fresh, LOCKFILE_NAME));
    // Newer versions published since must not leak into a reproduction.
    await catalog.publish(await makePackage({ name: "lib", version: "1.1.0", example: "transform", signer }));
    const installer = new Installer({ pluginDir: fresh, catalog: new DirectoryCatalog(catalog.dir), signatures: signer.policy, requireSignature: true });
    const r = await installer.installLocked();
    expect(r.installed.map((p) => `${p.name}@${p.version}`)).toEqual(["lib@1.0.0", "app@1.3.0"]); // dependencies first
    expect(readFileSync(path.join(fresh, LOCKFILE_NAME), "utf8")).toBe(readFileSync(path.join(first, LOCKFILE_NAME), "utf8"));
    expect(snapshot(fresh)).toEqual(snapshot(first));
    // Already there: nothing to do.
    expect((await installer.installLocked()).installed).toEqual([]);

    // A lockfile pinning other bytes than the catalog serves is refused, nothing written.
    const tampered = tempDir();
    const lock = JSON.parse(readFileSync(path.join(first, LOCKFILE_NAME), "utf8"));
    lock.plugins.lib.digest = "sha256-" + "0".repeat(64);
    writeFileSync(path.join(tampered, LOCKFILE_NAME), JSON.stringify(lock));
    const before = snapshot(tampered);
    const err = await new Installer({ pluginDir: tampered, catalog, signatures: signer.policy }).installLocked().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect((err as PackageVerificationError).reason).toBe("digest");
    expect((err as Error).message).toMatch(/pins sha256-0{64}/);
    expect(snapshot(tampered)).toEqual(before);
  });

  it("installs again a plugin whose link was removed by hand", async () => {
    const { catalog } = await catalogWith([{ name: "greeter", version: "1.0.0" }]);
    const pluginDir = tempDir();
    const installer = new Installer({ pluginDir, catalog, signatures: signer.policy });
    await installer.install("greeter");
    const before = snapshot(pluginDir);
    rmSync(path.join(pluginDir, "greeter"));
    expect((await installer.install("greeter")).installed.map((p) => p.version)).toEqual(["1.0.0"]);
    expect(snapshot(pluginDir)).toEqual(before);
    rmSync(path.join(pluginDir, "greeter"));
    expect((await installer.installLocked()).installed.map((p) => p.version)).toEqual(["1.0.0"]);
    expect(snapshot(pluginDir)).toEqual(before);
  });

  it("installs a native plugin built for this platform, and refuses one built for another before writing", async () => {
    const native = await packPlugin(path.join(root, "examples", "native", "legacy-hello"), { created: new Date("2026-01-01T00:00:00Z") });
    const elsewhere = process.arch === "x64" ? "linux-riscv64" : "linux-x64";
    // 0.1.1, packed from a copy whose manifest says so (metadata and manifest agree), built "for" another platform.
    const next = tempDir();
    cpSync(path.join(root, "examples", "native", "legacy-hello"), next, { recursive: true });
    writeFileSync(path.join(next, "plugin.toml"), readFileSync(path.join(next, "plugin.toml"), "utf8").replace('version = "0.1.0"', 'version = "0.1.1"'));
    const packed = await packPlugin(next, { created: new Date("2026-01-01T00:00:00Z") });
    const foreign = packageFromParts(serializeMetadata({ ...packed.metadata, platform: elsewhere }), packed.files);
    const dir = tempDir("plughost-catalog-");
    const catalog = new DirectoryCatalog(dir);
    await catalog.publish(native);
    await catalog.publish(foreign);
    const pluginDir = tempDir();
    const installer = new Installer({ pluginDir, catalog });
    await installer.install("legacy-hello@0.1.0");
    const before = snapshot(pluginDir);
    const err = await installer.update("legacy-hello").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageError);
    expect((err as Error).message).toMatch(new RegExp(`legacy-hello@0\\.1\\.1: its native library was built for ${elsewhere}, and this host is ${process.platform}-${process.arch}`));
    expect(snapshot(pluginDir)).toEqual(before);
    const registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, pluginDirs: [pluginDir] });
    registries.push(registry);
    await registry.discoverPluginDirs();
    await registry.loadByName("legacy-hello");
    expect(await registry.dispatch("greet", enc("native"))).toEqual([{ plugin: "legacy-hello", status: 0 }]);
  });

  it("never overwrites a plugin directory it did not install", async () => {
    const { catalog } = await catalogWith([{ name: "greeter", version: "1.0.0" }]);
    const pluginDir = tempDir();
    const mine = path.join(pluginDir, "greeter");
    cpSync(makePluginDir({ name: "greeter", version: "0.0.1" }), mine, { recursive: true });
    const before = snapshot(pluginDir);
    const err = await new Installer({ pluginDir, catalog, signatures: signer.policy }).install("greeter").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogError);
    expect((err as CatalogError).reason).toBe("io");
    expect((err as Error).message).toMatch(/was not installed by plughost install/);
    // Only the (empty) store made for staging may be new; the user's directory is untouched.
    const after = snapshot(pluginDir);
    for (const [p, v] of Object.entries(before)) expect(after[p]).toBe(v);
  });

  it("breaks the lock of a killed install, refuses while a live one holds it, or waits for it with lockWaitMs", async () => {
    const { catalog } = await catalogWith([{ name: "greeter", version: "1.0.0" }]);
    const pluginDir = tempDir();
    const lockFile = path.join(pluginDir, ".plughost-install.lock");
    const holder = (pid: number) => JSON.stringify({ pid, host: hostname(), time: Date.now() });
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    writeFileSync(lockFile, holder(Number(dead.stdout)));
    // The killed install's half-extracted download is cleared too.
    mkdirSync(path.join(pluginDir, ".plughost", "tmp", "x-killed", "plugin"), { recursive: true });
    const installer = new Installer({ pluginDir, catalog, signatures: signer.policy });
    await installer.install("greeter");
    expect(existsSync(path.join(pluginDir, ".plughost", "tmp"))).toBe(false);
    expect(existsSync(lockFile)).toBe(false);

    // A live holder: this very process, as a second install running at the same time would be.
    writeFileSync(lockFile, holder(process.pid));
    const err = await installer.uninstall("greeter").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogError);
    expect((err as CatalogError).reason).toBe("conflict");
    expect((err as Error).message).toMatch(new RegExp(`another install \\(process ${process.pid} on ${hostname()} since [0-9T:.-]+Z\\) is running in this plugin directory`));
    expect((await installer.list()).plugins.greeter).toBeDefined();

    // With lockWaitMs the installer waits for the holder to finish.
    setTimeout(() => rmSync(lockFile), 150);
    const patient = new Installer({ pluginDir, catalog, signatures: signer.policy, lockWaitMs: 10_000 });
    expect(await patient.uninstall("greeter")).toEqual({ name: "greeter", version: "1.0.0" });
  });
});

describe("reserved names", () => {
  it("refuses a plugin named like the lockfile, before writing anything", async () => {
    const { catalog } = await catalogWith([{ name: LOCKFILE_NAME, version: "1.0.0" }]);
    const pluginDir = tempDir();
    await expect(new Installer({ pluginDir, catalog, signatures: signer.policy }).install(LOCKFILE_NAME)).rejects.toThrow(new RegExp(`${LOCKFILE_NAME.replace(/\./g, "\\.")}: it would collide with the lockfile`));
    expect(existsSync(path.join(pluginDir, LOCKFILE_NAME))).toBe(false);
  });
});

describe("tampering at install: refused with a typed error, nothing written to the plugin directory", () => {
  /** A plugin dir with greeter@1.0.0 installed, and the catalog. */
  async function installedBase() {
    const base = await catalogWith([{ name: "greeter", version: "1.0.0" }]);
    const pluginDir = tempDir();
    await new Installer({ pluginDir, catalog: base.catalog, signatures: signer.policy }).install("greeter");
    return { ...base, pluginDir };
  }

  async function refused(installer: Installer, pluginDir: string, spec: string, reason: PackageVerificationError["reason"]) {
    const before = snapshot(pluginDir);
    const err = await installer.install(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageVerificationError);
    expect((err as PackageVerificationError).reason).toBe(reason);
    expect(snapshot(pluginDir)).toEqual(before);
    return err as PackageVerificationError;
  }

  it("a swapped blob (a byte of the component changed, the index rewritten to match the file)", async () => {
    const { catalog, dir, pluginDir } = await installedBase();
    const pkg = await makePackage({ name: "greeter", version: "1.1.0", signer });
    const bytes = writePackage(pkg);
    // Flip a byte inside the component: the package file is 'valid' tar, its metadata no longer matches.
    const at = Buffer.from(bytes).indexOf(Buffer.from([0x00, 0x61, 0x73, 0x6d])) + 64;
    bytes[at] ^= 0xff;
    forceIndex(dir, "greeter", "1.1.0", bytes, sha(bytes));
    const err = await refused(new Installer({ pluginDir, catalog, signatures: signer.policy }), pluginDir, "greeter@1.1.0", "digest");
    expect(err.message).toMatch(/plugin\.wasm/);
    expect(err.plugin).toBe("greeter");
    // The installed version still loads.
    expect(await greet(await hostOf(pluginDir), "greeter", "still")).toBe("hello, still!");
  });

  it("a package whose signature names another plugin", async () => {
    const { catalog, dir, pluginDir } = await installedBase();
    const pkg = await makePackage({ name: "greeter", version: "1.1.0", signer });
    const other = await makePackage({ name: "intruder", version: "1.1.0", signer });
    const bytes = writePackage({ ...pkg, signature: other.signature! });
    forceIndex(dir, "greeter", "1.1.0", bytes, sha(bytes));
    const err = await refused(new Installer({ pluginDir, catalog, signatures: signer.policy }), pluginDir, "greeter@1.1.0", "wrong-plugin");
    expect(err.message).toMatch(/made for plugin intruder/);
  });

  it("an older version replayed under a newer one (by the catalog's index, and by a hostile catalog)", async () => {
    const { catalog, dir, pluginDir } = await installedBase();
    const old = await catalog.fetch("greeter", "1.0.0");
    const bytes = writePackage(old.package);
    forceIndex(dir, "greeter", "1.1.0", bytes, old.digest);
    await refused(new Installer({ pluginDir, catalog, signatures: signer.policy }), pluginDir, "greeter@1.1.0", "wrong-version");

    // A catalog that answers 1.1.0 with 1.0.0's genuine package: the installer's own check refuses it.
    const replaying: Catalog = {
      location: "hostile",
      search: () => catalog.search(),
      versions: async (name) => [...(await catalog.versions(name)), { ...(await catalog.versions(name))[0]!, version: "9.0.0" }],
      fetch: (name): Promise<FetchedPackage> => catalog.fetch(name, "1.0.0"),
      publish: (p) => catalog.publish(p),
    };
    const err = await refused(new Installer({ pluginDir, catalog: replaying, signatures: signer.policy }), pluginDir, "greeter@^9", "wrong-version");
    expect(err.message).toMatch(/not version 9\.0\.0/);
  });

  it("a package signed by a revoked key names the key and the revocation date", async () => {
    const { catalog, pluginDir } = await installedBase();
    await catalog.publish(await makePackage({ name: "greeter", version: "1.1.0", signer }));
    const revoked = { keys: { release: { key: signer.publicKey, revoked: "2026-11-30", reason: "leaked" } } };
    const err = await refused(new Installer({ pluginDir, catalog, signatures: revoked }), pluginDir, "greeter@1.1.0", "revoked-key");
    expect(err.message).toMatch(/release/);
    expect(err.message).toMatch(/2026-11-30/);
  });

  it("an unsigned package under requireSignature, and a key the trust list does not have", async () => {
    const { catalog, pluginDir } = await installedBase();
    await catalog.publish(await makePackage({ name: "greeter", version: "1.1.0" }));
    const err = await refused(new Installer({ pluginDir, catalog, signatures: signer.policy, requireSignature: true }), pluginDir, "greeter@1.1.0", "unsigned");
    expect(err.message).toMatch(/not signed/);
    // The host policy's require says the same without the option.
    await refused(new Installer({ pluginDir, catalog, signatures: { ...signer.policy, require: true } }), pluginDir, "greeter@1.1.0", "unsigned");
    // requireSignature: false does not lift the host policy's require.
    await refused(new Installer({ pluginDir, catalog, signatures: { ...signer.policy, require: true }, requireSignature: false }), pluginDir, "greeter@1.1.0", "unsigned");

    const stranger = signingKey("stranger");
    await catalog.publish(await makePackage({ name: "greeter", version: "1.2.0", signer: stranger }));
    await refused(new Installer({ pluginDir, catalog, signatures: signer.policy }), pluginDir, "greeter@1.2.0", "unknown-key");

    // Without a requirement the unsigned one installs (and loads under a trust list that does not require signatures).
    const r = await new Installer({ pluginDir, catalog, signatures: signer.policy }).install("greeter@1.1.0");
    expect(r.installed.map((p) => [p.version, p.key])).toEqual([["1.1.0", undefined]]);
    expect((await readLockfile(path.join(pluginDir, LOCKFILE_NAME))).plugins.greeter!.key).toBeUndefined();
  });
});
