// Where the addon has not been built, asking for the wasmtime engine is
// EngineUnavailable with a reason, and the v8 engine is unaffected.
// (PLUGHOST_WASMTIME_ADDON points the loader at a file that does not exist.)
import { describe, it, expect, afterEach } from "vitest";
import { EngineUnavailable } from "../src/contract/errors.js";
import { getEngine } from "../src/engines/index.js";
import { RecordingHost } from "./fixtures/wasmtime/helpers.js";

const saved = process.env.PLUGHOST_WASMTIME_ADDON;
afterEach(() => {
  if (saved === undefined) delete process.env.PLUGHOST_WASMTIME_ADDON;
  else process.env.PLUGHOST_WASMTIME_ADDON = saved;
});

describe("wasmtime engine without its addon", () => {
  it("fails a load with EngineUnavailable naming the missing file and how to build it", async () => {
    process.env.PLUGHOST_WASMTIME_ADDON = "/nonexistent/plughost-wasmtime.node";
    const engine = await getEngine("wasmtime");
    expect(engine.name).toBe("wasmtime");
    const err = await engine
      .load({ plugin: "p", entryPath: "/x/p.wasm", bytes: new Uint8Array(8), capabilities: [], limits: {}, host: new RecordingHost() })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineUnavailable);
    expect((err as EngineUnavailable).code).toBe("E_ENGINE_UNAVAILABLE");
    expect((err as Error).message).toMatch(/PLUGHOST_WASMTIME_ADDON names \/nonexistent\/plughost-wasmtime\.node, which does not exist/);
    expect((err as Error).message).toMatch(/setup\.mjs wasmtime/);
  });

  it("leaves the v8 engine available", async () => {
    process.env.PLUGHOST_WASMTIME_ADDON = "/nonexistent/plughost-wasmtime.node";
    expect((await getEngine("v8")).name).toBe("v8");
  });
});
