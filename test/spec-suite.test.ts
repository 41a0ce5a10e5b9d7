// Semantics check for the instrumenter: run the official WebAssembly spec test
// suite (converted by scripts/setup/20-spec-suite.mjs) once on plain modules
// and once on instrumented ones (fuel + memory cap + table cap), and require
// every assertion that holds plain to hold instrumented.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createLimits, instrumentModule, type Limits } from "../src/instrument/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cacheDir = path.join(root, ".cache", "spec-suite");

interface Value { type: string; value?: string | string[]; lane_type?: string }
interface Action { type: "invoke" | "get"; module?: string; field: string; args?: Value[] }
interface Command {
  type: string; line: number; filename?: string; name?: string; as?: string; module_type?: string;
  action?: Action; expected?: Value[]; either?: Value[]; definition?: string; instance?: string;
}

type Mode = "plain" | "instrumented";
type Exports = Record<string, unknown>;

const MEMORY_CAP = 65536 * 65536; // 4 GiB: every valid 32-bit memory fits
const TABLE_CAP = 10_000_000;
const FUEL = 1e12;

function spectest(): Exports {
  const noop = (): void => {};
  return {
    print: noop, print_i32: noop, print_i64: noop, print_f32: noop, print_f64: noop, print_i32_f32: noop, print_f64_f64: noop,
    global_i32: new WebAssembly.Global({ value: "i32" }, 666),
    global_i64: new WebAssembly.Global({ value: "i64" }, 666n),
    global_f32: new WebAssembly.Global({ value: "f32" }, 666.6),
    global_f64: new WebAssembly.Global({ value: "f64" }, 666.6),
    table: new WebAssembly.Table({ element: "anyfunc", initial: 10, maximum: 20 }),
    memory: new WebAssembly.Memory({ initial: 1, maximum: 2 }),
  };
}

const externs = new Map<string, object>();
function externRef(v: string): object {
  let o = externs.get(v);
  if (!o) { o = { extern: v }; externs.set(v, o); }
  return o;
}

// ── call adapter: JS cannot pass v128, and it may change NaN payloads, so
// calls with v128/f32/f64 go through a tiny wrapper module that takes raw bits
// and stores the results into its own memory.
const VT: Record<string, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b, funcref: 0x70, externref: 0x6f };
function leb(v: number): number[] { const o: number[] = []; do { let b = v & 0x7f; v >>>= 7; if (v) b |= 0x80; o.push(b); } while (v); return o; }
function name(s: string): number[] { const b = [...Buffer.from(s)]; return [...leb(b.length), ...b]; }
function sec(id: number, body: number[]): number[] { return [id, ...leb(body.length), ...body]; }

const wrapperCache = new Map<string, WebAssembly.Module>();
function wrapperModule(params: string[], results: string[]): WebAssembly.Module {
  const key = `${params.join(",")}>${results.join(",")}`;
  let m = wrapperCache.get(key);
  if (m) return m;
  const wparams: number[] = [];
  for (const p of params) {
    if (p === "v128") wparams.push(0x7e, 0x7e);
    else if (p === "f32") wparams.push(0x7f);
    else if (p === "f64") wparams.push(0x7e);
    else wparams.push(VT[p]!);
  }
  const t0 = [0x60, ...leb(params.length), ...params.map((p) => VT[p]!), ...leb(results.length), ...results.map((r) => VT[r]!)];
  const t1 = [0x60, ...leb(wparams.length), ...wparams, 0x00];
  const code: number[] = [];
  let j = 0;
  for (const p of params) {
    if (p === "v128") { code.push(0x20, ...leb(j), 0xfd, 18, 0x20, ...leb(j + 1), 0xfd, 30, 1); j += 2; }
    else if (p === "f32") { code.push(0x20, ...leb(j), 0xbe); j++; }
    else if (p === "f64") { code.push(0x20, ...leb(j), 0xbf); j++; }
    else { code.push(0x20, ...leb(j)); j++; }
  }
  code.push(0x10, 0x00);
  const firstResultLocal = wparams.length;
  for (let k = results.length - 1; k >= 0; k--) code.push(0x21, ...leb(firstResultLocal + k));
  results.forEach((r, k) => {
    code.push(0x41, ...leb(16 * k), 0x20, ...leb(firstResultLocal + k));
    if (r === "i32") code.push(0x36, 2, 0);
    else if (r === "i64") code.push(0x37, 3, 0);
    else if (r === "f32") code.push(0x38, 2, 0);
    else if (r === "f64") code.push(0x39, 3, 0);
    else if (r === "v128") code.push(0xfd, 11, 4, 0);
    else throw new Error(`wrapper cannot return ${r}`);
  });
  code.push(0x0b);
  const locals = [...leb(results.length), ...results.flatMap((r) => [1, VT[r]!])];
  const body = [...locals, ...code];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...sec(1, [2, ...t0, ...t1]),
    ...sec(2, [1, ...name("t"), ...name("f"), 0, 0]),
    ...sec(3, [1, 1]),
    ...sec(5, [1, 0, 1]),
    ...sec(7, [2, ...name("w"), 0, 1, ...name("m"), 2, 0]),
    ...sec(10, [1, ...leb(body.length), ...body]),
  ];
  m = new WebAssembly.Module(new Uint8Array(bytes));
  wrapperCache.set(key, m);
  return m;
}

