// The optional guest exports `lifecycle.on-suspend` / `on-resume` (wit/plugin.wit): registry.suspend / resume change
// the state at once and settle once the plugin was told, on every engine: v8 in process and in a worker, wasmtime,
// native trusted and sandboxed. The fixture test/fixtures/c/suspend-resume (and its native build) keeps a journal of
// what it was told; request-responder (and the native basic fixture) export nothing of the kind.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { PluginRegistry, type PluginHandle } from "../src/index.js";
import { IllegalStateTransition, PluginNotRunning } from "../src/contract/errors.js";
import { v8Engine } from "../src/engines/v8/engine.js";
import { wasmtimeEngine } from "../src/engines/wasmtime/engine.js";
import { nativeEngine } from "../src/engines/native/engine.js";
import type { Engine, EngineInstance, LoadRequest } from "../src/engines/engine.js";
import { copyPlugin, dec, enc, pluginDir, silentHost, silentLogger } from "./helpers/plugins.js";
import { fixture } from "./native-helpers.js";

const TOLD = "test/fixtures/c/suspend-resume";
const UNTOLD = "test/fixtures/c/request-responder";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A plugin directory with a manifest for one of the native fixtures. */
function nativeDir(fixtureName: string, name: string, trust: "trusted" | "untrusted"): string {
  const dir = mkdtempSync(path.join(tmpdir(), `plughost-suspend-${name}-`));
  dirs.push(dir);
  copyFileSync(fixture(fixtureName), path.join(dir, `${fixtureName}.so`));
  writeFileSync(
    path.join(dir, "plugin.toml"),
    `name = "${name}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "${fixtureName}.so"\ntrust = "${trust}"\n`,
  );
  return dir;
}

function wasmDir(rel: string, name: string): string {
  const dir = copyPlugin(rel, (m) => m.replace(/^name = ".*"$/m, `name = "${name}"`));
  dirs.push(dir);
  return dir;
}

interface Form {
  label: string;
  options: ConstructorParameters<typeof PluginRegistry>[0];
  told: () => string;
  untold: () => string;
  /** A trap in on-suspend must not take the host with it: not for a trusted native plugin (it runs in the host). */
  traps: boolean;
}

const FORMS: Form[] = [
  { label: "v8 in process", options: { isolation: "in-process" }, told: () => wasmDir(TOLD, "told"), untold: () => wasmDir(UNTOLD, "untold"), traps: true },
  { label: "v8 in a worker", options: { isolation: "worker" }, told: () => wasmDir(TOLD, "told"), untold: () => wasmDir(UNTOLD, "untold"), traps: true },
  { label: "wasmtime", options: { engine: "wasmtime" }, told: () => wasmDir(TOLD, "told"), untold: () => wasmDir(UNTOLD, "untold"), traps: true },
  {
    label: "native, trusted",
    options: { trustedNative: ["told", "untold"] },
    told: () => nativeDir("suspend-resume", "told", "trusted"),
    untold: () => nativeDir("basic", "untold", "trusted"),
    traps: false,
  },
  {
    label: "native, sandboxed",
    options: {},
    told: () => nativeDir("suspend-resume", "told", "untrusted"),
    untold: () => nativeDir("basic", "untold", "untrusted"),
    traps: true,
  },
];

let registry: PluginRegistry | undefined;
afterEach(async () => {
  await registry?.unloadAll();
  registry = undefined;
});

async function journal(h: PluginHandle): Promise<string> {
  const out = await h.hook("journal", enc(""));
  if (!out.ok) throw new Error(`journal hook failed with status ${out.status}`);
  return dec(out.data);
}

