/**
 * The host side of `"plughost:limits"`: one fuel counter and one memory ledger
 * shared by every instrumented core module of one component instance.
 *
 * Fuel lives in a mutable i32 global. The guest subtracts from it and, when it
 * goes negative at a check point, calls `out_of_fuel()`. The host refills it
 * from the rest of the call's budget in chunks of 2^30 (so budgets beyond i32
 * work and JS never touches a BigInt), or, when the budget is spent, records
 * the exhaustion and returns 1, on which the guest executes `unreachable`.
 * A trap cannot be caught by Wasm exception handlers, so the module never runs
 * on after exhaustion.
 */
import { LimitCapError } from "./errors.js";
import { LIMITS_MODULE, type InstrumentResult } from "./types.js";

const CHUNK = 1 << 30;
const PAGE = 65536;

export type LimitViolationKind = "fuel" | "memory";

export interface LimitsOptions {
  /** Default per-call fuel budget. Undefined: unmetered (instrumented modules still run, and never run out). */
  fuel?: number;
  /** Fuel for the whole lifetime of this limits object (all calls together). */
  fuelLifetime?: number;
  /** Cap in bytes on all linear memory the instance's modules define or grow. */
  memoryBytes?: number;
  /** Cap on elements per table (the instrumenter enforces it; the runtime reports refusals). */
  tableElements?: number;
  /** Told about each violation: a refused grow, or fuel running out. */
  onViolation?(kind: LimitViolationKind, detail: string): void;
}

/** Thrown by `endCall` when a call finished past its budget between two checks. */
export class FuelSignal extends Error {
  readonly used: number;
  readonly budget: number;
  constructor(used: number, budget: number) {
    super(`out of fuel: used ${used} of ${budget} units`);
    this.name = "FuelSignal";
    this.used = used;
    this.budget = budget;
  }
}

export interface LimitsImports {
  fuel: WebAssembly.Global;
  out_of_fuel: () => number;
  memory_grow: (deltaPages: number) => number;
  memory_release: (deltaPages: number) => number;
  table_grow_failed: (size: number, delta: number) => number;
}

export class Limits {
  /** Pass as (part of) the import object: `{ ...other, ...limits.imports }`. */
  readonly imports: { [LIMITS_MODULE]: LimitsImports };
  readonly metered: boolean;
  readonly memoryCap: number;
  readonly tableCap: number;
  #global: WebAssembly.Global;
  #defaultBudget: number;
  #lifetimeLeft: number;
  #budget = 0; // fuel given to the current call
  #issued = 0; // fuel put into the global so far in this call
  #reserve = 0; // fuel of this call not yet put into the global
  #exhausted = false;
  #lastUsed = 0;
  #totalUsed = 0;
  #memoryUsed = 0;
  #violations = 0;
  #onViolation: ((kind: LimitViolationKind, detail: string) => void) | undefined;

