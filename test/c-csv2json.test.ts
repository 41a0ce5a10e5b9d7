// examples/c/csv2json: the C SDK's realistic example, a hook that turns CSV
// into JSON, loaded through PluginRegistry on both Wasm engines.
// Built by `node scripts/setup.mjs` (scripts/setup/30-guests-c.mjs).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { PluginRegistry, type PluginHandle } from "../src/index.js";
import { dec, enc, pluginDir } from "./helpers/plugins.js";

const dir = () => pluginDir("examples/c/csv2json");

describe.each(["v8", "wasmtime"] as const)("csv2json-c on %s", (engine) => {
  const warnings: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void warnings.push((JSON.parse(line) as { msg: string }).msg) });
  let registry: PluginRegistry;
  let p: PluginHandle;
  beforeAll(async () => {
    registry = new PluginRegistry({ engine, cacheDir: false, logger });
    p = await registry.load(dir());
  }, 60_000);
  afterAll(() => registry?.unloadAll());

  /** The hook's JSON, parsed; throws on an err status. */
  const convert = async (csv: string | Uint8Array): Promise<unknown> => {
    const r = await p.hook("csv2json", typeof csv === "string" ? enc(csv) : csv);
    if (!r.ok) throw new Error(`csv2json: err ${r.status}`);
    return JSON.parse(dec(r.data));
  };

  it("declares no capabilities and registers csv2json as a hook", () => {
    expect(p.manifest.capabilities).toEqual([]);
    expect(p.callbacks).toEqual(["csv2json"]);
  });

  it("turns a header and records into objects", async () => {
    expect(await convert("name,age\nAnn,30\nBob,41\n")).toEqual([
      { name: "Ann", age: "30" },
      { name: "Bob", age: "41" },
    ]);
    // No final line end; empty fields are kept.
    expect(await convert("a,b,c\n1,,3\n,,")).toEqual([
      { a: "1", b: "", c: "3" },
      { a: "", b: "", c: "" },
    ]);
  });

  it("handles quoted fields, escaped quotes, CRLF and line breaks inside quotes", async () => {
    const csv = 'id,text\r\n1,"Smith, John"\r\n2,"she said ""hi"""\r\n3,"two\r\nlines"\r\n4,""\r\n';
    expect(await convert(csv)).toEqual([
      { id: "1", text: "Smith, John" },
      { id: "2", text: 'she said "hi"' },
      { id: "3", text: "two\r\nlines" },
      { id: "4", text: "" },
    ]);
  });

  it("escapes JSON specials and keeps UTF-8", async () => {
    const csv = 'k,v\nback\\slash,"tab\there"\nctl\u0001,héllo 日本 🎉\n';
    expect(await convert(csv)).toEqual([
      { k: "back\\slash", v: "tab\there" },
      { k: "ctl\u0001", v: "héllo 日本 🎉" },
    ]);
    // A UTF-8 byte-order mark is not part of the first field name.
    expect(await convert("\ufeffx\n1\n")).toEqual([{ x: "1" }]);
  });

  it("skips blank lines and gives [] for empty input or a header alone", async () => {
    expect(await convert("a\n\n1\r\n\r\n2\n")).toEqual([{ a: "1" }, { a: "2" }]);
    expect(await convert("")).toEqual([]);
    expect(await convert("a,b\n")).toEqual([]);
  });

  it("reports malformed input as an err status and a warning naming the record", async () => {
    warnings.length = 0;
    expect(await p.hook("csv2json", enc('a\n"open'))).toEqual({ ok: false, status: 1 });
    expect(await p.hook("csv2json", enc("a,b\n1,2\n3\n"))).toEqual({ ok: false, status: 2 });
    expect(await p.hook("csv2json", enc('a\n"x"y\n'))).toEqual({ ok: false, status: 3 });
    expect(await p.hook("csv2json", new Uint8Array([0x61, 0x0a, 0xc3]))).toEqual({ ok: false, status: 4 });
    expect(await p.hook("csv2json", new Uint8Array([0x61, 0x0a, 0xed, 0xa0, 0x80]))).toEqual({ ok: false, status: 4 }); // a surrogate
    await new Promise((r) => setImmediate(r));
    expect(warnings).toEqual([
      "csv2json: record 2: unterminated quoted field",
      "csv2json: record 3: wrong number of fields",
      "csv2json: record 2: text after a closing quote",
      "csv2json: input is not valid UTF-8",
      "csv2json: input is not valid UTF-8",
    ]);
  });

  it("as an event, answers the number of records or minus the error", async () => {
    expect(await p.invoke("csv2json", enc("a\n1\n2\n3\n"))).toBe(3);
    expect(await p.invoke("csv2json", enc('a\n"open'))).toBe(-1);
    const results = await registry.dispatch("csv2json", enc("h\nx\n"));
    expect(results).toEqual([{ plugin: "csv2json-c", status: 1 }]);
  });

  it("converts 1 MiB of CSV the same as a JS reference", async () => {
    const rows: string[][] = [];
    let csv = "n,name,note\r\n";
    for (let i = 0; csv.length < 1 << 20; i++) {
      const row = [String(i), `name ${i}`, i % 3 ? `plain ${i}` : `quoted, "${i}"`];
      rows.push(row);
      csv += `${row[0]},${row[1]},${i % 3 ? row[2] : `"${row[2]!.replace(/"/g, '""')}"`}\r\n`;
    }
    const out = (await convert(csv)) as Record<string, string>[];
    expect(out.length).toBe(rows.length);
    expect(out).toEqual(rows.map(([n, name, note]) => ({ n, name, note })));
  }, 60_000);

  it("with config header = false, gives arrays", async () => {
    const r = new PluginRegistry({ engine, cacheDir: false, logger, config: { "csv2json-c": { header: false } } });
    const q = await r.load(dir());
    const out = await q.hook("csv2json", enc('a,b\r\n1,"x,y"\r\n'));
    expect(out.ok && JSON.parse(dec(out.data))).toEqual([
      ["a", "b"],
      ["1", "x,y"],
    ]);
    // Records of different lengths are fine without a header.
    const ragged = await q.hook("csv2json", enc("a\n1,2\n"));
    expect(ragged.ok && JSON.parse(dec(ragged.data))).toEqual([["a"], ["1", "2"]]);
    await r.unloadAll();
  });
});
