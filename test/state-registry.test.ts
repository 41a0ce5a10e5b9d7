// Persistent plugin state in the registry (issue 16 point 3), with the real C fixture test/fixtures/c/state-counter on
// v8 in process, against SQLite (a fresh dataDir per test) and a real redis-server (test/helpers/redis-server.mjs):
// the count survives a trap, restart(), a hot reload and a new registry on the same store; the in-memory counter
// `mem` survives them through the hand-off (snapshot / restore); plugins cannot see each other's keys; the quota in
// bytes and in keys holds (a typed error to the guest and a violation of kind "quota"); registry.state(name) inspects
// and wipes, loaded or not.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CapabilityDenied, HostConfigError, PluginRegistry, registryOptionsFrom, validateHostConfig, type RegistryOptions, type Violation } from "../src/index.js";
import { STATE_ERROR_CODE } from "../src/contract/abi.js";
import { HostState, openHostStateBackend, StateUnavailable } from "../src/state/host-state.js";
import type { EngineInstance } from "../src/engines/engine.js";
import { copyPlugin, dec, enc, silentLogger } from "./helpers/plugins.js";
import { startRedisServer, type RedisServer } from "./helpers/redis-server.mjs";

const FIXTURE = "test/fixtures/c/state-counter";
const GRANTS = ["state", "context:*", "context:write:*"];
const err = (e: keyof typeof STATE_ERROR_CODE) => `error:${STATE_ERROR_CODE[e]}`;

let redis: RedisServer | undefined;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.close();
});

const open: PluginRegistry[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) await r.close().catch(() => undefined);
});

/** A copy of the fixture named `name`, with `extra` TOML appended to its manifest. */
function plugin(name: string, extra = ""): string {
  return copyPlugin(FIXTURE, (t) => t.replace('name = "state-counter"', `name = "${name}"`) + extra);
}

const backends = [
  ["sqlite", () => ({ dataDir: mkdtempSync(path.join(tmpdir(), "plughost-state-")) })],
  ["redis", () => ({ dataDir: mkdtempSync(path.join(tmpdir(), "plughost-state-")), state: { backend: "redis" as const, url: redis!.url } })],
] as const;

