/**
 * Generated canonical-ABI glue for a Go plugin against an application's WIT world (docs/guest-go.md).
 *
 * `generateGoGlue` writes one Go file (package main, `//go:build wasip1`) on the SDK's `plughost.dev/sdk/cabi`:
 * - a Go type per named WIT type (records as structs, variants as a struct with `Tag` and one field per payload case,
 *   enums and flags as unsigned integers with constants) and the generic `Result` / `TupleN` it needs;
 * - per imported interface a value (`Kinds`) whose methods lower Go values, call the `//go:wasmimport` function and
 *   lift what the host returned;
 * - per exported interface a Go interface (`MirrorExports`) and a variable (`Mirror`) the plugin sets in `init`, and
 *   one `//go:wasmexport` function per WIT function that lifts the arguments, calls the plugin's method and lowers
 *   its result (through a return area kept until the next export, with an empty `cabi_post_…` as the SDK has).
 *
 * Flat values travel as uint64 bit patterns (i32 zero-extended, f32 as its bits): the canonical ABI's joined variant
 * slots are then the same bits whatever the case, so one lowering serves every slot type.
 */
import { fieldOffsets, flatSignature, layoutOf, variantLayout, type CoreType } from "./abi-layout.js";
import { interfaceId, jsName, type WitFunction, type WitInterface, type WitType } from "./types.js";
import { WitError } from "../contract/errors.js";

/** What the glue is generated for: the world's id (for comments) and its app interfaces. */
export interface GoGlueWorld {
  readonly worldId: string;
  readonly imports: readonly WitInterface[];
  readonly exports: readonly WitInterface[];
}

/** Options of `generateGoGlue`. */
export interface GoGlueOptions {
  /** The Go package (default `main`: a plugin is a main package). */
  readonly packageName?: string;
}

/** Names of the exported Go API of generated glue, for a scaffold's stubs. */
export interface GoGlueApi {
  /** The Go source. */
  readonly source: string;
  /** Per exported interface: the variable the plugin sets and its methods' Go signatures (`EchoItem(v Item) Item`). */
  readonly exports: readonly { readonly iface: WitInterface; readonly variable: string; readonly goInterface: string; readonly methods: readonly { readonly fn: WitFunction; readonly name: string; readonly signature: string; readonly zero: string }[] }[];
  /** Per imported interface: the variable whose methods call the host. */
  readonly imports: readonly { readonly iface: WitInterface; readonly variable: string }[];
}

const GO_KEYWORDS = new Set([
  "break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough", "for", "func", "go", "goto",
  "if", "import", "interface", "map", "package", "range", "return", "select", "struct", "switch", "type", "var",
  // predeclared identifiers the generated bodies use, and the bodies' own locals
  "bool", "byte", "rune", "string", "len", "make", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32",
  "int64", "float32", "float64", "nil", "true", "false", "any", "math", "cabi", "unsafe", "append", "clear", "panic",
]);

const pascal = (s: string): string => jsName(s).replace(/^./, (c) => c.toUpperCase());
/** A parameter's Go name: lowerCamelCase, never a keyword or a name the generated body uses. */
const paramName = (s: string): string => {
  const n = jsName(s);
  return GO_KEYWORDS.has(n) || /^g[A-Z0-9]/.test(n) ? `${n}_` : n;
};

const CORE_GO: Record<CoreType, string> = { i32: "uint32", i64: "uint64", f32: "float32", f64: "float64" };
/** A uint64 slot as the core type. */
const fromSlot = (c: CoreType, s: string): string =>
  c === "i32" ? `uint32(${s})` : c === "i64" ? s : c === "f32" ? `math.Float32frombits(uint32(${s}))` : `math.Float64frombits(${s})`;
/** A core value as a uint64 slot. */
const toSlot = (c: CoreType, v: string): string =>
  c === "i32" ? `uint64(${v})` : c === "i64" ? v : c === "f32" ? `uint64(math.Float32bits(${v}))` : `math.Float64bits(${v})`;

const PRIM_GO: Partial<Record<string, string>> = {
  bool: "bool", u8: "uint8", u16: "uint16", u32: "uint32", u64: "uint64", s8: "int8", s16: "int16", s32: "int32",
  s64: "int64", f32: "float32", f64: "float64", char: "rune", string: "string",
};

