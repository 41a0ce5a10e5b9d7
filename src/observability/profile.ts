/**
 * Where a plugin spends its time. The profile's format depends on the plugin's engine (its `format` field):
 *
 * - **v8** (`format: "v8-cpuprofile"`): V8's CPU profiler (node:inspector) samples the host thread while the
 *   plugin runs, and the samples taken inside that plugin's calls are kept, from its first Wasm frame down (the
 *   Wasm functions, and the host functions they call). Other plugins' calls and the host's own work are left out,
 *   even when they run the same Wasm module. The result is a Chrome DevTools `.cpuprofile` and a table of
 *   functions. Plugins on v8 can be profiled in process or in a worker (the worker then runs the profiler on its
 *   own thread). Samples are attributed by time: while a profile runs, the v8 engine notes when each call into a
 *   guest starts and ends (engines/v8/guest-activity.ts), whichever way it was made (invoke, dispatch's fast path,
 *   a message, a sync call).
 * - **wasmtime** (`format: "firefox-profiler"`): wasmtime's guest profiler samples the plugin's own store, one
 *   sample of its Wasm stack per epoch tick (1 ms) while one of its calls runs, from the store's epoch deadline
 *   callback (native/wasmtime/src/profile.rs), on whichever thread runs the call. The result is the Firefox
 *   Profiler's "processed profile" JSON (open it at https://profiler.firefox.com) and the same table of functions.
 *   Only the plugin's own calls are sampled, by construction.
 */
import { Session } from "node:inspector/promises";
import { ProfilingUnsupported } from "../contract/errors.js";
import type { PluginRegistry } from "../runtime/registry.js";
import { startTimeline, stopTimeline, type GuestTimeline } from "../engines/v8/guest-activity.js";
import { workersByPlugin, type WorkerInstance } from "../engines/v8/worker/host.js";
import { wasmtimeByPlugin } from "../engines/wasmtime/instance.js";

/** A node of a V8 CPU profile (the DevTools protocol's `Profiler.ProfileNode`). */
export interface CpuProfileNode {
  /** Unique in its profile. */
  id: number;
  /** The function: its name, and where it is (`wasm://wasm/<hash>` for Wasm). */
  callFrame: { functionName: string; scriptId: string; url: string; lineNumber: number; columnNumber: number };
  /** Samples whose leaf this node is. */
  hitCount?: number;
  /** The ids of the functions it called. */
  children?: number[];
}

/** A V8 CPU profile (`Profiler.Profile`): save it as JSON with the `.cpuprofile` extension to open it in DevTools. */
export interface CpuProfile {
  /** The call tree; the first node is the root. */
  nodes: CpuProfileNode[];
  /** When sampling started, in microseconds on the monotonic clock. */
  startTime: number;
  /** When it ended, on the same clock. */
  endTime: number;
  /** The leaf node of each sample. */
  samples: number[];
  /** Microseconds since the previous sample (the first: since `startTime`). */
  timeDeltas: number[];
}

/** One function of the plugin's profile. */
export interface ProfiledFunction {
  /** The function's name (a Wasm function's from the name section, else `wasm-function[index]`); host functions called from Wasm are prefixed `host: `. */
  name: string;
  /** Where it is: `wasm://wasm/<module hash>` for Wasm, the script URL for host functions. */
  url: string;
  /** Samples in which it was running itself. */
  selfSamples: number;
  /** Those samples' time, in milliseconds. */
  selfMs: number;
  /** Samples in which it was on the stack. */
  totalSamples: number;
}

/** What `profilePlugin` and `ProfileRecording.stop` give: a v8 plugin's or a wasmtime plugin's profile (`format`). */
export type PluginProfile = V8PluginProfile | WasmtimePluginProfile;

