// Tracing (src/observability/tracing.ts) with the OpenTelemetry SDK's in-memory exporter, on real C plugins:
// test/fixtures/c/trace-relay (its `transform` hook logs, emits its input as `relay` and passes it on),
// examples/c/transform (a `transform` hook that uppercases) and copies of test/fixtures/c/probe (`ok` answers 42,
// `trap` traps, `emit` emits `ping`, `register <name>` binds <name> to the 42 answer).
import { rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  ParentBasedSampler,
  SamplingDecision,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { PluginRegistry, PluginTrap, type RegistryOptions } from "../src/index.js";
import {
  enableTracing,
  extractTraceContext,
  parseTraceparent,
  TRACE_ATTRIBUTES as A,
  traceContextOf,
  traceparentOf,
  type Tracing,
} from "../src/observability/tracing.js";
import { copyPlugin, dec, enc, pluginDir, silentLogger } from "./helpers/plugins.js";
import { until } from "./native-helpers.js";

const RELAY = "test/fixtures/c/trace-relay";
const TRANSFORM = "examples/c/transform";
const PROBE = "test/fixtures/c/probe";

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer("plughost-test");

let registry: PluginRegistry | undefined;
let tracing: Tracing | undefined;
const dirs: string[] = [];

beforeEach(() => exporter.reset());
afterEach(async () => {
  tracing?.disable();
  tracing = undefined;
  await registry?.unloadAll().catch(() => undefined);
  registry = undefined;
});
afterAll(async () => {
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  await provider.shutdown();
});

function newRegistry(options: RegistryOptions = {}): PluginRegistry {
  registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, ...options });
  return registry;
}

/** A copy of the probe under another name. */
function probeNamed(name: string): string {
  const dir = copyPlugin(PROBE, (t) => t.replace('name = "probe"', `name = "${name}"`));
  dirs.push(dir);
  return dir;
}

const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
function span(name: string): ReadableSpan {
  const found = spans().filter((s) => s.name === name);
  expect(found.map((s) => s.name), `one span named "${name}" among ${spans().map((s) => s.name).join(", ")}`).toEqual([name]);
  return found[0]!;
}
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const idOf = (s: ReadableSpan) => s.spanContext().spanId;
const traceOf = (s: ReadableSpan) => s.spanContext().traceId;

/** trace-relay (priority 200) and transform-c (100) hook `transform`; `sink`, a probe, answers `relay` with 42. */
async function relayChain(reg: PluginRegistry): Promise<void> {
  await reg.load(pluginDir(RELAY));
  await reg.load(pluginDir(TRANSFORM));
  await reg.load(probeNamed("sink"));
  expect(await reg.invoke("sink", "register", enc("relay\0"))).toBe(0);
  expect(reg.subscribers("transform")).toEqual(["trace-relay", "transform-c"]);
}

const MODES: { name: string; options: RegistryOptions }[] = [
  { name: "v8 in-process", options: { engine: "v8", isolation: "in-process" } },
  { name: "v8 worker", options: { engine: "v8", isolation: "worker" } },
  { name: "wasmtime", options: { engine: "wasmtime" } },
];

describe.each(MODES)("spans of a hook chain and the message it sends ($name)", ({ options }) => {
  it("a two-hook chain plus a message to a third plugin: chain → hooks, the message under the hook that emitted it, all in the caller's trace", async () => {
    const reg = newRegistry(options);
    await relayChain(reg);
    tracing = enableTracing(reg, { tracer });

    const request = tracer.startSpan("POST /plugins/x/echo");
    const result = await reg.runHook("transform", enc("make me loud"), { hostContext: trace.setSpan(ROOT_CONTEXT, request) });
    expect(result.ok && dec(result.data)).toBe("MAKE ME LOUD");
    await until(() => spans().some((s) => s.name === "message sink:relay"), 5000);
    request.end();

    const chain = span("runHook transform");
    const relay = span("hook trace-relay:transform");
    const upper = span("hook transform-c:transform");
    const delivery = span("message sink:relay");
    expect(parentOf(chain)).toBe(request.spanContext().spanId);
    expect(parentOf(relay)).toBe(idOf(chain));
    expect(parentOf(upper)).toBe(idOf(chain));
    expect(parentOf(delivery)).toBe(idOf(relay)); // linked to the emitting call, not to the chain or the caller
    for (const s of [chain, relay, upper, delivery]) expect(traceOf(s)).toBe(request.spanContext().traceId);
    expect(spans()).toHaveLength(5); // the four, and the request

    // Hooks in chain order (call ids increase as calls begin); the message is delivered after its emitting call began.
    // (The SDK's span clocks start from Date.now(), so their times order spans only to the millisecond.)
    const id = (s: ReadableSpan) => s.attributes[A.callId] as number;
    expect(id(relay)).toBeLessThan(id(upper));
    expect(id(relay)).toBeLessThan(id(delivery));
    expect(delivery.kind).toBe(SpanKind.CONSUMER);
    expect(delivery.attributes[A.parentCallId]).toBe(relay.attributes[A.callId]);

    // The relay's host calls are events on its span: the log line and the emit that reached one plugin (wasmtime
    // buffers a call's log lines and hands them to the host as the call returns, so there the log comes second).
    expect(relay.events.map((e) => e.name).sort()).toEqual(["emit", "log"]);
    expect(relay.events.find((e) => e.name === "emit")!.attributes).toMatchObject({ [A.kind]: "host-call", [A.targets]: 1 });
  });
});

