// The hostile-plugin corpus (issue 3, item 7): plugins built from source with
// the C SDK (test/fixtures/c/hostile-*, built by scripts/setup/34-hostile-fixtures.mjs)
// that try to leave their directories, read variables and open sockets they
// were not given, and exhaust the host's memory, stack, callback table and log.
// Each attempt must be refused or fail with a typed error, the host must carry
// on and another plugin must keep answering; on both Wasm engines (wasmtime
// when its addon is built). Also the v8 engine's WASI guards directly
// (src/engines/v8/wasi.ts), for what they report as violations.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import {
  FuelExhausted,
  MissingImportError,
  PlughostError,
  PluginExited,
  PluginRegistry,
  PluginTrap,
  type PluginHandle,
} from "../src/index.js";
import { isInstanceFault } from "../src/contract/errors.js";
import { addonPath } from "../src/engines/wasmtime/addon.js";
import { wasmtimeEngine } from "../src/engines/wasmtime/engine.js";
import { HOST_WIT_VERSION } from "../src/contract/version.js";
import { WasiTrap, wasiImports } from "../src/engines/v8/wasi.js";
import { copyPlugin, enc, pluginDir } from "./helpers/plugins.js";
import { RecordingHost } from "./fixtures/wasmtime/helpers.js";

const FS = "test/fixtures/c/hostile-fs";
const RES = "test/fixtures/c/hostile-resources";
const SOCKET = "test/fixtures/c/hostile-socket";
const STREAM = "test/fixtures/c/hostile-stream";
const PROBE = "test/fixtures/c/probe";
const BAD_ABI = "test/fixtures/c/bad-abi";
const HELLO = "examples/c/hello";
const SECRET = "top secret: the host's own file";
/** What hostile-fs needs besides its directories (it uses stdio, a clock and random). */
const BASE = ["stdio", "clock", "random"];

// The set-up always builds the wasmtime addon (scripts/setup/45-wasmtime.mjs): its absence is a failure, not a skip.
it("has the wasmtime addon built, so every case below runs on both engines", () => {
  expect(existsSync(addonPath()), `${addonPath()} is missing: run node scripts/setup.mjs (npm test does)`).toBe(true);
});
const engines = ["v8", "wasmtime"] as const;

// A temp tree: the plugin gets data/ read-only and out/ read-write; secret.txt sits above them.
let tmp: string;
let data: string;
let out: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), "plughost-hostile-"));
  data = path.join(tmp, "data");
  out = path.join(tmp, "out");
  mkdirSync(data);
  mkdirSync(out);
  writeFileSync(path.join(tmp, "secret.txt"), SECRET);
  writeFileSync(path.join(data, "inside.txt"), "hello from inside");
  symlinkSync(path.join(tmp, "secret.txt"), path.join(data, "link-abs")); // absolute, out
  symlinkSync("../secret.txt", path.join(data, "link-rel")); // relative, out
  symlinkSync("..", path.join(data, "link-up")); // a directory out
  symlinkSync("inside.txt", path.join(data, "link-in")); // stays inside: allowed
  process.env.PLUGHOST_HOSTILE_SECRET = "s3cret";
  process.env.PLUGHOST_HOSTILE_OK = "fine";
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  delete process.env.PLUGHOST_HOSTILE_SECRET;
  delete process.env.PLUGHOST_HOSTILE_OK;
});

interface Line {
  msg: string;
  plugin?: string;
}
let registry: PluginRegistry;
let lines: Line[] = [];
const newRegistry = (engine: (typeof engines)[number], options: ConstructorParameters<typeof PluginRegistry>[0] = {}) => {
  lines = [];
  const logger = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l) as Line) });
  return (registry = new PluginRegistry({ engine, logger, cacheDir: false, ...options }));
};
afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
});

/** A copy of a fixture whose manifest declares `capabilities`. */
const withCapabilities = (rel: string, caps: string[]) =>
  copyPlugin(rel, (t) => t.replace(/^capabilities = .*$/m, "").replace(/^entry = .*$/m, (e) => `${e}\ncapabilities = ${JSON.stringify(caps)}`));

const gc = () => {
  const f = (globalThis as { gc?: () => void }).gc;
  expect(f, "run vitest with --expose-gc (vitest.config.ts does)").toBeTypeOf("function");
  f!();
  f!();
};

