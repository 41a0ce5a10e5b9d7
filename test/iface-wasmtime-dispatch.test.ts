// The JS end of the wasmtime engine's app-interface imports (engines/wasmtime/app-interfaces.ts `importDispatchers`),
// called as the addon calls it: the synchronous dispatchers (`direct`) get the guest's arguments as positional
// arguments and hand the binding one array of exactly those, for every arity; they keep `bridge.depth` raised while the
// implementation runs (a call into the instance from inside it is re-entrant), put what it throws into `bridge.thrown`
// and answer with the failure symbol, and refuse a Promise (a thenable whose `then` cannot be read fails the call).
// The guests' own calls through the addon are tested in iface-wasmtime(-scalar).test.ts.
import { describe, it, expect } from "vitest";
import { importDispatchers } from "../src/engines/wasmtime/app-interfaces.js";
import { HostBridge } from "../src/engines/wasmtime/host.js";
import type { HostCalls } from "../src/engines/engine.js";
import { InterfaceUnavailable } from "../src/contract/errors.js";
import type { InterfaceBindings, WitInterface } from "../src/interfaces/types.js";

const CALC = "acme:app/calc@1.0.0";
const stub: WitInterface = { package: "acme:app", name: "calc", version: "1.0.0", types: new Map(), functions: [] };
type Fn = (args: unknown[]) => unknown;

function dispatchers(fns: Record<string, Fn>) {
  const bridge = new HostBridge({} as HostCalls, () => true);
  const interfaces: InterfaceBindings = { imports: new Map([[CALC, { iface: stub, importedAs: CALC, functions: new Map(Object.entries(fns)) }]]), exports: new Map() };
  const names = Object.keys(fns);
  const d = importDispatchers(
    names.map((name) => ({ iface: CALC, name })),
    interfaces,
    "p",
    bridge,
    () => true,
  )!;
  const direct = Object.fromEntries(names.map((n, i) => [n, d.direct[i]!]));
  return { bridge, direct };
}

describe("wasmtime app-interface dispatchers on the JS thread", () => {
  it("hand the binding exactly the guest's arguments, as one array, for each arity", () => {
    const seen: unknown[][] = [];
    const { direct } = dispatchers({
      f: (args) => {
        seen.push(args);
        return args.length;
      },
    });
    const values = ["a", 2, 3n, undefined, { e: 5 }, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17];
    for (let n = 0; n <= values.length; n++) {
      const args = values.slice(0, n);
      expect(direct.f!(...args)).toBe(n);
      expect(Array.isArray(seen.at(-1))).toBe(true);
      expect(seen.at(-1)).toEqual(args);
      expect(seen.at(-1)).toHaveLength(n); // a trailing undefined is an argument, not a missing one
    }
  });

  it("keep bridge.depth raised while the implementation runs, and lower it when it returns or throws", () => {
    let depth = -1;
    const { bridge, direct } = dispatchers({
      ok: () => (depth = bridge.depth),
      bad: () => {
        depth = bridge.depth;
        throw new Error("no");
      },
    });
    expect(direct.ok!(1, 2)).toBe(1);
    expect(bridge.depth).toBe(0);
    depth = -1;
    const failed = direct.bad!(1, 2, 3);
    expect(typeof failed).toBe("symbol");
    expect(depth).toBe(1);
    expect(bridge.depth).toBe(0);
  });

  it("put the first error in bridge.thrown and answer with the failure symbol", () => {
    const first = new Error("first");
    const { bridge, direct } = dispatchers({
      a: () => {
        throw first;
      },
      b: () => {
        throw new Error("second");
      },
    });
    const out = direct.a!();
    expect(typeof out).toBe("symbol");
    expect(direct.b!(1, 2, 3, 4)).toBe(out);
    expect(bridge.thrown).toBe(first);
  });

  it('refuse a Promise (InterfaceUnavailable "async"), and a thenable whose then cannot be read fails the call', () => {
    const { bridge, direct } = dispatchers({
      later: () => Promise.reject(new Error("nobody waits")),
      odd: () => ({
        get then(): never {
          throw new Error("then getter");
        },
      }),
    });
    expect(typeof direct.later!(1)).toBe("symbol");
    expect(bridge.thrown).toBeInstanceOf(InterfaceUnavailable);
    expect((bridge.thrown as InterfaceUnavailable).reason).toBe("async");
    expect(bridge.depth).toBe(0);
    bridge.thrown = undefined;
    expect(typeof direct.odd!(1, 2)).toBe("symbol");
    expect((bridge.thrown as Error).message).toBe("then getter");
    expect(bridge.depth).toBe(0);
  });
});
