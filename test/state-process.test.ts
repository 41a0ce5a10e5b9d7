// A host process killed with SIGKILL between writes loses nothing a returned call wrote (issue 16 point 3): a child
// process (test/helpers/state-host.mjs, the compiled dist/) increments the C state-counter's count without pause and
// prints each value its call returned; the test kills it with SIGKILL at a random moment, then a new registry on the
// same store finds at least the last printed count (and at most one more: the call in flight may have committed).
// Against SQLite (WAL, synchronous=NORMAL: durable against a process crash) and a real redis-server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PluginRegistry, type RegistryOptions } from "../src/index.js";
import { copyPlugin, dec, enc, root, silentLogger } from "./helpers/plugins.js";
import { startRedisServer, type RedisServer } from "./helpers/redis-server.mjs";

let redis: RedisServer | undefined;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.close();
});

/** Run the child host until it printed `atLeast` counts and then a random few more; SIGKILL it; the last count printed. */
function runAndKill(config: object, atLeast: number): Promise<{ last: number; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "test/helpers/state-host.mjs")], {
      env: { ...process.env, PLUGHOST_STATE_HOST: JSON.stringify(config) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let last = 0;
    let buffered = "";
    let stderr = "";
    const killAt = atLeast + Math.floor(Math.random() * 200);
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      buffered += d;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        const m = /^count (\d+)$/.exec(line);
        if (!m) continue;
        const n = Number(m[1]);
        if (n !== last + 1 && last !== 0) reject(new Error(`counts out of order: ${last} then ${n}`));
        last = n;
        if (n >= killAt && child.exitCode === null && !child.killed) child.kill("SIGKILL");
      }
    });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`the child host ended by itself (code ${code}): ${stderr}`));
      else resolve({ last, signal });
    });
  });
}

describe.each([
  ["sqlite", (): Pick<RegistryOptions, "dataDir" | "state"> => ({ dataDir: mkdtempSync(path.join(tmpdir(), "plughost-state-")) })],
  ["redis", (): Pick<RegistryOptions, "dataDir" | "state"> => ({ dataDir: mkdtempSync(path.join(tmpdir(), "plughost-state-")), state: { backend: "redis", url: redis!.url } })],
] as const)("a host killed with SIGKILL (%s)", (_name, storage) => {
  it("loses no count a returned call reported, over three kills; the next host goes on from there", async () => {
    const store = storage();
    const dir = copyPlugin("test/fixtures/c/state-counter");
    // One compile cache for the children and the checks: each round then loads without compiling again.
    const cacheDir = mkdtempSync(path.join(tmpdir(), "plughost-cache-"));
    const wipe = new PluginRegistry({ logger: silentLogger(), cacheDir: false, ...store });
    wipe.state("state-counter").wipe();
    await wipe.close();

    let floor = 0;
    for (let round = 0; round < 3; round++) {
      const { last } = await runAndKill({ dir, cacheDir, ...store }, floor + 100);
      expect(last).toBeGreaterThan(floor);
      const r = new PluginRegistry({ logger: silentLogger(), cacheDir, grants: ["state", "context:*", "context:write:*"], ...store });
      const stored = Number(dec(r.state("state-counter").get("count")!));
      // Every reported count is there; at most the call in flight at the kill committed without being reported.
      expect(stored).toBeGreaterThanOrEqual(last);
      expect(stored).toBeLessThanOrEqual(last + 1);
      // The plugin, loaded again, counts on from the stored value.
      await r.load(dir);
      const out = await r.hook("state-counter", "count", enc(""));
      expect(out.ok && dec(out.data)).toBe(String(stored + 1));
      await r.close();
      floor = stored + 1;
    }
  }, 60_000);
});
