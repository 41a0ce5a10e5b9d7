/** Engine lookup by name. Optional engines load lazily, so a missing addon only matters when it is asked for. */
import { EngineUnavailable } from "../contract/errors.js";
import type { Engine, EngineName } from "./engine.js";
import type { SandboxOptions } from "./native/sandbox/host.js";
import { v8Engine } from "./v8/engine.js";

// Resolved at run time: these modules (and their addons) are optional.
const sibling = (file: string) => new URL(file, import.meta.url).href;

const loaders: Record<EngineName, () => Promise<Engine>> = {
  v8: async () => v8Engine,
  wasmtime: async () => ((await import(sibling("wasmtime/engine.js"))) as { wasmtimeEngine: Engine }).wasmtimeEngine,
  native: async () => ((await import(sibling("native/engine.js"))) as { nativeEngine: Engine }).nativeEngine,
};

const loaded = new Map<EngineName, Promise<Engine>>();

/**
 * The engine of that name, loaded on first use (the registry does this for
 * each plugin; call it to check that an engine is usable here).
 * Rejects with `EngineUnavailable` for an unknown name or an engine whose
 * native part is missing or fails to load (the error says what to build or
 * install); a later call tries again.
 *
 * @example
 *   const wasmtime = await getEngine("wasmtime").catch(() => undefined);
 */
export function getEngine(name: EngineName): Promise<Engine> {
  let engine = loaded.get(name);
  if (!engine) {
    const load = loaders[name];
    if (!load) return Promise.reject(new EngineUnavailable(String(name), "unknown engine; use v8, wasmtime or native"));
    engine = load().catch((err: unknown) => {
      loaded.delete(name);
      if (err instanceof EngineUnavailable) throw err;
      throw new EngineUnavailable(name, (err as Error).message ?? String(err), { cause: err });
    });
    loaded.set(name, engine);
  }
  return engine;
}

/**
 * A native engine with these sandbox options (the registry's `nativeSandbox`), loaded like `getEngine("native")`:
 * rejects with `EngineUnavailable` when the native part is missing.
 */
export async function nativeEngineWith(sandbox: SandboxOptions): Promise<Engine> {
  try {
    const mod = (await import(sibling("native/engine.js"))) as { createNativeEngine(o: { sandbox: SandboxOptions }): Engine };
    return mod.createNativeEngine({ sandbox });
  } catch (err) {
    if (err instanceof EngineUnavailable) throw err;
    throw new EngineUnavailable("native", (err as Error).message ?? String(err), { cause: err });
  }
}
