import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ApiVersionMismatch, ResolutionError } from "../src/contract/errors.js";
import { parseManifest, type Manifest } from "../src/plugin/manifest.js";
import { checkApiVersion, resolveLoadOrder } from "../src/plugin/resolve.js";
import { HOST_WIT_VERSION } from "../src/contract/version.js";

/** A real parsed manifest; deps as `name = "range"` lines, optional ones prefixed with "?". */
function plugin(name: string, version = "1.0.0", deps: Record<string, string> = {}, apiVersion = "^0.1"): Manifest {
  const required = Object.entries(deps).filter(([d]) => !d.startsWith("?"));
  const optional = Object.entries(deps).filter(([d]) => d.startsWith("?")).map(([d, r]) => [d.slice(1), r] as const);
  const table = (title: string, rows: readonly (readonly [string, string])[]): string =>
    rows.length === 0 ? "" : `[${title}]\n${rows.map(([d, r]) => `${d} = "${r}"`).join("\n")}\n`;
  const text = `name = "${name}"\nversion = "${version}"\napi-version = "${apiVersion}"\nentry = "p.wasm"\n${table("dependencies", required)}${table("optional-dependencies", optional)}`;
  return parseManifest(text, `/plugins/${name}/plugin.toml`, { checkEntry: false });
}

const names = (ms: Manifest[]): string[] => ms.map((m) => m.name);

function resolutionError(fn: () => unknown): ResolutionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ResolutionError);
    expect((err as ResolutionError).code).toBe("E_RESOLUTION_FAILED");
    return err as ResolutionError;
  }
  throw new Error("expected a ResolutionError");
}

describe("resolveLoadOrder", () => {
  it("puts dependencies first", () => {
    const order = resolveLoadOrder([plugin("app", "1.0.0", { auth: "^2", db: "^1.2" }), plugin("auth", "2.1.0", { db: "1.x" }), plugin("db", "1.4.0")]);
    expect(names(order)).toEqual(["db", "auth", "app"]);
  });

  it("breaks ties by name, whatever the input order", () => {
    const ms = [plugin("zeta"), plugin("alpha"), plugin("mid", "1.0.0", { zeta: "*" }), plugin("beta")];
    expect(names(resolveLoadOrder(ms))).toEqual(["alpha", "beta", "zeta", "mid"]);
    expect(names(resolveLoadOrder([...ms].reverse()))).toEqual(["alpha", "beta", "zeta", "mid"]);
  });

  it("returns an empty order for no plugins", () => {
    expect(resolveLoadOrder([])).toEqual([]);
  });

  it("lets already-loaded plugins satisfy dependencies without reordering them", () => {
    const order = resolveLoadOrder([plugin("app", "1.0.0", { db: "^1" })], { loaded: [{ name: "db", version: "1.9.0" }] });
    expect(names(order)).toEqual(["app"]);
  });

  it("ignores a missing optional dependency but orders a present one first", () => {
    expect(names(resolveLoadOrder([plugin("app", "1.0.0", { "?metrics": "^2" })]))).toEqual(["app"]);
    expect(names(resolveLoadOrder([plugin("app", "1.0.0", { "?metrics": "^2" }), plugin("metrics", "2.0.0")]))).toEqual(["metrics", "app"]);
  });

  it("reports a missing dependency with the plugin, the dependency and the range", () => {
    const e = resolutionError(() => resolveLoadOrder([plugin("app", "1.0.0", { db: "^1.2" })]));
    expect(e.plugin).toBe("app");
    expect(e.message).toContain('"app" depends on "db" ^1.2, which is neither being loaded nor already loaded');
  });

  it("reports a version outside the range, naming both", () => {
    const e = resolutionError(() => resolveLoadOrder([plugin("app", "1.0.0", { db: "^2.0.0" }), plugin("db", "1.4.0")]));
    expect(e.message).toContain('"app" needs "db" ^2.0.0, but db is 1.4.0');
  });

  it("checks an already-loaded plugin's version too", () => {
    const e = resolutionError(() => resolveLoadOrder([plugin("app", "1.0.0", { db: "^2" })], { loaded: [{ name: "db", version: "1.0.0" }] }));
    expect(e.message).toContain("but db is 1.0.0");
  });

  it("checks a present optional dependency's version", () => {
    const e = resolutionError(() => resolveLoadOrder([plugin("app", "1.0.0", { "?metrics": "^2" }), plugin("metrics", "3.0.0")]));
    expect(e.message).toContain('"app" needs "metrics" ^2 (optional), but metrics is 3.0.0');
  });

  it("reports every unsatisfied dependency at once", () => {
    const e = resolutionError(() => resolveLoadOrder([plugin("a", "1.0.0", { x: "^1" }), plugin("b", "1.0.0", { y: "^1" })]));
    expect(e.message).toMatch(/"a" depends on "x".*; "b" depends on "y"/);
  });

  it("names the cycle path", () => {
    const e = resolutionError(() => resolveLoadOrder([plugin("a", "1.0.0", { b: "*" }), plugin("b", "1.0.0", { c: "*" }), plugin("c", "1.0.0", { a: "*" }), plugin("d")]));
    expect(e.message).toContain("dependency cycle: a -> b -> c -> a");
  });

  it("names a cycle that does not start at the first plugin", () => {
    const e = resolutionError(() => resolveLoadOrder([plugin("a", "1.0.0", { b: "*" }), plugin("b", "1.0.0", { c: "*" }), plugin("c", "1.0.0", { b: "*" })]));
    expect(e.message).toContain("dependency cycle: b -> c -> b");
  });

  it("counts optional dependencies in cycles", () => {
    const e = resolutionError(() => resolveLoadOrder([plugin("a", "1.0.0", { "?b": "*" }), plugin("b", "1.0.0", { a: "*" })]));
    expect(e.message).toContain("dependency cycle: a -> b -> a");
  });

  it("refuses duplicate names, naming both files", () => {
    const e = resolutionError(() => resolveLoadOrder([plugin("dup"), { ...plugin("dup", "2.0.0"), file: "/elsewhere/plugin.toml" }]));
    expect(e.message).toContain('two plugins are named "dup" (/plugins/dup/plugin.toml and /elsewhere/plugin.toml)');
  });

  it("refuses to load a plugin that is already loaded", () => {
    const e = resolutionError(() => resolveLoadOrder([plugin("db")], { loaded: [{ name: "db", version: "1.0.0" }] }));
    expect(e.message).toContain('"db" is already loaded (version 1.0.0); unload it');
  });
});

