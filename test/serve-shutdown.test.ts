// plughost serve as a child process: SIGTERM stops accepting, lets the in-flight request finish, unloads the plugins.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { pluginDir, root } from "./helpers/plugins.js";

const cli = path.join(root, "dist/cli/index.js");

describe("plughost serve", () => {
  it("on SIGTERM finishes an in-flight request, refuses new ones, unloads and exits 0", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "plughost-serve-"));
    const config = path.join(dir, "plughost.config.json");
    // In a worker, the plugin's long call leaves the host's thread free to take the signal mid-request.
    writeFileSync(
      config,
      JSON.stringify({
        grants: ["http:serve"],
        isolation: "worker",
        defaultLimits: { fuel: 200_000_000_000, deadlineMs: 60_000 },
        maxLimits: { fuel: 200_000_000_000, deadlineMs: 60_000 },
        cacheDir: "cache",
        serve: { port: 0, shutdownGraceMs: 30_000 },
      }),
    );
    const child = spawn(process.execPath, [cli, "serve", pluginDir("test/fixtures/c/http-echo"), "--config", config, "--json"], {
      env: { ...process.env, PLUGHOST_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const lines: Record<string, unknown>[] = [];
    const waiters: { key: string; resolve: (r: Record<string, unknown>) => void }[] = [];
    createInterface({ input: child.stdout }).on("line", (line) => {
      const record = JSON.parse(line) as Record<string, unknown>;
      lines.push(record);
      for (const w of waiters.filter((w) => w.key in record)) w.resolve(record);
    });
    const line = (key: string) => {
      const seen = lines.find((l) => key in l);
      return seen ? Promise.resolve(seen) : new Promise<Record<string, unknown>>((resolve) => waiters.push({ key, resolve }));
    };
    try {
      const url = (await line("listening")).listening as string;
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const t0 = Date.now();
      const inFlight = fetch(`${url}/plugins/http-echo/slow`).then(async (r) => ({ status: r.status, body: await r.text(), at: Date.now() - t0 }));
      await new Promise((r) => setTimeout(r, 100));
      child.kill("SIGTERM");
      await line("stopping");
      const stoppingAt = Date.now() - t0;
      // New connections are refused (or answered 503) while the in-flight request runs.
      const late = await fetch(`${url}/healthz`).then((r) => r.status, () => "refused");
      expect([503, "refused"]).toContain(late);
      const answer = await inFlight;
      expect(answer).toMatchObject({ status: 200, body: "done" });
      expect(answer.at).toBeGreaterThan(stoppingAt); // it was still running when the server began to stop
      expect(await exited).toBe(0);
      expect(lines.at(-1)).toEqual({ stopped: true });
      expect(stderr).not.toMatch(/E_[A-Z_]+/);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
