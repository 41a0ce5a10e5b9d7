import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  configOverridesFor,
  DEFAULT_POLICY,
  effectiveLimits,
  grantsFor,
  HOST_CONFIG_SCHEMA_PATH,
  HostConfigError,
  loadHostConfig,
  registryOptionsFrom,
  validateHostConfig,
} from "../src/runtime/host-config.js";
import type { ManifestProblem } from "../src/contract/errors.js";
import { DEFAULT_LIMITS } from "../src/runtime/policy.js";

const temps: string[] = [];
function tempDir(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), "plughost-hostcfg-"));
  temps.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function problems(obj: unknown): ManifestProblem[] {
  try {
    validateHostConfig(obj, "test-config", { baseDir: "/etc/plughost" });
  } catch (err) {
    expect(err).toBeInstanceOf(HostConfigError);
    expect((err as HostConfigError).code).toBe("E_HOST_CONFIG_INVALID");
    expect((err as HostConfigError).source).toBe("test-config");
    return [...(err as HostConfigError).problems];
  }
  throw new Error("expected a HostConfigError");
}

describe("validateHostConfig", () => {
  it("fills in every default for an empty config", () => {
    const cfg = validateHostConfig({}, "empty", { baseDir: "/etc/plughost" });
    expect(cfg).toEqual({
      grants: {},
      defaultLimits: {},
      maxLimits: {},
      policy: {
        violationThreshold: 10,
        autoUnmount: true,
        logViolations: true,
        events: "open",
        recovery: { strategy: "restart", maxRetries: 3, backoff: "exponential", baseDelayMs: 100 },
      },
      pluginDirs: [],
      config: {},
      logLevel: "info",
      trustedNative: [],
      requireDeadlines: false,
      source: "empty",
      baseDir: "/etc/plughost",
    });
    expect(cfg.policy).toEqual(DEFAULT_POLICY);
  });

  it("normalizes a full config: relative paths and fs grants against the base dir, sizes to bytes", () => {
    const cfg = validateHostConfig(
      {
        grants: { "*": ["clock"], greeter: ["fs:read:data", "env:HOME"] },
        defaultLimits: { fuel: 1000, memoryBytes: "1MiB", deadlineMs: 100 },
        maxLimits: { fuel: 10_000, memoryBytes: 16777216 },
        policy: { violationThreshold: 3, autoUnmount: false, events: "strict", recovery: { strategy: "disable" } },
        engine: "wasmtime",
        isolation: "worker",
        cacheDir: ".cache",
        pluginDirs: ["plugins", "/opt/plugins"],
        config: { greeter: { greeting: "hej" } },
        logLevel: "debug",
      },
      "lib",
      { baseDir: "/etc/plughost" },
    );
    expect(cfg.grants).toEqual({ "*": ["clock"], greeter: ["fs:read:/etc/plughost/data", "env:HOME"] });
    expect(cfg.defaultLimits).toEqual({ fuel: 1000, memoryBytes: 1048576, deadlineMs: 100 });
    expect(cfg.maxLimits).toEqual({ fuel: 10_000, memoryBytes: 16777216 });
    expect(cfg.policy).toEqual({
      violationThreshold: 3,
      autoUnmount: false,
      logViolations: true,
      events: "strict",
      recovery: { strategy: "disable", maxRetries: 3, backoff: "exponential", baseDelayMs: 100 },
    });
    expect([cfg.engine, cfg.isolation, cfg.cacheDir, cfg.logLevel]).toEqual(["wasmtime", "worker", "/etc/plughost/.cache", "debug"]);
    expect(cfg.pluginDirs).toEqual(["/etc/plughost/plugins", "/opt/plugins"]);
    expect(configOverridesFor(cfg, "greeter")).toEqual({ greeting: "hej" });
    expect(configOverridesFor(cfg, "other")).toEqual({});
  });

  it("accepts grants as a plain list for every plugin", () => {
    const cfg = validateHostConfig({ grants: ["clock", "random"] }, "x");
    expect(grantsFor(cfg, "anyone")).toEqual(["clock", "random"]);
  });

  it("combines a plugin's grants with the '*' grants", () => {
    const cfg = validateHostConfig({ grants: { "*": ["clock"], a: ["random", "clock"] } }, "x");
    expect(grantsFor(cfg, "a")).toEqual(["clock", "random"]);
    expect(grantsFor(cfg, "b")).toEqual(["clock"]);
  });

  const bad: [string, unknown, string, RegExp][] = [
    ["not an object", [], "", /^must be an object of host settings, got an array$/],
    ["an unknown key", { grant: [] }, "/grant", /^unknown key "grant"; did you mean "grants"\?$/],
    ["a kebab-case key", { "log-level": "info" }, "/log-level", /did you mean "logLevel"\?/],
    ["grants of the wrong type", { grants: "clock" }, "/grants", /^must be a list of capabilities, or a table of plugin name -> list of capabilities, got "clock"$/],
    ["a malformed grant", { grants: ["fs:read:"] }, "/grants/0", /^fs:read needs a directory/],
    ["a malformed per-plugin grant", { grants: { p: ["net:outbound:host"] } }, "/grants/p/0", /net:outbound needs <host>:<port>/],
    ["an unknown capability kind in grants", { grants: { p: ["database"] } }, "/grants/p/0", /unknown capability kind "database"/],
    ["a grant key that is not a plugin name", { grants: { "My Plugin": ["clock"] } }, "/grants/My Plugin", /^must be a plugin name or "\*", got "My Plugin"$/],
    ["a per-plugin grant that is not a list", { grants: { p: "clock" } }, "/grants/p", /^must be a list of capabilities, got "clock"$/],
    ["a zero limit", { maxLimits: { fuel: 0 } }, "/maxLimits/fuel", /^must be a whole number of at least 1, got 0$/],
    ["a bad size", { defaultLimits: { memoryBytes: "lots" } }, "/defaultLimits/memoryBytes", /size like "16MiB", got "lots"/],
    ["a manifest-style limit key", { defaultLimits: { memory: "1MiB" } }, "/defaultLimits/memory", /did you mean "memoryBytes"\?|unknown key "memory"/],
    ["a default above the max", { defaultLimits: { fuel: 100 }, maxLimits: { fuel: 10 } }, "/defaultLimits/fuel", /^is 100, above maxLimits\.fuel \(10\); lower the default or raise the maximum$/],
    ["a zero violation threshold", { policy: { violationThreshold: 0 } }, "/policy/violationThreshold", /at least 1, got 0/],
    ["a non-boolean autoUnmount", { policy: { autoUnmount: "yes" } }, "/policy/autoUnmount", /^must be true or false, got "yes"$/],
    ["an unknown recovery strategy", { policy: { recovery: { strategy: "pray" } } }, "/policy/recovery/strategy", /must be one of "restart", "disable", "ignore", "fallback", "retry", got "pray"/],
    ["a negative retry count", { policy: { recovery: { maxRetries: -1 } } }, "/policy/recovery/maxRetries", /at least 0, got -1/],
    ["an unknown backoff", { policy: { recovery: { backoff: "random" } } }, "/policy/recovery/backoff", /must be one of "linear", "exponential"/],
    ["an unknown event policy", { policy: { events: "closed" } }, "/policy/events", /must be one of "open", "strict", got "closed"/],
    ["an unknown engine", { engine: "native" }, "/engine", /must be one of "v8", "wasmtime", got "native"/],
    ["an unknown log level", { logLevel: "verbose" }, "/logLevel", /must be one of "trace", "debug"/],
    ["plugin config that is not an object", { config: { p: 5 } }, "/config/p", /^must be a table\/object, got 5$/],
    ["an empty plugin dir", { pluginDirs: [""] }, "/pluginDirs/0", /^must not be empty$/],
  ];
  for (const [title, obj, pointer, message] of bad) {
    it(`rejects ${title} at "${pointer}"`, () => {
      const ps = problems(obj);
      expect(
        ps.filter((p) => p.pointer === pointer).map((p) => p.message),
        JSON.stringify(ps),
      ).toContainEqual(expect.stringMatching(message));
    });
  }
});

