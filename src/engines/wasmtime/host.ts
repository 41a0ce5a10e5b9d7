/**
 * The JS end of the `plughost:plugin/host` interface for the wasmtime engine:
 * one dispatcher function the addon calls for every host call that needs an
 * answer (`log` is buffered natively and delivered after the call). It runs
 * on the JS thread: directly during a synchronous call, through a
 * thread-safe function during an asynchronous one.
 *
 * `request` is the one host call that may have to wait. During a synchronous
 * call it is the host's `requestSync`, answered at once. During an
 * asynchronous call the guest's thread has taken a ticket; the dispatcher
 * starts the host's `request`, returns at once, and when the promise settles
 * hands the answer to the addon's `completeRequest(ticket, …)`, which wakes
 * that thread. The JS thread never waits for the answer.
 */
import type { ContextOutcome, HostCalls, KeyPage, MessageInfo, RequestOutcome, StateOutcome } from "../engine.js";
import {
  CONTEXT_ERROR_CODE,
  MESSAGE_KIND_CODE,
  messageStatus,
  METRIC_ERROR_CODE,
  METRIC_KINDS,
  REQUEST_ERROR_CODE,
  registerStatus,
  STATE_ERROR_CODE,
  type ContextError,
  type MetricError,
  type RequestError,
  type StateError,
} from "../../contract/abi.js";
import type { CompleteRequest, HostDispatcher } from "./addon.js";

/** Operation codes; must match `native/wasmtime/src/host.rs` (`op`). */
const OP_REGISTER_CALLBACK = 1;
const OP_EMIT = 2;
const OP_SEND = 3;
const OP_GET_CONFIG = 4;
const OP_GET_CONFIG_VALUE = 5;
const OP_DEFINE_METRIC = 6;
const OP_RECORD_METRIC = 7;
const OP_REQUEST = 8;
const OP_CURRENT_MESSAGE = 9;
const OP_STATE_GET = 10;
const OP_STATE_SET = 11;
const OP_STATE_DELETE = 12;
const OP_STATE_EXISTS = 13;
const OP_STATE_LIST_KEYS = 14;
const OP_STATE_INCREMENT = 15;
const OP_STATE_COMPARE_AND_SWAP = 16;
const OP_CONTEXT_GET = 17;
const OP_CONTEXT_SET = 18;
/** Returned when the host function threw (host.rs `HOST_FAILED`). */
const HOST_FAILED = -2147483648;
/** `get-config-value` found nothing. */
const NONE = -1;


const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder();
const toUtf8 = new TextEncoder();

/** A refused request as the addon reads it (host.rs `request_status`): -1 - the request-error code. */
const requestStatus = (error: RequestError): number => -1 - REQUEST_ERROR_CODE[error];
/** `completeRequest`'s code for an answer. */
const ANSWERED = -1;

/**
 * A message-info packed for the addon (host.rs `unpack_message`): [flags u8: 1 parent, 2 source, 4 target][kind u8]
 * [6 zero bytes][id f64][parent id f64][metadata entries u32], then [u32 length][UTF-8] strings: source, target (when
 * present), the event name, then each metadata key and value.
 */
export function packMessage(m: MessageInfo): Uint8Array {
  const strings: Uint8Array[] = [];
  if (m.source !== undefined) strings.push(toUtf8.encode(m.source));
  if (m.target !== undefined) strings.push(toUtf8.encode(m.target));
  strings.push(toUtf8.encode(m.eventName));
  for (const [k, v] of m.metadata) strings.push(toUtf8.encode(k), toUtf8.encode(v));
  let size = 28;
  for (const s of strings) size += 4 + s.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out[0] = (m.parentId !== undefined ? 1 : 0) | (m.source !== undefined ? 2 : 0) | (m.target !== undefined ? 4 : 0);
  out[1] = MESSAGE_KIND_CODE[m.kind];
  dv.setFloat64(8, m.id, true);
  dv.setFloat64(16, m.parentId ?? 0, true);
  dv.setUint32(24, m.metadata.length, true);
  let at = 28;
  for (const s of strings) {
    dv.setUint32(at, s.length, true);
    out.set(s, at + 4);
    at += 4 + s.length;
  }
  return out;
}

/** The optional members answering ops 10-18, in op order. */
const STATE_MEMBERS = [
  "stateGet",
  "stateSet",
  "stateDelete",
  "stateExists",
  "stateListKeys",
  "stateIncrement",
  "stateCompareAndSwap",
  "contextGet",
  "contextSet",
] as const satisfies readonly (keyof HostCalls)[];

/**
 * Which of the state and context members `host` has, as the addon's `stateMembers` bits (op - 10): without one the
 * addon answers `denied` for 1 unit of fuel before reading anything, as the v8 engine does.
 */
export function stateMembers(host: HostCalls): number {
  let bits = 0;
  STATE_MEMBERS.forEach((m, i) => {
    if (typeof host[m] === "function") bits |= 1 << i;
  });
  return bits;
}

/** A refused state call as the addon reads it (state.rs `state_error`): -1 - the state-error code. */
const stateStatus = (error: StateError): number => -1 - STATE_ERROR_CODE[error];
/** A refused context call as the addon reads it (state.rs `context_error`): -1 - the context-error code. */
const contextStatus = (error: ContextError): number => -1 - CONTEXT_ERROR_CODE[error];
const DENIED = { ok: false, error: "denied" } as const;
const UNAVAILABLE = { ok: false, error: "unavailable" } as const;

/**
 * A state-* member's outcome: an absent member is `denied`; one that throws (HostCalls never throw by contract) is
 * `unavailable`, so a broken host never faults the guest.
 */
