/**
 * Hot reload: watch loaded plugins' directories with chokidar and call
 * `registry.reload(name)` when a plugin's manifest or entry file changes.
 * A broken new version leaves the old one running; the failure is reported
 * as a `reload-failed` event carrying a typed PlughostError.
 */
import { EventEmitter } from "node:events";
import { statSync } from "node:fs";
import path from "node:path";
import { watch, type FSWatcher } from "chokidar";
import { InvocationFailed, PlughostError } from "../contract/errors.js";
import type { PluginRegistry } from "./registry.js";

/** Options of `new HotReloader(registry, options)`. */
export interface HotReloadOptions {
  /** Quiet period after the last change before reloading (ms). Default 100. */
  debounceMs?: number;
  /** Wait until a changed file's size is stable this long (ms) before reporting it. Default 200; 0 disables. */
  stabilityMs?: number;
  /** Poll instead of using fs events (network drives, some containers). Default false. */
  usePolling?: boolean;
}

/** The events a `HotReloader` emits, with their payloads. */
export interface HotReloadEvents {
  /** A plugin was reloaded: its version before (`from`) and after (`to`). */
  reloaded: [{ plugin: string; from: string; to: string }];
  /** A reload failed; the old version keeps running. `file` is the change that triggered it. */
  "reload-failed": [{ plugin: string; file: string; error: PlughostError }];
}

interface Watched {
  plugin: string;
  dir: string;
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  again: boolean;
  lastFile: string;
  /** The files the last reload read and their stat fingerprint just before it read them. */
  read: { files: string[]; print: string } | undefined;
  check: NodeJS.Timeout | undefined;
}

/**
 * Without awaitWriteFinish, chokidar drops a second "change" of a file within 50 ms of the last one it
 * reported (its change throttle). A reload that read the files before such a change would miss it for
 * good, so once past that window each reload checks the files it read and reloads again if they changed.
 */
const CHANGE_THROTTLE_MS = 60;

/** Inode, size and times of each file ("-" when missing): a rename over the file or a rewrite changes it. */
function fingerprint(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const s = statSync(f);
        return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
      } catch {
        return "-";
      }
    })
    .join("|");
}

/**
 * Reloads a plugin when its manifest or entry file changes on disk. It uses
 * only the registry's public API (`reload`); a broken new version leaves the
 * old one running and is reported as `reload-failed`. See docs/hot-reload.md.
 *
 * @example
 *   const reloader = new HotReloader(registry, { debounceMs: 200 });
 *   reloader.on("reloaded", (e) => console.log(e.plugin, e.from, "→", e.to));
 *   reloader.on("reload-failed", (e) => console.error(e.plugin, e.error.code, e.error.message));
 *   await reloader.watch();   // every loaded plugin's directory
 *   // …
 *   await reloader.close();
 */
export class HotReloader extends EventEmitter<HotReloadEvents> {
  readonly #registry: PluginRegistry;
  readonly #options: Required<HotReloadOptions>;
  readonly #byDir = new Map<string, Watched>();
  #watcher: FSWatcher | undefined;
  #closed = false;

