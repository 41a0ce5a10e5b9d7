// An example host application: it imports plughost exactly as a user would,
// loads the C and JS example plugins, dispatches events, runs a hook chain,
// prints the results and tears everything down.
import { PluginRegistry } from "plughost";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);

const registry = new PluginRegistry({
  // The host's grants: what plugins may have if their manifests ask.
  grants: ["stdio", "clock", "random"],
  defaultLimits: { fuel: 50_000_000, memoryBytes: 64 * 1024 * 1024 },
});
registry.on("state", ({ plugin, to }) => to === "active" && console.log(`  ✓ ${plugin} is active`));

const plugins = ["examples/c/hello", "examples/c/transform", "examples/js/hello", "examples/js/transform"]
  .map((p) => path.join(root, p))
  .filter((p) => existsSync(path.join(p, "plugin.wasm")));

console.log(`plughost ${PluginRegistry.apiVersion}: loading ${plugins.length} plugins`);
for (const dir of plugins) await registry.load(dir);

console.log("\ndispatch greet(\"world\"):");
for (const r of await registry.dispatch("greet", enc("world"))) {
  console.log(`  ${r.plugin}: ${r.error ? `error ${r.error.code}` : `status ${r.status}`}`);
}

console.log("\nhook greet(\"plughost\") per plugin:");
for (const name of registry.subscribers("greet")) {
  const out = await registry.hook(name, "greet", enc("plughost"));
  console.log(`  ${name}: ${out.ok ? JSON.stringify(dec(out.data)) : `err ${out.status}`}`);
}

const chain = await registry.runHook("transform", enc("chained through every transform hook"));
console.log(`\nrunHook transform: ${JSON.stringify(dec(chain.data))} via ${registry.subscribers("transform").join(" → ")}`);

const hello = registry.get("hello-c");
const t0 = performance.now();
const N = 200_000;
const data = new Uint8Array(16);
const transform = registry.get("transform-c");
for (let i = 0; i < N; i++) transform.invokeSync("transform", data);
console.log(`\n${N} synchronous dispatches to transform-c: ${(((performance.now() - t0) * 1e6) / N).toFixed(0)} ns each`);
console.log(`hello-c metrics: ${JSON.stringify({ calls: hello.metrics.calls, logs: hello.metrics.logs })}`);

try {
  await registry.unloadAll();
} catch (err) {
  console.log(`teardown reported: ${err.code}: ${err.message}`);
}
console.log(`\nunloaded: ${registry.list().map((p) => `${p.name}=${p.state}`).join(", ")}`);
