// One C source, two forms (issue 4 must-hold, issue 5 item 5): the C
// conformance plugin (examples/c/conformance/conformance.c, legacy
// PluginContext API plus plughost_* extensions) is built here both as a Wasm
// component (the C SDK's build) and as a native .so (gcc with the SDK's
// native extensions), loaded into one registry (component, native trusted,
// native untrusted), and must behave the same: statuses, logs, hook output,
// messages between them.
//
// Not compared: trap, spin and read-file, whose effects differ by design (a
// native trap is a crash: PluginCrashed untrusted, the end of the host
// trusted; native code has no fuel; the sandbox has no files, a trusted .so
// sees the host's).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { PluginRegistry, type PluginHandle } from "../src/index.js";
import { enc, root } from "./helpers/plugins.js";

const source = path.join(root, "examples", "c", "conformance", "conformance.c");
const include = path.join(root, "guest-sdks", "c", "include");
const FORMS = ["component", "trusted", "untrusted"] as const;
type Form = (typeof FORMS)[number];
const nameOf = (form: Form) => `two-forms-${form}`;

interface Line {
  plugin: string;
  level: number;
  msg: string;
}

describe("one C source as a component and as a native .so", () => {
  let tmp: string;
  const lines: Line[] = [];
  let registry: PluginRegistry;
  const handles = {} as Record<Form, PluginHandle>;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), "plughost-two-forms-"));
    // The component: the SDK's own build of the source (clang wasm32-wasi + component glue).
    const wasmDir = path.join(tmp, "component");
    mkdirSync(path.join(wasmDir, "src"), { recursive: true });
    writeFileSync(path.join(wasmDir, "src", "conformance.c"), readFileSync(source));
    const { buildCPlugin } = (await import(path.join(root, "guest-sdks", "c", "build.mjs"))) as {
      buildCPlugin: (dir: string, out: string) => Promise<Uint8Array>;
    };
    await buildCPlugin(path.join(wasmDir, "src"), path.join(wasmDir, "plugin.wasm"));
    writeFileSync(
      path.join(wasmDir, "plugin.toml"),
      `name = "${nameOf("component")}"\nversion = "0.1.0"\napi-version = "^0.1.0"\nentry = "plugin.wasm"\ncapabilities = ["stdio", "clock", "fs:read:src"]\n`,
    );
    // The native library: the same file with gcc, plus the SDK's native extensions.
    const so = path.join(tmp, "conformance.so");
    const gcc = spawnSync("gcc", ["-Wall", "-Wextra", "-O2", "-shared", "-fPIC", "-I", include, source, path.join(root, "guest-sdks", "c", "src", "plughost_native.c"), "-o", so], { encoding: "utf8" });
    if (gcc.status !== 0) throw new Error(`gcc failed (run node scripts/setup.mjs to install it):\n${gcc.stderr}`);
    for (const trust of ["trusted", "untrusted"] as const) {
      const dir = path.join(tmp, trust);
      mkdirSync(dir);
      // An entry must lie inside its plugin's directory, so each form gets its own copy.
      copyFileSync(so, path.join(dir, "conformance.so"));
      writeFileSync(
        path.join(dir, "plugin.toml"),
        `name = "${nameOf(trust)}"\nversion = "0.1.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "conformance.so"\ntrust = "${trust}"\n`,
      );
    }

    const logger = pino({ level: "debug" }, { write: (l: string) => void lines.push(JSON.parse(l) as Line) });
    registry = new PluginRegistry({
      logger,
      cacheDir: false,
      grants: ["stdio", "clock", `fs:read:${path.join(wasmDir, "src")}`],
      trustedNative: [nameOf("trusted")], // the host approves running it in process
    });
    for (const form of FORMS) handles[form] = await registry.load(path.join(tmp, form));
  }, 120_000);

  afterAll(async () => {
    await registry?.unloadAll().catch(() => undefined);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** The levels `form` logged `msg` at, once `count` have arrived (native and off-thread logs are asynchronous). */
  async function logged(form: Form, msg: string, count: number): Promise<string[]> {
    const names: Record<number, string> = { 20: "debug", 30: "info", 40: "warn", 50: "error" };
    const levels = () => lines.filter((l) => l.plugin === nameOf(form) && l.msg === msg).map((l) => names[l.level] ?? String(l.level));
    for (let i = 0; i < 200 && levels().length < count; i++) await new Promise((r) => setTimeout(r, 10));
    return levels();
  }

  /** Run the same steps on every form; returns each form's results. */
  async function onEach<T>(steps: (p: PluginHandle) => Promise<T>): Promise<Record<Form, T>> {
    const out = {} as Record<Form, T>;
    for (const form of FORMS) out[form] = await steps(handles[form]);
    return out;
  }

  it("all three load, init logs the same line and registers the same callbacks", async () => {
    for (const form of FORMS) {
      expect(handles[form].state).toBe("active");
      expect(await logged(form, "conformance init 0.1.0", 1), form).toEqual(["info"]);
    }
    expect(registry.info(nameOf("component")).engine).toBe("v8");
    expect(registry.info(nameOf("trusted")).engine).toBe("native");
    const callbacks = ["echo", "sum", "fail", "log", "register", "trap", "spin", "grow", "read-file", "emit", "counter", "upper", "metric", "request", "message", "state", "context", "config", "remember", "recall"];
    expect(await onEach(async (p) => p.callbacks)).toEqual({ component: callbacks, trusted: callbacks, untrusted: callbacks });
  });

  it("answer every event with the same statuses", async () => {
    const script = async (p: PluginHandle) => [
      await p.invoke("echo", new Uint8Array(37)),
      await p.invoke("echo"),
      await p.invoke("sum", new Uint8Array([255, 255, 1])),
      await p.invoke("sum", new Uint8Array(70000).fill(255)),
      await p.invoke("fail"),
      await p.invoke("counter"),
      await p.invoke("counter"),
      await p.invoke("register", enc("late-event")),
      await p.invoke("late-event"),
      await p.invoke("register", enc("bad name!")),
      await p.invoke("register", enc("")),
      await p.invoke("grow", new Uint8Array([1, 0, 0, 0])),
      await p.invoke("grow", enc("x")),
      await p.invoke("emit", enc("nobody-listens")),
      await p.invoke("emit", enc("bad name!")),
      await p.invoke("upper", enc("x")),
      await p.invoke("counter"),
    ];
    const expected = [37, 0, 511, 70000 * 255, -7, 1, 2, 0, -100, 1, 1, 0, 1, 0, -1, -100, 3];
    expect(await onEach(script)).toEqual({ component: expected, trusted: expected, untrusted: expected });
  });

  it("log the same messages at the same levels", async () => {
    const text = "two forms: héllo ✓";
    expect(await onEach((p) => p.invoke("log", enc(text)))).toEqual({ component: 0, trusted: 0, untrusted: 0 });
    for (const form of FORMS) expect(await logged(form, text, 4), form).toEqual(["debug", "info", "warn", "error"]);
  });

  it("return the same hook output", async () => {
    const bytes = new Uint8Array(300).map((_, i) => (i * 37) & 0xff);
    const script = async (p: PluginHandle) => {
      const out: unknown[] = [];
      for (const [event, data] of [["echo", enc("abc")], ["echo", new Uint8Array()], ["upper", enc("aBz-é{")], ["upper", bytes], ["fail", enc("x")], ["counter", enc("x")]] as const) {
        const r = await p.hook(event, data);
        out.push(r.ok ? [...r.data] : r.status);
      }
      return out;
    };
    const expected = [[...enc("abc")], [], [...enc("ABZ-é{")], [...bytes.map((c) => (c >= 97 && c <= 122 ? c - 32 : c))], -7, -100];
    expect(await onEach(script)).toEqual({ component: expected, trusted: expected, untrusted: expected });
    // A chain through all three.
    const chain = await registry.runHook("upper", enc("chain-abc"));
    expect(chain.ok && Buffer.from(chain.data).toString()).toBe("CHAIN-ABC");
  });

  it("dispatch and emit reach the other forms alike", async () => {
    const results = await registry.dispatch("echo", new Uint8Array(5));
    expect(results).toEqual(FORMS.map((f) => ({ plugin: nameOf(f), status: 5 })));
    const before = await onEach(async (p) => p.metrics.messagesReceived);
    // Each emits "sum": the two other forms are subscribed.
    expect(await onEach((p) => p.invoke("emit", enc("sum")))).toEqual({ component: 2, trusted: 2, untrusted: 2 });
    for (let i = 0; i < 200; i++) {
      if (FORMS.every((f) => handles[f].metrics.messagesReceived === before[f] + 2)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await onEach(async (p) => p.metrics.messagesReceived - before[FORMS.find((f) => handles[f] === p)!])).toEqual({
      component: 2,
      trusted: 2,
      untrusted: 2,
    });
  });

  it("teardown logs the same line", async () => {
    for (const form of FORMS) await registry.unload(nameOf(form));
    for (const form of FORMS) expect(await logged(form, "conformance teardown", 1), form).toEqual(["info"]);
  });
});
