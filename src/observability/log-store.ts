/**
 * Recent log lines and error reports per plugin (seed 003's
 * `PluginDebugger.getLogs/getErrors`): a bounded ring each, queryable by
 * level, time and text, and a live feed (`watch`) as an async iterator.
 * pino output is not changed: the store keeps a copy of what plugins log.
 */
import type { LogLevel } from "../engines/engine.js";

/** One log line: written by the plugin (`source: "plugin"`) or by the host about it (`"host"`: its failed calls). */
export interface LogRecord {
  /** The plugin the line is about. */
  plugin: string;
  /** Its level. */
  level: LogLevel;
  /** The text as logged (after truncation to `hostCalls.maxLogMessage`). */
  message: string;
  /** When it was written, in `Date.now()` milliseconds. */
  time: number;
  /** The call that wrote it, when the call had a context (an interceptor registered, or a host context given). */
  callId?: number;
  /** The plugin's own line, or one the host wrote about the plugin. */
  source: "plugin" | "host";
}

/** One failed call (`registry.errors(name)`). */
export interface ErrorReport {
  /** The plugin called. */
  plugin: string;
  /** The error's stable code, e.g. `E_PLUGIN_TRAP`. */
  code: string;
  /** The error's message. */
  message: string;
  /** The event (or hook) called. */
  event: string;
  /** The call's id, when it had a context. */
  callId?: number;
  /** When it failed, in `Date.now()` milliseconds. */
  time: number;
  /** The error's stack: the host frames that saw the failure (a trap's Wasm frames when the engine gives them). */
  stack?: string;
}

/** A query of `registry.logs` / `registry.errors`. Every field is optional; records match all that are given. */
export interface LogQuery {
  /** Lowest level (logs only): "warn" gives warn and error. */
  level?: LogLevel;
  /** Only records at or after this time (`Date.now()` ms, or a Date). */
  since?: number | Date;
  /** Only records before this time. */
  until?: number | Date;
  /** Only records whose message (or, for errors, code or event) contains this string, or matches this RegExp. */
  text?: string | RegExp;
  /** At most this many, the most recent ones. */
  limit?: number;
}

/** What `watchLogs` delivers: lines of one plugin (or all), at or above a level, containing a text. */
export interface LogWatchFilter {
  /** Only this plugin's lines. */
  plugin?: string;
  /** Lowest level. */
  level?: LogLevel;
  /** Only lines containing this string or matching this RegExp. */
  text?: string | RegExp;
  /** Lines kept for a slow reader before the oldest are dropped (default 1000). */
  buffer?: number;
}

/** Bounds of the store (registry option `logStore`). */
export interface LogStoreOptions {
  /** Log lines kept per plugin (default 500). */
  lines?: number;
  /** Error reports kept per plugin (default 100). */
  errors?: number;
}

/** The defaults of `LogStoreOptions`. */
export const DEFAULT_LOG_STORE_OPTIONS: Required<LogStoreOptions> = { lines: 500, errors: 100 };

const LEVEL_RANK: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };

/** A fixed-size ring, oldest first when read. */
class Ring<T> {
  readonly #items: (T | undefined)[];
  #next = 0;
  #size = 0;
  /** Items pushed out by newer ones. */
  evicted = 0;

  constructor(capacity: number) {
    this.#items = new Array<T | undefined>(capacity);
  }

