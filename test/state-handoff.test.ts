// The hand-off's failures are logged and counted, never fatal (docs/state.md): a snapshot that traps before a
// restart, one larger than the plugin's state quota, a restore that refuses. The plugin goes on each time, its new
// instance without the snapshot (or with the last good one), and plughost_plugin_handoff_total counts the failure.
// Fixture: test/fixtures/c/handoff-faulty (its snapshot misbehaves on demand). v8 in process and wasmtime.
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PluginRegistry, type RegistryOptions } from "../src/index.js";
import { copyPlugin, dec, enc } from "./helpers/plugins.js";
import { pino } from "pino";

const open: PluginRegistry[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) await r.close().catch(() => undefined);
});

describe.each([
  ["v8", { engine: "v8" }],
  ["wasmtime", { engine: "wasmtime" }],
] as const)("hand-off failures (%s)", (_name, engine: RegistryOptions) => {
  /** A registry whose log lines are kept in `lines`. */
  function host(extra = "") {
    const lines: { msg: string; level: number }[] = [];
    const logger = pino({ level: "warn" }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string; level: number }) });
    const r = new PluginRegistry({ logger, cacheDir: false, dataDir: mkdtempSync(path.join(tmpdir(), "plughost-state-")), grants: ["state"], ...engine });
    open.push(r);
    const dir = copyPlugin("test/fixtures/c/handoff-faulty", (t) => t + extra);
    return { r, dir, lines };
  }
  const call = async (r: PluginRegistry, event: string, data = "") => {
    const out = await r.hook("handoff-faulty", event, enc(data));
    if (!out.ok) throw new Error(`${event} returned status ${out.status}`);
    return dec(out.data);
  };
  const failures = async (r: PluginRegistry, op: string) =>
    Number(new RegExp(`plughost_plugin_handoff_total\\{plugin="handoff-faulty",op="${op}",result="failed"\\} (\\d+)`).exec(await r.metricsText())?.[1] ?? 0);

  it("a snapshot that traps: the restart goes on, the new instance gets the last stored snapshot", async () => {
    const { r, dir, lines } = host();
    await r.load(dir);
    await call(r, "bump");
    await r.restart("handoff-faulty"); // stores "1"
    expect(await call(r, "mem")).toBe("1");
    await call(r, "bump");
    await call(r, "arm", "trap");
    await r.restart("handoff-faulty");
    expect(r.info("handoff-faulty").state).toBe("active");
    expect(await call(r, "mem")).toBe("1"); // "2" was never stored
    expect(await failures(r, "snapshot")).toBe(1);
    expect(lines.some((l) => /snapshot before the restart failed/.test(l.msg))).toBe(true);
  });

  it("a snapshot over the plugin's state quota is not stored", async () => {
    const { r, dir, lines } = host("\n[limits]\nstate = \"1KiB\"\n");
    await r.load(dir);
    await call(r, "bump");
    await call(r, "arm", "huge");
    await r.restart("handoff-faulty");
    expect(await call(r, "restored")).toBe("none");
    expect(r.state("handoff-faulty").snapshot()).toBeUndefined();
    expect(await failures(r, "snapshot")).toBe(1);
    expect(lines.some((l) => /65536 bytes, over the plugin's state quota of 1024 bytes/.test(l.msg))).toBe(true);
  });

  it("a restore that refuses (non-zero status): the instance runs without the snapshot", async () => {
    const { r, dir, lines } = host();
    await r.load(dir);
    await call(r, "bump");
    await call(r, "arm", "refuse");
    await r.reload("handoff-faulty");
    expect(r.info("handoff-faulty").state).toBe("active");
    expect(await call(r, "restored")).toBe("refuse");
    expect(await call(r, "mem")).toBe("0");
    expect(await call(r, "bump")).toBe("1");
    expect(await failures(r, "restore")).toBe(1);
    expect(lines.some((l) => /restore returned status 7; the instance runs without the snapshot/.test(l.msg))).toBe(true);
  });
});
