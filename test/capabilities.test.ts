import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { validateHostConfig } from "../src/runtime/host-config.js";
import { parseDocument } from "../src/plugin/manifest.js";
import { CapabilityDenied, MissingImportError } from "../src/contract/errors.js";
import { CAPABILITY_IMPORTS, checkImports, grantedDirs, grantedEnvironment, importRule, missingGrant } from "../src/plugin/capability-imports.js";
import { checkImports as v8CheckImports } from "../src/engines/v8/wasi.js";
import { checkImports as wasmtimeCheckImports } from "../src/engines/wasmtime/capabilities.js";
import {
  CapabilityError,
  canPublish,
  canSubscribe,
  covers,
  effectiveCapabilities,
  envAllowed,
  envNames,
  fsPreopens,
  has,
  netAllowed,
  normalizeCapability,
  parseCapability,
} from "../src/plugin/capabilities.js";

const p = (text: string) => parseCapability(text);

describe("parseCapability", () => {
  it("parses every kind of the vocabulary", () => {
    expect(p("fs:read:/data")).toEqual({ kind: "fs", access: "read", dir: "/data" });
    expect(p("fs:write:/data/out/")).toEqual({ kind: "fs", access: "write", dir: "/data/out" });
    expect(p("env:HOME")).toEqual({ kind: "env", name: "HOME" });
    expect(p("clock")).toEqual({ kind: "clock" });
    expect(p("random")).toEqual({ kind: "random" });
    expect(p("stdio")).toEqual({ kind: "stdio" });
    expect(p("net:outbound:API.example.com:443")).toEqual({ kind: "net", host: "api.example.com", port: 443 });
    expect(p("net:outbound:[::1]:8080")).toEqual({ kind: "net", host: "[::1]", port: 8080 });
    expect(p("net:outbound:*")).toEqual({ kind: "net", host: "*", port: "*" });
    expect(p("events:publish:order:created")).toEqual({ kind: "events", direction: "publish", name: "order:created" });
    expect(p("events:subscribe:*")).toEqual({ kind: "events", direction: "subscribe", name: "*" });
    expect(p("x-db:read")).toEqual({ kind: "extension", name: "x-db", scope: "read" });
    expect(p("x-gpu")).toEqual({ kind: "extension", name: "x-gpu" });
  });

  it("resolves relative fs dirs against the base dir and refuses them without one", () => {
    expect(parseCapability("fs:read:data/in", { baseDir: "/plugins/p" })).toEqual({ kind: "fs", access: "read", dir: "/plugins/p/data/in" });
    expect(() => p("fs:read:data")).toThrow(/the directory "data" is relative and there is no base directory to resolve it against; make it absolute/);
  });

  const bad: [string, RegExp][] = [
    ["", /it is empty; expected one of fs:read:<dir>/],
    ["network", /unknown capability kind "network"/],
    ["fs:read:", /fs:read needs a directory/],
    ["fs:delete:/x", /got access "delete"/],
    ["fs:read:/data/*", /fs directories cannot contain wildcards/],
    ["env:", /env needs a variable name/],
    ["env:A-B", /env needs a variable name.*got "A-B"/],
    ["clock:now", /"clock" takes no argument/],
    ["net:inbound:x:1", /the only net capability is net:outbound/],
    ["net:outbound:host", /net:outbound needs <host>:<port>/],
    ["net:outbound:host:0", /port must be 1-65535/],
    ["net:outbound:host:http", /port must be 1-65535 or "\*", got "http"/],
    ["net:outbound:bad_host!:80", /"bad_host!" is not a host name/],
    ["events:emit:x", /events:publish:<name> or events:subscribe:<name>, got "emit"/],
    ["events:publish:", /events:publish needs an event name/],
    ["events:publish:has space", /got "has space"/],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      let caught: unknown;
      try {
        parseCapability(text, { plugin: "demo" });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(CapabilityError);
      const e = caught as CapabilityError;
      expect(e.code).toBe("E_CAPABILITY_INVALID");
      expect(e.plugin).toBe("demo");
      expect(e.capability).toBe(text);
      expect(e.reason).toMatch(message);
    });
  }

  it("normalizes to a canonical string", () => {
    expect(normalizeCapability("fs:read:./a/../b", { baseDir: "/p" })).toBe("fs:read:/p/b");
    expect(normalizeCapability("net:outbound:Example.COM:80")).toBe("net:outbound:example.com:80");
  });
});

