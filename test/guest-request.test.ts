// Request/response between two plugins built from the Go SDK (test/fixtures/go/request-asker asks
// test/fixtures/go/request-kv with plughost.Request; the store keys by the "tenant" metadata it reads with
// plughost.CurrentMessage), through the public PluginRegistry on v8 (in process and in a worker) and wasmtime:
// answers, the envelope the answering plugin sees, refusals as codes, a cycle, and a timeout where the engine
// can wait.
import { afterEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import type { Isolation } from "../src/engines/engine.js";
import { RequestFailed } from "../src/contract/errors.js";
import { PluginRegistry, type RegistryOptions } from "../src/runtime/registry.js";
import { copyPlugin, dec, enc, pluginDir } from "./helpers/plugins.js";

const ASKER = "test/fixtures/go/request-asker";
const KV = "test/fixtures/go/request-kv";
const GRANTS = ["stdio", "clock", "random"];

/** The asker's data: `<target>\n<event>\n<timeout-ms>\n<payload>`. */
const ask = (target: string, event: string, payload = "", timeoutMs = 0) => enc(`${target}\n${event}\n${timeoutMs}\n${payload}`);
/** The Go SDK's status for a refusal: -1 - the request-error code. */
const CODE = { "invalid-name": 0, "unknown-target": 1, "not-handled": 2, denied: 3, cycle: 5, timeout: 7, rejected: 8 } as const;
const refused = (e: keyof typeof CODE) => -1 - CODE[e];

const registries: PluginRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.unloadAll().catch(() => undefined)));
});

interface Env {
  registry: PluginRegistry;
  logs: { plugin: string; level: number; msg: string }[];
}

function env(engine: "v8" | "wasmtime", isolation: Isolation | undefined, options: RegistryOptions = {}): Env {
  const logs: Env["logs"] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void logs.push(JSON.parse(line) as Env["logs"][number]) });
  const registry = new PluginRegistry({ engine, ...(isolation ? { isolation } : {}), logger, grants: GRANTS, ...options });
  registries.push(registry);
  return { registry, logs };
}

async function both(e: Env) {
  const asker = await e.registry.load(pluginDir(ASKER));
  const kv = await e.registry.load(pluginDir(KV));
  return { asker, kv };
}

async function hookOf(p: { hook: (e: string, d: Uint8Array, o?: { metadata?: Record<string, string> }) => Promise<{ ok: boolean; data?: Uint8Array; status?: number }> }, data: Uint8Array, metadata?: Record<string, string>) {
  const r = await p.hook("ask", data, metadata ? { metadata } : undefined);
  return r.ok ? { ok: dec(r.data!) } : { err: r.status };
}

const ENGINES: [string, "v8" | "wasmtime", Isolation | undefined][] = [
  ["v8 in process", "v8", "in-process"],
  ["v8 in a worker", "v8", "worker"],
  ["wasmtime", "wasmtime", undefined],
];

