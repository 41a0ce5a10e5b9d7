import type { ServerHandle } from "./server-process.mjs";
export function natsServerBinary(): string;
export type NatsServer = ServerHandle;
export function startNatsServer(options?: { port?: number }): Promise<NatsServer>;
