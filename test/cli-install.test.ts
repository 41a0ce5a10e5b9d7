/**
 * plughost install / update / uninstall / outdated as a user runs them (dist/cli/index.js in a child process),
 * against a real directory catalog of packed, signed example plugins; `plughost run` then loads what was installed.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DirectoryCatalog } from "../src/catalog/directory.js";
import { LOCKFILE_NAME } from "../src/catalog/lockfile.js";
import { makePackage, signingKey, snapshot, tempDir } from "./helpers/install-fixtures.js";
import { root } from "./helpers/plugins.js";

const cli = path.join(root, "dist", "cli", "index.js");
const signer = signingKey("release");
const env = { ...process.env, PLUGHOST_LOG_LEVEL: "warn", PLUGHOST_CATALOG: "" };
const run = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd, encoding: "utf8", env });
const json = (cwd: string, ...args: string[]) => {
  const r = run(cwd, ...args, "--json");
  try {
    return { status: r.status, out: JSON.parse(r.stdout) };
  } catch {
    throw new Error(`not JSON (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
  }
};

let catalogDir: string;
beforeAll(async () => {
  catalogDir = tempDir("plughost-cli-catalog-");
  const catalog = new DirectoryCatalog(catalogDir);
  for (const version of ["1.0.0", "1.1.0", "2.0.0"]) await catalog.publish(await makePackage({ name: "greeter", version, signer }));
  await catalog.publish(await makePackage({ name: "loose", version: "1.0.0" })); // unsigned
});

/** A host: a working directory with plughost.config.json naming a plugin directory and the trust list. */
function host(): { cwd: string; pluginDir: string } {
  const cwd = tempDir("plughost-cli-host-");
  writeFileSync(path.join(cwd, "plughost.config.json"), JSON.stringify({ pluginDirs: ["plugins"], signatures: signer.policy }));
  return { cwd, pluginDir: path.join(cwd, "plugins") };
}

describe("plughost install, update, outdated, uninstall", () => {
  it("installs into the host config's plugin dir, updates within the major, crosses it with --major, and uninstalls", () => {
    const { cwd, pluginDir } = host();
    const installed = json(cwd, "install", "greeter@1.0.0", "--catalog", catalogDir);
    expect(installed.status).toBe(0);
    expect(installed.out[0].installed).toMatchObject([{ name: "greeter", version: "1.0.0", key: "release", level: "verified", path: path.join(pluginDir, "greeter") }]);
    expect(existsSync(path.join(pluginDir, LOCKFILE_NAME))).toBe(true);

    // plughost run loads what was installed, through the host config's pluginDirs and trust list.
    const ran = run(cwd, "run", "greeter", "--hook", "greet=cli", "--json");
    expect(ran.status).toBe(0);
    expect(ran.stdout).toContain("hello, cli!");

    // Without --catalog: the lockfile's catalog.
    expect(json(cwd, "outdated").out).toEqual([{ name: "greeter", current: "1.0.0", wanted: "1.1.0", latest: "2.0.0" }]);
    const text = run(cwd, "outdated");
    expect(text.stdout).toMatch(/greeter\s+1\.0\.0\s+1\.1\.0\s+2\.0\.0/);

    const updated = run(cwd, "update");
    expect(updated.status).toBe(0);
    expect(updated.stdout).toMatch(/updated greeter@1\.1\.0 \(was 1\.0\.0\): signed by "release" \(verified\)/);
    const stays = run(cwd, "update", "greeter");
    expect(stays.stdout).toMatch(/greeter@1\.1\.0 is up to date/);
    const major = json(cwd, "update", "greeter", "--major");
    expect(major.out.installed).toMatchObject([{ name: "greeter", version: "2.0.0", previous: "1.1.0" }]);
    expect(json(cwd, "outdated").out).toEqual([]);

    const removed = run(cwd, "uninstall", "greeter");
    expect(removed.status).toBe(0);
    expect(removed.stdout).toBe(`uninstalled greeter@2.0.0 from ${pluginDir}\n`);
    expect(existsSync(path.join(pluginDir, "greeter"))).toBe(false);
    const again = json(cwd, "uninstall", "greeter");
    expect(again.status).toBe(1);
    expect(again.out).toMatchObject({ error: "E_CATALOG", plugin: "greeter" });
  });

  it("install with no name reproduces the lockfile in a fresh plugin directory", () => {
    const first = host();
    expect(run(first.cwd, "install", "greeter@^1", "--catalog", catalogDir).status).toBe(0);
    const fresh = host();
    cpSync(path.join(first.pluginDir, LOCKFILE_NAME), path.join(fresh.cwd, "plugins", LOCKFILE_NAME), { recursive: true });
    const r = json(fresh.cwd, "install");
    expect(r.status).toBe(0);
    expect(r.out.installed).toMatchObject([{ name: "greeter", version: "1.1.0" }]);
    expect(snapshot(fresh.pluginDir)).toEqual(snapshot(first.pluginDir));
  });

  it("refuses an unsigned package under --require-signature (and the host's signatures.require), writing nothing", () => {
    const { cwd, pluginDir } = host();
    const refused = json(cwd, "install", "loose", "--catalog", catalogDir, "--require-signature");
    expect(refused.status).toBe(1);
    expect(refused.out).toMatchObject({ error: "E_VERIFICATION_FAILED", plugin: "loose" });
    expect(refused.out.message).toMatch(/not signed/);
    expect(existsSync(pluginDir) ? snapshot(pluginDir) : {}).toEqual({});

    writeFileSync(path.join(cwd, "plughost.config.json"), JSON.stringify({ pluginDirs: ["plugins"], signatures: { ...signer.policy, require: true } }));
    const text = run(cwd, "install", "loose", "--catalog", catalogDir);
    expect(text.status).toBe(1);
    expect(text.stderr).toMatch(/^error E_VERIFICATION_FAILED: .*loose@1\.0\.0: is not signed/);

    // Allowed by default: installed, reported as unsigned.
    writeFileSync(path.join(cwd, "plughost.config.json"), JSON.stringify({ pluginDirs: ["plugins"], signatures: signer.policy }));
    const ok = run(cwd, "install", "loose", "--catalog", catalogDir);
    expect(ok.stdout).toMatch(/installed loose@1\.0\.0: unsigned, sha256-[0-9a-f]{64}/);
    expect(JSON.parse(readFileSync(path.join(pluginDir, LOCKFILE_NAME), "utf8")).plugins.loose.key).toBeUndefined();
  });

  it("says what is missing: no plugin directory, no catalog, a version that does not exist", () => {
    const bare = tempDir("plughost-cli-bare-");
    const noDir = run(bare, "install", "greeter", "--catalog", catalogDir);
    expect(noDir.status).toBe(2);
    expect(noDir.stderr).toMatch(/install needs a plugin directory: --dir <dir>/);
    const noCatalog = run(bare, "install", "greeter", "--dir", path.join(bare, "plugins"));
    expect(noCatalog.status).toBe(2);
    expect(noCatalog.stderr).toMatch(/install needs --catalog/);
    const none = json(bare, "install", "greeter@^7", "--dir", path.join(bare, "plugins"), "--catalog", catalogDir);
    expect(none.status).toBe(1);
    expect(none.out).toMatchObject({ error: "E_CATALOG", plugin: "greeter" });
    expect(none.out.message).toMatch(/no version of greeter matches \^7 \(it has 1\.0\.0, 1\.1\.0, 2\.0\.0\)/);
  });
});
