/**
 * The wasmtime engine: plugins run in wasmtime (a node-api addon built from
 * native/wasmtime), with calls off the JS thread. docs/engine-wasmtime.md
 * explains each mechanism.
 *
 * load: read → compile (addon, cached on disk) → check exports, host
 * version and WASI imports against the capabilities → instantiate (addon,
 * worker thread) → `WasmtimeInstance`.
 */
import type { Engine, EngineInstance, LoadRequest } from "../engine.js";
import path from "node:path";
import { openCache, warnCacheRebuilt } from "../../runtime/cache-dir.js";
import { CacheUnsafe, InvalidPluginBinary } from "../../contract/errors.js";
import { checkBuiltApiVersion } from "../../contract/version.js";
import { loadAddon, STATE_CELLS, type NativeComponent, type WasmtimeAddon } from "./addon.js";
import { checkImports, wasiGrant } from "./capabilities.js";
import { mapNativeError } from "./errors.js";
import { HostBridge, stateMembers } from "./host.js";
import { appSurface, checkExpectedExports, ExportIndex, importDispatchers } from "./app-interfaces.js";
import { isAppInterface } from "./capabilities.js";
import { WasmtimeInstance } from "./instance.js";
import { readEntry } from "../../plugin/verify.js";
import { hostCallBounds } from "../../runtime/host-calls.js";

export { WasmtimeInstance } from "./instance.js";

export const wasmtimeEngine: Engine = {
  name: "wasmtime",
  async load(request: LoadRequest): Promise<EngineInstance> {
    const addon = loadAddon();
    const bytes = request.bytes ?? (await readEntry(request.plugin, request.entryPath));
    const scope = { plugin: request.plugin, file: request.entryPath, export: "instantiate" };

    let component: NativeComponent;
    try {
      // The addon seals each .cwasm with the cache's key and checks it before mapping the code.
      const cache = request.cacheDir ? openCache(request.cacheDir, request.plugin) : undefined;
      component = await addon.compile(bytes, cache?.dir ?? null, cache?.key ?? null);
      if (cache && component.source === "rebuilt") warnCacheRebuilt("wasmtime native code", path.join(cache.dir, "wasmtime"));
    } catch (err) {
      if (err instanceof CacheUnsafe) throw err;
      throw mapNativeError(err, scope);
    }
    checkContract(component, request);
    // App interfaces are bound by the registry (granted and provided, or wired), not by a capability table entry.
    checkImports(component.imports().filter((i) => !isAppInterface(i)), request.capabilities, request.plugin);
    const app = appSurface(component, request.plugin, request.entryPath);
    const exports = new ExportIndex(app.exports);
    checkExpectedExports(exports, request.interfaces, request.plugin);

    const { limits } = request;
    const bridge = new HostBridge(request.host, addon.completeRequest);
    const ifaceDispatchers = importDispatchers(app.imports, request.interfaces, request.plugin, bridge, addon.completeInterfaceCall);
    // Its own ArrayBuffer: off the V8 heap, so the addon can keep a pointer.
    const state = new Float64Array(new ArrayBuffer(STATE_CELLS * 8));
    let native;
    try {
      native = await component.instantiate(
        {
          ...wasiGrant(request.capabilities, request.entryPath, request.plugin),
          fuel: limits.fuel,
          fuelLifetime: limits.fuelLifetime,
          memoryBytes: limits.memoryBytes,
          tableElements: limits.tableElements,
          deadlineMs: limits.deadlineMs,
          openFiles: limits.openFiles,
          connections: limits.connections,
          fsWriteBytes: limits.fsWriteBytes,
          maxMessageBytes: hostCallBounds(request.host).maxMessageBytes,
          stateMembers: stateMembers(request.host),
          ...(request.coreDumpDir ? { coreDumpDir: request.coreDumpDir, coreDumpName: request.plugin } : {}),
        },
        bridge.dispatch,
        state,
        ifaceDispatchers?.threaded ?? null,
        ifaceDispatchers?.direct ?? null,
      );
    } catch (err) {
      throw mapNativeError(err, { ...scope, hostError: bridge.takeThrown() });
    }
    return new WasmtimeInstance({
      plugin: request.plugin,
      file: request.entryPath,
      native,
      state,
      bridge,
      host: request.host,
      onViolation: request.onViolation,
      exports,
    });
  },
};

/** The addon, for callers that want its engine details (benchmarks, diagnostics). */
export function wasmtimeAddon(): WasmtimeAddon {
  return loadAddon();
}


/** The component must export the guest interface, built for a compatible API version (src/contract/version.ts). */
function checkContract(component: NativeComponent, request: LoadRequest): void {
  const guest = component.exports().find((e) => e.startsWith("plughost:plugin/guest"));
  if (!guest) {
    throw new InvalidPluginBinary(request.entryPath, "the component does not export plughost:plugin/guest; build it against wit/plugin.wit (world plugin)", {
      plugin: request.plugin,
    });
  }
  for (const name of [guest, ...component.imports().filter((i) => i.startsWith("plughost:plugin/"))]) {
    const version = /@(.+)$/.exec(name)?.[1];
    if (version) checkBuiltApiVersion(request.plugin, version);
  }
}
