/**
 * The wasmtime addon (`native/wasmtime`, built by `scripts/setup/45-wasmtime.mjs`):
 * its typed surface, and loading it lazily so that a machine without the
 * addon only fails when the wasmtime engine is asked for.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { EngineUnavailable } from "../../contract/errors.js";
import { locatePart, partUnavailable, type Located } from "../native/shared.js";
import { useRingSpin, type RingNative } from "./ring.js";

export interface NativeInstantiateOptions {
  fuel?: number;
  fuelLifetime?: number;
  memoryBytes?: number;
  tableElements?: number;
  deadlineMs?: number;
  /** WASI resource limits (native/wasmtime/src/wasi.rs `ResourceLedger`). */
  openFiles?: number;
  connections?: number;
  fsWriteBytes?: number;
  stdio: boolean;
  clock: boolean;
  random: boolean;
  /** `[name, value]` pairs. */
  env: string[][];
  dirs: { path: string; writable: boolean }[];
  /** `host:port` peers; `*` for any host or port. */
  net: string[];
  /** Largest emit/send payload; a larger one is refused (`too-large`) before it is copied. */
  maxMessageBytes?: number;
  /** Which state / context HostCalls members the host has (host.ts `stateMembers`); without one a call is `denied`. */
  stateMembers?: number;
  /** Directory for a trap's Wasm core dump; none is written without it. */
  coreDumpDir?: string;
  /** The dump's name (the plugin's), also its file name's start. */
  coreDumpName?: string;
}

/** The JS side of every host call; see native/wasmtime/src/host.rs. Bytes: a request's answer, a packed message-info. */
export type HostDispatcher = (op: number, a: string, b: string, data: Uint8Array | null) => number | string | Uint8Array;

/**
 * Hands a request's answer to the call thread waiting for it (native/wasmtime/src/requests.rs): `code` -1 with the
 * answer, or a `request-error` code. False when nobody waits any more (the call was disposed or passed its deadline).
 */
export type CompleteRequest = (ticket: number, code: number, answer: Uint8Array | null) => boolean;

export interface NativeInstance extends Partial<RingNative> {
  init(apiVersion: string, config: string): Promise<number>;
  teardown(): Promise<number>;
  onEvent(eventName: string, data: Uint8Array): Promise<number>;
  /** A Buffer is `ok(bytes)`, a number is `err(status)`. */
  onHook(eventName: string, data: Uint8Array): Promise<Uint8Array | number>;
  /** The optional `lifecycle` exports; call them only when `hasOnSuspend` / `hasOnResume` say the guest has them. */
  onSuspend(): Promise<number>;
  onResume(): Promise<number>;
  readonly hasOnSuspend: boolean;
  readonly hasOnResume: boolean;
  /** The optional `config-watch` and `handoff` exports; call them only when `hasOnConfigChanged` / `hasSnapshot` / `hasRestore` say so. */
  onConfigChanged(config: string): Promise<number>;
  snapshot(): Promise<Uint8Array>;
  restore(data: Uint8Array): Promise<number>;
  readonly hasOnConfigChanged?: boolean;
  readonly hasSnapshot?: boolean;
  readonly hasRestore?: boolean;
  onEventSync(eventName: string, data: Uint8Array): number;
  /** `onEventSync` as a bare node-api function bound to this instance (the fast path). */
  syncCaller(): (eventName: string, data: Uint8Array) => number;
  onHookSync(eventName: string, data: Uint8Array): Uint8Array | number;
  /** Buffered entries, and how many were dropped because the per-call buffer was full. */
  takeLog(): { entries: { level: number; message: string }[]; dropped: number };
  takeViolations(): { kind: string; detail: string; resource?: string | null; used?: number | null; limit?: number | null }[];
  /** Ends the instance at once, even mid-call: pending calls reject with `PWT:disposed`. */
  dispose(): void;
  /**
   * Start wasmtime's guest profiler on this instance: one sample of the guest's Wasm stack per epoch tick (1 ms)
   * while a call runs (native/wasmtime/src/profile.rs). Throws `PWT:profile:…` when one already runs. Optional:
   * an addon built before profiling has none.
   */
  startProfile?(name: string): void;
  /** Stop it and give the Firefox Profiler "processed profile" JSON; works after `dispose()` too. */
  stopProfile?(): Promise<Uint8Array>;
  /** Whether a profile runs (the epoch callback then samples every tick). */
  readonly profiling?: boolean;
  /** Samples taken on this instance over all its profiles. */
  readonly profileSamples?: number;
  /**
   * Call typed export `index` (`NativeComponent.appExports()` order) with `args` (a JS array), checked against its
   * parameter types before the guest runs (`PWT:ifacevalue:…`); resolves to the result (native/wasmtime/src/iface.rs).
   * Optional: an addon built before app interfaces has none.
   */
  callExport?(index: number, args: readonly unknown[]): Promise<unknown>;
  /** `callExport` on the JS thread. */
  callExportSync?(index: number, args: readonly unknown[]): unknown;
}

/** One function of an app interface a component imports or exports. */
export interface NativeAppFunction {
  /** The versioned interface id as the component names it (`acme:app/calc@1.0.0`). */
  iface: string;
  /** The WIT function name. */
  name: string;
}