describe("covers", () => {
  const yes: [string, string][] = [
    ["fs:read:/data", "fs:read:/data"],
    ["fs:read:/data", "fs:read:/data/sub/deeper"],
    ["fs:write:/data", "fs:read:/data/sub"],
    ["fs:read:/", "fs:read:/anything"],
    ["fs:read:/data", "fs:read:/data/..hidden"],
    ["env:*", "env:HOME"],
    ["env:APP_*", "env:APP_TOKEN"],
    ["net:outbound:*", "net:outbound:example.com:443"],
    ["net:outbound:*.example.com:443", "net:outbound:api.example.com:443"],
    ["net:outbound:*.example.com:443", "net:outbound:example.com:443"],
    ["net:outbound:example.com:*", "net:outbound:example.com:8443"],
    ["net:outbound:*.com:*", "net:outbound:*.example.com:443"],
    ["events:publish:*", "events:publish:form.saved"],
    ["events:subscribe:form.*", "events:subscribe:form.validate"],
    ["x-db:*", "x-db:read"],
    ["x-db:*", "x-db"],
    ["clock", "clock"],
  ];
  const no: [string, string][] = [
    ["fs:read:/data", "fs:read:/database"],
    ["fs:read:/data/sub", "fs:read:/data"],
    ["fs:read:/data", "fs:write:/data"],
    ["env:HOME", "env:HOMEPATH"],
    ["env:HOME", "env:*"],
    ["net:outbound:example.com:443", "net:outbound:example.com:80"],
    ["net:outbound:*.example.com:443", "net:outbound:evil-example.com:443"],
    ["net:outbound:api.example.com:443", "net:outbound:*.example.com:443"],
    ["net:outbound:example.com:443", "net:outbound:*"],
    ["events:publish:*", "events:subscribe:x"],
    ["events:publish:form.*", "events:publish:forms"],
    ["x-db:read", "x-db:write"],
    ["x-db", "x-db:read"],
    ["clock", "random"],
  ];
  for (const [grant, need] of yes) it(`${grant} covers ${need}`, () => expect(covers(p(grant), p(need))).toBe(true));
  for (const [grant, need] of no) it(`${grant} does not cover ${need}`, () => expect(covers(p(grant), p(need))).toBe(false));
});

describe("effectiveCapabilities", () => {
  it("is declared ∩ granted plus optional ∩ granted, in the declared (narrower) form", () => {
    const eff = effectiveCapabilities(
      ["fs:read:/data/in", "clock", "env:HOME"],
      ["random", "net:outbound:api.example.com:443", "stdio"],
      ["fs:write:/data", "clock", "env:*", "net:outbound:*.example.com:443", "random", "events:publish:*"],
      "demo",
    );
    expect(eff).toEqual(["fs:read:/data/in", "clock", "env:HOME", "random", "net:outbound:api.example.com:443"]);
  });

  it("never adds what was granted but not declared", () => {
    expect(effectiveCapabilities([], [], ["clock", "random", "fs:read:/"], "demo")).toEqual([]);
  });

  it("throws CapabilityDenied naming each missing required capability and how to grant it", () => {
    let caught: unknown;
    try {
      effectiveCapabilities(["clock", "fs:write:/data", "env:TOKEN"], ["random"], ["clock", "fs:read:/data"], "demo");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CapabilityDenied);
    const e = caught as CapabilityDenied;
    expect(e.code).toBe("E_CAPABILITY_DENIED");
    expect(e.plugin).toBe("demo");
    expect(e.capability).toBe("fs:write:/data");
    expect(e.message).toContain('needs capabilities "fs:write:/data", "env:TOKEN", which the host did not grant');
    expect(e.message).toContain('{"grants":{"demo":["fs:write:/data","env:TOKEN"]}}');
    expect(e.message).toContain("or move them to optional-capabilities");
  });

  it("does not fail for an optional capability that was not granted", () => {
    expect(effectiveCapabilities(["clock"], ["net:outbound:*"], ["clock"], "demo")).toEqual(["clock"]);
  });

  it("rejects a malformed grant with a typed error", () => {
    expect(() => effectiveCapabilities([], [], ["fs:read:relative"], "demo")).toThrow(CapabilityError);
  });
});

