// The native engine through its Engine interface, for both trust levels:
// init, callbacks, hooks, logging (also from plugin threads), messaging,
// config, metadata, API versions and the seed-000 errors.
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { nativeEngine } from "../src/engines/native/engine.js";
import type { EngineInstance, TrustLevel } from "../src/engines/engine.js";
import {
  ApiVersionMismatch,
  InvalidPluginBinary,
  InvocationFailed,
  PluginNotRunning,
  ResourceCleanupFailed,
} from "../src/contract/errors.js";
import { bytes, fixture, recordingHost, request, until, type RecordingHost } from "./native-helpers.js";

const live: EngineInstance[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((i) => i.dispose()));
});

async function load(name: string, trust: TrustLevel, host: RecordingHost = recordingHost()) {
  const inst = await nativeEngine.load(request(name, trust, host));
  live.push(inst);
  return { inst, host };
}

async function active(trust: TrustLevel, config = "{}") {
  const { inst, host } = await load("basic", trust, recordingHost(config));
  expect(await inst.init("0.1.0", config)).toBe(0);
  return { inst, host };
}

for (const trust of ["trusted", "untrusted"] as const) {
  describe(`native engine, ${trust}`, () => {
    it("runs init, registers callbacks through the host, and answers events", async () => {
      const { inst, host } = await active(trust);
      expect(host.registered).toEqual(expect.arrayContaining(["echo", "sum", "fail", "upper"]));
      expect(host.logs).toContainEqual({ level: "info", message: "basic init" });
      expect(await inst.onEvent("echo", bytes("0123456789abcdef"))).toBe(16);
      expect(await inst.onEvent("echo", new Uint8Array(0))).toBe(0);
      expect(await inst.onEvent("sum", new Uint8Array([1, 2, 250]))).toBe(253);
      expect(await inst.onEvent("fail", bytes("x"))).toBe(-7);
      expect(await inst.onEvent("counter", bytes(""))).toBe(1);
      expect(await inst.onEvent("counter", bytes(""))).toBe(2);
      const big = new Uint8Array(3 << 20).fill(1);
      expect(await inst.onEvent("sum", big)).toBe(3 << 20);
    });

    it("an event nobody registered fails with InvocationFailed", async () => {
      const { inst } = await active(trust);
      const err = await inst.onEvent("nope", bytes("")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvocationFailed);
      expect((err as InvocationFailed).event).toBe("nope");
      // "upper" has only a HookFn: not callable as an event
      await expect(inst.onEvent("upper", bytes(""))).rejects.toBeInstanceOf(InvocationFailed);
    });

    it("logs at every level in order, and from a plugin thread without blocking", async () => {
      const { inst, host } = await active(trust);
      host.logs.length = 0;
      expect(await inst.onEvent("log", bytes("hi"))).toBe(0);
      expect(host.logs).toEqual(["debug", "info", "warn", "error"].map((level) => ({ level, message: "hi" })));
      expect(await inst.onEvent("thread-log", bytes(""))).toBe(0);
      await until(() => host.logs.some((l) => l.message === "from a plugin thread"));
      expect(host.logs.find((l) => l.message === "from a plugin thread")?.level).toBe("warn");
    });

    it("maps register_callback outcomes to PLUGHOST_* codes; validation is the host's", async () => {
      const host = recordingHost("{}", { "no-entry": "denied", full: "limit-reached" });
      const { inst } = await load("basic", trust, host);
      await inst.init("0.1.0", "{}");
      expect(await inst.onEvent("register", bytes("late.event"))).toBe(0);
      expect(await inst.onEvent("late.event", bytes("abc"))).toBe(3);
      expect(await inst.onEvent("register", bytes("bad name!"))).toBe(1);
      expect(await inst.onEvent("register", bytes("full"))).toBe(2);
      expect(await inst.onEvent("register", bytes("no-entry"))).toBe(3);
      await expect(inst.onEvent("no-entry", bytes(""))).rejects.toBeInstanceOf(InvocationFailed);
    });

    it("hooks: a HookFn transforms, a CallbackFn passes data through, hook_output from a callback is used", async () => {
      const { inst } = await active(trust);
      const up = await inst.onHook("upper", bytes("abc-xyz"));
      expect(up.ok && Buffer.from(up.data).toString()).toBe("ABC-XYZ");
      const pass = await inst.onHook("log", bytes("same")); // CallbackFn returning 0
      expect(pass.ok && Buffer.from(pass.data).toString()).toBe("same");
      expect(await inst.onHook("echo", bytes("four"))).toEqual({ ok: false, status: 4 }); // non-zero status fails
      expect(await inst.onHook("fail", bytes("x"))).toEqual({ ok: false, status: -7 });
      const greet = await inst.onHook("greet", bytes("C"));
      expect(greet.ok && Buffer.from(greet.data).toString()).toBe("hello, C!");
      await expect(inst.onHook("nope", bytes(""))).rejects.toBeInstanceOf(InvocationFailed);
    });

    it("emit, send and config reach the host", async () => {
      const config = JSON.stringify({ greeting: "hi", n: 3 });
      const { inst, host } = await active(trust, config);
      expect(await inst.onEvent("emit", bytes("news"))).toBe(2);
      expect(host.emitted).toEqual([{ name: "news", data: "news" }]);
      expect(await inst.onEvent("emit", bytes("forbidden"))).toBe(-3); // -1 - denied
      expect(await inst.onEvent("send", bytes("payload"))).toBe(0);
      expect(host.sent).toEqual([{ target: "other", name: "ping", data: "payload" }]);
      expect(await inst.onEvent("config", bytes(""))).toBe(config.length);
    });

    it("returns init's status (config fail-init) and the plugin sees the packed api_version", async () => {
      const failing = await load("basic", trust, recordingHost('{"fail-init":true}'));
      expect(await failing.inst.init("0.1.0", '{"fail-init":true}')).toBe(-1);
      const refuses = await load("init-fails", trust);
      expect(await refuses.inst.init("0.1.0", "{}")).toBe(42); // major 0 seen by the plugin
      const other = await load("init-fails", trust === "trusted" ? "untrusted" : "trusted");
      expect(await other.inst.init("1.0.0", "{}")).toBe(43); // major 1 seen by the plugin
    });

    it("refuses a plugin whose plugin_api_version has another major, naming both", async () => {
      const { inst } = await load("api-v1", trust);
      const err = await inst.init("0.1.0", "{}").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiVersionMismatch);
      expect((err as ApiVersionMismatch).expected).toBe("0.1.0");
      expect((err as ApiVersionMismatch).actual).toBe("1.0.0");
    });

    it("a library without plugin_init is an InvalidPluginBinary naming the symbol", async () => {
      const err = await nativeEngine.load(request("no-init", trust, recordingHost())).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidPluginBinary);
      expect((err as Error).message).toContain("plugin_init");
      const missing = await nativeEngine
        .load({ ...request("basic", trust, recordingHost()), entryPath: "/nonexistent/x.so" })
        .catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(InvalidPluginBinary);
    });

    it("teardown returns the plugin's status; calls afterwards are refused", async () => {
      const { inst, host } = await active(trust, '{"fail-teardown":true}');
      expect(await inst.teardown()).toBe(5);
      expect(host.logs).toContainEqual({ level: "info", message: "basic teardown" });
      await expect(inst.onEvent("echo", bytes(""))).rejects.toBeInstanceOf(PluginNotRunning);
      await inst.dispose();
      await inst.dispose(); // idempotent
    });

    it("loads exactly the verified bytes it is given, not the file on disk", async () => {
      const host = recordingHost();
      const inst = await nativeEngine.load({
        ...request("basic", trust, host),
        entryPath: fixture("does-not-exist"),
        bytes: new Uint8Array(readFileSync(fixture("basic"))),
      });
      live.push(inst);
      expect(await inst.init("0.1.0", "{}")).toBe(0);
      expect(await inst.onEvent("echo", bytes("four"))).toBe(4);
    });
  });
}