describe.each(ENGINES)("Go plugins asking each other (%s)", (_label, engine, isolation) => {
  it("answers from the other plugin's on-hook, keyed by the caller's metadata, which the answering plugin inherits", async () => {
    const e = env(engine, isolation);
    const { asker } = await both(e);
    expect(await hookOf(asker, ask("go-kv", "put", "colour=blue"), { tenant: "t1" })).toEqual({ ok: "ok" });
    expect(await hookOf(asker, ask("go-kv", "put", "colour=green"), { tenant: "t2" })).toEqual({ ok: "ok" });
    expect(await hookOf(asker, ask("go-kv", "get", "colour"), { tenant: "t1" })).toEqual({ ok: "blue" });
    expect(await hookOf(asker, ask("go-kv", "get", "colour"), { tenant: "t2" })).toEqual({ ok: "green" });
    // The answering plugin's view of the message: from the asker, a request, the asker's call as parent.
    expect(await hookOf(asker, ask("go-kv", "who"), { tenant: "t3" })).toEqual({ ok: "source=go-asker kind=request parent=yes tenant=t3" });
    // On-event asks too (the answer's length).
    expect(await asker.invoke("ask", ask("go-kv", "get", "colour"), { metadata: { tenant: "t2" } })).toBe(5);
    // A 200 KiB value crosses both ways intact.
    const big = "x".repeat(200 * 1024);
    expect(await hookOf(asker, ask("go-kv", "put", `big=${big}`))).toEqual({ ok: "ok" });
    expect(await hookOf(asker, ask("go-kv", "get", "big"))).toEqual({ ok: big });
  });

  it("refusals arrive as request-error codes; the target's err(status) is rejected, and no instance faults", async () => {
    const e = env(engine, isolation);
    const { asker, kv } = await both(e);
    expect(await hookOf(asker, ask("go-kv", "get", "missing"))).toEqual({ err: refused("rejected") }); // kv answered err(404)
    expect(await hookOf(asker, ask("nobody", "get", "k"))).toEqual({ err: refused("unknown-target") });
    expect(await hookOf(asker, ask("go-kv", "drop-table", "k"))).toEqual({ err: refused("not-handled") });
    expect(await hookOf(asker, ask("go-kv", "bad name!", "k"))).toEqual({ err: refused("invalid-name") });
    expect([asker.metrics.faults, kv.metrics.faults]).toEqual([0, 0]);
  });

  it("the host asks too: registry.request answers, or rejects with RequestFailed carrying the reason and status", async () => {
    const e = env(engine, isolation);
    await both(e);
    expect(dec(await e.registry.request("go-kv", "put", enc("k=v"), { metadata: { tenant: "h" } }))).toBe("ok");
    expect(dec(await e.registry.request("go-kv", "get", enc("k"), { metadata: { tenant: "h" } }))).toBe("v");
    expect(dec(await e.registry.request("go-kv", "who", enc(""), { metadata: { tenant: "h" } }))).toBe("source= kind=request parent=no tenant=h");
    const err = await e.registry.request("go-kv", "get", enc("k")).then(() => undefined, (x: unknown) => x);
    expect(err).toBeInstanceOf(RequestFailed);
    expect(err).toMatchObject({ code: "E_REQUEST_FAILED", reason: "rejected", status: 404, target: "go-kv", event: "get" });
    // The asker asking on the host's behalf: the kv's answer passes through it.
    expect(dec(await e.registry.request("go-asker", "ask", ask("go-kv", "get", "k"), { metadata: { tenant: "h" } }))).toBe("v");
  });

  it("a cycle (the asker asks kv, which asks the waiting asker back) is refused, not deadlocked", async () => {
    const e = env(engine, isolation);
    const { asker, kv } = await both(e);
    // kv's relay asks go-asker "ask" while go-asker waits for kv: cycle; kv logs the code and answers err(-1 - cycle).
    expect(await hookOf(asker, ask("go-kv", "relay", "go-kv\nget\n0\nk"))).toEqual({ err: refused("rejected") });
    const until = Date.now() + 2000;
    while (!e.logs.some((l) => l.plugin === "go-kv" && l.msg.startsWith("relay ")) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    expect(e.logs.filter((l) => l.plugin === "go-kv" && l.msg.startsWith("relay ")).map((l) => [l.level, l.msg])).toEqual([[40, `relay ${CODE.cycle}`]]);
    // Both still answer.
    expect(await hookOf(asker, ask("go-kv", "put", "a=1"))).toEqual({ ok: "ok" });
    expect([asker.metrics.faults, kv.metrics.faults, asker.state, kv.state]).toEqual([0, 0, "active", "active"]);
  });

  it("without events:publish for the event (strict events), the request is denied and recorded", async () => {
    const e = env(engine, isolation, { events: "strict", grants: [...GRANTS, "events:subscribe:*", "events:publish:get"] });
    const events = ["events:subscribe:*", "events:publish:get"];
    const asker = await e.registry.load(copyPlugin(ASKER, (t) => t.replace(/capabilities = \[(.*)\]/, (_m, c: string) => `capabilities = [${c}, ${events.map((x) => JSON.stringify(x)).join(", ")}]`)));
    await e.registry.load(copyPlugin(KV, (t) => t.replace(/capabilities = \[(.*)\]/, (_m, c: string) => `capabilities = [${c}, "events:subscribe:*"]`)));
    expect(await hookOf(asker, ask("go-kv", "put", "k=v"))).toEqual({ err: refused("denied") });
    expect(await hookOf(asker, ask("go-kv", "get", "k"))).toEqual({ err: refused("rejected") }); // allowed: kv answers 404
    expect(e.registry.violations("go-asker").map((v) => v.kind)).toEqual(["capability"]);
  });
});

// Timeouts need a caller that can wait while the target runs elsewhere: a worker, or wasmtime's call thread.
describe.each(ENGINES.filter(([, , isolation]) => isolation !== "in-process"))("a request that outlives its timeout (%s)", (_label, engine, isolation) => {
  it("fails with timeout on the caller's side; the late answer is dropped and both plugins keep answering", async () => {
    // The target spins on the clock for 600 ms: how much fuel that burns depends on the machine's speed, so the
    // default per-call fuel (1e9) is raised here; the call is bounded by its deadline instead.
    const e = env(engine, isolation, { defaultLimits: { fuel: 1e12, deadlineMs: 5000 } });
    const { asker, kv } = await both(e);
    const t0 = performance.now();
    expect(await hookOf(asker, ask("go-kv", "slow", "600", 100))).toEqual({ err: refused("timeout") });
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(90);
    expect(waited).toBeLessThan(550);
    // The caller is free at once; the target answers again after its slow call ends.
    expect(await hookOf(asker, ask("go-kv", "put", "after=1"))).toEqual({ ok: "ok" });
    expect(await hookOf(asker, ask("go-kv", "get", "after"))).toEqual({ ok: "1" });
    expect([asker.metrics.faults, kv.metrics.faults]).toEqual([0, 0]);
  });
});