for (const form of FORMS) {
  describe(`suspend / resume: ${form.label}`, () => {
    const start = () => (registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, ...form.options }));

    it("tells a plugin that exports the lifecycle interface, after the state changed; calls stay refused meanwhile", async () => {
      const r = start();
      const h = await r.load(form.told());
      const told = r.suspend("told");
      expect(h.state).toBe("suspended"); // at once, before the plugin is told
      await expect(told).resolves.toBeUndefined();
      expect(r.logs("told").map((l) => l.message)).toContain("suspended");
      await expect(h.invoke("arm-status")).rejects.toBeInstanceOf(PluginNotRunning);
      expect(() => r.suspend("told")).toThrow(IllegalStateTransition);
      await r.resume("told");
      expect(h.state).toBe("active");
      expect(await journal(h)).toBe("suspend,resume");
      expect(h.metrics.errors).toBe(0);
    });

    it("suspends and resumes a plugin without the exports all the same", async () => {
      const r = start();
      const h = await r.load(form.untold());
      await expect(r.suspend("untold")).resolves.toBeUndefined();
      expect(h.state).toBe("suspended");
      await expect(r.resume("untold")).resolves.toBeUndefined();
      expect(h.state).toBe("active");
      expect(h.metrics).toMatchObject({ errors: 0, faults: 0 });
    });

    it("a non-zero on-suspend is logged and counted; the plugin is suspended all the same", async () => {
      const r = start();
      const h = await r.load(form.told());
      expect(await h.invoke("arm-status")).toBe(0);
      await expect(r.suspend("told")).resolves.toBeUndefined();
      expect(h.state).toBe("suspended");
      expect(h.metrics).toMatchObject({ errors: 1, faults: 0 });
      await r.resume("told");
      expect(await journal(h)).toBe("suspend,resume");
    });

    it("tells the plugin after the call in flight at the suspend", async () => {
      const r = start();
      const h = await r.load(form.told());
      const slow = h.invoke("slow", enc("30"));
      let slowDone = false;
      void slow.then(() => (slowDone = true));
      const told = r.suspend("told");
      expect(h.state).toBe("suspended");
      await told;
      expect(slowDone).toBe(true); // the call in flight ended first
      await expect(slow).resolves.toBe(0);
      await r.resume("told");
      expect(await journal(h)).toBe("slow,suspend,resume");
    });

    if (form.traps) {
      it("a trapping on-suspend is a fault like any other: recorded, the plugin recovers and stays suspended", async () => {
        const r = start();
        const h = await r.load(form.told());
        expect(await h.invoke("arm-trap")).toBe(0);
        const faults: string[] = [];
        r.on("fault", (e: { plugin: string }) => faults.push(e.plugin));
        await expect(r.suspend("told")).resolves.toBeUndefined();
        expect(faults).toEqual(["told"]);
        expect(h.metrics.faults).toBe(1);
        await until(() => h.metrics.restarts === 1);
        expect(h.state).toBe("suspended");
        await expect(h.invoke("slow", enc("0"))).rejects.toBeInstanceOf(PluginNotRunning);
        await r.resume("told");
        expect(h.state).toBe("active");
        // The fresh instance was not told of the suspension it was created into; it is told of the resume.
        expect(await journal(h)).toBe("resume");
      });
    }
  });
}

async function until(ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error("timed out waiting for the condition");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Engine level: onSuspend / onResume exist exactly when the plugin exports them. */
describe("EngineInstance.onSuspend / onResume", () => {
  const host = silentHost();
  const load = (engine: Engine, plugin: string, entryPath: string, extra: Partial<LoadRequest> = {}): Promise<EngineInstance> =>
    engine.load({ plugin, entryPath, capabilities: [], limits: {}, host, ...extra });
  const cases: [string, () => Promise<EngineInstance>, () => Promise<EngineInstance>][] = [
    ["v8", () => load(v8Engine, "told", path.join(pluginDir(TOLD), "plugin.wasm")), () => load(v8Engine, "untold", path.join(pluginDir(UNTOLD), "plugin.wasm"))],
    [
      "v8 worker",
      () => load(v8Engine, "told", path.join(pluginDir(TOLD), "plugin.wasm"), { isolation: "worker" }),
      () => load(v8Engine, "untold", path.join(pluginDir(UNTOLD), "plugin.wasm"), { isolation: "worker" }),
    ],
    ["wasmtime", () => load(wasmtimeEngine, "told", path.join(pluginDir(TOLD), "plugin.wasm")), () => load(wasmtimeEngine, "untold", path.join(pluginDir(UNTOLD), "plugin.wasm"))],
    [
      "native sandboxed",
      () => load(nativeEngine, "told", fixture("suspend-resume"), { trust: "untrusted" }),
      () => load(nativeEngine, "untold", fixture("basic"), { trust: "untrusted" }),
    ],
    [
      "native trusted",
      () => load(nativeEngine, "told", fixture("suspend-resume"), { trust: "trusted" }),
      () => load(nativeEngine, "untold", fixture("basic"), { trust: "trusted" }),
    ],
  ];
  for (const [label, told, untold] of cases) {
    it(`${label}: present when exported, absent otherwise`, async () => {
      const a = await told();
      const b = await untold();
      try {
        expect(await a.init("0.1.0", "{}")).toBe(0);
        expect(typeof a.onSuspend).toBe("function");
        expect(typeof a.onResume).toBe("function");
        expect(await a.onSuspend!()).toBe(0);
        expect(await a.onResume!()).toBe(0);
        expect(b.onSuspend).toBeUndefined();
        expect(b.onResume).toBeUndefined();
      } finally {
        await a.dispose();
        await b.dispose();
      }
    });
  }
});
