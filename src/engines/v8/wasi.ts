/**
 * Capability-scoped WASI for the v8 engine: each plugin instance gets its own
 * preview2-shim `WASIShim` (its own preopens, environment, args and network),
 * and only the interfaces the shared table (src/plugin/capability-imports.ts) lets
 * through. On top of the shim:
 * - filesystem: every path is resolved here first and refused when it leaves
 *   the granted directory (`..`, absolute paths, symlinks pointing out), and
 *   an `fs:read` tree refuses every write; a hard link needs its source
 *   under an `fs:write` grant, and a symlink is created only when its target
 *   points down inside its directory; a refusal is reported as a capability
 *   violation; every path is bounded (`MAX_PATH_BYTES`, `MAX_PATH_SEGMENTS`)
 *   and paid for in fuel (`FUEL_PER_SEGMENT`);
 * - sockets: connections only to `net:outbound:<host:port>` peers, no listening;
 * - resources (`WasiResourceLimits`): at most `openFiles` descriptors and
 *   directory streams and `connections` sockets held at once, and at most
 *   `fsWriteBytes` written into each `fs:write` directory; past one the guest
 *   gets an error code and the host a "resource" violation with used/limit;
 * - stdio goes to the plugin's logger (closed without `stdio`), stdin is empty,
 *   `exit` becomes an error, and the host's cwd is not shown.
 */
import { lstatSync, readlinkSync, realpathSync } from "node:fs";
import path from "node:path";
import { netAllowed } from "../../plugin/capabilities.js";
import { checkImports as checkImportsAgainstTable, grantedDirs, grantedEnvironment, importRule } from "../../plugin/capability-imports.js";
import type { HostCalls, ResourceUsage } from "../engine.js";
import { ExitSignal } from "./instance.js";

/** Check every import against the effective capabilities before instantiating. */
export function checkImports(imports: readonly string[], capabilities: readonly string[], plugin: string): void {
  // stdio streams without `stdio` are linked closed: a write fails rather than vanishing.
  checkImportsAgainstTable(imports, capabilities, plugin, { inert: true });
}

type ShimModule = typeof import("@bytecodealliance/preview2-shim/instantiation");
type IoModule = typeof import("@bytecodealliance/preview2-shim/io");
let shims: Promise<[ShimModule, IoModule]> | undefined;
const loadShims = () =>
  (shims ??= Promise.all([import("@bytecodealliance/preview2-shim/instantiation"), import("@bytecodealliance/preview2-shim/io")]));

const MAX_LINE = 16 * 1024;

/** Told about each refused operation (a denied capability), with what was attempted. */
export type DeniedHandler = (detail: string) => void;

/** Bills the current call for host work (src/instrument/limits-runtime.ts `Limits.charge`). */
export interface HostMeter {
  charge(units: number): void;
}

/**
 * Host work per WASI path is bounded (issue 11: a 100 KB path of 50,000
 * segments cost 39 s of host time): longer paths fail with `name-too-long`,
 * on both engines (native/wasmtime/src/wasi.rs has the same numbers).
 */
export const MAX_PATH_BYTES = 4096;
export const MAX_PATH_SEGMENTS = 256;
/** Fuel charged per segment of a path the host resolves for the guest. */
export const FUEL_PER_SEGMENT = 100;

/**
 * A plugin instance's WASI resource limits (`Limits.openFiles`, `connections`, `fsWriteBytes`; undefined: none)
 * and where a refusal is reported.
 */
export interface WasiResourceLimits {
  /** Descriptors (files and directories opened with open-at, preopens excluded) and directory streams held at once. */
  openFiles?: number | undefined;
  /** TCP and UDP sockets held at once. */
  connections?: number | undefined;
  /** Bytes written into each `fs:write` directory over the instance's life (writes, streams, set-size growth). */
  fsWriteBytes?: number | undefined;
  /** Told about each refusal, with the figures. */
  onExceeded?: ((usage: ResourceUsage, detail: string) => void) | undefined;
}

/** Counts what one instance holds; a refusal reports the figures and answers the guest `code`. */
class ResourceLedger {
  openFiles = 0;
  connections = 0;
  readonly written = new Map<string, number>();
  constructor(readonly limits: WasiResourceLimits) {}

