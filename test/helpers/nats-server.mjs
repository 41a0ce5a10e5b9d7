// Starts Debian's nats-server on 127.0.0.1 for the NATS transport's tests and bench, and stops it.
// PLUGHOST_NATS_SERVER names another binary. `node scripts/setup.mjs 65-nats` says how to install it.
import { spawn } from "node:child_process";
import { serverBinary, superviseServer } from "./server-process.mjs";

/** The nats-server binary, or throws saying how to install it. */
export function natsServerBinary() {
  return serverBinary("nats-server", "PLUGHOST_NATS_SERVER", ["/usr/sbin/nats-server", "/usr/bin/nats-server"], "apt-get install nats-server");
}

/**
 * Starts a server on 127.0.0.1: on `port`, or on a free port the server picks. Resolves once it listens.
 * `stop()` ends it (SIGTERM, then SIGKILL after 3 s); `restart()` starts it again on the same port.
 */
export async function startNatsServer(options = {}) {
  const bin = natsServerBinary();
  return superviseServer("nats", options.port ?? -1, (port) =>
    new Promise((resolve, reject) => {
      const child = spawn(bin, ["-a", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
      let log = "";
      const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`nats-server did not start in 10 s:\n${log}`)); }, 10_000);
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (chunk) => {
        if (log.length < 20_000) log += chunk;
        const m = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(log);
        if (m && timer) {
          clearTimeout(timer);
          resolve({ child, port: Number(m[1]) });
        }
      });
      child.once("exit", (code, signal) => { clearTimeout(timer); reject(new Error(`nats-server exited (${code ?? signal}) before it listened:\n${log}`)); });
      child.once("error", (e) => { clearTimeout(timer); reject(e); });
    }),
  );
}
