// What the tests' server helpers (nats-server.mjs, redis-server.mjs) share: finding the binary, and keeping one
// server process on 127.0.0.1 that can be stopped, restarted on the same port and closed.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** The first of `envVar`'s path and `paths` that exists, else `name` when it runs from PATH; else throws `install`. */
export function serverBinary(name, envVar, paths, install) {
  for (const c of [process.env[envVar], ...paths].filter(Boolean)) if (existsSync(c)) return c;
  if (spawnSync(name, ["--version"], { encoding: "utf8" }).status === 0) return name;
  throw new Error(`${name} is not installed: ${install} (or set ${envVar})`);
}

/**
 * Runs `start(port)` (it resolves to `{ child, port }` once the server answers) and returns the server's handle:
 * `stop()` ends it (SIGTERM, then SIGKILL after 3 s), `restart()` starts it again on the same port, `close()` stops it
 * for good. A server still running when the test process exits is killed.
 */
export async function superviseServer(scheme, port, start) {
  let child;
  const launch = async () => {
    ({ child, port } = await start(port));
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise((resolve) => {
      const kill = setTimeout(() => c.kill("SIGKILL"), 3000);
      c.once("exit", () => { clearTimeout(kill); resolve(); });
      c.kill("SIGTERM");
    });
  };
  await launch();
  const onExit = () => child?.kill("SIGKILL");
  process.once("exit", onExit);
  return {
    get port() { return port; },
    get url() { return `${scheme}://127.0.0.1:${port}`; },
    get pid() { return child.pid; },
    stop,
    async restart() { await stop(); await launch(); },
    async close() { process.off("exit", onExit); await stop(); },
  };
}
