/**
 * Plugin endpoints: the `[[api.endpoints]]` of every active plugin that holds
 * `http:serve`, mounted under `/plugins/<name>/`.
 *
 * fastify cannot remove a route, so the server registers one wildcard route
 * for the prefix and this table decides, per request, which endpoint (if any)
 * answers. The table follows the registry's events: a load adds a plugin's
 * endpoints, an unload removes them, a reload swaps them in one assignment,
 * so requests never see a half-updated set and the server never restarts.
 */
import { EventEmitter } from "node:events";
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from "fastify";
import type { ValidateFunction } from "ajv";
import { CapabilityDenied, ManifestError, PlughostError } from "../contract/errors.js";
import type { HookOutcome } from "../engines/engine.js";
import { compileUserSchema, endpointSchemaProblems, schemaProblems, type EndpointDeclaration, type EndpointMethod, type Manifest } from "../plugin/manifest.js";
import type { PluginHandle, PluginRegistry, SyncCallOptions } from "../runtime/registry.js";
import type { PluginState } from "../runtime/lifecycle.js";
import { hasRole, type TokenSet } from "./auth.js";
import { decodeResponse, envelopeOf, visibleHeaders, type RequestHead } from "./envelope.js";

/** The capability a plugin needs (declared and granted) to serve endpoints. */
export const HTTP_SERVE = "http:serve";
/** Where plugin endpoints are mounted: `/plugins/<name>/<path>`. */
export const PLUGIN_PREFIX = "/plugins";
/** The methods the wildcard route accepts. */
export const ENDPOINT_METHODS: readonly EndpointMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/** One mounted endpoint, as the admin API lists it. */
export interface EndpointInfo {
  /** The plugin serving it. */
  plugin: string;
  /** Its HTTP method. */
  method: EndpointMethod;
  /** The full path, `/plugins/<name>/...`. */
  path: string;
  /** The hook event a request goes to. */
  handler: string;
  /** Its rate limit, if any. */
  rateLimit?: { requests: number; windowMs: number };
  /** Whether it needs a token, and which roles. */
  auth: { required: boolean; roles: string[] };
}

/** What the table tells the server about. */
export interface EndpointTableEvents {
  /** A plugin's endpoints were mounted, replaced or removed (`endpoints` empty). */
  changed: [{ plugin: string; endpoints: EndpointInfo[] }];
  /** A plugin declares endpoints it may not serve (no `http:serve`, a schema that does not compile). */
  refused: [{ plugin: string; error: PlughostError }];
}

/** A rate limiter as `@fastify/rate-limit`'s `app.rateLimit(options)` makes one: it throws a 429 past the limit. */
export type Limiter = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** Options of `EndpointTable`. */
export interface EndpointTableOptions {
  /** The known bearer tokens (for endpoints with `auth`). */
  tokens: TokenSet;
  /** Makes a limiter for `requests` per `windowMs`, counting per `key(req)`. */
  limiter: (requests: number, windowMs: number, key: (req: FastifyRequest) => string) => Limiter;
  /** Where refusals are logged. */
  log: FastifyBaseLogger;
}

type Segment = string | { param: string };

interface Route {
  plugin: string;
  decl: EndpointDeclaration;
  segments: Segment[];
  /** The path ends in `*`: it matches any rest (given to the plugin as param "*"). */
  rest: boolean;
  validate: { body?: ValidateFunction; query?: ValidateFunction; params?: ValidateFunction };
  /** Top-level properties the query and params schemas type as integer, number or boolean (strings are coerced). */
  coerce: { query: Record<string, string>; params: Record<string, string> };
  limiter?: Limiter;
  needsToken: boolean;
  /** The head JSON's start up to `"query":` for the last method and path a literal request had (see `headJson`). */
  head?: { method: string; path: string; json: string };
}

interface Mounted {
  manifest: Manifest;
  capabilities: readonly string[];
  routes: Route[];
  /**
   * The routes whose path has no `:param` and no `*`, by `"<METHOD> <path>"`: a request to one is found with one map
   * lookup (no split, no params object). Such a route always wins over the others at its path (it has the most
   * literal segments), so the lookup gives what `#match` would.
   */
  literal: Map<string, Route>;
  /** `/plugins/<name>`, the prefix of its requests' paths. */
  base: string;
  /** The plugin's handle for synchronous calls, while it is the active version. */
  handle?: PluginHandle;
  /** Whether the plugin's hook is called synchronously anyway (v8 in-process, trusted native): the sync path is the same call. */
  sync: boolean;
}

