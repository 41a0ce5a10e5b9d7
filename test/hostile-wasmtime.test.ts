// Hostile plugins against the wasmtime engine (issue 11): calls that never end
// must not take the host's libuv pool or keep it from exiting, an instance
// stuck in a call can be disposed, tables count against a summed cap, ABI
// violations say what the guest did, and host work done for a guest costs it
// fuel. Guests are the WAT fixture's variants (test/fixtures/wasmtime/build.mjs).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import type { EngineInstance, MessageOutcome } from "../src/engines/engine.js";
import {
  AbiViolation,
  FuelExhausted,
  PlughostError,
  PluginRegistry,
  PluginTrap,
} from "../src/index.js";
import { isInstanceFault, TableLimitExceeded } from "../src/contract/errors.js";
import { addonPath, STATE_CELLS } from "../src/engines/wasmtime/addon.js";
import { enc, fixtures, load, RecordingHost, u32, type Loaded } from "./fixtures/wasmtime/helpers.js";
import { root } from "./helpers/plugins.js";

/** Settles like `p`, or rejects after `ms` (so a hang fails the test instead of its timeout). */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** No fuel and a long deadline: a spinning call runs until something ends it. */
const UNMETERED = { deadlineMs: 600_000 };

let tmp: string;
beforeAll(async () => {
  await fixtures();
  tmp = mkdtempSync(path.join(tmpdir(), "plughost-hostile-wt-"));
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Instances a test created; disposed after it (dispose must not wait for a stuck call). */
let live: EngineInstance[] = [];
const track = (l: Loaded): Loaded => {
  live.push(l.instance);
  return l;
};
afterEach(async () => {
  await within(10_000, Promise.all(live.map((i) => i.dispose())), "disposing the test's instances");
  live = [];
});

describe("wasmtime calls run on plughost's own threads, not libuv's pool", () => {
  it("with six plugins spinning, the host's file I/O completes, another plugin answers and a new one loads", async () => {
    const spinners = await Promise.all(Array.from({ length: 6 }, (_, i) => load("plugin", { limits: UNMETERED, plugin: `spin-${i}` }).then(track)));
    const other = track(await load("plugin", { limits: UNMETERED, plugin: "other" }));
    const calls = spinners.map((s) => s.instance.onEvent("spin", new Uint8Array()).catch((e: unknown) => e));
    await sleep(200); // every spinner is inside its call now
    const file = path.join(tmp, "host-file.txt");
    writeFileSync(file, "the host's own file");
    expect(await within(3_000, readFile(file, "utf8"), "fs.promises.readFile")).toBe("the host's own file");
    expect(await within(3_000, other.instance.onEvent("echo", new Uint8Array(7)), "another plugin's call")).toBe(7);
    const late = track(await within(30_000, load("plugin", { limits: UNMETERED, plugin: "late" }), "loading another plugin"));
    expect(await within(3_000, late.instance.onEvent("echo", new Uint8Array(3)), "the new plugin's call")).toBe(3);
    // Disposing ends the spinning calls (below: "dispose ends an instance stuck in a call").
    await within(5_000, Promise.all(spinners.map((s) => s.instance.dispose())), "disposing the spinners");
    for (const r of await within(5_000, Promise.all(calls), "the spinning calls to settle")) expect(isInstanceFault(r)).toBe(true);
  });

  /** Run `body` in a child node process that has the addon and the fixture; returns its exit and time. */
  const child = (body: string) => {
    const script = path.join(tmp, `child-${Math.random().toString(36).slice(2)}.mjs`);
    writeFileSync(
      script,
      `import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
const addon = createRequire(import.meta.url)(${JSON.stringify(addonPath())});
const bytes = readFileSync(${JSON.stringify(path.join(root, "test/fixtures/wasmtime/out/plugin.wasm"))});
const component = await addon.compile(bytes, null);
const opts = { stdio: false, clock: false, random: false, env: [], dirs: [], net: [], deadlineMs: 600000 };
const native = await component.instantiate(opts, () => 0, new Float64Array(${STATE_CELLS}));
await native.init("0.1.0", "{}");
${body}
`,
    );
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [script], { encoding: "utf8", timeout: 30_000 });
    return { status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout, ms: performance.now() - t0 };
  };

  it("a host that calls process.exit(0) during a spinning call ends at once", () => {
    const r = child(`native.onEvent("spin", new Uint8Array()).catch(() => {});
setTimeout(() => { console.log("exiting"); process.exit(0); }, 300);`);
    expect(r.stdout).toContain("exiting");
    expect(r.signal, "the child was killed by the test's timeout: process.exit waited for the guest").toBeNull();
    expect(r.status).toBe(0);
    expect(r.ms).toBeLessThan(15_000);
  });

  it("a host whose spinning plugin was disposed exits by itself, cleanly: nothing keeps its event loop alive", () => {
    // Several runs: an exit racing the call thread's teardown crashed about one run in two (SIGSEGV / SIGABRT).
    for (let run = 0; run < 4; run++) {
      const r = child(`const call = native.onEvent("spin", new Uint8Array()).then(() => "resolved", (e) => e.message);
setTimeout(() => native.dispose(), 200);
console.log("call:", await call);`);
      expect(r.signal, `run ${run}: the child did not exit by itself, or crashed on the way out\n${r.stderr}`).toBeNull();
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/call: PWT:disposed/);
      expect(r.ms).toBeLessThan(15_000);
    }
  });
});

