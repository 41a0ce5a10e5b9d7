/**
 * The context store through real C plugins (docs/context.md): test/fixtures/c/state-counter's
 * `ctx` hook answers plughost_context_get(key) as JSON, "none" or "error:<code>", and its `ctxset` hook
 * plughost_context_set; test/fixtures/c/context-writer writes what an event's call sees into `test.seen`;
 * test/fixtures/c/trace-relay emits while a hook chain runs, and test/fixtures/c/request-caller asks another plugin.
 * Each case runs on v8 in process, v8 in a worker and wasmtime. The store alone: test/context-store.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CONTEXT_ERROR_CODE, type ContextError } from "../src/contract/abi.js";
import { PluginRegistry, type RegistryOptions } from "../src/index.js";
import { copyPlugin, dec, enc, silentLogger } from "./helpers/plugins.js";

const COUNTER = "test/fixtures/c/state-counter";
/** What the fixture answers for a refused call. */
const err = (e: ContextError): string => `error:${CONTEXT_ERROR_CODE[e]}`;

const cleanup: string[] = [];
const registries: PluginRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.close().catch(() => undefined)));
  for (const d of cleanup.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A copy of a fixture whose manifest declares exactly `capabilities` (and, optionally, another name). */
function withCapabilities(rel: string, capabilities: string[], name?: string): string {
  const dir = copyPlugin(rel, (text) => {
    const lines = text.split("\n").filter((l) => !/^capabilities\s*=/.test(l));
    lines.push(`capabilities = ${JSON.stringify(capabilities)}`);
    return lines.map((l) => (name && /^name\s*=/.test(l) ? `name = "${name}"` : l)).join("\n");
  });
  cleanup.push(dir);
  return dir;
}

function registry(options: RegistryOptions = {}): { registry: PluginRegistry; violations: string[]; dataDir: string } {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "plughost-context-"));
  cleanup.push(dataDir);
  const r = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir, grants: ["context:*", "context:write:*", "events:publish:*"], ...options });
  registries.push(r);
  const violations: string[] = [];
  r.on("violation", (v) => violations.push(`${v.plugin} ${v.kind}: ${v.detail}`));
  return { registry: r, violations, dataDir };
}

const ENGINES: [string, Pick<RegistryOptions, "engine" | "isolation">][] = [
  ["v8 in process", { engine: "v8", isolation: "in-process" }],
  ["v8 in a worker", { engine: "v8", isolation: "worker" }],
  ["wasmtime", { engine: "wasmtime" }],
];

