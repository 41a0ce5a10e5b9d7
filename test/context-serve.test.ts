/**
 * `plughost serve` gives each HTTP request's id to the plugin endpoint's call as its `request-id` metadata, which
 * the plugin reads as the context key `request.id` (docs/context.md): the caller's `x-request-id` when it sends a
 * sensible one, else a new UUID; the answer carries it back in `x-request-id`. Checked with a real C plugin
 * (test/fixtures/c/context-writer, hook http.ctx) on every path a request can take: v8 in process (the synchronous
 * fast path, with and without per-call metrics) and in a worker.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PluginRegistry } from "../src/index.js";
import type { Isolation } from "../src/engines/engine.js";
import { createServer, type PlughostServer } from "../src/serve/server.js";
import { copyPlugin, silentLogger } from "./helpers/plugins.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const cleanup: string[] = [];
const open: { server: PlughostServer; registry: PluginRegistry }[] = [];
afterEach(async () => {
  for (const { server, registry } of open.splice(0)) {
    await server.close();
    await registry.close();
  }
  for (const d of cleanup.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** context-writer with an endpoint GET /ctx served by its hook http.ctx. */
function endpointPlugin(): string {
  const dir = copyPlugin("test/fixtures/c/context-writer", (text) =>
    text.replace(/^capabilities = .*$/m, 'capabilities = ["http:serve", "context:request.id"]') + '\n[[api.endpoints]]\nmethod = "GET"\npath = "/ctx"\nhandler = "http.ctx"\n',
  );
  cleanup.push(dir);
  return dir;
}

async function serve(isolation: Isolation, metrics: boolean): Promise<string> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "plughost-context-serve-"));
  cleanup.push(dataDir);
  const registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, dataDir, isolation, metrics, grants: ["http:serve", "context:*"] });
  await registry.load(endpointPlugin());
  const server = await createServer(registry, { port: 0, env: {} });
  open.push({ server, registry });
  return server.listen();
}

describe.each<[Isolation, boolean]>([
  ["in-process", false],
  ["in-process", true],
  ["worker", false],
])("request.id over HTTP (v8 %s, metrics %s)", (isolation, metrics) => {
  it("is the caller's x-request-id, or a new UUID, and comes back in x-request-id", async () => {
    const url = await serve(isolation, metrics);
    const given = await fetch(`${url}/plugins/context-writer/ctx`, { headers: { "x-request-id": "trace-abc-123" } });
    expect(given.status).toBe(200);
    expect(await given.text()).toBe('"trace-abc-123"');
    expect(given.headers.get("x-request-id")).toBe("trace-abc-123");

    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/plugins/context-writer/ctx`);
      const id = JSON.parse(await res.text()) as string;
      expect(id).toMatch(UUID);
      expect(res.headers.get("x-request-id")).toBe(id);
      ids.add(id);
    }
    expect(ids.size).toBe(3); // one per request

    // An unusable x-request-id (too long, or with spaces) is replaced by a new one.
    for (const bad of ["x".repeat(129), "has space"]) {
      const res = await fetch(`${url}/plugins/context-writer/ctx`, { headers: { "x-request-id": bad } });
      expect(JSON.parse(await res.text())).toMatch(UUID);
    }
  });
});