describe.each(engines)("hostile plugins on %s", (engine) => {

  describe("filesystem escapes", () => {
    let fs: PluginHandle;
    let hello: PluginHandle;
    const caps = () => [...BASE, `fs:read:${data}`, `fs:write:${out}`];
    const load = async () => {
      newRegistry(engine, { grants: { "hostile-fs": caps() } });
      fs = await registry.load(withCapabilities(FS, caps()));
      hello = await registry.load(pluginDir(HELLO));
    };
    const leaked = () => lines.some((l) => l.msg.includes("top secret"));
    const stillAnswering = async () => {
      expect(await fs.invoke("ok")).toBe(42);
      expect(await hello.invoke("greet", enc("still here"))).toBe(0);
    };

    it("reads inside its directory, directly and through a symlink that stays inside", async () => {
      await load();
      expect(await fs.invoke("read", enc(path.join(data, "inside.txt")))).toBe(17);
      expect(await fs.invoke("read", enc(path.join(data, "link-in")))).toBe(17);
      expect(lines.filter((l) => l.msg === "hello from inside")).toHaveLength(2);
    });

    it("refuses `..` out of the directory, through libc and through raw path_open", async () => {
      await load();
      expect(await fs.invoke("read", enc(`${data}/../secret.txt`))).toBeLessThan(0);
      expect(await fs.invoke("read", enc(`${data}/sub/../../secret.txt`))).toBeLessThan(0);
      expect(await fs.invoke("raw-open", enc("../secret.txt"))).toBeLessThan(0);
      expect(await fs.invoke("raw-open", enc("inside.txt/../../secret.txt"))).toBeLessThan(0);
      expect(await fs.invoke("write", enc(`${out}/../escaped.txt`))).toBeLessThan(0);
      expect(existsSync(path.join(tmp, "escaped.txt"))).toBe(false);
      expect(leaked()).toBe(false);
      // v8's guard records each refusal; wasmtime-wasi refuses natively and reports nothing.
      if (engine === "v8") expect(registry.violations("hostile-fs").map((v) => v.kind)).toContain("capability");
      await stillAnswering();
    });

    it("refuses absolute paths outside the grant, through libc and through raw path_open", async () => {
      await load();
      expect(await fs.invoke("read", enc(path.join(tmp, "secret.txt")))).toBeLessThan(0);
      expect(await fs.invoke("read", enc("/etc/passwd"))).toBeLessThan(0);
      // Raw: an absolute path handed to the host relative to the preopen.
      expect(await fs.invoke("raw-open", enc(path.join(tmp, "secret.txt")))).toBeLessThan(0);
      expect(await fs.invoke("raw-open", enc("/etc/passwd"))).toBeLessThan(0);
      expect(leaked()).toBe(false);
      expect(lines.some((l) => l.msg.includes("root:"))).toBe(false);
      await stillAnswering();
    });

    it("refuses symlinks that point out of the directory (absolute, relative, a directory)", async () => {
      await load();
      expect(await fs.invoke("read", enc(path.join(data, "link-abs")))).toBeLessThan(0);
      expect(await fs.invoke("read", enc(path.join(data, "link-rel")))).toBeLessThan(0);
      expect(await fs.invoke("read", enc(path.join(data, "link-up", "secret.txt")))).toBeLessThan(0);
      expect(await fs.invoke("raw-open", enc("link-abs"))).toBeLessThan(0);
      expect(await fs.invoke("raw-open", enc("link-up/secret.txt"))).toBeLessThan(0);
      expect(leaked()).toBe(false);
      await stillAnswering();
    });

    it("refuses writes under an fs:read grant, and allows them under fs:write", async () => {
      await load();
      expect(await fs.invoke("write", enc(path.join(data, "new.txt")))).toBeLessThan(0);
      expect(await fs.invoke("write", enc(path.join(data, "inside.txt")))).toBeLessThan(0);
      expect(await fs.invoke("mkdir", enc(path.join(data, "newdir")))).toBeLessThan(0);
      expect(await fs.invoke("raw-create", enc("raw.txt"))).toBeLessThan(0);
      expect(existsSync(path.join(data, "new.txt"))).toBe(false);
      expect(existsSync(path.join(data, "newdir"))).toBe(false);
      expect(existsSync(path.join(data, "raw.txt"))).toBe(false);
      expect(readFileSync(path.join(data, "inside.txt"), "utf8")).toBe("hello from inside");
      // The control: the fs:write dir takes the same write.
      expect(await fs.invoke("write", enc(path.join(out, "new.txt")))).toBe(0);
      expect(readFileSync(path.join(out, "new.txt"), "utf8")).toBe("pwned");
      await stillAnswering();
    });

    it("without an fs grant the plugin does not load, and the error names the capability", async () => {
      newRegistry(engine, { grants: BASE });
      const err = await registry.load(withCapabilities(FS, BASE)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MissingImportError);
      expect((err as MissingImportError).imports.join(" ")).toMatch(/wasi:filesystem\//);
      expect((err as Error).message).toMatch(/fs:read:<dir> or fs:write:<dir>/);
      hello = await registry.load(pluginDir(HELLO));
      expect(await hello.invoke("greet", enc("x"))).toBe(0);
    });
  });

  describe("environment", () => {
    it("shows only the granted variable, nothing else of the host's environment", async () => {
      const caps = [...BASE, `fs:read:${data}`, "env:PLUGHOST_HOSTILE_OK"];
      newRegistry(engine, { grants: { "hostile-fs": caps } });
      const fs = await registry.load(withCapabilities(FS, caps));
      expect(await fs.invoke("env", enc("PLUGHOST_HOSTILE_OK"))).toBe(4);
      expect(await fs.invoke("env", enc("PLUGHOST_HOSTILE_SECRET"))).toBe(-1);
      expect(await fs.invoke("env", enc("PATH"))).toBe(-1);
      expect(await fs.invoke("env", enc("HOME"))).toBe(-1);
      expect(await fs.invoke("environ")).toBe(1);
      expect(lines.some((l) => l.msg.includes("s3cret"))).toBe(false);
      expect(await fs.invoke("ok")).toBe(42);
    });
  });

  describe("isolation between plugins", () => {
    it("gives two live plugins their own directories and environment, nothing shared", async () => {
      const capsA = [...BASE, `fs:read:${data}`, "env:PLUGHOST_HOSTILE_OK"];
      const capsB = [...BASE, `fs:write:${out}`];
      newRegistry(engine, { grants: { "hostile-fs": capsA, "hostile-fs-b": capsB } });
      const a = await registry.load(withCapabilities(FS, capsA));
      const b = await registry.load(
        copyPlugin(FS, (t) => t.replace('name = "hostile-fs"', 'name = "hostile-fs-b"').replace(/^capabilities = .*$/m, `capabilities = ${JSON.stringify(capsB)}`)),
      );
      writeFileSync(path.join(out, "b-only.txt"), "b's file");
      // Interleaved: each sees its own grant only.
      expect(await a.invoke("read", enc(path.join(data, "inside.txt")))).toBe(17);
      expect(await b.invoke("read", enc(path.join(data, "inside.txt")))).toBeLessThan(0);
      expect(await b.invoke("read", enc(path.join(out, "b-only.txt")))).toBe(8);
      expect(await a.invoke("read", enc(path.join(out, "b-only.txt")))).toBeLessThan(0);
      expect(await a.invoke("env", enc("PLUGHOST_HOSTILE_OK"))).toBe(4);
      expect(await b.invoke("env", enc("PLUGHOST_HOSTILE_OK"))).toBe(-1);
      expect(await b.invoke("environ")).toBe(0);
      expect(await a.invoke("write", enc(path.join(out, "from-a.txt")))).toBeLessThan(0);
      expect(existsSync(path.join(out, "from-a.txt"))).toBe(false);
    });
  });

  describe("clocks and random", () => {
    for (const [missing, iface] of [
      ["clock", /wasi:clocks\/(monotonic|wall)-clock/],
      ["random", /wasi:random\/random/],
    ] as const) {
      it(`refuses a plugin that uses ${missing} without the grant, naming the capability; links it with the grant`, async () => {
        const caps = [...BASE.filter((c) => c !== missing), `fs:read:${data}`];
        newRegistry(engine, { grants: { "hostile-fs": caps } });
        const err = await registry.load(withCapabilities(FS, caps)).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(MissingImportError);
        expect((err as MissingImportError).imports.join(" ")).toMatch(iface);
        expect((err as Error).message).toMatch(new RegExp(`capability ${missing}`));
        newRegistry(engine, { grants: { "hostile-fs": [...caps, missing] } });
        const fs = await registry.load(withCapabilities(FS, [...caps, missing]));
        expect(await fs.invoke(missing === "clock" ? "time" : "random")).toBe(1);
      });
    }
  });

  describe("sockets", () => {
    it("refuses a plugin that imports wasi:sockets without a net:outbound grant, naming it", async () => {
      newRegistry(engine);
      const err = await registry.load(pluginDir(SOCKET)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MissingImportError);
      expect((err as MissingImportError).plugin).toBe("hostile-socket");
      expect((err as MissingImportError).imports.join(" ")).toMatch(/wasi:sockets\/tcp-create-socket/);
      expect((err as Error).message).toMatch(/net:outbound:<host:port>/);
      expect(registry.isLoaded("hostile-socket")).toBe(false);
      const hello = await registry.load(pluginDir(HELLO));
      expect(await hello.invoke("greet", enc("x"))).toBe(0);
    });

    describe("with net:outbound for one local port", () => {
      let server: Server;
      let port: number;
      beforeAll(async () => {
        server = createServer((c) => c.end());
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        port = (server.address() as { port: number }).port;
      });
      afterAll(() => new Promise<void>((r) => server.close(() => r())));
      const target = (ip: number[], p: number) => new Uint8Array([...ip, p & 0xff, p >> 8]);
      const ACCESS_DENIED = -1 - 1; // -1 - error-code, and access-denied is case 1

      it("connects to the granted host:port only; other ports and hosts are access-denied", async () => {
        const caps = [`net:outbound:127.0.0.1:${port}`];
        newRegistry(engine, { grants: { "hostile-socket": caps } });
        const dir = copyPlugin(SOCKET);
        const manifest = path.join(dir, "plugin.json");
        writeFileSync(manifest, JSON.stringify({ ...JSON.parse(readFileSync(manifest, "utf8")), capabilities: caps }));
        const sock = await registry.load(dir);
        const hello = await registry.load(pluginDir(HELLO));
        expect(await sock.invoke("socket")).toBeGreaterThan(0);
        expect(await sock.invoke("connect", target([127, 0, 0, 1], port))).toBe(0);
        expect(await sock.invoke("connect", target([127, 0, 0, 1], port === 65535 ? port - 1 : port + 1))).toBe(ACCESS_DENIED);
        expect(await sock.invoke("connect", target([10, 0, 0, 1], port))).toBe(ACCESS_DENIED);
        expect(await sock.invoke("connect", target([127, 0, 0, 2], 80))).toBe(ACCESS_DENIED);
        expect(await sock.invoke("ok")).toBe(42);
        expect(await hello.invoke("greet", enc("x"))).toBe(0);
      });
    });
  });

  describe("wasi:io streams", () => {
    it("survives a plugin that breaks the output-stream rules on stdout", async () => {
      newRegistry(engine, { grants: ["stdio"] });
      const stream = await registry.load(pluginDir(STREAM));
      const hello = await registry.load(pluginDir(HELLO));
      const attempt = async (event: string): Promise<number | "trap"> => {
        const r = await stream.invoke(event).catch((err: unknown) => {
          expect(err).toBeInstanceOf(PlughostError);
          expect(isInstanceFault(err)).toBe(true);
          expect((err as PlughostError).plugin).toBe("hostile-stream");
          return "trap" as const;
        });
        // Whatever the plugin gets, the host and the other plugins carry on.
        expect(await hello.invoke("greet", enc("x"))).toBe(0);
        expect(await stream.invoke("ok")).toBe(42);
        return r;
      };
      gc();
      const heap = process.memoryUsage().heapUsed;
      const outcomes = [await attempt("zeroes"), await attempt("big-write"), await attempt("big-blocking-write")];
      // v8: stdout is the plugin's logger, which takes any size and keeps at most one
      // truncated line; wasmtime traps write-zeroes and blocking writes past the permit.
      expect(outcomes).toEqual(engine === "v8" ? [0, 0, 0] : ["trap", 0, "trap"]);
      expect(lines.every((l) => l.msg.length <= 4096 + 20)).toBe(true);
      gc();
      expect(process.memoryUsage().heapUsed - heap).toBeLessThan(8 * 1024 * 1024);
    });
  });

  describe("stdio without the grant", () => {
    it("links closed stdout/stderr: the plugin loads and runs, its writes fail and reach no logger", async () => {
      newRegistry(engine);
      // hostile-stream without `stdio`: it imports wasi:cli/stdout and writes to it.
      const dir = copyPlugin(STREAM);
      const manifest = path.join(dir, "plugin.json");
      writeFileSync(manifest, JSON.stringify({ ...(JSON.parse(readFileSync(manifest, "utf8")) as object), capabilities: [] }));
      const stream = await registry.load(dir);
      expect(registry.info("hostile-stream").capabilities).not.toContain("stdio");
      const attempt = (event: string): Promise<number | "trap"> =>
        stream.invoke(event).catch((err: unknown) => {
          expect(isInstanceFault(err)).toBe(true);
          expect((err as PlughostError).plugin).toBe("hostile-stream");
          return "trap" as const;
        });
      // 1: the call got a stream-error (the stream is closed). wasmtime-wasi-io traps a
      // blocking-write-and-flush of more than 4096 bytes before it looks at the stream,
      // with or without `stdio` (see "wasi:io streams" above).
      expect(await attempt("big-write")).toBe(1);
      expect(await attempt("zeroes")).toBe(1);
      expect(await attempt("big-blocking-write")).toBe(engine === "v8" ? 1 : "trap");
      expect(await stream.invoke("ok")).toBe(42);
      expect(lines.filter((l) => l.msg.includes("xxxx") || l.msg.includes("yyyy"))).toEqual([]);
      // probe's libc imports stderr for its own faults; it loads and runs without `stdio` too.
      const probe = await registry.load(pluginDir(PROBE));
      expect(await probe.invoke("ok")).toBe(42);
    });
  });

  describe("the earlier corpus (probe, bad-abi) on this engine", () => {
    it("an infinite loop, exit(3), a malloc bomb, bad pointers and invalid UTF-8: typed errors, host and others fine", async () => {
      // probe's libc imports stderr; without `stdio` both engines link it closed.
      newRegistry(engine, { defaultLimits: { fuel: 5_000_000, memoryBytes: 4 * 1024 * 1024 } });
      const probe = await registry.load(pluginDir(PROBE));
      const bad = await registry.load(pluginDir(BAD_ABI));
      const hello = await registry.load(pluginDir(HELLO));
      const fault = async (p: Promise<unknown>) => {
        const err = await p.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PlughostError);
        expect(await hello.invoke("greet", enc("x"))).toBe(0);
        return err as PlughostError;
      };
      expect(await fault(probe.invoke("spin"))).toBeInstanceOf(FuelExhausted);
      expect(await fault(probe.invoke("exit"))).toBeInstanceOf(PluginExited);
      expect(await probe.invoke("grow", new Uint8Array([16]))).toBe(1); // malloc fails in the guest
      expect(await probe.invoke("ok")).toBe(42);
      for (const [call, code] of [
        [() => bad.hook("oob-hook"), "E_ABI_VIOLATION"],
        [() => bad.invoke("bad-utf8-log"), "E_ABI_VIOLATION"],
        [() => bad.invoke("oob-log"), "E_ABI_VIOLATION"],
      ] as const) {
        const err = await fault(call());
        expect(err.code, String(err.message)).toBe(code);
        expect(err.plugin).toBe("bad-abi");
      }
      const kinds = new Set(registry.violations("probe").map((v) => v.kind));
      expect(kinds.has("fuel")).toBe(true);
      expect(kinds.has("memory")).toBe(true);
    });
  });

  describe("resources", () => {
    it("refuses memory.grow past the cap, one page at a time and all at once, recording violations", async () => {
      newRegistry(engine, { defaultLimits: { memoryBytes: 4 * 1024 * 1024 } });
      const res = await registry.load(pluginDir(RES));
      const pages = await res.invoke("grow-pages");
      expect(pages).toBeGreaterThan(0);
      expect(pages).toBeLessThan(64); // 4 MiB = 64 pages, some already in use
      expect(await res.invoke("grow-pages")).toBe(0);
      expect(await res.invoke("grow-huge")).toBe(-1);
      const kinds = registry.violations("hostile-resources").map((v) => v.kind);
      expect(kinds.length).toBeGreaterThanOrEqual(3);
      expect(new Set(kinds)).toEqual(new Set(["memory"]));
      expect(await res.invoke("ok")).toBe(42);
    });

    it("stops unbounded recursion with a typed error, re-instantiates, and keeps others answering", async () => {
      newRegistry(engine, { defaultLimits: { fuel: 50_000_000 } });
      const res = await registry.load(pluginDir(RES));
      const hello = await registry.load(pluginDir(HELLO));
      const err = await res.invoke("recurse").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PlughostError);
      expect(err instanceof PluginTrap || err instanceof FuelExhausted).toBe(true);
      expect(isInstanceFault(err)).toBe(true);
      expect((err as PlughostError).plugin).toBe("hostile-resources");
      expect(registry.violationCount("hostile-resources")).toBe(1);
      expect(await res.invoke("ok")).toBe(42);
      expect(await hello.invoke("greet", enc("x"))).toBe(0);
    });

    it("stops unbounded recursion without fuel too: the stack overflow is a PluginTrap", async () => {
      newRegistry(engine);
      const res = await registry.load(pluginDir(RES));
      const err = await res.invoke("recurse").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PluginTrap);
      expect((err as PluginTrap).plugin).toBe("hostile-resources");
      expect(registry.violations("hostile-resources").map((v) => v.kind)).toEqual(["trap"]);
      expect(await res.invoke("ok")).toBe(42);
    });

    it("caps 100,000 callback registrations at 256, with host memory bounded", async () => {
      newRegistry(engine);
      const res = await registry.load(pluginDir(RES));
      const before = res.callbacks.length;
      gc();
      const heap = process.memoryUsage().heapUsed;
      expect(await res.invoke("many-callbacks")).toBe(256 - before);
      expect(res.callbacks).toHaveLength(256);
      // A second flood: the same names again are no-ops ("ok"), the rest refused; still 256.
      expect(await res.invoke("many-callbacks")).toBe(256 - before);
      expect(res.callbacks).toHaveLength(256);
      gc();
      expect(process.memoryUsage().heapUsed - heap).toBeLessThan(8 * 1024 * 1024);
      expect(await res.invoke("ok")).toBe(42);
    });

    it("rate-limits a million log messages from one call, with host memory bounded", async () => {
      newRegistry(engine);
      const res = await registry.load(pluginDir(RES));
      const hello = await registry.load(pluginDir(HELLO));
      gc();
      const heap = process.memoryUsage().heapUsed;
      const t0 = performance.now();
      expect(await res.invoke("log-flood")).toBe(0);
      const seconds = (performance.now() - t0) / 1000;
      gc();
      expect(process.memoryUsage().heapUsed - heap).toBeLessThan(8 * 1024 * 1024);
      const m = registry.metrics("hostile-resources");
      const flood = lines.filter((l) => l.msg.startsWith("flood")).length;
      if (engine === "v8") {
        // The host's token bucket: at most 1000 buffered, 1000 more a second, the rest counted as dropped.
        const kept = 2000 + Math.ceil(1000 * seconds) + 10;
        expect(m.logs).toBeLessThanOrEqual(kept);
        expect(m.logs + m.logsDropped).toBe(1_000_000);
        expect(flood).toBeLessThanOrEqual(kept);
      } else {
        // wasmtime buffers at most 1024 entries per call, then counts and drops, and says so.
        expect(flood).toBe(1024);
        expect(lines.some((l) => l.msg.includes("998976 log entries dropped"))).toBe(true);
        expect(m.logs).toBeLessThanOrEqual(1025);
        expect(m.logs + m.logsDropped).toBe(1_000_000);
      }
      expect(await hello.invoke("greet", enc("x"))).toBe(0);
      expect(await res.invoke("ok")).toBe(42);
    }, 60_000);
  });
});

