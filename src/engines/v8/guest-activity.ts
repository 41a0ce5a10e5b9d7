/**
 * When in-process v8 guests run, for the CPU profiler (observability/profile.ts): while a profile is recorded,
 * each instance notes when a call into its guest starts and ends, so samples can be given to the plugin whose
 * Wasm was running. Off (no profile), a call pays one property read.
 */

/** A timeline of guest calls: plugin index, start, end (µs on `performance.now()`'s clock), in call order. */
export interface GuestTimeline {
  /** Plugin names, indexed by `who`. */
  readonly plugins: string[];
  /** Each span's plugin (an index into `plugins`). */
  readonly who: number[];
  /** Each span's start. */
  readonly start: number[];
  /** Each span's end. */
  readonly end: number[];
  /** Calls seen, per plugin index (consecutive calls of one plugin are merged into one span when close). */
  readonly calls: number[];
  /** Set when the timeline reached `MAX_SPANS` and stopped recording. */
  truncated: boolean;
}

/** Spans kept at most per recording (three numbers each). */
export const MAX_SPANS = 2_000_000;
/** Consecutive calls of one plugin less than this apart (µs) are one span: a loop of calls is not a span per call. */
const MERGE_GAP_US = 20;

/** The recordings in progress; `active` is what every call checks. */
export const guestActivity: { active: boolean; timelines: Set<GuestTimeline> } = {
  active: false,
  timelines: new Set<GuestTimeline>(),
};

let depth = 0;
let current = "";
let startedAt = 0;

/** A guest call of `plugin` starts (V8Instance, when `guestActivity.active`). */
export function guestEnter(plugin: string): void {
  if (depth++ > 0) return; // one plugin's call at a time runs on this thread; a nested entry is the same span
  current = plugin;
  startedAt = performance.now() * 1000;
}

/** The guest call that `guestEnter` noted has ended (returned or failed). */
export function guestExit(): void {
  if (depth === 0 || --depth > 0) return;
  const end = performance.now() * 1000;
  for (const t of guestActivity.timelines) {
    let i = t.plugins.indexOf(current);
    if (i < 0) i = t.plugins.push(current) - 1, t.calls.push(0);
    t.calls[i]!++;
    const last = t.who.length - 1;
    if (last >= 0 && t.who[last] === i && startedAt - t.end[last]! < MERGE_GAP_US) {
      t.end[last] = end;
      continue;
    }
    if (t.who.length >= MAX_SPANS) {
      t.truncated = true;
      continue;
    }
    t.who.push(i);
    t.start.push(startedAt);
    t.end.push(end);
  }
}

/** Start a timeline; stop it with `stopTimeline`. */
export function startTimeline(): GuestTimeline {
  if (!guestActivity.active) depth = 0; // nothing was recording: no call can be open in a timeline
  const t: GuestTimeline = { plugins: [], who: [], start: [], end: [], calls: [], truncated: false };
  guestActivity.timelines.add(t);
  guestActivity.active = true;
  return t;
}

/** Stop recording into `t`. */
export function stopTimeline(t: GuestTimeline): void {
  guestActivity.timelines.delete(t);
  guestActivity.active = guestActivity.timelines.size > 0;
}
