/**
 * `plughost new <lang> <name> --world app.wit[#world]`: the files of a plugin built against an application's WIT
 * world (docs/host-interfaces.md). The plugin gets a copy of the app's WIT (`wit/`), a manifest whose `[interfaces]`
 * names it and the world and whose capabilities cover each imported interface, and a source with a stub for every
 * exported function in the language's binding conventions (JS: componentize-js's; Rust: wit-bindgen's; Go: glue generated
 * by interfaces/go-glue.ts).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { loadWit } from "../interfaces/wit-load.js";
import { generateGoGlue } from "../interfaces/go-glue.js";
import { interfaceId, jsName, unversionedId } from "../interfaces/types.js";
import type { WitFunction, WitInterface, WitPackage, WitType, WitWorld } from "../interfaces/types.js";
import { packageRoot, usageError } from "./shared.js";

/** The app world a scaffold targets, read from its WIT. */
export interface ScaffoldWorld {
  /** The WIT file or directory as given (absolute). */
  readonly wit: string;
  readonly packages: readonly WitPackage[];
  readonly world: WitWorld;
  /** `acme:app/mirror-plugin@1.0.0`. */
  readonly worldId: string;
  readonly imports: readonly WitInterface[];
  readonly exports: readonly WitInterface[];
}

/** Read `path/to/app.wit[#world]` (a file or a directory); without `#world` the root package must have one world. */
export function readScaffoldWorld(spec: string): ScaffoldWorld {
  const hash = spec.lastIndexOf("#");
  const wit = path.resolve(hash > 0 ? spec.slice(0, hash) : spec);
  const wanted = hash > 0 ? spec.slice(hash + 1) : undefined;
  const packages = loadWit(wit);
  const root = packages[0];
  if (!root) throw usageError(`${wit} holds no WIT package`);
  const names = root.worlds.map((w) => w.name);
  if (!wanted && names.length !== 1) throw usageError(`${wit} defines ${names.length ? `the worlds ${names.join(", ")}` : "no world"}: name one as --world ${spec}#<world>`);
  const world = root.worlds.find((w) => w.name === (wanted ?? names[0]));
  if (!world) throw usageError(`${wit} (package ${root.name}) has no world "${wanted}"; its worlds: ${names.join(", ") || "none"}`);
  const find = (id: string): WitInterface => {
    for (const p of packages) for (const i of p.interfaces) if (interfaceId(i) === id) return i;
    throw usageError(`world ${world.name} of ${wit} names ${id}, which the WIT does not define`);
  };
  const own = (id: string) => !id.startsWith("plughost:") && !id.startsWith("wasi:");
  const bad = [...world.imports, ...world.exports].filter((id) => !own(id));
  if (bad.length) throw usageError(`world ${world.name} of ${wit} names ${bad.join(", ")}: give a world with only the application's interfaces (the build adds plughost's own world)`);
  return {
    wit,
    packages,
    world,
    worldId: `${root.name}/${world.name}${root.version ? `@${root.version}` : ""}`,
    imports: world.imports.map(find),
    exports: world.exports.map(find),
  };
}

/** The scaffold languages that can target an app world, and why the others cannot yet. */
export const WORLD_LANGUAGES = ["js", "rust", "go", "c"] as const;

/**
 * Add the app-world files to a plugin scaffolded from its template in `dest`: `wit/` (the WIT copied), the
 * manifest's capabilities and `[interfaces]`, and the source with stubs (replacing the template's).
 */
