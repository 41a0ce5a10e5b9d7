// Timing helpers shared by the benchmarks, and the silent host they load engines with.

/** Host calls that do nothing (and allow everything): engine-level benchmarks measure the call, not the host. */
export function silentHost() {
  return {
    log() {},
    registerCallback: () => "ok",
    emit: () => ({ ok: true, value: 0 }),
    send: () => ({ ok: true, value: undefined }),
    getConfig: () => "{}",
    getConfigValue: () => undefined,
  };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median ns per call of `fn`, over several timed batches after a warm-up. */
export function timePerCall(fn, options = {}) {
  return median(samplesPerCall(fn, options));
}

/** min, median and max of samples: every figure is printed with its spread. */
export function spread(xs) {
  return { min: Math.min(...xs), median: median(xs), max: Math.max(...xs), n: xs.length };
}

/** Per-call ns samples of `fn` (one per batch), for figures printed with their spread. */
export function samplesPerCall(fn, { batch = 200_000, batches = 9 } = {}) {
  for (let i = 0; i < batch; i++) fn();
  const samples = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  return samples;
}

/**
 * The raw V8 floor: a core module called directly, no component glue, no metering. The call copies `data` into its
 * memory and sums the bytes (masked to a non-negative i32). bench/spine.mjs times it as `floor_ns`, bench/peers.mjs
 * as `peer_raw_v8_ns`.
 */
export async function rawV8Floor(data) {
  const { parse } = await import("@bytecodealliance/jco-transpile/wasm-tools");
  const bytes = await parse(`(module (memory (export "memory") 1)
    (func (export "sum") (param $p i32) (param $n i32) (result i32) (local $s i32)
      (block $done (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $s (i32.add (local.get $s) (i32.load8_u (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
      (i32.and (local.get $s) (i32.const 0x7fffffff))))`);
  const { instance } = await WebAssembly.instantiate(bytes);
  const { memory, sum } = instance.exports;
  let view = new Uint8Array(memory.buffer);
  return () => {
    if (view.length === 0) view = new Uint8Array(memory.buffer);
    view.set(data, 1024);
    return sum(1024, data.length);
  };
}

/** The 1-minute load average and core count: a figure taken on a busy machine says so. */
export async function loadNote() {
  const os = await import("node:os");
  return `load average ${os.loadavg()[0].toFixed(2)} on ${os.availableParallelism?.() ?? os.cpus().length} cores`;
}

/** One line: name, median, [min–max] over n rounds, goal; returns the median. */
export function report(name, xs, { unit = "ns", goal = "", digits } = {}) {
  const s = spread(xs);
  const d = digits ?? (unit === "ns" ? 0 : unit === "x" ? 2 : 1);
  const f = (v) => v.toFixed(d);
  console.log(`  ${name.padEnd(34)} ${f(s.median).padStart(10)} ${unit}  [${f(s.min)}–${f(s.max)}, n=${s.n}]${goal ? `  goal ${goal}` : ""}`);
  return s.median;
}