const off = (p: string, n: number): string => (n === 0 ? p : `${p}+${n}`);
const discPut = (size: number): string => (size === 1 ? "PutU8" : size === 2 ? "PutU16" : "PutU32");
const discGet = (size: number): string => (size === 1 ? "U8" : size === 2 ? "U16" : "U32");
const discGo = (size: number): string => (size === 1 ? "uint8" : size === 2 ? "uint16" : "uint32");

type Named = Extract<WitType, { name: string }>;

/** One variant-like case as Go sees it: its test on a value `v`, its payload's Go expression, its construction. */
interface GoCase {
  readonly test: string;
  readonly payload?: { readonly type: WitType; readonly expr: string };
  /** Go statements returning the case's value; `x` is the lifted payload. */
  readonly make: (x: string) => string;
}

class GoGen {
  private readonly taken = new Set<string>(["Result", "Ok", "Err", "main", "init"]);
  private readonly named = new Map<string, string>();
  private readonly helperIds = new Map<string, number>();
  readonly decls: string[] = [];
  readonly helpers: string[] = [];
  private readonly tuples = new Set<number>();
  private result = false;
  /** Names the world in errors. */
  constructor(private readonly where: string) {}

  /** A fresh exported Go name based on `base`. */
  claim(base: string): string {
    let n = base;
    for (let i = 2; this.taken.has(n); i++) n = `${base}${i}`;
    this.taken.add(n);
    return n;
  }

  generics(): string[] {
    const out: string[] = [];
    if (this.result) {
      out.push(
        "// Result is a WIT result<T, E>: Ok when IsErr is false, else Err (struct{} for a side without a type).",
        "type Result[T, E any] struct {\n\tIsErr bool\n\tOk    T\n\tErr   E\n}\n",
        "// Ok makes an ok result.\nfunc Ok[T, E any](v T) Result[T, E] { return Result[T, E]{Ok: v} }\n",
        "// Err makes an err result.\nfunc Err[T, E any](e E) Result[T, E] { return Result[T, E]{IsErr: true, Err: e} }\n",
      );
    }
    for (const n of [...this.tuples].sort()) {
      const ps = Array.from({ length: n }, (_, i) => `T${i}`);
      out.push(`// Tuple${n} is a WIT tuple of ${n}.\ntype Tuple${n}[${ps.join(", ")} any] struct {\n${ps.map((p, i) => `\tF${i} ${p}`).join("\n")}\n}\n`);
      this.taken.add(`Tuple${n}`);
    }
    return out;
  }

  /** The Go type of a WIT type. */
  goType(t: WitType): string {
    switch (t.kind) {
      case "list":
        return t.element.kind === "u8" ? "[]byte" : `[]${this.goType(t.element)}`;
      case "option":
        return `*${this.goType(t.some)}`;
      case "result":
        this.result = true;
        return `Result[${t.ok ? this.goType(t.ok) : "struct{}"}, ${t.err ? this.goType(t.err) : "struct{}"}]`;
      case "tuple":
        this.tuples.add(t.items.length);
        return `Tuple${t.items.length}[${t.items.map((i) => this.goType(i)).join(", ")}]`;
      case "record":
      case "variant":
      case "enum":
      case "flags":
        return this.declare(t);
      default:
        return PRIM_GO[t.kind]!;
    }
  }

