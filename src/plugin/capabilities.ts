/**
 * Capabilities: the strings a manifest declares and a host grants, what a
 * grant covers, the effective set (declared ∩ granted), and the questions
 * engines and the registry ask of that set.
 *
 * Rules (docs/capabilities.md explains them with examples):
 * - `fs:<read|write>:<dir>`: a relative dir is resolved against a base
 *   directory (the manifest's dir, or the host config file's dir); without a
 *   base it is an error, because a sandbox root must never depend on the cwd.
 *   A grant covers its dir and everything below it. `fs:write:X` also grants
 *   reading X: WASI preopens are read-write, and write-only dirs surprise.
 * - `env:<NAME>`, `net:outbound:<host>:<port>`, `events:<dir>:<name>`: a
 *   trailing `*` is a prefix wildcard (`env:*`, `env:APP_*`,
 *   `events:publish:form.*`); in net, the host may be `*` or `*.example.com`
 *   and the port `*`.
 * - `x-<kind>[:<scope>]`: host extensions, opaque to plughost, matched
 *   exactly or by a trailing `*`.
 * - `http:serve`: the plugin may serve the `[[api.endpoints]]` its manifest
 *   declares under `/plugins/<name>/` when the host runs `plughost serve`
 *   (docs/serve.md).
 * - `metrics`: the plugin may define its own metrics (`define-metric`,
 *   observability/plugin-metrics.ts).
 * - `state`: the plugin may keep persistent key-value state (`state-*`,
 *   src/state/store.ts; docs/state.md).
 * - `context:<key>` reads a context key, `context:write:<key>` writes it (and
 *   reads it); a trailing `*` is a prefix wildcard (`context:acme.*`), as for
 *   env (src/context/store.ts; docs/context.md).
 * - `iface:<ns>:<pkg>/<name>`: the plugin may import that app-defined WIT
 *   interface (unversioned; the version is matched by semver at load), from
 *   the host's `provide` or another plugin's export; a trailing `*` is a
 *   prefix wildcard (`iface:acme:app/*`, `iface:*`) (docs/host-interfaces.md).
 */
import path from "node:path";
import { CapabilityDenied, PlughostError, type ErrorDetails } from "../contract/errors.js";
import { eventNameCovers } from "../contract/event-names.js";

/** A capability string that cannot be parsed. Code `E_CAPABILITY_INVALID`. */
export class CapabilityError extends PlughostError {
  /** The string as given. */
  readonly capability: string;
  /** What is wrong, without the capability itself (for messages that already point at it). */
  readonly reason: string;
  constructor(capability: string, reason: string, details: ErrorDetails = {}) {
    super("E_CAPABILITY_INVALID", `invalid capability ${JSON.stringify(capability)}: ${reason}`, details);
    this.capability = capability;
    this.reason = reason;
  }
}

/** A parsed capability (`parseCapability`); `formatCapability` gives its canonical string. */
export type Capability =
  | { kind: "fs"; access: "read" | "write"; dir: string }
  | { kind: "env"; name: string }
  | { kind: "clock" }
  | { kind: "random" }
  | { kind: "stdio" }
  | { kind: "metrics" }
  | { kind: "state" }
  | { kind: "net"; host: string; port: number | "*" }
  | { kind: "events"; direction: "publish" | "subscribe"; name: string }
  | { kind: "http"; action: "serve" }
  | { kind: "context"; access: "read" | "write"; key: string }
  | { kind: "iface"; id: string }
  | { kind: "extension"; name: string; scope?: string };

/** How the registry treats event names a plugin holds no `events:*` capability for. */
export type EventPolicy = "open" | "strict";

/** The capability grammar, one form per kind, as error messages quote it. */
export const CAPABILITY_FORMS = [
  "fs:read:<dir>",
  "fs:write:<dir>",
  "env:<NAME>",
  "clock",
  "random",
  "stdio",
  "metrics",
  "state",
  "net:outbound:<host:port>",
  "events:publish:<name>",
  "events:subscribe:<name>",
  "http:serve",
  "context:<key>",
  "context:write:<key>",
  "iface:<ns>:<pkg>/<name>",
  "x-<kind>[:<scope>]",
] as const;