describe("loadHostConfig", () => {
  it("reads a JSON file and resolves paths against its directory", async () => {
    const dir = tempDir({ "plughost.config.json": JSON.stringify({ grants: { p: ["fs:write:out"] }, cacheDir: "cache" }) });
    const cfg = await loadHostConfig(path.join(dir, "plughost.config.json"));
    expect(cfg.grants).toEqual({ p: [`fs:write:${path.join(dir, "out")}`] });
    expect(cfg.cacheDir).toBe(path.join(dir, "cache"));
    expect(cfg.source).toBe(path.join(dir, "plughost.config.json"));
  });

  it("finds plughost.config.toml in a directory, and its tables merge with plugin defaults", async () => {
    const dir = tempDir({
      "plughost.config.toml": `grants = ["clock"]\nlogLevel = "warn"\n[maxLimits]\nmemoryBytes = "64MiB"\n[policy]\nviolationThreshold = 5\n[config.greeter.server]\nport = 8080\n`,
    });
    const cfg = await loadHostConfig(dir);
    expect(cfg.grants).toEqual(["clock"]);
    expect(cfg.maxLimits.memoryBytes).toBe(64 * 1024 * 1024);
    expect(cfg.policy.violationThreshold).toBe(5);
    expect(configOverridesFor(cfg, "greeter")).toEqual({ server: { port: 8080 } });
    expect(Object.getPrototypeOf(cfg.config.greeter)).toBe(Object.prototype);
  });

  it("reports problems in a file, naming the file", async () => {
    const dir = tempDir({ "plughost.config.json": JSON.stringify({ policy: { violationThreshold: "ten" } }) });
    await expect(loadHostConfig(dir)).rejects.toThrow(
      `invalid host config ${path.join(dir, "plughost.config.json")}: /policy/violationThreshold: must be a whole number of at least 1, got "ten"`,
    );
  });

  it("reports syntax errors with line and column", async () => {
    const dir = tempDir({ "plughost.config.toml": 'logLevel = "info"\ngrants = [clock]\n' });
    await expect(loadHostConfig(dir)).rejects.toThrow(/TOML syntax error at line 2, column \d+/);
  });

  it("reports a missing file, an empty directory, two files and an unsupported extension", async () => {
    await expect(loadHostConfig("/nonexistent/plughost.config.json")).rejects.toThrow(/does not exist; create it/);
    await expect(loadHostConfig(tempDir())).rejects.toThrow(/no plughost\.config\.json or plughost\.config\.toml in .*; create one/);
    await expect(loadHostConfig(tempDir({ "plughost.config.json": "{}", "plughost.config.toml": "" }))).rejects.toThrow(/holds both .*; keep only one/);
    const dir = tempDir({ "plughost.yaml": "" });
    await expect(loadHostConfig(path.join(dir, "plughost.yaml"))).rejects.toThrow(/unsupported file type "\.yaml"; use \.json or \.toml/);
  });

  it("ships its schema at schema/host-config.schema.json", () => {
    expect(HOST_CONFIG_SCHEMA_PATH.endsWith(path.join("schema", "host-config.schema.json"))).toBe(true);
    const schema = JSON.parse(readFileSync(HOST_CONFIG_SCHEMA_PATH, "utf8")) as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties).sort()).toEqual(
      [
        "$schema",
        "cacheDir",
        "config",
        "configValidation",
        "context",
        "dataDir",
        "defaultLimits",
        "dependencies",
        "engine",
        "environment",
        "grants",
        "hooks",
        "isolation",
        "logLevel",
        "maxLimits",
        "nativeSandbox",
        "pluginDirs",
        "policy",
        "requireDeadlines",
        "serve",
        "signatures",
        "state",
        "trustedNative",
      ].sort(),
    );
  });
});

