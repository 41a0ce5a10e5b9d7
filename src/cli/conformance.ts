/** plughost conformance: each language's conformance plugin through every case. */
import { jsonOption, usageError, type Command } from "./shared.js";

export const conformanceCommand: Command = {
  summary: "run the conformance suite: each language's conformance plugin through every case",
  usage: `plughost conformance [--engine v8|wasmtime] [--json] [--case name]... [plugin-dir]...
Default plugins: examples/{c,js,rust,go}/conformance (guest-sdks/CONFORMANCE.md). Prints a
language × case matrix; exits 1 when any case fails (a plugin that is not built fails every case).`,
  options: { engine: { type: "string" }, case: { type: "string", multiple: true }, ...jsonOption },
  async run(values, positionals) {
    const conformance = await import("../conformance/index.js");
    const engine = (values.engine as string | undefined) ?? "v8";
    if (engine !== "v8" && engine !== "wasmtime") throw usageError(`--engine must be v8 or wasmtime, not "${engine}"`);
    const known: readonly string[] = conformance.CONFORMANCE_CASES;
    const cases = (values.case as string[] | undefined) ?? [];
    const unknown = cases.filter((c) => !known.includes(c));
    if (unknown.length) throw usageError(`unknown case ${unknown.join(", ")}; the cases are ${known.join(", ")}`);
    const targets = positionals.length
      ? await Promise.all(positionals.map((p) => conformance.conformanceTargetFor(p)))
      : conformance.defaultConformanceTargets();
    const report = await conformance.runConformance({
      engine,
      targets,
      ...(cases.length ? { cases: cases as typeof conformance.CONFORMANCE_CASES[number][] } : {}),
      // Progress on a terminal only: stdout carries just the result.
      onResult: process.stderr.isTTY ? (r) => process.stderr.write(`${r.language} / ${r.case}: ${r.ok ? "pass" : "FAIL"} (${r.ms} ms)\n`) : undefined,
    });
    console.log(values.json ? JSON.stringify(report, null, 2) : conformance.formatConformanceReport(report));
    return report.ok ? 0 : 1;
  },
};
