// Two JS plugins that import WASI, built one after the other in one process with guest-sdks/js/build.mjs, then
// loaded and called through the registry. Each build must stand alone: componentize-js keeps one splicer per
// process, and a build that handed it a WIT directory through a preopen found its WIT only the first time.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { PluginRegistry, type PluginHandle } from "../src/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

interface Built { bytes: Uint8Array; imports: string[] }
type Build = (dir: string) => Promise<Built>;

/** A plugin directory: its entry source and manifest (which declares `capabilities`, granted below). */
function writePlugin(dir: string, name: string, source: string, capabilities: string[]): void {
  mkdirSync(dir);
  writeFileSync(path.join(dir, "plugin.js"), source);
  writeFileSync(
    path.join(dir, "plugin.toml"),
    `name = "${name}"\nversion = "0.1.0"\napi-version = "^0.1.0"\nkind = "component"\nentry = "plugin.wasm"\ncapabilities = ${JSON.stringify(capabilities)}\n`,
  );
}

describe("buildJsPlugin twice in one process, both plugins importing WASI", () => {
  let dir: string;
  let stageParent: string;
  let data: string;
  let registry: PluginRegistry;
  let reader: PluginHandle, clock: PluginHandle;
  const grants: Record<string, string[]> = {};
  const built: Built[] = [];
  const savedTmp = process.env.TMPDIR;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "plughost-js-twice-"));
    data = path.join(dir, "data");
    mkdirSync(data);
    writeFileSync(path.join(data, "note.txt"), "read through wasi:filesystem");
    // Reads a file through the SDK's fs module (wasi:filesystem, wasi:io, wasi:cli/std*).
    writePlugin(
      path.join(dir, "reader"),
      "reader-js",
      `import { definePlugin, registerCallback } from "@plughost/guest";
import { readTextFile } from "@plughost/guest/fs";
export const guest = definePlugin({
  init() { registerCallback("read"); return 0; },
  onHook(name, data) {
    try {
      return new TextEncoder().encode(readTextFile(new TextDecoder().decode(data)).toUpperCase());
    } catch {
      return { err: 2 }; // outside the granted directory
    }
  },
});
`,
      (grants["reader-js"] = ["stdio", "clock", `fs:read:${data}`]),
    );
    // Imports a WASI interface itself (wasi:clocks/wall-clock) and nothing of the filesystem.
    writePlugin(
      path.join(dir, "clock"),
      "clock-js",
      `import { definePlugin, registerCallback } from "@plughost/guest";
import { now } from "wasi:clocks/wall-clock@0.2.12";
export const guest = definePlugin({
  init() { registerCallback("year"); return 0; },
  onEvent() { return 1970 + Math.floor(Number(now().seconds) / 31556952); },
});
`,
      (grants["clock-js"] = ["clock"]),
    );
    const { buildJsPlugin } = (await import(path.join(root, "guest-sdks", "js", "build.mjs"))) as { buildJsPlugin: Build };
    const { _getPreopens } = (await import("@bytecodealliance/preview2-shim/filesystem")) as { _getPreopens: () => unknown[] };
    const preopens = _getPreopens().length;
    // The builds' own temporary directories go under stageParent, to check that each build removes its own.
    stageParent = path.join(dir, "tmp");
    mkdirSync(stageParent);
    process.env.TMPDIR = stageParent;
    try {
      for (const p of ["reader", "clock"]) built.push(await buildJsPlugin(path.join(dir, p)));
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    }
    // Nothing process-wide is left behind: no preopen added to preview2-shim's global list.
    expect(_getPreopens().length).toBe(preopens);
    registry = new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false, dataDir: path.join(dir, "state"), grants });
    reader = await registry.load(path.join(dir, "reader"));
    clock = await registry.load(path.join(dir, "clock"));
  }, 300_000);
  afterAll(async () => {
    await registry?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("builds both, each with its own WASI imports", () => {
    const wasi = (b: Built) => b.imports.filter((i) => i.startsWith("wasi:"));
    expect(wasi(built[0])).toContain("wasi:filesystem/preopens@0.2.12");
    expect(wasi(built[1])).toEqual(["wasi:clocks/wall-clock@0.2.12"]);
  });

  it("removes each build's staging directory", () => {
    expect(readdirSync(stageParent).filter((f) => f.startsWith("plughost-js-"))).toEqual([]);
  });

  it("loads and calls both through the registry", async () => {
    const r = await reader.hook("read", enc(path.join(data, "note.txt")));
    expect(r.ok && dec(r.data)).toBe("READ THROUGH WASI:FILESYSTEM");
    expect(await reader.hook("read", enc(path.join(dir, "reader", "plugin.toml")))).toEqual({ ok: false, status: 2 });
    expect(await clock.invoke("year", new Uint8Array())).toBe(new Date().getUTCFullYear());
  });
});