const ENV_NAME = /^(?:[A-Za-z_][A-Za-z0-9_]*\*?|\*)$/;
// The WIT's callback-name rule, plus an optional trailing `*` wildcard.
const EVENT_NAME = /^(?:[A-Za-z0-9._:/-]{1,128}\*?|\*)$/;
const HOST_NAME = /^(?:\*|(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])$/;
const EXTENSION = /^x-[a-z0-9-]+$/;
// A context key (context/store.ts: dotted lower-case, at most 64 bytes) with an optional trailing `*` wildcard.
const CONTEXT_KEY = /^(?:[a-z0-9][a-z0-9._-]{0,63}\*?|\*)$/;
// An unversioned WIT interface id (ns:pkg/name, kebab-case words), or a prefix of one ending in `*`.
const IFACE_WORD = "(?:[a-z][a-z0-9]*(?:-[a-z0-9]+)*|[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*)";
const IFACE_ID = new RegExp(`^(?:${IFACE_WORD}:${IFACE_WORD}/${IFACE_WORD}|[a-zA-Z0-9:/-]*\\*)$`);

/** Options of `parseCapability` and `normalizeCapability`. */
export interface ParseOptions {
  /** Directory that relative `fs:` dirs are resolved against. */
  baseDir?: string;
  /** The plugin concerned, for error messages. */
  plugin?: string;
}

function fail(text: string, why: string, options: ParseOptions): never {
  throw new CapabilityError(text, why, { plugin: options.plugin });
}

/**
 * Parse one capability string.
 * @throws {@link CapabilityError} saying what is wrong and what is expected (unknown
 *   kind, bad argument, a relative fs dir without `options.baseDir`, a NUL byte).
 * @example
 *   parseCapability("fs:read:data", { baseDir: "/srv/app" }); // { kind: "fs", access: "read", dir: "/srv/app/data" }
 *   parseCapability("net:outbound:api.example.com:443");      // { kind: "net", host: "api.example.com", port: 443 }
 */
