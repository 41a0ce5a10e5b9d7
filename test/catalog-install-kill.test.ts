/**
 * An install SIGKILLed midway (a real child process running the installer from dist/) leaves the plugin directory
 * on a whole version that a fresh PluginRegistry loads, and the next install takes over and finishes cleanly.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { DirectoryCatalog } from "../src/catalog/directory.js";
import { Installer } from "../src/catalog/install.js";
import { LOCKFILE_NAME, readLockfile } from "../src/catalog/lockfile.js";
import { PluginRegistry } from "../src/runtime/registry.js";
import { CatalogError } from "../src/contract/errors.js";
import { makePackage, signingKey, tempDir } from "./helpers/install-fixtures.js";
import { dec, enc, root, silentLogger } from "./helpers/plugins.js";

const child = path.join(root, "test", "helpers", "install-child.mjs");
const signer = signingKey("release");
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

let catalogDir: string;
beforeAll(async () => {
  if (!existsSync(path.join(root, "dist", "catalog", "install.js"))) throw new Error("dist/catalog/install.js is missing: run npx tsc -p tsconfig.json");
  catalogDir = tempDir("plughost-kill-catalog-");
  const catalog = new DirectoryCatalog(catalogDir);
  await catalog.publish(await makePackage({ name: "lib", version: "1.0.0", example: "transform", signer }));
  await catalog.publish(await makePackage({ name: "lib", version: "1.1.0", example: "transform", signer }));
  await catalog.publish(await makePackage({ name: "greeter", version: "1.0.0", dependencies: { lib: "^1.0.0" }, signer }));
  await catalog.publish(await makePackage({ name: "greeter", version: "1.1.0", dependencies: { lib: "^1.1.0" }, signer }));
});

/** A plugin directory with greeter@1.0.0 (and lib@1.0.0) installed in this process. */
async function withPrevious(): Promise<{ pluginDir: string; installer: Installer }> {
  const pluginDir = tempDir();
  const installer = new Installer({ pluginDir, catalog: new DirectoryCatalog(catalogDir), signatures: signer.policy });
  await installer.install("lib@1.0.0"); // first, or greeter's ^1.0.0 would take lib 1.1.0
  await installer.install("greeter@1.0.0");
  return { pluginDir, installer };
}

/** Start the child installing `spec`; resolves with the lines it printed once `until` returns true, or at its exit. */
function runChild(pluginDir: string, spec: string, stopAt: string | undefined, until: (lines: string[]) => boolean) {
  const p = spawn(process.execPath, [child, pluginDir, catalogDir, spec, JSON.stringify(signer.policy), ...(stopAt ? [stopAt] : [])], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(p);
  const lines: string[] = [];
  let stderr = "";
  p.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const reached = new Promise<string[]>((resolve, reject) => {
    createInterface({ input: p.stdout! }).on("line", (l) => {
      lines.push(l);
      if (until(lines)) resolve(lines);
    });
    p.on("exit", (code, signal) => (code === 0 || signal ? resolve(lines) : reject(new Error(`install child exited ${code}: ${stderr}`))));
  });
  const exited = new Promise<void>((resolve) => (p.exitCode !== null || p.signalCode !== null ? resolve() : p.on("exit", () => resolve())));
  return { process: p, reached, exited };
}

/** What a fresh host loads from `pluginDir`: versions by name, and greet's answer. */
async function hostView(pluginDir: string): Promise<{ versions: Record<string, string>; greeting: string }> {
  const registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, pluginDirs: [pluginDir], signatures: signer.policy });
  try {
    const found = await registry.discoverPluginDirs();
    await registry.loadAll(found.map((f) => f.manifestPath));
    const out = await registry.hook("greeter", "greet", enc("host"));
    if (!out.ok) throw new Error("greet failed");
    return { versions: Object.fromEntries(registry.list().map((p) => [p.name, p.version])), greeting: dec(out.data) };
  } finally {
    await registry.unloadAll();
  }
}

