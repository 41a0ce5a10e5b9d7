// Secrets: the plugin gets the value; logs (the host's logger and the log store), metrics, errors and
// registry.config never show it. A real C plugin (test/fixtures/c/config-echo) logs its own secret.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, SECRET_PLACEHOLDER } from "../src/config/index.js";
import { PluginRegistry } from "../src/runtime/registry.js";

const ECHO = path.resolve("test/fixtures/c/config-echo");
const TOKEN = "s3cr3t-t0ken-Value"; // from the host's resolver
const PASSWORD = 'pa"ss\\word-from-env'; // from the environment; JSON escapes it
const enc = new TextEncoder();
const dec = new TextDecoder();

let dataDir: string;
let lines: string[];
let registry: PluginRegistry;

beforeEach(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), "plughost-secrets-"));
  lines = [];
  process.env.ECHO_DB_PASSWORD = PASSWORD;
  registry = new PluginRegistry({
    cacheDir: false,
    dataDir,
    grants: ["metrics"],
    logger: pino({ level: "trace" }, { write: (line: string) => void lines.push(line) }),
    secrets: (name) => (name === "ECHO_TOKEN" ? TOKEN : undefined),
    config: { "config-echo": { token: { secret: "ECHO_TOKEN" }, server: { password: { secret: "ECHO_DB_PASSWORD" } } } },
  });
});
afterEach(async () => {
  await registry.close();
  delete process.env.ECHO_DB_PASSWORD;
  rmSync(dataDir, { recursive: true, force: true });
});

async function ask(hook: string, data = ""): Promise<string> {
  const out = await registry.hook("config-echo", hook, enc.encode(data));
  expect(out.ok).toBe(true);
  return dec.decode(out.data);
}

/** Every place the host shows the plugin: its logger's lines, the log store, metrics, registry.config. */
async function everythingShown(): Promise<string> {
  return [
    ...lines,
    JSON.stringify(registry.logs("config-echo")),
    JSON.stringify(registry.errors("config-echo")),
    await registry.metricsText(),
    JSON.stringify(registry.config("config-echo")),
    JSON.stringify(registry.info("config-echo")),
  ].join("\n");
}

describe("secrets", () => {
  it("reach the plugin, and never what the host shows, even when the plugin logs them", async () => {
    await registry.load(ECHO);
    // The plugin has the real values (init logged its whole config).
    const config = JSON.parse(await ask("config")) as { token: string; server: { password: string } };
    expect(config.token).toBe(TOKEN);
    expect(config.server.password).toBe(PASSWORD);
    expect(JSON.parse(await ask("value", "token"))).toBe(TOKEN);
    // It logs them every way it can, and labels a metric with one.
    await ask("log-config");
    await ask("log", `my token is ${TOKEN} and the password ${PASSWORD}`);
    await ask("metric", TOKEN);

    const view = registry.config("config-echo");
    expect(view.value.token).toBe(SECRET_PLACEHOLDER);
    expect((view.value.server as Record<string, unknown>).password).toBe(SECRET_PLACEHOLDER);
    expect(view.secrets).toEqual({ "/token": "ECHO_TOKEN", "/server/password": "ECHO_DB_PASSWORD" });
    expect(view.provenance["/token"]).toBe("host");

    const shown = await everythingShown();
    for (const secret of [TOKEN, PASSWORD, JSON.stringify(PASSWORD).slice(1, -1)]) expect(shown).not.toContain(secret);
    // The lines are there, with the placeholder.
    expect(lines.some((l) => l.includes(`my token is ${SECRET_PLACEHOLDER} and the password ${SECRET_PLACEHOLDER}`))).toBe(true);
    expect(lines.some((l) => l.includes("init {") && l.includes(SECRET_PLACEHOLDER))).toBe(true);
    expect(await registry.metricsText()).toContain(`what="${SECRET_PLACEHOLDER}"`);
  });

  it("an invalid secret is reported at its pointer without its value", async () => {
    await registry.close();
    registry = new PluginRegistry({
      cacheDir: false,
      dataDir,
      logger: pino({ level: "trace" }, { write: (line: string) => void lines.push(line) }),
      secrets: () => "short", // the schema wants 8 characters at least
      config: { "config-echo": { token: { secret: "ECHO_TOKEN" } } },
    });
    const err = await registry.load(ECHO).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.problems[0]).toMatchObject({ pointer: "/token", source: "host" });
    expect(e.message).not.toContain("short");
    expect(JSON.stringify(e.problems)).not.toContain("short");
    expect(lines.join("\n")).not.toContain('"short"');
  });

  it("an unset secret names the secret and what to do", async () => {
    await registry.close();
    registry = new PluginRegistry({ cacheDir: false, dataDir, logLevel: "silent", config: { "config-echo": { token: { secret: "NOT_SET_ANYWHERE_X" } } } });
    const e = (await registry.load(ECHO).then(() => undefined, (x: unknown) => x)) as ConfigError;
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toMatch(/\/token: secret NOT_SET_ANYWHERE_X is not set; set the environment variable NOT_SET_ANYWHERE_X or supply it through the host's secrets resolver \(from host\)/);
  });

  it("a live update that brings a new secret is redacted from then on, and an invalid one's error hides it", async () => {
    await registry.load(ECHO);
    process.env.ECHO_NEW_TOKEN = "brand-new-secret-value";
    try {
      await registry.setConfig("config-echo", { greeting: { secret: "ECHO_NEW_TOKEN" } });
      expect(JSON.parse(await ask("config")).greeting).toBe("brand-new-secret-value");
      await ask("log-config");
      process.env.ECHO_NEW_TOKEN = "tiny";
      const refused = await registry.setConfig("config-echo", { token: { secret: "ECHO_NEW_TOKEN" } }).then(() => undefined, (x: unknown) => x);
      expect(refused).toBeInstanceOf(ConfigError);
      expect((refused as ConfigError).message).not.toContain("tiny");
      const shown = await everythingShown();
      expect(shown).not.toContain("brand-new-secret-value");
      expect(shown).not.toContain(TOKEN);
    } finally {
      delete process.env.ECHO_NEW_TOKEN;
    }
  });
});
