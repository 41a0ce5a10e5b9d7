/** The root pino logger; each plugin gets a child with `plugin` bound. */
import { pino, type Logger } from "pino";

export type { Logger };

/** The root logger at `level` (default: `$PLUGHOST_LOG_LEVEL`, else `info`). Throws pino's error for an unknown level. */
export function createLogger(level = process.env.PLUGHOST_LOG_LEVEL ?? "info"): Logger {
  return pino({ name: "plughost", level });
}
