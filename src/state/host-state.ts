/**
 * The registry's side of persistent state (docs/state.md): one backend per host, opened on first need and closed
 * by `registry.close()`; each plugin's host calls over it (store.ts); `registry.state(name)` handles to inspect and
 * wipe a plugin's state; and the hand-off, which stores an instance's `snapshot` and gives it to the next
 * instance's `restore`. Hand-off failures are logged and counted, never fatal.
 */
import { mkdirSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry as PromRegistry } from "prom-client";
import { PlughostError } from "../contract/errors.js";
import type { EngineInstance } from "../engines/engine.js";
import type { StateBackend, StatePage, StateUsage } from "./backend.js";
import { openStateBackend } from "./open.js";
import {
  deniedStateCalls,
  interceptStateCalls,
  MAX_STATE_LIST_LIMIT,
  pluginStateCalls,
  stateFailureReason,
  stateKeyValid,
  type StateHostCalls,
} from "./store.js";

/** The backends plughost ships. */
export const STATE_BACKENDS = ["sqlite", "redis"] as const;
/** Which backend keeps plugins' state. */
export type StateBackendKind = (typeof STATE_BACKENDS)[number];

/** The registry option `state` and the host config's `state` section. */
export interface StateOptions {
  /** "sqlite" (default: `<dataDir>/state.db`, WAL) or "redis" (`url`), for hosts that share state. */
  backend?: StateBackendKind;
  /** The Redis server, e.g. `redis://127.0.0.1:6379/0` (backend "redis" only). */
  url?: string;
  /**
   * SQLite only: "normal" (default; WAL with synchronous=NORMAL: a returned write survives the host process being
   * killed) or "full" (an fsync per write: it also survives a power loss or an OS crash).
   */
  synchronous?: "normal" | "full";
  /**
   * SQLite only: "exclusive" (default; the host holds `state.db` while it runs, so a read takes no file lock; a
   * second host on the same dataDir gets `StateUnavailable`) or "shared" (hosts share the file; reads cost more).
   */
  locking?: "shared" | "exclusive";
  /**
   * SQLite with locking "exclusive" only: the most bytes of recently used values kept in memory, so that their gets
   * read no database (default 8 MiB; 0: none). The host holds the file, so no other writer can make it stale.
   */
  readCacheBytes?: number;
  /**
   * Besides before a reload, a restart, an unload and `close()`, take every plugin's hand-off snapshot this often
   * (between its calls), so that a fault or a killed host loses at most this much of its in-memory state. Default: never.
   */
  snapshotEveryMs?: number;
}

/** What opens a backend: src/state's `openStateBackend`, or a caller's own (for tests of failure). */
export type StateBackendOpener = (options: {
  backend: StateBackendKind;
  dataDir: string;
  url?: string;
  synchronous?: "normal" | "full";
  locking?: "shared" | "exclusive";
  readCacheBytes?: number;
}) => StateBackend;

/**
 * `$XDG_DATA_HOME/plughost`, else `~/.local/share/plughost`: where the host keeps plugins' state when the registry
 * option `dataDir` is not set. Only computes the path; never throws.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_DATA_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), ".local", "share");
  return path.join(base, "plughost");
}

/** The state backend could not be opened or failed for the host's own use (`registry.state(name)`). Code `E_STATE_UNAVAILABLE`. */
export class StateUnavailable extends PlughostError {
  constructor(message: string, details: { plugin?: string; cause?: unknown } = {}) {
    super("E_STATE_UNAVAILABLE", message, details);
  }
}

/** A key or argument the host passed to a state handle is not valid. Code `E_STATE_INVALID`. */
export class StateArgumentInvalid extends PlughostError {
  constructor(plugin: string, message: string) {
    super("E_STATE_INVALID", message, { plugin });
  }
}

/** What `PluginStateHandle.usage()` answers. */
export interface PluginStateUsage extends StateUsage {
  /** The backend's kind: "sqlite" or "redis". */
  readonly backend: string;
  /** The bytes of the plugin's stored hand-off snapshot (outside the quota), 0 when there is none. */
  readonly snapshotBytes: number;
}

