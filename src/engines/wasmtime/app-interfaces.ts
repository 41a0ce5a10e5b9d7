/**
 * App-defined WIT interfaces on the wasmtime engine (docs/host-interfaces.md): the JS end of the imports a component
 * makes of them, and the index of its typed exports. Values are converted in the addon
 * (native/wasmtime/src/iface.rs), by the component's own types, to the convention of src/interfaces/types.ts.
 *
 * One dispatcher serves every imported function: `(index, args, ticket)`. On the JS thread (a synchronous call,
 * ticket 0) it answers by returning; a Promise cannot be waited for there, so it is refused (`InterfaceUnavailable`
 * "async") and the guest's call fails. On the call thread (an asynchronous call) it answers through the addon's
 * `completeInterfaceCall`, at once or when the implementation's Promise settles, while that thread waits.
 */
import { InterfaceUnavailable } from "../../contract/errors.js";
import { unversionedId, type InterfaceBindings } from "../../interfaces/types.js";
import type { CompleteInterfaceCall, DirectInterfaceFunction, InterfaceDispatcher, NativeAppFunction, NativeComponent } from "./addon.js";
import { mapNativeError } from "./errors.js";
import type { HostBridge } from "./host.js";

/** Returned to the addon on the JS thread when the implementation failed (iface.rs: any symbol). */
const FAILED = Symbol("plughost: interface call failed");
const ignore = (): undefined => undefined;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/** What the component declares, read once per load; an unsupported type (a resource) fails the load here. */
export function appSurface(component: NativeComponent, plugin: string, file: string): { imports: NativeAppFunction[]; exports: NativeAppFunction[] } {
  if (typeof component.appImports !== "function" || typeof component.appExports !== "function") return { imports: [], exports: [] };
  try {
    return { imports: component.appImports(), exports: component.appExports() };
  } catch (err) {
    throw mapNativeError(err, { plugin, file, export: "instantiate" });
  }
}

/** The two ends the addon calls: one per imported function on the JS thread, one shared on the call thread. */
export interface ImportDispatchers {
  direct: DirectInterfaceFunction[];
  threaded: InterfaceDispatcher;
}

/**
 * The dispatchers for a component's app imports, bound to the functions `interfaces` gives (by the versioned id the
 * component imports); undefined when it imports none. Throws `InterfaceUnavailable` ("missing", or
 * "unknown-function" when the binding lacks one of the component's functions) before anything is instantiated.
 */
