#!/usr/bin/env node
// Builds a JavaScript/TypeScript plugin directory into a Wasm component:
//   stage the sources (TypeScript -> JS, "@plughost/guest" -> the SDK file)
//   -> componentize-js (StarlingMonkey + wizer) against wit/plugin.wit.
// Usage: node guest-sdks/js/build.mjs <plugin-dir>... [--out file.wasm] [--src file] [--features stdio,clocks,...]
import { readdirSync, readFileSync, writeFileSync, realpathSync, mkdirSync, mkdtempSync, rmSync, existsSync, statSync } from "node:fs";
import { register } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describeBuildError, findPackageDir, importPeer, worldFor } from "../component.mjs";
import { appWorldSource, readAppWit, resolveAppWorld } from "../app-world.mjs";

const sdk = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(sdk, "..", "..");

/** Specifiers plugin sources use for the SDK, and the SDK file each one stages. */
export const SDK_MODULES = { "@plughost/guest": "index.js", "@plughost/guest/fs": "fs.js" };
/** The WASI version whose WIT jco ships (lib/wit/builtin); `wasi:` imports must use it. */
export const WASI_VERSION = "0.2.12";
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
  // The load hook hands the JS bindings componentize-js generates to fixBindings (below) before wizer runs them.
  const hooks = `export async function resolve(spec, ctx, next) {
    if (spec === "@bytecodealliance/weval") return { shortCircuit: true, url: "data:text/javascript,export default async function getWeval(){throw new Error('weval AOT is not supported by plughost builds')}" };
    return next(spec, ctx);
  }
  export async function load(url, ctx, next) {
    const r = await next(url, ctx);
    if (!url.endsWith("/@bytecodealliance/componentize-js/src/componentize.js")) return r;
    const src = String(r.source).replace("await writeFile(initializerPath, jsBindings);", "jsBindings = globalThis.__plughostFixBindings ? globalThis.__plughostFixBindings(jsBindings) : jsBindings; await writeFile(initializerPath, jsBindings);");
    return { ...r, source: src };
  }`;
  globalThis.__plughostFixBindings = fixBindings;
  register("data:text/javascript," + encodeURIComponent(hooks));
  // An optional peer dependency of plughost: only JS plugin authors install it (~380 MB with jco).
  ({ componentize: componentizeFn } = await importPeer("@bytecodealliance/componentize-js", "JavaScript"));
  return componentizeFn;
}

/**
 * Work around componentize-js 0.23's lowering of integers into core arguments (import calls, export results):
 * its engine turns a u32 of 2^31 or more into a wrong value, and traps on a negative s64. The generated bindings
 * convert with toUint32 (val >>> 0) and toInt64 (BigInt.asIntN); giving the engine the same bits as an int32 and as
 * an unsigned 64-bit BigInt (which it passes correctly) fixes both. Stores into memory (DataView) are unaffected.
 * The bindings' debug logging calls are removed too (see below).
 */
export function fixBindings(js) {
  const u32 = /function toUint32\(val\) \{\s*return val >>> 0;\s*\}/;
  const s64 = /function toInt64\(val\) \{\s*const converted = BigInt\(val\)\s*return BigInt\.asIntN\(64, converted\);\s*\}/;
  fixBindings.applied = (u32.test(js) ? 1 : 0) + (s64.test(js) ? 1 : 0);
  // Each binding also calls _debugLog twice with a fresh object (a no-op without process.env.JCO_DEBUG, which
  // StarlingMonkey has not): in the guest's interpreter that is most of a small call's cost.
  const debugCall = /^[ \t]*_debugLog\((?:[^;]|;(?![ \t]*$))*?\);[ \t]*$/gm;
  return directOnEvent(syncExports(js))
    .replace(debugCall, "")
    .replace(u32, "function toUint32(val) {\n  return val | 0; // plughost: the same bits as an int32 (componentize-js mangles u32 >= 2^31)\n}")
    .replace(s64, "function toInt64(val) {\n  return BigInt.asUintN(64, BigInt(val)); // plughost: the same bits, unsigned (componentize-js traps on a negative s64)\n}");
}

