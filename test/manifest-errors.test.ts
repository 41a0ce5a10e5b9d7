import { describe, expect, it } from "vitest";
import { ManifestError, type ManifestProblem } from "../src/contract/errors.js";
import { parseManifest } from "../src/plugin/manifest.js";

const BASE = {
  name: "demo",
  version: "1.0.0",
  "api-version": "^0.1",
  entry: "demo.wasm",
};

/** The base manifest with `patch` applied (undefined deletes a key), as JSON text. */
function json(patch: Record<string, unknown> = {}): string {
  const doc: Record<string, unknown> = { ...BASE };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete doc[k];
    else doc[k] = v;
  }
  return JSON.stringify(doc);
}

const BASE_TOML = `name = "demo"\nversion = "1.0.0"\napi-version = "^0.1"\nentry = "demo.wasm"\n`;

function problemsOf(text: string, file: string): ManifestProblem[] {
  try {
    parseManifest(text, file, { checkEntry: false });
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    const e = err as ManifestError;
    expect(e.code).toBe("E_MANIFEST_INVALID");
    expect(e.file).toBe(file);
    return [...e.problems];
  }
  throw new Error("expected a ManifestError, but the manifest was accepted");
}

interface Case {
  title: string;
  text: string;
  file?: string;
  pointer: string;
  message: RegExp;
}

