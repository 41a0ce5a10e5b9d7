// guest-sdks/js/build.mjs syncExports: componentize-js's `async function export_*` bindings rewritten to answer
// through an already-settled promise. The rewrite is checked here in Node on bindings of the generated shapes
// (values, thenables, throws and rejections give what the async originals give), and end to end on a JS plugin
// whose handlers are async, built and run through the registry.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { syncExports, directOnEvent } from "../guest-sdks/js/build.mjs";
import { PluginRegistry } from "../src/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

// The two shapes componentize-js 0.23 emits (trimmed: lifting and lowering replaced by stand-ins).
const BINDINGS = `function toInt32(val) {
  return val >> 0;
}
let guestOnEvent, guestOnHook, guestSnapshot;
const written = {};

async function export_guest_0_1_0$onEvent(arg0, arg1) {
  var result0 = arg0;
  var result1 = arg1;

  let ret;
  
  ret = await guestOnEvent(result0, result1);

  return toInt32(ret);
}

async function export_handoff_0_1_0$snapshot(arg0) {

  let ret;
  
  ret = await guestSnapshot();
  var val0 = ret;
  written[arg0] = val0;

  return;
}

async function export_guest_0_1_0$onHook(arg0, arg1, arg4) {
  var result0 = arg0;
  var result1 = arg1;

  let ret;
  
  try {
    const hostRet2 = await guestOnHook(result0, result1);
    ret = hostRet2 !== null && typeof hostRet2 === 'object' && (hostRet2.tag === 'ok' || hostRet2.tag === 'err')
    ? hostRet2
    : { tag: 'ok', val: hostRet2};
  } catch (e) {
    
    ret = { tag: 'err', val: e.payload ?? -1 };
  }
  
  var variant4 = ret;
  written[arg4] = variant4;

  return;
}

async function export_other$twoAwaits(arg0) {
  let ret;
  ret = await arg0;
  ret = await arg0;
  return ret;
}
`;

interface Bound {
  onEvent(name: string, data: unknown): Promise<unknown>;
  snapshot(at: number): Promise<unknown>;
  onHook(name: string, data: unknown, at: number): Promise<unknown>;
  twoAwaits(v: unknown): Promise<unknown>;
  set(handlers: { onEvent?: unknown; onHook?: unknown; snapshot?: unknown }): void;
  written: Record<number, unknown>;
}

function bind(source: string): Bound {
  const body = `${source}
return {
  onEvent: export_guest_0_1_0$onEvent, snapshot: export_handoff_0_1_0$snapshot, onHook: export_guest_0_1_0$onHook,
  twoAwaits: export_other$twoAwaits, written,
  set(h) { if (h.onEvent) guestOnEvent = h.onEvent; if (h.onHook) guestOnHook = h.onHook; if (h.snapshot) guestSnapshot = h.snapshot; },
};`;
  return new Function(body)() as Bound;
}

const settle = async (p: Promise<unknown>) => p.then((value) => ({ value }), (error: unknown) => ({ error: String(error) }));