describe("effectiveLimits (the registry's rule, policy.ts)", () => {
  const host = { defaultLimits: { fuel: 1000, deadlineMs: 50 }, maxLimits: { fuel: 5000, memoryBytes: 1 << 20 } };
  const builtIn = { tableElements: 1_000_000, initDeadlineMs: 10_000, unloadGraceMs: 2_000, stateBytes: 10 * 1024 * 1024, stateKeys: 10_000, openFiles: 256, connections: 64, fsWriteBytes: 1024 ** 3 };

  it("takes the manifest's request, falling back to the host default over the built-in defaults", () => {
    // tableElements 10 lowers the built-in default; memory falls back to the default, capped by the max.
    expect(effectiveLimits({ fuel: 2000, tableElements: 10 }, host)).toEqual({ ...builtIn, fuel: 2000, deadlineMs: 50, memoryBytes: 1 << 20, tableElements: 10 });
  });

  it("clamps a request above the max (else above the default) and reports it", () => {
    const clamps: unknown[] = [];
    const limits = effectiveLimits({ fuel: 9999, memoryBytes: 1 << 30, deadlineMs: 80 }, host, (...args) => clamps.push(args));
    expect(limits).toEqual({ ...builtIn, fuel: 5000, memoryBytes: 1 << 20, deadlineMs: 50 });
    expect(clamps).toEqual([
      ["fuel", 9999, 5000],
      ["memoryBytes", 1 << 30, 1 << 20],
      ["deadlineMs", 80, 50],
    ]);
  });

  it("applies a max even when nothing asked for that limit, under \"unlimited\" too", () => {
    expect(effectiveLimits({}, { maxLimits: { deadlineMs: 10 } })).toMatchObject({ deadlineMs: 10, fuel: 1_000_000_000 });
    expect(effectiveLimits({}, { defaultLimits: "unlimited", maxLimits: { deadlineMs: 10 } })).toEqual({ deadlineMs: 10 });
  });

  it("gives the finite built-in defaults without a host config; only \"unlimited\" leaves a plugin unmetered", () => {
    expect(effectiveLimits({})).toEqual(DEFAULT_LIMITS);
    expect(effectiveLimits({ fuel: 7 })).toEqual({ ...DEFAULT_LIMITS, fuel: 7 });
    expect(effectiveLimits({}, { defaultLimits: "unlimited" })).toEqual({});
  });
});

