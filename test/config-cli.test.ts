// `plughost run --watch-config`: a change of the host config file reaches the running plugin, printed as a JSON line.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterEach, expect, it } from "vitest";

const root = path.resolve(".");
const cli = path.join(root, "dist/cli/index.js");
let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("plughost run --watch-config applies a changed config section, refuses an invalid one, and stops on SIGINT", async () => {
  dir = mkdtempSync(path.join(tmpdir(), "plughost-cli-config-"));
  const file = path.join(dir, "plughost.config.json");
  writeFileSync(file, JSON.stringify({ cacheDir: path.join(dir, "cache"), dataDir: path.join(dir, "data"), config: { "config-echo": { greeting: "one" } } }));
  const child = spawn(process.execPath, [cli, "run", path.join(root, "test/fixtures/c/config-echo"), "--config", file, "--watch-config", "--json"], {
    env: { ...process.env, PLUGHOST_LOG_LEVEL: "silent" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const records: Record<string, unknown>[] = [];
  const waiters: { test: (r: Record<string, unknown>) => boolean; resolve: (r: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    const r = JSON.parse(line) as Record<string, unknown>;
    records.push(r);
    for (const w of waiters.splice(0)) (w.test(r) ? w.resolve(r) : waiters.push(w));
  });
  const next = (test: (r: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const found = records.find(test);
      if (found) return resolve(found);
      waiters.push({ test, resolve });
      setTimeout(() => reject(new Error(`no such line in ${JSON.stringify(records)}`)), 20_000).unref();
    });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    await next((r) => r.watchingConfig === file);
    writeFileSync(file, JSON.stringify({ cacheDir: path.join(dir, "cache"), dataDir: path.join(dir, "data"), config: { "config-echo": { retries: -5 } } }));
    expect(await next((r) => r.configRefused === "config-echo")).toMatchObject({ error: "E_CONFIG_INVALID" });
    writeFileSync(file, JSON.stringify({ cacheDir: path.join(dir, "cache"), dataDir: path.join(dir, "data"), config: { "config-echo": { greeting: "two" } } }));
    expect(await next((r) => r.configChanged === "config-echo")).toEqual({ configChanged: "config-echo", delivered: "reload", changed: ["/greeting"] });
  } finally {
    child.kill("SIGINT");
  }
  expect(await exited).toBe(0);
}, 60_000);
