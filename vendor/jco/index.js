// The two Wasm tools plughost takes from jco (see README.md here): the
// component → JS glue generator the v8 engine uses, and wasm-tools. Each is
// loaded on first use: the transpiler only when a component is not in the
// compile cache, wasm-tools only when a plugin is built or inspected.

const WASI_SHIMS = {
  "wasi:cli/*": "@bytecodealliance/preview2-shim/cli#*",
  "wasi:clocks/*": "@bytecodealliance/preview2-shim/clocks#*",
  "wasi:filesystem/*": "@bytecodealliance/preview2-shim/filesystem#*",
  "wasi:http/*": "@bytecodealliance/preview2-shim/http#*",
  "wasi:io/*": "@bytecodealliance/preview2-shim/io#*",
  "wasi:random/*": "@bytecodealliance/preview2-shim/random#*",
  "wasi:sockets/*": "@bytecodealliance/preview2-shim/sockets#*",
};

let bindgen;
let tools;

async function loadBindgen() {
  bindgen ??= import("./js-component-bindgen-component.js").then(async (m) => {
    await m.$init;
    return m;
  });
  return bindgen;
}

/** wasm-tools, compiled on first use and shared afterwards. */
export async function wasmTools() {
  tools ??= import("./wasm-tools.js").then(async (m) => {
    await m.$init;
    return m.tools;
  });
  return tools;
}

/**
 * Transpile a component into an ES module and its core modules, as
 * `jco transpile` does with plughost's options. WASI imports map to
 * preview2-shim unless `wasiShim` is false or an `instantiation` mode is set.
 */
export async function transpileBytes(component, opts = {}) {
  const { generate } = await loadBindgen();
  // As jco: with an instantiation mode the caller supplies the imports, so WASI is not mapped to preview2-shim.
  const shim = opts.wasiShim !== false && !opts.instantiation;
  const map = shim ? { ...WASI_SHIMS, ...(opts.map ?? {}) } : { ...(opts.map ?? {}) };
  const generated = generate(component, {
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
  });
  return { files: Object.fromEntries(generated.files), imports: generated.imports, exports: generated.exports };
}

export async function componentNew(bytes, adapters) {
  return (await wasmTools()).componentNew(bytes, adapters);
}
export async function componentEmbed(opts) {
  return (await wasmTools()).componentEmbed(opts);
}
export async function componentWit(bytes) {
  return (await wasmTools()).componentWit(bytes);
}
export async function parse(wat) {
  return (await wasmTools()).parse(wat);
}
export async function print(bytes) {
  return (await wasmTools()).print(bytes);
}