describe("native engine, trusted only", () => {
  it("offers the synchronous fast path and reads the metadata exports", async () => {
    const { inst } = await active("trusted");
    expect(inst.onEventSync?.("echo", bytes("abc"))).toBe(3);
    const hook = inst.onHookSync?.("upper", bytes("q"));
    expect(hook?.ok && Buffer.from(hook.data).toString()).toBe("Q");
    const meta = (inst as unknown as { metadata: { name?: string; version?: string } }).metadata;
    expect(meta).toMatchObject({ name: "basic-native", version: "1.2.3" });
  });

  it("refuses a second in-process load of the same file while the first is loaded", async () => {
    await load("basic", "trusted");
    await expect(nativeEngine.load(request("basic", "trusted", recordingHost()))).rejects.toMatchObject({
      code: "E_CONTEXT_CREATION_FAILED",
    });
  });
});

describe("native engine, cleanup that fails", () => {
  it("a trusted library dlclose cannot unmap (-z nodelete) is ResourceCleanupFailed, and is not loaded in process again", async () => {
    const inst = await nativeEngine.load(request("nodelete", "trusted", recordingHost()));
    expect(await inst.init("0.1.0", "{}")).toBe(0);
    expect(await inst.onEvent("count", bytes(""))).toBe(1);
    expect(await inst.teardown()).toBe(0);
    const err = await inst.dispose().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResourceCleanupFailed);
    expect((err as ResourceCleanupFailed).code).toBe("E_RESOURCE_CLEANUP_FAILED");
    expect((err as ResourceCleanupFailed).plugin).toBe("nodelete");
    expect((err as Error).message).toContain("nodelete.so is still mapped after dlclose");
    await inst.dispose(); // a second dispose has nothing left to do
    // its globals survived: a new in-process load would share them, so it is refused
    await expect(nativeEngine.load(request("nodelete", "trusted", recordingHost()))).rejects.toMatchObject({
      code: "E_CONTEXT_CREATION_FAILED",
    });
    // untrusted, the same library loads in its own process, with fresh globals
    const fresh = await nativeEngine.load(request("nodelete", "untrusted", recordingHost()));
    live.push(fresh);
    expect(await fresh.init("0.1.0", "{}")).toBe(0);
    expect(await fresh.onEvent("count", bytes(""))).toBe(1);
  });

  it("a library that unloads cleanly disposes without error", async () => {
    const inst = await nativeEngine.load(request("api-v1", "trusted", recordingHost()));
    await expect(inst.dispose()).resolves.toBeUndefined();
    // unmapped and forgotten: the same file loads in process again
    const again = await nativeEngine.load(request("api-v1", "trusted", recordingHost()));
    await expect(again.dispose()).resolves.toBeUndefined();
  });
});

describe("native engine, untrusted only", () => {
  it("reads the metadata exports inside the sandbox", async () => {
    const { inst } = await load("basic", "untrusted");
    const info = (inst as unknown as { info: { name?: string; version?: string } }).info;
    expect(info).toMatchObject({ name: "basic-native", version: "1.2.3" });
    expect(inst.onEventSync).toBeUndefined();
  });
});