  /** Take one more of a held resource, or refuse with `code`. */
  take(resource: "open-files" | "connections", what: string, code: string): void {
    const limit = resource === "open-files" ? this.limits.openFiles : this.limits.connections;
    const held = resource === "open-files" ? this.openFiles : this.connections;
    if (limit !== undefined && held + 1 > limit) this.refuse({ resource, used: held + 1, limit }, what, code);
    if (resource === "open-files") this.openFiles++;
    else this.connections++;
  }

  /** Give one back when `obj` is disposed (the guest dropped it), exactly once. */
  releaseOnDispose(obj: unknown, resource: "open-files" | "connections"): void {
    if (typeof obj !== "object" || obj === null) return;
    const dispose = (Object.getPrototypeOf(obj) as Record<symbol, Method | undefined>)[DISPOSE];
    let released = false;
    (obj as Record<symbol, unknown>)[DISPOSE] = () => {
      if (!released) {
        released = true;
        if (resource === "open-files") this.openFiles--;
        else this.connections--;
      }
      dispose?.call(obj);
    };
  }

  /** Account `bytes` written under `root`, or refuse before any of them is written. */
  write(root: string, bytes: number, what: string, onRefuse: () => never): void {
    const limit = this.limits.fsWriteBytes;
    if (bytes <= 0) return;
    const used = (this.written.get(root) ?? 0) + bytes;
    if (limit !== undefined && used > limit) {
      this.report({ resource: "fs-write-bytes", used, limit }, `${what} under ${root}: would write ${used} bytes there, past the quota of ${limit} (limits.fsWriteBytes)`);
      onRefuse();
    }
    this.written.set(root, used);
  }

  refuse(usage: ResourceUsage, what: string, code: string): never {
    const name = usage.resource === "open-files" ? "limits.openFiles" : "limits.connections";
    this.report(usage, `${what}: would hold ${usage.used} ${usage.resource === "open-files" ? "open files" : "sockets"}, past the limit of ${usage.limit} (${name})`);
    throw code;
  }

  report(usage: ResourceUsage, detail: string): void {
    this.limits.onExceeded?.(usage, detail);
  }
}

// The shim's disposal key (jco's glue calls it when the guest drops a handle).
const DISPOSE: symbol = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for("dispose");