describe("dispose ends an instance stuck in a call", () => {
  it("a call that never returns: dispose resolves promptly and the call rejects with an InstanceFault", async () => {
    const { instance } = track(await load("plugin", { limits: UNMETERED, plugin: "stuck" }));
    const call = instance.onEvent("spin", new Uint8Array()).catch((e: unknown) => e);
    await sleep(100);
    await within(3_000, instance.dispose(), "dispose");
    const err = await within(3_000, call, "the stuck call");
    expect(err).toBeInstanceOf(PluginTrap);
    expect(isInstanceFault(err)).toBe(true);
    expect((err as PlughostError).plugin).toBe("stuck");
    expect((err as Error).message).toMatch(/disposed/);
    // Another plugin still answers, and the disposed one refuses calls with a typed error.
    const other = track(await load("plugin", { limits: UNMETERED, plugin: "other" }));
    expect(await other.instance.onEvent("echo", new Uint8Array(2))).toBe(2);
    await expect(instance.onEvent("echo", new Uint8Array(2))).rejects.toBeInstanceOf(PlughostError);
  });

  it("an init that never returns: dispose ends it, init and a call queued behind it reject with InstanceFaults", async () => {
    const { instance } = track(await load("spininit", { limits: UNMETERED, plugin: "stuck-init" }));
    const init = instance.init("0.1.0", "{}").catch((e: unknown) => e);
    const queued = instance.onEvent("echo", new Uint8Array(1)).catch((e: unknown) => e);
    await sleep(100);
    await within(3_000, instance.dispose(), "dispose");
    for (const r of [await within(3_000, init, "the stuck init"), await within(3_000, queued, "the queued call")]) {
      expect(isInstanceFault(r), String(r)).toBe(true);
      expect((r as PlughostError).plugin).toBe("stuck-init");
    }
  });

  it("under the registry: an init that never returns fails the load at initDeadlineMs, and another plugin answers", async () => {
    const registry = new PluginRegistry({
      engine: "wasmtime",
      logger: pino({ level: "silent" }),
      cacheDir: false,
      defaultLimits: { initDeadlineMs: 300, deadlineMs: 600_000 },
    });
    const dir = mkdtempSync(path.join(tmp, "wt-"));
    copyFileSync((await fixtures()).spininit, path.join(dir, "plugin.wasm"));
    writeFileSync(
      path.join(dir, "plugin.toml"),
      'name = "stuck-init"\nversion = "0.1.0"\napi-version = "^0.1.0"\nkind = "component"\nengine = "wasmtime"\nentry = "plugin.wasm"\n',
    );
    const t0 = performance.now();
    const err = await within(10_000, registry.load(dir).catch((e: unknown) => e), "load of a plugin whose init spins");
    expect(err).toBeInstanceOf(PlughostError);
    expect((err as PlughostError).code).toBe("E_DEADLINE_EXCEEDED");
    expect((err as PlughostError).plugin).toBe("stuck-init");
    expect((err as Error).message).toMatch(/initDeadlineMs/);
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(registry.isLoaded("stuck-init")).toBe(false);
    const hello = await registry.load(path.join(root, "examples/c/hello"));
    expect(await hello.invoke("greet", enc("x"))).toBe(0);
    await registry.unloadAll();
  });

  it("under the registry: unload of a plugin stuck in a call finishes and another plugin answers", async () => {
    const logger = pino({ level: "silent" });
    const registry = new PluginRegistry({ engine: "wasmtime", logger, cacheDir: false });
    const dir = mkdtempSync(path.join(tmp, "wt-"));
    copyFileSync(path.join(root, "test/fixtures/wasmtime/plugin.toml"), path.join(dir, "plugin.toml"));
    copyFileSync(path.join(root, "test/fixtures/wasmtime/out/plugin.wasm"), path.join(dir, "plugin.wasm"));
    const toml = readFileSync(path.join(dir, "plugin.toml"), "utf8");
    writeFileSync(
      path.join(dir, "plugin.toml"),
      toml.replace('entry = "out/plugin.wasm"', 'entry = "plugin.wasm"').replace(/^fuel = .*$/m, "").replace(/^deadline-ms = .*$/m, "deadline-ms = 600000"),
    );
    const stuck = await registry.load(dir);
    const call = stuck.invoke("spin").catch((e: unknown) => e);
    await sleep(100);
    // The registry's unload grace period disposes the instance; dispose no longer waits for the call.
    await within(20_000, registry.unload(stuck.name).catch((e: unknown) => e), "unload of the stuck plugin");
    expect(isInstanceFault(await within(5_000, call, "the stuck call"))).toBe(true);
    expect(registry.isLoaded(stuck.name)).toBe(false);
    const again = await registry.load(dir);
    expect(await again.invoke("echo", new Uint8Array(4))).toBe(4);
    await registry.unloadAll();
  });
});

