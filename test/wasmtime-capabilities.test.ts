// Capabilities on the wasmtime engine: only the WASI interfaces the
// effective set covers are linked; the rest fail the load with
// MissingImportError naming the interface and the capability. Also env
// scoping, stdio routed to the plugin's logger (closed without `stdio`), and
// guest `exit`.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { MissingImportError, PluginExited, PluginTrap, isInstanceFault } from "../src/contract/errors.js";
import { enc, fixtures, load } from "./fixtures/wasmtime/helpers.js";

beforeAll(async () => {
  await fixtures();
}, 60_000);

describe("wasmtime capabilities", () => {
  it("refuses a component importing a clock without `clock`, naming interface and capability", async () => {
    const err = await load("clock").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingImportError);
    const missing = err as MissingImportError;
    expect(missing.imports).toEqual(["wasi:clocks/monotonic-clock@0.2.0"]);
    expect(missing.plugin).toBe("wt-clock");
    expect(missing.message).toMatch(/capability clock/);
  });

  it("links the clock when `clock` is granted", async () => {
    const { instance } = await load("clock", { capabilities: ["clock"] });
    expect(await instance.onEvent("extra", new Uint8Array())).toBe(1);
    await instance.dispose();
  });

  it("links a closed stdout without `stdio`, as v8 does: the load succeeds, every write fails, nothing is logged", async () => {
    const { instance, host } = await load("stdout", { capabilities: ["clock", "random"] });
    // The fixture returns the result's tag: 1 is err(stream-error), on both call paths.
    expect(await instance.onEvent("extra", enc("hello\n"))).toBe(1);
    expect(instance.onEventSync!("extra", enc("again\n"))).toBe(1);
    expect(host.logs).toEqual([]);
    await instance.dispose();
  });

  it("routes stdout to the plugin's logger at info, line by line, on both paths", async () => {
    const { instance, host } = await load("stdout", { capabilities: ["stdio"] });
    expect(await instance.onEvent("extra", enc("hello\nworld\n"))).toBe(0);
    expect(host.logs).toEqual([
      { level: "info", message: "hello" },
      { level: "info", message: "world" },
    ]);
    host.logs = [];
    expect(instance.onEventSync!("extra", enc("no newline"))).toBe(0);
    expect(host.logs).toEqual([{ level: "info", message: "no newline" }]);
    await instance.dispose();
  });

  describe("environment", () => {
    const saved = { ...process.env };
    beforeAll(() => {
      process.env.PLUGHOST_WT_A = "a";
      process.env.PLUGHOST_WT_B = "b";
    });
    afterAll(() => {
      process.env = saved;
    });

    it("shows only the granted variables", async () => {
      const none = await load("env");
      expect(await none.instance.onEvent("extra", new Uint8Array())).toBe(0);
      const one = await load("env", { capabilities: ["env:PLUGHOST_WT_A"] });
      expect(await one.instance.onEvent("extra", new Uint8Array())).toBe(1);
      const prefix = await load("env", { capabilities: ["env:PLUGHOST_WT_*"] });
      expect(await prefix.instance.onEvent("extra", new Uint8Array())).toBe(2);
      for (const l of [none, one, prefix]) await l.instance.dispose();
    });
  });

  it("turns a guest exit into PluginExited for that plugin only", async () => {
    const { instance } = await load("exit");
    const bystander = await load("plugin");
    const err = await instance.onEvent("extra", new Uint8Array()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginExited);
    expect(isInstanceFault(err)).toBe(true);
    expect((err as PluginExited).exitCode).toBe(1);
    expect((err as PluginExited).export).toBe("on-event");
    // The host process and other plugins carry on; the exited instance does not.
    expect(await bystander.instance.onEvent("echo", new Uint8Array(2))).toBe(2);
    await expect(instance.onEvent("echo", new Uint8Array())).rejects.toBe(err);
    await instance.dispose();
    await bystander.instance.dispose();
  });
});
