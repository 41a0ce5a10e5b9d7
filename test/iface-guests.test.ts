// The C and Rust guests built against the test application's world (test/fixtures/wit/acme-app/app.wit):
// each component imports and exports exactly its world's app interfaces plus plughost's guest, its manifest grants
// what it imports, and each behaves as app.wit says when run by stock jco glue with the app's interfaces in JS
// (the engines' own paths are tested in the engine tests). The SDK builds refuse a world the WIT does not define.
// Built by `node scripts/setup.mjs iface-guests` (scripts/setup/35-iface-guests.mjs).
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parse as parseToml } from "smol-toml";
import { componentWit, transpileBytes } from "../vendor/jco/index.js";
import { loadManifest } from "../src/plugin/manifest.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const APP_WIT = path.join(root, "test", "fixtures", "wit", "acme-app");

const CALC = "acme:app/calc@1.0.0";
const KINDS = "acme:app/kinds@1.0.0";
const MIRROR = "acme:app/mirror@1.0.0";
const PROBE = "acme:app/probe@1.0.0";
const QUOTE = "acme:app/quote@1.0.0";
const CHECKOUT = "acme:app/checkout@1.0.0";

/** Each fixture's app imports and exports (an exported interface that uses kinds' types imports kinds for them). */
const FIXTURES: Record<string, { imports: string[]; exports: string[]; from?: Record<string, string> }> = {
  "c-probe": { imports: [CALC, KINDS], exports: [MIRROR, PROBE] },
  "rust-mirror": { imports: [CALC, KINDS], exports: [MIRROR] },
  "rust-pricing": { imports: [KINDS], exports: [QUOTE] },
  "c-cart": { imports: [KINDS, QUOTE], exports: [CHECKOUT], from: { "acme:app/quote": "rust-pricing" } },
  "c-loop": { imports: [CHECKOUT, KINDS], exports: [QUOTE], from: { "acme:app/checkout": "c-cart" } },
};

function fixtureDir(name: string): string {
  const dir = path.join(root, "test", "fixtures", "iface", name);
  if (!existsSync(path.join(dir, "plugin.wasm"))) {
    throw new Error(`test/fixtures/iface/${name}/plugin.wasm is missing: build it with \`node scripts/setup.mjs iface-guests\``);
  }
  return dir;
}

const component = (name: string) => new Uint8Array(readFileSync(path.join(fixtureDir(name), "plugin.wasm")));

/** A world's imports and exports as componentWit prints them. */
async function worldOf(bytes: Uint8Array): Promise<{ imports: string[]; exports: string[] }> {
  const wit = await componentWit(bytes);
  const pick = (kind: string) => [...wit.matchAll(new RegExp(`^\\s*${kind}\\s+([a-z0-9-]+:[a-z0-9-]+/[a-z0-9-]+(?:@[^;\\s]+)?);`, "gm"))].map((m) => m[1]!).sort();
  return { imports: pick("import"), exports: pick("export") };
}

const isApp = (name: string) => name.startsWith("acme:");
const unversioned = (id: string) => id.replace(/@.*$/, "");

