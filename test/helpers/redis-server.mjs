// Starts Debian's redis-server on 127.0.0.1 for the Redis state backend's tests and bench, and stops it.
// No persistence (`--save "" --appendonly no`): every run starts empty. PLUGHOST_REDIS_SERVER names another binary.
// `node scripts/setup.mjs 66-redis` installs it.
import { spawn } from "node:child_process";
import net from "node:net";
import { serverBinary, superviseServer } from "./server-process.mjs";

/** The redis-server binary, or throws saying how to install it. */
export function redisServerBinary() {
  const paths = ["/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"];
  return serverBinary("redis-server", "PLUGHOST_REDIS_SERVER", paths, "apt-get install redis-server");
}

// A port nobody listens on now (redis-server cannot pick one itself and tell us).
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// One PING over a fresh connection; resolves true on +PONG.
function ping(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(500, () => done(false));
    sock.once("error", () => done(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    // -NOAUTH: up, with a password (requirepass).
    sock.on("data", (d) => { buf += d; if (buf.includes("\r\n")) done(buf.startsWith("+PONG") || buf.startsWith("-NOAUTH")); });
  });
}

/**
 * Starts a server on 127.0.0.1: on `port`, or on a free one. Resolves once it answers PING.
 * `stop()` ends it (SIGTERM, then SIGKILL after 3 s); `restart()` starts it again on the same port (empty).
 * `options.password` starts it with `--requirepass` (clients must AUTH; `url` does not carry it).
 */
export async function startRedisServer(options = {}) {
  const bin = redisServerBinary();
  return superviseServer("redis", options.port ?? (await freePort()), async (port) => {
    const args = ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes", "--logfile", ""];
    if (options.password !== undefined) args.push("--requirepass", options.password);
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    const collect = (chunk) => { if (log.length < 20_000) log += chunk; };
    child.stdout.setEncoding("utf8").on("data", collect);
    child.stderr.setEncoding("utf8").on("data", collect);
    const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const how = await Promise.race([exited.then((c) => ({ exited: c })), new Promise((r) => setTimeout(r, 50))]);
      if (how?.exited !== undefined) throw new Error(`redis-server exited (${how.exited}) before it answered:\n${log}`);
      if (await ping(port)) return { child, port };
    }
    child.kill("SIGKILL");
    throw new Error(`redis-server did not answer PING on 127.0.0.1:${port} in 10 s:\n${log}`);
  });
}
