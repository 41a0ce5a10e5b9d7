// The admin API, /metrics, /healthz and /readyz of plughost serve, over real HTTP with bearer tokens.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PluginRegistry } from "../src/index.js";
import { createServer, type PlughostServer } from "../src/serve/server.js";
import { TokenSet } from "../src/serve/auth.js";
import { enc, pluginDir, silentLogger } from "./helpers/plugins.js";

const ADMIN = "admin-token-0123456789";
const READ = "read-token-01234567890";

describe("admin API", () => {
  let registry: PluginRegistry;
  let server: PlughostServer;
  let url: string;
  const call = (method: string, path: string, token?: string, body?: unknown) =>
    fetch(`${url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  beforeAll(async () => {
    registry = new PluginRegistry({ logger: silentLogger(), grants: { "http-echo": ["http:serve"] }, cacheDir: false, metrics: true });
    await registry.load(pluginDir("test/fixtures/c/http-echo"));
    await registry.load(pluginDir("examples/c/transform"));
    // The admin token from the environment, the read token from the config.
    server = await createServer(registry, { port: 0, env: { PLUGHOST_ADMIN_TOKEN: ADMIN, MY_READ_TOKEN: READ }, tokens: [{ env: "MY_READ_TOKEN", roles: ["read"] }] });
    url = await server.listen();
  });
  afterAll(async () => {
    await server?.close();
    await registry?.unloadAll();
  });

  it("answers 401 without a token or with a wrong one", async () => {
    expect((await call("GET", "/admin/api/plugins")).status).toBe(401);
    const wrong = await call("GET", "/admin/api/plugins", "not-the-token-0123456789");
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toBe("Bearer");
    expect((await call("POST", "/admin/api/plugins/transform-c/unload", ADMIN.slice(0, -1))).status).toBe(401);
    expect((await fetch(`${url}/admin/api/plugins`, { headers: { authorization: ADMIN } })).status).toBe(401); // no "Bearer "
  });

  it("lists plugins with state, health, calls, errors and latency for a read token", async () => {
    await registry.hook("transform-c", "transform", enc("abc"));
    const res = await call("GET", "/admin/api/plugins", READ);
    expect(res.status).toBe(200);
    const { plugins } = (await res.json()) as { plugins: { name: string; state: string; engine: string; health: { status: string; reasons: string[] }; calls: number; errors: number; latency: { p50Ns: number; p99Ns: number } }[] };
    const t = plugins.find((p) => p.name === "transform-c");
    expect(t).toMatchObject({ state: "active", engine: "v8", errors: 0, health: { status: "healthy" } });
    expect(t!.calls).toBeGreaterThanOrEqual(1);
    expect(typeof t!.latency.p99Ns).toBe("number");
    const one = (await (await call("GET", "/admin/api/plugins/http-echo", READ)).json()) as { name: string; endpoints: { path: string }[] };
    expect(one.name).toBe("http-echo");
    expect(one.endpoints.map((e) => e.path)).toContain("/plugins/http-echo/echo");
    expect((await call("GET", "/admin/api/plugins/nobody", READ)).status).toBe(404);
    const health = (await (await call("GET", "/admin/api/health", READ)).json()) as { status: string; plugins: Record<string, { status: string }> };
    expect(Object.keys(health.plugins).sort()).toEqual(["http-echo", "transform-c"]);
    const config = (await (await call("GET", "/admin/api/plugins/http-echo/config", READ)).json()) as { config: Record<string, unknown> };
    expect(config.config).toEqual({ tag: "v1" });
    expect((await call("GET", "/admin/api/plugins/http-echo/violations", READ)).status).toBe(200);
    expect((await call("GET", "/admin/api/plugins/http-echo/metrics", READ)).status).toBe(200);
  });

  it("refuses a read token every write with 403, and the plugin stays", async () => {
    for (const verb of ["unload", "suspend", "reload"]) {
      const res = await call("POST", `/admin/api/plugins/transform-c/${verb}`, READ);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: string }).error).toBe("E_FORBIDDEN");
    }
    expect((await call("POST", "/admin/api/plugins", READ, { path: "examples/c/hello" })).status).toBe(403);
    expect(registry.info("transform-c").state).toBe("active");
  });

  it("lets the admin token suspend, resume, reload, unload and load", async () => {
    const suspended = await call("POST", "/admin/api/plugins/transform-c/suspend", ADMIN);
    expect(suspended.status).toBe(200);
    expect(((await suspended.json()) as { state: string }).state).toBe("suspended");
    expect(((await (await call("POST", "/admin/api/plugins/transform-c/resume", ADMIN)).json()) as { state: string }).state).toBe("active");
    expect((await call("POST", "/admin/api/plugins/transform-c/reload", ADMIN)).status).toBe(200);
    expect((await call("POST", "/admin/api/plugins/transform-c/unload", ADMIN)).status).toBe(200);
    expect(registry.info("transform-c").state).toBe("unloaded");
    // An unloaded plugin is still listed (it can be loaded again by name).
    const listed = (await (await call("GET", "/admin/api/plugins", READ)).json()) as { plugins: { name: string; state: string; health: { status: string } }[] };
    expect(listed.plugins.find((p) => p.name === "transform-c")?.state).toBe("unloaded");
    expect((await call("GET", "/admin/api/health", READ)).status).toBe(200);
    expect((await call("POST", "/admin/api/plugins/transform-c/resume", ADMIN)).status).toBe(409);
    const loaded = await call("POST", "/admin/api/plugins", ADMIN, { path: pluginDir("examples/c/transform") });
    expect(loaded.status).toBe(201);
    expect(registry.info("transform-c").state).toBe("active");
    expect((await call("POST", "/admin/api/plugins", ADMIN, { path: "/nonexistent/plugin" })).status).toBe(422);
    expect((await call("POST", "/admin/api/plugins", ADMIN, {})).status).toBe(400);
  });

  it("serves the Prometheus exposition at /metrics, with the calls made", async () => {
    const before = registry.metrics("http-echo").calls;
    for (let i = 0; i < 3; i++) expect((await fetch(`${url}/plugins/http-echo/echo`, { method: "POST", body: "x" })).status).toBe(200);
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await res.text();
    const line = text.split("\n").find((l) => l.startsWith('plughost_plugin_calls_total{plugin="http-echo",event="http.echo"}'));
    expect(line, text.slice(0, 400)).toBeDefined();
    expect(Number(line!.split(" ").pop())).toBe(before + 3);
    for (const l of text.split("\n")) if (l && !l.startsWith("#")) expect(l).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)( [0-9]+)?$/);
  });

  it("answers /healthz and /readyz", async () => {
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    server.ready = false;
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    server.ready = true;
  });

  it("serves the admin page at /admin", async () => {
    const res = await fetch(`${url}/admin`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
  });
});

describe("tokens", () => {
  it("match only the exact token, whatever its length, and refuse short or missing ones", () => {
    const set = TokenSet.from([{ token: "x".repeat(16), roles: ["read"] }, { env: "T", roles: ["ops"] }], { T: "y".repeat(40) });
    expect(set.size).toBe(2);
    expect(set.authenticate(`Bearer ${"x".repeat(16)}`)?.roles.has("read")).toBe(true);
    expect(set.authenticate(`bearer ${"y".repeat(40)}`)?.roles.has("ops")).toBe(true);
    expect(set.authenticate(`Bearer ${"x".repeat(15)}`)).toBeUndefined();
    expect(set.authenticate(`Bearer ${"x".repeat(17)}`)).toBeUndefined();
    expect(set.authenticate("Basic abc")).toBeUndefined();
    expect(set.authenticate(undefined)).toBeUndefined();
    expect(() => TokenSet.from([{ token: "short", roles: ["admin"] }], {})).toThrow(/at least 16/);
    expect(() => TokenSet.from([{ env: "UNSET", roles: ["admin"] }], {})).toThrow(/UNSET is not set/);
    expect(TokenSet.from([], { PLUGHOST_READ_TOKEN: "r".repeat(20) }).authenticate(`Bearer ${"r".repeat(20)}`)?.roles.has("read")).toBe(true);
  });

  it("lock the admin API when none is configured", async () => {
    const registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false });
    const server = await createServer(registry, { port: 0, env: {} });
    const url = await server.listen();
    try {
      expect((await fetch(`${url}/admin/api/plugins`)).status).toBe(401);
      expect((await fetch(`${url}/admin/api/plugins`, { headers: { authorization: "Bearer " } })).status).toBe(401);
    } finally {
      await server.close();
    }
  });
});
