// Attacks on the native sandbox helper itself (issue 11): code that runs at
// dlopen, metadata calls on host paths, forged and oversized frames on the
// helper's pipes, thread and CPU exhaustion, and a call that never returns.
// Each must stay contained: a typed error or a bound, the host alive and a
// neighbouring sandboxed plugin still answering.
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createNativeEngine, nativeEngine, type NativeSandboxInstance } from "../src/engines/native.js";
import { HELPER_PATH } from "../src/engines/native-shared.js";
import type { Engine, EngineInstance, LoadRequest } from "../src/engine.js";
import { AbiViolation, CpuBudgetExceeded, isInstanceFault } from "../src/errors.js";
import { bytes, recordingHost, request, until, type RecordingHost } from "./native-helpers.js";

const SECRET = "/tmp/plughost-intruder-secret"; // the path intruder.c's constructor tries
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

const live: EngineInstance[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((i) => i.dispose().catch(() => undefined)));
});

async function start(name: string, extra: Partial<LoadRequest> = {}, engine: Engine = nativeEngine) {
  const host = recordingHost();
  const inst = (await engine.load(request(name, "untrusted", host, extra))) as NativeSandboxInstance;
  live.push(inst);
  expect(await inst.init("0.1.0", "{}")).toBe(0);
  return { inst, host };
}

let neighbour: { inst: NativeSandboxInstance; host: RecordingHost };
const tmp = mkdtempSync(path.join(tmpdir(), "plughost-hostile-native-"));
beforeAll(async () => {
  writeFileSync(SECRET, "ssh-ed25519 private key material\n", { mode: 0o600 });
  const host = recordingHost();
  const inst = (await nativeEngine.load(request("basic", "untrusted", host))) as NativeSandboxInstance;
  await inst.init("0.1.0", "{}");
  neighbour = { inst, host };
});
afterAll(async () => {
  await neighbour.inst.dispose();
  rmSync(SECRET, { force: true });
  rmSync(tmp, { recursive: true, force: true });
});

async function neighbourStillWorks(): Promise<void> {
  expect(await neighbour.inst.onEvent("echo", bytes("still here"))).toBe(10);
}

const gone = (pid: number) => () => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

/**
 * A sandbox helper that runs as an ordinary user (uid nobody), as it does when
 * the host is not root: a wrapper that drops to that user and execs the helper.
 */
function asOrdinaryUser(): Engine {
  const wrapper = path.join(tmp, "helper-as-nobody.sh");
  writeFileSync(wrapper, `#!/bin/sh\nexec setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups ${HELPER_PATH} "$@"\n`, { mode: 0o755 });
  return createNativeEngine({ sandbox: { helperPath: wrapper } });
}

describe("the filesystem is gone before the library is mapped", () => {
  it("a constructor that opens /etc/passwd and a mode-0600 file gets nothing; the plugin still loads and answers", async () => {
    const { inst, host } = await start("intruder");
    expect(await inst.onEvent("ctor", bytes(""))).toBe(0);
    const report = host.logs.at(-1)?.message ?? "";
    expect(report).toMatch(/passwd=-\d+ secret=-\d+ stat-shadow=-\d+/);
    expect(inst.info.measures).toContain("private-root");
    expect(await inst.onEvent("ok", bytes("abc"))).toBe(3);
    expect(await inst.onEvent("sqrt", bytes("12345"))).toBe(5); // libm, which it links, is in its root
    await neighbourStillWorks();
  });

  it.runIf(isRoot)("the same holds when the host is an ordinary user and the 0600 file is that user's own", async () => {
    chownSync(SECRET, NOBODY, NOBODY);
    try {
      const { inst, host } = await start("intruder", {}, asOrdinaryUser());
      expect(inst.info.measures).toEqual(expect.arrayContaining(["user-namespace", "mount-namespace", "private-root", "seccomp"]));
      expect(await inst.onEvent("ctor", bytes(""))).toBe(0);
      expect(host.logs.at(-1)?.message).toMatch(/passwd=-\d+ secret=-\d+ stat-shadow=-\d+/);
      expect(await inst.onEvent("stat-host", bytes(""))).toBe(0);
    } finally {
      chownSync(SECRET, 0, 0);
      chmodSync(SECRET, 0o600);
    }
  });

  it("stat, lstat, access, statx, readlink, fstatat and faccessat on host paths all fail", async () => {
    const { inst, host } = await start("intruder");
    expect(await inst.onEvent("stat-host", bytes(""))).toBe(0);
    expect(host.logs.at(-1)?.message).toMatch(/^stat bits 0 /);
    await neighbourStillWorks();
  });
});

