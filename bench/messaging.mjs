// Messaging (docs/messaging.md): request_roundtrip_ns, one C plugin asking another for 16 bytes and getting 16 bytes
// back, both on in-process v8 (test/fixtures/c/request-caller's `ask-n` event makes n requests in a loop to
// test/fixtures/c/request-responder's `echo` hook; the time per request is the batch's over n). Also, for comparison,
// the host's own registry.request to the same hook (a promise per request) and a plain hookSync of that hook.
import path from "node:path";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { PluginRegistry } from "../dist/index.js";
import { median } from "./stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CALLER = path.join(root, "test/fixtures/c/request-caller");
const RESPONDER = path.join(root, "test/fixtures/c/request-responder");

function copy(dir, from, name) {
  const to = path.join(dir, name);
  cpSync(from, to, { recursive: true });
  const toml = path.join(to, "plugin.toml");
  writeFileSync(toml, readFileSync(toml, "utf8").replace(/^name = ".*"$/m, `name = "${name}"`));
  return to;
}

/** Median, lowest and highest of 31 batches of `per()` (ns per unit), after a warm-up. */
async function sample(per, warm = 20) {
  for (let i = 0; i < warm; i++) await per();
  const xs = [];
  for (let r = 0; r < 31; r++) xs.push(await per());
  xs.sort((a, b) => a - b);
  return { median: median(xs), lo: xs[0], hi: xs[xs.length - 1] };
}

const fmt = (s) => `${s.median.toFixed(0)} ns (${s.lo.toFixed(0)}–${s.hi.toFixed(0)})`;

export async function run() {
  const dir = mkdtempSync(path.join(tmpdir(), "plughost-bench-messaging-"));
  const registry = new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false, engine: "v8", isolation: "in-process" });
  try {
    const asker = await registry.load(copy(dir, CALLER, "asker"));
    const resp = await registry.load(copy(dir, RESPONDER, "resp"));
    const payload = "0123456789abcdef"; // 16 bytes each way
    const N = 2_000;
    const askN = new TextEncoder().encode(`${N}\nresp\necho\n0\n${payload}`);
    const status = asker.invokeSync("ask-n", askN);
    if (status !== 0) throw new Error(`ask-n failed with status ${status}`);
    const one = await asker.hook("ask", new TextEncoder().encode(`resp\necho\n0\n${payload}`));
    if (!one.ok || new TextDecoder().decode(one.data) !== payload) throw new Error(`the answer was not the 16 bytes asked for: ${JSON.stringify(one)}`);

    const roundtrip = await sample(() => {
      const t0 = process.hrtime.bigint();
      asker.invokeSync("ask-n", askN);
      return Number(process.hrtime.bigint() - t0) / N;
    });
    const data = new TextEncoder().encode(payload);
    const host = await sample(async () => {
      const n = 2_000;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await registry.request("resp", "echo", data);
      return Number(process.hrtime.bigint() - t0) / n;
    });
    const bare = await sample(() => {
      const n = 20_000;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) resp.hookSync("echo", data);
      return Number(process.hrtime.bigint() - t0) / n;
    });
    console.log("messaging (medians of 31 batches, lowest–highest):");
    console.log(`  request_roundtrip_ns     ${fmt(roundtrip)}   plugin asks plugin, 16 B each way (goal ≤ 1,000 ns)`);
    console.log(`  request_host_ns          ${fmt(host)}   registry.request to the same hook (one promise per request)`);
    console.log(`  request_target_hook_ns   ${fmt(bare)}   hookSync of the target's echo alone`);
    return {
      request_roundtrip_ns: roundtrip.median,
      request_roundtrip_ns_min: roundtrip.lo,
      request_roundtrip_ns_max: roundtrip.hi,
      request_host_ns: host.median,
      request_target_hook_ns: bare.median,
    };
  } finally {
    await registry.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await run();
  console.log(JSON.stringify(results));
}
