/**
 * Which capability grants each WASI interface a component may import. Both
 * Wasm engines (v8: src/engines/v8/wasi.ts, wasmtime:
 * src/engines/wasmtime/capabilities.ts) check imports against this one
 * table before instantiating, so they accept and refuse the same plugins.
 */
import { envAllowed, has, parseCapability } from "./capabilities.js";
import { MissingImportError } from "../contract/errors.js";

/** What grants an interface: `null` for interfaces with no authority of their own. */
export type ImportGrant = "stdio" | "clock" | "random" | "fs" | "net" | null;

export interface ImportRule {
  /** Unversioned interface names; a trailing `/*` matches a whole package. */
  readonly interfaces: readonly string[];
  readonly grant: ImportGrant;
  /**
   * Without the grant, the engines link an inert stand-in (closed streams:
   * every write fails; stdin empty) instead of refusing the load. The WASI
   * preview1 adapter imports stderr to report its own faults, so plugins
   * without `stdio` still import it.
   */
  readonly inertWithoutGrant?: boolean;
  /** Why, for the docs and for readers. */
  readonly why: string;
}

/** First match wins; an interface no rule matches is not provided by the host. */
export const CAPABILITY_IMPORTS: readonly ImportRule[] = [
  { interfaces: ["wasi:io/*"], grant: null, why: "streams, errors and polling over resources granted elsewhere" },
  { interfaces: ["wasi:cli/exit"], grant: null, why: "a guest exit becomes PluginExited for that plugin alone" },
  { interfaces: ["wasi:cli/environment"], grant: null, why: "holds only the env:<NAME> variables (and args [\"plugin\"])" },
  { interfaces: ["wasi:cli/*"], grant: "stdio", inertWithoutGrant: true, why: "stdin is empty; stdout/stderr go to the plugin's logger" },
  { interfaces: ["wasi:clocks/*"], grant: "clock", why: "wall and monotonic clocks" },
  { interfaces: ["wasi:random/*"], grant: "random", why: "secure and insecure random bytes" },
  { interfaces: ["wasi:filesystem/*"], grant: "fs", why: "only the fs:read/fs:write directories are preopened" },
  { interfaces: ["wasi:sockets/*"], grant: "net", why: "connections only to net:outbound:<host:port> peers" },
];

/** How each grant reads in an error message. */
const GRANT_TEXT: Record<Exclude<ImportGrant, null>, string> = {
  stdio: "stdio",
  clock: "clock",
  random: "random",
  fs: "fs:read:<dir> or fs:write:<dir>",
  net: "net:outbound:<host:port>",
};
const NOT_PROVIDED = "(none: the host does not provide this interface)";

const matches = (pattern: string, name: string): boolean =>
  pattern.endsWith("/*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name;

/** The rule for an imported interface (versioned or not); `undefined` when the host does not provide it. */
export function importRule(iface: string): ImportRule | undefined {
  const name = iface.replace(/@.*$/, "");
  return CAPABILITY_IMPORTS.find((r) => r.interfaces.some((p) => matches(p, name)));
}

/** The capability an imported WASI interface needs, as text for people (`plughost inspect`); undefined if none. */
export function capabilityNeeded(iface: string): string | undefined {
  if (!iface.startsWith("wasi:")) return undefined;
  const rule = importRule(iface);
  if (!rule) return `${iface.replace(/@.*$/, "")} ${NOT_PROVIDED}`;
  return rule.grant ? GRANT_TEXT[rule.grant] : undefined;
}

/** Whether the effective set holds the grant. */
export function holdsGrant(capabilities: readonly string[], grant: ImportGrant): boolean {
  switch (grant) {
    case null:
      return true;
    case "fs":
      return capabilities.some((c) => c.startsWith("fs:"));
    case "net":
      return capabilities.some((c) => c.startsWith("net:outbound:"));
    default:
      return has(capabilities, grant);
  }
}

export interface ImportCheckOptions {
  /** The engine links inert stand-ins for `inertWithoutGrant` interfaces (both Wasm engines do). */
  inert: boolean;
}

/**
 * The capability an import needs and lacks, as error text; `undefined` when
 * it may be linked (granted, free, or inert on this engine).
 */
export function missingGrant(iface: string, capabilities: readonly string[], options: ImportCheckOptions): string | undefined {
  const rule = importRule(iface);
  if (!rule) return NOT_PROVIDED;
  if (rule.grant === null || holdsGrant(capabilities, rule.grant)) return undefined;
  if (rule.inertWithoutGrant && options.inert) return undefined;
  return GRANT_TEXT[rule.grant];
}

/**
 * Refuse, before instantiating, a component that imports an interface the
 * effective capabilities do not cover; the error names every such interface
 * and the capabilities that would grant them.
 */
export function checkImports(imports: readonly string[], capabilities: readonly string[], plugin: string, options: ImportCheckOptions): void {
  const missing: string[] = [];
  const grants = new Set<string>();
  for (const iface of imports) {
    if (iface.startsWith("plughost:plugin/")) continue;
    const grant = missingGrant(iface, capabilities, options);
    if (grant !== undefined) {
      missing.push(iface);
      grants.add(grant);
    }
  }
  if (missing.length > 0) {
    throw new MissingImportError(
      missing,
      `declare and grant the capability ${[...grants].join(", ")} for it, or rebuild the plugin without that interface`,
      { plugin },
    );
  }
}

/** The environment variables the effective set exposes, from `process.env` (`env:<NAME>`, prefix patterns too). */
export function grantedEnvironment(capabilities: readonly string[]): [string, string][] {
  if (!capabilities.some((c) => c.startsWith("env:"))) return [];
  return Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && envAllowed(capabilities, e[0]));
}

export interface GrantedDir {
  /** Absolute host directory, mounted in the guest at the same path. */
  dir: string;
  /** `fs:write` held for it; `fs:read` alone is read-only. */
  write: boolean;
}

/** The directories to preopen, merged per dir (write implies read); relative dirs resolve against `baseDir`. */
export function grantedDirs(capabilities: readonly string[], baseDir: string, plugin: string): GrantedDir[] {
  const dirs = new Map<string, boolean>();
  for (const text of capabilities) {
    if (!text.startsWith("fs:")) continue;
    const cap = parseCapability(text, { baseDir, plugin });
    if (cap.kind === "fs") dirs.set(cap.dir, (dirs.get(cap.dir) ?? false) || cap.access === "write");
  }
  return [...dirs].map(([dir, write]) => ({ dir, write }));
}
