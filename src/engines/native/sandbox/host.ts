/**
 * Untrusted native plugins: one sandbox helper process per plugin
 * (native/sandbox-helper), spoken to over fds 3/4 with the protocol in
 * protocol.ts. A crash, exit or kill of the helper becomes
 * PluginCrashed; a call past its deadline kills the helper and fails with
 * DeadlineExceeded. Several calls may be in flight at once (pipelining): the
 * helper runs them in order and answers each by id. A lone call takes the
 * shared-memory slot (slot.ts) when it can.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { availableParallelism } from "node:os";
import type { Duplex, Readable, Writable } from "node:stream";
import {
  AbiViolation,
  CapabilityDenied,
  ContextCreationFailed,
  CpuBudgetExceeded,
  DeadlineExceeded,
  EngineUnavailable,
  ResourceLimitExceeded,
  InvalidPluginBinary,
  InvocationFailed,
  PlughostError,
  PluginCrashed,
  PluginNotRunning,
  ResourceCleanupFailed,
} from "../../../contract/errors.js";
import type { EngineInstance, HookOutcome, LoadRequest } from "../../engine.js";
import { currentDelivery, withDelivery, type Delivery } from "../../../runtime/message-chain.js";
import {
  EXIT_PROTOCOL,
  EXIT_SANDBOX,
  FailKind,
  FrameReader,
  FrameWriter,
  LineSplitter,
  HAS_API,
  HAS_CONFIG_CHANGED,
  HAS_RESTORE,
  HAS_RESUME,
  HAS_SNAPSHOT,
  HAS_SUSPEND,
  HAS_NAME,
  HAS_VERSION,
  HELPER_ID_BIT,
  ContextOp,
  MetricOp,
  Msg,
  SANDBOX_FLAGS,
  StateOp,
  cstr,
  type SandboxMeasure,
} from "./protocol.js";
import {
  CallbackTable,
  checkApiVersion,
  currentMessageBytes,
  hostMessaging,
  locateSandboxHelper,
  logLevel,
  messageCode,
  NATIVE_CONTEXT_KEY_MAX,
  NATIVE_CONTEXT_VALUE_MAX,
  NATIVE_KEY_MAX,
  NATIVE_METRIC_BOUNDS,
  NATIVE_VALUE_MAX,
  contextStatus,
  metricStatus,
  nativeMetricCalls,
  nativeStateCalls,
  nativeUnavailable,
  stateStatus,
  type NativeMetricCalls,
  type NativeStateCalls,
  packApiVersion,
  requestAnswer,
  requestStatus,
} from "../shared.js";
import { SLOT_DATA_MAX, SharedSlot } from "./slot.js";
import { HelperCgroup, nofileLimit, openFds, resourceControl, seccompArgs, type ResourceControl, type SeccompProfile } from "./resources.js";

/** Knobs for the helper's sandbox; defaults suit a small event handler. */
export interface SandboxOptions {
  helperPath?: string;
  /** RLIMIT_AS. Default: (limits.memoryBytes ?? 256 MiB) + 64 MiB for libc, stacks and the helper. */
  addressSpaceBytes?: number;
  /** RLIMIT_CPU over the helper's lifetime, in seconds. Default 600. */
  cpuSeconds?: number;
  /**
   * RLIMIT_NOFILE: file descriptors of the plugin's process, the helper's own (about 8) included. Default 32, or
   * fewer when the plugin's `limits.openFiles` + 8 is lower. Reaching it is a violation of kind "resource".
   */
  openFiles?: number;
  /**
   * RLIMIT_NPROC: threads the plugin may have. As root each helper runs as a
   * uid of its own (2,000,000,000 + its pid), as an ordinary user in a user
   * namespace of its own, so the budget is per plugin. Default 256.
   */
  processes?: number;
  /**
   * CPU (ms) the helper may use while none of its calls is running (threads
   * left working after a call returned), as a burst; the allowance refills at
   * 10% of one core. Past it the helper is killed, a violation is recorded and
   * calls fail with CpuBudgetExceeded. Measured by the host from /proc, every
   * 250 ms; what calls could use (their wall time on every core) is not
   * charged. Default 2000; Infinity turns the check off.
   */
  idleCpuMs?: number;
  /** Enter namespaces (default true). */
  namespaces?: boolean;
  /** Load the seccomp filter (default true). */
  seccomp?: boolean;
  /** Which seccomp filter: "basic" (default), "strict", or a profile narrowed by the host's own list (see SeccompProfile). */
  seccompProfile?: SeccompProfile;
  /**
   * Where memory, CPU and processes are bounded: "auto" (default: a cgroup v2 group per helper when the host's own
   * cgroup delegates memory, pids and cpu, else the rlimits alone), a delegated cgroup v2 directory (required: the
   * plugin does not load without it), or false (rlimits only). `HelperInfo.resourceControl` says which took effect.
   */
  cgroup?: string | false;
  /** With a cgroup: the CPU the helper may use, in percent of one core (cpu.max). Default 100. */
  cpuPercent?: number;
  /**
   * Microseconds the helper polls for the next request before it blocks.
   * Trades a little CPU after each call for lower one-at-a-time latency.
   * Default 50 with the shared slot, 0 without.
   */
  spinMicros?: number;
  /**
   * Use the shared-memory call slot for calls made one at a time (default
   * true; needs the node-api addon, else the pipe alone is used).
   */
  sharedMemory?: boolean;
  /**
   * Microseconds the host's JS thread spins for a slot call's answer before
   * it leaves the call to the pipe and returns to the event loop. Default 50.
   */
  hostSpinMicros?: number;
  /** How long the helper may take to start and load the library. Default 10 s. */
  startTimeoutMs?: number;
  /**
   * On dispose, how long to wait for the helper to be reaped (and its pipes
   * closed) after SIGKILL before giving up with ResourceCleanupFailed. Default 2 s.
   */
  reapTimeoutMs?: number;
}

const MiB = 1 << 20;
/** Descriptors the helper holds itself (stdio, the protocol pipes, the slot, the report pipe): counted by RLIMIT_NOFILE too. */
const HELPER_FDS = 8;
/**
 * Capabilities a sandboxed native plugin can hold: the sandbox has no files, network or env to offer; the state
 * store and the context are the host's, reached over the protocol.
 */
const GRANTABLE = /^(stdio|clock|random|state|metrics|context:.+|events:(publish|subscribe):.+)$/;

interface Pending {
  id: number;
  kind: "init" | "call" | "hook" | "teardown" | "snapshot";
  label: string;
  resolve(v: number | HookOutcome | Uint8Array): void;
  reject(err: Error): void;
  data?: Uint8Array;
  /** Syscalls the helper reported as denied during this request: name → count. */
  denied?: Map<string, number>;
  /** The message chain the call was issued in: the plugin's host calls during it run in it (as a worker's do). */
  delivery: Delivery | undefined;
}

