/** Public types of the instrumenter (see docs/fuel-and-memory.md). */

/** The module name every instrumented core module imports its limits from. */
export const LIMITS_MODULE = "plughost:limits";

export interface InstrumentOptions {
  /** Insert fuel metering (default true). */
  fuel?: boolean;
  /** Cap in bytes on all linear memory of the instance; rewrites maxima and routes memory.grow through the host. */
  memoryBytes?: number;
  /** Cap on the elements of all tables together; rewrites maxima and routes table.grow through the host. */
  tableElements?: number;
  /** Directory for the on-disk cache of instrumented modules (created on demand). */
  cacheDir?: string;
  /** Use the in-process cache (default true). */
  memoryCache?: boolean;
  /** Name used in error messages (e.g. "plugin.wasm#core2"). */
  label?: string;
  /** The plugin, named in errors (not part of the cache key). */
  plugin?: string;
}

export interface MemoryInfo {
  /** Index in the module's memory index space. */
  index: number;
  imported: boolean;
  /** For imported memories: where they come from. */
  module?: string;
  name?: string;
  minimumPages: number;
  /** Maximum after rewriting (undefined: none). */
  maximumPages?: number;
  shared: boolean;
}

export interface TableInfo {
  index: number;
  imported: boolean;
  module?: string;
  name?: string;
  minimum: number;
  maximum?: number;
}

export interface InstrumentResult {
  /** The rewritten module. */
  bytes: Uint8Array;
  /** sha256 (hex) of the input bytes and the options that shape the output. */
  key: string;
  /** True when the module imports the fuel counter and must be metered. */
  fuel: boolean;
  /** Every memory, imported ones included, so the host can check imports against the cap. */
  memories: MemoryInfo[];
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