describe.each(MODES)("spans of a request between plugins ($name)", ({ options }) => {
  it("the answering hook's span is the asking call's child, in the caller's trace", async () => {
    const reg = newRegistry(options);
    await reg.load(pluginDir("test/fixtures/c/request-caller"));
    await reg.load(pluginDir("test/fixtures/c/request-responder"));
    tracing = enableTracing(reg, { tracer });

    const root = tracer.startSpan("POST /ask");
    const out = await reg.hook("request-caller", "ask", enc("request-responder\nreverse\n0\nabc"), { hostContext: trace.setSpan(ROOT_CONTEXT, root) });
    root.end();
    expect(out.ok && dec(out.data)).toBe("cba");

    const asking = span("hook request-caller:ask");
    const answering = span("hook request-responder:reverse");
    expect(parentOf(asking)).toBe(root.spanContext().spanId);
    expect(parentOf(answering)).toBe(idOf(asking)); // linked to the call that asked
    for (const s of [asking, answering]) expect(traceOf(s)).toBe(root.spanContext().traceId);
    expect(answering.attributes[A.parentCallId]).toBe(asking.attributes[A.callId]);
    expect(answering.attributes[A.plugin]).toBe("request-responder");
  });
});

describe("spans of dispatches and host calls", () => {

  it("a dispatch has a span whose children are its steps; the message a step emits is that step's child", async () => {
    const reg = newRegistry();
    await reg.load(probeNamed("caller"));
    await reg.load(probeNamed("pinged"));
    expect(await reg.invoke("pinged", "register", enc("ping\0"))).toBe(0);
    tracing = enableTracing(reg, { tracer });
    const results = await reg.dispatch("emit", enc("x"));
    // Each probe emits `ping`, which only `pinged` registered: caller's emit reaches it, pinged's own reaches nobody.
    expect(results).toEqual([
      { plugin: "caller", status: 1 },
      { plugin: "pinged", status: 0 },
    ]);
    await until(() => spans().filter((s) => s.name.startsWith("message ")).length === 1, 5000);
    const dispatch = span("dispatch emit");
    expect(dispatch.attributes).toMatchObject({ [A.kind]: "dispatch", [A.event]: "emit", [A.steps]: 2, [A.failures]: 0 });
    const steps = [span("dispatch caller:emit"), span("dispatch pinged:emit")];
    for (const s of steps) expect(parentOf(s)).toBe(idOf(dispatch));
    expect(parentOf(span("message pinged:ping"))).toBe(idOf(steps[0]!));
    expect(parentOf(dispatch)).toBeUndefined(); // no caller context, no active span: a new trace
  });

  it("host calls as child spans when asked (hostCalls: 'spans')", async () => {
    const reg = newRegistry();
    await relayChain(reg);
    tracing = enableTracing(reg, { tracer, hostCalls: "spans" });
    await reg.hook("trace-relay", "transform", enc("abc"));
    await until(() => spans().some((s) => s.name === "message sink:relay"), 5000);
    const hook = span("hook trace-relay:transform");
    expect(hook.events).toEqual([]);
    const log = span("host-call trace-relay:log");
    const emit = span("host-call trace-relay:emit");
    expect([parentOf(log), parentOf(emit)]).toEqual([idOf(hook), idOf(hook)]);
    expect(emit.attributes).toMatchObject({ [A.kind]: "host-call", [A.targets]: 1 });
    expect(parentOf(span("message sink:relay"))).toBe(idOf(hook));
  });
});

