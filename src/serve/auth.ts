/**
 * Bearer tokens of `plughost serve`: each holds roles (`admin`, `read`, or
 * roles of the host's own that plugin endpoints name). A presented token is
 * hashed and compared with every known token's digest in constant time
 * (`timingSafeEqual` over equal-length SHA-256 digests), with no early exit,
 * so neither a token's length nor how much of it matched shows in the timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { HostConfigError, type ServeTokenInput } from "../runtime/host-config.js";

/** The role that may do everything (the admin API's writes, every plugin endpoint). */
export const ADMIN_ROLE = "admin";
/** The role that may read the admin API (its GETs) and /metrics. */
export const READ_ROLE = "read";
/** Environment variables that add a token: the variable's name → its role. */
export const TOKEN_ENV: Readonly<Record<string, string>> = Object.freeze({ PLUGHOST_ADMIN_TOKEN: ADMIN_ROLE, PLUGHOST_READ_TOKEN: READ_ROLE });
/** The shortest token accepted, from the config or the environment. */
export const MIN_TOKEN_LENGTH = 16;

/** Who a request's token says it is. */
export interface Principal {
  /** The token's roles. */
  roles: ReadonlySet<string>;
}

const digest = (token: string): Buffer => createHash("sha256").update(token, "utf8").digest();

/** The known tokens, kept as digests only. */
export class TokenSet {
  readonly #entries: { digest: Buffer; principal: Principal }[];

  private constructor(entries: { digest: Buffer; principal: Principal }[]) {
    this.#entries = entries;
  }

  /**
   * The tokens of a `serve.tokens` list (an `env` entry is read from `env`), plus
   * `PLUGHOST_ADMIN_TOKEN` / `PLUGHOST_READ_TOKEN` when set there.
   * @throws {@link HostConfigError} when a named variable is unset or a token is shorter than `MIN_TOKEN_LENGTH`.
   */
  static from(tokens: readonly ServeTokenInput[], env: Readonly<Record<string, string | undefined>> = process.env, source = "serve options"): TokenSet {
    const problems: { pointer: string; message: string }[] = [];
    const entries: { digest: Buffer; principal: Principal }[] = [];
    const add = (token: string | undefined, roles: readonly string[], pointer: string, what: string): void => {
      if (token === undefined || token === "") problems.push({ pointer, message: `${what} is not set; set it or remove the entry` });
      else if (token.length < MIN_TOKEN_LENGTH) problems.push({ pointer, message: `${what} is ${token.length} characters long; a token needs at least ${MIN_TOKEN_LENGTH} (e.g. openssl rand -hex 24)` });
      else entries.push({ digest: digest(token), principal: { roles: new Set(roles) } });
    };
    tokens.forEach((t, i) => {
      if (t.env !== undefined) add(env[t.env], t.roles, `/serve/tokens/${i}/env`, `the environment variable ${t.env}`);
      else add(t.token, t.roles, `/serve/tokens/${i}/token`, "the token");
    });
    for (const [name, role] of Object.entries(TOKEN_ENV)) {
      const value = env[name];
      if (value !== undefined && value !== "") add(value, [role], "", `the environment variable ${name}`);
    }
    if (problems.length > 0) throw new HostConfigError(source, problems);
    return new TokenSet(entries);
  }

  /** How many tokens are known (none: every request needing one is refused). */
  get size(): number {
    return this.#entries.length;
  }

  /** The principal of an `Authorization: Bearer <token>` header; undefined when it is missing, malformed or unknown. Never throws. */
  authenticate(header: string | undefined): Principal | undefined {
    if (header === undefined || header.length < 7 || header.slice(0, 7).toLowerCase() !== "bearer ") return undefined;
    const presented = digest(header.slice(7).trim());
    let found: Principal | undefined;
    // Every entry is compared: the time taken does not depend on which one (if any) matched.
    for (const e of this.#entries) if (timingSafeEqual(e.digest, presented)) found ??= e.principal;
    return found;
  }
}

/** Whether `principal` holds one of `roles` (the admin role holds them all; an empty list: any token will do). */
export function hasRole(principal: Principal, roles: readonly string[]): boolean {
  if (principal.roles.has(ADMIN_ROLE) || roles.length === 0) return true;
  return roles.some((r) => principal.roles.has(r));
}