function v128Bytes(v: Value): Uint8Array {
  const out = new Uint8Array(16);
  const dv = new DataView(out.buffer);
  const lanes = v.value as string[];
  const lt = v.lane_type!;
  lanes.forEach((s, i) => {
    const n = BigInt(s);
    if (lt === "i8") dv.setUint8(i, Number(BigInt.asUintN(8, n)));
    else if (lt === "i16") dv.setUint16(i * 2, Number(BigInt.asUintN(16, n)), true);
    else if (lt === "i32" || lt === "f32") dv.setUint32(i * 4, Number(BigInt.asUintN(32, n)), true);
    else dv.setBigUint64(i * 8, BigInt.asUintN(64, n), true);
  });
  return out;
}

function isNanPattern(bits: bigint, width: 32 | 64, pattern: string): boolean {
  const exp = width === 32 ? 0x7f800000n : 0x7ff0000000000000n;
  const quiet = width === 32 ? 0x00400000n : 0x0008000000000000n;
  const frac = width === 32 ? 0x007fffffn : 0x000fffffffffffffn;
  if ((bits & exp) !== exp) return false;
  if (pattern === "nan:canonical") return (bits & frac) === quiet;
  return (bits & quiet) === quiet; // nan:arithmetic
}

function matchBits(bits: bigint, width: 32 | 64, expected: string): boolean {
  if (expected.startsWith("nan:")) return isNanPattern(bits, width, expected);
  return bits === BigInt.asUintN(width, BigInt(expected));
}

function matchV128(bytes: Uint8Array, v: Value): boolean {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 16);
  const lt = v.lane_type!;
  return (v.value as string[]).every((s, i) => {
    if (lt === "i8") return dv.getUint8(i) === Number(BigInt.asUintN(8, BigInt(s)));
    if (lt === "i16") return dv.getUint16(i * 2, true) === Number(BigInt.asUintN(16, BigInt(s)));
    if (lt === "i32") return dv.getUint32(i * 4, true) === Number(BigInt.asUintN(32, BigInt(s)));
    if (lt === "f32") return matchBits(BigInt(dv.getUint32(i * 4, true)), 32, s);
    if (lt === "i64") return dv.getBigUint64(i * 8, true) === BigInt.asUintN(64, BigInt(s));
    return matchBits(dv.getBigUint64(i * 8, true), 64, s);
  });
}

/** A result as the harness sees it: raw bytes (wrapper path) or a JS value. */
type Got = { kind: "bytes"; bytes: Uint8Array } | { kind: "js"; value: unknown };

function matchValue(got: Got, exp: Value): boolean {
  const t = exp.type;
  if (got.kind === "bytes") {
    const dv = new DataView(got.bytes.buffer, got.bytes.byteOffset, 16);
    if (t === "i32") return dv.getUint32(0, true) === Number(BigInt.asUintN(32, BigInt(exp.value as string)));
    if (t === "i64") return dv.getBigUint64(0, true) === BigInt.asUintN(64, BigInt(exp.value as string));
    if (t === "f32") return matchBits(BigInt(dv.getUint32(0, true)), 32, exp.value as string);
    if (t === "f64") return matchBits(dv.getBigUint64(0, true), 64, exp.value as string);
    if (t === "v128") return matchV128(got.bytes, exp);
    return false;
  }
  const v = got.value;
  if (t === "i32") return typeof v === "number" && (v >>> 0) === Number(BigInt.asUintN(32, BigInt(exp.value as string)));
  if (t === "i64") return typeof v === "bigint" && BigInt.asUintN(64, v) === BigInt.asUintN(64, BigInt(exp.value as string));
  if (t === "f32" || t === "f64") {
    if (typeof v !== "number") return false;
    const bits = t === "f32" ? BigInt(new Uint32Array(new Float32Array([v]).buffer)[0]!) : new BigUint64Array(new Float64Array([v]).buffer)[0]!;
    const s = exp.value as string;
    if (s.startsWith("nan:")) return Number.isNaN(v);
    return bits === BigInt.asUintN(t === "f32" ? 32 : 64, BigInt(s));
  }
  if (t === "externref") {
    if (exp.value === "null") return v === null;
    if (exp.value === undefined) return v !== null;
    return v === externRef(exp.value as string);
  }
  if (t === "funcref" || t === "anyref" || t === "nullref" || t === "nullfuncref" || t === "nullexternref") {
    if (exp.value === "null") return v === null;
    return v !== null && v !== undefined;
  }
  return false;
}

