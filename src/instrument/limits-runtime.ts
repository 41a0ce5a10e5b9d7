/**
 * The host side of `"plughost:limits"`: one fuel counter and one memory ledger
 * shared by every instrumented core module of one component instance.
 *
 * Fuel lives in a mutable i64 global holding the fuel left in the current
 * call. The guest subtracts from it and, when it is negative at a check point
 * (function entry, loop header), stores it and executes `unreachable`. A trap
 * cannot be caught by Wasm exception handlers, so the module never runs on
 * after exhaustion; `isFuelSignal` recognises that trap by the negative
 * counter. JS reads and writes the counter through tiny Wasm functions
 * taking and returning f64, so no BigInt is made per call. A call's end reads
 * what is left and arms the next call's budget in one of them (`swap`): each
 * metered call then costs one crossing into Wasm, not two.
 */
import { LimitCapError } from "./errors.js";
import { LIMITS_MODULE, type InstrumentResult } from "./types.js";

const UNMETERED = 2 ** 62; // never reached: ~146 years at 1e9 units/s
const PAGE = 65536;

/** What a `Limits` object reports to `onViolation`: fuel ran out, or a memory or table grow was refused. */
export type LimitViolationKind = "fuel" | "memory";

/** Options of `createLimits` / `new FuelLimits(options)`. */
export interface LimitsOptions {
  /** Default per-call fuel budget. Undefined: unmetered (instrumented modules still run, and never run out). */
  fuel?: number;
  /** Fuel for the whole lifetime of this limits object (all calls together). */
  fuelLifetime?: number;
  /** Cap in bytes on all linear memory the instance's modules define or grow. */
  memoryBytes?: number;
  /** Cap on the elements of all tables of the instance together, initial sizes included. */
  tableElements?: number;
  /** The plugin, named in errors. */
  plugin?: string;
  /** Told about each violation: a refused grow, or fuel running out. */
  onViolation?(kind: LimitViolationKind, detail: string): void;
}

/** Thrown by `endCall` when a call finished past its budget between two checks. */
export class FuelSignal extends Error {
  /** Fuel the call used. */
  readonly used: number;
  /** The call's budget. */
  readonly budget: number;
  constructor(used: number, budget: number) {
    super(`out of fuel: used ${used} of ${budget} units`);
    this.name = "FuelSignal";
    this.used = used;
    this.budget = budget;
  }
}

/** The imports an instrumented module takes from `LIMITS_MODULE`. */
export interface LimitsImports {
  /** The fuel counter (i64), decremented by the metered code. */
  fuel: WebAssembly.Global;
  /** Asks to grow linear memory by `deltaPages`; 1 allowed, 0 refused (the grow then fails in the guest). */
  memory_grow: (deltaPages: number) => number;
  /** Gives back `deltaPages` that a failed grow had reserved. */
  memory_release: (deltaPages: number) => number;
  /** Asks to grow a table by `deltaElements`; 1 allowed, 0 refused. */
  table_grow: (deltaElements: number) => number;
  /** Gives back `deltaElements` that a failed grow had reserved. */
  table_release: (deltaElements: number) => number;
}

/**
 * Fuel and memory/table accounting for one instance of instrumented modules
 * (exported as `FuelLimits`): pass `imports` when instantiating, bracket each
 * call with `beginCall` / `endCall`. See docs/fuel-and-memory.md.
 *
 * @example
 *   const limits = createLimits({ fuel: 1_000_000, memoryBytes: 16 << 20 });
 *   const r = instrumentModule(bytes, { memoryBytes: 16 << 20 });
 *   limits.admitModule(r);
 *   const instance = await WebAssembly.instantiate(r.bytes, { ...limits.imports });
 *   limits.beginCall();
 *   try { instance.exports.run(); } finally { limits.endCall(); }
 */
