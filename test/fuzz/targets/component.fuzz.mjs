/**
 * Fuzz target `component`: the v8 engine's component loader (src/engines/v8/engine.ts, compile.ts: header checks,
 * jco's transpile, the glue's import, core module compile and instrumentation, instantiation, the C SDK arena probe)
 * on mutations of real components built from examples/ by setup, then init, one event and one hook on what loads.
 *
 * An input is either a whole component (it starts with `\0asm`) or an edit script applied to one of the example
 * components: byte 0 picks the component, then up to 12 edits of 5 bytes each (kind, 24-bit offset, value): set,
 * xor, insert, delete a run, truncate, or write a LEB128 prefix of 0xff bytes (over-long sizes and counts). Time per
 * input is bounded by fuel (on instantiation, init and each call) and a memory limit, so a mutated loop or a guest
 * that allocates without end becomes a typed FuelExhausted / MemoryLimitExceeded, never a hang.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PlughostError } from "../../../dist/index.js";
import { v8Engine } from "../../../dist/engines/v8/engine.js";
import { clearCompileCache } from "../../../dist/engines/v8/compile.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
/** Small real components (20-30 KB) of two languages and two SDKs; setup builds them (npm test / scripts/setup.mjs). */
const BASES = ["examples/c/hello", "examples/rust/hello", "examples/c/transform", "examples/rust/transform"].map((dir) => {
  const file = `${root}${dir}/plugin.wasm`;
  if (!existsSync(file)) throw new Error(`component fuzz target: ${file} is missing; run \`node scripts/setup.mjs\` first (it builds the examples)`);
  return readFileSync(file);
});

const LIMITS = { fuel: 5_000_000, memoryBytes: 32 * 1024 * 1024, tableElements: 10_000 };

const host = {
  log: () => undefined,
  registerCallback: () => "ok",
  emit: () => ({ ok: true, value: 0 }),
  send: () => ({ ok: true, value: undefined }),
  getConfig: () => "{}",
  getConfigValue: () => undefined,
};

/** The component an input describes. */
export function component(data) {
  if (data.length >= 4 && data[0] === 0 && data[1] === 0x61 && data[2] === 0x73 && data[3] === 0x6d) return data;
  let bytes = Buffer.from(BASES[(data[0] ?? 0) % BASES.length]);
  for (let i = 1; i + 5 <= data.length && i < 1 + 12 * 5; i += 5) {
    const kind = data[i] % 6;
    const at = (data[i + 1] | (data[i + 2] << 8) | (data[i + 3] << 16)) % Math.max(1, bytes.length);
    const v = data[i + 4];
    switch (kind) {
      case 0:
        bytes[at] = v;
        break;
      case 1:
        bytes[at] ^= 1 << (v & 7);
        break;
      case 2:
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([v]), bytes.subarray(at)]);
        break;
      case 3:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + (v & 63)))]);
        break;
      case 4:
        bytes = bytes.subarray(0, Math.max(8, at));
        break;
      default:
        bytes.fill(0xff, at, Math.min(bytes.length, at + 1 + (v & 3)));
        if (at + 1 + (v & 3) < bytes.length) bytes[at + 1 + (v & 3)] = 0x0f;
    }
  }
  return bytes;
}

/** A real component loads and runs: the loader recovered from what the last input did to it. */
async function stillLoads() {
  clearCompileCache();
  let instance;
  try {
    instance = await v8Engine.load({ plugin: "fuzz-check", entryPath: "/fuzz/check.wasm", bytes: new Uint8Array(BASES[0]), capabilities: [], limits: LIMITS, host, isolation: "in-process" });
    const status = await instance.init("0.1.0", "{}");
    if (status !== 0) throw new Error(`example init returned ${status}`);
  } catch (err) {
    // Not a PlughostError on purpose: a typed error here is still a finding (the host is broken, not the input).
    throw new Error(`the unmutated example component does not load (after a tool trapped, the loader must recover): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    await instance?.dispose();
  }
}

// Warm up once: the transpiler loads on first use (seconds), which should not count against one input's time. The
// unmutated example must load and run, or the target tests nothing.
await stillLoads();

/** Loading is asynchronous (the transpiler, the glue's import, instantiation). */
export const fuzzMode = "async";

/** @param {Buffer} data */
export async function fuzz(data) {
  const bytes = component(data);
  let instance;
  try {
    instance = await v8Engine.load({
      plugin: "fuzz",
      entryPath: "/fuzz/plugin.wasm",
      bytes: new Uint8Array(bytes),
      capabilities: [],
      limits: LIMITS,
      host,
      isolation: "in-process",
    });
    await instance.init("0.1.0", "{}");
    await instance.onEvent("greet", Buffer.from("fuzz"));
    await instance.onHook("transform", Buffer.from("fuzz hook data"));
  } catch (err) {
    if (!(err instanceof PlughostError)) throw err;
    // A tool that trapped on this input (a panic in the transpiler) must not break the loads after it.
    if (err.cause instanceof WebAssembly.RuntimeError) await stillLoads();
  } finally {
    await instance?.dispose();
    // Each mutant has its own hash: without this the in-memory compile cache would keep every one.
    clearCompileCache();
  }
}
