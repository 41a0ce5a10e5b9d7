/**
 * The context store on its own (src/context/store.ts), the `context:*` capabilities, the plugin-side host calls
 * over a store (src/context/host-calls.ts), CallOptions.context and the host config's `context` section.
 * The same behaviour through a real plugin: test/context-plugins.test.ts.
 */
import os from "node:os";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ContextStore, CONTEXT_METADATA_KEYS, PREDEFINED_CONTEXT_KEYS, contextKeyProblem } from "../src/context/store.js";
import { ContextKeyInvalid, ContextKeyUnknown, ContextReadOnly, ContextSchemaInvalid, ContextValueInvalid } from "../src/context/errors.js";
import { contextHostCalls } from "../src/context/host-calls.js";
import { CapabilityError, contextAllowed, covers, effectiveCapabilities, normalizeCapability, parseCapability } from "../src/plugin/capabilities.js";
import { withContextMetadata } from "../src/runtime/calls.js";
import { HostConfigError, registryOptionsFrom, validateHostConfig } from "../src/runtime/host-config.js";
import { ManifestError } from "../src/contract/errors.js";
import { parseManifest } from "../src/plugin/manifest.js";
import type { MessageInfo } from "../src/engines/engine.js";

// A real manifest path: parseManifest checks that the entry beside it exists.
const COUNTER_TOML = fileURLToPath(new URL("./fixtures/c/state-counter/plugin.toml", import.meta.url));
const version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;

describe("context capabilities", () => {
  it("parses and formats context:<key> and context:write:<key>, with a trailing wildcard", () => {
    expect(parseCapability("context:acme.tenant")).toEqual({ kind: "context", access: "read", key: "acme.tenant" });
    expect(parseCapability("context:write:acme.tenant")).toEqual({ kind: "context", access: "write", key: "acme.tenant" });
    expect(parseCapability("context:acme.*")).toEqual({ kind: "context", access: "read", key: "acme.*" });
    expect(parseCapability("context:*")).toEqual({ kind: "context", access: "read", key: "*" });
    expect(parseCapability("context:write:*")).toEqual({ kind: "context", access: "write", key: "*" });
    for (const text of ["context:host.name", "context:write:acme.x-y_z", "context:acme.*", "context:write:*"]) expect(normalizeCapability(text)).toBe(text);
  });

  it("refuses malformed keys with a CapabilityError that says what a key looks like", () => {
    for (const bad of ["context:", "context:Acme", "context:.x", "context:a*b", "context:write:", "context:write:A", "context:a:b", "context:" + "a".repeat(65)]) {
      let error: unknown;
      try {
        parseCapability(bad);
      } catch (e) {
        error = e;
      }
      expect(error, bad).toBeInstanceOf(CapabilityError);
      expect((error as CapabilityError).message).toMatch(/context capabilities are context:<key> \(read\) or context:write:<key>/);
    }
    expect(() => parseCapability("context:" + "a".repeat(64))).not.toThrow();
  });

  it("write covers read of the same keys; read never covers write; wildcards cover prefixes only", () => {
    const c = (a: string, b: string) => covers(parseCapability(a), parseCapability(b));
    expect(c("context:write:acme.tenant", "context:acme.tenant")).toBe(true);
    expect(c("context:acme.tenant", "context:write:acme.tenant")).toBe(false);
    expect(c("context:acme.*", "context:acme.tenant")).toBe(true);
    expect(c("context:acme.*", "context:acmex.tenant")).toBe(false);
    expect(c("context:acme.tenant", "context:acme.*")).toBe(false);
    expect(c("context:*", "context:host.name")).toBe(true);
    expect(c("context:write:*", "context:write:acme.tenant")).toBe(true);
    expect(c("env:*", "context:host.name")).toBe(false);
  });

  it("grants like other capabilities: declared ∩ granted, a missing required one fails the load", () => {
    expect(effectiveCapabilities(["context:host.name"], ["context:write:acme.tenant", "context:user.id"], ["context:*"], "p")).toEqual([
      "context:host.name",
      "context:user.id",
    ]);
    expect(() => effectiveCapabilities(["context:write:acme.tenant"], [], ["context:acme.tenant"], "p")).toThrow(/needs capability "context:write:acme.tenant"/);
  });

  it("contextAllowed answers from the effective strings", () => {
    const caps = ["stdio", "context:host.name", "context:write:acme.*"];
    expect(contextAllowed(caps, "read", "host.name")).toBe(true);
    expect(contextAllowed(caps, "write", "host.name")).toBe(false);
    expect(contextAllowed(caps, "read", "acme.tenant")).toBe(true);
    expect(contextAllowed(caps, "write", "acme.tenant")).toBe(true);
    expect(contextAllowed(caps, "read", "environment")).toBe(false);
    expect(contextAllowed([], "read", "host.name")).toBe(false);
  });

  it("manifests and host configs accept them, and name a bad one at its pointer", () => {
    const manifest = (caps: string) => `name = "p"\nversion = "1.0.0"\napi-version = "^0.1.0"\nentry = "plugin.wasm"\ncapabilities = ${caps}\n`;
    const m = parseManifest(manifest('["context:host.name", "context:write:acme.*"]'), COUNTER_TOML);
    expect(m.capabilities).toEqual(["context:host.name", "context:write:acme.*"]);
    expect(() => parseManifest(manifest('["context:Bad"]'), COUNTER_TOML)).toThrow(ManifestError);
    expect(validateHostConfig({ grants: ["context:*"] }).grants).toEqual(["context:*"]);
    expect(() => validateHostConfig({ grants: ["context:write:"] })).toThrow(/\/grants\/0: context capabilities are/);
  });
});