/** An answer the table gives without calling the plugin. */
interface Refusal {
  status: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
  problems?: { pointer: string; message: string }[];
}

interface Match {
  route?: Route;
  params: Record<string, string>;
  /** Methods served at the path when the request's is not. */
  allowed: string[];
}

const MOUNT_STATES: ReadonlySet<PluginState> = new Set(["active", "suspended"]);
const UNMOUNT_STATES: ReadonlySet<PluginState> = new Set(["stopping", "stopped", "unloading", "unloaded"]);

function segmentsOf(path: string): { segments: Segment[]; rest: boolean } {
  const parts = path === "/" ? [] : path.slice(1).split("/");
  const rest = parts[parts.length - 1] === "*";
  if (rest) parts.pop();
  return { segments: parts.map((p) => (p.startsWith(":") ? { param: p.slice(1) } : p)), rest };
}

function coercions(schema: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const props = schema?.properties;
  if (typeof props !== "object" || props === null) return out;
  for (const [k, v] of Object.entries(props as Record<string, unknown>)) {
    const t = (v as { type?: unknown } | null)?.type;
    if (t === "integer" || t === "number" || t === "boolean") out[k] = t;
  }
  return out;
}

/** Strings to the number or boolean the schema asks for, where they read as one (else left for the schema to refuse). */
function coerce(values: Record<string, unknown>, types: Record<string, string>): Record<string, unknown> {
  const out = { ...values };
  for (const [k, t] of Object.entries(types)) {
    const v = out[k];
    if (typeof v !== "string") continue;
    if (t === "boolean") {
      if (v === "true" || v === "false") out[k] = v === "true";
    } else if (v.trim() !== "" && Number.isFinite(Number(v))) out[k] = Number(v);
  }
  return out;
}

/** The answer for a failed hook call: the plugin's own 4xx/5xx status, or what the host's error means. */
export function statusOfError(err: unknown): number {
  const code = err instanceof PlughostError ? err.code : "";
  switch (code) {
    case "E_PLUGIN_NOT_FOUND":
    case "E_PLUGIN_NOT_RUNNING":
    case "E_PLUGIN_UNMOUNTED":
      return 503;
    case "E_DEADLINE_EXCEEDED":
      return 504;
    case "E_BAD_RESPONSE":
      return 502;
    default:
      return 500;
  }
}

/** The table of mounted plugin endpoints, kept in step with a registry. */
export class EndpointTable extends EventEmitter<EndpointTableEvents> {
  readonly #registry: PluginRegistry;
  readonly #options: EndpointTableOptions;
  readonly #mounted = new Map<string, Mounted>();
  readonly #refused = new WeakSet<Manifest>();
  #detach: (() => void) | undefined;

  constructor(registry: PluginRegistry, options: EndpointTableOptions) {
    super();
    this.#registry = registry;
    this.#options = options;
  }

