// Fault injection, compile cache: entries of the v8 glue cache, the instrument
// cache and wasmtime's native-code cache are truncated, emptied, bit-flipped or
// removed; the cache directory is made read-only (a read-only tmpfs) and full
// (a tmpfs of a few KiB). Each case is a transparent rebuild (or a load without
// a disk cache) and the plugin then answers right, fuel metering included; it
// is never a crash, an untyped error, or a plugin that runs unmetered.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CacheUnsafe, FuelExhausted, packPlugin, PluginRegistry, writePackage, type RegistryOptions } from "../src/index.js";
import { clearCompileCache } from "../src/engines/v8/compile.js";
import { clearInstrumentCache } from "../src/instrument/index.js";
import { pluginDir, root, silentLogger } from "./helpers/plugins.js";

const PROBE = "test/fixtures/c/probe";
const HELLO = "examples/c/hello";

let tmp: string;
const mounts: string[] = [];
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), "plughost-fault-cache-"));
});
afterAll(() => {
  for (const m of mounts.splice(0).reverse()) execFileSync("umount", ["-l", m]);
  rmSync(tmp, { recursive: true, force: true });
});

const registries: PluginRegistry[] = [];
afterEach(async () => {
  for (const r of registries.splice(0)) await r.unloadAll().catch(() => undefined);
});
const newRegistry = (options: RegistryOptions) => {
  const r = new PluginRegistry({ logger: silentLogger(), ...options });
  registries.push(r);
  return r;
};

let n = 0;
const fresh = (name: string) => {
  const dir = path.join(tmp, `${name}-${++n}`);
  mkdirSync(dir, { mode: 0o700 });
  return dir;
};

/** Run `fn` collecting the process warnings it causes (the cache reports rebuilds and unusable directories so). */
async function withWarnings<T>(fn: () => Promise<T>): Promise<{ value: T; warnings: { code: string | undefined; message: string }[] }> {
  const warnings: { code: string | undefined; message: string }[] = [];
  const on = (w: Error & { code?: string }) => warnings.push({ code: w.code, message: w.message });
  process.on("warning", on);
  try {
    const value = await fn();
    // Warnings are emitted on the next tick.
    await new Promise((r) => setImmediate(r));
    return { value, warnings };
  } finally {
    process.off("warning", on);
  }
}

/** Cold start (as after a host restart): nothing in memory, so the disk cache is read. */
function cold(): void {
  clearCompileCache();
  clearInstrumentCache();
}

/** A load of the probe from `cacheDir` on v8 that must answer right, metered by `fuel`. */
async function probeAnswers(cacheDir: string, isolation: "in-process" | "worker" = "in-process") {
  const r = newRegistry({ cacheDir, isolation, defaultLimits: { fuel: 5_000_000, memoryBytes: 64 << 20 } });
  const h = await r.load(pluginDir(PROBE));
  expect(await h.invoke("ok")).toBe(42);
  expect(await h.invoke("len", new TextEncoder().encode("four"))).toBe(4);
  // Metering survived whatever happened to the cache: a loop past its fuel is stopped, typed.
  await expect(h.invoke("spin")).rejects.toBeInstanceOf(FuelExhausted);
  await r.unloadAll();
}

type Damage = "truncate-half" | "empty" | "flip" | "remove";
const DAMAGES: Damage[] = ["truncate-half", "empty", "flip", "remove"];

function damage(file: string, how: Damage, seed: number): void {
  const size = statSync(file).size;
  if (how === "truncate-half") truncateSync(file, Math.floor(size / 2));
  else if (how === "empty") truncateSync(file, 0);
  else if (how === "remove") unlinkSync(file);
  else {
    const bytes = readFileSync(file);
    const at = (seed * 7919) % bytes.length;
    bytes[at] = bytes[at]! ^ (1 << seed % 8);
    writeFileSync(file, bytes);
  }
}

type Part = "key" | "v8" | "instrumented";

/** Every file of every entry of a populated cache, its key included, by the cache part it belongs to. */
function entries(cacheDir: string): { part: Part; file: string }[] {
  const out: { part: Part; file: string }[] = [{ part: "key", file: "cache.key" }];
  for (const h of readdirSync(path.join(cacheDir, "v8"))) {
    for (const f of readdirSync(path.join(cacheDir, "v8", h))) out.push({ part: "v8", file: path.join("v8", h, f) });
  }
  for (const f of readdirSync(path.join(cacheDir, "instrumented"))) out.push({ part: "instrumented", file: path.join("instrumented", f) });
  return out;
}