function stateCall<T>(run: () => StateOutcome<T> | undefined): StateOutcome<T> {
  try {
    return run() ?? DENIED;
  } catch {
    return UNAVAILABLE;
  }
}

/** A context-* member's outcome: absent or throwing is `denied`. */
function contextCall<T>(run: () => ContextOutcome<T> | undefined): ContextOutcome<T> {
  try {
    return run() ?? DENIED;
  } catch {
    return DENIED;
  }
}

/**
 * A key-page packed for the addon (state.rs `unpack_key_page`): [flags u8: 1 cursor][u32 key count], then [u32
 * length][UTF-8] strings: the cursor (when present), then each key.
 */
export function packKeyPage(page: KeyPage): Uint8Array {
  const strings: Uint8Array[] = [];
  if (page.cursor !== undefined) strings.push(toUtf8.encode(page.cursor));
  for (const k of page.keys) strings.push(toUtf8.encode(k));
  let size = 5;
  for (const s of strings) size += 4 + s.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out[0] = page.cursor !== undefined ? 1 : 0;
  dv.setUint32(1, page.keys.length, true);
  let at = 5;
  for (const s of strings) {
    dv.setUint32(at, s.length, true);
    out.set(s, at + 4);
    at += 4 + s.length;
  }
  return out;
}

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
  readonly #complete: CompleteRequest;
  /** > 0 while a host function of this instance runs: a call into the instance now is re-entrant. */
  depth = 0;
  /** What a host function threw during the current call. */
  thrown: unknown = undefined;

  constructor(host: HostCalls, completeRequest: CompleteRequest) {
    this.#host = host;
    this.#complete = completeRequest;
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
        case OP_REQUEST: {
          // a: target, b: event name; data: [timeout-ms u32][ticket u32, 0 on the JS thread][payload].
          const d = data ?? EMPTY;
          const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
          const timeoutMs = dv.getUint32(0, true);
          const ticket = dv.getUint32(4, true);
          const payload = d.subarray(8);
          if (ticket === 0) {
            if (!host.requestSync) return requestStatus("unknown-target");
            let r;
            try {
              r = host.requestSync(a, b, payload, timeoutMs);
            } catch {
              // HostCalls never throw by contract; what a nested call leaked is the target's failure (as on v8).
              return requestStatus("failed");
            }
            return r.ok ? r.value : requestStatus(r.error);
          }
          if (!host.request) return requestStatus("unknown-target");
          const complete = this.#complete;
          // The call thread waits for the ticket; a late answer (after a dispose or the deadline) is dropped there.
          let answer: Promise<RequestOutcome>;
          try {
            answer = host.request(a, b, payload, timeoutMs);
          } catch {
            return requestStatus("failed");
          }
          void answer.then(
            (r) => complete(ticket, r.ok ? ANSWERED : REQUEST_ERROR_CODE[r.error], r.ok ? r.value : null),
            () => complete(ticket, REQUEST_ERROR_CODE.failed, null),
          );
          return 0;
        }
        case OP_CURRENT_MESSAGE: {
          let m: MessageInfo | undefined;
          try {
            m = host.currentMessage?.();
          } catch {
            m = undefined; // a broken host answers none rather than fault the guest (as on v8)
          }
          return m ? packMessage(m) : NONE;
        }
        // State: a value, or a refusal as -1 - code; a missing value is 0.
        case OP_STATE_GET: {
          const r = stateCall(() => host.stateGet?.(a));
          return r.ok ? (r.value ?? 0) : stateStatus(r.error);
        }
        case OP_STATE_SET: {
          const r = stateCall(() => host.stateSet?.(a, data ?? EMPTY));
          return r.ok ? 0 : stateStatus(r.error);
        }
        case OP_STATE_DELETE: {
          const r = stateCall(() => host.stateDelete?.(a));
          return r.ok ? Number(r.value) : stateStatus(r.error);
        }
        case OP_STATE_EXISTS: {
          const r = stateCall(() => host.stateExists?.(a));
          return r.ok ? Number(r.value) : stateStatus(r.error);
        }
        case OP_STATE_LIST_KEYS: {
          // a: the cursor; data: [limit u32][has cursor u8].
          const d = data ?? EMPTY;
          const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
          const limit = d.length >= 4 ? dv.getUint32(0, true) : 0;
          const cursor = d[4] === 1 ? a : undefined;
          const r = stateCall(() => host.stateListKeys?.(cursor, limit));
          return r.ok ? packKeyPage(r.value) : stateStatus(r.error);
        }
        case OP_STATE_INCREMENT: {
          // b: the delta as decimal text; the sum goes back as decimal text (an s64 does not fit a number).
          const r = stateCall(() => host.stateIncrement?.(a, BigInt(b)));
          return r.ok ? r.value.toString() : stateStatus(r.error);
        }
        case OP_STATE_COMPARE_AND_SWAP: {
          // data: [has expected u8][expected length u32][expected][value].
          const d = data ?? EMPTY;
          if (d.length < 5) return stateStatus("unavailable");
          const len = new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(1, true);
          const expected = d[0] === 1 ? d.subarray(5, 5 + len) : undefined;
          const value = d.subarray(5 + len);
          const r = stateCall(() => host.stateCompareAndSwap?.(a, expected, value));
          return r.ok ? Number(r.value) : stateStatus(r.error);
        }
        // Context: JSON text, or a refusal as -1 - code; no value is 0.
        case OP_CONTEXT_GET: {
          const r = contextCall(() => host.contextGet?.(a));
          return r.ok ? (r.value ?? 0) : contextStatus(r.error);
        }
        case OP_CONTEXT_SET: {
          const r = contextCall(() => host.contextSet?.(a, b));
          return r.ok ? 0 : contextStatus(r.error);
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