  constructor(options: LimitsOptions = {}) {
    this.metered = options.fuel !== undefined || options.fuelLifetime !== undefined;
    this.#defaultBudget = options.fuel ?? Number.POSITIVE_INFINITY;
    this.#lifetimeLeft = options.fuelLifetime ?? Number.POSITIVE_INFINITY;
    this.memoryCap = options.memoryBytes ?? Number.POSITIVE_INFINITY;
    this.tableCap = options.tableElements ?? Number.POSITIVE_INFINITY;
    this.#onViolation = options.onViolation;
    this.#global = new WebAssembly.Global({ value: "i32", mutable: true }, CHUNK);
    // Unmetered: the guest may still count (it was instrumented); refills never end.
    this.#reserve = this.metered ? 0 : Number.POSITIVE_INFINITY;
    this.#issued = CHUNK;
    const self = this;
    this.imports = {
      [LIMITS_MODULE]: {
        fuel: this.#global,
        out_of_fuel: () => self.#outOfFuel(),
        memory_grow: (d: number) => self.#memoryGrow(d >>> 0),
        memory_release: (d: number) => { self.#memoryUsed -= (d >>> 0) * PAGE; return 0; },
        table_grow_failed: (size: number, d: number) => self.#tableGrowFailed(size >>> 0, d >>> 0),
      },
    };
  }

  /** Start a metered call. `budget` overrides the default per-call budget. */
  beginCall(budget?: number): void {
    if (!this.metered) return;
    let b = budget ?? this.#defaultBudget;
    if (b > this.#lifetimeLeft) b = this.#lifetimeLeft;
    if (!(b >= 0)) b = 0;
    this.#budget = b;
    this.#exhausted = false;
    const first = b < CHUNK ? b : CHUNK;
    this.#issued = first;
    this.#reserve = b - first;
    this.#global.value = first;
  }

  /**
   * End a metered call (also after it threw) and return the fuel it used (0
   * when unmetered). Throws a `FuelSignal` when a call that otherwise finished
   * went past its budget after its last check point: map it to
   * `FuelExhausted` like a fuel trap during the call.
   */
  endCall(): number {
    if (!this.metered) return 0;
    const used = this.#issued - (this.#global.value as number);
    this.#lastUsed = used;
    this.#totalUsed += used;
    if (this.#lifetimeLeft !== Number.POSITIVE_INFINITY) this.#lifetimeLeft = Math.max(0, this.#lifetimeLeft - used);
    if (used > this.#budget && !this.#exhausted) {
      this.#exhausted = true;
      this.#violation("fuel", `call used ${used} fuel units of its ${this.#budget}-unit budget`);
      throw new FuelSignal(used, this.#budget);
    }
    return used;
  }

  /** True when `err` (what the call threw) means the call ran out of fuel. */
  isFuelSignal(err: unknown): boolean {
    return err instanceof FuelSignal || (this.#exhausted && err instanceof WebAssembly.RuntimeError);
  }

  /** The budget of the current call (the lifetime budget may have lowered it). */
  get callBudget(): number {
    return this.#budget;
  }

  /** Fuel left in the current call (or after the last one). */
  fuelRemaining(): number {
    if (!this.metered) return Number.POSITIVE_INFINITY;
    return this.#budget - (this.#issued - (this.#global.value as number));
  }

  /** Fuel used by the last completed (or failed, then ended) call. */
  get lastCallFuel(): number {
    return this.#lastUsed;
  }

  get totalFuelUsed(): number {
    return this.#totalUsed;
  }

  get lifetimeRemaining(): number {
    return this.#lifetimeLeft;
  }

  /** True once the current call has run out of fuel. */
  get exhausted(): boolean {
    return this.#exhausted;
  }

  /** Bytes of linear memory accounted to this instance. */
  get memoryUsedBytes(): number {
    return this.#memoryUsed;
  }

  get violations(): number {
    return this.#violations;
  }

  /**
   * Account for the memories a module defines, before instantiating it. Throws
   * `LimitCapError` when they would take the instance over its memory cap, and
   * when an imported memory that does not come from a module already admitted
   * is larger than the cap (pass `checkImported`).
   */
  admitModule(result: Pick<InstrumentResult, "definedMemoryBytes" | "memories">, label = "module", checkImported = false): void {
    if (checkImported) {
      for (const m of result.memories) {
        if (m.imported && m.minimumPages * PAGE > this.memoryCap) {
          throw new LimitCapError(label, "memory", m.index, m.minimumPages * PAGE, this.memoryCap,
            `imported memory ${m.index} (${m.module}.${m.name}) needs at least ${m.minimumPages * PAGE} bytes, over the cap of ${this.memoryCap} bytes`);
        }
      }
    }
    const next = this.#memoryUsed + result.definedMemoryBytes;
    if (next > this.memoryCap) {
      throw new LimitCapError(label, "memory", -1, next, this.memoryCap,
        `the instance's memories would start at ${next} bytes, over the cap of ${this.memoryCap} bytes`);
    }
    this.#memoryUsed = next;
  }

  #outOfFuel(): number {
    let v = this.#global.value as number;
    while (v < 0 && this.#reserve > 0) {
      const add = this.#reserve < CHUNK ? this.#reserve : CHUNK;
      this.#reserve -= add;
      this.#issued += add;
      v += add;
    }
    this.#global.value = v;
    if (v >= 0) return 0;
    this.#exhausted = true;
    this.#violation("fuel", `call ran out of fuel (budget ${this.#budget} units)`);
    return 1;
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

  #tableGrowFailed(size: number, delta: number): number {
    if (size + delta > this.tableCap) {
      this.#violation("memory", `table.grow by ${delta} elements refused: ${size} + ${delta} is over the cap of ${this.tableCap} elements`);
    }
    return 0;
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