describe("damaged entries of the v8 glue cache and the instrument cache", () => {
  let genuine: string;
  let files: { part: Part; file: string }[];
  beforeAll(async () => {
    cold();
    genuine = fresh("genuine");
    await probeAnswers(genuine);
    files = entries(genuine);
  });

  it("the populated cache holds glue, core modules and instrumented modules", () => {
    expect(files.some((f) => f.file.endsWith("plugin.js"))).toBe(true);
    expect(files.some((f) => f.file.endsWith("meta.json"))).toBe(true);
    expect(files.some((f) => f.part === "v8" && f.file.endsWith(".wasm"))).toBe(true);
    expect(files.filter((f) => f.part === "instrumented").length).toBeGreaterThanOrEqual(2);
  });

  it.each(DAMAGES)("each file damaged (%s): rebuilt, reported, and the plugin answers right and metered", async (how) => {
    let seed = 1;
    for (const { part, file } of files) {
      const dir = fresh(`damaged-${how}`);
      execFileSync("cp", ["-a", `${genuine}/.`, dir]);
      damage(path.join(dir, file), how, seed++);
      cold();
      if (part === "key" && (how === "truncate-half" || how === "empty")) {
        // A key that is not 32 bytes could be someone else's doing: the cache is refused, typed, naming the file.
        const err = await newRegistry({ cacheDir: dir }).load(pluginDir(PROBE)).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(CacheUnsafe);
        expect(err).toMatchObject({ code: "E_CACHE_UNSAFE", plugin: "probe", offending: path.join(dir, file) });
        expect((err as CacheUnsafe).message).toMatch(/Remove it/);
        // Doing what it says (removing the key) makes a working cache again: every entry is resealed with the new key.
        unlinkSync(path.join(dir, file));
        cold();
        const { warnings } = await withWarnings(() => probeAnswers(dir));
        expect(warnings.some((w) => w.code === "PLUGHOST_CACHE_REBUILT")).toBe(true);
        continue;
      }
      const { warnings } = await withWarnings(() => probeAnswers(dir));
      const rebuilt = warnings.filter((w) => w.code === "PLUGHOST_CACHE_REBUILT");
      // A removed meta file is an entry not cached yet; anything else is a damaged entry, reported as rebuilt.
      // The instrument cache's own key cut short leaves that cache unused (the modules are instrumented afresh).
      const silentMiss =
        (how === "remove" && (file.endsWith("meta.json") || (part === "instrumented" && file.endsWith(".json")))) ||
        (part === "instrumented" && file.endsWith("cache.key") && how !== "flip" && how !== "remove");
      if (!silentMiss) expect(rebuilt.length, `${how} ${file}: no rebuild reported`).toBeGreaterThan(0);
      expect(warnings.filter((w) => w.code !== "PLUGHOST_CACHE_REBUILT")).toEqual([]);
      // Rebuilt and sealed again: the next cold start trusts the disk and reports nothing.
      cold();
      const again = await withWarnings(() => probeAnswers(dir));
      expect(again.warnings, `${how} ${file}: not rebuilt on disk`).toEqual([]);
    }
  });

  it("a damaged entry read by a worker-isolated plugin is rebuilt the same way", async () => {
    const dir = fresh("damaged-worker");
    execFileSync("cp", ["-a", `${genuine}/.`, dir]);
    for (const { file } of files) if (file.endsWith(".wasm") || file.endsWith("plugin.js")) damage(path.join(dir, file), "truncate-half", 3);
    cold();
    const { warnings } = await withWarnings(() => probeAnswers(dir, "worker"));
    expect(warnings.some((w) => w.code === "PLUGHOST_CACHE_REBUILT")).toBe(true);
  });
});