// Helpers the rewritten exports (syncExports) use, prepended to the bindings.
const SYNC_HELPERS = `
// plughost (guest-sdks/js/build.mjs syncExports): exports answer through an already-settled promise.
const __plughostSettled = [];
let __plughostSettledUndefined;
function __plughostDone(v) {
  if (v === undefined) return (__plughostSettledUndefined ??= Promise.resolve(undefined));
  if (typeof v === "number" && (v | 0) === v && v >= -128 && v < 1024) return (__plughostSettled[v + 128] ??= Promise.resolve(v | 0));
  return Promise.resolve(v);
}
`;

/**
 * componentize-js 0.23 makes every export an `async function` that awaits the plugin's handler, and its engine
 * then drives the event loop until that promise settles: a generator, two promises (each capturing a stack),
 * a reaction job and a resume per call, most of a small call's cost in the guest's interpreter. The engine only
 * needs a settled promise, so each export whose single `await` has one of the two shapes the bindings generator
 * emits is rewritten to call the handler directly and return an already-settled promise (cached for small ints
 * and undefined: settled promises keep no reactions). A handler that returns a thenable still gets the original
 * semantics: the rest of the export runs in a `.then` (errors in it, or a rejection, reject the promise as before).
 * Anything else is left as generated.
 */
export function syncExports(js) {
  let rewritten = 0;
  // `return toInt32(x)` is settled inline (no call) where toInt32 is the bindings' plain `val >> 0`.
  const int32 = /function toInt32\(val\) \{\s*return val >> 0;\s*\}/.test(js);
  const out = js.replace(/^async function (export_[\w$]+)\(([^)]*)\) \{\n([\s\S]*?)\n\}\n/gm, (whole, name, params, body) => {
    const sync = syncBody(name, params, body, int32);
    if (sync === undefined) return whole;
    rewritten++;
    return `function ${name}(${params}) {\n${sync.body}\n}\n${sync.extra}`;
  });
  syncExports.rewritten = rewritten;
  return rewritten ? SYNC_HELPERS + out : js;
}

/**
 * `return x;` → `return __plughostDone(x);` in straight-line code (no nested functions); with `int32`,
 * `return toInt32(v);` looks the settled promise up inline. Each call the interpreter makes costs more than the
 * work of these helpers.
 */
function settleReturns(code, int32) {
  return code.replace(/\breturn\b([^;]*);/g, (_, e) => {
    const v = int32 ? /^\s*toInt32\(([\w$]+)\)\s*$/.exec(e)?.[1] : undefined;
    if (v) return `return __plughostSettled[(${v} >> 0) + 128] ?? __plughostDone(${v} >> 0);`;
    return `return __plughostDone(${e.trim() || "undefined"});`;
  });
}

/** `await`'s test for a thenable, inline. */
const thenable = (v) => `${v} !== null && (typeof ${v} === "object" || typeof ${v} === "function") && typeof ${v}.then === "function"`;