describe("ContextStore", () => {
  it("has the predefined keys, the host's name and version", () => {
    const store = new ContextStore({ environment: "production" });
    expect(store.keys()).toEqual([...PREDEFINED_CONTEXT_KEYS]);
    expect(store.get("host.name")).toBe(os.hostname());
    expect(store.get("host.version")).toBe(version);
    expect(store.get("environment")).toBe("production");
    // Per-call and per-plugin keys have values only as a plugin reads them.
    expect(store.get("request.id")).toBeUndefined();
    expect(store.get("plugin.data-dir")).toBeUndefined();
    expect(new ContextStore().get("environment")).toBeUndefined();
    expect(store.describe("request.id")).toMatchObject({ predefined: true, perCall: true, readOnly: true });
  });

  it("defines app keys with a schema, validates every value, and keeps values as JSON", () => {
    const store = new ContextStore({ keys: { "acme.tenant": { schema: { type: "string", minLength: 1 }, value: "blue", description: "The tenant." } } });
    expect(store.get("acme.tenant")).toBe("blue");
    store.set("acme.tenant", "green");
    expect(store.get("acme.tenant")).toBe("green");
    expect(() => store.set("acme.tenant", "")).toThrow(ContextValueInvalid);
    expect(() => store.set("acme.tenant", 7)).toThrow(/invalid value for context key "acme.tenant": \/: must be a string/);
    expect(store.get("acme.tenant")).toBe("green"); // a refused write changes nothing

    store.define("acme.limits", { schema: { type: "object", properties: { rps: { type: "integer", minimum: 1 } }, required: ["rps"], additionalProperties: false } });
    expect(store.get("acme.limits")).toBeUndefined();
    const v = { rps: 5 };
    store.set("acme.limits", v);
    v.rps = 9; // the store keeps its own copy
    expect(store.get("acme.limits")).toEqual({ rps: 5 });
    expect(() => store.set("acme.limits", { rps: 0 })).toThrow(/\/rps: /);
    expect(() => store.set("acme.limits", { rps: 1, x: 1 })).toThrow(ContextValueInvalid);
    expect(store.keys().slice(-2)).toEqual(["acme.tenant", "acme.limits"]);
    expect(store.describe("acme.tenant")).toEqual({ key: "acme.tenant", predefined: false, perCall: false, readOnly: false, description: "The tenant.", schema: { type: "string", minLength: 1 } });
    expect(store.clear("acme.limits")).toBe(true);
    expect(store.get("acme.limits")).toBeUndefined();
    expect(store.delete("acme.limits")).toBe(true);
    expect(store.has("acme.limits")).toBe(false);
  });

  it("refuses what is not JSON, too large, or against the rules, with typed errors", () => {
    const store = new ContextStore({ maxValueBytes: 100 });
    store.define("a.any");
    expect(() => store.set("a.any", undefined)).toThrow(/a undefined is not a JSON value/);
    expect(() => store.set("a.any", { d: new Date(0) })).toThrow(/\/d: an object of a class is not a JSON value/);
    expect(() => store.set("a.any", [1, NaN])).toThrow(/\/1: NaN is not a JSON number/);
    expect(() => store.set("a.any", "x".repeat(200))).toThrow(/over the limit of 100/);
    expect(() => store.set("host.name", "x")).toThrow(ContextReadOnly);
    expect(() => store.set("request.id", "x")).toThrow(/pass it with CallOptions.context/);
    expect(() => store.set("nope.key", 1)).toThrow(ContextKeyUnknown);
    expect(() => store.get("nope.key")).toThrow(/is not defined; define it first with registry.context.define/);
    expect(() => store.define("Bad.Key")).toThrow(ContextKeyInvalid);
    expect(() => store.define("a".repeat(65))).toThrow(/the limit is 64/);
    expect(() => store.define("host.name")).toThrow(/is predefined/);
    expect(() => store.define("a.any")).toThrow(/is defined already/);
    expect(() => store.define("a.bad", { schema: { type: "no-such-type" } })).toThrow(ContextSchemaInvalid);
    expect(() => store.define("a.bad2", { schema: { type: "string" }, value: 1 })).toThrow(ContextValueInvalid);
    expect(store.has("a.bad2")).toBe(false);
    expect(contextKeyProblem("acme.tenant")).toBeUndefined();
    expect(contextKeyProblem("")).toMatch(/non-empty/);
  });

  it("answers plugins with outcomes, never throwing", () => {
    const store = new ContextStore({ maxValueBytes: 64, pluginDataDir: (p) => `/data/plugins/${p}` });
    store.define("acme.n", { schema: { type: "integer" } });
    store.define("acme.fixed", { value: 1, readOnly: true });
    const meta: Record<string, string> = { "request-id": "r-1", "user-id": "u-1" };
    const reader = { plugin: "p", metadata: (k: string) => meta[k] };
    expect(store.readFor("request.id", reader)).toEqual({ ok: true, value: '"r-1"' });
    expect(store.readFor("user.id", reader)).toEqual({ ok: true, value: '"u-1"' });
    expect(store.readFor("session.id", reader)).toEqual({ ok: true, value: undefined });
    expect(store.readFor("plugin.data-dir", reader)).toEqual({ ok: true, value: '"/data/plugins/p"' });
    expect(store.readFor("acme.n", reader)).toEqual({ ok: true, value: undefined });
    expect(store.readFor("acme.zzz", reader)).toEqual({ ok: false, error: "unknown-key" });

    const why: string[] = [];
    const w = (key: string, json: string) => store.writeFrom(key, json, (m) => why.push(m));
    expect(w("acme.n", "42")).toEqual({ ok: true, value: undefined });
    expect(store.readFor("acme.n", reader)).toEqual({ ok: true, value: "42" });
    expect(w("acme.n", '"x"')).toEqual({ ok: false, error: "invalid-value" });
    expect(w("acme.n", "{not json")).toEqual({ ok: false, error: "invalid-value" });
    expect(w("acme.n", " ".repeat(70) + "1")).toEqual({ ok: false, error: "invalid-value" });
    expect(w("acme.n", "[".repeat(30) + "]".repeat(30))).toEqual({ ok: false, error: "invalid-value" });
    expect(why).toEqual([expect.stringMatching(/must be a whole number/), "the value is not JSON", "the value is larger than 64 bytes", expect.stringMatching(/must be a whole number/)]);
    expect(w("acme.fixed", "2")).toEqual({ ok: false, error: "read-only" });
    expect(w("host.name", '"x"')).toEqual({ ok: false, error: "read-only" });
    expect(w("acme.zzz", "1")).toEqual({ ok: false, error: "unknown-key" });
    expect(store.get("acme.n")).toBe(42);
  });

  it("bounds nesting of plugin values", () => {
    const store = new ContextStore();
    store.define("a.any");
    const deep = "[".repeat(65) + "]".repeat(65);
    expect(store.writeFrom("a.any", deep)).toEqual({ ok: false, error: "invalid-value" });
    expect(store.writeFrom("a.any", "[".repeat(64) + "]".repeat(64))).toEqual({ ok: true, value: undefined });
    // Brackets inside strings do not count.
    expect(store.writeFrom("a.any", JSON.stringify("[".repeat(100)))).toEqual({ ok: true, value: undefined });
  });
});

