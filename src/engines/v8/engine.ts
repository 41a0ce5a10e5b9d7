/**
 * The v8 engine: Node's own WebAssembly, driven through jco-transpiled glue.
 * compile (compile.ts) → check imports against capabilities (wasi.ts) →
 * instantiate with the direct host imports (host-imports.ts) → call path
 * (instance.ts). Isolation is chosen here, once: the component is compiled,
 * instrumented and verified on the host thread either way, and a worker
 * (worker/) receives the result and never compiles it again.
 */
import path from "node:path";
import { ContextCreationFailed, FuelExhausted, InvalidPluginBinary, PlughostError, TableLimitExceeded } from "../../contract/errors.js";
import type { Engine, EngineInstance, LoadRequest } from "../engine.js";
import { GuestMemory } from "./guest-memory.js";
import { compileComponent, type CompiledComponent, type GlueInstantiate, type ModuleLimits } from "./compile.js";
import { createHostImports, HOST_IMPORT_MODULE, type ImportContext } from "./host-imports.js";
import { hostCallBounds } from "../../runtime/host-calls.js";
import { probeArena, V8Instance, type CallMeter, type GuestExports } from "./instance.js";
import { checkImports, wasiImports } from "./wasi.js";
import { AppInterfaces, checkAppImports, isAppInterface } from "./app-interfaces.js";
import { loadInWorker } from "./worker/host.js";
import { createLimits, instrumentCacheWritten, instrumentModule, LimitCapError, type InstrumentOptions, type Limits as LimitsRuntime } from "../../instrument/index.js";
import { FUEL_ENTRY_PREFIX } from "../../instrument/types.js";
import { readEntry } from "../../plugin/verify.js";
import { API_VERSION, WIT_PACKAGE } from "../../contract/abi.js";

const GUEST = `${WIT_PACKAGE}/guest@${API_VERSION}#`;
const FUEL_ENTRIES: readonly string[] = [`${GUEST}on-event`, `${GUEST}on-hook`];
const LIFECYCLE = `${WIT_PACKAGE}/lifecycle@${API_VERSION}#`;
const CONFIG_WATCH = `${WIT_PACKAGE}/config-watch@${API_VERSION}#`;
const HANDOFF = `${WIT_PACKAGE}/handoff@${API_VERSION}#`;

export const v8Engine: Engine = {
  name: "v8",
  async load(request: LoadRequest): Promise<EngineInstance> {
    const bytes = request.bytes ?? (await readEntry(request.plugin, request.entryPath));
    const { instrumented, key } = instrumentation(request.limits);
    // Large core modules are instrumented while jco runs on another thread, and compiled by V8 on its own threads.
    const early = new Map<Uint8Array, Promise<[WebAssembly.Module, ModuleLimits]>>();
    const compiled = await compileComponent(bytes, {
      file: request.entryPath,
      plugin: request.plugin,
      cacheDir: request.cacheDir,
      whileTranspiling: instrumented ? (modules) => modules.forEach((m) => early.set(m, compileEarly(m, request))) : undefined,
    });
    for (const [name, raw] of compiled.coreBytes) {
      const pending = early.get(raw);
      const at = `${name}|${key}`;
      if (!pending || compiled.modules.has(at)) continue;
      const done = await pending.catch(() => undefined); // a failure is met again, and reported, by coreModule()
      if (done && !compiled.modules.has(at)) {
        compiled.modules.set(at, done[0]);
        compiled.rewrites.set(done[0], done[1]);
      }
    }
    // App-defined interfaces are bound by the registry (granted and provided, or wired); the rest by capabilities.
    checkImports(compiled.imports.filter((i) => !isAppInterface(i)), request.capabilities, request.plugin);
    checkAppImports(compiled.imports, request);
    // In a worker, app interface calls cross to the host thread (worker/host.ts HOST_CALL.IFACE), where a Promise may be awaited.
    const instance = request.isolation === "worker" ? await loadInWorker(request, prepareForWorker(compiled, request)) : await instantiate(compiled, request);
    await instrumentCacheWritten(); // written on the thread pool meanwhile; on disk once the plugin is loaded
    return instance;
  },
};

/**
 * A component compiled, instrumented and verified on the host, as a worker
 * receives it in its setup message (structured-cloneable: compiled modules
 * are shared with the worker, not recompiled).
 */
export interface PreparedComponent {
  hash: string;
  /** The verified glue, imported by the worker from this data: URL (never from a file). */
  glueUrl: string;
  imports: readonly string[];
  exports: readonly string[];
  modules: PreparedModule[];
}