describe("attributes and status", () => {
  it("plugin, event, kind, call id, status, outcome and fuel; a hook's ok and err; the chain's outcome", async () => {
    const reg = newRegistry();
    await relayChain(reg);
    tracing = enableTracing(reg, { tracer });
    expect(await reg.invoke("sink", "ok")).toBe(42);
    const fuelOfOk = reg.metrics("sink").lastCallFuel;
    expect(await reg.invoke("sink", "len", enc("abcd"))).toBe(4);
    const ok = span("invoke sink:ok");
    expect(ok.attributes).toMatchObject({ [A.plugin]: "sink", [A.event]: "ok", [A.kind]: "invoke", [A.status]: 42, [A.outcome]: "status" });
    expect(ok.attributes[A.callId]).toEqual(expect.any(Number));
    expect(span("invoke sink:len").attributes[A.callId]).toBeGreaterThan(ok.attributes[A.callId] as number);
    // Metered by the default limits: the fuel is the plugin's own figure for that call.
    expect(fuelOfOk).toBeGreaterThan(0);
    expect(ok.attributes[A.fuel]).toBe(fuelOfOk);
    expect(ok.status.code).toBe(SpanStatusCode.UNSET);

    const hooked = await reg.hook("transform-c", "transform", enc("x"));
    expect(hooked.ok).toBe(true);
    expect(span("hook transform-c:transform").attributes).toMatchObject({ [A.kind]: "hook", [A.outcome]: "ok" });

    // A hook answering err(42) stops the chain: the hook is "rejected", so is the chain, which names it.
    await reg.load(copyPluginNamed(PROBE, "gate", '\n[[hooks]]\nevent = "transform"\npriority = 300\n'));
    expect(await reg.invoke("gate", "register", enc("transform\0"))).toBe(0);
    exporter.reset();
    const chain = await reg.runHook("transform", enc("abc"));
    expect(chain).toMatchObject({ ok: false, status: 42, stoppedBy: "gate" });
    expect(span("hook gate:transform").attributes).toMatchObject({ [A.outcome]: "rejected", [A.status]: 42 });
    expect(span("runHook transform").attributes).toMatchObject({ [A.outcome]: "rejected", [A.status]: 42, [A.stoppedBy]: "gate", [A.failures]: 0 });
    expect(spans().map((s) => s.name).sort()).toEqual(["hook gate:transform", "runHook transform"]); // the chain stopped there
  });

  it("a trapping call's span has error status, the error code and the exception; the chain counts the failure", async () => {
    const reg = newRegistry();
    await reg.load(probeNamed("victim"));
    tracing = enableTracing(reg, { tracer });
    const err = await reg.invoke("victim", "trap").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginTrap);
    const s = span("invoke victim:trap");
    expect(s.status).toMatchObject({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    expect(s.attributes).toMatchObject({ [A.outcome]: "error", [A.errorCode]: "E_TRAP", "error.type": "E_TRAP" });
    expect(s.events.map((e) => e.name)).toContain("exception");
    expect(s.events.find((e) => e.name === "exception")!.attributes).toMatchObject({ "exception.type": "E_TRAP" });

    // The same trap inside a dispatch: the step fails, the dispatch's span counts it and is not itself an error.
    await until(() => reg.info("victim").state === "active", 5000);
    exporter.reset();
    const results = await reg.dispatch("trap");
    expect(results[0]!.error).toBeInstanceOf(PluginTrap);
    expect(span("dispatch victim:trap").attributes).toMatchObject({ [A.errorCode]: "E_TRAP" });
    expect(span("dispatch trap").attributes).toMatchObject({ [A.steps]: 1, [A.failures]: 1 });
    expect(span("dispatch trap").status.code).toBe(SpanStatusCode.UNSET);
  });
});

describe("trace context propagation", () => {
  const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
  const PARENT_ID = "00f067aa0ba902b7";
  const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;

  it("a traceparent passed as the hostContext makes the trace id match, through the chain and the message", async () => {
    const reg = newRegistry();
    await relayChain(reg);
    tracing = enableTracing(reg, { tracer });
    await reg.runHook("transform", enc("abc"), { hostContext: TRACEPARENT });
    await until(() => spans().some((s) => s.name === "message sink:relay"), 5000);
    const chain = span("runHook transform");
    expect(parentOf(chain)).toBe(PARENT_ID);
    expect(chain.parentSpanContext?.isRemote).toBe(true);
    for (const s of spans()) expect(traceOf(s)).toBe(TRACE_ID);
    expect(spans()).toHaveLength(4);
  });

  it("an HTTP request's traceparent reaches the chain, its hooks and the message, through a real server", async () => {
    const reg = newRegistry();
    await relayChain(reg);
    tracing = enableTracing(reg, { tracer });
    // The request's headers as `plughost serve` passes them ({ http: { traceparent, tracestate } }), and as headers.
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const hostContext = req.url === "/nested" ? { http: { traceparent: req.headers.traceparent, tracestate: req.headers.tracestate } } : { headers: req.headers };
        reg.runHook("transform", Buffer.concat(chunks), { hostContext }).then(
          (r) => res.end(r.data),
          (err: unknown) => res.writeHead(500).end(String(err)),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    try {
      for (const [path, traceId] of [["/nested", TRACE_ID], ["/headers", "0af7651916cd43dd8448eb211c80319c"]] as const) {
        exporter.reset();
        const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", body: "hello", headers: { traceparent: `00-${traceId}-${PARENT_ID}-01`, tracestate: "vendor=x" } });
        expect(await res.text()).toBe("HELLO");
        await until(() => spans().some((s) => s.name === "message sink:relay"), 5000);
        const chain = span("runHook transform");
        expect(parentOf(chain)).toBe(PARENT_ID);
        expect(chain.spanContext().traceState?.get("vendor")).toBe("x");
        expect(parentOf(span("hook trace-relay:transform"))).toBe(idOf(chain));
        expect(parentOf(span("hook transform-c:transform"))).toBe(idOf(chain));
        expect(parentOf(span("message sink:relay"))).toBe(idOf(span("hook trace-relay:transform")));
        expect(spans().map(traceOf)).toEqual(Array(4).fill(traceId));
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("HTTP headers: extractTraceContext reads traceparent/tracestate; an object carrying them works as a hostContext", async () => {
    const reg = newRegistry();
    await reg.load(probeNamed("svc"));
    tracing = enableTracing(reg, { tracer });
    const headers = { traceparent: TRACEPARENT, tracestate: ["a=1", "b=2"], "content-type": "text/plain" };
    const ctx = extractTraceContext(headers);
    expect(trace.getSpanContext(ctx)).toMatchObject({ traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: 1, isRemote: true });
    expect(trace.getSpanContext(ctx)!.traceState!.serialize()).toBe("a=1,b=2");
    expect(traceparentOf(ctx)).toBe(TRACEPARENT);

    await reg.invoke("svc", "ok", undefined, { hostContext: { traceContext: ctx, requestId: "r1" } });
    await reg.invoke("svc", "len", undefined, { hostContext: { headers } });
    await reg.invoke("svc", "count", undefined, { hostContext: { headers: new Headers({ Traceparent: TRACEPARENT }) } });
    for (const name of ["invoke svc:ok", "invoke svc:len", "invoke svc:count"]) {
      expect(traceOf(span(name))).toBe(TRACE_ID);
      expect(parentOf(span(name))).toBe(PARENT_ID);
    }
  });

  it("a missing or malformed traceparent starts a new trace; extractTraceContext then returns the base context", async () => {
    expect(extractTraceContext({})).toBe(ROOT_CONTEXT);
    for (const bad of [
      `ff-${TRACE_ID}-${PARENT_ID}-01`, // version ff is invalid
      `00-${"0".repeat(32)}-${PARENT_ID}-01`, // all-zero trace id
      `00-${TRACE_ID}-${"0".repeat(16)}-01`, // all-zero parent id
      `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`, // upper-case hex
      `00-${TRACE_ID}-${PARENT_ID}-01-extra`, // version 00 has nothing after the flags
      "not a traceparent",
    ]) {
      expect(parseTraceparent(bad), bad).toBeUndefined();
      const base = ROOT_CONTEXT.setValue(Symbol("mine"), 1);
      expect(extractTraceContext({ traceparent: bad }, base)).toBe(base);
    }
    // A later version may carry more fields (W3C: parse what version 00 defines).
    expect(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-00-more`)).toMatchObject({ traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: 0 });
    expect(traceContextOf(42)).toBeUndefined();
    expect(traceContextOf({ requestId: "r1" })).toBeUndefined();

    const reg = newRegistry();
    await reg.load(probeNamed("svc"));
    tracing = enableTracing(reg, { tracer });
    await reg.invoke("svc", "ok", undefined, { hostContext: `ff-${TRACE_ID}-${PARENT_ID}-01` });
    const s = span("invoke svc:ok");
    expect(traceOf(s)).not.toBe(TRACE_ID);
    expect(parentOf(s)).toBeUndefined();
  });

  it("a contextOf option reads an application's own hostContext shape", async () => {
    const reg = newRegistry();
    await reg.load(probeNamed("svc"));
    const parent = tracer.startSpan("job");
    const jobs = new Map<string, Context>([["job-7", trace.setSpan(ROOT_CONTEXT, parent)]]);
    tracing = enableTracing(reg, { tracer, contextOf: (h) => jobs.get((h as { job: string }).job) });
    await reg.invoke("svc", "ok", undefined, { hostContext: { job: "job-7" } });
    parent.end();
    expect(parentOf(span("invoke svc:ok"))).toBe(parent.spanContext().spanId);
  });
});

describe("sampling and sync calls", () => {
  it("a root the sampler drops takes its descendants with it: no hook or message span starts a trace of its own", async () => {
    const dropped = new InMemorySpanExporter();
    // Roots are sampled unless they are hook chains; children follow their parent (the SDK's usual parent-based rule).
    const sampler = new ParentBasedSampler({
      root: {
        shouldSample: (_c: Context, _t: string, name: string) => ({ decision: name.startsWith("runHook ") ? SamplingDecision.NOT_RECORD : SamplingDecision.RECORD_AND_SAMPLED }),
        toString: () => "all but hook chains",
      },
    });
    const sampled = new BasicTracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor(dropped)] });
    const reg = newRegistry();
    await relayChain(reg);
    tracing = enableTracing(reg, { tracer: sampled.getTracer("sampled") });
    await reg.runHook("transform", enc("abc"));
    await until(() => reg.metrics("sink").messagesReceived === 1, 5000);
    await new Promise((r) => setTimeout(r, 20)); // the delivery's call ends
    expect(dropped.getFinishedSpans().map((s) => s.name)).toEqual([]);
    await reg.invoke("sink", "ok"); // a root that is not a chain is recorded
    expect(dropped.getFinishedSpans().map((s) => s.name)).toEqual(["invoke sink:ok"]);
    await sampled.shutdown();
  });

  it("a sync call's span ends when the call returns, not when the caller's synchronous code yields", async () => {
    const reg = newRegistry();
    const sink = await reg.load(probeNamed("sink"));
    tracing = enableTracing(reg, { tracer });
    const t0 = performance.now();
    expect(sink.invokeSync("ok")).toBe(42);
    const returned = performance.now() - t0;
    while (performance.now() - t0 < returned + 60); // the caller stays busy: the outcome's microtask waits
    await null;
    await null;
    const s = span("invoke sink:ok");
    const ms = s.duration[0] * 1e3 + s.duration[1] / 1e6;
    expect(ms).toBeLessThan(returned + 30);

    // Two sync calls in a row: each span has its own call's fuel, not the figure the second call left.
    exporter.reset();
    sink.invokeSync("log"); // a host call: more fuel than `ok`
    const logFuel = reg.metrics("sink").lastCallFuel;
    sink.invokeSync("ok");
    const okFuel = reg.metrics("sink").lastCallFuel;
    await null;
    expect(logFuel).not.toBe(okFuel);
    expect(span("invoke sink:log").attributes[A.fuel]).toBe(logFuel);
    expect(span("invoke sink:ok").attributes[A.fuel]).toBe(okFuel);
  });
});

describe("switching tracing on and off", () => {
  it("without tracing, or after disable(), no spans are made; sync calls are traced while it is on", async () => {
    const reg = newRegistry();
    await relayChain(reg);
    const calls = async () => {
      await reg.invoke("sink", "ok");
      await reg.runHook("transform", enc("abc"));
      await reg.dispatch("relay", enc("x"));
      reg.get("sink").invokeSync("ok");
      await new Promise((r) => setTimeout(r, 50)); // the relay's message is delivered
    };
    await calls();
    expect(spans()).toEqual([]);

    tracing = enableTracing(reg, { tracer });
    await calls();
    const names = spans().map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(["invoke sink:ok", "runHook transform", "dispatch relay", "message sink:relay"]));
    expect(names.filter((n) => n === "invoke sink:ok")).toHaveLength(2); // invoke and invokeSync

    tracing.disable();
    tracing.disable(); // idempotent
    exporter.reset();
    await calls();
    expect(spans()).toEqual([]);
    expect(reg._chains).toBeUndefined();
  });

  it("with the global tracer and no SDK registered it adds nothing; a global provider registered later starts it", async () => {
    const reg = newRegistry();
    const sink = await reg.load(probeNamed("sink"));
    tracing = enableTracing(reg);
    try {
      expect(tracing.active).toBe(false);
      expect(reg._intercepted).toBe(false); // the sync calls and the dispatch fast path are untouched
      expect(reg._chains).toBeUndefined();
      expect(sink.invokeSync("ok")).toBe(42);
      expect(trace.setGlobalTracerProvider(provider)).toBe(true);
      await until(() => tracing!.active, 3000);
      expect(reg._intercepted).toBe(true);
      await reg.invoke("sink", "ok", undefined, { hostContext: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
      expect(traceOf(span("invoke sink:ok"))).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    } finally {
      trace.disable();
    }
    tracing.disable();
    expect(tracing.active).toBe(false);
    expect(reg._intercepted).toBe(false);
  });

  it("two tracings on one registry each make their own spans; disabling one leaves the other", async () => {
    const reg = newRegistry();
    await relayChain(reg);
    const other = new InMemorySpanExporter();
    const otherProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(other)] });
    tracing = enableTracing(reg, { tracer });
    const second = enableTracing(reg, { tracer: otherProvider.getTracer("second") });
    await reg.runHook("transform", enc("abc"));
    const shape = (list: ReadableSpan[]) => {
      const chain = list.find((s) => s.name === "runHook transform")!;
      return list.filter((s) => s.name.startsWith("hook ")).map((s) => parentOf(s) === idOf(chain));
    };
    expect(shape(spans())).toEqual([true, true]);
    expect(shape(other.getFinishedSpans())).toEqual([true, true]);
    second.disable();
    other.reset();
    await reg.invoke("sink", "ok");
    expect(other.getFinishedSpans()).toEqual([]);
    expect(spans().map((s) => s.name)).toContain("invoke sink:ok");
    await otherProvider.shutdown();
  });
});

describe("the wasmtime engine", () => {
  it("a span per call, with fuel, status and a trap's error code", async () => {
    const reg = newRegistry({ engine: "wasmtime" });
    await reg.load(probeNamed("wt"));
    tracing = enableTracing(reg, { tracer });
    expect(await reg.invoke("wt", "ok", undefined, { hostContext: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })).toBe(42);
    const ok = span("invoke wt:ok");
    expect(ok.attributes).toMatchObject({ [A.plugin]: "wt", [A.kind]: "invoke", [A.status]: 42, [A.outcome]: "status" });
    expect(ok.attributes[A.fuel]).toBeGreaterThan(0);
    expect(traceOf(ok)).toBe("0af7651916cd43dd8448eb211c80319c");
    await expect(reg.invoke("wt", "trap")).rejects.toBeInstanceOf(PluginTrap);
    const trapped = span("invoke wt:trap");
    expect(trapped.status.code).toBe(SpanStatusCode.ERROR);
    expect(trapped.attributes).toMatchObject({ [A.errorCode]: "E_TRAP", [A.outcome]: "error" });
    expect(await reg.invoke("wt", "log")).toBe(0); // after the restart; its log line is an event
    expect(span("invoke wt:log").events.map((e) => e.name)).toEqual(["log"]);
  });
});

function copyPluginNamed(rel: string, name: string, extra = ""): string {
  const dir = copyPlugin(rel, (t) => t.replace(/^name = "[^"]+"/m, `name = "${name}"`) + extra);
  dirs.push(dir);
  return dir;
}
