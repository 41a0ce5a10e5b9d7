// Shared by the native tests: a recording HostCalls and fixture paths.
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { HostCalls, LoadRequest, LogLevel, RegisterOutcome, TrustLevel, ViolationKind } from "../src/engines/engine.js";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const fixture = (name: string) => path.join(root, "test", "fixtures", "native", "build", `${name}.so`);

export interface RecordingHost extends HostCalls {
  logs: { level: LogLevel; message: string }[];
  registered: string[];
  emitted: { name: string; data: string }[];
  sent: { target: string; name: string; data: string }[];
  violations: { kind: ViolationKind; detail: string }[];
}

export function recordingHost(config = "{}", refuse: Record<string, RegisterOutcome> = {}): RecordingHost {
  const host: RecordingHost = {
    logs: [],
    registered: [],
    emitted: [],
    sent: [],
    violations: [],
    log(level, message) {
      host.logs.push({ level, message });
    },
    registerCallback(name) {
      if (!/^[A-Za-z0-9._:/-]{1,128}$/.test(name)) return "invalid-name";
      const r = refuse[name];
      if (r) return r;
      host.registered.push(name);
      return "ok";
    },
    emit(name, data) {
      if (name === "forbidden") return { ok: false, error: "denied" };
      host.emitted.push({ name, data: Buffer.from(data).toString() });
      return { ok: true, value: 2 };
    },
    send(target, name, data) {
      host.sent.push({ target, name, data: Buffer.from(data).toString() });
      return { ok: true, value: undefined };
    },
    getConfig: () => config,
    getConfigValue: () => undefined,
  };
  return host;
}

export function request(name: string, trust: TrustLevel, host: RecordingHost, extra: Partial<LoadRequest> = {}): LoadRequest {
  return {
    plugin: name,
    entryPath: fixture(name),
    capabilities: [],
    limits: {},
    host,
    trust,
    onViolation: (kind, detail) => host.violations.push({ kind, detail }),
    ...extra,
  };
}

export const bytes = (s: string) => new Uint8Array(Buffer.from(s));

export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
