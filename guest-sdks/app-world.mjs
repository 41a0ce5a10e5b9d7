// Guests built against an application's WIT world (docs/host-interfaces.md), shared by the SDK builds: which app
// WIT and world a plugin is built against (--wit/--world, or plugin.toml's [interfaces] wit and world), reading the
// app's WIT from a file or a directory, checking the world, and the one WIT source that embeds plughost's plugin
// world plus the app world (jco's componentEmbed takes nested `package … { … }` blocks after a root package).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parse as parseToml } from "smol-toml";
import { packageRoot } from "./component.mjs";

/**
 * The app WIT or world a plugin's build asked for is wrong (a missing file, a world the WIT does not define, a world
 * that includes plughost's own). `code` is E_APP_WORLD; the message says what to change.
 */
export class AppWorldError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "AppWorldError";
    this.code = "E_APP_WORLD";
  }
}

const PACKAGE_HEADER = /^[ \t]*package[ \t]+([a-z][a-z0-9-]*(?::[a-z][a-z0-9-]*)+(?:@[0-9A-Za-z.+-]+)?)[ \t]*;/m;

/** The `.wit` files of a path: the file itself, or a directory's top-level files and everything under its deps/. */
function witFiles(witPath) {
  if (!existsSync(witPath)) throw new AppWorldError(`the app WIT ${witPath} does not exist: pass --wit <file|dir> or set [interfaces] wit in plugin.toml`);
  if (statSync(witPath).isFile()) return { main: [witPath], deps: [] };
  const list = (dir) => readdirSync(dir).filter((f) => f.endsWith(".wit")).sort().map((f) => path.join(dir, f));
  const deps = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) walk(path.join(dir, e.name));
      else if (e.name.endsWith(".wit")) deps.push(path.join(dir, e.name));
    }
  };
  if (existsSync(path.join(witPath, "deps"))) walk(path.join(witPath, "deps"));
  const main = list(witPath);
  if (!main.length) throw new AppWorldError(`the app WIT directory ${witPath} holds no .wit file`);
  return { main, deps };
}

/**
 * Read an app's WIT (a `.wit` file, or a directory with its `deps/`) as packages, each with its files and the text of
 * its items (the `package …;` line removed). A top-level file without a `package` line belongs to the directory's
 * package (WIT's own rule); the root package is the one the top-level files declare.
 * @param {string} witPath
 * @returns {{ root: string, packages: { name: string, files: string[], bodies: string[] }[], verbatim: string[] }}
 */
