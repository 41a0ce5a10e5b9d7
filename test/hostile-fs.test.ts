// Hostile filesystem plugins, issue 11: a hard link that turns fs:read into
// write access, a symlink pointing out of an fs:write grant left on the host's
// disk, and a huge WASI path that costs the host unbounded time. The guest is
// test/fixtures/c/hostile-links (built by scripts/setup/34-hostile-fixtures.mjs).
// Every case runs on the v8 engine in process, the v8 engine in a worker and
// wasmtime: the read-only file stays unchanged, no outward link exists on
// disk, a refusal is recorded as a capability violation, the long path fails
// fast with name-too-long, path resolution is paid for in fuel, and another
// plugin still answers.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { FuelExhausted, PluginRegistry, type PluginHandle } from "../src/index.js";
import { addonPath } from "../src/engines/wasmtime/addon.js";
import { copyPlugin, enc, pluginDir } from "./helpers/plugins.js";

const LINKS = "test/fixtures/c/hostile-links";
const HELLO = "examples/c/hello";
const BASE = ["stdio", "clock", "random"];
const RO_TEXT = "read-only content";
// wasi-libc errno values (the preview1 adapter's mapping of WASI error codes).
const EPERM = 63; // not-permitted
const ENAMETOOLONG = 37; // name-too-long

it("has the wasmtime addon built, so every case below runs on wasmtime too", () => {
  expect(existsSync(addonPath()), `${addonPath()} is missing: run node scripts/setup.mjs (npm test does)`).toBe(true);
});

const modes = [
  { name: "v8 in process", engine: "v8", isolation: "in-process" },
  { name: "v8 in a worker", engine: "v8", isolation: "worker" },
  { name: "wasmtime", engine: "wasmtime", isolation: "in-process" },
] as const;

// A fresh tree per test: ro/ is granted fs:read, rw/ fs:write, secret.txt is above both.
let tmp: string;
let ro: string;
let rw: string;
let roFile: string;
const copies: string[] = [];
beforeEach(() => {
  tmp = mkdtempSync(path.join(tmpdir(), "plughost-hostile-fs-"));
  ro = path.join(tmp, "ro");
  rw = path.join(tmp, "rw");
  mkdirSync(ro);
  mkdirSync(path.join(rw, "sub"), { recursive: true });
  roFile = path.join(ro, "file.txt");
  writeFileSync(roFile, RO_TEXT);
  writeFileSync(path.join(tmp, "secret.txt"), "top secret");
  writeFileSync(path.join(rw, "own.txt"), "own");
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));
afterAll(() => {
  for (const c of copies) rmSync(c, { recursive: true, force: true });
});

interface Line {
  msg: string;
}

