// Recent logs and errors per plugin (docs/observability.md, "Logs and errors"): queries by level, time and text
// over what real C plugins logged, error reports of failed calls, the live feed (watchLogs) and its detaching,
// and the rings' bounds. pino still gets every line as before.
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { PluginRegistry, type LogRecord, type RegistryOptions } from "../src/index.js";
import { LogStore } from "../src/observability/log-store.js";
import { enc, pluginDir, silentLogger } from "./helpers/plugins.js";

const CONFORMANCE = "examples/c/conformance";
const PROBE = "test/fixtures/c/probe";

let registry: PluginRegistry | undefined;
// The conformance plugin asks for these (it exercises them in other events).
const grants = { "conformance-c": ["stdio", "clock", `fs:read:${path.join(pluginDir(CONFORMANCE), "testdata")}`] };
const newRegistry = (options: RegistryOptions = {}) => (registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, grants, ...options }));

afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
  registry = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const messages = (records: readonly LogRecord[]) => records.map((r) => `${r.level} ${r.message}`);

describe("log queries", () => {
  it("by level, time range and text, per plugin and across plugins", async () => {
    const r = newRegistry();
    const conf = await r.load(pluginDir(CONFORMANCE));
    await r.load(pluginDir(PROBE));
    const before = r.logs("conformance-c").length; // whatever init logged
    await conf.invoke("log", enc("first batch"));
    await sleep(5);
    const cut = Date.now();
    await sleep(5);
    await conf.invoke("log", enc("second batch"));
    await r.invoke("probe", "log");

    const mine = r.logs("conformance-c").slice(before);
    expect(messages(mine)).toEqual([
      "debug first batch",
      "info first batch",
      "warn first batch",
      "error first batch",
      "debug second batch",
      "info second batch",
      "warn second batch",
      "error second batch",
    ]);
    expect(mine.every((l) => l.plugin === "conformance-c" && l.source === "plugin" && typeof l.time === "number")).toBe(true);

    expect(messages(r.logs("conformance-c", { level: "warn", text: "batch" }))).toEqual(["warn first batch", "error first batch", "warn second batch", "error second batch"]);
    expect(messages(r.logs("conformance-c", { since: cut }))).toEqual(["debug second batch", "info second batch", "warn second batch", "error second batch"]);
    expect(messages(r.logs("conformance-c", { until: cut, text: "batch" }))).toEqual(["debug first batch", "info first batch", "warn first batch", "error first batch"]);
    expect(messages(r.logs("conformance-c", { since: new Date(cut), level: "error" }))).toEqual(["error second batch"]);
    expect(messages(r.logs("conformance-c", { text: /^sec.*batch$/, level: "info", limit: 2 }))).toEqual(["warn second batch", "error second batch"]);
    expect(r.logs("conformance-c", { text: "no such line" })).toEqual([]);
    expect(r.logs("nobody")).toEqual([]);

    // Across plugins, by time: the probe's "tick" came last.
    const all = r.logs(undefined, { since: cut });
    expect(all.map((l) => `${l.plugin} ${l.message}`).at(-1)).toBe("probe tick");
    expect(new Set(all.map((l) => l.plugin))).toEqual(new Set(["conformance-c", "probe"]));
    for (let i = 1; i < all.length; i++) expect(all[i]!.time).toBeGreaterThanOrEqual(all[i - 1]!.time);
  });

  it("pino still receives every line, as before, besides the store", async () => {
    const lines: { level: number; msg: string; plugin?: string }[] = [];
    const logger = pino({ level: "debug" }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const r = newRegistry({ logger });
    const conf = await r.load(pluginDir(CONFORMANCE));
    await conf.invoke("log", enc("to pino"));
    expect(lines.filter((l) => l.msg === "to pino").map((l) => [l.level, l.plugin])).toEqual([
      [20, "conformance-c"],
      [30, "conformance-c"],
      [40, "conformance-c"],
      [50, "conformance-c"],
    ]);
    expect(r.logs("conformance-c", { text: "to pino" })).toHaveLength(4);
  });

  it("error reports: code, message, event, call id (with a context) and time; they are error lines too", async () => {
    const r = newRegistry({ recovery: { strategy: "restart", baseDelayMs: 0 } });
    await r.load(pluginDir(PROBE));
    const t0 = Date.now();
    const back = new Promise<void>((resolve) => r.once("restarted", () => resolve()));
    await expect(r.invoke("probe", "trap")).rejects.toMatchObject({ code: "E_TRAP" });
    await back;
    // With an interceptor the call has a context, and its id is in the report.
    const ids: number[] = [];
    r.use(async (ctx, next) => {
      if (ctx.kind === "invoke") ids.push(ctx.callId);
      return next();
    });
    const backAgain = new Promise<void>((resolve) => r.once("restarted", () => resolve()));
    await expect(r.invoke("probe", "trap")).rejects.toMatchObject({ code: "E_TRAP" });

    const errors = r.errors("probe");
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ plugin: "probe", code: "E_TRAP", event: "trap" });
    expect(errors[0]!.message).toMatch(/trap/);
    expect(errors[0]!.time).toBeGreaterThanOrEqual(t0);
    expect(errors[0]!.callId).toBeUndefined();
    expect(errors[1]!.callId).toBe(ids[0]);
    expect(errors[1]!.stack).toMatch(/PluginTrap/);
    expect(r.errors("probe", { text: "E_TRAP", since: errors[1]!.time })).toHaveLength(errors[0]!.time === errors[1]!.time ? 2 : 1);
    expect(r.errors("probe", { text: "E_FUEL" })).toEqual([]);
    expect(r.errors(undefined).map((e) => e.plugin)).toEqual(["probe", "probe"]);

    const hostLines = r.logs("probe", { level: "error" });
    expect(hostLines.map((l) => [l.source, l.message.startsWith("trap: E_TRAP: ")])).toEqual([
      ["host", true],
      ["host", true],
    ]);
    expect(hostLines[1]!.callId).toBe(ids[0]);

    // A sync call through the interceptors has a context too.
    await backAgain;
    await sleep(1); // the restart's promise settles after its event
    expect(() => r.get("probe").invokeSync("trap")).toThrow(expect.objectContaining({ code: "E_TRAP" }));
    expect(ids).toHaveLength(2);
    expect(r.errors("probe")[2]).toMatchObject({ code: "E_TRAP", event: "trap", callId: ids[1] });
  });

  it("lines the rate limit dropped are reported in the store as a host warning, and counted", async () => {
    const r = newRegistry({ hostCalls: { logRatePerSecond: 4 } });
    const conf = await r.load(pluginDir(CONFORMANCE));
    const before = r.metrics("conformance-c").logsDropped;
    await conf.invoke("log", enc("a")); // four lines: whatever burst init left, then dropped
    await conf.invoke("log", enc("b"));
    await sleep(400); // more than a token back
    await conf.invoke("log", enc("c"));
    const dropped = r.metrics("conformance-c").logsDropped - before;
    expect(dropped).toBeGreaterThan(0);
    const warnings = r.logs("conformance-c", { text: "log rate limit" });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: "warn", source: "host" });
    expect(warnings[0]!.message).toMatch(/^log rate limit: dropped \d+ messages$/);
    const e = await r.metricsText();
    expect(e).toContain(`plughost_plugin_logs_dropped_total{plugin="conformance-c"} ${r.metrics("conformance-c").logsDropped}`);
  });

  it("the rings are bounded: the newest lines and errors are kept", async () => {
    const r = newRegistry({ logStore: { lines: 5, errors: 3 }, recovery: { strategy: "restart", baseDelayMs: 0, maxRetries: 100 } });
    const conf = await r.load(pluginDir(CONFORMANCE));
    await r.load(pluginDir(PROBE));
    for (let i = 0; i < 10; i++) await conf.invoke("log", enc(`line ${i}`));
    expect(messages(r.logs("conformance-c"))).toEqual(["error line 8", "debug line 9", "info line 9", "warn line 9", "error line 9"]);
    for (let i = 0; i < 4; i++) {
      const back = new Promise<void>((resolve) => r.once("restarted", () => resolve()));
      await expect(r.invoke("probe", "trap")).rejects.toMatchObject({ code: "E_TRAP" });
      await back;
    }
    expect(r.errors("probe")).toHaveLength(3);
    expect(r.logs("probe")).toHaveLength(4); // each error is also a line, and the ring keeps up to 5
  });
});

