/** The first of `envVar`'s path and `paths` that exists, else `name` when it runs from PATH; else throws. */
export function serverBinary(name: string, envVar: string, paths: readonly string[], install: string): string;

/** A server process on 127.0.0.1, as the server helpers start it. */
export interface ServerHandle {
  readonly port: number;
  readonly url: string;
  readonly pid: number | undefined;
  /** End it (SIGTERM, then SIGKILL after 3 s). */
  stop(): Promise<void>;
  /** Start it again on the same port. */
  restart(): Promise<void>;
  /** Stop it for good. */
  close(): Promise<void>;
}

/** Keep the server `start(port)` launches; see server-process.mjs. */
export function superviseServer(
  scheme: string,
  port: number,
  start: (port: number) => Promise<{ child: import("node:child_process").ChildProcess; port: number }>,
): Promise<ServerHandle>;
