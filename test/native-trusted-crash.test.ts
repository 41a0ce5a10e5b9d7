// A trusted native plugin runs inside the host process, so its segfault is
// fatal to that process (documented in docs/native-plugins.md). Shown in a
// child node process; this test process lives on.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fixture, root } from "./native-helpers.js";

const addon = path.join(root, "native", "c-adapter", "build", "Release", "plughost_native.node");

// Loads hostile.so in process through the addon, exactly as the trusted path does, and calls `segv`.
const script = `
const addon = require(${JSON.stringify(addon)});
const lib = addon.open(${JSON.stringify(fixture("hostile"))});
const ids = new Map();
const host = { log() {}, register(name, id) { ids.set(name, id); return 0; }, emit: () => 0, send: () => 0 };
if (addon.init(lib.handle, host, 0x000100, "{}") !== 0) process.exit(10);
console.log("ok returned", addon.bind(lib.handle, ids.get("ok")).call(new Uint8Array(5)));
addon.bind(lib.handle, ids.get("segv")).call(new Uint8Array(0));
console.log("unreachable");
`;

describe("trusted native plugin crash", () => {
  it("a segfault in a trusted plugin kills its host process with SIGSEGV", () => {
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20000 });
    expect(r.stdout).toContain("ok returned 5");
    expect(r.stdout).not.toContain("unreachable");
    expect(r.signal).toBe("SIGSEGV");
    expect(r.status).toBeNull();
  });
});
