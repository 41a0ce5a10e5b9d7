// The WASI resource limits (issue 20, item 5): open files, sockets and the bytes written into each fs:write
// directory, per plugin instance, on the v8 engine (in process and in a worker) and on wasmtime. Real C guests
// (test/fixtures/c/hostile-wasi-limits, hostile-socket; built by scripts/setup/34-hostile-fixtures.mjs) hold
// files and sockets open without closing them and write without end. Past each limit the guest gets an error
// code (ENOMEM, new-socket-limit, EDQUOT), the host records a "resource" violation carrying the resource, used
// and limit, the plugin keeps answering, and what it gave back can be taken again.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PluginRegistry, type Violation } from "../src/index.js";
import { addonPath } from "../src/engines/wasmtime/addon.js";
import { copyPlugin, enc, silentLogger } from "./helpers/plugins.js";

const LIMITS = "test/fixtures/c/hostile-wasi-limits";
const SOCKET = "test/fixtures/c/hostile-socket";
// wasi-libc's errno values (libc-bottom-half/headers/public/__errno_values.h).
const ENOMEM = 48;
const EDQUOT = 19;
// wasi:sockets/network error-code `new-socket-limit` is case 10; the fixture answers -1000 * held - 1 - code.
const NEW_SOCKET_LIMIT = 10;

it("has the wasmtime addon built, so every case below runs on both engines", () => {
  expect(existsSync(addonPath()), `${addonPath()} is missing: run node scripts/setup.mjs (npm test does)`).toBe(true);
});

const MODES = [
  ["v8 in process", { engine: "v8" }],
  ["v8 worker", { engine: "v8", isolation: "worker" }],
  ["wasmtime", { engine: "wasmtime" }],
] as const;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), "plughost-wasi-limits-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let registry: PluginRegistry | undefined;
afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
  registry = undefined;
});

/** A fresh directory under the test's temp dir. */
let n = 0;
const freshDir = (name: string): string => {
  const d = path.join(tmp, `${name}-${++n}`);
  mkdirSync(d);
  return d;
};

/** hostile-wasi-limits with these capabilities and a `[limits]` table. */
const limitsPlugin = (caps: string[], limits: string): string =>
  copyPlugin(LIMITS, (t) => `${t.replace(/^capabilities = .*$/m, `capabilities = ${JSON.stringify(caps)}`)}\n[limits]\n${limits}\n`);

