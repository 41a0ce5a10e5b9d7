// JS and Go guests against an app world (docs/guest-js.md, docs/guest-go.md): the fixtures js-mirror
// (componentize-js) and go-mirror (hand-written canonical-ABI glue), built by scripts/setup/36-iface-guests-js-go.mjs
// against world acme:app/mirror-plugin of test/fixtures/wit/acme-app, and `plughost new js --world`.
// The components are checked by what they import and export, and run through jco's stock glue (a reference
// implementation of the canonical ABI, independent of plughost's engines, which test these fixtures themselves).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { componentWit, transpileBytes } from "../vendor/jco/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cli = path.join(root, "dist", "cli", "index.js");
const APP_WIT = path.join(root, "test", "fixtures", "wit", "acme-app", "app.wit");
const fixture = (name: string) => path.join(root, "test", "fixtures", "iface", name, "plugin.wasm");

/** The interfaces a component imports and exports, from its WIT (sorted). */
async function worldOf(file: string): Promise<{ imports: string[]; exports: string[] }> {
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`node scripts/setup.mjs iface-guests\``);
  const wit = await componentWit(new Uint8Array(readFileSync(file)));
  const list = (kind: string) => [...wit.matchAll(new RegExp(`^\\s*${kind} ([a-z0-9-]+:[a-z0-9-/]+@[0-9.]+);`, "gm"))].map((m) => m[1]!).sort();
  return { imports: list("import"), exports: list("export") };
}

const PLUGHOST_IMPORTS = ["plughost:plugin/host@0.1.0", "plughost:plugin/types@0.1.0"];
const APP_IMPORTS = ["acme:app/calc@1.0.0", "acme:app/kinds@1.0.0"];
// What the Go runtime imports through the WASI preview1 adapter (no files: the SDK's stdio adapter).
const GO_WASI = [
  "wasi:cli/environment@0.2.12", "wasi:cli/exit@0.2.12", "wasi:cli/stderr@0.2.12", "wasi:clocks/monotonic-clock@0.2.12",
  "wasi:clocks/wall-clock@0.2.12", "wasi:io/error@0.2.12", "wasi:io/streams@0.2.12", "wasi:random/random@0.2.12",
];

describe("the app-world fixtures' components", () => {
  it("js-mirror imports plughost's host and the app's calc and kinds only, and exports guest and mirror", async () => {
    expect(await worldOf(fixture("js-mirror"))).toEqual({
      imports: [...APP_IMPORTS, ...PLUGHOST_IMPORTS].sort(),
      exports: ["acme:app/mirror@1.0.0", "plughost:plugin/guest@0.1.0"],
    });
  });

  it("go-mirror imports plughost's host, calc, kinds and the Go runtime's WASI, and exports the SDK's interfaces and mirror", async () => {
    expect(await worldOf(fixture("go-mirror"))).toEqual({
      imports: [...APP_IMPORTS, ...PLUGHOST_IMPORTS, ...GO_WASI].sort(),
      exports: ["acme:app/mirror@1.0.0", "plughost:plugin/config-watch@0.1.0", "plughost:plugin/guest@0.1.0", "plughost:plugin/handoff@0.1.0", "plughost:plugin/lifecycle@0.1.0"],
    });
  });
});

// ---- behaviour through jco's glue ----

type Fn = (...args: unknown[]) => unknown;
interface Mirror {
  mirror: Record<string, Fn>;
  guest: { init: (api: string, config: string) => number };
}

let glueDir: string;
beforeAll(() => {
  glueDir = mkdtempSync(path.join(tmpdir(), "plughost-iface-jsgo-"));
});
afterAll(() => {
  if (glueDir) rmSync(glueDir, { recursive: true, force: true });
});