/** A VIOLATION frame is the helper's word, which plugin code can forge: at most this many names per request, each once. */
const MAX_DENIED_NAMES = 8;
const SYSCALL_NAME = /^[a-z0-9_]{1,32}$/;
/** How often the host reads the helper's CPU time, and the idle allowance's refill rate (fraction of one core). */
const CPU_SAMPLE_MS = 250;
const CORES = availableParallelism();
const DENIED_MESSAGE = messageCode({ ok: false, error: "denied" });
const ACK = Buffer.from([1]);
const IDLE_CPU_REFILL = 0.1;

/** What a sandboxed native plugin's helper reported at start-up (`instance.info`). */
export interface HelperInfo {
  /** The sandbox measures in force, from the helper's first frame (sent before any plugin code ran). */
  measures: SandboxMeasure[];
  /** Where memory, CPU and processes are bounded: a cgroup of the helper's own, or the rlimits alone (and why). */
  resourceControl: ResourceControl;
  name?: string;
  version?: string;
  apiVersion?: number;
  pid: number;
  /** The library defines the optional plugin_suspend / plugin_resume. */
  hasSuspend?: boolean;
  hasResume?: boolean;
  /** ... and plugin_config_changed, plugin_snapshot, plugin_restore. */
  hasConfigChanged?: boolean;
  hasSnapshot?: boolean;
  hasRestore?: boolean;
}

/**
 * The helper process and its channel. Its promise API accepts any number of
 * outstanding calls; the engine instance above it serializes, benchmarks may not.
 */