export class Limits {
  /** Pass as (part of) the import object: `{ ...other, ...limits.imports }`. */
  readonly imports: { [LIMITS_MODULE]: LimitsImports };
  /** True when a fuel budget was given (per call or lifetime). */
  readonly metered: boolean;
  /** The memory cap in bytes (Infinity: none). */
  readonly memoryCap: number;
  /** The cap on all tables' elements (Infinity: none). */
  readonly tableCap: number;
  #global: WebAssembly.Global;
  #set: (v: number) => void;
  #get: () => number;
  #swap: (v: number) => number;
  #sub: (v: number) => number;
  /** The counter holds a fresh default budget (`#armedBudget`), set when the last call ended. */
  #armed = false;
  #armedBudget = 0;
  /** What the counter held when the last call ended (it is re-armed since). */
  #lastLeft = 0;
  /** Fuel billed up front to each call that `armPrebill` describes (the counter is armed that much lower). */
  #armPrebill = 0;
  #defaultBudget: number;
  /** `#defaultBudget` clamped, computed once: what a call gets when the lifetime budget does not lower it. */
  readonly #defaultCallBudget: number;
  #lifetimeLeft: number;
  #budget: number; // fuel given to the current call
  #exhausted = false;
  #lastUsed = 0;
  #totalUsed = 0;
  #memoryUsed = 0;
  #tableUsed = 0;
  #violations = 0;
  #plugin: string | undefined;
  #onViolation: ((kind: LimitViolationKind, detail: string) => void) | undefined;

