// The forms example (examples/forms, `npm run demo`): its main.mjs run as a user would (a child process importing
// "plughost", so dist/ must be built), and the same application on the wasmtime engine through the registry: the
// host's store on a Map, validator-rust's validate export (Rust), normalizer-js's submission.transform hook (JS)
// wired to it by [interfaces.from]. The plugins are built from source by setup step 37.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { PluginRegistry } from "../src/index.js";
import { CapabilityDenied, InterfaceUnavailable } from "../src/contract/errors.js";
import { dec, enc, pluginDir, root, silentLogger } from "./helpers/plugins.js";

const FORMS = path.join(root, "examples", "forms");
const VALIDATOR = "examples/forms/validator-rust";
const NORMALIZER = "examples/forms/normalizer-js";
const GRANTS = ["iface:acme:forms/store", "iface:acme:forms/validate", "iface:acme:forms/types"];

interface Submission {
  form: string;
  fields: { name: string; value: string }[];
}

describe("examples/forms/main.mjs", () => {
  it("saves the good submission normalised with an id, refuses the bad one with its problems, and unloads", () => {
    pluginDir(VALIDATOR);
    pluginDir(NORMALIZER);
    const r = spawnSync(process.execPath, [path.join(FORMS, "main.mjs")], { cwd: root, encoding: "utf8", timeout: 170_000 });
    expect(r.status, `main.mjs failed:\n${r.stderr}`).toBe(0);
    const out = r.stdout;
    expect(out).toContain("loaded: validator-rust (active), normalizer-js (active)");
    // The accepted one: trimmed, email lower-cased, saved under id 1.
    expect(out).toContain('→ {"id":1,"form":"signup","fields":{"name":"Ada Lovelace","email":"ada@example.org"}}');
    // The refused one: the validator's problems, in order.
    expect(out).toContain('→ {"form":"signup","problems":[{"field":"name","message":"is required"},{"field":"email","message":"must contain exactly one @"}]}');
    // The host's direct typed call.
    expect(out).toContain('→ [{"field":"email","message":"must contain exactly one @"}]');
    expect(out).toContain('store: 1 kept\n  #1 signup: name="Ada Lovelace", email="ada@example.org"');
    expect(out).toMatch(/normalizer-js → acme:forms\/validate@1\.0\.0 check: 2 \(0 failed\)/);
    expect(out).toMatch(/validator-rust → acme:forms\/store@1\.0\.0 count: 3 \(0 failed\)/);
    expect(out).toContain("unloaded: validator-rust=unloaded, normalizer-js=unloaded");
  }, 180_000);
});

