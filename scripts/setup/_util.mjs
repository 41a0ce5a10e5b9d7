// Helpers shared by the set-up steps.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync, mkdirSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Run a command, inheriting stderr; throw with its output on failure. */
export function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout ?? ""}${r.stderr ?? ""}`);
  }
  return r.stdout ?? "";
}

/** Hash of the contents of files and directories (recursively), for rebuild stamps. */
export function hashInputs(paths) {
  const h = createHash("sha256");
  const walk = (p) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) {
        if (["node_modules", "target", "out", "build", ".cache"].includes(e)) continue;
        walk(path.join(p, e));
      }
    } else {
      // Build outputs (git-ignored) are never inputs: hashing them would make every build stale the next run.
      if (/\.(wasm|so|o)$/.test(p)) return;
      h.update(path.relative(root, p));
      h.update(readFileSync(p));
    }
  };
  for (const p of paths) walk(path.resolve(root, p));
  return h.digest("hex");
}

/**
 * Run `build` unless the stamp in `stampFile` matches the inputs' hash and all
 * `outputs` exist. Returns true when it built.
 */
export async function buildIfChanged(stampFile, inputs, outputs, build) {
  const stampPath = path.resolve(root, stampFile);
  const digest = hashInputs(inputs);
  const fresh =
    existsSync(stampPath) &&
    readFileSync(stampPath, "utf8") === digest &&
    outputs.every((o) => existsSync(path.resolve(root, o)));
  if (fresh) return false;
  await build();
  mkdirSync(path.dirname(stampPath), { recursive: true });
  writeFileSync(stampPath, digest);
  return true;
}
