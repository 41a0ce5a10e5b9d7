/** What the command modules share: the command shape, usage errors, error text and the package's root and version. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ParseArgsConfig } from "node:util";
import { capabilityNeeded } from "../plugin/capability-imports.js";
import { CapabilityDenied, MissingImportError, PlughostError } from "../contract/errors.js";
import { HOST_CONFIG_FILES } from "../runtime/host-config.js";

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  run(values: Record<string, string | boolean | string[] | undefined>, positionals: string[]): Promise<number>;
}

export const jsonOption = { json: { type: "boolean" as const, description: "machine-readable output" } };

export class UsageError extends Error {}
export const usageError = (m: string) => new UsageError(m);

export function describe(err: unknown): string {
  if (err instanceof PlughostError) return `error ${err.code}: ${err.message}`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}

/** How to grant what a capability error names, through this command line and the host config file. */
export function grantHint(err: unknown): string {
  let caps: string[] = [];
  if (err instanceof CapabilityDenied) caps = [err.capability];
  else if (err instanceof MissingImportError) caps = [...new Set(err.imports.map(capabilityNeeded).filter((c): c is string => c !== undefined))];
  if (!caps.length) return "";
  const flags = caps.map((c) => `--grant ${JSON.stringify(c)}`).join(" ");
  const declare = err instanceof MissingImportError ? ` (the plugin must also declare ${caps.length === 1 ? "it" : "them"} in its manifest's capabilities)` : "";
  return `; to grant ${caps.length === 1 ? "it" : "them"}: plughost run ... ${flags}, or "grants": ${JSON.stringify(caps)} in ${HOST_CONFIG_FILES[0]} (--config file)${declare}`;
}

/** The installed package's version (package.json next to dist/). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
}
