// The admin page in a real headless Chromium (Debian's chromium through playwright-core), against
// a real server with real C plugins loaded in a real registry.
import { mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { chromium, type Browser, type Page } from "playwright-core";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PluginRegistry } from "../src/index.js";
import { adminPage } from "../src/serve/admin-page.js";
import { enc, pluginDir, root } from "./helpers/plugins.js";

const CHROMIUM = process.env.PLUGHOST_CHROMIUM ?? "/usr/bin/chromium";
const ADMIN_TOKEN = "admin-token-for-the-page-test";
const READ_TOKEN = "read-token-for-the-page-test";
const SCREENSHOT = path.join(root, "test", "artifacts", "admin-page.png");

// Log lines the registry's logger wrote, to answer the logs endpoint.
const logLines: { plugin?: string; level: number; msg: string; time: number }[] = [];
const LEVELS: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };

/** A stand-in for the serve part's admin API (same routes and JSON shapes), with the page registered at /admin. */
async function standInServer(registry: PluginRegistry): Promise<FastifyInstance> {
  const app = Fastify();
  const role = (req: FastifyRequest): "admin" | "read" | undefined => {
    const h = req.headers.authorization ?? "";
    return h === `Bearer ${ADMIN_TOKEN}` ? "admin" : h === `Bearer ${READ_TOKEN}` ? "read" : undefined;
  };
  await app.register(
    async (api) => {
      api.addHook("onRequest", async (req, reply) => {
        const r = role(req);
        if (!r) return reply.code(401).send({ code: "E_UNAUTHORIZED", message: "a valid bearer token is required" });
        if (req.method !== "GET" && r !== "admin") return reply.code(403).send({ code: "E_FORBIDDEN", message: "this token may only read" });
      });
      api.get("/plugins", async () => ({
        plugins: registry.list().map((p) => {
          const m = registry.metrics(p.name);
          return {
            name: p.name,
            version: p.version,
            state: p.state,
            engine: p.engine,
            health: { status: m.faults > 0 ? "warning" : "healthy", reasons: m.faults > 0 ? [`${m.faults} faults`] : [] },
            calls: m.calls,
            errors: m.errors,
            latency: { p50Ns: 0, p99Ns: 0 },
          };
        }),
      }));
      api.get<{ Params: { name: string } }>("/plugins/:name/violations", async (req) => ({ violations: registry.violations(req.params.name) }));
      api.get<{ Params: { name: string } }>("/plugins/:name/logs", async (req) => ({
        logs: logLines.filter((l) => l.plugin === req.params.name).map((l) => ({ time: l.time, level: LEVELS[l.level], message: l.msg })),
      }));
      for (const action of ["suspend", "resume", "reload"] as const) {
        api.post<{ Params: { name: string } }>(`/plugins/:name/${action}`, async (req, reply) => {
          try {
            if (action === "reload") await registry.reload(req.params.name);
            else registry[action](req.params.name);
            return { name: req.params.name, state: registry.info(req.params.name).state };
          } catch (err) {
            return reply.code(409).send({ code: (err as { code?: string }).code, message: (err as Error).message });
          }
        });
      }
    },
    { prefix: "/admin/api" },
  );
  await app.register(adminPage, { prefix: "/admin", refreshMs: 500 });
  return app;
}

let registry: PluginRegistry;
let server: FastifyInstance;
let base: string;
let browser: Browser;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) logLines.push(JSON.parse(line) as (typeof logLines)[number]);
      done();
    },
  });
  registry = new PluginRegistry({ logger: pino({ level: "info" }, sink), cacheDir: false });
  await registry.load(pluginDir("examples/c/hello"));
  await registry.load(pluginDir("examples/c/transform"));
  await registry.load(pluginDir("test/fixtures/c/probe"));
  // Real traffic: calls, a log line, and a trap (an error, a fault and a violation).
  for (let i = 0; i < 5; i++) await registry.invoke("hello-c", "greet", enc("page"));
  await registry.invoke("probe", "log");
  await registry.invoke("probe", "trap").catch(() => undefined);
  server = await standInServer(registry);
  base = await server.listen({ host: "127.0.0.1", port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await registry?.unloadAll().catch(() => undefined);
});

