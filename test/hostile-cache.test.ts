// Issue 11, "the compile cache is a code-injection path": the cache is private
// to the user, every cached artefact is verified (HMAC with a per-cache key) on
// every read and rebuilt when it does not verify, the glue that runs is the
// verified bytes, and no plugin is granted a directory holding the cache or
// plughost's own files.
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CacheUnsafe, CapabilityDenied, PluginRegistry, type RegistryOptions } from "../src/index.js";
import { CACHE_KEY_FILE } from "../src/runtime/cache-dir.js";
import { clearCompileCache } from "../src/engines/v8/compile.js";
import { addonPath } from "../src/engines/wasmtime/addon.js";
import { clearInstrumentCache } from "../src/instrument/index.js";
import { copyPlugin, pluginDir, root, silentLogger } from "./helpers/plugins.js";

const PROBE = "test/fixtures/c/probe";
const HELLO = "examples/c/hello";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), "plughost-hostile-cache-"));
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

/** Another plugin still answers after the attack. */
async function helloStillAnswers(options: RegistryOptions = {}): Promise<void> {
  const r = newRegistry({ cacheDir: false, ...options });
  await r.load(pluginDir(HELLO));
  const out = await r.runHook("greet", new TextEncoder().encode("you"));
  expect(new TextDecoder().decode(out.data)).toBe("hello, you!");
}

/** Every `plugin.js` of the v8 glue cache under `cacheDir`. */
const glueFiles = (cacheDir: string) =>
  readdirSync(path.join(cacheDir, "v8")).map((h) => path.join(cacheDir, "v8", h, "plugin.js")).filter((f) => existsSync(f));

/** Put JS in front of cached glue that would leave `marker` on disk if the host ran it. */
function plantGlue(file: string, marker: string): void {
  const planted = `import { writeFileSync as __plant } from "node:fs";\n__plant(${JSON.stringify(marker)}, "planted glue ran");\n`;
  writeFileSync(file, planted + readFileSync(file, "utf8"));
}

describe.each(["in-process", "worker"] as const)("hostile compile cache on v8 (%s)", (isolation) => {
  it("does not run planted glue: the entry fails verification and is rebuilt, and the plugin works", async () => {
    // A genuine cache entry, copied to a second cache and tampered with there
    // (a new directory, so no module loader has seen the file before).
    clearCompileCache();
    const genuine = fresh("genuine");
    mkdirSync(genuine, { mode: 0o700 });
    await newRegistry({ cacheDir: genuine }).load(pluginDir(PROBE));
    const victim = fresh("victim");
    cpSync(genuine, victim, { recursive: true });
    chmodSync(victim, 0o700);
    const marker = path.join(tmp, `marker-${isolation}-${n}`);
    const files = glueFiles(victim);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) plantGlue(f, marker);
    clearCompileCache(); // as after a host restart

    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      const r = newRegistry({ cacheDir: victim, isolation });
      await r.load(pluginDir(PROBE));
      expect(await r.invoke("probe", "ok")).toBe(42);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    } finally {
      process.off("warning", onWarning);
    }
    expect(existsSync(marker), "the planted glue ran in the host").toBe(false);
    expect(warnings.some((w) => /failed verification/.test(w))).toBe(true);
    // The entry was rebuilt: the planted lines are gone from the disk.
    for (const f of glueFiles(victim)) expect(readFileSync(f, "utf8")).not.toContain("planted glue ran");
    await helloStillAnswers();
  });

  it("does not trust a tampered instrumented core module: it is rebuilt (metered again) and the plugin works", async () => {
    const dir = fresh("instrumented");
    mkdirSync(dir, { mode: 0o700 });
    const limits = { fuel: 50_000_000, memoryBytes: 64 << 20 };
    clearCompileCache();
    clearInstrumentCache();
    await newRegistry({ cacheDir: dir, isolation, defaultLimits: limits }).load(pluginDir(PROBE));
    const idir = path.join(dir, "instrumented");
    const wasm = readdirSync(idir).filter((f) => f.endsWith(".wasm"));
    expect(wasm.length).toBeGreaterThan(0);
    for (const f of wasm) writeFileSync(path.join(idir, f), "not the module that was cached");
    clearCompileCache();
    clearInstrumentCache();
    const r = newRegistry({ cacheDir: dir, isolation, defaultLimits: limits });
    await r.load(pluginDir(PROBE));
    expect(await r.invoke("probe", "ok")).toBe(42);
    // Rebuilt by the instrumenter: a module again, importing the limits it is metered by.
    const rebuilt = wasm.map((f) => new WebAssembly.Module(readFileSync(path.join(idir, f))));
    expect(rebuilt.some((m) => WebAssembly.Module.imports(m).some((i) => i.module === "plughost:limits"))).toBe(true);
  });
});

