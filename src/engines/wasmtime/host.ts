/**
 * The JS end of the `plughost:plugin/host` interface for the wasmtime engine:
 * one dispatcher function the addon calls for every host call that needs an
 * answer (`log` is buffered natively and delivered after the call). It runs
 * on the JS thread: directly during a synchronous call, through a
 * thread-safe function during an asynchronous one.
 */
import type { HostCalls } from "../engine.js";
import { messageStatus, registerStatus } from "../../contract/abi.js";
import type { HostDispatcher } from "./addon.js";

/** Operation codes; must match `native/wasmtime/src/host.rs` (`op`). */
const OP_REGISTER_CALLBACK = 1;
const OP_EMIT = 2;
const OP_SEND = 3;
const OP_GET_CONFIG = 4;
const OP_GET_CONFIG_VALUE = 5;
/** Returned when the host function threw (host.rs `HOST_FAILED`). */
const HOST_FAILED = -2147483648;
/** `get-config-value` found nothing. */
const NONE = -1;


const EMPTY = new Uint8Array(0);

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
