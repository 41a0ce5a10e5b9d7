// Issue 12, "isolation is chosen at the engine's face": the policy decides a v8
// plugin's isolation once, the v8 engine's entry acts on it, and a worker runs
// what the host compiled, instrumented and verified: it never transpiles the
// component again and never reads the compile cache.
//
// Every worker started through src/ in this file runs without a transpiler:
// the wrapped Worker below makes jco's own wasm unreadable inside the thread
// before the plughost worker entry loads (checked by the first test).
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { DeadlineUnenforceable, PluginRegistry, type RegistryOptions } from "../src/index.js";
import { cacheMac, CACHE_KEY_FILE } from "../src/runtime/cache-dir.js";
import { clearCompileCache } from "../src/engines/v8/compile.js";
import { liveWorkerCount } from "../src/engines/v8/worker/host.js";
import type { WorkerSetup } from "../src/engines/v8/worker/channel.js";
import { copyPlugin, dec, enc, pluginDir, silentLogger } from "./helpers/plugins.js";

const spawned = vi.hoisted(() => [] as { file: string; workerData: unknown }[]);

vi.mock("node:worker_threads", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:worker_threads")>();
  const { pathToFileURL } = await import("node:url");
  // Runs first in the thread: the vendored jco tools read their core wasm with fs/promises, so refusing those files leaves no transpiler.
  const withoutTranspiler = (entry: string) =>
    new URL(
      "data:text/javascript;base64," +
        Buffer.from(
          `import fs from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
const readFile = fs.readFile;
fs.readFile = function (file, ...rest) {
  if (String(file).includes("/vendor/jco/")) return Promise.reject(new Error("the transpiler is unavailable in this worker"));
  return readFile.call(this, file, ...rest);
};
syncBuiltinESMExports();
await import(${JSON.stringify(entry)});`,
        ).toString("base64"),
    );
  class Worker extends real.Worker {
    constructor(file: string | URL, options?: import("node:worker_threads").WorkerOptions) {
      const name = String(file);
      spawned.push({ file: name, workerData: options?.workerData });
      const entry = name.startsWith("data:") ? name : pathToFileURL(name).href;
      super(withoutTranspiler(entry), options);
    }
  }
  return { ...real, Worker, default: { ...real, Worker } };
});

const PROBE = "test/fixtures/c/probe";
const HELLO = "examples/c/hello";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), "plughost-isolation-choice-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const registries: PluginRegistry[] = [];
const newRegistry = (options: RegistryOptions) => {
  const r = new PluginRegistry({ logger: silentLogger(), ...options });
  registries.push(r);
  return r;
};
afterEach(async () => {
  for (const r of registries.splice(0)) await r.unloadAll().catch(() => undefined);
});

let n = 0;
const fresh = (name: string) => path.join(tmp, `${name}-${++n}`);

async function greets(r: PluginRegistry): Promise<void> {
  const out = await r.runHook("greet", enc("you"));
  expect(dec(out.data)).toBe("hello, you!");
}

/** Another plugin, in process, still answers. */
async function helloStillAnswers(): Promise<void> {
  const r = newRegistry({ cacheDir: false });
  await r.load(pluginDir(HELLO));
  await greets(r);
}

const setupOf = (i: number) => spawned[i]!.workerData as WorkerSetup;

describe("the worker runs what the host compiled", () => {
  it("the wrapped worker has no transpiler (the check the other tests rely on)", async () => {
    const { Worker } = await import("node:worker_threads");
    const jco = new URL("../vendor/jco/index.js", import.meta.url).href;
    const code = `const m = await import(${JSON.stringify(jco)});
await m.transpileBytes(new Uint8Array(8), { name: "x" });`;
    const w = new Worker(new URL("data:text/javascript;base64," + Buffer.from(code).toString("base64")));
    const failure = await new Promise<unknown>((resolve) => {
      w.once("error", resolve);
      w.once("exit", () => resolve(undefined));
    });
    expect((failure as Error | undefined)?.message).toMatch(/the transpiler is unavailable in this worker/);
  });

  describe.each([
    ["instrumented (default limits)", {}],
    ["uninstrumented (unlimited)", { defaultLimits: "unlimited" as const }],
  ])("%s", (_label, limits) => {
    it("loads and answers in a worker without a transpiler and without a disk cache; the setup carries compiled modules", async () => {
      clearCompileCache();
      const before = spawned.length;
      const r = newRegistry({ cacheDir: false, isolation: "worker", ...limits });
      await r.load(pluginDir(HELLO));
      await greets(r);
      expect(r.info("hello-c")?.isolation).toBe("worker");
      expect(spawned.length).toBe(before + 1);
      const setup = setupOf(before);
      expect(setup.component.modules.length).toBeGreaterThan(0);
      for (const m of setup.component.modules) expect(m.module).toBeInstanceOf(WebAssembly.Module);
      expect(setup.component.glueUrl).toMatch(/^data:text\/javascript;base64,/);
      // Nothing to compile from and nowhere to read a cache.
      expect(Object.keys(setup)).not.toContain("bytes");
      expect(Object.keys(setup)).not.toContain("cacheDir");
      await helloStillAnswers();
    });
  });

  it("a worker restarted after a fault is loaded from the host's modules too", async () => {
    const r = newRegistry({ cacheDir: false, isolation: "worker", hostCalls: { maxCallbacks: 12 } });
    const probe = await r.load(pluginDir(PROBE));
    expect(await probe.invoke("count")).toBe(1);
    const before = spawned.length;
    const restarted = new Promise((done) => r.once("restarted", done));
    await expect(probe.invoke("trap")).rejects.toThrow();
    await restarted;
    expect(await probe.invoke("count")).toBe(1); // a fresh instance
    expect(spawned.length).toBe(before + 1);
  });
});

