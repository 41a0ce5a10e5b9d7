/** plughost glue go: (re)generate a Go plugin's canonical-ABI glue from its app world (docs/guest-go.md). */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { jsonOption, usageError, type Command } from "./shared.js";

export const glueCommand: Command = {
  summary: "generate a Go plugin's glue for its app WIT world (app_world.go)",
  usage: `plughost glue go [plugin-dir] [--wit file|dir --world name] [--out file] [--json]
Writes the Go bindings of the plugin's app world (plugin.toml's [interfaces] wit and world, or --wit/--world): its
types, the imported interfaces as values whose methods call the host, and the exported interfaces as Go interfaces
the plugin implements. Default output: <plugin-dir>/app_world.go (what plughost new go --world writes). Run it again
after the WIT changes. (Rust, C and JS plugins get their bindings from their build.)`,
  options: { wit: { type: "string" }, world: { type: "string" }, out: { type: "string" }, ...jsonOption },
  async run(values, positionals) {
    const [lang, dirArg] = positionals;
    if (lang !== "go") throw usageError(`glue generates Go bindings: plughost glue go [plugin-dir]${lang ? ` (not "${lang}")` : ""}`);
    const dir = path.resolve(dirArg ?? ".");
    let wit = values.wit as string | undefined;
    let world = values.world as string | undefined;
    if (!wit || !world) {
      // Only [interfaces] is read: the glue is made before the plugin is built (loading the manifest checks entry).
      const { MANIFEST_FILES, formatOf, parseDocument } = await import("../plugin/manifest.js");
      const file = MANIFEST_FILES.map((f) => path.join(dir, f)).find((f) => existsSync(f));
      if (!file) throw usageError(`${dir} has no ${MANIFEST_FILES.join(" or ")}: pass --wit and --world`);
      const { value } = parseDocument(readFileSync(file, "utf8"), formatOf(file)!);
      const ifaces = (value as { interfaces?: { wit?: unknown; world?: unknown } } | undefined)?.interfaces;
      if (!wit && typeof ifaces?.wit === "string") wit = ifaces.wit;
      if (!world && typeof ifaces?.world === "string") world = ifaces.world;
    }
    if (!wit || !world) throw usageError(`${dir}: no app world: set [interfaces] wit and world in plugin.toml, or pass --wit and --world`);
    const { readScaffoldWorld } = await import("./new-world.js");
    const { generateGoGlue } = await import("../interfaces/go-glue.js");
    const w = readScaffoldWorld(`${path.resolve(dir, wit)}#${world}`);
    const out = path.resolve(dir, (values.out as string | undefined) ?? "app_world.go");
    writeFileSync(out, generateGoGlue(w).source);
    if (values.json) console.log(JSON.stringify({ world: w.worldId, out }));
    else console.log(`wrote ${path.relative(process.cwd(), out) || out}: ${w.worldId}`);
    return 0;
  },
};
