// The catalog example (docs/catalog.md): a publisher packs and signs hello-c in two versions and publishes them to a
// directory catalog (the embedded default: no server); a host installs from it into its plugin directory, verified
// against its trust list, loads what it installed under `signatures.require`, updates within the compatible range,
// and refuses a package whose bytes were changed in the catalog. Everything lives in a temporary directory.
import { Installer, PluginRegistry, generateSigningKey, openCatalog, packPlugin } from "plughost";
import { createPrivateKey } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const hello = path.join(here, "..", "c", "hello");
const work = mkdtempSync(path.join(tmpdir(), "plughost-catalog-example-"));
const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);

try {
  // 1. The publisher: a signing key, and hello-c as version `version` packed and signed with it.
  const { privateKeyPem, publicKey } = generateSigningKey();
  const key = createPrivateKey(privateKeyPem);
  const catalog = openCatalog(path.join(work, "catalog"));
  const publish = async (version) => {
    const dir = path.join(work, "src", version);
    cpSync(hello, dir, { recursive: true });
    const manifest = path.join(dir, "plugin.toml");
    writeFileSync(manifest, readFileSync(manifest, "utf8").replace(/^version = ".*"$/m, `version = "${version}"`));
    const entry = await catalog.publish(await packPlugin(dir, { key, keyId: "acme" }));
    console.log(`published ${entry.name}@${entry.version} (${entry.digest.slice(0, 19)}…, signed: ${entry.signed})`);
  };
  await publish("0.1.0");

  // 2. The host: its trust list, and an installer for its plugin directory.
  const signatures = { require: true, keys: { acme: publicKey } };
  const pluginDir = path.join(work, "plugins");
  const installer = new Installer({ pluginDir, catalog, signatures });
  const found = await catalog.search({ text: "hello" });
  console.log(`search "hello": ${found.map((e) => `${e.name}@${e.version} [${e.categories.join(", ")}] ${e.description}`).join("; ")}`);
  const installed = await installer.install("hello-c@^0.1.0");
  console.log(`installed: ${installed.installed.map((p) => `${p.name}@${p.version} (key ${p.key})`).join(", ")}`);

  // 3. Load what was installed, as `plughost run` would from its pluginDirs, with signatures required.
  const run = async () => {
    const registry = new PluginRegistry({ pluginDirs: [pluginDir], signatures, logLevel: "silent" });
    await registry.discoverPluginDirs();
    const handle = await registry.loadByName("hello-c");
    const out = await registry.hook("hello-c", "greet", enc("catalog"));
    console.log(`  hello-c@${handle.version} answers greet: ${JSON.stringify(dec(out.data))}`);
    await registry.unloadAll();
  };
  await run();

  // 4. A compatible release: `update` takes it (0.x: the same minor), the lockfile pins its digest.
  await publish("0.1.1");
  const updated = await installer.update();
  console.log(`updated: ${updated.installed.map((p) => `${p.name}@${p.version}`).join(", ")}`);
  await run();
  const lock = JSON.parse(readFileSync(path.join(pluginDir, "plughost.lock.json"), "utf8"));
  console.log(`lockfile: hello-c@${lock.plugins["hello-c"].version} ${lock.plugins["hello-c"].digest.slice(0, 19)}…`);

  // 5. A package changed in the catalog after publishing: refused before anything is written to the plugin dir.
  await publish("0.2.0");
  const stored = path.join(work, "catalog", "hello-c", "hello-c-0.2.0.plughost");
  const bytes = readFileSync(stored);
  bytes[bytes.length - 2048] ^= 1;
  writeFileSync(stored, bytes);
  try {
    await installer.update("hello-c", { major: true });
    console.log("tampered package installed: this must not happen");
    process.exitCode = 1;
  } catch (err) {
    console.log(`update --major refused: ${err.code} ${err.reason ?? ""}: ${err.message.split("\n")[0]}`);
  }
  const still = JSON.parse(readFileSync(path.join(pluginDir, "plughost.lock.json"), "utf8"));
  console.log(`still installed: hello-c@${still.plugins["hello-c"].version}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
