// src/engines/v8/compile.ts: a component with a large core module (a componentize-js plugin) is transpiled with
// that module's code stubbed out, then given the real module. The glue must be exactly what jco makes of the whole
// component, the core modules exactly the embedded ones, and a module V8 refuses must still be an invalid binary.
import { describe, it, expect } from "vitest";
import { readFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { clearCompileCache, compileComponent, patchGlue, stubLargeModules } from "../src/engines/v8/compile.js";
import { InvalidPluginBinary } from "../src/contract/errors.js";
import { transpileBytes } from "../vendor/jco/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const HELLO = path.join(root, "examples", "js", "hello", "plugin.wasm");

function hello(): Uint8Array {
  if (!existsSync(HELLO)) throw new Error("examples/js/hello/plugin.wasm is missing: run `node scripts/setup.mjs 31-guests-js`");
  return new Uint8Array(readFileSync(HELLO));
}

function leb(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  for (let shift = 0; ; shift += 7) {
    const x = b[at++]!;
    v += (x & 0x7f) * 2 ** shift;
    if (x < 0x80) return [v, at];
  }
}

/** Offset of the first instruction of the first function body of the core module at `mod`. */
function firstInstruction(b: Uint8Array, mod: number, modEnd: number): number {
  let at = mod + 8;
  while (at < modEnd) {
    const id = b[at]!;
    const [size, body] = leb(b, at + 1);
    if (id === 10) {
      let [, p] = leb(b, body); // function count
      [, p] = leb(b, p); // first body's size
      let [groups, q] = leb(b, p);
      for (; groups > 0; groups--) {
        [, q] = leb(b, q); // count
        q++; // value type (a number type in these modules)
      }
      return q;
    }
    at = body + size;
  }
  throw new Error("no code section");
}

describe("transpiling a component with a large core module", () => {
  it("stubs only the large module, keeping its imports and exports", () => {
    const bytes = hello();
    const s = stubLargeModules(bytes);
    expect(s).toBeDefined();
    expect(s!.modules).toHaveLength(1);
    const { stub, original } = s!.modules[0]!;
    expect(original.length).toBeGreaterThan(1 << 20);
    expect(stub.length).toBeLessThan(original.length / 10);
    const a = new WebAssembly.Module(stub);
    const b = new WebAssembly.Module(original as Uint8Array<ArrayBuffer>);
    expect(WebAssembly.Module.imports(a)).toEqual(WebAssembly.Module.imports(b));
    expect(WebAssembly.Module.exports(a)).toEqual(WebAssembly.Module.exports(b));
    // A C plugin's small modules are left alone.
    expect(stubLargeModules(new Uint8Array(readFileSync(path.join(root, "examples", "c", "hello", "plugin.wasm"))))).toBeUndefined();
  });

  it("gives the glue and core modules jco gives for the whole component", async () => {
    const bytes = hello();
    clearCompileCache();
    const compiled = await compileComponent(bytes, { file: HELLO, plugin: "hello-js" });
    const whole = await transpileBytes(bytes, { name: "plugin", instantiation: "async", emitTypescriptDeclarations: false, base64Cutoff: Number.MAX_SAFE_INTEGER });
    const expectedGlue = Buffer.from(patchGlue(whole.files["plugin.js"]!)).toString("base64");
    expect(compiled.glueUrl).toBe(`data:text/javascript;base64,${expectedGlue}`);
    const wasm = Object.entries(whole.files).filter(([n]) => n.endsWith(".wasm"));
    expect([...compiled.coreBytes.keys()].sort()).toEqual(wasm.map(([n]) => n).sort());
    for (const [name, data] of wasm) expect(Buffer.from(compiled.coreBytes.get(name)!).equals(Buffer.from(data)), name).toBe(true);
    expect(compiled.imports).toEqual(whole.imports);
  }, 60_000);

  it("refuses a large module whose code does not validate, as an invalid binary", async () => {
    const bytes = hello();
    const s = stubLargeModules(bytes)!;
    const original = s.modules[0]!.original;
    const mod = original.byteOffset - bytes.byteOffset;
    const bad = new Uint8Array(bytes);
    bad[firstInstruction(bad, mod, mod + original.length)] = 0xff; // not an opcode
    clearCompileCache();
    const err = await compileComponent(bad, { file: "bad.wasm", plugin: "bad-js" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidPluginBinary);
    expect((err as Error).message).toMatch(/not a valid component/);
  }, 60_000);

  it("caches the glue without a copy of the large module, and reads it back from the component", async () => {
    const bytes = hello();
    const cacheDir = mkdtempSync(path.join(tmpdir(), "plughost-stub-cache-"));
    try {
      clearCompileCache();
      const first = await compileComponent(bytes, { file: HELLO, plugin: "hello-js", cacheDir });
      const entry = path.join(cacheDir, "v8", first.hash);
      const sizes = readdirSync(entry).map((f) => statSync(path.join(entry, f)).size);
      expect(Math.max(...sizes)).toBeLessThan(1 << 20);
      const meta = JSON.parse(readFileSync(path.join(entry, "meta.json"), "utf8")) as { refs: Record<string, [number, number]> };
      expect(Object.keys(meta.refs)).toHaveLength(1);

      clearCompileCache();
      const again = await compileComponent(bytes, { file: HELLO, plugin: "hello-js", cacheDir });
      expect(again.glueUrl).toBe(first.glueUrl);
      for (const [name, data] of first.coreBytes) expect(Buffer.from(again.coreBytes.get(name)!).equals(Buffer.from(data)), name).toBe(true);

      // A ref moved by someone without the cache key does not verify: the entry is rebuilt, the modules are right.
      const [name, [off, len]] = Object.entries(meta.refs)[0]!;
      writeFileSync(path.join(entry, "meta.json"), JSON.stringify({ ...meta, refs: { [name]: [off + 1, len - 1] } }));
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(w.message);
      process.on("warning", onWarning);
      clearCompileCache();
      try {
        const rebuilt = await compileComponent(bytes, { file: HELLO, plugin: "hello-js", cacheDir });
        expect(Buffer.from(rebuilt.coreBytes.get(name)!).equals(Buffer.from(first.coreBytes.get(name)!))).toBe(true);
        await new Promise((r) => setImmediate(r));
      } finally {
        process.off("warning", onWarning);
      }
      expect(warnings.some((w) => w.includes(entry))).toBe(true);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }, 60_000);
});