export async function scaffoldWorld(lang: string, dest: string, name: string, w: ScaffoldWorld, manifest: string): Promise<{ manifest: string; files: Record<string, string> }> {
  const witDir = path.join(dest, "wit");
  mkdirSync(witDir, { recursive: true });
  if (statSync(w.wit).isDirectory()) cpSync(w.wit, witDir, { recursive: true });
  else cpSync(w.wit, path.join(witDir, path.basename(w.wit)));
  const caps = w.imports.map((i) => `iface:${unversionedId(interfaceId(i))}`);
  // The template's example hook is not part of an app-world plugin.
  const m = manifest.replace(/\n\[\[hooks\]\]\nevent = "greet"\n/, "\n").replace(/^capabilities = \[(.*)\]$/m, (_all, list: string) => {
    const old = list.split(",").map((s) => s.trim()).filter(Boolean);
    return `capabilities = [${[...old, ...caps.map((c) => JSON.stringify(c))].join(", ")}]`;
  });
  const withCaps = m.includes("capabilities = [") ? m : `${m.trimEnd()}\ncapabilities = [${caps.map((c) => JSON.stringify(c)).join(", ")}]\n`;
  // [interfaces] must come after the top-level keys: before the first table, or at the end.
  const table = `[interfaces]\n# The app's WIT (copied from ${path.basename(w.wit)}) and the world this plugin is built against.\nwit = "wit"\nworld = "${w.world.name}"\n`;
  const firstTable = withCaps.search(/^\[/m);
  const out = firstTable < 0 ? `${withCaps.trimEnd()}\n\n${table}` : `${withCaps.slice(0, firstTable)}${table}\n${withCaps.slice(firstTable)}`;
  const own = lang === "js" ? jsFiles(name, w) : lang === "go" ? goFiles(name, w, dest) : lang === "c" ? await cFiles(name, w, witDir) : rustFiles(name, w, dest);
  // Stubs that return zero values (JS, Go) can be called by test.mjs; Rust's todo!() would trap.
  const files = { ...own, "test.mjs": testFile(name, w, caps, lang !== "rust") };
  for (const [rel, text] of Object.entries(files)) writeFileSync(path.join(dest, rel), text);
  return { manifest: out, files };
}

// ---- JavaScript (componentize-js: jco's conventions inside the guest) ----

const TYPED_ARRAYS: Partial<Record<string, string>> = {
  u8: "Uint8Array", s8: "Int8Array", u16: "Uint16Array", s16: "Int16Array", u32: "Uint32Array", s32: "Int32Array",
  u64: "BigUint64Array", s64: "BigInt64Array", f32: "Float32Array", f64: "Float64Array",
};

type Named = Extract<WitType, { name: string }>;

/** TypeScript names for the named WIT types a module mentions, and their declarations. */
class TsTypes {
  private readonly names = new Map<Named, string>();
  readonly decls: string[] = [];
  name(t: Named): string {
    const known = this.names.get(t);
    if (known) return known;
    const base = jsName(t.name).replace(/^./, (c) => c.toUpperCase());
    let n = base;
    for (let i = 2; [...this.names.values()].includes(n); i++) n = `${base}${i}`;
    this.names.set(t, n);
    let body: string;
    if (t.kind === "record") body = `export interface ${n} {\n${t.fields.map((f) => `  ${jsName(f.name)}: ${this.ts(f.type, "value")};`).join("\n")}\n}`;
    else if (t.kind === "variant") body = `export type ${n} =\n${t.cases.map((c) => `  | { tag: ${JSON.stringify(c.name)}${c.type ? `; val: ${this.ts(c.type, "value")}` : ""} }`).join("\n")};`;
    else if (t.kind === "enum") body = `export type ${n} = ${t.cases.map((c) => JSON.stringify(c)).join(" | ")};`;
    else body = `export interface ${n} {\n${t.flags.map((f) => `  ${jsName(f)}?: boolean;`).join("\n")}\n}`;
    this.decls.push(body);
    return n;
  }
  /** A value's type; `returned`: a function's result, where a result<T, E> is T and an err is thrown. */
  ts(t: WitType, where: "value" | "returned"): string {
    switch (t.kind) {
      case "bool":
        return "boolean";
      case "u64":
      case "s64":
        return "bigint";
      case "char":
      case "string":
        return "string";
      case "list":
        return TYPED_ARRAYS[t.element.kind] ?? `${this.ts(t.element, "value")}[]`;
      case "option":
        return `${this.ts(t.some, "value")} | undefined`;
      case "result":
        if (where === "returned") return t.ok ? this.ts(t.ok, "value") : "void";
        return `{ tag: "ok"${t.ok ? `; val: ${this.ts(t.ok, "value")}` : ""} } | { tag: "err"${t.err ? `; val: ${this.ts(t.err, "value")}` : ""} }`;
      case "tuple":
        return `[${t.items.map((i) => this.ts(i, "value")).join(", ")}]`;
      case "record":
      case "variant":
      case "enum":
      case "flags":
        return this.name(t);
      default:
        return "number";
    }
  }
}

/** A JS value of type `t` to return from a stub (the zero value; a result is its ok side). */
function jsZero(t: WitType | undefined, returned = true): string {
  if (!t) return "";
  switch (t.kind) {
    case "bool":
      return "false";
    case "u64":
    case "s64":
      return "0n";
    case "char":
      return '"a"';
    case "string":
      return '""';
    case "list":
      return TYPED_ARRAYS[t.element.kind] ? `new ${TYPED_ARRAYS[t.element.kind]}()` : "[]";
    case "option":
      return "undefined";
    case "result":
      return returned ? jsZero(t.ok) || "undefined" : `{ tag: "ok"${t.ok ? `, val: ${jsZero(t.ok, false)}` : ""} }`;
    case "tuple":
      return `[${t.items.map((i) => jsZero(i, false)).join(", ")}]`;
    case "record":
      return `{ ${t.fields.map((f) => `${jsName(f.name)}: ${jsZero(f.type, false)}`).join(", ")} }`;
    case "variant":
      return `{ tag: ${JSON.stringify(t.cases[0]!.name)}${t.cases[0]!.type ? `, val: ${jsZero(t.cases[0]!.type, false)}` : ""} }`;
    case "enum":
      return JSON.stringify(t.cases[0]);
    case "flags":
      return "{}";
    default:
      return "0";
  }
}

const docLines = (docs: string | undefined, indent: string): string =>
  docs ? docs.split("\n").map((l) => `${indent}// ${l}`.trimEnd()).join("\n") + "\n" : "";

function jsSignature(types: TsTypes, fn: WitFunction): string {
  const params = fn.params.map((p) => `${jsName(p.name)}: ${types.ts(p.type, "value")}`).join(", ");
  return `${jsName(fn.name)}(${params}): ${fn.result ? types.ts(fn.result, "returned") : "void"}`;
}

function jsFiles(name: string, w: ScaffoldWorld): Record<string, string> {
  // app.d.ts: the imported interfaces as modules (TypeScript only; the build binds them).
  const dts = w.imports.map((i) => {
    const types = new TsTypes();
    const fns = i.functions.map((f) => `${docLines(f.docs, "  ")}  export function ${jsSignature(types, f)};`);
    const body = [...types.decls, ...fns].join("\n").split("\n").map((l) => (l ? `  ${l}` : l)).join("\n");
    return `declare module ${JSON.stringify(interfaceId(i))} {\n${body}\n}\n`;
  });
  const types = new TsTypes();
  const exportsSrc = w.exports.map((i) => {
    const fns = i.functions.map((f) => {
      const zero = jsZero(f.result);
      const unused = f.params.length ? `    void [${f.params.map((p) => jsName(p.name)).join(", ")}]; // TODO: use the arguments\n` : "";
      return `${docLines(f.docs, "  ")}  ${jsSignature(types, f)} {\n${unused}    return${zero ? ` ${zero}` : ""};\n  },`;
    });
    return `/** ${interfaceId(i)}: what this plugin exports (each function a stub to fill in). */\nexport const ${jsName(i.name)} = {\n${fns.join("\n")}\n};\n`;
  });
  const imports = w.imports.map((i) => `import * as ${jsName(i.name)} from ${JSON.stringify(interfaceId(i))};`);
  const plugin = [
    `// ${name}: a plughost plugin against the app world ${w.worldId} (wit/).`,
    "// Build: `plughost build .` (writes plugin.wasm). Test: `node test.mjs`.",
    "// componentize-js binds the world in jco's conventions (docs/guest-js.md): each imported interface is a module",
    "// named by its id; each exported interface is an object exported under its lowerCamelCase name. A function",
    "// returning result<T, E> returns T, and an err is thrown (an import's err is thrown as an Error whose `payload`",
    "// is the E value; throw the E value itself for an export's err).",
    'import { definePlugin, info } from "@plughost/guest";',
    ...imports,
    "",
    "export const guest = definePlugin({",
    "  init(apiVersion) {",
    `    info(\`${name} init (api \${apiVersion})\`);`,
    ...(w.imports.length ? [`    void [${w.imports.map((i) => jsName(i.name)).join(", ")}]; // the imported interfaces, for the stubs below`] : []),
    "    return 0;",
    "  },",
    "});",
    "",
    ...types.decls.map((d) => `${d}\n`),
    ...exportsSrc,
  ].join("\n");
  return {
    "plugin.ts": plugin,
    "app.d.ts": `// The app's imported interfaces as componentize-js binds them (generated by plughost new from wit/).\n${dts.join("\n")}`,
    "tsconfig.json": `{\n  "extends": "plughost/tsconfig.guest.json",\n  "files": ["plugin.ts", "app.d.ts"]\n}\n`,
  };
}

// ---- Rust (wit-bindgen's generate! beside the SDK's plughost world) ----

const RUST_PRIM: Partial<Record<string, string>> = {
  bool: "bool", u8: "u8", u16: "u16", u32: "u32", u64: "u64", s8: "i8", s16: "i16", s32: "i32", s64: "i64",
  f32: "f32", f64: "f64", char: "char", string: "String",
};

const pascal = (s: string): string => jsName(s).replace(/^./, (c) => c.toUpperCase());
const snake = (s: string): string => s.replace(/^%/, "").replace(/-/g, "_");

/** An owned Rust type, as wit-bindgen gives an export's parameters and takes its result. */
function rustType(t: WitType, used: Set<string>): string {
  switch (t.kind) {
    case "list":
      return `Vec<${rustType(t.element, used)}>`;
    case "option":
      return `Option<${rustType(t.some, used)}>`;
    case "result":
      return `Result<${t.ok ? rustType(t.ok, used) : "()"}, ${t.err ? rustType(t.err, used) : "()"}>`;
    case "tuple":
      return `(${t.items.map((i) => rustType(i, used)).join(", ")}${t.items.length === 1 ? "," : ""})`;
    case "record":
    case "variant":
    case "enum":
    case "flags":
      used.add(pascal(t.name));
      return pascal(t.name);
    default:
      return RUST_PRIM[t.kind]!;
  }
}

/** The wit-bindgen the Rust SDK uses (one copy of the macro and of cabi_realloc in a plugin). */
const RUST_WIT_BINDGEN = 'wit-bindgen = { version = "0.63", default-features = false, features = ["macros", "realloc"] }';

function rustFiles(name: string, w: ScaffoldWorld, dest: string): Record<string, string> {
  const cargo = readFileSync(path.join(dest, "Cargo.toml"), "utf8").replace(/^\[dependencies\]\n((?:.+\n)*)/m, (all) => `${all}# The app world's bindings (wit/), beside the SDK's.\n${RUST_WIT_BINDGEN}\n`);
  const impls = w.exports.map((i) => {
    const used = new Set<string>();
    const mod = `exports::${snake(i.package.split(":")[0]!)}::${snake(i.package.split(":")[1]!)}::${snake(i.name)}`;
    const fns = i.functions.map((f) => {
      const params = f.params.map((p) => `_${snake(p.name)}: ${rustType(p.type, used)}`).join(", ");
      const ret = f.result ? ` -> ${rustType(f.result, used)}` : "";
      return `${docLines(f.docs, "    ").replace(/\/\/ /g, "/// ")}    fn ${snake(f.name)}(${params})${ret} {\n        todo!("${i.name}.${f.name}")\n    }`;
    });
    const uses = used.size ? `use ${mod}::{${[...used].sort().join(", ")}};\n\n` : "";
    return `${uses}impl ${mod}::Guest for Plugin {\n${fns.join("\n")}\n}\n`;
  });
  const lib = [
    `//! ${name}: a plughost plugin against the app world ${w.worldId} (wit/).`,
    "//! Build: `plughost build .`, then test: `node test.mjs`.",
    "",
    "// The app world's bindings (its imports and exports); plughost's own world comes from the SDK crate and the",
    "// build merges the two.",
    "wit_bindgen::generate!({",
    '    path: "wit",',
    `    world: "${w.world.name}",`,
    "});",
    "",
    "struct Plugin;",
    "",
    "impl plughost::Plugin for Plugin {",
    "    fn init(_api_version: &str, _config: &str) -> i32 {",
    `        plughost::info!("${name} ready");`,
    "        0",
    "    }",
    "}",
    "",
    ...impls,
    "plughost::export!(Plugin);",
    "export!(Plugin);",
    "",
  ].join("\n");
  return { "src/lib.rs": lib, "Cargo.toml": cargo };
}

// ---- Go (generated canonical-ABI glue on plughost.dev/sdk/cabi) ----

function goFiles(name: string, w: ScaffoldWorld, dest: string): Record<string, string> {
  const glue = generateGoGlue(w);
  // The template's unit test exercises its greet hook, which an app-world plugin does not have.
  rmSync(path.join(dest, "main_test.go"), { force: true });
  const impls = glue.exports.map((e) => {
    const type = `${jsName(e.iface.name)}Impl`;
    const methods = e.methods.map((m) => `${docLines(m.fn.docs, "")}func (${type}) ${m.signature} {\n\t// TODO: ${e.iface.name}.${m.fn.name}\n${m.zero ? `\treturn ${m.zero}\n` : ""}}`);
    return { e, type, text: `// ${type} implements ${interfaceId(e.iface)} (${e.goInterface}): each method is a stub returning a zero value.\ntype ${type} struct{}\n\n${methods.join("\n\n")}\n` };
  });
  const imports = glue.imports.map((i) => `${i.variable} (${interfaceId(i.iface)})`);
  const main = [
    "//go:build wasip1",
    "",
    `// ${name}: a plughost plugin against the app world ${w.worldId} (wit/).`,
    "// Build: `plughost build .` (writes plugin.wasm). Test: `node test.mjs`.",
    "// app_world.go is the world's glue, generated from wit/ (do not edit it; after changing the WIT, run",
    "// `plughost glue go .`): the app's types, the host's interfaces",
    `// (${imports.join(", ") || "none imported"}) and the Go interfaces this plugin implements.`,
    "package main",
    "",
    'import plughost "plughost.dev/sdk"',
    "",
    "func init() {",
    "\tplughost.Init(func(apiVersion, config string) int32 {",
    `\t\tplughost.Log(plughost.Info, "${name} ready (api "+apiVersion+")")`,
    "\t\treturn 0",
    "\t})",
    ...impls.map(({ e, type }) => `\t${e.variable} = ${type}{}`),
    "}",
    "",
    ...impls.map((i) => i.text),
    "// main is never called: the plugin is a WASI reactor, started by init().",
    "func main() {}",
    "",
  ].join("\n");
  return { "app_world.go": glue.source, "main.go": main };
}

// ---- C (wit-bindgen's C bindings, generated by the build from wit/) ----

/** One exported function's prototype in the bindings header. */
interface CPrototype {
  readonly ret: string;
  readonly name: string;
  readonly params: readonly { readonly type: string; readonly name: string; readonly pointer: boolean }[];
}

/** The C SDK build's bindings generator (guest-sdks/c/build.mjs). */
type GenerateBindings = (appWorld: { wit: string; world: string }, outDir: string) => Promise<string[]>;

async function cFiles(name: string, w: ScaffoldWorld, witDir: string): Promise<Record<string, string>> {
  // The stubs take the exact prototypes wit-bindgen declares: generate the header the build will generate.
  const { generateBindings } = (await import(pathToFileURL(path.join(packageRoot, "guest-sdks", "c", "build.mjs")).href)) as { generateBindings: GenerateBindings };
  const tmp = mkdtempSync(path.join(tmpdir(), "plughost-new-c-"));
  let header: string;
  const headerName = `${w.world.name.replace(/-/g, "_")}.h`;
  try {
    await generateBindings({ wit: witDir, world: w.world.name }, tmp);
    header = readFileSync(path.join(tmp, headerName), "utf8");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const frees = new Set([...header.matchAll(/^void (\w+)_free\(/gm)].map((m) => m[1]!));
  const c = (s: string) => s.replace(/[-:/.]/g, "_").replace(/^%/, "");
  const stubs = w.exports.map((i) => {
    const fns = i.functions.map((f) => {
      const fnName = `exports_${c(i.package)}_${c(i.name)}_${c(f.name)}`;
      const proto = parsePrototype(header, fnName);
      const body: string[] = [`  /* TODO: ${i.name}.${f.name} */`];
      for (const p of proto.params) {
        if (p.pointer && (p.name === "ret" || p.name === "err")) body.push(`  memset(${p.name}, 0, sizeof *${p.name});`);
        else if (p.pointer && frees.has(p.type.replace(/_t$/, ""))) {
          // An option argument arrives as a pointer that is NULL for none.
          const free = `${p.type.replace(/_t$/, "")}_free(${p.name});`;
          body.push(`  ${p.name.startsWith("maybe_") ? `if (${p.name}) ${free}` : free} /* arguments are the plugin's to free */`);
        }
        else body.push(`  (void)${p.name};`);
      }
      if (proto.ret === "bool") body.push("  return false;");
      else if (/^(u?int(8|16|32|64)_t|float|double|uint32_t)$/.test(proto.ret)) body.push("  return 0;");
      else if (proto.ret !== "void") body.push(`  return (${proto.ret}){0};`);
      const params = proto.params.length ? proto.params.map((p) => `${p.type} ${p.pointer ? "*" : ""}${p.name}`).join(", ") : "void";
      const doc = f.docs ? `/* ${f.docs.split("\n").join("\n * ")} */\n` : "";
      return `${doc}${proto.ret} ${fnName}(${params}) {\n${body.join("\n")}\n}`;
    });
    return `/* ${interfaceId(i)}: what this plugin exports (each function a stub to fill in). */\n\n${fns.join("\n\n")}\n`;
  });
  const src = [
    `/* ${name}: a plughost plugin against the app world ${w.worldId} (wit/), with wit-bindgen's C bindings.`,
    ` * Build: plughost build . (generates ${headerName} from wit/ and compiles it in). Test: node test.mjs.`,
    " * Exported functions own their arguments (free them with the bindings' *_free) and hand their results to the",
    " * bindings, whose post-return frees them. Import arguments are borrowed; import results are the plugin's to free.",
    ` * The host's interfaces: ${w.imports.map((i) => `${interfaceId(i)} (${c(i.package)}_${c(i.name)}_*)`).join(", ") || "none imported"}. */`,
    "#include <string.h>",
    "",
    '#include "plughost.h"',
    `#include "${headerName}"`,
    "",
    "int32_t plugin_init(PluginContext *ctx) {",
    `  ctx->log(ctx, LOG_INFO, "${name} ready");`,
    "  return 0;",
    "}",
    "",
    "int32_t plugin_teardown(PluginContext *ctx) {",
    "  (void)ctx;",
    "  return 0;",
    "}",
    "",
    ...stubs,
  ].join("\n");
  return { "plugin.c": src };
}

/** The prototype of `fn` in a wit-bindgen C header (one declaration per line, as it writes them). */
function parsePrototype(header: string, fn: string): CPrototype {
  const m = new RegExp(`^([A-Za-z_][\\w ]*?)\\s*\\b${fn}\\(([^)]*)\\);`, "m").exec(header);
  if (!m) throw usageError(`the C bindings generated for this world do not declare ${fn}: is the bindings generator the one the C SDK pins?`);
  const params = m[2]!.trim() === "void" || !m[2]!.trim()
    ? []
    : m[2]!.split(",").map((raw) => {
        const p = /^(.*?)\s*(\*?)\s*(\w+)$/.exec(raw.trim());
        if (!p) throw usageError(`cannot read the parameter "${raw.trim()}" of ${fn} in the generated C bindings`);
        return { type: p[1]!.trim(), pointer: p[2] === "*", name: p[3]! };
      });
  return { ret: m[1]!.trim(), name: fn, params };
}

// ---- test.mjs: load the plugin with the app's interfaces provided by zero-returning stubs ----

/** A JS value of type `t` in plughost's host convention (interfaces/types.ts): results are tagged, never thrown. */
function hostZero(t: WitType | undefined): string {
  if (!t) return "undefined";
  if (t.kind === "result") return `{ tag: "ok"${t.ok ? `, val: ${hostZero(t.ok)}` : ""} }`;
  if (t.kind === "list") return t.element.kind === "u8" ? "new Uint8Array()" : "[]";
  if (t.kind === "tuple") return `[${t.items.map(hostZero).join(", ")}]`;
  if (t.kind === "record") return `{ ${t.fields.map((f) => `${jsName(f.name)}: ${hostZero(f.type)}`).join(", ")} }`;
  if (t.kind === "variant") return `{ tag: ${JSON.stringify(t.cases[0]!.name)}${t.cases[0]!.type ? `, val: ${hostZero(t.cases[0]!.type)}` : ""} }`;
  return jsZero(t, false);
}

/** `callStub`: the stubs return zero values (JS), so the test calls one; Rust's `todo!()` stubs would trap. */
function testFile(name: string, w: ScaffoldWorld, grants: readonly string[], callStub: boolean): string {
  const provides = w.imports.map((i) => {
    const fns = i.functions.map((f) => `      ${jsName(f.name)}: () => (${hostZero(f.result)}),`);
    return `    registry.provide(${JSON.stringify(interfaceId(i))}, {\n${fns.join("\n")}\n    });`;
  });
  const first = w.exports.flatMap((i) => i.functions.slice(0, 1).map((f) => ({ i, f })))[0];
  const call = !first
    ? []
    : !callStub
      ? [`    // Each export is a todo!() stub: fill it in, then call it here, e.g. plugin.call(${JSON.stringify(unversionedId(interfaceId(first.i)))}, ${JSON.stringify(first.f.name)}, …).`]
      : [
          `    // Each export is a stub: fill it in, then check what it answers here.`,
          `    await plugin.call(${JSON.stringify(unversionedId(interfaceId(first.i)))}, ${JSON.stringify(first.f.name)}${first.f.params.map((p) => `, ${hostZero(p.type)}`).join("")});`,
        ];
  return [
    "// Loads the built plugin.wasm in plughost with the app's interfaces (wit/) provided by stubs, and calls it.",
    "// Run: node test.mjs (after building with `plughost build .`).",
    'import { test } from "node:test";',
    'import assert from "node:assert/strict";',
    'import { existsSync } from "node:fs";',
    'import { fileURLToPath } from "node:url";',
    'import path from "node:path";',
    'import { PluginRegistry } from "plughost";',
    "",
    "const dir = path.dirname(fileURLToPath(import.meta.url));",
    "",
    `test("${name} loads against ${w.worldId}", async () => {`,
    '  assert.ok(existsSync(path.join(dir, "plugin.wasm")), "plugin.wasm is missing: run `plughost build .` first");',
    `  const registry = new PluginRegistry({ cacheDir: false, grants: ${JSON.stringify(["stdio", "clock", "random", ...grants])} });`,
    "  try {",
    '    registry.defineInterfaces(path.join(dir, "wit"));',
    ...provides,
    "    const plugin = await registry.load(dir);",
    "    assert.equal(plugin.name, " + JSON.stringify(name) + ");",
    ...call,
    "  } finally {",
    "    await registry.unloadAll();",
    "  }",
    "});",
    "",
  ].join("\n");
}