describe("nativeSandbox section", () => {
  it("maps to the registry's nativeSandbox option: sizes parsed, a cgroup directory resolved against the config's directory", () => {
    const cfg = validateHostConfig(
      { nativeSandbox: { addressSpaceBytes: "512MiB", openFiles: 24, seccompProfile: { base: "strict", deny: ["ptrace"] }, cgroup: "cg/plugins", cpuPercent: 50 } },
      "x",
      { baseDir: "/etc/plughost" },
    );
    expect(registryOptionsFrom(cfg).nativeSandbox).toEqual({
      addressSpaceBytes: 512 * 1024 ** 2,
      openFiles: 24,
      seccompProfile: { base: "strict", deny: ["ptrace"] },
      cgroup: "/etc/plughost/cg/plugins",
      cpuPercent: 50,
    });
    expect(registryOptionsFrom(validateHostConfig({ nativeSandbox: { cgroup: "auto" } }, "x")).nativeSandbox).toEqual({ cgroup: "auto" });
    expect(registryOptionsFrom(validateHostConfig({ nativeSandbox: { cgroup: false } }, "x")).nativeSandbox).toEqual({ cgroup: false });
    expect(registryOptionsFrom(validateHostConfig({}, "x")).nativeSandbox).toBeUndefined();
  });

  it("refuses a bad section with the pointer of each bad field", () => {
    const found = problems({ nativeSandbox: { addressSpaceBytes: "lots", seccompProfile: "paranoid", cgroup: true, openFiles: 2, bogus: 1 } });
    const pointers = found.map((p) => p.pointer);
    expect(pointers).toEqual(expect.arrayContaining(["/nativeSandbox/addressSpaceBytes", "/nativeSandbox/seccompProfile", "/nativeSandbox/cgroup", "/nativeSandbox/openFiles"]));
    expect(found.some((p) => /bogus/.test(p.pointer + p.message))).toBe(true);
    expect(found.find((p) => p.pointer === "/nativeSandbox/addressSpaceBytes")?.message).toMatch(/at least 16MiB .* got "lots"/);
  });
});
