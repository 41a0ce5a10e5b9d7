// plughost pack / unpack / inspect <package>: the built CLI (dist/cli) in child processes, on examples/c/hello.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { pluginDir, root } from "./helpers/plugins.js";

const cli = path.join(root, "dist/cli/index.js");
const HELLO = pluginDir("examples/c/hello");

const run = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd, encoding: "utf8", env: { ...process.env, PLUGHOST_LOG_LEVEL: "warn" } });

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), "plughost-clipack-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A key made by plughost keygen in `dir`, and a host config trusting it. */
function keyAndConfig(dir: string): { keyFile: string; config: string } {
  const k = run(dir, "keygen", "acme", "--out", dir, "--json");
  expect(k.status).toBe(0);
  const { publicKey, privateKeyFile } = JSON.parse(k.stdout) as { publicKey: string; privateKeyFile: string };
  const config = path.join(dir, "plughost.config.json");
  writeFileSync(config, JSON.stringify({ signatures: { keys: { acme: publicKey } } }));
  return { keyFile: privateKeyFile, config };
}

describe("plughost pack", () => {
  it("writes <name>-<version>.plughost, the same bytes every time, listing with tar", () => {
    const dir = tempDir();
    const r = run(dir, "pack", HELLO, "--json");
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { file: string; name: string; version: string; digest: string; signed: boolean; files: number };
    expect(summary).toMatchObject({ file: path.join(dir, "hello-c-0.1.0.plughost"), name: "hello-c", version: "0.1.0", signed: false, files: 2 });
    const first = readFileSync(summary.file);
    // --out as a directory, then as a file: same bytes.
    const out = path.join(dir, "out");
    mkdirSync(out);
    expect(run(dir, "pack", HELLO, "--out", out).status).toBe(0);
    expect(readFileSync(path.join(out, "hello-c-0.1.0.plughost")).equals(first)).toBe(true);
    const named = run(dir, "pack", path.join(HELLO, "plugin.toml"), "--out", path.join(dir, "x.plughost"));
    expect(named.stdout).toMatch(/packed hello-c@0\.1\.0 \(2 files, \d+ bytes, unsigned\): .*x\.plughost\ndigest: sha256-[0-9a-f]{64}/);
    expect(readFileSync(path.join(dir, "x.plughost")).equals(first)).toBe(true);
    expect(spawnSync("tar", ["tf", summary.file], { encoding: "utf8" }).stdout.trim().split("\n")).toEqual(["plughost-package.json", "plugin.toml", "plugin.wasm"]);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("signs with --key (key id from the file name), and inspect verifies it against the host config's trust list", () => {
    const dir = tempDir();
    const { keyFile, config } = keyAndConfig(dir);
    const packed = run(dir, "pack", HELLO, "--key", keyFile, "--json");
    expect(packed.status, packed.stderr).toBe(0);
    expect(JSON.parse(packed.stdout)).toMatchObject({ signed: true, key: "acme", files: 3 });
    const file = path.join(dir, "hello-c-0.1.0.plughost");

    const verified = run(dir, "inspect", file, "--json", "--config", config);
    expect(verified.status, verified.stderr).toBe(0);
    const report = JSON.parse(verified.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ name: "hello-c", version: "0.1.0", kind: "component", license: "Apache-2.0", signature: { key: "acme", verified: true, level: "verified" } });
    expect((report.files as { path: string }[]).map((f) => f.path)).toEqual(["plugin.sig", "plugin.toml", "plugin.wasm"]);

    const text = run(tempDir(), "inspect", file);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/package hello-c@0\.1\.0 \(component\)/);
    expect(text.stdout).toMatch(/signature: key "acme", NOT verified: no trust list/);
    expect(text.stdout).toMatch(/plugin\.wasm {2}\d+ B {2}sha256-[0-9a-f]{64}/);
  });

  it("fails with a usage error without a directory, and with the manifest error for a directory without a plugin", () => {
    const dir = tempDir();
    expect(run(dir, "pack").status).toBe(2);
    const r = run(dir, "pack", dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no manifest in/);
  });
});

describe("plughost unpack", () => {
  it("writes the plugin files into a new directory, and the result inspects as a plugin", () => {
    const dir = tempDir();
    expect(run(dir, "pack", HELLO).status).toBe(0);
    const r = run(dir, "unpack", "hello-c-0.1.0.plughost", "plugin");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/unpacked hello-c@0\.1\.0 \(2 files, unsigned\)/);
    expect(readFileSync(path.join(dir, "plugin", "plugin.wasm")).equals(readFileSync(path.join(HELLO, "plugin.wasm")))).toBe(true);
    const inspected = run(dir, "inspect", "plugin", "--json");
    expect(inspected.status, inspected.stderr).toBe(0);
    expect(JSON.parse(inspected.stdout)).toMatchObject({ manifest: { name: "hello-c" } });

    const again = run(dir, "unpack", "hello-c-0.1.0.plughost", "plugin");
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/E_PACKAGE_INVALID.*is not empty/);
  });

  it("verifies before writing: unsigned under --require-signature, a tampered file, a signature by another key under a trusted id", () => {
    const dir = tempDir();
    expect(run(dir, "pack", HELLO).status).toBe(0);
    const unsigned = run(dir, "unpack", "hello-c-0.1.0.plughost", "a", "--require-signature");
    expect(unsigned.status).toBe(1);
    expect(unsigned.stderr).toMatch(/E_VERIFICATION_FAILED.*not signed/);
    expect(existsSync(path.join(dir, "a"))).toBe(false);

    const bytes = readFileSync(path.join(dir, "hello-c-0.1.0.plughost"));
    bytes[bytes.length - 1024 - 400] ^= 1;
    writeFileSync(path.join(dir, "bad.plughost"), bytes);
    const tampered = run(dir, "unpack", "bad.plughost", "b", "--json");
    expect(tampered.status).toBe(1);
    expect(JSON.parse(tampered.stdout)).toMatchObject({ error: "E_VERIFICATION_FAILED" });
    expect(existsSync(path.join(dir, "b"))).toBe(false);
    expect(run(dir, "inspect", "bad.plughost").stderr).toMatch(/plugin\.wasm does not match the package metadata/);

    // Signed by a key, and a host config that trusts another one.
    const keys = tempDir();
    const { keyFile } = keyAndConfig(keys);
    expect(run(dir, "pack", HELLO, "--key", keyFile, "--out", "signed.plughost").status).toBe(0);
    const trustDir = tempDir();
    const { config } = keyAndConfig(trustDir);
    const unknown = run(dir, "unpack", "signed.plughost", "c", "--config", config);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/E_VERIFICATION_FAILED.*package signature does not verify with key "acme"/);
    expect(existsSync(path.join(dir, "c"))).toBe(false);
  });
});
