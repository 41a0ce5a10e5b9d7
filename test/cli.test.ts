import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { pluginDir, root } from "./helpers/plugins.js";

const cli = path.join(root, "dist/cli/index.js");
const run = (args: string[], input?: string) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", input, env: { ...process.env, PLUGHOST_LOG_LEVEL: "warn" } });

describe("plughost CLI", () => {
  it("has --help for every command", () => {
    for (const cmd of ["run", "inspect", "validate", "new", "conformance", "build"]) {
      const r = run([cmd, "--help"]);
      expect(r.status, cmd).toBe(0);
      expect(r.stdout).toContain(`plughost ${cmd}`);
    }
    expect(run(["--help"]).stdout).toMatch(/commands:[\s\S]*run[\s\S]*inspect/);
    expect(run(["frobnicate"]).status).toBe(2);
  });

  it("run: loads, dispatches events and hooks from arguments, prints JSON, tears down", () => {
    const r = run(["run", pluginDir("examples/c/hello"), pluginDir("examples/c/transform"), "--event", "greet=world", "--hook", "transform=abc", "--json"]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toContainEqual({ event: "greet", plugin: "hello-c", status: 0 });
    expect(lines).toContainEqual(expect.objectContaining({ hook: "transform", ok: true, data: "ABC" }));
  });

  it("run: reads JSON lines from stdin", () => {
    const r = run(["run", pluginDir("examples/c/transform"), "--json"], '{"hook":"transform","data":"xyz"}\n');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('"data":"XYZ"');
  });

  it("run: a failing plugin call exits non-zero with the error code", () => {
    const r = run(["run", pluginDir("test/fixtures/c/probe"), "--event", "trap"]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/trap -> probe: E_TRAP/);
  });

  it("inspect: world, imports, exports and sizes as JSON", () => {
    const r = run(["inspect", pluginDir("test/fixtures/c/random-user"), "--json"]);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.exports).toContain("plughost:plugin/guest@0.1.0");
    expect(report.capabilitiesNeeded).toContain("random");
    expect(report.size).toBeGreaterThan(1000);
    expect(report.wit).toContain("plughost:plugin/guest");
  });

  it("validate: accepts a good manifest and reports a bad one with its pointer", () => {
    expect(run(["validate", pluginDir("examples/c/hello")]).status).toBe(0);
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-cli-"));
    writeFileSync(path.join(dir, "plugin.toml"), 'name = "x"\nversion = "one"\napi-version = "^0.1.0"\nentry = "x.wasm"\n');
    const r = run(["validate", dir, "--json"]);
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.valid).toBe(false);
    expect(out.problems.map((p: { pointer: string }) => p.pointer)).toContain("/version");
  });

  it("new c + build: the scaffolded plugin builds and passes its own test", () => {
    const project = mkdtempSync(path.join(tmpdir(), "plughost-new-"));
    // test.mjs imports "plughost" by name: scaffold into a project that has it installed.
    mkdirSync(path.join(project, "node_modules"));
    symlinkSync(root, path.join(project, "node_modules", "plughost"));
    const dir = path.join(project, "my-plugin");
    expect(run(["new", "c", "my-plugin", "--dir", dir]).status).toBe(0);
    const b = run(["build", dir]);
    expect(b.status, b.stderr).toBe(0);
    const t = spawnSync(process.execPath, [path.join(dir, "test.mjs")], { encoding: "utf8", env: { ...process.env, PLUGHOST_LOG_LEVEL: "warn" } });
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toContain("1 passed, 0 failed");
  });
});