  constructor(registry: PluginRegistry, options: HotReloadOptions = {}) {
    super();
    this.#registry = registry;
    this.#options = { debounceMs: 100, stabilityMs: 200, usePolling: false, ...options };
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Watch plugin directories (default: every loaded plugin's). Each must hold
   * a loaded plugin's manifest; resolves once the watcher is ready.
   * @throws {@link InvocationFailed} when the reloader is closed.
   * @throws {@link PlughostError} code `E_PLUGIN_NOT_FOUND` when a directory holds no loaded plugin's manifest.
   */
  async watch(dirOrDirs?: string | readonly string[]): Promise<void> {
    if (this.#closed) throw new InvocationFailed("watch", -1, "the hot reloader is closed");
    const loaded = this.#registry.listLoaded();
    const dirs =
      dirOrDirs === undefined
        ? loaded.map((p) => path.dirname(this.#registry.get(p.name).manifest.file))
        : (typeof dirOrDirs === "string" ? [dirOrDirs] : dirOrDirs).map((d) => path.resolve(d));
    const added: string[] = [];
    for (const dir of dirs) {
      if (this.#byDir.has(dir)) continue;
      const owner = loaded.find((p) => path.dirname(this.#registry.get(p.name).manifest.file) === dir);
      if (!owner) throw new PlughostError("E_PLUGIN_NOT_FOUND", `no loaded plugin has its manifest in ${dir}`);
      this.#byDir.set(dir, { plugin: owner.name, dir, timer: undefined, running: undefined, again: false, lastFile: "", read: undefined, check: undefined });
      added.push(dir);
    }
    if (!added.length) return;
    if (this.#watcher) {
      this.#watcher.add(added);
      return;
    }
    const s = this.#options.stabilityMs;
    this.#watcher = watch(added, {
      ignoreInitial: true,
      depth: 0,
      atomic: true,
      usePolling: this.#options.usePolling,
      awaitWriteFinish: s > 0 ? { stabilityThreshold: s, pollInterval: Math.max(10, Math.min(100, s / 4)) } : false,
    });
    const onChange = (file: string): void => this.#changed(path.resolve(file));
    this.#watcher.on("add", onChange).on("change", onChange);
    await new Promise<void>((resolve) => this.#watcher!.once("ready", () => resolve()));
  }

  /** Stop watching; a reload already running finishes. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#byDir.values()) {
      clearTimeout(w.timer);
      clearTimeout(w.check);
    }
    await this.#watcher?.close();
    await Promise.all([...this.#byDir.values()].map((w) => w.running?.catch(() => undefined)));
    this.#byDir.clear();
  }

  /** Only the plugin's current manifest and entry file trigger a reload. */
  #changed(file: string): void {
    const w = this.#byDir.get(path.dirname(file));
    if (!w || this.#closed) return;
    let relevant = path.basename(file).startsWith("plugin.");
    try {
      const m = this.#registry.get(w.plugin).manifest;
      relevant = file === m.file || file === m.entryPath;
    } catch {
      // not loaded any more: a manifest change may still bring it back
    }
    if (!relevant) return;
    w.lastFile = file;
    clearTimeout(w.timer);
    w.timer = setTimeout(() => this.#fire(w), this.#options.debounceMs);
  }

  #fire(w: Watched): void {
    w.timer = undefined;
    if (this.#closed) return;
    if (w.running) {
      w.again = true; // one more reload once this one settles
      return;
    }
    clearTimeout(w.check);
    w.check = undefined;
    w.read = this.#readFingerprint(w);
    w.running = this.#reload(w).finally(() => {
      w.running = undefined;
      if (w.again && !this.#closed) {
        w.again = false;
        this.#fire(w);
      } else {
        w.check = setTimeout(() => this.#recheck(w), CHANGE_THROTTLE_MS);
        w.check.unref();
      }
    });
  }

  /** The plugin's manifest and entry as they are before a reload reads them. */
  #readFingerprint(w: Watched): Watched["read"] {
    let files: string[];
    try {
      const m = this.#registry.get(w.plugin).manifest;
      files = [m.file, m.entryPath];
    } catch {
      return undefined; // not loaded any more: nothing to compare with
    }
    return { files, print: fingerprint(files) };
  }

  /** A change chokidar did not report (see CHANGE_THROTTLE_MS) gets its reload. */
  #recheck(w: Watched): void {
    w.check = undefined;
    if (this.#closed || w.timer || w.running || !w.read) return;
    if (fingerprint(w.read.files) === w.read.print) return;
    this.#fire(w);
  }

  async #reload(w: Watched): Promise<void> {
    const onReloaded = (e: { plugin: string; from: string; to: string }): void => {
      if (e.plugin === w.plugin) this.emit("reloaded", e);
    };
    this.#registry.on("reloaded", onReloaded);
    try {
      await this.#registry.reload(w.plugin);
    } catch (err) {
      const error =
        err instanceof PlughostError
          ? err
          : new InvocationFailed("reload", -1, err instanceof Error ? err.message : String(err), { plugin: w.plugin, cause: err });
      this.emit("reload-failed", { plugin: w.plugin, file: w.lastFile, error });
    } finally {
      this.#registry.off("reloaded", onReloaded);
    }
  }
}
