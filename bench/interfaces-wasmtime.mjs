// App-defined WIT interfaces on the wasmtime engine (docs/host-interfaces.md), medians:
// - host_iface_call_wasmtime_ns: the rust-mirror guest calls the host's calc.add(u32, u32) -> u32 in a loop
//   (mirror.add-loop), per call, on the synchronous path (the guest runs on the JS thread and calls JS directly);
// - host_iface_call_wasmtime_async_ns: the same on the asynchronous path (each call crosses to the JS thread and back);
// - host_iface_record_wasmtime_ns: kinds.echo-item with a 4-field record (a 32-byte string) in and out, per call;
// - typed_export_call_wasmtime_ns: the host calls mirror.touch(string) synchronously (no host call inside).
// The implementations are bare functions (the engine's cost, without the registry's call pipeline).
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { median, silentHost } from "./stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MIRROR_WASM = path.join(root, "test/fixtures/iface/rust-mirror/plugin.wasm");
const MIRROR = "acme:app/mirror@1.0.0";

const stub = (id) => {
  const [pkg, rest] = id.split("/");
  const [name, version] = rest.split("@");
  return { package: pkg, name, version, types: new Map(), functions: [] };
};
const binding = (id, fns) => [id, { iface: stub(id), importedAs: id, functions: new Map(Object.entries(fns)) }];

/** Median ms of `fn()` over `runs` runs after two warm-ups. */
async function timeMs(fn, runs = 9) {
  await fn();
  await fn();
  const xs = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

/** ns per guest → host call: a loop of n calls against a loop of none (the export call itself). */
async function perCall(loop, n, runs) {
  const full = await timeMs(() => loop(n), runs);
  const empty = await timeMs(() => loop(0), runs);
  return Math.max(0, ((full - empty) * 1e6) / n);
}

export async function run() {
  if (!existsSync(path.join(root, "dist/engines/wasmtime/engine.js")) || !existsSync(MIRROR_WASM)) {
    console.log("interfaces-wasmtime: skipped (build the library and the iface fixtures: node scripts/setup.mjs)");
    return {};
  }
  const { wasmtimeEngine } = await import(path.join(root, "dist/engines/wasmtime/engine.js"));
  const echo = (args) => args[0];
  const kinds = Object.fromEntries(
    ["echo-scalars", "echo-string", "echo-bytes", "echo-item", "echo-items", "echo-shape", "echo-color", "echo-perms", "echo-maybe", "echo-outcome", "echo-pair"].map((n) => [n, echo]),
  );
  kinds["many-args"] = () => 0n;
  const interfaces = {
    imports: new Map([binding("acme:app/calc@1.0.0", { add: (args) => args[0] + args[1] }), binding("acme:app/kinds@1.0.0", kinds)]),
    exports: new Map(),
  };
  const bytes = new Uint8Array(readFileSync(MIRROR_WASM));
  const inst = await wasmtimeEngine.load({ plugin: "bench-mirror", entryPath: MIRROR_WASM, bytes, capabilities: [], limits: {}, host: silentHost(), interfaces });
  await inst.init("0.1.0", "{}");
  try {
    const sync = await perCall((n) => inst.callExportSync(MIRROR, "add-loop", [n]), 200_000, 9);
    const async_ = await perCall((n) => inst.callExport(MIRROR, "add-loop", [n]), 2_000, 5);
    const item = { id: 42n, name: "x".repeat(32), tags: ["a", "b"], weight: 1.5 };
    const record = await perCall((n) => inst.callExportSync(MIRROR, "item-loop", [item, n]), 50_000, 9);
    const s = "a string argument";
    const typed = await timeMs(() => {
      for (let i = 0; i < 100_000; i++) inst.callExportSync(MIRROR, "touch", [s]);
    });
    const out = {
      host_iface_call_wasmtime_ns: Math.round(sync),
      host_iface_call_wasmtime_async_ns: Math.round(async_),
      host_iface_record_wasmtime_ns: Math.round(record),
      typed_export_call_wasmtime_ns: Math.round((typed * 1e6) / 100_000),
    };
    console.log(out);
    return out;
  } finally {
    await inst.dispose();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