describe("hostile plugins in worker isolation (v8)", () => {
  it("the fs and env guards hold inside a plugin's worker thread too", async () => {
    const caps = [...BASE, `fs:read:${data}`, "env:PLUGHOST_HOSTILE_OK"];
    newRegistry("v8", { grants: { "hostile-fs": caps }, isolation: "worker" });
    const fs = await registry.load(withCapabilities(FS, caps));
    expect(await fs.invoke("read", enc(path.join(data, "inside.txt")))).toBe(17);
    expect(await fs.invoke("read", enc(`${data}/../secret.txt`))).toBeLessThan(0);
    expect(await fs.invoke("raw-open", enc("link-rel"))).toBeLessThan(0);
    expect(await fs.invoke("write", enc(path.join(data, "new.txt")))).toBeLessThan(0);
    expect(existsSync(path.join(data, "new.txt"))).toBe(false);
    expect(await fs.invoke("env", enc("PLUGHOST_HOSTILE_SECRET"))).toBe(-1);
    expect(await fs.invoke("env", enc("PLUGHOST_HOSTILE_OK"))).toBe(4);
    expect(lines.some((l) => l.msg.includes("top secret"))).toBe(false);
  });
});

describe("a million log messages on wasmtime: the dropped ones are counted, as v8 counts its own", () => {
  // The per-call buffer keeps 1024 entries (native/wasmtime/src/output.rs); the other
  // 998,976 never reach `log`, so the engine hands their count to the host, which adds
  // it to the plugin's `logsDropped` (v8's rate limiter counts its drops there too).
  class CountingHost extends RecordingHost {
    dropped = 0;
    logsDropped(count: number): void {
      this.dropped += count;
    }
  }
  it("hands the host the count on both call paths, with no warning line in its place", async () => {
    const host = new CountingHost();
    const entryPath = path.join(pluginDir(RES), "plugin.wasm");
    const instance = await wasmtimeEngine.load({ plugin: "hostile-resources", entryPath, capabilities: [], limits: {}, host });
    try {
      expect(await instance.init(HOST_WIT_VERSION, "{}")).toBe(0);
      expect(await instance.onEvent("log-flood", new Uint8Array())).toBe(0);
      expect(host.logs.length + host.dropped).toBe(1_000_000);
      expect(host.dropped).toBe(998_976);
      expect(host.logs.every((l) => l.message.startsWith("flood"))).toBe(true);
      expect(instance.onEventSync!("log-flood", new Uint8Array())).toBe(0);
      expect(host.logs.length + host.dropped).toBe(2_000_000);
    } finally {
      await instance.dispose();
    }
  }, 60_000);
});

