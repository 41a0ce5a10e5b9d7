// The request head a plugin endpoint receives, for a literal path (whose fixed part the server keeps between requests)
// and a path with a param: each request's head is the one of its own method, path, query and headers.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PluginRegistry } from "../src/index.js";
import { createServer, type PlughostServer } from "../src/serve/server.js";
import { pluginDir, silentLogger } from "./helpers/plugins.js";

describe("request head of a plugin endpoint", () => {
  let registry: PluginRegistry;
  let server: PlughostServer;
  let url: string;
  let dir: string;

  beforeAll(async () => {
    // http-echo with one more endpoint: its request handler (which answers the head it got) at a literal path.
    const src = pluginDir("test/fixtures/c/http-echo");
    dir = mkdtempSync(path.join(tmpdir(), "plughost-head-"));
    cpSync(path.join(src, "plugin.wasm"), path.join(dir, "plugin.wasm"));
    const toml = readFileSync(path.join(src, "plugin.toml"), "utf8");
    writeFileSync(path.join(dir, "plugin.toml"), `${toml}\n[[api.endpoints]]\nmethod = "GET"\npath = "/head"\nhandler = "http.request"\n`);
    registry = new PluginRegistry({ logger: silentLogger(), grants: { "http-echo": ["http:serve"] }, cacheDir: false });
    await registry.load(dir);
    server = await createServer(registry, { port: 0, env: {} });
    url = await server.listen();
  });
  afterAll(async () => {
    await server?.close();
    await registry?.unloadAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const head = async (p: string, headers: Record<string, string> = {}, method = "GET") => {
    const res = await fetch(`${url}/plugins/http-echo${p}`, { method, headers });
    expect(res.status).toBe(201); // what the request handler answers
    return JSON.parse(await res.text()) as Record<string, unknown>;
  };

  it("is each request's own, on a literal path asked again and again", async () => {
    for (let i = 0; i < 3; i++) {
      const h = await head("/head", { "x-n": String(i), cookie: "s=1" });
      expect(h).toEqual({
        method: "GET",
        path: "/plugins/http-echo/head",
        route: "/head",
        params: {},
        query: {},
        headers: expect.objectContaining({ "x-n": String(i) }),
        remote: expect.stringMatching(/127\.0\.0\.1/),
      });
      expect(Object.keys(h)).toEqual(["method", "path", "route", "params", "query", "headers", "remote"]);
      expect((h.headers as Record<string, string>).cookie).toBeUndefined();
    }
    expect(await head("/head?a=1&a=2&b=%22q%22")).toMatchObject({ path: "/plugins/http-echo/head", query: { a: ["1", "2"], b: '"q"' } });
    expect(await head("/head")).toMatchObject({ query: {} });
    // A param path in between, then the literal one again.
    expect(await head("/items/5?verbose=true")).toMatchObject({ path: "/plugins/http-echo/items/5", route: "/items/:id", params: { id: "5" }, query: { verbose: "true" } });
    expect(await head("/head")).toMatchObject({ method: "GET", route: "/head", params: {} });
  });

  it("of a GET after a HEAD served by the GET endpoint says GET", async () => {
    await head("/head");
    const res = await fetch(`${url}/plugins/http-echo/head`, { method: "HEAD" });
    expect(res.status).toBe(201);
    expect(Number(res.headers.get("content-length"))).toBeGreaterThan(0);
    expect(await head("/head")).toMatchObject({ method: "GET", path: "/plugins/http-echo/head" });
  });
});
