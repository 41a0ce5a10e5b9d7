// Go SDK details beyond the examples, on a test plugin built by the set-up
// (guest-sdks/go/testdata/stdio, scripts/setup/33-guests-go.mjs): fmt/println reach the plugin's log without
// wasi:filesystem, time.Sleep works, config reads.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Writable } from "node:stream";
import { pino } from "pino";
import { componentWit } from "@bytecodealliance/jco-transpile/wasm-tools";
import { PluginRegistry, type PluginHandle } from "../src/runtime/registry.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dir = path.join(root, "guest-sdks", "go", "testdata", "stdio");
const enc = (s: string) => new TextEncoder().encode(s);

describe("Go SDK: stdio, sleep and config (testdata/stdio)", () => {
  const logs: { level: number; msg: string }[] = [];
  let reg: PluginRegistry;
  let p: PluginHandle;
  beforeAll(async () => {
    // Built once by the set-up: other test files load it too, so rebuilding here would race them.
    expect(existsSync(path.join(dir, "plugin.wasm")), "run node scripts/setup.mjs (npm test does)").toBe(true);
    const sink = new Writable({
      write(chunk: Buffer, _e, done) {
        for (const line of chunk.toString().split("\n")) if (line) logs.push(JSON.parse(line));
        done();
      },
    });
    reg = new PluginRegistry({
      cacheDir: false,
      grants: ["stdio", "clock", "random"],
      logger: pino({ level: "debug" }, sink),
      config: { "stdio-go": { name: "gopher", n: 12 } },
    });
    p = await reg.load(dir);
  }, 120_000);
  afterAll(() => reg?.unloadAll());

  it("fmt and os pull in no wasi:filesystem", async () => {
    const wit = await componentWit(readFileSync(path.join(dir, "plugin.wasm")));
    expect(wit).not.toMatch(/wasi:filesystem/);
  });

  it("stdout and stderr writes become log records (info, warn)", async () => {
    expect(await p.invoke("print", enc("x"))).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    const got = logs.filter((l) => /^(to std|from println)/.test(l.msg)).map((l) => [l.level, l.msg]);
    expect(got).toEqual([[30, "to stdout: x"], [40, "to stderr"], [40, "from println"]]);
  });

  it("time.Sleep waits on the clock", async () => {
    expect(await p.invoke("sleep")).toBeGreaterThanOrEqual(20);
  });

  it("reads its config", async () => {
    expect(await p.invoke("config", enc("name"))).toBe('"gopher"'.length);
    expect(await p.invoke("config", enc("missing"))).toBe(-1);
    const r = await p.hook("config");
    expect(r.ok && JSON.parse(new TextDecoder().decode(r.data))).toEqual({ name: "gopher", n: 12 });
  });
});