describe("syncExports (the bindings rewrite)", () => {
  const original = bind(BINDINGS);
  const rewrittenSource = syncExports(BINDINGS);
  const rewritten = bind(rewrittenSource);

  it("rewrites the three exports of the known shapes and leaves the other alone", () => {
    expect((syncExports as unknown as { rewritten: number }).rewritten).toBe(3);
    expect(rewrittenSource).not.toMatch(/^async function export_guest/m);
    expect(rewrittenSource).not.toMatch(/^async function export_handoff/m);
    expect(rewrittenSource).toMatch(/^async function export_other\$twoAwaits/m);
    expect(syncExports("let x = 1;\n")).toBe("let x = 1;\n");
  });

  it("answers through promises that are already settled, with the same values", async () => {
    for (const v of [0, 7, -100, 1023, 1024, -129, 2 ** 31 + 5, undefined, true, 3.7]) {
      for (const b of [original, rewritten]) b.set({ onEvent: () => v });
      expect(await settle(rewritten.onEvent("e", 1))).toEqual(await settle(original.onEvent("e", 1)));
    }
    // Settled: a reaction added now runs in the next microtask (no further tick of the event loop needed).
    rewritten.set({ onEvent: () => 5 });
    const p = rewritten.onEvent("e", 1);
    let seen: unknown;
    void p.then((v) => (seen = v));
    await Promise.resolve();
    expect(seen).toBe(5);
    // Small ints share one settled promise; larger values get their own.
    expect(rewritten.onEvent("e", 1)).toBe(rewritten.onEvent("e", 2));
  });

  it("a handler's thenable is awaited as before, and its rejection rejects", async () => {
    for (const b of [original, rewritten]) b.set({ onEvent: async (_n: string, d: number) => d * 2, snapshot: async () => "snap" });
    expect(await rewritten.onEvent("e", 21)).toBe(42);
    await rewritten.snapshot(8);
    expect(rewritten.written[8]).toBe("snap");
    for (const b of [original, rewritten]) b.set({ onEvent: () => Promise.reject(new Error("no")) });
    expect(await settle(rewritten.onEvent("e", 1))).toEqual(await settle(original.onEvent("e", 1)));
    // A synchronous throw leaves the export (the engine traps either way).
    rewritten.set({ onEvent: () => { throw new Error("sync"); } });
    expect(() => rewritten.onEvent("e", 1)).toThrow("sync");
  });

  it("hooks: values, thenables, throws and rejections give the same results", async () => {
    const cases: (() => unknown)[] = [
      () => new Uint8Array([1, 2]),
      () => ({ tag: "err", val: 3 }),
      () => { throw Object.assign(new Error("x"), { payload: 9 }); },
      async () => ({ tag: "ok", val: "later" }),
      async () => { throw Object.assign(new Error("y"), { payload: 4 }); },
      () => Promise.reject(new Error("z")),
      () => null,
    ];
    let at = 100;
    for (const onHook of cases) {
      for (const b of [original, rewritten]) b.set({ onHook });
      at++;
      const a = await settle(original.onHook("h", 1, at));
      const b = await settle(rewritten.onHook("h", 1, at));
      expect(b).toEqual(a);
      expect(rewritten.written[at]).toEqual(original.written[at]);
    }
  });
});

describe("directOnEvent (on-event calls the SDK definition's handler)", () => {
  const withBind = (src: string) => `${src}\nreturn { ev: export_guest_0_1_0$onEvent, bindExports };`;
  type Direct = { ev: (n: string, d: unknown) => Promise<unknown>; bindExports(iface: object): void };
  const source = BINDINGS + "function bindExports(__iface) {\n  guestOnEvent = __iface.onEvent;\n}\n";
  const rewrittenSource = directOnEvent(syncExports(source));

  it("rewrites only bindings the sync rewrite settled, and leaves a guest without the SDK's definition as generated", async () => {
    expect(rewrittenSource).toMatch(/guestOnEvent\$plughostDef\.onEvent\(result0, result1\)/);
    expect(directOnEvent(BINDINGS)).toBe(BINDINGS); // no bindExports: nothing to bind
    const b = new Function(withBind(rewrittenSource))() as Direct;
    const generated = new Function(withBind(syncExports(source)))() as Direct;
    const plain = { onEvent: (_n: string, d: number) => (d > 1 ? true : undefined) };
    b.bindExports(plain);
    generated.bindExports(plain);
    for (const d of [1, 2]) expect(await b.ev("e", d)).toBe(await generated.ev("e", d));
  });

  it("maps a result that is not a number as the SDK's wrapper does, keeps `this`, and calls the handler once", async () => {
    const b = new Function(withBind(rewrittenSource))() as Direct;
    let calls = 0;
    const def = {
      marker: 40,
      onEvent(this: { marker: number }, _n: string, d: unknown) {
        calls++;
        return d === "this" ? this.marker + 2 : d;
      },
    };
    const mapped = (v: unknown) => (v === undefined || v === null ? 0 : typeof v === "boolean" ? (v ? 0 : 1) : Number(v) | 0);
    const iface = Object.defineProperties({ onEvent: () => { throw new Error("the wrapper is not called"); } }, {
      __plughostDef: { value: def },
      __plughostStatus: { value: (v: unknown) => (v !== null && typeof v === "object" && "then" in v ? (v as Promise<unknown>).then(mapped) : mapped(v)) },
    });
    b.bindExports(iface);
    for (const [d, want] of [[7, 7], [true, 0], [false, 1], [undefined, 0], ["this", 42], [Promise.resolve(true), 0]] as const) {
      calls = 0;
      expect(await b.ev("e", d)).toBe(want);
      expect(calls).toBe(1);
    }
  });
});

