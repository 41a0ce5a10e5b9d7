// templates/go through the CLI, as a user meets it:
//   plughost new go <name>  ->  plughost build  ->  node test.mjs (and go test)
// Needs Go 1.24+ (the set-up step's; the build cache it filled makes this quick).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync, mkdirSync, symlinkSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { componentWit } from "@bytecodealliance/jco-transpile/wasm-tools";
import { findGo } from "../guest-sdks/go/build.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cli = path.join(root, "dist", "cli", "index.js");
const NAME = "my-go-plugin";
let tmp: string;
let dir: string;

function run(cmd: string, args: string[], cwd = tmp) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 300_000, env: { ...process.env, GOTOOLCHAIN: "local", GOPROXY: "off" } });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

function files(d: string, base = d): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(d, e.name), base) : [path.relative(base, path.join(d, e.name))],
  );
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error("dist/cli/index.js is missing: run `node scripts/setup.mjs` (it compiles the host library and CLI)");
  tmp = mkdtempSync(path.join(tmpdir(), "plughost-template-go-"));
  // A project that has plughost installed: the scaffold's test.mjs imports it by name.
  mkdirSync(path.join(tmp, "node_modules"));
  symlinkSync(root, path.join(tmp, "node_modules", "plughost"));
  dir = path.join(tmp, NAME);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("templates/go", () => {
  it("plughost new go <name> scaffolds it with every placeholder filled", () => {
    const r = run(process.execPath, [cli, "new", "go", NAME]);
    expect(r.status, r.out).toBe(0);
    expect(files(dir).sort()).toEqual([".gitignore", "go.mod", "go.work", "main.go", "main_test.go", "plugin.toml", "test.mjs"]);
    for (const f of files(dir)) expect(readFileSync(path.join(dir, f), "utf8"), f).not.toMatch(/\{\{\w+\}\}/);
    expect(readFileSync(path.join(dir, "plugin.toml"), "utf8")).toContain(`name = "${NAME}"`);
    expect(readFileSync(path.join(dir, "go.mod"), "utf8")).toContain(`module ${NAME}`);
    // The SDK by a path relative to the plugin (nothing absolute is written; the build uses its own workspace).
    const work = readFileSync(path.join(dir, "go.work"), "utf8");
    const sdk = path.relative(dir, path.join(root, "guest-sdks", "go"));
    expect(work).toContain(`\t${sdk}\n`);
    expect(work.split(sdk).join("")).not.toContain(root);
  });

  it("its Go unit tests pass natively (go test, against plughosttest)", () => {
    const r = run(findGo(), ["test", "./..."], dir);
    expect(r.status, r.out).toBe(0);
  }, 300_000);

  it("plughost build builds a component importing only the Go runtime's WASI", async () => {
    const r = run(process.execPath, [cli, "build", dir]);
    expect(r.status, r.out).toBe(0);
    const wit = await componentWit(readFileSync(path.join(dir, "plugin.wasm")));
    expect(wit).toMatch(/^\s*import plughost:plugin\/host@0\.1\.0;/m);
    expect(wit).toMatch(/^\s*export plughost:plugin\/guest@0\.1\.0;/m);
    expect(wit).not.toMatch(/import wasi:filesystem/);
  }, 300_000);

  it("passes its own test", () => {
    const r = run(process.execPath, ["test.mjs"], dir);
    expect(r.status, r.out).toBe(0);
  }, 60_000);
});
