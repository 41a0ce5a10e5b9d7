import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { readFileSync, writeFileSync, copyFileSync, renameSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HotReloader, PluginRegistry, PlughostError, InitializationFailed } from "../src/index.js";
import { copyPlugin, dec, enc, pluginDir, root, silentLogger } from "./helpers/plugins.js";

const opts = { debounceMs: 50, stabilityMs: 50 };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(rel = "examples/c/hello") {
  const dir = copyPlugin(rel);
  const registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false });
  const handle = await registry.load(dir);
  const reloader = new HotReloader(registry, opts);
  cleanups.push(async () => {
    await reloader.close();
    await registry.unloadAll();
  });
  return { dir, registry, handle, reloader };
}

/** Resolve with the next event `name`, or fail after `ms`. */
function next<T>(emitter: { once(e: string, f: (v: T) => void): unknown }, name: string, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${name} within ${ms} ms`)), ms);
    emitter.once(name, (v: T) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

/** Replace a file the way editors and build tools do: write beside it, then rename over it. */
function replaceFile(target: string, bytes: Uint8Array | string) {
  const tmp = `${target}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, target);
}

const bump = (dir: string, version: string) =>
  replaceFile(path.join(dir, "plugin.toml"), readFileSync(path.join(dir, "plugin.toml"), "utf8").replace(/^version = ".*"$/m, `version = "${version}"`));

describe("hot reload", () => {
  it("reloads on a manifest version bump and reports from/to", async () => {
    const { dir, registry, reloader } = await setup();
    await reloader.watch(dir);
    const states: string[] = [];
    registry.on("state", (s) => states.push(s.to));
    const reloaded = next<{ plugin: string; from: string; to: string }>(reloader, "reloaded");
    bump(dir, "0.2.0");
    expect(await reloaded).toEqual({ plugin: "hello-c", from: "0.1.0", to: "0.2.0" });
    const h = registry.get("hello-c");
    expect(h.version).toBe("0.2.0");
    expect(h.state).toBe("active");
    expect(states).toEqual([]); // the swap is not seen as an unload + load
    const out = await registry.hook("hello-c", "greet", enc("again"));
    expect(out.ok && dec(out.data)).toBe("hello, again!");
  });

  it("replacing the entry with another component changes the callbacks", async () => {
    const { dir, registry, reloader } = await setup();
    await reloader.watch(); // every loaded plugin
    expect(registry.get("hello-c").callbacks).toEqual(["greet"]);
    const reloaded = next(reloader, "reloaded");
    copyFileSync(path.join(pluginDir("examples/c/transform"), "plugin.wasm"), path.join(dir, "plugin.wasm"));
    await reloaded;
    expect(registry.get("hello-c").callbacks).toEqual(["transform"]);
    expect(registry.subscribers("greet")).toEqual([]);
    expect(registry.subscribers("transform")).toEqual(["hello-c"]);
    const chained = await registry.runHook("transform", enc("abc"));
    expect(dec(chained.data)).toBe("ABC");
  });

  it("a corrupt entry keeps the old version answering and emits a typed failure", async () => {
    const { dir, registry, reloader } = await setup();
    await reloader.watch(dir);
    let reloads = 0;
    reloader.on("reloaded", () => reloads++);
    const failed = next<{ plugin: string; file: string; error: PlughostError }>(reloader, "reload-failed");
    replaceFile(path.join(dir, "plugin.wasm"), new Uint8Array([0, 97, 115, 109, 13, 0, 1, 0, 42, 42, 42]));
    const f = await failed;
    expect(f.plugin).toBe("hello-c");
    expect(f.file).toBe(path.join(dir, "plugin.wasm"));
    expect(f.error).toBeInstanceOf(PlughostError);
    expect(f.error.code).toMatch(/^E_/);
    expect(reloads).toBe(0);
    const h = registry.get("hello-c");
    expect(h.state).toBe("active");
    expect(h.version).toBe("0.1.0");
    const out = await registry.hook("hello-c", "greet", enc("still"));
    expect(out.ok && dec(out.data)).toBe("hello, still!");

    // A later good version is picked up again.
    const reloaded = next(reloader, "reloaded");
    copyFileSync(path.join(pluginDir("examples/c/hello"), "plugin.wasm"), path.join(dir, "plugin.wasm"));
    bump(dir, "0.3.0");
    await reloaded;
    expect(registry.get("hello-c").version).toBe("0.3.0");
  });

  it("a bad manifest is reported and the old version stays", async () => {
    const { dir, registry, reloader } = await setup();
    await reloader.watch(dir);
    const failed = next<{ error: PlughostError }>(reloader, "reload-failed");
    replaceFile(path.join(dir, "plugin.toml"), 'name = "hello-c"\nversion = "not-semver"\n');
    expect((await failed).error.code).toBe("E_MANIFEST_INVALID");
    expect(registry.get("hello-c").state).toBe("active");
  });

  it("close() stops reloads", async () => {
    const a = await setup();
    const b = await setup("test/fixtures/c/probe");
    await a.reloader.watch(a.dir);
    await b.reloader.watch(b.dir);
    let aReloads = 0;
    a.reloader.on("reloaded", () => aReloads++);
    await a.reloader.close();
    expect(a.reloader.closed).toBe(true);
    const bReloaded = next(b.reloader, "reloaded");
    bump(a.dir, "0.9.0");
    bump(b.dir, "1.1.0");
    await bReloaded; // b still watches; a, written at the same time, does not reload
    await new Promise((r) => setTimeout(r, opts.debounceMs + opts.stabilityMs + 100));
    expect(aReloads).toBe(0);
    expect(a.registry.get("hello-c").version).toBe("0.1.0");
    expect(b.registry.get("probe").version).toBe("1.1.0");
  });
});

