// Starts Debian's nats-server on 127.0.0.1 for the NATS transport's tests and bench, and stops it.
// PLUGHOST_NATS_SERVER names another binary. `node scripts/setup.mjs 65-nats` says how to install it.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** The nats-server binary, or throws saying how to install it. */
export function natsServerBinary() {
  const candidates = [process.env.PLUGHOST_NATS_SERVER, "/usr/sbin/nats-server", "/usr/bin/nats-server"].filter(Boolean);
  for (const c of candidates) if (existsSync(c)) return c;
  const r = spawnSync("nats-server", ["--version"], { encoding: "utf8" });
  if (r.status === 0) return "nats-server";
  throw new Error("nats-server is not installed: apt-get install nats-server (or set PLUGHOST_NATS_SERVER)");
}

/**
 * Starts a server on 127.0.0.1: on `port`, or on a free port the server picks. Resolves once it listens.
 * `stop()` ends it (SIGTERM, then SIGKILL after 3 s); `restart()` starts it again on the same port.
 */
export async function startNatsServer(options = {}) {
  const bin = natsServerBinary();
  let port = options.port ?? -1;
  let child;
  const launch = () =>
    new Promise((resolve, reject) => {
      child = spawn(bin, ["-a", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
      let log = "";
      const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`nats-server did not start in 10 s:\n${log}`)); }, 10_000);
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (chunk) => {
        if (log.length < 20_000) log += chunk;
        const m = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(log);
        if (m && timer) {
          clearTimeout(timer);
          port = Number(m[1]);
          resolve();
        }
      });
      child.once("exit", (code, signal) => { clearTimeout(timer); reject(new Error(`nats-server exited (${code ?? signal}) before it listened:\n${log}`)); });
      child.once("error", (e) => { clearTimeout(timer); reject(e); });
    });
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
    get url() { return `nats://127.0.0.1:${port}`; },
    get pid() { return child.pid; },
    stop,
    async restart() { await stop(); await launch(); },
    async close() { process.off("exit", onExit); await stop(); },
  };
}
