/** plughost build: a plugin directory into a component, with its language's guest SDK build script. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { ToolchainMissing } from "../contract/errors.js";
import { MANIFEST_FILES } from "../plugin/manifest.js";
import { jsonOption, packageRoot, usageError, type Command } from "./shared.js";

/** The guest languages `plughost build` knows. */
export type GuestLanguage = "c" | "js" | "rust" | "go";

/** What a guest SDK build script exports: one function that builds a plugin directory into `<dir>/plugin.wasm`. */
type BuildFn = (dir: string) => Promise<Uint8Array | { bytes: Uint8Array }>;

const BUILDERS: Record<GuestLanguage, { script: string; fn: string }> = {
  c: { script: "guest-sdks/c/build.mjs", fn: "buildCPlugin" },
  js: { script: "guest-sdks/js/build.mjs", fn: "buildJsPlugin" },
  rust: { script: "guest-sdks/rust/build.mjs", fn: "buildRustPlugin" },
  go: { script: "guest-sdks/go/build.mjs", fn: "buildGoPlugin" },
};

/**
 * Where builds cache what they fetch and compile: $PLUGHOST_BUILD_CACHE, else .cache in a source checkout,
 * else $XDG_CACHE_HOME/plughost/build (default ~/.cache/plughost/build). Never inside node_modules.
 */
export async function buildCacheDir(): Promise<string> {
  const mod = (await import(pathToFileURL(path.join(packageRoot, "guest-sdks", "component.mjs")).href)) as { buildCacheDir: () => string };
  return mod.buildCacheDir();
}

/** The language of a plugin directory, from the files in it (undefined when it cannot tell). */
export function detectLanguage(dir: string): GuestLanguage | undefined {
  const files = readdirSync(dir);
  if (files.some((f) => f.endsWith(".c"))) return "c";
  if (files.includes("Cargo.toml")) return "rust";
  if (files.includes("go.mod")) return "go";
  if (files.some((f) => /\.(m?js|ts)$/.test(f) && !/(^|\.)test\.m?[jt]s$/.test(f))) return "js";
  return undefined;
}

/**
 * Build the plugin in `dir` with its language's guest SDK, writing `<dir>/plugin.wasm`;
 * returns the component's size. A missing toolchain is `ToolchainMissing` (code
 * E_TOOLCHAIN_MISSING), whose message ends with the command that installs it.
 */
export async function buildPlugin(dir: string, language: GuestLanguage = detectLanguage(dir) ?? "c"): Promise<number> {
  const { script, fn } = BUILDERS[language];
  const mod = (await import(pathToFileURL(path.join(packageRoot, script)).href)) as Record<string, BuildFn>;
  try {
    const r = await mod[fn]!(dir);
    return r instanceof Uint8Array ? r.length : r.bytes.length;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (err instanceof Error && code === "E_TOOLCHAIN_MISSING") throw new ToolchainMissing(err.message, { cause: err });
    throw err;
  }
}

/** The interfaces a component imports besides plughost's own (what its manifest's capabilities must cover). */
async function wasiImports(file: string): Promise<string[]> {
  const { componentWit } = await import("../../vendor/jco/index.js");
  const wit = await componentWit(new Uint8Array(readFileSync(file)));
  return [...wit.matchAll(/^\s*import ([a-z0-9-]+:[a-z0-9-/]+(?:@[0-9.a-z-]+)?);/gm)].map((m) => m[1]!).filter((i) => !i.startsWith("plughost:"));
}

export const buildCommand: Command = {
  summary: "build a plugin directory into a component (detects the language)",
  usage: `plughost build [dir] [--json]   (default: the current directory, which must hold a plugin.toml or plugin.json)
C needs Debian's clang-16, lld-16 and wasi-libc; JS needs the optional peer packages
@bytecodealliance/componentize-js and typescript; Go needs Go 1.24+; Rust fetches Debian's
rustc-web into the build cache ($PLUGHOST_BUILD_CACHE, else $XDG_CACHE_HOME/plughost/build,
else ~/.cache/plughost/build). A missing toolchain is E_TOOLCHAIN_MISSING with the install command.`,
  options: { ...jsonOption },
  async run(values, positionals) {
    const dir = path.resolve(positionals[0] ?? ".");
    if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw usageError(`${dir} is not a directory; build takes a plugin directory`);
    const files = readdirSync(dir);
    if (!positionals[0] && !MANIFEST_FILES.some((f) => files.includes(f))) {
      throw usageError(`${dir} is not a plugin directory (no ${MANIFEST_FILES.join(" or ")}); run plughost build <dir>, or plughost new <lang> <name> to start one`);
    }
    const language = detectLanguage(dir);
    if (!language) throw usageError(`cannot tell the language of ${dir}: expected .c files, Cargo.toml, go.mod or .js/.ts sources`);
    const t0 = performance.now();
    const size = await buildPlugin(dir, language);
    const seconds = +((performance.now() - t0) / 1000).toFixed(1);
    const out = path.join(dir, "plugin.wasm");
    const imports = await wasiImports(out);
    console.log(
      values.json
        ? JSON.stringify({ built: out, language, bytes: size, seconds, imports })
        : `${path.relative(process.cwd(), out) || out}: ${size} bytes (${language}, ${seconds} s); imports ${imports.length ? imports.join(", ") : "no WASI"}`,
    );
    return 0;
  },
};
