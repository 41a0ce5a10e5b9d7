/**
 * The admin JSON API under `/admin/api` (docs/serve.md, "Admin API"): list,
 * inspect, load, unload, reload, suspend and resume plugins, and read their
 * violations, logs, errors, config, metrics and health (docs/observability.md). Every request needs a
 * bearer token: the `read` role may GET, the `admin` role may do everything.
 */
import path from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { PlughostError } from "../contract/errors.js";
import type { LogLevel } from "../engines/engine.js";
import type { PluginHealth } from "../observability/health.js";
import type { LogQuery } from "../observability/log-store.js";
import type { PluginInfo, PluginRegistry } from "../runtime/registry.js";
import { ADMIN_ROLE, READ_ROLE, type Principal, type TokenSet } from "./auth.js";
import type { EndpointTable } from "./endpoints.js";

/** Options of `adminApi`. */
export interface AdminApiOptions {
  /** The registry served. */
  registry: PluginRegistry;
  /** The known tokens. */
  tokens: TokenSet;
  /** The plugin endpoint table (its endpoints are listed per plugin). */
  endpoints: EndpointTable;
  /** Per-plugin config overrides of the host. Unused: `GET /plugins/:name/config` answers `registry.config(name)` (kept for callers). */
  configOverrides?: Record<string, Record<string, unknown>>;
  /** Base directory a relative `path` in `POST /plugins` is resolved against (default: the working directory). */
  baseDir?: string;
}

const LOG_LEVELS: ReadonlySet<string> = new Set(["debug", "info", "warn", "error"]);

/** The HTTP status for a failed admin action. Never throws. */
export function adminStatusOf(err: unknown): number {
  if (!(err instanceof PlughostError)) return (err as { statusCode?: number }).statusCode ?? 500;
  switch (err.code) {
    case "E_PLUGIN_NOT_FOUND":
      return 404;
    case "E_PLUGIN_ALREADY_LOADED":
    case "E_PLUGIN_NOT_RUNNING":
    case "E_ILLEGAL_TRANSITION":
    case "E_RESOLUTION_FAILED":
      return 409;
    case "E_MANIFEST_INVALID":
    case "E_CAPABILITY_DENIED":
    case "E_CAPABILITY_INVALID":
    case "E_VERIFICATION_FAILED":
    case "E_API_VERSION_MISMATCH":
    case "E_CONFIG_INVALID":
    case "E_INVALID_BINARY":
    case "E_MISSING_IMPORT":
    case "E_INITIALIZATION_FAILED":
    case "E_DEADLINE_UNENFORCEABLE":
      return 422;
    default:
      return 500;
  }
}

/** The principal of a request, or a 401 answer. */
function authenticate(tokens: TokenSet, req: FastifyRequest, reply: FastifyReply): Principal | undefined {
  const principal = tokens.authenticate(req.headers.authorization);
  if (!principal) {
    void reply.code(401).header("www-authenticate", "Bearer").send({ error: "E_UNAUTHORIZED", message: "the admin API needs a bearer token (Authorization: Bearer <token>)" });
  }
  return principal;
}

/**
 * The admin API as a fastify plugin; register it with `{ prefix: "/admin/api" }`.
 * @example
 *   await app.register(adminApi, { prefix: "/admin/api", registry, tokens, endpoints });
 */