export class SandboxClient {
  readonly #plugin: string;
  readonly #request: LoadRequest;
  readonly #child: ChildProcess;
  readonly #writer: FrameWriter;
  readonly #reader = new FrameReader();
  readonly #queue: Pending[] = [];
  #head = 0;
  #nextId = 1;
  #fault: PlughostError | undefined;
  /** The helper broke the protocol: its output is no longer read. */
  #broken = false;
  /** The sandbox measures in force, from the helper's first frame (sent before any plugin code ran). */
  #measures: SandboxMeasure[] | undefined;
  #closing = false;
  #closed: Promise<void>;
  #deadlineMs: number | undefined;
  #headSince = 0;
  #timer: NodeJS.Timeout | undefined;
  #table: CallbackTable | undefined;
  #ready: { resolve(info: HelperInfo): void; reject(err: Error): void } | undefined;
  readonly #messaging;
  readonly #state: NativeStateCalls;
  readonly #metrics: NativeMetricCalls;
  #slot: SharedSlot | undefined;
  #slotAnswers = 0;
  #reapMs = 2000;
  readonly #hostSpinNs: number;
  /** Set by every call, cleared at the next microtask: calls made in one turn are pipelined. */
  #burst = false;
  readonly #endBurst = (): void => {
    this.#burst = false;
  };

  private constructor(request: LoadRequest, child: ChildProcess, slot: SharedSlot | undefined, hostSpinNs: number) {
    this.#slot = slot;
    this.#hostSpinNs = hostSpinNs;
    this.#plugin = request.plugin;
    this.#request = request;
    this.#child = child;
    this.#deadlineMs = request.limits.deadlineMs;
    this.#messaging = hostMessaging(request.host);
    this.#state = nativeStateCalls(request.host);
    this.#metrics = nativeMetricCalls(request.host);
    const toHelper = child.stdio[3] as Writable;
    const fromHelper = child.stdio[4] as Readable;
    this.#writer = new FrameWriter((chunk, done) => {
      if (toHelper.destroyed) return;
      toHelper.write(chunk, done);
      this.#slot?.ring();
    });
    toHelper.on("error", () => {}); // EPIPE after a crash; 'close' reports it
    fromHelper.on("data", (chunk: Buffer) => {
      if (this.#broken) return;
      const problem = this.#reader.push(chunk, this.#onFrame);
      if (problem) this.#protocolError(`the helper sent ${problem}`);
    });
    const reports = (child.stdio as readonly unknown[])[7] as Duplex | null | undefined;
    if (reports) {
      const reader = new FrameReader();
      reports.on("error", () => {});
      reports.on("data", (chunk: Buffer) => {
        reader.push(chunk, (type, _id, buf, start, end) => {
          if (type !== Msg.Violation || end - start < 5) return;
          this.#onSupervisedViolation(buf.readUInt32LE(start), buf.toString("latin1", start + 4, end));
          if (!reports.destroyed) reports.write(ACK); // the plugin's syscall returns only now
        });
      });
    }
    for (const [stream, level] of [
      [child.stdout, "info"],
      [child.stderr, "warn"],
    ] as const) {
      const lines = new LineSplitter((line) => request.host.log(level, line));
      stream?.on("data", (chunk: Buffer) => lines.push(chunk));
      stream?.on("end", () => lines.end());
    }
    // 'close' (not 'exit'): the signal is only reliable once stdio has drained.
    this.#closed = new Promise((resolve) => child.on("close", (code, signal) => {
      this.#onClose(code, signal);
      resolve();
    }));
  }

  static async start(request: LoadRequest, file: string, options: SandboxOptions = {}): Promise<{ client: SandboxClient; info: HelperInfo }> {
    const helper = options.helperPath ?? locateSandboxHelper()?.file;
    if (!helper) throw nativeUnavailable("helper");
    if (!existsSync(helper)) throw new EngineUnavailable("native", `the sandbox helper ${helper} does not exist`);
    const as = options.addressSpaceBytes ?? (request.limits.memoryBytes ?? 256 * MiB) + 64 * MiB;
    const cpuSeconds = options.cpuSeconds ?? 600;
    const processes = options.processes ?? 256;
    const manifestFds = request.limits.openFiles === undefined ? Infinity : request.limits.openFiles + HELPER_FDS;
    const nofile = options.openFiles ?? Math.min(32, manifestFds);
    const args = [
      "--as", String(as),
      "--cpu", String(cpuSeconds),
      "--nofile", String(nofile),
      "--nproc", String(processes),
      "--fsize", "0",
      ...seccompArgs(options.seccompProfile, request.plugin),
    ];
    const control = resourceControl(options.cgroup, request.plugin);
    const cgroup = control.parent ? new HelperCgroup(control.parent, { memoryBytes: as, processes, cpuPercent: options.cpuPercent ?? 100 }, request.plugin) : undefined;
    if (cgroup) args.push("--cgroup", cgroup.dir);
    const idleCpuMs = options.idleCpuMs ?? 2000;
    if (!(idleCpuMs >= 0)) throw new RangeError(`sandbox.idleCpuMs must be a number of milliseconds >= 0 (or Infinity), not ${idleCpuMs}`);
    const slot = options.sharedMemory === false ? undefined : SharedSlot.open();
    const spinMicros = options.spinMicros ?? (slot ? 50 : 0);
    if (spinMicros) args.push("--spin-us", String(Math.round(spinMicros)));
    if (slot) args.push("--shm");
    if (options.namespaces === false) args.push("--no-namespaces");
    if (options.seccomp === false) args.push("--no-seccomp");
    args.push(file);
    let child: ChildProcess;
    try {
      // fds 5 and 6: the shared slot; fd 7: violation reports from the helper's supervisor (init), which the plugin cannot write.
      const extra: (number | "ignore")[] = slot ? [slot.fd, slot.wakeFd] : ["ignore", "ignore"];
      child = spawn(helper, args, { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe", ...extra, "pipe"], detached: true, env: {} });
    } catch (err) {
      slot?.close();
      cgroup?.remove();
      throw new ContextCreationFailed(`cannot spawn the sandbox helper: ${(err as Error).message}`, { plugin: request.plugin, cause: err });
    } finally {
      slot?.spawned(); // the helper has its copies (or never will)
    }
    const client = new SandboxClient(request, child, slot, Math.round((options.hostSpinMicros ?? 50) * 1000));
    client.#reapMs = options.reapTimeoutMs ?? 2000;
    client.#control = control;
    client.#cgroup = cgroup;
    client.#limits = { nofile, cpuSeconds };
    client.#idleBudgetMs = client.#idleAllowanceMs = idleCpuMs;
    client.#perCallMs = spinMicros / 1000 + 0.05;
    const info = await new Promise<HelperInfo>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.#kill("start timeout");
        reject(new ContextCreationFailed(`the sandbox helper did not start within ${options.startTimeoutMs ?? 10000} ms`, { plugin: request.plugin }));
      }, options.startTimeoutMs ?? 10000);
      const done = <T>(f: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        client.#ready = undefined;
        f(v);
      };
      client.#ready = { resolve: done(resolve), reject: done(reject) };
      child.on("error", (err) => client.#ready?.reject(new ContextCreationFailed(`cannot spawn the sandbox helper: ${err.message}`, { plugin: request.plugin, cause: err })));
    });
    client.#startCpuWatch();
    return { client, info };
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** Calls answered through the shared slot so far (the rest went over the pipe). */
  get slotAnswers(): number {
    return this.#slotAnswers;
  }

  /** The table the helper's REGISTER requests fill. */
  attach(table: CallbackTable): void {
    this.#table = table;
  }

  init(apiVersion: number, config: string): Promise<number> {
    return this.#request_(Msg.Init, "init", "init", apiVersion, Buffer.from(config, "utf8")) as Promise<number>;
  }

  call(callbackId: number, data: Uint8Array, label = "on-event"): Promise<number> {
    return (this.#viaSlot(Msg.Call, "call", label, callbackId, data) ??
      this.#request_(Msg.Call, "call", label, callbackId, data)) as Promise<number>;
  }

  hook(callbackId: number, data: Uint8Array, label = "on-hook"): Promise<HookOutcome> {
    return (this.#viaSlot(Msg.Hook, "hook", label, callbackId, data) ??
      this.#request_(Msg.Hook, "hook", label, callbackId, data)) as Promise<HookOutcome>;
  }

  /**
   * A lone call (nothing outstanding, first of its turn, payload small
   * enough) goes through the shared slot; undefined means "use the pipe".
   */
  #viaSlot(type: Msg.Call | Msg.Hook, kind: "call" | "hook", label: string, cb: number, data: Uint8Array): Promise<number | HookOutcome> | undefined {
    this.#activity++;
    const burst = this.#burst;
    if (!burst) {
      this.#burst = true;
      queueMicrotask(this.#endBurst);
    }
    const slot = this.#slot;
    if (burst || !slot?.open || this.#head !== this.#queue.length || data.length > SLOT_DATA_MAX || this.#fault || this.#closing || this.#ready) {
      return undefined;
    }
    const id = this.#nextId++ & 0x7fffffff;
    let r: number | Buffer | null | undefined;
    const t0 = performance.now();
    try {
      r = slot.call(type, id, cb, data, this.#hostSpinNs);
      this.#busyMs += performance.now() - t0;
    } catch (err) {
      const reason = new Error(`malformed answer in the shared slot: ${(err as Error).message}`);
      this.#fault ??= new PluginCrashed(label, null, null, { plugin: this.#plugin, cause: reason });
      this.#request.onViolation?.("crash", reason.message);
      this.#kill(reason.message);
      return Promise.reject(this.#fault);
    }
    if (r === undefined) return this.#enqueue(id, kind, label, data) as Promise<number | HookOutcome>; // answered on the pipe
    this.#slotAnswers++;
    if (type === Msg.Call) return Promise.resolve(r as number);
    if (typeof r === "number") return Promise.resolve({ ok: false, status: r });
    return Promise.resolve({ ok: true, data: r === null ? data : new Uint8Array(r.buffer, r.byteOffset, r.byteLength) });
  }

  teardown(): Promise<number> {
    return this.#request_(Msg.Teardown, "teardown", "teardown", undefined, undefined) as Promise<number>;
  }

  /** The optional plugin_suspend (`resume` false) or plugin_resume (true), in order with the calls. */
  lifecycle(resume: boolean): Promise<number> {
    const label = resume ? "on-resume" : "on-suspend";
    return this.#request_(resume ? Msg.Resume : Msg.Suspend, "call", label, undefined, undefined) as Promise<number>;
  }

  /** The optional plugin_config_changed with the new config (the helper's plughost_config() answers it from then on). */
  configChanged(config: string): Promise<number> {
    return this.#request_(Msg.ConfigChanged, "call", "on-config-changed", undefined, Buffer.from(config, "utf8")) as Promise<number>;
  }

  /** The optional plugin_snapshot: its bytes (empty: nothing). */
  snapshot(): Promise<Uint8Array> {
    return this.#request_(Msg.Snapshot, "snapshot", "snapshot", undefined, undefined) as Promise<Uint8Array>;
  }

  /** The optional plugin_restore. */
  restore(data: Uint8Array): Promise<number> {
    return this.#request_(Msg.Restore, "call", "restore", undefined, data) as Promise<number>;
  }

  /**
   * Ask the helper to finish (EOF), then make sure it is gone: SIGKILL after
   * `graceMs`, and ResourceCleanupFailed when it is still not reaped, pipes
   * and all, `reapMs` later (its pipes are then dropped on our side). A helper
   * still in a call is killed at once: it would never read the EOF, and every
   * pending call rejects with PluginCrashed.
   */
  async close(graceMs = 1000, reapMs = this.#reapMs): Promise<void> {
    this.#closing = true;
    this.#stopCpuWatch();
    clearTimeout(this.#idleFlush);
    const running = this.#child.exitCode === null && this.#child.signalCode === null;
    let t: NodeJS.Timeout | undefined;
    if (running && this.#busy) {
      const label = this.#queue[this.#head]!.label;
      this.#fault ??= new PluginCrashed(label, "SIGKILL", null, {
        plugin: this.#plugin,
        cause: new Error("the instance was disposed while this call was running; its helper was killed"),
      });
      this.#kill("disposed");
    } else if (running) {
      (this.#child.stdio[3] as Writable).end();
      t = setTimeout(() => this.#kill("did not exit after close"), graceMs);
    }
    let giveUp: NodeJS.Timeout | undefined;
    const reaped = await Promise.race([
      this.#closed.then(() => true),
      new Promise<boolean>((resolve) => (giveUp = setTimeout(() => resolve(false), (running ? graceMs : 0) + reapMs))),
    ]);
    clearTimeout(t);
    clearTimeout(giveUp);
    if (reaped) return;
    const exited = this.#child.exitCode !== null || this.#child.signalCode !== null;
    for (const stream of this.#child.stdio) stream?.destroy(); // release our ends; 'close' can then fire
    this.#slot?.close();
    this.#slot = undefined;
    const why = exited
      ? "exited, but a process outside its process group still holds its pipes open"
      : "is still not reaped after SIGKILL";
    throw new ResourceCleanupFailed(`the sandbox helper (pid ${this.pid}) ${why}; the host dropped its ends of the pipes, but that process may live on`, {
      plugin: this.#plugin,
    });
  }

  #request_(type: Msg, kind: Pending["kind"], label: string, word: number | undefined, data: Uint8Array | undefined): Promise<number | HookOutcome | Uint8Array> {
    if (this.#fault) return Promise.reject(this.#fault);
    if (this.#closing) return Promise.reject(new PluginNotRunning("stopping", { plugin: this.#plugin }));
    const id = this.#nextId++ & 0x7fffffff;
    this.#activity++;
    try {
      this.#writer.frame(type, id, word, data);
    } catch (err) {
      return Promise.reject(err); // too large: nothing was queued
    }
    return this.#enqueue(id, kind, label, data);
  }

  /** Queue a pending answer to a request already sent (or posted in the slot). */
  #enqueue(id: number, kind: Pending["kind"], label: string, data: Uint8Array | undefined): Promise<number | HookOutcome | Uint8Array> {
    return new Promise((resolve, reject) => {
      const p: Pending = { id, kind, label, resolve, reject, delivery: currentDelivery() };
      if (kind === "hook") p.data = data;
      if (this.#head === this.#queue.length) {
        this.#busySince = performance.now();
        if (this.#deadlineMs !== undefined) this.#headSince = this.#busySince;
      }
      this.#queue.push(p);
      if (this.#deadlineMs !== undefined && !this.#timer) this.#armDeadline(this.#deadlineMs);
    });
  }

  // The helper runs calls in order, so only the oldest pending call can be
  // overdue. One timer is kept while calls are pending and re-armed on fire.
  #armDeadline(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#head === this.#queue.length || this.#fault) return;
      const over = performance.now() - this.#headSince;
      const limit = this.#deadlineMs!;
      if (over < limit) return this.#armDeadline(limit - over + 1);
      const p = this.#queue[this.#head]!;
      this.#fail(new DeadlineExceeded(p.label, limit, { plugin: this.#plugin }));
      this.#request.onViolation?.("deadline", `${p.label} ran past ${limit} ms; helper killed`);
      this.#kill("deadline");
    }, ms);
    this.#timer.unref();
  }

  readonly #onFrame = (type: number, id: number, buf: Buffer, start: number, end: number): void => {
    if (type === Msg.Result || type === Msg.HookResult || type === Msg.SnapshotResult) return this.#onResult(type, id, buf, start, end);
    const body = buf.subarray(start, end);
    switch (type) {
      case Msg.Log:
        if (body.length >= 1) this.#request.host.log(logLevel(body[0]!), body.toString("utf8", 1));
        return;
      // Requests of the plugin's are served only while one of our requests runs
      // (as the helper's own code does): a thread writing frames between calls gets "denied".
      // They run in the message chain of the call in flight (the head: the helper runs calls in order).
      case Msg.Register: {
        let code = 3;
        const table = this.#table;
        if (body.length >= 5 && table && this.#busy) code = this.#inCall(() => table.register(body.toString("utf8", 5), body.readUInt32LE(1), body[0] === 1));
        return this.#reply(id, code);
      }
      case Msg.Emit: {
        if (!this.#busy) return this.#reply(id, DENIED_MESSAGE);
        const [name, off] = cstr(body, 0);
        const data = new Uint8Array(body.subarray(off));
        return this.#reply(id, this.#inCall(() => this.#messaging.emit(name, data)));
      }
      case Msg.Send: {
        if (!this.#busy) return this.#reply(id, DENIED_MESSAGE);
        const [target, o1] = cstr(body, 0);
        const [name, o2] = cstr(body, o1);
        const data = new Uint8Array(body.subarray(o2));
        return this.#reply(id, this.#inCall(() => this.#messaging.send(target, name, data)));
      }
      case Msg.Request:
        return this.#onRequest(id, body);
      case Msg.Message: {
        const info = this.#busy ? this.#inCall(() => currentMessageBytes(this.#request.host)) : null;
        return this.#answer(id, info ? 1 : 0, info ?? undefined);
      }
      case Msg.State:
        return this.#onState(id, body);
      case Msg.Context:
        return this.#onContext(id, body);
      case Msg.Metric:
        return this.#onMetric(id, body);
      case Msg.Violation:
        return this.#onViolationFrame(body);
      case Msg.Sandbox:
        if (!this.#ready || this.#measures || body.length !== 4) return this.#protocolError("an unexpected SANDBOX frame");
        this.#measures = (Object.keys(SANDBOX_FLAGS) as SandboxMeasure[]).filter((m) => body.readUInt32LE(0) & SANDBOX_FLAGS[m]);
        return;
      case Msg.Ready:
        return this.#onReady(body);
      case Msg.Fail:
        if (!this.#ready) return this.#protocolError("a FAIL frame after start-up");
        return this.#onFailFrame(body);
      default:
        return this.#protocolError(`a frame of unknown type ${type}`);
    }
  };

  /** Run a host call of the plugin's in the message chain of the call in flight. */
  #inCall<T>(run: () => T): T {
    return withDelivery(this.#queue[this.#head]?.delivery, run);
  }

  /** A plugin's request is outstanding: the helper's main thread waits for its ANSWER and sends nothing else. */
  #requestOpen = false;

  /**
   * REQUEST: the host answers later (another plugin, a service, another host); the helper's main thread waits,
   * the JS thread does not. A legitimate helper has at most one outstanding (its call thread blocks on it), so a
   * second one is plugin code writing frames of its own: a protocol break, and the helper is killed rather than
   * the host doing unbounded work for it. Between calls it is answered "denied", as emit is.
   */
  #onRequest(id: number, body: Buffer): void {
    if ((id & HELPER_ID_BIT) === 0) return this.#protocolError("a request id without the helper bit");
    if (!this.#busy) return this.#answer(id, requestStatus("denied"));
    if (this.#requestOpen) return this.#protocolError("a second REQUEST while one is outstanding");
    if (body.length < 4) return this.#protocolError("a REQUEST frame without its timeout");
    const timeoutMs = body.readUInt32LE(0);
    const [target, o1] = cstr(body, 4);
    const [name, o2] = cstr(body, o1);
    const data = new Uint8Array(body.subarray(o2));
    this.#requestOpen = true;
    void this.#inCall(() => requestAnswer(this.#request.host, target, name, data, timeoutMs)).then((answer) => {
      this.#requestOpen = false;
      if (this.#fault || this.#broken) return; // the helper is gone or going: nobody waits
      if (typeof answer === "number") return this.#answer(id, answer);
      this.#answer(id, 0, answer);
    });
  }

  /**
   * STATE: one state-store call, answered at once (the HostCalls are synchronous) in the message chain of the call
   * in flight; between calls "denied". The helper checks keys and values before sending, so a frame that breaks
   * the layout is plugin code writing frames of its own: a protocol break. A key or value over the bounds, or a
   * key that is not UTF-8, is refused with the state-error the SDK would give (the host does no work for it).
   */
  #onState(id: number, body: Buffer): void {
    if ((id & HELPER_ID_BIT) === 0) return this.#protocolError("a request id without the helper bit");
    if (!this.#busy) return this.#answer(id, stateStatus("denied"));
    const op = body.length ? body[0]! : 0;
    const invalidKey = stateStatus("invalid-key");
    const tooLarge = stateStatus("too-large");
    const state = this.#state;
    const keyAt = (off: number): [string | number, number] | undefined => fieldAt(body, off, NATIVE_KEY_MAX, invalidKey);
    switch (op) {
      case StateOp.Get:
      case StateOp.Delete:
      case StateOp.Exists: {
        const k = keyAt(1);
        if (!k || k[1] !== body.length) break;
        const [key] = k;
        if (typeof key === "number") return this.#answer(id, key);
        if (op === StateOp.Get) {
          const r = this.#inCall(() => state.get(key));
          return typeof r === "number" ? this.#answer(id, r) : this.#answer(id, 1, r);
        }
        return this.#answer(id, this.#inCall(() => (op === StateOp.Delete ? state.delete(key) : state.exists(key))));
      }
      case StateOp.Set: {
        const k = keyAt(1);
        if (!k) break;
        const [key, off] = k;
        if (typeof key === "number") return this.#answer(id, key);
        if (body.length - off > NATIVE_VALUE_MAX) return this.#answer(id, tooLarge);
        const value = new Uint8Array(body.subarray(off));
        return this.#answer(id, this.#inCall(() => state.set(key, value)));
      }
      case StateOp.Increment: {
        if (body.length < 9) break;
        const k = keyAt(9);
        if (!k || k[1] !== body.length) break;
        const [key] = k;
        if (typeof key === "number") return this.#answer(id, key);
        const delta = body.readBigInt64LE(1);
        const r = this.#inCall(() => state.increment(key, delta));
        if (typeof r === "number") return this.#answer(id, r);
        const out = Buffer.alloc(8);
        out.writeBigInt64LE(r);
        return this.#answer(id, 0, out);
      }
      case StateOp.Cas: {
        if (body.length < 6 || body[1]! > 1) break;
        const hasExpected = body[1] === 1;
        const expectedLen = body.readUInt32LE(2);
        const k = keyAt(6);
        if (!k) break;
        const [key, off] = k;
        if (expectedLen > body.length - off || (!hasExpected && expectedLen)) break;
        if (typeof key === "number") return this.#answer(id, key);
        if (expectedLen > NATIVE_VALUE_MAX || body.length - off - expectedLen > NATIVE_VALUE_MAX) return this.#answer(id, tooLarge);
        const expected = hasExpected ? new Uint8Array(body.subarray(off, off + expectedLen)) : null;
        const value = new Uint8Array(body.subarray(off + expectedLen));
        return this.#answer(id, this.#inCall(() => state.cas(key, expected, value)));
      }
      case StateOp.List: {
        if (body.length < 6 || body[5]! > 1) break;
        const limit = body.readUInt32LE(1);
        let cursor: string | null = null;
        if (body[5] === 1) {
          const k = keyAt(6);
          if (!k || k[1] !== body.length) break;
          if (typeof k[0] === "number") return this.#answer(id, k[0]);
          cursor = k[0];
        } else if (body.length !== 6) break;
        const r = this.#inCall(() => state.listKeys(cursor, limit));
        return typeof r === "number" ? this.#answer(id, r) : this.#answer(id, new DataView(r.buffer, r.byteOffset).getUint32(0, true), r);
      }
    }
    this.#protocolError(`a malformed STATE frame (op ${op}, ${body.length} bytes)`);
  }

  /** CONTEXT: context-get / context-set, as STATE is served. */
  #onContext(id: number, body: Buffer): void {
    if ((id & HELPER_ID_BIT) === 0) return this.#protocolError("a request id without the helper bit");
    if (!this.#busy) return this.#answer(id, contextStatus("denied"));
    const op = body.length ? body[0]! : 0;
    const k = fieldAt(body, 1, NATIVE_CONTEXT_KEY_MAX, contextStatus("unknown-key"));
    if (k && op === ContextOp.Get && k[1] === body.length) {
      const [key] = k;
      if (typeof key === "number") return this.#answer(id, key);
      const r = this.#inCall(() => this.#state.contextGet(key));
      return typeof r === "number" ? this.#answer(id, r) : this.#answer(id, 1, Buffer.from(r, "utf8"));
    }
    if (k && op === ContextOp.Set) {
      const [key, off] = k;
      if (typeof key === "number") return this.#answer(id, key);
      const json = utf8Field(body.subarray(off), NATIVE_CONTEXT_VALUE_MAX);
      if (json === undefined) return this.#answer(id, contextStatus("invalid-value"));
      return this.#answer(id, this.#inCall(() => this.#state.contextSet(key, json)));
    }
    this.#protocolError(`a malformed CONTEXT frame (op ${op}, ${body.length} bytes)`);
  }

  /**
   * METRIC: define-metric / record-metric, as STATE is served (at once, in the call's message chain; between calls
   * "denied"). The helper checks every field before sending, so a frame that breaks the layout (an unknown op or
   * kind, more than 16 labels, a missing NUL, bytes left over) is plugin code writing frames of its own: a protocol
   * break. A string past its bound or not UTF-8 is answered with the error the SDK gives, and the store never sees it.
   */
  #onMetric(id: number, body: Buffer): void {
    if ((id & HELPER_ID_BIT) === 0) return this.#protocolError("a request id without the helper bit");
    if (!this.#busy) return this.#answer(id, metricStatus("denied"));
    const op = body.length ? body[0]! : 0;
    const b = NATIVE_METRIC_BOUNDS;
    let off = 0;
    /** The NUL-terminated string at `off` (undefined: past `max` bytes or not UTF-8), or false when it has no NUL. */
    const next = (max: number): string | undefined | false => {
      const end = body.indexOf(0, off);
      if (end < 0) return false;
      const text = utf8Field(body.subarray(off, end), max);
      off = end + 1;
      return text;
    };
    /** `n` strings of at most `max` bytes each; false when the layout breaks. */
    const list = (n: number, max: number): (string | undefined)[] | false => {
      const out: (string | undefined)[] = [];
      for (let i = 0; i < n; i++) {
        const s = next(max);
        if (s === false) return false;
        out.push(s);
      }
      return out;
    };
    const all = (xs: (string | undefined)[]): xs is string[] => xs.every((x) => x !== undefined);
    if (op === MetricOp.Define && body.length >= 3 && body[1]! < 3 && body[2]! <= b.labels) {
      const kind = body[1]!;
      off = 3;
      const name = next(b.name);
      const help = name === false ? false : next(b.help);
      const labels = help === false ? false : list(body[2]!, b.labelName);
      if (labels !== false && off === body.length) {
        if (name === undefined || help === undefined || !all(labels)) return this.#answer(id, metricStatus("invalid-name"));
        return this.#answer(id, this.#inCall(() => this.#metrics.define(kind, name as string, help as string, labels)));
      }
    } else if (op === MetricOp.Record && body.length >= 14 && body[1]! <= b.labels) {
      off = 14;
      const labels = list(body[1]!, b.labelValue);
      if (labels !== false && off === body.length) {
        if (!all(labels)) return this.#answer(id, metricStatus("invalid-labels"));
        const metric = body.readUInt32LE(2);
        const value = body.readDoubleLE(6);
        return this.#answer(id, this.#inCall(() => this.#metrics.record(metric, value, labels)));
      }
    }
    this.#protocolError(`a malformed METRIC frame (op ${op}, ${body.length} bytes)`);
  }

  /** ANSWER to a REQUEST or MESSAGE; an answer too big for a frame becomes too-large. */
  #answer(id: number, code: number, data?: Uint8Array): void {
    if ((id & HELPER_ID_BIT) === 0) return this.#protocolError("a request id without the helper bit");
    try {
      this.#writer.frame(Msg.Answer, id, code >>> 0, data);
    } catch {
      this.#writer.frame(Msg.Answer, id, requestStatus("too-large"));
    }
  }

  /** True while a request of ours is outstanding (the helper is in a call). */
  get #busy(): boolean {
    return this.#head < this.#queue.length;
  }

  /**
   * The helper's SIGSYS handler counts denied syscalls and reports them at the
   * end of each request. Plugin code can write the same frames, so the host
   * keeps the first report per syscall name (a few names at most) on the
   * request in flight, ignores any between requests, and records ONE
   * violation per request that reported some (#recordDenied): forged frames
   * cannot make more violations than calls.
   */
  #onViolationFrame(body: Buffer): void {
    if (this.#measures?.includes("violation-supervisor")) return; // init reports them; this frame is the plugin's
    const p = this.#queue[this.#head];
    if (!p || body.length < 5 || body.length > 4 + 32) return;
    const name = body.toString("latin1", 4);
    if (!SYSCALL_NAME.test(name)) return;
    p.denied ??= new Map();
    if (p.denied.has(name) || p.denied.size >= MAX_DENIED_NAMES) return;
    p.denied.set(name, body.readUInt32LE(0));
  }

  /**
   * A denial reported by the helper's supervisor (init, outside the plugin's
   * process): the plugin's syscall waits for our acknowledgement, so this is
   * recorded before the call can answer. One violation per request, or per
   * CPU_SAMPLE_MS between requests (a thread denied in a loop).
   */
  #onSupervisedViolation(count: number, name: string): void {
    if (!SYSCALL_NAME.test(name)) name = "syscall";
    const p = this.#queue[this.#head];
    const into = p ? (p.denied ??= new Map()) : this.#idleDenied;
    into.set(name, (into.get(name) ?? 0) + count);
    if (p || this.#idleFlush) return;
    this.#idleFlush = setTimeout(() => {
      this.#idleFlush = undefined;
      const denied = this.#idleDenied;
      this.#idleDenied = new Map();
      if (!this.#closing) this.#recordDenied(denied);
    }, CPU_SAMPLE_MS);
    this.#idleFlush.unref();
  }

  #idleDenied = new Map<string, number>();
  #idleFlush: NodeJS.Timeout | undefined;

  #recordDenied(denied: Map<string, number> | undefined): void {
    if (!denied?.size) return;
    const list = [...denied].map(([name, n]) => `${name} (${n}×)`).join(", ");
    this.#request.onViolation?.("capability", `denied syscall${denied.size > 1 ? "s" : ""} ${list}`);
  }

  /** The helper's output broke the protocol: AbiViolation for the call in flight (or recorded, when idle), and the helper is killed. */
  #protocolError(reason: string): void {
    if (this.#broken) return;
    this.#broken = true;
    const label = this.#queue[this.#head]?.label ?? "idle";
    this.#fault ??= new AbiViolation(label, `${reason}; the sandbox helper was killed`, { plugin: this.#plugin });
    if (label === "idle" && !this.#closing) this.#request.onViolation?.("trap", this.#fault.message);
    this.#ready?.reject(this.#fault);
    this.#kill(reason);
  }

  #onResult(type: number, id: number, buf: Buffer, start: number, end: number): void {
    const p = this.#queue[this.#head];
    if (!p || p.id !== id || end - start < 4) return this.#protocolError(`an answer to request ${id >>> 0} out of order`);
    if ((p.kind === "snapshot") !== (type === Msg.SnapshotResult)) return this.#protocolError(`an answer of type ${type} to a ${p.kind}`);
    this.#queue[this.#head++] = undefined as unknown as Pending;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
      this.#endBusy();
    } else if (this.#head > 1024) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    if (this.#deadlineMs !== undefined) this.#headSince = performance.now();
    this.#recordDenied(p.denied);
    const status = buf.readInt32LE(start);
    if (type === Msg.Result) return p.resolve(status);
    if (type === Msg.SnapshotResult) {
      if (status === 0) return p.resolve(new Uint8Array(buf.subarray(start + 4, end))); // a copy: buf is the reader's
      return p.reject(new InvocationFailed("snapshot", status, "plugin_snapshot returned more than a protocol frame holds (64 MiB); keep the snapshot smaller, or keep the data in the state store", { plugin: this.#plugin }));
    }
    if (status !== 0) return p.resolve({ ok: false, status });
    const out = end - start >= 5 && buf[start + 4] === 1 ? new Uint8Array(buf.subarray(start + 5, end)) : (p.data ?? new Uint8Array());
    p.resolve({ ok: true, data: out });
  }

  #reply(id: number, value: number): void {
    if ((id & HELPER_ID_BIT) === 0) return this.#protocolError("a request id without the helper bit");
    this.#writer.frame(Msg.Reply, id, value >>> 0);
  }

  #onReady(body: Buffer): void {
    if (!this.#ready || !this.#measures || body.length < 8) return this.#protocolError("an unexpected READY frame");
    const flags = body.readUInt32LE(0);
    const [name, o1] = cstr(body, 8);
    const [version] = cstr(body, o1);
    // The measures are the ones the SANDBOX frame reported before plugin code ran, not READY's (a constructor could write one).
    const info: HelperInfo = { measures: this.#measures, resourceControl: this.#control, pid: this.pid };
    if (flags & HAS_NAME) info.name = name;
    if (flags & HAS_VERSION) info.version = version;
    if (flags & HAS_API) info.apiVersion = body.readUInt32LE(4);
    if (flags & HAS_SUSPEND) info.hasSuspend = true;
    if (flags & HAS_RESUME) info.hasResume = true;
    if (flags & HAS_CONFIG_CHANGED) info.hasConfigChanged = true;
    if (flags & HAS_SNAPSHOT) info.hasSnapshot = true;
    if (flags & HAS_RESTORE) info.hasRestore = true;
    this.#ready.resolve(info);
  }

  #onFailFrame(body: Buffer): void {
    const kind = body[0];
    const message = body.toString("utf8", 1);
    const plugin = this.#plugin;
    const file = this.#request.entryPath;
    const err =
      kind === FailKind.Dlopen
        ? new InvalidPluginBinary(file, message, { plugin })
        : kind === FailKind.Symbol
          ? new InvalidPluginBinary(file, `missing required export ${message}`, { plugin })
          : new ContextCreationFailed(`sandbox set-up failed: ${message}`, { plugin });
    this.#fault = err;
    this.#ready?.reject(err);
  }

  // ── CPU used between calls ──────────────────────────────────────────────
  // Threads a plugin leaves running after its call returned are measured by
  // the host itself (the helper's reports could be forged): the CPU time of
  // the helper's processes, from /proc, sampled every CPU_SAMPLE_MS. What a
  // sample interval used beyond what its calls could have used (their wall
  // time on every core, plus the helper's poll after each call) is charged
  // to the idle allowance: a plugin kept busy less than 1/cores of the time
  // cannot hide a spinning thread behind its calls.

  #idleBudgetMs = 2000;
  #idleAllowanceMs = 2000;
  #control: ResourceControl = { kind: "rlimits" };
  #cgroup: HelperCgroup | undefined;
  #limits = { nofile: 32, cpuSeconds: 600 };
  #atFdLimit = false;
  #fdPids: number[] = [];
  #idleUsedMs = 0;
  /** CPU the helper may spend after each call polling for the next (its --spin-us), plus slack. */
  #perCallMs = 0.05;
  #activity = 0;
  #busyMs = 0;
  #busySince: number | undefined;
  #cpuPids: number[] = [];
  #cpuTimer: NodeJS.Timeout | undefined;
  #last: { cpuMs: number; at: number; activity: number } | undefined;

  #endBusy(): void {
    if (this.#busySince !== undefined) this.#busyMs += performance.now() - this.#busySince;
    this.#busySince = undefined;
  }

  #startCpuWatch(): void {
    const root = this.#child.pid;
    if (root === undefined) return; // Infinity: CPU not watched, but open files still are
    void helperProcesses(root).then((pids) => {
      if (this.#closing || this.#fault) return;
      this.#cpuPids = pids;
      // The plugin's process is the one the rlimits were set in: the helper's relay and init hold other descriptors.
      this.#fdPids = pids.filter((pid) => nofileLimit(pid) === this.#limits.nofile);
      this.#cpuTimer = setInterval(() => void this.#sampleCpu(), CPU_SAMPLE_MS);
      this.#cpuTimer.unref();
    });
  }

  #stopCpuWatch(): void {
    if (this.#cpuTimer) clearInterval(this.#cpuTimer);
    this.#cpuTimer = undefined;
  }

  /**
   * RLIMIT_NOFILE refuses the plugin's next open (EMFILE) without the host hearing of it, so the host counts the
   * descriptors its processes hold: one "resource" violation each time one of them reaches the limit.
   */
  #sampleFds(): void {
    let held = 0;
    for (const pid of this.#fdPids) held = Math.max(held, openFds(pid) ?? 0);
    const limit = this.#limits.nofile;
    if (held < limit) {
      this.#atFdLimit = false;
      return;
    }
    if (this.#atFdLimit) return;
    this.#atFdLimit = true;
    this.#request.onViolation?.(
      "resource",
      `holds ${held} file descriptors, its limit (RLIMIT_NOFILE ${limit}, the helper's own included): further opens fail with EMFILE`,
      { resource: "open-files", used: held, limit },
    );
  }

  async #sampleCpu(): Promise<void> {
    if (!this.#closing && !this.#fault) this.#sampleFds();
    if (!Number.isFinite(this.#idleBudgetMs)) return;
    const cpuMs = await processCpuMs(this.#cpuPids);
    if (cpuMs === undefined || this.#closing || this.#fault) return;
    const now = performance.now();
    const busyMs = this.#busyMs + (this.#busySince !== undefined ? now - this.#busySince : 0);
    this.#busyMs = 0;
    if (this.#busySince !== undefined) this.#busySince = now;
    const last = this.#last;
    this.#last = { cpuMs, at: now, activity: this.#activity };
    if (!last) return;
    this.#idleAllowanceMs = Math.min(this.#idleBudgetMs, this.#idleAllowanceMs + (now - last.at) * IDLE_CPU_REFILL);
    const excused = busyMs * CORES + (this.#activity - last.activity) * this.#perCallMs;
    const used = Math.max(0, cpuMs - last.cpuMs - excused);
    this.#idleUsedMs += used;
    this.#idleAllowanceMs -= used;
    if (this.#idleAllowanceMs >= 0) return;
    const total = Math.round(this.#idleUsedMs);
    this.#fault ??= new CpuBudgetExceeded("idle", total, this.#idleBudgetMs, { plugin: this.#plugin });
    this.#request.onViolation?.(
      "deadline",
      `used ${total} ms of CPU between calls (budget ${this.#idleBudgetMs} ms, refilled at ${IDLE_CPU_REFILL * 100}% of a core): threads left running; helper killed`,
    );
    this.#kill("idle CPU");
  }

  #onClose(code: number | null, signal: NodeJS.Signals | null): void {
    this.#stopCpuWatch();
    this.#resourceBreach(signal);
    if (this.#timer) clearTimeout(this.#timer);
    this.#slot?.close(); // the helper is gone: nothing can answer in it any more
    this.#slot = undefined;
    if (this.#ready) {
      const how = signal ?? `exit ${code}`;
      const why = code === EXIT_SANDBOX ? "sandbox set-up failed" : code === EXIT_PROTOCOL ? "protocol error" : `helper ended (${how})`;
      this.#ready.reject(this.#fault ?? new ContextCreationFailed(`the sandbox helper did not start: ${why}`, { plugin: this.#plugin }));
      return;
    }
    if (this.#fault) return this.#fail(this.#fault);
    if (this.#closing && this.#head === this.#queue.length) return;
    const p = this.#queue[this.#head];
    const err = new PluginCrashed(p?.label ?? "idle", signal, code, { plugin: this.#plugin });
    if (!p && !this.#closing) this.#request.onViolation?.("crash", err.message);
    this.#fail(err);
  }

  /**
   * The helper ended: was it a resource limit? SIGXCPU is RLIMIT_CPU's (the helper's lifetime CPU seconds); an OOM
   * kill inside its cgroup is memory.max's. Either becomes the fault (ResourceLimitExceeded) and a "resource"
   * violation; the cgroup is removed.
   */
  #resourceBreach(signal: NodeJS.Signals | null): void {
    const cg = this.#cgroup?.breach();
    this.#cgroup?.remove();
    this.#cgroup = undefined;
    if (this.#fault || (this.#closing && this.#head === this.#queue.length)) return;
    const label = this.#queue[this.#head]?.label ?? "idle";
    let usage: { resource: "cpu-seconds" | "memory"; used: number; limit: number } | undefined;
    // With a pid namespace the helper dies as the plugin's process did (reproduce() in sandbox.c).
    if (signal === "SIGXCPU") usage = { resource: "cpu-seconds", used: this.#limits.cpuSeconds, limit: this.#limits.cpuSeconds };
    else if (cg) usage = cg;
    if (!usage) return;
    this.#fault = new ResourceLimitExceeded(label, usage.resource, usage.used, usage.limit, { plugin: this.#plugin });
    // A call in flight gets the fault (the registry records it, figures included); idle, nobody would: report it.
    if (label === "idle") this.#request.onViolation?.("resource", `${this.#fault.message}; the helper was killed`, usage);
  }

  /** Reject everything pending (and every later call) with `err`. */
  #fail(err: PlughostError): void {
    this.#fault ??= err;
    const pending = this.#queue.slice(this.#head);
    this.#queue.length = 0;
    this.#head = 0;
    this.#endBusy();
    for (const p of pending) {
      this.#recordDenied(p.denied);
      p.reject(this.#fault);
    }
  }

  #kill(reason: string): void {
    if (!this.#fault && reason !== "deadline" && reason !== "did not exit after close") {
      this.#fault = new PluginCrashed(this.#queue[this.#head]?.label ?? "idle", null, null, { plugin: this.#plugin, cause: new Error(reason) });
    }
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, "SIGKILL"); // the whole group: the helper and its namespaced child
    } catch {
      this.#child.kill("SIGKILL");
    }
  }
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });

/** `bytes` as UTF-8 text of at most `max` bytes, or undefined (too long, or not UTF-8: refused, never repaired). */
function utf8Field(bytes: Uint8Array, max: number): string | undefined {
  if (bytes.length > max) return undefined;
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * The NUL-terminated field at `off` of a frame's body: [text, offset after the NUL]; [refusal, offset] when it is
 * empty, longer than `max` bytes or not UTF-8; undefined when it has no NUL (a malformed frame).
 */
function fieldAt(body: Buffer, off: number, max: number, refusal: number): [string | number, number] | undefined {
  if (off > body.length) return undefined;
  const end = body.indexOf(0, off);
  if (end < 0) return undefined;
  const text = end > off ? utf8Field(body.subarray(off, end), max) : undefined;
  return [text ?? refusal, end + 1];
}

/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat (100 on every Linux ABI Node runs on). */
const CLOCK_TICK_MS = 10;

/** The fields of /proc/<pid>/stat after the command name (field 3 onwards), or undefined when the process is gone. */
async function procStat(pid: number): Promise<string[] | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, "latin1");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * The helper's processes: its process group (it is spawned detached, and its
 * seccomp filter kills setsid/setpgid), found once, after start-up, when the
 * namespace's init and the plugin's process exist.
 */
async function helperProcesses(root: number): Promise<number[]> {
  const pids = (await readdir("/proc").catch(() => [] as string[])).filter((n) => /^[0-9]+$/.test(n)).map(Number);
  const found: number[] = [];
  await Promise.all(
    pids.map(async (pid) => {
      const f = pid === root ? ["", "", String(root)] : await procStat(pid);
      if (f && Number(f[2]) === root) found.push(pid);
    }),
  );
  return found.length ? found : [root];
}

/** utime + stime of `pids` (all their threads, living and ended), in ms; undefined when none is left. */
async function processCpuMs(pids: readonly number[]): Promise<number | undefined> {
  let total: number | undefined;
  for (const pid of pids) {
    const f = await procStat(pid);
    if (f) total = (total ?? 0) + (Number(f[11]) + Number(f[12])) * CLOCK_TICK_MS;
  }
  return total;
}

export function checkSandboxCapabilities(request: LoadRequest): void {
  for (const cap of request.capabilities) {
    if (!GRANTABLE.test(cap)) {
      throw new CapabilityDenied(cap, `capability "${cap}" cannot be granted to an untrusted native plugin: its sandbox has no files, network or environment`, {
        plugin: request.plugin,
      });
    }
  }
}

export class NativeSandboxInstance implements EngineInstance {
  /** The helper runs calls in the order they were made: the registry may issue them without waiting (pipelining). */
  readonly ordered = true;
  readonly #plugin: string;
  readonly client: SandboxClient;
  readonly info: HelperInfo;
  readonly #table: CallbackTable;
  #state: "loaded" | "active" | "stopped" | "disposed" = "loaded";

  constructor(request: LoadRequest, client: SandboxClient, info: HelperInfo) {
    this.#plugin = request.plugin;
    this.client = client;
    this.info = info;
    this.#table = new CallbackTable(request.plugin, request.host);
    client.attach(this.#table);
    if (info.hasSuspend) this.onSuspend = () => this.#lifecycle(false);
    if (info.hasResume) this.onResume = () => this.#lifecycle(true);
    if (info.hasConfigChanged) this.onConfigChanged = (configJson: string) => this.#active(() => this.client.configChanged(configJson));
    if (info.hasSnapshot) this.snapshot = () => this.#active(() => this.client.snapshot());
    if (info.hasRestore) this.restore = (data: Uint8Array) => this.#active(() => this.client.restore(data));
  }

  /** plugin_config_changed / plugin_snapshot / plugin_restore, set when the library defines them. */
  onConfigChanged?: (configJson: string) => Promise<number>;
  snapshot?: () => Promise<Uint8Array>;
  restore?: (data: Uint8Array) => Promise<number>;

  #active<T>(run: () => Promise<T>): Promise<T> {
    if (this.#state !== "active") return Promise.reject(new PluginNotRunning(this.#state, { plugin: this.#plugin }));
    return run();
  }

  /** plugin_suspend / plugin_resume, set when the library defines them. */
  onSuspend?: () => Promise<number>;
  onResume?: () => Promise<number>;

  #lifecycle(resume: boolean): Promise<number> {
    if (this.#state !== "active") return Promise.reject(new PluginNotRunning(this.#state, { plugin: this.#plugin }));
    return this.client.lifecycle(resume);
  }

  callbackId(eventName: string): number {
    return this.#table.callbackId(eventName);
  }

  async init(apiVersion: string, configJson: string): Promise<number> {
    if (this.#state !== "loaded") throw new PluginNotRunning(this.#state, { plugin: this.#plugin });
    checkApiVersion(this.#plugin, apiVersion, this.info.apiVersion);
    const status = await this.client.init(packApiVersion(apiVersion), configJson);
    this.#state = "active";
    return status;
  }

  onEvent(eventName: string, data: Uint8Array): Promise<number> {
    if (this.#state !== "active") return Promise.reject(new PluginNotRunning(this.#state, { plugin: this.#plugin }));
    try {
      return this.client.call(this.#table.callbackId(eventName), data, eventName);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  onHook(eventName: string, data: Uint8Array): Promise<HookOutcome> {
    if (this.#state !== "active") return Promise.reject(new PluginNotRunning(this.#state, { plugin: this.#plugin }));
    try {
      return this.client.hook(this.#table.hookId(eventName), data, eventName);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async teardown(): Promise<number> {
    if (this.#state !== "active") throw new PluginNotRunning(this.#state, { plugin: this.#plugin });
    this.#state = "stopped";
    return this.client.teardown();
  }

  async dispose(): Promise<void> {
    if (this.#state === "disposed") return;
    this.#state = "disposed";
    await this.client.close();
  }
}
