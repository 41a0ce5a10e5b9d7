/**
 * plughost install, update, uninstall and outdated: the commands that change (or compare) a plugin directory
 * (docs/catalog.md "Installing, updating and removing plugins"). The plugin directory is `--dir`, else the host
 * config's first `pluginDirs`; the trust list is the host config's `signatures` (inline or `signatures.file`); the
 * catalog is `--catalog`, else `PLUGHOST_CATALOG`, else the one the lockfile's entries were installed from.
 */
import path from "node:path";
import type { Installer, InstallResult } from "../catalog/install.js";
import type { Catalog } from "../catalog/types.js";
import { catalogCredentials, catalogOption } from "./catalog.js";
import { jsonOption, readHostConfigFile, usageError, type Command } from "./shared.js";

const common = {
  ...catalogOption,
  dir: { type: "string" as const, description: "the plugin directory (default: the host config's first pluginDirs)" },
  config: { type: "string" as const, description: "host config file (pluginDirs, signatures)" },
  "require-signature": { type: "boolean" as const, description: "refuse unsigned packages" },
  ...jsonOption,
};

const where = `The plugin directory is --dir, else the host config's first pluginDirs (--config, or plughost.config.* here).
Packages are verified against the host config's trust list (signatures) before anything is written;
--require-signature (or signatures.require) refuses unsigned ones. The catalog is --catalog, else
PLUGHOST_CATALOG, else the one the lockfile's plugins came from. The host config's dependencies.strategy
decides whether an installed dependency may be moved to fit a new plugin (latest, the default) or not (strict, manual).`;

/** The installer a command works with, from its options and the host config. */
async function installerFrom(values: Record<string, unknown>, command: string): Promise<Installer> {
  const config = await readHostConfigFile(values.config as string | undefined);
  const dir = (values.dir as string | undefined) ?? config?.pluginDirs[0];
  if (!dir) throw usageError(`${command} needs a plugin directory: --dir <dir>, or pluginDirs in the host config (--config <file>)`);
  const pluginDir = path.resolve(dir);
  const [{ Installer }, { readLockfile, LOCKFILE_NAME }] = await Promise.all([import("../catalog/install.js"), import("../catalog/lockfile.js")]);
  let location = (values.catalog as string | undefined) ?? process.env.PLUGHOST_CATALOG;
  if (!location) {
    const used = [...new Set(Object.values((await readLockfile(path.join(pluginDir, LOCKFILE_NAME))).plugins).map((e) => e.catalog))];
    if (used.length !== 1) {
      throw usageError(`${command} needs --catalog <dir|oci://host[:port]/prefix> (or PLUGHOST_CATALOG)${used.length > 1 ? `: the lockfile names several (${used.join(", ")})` : ""}`);
    }
    location = used[0]!;
  }
  const { openCatalog, isRegistryLocation } = await import("../catalog/index.js");
  // A directory catalog is recorded absolute in the lockfile, so the next install finds it from any working directory.
  if (!isRegistryLocation(location) && !location.startsWith("file:")) location = path.resolve(location);
  const credentials = catalogCredentials();
  const catalog: Catalog = openCatalog(location, credentials ? { credentials } : {});
  return new Installer({
    pluginDir,
    catalog,
    ...(config?.signatures ? { signatures: config.signatures } : {}),
    ...(values["require-signature"] ? { requireSignature: true } : {}),
    ...(config?.dependencies ? { strategy: config.dependencies.strategy } : {}),
  });
}

/** The text report of an install or update. */
function report(result: InstallResult, verb: string, installer: Installer): string {
  const lines = result.installed.map((p) => {
    const from = p.previous !== undefined && p.previous !== p.version ? ` (was ${p.previous})` : "";
    const signed = p.key ? `signed by "${p.key}"${p.level ? ` (${p.level})` : ""}` : "unsigned";
    return `${verb} ${p.name}@${p.version}${from}: ${signed}, ${p.digest}`;
  });
  for (const u of result.unchanged) lines.push(`${u.name}@${u.version} is up to date`);
  if (lines.length === 0) lines.push(`nothing to do in ${installer.pluginDir}`);
  return lines.join("\n");
}

