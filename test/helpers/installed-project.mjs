// A fresh project that installs this repository as a user would: `npm pack`, then `npm ci --offline` from a
// lockfile that pins the tarball and plughost's production dependencies exactly as the repository's lockfile
// does, so npm needs no registry metadata, only the tarballs in its cache.
// test/cli-installed.test.ts uses them; bench/package.mjs times them.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const env = { ...process.env, npm_config_update_notifier: "false" };

function sh(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 600_000, env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** `npm pack` of the repository into `dir`; returns the tarball's path. */
export function packRepository(dir) {
  const out = sh("npm", ["pack", "--silent", "--pack-destination", dir], root);
  return path.join(dir, out.trim().split("\n").pop());
}

/** The lockfile keys of `names` and of everything they depend on, resolved the way Node does (nearest node_modules up). */
function closure(packages, names) {
  const resolve = (from, name) => {
    for (let k = from; ; ) {
      const candidate = `${k ? `${k}/` : ""}node_modules/${name}`;
      if (packages[candidate]) return candidate;
      if (!k) return undefined;
      const i = k.lastIndexOf("/node_modules/");
      k = i < 0 ? "" : k.slice(0, i);
    }
  };
  const seen = new Set();
  const queue = names.map((n) => `node_modules/${n}`);
  while (queue.length) {
    const key = queue.pop();
    if (seen.has(key) || !packages[key]) continue;
    seen.add(key);
    const e = packages[key];
    for (const d of Object.keys({ ...e.dependencies, ...e.optionalDependencies })) {
      const r = resolve(key, d);
      if (r) queue.push(r);
    }
  }
  return seen;
}

/**
 * Writes package.json and package-lock.json of a project in `dir` that depends on `tarball` (and on
 * TypeScript when `typescript` is true, for the JS template's typecheck). `extraPackages` are more
 * devDependencies of the project, at the repository lockfile's versions with all they depend on (for
 * example plughost's optional peer "@bytecodealliance/componentize-js", which JS plugin builds need).
 * `platformTarballs` are per-platform packages from scripts/pack-platform.mjs, installed as plughost's
 * optionalDependencies.
 */
export function writeProject(dir, tarball, { typescript = true, extraPackages = [], platformTarballs = [] } = {}) {
  const repoPackage = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8"));
  const dependencies = { plughost: `file:${tarball}` };
  const devDependencies = typescript ? { typescript: lock.packages["node_modules/typescript"].version } : {};
  for (const name of extraPackages) devDependencies[name] = lock.packages[`node_modules/${name}`].version;
  const extra = closure(lock.packages, extraPackages);
  const packages = { "": { name: "app", version: "1.0.0", dependencies, devDependencies } };
  for (const [key, entry] of Object.entries(lock.packages)) {
    const wanted = !(entry.dev || entry.devOptional) || (typescript && key === "node_modules/typescript") || extra.has(key);
    if (!key.startsWith("node_modules/") || !wanted) continue;
    const name = key.slice(key.lastIndexOf("node_modules/") + "node_modules/".length);
    // npm leaves `resolved` out for some registry packages; without it, it would ask the registry.
    packages[key] = { ...entry, resolved: entry.resolved ?? `https://registry.npmjs.org/${name}/-/${name.split("/").pop()}-${entry.version}.tgz` };
  }
  packages["node_modules/plughost"] = {
    version: repoPackage.version,
    resolved: `file:${tarball}`,
    integrity: `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`,
    license: repoPackage.license,
    dependencies: repoPackage.dependencies,
    ...(repoPackage.peerDependencies ? { peerDependencies: repoPackage.peerDependencies, peerDependenciesMeta: repoPackage.peerDependenciesMeta } : {}),
    ...(repoPackage.optionalDependencies ? { optionalDependencies: repoPackage.optionalDependencies } : {}),
    bin: repoPackage.bin,
    engines: repoPackage.engines,
  };
  // Per-platform packages (scripts/pack-platform.mjs) pinned as file: tarballs in place of the registry entries
  // the repository's lockfile has for plughost's optionalDependencies (npm ci --offline skips those).
  for (const platformTarball of platformTarballs) {
    const meta = JSON.parse(sh("tar", ["-xzOf", platformTarball, "package/package.json"], dir));
    packages[`node_modules/${meta.name}`] = {
      version: meta.version,
      resolved: `file:${platformTarball}`,
      integrity: `sha512-${createHash("sha512").update(readFileSync(platformTarball)).digest("base64")}`,
      cpu: meta.cpu,
      libc: meta.libc,
      license: meta.license,
      optional: true,
      os: meta.os,
      engines: meta.engines,
    };
  }
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true, type: "module", dependencies, devDependencies }, null, 2));
  writeFileSync(path.join(dir, "package-lock.json"), JSON.stringify({ name: "app", version: "1.0.0", lockfileVersion: 3, requires: true, packages }, null, 2));
}

/** `npm ci --offline` in a project written by writeProject. */
export function installOffline(dir) {
  sh("npm", ["ci", "--offline", "--no-audit", "--no-fund"], dir);
}
