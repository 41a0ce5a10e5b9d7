// The Rust guest SDK's examples: built, components for plughost:plugin/plugin
// with exactly the WASI imports their manifests declare, and behaving as
// specified under PluginRegistry (conformance: guest-sdks/CONFORMANCE.md, on
// both Wasm engines).
// Built by `node scripts/setup.mjs` (scripts/setup/32-guests-rust.mjs).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { componentWit } from "@bytecodealliance/jco-transpile/wasm-tools";
import { FuelExhausted, PluginRegistry, type PluginHandle } from "../src/index.js";
import { loadManifest } from "../src/plugin/manifest.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const EXAMPLES = ["hello", "transform", "markdown", "conformance"] as const;

function dirOf(name: string): string {
  const dir = path.join(root, "examples", "rust", name);
  if (!existsSync(path.join(dir, "plugin.wasm"))) {
    throw new Error(
      `examples/rust/${name}/plugin.wasm is missing: build it with \`node scripts/setup.mjs 32-guests-rust\` (or \`node guest-sdks/rust/build.mjs examples/rust/${name}\`)`,
    );
  }
  return dir;
}

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

// WASI interfaces each component imports (through the preview1 adapter), besides plughost:plugin.
const WASI: Record<(typeof EXAMPLES)[number], string[]> = {
  hello: [],
  transform: [],
  markdown: ["wasi:cli/stderr", "wasi:io/error", "wasi:io/streams", "wasi:random/random"],
  conformance: [
    "wasi:cli/exit", "wasi:cli/stderr", "wasi:cli/stdin", "wasi:cli/stdout",
    "wasi:cli/terminal-input", "wasi:cli/terminal-output", "wasi:cli/terminal-stderr", "wasi:cli/terminal-stdin", "wasi:cli/terminal-stdout",
    "wasi:clocks/wall-clock", "wasi:filesystem/preopens", "wasi:filesystem/types", "wasi:io/error", "wasi:io/streams",
  ],
};

