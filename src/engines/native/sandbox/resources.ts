/**
 * The resource model of a sandboxed native plugin: which seccomp profile its
 * helper loads, and whether its memory, CPU and processes are bounded by a
 * cgroup v2 group of its own (where the machine delegates one) or by the
 * helper's rlimits alone (everywhere else). See docs/native-plugins.md.
 */
import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync, accessSync, constants } from "node:fs";
import path from "node:path";
import { ContextCreationFailed } from "../../../contract/errors.js";

/**
 * The seccomp filter a sandboxed native plugin runs under. `basic`: the helper's allow-list (threads, pipes,
 * eventfd, epoll; no files, sockets, processes). `strict`: basic without new threads, new file descriptors (dup,
 * pipe, eventfd, epoll) and facts about the machine (uname, sysinfo, getrusage, sched_getaffinity, times, getcwd,
 * membarrier). An object: one of those, narrowed further by `deny`, names of syscalls of the basic
 * allow-list (the allow-list itself cannot be widened). A denied syscall fails with EPERM and is reported as a
 * violation of kind "capability" naming it.
 */
export type SeccompProfile = "basic" | "strict" | { base?: "basic" | "strict"; deny: readonly string[] };

/** Where a sandboxed plugin's memory, CPU and processes are bounded (`HelperInfo.resourceControl`). */
export interface ResourceControl {
  /** "cgroup": a cgroup v2 group per helper (memory.max, pids.max, cpu.max) plus the rlimits; "rlimits": the rlimits alone. */
  kind: "cgroup" | "rlimits";
  /** The delegated cgroup directory the helpers' groups are made in (kind "cgroup"). */
  parent?: string;
  /** Why there is no cgroup (kind "rlimits"): the option said so, or what the machine lacks. */
  reason?: string;
}

const SYSCALL_NAME = /^[a-z][a-z0-9_]{0,31}$/;
const DENY_MAX = 40; // the helper keeps at most 64 names, strict's included

/** The helper's arguments for `profile`; a malformed profile is ContextCreationFailed naming the plugin. */
export function seccompArgs(profile: SeccompProfile | undefined, plugin: string): string[] {
  if (profile === undefined || profile === "basic") return [];
  if (profile === "strict") return ["--seccomp-profile", "strict"];
  const bad = (why: string) =>
    new ContextCreationFailed(`sandbox.seccompProfile ${why}; use "basic", "strict" or { base, deny: [syscall names of the basic list] }`, { plugin });
  if (typeof profile !== "object" || profile === null || !Array.isArray(profile.deny)) throw bad("is not a profile");
  const base = profile.base ?? "basic";
  if (base !== "basic" && base !== "strict") throw bad(`names an unknown base profile ${JSON.stringify(base)}`);
  if (profile.deny.length > DENY_MAX) throw bad(`lists ${profile.deny.length} syscalls (at most ${DENY_MAX})`);
  for (const name of profile.deny) {
    if (typeof name !== "string" || !SYSCALL_NAME.test(name)) throw bad(`lists ${JSON.stringify(name)}, which is not a syscall name`);
  }
  const args = base === "strict" ? ["--seccomp-profile", "strict"] : [];
  // The helper checks each name against its allow-list and refuses to start on one it does not know or needs itself.
  if (profile.deny.length) args.push("--seccomp-deny", profile.deny.join(","));
  return args;
}

const CONTROLLERS = ["memory", "pids", "cpu"] as const;

/** The cgroup v2 mount point, from /proc/self/mountinfo (undefined: none). */
function cgroup2Mount(): string | undefined {
  try {
    for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      const [pre, post] = line.split(" - ");
      if (post?.startsWith("cgroup2 ")) return pre!.split(" ")[4];
    }
  } catch {
    /* no /proc: no cgroup */
  }
  return undefined;
}

/** Why `dir` cannot hold the helpers' groups, or undefined when it can. */
function unusable(dir: string): string | undefined {
  let enabled: string[];
  try {
    enabled = readFileSync(path.join(dir, "cgroup.subtree_control"), "utf8").trim().split(/\s+/).filter(Boolean);
  } catch (err) {
    return `${dir} is not a cgroup v2 directory (${(err as NodeJS.ErrnoException).code ?? "unreadable"})`;
  }
  const missing = CONTROLLERS.filter((c) => !enabled.includes(c));
  if (missing.length) return `${dir} does not delegate the ${missing.join(", ")} controller${missing.length > 1 ? "s" : ""} to its children (cgroup.subtree_control: "${enabled.join(" ")}")`;
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    return `${dir} is not writable by this process`;
  }
  return undefined;
}

