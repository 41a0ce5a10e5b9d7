#!/usr/bin/env node
/**
 * The plughost command line: run, inspect, validate, new, conformance, keygen, sign, build.
 * Every command has --help; data output has --json.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { pino, destination } from "pino";
import { capabilityNeeded } from "../plugin/capability-imports.js";
import { CapabilityDenied, InvalidPluginBinary, MissingImportError, PlughostError } from "../contract/errors.js";
import { HOST_CONFIG_FILES, loadHostConfig, registryOptionsFrom } from "../runtime/host-config.js";
import { HotReloader } from "../runtime/hot-reload.js";
import { loadManifest, MANIFEST_FILES, type Manifest } from "../plugin/manifest.js";
import { PluginRegistry, type PluginHandle, type RegistryOptions } from "../runtime/registry.js";
import { checkApiVersion, resolveLoadOrder } from "../plugin/resolve.js";
import { MAX_ENTRY_BYTES, readRegularFile } from "../plugin/safe-read.js";
import { HOST_WIT_VERSION } from "../contract/version.js";

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  run(values: Record<string, string | boolean | string[] | undefined>, positionals: string[]): Promise<number>;
}

const jsonOption = { json: { type: "boolean" as const, description: "machine-readable output" } };

const commands: Record<string, Command> = {
  run: {
    summary: "load plugins, dispatch events, print the results, tear down",
    usage: `plughost run <dir|manifest>... [--event name[=data]]... [--hook name[=data]]... [--grant cap]... [--config file] [--watch] [--strict] [--json]
  A plugin that fails to load is reported and the others run (exit status 1); --strict stops at the first one.
  --watch keeps running after the events, reloading a plugin when its manifest or entry file changes (until SIGINT/SIGTERM).
  Events come from --event/--hook, or (when none are given and stdin is not a TTY) from JSON lines on stdin:
    {"event": "greet", "data": "world"}   or   {"hook": "transform", "data": "abc"}`,
    options: {
      event: { type: "string", multiple: true },
      hook: { type: "string", multiple: true },
      grant: { type: "string", multiple: true },
      config: { type: "string" },
      engine: { type: "string" },
      watch: { type: "boolean" },
      strict: { type: "boolean" },
      ...jsonOption,
    },
    async run(values, positionals) {
      const options = await readHostConfig(values.config as string | undefined);
      if (positionals.length === 0 && !options.pluginDirs?.length) throw usageError("run needs at least one plugin directory or manifest (or pluginDirs in the host config)");
      const extra = (values.grant as string[] | undefined) ?? [];
      const base = options.grants ?? [];
      const grants = Array.isArray(base) ? [...(base as string[]), ...extra] : { ...base, "*": [...((base as Record<string, readonly string[]>)["*"] ?? []), ...extra] };
      const registry = new PluginRegistry({
        // Plugin logs go to stderr, so stdout carries only results.
        logger: pino({ name: "plughost", level: process.env.PLUGHOST_LOG_LEVEL ?? options.logLevel ?? "info" }, destination(2)),
        ...options,
        grants,
        ...(values.engine ? { engine: values.engine as "v8" | "wasmtime" } : {}),
      });
      const out: unknown[] = [];
      const print = (record: Record<string, unknown>, text: string) => (values.json ? console.log(JSON.stringify(record)) : console.log(text));
      let failures = 0;
      let reloader: HotReloader | undefined;
      try {
        // pluginDirs: every plugin found there when none is named; a name that is not a path is looked up there.
        const found = options.pluginDirs?.length ? await registry.discoverPluginDirs() : [];
        const inDirs = (p: string) => (existsSync(p) ? undefined : found.find((i) => i.name === p)?.manifestPath);
        const targets = positionals.length ? positionals.map((p) => inDirs(p) ?? path.resolve(p)) : found.map((i) => i.manifestPath);
        let handles: PluginHandle[];
        if (values.strict) handles = await registry.loadAll(targets);
        else {
          // One plugin that fails to load is reported; the others still run.
          handles = [];
          const failed = (target: string, err: unknown) => {
            failures++;
            const code = err instanceof PlughostError ? err.code : "E_LOAD_FAILED";
            const message = `${err instanceof Error ? err.message : String(err)}${grantHint(err)}`;
            if (values.json) console.log(JSON.stringify({ loadFailed: target, error: code, message }));
            else console.error(`failed to load ${target}: ${code} ${message}`);
          };
          const manifests: Manifest[] = [];
          for (const t of targets) {
            try {
              manifests.push(await loadManifest(t, { configSchema: "defer" }));
            } catch (err) {
              failed(t, err);
            }
          }
          let ordered: Manifest[];
          try {
            ordered = resolveLoadOrder(manifests);
          } catch {
            ordered = manifests; // each load reports its own unresolved dependency
          }
          for (const m of ordered) {
            try {
              handles.push(await registry.load(m.file));
            } catch (err) {
              failed(m.file, err);
            }
          }
        }
        for (const h of handles) print({ loaded: h.name, version: h.version, callbacks: h.callbacks }, `loaded ${h.name}@${h.version} [${h.callbacks.join(", ")}]`);
        if (values.watch) {
          reloader = new HotReloader(registry);
          reloader.on("reloaded", (e) => print({ reloaded: e.plugin, from: e.from, to: e.to }, `reloaded ${e.plugin} ${e.from} -> ${e.to}`));
          reloader.on("reload-failed", (e) =>
            print({ reloadFailed: e.plugin, error: e.error.code, message: e.error.message }, `reload of ${e.plugin} failed (kept the running version): ${e.error.code} ${e.error.message}`),
          );
          await reloader.watch(handles.map((h) => path.dirname(h.manifest.file)));
          print({ watching: handles.map((h) => h.name) }, `watching ${handles.map((h) => h.name).join(", ")} (Ctrl-C to stop)`);
        }
        const requests: { kind: "event" | "hook"; name: string; data: Uint8Array }[] = [];
        for (const e of (values.event as string[] | undefined) ?? []) requests.push({ kind: "event", ...splitEvent(e) });
        for (const e of (values.hook as string[] | undefined) ?? []) requests.push({ kind: "hook", ...splitEvent(e) });
        const handle = async (r: (typeof requests)[number]) => {
          if (r.kind === "event") {
            for (const res of await registry.dispatch(r.name, r.data)) {
              if (res.error) failures++;
              print(
                { event: r.name, plugin: res.plugin, ...(res.error ? { error: res.error.code, message: res.error.message } : { status: res.status }) },
                `${r.name} -> ${res.plugin}: ${res.error ? `${res.error.code} ${res.error.message}` : `status ${res.status}`}`,
              );
            }
          } else {
            const res = await registry.runHook(r.name, r.data);
            if (!res.ok || res.errors.length) failures++;
            print(
              { hook: r.name, ok: res.ok, data: dec.decode(res.data), status: res.status, stoppedBy: res.stoppedBy, errors: res.errors.map((e) => e.error.code) },
              `${r.name} => ${res.ok ? JSON.stringify(dec.decode(res.data)) : `err ${res.status} from ${res.stoppedBy}`}`,
            );
          }
        };
        for (const r of requests) await handle(r);
        if (requests.length === 0 && !process.stdin.isTTY) {
          for await (const line of createInterface({ input: process.stdin })) {
            if (!line.trim()) continue;
            const msg = JSON.parse(line) as { event?: string; hook?: string; data?: string };
            const kind = msg.hook ? "hook" : "event";
            await handle({ kind, name: (msg.hook ?? msg.event)!, data: enc.encode(msg.data ?? "") });
          }
        }
        if (reloader) await new Promise<void>((resolve) => process.once("SIGINT", resolve).once("SIGTERM", resolve));
      } finally {
        await reloader?.close();
        await registry.unloadAll().catch((err: unknown) => {
          failures++;
          console.error(describe(err));
        });
      }
      void out;
      return failures ? 1 : 0;
    },
  },

  inspect: {
    summary: "show a component's world, imports, exports, needed capabilities and sizes",
    usage: "plughost inspect <component.wasm|manifest|dir> [--json]",
    options: { ...jsonOption },
    async run(values, positionals) {
      const target = positionals[0];
      if (!target) throw usageError("inspect needs a component, manifest or plugin directory");
      let wasmPath = path.resolve(target);
      let manifestInfo: Record<string, unknown> | undefined;
      if (!target.endsWith(".wasm")) {
        const m = await loadManifest(wasmPath);
        wasmPath = m.entryPath;
        manifestInfo = { name: m.name, version: m.version, apiVersion: m.apiVersion, capabilities: m.capabilities, hooks: m.hooks };
      }
      const bytes = await readRegularFile(wasmPath, { maxBytes: MAX_ENTRY_BYTES, what: "the component" }).catch((err: unknown) => {
        throw new InvalidPluginBinary(wasmPath, err instanceof Error ? err.message : String(err));
      });
      const { checkComponentHeader, compileComponent } = await import("../engines/v8/compile.js");
      checkComponentHeader(bytes, wasmPath, manifestInfo?.name as string ?? path.basename(wasmPath));
      const { componentWit } = await import("@bytecodealliance/jco-transpile/wasm-tools");
      const wit = await componentWit(bytes);
      const compiled = await compileComponent(bytes, { file: wasmPath, plugin: String(manifestInfo?.name ?? "inspect") });
      const coreSizes = Object.fromEntries([...compiled.coreBytes].map(([k, v]) => [k, v.length]));
      const needs = [...new Set(compiled.imports.map(capabilityNeeded).filter((c): c is string => c !== undefined))];
      const report = { file: wasmPath, size: bytes.length, imports: compiled.imports, exports: compiled.exports, capabilitiesNeeded: needs, coreModules: coreSizes, manifest: manifestInfo, wit };
      if (values.json) console.log(JSON.stringify(report, null, 2));
      else {
        console.log(`${wasmPath} (${bytes.length} bytes)`);
        console.log(`exports: ${compiled.exports.join(", ")}`);
        console.log(`imports: ${compiled.imports.join(", ")}`);
        console.log(`capabilities needed: ${needs.join(", ") || "(none)"}`);
        console.log(`core modules: ${Object.entries(coreSizes).map(([k, v]) => `${k} ${v} B`).join(", ")}`);
        if (manifestInfo) console.log(`manifest: ${JSON.stringify(manifestInfo)}`);
        console.log(`\n${wit}`);
      }
      return 0;
    },
  },

  validate: {
    summary: "validate a manifest (plugin.toml / plugin.json) against its entry",
    usage: `plughost validate <manifest|dir> [--json]
  Checks the manifest, that its entry exists and is a component of the plughost world (or a native library with
  the C ABI), that this host satisfies its api-version, and that its declared capabilities cover its imports.`,
    options: { ...jsonOption },
    async run(values, positionals) {
      const target = positionals[0];
      if (!target) throw usageError("validate needs a manifest or plugin directory");
      try {
        const m = await loadManifest(path.resolve(target));
        const problems = await entryProblems(m);
        if (problems.length) {
          if (values.json) console.log(JSON.stringify({ valid: false, plugin: m.name, code: problems[0]!.code, message: problems[0]!.message, problems }, null, 2));
          else for (const p of problems) console.error(`${m.file}: ${p.code} ${p.message}`);
          return 1;
        }
        if (values.json) console.log(JSON.stringify({ valid: true, manifest: m }, null, 2));
        else console.log(`${m.file}: valid (${m.name}@${m.version}, ${m.kind}, api ${m.apiVersion})`);
        return 0;
      } catch (err) {
        if (values.json && err instanceof PlughostError) {
          const problems = (err as { problems?: unknown }).problems;
          console.log(JSON.stringify({ valid: false, code: err.code, message: err.message, problems }, null, 2));
          return 1;
        }
        throw err;
      }
    },
  },

  new: {
    summary: "scaffold a plugin from a template (c, js, rust, go)",
    usage: "plughost new <c|js|rust|go> <name> [--dir path]",
    options: { dir: { type: "string" } },
    async run(values, positionals) {
      const [lang, name] = positionals;
      if (!lang || !name) throw usageError("new needs a language and a name");
      if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name)) throw usageError(`"${name}" is not a valid plugin name (lowercase letters, digits, . _ -)`);
      const template = path.join(packageRoot, "templates", lang);
      if (!existsSync(template)) throw usageError(`no template for "${lang}"; available: ${readdirSync(path.join(packageRoot, "templates")).join(", ")}`);
      const dest = path.resolve((values.dir as string | undefined) ?? name);
      if (existsSync(dest) && readdirSync(dest).length) throw usageError(`${dest} exists and is not empty`);
      // Nothing absolute is written: test.mjs and tsconfig.json name the package ("plughost"), and the
      // Rust crate / Go module are found by a path relative to the plugin (into node_modules/plughost
      // when the plugin lives in a project that installs plughost).
      const sdk = path.relative(dest, path.join(packageRoot, "guest-sdks", lang)).split(path.sep).join("/");
      copyTemplate(template, dest, { name, version: packageVersion(), sdk });
      const rel = path.relative(process.cwd(), dest) || ".";
      console.log(`created ${dest}\nnext: plughost build ${rel} && node ${path.join(rel, "test.mjs")}`);
      if (!/^(\.\.\/)*node_modules\/plughost\//.test(sdk)) {
        console.log(`note: test.mjs imports "plughost"; install it where the plugin can resolve it (npm install --save-dev plughost)`);
      }
      return 0;
    },
  },

  conformance: {
    summary: "run the conformance suite: each language's conformance plugin through every case",
    usage: `plughost conformance [--engine v8|wasmtime] [--json] [--case name]... [plugin-dir]...
  Default plugins: examples/{c,js,rust,go}/conformance (guest-sdks/CONFORMANCE.md). Prints a
  language × case matrix; exits 1 when any case fails (a plugin that is not built fails every case).`,
    options: { engine: { type: "string" }, case: { type: "string", multiple: true }, ...jsonOption },
    async run(values, positionals) {
      const conformance = await import("../conformance/index.js");
      const engine = (values.engine as string | undefined) ?? "v8";
      if (engine !== "v8" && engine !== "wasmtime") throw usageError(`--engine must be v8 or wasmtime, not "${engine}"`);
      const known: readonly string[] = conformance.CONFORMANCE_CASES;
      const cases = (values.case as string[] | undefined) ?? [];
      const unknown = cases.filter((c) => !known.includes(c));
      if (unknown.length) throw usageError(`unknown case ${unknown.join(", ")}; the cases are ${known.join(", ")}`);
      const targets = positionals.length
        ? await Promise.all(positionals.map((p) => conformance.conformanceTargetFor(p)))
        : conformance.defaultConformanceTargets();
      const report = await conformance.runConformance({
        engine,
        targets,
        ...(cases.length ? { cases: cases as typeof conformance.CONFORMANCE_CASES[number][] } : {}),
        // Progress on a terminal only: stdout carries just the result.
        onResult: process.stderr.isTTY ? (r) => process.stderr.write(`${r.language} / ${r.case}: ${r.ok ? "pass" : "FAIL"} (${r.ms} ms)\n`) : undefined,
      });
      console.log(values.json ? JSON.stringify(report, null, 2) : conformance.formatConformanceReport(report));
      return report.ok ? 0 : 1;
    },
  },

  keygen: {
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
  },

  sign: {
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
  },

  build: {
    summary: "build a plugin directory into a component (detects the language)",
    usage: "plughost build [dir]   (default: the current directory, which must hold a plugin.toml or plugin.json)",
    options: {},
    async run(_values, positionals) {
      const dir = path.resolve(positionals[0] ?? ".");
      if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw usageError(`${dir} is not a directory; build takes a plugin directory`);
      const files = readdirSync(dir);
      if (!positionals[0] && !MANIFEST_FILES.some((f) => files.includes(f))) {
        throw usageError(`${dir} is not a plugin directory (no ${MANIFEST_FILES.join(" or ")}); run plughost build <dir>, or plughost new <lang> <name> to start one`);
      }
      const script = files.some((f) => f.endsWith(".c"))
        ? "guest-sdks/c/build.mjs"
        : files.includes("Cargo.toml")
          ? "guest-sdks/rust/build.mjs"
          : files.includes("go.mod")
            ? "guest-sdks/go/build.mjs"
            : files.some((f) => /\.(m?js|ts)$/.test(f))
              ? "guest-sdks/js/build.mjs"
              : undefined;
      if (!script) throw usageError(`cannot tell the language of ${dir}: expected .c files, Cargo.toml, go.mod or .js/.ts sources`);
      const { spawnSync } = await import("node:child_process");
      const r = spawnSync(process.execPath, [path.join(packageRoot, script), dir], { stdio: "inherit" });
      return r.status ?? 1;
    },
  },
};

function copyTemplate(from: string, to: string, vars: Record<string, string>): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from)) {
    const src = path.join(from, entry);
    const dst = path.join(to, entry.replace(/\{\{(\w+)\}\}/g, (_, k: string) => vars[k] ?? _));
    if (statSync(src).isDirectory()) copyTemplate(src, dst, vars);
    else writeFileSync(dst, readFileSync(src, "utf8").replace(/\{\{(\w+)\}\}/g, (m, k: string) => vars[k] ?? m));
  }
}

function splitEvent(spec: string): { name: string; data: Uint8Array } {
  const i = spec.indexOf("=");
  return i < 0 ? { name: spec, data: new Uint8Array(0) } : { name: spec.slice(0, i), data: enc.encode(spec.slice(i + 1)) };
}

/** plughost.config.{json,toml} (given, or found in the working directory) as registry options. */
async function readHostConfig(file: string | undefined): Promise<RegistryOptions> {
  const candidate = file ?? HOST_CONFIG_FILES.find((f) => existsSync(f));
  if (!candidate) return {};
  return registryOptionsFrom(await loadHostConfig(path.resolve(candidate)));
}

