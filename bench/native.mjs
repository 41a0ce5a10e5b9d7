// Native plugins: in-process call cost against the empty node-api floor, and
// the sandbox helper's round trip (one call at a time through the shared
// slot, the same over the pipe alone, and pipelined), plus helper spawn +
// init time. Uses test/fixtures/native/build/basic.so (its
// `echo` callback returns the length of the 16 bytes it gets).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createNativeEngine, nativeEngine, loadAddon } from "../dist/engines/native/engine.js";
import { median, silentHost, timePerCall } from "./stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SO = path.join(root, "test", "fixtures", "native", "build", "basic.so");
const DATA = new Uint8Array(16).fill(7);

const request = (trust) => ({ plugin: "bench-native", entryPath: SO, capabilities: [], limits: {}, host: silentHost(), trust });

async function inProcess() {
  const addon = loadAddon();
  const noop = addon.noop;
  const floor = timePerCall(() => noop(0, DATA), { batch: 1_000_000, batches: 9 });
  const inst = await nativeEngine.load(request("trusted"));
  await inst.init("0.1.0", "{}");
  const call = inst.boundCall("echo");
  const raw = timePerCall(() => call(DATA), { batch: 1_000_000, batches: 9 });
  const viaEngine = timePerCall(() => inst.onEventSync("echo", DATA), { batch: 1_000_000, batches: 9 });
  await inst.teardown();
  await inst.dispose();
  return { floor, raw, viaEngine };
}

async function sandboxed(engine = nativeEngine) {
  const spawnMs = [];
  let inst;
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    const next = await engine.load(request("untrusted"));
    await next.init("0.1.0", "{}");
    spawnMs.push(performance.now() - t0);
    if (inst) await inst.dispose();
    inst = next;
  }
  const id = inst.callbackId("echo");
  const client = inst.client;
  // One call at a time, as EngineInstance callers do.
  const serial = [];
  for (let b = 0; b < 9; b++) {
    const n = 5000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await inst.onEvent("echo", DATA);
    if (b > 0) serial.push(Number(process.hrtime.bigint() - t0) / n);
  }
  // Pipelined: many calls in flight on the client's promise API.
  const piped = [];
  for (let b = 0; b < 9; b++) {
    const n = 20000;
    const t0 = process.hrtime.bigint();
    const all = new Array(n);
    for (let i = 0; i < n; i++) all[i] = client.call(id, DATA);
    await Promise.all(all);
    if (b > 0) piped.push(Number(process.hrtime.bigint() - t0) / n);
  }
  await inst.teardown();
  await inst.dispose();
  return { serial: median(serial), piped: median(piped), spawn: median(spawnMs) };
}

// The pipelined figure's own floor: 20,000 promises settled later and awaited with Promise.all.
async function promiseFloor() {
  const samples = [];
  for (let b = 0; b < 9; b++) {
    const n = 20000;
    const t0 = process.hrtime.bigint();
    const settle = new Array(n);
    const all = new Array(n);
    for (let i = 0; i < n; i++) all[i] = new Promise((r) => (settle[i] = r));
    setImmediate(() => settle.forEach((r, i) => r(i)));
    await Promise.all(all);
    if (b > 0) samples.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return median(samples);
}

export async function run() {
  const a = await inProcess();
  const s = await sandboxed();
  // For comparison: no shared slot, every call over the pipe (the helper blocks between calls).
  const pipe = await sandboxed(createNativeEngine({ sandbox: { sharedMemory: false } }));
  const floor = await promiseFloor();
  console.log(`native: empty node-api call floor       ${a.floor.toFixed(1)} ns`);
  console.log(`native: in-process 16 B call (raw)      ${a.raw.toFixed(1)} ns   (goal ≤ 60 ns)`);
  console.log(`native: in-process via onEventSync      ${a.viaEngine.toFixed(1)} ns`);
  console.log(`native: sandboxed, one at a time        ${s.serial.toFixed(0)} ns   (goal ≤ 20,000 ns; shared slot)`);
  console.log(`native: sandboxed, one at a time, pipe  ${pipe.serial.toFixed(0)} ns   (no shared slot)`);
  console.log(`native: sandboxed, pipelined            ${s.piped.toFixed(0)} ns   (goal ≤ 1,000 ns)`);
  console.log(`native: promise + Promise.all floor      ${floor.toFixed(0)} ns   (the pipelined loop without any plugin)`);
  console.log(`native: sandboxed spawn + init          ${s.spawn.toFixed(2)} ms`);
  return {
    native_inprocess_ns: a.raw,
    native_inprocess_engine_ns: a.viaEngine,
    native_sandboxed_ns: s.serial,
    native_sandboxed_pipe_ns: pipe.serial,
    native_sandboxed_pipelined_ns: s.piped,
    native_sandboxed_spawn_ms: s.spawn,
    native_napi_floor_ns: a.floor,
    native_promise_floor_ns: floor,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await run();