export const installCommand: Command = {
  summary: "install plugins from a catalog into a plugin directory (no name: what its lockfile pins)",
  usage: `plughost install [<name>[@range]...] [--catalog c] [--dir d] [--require-signature] [--config f] [--json]
Installs the highest version in the range (default: the newest release) with its dependencies, verified, and
records it in <dir>/plughost.lock.json pinned by digest. With no name, makes the directory what the lockfile says
(each package's digest must equal the pinned one). Each plugin is switched in by one rename: an interrupted
install leaves the previous version in place.
${where}`,
  options: common,
  async run(values, positionals) {
    const installer = await installerFrom(values, "install");
    const results: InstallResult[] = [];
    if (positionals.length === 0) results.push(await installer.installLocked());
    for (const spec of positionals) results.push(await installer.install(spec));
    if (values.json) console.log(JSON.stringify(positionals.length === 0 ? results[0] : results, null, 2));
    else console.log(results.map((r) => report(r, "installed", installer)).join("\n"));
    return 0;
  },
};

export const updateCommand: Command = {
  summary: "update installed plugins within their compatible range (--major to cross a major version)",
  usage: `plughost update [<name>] [--major] [--catalog c] [--dir d] [--require-signature] [--config f] [--json]
Moves each plugin (or the one named) to the highest version of the same major (for 0.x, the same minor) that every
installed dependent accepts; --major allows any newer version. plughost outdated shows what would change.
${where}`,
  options: { ...common, major: { type: "boolean" as const } },
  async run(values, positionals) {
    if (positionals.length > 1) throw usageError("update takes at most one plugin name");
    const installer = await installerFrom(values, "update");
    const result = await installer.update(positionals[0], { major: values.major === true });
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else console.log(report(result, "updated", installer));
    return 0;
  },
};

export const uninstallCommand: Command = {
  summary: "remove an installed plugin from a plugin directory and its lockfile",
  usage: `plughost uninstall <name> [--dir d] [--config f] [--json]
Refused while another installed plugin depends on it. Its dependencies stay installed.
The plugin directory is --dir, else the host config's first pluginDirs.`,
  options: { dir: common.dir, config: common.config, ...jsonOption },
  async run(values, positionals) {
    const name = positionals[0];
    if (!name || positionals.length > 1) throw usageError("uninstall needs one plugin name");
    const config = await readHostConfigFile(values.config as string | undefined);
    const dir = (values.dir as string | undefined) ?? config?.pluginDirs[0];
    if (!dir) throw usageError("uninstall needs a plugin directory: --dir <dir>, or pluginDirs in the host config (--config <file>)");
    const [{ Installer }] = await Promise.all([import("../catalog/install.js")]);
    // Uninstalling reads no catalog: a placeholder location is never contacted.
    const offline: Catalog = {
      location: "(none)",
      search: () => Promise.resolve([]),
      versions: () => Promise.resolve([]),
      fetch: () => Promise.reject(new Error("uninstall does not fetch")),
      publish: () => Promise.reject(new Error("uninstall does not publish")),
    };
    const removed = await new Installer({ pluginDir: path.resolve(dir), catalog: offline }).uninstall(name);
    if (values.json) console.log(JSON.stringify(removed));
    else console.log(`uninstalled ${removed.name}@${removed.version} from ${path.resolve(dir)}`);
    return 0;
  },
};

export const outdatedCommand: Command = {
  summary: "list installed plugins with newer versions in the catalog",
  usage: `plughost outdated [--catalog c] [--dir d] [--config f] [--json]
For each: the installed version, the one plughost update would install (wanted), and the newest (latest, which
may need --major).
${where}`,
  options: { ...catalogOption, dir: common.dir, config: common.config, ...jsonOption },
  async run(values) {
    const installer = await installerFrom(values, "outdated");
    const rows = await installer.outdated();
    if (values.json) console.log(JSON.stringify(rows, null, 2));
    else if (rows.length === 0) console.log(`every plugin in ${installer.pluginDir} is up to date`);
    else {
      const w = Math.max(6, ...rows.map((r) => r.name.length));
      const v = Math.max(7, ...rows.flatMap((r) => [r.current.length, r.wanted.length]));
      console.log([`${"plugin".padEnd(w)}  ${"current".padEnd(v)}  ${"wanted".padEnd(v)}  latest`, ...rows.map((r) => `${r.name.padEnd(w)}  ${r.current.padEnd(v)}  ${r.wanted.padEnd(v)}  ${r.latest}`)].join("\n"));
    }
    return 0;
  },
};
