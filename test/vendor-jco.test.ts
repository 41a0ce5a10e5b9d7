// vendor/jco (scripts/vendor-jco.mjs): the transpiler and wasm-tools plughost ships instead of depending on
// @bytecodealliance/jco-transpile (which brings binaryen). Checked against that package, a devDependency here.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { brotliDecompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import * as jco from "@bytecodealliance/jco-transpile";
import * as jcoTools from "@bytecodealliance/jco-transpile/wasm-tools";
import * as vendored from "../vendor/jco/index.js";
import { sourceDir } from "../scripts/vendor-jco.mjs";
import { root } from "./helpers/plugins.js";

const component = new Uint8Array(readFileSync(path.join(root, "examples", "c", "hello", "plugin.wasm")));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

interface Index {
  source: string;
  size: number;
  files: { name: string; offset: number; length: number; sha256: string }[];
}

describe("vendor/jco", () => {
  it("its archive holds jco-transpile's core modules byte for byte, and the index is exact", () => {
    const index = JSON.parse(readFileSync(path.join(root, "vendor", "jco", "tools.json"), "utf8")) as Index;
    const pkg = JSON.parse(readFileSync(path.join(sourceDir(), "package.json"), "utf8")) as { version: string };
    expect(index.source).toBe(`@bytecodealliance/jco-transpile@${pkg.version}`);
    const all = brotliDecompressSync(readFileSync(path.join(root, "vendor", "jco", "tools.br")));
    expect(all.length).toBe(index.size);
    for (const f of index.files) expect(sha(all.subarray(f.offset, f.offset + f.length)), f.name).toBe(f.sha256);
    const cores = index.files.filter((f) => f.name.endsWith(".wasm"));
    expect(cores.map((f) => f.name).sort()).toEqual(["js-component-bindgen-component.core.wasm", "js-component-bindgen-component.core2.wasm", "wasm-tools.core.wasm", "wasm-tools.core2.wasm"]);
    for (const f of cores) expect(f.sha256, f.name).toBe(sha(readFileSync(path.join(sourceDir(), "vendor", f.name))));
  });

  it("transpiles to the same files as jco-transpile, with and without an instantiation mode", async () => {
    for (const opts of [{ name: "plugin", instantiation: "async" as const }, { name: "plugin" }]) {
      const mine = await vendored.transpileBytes(component, opts);
      const theirs = await jco.transpileBytes(component, { ...opts });
      expect(Object.keys(mine.files).sort()).toEqual(Object.keys(theirs.files).sort());
      for (const [name, bytes] of Object.entries(theirs.files)) expect(sha(mine.files[name]!), name).toBe(sha(bytes));
      expect(mine.imports).toEqual(theirs.imports);
      expect(mine.exports).toEqual(theirs.exports);
    }
  });

  it("wasm-tools answers as jco-transpile's does, and a bad input is an error, not a crash", async () => {
    expect(await vendored.componentWit(component)).toBe(await jcoTools.componentWit(component));
    const core = await vendored.parse('(module (func (export "run") (result i32) i32.const 1) (memory (export "memory") 1))');
    expect(sha(core)).toBe(sha(await jcoTools.parse('(module (func (export "run") (result i32) i32.const 1) (memory (export "memory") 1))')));
    const witSource = "package test:other@1.0.0;\nworld other {\n  export run: func() -> s32;\n}\n";
    const embedded = await vendored.componentEmbed({ binary: core, witSource, world: "other" });
    expect(sha(await vendored.componentNew(embedded, []))).toBe(sha(await jcoTools.componentNew(await jcoTools.componentEmbed({ binary: core, witSource, world: "other" }), [])));
    await expect(vendored.componentWit(new Uint8Array([0, 0x61, 0x73, 0x6d, 9, 9, 9, 9]))).rejects.toThrow();
    await expect(vendored.transpileBytes(new Uint8Array([1, 2, 3]))).rejects.toThrow();
  });

  it("leaves no global behind once its tools are loaded", async () => {
    await vendored.wasmTools();
    await vendored.transpileBytes(component, { instantiation: "async" });
    expect(Object.getOwnPropertySymbols(globalThis).map((s) => s.description).filter((d) => d?.startsWith("plughost:"))).toEqual([]);
  });
});
