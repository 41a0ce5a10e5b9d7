// Runnable code blocks of README.md and docs/*.md, run verbatim.
//
// The marker: a fenced block whose info string is `js runnable` (GitHub still highlights it as `js`):
//
//     ```js runnable
//     import { PluginRegistry } from "plughost";
//     console.log(1 + 1); // 2 (a remark in parentheses at the end is prose, not output)
//     ```
//
// Mark a block only if it runs as written from the repository root after `node scripts/setup.mjs` (no
// server, no placeholder values, no names it does not define); it must end the process by itself (unload
// what it loads). Each one is written to a temporary .mjs file in the repository root and run with node, so
// `import … from "plughost"` resolves through package.json's `exports` (a package may import itself by name)
// to dist/, and relative paths (`examples/c/hello`, `./test/fixtures/…`) mean what they mean to a reader at
// the root. A `console.log(…)` line that ends with a `// comment` states what it prints: the comment, less a
// trailing `(remark)`, must be a whole line of stdout, and these lines must appear in the order of the block.
// Other languages, and `ts runnable`, are not supported and fail the test rather than being skipped.
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { root } from "./helpers/plugins.js";

interface Snippet {
  file: string;
  line: number;
  lang: string;
  code: string;
}

/** The marked blocks of one markdown file (path relative to the repository root). */
function runnableBlocks(file: string): Snippet[] {
  const lines = readFileSync(path.join(root, file), "utf8").split("\n");
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})\s*(\S+)\s+runnable\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith(open[1]!) && l.trim() === open[1]);
    if (end < 0) throw new Error(`${file}:${i + 1}: runnable block is not closed`);
    out.push({ file, line: i + 1, lang: open[2]!, code: lines.slice(i + 1, end).join("\n") + "\n" });
    i = end;
  }
  return out;
}

/** What a block says it prints, in order: the comments of its console.log lines. */
function statedOutput(code: string): string[] {
  return code
    .split("\n")
    .filter((l) => l.includes("console.log(") && l.includes(" // "))
    .map((l) => l.slice(l.lastIndexOf(" // ") + 4).replace(/\s+\([^()]*\)$/, "").trim());
}

const docs = ["README.md", ...readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`)];
const snippets = docs.flatMap(runnableBlocks);

beforeAll(() => {
  // "plughost" resolves to dist/: compile it from the sources under test.
  const tsc = spawnSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], { cwd: root, encoding: "utf8" });
  if (tsc.status !== 0) throw new Error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`);
}, 180_000);

describe("runnable code blocks in README.md and docs/", () => {
  it("the marked blocks are the expected ones (a removed marker is noticed)", () => {
    const perFile: Record<string, number> = {};
    for (const s of snippets) perFile[s.file] = (perFile[s.file] ?? 0) + 1;
    expect(perFile).toEqual({ "README.md": 5, "docs/catalog.md": 1, "docs/config.md": 1, "docs/context.md": 1, "docs/engine-wasmtime.md": 2, "docs/guest-c.md": 1, "docs/hooks.md": 1, "docs/host-interfaces.md": 5, "docs/lifecycle.md": 1, "docs/messaging.md": 1, "docs/native-plugins.md": 1, "docs/observability.md": 1, "docs/serve.md": 1, "docs/signatures.md": 1, "docs/state.md": 1 });
    expect(snippets.every((s) => s.lang === "js"), "only `js runnable` is supported").toBe(true);
  });

  it("the printed-output convention reads a console.log comment, less a trailing remark", () => {
    expect(statedOutput('console.log(a, b); // true 0 (stopped)\nx(); // not printed\nconsole.log("n:", 1); // n: 1\n')).toEqual(["true 0", "n: 1"]);
  });

  it.each(snippets.map((s) => [`${s.file}:${s.line}`, s] as const))("%s runs and prints what it says", (_name, s) => {
    const file = path.join(root, `.docs-snippet-${process.pid}-${path.basename(s.file, ".md")}-${s.line}.mjs`);
    writeFileSync(file, s.code);
    try {
      const r = spawnSync(process.execPath, [file], { cwd: root, encoding: "utf8", timeout: 60_000 });
      const report = `exit ${r.status} ${r.signal ?? ""}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
      expect(r.status, report).toBe(0);
      const printed = r.stdout.split("\n").map((l) => l.trimEnd());
      let at = 0;
      for (const want of statedOutput(s.code)) {
        const found = printed.indexOf(want, at);
        expect(found, `${s.file}:${s.line} says it prints ${JSON.stringify(want)}\n${report}`).toBeGreaterThanOrEqual(0);
        at = found + 1;
      }
    } finally {
      rmSync(file, { force: true });
    }
  }, 90_000);
});