describe.each(MODES)("WASI resource limits on %s", (_mode, modeOptions) => {
  const host = (grants: Record<string, string[]>, options: Partial<ConstructorParameters<typeof PluginRegistry>[0]> = {}) => {
    registry = new PluginRegistry({ ...modeOptions, logger: silentLogger(), cacheDir: false, grants, ...options });
    const violations: Violation[] = [];
    registry.on("violation", (v: Violation) => void violations.push(v));
    return { registry, violations };
  };

  it("open-files: the file past the limit is refused with ENOMEM and a resource violation; closed files are given back", async () => {
    const out = freshDir("files");
    const caps = ["clock", `fs:write:${out}`];
    const { registry: r, violations } = host({ "hostile-wasi-limits": caps });
    const p = await r.load(limitsPlugin(caps, "open-files = 8"));
    expect(r.info("hostile-wasi-limits").limits.openFiles).toBe(8);

    expect(await p.invoke("hold-files", enc(`20:${out}`))).toBe(8);
    expect(await p.invoke("errno")).toBe(ENOMEM);
    const refused = violations.filter((v) => v.kind === "resource");
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ plugin: "hostile-wasi-limits", resource: "open-files", used: 9, limit: 8 });
    expect(refused[0]!.detail).toMatch(/limits\.openFiles/);
    expect(r.violations("hostile-wasi-limits").at(-1)?.usage).toEqual({ resource: "open-files", used: 9, limit: 8 });

    // Closing gives them back: eight more open, and the ninth is refused again.
    expect(await p.invoke("close-all")).toBe(8);
    expect(await p.invoke("hold-files", enc(`8:${out}`))).toBe(8);
    expect(await p.invoke("errno")).toBe(0);
    expect(await p.invoke("hold-files", enc(`1:${out}`))).toBe(8);
    expect(await p.invoke("errno")).toBe(ENOMEM);
    expect(violations.filter((v) => v.kind === "resource")).toHaveLength(2);
    expect(await p.invoke("ok")).toBe(42);
    expect(r.info("hostile-wasi-limits").state).toBe("active");
  });

  it("fs-write-bytes: writes past the quota fail with EDQUOT, nothing past it reaches the disk, and each directory has its own quota", async () => {
    const a = freshDir("quota-a");
    const b = freshDir("quota-b");
    const caps = ["clock", `fs:write:${a}`, `fs:write:${b}`];
    const { registry: r, violations } = host({ "hostile-wasi-limits": caps });
    const p = await r.load(limitsPlugin(caps, `fs-write-bytes = "100KiB"`));
    const quota = 100 * 1024;
    expect(r.info("hostile-wasi-limits").limits.fsWriteBytes).toBe(quota);

    const written = await p.invoke("write", enc(`1000000:${a}/big`));
    expect(await p.invoke("errno")).toBe(EDQUOT);
    expect(written).toBeGreaterThanOrEqual(64 * 1024); // the first 64 KiB write fitted
    // The refused write(2) may have put part of its bytes down first (the adapter writes 4 KiB at a time): never past the quota.
    const size = statSync(path.join(a, "big")).size;
    expect(size).toBeGreaterThanOrEqual(written);
    expect(size).toBeLessThanOrEqual(quota);
    const refused = violations.filter((v) => v.kind === "resource");
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused[0]).toMatchObject({ plugin: "hostile-wasi-limits", resource: "fs-write-bytes", limit: quota });
    expect(refused[0]!.used).toBeGreaterThan(quota);
    expect(refused[0]!.detail).toContain(a);

    // The other directory's quota is untouched: 90 KiB fit there.
    expect(await p.invoke("write", enc(`${90 * 1024}:${b}/small`))).toBe(90 * 1024);
    expect(await p.invoke("errno")).toBe(0);
    expect(statSync(path.join(b, "small")).size).toBe(90 * 1024);
    // The first one stays full: not one more byte.
    expect(await p.invoke("write", enc(`${quota}:${a}/more`))).toBeLessThanOrEqual(quota - size);
    expect(await p.invoke("errno")).toBe(EDQUOT);
    expect(statSync(path.join(a, "more")).size).toBeLessThanOrEqual(quota - size);
    expect(await p.invoke("ok")).toBe(42);
  });

  it("connections: the socket past the limit is new-socket-limit with a resource violation; dropped sockets are given back", async () => {
    const caps = ["net:outbound:127.0.0.1:9"];
    const { registry: r, violations } = host({ "hostile-socket": caps });
    const dir = copyPlugin(SOCKET);
    const manifest = path.join(dir, "plugin.json");
    writeFileSync(manifest, JSON.stringify({ ...JSON.parse(readFileSync(manifest, "utf8")), capabilities: caps, limits: { connections: 4 } }));
    const p = await r.load(dir);
    expect(r.info("hostile-socket").limits.connections).toBe(4);

    expect(await p.invoke("hold-sockets", new Uint8Array([10]))).toBe(-1000 * 4 - 1 - NEW_SOCKET_LIMIT);
    const refused = violations.filter((v) => v.kind === "resource");
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ plugin: "hostile-socket", resource: "connections", used: 5, limit: 4 });
    expect(refused[0]!.detail).toMatch(/limits\.connections/);

    expect(await p.invoke("drop-sockets")).toBe(4);
    expect(await p.invoke("hold-sockets", new Uint8Array([4]))).toBe(4);
    expect(await p.invoke("ok")).toBe(42);
  });

  it("the host's maxLimits caps what a manifest asks for, and a plugin that asks for nothing gets the finite defaults", async () => {
    const out = freshDir("max");
    const caps = ["clock", `fs:write:${out}`];
    const { registry: r } = host({ "hostile-wasi-limits": caps }, { maxLimits: { openFiles: 3 } });
    const p = await r.load(limitsPlugin(caps, "open-files = 100"));
    expect(r.info("hostile-wasi-limits").limits).toMatchObject({ openFiles: 3, connections: 64, fsWriteBytes: 1024 ** 3 });
    expect(await p.invoke("hold-files", enc(`10:${out}`))).toBe(3);
    expect(await p.invoke("errno")).toBe(ENOMEM);
  });
});
