/** The root pino logger; each plugin gets a child with `plugin` bound. */
import { pino, type Logger } from "pino";
import { HostConfigError } from "./host-config.js";

export type { Logger };

/** The root logger at `level` (default: `$PLUGHOST_LOG_LEVEL`, else `info`). Throws pino's error for an unknown level. */
export function createLogger(level = process.env.PLUGHOST_LOG_LEVEL ?? "info"): Logger {
  return pino({ name: "plughost", level });
}

const LOGGER_METHODS = ["child", "trace", "debug", "info", "warn", "error", "fatal"] as const;

/**
 * The `logger` registry option as given, once it has pino's shape: every plugin logs through
 * `logger.child({ plugin })`, so a console or a half-built object would fail later, inside a load.
 * Throws `HostConfigError` (`/logger`) naming the missing methods.
 */
export function checkLogger(logger: unknown): Logger {
  const missing =
    typeof logger === "object" && logger !== null
      ? LOGGER_METHODS.filter((m) => typeof (logger as Record<string, unknown>)[m] !== "function")
      : [...LOGGER_METHODS];
  if (missing.length === 0) return logger as Logger;
  const got = logger === null ? "null" : typeof logger === "object" ? `an object without ${missing.join(", ")}` : typeof logger;
  throw new HostConfigError("PluginRegistry options", [
    { pointer: "/logger", message: `must be a pino logger (pino() or pino's child; methods ${LOGGER_METHODS.join(", ")}), got ${got}; leave it out to use the default logger` },
  ]);
}
