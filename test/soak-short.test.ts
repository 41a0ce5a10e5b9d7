// A short soak in the suite (bench/soak.mjs is the long one): load/unload cycles on every
// kind of instance and reloads under calls, in one registry, must give back every fd,
// thread and helper process and keep the heap flat; and back-to-back rewrites of a
// watched manifest must each be reloaded.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { getHeapSpaceStatistics } from "node:v8";
import { afterEach, describe, expect, it } from "vitest";
import { HotReloader, PluginRegistry } from "../src/index.js";
import { copyPlugin, dec, enc, root, silentLogger } from "./helpers/plugins.js";
import { descendants } from "./helpers/processes.mjs";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function newRegistry(): PluginRegistry {
  const work = mkdtempSync(path.join(tmpdir(), "plughost-soak-"));
  const registry = new PluginRegistry({ logger: silentLogger(), cacheDir: path.join(work, "cache"), dataDir: path.join(work, "data") });
  cleanups.push(() => registry.close());
  return registry;
}

const gc = (): void => {
  const f = (globalThis as { gc?: () => void }).gc;
  expect(f, "run vitest with --expose-gc (vitest.config.ts does)").toBeTypeOf("function");
  f!();
  f!();
};


async function resources() {
  await new Promise((r) => setTimeout(r, 20)); // close callbacks queued by the last unload run first
  gc();
  const m = process.memoryUsage();
  return {
    fds: readdirSync("/proc/self/fd").length,
    threads: readdirSync("/proc/self/task").length,
    processes: descendants(process.pid).length,
    // Objects only: compiled code (V8 optimizes the load path's functions over the run) is not something kept alive.
    heap: getHeapSpaceStatistics()
      .filter((space) => !space.space_name.startsWith("code"))
      .reduce((sum, space) => sum + space.space_used_size, 0),
    external: m.external,
  };
}

async function cycle(registry: PluginRegistry, dir: string, who: string, text: boolean): Promise<void> {
  const h = await registry.load(dir);
  const out = await registry.hook(h.name, "greet", enc(who));
  expect(out.ok).toBe(true);
  if (text) expect(out.ok && dec(out.data)).toBe(`hello, ${who}!`);
  await registry.unload(h.name);
  expect(registry.isLoaded(h.name)).toBe(false);
}

function nativeHello(): string {
  const src = path.join(root, "examples/native/legacy-hello");
  if (!existsSync(path.join(src, "legacy-hello.so"))) throw new Error("examples/native/legacy-hello is not built: run `node scripts/setup.mjs`");
  const dir = mkdtempSync(path.join(tmpdir(), "plughost-soak-native-"));
  cpSync(src, dir, { recursive: true });
  return dir;
}