describe("worker isolation reads the cache on its own", () => {
  it("a worker started after the glue was replaced does not run it", async () => {
    // The host compiles (and caches) on its own thread; a worker gets what it verified and never reads the disk.
    clearCompileCache();
    const dir = fresh("worker-only");
    mkdirSync(dir, { mode: 0o700 });
    const first = newRegistry({ cacheDir: dir, isolation: "worker" });
    await first.load(pluginDir(PROBE));
    await first.unloadAll();
    // The host thread keeps the compiled glue in memory; only the new worker reads the disk.
    const marker = path.join(tmp, `marker-worker-only-${n}`);
    for (const f of glueFiles(dir)) plantGlue(f, marker);
    const r = newRegistry({ cacheDir: dir, isolation: "worker" });
    await r.load(pluginDir(PROBE));
    expect(await r.invoke("probe", "ok")).toBe(42);
    expect(existsSync(marker), "the planted glue ran in the worker").toBe(false);
  });
});

describe("hostile compile cache on wasmtime", () => {
  it("has the wasmtime addon built", () => {
    expect(existsSync(addonPath()), `${addonPath()} is missing: run node scripts/setup.mjs`).toBe(true);
  });

  it("rebuilds a .cwasm that does not verify instead of running its native code", async () => {
    const dir = fresh("wasmtime");
    mkdirSync(dir, { mode: 0o700 });
    const r = newRegistry({ cacheDir: dir, engine: "wasmtime" });
    await r.load(pluginDir(PROBE));
    await r.load(pluginDir(HELLO));
    const cwasm = readdirSync(path.join(dir, "wasmtime")).filter((f) => f.endsWith(".cwasm"));
    expect(cwasm).toHaveLength(2);
    const [a, b] = cwasm.map((f) => path.join(dir, "wasmtime", f)) as [string, string];
    // Swap the two artefacts: each file now holds another component's machine code.
    const bytesA = readFileSync(a);
    writeFileSync(a, readFileSync(b));
    writeFileSync(b, bytesA);

    // A fresh process has an empty in-memory cache, so it must read the disk.
    const key = readFileSync(path.join(dir, CACHE_KEY_FILE));
    const script = `
      const addon = require(${JSON.stringify(addonPath())});
      const fs = require("node:fs");
      const key = Buffer.from(${JSON.stringify(key.toString("hex"))}, "hex");
      (async () => {
        for (const p of ${JSON.stringify([PROBE, HELLO].map((p) => path.join(root, p, "plugin.wasm")))}) {
          const c = await addon.compile(fs.readFileSync(p), ${JSON.stringify(dir)}, key);
          console.log(c.source);
        }
      })();`;
    expect(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }).trim().split("\n")).toEqual(["rebuilt", "rebuilt"]);
    // Rebuilt and re-sealed: a second fresh process trusts them again.
    expect(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }).trim().split("\n")).toEqual(["disk", "disk"]);
    expect(await r.invoke("probe", "ok")).toBe(42);
  });

  it("does not use the disk cache when no key is given", () => {
    const dir = fresh("wasmtime-nokey");
    mkdirSync(dir, { mode: 0o700 });
    const script = `
      const addon = require(${JSON.stringify(addonPath())});
      addon.compile(require("node:fs").readFileSync(${JSON.stringify(path.join(root, HELLO, "plugin.wasm"))}), ${JSON.stringify(dir)})
        .then((c) => console.log(c.source));`;
    expect(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }).trim()).toBe("compiled");
    expect(existsSync(path.join(dir, "wasmtime"))).toBe(false);
  });
});

describe.each(["v8", "wasmtime"] as const)("cache directory checks on %s", (engine) => {
  const refused = async (cacheDir: string, problem: RegExp) => {
    const err = await newRegistry({ cacheDir, engine })
      .load(pluginDir(PROBE))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CacheUnsafe);
    const e = err as CacheUnsafe;
    expect(e.code).toBe("E_CACHE_UNSAFE");
    expect(e.plugin).toBe("probe");
    expect(e.path).toBe(cacheDir);
    expect(e.message).toMatch(problem);
    expect(e.message).toMatch(/remove it|use a directory/);
    await helloStillAnswers({ engine });
  };

  it("refuses a cache directory writable by other users", async () => {
    const dir = fresh("world-writable");
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    await refused(dir, /writable by other users/);
  });

  it("refuses a cache directory owned by another user", async () => {
    expect(process.getuid?.(), "these tests run as root so they can chown").toBe(0);
    const dir = fresh("other-owner");
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
    await refused(dir, /owned by uid 65534/);
  });

  it("refuses a cache directory that is a symbolic link", async () => {
    const real = fresh("real");
    mkdirSync(real, { mode: 0o700 });
    const link = fresh("link");
    symlinkSync(real, link);
    await refused(link, /symbolic link/);
  });

  it("loads without a disk cache (and warns) when the directory cannot be created", async () => {
    const file = fresh("a-file");
    writeFileSync(file, "not a directory");
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      const r = newRegistry({ cacheDir: path.join(file, "cache"), engine });
      await r.load(pluginDir(PROBE));
      expect(await r.invoke("probe", "ok")).toBe(42);
      // process.emitWarning emits on the next tick: a load that needs no I/O turn finishes before it.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.some((w) => w.includes(path.join(file, "cache")) && /cannot be used/.test(w))).toBe(true);
  });

  it("refuses a cache inside a directory another user may write to", async () => {
    const parent = fresh("open-parent");
    mkdirSync(parent);
    chmodSync(parent, 0o777); // no sticky bit: anyone could rename the cache away
    const dir = path.join(parent, "cache");
    mkdirSync(dir, { mode: 0o700 });
    const err = await newRegistry({ cacheDir: dir, engine })
      .load(pluginDir(PROBE))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CacheUnsafe);
    expect((err as Error).message).toContain(parent);
  });
});

