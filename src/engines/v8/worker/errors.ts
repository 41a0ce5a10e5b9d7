/**
 * Errors across the worker boundary: the worker's engine raises the same typed
 * errors as in process (PluginTrap, FuelExhausted, PluginExited, …); they cross
 * as JSON and are rebuilt here as instances of the host's own classes, with the
 * same code, fields, message and the worker's stack.
 */
import * as errors from "../../../contract/errors.js";
import { PlughostError } from "../../../contract/errors.js";
import * as instrumentErrors from "../../../instrument/errors.js";

export interface SerializedError {
  name: string;
  message: string;
  stack: string | undefined;
  /** Own enumerable fields (code, plugin, export, budget, exitCode, …). */
  fields: Record<string, unknown>;
  cause: { name: string; message: string } | undefined;
}

type ErrorClass = abstract new (...args: never[]) => PlughostError;

const CLASSES = new Map<string, ErrorClass>();
// The instrumenter's errors too: a LimitCapError at load must stay one across the boundary.
for (const value of [...Object.values(errors), ...Object.values(instrumentErrors)]) {
  if (typeof value === "function" && (value === PlughostError || value.prototype instanceof PlughostError)) {
    CLASSES.set(value.name, value as unknown as ErrorClass);
  }
}

export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) {
    return { name: "Error", message: String(err), stack: undefined, fields: {}, cause: undefined };
  }
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(err)) {
    if (key === "cause") continue;
    const t = typeof value;
    if (value === null || t === "string" || t === "number" || t === "boolean" || Array.isArray(value)) fields[key] = value;
  }
  const cause = err.cause instanceof Error ? { name: err.cause.name, message: err.cause.message } : undefined;
  return { name: err.name, message: err.message, stack: err.stack, fields, cause };
}

function reviveCause(cause: SerializedError["cause"]): Error | undefined {
  if (!cause) return undefined;
  const ctor =
    cause.name === "RuntimeError"
      ? WebAssembly.RuntimeError
      : cause.name === "RangeError"
        ? RangeError
        : cause.name === "TypeError"
          ? TypeError
          : Error;
  const err = new ctor(cause.message);
  if (ctor === Error && cause.name !== "Error") err.name = cause.name;
  return err;
}

/**
 * Rebuild a worker's error as the host's class of the same name. A non-plughost
 * error (a bug in the worker itself) becomes `fallback(message)`.
 */
export function reviveError(s: SerializedError, fallback: (message: string, cause: Error | undefined) => PlughostError): PlughostError {
  const cls = CLASSES.get(s.name);
  const cause = reviveCause(s.cause);
  if (!cls || typeof s.fields.code !== "string") return fallback(s.message, cause);
  // Construct through the base constructor with the subclass as new.target: a real
  // Error of the right class, without needing each subclass's argument list.
  const plugin = typeof s.fields.plugin === "string" ? s.fields.plugin : undefined;
  const err = Reflect.construct(PlughostError, [s.fields.code, "", { plugin, cause }], cls) as PlughostError;
  Object.assign(err, s.fields);
  Object.defineProperty(err, "message", { value: s.message, writable: true, configurable: true, enumerable: false });
  if (s.stack) Object.defineProperty(err, "stack", { value: s.stack, writable: true, configurable: true, enumerable: false });
  return err;
}
