// One policy (issue 12): limits, grants, trust, events policy, recovery and
// where a v8 plugin runs are computed in src/runtime/policy.ts for the registry and the
// host config alike, and what runs is what PluginInfo reports. Each case here
// failed before the policy module existed.
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ApiVersionMismatch,
  DEFAULT_LIMITS,
  DEFAULT_RECOVERY,
  DeadlineExceeded,
  FuelExhausted,
  PluginRegistry,
  ResolutionError,
  effectiveLimits,
  validateHostConfig,
  type RegistryOptions,
} from "../src/index.js";
import * as api from "../src/index.js";
import { DEFAULT_POLICY } from "../src/runtime/host-config.js";
import { resolveLoadOrder } from "../src/plugin/resolve.js";
import { apiCompatible } from "../src/contract/version.js";
import { buildFixtures } from "./fixtures/hostile-limits/build.mjs";
import { fixture } from "./native-helpers.js";
import { enc, root, silentLogger } from "./helpers/plugins.js";

type Variant = Awaited<ReturnType<typeof buildFixtures>>;
let fx: Variant;
beforeAll(async () => {
  fx = await buildFixtures();
});

const dirs: string[] = [];
const temp = (label: string) => {
  const d = mkdtempSync(path.join(tmpdir(), `plughost-policy-${label}-`));
  dirs.push(d);
  return d;
};
const cacheDir = temp("cache");
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const registries: PluginRegistry[] = [];
const newRegistry = (options: RegistryOptions = {}) => {
  const r = new PluginRegistry({ logger: silentLogger(), cacheDir, ...options });
  registries.push(r);
  return r;
};
afterEach(async () => {
  for (const r of registries.splice(0)) await r.unloadAll().catch(() => undefined);
});

/** The hostile-limits `plain` component (events echo, spin, grow) under `name`, with extra manifest lines. */
function plain(name: string, extra = ""): string {
  const dir = temp(name);
  copyFileSync(fx.plain, path.join(dir, "plugin.wasm"));
  writeFileSync(path.join(dir, "plugin.toml"), `name = "${name}"\nversion = "0.1.0"\napi-version = "^0.1.0"\nkind = "component"\nentry = "plugin.wasm"\n${extra}`);
  return dir;
}

/** A native fixture under `name`, asking for `trust`. */
function native(fixtureName: string, name: string, trust: "trusted" | "untrusted", extra = ""): string {
  const dir = temp(name);
  copyFileSync(fixture(fixtureName), path.join(dir, `${fixtureName}.so`));
  writeFileSync(
    path.join(dir, "plugin.toml"),
    `name = "${name}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "${fixtureName}.so"\ntrust = "${trust}"\n${extra}`,
  );
  return dir;
}

const echo = enc("still here");
async function bystanderAnswers(registry: PluginRegistry, manifestExtra = ""): Promise<void> {
  const other = await registry.load(plain(`bystander-${registry.count}`, manifestExtra));
  expect(await other.invoke("echo", echo)).toBe(echo.length);
}

const MODES = [
  ["v8 in process", {}],
  ["v8 worker", { isolation: "worker" }],
  ["wasmtime", { engine: "wasmtime" }],
] as const satisfies readonly (readonly [string, RegistryOptions])[];

