/** plughost keygen: an Ed25519 signing key pair for plughost sign. */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { jsonOption, usageError, type Command } from "./shared.js";

export const keygenCommand: Command = {
  summary: "make an Ed25519 signing key: writes <name>.key (private) and <name>.pub, prints the key id and public key",
  usage: `plughost keygen <name> [--out dir] [--json]
<name> is the key id. Writes <dir>/<name>.key (PKCS#8 PEM, mode 0600; keep it secret) and <dir>/<name>.pub
(the public key: base64 of its 32 raw bytes). Add the public key to the host's trust list:
  "signatures": { "keys": { "<name>": "<public key>" } }`,
  options: { out: { type: "string" }, ...jsonOption },
  async run(values, positionals) {
    const name = positionals[0];
    if (!name) throw usageError("keygen needs a key name (it becomes the key id)");
    const { KEY_ID_PATTERN, generateSigningKey } = await import("../plugin/signatures.js");
    if (!KEY_ID_PATTERN.test(name)) throw usageError(`"${name}" is not a valid key id (letters, digits, . _ -; at most 64)`);
    const dir = path.resolve((values.out as string | undefined) ?? ".");
    const keyFile = path.join(dir, `${name}.key`);
    const pubFile = path.join(dir, `${name}.pub`);
    for (const f of [keyFile, pubFile]) if (existsSync(f)) throw usageError(`${f} exists; choose another name or move it away`);
    const { privateKeyPem, publicKey } = generateSigningKey();
    mkdirSync(dir, { recursive: true });
    writeFileSync(keyFile, privateKeyPem, { mode: 0o600, flag: "wx" });
    writeFileSync(pubFile, publicKey + "\n", { flag: "wx" });
    if (values.json) console.log(JSON.stringify({ keyId: name, publicKey, privateKeyFile: keyFile, publicKeyFile: pubFile }));
    else {
      console.log(`key id:      ${name}\npublic key:  ${publicKey}\nprivate key: ${keyFile} (keep it secret)\npublic file: ${pubFile}`);
      console.log(`trust it:    "signatures": { "keys": { ${JSON.stringify(name)}: ${JSON.stringify(publicKey)} } }`);
    }
    return 0;
  },
};
