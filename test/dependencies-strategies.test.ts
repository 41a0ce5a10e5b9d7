// Dependencies (issue 14 point 5): the strategies strict / latest / manual over several versions of a plugin, peer
// and optional dependencies, unload refused while others depend on a plugin unless cascading, and a reload that
// changes a version re-checking its dependents. Real C plugins (copies of the lifecycle fixture under other names
// and versions) are loaded; the pure resolution is checked on manifests too.
import { writeFileSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  DependencyConflictError,
  findConflicts,
  PluginHasDependents,
  PluginRegistry,
  ResolutionError,
  resolveDependencies,
  type DependencyConflict,
  type RegistryOptions,
} from "../src/index.js";
import { HostConfigError, registryOptionsFrom, validateHostConfig } from "../src/runtime/host-config.js";
import { copyPlugin, silentLogger } from "./helpers/plugins.js";

const FIXTURE = "test/fixtures/c/lifecycle";

let registry: PluginRegistry | undefined;
afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
  registry = undefined;
});

/** A copy of the fixture as plugin `name` at `version`, with `extra` TOML appended. */
function plugin(name: string, version: string, extra = ""): string {
  return copyPlugin(FIXTURE, (t) => t.replace('name = "lifecycle"', `name = "${name}"`).replace('version = "1.0.0"', `version = "${version}"`) + extra);
}

function newRegistry(options: RegistryOptions = {}): PluginRegistry {
  registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, grants: ["clock"], ...options });
  return registry;
}

const needs = (table: string, deps: Record<string, string>) => `\n[${table}]\n${Object.entries(deps).map(([k, v]) => `${k} = "${v}"`).join("\n")}\n`;

/** Manifest-like objects for the pure resolution. */
function m(name: string, version: string, deps: { name: string; range: string; optional?: boolean; peer?: boolean }[] = []) {
  return { name, version, file: `/p/${name}-${version}/plugin.toml`, dependencies: deps.map((d) => ({ optional: false, ...d })) };
}

describe("resolveDependencies", () => {
  const set = [m("lib", "1.1.0"), m("lib", "1.3.0"), m("lib", "2.0.0"), m("a", "1.0.0", [{ name: "lib", range: "^1.0.0" }]), m("b", "1.0.0", [{ name: "lib", range: ">=1.2.0" }])];

  it("strict refuses two versions of one plugin", () => {
    expect(() => resolveDependencies(set, { strategy: "strict" })).toThrow(ResolutionError);
  });

  it("latest picks the highest version that satisfies every range, and leaves the others out", () => {
    const plan = resolveDependencies(set, { strategy: "latest" });
    expect(plan.order.map((p) => `${p.name}@${p.version}`)).toEqual(["lib@1.3.0", "a@1.0.0", "b@1.0.0"]);
    expect(plan.leftOut.map((l) => `${l.name}@${l.version}`).sort()).toEqual(["lib@1.1.0", "lib@2.0.0"]);
  });

  it("latest fails with every range and every version when none satisfies all", () => {
    const err = (() => {
      try {
        resolveDependencies([...set, m("c", "1.0.0", [{ name: "lib", range: "^2.0.0" }])], { strategy: "latest" });
      } catch (e) {
        return e;
      }
    })() as DependencyConflictError;
    expect(err).toBeInstanceOf(DependencyConflictError);
    expect(err.code).toBe("E_DEPENDENCY_CONFLICT");
    const [c] = err.conflicts;
    expect(c?.dependency).toBe("lib");
    expect(c?.requirements.map((r) => `${r.plugin} ${r.range}`)).toEqual(["a ^1.0.0", "b >=1.2.0", "c ^2.0.0"]);
    expect(c?.candidates.map((v) => v.version)).toEqual(["2.0.0", "1.3.0", "1.1.0"]);
    expect(err.message).toMatch(/a needs lib \^1\.0\.0, b needs lib >=1\.2\.0, c needs lib \^2\.0\.0; available: 2\.0\.0, 1\.3\.0, 1\.1\.0/);
  });

  it("manual reports a plugin with several versions even when one would fit, and loads the host's choice", () => {
    expect(findConflicts(set, { strategy: "manual" }).map((c) => c.dependency)).toEqual(["lib"]);
    expect(() => resolveDependencies(set, { strategy: "manual" })).toThrow(DependencyConflictError);
    const plan = resolveDependencies(set, { strategy: "manual", choices: { lib: { version: "2.0.0" } } });
    expect(plan.order.map((p) => `${p.name}@${p.version}`)).toEqual(["lib@2.0.0", "b@1.0.0"]);
    expect(plan.leftOut.find((l) => l.name === "a")?.reason).toBe("needs lib ^1.0.0, and 2.0.0 was chosen");
    const forced = resolveDependencies(set, { strategy: "manual", choices: { lib: { version: "2.0.0", force: true } } });
    expect(forced.order.map((p) => p.name)).toEqual(["lib", "a", "b"]);
    expect([...forced.accepted]).toEqual(["a>lib"]);
  });

  it("manual reports a single version outside a range against a loaded plugin, with both versions named", () => {
    const conflicts = findConflicts([m("a", "1.0.0", [{ name: "lib", range: "^2.0.0" }])], { strategy: "manual", loaded: [{ name: "lib", version: "1.4.0" }] });
    expect(conflicts).toEqual<DependencyConflict[]>([
      { dependency: "lib", requirements: [{ plugin: "a", version: "1.0.0", range: "^2.0.0", kind: "required" }], candidates: [{ version: "1.4.0", loaded: true }] },
    ]);
  });

  it("peers need each other present but impose no order, so mutual peers resolve", () => {
    const order = resolveDependencies([m("x", "1.0.0", [{ name: "y", range: "^1", peer: true }]), m("y", "1.0.0", [{ name: "x", range: "^1", peer: true }])]).order;
    expect(order.map((p) => p.name)).toEqual(["x", "y"]);
    expect(() => resolveDependencies([m("x", "1.0.0", [{ name: "y", range: "^1", peer: true }])])).toThrow(/has the peer "y"/);
  });

  it("a choice that is not a candidate is refused", () => {
    expect(() => resolveDependencies(set, { strategy: "manual", choices: { lib: { version: "9.9.9" } } })).toThrow(/not one of its candidates/);
  });
});