export interface PreparedModule {
  /** The file name the glue asks for. */
  name: string;
  /** Compiled with this instance's instrumentation. */
  module: WebAssembly.Module;
  /** What the instrumenter reported, when it rewrote the module. */
  limits: ModuleLimits | undefined;
  /** Instantiating it runs guest code (a start section): the worker times it against the deadline. */
  hasStart: boolean;
}

/** What the limits ask of the instrumenter, and the key of the modules compiled for it. */
function instrumentation(limits: LoadRequest["limits"]): { metered: boolean; instrumented: boolean; key: string } {
  const { fuel, fuelLifetime, memoryBytes, tableElements } = limits;
  const metered = fuel !== undefined || fuelLifetime !== undefined;
  const instrumented = metered || memoryBytes !== undefined || tableElements !== undefined;
  return { metered, instrumented, key: instrumented ? `fuel=${metered}|mem=${memoryBytes ?? ""}|tab=${tableElements ?? ""}` : "" };
}

/** A large core module instrumented now and compiled on V8's threads (what coreModule() would do, earlier). */
function compileEarly(raw: Uint8Array, request: LoadRequest): Promise<[WebAssembly.Module, ModuleLimits]> {
  const { bytes, ...meta } = instrumentModule(raw, instrumentOptions(request, "core module"));
  const pending = WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>).then((mod): [WebAssembly.Module, ModuleLimits] => [mod, meta]);
  pending.catch(() => undefined); // awaited only when the component compiles
  return pending;
}

/** How the instrumenter rewrites the core module `name` for these limits. */
function instrumentOptions(request: LoadRequest, name: string): InstrumentOptions {
  const { memoryBytes, tableElements } = request.limits;
  return {
    fuel: instrumentation(request.limits).metered,
    memoryBytes,
    tableElements,
    label: `${request.entryPath}#${name}`,
    plugin: request.plugin,
    // on-event's and on-hook's call and fuel settlement in one call into Wasm (V8Instance's arena path).
    fuelEntries: FUEL_ENTRIES,
    ...(request.cacheDir ? { cacheDir: path.join(request.cacheDir, "instrumented"), cacheWrite: "background" as const } : {}),
  };
}

/** Core module `name`, compiled (and instrumented when the limits need it) once per component and limits. */
function coreModule(compiled: CompiledComponent, name: string, request: LoadRequest): WebAssembly.Module {
  const { instrumented, key } = instrumentation(request.limits);
  const cacheKey = `${name}|${key}`;
  let mod = compiled.modules.get(cacheKey);
  if (mod) return mod;
  const raw = compiled.coreBytes.get(name);
  if (!raw) throw new InvalidPluginBinary(request.entryPath, `jco glue asked for a missing core module ${name}`, { plugin: request.plugin });
  if (instrumented) {
    const result = instrumentModule(raw, instrumentOptions(request, name));
    mod = new WebAssembly.Module(result.bytes as Uint8Array<ArrayBuffer>);
    const { bytes: _rewritten, ...meta } = result;
    compiled.rewrites.set(mod, meta);
  } else {
    mod = new WebAssembly.Module(raw as Uint8Array<ArrayBuffer>);
  }
  compiled.modules.set(cacheKey, mod);
  return mod;
}

/** Every core module of the component, ready for a worker (the same cache the in-process path uses). */
function prepareForWorker(compiled: CompiledComponent, request: LoadRequest): PreparedComponent {
  const modules = [...compiled.coreBytes].map(([name, raw]): PreparedModule => {
    const module = coreModule(compiled, name, request);
    // Instrumenting adds no start section, so the original bytes tell.
    return { name, module, limits: compiled.rewrites.get(module), hasStart: hasStartSection(raw) };
  });
  return { hash: compiled.hash, glueUrl: compiled.glueUrl, imports: compiled.imports, exports: compiled.exports, modules };
}

/**
 * Instantiate what the host prepared (worker isolation, inside the worker):
 * the glue is imported from the verified bytes the host sent, and the glue's
 * requests for core modules are answered from the modules it compiled.
 */
export async function instantiatePrepared(prepared: PreparedComponent, request: LoadRequest): Promise<V8Instance> {
  const { key } = instrumentation(request.limits);
  const glue = (await import(prepared.glueUrl)) as { instantiate: GlueInstantiate };
  const compiled: CompiledComponent = {
    hash: prepared.hash,
    instantiate: glue.instantiate,
    glueUrl: prepared.glueUrl,
    coreBytes: new Map(),
    imports: prepared.imports,
    exports: prepared.exports,
    modules: new Map(prepared.modules.map((m) => [`${m.name}|${key}`, m.module])),
    rewrites: new Map(prepared.modules.flatMap((m) => (m.limits ? [[m.module, m.limits] as const] : []))),
  };
  return instantiate(compiled, request);
}

