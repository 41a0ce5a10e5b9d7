import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packPlugin, writePackage } from "../src/package/index.js";
import { copyPlugin, root } from "./helpers/plugins.js";
import { startOciRegistry, type OciRegistry } from "./helpers/oci-registry.mjs";

const cli = path.join(root, "dist/cli/index.js");

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI in a child process (async: a registry in this process must keep answering meanwhile). */
function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const fullEnv: NodeJS.ProcessEnv = { ...process.env, PLUGHOST_LOG_LEVEL: "warn", ...env };
    for (const k of ["PLUGHOST_CATALOG", "PLUGHOST_CATALOG_USERNAME", "PLUGHOST_CATALOG_PASSWORD", "PLUGHOST_CATALOG_TOKEN"]) if (!(k in env)) delete fullEnv[k];
    const child = spawn(process.execPath, [cli, ...args], { env: fullEnv });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

const temps: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), "plughost-cli-catalog-"));
  temps.push(d);
  return d;
};
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** A copy of an example plugin at `version`. */
function pluginAt(rel: string, version: string, edit: (t: string) => string = (t) => t): string {
  const dir = copyPlugin(rel, (t) => edit(t.replace(/^version = .*$/m, `version = "${version}"`)));
  temps.push(dir);
  return dir;
}

let keyFile: string;
beforeAll(async () => {
  const keys = tempDir();
  const r = await run(["keygen", "publisher", "--out", keys]);
  expect(r.status, r.stderr).toBe(0);
  keyFile = path.join(keys, "publisher.key");
});