/** Build the WASI part of the import object for one plugin instance. */
export async function wasiImports(
  imports: readonly string[],
  capabilities: readonly string[],
  host: HostCalls,
  manifestDir: string,
  onDenied: DeniedHandler = () => undefined,
  meter?: HostMeter,
  resourceLimits: WasiResourceLimits = {},
): Promise<Record<string, unknown>> {
  const wanted = imports.filter((i) => i.startsWith("wasi:"));
  if (wanted.length === 0) return {};
  const [{ WASIShim }, io] = await loadShims();

  const dirs = grantedDirs(capabilities, manifestDir, "plugin");
  const preopens: Record<string, string> = {};
  for (const d of dirs) preopens[d.dir] = d.dir;
  const shim = new WASIShim({
    sandbox: {
      preopens,
      env: Object.fromEntries(grantedEnvironment(capabilities)),
      args: ["plugin"],
      enableNetwork: capabilities.some((c) => c.startsWith("net:outbound:")),
    },
  } as ConstructorParameters<typeof WASIShim>[0]);
  const all = shim.getImportObject() as Record<string, Record<string, unknown>>;

  const streams = io.streams as unknown as { OutputStream: new () => object; InputStream: new () => object };
  const stdio = capabilities.includes("stdio");
  const logStream = (level: "info" | "warn") => {
    let pending = "";
    const decoder = new TextDecoder();
    const flushLines = (final: boolean) => {
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        host.log(level, pending.slice(0, Math.min(nl, MAX_LINE)));
        pending = pending.slice(nl + 1);
      }
      if ((final && pending) || pending.length > MAX_LINE) {
        host.log(level, pending.slice(0, MAX_LINE));
        pending = "";
      }
    };
    // Subclass the shim's stream so jco's resource checks accept it; nothing reaches the host's fds.
    class LogOutputStream extends streams.OutputStream {
      checkWrite(): bigint {
        return 65536n;
      }
      write(buf: Uint8Array): void {
        // wasi:io stream-error `closed`: the guest sees a failed write.
        if (!stdio) throw { tag: "closed" };
        pending += decoder.decode(buf, { stream: true });
        flushLines(false);
      }
      blockingWriteAndFlush(buf: Uint8Array): void {
        this.write(buf);
      }
      flush(): void {
        flushLines(true);
      }
      blockingFlush(): void {
        flushLines(true);
      }
      // The inherited versions call the shim's I/O worker with no stream id,
      // which the shim answers with process.exit(1).
      writeZeroes(len: bigint): void {
        this.write(new Uint8Array(Math.min(Number(len), MAX_LINE)));
      }
      blockingWriteZeroesAndFlush(len: bigint): void {
        this.writeZeroes(len);
      }
      splice(src: { read(len: bigint): Uint8Array }, len: bigint): bigint {
        const data = src.read(len < 65536n ? len : 65536n);
        this.write(data);
        return BigInt(data.length);
      }
      blockingSplice(src: { read(len: bigint): Uint8Array }, len: bigint): bigint {
        return this.splice(src, len);
      }
      subscribe(): never {
        throw new WasiTrap("subscribe on the plugin's stdout/stderr is not supported; use blocking-write-and-flush");
      }
    }
    return new LogOutputStream();
  };
  const stdout = logStream("info");
  const stderr = logStream("warn");
  // Never the host's stdin: an empty, closed stream.
  class EmptyInputStream extends streams.InputStream {
    read(): Uint8Array {
      throw { tag: "closed" };
    }
    blockingRead(): Uint8Array {
      throw { tag: "closed" };
    }
    skip(): bigint {
      throw { tag: "closed" };
    }
    blockingSkip(): bigint {
      throw { tag: "closed" };
    }
    subscribe(): never {
      throw new WasiTrap("subscribe on the plugin's stdin is not supported: stdin is empty");
    }
  }
  const stdin = new EmptyInputStream();

  const ledger = new ResourceLedger(resourceLimits);
  const quotaError = (io as unknown as { error: { Error: new (payload: unknown) => object } }).error.Error;
  const fs = dirs.length > 0 ? guardFilesystem(all, dirs, onDenied, meter, ledger, quotaError) : undefined;
  const net = capabilities.some((c) => c.startsWith("net:outbound:")) ? guardSockets(all, capabilities, onDenied, ledger) : undefined;

  const out: Record<string, unknown> = {};
  for (const iface of wanted) {
    const key = iface.replace(/@.*$/, "");
    if (!importRule(key)) continue; // refused by checkImports before we get here
    if (key === "wasi:cli/exit") {
      out[key] = {
        exit(status: { tag: string }) {
          throw new ExitSignal(status.tag === "err" ? 1 : 0);
        },
        exitWithCode(code: number) {
          throw new ExitSignal(code);
        },
      };
    } else if (key === "wasi:cli/environment") {
      // The host's cwd is not the plugin's business.
      out[key] = { ...all[key], initialCwd: () => undefined };
    } else if (key === "wasi:cli/stdout") out[key] = { getStdout: () => stdout };
    else if (key === "wasi:cli/stderr") out[key] = { getStderr: () => stderr };
    else if (key === "wasi:cli/stdin") out[key] = { getStdin: () => stdin };
    else if (key.startsWith("wasi:cli/terminal-")) {
      // Not a terminal; the terminal-input/-output resource classes pass through.
      out[key] = { ...all[key], getTerminalStdin: () => undefined, getTerminalStdout: () => undefined, getTerminalStderr: () => undefined };
    } else if (fs && key in fs) out[key] = fs[key];
    else if (net && key in net) out[key] = net[key];
    else if (key in all) out[key] = all[key];
  }
  return out;
}

// ------------------------------------------------------------------- streams

/** A guest's misuse of a WASI interface: a trap for that plugin (never the host's exit). */
export class WasiTrap extends Error {
  constructor(message: string) {
    super(`wasi-io trap: ${message}`);
    this.name = "WasiTrap";
  }
}

type OutputStreamLike = Record<string, unknown> & { checkWrite(): bigint };
type InputStreamLike = { read(len: bigint): Uint8Array; blockingRead(len: bigint): Uint8Array };
const BLOCKING_WRITE_LIMIT = 4096;

/**
 * Guard an output stream the shim made (files, sockets). The shim's I/O
 * worker treats a write past `check-write`, a huge write-zeroes or a splice
 * from a stream it does not know as a wasi-io trap, which preview2-shim
 * 0.26 answers with `process.exit(1)`: the whole host. Check those here and
 * trap the plugin instead.
 */
