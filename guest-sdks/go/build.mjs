#!/usr/bin/env node
// Builds a Go plugin directory into a Wasm component:
//   go build (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, a WASI reactor)
//   -> embed wit/plugin.wit -> component with the WASI preview1 reactor adapter
//   (plus stdio-adapter.wat when the plugin uses no files: see there).
// The SDK module (plughost.dev/sdk) is supplied through a temporary go.work,
// so the plugin's go.mod needs neither a version of it nor a replace.
// Usage: node guest-sdks/go/build.mjs <plugin-dir> [--out file.wasm]
import { readFileSync, writeFileSync, mkdtempSync, rmSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildCli, componentize, preview1Adapter, ToolchainMissing } from "../component.mjs";
import { resolveAppWorld } from "../app-world.mjs";

const sdk = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(sdk, "..", "..");
const MIN_MINOR = 24; // //go:wasmexport and -buildmode=c-shared for wasip1

/** The `go` to use: $GO, then PATH, then /usr/local/go/bin/go. Throws unless it is Go 1.24 or later. */
export function findGo() {
  const candidates = [process.env.GO, "go", "/usr/local/go/bin/go"].filter(Boolean);
  const seen = [];
  for (const go of candidates) {
    const r = spawnSync(go, ["env", "GOVERSION"], { encoding: "utf8" });
    if (r.status !== 0) continue;
    const v = r.stdout.trim();
    const m = /^go1\.(\d+)/.exec(v);
    if (m && Number(m[1]) >= MIN_MINOR) return go;
    seen.push(`${go}: ${v}`);
  }
  throw new ToolchainMissing(
    "Go",
    `Go 1.${MIN_MINOR} or later (found ${seen.join(", ") || "none on PATH, $GO or /usr/local/go/bin"}; Debian 12's Go 1.19 cannot target wasip1)`,
    "install Go from https://go.dev/dl/ (e.g. into /usr/local/go) or set GO=/path/to/go",
  );
}

/** go env for a wasip1 build with the SDK wired in through `gowork`. */
export function goEnv(gowork) {
  return {
    ...process.env,
    GOOS: "wasip1",
    GOARCH: "wasm",
    GOWORK: gowork,
    GOTOOLCHAIN: "local",
    GOFLAGS: [process.env.GOFLAGS, "-buildvcs=false"].filter(Boolean).join(" "),
  };
}

/** Write a go.work that uses the plugin module and the SDK; returns its path. */
export function writeGoWork(tmp, pluginDir) {
  const file = path.join(tmp, "go.work");
  writeFileSync(file, `go 1.${MIN_MINOR}\n\nuse (\n\t${JSON.stringify(path.resolve(pluginDir))}\n\t${JSON.stringify(sdk)}\n)\n`);
  return file;
}

