/**
 * The effective capability set, as the wasmtime engine applies it: which
 * WASI interfaces a component may import, and the WASI grant the addon
 * builds its context from. The interface→capability table is shared with the
 * v8 engine (src/plugin/capability-imports.ts).
 */
import path from "node:path";
import { has, parseCapability } from "../../plugin/capabilities.js";
import { checkImports as checkImportsAgainstTable, grantedDirs, grantedEnvironment } from "../../plugin/capability-imports.js";
import type { NativeInstantiateOptions } from "./addon.js";

/**
 * Refuse, before instantiating, a component that imports what the
 * capabilities do not cover (the shared table in src/plugin/capability-imports.ts).
 * Like the v8 engine, the addon links the stdio interfaces without `stdio` as
 * inert stand-ins (closed stdout/stderr, empty stdin; native/wasmtime/src/wasi.rs).
 */
export function checkImports(imports: readonly string[], capabilities: readonly string[], plugin: string): void {
  checkImportsAgainstTable(imports, capabilities, plugin, { inert: true });
}

/**
 * The WASI part of the addon's instantiate options. Relative `fs:` dirs are
 * resolved against the entry's directory (as the v8 engine does); each dir
 * is mounted in the guest at its own absolute path.
 */
export function wasiGrant(capabilities: readonly string[], entryPath: string, plugin: string): Omit<NativeInstantiateOptions, "fuel" | "fuelLifetime" | "memoryBytes" | "tableElements" | "deadlineMs"> {
  const net: string[] = [];
  for (const text of capabilities) {
    if (!text.startsWith("net:")) continue;
    const cap = parseCapability(text, { plugin });
    if (cap.kind === "net") net.push(`${cap.host}:${cap.port}`);
  }
  return {
    stdio: has(capabilities, "stdio"),
    clock: has(capabilities, "clock"),
    random: has(capabilities, "random"),
    env: grantedEnvironment(capabilities),
    dirs: grantedDirs(capabilities, path.dirname(entryPath), plugin).map((d) => ({ path: d.dir, writable: d.write })),
    net,
  };
}

/** Whether an imported or exported instance is an app-defined interface (neither plughost's own nor WASI). */
export function isAppInterface(name: string): boolean {
  return !name.startsWith("plughost:") && !name.startsWith("wasi:");
}