describe("default cache location", () => {
  const saved = process.env.XDG_CACHE_HOME;
  afterEach(() => {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
  });

  it("is $XDG_CACHE_HOME/plughost, created mode 0700, with a 0600 key", async () => {
    const xdg = fresh("xdg");
    mkdirSync(xdg, { mode: 0o700 });
    process.env.XDG_CACHE_HOME = xdg;
    clearCompileCache();
    const r = newRegistry({});
    await r.load(pluginDir(PROBE));
    expect(await r.invoke("probe", "ok")).toBe(42);
    const dir = path.join(xdg, "plughost");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(path.join(dir, "v8")).length).toBeGreaterThan(0);
    expect(statSync(path.join(dir, CACHE_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(existsSync(path.join(tmpdir(), "plughost-cache", "v8")) && statSync(path.join(tmpdir(), "plughost-cache", "v8")).mtimeMs > Date.now() - 60_000).toBe(false);
  });
});

describe.each(["v8", "wasmtime"] as const)("grants over protected paths on %s", (engine) => {
  const withCapabilities = (caps: string[]) =>
    copyPlugin(HELLO, (t) => t.replace(/^entry = .*$/m, (e) => `${e}\ncapabilities = ${JSON.stringify(caps)}`));

  const refusedGrant = async (cacheDir: string | false, capability: string, protectedPath: string) => {
    const r = newRegistry({ cacheDir, engine, grants: [capability] });
    const err = await r.load(withCapabilities([capability])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapabilityDenied);
    const e = err as CapabilityDenied;
    expect(e.code).toBe("E_CAPABILITY_DENIED");
    expect(e.plugin).toBe("hello-c");
    expect(e.capability).toBe(capability);
    expect(e.message).toContain(protectedPath);
    await helloStillAnswers({ engine });
  };

  it("refuses fs:write on a directory that contains the cache", async () => {
    const parent = fresh("cache-parent");
    mkdirSync(parent, { mode: 0o700 });
    const cacheDir = path.join(parent, "cache");
    await refusedGrant(cacheDir, `fs:write:${parent}`, cacheDir);
    // Links are resolved: a grant through a symbolic link to the same directory is refused too.
    const link = fresh("link-to-cache-parent");
    symlinkSync(parent, link);
    await refusedGrant(cacheDir, `fs:write:${link}`, cacheDir);
  });

  it("refuses fs:read on the cache itself and on a directory inside it", async () => {
    const cacheDir = fresh("cache-self");
    mkdirSync(path.join(cacheDir, "v8"), { recursive: true, mode: 0o700 });
    await refusedGrant(cacheDir, `fs:read:${cacheDir}`, cacheDir);
    await refusedGrant(cacheDir, `fs:write:${path.join(cacheDir, "v8")}`, cacheDir);
  });

  it("refuses a grant that contains plughost's own package directory, and write access inside it", async () => {
    await refusedGrant(false, `fs:read:${path.dirname(root)}`, root);
    await refusedGrant(false, `fs:write:${path.join(root, "src")}`, root);
    await refusedGrant(false, `fs:write:${path.join(root, "node_modules", "pino")}`, root);
    // Reading what ships inside the package (examples, fixtures) stays possible.
    const cap = `fs:read:${path.join(root, "examples")}`;
    await newRegistry({ cacheDir: false, engine, grants: [cap] }).load(withCapabilities([cap]));
  });

  it("still grants a sibling of the cache", async () => {
    const parent = fresh("sibling");
    const out = path.join(parent, "out");
    mkdirSync(out, { recursive: true });
    const cap = `fs:write:${out}`;
    const r = newRegistry({ cacheDir: path.join(parent, "cache"), engine, grants: [cap] });
    await r.load(withCapabilities([cap]));
  });
});
