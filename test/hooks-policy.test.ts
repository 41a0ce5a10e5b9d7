// Hook policies and host hooks (issue 14, point 4 and the host side of point 3), with real C hooks on in-process v8:
// the manifest's timeout-ms / retries / async / on-error, the host's clamps, host hooks among plugin hooks by
// (named) priority, the chain's state, execution id and start time, and async observers with their own accounting.
//
// Guest: test/fixtures/c/hook-policy (its hooks pass, tag, reject, trap, trap every second call, spin, run slowly);
// each copy appends its config's tag, so the output spells the order the hooks ran in.
import { rmSync } from "node:fs";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  DeadlineExceeded,
  HookFailed,
  HostConfigError,
  InvalidCallbackName,
  MAX_OBSERVER_BACKLOG,
  ManifestError,
  PluginRegistry,
  PluginTrap,
  effectiveHookPolicy,
  registryOptionsFrom,
  resolveHookClamps,
  validateHostConfig,
  type HookContext,
  type ObserverFailure,
  type RegistryOptions,
} from "../src/index.js";
import { PolicyInvalid } from "../src/runtime/policy.js";
import { copyPlugin, dec, enc, silentLogger } from "./helpers/plugins.js";

const FIXTURE = "test/fixtures/c/hook-policy";

let registry: PluginRegistry;
const dirs: string[] = [];
afterEach(async () => {
  await registry?.settleHookObservers();
  await registry?.unloadAll().catch(() => undefined);
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const newRegistry = (options: RegistryOptions = {}) =>
  (registry = new PluginRegistry({
    logger: silentLogger(),
    cacheDir: false,
    violationThreshold: 100,
    recovery: { strategy: "restart", backoff: "exponential", baseDelayMs: 0, maxRetries: 5 },
    engine: "v8",
    isolation: "in-process",
    ...options,
  }));

/** A copy of the fixture named `name`, tagging with `tag`, with `[[hooks]]` entries (TOML) appended. */
function hookCopy(name: string, tag: string, hooks = ""): string {
  const dir = copyPlugin(FIXTURE, (t) => t.replace('name = "hook-policy"', `name = "${name}"`).replace('tag = "?"', `tag = "${tag}"`) + "\n" + hooks);
  dirs.push(dir);
  return dir;
}

const hooksToml = (event: string, fields: Record<string, string | number | boolean>) =>
  `[[hooks]]\nevent = "${event}"\n` + Object.entries(fields).map(([k, v]) => `${k} = ${typeof v === "string" ? JSON.stringify(v) : String(v)}\n`).join("");

describe("the manifest's hook policies", () => {
  it("parses timeout-ms, retries, async and on-error; refuses bad values with the field's pointer", async () => {
    newRegistry();
    const dir = hookCopy("parsed", "p", hooksToml("tag", { priority: "high", "timeout-ms": 250, retries: 2, async: true, "on-error": "fail" }));
    const handle = await registry.load(dir);
    expect(registry.info(handle.name).name).toBe("parsed");
    const { loadManifest } = await import("../src/plugin/manifest.js");
    const m = await loadManifest(dir);
    expect(m.hooks).toEqual([{ event: "tag", priority: 500, timeoutMs: 250, retries: 2, async: true, onError: "fail" }]);

    for (const [field, value, pointer] of [
      ["on-error", '"maybe"', "/hooks/0/on-error"],
      ["retries", "-1", "/hooks/0/retries"],
      ["timeout-ms", "0", "/hooks/0/timeout-ms"],
      ["async", '"yes"', "/hooks/0/async"],
    ] as const) {
      const bad = hookCopy("bad", "b", `[[hooks]]\nevent = "tag"\n${field} = ${value}\n`);
      const err = await loadManifest(bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ManifestError);
      expect((err as ManifestError).problems.map((p) => p.pointer)).toContain(pointer);
    }
  });

  it("without a policy a failing hook stops the chain (fail-closed); under defaultOnError skip it is reported and the next hooks run", async () => {
    newRegistry();
    await registry.load(hookCopy("first", "1", hooksToml("trap", { priority: 300 })));
    await registry.load(hookCopy("second", "2", hooksToml("trap", { priority: 200 })));
    const closed = await registry.runHook("trap", enc("x"));
    expect(closed).toMatchObject({ ok: false, stoppedBy: "first" });
    expect(closed.error).toBeInstanceOf(PluginTrap);
    expect(closed.errors.map((e) => e.plugin)).toEqual(["first"]);
    await registry.unloadAll();

    newRegistry({ hooks: { defaultOnError: "skip" } });
    await registry.load(hookCopy("first", "1", hooksToml("trap", { priority: 300 })));
    await registry.load(hookCopy("second", "2", hooksToml("trap", { priority: 200 })));
    const chain = await registry.runHook("trap", enc("x"));
    expect(chain.ok).toBe(true);
    expect(chain.errors.map((e) => e.plugin)).toEqual(["first", "second"]);
    expect(chain.errors[0]!.error).toBeInstanceOf(PluginTrap);
    expect(chain.error).toBeUndefined();
    expect(typeof chain.executionId).toBe("number");
  });

  it('on-error = "fail" stops the chain with the error: the next hook is not called', async () => {
    newRegistry();
    await registry.load(hookCopy("gate", "g", hooksToml("trap", { priority: 300, "on-error": "fail" })));
    await registry.load(hookCopy("after", "a", hooksToml("trap", { priority: 200 })));
    const before = registry.metrics("after").calls;
    const chain = await registry.runHook("trap", enc("x"));
    expect(chain).toMatchObject({ ok: false, stoppedBy: "gate" });
    expect(chain.status).toBeUndefined();
    expect(chain.error).toBeInstanceOf(PluginTrap);
    expect(chain.errors.map((e) => e.plugin)).toEqual(["gate"]);
    expect(registry.metrics("after").calls).toBe(before);
  });

  it('on-error = "skip" passes the data on; the host can forbid that for an event (it becomes "fail")', async () => {
    const load = async () => {
      await registry.load(hookCopy("skipper", "s", hooksToml("trap", { priority: 300, "on-error": "skip" })));
      await registry.load(hookCopy("tagger", "t", hooksToml("trap", { priority: 200 }) + hooksToml("tag", { priority: 200 })));
    };
    newRegistry();
    await load();
    expect((await registry.runHook("trap", enc("x"))).errors.map((e) => e.plugin)).toEqual(["skipper", "tagger"]);
    await registry.unloadAll();

    newRegistry({ hooks: { forbidFailOpen: ["trap"] } });
    await load();
    const chain = await registry.runHook("trap", enc("x"));
    expect(chain).toMatchObject({ ok: false, stoppedBy: "skipper" });
    expect(chain.errors.map((e) => e.plugin)).toEqual(["skipper"]);
    // Other events keep their policy (both copies tag: tagger at 200, skipper at the default 100).
    expect(dec((await registry.runHook("tag", enc("x"))).data)).toBe("xts");
  });

  it("a hook with a policy takes the general path; the hooks around it are still called in order, once each", async () => {
    newRegistry();
    await registry.load(hookCopy("one", "a", hooksToml("tag", { priority: 300 })));
    await registry.load(hookCopy("two", "b", hooksToml("tag", { priority: 200, "timeout-ms": 5000 })));
    await registry.load(hookCopy("three", "c", hooksToml("tag", { priority: 100 })));
    const before = ["one", "two", "three"].map((n) => registry.metrics(n).calls);
    const chain = await registry.runHook("tag", enc("x"));
    expect(dec(chain.data)).toBe("xabc");
    expect(["one", "two", "three"].map((n, i) => registry.metrics(n).calls - before[i]!)).toEqual([1, 1, 1]);
  });

  it('hooks.defaultOnError = "fail" makes chains of hooks without a policy fail-closed (the fast path too)', async () => {
    newRegistry({ hooks: { defaultOnError: "fail" } });
    await registry.load(hookCopy("first", "1", hooksToml("trap", { priority: 300 })));
    await registry.load(hookCopy("second", "2", hooksToml("trap", { priority: 200 })));
    const chain = await registry.runHook("trap", enc("x"));
    expect(chain).toMatchObject({ ok: false, stoppedBy: "first" });
    expect(chain.errors).toHaveLength(1);
  });

  it("retries after an instance fault, on the replaced instance; never after a non-zero status", async () => {
    newRegistry();
    // flaky traps on the second call of an instance: the retry is the fresh instance's first call.
    await registry.load(hookCopy("flaky", "f", hooksToml("flaky", { retries: 1 }) + hooksToml("reject", { retries: 3 })));
    expect(dec((await registry.runHook("flaky", enc("a"))).data)).toBe("af");
    const chain = await registry.runHook("flaky", enc("b"));
    expect(chain).toMatchObject({ ok: true, errors: [] });
    expect(dec(chain.data)).toBe("bf");
    expect(registry.metrics("flaky")).toMatchObject({ faults: 1, restarts: 1 });

    const calls = registry.metrics("flaky").calls;
    const rejected = await registry.runHook("reject", enc("c"));
    expect(rejected).toMatchObject({ ok: false, status: 7, stoppedBy: "flaky" });
    expect(registry.metrics("flaky").calls).toBe(calls + 1);
  });

  it("without retries the fault is reported; retries are clamped by hooks.maxRetries", async () => {
    newRegistry({ hooks: { maxRetries: 0 } });
    await registry.load(hookCopy("flaky", "f", hooksToml("flaky", { retries: 5 })));
    await registry.runHook("flaky", enc("a"));
    const chain = await registry.runHook("flaky", enc("b"));
    expect(chain.errors.map((e) => e.error)).toEqual([expect.any(PluginTrap)]);
    expect(dec(chain.data)).toBe("b");
  });

  it("in process, a hook that returns past its timeout-ms is discarded and its instance treated as faulted", async () => {
    newRegistry({ defaultLimits: "unlimited" });
    await registry.load(hookCopy("slowpoke", "s", hooksToml("slow", { "timeout-ms": 1, "on-error": "fail" })));
    const faults: string[] = [];
    registry.on("fault", (f) => faults.push(f.error.code));
    const chain = await registry.runHook("slow", Uint8Array.of(40));
    expect(chain).toMatchObject({ ok: false, stoppedBy: "slowpoke" });
    expect(chain.error).toBeInstanceOf(DeadlineExceeded);
    expect(chain.error!.message).toMatch(/timeout-ms/);
    expect(faults).toEqual(["E_DEADLINE_EXCEEDED"]);
    // Recovery replaced the instance: the fresh one answers (`count`: its first hook call).
    const counted = await registry.hook("slowpoke", "count", enc("c"));
    expect(counted.ok && [...counted.data]).toEqual([99, 1]);
    expect(registry.metrics("slowpoke").restarts).toBe(1);
  });

  it("the host clamps timeout-ms (hooks.maxTimeoutMs) and retries; effectiveHookPolicy shows the result", () => {
    const clamps = resolveHookClamps({ maxTimeoutMs: 100, maxRetries: 1, forbidFailOpen: ["auth"] });
    expect(effectiveHookPolicy(clamps, "x", { event: "x", priority: 100, timeoutMs: 5000, retries: 4, onError: "skip" })).toEqual({
      timeoutMs: 100,
      retries: 1,
      async: false,
      onError: "skip",
    });
    expect(effectiveHookPolicy(clamps, "auth", { event: "auth", priority: 100, onError: "skip" }).onError).toBe("fail");
    expect(effectiveHookPolicy(clamps, "auth", undefined)).toEqual({ timeoutMs: undefined, retries: 0, async: false, onError: "fail" });
    expect(() => resolveHookClamps({ maxRetries: -1 })).toThrow(PolicyInvalid);
    expect(() => resolveHookClamps({ defaultOnError: "open" as never })).toThrow(/hooks.defaultOnError/);
    expect(() => new PluginRegistry({ hooks: { maxTimeoutMs: 0 } })).toThrow(PolicyInvalid);
  });

  it("the host config's hooks section is validated and becomes the registry option", () => {
    const config = validateHostConfig({ hooks: { maxTimeoutMs: 2000, maxRetries: 1, defaultOnError: "fail", forbidFailOpen: ["auth", "*"] } }, "test");
    expect(registryOptionsFrom(config).hooks).toEqual({ maxTimeoutMs: 2000, maxRetries: 1, defaultOnError: "fail", forbidFailOpen: ["auth", "*"] });
    const err = (() => {
      try {
        validateHostConfig({ hooks: { maxRetries: 1000, defaultOnError: "open", extra: 1 } }, "test");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(HostConfigError);
    const pointers = (err as HostConfigError).problems.map((p) => p.pointer);
    expect(pointers).toEqual(expect.arrayContaining(["/hooks/maxRetries", "/hooks/defaultOnError"]));
    expect(registryOptionsFrom(validateHostConfig({}, "empty")).hooks).toBeUndefined();
  });
});

describe("host hooks (registry.addHook)", () => {
  it("run in priority order among plugin hooks; named priorities; at equal priority plugins first", async () => {
    newRegistry();
    await registry.load(hookCopy("high", "a", hooksToml("tag", { priority: "HIGH" })));
    await registry.load(hookCopy("normal", "b", hooksToml("tag", { priority: "normal" })));
    const append = (c: string) => (data: Uint8Array) => Uint8Array.from([...data, c.charCodeAt(0)]);
    registry.addHook("tag", append("C"), { priority: "CRITICAL" });
    registry.addHook("tag", append("h"), { priority: 200 });
    registry.addHook("tag", append("n"), { priority: 100 });
    const removeLow = registry.addHook("tag", append("l"), { priority: "low" });
    expect(dec((await registry.runHook("tag", enc("x"))).data)).toBe("xCahbnl");
    removeLow();
    expect(dec((await registry.runHook("tag", enc("x"))).data)).toBe("xCahbn");
  });

  it("plugin hooks between host hooks run in order, once each, a run of them at a time; one that stops the chain stops it there", async () => {
    newRegistry();
    await registry.load(hookCopy("p1", "a", hooksToml("tag", { priority: 900 }) + hooksToml("reject", { priority: 900, async: true })));
    await registry.load(hookCopy("p2", "b", hooksToml("tag", { priority: 800, "timeout-ms": 5000 }) + hooksToml("reject", { priority: 800 })));
    await registry.load(hookCopy("p3", "c", hooksToml("tag", { priority: 700 }) + hooksToml("reject", { priority: 700 })));
    await registry.load(hookCopy("p4", "d", hooksToml("tag", { priority: 400 }) + hooksToml("reject", { priority: 400 })));
    await registry.load(hookCopy("p5", "e", hooksToml("tag", { priority: 300 }) + hooksToml("reject", { priority: 300 })));
    const append = (c: string) => (data: Uint8Array) => Uint8Array.from([...data, c.charCodeAt(0)]);
    registry.addHook("tag", append("H"), { priority: 500 });
    registry.addHook("tag", append("L"), { priority: 10 });
    // p1, p2 (a policy: the pipeline) and p3, then H, then p4 and p5 in one direct run, then L; twice, each its own result.
    const first = await registry.runHook("tag", enc("x"));
    const second = await registry.runHook("tag", enc("y"));
    expect([dec(first.data), dec(second.data)]).toEqual(["xabcHdeL", "yabcHdeL"]);
    // p1 observes "reject"; p2 stops the chain: p3…p5 and the host hook after them are not called, the observer is.
    const seen: string[] = [];
    registry.addHook("reject", () => void seen.push("before"), { priority: 950 });
    registry.addHook("reject", () => void seen.push("after"), { priority: 500 });
    const stopped = await registry.runHook("reject", enc("z"));
    expect(stopped).toMatchObject({ ok: false, status: 7, stoppedBy: "p2" });
    await registry.settleHookObservers();
    expect(seen).toEqual(["before"]);
    expect(registry.hookObservers().find((o) => o.hook === "p1")).toMatchObject({ event: "reject", runs: 1 });
    for (const name of ["p3", "p4", "p5"]) expect(registry.get(name)!.metrics.calls).toBe(registry.get("p1")!.metrics.calls - 1);
  });

  it("share the chain's state, execution id and start time; undefined passes the data on; a HookOutcome can stop the chain", async () => {
    newRegistry();
    await registry.load(hookCopy("mid", "m", hooksToml("tag", { priority: 100 })));
    const seen: HookContext[] = [];
    registry.addHook(
      "tag",
      (_data, ctx) => {
        expect(ctx.state.size).toBe(0); // a new chain starts empty
        ctx.state.set("user", "ada");
        seen.push(ctx);
        return undefined;
      },
      { priority: 500, name: "auth" },
    );
    registry.addHook(
      "tag",
      async (data, ctx) => {
        seen.push(ctx);
        await new Promise((r) => setTimeout(r, 5));
        return ctx.state.get("user") === "ada" ? Uint8Array.from([...data, 33]) : { ok: false, status: 401 };
      },
      { priority: 50, name: "check" },
    );
    const t0 = Date.now();
    const chain = await registry.runHook("tag", enc("x"), { hostContext: { requestId: 9 }, metadata: { tenant: "t1" } });
    expect(dec(chain.data)).toBe("xm!");
    expect(seen).toHaveLength(2);
    expect(seen[0]!.executionId).toBe(chain.executionId);
    expect(seen[1]!.executionId).toBe(chain.executionId);
    expect(seen[0]!.state).toBe(seen[1]!.state);
    expect(chain.startedAt).toBeGreaterThanOrEqual(t0 - 1);
    expect(seen[0]!.startedAt).toBe(chain.startedAt);
    expect(seen[0]!.hostContext).toEqual({ requestId: 9 });
    expect(seen[1]!.message).toMatchObject({ kind: "hook", event: "tag", metadata: { tenant: "t1" } });
    expect(seen[1]!.message.target).toBeUndefined(); // a chain is a broadcast
    expect(seen[1]!.message.id).toBeGreaterThan(0);

    const next = await registry.runHook("tag", enc("y"));
    expect(next.executionId).toBeGreaterThan(chain.executionId);

    registry.addHook("tag", () => ({ ok: false, status: 403 }), { priority: "CRITICAL", name: "deny" });
    expect(await registry.runHook("tag", enc("z"))).toMatchObject({ ok: false, status: 403, stoppedBy: "deny" });
  });

  it("a throwing, misbehaving or slow host hook is a HookFailed; its onError decides", async () => {
    newRegistry();
    await registry.load(hookCopy("tail", "t", hooksToml("tag", { priority: 10 })));
    const removeThrow = registry.addHook("tag", () => {
      throw new Error("boom");
    }, { name: "thrower", onError: "skip" });
    let chain = await registry.runHook("tag", enc("x"));
    expect(dec(chain.data)).toBe("xt");
    expect(chain.errors[0]!.error).toBeInstanceOf(HookFailed);
    expect(chain.errors[0]).toMatchObject({ plugin: "thrower", error: { reason: "threw", hook: "thrower", code: "E_HOOK_FAILED" } });
    removeThrow();

    const removeBad = registry.addHook("tag", () => "text" as never, { name: "bad", onError: "fail" });
    chain = await registry.runHook("tag", enc("x"));
    expect(chain).toMatchObject({ ok: false, stoppedBy: "bad", error: { reason: "bad-result" } });
    removeBad();

    registry.addHook("tag", () => new Promise<Uint8Array>(() => undefined), { name: "stuck", timeoutMs: 30, onError: "fail" });
    const t0 = performance.now();
    chain = await registry.runHook("tag", enc("x"));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(chain).toMatchObject({ ok: false, stoppedBy: "stuck", error: { reason: "timeout" } });
  });

  it("options are checked: priority, onError, timeoutMs, names, and onError skip where fail-open is forbidden", () => {
    newRegistry({ hooks: { forbidFailOpen: ["auth"] } });
    const fn = () => undefined;
    expect(() => registry.addHook("tag", fn, { priority: "URGENT" as never })).toThrow(PolicyInvalid);
    expect(() => registry.addHook("tag", fn, { onError: "ignore" as never })).toThrow(PolicyInvalid);
    expect(() => registry.addHook("tag", fn, { timeoutMs: 0 })).toThrow(PolicyInvalid);
    expect(() => registry.addHook("auth", fn, { onError: "skip" })).toThrow(/forbids fail-open/);
    expect(() => registry.addHook("bad event!", fn)).toThrow(InvalidCallbackName);
    registry.addHook("tag", fn, { name: "one" });
    expect(() => registry.addHook("tag", fn, { name: "one" })).toThrow(/already/);
    expect(() => registry.addHook("auth", fn)).not.toThrow();
  });
});

describe("async observer hooks", () => {
  it("a slow observer's backlog is bounded: past MAX_OBSERVER_BACKLOG runs are dropped and counted", async () => {
    newRegistry();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    registry.addHook("burst", () => gate, { async: true, name: "slow-audit" });
    for (let i = 0; i < MAX_OBSERVER_BACKLOG + 6; i++) await registry.runHook("burst", enc("x"));
    await new Promise((r) => setImmediate(r));
    expect(registry.hookObservers()).toEqual([expect.objectContaining({ hook: "slow-audit", runs: 0, dropped: 6 })]);
    release();
    await registry.settleHookObservers();
    expect(registry.hookObservers()).toEqual([expect.objectContaining({ runs: MAX_OBSERVER_BACKLOG, failures: 0, dropped: 6 })]);
    await registry.runHook("burst", enc("x"));
    await registry.settleHookObservers();
    expect(registry.hookObservers()[0]!.runs).toBe(MAX_OBSERVER_BACKLOG + 1); // caught up: called again
  });

  it("are called after a chain that a hook stopped early, too", async () => {
    newRegistry();
    await registry.load(hookCopy("stopper", "s", hooksToml("reject", { priority: 300 })));
    await registry.load(hookCopy("late-watcher", "w", hooksToml("reject", { priority: 10, async: true })));
    const seen: string[] = [];
    registry.addHook("reject", (data) => void seen.push(dec(data)), { priority: "CLEANUP", async: true, name: "late-audit" });
    const chain = await registry.runHook("reject", enc("x"));
    expect(chain).toMatchObject({ ok: false, status: 7, stoppedBy: "stopper" });
    await registry.settleHookObservers();
    expect(seen).toEqual(["x"]);
    // The plugin observer ran too: its own err(7) is its failure, counted apart from the chain.
    expect(registry.hookObservers().find((o) => o.hook === "late-watcher")).toMatchObject({ runs: 1, failures: 1 });
  });

  it("run after the chain with its final data, do not change it, and keep their own counts", async () => {
    newRegistry();
    await registry.load(hookCopy("editor", "e", hooksToml("tag", { priority: 100 })));
    await registry.load(hookCopy("watcher", "w", hooksToml("tag", { priority: 900, async: true }) + hooksToml("trap", { async: true })));
    const observed: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    registry.addHook(
      "tag",
      async (data, ctx) => {
        await gate; // a slow observer does not hold the chain
        observed.push(`${dec(data)}@${ctx.executionId}`);
      },
      { async: true, name: "audit" },
    );
    registry.addHook("tag", () => {
      throw new Error("observer down");
    }, { async: true, name: "broken" });
    const failures: ObserverFailure[] = [];
    registry.on("observer-failed", (f) => failures.push(f));

    const chain = await registry.runHook("tag", enc("x"));
    expect(chain).toMatchObject({ ok: true, errors: [] });
    expect(dec(chain.data)).toBe("xe"); // the watcher's tag is not in it
    expect(observed).toEqual([]);
    release();
    await registry.settleHookObservers();
    expect(observed).toEqual([`xe@${chain.executionId}`]);
    expect(failures).toEqual([expect.objectContaining({ hook: "broken", event: "tag", executionId: chain.executionId, error: expect.any(HookFailed) })]);
    const stats = registry.hookObservers();
    expect(stats).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ hook: "watcher", kind: "plugin", event: "tag", runs: 1, failures: 0 }),
        expect.objectContaining({ hook: "audit", kind: "host", runs: 1, failures: 0 }),
        expect.objectContaining({ hook: "broken", kind: "host", runs: 1, failures: 1 }),
      ]),
    );
    expect(registry.metrics("watcher").calls).toBeGreaterThanOrEqual(1);

    // A plugin observer's fault is counted there (and is the plugin's fault as usual), not in the chain.
    const trapped = await registry.runHook("trap", enc("y"));
    expect(trapped.errors.map((e) => e.plugin)).toEqual(["editor"]); // editor's own trap hook is in the chain; watcher's is not
    await registry.settleHookObservers();
    expect(registry.hookObservers().find((s) => s.hook === "watcher" && s.event === "trap")).toMatchObject({ runs: 1, failures: 1, lastError: expect.any(PluginTrap) });
    expect(registry.metrics("watcher").faults).toBe(1);
  });
});
