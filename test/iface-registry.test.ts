// App-defined interfaces through the registry (docs/host-interfaces.md), with real components built from source by the
// set-up against test/fixtures/wit/acme-app: rust-mirror (imports calc and kinds from the host, exports mirror),
// rust-pricing (exports quote), c-cart (imports quote from a plugin, exports checkout) and c-loop (imports checkout,
// exports quote). Each case runs on v8 (in process) and wasmtime.
//
// What the registry decides: the iface capability (declared and granted, else CapabilityDenied naming it); a provider
// (the host's provide, or [interfaces.from]'s plugin) whose version satisfies the import, else InterfaceUnavailable
// "missing" / "version"; wiring cycles refused; typed export calls routed under the call pipeline; a wired exporter
// held by its importers on unload.
import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PluginRegistry, type RegistryOptions } from "../src/index.js";
import { CapabilityDenied, InterfaceUnavailable, InterfaceValueError, PluginHasDependents } from "../src/contract/errors.js";
import type { CallContext } from "../src/runtime/calls.js";
import { copyPlugin, silentLogger } from "./helpers/plugins.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const APP_WIT = path.join(ROOT, "test/fixtures/wit/acme-app");
const FIX = "test/fixtures/iface";
const ENGINES = ["v8", "wasmtime"] as const;

