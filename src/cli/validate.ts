/** plughost validate: a manifest against its entry, without running it. */
import path from "node:path";
import { PlughostError } from "../contract/errors.js";
import { loadManifest, type Manifest } from "../plugin/manifest.js";
import { checkApiVersion } from "../plugin/resolve.js";
import { MAX_ENTRY_BYTES, readRegularFile } from "../plugin/safe-read.js";
import { jsonOption, usageError, type Command } from "./shared.js";

export const validateCommand: Command = {
  summary: "validate a manifest (plugin.toml / plugin.json) against its entry",
  usage: `plughost validate <manifest|dir> [--json]
Checks the manifest, that its entry exists and is a component of the plughost world (or a native library with
the C ABI), that this host satisfies its api-version, and that its declared capabilities cover its imports.`,
  options: { ...jsonOption },
  async run(values, positionals) {
    const target = positionals[0];
    if (!target) throw usageError("validate needs a manifest or plugin directory");
    try {
      const m = await loadManifest(path.resolve(target));
      const problems = await entryProblems(m);
      if (problems.length) {
        if (values.json) console.log(JSON.stringify({ valid: false, plugin: m.name, code: problems[0]!.code, message: problems[0]!.message, problems }, null, 2));
        else for (const p of problems) console.error(`${m.file}: ${p.code} ${p.message}`);
        return 1;
      }
      if (values.json) console.log(JSON.stringify({ valid: true, manifest: m }, null, 2));
      else console.log(`${m.file}: valid (${m.name}@${m.version}, ${m.kind}, api ${m.apiVersion})`);
      return 0;
    } catch (err) {
      if (values.json && err instanceof PlughostError) {
        const problems = (err as { problems?: unknown }).problems;
        console.log(JSON.stringify({ valid: false, code: err.code, message: err.message, problems }, null, 2));
        return 1;
      }
      throw err;
    }
  },
};

/**
 * What keeps a manifest's entry from loading on this host, found without running it:
 * the host's API version, the binary's form and world, and imports the declared capabilities do not cover.
 */
async function entryProblems(m: Manifest): Promise<{ code: string; message: string }[]> {
  const problems: { code: string; message: string }[] = [];
  const add = (err: unknown) => problems.push({ code: err instanceof PlughostError ? err.code : "E_INVALID_BINARY", message: err instanceof Error ? err.message : String(err) });
  try {
    checkApiVersion(m);
  } catch (err) {
    add(err);
  }
  let bytes: Uint8Array;
  try {
    // As the registry reads it: a regular file inside the plugin, under the entry size cap.
    bytes = await readRegularFile(m.entryPath, { maxBytes: MAX_ENTRY_BYTES, within: m.dir, what: "the entry file" });
  } catch (err) {
    problems.push({ code: "E_INVALID_BINARY", message: `${m.entryPath}: ${err instanceof Error ? err.message : String(err)}` });
    return problems;
  }
  if (m.kind === "native") {
    const problem = nativeLibraryProblem(bytes);
    if (problem) problems.push({ code: "E_INVALID_BINARY", message: `${m.entryPath}: ${problem}` });
    return problems;
  }
  try {
    const { compileComponent } = await import("../engines/v8/compile.js");
    const compiled = await compileComponent(bytes, { file: m.entryPath, plugin: m.name });
    const { missingGrant } = await import("../plugin/capability-imports.js");
    for (const iface of compiled.imports) {
      if (iface.startsWith("plughost:plugin/")) continue;
      const grant = missingGrant(iface, m.capabilities, { inert: true });
      if (grant !== undefined) {
        problems.push({
          code: "E_MISSING_IMPORT",
          message: `imports ${iface}, which its capabilities [${m.capabilities.join(", ")}] do not cover: declare ${grant} in the manifest (or rebuild without that interface)`,
        });
      }
    }
  } catch (err) {
    add(err);
  }
  return problems;
}

/** Why `bytes` is not a native plugin library with the C ABI (plughost.h), or undefined. */
function nativeLibraryProblem(bytes: Uint8Array): string | undefined {
  const head = [...bytes.subarray(0, 4)];
  const elf = head.join() === "127,69,76,70";
  const macho = [
    [0xcf, 0xfa, 0xed, 0xfe],
    [0xce, 0xfa, 0xed, 0xfe],
    [0xca, 0xfe, 0xba, 0xbe],
  ].some((m) => m.join() === head.join());
  if (!elf && !macho && !(head[0] === 0x4d && head[1] === 0x5a)) return "is not a shared library (no ELF, Mach-O or PE header)";
  // The exported names sit in the dynamic string table; a library without them cannot be a plugin.
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
  const missing = ["plugin_init", "plugin_teardown"].filter((sym) => !new RegExp(`(^|\\0)_?${sym}\\0`).test(text));
  return missing.length ? `does not export ${missing.join(" and ")} (the C ABI of plughost.h)` : undefined;
}