  private declare(t: Named): string {
    const key = JSON.stringify(t);
    const known = this.named.get(key);
    if (known) return known;
    const n = this.claim(pascal(t.name));
    this.named.set(key, n);
    const lines: string[] = [];
    if (t.kind === "record") {
      const fields = t.fields.map((f) => `\t${pascal(f.name)} ${this.goType(f.type)}`);
      lines.push(`// ${n} is the WIT record ${t.name}.`, `type ${n} struct {\n${fields.join("\n")}\n}`);
    } else if (t.kind === "variant") {
      const l = variantLayout(t);
      const tag = this.claim(`${n}Tag`);
      const consts = t.cases.map((c, i) => `\t${this.claim(`${n}${pascal(c.name)}`)}${i === 0 ? ` ${tag} = iota` : ""}`);
      const fields = t.cases.filter((c) => c.type).map((c) => `\t${caseField(c.name)} ${this.goType(c.type!)} // ${c.name}`);
      lines.push(
        `// ${tag} is the case of a ${n}.`,
        `type ${tag} ${discGo(l.discSize)}`,
        "",
        `const (\n${consts.join("\n")}\n)`,
        "",
        `// ${n} is the WIT variant ${t.name}: Tag says the case; the case's payload is in its field.`,
        `type ${n} struct {\n\tTag ${tag}\n${fields.join("\n")}\n}`,
      );
    } else if (t.kind === "enum") {
      const l = variantLayout(t);
      const consts = t.cases.map((c, i) => `\t${this.claim(`${n}${pascal(c)}`)}${i === 0 ? ` ${n} = iota` : ""}`);
      lines.push(`// ${n} is the WIT enum ${t.name}.`, `type ${n} ${discGo(l.discSize)}`, "", `const (\n${consts.join("\n")}\n)`);
    } else {
      if (t.flags.length > 64) throw new WitError(this.where, 1, 1, `flags ${t.name} has ${t.flags.length} flags: generated Go glue supports up to 64; split it into several flags types`);
      const bits = t.flags.length <= 8 ? 8 : t.flags.length <= 16 ? 16 : t.flags.length <= 32 ? 32 : 64;
      const consts = t.flags.map((f, i) => `\t${this.claim(`${n}${pascal(f)}`)}${i === 0 ? ` ${n} = 1 << iota` : ""}`);
      lines.push(`// ${n} is the WIT flags ${t.name}: one bit per flag, in declaration order.`, `type ${n} uint${bits}`, "", ...(consts.length ? [`const (\n${consts.join("\n")}\n)`] : []));
    }
    this.decls.push(lines.join("\n") + "\n");
    return n;
  }

  // ---- memory and flat lowering, as Go expressions and statements ----

  /** The Go expression loading a `t` at address expression `p`. */
  load(t: WitType, p: string): string {
    switch (t.kind) {
      case "bool":
        return `(cabi.U8(${p}) != 0)`;
      case "u8":
        return `cabi.U8(${p})`;
      case "s8":
        return `int8(cabi.U8(${p}))`;
      case "u16":
        return `cabi.U16(${p})`;
      case "s16":
        return `int16(cabi.U16(${p}))`;
      case "u32":
        return `cabi.U32(${p})`;
      case "s32":
        return `int32(cabi.U32(${p}))`;
      case "u64":
        return `cabi.U64(${p})`;
      case "s64":
        return `int64(cabi.U64(${p}))`;
      case "f32":
        return `cabi.F32(${p})`;
      case "f64":
        return `cabi.F64(${p})`;
      case "char":
        return `cabi.Char(cabi.U32(${p}))`;
      case "string":
        return `cabi.String(cabi.U32(${p}), cabi.U32(${off(p, 4)}))`;
      default:
        return `gLoad${this.helper(t)}(${p})`;
    }
  }

  /** Go statements storing `v` (a `t`) at address expression `p`. */
  store(t: WitType, p: string, v: string): string {
    switch (t.kind) {
      case "bool":
        return `cabi.PutU8(${p}, uint8(cabi.FromBool(${v})))`;
      case "u8":
      case "s8":
        return `cabi.PutU8(${p}, uint8(${v}))`;
      case "u16":
      case "s16":
        return `cabi.PutU16(${p}, uint16(${v}))`;
      case "u32":
      case "s32":
      case "char":
        return `cabi.PutU32(${p}, uint32(${v}))`;
      case "u64":
      case "s64":
        return `cabi.PutU64(${p}, uint64(${v}))`;
      case "f32":
        return `cabi.PutF32(${p}, ${v})`;
      case "f64":
        return `cabi.PutF64(${p}, ${v})`;
      case "string":
        return `{\n\tsp, sn := gString(${v})\n\tcabi.PutU32(${p}, sp)\n\tcabi.PutU32(${off(p, 4)}, sn)\n}`;
      default:
        return `gStore${this.helper(t)}(${p}, ${v})`;
    }
  }

  /** Go statements writing `v`'s flat values into slots `f[base…]`. */
  flat(t: WitType, v: string, f: string, base: number): string {
    const s = `${f}[${base}]`;
    switch (t.kind) {
      case "bool":
        return `${s} = uint64(cabi.FromBool(${v}))`;
      case "u8":
      case "u16":
      case "u32":
      case "char":
        return `${s} = uint64(uint32(${v}))`;
      case "s8":
      case "s16":
      case "s32":
        return `${s} = uint64(uint32(int32(${v})))`;
      case "u64":
      case "s64":
        return `${s} = uint64(${v})`;
      case "f32":
        return `${s} = uint64(math.Float32bits(${v}))`;
      case "f64":
        return `${s} = math.Float64bits(${v})`;
      case "string":
        return `{\n\tsp, sn := gString(${v})\n\t${s} = uint64(sp)\n\t${f}[${base + 1}] = uint64(sn)\n}`;
      default:
        return `gFlat${this.helper(t)}(${v}, ${f}[${base}:])`;
    }
  }