describe("one limits rule, read from PluginInfo", () => {
  describe.each(MODES)("%s", (_mode, modeOptions: RegistryOptions) => {
    it('maxLimits caps a plugin that asked for nothing, even under defaultLimits "unlimited": a runaway loop ends with FuelExhausted', async () => {
      const config = validateHostConfig({ defaultLimits: "unlimited", maxLimits: { fuel: 1_000_000 } }, "policy test");
      const registry = newRegistry({ ...api.registryOptionsFrom(config), ...modeOptions, logger: silentLogger(), cacheDir });
      const runaway = await registry.load(plain("runaway"));
      expect(registry.info("runaway").limits).toEqual({ fuel: 1_000_000 });
      const started = performance.now();
      const err = await runaway.invoke("spin").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FuelExhausted);
      expect(err).toMatchObject({ plugin: "runaway" });
      expect(performance.now() - started).toBeLessThan(10_000); // it used to run unmetered, forever
      await bystanderAnswers(registry);
    }, 30_000);
  });

  it("the limits the registry runs with are the limits effectiveLimits computes from the same host config", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{}, ""],
      [{ defaultLimits: { fuel: 5_000_000 } }, "[limits]\nfuel = 9000000\n"],
      [{ maxLimits: { fuel: 9_000_000_000, memoryBytes: "1MiB" } }, "[limits]\nfuel = 2000000000\nmemory = \"4MiB\"\n"],
      [{ defaultLimits: "unlimited", maxLimits: { deadlineMs: 5000 } }, "[limits]\ntable-elements = 10\n"],
    ];
    for (const [i, [raw, limits]] of cases.entries()) {
      const config = validateHostConfig(raw, `case ${i}`);
      const registry = newRegistry({ ...api.registryOptionsFrom(config), logger: silentLogger(), cacheDir });
      const handle = await registry.load(plain(`case-${i}`, limits));
      expect(registry.info(handle.name).limits, JSON.stringify(raw)).toEqual(effectiveLimits(handle.manifest.limits, config));
    }
  });

  it("PluginInfo reports the effective limits, the grants and the trust", async () => {
    const registry = newRegistry({ grants: { "*": ["clock"], reporter: ["random"] } });
    await registry.load(plain("reporter", "[limits]\nfuel = 1000\n"));
    expect(registry.info("reporter")).toMatchObject({
      limits: { ...DEFAULT_LIMITS, fuel: 1000 },
      grants: ["clock", "random"],
      trust: "untrusted",
      isolation: "in-process",
    });
  });
});

