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
export function timePerCall(fn, { batch = 200_000, batches = 9 } = {}) {
  for (let i = 0; i < batch; i++) fn();
  const samples = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  return median(samples);
}
