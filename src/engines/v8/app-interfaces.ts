/**
 * App-defined interfaces on the v8 engine (docs/host-interfaces.md): the guest core module's imports of the
 * application's interfaces are wired straight to canonical-ABI trampolines (interfaces/canonical-abi.ts), and its
 * typed exports get callers; jco's own trampolines for them are never used (see TOOLCHAIN-NOTES: they leak a task
 * record per call), so jco's glue gets stubs that throw.
 */
import { AbiViolation, InterfaceUnavailable, InterfaceValueError, PluginTrap, type InstanceFault } from "../../contract/errors.js";
import { exportCaller, hostImportTrampoline, HostImplementationError, type ExportCaller, type GuestAbi } from "../../interfaces/canonical-abi.js";
import { interfaceId, jsName, unversionedId, type ImportBinding, type InterfaceBindings, type WitInterface } from "../../interfaces/types.js";
import type { LoadRequest } from "../engine.js";

/** An import of the component that is an application's interface (not WASI, not plughost's own). */
export function isAppInterface(id: string): boolean {
  return !id.startsWith("wasi:") && !id.startsWith("plughost:plugin/");
}

/** The binding for an interface the guest imports as `id` (exact, else the same interface at another version). */
function bindingFor(bindings: InterfaceBindings | undefined, id: string): ImportBinding | undefined {
  if (!bindings) return undefined;
  const exact = bindings.imports.get(id);
  if (exact) return exact;
  const bare = unversionedId(id);
  for (const [key, b] of bindings.imports) if (unversionedId(key) === bare) return b;
  return undefined;
}

/**
 * Refuse, before instantiating, a component importing an app interface that `request.interfaces` does not bind
 * (`InterfaceUnavailable` "missing", naming it). `imports` are the component's imports as jco lists them.
 */
export function checkAppImports(imports: readonly string[], request: LoadRequest): void {
  for (const id of imports) {
    if (!isAppInterface(id)) continue;
    if (!bindingFor(request.interfaces, id)) {
      throw new InterfaceUnavailable(
        id,
        "missing",
        `plugin ${request.plugin} imports it, but no host implementation or plugin export is bound to it; provide it (registry.provide) or wire it from a plugin ([interfaces.from] in plugin.toml)`,
        { plugin: request.plugin },
      );
    }
  }
}

/** The app-interface half of one v8 instance: trampolines for the guest core, stubs for jco, and export callers. */
export class AppInterfaces {
  /** The guest's memory and allocator, filled in once the guest core module is instantiated. */
  readonly guest: GuestAbi = { memory: undefined, realloc: undefined };
  readonly #request: LoadRequest;
  /** Trampolines by the module name the guest core imports (versioned id). */
  readonly #modules = new Map<string, Record<string, (...core: never[]) => unknown>>();
  /** Typed export callers, by versioned and unversioned id, then by WIT name and jsName. */
  readonly #exports = new Map<string, Map<string, ExportCaller>>();

  /** Bills the running call for each interface call (fuel), when the instance is metered. */
  readonly #charge: ((units: number) => void) | undefined;
  readonly #callCost: number;

  /**
   * `charge`: the instance's fuel meter, when metered; each interface call then costs `callCost` units (as a plughost
   * host call does: more from a worker, where each is a round trip between threads), so a cheap loop of calls cannot
   * buy unbounded host time.
   */
  constructor(request: LoadRequest, charge?: (units: number) => void, callCost = 1) {
    this.#request = request;
    this.#charge = charge;
    this.#callCost = callCost;
  }

