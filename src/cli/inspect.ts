/** plughost inspect: a component's world, imports, exports, needed capabilities and sizes. */
import path from "node:path";
import { capabilityNeeded } from "../plugin/capability-imports.js";
import { InvalidPluginBinary } from "../contract/errors.js";
import { loadManifest } from "../plugin/manifest.js";
import { catalogueMetadataOf, formatCatalogueMetadata } from "../plugin/metadata.js";
import { MAX_ENTRY_BYTES, readRegularFile } from "../plugin/safe-read.js";
import { jsonOption, usageError, type Command } from "./shared.js";
import { inspectPackage } from "./pack.js";

export const inspectCommand: Command = {
  summary: "show a component's world, imports, exports, needed capabilities and sizes",
  usage: "plughost inspect <component.wasm|manifest|dir|package.plughost> [--json] [--config file (a package's trust list)]",
  options: { ...jsonOption, config: { type: "string" } },
  async run(values, positionals) {
    const target = positionals[0];
    if (!target) throw usageError("inspect needs a component, manifest, plugin directory or package file");
    if (target.endsWith(".plughost")) return inspectPackage(path.resolve(target), values.json === true, values.config as string | undefined);
    let wasmPath = path.resolve(target);
    let manifestInfo: Record<string, unknown> | undefined;
    if (!target.endsWith(".wasm")) {
      const m = await loadManifest(wasmPath);
      wasmPath = m.entryPath;
      manifestInfo = { name: m.name, version: m.version, apiVersion: m.apiVersion, ...catalogueMetadataOf(m), capabilities: m.capabilities, hooks: m.hooks };
    }
    const bytes = await readRegularFile(wasmPath, { maxBytes: MAX_ENTRY_BYTES, what: "the component" }).catch((err: unknown) => {
      throw new InvalidPluginBinary(wasmPath, err instanceof Error ? err.message : String(err));
    });
    const { checkComponentHeader, compileComponent } = await import("../engines/v8/compile.js");
    checkComponentHeader(bytes, wasmPath, manifestInfo?.name as string ?? path.basename(wasmPath));
    const { componentWit } = await import("../../vendor/jco/index.js");
    const wit = await componentWit(bytes);
    const compiled = await compileComponent(bytes, { file: wasmPath, plugin: String(manifestInfo?.name ?? "inspect") });
    const coreSizes = Object.fromEntries([...compiled.coreBytes].map(([k, v]) => [k, v.length]));
    const needs = [...new Set(compiled.imports.map(capabilityNeeded).filter((c): c is string => c !== undefined))];
    const report = { file: wasmPath, size: bytes.length, imports: compiled.imports, exports: compiled.exports, capabilitiesNeeded: needs, coreModules: coreSizes, manifest: manifestInfo, wit };
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(`${wasmPath} (${bytes.length} bytes)`);
      if (manifestInfo) for (const line of formatCatalogueMetadata(manifestInfo)) console.log(line);
      console.log(`exports: ${compiled.exports.join(", ")}`);
      console.log(`imports: ${compiled.imports.join(", ")}`);
      console.log(`capabilities needed: ${needs.join(", ") || "(none)"}`);
      console.log(`core modules: ${Object.entries(coreSizes).map(([k, v]) => `${k} ${v} B`).join(", ")}`);
      if (manifestInfo) console.log(`manifest: ${JSON.stringify(manifestInfo)}`);
      console.log(`\n${wit}`);
    }
    return 0;
  },
};
