/** plughost profile: load a plugin, call it for N seconds while a sampling profiler watches it, write the profile and print where it spent its time. */
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pino, destination } from "pino";
import { PluginRegistry } from "../runtime/registry.js";
import { MAX_PROFILE_MS, startProfile } from "../observability/profile.js";
import { jsonOption, readHostConfig, splitEvent, usageError, type Command } from "./shared.js";

export const profileCommand: Command = {
  summary: "sample where a plugin spends its time (a V8 CPU profile, or wasmtime's guest profiler)",
  usage: `plughost profile <dir|manifest|name> --event name[=data]... [--hook name[=data]]... [--seconds N] [--engine v8|wasmtime] [--interval µs] [--out file] [--grant cap]... [--config file] [--json]
Loads the plugin in process on --engine (default v8) and calls it with the given events and hooks, in turn, for
N seconds (default 5) while a profiler samples it, then prints the functions by self time (--json: all of them)
and writes the profile (--out):
  v8        V8's CPU profiler, every --interval microseconds (default 100); writes a DevTools CPU profile
            (default <plugin>.cpuprofile; open it in Chrome DevTools' Performance panel or speedscope).
  wasmtime  wasmtime's guest profiler, one sample per epoch tick (1 ms; --interval does not apply); writes a
            Firefox Profiler processed profile (default <plugin>.profile.json; open it at profiler.firefox.com).`,
  options: {
    event: { type: "string", multiple: true },
    hook: { type: "string", multiple: true },
    seconds: { type: "string" },
    interval: { type: "string" },
    engine: { type: "string" },
    out: { type: "string" },
    grant: { type: "string", multiple: true },
    config: { type: "string" },
    ...jsonOption,
  },
  async run(values, positionals) {
    if (positionals.length !== 1) throw usageError("profile needs one plugin directory, manifest or name");
    const seconds = values.seconds === undefined ? 5 : Number(values.seconds);
    if (!(seconds * 1000 >= 1 && seconds * 1000 <= MAX_PROFILE_MS)) throw usageError(`--seconds must be a number from 0.001 to ${MAX_PROFILE_MS / 1000}, got ${String(values.seconds)}`);
    const interval = values.interval === undefined ? 100 : Number(values.interval);
    if (!(interval >= 10 && interval <= 1_000_000)) throw usageError(`--interval must be 10 to 1000000 microseconds, got ${String(values.interval)}`);
    const requests = [
      ...((values.event as string[] | undefined) ?? []).map((e) => ({ kind: "event" as const, ...splitEvent(e) })),
      ...((values.hook as string[] | undefined) ?? []).map((e) => ({ kind: "hook" as const, ...splitEvent(e) })),
    ];
    if (!requests.length) throw usageError("profile needs at least one --event or --hook to call the plugin with");
    const engine = (values.engine as string | undefined) ?? "v8";
    if (engine !== "v8" && engine !== "wasmtime") throw usageError(`--engine must be v8 or wasmtime, got ${engine}`);

    const options = await readHostConfig(values.config as string | undefined);
    const extra = (values.grant as string[] | undefined) ?? [];
    const base = options.grants ?? [];
    const grants = Array.isArray(base) ? [...(base as string[]), ...extra] : { ...base, "*": [...((base as Record<string, readonly string[]>)["*"] ?? []), ...extra] };
    const registry = new PluginRegistry({
      logger: pino({ name: "plughost", level: process.env.PLUGHOST_LOG_LEVEL ?? options.logLevel ?? "warn" }, destination(2)),
      ...options,
      grants,
      // v8: the profiler samples this thread, so the plugin must run on it. wasmtime: the guest profiler samples
      // the plugin's store, on whichever thread runs its calls.
      engine,
      isolation: "in-process",
      requireDeadlines: false,
    });
    try {
      const target = positionals[0]!;
      let where = path.resolve(target);
      if (!existsSync(where) && options.pluginDirs?.length) {
        const found = (await registry.discoverPluginDirs()).find((i) => i.name === target);
        if (found) where = found.manifestPath;
      }
      const handle = await registry.load(where);
      const name = handle.name;
      const recording = await startProfile(registry, name, { samplingIntervalUs: interval });
      const until = performance.now() + seconds * 1000;
      let calls = 0;
      let failures = 0;
      let yielded = performance.now();
      while (performance.now() < until) {
        for (const r of requests) {
          try {
            if (r.kind === "event") await registry.invoke(name, r.name, r.data);
            else await registry.hook(name, r.name, r.data);
          } catch {
            failures++; // a trapped call restarts the plugin (its recovery policy); the profile goes on
          }
          calls++;
        }
        // Let timers and I/O run now and then (a restart's backoff, the logger).
        if (performance.now() - yielded > 20) {
          await new Promise((resolve) => setImmediate(resolve));
          yielded = performance.now();
        }
      }
      const profile = await recording.stop();
      const v8 = profile.format === "v8-cpuprofile";
      const out = path.resolve((values.out as string | undefined) ?? (v8 ? `${name}.cpuprofile` : `${name}.profile.json`));
      writeFileSync(out, JSON.stringify(v8 ? profile.cpuProfile : profile.profile));
      if (values.json) {
        const summary = v8 ? (({ cpuProfile: _omitted, ...rest }) => rest)(profile) : (({ profile: _omitted, ...rest }) => rest)(profile);
        console.log(JSON.stringify({ ...summary, out, callsMade: calls, failedCalls: failures }));
      } else {
        const total = Math.max(1, profile.samples);
        console.log(`profiled ${name} for ${(profile.durationMs / 1000).toFixed(1)} s: ${calls} calls (${failures} failed), ${profile.samples} samples in its calls (${profile.wasmSamples} in Wasm)`);
        if (!v8 && profile.ended) console.log(`  the profile ended early: ${profile.ended}`);
        console.log(`  self%  self ms  function`);
        for (const f of profile.functions.slice(0, 15)) {
          console.log(`${((100 * f.selfSamples) / total).toFixed(1).padStart(7)}  ${f.selfMs.toFixed(1).padStart(7)}  ${f.name}`);
        }
        console.log(v8 ? `wrote ${out}` : `wrote ${out} (open it at https://profiler.firefox.com)`);
      }
      return failures && failures === calls ? 1 : 0;
    } finally {
      await registry.unloadAll().catch(() => undefined);
    }
  },
};