  /** The Go expression lifting a `t` from slots `f[base…]`. */
  unflat(t: WitType, f: string, base: number): string {
    const s = `${f}[${base}]`;
    switch (t.kind) {
      case "bool":
        return `(uint32(${s}) != 0)`;
      case "u8":
        return `uint8(${s})`;
      case "s8":
        return `int8(${s})`;
      case "u16":
        return `uint16(${s})`;
      case "s16":
        return `int16(${s})`;
      case "u32":
        return `uint32(${s})`;
      case "s32":
        return `int32(uint32(${s}))`;
      case "u64":
        return s;
      case "s64":
        return `int64(${s})`;
      case "f32":
        return `math.Float32frombits(uint32(${s}))`;
      case "f64":
        return `math.Float64frombits(${s})`;
      case "char":
        return `cabi.Char(uint32(${s}))`;
      case "string":
        return `cabi.String(uint32(${s}), uint32(${f}[${base + 1}]))`;
      default:
        return `gUnflat${this.helper(t)}(${f}[${base}:])`;
    }
  }

  /** The id of a compound type's four helpers (gLoad, gStore, gFlat, gUnflat), generating them on first use. */
  private helper(t: WitType): number {
    const key = JSON.stringify(t);
    const known = this.helperIds.get(key);
    if (known !== undefined) return known;
    const id = this.helperIds.size;
    this.helperIds.set(key, id);
    const T = this.goType(t);
    const l = layoutOf(t);
    const body: string[] = [];
    const fn = (name: string, sig: string, lines: string[]) => body.push(`func g${name}${id}${sig} {\n${indent(lines.join("\n"))}\n}\n`);
    if (t.kind === "record" || t.kind === "tuple") {
      const fields = t.kind === "record" ? t.fields.map((f) => ({ type: f.type, go: pascal(f.name) })) : t.items.map((type, i) => ({ type, go: `F${i}` }));
      const offs = fieldOffsets(fields.map((f) => f.type));
      const slots = slotStarts(fields.map((f) => f.type));
      fn("Load", `(p uint32) ${T}`, [`return ${T}{\n${fields.map((f, i) => `\t${f.go}: ${this.load(f.type, off("p", offs[i]!))},`).join("\n")}\n}`]);
      fn("Store", `(p uint32, v ${T})`, fields.map((f, i) => this.store(f.type, off("p", offs[i]!), `v.${f.go}`)));
      fn("Flat", `(v ${T}, f []uint64)`, fields.map((f, i) => this.flat(f.type, `v.${f.go}`, "f", slots[i]!)));
      fn("Unflat", `(f []uint64) ${T}`, [`return ${T}{\n${fields.map((f, i) => `\t${f.go}: ${this.unflat(f.type, "f", slots[i]!)},`).join("\n")}\n}`]);
    } else if (t.kind === "list") {
      const el = layoutOf(t.element);
      const u8 = t.element.kind === "u8";
      const lower = u8 ? `gBytes(v)` : `gList${id}(v)`;
      const lift = (ptr: string, n: string) => (u8 ? `cabi.Bytes(${ptr}, ${n})` : `gUnlist${id}(${ptr}, ${n})`);
      if (!u8) {
        fn("List", `(v ${T}) (uint32, uint32)`, [
          `if len(v) == 0 {\n\treturn ${el.align}, 0\n}`,
          `p := gAlloc(uint32(len(v))*${el.size}, ${el.align})`,
          `for i := range v {\n${indent(this.store(t.element, `p+uint32(i)*${el.size}`, "v[i]"))}\n}`,
          "return p, uint32(len(v))",
        ]);
        fn("Unlist", `(ptr, n uint32) ${T}`, [
          `out := make(${T}, n)`,
          `for i := uint32(0); i < n; i++ {\n\tout[i] = ${this.load(t.element, `ptr+i*${el.size}`)}\n}`,
          "return out",
        ]);
      }
      fn("Load", `(p uint32) ${T}`, [`return ${lift("cabi.U32(p)", "cabi.U32(p+4)")}`]);
      fn("Store", `(p uint32, v ${T})`, [`lp, ln := ${lower}`, "cabi.PutU32(p, lp)", "cabi.PutU32(p+4, ln)"]);
      fn("Flat", `(v ${T}, f []uint64)`, [`lp, ln := ${lower}`, "f[0] = uint64(lp)", "f[1] = uint64(ln)"]);
      fn("Unflat", `(f []uint64) ${T}`, [`return ${lift("uint32(f[0])", "uint32(f[1])")}`]);
    } else if (t.kind === "flags") {
      const n = t.flags.length;
      const mask = n === 0 ? "0" : `0x${((1n << BigInt(n)) - 1n).toString(16)}`;
      if (n > 32) {
        fn("Load", `(p uint32) ${T}`, [`v := uint64(cabi.U32(p)) | uint64(cabi.U32(p+4))<<32`, `if v&^${mask} != 0 {\n\tcabi.Trap()\n}`, `return ${T}(v)`]);
        fn("Store", `(p uint32, v ${T})`, ["cabi.PutU32(p, uint32(v))", "cabi.PutU32(p+4, uint32(uint64(v)>>32))"]);
        fn("Flat", `(v ${T}, f []uint64)`, ["f[0] = uint64(uint32(v))", "f[1] = uint64(v) >> 32"]);
        fn("Unflat", `(f []uint64) ${T}`, [`v := uint64(uint32(f[0])) | uint64(uint32(f[1]))<<32`, `if v&^${mask} != 0 {\n\tcabi.Trap()\n}`, `return ${T}(v)`]);
      } else if (n === 0) {
        fn("Load", `(p uint32) ${T}`, ["return 0"]);
        fn("Store", `(p uint32, v ${T})`, []);
        fn("Flat", `(v ${T}, f []uint64)`, []);
        fn("Unflat", `(f []uint64) ${T}`, ["return 0"]);
      } else {
        const get = l.size === 1 ? "U8" : l.size === 2 ? "U16" : "U32";
        const put = l.size === 1 ? "PutU8" : l.size === 2 ? "PutU16" : "PutU32";
        fn("Load", `(p uint32) ${T}`, [`v := uint32(cabi.${get}(p))`, `if v&^${mask} != 0 {\n\tcabi.Trap()\n}`, `return ${T}(v)`]);
        fn("Store", `(p uint32, v ${T})`, [`cabi.${put}(p, ${discGo(l.size)}(v))`]);
        fn("Flat", `(v ${T}, f []uint64)`, ["f[0] = uint64(uint32(v))"]);
        fn("Unflat", `(f []uint64) ${T}`, [`v := uint32(f[0])`, `if v&^${mask} != 0 {\n\tcabi.Trap()\n}`, `return ${T}(v)`]);
      }
    } else if (t.kind === "variant" || t.kind === "option" || t.kind === "result" || t.kind === "enum") {
      const vl = variantLayout(t);
      const cases = this.goCases(t, T);
      const put = `cabi.${discPut(vl.discSize)}`;
      const bad = "cabi.Trap()\npanic(\"unreachable\")";
      const pick = (each: (c: GoCase, i: number) => string[]) => [`switch {\n${cases.map((c, i) => `case ${c.test}:\n${indent(each(c, i).join("\n"))}`).join("\n")}\ndefault:\n\tcabi.Trap() // a Tag no case has\n}`];
      const lift = (disc: string, payload: (t: WitType) => string) => [
        `switch ${disc} {\n${cases.map((c, i) => `case ${i}:\n${indent(c.payload ? `x := ${payload(c.payload.type)}\n${c.make("x")}` : c.make(""))}`).join("\n")}\n}`,
        bad,
      ];
      fn("Load", `(p uint32) ${T}`, lift(`cabi.${discGet(vl.discSize)}(p)`, (pt) => this.load(pt, off("p", vl.payloadOffset))));
      fn("Store", `(p uint32, v ${T})`, pick((c, i) => [`${put}(p, ${i})`, ...(c.payload ? [this.store(c.payload.type, off("p", vl.payloadOffset), c.payload.expr)] : [])]));
      fn("Flat", `(v ${T}, f []uint64)`, [
        ...(l.flat.length > 1 ? [`clear(f[1:${l.flat.length}])`] : []),
        ...pick((c, i) => [`f[0] = ${i}`, ...(c.payload ? [this.flat(c.payload.type, c.payload.expr, "f", 1)] : [])]),
      ]);
      fn("Unflat", `(f []uint64) ${T}`, lift("uint32(f[0])", (pt) => this.unflat(pt, "f", 1)));
    } else {
      throw new WitError(this.where, 1, 1, `no Go glue for a ${t.kind}`);
    }
    this.helpers.push(...body);
    return id;
  }