/** A v8 plugin's profile: V8's CPU profiler, filtered to the plugin's calls. */
export interface V8PluginProfile {
  /** A Chrome DevTools CPU profile (`cpuProfile`). */
  format: "v8-cpuprofile";
  /** The plugin profiled. */
  plugin: string;
  /** The profile's length, in milliseconds. */
  durationMs: number;
  /** The sampling interval asked for, in microseconds. */
  samplingIntervalUs: number;
  /** Samples taken in the plugin's calls (Wasm or host side). */
  samples: number;
  /** Of those, samples with the plugin's Wasm on the stack. */
  wasmSamples: number;
  /** The plugin's calls seen while profiling. */
  calls: number;
  /** True when the calls were so many that the timeline stopped recording (`MAX_SPANS`): later samples are missing. */
  truncated: boolean;
  /** By self time, most first. */
  functions: ProfiledFunction[];
  /** The samples kept, as a DevTools CPU profile rooted at `(plugin <name>)`. */
  cpuProfile: CpuProfile;
}

/** One thread of a Firefox Profiler processed profile: the parts `WasmtimePluginProfile.functions` is read from. */
export interface FirefoxProfileThread {
  name?: string;
  /** One entry per sample: its stack (an index into `stackTable`, null for an empty stack) and time in ms. */
  samples: { length?: number; stack: (number | null)[]; time?: number[]; timeDeltas?: number[]; weight?: number[] | null };
  /** Stacks as a prefix tree: each entry's frame and its caller's stack. */
  stackTable: { length?: number; frame: number[]; prefix: (number | null)[] };
  frameTable: { length?: number; func: number[] };
  /** Function names as indices into the string table; `resource` points at the module. */
  funcTable: { length?: number; name: number[]; resource?: number[] };
  resourceTable?: { length?: number; name: number[] };
  /** The string table (older format versions keep it per thread, newer in `shared`). */
  stringArray?: string[];
  [key: string]: unknown;
}

/** A Firefox Profiler "processed profile" (https://github.com/firefox-devtools/profiler, docs-developer/processed-profile-format.md). */
export interface FirefoxProfile {
  meta: { interval: number; product?: string; version?: number; startTime?: number; [key: string]: unknown };
  libs?: unknown[];
  threads: FirefoxProfileThread[];
  shared?: { stringArray?: string[]; [key: string]: unknown };
  [key: string]: unknown;
}

/** A wasmtime plugin's profile: wasmtime's guest profiler, sampling the plugin's own store. */
export interface WasmtimePluginProfile {
  /** A Firefox Profiler processed profile (`profile`): save it as JSON and open it at https://profiler.firefox.com. */
  format: "firefox-profiler";
  /** The plugin profiled. */
  plugin: string;
  /** The profile's length, in milliseconds. */
  durationMs: number;
  /** The sampling interval, in microseconds: the engine's epoch tick (1000), whatever was asked for. */
  samplingIntervalUs: number;
  /** Samples taken (only ever while one of the plugin's calls ran Wasm). */
  samples: number;
  /** Of those, samples with the plugin's Wasm on the stack (all, in practice). */
  wasmSamples: number;
  /**
   * Set when the profile ended before `stop()`, with why: the plugin was unloaded, reloaded or restarted after a
   * fault while profiled. The profile then holds what was sampled until then.
   */
  ended?: string;
  /** By self time, most first; `url` is `wasm-module:<core module name>`. */
  functions: ProfiledFunction[];
  /** The profile as wasmtime wrote it. */
  profile: FirefoxProfile;
}

/** Options of `startProfile` and `profilePlugin`. */
export interface ProfileOptions {
  /** Microseconds between samples; default 100 (v8). wasmtime samples once per epoch tick (1 ms) whatever this says. */
  samplingIntervalUs?: number;
}

/** A profile being recorded (`startProfile`). */
export interface ProfileRecording {
  /** The plugin being profiled. */
  readonly plugin: string;
  /** Stop sampling and build the plugin's profile. */
  stop(): Promise<PluginProfile>;
}

/** The longest profile `profilePlugin` takes, in milliseconds (10 minutes): samples are kept in memory. */
export const MAX_PROFILE_MS = 600_000;

const profiling = new WeakMap<PluginRegistry, Set<string>>();
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Start sampling `name`'s calls on `registry`.
 * @throws {@link PluginNotFound} when no plugin of that name is tracked.
 * @throws {@link ProfilingUnsupported} when it runs on neither v8 nor wasmtime (the native engine), is not running,
 *   or is already being profiled.
 */