describe("a JS plugin with async handlers, built with the rewrite", () => {
  let dir: string;
  let registry: PluginRegistry;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "plughost-js-async-"));
    const pluginDir = path.join(dir, "async-js");
    mkdirSync(pluginDir);
    writeFileSync(
      path.join(pluginDir, "plugin.js"),
      `import { definePlugin, registerCallback } from "@plughost/guest";
let calls = 0;
export const guest = definePlugin({
  async init() {
    await null;
    for (const e of ["sync", "async", "later", "reject", "throw", "anything", "status", "err", "yes", "no", "nothing", "this"]) registerCallback(e);
    return 0;
  },
  marker: 40,
  onEvent(name, data) {
    calls++;
    if (name === "sync") return data.length;
    if (name === "yes") return true;
    if (name === "no") return false;
    if (name === "nothing") return undefined;
    if (name === "this") return this.marker + 2;
    if (name === "async") return Promise.resolve(data.length + 1000);
    if (name === "later") return (async () => { await null; await null; return calls; })();
    if (name === "reject") return Promise.reject(new Error("rejected on purpose"));
    if (name === "throw") throw new Error("thrown on purpose");
    return -100;
  },
  onHook(name, data) {
    if (name === "err") return (async () => { throw Object.assign(new Error("hook err"), { payload: 5 }); })();
    if (name === "status") return (async () => ({ err: 7 }))();
    if (name === "later") return (async () => { await null; return data.map((b) => b + 2); })();
    // Bare bytes: the SDK recognises the bindings' Uint8Array (another realm) as bytes.
    return data.map((b) => b + 1);
  },
});
`,
    );
    writeFileSync(path.join(pluginDir, "plugin.toml"), `name = "async-js"\nversion = "0.1.0"\napi-version = "^0.1.0"\nkind = "component"\nentry = "plugin.wasm"\n`);
    const { buildJsPlugin } = (await import(path.join(root, "guest-sdks", "js", "build.mjs"))) as {
      buildJsPlugin: (dir: string) => Promise<unknown>;
    };
    await buildJsPlugin(pluginDir);
    registry = new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false, dataDir: path.join(dir, "data") });
  }, 180_000);
  afterAll(async () => {
    await registry?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("answers sync and async handlers alike; a rejection or a throw is a trap", async () => {
    const p = await registry.load(path.join(dir, "async-js"));
    const data = new Uint8Array([1, 2, 3]);
    expect(p.invokeSync("sync", data)).toBe(3);
    expect(p.invokeSync("async", data)).toBe(1003);
    expect(p.invokeSync("later", data)).toBe(3);
    // Results that are not numbers are mapped as the SDK documents; the handler is called as a method of the definition.
    expect([p.invokeSync("yes", data), p.invokeSync("no", data), p.invokeSync("nothing", data), p.invokeSync("this", data)]).toEqual([0, 1, 0, 42]);
    expect(await p.invoke("sync", data)).toBe(3);
    expect(await p.hook("anything", data)).toEqual({ ok: true, data: new Uint8Array([2, 3, 4]) });
    expect(await p.hook("status", data)).toEqual({ ok: false, status: 7 });
    expect(await p.hook("later", data)).toEqual({ ok: true, data: new Uint8Array([3, 4, 5]) });
    expect(await p.hook("err", data)).toEqual({ ok: false, status: 5 });
    await expect(p.invoke("reject", data)).rejects.toThrow(/trap|unreachable/i);
    // A synchronous throw traps too (a registry of its own: the first one is recovering its plugin).
    const other = new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false, dataDir: path.join(dir, "data2") });
    try {
      const q = await other.load(path.join(dir, "async-js"));
      await expect(q.invoke("throw", data)).rejects.toThrow(/trap|unreachable/i);
    } finally {
      await other.close();
    }
  }, 120_000);
});
