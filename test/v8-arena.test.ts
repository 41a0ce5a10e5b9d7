// The v8 engine writes on-event and on-hook arguments straight into the C
// SDK's argument arena (guest-sdks/c/src/plughost_component.c,
// `plughost-c-sdk-arena`) instead of calling cabi_realloc once per argument.
// Three real C plugins built by the set-up: arena-honest (the SDK's own
// layout), arena-liar (a layout pointing outside its memory) and
// arena-liar-trap (a layout call that traps); the honest and the lying one
// have the same callbacks, so their calls must cost the same fuel.
import { afterEach, describe, expect, it } from "vitest";
import { PluginRegistry } from "../src/index.js";
import { ContextCreationFailed } from "../src/contract/errors.js";
import { dec, enc, pluginDir, silentLogger } from "./helpers/plugins.js";

const MODES = [
  { name: "v8 in-process", options: { isolation: "in-process" as const } },
  { name: "v8 worker", options: { isolation: "worker" as const } },
];

let registry: PluginRegistry | undefined;
afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
  registry = undefined;
});

function newRegistry(options: object): PluginRegistry {
  registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, engine: "v8", defaultLimits: { fuel: 10_000_000 }, ...options });
  return registry;
}

describe.each(MODES)("the C SDK's argument arena ($name)", ({ options }) => {
  it("arguments placed in the arena arrive intact, for events, hooks and payloads too large for it", async () => {
    const r = newRegistry(options);
    const p = await r.load(pluginDir("test/fixtures/c/arena-honest"));
    for (const size of [0, 1, 16, 4000, 4096, 100_000]) {
      const data = new Uint8Array(size).map((_, i) => (i * 7 + 3) & 0xff);
      let sum = 0;
      data.forEach((b, i) => (sum = (sum + b * (i + 1)) >>> 0));
      expect(await p.invoke("echo", data)).toBe(size);
      expect(await p.invoke("sum", data)).toBe(sum & 0x7fffffff);
      const out = await p.hook("pass", data); // a callback that returns 0 passes its input through as a hook
      expect(out.ok && Buffer.from(out.data).equals(Buffer.from(data))).toBe(true);
    }
    const outcome = await r.runHook("pass", enc("through the chain"));
    expect(outcome.ok && dec(outcome.data)).toBe("through the chain");
  });

  it("a call costs the same fuel through the arena as through cabi_realloc", async () => {
    const r = newRegistry(options);
    const honest = await r.load(pluginDir("test/fixtures/c/arena-honest"));
    const liar = await r.load(pluginDir("test/fixtures/c/arena-liar")); // its lie makes the host use cabi_realloc
    for (const data of [new Uint8Array(0), enc("x"), new Uint8Array(16), new Uint8Array(3000)]) {
      await honest.invoke("echo", data);
      await liar.invoke("echo", data);
      const arenaFuel = r.metrics("arena-honest").lastCallFuel;
      const reallocFuel = r.metrics("arena-liar").lastCallFuel;
      expect(arenaFuel).toBeGreaterThan(0);
      expect(arenaFuel).toBe(reallocFuel);
    }
    expect(r.metrics("arena-honest").fuelUsed).toBeGreaterThan(0);
  });

  it("a hook chain's step costs the same fuel through the arena as through cabi_realloc, and passes its input on intact", async () => {
    const r = newRegistry(options);
    await r.load(pluginDir("test/fixtures/c/arena-honest"));
    await r.load(pluginDir("test/fixtures/c/arena-liar"));
    for (const data of [new Uint8Array(0), enc("x"), new Uint8Array(16).fill(5), new Uint8Array(200).map((_, i) => i), new Uint8Array(3000).fill(9)]) {
      // Both pass their input through: the honest one from its arena, where the host placed it.
      const outcome = await r.runHook("pass", data);
      expect(outcome.ok && Buffer.from(outcome.data).equals(Buffer.from(data))).toBe(true);
      const arenaFuel = r.metrics("arena-honest").lastCallFuel;
      expect(arenaFuel).toBeGreaterThan(0);
      expect(arenaFuel).toBe(r.metrics("arena-liar").lastCallFuel);
    }
  });

  it("a layout that points outside the guest's memory is ignored: the plugin loads and answers", async () => {
    const r = newRegistry(options);
    const p = await r.load(pluginDir("test/fixtures/c/arena-liar"));
    expect(await p.invoke("echo", new Uint8Array(16))).toBe(16);
    expect(await p.invoke("sum", enc("ab"))).toBe(97 + 98 * 2);
    const out = await p.hook("pass", enc("abc"));
    expect(out.ok && dec(out.data)).toBe("abc");
    expect(r.violationCount("arena-liar")).toBe(0);
  });

  it("a layout call that traps fails the load with a typed error; the host and other plugins carry on", async () => {
    const r = newRegistry(options);
    const other = await r.load(pluginDir("test/fixtures/c/arena-honest"));
    const err = await r.load(pluginDir("test/fixtures/c/arena-liar-trap")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ContextCreationFailed);
    expect(err).toMatchObject({ plugin: "arena-liar-trap" });
    expect((err as Error).message).toMatch(/arena/);
    expect(await other.invoke("echo", enc("still here"))).toBe(10);
  });
});
