/** plughost new: scaffold a plugin from templates/<lang>. */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { readScaffoldWorld, scaffoldWorld, WORLD_LANGUAGES } from "./new-world.js";
import { packageRoot, packageVersion, usageError, type Command } from "./shared.js";

export const newCommand: Command = {
  summary: "scaffold a plugin from a template (c, js, rust, go)",
  usage: `plughost new <c|js|rust|go> <name> [--dir path] [--world path/to/app.wit[#world]]
--world scaffolds against an application's WIT world (any of the four): the WIT is copied into wit/, the manifest's
[interfaces] names it and the world, its capabilities cover each imported interface (iface:<ns>:<pkg>/<name>),
and the source has a stub for each exported function.`,
  options: { dir: { type: "string" }, world: { type: "string" } },
  async run(values, positionals) {
    const [lang, name] = positionals;
    if (!lang || !name) throw usageError("new needs a language and a name");
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name)) throw usageError(`"${name}" is not a valid plugin name (lowercase letters, digits, . _ -)`);
    const template = path.join(packageRoot, "templates", lang);
    if (!existsSync(template)) throw usageError(`no template for "${lang}"; available: ${readdirSync(path.join(packageRoot, "templates")).join(", ")}`);
    const dest = path.resolve((values.dir as string | undefined) ?? name);
    if (existsSync(dest) && readdirSync(dest).length) throw usageError(`${dest} exists and is not empty`);
    const worldSpec = values.world as string | undefined;
    if (worldSpec !== undefined && !(WORLD_LANGUAGES as readonly string[]).includes(lang)) {
      throw usageError(`--world scaffolds ${WORLD_LANGUAGES.join(", ")} plugins, not ${lang}`);
    }
    // Read the WIT before writing anything: a bad --world leaves no half-made plugin behind.
    const world = worldSpec === undefined ? undefined : readScaffoldWorld(worldSpec);
    // Nothing absolute is written: test.mjs and tsconfig.json name the package ("plughost"), and the
    // Rust crate / Go module are found by a path relative to the plugin (into node_modules/plughost
    // when the plugin lives in a project that installs plughost).
    const sdk = path.relative(dest, path.join(packageRoot, "guest-sdks", lang)).split(path.sep).join("/");
    copyTemplate(template, dest, { name, version: packageVersion(), sdk });
    if (world) {
      const manifestPath = path.join(dest, "plugin.toml");
      try {
        const { manifest } = await scaffoldWorld(lang, dest, name, world, readFileSync(manifestPath, "utf8"));
        writeFileSync(manifestPath, manifest);
      } catch (e) {
        // (A C scaffold runs the bindings generator, which may be missing.) Leave no half-made plugin behind.
        rmSync(dest, { recursive: true, force: true });
        throw e;
      }
      console.log(`world: ${world.worldId} (imports ${world.imports.map((i) => i.name).join(", ") || "none"}; exports ${world.exports.map((i) => i.name).join(", ") || "none"})`);
    }
    const rel = path.relative(process.cwd(), dest) || ".";
    console.log(`created ${dest}\nnext: plughost build ${rel} && node ${path.join(rel, "test.mjs")}`);
    if (lang === "js" && !findPackageUp("@bytecodealliance/componentize-js", packageRoot)) {
      // An optional peer dependency: only JS plugin builds need it (it is large).
      const peers = (JSON.parse(readFileSync(path.join(packageRoot, "package.json"), "utf8")) as { peerDependencies?: Record<string, string> }).peerDependencies ?? {};
      const spec = `@bytecodealliance/componentize-js@${peers["@bytecodealliance/componentize-js"] ?? "latest"}`;
      console.log(`note: building a JS plugin needs the optional peer package ${spec}: npm install --save-dev ${spec}`);
    }
    if (!/^(\.\.\/)*node_modules\/plughost\//.test(sdk)) {
      console.log(`note: test.mjs imports "plughost"; install it where the plugin can resolve it (npm install --save-dev plughost)`);
    }
    return 0;
  },
};

/** True when package `name` is installed where Node would find it from `dir`. */
function findPackageUp(name: string, dir: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, "node_modules", name, "package.json"))) return true;
    if (d === path.dirname(d)) return false;
  }
}

function copyTemplate(from: string, to: string, vars: Record<string, string>): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from)) {
    const src = path.join(from, entry);
    // npm never packs a file named .gitignore, so templates ship it as `gitignore`.
    const name = entry === "gitignore" ? ".gitignore" : entry;
    const dst = path.join(to, name.replace(/\{\{(\w+)\}\}/g, (_, k: string) => vars[k] ?? _));
    if (statSync(src).isDirectory()) copyTemplate(src, dst, vars);
    else writeFileSync(dst, readFileSync(src, "utf8").replace(/\{\{(\w+)\}\}/g, (m, k: string) => vars[k] ?? m));
  }
}