export async function startProfile(registry: PluginRegistry, name: string, options: ProfileOptions = {}): Promise<ProfileRecording> {
  const info = registry.info(name); // PluginNotFound
  if (info.engine !== "v8" && info.engine !== "wasmtime") {
    throw new ProfilingUnsupported(`it runs on ${info.engine}; only plugins on v8 or wasmtime can be profiled (load it with engine "v8" or "wasmtime")`, { plugin: name });
  }
  const busy = profiling.get(registry) ?? new Set<string>();
  if (busy.has(name)) throw new ProfilingUnsupported("a profile of this plugin is already running; stop it first", { plugin: name });
  if (info.engine === "wasmtime") return startWasmtime(registry, name, busy);
  const interval = Math.max(10, Math.round(options.samplingIntervalUs ?? 100));
  if (info.isolation === "worker") return startInWorker(registry, name, interval, busy);

  // When each guest ran, on performance.now()'s clock; the profiler's is the monotonic clock in µs.
  const timeline = startTimeline();
  const offsetUs = nowUs() - performance.now() * 1000;
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval });
    await session.post("Profiler.start");
  } catch (err) {
    stopTimeline(timeline);
    session.disconnect();
    throw err;
  }
  busy.add(name);
  profiling.set(registry, busy);
  let stopped: Promise<PluginProfile> | undefined;
  return {
    plugin: name,
    stop: () =>
      (stopped ??= (async () => {
        try {
          const { profile } = (await session.post("Profiler.stop")) as { profile: CpuProfile };
          stopTimeline(timeline);
          return build(name, profile, timeline, offsetUs, interval);
        } finally {
          stopTimeline(timeline);
          busy.delete(name);
          session.disconnect();
        }
      })()),
  };
}

/** What a worker answers to OP.PROFILE (worker/entry.ts `profileOp`). */
interface WorkerAnswer {
  error?: string;
  profile?: CpuProfile;
  timeline?: GuestTimeline;
  offsetUs?: number;
}

/** The plugin runs in a worker: the worker samples its own thread, in order with the plugin's calls. */
async function startInWorker(registry: PluginRegistry, name: string, interval: number, busy: Set<string>): Promise<ProfileRecording> {
  const live = workersByPlugin.get(name);
  if (!live || live.size !== 1) {
    const why = live ? `${live.size} workers run a plugin named ${name} (in more than one registry); profile it where only one does` : "its worker is not running; load or resume it first";
    throw new ProfilingUnsupported(why, { plugin: name });
  }
  const worker: WorkerInstance = [...live][0]!;
  const ask = async (intervalUs: number): Promise<WorkerAnswer> => {
    let answer: WorkerAnswer;
    try {
      answer = JSON.parse(new TextDecoder().decode(await worker.profile(intervalUs))) as WorkerAnswer;
    } catch (err) {
      throw new ProfilingUnsupported("the plugin's worker ended during the profile (a fault, a restart or a reload); profile it again", { plugin: name, cause: err });
    }
    if (answer.error !== undefined) throw new ProfilingUnsupported(`the worker's profiler: ${answer.error}`, { plugin: name });
    return answer;
  };
  await ask(interval);
  busy.add(name);
  profiling.set(registry, busy);
  let stopped: Promise<PluginProfile> | undefined;
  return {
    plugin: name,
    stop: () =>
      (stopped ??= (async () => {
        try {
          const a = await ask(0);
          return build(name, a.profile!, a.timeline!, a.offsetUs!, interval);
        } finally {
          busy.delete(name);
        }
      })()),
  };
}

