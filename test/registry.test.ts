import { mkdtempSync, writeFileSync, readFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  AbiViolation,
  ApiVersionMismatch,
  CapabilityDenied,
  IllegalStateTransition,
  InitializationFailed,
  InvalidCallbackName,
  InvalidPluginBinary,
  InvocationFailed,
  ManifestError,
  MissingImportError,
  PluginAlreadyLoaded,
  PluginExited,
  PluginNotFound,
  PluginNotRunning,
  PluginRegistry,
  PluginTrap,
  ReentrancyError,
  TeardownFailed,
  PLUGIN_STATES,
  canTransition,
  type PluginState,
} from "../src/index.js";
import { Lifecycle } from "../src/runtime/lifecycle.js";
import { v8Engine } from "../src/engines/v8/engine.js";
import type { HostCalls } from "../src/engines/engine.js";
import { copyPlugin, dec, enc, pluginDir, root, silentLogger } from "./helpers/plugins.js";

const HELLO = "examples/c/hello";
const TRANSFORM = "examples/c/transform";
const PROBE = "test/fixtures/c/probe";

let registry: PluginRegistry;
const newRegistry = (options: ConstructorParameters<typeof PluginRegistry>[0] = {}) =>
  (registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, ...options }));

afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
});

describe("registry operations", () => {
  it("loads, lists, queries, invokes, dispatches and unloads", async () => {
    newRegistry();
    const hello = await registry.load(pluginDir(HELLO));
    expect(hello.name).toBe("hello-c");
    expect(hello.version).toBe("0.1.0");
    expect(hello.state).toBe("active");
    expect(hello.callbacks).toEqual(["greet"]);
    await registry.load(pluginDir(TRANSFORM));

    expect(registry.count).toBe(2);
    expect(registry.totalCount).toBe(2);
    expect(registry.isLoaded("hello-c")).toBe(true);
    expect(registry.has("transform-c")).toBe(true);
    expect(registry.listLoaded().map((p) => p.name).sort()).toEqual(["hello-c", "transform-c"]);
    expect(registry.listAvailable()).toEqual([]);
    const info = registry.info("transform-c");
    expect(info).toMatchObject({ name: "transform-c", kind: "component", engine: "v8", state: "active", callbacks: ["transform"] });

    expect(await registry.invoke("hello-c", "greet", enc("world"))).toBe(0);
    const results = await registry.dispatch("greet", enc("you"));
    expect(results).toEqual([{ plugin: "hello-c", status: 0 }]);
    const hooked = await registry.hook("hello-c", "greet", enc("there"));
    expect(hooked.ok && dec(hooked.data)).toBe("hello, there!");
    const chain = await registry.runHook("transform", enc("Make Me Loud"));
    expect(chain.ok).toBe(true);
    expect(dec(chain.data)).toBe("MAKE ME LOUD");
    expect(registry.get("hello-c").invokeSync("greet", enc("sync"))).toBe(0);

    await registry.unload("hello-c");
    expect(registry.isLoaded("hello-c")).toBe(false);
    expect(registry.info("hello-c").state).toBe("unloaded");
    expect(registry.listAvailable().map((p) => p.name)).toEqual(["hello-c"]);
    expect(registry.metrics("hello-c").calls).toBeGreaterThanOrEqual(4);

    await registry.unloadAll();
    expect(registry.count).toBe(0);
    expect(registry.totalCount).toBe(2);
  });

  it("discovers and scans without loading, then loads by name", async () => {
    newRegistry();
    const found = await registry.scanDirectory(path.join(root, "examples/c"));
    expect(found).toBeGreaterThanOrEqual(2);
    expect(registry.count).toBe(0);
    expect(registry.listAvailable().map((p) => p.name)).toEqual(expect.arrayContaining(["hello-c", "transform-c"]));
    const info = await registry.discover(pluginDir(PROBE));
    expect(info.state).toBe("unloaded");
    const probe = await registry.loadByName("probe");
    expect(probe.state).toBe("active");
    await expect(registry.loadByName("nope")).rejects.toBeInstanceOf(PluginNotFound);
  });

  it("refuses a second load of the same name, unknown names and unregistered events", async () => {
    newRegistry();
    await registry.load(pluginDir(HELLO));
    await expect(registry.load(pluginDir(HELLO))).rejects.toBeInstanceOf(PluginAlreadyLoaded);
    expect(() => registry.get("missing")).toThrow(PluginNotFound);
    await expect(registry.invoke("hello-c", "not-registered")).rejects.toBeInstanceOf(InvocationFailed);
    await expect(registry.dispatch("bad name!")).rejects.toBeInstanceOf(InvalidCallbackName);
    expect(await registry.dispatch("nobody-listens")).toEqual([]);
  });

  it("orders hooks by priority and chains their data", async () => {
    newRegistry();
    const low = copyPlugin(TRANSFORM, (t) => t.replace('name = "transform-c"', 'name = "upper-low"').replace("priority = 100", "priority = 10"));
    await registry.load(low);
    await registry.load(pluginDir(TRANSFORM));
    expect(registry.subscribers("transform")).toEqual(["transform-c", "upper-low"]);
    const chain = await registry.runHook("transform", enc("abc"));
    expect(dec(chain.data)).toBe("ABC");
  });
});

