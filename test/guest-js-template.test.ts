// templates/js through the CLI, as a user meets it:
//   plughost new js <name>  ->  tsc (typecheck)  ->  plughost build  ->  node test.mjs
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readFileSync, rmSync, existsSync, mkdirSync, symlinkSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cli = path.join(root, "dist", "cli", "index.js");
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
const NAME = "my-js-plugin";
let tmp: string;
let dir: string;

function run(args: string[], cwd = tmp) {
  const r = spawnSync(process.execPath, args, { cwd, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error("dist/cli/index.js is missing: run `node scripts/setup.mjs` (it compiles the host library and CLI)");
  tmp = mkdtempSync(path.join(tmpdir(), "plughost-template-js-"));
  // A project that has plughost installed: the scaffold's test.mjs imports it by name.
  mkdirSync(path.join(tmp, "node_modules"));
  symlinkSync(root, path.join(tmp, "node_modules", "plughost"));
  dir = path.join(tmp, NAME);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("templates/js", () => {
  it("plughost new js <name> scaffolds it", () => {
    const r = run([cli, "new", "js", NAME]);
    expect(r.status, r.out).toBe(0);
    expect(readFileSync(path.join(dir, "plugin.toml"), "utf8")).toContain(`name = "${NAME}"`);
    for (const f of ["plugin.ts", "test.mjs", "tsconfig.json", "package.json"]) {
      expect(readFileSync(path.join(dir, f), "utf8"), f).not.toMatch(/\{\{\w+\}\}/);
    }
  });

  it("typechecks against the SDK declarations", () => {
    const r = run([tsc, "-p", "tsconfig.json"], dir);
    expect(r.out).toBe("");
    expect(r.status).toBe(0);
  });

  it("plughost build builds a component with no WASI imports", () => {
    const r = run([cli, "build", dir]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/imports no WASI/);
    expect(existsSync(path.join(dir, "plugin.wasm"))).toBe(true);
  }, 120_000);

  it("passes its own test", () => {
    const r = run(["test.mjs"], dir);
    expect(r.status, r.out).toBe(0);
  }, 60_000);
});

describe("examples/js", () => {
  it("typecheck against the SDK declarations (tsc -p examples/js)", () => {
    const r = run([tsc, "-p", path.join(root, "examples", "js", "tsconfig.json")], root);
    expect(r.out).toBe("");
    expect(r.status).toBe(0);
  });
});