describe("the forms application on wasmtime", () => {
  const kept = new Map<bigint, Submission>();
  let nextId = 1n;
  let refuseSaves = false;
  let registry: PluginRegistry;

  const transform = async (s: unknown) => {
    const out = await registry.runHook("submission.transform", enc(typeof s === "string" ? s : JSON.stringify(s)));
    return { ok: out.ok, status: out.status, data: dec(out.data) };
  };

  beforeAll(async () => {
    registry = new PluginRegistry({
      engine: "wasmtime",
      logger: silentLogger(),
      grants: GRANTS,
      // A small limit, so the store's count decides a refusal.
      config: { "validator-rust": { "max-per-form": 2 } },
    });
    registry.defineInterfaces(path.join(FORMS, "wit"));
    registry.provide("acme:forms/store@1.0.0", {
      save(s: Submission) {
        if (refuseSaves) return { tag: "err", val: "the store is read-only" };
        const id = nextId++;
        kept.set(id, s);
        return { tag: "ok", val: id };
      },
      lookup: (id: bigint) => kept.get(id),
      count: (form: string) => [...kept.values()].filter((s) => s.form === form).length,
    });
    await registry.load(pluginDir(VALIDATOR));
    await registry.load(pluginDir(NORMALIZER));
  }, 300_000);

  afterAll(async () => {
    await registry?.close();
  });

  it("saves a good submission normalised and returns its id", async () => {
    const out = await transform({ form: "signup", fields: { name: "  Ada ", email: " ADA@Example.org " } });
    expect(out).toEqual({ ok: true, status: undefined, data: '{"id":1,"form":"signup","fields":{"name":"Ada","email":"ada@example.org"}}' });
    expect(kept.get(1n)).toEqual({ form: "signup", fields: [{ name: "name", value: "Ada" }, { name: "email", value: "ada@example.org" }] });
  });

  it("refuses a bad submission with the validator's problems and keeps nothing", async () => {
    const before = kept.size;
    const out = await transform({ form: "signup", fields: { email: "a@b@c" } });
    expect(out.ok).toBe(true);
    expect(JSON.parse(out.data)).toEqual({
      form: "signup",
      problems: [
        { field: "name", message: "is required" },
        { field: "email", message: "must contain exactly one @" },
      ],
    });
    expect(kept.size).toBe(before);
  });

  it("the validator consults the host's store: a form at its configured limit is full", async () => {
    const second = await transform({ form: "signup", fields: { name: "Grace", email: "grace@example.org" } });
    expect(JSON.parse(second.data)).toMatchObject({ id: 2, form: "signup" });
    const third = await transform({ form: "signup", fields: { name: "Linus", email: "linus@example.org" } });
    expect(JSON.parse(third.data)).toEqual({ form: "signup", problems: [{ field: "form", message: "signup is full (2 submissions)" }] });
    // Another form has its own count.
    const other = await transform({ form: "newsletter", fields: { name: "Linus", email: "linus@example.org" } });
    expect(JSON.parse(other.data)).toMatchObject({ id: 3, form: "newsletter" });
  });

  it("a store that refuses to save: the hook reports why, nothing is kept", async () => {
    refuseSaves = true;
    try {
      const out = await transform({ form: "feedback", fields: { name: "Ada", email: "ada@example.org" } });
      expect(JSON.parse(out.data)).toEqual({ form: "feedback", problems: [{ field: "form", message: "not saved: the store is read-only" }] });
    } finally {
      refuseSaves = false;
    }
    expect([...kept.values()].some((s) => s.form === "feedback")).toBe(false);
  });

  it("data that is not a submission fails the hook with status 400", async () => {
    const out = await transform("not json");
    expect(out).toMatchObject({ ok: false, status: 400, data: "not json" });
    expect((await transform({ form: "signup" })).status).toBe(400);
  });

  it("the host calls validator-rust's typed export directly, by jsName or WIT name", async () => {
    const validator = registry.get("validator-rust");
    const s: Submission = { form: "contact", fields: [{ name: "name", value: "Bob" }, { name: "email", value: "" }] };
    expect(await validator.call("acme:forms/validate", "check", s)).toEqual([{ field: "email", message: "is required" }]);
    expect(await validator.call("acme:forms/validate@1.0.0", "check", { ...s, fields: [...s.fields.slice(0, 1), { name: "email", value: "bob@example.org" }] })).toEqual([]);
    // A value the WIT does not allow is refused before the guest runs.
    await expect(validator.call("acme:forms/validate", "check", { form: "contact" })).rejects.toMatchObject({ code: "E_INTERFACE_VALUE" });
  });

  it("counts each call across the app interfaces", () => {
    const calls = (plugin: string, iface: string, fn: string) =>
      registry.interfaceMetrics(plugin).find((m) => m.iface === iface && m.fn === fn)?.calls;
    // Six checks through the hook (the 400s stop before them); three saves kept something and one was refused.
    expect(calls("normalizer-js", "acme:forms/validate@1.0.0", "check")).toBe(6);
    expect(calls("normalizer-js", "acme:forms/store@1.0.0", "save")).toBe(4);
    expect(calls("validator-rust", "acme:forms/store@1.0.0", "count")).toBeGreaterThanOrEqual(6);
  });
});

describe("the forms application's load refusals (wasmtime)", () => {
  const registries: PluginRegistry[] = [];
  afterAll(async () => {
    await Promise.all(registries.map((r) => r.close().catch(() => undefined)));
  });
  const make = (grants: Record<string, string[]>) => {
    const r = new PluginRegistry({ engine: "wasmtime", logger: silentLogger(), grants });
    r.defineInterfaces(path.join(FORMS, "wit"));
    r.provide("acme:forms/store@1.0.0", { save: () => ({ tag: "ok", val: 1n }), lookup: () => undefined, count: () => 0 });
    registries.push(r);
    return r;
  };

  it("normalizer-js without validator-rust loaded: InterfaceUnavailable naming validate and what to load", async () => {
    const r = make({ "*": GRANTS });
    const err = await r.load(pluginDir(NORMALIZER)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterfaceUnavailable);
    expect(err).toMatchObject({ reason: "missing" });
    expect(String((err as Error).message)).toMatch(/acme:forms\/validate@1\.0\.0[\s\S]*validator-rust/);
  }, 120_000);

  it("validate not granted to normalizer-js: CapabilityDenied for iface:acme:forms/validate", async () => {
    const r = make({ "*": ["iface:acme:forms/store", "iface:acme:forms/types"], "validator-rust": [] });
    await r.load(pluginDir(VALIDATOR));
    const err = await r.load(pluginDir(NORMALIZER)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapabilityDenied);
    expect(String((err as Error).message)).toContain("iface:acme:forms/validate");
  }, 120_000);
});
