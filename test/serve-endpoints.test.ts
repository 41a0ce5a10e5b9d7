// Plugin endpoints through plughost serve: a C plugin's [[api.endpoints]] reached over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CapabilityDenied, PluginRegistry } from "../src/index.js";
import { createServer, type PlughostServer } from "../src/serve/server.js";
import { pluginDir, silentLogger } from "./helpers/plugins.js";

const ADMIN = "admin-token-0123456789";
const OPS = "ops-token-0123456789ab";
const OTHER = "other-token-0123456789";

describe("plugin endpoints", () => {
  let registry: PluginRegistry;
  let server: PlughostServer;
  let url: string;
  const count = async () => Number(await (await fetch(`${url}/plugins/http-echo/count`)).text());

  beforeAll(async () => {
    registry = new PluginRegistry({ logger: silentLogger(), grants: { "http-echo": ["http:serve"] }, cacheDir: false });
    await registry.load(pluginDir("test/fixtures/c/http-echo"));
    server = await createServer(registry, {
      port: 0,
      env: {},
      tokens: [
        { token: ADMIN, roles: ["admin"] },
        { token: OPS, roles: ["ops"] },
        { token: OTHER, roles: ["other"] },
      ],
    });
    url = await server.listen();
  });
  afterAll(async () => {
    await server?.close();
    await registry?.unloadAll();
  });

  it("echoes a body through the plugin's hook", async () => {
    const res = await fetch(`${url}/plugins/http-echo/echo`, { method: "POST", body: "hello bytes", headers: { "content-type": "text/plain" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(await res.text()).toBe("hello bytes");
  });

  it("refuses a body that fails the schema with 400, and the plugin never sees it", async () => {
    const before = await count();
    const bad = await fetch(`${url}/plugins/http-echo/items`, { method: "POST", body: JSON.stringify({ name: 42 }), headers: { "content-type": "application/json" } });
    expect(bad.status).toBe(400);
    const err = (await bad.json()) as { error: string; problems: { pointer: string }[] };
    expect(err.error).toBe("E_BAD_REQUEST");
    expect(err.problems[0]?.pointer).toBe("/body/name");
    const notJson = await fetch(`${url}/plugins/http-echo/items`, { method: "POST", body: "{nope", headers: { "content-type": "application/json" } });
    expect(notJson.status).toBe(400);
    const extra = await fetch(`${url}/plugins/http-echo/items`, { method: "POST", body: JSON.stringify({ name: "a", more: 1 }), headers: { "content-type": "application/json" } });
    expect(extra.status).toBe(400);
    expect(await count()).toBe(before);
    const good = await fetch(`${url}/plugins/http-echo/items`, { method: "POST", body: JSON.stringify({ name: "a" }), headers: { "content-type": "application/json" } });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ name: "a" });
    expect(await count()).toBe(before + 1);
  });

  it("passes params and query, coerced and validated, and headers without credentials", async () => {
    const res = await fetch(`${url}/plugins/http-echo/items/7?verbose=true`, { headers: { authorization: `Bearer ${ADMIN}`, cookie: "session=secret", "x-trace": "t1" } });
    expect(res.status).toBe(201);
    const head = (await res.json()) as { method: string; path: string; route: string; params: Record<string, string>; query: Record<string, string>; headers: Record<string, string> };
    expect(head).toMatchObject({ method: "GET", path: "/plugins/http-echo/items/7", route: "/items/:id", params: { id: "7" }, query: { verbose: "true" } });
    expect(head.headers["x-trace"]).toBe("t1");
    expect(head.headers.authorization).toBeUndefined();
    expect(head.headers.cookie).toBeUndefined();
    expect((await fetch(`${url}/plugins/http-echo/items/0`)).status).toBe(400);
    expect((await fetch(`${url}/plugins/http-echo/items/x`)).status).toBe(400);
    expect((await fetch(`${url}/plugins/http-echo/items/3?verbose=maybe`)).status).toBe(400);
  });

  it("gives the call a hostContext with the request's method, path, route and W3C trace context", async () => {
    const seen: unknown[] = [];
    const stop = registry.use((ctx, next) => {
      if (ctx.kind === "hook") seen.push({ plugin: ctx.plugin, event: ctx.event, hostContext: ctx.hostContext });
      return next();
    });
    try {
      const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      expect((await fetch(`${url}/plugins/http-echo/echo`, { method: "POST", body: "t", headers: { traceparent, tracestate: "k=v" } })).status).toBe(200);
      expect(seen).toEqual([
        {
          plugin: "http-echo",
          event: "http.echo",
          hostContext: { http: { method: "POST", path: "/plugins/http-echo/echo", route: "/echo", requestId: expect.any(String), traceparent, tracestate: "k=v" } },
        },
      ]);
    } finally {
      stop();
    }
  });

  it("answers 429 past the rate limit, without calling the plugin", async () => {
    const statuses: number[] = [];
    const calls = registry.metrics("http-echo").calls;
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${url}/plugins/http-echo/limited`)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(registry.metrics("http-echo").calls - calls).toBe(3);
    const res = await fetch(`${url}/plugins/http-echo/limited`);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBeTruthy();
  });

  it("checks an endpoint's auth: 401 without or with a wrong token, 403 without the role, admin may", async () => {
    const get = (token?: string) => fetch(`${url}/plugins/http-echo/private`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    expect((await get()).status).toBe(401);
    expect((await get("wrong-token-0123456789")).status).toBe(401);
    expect((await get(OTHER)).status).toBe(403);
    expect((await get(OPS)).status).toBe(200);
    expect((await get(ADMIN)).status).toBe(200);
  });

  it("maps the hook's status and unknown paths and methods", async () => {
    expect((await fetch(`${url}/plugins/http-echo/teapot`)).status).toBe(418);
    expect((await fetch(`${url}/plugins/http-echo/nothing`)).status).toBe(404);
    expect((await fetch(`${url}/plugins/nobody/echo`, { method: "POST" })).status).toBe(404);
    const head = await fetch(`${url}/plugins/http-echo/count`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("x-plugin")).toBe("http-echo");
    const wrong = await fetch(`${url}/plugins/http-echo/echo`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
  });

  it("lists the mounted endpoints", () => {
    const list = server.endpoints.list("http-echo");
    expect(list.map((e) => `${e.method} ${e.path}`)).toContain("POST /plugins/http-echo/echo");
    expect(list.find((e) => e.path.endsWith("/limited"))?.rateLimit).toEqual({ requests: 3, windowMs: 60_000 });
  });

  it("keeps a plugin's endpoints through a fault and its restart", async () => {
    const changes: number[] = [];
    const onChange = (e: { endpoints: unknown[] }) => changes.push(e.endpoints.length);
    server.endpoints.on("changed", onChange);
    // The busy loop runs out of the default fuel: a fault, and the instance is restarted.
    const fault = await fetch(`${url}/plugins/http-echo/slow`);
    expect(fault.status).toBe(500);
    expect(((await fault.json()) as { error: string }).error).toBe("E_FUEL_EXHAUSTED");
    expect((await fetch(`${url}/plugins/http-echo/count`)).status).toBe(200);
    expect(registry.metrics("http-echo").restarts).toBe(1);
    expect(changes).toEqual([]);
    server.endpoints.off("changed", onChange);
  });

  it("serves a suspended plugin's endpoints as 503 and removes an unloaded plugin's", async () => {
    registry.suspend("http-echo");
    expect((await fetch(`${url}/plugins/http-echo/count`)).status).toBe(503);
    registry.resume("http-echo");
    expect((await fetch(`${url}/plugins/http-echo/count`)).status).toBe(200);
    await registry.unload("http-echo");
    expect((await fetch(`${url}/plugins/http-echo/count`)).status).toBe(404);
    expect(server.endpoints.list()).toEqual([]);
    await registry.loadByName("http-echo");
    expect((await fetch(`${url}/plugins/http-echo/count`)).status).toBe(200);
  });
});

describe("a plugin without http:serve", () => {
  it("loads but cannot register routes: refused with CapabilityDenied and a capability violation", async () => {
    const registry = new PluginRegistry({ logger: silentLogger(), grants: [], cacheDir: false });
    const server = await createServer(registry, { port: 0, env: {} });
    const refused: unknown[] = [];
    server.endpoints.on("refused", (e) => refused.push(e.error));
    const url = await server.listen();
    try {
      await registry.load(pluginDir("test/fixtures/c/http-noserve"));
      expect(registry.info("http-noserve").state).toBe("active");
      expect(refused).toHaveLength(1);
      expect(refused[0]).toBeInstanceOf(CapabilityDenied);
      expect((refused[0] as CapabilityDenied).capability).toBe("http:serve");
      expect((refused[0] as CapabilityDenied).plugin).toBe("http-noserve");
      expect(server.endpoints.list()).toEqual([]);
      const res = await fetch(`${url}/plugins/http-noserve/echo`, { method: "POST", body: "x" });
      expect(res.status).toBe(404);
      await new Promise((r) => setTimeout(r, 0));
      expect(registry.violations("http-noserve").map((v) => v.kind)).toEqual(["capability"]);
      // Declared as required and not granted: the load itself fails.
      await expect(registry.load(pluginDir("test/fixtures/c/http-echo"))).rejects.toBeInstanceOf(CapabilityDenied);
    } finally {
      await server.close();
      await registry.unloadAll();
    }
  });
});