describe.each(Object.keys(FIXTURES))("test/fixtures/iface/%s", (name) => {
  const expected = FIXTURES[name]!;

  it("imports and exports exactly its world's app interfaces, plus plughost's guest, and no WASI", async () => {
    const bytes = component(name);
    expect([...bytes.subarray(0, 8)]).toEqual([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
    const world = await worldOf(bytes);
    expect(world.imports.filter(isApp)).toEqual(expected.imports);
    expect(world.exports.filter(isApp)).toEqual(expected.exports);
    expect(world.exports).toContain("plughost:plugin/guest@0.1.0");
    expect(world.imports.filter((i) => i.startsWith("wasi:"))).toEqual([]);
  });

  it("has a manifest named after its directory that asks for each app interface it imports", async () => {
    const toml = parseToml(readFileSync(path.join(fixtureDir(name), "plugin.toml"), "utf8")) as {
      name: string; entry: string; "api-version": string; capabilities: string[]; interfaces?: { from?: Record<string, string> };
    };
    expect(toml.name).toBe(name);
    expect(toml.entry).toBe("plugin.wasm");
    expect(toml["api-version"]).toBe("^0.1.0");
    expect([...toml.capabilities].sort()).toEqual(expected.imports.map((i) => `iface:${unversioned(i)}`).sort());
    expect(toml.interfaces?.from).toEqual(expected.from);
    // The registry's own manifest check accepts it.
    const loaded = (await loadManifest(fixtureDir(name))) as { name: string };
    expect(loaded.name).toBe(name);
  });
});

// ── behaviour under stock jco glue ────────────────────────────────────────────────────────────────────────────

type Fn = (...args: unknown[]) => unknown;
type Iface = Record<string, Fn>;

/** Every plughost host function: the fixtures call none of them outside init, which these tests never run. */
const plughostHost = new Proxy({}, { get: (_t, key) => () => { throw new Error(`unexpected plughost host call ${String(key)}`); } });

interface Instantiated {
  exports: Record<string, Iface>;
  /** The guest core instance's exports (its memory), once instantiated. */
  core: () => WebAssembly.Exports;
}

/**
 * Transpile `bytes` with jco (async instantiation) and instantiate it with `app` (unversioned interface name →
 * functions). `wrapCore` may replace the guest core module's imports of a module (raw core functions).
 */
async function instantiate(bytes: Uint8Array, app: Record<string, Iface>, wrapCore?: Record<string, Record<string, Fn>>): Promise<Instantiated> {
  const { files } = await transpileBytes(bytes, { name: "guest", instantiation: "async" });
  const dir = mkdtempSync(path.join(tmpdir(), "iface-guests-"));
  try {
    writeFileSync(path.join(dir, "guest.mjs"), files["guest.js"]!);
    const mod = (await import(pathToFileURL(path.join(dir, "guest.mjs")).href)) as {
      instantiate: (get: (p: string) => Promise<WebAssembly.Module>, imports: Record<string, unknown>, core?: (m: WebAssembly.Module, i: WebAssembly.Imports) => Promise<WebAssembly.Instance>) => Promise<Record<string, Iface>>;
    };
    let guestCore: WebAssembly.Exports | undefined;
    const imports: Record<string, unknown> = { "plughost:plugin/host": plughostHost, "plughost:plugin/types": {}, ...app };
    const exportsObj = await mod.instantiate(
      (p) => WebAssembly.compile(files[p]!),
      imports,
      async (m, i) => {
        const wrapped: WebAssembly.Imports = { ...i };
        for (const [module, fns] of Object.entries(wrapCore ?? {})) if (wrapped[module]) wrapped[module] = { ...wrapped[module], ...fns };
        const inst = await WebAssembly.instantiate(m, wrapped);
        if (WebAssembly.Module.exports(m).some((e) => e.name === "cabi_realloc")) guestCore = inst.exports;
        return inst;
      },
    );
    return { exports: exportsObj, core: () => guestCore! };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const iface = (inst: Instantiated, id: string): Iface => (inst.exports[id] ?? inst.exports[unversioned(id).split("/")[1]!.replace(/-(.)/g, (_m, c: string) => c.toUpperCase())])!;

/** kinds in JS: each echo-* returns its argument; every call is recorded. */
function kindsEcho(calls: [string, unknown[]][]): Iface {
  const echo = (fn: string) => (...args: unknown[]) => { calls.push([fn, args]); return args[0]; };
  return {
    echoScalars: echo("echoScalars"), echoString: echo("echoString"), echoBytes: echo("echoBytes"), echoItem: echo("echoItem"),
    echoItems: echo("echoItems"), echoShape: echo("echoShape"), echoColor: echo("echoColor"), echoPerms: echo("echoPerms"),
    echoMaybe: echo("echoMaybe"), echoPair: echo("echoPair"),
    // jco: a result parameter arrives as {tag, val}; an ok return is the value, an err is thrown with a payload.
    echoOutcome: (...args: unknown[]) => {
      calls.push(["echoOutcome", args]);
      const v = args[0] as { tag: "ok" | "err"; val: unknown };
      if (v.tag === "ok") return v.val;
      throw Object.assign(new Error("err"), { payload: v.val });
    },
    manyArgs: (...args: unknown[]) => { calls.push(["manyArgs", args]); return 0x1_0000_0001n; },
  };
}

const ITEM = { id: 42n, name: "wrench ✓", tags: ["tool", "", "métal"], weight: 1.25 };
const SCALARS = { b: true, u8v: 255, u16v: 65535, u32v: 4294967295, u64v: 18446744073709551615n, s8v: -128, s16v: -32768, s32v: -2147483648, s64v: -9223372036854775808n, f32v: 1.5, f64v: -2.75, c: "🦀" };

describe.each(["c-probe", "rust-mirror"])("%s: mirror", (name) => {
  it("hands each value to the host's kinds function and returns the host's answer", async () => {
    const calls: [string, unknown[]][] = [];
    const adds: [number, number][] = [];
    const inst = await instantiate(component(name), {
      "acme:app/kinds": kindsEcho(calls),
      "acme:app/calc": { add: (a: unknown, b: unknown) => { adds.push([a as number, b as number]); return (a as number) + (b as number); } },
    });
    const mirror = iface(inst, MIRROR);
    const cases: [string, unknown][] = [
      ["echoScalars", SCALARS],
      ["echoString", "héllo, wörld"],
      ["echoString", ""],
      ["echoBytes", new Uint8Array([0, 1, 254, 255])],
      ["echoItem", ITEM],
      ["echoItems", [ITEM, { id: 0n, name: "", tags: [], weight: 0 }]],
      ["echoItems", []],
      ["echoShape", { tag: "circle", val: 2.5 }],
      ["echoShape", { tag: "rect", val: { x: -3, y: 4 } }],
      ["echoShape", { tag: "empty" }],
      ["echoColor", "blue-ish"],
      ["echoPerms", { read: true, write: false, execIt: true }],
      ["echoMaybe", "some"],
      ["echoMaybe", undefined],
      ["echoPair", [7, "seven"]],
    ];
    for (const [fn, v] of cases) {
      calls.length = 0;
      const got = mirror[fn]!(v);
      expect(got, fn).toEqual(v);
      expect(calls.map((c) => c[0]), fn).toEqual([fn]);
      expect(calls[0]![1][0], fn).toEqual(v);
    }
    calls.length = 0;
    expect(mirror.echoOutcome!({ tag: "ok", val: ITEM })).toEqual(ITEM);
    // jco's glue throws an export's err value itself.
    let thrown: unknown;
    try {
      mirror.echoOutcome!({ tag: "err", val: "out of stock" });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBe("out of stock");
    expect(calls.map((c) => (c[1][0] as { tag: string }).tag)).toEqual(["ok", "err"]);

    calls.length = 0;
    expect(mirror.manyArgs!()).toBe(0x1_0000_0001n);
    const args = calls[0]![1];
    expect(args.slice(0, 5)).toEqual([1, 2n, 3.5, 4.25, "five"]);
    expect([...(args[5] as Iterable<number>)]).toEqual([6, 7]);
    expect(args.slice(6)).toEqual([true, -8, 9, "blue-ish", 11, 12, 13, 14, 15, 16, 17]);

    expect(mirror.addLoop!(5)).toBe(15n);
    expect(adds).toEqual([[0, 1], [1, 1], [2, 1], [3, 1], [4, 1]]);
    calls.length = 0;
    expect(mirror.itemLoop!(ITEM, 3)).toBe(3);
    expect(calls.map((c) => c[0])).toEqual(["echoItem", "echoItem", "echoItem"]);
    expect(mirror.touch!("héllo")).toBe(6);
  });
});

describe("c-probe: probe", () => {
  /** Run one probe with the kinds import `fn` replaced at the core level by a recorder that stops the call. */
  async function probe(probeFn: string, coreName: string): Promise<{ args: number[]; memory: WebAssembly.Memory }> {
    let seen: number[] | undefined;
    const stop = new Error("probe stopped before the value was lifted");
    const inst = await instantiate(component("c-probe"), { "acme:app/kinds": kindsEcho([]), "acme:app/calc": { add: () => 0 } }, {
      [KINDS]: { [coreName]: (...a: unknown[]) => { seen = a as number[]; throw stop; } },
    });
    expect(() => iface(inst, PROBE)[probeFn]!()).toThrow(stop);
    expect(seen, `${probeFn} called ${coreName}`).toBeDefined();
    return { args: seen!, memory: inst.core().memory as WebAssembly.Memory };
  }

  it("bad-utf8 passes echo-string a pointer to ff fe fd fc, length 4", async () => {
    const { args, memory } = await probe("badUtf8", "echo-string");
    expect(args[1]).toBe(4);
    expect([...new Uint8Array(memory.buffer, args[0]! >>> 0, 4)]).toEqual([0xff, 0xfe, 0xfd, 0xfc]);
  });

  it("bad-bounds passes echo-bytes pointer 0xFFFFFFF0 and length 1000, past the end of memory", async () => {
    const { args, memory } = await probe("badBounds", "echo-bytes");
    expect([args[0]! >>> 0, args[1]]).toEqual([0xfffffff0, 1000]);
    expect((args[0]! >>> 0) + 1000).toBeGreaterThan(memory.buffer.byteLength);
  });

  it("bad-discriminant passes echo-shape discriminant 7 (shape has 3 cases)", async () => {
    const { args } = await probe("badDiscriminant", "echo-shape");
    expect(args[0]).toBe(7);
  });
});

describe("quote and checkout", () => {
  const order = (id: bigint, name: string) => ({ id, name, tags: [], weight: 0.5 });

  it("rust-pricing: price = id × 100 + the byte length of name", async () => {
    const inst = await instantiate(component("rust-pricing"), { "acme:app/kinds": {} });
    expect(iface(inst, QUOTE).price!(order(7n, "abc"))).toBe(703n);
    expect(iface(inst, QUOTE).price!(order(0n, "é"))).toBe(2n);
  });

  it("c-cart: total sums quote.price, imported, over the items", async () => {
    const priced: unknown[] = [];
    const inst = await instantiate(component("c-cart"), {
      "acme:app/kinds": {},
      "acme:app/quote": { price: (o: unknown) => { priced.push(o); return (o as { id: bigint }).id * 100n; } },
    });
    expect(iface(inst, CHECKOUT).total!([order(1n, "a"), order(2n, "bb"), order(3n, "")])).toBe(600n);
    expect(priced).toEqual([order(1n, "a"), order(2n, "bb"), order(3n, "")]);
    expect(iface(inst, CHECKOUT).total!([])).toBe(0n);
  });

  it("c-loop: price is checkout.total of the one order, imported", async () => {
    const totals: unknown[] = [];
    const inst = await instantiate(component("c-loop"), {
      "acme:app/kinds": {},
      "acme:app/checkout": { total: (items: unknown) => { totals.push(items); return 9n; } },
    });
    expect(iface(inst, QUOTE).price!(order(5n, "five"))).toBe(9n);
    expect(totals).toEqual([[order(5n, "five")]]);
  });
});

// ── the SDK builds' app-world checks ──────────────────────────────────────────────────────────────────────────

function build(lang: "c" | "rust", dir: string, ...args: string[]) {
  return spawnSync(process.execPath, [path.join(root, "guest-sdks", lang, "build.mjs"), dir, "--out", path.join(tmpdir(), `iface-guests-${lang}-${process.pid}.wasm`), ...args], { encoding: "utf8" });
}

describe.each([["c", "c-probe"], ["rust", "rust-mirror"]] as const)("guest-sdks/%s/build.mjs", (lang, fixture) => {
  const dir = path.join(root, "test", "fixtures", "iface", fixture);

  it("refuses a world the app WIT does not define, naming the worlds it has", () => {
    const r = build(lang, dir, "--wit", APP_WIT, "--world", "no-such-world");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error E_APP_WORLD:');
    expect(r.stderr).toContain('has no world "no-such-world" (its worlds: mirror-plugin, probe-plugin, pricing-plugin, cart-plugin, loop-plugin)');
  });

  it("refuses an app WIT that does not exist, and a world without a WIT", () => {
    const missing = build(lang, dir, "--wit", path.join(APP_WIT, "nope.wit"), "--world", "mirror-plugin");
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/error E_APP_WORLD: the app WIT .*nope\.wit does not exist/);
    const noWit = build(lang, dir, "--world", "mirror-plugin");
    expect(noWit.status).toBe(1);
    expect(noWit.stderr).toContain('world "mirror-plugin" is named but no app WIT');
  });
});

describe("app world checks", () => {
  it("a world that names plughost's own interfaces is refused (the build adds them)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "iface-guests-wit-"));
    try {
      writeFileSync(path.join(dir, "app.wit"), "package acme:bad@1.0.0;\ninterface i { f: func(); }\nworld w {\n  include plughost:plugin/plugin@0.1.0;\n  export i;\n}\n");
      const r = build("c", path.join(root, "test", "fixtures", "iface", "c-probe"), "--wit", dir, "--world", "w");
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('world "w" of');
      expect(r.stderr).toContain("names plughost:plugin interfaces");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rust: a component built for another world than --world is refused, naming what differs", () => {
    const r = build("rust", path.join(root, "test", "fixtures", "iface", "rust-mirror"), "--wit", APP_WIT, "--world", "probe-plugin");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("does not match world acme:app/probe-plugin@1.0.0: it does not export acme:app/probe@1.0.0");
  }, 120_000);
});
