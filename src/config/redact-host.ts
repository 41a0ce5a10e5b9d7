/** Secrets kept out of what a plugin makes the host show: its log lines and its metrics' help and label values. */
import type { HostCalls } from "../engines/engine.js";

/**
 * `host` with the plugin's log messages, metric help texts and label values passed through `redact()` (the
 * plugin's current secret redactor, read on every call: a live update may bring new secrets) before the host
 * keeps them. Every other member is `host`'s own.
 */
export function redactingHostCalls<H extends HostCalls>(host: H, redact: () => ((text: string) => string) | undefined): H {
  const out = Object.assign(Object.create(Object.getPrototypeOf(host) as object | null) as H, host);
  const log = host.log.bind(host);
  out.log = (level, message) => {
    const r = redact();
    log(level, r ? r(message) : message);
  };
  const define = host.defineMetric?.bind(host);
  if (define) out.defineMetric = (kind, name, help, labelNames) => {
    const r = redact();
    return define(kind, name, r ? r(help) : help, labelNames);
  };
  const record = host.recordMetric?.bind(host);
  if (record) out.recordMetric = (id, value, labelValues) => {
    const r = redact();
    return record(id, value, r ? labelValues.map(r) : labelValues);
  };
  return out;
}
