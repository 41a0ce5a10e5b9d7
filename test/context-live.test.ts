/**
 * A watched host config file's `context` section applied live (docs/context.md, docs/config.md), read by a real
 * plugin: test/fixtures/c/state-counter's `ctx` hook answers plughost_context_get(key) as JSON ("none" without a value).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConfigRefusal } from "../src/config/live.js";
import { ContextStore, ContextValueInvalid, PluginRegistry, type ContextChange } from "../src/index.js";
import { applyContextSection } from "../src/context/config.js";
import { loadHostConfig, registryOptionsFrom } from "../src/runtime/host-config.js";
import { copyPlugin, dec, enc, silentLogger } from "./helpers/plugins.js";

let dir: string;
let file: string;
let registry: PluginRegistry | undefined;
const cleanup: string[] = [];
let changes: ContextChange[];
let refusals: ConfigRefusal[];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "plughost-context-live-"));
  file = path.join(dir, "plughost.config.json");
  changes = [];
  refusals = [];
});
afterEach(async () => {
  await registry?.close();
  registry = undefined;
  for (const d of cleanup.splice(0)) rmSync(d, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

const write = (config: unknown) => writeFileSync(file, JSON.stringify(config));

/** A registry started from the file, with state-counter loaded and granted `context:acme.*`. */
async function start(config: unknown): Promise<PluginRegistry> {
  write(config);
  const r = new PluginRegistry({ ...registryOptionsFrom(await loadHostConfig(file)), logger: silentLogger(), cacheDir: false, dataDir: path.join(dir, "data"), grants: ["context:*"] });
  registry = r;
  r.on("context-changed", (c) => void changes.push(c));
  r.on("config-refused", (x) => void refusals.push(x));
  const plugin = copyPlugin("test/fixtures/c/state-counter", (text) => [...text.split("\n").filter((l) => !/^capabilities\s*=/.test(l)), 'capabilities = ["context:acme.*"]'].join("\n"));
  cleanup.push(plugin);
  await r.load(plugin);
  await r.watchConfig(file, { debounceMs: 20 });
  return r;
}

async function ctx(r: PluginRegistry, key: string): Promise<string> {
  const out = await r.hook("state-counter", "ctx", enc(key));
  if (!out.ok) throw new Error(`ctx failed with status ${out.status}`);
  return dec(out.data);
}

const events = () => changes.length + refusals.length;
const until = (n: number) => expect.poll(events, { timeout: 10_000, interval: 20 }).toBeGreaterThanOrEqual(n);

const TENANT = { schema: { type: "string", minLength: 1 }, value: "blue" };

describe("watchConfig and the context section", () => {
  it("sets a changed value and defines a new key; the plugin's next context-get sees them", async () => {
    const r = await start({ context: { "acme.tenant": TENANT } });
    expect(await ctx(r, "acme.tenant")).toBe('"blue"');
    expect(await ctx(r, "acme.region")).toMatch(/^error:/); // not defined yet

    write({ context: { "acme.tenant": { ...TENANT, value: "green" } } });
    await until(1);
    expect(changes).toEqual([{ key: "acme.tenant", applied: "set", file }]);
    expect(await ctx(r, "acme.tenant")).toBe('"green"');
    expect(r.context.get("acme.tenant")).toBe("green");

    write({ context: { "acme.tenant": { ...TENANT, value: "green" }, "acme.region": { schema: { enum: ["eu", "us"] }, value: "eu", readOnly: true } } });
    await until(2);
    expect(changes[1]).toEqual({ key: "acme.region", applied: "defined", file });
    expect(await ctx(r, "acme.region")).toBe('"eu"');
    expect(r.context.describe("acme.region")).toMatchObject({ readOnly: true, schema: { enum: ["eu", "us"] } });
    expect(refusals).toEqual([]);
  });

  it("refuses an invalid value (the old one stays, the refusal is reported) and applies the file's other keys", async () => {
    const r = await start({ context: { "acme.tenant": TENANT, "acme.region": { schema: { type: "string" }, value: "eu" } } });

    // Against the schema the file gives: the whole file is refused, as any invalid host config.
    write({ context: { "acme.tenant": { ...TENANT, value: "" }, "acme.region": { schema: { type: "string" }, value: "us" } } });
    await until(1);
    expect(refusals[0]).toMatchObject({ file, error: { code: "E_HOST_CONFIG_INVALID" } });
    expect(refusals[0]?.error.message).toContain("/context/acme.tenant/value");
    expect(await ctx(r, "acme.tenant")).toBe('"blue"');
    expect(await ctx(r, "acme.region")).toBe('"eu"');

    // Valid against a schema the file changed, not against the key's schema in the store: that key is refused.
    write({ context: { "acme.tenant": { schema: { type: "integer" }, value: 5 }, "acme.region": { schema: { type: "string" }, value: "us" } } });
    await until(3);
    const refusal = refusals.find((x) => x.contextKey !== undefined);
    expect(refusal).toMatchObject({ file, contextKey: "acme.tenant", error: { code: "E_CONTEXT_VALUE_INVALID" } });
    expect(refusal?.error).toBeInstanceOf(ContextValueInvalid);
    expect(await ctx(r, "acme.tenant")).toBe('"blue"');
    expect(r.context.describe("acme.tenant").schema).toEqual(TENANT.schema);
    expect(changes).toEqual([{ key: "acme.region", applied: "set", file }]);
    expect(await ctx(r, "acme.region")).toBe('"us"');
  });

  it("keeps a removed key's value, and does not overwrite a value written since when the file left it alone", async () => {
    const r = await start({ context: { "acme.tenant": TENANT, "acme.region": { schema: { type: "string" }, value: "eu" } } });
    r.context.set("acme.tenant", "red"); // the host writes it while the file still says "blue"

    write({ context: { "acme.tenant": TENANT } }); // acme.region removed, acme.tenant unchanged in the file
    await new Promise((res) => setTimeout(res, 300));
    expect(events()).toBe(0);
    expect(await ctx(r, "acme.region")).toBe('"eu"');
    expect(await ctx(r, "acme.tenant")).toBe('"red"');

    write({ context: { "acme.tenant": { ...TENANT, value: "blue2" } } });
    await until(1);
    expect(await ctx(r, "acme.tenant")).toBe('"blue2"');
    expect(await ctx(r, "acme.region")).toBe('"eu"');
  });
});

describe("applyContextSection", () => {
  it("sets changed values, defines new keys and reports refusals without throwing", () => {
    const store = new ContextStore({ hostName: "h", hostVersion: "1", keys: { "acme.n": { schema: { type: "integer" }, value: 1 } } });
    const seen = new Map<string, unknown>([["acme.n", 1]]);
    expect(applyContextSection(store, { "acme.n": { value: 1 } }, seen)).toEqual({ changed: [], refused: [] });
    const bad = applyContextSection(store, { "acme.n": { value: "x" }, "acme.m": { schema: { type: "boolean" }, value: true } }, seen);
    expect(bad.changed).toEqual([{ key: "acme.m", applied: "defined" }]);
    expect(bad.refused.map((x) => [x.key, x.error.code])).toEqual([["acme.n", "E_CONTEXT_VALUE_INVALID"]]);
    expect(store.get("acme.n")).toBe(1);
    expect(applyContextSection(store, { "acme.n": { value: 2 } }, seen).changed).toEqual([{ key: "acme.n", applied: "set" }]);
    expect(store.get("acme.n")).toBe(2);
  });
});
