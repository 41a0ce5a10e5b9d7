// The JS/TS guest SDK's examples: built, components, plughost:plugin/plugin,
// and behaving as specified (conformance: guest-sdks/CONFORMANCE.md).
// Built by `node scripts/setup.mjs` (scripts/setup/31-guests-js.mjs).
import { describe, it, expect, beforeAll } from "vitest";
import { existsSync, readFileSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { componentWit } from "@bytecodealliance/jco-transpile/wasm-tools";
import { loadComponent, type LoadedPlugin } from "../guest-sdks/js/testing.mjs";
import { loadManifest } from "../src/plugin/manifest.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const EXAMPLES = ["hello", "transform", "template", "conformance"] as const;
const dirOf = (name: string) => path.join(root, "examples", "js", name);

function wasmOf(name: string): string {
  const file = path.join(dirOf(name), "plugin.wasm");
  if (!existsSync(file)) {
    throw new Error(`${path.relative(root, file)} is missing: build it with \`node scripts/setup.mjs 31-guests-js\` (or \`node guest-sdks/js/build.mjs examples/js/${name}\`)`);
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

describe.each(EXAMPLES)("examples/js/%s", (name) => {
  it("is a built component targeting plughost:plugin/plugin", async () => {
    const bytes = readFileSync(wasmOf(name));
    // Component binaries: magic, then version 0x0d and layer 1 (core modules have layer 0).
    expect([...bytes.subarray(0, 8)]).toEqual([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
    const wit = await componentWit(bytes);
    expect(wit).toMatch(/^\s*import plughost:plugin\/host@0\.1\.0;/m);
    expect(wit).toMatch(/^\s*export plughost:plugin\/guest@0\.1\.0;/m);
    // Only the conformance plugin exports the optional lifecycle interface (`export const lifecycle = defineLifecycle(...)`).
    expect(/^\s*export plughost:plugin\/lifecycle@0\.1\.0;/m.test(wit)).toBe(name === "conformance");
    const wasi = [...wit.matchAll(/^\s*import (wasi:[^;]+);/gm)].map((m) => m[1]).sort();
    if (name === "conformance") {
      // read-file needs wasi:filesystem; the rest comes with it (see its plugin.toml).
      expect(wasi).toEqual([
        "wasi:cli/stderr@0.2.12", "wasi:cli/stdin@0.2.12", "wasi:cli/stdout@0.2.12",
        "wasi:clocks/wall-clock@0.2.12", "wasi:filesystem/preopens@0.2.12", "wasi:filesystem/types@0.2.12",
        "wasi:io/error@0.2.12", "wasi:io/poll@0.2.12", "wasi:io/streams@0.2.12",
      ]);
    } else {
      expect(wasi).toEqual([]);
    }
  });

  it("has a valid manifest", async () => {
    const m = await loadManifest(dirOf(name));
    expect(m.name).toBe(`${name}-js`);
    expect(m.version).toBe("0.1.0");
    expect(m.kind).toBe("component");
    expect(m.entry).toBe("plugin.wasm");
  });
});

describe("hello-js", () => {
  let p: LoadedPlugin;
  beforeAll(async () => {
    p = await loadComponent(wasmOf("hello"));
  });
  it("logs on init and registers greet", () => {
    expect(p.init("0.1.0", "{}")).toBe(0);
    expect(p.registered).toEqual(["greet"]);
    expect(p.logs[0]).toMatchObject({ level: "info" });
  });
  it("answers greet as an event and as a hook", () => {
    expect(p.onEvent("greet", "world")).toBe(0);
    expect(p.logs.at(-1)).toEqual({ level: "info", message: "hello, world!" });
    const r = p.onHook("greet", "world");
    expect(r.ok && dec(r.ok)).toBe("hello, world!");
    expect(p.onHook("other", "x")).toEqual({ err: -100 });
    expect(p.teardown()).toBe(0);
  });
});

describe("transform-js", () => {
  it("uppercases ASCII in the transform hook", async () => {
    const p = await loadComponent(wasmOf("transform"));
    expect(p.init()).toBe(0);
    expect(p.registered).toEqual(["transform"]);
    const input = new Uint8Array([...enc("Hello, wörld! az{}"), 0, 0xff]);
    const r = p.onHook("transform", input);
    expect(r.ok && [...r.ok]).toEqual([...enc("HELLO, WöRLD! AZ{}"), 0, 0xff]);
    expect(p.onHook("transform", new Uint8Array()).ok).toEqual(new Uint8Array());
    expect(p.onEvent("transform", "x")).toBe(0);
  });
});

describe("template-js", () => {
  it("renders {{key}} from data, then config", async () => {
    const p = await loadComponent(wasmOf("template"), { config: { site: "plughost", year: 2026 } });
    expect(p.init()).toBe(0);
    expect(p.registered).toEqual(["render"]);
    const req = { template: "Hi {{name}}, welcome to {{ site }} ({{year}}){{missing}}!", data: { name: "Ada", site: "the docs" } };
    const r = p.onHook("render", JSON.stringify(req));
    expect(r.ok && dec(r.ok)).toBe("Hi Ada, welcome to the docs (2026)!");
    const r2 = p.onHook("render", JSON.stringify({ template: "{{site}}" }));
    expect(r2.ok && dec(r2.ok)).toBe("plughost");
    expect(p.onHook("render", "not json")).toEqual({ err: -22 });
    expect(p.onHook("render", "{}")).toEqual({ err: -22 });
  });
});

describe("conformance-js (guest-sdks/CONFORMANCE.md)", () => {
  let p: LoadedPlugin;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "plughost-conf-js-"));
    writeFileSync(path.join(dataDir, "hello.txt"), "hello");
    p = await loadComponent(wasmOf("conformance"), {
      preopens: { "/data": dataDir },
      registerError: (n) => (n === "denied-event" ? "denied" : n === "full" ? "limit-reached" : undefined),
      emitResult: (n) => (n === "nobody" ? "denied" : 2),
      answer: (target, name, data) => (name === "reverse" ? new Uint8Array(data).reverse() : name === "refuse" ? "rejected" : `unknown-target`),
    });
    return () => rmSync(dataDir, { recursive: true, force: true });
  });

  it("init refuses fail-init and other majors, then registers everything", async () => {
    const q = await loadComponent(wasmOf("conformance"));
    expect(q.init("0.1.0", '{"x":1,"fail-init":true}')).toBe(-1);
    expect(q.registered).toEqual([]);
    expect(q.init("1.0.0", "{}")).toBe(-2);
    expect(q.registered).toEqual([]);
    const r = await loadComponent(wasmOf("conformance"), { registerError: (n) => (n === "spin" ? "denied" : undefined) });
    expect(r.init("0.1.0", "{}")).toBe(-3);

    expect(p.init("0.1.0", "{}")).toBe(0);
    expect(p.logs).toEqual([{ level: "info", message: "conformance init 0.1.0" }]);
    expect(p.registered).toEqual(["echo", "sum", "fail", "log", "register", "trap", "spin", "grow", "read-file", "emit", "counter", "upper", "metric", "request", "message", "state", "context", "config", "remember", "recall"]);
  });

  it("on-event: echo, sum, fail, other", () => {
    expect(p.onEvent("echo", new Uint8Array(37))).toBe(37);
    expect(p.onEvent("echo")).toBe(0);
    expect(p.onEvent("sum", new Uint8Array([255, 255, 1]))).toBe(511);
    expect(p.onEvent("sum", new Uint8Array(70000).fill(255))).toBe(70000 * 255);
    expect(p.onEvent("fail")).toBe(-7);
    expect(p.onEvent("nope")).toBe(-100);
  });

  it("on-event: log at every level", () => {
    p.logs.length = 0;
    expect(p.onEvent("log", "héllo")).toBe(0);
    expect(p.logs).toEqual(["debug", "info", "warn", "error"].map((level) => ({ level, message: "héllo" })));
  });

  it("on-event: register maps register-error to 1/2/3", () => {
    expect(p.onEvent("register", "late-event")).toBe(0);
    expect(p.registered.at(-1)).toBe("late-event");
    expect(p.onEvent("register", "bad name!")).toBe(1);
    expect(p.onEvent("register", "full")).toBe(2);
    expect(p.onEvent("register", "denied-event")).toBe(3);
  });

  it("on-event: emit returns the count or -1 - error code", () => {
    expect(p.onEvent("emit", "news")).toBe(2);
    expect(p.emitted.at(-1)).toEqual({ name: "news", data: enc("news") });
    expect(p.onEvent("emit", "nobody")).toBe(-1 - 2);
  });

  it("on-event: counter, grow, read-file", () => {
    expect(p.onEvent("counter")).toBe(1);
    expect(p.onEvent("counter")).toBe(2);
    expect(p.onEvent("grow", u32(8))).toBe(0);
    expect(p.onEvent("grow", u32(1_000_000))).toBe(1);
    expect(p.onEvent("read-file", "/data/hello.txt")).toBe(0);
    expect(p.onEvent("read-file", "/data/missing.txt")).toBe(1);
    expect(p.onEvent("read-file", "/etc/hostname")).toBe(1);
    expect(p.onEvent("counter")).toBe(3);
  });

  it("on-hook: echo, upper, fail, other", () => {
    expect(p.onHook("echo", "abc")).toEqual({ ok: enc("abc") });
    expect(p.onHook("upper", "aBz-é{")).toEqual({ ok: enc("ABZ-é{") });
    expect(p.onHook("fail", "x")).toEqual({ err: -7 });
    expect(p.onHook("other", "x")).toEqual({ err: -100 });
  });

  it("request: the answer, or -1 - the request-error code (RequestError's code)", () => {
    expect(p.onHook("request", "svc\nreverse\nabc")).toEqual({ ok: enc("cba") });
    expect(p.onEvent("request", "svc\nreverse\nabcd")).toBe(4);
    expect(p.onHook("request", "svc\nreverse\n")).toEqual({ ok: new Uint8Array() });
    expect(p.onHook("request", "svc\nrefuse\nx")).toEqual({ err: -1 - 8 });
    expect(p.onHook("request", "nobody\nping\nx")).toEqual({ err: -1 - 1 });
    expect(p.onHook("request", "no newline")).toEqual({ err: -100 });
    expect(p.requests.map((r) => [r.target, r.name, dec(r.data), r.timeoutMs])).toEqual([
      ["svc", "reverse", "abc", 0],
      ["svc", "reverse", "abcd", 0],
      ["svc", "reverse", "", 0],
      ["svc", "refuse", "x", 0],
      ["nobody", "ping", "x", 0],
    ]);
  });

  it("current-message: the envelope text, or err(1) / 1 when there is none", () => {
    p.message = undefined;
    expect(p.onHook("message", "x")).toEqual({ err: 1 });
    expect(p.onEvent("message", "x")).toBe(1);
    p.message = { id: 42, parentId: 7, source: "a", target: "b", eventName: "message", kind: "request", metadata: { tenant: "t1", "x-y": "1=2" } };
    expect(p.onHook("message", "x")).toEqual({ ok: enc("id 42\nparent 7\nsource a\ntarget b\nevent message\nkind request\nmeta tenant=t1\nmeta x-y=1=2") });
    p.message = { id: 43, eventName: "message", kind: "event" };
    p.logs.length = 0;
    expect(p.onEvent("message", "x")).toBe(0);
    expect(p.logs).toEqual([{ level: "info", message: "id 43\nevent message\nkind event" }]);
    p.message = undefined;
  });

  it("on-suspend and on-resume (the lifecycle interface) log and return 0", () => {
    p.logs.length = 0;
    expect(p.onSuspend?.()).toBe(0);
    expect(p.onResume?.()).toBe(0);
    expect(p.logs).toEqual([
      { level: "info", message: "conformance suspended" },
      { level: "info", message: "conformance resumed" },
    ]);
  });

  it("teardown logs and returns 0", () => {
    p.logs.length = 0;
    expect(p.teardown()).toBe(0);
    expect(p.logs).toEqual([{ level: "info", message: "conformance teardown" }]);
  });

  it("testing.mjs: in-memory state, context, a live config and the hand-off reach the plugin's handlers", async () => {
    const q = await loadComponent(wasmOf("conformance"), {
      state: { seeded: "7" },
      context: { "host.name": "box" },
      contextWritable: ["acme.note"],
      stateError: (op, key) => (op === "set" && key === "full" ? "quota-exceeded" : undefined),
    });
    expect(q.init("0.1.0", JSON.stringify({ a: 1 }))).toBe(0);
    const state = (t: string) => q.onHook("state", t);
    expect(state("incr\nseeded\n-10")).toEqual({ ok: enc("-3") }); // the SDK's compare-and-swap path for a negative delta
    expect(dec(q.state.get("seeded")!)).toBe("-3");
    expect(state("set\nfull\nx")).toEqual({ err: -4 }); // -1 - quota-exceeded
    expect(state("cas\nk\n-\nv")).toEqual({ ok: enc("true") });
    expect(state("list\n1\n")).toEqual({ ok: enc("k\nnext k") });
    expect(state("list\n1\nk")).toEqual({ ok: enc("seeded\nend") });
    expect(q.onHook("context", "host.name")).toEqual({ ok: enc('"box"') });
    expect(q.onHook("context", "user.id")).toEqual({ err: 1 });
    expect(q.onHook("context", 'acme.note={"x":1}')).toEqual({ ok: enc("") });
    expect(q.context.get("acme.note")).toBe('{"x":1}');
    expect(q.onHook("context", "host.name=1")).toEqual({ err: -1 }); // not writable: denied
    expect(q.setConfig({ a: 2 })).toBe(0);
    expect(q.onHook("config", "")).toEqual({ ok: enc('{"a":2}') });
    expect(q.setConfig({ "reject-change": true })).toBe(1);
    expect(q.onEvent("remember", "carry")).toBe(5);
    expect(dec(q.snapshot())).toBe("carry");
    expect(q.restore("other")).toBe(0);
    expect(q.onHook("recall", "")).toEqual({ ok: enc("other") });
    expect(q.logs.map((l) => l.message)).toEqual(["conformance init 0.1.0", "conformance config changed", "conformance config rejected", "conformance restored 5"]);
  });

  it("on-event trap traps the instance", async () => {
    const q = await loadComponent(wasmOf("conformance"));
    expect(q.init()).toBe(0);
    expect(() => q.onEvent("trap")).toThrow(/unreachable/);
    expect(() => q.onEvent("counter")).toThrow();
  });
});