describe("helpers for engines and the registry", () => {
  const eff = ["fs:read:/data", "fs:write:/data/out", "fs:write:/tmp/x", "fs:read:/tmp/x", "env:HOME", "env:APP_*", "clock", "net:outbound:*.example.com:443", "events:publish:order.*", "events:subscribe:tick"];

  it("fsPreopens merges read and write per dir, write implying read", () => {
    expect(fsPreopens(eff)).toEqual([
      { dir: "/data", read: true, write: false },
      { dir: "/data/out", read: true, write: true },
      { dir: "/tmp/x", read: true, write: true },
    ]);
  });

  it("envNames and envAllowed honour prefix patterns", () => {
    expect(envNames(eff)).toEqual(["HOME", "APP_*"]);
    expect(envAllowed(eff, "APP_TOKEN")).toBe(true);
    expect(envAllowed(eff, "PATH")).toBe(false);
  });

  it("has checks the plain capabilities", () => {
    expect(has(eff, "clock")).toBe(true);
    expect(has(eff, "random")).toBe(false);
    expect(has(eff, "stdio")).toBe(false);
  });

  it("netAllowed matches host wildcards and ports", () => {
    expect(netAllowed(eff, "API.example.com", 443)).toBe(true);
    expect(netAllowed(eff, "api.example.com", 80)).toBe(false);
    expect(netAllowed(eff, "example.org", 443)).toBe(false);
  });

  it("under the open event policy, anything may be published and subscribed", () => {
    expect(canPublish([], "anything")).toBe(true);
    expect(canSubscribe([], "anything", "open")).toBe(true);
  });

  it("under the strict event policy, only covered events are allowed", () => {
    expect(canPublish(eff, "order.created", "strict")).toBe(true);
    expect(canPublish(eff, "tick", "strict")).toBe(false);
    expect(canSubscribe(eff, "tick", "strict")).toBe(true);
    expect(canSubscribe(eff, "order.created", "strict")).toBe(false);
    expect(canSubscribe([], "tick", "strict")).toBe(false);
  });
});

describe("docs/capabilities.md", () => {
  it("has grant examples that are valid host configs", () => {
    const doc = readFileSync(new URL("../docs/capabilities.md", import.meta.url), "utf8");
    const blocks = [...doc.matchAll(/```(toml|json)\n([\s\S]*?)```/g)];
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const [, lang, text] of blocks) {
      const { value, problems } = parseDocument(text as string, lang as "toml" | "json");
      expect(problems).toEqual([]);
      const cfg = validateHostConfig(structuredClone(value), `docs example (${lang})`, { baseDir: "/srv" });
      expect(cfg.grants).not.toEqual({});
    }
  });
});

