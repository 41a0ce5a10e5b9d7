import type { ChildProcess } from "node:child_process";
export interface SeenReport { type: "seen"; event: string; text: string; source?: string }
export interface TransportErrorReport { type: "transport-error"; code: string; reason: string; message: string }
export interface HostProcess {
  readonly child: ChildProcess;
  readonly seen: SeenReport[];
  readonly errors: TransportErrorReport[];
  readonly output: string;
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
  until(cond: () => boolean, what: string, ms?: number): Promise<void>;
  stop(): Promise<void>;
}
export interface HostConfig {
  url: string;
  prefix: string;
  hostId?: string;
  events?: "open" | "strict";
  isolation?: "in-process" | "worker";
  plugins?: { dir: string; name: string }[];
  services?: string[];
  config?: Record<string, Record<string, unknown>>;
  hostCalls?: Record<string, number>;
  watch?: string[];
}
export function startHost(cfg: HostConfig): Promise<HostProcess>;