class Runner {
  readonly mode: Mode;
  readonly dir: string;
  registry = new Map<string, Exports>();
  named = new Map<string, Exports>();
  definitions = new Map<string, Uint8Array>();
  current: Exports | undefined;
  host = spectest();
  limits: Limits[] = [];

  constructor(mode: Mode, dir: string) {
    this.mode = mode;
    this.dir = dir;
  }

  compile(file: string): WebAssembly.Module {
    const bytes = new Uint8Array(readFileSync(path.join(this.dir, file)));
    return this.compileBytes(bytes);
  }

  compileBytes(bytes: Uint8Array): WebAssembly.Module {
    if (this.mode === "plain") return new WebAssembly.Module(bytes);
    const r = instrumentModule(bytes, { fuel: true, memoryBytes: MEMORY_CAP, tableElements: TABLE_CAP, memoryCache: false });
    return new WebAssembly.Module(r.bytes);
  }

  instantiate(mod: WebAssembly.Module): Exports {
    const imports: Record<string, Exports> = { spectest: this.host };
    for (const [k, v] of this.registry) imports[k] = v;
    if (this.mode === "instrumented") {
      const limits = createLimits({ fuel: FUEL, memoryBytes: MEMORY_CAP, tableElements: TABLE_CAP });
      limits.beginCall();
      this.limits.push(limits);
      Object.assign(imports, limits.imports);
    }
    return new WebAssembly.Instance(mod, imports as WebAssembly.Imports).exports as Exports;
  }

  arg(v: Value): unknown {
    const s = v.value as string;
    switch (v.type) {
      case "i32": return Number(BigInt.asIntN(32, BigInt(s)));
      case "i64": return BigInt.asIntN(64, BigInt(s));
      case "f32": return new Float32Array(new Uint32Array([Number(BigInt.asUintN(32, BigInt(s)))]).buffer)[0];
      case "f64": return new Float64Array(new BigUint64Array([BigInt.asUintN(64, BigInt(s))]).buffer)[0];
      case "externref": return s === "null" ? null : externRef(s);
      default: return null; // funcref null and friends
    }
  }

  /** Run an action; returns one Got per result. */
  act(a: Action, resultTypes: string[]): Got[] {
    const exports = a.module ? this.named.get(a.module) : this.current;
    if (!exports) throw new Error(`no module ${a.module ?? "(current)"}`);
    const target = exports[a.field];
    if (a.type === "get") return [{ kind: "js", value: (target as WebAssembly.Global).value }];
    const args = a.args ?? [];
    const types = args.map((v) => v.type);
    const needsWrapper = [...types, ...resultTypes].some((t) => t === "v128" || t === "f32" || t === "f64");
    if (!needsWrapper) {
      const r = (target as (...xs: unknown[]) => unknown)(...args.map((v) => this.arg(v)));
      if (resultTypes.length <= 1) return [{ kind: "js", value: r }];
      return (r as unknown[]).map((value) => ({ kind: "js", value }));
    }
    const w = new WebAssembly.Instance(wrapperModule(types, resultTypes), { t: { f: target as () => void } }).exports as Exports;
    const wargs: unknown[] = [];
    for (const v of args) {
      if (v.type === "v128") {
        const dv = new DataView(v128Bytes(v).buffer);
        wargs.push(dv.getBigInt64(0, true), dv.getBigInt64(8, true));
      } else if (v.type === "f32") wargs.push(Number(BigInt.asIntN(32, BigInt(v.value as string))));
      else if (v.type === "f64") wargs.push(BigInt.asIntN(64, BigInt(v.value as string)));
      else wargs.push(this.arg(v));
    }
    (w.w as (...xs: unknown[]) => void)(...wargs);
    const mem = new Uint8Array((w.m as WebAssembly.Memory).buffer);
    return resultTypes.map((_, k) => ({ kind: "bytes", bytes: mem.slice(16 * k, 16 * k + 16) }));
  }

