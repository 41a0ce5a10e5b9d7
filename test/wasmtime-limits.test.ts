// Limits on the wasmtime engine, with the real addon: fuel (per call,
// lifetime, counting), deadlines with a responsive event loop, the memory
// cap, and calls to different plugins running at the same time.
import { describe, it, expect, beforeAll } from "vitest";
import {
  DeadlineExceeded,
  FuelExhausted,
  MemoryLimitExceeded,
  PluginTrap,
  isInstanceFault,
} from "../src/contract/errors.js";
import { fixtures, load, u32 } from "./fixtures/wasmtime/helpers.js";

beforeAll(async () => {
  await fixtures();
}, 60_000);

describe("wasmtime limits: fuel", () => {
  it("stops an infinite loop with FuelExhausted naming the budget, and the instance is then unusable", async () => {
    const { instance } = await load("plugin", { limits: { fuel: 1_000_000 } });
    expect(await instance.onEvent("echo", new Uint8Array(4))).toBe(4);
    const err = await instance.onEvent("spin", new Uint8Array()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FuelExhausted);
    expect(isInstanceFault(err)).toBe(true);
    expect((err as FuelExhausted).budget).toBe(1_000_000);
    expect((err as FuelExhausted).export).toBe("on-event");
    expect((err as FuelExhausted).plugin).toBe("wt-plugin");
    expect(instance.lastCallFuel!()).toBe(1_000_000);
    // Unusable: later calls fail with the same fault without running.
    await expect(instance.onEvent("echo", new Uint8Array())).rejects.toBe(err);
    await instance.dispose();
  });

  it("stops an infinite loop on the synchronous path too", async () => {
    const { instance } = await load("plugin", { limits: { fuel: 100_000 } });
    expect(() => instance.onEventSync!("spin", new Uint8Array())).toThrow(FuelExhausted);
    await instance.dispose();
  });

  it("counts fuel in DESIGN.md units: the byte-sum loop costs exactly 16 per byte", async () => {
    const { instance } = await load("plugin", { limits: { fuel: 10_000_000 } });
    await instance.onEvent("sum", new Uint8Array(1000));
    const small = instance.lastCallFuel!();
    instance.onEventSync!("sum", new Uint8Array(3000));
    const large = instance.lastCallFuel!();
    expect(large - small).toBe(16 * 2000);
    // Fixed cost around the loop: dispatch on the event name, cabi_realloc, return.
    expect(small - 16 * 1000).toBeGreaterThan(0);
    expect(small - 16 * 1000).toBeLessThan(1000);
    await instance.dispose();
  });

  it("counts fuel when unmetered, too", async () => {
    const { instance } = await load("plugin");
    await instance.onEvent("sum", new Uint8Array(100));
    expect(instance.lastCallFuel!()).toBeGreaterThan(1600);
    await instance.dispose();
  });

  it("enforces a lifetime budget across calls", async () => {
    const { instance } = await load("plugin", { limits: { fuel: 1_000_000, fuelLifetime: 60_000 } });
    const sum = () => instance.onEvent("sum", new Uint8Array(1000));
    // Instantiation spends a little; each call about 16.2k.
    expect(await sum()).toBe(0);
    expect(await sum()).toBe(0);
    expect(await sum()).toBe(0);
    const err = await sum().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FuelExhausted);
    expect((err as FuelExhausted).budget).toBe(60_000);
    await instance.dispose();
  });
});

describe("wasmtime limits: deadline", () => {
  it("stops a spinning call with DeadlineExceeded while the event loop keeps ticking", async () => {
    const { instance } = await load("plugin", { limits: { deadlineMs: 300 } });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const started = performance.now();
    let err: unknown;
    try {
      err = await instance.onEvent("spin", new Uint8Array()).catch((e: unknown) => e);
      const elapsed = performance.now() - started;
      expect(err).toBeInstanceOf(DeadlineExceeded);
      expect((err as DeadlineExceeded).deadlineMs).toBe(300);
      expect((err as DeadlineExceeded).export).toBe("on-event");
      expect(elapsed).toBeGreaterThanOrEqual(295);
      // The JS thread was free the whole time: the interval ran many times.
      expect(ticks).toBeGreaterThanOrEqual(10);
    } finally {
      clearInterval(timer);
    }
    await expect(instance.onEvent("echo", new Uint8Array())).rejects.toBe(err);
    await instance.dispose();
  });

  it("applies the deadline on the synchronous path", async () => {
    const { instance } = await load("plugin", { limits: { deadlineMs: 50 } });
    expect(() => instance.onEventSync!("spin", new Uint8Array())).toThrow(DeadlineExceeded);
    await instance.dispose();
  });

  it("lets other plugins run while one spins", async () => {
    const spinner = await load("plugin", { limits: { deadlineMs: 1500 }, plugin: "spinner" });
    const other = await load("plugin", { plugin: "other" });
    const order: string[] = [];
    const spin = spinner.instance.onEvent("spin", new Uint8Array()).catch((e: unknown) => {
      order.push("spinner stopped");
      return e;
    });
    for (let i = 1; i <= 3; i++) {
      expect(await other.instance.onEvent("counter", new Uint8Array())).toBe(i);
      order.push(`other ${i}`);
    }
    expect(await spin).toBeInstanceOf(DeadlineExceeded);
    expect(order).toEqual(["other 1", "other 2", "other 3", "spinner stopped"]);
    await spinner.instance.dispose();
    await other.instance.dispose();
  });
});

describe("wasmtime limits: memory", () => {
  it("refuses memory.grow past the cap: the guest sees -1, the host a violation, the instance lives on", async () => {
    const { instance, violations } = await load("plugin", { limits: { memoryBytes: 2 * 1024 * 1024 } });
    expect(await instance.onEvent("grow", u32(1))).toBe(0);
    expect(violations).toEqual([]);
    expect(await instance.onEvent("grow", u32(4))).toBe(1);
    expect(violations).toHaveLength(1);
    expect(violations[0]!.kind).toBe("memory");
    expect(violations[0]!.detail).toMatch(/cap 2097152/);
    // Sync path reports the same way.
    expect(instance.onEventSync!("grow", u32(8))).toBe(1);
    expect(violations).toHaveLength(2);
    expect(await instance.onEvent("echo", new Uint8Array(7))).toBe(7);
    await instance.dispose();
  });

  it("fails the load with MemoryLimitExceeded when the initial memory is already over the cap", async () => {
    // The fixture starts with 2 pages (128 KiB).
    const err = await load("plugin", { limits: { memoryBytes: 64 * 1024 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MemoryLimitExceeded);
    expect((err as MemoryLimitExceeded).limitBytes).toBe(64 * 1024);
    expect((err as MemoryLimitExceeded).export).toBe("instantiate");
  });
});

describe("wasmtime: parallel calls", () => {
  it("runs compute-heavy calls to two plugins at the same time, with the right results", async () => {
    const a = await load("plugin", { plugin: "a" });
    const b = await load("plugin", { plugin: "b" });
    const n = u32(2_000_000);
    const expected = a.instance.onEventSync!("work", n);
    const [ra, rb] = await Promise.all([a.instance.onEvent("work", n), b.instance.onEvent("work", n)]);
    expect(ra).toBe(expected);
    expect(rb).toBe(expected);
    await a.instance.dispose();
    await b.instance.dispose();
  });
});
