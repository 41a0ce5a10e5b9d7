// `plughost conformance`: every language's conformance plugin
// (guest-sdks/CONFORMANCE.md) through every case on both Wasm engines, the
// --json shape, and a non-zero exit when a plugin misbehaves
// (test/fixtures/c/conformance-bad) or has not been built.
// Plugins are built by `node scripts/setup.mjs`; the CLI by `npm run build`.
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CONFORMANCE_CASES, type ConformanceReport } from "../src/conformance/index.js";
import { pluginDir, root } from "./helpers/plugins.js";

const cli = path.join(root, "dist/cli/index.js");
const conformance = (args: string[]) => spawnSync(process.execPath, [cli, "conformance", ...args], { encoding: "utf8", timeout: 600_000 });

function parse(stdout: string): ConformanceReport {
  return JSON.parse(stdout) as ConformanceReport;
}

/** Fails with the report's failure lines, so a red test says which cell broke. */
function failures(report: ConformanceReport): string[] {
  return report.results.filter((r) => !r.ok).map((r) => `${r.language} / ${r.case}: ${r.error}`);
}

describe.each(["v8", "wasmtime"] as const)("plughost conformance --engine %s", (engine) => {
  it("passes every case for c, js, rust and go", () => {
    for (const lang of ["c", "js", "rust", "go"]) pluginDir(`examples/${lang}/conformance`);
    const r = conformance(["--engine", engine, "--json"]);
    const report = parse(r.stdout);
    expect(failures(report)).toEqual([]);
    expect(r.status).toBe(0);
    expect(report.engine).toBe(engine);
    expect(report.languages).toEqual(["c", "js", "rust", "go"]);
    expect(report.cases).toEqual([...CONFORMANCE_CASES]);
    expect(report.results).toHaveLength(4 * CONFORMANCE_CASES.length);
    for (const c of CONFORMANCE_CASES) expect(report.matrix[c]).toEqual({ c: "pass", js: "pass", rust: "pass", go: "pass" });
    expect(report.results.map((x) => x.plugin)).toContain("conformance-go");
  }, 600_000);
});

describe("plughost conformance: output and failures", () => {
  it("prints a case × language matrix and exits 0 when everything passes", () => {
    const r = conformance([pluginDir("examples/c/conformance")]);
    expect(r.status).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("plughost conformance: engine v8, host API 0.1.0");
    expect(lines).toContain("case               c");
    for (const c of CONFORMANCE_CASES) expect(lines).toContainEqual(`${c.padEnd(19)}pass`);
    expect(r.stdout).toMatch(new RegExp(`^${CONFORMANCE_CASES.length} passed, 0 failed \\(`, "m"));
  }, 120_000);

  it("--json: the report as data, with every deviation of a misbehaving plugin, and exit 1", () => {
    const r = conformance(["--json", pluginDir("test/fixtures/c/conformance-bad"), pluginDir("examples/c/conformance")]);
    expect(r.status).toBe(1);
    const report = parse(r.stdout);
    expect(Object.keys(report).sort()).toEqual(["cases", "engine", "failed", "hostApiVersion", "languages", "matrix", "ms", "ok", "passed", "results"]);
    expect(report).toMatchObject({ engine: "v8", hostApiVersion: "0.1.0", languages: ["bad", "c"], ok: false });
    expect(report.passed + report.failed).toBe(report.results.length);
    for (const res of report.results) {
      expect(Object.keys(res).sort()).toEqual(res.ok ? ["case", "language", "ms", "ok", "plugin"] : ["case", "error", "language", "ms", "ok", "plugin"]);
      expect(res.plugin).toBe(res.language === "bad" ? "conformance-bad" : "conformance-c");
      expect(res.ms).toBeGreaterThanOrEqual(0);
    }
    // The fixture's three deviations, and nothing else, show up.
    const failed = report.results.filter((x) => !x.ok);
    expect(failed.map((x) => `${x.language}/${x.case}`)).toEqual([
      "bad/init-teardown",
      "bad/payload-1mib",
      "bad/utf8",
      "bad/trap",
      "bad/reinstantiation",
    ]);
    expect(report.failed).toBe(5);
    expect(failed.find((x) => x.case === "init-teardown")?.error).toBe('teardown log: expected ["info"], got ["warn"]');
    expect(failed.find((x) => x.case === "trap")?.error).toBe("invoke trap: expected an error, got 0");
    expect(report.matrix["trap"]).toEqual({ bad: "fail", c: "pass" });
    expect(report.matrix["fuel"]).toEqual({ bad: "pass", c: "pass" });
  }, 120_000);

  it("the text matrix marks failures and lists them", () => {
    const r = conformance(["--case", "trap", "--case", "fuel", pluginDir("test/fixtures/c/conformance-bad")]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^case +bad\ntrap +FAIL\nfuel +pass$/m);
    expect(r.stdout).toContain("1 passed, 1 failed");
    expect(r.stdout).toContain("failures:\n  bad / trap: invoke trap: expected an error, got 0");
  }, 120_000);

  it("a plugin that has not been built fails every case with what to do (not a skip)", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-conformance-test-"));
    try {
      cpSync(path.join(root, "examples", "c", "conformance"), dir, { recursive: true, filter: (src) => !src.endsWith(".wasm") });
      const r = conformance(["--json", "--case", "init-teardown", "--case", "trap", dir]);
      expect(r.status).toBe(1);
      const report = parse(r.stdout);
      expect(report.results.map((x) => x.ok)).toEqual([false, false]);
      for (const res of report.results) expect(res.error).toMatch(/plugin\.wasm is missing: the c conformance plugin has not been built; run `node scripts\/setup\.mjs`/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an unknown engine or case with a usage error (exit 2)", () => {
    const bad = conformance(["--engine", "spidermonkey"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--engine must be v8 or wasmtime, not "spidermonkey"');
    const unknown = conformance(["--case", "teleport"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("unknown case teleport; the cases are init-teardown, api-version");
  });
});