describe("the shared WASI import table (src/plugin/capability-imports.ts)", () => {
  const outcome = (f: () => void): string => {
    try {
      f();
      return "ok";
    } catch (e) {
      return (e as Error).message;
    }
  };
  const none: string[] = [];
  const all = ["stdio", "clock", "random", "fs:read:/data", "net:outbound:api.example.com:443"];
  const cases: [string, string | undefined][] = [
    ["wasi:io/streams@0.2.0", undefined],
    ["wasi:io/poll", undefined],
    ["wasi:cli/exit@0.2.0", undefined],
    ["wasi:cli/environment@0.2.0", undefined],
    ["wasi:cli/stdout@0.2.0", "stdio"],
    ["wasi:cli/terminal-stdin", "stdio"],
    ["wasi:clocks/wall-clock@0.2.0", "clock"],
    ["wasi:clocks/monotonic-clock", "clock"],
    ["wasi:random/insecure-seed", "random"],
    ["wasi:filesystem/types@0.2.0", "fs:read:<dir> or fs:write:<dir>"],
    ["wasi:sockets/tcp-create-socket@0.2.0", "net:outbound:<host:port>"],
    ["wasi:http/outgoing-handler@0.2.0", "(none: the host does not provide this interface)"],
    ["wasi:keyvalue/store", "(none: the host does not provide this interface)"],
  ];
  for (const [iface, grant] of cases) {
    it(`${iface} needs ${grant ?? "nothing"}`, () => {
      expect(missingGrant(iface, none, { inert: false })).toBe(grant);
      if (grant && !grant.startsWith("(none")) expect(missingGrant(iface, all, { inert: false })).toBeUndefined();
    });
  }

  it("links stdio streams inert only on an engine that can (v8), never other interfaces", () => {
    expect(importRule("wasi:cli/stderr@0.2.0")?.inertWithoutGrant).toBe(true);
    expect(missingGrant("wasi:cli/stderr", none, { inert: true })).toBeUndefined();
    expect(missingGrant("wasi:cli/stderr", none, { inert: false })).toBe("stdio");
    expect(missingGrant("wasi:clocks/wall-clock", none, { inert: true })).toBe("clock");
    expect(CAPABILITY_IMPORTS.filter((r) => r.inertWithoutGrant).map((r) => r.grant)).toEqual(["stdio"]);
  });

  it("checkImports names every missing interface and the capabilities that grant them", () => {
    const imports = ["plughost:plugin/host@0.1.0", "wasi:io/streams@0.2.0", "wasi:clocks/wall-clock@0.2.0", "wasi:random/random@0.2.0", "wasi:http/types@0.2.0"];
    let err: unknown;
    try {
      checkImports(imports, ["random"], "p", { inert: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingImportError);
    expect((err as MissingImportError).imports).toEqual(["wasi:clocks/wall-clock@0.2.0", "wasi:http/types@0.2.0"]);
    expect((err as MissingImportError).plugin).toBe("p");
    expect((err as Error).message).toMatch(/grant the capability clock, \(none: the host does not provide this interface\)/);
    expect(() => checkImports(imports.slice(0, 4), ["clock", "random"], "p", { inert: false })).not.toThrow();
  });

  it("both engines' import checks are the table's, inert stdio included: they accept and refuse the same imports", () => {
    const stdout = ["wasi:cli/stdout@0.2.0"];
    expect(() => v8CheckImports(stdout, [], "p")).not.toThrow();
    expect(() => wasmtimeCheckImports(stdout, [], "p")).not.toThrow();
    for (const [iface] of cases) {
      expect(outcome(() => v8CheckImports([iface], [], "p")), iface).toBe(outcome(() => wasmtimeCheckImports([iface], [], "p")));
    }
  });

  it("grantedEnvironment exposes only env:<NAME> variables (prefix patterns too) and nothing without one", () => {
    const saved = { ...process.env };
    try {
      process.env.PLUGHOST_T_A = "a";
      process.env.PLUGHOST_T_B = "b";
      expect(grantedEnvironment(["clock"])).toEqual([]);
      expect(grantedEnvironment(["env:PLUGHOST_T_A"])).toEqual([["PLUGHOST_T_A", "a"]]);
      expect(grantedEnvironment(["env:PLUGHOST_T_*"]).sort()).toEqual([["PLUGHOST_T_A", "a"], ["PLUGHOST_T_B", "b"]]);
      expect(grantedEnvironment(["env:NOT_SET_ANYWHERE_XYZ"])).toEqual([]);
    } finally {
      process.env = saved;
    }
  });

  it("grantedDirs merges read and write per dir and resolves relative dirs against the base", () => {
    expect(grantedDirs(["fs:read:/d", "fs:write:/d", "fs:read:data", "clock"], "/p", "p")).toEqual([
      { dir: "/d", write: true },
      { dir: "/p/data", write: false },
    ]);
  });
});
