// templates/rust through the CLI, as a user meets it:
//   plughost new rust <name>  ->  plughost build  ->  node test.mjs
// The build reuses the toolchain and target directory the set-up step
// (scripts/setup/32-guests-rust.mjs) filled, so it compiles only the new crate.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync, mkdirSync, symlinkSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { componentWit } from "@bytecodealliance/jco-transpile/wasm-tools";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cli = path.join(root, "dist", "cli", "index.js");
const NAME = "my-rust-plugin";
let tmp: string;
let dir: string;

function run(args: string[], cwd = tmp) {
  const r = spawnSync(process.execPath, args, { cwd, encoding: "utf8", timeout: 300_000 });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** Every file under `d`, relative to it. */
function files(d: string, base = d): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(d, e.name), base) : [path.relative(base, path.join(d, e.name))],
  );
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error("dist/cli/index.js is missing: run `node scripts/setup.mjs` (it compiles the host library and CLI)");
  tmp = mkdtempSync(path.join(tmpdir(), "plughost-template-rust-"));
  // A project that has plughost installed: the scaffold's test.mjs imports it by name.
  mkdirSync(path.join(tmp, "node_modules"));
  symlinkSync(root, path.join(tmp, "node_modules", "plughost"));
  dir = path.join(tmp, NAME);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("templates/rust", () => {
  it("plughost new rust <name> scaffolds it with every placeholder filled", () => {
    const r = run([cli, "new", "rust", NAME]);
    expect(r.status, r.out).toBe(0);
    expect(files(dir).sort()).toEqual([".gitignore", "Cargo.toml", "plugin.toml", "src/lib.rs", "test.mjs"]);
    for (const f of files(dir)) expect(readFileSync(path.join(dir, f), "utf8"), f).not.toMatch(/\{\{\w+\}\}/);
    expect(readFileSync(path.join(dir, "plugin.toml"), "utf8")).toContain(`name = "${NAME}"`);
    // The SDK crate by a path relative to the plugin: nothing absolute is written.
    const sdk = path.relative(dir, path.join(root, "guest-sdks", "rust"));
    expect(readFileSync(path.join(dir, "Cargo.toml"), "utf8")).toContain(`path = "${sdk}"`);
    for (const f of files(dir)) expect(readFileSync(path.join(dir, f), "utf8").split(sdk).join(""), f).not.toContain(root);
  });

  it("plughost build builds a component with no WASI imports", async () => {
    const r = run([cli, "build", dir]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/imports no WASI/);
    const wit = await componentWit(readFileSync(path.join(dir, "plugin.wasm")));
    expect(wit).toMatch(/^\s*export plughost:plugin\/guest@0\.1\.0;/m);
    expect(wit).not.toMatch(/import wasi:/);
  }, 300_000);

  it("passes its own test", () => {
    const r = run(["test.mjs"], dir);
    expect(r.status, r.out).toBe(0);
  }, 60_000);
});
