// Untrusted native plugins: the hostile corpus, each contained in its sandbox
// helper while the host and other plugins carry on; deadlines, pipelining,
// crash handling, and the sandbox measures (libseccomp and raw-BPF helpers).
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createNativeEngine, nativeEngine, type NativeSandboxInstance } from "../src/engines/native.js";
import type { EngineInstance, LoadRequest } from "../src/engine.js";
import { CapabilityDenied, DeadlineExceeded, PluginCrashed } from "../src/errors.js";
import { bytes, recordingHost, request, root, until, type RecordingHost } from "./native-helpers.js";

const live: EngineInstance[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((i) => i.dispose()));
});

async function start(name: string, extra: Partial<LoadRequest> = {}, engine = nativeEngine) {
  const host = recordingHost();
  const inst = (await engine.load(request(name, "untrusted", host, extra))) as NativeSandboxInstance;
  live.push(inst);
  expect(await inst.init("0.1.0", "{}")).toBe(0);
  return { inst, host };
}

// A well-behaved neighbour that must keep working whatever the hostile plugin does.
let neighbour: { inst: NativeSandboxInstance; host: RecordingHost };
beforeAll(async () => {
  const host = recordingHost();
  const inst = (await nativeEngine.load(request("basic", "untrusted", host))) as NativeSandboxInstance;
  await inst.init("0.1.0", "{}");
  neighbour = { inst, host };
  return () => inst.dispose();
});

async function neighbourStillWorks(): Promise<void> {
  expect(await neighbour.inst.onEvent("echo", bytes("still here"))).toBe(10);
}

async function crashWith(event: string): Promise<PluginCrashed> {
  const { inst } = await start("hostile");
  expect(await inst.onEvent("ok", bytes("1"))).toBe(1);
  const err = await inst.onEvent(event, bytes("")).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PluginCrashed);
  // the instance is finished: later calls fail the same way, at once
  await expect(inst.onEvent("ok", bytes(""))).rejects.toBeInstanceOf(PluginCrashed);
  await neighbourStillWorks();
  return err as PluginCrashed;
}