describe("an install killed midway (SIGKILL of the installing process)", () => {
  for (const [stage, expected] of [
    ["verified", { greeter: "1.0.0", lib: "1.0.0" }], // nothing written yet
    ["staged", { greeter: "1.0.0", lib: "1.0.0" }], // lib's new files in the store, no link switched
    ["switched", { greeter: "1.0.0", lib: "1.1.0" }], // lib switched (1.1.0 fits greeter 1.0.0's ^1.0.0), greeter not yet
  ] as const) {
    it(`at "${stage}" leaves whole versions a registry loads, and the next install finishes`, async () => {
      const { pluginDir, installer } = await withPrevious();
      const run = runChild(pluginDir, "greeter@1.1.0", stage, (lines) => lines.some((l) => l.startsWith(stage)));
      const lines = await run.reached;
      expect(lines.at(-1)).toMatch(new RegExp(`^${stage}`));
      run.process.kill("SIGKILL");
      await run.exited;
      expect(run.process.signalCode).toBe("SIGKILL");
      expect(existsSync(path.join(pluginDir, ".plughost-install.lock"))).toBe(true); // the dead install's lock

      const view = await hostView(pluginDir);
      expect(view.versions).toEqual(expected);
      expect(view.greeting).toBe("hello, host!");
      // The lockfile is the last thing an install writes: still the previous state.
      expect((await readLockfile(path.join(pluginDir, LOCKFILE_NAME))).plugins.greeter!.version).toBe("1.0.0");

      // The next install takes the dead one's lock over, clears its leftovers and finishes.
      const r = await installer.install("greeter@1.1.0");
      expect(r.installed.map((p) => `${p.name}@${p.version}`)).toEqual(["lib@1.1.0", "greeter@1.1.0"]);
      expect((await hostView(pluginDir)).versions).toEqual({ greeter: "1.1.0", lib: "1.1.0" });
      expect(existsSync(path.join(pluginDir, ".plughost", "tmp"))).toBe(false);
      expect(readdirSync(path.join(pluginDir, ".plughost", "store")).sort()).toEqual([
        expect.stringMatching(/^greeter@1\.1\.0-/),
        expect.stringMatching(/^lib@1\.1\.0-/),
      ]);
    });
  }

  it("while one install runs, another in the same plugin directory is refused naming it, and the directory is left to it", async () => {
    const { pluginDir, installer } = await withPrevious();
    const run = runChild(pluginDir, "greeter@1.1.0", "staged", (lines) => lines.some((l) => l.startsWith("staged")));
    await run.reached;
    const err = await installer.install("greeter@1.0.0").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogError);
    expect((err as CatalogError).reason).toBe("conflict");
    expect((err as Error).message).toContain(`another install (process ${run.process.pid} on `);
    run.process.kill("SIGKILL");
    await run.exited;
    // Once it is gone, its lock is taken over.
    expect((await installer.install("greeter@1.1.0")).installed.map((p) => p.name)).toEqual(["lib", "greeter"]);
  });

  it("at moments spread over the writing phase, every time leaves a loadable whole version", async () => {
    // How long the writing phase (after versions are settled and packages fetched) takes in a child.
    const first = await withPrevious();
    const full = runChild(first.pluginDir, "greeter@1.1.0", undefined, (lines) => lines.includes("done"));
    let planned = 0;
    full.process.stdout!.once("data", () => (planned = performance.now()));
    await full.reached;
    const span = Math.max(2, performance.now() - planned);
    await full.exited;
    expect((await hostView(first.pluginDir)).versions).toEqual({ greeter: "1.1.0", lib: "1.1.0" });
    const states = new Map<string, number>();
    for (let i = 0; i < 8; i++) {
      const { pluginDir, installer } = await withPrevious();
      const run = runChild(pluginDir, "greeter@1.1.0", undefined, (lines) => lines.some((l) => l.startsWith("planned")));
      await run.reached;
      // Kill at a moment spread over [0, 1.2 x the phase]: some before any write, some between renames, some after.
      const delay = (span * 1.2 * i) / 7;
      if (delay >= 1) await new Promise((r) => setTimeout(r, delay));
      run.process.kill("SIGKILL");
      await run.exited;
      const view = await hostView(pluginDir);
      const state = `${view.versions.greeter}/${view.versions.lib}`;
      states.set(state, (states.get(state) ?? 0) + 1);
      expect(["1.0.0/1.0.0", "1.0.0/1.1.0", "1.1.0/1.1.0"]).toContain(state);
      expect(view.greeting).toBe("hello, host!");
      // Every link resolves to a complete store entry.
      for (const name of ["greeter", "lib"]) expect(readlinkSync(path.join(pluginDir, name))).toMatch(new RegExp(`^\\.plughost/store/${name}@1\\.[01]\\.0-[0-9a-f]{12}$`));
      // Whatever the moment, the lockfile's state can be restored, and the install finished.
      await installer.installLocked();
      const locked = (await readLockfile(path.join(pluginDir, LOCKFILE_NAME))).plugins;
      expect((await hostView(pluginDir)).versions).toEqual({ greeter: locked.greeter!.version, lib: locked.lib!.version });
      await installer.install("greeter@1.1.0");
      expect((await hostView(pluginDir)).versions).toEqual({ greeter: "1.1.0", lib: "1.1.0" });
    }
    if (process.env.PLUGHOST_TEST_VERBOSE) console.log(`writing phase ${span.toFixed(1)} ms; states after the kills:`, Object.fromEntries(states));
  });
});