describe("after a deadline kill, unload does not report a teardown that never ran", () => {
  it("a faulted instance answers teardown with the fault that ended it: teardown does not run and reports no status", async () => {
    const { instance, host } = track(await load("plugin", { limits: { deadlineMs: 200 }, plugin: "killed" }));
    const killed = await instance.onEvent("spin", new Uint8Array()).catch((e: unknown) => e);
    expect((killed as PlughostError).code).toBe("E_DEADLINE_EXCEEDED");
    const teardown = await instance.teardown().then((status) => status, (e: unknown) => e);
    expect(teardown).toBe(killed); // the same fault, from on-event: not a teardown status
    expect(host.messages()).not.toContain("teardown"); // the fixture's teardown logs "teardown"
  });

  it("under the registry: unload during a call that the deadline ends finishes cleanly (teardown skipped), no 'teardown returned -1'", async () => {
    const registry = new PluginRegistry({ engine: "wasmtime", logger: pino({ level: "silent" }), cacheDir: false });
    const dir = mkdtempSync(path.join(tmp, "wt-"));
    copyFileSync(path.join(root, "test/fixtures/wasmtime/out/plugin.wasm"), path.join(dir, "plugin.wasm"));
    const toml = readFileSync(path.join(root, "test/fixtures/wasmtime/plugin.toml"), "utf8");
    writeFileSync(
      path.join(dir, "plugin.toml"),
      toml.replace('entry = "out/plugin.wasm"', 'entry = "plugin.wasm"').replace(/^fuel = .*$/m, "").replace(/^deadline-ms = .*$/m, "deadline-ms = 300"),
    );
    const p = await registry.load(dir);
    const call = p.invoke("spin").catch((e: unknown) => e);
    await sleep(50);
    const unloaded = await within(10_000, registry.unload(p.name).then(() => undefined, (e: unknown) => e), "unload");
    expect((await call as PlughostError).code).toBe("E_DEADLINE_EXCEEDED");
    expect(unloaded, String(unloaded)).toBeUndefined();
    expect(registry.isLoaded(p.name)).toBe(false);
    await registry.unloadAll();
  });
});