describe("plughost publish, search, versions against a directory catalog", () => {
  it("publishes a plugin directory (signed with --key) and a package file; versions and search show them", async () => {
    const catalog = path.join(tempDir(), "catalog");
    const a = await run(["publish", pluginAt("examples/c/hello", "1.0.0"), "--catalog", catalog, "--key", keyFile]);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/^published hello-c@1\.0\.0 to .*catalog \(sha256-[0-9a-f]{64}, signed with key "publisher"\)/);

    const pkgFile = path.join(tempDir(), "hello-c-1.2.0.plughost");
    const pkg = await packPlugin(pluginAt("examples/c/hello", "1.2.0"));
    writeFileSync(pkgFile, writePackage(pkg));
    const b = await run(["publish", pkgFile, "--catalog", catalog, "--json"]);
    expect(b.status, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({ catalog, name: "hello-c", version: "1.2.0", digest: pkg.digest, signed: false });

    const t = await run(["publish", pluginAt("examples/c/transform", "0.2.0"), "--catalog", catalog]);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toContain("unsigned");

    const v = await run(["versions", "hello-c", "--catalog", catalog]);
    expect(v.status, v.stderr).toBe(0);
    const lines = v.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^1\.0\.0\s+sha256-[0-9a-f]{64}\s+signed$/);
    expect(lines[1]).toBe(`1.2.0    ${pkg.digest}  unsigned`);
    const vj = JSON.parse((await run(["versions", "hello-c", "--catalog", catalog, "--json"])).stdout);
    expect(vj.map((e: { version: string; signed: boolean }) => [e.version, e.signed])).toEqual([["1.0.0", true], ["1.2.0", false]]);

    // search: every plugin's newest version, with description, categories, keywords and licence on its line.
    const s = await run(["search", "--catalog", catalog]);
    expect(s.status, s.stderr).toBe(0);
    const found = s.stdout.trim().split("\n");
    expect(found).toHaveLength(2);
    expect(found[0]).toMatch(/^hello-c\s+1\.2\.0\s+Logs on init, registers `greet`, and answers it\.\s+\[examples\]\s+#hello #example #c\s+Apache-2\.0$/);
    expect(found[1]).toMatch(/^transform-c\s+0\.2\.0\s+A hook that uppercases its bytes\.\s+\[text\]/);
    const byText = await run(["search", "UPPERCASE", "--catalog", catalog, "--json"]);
    expect(JSON.parse(byText.stdout).map((e: { name: string }) => e.name)).toEqual(["transform-c"]);
    const byCategory = await run(["search", "--category", "examples", "--catalog", catalog, "--json"]);
    expect(JSON.parse(byCategory.stdout).map((e: { name: string }) => e.name)).toEqual(["hello-c"]);
    const byTag = await run(["search", "--tag", "transform", "--catalog", catalog, "--json"]);
    expect(JSON.parse(byTag.stdout).map((e: { name: string }) => e.name)).toEqual(["transform-c"]);
    const none = await run(["search", "zzz", "--catalog", catalog]);
    expect(none.status).toBe(0);
    expect(none.stdout).toContain("no plugin in");
  });

  it("the catalog from PLUGHOST_CATALOG; without one, a usage error", async () => {
    const catalog = path.join(tempDir(), "catalog");
    expect((await run(["publish", pluginAt("examples/c/hello", "0.5.0")], { PLUGHOST_CATALOG: catalog })).status).toBe(0);
    const v = await run(["versions", "hello-c", "--json"], { PLUGHOST_CATALOG: catalog });
    expect(JSON.parse(v.stdout).map((e: { version: string }) => e.version)).toEqual(["0.5.0"]);
    const u = await run(["search", "hello"]);
    expect(u.status).toBe(2);
    expect(u.stderr).toContain("needs --catalog");
  });

  it("republishing the same version: same bytes a no-op, other bytes refused with exit 1 and nothing changed", async () => {
    const catalog = path.join(tempDir(), "catalog");
    const dir = pluginAt("examples/c/hello", "1.0.0");
    expect((await run(["publish", dir, "--catalog", catalog])).status).toBe(0);
    expect((await run(["publish", dir, "--catalog", catalog])).status).toBe(0);
    const other = pluginAt("examples/c/hello", "1.0.0", (t) => t.replace(/^description = .*$/m, 'description = "Another build."'));
    const r = await run(["publish", other, "--catalog", catalog]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error E_CATALOG: .*hello-c@1\.0\.0 is already published with other bytes/);
    const j = await run(["publish", other, "--catalog", catalog, "--json"]);
    expect(JSON.parse(j.stdout)).toMatchObject({ error: "E_CATALOG", plugin: "hello-c" });
    const s = JSON.parse((await run(["search", "--catalog", catalog, "--json"])).stdout);
    expect(s[0].description).toBe("Logs on init, registers `greet`, and answers it.");
    expect(readdirSync(path.join(catalog, "hello-c"))).toEqual(["hello-c-1.0.0.plughost"]);
  });

  it("bad input: an unknown plugin, a file that is not a package, a missing key, --key-id without --key", async () => {
    const catalog = path.join(tempDir(), "catalog");
    expect((await run(["publish", pluginAt("examples/c/hello", "1.0.0"), "--catalog", catalog])).status).toBe(0);
    const unknown = await run(["versions", "nope", "--catalog", catalog]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('error E_CATALOG: ');
    expect(unknown.stderr).toContain('no plugin "nope"');
    const junk = path.join(tempDir(), "junk.plughost");
    writeFileSync(junk, "not a tar file at all");
    const bad = await run(["publish", junk, "--catalog", catalog]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("E_PACKAGE_INVALID");
    expect(bad.stderr).toContain("junk.plughost");
    const noKey = await run(["publish", pluginAt("examples/c/hello", "1.1.0"), "--catalog", catalog, "--key", path.join(tempDir(), "missing.key")]);
    expect(noKey.status).toBe(1);
    expect(noKey.stderr).toContain("missing.key");
    const keyId = await run(["publish", pluginAt("examples/c/hello", "1.1.0"), "--catalog", catalog, "--key-id", "x"]);
    expect(keyId.status).toBe(2);
    expect(keyId.stderr).toContain("--key-id needs --key");
    expect((await run(["versions", "hello-c", "--catalog", catalog, "--json"])).stdout).not.toContain("1.1.0");
  });

  it("--help for each command", async () => {
    for (const cmd of ["publish", "search", "versions"]) {
      const r = await run([cmd, "--help"]);
      expect(r.status, cmd).toBe(0);
      expect(r.stdout).toContain(`plughost ${cmd}`);
    }
  });
});

describe("plughost publish, search, versions against a real OCI registry with basic auth", () => {
  let registry: OciRegistry;
  beforeAll(async () => {
    registry = await startOciRegistry({ users: { alice: "s3cret-pass" } });
  }, 30_000);
  afterAll(async () => {
    await registry?.close();
  });

  it("credentials from the environment: publish, versions, search; a wrong password is an auth error", async () => {
    const env = { PLUGHOST_CATALOG_USERNAME: "alice", PLUGHOST_CATALOG_PASSWORD: "s3cret-pass" };
    for (const v of ["0.9.0", "1.0.0"]) {
      const p = await run(["publish", pluginAt("examples/c/hello", v), "--catalog", registry.location, "--key", keyFile], env);
      expect(p.status, p.stderr).toBe(0);
      expect(p.stdout).toContain(`published hello-c@${v} to ${registry.location}`);
    }
    const v = await run(["versions", "hello-c", "--catalog", registry.location, "--json"], env);
    expect(v.status, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).map((e: { version: string; signed: boolean }) => [e.version, e.signed])).toEqual([["0.9.0", true], ["1.0.0", true]]);
    const s = await run(["search", "hello", "--category", "examples", "--catalog", registry.location, "--json"], env);
    expect(s.status, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout)).toEqual([expect.objectContaining({ name: "hello-c", version: "1.0.0", categories: ["examples"] })]);

    const wrong = await run(["versions", "hello-c", "--catalog", registry.location, "--json"], { PLUGHOST_CATALOG_USERNAME: "alice", PLUGHOST_CATALOG_PASSWORD: "wr0ng-Pa55" });
    expect(wrong.status).toBe(1);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ error: "E_CATALOG" });
    const anon = await run(["search", "--catalog", registry.location]);
    expect(anon.status).toBe(1);
    expect(anon.stderr).toContain("E_CATALOG");
    // The password is never echoed back.
    expect(wrong.stdout + wrong.stderr).not.toContain("wr0ng-Pa55");
  });
});
