// The two Wasm tools plughost takes from jco (see README.md here): the
// component → JS glue generator the v8 engine uses, and wasm-tools. Each is
// loaded on first use: the transpiler only when a component is not in the
// compile cache, wasm-tools only when a plugin is built or inspected.
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { brotliDecompress } from "node:zlib";

const WASI_SHIMS = {
  "wasi:cli/*": "@bytecodealliance/preview2-shim/cli#*",
  "wasi:clocks/*": "@bytecodealliance/preview2-shim/clocks#*",
  "wasi:filesystem/*": "@bytecodealliance/preview2-shim/filesystem#*",
  "wasi:http/*": "@bytecodealliance/preview2-shim/http#*",
  "wasi:io/*": "@bytecodealliance/preview2-shim/io#*",
  "wasi:random/*": "@bytecodealliance/preview2-shim/random#*",
  "wasi:sockets/*": "@bytecodealliance/preview2-shim/sockets#*",
};

const ARCHIVE_KEY = "plughost:jco-archive"; // as scripts/vendor-jco.mjs writes it into the glue

// The unpacked archive (6.8 MB) lives only while a tool is being loaded.
let unpacked;
let loading = 0;

async function unpack() {
  const [index, packed] = await Promise.all([
    readFile(new URL("./tools.json", import.meta.url), "utf8").then(JSON.parse),
    readFile(new URL("./tools.br", import.meta.url)),
  ]);
  const all = await promisify(brotliDecompress)(packed);
  if (all.length !== index.size) throw new Error(`plughost's vendor/jco/tools.br unpacks to ${all.length} bytes, not ${index.size}: reinstall plughost`);
  return new Map(index.files.map((f) => [f.name, all.subarray(f.offset, f.offset + f.length)]));
}

/** Import a tool's glue from the archive and wait for it to compile its core modules. */
async function loadTool(name) {
  loading++;
  unpacked ??= unpack();
  // The glue reads its core modules through this symbol, unique to this load, while it initialises.
  const key = `${ARCHIVE_KEY}:${randomUUID()}`;
  try {
    const files = await unpacked;
    const file = (n) => {
      const bytes = files.get(n);
      if (!bytes) throw new Error(`plughost's vendor/jco has no ${n}: reinstall plughost`);
      return bytes;
    };
    globalThis[Symbol.for(key)] = async (core) => file(core);
    // A data: module resolves only absolute specifiers: point preview2-shim at its files.
    const source = Buffer.from(file(`${name}.js`))
      .toString("utf8")
      .replace(/from '(@bytecodealliance\/preview2-shim\/[a-z]+)'/g, (_, spec) => `from ${JSON.stringify(import.meta.resolve(spec))}`)
      .replace(`Symbol.for('${ARCHIVE_KEY}')`, () => `Symbol.for(${JSON.stringify(key)})`);
    const mod = await import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);
    await mod.$init;
    return mod;
  } finally {
    delete globalThis[Symbol.for(key)];
    if (--loading === 0) unpacked = undefined;
  }
}

let bindgen;
let tools;

/**
 * Run `call` on a loaded tool. A trap (a Rust panic in the tool, e.g. on a malformed component) leaves its
 * component instance unusable: every later call would fail with "cannot enter component instance", so one bad
 * plugin would break every load after it. The instance is dropped (`drop`) so the next call loads a fresh one.
 */
function poisonGuard(loaded, drop, call) {
  try {
    return call();
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) drop(loaded);
    throw err;
  }
}

/** wasm-tools, compiled on first use and shared afterwards. */
export async function wasmTools() {
  tools ??= loadTool("wasm-tools").then(
    (m) => m.tools,
    (err) => {
      tools = undefined; // a failed load is retried by the next caller
      throw err;
    },
  );
  return tools;
}

/**
 * Transpile a component into an ES module and its core modules, as
 * `jco transpile` does with plughost's options. WASI imports map to
 * preview2-shim unless `wasiShim` is false or an `instantiation` mode is set.
 */
export async function transpileBytes(component, opts = {}) {
  bindgen ??= loadTool("js-component-bindgen-component").catch((err) => {
    bindgen = undefined; // a failed load is retried by the next caller
    throw err;
  });
  const loaded = bindgen;
  const { generate } = await loaded;
  // As jco: with an instantiation mode the caller supplies the imports, so WASI is not mapped to preview2-shim.
  const shim = opts.wasiShim !== false && !opts.instantiation;
  const map = shim ? { ...WASI_SHIMS, ...(opts.map ?? {}) } : { ...(opts.map ?? {}) };
  const generated = poisonGuard(loaded, () => (bindgen === loaded ? (bindgen = undefined) : undefined), () => generate(component, {
    name: opts.name ?? "component",
    map: Object.entries(map),
    instantiation: opts.instantiation ? { tag: opts.instantiation } : undefined,
    asyncMode: undefined,
    importBindings: undefined,
    validLiftingOptimization: false,
    tracing: false,
    noComponentErrorWrapping: true,
    noNodejsCompat: false,
    noTypescript: opts.emitTypescriptDeclarations === false,
    tlaCompat: false,
    base64Cutoff: opts.base64Cutoff ?? 5000,
    noNamespacedExports: false,
    multiMemory: false,
    bindgenEnableWasmExnref: false,
    strict: false,
    flagsAsBigint: false,
    variantsInlineCases: false,
    useNamespaceObjects: false,
    enumValuesScreamingSnakeCase: false,
    idlImports: false,
    asmjs: false,
  }));
  return { files: Object.fromEntries(generated.files), imports: generated.imports, exports: generated.exports };
}

/** Call a wasm-tools function; a trap drops the instance (see `poisonGuard`). */
async function withTools(call) {
  const loaded = wasmTools();
  const t = await loaded;
  return poisonGuard(loaded, () => (tools === loaded ? (tools = undefined) : undefined), () => call(t));
}

export async function componentNew(bytes, adapters) {
  return withTools((t) => t.componentNew(bytes, adapters));
}
export async function componentEmbed(opts) {
  return withTools((t) => t.componentEmbed(opts));
}
export async function componentWit(bytes) {
  return withTools((t) => t.componentWit(bytes));
}
export async function parse(wat) {
  return withTools((t) => t.parse(wat));
}
export async function print(bytes) {
  return withTools((t) => t.print(bytes));
}
