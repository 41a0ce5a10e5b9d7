// The manifest's [[api.endpoints]], the http:serve capability and the host config's serve section: what is
// accepted, and how a mistake is reported (plugin, field, JSON pointer).
import { describe, expect, it } from "vitest";
import { HostConfigError, ManifestError, parseCapability, parseManifest, serveConfigOf, validateHostConfig, CapabilityError } from "../src/index.js";

const base = `name = "shop"\nversion = "1.0.0"\napi-version = "^0.1.0"\nentry = "plugin.wasm"\n`;
const parse = (toml: string) => parseManifest(base + toml, "/p/shop/plugin.toml", { checkEntry: false });
const problems = (toml: string): { pointer: string; message: string }[] => {
  try {
    parse(toml);
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as ManifestError).plugin).toBe("shop");
    return [...(err as ManifestError).problems];
  }
  throw new Error("expected the manifest to be refused");
};

describe("[[api.endpoints]]", () => {
  it("normalizes endpoints: method, path, handler, schemas, rate limit in ms, auth", () => {
    const m = parse(`capabilities = ["http:serve"]
[[api.endpoints]]
method = "POST"
path = "/orders/:id"
handler = "orders.update"
schema.body = { type = "object" }
rate-limit = { requests = 5, window = "10s" }
auth = { roles = ["shop"] }
[[api.endpoints]]
method = "GET"
path = "/files/*"
handler = "files.get"
rate-limit = { requests = 1, window = 250 }
`);
    expect(m.capabilities).toEqual(["http:serve"]);
    expect(m.api?.endpoints).toEqual([
      { method: "POST", path: "/orders/:id", handler: "orders.update", schema: { body: { type: "object" } }, rateLimit: { requests: 5, windowMs: 10_000 }, auth: { required: false, roles: ["shop"] } },
      { method: "GET", path: "/files/*", handler: "files.get", schema: {}, rateLimit: { requests: 1, windowMs: 250 }, auth: { required: false, roles: [] } },
    ]);
    expect(parse("").api).toBeUndefined();
  });

  it("reports each mistake at its JSON pointer", () => {
    const found = problems(`capabilities = ["http:serve"]
[[api.endpoints]]
method = "get"
path = "orders"
handler = "bad name!"
[[api.endpoints]]
method = "GET"
path = "/a/:x/:x"
handler = "h"
rate-limit = { requests = 0, window = "forever" }
auth = { required = "yes" }
schema.body = { type = "object", properties = { a = { pattern = "(a)\\\\1" } } }
extra = 1
[[api.endpoints]]
method = "GET"
path = "/a/:y/:z"
handler = "h"
`);
    const at = (p: string) => found.filter((x) => x.pointer === p).map((x) => x.message).join(" | ");
    expect(at("/api/endpoints/0/method")).toMatch(/GET, POST/);
    expect(at("/api/endpoints/0/path")).toMatch(/starting with \//);
    expect(at("/api/endpoints/0/handler")).toMatch(/event name/);
    expect(at("/api/endpoints/1/path")).toMatch(/":x" twice/);
    expect(at("/api/endpoints/1/rate-limit/requests")).toMatch(/at least 1/);
    expect(at("/api/endpoints/1/rate-limit/window")).toMatch(/duration like/);
    expect(at("/api/endpoints/1/auth/required")).toMatch(/true or false/);
    expect(at("/api/endpoints/1/extra")).toMatch(/unknown key/);
    expect(at("/api/endpoints/1/schema/body")).toMatch(/not supported/);
    expect(at("/api/endpoints/2/path")).toMatch(/same requests as \/api\/endpoints\/1/);
  });

  it("needs http:serve declared, and accepts it as optional", () => {
    const found = problems(`[[api.endpoints]]\nmethod = "GET"\npath = "/"\nhandler = "h"\n`);
    expect(found).toEqual([{ pointer: "/api/endpoints", message: expect.stringMatching(/needs the capability "http:serve"/) }]);
    expect(parse(`optional-capabilities = ["http:serve"]\n[[api.endpoints]]\nmethod = "GET"\npath = "/"\nhandler = "h"\n`).api?.endpoints).toHaveLength(1);
  });

  it("caps a manifest at 64 endpoints", () => {
    const many = Array.from({ length: 65 }, (_, i) => `[[api.endpoints]]\nmethod = "GET"\npath = "/e${i}"\nhandler = "h"\n`).join("");
    expect(problems(`capabilities = ["http:serve"]\n${many}`).map((p) => p.pointer)).toContain("/api/endpoints");
  });
});

describe("the http:serve capability", () => {
  it("parses as its own kind and nothing else of http", () => {
    expect(parseCapability("http:serve")).toEqual({ kind: "http", action: "serve" });
    expect(() => parseCapability("http:listen")).toThrow(CapabilityError);
    expect(() => parseCapability("http:serve:8080")).toThrow(/only http capability is "http:serve"/);
    expect(validateHostConfig({ grants: { shop: ["http:serve"] } }).grants).toEqual({ shop: ["http:serve"] });
  });
});

describe("the host config's serve section", () => {
  it("fills defaults and normalizes sizes", () => {
    expect(serveConfigOf(validateHostConfig({}))).toEqual({ host: "127.0.0.1", port: 8080, tokens: [], metricsAuth: false, admin: true, shutdownGraceMs: 10_000, bodyLimit: 1_048_576 });
    const c = validateHostConfig({ serve: { port: 0, bodyLimit: "4MiB", tokens: [{ env: "T", roles: ["admin"] }, { token: "0123456789abcdef", roles: ["read", "ops"] }] } });
    expect(c.serve).toMatchObject({ port: 0, bodyLimit: 4 * 1024 * 1024, tokens: [{ env: "T", roles: ["admin"] }, { token: "0123456789abcdef", roles: ["read", "ops"] }] });
  });

  it("names the field of each mistake", () => {
    let err: HostConfigError | undefined;
    try {
      validateHostConfig({ serve: { port: 70000, prot: 1, bodyLimit: "2GiB", tokens: [{ token: "short", roles: [] }, { roles: ["admin"] }, { token: "0123456789abcdef", env: "X", roles: ["Admin"] }] } }, "plughost.config.json");
    } catch (e) {
      err = e as HostConfigError;
    }
    expect(err).toBeInstanceOf(HostConfigError);
    const pointers = err!.problems.map((p) => p.pointer);
    for (const p of ["/serve/port", "/serve/prot", "/serve/bodyLimit", "/serve/tokens/0/token", "/serve/tokens/0/roles", "/serve/tokens/1", "/serve/tokens/2", "/serve/tokens/2/roles/0"]) expect(pointers, err!.message).toContain(p);
  });
});
