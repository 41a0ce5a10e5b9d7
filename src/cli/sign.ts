/** plughost sign: write plugin.sig next to a plugin's manifest. */
import path from "node:path";
import { jsonOption, usageError, type Command } from "./shared.js";

export const signCommand: Command = {
  summary: "sign a plugin with an Ed25519 key: writes plugin.sig next to its manifest",
  usage: `plughost sign <plugin dir|manifest> --key <private key file> [--key-id id] [--json]
Signs the plugin's name, version and the sha256 of its manifest and entry files. The key id defaults to the
key file's name without .key (as plughost keygen names it). Re-sign after any change to either file.`,
  options: { key: { type: "string" }, "key-id": { type: "string" }, ...jsonOption },
  async run(values, positionals) {
    const target = positionals[0];
    if (!target) throw usageError("sign needs a plugin directory or manifest");
    const keyFile = values.key as string | undefined;
    if (!keyFile) throw usageError("sign needs --key <private key file> (make one with plughost keygen <name>)");
    const { readPrivateKey, signPlugin } = await import("../plugin/signatures.js");
    const keyId = (values["key-id"] as string | undefined) ?? path.basename(keyFile).replace(/\.(key|pem)$/, "");
    const { file, signature } = await signPlugin(path.resolve(target), await readPrivateKey(path.resolve(keyFile)), keyId);
    if (values.json) console.log(JSON.stringify({ file, ...signature }));
    else console.log(`signed ${signature.name}@${signature.version} with key "${keyId}": ${file}`);
    return 0;
  },
};