describe("damaged wasmtime native code", () => {
  // A fresh process has an empty in-memory cache, so it reads (and checks) the disk.
  const run = (cacheDir: string): { answer: number; fuel: string; warnings: string[] } => {
    const script = `
      import { PluginRegistry, FuelExhausted } from ${JSON.stringify(path.join(root, "dist", "index.js"))};
      import { pino } from "pino";
      const warnings = [];
      process.on("warning", (w) => warnings.push(w.code ?? w.name));
      const r = new PluginRegistry({ logger: pino({ level: "silent" }), engine: "wasmtime", cacheDir: ${JSON.stringify(cacheDir)}, defaultLimits: { fuel: 5000000 } });
      const h = await r.load(${JSON.stringify(pluginDir(PROBE))});
      const answer = await h.invoke("ok");
      const fuel = await h.invoke("spin").then(() => "returned", (e) => e instanceof FuelExhausted ? "FuelExhausted" : String(e));
      await r.unloadAll();
      await new Promise((r) => setImmediate(r));
      console.log(JSON.stringify({ answer, fuel, warnings }));`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: root, encoding: "utf8" });
    return JSON.parse(out.trim().split("\n").at(-1)!) as { answer: number; fuel: string; warnings: string[] };
  };

  let genuine: string;
  beforeAll(() => {
    genuine = fresh("wasmtime-genuine");
    expect(run(genuine)).toEqual({ answer: 42, fuel: "FuelExhausted", warnings: [] });
  });

  it.each(DAMAGES)("a .cwasm damaged (%s) is rebuilt in a fresh process, and the plugin answers right and metered", (how) => {
    const dir = fresh(`wasmtime-${how}`);
    execFileSync("cp", ["-a", `${genuine}/.`, dir]);
    const cwasm = readdirSync(path.join(dir, "wasmtime")).filter((f) => f.endsWith(".cwasm"));
    expect(cwasm).toHaveLength(1);
    damage(path.join(dir, "wasmtime", cwasm[0]!), how, 5);
    const after = run(dir);
    expect(after).toEqual({ answer: 42, fuel: "FuelExhausted", warnings: how === "remove" ? [] : ["PLUGHOST_CACHE_REBUILT"] });
    expect(run(dir)).toEqual({ answer: 42, fuel: "FuelExhausted", warnings: [] });
  });
});

/** A tmpfs of `size` mounted at a fresh directory (mode 0700, ours), unmounted after the file's tests. */
function tmpfs(name: string, size: string): string {
  const dir = fresh(name);
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir]);
  mounts.push(dir);
  return dir;
}
const remountReadOnly = (dir: string) => execFileSync("mount", ["-o", "remount,ro", dir]);