  /** Follow the registry: mount what is active now, and every load, reload and unload from here on. Idempotent. */
  attach(): void {
    if (this.#detach) return;
    const onState = (e: { plugin: string; to: PluginState }): void => this.sync(e.plugin);
    const onReloaded = (e: { plugin: string }): void => this.sync(e.plugin);
    this.#registry.on("state", onState);
    this.#registry.on("reloaded", onReloaded);
    this.#detach = () => {
      this.#registry.off("state", onState);
      this.#registry.off("reloaded", onReloaded);
    };
    for (const info of this.#registry.list()) this.sync(info.name);
  }

  /** Stop following the registry (mounted endpoints stay until `clear`). */
  detach(): void {
    this.#detach?.();
    this.#detach = undefined;
  }

  /** Remove every endpoint. */
  clear(): void {
    for (const name of [...this.#mounted.keys()]) this.#unmount(name);
  }

  /**
   * Bring one plugin's endpoints in line with the registry: mounted once it is
   * active, kept while it is suspended, restarting or disabled (its calls then
   * wait for the restart or answer 503), replaced when its manifest changed (a
   * reload), removed when it stops or unloads. Never throws: a plugin that may
   * not serve is refused (event `refused`, a `capability` violation).
   */
  sync(name: string): void {
    let manifest: Manifest;
    let capabilities: readonly string[];
    let sync: boolean;
    try {
      const info = this.#registry.info(name);
      // Engines whose asynchronous hook is their synchronous one: v8 in-process, a trusted native library. (wasmtime
      // runs async calls off-thread and refuses a sync call while one is pending.)
      sync = (info.engine === "v8" && info.isolation !== "worker") || (info.engine === "native" && info.trust === "trusted");
      if (UNMOUNT_STATES.has(info.state)) return this.#unmount(name);
      // Loading, initializing, restarting after a fault, disabled: what is mounted stays (calls wait or answer 503).
      if (!MOUNT_STATES.has(info.state)) return;
      manifest = this.#registry.get(name).manifest;
      capabilities = info.capabilities;
    } catch {
      return this.#unmount(name); // no longer tracked
    }
    const current = this.#mounted.get(name);
    if (current && current.manifest === manifest && current.capabilities === capabilities) return;
    const endpoints = manifest.api?.endpoints ?? [];
    if (endpoints.length === 0) return this.#unmount(name);
    if (!capabilities.includes(HTTP_SERVE)) {
      const error = new CapabilityDenied(
        HTTP_SERVE,
        `declares ${endpoints.length} HTTP endpoint(s) but does not hold the capability "${HTTP_SERVE}"; its routes are refused. ` +
          `Grant it in plughost.config.json (e.g. {"grants": {"${name}": ["${HTTP_SERVE}"]}}) and declare it in the manifest`,
        { plugin: name },
      );
      this.#unmount(name);
      // Once per version: a restart, suspend or resume of the same one is not a new offence.
      if (!this.#refused.has(manifest)) {
        this.#refused.add(manifest);
        this.#refuse(name, error, true);
      }
      return;
    }
    const problems = endpointSchemaProblems(manifest);
    if (problems.length > 0) {
      this.#unmount(name);
      if (!this.#refused.has(manifest)) {
        this.#refused.add(manifest);
        this.#refuse(name, new ManifestError(manifest.file, problems, { plugin: name }), false);
      }
      return;
    }
    const routes = endpoints.map((decl) => this.#compile(name, decl));
    // Literal segments before params, longer paths before a rest wildcard: the most specific endpoint answers.
    routes.sort((a, b) => Number(a.rest) - Number(b.rest) || b.segments.filter((s) => typeof s === "string").length - a.segments.filter((s) => typeof s === "string").length);
    const literal = new Map<string, Route>();
    for (const r of routes) {
      const key = `${r.decl.method} ${r.decl.path}`;
      // The first of two identical declarations answers, as in `#match`.
      if (!r.rest && r.segments.every((s) => typeof s === "string") && !literal.has(key)) literal.set(key, r);
    }
    this.#mounted.set(name, { manifest, capabilities, routes, literal, base: `${PLUGIN_PREFIX}/${name}`, sync });
    this.emit("changed", { plugin: name, endpoints: this.list(name) });
  }

  /** The mounted endpoints, of one plugin or all. */
  list(plugin?: string): EndpointInfo[] {
    const out: EndpointInfo[] = [];
    for (const [name, m] of this.#mounted) {
      if (plugin !== undefined && name !== plugin) continue;
      for (const r of m.routes) {
        const info: EndpointInfo = {
          plugin: name,
          method: r.decl.method,
          path: `${PLUGIN_PREFIX}/${name}${r.decl.path === "/" ? "" : r.decl.path}`,
          handler: r.decl.handler,
          auth: { required: r.decl.auth.required, roles: [...r.decl.auth.roles] },
        };
        if (r.decl.rateLimit) info.rateLimit = { ...r.decl.rateLimit };
        out.push(info);
      }
    }
    return out;
  }

  #unmount(name: string): void {
    if (this.#mounted.delete(name)) this.emit("changed", { plugin: name, endpoints: [] });
  }

  #refuse(name: string, error: PlughostError, violation: boolean): void {
    this.#options.log.warn({ plugin: name, code: error.code }, error.message);
    this.emit("refused", { plugin: name, error });
    if (!violation) return;
    // Outside the registry's own event dispatch: a violation may unload the plugin.
    queueMicrotask(() => {
      try {
        this.#registry.recordViolation(name, "capability", error.message);
      } catch {
        // unloaded meanwhile
      }
    });
  }

  #compile(plugin: string, decl: EndpointDeclaration): Route {
    const { segments, rest } = segmentsOf(decl.path);
    const validate: Route["validate"] = {};
    for (const part of ["body", "query", "params"] as const) {
      const schema = decl.schema[part];
      if (schema) validate[part] = compileUserSchema(schema);
    }
    const route: Route = {
      plugin,
      decl,
      segments,
      rest,
      validate,
      coerce: { query: coercions(decl.schema.query), params: coercions(decl.schema.params) },
      needsToken: decl.auth.required || decl.auth.roles.length > 0,
    };
    if (decl.rateLimit) {
      // One counter per endpoint and client; it survives a reload (same key).
      const id = `${plugin} ${decl.method} ${decl.path}|`;
      route.limiter = this.#options.limiter(decl.rateLimit.requests, decl.rateLimit.windowMs, (req) => id + req.ip);
    }
    return route;
  }

  #match(m: Mounted, method: string, path: string): Match {
    const exact = m.literal.get(`${method} ${path}`);
    if (exact) return { route: exact, params: NO_PARAMS, allowed: NO_METHODS };
    const parts = path === "/" || path === "" ? [] : path.slice(1).split("/");
    const allowed: string[] = [];
    for (const r of m.routes) {
      if (r.rest ? parts.length < r.segments.length : parts.length !== r.segments.length) continue;
      let ok = true;
      for (let i = 0; i < r.segments.length && ok; i++) {
        const s = r.segments[i];
        if (typeof s === "string" ? s !== parts[i] : parts[i] === "") ok = false;
      }
      if (!ok) continue;
      if (r.decl.method !== method) {
        allowed.push(r.decl.method);
        continue;
      }
      const params: Record<string, string> = {};
      r.segments.forEach((s, i) => {
        if (typeof s !== "string") params[s.param] = decodeURIComponent(parts[i] as string);
      });
      if (r.rest) params["*"] = decodeURIComponent(parts.slice(r.segments.length).join("/"));
      return { route: r, params, allowed };
    }
    return { params: {}, allowed };
  }

  /**
   * The hook called on the registry's synchronous path, when nothing can tell the difference: no interceptor is
   * registered (so no one reads the call's hostContext) and the plugin's active version is one whose hook runs
   * synchronously anyway (v8 in-process, a trusted native library). It skips the asynchronous call queue's
   * promises, about a tenth of an endpoint's time. Undefined when the call must take the asynchronous path (an
   * interceptor, a worker, wasmtime or a sandboxed plugin, a suspended, restarting or replaced one).
   */
  #callSync(m: Mounted, plugin: string, event: string, data: Uint8Array, options: SyncCallOptions): HookOutcome | undefined {
    if (!m.sync || this.#registry._intercepted) return undefined;
    let h = m.handle;
    // A reload moves the old version out of "active" as it swaps: the handle is then fetched again.
    if (h === undefined || h.state !== "active") {
      if (!this.#registry.isLoaded(plugin)) return undefined;
      h = this.#registry.get(plugin);
      if (h.state !== "active") return undefined;
      m.handle = h;
    }
    try {
      return h.hookSync(event, data, options);
    } catch (err) {
      // Refused before the plugin ran (restarting after a fault, a call in progress): the asynchronous path waits or answers.
      if (err instanceof PlughostError && (err.code === "E_PLUGIN_NOT_RUNNING" || err.code === "E_REENTRANCY")) return undefined;
      throw err;
    }
  }

  /**
   * The wildcard route's handler: match, rate-limit, authenticate, validate, call the plugin's hook, answer.
   * Synchronous (no promise) when the endpoint has no rate limit and the plugin's hook runs on the synchronous path:
   * an async handler costs a promise and a microtask turn per request, which fastify would wait for.
   */
  handle(req: FastifyRequest, reply: FastifyReply): Promise<void> | undefined {
    const plugin = (req.params as { plugin: string }).plugin;
    const q = req.url.indexOf("?");
    const fullPath = q < 0 ? req.url : req.url.slice(0, q);
    const mounted = this.#mounted.get(plugin);
    const base = mounted?.base ?? "";
    if (!mounted || !fullPath.startsWith(base)) return refused(reply, { status: 404, code: "E_NOT_FOUND", message: `no endpoint ${req.method} ${fullPath}` });
    let found: Match;
    try {
      found = this.#match(mounted, req.method, fullPath.slice(base.length) || "/");
      // HEAD is served by a GET endpoint when none is declared for it (Node sends the headers, not the body).
      if (!found.route && req.method === "HEAD") found = this.#match(mounted, "GET", fullPath.slice(base.length) || "/");
    } catch {
      return refused(reply, { status: 400, code: "E_BAD_REQUEST", message: "the path holds a malformed %-escape" });
    }
    const route = found.route;
    if (!route) {
      if (found.allowed.length > 0) return refused(reply, { status: 405, code: "E_METHOD_NOT_ALLOWED", message: `${req.method} is not served at ${fullPath}`, headers: { allow: found.allowed.join(", ") } });
      return refused(reply, { status: 404, code: "E_NOT_FOUND", message: `no endpoint ${req.method} ${fullPath}` });
    }
    if (route.limiter) {
      const limiter = route.limiter;
      return (async () => {
        await limiter(req, reply);
        await this.#serve(req, reply, mounted, plugin, fullPath, route, found.params);
      })();
    }
    return this.#serve(req, reply, mounted, plugin, fullPath, route, found.params);
  }

  /** `handle` past the rate limit: authenticate, validate, call, answer; a promise only when the call is asynchronous. */
  #serve(req: FastifyRequest, reply: FastifyReply, mounted: Mounted, plugin: string, fullPath: string, route: Route, params: Record<string, string>): Promise<void> | undefined {
    if (route.needsToken) {
      const principal = this.#options.tokens.authenticate(req.headers.authorization);
      if (!principal) return refused(reply, { status: 401, code: "E_UNAUTHORIZED", message: "this endpoint needs a bearer token", headers: { "www-authenticate": "Bearer" } });
      if (!hasRole(principal, route.decl.auth.roles)) return refused(reply, { status: 403, code: "E_FORBIDDEN", message: `this endpoint needs one of the roles ${route.decl.auth.roles.join(", ")}` });
    }
    const query = (req.query ?? {}) as Record<string, string | string[]>;
    const v = route.validate;
    if (v.params) {
      const bad = invalid(v.params, coerce(params, route.coerce.params), "params");
      if (bad) return refused(reply, bad);
    }
    if (v.query) {
      const bad = invalid(v.query, coerce(query, route.coerce.query), "query");
      if (bad) return refused(reply, bad);
    }
    const body = Buffer.isBuffer(req.body) ? req.body : EMPTY;
    if (v.body) {
      let parsed: unknown;
      try {
        parsed = body.length === 0 ? undefined : JSON.parse(body.toString("utf8"));
      } catch {
        return refused(reply, { status: 400, code: "E_BAD_REQUEST", message: "the body is not JSON; this endpoint validates a JSON body" });
      }
      if (parsed === undefined) return refused(reply, { status: 400, code: "E_BAD_REQUEST", message: "this endpoint needs a JSON body" });
      const bad = invalid(v.body, parsed, "body");
      if (bad) return refused(reply, bad);
    }
    // Most requests carry none of the secret headers: their headers then go into the head as they are (only
    // serialized), not copied.
    const headers = req.headers.authorization === undefined && req.headers.cookie === undefined && req.headers["proxy-authorization"] === undefined ? (req.headers as RequestHead["headers"]) : visibleHeaders(req.headers);
    const envelope = envelopeOf(headJson(route, req.method, fullPath, params, req.url.length === fullPath.length ? undefined : query, headers, req.ip), body);
    // The request's id is the call's request-id metadata: the plugin reads it as the context key request.id, and every
    // message and request it makes while answering carries it (docs/context.md).
    const context = { requestId: req.id };
    reply.header("x-request-id", req.id);
    let outcome: HookOutcome | undefined;
    try {
      outcome = this.#callSync(mounted, plugin, route.decl.handler, envelope, { context });
    } catch (err) {
      return failed(reply, err);
    }
    if (outcome !== undefined) return answer(reply, plugin, outcome);
    return this.#registry
      .hook(plugin, route.decl.handler, envelope, {
        context,
        hostContext: { http: { method: req.method, path: fullPath, route: route.decl.path, requestId: req.id, traceparent: req.headers.traceparent, tracestate: req.headers.tracestate } },
      })
      .then(
        (o) => answer(reply, plugin, o),
        (err: unknown) => failed(reply, err),
      );
  }
}

/** The last `remote` of a request head and its JSON: a keep-alive connection's requests all have the same. */
let lastRemote = "";
let lastRemoteJson = '""';

/**
 * The request head's JSON: what `JSON.stringify` gives for a `RequestHead` of these fields (`query` undefined: the
 * URL has no query string, `{}`). A literal endpoint's method, path, route and params are the same request after
 * request: their JSON is made once and kept on the route, so a request serializes only its query, headers and remote.
 */
function headJson(route: Route, method: string, path: string, params: Record<string, string>, query: RequestHead["query"] | undefined, headers: RequestHead["headers"], remote: string | undefined): string {
  // A closed socket has no address: the field is left out, as JSON.stringify leaves out undefined.
  if (typeof remote !== "string") return JSON.stringify({ method, path, route: route.decl.path, params, query: query ?? {}, headers, remote });
  let start: string;
  const kept = route.head;
  if (params === NO_PARAMS && kept !== undefined && kept.method === method && kept.path === path) start = kept.json;
  else {
    start = `${JSON.stringify({ method, path, route: route.decl.path, params }).slice(0, -1)},"query":`;
    if (params === NO_PARAMS) route.head = { method, path, json: start };
  }
  if (remote !== lastRemote) {
    lastRemoteJson = JSON.stringify(remote);
    lastRemote = remote;
  }
  return `${start}${query === undefined ? "{}" : JSON.stringify(query)},"headers":${JSON.stringify(headers)},"remote":${lastRemoteJson}}`;
}

/** The answer for a hook call that threw: its status (`statusOfError`) and the error's code and message. */
function failed(reply: FastifyReply, err: unknown): undefined {
  const e = err instanceof PlughostError ? err : undefined;
  return refused(reply, { status: statusOfError(err), code: e?.code ?? "E_FAILED", message: err instanceof Error ? err.message : String(err) });
}

/** Send the plugin's answer: its status, headers and body (a failed hook's status 400-599, else 500; a bad envelope 502). */
function answer(reply: FastifyReply, plugin: string, outcome: HookOutcome): undefined {
  if (!outcome.ok) {
    // A hook's own status 400-599 is the answer's; any other failure is the plugin's error.
    const status = outcome.status >= 400 && outcome.status <= 599 ? outcome.status : 500;
    return refused(reply, { status, code: "E_PLUGIN_STATUS", message: `plugin "${plugin}" answered status ${outcome.status}` });
  }
  let res;
  try {
    res = decodeResponse(plugin, outcome.data);
  } catch (err) {
    return refused(reply, { status: 502, code: (err as PlughostError).code, message: (err as Error).message });
  }
  if (res.status !== 200) reply.code(res.status);
  for (const name in res.headers) reply.header(name, res.headers[name]);
  if (res.headers["content-type"] === undefined) reply.header("content-type", "application/octet-stream");
  const body = res.body;
  reply.send(Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  return undefined;
}

const EMPTY = Buffer.alloc(0);
/** The params of a path without `:params`, shared (coercion copies them; nothing writes them). */
const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const NO_METHODS: string[] = [];

function invalid(validate: ValidateFunction, data: unknown, part: "body" | "query" | "params"): Refusal | undefined {
  if (validate(data)) return undefined;
  const problems = schemaProblems(validate.errors ?? []).map((p) => ({ pointer: p.pointer, message: p.message }));
  const first = problems[0];
  return {
    status: 400,
    code: "E_BAD_REQUEST",
    message: `the request's ${part} does not match the endpoint's schema${first ? `: ${first.pointer || "/"} ${first.message}` : ""}`,
    problems: problems.map((p) => ({ pointer: `/${part}${p.pointer}`, message: p.message })),
  };
}

/** Send a refusal; undefined, what a synchronous handler that has answered returns. */
function refused(reply: FastifyReply, r: Refusal): undefined {
  reply.code(r.status);
  if (r.headers) for (const [k, v] of Object.entries(r.headers)) reply.header(k, v);
  reply.send({ error: r.code, message: r.message, ...(r.problems ? { problems: r.problems } : {}) });
  return undefined;
}