function guardOutputStream(stream: unknown, charge?: (what: string, bytes: number) => void): void {
  if (typeof stream !== "object" || stream === null) return;
  const proto = Object.getPrototypeOf(stream) as Record<string, Method>;
  const own = stream as OutputStreamLike;
  const call = (name: string, ...args: unknown[]) => (proto[name] as Method).apply(stream, args);
  const capacity = (): number => Number(call("checkWrite") as bigint);
  const within = (what: string, n: number, blocking: boolean): void => {
    if (!(blocking && n <= BLOCKING_WRITE_LIMIT)) {
      const cap = capacity();
      if (n > cap) throw new WasiTrap(`${what} of ${n} bytes is more than check-write permits (${cap})`);
    }
    // A file stream under fs:write: counted against the directory's quota before the bytes are written.
    charge?.(what, n);
  };
  own.write = (buf: Uint8Array) => (within("write", buf.byteLength, false), call("write", buf));
  own.blockingWriteAndFlush = (buf: Uint8Array) => (within("blocking-write-and-flush", buf.byteLength, true), call("blockingWriteAndFlush", buf));
  own.writeZeroes = (len: bigint) => (within("write-zeroes", Number(len), false), call("writeZeroes", len));
  own.blockingWriteZeroesAndFlush = (len: bigint) => (within("blocking-write-zeroes-and-flush", Number(len), true), call("blockingWriteZeroesAndFlush", len));
  // Splice in JS: read then write through the checks above, whatever `src` is.
  own.splice = (src: InputStreamLike, len: bigint): bigint => {
    const cap = BigInt(capacity());
    if (cap === 0n) return 0n;
    const data = src.read(len < cap ? len : cap);
    if (data.length > 0) (own.write as (b: Uint8Array) => void)(data);
    return BigInt(data.length);
  };
  own.blockingSplice = (src: InputStreamLike, len: bigint): bigint => {
    const limit = BigInt(BLOCKING_WRITE_LIMIT);
    const data = src.blockingRead(len < limit ? len : limit);
    if (data.length > 0) (own.blockingWriteAndFlush as (b: Uint8Array) => void)(data);
    return BigInt(data.length);
  };
}

/** The shim's skip allocates the length it is asked to skip: cap it (skipping less is legal). */
function capSkips(stream: unknown): void {
  if (typeof stream !== "object" || stream === null) return;
  const proto = Object.getPrototypeOf(stream) as Record<string, Method>;
  for (const name of ["skip", "blockingSkip"]) {
    const original = proto[name];
    if (typeof original !== "function") continue;
    (stream as Record<string, unknown>)[name] = (len: bigint) => original.call(stream, len > MAX_SKIP ? MAX_SKIP : len);
  }
}
const MAX_SKIP = 64n * 1024n;

// ---------------------------------------------------------------- filesystem

/** A refused path: it leaves the directory the descriptor stands for. */
class Escape {
  constructor(readonly reason: string) {}
}

interface DescriptorState {
  /** The granted directory (real path) this descriptor lies in. */
  root: string;
  /** Real host path of the descriptor itself. */
  at: string;
  write: boolean;
}

type Method = (this: object, ...args: unknown[]) => unknown;
type PathFlags = { symlinkFollow?: boolean };
type OpenFlags = { create?: boolean; truncate?: boolean; directory?: boolean; exclusive?: boolean };
type DescriptorFlags = { read?: boolean; write?: boolean; mutateDirectory?: boolean };

const MAX_SYMLINKS = 40;
/** Most bytes one descriptor `read` returns (wasmtime-wasi's cap too). */
const MAX_READ = 64n * 1024n;

/**
 * Where `subpath`, taken relative to the directory `base`, lands on the host,
 * following symlinks as WASI does; an `Escape` when any step leaves `base`.
 * Walks segment by segment like the shim, and checks the real path at the end.
 */
