// plughost trust, end to end through the built CLI in child processes: make keys, build a trust list, encrypt it,
// run a real signed plugin (examples/c/hello) with a host config naming the encrypted list, revoke its key (the run is
// refused naming the key and the date), rotate to a new key (it runs again), and the refusals of bad edits.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isEncryptedTrustList } from "../src/index.js";
import { copyPlugin, root } from "./helpers/plugins.js";

const cli = path.join(root, "dist/cli/index.js");
const work = mkdtempSync(path.join(tmpdir(), "plughost-trust-cli-"));
const plugin = copyPlugin("examples/c/hello");
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(plugin, { recursive: true, force: true });
});

/** Run the CLI in `work` with only the environment given (no PLUGHOST_TRUST_KEY unless passed). */
function plughost(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, encoding: "utf8", env: { PATH: process.env.PATH ?? "", HOME: work, ...env }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[], env?: Record<string, string>): string {
  const r = plughost(args, env);
  expect(r.stderr, args.join(" ")).toBe("");
  expect(r.status, `${args.join(" ")}: ${r.stdout}`).toBe(0);
  return r.stdout;
}

const trust = path.join(work, "trust.list");
const config = path.join(work, "plughost.config.json");

describe("plughost trust", () => {
  it("builds, encrypts, enforces, revokes and rotates a trust list used by plughost run", () => {
    ok(["keygen", "old", "--out", work]);
    ok(["keygen", "acme", "--out", work]);
    ok(["trust", "keygen", "--out", "trust.key"]);
    expect(statSync(path.join(work, "trust.key")).mode & 0o777).toBe(0o600);
    const key = readFileSync(path.join(work, "trust.key"), "utf8").trim();
    const env = { PLUGHOST_TRUST_KEY: key };

    // Created encrypted at once, because a key is in the environment.
    expect(ok(["trust", "add", "old", "old.pub", "--level", "community", "--file", trust], env)).toContain('trusted key "old" at level community');
    expect(isEncryptedTrustList(readFileSync(trust))).toBe(true);
    ok(["trust", "add", "acme", "acme.pub", "--file", trust], env);
    ok(["trust", "require", "net:outbound:*", "verified", "--file", trust], env);
    const listed = JSON.parse(ok(["trust", "list", "--file", trust, "--json"], env)) as Record<string, unknown>;
    expect(listed).toMatchObject({
      encrypted: true,
      keys: { acme: readFileSync(path.join(work, "acme.pub"), "utf8").trim(), old: { level: "community" } },
      requirements: { "net:outbound:*": "verified" },
    });

    // Without the key the list cannot be read; with a wrong one it is refused as a decrypt failure.
    const noKey = plughost(["trust", "list", "--file", trust]);
    expect(noKey.status).toBe(1);
    expect(noKey.stderr).toContain("is encrypted and no key was given");
    const wrong = plughost(["trust", "list", "--file", trust, "--json"], { PLUGHOST_TRUST_KEY: "00".repeat(32) });
    expect(wrong.status).toBe(1);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ error: "E_TRUST_LIST" });
    expect(wrong.stdout).toContain("cannot be decrypted: the key is wrong or the file was changed");

    // A host config naming the encrypted list: a plugin signed by "old" (community) runs.
    writeFileSync(config, JSON.stringify({ signatures: { file: "trust.list", keyFile: "trust.key" } }));
    ok(["sign", plugin, "--key", path.join(work, "old.key")]);
    const run = plughost(["run", plugin, "--config", config, "--hook", "greet=trusted", "--json"]);
    expect(run.status, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toContain("trusted");

    // Revoked: the same run is refused, naming the key and the date.
    expect(ok(["trust", "revoke", "old", "--date", "2026-12-01", "--reason", "key rotated", "--file", trust, "--key-file", "trust.key"])).toContain(
      'revoked key "old" on 2026-12-01',
    );
    expect(isEncryptedTrustList(readFileSync(trust))).toBe(true); // stays encrypted
    const refused = plughost(["run", plugin, "--config", config, "--hook", "greet=x"]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('is signed with key "old", which the trust list revoked on 2026-12-01 (key rotated)');

    // Rotation: re-signed with acme, it runs again.
    ok(["sign", plugin, "--key", path.join(work, "acme.key")]);
    const again = plughost(["run", plugin, "--config", config, "--hook", "greet=rotated", "--json"]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain("rotated");

    // decrypt writes the plain list; encrypt turns it back.
    ok(["trust", "decrypt", "--file", trust, "--out", "plain.json"], env);
    const plain = JSON.parse(readFileSync(path.join(work, "plain.json"), "utf8")) as { keys: Record<string, unknown> };
    expect(plain.keys.old).toMatchObject({ revoked: "2026-12-01", reason: "key rotated" });
    ok(["trust", "encrypt", "--file", "plain.json", "--key-file", "trust.key"]);
    expect(isEncryptedTrustList(readFileSync(path.join(work, "plain.json")))).toBe(true);
    expect(JSON.parse(ok(["trust", "list", "--config", config, "--json"])).keys).toEqual(plain.keys);
    writeFileSync(path.join(work, "host.toml"), '[signatures]\nfile = "plain.json"\nkeyFile = "trust.key"\n');
    expect(JSON.parse(ok(["trust", "list", "--config", path.join(work, "host.toml"), "--json"])).keys).toEqual(plain.keys);
  });

  it("refuses edits that would lose or fake trust, with the reason", () => {
    const file = path.join(work, "edits.json");
    ok(["keygen", "k1", "--out", work]);
    ok(["keygen", "k2", "--out", work]);
    ok(["trust", "add", "k1", "k1.pub", "--file", file]);
    const other = plughost(["trust", "add", "k1", "k2.pub", "--file", file]);
    expect(other.status).toBe(1);
    expect(other.stderr).toContain('key id "k1" is already listed with another public key');
    const unknown = plughost(["trust", "revoke", "ghost", "--file", file]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('there is no key "ghost" to revoke');
    ok(["trust", "revoke", "k1", "--file", file]);
    const twice = plughost(["trust", "revoke", "k1", "--file", file]);
    expect(twice.status).toBe(1);
    expect(twice.stderr).toMatch(/key "k1" was already revoked on \d{4}-\d{2}-\d{2}/);
    const back = plughost(["trust", "add", "k1", "k1.pub", "--file", file]);
    expect(back.status).toBe(1);
    expect(back.stderr).toContain("a revoked key stays revoked");
    const badLevel = plughost(["trust", "require", "clock", "gold", "--file", file]);
    expect(badLevel.status).toBe(2);
    const neverAdded = plughost(["trust", "revoke", "k2", "--file", file]);
    expect(neverAdded.status).toBe(1); // k2 was never added
    const noKey = plughost(["trust", "encrypt", "--file", file]);
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toContain("trust encrypt needs a key");
    // Nothing of the refused edits reached the file.
    expect(JSON.parse(readFileSync(file, "utf8")).keys).toEqual({ k1: { key: readFileSync(path.join(work, "k1.pub"), "utf8").trim(), revoked: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) } });
  });
});
