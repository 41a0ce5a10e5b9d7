// The wasmtime call ring (native/wasmtime/src/ring.rs, src/engines/wasmtime/ring.ts): many asynchronous calls in
// flight on one instance, more than the ring has slots, data too long for a slot, host calls from the call thread,
// calls on the promise path between ring calls, a fault in the middle of a pipeline, a dispose with calls in flight,
// and fuel, deadline and memory limits on ring calls.
import { describe, it, expect, beforeAll } from "vitest";
import { DeadlineExceeded, FuelExhausted, PluginTrap } from "../src/contract/errors.js";
import { dec, enc, fixtures, load, u32 } from "./fixtures/wasmtime/helpers.js";

beforeAll(async () => {
  await fixtures();
}, 60_000);

describe("wasmtime call ring", () => {
  it("answers 2,000 calls in flight in order (more than the ring's 256 slots), each with its own data", async () => {
    const { instance } = await load("plugin");
    await instance.init("0.1.0", "{}");
    const calls: Promise<number>[] = [];
    for (let i = 0; i < 2000; i++) calls.push(instance.onEvent(i % 2 ? "counter" : "echo", new Uint8Array(i % 97)));
    const got = await Promise.all(calls);
    let counter = 0;
    for (let i = 0; i < 2000; i++) expect(got[i]).toBe(i % 2 ? ++counter : i % 97);
    await instance.dispose();
  });

  it("copies the data when the call is made: a buffer changed afterwards does not change the call", async () => {
    const { instance } = await load("plugin");
    await instance.init("0.1.0", "{}");
    const data = new Uint8Array([1, 2, 3, 4]);
    const calls: Promise<number>[] = [];
    for (let i = 0; i < 600; i++) {
      data[0] = i % 200;
      calls.push(instance.onEvent("sum", data));
    }
    data.fill(0);
    const got = await Promise.all(calls);
    for (let i = 0; i < 600; i++) expect(got[i]).toBe((i % 200) + 2 + 3 + 4);
    await instance.dispose();
  });

  it("hands data longer than a slot over whole (up to 1 MiB), interleaved with short calls", async () => {
    const { instance } = await load("plugin");
    await instance.init("0.1.0", "{}");
    const sizes = [0, 1, 16, 95, 96, 97, 128, 4096, 1 << 20];
    const got = await Promise.all(sizes.flatMap((n) => [instance.onEvent("echo", new Uint8Array(n)), instance.onEvent("sum", new Uint8Array(n).fill(1))]));
    expect(got).toEqual(sizes.flatMap((n) => [n, n]));
    await instance.dispose();
  });

  it("runs host calls from the call thread (log, emit, config) and delivers the log before the answer", async () => {
    const { instance, host } = await load("plugin");
    await instance.init("0.1.0", "{}");
    const calls = [];
    for (let i = 0; i < 50; i++) calls.push(instance.onEvent("log", enc(`line ${i}`)));
    calls.push(instance.onEvent("emit", enc("topic")));
    calls.push(instance.onEvent("config", enc("greeting")));
    const got = await Promise.all(calls);
    expect(got.slice(50)).toEqual([2, 4]);
    expect(host.messages("info").filter((m) => m.startsWith("line "))).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i}`));
    expect(host.emitted.map((e) => e.event)).toEqual(["topic"]);
    await instance.dispose();
  });

  it("keeps the order of ring calls and promise-path calls (hooks, teardown) made in between", async () => {
    const { instance } = await load("plugin");
    await instance.init("0.1.0", "{}");
    const a = [instance.onEvent("counter", new Uint8Array()), instance.onEvent("counter", new Uint8Array())];
    const hook = instance.onHook("upper", enc("mid"));
    const b = [instance.onEvent("counter", new Uint8Array()), instance.onEvent("counter", new Uint8Array())];
    expect(await Promise.all(a)).toEqual([1, 2]);
    const h = await hook;
    expect(h.ok && dec(h.data)).toBe("MID");
    expect(await Promise.all(b)).toEqual([3, 4]);
    expect(instance.onEventSync!("counter", new Uint8Array())).toBe(5);
    await instance.dispose();
  });

  it("a trap in the middle of a pipeline fails that call, and every later call with the same fault without running it", async () => {
    const { instance } = await load("plugin");
    await instance.init("0.1.0", "{}");
    const before = [instance.onEvent("counter", new Uint8Array()), instance.onEvent("counter", new Uint8Array())];
    const trap = instance.onEvent("trap", new Uint8Array());
    const after = Array.from({ length: 300 }, () => instance.onEvent("counter", new Uint8Array()));
    expect(await Promise.all(before)).toEqual([1, 2]);
    const err = await trap.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginTrap);
    for (const p of after) await expect(p).rejects.toBe(err);
    await instance.dispose();
  });

  it("fuel stays exact on ring calls: the same fuel per call as the synchronous path, and the budget binds", async () => {
    const { instance } = await load("plugin", { limits: { fuel: 100_000 } });
    await instance.init("0.1.0", "{}");
    instance.onEventSync!("sum", new Uint8Array(100));
    const syncFuel = instance.lastCallFuel();
    await instance.onEvent("sum", new Uint8Array(100));
    expect(instance.lastCallFuel()).toBe(syncFuel);
    await expect(instance.onEvent("sum", new Uint8Array(100_000))).rejects.toBeInstanceOf(FuelExhausted);
    await instance.dispose();
  });

  it("a deadline ends a spinning ring call, and the calls queued behind it fail with it", async () => {
    const { instance } = await load("plugin", { limits: { deadlineMs: 50 } });
    await instance.init("0.1.0", "{}");
    const spin = instance.onEvent("spin", new Uint8Array());
    const behind = instance.onEvent("counter", new Uint8Array());
    const err = await spin.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceeded);
    await expect(behind).rejects.toBe(err);
    await instance.dispose();
  });

  it("the memory cap binds on ring calls", async () => {
    const { instance, violations } = await load("plugin", { limits: { memoryBytes: 4 << 20 } });
    await instance.init("0.1.0", "{}");
    // `grow` answers 1 when memory.grow is refused; the refusal is reported as a violation with the answer.
    const got = await Promise.all([instance.onEvent("grow", u32(1)), instance.onEvent("grow", u32(64)), instance.onEvent("echo", new Uint8Array(3))]);
    expect(got).toEqual([0, 1, 3]);
    expect(violations.map((v) => v.kind)).toEqual(["memory"]);
    expect(violations[0]!.detail).toMatch(/cap 4194304/);
    await instance.dispose();
  });

  it("dispose with ring calls in flight: the running and queued calls reject with PluginTrap, nothing hangs", async () => {
    const { instance } = await load("plugin");
    await instance.init("0.1.0", "{}");
    const spin = instance.onEvent("spin", new Uint8Array());
    const queued = Array.from({ length: 500 }, () => instance.onEvent("counter", new Uint8Array()));
    await new Promise((r) => setTimeout(r, 20));
    await instance.dispose();
    await expect(spin).rejects.toBeInstanceOf(PluginTrap);
    for (const p of queued) await expect(p).rejects.toBeInstanceOf(PluginTrap);
  });

  it("two instances pipelined at once each answer their own calls", async () => {
    const [x, y] = await Promise.all([load("plugin"), load("plugin")]);
    await Promise.all([x.instance.init("0.1.0", "{}"), y.instance.init("0.1.0", "{}")]);
    const xs = Array.from({ length: 1000 }, () => x.instance.onEvent("counter", new Uint8Array()));
    const ys = Array.from({ length: 700 }, () => y.instance.onEvent("counter", new Uint8Array()));
    expect(await Promise.all(xs)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(await Promise.all(ys)).toEqual(Array.from({ length: 700 }, (_, i) => i + 1));
    await Promise.all([x.instance.dispose(), y.instance.dispose()]);
  });
});
