/** Opening the state backend a host is configured with (host config `state`, docs/state.md). */
import type { StateBackend } from "./backend.js";
import { RedisStateBackend, type RedisStateOptions } from "./redis.js";
import { SqliteStateBackend, type SqliteStateOptions } from "./sqlite.js";

/** Which backend to open, and its options. */
export type StateBackendOptions = ({ backend: "sqlite" } & SqliteStateOptions) | ({ backend: "redis" } & RedisStateOptions);

/**
 * Open a state backend: SQLite (one file, e.g. `<dataDir>/state.db`) or Redis (a server shared by several hosts).
 * Throws a `StateBackendError` with reason `unavailable` when the file cannot be opened or the server not reached.
 *
 * @example
 *   const state = openStateBackend({ backend: "sqlite", file: path.join(dataDir, "state.db") });
 *   const shared = openStateBackend({ backend: "redis", url: "redis://127.0.0.1:6379", timeoutMs: 1000 });
 */
export function openStateBackend(options: StateBackendOptions): StateBackend {
  switch (options.backend) {
    case "sqlite":
      return new SqliteStateBackend(options);
    case "redis":
      return new RedisStateBackend(options);
  }
}
