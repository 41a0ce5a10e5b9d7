#!/usr/bin/env node
// Builds a JavaScript/TypeScript plugin directory into a Wasm component:
//   stage the sources (TypeScript -> JS, "@plughost/guest" -> the SDK file)
//   -> componentize-js (StarlingMonkey + wizer) against wit/plugin.wit.
// Usage: node guest-sdks/js/build.mjs <plugin-dir> [--out file.wasm] [--src file] [--features stdio,clocks,...]
import { readdirSync, readFileSync, writeFileSync, mkdirSync, mkdtempSync, rmSync, existsSync, statSync } from "node:fs";
import { register } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const sdk = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(sdk, "..", "..");

/** The specifier plugin sources use for the SDK helper. */
export const SDK_SPECIFIER = "@plughost/guest";
/** StarlingMonkey features componentize-js can leave out; each one left in adds WASI imports. */
export const ALL_FEATURES = ["stdio", "random", "clocks", "http", "fetch-event"];
const ENTRY_CANDIDATES = ["plugin.ts", "plugin.js", "plugin.mjs", "index.ts", "index.js", "index.mjs", "src/plugin.ts", "src/plugin.js", "src/index.ts", "src/index.js"];
const SOURCE_EXT = /\.(m?js|ts|mts)$/;
const SKIP_DIRS = new Set(["node_modules", "out", "build", "dist", "target", "test"]);

let componentizeFn;
async function loadComponentize() {
  if (componentizeFn) return componentizeFn;
  // componentize-js imports @bytecodealliance/weval eagerly, which loads a
  // native lzma binding at import time. We never use AOT (weval downloads a
  // binary), so resolve weval to a stub instead of depending on that binding.
  const hooks = `export async function resolve(spec, ctx, next) {
    if (spec === "@bytecodealliance/weval") return { shortCircuit: true, url: "data:text/javascript,export default async function getWeval(){throw new Error('weval AOT is not supported by plughost builds')}" };
    return next(spec, ctx);
  }`;
  register("data:text/javascript," + encodeURIComponent(hooks));
  ({ componentize: componentizeFn } = await import("@bytecodealliance/componentize-js"));
  return componentizeFn;
}

/** The plugin's entry source, relative to `dir`. */
export function findEntry(dir) {
  const hit = ENTRY_CANDIDATES.find((c) => existsSync(path.join(dir, c)));
  if (!hit) throw new Error(`${dir}: no plugin source (looked for ${ENTRY_CANDIDATES.join(", ")})`);
  return hit;
}

function listSources(dir, rel = "") {
  const out = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name) && !e.name.startsWith(".")) out.push(...listSources(dir, r));
    } else if (SOURCE_EXT.test(e.name) && !e.name.endsWith(".d.ts") && !/\.test\.(m?js|ts)$/.test(e.name)) {
      out.push(r);
    }
  }
  return out;
}

const stagedName = (rel) => rel.replace(/\.m?ts$/, ".js");

// Rewrite module specifiers in `import ... from "x"`, `export ... from "x"`, `import "x"` and `import("x")`.
function rewriteSpecifiers(code, fileRel, sdkRel) {
  return code.replace(/(\bfrom\s*|\bimport\s*\(?\s*)(["'])([^"'\n]+)\2/g, (m, pre, q, spec) => {
    let to = spec;
    if (spec === SDK_SPECIFIER) {
      to = path.relative(path.dirname(fileRel), sdkRel).split(path.sep).join("/");
      if (!to.startsWith(".")) to = "./" + to;
    } else if (spec.startsWith(".") && /\.m?ts$/.test(spec)) {
      to = stagedName(spec);
    }
    return `${pre}${q}${to}${q}`;
  });
}

async function stage(dir, entryRel, stageDir) {
  const sdkRel = "__plughost_guest.js";
  writeFileSync(path.join(stageDir, sdkRel), readFileSync(path.join(sdk, "src", "index.js")));
  const sources = listSources(dir);
  if (!sources.includes(path.normalize(entryRel))) sources.push(entryRel);
  let ts;
  for (const rel of sources) {
    let code = readFileSync(path.join(dir, rel), "utf8");
    if (/\.m?ts$/.test(rel)) {
      ts ??= (await import("typescript")).default;
      const r = ts.transpileModule(code, {
        fileName: rel,
        reportDiagnostics: true,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false, sourceMap: false },
      });
      const errs = (r.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
      if (errs.length) throw new Error(`${path.join(dir, rel)}: ${errs.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")).join("; ")}`);
      code = r.outputText;
    }
    const out = stagedName(rel);
    mkdirSync(path.dirname(path.join(stageDir, out)), { recursive: true });
    writeFileSync(path.join(stageDir, out), rewriteSpecifiers(code, out, sdkRel));
  }
  return path.join(stageDir, stagedName(entryRel));
}

/** WASI interfaces (and anything else outside plughost:plugin) the component imports. */
export async function componentImports(bytes) {
  const { componentWit } = await import("@bytecodealliance/jco-transpile/wasm-tools");
  const wit = await componentWit(bytes);
  return [...wit.matchAll(/^\s*import ([a-z0-9-]+:[a-z0-9-/]+(?:@[0-9.a-z-]+)?);/gm)].map((m) => m[1]);
}

/**
 * Build the JS/TS plugin in `dir` into a component and write it to `out`.
 * `features` are StarlingMonkey features to keep (default none: no WASI imports).
 */
export async function buildJsPlugin(dir, { out = path.join(dir, "plugin.wasm"), src, features = [] } = {}) {
  const unknown = features.filter((f) => !ALL_FEATURES.includes(f));
  if (unknown.length) throw new Error(`unknown componentize-js feature(s): ${unknown.join(", ")} (known: ${ALL_FEATURES.join(", ")})`);
  const entryRel = src ?? findEntry(dir);
  const componentize = await loadComponentize();
  const stageDir = mkdtempSync(path.join(tmpdir(), "plughost-js-"));
  try {
    const sourcePath = await stage(dir, entryRel, stageDir);
    // Pass the WIT as a string (`witWorld`): a `witPath` is read through
    // preview2-shim, which since 0.26.1 has no `/` preopen.
    const { component } = await componentize({
      sourcePath,
      witWorld: readFileSync(path.join(root, "wit", "plugin.wit"), "utf8"),
      worldName: "plugin",
      disableFeatures: ALL_FEATURES.filter((f) => !features.includes(f)),
    });
    writeFileSync(out, component);
    return { bytes: component, imports: await componentImports(component) };
  } finally {
    rmSync(stageDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const out = opt("--out");
  const src = opt("--src");
  const features = (opt("--features") ?? "").split(",").filter(Boolean);
  const [dir] = args;
  if (!dir || !statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    console.error("usage: node guest-sdks/js/build.mjs <plugin-dir> [--out file.wasm] [--src entry.ts] [--features stdio,random,clocks,http,fetch-event]");
    process.exit(2);
  }
  const t0 = performance.now();
  const r = await buildJsPlugin(path.resolve(dir), { out: out && path.resolve(out), src, features });
  const ext = r.imports.filter((i) => !i.startsWith("plughost:"));
  console.log(`${dir}: ${r.bytes.length} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s; imports ${ext.length ? ext.join(", ") : "no WASI"}`);
}
