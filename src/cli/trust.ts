/** plughost trust: show and change the trust list file, and encrypt or decrypt it at rest (docs/signatures.md). */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { jsonOption, usageError, type Command } from "./shared.js";
import type { KeyTrustLevel, SignaturePolicy, TrustedKeyEntry } from "../plugin/signatures.js";

const USAGE = `plughost trust <action> [options]
  list                                   the keys (level, revoked), pins and requirements
  add <key id> <public key | .pub file>  trust a key [--level verified|community|local] (default verified)
  revoke <key id>                        revoke it [--date YYYY-MM-DD] (default today) [--reason text]
  require <capability pattern> <level>   only signers at that level or above may ask for it ("none" removes it)
  encrypt                                encrypt the file at rest (AES-256-GCM) [--out file]
  decrypt                                write it as plain JSON [--out file] (default: print it)
  keygen --out <key file>                a fresh 32-byte key (base64, mode 0600) for encrypt
The trust list is --file <file>, or the signatures.file of --config <host config .json or .toml>. Its key (for an encrypted
file) is --key-file <file>, the host config's signatures.keyFile, or PLUGHOST_TRUST_KEY (base64 or hex of 32
bytes). A file that does not exist yet is created by add and require (encrypted when a key is given).`;

/** The trust list file and key file the options name. */
async function target(values: Record<string, unknown>): Promise<{ file: string; keyFile?: string }> {
  const keyFile = values["key-file"] as string | undefined;
  const file = values.file as string | undefined;
  if (file) return { file: path.resolve(file), ...(keyFile ? { keyFile: path.resolve(keyFile) } : {}) };
  const config = values.config as string | undefined;
  if (!config) throw usageError("trust needs --file <trust list file> or --config <host config with signatures.file>");
  return fromHostConfig(path.resolve(config), keyFile);
}

/** signatures.file / keyFile of a host config (.json or .toml), without reading the trust list (it may not decrypt yet). */
async function fromHostConfig(config: string, keyFile: string | undefined): Promise<{ file: string; keyFile?: string }> {
  const { formatOf, parseDocument } = await import("../plugin/manifest.js");
  const format = formatOf(config);
  if (!format) throw usageError(`${config}: a host config is .json or .toml`);
  const parsed = parseDocument(readFileSync(config, "utf8"), format);
  if (parsed.problems.length > 0) throw usageError(`${config}: ${parsed.problems.map((p) => `${p.pointer || "/"}: ${p.message}`).join("; ")}`);
  const sig = (parsed.value as { signatures?: { file?: unknown; keyFile?: unknown } } | undefined)?.signatures;
  if (typeof sig?.file !== "string") throw usageError(`${config} has no signatures.file; pass --file`);
  const base = path.dirname(config);
  const k = keyFile ? path.resolve(keyFile) : typeof sig.keyFile === "string" ? path.resolve(base, sig.keyFile) : undefined;
  return { file: path.resolve(base, sig.file), ...(k ? { keyFile: k } : {}) };
}

function level(v: string | undefined, what: string): KeyTrustLevel {
  if (v === "verified" || v === "community" || v === "local") return v;
  throw usageError(`${what} must be verified, community or local, got ${JSON.stringify(v)}`);
}

function describeKey(id: string, v: string | TrustedKeyEntry): string {
  const e = typeof v === "string" ? { key: v } : v;
  const status = e.revoked ? `REVOKED ${e.revoked}${e.reason ? ` (${e.reason})` : ""}` : (e.level ?? "verified");
  return `  ${id.padEnd(20)} ${status.padEnd(10)} ${e.key}`;
}