const row = (page: Page, plugin: string) => page.locator(`#plugins tbody tr[data-plugin="${plugin}"]`);
const cell = (page: Page, plugin: string, col: string) => row(page, plugin).locator(`td[data-col="${col}"]`);

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${base}/admin`);
  await page.locator("#token").fill(token);
  await page.locator("#login-form button[type=submit]").click();
}

describe("admin page in headless Chromium", () => {
  it("refuses a wrong token with the sign-in error and shows no plugins", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, "not-a-token");
    await page.locator("#login-error").waitFor({ state: "visible" });
    expect(await page.locator("#login-error").textContent()).toContain("401");
    expect(await page.locator("#dashboard").isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem("plughost.admin.token"))).toBeNull();
    await context.close();
  });

  it("signs in, lists the plugins, suspends and resumes one, and shows violations and logs", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await signIn(page, ADMIN_TOKEN);

    await row(page, "hello-c").waitFor();
    expect((await page.locator("#plugins tbody tr").evaluateAll((rs) => rs.map((r) => r.getAttribute("data-plugin")))).sort()).toEqual(
      ["hello-c", "probe", "transform-c"],
    );
    expect(await cell(page, "hello-c", "state").textContent()).toBe("active");
    expect(await cell(page, "hello-c", "version").textContent()).toBe("0.1.0");
    expect(Number((await cell(page, "hello-c", "calls").textContent())?.replace(/,/g, ""))).toBe(registry.metrics("hello-c").calls);
    expect(Number(await cell(page, "probe", "errors").textContent())).toBeGreaterThanOrEqual(1);
    expect(await cell(page, "probe", "health").textContent()).toBe("warning");
    expect(await page.evaluate(() => sessionStorage.getItem("plughost.admin.token"))).toBe(ADMIN_TOKEN);

    // Suspend: the server's registry and the page both show it.
    expect(await row(page, "hello-c").locator('button[data-action="resume"]').isDisabled()).toBe(true);
    await row(page, "hello-c").locator('button[data-action="suspend"]').click();
    await expect.poll(() => cell(page, "hello-c", "state").textContent()).toBe("suspended");
    expect(registry.info("hello-c").state).toBe("suspended");
    expect(await row(page, "hello-c").locator('button[data-action="suspend"]').isDisabled()).toBe(true);

    await row(page, "hello-c").locator('button[data-action="resume"]').click();
    await expect.poll(() => cell(page, "hello-c", "state").textContent()).toBe("active");
    expect(registry.info("hello-c").state).toBe("active");

    // Reload swaps the instance behind the same name; the page reports it done.
    const reloaded: string[] = [];
    registry.on("reloaded", (e: { plugin: string }) => reloaded.push(e.plugin));
    await row(page, "transform-c").locator('button[data-action="reload"]').click();
    await expect.poll(() => page.locator("#notice.done").textContent()).toBe("transform-c: reload done");
    expect(reloaded).toEqual(["transform-c"]);
    expect(await cell(page, "transform-c", "state").textContent()).toBe("active");

    // The periodic refresh picks up calls made after the page loaded.
    const before = registry.metrics("transform-c").calls;
    await registry.runHook("transform", enc("refresh me"));
    await expect.poll(() => cell(page, "transform-c", "calls").textContent(), { timeout: 5000 }).toBe(String(before + 1));

    // The probe's trap and log line, in its detail panel.
    await row(page, "probe").locator('button[data-action="select"]').click();
    await page.locator("#detail").waitFor({ state: "visible" });
    expect(await page.locator("#detail-name").textContent()).toBe("probe");
    expect(await page.locator("#detail-health").textContent()).toBe("health warning: 1 faults");
    await expect.poll(() => page.locator("#violations li").allTextContents()).toEqual([expect.stringContaining("trap")]);
    expect((await page.locator("#logs li").allTextContents()).some((t) => t.includes("info") && t.includes("tick"))).toBe(true);

    await row(page, "hello-c").locator('button[data-action="suspend"]').hover();
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);

    // Sign out forgets the token.
    await page.locator("#logout").click();
    expect(await page.locator("#login").isVisible()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem("plughost.admin.token"))).toBeNull();
    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it("lets a read token see the plugins but shows its actions as refused (403)", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, READ_TOKEN);
    await row(page, "hello-c").waitFor();
    await row(page, "hello-c").locator('button[data-action="suspend"]').click();
    await page.locator("#notice.refused").waitFor({ state: "visible" });
    expect(await page.locator("#notice").textContent()).toContain("403");
    expect(registry.info("hello-c").state).toBe("active");
    // Every action button is now disabled for this session.
    await expect.poll(() => page.locator("td.actions button:not([disabled])").count()).toBe(0);
    expect(await page.locator("#role").textContent()).toContain("read-only");
    await context.close();
  });

  it("serves the page and its assets with a content security policy", async () => {
    for (const [url, type] of [
      ["/admin", "text/html"],
      ["/admin/", "text/html"],
      ["/admin/admin.js", "text/javascript"],
      ["/admin/admin.css", "text/css"],
    ] as const) {
      const res = await fetch(base + url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain(type);
      expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    }
  });
});
