/**
 * Loading an application's WIT (docs/host-interfaces.md): from text, a `.wit` file, or a directory laid out as
 * wit-parser (and so cargo-component, wit-bindgen and jco) expects: the directory's `.wit` files form one package,
 * and `deps/` holds the packages it uses, each a `.wit` file or a directory of its own (with its own `deps/`).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { WitError } from "../contract/errors.js";
import type { WitPackage } from "./types.js";
import { parseWitFile, resolveWitFiles, resolveWitGroups, type WitFileAst } from "./wit-parser.js";

/** True when the argument is WIT text rather than a path (a path never holds a newline, `;` or `{`). */
function looksLikeSource(s: string): boolean {
  return /[\n;{]/.test(s);
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new WitError(file, 1, 1, `cannot read the file: ${(err as Error).message}`);
  }
}

/** The `.wit` files of one directory, in name order (the order wit-parser reads them). */
function witFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".wit"))
    .map((e) => path.join(dir, e.name))
    .sort();
}

/** Parses a package directory's files and, depth first, its `deps/` (each dependency once, by real path). */
function collectDir(dir: string, out: WitFileAst[][], seen: Set<string>): void {
  const files = witFiles(dir);
  if (files.length === 0) throw new WitError(dir, 1, 1, "the directory holds no .wit files");
  out.push(files.map((f) => parseWitFile(readText(f), f)));
  const deps = path.join(dir, "deps");
  let entries: string[] = [];
  try {
    if (statSync(deps).isDirectory()) entries = readdirSync(deps).sort();
  } catch {
    return; // no deps/
  }
  for (const name of entries) {
    const p = path.join(deps, name);
    const key = path.resolve(p);
    if (seen.has(key)) continue;
    seen.add(key);
    // Other files (a README, a lock file) are not packages.
    if (statSync(p).isDirectory()) collectDir(p, out, seen);
    else if (name.endsWith(".wit")) out.push([parseWitFile(readText(p), p)]);
  }
}

/**
 * Loads WIT packages from text, a `.wit` file, or a directory (its `.wit` files as one package, plus the packages of
 * its `deps/` folder). `use` and world references resolve across all of them. Throws a `WitError` naming the file,
 * line and column of the first problem.
 *
 * @param pathOrSource WIT text (anything with a newline, `;` or `{`), or a path to a `.wit` file or a directory
 * @returns the packages, the directory's (or file's) own first, then its dependencies'
 */
export function loadWit(pathOrSource: string): WitPackage[] {
  if (looksLikeSource(pathOrSource)) return resolveWitFiles([parseWitFile(pathOrSource)]);
  let stat;
  try {
    stat = statSync(pathOrSource);
  } catch (err) {
    throw new WitError(pathOrSource, 1, 1, `no such WIT file or directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); pass a .wit file, a directory of .wit files, or WIT text`);
  }
  if (stat.isFile()) return resolveWitFiles([parseWitFile(readText(pathOrSource), pathOrSource)]);
  const groups: WitFileAst[][] = [];
  collectDir(pathOrSource, groups, new Set([path.resolve(pathOrSource)]));
  // One parse set: the directory's package and its dependencies may refer to each other.
  return resolveWitGroups(groups);
}