  /** jco's glue destructures these (by unversioned id and jsName); the guest core never reaches them. */
  glueStubs(imports: readonly string[]): Record<string, Record<string, () => never>> {
    const out: Record<string, Record<string, () => never>> = {};
    for (const id of imports) {
      const b = isAppInterface(id) ? bindingFor(this.#request.interfaces, id) : undefined;
      if (!b) continue;
      const stub = () => {
        throw new Error(`plughost: jco's trampoline for ${id} was called; the direct import wiring missed a function`);
      };
      out[unversionedId(id)] = Object.fromEntries(b.iface.functions.map((f) => [jsName(f.name), stub]));
    }
    return out;
  }

  /**
   * The import object entries for a core module's app-interface imports (`wanted`: its imports), with a trampoline
   * per function. Throws `InterfaceUnavailable` "unknown-function" for a function the bound interface lacks.
   */
  coreImports(wanted: readonly WebAssembly.ModuleImportDescriptor[]): Record<string, Record<string, (...core: never[]) => unknown>> {
    const out: Record<string, Record<string, (...core: never[]) => unknown>> = {};
    for (const imp of wanted) {
      if (imp.kind !== "function" || !isAppInterface(imp.module) || !imp.module.includes("/")) continue;
      const mod = this.#moduleFor(imp.module);
      if (!mod) continue;
      const fn = mod[imp.name];
      if (!fn) {
        throw new InterfaceUnavailable(
          imp.module,
          "unknown-function",
          `plugin ${this.#request.plugin} imports function ${imp.name}, which the bound interface does not have (built against another version?)`,
          { plugin: this.#request.plugin },
        );
      }
      out[imp.module] = mod;
    }
    return out;
  }

  #moduleFor(module: string): Record<string, (...core: never[]) => unknown> | undefined {
    let mod = this.#modules.get(module);
    if (mod) return mod;
    const b = bindingFor(this.#request.interfaces, module);
    if (!b) return undefined;
    mod = {};
    for (const fn of b.iface.functions) {
      const bound = b.functions.get(fn.name);
      if (!bound) continue;
      const charge = this.#charge;
      const cost = this.#callCost;
      const call = charge ? (args: unknown[]) => (charge(cost), bound(args)) : bound;
      mod[fn.name] = hostImportTrampoline(b.iface, fn, call, this.guest);
    }
    this.#modules.set(module, mod);
    return mod;
  }

  /**
   * Bind the typed exports the host expects (`request.interfaces.exports`) to the guest core's exports
   * (`<versioned id>#<name>`, `cabi_post_…`). A missing interface or function is `InterfaceUnavailable` "missing".
   */
  bindExports(coreExports: Record<string, unknown>, componentExports: readonly string[]): void {
    const expected = this.#request.interfaces?.exports;
    if (!expected) return;
    for (const [id, iface] of expected) {
      // The id the component really exports (the host may name another compatible version).
      const exported = componentExports.includes(id) ? id : componentExports.find((e) => unversionedId(e) === unversionedId(id)) ?? interfaceId(iface);
      const fns = new Map<string, ExportCaller>();
      for (const fn of iface.functions) {
        const core = coreExports[`${exported}#${fn.name}`];
        if (typeof core !== "function") {
          throw new InterfaceUnavailable(
            id,
            "missing",
            `plugin ${this.#request.plugin} does not export ${exported}#${fn.name}; build it against a world that exports ${unversionedId(id)}`,
            { plugin: this.#request.plugin },
          );
        }
        const post = coreExports[`cabi_post_${exported}#${fn.name}`];
        const caller = exportCaller(iface, fn, core as (...core: never[]) => unknown, typeof post === "function" ? (post as (...core: never[]) => unknown) : undefined, this.guest);
        fns.set(fn.name, caller);
        fns.set(jsName(fn.name), caller);
      }
      for (const key of new Set([id, exported, unversionedId(id)])) this.#exports.set(key, fns);
    }
  }

  /** The caller of `fn` (WIT name or jsName) of typed export `iface` (versioned or not), or a typed error. */
  exportCaller(iface: string, fn: string): ExportCaller {
    const fns = this.#exports.get(iface);
    if (!fns) {
      throw new InterfaceUnavailable(iface, "missing", `plugin ${this.#request.plugin} has no typed export ${iface} bound (exports: ${[...this.#exports.keys()].join(", ") || "none"})`, {
        plugin: this.#request.plugin,
      });
    }
    const caller = fns.get(fn);
    if (!caller) throw new InterfaceUnavailable(iface, "unknown-function", `${iface} has no function ${fn}`, { plugin: this.#request.plugin });
    return caller;
  }

  /** Whether the instance has any typed export bound. */
  get hasExports(): boolean {
    return this.#exports.size > 0;
  }
}

/**
 * The fault that ends a guest call which failed in an app interface: a bad guest value → `AbiViolation`, a bad host
 * value, a throwing implementation or a Promise on in-process v8 → `PluginTrap`; each with the error as cause.
 * Undefined for any other error.
 */
export function interfaceFault(err: unknown, exportName: string, plugin: string): InstanceFault | undefined {
  if (err instanceof InterfaceValueError) {
    return err.side === "guest"
      ? new AbiViolation(exportName, err.message, { plugin, cause: err })
      : new PluginTrap(exportName, `a host interface returned a value that does not fit its WIT type: ${err.message}`, { plugin, cause: err });
  }
  if (err instanceof HostImplementationError) {
    return new PluginTrap(exportName, err.message, { plugin, cause: err.cause });
  }
  if (err instanceof InterfaceUnavailable) {
    return new PluginTrap(exportName, err.message, { plugin, cause: err });
  }
  return undefined;
}

export type { WitInterface };