/**
 * A plugin's state as the host sees it (`registry.state(name)`): usage, keys, values, the hand-off snapshot, and
 * `wipe`. It works whether the plugin is loaded or not (state outlives its plugin); the backend is opened on first
 * use. Every method throws `StateUnavailable` when the backend cannot be opened or fails.
 *
 * @example
 *   const s = registry.state("counter");
 *   s.usage();                       // { bytes: 6, keys: 1, backend: "sqlite", snapshotBytes: 1 }
 *   s.keys();                        // ["count"]
 *   new TextDecoder().decode(s.get("count")); // "1"
 *   s.wipe();                        // every key and the snapshot gone
 */
export interface PluginStateHandle {
  /** The plugin (its namespace). */
  readonly plugin: string;
  /** Bytes and keys used now. */
  usage(): PluginStateUsage;
  /** Keys in byte order: every key (no options), or one page after `after`, at most `limit` (≤ 1,000). */
  keys(options?: { after?: string; limit?: number }): string[];
  /** One page of keys with the cursor of the next (as a guest's `state-list-keys`). */
  page(after?: string, limit?: number): StatePage;
  /** The value under `key`, or undefined. @throws {@link StateArgumentInvalid} for a key that is empty or over 256 bytes. */
  get(key: string): Uint8Array | undefined;
  /** Every key and value in byte order (bounded by the plugin's quota). */
  entries(): [string, Uint8Array][];
  /** The stored hand-off snapshot, or undefined. */
  snapshot(): Uint8Array | undefined;
  /** Remove every key of the plugin and its snapshot. A running instance keeps what it holds in memory. */
  wipe(): void;
}

/** How the hand-off went, per plugin and operation, for the metrics. */
type HandoffOp = "snapshot" | "restore";

/** Opening the backend again after a failure waits this long, so a broken backend is not hammered on every call. */
const REOPEN_AFTER_MS = 1000;

/** The host's state: its backend, the plugins' host calls, handles and the hand-off. Made by the registry. */
export class HostState {
  readonly dataDir: string;
  readonly options: Readonly<StateOptions>;
  readonly #logger: Logger;
  readonly #open: StateBackendOpener;
  #backend: StateBackend | undefined;
  #failedAt = -Infinity;
  #failure: unknown;
  #closed = false;
  /** Plugins whose state this host served: the metrics report their usage. */
  readonly #plugins = new Set<string>();
  readonly #handoffs = new Map<string, { snapshot: number; restore: number; failures: Map<HandoffOp, number> }>();

  constructor(dataDir: string, options: StateOptions, logger: Logger, open: StateBackendOpener) {
    this.dataDir = path.resolve(dataDir);
    this.options = { ...options };
    this.#logger = logger;
    this.#open = open;
  }

  /** True once the backend was opened (and not closed). */
  get isOpen(): boolean {
    return this.#backend !== undefined;
  }

  /**
   * The backend, opened now if it is not yet.
   * @throws {@link StateUnavailable} when it cannot be opened (tried again at most once a second), or after `close`.
   */
  backend(): StateBackend {
    const b = this.#backend;
    if (b !== undefined) return b;
    if (this.#closed) throw new StateUnavailable("the registry was closed; its state backend is closed with it");
    if (performance.now() - this.#failedAt < REOPEN_AFTER_MS) throw this.#unavailable(this.#failure);
    const kind = this.options.backend ?? "sqlite";
    try {
      if (kind === "sqlite") mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
      this.#backend = this.#open({
        backend: kind,
        dataDir: this.dataDir,
        ...(this.options.url !== undefined ? { url: this.options.url } : {}),
        ...(this.options.synchronous !== undefined ? { synchronous: this.options.synchronous } : {}),
        ...(this.options.locking !== undefined ? { locking: this.options.locking } : {}),
        ...(this.options.readCacheBytes !== undefined ? { readCacheBytes: this.options.readCacheBytes } : {}),
      });
      this.#logger.debug({ backend: kind, dataDir: this.dataDir }, "state backend opened");
      return this.#backend;
    } catch (err) {
      this.#failedAt = performance.now();
      this.#failure = err;
      const e = this.#unavailable(err);
      this.#logger.error({ err }, e.message);
      throw e;
    }
  }