describe("loadAll with strategies (real plugins)", () => {
  const dirs = () => [plugin("lib", "1.1.0"), plugin("lib", "1.3.0"), plugin("lib", "2.0.0"), plugin("a", "1.0.0", needs("dependencies", { lib: "^1.0.0" })), plugin("b", "1.0.0", needs("dependencies", { lib: ">=1.2.0" }))];

  it("latest loads lib 1.3.0 and both dependents", async () => {
    const r = newRegistry({ dependencies: { strategy: "latest" } });
    const loaded = await r.loadAll(dirs());
    expect(loaded.map((h) => `${h.name}@${h.version}`)).toEqual(["lib@1.3.0", "a@1.0.0", "b@1.0.0"]);
    expect(await r.invoke("lib", "ok")).toBe(1);
  });

  it("manual asks the onConflict option and waits for its answer", async () => {
    const seen: DependencyConflict[][] = [];
    const r = newRegistry({
      dependencies: {
        strategy: "manual",
        onConflict: async (conflicts) => {
          seen.push([...conflicts]);
          await new Promise((ok) => setTimeout(ok, 20));
          return { lib: { version: "2.0.0" } };
        },
      },
    });
    const loaded = await r.loadAll(dirs());
    expect(loaded.map((h) => `${h.name}@${h.version}`)).toEqual(["lib@2.0.0", "b@1.0.0"]);
    expect(seen[0]?.[0]?.candidates.map((c) => c.version)).toEqual(["2.0.0", "1.3.0", "1.1.0"]);
    expect(r.isLoaded("a")).toBe(false);
  });

  it("manual without a callback emits conflict and waits for resolveConflict", async () => {
    const r = newRegistry({ dependencies: { strategy: "manual" } });
    r.on("conflict", ({ conflicts }) => {
      expect(r.pendingConflicts().map((c) => c.dependency)).toEqual(["lib"]);
      setTimeout(() => r.resolveConflict(conflicts[0]!.dependency, { version: "1.3.0" }), 10);
    });
    const loaded = await r.loadAll(dirs());
    expect(loaded.map((h) => `${h.name}@${h.version}`)).toEqual(["lib@1.3.0", "a@1.0.0", "b@1.0.0"]);
    expect(r.pendingConflicts()).toEqual([]);
    expect(() => r.resolveConflict("lib", { version: "1.3.0" })).toThrow(/no dependency conflict on "lib" is waiting/);
  });

  it("manual with nobody to ask fails with the conflicts; loadAll's choices then settle them", async () => {
    const r = newRegistry({ dependencies: { strategy: "manual" } });
    const list = dirs();
    const err = await r.loadAll(list).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyConflictError);
    expect(r.count).toBe(0);
    const loaded = await r.loadAll(list, { choices: { lib: { version: "2.0.0", force: true } } });
    expect(loaded.map((h) => h.name)).toEqual(["lib", "a", "b"]);
  });

  it("a host refusing (resolveConflict with undefined) fails the load", async () => {
    const r = newRegistry({ dependencies: { strategy: "manual" } });
    r.on("conflict", () => r.resolveConflict("lib", undefined));
    await expect(r.loadAll(dirs())).rejects.toBeInstanceOf(DependencyConflictError);
  });

  it("the host config's dependencies.strategy sets it; an unknown one is refused at /dependencies/strategy", async () => {
    const options = registryOptionsFrom(validateHostConfig({ dependencies: { strategy: "latest" }, grants: ["clock"] }, "test"));
    const r = newRegistry({ ...options, logger: silentLogger(), cacheDir: false });
    expect((await r.loadAll(dirs())).map((h) => `${h.name}@${h.version}`)).toEqual(["lib@1.3.0", "a@1.0.0", "b@1.0.0"]);
    const err = (() => {
      try {
        validateHostConfig({ dependencies: { strategy: "newest" } }, "test");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(HostConfigError);
    expect((err as Error).message).toMatch(/\/dependencies\/strategy/);
  });

  it("an unknown strategy is refused", () => {
    expect(() => newRegistry({ dependencies: { strategy: "newest" as never } })).toThrow(/dependencies.strategy is "newest"/);
  });
});

describe("peer and optional dependencies", () => {
  it("mutual peers load together; one alone is refused", async () => {
    const x = plugin("x", "1.0.0", needs("peer-dependencies", { y: "^1" }));
    const y = plugin("y", "1.0.0", needs("peer-dependencies", { x: "^1" }));
    const r = newRegistry();
    await expect(r.load(x)).rejects.toThrow(/requires the peer y \^1, which is not loaded; load them together with loadAll/);
    expect((await r.loadAll([x, y])).map((h) => h.name)).toEqual(["x", "y"]);
    expect(r.info("x").state).toBe("active");
  });

  it("an optional dependency does not hold its plugin: unload goes ahead", async () => {
    const r = newRegistry();
    await r.loadAll([plugin("lib", "1.0.0"), plugin("opt", "1.0.0", needs("optional-dependencies", { lib: "^1" }))]);
    await r.unload("lib");
    expect(r.info("opt").state).toBe("active");
  });
});

describe("unload and reload with dependents", () => {
  async function chain(options: RegistryOptions = {}) {
    const r = newRegistry(options);
    const libDir = plugin("lib", "1.0.0");
    await r.loadAll([libDir, plugin("mid", "1.0.0", needs("dependencies", { lib: "^1" })), plugin("top", "1.0.0", needs("peer-dependencies", { mid: "^1" }))]);
    return { r, libDir };
  }

  it("refuses to unload a plugin others depend on, naming them (transitively)", async () => {
    const { r } = await chain();
    const err = await r.unload("lib").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginHasDependents);
    expect(err).toBeInstanceOf(ResolutionError);
    expect((err as PluginHasDependents).dependents).toEqual(["top", "mid"]);
    expect((err as Error).message).toMatch(/pass \{ cascade: true \}/);
    expect(r.info("lib").state).toBe("active");
  });

  it("cascade unloads the dependents first, then the plugin", async () => {
    const { r } = await chain();
    const order: string[] = [];
    r.on("state", (s) => s.to === "unloaded" && order.push(s.plugin));
    await r.unload("lib", { cascade: true });
    expect(order).toEqual(["top", "mid", "lib"]);
  });

  function bump(dir: string, version: string): void {
    const file = path.join(dir, "plugin.toml");
    writeFileSync(file, readFileSync(file, "utf8").replace(/^version = ".*"$/m, `version = "${version}"`));
  }

  it("a reload to a version a dependent's range rejects is refused (strict), with both versions", async () => {
    const { r, libDir } = await chain();
    bump(libDir, "2.0.0");
    const err = (await r.reload("lib").catch((e: unknown) => e)) as DependencyConflictError;
    expect(err).toBeInstanceOf(DependencyConflictError);
    expect(err.conflicts[0]?.candidates).toEqual([{ version: "2.0.0", loaded: false }, { version: "1.0.0", loaded: true }]);
    expect(err.conflicts[0]?.requirements.map((q) => `${q.plugin} ${q.range}`)).toEqual(["mid ^1"]);
    expect(r.info("lib").version).toBe("1.0.0");
    bump(libDir, "1.5.0");
    await r.reload("lib");
    expect(r.info("lib").version).toBe("1.5.0");
  });

  it("manual: forcing keeps the dependents; choosing without force unloads those the new version breaks", async () => {
    let force = true;
    const { r, libDir } = await chain({ dependencies: { strategy: "manual", onConflict: (c) => ({ lib: { version: c[0]!.candidates[0]!.version, force } }) } });
    bump(libDir, "2.0.0");
    await r.reload("lib");
    expect([r.info("lib").version, r.info("mid").state]).toEqual(["2.0.0", "active"]);
    force = false;
    bump(libDir, "3.0.0");
    await r.reload("lib"); // mid ^1 was waived for lib: its earlier choice holds
    expect(r.info("mid").state).toBe("active");
    await r.unloadAll();
    const again = newRegistry({ dependencies: { strategy: "manual", onConflict: (c) => ({ lib: { version: c[0]!.candidates[0]!.version } }) } });
    const lib2 = plugin("lib", "1.0.0");
    await again.loadAll([lib2, plugin("mid", "1.0.0", needs("dependencies", { lib: "^1" })), plugin("top", "1.0.0", needs("peer-dependencies", { mid: "^1" }))]);
    bump(lib2, "2.0.0");
    await again.reload("lib");
    expect([again.info("lib").version, again.info("mid").state, again.info("top").state]).toEqual(["2.0.0", "unloaded", "unloaded"]);
  });
});