describe("the helper's pipes are not trusted", () => {
  it("1,000,000 forged violation frames do not become 1,000,000 violations", async () => {
    const { inst, host } = await start("intruder");
    const t0 = Date.now();
    const status = await inst.onEvent("forge-violations", bytes("")).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(20_000);
    // Either the call returns or the helper is thrown out for its frames; never a million records.
    if (typeof status !== "number") expect(isInstanceFault(status)).toBe(true);
    expect(host.violations.length).toBeLessThanOrEqual(1);
    await neighbourStillWorks();
  });

  it("a raw 60 MiB frame is refused as it arrives: AbiViolation, helper killed, bounded host time", async () => {
    const { inst } = await start("intruder");
    let ticks = 0;
    const tick = setInterval(() => ticks++, 10);
    const t0 = Date.now();
    const err = await inst.onEvent("big-frame", bytes("")).catch((e: unknown) => e);
    clearInterval(tick);
    expect(err).toBeInstanceOf(AbiViolation);
    expect((err as AbiViolation).plugin).toBe("intruder");
    expect((err as Error).message).toContain("frame");
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(ticks).toBeGreaterThan(0);
    await until(gone(inst.client.pid));
    await neighbourStillWorks();
  });

  it("64 MiB on stdout without a newline is cut into a bounded log line, in bounded host time", async () => {
    const { inst, host } = await start("intruder");
    const t0 = Date.now();
    expect(await inst.onEvent("stdout-flood", bytes(""))).toBe(7);
    await until(() => host.logs.some((l) => l.message === "after the flood"), 20_000);
    expect(Date.now() - t0).toBeLessThan(20_000);
    const longest = Math.max(...host.logs.map((l) => l.message.length));
    expect(longest).toBeLessThanOrEqual(64 * 1024 + 200);
    expect(host.logs.some((l) => /dropped/.test(l.message))).toBe(true);
    expect(await inst.onEvent("ok", bytes("ab"))).toBe(2);
    await neighbourStillWorks();
  });
});

describe("each plugin has its own budget", () => {
  it("a plugin holding 300 threads cannot stop another sandboxed plugin from loading and starting threads", async () => {
    const { inst } = await start("intruder");
    const made = await inst.onEvent("threads", bytes("300"));
    expect(made).toBeGreaterThan(200);
    expect(made).toBeLessThan(300); // its own RLIMIT_NPROC (256) still holds
    const other = await start("basic");
    expect(await other.inst.onEvent("thread-log", bytes(""))).toBe(0);
    const again = await start("intruder");
    expect(await again.inst.onEvent("threads", bytes("100"))).toBe(100);
    await neighbourStillWorks();
  });

  it("a thread that keeps spinning after its call returned is stopped and recorded", async () => {
    const engine = createNativeEngine({ sandbox: { idleCpuMs: 300 } });
    const { inst, host } = await start("intruder", {}, engine);
    expect(await inst.onEvent("spin-after", bytes(""))).toBe(0);
    await until(() => host.violations.length > 0, 10_000);
    expect(host.violations[0]?.detail).toMatch(/CPU between calls/);
    await until(gone(inst.client.pid));
    const err = await inst.onEvent("ok", bytes("")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CpuBudgetExceeded);
    expect((err as CpuBudgetExceeded).plugin).toBe("intruder");
    await neighbourStillWorks();
  });
});

describe("dispose ends a helper stuck in a call", () => {
  it("dispose() mid-call SIGKILLs the helper at once; the pending call rejects with an InstanceFault", async () => {
    const { inst } = await start("intruder");
    const stuck = inst.onEvent("spin", bytes("")).catch((e: unknown) => e);
    const queued = inst.onEvent("ok", bytes("x")).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await inst.dispose();
    expect(Date.now() - t0).toBeLessThan(900); // no grace wait for a helper that is busy
    for (const err of [await stuck, await queued]) {
      expect(isInstanceFault(err)).toBe(true);
      expect((err as Error & { plugin?: string }).plugin).toBe("intruder");
    }
    await until(gone(inst.client.pid));
    await neighbourStillWorks();
  });
});
