import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { HostConfigError, PluginRegistry } from "../src/index.js";

describe("registry logger option", () => {
  it("refuses a console as logger, naming the missing methods", () => {
    let err: unknown;
    try {
      new PluginRegistry({ logger: console as never, cacheDir: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HostConfigError);
    const e = err as HostConfigError;
    expect(e.code).toBe("E_HOST_CONFIG_INVALID");
    expect(e.problems[0]?.pointer).toBe("/logger");
    expect(e.message).toMatch(/without child, fatal/);
  });

  it("refuses a non-object logger", () => {
    expect(() => new PluginRegistry({ logger: "verbose" as never, cacheDir: false })).toThrow(/\/logger: must be a pino logger .* got string/);
  });

  it("accepts a pino logger and a child of one", async () => {
    const root = pino({ level: "silent" });
    for (const logger of [root, root.child({ app: "x" })]) {
      const registry = new PluginRegistry({ logger, cacheDir: false });
      expect(registry.list()).toEqual([]);
      await registry.close();
    }
  });
});
