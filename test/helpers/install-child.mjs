// An install in its own process, for the SIGKILL tests: prints each installer phase on stdout as it is reached and,
// when told to, stops at one (forever) so the parent can kill it right there.
// usage: node install-child.mjs <pluginDir> <catalogDir> <spec> <trust list JSON> [<phase to stop at>]
import { Installer } from "../../dist/catalog/install.js";
import { DirectoryCatalog } from "../../dist/catalog/directory.js";

const [pluginDir, catalogDir, spec, policy, stopAt] = process.argv.slice(2);
const installer = new Installer({
  pluginDir,
  catalog: new DirectoryCatalog(catalogDir),
  signatures: JSON.parse(policy),
  onProgress: async (e) => {
    process.stdout.write(`${e.stage}${e.plugin ? ` ${e.plugin}@${e.version}` : ""}\n`);
    if (e.stage === stopAt) await new Promise(() => setInterval(() => undefined, 60_000));
  },
});
await installer.install(spec);
process.stdout.write("done\n");
