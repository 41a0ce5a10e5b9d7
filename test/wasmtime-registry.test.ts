// The wasmtime engine under the real PluginRegistry: the WAT fixture
// (test/fixtures/wasmtime/plugin.toml) and the C examples (built by
// `node scripts/setup.mjs`), with limits from the manifest, faults and
// re-instantiation, violations, and the synchronous path.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { PluginRegistry, type PluginHandle } from "../src/index.js";
import { FuelExhausted, PluginTrap } from "../src/contract/errors.js";
import { dec, enc, fixtures, u32 } from "./fixtures/wasmtime/helpers.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const example = (name: string) => {
  const dir = path.join(root, "examples", "c", name);
  if (!existsSync(path.join(dir, "plugin.wasm"))) {
    throw new Error(`examples/c/${name}/plugin.wasm is missing: build it with \`node scripts/setup.mjs guests-c\``);
  }
  return dir;
};

interface Line { level: number; msg: string; plugin?: string }
const lines: Line[] = [];
const logger = pino({ level: "debug" }, { write: (l: string) => void lines.push(JSON.parse(l) as Line) });

let registry: PluginRegistry;
let fixture: PluginHandle;
let hello: PluginHandle;
let transform: PluginHandle;

beforeAll(async () => {
  await fixtures();
  registry = new PluginRegistry({ engine: "wasmtime", logger, cacheDir: false });
  fixture = await registry.load(path.join(root, "test", "fixtures", "wasmtime"));
  hello = await registry.load(example("hello"));
  transform = await registry.load(example("transform"));
}, 120_000);

afterAll(async () => {
  await registry?.unloadAll();
});

describe("wasmtime under PluginRegistry", () => {
  it("loads the fixture and the C examples on wasmtime and activates them", () => {
    for (const h of [fixture, hello, transform]) {
      expect(h.state).toBe("active");
      expect(registry.info(h.name).engine).toBe("wasmtime");
    }
    expect(hello.callbacks).toEqual(["greet"]);
    expect(lines.some((l) => l.msg === "hello from C")).toBe(true);
    expect(lines.some((l) => l.msg === "init 0.1.0")).toBe(true);
  });

  it("invokes through both paths", async () => {
    expect(await fixture.invoke("echo", new Uint8Array(16))).toBe(16);
    expect(fixture.invokeSync("echo", new Uint8Array(5))).toBe(5);
    expect(await hello.invoke("greet", enc("wasmtime"))).toBe(0);
    expect(lines.some((l) => l.msg === "hello, wasmtime!")).toBe(true);
  });

  it("runs the C transform hook", async () => {
    const out = await registry.runHook("transform", enc("make me loud"));
    expect(out.ok).toBe(true);
    expect(dec(out.data)).toBe("MAKE ME LOUD");
  });

  it("records a refused memory.grow as a violation and keeps the plugin active", async () => {
    const before = registry.violationCount(fixture.name);
    expect(await fixture.invoke("grow", u32(4))).toBe(1);
    expect(registry.violationCount(fixture.name)).toBe(before + 1);
    expect(registry.violations(fixture.name).at(-1)?.kind).toBe("memory");
    expect(fixture.state).toBe("active");
  });

  it("re-instantiates after FuelExhausted and a trap, with fresh state", async () => {
    expect(await fixture.invoke("counter")).toBe(1);
    expect(await fixture.invoke("counter")).toBe(2);
    await expect(fixture.invoke("spin")).rejects.toBeInstanceOf(FuelExhausted);
    expect(await fixture.invoke("counter")).toBe(1);
    await expect(fixture.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
    expect(await fixture.invoke("counter")).toBe(1);
    expect(registry.metrics(fixture.name).faults).toBeGreaterThanOrEqual(2);
  });
});