describe("trust is the host's decision", () => {
  it("a manifest's trust = \"trusted\" without approval is refused with TrustNotApproved naming the option and the config key", async () => {
    const registry = newRegistry();
    const err = await registry.load(native("basic", "wants-in", "trusted")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(api.TrustNotApproved);
    expect(err).toMatchObject({ code: "E_TRUST_NOT_APPROVED", plugin: "wants-in" });
    expect((err as Error).message).toMatch(/trustedNative: \["wants-in"\]/);
    expect((err as Error).message).toMatch(/"trustedNative": \["wants-in"\] in plughost\.config\.json/);
    expect(registry.info("wants-in").state).toBe("unloaded");
    // The same library, sandboxed, and a component still load and answer.
    const sandboxed = await registry.load(native("basic", "sandboxed", "untrusted"));
    expect(registry.info("sandboxed").trust).toBe("untrusted");
    expect(sandboxed.state).toBe("active");
    await bystanderAnswers(registry);
  }, 30_000);

  it.each([
    ["a list", ["approved"]],
    ["a predicate", (name: string) => name === "approved"],
  ] as const)("trustedNative as %s approves by name, and only that name", async (_form, trustedNative) => {
    const registry = newRegistry({ trustedNative });
    await registry.load(native("basic", "approved", "trusted"));
    expect(registry.info("approved").trust).toBe("trusted");
    await expect(registry.load(native("basic", "other", "trusted"))).rejects.toMatchObject({ code: "E_TRUST_NOT_APPROVED", plugin: "other" });
  }, 30_000);

  it("the host config key trustedNative approves through registryOptionsFrom", async () => {
    const config = validateHostConfig({ trustedNative: ["approved"] }, "policy test");
    const registry = newRegistry({ ...api.registryOptionsFrom(config), logger: silentLogger(), cacheDir: false });
    await registry.load(native("basic", "approved", "trusted"));
    expect(registry.info("approved").trust).toBe("trusted");
  }, 30_000);
});

describe("events policy, as documented", () => {
  // The C conformance plugin: `register <name>` returns 3 when denied, `emit <name>` returns -3 (-1 - denied).
  const conformance = path.join(root, "examples", "c", "conformance");
  /** Grants for a copy in `dir`: the manifest's own capabilities and `events`. */
  const grants = (dir: string, events: string[]) => ["stdio", "clock", `fs:read:${path.join(dir, "testdata")}`, ...events];
  const CALLBACKS = ["echo", "sum", "fail", "log", "register", "trap", "spin", "grow", "read-file", "emit", "counter", "upper", "metric", "request", "message", "state", "context", "config", "remember", "recall"];
  /** The conformance plugin with `events` capabilities added to its manifest (and granted). */
  function withEvents(name: string, events: string[]): string {
    const dir = temp(name);
    cpSync(conformance, dir, { recursive: true });
    const caps = ["stdio", "clock", "fs:read:testdata", ...events];
    writeFileSync(
      path.join(dir, "plugin.toml"),
      `name = "${name}"\nversion = "0.1.0"\napi-version = "^0.1.0"\nkind = "component"\nentry = "plugin.wasm"\ncapabilities = ${JSON.stringify(caps)}\n`,
    );
    mkdirSync(path.join(dir, "testdata"), { recursive: true });
    return dir;
  }
  const subscribeAll = CALLBACKS.map((e) => `events:subscribe:${e}`);

  describe.each(MODES)("%s", (_mode, modeOptions: RegistryOptions) => {
    it('"open" (the default): a plugin that declares events capabilities may still subscribe to and publish any event', async () => {
      const events = [...subscribeAll, "events:publish:allowed"];
      const dir = withEvents("open-policy", events);
      const registry = newRegistry({ ...modeOptions, grants: grants(dir, events) });
      const p = await registry.load(dir);
      expect(await p.invoke("register", enc("undeclared-event"))).toBe(0);
      expect(await p.invoke("emit", enc("undeclared-event"))).toBe(0);
      expect(registry.violations("open-policy")).toEqual([]);
    }, 60_000);

    it('"strict": a plugin publishes only what an events:publish capability covers, even when it declares none', async () => {
      const dir = withEvents("strict-policy", subscribeAll);
      const registry = newRegistry({ ...modeOptions, events: "strict", grants: grants(dir, subscribeAll), violationThreshold: 100 });
      const p = await registry.load(dir);
      expect(p.callbacks).toEqual(expect.arrayContaining(CALLBACKS));
      expect(await p.invoke("emit", enc("anything"))).toBe(-3);
      expect(await p.invoke("register", enc("undeclared-event"))).toBe(3);
      expect(registry.violations("strict-policy").map((v) => v.kind)).toEqual(["capability", "capability"]);
      // Under "strict" the bystander, too, subscribes only under a declared, granted capability.
      await bystanderAnswers(registry, 'capabilities = ["events:subscribe:echo"]\n');
    }, 60_000);
  });

  // The native fixture `basic`: `emit <name>` returns -3 (-1 - denied) when the policy refuses it.
  describe.each(["untrusted", "trusted"] as const)("native (%s)", (trust) => {
    const caps = (events: string[]) => `capabilities = ${JSON.stringify(events)}\n`;
    it('"open": a native plugin that declares events:publish:allowed may still publish another event', async () => {
      const events = ["events:subscribe:*", "events:publish:allowed"];
      const registry = newRegistry({ grants: events, trustedNative: ["open-native"], cacheDir: false });
      const p = await registry.load(native("basic", "open-native", trust, caps(events)));
      expect(await p.invoke("emit", enc("undeclared"))).toBe(0);
    }, 30_000);

    it('"strict": a native plugin without events:publish cannot publish', async () => {
      const events = ["events:subscribe:*"];
      const registry = newRegistry({ grants: events, events: "strict", trustedNative: ["strict-native"], cacheDir: false });
      const p = await registry.load(native("basic", "strict-native", trust, caps(events)));
      expect(await p.invoke("emit", enc("anything"))).toBe(-3);
      expect(registry.violations("strict-native").map((v) => v.kind)).toEqual(["capability"]);
      const other = await registry.load(native("basic", "other-native", "untrusted", caps(events)));
      expect(await other.invoke("echo", echo)).toBeGreaterThanOrEqual(0);
    }, 30_000);
  });

  it("policy.events, pluginDirs and logLevel of the host config reach the registry options", () => {
    const config = validateHostConfig({ policy: { events: "strict" }, pluginDirs: ["plugins"], logLevel: "warn" }, "policy test", { baseDir: "/srv/host" });
    expect(api.registryOptionsFrom(config)).toMatchObject({ events: "strict", pluginDirs: ["/srv/host/plugins"], logLevel: "warn" });
  });

  it("pluginDirs: the registry discovers every plugin in them", async () => {
    const plugins = temp("dirs");
    cpSync(plain("found-one"), path.join(plugins, "one"), { recursive: true });
    cpSync(plain("found-two"), path.join(plugins, "nested", "two"), { recursive: true });
    const config = validateHostConfig({ pluginDirs: ["."] }, path.join(plugins, "plughost.config.json"));
    const registry = newRegistry({ ...api.registryOptionsFrom(config), logger: silentLogger(), cacheDir });
    const found = await registry.discoverPluginDirs();
    expect(found.map((i) => i.name).sort()).toEqual(["found-one", "found-two"]);
  });
});

describe("plughost run reads pluginDirs and logLevel from the host config", () => {
  const cli = path.join(root, "dist", "cli", "index.js");
  /** A config dir with plugins/hello (examples/c/hello) and plughost.config.json. */
  function host(logLevel: string): string {
    const dir = temp("cli");
    cpSync(path.join(root, "examples", "c", "hello"), path.join(dir, "plugins", "hello"), { recursive: true });
    writeFileSync(path.join(dir, "plughost.config.json"), JSON.stringify({ pluginDirs: ["plugins"], logLevel }));
    return path.join(dir, "plughost.config.json");
  }
  const run = (args: string[]) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.PLUGHOST_LOG_LEVEL; // the config's logLevel applies when the environment does not override it
    return spawnSync(process.execPath, [cli, "run", ...args], { encoding: "utf8", env });
  };

  it("with no plugin named, loads every plugin in pluginDirs; a plain name is found there", () => {
    const config = host("silent");
    for (const args of [[], ["hello-c"]]) {
      const r = run([...args, "--config", config, "--event", "greet=world", "--json"]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim().split("\n").map((l) => JSON.parse(l) as unknown)).toContainEqual({ event: "greet", plugin: "hello-c", status: 0 });
    }
  });

  it("logLevel sets the level of the host's log (stderr)", () => {
    const withPlugin = (config: string) => [path.join(path.dirname(config), "plugins", "hello"), "--config", config, "--event", "greet=world"];
    const quiet = run(withPlugin(host("silent")));
    const chatty = run(withPlugin(host("info")));
    expect(quiet.status).toBe(0);
    expect(chatty.status).toBe(0);
    expect(quiet.stderr).toBe("");
    expect(chatty.stderr).toMatch(/"plugin":"hello-c"/);
  });
});

