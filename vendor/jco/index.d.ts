/** Options of `transpileBytes`: the subset of jco's transpile options plughost uses. */
export interface TranspileOptions {
  /** Base name of the generated files (default "component"). */
  name?: string;
  /** "async": the glue exports `instantiate(getCoreModule, imports)` instead of instantiating itself. */
  instantiation?: "async" | "sync";
  /** Import specifier rewrites, `"wasi:cli/*": "module#*"`. */
  map?: Record<string, string>;
  /** Map WASI imports to @bytecodealliance/preview2-shim (default true; always false with `instantiation`). */
  wasiShim?: boolean;
  /** Emit .d.ts files (default true). */
  emitTypescriptDeclarations?: boolean;
  /** Core modules smaller than this many bytes are inlined as base64 (default 5000). */
  base64Cutoff?: number;
}

export interface TranspileResult {
  files: Record<string, Uint8Array>;
  imports: string[];
  exports: [string, "function" | "instance"][];
}

export interface EmbedOptions {
  binary?: Uint8Array;
  witSource?: string;
  witPath?: string;
  world?: string;
  dummy?: boolean;
  metadata?: [string, [string, string][]][];
}

export interface WasmTools {
  componentNew(bytes: Uint8Array, adapters?: [string, Uint8Array][] | null): Uint8Array;
  componentEmbed(opts: EmbedOptions): Uint8Array;
  componentWit(bytes: Uint8Array): string;
  parse(wat: string): Uint8Array;
  print(bytes: Uint8Array): string;
}

export function wasmTools(): Promise<WasmTools>;
export function transpileBytes(component: Uint8Array, opts?: TranspileOptions): Promise<TranspileResult>;
export function componentNew(bytes: Uint8Array, adapters?: [string, Uint8Array][] | null): Promise<Uint8Array>;
export function componentEmbed(opts: EmbedOptions): Promise<Uint8Array>;
export function componentWit(bytes: Uint8Array): Promise<string>;
export function parse(wat: string): Promise<Uint8Array>;
export function print(bytes: Uint8Array): Promise<string>;
