// Wasm core dumps on a trap (RegistryOptions.coreDumpDir): wasmtime writes one per trap of a real C plugin, a valid
// core module with the tool-conventions "core" and "corestack" sections; nothing is written without the option,
// for a fuel stop, or on the v8 engine.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PluginRegistry, PluginTrap, type RegistryOptions } from "../src/index.js";
import { pluginDir, silentLogger } from "./helpers/plugins.js";

const PROBE = "test/fixtures/c/probe";
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function setup(options: RegistryOptions) {
  const dir = mkdtempSync(path.join(tmpdir(), "plughost-coredump-"));
  const registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, coreDumpDir: dir, ...options });
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanup.push(() => registry.unloadAll().catch(() => undefined));
  return { dir, registry };
}

/** A core module's sections: id, custom name, and the first bytes of a memory section's entry (its limits). */
function sections(bytes: Uint8Array): { id: number; name?: string; minPages?: number }[] {
  const out: { id: number; name?: string; minPages?: number }[] = [];
  let i = 8;
  const leb = () => {
    let r = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[i++]!;
      r += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) return r;
    }
  };
  while (i < bytes.length) {
    const id = bytes[i++]!;
    const size = leb();
    const end = i + size;
    if (id === 0) {
      const len = leb();
      out.push({ id, name: new TextDecoder().decode(bytes.subarray(i, i + len)) });
    } else if (id === 5) {
      leb(); // count
      i++; // limits flags
      out.push({ id, minPages: leb() });
    } else out.push({ id });
    i = end;
  }
  return out;
}

describe("core dumps on wasmtime", () => {
  it("a trap writes a valid core dump, named by the error and the plugin, mode 0600; the plugin goes on", async () => {
    const { dir, registry } = setup({ engine: "wasmtime" });
    const probe = await registry.load(pluginDir(PROBE));
    const err = await probe.invoke("trap").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginTrap);
    const dump = (err as PluginTrap).coreDump!;
    expect(path.dirname(dump)).toBe(dir);
    expect(path.basename(dump)).toMatch(/^probe-\d+-\d+\.coredump$/);
    expect((err as PluginTrap).message).toContain(`(core dump: ${dump})`);
    expect(statSync(dump).mode & 0o777).toBe(0o600);
    const bytes = new Uint8Array(readFileSync(dump));
    expect(WebAssembly.validate(bytes)).toBe(true);
    const found = sections(bytes);
    expect(found.filter((x) => x.id === 0).map((x) => x.name)).toEqual(expect.arrayContaining(["core", "corestack"]));
    // The linear memory at the trap: its size (the memory section), its non-zero bytes (the data section).
    const memory = found.find((x) => x.id === 5);
    expect(memory?.minPages).toBeGreaterThanOrEqual(1);
    expect(found.some((x) => x.id === 11)).toBe(true);
    // A second trap, after the restart and 1 MiB of growth, writes a second file with the larger memory.
    expect(await probe.invoke("grow", new Uint8Array([1]))).toBe(0);
    const again = (await probe.invoke("trap").catch((e: unknown) => e)) as PluginTrap;
    expect(again.coreDump).not.toBe(dump);
    const grown = sections(new Uint8Array(readFileSync(again.coreDump!))).find((x) => x.id === 5);
    expect(grown!.minPages!).toBeGreaterThanOrEqual(memory!.minPages! + 16);
    expect(readdirSync(dir).sort()).toEqual([path.basename(dump), path.basename(again.coreDump!)].sort());
  });

  it("a fuel stop writes none, and neither does a trap without coreDumpDir", async () => {
    const { dir, registry } = setup({ engine: "wasmtime", defaultLimits: { fuel: 100_000 } });
    const probe = await registry.load(pluginDir(PROBE));
    await expect(probe.invoke("spin")).rejects.toMatchObject({ code: "E_FUEL_EXHAUSTED" });
    expect(readdirSync(dir)).toEqual([]);

    const plain = new PluginRegistry({ logger: silentLogger(), cacheDir: false, engine: "wasmtime" });
    cleanup.push(() => plain.unloadAll().catch(() => undefined));
    const other = await plain.load(pluginDir(PROBE));
    const err = (await other.invoke("trap").catch((e: unknown) => e)) as PluginTrap;
    expect(err.code).toBe("E_TRAP");
    expect(err.coreDump).toBeUndefined();
    expect(err.message).not.toContain("core dump");
  });

  it("a directory that is gone: the trap says why no dump was written, and is still a typed E_TRAP", async () => {
    const { dir, registry } = setup({ engine: "wasmtime" });
    const probe = await registry.load(pluginDir(PROBE));
    rmSync(dir, { recursive: true });
    const err = (await probe.invoke("trap").catch((e: unknown) => e)) as PluginTrap;
    expect(err.code).toBe("E_TRAP");
    expect(err.coreDump).toBeUndefined();
    expect(err.message).toMatch(/\(no core dump: .*No such file or directory/);
  });

  it("the v8 engine writes none (it has no core dumps)", async () => {
    const { dir, registry } = setup({});
    const probe = await registry.load(pluginDir(PROBE));
    const err = (await probe.invoke("trap").catch((e: unknown) => e)) as PluginTrap;
    expect(err.code).toBe("E_TRAP");
    expect(err.coreDump).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
  });
});