/** True when a core module's bytes hold a start section (id 8): instantiating it runs guest code. */
export function hasStartSection(b: Uint8Array): boolean {
  let at = 8; // magic + version
  while (at < b.length) {
    const id = b[at++]!;
    let size = 0;
    for (let shift = 0; at < b.length && shift < 35; shift += 7) {
      const byte = b[at++]!;
      size += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) break;
    }
    if (id === 8) return true;
    at += size;
  }
  return false;
}

async function instantiate(compiled: CompiledComponent, request: LoadRequest): Promise<V8Instance> {
  const plugin = request.plugin;
  const memory = new GuestMemory(plugin);
  const ctx: ImportContext = { plugin, memory, host: request.host, currentExport: "instantiate", realloc: undefined };
  const hostImports = createHostImports(ctx);
  const { fuel, fuelLifetime, memoryBytes, tableElements } = request.limits;
  const { metered, instrumented } = instrumentation(request.limits);
  // One fuel counter and one memory ledger for all core modules of this instance.
  const limits: LimitsRuntime | undefined = instrumented
    ? createLimits({
        fuel,
        fuelLifetime,
        memoryBytes,
        tableElements,
        plugin,
        // Fuel exhaustion fails the call and is recorded as a fault; refused grows only report here.
        onViolation: (kind, detail) => kind === "memory" && request.onViolation?.("memory", detail),
      })
    : undefined;
  // Host calls charge their work to the running call's fuel.
  if (limits && metered) ctx.limits = limits;
  // Metered instances pay for each app interface call as for a plughost host call.
  const app = new AppInterfaces(request, limits && metered ? (units) => limits.charge(units) : undefined, hostCallBounds(request.host).callCost);
  const rewrites = new Map<WebAssembly.Module, ModuleLimits>();
  let guest: WebAssembly.Instance | undefined;

  const getCoreModule = (name: string): WebAssembly.Module => {
    const mod = coreModule(compiled, name, request);
    const meta = compiled.rewrites.get(mod);
    if (meta) rewrites.set(mod, meta);
    return mod;
  };

  const instantiateCore = async (module: WebAssembly.Module, imports: WebAssembly.Imports = {}): Promise<WebAssembly.Instance> => {
    const isGuest = WebAssembly.Module.exports(module).some((e) => e.name === `${GUEST}init`);
    const wanted = WebAssembly.Module.imports(module);
    const merged = { ...imports, ...(limits?.imports ?? {}) } as WebAssembly.Imports;
    const meta = rewrites.get(module);
    if (limits && meta) limits.admitModule(meta, `${request.entryPath} core module`, true);
    if (isGuest && wanted.some((i) => i.module === HOST_IMPORT_MODULE)) {
      // Direct imports instead of jco's trampolines: no per-call task records.
      merged[HOST_IMPORT_MODULE] = { ...(imports[HOST_IMPORT_MODULE] ?? {}), ...hostImports };
    }
    // App interfaces likewise: canonical-ABI trampolines straight into the guest core.
    if (isGuest) for (const [mod, fns] of Object.entries(app.coreImports(wanted))) merged[mod] = { ...(imports[mod] ?? {}), ...fns };
    // Synchronously: the module is compiled already, and the asynchronous form only adds a task (an event-loop
    // turn) per core module to the load; start functions run on this thread either way.
    const instance = new WebAssembly.Instance(module, merged);
    if (isGuest) guest = instance;
    return instance;
  };

  // jco's glue destructures the host functions it expects; ours are wired
  // into the guest core directly, so these are never called.
  const unreachableHost = () => {
    throw new Error("plughost: jco host trampoline called; the direct import wiring missed a function");
  };
  const imports: Record<string, unknown> = {
    "plughost:plugin/host": {
      log: unreachableHost,
      registerCallback: unreachableHost,
      emit: unreachableHost,
      send: unreachableHost,
      getConfig: unreachableHost,
      getConfigValue: unreachableHost,
      defineMetric: unreachableHost,
      recordMetric: unreachableHost,
      request: unreachableHost,
      currentMessage: unreachableHost,
      stateGet: unreachableHost,
      stateSet: unreachableHost,
      stateDelete: unreachableHost,
      stateExists: unreachableHost,
      stateListKeys: unreachableHost,
      stateIncrement: unreachableHost,
      stateCompareAndSwap: unreachableHost,
      contextGet: unreachableHost,
      contextSet: unreachableHost,
    },
    ...app.glueStubs(compiled.imports),
    ...(await wasiImports(
      compiled.imports,
      request.capabilities,
      request.host,
      path.dirname(request.entryPath),
      (detail) => request.onViolation?.("capability", detail),
      limits, // WASI path resolution is billed to the call's fuel
      {
        openFiles: request.limits.openFiles,
        connections: request.limits.connections,
        fsWriteBytes: request.limits.fsWriteBytes,
        onExceeded: (usage, detail) => request.onViolation?.("resource", detail, usage),
      },
    )),
  };

  try {
    await compiled.instantiate(getCoreModule, imports, instantiateCore);
  } catch (err) {
    // Tables over the summed cap: the same error as wasmtime gives (the instrumenter's detail is the cause).
    if (err instanceof LimitCapError && err.kind === "table") throw new TableLimitExceeded("instantiate", err.cap, { plugin, cause: err });
    if (err instanceof PlughostError) throw err;
    // A start function (C constructors, a runtime's start-up) that ran out of fuel: the same error wasmtime gives.
    if (limits && metered && limits.isFuelSignal(err)) throw new FuelExhausted("instantiate", limits.callBudget, { plugin, cause: err });
    throw new ContextCreationFailed(`instantiating the component failed: ${(err as Error).message ?? String(err)}`, {
      plugin,
      cause: err,
    });
  }
  if (!guest) throw new InvalidPluginBinary(request.entryPath, "no core module exports the plughost guest interface", { plugin });

  const e = guest.exports as Record<string, unknown>;
  const fn = <T>(name: string): T => {
    const f = e[name];
    if (typeof f !== "function") throw new InvalidPluginBinary(request.entryPath, `the guest core module does not export ${name}`, { plugin });
    return f as T;
  };
  const post = (name: string) => {
    const f = e[`cabi_post_${GUEST}${name}`];
    return typeof f === "function" ? (f as (ret: number) => void) : undefined;
  };
  const optional = <T>(name: string): T | undefined => (typeof e[name] === "function" ? (e[name] as T) : undefined);
  const mem = e.memory;
  if (!(mem instanceof WebAssembly.Memory)) throw new InvalidPluginBinary(request.entryPath, "the guest core module exports no memory", { plugin });
  memory.attach(mem);
  const guestExports: GuestExports = {
    realloc: fn("cabi_realloc"),
    init: fn(`${GUEST}init`),
    teardown: fn(`${GUEST}teardown`),
    onEvent: fn(`${GUEST}on-event`),
    onHook: fn(`${GUEST}on-hook`),
    postInit: post("init"),
    postTeardown: post("teardown"),
    postOnEvent: post("on-event"),
    postOnHook: post("on-hook"),
    // The optional lifecycle interface: looked up, never required.
    onSuspend: optional(`${LIFECYCLE}on-suspend`),
    onResume: optional(`${LIFECYCLE}on-resume`),
    postOnSuspend: optional(`cabi_post_${LIFECYCLE}on-suspend`),
    postOnResume: optional(`cabi_post_${LIFECYCLE}on-resume`),
    // The optional config-watch and handoff interfaces, likewise.
    onConfigChanged: optional(`${CONFIG_WATCH}on-config-changed`),
    postOnConfigChanged: optional(`cabi_post_${CONFIG_WATCH}on-config-changed`),
    snapshot: optional(`${HANDOFF}snapshot`),
    postSnapshot: optional(`cabi_post_${HANDOFF}snapshot`),
    restore: optional(`${HANDOFF}restore`),
    postRestore: optional(`cabi_post_${HANDOFF}restore`),
  };
  ctx.realloc = guestExports.realloc;
  app.guest.memory = mem;
  app.guest.realloc = guestExports.realloc;
  app.bindExports(e, compiled.exports);
  const meter: CallMeter | undefined = limits && metered ? limits : undefined;
  // Only without a post-return: the entry's stored fuel would miss what post-return uses.
  if (meter && !guestExports.postOnEvent) guestExports.onEventFuel = optional(`${FUEL_ENTRY_PREFIX}${GUEST}on-event`);
  if (meter && !guestExports.postOnHook) guestExports.onHookFuel = optional(`${FUEL_ENTRY_PREFIX}${GUEST}on-hook`);
  // Lifetime fuel, as on wasmtime: what instantiation (start functions) used, then every call, faulted ones included.
  const startupFuel = limits && metered ? limits.callBudget - limits.fuelRemaining() : 0;
  try {
    guestExports.arena = probeArena(e, memory, guestExports.realloc, meter);
  } catch (err) {
    if (limits && metered && limits.isFuelSignal(err)) throw new FuelExhausted("instantiate", limits.callBudget, { plugin, cause: err });
    throw new ContextCreationFailed(`reading the C SDK's argument arena failed: ${(err as Error).message ?? String(err)}`, { plugin, cause: err });
  }
  const instance = new V8Instance(plugin, guestExports, memory, ctx, meter, () => {
    guest = undefined;
  }, app);
  if (!limits || !metered) return instance;
  return Object.assign(instance, { lifetimeFuel: () => startupFuel + limits.totalFuelUsed });
}
