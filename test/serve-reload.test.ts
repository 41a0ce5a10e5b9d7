// Reload swaps a plugin's endpoints while requests keep coming: none fails, and the routes follow the new manifest.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PluginRegistry } from "../src/index.js";
import { createServer, type PlughostServer } from "../src/serve/server.js";
import { copyPlugin, silentLogger } from "./helpers/plugins.js";

const ADMIN = "admin-token-0123456789";

describe("reload under load", () => {
  let registry: PluginRegistry;
  let server: PlughostServer;
  let url: string;
  let dir: string;

  beforeAll(async () => {
    dir = copyPlugin("test/fixtures/c/http-echo");
    registry = new PluginRegistry({ logger: silentLogger(), grants: ["http:serve"], cacheDir: false });
    await registry.load(dir);
    server = await createServer(registry, { port: 0, env: { PLUGHOST_ADMIN_TOKEN: ADMIN } });
    url = await server.listen();
  });
  afterAll(async () => {
    await server?.close();
    await registry?.unloadAll();
  });

  it("swaps the routes with no failed request in a loop of requests during the reload", async () => {
    expect(await (await fetch(`${url}/plugins/http-echo/tag`)).json()).toEqual({ tag: "v1" });
    expect((await fetch(`${url}/plugins/http-echo/teapot`)).status).toBe(418);
    // Version 2: another config tag, /teapot gone, /brew added.
    const file = path.join(dir, "plugin.toml");
    writeFileSync(
      file,
      readFileSync(file, "utf8")
        .replace('version = "1.0.0"', 'version = "2.0.0"')
        .replace('tag = "v1"', 'tag = "v2"')
        .replace('path = "/teapot"', 'path = "/brew"'),
    );
    const changes: string[] = [];
    server.endpoints.on("changed", (e) => changes.push(`${e.plugin}:${e.endpoints.length}`));

    const results: { status: number; body: string }[] = [];
    const perClient: string[][] = [[], [], [], []];
    let reloading = true;
    // Four clients in a loop, from before the reload starts until after it has finished.
    const client = async (i: number) => {
      while (reloading) {
        const res = await fetch(`${url}/plugins/http-echo/tag`);
        const body = await res.text();
        results.push({ status: res.status, body });
        perClient[i]!.push(res.status === 200 ? (JSON.parse(body) as { tag: string }).tag : `status ${res.status}`);
      }
    };
    const clients = [client(0), client(1), client(2), client(3)];
    // Requests answered before the reload starts (waited for, not timed: a loaded machine may take long to connect).
    const answered = async (n: number) => {
      while (results.length < n) await new Promise((r) => setTimeout(r, 10));
    };
    await answered(8);
    const before = results.length;
    const reloaded = await fetch(`${url}/admin/api/plugins/http-echo/reload`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` } });
    expect(reloaded.status).toBe(200);
    expect(((await reloaded.json()) as { version: string }).version).toBe("2.0.0");
    const during = results.length;
    await answered(during + 8);
    reloading = false;
    await Promise.all(clients);

    expect(before).toBeGreaterThan(0);
    expect(results.length).toBeGreaterThan(during);
    const failed = results.filter((r) => r.status !== 200);
    expect(failed).toEqual([]);
    // Each client sees v1 answers, then v2 answers: the swap happens once and never goes back.
    for (const seen of perClient) {
      const firstV2 = seen.indexOf("v2");
      expect(firstV2, seen.join(" ")).toBeGreaterThan(0);
      expect(seen.slice(0, firstV2).every((t) => t === "v1") && seen.slice(firstV2).every((t) => t === "v2"), seen.join(" ")).toBe(true);
    }
    expect(changes).toEqual(["http-echo:9"]);
    // The routes follow the new manifest, with no restart of the server.
    expect((await fetch(`${url}/plugins/http-echo/teapot`)).status).toBe(404);
    expect((await fetch(`${url}/plugins/http-echo/brew`)).status).toBe(418);
  });
});