export function parseCapability(text: string, options: ParseOptions = {}): Capability {
  if (typeof text !== "string" || text.length === 0) fail(String(text), "it is empty; expected one of " + CAPABILITY_FORMS.join(", "), options);
  // A NUL would cut the path short wherever it reaches C (WASI, the sandbox), so the grant would not mean what it says.
  if (text.includes("\0")) fail(text, "it contains a NUL byte; remove it", options);
  const [kind, ...rest] = text.split(":");
  const arg = rest.join(":");
  switch (kind) {
    case "clock":
    case "random":
    case "stdio":
    case "metrics":
    case "state":
      if (rest.length > 0) fail(text, `"${kind}" takes no argument; write just "${kind}"`, options);
      return { kind };
    case "fs": {
      const access = rest[0];
      if (access !== "read" && access !== "write") {
        fail(text, `fs capabilities are fs:read:<dir> or fs:write:<dir>, got access ${JSON.stringify(access ?? "")}`, options);
      }
      const dir = rest.slice(1).join(":");
      if (dir.length === 0) fail(text, `fs:${access} needs a directory, like "fs:${access}:./data" or "fs:${access}:/srv/data"`, options);
      if (dir.includes("*")) fail(text, `fs directories cannot contain wildcards; name the directory, e.g. "fs:${access}:/"`, options);
      let resolved: string;
      if (path.isAbsolute(dir)) resolved = path.resolve(dir);
      else if (options.baseDir !== undefined) resolved = path.resolve(options.baseDir, dir);
      else fail(text, `the directory ${JSON.stringify(dir)} is relative and there is no base directory to resolve it against; make it absolute`, options);
      return { kind: "fs", access, dir: resolved };
    }
    case "env":
      if (!ENV_NAME.test(arg)) fail(text, `env needs a variable name like "env:HOME" (letters, digits, '_'; a trailing '*' matches a prefix), got ${JSON.stringify(arg)}`, options);
      return { kind: "env", name: arg };
    case "net": {
      if (rest[0] !== "outbound") fail(text, `the only net capability is net:outbound:<host:port>, got net:${rest[0] ?? ""}`, options);
      const target = rest.slice(1).join(":");
      if (target === "*") return { kind: "net", host: "*", port: "*" };
      const cut = target.lastIndexOf(":");
      if (cut <= 0) fail(text, `net:outbound needs <host>:<port>, like "net:outbound:api.example.com:443" (or "net:outbound:*"), got ${JSON.stringify(target)}`, options);
      const host = target.slice(0, cut).toLowerCase();
      const portText = target.slice(cut + 1);
      if (!HOST_NAME.test(host)) fail(text, `${JSON.stringify(host)} is not a host name, IP address, "*" or "*.domain"`, options);
      if (portText === "*") return { kind: "net", host, port: "*" };
      const port = Number(portText);
      if (!/^[0-9]{1,5}$/.test(portText) || port < 1 || port > 65535) fail(text, `port must be 1-65535 or "*", got ${JSON.stringify(portText)}`, options);
      return { kind: "net", host, port };
    }
    case "events": {
      const direction = rest[0];
      if (direction !== "publish" && direction !== "subscribe") {
        fail(text, `events capabilities are events:publish:<name> or events:subscribe:<name>, got ${JSON.stringify(direction ?? "")}`, options);
      }
      const name = rest.slice(1).join(":");
      if (!EVENT_NAME.test(name)) fail(text, `events:${direction} needs an event name of 1-128 characters from A-Z a-z 0-9 . _ : / - (a trailing '*' matches a prefix), got ${JSON.stringify(name)}`, options);
      return { kind: "events", direction, name };
    }
    case "context": {
      const write = rest[0] === "write" && rest.length > 1;
      const key = write ? rest.slice(1).join(":") : arg;
      if (!CONTEXT_KEY.test(key) || key.length > 64) {
        fail(text, `context capabilities are context:<key> (read) or context:write:<key>, with a key like "acme.tenant" (a-z 0-9 . _ -, at most 64 characters; a trailing '*' matches a prefix), got ${JSON.stringify(key)}`, options);
      }
      return { kind: "context", access: write ? "write" : "read", key };
    }
    case "iface":
      if (arg.includes("@")) fail(text, `iface capabilities name the interface without a version, like "iface:acme:app/calc" (the version is checked by semver at load); drop ${JSON.stringify(arg.slice(arg.indexOf("@")))}`, options);
      if (!IFACE_ID.test(arg) || arg.length > 256) fail(text, `iface needs a WIT interface id like "iface:acme:forms/store" (namespace:package/interface; a trailing '*' matches a prefix), got ${JSON.stringify(arg)}`, options);
      return { kind: "iface", id: arg };
    case "http":
      if (arg !== "serve") fail(text, `the only http capability is "http:serve" (serve the manifest's api.endpoints), got ${JSON.stringify(text)}`, options);
      return { kind: "http", action: "serve" };
    default:
      if (kind !== undefined && EXTENSION.test(kind)) {
        return arg.length > 0 || rest.length > 0 ? { kind: "extension", name: kind, scope: arg } : { kind: "extension", name: kind };
      }
      fail(text, `unknown capability kind ${JSON.stringify(kind)}; expected one of ${CAPABILITY_FORMS.join(", ")}`, options);
  }
}

/** The canonical string form (fs dirs absolute, net hosts lowercase). Never throws. */
export function formatCapability(cap: Capability): string {
  switch (cap.kind) {
    case "fs":
      return `fs:${cap.access}:${cap.dir}`;
    case "env":
      return `env:${cap.name}`;
    case "net":
      return cap.host === "*" && cap.port === "*" ? "net:outbound:*" : `net:outbound:${cap.host}:${cap.port}`;
    case "events":
      return `events:${cap.direction}:${cap.name}`;
    case "extension":
      return cap.scope === undefined ? cap.name : `${cap.name}:${cap.scope}`;
    case "http":
      return "http:serve";
    case "context":
      return cap.access === "write" ? `context:write:${cap.key}` : `context:${cap.key}`;
    case "iface":
      return `iface:${cap.id}`;
    default:
      return cap.kind;
  }
}

/**
 * Parse and re-format: `fs:read:data` with baseDir `/p` becomes `fs:read:/p/data`.
 * @throws {@link CapabilityError} as `parseCapability` does.
 */
export function normalizeCapability(text: string, options: ParseOptions = {}): string {
  return formatCapability(parseCapability(text, options));
}

