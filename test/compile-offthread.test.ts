// src/engines/v8/compile.ts: with `whileTranspiling`, a component with a large core module is transpiled by jco on a
// worker thread (dist/engines/v8/jco-worker.js) while the caller works on the large modules. The result must be the
// same as on the host thread: the glue and core modules jco gives for the whole component, an invalid module still an
// invalid binary, and a failing callback changes nothing.
import { describe, it, expect } from "vitest";
import { readFileSync, existsSync } from "node:fs";
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

describe("jco on a worker thread while the host works on the large modules", () => {
  it("hands the callback the large modules and gives the glue and modules jco gives for the whole component", async () => {
    expect(existsSync(path.join(root, "dist", "engines", "v8", "jco-worker.js")), "build first: npx tsc -p tsconfig.json").toBe(true);
    const bytes = hello();
    const seen: Uint8Array[] = [];
    clearCompileCache();
    const compiled = await compileComponent(bytes, { file: HELLO, plugin: "hello-js", whileTranspiling: (mods) => seen.push(...mods) });
    const large = stubLargeModules(bytes)!.modules.map((m) => m.original);
    expect(seen).toHaveLength(large.length);
    seen.forEach((m, i) => expect(Buffer.from(m).equals(Buffer.from(large[i]!))).toBe(true));
    const whole = await transpileBytes(bytes, { name: "plugin", instantiation: "async", emitTypescriptDeclarations: false, base64Cutoff: Number.MAX_SAFE_INTEGER });
    expect(compiled.glueUrl).toBe(`data:text/javascript;base64,${Buffer.from(patchGlue(whole.files["plugin.js"]!)).toString("base64")}`);
    const wasm = Object.entries(whole.files).filter(([n]) => n.endsWith(".wasm"));
    expect([...compiled.coreBytes.keys()].sort()).toEqual(wasm.map(([n]) => n).sort());
    for (const [name, data] of wasm) expect(Buffer.from(compiled.coreBytes.get(name)!).equals(Buffer.from(data)), name).toBe(true);
    expect(compiled.imports).toEqual(whole.imports);
    // The handed modules are the ones the glue asks for (the same bytes objects).
    for (const m of seen) expect([...compiled.coreBytes.values()]).toContain(m);
  }, 60_000);

  it("an exception from the callback is ignored; an invalid large module is still an invalid binary", async () => {
    const bytes = hello();
    clearCompileCache();
    const compiled = await compileComponent(bytes, {
      file: HELLO,
      plugin: "hello-js",
      whileTranspiling: () => {
        throw new Error("instrumenting failed");
      },
    });
    expect(compiled.exports.some((e) => e.startsWith("plughost:plugin/guest@"))).toBe(true);
    const original = stubLargeModules(bytes)!.modules[0]!.original;
    const bad = new Uint8Array(bytes);
    // The code section's last byte is the last function's `end`: 0xff there is no opcode.
    bad[original.byteOffset - bytes.byteOffset + codeSectionEnd(original) - 1] = 0xff;
    clearCompileCache();
    const err = await compileComponent(bad, { file: "bad.wasm", plugin: "bad-js", whileTranspiling: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidPluginBinary);
    expect((err as Error).message).toMatch(/not a valid component/);
  }, 60_000);
});

/** Offset (in the module) just past its code section. */
function codeSectionEnd(m: Uint8Array): number {
  let at = 8;
  while (at < m.length) {
    const id = m[at]!;
    let size = 0;
    let p = at + 1;
    for (let shift = 0; ; shift += 7) {
      const x = m[p++]!;
      size += (x & 0x7f) * 2 ** shift;
      if (x < 0x80) break;
    }
    if (id === 10) return p + size;
    at = p + size;
  }
  throw new Error("no code section");
}