describe("registry.reload", () => {
  it("a failing init leaves the old instance active and throws InitializationFailed", async () => {
    const { dir, registry } = await setup("test/fixtures/c/probe");
    const before = registry.get("probe").callbacks;
    writeFileSync(path.join(dir, "plugin.toml"), readFileSync(path.join(dir, "plugin.toml"), "utf8").replace("fail-init = false", "fail-init = true").replace('version = "1.0.0"', 'version = "2.0.0"'));
    await expect(registry.reload("probe")).rejects.toBeInstanceOf(InitializationFailed);
    const h = registry.get("probe");
    expect(h.state).toBe("active");
    expect(h.version).toBe("1.0.0");
    expect(h.callbacks).toEqual(before);
  });

  it("calls already queued on the old instance finish there", async () => {
    const { dir, registry } = await setup();
    const inflight = registry.hook("hello-c", "greet", enc("old"));
    bump(dir, "0.2.0");
    const reloading = registry.reload("hello-c");
    const out = await inflight;
    expect(out.ok && dec(out.data)).toBe("hello, old!");
    expect((await reloading).version).toBe("0.2.0");
  });
});

describe("plughost run --watch", () => {
  it("keeps running, reloads on a change, reports a failure, and exits 0 on SIGTERM", async () => {
    const dir = copyPlugin("examples/c/hello");
    const child = spawn(process.execPath, [path.join(root, "dist/cli/index.js"), "run", dir, "--watch", "--json"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PLUGHOST_LOG_LEVEL: "silent" },
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const nextRecord = async (): Promise<Record<string, unknown>> => {
      const r = await Promise.race([
        lines.next(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no output within 10 s")), 10_000)),
      ]);
      if (r.done) throw new Error("the CLI exited early");
      return JSON.parse(r.value) as Record<string, unknown>;
    };
    try {
      expect(await nextRecord()).toMatchObject({ loaded: "hello-c", version: "0.1.0" });
      expect(await nextRecord()).toEqual({ watching: ["hello-c"] });
      bump(dir, "0.2.0");
      expect(await nextRecord()).toEqual({ reloaded: "hello-c", from: "0.1.0", to: "0.2.0" });
      replaceFile(path.join(dir, "plugin.wasm"), "not wasm");
      expect(await nextRecord()).toMatchObject({ reloadFailed: "hello-c", error: expect.stringMatching(/^E_/) });
      expect(child.exitCode).toBe(null); // still running
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });
});