/** How to grant what a capability error names, through this command line and the host config file. */
function grantHint(err: unknown): string {
  let caps: string[] = [];
  if (err instanceof CapabilityDenied) caps = [err.capability];
  else if (err instanceof MissingImportError) caps = [...new Set(err.imports.map(capabilityNeeded).filter((c): c is string => c !== undefined))];
  if (!caps.length) return "";
  const flags = caps.map((c) => `--grant ${JSON.stringify(c)}`).join(" ");
  const declare = err instanceof MissingImportError ? ` (the plugin must also declare ${caps.length === 1 ? "it" : "them"} in its manifest's capabilities)` : "";
  return `; to grant ${caps.length === 1 ? "it" : "them"}: plughost run ... ${flags}, or "grants": ${JSON.stringify(caps)} in ${HOST_CONFIG_FILES[0]} (--config file)${declare}`;
}

/**
 * What keeps a manifest's entry from loading on this host, found without running it:
 * the host's API version, the binary's form and world, and imports the declared capabilities do not cover.
 */
async function entryProblems(m: Manifest): Promise<{ code: string; message: string }[]> {
  const problems: { code: string; message: string }[] = [];
  const add = (err: unknown) => problems.push({ code: err instanceof PlughostError ? err.code : "E_INVALID_BINARY", message: err instanceof Error ? err.message : String(err) });
  try {
    checkApiVersion(m);
  } catch (err) {
    add(err);
  }
  let bytes: Uint8Array;
  try {
    // As the registry reads it: a regular file inside the plugin, under the entry size cap.
    bytes = await readRegularFile(m.entryPath, { maxBytes: MAX_ENTRY_BYTES, within: m.dir, what: "the entry file" });
  } catch (err) {
    problems.push({ code: "E_INVALID_BINARY", message: `${m.entryPath}: ${err instanceof Error ? err.message : String(err)}` });
    return problems;
  }
  if (m.kind === "native") {
    const problem = nativeLibraryProblem(bytes);
    if (problem) problems.push({ code: "E_INVALID_BINARY", message: `${m.entryPath}: ${problem}` });
    return problems;
  }
  try {
    const { compileComponent } = await import("../engines/v8/compile.js");
    const compiled = await compileComponent(bytes, { file: m.entryPath, plugin: m.name });
    const { missingGrant } = await import("../plugin/capability-imports.js");
    for (const iface of compiled.imports) {
      if (iface.startsWith("plughost:plugin/")) continue;
      const grant = missingGrant(iface, m.capabilities, { inert: true });
      if (grant !== undefined) {
        problems.push({
          code: "E_MISSING_IMPORT",
          message: `imports ${iface}, which its capabilities [${m.capabilities.join(", ")}] do not cover: declare ${grant} in the manifest (or rebuild without that interface)`,
        });
      }
    }
  } catch (err) {
    add(err);
  }
  return problems;
}