/** Instantiate a component with jco's glue; `kinds` and `calc` are the host's, in jco's conventions. */
async function instantiate(file: string, kinds: Record<string, Fn>, calc: Record<string, Fn>): Promise<Mirror> {
  const name = path.basename(path.dirname(file));
  const { files } = await transpileBytes(new Uint8Array(readFileSync(file)), { instantiation: "async", name });
  const dir = path.join(glueDir, name);
  for (const [f, data] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), data);
  }
  const glue = (await import(pathToFileURL(path.join(dir, `${name}.js`)).href)) as { instantiate: (get: (f: string) => Promise<WebAssembly.Module>, imports: object) => Promise<Mirror> };
  const { WASIShim } = (await import("@bytecodealliance/preview2-shim/instantiation")) as unknown as { WASIShim: new () => { getImportObject: () => object } };
  const host = new Proxy({}, { get: () => () => 0 }); // plughost's host interface: not called by these tests
  return glue.instantiate(async (f) => WebAssembly.compile(readFileSync(path.join(dir, f))), {
    ...new WASIShim().getImportObject(),
    "plughost:plugin/host": host,
    "acme:app/kinds": kinds,
    "acme:app/calc": calc,
  });
}

const scalars = { b: true, u8v: 255, u16v: 65535, u32v: 4294967295, u64v: 2n ** 64n - 1n, s8v: -128, s16v: -32768, s32v: -2147483648, s64v: -(2n ** 63n), f32v: 1.5, f64v: -2.25, c: "é" };
const item = { id: 2n ** 53n + 1n, name: "wïdget", tags: ["a", "", "ü"], weight: 0.1 };
const CASES: [string, unknown][] = [
  ["echoScalars", scalars],
  ["echoScalars", { ...scalars, b: false, u32v: 2 ** 31, s64v: 2n ** 63n - 1n, s8v: 127, c: "\u{10FFFF}" }],
  ["echoString", "héllo, wörld"],
  ["echoString", ""],
  ["echoBytes", new Uint8Array([0, 1, 254, 255])],
  ["echoBytes", new Uint8Array()],
  ["echoItem", item],
  ["echoItems", [item, { id: 0n, name: "", tags: [], weight: -0 }]],
  ["echoItems", []],
  ["echoShape", { tag: "circle", val: 2.5 }],
  ["echoShape", { tag: "rect", val: { x: -1, y: 2147483647 } }],
  ["echoShape", { tag: "empty" }],
  ["echoColor", "blue-ish"],
  ["echoPerms", { read: true, write: false, execIt: true }],
  ["echoMaybe", "some"],
  ["echoMaybe", undefined],
  ["echoPair", [4294967295, "pair"]],
];

describe.each(["js-mirror", "go-mirror"])("%s through jco's glue", (name) => {
  let m: Mirror;
  const calls: [string, unknown[]][] = [];
  beforeAll(async () => {
    const echo = (fn: string) => (...args: unknown[]) => {
      calls.push([fn, args]);
      return args[0];
    };
    const kinds: Record<string, Fn> = Object.fromEntries(CASES.map(([fn]) => [fn, echo(fn)]));
    // jco's import convention for result<T, E>: return T, throw for err (the thrown value's payload is E).
    kinds.echoOutcome = (v) => {
      calls.push(["echoOutcome", [v]]);
      const r = v as { tag: "ok" | "err"; val: unknown };
      if (r.tag === "err") throw Object.assign(new Error("err"), { payload: r.val });
      return r.val;
    };
    kinds.manyArgs = (...args) => {
      calls.push(["manyArgs", args]);
      return 0xfedcba9876543210n;
    };
    m = await instantiate(fixture(name), kinds, { add: (a: unknown, b: unknown) => ((a as number) + (b as number)) >>> 0 });
    expect(m.guest.init("0.1.0", "{}")).toBe(0);
  }, 120_000);

  it.each(CASES.map(([fn, v], i) => [i, fn, v] as const))("case %i: %s crosses host → guest → host → guest → host unchanged", (_i, fn, v) => {
    calls.length = 0;
    expect(m.mirror[fn]!(v)).toEqual(v);
    expect(calls).toEqual([[fn, [v]]]);
  });

  it("echo-outcome: ok and err come back as they went (jco: ok returned, err thrown with the E value)", () => {
    expect(m.mirror.echoOutcome!({ tag: "ok", val: item })).toEqual(item);
    let thrown: unknown;
    try {
      m.mirror.echoOutcome!({ tag: "err", val: "out of stock" });
    } catch (e) {
      thrown = e;
    }
    // jco throws an err's string payload as it is (a ComponentError for other payloads).
    expect(thrown instanceof Error ? (thrown as { payload?: unknown }).payload ?? thrown.message : thrown).toBe("out of stock");
  });

  it("many-args passes its 17 arguments through memory, and returns the host's u64", () => {
    calls.length = 0;
    expect(m.mirror.manyArgs!()).toBe(0xfedcba9876543210n);
    const args = calls[0]![1];
    expect(args.length).toBe(17);
    expect({ ...args, 5: [...(args[5] as Iterable<number>)] }).toEqual({ ...[1, 2n, 3.5, 4.25, "five", [6, 7], true, -8, 9, "blue-ish", 11, 12, 13, 14, 15, 16, 17] });
  });

  it("add-loop sums calc.add(i, 1) over 0..n; item-loop counts echo-item results with v's id; touch is the UTF-8 length", () => {
    expect(m.mirror.addLoop!(1000)).toBe(500500n);
    calls.length = 0;
    expect(m.mirror.itemLoop!(item, 7)).toBe(7);
    expect(calls.length).toBe(7);
    expect(calls.every(([fn, [v]]) => fn === "echoItem" && (v as typeof item).id === item.id)).toBe(true);
    expect(m.mirror.touch!("héllo")).toBe(6);
    expect(m.mirror.touch!("")).toBe(0);
  });
});