export const trustCommand: Command = {
  summary: "the trust list: list, add and revoke keys, require levels per capability, encrypt or decrypt it at rest",
  usage: USAGE,
  options: {
    file: { type: "string" },
    config: { type: "string" },
    "key-file": { type: "string" },
    level: { type: "string" },
    date: { type: "string" },
    reason: { type: "string" },
    out: { type: "string" },
    ...jsonOption,
  },
  async run(values, positionals) {
    const [action, ...args] = positionals;
    const store = await import("../trust/store.js");
    const edit = await import("../trust/edit.js");
    const crypto = await import("../trust/crypto.js");
    if (action === "keygen") {
      const out = values.out as string | undefined;
      if (!out) throw usageError("trust keygen needs --out <key file>");
      if (existsSync(out)) throw usageError(`${out} exists; choose another file or move it away`);
      writeFileSync(out, crypto.generateTrustKey() + "\n", { mode: 0o600, flag: "wx" });
      if (values.json) console.log(JSON.stringify({ keyFile: path.resolve(out) }));
      else console.log(`wrote a trust list key to ${path.resolve(out)} (mode 0600; keep it secret, keep a copy: without it the list cannot be read)`);
      return 0;
    }
    if (!action || !["list", "add", "revoke", "require", "encrypt", "decrypt"].includes(action)) {
      throw usageError(action ? `unknown action "${action}"` : "trust needs an action");
    }
    const t = await target(values);
    const keyOptions = t.keyFile ? { keyFile: t.keyFile } : {};
    // Creating a file: encrypted when a key is at hand (an option, the config's key file, or the environment).
    const key = await store.resolveTrustKey(t.file, keyOptions);
    const creating = !existsSync(t.file) && (action === "add" || action === "require");
    const opened = creating
      ? { policy: { keys: {} } as SignaturePolicy, encrypted: key !== undefined }
      : await store.openTrustList(t.file, { ...keyOptions, allowPlain: action === "encrypt" });
    const save = async (policy: SignaturePolicy, encrypted: boolean, file = t.file): Promise<void> => {
      await store.saveTrustList(file, policy, encrypted && key ? { key } : {});
    };
    const report = (what: string, policy: SignaturePolicy): void => {
      if (values.json) console.log(JSON.stringify({ file: t.file, encrypted: opened.encrypted, action, ...policy }));
      else console.log(`${what} (${t.file}${opened.encrypted ? ", encrypted" : ""})`);
    };

    switch (action) {
      case "list": {
        const p = opened.policy;
        if (values.json) {
          console.log(JSON.stringify({ file: t.file, encrypted: opened.encrypted, ...p }));
          return 0;
        }
        console.log(`${t.file}${opened.encrypted ? " (encrypted)" : ""}; signatures ${p.require ? "required" : "not required"}`);
        console.log("keys:");
        for (const [id, v] of Object.entries(p.keys)) console.log(describeKey(id, v));
        for (const [name, ids] of Object.entries(p.pins ?? {})) console.log(`pin: ${name} -> ${ids.join(", ")}`);
        for (const [pattern, l] of Object.entries(p.requirements ?? {})) console.log(`requires: ${pattern} -> ${l} or above`);
        return 0;
      }
      case "add": {
        const [id, given] = args;
        if (!id || !given) throw usageError("trust add needs <key id> <public key | .pub file>");
        const pub = given.endsWith(".pub") || existsSync(given) ? readFileSync(given, "utf8").trim() : given;
        const next = edit.addTrustedKey(opened.policy, t.file, id, pub, level((values.level as string | undefined) ?? "verified", "--level"));
        await save(next, opened.encrypted);
        report(`trusted key "${id}" at level ${(values.level as string | undefined) ?? "verified"}`, next);
        return 0;
      }
      case "revoke": {
        const [id] = args;
        if (!id) throw usageError("trust revoke needs <key id>");
        const next = edit.revokeTrustedKey(opened.policy, t.file, id, {
          ...(values.date !== undefined ? { date: values.date as string } : {}),
          ...(values.reason !== undefined ? { reason: values.reason as string } : {}),
        });
        await save(next, opened.encrypted);
        const e = next.keys[id] as TrustedKeyEntry;
        report(`revoked key "${id}" on ${e.revoked}: plugins it signed are refused from now on`, next);
        return 0;
      }
      case "require": {
        const [pattern, l] = args;
        if (!pattern || !l) throw usageError("trust require needs <capability pattern> <verified|community|local|none>");
        const next = edit.setTrustRequirement(opened.policy, t.file, pattern, l === "none" ? undefined : level(l, "the level"));
        await save(next, opened.encrypted);
        report(l === "none" ? `removed the requirement on ${pattern}` : `plugins asking for ${pattern} need a signer at level ${l} or above`, next);
        return 0;
      }
      case "encrypt": {
        if (!key) throw usageError(`trust encrypt needs a key: --key-file <file> (make one with plughost trust keygen --out <file>) or ${crypto.TRUST_KEY_ENV}`);
        const out = values.out ? path.resolve(values.out as string) : t.file;
        await store.saveTrustList(out, opened.policy, { key });
        if (values.json) console.log(JSON.stringify({ file: out, encrypted: true }));
        else console.log(`encrypted ${out} (AES-256-GCM)`);
        return 0;
      }
      case "decrypt": {
        const out = values.out as string | undefined;
        if (out) {
          await store.saveTrustList(path.resolve(out), opened.policy);
          if (values.json) console.log(JSON.stringify({ file: path.resolve(out), encrypted: false }));
          else console.log(`wrote the plain trust list to ${path.resolve(out)} (mode 0600)`);
        } else console.log(JSON.stringify(opened.policy, null, 2));
        return 0;
      }
    }
    return 2;
  },
};