  constructor(options: LimitsOptions = {}) {
    this.metered = options.fuel !== undefined || options.fuelLifetime !== undefined;
    this.#defaultBudget = options.fuel ?? Number.POSITIVE_INFINITY;
    this.#defaultCallBudget = clampBudget(this.#defaultBudget);
    this.#lifetimeLeft = options.fuelLifetime ?? Number.POSITIVE_INFINITY;
    this.memoryCap = options.memoryBytes ?? Number.POSITIVE_INFINITY;
    this.tableCap = options.tableElements ?? Number.POSITIVE_INFINITY;
    this.#onViolation = options.onViolation;
    this.#plugin = options.plugin;
    // Before the first beginCall (start functions, instantiation) the default budget applies.
    this.#budget = this.metered ? clampBudget(Math.min(this.#defaultBudget, this.#lifetimeLeft)) : UNMETERED;
    this.#global = new WebAssembly.Global({ value: "i64", mutable: true }, BigInt(this.#budget));
    const access = new WebAssembly.Instance(accessModule(), { l: { g: this.#global } }).exports as {
      set(v: number): void;
      get(): number;
      swap(v: number): number;
      sub(v: number): number;
    };
    this.#set = access.set;
    this.#get = access.get;
    this.#swap = access.swap;
    this.#sub = access.sub;
    const self = this;
    this.imports = {
      [LIMITS_MODULE]: {
        fuel: this.#global,
        memory_grow: (d: number) => self.#memoryGrow(d >>> 0),
        memory_release: (d: number) => { self.#memoryUsed -= (d >>> 0) * PAGE; return 0; },
        table_grow: (d: number) => self.#tableGrow(d >>> 0),
        table_release: (d: number) => { self.#tableUsed -= d >>> 0; return 0; },
      },
    };
  }

  /**
   * Start a metered call. `budget` overrides the default per-call budget.
   * `prebilled` is fuel the call is charged before the guest runs: work the
   * host did in the guest's place (the guest then has that much less).
   */
  beginCall(budget?: number, prebilled = 0): void {
    if (!this.metered) return;
    if (budget === undefined && this.#armed && prebilled === this.#armPrebill) {
      this.#armed = false;
      this.#budget = this.#armedBudget;
      this.#exhausted = false;
      return;
    }
    this.#armed = false;
    let b = budget ?? this.#defaultBudget;
    if (b > this.#lifetimeLeft) b = this.#lifetimeLeft;
    b = clampBudget(b);
    this.#budget = b;
    this.#exhausted = false;
    this.#set(b - prebilled);
  }

  /**
   * The fuel most calls are charged up front (`beginCall`'s `prebilled`): the
   * counter is re-armed that much lower when a call ends, so such a call
   * starts without a crossing into Wasm. Others still start exactly.
   */
  armPrebill(units: number): void {
    this.#armPrebill = Math.max(0, Math.floor(units));
    this.#armed = false;
  }

  /**
   * End a metered call (also after it threw) and return the fuel it used (0
   * when unmetered). Throws a `FuelSignal` when a call that otherwise finished
   * went past its budget after its last check point: map it to
   * `FuelExhausted` like a fuel trap during the call.
   */
  endCall(): number {
    if (!this.metered || this.#armed) return this.metered ? this.#lastUsed : 0;
    let left: number;
    if (this.#lifetimeLeft === Number.POSITIVE_INFINITY) {
      // The next call's budget does not depend on this one: read and re-arm in one crossing.
      this.#armedBudget = this.#defaultCallBudget;
      left = this.#swap(this.#armedBudget - this.#armPrebill);
    } else {
      left = this.#get();
      this.#lifetimeLeft = Math.max(0, this.#lifetimeLeft - (this.#budget - left));
      this.#armedBudget = clampBudget(Math.min(this.#defaultBudget, this.#lifetimeLeft));
      this.#set(this.#armedBudget - this.#armPrebill);
    }
    this.#armed = true;
    return this.#settle(left);
  }

  /**
   * `beginCall()` for a call that arms the counter itself (an instrumenter fuel entry): the same budget, and the
   * value to arm the counter with is returned instead of set. End such a call with `leaveCall`.
   */
  enterCall(prebilled = 0): number {
    this.#armed = false;
    let b = this.#defaultCallBudget;
    if (this.#lifetimeLeft !== Number.POSITIVE_INFINITY) b = clampBudget(Math.min(this.#defaultBudget, this.#lifetimeLeft));
    this.#budget = b;
    this.#exhausted = false;
    return b - prebilled;
  }

  /**
   * `endCall()` for a call started with `enterCall`, given the fuel the counter held when it returned (what the
   * fuel entry stored). The counter is left as it is: the next `beginCall` sets it.
   */
  leaveCall(left: number): number {
    if (this.#lifetimeLeft !== Number.POSITIVE_INFINITY) this.#lifetimeLeft = Math.max(0, this.#lifetimeLeft - (this.#budget - left));
    return this.#settle(left);
  }

  /** A call's end, once `left` is known: its fuel used, and a violation when it went past its budget. */
  #settle(left: number): number {
    this.#lastLeft = left;
    const used = this.#budget - left;
    this.#lastUsed = used;
    this.#totalUsed += used;
    if (left < 0 && !this.#exhausted) {
      this.#exhausted = true;
      this.#violation("fuel", `call used ${used} fuel units of its ${this.#budget}-unit budget`);
      throw new FuelSignal(used, this.#budget);
    }
    return used;
  }

  /**
   * End a call that threw `err`: account for the fuel it used and return true
   * when `err` means it ran out of fuel (map that to `FuelExhausted`).
   */
  abortCall(err: unknown): boolean {
    const fuel = this.isFuelSignal(err);
    if (this.metered) {
      try { this.endCall(); } catch { /* already reported as exhaustion */ }
    }
    return fuel;
  }

  /** True when `err` (what the call threw) means the call ran out of fuel. */
  isFuelSignal(err: unknown): boolean {
    if (err instanceof FuelSignal) return true;
    if (!(err instanceof WebAssembly.RuntimeError) || !this.metered || this.#left() >= 0) return false;
    if (!this.#exhausted) {
      this.#exhausted = true;
      this.#violation("fuel", `call ran out of fuel (budget ${this.#budget} units)`);
    }
    return true;
  }

  /**
   * Charge `units` of fuel for work the host does on the guest's behalf
   * (bytes copied, path segments resolved, messages queued), so a guest cannot
   * buy unbounded host time with a cheap import call. Throws a `FuelSignal`
   * (mapped to `FuelExhausted`) when the current call cannot pay for it; call
   * it before doing the work. A no-op when unmetered.
   */
  charge(units: number): void {
    if (!this.metered || !(units > 0)) return;
    this.#armed = false; // the counter no longer holds a fresh budget: the next call sets it
    const left = this.#sub(Math.ceil(units)); // one crossing into Wasm, not a get and a set
    if (left < 0) {
      const used = this.#budget - left;
      if (!this.#exhausted) {
        this.#exhausted = true;
        this.#violation("fuel", `host work of ${Math.ceil(units)} fuel units took the call past its ${this.#budget}-unit budget`);
      }
      throw new FuelSignal(used, this.#budget);
    }
  }

  /** The budget of the current call (the lifetime budget may have lowered it). */
  get callBudget(): number {
    return this.#budget;
  }

  /** Fuel left in the current call (or after the last one). */
  fuelRemaining(): number {
    if (!this.metered) return Number.POSITIVE_INFINITY;
    return Math.max(0, this.#left());
  }

  /** The counter, or what it held when the last call ended once the next budget is armed. */
  #left(): number {
    return this.#armed ? this.#lastLeft : this.#get();
  }

  /** Fuel used by the last completed (or failed, then ended) call. */
  get lastCallFuel(): number {
    return this.#lastUsed;
  }

  /** Fuel used by every call so far. */
  get totalFuelUsed(): number {
    return this.#totalUsed;
  }

  /** Fuel left of the lifetime budget (Infinity without one). */
  get lifetimeRemaining(): number {
    return this.#lifetimeLeft;
  }

  /** True once the current call has run out of fuel. */
  get exhausted(): boolean {
    return this.#exhausted || (this.metered && this.#left() < 0);
  }

  /** Bytes of linear memory accounted to this instance. */
  get memoryUsedBytes(): number {
    return this.#memoryUsed;
  }

  /** Elements of all the instance's tables, as accounted to this instance. */
  get tableUsedElements(): number {
    return this.#tableUsed;
  }

  /** Violations reported so far (refused grows, exhaustion). */
  get violations(): number {
    return this.#violations;
  }

  /**
   * Account for the memories and tables a module defines, before
   * instantiating it. Throws `LimitCapError` when they would take the instance
   * over its memory cap or its (summed) table cap, and when an imported memory
   * or table that does not come from a module already admitted is larger than
   * the cap (pass `checkImported`).
   */
  admitModule(
    result: Pick<InstrumentResult, "definedMemoryBytes" | "memories"> & Partial<Pick<InstrumentResult, "tables">>,
    label = "module",
    checkImported = false,
  ): void {
    const details = this.#plugin ? { plugin: this.#plugin } : {};
    const tables = result.tables ?? [];
    if (checkImported) {
      for (const m of result.memories) {
        if (m.imported && m.minimumPages * PAGE > this.memoryCap) {
          throw new LimitCapError(label, "memory", m.index, m.minimumPages * PAGE, this.memoryCap,
            `imported memory ${m.index} (${m.module}.${m.name}) needs at least ${m.minimumPages * PAGE} bytes, over the cap of ${this.memoryCap} bytes; raise limits.memoryBytes`, details);
        }
      }
      for (const t of tables) {
        if (t.imported && t.minimum > this.tableCap) {
          throw new LimitCapError(label, "table", t.index, t.minimum, this.tableCap,
            `imported table ${t.index} (${t.module}.${t.name}) needs at least ${t.minimum} elements, over the cap of ${this.tableCap} elements; raise limits.tableElements`, details);
        }
      }
    }
    const next = this.#memoryUsed + result.definedMemoryBytes;
    if (next > this.memoryCap) {
      throw new LimitCapError(label, "memory", -1, next, this.memoryCap,
        `the instance's memories would start at ${next} bytes, over the cap of ${this.memoryCap} bytes; raise limits.memoryBytes`, details);
    }
    let elements = 0;
    for (const t of tables) if (!t.imported) elements += t.minimum;
    const nextTables = this.#tableUsed + elements;
    if (nextTables > this.tableCap) {
      throw new LimitCapError(label, "table", -1, nextTables, this.tableCap,
        `the instance's tables would start with ${nextTables} elements in all, over the cap of ${this.tableCap} elements; raise limits.tableElements`, details);
    }
    this.#memoryUsed = next;
    this.#tableUsed = nextTables;
  }

  #memoryGrow(delta: number): number {
    const bytes = delta * PAGE;
    if (this.#memoryUsed + bytes > this.memoryCap) {
      this.#violation("memory", `memory.grow by ${delta} pages refused: ${this.#memoryUsed} + ${bytes} bytes is over the cap of ${this.memoryCap} bytes`);
      return 0;
    }
    this.#memoryUsed += bytes;
    return 1;
  }

  #tableGrow(delta: number): number {
    if (this.#tableUsed + delta > this.tableCap) {
      this.#violation("memory", `table.grow by ${delta} elements refused: the instance's tables hold ${this.#tableUsed} elements in all, and the cap is ${this.tableCap}`);
      return 0;
    }
    this.#tableUsed += delta;
    return 1;
  }

  #violation(kind: LimitViolationKind, detail: string): void {
    this.#violations++;
    this.#onViolation?.(kind, detail);
  }
}

/** Create the limits shared by all core modules of one component instance. */
export function createLimits(options: LimitsOptions = {}): Limits {
  return new Limits(options);
}

function clampBudget(b: number): number {
  if (!(b >= 0)) return 0;
  return b > UNMETERED ? UNMETERED : Math.floor(b);
}

let access: WebAssembly.Module | undefined;
/**
 * (import "l" "g" (global (mut i64))) with set(f64), get() -> f64,
 * swap(f64) -> f64 (get, then set) and sub(f64) -> f64 (lower it, then get), hand-assembled.
 */
function accessModule(): WebAssembly.Module {
  access ??= new WebAssembly.Module(new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x0e, 0x03, 0x60, 0x01, 0x7c, 0x00, 0x60, 0x00, 0x01, 0x7c, 0x60, 0x01, 0x7c, 0x01, 0x7c, // types: (f64)->(), ()->f64, (f64)->f64
    0x02, 0x08, 0x01, 0x01, 0x6c, 0x01, 0x67, 0x03, 0x7e, 0x01, // import l.g: mut i64
    0x03, 0x05, 0x04, 0x00, 0x01, 0x02, 0x02,
    0x07, 0x1a, 0x04, 0x03, 0x73, 0x65, 0x74, 0x00, 0x00, 0x03, 0x67, 0x65, 0x74, 0x00, 0x01, 0x04, 0x73, 0x77, 0x61, 0x70, 0x00, 0x02,
    0x03, 0x73, 0x75, 0x62, 0x00, 0x03,
    0x0a, 0x2b, 0x04,
    0x08, 0x00, 0x20, 0x00, 0xfc, 0x06, 0x24, 0x00, 0x0b, // set: i64.trunc_sat_f64_s
    0x05, 0x00, 0x23, 0x00, 0xb9, 0x0b, // get: f64.convert_i64_s
    0x0b, 0x00, 0x23, 0x00, 0xb9, 0x20, 0x00, 0xfc, 0x06, 0x24, 0x00, 0x0b, // swap: get, then set
    0x0e, 0x00, 0x23, 0x00, 0x20, 0x00, 0xfc, 0x06, 0x7d, 0x24, 0x00, 0x23, 0x00, 0xb9, 0x0b, // sub: set(get - x), then get
  ]));
  return access;
}