export async function adminApi(app: FastifyInstance, options: AdminApiOptions): Promise<void> {
  const { registry, tokens, endpoints } = options;

  app.addHook("onRequest", async (req, reply) => {
    const principal = authenticate(tokens, req, reply);
    if (!principal) return reply;
    const admin = principal.roles.has(ADMIN_ROLE);
    if (admin || ((req.method === "GET" || req.method === "HEAD") && principal.roles.has(READ_ROLE))) return;
    return reply.code(403).send({ error: "E_FORBIDDEN", message: `${req.method} ${req.url} needs the ${ADMIN_ROLE} role${principal.roles.has(READ_ROLE) ? " (a read token may only GET)" : ""}` });
  });
  app.setErrorHandler((err, _req, reply) => {
    const status = adminStatusOf(err);
    const e = err instanceof PlughostError ? err : undefined;
    return reply.code(status).send({ error: e?.code ?? (status === 400 ? "E_BAD_REQUEST" : "E_FAILED"), message: err instanceof Error ? err.message : String(err), ...(e?.plugin ? { plugin: e.plugin } : {}) });
  });

  const summary = (info: PluginInfo) => {
    const m = registry.metrics(info.name);
    const l = registry.latency(info.name);
    return { name: info.name, version: info.version, state: info.state, engine: info.engine, health: registry.health(info.name), calls: m.calls, errors: m.errors, latency: { p50Ns: l.p50Ns, p99Ns: l.p99Ns } };
  };
  const named = (req: FastifyRequest): string => (req.params as { name: string }).name;
  const logQuery = (req: FastifyRequest): LogQuery => {
    const q = req.query as Record<string, string | undefined>;
    const out: LogQuery = {};
    if (q.level !== undefined) {
      if (!LOG_LEVELS.has(q.level)) throw Object.assign(new Error(`level must be one of ${[...LOG_LEVELS].join(", ")}`), { statusCode: 400 });
      out.level = q.level as LogLevel;
    }
    for (const key of ["since", "until", "limit"] as const) {
      const v = q[key];
      if (v === undefined) continue;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw Object.assign(new Error(`${key} must be a number of at least 0`), { statusCode: 400 });
      out[key] = n;
    }
    if (q.text !== undefined) out.text = q.text;
    return out;
  };

  app.get("/plugins", async () => ({ plugins: registry.list().map(summary) }));
  app.get("/plugins/:name", async (req) => {
    const name = named(req);
    const info = registry.info(name);
    return { ...summary(info), info, metrics: registry.metrics(name), latency: registry.latency(name), endpoints: endpoints.list(name) };
  });
  app.post("/plugins", async (req, reply) => {
    const body = (req.body ?? {}) as { path?: unknown; name?: unknown };
    let handle;
    if (typeof body.path === "string" && body.path !== "") handle = await registry.load(path.resolve(options.baseDir ?? process.cwd(), body.path));
    else if (typeof body.name === "string" && body.name !== "") handle = await registry.loadByName(body.name);
    else return reply.code(400).send({ error: "E_BAD_REQUEST", message: 'send { "path": "<plugin dir or manifest>" } or { "name": "<plugin found in pluginDirs>" }' });
    return reply.code(201).send(summary(registry.info(handle.name)));
  });
  const action = (verb: "suspend" | "resume" | "reload" | "unload") =>
    app.post(`/plugins/:name/${verb}`, async (req) => {
      const name = named(req);
      // Answered once the plugin was told (its optional on-suspend / on-resume); the state changed at once.
      if (verb === "suspend") await registry.suspend(name);
      else if (verb === "resume") await registry.resume(name);
      else if (verb === "reload") await registry.reload(name);
      else await registry.unload(name);
      return summary(registry.info(name));
    });
  for (const verb of ["suspend", "resume", "reload", "unload"] as const) action(verb);
  app.get("/plugins/:name/violations", async (req) => ({ violations: registry.violations(named(req)) }));
  app.get("/plugins/:name/logs", async (req) => {
    const name = named(req);
    registry.info(name); // 404 for an unknown plugin
    return { logs: registry.logs(name, logQuery(req)) };
  });
  app.get("/plugins/:name/errors", async (req) => {
    const name = named(req);
    registry.info(name);
    return { errors: registry.errors(name, logQuery(req)) };
  });
  app.get("/plugins/:name/config", async (req) => {
    const name = named(req);
    const manifest = registry.get(name).manifest;
    // The registry's own view: live updates included, provenance per pointer, secrets as [secret].
    const { value, provenance, secrets } = registry.config(name);
    return { config: value, provenance, secrets, defaults: manifest.config.defaults, ...(manifest.config.schema ? { schema: manifest.config.schema } : {}) };
  });
  app.get("/plugins/:name/metrics", async (req) => {
    const name = named(req);
    return { metrics: registry.metrics(name), latency: registry.latency(name) };
  });
  app.get("/plugins/:name/endpoints", async (req) => {
    const name = named(req);
    registry.info(name);
    return { endpoints: endpoints.list(name) };
  });
  app.get("/endpoints", async () => ({ endpoints: endpoints.list() }));
  app.get("/health", async () => {
    const plugins = registry.health();
    const worst = Object.values(plugins).reduce<PluginHealth["status"]>((w, h) => (h.status === "critical" || (h.status === "warning" && w === "healthy") ? h.status : w), "healthy");
    return { status: worst, plugins };
  });
}
