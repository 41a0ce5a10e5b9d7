// The wasmtime engine through its Engine interface, with the real addon and
// real components (test/fixtures/wasmtime/plugin.wat): lifecycle, both call
// paths, host calls, re-entrancy, errors, the compile cache.
import { describe, it, expect, beforeAll } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { wasmtimeEngine } from "../src/engines/wasmtime/engine.js";
import { addonPath } from "../src/engines/wasmtime/addon.js";
import {
  InvalidPluginBinary,
  PluginNotRunning,
  PluginTrap,
  ReentrancyError,
  isInstanceFault,
} from "../src/contract/errors.js";
import { dec, enc, fixtures, load, RecordingHost } from "./fixtures/wasmtime/helpers.js";

beforeAll(async () => {
  await fixtures();
}, 60_000);

describe("wasmtime engine: lifecycle", () => {
  it("loads, inits, dispatches, runs hooks and tears down", async () => {
    const { instance, host } = await load("plugin");
    expect(await instance.init("0.1.0", "{}")).toBe(0);
    expect(host.registered).toEqual(["echo", "sum", "work", "spin", "trap", "grow", "log", "register", "config", "emit", "counter", "fail", "upper", "extra"]);
    expect(host.messages("info")).toEqual(["init 0.1.0"]);

    expect(await instance.onEvent("echo", new Uint8Array(16))).toBe(16);
    expect(await instance.onEvent("sum", new Uint8Array([1, 2, 3, 250]))).toBe(256);
    expect(await instance.onEvent("fail", new Uint8Array())).toBe(-7);
    expect(await instance.onEvent("no-such-event", new Uint8Array())).toBe(-100);

    const upper = await instance.onHook("upper", enc("hello, World!"));
    expect(upper.ok && dec(upper.data)).toBe("HELLO, WORLD!");
    const echo = await instance.onHook("echo", enc("same"));
    expect(echo.ok && dec(echo.data)).toBe("same");
    expect(await instance.onHook("fail", enc("x"))).toEqual({ ok: false, status: -7 });

    expect(await instance.teardown()).toBe(0);
    expect(host.messages("info")).toEqual(["init 0.1.0", "teardown"]);
    await instance.dispose();
    await instance.dispose();
    await expect(instance.onEvent("echo", new Uint8Array())).rejects.toBeInstanceOf(PluginNotRunning);
    expect(() => instance.onEventSync!("echo", new Uint8Array())).toThrow(PluginNotRunning);
  });

  it("gives the same answers on the synchronous and asynchronous paths, on one instance state", async () => {
    const { instance } = await load("plugin");
    expect(instance.onEventSync!("counter", new Uint8Array())).toBe(1);
    expect(await instance.onEvent("counter", new Uint8Array())).toBe(2);
    expect(instance.onEventSync!("counter", new Uint8Array())).toBe(3);
    expect(instance.onEventSync!("echo", new Uint8Array(16))).toBe(16);
    const hook = instance.onHookSync!("upper", enc("abc"));
    expect(hook.ok && dec(hook.data)).toBe("ABC");
    expect(instance.onHookSync!("other", enc("abc"))).toEqual({ ok: false, status: -100 });
    await instance.dispose();
  });

  it("queues concurrent async calls to one instance and runs them one at a time", async () => {
    const { instance } = await load("plugin");
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => instance.onEvent("counter", new Uint8Array())));
    expect(results).toEqual([1, 2, 3, 4, 5]);
    await instance.dispose();
  });

  it("makes host calls from both paths: register, emit, config, log", async () => {
    const { instance, host } = await load("plugin");
    for (const sync of [true, false]) {
      const call = (event: string, data: Uint8Array) =>
        sync ? Promise.resolve(instance.onEventSync!(event, data)) : instance.onEvent(event, data);
      host.registered = [];
      host.emitted = [];
      host.logs = [];
      expect(await call("register", enc("tick"))).toBe(0);
      expect(host.registered).toEqual(["tick"]);
      host.registerOutcome = "denied";
      expect(await call("register", enc("tock"))).toBe(3);
      host.registerOutcome = "ok";

      expect(await call("emit", enc("news"))).toBe(2);
      expect(host.emitted.map((e) => [e.event, dec(e.data)])).toEqual([["news", "news"]]);
      host.emitOutcome = { ok: false, error: "queue-full" };
      expect(await call("emit", enc("news"))).toBe(-1 - 3);
      host.emitOutcome = { ok: true, value: 2 };

      expect(await call("config", enc("greeting"))).toBe(JSON.stringify("hi").length);
      expect(await call("config", enc("missing"))).toBe(-1);

      expect(await call("log", enc(`from ${sync ? "sync" : "async"}`))).toBe(0);
      expect(host.logs).toEqual([{ level: "info", message: `from ${sync ? "sync" : "async"}` }]);
    }
    await instance.dispose();
  });

  it("refuses a re-entrant call from a host function, on both paths", async () => {
    const host = new RecordingHost();
    const { instance } = await load("plugin", { host });
    const seen: unknown[] = [];
    host.onRegister = () => {
      try {
        instance.onEventSync!("echo", new Uint8Array());
      } catch (err) {
        seen.push(err);
      }
      instance.onEvent("echo", new Uint8Array()).catch((err: unknown) => seen.push(err));
    };
    expect(instance.onEventSync!("register", enc("a"))).toBe(0);
    expect(await instance.onEvent("register", enc("b"))).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(seen).toHaveLength(4);
    for (const err of seen) {
      expect(err).toBeInstanceOf(ReentrancyError);
      expect((err as ReentrancyError).plugin).toBe("wt-plugin");
    }
    // The outer calls were unaffected and the instance still works.
    expect(await instance.onEvent("counter", new Uint8Array())).toBe(1);
    await instance.dispose();
  });

  it("refuses a synchronous call while an asynchronous one is queued or running", async () => {
    const { instance } = await load("plugin");
    const running = instance.onEvent("echo", new Uint8Array(3));
    expect(() => instance.onEventSync!("echo", new Uint8Array())).toThrow(ReentrancyError);
    expect(await running).toBe(3);
    expect(instance.onEventSync!("echo", new Uint8Array(2))).toBe(2);
    await instance.dispose();
  });

  it("turns a host function that throws into a PluginTrap carrying the JS error", async () => {
    const host = new RecordingHost();
    const boom = new Error("host bug");
    host.onRegister = () => {
      throw boom;
    };
    const { instance } = await load("plugin", { host });
    const err = await instance.onEvent("register", enc("x")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginTrap);
    expect((err as PluginTrap).cause).toBe(boom);
    expect((err as PluginTrap).message).toContain("host bug");
    await instance.dispose();
  });
});

