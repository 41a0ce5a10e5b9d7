// Live configuration: setConfig delivered through on-config-changed (the C fixture state-counter) or a reload
// (config-echo has no such export; state-counter's non-zero answer), an invalid update keeping the old config,
// and a watched host config file.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, type ConfigSource } from "../src/config/index.js";
import type { ConfigRefusal, ConfigUpdate } from "../src/config/live.js";
import { PluginRegistry } from "../src/runtime/registry.js";

const COUNTER = path.resolve("test/fixtures/c/state-counter");
const ECHO = path.resolve("test/fixtures/c/config-echo");
const enc = new TextEncoder();
const dec = new TextDecoder();

let dir: string;
let registry: PluginRegistry;
let changes: ConfigUpdate[];
let refusals: ConfigRefusal[];
let reloads: number;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "plughost-live-"));
  registry = new PluginRegistry({ cacheDir: false, dataDir: path.join(dir, "data"), logLevel: "silent", grants: ["state", "context:*", "context:write:*"] });
  changes = [];
  refusals = [];
  reloads = 0;
  registry.on("config-changed", (c) => void changes.push(c));
  registry.on("config-refused", (r) => void refusals.push(r));
  registry.on("reloaded", () => void reloads++);
});
afterEach(async () => {
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

async function ask(plugin: string, hook: string, data = ""): Promise<string> {
  const out = await registry.hook(plugin, hook, enc.encode(data));
  expect(out.ok).toBe(true);
  return dec.decode(out.data);
}

describe("setConfig", () => {
  it("reaches a plugin that exports on-config-changed without a reload; its config hook and get-config agree", async () => {
    await registry.load(COUNTER);
    await ask("state-counter", "count");
    const update = await registry.setConfig("state-counter", { mode: "fast", limits: { n: 3 } });
    expect(update).toEqual({ plugin: "state-counter", delivered: "callback", changed: ["/limits/n", "/mode"], status: 0 });
    expect(changes).toEqual([update]);
    expect(reloads).toBe(0);
    expect(JSON.parse(await ask("state-counter", "seen"))).toEqual({ mode: "fast", limits: { n: 3 } });
    expect(JSON.parse(await ask("state-counter", "config"))).toEqual({ mode: "fast", limits: { n: 3 } });
    expect(await ask("state-counter", "mem")).toBe("1"); // the same instance
    const view = registry.config("state-counter");
    expect(view.provenance).toEqual({ "/mode": "live", "/limits/n": "live" } satisfies Record<string, ConfigSource>);
    // A second patch merges; null removes a key.
    await registry.setConfig("state-counter", { limits: null, extra: true });
    expect(JSON.parse(await ask("state-counter", "config"))).toEqual({ mode: "fast", extra: true });
  });

  it("reloads a plugin whose on-config-changed answers non-zero, with the new config", async () => {
    await registry.load(COUNTER);
    const update = await registry.setConfig("state-counter", { reject: true });
    expect(update.delivered).toBe("reload");
    expect(update.status).toBe(1);
    expect(reloads).toBe(1);
    expect(JSON.parse(await ask("state-counter", "config"))).toEqual({ reject: true });
    expect(await ask("state-counter", "seen")).toBe("none"); // a new instance: nothing was delivered to it
  });

  it("reloads a plugin without the export (config-echo), with the new config", async () => {
    await registry.load(ECHO);
    const update = await registry.setConfig("config-echo", { greeting: "bye" });
    expect(update).toEqual({ plugin: "config-echo", delivered: "reload", changed: ["/greeting"] });
    expect(reloads).toBe(1);
    expect(JSON.parse(await ask("config-echo", "config")).greeting).toBe("bye");
    expect(await ask("config-echo", "value", "greeting")).toBe('"bye"');
    expect(registry.config("config-echo").provenance["/greeting"]).toBe("live");
    // The same values again: nothing to deliver.
    expect((await registry.setConfig("config-echo", { greeting: "bye" })).delivered).toBe("unchanged");
    expect(reloads).toBe(1);
  });

  it("refuses an invalid update: ConfigError naming the plugin, the source and the pointer; the old config stays", async () => {
    await registry.load(ECHO);
    await registry.setConfig("config-echo", { greeting: "kept" });
    const err = await registry.setConfig("config-echo", { retries: -1, server: { port: "x" } }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.plugin).toBe("config-echo");
    expect(e.source).toBe("live");
    expect(e.problems.map((p) => [p.pointer, p.source])).toEqual([
      ["/retries", "live"],
      ["/server/port", "live"],
    ]);
    expect(refusals).toHaveLength(1);
    expect(refusals[0]?.plugin).toBe("config-echo");
    const config = JSON.parse(await ask("config-echo", "config"));
    expect(config).toMatchObject({ greeting: "kept", retries: 1, server: { port: 80 } });
    expect(registry.config("config-echo").value).toMatchObject({ greeting: "kept", retries: 1 });
    // The refused patch left nothing behind: the next update starts from the kept one.
    await registry.setConfig("config-echo", { retries: 2 });
    expect(JSON.parse(await ask("config-echo", "config"))).toMatchObject({ greeting: "kept", retries: 2, server: { port: 80 } });
  });

  it("keeps a plugin that is not loaded's update for its load", async () => {
    await registry.discover(ECHO);
    expect((await registry.setConfig("config-echo", { greeting: "later" })).delivered).toBe("stored");
    expect(registry.config("config-echo").value.greeting).toBe("later");
    await registry.load(ECHO);
    expect(JSON.parse(await ask("config-echo", "config")).greeting).toBe("later");
  });
});

describe("on the other engines and isolations", () => {
  for (const options of [{ isolation: "worker" as const }, { engine: "wasmtime" as const }]) {
    it(`${JSON.stringify(options)}: on-config-changed takes it, a plugin without the export is reloaded`, async () => {
      await registry.close();
      registry = new PluginRegistry({ ...options, cacheDir: false, dataDir: path.join(dir, "data"), logLevel: "silent", grants: ["state", "context:*", "context:write:*"] });
      await registry.loadAll([COUNTER, ECHO]);
      expect((await registry.setConfig("state-counter", { a: 1 })).delivered).toBe("callback");
      expect(JSON.parse(await ask("state-counter", "seen"))).toEqual({ a: 1 });
      expect(JSON.parse(await ask("state-counter", "config"))).toEqual({ a: 1 });
      expect((await registry.setConfig("state-counter", { reject: true })).delivered).toBe("reload");
      expect(JSON.parse(await ask("state-counter", "config"))).toEqual({ a: 1, reject: true });
      expect((await registry.setConfig("config-echo", { greeting: "w" })).delivered).toBe("reload");
      expect(await ask("config-echo", "value", "greeting")).toBe('"w"');
    }, 60_000);
  }
});

describe("watchConfig", () => {
  it("applies a host config file's changes, and refuses a broken or invalid one (the config stays)", async () => {
    const file = path.join(dir, "plughost.config.json");
    writeFileSync(file, JSON.stringify({ config: { "state-counter": { level: 1 }, "config-echo": { greeting: "one" } } }));
    await registry.close();
    const { loadHostConfig, registryOptionsFrom } = await import("../src/runtime/host-config.js");
    registry = new PluginRegistry({ ...registryOptionsFrom(await loadHostConfig(file)), cacheDir: false, dataDir: path.join(dir, "data"), logLevel: "silent", grants: ["state", "context:*", "context:write:*"] });
    registry.on("config-changed", (c) => void changes.push(c));
    registry.on("config-refused", (r) => void refusals.push(r));
    await registry.loadAll([COUNTER, ECHO]);
    const watch = await registry.watchConfig(file, { debounceMs: 20 });
    const next = (n: number) => expect.poll(() => changes.length + refusals.length, { timeout: 10_000, interval: 20 }).toBeGreaterThanOrEqual(n);

    writeFileSync(file, JSON.stringify({ config: { "state-counter": { level: 2 }, "config-echo": { greeting: "one" } } }));
    await next(1);
    expect(changes[0]).toMatchObject({ plugin: "state-counter", delivered: "callback", changed: ["/level"] });
    expect(JSON.parse(await ask("state-counter", "config"))).toEqual({ level: 2 });
    expect(registry.config("state-counter").provenance["/level"]).toBe("host");

    writeFileSync(file, "{ not json");
    await next(2);
    expect(refusals[0]?.file).toBe(file);
    expect(refusals[0]?.error.code).toBe("E_HOST_CONFIG_INVALID");

    writeFileSync(file, JSON.stringify({ config: { "state-counter": { level: 2 }, "config-echo": { retries: "many" } } }));
    await next(3);
    expect(refusals[1]).toMatchObject({ plugin: "config-echo" });
    expect(refusals[1]?.error).toBeInstanceOf(ConfigError);
    expect(JSON.parse(await ask("config-echo", "config")).greeting).toBe("one");

    writeFileSync(file, JSON.stringify({ config: { "state-counter": { level: 2 }, "config-echo": { greeting: "two" } } }));
    await next(4);
    expect(changes[1]).toMatchObject({ plugin: "config-echo", delivered: "reload" });
    expect(JSON.parse(await ask("config-echo", "config")).greeting).toBe("two");
    await watch.close();
  });
});