describe("lifecycle states", () => {
  const legal: Record<PluginState, PluginState[]> = {
    unloaded: ["loading", "error"],
    loading: ["loaded", "error"],
    loaded: ["initializing", "unloading", "error"],
    initializing: ["active", "error"],
    active: ["suspended", "stopping", "error"],
    suspended: ["active", "stopping", "error"],
    stopping: ["stopped", "error"],
    stopped: ["initializing", "unloading", "error"],
    unloading: ["unloaded", "error"],
    error: ["loading", "unloading", "error"],
  };

  it("allows exactly the legal transitions", () => {
    for (const from of PLUGIN_STATES) {
      for (const to of PLUGIN_STATES) {
        expect(canTransition(from, to), `${from} -> ${to}`).toBe(legal[from].includes(to));
      }
    }
  });

  it("throws IllegalStateTransition naming both states", () => {
    const lc = new Lifecycle("p");
    expect(() => lc.to("active")).toThrow(IllegalStateTransition);
    lc.to("loading");
    try {
      lc.to("stopped");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(IllegalStateTransition);
      expect((err as IllegalStateTransition).from).toBe("loading");
      expect((err as IllegalStateTransition).to).toBe("stopped");
      expect((err as Error).message).toContain("[p]");
    }
  });

  it("walks a plugin through load, suspend, resume and unload, refusing calls when not active", async () => {
    newRegistry();
    const seen: string[] = [];
    registry.on("state", (e) => seen.push(`${e.from}>${e.to}`));
    const probe = await registry.load(pluginDir(PROBE));
    registry.suspend("probe");
    expect(probe.state).toBe("suspended");
    await expect(probe.invoke("ok")).rejects.toBeInstanceOf(PluginNotRunning);
    expect(() => probe.invokeSync("ok")).toThrow(PluginNotRunning);
    expect(await registry.dispatch("ok")).toEqual([]);
    expect(() => registry.suspend("probe")).toThrow(IllegalStateTransition);
    registry.resume("probe");
    expect(await probe.invoke("ok")).toBe(42);
    await registry.unload("probe");
    await expect(probe.invoke("ok")).rejects.toBeInstanceOf(PluginNotRunning);
    expect(() => registry.resume("probe")).toThrow(IllegalStateTransition);
    expect(seen).toEqual([
      "unloaded>loading",
      "loading>loaded",
      "loaded>initializing",
      "initializing>active",
      "active>suspended",
      "suspended>active",
      "active>stopping",
      "stopping>stopped",
      "stopped>unloading",
      "unloading>unloaded",
    ]);
  });

  it("reports a failing init as InitializationFailed and leaves the plugin unloaded", async () => {
    newRegistry({ config: { probe: { "fail-init": true } } });
    const err = await registry.load(pluginDir(PROBE)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InitializationFailed);
    expect((err as InitializationFailed).status).toBe(-5);
    expect((err as InitializationFailed).plugin).toBe("probe");
    expect(registry.info("probe").state).toBe("unloaded");
  });

  it("reports a failing teardown as TeardownFailed and still unloads", async () => {
    newRegistry({ config: { probe: { "fail-teardown": true } } });
    await registry.load(pluginDir(PROBE));
    const err = await registry.unload("probe").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TeardownFailed);
    expect((err as TeardownFailed).status).toBe(9);
    expect(registry.info("probe").state).toBe("unloaded");
  });
});