describe("checkApiVersion", () => {
  it("uses the host WIT version, which matches wit/plugin.wit", () => {
    const wit = readFileSync(new URL("../wit/plugin.wit", import.meta.url), "utf8");
    expect(wit).toContain(`package plughost:plugin@${HOST_WIT_VERSION};`);
    expect(() => checkApiVersion(plugin("p", "1.0.0", {}, "^0.1"))).not.toThrow();
  });

  const accepts = ["^0.1", "^0.1.0", "0.1.x", "~0.1.0", ">=0.1.0 <0.2.0", "*", "0.1.0"];
  for (const range of accepts) {
    it(`accepts host 0.1.0 for ${range}`, () => expect(() => checkApiVersion({ name: "p", apiVersion: range }, "0.1.0")).not.toThrow());
  }

  it("treats a 0.x minor as breaking", () => {
    expect(() => checkApiVersion({ name: "p", apiVersion: "^0.1" }, "0.2.0")).toThrow(ApiVersionMismatch);
    expect(() => checkApiVersion({ name: "p", apiVersion: "^0.1" }, "0.1.7")).not.toThrow();
  });

  it("matches a prerelease host", () => {
    expect(() => checkApiVersion({ name: "p", apiVersion: "^0.2" }, "0.2.0-rc.1")).toThrow(ApiVersionMismatch);
    expect(() => checkApiVersion({ name: "p", apiVersion: ">=0.2.0-rc.0" }, "0.2.0-rc.1")).not.toThrow();
  });

  it("throws ApiVersionMismatch naming both versions for an incompatible major", () => {
    let caught: unknown;
    try {
      checkApiVersion({ name: "p", apiVersion: "^1.0" });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ApiVersionMismatch);
    const e = caught as ApiVersionMismatch;
    expect([e.code, e.expected, e.actual, e.plugin]).toEqual(["E_API_VERSION_MISMATCH", "0.1.0", "^1.0", "p"]);
    expect(e.message).toBe("[p] plugin API version mismatch: host provides 0.1.0, plugin requires ^1.0");
  });

  it("throws ApiVersionMismatch for a malformed range", () => {
    expect(() => checkApiVersion({ name: "p", apiVersion: "not a range" })).toThrow(/host provides 0\.1\.0, plugin requires not a range/);
  });
});