const NESTED_FUNCTION = /\bfunction\b|=>|\bawait\b|\byield\b|`/;

/** Names `code` declares with var/let/const, and those declared without a value (`let ret;`). */
function declared(code) {
  const all = new Set([...code.matchAll(/\b(?:var|let|const)\s+([\w$]+)/g)].map((m) => m[1]));
  const bare = new Set([...code.matchAll(/^\s*let ([\w$]+);$/gm)].map((m) => m[1]));
  return { all, bare };
}

const uses = (code, id) => new RegExp(`(?<![\\w$.])${id.replace(/\$/g, "\\$")}(?![\\w$])`).test(code);

/**
 * The rewritten body, and the functions its thenable path continues in. Those take the export's parameters
 * (bound only when a thenable comes back), so the export itself closes over nothing: a closure in it, even one
 * never made, would give each call a scope object and slow every name lookup the interpreter does in it.
 */
function syncBody(name, params, body, int32) {
  if ((body.match(/\bawait\b/g) ?? []).length !== 1) return undefined;
  const bound = `.bind(null${params.trim() ? `, ${params}` : ""})`;
  const withParam = (p) => (params.trim() ? `${params}, ${p}` : p);
  // Shape 1: `  ret = await handler(args);` as a statement of the function body.
  const a = /^  ([\w$]+) = await ([^;\n]+);$/m.exec(body);
  if (a) {
    const [line, target, call] = a;
    const pre = body.slice(0, a.index);
    const post = body.slice(a.index + line.length);
    if (NESTED_FUNCTION.test(post) || NESTED_FUNCTION.test(call)) return undefined;
    const d = declared(pre);
    // The continuation sees the parameters and the result; anything else of the export's stays out of reach.
    if (!d.bare.has(target) || [...d.all].some((id) => id !== target && uses(post, id))) return undefined;
    const then = `${name}$plughostThen`;
    return {
      body: `${pre}  ${target} = ${call};\n  if (${thenable(target)}) return ${target}.then(${then}${bound});${settleReturns(post, int32)}\n  return __plughostDone(undefined);`,
      extra: `function ${then}(${withParam("__plughostV")}) {\n  let ${target} = __plughostV;${post}\n}\n`,
    };
  }
  // Shape 2: the await is the first statement of a try whose catch turns a throw into a value.
  const b = /^  try \{\n    const ([\w$]+) = await ([^;\n]+);\n([\s\S]*?)\n  \} catch \(([\w$]+)\) \{\n([\s\S]*?)\n  \}\n/m.exec(body);
  if (b) {
    const [block, held, call, rest, err, handler] = b;
    const pre = body.slice(0, b.index);
    const post = body.slice(b.index + block.length);
    if ([call, rest, handler, post].some((c) => NESTED_FUNCTION.test(c)) || /\breturn\b/.test(rest + handler)) return undefined;
    const d = declared(pre);
    const after = rest + handler + post;
    // Result holders (`let ret;`) are declared again in the continuations; any other local of the export: left as generated.
    if ([...d.all].some((id) => !d.bare.has(id) && uses(after, id))) return undefined;
    const holders = [...d.bare].filter((id) => uses(after, id));
    const decl = holders.length ? `  let ${holders.join(", ")};\n` : "";
    const ok = `${name}$plughostOk`;
    const fail = `${name}$plughostErr`;
    return {
      body:
        `${pre}  let __plughostPending;\n` +
        `  try {\n    const ${held} = ${call};\n    if (${thenable(held)}) __plughostPending = ${held};\n    else {\n${rest}\n    }\n` +
        `  } catch (${err}) {\n${handler}\n  }\n` +
        `  if (__plughostPending !== undefined) return __plughostPending.then(${ok}${bound}, ${fail}${bound});\n` +
        `${settleReturns(post, int32)}\n  return __plughostDone(undefined);`,
      extra:
        `function ${ok}(${withParam(held)}) {\n${decl}  try {\n${rest}\n  } catch (${err}) {\n${handler}\n  }\n${post}\n}\n` +
        `function ${fail}(${withParam(err)}) {\n${decl}${handler}\n${post}\n}\n`,
    };
  }
  return undefined;
}

/**
 * With a guest made by the SDK's definePlugin (it carries `__plughostDef` and `__plughostStatus`), the rewritten
 * `on-event` export calls `def.onEvent` itself and maps only a result that is not a number, as the SDK's wrapper
 * does: one interpreted frame less per event (~4,000 of ~36,900 fuel on the conformance plugin). Any other guest
 * object is called as generated.
 */
export function directOnEvent(js) {
  const bind = /^([ \t]*)([\w$]+) = __iface\.onEvent;$/m.exec(js);
  if (!bind) return js;
  const [line, indent, fn] = bind;
  const call = new RegExp(`^  ([\\w$]+) = ${fn.replace(/\$/g, "\\$")}\\(([^)\n]*)\\);$`, "m");
  const m = call.exec(js);
  if (!m || !js.includes("__plughostDone")) return js;
  const [whole, ret, args] = m;
  const def = `${fn}$plughostDef`;
  const status = `${fn}$plughostStatus`;
  directOnEvent.applied = true;
  return `let ${def}, ${status};\n` + js
    .replace(line, `${line}\n${indent}${def} = __iface.__plughostDef;\n${indent}${status} = __iface.__plughostStatus;`)
    .replace(whole, `  if (${def} !== undefined) {\n    ${ret} = ${def}.onEvent(${args});\n    if (typeof ${ret} !== "number") ${ret} = ${status}(${ret});\n  } else ${ret} = ${fn}(${args});`);
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
    } else if (SOURCE_EXT.test(e.name) && !e.name.endsWith(".d.ts") && !/(^|\.)test\.(m?js|ts)$/.test(e.name)) {
      out.push(r);
    }
  }
  return out;
}

const stagedName = (rel) => rel.replace(/\.m?ts$/, ".js");

// Rewrite module specifiers in `import ... from "x"`, `export ... from "x"`, `import "x"` and `import("x")`.
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(?\s*)(["'])([^"'\n]+)\2/g;
const sdkStaged = (spec) => `__plughost_${SDK_MODULES[spec].replace(/\.js$/, "")}.js`;

function rewriteSpecifiers(code, fileRel) {
  return code.replace(SPECIFIER, (m, pre, q, spec) => {
    let to = spec;
    if (Object.hasOwn(SDK_MODULES, spec)) {
      to = path.relative(path.dirname(fileRel), sdkStaged(spec)).split(path.sep).join("/");
      if (!to.startsWith(".")) to = "./" + to;
    } else if (spec.startsWith(".") && /\.m?ts$/.test(spec)) {
      to = stagedName(spec);
    }
    return `${pre}${q}${to}${q}`;
  });
}

const specifiers = (code) => [...code.matchAll(SPECIFIER)].map((m) => m[3]);

/** Stage the plugin's sources; returns the staged entry and the `wasi:` interfaces they import. */
async function stage(dir, entryRel, stageDir) {
  const used = new Set();
  const wasi = new Set();
  const scan = (code) => {
    for (const spec of specifiers(code)) {
      if (Object.hasOwn(SDK_MODULES, spec)) used.add(spec);
      else if (spec.startsWith("wasi:")) wasi.add(spec);
    }
  };
  const sources = listSources(dir);
  if (!sources.includes(path.normalize(entryRel))) sources.push(entryRel);
  let ts;
  for (const rel of sources) {
    let code = readFileSync(path.join(dir, rel), "utf8");
    // Parse JS too: a syntax error is reported here with file:line:column, not later by the engine without one.
    // TypeScript (an optional peer) strips types and parses; a JS plugin needs it too.
    ts ??= (await importPeer("typescript", "JavaScript")).default;
    const r = ts.transpileModule(code, {
      fileName: rel,
      reportDiagnostics: true,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false, sourceMap: false, allowJs: true },
    });
    const errs = (r.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errs.length) {
      const where = (d) => {
        if (!d.file || d.start === undefined) return path.join(dir, rel);
        const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
        return `${path.join(dir, rel)}:${line + 1}:${character + 1}`;
      };
      throw new Error(errs.map((d) => `${where(d)}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`).join("\n"));
    }
    if (/\.m?ts$/.test(rel)) code = r.outputText;
    const out = stagedName(rel);
    mkdirSync(path.dirname(path.join(stageDir, out)), { recursive: true });
    scan(code);
    writeFileSync(path.join(stageDir, out), rewriteSpecifiers(code, out));
  }
  if (used.has("@plughost/guest/fs")) used.add("@plughost/guest");
  for (const spec of used) {
    const code = readFileSync(path.join(sdk, "src", SDK_MODULES[spec]), "utf8");
    scan(code);
    writeFileSync(path.join(stageDir, sdkStaged(spec)), rewriteSpecifiers(code, sdkStaged(spec)));
  }
  const entry = path.join(stageDir, stagedName(entryRel));
  return { entry, wasi: [...wasi].sort(), optional: optionalExports(readFileSync(entry, "utf8")) };
}

/** The entry's export name for each optional WIT interface (componentize-js binds `config-watch` as `configWatch`). */
export const OPTIONAL_EXPORT_NAMES = { lifecycle: "lifecycle", "config-watch": "configWatch", handoff: "handoff" };

/** Whether the entry exports `name` (`export const <name> = ...`, or in an export list). */
function exportsName(code, name) {
  return new RegExp(`\\bexport\\s+(?:const|let|var|function)\\s+${name}\\b`).test(code) || new RegExp(`\\bexport\\s*\\{[^}]*\\b${name}\\b[^}]*\\}`).test(code);
}

/**
 * The optional interfaces the entry exports: `lifecycle` (`export const lifecycle = defineLifecycle(...)`),
 * `config-watch` (`export const configWatch = defineConfigWatch(...)`) and `handoff`
 * (`export const handoff = defineHandoff(...)`). The plugin is built for `plugin` plus exactly those.
 */
export function optionalExports(code) {
  return Object.entries(OPTIONAL_EXPORT_NAMES).filter(([, name]) => exportsName(code, name)).map(([wit]) => wit);
}

/** Whether the entry exports `lifecycle`. */
export function exportsLifecycle(code) {
  return exportsName(code, "lifecycle");
}

/**
 * `base` (a WIT source for componentize-js's `witWorld`, whose root package defines world `worldName`) plus a world
 * that includes it and imports the WASI interfaces the sources import, with jco's copy of the WASI WIT appended as
 * nested `package … { … }` blocks. One string, not a WIT directory: componentize-js reads a `witPath` through its
 * splicer, one instance per process whose WASI libc takes the preopen list once, so a directory preopened for a
 * later build in the same process is not found (and a preopen is process-wide state the build would leave behind).
 */
function withWasi({ witWorld, worldName }, wasi) {
  for (const spec of wasi) {
    const m = /^wasi:[a-z-]+\/[a-z-]+(?:@(.+))?$/.exec(spec);
    if (!m) throw new Error(`cannot import ${spec}: expected wasi:<package>/<interface>@${WASI_VERSION}`);
    if (m[1] !== WASI_VERSION) throw new Error(`cannot import ${spec}: only WASI ${WASI_VERSION} WIT is available (write ${spec.replace(/@.*$/, "")}@${WASI_VERSION})`);
  }
  // jco comes with componentize-js (its dependency), wherever npm placed it.
  const componentizeDir = findPackageDir("@bytecodealliance/componentize-js");
  const jco = componentizeDir && findPackageDir("@bytecodealliance/jco", componentizeDir);
  const builtin = jco && path.join(jco, "lib", "wit", "builtin", WASI_VERSION);
  if (!builtin || !existsSync(builtin)) throw new Error(`WASI ${WASI_VERSION} WIT not found in @bytecodealliance/jco (${builtin ?? "jco not found beside componentize-js"}); reinstall @bytecodealliance/componentize-js`);
  const packages = readdirSync(builtin).sort().flatMap((d) => readAppWit(path.join(builtin, d, "package.wit")).packages);
  const world = `${worldName}-wasi`;
  return {
    witWorld: [
      witWorld,
      `\n/// Generated by the build: \`${worldName}\` plus the WASI interfaces the sources import.\nworld ${world} {\n  include ${worldName};\n${wasi.map((i) => `  import ${i};\n`).join("")}}\n`,
      ...packages.map((p) => `package ${p.name} {\n${p.bodies.join("\n")}\n}\n`),
    ].join("\n"),
    worldName: world,
  };
}