export function importDispatchers(
  imports: readonly NativeAppFunction[],
  interfaces: InterfaceBindings | undefined,
  plugin: string,
  bridge: HostBridge,
  complete: CompleteInterfaceCall | undefined,
): ImportDispatchers | undefined {
  if (imports.length === 0) return undefined;
  const fns: ((args: unknown[]) => unknown)[] = [];
  const names: string[] = [];
  for (const { iface, name } of imports) {
    const binding = interfaces?.imports.get(iface);
    if (!binding) {
      throw new InterfaceUnavailable(
        iface,
        "missing",
        `plugin ${plugin} imports it, and the host neither provides it (registry.provide) nor wires it from a plugin ([interfaces.from]); provide it, or rebuild the plugin without it`,
        { plugin },
      );
    }
    const fn = binding.functions.get(name);
    if (!fn) {
      throw new InterfaceUnavailable(iface, "unknown-function", `plugin ${plugin} imports its function ${name}, which the bound implementation does not have`, {
        plugin,
      });
    }
    fns.push(fn);
    names.push(`${iface}#${name}`);
  }
  if (!complete) throw new InterfaceUnavailable(imports[0]!.iface, "missing", "this wasmtime addon predates app interfaces; rebuild it (node scripts/setup.mjs wasmtime)", { plugin });

  const refuseAsync = (index: number, out: PromiseLike<unknown>): symbol => {
    Promise.resolve(out).then(ignore, ignore);
    const [iface, fn] = names[index]!.split("#") as [string, string];
    bridge.thrown ??= new InterfaceUnavailable(
      iface,
      "async",
      `its ${fn} returned a Promise during a synchronous call of plugin ${plugin}, which cannot wait on the JS thread; call the plugin asynchronously (its calls then wait off the JS thread), or implement ${fn} synchronously`,
      { plugin },
    );
    return FAILED;
  };
  // On the JS thread: the guest's arguments as they came, made into the array the binding takes; what the
  // implementation returns is the answer. Read by index from `arguments`, with a literal for each usual arity: with a
  // rest parameter, a registry-provided add(u32, u32) took a quarter longer per call (CPU time, A/B).
  const direct = fns.map(
    (fn, index): DirectInterfaceFunction =>
      function (): unknown {
        const n = arguments.length;
        const args: unknown[] =
          n === 2
            ? [arguments[0], arguments[1]]
            : n === 1
              ? [arguments[0]]
              : n === 0
                ? []
                : n === 3
                  ? [arguments[0], arguments[1], arguments[2]]
                  : n === 4
                    ? [arguments[0], arguments[1], arguments[2], arguments[3]]
                    : Array.from(arguments);
        bridge.depth++;
        try {
          const out = fn(args);
          return isThenable(out) ? refuseAsync(index, out) : out;
        } catch (err) {
          bridge.thrown ??= err;
          return FAILED;
        } finally {
          bridge.depth--;
        }
      },
  );
  // On the call thread, which waits for `complete`: a Promise is awaited here.
  const threaded: InterfaceDispatcher = (index, args, ticket) => {
    bridge.depth++;
    try {
      const out = fns[index]!(args);
      if (isThenable(out)) {
        out.then(
          (v) => complete(ticket, true, v),
          (err: unknown) => {
            bridge.thrown ??= err;
            complete(ticket, false, undefined);
          },
        );
      } else {
        complete(ticket, true, out);
      }
    } catch (err) {
      bridge.thrown ??= err;
      complete(ticket, false, undefined);
    } finally {
      bridge.depth--;
    }
    return undefined;
  };
  return { direct, threaded };
}

/** The typed exports of one instance: `iface` (versioned, or unversioned) and WIT function name → the addon's index. */
export class ExportIndex {
  /** Interface id (versioned and unversioned) → WIT function name → index; two lookups, no key built per call. */
  readonly #byIface = new Map<string, Map<string, number>>();

  constructor(exports: readonly NativeAppFunction[]) {
    exports.forEach(({ iface, name }, i) => {
      for (const id of [iface, unversionedId(iface)]) {
        let fns = this.#byIface.get(id);
        if (!fns) this.#byIface.set(id, (fns = new Map()));
        if (!fns.has(name)) fns.set(name, i);
      }
    });
  }

  /** The index of `iface`'s `fn`; throws `InterfaceUnavailable` when the plugin does not export it. */
  find(iface: string, fn: string, plugin: string): number {
    const fns = this.#byIface.get(iface);
    const i = fns?.get(fn);
    if (i !== undefined) return i;
    throw fns
      ? new InterfaceUnavailable(iface, "unknown-function", `plugin ${plugin} exports it without a function ${fn}`, { plugin })
      : new InterfaceUnavailable(iface, "missing", `plugin ${plugin} does not export it`, { plugin });
  }

  /** Whether the plugin exports interface `id` (versioned or unversioned). */
  has(id: string): boolean {
    return this.#byIface.has(id);
  }
}

/** The typed exports the host expects (`interfaces.exports`) that the plugin lacks fail the load ("missing"). */
export function checkExpectedExports(index: ExportIndex, interfaces: InterfaceBindings | undefined, plugin: string): void {
  for (const id of interfaces?.exports.keys() ?? []) {
    if (!index.has(id) && !index.has(unversionedId(id))) {
      throw new InterfaceUnavailable(id, "missing", `the host expects plugin ${plugin} to export it, and its component does not`, { plugin });
    }
  }
}
