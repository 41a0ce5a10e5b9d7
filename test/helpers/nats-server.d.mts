export function natsServerBinary(): string;
export interface NatsServer {
  readonly port: number;
  readonly url: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}
export function startNatsServer(options?: { port?: number }): Promise<NatsServer>;
