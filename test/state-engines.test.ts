// The registry's state and hand-off on the other engines, with the same C fixture (test/fixtures/c/state-counter):
// wasmtime, and v8 in a worker. The count survives a trap, restart() and a hot reload; `mem` is carried by the
// hand-off; the quota is a typed error and a violation. SQLite backend (the Redis one is the same below the store).
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PluginRegistry, type RegistryOptions } from "../src/index.js";
import { STATE_ERROR_CODE } from "../src/contract/abi.js";
import { copyPlugin, dec, enc, silentLogger } from "./helpers/plugins.js";

const open: PluginRegistry[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) await r.close().catch(() => undefined);
});

describe.each([
  ["wasmtime", { engine: "wasmtime" }],
  ["v8 in a worker", { isolation: "worker" }],
] as const)("state on %s", (_name, engine: RegistryOptions) => {
  const host = (dataDir: string) => {
    const r = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir, grants: ["state", "context:*", "context:write:*"], violationThreshold: 100, ...engine });
    open.push(r);
    return r;
  };
  const call = async (r: PluginRegistry, event: string, data = "") => {
    const out = await r.hook("state-counter", event, enc(data));
    if (!out.ok) throw new Error(`${event} returned status ${out.status}`);
    return dec(out.data);
  };

  it("keeps the count across a trap, restart() and a reload, carries mem by the hand-off, and holds the quota", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "plughost-state-"));
    const dir = copyPlugin("test/fixtures/c/state-counter", (t) => `${t}\n[limits]\nstate-keys = 2\n`);
    const r = host(dataDir);
    await r.load(dir);
    expect(await call(r, "count")).toBe("1");
    expect(await call(r, "count")).toBe("2");
    await r.hook("state-counter", "trap").catch(() => undefined);
    await new Promise((resolve) => r.once("restarted", resolve));
    expect(await call(r, "count")).toBe("3");
    expect(await call(r, "mem")).toBe("1"); // nothing was snapshotted before the trap
    await r.restart("state-counter");
    expect(await call(r, "mem")).toBe("1");
    expect(await call(r, "count")).toBe("4");
    await r.reload("state-counter");
    expect(await call(r, "mem")).toBe("2");
    expect(await call(r, "count")).toBe("5");

    expect(await call(r, "set", "a=1")).toBe("ok");
    expect(await call(r, "set", "b=1")).toBe(`error:${STATE_ERROR_CODE["quota-exceeded"]}`);
    expect(r.violations("state-counter").map((v) => v.kind)).toEqual(["quota"]); // the reload started a new count
    await r.close();

    const again = host(dataDir);
    await again.load(dir);
    expect(await call(again, "count")).toBe("6");
    expect(await call(again, "mem")).toBe("4");
  }, 60_000);
});