  #unavailable(err: unknown): StateUnavailable {
    const kind = this.options.backend ?? "sqlite";
    const where = kind === "sqlite" ? `the SQLite file in ${this.dataDir} (dataDir)` : `Redis at ${this.options.url ?? "(no state.url)"}`;
    const why = err instanceof Error ? err.message : String(err);
    return new StateUnavailable(`the state backend could not be opened: ${where}: ${why}; check the state section and dataDir of the host config`, { cause: err });
  }

  /**
   * A plugin that holds `state` is loading: its usage is reported in the metrics from now on. The backend is not
   * opened here but on the plugin's first state call (or hand-off that has something to read or store), so a load
   * pays no database open; a backend that cannot be opened is logged then, and the call answers `unavailable`.
   * Never throws.
   */
  prepare(plugin: string): void {
    this.#plugins.add(plugin);
  }

  /**
   * True when nothing can be stored yet, so reading a snapshot or removing one needs no open: the backend is not
   * open and the SQLite file does not exist (a fresh dataDir). Any other answer from the file system (it exists, or
   * cannot be looked at) is false, and the caller opens the backend as before.
   */
  #nothingStored(): boolean {
    if (this.#backend !== undefined || (this.options.backend ?? "sqlite") !== "sqlite") return false;
    try {
      return statSync(path.join(this.dataDir, "state.db"), { throwIfNoEntry: false }) === undefined;
    } catch {
      return false;
    }
  }

  /**
   * The state host calls for one instance of `plugin`: over the backend when `granted`, else each answers `denied`
   * and is reported through `onDenied` (a capability violation).
   */
  hostCalls(
    plugin: string,
    granted: boolean,
    hooks: {
      quota: () => StateUsage;
      onQuotaExceeded: (detail: string) => void;
      onDenied: (capability: string, detail: string) => void;
      logger: Logger;
      intercept?: <T>(hostCall: string, run: () => T) => T;
    },
  ): StateHostCalls {
    let loggedAt = -Infinity;
    const calls = granted
      ? pluginStateCalls({
          plugin,
          backend: () => this.backend(),
          quota: hooks.quota,
          onQuotaExceeded: hooks.onQuotaExceeded,
          onUnavailable: (operation, err) => {
            // One line a second at most: a backend that is down fails every call.
            const now = performance.now();
            if (now - loggedAt < 1000) return;
            loggedAt = now;
            hooks.logger.warn({ err }, `${operation} answered unavailable: ${err instanceof Error ? err.message : String(err)}`);
          },
        })
      : deniedStateCalls(hooks.onDenied);
    return hooks.intercept ? interceptStateCalls(calls, hooks.intercept) : calls;
  }

  /**
   * A handle on `plugin`'s state, loaded or not.
   * @throws {@link StateArgumentInvalid} for an empty name.
   */
  handle(plugin: string): PluginStateHandle {
    if (typeof plugin !== "string" || plugin.length === 0) throw new StateArgumentInvalid(String(plugin), "registry.state(name) needs a plugin name");
    const run = <T>(what: string, fn: (b: StateBackend) => T): T => {
      const b = this.backend();
      try {
        return fn(b);
      } catch (err) {
        throw new StateUnavailable(`${what} failed: ${stateFailureReason(err) === "unavailable" && err instanceof Error ? err.message : stateFailureReason(err)}`, { plugin, cause: err });
      }
    };
    const checkKey = (key: string) => {
      if (typeof key !== "string" || !stateKeyValid(key)) throw new StateArgumentInvalid(plugin, `state key ${JSON.stringify(key)} is not 1 to 256 bytes of UTF-8; pass a key the plugin could have stored`);
    };
    return {
      plugin,
      usage: () =>
        run("reading the state's usage", (b) => {
          const u = b.usage(plugin);
          return { bytes: u.bytes, keys: u.keys, backend: b.kind, snapshotBytes: b.getSnapshot(plugin)?.length ?? 0 };
        }),
      keys: (options) => {
        if (options === undefined) return run("listing keys", (b) => allKeys(b, plugin));
        const limit = Math.max(1, Math.min(options.limit ?? MAX_STATE_LIST_LIMIT, MAX_STATE_LIST_LIMIT));
        return run("listing keys", (b) => [...b.list(plugin, options.after, limit).keys]);
      },
      page: (after, limit = 100) => run("listing keys", (b) => b.list(plugin, after, Math.max(1, Math.min(limit, MAX_STATE_LIST_LIMIT)))),
      get: (key) => {
        checkKey(key);
        return run(`reading ${JSON.stringify(key)}`, (b) => b.get(plugin, key));
      },
      entries: () => run("reading the entries", (b) => b.entries(plugin)),
      snapshot: () => run("reading the snapshot", (b) => b.getSnapshot(plugin)),
      wipe: () => {
        run("wiping the state", (b) => b.wipe(plugin));
        this.#logger.info({ plugin }, "state wiped by the host");
      },
    };
  }

  /**
   * Take `instance`'s hand-off snapshot through `call` (which serializes it with the instance's other calls) and
   * store it; an empty snapshot removes the stored one, one over `maxBytes` (the plugin's state quota) is refused.
   * True when stored. Never throws: a failure is logged and counted.
   */
  async save(
    plugin: string,
    instance: EngineInstance,
    call: (run: () => Promise<Uint8Array>) => Promise<Uint8Array>,
    logger: Logger,
    why: string,
    maxBytes: number,
  ): Promise<boolean> {
    const take = instance.snapshot;
    if (!take) return false;
    let data: Uint8Array;
    try {
      data = await call(() => take.call(instance));
    } catch (err) {
      this.#failed(plugin, "snapshot", logger, `snapshot before ${why} failed (the next instance gets the last stored one)`, err);
      return false;
    }
    if (data.length > maxBytes) {
      this.#failed(plugin, "snapshot", logger, `the snapshot before ${why} is ${data.length} bytes, over the plugin's state quota of ${maxBytes} bytes ([limits] state); not stored`, undefined);
      return false;
    }
    try {
      // An empty snapshot removes the stored one: there is none before the file exists, so nothing is opened for it.
      if (data.length !== 0 || !this.#nothingStored()) this.backend().putSnapshot(plugin, data);
      this.#count(plugin).snapshot++;
      return true;
    } catch (err) {
      this.#failed(plugin, "snapshot", logger, `storing the snapshot before ${why} failed (the next instance gets the last stored one)`, err);
      return false;
    }
  }

  /**
   * After `init` of a new instance: give it the stored snapshot through its `restore`, when it exports one and a
   * non-empty snapshot is stored. Never throws; a failure or a non-zero status is logged and counted.
   */
  async restore(plugin: string, instance: EngineInstance, logger: Logger): Promise<void> {
    const give = instance.restore;
    if (!give) return;
    // A fresh dataDir holds no snapshot: a load opens no database to find that out.
    if (this.#nothingStored()) return;
    let data: Uint8Array | undefined;
    try {
      data = this.backend().getSnapshot(plugin);
    } catch (err) {
      this.#failed(plugin, "restore", logger, "reading the hand-off snapshot failed; the instance starts without it", err);
      return;
    }
    if (!data || data.length === 0) return;
    try {
      const status = await give.call(instance, data);
      if (status !== 0) {
        this.#failed(plugin, "restore", logger, `restore returned status ${status}; the instance runs without the snapshot`, undefined);
        return;
      }
      this.#count(plugin).restore++;
      logger.debug({ bytes: data.length }, "hand-off snapshot restored");
    } catch (err) {
      this.#failed(plugin, "restore", logger, "restore failed; the instance runs without the snapshot", err);
    }
  }

  #count(plugin: string) {
    let c = this.#handoffs.get(plugin);
    if (!c) this.#handoffs.set(plugin, (c = { snapshot: 0, restore: 0, failures: new Map() }));
    return c;
  }

  #failed(plugin: string, op: HandoffOp, logger: Logger, message: string, err: unknown): void {
    const f = this.#count(plugin).failures;
    f.set(op, (f.get(op) ?? 0) + 1);
    logger.warn(err === undefined ? {} : { err }, err instanceof Error ? `${message}: ${err.message}` : message);
  }

  /** Hand-off counts of `plugin`: snapshots stored, restores done, and failures of each. */
  handoffStats(plugin: string): { snapshots: number; restores: number; snapshotFailures: number; restoreFailures: number } {
    const c = this.#handoffs.get(plugin);
    return {
      snapshots: c?.snapshot ?? 0,
      restores: c?.restore ?? 0,
      snapshotFailures: c?.failures.get("snapshot") ?? 0,
      restoreFailures: c?.failures.get("restore") ?? 0,
    };
  }

  /**
   * The state metrics in `registry`: each served plugin's usage (only while the backend is open: a scrape never
   * opens it) and the hand-off counts.
   */
  registerMetrics(registry: PromRegistry): void {
    const self = this;
    const usage = (fill: (plugin: string, u: StateUsage) => void) => {
      const b = self.#backend;
      if (!b) return;
      for (const plugin of self.#plugins) {
        try {
          fill(plugin, b.usage(plugin));
        } catch {
          // A backend that fails now shows in the calls' log lines; the scrape goes on.
        }
      }
    };
    new Gauge({
      name: "plughost_plugin_state_bytes",
      help: "Bytes of the plugin's persistent state (keys plus values), counted against its quota ([limits] state).",
      labelNames: ["plugin"],
      registers: [registry],
      collect() {
        this.reset();
        usage((plugin, u) => this.set({ plugin }, u.bytes));
      },
    });
    new Gauge({
      name: "plughost_plugin_state_keys",
      help: "Keys of the plugin's persistent state, counted against its quota ([limits] state-keys).",
      labelNames: ["plugin"],
      registers: [registry],
      collect() {
        this.reset();
        usage((plugin, u) => this.set({ plugin }, u.keys));
      },
    });
    new Counter({
      name: "plughost_plugin_handoff_total",
      help: "Hand-off snapshots stored (op=snapshot) and restored into a new instance (op=restore), and those that failed (result=failed).",
      labelNames: ["plugin", "op", "result"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [plugin, c] of self.#handoffs) {
          this.inc({ plugin, op: "snapshot", result: "ok" }, c.snapshot);
          this.inc({ plugin, op: "restore", result: "ok" }, c.restore);
          for (const [op, n] of c.failures) this.inc({ plugin, op, result: "failed" }, n);
        }
      },
    });
  }

  /** Close the backend (idempotent); later uses throw `StateUnavailable`. */
  close(): void {
    this.#closed = true;
    const b = this.#backend;
    this.#backend = undefined;
    try {
      b?.close();
    } catch (err) {
      this.#logger.warn({ err }, "closing the state backend failed");
    }
  }
}

function allKeys(b: StateBackend, plugin: string): string[] {
  const out: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = b.list(plugin, after, MAX_STATE_LIST_LIMIT);
    out.push(...page.keys);
    if (page.cursor === undefined || page.keys.length === 0) return out;
    after = page.cursor;
  }
}

/** The backends plughost ships (open.ts): SQLite at `<dataDir>/state.db` (WAL, synchronous=NORMAL), or Redis at `url`. */
export const openHostStateBackend: StateBackendOpener = (options) => {
  if (options.backend === "redis") {
    if (options.url === undefined) throw new StateUnavailable('state.backend "redis" needs state.url, e.g. "redis://127.0.0.1:6379/0"');
    return openStateBackend({ backend: "redis", url: options.url });
  }
  return openStateBackend({
    backend: "sqlite",
    file: path.join(options.dataDir, "state.db"),
    locking: options.locking ?? "exclusive",
    ...(options.readCacheBytes !== undefined ? { readCacheBytes: options.readCacheBytes } : {}),
    ...(options.synchronous ? { synchronous: options.synchronous } : {}),
  });
};