  /** Run one command; true when its assertion holds. Undefined: not an assertion we check. */
  run(c: Command): boolean | undefined {
    switch (c.type) {
      case "module": {
        if (c.definition !== undefined) {
          this.definitions.set(c.name ?? "", new Uint8Array(readFileSync(path.join(this.dir, c.filename!))));
          return undefined;
        }
        this.current = undefined;
        try {
          this.current = this.instantiate(this.compile(c.filename!));
        } catch {
          return false;
        }
        if (c.name) this.named.set(c.name, this.current);
        return true;
      }
      case "instance": {
        const bytes = this.definitions.get(c.definition ?? "");
        if (!bytes) return false;
        try {
          const e = this.instantiate(this.compileBytes(bytes));
          if (c.instance) this.named.set(c.instance, e);
          this.current = e;
          return true;
        } catch {
          return false;
        }
      }
      case "register": {
        const e = c.name ? this.named.get(c.name) : this.current;
        if (e) this.registry.set(c.as!, e);
        return undefined;
      }
      case "action":
        try { this.act(c.action!, (c.expected ?? []).map((v) => v.type)); return true; } catch { return false; }
      case "assert_return": {
        const expected = c.expected ?? (c.either ? [c.either[0]!] : []);
        try {
          const got = this.act(c.action!, expected.map((v) => v.type));
          if (c.either) return c.either.some((alt) => matchValue(got[0]!, alt));
          return got.length === expected.length && expected.every((e, i) => matchValue(got[i]!, e));
        } catch {
          return false;
        }
      }
      case "assert_trap":
      case "assert_exhaustion":
      case "assert_exception": {
        const want = c.type === "assert_trap" ? WebAssembly.RuntimeError : c.type === "assert_exhaustion" ? RangeError : WebAssembly.Exception;
        if (!c.action) {
          // assert_trap on a module: instantiation must trap.
          try { this.instantiate(this.compile(c.filename!)); return false; } catch (e) { return e instanceof WebAssembly.RuntimeError; }
        }
        try {
          this.act(c.action, (c.expected ?? []).map((v) => v.type));
          return false;
        } catch (e) {
          return e instanceof want;
        }
      }
      case "assert_invalid":
      case "assert_malformed": {
        if (c.module_type !== "binary") return undefined;
        try { this.compile(c.filename!); return false; } catch { return true; }
      }
      case "assert_unlinkable": {
        let mod: WebAssembly.Module;
        try { mod = this.compile(c.filename!); } catch { return false; }
        try { this.instantiate(mod); return false; } catch (e) { return e instanceof WebAssembly.LinkError; }
      }
      case "assert_uninstantiable": {
        let mod: WebAssembly.Module;
        try { mod = this.compile(c.filename!); } catch { return false; }
        try { this.instantiate(mod); return false; } catch (e) { return e instanceof WebAssembly.RuntimeError; }
      }
      default:
        return undefined;
    }
  }
}

let fuelMetered = 0;
function runFile(base: string, mode: Mode): (boolean | undefined)[] {
  const dir = path.join(cacheDir, base);
  const { commands } = JSON.parse(readFileSync(path.join(dir, `${base}.json`), "utf8")) as { commands: Command[] };
  const r = new Runner(mode, dir);
  const results = commands.map((c) => r.run(c));
  for (const l of r.limits) fuelMetered += FUEL - l.fuelRemaining();
  return results;
}

describe("spec suite: instrumented modules keep the semantics of plain ones", () => {
  it("every assertion that holds on plain V8 holds after instrumentation", () => {
    const indexFile = path.join(cacheDir, "index.json");
    expect(existsSync(indexFile), `${indexFile} missing: run node scripts/setup.mjs`).toBe(true);
    const index = JSON.parse(readFileSync(indexFile, "utf8")) as { tool: string; converted: string[]; failed: { file: string }[] };
    let checked = 0, plainPass = 0, instPass = 0, modules = 0;
    const regressions: string[] = [];
    for (const base of index.converted) {
      const plain = runFile(base, "plain");
      const inst = runFile(base, "instrumented");
      const cmds = (JSON.parse(readFileSync(path.join(cacheDir, base, `${base}.json`), "utf8")) as { commands: Command[] }).commands;
      cmds.forEach((c, i) => {
        if (plain[i] === undefined) return;
        if (c.type === "module") modules++;
        checked++;
        if (plain[i]) plainPass++;
        if (inst[i]) instPass++;
        if (plain[i] && !inst[i]) regressions.push(`${base}.wast:${c.line} ${c.type}${c.action ? ` ${c.action.field}` : ""}`);
      });
    }
    console.log(
      `spec suite (wast2json ${index.tool}): files ${index.converted.length} converted, ${index.failed.length} not convertible; ` +
        `modules ${modules}; assertions checked ${checked}; passed plain ${plainPass}; passed instrumented ${instPass}; regressions ${regressions.length}; ` +
        `fuel metered ${fuelMetered}`,
    );
    expect(regressions.slice(0, 50)).toEqual([]);
    // Guard against a harness that silently checks nothing.
    expect(plainPass).toBeGreaterThan(40_000);
    // ...and that the instrumented runs really were metered.
    expect(fuelMetered).toBeGreaterThan(100_000);
  }, 300_000);
});