/** The plugin runs on wasmtime: its instance's guest profiler samples its store (native/wasmtime/src/profile.rs). */
function startWasmtime(registry: PluginRegistry, name: string, busy: Set<string>): ProfileRecording {
  const live = wasmtimeByPlugin.get(name);
  if (!live || live.size !== 1) {
    const why = live
      ? `${live.size} wasmtime instances of a plugin named ${name} are live (more than one registry, or a reload under way); profile it where only one is`
      : "its instance is not running (it is restarting, suspended or being loaded); profile it once it is active";
    throw new ProfilingUnsupported(why, { plugin: name });
  }
  const instance = [...live][0]!;
  if (!instance.canProfile) {
    throw new ProfilingUnsupported("the wasmtime addon was built without the guest profiler; rebuild it (node scripts/setup.mjs wasmtime)", { plugin: name });
  }
  try {
    instance.startProfile();
  } catch (err) {
    throw new ProfilingUnsupported(`wasmtime's guest profiler did not start: ${(err as Error).message.replace(/^PWT:[a-z]+:[^:]*:/, "")}`, { plugin: name, cause: err });
  }
  busy.add(name);
  profiling.set(registry, busy);
  const started = performance.now();
  let stopped: Promise<PluginProfile> | undefined;
  return {
    plugin: name,
    stop: () =>
      (stopped ??= (async () => {
        try {
          const { json, ended } = await instance.stopProfile();
          const durationMs = performance.now() - started;
          const profile = JSON.parse(new TextDecoder().decode(json)) as FirefoxProfile;
          return buildFirefox(name, profile, durationMs, ended);
        } finally {
          busy.delete(name);
        }
      })()),
  };
}

/** The function table of a Firefox Profiler profile: self and total samples per function, over all threads. */
function buildFirefox(plugin: string, profile: FirefoxProfile, durationMs: number, ended: string | undefined): WasmtimePluginProfile {
  const intervalMs = profile.meta.interval;
  const fns = new Map<string, ProfiledFunction>();
  let samples = 0;
  let wasmSamples = 0;
  for (const thread of profile.threads) {
    const strings = thread.stringArray ?? profile.shared?.stringArray ?? [];
    const { stackTable, frameTable, funcTable, resourceTable } = thread;
    const nameOf = (func: number): string => strings[funcTable.name[func]!] ?? `(function ${func})`;
    const moduleOf = (func: number): string => {
      const r = funcTable.resource?.[func];
      const n = r === undefined || r < 0 ? undefined : resourceTable?.name[r];
      return n === undefined ? "" : `wasm-module:${strings[n] ?? ""}`;
    };
    for (const leaf of thread.samples.stack) {
      samples++;
      if (leaf === null || leaf === undefined) continue;
      wasmSamples++;
      const seen = new Set<string>();
      let first = true;
      for (let s: number | null | undefined = leaf; s !== null && s !== undefined; s = stackTable.prefix[s]) {
        const func = frameTable.func[stackTable.frame[s]!]!;
        const name = nameOf(func);
        const url = moduleOf(func);
        const key = `${name}\u0000${url}`;
        let f = fns.get(key);
        if (!f) fns.set(key, (f = { name, url, selfSamples: 0, selfMs: 0, totalSamples: 0 }));
        if (first) {
          f.selfSamples++;
          f.selfMs += intervalMs;
          first = false;
        }
        if (!seen.has(key)) {
          f.totalSamples++;
          seen.add(key);
        }
      }
    }
  }
  const functions = [...fns.values()].sort((a, b) => b.selfSamples - a.selfSamples || b.totalSamples - a.totalSamples);
  for (const f of functions) f.selfMs = Math.round(f.selfMs * 1000) / 1000;
  return {
    format: "firefox-profiler",
    plugin,
    durationMs,
    samplingIntervalUs: Math.round(intervalMs * 1000),
    samples,
    wasmSamples,
    ...(ended === undefined ? {} : { ended }),
    functions,
    profile,
  };
}

/**
 * Profile `name` for `durationMs` while the application goes on calling it, and give what was sampled.
 * @throws {@link PluginNotFound}, {@link ProfilingUnsupported} as `startProfile`; a `RangeError` for a duration
 *   outside 1 ms to `MAX_PROFILE_MS`.
 */
export async function profilePlugin(registry: PluginRegistry, name: string, durationMs: number, options: ProfileOptions = {}): Promise<PluginProfile> {
  if (!(durationMs >= 1 && durationMs <= MAX_PROFILE_MS)) throw new RangeError(`durationMs must be 1 to ${MAX_PROFILE_MS}, got ${durationMs}`);
  const recording = await startProfile(registry, name, options);
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  return recording.stop();
}

