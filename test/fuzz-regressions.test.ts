// Replays every input the fuzzers found (test/fuzz/regressions/<target>/<name>) through its
// target, the same module `npm run fuzz` drives: each must now end normally or with a typed
// PlughostError, within a bounded time. The targets import the built library (dist/).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { PlughostError as PlughostErrorClass } from "../src/contract/errors.js";

const fuzzDir = path.resolve(import.meta.dirname, "fuzz");
const targetsDir = path.join(fuzzDir, "targets");
const regressionsDir = path.join(fuzzDir, "regressions");
const corpusDir = path.join(fuzzDir, "corpus");
/** Per input: a regression that hangs is as much a failure as one that throws. */
const PER_INPUT_MS = 10_000;

type FuzzModule = { fuzz: (data: Buffer) => unknown };

const targets = readdirSync(targetsDir)
  .filter((f) => f.endsWith(".fuzz.mjs"))
  .map((f) => f.slice(0, -".fuzz.mjs".length))
  .sort();

function filesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => !f.startsWith(".") && f !== "README.md" && statSync(path.join(dir, f)).isFile())
    .sort();
}

async function loadTarget(name: string): Promise<FuzzModule> {
  const mod = (await import(pathToFileURL(path.join(targetsDir, `${name}.fuzz.mjs`)).href)) as Partial<FuzzModule>;
  if (typeof mod.fuzz !== "function") throw new Error(`test/fuzz/targets/${name}.fuzz.mjs exports no fuzz(data) function`);
  return mod as FuzzModule;
}

async function withinTime<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${PER_INPUT_MS} ms`)), PER_INPUT_MS);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("fuzz targets and their folders", () => {
  it("finds the targets, each with a non-empty seed corpus", () => {
    expect(targets.length).toBeGreaterThanOrEqual(5);
    for (const t of targets) expect(filesIn(path.join(corpusDir, t)).length, `seed corpus of ${t}`).toBeGreaterThan(0);
  });

  it("has no regressions or corpus folder without a target", () => {
    for (const dir of [regressionsDir, corpusDir]) {
      if (!existsSync(dir)) continue;
      for (const d of readdirSync(dir)) {
        if (statSync(path.join(dir, d)).isDirectory()) expect(targets, `${path.relative(fuzzDir, dir)}/${d}`).toContain(d);
      }
    }
  });

  it("the shared guard lets a PlughostError through and rethrows anything else", async () => {
    // The replay below is only meaningful if the targets' guard really fails on untyped errors.
    const { expectTyped } = (await import(pathToFileURL(path.join(fuzzDir, "expected.mjs")).href)) as {
      expectTyped: (fn: () => unknown) => unknown;
    };
    const { PlughostError } = (await import(pathToFileURL(path.resolve(import.meta.dirname, "..", "dist", "contract", "errors.js")).href)) as {
      PlughostError: new (code: string, message: string) => Error;
    };
    expect(expectTyped(() => {
      throw new PlughostError("E_TEST", "typed");
    })).toBeUndefined();
    expect(() => expectTyped(() => {
      throw new TypeError("untyped");
    })).toThrow(TypeError);
    await expect(expectTyped(() => Promise.reject(new RangeError("late"))) as Promise<unknown>).rejects.toThrow(RangeError);
    await expect(expectTyped(() => Promise.reject(new PlughostError("E_TEST", "typed"))) as Promise<unknown>).resolves.toBeUndefined();
  });
});

for (const target of targets) {
  const inputs = filesIn(path.join(regressionsDir, target));
  if (inputs.length === 0) continue;
  describe(`fuzz regressions: ${target}`, () => {
    for (const input of inputs) {
      it(`${input} ends normally or with a PlughostError`, async () => {
        const mod = await loadTarget(target);
        const data = readFileSync(path.join(regressionsDir, target, input));
        // The error itself (not just "it threw") shows in the failure: "ok" or what escaped.
        const outcome = await withinTime(Promise.resolve().then(() => mod.fuzz(data)), `${target}/${input}`).then(
          () => "ok",
          (err: unknown) => err,
        );
        expect(outcome).toBe("ok");
      });
    }
  });
}

// The manifest targets found that strings of a plugin's config and endpoint schemas reach
// `new Function` (Jazzer's remote-code-execution canary): ajv compiles JSON Schema to code.
// The targets turn that detector off because ajv 8 quotes every schema-derived string as
// data; this checks that claim with real injection attempts in every place a schema
// string can go, through parseManifest (the path a hostile plugin's manifest takes).
describe("a plugin's schema strings stay data in ajv's generated validators", () => {
  const sentinel = "__plughostSchemaInjection";
  const payloads = [
    `x"]);globalThis.${sentinel}=1;(["`,
    `x']);globalThis.${sentinel}=1;(['`,
    "x`+(globalThis." + sentinel + "=1)+`",
    "${globalThis." + sentinel + "=1}",
    `*/globalThis.${sentinel}=1;/*`,
    `x\u2028globalThis.${sentinel}=1;//`,
    `x\\"]);globalThis.${sentinel}=1;//`,
    `constructor`,
    `__proto__`,
  ];

  it("compiles and runs schemas built from injection payloads without running them", async () => {
    const { parseManifest } = await import("../src/plugin/manifest.js");
    const { compileUserSchema } = await import("../src/plugin/manifest.js");
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-schema-inj-"));
    try {
      for (const p of payloads) {
        const schema = {
          type: "object",
          title: p,
          description: p,
          $comment: p,
          required: [p],
          properties: { [p]: { type: "string", enum: [p, "ok"], default: p, pattern: `^${p.replace(/[^A-Za-z0-9]/g, "")}` }, other: { const: p } },
          propertyNames: { maxLength: 200 },
          dependentRequired: { [p]: ["other"] },
        };
        const manifest = {
          name: "inj",
          version: "1.0.0",
          "api-version": "^0.1.0",
          entry: "plugin.wasm",
          capabilities: ["http:serve"],
          config: { schema, defaults: { [p]: p, other: p } },
          api: { endpoints: [{ method: "POST", path: "/x", handler: "h", schema: { body: schema, query: { type: "object", properties: { [p]: { type: "string" } } } } }] },
        };
        const outcome = (() => {
          try {
            parseManifest(JSON.stringify(manifest), path.join(dir, "plugin.json"), { checkEntry: false });
            return "parsed";
          } catch (err) {
            return err instanceof PlughostErrorClass ? "typed" : err;
          }
        })();
        expect(["parsed", "typed"], String(p)).toContain(outcome);
        // The generated validator runs, and treats the payload as the property name it is.
        // (Not for names every object inherits: ajv's `required` sees Object.prototype's.)
        const validate = compileUserSchema({ type: "object", required: [p], properties: { [p]: { const: p } } });
        if (p !== "__proto__" && p !== "constructor") {
          expect(validate({ [p]: p }), p).toBe(true);
          expect(validate({ [p]: "other" }), p).toBe(false);
          expect(validate({}), p).toBe(false);
        }
        expect((globalThis as Record<string, unknown>)[sentinel], p).toBeUndefined();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
