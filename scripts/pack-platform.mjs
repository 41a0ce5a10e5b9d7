#!/usr/bin/env node
// Packs this machine's per-platform packages, as napi-rs lays them out: npm/<part>-<platform>/ holds each
// package's package.json (os, cpu, libc, files, main) and README; this copies the parts built by
// `node scripts/setup.mjs` (native/…) into a staging copy of it and runs `npm pack` there.
//
//   node scripts/pack-platform.mjs --out <dir> [--part wasmtime] [--part native] [--json]
//
// The platform id (linux-x64-gnu, …) is the one the loaders resolve (src/engines/native/shared.ts), so this
// needs dist/ (`npx tsc -p tsconfig.json`). A platform without an npm/ template has no prebuilt package: the
// script says so and which platforms have one.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** What each part's package carries: [source in the repository, name in the package]. */
export const PARTS = {
  wasmtime: {
    setupStep: "wasmtime",
    files: [["native/wasmtime/plughost-wasmtime.node", "plughost-wasmtime.node"]],
  },
  native: {
    setupStep: "native",
    files: [
      ["native/c-adapter/build/Release/plughost_native.node", "plughost_native.node"],
      // The raw-BPF build: it needs nothing beyond glibc, where the libseccomp build needs libseccomp.so.2.
      ["native/sandbox-helper/build/plughost-sandbox-helper-bpf", "plughost-sandbox-helper"],
    ],
  },
};

class PackError extends Error {}

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
  if (r.status !== 0) throw new PackError(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Symbols and debug info are not needed to load a node-api addon or run the helper; stripping saves ~6 MB on wasmtime. */
function strip(file) {
  const r = spawnSync("strip", ["--strip-unneeded", file], { encoding: "utf8" });
  return r.status === 0;
}

async function platformId() {
  const shared = path.join(root, "dist", "engines", "native", "shared.js");
  if (!existsSync(shared)) throw new PackError(`${shared} is missing: run \`npx tsc -p tsconfig.json\` first`);
  const { currentPlatform } = await import(pathToFileURL(shared).href);
  return currentPlatform();
}

/**
 * Packs the chosen parts for this machine's platform into `out`; returns one record per tarball.
 * @param {{ out: string, parts?: (keyof typeof PARTS)[] }} options
 */
export async function packPlatform({ out, parts = /** @type {(keyof typeof PARTS)[]} */ (Object.keys(PARTS)) }) {
  const platform = await platformId();
  const version = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).version;
  const templates = readdirSync(path.join(root, "npm"));
  mkdirSync(out, { recursive: true });
  const results = [];
  for (const part of parts) {
    const spec = PARTS[part];
    if (!spec) throw new PackError(`unknown part "${part}" (parts: ${Object.keys(PARTS).join(", ")})`);
    const dirName = `${part}-${platform.id}`;
    const template = path.join(root, "npm", dirName);
    if (!existsSync(path.join(template, "package.json"))) {
      const have = templates.filter((t) => t.startsWith(`${part}-`)).map((t) => t.slice(part.length + 1));
      throw new PackError(
        `no prebuilt package for ${platform.os} ${platform.cpu}${platform.libc ? ` ${platform.libc}` : ""}: npm/${dirName}/ does not exist ` +
          `(prebuilt platforms for ${part}: ${have.join(", ") || "none"}); add a template there and to package.json's optionalDependencies`,
      );
    }
    const manifest = JSON.parse(readFileSync(path.join(template, "package.json"), "utf8"));
    if (manifest.version !== version) throw new PackError(`npm/${dirName}/package.json has version ${manifest.version}, plughost ${version}: they must match`);
    const shipped = spec.files.map(([, name]) => name);
    if (JSON.stringify([...manifest.files].sort()) !== JSON.stringify([...shipped].sort())) {
      throw new PackError(`npm/${dirName}/package.json lists files ${JSON.stringify(manifest.files)}, this script ships ${JSON.stringify(shipped)}`);
    }
    const stage = mkdtempSync(path.join(tmpdir(), `plughost-pack-${dirName}-`));
    try {
      for (const f of readdirSync(template)) copyFileSync(path.join(template, f), path.join(stage, f));
      let stripped = true;
      for (const [from, name] of spec.files) {
        const src = path.join(root, from);
        if (!existsSync(src)) throw new PackError(`${from} has not been built: run \`node scripts/setup.mjs ${spec.setupStep}\``);
        const dest = path.join(stage, name);
        copyFileSync(src, dest);
        stripped = strip(dest) && stripped;
        chmodSync(dest, 0o755); // npm keeps the mode in the tarball: the helper must stay executable once installed
      }
      const packed = JSON.parse(run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", out], stage))[0];
      results.push({
        name: manifest.name,
        version,
        platform: platform.id,
        tarball: path.join(out, packed.filename),
        size: packed.size,
        unpackedSize: packed.unpackedSize,
        integrity: packed.integrity,
        stripped,
      });
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }
  return results;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const value = (flag) => args.flatMap((a, i) => (a === flag && args[i + 1] ? [args[i + 1]] : []));
  const out = value("--out")[0];
  if (!out || args.includes("--help")) {
    console.error("usage: node scripts/pack-platform.mjs --out <dir> [--part wasmtime] [--part native] [--json]");
    process.exit(out ? 0 : 2);
  }
  try {
    const parts = value("--part");
    const results = await packPlatform({ out: path.resolve(out), parts: parts.length ? parts : undefined });
    if (args.includes("--json")) console.log(JSON.stringify(results, null, 2));
    else for (const r of results) console.log(`${r.tarball}  ${r.size} bytes (unpacked ${r.unpackedSize})`);
  } catch (err) {
    if (!(err instanceof PackError)) throw err;
    console.error(`pack-platform: ${err.message}`);
    process.exit(1);
  }
}