/** Why `bytes` is not a native plugin library with the C ABI (plughost.h), or undefined. */
function nativeLibraryProblem(bytes: Uint8Array): string | undefined {
  const head = [...bytes.subarray(0, 4)];
  const elf = head.join() === "127,69,76,70";
  const macho = [
    [0xcf, 0xfa, 0xed, 0xfe],
    [0xce, 0xfa, 0xed, 0xfe],
    [0xca, 0xfe, 0xba, 0xbe],
  ].some((m) => m.join() === head.join());
  if (!elf && !macho && !(head[0] === 0x4d && head[1] === 0x5a)) return "is not a shared library (no ELF, Mach-O or PE header)";
  // The exported names sit in the dynamic string table; a library without them cannot be a plugin.
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
  const missing = ["plugin_init", "plugin_teardown"].filter((sym) => !new RegExp(`(^|\\0)_?${sym}\\0`).test(text));
  return missing.length ? `does not export ${missing.join(" and ")} (the C ABI of plughost.h)` : undefined;
}

class UsageError extends Error {}
const usageError = (m: string) => new UsageError(m);

function describe(err: unknown): string {
  if (err instanceof PlughostError) return `error ${err.code}: ${err.message}`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}

function help(): string {
  const lines = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`);
  return `plughost ${packageVersion()} (plugin API ${HOST_WIT_VERSION}): a WebAssembly component plugin runtime\n\nusage: plughost <command> [options]\n       plughost --version\n\ncommands:\n${lines.join("\n")}\n\nRun plughost <command> --help for a command's options. Manifests: ${MANIFEST_FILES.join(", ")}.`;
}

