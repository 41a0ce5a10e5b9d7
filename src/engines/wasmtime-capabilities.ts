/**
 * The effective capability set, as the wasmtime engine applies it: which
 * WASI interfaces a component may import, and the WASI grant the addon
 * builds its context from. The interface→capability table matches the v8
 * engine's (src/engines/v8-wasi.ts), so both engines accept the same plugins.
 */
import path from "node:path";
import { envAllowed, has, parseCapability } from "../capabilities.js";
import { MissingImportError } from "../errors.js";
import type { NativeInstantiateOptions } from "./wasmtime-addon.js";

interface Need {
  /** Whether the effective set covers the interface. */
  test(caps: readonly string[]): boolean;
  /** The capability that would grant it, for the error message. */
  grant: string;
}

const startsWith = (prefix: string) => (caps: readonly string[]) => caps.some((c) => c.startsWith(prefix));

/** The capability an imported interface needs; `null`: always supplied (no authority of its own). */
export function capabilityFor(iface: string): Need | null {
  const name = iface.replace(/@.*$/, "");
  const ns = name.split("/")[0];
  if (ns === "wasi:io" || name === "wasi:cli/exit" || name === "wasi:cli/environment") return null;
  if (ns === "wasi:cli") return { test: (c) => has(c, "stdio"), grant: "stdio" };
  if (ns === "wasi:clocks") return { test: (c) => has(c, "clock"), grant: "clock" };
  if (ns === "wasi:random") return { test: (c) => has(c, "random"), grant: "random" };
  if (ns === "wasi:filesystem") return { test: startsWith("fs:"), grant: "fs:read:<dir> or fs:write:<dir>" };
  if (ns === "wasi:sockets") return { test: startsWith("net:outbound:"), grant: "net:outbound:<host:port>" };
  return { test: () => false, grant: "(none: the host does not provide this interface)" };
}

/** Refuse, before instantiating, a component that imports what the capabilities do not cover. */
export function checkImports(imports: readonly string[], capabilities: readonly string[], plugin: string): void {
  const missing: string[] = [];
  const grants = new Set<string>();
  for (const iface of imports) {
    if (iface.startsWith("plughost:plugin/")) continue;
    const need = capabilityFor(iface);
    if (need && !need.test(capabilities)) {
      missing.push(iface);
      grants.add(need.grant);
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

/**
 * The WASI part of the addon's instantiate options. Relative `fs:` dirs are
 * resolved against the entry's directory (as the v8 engine does); each dir
 * is mounted in the guest at its own absolute path.
 */
export function wasiGrant(capabilities: readonly string[], entryPath: string, plugin: string): Omit<NativeInstantiateOptions, "fuel" | "fuelLifetime" | "memoryBytes" | "tableElements" | "deadlineMs"> {
  const dirs = new Map<string, boolean>();
  const net: string[] = [];
  for (const text of capabilities) {
    if (!text.startsWith("fs:") && !text.startsWith("net:")) continue;
    const cap = parseCapability(text, { baseDir: path.dirname(entryPath), plugin });
    if (cap.kind === "fs") dirs.set(cap.dir, (dirs.get(cap.dir) ?? false) || cap.access === "write");
    else if (cap.kind === "net") net.push(`${cap.host}:${cap.port}`);
  }
  const env: string[][] = [];
  if (capabilities.some((c) => c.startsWith("env:"))) {
    for (const [name, value] of Object.entries(process.env)) {
      if (value !== undefined && envAllowed(capabilities, name)) env.push([name, value]);
    }
  }
  return {
    stdio: has(capabilities, "stdio"),
    clock: has(capabilities, "clock"),
    random: has(capabilities, "random"),
    env,
    dirs: [...dirs].map(([p, writable]) => ({ path: p, writable })),
    net,
  };
}
