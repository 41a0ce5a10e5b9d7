/** The root pino logger; each plugin gets a child with `plugin` bound. */
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level = process.env.PLUGHOST_LOG_LEVEL ?? "info"): Logger {
  return pino({ name: "plughost", level });
}