/** The installed package's version (package.json next to dist/). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const json = argv.includes("--json");
  if (name === "--version" || name === "-v" || name === "version") {
    const version = packageVersion();
    console.log(json ? JSON.stringify({ version, apiVersion: HOST_WIT_VERSION }) : `plughost ${version} (plugin API ${HOST_WIT_VERSION})`);
    return 0;
  }
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(help());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    if (json) console.log(JSON.stringify({ error: "E_USAGE", message: `unknown command "${name}"`, commands: Object.keys(commands) }));
    else console.error(`unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`${command.summary}\n\nusage: ${command.usage}`);
    return 0;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
    return await command.run(values as Record<string, string | boolean | string[] | undefined>, positionals);
  } catch (err) {
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true;
    if (json) {
      // Machine-readable callers get the error on stdout, like the results.
      const plugin = err instanceof PlughostError ? err.plugin : undefined;
      const code = err instanceof PlughostError ? err.code : usage ? "E_USAGE" : "E_FAILED";
      const message = `${err instanceof Error ? err.message : String(err)}${grantHint(err)}`;
      console.log(JSON.stringify({ error: code, message, ...(plugin ? { plugin } : {}), ...(usage ? { usage: command.usage } : {}) }));
    } else {
      console.error(`${describe(err)}${grantHint(err)}`);
      if (usage) console.error(`usage: ${command.usage}`);
    }
    return usage ? 2 : 1;
  }
}

/** True when this module is the program: run directly, or through npm's bin symlink (npx, a global install). */
function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(path.resolve(script)) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