export function resolveInside(base: string, subpath: string, followFinal: boolean): string {
  if (subpath.startsWith("/")) throw new Escape(`absolute path "${subpath}"`);
  const lexical = (segments: string[], from: string[]): string[] => {
    const out = [...from];
    for (const s of segments) {
      if (s === "" || s === ".") continue;
      if (s === "..") {
        if (out.length === 0) throw new Escape(`"${subpath}" leaves the directory through ".."`);
        out.pop();
      } else out.push(s);
    }
    return out;
  };
  const trailing = subpath.endsWith("/");
  // Segments still to walk, last one first (pop is O(1); a shift per segment made long paths quadratic).
  const pending = lexical(subpath.split("/"), []).reverse();
  let done: string[] = [];
  let links = 0;
  let unfollowedLink = false;
  while (pending.length > 0) {
    const seg = pending.pop() as string;
    const candidate = path.join(base, ...done, seg);
    let isLink: boolean;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      done.push(seg, ...pending.reverse()); // does not exist (yet): nothing further to follow
      break;
    }
    if (!isLink || (pending.length === 0 && !followFinal && !trailing)) {
      unfollowedLink = isLink;
      done.push(seg);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new Escape(`too many symlinks in "${subpath}"`);
    const target = readlinkSync(candidate);
    if (path.isAbsolute(target)) throw new Escape(`"${subpath}" follows the symlink ${seg} -> ${target}, an absolute path`);
    try {
      pending.push(...lexical(target.split("/"), done).reverse());
    } catch {
      throw new Escape(`"${subpath}" follows the symlink ${seg} -> ${target}, which points out of the directory`);
    }
    done = [];
  }
  const resolved = path.join(base, ...done);
  // Belt and braces: the deepest existing ancestor's real path must be inside base.
  // (A final symlink that is not followed is checked by its directory.)
  let probe = unfollowedLink ? path.dirname(resolved) : resolved;
  for (;;) {
    try {
      const real = realpathSync(probe);
      if (real !== base && !real.startsWith(base + path.sep)) throw new Escape(`"${subpath}" resolves to ${real}, outside the directory`);
      break;
    } catch (err) {
      if (err instanceof Escape) throw err;
      if (probe === base) break;
      probe = path.dirname(probe);
    }
  }
  return resolved;
}

/**
 * The number of segments of a WASI path, or -1 past the bounds
 * (`MAX_PATH_BYTES` bytes of UTF-8, `MAX_PATH_SEGMENTS` segments).
 */
export function pathSegments(p: string): number {
  if (p.length > MAX_PATH_BYTES || Buffer.byteLength(p, "utf8") > MAX_PATH_BYTES) return -1;
  let n = 0;
  for (const s of p.split("/")) if (s !== "") n++;
  return n > MAX_PATH_SEGMENTS ? -1 : n;
}

/**
 * Why a symlink with this target may not be created, or undefined when it
 * points down inside the link's own directory. An absolute target leaves
 * the grant; so may any `..`: even one that stays inside today is carried out
 * when its directory is renamed to a shallower place. (wasmtime: the same
 * rule in native/wasmtime/src/wasi.rs.)
 */
export function outwardTarget(target: string): string | undefined {
  if (target.startsWith("/")) return `symlink target ${target} is an absolute path, outside the grant`;
  if (target.split("/").includes("..")) return `symlink target ${target} climbs with "..": a link may only point down inside its directory`;
  return undefined;
}

/** When `p` is a symlink whose target `outwardTarget` refuses: what it is. */
function linkTargetOf(p: string): string | undefined {
  try {
    if (!lstatSync(p).isSymbolicLink()) return undefined;
    const why = outwardTarget(readlinkSync(p));
    return why && `symlink (${why})`;
  } catch {
    return undefined; // missing: the shim reports it
  }
}

/**
 * The filesystem interfaces with every descriptor guarded. The shim's
 * descriptors keep their class (jco checks resources with `instanceof`);
 * the guards are own properties calling the original methods.
 */
