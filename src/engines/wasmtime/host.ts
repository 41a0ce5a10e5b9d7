/**
 * The JS end of the `plughost:plugin/host` interface for the wasmtime engine:
 * one dispatcher function the addon calls for every host call that needs an
 * answer (`log` is buffered natively and delivered after the call). It runs
 * on the JS thread: directly during a synchronous call, through a
 * thread-safe function during an asynchronous one.
 */
import type { HostCalls } from "../engine.js";
import { messageStatus, METRIC_ERROR_CODE, METRIC_KINDS, registerStatus, type MetricError } from "../../contract/abi.js";
import type { HostDispatcher } from "./addon.js";

/** Operation codes; must match `native/wasmtime/src/host.rs` (`op`). */
const OP_REGISTER_CALLBACK = 1;
const OP_EMIT = 2;
const OP_SEND = 3;
const OP_GET_CONFIG = 4;
const OP_GET_CONFIG_VALUE = 5;
const OP_DEFINE_METRIC = 6;
const OP_RECORD_METRIC = 7;
/** Returned when the host function threw (host.rs `HOST_FAILED`). */
const HOST_FAILED = -2147483648;
/** `get-config-value` found nothing. */
const NONE = -1;


const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder();

/** A refused define / record as the addon reads it (host.rs `metric_error`): -1 - the metric-error code. */
const metricStatus = (error: MetricError): number => -1 - METRIC_ERROR_CODE[error];

/** Strings the addon packed as [u32 LE length][UTF-8 bytes]…, from `at` (checked and bounded there). */
function unpackStrings(data: Uint8Array, at: number): string[] {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: string[] = [];
  while (at + 4 <= data.length) {
    const len = dv.getUint32(at, true);
    out.push(utf8.decode(data.subarray(at + 4, at + 4 + len)));
    at += 4 + len;
  }
  return out;
}

export class HostBridge {
  readonly #host: HostCalls;
  /** > 0 while a host function of this instance runs: a call into the instance now is re-entrant. */
  depth = 0;
  /** What a host function threw during the current call. */
  thrown: unknown = undefined;

  constructor(host: HostCalls) {
    this.#host = host;
  }

  /** Hand this to the addon. */
  readonly dispatch: HostDispatcher = (op, a, b, data) => {
    this.depth++;
    try {
      const host = this.#host;
      switch (op) {
        case OP_REGISTER_CALLBACK:
          return registerStatus(host.registerCallback(a));
        case OP_EMIT: {
          const r = host.emit(a, data ?? EMPTY);
          return r.ok ? r.value : messageStatus(r.error);
        }
        case OP_SEND: {
          const r = host.send(a, b, data ?? EMPTY);
          return r.ok ? 0 : messageStatus(r.error);
        }
        case OP_GET_CONFIG:
          return host.getConfig();
        case OP_GET_CONFIG_VALUE:
          return host.getConfigValue(a) ?? NONE;
        case OP_DEFINE_METRIC: {
          // data: [kind u8][label names]; a: name, b: help.
          const d = data ?? EMPTY;
          if (!host.defineMetric) return metricStatus("denied");
          const r = host.defineMetric(METRIC_KINDS[d[0] ?? 0] ?? "counter", a, b, unpackStrings(d, 1));
          return r.ok ? r.value : metricStatus(r.error);
        }
        case OP_RECORD_METRIC: {
          // data: [id u32][value f64][label values].
          const d = data ?? EMPTY;
          if (!host.recordMetric || d.length < 12) return metricStatus("denied");
          const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
          const r = host.recordMetric(dv.getUint32(0, true), dv.getFloat64(4, true), unpackStrings(d, 12));
          return r.ok ? 0 : metricStatus(r.error);
        }
        default:
          throw new Error(`unknown host operation ${op}`);
      }
    } catch (err) {
      this.thrown ??= err;
      return HOST_FAILED;
    } finally {
      this.depth--;
    }
  };

  /** The error a host function threw since the last call, and forget it. */
  takeThrown(): unknown {
    const t = this.thrown;
    this.thrown = undefined;
    return t;
  }
}
