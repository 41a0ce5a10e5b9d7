#!/usr/bin/env node
/**
 * The plughost command line: run, inspect, validate, new, conformance, keygen, sign, build, serve, profile, types, pack, unpack, publish, search, versions, trust, install, update, uninstall, outdated.
 * Every command has --help; data output has --json. This module parses the command line and
 * dispatches to the command's module (one per command, in this folder); it is the package's bin.
 */
import { realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PlughostError } from "../contract/errors.js";
import { MANIFEST_FILES } from "../plugin/manifest.js";
import { HOST_WIT_VERSION } from "../contract/version.js";
import { describe, grantHint, packageVersion, UsageError, type Command } from "./shared.js";
import { runCommand } from "./run.js";
import { inspectCommand } from "./inspect.js";
import { validateCommand } from "./validate.js";
import { newCommand } from "./new.js";
import { conformanceCommand } from "./conformance.js";
import { keygenCommand } from "./keygen.js";
import { signCommand } from "./sign.js";
import { buildCommand } from "./build.js";
import { serveCommand } from "./serve.js";
import { profileCommand } from "./profile.js";
import { typesCommand } from "./types.js";
import { glueCommand } from "./glue.js";
import { packCommand } from "./pack.js";
import { unpackCommand } from "./unpack.js";
import { publishCommand, searchCommand, versionsCommand } from "./catalog.js";
import { trustCommand } from "./trust.js";
import { installCommand, outdatedCommand, uninstallCommand, updateCommand } from "./install.js";

export { packageVersion } from "./shared.js";

const commands: Record<string, Command> = {
  run: runCommand,
  inspect: inspectCommand,
  validate: validateCommand,
  new: newCommand,
  conformance: conformanceCommand,
  keygen: keygenCommand,
  sign: signCommand,
  build: buildCommand,
  serve: serveCommand,
  profile: profileCommand,
  types: typesCommand,
  glue: glueCommand,
  pack: packCommand,
  unpack: unpackCommand,
  publish: publishCommand,
  search: searchCommand,
  versions: versionsCommand,
  trust: trustCommand,
  install: installCommand,
  update: updateCommand,
  uninstall: uninstallCommand,
  outdated: outdatedCommand,
};

function help(): string {
  const lines = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`);
  return `plughost ${packageVersion()} (plugin API ${HOST_WIT_VERSION}): a WebAssembly component plugin runtime\n\nusage: plughost <command> [options]\n       plughost --version\n\ncommands:\n${lines.join("\n")}\n\nRun plughost <command> --help for a command's options. Manifests: ${MANIFEST_FILES.join(", ")}.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const json = argv.includes("--json");
  if (name === "--version" || name === "-v" || name === "version") {
    const version = packageVersion();
    console.log(json ? JSON.stringify({ version, apiVersion: HOST_WIT_VERSION }) : `plughost ${version} (plugin API ${HOST_WIT_VERSION})`);
    return 0;
  }
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(help());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    if (json) console.log(JSON.stringify({ error: "E_USAGE", message: `unknown command "${name}"`, commands: Object.keys(commands) }));
    else console.error(`unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`${command.summary}\n\nusage: ${command.usage}`);
    return 0;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
    return await command.run(values as Record<string, string | boolean | string[] | undefined>, positionals);
  } catch (err) {
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true;
    if (json) {
      // Machine-readable callers get the error on stdout, like the results.
      const plugin = err instanceof PlughostError ? err.plugin : undefined;
      const code = err instanceof PlughostError ? err.code : usage ? "E_USAGE" : "E_FAILED";
      const message = `${err instanceof Error ? err.message : String(err)}${grantHint(err)}`;
      console.log(JSON.stringify({ error: code, message, ...(plugin ? { plugin } : {}), ...(usage ? { usage: command.usage } : {}) }));
    } else {
      console.error(`${describe(err)}${grantHint(err)}`);
      if (usage) console.error(`usage: ${command.usage}`);
    }
    return usage ? 2 : 1;
  }
}

/** True when this module is the program: run directly, or through npm's bin symlink (npx, a global install). */
function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(path.resolve(script)) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
