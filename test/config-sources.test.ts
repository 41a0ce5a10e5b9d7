// Configuration sources in order with provenance, environment variables, environment sections and the
// validation modes, through the registry and a real C plugin (test/fixtures/c/config-echo).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, configEnvVar, resolveConfig } from "../src/config/index.js";
import { parseManifest } from "../src/plugin/manifest.js";
import { PluginRegistry, type RegistryOptions } from "../src/runtime/registry.js";

const ECHO = path.resolve("test/fixtures/c/config-echo");
const enc = new TextEncoder();
const dec = new TextDecoder();
const VARS = ["PLUGHOST_CONFIG_ECHO_SERVER__PORT", "PLUGHOST_CONFIG_ECHO_TAGS", "PLUGHOST_CONFIG_ECHO_VERSION", "PLUGHOST_CONFIG_ECHO_COLOUR"];

let dataDir: string;
let registry: PluginRegistry | undefined;
beforeEach(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), "plughost-config-"));
});
afterEach(async () => {
  await registry?.close();
  registry = undefined;
  for (const v of VARS) delete process.env[v];
  rmSync(dataDir, { recursive: true, force: true });
});

function open(options: RegistryOptions = {}): PluginRegistry {
  registry = new PluginRegistry({ cacheDir: false, dataDir, logLevel: "silent", ...options });
  return registry;
}

async function ask(r: PluginRegistry, hook: string, data = ""): Promise<string> {
  const out = await r.hook("config-echo", hook, enc.encode(data));
  expect(out.ok).toBe(true);
  return dec.decode(out.ok ? out.data : new Uint8Array());
}

function catching(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}

describe("sources in order, with provenance", () => {
  it("defaults < schema defaults < [config.env.production] < host overrides < PLUGHOST_ variables", async () => {
    process.env.PLUGHOST_CONFIG_ECHO_SERVER__PORT = "9090";
    process.env.PLUGHOST_CONFIG_ECHO_TAGS = '["a","b"]';
    process.env.PLUGHOST_CONFIG_ECHO_VERSION = "1.0"; // the schema wants a string: lenient keeps the text
    const r = open({ environment: "production", config: { "config-echo": { greeting: "hi", server: { port: 8080 }, retries: 7 } } });
    await r.load(ECHO);
    const { value, provenance } = r.config("config-echo");
    expect(value).toEqual({ greeting: "hi", retries: 7, "timeout-ms": 1000, server: { host: "prod.example", port: 9090 }, tags: ["a", "b"], version: "1.0" });
    expect(provenance).toEqual({
      "/greeting": "host",
      "/retries": "host",
      "/timeout-ms": "schema-default",
      "/server/host": "env-section:production",
      "/server/port": "env:PLUGHOST_CONFIG_ECHO_SERVER__PORT",
      "/tags": "env:PLUGHOST_CONFIG_ECHO_TAGS",
      "/version": "env:PLUGHOST_CONFIG_ECHO_VERSION",
    });
    // The plugin got exactly that, and get-config / get-config-value agree with it.
    expect(JSON.parse(await ask(r, "config"))).toEqual(value);
    expect(JSON.parse(await ask(r, "get-config"))).toEqual(value);
    expect(await ask(r, "value", "server")).toBe('{"host":"prod.example","port":9090}');
    expect(await ask(r, "value", "missing")).toBe("none");
  });

  it("without an environment the section does not apply, and the defaults show as such", async () => {
    const r = open();
    await r.load(ECHO);
    const { value, provenance } = r.config("config-echo");
    expect(value).toEqual({ greeting: "hello", retries: 1, "timeout-ms": 1000, server: { host: "localhost", port: 80 } });
    expect(provenance["/server/host"]).toBe("default");
    expect(provenance["/retries"]).toBe("default");
    expect(r.config("config-echo").validation).toBe("lenient");
  });

  it("another environment's name selects nothing", async () => {
    const r = open({ environment: "staging" });
    await r.load(ECHO);
    expect(r.config("config-echo").value.retries).toBe(1);
  });
});

