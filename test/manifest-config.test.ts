import { describe, expect, it } from "vitest";
import { parseManifest, type Manifest } from "../src/plugin/manifest.js";
import { ConfigError, mergeConfig, resolvePluginConfig } from "../src/plugin/plugin-config.js";

function withConfig(config: Record<string, unknown>): Manifest {
  return parseManifest(
    JSON.stringify({ name: "greeter", version: "1.0.0", "api-version": "^0.1", entry: "g.wasm", config }),
    "/plugins/greeter/plugin.json",
    { checkEntry: false },
  );
}

const schema = {
  type: "object",
  additionalProperties: false,
  required: ["greeting", "apiKey"],
  properties: {
    greeting: { type: "string" },
    apiKey: { type: "string", minLength: 8 },
    retries: { type: "integer", minimum: 0, default: 3 },
    server: {
      type: "object",
      properties: { host: { type: "string" }, port: { type: "integer", maximum: 65535 } },
    },
    tags: { type: "array", items: { type: "string" } },
  },
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe("E_CONFIG_INVALID");
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("resolvePluginConfig", () => {
  const m = withConfig({ schema, defaults: { greeting: "hi", server: { host: "localhost", port: 80 }, tags: ["a", "b"] } });

  it("merges host overrides over the defaults (deeply for objects, replacing arrays) and fills schema defaults", () => {
    const cfg = resolvePluginConfig(m, { apiKey: "secret-key", server: { port: 8080 }, tags: ["c"] });
    expect(cfg).toEqual({ greeting: "hi", apiKey: "secret-key", retries: 3, server: { host: "localhost", port: 8080 }, tags: ["c"] });
  });

  it("does not modify the manifest's defaults or the overrides", () => {
    const overrides = { apiKey: "secret-key", server: { port: 1 } };
    resolvePluginConfig(m, overrides);
    expect(m.config.defaults).toEqual({ greeting: "hi", server: { host: "localhost", port: 80 }, tags: ["a", "b"] });
    expect(overrides).toEqual({ apiKey: "secret-key", server: { port: 1 } });
  });

  it("reports a required key the host did not supply, naming the plugin", () => {
    const e = configError(() => resolvePluginConfig(m));
    expect(e.plugin).toBe("greeter");
    expect(e.problems).toEqual([{ pointer: "/apiKey", message: "is required but missing" }]);
    expect(e.message).toMatch(/^\[greeter\] invalid configuration: \/apiKey: is required but missing; fix config\.greeter in the host config, or config\.defaults in \/plugins\/greeter\/plugin\.json$/);
  });

  it("reports a wrongly typed nested override at its pointer", () => {
    const e = configError(() => resolvePluginConfig(m, { apiKey: "secret-key", server: { port: "eighty" } }));
    expect(e.problems).toEqual([{ pointer: "/server/port", message: 'must be a whole number, got "eighty"', source: "host" }]);
  });

  it("reports several problems at once", () => {
    const e = configError(() => resolvePluginConfig(m, { apiKey: "short", server: { port: 70000 }, colour: "red" }));
    expect(e.problems.map((p) => p.pointer).sort()).toEqual(["/apiKey", "/colour", "/server/port"]);
    expect(e.problems.find((p) => p.pointer === "/server/port")?.message).toBe("must be at most 65535, got 70000");
    expect(e.problems.find((p) => p.pointer === "/colour")?.message).toMatch(/^unknown key "colour"/);
    expect(e.problems.find((p) => p.pointer === "/apiKey")?.message).toBe('must be at least 8 characters long, got "short"');
  });

  it("rejects overrides that are not an object", () => {
    const e = configError(() => resolvePluginConfig(m, ["x"] as unknown as Record<string, unknown>));
    expect(e.problems[0]).toEqual({ pointer: "", message: "host overrides must be an object, got an array", source: "host" });
  });

  it("passes through when the manifest has no config schema", () => {
    const plain = withConfig({ defaults: { a: 1 } });
    expect(resolvePluginConfig(plain, { b: 2 })).toEqual({ a: 1, b: 2 });
  });

  it("reports a hand-built manifest whose schema does not compile", () => {
    const e = configError(() => resolvePluginConfig({ name: "x", config: { schema: { type: 12 }, defaults: {} } }));
    expect(e.problems[0]?.message).toMatch(/^config\.schema is not a valid JSON Schema/);
  });

  it("supports draft-07 config schemas", () => {
    const d7 = withConfig({ schema: { $schema: "http://json-schema.org/draft-07/schema#", type: "object", properties: { n: { type: "number" } } } });
    expect(resolvePluginConfig(d7, { n: 2 })).toEqual({ n: 2 });
    expect(configError(() => resolvePluginConfig(d7, { n: "2" })).problems[0]?.pointer).toBe("/n");
  });
});

describe("config at manifest-parse time", () => {
  it("lets defaults leave out required keys, which the host supplies", () => {
    expect(() => withConfig({ schema, defaults: { greeting: "hi" } })).not.toThrow();
  });

  it("checks the defaults against the schema otherwise", () => {
    expect(() => withConfig({ schema, defaults: { retries: -1 } })).toThrow(/\/config\/defaults\/retries: must be at least 0, got -1 \(the defaults must satisfy config\.schema\)/);
  });

  it("rejects a schema with an unknown keyword (a likely typo)", () => {
    expect(() => withConfig({ schema: { type: "object", propertes: {} } })).toThrow(/\/config\/schema: is not a valid JSON Schema: strict mode: unknown keyword: "propertes"/);
  });
});

describe("mergeConfig", () => {
  it("replaces scalars and arrays, merges objects, allows null", () => {
    expect(mergeConfig({ a: 1, b: [1, 2], c: { d: 1, e: 2 }, f: { g: 1 } }, { a: 2, b: [3], c: { e: 3 }, f: null })).toEqual({
      a: 2,
      b: [3],
      c: { d: 1, e: 3 },
      f: null,
    });
  });
});