describe("wasmtime engine: traps and bad binaries", () => {
  it("maps a trap to PluginTrap naming the plugin and export, then refuses further calls", async () => {
    const { instance } = await load("plugin");
    const err = await instance.onEvent("trap", new Uint8Array()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginTrap);
    expect(isInstanceFault(err)).toBe(true);
    const trap = err as PluginTrap;
    expect(trap.plugin).toBe("wt-plugin");
    expect(trap.export).toBe("on-event");
    expect(trap.code).toBe("E_TRAP");
    expect(trap.message).toMatch(/unreachable/);
    // Further calls do not run: they fail with the fault that ended the instance.
    const after = await instance.onEvent("echo", new Uint8Array()).catch((e: unknown) => e);
    expect(after).toBe(err);
    await instance.dispose();
  });

  it("maps a trap on the synchronous path too", async () => {
    const { instance } = await load("plugin");
    expect(() => instance.onEventSync!("trap", new Uint8Array())).toThrow(PluginTrap);
    await instance.dispose();
  });

  it("maps a stack overflow to PluginTrap, on a worker thread and on the JS thread", async () => {
    const a = await load("plugin");
    const err = await a.instance.onEvent("deep", new Uint8Array()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginTrap);
    expect((err as Error).message).toMatch(/stack/i);
    const b = await load("plugin");
    expect(() => b.instance.onEventSync!("deep", new Uint8Array())).toThrow(/stack/i);
    // The host thread survived: the JS thread still runs wasm.
    const c = await load("plugin");
    expect(c.instance.onEventSync!("echo", new Uint8Array(3))).toBe(3);
    for (const l of [a, b, c]) await l.instance.dispose();
  });

  it("rejects bytes that are not a component with InvalidPluginBinary", async () => {
    const host = new RecordingHost();
    const request = { plugin: "junk", entryPath: "/x/junk.wasm", capabilities: [], limits: {}, host };
    const junk = await wasmtimeEngine.load({ ...request, bytes: enc("not wasm at all") }).catch((e: unknown) => e);
    expect(junk).toBeInstanceOf(InvalidPluginBinary);
    expect((junk as InvalidPluginBinary).file).toBe("/x/junk.wasm");
    const core = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const coreErr = await wasmtimeEngine.load({ ...request, bytes: core }).catch((e: unknown) => e);
    expect(coreErr).toBeInstanceOf(InvalidPluginBinary);
    expect((coreErr as Error).message).toMatch(/core WebAssembly module, not a component/);
    const missing = await wasmtimeEngine.load({ ...request, entryPath: "/no/such/plugin.wasm" }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(InvalidPluginBinary);
  });
});

describe("wasmtime engine: compile cache", () => {
  it("writes the compiled artifact under cacheDir, and a new process loads it from disk", async () => {
    const cacheDir = mkdtempSync(path.join(os.tmpdir(), "plughost-wt-cache-"));
    const { instance } = await load("plugin", { cacheDir });
    await instance.dispose();
    const files = readdirSync(path.join(cacheDir, "wasmtime"));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]{64}\.cwasm$/);
    expect(statSync(path.join(cacheDir, "wasmtime", files[0]!)).size).toBeGreaterThan(1000);

    // A fresh process has an empty in-memory cache, so it must hit the disk
    // (with the cache's key: the addon trusts only artefacts sealed with it).
    const component = (await fixtures()).plugin;
    const script = `
      const addon = require(${JSON.stringify(addonPath())});
      const fs = require("node:fs");
      const bytes = fs.readFileSync(${JSON.stringify(component)});
      const key = fs.readFileSync(${JSON.stringify(path.join(cacheDir, "cache.key"))});
      addon.compile(bytes, ${JSON.stringify(cacheDir)}, key).then((c) => console.log(c.source));`;
    expect(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }).trim()).toBe("disk");
    // And the in-memory cache answers within this process.
    expect(readFileSync(component).length).toBeGreaterThan(0);
  });
});
