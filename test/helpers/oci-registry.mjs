// Starts Debian's docker-registry (the CNCF distribution server) on 127.0.0.1 for the OCI catalog's tests and bench,
// with a fresh temporary storage directory, with or without htpasswd basic auth, and stops it.
// PLUGHOST_OCI_REGISTRY names another binary. `node scripts/setup.mjs 67-oci-registry` installs it (and htpasswd).
import { spawn, spawnSync } from "node:child_process";
import { createPrivateKey, randomUUID, sign, timingSafeEqual } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
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

const b64url = (buf) => Buffer.from(buf).toString("base64url");

// A bearer-token service for the registry (the distribution "token" auth): it checks basic credentials against
// `users`, grants every action asked for to a known user (none to anyone else), and signs an ES256 JWT with a
// self-signed certificate (made by openssl) that the registry trusts through `rootcertbundle`.
async function startTokenService(dir, users, service, issuer) {
  const key = path.join(dir, "token.key");
  const cert = path.join(dir, "token.crt");
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=plughost-test-token"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl could not make the token certificate (apt-get install openssl): ${r.error?.message ?? r.stderr}`);
  const privateKey = createPrivateKey(readFileSync(key));
  const der = Buffer.from(readFileSync(cert, "utf8").replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const m = /^Basic (.+)$/.exec(req.headers.authorization ?? "");
    const [user, ...rest] = m ? Buffer.from(m[1], "base64").toString().split(":") : [];
    const password = rest.join(":");
    const known = user !== undefined && users[user] !== undefined && Buffer.byteLength(users[user]) === Buffer.byteLength(password) && timingSafeEqual(Buffer.from(users[user]), Buffer.from(password));
    requests.push({ user: user ?? null, scope: url.searchParams.getAll("scope"), granted: known });
    if (!known) {
      res.writeHead(401, { "www-authenticate": 'Basic realm="plughost-test-token"', "content-type": "application/json" });
      res.end(JSON.stringify({ details: "bad credentials" }));
      return;
    }
    const access = url.searchParams.getAll("scope").flatMap((scope) => {
      const parts = scope.split(":");
      if (parts.length < 3) return [];
      const actions = parts.pop().split(",");
      const type = parts.shift();
      return [{ type, name: parts.join(":"), actions }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "ES256", x5c: [der.toString("base64")] };
    const claims = { iss: issuer, sub: user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" });
    const token = `${input}.${b64url(signature)}`;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() }));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return {
    realm: `http://127.0.0.1:${server.address().port}/token`,
    cert,
    requests,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

/**
 * Starts a registry on 127.0.0.1 (on `options.port` or a free port) storing into a new temporary directory. Resolves
 * once `GET /v2/` answers. `options.users` (`{ name: password }`) turns on htpasswd basic auth (bcrypt, as the
 * registry requires); with `options.token` those users get bearer tokens from a token service this helper runs on
 * 127.0.0.1 instead (the registry's `token` auth, as hosted registries do). `close()` stops it and removes its storage; `stop()`/`restart()` keep the storage.
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
  let tokens;
  if (options.token) {
    tokens = await startTokenService(dir, users, "plughost-test-registry", "plughost-test-issuer");
    auth = `auth:\n  token:\n    realm: ${tokens.realm}\n    service: plughost-test-registry\n    issuer: plughost-test-issuer\n    rootcertbundle: ${tokens.cert}\n`;
  } else if (Object.keys(users).length > 0) {
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
    await tokens?.close();
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
    tokenRequests: tokens?.requests ?? [],
    stop: () => handle.stop(),
    restart: () => handle.restart(),
    async close() {
      await handle.close();
      await tokens?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
