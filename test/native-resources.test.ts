// The resource model of sandboxed native plugins: rlimits (or a cgroup where
// the machine delegates one), the open-files limit and its violation, the
// CPU-seconds limit as a typed fault, and the seccomp profiles basic, strict
// and the host's own list, on the libseccomp and the raw-BPF helper, with and
// without the violation supervisor. Real helpers, a real plugin (resources.c).
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { PluginRegistry } from "../src/runtime/registry.js";
import { createNativeEngine, type NativeSandboxInstance, type SandboxOptions } from "../src/engines/native/engine.js";
import type { EngineInstance, LoadRequest, ResourceUsage, ViolationKind } from "../src/engines/engine.js";
import { ContextCreationFailed, ResourceLimitExceeded } from "../src/contract/errors.js";
import { bytes, fixture, recordingHost, request, root, until } from "./native-helpers.js";

const live: EngineInstance[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((i) => i.dispose()));
});

interface Seen {
  kind: ViolationKind;
  detail: string;
  usage?: ResourceUsage;
}

async function start(sandbox: SandboxOptions = {}, extra: Partial<LoadRequest> = {}) {
  const host = recordingHost();
  const seen: Seen[] = [];
  const req = request("resources", "untrusted", host, {
    onViolation: (kind, detail, usage) => seen.push(usage ? { kind, detail, usage } : { kind, detail }),
    ...extra,
  });
  const inst = (await createNativeEngine({ sandbox }).load(req)) as NativeSandboxInstance;
  live.push(inst);
  expect(await inst.init("0.1.0", "{}")).toBe(0);
  return { inst, seen };
}

const call = (inst: NativeSandboxInstance, name: string) => inst.onEvent(name, bytes(""));
const EPERM = 1;