describe.each(modes)("hostile filesystem plugins on $name", ({ engine, isolation }) => {
  let registry: PluginRegistry;
  let plugin: PluginHandle;
  let hello: PluginHandle;
  let lines: Line[] = [];
  afterEach(async () => {
    await registry?.unloadAll().catch(() => undefined);
  });

  const load = async (options: Partial<ConstructorParameters<typeof PluginRegistry>[0]> = {}) => {
    const caps = [...BASE, `fs:read:${ro}`, `fs:write:${rw}`];
    lines = [];
    const logger = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l) as Line) });
    registry = new PluginRegistry({ engine, isolation, logger, cacheDir: false, grants: { "hostile-links": caps }, ...options });
    const dir = copyPlugin(LINKS, (t) => t.replace(/^capabilities = .*$/m, `capabilities = ${JSON.stringify(caps)}`));
    copies.push(dir);
    plugin = await registry.load(dir);
    hello = await registry.load(pluginDir(HELLO));
  };
  const call = (name: string, ...args: string[]) => plugin.invoke(name, enc(args.join("\n")));
  const capabilityViolations = () => registry.violations("hostile-links").filter((v) => v.kind === "capability").map((v) => v.detail);
  const roUnchanged = () => {
    expect(readFileSync(roFile, "utf8")).toBe(RO_TEXT);
    expect(statSync(roFile).nlink).toBe(1);
  };
  const stillAnswering = async () => {
    expect(await plugin.invoke("ok")).toBe(42);
    expect(await hello.invoke("greet", enc("still here"))).toBe(0);
  };

  describe("a hard link does not turn fs:read into write access", () => {
    it("refuses a hard link from the fs:read dir into the fs:write dir, with not-permitted and a capability violation", async () => {
      await load();
      const link = path.join(rw, "hard");
      expect(await call("link", roFile, link)).toBe(-EPERM);
      expect(existsSync(link)).toBe(false);
      // Had the link been made, this would write through it.
      expect(await call("write", link)).toBeLessThan(0);
      roUnchanged();
      expect(capabilityViolations().some((d) => /link/.test(d))).toBe(true);
      await stillAnswering();
    });

    it("refuses a hard link whose source is in the fs:read dir even when the target is too", async () => {
      await load();
      expect(await call("link", roFile, path.join(ro, "again"))).toBeLessThan(0);
      expect(existsSync(path.join(ro, "again"))).toBe(false);
      roUnchanged();
      await stillAnswering();
    });

    it("allows a hard link inside the fs:write dir (the control)", async () => {
      await load();
      expect(await call("link", path.join(rw, "own.txt"), path.join(rw, "sub", "own2.txt"))).toBe(0);
      expect(statSync(path.join(rw, "own.txt")).nlink).toBe(2);
      await stillAnswering();
    });

    it("refuses every other way to modify the read-only file: write, truncate, append, set-times, rename out", async () => {
      await load();
      const mtime = statSync(roFile).mtimeMs;
      expect(await call("write", roFile)).toBeLessThan(0);
      expect(await call("truncate", roFile)).toBeLessThan(0);
      expect(await call("append", roFile)).toBeLessThan(0);
      expect(await call("utime", roFile)).toBeLessThan(0);
      expect(await call("rename", roFile, path.join(rw, "moved.txt"))).toBeLessThan(0);
      expect(await call("rename", roFile, path.join(ro, "renamed.txt"))).toBeLessThan(0);
      expect(existsSync(path.join(rw, "moved.txt"))).toBe(false);
      roUnchanged();
      expect(statSync(roFile).mtimeMs).toBe(mtime);
      await stillAnswering();
    });

    it("refuses writes through links the host left in the fs:write dir that lead into the fs:read dir", async () => {
      symlinkSync("../ro/file.txt", path.join(rw, "to-ro-rel"));
      symlinkSync(roFile, path.join(rw, "to-ro-abs"));
      symlinkSync("../ro", path.join(rw, "ro-dir"));
      await load();
      for (const p of ["to-ro-rel", "to-ro-abs", "ro-dir/file.txt"]) {
        expect(await call("write", path.join(rw, p)), p).toBeLessThan(0);
        expect(await call("truncate", path.join(rw, p)), p).toBeLessThan(0);
        expect(await call("link", path.join(rw, p), path.join(rw, `${p.replace("/", "-")}.hard`)), p).toBeLessThan(0);
      }
      roUnchanged();
      await stillAnswering();
    });
  });

  describe("a symlink pointing out of its grant is never created", () => {
    const outward: [string, string][] = [
      ["/etc/passwd", "abs"],
      ["../secret.txt", "rel"],
      ["../ro/file.txt", "into-ro"],
      ["..", "up"],
      ["sub/../../secret.txt", "through-sub"],
      ["sub/../own.txt", "climbs-back"],
      ["../own.txt", "sub/climbs"],
    ];
    it.each(outward)("refuses symlink(%j) at rw/%s, with not-permitted, nothing on disk and a capability violation", async (target, at) => {
      await load();
      const link = path.join(rw, at);
      expect(await call("symlink", target, link)).toBe(-EPERM);
      expect(() => lstatSync(link)).toThrow(/ENOENT/);
      expect(capabilityViolations().some((d) => /symlink/.test(d))).toBe(true);
      await stillAnswering();
    });

    it("refuses a climbing target that a later rename of its directory would carry out of the grant", async () => {
      mkdirSync(path.join(rw, "a", "b"), { recursive: true });
      await load();
      // ../../own.txt stays inside from rw/a/b, but after moving b to rw/b it would lead to tmp/own.txt.
      expect(await call("symlink", "../../own.txt", path.join(rw, "a", "b", "l"))).toBe(-EPERM);
      expect(await call("rename", path.join(rw, "a", "b"), path.join(rw, "b"))).toBe(0);
      expect(() => lstatSync(path.join(rw, "b", "l"))).toThrow(/ENOENT/);
      await stillAnswering();
    });

    it("allows symlinks that point down inside the grant (the control), and reads through them", async () => {
      await load();
      expect(await call("symlink", "own.txt", path.join(rw, "in"))).toBe(0);
      expect(await call("symlink", "sub/deeper", path.join(rw, "down"))).toBe(0);
      expect(await call("symlink", "./own.txt", path.join(rw, "dot"))).toBe(0);
      expect(await call("read", path.join(rw, "in"))).toBe(3);
      expect(lines.some((l) => l.msg === "own")).toBe(true);
      expect(await call("symlink", "own.txt", path.join(ro, "nope"))).toBeLessThan(0); // fs:read: no symlinks at all
      expect(existsSync(path.join(ro, "nope"))).toBe(false);
      await stillAnswering();
    });
  });

  describe("a WASI path costs the host bounded work, paid for in fuel", () => {
    it("fails a 100 KB path of 50,000 segments fast with name-too-long", async () => {
      await load();
      const t0 = performance.now();
      expect(await call("raw-open", rw, "a/".repeat(50_000) + "x")).toBe(-ENAMETOOLONG);
      expect(await call("raw-open", rw, "./".repeat(50_000) + "own.txt")).toBe(-ENAMETOOLONG);
      expect(performance.now() - t0).toBeLessThan(2_000); // was 39 s on v8
      await stillAnswering();
    }, 120_000);

    it("bounds a path to 4,096 bytes and 256 segments", async () => {
      mkdirSync(path.join(rw, "d".repeat(200)));
      await load();
      expect(await call("raw-open", rw, "./".repeat(255) + "own.txt")).toBe(0); // 256 segments: fine
      expect(await call("raw-open", rw, "./".repeat(256) + "own.txt")).toBe(-ENAMETOOLONG);
      expect(await call("raw-open", rw, `${"d".repeat(200)}/`.repeat(21) + "x")).toBe(-ENAMETOOLONG); // 4,222 bytes, 22 segments
      expect(await call("raw-open", rw, "x".repeat(4097))).toBe(-ENAMETOOLONG);
      expect(await call("symlink", "x".repeat(5000), path.join(rw, "long"))).toBe(-ENAMETOOLONG);
      expect(existsSync(path.join(rw, "long"))).toBe(false);
      await stillAnswering();
    });

    it("charges 100 fuel units per path segment: 100 opens of a 200-segment path exhaust 2,000,000 units, short paths do not", async () => {
      await load({ defaultLimits: { fuel: 2_000_000 } });
      expect(await plugin.invoke("raw-open-many", enc(`100:${rw}\nown.txt`))).toBe(0);
      const long = "./".repeat(199) + "own.txt";
      const err = await plugin.invoke("raw-open-many", enc(`100:${rw}\n${long}`)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FuelExhausted);
      expect(registry.violations("hostile-links").some((v) => v.kind === "fuel")).toBe(true);
      await stillAnswering();
    });
  });
});