  private goCases(t: WitType, T: string): GoCase[] {
    switch (t.kind) {
      case "option":
        return [
          { test: "v == nil", make: () => "return nil" },
          { test: "v != nil", payload: { type: t.some, expr: "(*v)" }, make: (x) => `return &${x}` },
        ];
      case "result":
        return [
          { test: "!v.IsErr", ...(t.ok ? { payload: { type: t.ok, expr: "v.Ok" } } : {}), make: (x) => `return ${T}{${x ? `Ok: ${x}` : ""}}` },
          { test: "v.IsErr", ...(t.err ? { payload: { type: t.err, expr: "v.Err" } } : {}), make: (x) => `return ${T}{IsErr: true${x ? `, Err: ${x}` : ""}}` },
        ];
      case "enum":
        return t.cases.map((_c, i) => ({ test: `v == ${i}`, make: () => `return ${i}` }));
      case "variant":
        return t.cases.map((c, i) => ({
          test: `v.Tag == ${i}`,
          ...(c.type ? { payload: { type: c.type, expr: `v.${caseField(c.name)}` } } : {}),
          make: (x: string) => `return ${T}{Tag: ${i}${x ? `, ${caseField(c.name)}: ${x}` : ""}}`,
        }));
      default:
        throw new WitError(this.where, 1, 1, `${t.kind} is not variant-like`);
    }
  }