  push(item: T): void {
    if (this.#size === this.#items.length) this.evicted++;
    else this.#size++;
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.#items.length;
  }

  toArray(): T[] {
    const out: T[] = [];
    const cap = this.#items.length;
    for (let i = 0; i < this.#size; i++) out.push(this.#items[(this.#next - this.#size + i + cap) % cap]!);
    return out;
  }

  get size(): number {
    return this.#size;
  }
}

const ms = (t: number | Date | undefined): number | undefined => (t instanceof Date ? t.getTime() : t);

function matches(text: string | RegExp | undefined, ...fields: string[]): boolean {
  if (text === undefined) return true;
  return fields.some((f) => (typeof text === "string" ? f.includes(text) : (text.lastIndex = 0, text.test(f))));
}

function select<T extends { time: number }>(records: T[], q: LogQuery, fields: (r: T) => string[], level?: (r: T) => LogLevel): T[] {
  const since = ms(q.since);
  const until = ms(q.until);
  const min = q.level ? LEVEL_RANK[q.level] : undefined;
  let out = records.filter(
    (r) =>
      (since === undefined || r.time >= since) &&
      (until === undefined || r.time < until) &&
      (min === undefined || !level || LEVEL_RANK[level(r)] >= min) &&
      matches(q.text, ...fields(r)),
  );
  if (q.limit !== undefined && out.length > q.limit) out = out.slice(out.length - Math.max(0, q.limit));
  return out;
}

/**
 * The store: per plugin a ring of log lines and a ring of error reports.
 * Made by the registry (`registry.logs`, `registry.errors`, `registry.watchLogs`).
 */
export class LogStore {
  readonly #options: Required<LogStoreOptions>;
  readonly #lines = new Map<string, Ring<LogRecord>>();
  readonly #errors = new Map<string, Ring<ErrorReport>>();
  readonly #watchers = new Set<LogWatch>();

  constructor(options: LogStoreOptions = {}) {
    this.#options = {
      lines: Math.max(1, Math.floor(options.lines ?? DEFAULT_LOG_STORE_OPTIONS.lines)),
      errors: Math.max(1, Math.floor(options.errors ?? DEFAULT_LOG_STORE_OPTIONS.errors)),
    };
  }

  /** Keep a log line (and hand it to the watchers that want it). */
  log(record: LogRecord): void {
    let ring = this.#lines.get(record.plugin);
    if (!ring) this.#lines.set(record.plugin, (ring = new Ring(this.#options.lines)));
    ring.push(record);
    for (const w of this.#watchers) w.offer(record);
  }

  /** Keep an error report; it is also kept (and watched) as a host line at level error. */
  error(report: ErrorReport): void {
    let ring = this.#errors.get(report.plugin);
    if (!ring) this.#errors.set(report.plugin, (ring = new Ring(this.#options.errors)));
    ring.push(report);
    this.log({
      plugin: report.plugin,
      level: "error",
      message: `${report.event}: ${report.code}: ${report.message}`,
      time: report.time,
      ...(report.callId !== undefined ? { callId: report.callId } : {}),
      source: "host",
    });
  }

  /** Log lines of `plugin` (or of every plugin, oldest first by time) that match `query`. */
  logs(plugin?: string, query: LogQuery = {}): LogRecord[] {
    const all = plugin === undefined ? merged(this.#lines) : (this.#lines.get(plugin)?.toArray() ?? []);
    return select(all, query, (r) => [r.message], (r) => r.level);
  }

  /** Error reports of `plugin` (or of every plugin) that match `query` (`level` does not apply). */
  errors(plugin?: string, query: LogQuery = {}): ErrorReport[] {
    const all = plugin === undefined ? merged(this.#errors) : (this.#errors.get(plugin)?.toArray() ?? []);
    return select(all, query, (r) => [r.message, r.code, r.event]);
  }

  /** Counts of one plugin's rings: lines and errors held, and those pushed out by newer ones. */
  counts(plugin: string): { lines: number; linesEvicted: number; errors: number; errorsEvicted: number } {
    const l = this.#lines.get(plugin);
    const e = this.#errors.get(plugin);
    return { lines: l?.size ?? 0, linesEvicted: l?.evicted ?? 0, errors: e?.size ?? 0, errorsEvicted: e?.evicted ?? 0 };
  }

  /** A live feed of new lines matching `filter`; ends (and detaches) on `return()`, e.g. leaving a `for await`. */
  watch(filter: LogWatchFilter = {}): LogWatch {
    const w = new LogWatch(filter, () => this.#watchers.delete(w));
    this.#watchers.add(w);
    return w;
  }

  /** Watchers attached now. */
  get watchers(): number {
    return this.#watchers.size;
  }
}

function merged<T extends { time: number }>(rings: Map<string, Ring<T>>): T[] {
  const all: T[] = [];
  for (const r of rings.values()) all.push(...r.toArray());
  return all.sort((a, b) => a.time - b.time); // stable: lines of one plugin keep their order
}

/**
 * A live feed of log lines (`registry.watchLogs(filter)`): an async iterator.
 * Lines arrive as they are written; a reader slower than the plugins loses the
 * oldest past `filter.buffer` (counted in `dropped`). `return()` detaches it.
 */
export class LogWatch implements AsyncIterableIterator<LogRecord> {
  readonly #filter: LogWatchFilter;
  readonly #min: number;
  readonly #detach: () => void;
  readonly #queue: LogRecord[] = [];
  #waiting: ((r: IteratorResult<LogRecord>) => void) | undefined;
  #done = false;
  /** Lines dropped because the reader fell behind by more than `filter.buffer`. */
  dropped = 0;

  /** @internal */
  constructor(filter: LogWatchFilter, detach: () => void) {
    this.#filter = filter;
    this.#min = filter.level ? LEVEL_RANK[filter.level] : 0;
    this.#detach = detach;
  }

  /** @internal A new line: queued or handed to the waiting reader when it matches. */
  offer(r: LogRecord): void {
    const f = this.#filter;
    if (this.#done || (f.plugin !== undefined && r.plugin !== f.plugin) || LEVEL_RANK[r.level] < this.#min || !matches(f.text, r.message)) return;
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting({ value: r, done: false });
      return;
    }
    this.#queue.push(r);
    if (this.#queue.length > (f.buffer ?? 1000)) {
      this.#queue.shift();
      this.dropped++;
    }
  }

  /** The next matching line, waiting for one when none is queued. */
  next(): Promise<IteratorResult<LogRecord>> {
    const r = this.#queue.shift();
    if (r) return Promise.resolve({ value: r, done: false });
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  /** Stop watching: detaches from the store and ends a reader waiting in `next()`. */
  return(): Promise<IteratorResult<LogRecord>> {
    if (!this.#done) {
      this.#done = true;
      this.#queue.length = 0;
      this.#detach();
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting?.({ value: undefined, done: true });
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