describe("environment variables", () => {
  const manifest = (config: Record<string, unknown>, name = "my-plugin") =>
    parseManifest(JSON.stringify({ name, version: "1.0.0", "api-version": "^0.1", entry: "p.wasm", config }), "/plugins/p/plugin.json", { checkEntry: false });

  it("escape: upper case, - and . as _, nested keys joined with __", () => {
    expect(configEnvVar("http-echo", ["server", "port"])).toBe("PLUGHOST_HTTP_ECHO_SERVER__PORT");
    expect(configEnvVar("acme.tools", ["max-size"])).toBe("PLUGHOST_ACME_TOOLS_MAX_SIZE");
  });

  it("values are JSON when they parse, else text; a key named by no source is the segment in lower case", () => {
    const m = manifest({ defaults: { "max-size": 1, name: "x" } });
    const env = { PLUGHOST_MY_PLUGIN_MAX_SIZE: "42", PLUGHOST_MY_PLUGIN_NAME: "plain text", PLUGHOST_MY_PLUGIN_FLAGS: '{"a":true}', OTHER: "1" };
    const c = resolveConfig(m, { env });
    expect(c.value).toEqual({ "max-size": 42, name: "plain text", flags: { a: true } });
    expect(c.provenance["/max-size"]).toBe("env:PLUGHOST_MY_PLUGIN_MAX_SIZE");
    expect(c.provenance["/flags/a"]).toBe("env:PLUGHOST_MY_PLUGIN_FLAGS");
  });

  it("a variable naming two keys is refused, naming both, the variable and the pointer", () => {
    const m = manifest({ defaults: { server: { "max-size": 1, max_size: 2 } } });
    const err = catching(() => resolveConfig(m, { env: { PLUGHOST_MY_PLUGIN_SERVER__MAX_SIZE: "3" } }));
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.plugin).toBe("my-plugin");
    expect(e.source).toBe("env:PLUGHOST_MY_PLUGIN_SERVER__MAX_SIZE");
    expect(e.problems[0]?.pointer).toBe("/server");
    expect(e.message).toMatch(/ambiguous: it names both "max-size" and "max_size"/);
  });

  it("a variable a longer plugin name also claims belongs to that plugin", () => {
    const a = manifest({ defaults: {} }, "a");
    const env = { PLUGHOST_A_B_X: "1", PLUGHOST_A_Y: "2" };
    expect(resolveConfig(a, { env, otherPlugins: ["a-b"] }).value).toEqual({ y: 2 });
    expect(resolveConfig(a, { env }).value).toEqual({ b_x: 1, y: 2 });
    expect(resolveConfig(manifest({ defaults: {} }, "a-b"), { env, otherPlugins: ["a"] }).value).toEqual({ x: 1 });
  });

  it("a malformed segment is refused", () => {
    const err = catching(() => resolveConfig(manifest({ defaults: {} }), { env: { PLUGHOST_MY_PLUGIN_A___B: "1" } })) as ConfigError;
    expect(err.source).toBe("env:PLUGHOST_MY_PLUGIN_A___B");
  });
});

