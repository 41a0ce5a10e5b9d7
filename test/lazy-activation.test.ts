// Lazy activation (issue 14 point 7): a plugin declaring activation = ["on-event:<name>"] is discovered and validated
// at start-up, and compiled and initialised only when one of its events first fires. dispatch, runHook, emit, send,
// invoke and request to it activate it and then deliver, without losing the event. Real C plugins (the lifecycle fixture).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { cpSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { InitializationFailed, ManifestError, PluginRegistry, type ActivationRecord, type RegistryOptions } from "../src/index.js";
import { copyFileSync, writeFileSync } from "node:fs";
import { copyPlugin, silentLogger } from "./helpers/plugins.js";
import { fixture } from "./native-helpers.js";

const FIXTURE = "test/fixtures/c/lifecycle";

let registry: PluginRegistry | undefined;
afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
  registry = undefined;
});

/** A copy of the fixture as `name`, with `extra` TOML appended (an `activation` line must come before any table). */
function plugin(name: string, activation: string[] | undefined, extra = ""): string {
  const line = activation ? `activation = ${JSON.stringify(activation.map((e) => `on-event:${e}`))}\n` : "";
  return copyPlugin(FIXTURE, (t) => t.replace('name = "lifecycle"', `name = "${name}"\n${line}`) + extra);
}

/** A directory holding the given plugin directories, for scanDirectory. */
function tree(dirs: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), "plughost-lazy-"));
  for (const [name, dir] of Object.entries(dirs)) cpSync(dir, path.join(root, name), { recursive: true });
  return root;
}

