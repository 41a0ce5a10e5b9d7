/** plughost conformance: each language's conformance plugin through every case. */
import { jsonOption, usageError, type Command } from "./shared.js";

export const conformanceCommand: Command = {
  summary: "run the conformance suite: each language's conformance plugin through every case",
  usage: `plughost conformance [--engine v8|wasmtime] [--json] [--case name]... [--language c|js|rust|go]... [plugin-dir]...
Default plugins: the conformance plugins plughost ships (guest-sdks/CONFORMANCE.md), one per
language, built on first use into the build cache (as plughost build would; a language whose
toolchain is missing fails its cases with the install command). Prints a language × case
matrix; exits 1 when any case fails.`,
  options: { engine: { type: "string" }, case: { type: "string", multiple: true }, language: { type: "string", multiple: true }, ...jsonOption },
  async run(values, positionals) {
    const conformance = await import("../conformance/index.js");
    const engine = (values.engine as string | undefined) ?? "v8";
    if (engine !== "v8" && engine !== "wasmtime") throw usageError(`--engine must be v8 or wasmtime, not "${engine}"`);
    const known: readonly string[] = conformance.CONFORMANCE_CASES;
    const cases = (values.case as string[] | undefined) ?? [];
    const unknown = cases.filter((c) => !known.includes(c));
    if (unknown.length) throw usageError(`unknown case ${unknown.join(", ")}; the cases are ${known.join(", ")}`);
    const languages = (values.language as string[] | undefined) ?? [...conformance.CONFORMANCE_LANGUAGES];
    const unknownLanguage = languages.filter((l) => !(conformance.CONFORMANCE_LANGUAGES as readonly string[]).includes(l));
    if (unknownLanguage.length) throw usageError(`unknown language ${unknownLanguage.join(", ")}; the languages are ${conformance.CONFORMANCE_LANGUAGES.join(", ")}`);
    if (positionals.length && values.language) throw usageError("--language picks among the shipped plugins; it cannot be combined with plugin directories");
    const targets = positionals.length
      ? await Promise.all(positionals.map((p) => conformance.conformanceTargetFor(p)))
      : conformance.defaultConformanceTargets(undefined, languages);
    const report = await conformance.runConformance({
      engine,
      targets,
      ...(cases.length ? { cases: cases as typeof conformance.CONFORMANCE_CASES[number][] } : {}),
      // Progress on a terminal only: stdout carries just the result.
      onResult: process.stderr.isTTY ? (r) => process.stderr.write(`${r.language} / ${r.case}: ${r.ok ? "pass" : "FAIL"} (${r.ms} ms)\n`) : undefined,
      // A first use builds the plugins, which can take a while (JS ~10 s; Rust fetches its toolchain once).
      onBuild: (language, dir) => process.stderr.write(`building the ${language} conformance plugin into ${dir}\n`),
    });
    console.log(values.json ? JSON.stringify(report, null, 2) : conformance.formatConformanceReport(report));
    return report.ok ? 0 : 1;
  },
};
