#!/usr/bin/env node
// Packs the two Wasm tools plughost uses from @bytecodealliance/jco-transpile
// (a devDependency) into vendor/jco/: js-component-bindgen (component → JS
// glue, the v8 engine's transpiler) and wasm-tools (component new/embed/wit).
// The package itself is not a dependency because it depends on binaryen
// (93 MB) and oxc-minify, which plughost never runs.
//
// Both tools' glue and core modules go into one brotli archive, tools.br
// (6.8 MB → 1.2 MB: the two core modules share much of their Rust code, so
// one compression window over both halves the size), indexed by tools.json.
// vendor/jco/index.js unpacks it in memory when a tool is first needed.
// Each glue file is patched in two places, checked to match exactly once so
// that a jco upgrade that changes them fails here rather than at run time:
// its core modules are named instead of located through import.meta.url, and
// its loader asks index.js for their bytes. Deterministic: same input, same bytes.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "vendor", "jco");

const TOOLS = ["js-component-bindgen-component", "wasm-tools"];
/** Bumped when this script's output changes for the same jco-transpile, so the set-up repacks. */
const FORMAT = 1;

/**
 * The global symbol's name through which the glue gets its core modules' bytes; index.js makes it unique per load.
 * (A global, not an import of index.js: a test runner's module loader can hold a second instance of index.js.)
 */
export const ARCHIVE_KEY = "plughost:jco-archive";

const FETCH_COMPILE = `async function fetchCompile (url) {
  if (isNode) {
    _fs = _fs || await import('node:fs/promises');
    return WebAssembly.compile(await _fs.readFile(url));
  }
  return fetch(url).then(WebAssembly.compileStreaming);
}`;
const FETCH_COMPILE_ARCHIVE = `// plughost: core modules come from vendor/jco/tools.br (scripts/vendor-jco.mjs).
const $plughostCoreBytes = globalThis[Symbol.for('${ARCHIVE_KEY}')];
async function fetchCompile (name) {
  return WebAssembly.compile(await $plughostCoreBytes(name));
}`;

function replaceOnce(text, from, to, what) {
  const n = text.split(from).length - 1;
  if (n !== 1) throw new Error(`vendor-jco: ${what}: expected one match, found ${n}; update scripts/vendor-jco.mjs for this jco-transpile`);
  return text.replace(from, () => to);
}

export function sourceDir() {
  // Its exports map hides package.json: resolve the main entry (dist/index.js) and go up.
  const require = createRequire(path.join(root, "package.json"));
  return path.resolve(path.dirname(require.resolve("@bytecodealliance/jco-transpile")), "..");
}

function sourceVersion() {
  const pkg = JSON.parse(readFileSync(path.join(sourceDir(), "package.json"), "utf8"));
  return { version: pkg.version, license: pkg.license };
}

/** Files in vendor/jco/ that this script writes (index.js, index.d.ts and README.md are checked in). */
export const GENERATED = ["LICENSE", "tools.json", "tools.br"];

export function vendor() {
  const src = sourceDir();
  const { version, license } = sourceVersion();
  const entries = [];
  const add = (name, bytes) => entries.push({ name, bytes });
  for (const tool of TOOLS) {
    let glue = readFileSync(path.join(src, "vendor", `${tool}.js`), "utf8");
    glue = replaceOnce(glue, FETCH_COMPILE, FETCH_COMPILE_ARCHIVE, `${tool}.js fetchCompile`);
    for (const core of [`${tool}.core.wasm`, `${tool}.core2.wasm`]) {
      glue = replaceOnce(glue, `fetchCompile(new URL('./${core}', import.meta.url))`, `fetchCompile('${core}')`, `${tool}.js loading ${core}`);
      add(core, readFileSync(path.join(src, "vendor", core)));
    }
    if (glue.includes("import.meta")) throw new Error(`vendor-jco: ${tool}.js still uses import.meta; update scripts/vendor-jco.mjs`);
    add(`${tool}.js`, Buffer.from(glue));
  }
  // Identical files (both tools carry the same small core2 module) are stored once.
  const files = [];
  const parts = [];
  const bySha = new Map();
  let offset = 0;
  for (const { name, bytes } of entries) {
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    let at = bySha.get(sha256);
    if (at === undefined) {
      at = offset;
      bySha.set(sha256, at);
      parts.push(bytes);
      offset += bytes.length;
    }
    files.push({ name, offset: at, length: bytes.length, sha256 });
  }
  const all = Buffer.concat(parts);
  const packed = zlib.brotliCompressSync(all, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_LGWIN]: 24, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: all.length },
  });
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, "tools.br"), packed);
  const index = { source: `@bytecodealliance/jco-transpile@${version}`, format: FORMAT, license, size: all.length, files };
  writeFileSync(path.join(out, "tools.json"), JSON.stringify(index, null, 2) + "\n");
  writeFileSync(path.join(out, "LICENSE"), readFileSync(path.join(src, "LICENSE")));
}

export function upToDate() {
  if (!GENERATED.every((f) => existsSync(path.join(out, f)))) return false;
  const index = JSON.parse(readFileSync(path.join(out, "tools.json"), "utf8"));
  return index.source === `@bytecodealliance/jco-transpile@${sourceVersion().version}` && index.format === FORMAT;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--if-needed") && upToDate()) process.exit(0);
  vendor();
}
