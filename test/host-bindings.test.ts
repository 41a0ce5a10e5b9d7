import { spawnSync } from "node:child_process";
import path from "node:path";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { root } from "./helpers/plugins.js";

describe("host-bindings", () => {
  it("match what the generator makes from wit/ (they never drift)", () => {
    const r = spawnSync(process.execPath, [path.join(root, "scripts/gen-host-bindings.mjs"), "--check"], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("are marked generated and describe the host interface", () => {
    const host = readFileSync(path.join(root, "host-bindings/interfaces/plughost-plugin-host.d.ts"), "utf8");
    expect(host.startsWith("// GENERATED")).toBe(true);
    for (const fn of ["log", "registerCallback", "emit", "send", "getConfig", "getConfigValue"]) expect(host).toContain(`export function ${fn}(`);
  });
});
