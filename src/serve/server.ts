/**
 * `plughost serve` as a library: a fastify server over a `PluginRegistry` with
 * the admin API and page, `/metrics`, `/healthz`, `/readyz`, and the plugins'
 * own endpoints under `/plugins/<name>/` (docs/serve.md).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from "fastify";
import rateLimit from "@fastify/rate-limit";
import type { Logger } from "pino";
import type { ServeConfigInput, ServeTokenInput } from "../runtime/host-config.js";
import { DEFAULT_SERVE } from "../runtime/host-config.js";
import { parseByteSize } from "../plugin/manifest.js";
import type { PluginRegistry } from "../runtime/registry.js";
import { adminApi } from "./admin-api.js";
import { adminPage } from "./admin-page.js";
import { TokenSet } from "./auth.js";
import { ENDPOINT_METHODS, EndpointTable, PLUGIN_PREFIX } from "./endpoints.js";

/** An incoming `x-request-id` plughost adopts: 1-128 printable ASCII characters, no spaces. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Each request's id (fastify's `req.id`): the caller's `x-request-id` when it is a sensible one, else a new UUID.
 * Plugin endpoints get it as their call's `request-id` metadata, which plugins read as the context key `request.id`.
 */
function requestId(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Options of `createServer`: the host config's `serve` section, plus what only code can give. */
export interface ServeOptions extends ServeConfigInput {
  /** Where `env` tokens and `PLUGHOST_ADMIN_TOKEN` / `PLUGHOST_READ_TOKEN` are read (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The host's per-plugin config overrides, shown by `GET /admin/api/plugins/:name/config`. */
  configOverrides?: Record<string, Record<string, unknown>>;
  /** Base directory of a relative path in `POST /admin/api/plugins` (default: the working directory). */
  baseDir?: string;
  /** The request log (a pino logger); default none. */
  logger?: Logger;
  /** Whether `/readyz` answers 200 from the start (default true; the CLI sets it once its plugins are loaded). */
  ready?: boolean;
  /** Where the token settings came from, for error messages (default "serve options"). */
  source?: string;
}

/** A running (or ready to run) plughost server. */
export interface PlughostServer {
  /** The fastify instance (add routes or hooks before `listen`). */
  readonly app: FastifyInstance;
  /** The plugin endpoints now mounted. */
  readonly endpoints: EndpointTable;
  /** The base URL once listening (`http://127.0.0.1:8080`). */
  readonly url: string | undefined;
  /** What `/readyz` reports (besides a closing server, which is never ready). */
  ready: boolean;
  /** Start listening on the options' host and port; resolves to the base URL. */
  listen(): Promise<string>;
  /**
   * Graceful stop: refuse new connections and requests (503), let in-flight
   * requests finish for up to `shutdownGraceMs`, then close what is left. The
   * registry's plugins are not unloaded (the CLI does that next). Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Build a server over `registry`. Plugin endpoints follow the registry: they
 * appear on load, disappear on unload and are swapped on reload, with no restart.
 *
 * @throws {@link HostConfigError} when a token setting is unusable (an unset variable, a token under 16 characters).
 * @example
 *   const registry = new PluginRegistry({ grants: ["http:serve"] });
 *   await registry.load("plugins/echo");
 *   const server = await createServer(registry, { port: 8080, tokens: [{ env: "ADMIN_TOKEN", roles: ["admin"] }] });
 *   console.log(await server.listen()); // http://127.0.0.1:8080
 *   process.once("SIGTERM", () => void server.close().then(() => registry.unloadAll()));
 */
export async function createServer(registry: PluginRegistry, options: ServeOptions = {}): Promise<PlughostServer> {
  const tokens = TokenSet.from(options.tokens ?? ([] as ServeTokenInput[]), options.env ?? process.env, options.source);
  const bodyLimit = options.bodyLimit === undefined ? DEFAULT_SERVE.bodyLimit : (parseByteSize(options.bodyLimit) ?? DEFAULT_SERVE.bodyLimit);
  const grace = options.shutdownGraceMs ?? DEFAULT_SERVE.shutdownGraceMs;
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as unknown as FastifyBaseLogger } : { logger: false }),
    bodyLimit,
    // Keep-alive connections that are idle are closed at once on close(); busy ones finish their request.
    forceCloseConnections: "idle",
    return503OnClosing: true,
    exposeHeadRoutes: false,
    genReqId: requestId,
  });
  await app.register(rateLimit, { global: false });
  const endpoints = new EndpointTable(registry, {
    tokens,
    log: app.log,
    limiter: (requests, windowMs, key) => {
      const hook = app.rateLimit({ max: requests, timeWindow: windowMs, keyGenerator: key });
      // The hook's `this` is the instance; it throws a 429 error past the limit.
      return (req, reply) => hook.call(app, req, reply) as Promise<void>;
    },
  });

  let closing: Promise<void> | undefined;
  let url: string | undefined;
  const server: PlughostServer = {
    app,
    endpoints,
    ready: options.ready ?? true,
    get url() {
      return url;
    },
    async listen() {
      const address = await app.listen({ host: options.host ?? DEFAULT_SERVE.host, port: options.port ?? DEFAULT_SERVE.port });
      url = address.replace("[::1]", "localhost");
      return url;
    },
    close() {
      closing ??= (async () => {
        endpoints.detach();
        // app.close() stops accepting and waits for in-flight requests; past the bound, their connections are cut.
        // A keep-alive connection whose request finishes meanwhile is closed as soon as it is idle.
        const timer = setTimeout(() => app.server.closeAllConnections(), grace);
        const idle = setInterval(() => app.server.closeIdleConnections(), 50);
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
          clearInterval(idle);
          endpoints.clear();
        }
      })();
      return closing;
    },
  };

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    const plugins = registry.list().map((p) => ({ name: p.name, state: p.state }));
    const starting = plugins.filter((p) => p.state === "loading" || p.state === "loaded" || p.state === "initializing");
    const ready = server.ready && closing === undefined && starting.length === 0;
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready", plugins });
  });
  app.get("/metrics", async (req, reply) => {
    if (options.metricsAuth && !tokens.authenticate(req.headers.authorization)) {
      return reply.code(401).header("www-authenticate", "Bearer").send({ error: "E_UNAUTHORIZED", message: "/metrics needs a bearer token (serve.metricsAuth is on)" });
    }
    return reply.type(registry.metricsContentType).send(await registry.metricsText());
  });

  if (options.admin ?? DEFAULT_SERVE.admin) {
    await app.register(adminApi, { prefix: "/admin/api", registry, tokens, endpoints, ...(options.configOverrides ? { configOverrides: options.configOverrides } : {}), ...(options.baseDir ? { baseDir: options.baseDir } : {}) });
    await app.register(adminPage, { prefix: "/admin" });
  }

  // Plugin endpoints: one wildcard route for the prefix; the table picks the endpoint per request.
  await app.register(async (scope) => {
    // The plugin gets the body's bytes as sent, whatever their type.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit }, (_req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: Buffer) => void) => done(null, body));
    const handler = endpoints.handle.bind(endpoints);
    scope.route({ method: [...ENDPOINT_METHODS], url: `${PLUGIN_PREFIX}/:plugin`, handler });
    scope.route({ method: [...ENDPOINT_METHODS], url: `${PLUGIN_PREFIX}/:plugin/*`, handler });
  });
  endpoints.attach();
  return server;
}
