/**
 * The bytes a plugin endpoint's hook receives and returns (docs/serve.md, "The envelope").
 *
 * Request and response share one layout, easy to read from any guest language:
 *
 *   u32 little-endian N | N bytes of UTF-8 JSON (the head) | the body, raw, to the end
 *
 * The request head is `{ method, path, route, params, query, headers, remote }`:
 * header names lower case, `authorization`, `cookie` and `proxy-authorization`
 * left out. The response head is `{ status?, headers? }` (default 200, no
 * headers); N = 0 means that default. A hook that writes no output passes the
 * request through unchanged, which reads as a 200 whose body echoes the request's.
 */
import { BadPluginResponse } from "../contract/errors.js";

/** Request headers a plugin never sees: credentials stay with the host. */
export const SECRET_HEADERS: ReadonlySet<string> = new Set(["authorization", "cookie", "proxy-authorization"]);
/** Response headers a plugin may not set: the server frames the answer itself. */
const FRAMING_HEADERS: ReadonlySet<string> = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer", "te", "proxy-connection"]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;

/** What the request envelope's head holds. */
export interface RequestHead {
  /** The HTTP method. */
  method: string;
  /** The request's full path, as received (`/plugins/echo/items/7`), without the query string. */
  path: string;
  /** The endpoint's declared path (`/items/:id`). */
  route: string;
  /** The path's `:params`, decoded. */
  params: Record<string, string>;
  /** The query string as an object (a repeated key gives a list). */
  query: Record<string, string | string[]>;
  /** Request headers, lower case, without `SECRET_HEADERS`. */
  headers: Record<string, string | string[]>;
  /** The client's address. */
  remote: string;
}

/** A plugin's answer, decoded. */
export interface ResponseEnvelope {
  /** HTTP status, 100-599. */
  status: number;
  /** Headers to send (framing headers dropped). */
  headers: Record<string, string>;
  /** The body. */
  body: Uint8Array;
}

/** Request headers without the secrets (`SECRET_HEADERS`). Never throws. */
export function visibleHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v !== undefined && !SECRET_HEADERS.has(name)) out[name] = v;
  }
  return out;
}

/** The request envelope: head length, head JSON, body. Never throws. */
export function encodeRequest(head: RequestHead, body: Uint8Array): Uint8Array {
  return envelopeOf(JSON.stringify(head), body);
}

/** The envelope of a head already in JSON (what `encodeRequest` writes). Never throws. */
export function envelopeOf(json: string, body: Uint8Array): Uint8Array {
  // The head's JSON is written straight into the envelope (no intermediate buffer of it).
  const n = Buffer.byteLength(json, "utf8");
  const out = Buffer.allocUnsafe(4 + n + body.length);
  out.writeUInt32LE(n, 0);
  out.write(json, 4, n, "utf8");
  out.set(body, 4 + n);
  return out;
}

/**
 * Decode a plugin's answer.
 * @throws {@link BadPluginResponse} when the length is past the end, the head is not a JSON object, the status is
 *   not 100-599, or a header is not a name → string.
 */
export function decodeResponse(plugin: string, bytes: Uint8Array): ResponseEnvelope {
  if (bytes.length < 4) throw new BadPluginResponse(plugin, `${bytes.length} bytes, fewer than the 4 of the head's length`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headLength = buf.readUInt32LE(0);
  if (headLength > bytes.length - 4) throw new BadPluginResponse(plugin, `a head length of ${headLength} bytes past the end of its ${bytes.length}`);
  // A Buffer view, so the server sends it as it is.
  const body = buf.subarray(4 + headLength);
  if (headLength === 0) return { status: 200, headers: {}, body };
  let head: unknown;
  try {
    head = JSON.parse(buf.toString("utf8", 4, 4 + headLength));
  } catch {
    throw new BadPluginResponse(plugin, "a head that is not JSON");
  }
  if (typeof head !== "object" || head === null || Array.isArray(head)) throw new BadPluginResponse(plugin, "a head that is not a JSON object");
  const { status = 200, headers = {} } = head as { status?: unknown; headers?: unknown };
  if (typeof status !== "number" || !Number.isInteger(status) || status < 100 || status > 599) throw new BadPluginResponse(plugin, `status ${JSON.stringify(status)} (not 100-599)`);
  if (typeof headers !== "object" || headers === null || Array.isArray(headers)) throw new BadPluginResponse(plugin, "headers that are not an object");
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (!HEADER_NAME.test(name) || typeof value !== "string" || /[\r\n\0]/.test(value)) throw new BadPluginResponse(plugin, `header ${JSON.stringify(name)} (a name of token characters → a string without CR, LF or NUL)`);
    const lower = name.toLowerCase();
    if (!FRAMING_HEADERS.has(lower)) out[lower] = value;
  }
  return { status, headers: out, body };
}
