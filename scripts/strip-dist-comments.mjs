#!/usr/bin/env node
// Run by `prepack` (and so by every `npm pack`, the tests' included): re-emits dist/**/*.js without comments, so the published tarball stays within its size goal
// (the comments are a third of the JavaScript). The .d.ts files keep their JSDoc: that is where users read the API.
// The code is re-emitted by TypeScript's own printer at the same target, so it is the same program; a stripped file's
// source map is dropped with its comment (maps are not published, and `npm run build` writes both again).
import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "dist");
const options = { removeComments: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, sourceMap: false };
let before = 0;
let after = 0;
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith(".js")) {
      const text = readFileSync(p, "utf8");
      const out = ts.transpileModule(text, { compilerOptions: options, fileName: p }).outputText;
      before += text.length;
      after += out.length;
      if (out !== text) {
        // Temp file and rename: a process importing dist/ meanwhile reads the old file or the new one, never half.
        writeFileSync(`${p}.strip-tmp`, out);
        renameSync(`${p}.strip-tmp`, p);
      }
      if (existsSync(`${p}.map`)) rmSync(`${p}.map`);
    }
  }
};
walk(dist);
console.error(`[prepack] dist JavaScript without comments: ${before} → ${after} bytes`);