describe("context host calls", () => {
  const setup = (capabilities: string[], metadata: [string, string][] = []) => {
    const store = new ContextStore();
    store.define("acme.tenant", { schema: { type: "string" }, value: "blue" });
    const denied: string[] = [];
    const refused: string[] = [];
    const message: MessageInfo = { id: 1, eventName: "e", kind: "event", metadata };
    const calls = contextHostCalls(store, {
      name: "p",
      capabilities,
      currentMessage: () => message,
      onDenied: (cap, detail) => denied.push(`${detail} needs ${cap}`),
      onRefused: (detail) => refused.push(detail),
    });
    return { store, calls, denied, refused };
  };

  it("reads granted keys; an ungranted one is denied and reported", () => {
    const { calls, denied } = setup(["context:acme.tenant", "context:request.id"], [["request-id", "abc"]]);
    expect(calls.contextGet("acme.tenant")).toEqual({ ok: true, value: '"blue"' });
    expect(calls.contextGet("request.id")).toEqual({ ok: true, value: '"abc"' });
    expect(calls.contextGet("host.name")).toEqual({ ok: false, error: "denied" });
    expect(denied).toEqual(['context-get("host.name") needs context:host.name']);
    // A name no key can have is unknown, not a violation.
    expect(calls.contextGet("Not A Key")).toEqual({ ok: false, error: "unknown-key" });
    expect(denied).toHaveLength(1);
  });

  it("writes only with context:write, checked against the schema", () => {
    const { store, calls, denied, refused } = setup(["context:acme.*", "context:write:acme.tenant", "context:write:host.name"]);
    expect(calls.contextSet("acme.other", '"x"')).toEqual({ ok: false, error: "denied" });
    expect(denied).toEqual(['context-set("acme.other") needs context:write:acme.other']);
    expect(calls.contextSet("acme.tenant", "1")).toEqual({ ok: false, error: "invalid-value" });
    expect(refused).toEqual([expect.stringMatching(/^context-set\("acme.tenant"\) refused: invalid-value: \/: must be a string/)]);
    expect(calls.contextSet("acme.tenant", '"green"')).toEqual({ ok: true, value: undefined });
    expect(store.get("acme.tenant")).toBe("green");
    expect(calls.contextSet("host.name", '"evil"')).toEqual({ ok: false, error: "read-only" });
  });
});

