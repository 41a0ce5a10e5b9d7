#!/usr/bin/env node
// Copies the two Wasm tools plughost uses from @bytecodealliance/jco-transpile
// (a devDependency) into vendor/jco/: js-component-bindgen (component → JS
// glue, the v8 engine's transpiler) and wasm-tools (component new/embed/wit).
// The package itself is not a dependency because it depends on binaryen
// (93 MB) and oxc-minify, which plughost never runs. The core modules are
// stored brotli-compressed (7.4 MB → 1.5 MB in the tarball) and decompressed
// in memory when a tool is first loaded. Deterministic: same input, same bytes.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "vendor", "jco");

/** The glue's loader reads `<name>.wasm`; the vendored copy reads `<name>.wasm.br` and decompresses it. */
const FETCH_COMPILE = /async function fetchCompile \(url\) \{\n  if \(isNode\) \{\n    _fs = _fs \|\| await import\('node:fs\/promises'\);\n    return WebAssembly\.compile\(await _fs\.readFile\(url\)\);\n  \}\n  return fetch\(url\)\.then\(WebAssembly\.compileStreaming\);\n\}/;
const FETCH_COMPILE_BROTLI = `async function fetchCompile (url) {
  // plughost: core modules ship brotli-compressed (scripts/vendor-jco.mjs).
  const { readFile } = await import('node:fs/promises');
  const { brotliDecompress } = await import('node:zlib');
  const packed = await readFile(new URL(url.href + '.br'));
  const bytes = await new Promise((resolve, reject) => brotliDecompress(packed, (err, b) => (err ? reject(err) : resolve(b))));
  return WebAssembly.compile(bytes);
}`;

const TOOLS = ["js-component-bindgen-component", "wasm-tools"];

export function sourceDir() {
  // Its exports map hides package.json: resolve the main entry (dist/index.js) and go up.
  const require = createRequire(path.join(root, "package.json"));
  return path.resolve(path.dirname(require.resolve("@bytecodealliance/jco-transpile")), "..");
}

/** The files vendor/jco/ holds besides its own index.js, index.d.ts and README.md. */
export const GENERATED = [
  "LICENSE",
  "VERSION",
  ...TOOLS.flatMap((t) => [`${t}.js`, `${t}.core.wasm.br`, `${t}.core2.wasm.br`]),
];

export function vendor() {
  const src = sourceDir();
  const pkg = JSON.parse(readFileSync(path.join(src, "package.json"), "utf8"));
  mkdirSync(out, { recursive: true });
  const lines = [`@bytecodealliance/jco-transpile ${pkg.version} licence ${pkg.license}`];
  for (const tool of TOOLS) {
    const glue = readFileSync(path.join(src, "vendor", `${tool}.js`), "utf8");
    const matches = glue.match(new RegExp(FETCH_COMPILE.source, "g"));
    if (matches?.length !== 1) throw new Error(`vendor-jco: ${tool}.js from jco-transpile ${pkg.version} has no single fetchCompile to patch; update scripts/vendor-jco.mjs`);
    writeFileSync(path.join(out, `${tool}.js`), glue.replace(FETCH_COMPILE, FETCH_COMPILE_BROTLI));
    for (const core of [`${tool}.core.wasm`, `${tool}.core2.wasm`]) {
      const bytes = readFileSync(path.join(src, "vendor", core));
      const packed = zlib.brotliCompressSync(bytes, {
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_LGWIN]: 24, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
      });
      writeFileSync(path.join(out, `${core}.br`), packed);
      lines.push(`${core} sha256 ${createHash("sha256").update(bytes).digest("hex")}`);
    }
  }
  writeFileSync(path.join(out, "LICENSE"), readFileSync(path.join(src, "LICENSE")));
  writeFileSync(path.join(out, "VERSION"), lines.join("\n") + "\n");
}

export function upToDate() {
  if (!GENERATED.every((f) => existsSync(path.join(out, f)))) return false;
  const pkg = JSON.parse(readFileSync(path.join(sourceDir(), "package.json"), "utf8"));
  return readFileSync(path.join(out, "VERSION"), "utf8").startsWith(`@bytecodealliance/jco-transpile ${pkg.version} `);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--if-needed") && upToDate()) process.exit(0);
  vendor();
}