const cases: Case[] = [
  { title: "missing name", text: json({ name: undefined }), pointer: "/name", message: /^is required but missing; add "name": "my-plugin"$/ },
  { title: "uppercase name", text: json({ name: "My-Plugin" }), pointer: "/name", message: /^must be a lowercase name of 1-64 characters.*got "My-Plugin"$/ },
  { title: "name longer than 64", text: json({ name: "a".repeat(65) }), pointer: "/name", message: /lowercase name of 1-64 characters/ },
  { title: "name starting with a dash", text: json({ name: "-x" }), pointer: "/name", message: /starts with a letter or digit.*got "-x"/ },
  { title: "two-part version", text: json({ version: "1.2" }), pointer: "/version", message: /^must be a semver version like 1\.2\.3, got "1\.2"$/ },
  { title: "numeric version in TOML", text: BASE_TOML.replace('version = "1.0.0"', "version = 1.0"), file: "/p/plugin.toml", pointer: "/version", message: /^must be a semver version like 1\.2\.3, got 1$/ },
  { title: "api-version that is not a range", text: json({ "api-version": "banana" }), pointer: "/api-version", message: /^must be a semver range like "\^0\.1\.0", got "banana"$/ },
  { title: "empty api-version", text: json({ "api-version": "" }), pointer: "/api-version", message: /semver range/ },
  { title: "missing entry (TOML hint)", text: BASE_TOML.replace('entry = "demo.wasm"\n', ""), file: "/p/plugin.toml", pointer: "/entry", message: /^is required but missing; add entry = "plugin\.wasm"$/ },
  { title: "absolute entry", text: json({ entry: "/opt/demo.wasm" }), pointer: "/entry", message: /relative to the manifest's directory.*got "\/opt\/demo\.wasm"/ },
  { title: "component entry that is not .wasm", text: json({ entry: "demo.so" }), pointer: "/entry", message: /ending in \.wasm \(kind = "component"; set kind = "native" for a \.so\)/ },
  { title: "native entry that is not a library", text: json({ kind: "native", entry: "demo.wasm" }), pointer: "/entry", message: /ending in \.so, \.dylib or \.dll/ },
  { title: "unknown kind", text: json({ kind: "wasm" }), pointer: "/kind", message: /^must be one of "component", "native", got "wasm"$/ },
  { title: "trust on a component", text: json({ trust: "trusted" }), pointer: "/trust", message: /applies only to native plugins; remove it/ },
  { title: "engine on a native plugin", text: json({ kind: "native", entry: "libdemo.so", engine: "v8" }), pointer: "/engine", message: /applies only to component plugins; remove it/ },
  { title: "isolation on a native plugin", text: json({ kind: "native", entry: "libdemo.so", isolation: "worker" }), pointer: "/isolation", message: /applies only to component plugins/ },
  { title: "unknown engine", text: json({ engine: "spidermonkey" }), pointer: "/engine", message: /^must be one of "v8", "wasmtime", got "spidermonkey"$/ },
  { title: "unknown trust level", text: json({ kind: "native", entry: "libdemo.so", trust: "maybe" }), pointer: "/trust", message: /must be one of "trusted", "untrusted"/ },
  { title: "unknown capability kind", text: json({ capabilities: ["clock", "network"] }), pointer: "/capabilities/1", message: /^unknown capability kind "network"; expected one of fs:read:<dir>/ },
  { title: "fs capability without a dir", text: json({ capabilities: ["fs:read:"] }), pointer: "/capabilities/0", message: /^fs:read needs a directory, like "fs:read:\.\/data"/ },
  { title: "fs capability with bad access", text: json({ capabilities: ["fs:exec:/bin"] }), pointer: "/capabilities/0", message: /fs:read:<dir> or fs:write:<dir>, got access "exec"/ },
  { title: "net capability without a port", text: json({ capabilities: ["net:outbound:example.com"] }), pointer: "/capabilities/0", message: /net:outbound needs <host>:<port>/ },
  { title: "net capability with a port out of range", text: json({ capabilities: ["net:outbound:example.com:70000"] }), pointer: "/capabilities/0", message: /port must be 1-65535 or "\*", got "70000"/ },
  { title: "clock with an argument", text: json({ "optional-capabilities": ["clock:monotonic"] }), pointer: "/optional-capabilities/0", message: /"clock" takes no argument/ },
  { title: "env capability with a bad name", text: json({ capabilities: ["env:MY-VAR"] }), pointer: "/capabilities/0", message: /env needs a variable name like "env:HOME"/ },
  { title: "capability that is not a string", text: json({ capabilities: [42] }), pointer: "/capabilities/0", message: /must be a capability: fs:read:<dir>.*got 42/ },
  { title: "the same capability twice", text: json({ capabilities: ["clock", "clock"] }), pointer: "/capabilities", message: /must not list the same item twice \(items 0 and 1 are equal\)/ },
  { title: "a capability both required and optional", text: json({ capabilities: ["random"], "optional-capabilities": ["random"] }), pointer: "/optional-capabilities/0", message: /"random" is also listed in capabilities; a capability is either required or optional/ },
  { title: "a dependency range that is not semver", text: json({ dependencies: { logger: "banana" } }), pointer: "/dependencies/logger", message: /^must be a semver range like "\^1\.2\.0", got "banana"$/ },
  { title: "a dependency name that is not a plugin name", text: json({ dependencies: { Logger: "^1" } }), pointer: "/dependencies/Logger", message: /^must be a plugin name .*got "Logger"$/ },
  { title: "a dependency range that is a number (TOML)", text: `${BASE_TOML}[dependencies]\nlogger = 1\n`, file: "/p/plugin.toml", pointer: "/dependencies/logger", message: /^must be a semver range like "\^1\.2\.0", got 1$/ },
  { title: "a plugin depending on itself", text: json({ dependencies: { demo: "^1" } }), pointer: "/dependencies/demo", message: /a plugin cannot depend on itself/ },
  { title: "a dependency in both tables", text: json({ dependencies: { logger: "^1" }, "optional-dependencies": { logger: "^1" } }), pointer: "/optional-dependencies/logger", message: /"logger" is also listed in dependencies; keep it in one table only/ },
  { title: "an unknown priority name", text: json({ hooks: [{ event: "a" }, { event: "b", priority: "HUGE" }] }), pointer: "/hooks/1/priority", message: /^must be an integer or one of CRITICAL, HIGH, NORMAL, LOW, CLEANUP, got "HUGE"$/ },
  { title: "a fractional priority", text: json({ hooks: [{ event: "a", priority: 1.5 }] }), pointer: "/hooks/0/priority", message: /must be an integer or one of CRITICAL.*got 1\.5/ },
  { title: "a hook without an event", text: json({ hooks: [{ priority: 10 }] }), pointer: "/hooks/0/event", message: /^is required but missing$/ },
  { title: "a hook with a space in its event", text: json({ hooks: [{ event: "form validate" }] }), pointer: "/hooks/0/event", message: /must be an event name of 1-128 characters.*got "form validate"/ },
  { title: "the same hook twice", text: json({ hooks: [{ event: "a" }, { event: "a", priority: 5 }] }), pointer: "/hooks/1/event", message: /hook "a" is already declared at \/hooks\/0; declare each event once/ },
  { title: "an unknown key in a hook", text: json({ hooks: [{ event: "a", weight: 3 }] }), pointer: "/hooks/0/weight", message: /^unknown key "weight"; allowed keys are event, priority, timeout-ms, retries, async, on-error$/ },
  { title: "hooks as a table (seed 003 style)", text: json({ hooks: { "form.validate": { priority: 100 } } }), pointer: "/hooks", message: /^must be an array, got a table\/object$/ },
  { title: "a memory size with an unknown unit", text: json({ limits: { memory: "16 Mebibytes" } }), pointer: "/limits/memory", message: /must be a number of bytes \(at least 1\) or a size like "16MiB".*got "16 Mebibytes"/ },
  { title: "a memory size that is not a whole number of bytes", text: json({ limits: { memory: "0.5B" } }), pointer: "/limits/memory", message: /whole number of bytes.*got "0\.5B"/ },
  { title: "zero fuel", text: json({ limits: { fuel: 0 } }), pointer: "/limits/fuel", message: /^must be a whole number of at least 1, got 0$/ },
  { title: "a negative deadline", text: `${BASE_TOML}[limits]\ndeadline-ms = -5\n`, file: "/p/plugin.toml", pointer: "/limits/deadline-ms", message: /at least 1, got -5/ },
  { title: "a camelCase limit key", text: json({ limits: { deadlineMs: 100 } }), pointer: "/limits/deadlineMs", message: /^unknown key "deadlineMs"; did you mean "deadline-ms"\?$/ },
  { title: "a misspelt top-level key", text: json({ capabilites: ["clock"] }), pointer: "/capabilites", message: /^unknown key "capabilites"; did you mean "capabilities"\?$/ },
  { title: "a snake_case top-level key", text: BASE_TOML + "optional_capabilities = []\n", file: "/p/plugin.toml", pointer: "/optional_capabilities", message: /did you mean "optional-capabilities"\?/ },
  { title: "an unrelated unknown key", text: json({ permissions: {} }), pointer: "/permissions", message: /^unknown key "permissions"; allowed keys are \$schema, name, version/ },
  { title: "an integrity that is not sha256", text: json({ integrity: "md5-abc" }), pointer: "/integrity", message: /must be "sha256-" followed by 64 hex digits or 44 base64 characters, got "md5-abc"/ },
  { title: "a config schema that is not a JSON Schema", text: json({ config: { schema: { type: "strnig" } } }), pointer: "/config/schema", message: /^is not a valid JSON Schema: / },
  { title: "a config schema with an unsupported $schema", text: json({ config: { schema: { $schema: "http://json-schema.org/draft-04/schema#" } } }), pointer: "/config/schema", message: /\$schema "http:\/\/json-schema\.org\/draft-04\/schema#" is not supported/ },
  { title: "defaults that break the config schema", text: json({ config: { schema: { type: "object", properties: { port: { type: "integer" } } }, defaults: { port: "80" } } }), pointer: "/config/defaults/port", message: /^must be a whole number, got "80" \(the defaults must satisfy config\.schema\)$/ },
  { title: "a misspelt config key", text: json({ config: { default: {} } }), pointer: "/config/default", message: /did you mean "defaults"\?/ },
  { title: "a description that is not a string", text: json({ description: 42 }), pointer: "/description", message: /^must be a string, got 42$/ },
  { title: "a JSON array instead of an object", text: "[1, 2]", pointer: "", message: /^must be a JSON object of manifest keys, got an array$/ },
  { title: "a JSON syntax error", text: '{\n  "name": "demo",\n}', pointer: "", message: /^JSON syntax error at line 3, column 1: / },
  { title: "a TOML syntax error", text: 'name = "demo"\nentry = demo.wasm\n', file: "/p/plugin.toml", pointer: "", message: /^TOML syntax error at line 2, column \d+: / },
  { title: "an unsupported file extension", text: "name: demo", file: "/p/plugin.yaml", pointer: "", message: /unsupported manifest file type "\.yaml"; name it plugin\.toml or plugin\.json/ },
];

describe("malformed manifests", () => {
  it("has at least 20 distinct cases", () => {
    expect(new Set(cases.map((c) => c.text)).size).toBe(cases.length);
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });

  for (const c of cases) {
    it(`rejects ${c.title} at "${c.pointer}"`, () => {
      const problems = problemsOf(c.text, c.file ?? "/p/plugin.json");
      const at = problems.filter((p) => p.pointer === c.pointer);
      expect(at.map((p) => p.message), JSON.stringify(problems)).toContainEqual(expect.stringMatching(c.message));
    });
  }

  it("reports every problem at once (allErrors), each at its own pointer", () => {
    const problems = problemsOf(json({ name: "X", version: "1", kind: "wasm", limits: { fuel: -1 } }), "/p/plugin.json");
    expect(problems.map((p) => p.pointer).sort()).toEqual(["/kind", "/limits/fuel", "/name", "/version"]);
  });

  it("gives one problem per pointer for a oneOf field, not one per branch", () => {
    const problems = problemsOf(json({ hooks: [{ event: "a", priority: true }] }), "/p/plugin.json");
    expect(problems.filter((p) => p.pointer === "/hooks/0/priority")).toHaveLength(1);
  });

  it("names the plugin in the error when the name itself is valid", () => {
    expect(() => parseManifest(json({ version: "x" }), "/p/plugin.json", { checkEntry: false })).toThrow(/^\[demo\] invalid manifest \/p\/plugin\.json: \/version: /);
  });
});