/** Keep the samples taken inside the plugin's calls, from their first Wasm frame down, under `(plugin <name>)`. */
function build(plugin: string, profile: CpuProfile, timeline: GuestTimeline, offsetUs: number, interval: number): V8PluginProfile {
  const me = timeline.plugins.indexOf(plugin);
  const calls = me < 0 ? 0 : timeline.calls[me]!;
  // The plugin's spans, on the profiler's clock.
  const spans: number[] = [];
  for (let k = 0; k < timeline.who.length; k++) {
    if (timeline.who[k] === me) spans.push(timeline.start[k]! + offsetUs, timeline.end[k]! + offsetUs);
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = (leaf: number): CpuProfileNode[] => {
    const out: CpuProfileNode[] = [];
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) out.push(byId.get(id)!);
    return out.reverse(); // root first
  };
  const isWasm = (n: CpuProfileNode) => n.callFrame.url.startsWith("wasm://");

  const frame = (functionName: string): CpuProfileNode["callFrame"] => ({ functionName, scriptId: "0", url: "", lineNumber: -1, columnNumber: -1 });
  const nodes: CpuProfileNode[] = [
    { id: 1, callFrame: frame("(root)"), hitCount: 0, children: [2] },
    { id: 2, callFrame: frame(`(plugin ${plugin})`), hitCount: 0, children: [] },
  ];
  const child = new Map<string, number>(); // `${newParent}:${oldNode}` → new id
  const add = (under: number, old: CpuProfileNode): number => {
    const key = `${under}:${old.id}`;
    let id = child.get(key);
    if (id === undefined) {
      id = nodes.length + 1;
      nodes.push({ id, callFrame: { ...old.callFrame }, hitCount: 0, children: [] });
      nodes[under - 1]!.children!.push(id);
      child.set(key, id);
    }
    return id;
  };
  let hostSide: number | undefined;

  const fns = new Map<string, ProfiledFunction>();
  const samples: number[] = [];
  const deltas: number[] = [];
  let wasmSamples = 0;
  let lastKept = profile.startTime;
  let t = profile.startTime;
  let span = 0;
  const deltasIn = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = deltasIn[i] ?? 0;
    t += dt;
    // Spans are in order and do not overlap (calls of one in-process plugin run one at a time).
    while (span < spans.length && spans[span + 1]! < t) span += 2;
    if (span >= spans.length || spans[span]! > t) continue;
    const stack = stackOf(profile.samples[i]!);
    const first = stack.findIndex(isWasm);
    let leaf: number;
    if (first < 0) {
      // Inside the call, but in the host's side of it (arguments lowered, results lifted).
      hostSide ??= add(2, { id: -1, callFrame: frame("(host side of the call)") });
      leaf = hostSide;
    } else {
      wasmSamples++;
      leaf = 2;
      const seen = new Set<string>();
      const own = stack.slice(first);
      own.forEach((n, k) => {
        leaf = add(leaf, n);
        const name = isWasm(n) ? n.callFrame.functionName || "(anonymous wasm)" : `host: ${n.callFrame.functionName || "(anonymous)"}`;
        const key = `${name}\u0000${n.callFrame.url}`;
        let f = fns.get(key);
        if (!f) fns.set(key, (f = { name, url: n.callFrame.url, selfSamples: 0, selfMs: 0, totalSamples: 0 }));
        if (!seen.has(key)) {
          f.totalSamples++;
          seen.add(key);
        }
        if (k === own.length - 1) {
          f.selfSamples++;
          f.selfMs += dt / 1000;
        }
      });
    }
    nodes[leaf - 1]!.hitCount!++;
    samples.push(leaf);
    deltas.push(t - lastKept);
    lastKept = t;
  }
  const functions = [...fns.values()].sort((a, b) => b.selfSamples - a.selfSamples || b.totalSamples - a.totalSamples);
  for (const f of functions) f.selfMs = Math.round(f.selfMs * 1000) / 1000;
  return {
    format: "v8-cpuprofile",
    plugin,
    durationMs: (profile.endTime - profile.startTime) / 1000,
    samplingIntervalUs: interval,
    samples: samples.length,
    wasmSamples,
    calls,
    truncated: timeline.truncated,
    functions,
    cpuProfile: { nodes, startTime: profile.startTime, endTime: profile.endTime, samples, timeDeltas: deltas },
  };
}
