// The contract's numeric encodings and API version have one source, wit/plugin.wit:
// scripts/gen-contract.mjs generates them for TS, C and Rust. These tests fail when a
// checked-in copy is stale or an engine's encoding drifts from the WIT.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error plain Node script without types
import { generate, parseWit } from "../scripts/gen-contract.mjs";
import * as abi from "../src/contract/abi.js";
import { HOST_WIT_VERSION } from "../src/contract/version.js";
import { HOST_IMPORT_MODULE } from "../src/engines/v8/host-imports.js";
import { ERR_DENIED, messageCode, packApiVersion, registerCode } from "../src/engines/native/shared.js";

const root = path.resolve(import.meta.dirname, "..");
const witText = readFileSync(path.join(root, "wit/plugin.wit"), "utf8");
interface Wit {
  package: string;
  version: string;
  enums: { name: string; cases: string[] }[];
  interfaces: string[];
}
const wit = parseWit(witText) as Wit;

describe("contract generated from wit/plugin.wit", () => {
  it("checked-in generated files equal a fresh generation (run node scripts/gen-contract.mjs)", () => {
    const files = generate(witText) as Record<string, string>;
    expect(Object.keys(files).sort()).toEqual(
      ["guest-sdks/c/include/plughost_abi.h", "native/wasmtime/src/contract.rs", "src/contract/abi.ts"].sort(),
    );
    for (const [rel, text] of Object.entries(files)) {
      expect(readFileSync(path.join(root, rel), "utf8"), `${rel} is stale`).toBe(text);
    }
  });

  it("parses the package version and every enum of the WIT", () => {
    expect(wit.package).toBe("plughost:plugin");
    expect(wit.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(wit.enums.map((e) => e.name).sort()).toEqual(["context-error", "log-level", "message-error", "message-kind", "metric-error", "metric-kind", "register-error", "request-error", "state-error"]);
    expect(wit.interfaces).toEqual(expect.arrayContaining(["types", "host", "guest"]));
  });

  it("the TS tables and the API version are the WIT's", () => {
    expect(abi.API_VERSION).toBe(wit.version);
    expect(HOST_WIT_VERSION).toBe(wit.version);
    expect(HOST_IMPORT_MODULE).toBe(`${wit.package}/host@${wit.version}`);
    const [major, minor, patch] = wit.version.split(".").map(Number);
    expect(abi.API_VERSION_PACKED).toBe((major! << 16) | (minor! << 8) | patch!);
    expect(packApiVersion(abi.API_VERSION)).toBe(abi.API_VERSION_PACKED);
    for (const e of wit.enums) {
      expect(abi.WIT_ENUMS[e.name], e.name).toEqual(e.cases);
    }
    const codes: Record<string, Readonly<Record<string, number>>> = {
      "log-level": abi.LOG_LEVEL_CODE,
      "register-error": abi.REGISTER_ERROR_CODE,
      "message-error": abi.MESSAGE_ERROR_CODE,
      "metric-kind": abi.METRIC_KIND_CODE,
      "metric-error": abi.METRIC_ERROR_CODE,
      "request-error": abi.REQUEST_ERROR_CODE,
      "message-kind": abi.MESSAGE_KIND_CODE,
      "state-error": abi.STATE_ERROR_CODE,
      "context-error": abi.CONTEXT_ERROR_CODE,
    };
    for (const e of wit.enums) expect(codes[e.name], e.name).toEqual(Object.fromEntries(e.cases.map((c, i) => [c, i])));
  });

  it("the C ABI statuses the native engines answer follow the WIT order", () => {
    const reg = wit.enums.find((e) => e.name === "register-error")!.cases;
    const msg = wit.enums.find((e) => e.name === "message-error")!.cases;
    expect(registerCode("ok")).toBe(0);
    reg.forEach((c, i) => expect(registerCode(c as abi.RegisterError)).toBe(1 + i));
    expect(ERR_DENIED).toBe(1 + reg.indexOf("denied"));
    msg.forEach((c, i) => expect(messageCode({ ok: false, error: c as abi.MessageError })).toBe(-1 - i));
  });

  it("plughost.h's C constants equal the WIT's (compiled with the C SDK's include path)", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-contract-"));
    const src = path.join(dir, "check.c");
    writeFileSync(
      src,
      `#include <stdio.h>
#include "plughost.h"
#include "plughost_host.h"
int main(void) {
  printf("%s %u %d %d %d %d ", PLUGHOST_API_VERSION_STRING, PLUGHOST_API_VERSION, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR);
  printf("%d %d %d %d ", PLUGHOST_OK, PLUGHOST_ERR_INVALID_NAME, PLUGHOST_ERR_LIMIT_REACHED, PLUGHOST_ERR_DENIED);
  printf("%d %d %d %d %d\\n", PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_INVALID_NAME), PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_UNKNOWN_TARGET),
    PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_DENIED), PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_QUEUE_FULL), PLUGHOST_MESSAGE_STATUS(PLUGHOST_MESSAGE_ERROR_TOO_LARGE));
  return 0;
}
`,
    );
    const exe = path.join(dir, "check");
    execFileSync("gcc", ["-Wall", "-Werror", "-I", path.join(root, "guest-sdks/c/include"), src, "-o", exe]);
    const out = execFileSync(exe, { encoding: "utf8" }).trim().split(" ");
    expect(out[0]).toBe(wit.version);
    expect(Number(out[1])).toBe(abi.API_VERSION_PACKED);
    expect(out.slice(2, 6).map(Number)).toEqual([0, 1, 2, 3].map((i) => abi.LOG_LEVEL_CODE[abi.LOG_LEVELS[i]!]));
    expect(out.slice(6, 10).map(Number)).toEqual([0, 1 + abi.REGISTER_ERROR_CODE["invalid-name"], 1 + abi.REGISTER_ERROR_CODE["limit-reached"], 1 + abi.REGISTER_ERROR_CODE.denied]);
    expect(out.slice(10).map(Number)).toEqual(abi.MESSAGE_ERRORS.map((e) => abi.messageStatus(e)));
  });

  it("the guest SDKs that spell the contract by hand (Go constants, JS types) agree with the WIT", () => {
    const go = readFileSync(path.join(root, "guest-sdks/go/plughost.go"), "utf8");
    expect(/const APIVersion = "([^"]+)"/.exec(go)?.[1]).toBe(wit.version);
    const pascal = (s: string) => s.split("-").map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
    const goCases = (prefix: string, type: string): string[] => {
      const block = new RegExp(`const \\(\\s*(${prefix}\\w+)\\s+${type} = iota[^)]*\\)`).exec(go)?.[0].slice("const (".length) ?? "";
      return [...block.matchAll(new RegExp(`^\\s*(${prefix}\\w+)`, "gm"))].map((m) => m[1]!);
    };
    const cases = (name: string) => wit.enums.find((e) => e.name === name)!.cases;
    expect(goCases("Register", "RegisterError")).toEqual(cases("register-error").map((c) => `Register${pascal(c)}`));
    expect(goCases("Message", "MessageError")).toEqual(cases("message-error").map((c) => `Message${pascal(c)}`));
    expect(goCases("", "Level")).toEqual(cases("log-level").map(pascal));
    expect(goCases("", "MetricKind")).toEqual(cases("metric-kind").map(pascal));
    expect(goCases("Metric", "MetricError")).toEqual(cases("metric-error").map((c) => `Metric${pascal(c)}`));
    expect(goCases("Request", "RequestError")).toEqual(cases("request-error").map((c) => `Request${pascal(c)}`));
    expect(goCases("Kind", "MessageKind")).toEqual(cases("message-kind").map((c) => `Kind${pascal(c)}`));
    expect(goCases("State", "StateError")).toEqual(cases("state-error").map((c) => `State${pascal(c)}`));
    expect(goCases("Context", "ContextError")).toEqual(cases("context-error").map((c) => `Context${pascal(c)}`));
    const js = readFileSync(path.join(root, "guest-sdks/js/types/plughost-host.d.ts"), "utf8");
    expect(js).toContain(`declare module "${wit.package}/host@${wit.version}"`);
    const union = (t: string) => (new RegExp(`export type ${t} =\\s*([^;]+);`).exec(js)?.[1] ?? "").split("|").map((x) => x.trim().replace(/"/g, "")).filter((x) => x !== "");
    expect(union("RegisterError")).toEqual(cases("register-error"));
    expect(union("MessageError")).toEqual(cases("message-error"));
    expect(union("MetricKind")).toEqual(cases("metric-kind"));
    expect(union("MetricError")).toEqual(cases("metric-error"));
    expect(union("RequestErrorCode")).toEqual(cases("request-error"));
    expect(union("MessageKind")).toEqual(cases("message-kind"));
    expect(union("StateError")).toEqual(cases("state-error"));
    expect(union("ContextError")).toEqual(cases("context-error"));
    // The JS SDK's runtime tables, which turn a thrown payload into a status, follow the WIT order too.
    const sdk = readFileSync(path.join(root, "guest-sdks/js/src/index.js"), "utf8");
    const table = (name: string) => [...(new RegExp(`export const ${name} = \\[([^\\]]*)\\];`).exec(sdk)?.[1] ?? "").matchAll(/"([^"]*)"/g)].map((m) => m[1]);
    expect(table("STATE_ERRORS")).toEqual(cases("state-error"));
    expect(table("CONTEXT_ERRORS")).toEqual(cases("context-error"));
    expect(table("REQUEST_ERRORS")).toEqual(cases("request-error"));
  });

  it("no source outside the generated files spells the versioned interface names or the API version by hand", () => {
    const generated = new Set(Object.keys(generate(witText) as Record<string, string>));
    const roots = ["src", "native/wasmtime/src", "native/c-adapter/src", "native/sandbox-helper/src", "guest-sdks/c"];
    const literal = `@${wit.version}`;
    const offenders: string[] = [];
    const walk = (rel: string): void => {
      for (const name of readdirSync(path.join(root, rel))) {
        const r = path.join(rel, name);
        if (statSync(path.join(root, r)).isDirectory()) walk(r);
        else if (/\.(ts|rs|c|cc|h|mjs)$/.test(name) && !generated.has(r) && readFileSync(path.join(root, r), "utf8").includes(literal)) offenders.push(r);
      }
    };
    for (const r of roots) walk(r);
    expect(offenders).toEqual([]);
  });
});