describe("faults", () => {
  it("turns a trap into PluginTrap, discards the instance and keeps other plugins answering", async () => {
    newRegistry();
    await registry.load(pluginDir(HELLO));
    const probe = await registry.load(pluginDir(PROBE));
    expect(await probe.invoke("count")).toBe(1);
    expect(await probe.invoke("count")).toBe(2);
    const err = await probe.invoke("trap").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginTrap);
    expect((err as PluginTrap).plugin).toBe("probe");
    expect((err as PluginTrap).export).toContain("on-event");
    expect(await registry.invoke("hello-c", "greet", enc("still here"))).toBe(0);
    // The instance was discarded and re-instantiated: state starts again.
    expect(await probe.invoke("count")).toBe(1);
    expect(registry.violationCount("probe")).toBe(1);
    expect(registry.metrics("probe")).toMatchObject({ faults: 1, restarts: 1 });
  });

  it("counts one fault when calls already queued on the trapped instance fail with it", async () => {
    newRegistry();
    const probe = await registry.load(pluginDir(PROBE));
    // Issued together: the trap poisons the instance, and the calls queued behind it meet that fault.
    const results = await Promise.allSettled([probe.invoke("trap"), probe.invoke("count"), probe.invoke("count")]);
    expect(results[0]).toMatchObject({ status: "rejected", reason: expect.any(PluginTrap) });
    expect(registry.violationCount("probe")).toBe(1);
    expect(registry.metrics("probe")).toMatchObject({ faults: 1 });
    // One replacement instance, not discarded by the later failures: it answers with fresh state.
    expect(await probe.invoke("count")).toBeGreaterThanOrEqual(1);
    expect(probe.state).toBe("active");
    expect(registry.metrics("probe")).toMatchObject({ faults: 1, restarts: 1 });
  });

  it("re-instantiates from the bytes it verified at load, not from an entry file changed since", async () => {
    newRegistry();
    const dir = copyPlugin(PROBE);
    const probe = await registry.load(dir);
    writeFileSync(path.join(dir, "plugin.wasm"), readFileSync(path.join(root, HELLO, "plugin.wasm")));
    const restarted = new Promise((r) => registry.once("restarted", r));
    await expect(probe.invoke("trap")).rejects.toBeInstanceOf(PluginTrap);
    await restarted;
    // Still the probe (hello registers no "count"): the swapped file was never compiled.
    expect(await probe.invoke("count")).toBe(1);
    expect(probe.callbacks).toContain("trap");
  });

  it("turns a guest exit() into PluginExited, and the host carries on", async () => {
    newRegistry();
    const probe = await registry.load(pluginDir(PROBE));
    const err = await probe.invoke("exit").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginExited);
    // wasi:cli/exit carries only ok/err, so the preview1 adapter maps exit(3) to err: code 1.
    expect((err as PluginExited).exitCode).toBe(1);
    expect((err as PluginExited).plugin).toBe("probe");
    expect(await probe.invoke("ok")).toBe(42);
  });

  it("refuses re-entrant calls into one instance", async () => {
    let instance: Awaited<ReturnType<typeof v8Engine.load>> | undefined;
    let reentry: unknown;
    const host: HostCalls = {
      log: () => {
        try {
          instance!.onEventSync!("ok", new Uint8Array(0));
        } catch (err) {
          reentry = err;
        }
      },
      registerCallback: () => "ok",
      emit: () => ({ ok: true, value: 0 }),
      send: () => ({ ok: true, value: undefined }),
      getConfig: () => "{}",
      getConfigValue: () => undefined,
    };
    instance = await v8Engine.load({
      plugin: "probe",
      entryPath: path.join(pluginDir(PROBE), "plugin.wasm"),
      capabilities: [],
      limits: {},
      host,
    });
    expect(await instance.init("0.1.0", "{}")).toBe(0);
    expect(instance.onEventSync!("log", new Uint8Array(0))).toBe(0);
    expect(reentry).toBeInstanceOf(ReentrancyError);
    // The refused re-entry did not poison the instance.
    expect(instance.onEventSync!("ok", new Uint8Array(0))).toBe(42);
    await instance.dispose();
  });

  it("bounds-checks what a guest returns and passes to imports", async () => {
    newRegistry();
    const bad = await registry.load(pluginDir("test/fixtures/c/bad-abi"));
    for (const [call, pattern] of [
      [() => bad.hook("oob-hook"), /outside the guest's .*memory/],
      [() => bad.hook("bad-tag"), /discriminant 7/],
      [() => bad.invoke("bad-utf8-log"), /not valid UTF-8/],
      [() => bad.invoke("oob-log"), /outside the guest's .*memory/],
    ] as const) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AbiViolation);
      expect((err as Error).message).toMatch(pattern);
      expect((err as AbiViolation).plugin).toBe("bad-abi");
    }
  });
});