/**
 * The JS end of app-interface imports on the call thread (native/wasmtime/src/iface.rs): `index` in `appImports()`
 * order, `args` the guest's arguments as JS values, `ticket` the waiting call's (answer through `completeInterfaceCall`).
 */
export type InterfaceDispatcher = (index: number, args: unknown[], ticket: number) => unknown;
/** The JS end of one imported function on the JS thread: the guest's arguments as arguments; answers by returning (a symbol: it failed). */
export type DirectInterfaceFunction = (...args: unknown[]) => unknown;

/** Hands an app-interface call's answer to the call thread waiting for `ticket`; false when nobody waits any more. */
export type CompleteInterfaceCall = (ticket: number, ok: boolean, value: unknown) => boolean;

export interface NativeComponent {
  /** "memory", "disk" (the on-disk cache), "compiled", or "rebuilt" (a cached artefact failed its seal). */
  readonly source: string;
  imports(): string[];
  exports(): string[];
  instantiate(
    options: NativeInstantiateOptions,
    dispatcher: HostDispatcher,
    state: Float64Array,
    ifaceDispatcher?: InterfaceDispatcher | null,
    ifaceDirect?: DirectInterfaceFunction[] | null,
  ): Promise<NativeInstance>;
  /** The app-interface functions the component imports, in the dispatcher's index order (absent: an older addon). */
  appImports?(): NativeAppFunction[];
  /** The app-interface functions the component exports, in `callExport`'s index order. */
  appExports?(): NativeAppFunction[];
}

export interface WasmtimeAddon {
  /** The disk cache is used only with the cache's key (cache-dir.ts), which seals every artefact. */
  compile(bytes: Uint8Array, cacheDir: string | null, cacheKey?: Uint8Array | null): Promise<NativeComponent>;
  engineInfo(): { addonVersion: string; pooling: boolean; tickMs: number };
  usePoolingAllocator(enable: boolean): boolean;
  completeRequest: CompleteRequest;
  /** Absent on an addon built before app interfaces. */
  completeInterfaceCall?: CompleteInterfaceCall;
  /** Whether idle call threads may spin for their next ring call (ring.ts); absent on an addon built before rings. */
  setRingSpin?(ok: boolean): void;
}

/** Cells of the state array shared with the addon (native/wasmtime/src/calls.rs). */
export const STATE_LAST_FUEL = 0;
export const STATE_LIFETIME_FUEL = 1;
export const STATE_PENDING_LOG = 2;
export const STATE_PENDING_VIOLATIONS = 3;
/** Bytes of linear memory the instance holds, after the last call. */
export const STATE_MEMORY_BYTES = 4;
export const STATE_CELLS = 5;

const REPO_ADDON = fileURLToPath(new URL("../../../native/wasmtime/plughost-wasmtime.node", import.meta.url));
/** The file inside @plughost/wasmtime-<platform> (npm/wasmtime-<platform>/package.json's main). */
export const PACKAGED_ADDON = "plughost-wasmtime.node";

/**
 * Where the addon is: `PLUGHOST_WASMTIME_ADDON`, else the platform package
 * `@plughost/wasmtime-<platform>` (an optional dependency), else the
 * repository's build (`scripts/setup/45-wasmtime.mjs`); undefined when none exists.
 */
export function locateAddon(): Located | undefined {
  return locatePart("PLUGHOST_WASMTIME_ADDON", "wasmtime", PACKAGED_ADDON, REPO_ADDON);
}

/** The addon's path (see locateAddon); the repository's path when it is nowhere. */
export function addonPath(): string {
  return locateAddon()?.file ?? REPO_ADDON;
}

let cached: WasmtimeAddon | undefined;

/**
 * The addon, loaded once. Throws EngineUnavailable naming this platform, the
 * package that provides it and how to build it when it is nowhere, or the
 * loader's reason when it exists but does not load.
 */
export function loadAddon(): WasmtimeAddon {
  if (cached) return cached;
  const found = locateAddon();
  if (found && !existsSync(found.file)) {
    throw new EngineUnavailable(
      "wasmtime",
      `PLUGHOST_WASMTIME_ADDON names ${found.file}, which does not exist: unset it to use the installed platform package, or point it at a built addon (in a checkout, node scripts/setup.mjs wasmtime builds native/wasmtime/plughost-wasmtime.node)`,
    );
  }
  if (!found) {
    throw partUnavailable({
      engine: "wasmtime",
      part: "wasmtime",
      what: "wasmtime addon",
      setupStep: "wasmtime",
      needs: "a Rust toolchain, stable >= 1.95, and gcc",
      env: "PLUGHOST_WASMTIME_ADDON=<checkout>/native/wasmtime/plughost-wasmtime.node",
      otherwise: "or use the v8 engine",
    });
  }
  const file = found.file;
  try {
    const addon = createRequire(import.meta.url)(file) as WasmtimeAddon;
    // Must happen before the engine is first used (docs/engine-wasmtime.md).
    if (process.env.PLUGHOST_WASMTIME_POOLING === "1") addon.usePoolingAllocator(true);
    const setRingSpin = addon.setRingSpin;
    if (typeof setRingSpin === "function") useRingSpin((ok) => setRingSpin.call(addon, ok));
    cached = addon;
  } catch (err) {
    throw new EngineUnavailable("wasmtime", `the addon ${file} failed to load: ${(err as Error).message}`, { cause: err });
  }
  return cached;
}