/** WASI interfaces (and anything else outside plughost:plugin) the component imports. */
export async function componentImports(bytes) {
  const { componentWit } = await import("../../vendor/jco/index.js");
  const wit = await componentWit(bytes);
  return [...wit.matchAll(/^\s*import ([a-z0-9-]+:[a-z0-9-/]+(?:@[0-9.a-z-]+)?);/gm)].map((m) => m[1]);
}

/**
 * Build the JS/TS plugin in `dir` into a component and write it to `out`.
 * `features` are StarlingMonkey features to keep (default none: no WASI imports).
 * `world` is an app world to build against (`"path/app.wit#world"` or `{ wit, world }`; default: the manifest's
 * `[interfaces] wit` and `world`; `false`: none): the entry then imports the app's interfaces as modules
 * (`import { add } from "acme:app/calc@1.0.0"`) and exports each exported interface by its camelCase name
 * (`export const mirror = { echoItem(v) {...} }`), in jco's conventions (docs/guest-js.md).
 */
export async function buildJsPlugin(dir, { out = path.join(dir, "plugin.wasm"), src, features = [], world: worldOption } = {}) {
  const unknown = features.filter((f) => !ALL_FEATURES.includes(f));
  if (unknown.length) throw new Error(`unknown componentize-js feature(s): ${unknown.join(", ")} (known: ${ALL_FEATURES.join(", ")})`);
  const entryRel = src ?? findEntry(dir);
  const stageDir = mkdtempSync(path.join(tmpdir(), "plughost-js-"));
  try {
    // Stage (and so syntax-check) the sources before loading the compiler.
    const { entry, wasi, optional } = await stage(dir, entryRel, stageDir);
    const appWorld = await resolveAppWorld(dir, worldOption);
    const componentize = await loadComponentize();
    // The WIT as a string (`witWorld`), never a `witPath` (see withWasi). A set of optional exports no world of
    // wit/plugin.wit names gets a generated one, appended.
    const { world, source } = worldFor(optional);
    let wit;
    if (appWorld) {
      // The app's packages and plughost's as nested package blocks.
      const app = appWorldSource(appWorld, { base: world, extra: source });
      wit = { witWorld: app.source, worldName: app.world };
    } else {
      wit = { witWorld: readFileSync(path.join(root, "wit", "plugin.wit"), "utf8") + source, worldName: world };
    }
    if (wasi.length) wit = withWasi(wit, wasi);
    const { component } = await componentize({
      sourcePath: entry,
      ...wit,
      disableFeatures: ALL_FEATURES.filter((f) => !features.includes(f)),
    });
    writeFileSync(out, component);
    return { bytes: component, imports: await componentImports(component) };
  } finally {
    rmSync(stageDir, { recursive: true, force: true });
  }
}

// Compare real paths: the script is often run through node_modules/plughost (a link).
if (process.argv[1] && realpathSync(path.resolve(process.argv[1])) === fileURLToPath(import.meta.url)) {
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
  const world = opt("--world");
  const dirs = args;
  if (!dirs.length || dirs.some((d) => !statSync(d, { throwIfNoEntry: false })?.isDirectory()) || (dirs.length > 1 && (out || src))) {
    console.error("usage: node guest-sdks/js/build.mjs <plugin-dir>... [--out file.wasm] [--src entry.ts] [--features stdio,random,clocks,http,fetch-event] [--world app.wit#world]");
    console.error("       (--out and --src need a single plugin dir; several dirs build in one process, which is faster after the first)");
    process.exit(2);
  }
  for (const dir of dirs) {
    const t0 = performance.now();
    const r = await buildJsPlugin(path.resolve(dir), { out: out && path.resolve(out), src, features, world }).catch((err) => {
      console.error(describeBuildError(err));
      process.exit(1);
    });
    const ext = r.imports.filter((i) => !i.startsWith("plughost:"));
    console.log(`${dir}: ${r.bytes.length} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s; imports ${ext.length ? ext.join(", ") : "no WASI"}`);
  }
}