// ---- plughost new js --world ----

describe("plughost new js <name> --world app.wit#mirror-plugin", () => {
  let tmp: string;
  let dir: string;
  const run = (args: string[], cwd = tmp) => {
    const r = spawnSync(process.execPath, args, { cwd, encoding: "utf8", timeout: 180_000 });
    return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
  };
  beforeAll(() => {
    if (!existsSync(cli)) throw new Error("dist/cli/index.js is missing: run `npx tsc -p tsconfig.json`");
    tmp = mkdtempSync(path.join(tmpdir(), "plughost-new-world-"));
    mkdirSync(path.join(tmp, "node_modules"));
    symlinkSync(root, path.join(tmp, "node_modules", "plughost"));
    dir = path.join(tmp, "wmirror");
  });
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("scaffolds the WIT copy, a manifest with iface: capabilities and [interfaces], and a stub per exported function", () => {
    const r = run([cli, "new", "js", "wmirror", "--world", `${APP_WIT}#mirror-plugin`]);
    expect(r.status, r.out).toBe(0);
    expect(readFileSync(path.join(dir, "wit", "app.wit"), "utf8")).toBe(readFileSync(APP_WIT, "utf8"));
    const manifest = readFileSync(path.join(dir, "plugin.toml"), "utf8");
    expect(manifest).toContain('capabilities = ["iface:acme:app/calc", "iface:acme:app/kinds"]');
    expect(manifest).toMatch(/\[interfaces\]\n(#.*\n)?wit = "wit"\nworld = "mirror-plugin"/);
    expect(manifest).not.toContain("[[hooks]]");
    const src = readFileSync(path.join(dir, "plugin.ts"), "utf8");
    expect(src).toContain('import * as kinds from "acme:app/kinds@1.0.0";');
    const stubs = [...src.matchAll(/^ {2}([a-z][A-Za-z]*)\(.*\{$/gm)].map((m) => m[1]);
    expect(stubs).toEqual(["init", "echoScalars", "echoString", "echoBytes", "echoItem", "echoItems", "echoShape", "echoColor", "echoPerms", "echoMaybe", "echoOutcome", "echoPair", "manyArgs", "addLoop", "itemLoop", "touch"]);
  });

  it("typechecks (the imported interfaces are declared in app.d.ts)", () => {
    const r = run([path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], dir);
    expect(r.out).toBe("");
    expect(r.status).toBe(0);
  }, 60_000);

  it("plughost build makes a component of plughost's world plus mirror-plugin", async () => {
    const r = run([cli, "build", dir]);
    expect(r.status, r.out).toBe(0);
    expect(await worldOf(path.join(dir, "plugin.wasm"))).toEqual({
      imports: [...APP_IMPORTS, ...PLUGHOST_IMPORTS].sort(),
      exports: ["acme:app/mirror@1.0.0", "plughost:plugin/guest@0.1.0"],
    });
  }, 180_000);

  it("its stubs answer zero values through jco's glue", async () => {
    const zero = new Proxy({}, { get: () => () => 0 }) as Record<string, Fn>;
    const stubs = await instantiate(path.join(dir, "plugin.wasm"), zero, zero);
    expect(stubs.mirror.addLoop!(5)).toBe(0n);
    expect(stubs.mirror.echoItem!(item)).toEqual({ id: 0n, name: "", tags: [], weight: 0 });
    expect(stubs.mirror.echoShape!({ tag: "empty" })).toEqual({ tag: "circle", val: 0 });
  }, 60_000);

  it("passes its own test.mjs (plughost loads it with the app's interfaces provided by stubs and calls it)", () => {
    const r = run(["test.mjs"], dir);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/# pass 1/);
  }, 120_000);

  it("refuses a world the WIT does not define, naming the worlds there", () => {
    const bad = run([cli, "new", "js", "other", "--world", `${APP_WIT}#no-such`]);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/no world "no-such".*mirror-plugin, probe-plugin, pricing-plugin, cart-plugin, loop-plugin/);
    expect(existsSync(path.join(tmp, "other"))).toBe(false);
    const many = run([cli, "new", "js", "other", "--world", APP_WIT]);
    expect(many.status).not.toBe(0);
    expect(many.out).toMatch(/name one as --world .*#<world>/);
    // Go and C scaffolds against a world: test/new-world-go-c.test.ts.
  });
});

describe("plughost new rust <name> --world app.wit#mirror-plugin", () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(tmpdir(), "plughost-new-world-rust-"));
  });
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("scaffolds wit-bindgen's generate! with a todo!() stub per exported function, which builds into a component exporting mirror", async () => {
    const dir = path.join(tmp, "rmirror");
    const made = spawnSync(process.execPath, [cli, "new", "rust", "rmirror", "--dir", dir, "--world", `${APP_WIT}#mirror-plugin`], { encoding: "utf8" });
    expect(made.status, made.stderr).toBe(0);
    const lib = readFileSync(path.join(dir, "src", "lib.rs"), "utf8");
    expect(lib).toContain('world: "mirror-plugin"');
    expect([...lib.matchAll(/^ {4}fn ([a-z_]+)\(/gm)].map((m) => m[1])).toEqual(["init", "echo_scalars", "echo_string", "echo_bytes", "echo_item", "echo_items", "echo_shape", "echo_color", "echo_perms", "echo_maybe", "echo_outcome", "echo_pair", "many_args", "add_loop", "item_loop", "touch"]);
    expect(readFileSync(path.join(dir, "Cargo.toml"), "utf8")).toMatch(/^wit-bindgen = /m);
    const built = spawnSync(process.execPath, [cli, "build", dir], { encoding: "utf8", timeout: 300_000 });
    expect(built.status, `${built.stdout}${built.stderr}`).toBe(0);
    const w = await worldOf(path.join(dir, "plugin.wasm"));
    // The Rust SDK exports its optional interfaces with default handlers.
    expect(w.exports).toEqual(["acme:app/mirror@1.0.0", "plughost:plugin/config-watch@0.1.0", "plughost:plugin/guest@0.1.0", "plughost:plugin/handoff@0.1.0", "plughost:plugin/lifecycle@0.1.0"]);
    // The stubs call nothing, so the build keeps only what the bindings themselves use of the imports.
    expect(w.imports.filter((i) => !i.startsWith("plughost:")).every((i) => APP_IMPORTS.includes(i))).toBe(true);
  }, 300_000);
});
