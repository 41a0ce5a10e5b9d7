// The API reference in docs/api/ is generated from src/index.ts and its doc comments
// (scripts/gen-api.mjs, `npm run docs:api`). This regenerates it into a temporary
// directory and compares it byte for byte with the checked-in copy, and checks that
// every export of the package root has a doc comment.
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_DOCS_DIR, generateApi, undocumentedExports } from "../scripts/gen-api.mjs";
import { root } from "./helpers/plugins.js";

type Generated = Awaited<ReturnType<typeof generateApi>>;

const FIX = "run `npm run docs:api` and commit docs/api/";

/** Every file under `dir`, as sorted paths relative to it with forward slashes. */
function filesUnder(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { recursive: true, withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join("/"))
    .sort();
}

/** How `actual` differs from `expected`: files whose bytes differ, files missing, files extra. */
function compareDirs(expected: string, actual: string): { stale: string[]; missing: string[]; extra: string[] } {
  const want = filesUnder(expected);
  const have = new Set(filesUnder(actual));
  const stale: string[] = [];
  const missing: string[] = [];
  for (const f of want) {
    if (!have.has(f)) missing.push(f);
    else if (!readFileSync(path.join(expected, f)).equals(readFileSync(path.join(actual, f)))) stale.push(f);
    have.delete(f);
  }
  return { stale, missing, extra: [...have] };
}

let out: string;
let generated: Generated;

beforeAll(async () => {
  out = mkdtempSync(path.join(tmpdir(), "plughost-api-"));
  generated = await generateApi(out);
}, 120_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

describe("API reference (docs/api/)", () => {
  it("is up to date with the sources", () => {
    const { stale, missing, extra } = compareDirs(out, path.join(root, API_DOCS_DIR));
    const report = [
      stale.length ? `differ from the sources: ${stale.map((f) => `${API_DOCS_DIR}/${f}`).join(", ")}` : "",
      missing.length ? `missing: ${missing.map((f) => `${API_DOCS_DIR}/${f}`).join(", ")}` : "",
      extra.length ? `no longer generated: ${extra.map((f) => `${API_DOCS_DIR}/${f}`).join(", ")}` : "",
    ].filter(Boolean);
    expect(report, `${API_DOCS_DIR}/ is stale (${report.join("; ")}); ${FIX}`).toEqual([]);
  });

  it("depends only on the sources: no absolute path, date or source link", () => {
    const files = filesUnder(out);
    expect(files).toContain("README.md");
    expect(files.length).toBeGreaterThan(100);
    const leaks = files.filter((f) => {
      const text = readFileSync(path.join(out, f), "utf8");
      return text.includes(root) || text.includes(out) || /Generated (on|at|using)|\/blob\/[0-9a-f]{7,}/.test(text);
    });
    expect(leaks, "these pages would differ between checkouts").toEqual([]);
  });

  it("documents every export of the package root", () => {
    expect(
      generated.undocumented,
      `exports of src/index.ts without a doc comment (say what each does and what it throws, then ${FIX}): ${generated.undocumented.join(", ")}`,
    ).toEqual([]);
  });

  it("every type the public API uses is exported, and every doc link resolves", () => {
    expect(generated.warnings, "export these types from src/index.ts, or fix the links").toEqual([]);
  });

  it("the violation event's payload is the exported Violation type", () => {
    const event = generated.project.getChildByName(["RegistryEvents", "violation"]) as { type?: unknown } | undefined;
    expect(event, "RegistryEvents has a violation event").toBeDefined();
    // RegistryEvents maps each event to its listener's arguments: [payload].
    const args = event!.type as { type: string; elements?: { type: string; name?: string; reflection?: unknown }[] };
    expect(args.type).toBe("tuple");
    const payload = args.elements?.[0];
    expect({ type: payload?.type, name: payload?.name }, "the payload is a reference to the type exported as Violation").toEqual({ type: "reference", name: "Violation" });
    expect(payload?.reflection, "Violation resolves to the package root's export").toBe(generated.project.getChildByName("Violation"));
    const fields = (generated.project.getChildByName("Violation") as { children?: { name: string }[] }).children?.map((c) => c.name);
    expect(fields).toEqual(expect.arrayContaining(["plugin", "kind", "detail", "count"]));
  });

  // The checks themselves must be able to fail.
  it("names a changed, a missing and an extra file", () => {
    const copy = mkdtempSync(path.join(tmpdir(), "plughost-api-copy-"));
    try {
      cpSync(out, copy, { recursive: true });
      expect(compareDirs(out, copy)).toEqual({ stale: [], missing: [], extra: [] });
      writeFileSync(path.join(copy, "README.md"), readFileSync(path.join(out, "README.md"), "utf8") + "\n");
      rmSync(path.join(copy, "classes/PluginRegistry.md"));
      writeFileSync(path.join(copy, "classes/Gone.md"), "old\n");
      expect(compareDirs(out, copy)).toEqual({ stale: ["README.md"], missing: ["classes/PluginRegistry.md"], extra: ["classes/Gone.md"] });
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it("names an export whose doc comment is missing", () => {
    const target = generated.project.children?.find((r) => r.name === "parseCapability");
    expect(target).toBeDefined();
    const saved = target!.signatures?.map((s) => s.comment);
    for (const s of target!.signatures ?? []) s.comment = undefined;
    try {
      expect(undocumentedExports(generated.project)).toContain("parseCapability");
    } finally {
      target!.signatures?.forEach((s, i) => (s.comment = saved?.[i]));
    }
    expect(undocumentedExports(generated.project)).not.toContain("parseCapability");
  });
});