/** The helper's processes (its process group) and the limits /proc shows for the plugin's (the last one). */
function pluginLimits(helperPid: number): string {
  const group = readdirSync("/proc")
    .filter((n) => /^[0-9]+$/.test(n))
    .filter((n) => {
      try {
        const stat = readFileSync(`/proc/${n}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2] === String(helperPid);
      } catch {
        return false;
      }
    })
    .map(Number)
    .sort((a, b) => a - b);
  return readFileSync(`/proc/${group[group.length - 1]}/limits`, "utf8");
}

describe("resource control", () => {
  it("says where memory, CPU and processes are bounded, and the rlimits are in force on the plugin's process", async () => {
    const { inst } = await start({ openFiles: 24, cpuSeconds: 77, processes: 9, addressSpaceBytes: 300 * 2 ** 20 });
    const control = inst.info.resourceControl;
    expect(["cgroup", "rlimits"]).toContain(control.kind);
    if (control.kind === "rlimits") expect(control.reason).toMatch(/cgroup/);
    else expect(inst.info.measures).toContain("cgroup");
    expect(inst.info.measures).toContain("rlimits");
    const limits = pluginLimits(inst.info.pid);
    expect(limits).toMatch(/Max open files\s+24\s+24/);
    expect(limits).toMatch(/Max cpu time\s+77\s+78/);
    expect(limits).toMatch(/Max processes\s+9\s+9/);
    expect(limits).toMatch(new RegExp(`Max address space\\s+${300 * 2 ** 20}\\s`));
  });

  it("cgroup: false is the rlimits alone; a directory that is no delegated cgroup is refused, naming the plugin", async () => {
    const { inst } = await start({ cgroup: false });
    expect(inst.info.resourceControl).toEqual({ kind: "rlimits", reason: "sandbox.cgroup is false" });
    expect(inst.info.measures).not.toContain("cgroup");
    const err = await start({ cgroup: tmpdir() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContextCreationFailed);
    expect((err as ContextCreationFailed).plugin).toBe("resources");
    expect((err as Error).message).toMatch(/sandbox\.cgroup: .* is not a cgroup v2 directory/);
  });
});

describe("open files", () => {
  it("RLIMIT_NOFILE bounds the plugin's descriptors; reaching it is a resource violation with used and limit", async () => {
    const a = await start({ openFiles: 16 });
    const madeA = await call(a.inst, "dup-many");
    expect(madeA).toBeGreaterThan(0);
    expect(madeA).toBeLessThan(16);
    await until(() => a.seen.some((v) => v.kind === "resource"), 3000);
    const v = a.seen.find((s) => s.kind === "resource")!;
    // used: what the plugin's process holds, which may pass the limit by descriptors it inherited from the helper
    expect(v.usage).toMatchObject({ resource: "open-files", limit: 16 });
    expect(v.usage!.used).toBeGreaterThanOrEqual(16);
    expect(v.detail).toMatch(/EMFILE/);
    expect(await call(a.inst, "ping")).toBe(7); // a refused open does not end the plugin
    // Four more allowed, four more made: the limit, not some other bound, stopped it.
    const b = await start({ openFiles: 20 });
    expect(await call(b.inst, "dup-many")).toBe(madeA + 4);
  });

  it("the manifest's limits.openFiles narrows it (plus the helper's own descriptors)", async () => {
    const { inst } = await start({}, { limits: { openFiles: 4 } });
    expect(pluginLimits(inst.info.pid)).toMatch(/Max open files\s+12\s+12/);
    const made = await call(inst, "dup-many");
    expect(made).toBeGreaterThan(0);
    expect(made).toBeLessThan(12);
    const wider = await start({}, { limits: { openFiles: 9 } }); // five more allowed, five more made
    expect(await call(wider.inst, "dup-many")).toBe(made + 5);
    // Without a manifest limit the sandbox default (32) holds: a generous manifest never widens it.
    const generous = await start({}, { limits: { openFiles: 10_000 } });
    expect(pluginLimits(generous.inst.info.pid)).toMatch(/Max open files\s+32\s+32/);
  });
});

describe("CPU seconds", () => {
  it("RLIMIT_CPU ends a call that burns CPU with ResourceLimitExceeded(cpu-seconds), figures included", async () => {
    const { inst } = await start({ cpuSeconds: 1, idleCpuMs: Infinity });
    const err = await call(inst, "spin").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResourceLimitExceeded);
    const r = err as ResourceLimitExceeded;
    expect([r.resource, r.used, r.limit, r.code, r.plugin, r.export]).toEqual(["cpu-seconds", 1, 1, "E_RESOURCE_LIMIT", "resources", "spin"]);
    await expect(call(inst, "ping")).rejects.toBeInstanceOf(ResourceLimitExceeded); // the instance is finished
  }); // no wall-time bound: one CPU-second takes longer on a loaded machine
});

const helpers = [
  ["libseccomp", undefined],
  ["raw BPF", path.join(root, "native", "sandbox-helper", "build", "plughost-sandbox-helper-bpf")],
] as const;

for (const [label, helperPath] of helpers) {
  for (const namespaces of [true, false]) {
    const how = `${label}, ${namespaces ? "supervised (pid namespace)" : "no namespaces (SIGSYS handler)"}`;
    const opts = (p?: SandboxOptions["seccompProfile"]): SandboxOptions => ({
      ...(helperPath ? { helperPath } : {}),
      ...(namespaces ? {} : { namespaces: false }),
      ...(p ? { seccompProfile: p } : {}),
    });
    describe(`seccomp profiles: ${how}`, () => {
      it("basic (the default) allows threads, new descriptors and uname", async () => {
        const { inst, seen } = await start(opts());
        expect(await call(inst, "thread")).toBe(0);
        expect(await call(inst, "uname")).toBe(0);
        expect(inst.info.measures).toContain("seccomp");
        expect(seen.filter((v) => v.kind === "capability")).toEqual([]);
      });

      it("strict refuses threads, new descriptors and uname with EPERM, each a violation naming the syscall", async () => {
        const { inst, seen } = await start(opts("strict"));
        expect(await call(inst, "uname")).toBe(-EPERM);
        expect(await call(inst, "dup-many")).toBe(-EPERM);
        expect(await call(inst, "thread")).toBeLessThan(0); // pthread_create's error: clone was refused
        expect(await call(inst, "ping")).toBe(7);
        // Unsupervised, a refused clone is a plain EPERM, not reported: glibc blocks SIGSYS around it (see sandbox.c).
        const reported = [/denied syscall uname/, /denied syscall dup\b/, ...(namespaces ? [/denied syscall clone\b/] : [])];
        await until(() => seen.filter((v) => v.kind === "capability").length >= reported.length, 3000);
        const details = seen.filter((v) => v.kind === "capability").map((v) => v.detail);
        expect(details).toEqual(expect.arrayContaining(reported.map((r) => expect.stringMatching(r))));
      });

      it("a custom list narrows the basic profile: only the named syscalls are refused", async () => {
        const { inst, seen } = await start(opts({ deny: ["uname"] }));
        expect(await call(inst, "uname")).toBe(-EPERM);
        expect(await call(inst, "thread")).toBe(0);
        expect(await call(inst, "dup-many")).toBeGreaterThan(0);
        await until(() => seen.some((v) => v.kind === "capability"), 3000);
        expect(seen.filter((v) => v.kind === "capability").map((v) => v.detail)).toEqual([expect.stringMatching(/^denied syscall uname/)]);
      });
    });
  }
}

describe("seccomp profile refused", () => {
  it.each([
    [{ deny: ["openat"] }, /helper needs/],
    [{ deny: ["socketz"] }, /does not list/],
    [{ deny: ["no such!"] }, /not a syscall name/],
    [{ base: "lax" as "basic", deny: [] }, /unknown base profile/],
  ])("%j: ContextCreationFailed naming the plugin and why", async (profile, why) => {
    const err = await start({ seccompProfile: profile }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContextCreationFailed);
    expect((err as ContextCreationFailed).plugin).toBe("resources");
    expect((err as Error).message).toMatch(why);
  });
});

describe("through the registry", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  function pluginDir(name: string, extra = ""): string {
    const dir = mkdtempSync(path.join(tmpdir(), `plughost-resources-${name}-`));
    dirs.push(dir);
    copyFileSync(fixture("resources"), path.join(dir, "resources.so"));
    writeFileSync(
      path.join(dir, "plugin.toml"),
      `name = "${name}"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "resources.so"\ntrust = "untrusted"\n${extra}`,
    );
    return dir;
  }

  it("nativeSandbox selects the profile; [limits] open-files bounds the descriptors; both are recorded violations", async () => {
    const registry = new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false, nativeSandbox: { seccompProfile: { deny: ["uname"] } } });
    try {
      const h = await registry.load(pluginDir("res-reg", "[limits]\nopen-files = 4\n"));
      expect(await h.invoke("uname", bytes(""))).toBe(-EPERM);
      expect(await h.invoke("dup-many", bytes(""))).toBeGreaterThan(0);
      expect(await h.invoke("ping", bytes(""))).toBe(7);
      await until(() => registry.violations("res-reg").length >= 2, 3000);
      const records = registry.violations("res-reg");
      expect(records.map((r) => r.kind).sort()).toEqual(["capability", "resource"]);
      expect(records.find((r) => r.kind === "resource")!.usage).toMatchObject({ resource: "open-files", limit: 12 });
    } finally {
      await registry.unloadAll();
    }
  });

  it("a CPU-seconds kill is a resource violation with its figures, and the plugin is restarted", async () => {
    const registry = new PluginRegistry({ logger: pino({ level: "silent" }), cacheDir: false, nativeSandbox: { cpuSeconds: 1, idleCpuMs: Infinity } });
    try {
      const h = await registry.load(pluginDir("res-cpu"));
      const err = await h.invoke("spin", bytes("")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResourceLimitExceeded);
      const v = registry.violations("res-cpu");
      expect(v.map((r) => [r.kind, r.usage])).toEqual([["resource", { resource: "cpu-seconds", used: 1, limit: 1 }]]);
      await until(() => registry.info("res-cpu")?.state === "active", 5000);
      expect(await h.invoke("ping", bytes(""))).toBe(7);
    } finally {
      await registry.unloadAll();
    }
  });
});