const cleanup: string[] = [];
const registries: PluginRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.close().catch(() => undefined)));
  for (const d of cleanup.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fixture(name: string): string {
  const dir = path.join(ROOT, FIX, name);
  if (!existsSync(path.join(dir, "plugin.wasm"))) throw new Error(`${FIX}/${name}/plugin.wasm is not built: run node scripts/setup.mjs iface`);
  return `${FIX}/${name}`;
}

/** A copy of a fixture with its manifest edited: capabilities replaced, [interfaces.from] replaced, renamed. */
function variant(name: string, edit: { capabilities?: string[]; from?: Record<string, string>; rename?: string }): string {
  const dir = copyPlugin(fixture(name), (text) => {
    let lines = text.split("\n");
    if (edit.from) {
      const at = lines.findIndex((l) => l.trim() === "[interfaces.from]");
      if (at >= 0) {
        const end = lines.findIndex((l, i) => i > at && /^\[/.test(l));
        lines.splice(at, (end < 0 ? lines.length : end) - at);
      }
    }
    if (edit.capabilities) lines = [...lines.filter((l) => !/^capabilities\s*=/.test(l))];
    if (edit.rename) lines = lines.map((l) => (/^name\s*=/.test(l) ? `name = "${edit.rename}"` : l));
    // Top-level keys go before any table.
    const firstTable = lines.findIndex((l) => /^\[/.test(l));
    const at = firstTable < 0 ? lines.length : firstTable;
    if (edit.capabilities) lines.splice(at, 0, `capabilities = ${JSON.stringify(edit.capabilities)}`);
    const from = edit.from ? ["[interfaces.from]", ...Object.entries(edit.from).map(([k, v]) => `${JSON.stringify(k)} = ${JSON.stringify(v)}`)] : [];
    return [...lines, ...from, ""].join("\n");
  });
  cleanup.push(dir);
  return dir;
}

function registry(engine: (typeof ENGINES)[number], options: RegistryOptions = {}): PluginRegistry {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "plughost-iface-"));
  cleanup.push(dataDir);
  const r = new PluginRegistry({ logger: silentLogger(), engine, dataDir, cacheDir: false, grants: { "*": ["iface:acme:app/*", "stdio", "clock", "random"] }, ...options });
  registries.push(r);
  return r;
}

const item = (id: bigint, name: string) => ({ id, name, tags: ["t"], weight: 1.5 });

/** calc and kinds as the host provides them; `seen` collects each kinds call's function and the call it ran in. */
function provideHost(r: PluginRegistry, seen: { fn: string; call: CallContext | undefined }[] = []): void {
  r.defineInterfaces(APP_WIT);
  r.provide("acme:app/calc@1.0.0", { add: (a: number, b: number) => a + b });
  const echo =
    (fn: string) =>
    (v: unknown): unknown => {
      seen.push({ fn, call: r.currentCall() });
      return v;
    };
  r.provide("acme:app/kinds@1.0.0", {
    echoScalars: echo("echo-scalars"),
    echoString: echo("echo-string"),
    echoBytes: echo("echo-bytes"),
    echoItem: echo("echo-item"),
    echoItems: echo("echo-items"),
    echoShape: echo("echo-shape"),
    echoColor: echo("echo-color"),
    echoPerms: echo("echo-perms"),
    echoMaybe: echo("echo-maybe"),
    echoOutcome: echo("echo-outcome"),
    echoPair: echo("echo-pair"),
    manyArgs: (...args: unknown[]) => BigInt(args.length),
  });
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected the promise to reject");
}

for (const engine of ENGINES) {
  describe(`app interfaces through the registry (${engine})`, () => {
    it("a plugin importing host-provided interfaces loads, and its typed export calls them (call, callSync; both names)", async () => {
      const r = registry(engine);
      const seen: { fn: string; call: CallContext | undefined }[] = [];
      provideHost(r, seen);
      const h = await r.load(fixture("rust-mirror"));
      // add-loop: calc.add(i, 1) for i in 0..n, summed.
      expect(await h.call("acme:app/mirror", "addLoop", 10)).toBe(55n);
      expect(await h.call("acme:app/mirror@1.0.0", "add-loop", 3)).toBe(6n);
      expect(h.callSync("acme:app/mirror", "echoItem", item(7n, "seven"))).toEqual(item(7n, "seven"));
      expect(await h.call("acme:app/mirror", "echoColor", "blue-ish")).toBe("blue-ish");
      expect(await h.call("acme:app/mirror", "echoOutcome", { tag: "err", val: "nope" })).toEqual({ tag: "err", val: "nope" });
      expect(await h.call("acme:app/mirror", "touch", "héllo")).toBe(6);
      expect(seen.map((s) => s.fn)).toEqual(["echo-item", "echo-color", "echo-outcome"]);
      // Counted per plugin, interface and function.
      const stats = r.interfaceMetrics("rust-mirror");
      expect(stats.find((s) => s.fn === "add")).toMatchObject({ iface: "acme:app/calc@1.0.0", calls: 13, errors: 0 });
      expect(stats.find((s) => s.fn === "echo-item")).toMatchObject({ iface: "acme:app/kinds@1.0.0", calls: 1 });
      expect(await r.metricsText()).toMatch(/plughost_interface_calls_total\{plugin="rust-mirror",interface="acme:app\/calc@1.0.0",function="add"\} 13/);
      expect(h.metrics.calls).toBe(6);
    });

    it("implementation calls run in the calling plugin's call: interceptors see the export call and the host call; currentCall() is the guest's call", async () => {
      const r = registry(engine);
      const seen: { fn: string; call: CallContext | undefined }[] = [];
      provideHost(r, seen);
      const kinds: string[] = [];
      r.use(async (ctx, next) => {
        kinds.push(`${ctx.kind}:${ctx.event}`);
        return next();
      });
      const h = await r.load(fixture("rust-mirror"));
      kinds.length = 0;
      expect(await h.call("acme:app/mirror", "echoString", "x")).toBe("x");
      expect(kinds).toEqual(["export:acme:app/mirror@1.0.0#echo-string", "host-call:acme:app/kinds#echo-string"]);
      // As in any host call, currentCall() is the guest call that made it: here the typed export call.
      const call = seen[0]!.call!;
      expect(call).toMatchObject({ plugin: "rust-mirror", kind: "export", event: "acme:app/mirror@1.0.0#echo-string" });
      expect(call.callId).toBeTypeOf("number");
    });

    it("an interface the plugin does not hold fails the load with CapabilityDenied naming iface:<id>", async () => {
      const r = registry(engine, { grants: { "*": ["iface:acme:app/kinds"] } });
      provideHost(r);
      const declaredNotGranted = await failure(r.load(fixture("rust-mirror")));
      expect(declaredNotGranted).toBeInstanceOf(CapabilityDenied);
      expect((declaredNotGranted as CapabilityDenied).capability).toBe("iface:acme:app/calc");
      // Not declared at all: the component's import names what to declare.
      const r2 = registry(engine);
      provideHost(r2);
      const undeclared = await failure(r2.load(variant("rust-mirror", { capabilities: ["iface:acme:app/kinds"] })));
      expect(undeclared).toBeInstanceOf(CapabilityDenied);
      expect((undeclared as CapabilityDenied).capability).toBe("iface:acme:app/calc");
      expect((undeclared as Error).message).toMatch(/imports acme:app\/calc@1\.0\.0.*declare it/);
      expect((undeclared as CapabilityDenied).plugin).toBe("rust-mirror");
      expect(r2.info("rust-mirror").state).toBe("unloaded");
    });

    it("an interface nobody provides fails the load with InterfaceUnavailable missing", async () => {
      const r = registry(engine);
      r.defineInterfaces(APP_WIT);
      r.provide("acme:app/kinds@1.0.0", Object.fromEntries(["echoScalars", "echoString", "echoBytes", "echoItem", "echoItems", "echoShape", "echoColor", "echoPerms", "echoMaybe", "echoOutcome", "echoPair", "manyArgs"].map((k) => [k, (v: unknown) => v])));
      const err = await failure(r.load(fixture("rust-mirror")));
      expect(err).toBeInstanceOf(InterfaceUnavailable);
      expect(err).toMatchObject({ reason: "missing", iface: "acme:app/calc@1.0.0", plugin: "rust-mirror" });
      expect((err as Error).message).toMatch(/registry\.provide\("acme:app\/calc@1\.0\.0"/);
      // Provided afterwards: the same plugin loads.
      r.provide("acme:app/calc@1.0.0", { add: (a: number, b: number) => a + b });
      await expect(r.load(fixture("rust-mirror"))).resolves.toBeDefined();
    });

    it("a provided version that does not satisfy the import fails the load with InterfaceUnavailable version", async () => {
      const r = registry(engine);
      const wit = readFileSync(path.join(APP_WIT, "app.wit"), "utf8");
      r.defineInterfaces(wit.replace("package acme:app@1.0.0;", "package acme:app@2.0.0;"));
      r.provide("acme:app/calc@2.0.0", { add: (a: number, b: number) => a + b });
      r.provide("acme:app/kinds@2.0.0", Object.fromEntries(["echoScalars", "echoString", "echoBytes", "echoItem", "echoItems", "echoShape", "echoColor", "echoPerms", "echoMaybe", "echoOutcome", "echoPair", "manyArgs"].map((k) => [k, (v: unknown) => v])));
      const err = await failure(r.load(fixture("rust-mirror")));
      expect(err).toMatchObject({ reason: "version", iface: "acme:app/calc@1.0.0" });
      expect((err as Error).message).toMatch(/acme:app\/calc@2\.0\.0, which does not satisfy it/);
      // A newer minor satisfies a 1.0.0 import (mirror@1.0.0's types come from the 1.0.0 package).
      const r2 = registry(engine);
      r2.defineInterfaces(APP_WIT);
      r2.defineInterfaces(wit.replace("package acme:app@1.0.0;", "package acme:app@1.3.0;"));
      r2.provide("acme:app/calc@1.3.0", { add: (a: number, b: number) => a + b });
      r2.provide("acme:app/kinds@1.3.0", Object.fromEntries(["echoScalars", "echoString", "echoBytes", "echoItem", "echoItems", "echoShape", "echoColor", "echoPerms", "echoMaybe", "echoOutcome", "echoPair", "manyArgs"].map((k) => [k, (v: unknown) => v])));
      const h = await r2.load(fixture("rust-mirror"));
      expect(await h.call("acme:app/mirror", "addLoop", 4)).toBe(10n);
    });

    it("handle.call: typed arguments and results, unknown functions and interfaces, values checked", async () => {
      const r = registry(engine);
      r.defineInterfaces(APP_WIT);
      const h = await r.load(fixture("rust-pricing"));
      // price = id × 100 + the byte length of name.
      expect(await h.call("acme:app/quote", "price", item(7n, "abc"))).toBe(703n);
      expect(await h.call("acme:app/quote@1.0.0", "price", item(1n, "é"))).toBe(102n);
      expect(h.callSync("acme:app/quote", "price", item(2n, ""))).toBe(200n);
      expect(await failure(h.call("acme:app/quote", "cost", item(1n, "")))).toMatchObject({ reason: "unknown-function", iface: "acme:app/quote@1.0.0" });
      expect(await failure(h.call("acme:app/checkout", "total", []))).toMatchObject({ reason: "missing", iface: "acme:app/checkout" });
      // id is a u64: a number is refused before the guest runs, and the plugin keeps running.
      const bad = await failure(h.call("acme:app/quote", "price", { ...item(1n, "x"), id: 1 }));
      expect(bad).toBeInstanceOf(InterfaceValueError);
      expect(h.state).toBe("active");
      expect(await h.call("acme:app/quote", "price", item(3n, "ab"))).toBe(302n);
      expect(h.metrics.faults).toBe(0);
    });

    it("an export whose types the host does not know cannot be called typed, with what to do", async () => {
      const r = registry(engine);
      const h = await r.load(fixture("rust-pricing"));
      const err = await failure(h.call("acme:app/quote", "price", item(1n, "")));
      expect(err).toMatchObject({ reason: "missing" });
      expect((err as Error).message).toMatch(/exports acme:app\/quote@1\.0\.0, but the host does not know its types/);
    });
  });
}

for (const engine of ENGINES) {
  describe(`wiring between plugins (${engine})`, () => {
    it("c-cart's checkout calls rust-pricing's quote: total = Σ price; the exporter is held by its importer", async () => {
      const r = registry(engine);
      r.defineInterfaces(APP_WIT);
      const cart = fixture("c-cart"); // [interfaces.from] "acme:app/quote" = "rust-pricing"
      // The exporter must be loaded first.
      const early = await failure(r.load(cart));
      expect(early).toMatchObject({ reason: "missing", iface: "acme:app/quote@1.0.0" });
      expect((early as Error).message).toMatch(/load "rust-pricing" first/);
      const pricing = await r.load(fixture("rust-pricing"));
      const h = await r.load(cart);
      const items = [item(1n, "a"), item(2n, "bcd"), item(30n, "")];
      expect(await h.call("acme:app/checkout", "total", items)).toBe(100n + 1n + 200n + 3n + 3000n);
      expect(await h.call("acme:app/checkout", "total", [])).toBe(0n);
      expect(r.interfaceMetrics("c-cart").find((s) => s.fn === "price")).toMatchObject({ iface: "acme:app/quote@1.0.0", calls: 3, errors: 0 });
      expect(pricing.metrics.calls).toBe(3);
      // Unloading the exporter while its importer is loaded: refused, as for a dependency; cascade unloads both.
      const held = await failure(r.unload("rust-pricing"));
      expect(held).toBeInstanceOf(PluginHasDependents);
      expect((held as PluginHasDependents).dependents).toEqual(["c-cart"]);
      await r.unload("rust-pricing", { cascade: true });
      expect(r.info("c-cart").state).toBe("unloaded");
    });

    it("loadAll loads exporters before their importers", async () => {
      const r = registry(engine);
      r.defineInterfaces(APP_WIT);
      const cart = fixture("c-cart"); // [interfaces.from] "acme:app/quote" = "rust-pricing"
      const handles = await r.loadAll([cart, fixture("rust-pricing")]);
      expect(handles.map((x) => x.name)).toEqual(["rust-pricing", "c-cart"]);
      expect(await r.get("c-cart").call("acme:app/checkout", "total", [item(5n, "xy")])).toBe(502n);
    });

    it("a wiring cycle (c-cart imports quote from c-loop, c-loop imports checkout from c-cart) is refused", async () => {
      const r = registry(engine);
      r.defineInterfaces(APP_WIT);
      const cart = variant("c-cart", { from: { "acme:app/quote": "c-loop" } });
      const loop = fixture("c-loop"); // [interfaces.from] "acme:app/checkout" = "c-cart"
      const err = await failure(r.loadAll([cart, loop]));
      expect(err).toBeInstanceOf(InterfaceUnavailable);
      expect(err).toMatchObject({ reason: "cycle" });
      expect((err as Error).message).toMatch(/c-cart → c-loop → c-cart|c-loop → c-cart → c-loop/);
      // One at a time, with the other only discovered: the same.
      const r2 = registry(engine);
      r2.defineInterfaces(APP_WIT);
      await r2.discover(loop);
      expect(await failure(r2.load(cart))).toMatchObject({ reason: "cycle", iface: "acme:app/quote" });
    });
  });
}
