#!/usr/bin/env node
/**
 * Generates the API reference of the package root (src/index.ts) as markdown
 * into docs/api/, from the types and their doc comments. The output is
 * checked in; test/api-docs.test.ts fails when it is stale or when an export
 * has no doc comment.
 *
 * The output depends only on the sources: no source links (they would carry
 * a git revision), no generator line, no date, no absolute path.
 *
 *   node scripts/gen-api.mjs          write docs/api/   (npm run docs:api)
 *   node scripts/gen-api.mjs <dir>    write into <dir> instead
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Application, Logger, LogLevel, TSConfigReader } from "typedoc";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const API_DOCS_DIR = "docs/api";
export const ENTRY_POINT = "src/index.ts";

/** Keeps warnings and errors for the caller instead of printing them. */
class CollectingLogger extends Logger {
  /** @type {string[]} */
  messages = [];
  log(message, level) {
    if (level >= LogLevel.Warn) this.messages.push(message);
  }
}

/**
 * Writes the markdown reference into `outDir` (emptied first).
 * Returns the converted project, the exports without a doc comment and
 * typedoc's warnings; throws when typedoc reports an error (an entry point
 * it cannot read, a bad option).
 * @param {string} outDir
 * @returns {Promise<{ project: import("typedoc").ProjectReflection, undocumented: string[], warnings: string[] }>}
 */
export async function generateApi(outDir) {
  const logger = new CollectingLogger();
  // Only the tsconfig is read: options on the command line or in a typedoc.json must not change the output.
  const app = await Application.bootstrapWithPlugins(
    {
      name: "plughost",
      entryPoints: [path.join(root, ENTRY_POINT)],
      tsconfig: path.join(root, "tsconfig.json"),
      plugin: ["typedoc-plugin-markdown"],
      out: outDir,
      readme: "none",
      disableSources: true,
      disableGit: true,
      sourceLinkTemplate: "",
      hideGenerator: true,
      excludePrivate: true,
      excludeInternal: true,
      // Members inherited from Node's EventEmitter and Error are Node's to document.
      excludeExternals: true,
      useCodeBlocks: true,
      parametersFormat: "table",
      interfacePropertiesFormat: "table",
      classPropertiesFormat: "table",
      typeDeclarationFormat: "table",
      enumMembersFormat: "table",
      hidePageHeader: true,
      logLevel: "Warn",
      // Type errors are tsc's to report (npm run typecheck); the reference needs only the declarations.
      skipErrorChecking: true,
    },
    [new TSConfigReader()],
  );
  app.logger = logger;
  const project = await app.convert();
  if (!project || logger.errorCount > 0) {
    throw new Error(`the API reference could not be generated:\n${logger.messages.join("\n")}`);
  }
  // Warns about types the API uses but the package root does not export, and links that lead nowhere.
  app.validate(project);
  await app.generateOutputs(project);
  if (logger.errorCount > 0) throw new Error(`writing the API reference failed:\n${logger.messages.join("\n")}`);
  return { project, undocumented: undocumentedExports(project), warnings: logger.messages };
}

/** The text of a doc comment, or "" when there is none. */
function commentText(comment) {
  if (!comment) return "";
  const parts = [...comment.summary, ...comment.blockTags.flatMap((t) => t.content)];
  return parts.map((p) => p.text).join("").trim();
}

/**
 * Names of the package root's exports that have no doc comment. A function's
 * comment sits on its signatures, a class's or a type's on the declaration.
 */
export function undocumentedExports(project) {
  const out = [];
  for (const r of project.children ?? []) {
    const texts = [commentText(r.comment), ...(r.signatures ?? []).map((s) => commentText(s.comment))];
    if (!texts.some((t) => t.length > 0)) out.push(r.name);
  }
  return out.sort();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = path.resolve(process.argv[2] ?? path.join(root, API_DOCS_DIR));
  const { undocumented, warnings } = await generateApi(out);
  for (const w of warnings) console.warn(`warning: ${w}`);
  if (undocumented.length > 0) console.warn(`exports without a doc comment: ${undocumented.join(", ")}`);
  console.log(`API reference written to ${path.relative(process.cwd(), out) || "."}`);
}
