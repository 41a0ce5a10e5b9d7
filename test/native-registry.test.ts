// Native plugins through the PluginRegistry: listing, states, dispatch,
// hooks, and crashes recorded as violations (with restart), for the example
// legacy plugin and the fixtures, trusted and untrusted.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { PluginRegistry } from "../src/runtime/registry.js";
import { PluginCrashed, ResourceCleanupFailed } from "../src/contract/errors.js";
import { bytes, fixture, root } from "./native-helpers.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A plugin directory with a manifest for one of the native fixtures. */
function pluginDir(fixtureName: string, name: string, trust: "trusted" | "untrusted", extra = ""): string {
  const dir = mkdtempSync(path.join(tmpdir(), `plughost-native-${name}-`));
  dirs.push(dir);
  copyFileSync(fixture(fixtureName), path.join(dir, `${fixtureName}.so`));
  writeFileSync(
    path.join(dir, "plugin.toml"),
    `name = "${name}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "${fixtureName}.so"\ntrust = "${trust}"\n${extra}`,
  );
  return dir;
}

let registry: PluginRegistry;
afterEach(async () => {
  await registry?.unloadAll();
});

const newRegistry = (opts: ConstructorParameters<typeof PluginRegistry>[0] = {}) =>
  // Running a library in process is the host's decision: these tests approve their trusted fixtures by name.
  (registry = new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false, trustedNative: ["nodelete", "basic-trusted"], ...opts }));

describe("native plugins in the registry", () => {
  it("unload reports a library dlclose cannot release as ResourceCleanupFailed, and still unloads", async () => {
    newRegistry();
    await registry.load(pluginDir("nodelete", "nodelete", "trusted"));
    const err = await registry.unload("nodelete").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResourceCleanupFailed);
    expect(err).toMatchObject({ code: "E_RESOURCE_CLEANUP_FAILED", plugin: "nodelete" });
    expect(registry.isLoaded("nodelete")).toBe(false);
    expect(registry.info("nodelete")?.state).toBe("unloaded");
  });

  it("loads the legacy-hello example untrusted: listed, active, dispatchable", async () => {
    newRegistry();
    const handle = await registry.load(path.join(root, "examples", "native", "legacy-hello"));
    expect(handle.state).toBe("active");
    const info = registry.info("legacy-hello");
    expect(info).toMatchObject({ kind: "native", engine: "native", state: "active", callbacks: ["greet"] });
    expect(await handle.invoke("greet", bytes("world"))).toBe(0);
    expect(await registry.dispatch("greet", bytes("all"))).toEqual([{ plugin: "legacy-hello", status: 0 }]);
    await registry.unload("legacy-hello");
    expect(registry.isLoaded("legacy-hello")).toBe(false);
  });

  it("trusted and untrusted native plugins side by side: dispatch and hook chains", async () => {
    newRegistry();
    const a = await registry.load(pluginDir("basic", "basic-trusted", "trusted"));
    const b = await registry.load(pluginDir("hostile", "hostile-untrusted", "untrusted"));
    expect([a.state, b.state]).toEqual(["active", "active"]);
    expect(a.invokeSync("echo", bytes("sync"))).toBe(4);
    const chain = await registry.runHook("upper", bytes("chain me"));
    expect(chain.ok && Buffer.from(chain.data).toString()).toBe("CHAIN ME");
    expect(await b.invoke("ok", bytes("xyz"))).toBe(3);
  });

  it("overlapping calls into an untrusted plugin are issued at once (ordered instance) and answered in order", async () => {
    newRegistry();
    const h = await registry.load(pluginDir("basic", "piped", "untrusted"));
    const results = await Promise.all(Array.from({ length: 300 }, () => h.invoke("counter", bytes(""))));
    expect(results).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(await h.invoke("echo", bytes("after"))).toBe(5);
  });

  it("an untrusted crash is a PluginCrashed fault: recorded as a violation, the plugin restarts, the host carries on", async () => {
    newRegistry();
    const bad = await registry.load(pluginDir("hostile", "crashy", "untrusted"));
    const good = await registry.load(pluginDir("basic", "steady", "untrusted"));
    await expect(bad.invoke("segv", bytes(""))).rejects.toBeInstanceOf(PluginCrashed);
    expect(registry.violationCount("crashy")).toBe(1);
    expect(registry.violations("crashy")[0]?.kind).toBe("crash");
    expect(await good.invoke("echo", bytes("ok"))).toBe(2);
    expect(await bad.invoke("ok", bytes("back"))).toBe(4); // restarted
    expect(registry.info("crashy").state).toBe("active");
    expect(registry.metrics("crashy")).toMatchObject({ faults: 1, crashes: 1, restarts: 1 });
  });

  it("denied syscalls count as capability violations; past the threshold the plugin is unloaded", async () => {
    newRegistry({ violationThreshold: 3 });
    const h = await registry.load(pluginDir("hostile", "prober", "untrusted"));
    // The unload past the threshold tears the helper down asynchronously: wait for its event, not a fixed delay.
    const unmounted = new Promise<{ plugin: string }>((resolve) => registry.once("unmounted", resolve));
    expect(await h.invoke("socket", bytes(""))).toBe(0);
    expect(registry.violations("prober").map((v) => v.kind)).toEqual(["capability"]);
    await h.invoke("open-passwd", bytes(""));
    await h.invoke("socket", bytes("")).catch(() => undefined);
    expect((await unmounted).plugin).toBe("prober");
    expect(registry.isLoaded("prober")).toBe(false);
  });
});