describe("deadline-ms on the in-process v8 engine is honoured, never ignored", () => {
  // Fuel that runs out well after the deadline, so only the deadline can end the call.
  const LATE_FUEL = { defaultLimits: { fuel: 5_000_000_000 }, maxLimits: { fuel: 5_000_000_000 } };

  it("a manifest that asks for a deadline runs in a worker, where the deadline ends a runaway call", async () => {
    const registry = newRegistry({ ...LATE_FUEL, recovery: { strategy: "disable" } });
    const p = await registry.load(plain("asks-deadline", "[limits]\ndeadline-ms = 150\n"));
    expect(registry.info("asks-deadline")).toMatchObject({ isolation: "worker", limits: { deadlineMs: 150 } });
    const started = performance.now();
    const err = await p.invoke("spin").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceeded);
    expect(err).toMatchObject({ plugin: "asks-deadline", deadlineMs: 150 });
    expect(performance.now() - started).toBeLessThan(5_000);
    await bystanderAnswers(registry);
  }, 30_000);

  it('a deadline together with isolation = "in-process" is refused with DeadlineUnenforceable naming the remedy', async () => {
    const registry = newRegistry();
    const err = await registry.load(plain("contradicts", 'isolation = "in-process"\n[limits]\ndeadline-ms = 150\n')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(api.DeadlineUnenforceable);
    expect(err).toMatchObject({ code: "E_DEADLINE_UNENFORCEABLE", plugin: "contradicts" });
    expect((err as Error).message).toMatch(/remove isolation = "in-process".*engine = "wasmtime"/);
    await bystanderAnswers(registry);
  });

  it("a trusted native plugin that asks for a deadline is refused (it would run in the host's thread); sandboxed, the same plugin loads", async () => {
    const deadline = "[limits]\ndeadline-ms = 200\n";
    const registry = newRegistry({ trustedNative: ["in-process"], cacheDir: false });
    const err = await registry.load(native("basic", "in-process", "trusted", deadline)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(api.DeadlineUnenforceable);
    expect(err).toMatchObject({ code: "E_DEADLINE_UNENFORCEABLE", plugin: "in-process", deadlineMs: 200 });
    expect((err as Error).message).toMatch(/remove trust = "trusted"/);
    const sandboxed = await registry.load(native("basic", "sandboxed", "untrusted", deadline));
    expect(registry.info("sandboxed").limits.deadlineMs).toBe(200);
    expect(await sandboxed.invoke("echo", echo)).toBeGreaterThanOrEqual(0);
    await expect(newRegistry({ trustedNative: ["required"], requireDeadlines: true, cacheDir: false }).load(native("basic", "required", "trusted"))).rejects.toMatchObject({
      code: "E_DEADLINE_UNENFORCEABLE",
    });
  }, 30_000);

  it("requireDeadlines runs every v8 plugin in a worker; the built-in default deadline alone does not", async () => {
    const plainRegistry = newRegistry();
    await plainRegistry.load(plain("default-deadline"));
    expect(plainRegistry.info("default-deadline")).toMatchObject({ isolation: "in-process", limits: { deadlineMs: DEFAULT_LIMITS.deadlineMs } });
    const strict = newRegistry({ requireDeadlines: true });
    await strict.load(plain("required"));
    expect(strict.info("required").isolation).toBe("worker");
    await expect(newRegistry({ requireDeadlines: true, isolation: "in-process" }).load(plain("refused"))).rejects.toMatchObject({
      code: "E_DEADLINE_UNENFORCEABLE",
      plugin: "refused",
    });
  }, 30_000);
});

describe("one API-version rule", () => {
  it("0.x minors are breaking for every plugin form; majors otherwise", () => {
    expect(apiCompatible("0.1.0", "0.1.0")).toBe(true);
    expect(apiCompatible("0.1.7", "0.1.0")).toBe(true);
    expect(apiCompatible("0.2.0", "0.1.0")).toBe(false);
    expect(apiCompatible("1.0.0", "0.1.0")).toBe(false);
    expect(apiCompatible("1.4.0", "1.0.0")).toBe(true);
    expect(apiCompatible("2.0.0", "1.0.0")).toBe(false);
    expect(apiCompatible("garbage", "0.1.0")).toBe(false);
  });

  it.each(["untrusted", "trusted"] as const)("a native plugin built for 0.2 does not load into a 0.1 host (%s)", async (trust) => {
    const registry = newRegistry({ trustedNative: ["built-for-0-2"], cacheDir: false });
    const err = await registry.load(native("api-v0-2", "built-for-0-2", trust)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiVersionMismatch);
    expect(err).toMatchObject({ code: "E_API_VERSION_MISMATCH", plugin: "built-for-0-2", expected: "0.1.0", actual: "0.2.0" });
    const other = await registry.load(native("basic", "other-native", "untrusted"));
    expect(other.state).toBe("active");
  }, 30_000);
});

describe("smaller policy defects", () => {
  it("ResolutionError names the plugin whose dependency version conflicts", () => {
    const m = (name: string, version: string, deps: { name: string; range: string }[] = []) => ({
      name,
      version,
      file: `/p/${name}/plugin.toml`,
      dependencies: deps.map((d) => ({ ...d, optional: false })),
    });
    const manifests = [m("a", "1.0.0", [{ name: "base", range: "^1.0.0" }]), m("base", "1.2.0"), m("z", "1.0.0", [{ name: "base", range: "^2.0.0" }])];
    let err: unknown;
    try {
      resolveLoadOrder(manifests);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ResolutionError);
    expect(err).toMatchObject({ plugin: "z" });
  });

  it("an unknown recovery strategy or backoff is a typed error, not a silent fallback", () => {
    for (const recovery of [{ strategy: "restrat" }, { backoff: "quadratic" }, { maxRetries: -1 }] as const) {
      let err: unknown;
      try {
        new PluginRegistry({ logger: silentLogger(), recovery: recovery as unknown as RegistryOptions["recovery"] });
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(recovery)).toBeInstanceOf(api.PolicyInvalid);
      expect(err).toMatchObject({ code: "E_POLICY_INVALID" });
    }
    expect((() => new PluginRegistry({ logger: silentLogger(), recovery: { strategy: "restrat" } as unknown as RegistryOptions["recovery"] }))).toThrow(
      /recovery\.strategy is "restrat"; use one of "restart", "disable", "ignore"/,
    );
  });

  it("an unknown events policy is a typed error", () => {
    expect(() => new PluginRegistry({ logger: silentLogger(), events: "strikt" as unknown as RegistryOptions["events"] })).toThrow(api.PolicyInvalid);
    expect(() => new PluginRegistry({ logger: silentLogger(), events: "strikt" as unknown as RegistryOptions["events"] })).toThrow(/events is "strikt"; use "open"/);
  });

  it("the registry and the host config share one set of recovery defaults", () => {
    expect(DEFAULT_RECOVERY).toEqual(DEFAULT_POLICY.recovery);
    expect(DEFAULT_RECOVERY).toEqual(validateHostConfig({}).policy.recovery);
  });
});