describe.each(backends)("state on %s (v8)", (_backend, storage) => {
  /** A registry over one store: `options.dataDir` / `options.state` say which; a second call with the same store is a new host. */
  function host(store: Pick<RegistryOptions, "dataDir" | "state">, options: RegistryOptions = {}): PluginRegistry {
    const r = new PluginRegistry({ logger: silentLogger(), cacheDir: false, grants: GRANTS, violationThreshold: 100, ...store, ...options });
    open.push(r);
    return r;
  }
  const call = async (r: PluginRegistry, name: string, event: string, data = ""): Promise<string> => {
    const out = await r.hook(name, event, enc(data));
    if (!out.ok) throw new Error(`${event} returned status ${out.status}`);
    return dec(out.data);
  };
  /** A fresh store; on Redis the names these tests use start empty. */
  function store(): Pick<RegistryOptions, "dataDir" | "state"> {
    const s = storage();
    if (s.state === undefined) return s; // a new dataDir: empty, and not opened yet
    const r = new PluginRegistry({ logger: silentLogger(), cacheDir: false, ...s });
    for (const name of ["state-counter", "other", "small", "few", "unstated"]) r.state(name).wipe();
    void r.close();
    return s;
  }

  it("the count survives a trap (recovery), restart(), a hot reload and a new host on the same store", async () => {
    const s = store();
    const r = host(s);
    await r.load(plugin("state-counter"));
    expect(await call(r, "state-counter", "count")).toBe("1");
    expect(await call(r, "state-counter", "count")).toBe("2");

    const trapped = await r.hook("state-counter", "trap").catch((e: unknown) => e);
    expect((trapped as Error).name).toBe("PluginTrap");
    await new Promise((resolve) => r.once("restarted", resolve));
    expect(await call(r, "state-counter", "count")).toBe("3");

    await r.restart("state-counter");
    expect(await call(r, "state-counter", "count")).toBe("4");

    await r.reload("state-counter");
    expect(await call(r, "state-counter", "count")).toBe("5");
    await r.close();

    const again = host(s);
    await again.load(plugin("state-counter"));
    expect(await call(again, "state-counter", "count")).toBe("6");
    expect(dec(again.state("state-counter").get("count")!)).toBe("6");
  });

  it("the in-memory counter survives restart(), a hot reload, unload and load, and a new host through snapshot / restore", async () => {
    const s = store();
    const r = host(s);
    await r.load(plugin("state-counter"));
    for (let i = 0; i < 3; i++) await call(r, "state-counter", "count");
    expect(await call(r, "state-counter", "mem")).toBe("3");

    await r.restart("state-counter");
    expect(await call(r, "state-counter", "mem")).toBe("3");
    await call(r, "state-counter", "count");
    await r.reload("state-counter");
    expect(await call(r, "state-counter", "mem")).toBe("4");
    await r.unload("state-counter");
    expect(dec(r.state("state-counter").snapshot()!)).toBe("4"); // stored at the unload
    await r.load(plugin("state-counter"));
    expect(await call(r, "state-counter", "mem")).toBe("4");
    await call(r, "state-counter", "count");
    await r.close(); // snapshots before it closes the backend

    const again = host(s);
    await again.load(plugin("state-counter"));
    expect(await call(again, "state-counter", "mem")).toBe("5");
    expect(await call(again, "state-counter", "count")).toBe("6");
  });

  it("after a trap the new instance gets the last periodic snapshot (state.snapshotEveryMs)", async () => {
    const s = store();
    const r = host(s, { state: { ...s.state, snapshotEveryMs: 20 } });
    await r.load(plugin("state-counter"));
    for (let i = 0; i < 3; i++) await call(r, "state-counter", "count");
    const deadline = Date.now() + 5000;
    while (dec(r.state("state-counter").snapshot() ?? new Uint8Array()) !== "3" && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await r.hook("state-counter", "trap").catch(() => undefined);
    await new Promise((resolve) => r.once("restarted", resolve));
    expect(await call(r, "state-counter", "mem")).toBe("3");
    expect(await call(r, "state-counter", "count")).toBe("4");
  });

  it("two plugins cannot see each other's keys; the host sees each plugin's own", async () => {
    const r = host(store());
    await r.load(plugin("state-counter"));
    await r.load(plugin("other"));
    expect(await call(r, "state-counter", "set", "secret=alpha")).toBe("ok");
    expect(await call(r, "other", "get", "secret")).toBe("missing");
    expect(await call(r, "other", "set", "secret=beta")).toBe("ok");
    expect(await call(r, "state-counter", "get", "secret")).toBe("alpha");
    expect(await call(r, "other", "get", "secret")).toBe("beta");
    expect(await call(r, "other", "keys", "10")).toBe("secret\n");
    await call(r, "state-counter", "count");
    expect(await call(r, "other", "exists", "count")).toBe("0");
    expect(await call(r, "other", "del", "count")).toBe("0");
    expect(r.state("state-counter").keys()).toEqual(["count", "secret"]);
    expect(r.state("other").keys()).toEqual(["secret"]);
    expect(dec(r.state("other").get("secret")!)).toBe("beta");
  });

  it("the quota in bytes holds: the write is refused with quota-exceeded, nothing is written, a violation of kind quota is recorded", async () => {
    const r = host(store());
    // 64 bytes: keys' UTF-8 bytes plus values' bytes.
    await r.load(plugin("small", "\n[limits]\nstate = 64\n"));
    expect(r.info("small").limits).toMatchObject({ stateBytes: 64, stateKeys: 10_000 });
    const violations: Violation[] = [];
    r.on("violation", (v) => violations.push(v));
    expect(await call(r, "small", "set", `a=${"x".repeat(63)}`)).toBe("ok"); // 1 + 63 = 64: at the quota
    expect(await call(r, "small", "set", "b=y")).toBe(err("quota-exceeded"));
    expect(await call(r, "small", "exists", "b")).toBe("0");
    expect(await call(r, "small", "set", `a=${"x".repeat(64)}`)).toBe(err("quota-exceeded")); // a replacement counts its new size
    expect(dec(r.state("small").get("a")!)).toBe("x".repeat(63));
    expect(r.state("small").usage()).toMatchObject({ bytes: 64, keys: 1 });
    expect(violations.map((v) => v.kind)).toEqual(["quota", "quota"]);
    expect(violations[0]!.detail).toMatch(/state-set\("b"\) refused: the plugin's state would pass its quota of 64 bytes/);
    expect(r.violations("small").map((v) => v.kind)).toEqual(["quota", "quota"]);
    // Deleting makes room again.
    expect(await call(r, "small", "del", "a")).toBe("1");
    expect(await call(r, "small", "set", "b=y")).toBe("ok");
  });

  it("the quota in keys holds, and the host's maxLimits clamp what a manifest asks for", async () => {
    const r = host(store(), { maxLimits: { stateKeys: 2 } });
    await r.load(plugin("few", "\n[limits]\nstate-keys = 5\n"));
    expect(r.info("few").limits.stateKeys).toBe(2);
    expect(await call(r, "few", "set", "a=1")).toBe("ok");
    expect(await call(r, "few", "incr", "b=1")).toBe("1");
    expect(await call(r, "few", "set", "c=1")).toBe(err("quota-exceeded"));
    expect(await call(r, "few", "incr", "c=1")).toBe(err("quota-exceeded"));
    expect(await call(r, "few", "set", "a=2")).toBe("ok"); // replacing a key adds none
    expect(r.state("few").keys()).toEqual(["a", "b"]);
    expect(r.violations("few").map((v) => v.kind)).toEqual(["quota", "quota"]);
  });

  it("keys and values are checked before the backend: invalid-key, too-large, not-an-integer", async () => {
    const r = host(store());
    await r.load(plugin("state-counter"));
    expect(await call(r, "state-counter", "get", "")).toBe(err("invalid-key"));
    expect(await call(r, "state-counter", "set", `${"k".repeat(257)}=v`)).toBe(err("invalid-key"));
    expect(await call(r, "state-counter", "set", `${"é".repeat(128)}=v`)).toBe("ok"); // 256 UTF-8 bytes
    expect(await call(r, "state-counter", "set", `${"é".repeat(129)}=v`)).toBe(err("invalid-key"));
    expect(await call(r, "state-counter", "set", `big=${"v".repeat(1024 * 1024 + 1)}`)).toBe(err("too-large"));
    expect(await call(r, "state-counter", "set", "word=abc")).toBe("ok");
    expect(await call(r, "state-counter", "incr", "word=1")).toBe(err("not-an-integer"));
    expect(r.violationCount("state-counter")).toBe(0); // none of these is a violation
  });

  it("without the capability state every call is denied and a capability violation, there is no hand-off, the backend is not opened", async () => {
    const s = store();
    const dir = copyPlugin(FIXTURE, (t) =>
      t.replace('name = "state-counter"', 'name = "unstated"').replace('capabilities = ["state", ', 'optional-capabilities = ["state"]\ncapabilities = ['),
    );
    const r = host(s, { grants: ["context:*", "context:write:*"] });
    await r.load(dir);
    expect(r.info("unstated").capabilities).not.toContain("state");
    expect(await call(r, "unstated", "count")).toBe(err("denied"));
    expect(await call(r, "unstated", "get", "count")).toBe(err("denied"));
    const v = r.violations("unstated");
    expect(v.map((x) => x.kind)).toEqual(["capability", "capability"]);
    expect(v[0]!.detail).toMatch(/state-increment\("count"\) denied: needs state/);
    // The hand-off keeps snapshots on the host's disk too: not for a plugin without state.
    await r.restart("unstated");
    expect(await call(r, "unstated", "mem")).toBe("0");
    if (s.state === undefined) expect(existsSync(path.join(s.dataDir!, "state.db"))).toBe(false);
  });

  it("registry.state(name) inspects and wipes a plugin's state, loaded, unloaded, or from an earlier host", async () => {
    const s = store();
    const r = host(s);
    await r.load(plugin("state-counter"));
    await call(r, "state-counter", "count");
    await call(r, "state-counter", "set", "name=ada");
    const h = r.state("state-counter");
    expect(h.usage()).toEqual({ bytes: "count".length + 1 + "name".length + 3, keys: 2, backend: s.state ? "redis" : "sqlite", snapshotBytes: 0 });
    expect(h.keys()).toEqual(["count", "name"]);
    expect(h.keys({ limit: 1 })).toEqual(["count"]);
    expect(h.page(undefined, 1)).toEqual({ keys: ["count"], cursor: "count" });
    expect(h.keys({ after: "count" })).toEqual(["name"]);
    expect(h.entries().map(([k, v]) => [k, dec(v)])).toEqual([["count", "1"], ["name", "ada"]]);
    expect(h.get("missing")).toBeUndefined();
    expect(() => h.get("")).toThrow(/state key "" is not 1 to 256 bytes/);

    await r.unload("state-counter");
    expect(dec(h.snapshot()!)).toBe("1");
    await r.close(); // SQLite: the host holds its state.db while it runs (locking "exclusive")
    const later = host(s);
    expect(later.has("state-counter")).toBe(false); // never loaded here
    expect(later.state("state-counter").keys()).toEqual(["count", "name"]);
    later.state("state-counter").wipe();
    expect(later.state("state-counter").usage()).toMatchObject({ bytes: 0, keys: 0, snapshotBytes: 0 });
    await later.load(plugin("state-counter"));
    expect(await call(later, "state-counter", "count")).toBe("1");
    expect(await call(later, "state-counter", "mem")).toBe("1"); // no snapshot left to restore
  });

  it("reports the state's usage in the metrics", async () => {
    const r = host(store());
    await r.load(plugin("state-counter"));
    await call(r, "state-counter", "count");
    await r.restart("state-counter");
    const text = await r.metricsText();
    expect(text).toMatch(/plughost_plugin_state_bytes\{plugin="state-counter"\} 6/);
    expect(text).toMatch(/plughost_plugin_state_keys\{plugin="state-counter"\} 1/);
    expect(text).toMatch(/plughost_plugin_handoff_total\{plugin="state-counter",op="snapshot",result="ok"\} 1/);
    expect(text).toMatch(/plughost_plugin_handoff_total\{plugin="state-counter",op="restore",result="ok"\} 1/);
  });
});

describe("the state backend on a host", () => {
  it("is opened only when registry.state() is used or a plugin with state first needs it, not by loading one", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "plughost-state-"));
    const r = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir, grants: ["clock"] });
    open.push(r);
    await r.load(copyPlugin("test/fixtures/c/lifecycle"));
    expect(existsSync(path.join(dataDir, "state.db"))).toBe(false);
    expect(r.state("anyone").keys()).toEqual([]);
    expect(existsSync(path.join(dataDir, "state.db"))).toBe(true);

    // A plugin holding state (with a restore export) loads on a fresh dataDir without a database: none holds a snapshot.
    const fresh = mkdtempSync(path.join(tmpdir(), "plughost-state-"));
    const s = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir: fresh, grants: GRANTS });
    open.push(s);
    await s.load(plugin("state-counter"));
    expect(existsSync(path.join(fresh, "state.db"))).toBe(false);
    expect(await s.hook("state-counter", "count").then((o) => o.ok && dec(o.data))).toBe("1"); // its first state call opens it
    expect(existsSync(path.join(fresh, "state.db"))).toBe(true);
  });

  it("a hand-off on a fresh dataDir opens nothing for an empty snapshot, nor to find no snapshot; one with data opens it", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "plughost-state-"));
    let opened = 0;
    const state = new HostState(dataDir, {}, silentLogger(), (o) => (opened++, openHostStateBackend(o)));
    let restored: Uint8Array | undefined;
    let snapshot = new Uint8Array();
    const instance = {
      snapshot: async () => snapshot,
      restore: async (data: Uint8Array) => ((restored = data), 0),
    } as unknown as EngineInstance;
    const serial = (run: () => Promise<Uint8Array>) => run();
    state.prepare("p");
    await state.restore("p", instance, silentLogger());
    expect(await state.save("p", instance, serial, silentLogger(), "the unload", 1024)).toBe(true); // empty: nothing to remove
    expect(opened).toBe(0);
    expect(existsSync(path.join(dataDir, "state.db"))).toBe(false);
    state.close(); // opens nothing to close
    expect(opened).toBe(0);

    const next = new HostState(dataDir, {}, silentLogger(), (o) => (opened++, openHostStateBackend(o)));
    snapshot = enc("7");
    expect(await next.save("p", instance, serial, silentLogger(), "the unload", 1024)).toBe(true);
    expect(opened).toBe(1);
    next.close();
    // A later host finds the file and reads the snapshot; an empty one then removes it.
    const later = new HostState(dataDir, {}, silentLogger(), (o) => (opened++, openHostStateBackend(o)));
    await later.restore("p", instance, silentLogger());
    expect(opened).toBe(2);
    expect(dec(restored!)).toBe("7");
    snapshot = new Uint8Array();
    expect(await later.save("p", instance, serial, silentLogger(), "the unload", 1024)).toBe(true);
    expect(later.handle("p").snapshot()).toBeUndefined();
    expect(later.handoffStats("p")).toEqual({ snapshots: 1, restores: 1, snapshotFailures: 0, restoreFailures: 0 });
    later.close();
  });

  it("a host holds its state.db while it runs (locking exclusive): a second host on the dataDir is refused until it closes; locking shared lets both in", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "plughost-state-"));
    const first = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir, grants: GRANTS });
    open.push(first);
    await first.load(plugin("state-counter"));
    expect(dec(((await first.hook("state-counter", "count")) as { data: Uint8Array }).data)).toBe("1");
    const second = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir, grants: GRANTS });
    open.push(second);
    expect(() => second.state("state-counter").keys()).toThrow(StateUnavailable);
    expect(() => second.state("state-counter").keys()).toThrow(/locked/);
    await first.close();
    const third = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir, grants: GRANTS });
    open.push(third);
    expect(dec(third.state("state-counter").get("count")!)).toBe("1");

    const sharedDir = mkdtempSync(path.join(tmpdir(), "plughost-state-"));
    const a = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir: sharedDir, state: { locking: "shared" }, grants: GRANTS });
    const b = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir: sharedDir, state: { locking: "shared" }, grants: GRANTS });
    open.push(a, b);
    await a.load(plugin("state-counter"));
    await a.hook("state-counter", "count");
    expect(dec(b.state("state-counter").get("count")!)).toBe("1");
  });

  it("a backend that cannot be opened is `unavailable` to the guest and StateUnavailable to the host; the plugin loads and runs", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "plughost-state-")), "not-a-dir");
    writeFileSync(file, "");
    const r = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir: file, grants: GRANTS });
    open.push(r);
    await r.load(plugin("state-counter"));
    const out = await r.hook("state-counter", "count");
    expect(out.ok && dec(out.data)).toBe(err("unavailable"));
    expect(() => r.state("state-counter").keys()).toThrow(StateUnavailable);
    expect(() => r.state("state-counter").keys()).toThrow(/the state backend could not be opened: the SQLite file in .*not-a-dir \(dataDir\)/);
    await r.restart("state-counter"); // the hand-off fails quietly: logged and counted, never fatal
    expect(r.info("state-counter").state).toBe("active");
  });

  it("no plugin may be granted a directory containing dataDir, nor the state database", async () => {
    const base = mkdtempSync(path.join(tmpdir(), "plughost-state-"));
    const dataDir = path.join(base, "data");
    for (const grant of [`fs:read:${base}`, `fs:write:${dataDir}`, `fs:read:${path.join(dataDir, "state.db")}`]) {
      const dir = copyPlugin(FIXTURE, (t) => t.replace('capabilities = ["state", ', `capabilities = ["${grant}", "state", `));
      const r = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir, grants: [...GRANTS, grant] });
      open.push(r);
      const e = await r.load(dir).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(CapabilityDenied);
      expect((e as Error).message).toMatch(/the host's data directory|the state database/);
    }
    // Inside it (the context key plugin.data-dir) is the host's to grant.
    const inside = path.join(dataDir, "plugins", "state-counter");
    const dir = copyPlugin(FIXTURE, (t) => t.replace('capabilities = ["state", ', `capabilities = ["fs:write:${inside}", "state", `));
    const r = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir, grants: [...GRANTS, `fs:write:${inside}`] });
    open.push(r);
    await expect(r.load(dir)).resolves.toBeDefined();
  });
});

