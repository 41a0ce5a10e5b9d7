// Live configuration (docs/config.md): config_update_ms is registry.setConfig until the plugin has acknowledged the
// new configuration through its on-config-changed export (the C fixture state-counter on v8, in process): the
// merge, validation and provenance, the JSON handed over and the guest's call, each update a different value.
// Beside it, config_update_reload_ms: the same for a plugin without the export (config-echo), which is reloaded.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { PluginRegistry } from "../dist/index.js";
import { median } from "./stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const COUNTER = path.join(root, "test/fixtures/c/state-counter");
const ECHO = path.join(root, "test/fixtures/c/config-echo");

async function timeUpdates(registry, name, n, expect) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const update = await registry.setConfig(name, { round: i, label: `update-${i}` });
    times.push(performance.now() - t0);
    if (update.delivered !== expect) throw new Error(`${name}: delivered ${update.delivered}, expected ${expect}`);
  }
  return times;
}

export async function run() {
  const dataDir = mkdtempSync(path.join(tmpdir(), "plughost-bench-config-"));
  const registry = new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false, dataDir, grants: ["state", "context:*", "context:write:*"] });
  try {
    await registry.loadAll([COUNTER, ECHO]);
    await timeUpdates(registry, "state-counter", 50, "callback"); // warm-up
    const callback = await timeUpdates(registry, "state-counter", 500, "callback");
    // The plugin holds the last one: its `seen` hook answers the configuration it took.
    const seen = new TextDecoder().decode((await registry.hook("state-counter", "seen")).data);
    if (JSON.parse(seen).round !== 499) throw new Error(`state-counter holds ${seen}`);
    await timeUpdates(registry, "config-echo", 3, "reload");
    const reload = await timeUpdates(registry, "config-echo", 20, "reload");
    const sorted = [...callback].sort((a, b) => a - b);
    const out = {
      config_update_ms: Number(median(callback).toFixed(4)),
      config_update_p99_ms: Number(sorted[Math.floor(sorted.length * 0.99)].toFixed(4)),
      config_update_reload_ms: Number(median(reload).toFixed(3)),
    };
    console.log(`config_update_ms ${out.config_update_ms} (p99 ${out.config_update_p99_ms}; goal <= 5) via on-config-changed; a reload instead: ${out.config_update_reload_ms} ms`);
    return out;
  } finally {
    await registry.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
