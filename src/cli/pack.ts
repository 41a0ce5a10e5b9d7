/** plughost pack: write a plugin directory as one package file; and the package view of plughost inspect. */
import { randomBytes } from "node:crypto";
import { rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { catalogueMetadataOf, formatCatalogueMetadata } from "../plugin/metadata.js";
import { jsonOption, readHostConfigFile, usageError, type Command } from "./shared.js";

export const packCommand: Command = {
  summary: "pack a plugin directory into one .plughost package file (deterministic; optionally signed)",
  usage: `plughost pack <plugin dir|manifest> [--out file|dir] [--key private key file] [--key-id id] [--json]
Writes <name>-<version>.plughost (in the working directory, or --out): the manifest, the entry, declared assets
(config schema file, interfaces' WIT) and plugin.sig, with metadata listing every file's sha256. The same input gives
the same bytes (created: SOURCE_DATE_EPOCH, else the newest file's mtime). With --key, the plugin (plugin.sig, inside
the package only) and the package (package.sig) are signed; the key id defaults to the key file's name without .key.`,
  options: { out: { type: "string" }, key: { type: "string" }, "key-id": { type: "string" }, ...jsonOption },
  async run(values, positionals) {
    const target = positionals[0];
    if (!target) throw usageError("pack needs a plugin directory or manifest");
    const keyFile = values.key as string | undefined;
    if (values["key-id"] !== undefined && !keyFile) throw usageError("--key-id needs --key <private key file>");
    const { packPlugin, writePackage } = await import("../package/index.js");
    const { readPrivateKey } = await import("../plugin/signatures.js");
    const signing = keyFile
      ? { key: await readPrivateKey(path.resolve(keyFile)), keyId: (values["key-id"] as string | undefined) ?? path.basename(keyFile).replace(/\.(key|pem)$/, "") }
      : {};
    const pkg = await packPlugin(path.resolve(target), signing);
    const name = `${pkg.metadata.name}-${pkg.metadata.version}.plughost`;
    const out = values.out as string | undefined;
    let file = path.resolve(out ?? name);
    if (out !== undefined && (out.endsWith("/") || (await stat(file).then((s) => s.isDirectory(), () => false)))) file = path.join(file, name);
    // Through a temp file and rename: a reader (a catalog, a loader) never sees half a package.
    const temp = `${file}.tmp-${randomBytes(6).toString("hex")}`;
    try {
      await writeFile(temp, writePackage(pkg), { flag: "wx" });
      await rename(temp, file);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    const summary = { file, name: pkg.metadata.name, version: pkg.metadata.version, digest: pkg.digest, files: pkg.metadata.files.length, size: pkg.metadata.size, signed: pkg.signature !== undefined, ...(pkg.signature ? { key: pkg.signature.key } : {}) };
    if (values.json) console.log(JSON.stringify(summary));
    else {
      const how = pkg.signature ? `signed with key "${pkg.signature.key}"` : "unsigned";
      console.log(`packed ${summary.name}@${summary.version} (${summary.files} files, ${summary.size} bytes, ${how}): ${file}\ndigest: ${pkg.digest}`);
    }
    return 0;
  },
};

/**
 * `plughost inspect <file.plughost>`: the package's metadata, files and signature, and whether the signature verifies
 * against the host config's trust list (when there is one). The package is read strictly: a damaged one is an error.
 */
export async function inspectPackage(file: string, json: boolean, configFile?: string): Promise<number> {
  const { readPackageFile, verifyPackage } = await import("../package/index.js");
  const { compileTrustList } = await import("../plugin/signatures.js");
  const pkg = await readPackageFile(file);
  const m = pkg.metadata;
  const config = await readHostConfigFile(configFile);
  let verification: { verified: boolean; key?: string; level?: string; problem?: string } | undefined;
  if (pkg.signature) {
    if (config?.signatures) {
      try {
        const v = verifyPackage(pkg, compileTrustList(config.signatures), { file });
        verification = { verified: v.signed, ...(v.key ? { key: v.key } : {}), ...(v.level ? { level: v.level } : {}) };
      } catch (err) {
        verification = { verified: false, key: pkg.signature.key, problem: (err as Error).message };
      }
    } else verification = { verified: false, key: pkg.signature.key, problem: "no trust list (host config signatures) to verify it with" };
  }
  const report = {
    file,
    digest: pkg.digest,
    name: m.name,
    version: m.version,
    kind: m.kind,
    ...(m.platform ? { platform: m.platform } : {}),
    ...catalogueMetadataOf(m),
    manifest: m.manifest,
    entry: m.entry,
    dependencies: m.dependencies,
    created: m.created,
    build: m.build,
    size: m.size,
    files: m.files,
    signature: pkg.signature ? { key: pkg.signature.key, ...verification } : null,
  };
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  console.log(`${file}: package ${m.name}@${m.version} (${m.kind}${m.platform ? `, ${m.platform}` : ""})`);
  console.log(`digest: ${pkg.digest}`);
  for (const line of formatCatalogueMetadata(catalogueMetadataOf(m))) console.log(line);
  console.log(`manifest: ${m.manifest}\nentry: ${m.entry}`);
  if (m.dependencies.length) console.log(`dependencies: ${m.dependencies.map((d) => `${d.name} ${d.version}${d.optional ? " (optional)" : ""}${d.peer ? " (peer)" : ""}`).join(", ")}`);
  console.log(`created: ${m.created}\nbuilt by: plughost ${m.build.plughost}`);
  if (!pkg.signature) console.log("signature: none (unsigned package)");
  else if (verification?.verified) console.log(`signature: key "${verification.key}", verified (level ${verification.level})`);
  else console.log(`signature: key "${pkg.signature.key}", NOT verified: ${verification?.problem}`);
  console.log(`files (${m.files.length}, ${m.size} bytes):`);
  for (const f of m.files) console.log(`  ${f.path}  ${f.size} B  ${f.sha256}`);
  return 0;
}
