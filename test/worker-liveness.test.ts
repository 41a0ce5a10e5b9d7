import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pluginDir } from "./helpers/plugins.js";

// A worker-isolated instance keeps the host process alive while a call is in flight, and not once it is idle
// (the worker is referenced per burst of calls and let go after the event loop had a turn, not per call).
const root = path.resolve(import.meta.dirname, "..");
const PROBE = path.join(pluginDir("test/fixtures/c/probe"), "plugin.wasm");
const tmp = mkdtempSync(path.join(tmpdir(), "plughost-worker-liveness-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Run `body` in a child node process with a loaded, initialised worker instance `probe` (never disposed). */
function child(body: string) {
  const script = path.join(tmp, `child-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(
    script,
    `import { v8Engine } from ${JSON.stringify(path.join(root, "dist/engines/v8/engine.js"))};
const host = { log() {}, registerCallback: () => "ok", emit: () => ({ ok: true, value: 0 }), send: () => ({ ok: true, value: undefined }), getConfig: () => "{}", getConfigValue: () => undefined };
const probe = await v8Engine.load({ plugin: "probe", entryPath: ${JSON.stringify(PROBE)}, capabilities: [], limits: { fuel: 500_000_000, deadlineMs: 60_000 }, host, cacheDir: ${JSON.stringify(path.join(tmp, "cache"))}, isolation: "worker" });
await probe.init("0.1.0", "{}");
${body}
`,
  );
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [script], { encoding: "utf8", timeout: 30_000 });
  return { status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout, ms: performance.now() - t0 };
}

describe("worker isolation and the host's event loop", () => {
  it("an idle worker does not keep the host alive, after a burst of awaited calls or after one call", () => {
    const r = child(`let sum = 0;
for (let i = 0; i < 2000; i++) sum += await probe.onEvent("len", new Uint8Array(3));
console.log("burst", sum);
setTimeout(() => probe.onEvent("len", new Uint8Array(5)).then((n) => console.log("later", n)), 20);`);
    expect(r.signal, `the child did not exit by itself\n${r.stderr}`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("burst 6000");
    expect(r.stdout).toContain("later 5");
  });

  it("a call in flight keeps the host alive until it is answered, with nothing else pending", () => {
    // Called once the idle worker was let go; the spin runs until its fuel is gone (a few hundred ms), and no timer or
    // handle but the worker's is left meanwhile.
    const r = child(`setTimeout(() => probe.onEvent("spin", new Uint8Array(0)).then(() => console.log("answered"), (e) => console.log("answered", e.code)), 50);`);
    expect(r.signal, `the child did not exit by itself\n${r.stderr}`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("answered E_FUEL_EXHAUSTED");
  });
});