export function readAppWit(witPath) {
  const { main, deps } = witFiles(path.resolve(witPath));
  /** @type {Map<string, { name: string, files: string[], bodies: string[] }>} */
  const packages = new Map();
  const verbatim = [];
  const add = (file, fallback) => {
    const text = readFileSync(file, "utf8");
    const m = PACKAGE_HEADER.exec(text);
    if (!m && /^[ \t]*package[ \t]+[^;{]+\{/m.test(text)) {
      verbatim.push(text); // only nested `package … { … }` blocks: kept as they are
      return undefined;
    }
    const name = m?.[1] ?? fallback;
    if (!name) return undefined;
    const body = m ? text.slice(0, m.index) + text.slice(m.index + m[0].length) : text;
    const p = packages.get(name) ?? { name, files: [], bodies: [] };
    p.files.push(file);
    p.bodies.push(body);
    packages.set(name, p);
    return name;
  };
  // The package line may be in any top-level file: find it first, then read them all.
  const root = main.map((f) => PACKAGE_HEADER.exec(readFileSync(f, "utf8"))?.[1]).find(Boolean);
  if (!root) throw new AppWorldError(`${witPath}: no \`package <namespace>:<name>@<version>;\` line in its .wit files`);
  for (const f of main) add(f, root);
  for (const f of deps) {
    if (!add(f, undefined)) {
      if (!verbatim.length || !readFileSync(f, "utf8").includes("package")) throw new AppWorldError(`${f} has no \`package <namespace>:<name>@<version>;\` line`);
    }
  }
  return { root, packages: [...packages.values()], verbatim };
}

/** The worlds a package's text defines (`world name {`), in order. */
export function worldsOf(bodies) {
  const names = [];
  for (const b of bodies) for (const m of b.matchAll(/^[ \t]*world[ \t]+(%?[a-z][a-z0-9-]*)[ \t]*\{/gm)) names.push(m[1].replace(/^%/, ""));
  return names;
}

/** The text of world `world` in `bodies` (up to its closing brace), for the checks below. */
function worldText(bodies, world) {
  for (const b of bodies) {
    const m = new RegExp(`^[ \\t]*world[ \\t]+%?${world}[ \\t]*\\{`, "m").exec(b);
    if (!m) continue;
    let depth = 0;
    for (let i = m.index + m[0].length - 1; i < b.length; i++) {
      if (b[i] === "{") depth++;
      else if (b[i] === "}" && --depth === 0) return b.slice(m.index, i + 1);
    }
  }
  return undefined;
}

/**
 * @typedef {object} AppWorld An app world a plugin is built against.
 * @property {string} wit The app's WIT: a `.wit` file or a directory (absolute).
 * @property {string} world The world's name in the WIT's root package: only the app's imports and exports.
 * @property {string} root The root package (`acme:app@1.0.0`).
 * @property {string} appWorldId The world's qualified name (`acme:app/mirror-plugin@1.0.0`), for `include`.
 */

/**
 * Check an app world: `world` must be a world of the WIT's root package (without one, the package's only world is
 * taken). A world that names plughost's own interfaces is refused: the build adds plughost's plugin world itself.
 * @param {string} wit
 * @param {string | undefined} world
 * @returns {AppWorld}
 */
export function checkAppWorld(wit, world) {
  const app = readAppWit(wit);
  const rootBodies = app.packages.find((p) => p.name === app.root)?.bodies ?? [];
  const worlds = worldsOf(rootBodies);
  const listed = worlds.length ? `its worlds: ${worlds.join(", ")}` : "it defines no world";
  if (!world) {
    if (worlds.length !== 1) throw new AppWorldError(`${wit} (package ${app.root}): name the plugin's world with --world <name> or [interfaces] world in plugin.toml (${listed})`);
    world = worlds[0];
  }
  if (!worlds.includes(world)) throw new AppWorldError(`${wit} (package ${app.root}) has no world "${world}" (${listed})`);
  if (/plughost:plugin\//.test(worldText(rootBodies, world) ?? "")) {
    throw new AppWorldError(`world "${world}" of ${wit} names plughost:plugin interfaces: give a world with only the application's imports and exports (the build adds plughost's plugin world)`);
  }
  const [pkg, version] = app.root.split("@");
  return { wit: path.resolve(wit), world, root: app.root, appWorldId: `${pkg}/${world}${version ? `@${version}` : ""}` };
}

/**
 * The app world a plugin directory is built against, or undefined for a plugin without one.
 * `option`: `false` (none), `"path/app.wit#world"` or `{ wit, world }` (paths relative to the working directory; the
 * world may be left out when the WIT defines one), or undefined: plugin.toml's `[interfaces] wit` (relative to `dir`)
 * and `[interfaces] world`.
 * @param {string} dir
 * @param {false | string | { wit?: string, world?: string } | undefined} option
 * @returns {Promise<AppWorld | undefined>}
 */
export async function resolveAppWorld(dir, option) {
  if (option === false) return undefined;
  let wit;
  let world;
  if (typeof option === "string") {
    const at = option.lastIndexOf("#");
    [wit, world] = at > 0 ? [option.slice(0, at), option.slice(at + 1)] : [option, undefined];
    wit = path.resolve(wit);
  } else if (option && (option.wit || option.world)) {
    ({ wit, world } = option);
    if (wit) wit = path.resolve(wit);
  }
  const manifestPath = path.join(dir, "plugin.toml");
  if (!wit || !world) {
    let ifaces;
    if (existsSync(manifestPath)) {
      try {
        ifaces = /** @type {any} */ (parseToml(readFileSync(manifestPath, "utf8"))).interfaces;
      } catch (err) {
        throw new AppWorldError(`${manifestPath}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (!wit && typeof ifaces?.wit === "string") wit = path.resolve(dir, ifaces.wit);
    if (!world && typeof ifaces?.world === "string") world = ifaces.world;
  }
  if (!wit) {
    if (world) throw new AppWorldError(`${dir}: world "${world}" is named but no app WIT: pass --wit <file|dir> or set [interfaces] wit in plugin.toml`);
    return undefined;
  }
  return checkAppWorld(wit, world);
}

/** `name` as generated C or Rust spells a WIT identifier: kebab-case → snake_case. */
export const snakeCase = (name) => name.replace(/-/g, "_");

/**
 * One WIT source for componentEmbed / componentize-js: a root package whose world includes plughost's world `base`
 * (plus `extra`, the generated world text of worldFor when `base` is not a world wit/plugin.wit names) and the app
 * world, then every package as a nested block.
 * @param {AppWorld} appWorld
 * @param {{ base?: string, extra?: string }} [opts]
 * @returns {{ source: string, world: string, appWorldId: string }}
 */
export function appWorldSource(appWorld, { base = "plugin", extra = "" } = {}) {
  const pluginText = readFileSync(path.join(packageRoot, "wit", "plugin.wit"), "utf8") + extra;
  const plugin = PACKAGE_HEADER.exec(pluginText);
  if (!plugin) throw new Error("wit/plugin.wit has no package line");
  const pluginPkg = plugin[1];
  const [pluginName, pluginVersion] = pluginPkg.split("@");
  const world = `${appWorld.world}-plugin`;
  const blocks = [
    `package plughost:app-build;\n`,
    `world ${world} {\n  include ${pluginName}/${base}@${pluginVersion};\n  include ${appWorld.appWorldId};\n}\n`,
  ];
  const nested = (name, bodies) => `package ${name} {\n${bodies.join("\n")}\n}\n`;
  const app = readAppWit(appWorld.wit);
  for (const p of app.packages) {
    if (p.name.startsWith(`${pluginName}@`)) continue; // an app's copy of plughost's WIT: the SDK's is the one built against
    blocks.push(nested(p.name, p.bodies));
  }
  blocks.push(...app.verbatim);
  blocks.push(nested(pluginPkg, [pluginText.slice(0, plugin.index) + pluginText.slice(plugin.index + plugin[0].length)]));
  return { source: blocks.join("\n"), world, appWorldId: appWorld.appWorldId };
}