describe("the compile cache is never read by a worker", () => {
  /** Every cached glue entry under `cacheDir`. */
  const glueDirs = (cacheDir: string) => readdirSync(path.join(cacheDir, "v8")).map((h) => path.join(cacheDir, "v8", h)).filter((d) => existsSync(path.join(d, "plugin.js")));
  const planted = (marker: string) => `import { writeFileSync as __plant } from "node:fs";\n__plant(${JSON.stringify(marker)}, "planted glue ran");\n`;

  it("planted (unsealed) glue does not run: the host rebuilds the entry and the worker runs the rebuilt glue", async () => {
    clearCompileCache();
    const genuine = fresh("genuine");
    mkdirSync(genuine, { mode: 0o700 });
    await newRegistry({ cacheDir: genuine }).load(pluginDir(HELLO));
    const victim = fresh("victim");
    cpSync(genuine, victim, { recursive: true });
    const marker = path.join(tmp, `marker-unsealed-${n}`);
    for (const d of glueDirs(victim)) writeFileSync(path.join(d, "plugin.js"), planted(marker) + readFileSync(path.join(d, "plugin.js"), "utf8"));

    clearCompileCache();
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => void warnings.push(String(w.code));
    process.on("warning", onWarning);
    try {
      const r = newRegistry({ cacheDir: victim, isolation: "worker" });
      await r.load(pluginDir(HELLO));
      await greets(r);
      await new Promise((done) => setImmediate(done));
    } finally {
      process.off("warning", onWarning);
    }
    expect(existsSync(marker), "the planted glue ran").toBe(false);
    expect(warnings).toContain("PLUGHOST_CACHE_REBUILT");
    await helloStillAnswers();
  });

  it("glue replaced on disk after the host verified it, even validly sealed, does not run in a new worker", async () => {
    clearCompileCache();
    const dir = fresh("resealed");
    mkdirSync(dir, { mode: 0o700 });
    const first = newRegistry({ cacheDir: dir, isolation: "worker" });
    await first.load(pluginDir(HELLO));
    await first.unloadAll();
    // Someone holding the cache key re-seals other glue. The host keeps the glue it verified in memory;
    // a worker that read the disk would import this.
    const key = readFileSync(path.join(dir, CACHE_KEY_FILE));
    const marker = path.join(tmp, `marker-resealed-${n}`);
    for (const d of glueDirs(dir)) {
      const meta = JSON.parse(readFileSync(path.join(d, "meta.json"), "utf8")) as { imports: string[]; exports: string[]; files: string[]; mac: string };
      writeFileSync(path.join(d, "plugin.js"), planted(marker) + readFileSync(path.join(d, "plugin.js"), "utf8"));
      const hash = path.basename(d);
      const parts = [hash, JSON.stringify([meta.imports, meta.exports, meta.files]), ...meta.files.map((f) => readFileSync(path.join(d, f)))];
      meta.mac = cacheMac(key, "plughost-v8-glue-1", parts).toString("hex");
      writeFileSync(path.join(d, "meta.json"), JSON.stringify(meta));
    }
    const r = newRegistry({ cacheDir: dir, isolation: "worker" });
    await r.load(pluginDir(HELLO));
    await greets(r);
    expect(existsSync(marker), "the worker ran glue it read from the disk").toBe(false);
    await helloStillAnswers();
  });
});

describe("isolation is decided once, and info() says what ran", () => {
  const deadlineCopy = () => copyPlugin(HELLO, (t) => `${t.trimEnd()}\n\n[limits]\ndeadline-ms = 5000\n`);

  it.each([
    ["default", {}, () => pluginDir(HELLO), "in-process"],
    ["host isolation: worker", { isolation: "worker" as const }, () => pluginDir(HELLO), "worker"],
    ["manifest deadline-ms", {}, deadlineCopy, "worker"],
    ["host requireDeadlines", { requireDeadlines: true }, () => pluginDir(HELLO), "worker"],
  ])("%s", async (_label, options, dir, expected) => {
    const before = spawned.length;
    const workers = liveWorkerCount();
    const r = newRegistry({ cacheDir: false, ...options });
    await r.load(dir());
    await greets(r);
    expect(r.info("hello-c")?.isolation).toBe(expected);
    // One worker per worker load, none in process.
    const ran = expected === "worker" ? 1 : 0;
    expect(spawned.length - before).toBe(ran);
    expect(liveWorkerCount() - workers).toBe(ran);
  });

  it("an explicit in-process with an explicit deadline is refused before anything is compiled or started", async () => {
    const before = spawned.length;
    const r = newRegistry({ cacheDir: false, isolation: "in-process" });
    const err = await r.load(deadlineCopy()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineUnenforceable);
    expect((err as DeadlineUnenforceable).code).toBe("E_DEADLINE_UNENFORCEABLE");
    expect((err as DeadlineUnenforceable).plugin).toBe("hello-c");
    expect(spawned.length).toBe(before);
    await helloStillAnswers();
  });
});