  /** A Go zero value of a WIT type (a stub's return). */
  zero(t: WitType): string {
    switch (t.kind) {
      case "bool":
        return "false";
      case "string":
        return '""';
      case "list":
      case "option":
        return "nil";
      case "record":
      case "variant":
      case "result":
      case "tuple":
        return `${this.goType(t)}{}`;
      default:
        return "0";
    }
  }
}

/** A variant case's Go field (never `Tag`, which holds the case). */
const caseField = (name: string): string => (pascal(name) === "Tag" ? "TagValue" : pascal(name));

/** The first flat slot of each of `types` laid out one after another. */
function slotStarts(types: readonly WitType[]): number[] {
  let at = 0;
  return types.map((t) => {
    const s = at;
    at += layoutOf(t).flat.length;
    return s;
  });
}

const indent = (s: string): string => s.split("\n").map((l) => (l ? `\t${l}` : l)).join("\n");

const docComment = (docs: string | undefined, fallback: string): string =>
  (docs ? docs.split("\n") : [fallback]).map((l) => `// ${l}`.trimEnd()).join("\n");

/**
 * Go canonical-ABI glue for a world's app imports and exports (one file of package main, on plughost.dev/sdk/cabi).
 * Throws a WitError for a type it cannot represent (flags of more than 64).
 */