describe("the host config's state settings", () => {
  it("takes dataDir (relative to the file), state and the state limits, and refuses what it cannot use", () => {
    const c = validateHostConfig(
      { dataDir: "./data", state: { backend: "redis", url: "redis://127.0.0.1:6379/0", snapshotEveryMs: 500 }, maxLimits: { stateBytes: "1MiB", stateKeys: 5 } },
      "/srv/app/plughost.config.json",
    );
    expect(registryOptionsFrom(c)).toMatchObject({
      dataDir: "/srv/app/data",
      state: { backend: "redis", url: "redis://127.0.0.1:6379/0", snapshotEveryMs: 500 },
      maxLimits: { stateBytes: 1024 * 1024, stateKeys: 5 },
    });
    const refused = (obj: object) => {
      try {
        validateHostConfig(obj, "t");
      } catch (e) {
        expect(e).toBeInstanceOf(HostConfigError);
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(refused({ state: { backend: "redis" } })).toMatch(/\/state\/url: is required but missing/);
    expect(refused({ state: { backend: "mysql" } })).toMatch(/\/state\/backend: must be one of "sqlite", "redis"/);
    expect(refused({ state: { backend: "redis", url: "http://x" } })).toMatch(/\/state\/url: must be a Redis URL/);
    expect(refused({ defaultLimits: { stateKeys: 0 } })).toMatch(/\/defaultLimits\/stateKeys/);
  });
});