function newRegistry(options: RegistryOptions = {}): PluginRegistry {
  registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, grants: ["clock"], ...options });
  return registry;
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("lazy activation", () => {
  it("discovers and validates without loading; the first dispatch activates and delivers, once", async () => {
    const r = newRegistry({ config: { lazy: { answer: 7 } } });
    const activations: ActivationRecord[] = [];
    r.on("activated", (a) => activations.push(a));
    expect(await r.scanDirectory(tree({ lazy: plugin("lazy", ["ok"]), eager: plugin("eager", undefined) }))).toBe(2);
    expect(r.listLazy()).toEqual(["lazy"]);
    expect(r.info("lazy").state).toBe("unloaded");
    expect(r.count).toBe(0);
    // Three dispatches at once: one activation, and each reaches the plugin.
    const all = await Promise.all([r.dispatch("ok"), r.dispatch("ok"), r.dispatch("ok")]);
    for (const results of all) expect(results).toEqual([{ plugin: "lazy", status: 7 }]);
    expect(activations.map((a) => [a.plugin, a.trigger])).toEqual([["lazy", "ok"]]);
    expect(activations[0]!.ms).toBeGreaterThan(0);
    expect(r.info("lazy").state).toBe("active");
    expect(r.listLazy()).toEqual([]);
    expect(r.info("eager").state).toBe("unloaded"); // discovered only: not lazy, not loaded either
  });

  it("runHook activates a plugin waiting for the hook event before listing the chain", async () => {
    const r = newRegistry({ config: { tagger: { answer: 9 } } });
    await r.discover(plugin("tagger", ["tag"]));
    expect((await r.runHook("tag", new Uint8Array([1]))).data).toEqual(new Uint8Array([1, 9]));
  });

  it("invoke, hook and request addressed to a lazy plugin activate it", async () => {
    const r = newRegistry();
    await r.discover(plugin("a", ["never"]));
    expect(await r.invoke("a", "count")).toBe(1);
    await r.discover(plugin("b", ["never"]));
    expect(await r.hook("b", "tag", new Uint8Array([0]))).toEqual({ ok: true, data: new Uint8Array([0, 1]) });
    await r.discover(plugin("c", ["never"]));
    expect(await r.request("c", "tag", new Uint8Array([5]))).toEqual(new Uint8Array([5, 1]));
  });

  it("an emit from a plugin activates the plugins waiting for it, which then receive it", async () => {
    const r = newRegistry();
    await r.discover(plugin("listener", ["ok"]));
    const sender = await r.load(plugin("sender", undefined));
    expect(await sender.invoke("emit-ok", new Uint8Array([1, 2]))).toBe(0);
    await until(() => r.info("listener").state === "active" && r.metrics("listener").messagesReceived === 1);
  });

  it("a send to a lazy plugin activates it and delivers", async () => {
    const r = newRegistry();
    await r.discover(plugin("target", ["never"]));
    const sender = await r.load(plugin("sender", undefined));
    expect(await sender.invoke("send-ok", new TextEncoder().encode("target"))).toBe(0);
    await until(() => r.info("target").state === "active" && r.metrics("target").messagesReceived === 1);
  });

  it("a failed activation is the dispatch's result for that plugin, and is not retried by the next event", async () => {
    const r = newRegistry({ config: { broken: { "fail-init-until": Date.now() + 60_000 } } });
    await r.discover(plugin("broken", ["ok"]));
    const [result] = await r.dispatch("ok");
    expect(result?.plugin).toBe("broken");
    expect(result?.error).toBeInstanceOf(InitializationFailed);
    expect(await r.dispatch("ok")).toEqual([]);
    expect(r.listLazy()).toEqual([]);
    await r.unloadAll();
    // A call addressed to it gets the activation's own error.
    const r2 = newRegistry({ config: { solo: { "fail-init-until": Date.now() + 60_000 } } });
    await r2.discover(plugin("solo", ["never"]));
    await expect(r2.invoke("solo", "ok")).rejects.toBeInstanceOf(InitializationFailed);
  });

  it("an explicit load of a lazy plugin loads it at once", async () => {
    const r = newRegistry();
    const dir = plugin("lazy", ["ok"]);
    await r.discover(dir);
    await r.load(dir);
    expect(r.listLazy()).toEqual([]);
    expect(await r.dispatch("ok")).toEqual([{ plugin: "lazy", status: 1 }]);
  });

  it("validates at discovery: a bad activation entry or a missing entry file is a ManifestError", async () => {
    const r = newRegistry();
    await expect(r.discover(copyPlugin(FIXTURE, (t) => t.replace('name = "lifecycle"', 'name = "x"\nactivation = ["on-start"]')))).rejects.toBeInstanceOf(ManifestError);
    const missing = plugin("y", ["ok"]);
    rmSync(path.join(missing, "plugin.wasm"));
    await expect(r.discover(missing)).rejects.toThrow(/build the plugin first/);
  });

  it("activates a wasmtime plugin and a sandboxed native plugin on their first event", async () => {
    const r = newRegistry({ config: { onwasmtime: { answer: 4 } } });
    await r.discover(copyPlugin(FIXTURE, (t) => t.replace('name = "lifecycle"', 'name = "onwasmtime"\nengine = "wasmtime"\nactivation = ["on-event:ok"]')));
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-lazy-native-"));
    copyFileSync(fixture("hostile"), path.join(dir, "hostile.so"));
    writeFileSync(path.join(dir, "plugin.toml"), 'name = "onnative"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "hostile.so"\nactivation = ["on-event:ok"]\n');
    await r.discover(dir);
    expect(r.listLazy()).toEqual(["onwasmtime", "onnative"]); // in discovery order
    const results = await r.dispatch("ok", new Uint8Array(6)); // hostile.so's "ok" answers the data's length
    expect(results.sort((a, b) => a.plugin.localeCompare(b.plugin))).toEqual([
      { plugin: "onnative", status: 6 },
      { plugin: "onwasmtime", status: 4 },
    ]);
    expect(r.info("onwasmtime").engine).toBe("wasmtime");
  });

  it("a lazy plugin's lazy dependency is activated first", async () => {
    const r = newRegistry();
    await r.discover(plugin("user", ["ok"], '\n[dependencies]\nbase = "^1"\n'));
    await r.discover(plugin("base", ["never"]));
    const order: string[] = [];
    r.on("activated", (a) => order.push(a.plugin));
    expect(await r.dispatch("ok")).toEqual([{ plugin: "base", status: 1 }, { plugin: "user", status: 1 }]); // in subscription order
    expect(order).toEqual(["base", "user"]);
  });

  it("plughost run with pluginDirs loads the eager plugins and leaves lazy ones to their first event", () => {
    const root = tree({ lazy: plugin("lazy", ["ok"]), eager: plugin("eager", undefined) });
    const config = path.join(root, "plughost.config.json");
    writeFileSync(config, JSON.stringify({ pluginDirs: ["."], grants: ["clock"], config: { lazy: { answer: 7 }, eager: { answer: 5 } } }));
    const cli = path.resolve("dist/cli/index.js");
    const r = spawnSync(process.execPath, [cli, "run", "--config", config, "--json", "--event", "ok"], { encoding: "utf8", env: { ...process.env, PLUGHOST_LOG_LEVEL: "warn" } });
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.loaded).map((l) => l.loaded)).toEqual(["eager"]);
    expect(lines.filter((l) => l.event === "ok").map((l) => [l.plugin, l.status]).sort()).toEqual([["eager", 5], ["lazy", 7]]);
    expect(r.status).toBe(0);
  });
});
