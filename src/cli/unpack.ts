/** plughost unpack: verify a package file and write its plugin files into a new directory. */
import path from "node:path";
import { jsonOption, readHostConfigFile, usageError, type Command } from "./shared.js";

export const unpackCommand: Command = {
  summary: "verify a .plughost package and write its plugin files into a new or empty directory",
  usage: `plughost unpack <file.plughost> <dir> [--require-signature] [--config file] [--json]
Checks every file against the package's sha256 list, and the signature against the host config's trust list
(signatures; --config or plughost.config.json/.toml here) before writing anything. --require-signature refuses an
unsigned package (so does the trust list's require).`,
  options: { "require-signature": { type: "boolean" }, config: { type: "string" }, ...jsonOption },
  async run(values, positionals) {
    const [file, dir] = positionals;
    if (!file || !dir) throw usageError("unpack needs a package file and a target directory");
    const { readPackageFile, verifyPackage, extractPackage } = await import("../package/index.js");
    const { compileTrustList } = await import("../plugin/signatures.js");
    const config = await readHostConfigFile(values.config as string | undefined);
    const trust = config?.signatures ? compileTrustList(config.signatures) : undefined;
    const pkg = await readPackageFile(path.resolve(file));
    const v = verifyPackage(pkg, trust, { file, ...(values["require-signature"] ? { requireSignature: true } : {}) });
    const target = path.resolve(dir);
    await extractPackage(pkg, target);
    const m = pkg.metadata;
    if (values.json) console.log(JSON.stringify({ dir: target, name: m.name, version: m.version, digest: pkg.digest, files: m.files.map((f) => f.path), ...v }));
    else {
      const how = v.signed ? `signature verified (key "${v.key}", ${v.level})` : pkg.signature ? `signed with key "${pkg.signature.key}", not verified: no trust list` : "unsigned";
      console.log(`unpacked ${m.name}@${m.version} (${m.files.length} files, ${how}) into ${target}`);
    }
    return 0;
  },
};