describe("table elements count against one cap summed over all tables", () => {
  const rss = () => process.memoryUsage().rss;

  it("64 tables each grown by 1,000,000 elements: at most 1,000,000 in all, refusals recorded, RSS bounded", async () => {
    const before = rss();
    const { instance, violations } = track(
      await load("tables", { limits: { memoryBytes: 16 * 1024 * 1024, tableElements: 1_000_000, fuel: 100_000_000 }, plugin: "table-bomb" }),
    );
    const granted = await instance.onEvent("extra", u32(1_000_000));
    // The component's own shim tables hold a few elements, so not even one full grant fits.
    expect(granted).toBe(0);
    expect(violations.length).toBeGreaterThan(0);
    expect(violations[0]!.kind).toBe("memory");
    expect(violations[0]!.detail).toMatch(/table\.grow .* refused: the instance would hold \d+ table elements in all, cap 1000000/);
    // Half a million each: one grant fits, the other 63 are refused.
    expect(await instance.onEvent("extra", u32(500_000))).toBe(1);
    expect(rss() - before).toBeLessThan(256 * 1024 * 1024); // 64 × 1M × 8 bytes = 512 MiB when uncapped
    const other = track(await load("plugin", { plugin: "other" }));
    expect(await other.instance.onEvent("echo", new Uint8Array(1))).toBe(1);
  });

  it("tables' initial sizes count at instantiation: 64 × 100,000 elements fail the load with a typed error", async () => {
    const err = await load("bigtables", { limits: { tableElements: 1_000_000 }, plugin: "big-tables" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TableLimitExceeded);
    expect((err as TableLimitExceeded).code).toBe("E_TABLE_LIMIT");
    expect((err as TableLimitExceeded).limitElements).toBe(1_000_000);
    expect((err as PlughostError).plugin).toBe("big-tables");
    expect((err as Error).message).toMatch(/table elements/);
    const other = track(await load("plugin", { plugin: "other" }));
    expect(await other.instance.onEvent("echo", new Uint8Array(1))).toBe(1);
  });

  it("under the registry with nothing configured (the default cap of 1,000,000 elements): the table bomb is refused and the host answers", async () => {
    const registry = new PluginRegistry({ engine: "wasmtime", logger: pino({ level: "silent" }), cacheDir: false });
    const dir = mkdtempSync(path.join(tmp, "wt-"));
    copyFileSync((await fixtures()).tables, path.join(dir, "plugin.wasm"));
    writeFileSync(
      path.join(dir, "plugin.toml"),
      'name = "table-bomb"\nversion = "0.1.0"\napi-version = "^0.1.0"\nkind = "component"\nengine = "wasmtime"\nentry = "plugin.wasm"\n',
    );
    const before = rss();
    const bomb = await registry.load(dir);
    const hello = await registry.load(path.join(root, "examples/c/hello"));
    expect(await bomb.invoke("extra", u32(1_000_000))).toBe(0);
    // 64 refusals are 64 violations: the registry may unmount the plugin for them (its violation policy).
    expect(registry.violations("table-bomb").map((v) => v.kind)).toContain("memory");
    expect(rss() - before).toBeLessThan(256 * 1024 * 1024);
    expect(await hello.invoke("greet", enc("x"))).toBe(0);
    await registry.unloadAll();
  });
});

describe("ABI violations in host calls say what the guest did", () => {
  const violate = async (op: number): Promise<AbiViolation> => {
    const { instance } = track(await load("abi", { plugin: "bad-abi-wt" }));
    const err = await instance.onEvent("extra", new Uint8Array([op])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbiViolation);
    const e = err as AbiViolation;
    expect(e.code).toBe("E_ABI_VIOLATION");
    expect(e.plugin).toBe("bad-abi-wt");
    expect(e.message).not.toMatch(/PWT:|wasm backtrace|error while executing/);
    return e;
  };

  it("log level 9", async () => {
    expect((await violate(1)).message).toMatch(/on-event: broke the canonical ABI: log: log level 9 is not a log-level case/);
  });

  it("an event name that is not valid UTF-8 (register-callback, emit)", async () => {
    expect((await violate(2)).message).toMatch(/register-callback: event name is not valid UTF-8/);
    expect((await violate(5)).message).toMatch(/emit: event name is not valid UTF-8/);
  });

  it("an out-of-bounds length (emit data, log message)", async () => {
    expect((await violate(3)).message).toMatch(/emit: event data \[65536, 2147483648\) is outside the guest's 131072-byte memory/);
    expect((await violate(4)).message).toMatch(/log: log message \[2147483632, 2147487728\) is outside the guest's 131072-byte memory/);
  });

  it("the C bad-abi fixture's violations read as well, and another plugin answers", async () => {
    const registry = new PluginRegistry({ engine: "wasmtime", logger: pino({ level: "silent" }), cacheDir: false });
    const bad = await registry.load(path.join(root, "test/fixtures/c/bad-abi"));
    const hello = await registry.load(path.join(root, "examples/c/hello"));
    const messages: string[] = [];
    for (const call of [() => bad.invoke("bad-utf8-log"), () => bad.invoke("oob-log"), () => bad.hook("oob-hook"), () => bad.hook("bad-tag")]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AbiViolation);
      expect((err as Error).message).not.toMatch(/PWT:|wasm backtrace|error while executing/);
      messages.push((err as Error).message);
      expect(await hello.invoke("greet", enc("x"))).toBe(0);
    }
    expect(messages[0]).toMatch(/log: log message is not valid UTF-8/);
    expect(messages[1]).toMatch(/log: log message \[2147483632, 2147487728\) is outside the guest's \d+-byte memory/);
    expect(messages[2]).toMatch(/on-hook: broke the canonical ABI: the returned list<u8> \[4294967280, 4294967344\) is outside the guest's \d+-byte memory/);
    expect(messages[3]).toMatch(/on-hook: broke the canonical ABI: the returned result's tag 7 is neither ok \(0\) nor err \(1\)/);
    await registry.unloadAll();
  });
});

describe("host work done for a guest costs it fuel", () => {
  /** Takes every message and keeps none of them (the test is about the guest's side). */
  class CountingHost extends RecordingHost {
    emits = 0;
    override emit(): MessageOutcome<number> {
      this.emits++;
      return { ok: true, value: 1 };
    }
  }

  it("emit of 4 MiB in a loop under 20,000,000 fuel ends with FuelExhausted in bounded time", async () => {
    const host = new CountingHost();
    const { instance } = track(
      await load("emitloop", { limits: { fuel: 20_000_000, deadlineMs: 120_000 }, plugin: "emit-loop", host }),
    );
    const t0 = performance.now();
    const err = await within(30_000, instance.onEvent("extra", new Uint8Array()).catch((e: unknown) => e), "the emit loop");
    expect(err).toBeInstanceOf(FuelExhausted);
    expect((err as FuelExhausted).budget).toBe(20_000_000);
    // 65,536 units for 4 MiB + 1,000 for the message queued: about 300 emits fit in the budget.
    expect(host.emits).toBeGreaterThan(100);
    expect(host.emits).toBeLessThan(400);
    expect(performance.now() - t0).toBeLessThan(30_000);
    const other = track(await load("plugin", { plugin: "other" }));
    expect(await other.instance.onEvent("echo", new Uint8Array(1))).toBe(1);
  });

  it("bounds the host's work per call whatever the fuel: an over-long name is refused unread, a long log line is read only up to its cap", async () => {
    const { instance, host } = track(await load("plugin", { plugin: "long-args" }));
    // emit(data, data) with a 200-byte name: invalid-name (-1 - 0), and the host saw nothing.
    expect(await instance.onEvent("emit", new Uint8Array(200).fill(0x61))).toBe(-1);
    expect(host.emitted).toEqual([]);
    // A 100,000-byte log line of two-byte characters: the first 16,384 bytes, cut at a character.
    await instance.onEvent("log", enc("é".repeat(50_000)));
    expect(host.messages("info").at(-1)).toBe("é".repeat(8192));
  });

  it("an unmetered plugin is not charged: the same loop runs until its deadline", async () => {
    const host = new CountingHost();
    const { instance } = track(await load("emitloop", { limits: { deadlineMs: 1_000 }, plugin: "emit-loop", host }));
    const err = await instance.onEvent("extra", new Uint8Array()).catch((e: unknown) => e);
    expect((err as PlughostError).code).toBe("E_DEADLINE_EXCEEDED");
  });
});
