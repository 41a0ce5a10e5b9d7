// The admin page in a real headless Chromium (Debian's chromium through playwright-core), against
// a real server with real C plugins loaded in a real registry.
import { mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PluginRegistry } from "../src/index.js";
import { createServer, type PlughostServer } from "../src/serve/server.js";
import { enc, pluginDir, root, silentLogger } from "./helpers/plugins.js";

const CHROMIUM = process.env.PLUGHOST_CHROMIUM ?? "/usr/bin/chromium";
const ADMIN_TOKEN = "admin-token-for-the-page-test";
const READ_TOKEN = "read-token-for-the-page-test";
const SCREENSHOT = path.join(root, "test", "artifacts", "admin-page.png");

let registry: PluginRegistry;
let server: PlughostServer;
let base: string;
let browser: Browser;

beforeAll(async () => {
  // Every call timed, so the latency columns have figures after a handful of calls.
  registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, metrics: { latencySampleEvery: 1 } });
  await registry.load(pluginDir("examples/c/hello"));
  await registry.load(pluginDir("examples/c/transform"));
  await registry.load(pluginDir("test/fixtures/c/probe"));
  // Real traffic: calls, a log line, and a trap (an error, a fault and a violation).
  for (let i = 0; i < 5; i++) await registry.invoke("hello-c", "greet", enc("page"));
  await registry.invoke("probe", "log");
  await registry.invoke("probe", "trap").catch(() => undefined);
  server = await createServer(registry, {
    host: "127.0.0.1",
    port: 0,
    tokens: [
      { token: ADMIN_TOKEN, roles: ["admin"] },
      { token: READ_TOKEN, roles: ["read"] },
    ],
    env: {},
  });
  base = await server.listen();
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
    expect(await cell(page, "probe", "health").textContent()).toBe(registry.health("probe").status);
    expect(await cell(page, "hello-c", "health").textContent()).toBe("healthy");
    expect(registry.latency("hello-c").count).toBeGreaterThanOrEqual(5);
    expect(await cell(page, "hello-c", "p50").textContent()).toMatch(/^[\d.]+ (ns|\u00b5s|ms|s)$/);
    expect(await cell(page, "hello-c", "p99").textContent()).toMatch(/^[\d.]+ (ns|\u00b5s|ms|s)$/);
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
    const health = registry.health("probe");
    expect(health.status).not.toBe("healthy");
    expect(await page.locator("#detail-health").textContent()).toBe(`health ${health.status}: ${health.reasons.join("; ")}`);
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

  it("lets a read token see the plugins but shows its actions as refused (403), and signs out on a later 401", async () => {
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

    // A token that stops working mid-session (401 on a refresh) brings the sign-in form back.
    await page.evaluate(() => sessionStorage.setItem("plughost.admin.token", "a-token-the-server-never-had"));
    await page.locator("#login").waitFor({ state: "visible", timeout: 10_000 });
    expect(await page.locator("#login-error").textContent()).toContain("401");
    expect(await page.locator("#dashboard").isHidden()).toBe(true);
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
