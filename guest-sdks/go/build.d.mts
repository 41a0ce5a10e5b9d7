// Types for guest-sdks/go/build.mjs.
/** The `go` to use ($GO, PATH, /usr/local/go/bin/go); throws unless it is Go 1.24+. */
export function findGo(): string;
/** Build the Go plugin in `dir` into a component (written to `outFile`); returns its bytes. */
export function buildGoPlugin(dir: string, outFile?: string): Promise<Uint8Array>;
/** Move the core-module imports `rename` selects to another module; export the imported functions `reexport` names (`module/field` -> name). */
export function rewriteImports(
  binary: Uint8Array,
  rename: (module: string, field: string) => string | undefined,
  reexport?: Record<string, string>,
): Uint8Array;