describe.each(EXAMPLES)("examples/rust/%s", (name) => {
  it("is a built component targeting plughost:plugin/plugin", async () => {
    const bytes = readFileSync(path.join(dirOf(name), "plugin.wasm"));
    // Component binaries: magic, then version 0x0d and layer 1 (core modules have layer 0).
    expect([...bytes.subarray(0, 8)]).toEqual([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
    const wit = await componentWit(bytes);
    expect(wit).toMatch(/^\s*import plughost:plugin\/host@0\.1\.0;/m);
    expect(wit).toMatch(/^\s*export plughost:plugin\/guest@0\.1\.0;/m);
    const wasi = [...wit.matchAll(/^\s*import (wasi:[^@;]+)@[^;]+;/gm)].map((m) => m[1]).sort();
    expect(wasi).toEqual(WASI[name]);
  });

  it("has a valid manifest", async () => {
    const m = await loadManifest(path.join(root, "examples", "rust", name));
    expect(m.name).toBe(`${name}-rust`);
    expect(m.version).toBe("0.1.0");
    expect(m.apiVersion).toBe("^0.1.0");
    expect(m.kind).toBe("component");
    expect(m.entry).toBe("plugin.wasm");
  });
});

describe("Rust examples under PluginRegistry", () => {
  const confDir = path.join(root, "examples", "rust", "conformance");
  let registry: PluginRegistry;
  let hello: PluginHandle, transform: PluginHandle, markdown: PluginHandle, conf: PluginHandle;

  beforeAll(async () => {
    registry = new PluginRegistry({
      logger,
      cacheDir: false,
      grants: {
        "markdown-rust": ["random"],
        "conformance-rust": ["stdio", "clock", `fs:read:${path.join(confDir, "testdata")}`],
      },
      config: { "markdown-rust": { extensions: ["tables"] } },
    });
    hello = await registry.load(dirOf("hello"));
    transform = await registry.load(dirOf("transform"));
    markdown = await registry.load(dirOf("markdown"));
    conf = await registry.load(dirOf("conformance"));
  }, 120_000);
  afterAll(async () => {
    await registry?.unloadAll();
  });

  it("load, init and register their callbacks", () => {
    for (const h of [hello, transform, markdown, conf]) expect(h.state).toBe("active");
    expect(hello.callbacks).toEqual(["greet"]);
    expect(transform.callbacks).toEqual(["transform"]);
    expect(markdown.callbacks).toEqual(["markdown"]);
    expect(logged("hello-rust init (api 0.1.0)")).toEqual(["info"]);
  });

  it("hello-rust answers greet as an event and as a hook", async () => {
    expect(await hello.invoke("greet", enc("world"))).toBe(0);
    expect(logged("hello, world!")).toEqual(["info"]);
    const r = await hello.hook("greet", enc("wörld"));
    expect(r.ok && dec(r.data)).toBe("hello, wörld!");
    expect(await hello.invoke("greet")).toBe(0);
    expect(logged("hello, !")).toEqual(["info"]);
  });

  it("transform-rust uppercases ASCII only, in place", async () => {
    const input = new Uint8Array([...enc("Hello, wörld! az{}"), 0, 0xff]);
    const r = await registry.runHook("transform", input);
    expect(r.ok).toBe(true);
    expect([...r.data]).toEqual([...enc("HELLO, WöRLD! AZ{}"), 0, 0xff]);
    expect(await transform.hook("transform", new Uint8Array())).toEqual({ ok: true, data: new Uint8Array() });
    expect(await transform.invoke("transform", enc("x"))).toBe(0);
  });

  it("markdown-rust renders CommonMark with the configured extensions", async () => {
    const md = "# Title\n\nSome *emphasis* and `code` & <b>raw</b>.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~\n";
    const r = await markdown.hook("markdown", enc(md));
    expect(r.ok).toBe(true);
    const html = r.ok ? dec(r.data) : "";
    expect(html).toContain("<h1>Title</h1>");
    expect(html).toContain("<em>emphasis</em> and <code>code</code> &amp; raw.");
    // The host's config replaced the manifest's extensions with tables only; safe stays on.
    expect(html).toContain("<table>");
    expect(html).not.toContain("<del>");
    expect(html).not.toContain("<b>");
    expect(await markdown.hook("markdown", new Uint8Array([0xff, 0xfe]))).toEqual({ ok: false, status: -22 });
    expect(await markdown.hook("markdown", new Uint8Array())).toEqual({ ok: true, data: new Uint8Array() });
  });
});

describe.each(["v8", "wasmtime"] as const)("conformance-rust (guest-sdks/CONFORMANCE.md) on %s", (engine) => {
  const confDir = path.join(root, "examples", "rust", "conformance");
  const grants = { "conformance-rust": ["stdio", "clock", `fs:read:${path.join(confDir, "testdata")}`] };
  let registry: PluginRegistry;
  let conf: PluginHandle;
  const fresh = (options: ConstructorParameters<typeof PluginRegistry>[0] = {}) =>
    new PluginRegistry({ engine, logger, cacheDir: false, grants, ...options });

  beforeAll(async () => {
    registry = fresh();
    // hello-rust is there to receive conformance's emit("greet").
    await registry.load(dirOf("hello"));
    lines.length = 0;
    conf = await registry.load(dirOf("conformance"));
  }, 120_000);
  afterAll(async () => {
    await registry?.unloadAll();
  });

  it("init logs and registers every callback", () => {
    expect(conf.state).toBe("active");
    expect(logged("conformance init 0.1.0")).toEqual(["info"]);
    expect(conf.callbacks).toEqual(["echo", "sum", "fail", "log", "register", "trap", "spin", "grow", "read-file", "emit", "counter", "upper", "metric", "request", "message", "state", "context", "config", "remember", "recall"]);
  });

  it("init refuses fail-init (-1) without registering anything", async () => {
    const r = fresh({ config: { "conformance-rust": { "fail-init": true } } });
    await expect(r.load(dirOf("conformance"))).rejects.toThrow(/-1\b/);
    await r.unloadAll().catch(() => undefined);
  });

  it("init fails with -3 when a registration is refused", async () => {
    // The host denies every callback name past the first.
    const r = fresh({ hostCalls: { maxCallbacks: 1 } });
    await expect(r.load(dirOf("conformance"))).rejects.toThrow(/-3\b/);
    await r.unloadAll().catch(() => undefined);
  });

  it("on-event: echo, sum, fail, other", async () => {
    expect(await conf.invoke("echo", new Uint8Array(37))).toBe(37);
    expect(await conf.invoke("echo")).toBe(0);
    expect(await conf.invoke("sum", new Uint8Array([255, 255, 1]))).toBe(511);
    expect(await conf.invoke("sum", new Uint8Array(70000).fill(255))).toBe(70000 * 255);
    expect(await conf.invoke("fail")).toBe(-7);
    expect(await conf.invoke("register", enc("not-a-case"))).toBe(0);
    expect(await conf.invoke("not-a-case")).toBe(-100);
  });

  it("on-event: log at every level", async () => {
    expect(await conf.invoke("log", enc("héllo from rust"))).toBe(0);
    expect(logged("héllo from rust")).toEqual(["debug", "info", "warn", "error"]);
  });

  it("on-event: register answers 2 when the host's callback limit is reached", async () => {
    // Room for exactly the twenty callbacks init registers.
    const r = fresh({ hostCalls: { maxCallbacks: 20 } });
    const p = await r.load(dirOf("conformance"));
    expect(await p.invoke("register", enc("one-more"))).toBe(2);
    await r.unloadAll();
  });

  it("on-event: register maps register-error to 0/1", async () => {
    expect(await conf.invoke("register", enc("late-event"))).toBe(0);
    expect(conf.callbacks).toContain("late-event");
    expect(await conf.invoke("register", enc("bad name!"))).toBe(1);
    expect(await conf.invoke("register", enc(""))).toBe(1);
  });

  it("on-event: emit returns the count or -1 - error code", async () => {
    expect(await conf.invoke("emit", enc("greet"))).toBe(1); // hello-rust is registered for it
    expect(await conf.invoke("emit", enc("nobody-listens"))).toBe(0);
    expect(await conf.invoke("emit", enc("bad name!"))).toBe(-1 - 0); // invalid-name
  });

  it("on-event: counter, grow, read-file", async () => {
    expect(await conf.invoke("counter")).toBe(1);
    expect(await conf.invoke("counter")).toBe(2);
    expect(await conf.invoke("grow", u32(8))).toBe(0);
    expect(await conf.invoke("grow", u32(1_000_000))).toBe(1);
    expect(await conf.invoke("grow", enc("x"))).toBe(1);
    expect(await conf.invoke("read-file", enc(path.join(confDir, "testdata", "hello.txt")))).toBe(0);
    expect(await conf.invoke("read-file", enc(path.join(confDir, "testdata", "missing.txt")))).toBe(1);
    // Outside the granted directory: no preopen covers it.
    expect(await conf.invoke("read-file", enc(path.join(confDir, "plugin.toml")))).toBe(1);
    expect(await conf.invoke("counter")).toBe(3);
  });

  it("on-hook: echo, upper, fail, other", async () => {
    // Bytes as plain arrays: the wasmtime engine returns a Buffer, v8 a Uint8Array.
    const hook = async (event: string, data: Uint8Array) => {
      const r = await conf.hook(event, data);
      return r.ok ? { ok: true, data: [...r.data] } : r;
    };
    expect(await hook("echo", enc("abc"))).toEqual({ ok: true, data: [...enc("abc")] });
    expect(await hook("echo", new Uint8Array())).toEqual({ ok: true, data: [] });
    expect(await hook("upper", enc("aBz-é{"))).toEqual({ ok: true, data: [...enc("ABZ-é{")] });
    expect(await hook("fail", enc("x"))).toEqual({ ok: false, status: -7 });
    // "counter" is registered but is no hook case: the "other" row.
    expect(await hook("counter", enc("x"))).toEqual({ ok: false, status: -100 });
  });

  it("on-event: trap becomes a typed error and the instance is replaced", async () => {
    await expect(conf.invoke("trap")).rejects.toMatchObject({ code: "E_TRAP", plugin: "conformance-rust" });
    // A fresh instance: the counter starts again.
    expect(await conf.invoke("counter")).toBe(1);
  });

  it("teardown logs and returns 0", async () => {
    lines.length = 0;
    await registry.unload("conformance-rust");
    expect(logged("conformance teardown")).toEqual(["info"]);
  });

  it("on-event: spin runs out of fuel", async () => {
    const r = fresh({ defaultLimits: { fuel: 5_000_000 } });
    const p = await r.load(dirOf("conformance"));
    await expect(p.invoke("spin")).rejects.toBeInstanceOf(FuelExhausted);
    await r.unloadAll();
  }, 60_000);

  it("on-event: grow past a memory cap is refused in the guest (1)", async () => {
    const r = fresh({ defaultLimits: { memoryBytes: 8 * 1024 * 1024 } });
    const p = await r.load(dirOf("conformance"));
    expect(await p.invoke("grow", u32(1))).toBe(0);
    expect(await p.invoke("grow", u32(16))).toBe(1);
    expect(await p.invoke("counter")).toBe(1);
    await r.unloadAll();
  }, 60_000);
});
