// Attacks on the native sandbox helper itself (issue 11): code that runs at
// dlopen, metadata calls on host paths, forged and oversized frames on the
// helper's pipes, thread and CPU exhaustion, and a call that never returns.
// Each must stay contained: a typed error or a bound, the host alive and a
// neighbouring sandboxed plugin still answering.
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createNativeEngine, nativeEngine, type NativeSandboxInstance } from "../src/engines/native/engine.js";
import { HELPER_PATH } from "../src/engines/native/shared.js";
import { FrameReader, LINE_MAX, LineSplitter } from "../src/engines/native/sandbox/protocol.js";
import { PluginRegistry } from "../src/runtime/registry.js";
import type { Engine, EngineInstance, LoadRequest } from "../src/engines/engine.js";
import { AbiViolation, ContextCreationFailed, CpuBudgetExceeded, InvalidPluginBinary, isInstanceFault } from "../src/contract/errors.js";
import { bytes, fixture, recordingHost, request, until, type RecordingHost } from "./native-helpers.js";

const SECRET = "/tmp/plughost-intruder-secret"; // the path intruder.c's constructor tries
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
/** The ordinary-user cases switch uids, which needs root (the set-up, CI and these machines run as root). */
function needsRoot(): void {
  expect(isRoot, "this case drops to uid nobody or maps uids, which needs the suite to run as root").toBe(true);
}

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
  // The checkout may sit below a directory only root can enter (a CI clone in
  // a 0700 temp dir): the helper and the libraries it opens go where that user
  // can reach them.
  chmodSync(tmp, 0o755);
  const helper = path.join(tmp, "sandbox-helper");
  copyFileSync(HELPER_PATH, helper);
  chmodSync(helper, 0o755);
  const wrapper = path.join(tmp, "helper-as-nobody.sh");
  writeFileSync(wrapper, `#!/bin/sh\nexec setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups ${helper} "$@"\n`, { mode: 0o755 });
  return createNativeEngine({ sandbox: { helperPath: wrapper } });
}

/** A copy of fixture `name` that an ordinary user can read, as the entry of a load request. */
function reachable(name: string): Partial<LoadRequest> {
  const file = path.join(tmp, `${name}-reachable.so`);
  copyFileSync(fixture(name), file);
  chmodSync(file, 0o644);
  return { entryPath: file };
}

