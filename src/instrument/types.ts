/** Public types of the instrumenter (see docs/fuel-and-memory.md). */

/** The module name every instrumented core module imports its limits from. */
export const LIMITS_MODULE = "plughost:limits";

/** What a fuel entry's export name starts with (`InstrumentOptions.fuelEntries`); the rest is the export it enters. */
export const FUEL_ENTRY_PREFIX = "plughost-fuel-entry:";

/** Options of `instrumentModule` and `instrumentFuel`. */
export interface InstrumentOptions {
  /** Insert fuel metering (default true). */
  fuel?: boolean;
  /** Cap in bytes on all linear memory of the instance; rewrites maxima and routes memory.grow through the host. */
  memoryBytes?: number;
  /** Cap on the elements of all tables together; rewrites maxima and routes table.grow through the host. */
  tableElements?: number;
  /** Directory for the on-disk cache of instrumented modules (created on demand). */
  cacheDir?: string;
  /**
   * Write a new `cacheDir` entry before returning (default), or in the background: sealed and written on libuv's
   * thread pool, never visible half-written, awaitable with `instrumentCacheWritten()`; a failed write is dropped.
   */
  cacheWrite?: "now" | "background";
  /** Use the in-process cache (default true). */
  memoryCache?: boolean;
  /** Name used in error messages (e.g. "plugin.wasm#core2"). */
  label?: string;
  /** The plugin, named in errors (not part of the cache key). */
  plugin?: string;
  /**
   * Exports that get a fuel entry when the module is metered: an export named `plughost-fuel-entry:<name>` taking
   * the export's parameters, then the fuel counter's start value (f64) and an address in memory 0. It arms the
   * counter, calls `<name>`, and stores the fuel left at the address (an f64), so a call and its fuel settlement
   * are one call into Wasm. Exports that are not defined functions, or whose entry name is taken, get none.
   */
  fuelEntries?: readonly string[];
}

/** One memory of an instrumented module, as `InstrumentResult.memories` lists it. */
export interface MemoryInfo {
  /** Index in the module's memory index space. */
  index: number;
  /** True when the module imports it rather than defining it. */
  imported: boolean;
  /** For imported memories: the import's module. */
  module?: string;
  /** For imported memories: the import's name. */
  name?: string;
  /** Initial size in 64 KiB pages. */
  minimumPages: number;
  /** Maximum after rewriting (undefined: none). */
  maximumPages?: number;
  /** True for a shared memory. */
  shared: boolean;
}

/** One table of an instrumented module, as `InstrumentResult.tables` lists it. */
export interface TableInfo {
  /** Index in the module's table index space. */
  index: number;
  /** True when the module imports it rather than defining it. */
  imported: boolean;
  /** For imported tables: the import's module. */
  module?: string;
  /** For imported tables: the import's name. */
  name?: string;
  /** Initial size in elements. */
  minimum: number;
  /** Maximum after rewriting, in elements (undefined: none). */
  maximum?: number;
}

/** What `instrumentModule` returns: the rewritten bytes and what the host needs to know to link and cap them. */
export interface InstrumentResult {
  /** The rewritten module. */
  bytes: Uint8Array;
  /** sha256 (hex) of the input bytes and the options that shape the output. */
  key: string;
  /** True when the module imports the fuel counter and must be metered. */
  fuel: boolean;
  /** Every memory, imported ones included, so the host can check imports against the cap. */
  memories: MemoryInfo[];
  /** Every table, imported ones included. */
  tables: TableInfo[];
  /** Sum of the initial sizes of the memories the module defines, in bytes. */
  definedMemoryBytes: number;
  /** Sum of the initial sizes of the tables the module defines, in elements. */
  definedTableElements: number;
  /** Names this module imports from `"plughost:limits"`. */
  limitsImports: string[];
  /** Size of the input's code section, in bytes. */
  codeBytes: number;
  /** Number of function bodies rewritten. */
  functions: number;
}