describe("a read-only cache directory (a read-only tmpfs)", () => {
  it("runs as root, which may mount a tmpfs", () => {
    expect(process.getuid?.(), "these tests mount a tmpfs: run them as root (CI does)").toBe(0);
  });

  it.each(["v8", "wasmtime"] as const)("empty and read-only: %s loads without a disk cache, says so, and answers", async (engine) => {
    const dir = tmpfs(`ro-empty-${engine}`, "1m");
    remountReadOnly(dir);
    cold();
    const { warnings } = await withWarnings(async () => {
      const r = newRegistry({ cacheDir: dir, engine, defaultLimits: { fuel: 5_000_000 } });
      const h = await r.load(pluginDir(PROBE));
      expect(await h.invoke("ok")).toBe(42);
      await expect(h.invoke("spin")).rejects.toBeInstanceOf(FuelExhausted);
    });
    expect(warnings.some((w) => w.code === "PLUGHOST_CACHE_UNUSABLE" && w.message.includes(dir))).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("populated, then read-only: loads from the sealed entries", async () => {
    const dir = tmpfs("ro-populated", "8m");
    cold();
    await probeAnswers(dir);
    remountReadOnly(dir);
    cold();
    const { warnings } = await withWarnings(() => probeAnswers(dir));
    expect(warnings).toEqual([]);
  });

  it("populated, damaged, then read-only: the damaged entries are rebuilt in memory (they cannot be replaced), the plugin answers right", async () => {
    const dir = tmpfs("ro-damaged", "8m");
    cold();
    await probeAnswers(dir);
    for (const { file } of entries(dir)) if (file.endsWith(".wasm") || file.endsWith("plugin.js")) damage(path.join(dir, file), "flip", 2);
    remountReadOnly(dir);
    cold();
    const { warnings } = await withWarnings(() => probeAnswers(dir));
    expect(warnings.some((w) => w.code === "PLUGHOST_CACHE_REBUILT")).toBe(true);
    // And again: still damaged on disk, still rebuilt, still right.
    cold();
    await probeAnswers(dir);
  });
});

describe("a full disk under the cache (a tmpfs of a few KiB)", () => {
  it.each(["v8", "wasmtime"] as const)("%s: the key fits, the artefacts do not: the load still works, nothing half-written is left", async (engine) => {
    // 16 KiB: room for the key and directories, not for glue, core modules or native code.
    const dir = tmpfs(`full-${engine}`, "16k");
    cold();
    const r = newRegistry({ cacheDir: dir, engine, defaultLimits: { fuel: 5_000_000 } });
    const h = await r.load(pluginDir(PROBE));
    expect(await h.invoke("ok")).toBe(42);
    await expect(h.invoke("spin")).rejects.toBeInstanceOf(FuelExhausted);
    await r.unloadAll();
    // A second cold load from the same full cache: no half-written entry is trusted.
    if (engine === "v8") {
      cold();
      await probeAnswers(dir);
    }
    // Temporary names: v8 glue `<hash>.tmp-…`, instrumented `<key>.wasm.<pid>.…`, wasmtime `.<pid>.<name>.tmp`, the key `.cache.key.…`.
    const leftovers = execFileSync("find", [dir, "-name", "*.tmp*", "-o", "-name", "*.wasm.*", "-o", "-name", "*.json.*", "-o", "-name", ".cache.key.*"], { encoding: "utf8" }).trim();
    expect(leftovers, "temporary files left on the full disk").toBe("");
  });

  it("a disk with no room even for the key: loads without a disk cache, says so, and leaves no partial key file", async () => {
    const dir = tmpfs("full-no-key", "64k");
    // Fill it: a file as large as the tmpfs allows.
    try {
      execFileSync("dd", ["if=/dev/zero", `of=${path.join(dir, "filler")}`, "bs=4k", "count=64"], { stdio: "ignore" });
    } catch {
      // dd fails once the disk is full, which is the point
    }
    cold();
    const { warnings } = await withWarnings(async () => {
      const r = newRegistry({ cacheDir: dir, defaultLimits: { fuel: 5_000_000 } });
      const h = await r.load(pluginDir(PROBE));
      expect(await h.invoke("ok")).toBe(42);
      await expect(h.invoke("spin")).rejects.toBeInstanceOf(FuelExhausted);
    });
    expect(warnings.some((w) => w.code === "PLUGHOST_CACHE_UNUSABLE" && w.message.includes(dir))).toBe(true);
    const partial = execFileSync("find", [dir, "-name", ".cache.key.*", "-o", "-type", "f", "-size", "-32c", "-name", "cache.key"], { encoding: "utf8" }).trim();
    expect(partial, "a partial key file was left").toBe("");
  });

  it("a disk that fills up while an entry is written: a later load on a disk with room again rebuilds and answers", async () => {
    const dir = tmpfs("full-then-room", "16k");
    cold();
    await probeAnswers(dir);
    execFileSync("mount", ["-o", "remount,size=16m", dir]);
    cold();
    await probeAnswers(dir);
    cold();
    const { warnings } = await withWarnings(() => probeAnswers(dir));
    expect(warnings).toEqual([]);
    expect(readdirSync(path.join(dir, "v8")).length).toBeGreaterThan(0);
  });

  it("HELLO still loads from a full cache with the wasmtime engine", async () => {
    const dir = tmpfs("full-hello", "16k");
    const r = newRegistry({ cacheDir: dir, engine: "wasmtime" });
    await r.load(pluginDir(HELLO));
    const out = await r.runHook("greet", new TextEncoder().encode("you"));
    expect(new TextDecoder().decode(out.data)).toBe("hello, you!");
    expect(existsSync(path.join(dir, "cache.key"))).toBe(true);
  });
});

describe("a package file loaded through a read-only or full cache (extracted into <cacheDir>/packages)", () => {
  const helloPackage = async (): Promise<string> => {
    const file = path.join(fresh("package"), "hello-c-0.1.0.plughost");
    writeFileSync(file, writePackage(await packPlugin(pluginDir(HELLO), {})));
    return file;
  };
  const greets = async (cacheDir: string, file: string) => {
    const h = await newRegistry({ cacheDir }).load(file);
    const out = await h.hook("greet", new TextEncoder().encode("pkg"));
    expect(out.ok && new TextDecoder().decode(out.data)).toBe("hello, pkg!");
  };

  it("a full cache: the package is extracted elsewhere, loads and answers; nothing half-extracted is left", async () => {
    const file = await helloPackage();
    const dir = tmpfs("pkg-full", "16k");
    cold();
    await greets(dir, file);
    const left = existsSync(path.join(dir, "packages")) ? readdirSync(path.join(dir, "packages")) : [];
    expect(left, "a half-extracted package was left in the full cache").toEqual([]);
  });

  it("a read-only cache: the package loads and answers", async () => {
    const file = await helloPackage();
    const dir = tmpfs("pkg-ro", "1m");
    cold();
    await greets(dir, file); // populates the key (and what fits)
    remountReadOnly(dir);
    const fresh2 = await helloPackage();
    writeFileSync(fresh2, readFileSync(file)); // the same package: its extraction is reused
    cold();
    await greets(dir, fresh2);
  });

  it("a read-only cache holding a damaged extraction: it is not loaded; the package loads from a fresh extraction and answers", async () => {
    const file = await helloPackage();
    const dir = tmpfs("pkg-ro-damaged", "1m");
    cold();
    await greets(dir, file);
    const [digest] = readdirSync(path.join(dir, "packages"));
    writeFileSync(path.join(dir, "packages", digest!, "plugin.wasm"), "not the plugin");
    remountReadOnly(dir);
    cold();
    await greets(dir, file);
  });
});