describe.each(ENGINES)("context on %s", (_name, opts) => {

  /** The counter's answer to `ctx` for `key`, with optional call options. */
  const ctx = async (r: PluginRegistry, key: string, options = {}, plugin = "state-counter"): Promise<string> => {
    const out = await r.hook(plugin, "ctx", enc(key), options);
    if (!out.ok) throw new Error(`ctx failed with status ${out.status}`);
    return dec(out.data);
  };

  it("reads granted keys: predefined ones and app keys with a schema", async () => {
    const { registry: r, dataDir } = registry({
      ...opts,
      environment: "staging",
      context: { "acme.tenant": { schema: { type: "string" }, value: "blue" }, "acme.limits": { schema: { type: "object" } } },
    });
    await r.load(withCapabilities(COUNTER, ["context:host.*", "context:environment", "context:plugin.data-dir", "context:acme.*"]));
    expect(JSON.parse(await ctx(r, "host.name"))).toBe(os.hostname());
    expect(JSON.parse(await ctx(r, "host.version"))).toBe(r.context.get("host.version"));
    expect(JSON.parse(await ctx(r, "environment"))).toBe("staging");
    expect(JSON.parse(await ctx(r, "plugin.data-dir"))).toBe(path.join(dataDir, "plugins", "state-counter"));
    expect(await ctx(r, "acme.tenant")).toBe('"blue"');
    expect(await ctx(r, "acme.limits")).toBe("none"); // defined, no value yet
    // The host changes a value: the plugin's next read sees it.
    r.context.set("acme.tenant", "green");
    r.context.set("acme.limits", { rps: 5 });
    expect(await ctx(r, "acme.tenant")).toBe('"green"');
    expect(JSON.parse(await ctx(r, "acme.limits"))).toEqual({ rps: 5 });
    // A key defined after the plugin loaded is readable at once.
    r.context.define("acme.region", { schema: { enum: ["eu", "us"] }, value: "eu" });
    expect(await ctx(r, "acme.region")).toBe('"eu"');
  });

  it("denies a key the plugin holds no capability for, and records a capability violation", async () => {
    const { registry: r, violations } = registry({ ...opts, context: { "acme.tenant": { value: "blue" }, "other.secret": { value: "s3cret" } } });
    await r.load(withCapabilities(COUNTER, ["context:acme.tenant"]));
    expect(await ctx(r, "acme.tenant")).toBe('"blue"');
    expect(await ctx(r, "other.secret")).toBe(err("denied"));
    expect(await ctx(r, "host.name")).toBe(err("denied"));
    expect(violations).toEqual([
      'state-counter capability: context-get("other.secret") denied: needs context:other.secret',
      'state-counter capability: context-get("host.name") denied: needs context:host.name',
    ]);
    expect(r.info("state-counter").violations).toBe(2);
  });

  it("answers unknown-key for a key nobody defined (and for a name no key can have)", async () => {
    const { registry: r, violations } = registry(opts);
    await r.load(withCapabilities(COUNTER, ["context:*"]));
    expect(await ctx(r, "acme.nope")).toBe(err("unknown-key"));
    expect(await ctx(r, "NOT A KEY")).toBe(err("unknown-key"));
    expect(await ctx(r, "x".repeat(65))).toBe(err("unknown-key"));
    expect(violations).toEqual([]);
  });

  it("gives request.id, user.id and session.id from CallOptions.context, and none outside it", async () => {
    const { registry: r } = registry(opts);
    await r.load(withCapabilities(COUNTER, ["context:request.id", "context:user.id", "context:session.id"]));
    const call = { context: { requestId: "req-1", userId: "alice", sessionId: "s-9" } };
    expect(await ctx(r, "request.id", call)).toBe('"req-1"');
    expect(await ctx(r, "user.id", call)).toBe('"alice"');
    expect(await ctx(r, "session.id", call)).toBe('"s-9"');
    expect(await ctx(r, "request.id")).toBe("none");
    // The same as the metadata keys themselves.
    expect(await ctx(r, "user.id", { metadata: { "user-id": "bob" } })).toBe('"bob"');
    // Through a hook chain (runHook).
    const chain = await r.runHook("ctx", enc("request.id"), { context: { requestId: "req-chain" } });
    expect(chain.ok).toBe(true);
    expect(dec(chain.data)).toBe('"req-chain"');
  });

  it("carries the per-call keys through a request to a second plugin", async () => {
    const { registry: r } = registry(opts);
    await r.load(withCapabilities(COUNTER, ["context:request.id", "context:user.id"]));
    await r.load(withCapabilities("test/fixtures/c/request-caller", ["events:publish:*"]));
    const ask = (key: string) => enc(`state-counter\nctx\n0\n${key}`);
    const call = { context: { requestId: "req-42", userId: "carol" } };
    const viaRequest = async (key: string) => {
      const out = await r.hook("request-caller", "ask", ask(key), call);
      if (!out.ok) throw new Error(`ask failed with status ${out.status}`);
      return dec(out.data);
    };
    expect(await viaRequest("request.id")).toBe('"req-42"');
    expect(await viaRequest("user.id")).toBe('"carol"');
    // The host's own request carries them too.
    expect(dec(await r.request("state-counter", "ctx", enc("user.id"), { context: { userId: "dave" } }))).toBe('"dave"');
  });

  it("carries the per-call keys through a message emitted in a hook chain, to a plugin that writes what it saw", async () => {
    const { registry: r, violations } = registry({ ...opts, context: { "test.seen": { schema: { type: "object" } } } });
    await r.load(withCapabilities("test/fixtures/c/trace-relay", ["events:publish:relay"]));
    await r.load(withCapabilities("test/fixtures/c/context-writer", ["context:request.id", "context:user.id", "context:session.id", "context:write:test.seen"]));
    const result = await r.runHook("transform", enc("hello"), { context: { requestId: "req-emit", userId: "erin" } });
    expect(result.ok).toBe(true);
    await vi.waitFor(() => expect(r.context.get("test.seen")).toBeDefined(), { timeout: 5000, interval: 10 });
    expect(r.context.get("test.seen")).toEqual({ "request.id": "req-emit", "user.id": "erin", "session.id": null, data: "hello" });
    // A dispatch the host makes reaches it with the dispatch's own context.
    await r.dispatch("relay", enc("direct"), { context: { sessionId: "sess-1" } });
    expect(r.context.get("test.seen")).toEqual({ "request.id": null, "user.id": null, "session.id": "sess-1", data: "direct" });
    expect(violations).toEqual([]);
  });

  it("refuses writes without context:write (a violation), validates them with it, and keeps predefined keys read-only", async () => {
    const { registry: r, violations } = registry({
      ...opts,
      context: {
        "acme.count": { schema: { type: "integer", minimum: 0 }, value: 1 },
        "acme.mode": { schema: { enum: ["on", "off"] }, value: "on" },
        "acme.fixed": { value: "host-only", readOnly: true },
      },
    });
    await r.load(withCapabilities(COUNTER, ["context:acme.*", "context:write:acme.count", "context:write:acme.fixed", "context:write:host.name"]));
    const set = async (kv: string) => {
      const out = await r.hook("state-counter", "ctxset", enc(kv));
      if (!out.ok) throw new Error(`ctxset failed with status ${out.status}`);
      return dec(out.data);
    };
    // Without context:write:acme.mode: denied, a violation, the value unchanged.
    expect(await set('acme.mode="off"')).toBe(err("denied"));
    expect(r.context.get("acme.mode")).toBe("on");
    expect(violations).toEqual(['state-counter capability: context-set("acme.mode") denied: needs context:write:acme.mode']);
    // With it: checked against the schema.
    expect(await set("acme.count=5")).toBe("ok");
    expect(r.context.get("acme.count")).toBe(5);
    expect(await ctx(r, "acme.count")).toBe("5");
    expect(await set("acme.count=-1")).toBe(err("invalid-value"));
    expect(await set('acme.count="7"')).toBe(err("invalid-value"));
    expect(await set("acme.count={oops")).toBe(err("invalid-value"));
    expect(await set(`acme.count=${" ".repeat(64 * 1024)}1`)).toBe(err("invalid-value")); // over 64 KiB
    expect(r.context.get("acme.count")).toBe(5);
    // Read-only keys stay as the host set them, whatever the grant.
    expect(await set('acme.fixed="mine"')).toBe(err("read-only"));
    expect(await set('host.name="evil"')).toBe(err("read-only"));
    expect(r.context.get("acme.fixed")).toBe("host-only");
    expect(await set("acme.unknown=1")).toBe(err("denied")); // no write grant covers it
    expect(violations).toHaveLength(2);
    // A plugin-written value reaches other plugins.
    await r.load(withCapabilities(COUNTER, ["context:acme.count"], "reader"));
    expect(await ctx(r, "acme.count", {}, "reader")).toBe("5");
  });
});