function guardFilesystem(
  all: Record<string, Record<string, unknown>>,
  dirs: readonly { dir: string; write: boolean }[],
  onDenied: DeniedHandler,
  meter: HostMeter | undefined,
  ledger: ResourceLedger,
  IoError: new (payload: unknown) => object,
): Record<string, unknown> {
  const states = new WeakMap<object, DescriptorState>();
  const realDir = (dir: string): string => {
    try {
      return realpathSync(dir);
    } catch {
      return dir; // missing: the shim reports no-entry on use
    }
  };
  const refuse = (state: DescriptorState, what: string, code: string, why: string): never => {
    onDenied(`${what} under ${state.root}: ${why}`);
    throw code;
  };
  // Bound the host's work for one path and bill it, before any of it is done.
  const bounded = (value: unknown): string => {
    const p = String(value);
    const segments = pathSegments(p);
    if (segments < 0) throw "name-too-long";
    meter?.charge(FUEL_PER_SEGMENT * Math.max(1, segments));
    return p;
  };
  const resolve = (state: DescriptorState, what: string, subpath: unknown, follow: boolean): string => {
    const p = bounded(subpath);
    try {
      return resolveInside(state.at, p, follow);
    } catch (err) {
      if (err instanceof Escape) return refuse(state, what, "not-permitted", err.reason);
      throw "io";
    }
  };
  const needWrite = (state: DescriptorState, what: string): void => {
    if (!state.write) refuse(state, what, "read-only", "the grant is fs:read, not fs:write");
  };

  const guard = (desc: object, state: DescriptorState): void => {
    states.set(desc, state);
    const proto = Object.getPrototypeOf(desc) as Record<string, Method>;
    const own = desc as Record<string, unknown>;
    const wrap = (name: string, check: (args: unknown[]) => void, after?: (result: unknown, args: unknown[]) => void) => {
      const original = proto[name];
      if (typeof original !== "function") return;
      own[name] = function (this: object, ...args: unknown[]) {
        check(args);
        const result = original.apply(this, args);
        after?.(result, args);
        return result;
      };
    };
    const st = state;
    const openAt = proto.openAt;
    if (typeof openAt === "function") {
      own.openAt = function (this: object, ...a: unknown[]) {
        const [flags, p, open, dflags] = a as [PathFlags, string, OpenFlags, DescriptorFlags];
        const at = resolve(st, `open "${p}"`, p, !!flags.symlinkFollow);
        if (dflags.write || dflags.mutateDirectory || open.create || open.truncate) needWrite(st, `open "${p}" for writing`);
        ledger.take("open-files", `open "${p}" under ${st.root}`, "insufficient-memory");
        let child: unknown;
        try {
          child = openAt.apply(this, a);
        } catch (err) {
          ledger.openFiles--;
          throw err;
        }
        // A descriptor opened here stays in this tree, with this grant.
        if (child && typeof child === "object") {
          guard(child, { root: st.root, at: realDir(at), write: st.write });
          ledger.releaseOnDispose(child, "open-files");
        } else ledger.openFiles--;
        return child;
      };
    }
    for (const name of ["statAt", "metadataHashAt"]) wrap(name, ([f, p]) => void resolve(st, `${name} "${String(p)}"`, p, !!(f as PathFlags).symlinkFollow));
    wrap("readlinkAt", ([p]) => void resolve(st, `readlink "${String(p)}"`, p, false));
    for (const name of ["createDirectoryAt", "removeDirectoryAt", "unlinkFileAt"]) {
      wrap(name, ([p]) => {
        resolve(st, `${name} "${String(p)}"`, p, false);
        needWrite(st, `${name} "${String(p)}"`);
      });
    }
    wrap("symlinkAt", ([target, p]) => {
      const t = bounded(target);
      resolve(st, `symlink "${String(p)}"`, p, false);
      needWrite(st, `symlink "${String(p)}" -> ${t}`);
      const why = outwardTarget(t);
      if (why) refuse(st, `symlink "${String(p)}" -> ${t}`, "not-permitted", why);
    });
    wrap("setTimesAt", ([f, p]) => {
      resolve(st, `set times of "${String(p)}"`, p, !!(f as PathFlags).symlinkFollow);
      needWrite(st, `set times of "${String(p)}"`);
    });
    const other = (d: unknown, what: string): DescriptorState => {
      const s = typeof d === "object" && d !== null ? states.get(d) : undefined;
      if (!s) throw "bad-descriptor";
      needWrite(s, what);
      return s;
    };
    wrap("linkAt", ([f, from, to, p]) => {
      const what = `link "${String(from)}" to "${String(p)}"`;
      const follow = !!(f as PathFlags).symlinkFollow;
      const source = resolve(st, what, from, follow);
      // A second name for a file under fs:read would be a writable one (issue 11).
      if (!st.write) refuse(st, what, "not-permitted", "its source lies under an fs:read grant; a hard link needs the source under fs:write");
      resolve(other(to, what), what, p, false);
      // A hard link to a symlink is a new symlink with the same target: hold it to symlinkAt's rule.
      const why = follow ? undefined : linkTargetOf(source);
      if (why) refuse(st, what, "not-permitted", `its source is a ${why}`);
    });
    wrap("renameAt", ([from, to, p]) => {
      const source = resolve(st, `rename "${String(from)}"`, from, false);
      needWrite(st, `rename "${String(from)}"`);
      resolve(other(to, `rename to "${String(p)}"`), `rename to "${String(p)}"`, p, false);
      // Moved elsewhere, a symlink with ".." in its target may point out of the grant.
      const why = linkTargetOf(source);
      if (why) refuse(st, `rename "${String(from)}" to "${String(p)}"`, "not-permitted", `its source is a ${why}`);
    });
    // Bytes written into an fs:write tree count against its quota before they are written.
    const quotaExceeded = (): never => {
      throw "quota";
    };
    wrap("write", (args) => {
      needWrite(st, "write");
      const buf = args[0];
      if (buf instanceof Uint8Array) ledger.write(st.root, buf.byteLength, "write", quotaExceeded);
    });
    wrap("setSize", (args) => {
      needWrite(st, "setSize");
      const size = typeof args[0] === "bigint" ? Number(args[0]) : 0;
      const stat = proto.stat;
      let current = 0;
      try {
        current = typeof stat === "function" ? Number((stat.call(desc) as { size: bigint }).size) : 0;
      } catch {
        current = 0;
      }
      // Growing a file reserves space: counted as written.
      ledger.write(st.root, size - current, "set-size", quotaExceeded);
    });
    wrap("setTimes", () => needWrite(st, "setTimes"));
    wrap("readDirectory", () => ledger.take("open-files", `read directory under ${st.root}`, "insufficient-memory"), (stream) =>
      ledger.releaseOnDispose(stream, "open-files"),
    );
    // The shim allocates the whole length asked for before reading: a short read is legal, so cap it.
    wrap("read", (args) => {
      if (typeof args[0] === "bigint" && args[0] > MAX_READ) args[0] = MAX_READ;
    });
    // The stream's write fails with last-operation-failed (filesystem-error-code: quota) past the quota.
    const chargeStream = (what: string, bytes: number): void =>
      ledger.write(st.root, bytes, what, () => {
        throw { tag: "last-operation-failed", val: new IoError({ code: "EDQUOT", message: "fs:write quota exceeded" }) };
      });
    for (const name of ["writeViaStream", "appendViaStream"]) wrap(name, () => needWrite(st, name), (stream) => guardOutputStream(stream, chargeStream));
    wrap("readViaStream", () => undefined, capSkips);
    if (!st.write) {
      const getFlags = own.getFlags as (() => DescriptorFlags | undefined) | undefined;
      if (getFlags) own.getFlags = () => ({ ...(getFlags.call(desc) ?? { read: true }), write: false, mutateDirectory: false });
    }
  };

  const preopens = all["wasi:filesystem/preopens"] as { getDirectories(): [object, string][] };
  const entries = preopens.getDirectories();
  for (const [desc, guestPath] of entries) {
    const grant = dirs.find((d) => d.dir === guestPath);
    const root = realDir(guestPath);
    guard(desc, { root, at: root, write: grant?.write ?? false });
  }
  return {
    "wasi:filesystem/preopens": { getDirectories: () => [...entries] },
    "wasi:filesystem/types": all["wasi:filesystem/types"],
  };
}

