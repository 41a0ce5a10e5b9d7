// The host as a participant (docs/messaging.md): registry.subscribe with a callback and as an EventStream
// (bounded, dropped count, close, "*"), and the envelopes of what C plugins emit (source, parent, metadata), as the
// host and the receiving plugin see them. Fixture: test/fixtures/c/request-responder.
import { afterEach, describe, expect, it } from "vitest";
import { InvalidCallbackName, PluginRegistry, type Message, type PluginHandle } from "../src/index.js";
import { MESSAGE_KIND_CODE } from "../src/contract/abi.js";
import { copyPlugin, dec, enc, silentLogger } from "./helpers/plugins.js";

const RESPONDER = "test/fixtures/c/request-responder";

let registry: PluginRegistry | undefined;
afterEach(async () => {
  await registry?.close();
  registry = undefined;
});

function make(options: NonNullable<ConstructorParameters<typeof PluginRegistry>[0]> = {}): PluginRegistry {
  registry = new PluginRegistry({ logger: silentLogger(), cacheDir: false, ...options });
  return registry;
}

function load(r: PluginRegistry, name: string): Promise<PluginHandle> {
  return r.load(copyPlugin(RESPONDER, (t) => t.replace(/^name = ".*"$/m, `name = "${name}"`)));
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function fields(text: string): Record<string, string> {
  return Object.fromEntries(text.split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
}

async function hookText(p: PluginHandle, event: string, data = "", metadata?: Record<string, string>): Promise<string> {
  const out = await p.hook(event, enc(data), metadata ? { metadata } : undefined);
  if (!out.ok) throw new Error(`${p.name} ${event}: status ${out.status}`);
  return dec(out.data);
}

describe("registry.subscribe", () => {
  it("tells a callback what plugins emit, with the emit's envelope, after the emitting call returns", async () => {
    const r = make();
    const a = await load(r, "a");
    const seen: Message[] = [];
    const unsubscribe = r.subscribe("noted", (m) => void seen.push(m));
    const own = fields(await hookText(a, "whoami", "", { tenant: "t1" }));
    expect(await hookText(a, "note", "first", { tenant: "t1" })).toBe("noted");
    expect(seen).toHaveLength(0); // not inside the plugin's call
    await tick();
    expect(seen).toHaveLength(1);
    const m = seen[0]!;
    expect(m).toMatchObject({ source: "a", event: "noted", kind: "event", metadata: { tenant: "t1" } });
    expect(m.target).toBeUndefined();
    expect(dec(m.data)).toBe("first");
    expect(m.parentId).toBeGreaterThan(Number(own.id)); // the note hook's own message, made after whoami's
    expect(m.id).toBeGreaterThan(m.parentId!);
    // The host's own dispatch is not an emit; other events are not this subscription's.
    await r.dispatch("noted", enc("from the host"));
    await tick();
    expect(seen).toHaveLength(1);
    unsubscribe();
    await hookText(a, "note", "second");
    await tick();
    expect(seen).toHaveLength(1);
  });

  it("gives the receiving plugin the same envelope through current-message", async () => {
    const r = make();
    const a = await load(r, "a");
    const b = await load(r, "b");
    const seen: Message[] = [];
    r.subscribe("*", (m) => void seen.push(m));
    await hookText(a, "note", "x", { k: "v" });
    for (let i = 0; i < 20 && (await hookText(b, "last-noted")) === "none"; i++) await tick();
    const got = fields(await hookText(b, "last-noted"));
    await tick();
    expect(seen.map((m) => m.event)).toEqual(["noted"]);
    expect(got).toMatchObject({ id: String(seen[0]!.id), parent: String(seen[0]!.parentId), source: "a", target: "-", event: "noted", kind: String(MESSAGE_KIND_CODE.event), meta: "k=v" });
  });

  it("streams with for await, drops past the buffer, and ends on close or break", async () => {
    const r = make();
    const a = await load(r, "a");
    const stream = r.subscribe("noted", { bufferSize: 2 });
    for (const word of ["one", "two", "three"]) await hookText(a, "note", word);
    await tick();
    expect(stream.dropped).toBe(1);
    const got: string[] = [];
    for await (const m of stream) {
      got.push(dec(m.data));
      if (got.length === 2) break; // ends the subscription
    }
    expect(got).toEqual(["one", "two"]);
    expect(stream.closed).toBe(true);

    const live = r.subscribe("*");
    const reading = (async () => {
      const out: string[] = [];
      for await (const m of live) out.push(`${m.event}:${dec(m.data)}`);
      return out;
    })();
    await hookText(a, "note", "four");
    await tick();
    await tick();
    live.close();
    expect(await reading).toEqual(["noted:four"]);

    // close() ends every stream still open: a reader waiting on one finishes.
    const open = r.subscribe("noted");
    const waiting = (async () => {
      let n = 0;
      for await (const _ of open) n++;
      return n;
    })();
    await r.close();
    expect(await waiting).toBe(0);
    expect(open.closed).toBe(true);
  });

  it("refuses an invalid event name and survives a failing subscriber", async () => {
    const r = make();
    const a = await load(r, "a");
    expect(() => r.subscribe("Not Valid", () => undefined)).toThrow(InvalidCallbackName);
    const seen: string[] = [];
    r.subscribe("noted", () => {
      throw new Error("subscriber bug");
    });
    r.subscribe("noted", async () => Promise.reject(new Error("async subscriber bug")));
    r.subscribe("noted", (m) => void seen.push(dec(m.data)));
    await hookText(a, "note", "still");
    await tick();
    expect(seen).toEqual(["still"]);
    expect(await hookText(a, "echo", "alive")).toBe("alive");
  });
});
