// A hook's timeout-ms on engines that can interrupt a call (issue 14, point 4): on v8 in a worker, on wasmtime and in
// a native sandbox helper, a hook that never returns is stopped (the instance is disposed, so the call really ends),
// the chain goes on as its on-error says, and recovery replaces the instance; a retry after the timeout reaches the
// fresh instance.
//
// Guests: test/fixtures/c/hook-policy (`spin` never returns; `tag` appends the copy's tag; `count` appends how many
// hook calls the instance has served) and the native fixture hostile.so (`spin`), sandboxed.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { DeadlineExceeded, PluginRegistry, type RegistryOptions } from "../src/index.js";
import { copyPlugin, dec, enc, silentLogger } from "./helpers/plugins.js";
import { fixture } from "./native-helpers.js";

const FIXTURE = "test/fixtures/c/hook-policy";

let registry: PluginRegistry;
const dirs: string[] = [];
afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function hookCopy(name: string, tag: string, hooks: string): string {
  const dir = copyPlugin(FIXTURE, (t) => t.replace('name = "hook-policy"', `name = "${name}"`).replace('tag = "?"', `tag = "${tag}"`) + "\n" + hooks);
  dirs.push(dir);
  return dir;
}

const MODES: { name: string; options: RegistryOptions }[] = [
  { name: "v8 worker", options: { engine: "v8", isolation: "worker" } },
  { name: "wasmtime", options: { engine: "wasmtime" } },
];

describe.each(MODES)("a hook past its timeout-ms is stopped ($name)", ({ options }) => {
  const newRegistry = () =>
    (registry = new PluginRegistry({
      logger: silentLogger(),
      cacheDir: false,
      violationThreshold: 100,
      // Nothing but the hook's timeout bounds the spin: no fuel, no deadline.
      defaultLimits: "unlimited",
      recovery: { strategy: "restart", backoff: "exponential", baseDelayMs: 0, maxRetries: 5 },
      ...options,
    }));

  it("the spinning call ends, the chain goes on (on-error skip), and the plugin works again after recovery", async () => {
    newRegistry();
    await registry.load(hookCopy("spinner", "s", `[[hooks]]\nevent = "spin"\npriority = 200\ntimeout-ms = 300\non-error = "skip"\n`));
    // The next step of the chain: a host hook after the spinner.
    registry.addHook("spin", (data) => Uint8Array.from([...data, 104]), { priority: 50, name: "after" });
    const faults: string[] = [];
    registry.on("fault", (f) => faults.push(`${f.plugin}:${f.error.code}`));
    const t0 = performance.now();
    const chain = await registry.runHook("spin", enc("x"));
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(5_000);
    expect(chain.ok).toBe(true);
    expect(dec(chain.data)).toBe("xh");
    expect(chain.errors).toHaveLength(1);
    expect(chain.errors[0]!.error).toBeInstanceOf(DeadlineExceeded);
    expect(chain.errors[0]!.error.message).toMatch(/timeout-ms/);
    expect(faults).toEqual(["spinner:E_DEADLINE_EXCEEDED"]);

    // The instance was replaced: the next call is the fresh instance's first hook call.
    const counted = await registry.hook("spinner", "count", enc("c"));
    expect(counted.ok && [...counted.data]).toEqual([99, 1]);
    expect(registry.metrics("spinner").restarts).toBe(1);

    // Stopped, not abandoned: no thread of this process spins on (one would use about 500 ms of CPU here). Measured
    // once the replacement is up, so that loading it (a new worker compiling the plugin) is not counted.
    const cpu0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 500));
    const cpu = process.cpuUsage(cpu0);
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(250);
  });

  it('on-error = "fail" stops the chain with the timeout; retries reach the replaced instance', async () => {
    newRegistry();
    await registry.load(hookCopy("gate", "g", `[[hooks]]\nevent = "spin"\ntimeout-ms = 200\non-error = "fail"\nretries = 1\n`));
    const calls0 = registry.metrics("gate").calls;
    const t0 = performance.now();
    const chain = await registry.runHook("spin", enc("x"));
    // Two attempts, each stopped at its timeout: the retry ran on a fresh instance (a second fault, a second restart).
    expect(performance.now() - t0).toBeGreaterThanOrEqual(350);
    expect(chain).toMatchObject({ ok: false, stoppedBy: "gate" });
    expect(chain.error).toBeInstanceOf(DeadlineExceeded);
    expect(registry.metrics("gate").calls - calls0).toBe(2);
    await expect.poll(() => registry.metrics("gate").restarts, { timeout: 5_000 }).toBe(2);
    const tagged = await registry.hook("gate", "tag", enc("y"));
    expect(tagged.ok && dec(tagged.data)).toBe("yg");
  });
});

describe("a sandboxed native hook past its timeout-ms is stopped", () => {
  it("the helper is killed, the chain goes on, and a fresh helper answers the next call", async () => {
    registry = new PluginRegistry({
      logger: silentLogger(),
      cacheDir: false,
      violationThreshold: 100,
      recovery: { strategy: "restart", backoff: "exponential", baseDelayMs: 0, maxRetries: 5 },
    });
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-hooks-native-"));
    dirs.push(dir);
    copyFileSync(fixture("hostile"), path.join(dir, "hostile.so"));
    writeFileSync(
      path.join(dir, "plugin.toml"),
      `name = "native-spinner"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "hostile.so"\ntrust = "untrusted"\n` +
        `\n[[hooks]]\nevent = "spin"\ntimeout-ms = 300\non-error = "skip"\n`,
    );
    await registry.load(dir);
    registry.addHook("spin", (data) => Uint8Array.from([...data, 104]), { priority: 50, name: "after" });
    const faults: string[] = [];
    registry.on("fault", (f) => faults.push(f.error.code));
    const t0 = performance.now();
    const chain = await registry.runHook("spin", enc("x"));
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(dec(chain.data)).toBe("xh");
    expect(chain.errors.map((e) => e.error)).toEqual([expect.any(DeadlineExceeded)]);
    expect(faults).toEqual(["E_DEADLINE_EXCEEDED"]);
    expect(await registry.invoke("native-spinner", "ok", enc("back"))).toBe(4);
    expect(registry.metrics("native-spinner").restarts).toBe(1);
  });
});
