// The template's own test: build the plugin, load it, check it answers `ping`.
import { PluginRegistry } from "plughost";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import path from "node:path";

const dir = path.dirname(fileURLToPath(import.meta.url));
const registry = new PluginRegistry();
const plugin = await registry.load(dir);
assert.equal(await plugin.invoke("ping", new Uint8Array(5)), 5);
await registry.unloadAll();
console.log("1 passed, 0 failed");
