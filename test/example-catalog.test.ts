// The catalog example (examples/catalog/main.mjs, part of `npm run demo`), run as a user would: a child process
// importing "plughost" (dist/ built). It packs and signs the real examples/c/hello, publishes it to a directory
// catalog, installs, loads, updates and refuses a tampered package.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { pluginDir, root } from "./helpers/plugins.js";

describe("examples/catalog/main.mjs", () => {
  it("publishes signed packages, installs and loads them, updates within 0.1, and refuses a tampered 0.2.0", () => {
    pluginDir("examples/c/hello");
    const r = spawnSync(process.execPath, [path.join(root, "examples", "catalog", "main.mjs")], { cwd: root, encoding: "utf8", timeout: 110_000 });
    expect(r.status, `main.mjs failed:\n${r.stderr}\n${r.stdout}`).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/published hello-c@0\.1\.0 \(sha256-[0-9a-f]{12}…, signed: true\)/);
    expect(out).toContain('search "hello": hello-c@0.1.0 [examples] Logs on init');
    expect(out).toContain("installed: hello-c@0.1.0 (key acme)");
    expect(out).toContain('hello-c@0.1.0 answers greet: "hello, catalog!"');
    expect(out).toContain("updated: hello-c@0.1.1");
    expect(out).toContain('hello-c@0.1.1 answers greet: "hello, catalog!"');
    expect(out).toMatch(/lockfile: hello-c@0\.1\.1 sha256-[0-9a-f]{12}…/);
    expect(out).toMatch(/update --major refused: E_VERIFICATION_FAILED digest: \[hello-c\] .*hello-c-0\.2\.0\.plughost has digest sha256-/);
    expect(out).toContain("still installed: hello-c@0.1.1");
    expect(out).not.toContain("must not happen");
  }, 120_000);
});
