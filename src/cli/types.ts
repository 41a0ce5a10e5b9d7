/** plughost types: TypeScript declarations for an application's WIT interfaces (docs/host-interfaces.md). */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { jsonOption, usageError, type Command } from "./shared.js";

export const typesCommand: Command = {
  summary: "TypeScript declarations for WIT interfaces: value types, <Name>Implementation and <Name>Exports",
  usage: `plughost types <wit file|dir> [interface-id ...] [--out file] [--json]
Reads a .wit file, or a directory of .wit files (one package, plus the packages in its deps/ folder), and prints
a TypeScript module for the named interfaces (all of them when none is named): their records, variants, enums and
flags as JS values look (u64/s64 bigint, list<u8> Uint8Array, variants and results { tag, val }, option T | undefined),
<Name>Implementation (what registry.provide takes) and <Name>Exports (a plugin's export, as handle.call returns it).
An id is ns:pkg/name or ns:pkg/name@1.2.3. --out writes the module to a file instead.`,
  options: { out: { type: "string" }, ...jsonOption },
  async run(values, positionals) {
    const [source, ...ids] = positionals;
    if (!source) throw usageError("types needs a .wit file or a directory of .wit files");
    const { loadWit } = await import("../interfaces/wit-load.js");
    const { resolveInterface } = await import("../interfaces/wit-parser.js");
    const { interfacesDeclarations } = await import("../interfaces/typescript.js");
    const { interfaceId } = await import("../interfaces/types.js");
    const packages = loadWit(path.resolve(source));
    const all = packages.flatMap((p) => p.interfaces);
    const ifaces = ids.length === 0 ? all : ids.map((id) => {
      const found = resolveInterface(packages, id);
      if (!found) throw usageError(`no interface ${id} in ${source}; it has: ${all.map((i) => interfaceId(i)).join(", ") || "none"}`);
      return found;
    });
    if (ifaces.length === 0) throw usageError(`${source} defines no interfaces`);
    const text = interfacesDeclarations(ifaces);
    const names = ifaces.map((i) => interfaceId(i));
    const out = values.out as string | undefined;
    if (out) {
      mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      writeFileSync(out, text);
    }
    if (values.json) console.log(JSON.stringify({ interfaces: names, ...(out ? { out: path.resolve(out) } : { declarations: text }) }));
    else if (out) console.log(`wrote ${out}: ${names.join(", ")}`);
    else process.stdout.write(text);
    return 0;
  },
};