describe("watchLogs", () => {
  it("delivers new lines as they are written, filtered, and leaving the loop detaches it", async () => {
    const r = newRegistry();
    const conf = await r.load(pluginDir(CONFORMANCE));
    await r.load(pluginDir(PROBE));
    await conf.invoke("log", enc("before the watch"));
    const seen: string[] = [];
    const reading = (async () => {
      for await (const line of r.watchLogs({ plugin: "conformance-c", level: "warn" })) {
        seen.push(`${line.level} ${line.message}`);
        if (line.message === "stop") break;
      }
    })();
    await r.invoke("probe", "log"); // another plugin: filtered out
    await conf.invoke("log", enc("during"));
    await conf.invoke("log", enc("stop"));
    await reading;
    expect(seen).toEqual(["warn during", "error during", "warn stop"]);
  });

  it("return() ends a reader waiting in next() and detaches from the store", async () => {
    const store = new LogStore();
    const watch = store.watch({ text: "x" });
    expect(store.watchers).toBe(1);
    const waiting = watch.next();
    store.log({ plugin: "p", level: "info", message: "no match", time: Date.now(), source: "plugin" });
    await watch.return();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(store.watchers).toBe(0);
    store.log({ plugin: "p", level: "info", message: "x after", time: Date.now(), source: "plugin" });
    expect(await watch.next()).toEqual({ value: undefined, done: true });
  });

  it("a slow reader keeps the latest `buffer` lines and counts the dropped ones", async () => {
    const r = newRegistry({ hostCalls: { logRatePerSecond: 100_000 } });
    const conf = await r.load(pluginDir(CONFORMANCE));
    const watch = r.watchLogs({ plugin: "conformance-c", level: "error", buffer: 3 });
    for (let i = 0; i < 5; i++) await conf.invoke("log", enc(`n${i}`));
    const got: string[] = [];
    for (let i = 0; i < 3; i++) got.push((await watch.next()).value!.message);
    expect(got).toEqual(["n2", "n3", "n4"]);
    expect(watch.dropped).toBe(2);
    await watch.return();
  });
});