export function generateGoGlue(world: GoGlueWorld, options: GoGlueOptions = {}): GoGlueApi {
  const g = new GoGen(world.worldId);
  const out: string[] = [];
  const imports: GoGlueApi["imports"][number][] = [];
  const exports: GoGlueApi["exports"][number][] = [];
  let retWords = 0;
  let n = 0;

  for (const iface of world.imports) {
    const id = interfaceId(iface);
    const variable = g.claim(pascal(iface.name));
    const type = g.claim(`${jsName(iface.name)}Import`);
    imports.push({ iface, variable });
    out.push(`// ---- import ${id} ----\n`, `type ${type} struct{}\n`, `${docComment(iface.docs, `${variable} calls the host's ${id}.`)}\nvar ${variable} ${type}\n`);
    for (const fn of iface.functions) {
      const core = `gImport${n++}`;
      const sig = flatSignature(fn);
      const coreParams = sig.paramsSpilled ? ["i32" as CoreType] : [...sig.params];
      if (sig.resultSpilled) coreParams.push("i32");
      const coreResult = sig.resultSpilled || !fn.result ? undefined : sig.results[0];
      out.push(`//go:wasmimport ${id} ${fn.name}\nfunc ${core}(${coreParams.map((c, i) => `a${i} ${CORE_GO[c]}`).join(", ")})${coreResult ? ` ${CORE_GO[coreResult]}` : ""}\n`);
      const params = fn.params.map((p) => ({ name: paramName(p.name), type: p.type }));
      const goResult = fn.result ? g.goType(fn.result) : "";
      const body: string[] = ["gMark := gMarkNow()"];
      const args: string[] = [];
      if (sig.paramsSpilled) {
        const tl = layoutOf(sig.paramTuple);
        const offs = fieldOffsets(fn.params.map((p) => p.type));
        body.push(`gArgs := gAlloc(${tl.size}, ${tl.align})`, ...params.map((p, i) => g.store(p.type, off("gArgs", offs[i]!), p.name)));
        args.push("gArgs");
      } else if (fn.params.length) {
        const slots = slotStarts(fn.params.map((p) => p.type));
        body.push(`var gF [${Math.max(1, sig.params.length)}]uint64`, ...params.map((p, i) => g.flat(p.type, p.name, "gF", slots[i]!)));
        args.push(...sig.params.map((c, i) => fromSlot(c, `gF[${i}]`)));
      }
      if (sig.resultSpilled) {
        const rl = layoutOf(fn.result!);
        retWords = Math.max(retWords, Math.ceil(rl.size / 8));
        args.push("gRetAddr()");
        body.push(`${core}(${args.join(", ")})`, "gRelease(gMark)", `gR := ${g.load(fn.result!, "gRetAddr()")}`, "cabi.Reset()", "return gR");
      } else if (coreResult) {
        body.push(`gR := [1]uint64{${toSlot(coreResult, `${core}(${args.join(", ")})`)}}`, "gRelease(gMark)", `return ${g.unflat(fn.result!, "gR", 0)}`);
      } else {
        body.push(`${core}(${args.join(", ")})`, "gRelease(gMark)");
        if (fn.result) body.push(`return ${g.zero(fn.result)}`); // a result with no flat values (an empty flags)
      }
      out.push(
        `${docComment(fn.docs, `${pascal(fn.name)} calls ${id}'s ${fn.name}.`)}\nfunc (${type}) ${pascal(fn.name)}(${params.map((p) => `${p.name} ${g.goType(p.type)}`).join(", ")})${goResult ? ` ${goResult}` : ""} {\n${indent(body.join("\n"))}\n}\n`,
      );
    }
  }

  for (const iface of world.exports) {
    const id = interfaceId(iface);
    const goInterface = g.claim(`${pascal(iface.name)}Exports`);
    const variable = g.claim(pascal(iface.name));
    const methods = iface.functions.map((fn) => {
      const params = fn.params.map((p) => `${paramName(p.name)} ${g.goType(p.type)}`).join(", ");
      const signature = `${pascal(fn.name)}(${params})${fn.result ? ` ${g.goType(fn.result)}` : ""}`;
      return { fn, name: pascal(fn.name), signature, zero: fn.result ? g.zero(fn.result) : "" };
    });
    exports.push({ iface, variable, goInterface, methods });
    out.push(
      `// ---- export ${id} ----\n`,
      `// ${goInterface} is what the plugin implements of ${id}.\ntype ${goInterface} interface {\n${methods.map((m) => `${indent(docComment(m.fn.docs, `${m.name}: ${m.fn.name}.`))}\n\t${m.signature}`).join("\n")}\n}\n`,
      `// ${variable} is the plugin's ${id}: set it in init().\nvar ${variable} ${goInterface}\n`,
    );
    for (const fn of iface.functions) {
      const core = `gExport${n++}`;
      const sig = flatSignature(fn);
      const body: string[] = [];
      let coreParams: string;
      const vals = fn.params.map((_p, i) => `gP${i}`);
      if (sig.paramsSpilled) {
        coreParams = "gArgs uint32";
        const offs = fieldOffsets(fn.params.map((p) => p.type));
        body.push(...fn.params.map((p, i) => `${vals[i]} := ${g.load(p.type, off("gArgs", offs[i]!))}`));
      } else {
        coreParams = sig.params.map((c, i) => `a${i} ${CORE_GO[c]}`).join(", ");
        if (fn.params.length) body.push(`gF := [${Math.max(1, sig.params.length)}]uint64{${sig.params.map((c, i) => toSlot(c, `a${i}`)).join(", ")}}`);
        const slots = slotStarts(fn.params.map((p) => p.type));
        body.push(...fn.params.map((p, i) => `${vals[i]} := ${g.unflat(p.type, "gF", slots[i]!)}`));
      }
      // The arguments are copied out of the arena: free it and what the last export handed the host.
      body.push("gBegin()", "defer cabi.Guard()");
      const call = `${variable}.${pascal(fn.name)}(${vals.join(", ")})`;
      let coreResult = "";
      if (!fn.result) body.push(call);
      else if (sig.resultSpilled) {
        const rl = layoutOf(fn.result);
        coreResult = " uint32";
        body.push(`gR := ${call}`, `gRet := gAlloc(${rl.size}, ${rl.align})`, g.store(fn.result, "gRet", "gR"), "return gRet");
      } else if (sig.results.length) {
        coreResult = ` ${CORE_GO[sig.results[0]!]}`;
        body.push(`var gR [1]uint64`, g.flat(fn.result, call, "gR", 0), `return ${fromSlot(sig.results[0]!, "gR[0]")}`);
      } else body.push(`_ = ${call}`);
      out.push(`//go:wasmexport ${id}#${fn.name}\nfunc ${core}(${coreParams})${coreResult} {\n${indent(body.join("\n"))}\n}\n`);
      if (sig.resultSpilled) {
        // The host reads the return area before post-return; it stays referenced until the next export.
        out.push(`//go:wasmexport cabi_post_${id}#${fn.name}\nfunc ${core}Post(uint32) {}\n`);
      }
    }
  }

  const head = [
    "//go:build wasip1",
    "",
    `// Code generated by plughost from the WIT world ${world.worldId}. DO NOT EDIT.`,
    "//",
    "// Canonical-ABI glue on plughost.dev/sdk/cabi (docs/guest-go.md): the world's imported interfaces as values",
    "// whose methods call the host, and its exported interfaces as Go interfaces the plugin implements and sets in",
    "// init(). Regenerate it when the WIT changes: plughost glue go .",
    "",
    `package ${options.packageName ?? "main"}`,
    "",
    'import (\n\t"math"\n\t"unsafe"\n\n\t"plughost.dev/sdk/cabi"\n)',
    "",
    "var (\n\t_ = math.Float32bits\n\t_ = unsafe.Pointer(nil)\n)",
    "",
  ];
  const runtime = [
    "// ---- memory handed to the host ----",
    "",
    "// What an import's arguments or an export's results point to is kept referenced: an import's until it returns,",
    "// an export's until the next export starts (after the host has read it). Typed slices: keeping a string or a",
    "// buffer costs no allocation.",
    "var (",
    "\tglueStrs  []string",
    "\tglueBytes [][]byte",
    "\tglueBufs  [][]uint64",
    ")",
    "",
    "type gMarkT struct{ s, b, u int }",
    "",
    "func gMarkNow() gMarkT { return gMarkT{len(glueStrs), len(glueBytes), len(glueBufs)} }",
    "",
    "func gRelease(m gMarkT) {",
    "\tclear(glueStrs[m.s:])",
    "\tglueStrs = glueStrs[:m.s]",
    "\tclear(glueBytes[m.b:])",
    "\tglueBytes = glueBytes[:m.b]",
    "\tclear(glueBufs[m.u:])",
    "\tglueBufs = glueBufs[:m.u]",
    "}",
    "",
    "func gBegin() {",
    "\tcabi.Begin()",
    "\tgRelease(gMarkT{})",
    "}",
    "",
    "// gAlloc is zeroed Go memory of size bytes aligned to align (at most 8).",
    "func gAlloc(size, align uint32) uint32 {",
    "\tif size == 0 {",
    "\t\treturn align",
    "\t}",
    "\tbuf := make([]uint64, (size+7)/8)",
    "\tglueBufs = append(glueBufs, buf)",
    "\treturn uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))",
    "}",
    "",
    "func gString(s string) (uint32, uint32) {",
    "\tif len(s) == 0 {",
    "\t\treturn 1, 0",
    "\t}",
    "\tglueStrs = append(glueStrs, s)",
    "\treturn uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))), uint32(len(s))",
    "}",
    "",
    "func gBytes(b []byte) (uint32, uint32) {",
    "\tif len(b) == 0 {",
    "\t\treturn 1, 0",
    "\t}",
    "\tglueBytes = append(glueBytes, b)",
    "\treturn uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))), uint32(len(b))",
    "}",
    "",
    // A static return area (never moved by the GC or a stack copy); import calls do not nest.
    ...(retWords ? ["// gRetArea receives import results the host returns through memory.", `var gRetArea [${retWords}]uint64`, "", "func gRetAddr() uint32 { return uint32(uintptr(unsafe.Pointer(&gRetArea))) }", ""] : []),
  ];
  const source = [...head, ...g.generics(), ...g.decls, ...runtime, ...out, "// ---- lifting and lowering ----\n", ...g.helpers].join("\n");
  return { source, imports, exports };
}
