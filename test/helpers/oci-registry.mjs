// Starts Debian's docker-registry (the CNCF distribution server) on 127.0.0.1 for the OCI catalog's tests and bench,
// with a fresh temporary storage directory, with or without htpasswd basic auth, and stops it.
// PLUGHOST_OCI_REGISTRY names another binary. `node scripts/setup.mjs 67-oci-registry` installs it (and htpasswd).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { serverBinary, superviseServer } from "./server-process.mjs";

/** The docker-registry binary, or throws saying how to install it. */
export function ociRegistryBinary() {
  return serverBinary("docker-registry", "PLUGHOST_OCI_REGISTRY", ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"], "apt-get install docker-registry");
}

/** The htpasswd binary (apache2-utils), or throws saying how to install it. */
export function htpasswdBinary() {
  for (const c of ["/usr/bin/htpasswd", "/usr/sbin/htpasswd"]) if (spawnSync(c, ["-h"]).error === undefined) return c;
  throw new Error("htpasswd is not installed: apt-get install apache2-utils");
}

// A port nobody listens on now (the registry cannot pick one itself and tell us).
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

// GET /v2/ answers 200 (open) or 401 (auth) once the registry serves.
async function answers(port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200 || res.status === 401;
  } catch {
    return false;
  }
}

/**
 * Starts a registry on 127.0.0.1 (on `options.port` or a free port) storing into a new temporary directory. Resolves
 * once `GET /v2/` answers. `options.users` (`{ name: password }`) turns on htpasswd basic auth (bcrypt, as the
 * registry requires). `close()` stops it and removes its storage; `stop()`/`restart()` keep the storage.
 * The handle adds `host` (`127.0.0.1:port`), `location` (`oci://127.0.0.1:port/<prefix>`, prefix default `plughost`),
 * `httpUrl` (`http://127.0.0.1:port`) and `storageDir`.
 */
export async function startOciRegistry(options = {}) {
  const bin = ociRegistryBinary();
  const dir = mkdtempSync(path.join(os.tmpdir(), "plughost-oci-"));
  const storageDir = path.join(dir, "storage");
  const users = options.users ?? {};
  const config = path.join(dir, "config.yml");
  let auth = "";
  if (Object.keys(users).length > 0) {
    const htpasswd = htpasswdBinary();
    const lines = Object.entries(users).map(([user, password]) => {
      // -i: the password on stdin, so it never shows in a process list.
      const r = spawnSync(htpasswd, ["-niB", user], { input: `${password}\n`, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
      return r.stdout.trim();
    });
    writeFileSync(path.join(dir, "htpasswd"), `${lines.join("\n")}\n`);
    auth = `auth:\n  htpasswd:\n    realm: plughost-test\n    path: ${path.join(dir, "htpasswd")}\n`;
  }
  const launch = async (port) => {
    writeFileSync(
      config,
      `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${storageDir}\n  delete:\n    enabled: true\n` +
        `http:\n  addr: 127.0.0.1:${port}\n  secret: plughost-test-secret\n${auth}`,
    );
    const child = spawn(bin, ["serve", config], { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    const collect = (chunk) => { if (log.length < 20_000) log += chunk; };
    child.stdout.setEncoding("utf8").on("data", collect);
    child.stderr.setEncoding("utf8").on("data", collect);
    const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
    child.once("error", (e) => collect(String(e)));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const how = await Promise.race([exited.then((c) => ({ exited: c })), new Promise((r) => setTimeout(r, 50))]);
      if (how?.exited !== undefined) throw new Error(`docker-registry exited (${how.exited}) before it answered:\n${log}`);
      if (await answers(port)) return { child, port };
    }
    child.kill("SIGKILL");
    throw new Error(`docker-registry did not answer in 15 s:\n${log}`);
  };
  let handle;
  try {
    handle = await superviseServer("oci", options.port ?? (await freePort()), launch);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const prefix = options.prefix ?? "plughost";
  return {
    get port() { return handle.port; },
    get url() { return handle.url; },
    get pid() { return handle.pid; },
    get host() { return `127.0.0.1:${handle.port}`; },
    get httpUrl() { return `http://127.0.0.1:${handle.port}`; },
    get location() { return `oci://127.0.0.1:${handle.port}/${prefix}`; },
    storageDir,
    stop: () => handle.stop(),
    restart: () => handle.restart(),
    async close() {
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
