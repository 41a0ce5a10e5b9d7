// templates/js, as `plughost new js <name>` would lay it out: substitute
// {{name}}, "install" plughost (a node_modules/plughost link to this
// checkout), then run the template's own typecheck, build and test.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync, symlinkSync, rmSync, existsSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const NAME = "my-js-plugin";
let dir: string;

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

beforeAll(() => {
  if (!existsSync(path.join(root, "dist", "index.js"))) throw new Error("dist/index.js is missing: run `node scripts/setup.mjs` (it compiles the host library)");
  dir = mkdtempSync(path.join(tmpdir(), "plughost-template-js-"));
  cpSync(path.join(root, "templates", "js"), dir, { recursive: true });
  for (const f of readdirSync(dir)) {
    const p = path.join(dir, f);
    if (statSync(p).isFile()) writeFileSync(p, readFileSync(p, "utf8").replaceAll("{{name}}", NAME));
  }
  mkdirSync(path.join(dir, "node_modules"));
  symlinkSync(root, path.join(dir, "node_modules", "plughost"), "dir");
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("templates/js", () => {
  it("names the plugin", () => {
    expect(readFileSync(path.join(dir, "plugin.toml"), "utf8")).toContain(`name = "${NAME}"`);
    expect(JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")).name).toBe(NAME);
  });

  it("typechecks", () => {
    const r = run(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]);
    expect(r.out).toBe("");
    expect(r.status).toBe(0);
  });

  it("builds (npm run build)", () => {
    const r = run(process.execPath, ["node_modules/plughost/guest-sdks/js/build.mjs", "."]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/imports no WASI/);
    expect(existsSync(path.join(dir, "plugin.wasm"))).toBe(true);
  }, 120_000);

  it("passes its own test (npm test)", () => {
    const r = run(process.execPath, ["--test"]);
    expect(r.status, r.out).toBe(0);
  }, 60_000);
});

describe("examples/js typecheck against the SDK declarations", () => {
  it("tsc -p examples/js", () => {
    const r = spawnSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(root, "examples", "js", "tsconfig.json")], { encoding: "utf8" });
    expect(`${r.stdout}${r.stderr}`).toBe("");
    expect(r.status).toBe(0);
  });
});