/** Compile `dir` (a Go main package) to a core module; returns its bytes. */
export function compileGo(dir, tmp) {
  if (!existsSync(path.join(dir, "go.mod"))) throw new Error(`${dir}: no go.mod (a Go plugin is a main package in its own module)`);
  const core = path.join(tmp, "core.wasm");
  // -checklinkname=0: the SDK reaches runtime.sbrk (see internal/rt/abi_wasip1.go).
  const args = ["build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w -checklinkname=0", "-o", core, "."];
  const r = spawnSync(findGo(), args, { cwd: dir, env: goEnv(writeGoWork(tmp, dir)), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`go build failed for ${dir}:\n${r.stderr}`);
  return new Uint8Array(readFileSync(core));
}

const PREVIEW1 = "wasi_snapshot_preview1";
const STDIO_MODULE = "plughost_go_stdio";
const HOST_MODULE = "plughost:plugin/host@0.1.0";
/** The host's log, re-exported by the Go module for the stdio adapter. */
const STDIO_LOG_EXPORT = "plughost_go_log";
/** What stdio-adapter.wat implements. */
const STDIO_FUNCS = new Set(["fd_write", "poll_oneoff", "fd_prestat_get", "fd_prestat_dir_name", "fd_fdstat_get", "fd_fdstat_set_flags", "fd_close"]);
/** preview1 imports that need no file access: the runtime's own, and those of os/fmt's start-up. */
const NO_FILES = new Set([...STDIO_FUNCS, "sched_yield", "proc_exit", "args_get", "args_sizes_get", "clock_time_get", "clock_res_get", "environ_get", "environ_sizes_get", "random_get"]);

function readU32(buf, pos) {
  let result = 0, shift = 0, b;
  do {
    b = buf[pos++];
    result |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  return [result >>> 0, pos];
}

function u32(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** The sections of a module: [{ id, start, end }] (payload offsets). */
function sections(binary) {
  const out = [];
  let pos = 8;
  while (pos < binary.length) {
    const id = binary[pos];
    const [size, start] = readU32(binary, pos + 1);
    out.push({ id, pos, start, end: start + size });
    pos = start + size;
  }
  return out;
}

function replaceSection(binary, sec, payload) {
  const bytes = Uint8Array.from([sec.id, ...u32(payload.length), ...payload]);
  const out = new Uint8Array(sec.pos + bytes.length + binary.length - sec.end);
  out.set(binary.subarray(0, sec.pos));
  out.set(bytes, sec.pos);
  out.set(binary.subarray(sec.end), sec.pos + bytes.length);
  return out;
}

/**
 * Rewrite a core module's imports and exports without touching its code:
 * move the imports `rename` selects to another module name, and export the
 * imported functions `reexport` names (`module/field` -> export name) so that
 * an adapter can call them through `__main_module__`.
 */
export function rewriteImports(binary, rename, reexport = {}) {
  const enc = new TextEncoder(), dec = new TextDecoder();
  const secs = sections(binary);
  const imp = secs.find((s) => s.id === 2);
  if (!imp) return binary;
  const out = [];
  const extraExports = [];
  let funcIndex = 0;
  let [count, p] = readU32(binary, imp.start);
  out.push(...u32(count));
  const name = () => {
    const [len, q] = readU32(binary, p);
    p = q + len;
    return dec.decode(binary.subarray(q, q + len));
  };
  for (let i = 0; i < count; i++) {
    const module = name();
    const field = name();
    const descStart = p;
    const kind = binary[p++];
    if (kind === 0x00 || kind === 0x04) [, p] = readU32(binary, kind === 0x04 ? p + 1 : p);
    else if (kind === 0x01 || kind === 0x02) {
      if (kind === 0x01) p++;
      const flags = binary[p++];
      [, p] = readU32(binary, p);
      if (flags & 1) [, p] = readU32(binary, p);
    } else if (kind === 0x03) p += 2;
    else throw new Error(`unknown import kind ${kind}`);
    if (kind === 0x00) {
      const as = reexport[`${module}/${field}`];
      if (as) extraExports.push([as, funcIndex]);
      funcIndex++;
    }
    const m = enc.encode(rename(module, field) ?? module);
    const f = enc.encode(field);
    out.push(...u32(m.length), ...m, ...u32(f.length), ...f, ...binary.subarray(descStart, p));
  }
  const missing = Object.entries(reexport).filter(([, as]) => !extraExports.some(([n]) => n === as));
  if (missing.length) throw new Error(`the module does not import ${missing.map(([k]) => k).join(", ")}`);
  let result = binary;
  // Later sections first, so earlier offsets stay valid.
  const exp = secs.find((s) => s.id === 7);
  if (extraExports.length) {
    if (!exp) throw new Error("the module has no export section");
    const [n, q] = readU32(binary, exp.start);
    const entries = extraExports.flatMap(([as, idx]) => {
      const b = enc.encode(as);
      return [...u32(b.length), ...b, 0x00, ...u32(idx)];
    });
    result = replaceSection(result, exp, [...u32(n + extraExports.length), ...binary.subarray(q, exp.end), ...entries]);
  }
  return replaceSection(result, imp, out);
}

/**
 * Build the Go plugin in `dir` into a component; returns its bytes. `world` is an app world to build against
 * (`"path/app.wit#world"` or `{ wit, world }`; default: plugin.toml's `[interfaces] wit` and `world`; `false`: none):
 * the plugin's own canonical-ABI glue imports and exports the app's functions (docs/guest-go.md).
 */
export async function buildGoPlugin(dir, outFile = path.join(dir, "plugin.wasm"), world = undefined) {
  const { componentEmbed, parse } = await import("../../vendor/jco/index.js");
  const appWorld = await resolveAppWorld(path.resolve(dir), world);
  const tmp = mkdtempSync(path.join(tmpdir(), "plughost-go-"));
  try {
    let binary = compileGo(path.resolve(dir), tmp);
    const witSource = readFileSync(path.join(root, "wit", "plugin.wit"), "utf8");
    const adapters = [[PREVIEW1, preview1Adapter()]];
    const preview1 = WebAssembly.Module.imports(new WebAssembly.Module(binary)).filter((i) => i.module === PREVIEW1);
    if (preview1.every((i) => NO_FILES.has(i.name))) {
      binary = rewriteImports(binary, (m, f) => (m === PREVIEW1 && STDIO_FUNCS.has(f) ? STDIO_MODULE : undefined), {
        [`${HOST_MODULE}/log`]: STDIO_LOG_EXPORT,
      });
      const wat = readFileSync(path.join(sdk, "stdio-adapter.wat"), "utf8");
      const stdio = await componentEmbed({
        binary: await parse(wat),
        witSource: `${witSource}\nworld go-stdio-adapter {\n}\n`,
        world: "go-stdio-adapter",
      });
      adapters.push([STDIO_MODULE, stdio]);
    }
    return await componentize(binary, adapters, outFile, appWorld);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await buildCli(import.meta.url, "go", buildGoPlugin);