/**
 * Decide where sandboxed plugins' resources are bounded. `option`: false (rlimits only), a delegated cgroup v2
 * directory (must be usable: else ContextCreationFailed), or "auto"/undefined (the host's own cgroup when it
 * delegates memory, pids and cpu to children; else the rlimits, with the reason).
 */
export function resourceControl(option: string | false | undefined, plugin: string): ResourceControl {
  if (option === false) return { kind: "rlimits", reason: "sandbox.cgroup is false" };
  if (option !== undefined && option !== "auto") {
    const why = unusable(option);
    if (why) throw new ContextCreationFailed(`sandbox.cgroup: ${why}; delegate a cgroup v2 directory with memory, pids and cpu enabled in cgroup.subtree_control, or pass "auto" or false`, { plugin });
    return { kind: "cgroup", parent: option };
  }
  const mount = cgroup2Mount();
  if (!mount) return { kind: "rlimits", reason: "no cgroup v2 hierarchy is mounted" };
  let own: string | undefined;
  try {
    own = /^0::(.*)$/m.exec(readFileSync("/proc/self/cgroup", "utf8"))?.[1];
  } catch {
    /* below */
  }
  if (own === undefined) return { kind: "rlimits", reason: "this process is in no cgroup v2 group" };
  const dir = path.join(mount, own);
  const why = unusable(dir);
  return why ? { kind: "rlimits", reason: why } : { kind: "cgroup", parent: dir };
}

let groups = 0;

/** One helper's cgroup: made before the helper starts (which joins it), read and removed after it ended. */
export class HelperCgroup {
  readonly dir: string;
  readonly memoryMax: number;
  readonly pidsMax: number;

  /** Make a group under `parent` with the helper's limits; ContextCreationFailed when the kernel refuses. */
  constructor(parent: string, limits: { memoryBytes: number; processes: number; cpuPercent: number }, plugin: string) {
    this.dir = path.join(parent, `plughost-${process.pid}-${++groups}`);
    this.memoryMax = limits.memoryBytes;
    this.pidsMax = limits.processes;
    try {
      mkdirSync(this.dir);
      writeFileSync(path.join(this.dir, "memory.max"), String(limits.memoryBytes));
      writeFileSync(path.join(this.dir, "pids.max"), String(limits.processes));
      writeFileSync(path.join(this.dir, "cpu.max"), `${Math.max(1000, Math.round(limits.cpuPercent * 1000))} 100000`);
      try {
        writeFileSync(path.join(this.dir, "memory.swap.max"), "0"); // memory.max must not spill into swap
      } catch {
        /* no swap accounting: nothing to spill into */
      }
    } catch (err) {
      this.remove();
      throw new ContextCreationFailed(`cannot make the plugin's cgroup ${this.dir}: ${(err as Error).message}`, { plugin, cause: err });
    }
  }

  /** The breach that ended the helper (the kernel's OOM killer inside the group, from memory.events): undefined when none. */
  breach(): { resource: "memory"; used: number; limit: number } | undefined {
    const events = (file: string) => {
      try {
        return Object.fromEntries(readFileSync(path.join(this.dir, file), "utf8").trim().split("\n").map((l) => l.split(" ")).map(([k, v]) => [k, Number(v)]));
      } catch {
        return {} as Record<string, number>;
      }
    };
    if ((events("memory.events")["oom_kill"] ?? 0) > 0) {
      let peak = this.memoryMax;
      try {
        peak = Number(readFileSync(path.join(this.dir, "memory.peak"), "utf8").trim()) || peak;
      } catch {
        /* memory.peak is Linux 5.19+ */
      }
      return { resource: "memory", used: peak, limit: this.memoryMax };
    }
    return undefined; // pids.max only refuses a fork or thread (EAGAIN): the helper lives on
  }

  /** Remove the group (it must be empty: call after the helper was reaped). */
  remove(): void {
    try {
      rmdirSync(this.dir);
    } catch {
      /* already gone, or never made */
    }
  }
}

/** RLIMIT_NOFILE's soft value for process `pid`, from /proc (undefined when it is gone). */
export function nofileLimit(pid: number): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Open file descriptors of process `pid` (undefined when it is gone). */
export function openFds(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}
