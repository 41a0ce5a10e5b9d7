/**
 * The longest event name, in bytes. Event names are 1 to 128 bytes of
 * `[A-Za-z0-9._:/-]`: ASCII only, so bytes and characters agree and names are
 * safe in logs, metrics and file names.
 */
export const MAX_EVENT_NAME_BYTES = 128;
const EVENT_NAME = /^[A-Za-z0-9._:/-]+$/;

/**
 * Why `name` is not a valid event name, or undefined when it is. Never throws;
 * the registry turns a problem into `InvalidCallbackName`.
 *
 * @example
 *   eventNameProblem("order.created"); // undefined
 *   eventNameProblem("a b");           // "it may contain only A-Z, a-z, 0-9 and . _ : / -"
 */
export function eventNameProblem(name: string): string | undefined {
  if (name.length === 0) return "it is empty";
  if (name.length > MAX_EVENT_NAME_BYTES) return `it is ${name.length} bytes; the limit is ${MAX_EVENT_NAME_BYTES}`;
  if (!EVENT_NAME.test(name)) return "it may contain only A-Z, a-z, 0-9 and . _ : / -";
  return undefined;
}

/**
 * Whether an `events:publish:` / `events:subscribe:` pattern covers `name`:
 * equal, or a trailing `*` matching a prefix (`order.*` covers `order.created`,
 * not `orders.x` nor `order`; `*` covers every name). The one rule for the
 * load-time capability check and the run-time gate.
 */
export function eventNameCovers(pattern: string, name: string): boolean {
  if (pattern.endsWith("*")) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}