describe("the filesystem is gone before the library is mapped", () => {
  it("a constructor that opens /etc/passwd and a mode-0600 file gets nothing; the plugin still loads and answers", async () => {
    const { inst, host } = await start("intruder");
    expect(await inst.onEvent("ctor", bytes(""))).toBe(0);
    const report = host.logs.at(-1)?.message ?? "";
    expect(report).toMatch(/passwd=-\d+ secret=-\d+ stat-shadow=-\d+/);
    expect(inst.info.measures).toEqual(expect.arrayContaining(["private-root", "violation-supervisor"]));
    expect(await inst.onEvent("ok", bytes("abc"))).toBe(3);
    expect(await inst.onEvent("sqrt", bytes("12345"))).toBe(5); // libm, which it links, is in its root
    await neighbourStillWorks();
  });

  it("the same holds when the host is an ordinary user and the 0600 file is that user's own", async () => {
    needsRoot();
    chownSync(SECRET, NOBODY, NOBODY);
    try {
      const { inst, host } = await start("intruder", reachable("intruder"), asOrdinaryUser());
      expect(inst.info.measures).toEqual(
        expect.arrayContaining(["user-namespace", "mount-namespace", "private-root", "dropped-privileges", "seccomp", "violation-supervisor"]),
      );
      expect(await inst.onEvent("ctor", bytes(""))).toBe(0);
      expect(host.logs.at(-1)?.message).toMatch(/passwd=-\d+ secret=-\d+ stat-shadow=-\d+/);
      expect(await inst.onEvent("stat-host", bytes(""))).toBe(0);
      expect(await inst.onEvent("hide-denials", bytes(""))).toBe(1);
      expect(host.violations.at(-1)).toEqual({ kind: "capability", detail: "denied syscall socket (1×)" });
    } finally {
      chownSync(SECRET, 0, 0);
      chmodSync(SECRET, 0o600);
    }
  });

  it("malformed libraries are read safely before the sandbox: InvalidPluginBinary, never a crash of the helper", async () => {
    const real = readFileSync(fixture("intruder"));
    const garbage = Buffer.alloc(4096, 0xa5);
    garbage.write("\x7fELF\x02\x01\x01", 0, "latin1"); // an ELF header with nonsense behind it
    const huge = Buffer.from(real);
    huge.writeUInt16LE(0xffff, 56); // e_phnum
    const cases: [string, Buffer][] = [
      ["garbage", garbage],
      ["truncated", real.subarray(0, 2000)],
      ["bad phnum", huge],
    ];
    for (const [label, bytesOf] of cases) {
      const file = path.join(tmp, `${label.replace(/ /g, "-")}.so`);
      writeFileSync(file, bytesOf);
      const err = await nativeEngine.load(request("intruder", "untrusted", recordingHost(), { entryPath: file })).catch((e: unknown) => e);
      expect(err, label).toBeInstanceOf(InvalidPluginBinary);
    }
    // A library that links one found in no system directory: the loader's own error, naming it.
    const cc = (args: string[], input: string) => spawnSync("gcc", ["-shared", "-fPIC", "-x", "c", "-", ...args], { input, encoding: "utf8" });
    const lib = cc(["-o", path.join(tmp, "libnope.so")], "int nope(void) { return 1; }");
    expect(lib.status, lib.stderr).toBe(0);
    const needs = cc(
      ["-o", path.join(tmp, "needs.so"), "-L", tmp, "-lnope"],
      "int nope(void); int plugin_init(void *c) { (void)c; return nope() - 1; } int plugin_teardown(void *c) { (void)c; return 0; }",
    );
    expect(needs.status, needs.stderr).toBe(0);
    rmSync(path.join(tmp, "libnope.so"));
    const err = await nativeEngine.load(request("needs", "untrusted", recordingHost(), { entryPath: path.join(tmp, "needs.so") })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidPluginBinary);
    expect((err as Error).message).toContain("nope.so");
    await neighbourStillWorks();
  });

  it("a helper that cannot stop being root (a user namespace mapping only root) refuses to load: ContextCreationFailed", async () => {
    needsRoot();
    const wrapper = path.join(tmp, "helper-root-only.sh");
    writeFileSync(wrapper, `#!/bin/sh\nexec unshare --user --map-root-user ${HELPER_PATH} "$@"\n`, { mode: 0o755 });
    const engine = createNativeEngine({ sandbox: { helperPath: wrapper } });
    const err = await engine.load(request("intruder", "untrusted", recordingHost())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContextCreationFailed);
    expect((err as ContextCreationFailed).plugin).toBe("intruder");
    expect((err as Error).message).toContain("cannot drop root privileges");
    await neighbourStillWorks();
  });

  it.each([
    ["libseccomp", HELPER_PATH],
    ["raw BPF", `${HELPER_PATH}-bpf`],
  ])("stat, lstat, access, statx, readlink, fstatat and faccessat on host paths all fail (%s filter)", async (_, helperPath) => {
    const { inst, host } = await start("intruder", {}, createNativeEngine({ sandbox: { helperPath } }));
    expect(await inst.onEvent("stat-host", bytes(""))).toBe(0);
    expect(host.logs.at(-1)?.message).toMatch(/^stat bits 0 /);
    // denied by the filter too, not only absent from the private root
    const denied = host.violations.at(-1)?.detail ?? "";
    expect(denied).toMatch(/^denied syscalls /);
    for (const name of ["newfstatat", "statx", "faccessat", "readlink"]) expect(denied).toContain(name);
    expect(await inst.onEvent("sqrt", bytes("abc"))).toBe(3);
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
    // Denials are reported by the helper's supervisor (init) on a channel of its own: frames the plugin writes count for nothing.
    expect(inst.info.measures).toContain("violation-supervisor");
    expect(host.violations).toEqual([]);
    await neighbourStillWorks();
  });

  it("a plugin cannot hide its denied syscalls: they are counted outside its process", async () => {
    const { inst, host } = await start("intruder");
    expect(await inst.onEvent("hide-denials", bytes(""))).toBe(1); // EPERM
    expect(host.violations).toEqual([{ kind: "capability", detail: "denied syscall socket (1×)" }]);
    await neighbourStillWorks();
  });

  it("a thread making denied calls in a loop between calls is recorded in bounded batches and slowed down", async () => {
    const { inst, host } = await start("intruder");
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    expect(await inst.onEvent("deny-loop-after", bytes(""))).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));
    lag.disable();
    const records = host.violations.filter((v) => v.kind === "capability");
    expect(records.length).toBeGreaterThan(0);
    expect(records.length).toBeLessThanOrEqual(6); // one per 250 ms
    const denied = records.reduce((sum, v) => sum + Number(/socket \((\d+)×\)/.exec(v.detail)?.[1] ?? 0), 0);
    expect(denied).toBeLessThan(5000); // about 2,000 a second past the first 200
    expect(lag.max / 1e6).toBeLessThan(1000);
    expect(await inst.onEvent("ok", bytes("abc"))).toBe(3);
    await neighbourStillWorks();
  });

  it("a raw 60 MiB frame is refused as it arrives: AbiViolation, helper killed, bounded host time", async () => {
    const { inst } = await start("intruder");
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const t0 = Date.now();
    const err = await inst.onEvent("big-frame", bytes("")).catch((e: unknown) => e);
    lag.disable();
    expect(err).toBeInstanceOf(AbiViolation);
    expect((err as AbiViolation).plugin).toBe("intruder");
    expect((err as Error).message).toContain("frame");
    expect(Date.now() - t0).toBeLessThan(5000); // was over 60 s
    expect(lag.max / 1e6).toBeLessThan(1000); // no event-loop stall (was 0.7 to 3.6 s)
    await until(gone(inst.client.pid));
    await neighbourStillWorks();
  });

  it("a constructor that forges the sandbox report is caught: AbiViolation at load, the measures are the helper's", async () => {
    const err = await nativeEngine.load(request("forger", "untrusted", recordingHost())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbiViolation);
    expect((err as AbiViolation).plugin).toBe("forger");
    expect((err as Error).message).toContain("unexpected SANDBOX frame");
    await neighbourStillWorks();
  });

  it("64 MiB on stdout without a newline is cut into a bounded log line, in bounded host time", async () => {
    const { inst, host } = await start("intruder");
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const t0 = Date.now();
    expect(await inst.onEvent("stdout-flood", bytes(""))).toBe(7);
    await until(() => host.logs.some((l) => l.message === "after the flood"), 20_000);
    lag.disable();
    expect(Date.now() - t0).toBeLessThan(20_000); // was about 50 s
    expect(lag.max / 1e6).toBeLessThan(1000);
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
    if (isRoot) expect(inst.info.measures).toContain("own-uid");
    const made = await inst.onEvent("threads", bytes("300"));
    expect(made).toBeGreaterThan(200);
    expect(made).toBeLessThan(300); // its own RLIMIT_NPROC (256) still holds
    const other = await start("basic");
    expect(await other.inst.onEvent("thread-log", bytes(""))).toBe(0);
    const again = await start("intruder");
    expect(await again.inst.onEvent("threads", bytes("100"))).toBe(100);
    await neighbourStillWorks();
  });

  it("as an ordinary user, helpers of the same uid each have their own thread budget (a user namespace each)", async () => {
    needsRoot();
    const engine = asOrdinaryUser();
    const { inst } = await start("intruder", reachable("intruder"), engine);
    const made = await inst.onEvent("threads", bytes("300"));
    expect(made).toBeGreaterThan(200);
    expect(made).toBeLessThan(300);
    const other = await start("basic", reachable("basic"), engine);
    expect(await other.inst.onEvent("thread-log", bytes(""))).toBe(0);
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

describe("a spinning thread cannot hide behind calls", () => {
  it("is stopped even while the host keeps calling the plugin every 50 ms", async () => {
    const engine = createNativeEngine({ sandbox: { idleCpuMs: 300 } });
    const { inst, host } = await start("intruder", {}, engine);
    expect(await inst.onEvent("spin-after", bytes(""))).toBe(0);
    let err: unknown;
    const t0 = Date.now();
    while (err === undefined && Date.now() - t0 < 10_000) {
      err = await inst.onEvent("ok", bytes("x")).then(() => undefined, (e: unknown) => e);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(err).toBeInstanceOf(CpuBudgetExceeded);
    expect(host.violations.map((v) => v.detail).join("\n")).toMatch(/CPU between calls/);
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

describe("dispose ends a helper stuck in a call, through the registry", () => {
  it("unload of a plugin stuck in an endless call finishes within the unload grace period", async () => {
    const dir = mkdtempSync(path.join(tmp, "stuck-"));
    copyFileSync(fixture("intruder"), path.join(dir, "intruder.so"));
    writeFileSync(
      path.join(dir, "plugin.toml"),
      'name = "stuck"\nversion = "1.0.0"\napi-version = "^0.1.0"\nkind = "native"\nentry = "intruder.so"\ntrust = "untrusted"\n',
    );
    const registry = new PluginRegistry({
      logger: pino({ level: "silent" }),
      cacheDir: false,
      defaultLimits: { deadlineMs: 60_000, unloadGraceMs: 300 },
    });
    try {
      const h = await registry.load(dir);
      const call = h.invoke("spin", bytes("")).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      await registry.unload("stuck").catch(() => undefined);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(registry.isLoaded("stuck")).toBe(false);
      expect(isInstanceFault(await call)).toBe(true);
      await neighbourStillWorks();
    } finally {
      await registry.unloadAll();
    }
  });
});

describe("frame and line decoding", () => {
  const frame = (type: number, id: number, payload: Buffer) => {
    const b = Buffer.alloc(9 + payload.length);
    b.writeUInt32LE(5 + payload.length, 0);
    b[4] = type;
    b.writeUInt32LE(id, 5);
    payload.copy(b, 9);
    return b;
  };

  it("decodes the same frames however the stream is cut, and refuses an oversized control frame at its header", () => {
    const frames = [frame(66, 1, Buffer.from([1, 0, 0, 0])), frame(67, 2, Buffer.alloc(200_000, 7)), frame(68, 0, Buffer.from("\x01hello")), frame(66, 3, Buffer.alloc(4))];
    const stream = Buffer.concat(frames);
    for (const cut of [1, 2, 5, 9, 13, 4096, 65536, stream.length]) {
      const reader = new FrameReader();
      const seen: string[] = [];
      const problems = new Set<string | undefined>();
      for (let off = 0; off < stream.length; off += cut) {
        problems.add(reader.push(stream.subarray(off, off + cut), (type, id, buf, start, end) => {
          seen.push(`${type}/${id}/${end - start}/${buf[start] ?? ""}`);
        }));
      }
      expect([...problems]).toEqual([undefined]);
      expect(seen).toEqual(["66/1/4/1", "67/2/200000/7", "68/0/6/1", "66/3/4/0"]);
    }
    const head = Buffer.alloc(9);
    head.writeUInt32LE(60 << 20, 0);
    head[4] = 68; // a log frame of 60 MiB
    expect(new FrameReader().push(head, () => undefined)).toMatch(/frame of 62914560 bytes \(type 68\); the protocol allows 5 to 65536/);
  });

  it("cuts lines at LINE_MAX and says how much was dropped", () => {
    const lines: string[] = [];
    const split = new LineSplitter((l) => lines.push(l));
    split.push(Buffer.from("one\ntw"));
    split.push(Buffer.from("o\n"));
    for (let i = 0; i < 100; i++) split.push(Buffer.alloc(4096, 120));
    split.push(Buffer.from("\nlast"));
    split.end();
    expect(lines[0]).toBe("one");
    expect(lines[1]).toBe("two");
    expect(lines[2]!.startsWith("x".repeat(LINE_MAX))).toBe(true);
    expect(lines[2]).toContain(`${100 * 4096 - LINE_MAX} bytes dropped`);
    expect(lines[3]).toBe("last");
  });
});