describe("validation modes", () => {
  it("lenient (default) keeps unknown keys; strict (host option) refuses them, naming plugin, source and pointer", async () => {
    const overrides = { config: { "config-echo": { colour: "red" } } };
    const lenient = open(overrides);
    await lenient.load(ECHO);
    expect(lenient.config("config-echo").value.colour).toBe("red");
    await lenient.close();
    registry = undefined;

    const strict = open({ ...overrides, configValidation: "strict" });
    const err = await strict.load(ECHO).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.plugin).toBe("config-echo");
    expect(e.problems).toEqual([expect.objectContaining({ pointer: "/colour", source: "host" })]);
    expect(e.message).toMatch(/\/colour: unknown key "colour".*\(from host\)/);
    expect(strict.info("config-echo").state).toBe("unloaded");
  });

  it("strict takes a variable's JSON as it is: 1.0 is a number, which a string key refuses", async () => {
    process.env.PLUGHOST_CONFIG_ECHO_VERSION = "1.0";
    const r = open({ configValidation: "strict" });
    const e = (await r.load(ECHO).then(() => undefined, (x: unknown) => x)) as ConfigError;
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.problems[0]).toMatchObject({ pointer: "/version", source: "env:PLUGHOST_CONFIG_ECHO_VERSION" });
    expect(e.message).toMatch(/must be a string/);
  });

  it("additional-properties: remove drops unknown keys; without a schema the defaults are the shape", () => {
    const m = (config: Record<string, unknown>) => parseManifest(JSON.stringify({ name: "p", version: "1.0.0", "api-version": "^0.1", entry: "p.wasm", config }), "/x/plugin.json", { checkEntry: false });
    const schema = { type: "object", properties: { a: { type: "integer" } } };
    const removed = resolveConfig(m({ schema, defaults: { a: 1 }, "additional-properties": "remove" }), { host: { a: 2, junk: true }, env: {} });
    expect(removed.value).toEqual({ a: 2 });
    expect(removed.removed).toEqual(["/junk"]);
    // A schema that says additionalProperties itself wins over the mode.
    const open2 = resolveConfig(m({ schema: { ...schema, additionalProperties: true }, defaults: {}, validation: "strict" }), { host: { junk: 1 }, env: {} });
    expect(open2.value).toEqual({ junk: 1 });
    // No schema, strict: unknown keys and another type than the default's are refused.
    const noSchema = m({ defaults: { n: 1, s: "x", o: { k: true } }, validation: "strict" });
    const e = catching(() => resolveConfig(noSchema, { host: { n: "2", o: { k: true, extra: 1 } }, env: {} })) as ConfigError;
    expect(e.problems.map((p) => p.pointer).sort()).toEqual(["/n", "/o/extra"]);
    expect(resolveConfig(m({ defaults: { n: 1 } }), { host: { n: "2", more: 1 }, env: {} }).value).toEqual({ n: "2", more: 1 });
  });

  it("the manifest's [config.env] sections are checked against the schema when it is parsed", () => {
    expect(() =>
      parseManifest(
        JSON.stringify({ name: "p", version: "1.0.0", "api-version": "^0.1", entry: "p.wasm", config: { schema: { type: "object", properties: { n: { type: "integer" } } }, env: { production: { n: "x" } } } }),
        "/x/plugin.json",
        { checkEntry: false },
      ),
    ).toThrow(/\/config\/env\/production\/n: must be a whole number/);
  });
});

describe("config.schema as a file", () => {
  it("reads a .json file inside the plugin's directory, and refuses one outside it or one that is not a schema", () => {
    const dir = path.join(dataDir, "plugin");
    mkdirSync(dir);
    writeFileSync(path.join(dataDir, "outside.json"), "{}");
    writeFileSync(path.join(dir, "schema.json"), JSON.stringify({ type: "object", properties: { n: { type: "integer", default: 4 } } }));
    writeFileSync(path.join(dir, "broken.json"), "[1,");
    const parse = (schema: string) =>
      parseManifest(JSON.stringify({ name: "p", version: "1.0.0", "api-version": "^0.1", entry: "p.wasm", config: { schema } }), path.join(dir, "plugin.json"), { checkEntry: false });
    const m = parse("schema.json");
    expect(m.config.schemaFile).toBe(path.join(dir, "schema.json"));
    expect(resolveConfig(m, { env: {} }).value).toEqual({ n: 4 });
    expect(() => parse("../outside.json")).toThrow(/\/config\/schema: "\.\.\/outside\.json" leaves the plugin's directory/);
    expect(() => parse("missing.json")).toThrow(/schema file .*missing\.json does not exist/);
    expect(() => parse("broken.json")).toThrow(/\/config\/schema: schema file .*broken\.json: /);
  });
});
