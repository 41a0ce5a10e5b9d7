// The Go guest SDK's examples: built, components targeting
// plughost:plugin/plugin, with the WASI imports their manifests declare, and
// behaving as specified when loaded by PluginRegistry (conformance:
// guest-sdks/CONFORMANCE.md). Built by `node scripts/setup.mjs`
// (scripts/setup/33-guests-go.mjs).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Writable } from "node:stream";
import { pino } from "pino";
import { componentWit } from "@bytecodealliance/jco-transpile/wasm-tools";
import { PluginRegistry, type PluginHandle, type RegistryOptions } from "../src/runtime/registry.js";
import { loadManifest } from "../src/plugin/manifest.js";
import { loadComponent } from "../guest-sdks/js/testing.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const EXAMPLES = ["hello", "transform", "textstats", "conformance"] as const;
const dirOf = (name: string) => path.join(root, "examples", "go", name);

function wasmOf(name: string): string {
  const file = path.join(dirOf(name), "plugin.wasm");
  if (!existsSync(file)) {
    throw new Error(
      `${path.relative(root, file)} is missing: build it with \`node scripts/setup.mjs 33-guests-go\` ` +
        `(or \`node guest-sdks/go/build.mjs examples/go/${name}\`; needs Go 1.24+)`,
    );
  }
  return file;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

/** What Go's runtime needs through the preview1 adapter, with no file access. */
const RUNTIME_WASI = [
  "wasi:cli/environment@0.2.12", "wasi:cli/exit@0.2.12", "wasi:cli/stderr@0.2.12",
  "wasi:clocks/monotonic-clock@0.2.12", "wasi:clocks/wall-clock@0.2.12",
  "wasi:io/error@0.2.12", "wasi:io/streams@0.2.12", "wasi:random/random@0.2.12",
];
const FILE_WASI = [
  "wasi:cli/stdin@0.2.12", "wasi:cli/stdout@0.2.12",
  "wasi:cli/terminal-input@0.2.12", "wasi:cli/terminal-output@0.2.12", "wasi:cli/terminal-stderr@0.2.12",
  "wasi:cli/terminal-stdin@0.2.12", "wasi:cli/terminal-stdout@0.2.12", "wasi:filesystem/preopens@0.2.12",
  "wasi:filesystem/types@0.2.12", "wasi:io/poll@0.2.12",
];

interface LogLine {
  level: number;
  msg: string;
  plugin?: string;
}

/** A registry whose plugin log records are collected in `logs`. */
function registry(options: RegistryOptions = {}): { reg: PluginRegistry; logs: LogLine[]; messages: (plugin: string) => string[] } {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = pino({ level: "debug" }, sink);
  const reg = new PluginRegistry({ cacheDir: false, logger, grants: ["stdio", "clock", "random"], ...options });
  return { reg, logs, messages: (p) => logs.filter((l) => l.plugin === p).map((l) => l.msg) };
}
const settle = () => new Promise((r) => setTimeout(r, 20)); // pino writes asynchronously

describe.each(EXAMPLES)("examples/go/%s", (name) => {
  it("is a built component targeting plughost:plugin/plugin, importing only what its manifest declares", async () => {
    const bytes = readFileSync(wasmOf(name));
    // Component binaries: magic, then version 0x0d and layer 1 (core modules have layer 0).
    expect([...bytes.subarray(0, 8)]).toEqual([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
    const wit = await componentWit(bytes);
    expect(wit).toMatch(/^\s*import plughost:plugin\/host@0\.1\.0;/m);
    expect(wit).toMatch(/^\s*export plughost:plugin\/guest@0\.1\.0;/m);
    const wasi = [...wit.matchAll(/^\s*import (wasi:[^;]+);/gm)].map((m) => m[1]).sort();
    expect(wasi).toEqual(name === "conformance" ? [...RUNTIME_WASI, ...FILE_WASI].sort() : RUNTIME_WASI);
    // Size check: -ldflags="-s -w" keeps these near 2 MB (see docs/guest-go.md).
    expect(bytes.length).toBeLessThan(4_000_000);
  });

  it("has a valid manifest", async () => {
    const m = await loadManifest(dirOf(name));
    expect(m.name).toBe(`${name}-go`);
    expect(m.version).toBe("0.1.0");
    expect(m.kind).toBe("component");
    expect(m.entry).toBe("plugin.wasm");
    expect(m.capabilities).toEqual(["stdio", "clock", "random"]);
  });
});

describe("hello-go", () => {
  it("logs on init, registers greet, answers it as an event and a hook, and logs on teardown", async () => {
    const { reg, messages } = registry();
    const h = await reg.load(dirOf("hello"));
    expect(h.state).toBe("active");
    expect(h.callbacks).toEqual(["greet"]);
    expect(await h.invoke("greet", enc("world"))).toBe(0);
    const r = await h.hook("greet", enc("Go"));
    expect(r.ok && dec(r.data)).toBe("hello, Go!");
    const empty = await h.hook("greet");
    expect(empty.ok && dec(empty.data)).toBe("hello, !");
    await reg.unload("hello-go");
    await settle();
    expect(messages("hello-go")).toEqual(["hello from Go (api 0.1.0)", "hello, world!", "goodbye from Go"]);
  });

  it("refuses to load without the runtime's capabilities, naming them", async () => {
    const { reg } = registry({ grants: ["stdio"] });
    await expect(reg.load(dirOf("hello"))).rejects.toThrow(/clock/);
  });
});

describe("transform-go", () => {
  it("uppercases ASCII in the transform hook, leaving other bytes", async () => {
    const { reg } = registry();
    const h = await reg.load(dirOf("transform"));
    expect(h.callbacks).toEqual(["transform"]);
    const input = new Uint8Array([...enc("Hello, wörld! az{}"), 0, 0xff]);
    const r = await h.hook("transform", input);
    expect(r.ok && [...r.data]).toEqual([...enc("HELLO, WöRLD! AZ{}"), 0, 0xff]);
    const e = await h.hook("transform");
    expect(e.ok && e.data.length).toBe(0);
    const big = new Uint8Array(3 << 20).fill(0x61);
    const rb = await h.hook("transform", big);
    expect(rb.ok && rb.data.length === big.length && rb.data.every((b) => b === 0x41)).toBe(true);
    expect(await h.invoke("transform", enc("x"))).toBe(0);
    const chain = await reg.runHook("transform", enc("chain me"));
    expect(chain.ok && dec(chain.data)).toBe("CHAIN ME");
    await reg.unloadAll();
  });
});

describe("textstats-go", () => {
  it("counts bytes, words and lines", async () => {
    const { reg, messages } = registry();
    const h = await reg.load(dirOf("textstats"));
    const stats = async (s: string) => {
      const r = await h.hook("textstats", enc(s));
      if (!r.ok) throw new Error(`status ${r.status}`);
      return JSON.parse(dec(r.data)) as unknown;
    };
    expect(await stats("")).toEqual({ bytes: 0, words: 0, lines: 0 });
    expect(await stats("hello")).toEqual({ bytes: 5, words: 1, lines: 1 });
    expect(await stats("one two\nthree\n")).toEqual({ bytes: 14, words: 3, lines: 2 });
    expect(await stats("  a\t b \r\n\nc")).toEqual({ bytes: 11, words: 3, lines: 3 });
    expect(await stats("héllo wörld")).toEqual({ bytes: 13, words: 2, lines: 1 });
    expect(await h.invoke("textstats", enc("a b c"))).toBe(3);
    await settle();
    expect(messages("textstats-go").at(-1)).toBe('{"bytes":5,"words":3,"lines":1}');
    await reg.unloadAll();
  });
});

describe.each(["v8", "wasmtime"] as const)("conformance-go (guest-sdks/CONFORMANCE.md) on %s", (engine) => {
  const dataDir = path.join(dirOf("conformance"), "data");
  const grants = ["stdio", "clock", "random", `fs:read:${dataDir}`];
  let env: ReturnType<typeof registry>;
  let p: PluginHandle;
  beforeAll(async () => {
    env = registry({ engine, grants, hostCalls: { maxCallbacks: 21 } });
    p = await env.reg.load(dirOf("conformance"));
  }, 120_000);
  afterAll(() => env.reg.unloadAll());

  it("init logs and registers every callback", async () => {
    await settle();
    expect(env.messages("conformance-go")).toEqual(["conformance init 0.1.0"]);
    expect(p.callbacks).toEqual(["echo", "sum", "fail", "log", "register", "trap", "spin", "grow", "read-file", "emit", "counter", "upper", "metric", "request", "message", "state", "context", "config", "remember", "recall"]);
  });

  it("init refuses fail-init", async () => {
    const { reg } = registry({ engine, grants, config: { "conformance-go": { "fail-init": true } } });
    await expect(reg.load(dirOf("conformance"))).rejects.toMatchObject({ code: "E_INITIALIZATION_FAILED" });
  });

  it("on-event: echo, sum, fail, other", async () => {
    expect(await p.invoke("echo", new Uint8Array(37))).toBe(37);
    expect(await p.invoke("echo")).toBe(0);
    expect(await p.invoke("sum", new Uint8Array([255, 255, 1]))).toBe(511);
    expect(await p.invoke("sum", new Uint8Array(70000).fill(255))).toBe(70000 * 255);
    expect(await p.invoke("fail")).toBe(-7);
  });

  it("on-event: log at every level", async () => {
    const before = env.logs.length;
    expect(await p.invoke("log", enc("héllo"))).toBe(0);
    await settle();
    const got = env.logs.slice(before).filter((l) => l.plugin === "conformance-go");
    expect(got.map((l) => [l.level, l.msg])).toEqual([[20, "héllo"], [30, "héllo"], [40, "héllo"], [50, "héllo"]]);
  });

  it("on-event: register maps register-error to 1/2", async () => {
    expect(await p.invoke("register", enc("late-event"))).toBe(0);
    expect(p.callbacks).toContain("late-event");
    expect(await p.invoke("register", enc("bad name!"))).toBe(1);
    expect(await p.invoke("register", enc("one-too-many"))).toBe(2); // maxCallbacks 21: init's 20 and late-event
  });

  it("on-event: emit returns the count or -1 - error code", async () => {
    expect(await p.invoke("emit", enc("news"))).toBe(0); // nobody subscribed
    expect(await p.invoke("emit", enc("bad name!"))).toBe(-1 - 0);
  });

  it("on-event: counter, grow, read-file", async () => {
    expect(await p.invoke("counter")).toBe(1);
    expect(await p.invoke("counter")).toBe(2);
    expect(await p.invoke("grow", u32(8))).toBe(0);
    expect(await p.invoke("grow", u32(1_000_000))).toBe(1);
    expect(await p.invoke("read-file", enc(path.join(dataDir, "hello.txt")))).toBe(0);
    expect(await p.invoke("read-file", enc(path.join(dataDir, "missing.txt")))).toBe(1);
    expect(await p.invoke("read-file", enc("/etc/hostname"))).toBe(1);
    expect(await p.invoke("counter")).toBe(3);
  });

  it("on-hook: echo, upper, fail, other", async () => {
    const echo = await p.hook("echo", enc("abc"));
    expect(echo.ok && dec(echo.data)).toBe("abc");
    const upper = await p.hook("upper", enc("aBz-é{"));
    expect(upper.ok && dec(upper.data)).toBe("ABZ-é{");
    expect(await p.hook("fail", enc("x"))).toEqual({ ok: false, status: -7 });
    const empty = await p.hook("echo");
    expect(empty.ok && empty.data.length).toBe(0);
  });

  it("on-hook echo round-trips payloads of mixed sizes (GC and ownership)", async () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
    for (let i = 0; i < 400; i++) {
      const size = i % 50 === 0 ? 1 << 20 : [0, 1, 3, 16, 100, 4096][i % 6]! + (rnd() % 64);
      const data = new Uint8Array(size).map(() => rnd() & 0xff);
      const name = i % 2 ? "echo" : "upper";
      const r = await p.hook(name, data);
      if (!r.ok) throw new Error(`call ${i}: status ${r.status}`);
      const want = name === "echo" ? data : data.map((c) => (c >= 0x61 && c <= 0x7a ? c - 32 : c));
      expect(Buffer.compare(Buffer.from(r.data), Buffer.from(want)), `call ${i} (${name}, ${size} bytes)`).toBe(0);
      expect(await p.invoke("sum", data)).toBe(data.reduce((a, b) => a + b, 0) % 2 ** 31);
    }
  }, 120_000);

  it("trap: a panic is logged and becomes a trap; the instance is replaced", async () => {
    const before = env.logs.length;
    await expect(p.invoke("trap")).rejects.toMatchObject({ code: "E_TRAP" });
    await settle();
    const logged = env.logs.slice(before).find((l) => l.plugin === "conformance-go" && l.level === 50);
    expect(logged?.msg).toMatch(/^panic: conformance: trap requested\n/);
    // The default recovery policy re-instantiates: the counter starts again.
    await expect.poll(() => p.invoke("counter").catch(() => -1)).toBe(1);
  });

  it("spin: stopped by fuel; grow: refused past the memory cap", async () => {
    const { reg } = registry({ engine, grants, defaultLimits: { fuel: 20_000_000, memoryBytes: 64 << 20 }, recovery: { strategy: "disable" } });
    const q = await reg.load(dirOf("conformance"));
    expect(await q.invoke("grow", u32(16))).toBe(0);
    expect(await q.invoke("grow", u32(100))).toBe(1);
    expect(await q.invoke("sum", new Uint8Array(1000).fill(1))).toBe(1000);
    await expect(q.invoke("spin")).rejects.toMatchObject({ code: "E_FUEL_EXHAUSTED" });
    await reg.unloadAll().catch(() => undefined);
  }, 120_000);
});

describe("conformance-go: host refusals (in-process jco test host)", () => {
  it("maps denied registrations and failed emits", async () => {
    const p = await loadComponent(wasmOf("conformance"), {
      registerError: (n) => (n === "denied-event" ? "denied" : n === "full" ? "limit-reached" : undefined),
      emitResult: (n) => (n === "nobody" ? "denied" : 2),
    });
    expect(p.init("1.0.0", "{}")).toBe(-2);
    expect(p.registered).toEqual([]);
    expect(p.init("0.1.0", "{}")).toBe(0);
    expect(p.onEvent("register", "denied-event")).toBe(3);
    expect(p.onEvent("register", "full")).toBe(2);
    expect(p.onEvent("emit", "news")).toBe(2);
    expect(p.emitted.at(-1)).toEqual({ name: "news", data: enc("news") });
    expect(p.onEvent("emit", "nobody")).toBe(-1 - 2);
    expect(p.onHook("other", "x")).toEqual({ err: -100 });
    expect(p.onEvent("nope")).toBe(-100);
    p.logs.length = 0;
    expect(p.teardown()).toBe(0);
    expect(p.logs).toEqual([{ level: "info", message: "conformance teardown" }]);
  });

  it("refuses init when a registration fails", async () => {
    const p = await loadComponent(wasmOf("conformance"), { registerError: (n) => (n === "spin" ? "denied" : undefined) });
    expect(p.init("0.1.0", "{}")).toBe(-3);
  });
});