describe("hostile corpus, untrusted", () => {
  it("a segfault becomes PluginCrashed(SIGSEGV)", async () => {
    const err = await crashWith("segv");
    expect(err.signal).toBe("SIGSEGV");
    expect(err.plugin).toBe("hostile");
    expect(err.export).toBe("segv");
  });

  it("abort() becomes PluginCrashed(SIGABRT)", async () => {
    expect((await crashWith("abort")).signal).toBe("SIGABRT");
  });

  it("exit(3) becomes PluginCrashed with exit code 3; the host lives on", async () => {
    const err = await crashWith("exit3");
    expect(err.exitCode).toBe(3);
    expect(err.signal).toBeNull();
  });

  it("a syscall outside the allow-list is killed by seccomp: PluginCrashed(SIGSYS)", async () => {
    expect((await crashWith("sigsys")).signal).toBe("SIGSYS");
  });

  it("an infinite loop hits the deadline: DeadlineExceeded, helper killed, event loop responsive", async () => {
    const { inst, host } = await start("hostile", { limits: { deadlineMs: 200 } });
    let ticks = 0;
    const tick = setInterval(() => ticks++, 10);
    const t0 = Date.now();
    const err = await inst.onEvent("spin", bytes("")).catch((e: unknown) => e);
    clearInterval(tick);
    expect(err).toBeInstanceOf(DeadlineExceeded);
    expect((err as DeadlineExceeded).deadlineMs).toBe(200);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(ticks).toBeGreaterThan(5);
    expect(host.violations.map((v) => v.kind)).toContain("deadline");
    await until(() => { try { process.kill(inst.client.pid, 0); return false; } catch { return true; } });
    await neighbourStillWorks();
  });

  it("a fork bomb gets nothing: fork fails with EPERM and is recorded as a violation", async () => {
    const { inst, host } = await start("hostile");
    expect(await inst.onEvent("forkbomb", bytes(""))).toBe(-1); // -EPERM from the first fork
    expect(host.violations).toContainEqual({ kind: "capability", detail: "denied syscall clone (1×)" });
    expect(await inst.onEvent("ok", bytes("ab"))).toBe(2);
  });

  it("socket() is denied (EPERM, no network) and recorded", async () => {
    const { inst, host } = await start("hostile");
    expect(await inst.onEvent("socket", bytes(""))).toBe(0);
    expect(host.logs).toContainEqual({ level: "info", message: "socket: -1 errno 1" });
    expect(host.violations).toContainEqual({ kind: "capability", detail: "denied syscall socket (1×)" });
  });

  it('open("/etc/passwd") is denied (EACCES) and recorded', async () => {
    const { inst, host } = await start("hostile");
    expect(await inst.onEvent("open-passwd", bytes(""))).toBe(0);
    expect(host.logs).toContainEqual({ level: "info", message: "open: -1 errno 13" });
    expect(host.violations).toContainEqual({ kind: "capability", detail: "denied syscall openat (1×)" });
  });

  it("a 1 GiB malloc fails under RLIMIT_AS and the plugin carries on", async () => {
    const { inst } = await start("hostile", { limits: { memoryBytes: 64 << 20 } });
    expect(await inst.onEvent("malloc-1g", bytes(""))).toBe(0);
    expect(await inst.onEvent("ok", bytes("abc"))).toBe(3);
  });

  it("a thread that keeps logging after teardown neither crashes nor blocks anything", async () => {
    const { inst, host } = await start("hostile");
    expect(await inst.onEvent("late-thread", bytes(""))).toBe(0);
    expect(await inst.teardown()).toBe(0);
    const seen = host.logs.length;
    await until(() => host.logs.length > seen + 2); // still logging after teardown
    expect(host.logs.at(-1)?.message).toBe("late thread still logging");
    await inst.dispose(); // ends the helper, thread and all
    const after = host.logs.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(host.logs.length).toBe(after);
    await neighbourStillWorks();
  });

  it("an untrusted native plugin cannot be granted files, network or env", async () => {
    const err = await nativeEngine
      .load(request("basic", "untrusted", recordingHost(), { capabilities: ["stdio", "fs:read:/tmp"] }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapabilityDenied);
    expect((err as CapabilityDenied).capability).toBe("fs:read:/tmp");
  });
});

describe("sandbox helper", () => {
  it("reports the measures in force (as root: namespaces, setuid nobody, rlimits, no_new_privs, seccomp)", async () => {
    const { inst } = await start("basic");
    const m = inst.info.measures;
    expect(m).toEqual(expect.arrayContaining(["net-namespace", "pid-namespace", "no-new-privs", "seccomp", "rlimits"]));
    if (process.getuid?.() === 0) expect(m).toContain("setuid-nobody");
    else expect(m).toContain("user-namespace");
  });

  it("pipelines: many calls in flight, each answered by id", async () => {
    const { inst } = await start("basic");
    const id = inst.callbackId("sum");
    const inputs = Array.from({ length: 2000 }, (_, i) => new Uint8Array([i & 0xff, (i >> 8) & 0xff, 1]));
    const results = await Promise.all(inputs.map((d) => inst.client.call(id, d)));
    expect(results).toEqual(inputs.map((d) => d[0]! + d[1]! + 1));
  });

  it("a crash rejects every pending call, the crashing one and those queued behind it", async () => {
    const { inst } = await start("hostile");
    const ok = inst.callbackId("ok");
    const segv = inst.callbackId("segv");
    const calls = [
      inst.client.call(ok, bytes("a")),
      inst.client.call(ok, bytes("bb")),
      inst.client.call(segv, bytes(""), "segv"),
      inst.client.call(ok, bytes("ccc")),
      inst.client.call(ok, bytes("dddd")),
    ];
    const settled = await Promise.allSettled(calls);
    expect(settled.slice(0, 2)).toEqual([
      { status: "fulfilled", value: 1 },
      { status: "fulfilled", value: 2 },
    ]);
    for (const s of settled.slice(2)) {
      expect(s.status).toBe("rejected");
      expect((s as PromiseRejectedResult).reason).toBeInstanceOf(PluginCrashed);
    }
    expect(((settled[2] as PromiseRejectedResult).reason as PluginCrashed).export).toBe("segv");
  });

  it("the raw-BPF helper (no libseccomp) enforces the same filter", async () => {
    const bpf = createNativeEngine({
      sandbox: { helperPath: path.join(root, "native", "sandbox-helper", "build", "plughost-sandbox-helper-bpf") },
    });
    const { inst, host } = await start("hostile", {}, bpf);
    expect(inst.info.measures).toContain("seccomp");
    expect(inst.info.measures).not.toContain("libseccomp");
    expect(await inst.onEvent("socket", bytes(""))).toBe(0);
    expect(host.violations.map((v) => v.detail)).toContain("denied syscall socket (1×)");
    expect(await inst.onEvent("forkbomb", bytes(""))).toBe(-1);
    // threads still work: clone3 reports ENOSYS and glibc falls back to clone
    const basic = await start("basic", {}, bpf);
    expect(await basic.inst.onEvent("thread-log", bytes(""))).toBe(0);
    await until(() => basic.host.logs.some((l) => l.message === "from a plugin thread"));
    const err = await inst.onEvent("sigsys", bytes("")).catch((e: unknown) => e);
    expect((err as PluginCrashed).signal).toBe("SIGSYS");
  });

  it("a helper that cannot set up its sandbox is ContextCreationFailed, not a hang", async () => {
    const broken = createNativeEngine({ sandbox: { helperPath: "/bin/false" } });
    await expect(broken.load(request("basic", "untrusted", recordingHost()))).rejects.toMatchObject({
      code: "E_CONTEXT_CREATION_FAILED",
    });
  });
});