/** A name pattern with an optional trailing `*` prefix wildcard. */
function nameCovers(pattern: string, name: string): boolean {
  if (pattern.endsWith("*")) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

function dirCovers(grant: string, dir: string): boolean {
  const rel = path.relative(grant, dir);
  // Segment-wise: "/data" covers "/data/..x" but not "/database" or "/data/../etc".
  return rel === "" || (rel !== ".." && !rel.startsWith(".." + path.sep) && !path.isAbsolute(rel));
}

function hostCovers(pattern: string, host: string): boolean {
  if (pattern === "*") return true;
  if (pattern.startsWith("*.")) return host.endsWith(pattern.slice(1)) || host === pattern.slice(2);
  return pattern === host;
}

function netCovers(grant: { host: string; port: number | "*" }, need: { host: string; port: number | "*" }): boolean {
  const portOk = grant.port === "*" || grant.port === need.port;
  if (need.host === "*") return portOk && grant.host === "*";
  // A wildcard declaration (*.example.com) needs a grant at least as wide.
  const host = need.host.startsWith("*.") ? need.host.slice(2) : need.host;
  if (need.host.startsWith("*.") && !(grant.host === "*" || grant.host.startsWith("*."))) return false;
  return portOk && hostCovers(grant.host, host);
}

/** True when holding `grant` gives everything `need` asks for (`fs:write` covers `fs:read` of the same tree). Never throws. */
export function covers(grant: Capability, need: Capability): boolean {
  switch (need.kind) {
    case "fs":
      // fs:write implies fs:read on the same tree; fs:read never implies write.
      return grant.kind === "fs" && (grant.access === need.access || grant.access === "write") && dirCovers(grant.dir, need.dir);
    case "env":
      return grant.kind === "env" && nameCovers(grant.name, need.name);
    case "net":
      return grant.kind === "net" && netCovers(grant, need);
    case "events":
      return grant.kind === "events" && grant.direction === need.direction && eventNameCovers(grant.name, need.name);
    case "context":
      // context:write implies reading the same keys; a read never implies write.
      return grant.kind === "context" && (grant.access === need.access || grant.access === "write") && nameCovers(grant.key, need.key);
    case "extension":
      return grant.kind === "extension" && grant.name === need.name && nameCovers(grant.scope ?? "", need.scope ?? "");
    case "iface":
      return grant.kind === "iface" && nameCovers(grant.id, need.id);
    default:
      return grant.kind === need.kind;
  }
}

function parseAll(list: readonly string[], plugin: string): Capability[] {
  return list.map((c) => parseCapability(c, { plugin }));
}

/**
 * The effective capability set: each declared (and optional) capability that
 * some grant covers, in declaration order, in canonical form.
 * All strings must already be normalized (fs dirs absolute): manifests and
 * host configs loaded by plughost are.
 *
 * @throws {@link CapabilityDenied} when a declared (required) one is not granted;
 *   the message says how to grant it.
 * @throws {@link CapabilityError} when a string is not a valid capability.
 * @example
 *   effectiveCapabilities(["stdio"], ["clock"], ["stdio", "fs:read:/data"], "hello"); // ["stdio"]
 */
export function effectiveCapabilities(
  declared: readonly string[],
  optional: readonly string[],
  granted: readonly string[],
  plugin: string,
): string[] {
  const grants = parseAll(granted, plugin);
  const isGranted = (need: Capability): boolean => grants.some((g) => covers(g, need));
  const required = parseAll(declared, plugin);
  const missing = required.filter((c) => !isGranted(c)).map(formatCapability);
  if (missing.length > 0) {
    const list = missing.map((m) => JSON.stringify(m)).join(", ");
    const example = JSON.stringify({ grants: { [plugin]: missing } });
    throw new CapabilityDenied(
      missing[0] as string,
      `needs ${missing.length === 1 ? "capability" : "capabilities"} ${list}, which the host did not grant; ` +
        `grant ${missing.length === 1 ? "it" : "them"} in plughost.config.json (e.g. ${example}) or move ${missing.length === 1 ? "it" : "them"} to optional-capabilities in the manifest`,
      { plugin },
    );
  }
  const out = new Set<string>(); // insertion-ordered, and linear where an array's includes was quadratic
  for (const cap of [...required, ...parseAll(optional, plugin).filter(isGranted)]) out.add(formatCapability(cap));
  return [...out];
}

/** One directory a plugin may reach through WASI (`fsPreopens`). */
export interface FsPreopen {
  /** Absolute host directory. */
  dir: string;
  /** Always true: write implies read. */
  read: boolean;
  /** True when an `fs:write` capability covers it. */
  write: boolean;
}

/**
 * The directories an engine preopens, one entry per dir, merged across read and write, sorted.
 * @throws {@link CapabilityError} when an entry of `effective` is not a valid capability with an absolute dir.
 */
export function fsPreopens(effective: readonly string[]): FsPreopen[] {
  const byDir = new Map<string, FsPreopen>();
  for (const text of effective) {
    const cap = parseCapability(text);
    if (cap.kind !== "fs") continue;
    const entry = byDir.get(cap.dir) ?? { dir: cap.dir, read: false, write: false };
    entry.read = true; // write implies read
    if (cap.access === "write") entry.write = true;
    byDir.set(cap.dir, entry);
  }
  return [...byDir.values()].sort((a, b) => a.dir.localeCompare(b.dir));
}

/**
 * Environment variable names (or `*`-suffixed patterns) the plugin may read.
 * @throws {@link CapabilityError} when an entry of `effective` is not a valid capability.
 */
export function envNames(effective: readonly string[]): string[] {
  return effective.map((t) => parseCapability(t)).flatMap((c) => (c.kind === "env" ? [c.name] : []));
}

/** Whether the plugin may read the environment variable `name`. */
export function envAllowed(effective: readonly string[], name: string): boolean {
  return envNames(effective).some((p) => nameCovers(p, name));
}

/** Whether a plain capability (`clock`, `random`, `stdio`, `metrics`, `state`) is in the effective set. Never throws. */
export function has(effective: readonly string[], capability: "clock" | "random" | "stdio" | "metrics" | "state"): boolean {
  return effective.includes(capability);
}

/**
 * Whether the plugin may open an outbound connection to host:port.
 * @throws {@link CapabilityError} when an entry of `effective` is not a valid capability.
 */
export function netAllowed(effective: readonly string[], host: string, port: number): boolean {
  const need: Capability = { kind: "net", host: host.toLowerCase(), port };
  return effective.some((t) => covers(parseCapability(t), need));
}

/**
 * Whether the plugin may read (`context:<key>`, or `context:write:<key>`) or write (`context:write:<key>`) the
 * context key `key`; patterns end in `*` for a prefix. Compares strings (no parsing): the host calls ask on every
 * `context-get`. Never throws.
 */
export function contextAllowed(effective: readonly string[], access: "read" | "write", key: string): boolean {
  for (const c of effective) {
    if (!c.startsWith("context:")) continue;
    const write = c.startsWith("context:write:");
    if (access === "write" && !write) continue;
    if (nameCovers(c.slice(write ? 14 : 8), key)) return true;
  }
  return false;
}

/**
 * Whether the plugin may import the app interface `id` (`acme:app/calc`, or versioned: the version is ignored): an
 * `iface:<pattern>` in the effective set covers it. Compares strings (no parsing). Never throws.
 */
export function ifaceAllowed(effective: readonly string[], id: string): boolean {
  const at = id.indexOf("@");
  const bare = at < 0 ? id : id.slice(0, at);
  for (const c of effective) if (c.startsWith("iface:") && nameCovers(c.slice(6), bare)) return true;
  return false;
}

/**
 * The one events rule: under "open" every plugin may subscribe and publish;
 * under "strict" only where an `events:<direction>:<pattern>` capability in the
 * effective set covers the name (`eventNameCovers`). The host calls check it on
 * every emit, so it compares strings rather than parsing capabilities.
 */
export function eventAllowed(effective: readonly string[], direction: "publish" | "subscribe", event: string, policy: EventPolicy): boolean {
  if (policy === "open") return true;
  const prefix = `events:${direction}:`;
  return effective.some((c) => c.startsWith(prefix) && eventNameCovers(c.slice(prefix.length), event));
}

/**
 * Whether the plugin may emit/send `event`. Under the default "open" policy
 * every plugin may; under "strict" it needs a covering events:publish capability.
 * Never throws.
 */
export function canPublish(effective: readonly string[], event: string, policy: EventPolicy = "open"): boolean {
  return eventAllowed(effective, "publish", event, policy);
}

/** Whether the plugin may register a callback for `event` (same policy rule as `canPublish`). Never throws. */
export function canSubscribe(effective: readonly string[], event: string, policy: EventPolicy = "open"): boolean {
  return eventAllowed(effective, "subscribe", event, policy);
}