describe("host calls", () => {
  it("validates register-callback names and caps the number of callbacks", async () => {
    newRegistry({ hostCalls: { maxCallbacks: 12 } });
    const probe = await registry.load(pluginDir(PROBE));
    expect(probe.callbacks).toHaveLength(10);
    expect(await probe.invoke("register", enc("bad name!\0"))).toBe(1);
    expect(await probe.invoke("register", enc(`${"x".repeat(129)}\0`))).toBe(1);
    expect(await probe.invoke("register", enc("\0"))).toBe(1);
    expect(await probe.invoke("register", enc(`${"y".repeat(128)}\0`))).toBe(0);
    expect(await probe.invoke("register", enc("a.b:c/d-e_f\0"))).toBe(0);
    expect(await probe.invoke("register", enc("one-too-many\0"))).toBe(2);
    expect(probe.callbacks).toContain("a.b:c/d-e_f");
  });

  it("routes emit through the registry to other subscribers, after the call returns", async () => {
    newRegistry();
    const a = await registry.load(pluginDir(PROBE));
    const bDir = copyPlugin(PROBE, (t) => t.replace('name = "probe"', 'name = "probe-b"'));
    const b = await registry.load(bDir);
    expect(await b.invoke("register", enc("ping\0"))).toBe(0);
    expect(await a.invoke("emit", enc("hi"))).toBe(1);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(registry.metrics("probe-b").messagesReceived).toBe(1);
    expect(registry.metrics("probe").messagesSent).toBe(1);
  });

  it("rate-limits a log flood and keeps the heap flat over a million logging dispatches", async () => {
    newRegistry();
    const probe = await registry.load(pluginDir(PROBE));
    const data = new Uint8Array(16);
    for (let i = 0; i < 50_000; i++) probe.invokeSync("log", data);
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, "run vitest with --expose-gc (vitest.config.ts does)").toBeTypeOf("function");
    gc!();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) probe.invokeSync("log", data);
    gc!();
    const grown = process.memoryUsage().heapUsed - before;
    expect(grown).toBeLessThan(4 * 1024 * 1024);
    const m = registry.metrics("probe");
    expect(m.logs + m.logsDropped).toBe(1_050_000);
    expect(m.logsDropped).toBeGreaterThan(900_000);
  });
});