describe("CallOptions.context and the host config", () => {
  it("withContextMetadata writes the per-call keys into the metadata", () => {
    const o = { hostContext: 1 };
    expect(withContextMetadata(o)).toBe(o);
    expect(withContextMetadata(undefined)).toBeUndefined();
    expect(withContextMetadata({ metadata: { a: "1", "request-id": "old" }, context: { requestId: "r", userId: "u", sessionId: "s" } })).toEqual({
      metadata: { a: "1", "request-id": "r", "user-id": "u", "session-id": "s" },
      context: { requestId: "r", userId: "u", sessionId: "s" },
    });
    expect(Object.values(CONTEXT_METADATA_KEYS)).toEqual(["request-id", "user-id", "session-id"]);
  });

  it("reads the context section into registry options, and names a bad definition at its pointer", () => {
    const config = validateHostConfig({ context: { "acme.tenant": { schema: { type: "string" }, value: "blue", description: "d" } } });
    expect(registryOptionsFrom(config).context).toEqual({ "acme.tenant": { schema: { type: "string" }, value: "blue", description: "d" } });
    const fail = (obj: unknown): string => {
      try {
        validateHostConfig(obj);
      } catch (e) {
        expect(e).toBeInstanceOf(HostConfigError);
        return (e as Error).message;
      }
      return "no error";
    };
    expect(fail({ context: { "Acme.Tenant": { value: 1 } } })).toMatch(/\/context\/Acme.Tenant: must be a context key/);
    expect(fail({ context: { "host.name": { value: "x" } } })).toMatch(/\/context\/host.name: .*is predefined/);
    expect(fail({ context: { "acme.tenant": { schema: { type: "string" }, value: 1 } } })).toMatch(/\/context\/acme.tenant\/value: .*must be a string/);
    expect(fail({ context: { "acme.tenant": { schema: { type: 7 } } } })).toMatch(/\/context\/acme.tenant\/schema: /);
    expect(fail({ context: { "acme.tenant": { valu: 1 } } })).toMatch(/\/context\/acme.tenant/);
  });
});