// ------------------------------------------------------------------- sockets

type IpAddress = { tag: "ipv4" | "ipv6"; val: number[] };
type SocketAddress = { tag: "ipv4" | "ipv6"; val: { port: number; address: number[] } };

function ipText(addr: { tag: string; val: number[] }): string {
  return addr.tag === "ipv4" ? addr.val.join(".") : `[${addr.val.map((n) => n.toString(16)).join(":")}]`;
}
const isUnspecified = (a: SocketAddress): boolean => a.val.port === 0 && a.val.address.every((n) => n === 0);

/**
 * The sockets interfaces, scoped to `net:outbound:<host:port>`: connects and
 * sends only to granted peers (named hosts match the addresses this plugin
 * resolved them to), name lookups only of granted hosts, binds only to the
 * wildcard address (as before a connect), and no listening.
 */
function guardSockets(
  all: Record<string, Record<string, unknown>>,
  capabilities: readonly string[],
  onDenied: DeniedHandler,
  ledger: ResourceLedger,
): Record<string, unknown> {
  const grants = capabilities.filter((c) => c.startsWith("net:outbound:"));
  const namesOf = new Map<string, Set<string>>(); // resolved address -> host names
  const peerAllowed = (addr: SocketAddress): boolean => {
    const ip = ipText({ tag: addr.tag, val: addr.val.address });
    if (netAllowed(grants, ip, addr.val.port)) return true;
    return [...(namesOf.get(ip) ?? [])].some((name) => netAllowed(grants, name, addr.val.port));
  };
  const deny = (what: string): never => {
    onDenied(`${what}: needs net:outbound for it`);
    throw "access-denied";
  };
  const patch = (obj: unknown, name: string, check: (args: unknown[]) => void, after?: (result: unknown) => void): void => {
    if (typeof obj !== "object" || obj === null) return;
    const original = (Object.getPrototypeOf(obj) as Record<string, Method>)[name];
    if (typeof original !== "function") return;
    (obj as Record<string, unknown>)[name] = function (this: object, ...args: unknown[]) {
      check(args);
      const result = original.apply(this, args);
      after?.(result);
      return result;
    };
  };
  const bindCheck = ([, local]: unknown[]) => {
    const a = local as SocketAddress;
    if (!isUnspecified(a)) deny(`bind to ${ipText({ tag: a.tag, val: a.val.address })}:${a.val.port}`);
  };
  const connectCheck = (remote: unknown) => {
    const a = remote as SocketAddress | undefined;
    if (a && !peerAllowed(a)) deny(`connect to ${ipText({ tag: a.tag, val: a.val.address })}:${a.val.port}`);
  };

  const tcpCreate = all["wasi:sockets/tcp-create-socket"] as { createTcpSocket(family: string): unknown };
  const udpCreate = all["wasi:sockets/udp-create-socket"] as { createUdpSocket(family: string): unknown };
  const lookup = all["wasi:sockets/ip-name-lookup"] as { resolveAddresses(network: unknown, name: string): unknown };
  return {
    "wasi:sockets/tcp-create-socket": {
      createTcpSocket(family: string) {
        ledger.take("connections", "create a TCP socket", "new-socket-limit");
        let socket: unknown;
        try {
          socket = tcpCreate.createTcpSocket(family);
        } catch (err) {
          ledger.connections--;
          throw err;
        }
        ledger.releaseOnDispose(socket, "connections");
        patch(socket, "startBind", bindCheck);
        patch(socket, "startConnect", ([, remote]) => connectCheck(remote));
        patch(socket, "startListen", () => deny("listen for connections"));
        patch(socket, "finishConnect", () => undefined, (pair) => guardOutputStream((pair as [unknown, unknown])[1]));
        return socket;
      },
    },
    "wasi:sockets/udp-create-socket": {
      createUdpSocket(family: string) {
        ledger.take("connections", "create a UDP socket", "new-socket-limit");
        let socket: unknown;
        try {
          socket = udpCreate.createUdpSocket(family);
        } catch (err) {
          ledger.connections--;
          throw err;
        }
        ledger.releaseOnDispose(socket, "connections");
        patch(socket, "startBind", bindCheck);
        patch(
          socket,
          "stream",
          ([remote]) => connectCheck(remote),
          (pair) => {
            const [, outgoing] = pair as [unknown, unknown];
            patch(outgoing, "send", ([datagrams]) => {
              for (const d of datagrams as { remoteAddress?: SocketAddress }[]) connectCheck(d.remoteAddress);
            });
          },
        );
        return socket;
      },
    },
    "wasi:sockets/ip-name-lookup": {
      ...lookup,
      resolveAddresses(network: unknown, name: string) {
        const host = name.toLowerCase();
        const any = grants.some((c) => lookupAllowed(c, host));
        if (!any) deny(`look up ${name}`);
        const stream = lookup.resolveAddresses(network, name);
        patch(stream, "resolveNextAddress", () => undefined, (addr) => {
          if (!addr) return;
          const ip = ipText(addr as IpAddress);
          namesOf.set(ip, (namesOf.get(ip) ?? new Set()).add(host));
        });
        return stream;
      },
    },
  };
}

/** Whether the grant `cap` (net:outbound:…) names `host` at some port. */
function lookupAllowed(cap: string, host: string): boolean {
  return netAllowed([cap.replace(/:(\d+)$/, ":*")], host, 1);
}
