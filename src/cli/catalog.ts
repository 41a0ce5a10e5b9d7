/**
 * plughost publish, search and versions: the catalog commands that do not touch a plugin directory. The catalog is
 * `--catalog <dir|oci://host/prefix|https://…>`, else `PLUGHOST_CATALOG`; registry credentials come from
 * `PLUGHOST_CATALOG_USERNAME`/`PLUGHOST_CATALOG_PASSWORD` or `PLUGHOST_CATALOG_TOKEN` (never from the command line,
 * where other users could read them).
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import { catalogCredentialsFromEnv } from "../catalog/oci.js";
import type { Catalog, CatalogCredentials, CatalogEntry } from "../catalog/types.js";
import { jsonOption, usageError, type Command } from "./shared.js";

/** The `--catalog` option, shared by the catalog and install commands. */
export const catalogOption = { catalog: { type: "string" as const, description: "catalog directory or registry URL" } };

/** Registry credentials from the environment, if any are set (the OCI catalog's own rule). */
export function catalogCredentials(env: NodeJS.ProcessEnv = process.env): CatalogCredentials | undefined {
  return catalogCredentialsFromEnv(env);
}

/** The catalog a command names: `--catalog`, else `PLUGHOST_CATALOG`; a usage error when neither is given. */
export async function catalogFrom(values: Record<string, unknown>, command: string): Promise<Catalog> {
  const location = (values.catalog as string | undefined) ?? process.env.PLUGHOST_CATALOG;
  if (!location) throw usageError(`${command} needs --catalog <dir|oci://host[:port]/prefix> (or PLUGHOST_CATALOG in the environment)`);
  const { openCatalog } = await import("../catalog/index.js");
  const credentials = catalogCredentials();
  return openCatalog(location, credentials ? { credentials } : {});
}

/** `plughost publish`. */
export const publishCommand: Command = {
  summary: "publish a plugin package (or pack and publish a plugin directory) to a catalog",
  usage: `plughost publish <package.plughost|plugin dir> --catalog <dir|oci://host[:port]/prefix> [--key k] [--key-id id] [--json]
A plugin directory is packed first (as plughost pack does). With --key, the package is signed with that Ed25519
key (a directory's plugin is signed too); the key id defaults to the key file's name without .key. Publishing
the same bytes again is a no-op; other bytes under a published version are refused (bump the version).
Registry credentials: PLUGHOST_CATALOG_USERNAME and PLUGHOST_CATALOG_PASSWORD, or PLUGHOST_CATALOG_TOKEN.`,
  options: { ...catalogOption, key: { type: "string" }, "key-id": { type: "string" }, ...jsonOption },
  async run(values, positionals) {
    const target = positionals[0];
    if (!target) throw usageError("publish needs a package file or a plugin directory");
    const catalog = await catalogFrom(values, "publish");
    const keyFile = values.key as string | undefined;
    const pkgApi = await import("../package/index.js");
    let signing: { key: import("node:crypto").KeyObject; keyId: string } | undefined;
    if (keyFile) {
      const { readPrivateKey } = await import("../plugin/signatures.js");
      const keyId = (values["key-id"] as string | undefined) ?? path.basename(keyFile).replace(/\.(key|pem)$/, "");
      signing = { key: await readPrivateKey(path.resolve(keyFile)), keyId };
    } else if (values["key-id"]) throw usageError("--key-id needs --key");
    const resolved = path.resolve(target);
    const isDir = await stat(resolved).then((s) => s.isDirectory(), () => false);
    let pkg = isDir ? await pkgApi.packPlugin(resolved, signing ?? {}) : await pkgApi.readPackageFile(resolved);
    if (!isDir && signing) pkg = pkgApi.signPackage(pkg, signing.key, signing.keyId);
    const entry = await catalog.publish(pkg);
    if (values.json) console.log(JSON.stringify({ catalog: catalog.location, ...entry, key: pkg.signature?.key }));
    else {
      const signed = pkg.signature ? `signed with key "${pkg.signature.key}"` : "unsigned";
      console.log(`published ${entry.name}@${entry.version} to ${catalog.location} (${entry.digest}, ${signed})`);
    }
    return 0;
  },
};

/** One line per entry: name, version, description, then categories and keywords. */
export function formatEntries(entries: readonly CatalogEntry[]): string {
  const nameWidth = Math.min(32, Math.max(4, ...entries.map((e) => e.name.length)));
  const versionWidth = Math.min(20, Math.max(7, ...entries.map((e) => e.version.length)));
  return entries
    .map((e) => {
      const tags = [
        e.categories.length ? `[${e.categories.join(", ")}]` : "",
        e.keywords.length ? `#${e.keywords.join(" #")}` : "",
        e.license ?? "",
      ].filter(Boolean);
      return `${e.name.padEnd(nameWidth)}  ${e.version.padEnd(versionWidth)}  ${e.description ?? ""}${tags.length ? `  ${tags.join("  ")}` : ""}`.trimEnd();
    })
    .join("\n");
}

/** `plughost search`. */
export const searchCommand: Command = {
  summary: "search a catalog: plugins whose name, description or keywords match, newest version of each",
  usage: `plughost search [text] --catalog <dir|oci://host[:port]/prefix> [--category c] [--tag keyword] [--json]
Matches text case-insensitively in the name, description and keywords; --category and --tag must match exactly.
Without any, lists every plugin. Shows each plugin's newest version (a release over a newer prerelease).`,
  options: { ...catalogOption, category: { type: "string" }, tag: { type: "string" }, ...jsonOption },
  async run(values, positionals) {
    if (positionals.length > 1) throw usageError(`search takes one text (quote it): got ${positionals.length}`);
    const catalog = await catalogFrom(values, "search");
    const text = positionals[0];
    const category = values.category as string | undefined;
    const tag = values.tag as string | undefined;
    const found = await catalog.search({ ...(text ? { text } : {}), ...(category ? { category } : {}), ...(tag ? { tag } : {}) });
    if (values.json) console.log(JSON.stringify(found, null, 2));
    else if (found.length === 0) console.log(`no plugin in ${catalog.location} matches`);
    else console.log(formatEntries(found));
    return 0;
  },
};

/** `plughost versions`. */
export const versionsCommand: Command = {
  summary: "list every published version of a plugin in a catalog, oldest first",
  usage: `plughost versions <name> --catalog <dir|oci://host[:port]/prefix> [--json]
Each version with its digest (what a lockfile pins) and whether it is signed.`,
  options: { ...catalogOption, ...jsonOption },
  async run(values, positionals) {
    const name = positionals[0];
    if (!name) throw usageError("versions needs a plugin name");
    const catalog = await catalogFrom(values, "versions");
    const list = await catalog.versions(name);
    if (values.json) console.log(JSON.stringify(list, null, 2));
    else {
      const width = Math.max(7, ...list.map((e) => e.version.length));
      for (const e of list) console.log(`${e.version.padEnd(width)}  ${e.digest}  ${e.signed ? "signed" : "unsigned"}`);
    }
    return 0;
  },
};
