// The admin web page at /admin: one HTML shell, one script, one stylesheet, all embedded as
// strings so dist/ and the packed package carry them with no copy step. The page itself holds
// no data; everything it shows comes from the admin JSON API with the bearer token the user types.
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { ADMIN_CSS } from "./admin/page-css.js";
import { adminHtml } from "./admin/page-html.js";
import { ADMIN_JS } from "./admin/page-js.js";

/** Options of {@link adminPage}. */
export interface AdminPageOptions {
  /**
   * URL path of the admin JSON API the page calls. Default: the page's prefix + `/api`
   * (`/admin/api` when registered with `{ prefix: "/admin" }`).
   */
  apiBase?: string;
  /** How often the page refreshes the plugin table, in milliseconds (at least 250). Default 2000. */
  refreshMs?: number;
}

// The page runs only its own script and style and talks only to its own origin.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function secure(reply: FastifyReply, type: string): FastifyReply {
  return reply
    .type(type)
    .header("content-security-policy", CSP)
    .header("x-content-type-options", "nosniff")
    .header("x-frame-options", "DENY")
    .header("referrer-policy", "no-referrer")
    .header("cache-control", "no-cache");
}

/**
 * Fastify plugin serving the admin web page: register it with `{ prefix: "/admin" }` beside the
 * admin API at `/admin/api`. Serves `GET <prefix>` (and `<prefix>/`), `<prefix>/admin.js` and
 * `<prefix>/admin.css`. The page asks for a bearer token (kept in the tab's sessionStorage), then
 * shows every plugin's state, health, calls, call rate, errors and latency percentiles, a selected
 * plugin's recent violations and logs, and suspend / resume / reload buttons; it refreshes
 * periodically, returns to sign-in on 401 and shows actions as refused on 403 (a read token).
 */
export const adminPage: FastifyPluginAsync<AdminPageOptions> = async (app, opts) => {
  const prefix = app.prefix.replace(/\/+$/, "");
  const html = adminHtml({
    assetBase: prefix,
    apiBase: opts.apiBase ?? `${prefix}/api`,
    refreshMs: opts.refreshMs ?? 2000,
  });
  app.get("/", async (_req, reply) => secure(reply, "text/html; charset=utf-8").send(html));
  app.get("/admin.js", async (_req, reply) => secure(reply, "text/javascript; charset=utf-8").send(ADMIN_JS));
  app.get("/admin.css", async (_req, reply) => secure(reply, "text/css; charset=utf-8").send(ADMIN_CSS));
};
