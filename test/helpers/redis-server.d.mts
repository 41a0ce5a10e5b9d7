import type { ServerHandle } from "./server-process.mjs";
/** The redis-server binary, or throws saying how to install it. */
export function redisServerBinary(): string;
/** A redis-server started on 127.0.0.1 by {@link startRedisServer}. */
export type RedisServer = ServerHandle;
/** Starts redis-server on 127.0.0.1 (on `port`, or a free one) without persistence; resolves once it answers PING. */
/** `password` starts it with `--requirepass`; its `url` does not carry the password. */
export function startRedisServer(options?: { port?: number; password?: string }): Promise<RedisServer>;