describe("bad input", () => {
  const dirWith = (bytes: Uint8Array | string, manifest = 'name = "bad"\nversion = "1.0.0"\napi-version = "^0.1.0"\nentry = "plugin.wasm"\n') => {
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-bad-"));
    writeFileSync(path.join(dir, "plugin.wasm"), bytes);
    writeFileSync(path.join(dir, "plugin.toml"), manifest);
    return dir;
  };
  const loadError = async (dir: string) => {
    newRegistry();
    const err = await registry.load(dir).catch((e: unknown) => e);
    expect(registry.isLoaded("bad")).toBe(false);
    return err as Error;
  };

  it("a non-wasm file", async () => {
    const err = await loadError(dirWith("#!/bin/sh\necho not wasm\n"));
    expect(err).toBeInstanceOf(InvalidPluginBinary);
    expect(err.message).toMatch(/plugin\.wasm: not a WebAssembly binary/);
    expect((err as InvalidPluginBinary).plugin).toBe("bad");
  });

  it("a truncated component", async () => {
    const full = readFileSync(path.join(pluginDir(HELLO), "plugin.wasm"));
    const err = await loadError(dirWith(full.subarray(0, Math.floor(full.length / 2))));
    expect(err).toBeInstanceOf(InvalidPluginBinary);
    expect(err.message).toMatch(/plugin\.wasm: not a valid component/);
  });

  it("a core module given as a component", async () => {
    const core = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const err = await loadError(dirWith(core));
    expect(err).toBeInstanceOf(InvalidPluginBinary);
    expect(err.message).toMatch(/core WebAssembly module, not a component/);
  });

  it("a component of another world", async () => {
    const { parse, componentEmbed, componentNew } = await import("@bytecodealliance/jco-transpile/wasm-tools");
    const core = await parse('(module (func (export "run") (result i32) i32.const 1) (memory (export "memory") 1))');
    const witSource = "package test:other@1.0.0;\nworld other {\n  export run: func() -> s32;\n}\n";
    const component = await componentNew(await componentEmbed({ binary: core, witSource, world: "other" }));
    const err = await loadError(dirWith(component));
    expect(err).toBeInstanceOf(InvalidPluginBinary);
    expect(err.message).toMatch(/component of another world/);
    expect(err.message).toMatch(/plughost:plugin\/guest/);
  });

  it("a component built against another major of the contract", async () => {
    const { parse, componentEmbed, componentNew } = await import("@bytecodealliance/jco-transpile/wasm-tools");
    const wit = readFileSync(path.join(root, "wit/plugin.wit"), "utf8").replace("plughost:plugin@0.1.0", "plughost:plugin@0.2.0");
    const core = await parse(`(module
      (memory (export "memory") 1)
      (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
      (func (export "plughost:plugin/guest@0.2.0#init") (param i32 i32 i32 i32) (result i32) i32.const 0)
      (func (export "plughost:plugin/guest@0.2.0#teardown") (result i32) i32.const 0)
      (func (export "plughost:plugin/guest@0.2.0#on-event") (param i32 i32 i32 i32) (result i32) i32.const 0)
      (func (export "plughost:plugin/guest@0.2.0#on-hook") (param i32 i32 i32 i32) (result i32) i32.const 0))`);
    const component = await componentNew(await componentEmbed({ binary: core, witSource: wit, world: "plugin" }));
    const err = await loadError(dirWith(component));
    expect(err).toBeInstanceOf(ApiVersionMismatch);
    expect(err.message).toContain("0.1.0");
    expect(err.message).toContain("0.2.0");
  });

  it("a manifest whose entry is missing", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-bad-"));
    writeFileSync(path.join(dir, "plugin.toml"), 'name = "bad"\nversion = "1.0.0"\napi-version = "^0.1.0"\nentry = "gone.wasm"\n');
    const err = await loadError(dir);
    expect(err).toBeInstanceOf(ManifestError);
    expect(err.message).toContain(path.join(dir, "plugin.toml"));
    expect(err.message).toMatch(/\/entry/);
    expect(err.message).toMatch(/gone\.wasm/);
  });
});

describe("capabilities and the import check", () => {
  it("fails the load when a declared capability is not granted, naming it", async () => {
    newRegistry();
    const err = await registry.load(pluginDir("test/fixtures/c/random-user")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapabilityDenied);
    expect((err as CapabilityDenied).capability).toBe("random");
  });

  it("refuses a component importing an interface the effective set does not cover, naming it", async () => {
    newRegistry({ grants: ["random"] });
    const dir = copyPlugin("test/fixtures/c/random-user", (t) => t.replace('capabilities = ["random"]', "capabilities = []"));
    const err = await registry.load(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingImportError);
    expect((err as MissingImportError).imports.join(" ")).toMatch(/wasi:random\//);
    expect((err as Error).message).toMatch(/grant the capability random/);
  });

  it("loads and runs once the capability is declared and granted", async () => {
    newRegistry({ grants: ["random"] });
    const p = await registry.load(pluginDir("test/fixtures/c/random-user"));
    const roll = await p.invoke("roll");
    expect(roll).toBeGreaterThanOrEqual(0);
    expect(roll).toBeLessThan(128);
  });
});

describe("plugin directory layout", () => {
  it("accepts plugin.json as well as plugin.toml", async () => {
    newRegistry();
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-json-"));
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "plugin.wasm"), readFileSync(path.join(pluginDir(HELLO), "plugin.wasm")));
    writeFileSync(
      path.join(dir, "plugin.json"),
      JSON.stringify({ name: "hello-json", version: "2.0.0", "api-version": "^0.1.0", entry: "plugin.wasm" }),
    );
    const p = await registry.load(dir);
    expect(p.version).toBe("2.0.0");
    expect(await p.invoke("greet", enc("json"))).toBe(0);
  });
});
