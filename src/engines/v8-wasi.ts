/**
 * Capability-scoped WASI for the v8 engine: each plugin gets its own
 * preview2-shim `WASIShim`, and only the interfaces its effective capability
 * set covers. stdio goes to the plugin's logger, `exit` becomes an error.
 */
import path from "node:path";
import { MissingImportError } from "../errors.js";
import type { HostCalls } from "../engine.js";
import { ExitSignal } from "./v8-instance.js";

/** Which capability an imported WASI interface needs; `null` means always supplied. */
function capabilityFor(iface: string): { test: (caps: readonly string[]) => boolean; grant: string } | null {
  const ns = iface.split("/")[0];
  // stdio streams are always instantiated (WASI adapters import stderr to report
  // panics); without `stdio` they are closed, so a write fails rather than vanishing.
  if (iface.startsWith("wasi:io/") || iface.startsWith("wasi:cli/")) return null;
  if (ns === "wasi:clocks") return { test: (c) => c.includes("clock"), grant: "clock" };
  if (ns === "wasi:random") return { test: (c) => c.includes("random"), grant: "random" };
  if (ns === "wasi:filesystem") return { test: (c) => c.some((x) => x.startsWith("fs:")), grant: "fs:read:<dir> or fs:write:<dir>" };
  if (ns === "wasi:sockets" || ns === "wasi:http") {
    return { test: (c) => c.some((x) => x.startsWith("net:outbound:")), grant: "net:outbound:<host:port>" };
  }
  return { test: () => false, grant: "(none: the host does not provide this interface)" };
}

/** Check every import against the effective capabilities before instantiating. */
export function checkImports(imports: readonly string[], capabilities: readonly string[], plugin: string): void {
  const missing: string[] = [];
  const grants = new Set<string>();
  for (const iface of imports) {
    if (iface.startsWith("plughost:plugin/")) continue;
    const need = capabilityFor(iface.replace(/@.*$/, ""));
    if (need && !need.test(capabilities)) {
      missing.push(iface);
      grants.add(need.grant);
    }
  }
  if (missing.length) {
    throw new MissingImportError(
      missing,
      `declare and grant the capability ${[...grants].join(", ")} for it, or rebuild the plugin without that interface`,
      { plugin },
    );
  }
}

type ShimModule = typeof import("@bytecodealliance/preview2-shim/instantiation");
type IoModule = typeof import("@bytecodealliance/preview2-shim/io");
let shims: Promise<[ShimModule, IoModule]> | undefined;
const loadShims = () =>
  (shims ??= Promise.all([import("@bytecodealliance/preview2-shim/instantiation"), import("@bytecodealliance/preview2-shim/io")]));

const MAX_LINE = 16 * 1024;

/** Build the WASI part of the import object for one plugin instance. */
export async function wasiImports(
  imports: readonly string[],
  capabilities: readonly string[],
  host: HostCalls,
  manifestDir: string,
): Promise<Record<string, unknown>> {
  const wanted = imports.filter((i) => i.startsWith("wasi:"));
  if (wanted.length === 0) return {};
  const [{ WASIShim }, io] = await loadShims();

  const preopens: Record<string, string> = {};
  for (const cap of capabilities) {
    const m = /^fs:(read|write):(.+)$/.exec(cap);
    if (m) {
      const dir = path.resolve(manifestDir, m[2]!);
      preopens[dir] = dir;
    }
  }
  const env: Record<string, string> = {};
  for (const cap of capabilities) {
    const m = /^env:(.+)$/.exec(cap);
    if (m && process.env[m[1]!] !== undefined) env[m[1]!] = process.env[m[1]!]!;
  }
  const shim = new WASIShim({
    sandbox: { preopens, env, args: ["plugin"], enableNetwork: capabilities.some((c) => c.startsWith("net:outbound:")) },
  } as ConstructorParameters<typeof WASIShim>[0]);
  const all = shim.getImportObject() as Record<string, unknown>;

  const OutputStream = (io.streams as unknown as { OutputStream: new () => object }).OutputStream;
  const stdio = capabilities.includes("stdio");
  const logStream = (level: "info" | "warn") => {
    let pending = "";
    const decoder = new TextDecoder();
    const flushLines = (final: boolean) => {
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        host.log(level, pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      if ((final && pending) || pending.length > MAX_LINE) {
        host.log(level, pending.slice(0, MAX_LINE));
        pending = "";
      }
    };
    // Subclass the shim's stream so jco's resource checks accept it; nothing reaches the host's fds.
    class LogOutputStream extends OutputStream {
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
    }
    return new LogOutputStream();
  };
  const stdout = logStream("info");
  const stderr = logStream("warn");

  const out: Record<string, unknown> = {};
  for (const iface of wanted) {
    const key = iface.replace(/@.*$/, "");
    if (key === "wasi:cli/exit") {
      out[key] = {
        exit(status: { tag: string }) {
          throw new ExitSignal(status.tag === "err" ? 1 : 0);
        },
        exitWithCode(code: number) {
          throw new ExitSignal(code);
        },
      };
    } else if (key === "wasi:cli/stdout") out[key] = { getStdout: () => stdout };
    else if (key === "wasi:cli/stderr") out[key] = { getStderr: () => stderr };
    else if (key in all) out[key] = all[key];
  }
  return out;
}
