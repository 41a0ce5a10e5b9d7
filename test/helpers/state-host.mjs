// One plughost process for the state tests (test/state-process.test.ts): a registry (the compiled dist/) over the
// store in PLUGHOST_STATE_HOST, with the state-counter plugin loaded, calling its hook `count` without pause and
// writing each value a returned call reported as a line on stdout ("count <n>"), until it is killed.
//
// PLUGHOST_STATE_HOST = { dir, dataDir, cacheDir?, state?: { backend, url } }
import { PluginRegistry } from "../../dist/index.js";

const cfg = JSON.parse(process.env.PLUGHOST_STATE_HOST ?? "{}");
const registry = new PluginRegistry({
  logLevel: "silent",
  cacheDir: cfg.cacheDir ?? false,
  dataDir: cfg.dataDir,
  ...(cfg.state ? { state: cfg.state } : {}),
  grants: ["state", "context:*", "context:write:*"],
});
const counter = await registry.load(cfg.dir);
const dec = new TextDecoder();
const empty = new Uint8Array();
process.stdout.write("ready\n");
for (;;) {
  const out = counter.hookSync("count", empty);
  if (!out.ok) throw new Error(`count returned status ${out.status}`);
  // A line is written only after the call returned: the count it names was durable by then.
  process.stdout.write(`count ${dec.decode(out.data)}\n`);
  // Writes to a pipe are synchronous on Linux; a turn of the event loop now and then all the same.
  if (Number(dec.decode(out.data)) % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
}
