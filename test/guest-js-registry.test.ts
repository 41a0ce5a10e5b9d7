// The JS/TS guest examples run through the real host: PluginRegistry on the
// default (v8) engine. test/guest-js.test.ts runs the same components through
// stock jco glue, so a failure here and a pass there points at the engine.
// Built by `node scripts/setup.mjs` (scripts/setup/31-guests-js.mjs).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { PluginRegistry, type PluginHandle } from "../src/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dirOf = (name: string) => {
  const dir = path.join(root, "examples", "js", name);
  if (!existsSync(path.join(dir, "plugin.wasm"))) {
    throw new Error(`examples/js/${name}/plugin.wasm is missing: build it with \`node scripts/setup.mjs 31-guests-js\``);
  }
  return dir;
};
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

const LEVEL: Record<number, string> = { 20: "debug", 30: "info", 40: "warn", 50: "error" };
interface Line { level: number; msg: string; plugin?: string }
const lines: Line[] = [];
const logger = pino({ level: "debug" }, { write: (l: string) => void lines.push(JSON.parse(l) as Line) });
const logged = (text: string) => lines.filter((l) => l.msg === text).map((l) => LEVEL[l.level]);

const confDir = path.join(root, "examples", "js", "conformance");
let registry: PluginRegistry;
let hello: PluginHandle, transform: PluginHandle, template: PluginHandle, conf: PluginHandle;

beforeAll(async () => {
  registry = new PluginRegistry({
    logger,
    cacheDir: false,
    grants: { "conformance-js": ["stdio", "clock", `fs:read:${path.join(confDir, "testdata")}`] },
    config: { "template-js": { year: 2026 } },
  });
  hello = await registry.load(dirOf("hello"));
  transform = await registry.load(dirOf("transform"));
  template = await registry.load(dirOf("template"));
  conf = await registry.load(dirOf("conformance"));
}, 120_000);
afterAll(async () => {
  await registry?.unloadAll();
});

describe("JS examples under PluginRegistry", () => {
  it("load, init and register their callbacks", () => {
    for (const h of [hello, transform, template, conf]) expect(h.state).toBe("active");
    expect(hello.callbacks).toEqual(["greet"]);
    expect(transform.callbacks).toEqual(["transform"]);
    expect(template.callbacks).toEqual(["render"]);
    expect(logged("conformance init 0.1.0")).toEqual(["info"]);
  });

  it("hello-js answers greet", async () => {
    expect(await hello.invoke("greet", enc("world"))).toBe(0);
    expect(logged("hello, world!")).toContain("info");
    const r = await hello.hook("greet", enc("world"));
    expect(r.ok && dec(r.data)).toBe("hello, world!");
  });

  it("transform-js uppercases ASCII through runHook", async () => {
    const r = await registry.runHook("transform", enc("abc-é"));
    expect(r.ok).toBe(true);
    expect(dec(r.data)).toBe("ABC-é");
  });

  it("template-js renders from data and config", async () => {
    const r = await template.hook("render", enc(JSON.stringify({ template: "{{name}} @ {{site}} {{year}}", data: { name: "Ada" } })));
    expect(r.ok && dec(r.data)).toBe("Ada @ plughost 2026");
    expect(await template.hook("render", enc("nope"))).toEqual({ ok: false, status: -22 });
  });

  it("conformance-js: on-event table", async () => {
    expect(await conf.invoke("echo", new Uint8Array(37))).toBe(37);
    expect(await conf.invoke("sum", new Uint8Array([255, 255, 1]))).toBe(511);
    expect(await conf.invoke("fail")).toBe(-7);
    expect(await conf.invoke("log", enc("all levels"))).toBe(0);
    expect(logged("all levels")).toEqual(["debug", "info", "warn", "error"]);
    expect(await conf.invoke("register", enc("late-event"))).toBe(0);
    expect(await conf.invoke("register", enc("bad name!"))).toBe(1);
    expect(await conf.invoke("emit", enc("greet"))).toBe(1); // hello-js is registered for it
    expect(await conf.invoke("counter")).toBe(1);
    expect(await conf.invoke("counter")).toBe(2);
    expect(await conf.invoke("grow", u32(4))).toBe(0);
    expect(await conf.invoke("read-file", enc(path.join(confDir, "testdata", "hello.txt")))).toBe(0);
    expect(await conf.invoke("read-file", enc(path.join(confDir, "plugin.toml")))).toBe(1);
  });

  it("conformance-js: on-hook table", async () => {
    expect(await conf.hook("echo", enc("abc"))).toEqual({ ok: true, data: enc("abc") });
    expect(await conf.hook("upper", enc("aBz-é{"))).toEqual({ ok: true, data: enc("ABZ-é{") });
    expect(await conf.hook("fail", enc("x"))).toEqual({ ok: false, status: -7 });
    // "counter" is registered but is no hook case: the "other" row.
    expect(await conf.hook("counter", enc("x"))).toEqual({ ok: false, status: -100 });
  });

  it("conformance-js: trap becomes a typed error", async () => {
    await expect(conf.invoke("trap")).rejects.toMatchObject({ code: "E_TRAP", plugin: "conformance-js" });
  });
});