describe("v8 WASI guards report what they refuse", () => {
  const host = new RecordingHost();
  type Descriptor = {
    openAt(pathFlags: object, path: string, openFlags: object, flags: object): unknown;
    createDirectoryAt(path: string): void;
    writeViaStream(offset: bigint): OutputStream;
  };
  type OutputStream = {
    checkWrite(): bigint;
    write(b: Uint8Array): void;
    writeZeroes(n: bigint): void;
    splice(src: unknown, n: bigint): bigint;
    subscribe(): unknown;
  };
  const preopen = async (caps: string[], denied: string[]): Promise<Descriptor> => {
    const imports = await wasiImports(["wasi:filesystem/preopens@0.2.0", "wasi:filesystem/types@0.2.0"], caps, host, tmp, (d) => denied.push(d));
    const dirs = (imports["wasi:filesystem/preopens"] as { getDirectories(): [Descriptor, string][] }).getDirectories();
    expect(dirs).toHaveLength(1);
    return dirs[0]![0];
  };
  const attempt = (f: () => unknown): unknown => {
    try {
      f();
      return "ok";
    } catch (e) {
      return e;
    }
  };

  it("refuses escapes with not-permitted and reports each one", async () => {
    const denied: string[] = [];
    const d = await preopen([`fs:read:${data}`], denied);
    const follow = { symlinkFollow: true };
    expect(attempt(() => d.openAt(follow, "../secret.txt", {}, { read: true }))).toBe("not-permitted");
    expect(attempt(() => d.openAt(follow, path.join(tmp, "secret.txt"), {}, { read: true }))).toBe("not-permitted");
    expect(attempt(() => d.openAt(follow, "link-abs", {}, { read: true }))).toBe("not-permitted");
    expect(attempt(() => d.openAt(follow, "link-rel", {}, { read: true }))).toBe("not-permitted");
    expect(attempt(() => d.openAt(follow, "link-up/secret.txt", {}, { read: true }))).toBe("not-permitted");
    expect(denied).toHaveLength(5);
    expect(denied[0]).toMatch(/open "\.\.\/secret\.txt" under .*data: "\.\.\/secret\.txt" leaves the directory through "\.\."/);
    expect(denied[2]).toMatch(/symlink link-abs -> .*secret\.txt, an absolute path/);
    // Inside, and a child descriptor stays confined to its own directory.
    const child = d.openAt({}, ".", { directory: true }, { read: true }) as Descriptor;
    expect(attempt(() => child.openAt(follow, "../secret.txt", {}, { read: true }))).toBe("not-permitted");
    expect(attempt(() => d.openAt(follow, "link-in", {}, { read: true }))).not.toBe("not-permitted");
    expect(denied).toHaveLength(6);
  });

  it("refuses writes under fs:read with read-only and reports them", async () => {
    const denied: string[] = [];
    const d = await preopen([`fs:read:${data}`], denied);
    expect(attempt(() => d.openAt({}, "w.txt", { create: true }, { write: true }))).toBe("read-only");
    expect(attempt(() => d.openAt({}, "inside.txt", { truncate: true }, { read: true }))).toBe("read-only");
    expect(attempt(() => d.createDirectoryAt("sub"))).toBe("read-only");
    expect(denied).toHaveLength(3);
    expect(denied[0]).toMatch(/the grant is fs:read, not fs:write/);
    expect(existsSync(path.join(data, "w.txt"))).toBe(false);
    expect(readFileSync(path.join(data, "inside.txt"), "utf8")).toBe("hello from inside");
  });

  it("traps stream misuse the shim would answer with process.exit(1): writes past check-write, huge write-zeroes, foreign splices", async () => {
    const denied: string[] = [];
    const imports = await wasiImports(
      ["wasi:filesystem/preopens", "wasi:filesystem/types", "wasi:cli/stdout", "wasi:cli/stdin", "wasi:io/streams"],
      [`fs:write:${out}`, "stdio"],
      host,
      tmp,
      (d) => denied.push(d),
    );
    const dirs = (imports["wasi:filesystem/preopens"] as { getDirectories(): [Descriptor, string][] }).getDirectories();
    const file = dirs[0]![0].openAt({}, "stream.txt", { create: true }, { write: true }) as Descriptor;
    const s = file.writeViaStream(0n);
    const stdin = (imports["wasi:cli/stdin"] as { getStdin(): unknown }).getStdin();
    const stdout = (imports["wasi:cli/stdout"] as { getStdout(): OutputStream }).getStdout();
    const cap = Number(s.checkWrite());
    expect(cap).toBeGreaterThan(0);
    expect(attempt(() => s.write(new Uint8Array(cap + 1)))).toBeInstanceOf(WasiTrap);
    expect(attempt(() => s.writeZeroes(1n << 40n))).toBeInstanceOf(WasiTrap);
    expect(attempt(() => s.splice(stdin, 10n))).toEqual({ tag: "closed" });
    expect(attempt(() => s.write(enc("fine")))).toBe("ok");
    // Our own stdout stream has no shim id: its inherited methods would reach the worker.
    expect(attempt(() => stdout.writeZeroes(1n << 40n))).toBe("ok");
    expect(attempt(() => stdout.splice(stdin, 10n))).toEqual({ tag: "closed" });
    expect(attempt(() => stdout.subscribe())).toBeInstanceOf(WasiTrap);
    expect(denied).toEqual([]);
  });

  describe("sockets", () => {
    let server: Server;
    let port: number;
    beforeAll(async () => {
      server = createServer((s) => s.end());
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    type Socket = { startConnect(network: unknown, addr: unknown): void; startListen(): void };
    const sockets = async (caps: string[], denied: string[]) => {
      const ifaces = ["instance-network", "network", "tcp", "tcp-create-socket", "ip-name-lookup"].map((i) => `wasi:sockets/${i}@0.2.0`);
      const imports = await wasiImports(ifaces, caps, host, tmp, (d) => denied.push(d));
      const network = (imports["wasi:sockets/instance-network"] as { instanceNetwork(): unknown }).instanceNetwork();
      const create = () => (imports["wasi:sockets/tcp-create-socket"] as { createTcpSocket(f: string): Socket }).createTcpSocket("ipv4");
      const lookup = imports["wasi:sockets/ip-name-lookup"] as { resolveAddresses(n: unknown, name: string): unknown };
      return { network, create, lookup };
    };
    const addr = (p: number) => ({ tag: "ipv4", val: { port: p, address: [127, 0, 0, 1] } });

    it("connects only to the granted host:port, never listens, looks up only granted names", async () => {
      const denied: string[] = [];
      const { network, create, lookup } = await sockets([`net:outbound:127.0.0.1:${port}`], denied);
      expect(attempt(() => create().startConnect(network, addr(port)))).toBe("ok");
      expect(attempt(() => create().startConnect(network, addr(port + 1)))).toBe("access-denied");
      expect(attempt(() => create().startConnect(network, { tag: "ipv4", val: { port, address: [10, 0, 0, 1] } }))).toBe("access-denied");
      expect(attempt(() => create().startListen())).toBe("access-denied");
      expect(attempt(() => lookup.resolveAddresses(network, "example.com"))).toBe("access-denied");
      expect(denied).toHaveLength(4);
      expect(denied[0]).toMatch(new RegExp(`connect to 127\\.0\\.0\\.1:${port + 1}: needs net:outbound`));
    });
  });
});
