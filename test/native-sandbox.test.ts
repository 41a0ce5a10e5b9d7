// Untrusted native plugins: the hostile corpus, each contained in its sandbox
// helper while the host and other plugins carry on; deadlines, pipelining,
// crash handling, and the sandbox measures (libseccomp and raw-BPF helpers).
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createNativeEngine, nativeEngine, type NativeSandboxInstance } from "../src/engines/native/engine.js";
import type { EngineInstance, LoadRequest } from "../src/engines/engine.js";
import { CapabilityDenied, DeadlineExceeded, PluginCrashed, ResourceCleanupFailed } from "../src/contract/errors.js";
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

describe("shared call slot", () => {
  // A generous host spin makes "answered in the slot" deterministic on a loaded machine.
  const patient = createNativeEngine({ sandbox: { hostSpinMicros: 1_000_000 } });

  it("answers lone calls and hooks in the slot; calls that log, call the host or carry big payloads use the pipe, in order", async () => {
    const { inst, host } = await start("basic", {}, patient);
    const c = inst.client;
    let slot = c.slotAnswers;
    for (let i = 0; i < 50; i++) expect(await inst.onEvent("echo", bytes("0123456789abcdef"))).toBe(16);
    expect(c.slotAnswers - slot).toBe(50);
    const up = await inst.onHook("upper", bytes("slot"));
    expect(up.ok && Buffer.from(up.data).toString()).toBe("SLOT");
    expect(await inst.onHook("echo", bytes("four"))).toEqual({ ok: false, status: 4 });
    expect(c.slotAnswers - slot).toBe(52);
    slot = c.slotAnswers;
    host.logs.length = 0;
    expect(await inst.onEvent("log", bytes("hi"))).toBe(0); // logs travel first, then the answer
    expect(host.logs.map((l) => l.level)).toEqual(["debug", "info", "warn", "error"]);
    const pass = await inst.onHook("log", bytes("same"));
    expect(pass.ok && Buffer.from(pass.data).toString()).toBe("same");
    expect(await inst.onEvent("emit", bytes("news"))).toBe(2); // a host request in mid-call
    expect(host.emitted).toEqual([{ name: "news", data: "news" }]);
    expect(await inst.onEvent("sum", new Uint8Array(100 << 10).fill(1))).toBe(100 << 10); // > 64 KiB
    expect(c.slotAnswers).toBe(slot);
    expect(await inst.onEvent("echo", bytes("again"))).toBe(5);
    expect(c.slotAnswers).toBe(slot + 1);
  });

  it("a plugin that forges an out-of-bounds answer in the slot is killed: PluginCrashed, the host and its neighbour carry on", async () => {
    const { inst, host } = await start("hostile", {}, patient);
    const err = await inst.onHook("forge-slot", bytes("x")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginCrashed);
    expect((err as PluginCrashed).export).toBe("forge-slot");
    expect(String((err as PluginCrashed).cause)).toContain("malformed answer in the shared slot");
    expect(host.violations.map((v) => v.kind)).toContain("crash");
    await expect(inst.onEvent("ok", bytes(""))).rejects.toBeInstanceOf(PluginCrashed);
    await until(() => { try { process.kill(inst.client.pid, 0); return false; } catch { return true; } });
    await neighbourStillWorks();
  });

  it("a slot call the host stopped waiting for still runs before the calls pipelined behind it", async () => {
    // hostSpinMicros 0: every slot call is left to the pipe at once, racing the frames sent after it.
    const eager = createNativeEngine({ sandbox: { hostSpinMicros: 0, spinMicros: 0 } });
    const { inst } = await start("basic", {}, eager);
    const id = inst.callbackId("counter");
    let expected = 0;
    for (let round = 0; round < 30; round++) {
      const batch = Array.from({ length: 20 }, () => inst.client.call(id, bytes("")));
      expect(await Promise.all(batch)).toEqual(Array.from({ length: 20 }, () => ++expected));
    }
  });

  it("without the slot (sharedMemory: false) the same calls work over the pipe alone", async () => {
    const { inst } = await start("basic", {}, createNativeEngine({ sandbox: { sharedMemory: false } }));
    expect(await inst.onEvent("echo", bytes("abc"))).toBe(3);
    const up = await inst.onHook("upper", bytes("pipe"));
    expect(up.ok && Buffer.from(up.data).toString()).toBe("PIPE");
    expect(inst.client.slotAnswers).toBe(0);
  });
});

describe("helper cleanup that fails", () => {
  it("a helper whose process tree cannot be reaped fails dispose with ResourceCleanupFailed instead of hanging", async () => {
    // Only possible with the sandbox switched off: the plugin forks a child that leaves the process group.
    const weak = createNativeEngine({ sandbox: { namespaces: false, seccomp: false, reapTimeoutMs: 300 } });
    const inst = (await weak.load(request("escapee", "untrusted", recordingHost()))) as NativeSandboxInstance;
    expect(await inst.init("0.1.0", "{}")).toBe(0);
    const escaped = await inst.onEvent("escape", bytes(""));
    expect(escaped).toBeGreaterThan(0);
    try {
      expect(await inst.teardown()).toBe(0);
      const t0 = Date.now();
      const err = await inst.dispose().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResourceCleanupFailed);
      expect((err as ResourceCleanupFailed).code).toBe("E_RESOURCE_CLEANUP_FAILED");
      expect((err as ResourceCleanupFailed).plugin).toBe("escapee");
      expect((err as Error).message).toContain("still holds its pipes open");
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(() => process.kill(inst.client.pid, 0)).toThrow(); // the helper itself is gone
    } finally {
      process.kill(escaped, "SIGKILL"); // the escaped child this test made
    }
    // In the sandbox the same plugin cannot fork at all, and dispose is clean.
    const { inst: boxed } = await start("escapee");
    expect(await boxed.onEvent("escape", bytes(""))).toBe(-1);
    await expect(boxed.dispose()).resolves.toBeUndefined();
  });
});

describe("sandbox helper", () => {
  it("reports the measures in force (namespaces, a private root, dropped privileges, rlimits, no_new_privs, seccomp)", async () => {
    const { inst } = await start("basic");
    const m = inst.info.measures;
    expect(m).toEqual(
      expect.arrayContaining(["net-namespace", "pid-namespace", "mount-namespace", "private-root", "dropped-privileges", "no-new-privs", "seccomp", "rlimits"]),
    );
    if (process.getuid?.() !== 0) expect(m).toContain("user-namespace");
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
