// A wasmtime call thread that has been idle gives back the stack pages its calls touched (instance.rs
// `trim_stack`). Calls after that, deep ones included, run as before: the pages read as zeros and are
// touched again, a stack overflow is still a clean PluginTrap, and other instances keep answering.
import { describe, it, expect, beforeAll } from "vitest";
import { PluginTrap } from "../src/contract/errors.js";
import { fixtures, load } from "./fixtures/wasmtime/helpers.js";

beforeAll(async () => {
  await fixtures();
}, 60_000);

/** Longer than the call thread's idle time before it trims its stack (TRIM_AFTER, 10 ms). */
const idle = () => new Promise((r) => setTimeout(r, 150));

describe("wasmtime engine: idle call threads trim their stacks", () => {
  it("answers after a trim, traps a stack overflow cleanly after one, and keeps state", async () => {
    const a = await load("plugin");
    const b = await load("plugin");
    expect(await a.instance.onEvent("counter", new Uint8Array())).toBe(1);
    expect(await b.instance.onEvent("echo", new Uint8Array(16))).toBe(16);
    await idle();
    expect(await a.instance.onEvent("counter", new Uint8Array())).toBe(2);
    expect(await a.instance.onEvent("sum", new Uint8Array([1, 2, 3, 250]))).toBe(256);
    await idle();
    // The deepest use of the stack, right after a trim: guest recursion until wasmtime's stack limit.
    const err = await a.instance.onEvent("deep", new Uint8Array()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginTrap);
    expect((err as Error).message).toMatch(/stack/i);
    // The other instance's thread trimmed too, and runs on.
    for (let round = 0; round < 3; round++) {
      expect(await b.instance.onEvent("echo", new Uint8Array(5))).toBe(5);
      expect(await b.instance.onEvent("counter", new Uint8Array())).toBe(round + 1);
      await idle();
    }
    for (const l of [a, b]) await l.instance.dispose();
  });
});
