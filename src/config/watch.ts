/** Watching a host config file for live configuration changes (`registry.watchConfig`, `plughost run --watch-config`). */
import path from "node:path";
import { watch, watchFile, unwatchFile, type FSWatcher } from "node:fs";
import { PlughostError } from "../contract/errors.js";
import { HostConfigError, loadHostConfig, type HostConfig } from "../runtime/host-config.js";

/** A watched host config file; `close()` stops watching (a change being applied finishes). */
export interface ConfigFileWatch {
  /** The absolute path watched. */
  readonly file: string;
  /** Stop watching. */
  close(): Promise<void>;
}

/** Options of `registry.watchConfig`. */
export interface WatchConfigOptions {
  /** Wait this long after the last change event before reading the file (editors write in steps). Default 100. */
  debounceMs?: number;
  /** Poll instead of native events (network filesystems, some containers). Default false. */
  usePolling?: boolean;
}

/**
 * Watch `file` and call `changed` with each new valid host config (after the debounce), or `failed` with the
 * error (a `HostConfigError`, or what `changed` threw) when it does not read or validate (the old configuration then stays), or the watch fails.
 */
export async function watchHostConfigFile(
  file: string,
  changed: (config: HostConfig) => Promise<void>,
  failed: (error: PlughostError) => void,
  options: WatchConfigOptions = {},
): Promise<ConfigFileWatch> {
  const abs = path.resolve(file);
  const debounceMs = options.debounceMs ?? 100;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let closed = false;
  const fire = () => {
    timer = undefined;
    // One change applied at a time, in the order the file changed.
    running = running.then(async () => {
      if (closed) return;
      try {
        await changed(await loadHostConfig(abs));
      } catch (err) {
        failed(err instanceof PlughostError ? err : new HostConfigError(abs, [{ pointer: "", message: `cannot be read: ${err instanceof Error ? err.message : String(err)}` }]));
      }
    });
  };
  const onEvent = () => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, debounceMs);
  };
  // The directory is watched, so that an editor's write-and-rename (a new inode) is seen too.
  const base = path.basename(abs);
  let watcher: FSWatcher | undefined;
  if (options.usePolling) watchFile(abs, { interval: 100 }, onEvent);
  else watcher = watch(path.dirname(abs), (_event, name) => {
    if (name === null || name === base) onEvent();
  });
  // A watch that fails (the directory removed) is reported, never thrown at the host.
  watcher?.on("error", (err) => failed(new HostConfigError(abs, [{ pointer: "", message: `watching it failed: ${err.message}; call watchConfig again` }])));
  return {
    file: abs,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (watcher) watcher.close();
      else unwatchFile(abs, onEvent);
      await running;
    },
  };
}