describe("short soak", () => {
  it("load/unload cycles in process, in a worker and in the sandbox give back every fd, thread and process", async () => {
    const registry = newRegistry();
    const inProcess = copyPlugin("examples/c/hello");
    const worker = copyPlugin("examples/c/hello", (t) => t.replace(/^kind = /m, 'isolation = "worker"\nkind = '));
    const sandboxed = nativeHello();
    const kinds: [string, number, boolean][] = [
      [inProcess, 150, true],
      [worker, 6, true],
      [sandboxed, 12, false],
    ];
    // Warm-up: the first load of each kind creates what lives as long as the process (libuv's pool, compiled code).
    for (const [dir, , text] of kinds) for (let i = 0; i < 3; i++) await cycle(registry, dir, `w${i}`, text);
    const before = await resources();
    const seen: Awaited<ReturnType<typeof resources>>[] = [];
    for (const [dir, n, text] of kinds) {
      for (let i = 0; i < n; i++) await cycle(registry, dir, `c${i}`, text);
      seen.push(await resources());
    }
    const after = await resources();
    expect(after.fds).toBe(before.fds);
    expect(after.threads).toBe(before.threads);
    expect(after.processes).toBe(0);
    expect(before.processes).toBe(0);
    for (const s of seen) expect([s.fds, s.threads, s.processes]).toEqual([before.fds, before.threads, 0]);
    // An instance kept alive holds at least its linear memory (128 KiB here): 168 of them would be over 20 MiB.
    expect(after.external - before.external).toBeLessThan(4 * 2 ** 20);
    expect(after.heap - before.heap).toBeLessThan(3 * 2 ** 20);
  }, 180_000);

  it("reloads under a steady stream of calls lose no call and leak no instance", async () => {
    const registry = newRegistry();
    const dir = copyPlugin("examples/c/hello");
    const handle = await registry.load(dir);
    const manifest = path.join(dir, "plugin.toml");
    const text = readFileSync(manifest, "utf8");
    let stop = false;
    let answered = 0;
    const errors: unknown[] = [];
    const client = async (c: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const who = `r${c}-${i}`;
        try {
          const out = await registry.hook(handle.name, "greet", enc(who));
          if (out.ok && dec(out.data) === `hello, ${who}!`) answered++;
          else errors.push(out);
        } catch (err) {
          errors.push(err);
        }
        await new Promise((r) => setImmediate(r));
      }
    };
    const reloadOnce = async (i: number): Promise<void> => {
      writeFileSync(manifest, text.replace(/^version = ".*"$/m, `version = "0.2.${i}"`));
      await registry.reload(handle.name);
      expect(registry.get(handle.name).version).toBe(`0.2.${i}`);
    };
    const clients = [client(0), client(1)];
    try {
      for (let i = 0; i < 60; i++) await reloadOnce(i); // warm-up: V8 compiles and optimizes the load path's code
      const before = await resources();
      for (let i = 60; i < 260; i++) await reloadOnce(i);
      const after = await resources();
      expect(after.fds).toBe(before.fds);
      expect(after.threads).toBe(before.threads);
      // `handle` (from before the reloads) is still held: it may keep its own retired entry, not the 260 since
      // (each holds its component's bytes and instance, over 8 KiB of heap and 20 KiB outside it).
      expect(after.heap - before.heap).toBeLessThan(2 ** 20);
      expect(after.external - before.external).toBeLessThan(2 * 2 ** 20);
    } finally {
      stop = true;
      await Promise.all(clients);
    }
    expect(errors).toEqual([]);
    expect(answered).toBeGreaterThan(250);
  }, 180_000);

  it("the hot reloader picks up every one of back-to-back manifest rewrites (none lost to the watcher's throttle)", async () => {
    const registry = newRegistry();
    const dir = copyPlugin("examples/c/hello");
    const handle = await registry.load(dir);
    // No write-stability wait: each change is reported as soon as it is seen.
    const reloader = new HotReloader(registry, { debounceMs: 0, stabilityMs: 0 });
    cleanups.unshift(() => reloader.close());
    await reloader.watch(dir);
    const manifest = path.join(dir, "plugin.toml");
    const text = readFileSync(manifest, "utf8");
    const failures: unknown[] = [];
    reloader.on("reload-failed", (e) => failures.push(e.error));
    for (let i = 1; i <= 15; i++) {
      const version = `0.3.${i}`;
      const seen = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the rewrite to ${version} was never reloaded`)), 10_000);
        const on = (e: { to: string }): void => {
          if (e.to !== version) return;
          clearTimeout(timer);
          reloader.off("reloaded", on);
          resolve();
        };
        reloader.on("reloaded", on);
      });
      // Right after the previous reload, as a build tool writing again would: beside, then renamed over.
      writeFileSync(`${manifest}.tmp`, text.replace(/^version = ".*"$/m, `version = "${version}"`));
      renameSync(`${manifest}.tmp`, manifest);
      await seen;
      expect(registry.get(handle.name).version).toBe(version);
    }
    expect(failures).toEqual([]);
  }, 180_000);
});
