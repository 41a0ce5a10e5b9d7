/**
 * A WIT parser for app-defined interfaces (docs/host-interfaces.md): text → `WitPackage[]` with every type resolved
 * to the model of `interfaces/types.ts`.
 *
 * It covers what the host can carry across the boundary: packages (a root `package` declaration and nested
 * `package x:y@v { … }` blocks), interfaces, `use` (within a package and across the packages of one parse set),
 * type aliases, records, variants, enums, flags, lists, options, results, tuples, primitives, functions, `///` docs,
 * and worlds (`import`/`export` of interfaces by name or id, `include`). Resources, handles, async functions,
 * streams and futures are refused with a `WitError` at their position, so nothing is silently parsed wrong.
 * Feature gates (`@since`, `@deprecated`) are accepted; items gated `@unstable` are left out, as wit-parser does by
 * default.
 */
import { WitError } from "../contract/errors.js";
import type { WitCase, WitField, WitFunction, WitInterface, WitPackage, WitParam, WitPrimitive, WitType, WitWorld } from "./types.js";
import { interfaceId, unversionedId } from "./types.js";
import { compareVersions } from "./semver.js";

// ── lexing ─────────────────────────────────────────────────────────────────

interface Pos {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

type TokKind = "id" | "version" | "punct" | "eof";

interface Token extends Pos {
  readonly kind: TokKind;
  /** The identifier without a leading `%`, the version, or the punctuation. */
  readonly text: string;
  /** An identifier written `%name`: never a keyword. */
  readonly escaped: boolean;
  /** The `///` (or `/** … *\/`) doc comment just before the token. */
  readonly docs?: string;
}

const KEYWORDS = new Set([
  "use", "type", "func", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "f32", "f64",
  "char", "bool", "string", "record", "resource", "own", "borrow", "flags", "variant", "enum", "option", "result",
  "future", "stream", "list", "as", "from", "static", "interface", "tuple", "import", "export", "world", "package",
  "constructor", "include", "with", "async", "error-context",
]);

const PRIMITIVES: ReadonlyMap<string, WitPrimitive> = new Map<string, WitPrimitive>([
  ["bool", "bool"], ["u8", "u8"], ["u16", "u16"], ["u32", "u32"], ["u64", "u64"], ["s8", "s8"], ["s16", "s16"],
  ["s32", "s32"], ["s64", "s64"], ["f32", "f32"], ["f64", "f64"], ["char", "char"], ["string", "string"],
]);

/** What the host cannot carry yet: named so the error says which construct it met. */
const UNSUPPORTED: ReadonlyMap<string, string> = new Map([
  ["resource", "resources are not supported yet"],
  ["own", "resources (own<…> handles) are not supported yet"],
  ["borrow", "resources (borrow<…> handles) are not supported yet"],
  ["stream", "streams are not supported yet"],
  ["future", "futures are not supported yet"],
  ["error-context", "error-context is not supported yet"],
  ["async", "async functions are not supported yet"],
]);

const IDENT = /%?[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*/y;
const VERSION = /(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?/y;
const NUMBER = /[0-9]+/y;

function lex(source: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let docs: string[] = [];
  const at = (idx: number): Pos => ({ file, line, column: idx - lineStart + 1 });
  const fail = (idx: number, problem: string): never => {
    const p = at(idx);
    throw new WitError(file, p.line, p.column, problem);
  };
  const newlines = (from: number, to: number): void => {
    for (let k = from; k < to; k++) if (source[k] === "\n") { line++; lineStart = k + 1; }
  };
  while (i < source.length) {
    const c = source[i]!;
    if (c === "\n") { line++; lineStart = ++i; continue; }
    if (c === " " || c === "\t" || c === "\r") { i++; continue; }
    if (source.startsWith("//", i)) {
      const end = source.indexOf("\n", i);
      const stop = end < 0 ? source.length : end;
      // `///` is a doc comment, `////…` a plain one (as in Rust and wit-parser).
      if (source.startsWith("///", i) && source[i + 3] !== "/") docs.push(source.slice(i + 3, stop).replace(/^ /, "").replace(/\r$/, ""));
      i = stop;
      continue;
    }
    if (source.startsWith("/*", i)) {
      const start = i;
      const isDoc = source.startsWith("/**", i) && !source.startsWith("/**/", i);
      let depth = 0;
      do {
        if (source.startsWith("/*", i)) { depth++; i += 2; } else if (source.startsWith("*/", i)) { depth--; i += 2; } else i++;
      } while (depth > 0 && i < source.length);
      if (depth > 0) fail(start, "unterminated block comment");
      if (isDoc) {
        const body = source.slice(start + 3, i - 2);
        docs.push(...body.split("\n").map((l) => l.replace(/^\s*\* ?/, "").trimEnd()).join("\n").trim().split("\n"));
      }
      newlines(start, i);
      continue;
    }
    const pos = at(i);
    const doc = docs.length ? docs.join("\n").trim() : undefined;
    docs = [];
    const push = (kind: TokKind, text: string, escaped = false): void => {
      tokens.push({ kind, text, escaped, file, line: pos.line, column: pos.column, ...(doc ? { docs: doc } : {}) });
    };
    // A version follows `@` directly; anything else numeric is a plain number (fixed-size lists, gates).
    if (tokens.length > 0 && tokens[tokens.length - 1]!.text === "@" && tokens[tokens.length - 1]!.kind === "punct" && /[0-9]/.test(c)) {
      VERSION.lastIndex = i;
      const m = VERSION.exec(source);
      if (!m) fail(i, "expected a semver version (like 1.0.0) after '@'");
      push("version", m![0]);
      i += m![0].length;
      continue;
    }
    if (/[0-9]/.test(c)) {
      VERSION.lastIndex = i;
      const v = VERSION.exec(source);
      if (v) { push("version", v[0]); i += v[0].length; continue; }
      NUMBER.lastIndex = i;
      const n = NUMBER.exec(source)!;
      push("version", n[0]);
      i += n[0].length;
      continue;
    }
    if (c === "%" || /[A-Za-z]/.test(c)) {
      IDENT.lastIndex = i;
      const m = IDENT.exec(source);
      if (!m) fail(i, "expected an identifier after '%'");
      const text = m![0];
      const escaped = text.startsWith("%");
      const name = escaped ? text.slice(1) : text;
      // Words are all lowercase or all uppercase; only the first must start with a letter (`a-1` is a name).
      name.split("-").forEach((word, k) => {
        if (!(k === 0 ? /^(?:[a-z][a-z0-9]*|[A-Z][A-Z0-9]*)$/ : /^(?:[a-z0-9]+|[A-Z0-9]+)$/).test(word)) {
          fail(i, `"${name}" is not a valid WIT name: '-'-separated words, each all lowercase or all uppercase, the first starting with a letter`);
        }
      });
      push("id", name, escaped);
      i += text.length;
      continue;
    }
    if (source.startsWith("->", i)) { push("punct", "->"); i += 2; continue; }
    if ("{}()<>,;:.=/@*_".includes(c)) {
      // `_` alone is the placeholder of `result<_, E>`; `_x` is not a name.
      push("punct", c);
      i++;
      continue;
    }
    fail(i, `unexpected character ${JSON.stringify(c)}`);
  }
  const end = at(i);
  tokens.push({ kind: "eof", text: "", escaped: false, file, line: end.line, column: end.column });
  return tokens;
}

// ── syntax tree ────────────────────────────────────────────────────────────

type TypeExpr =
  | { readonly k: "prim"; readonly prim: WitPrimitive }
  | { readonly k: "list"; readonly el: TypeExpr }
  | { readonly k: "option"; readonly some: TypeExpr }
  | { readonly k: "result"; readonly ok?: TypeExpr; readonly err?: TypeExpr }
  | { readonly k: "tuple"; readonly items: readonly TypeExpr[] }
  | { readonly k: "named"; readonly name: string; readonly pos: Pos };

type TypeDef =
  | { readonly k: "alias"; readonly target: TypeExpr }
  | { readonly k: "record"; readonly fields: readonly { name: string; type: TypeExpr }[] }
  | { readonly k: "variant"; readonly cases: readonly { name: string; type?: TypeExpr }[] }
  | { readonly k: "enum"; readonly cases: readonly string[] }
  | { readonly k: "flags"; readonly flags: readonly string[] };

/** A reference to an interface: a plain name (in the package, or a file-level `use`), or a full id. */
interface IfaceRef {
  readonly pos: Pos;
  readonly name: string;
  /** `ns:pkg` when written as a full id. */
  readonly pkg?: string;
  readonly version?: string;
}

type NamedItem =
  | { readonly k: "def"; readonly def: TypeDef; readonly pos: Pos }
  | { readonly k: "use"; readonly from: IfaceRef; readonly name: string; readonly pos: Pos };

interface InterfaceAst {
  readonly name: string;
  readonly pos: Pos;
  readonly docs?: string;
  readonly scope: FileScope;
  readonly types: Map<string, NamedItem>;
  readonly functions: { name: string; pos: Pos; docs?: string; params: { name: string; type: TypeExpr; pos: Pos }[]; result?: TypeExpr }[];
}

interface WorldAst {
  readonly name: string;
  readonly pos: Pos;
  readonly scope: FileScope;
  readonly imports: IfaceRef[];
  readonly exports: IfaceRef[];
  readonly includes: IfaceRef[];
}

/** What plain names mean in one package block of one file: its package and, at the root, the file's `use`s. */
interface FileScope {
  readonly pkgKey: string;
  readonly aliases: ReadonlyMap<string, IfaceRef>;
}

/** One package's items from one file or block. */
interface PackageUnit {
  readonly name: string;
  readonly version?: string;
  readonly pos: Pos;
  readonly interfaces: InterfaceAst[];
  readonly worlds: WorldAst[];
}

/** One file parsed: the root package's items (when it declares or has one) and the nested packages. */
export interface WitFileAst {
  readonly file: string;
  /** The `package` declaration at the top, if any. */
  readonly root?: { readonly name: string; readonly version?: string; readonly pos: Pos };
  /** Top-level interfaces and worlds, which belong to the root package. */
  readonly rootInterfaces: InterfaceAst[];
  readonly rootWorlds: WorldAst[];
  readonly rootAliases: Map<string, IfaceRef>;
  readonly nested: PackageUnit[];
  /** Where the first top-level item is, for "no package declaration" errors. */
  readonly firstItem?: Pos;
}

// ── parsing ────────────────────────────────────────────────────────────────

class Parser {
  private i = 0;
  private gateDocs: string | undefined;
  constructor(private readonly toks: Token[], private readonly file: string) {}

  private peek(offset = 0): Token {
    return this.toks[Math.min(this.i + offset, this.toks.length - 1)]!;
  }
  private next(): Token {
    const t = this.peek();
    if (t.kind !== "eof") this.i++;
    return t;
  }
  fail(at: Pos, problem: string): never {
    throw new WitError(at.file, at.line, at.column, problem);
  }
  private describe(t: Token): string {
    return t.kind === "eof" ? "the end of the file" : `'${t.text}'`;
  }
  private isPunct(p: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === "punct" && t.text === p;
  }
  private isKw(kw: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === "id" && !t.escaped && t.text === kw;
  }
  private eat(p: string): boolean {
    if (this.isPunct(p)) { this.i++; return true; }
    return false;
  }
  private expect(p: string, what = `'${p}'`): Token {
    const t = this.peek();
    if (t.kind !== "punct" || t.text !== p) this.fail(t, `expected ${what}, found ${this.describe(t)}`);
    return this.next();
  }
  private expectKw(kw: string): Token {
    const t = this.peek();
    if (!this.isKw(kw)) this.fail(t, `expected '${kw}', found ${this.describe(t)}`);
    return this.next();
  }
  /** A name that is not a keyword (unless written `%name`). */
  private name(what: string): Token {
    const t = this.peek();
    if (t.kind !== "id") this.fail(t, `expected ${what}, found ${this.describe(t)}`);
    if (!t.escaped && KEYWORDS.has(t.text)) {
      const unsupported = UNSUPPORTED.get(t.text);
      if (unsupported) this.fail(t, unsupported);
      this.fail(t, `expected ${what}, found the keyword '${t.text}' (write %${t.text} to use it as a name)`);
    }
    return this.next();
  }
  private refuseUnsupported(): void {
    const t = this.peek();
    if (t.kind === "id" && !t.escaped) {
      const unsupported = UNSUPPORTED.get(t.text);
      if (unsupported) this.fail(t, unsupported);
    }
  }

  /** Skips feature gates; true when the item they precede is `@unstable` (left out). */
  private gates(): boolean {
    let unstable = false;
    // Docs written above a gate belong to the item after it.
    this.gateDocs = this.isPunct("@") ? this.peek().docs : undefined;
    while (this.isPunct("@") && this.peek(1).kind === "id") {
      this.next();
      const gate = this.next();
      if (!["since", "unstable", "deprecated"].includes(gate.text)) this.fail(gate, `unknown feature gate '@${gate.text}' (expected @since, @unstable or @deprecated)`);
      if (gate.text === "unstable") unstable = true;
      this.expect("(");
      while (!this.isPunct(")")) {
        if (this.peek().kind === "eof") this.fail(this.peek(), "unterminated feature gate");
        this.next();
      }
      this.expect(")");
    }
    return unstable;
  }

  /** `ns:pkg` then an optional `@version`. */
  private packageName(): { name: string; version?: string; pos: Pos } {
    const ns = this.name("a package namespace");
    this.expect(":", "':' (package names are namespace:name)");
    const pkg = this.name("a package name");
    // Nested namespaces (`a:b:c`) are rare; refuse them plainly.
    if (this.isPunct(":")) this.fail(this.peek(), "nested package namespaces (a:b:c) are not supported");
    let version: string | undefined;
    if (this.eat("@")) version = this.version();
    return { name: `${ns.text}:${pkg.text}`, ...(version ? { version } : {}), pos: ns };
  }
  private version(): string {
    const t = this.peek();
    if (t.kind !== "version" || !t.text.includes(".")) this.fail(t, `expected a semver version (like 1.0.0), found ${this.describe(t)}`);
    return this.next().text;
  }

  /** An interface reference: `name`, or `ns:pkg/name[@version]`. */
  private ifaceRef(): IfaceRef {
    const first = this.name("an interface name");
    if (!this.isPunct(":")) return { pos: first, name: first.text };
    this.next();
    const pkg = this.name("a package name");
    this.expect("/", "'/' and an interface name (ns:pkg/interface)");
    const iface = this.name("an interface name");
    let version: string | undefined;
    if (this.eat("@")) version = this.version();
    return { pos: first, name: iface.text, pkg: `${first.text}:${pkg.text}`, ...(version ? { version } : {}) };
  }

  parseFile(): WitFileAst {
    const rootAliases = new Map<string, IfaceRef>();
    const rootInterfaces: InterfaceAst[] = [];
    const rootWorlds: WorldAst[] = [];
    const nested: PackageUnit[] = [];
    let root: WitFileAst["root"];
    let firstItem: Pos | undefined;
    let rootScope: FileScope | undefined;
    const scope = (): FileScope => {
      if (!rootScope) rootScope = { pkgKey: root ? pkgKey(root.name, root.version) : "", aliases: rootAliases };
      return rootScope;
    };
    // The root declaration comes first, before any item.
    while (this.peek().kind !== "eof") {
      const unstable = this.gates();
      const t = this.peek();
      if (this.isKw("package")) {
        this.next();
        const decl = this.packageName();
        if (this.eat(";")) {
          if (root) this.fail(t, `a second package declaration (${decl.name}); this file already declares ${root.name}`);
          if (firstItem || nested.length > 0) this.fail(t, "the package declaration must come first, before any interface, world, use or nested package");
          root = decl;
          continue;
        }
        if (!this.isPunct("{")) this.fail(this.peek(), `expected ';' or '{' after the package name, found ${this.describe(this.peek())}`);
        this.next();
        const unit: PackageUnit = { name: decl.name, ...(decl.version ? { version: decl.version } : {}), pos: decl.pos, interfaces: [], worlds: [] };
        const nestedScope: FileScope = { pkgKey: pkgKey(decl.name, decl.version), aliases: new Map() };
        while (!this.eat("}")) {
          if (this.peek().kind === "eof") this.fail(this.peek(), `expected '}' closing package ${decl.name}, found the end of the file`);
          const un = this.gates();
          const it = this.peek();
          if (this.isKw("interface")) { const a = this.parseInterface(nestedScope); if (!un) unit.interfaces.push(a); }
          else if (this.isKw("world")) { const w = this.parseWorld(nestedScope); if (!un) unit.worlds.push(w); }
          else if (this.isKw("package")) this.fail(it, "packages cannot be nested inside packages");
          else this.fail(it, `expected 'interface' or 'world' in package ${decl.name}, found ${this.describe(it)}`);
        }
        if (!unstable) nested.push(unit);
        continue;
      }
      firstItem ??= t;
      if (this.isKw("interface")) { const a = this.parseInterface(scope()); if (!unstable) rootInterfaces.push(a); }
      else if (this.isKw("world")) { const w = this.parseWorld(scope()); if (!unstable) rootWorlds.push(w); }
      else if (this.isKw("use")) {
        // File-level `use ns:pkg/iface[@v] [as name];` names an interface for this file.
        this.next();
        const ref = this.ifaceRef();
        if (!ref.pkg) this.fail(ref.pos, "a top-level use names an interface of another package (ns:pkg/interface)");
        let alias = ref.name;
        if (this.isKw("as")) { this.next(); alias = this.name("a name after 'as'").text; }
        this.expect(";");
        if (rootAliases.has(alias)) this.fail(ref.pos, `the name '${alias}' is already used in this file`);
        if (!unstable) rootAliases.set(alias, ref);
      } else {
        this.refuseUnsupported();
        this.fail(t, `expected 'package', 'interface', 'world' or 'use', found ${this.describe(t)}`);
      }
    }
    // Interfaces parsed before `root` was known cannot exist (the declaration comes first), so scope() is right.
    return { file: this.file, ...(root ? { root } : {}), rootInterfaces, rootWorlds, rootAliases, nested, ...(firstItem ? { firstItem } : {}) };
  }

  private parseInterface(scope: FileScope): InterfaceAst {
    const kw = this.expectKw("interface");
    const name = this.name("an interface name");
    const docs = kw.docs ?? this.gateDocs;
    const iface: InterfaceAst = { name: name.text, pos: name, ...(docs ? { docs } : {}), scope, types: new Map(), functions: [] };
    const names = new Map<string, Pos>();
    const declare = (n: string, at: Pos): void => {
      const prior = names.get(n);
      if (prior) this.fail(at, `'${n}' is defined twice in interface ${name.text} (first at ${prior.line}:${prior.column})`);
      names.set(n, at);
    };
    this.expect("{");
    while (!this.eat("}")) {
      if (this.peek().kind === "eof") this.fail(this.peek(), `expected '}' closing interface ${name.text}, found the end of the file`);
      const unstable = this.gates();
      const t = this.peek();
      if (this.isKw("use")) {
        for (const u of this.parseUse()) {
          declare(u.local, u.pos);
          if (!unstable) iface.types.set(u.local, { k: "use", from: u.from, name: u.name, pos: u.pos });
        }
      } else if (this.isKw("type") || this.isKw("record") || this.isKw("variant") || this.isKw("enum") || this.isKw("flags")) {
        const d = this.parseTypeDef();
        declare(d.name, d.pos);
        if (!unstable) iface.types.set(d.name, { k: "def", def: d.def, pos: d.pos });
      } else if (t.kind === "id" && (t.escaped || !KEYWORDS.has(t.text)) && this.isPunct(":", 1)) {
        const f = this.parseFunc();
        declare(f.name, f.pos);
        if (!unstable) iface.functions.push(f);
      } else {
        this.refuseUnsupported();
        this.fail(t, `expected a type, a use or a function (name: func(...)) in interface ${name.text}, found ${this.describe(t)}`);
      }
    }
    return iface;
  }

  /** `use path.{a, b as c};` */
  private parseUse(): { from: IfaceRef; name: string; local: string; pos: Pos }[] {
    this.expectKw("use");
    const from = this.ifaceRef();
    this.expect(".", "'.' and the names to use (use iface.{a, b})");
    this.expect("{");
    const out: { from: IfaceRef; name: string; local: string; pos: Pos }[] = [];
    do {
      if (this.isPunct("}")) break;
      const n = this.name("a type name");
      let local = n.text;
      if (this.isKw("as")) { this.next(); local = this.name("a name after 'as'").text; }
      out.push({ from, name: n.text, local, pos: n });
    } while (this.eat(","));
    this.expect("}");
    this.expect(";");
    return out;
  }

  private parseTypeDef(): { name: string; pos: Pos; def: TypeDef } {
    const kw = this.next();
    const name = this.name("a type name");
    const fail = (at: Pos, p: string): never => this.fail(at, p);
    const list = <T>(item: () => T, what: string): T[] => {
      this.expect("{");
      const items: T[] = [];
      while (!this.eat("}")) {
        items.push(item());
        if (!this.eat(",")) { this.expect("}", `',' or '}' in ${what} ${name.text}`); break; }
      }
      return items;
    };
    const unique = (names: { n: string; at: Pos }[], what: string): void => {
      const seen = new Set<string>();
      for (const { n, at } of names) {
        if (seen.has(n)) fail(at, `${what} '${n}' appears twice in ${kw.text} ${name.text}`);
        seen.add(n);
      }
    };
    switch (kw.text) {
      case "type": {
        this.expect("=");
        const target = this.parseType();
        this.expect(";");
        return { name: name.text, pos: name, def: { k: "alias", target } };
      }
      case "record": {
        const fields = list(() => {
          const f = this.name("a field name");
          this.expect(":");
          return { name: f.text, type: this.parseType(), at: f as Pos };
        }, "record");
        if (fields.length === 0) fail(name, `record ${name.text} has no fields (a record needs at least one)`);
        unique(fields.map((f) => ({ n: f.name, at: f.at })), "field");
        return { name: name.text, pos: name, def: { k: "record", fields: fields.map(({ name: n, type }) => ({ name: n, type })) } };
      }
      case "variant": {
        const cases = list(() => {
          const c = this.name("a case name");
          let type: TypeExpr | undefined;
          if (this.eat("(")) { type = this.parseType(); this.expect(")"); }
          return { name: c.text, ...(type ? { type } : {}), at: c as Pos };
        }, "variant");
        if (cases.length === 0) fail(name, `variant ${name.text} has no cases (a variant needs at least one)`);
        unique(cases.map((c) => ({ n: c.name, at: c.at })), "case");
        return { name: name.text, pos: name, def: { k: "variant", cases: cases.map(({ at: _at, ...c }) => c) } };
      }
      case "enum":
      case "flags": {
        const items = list(() => this.name(kw.text === "enum" ? "a case name" : "a flag name"), kw.text);
        if (items.length === 0) fail(name, `${kw.text} ${name.text} is empty (it needs at least one ${kw.text === "enum" ? "case" : "flag"})`);
        if (kw.text === "flags" && items.length > 32) fail(items[32]!, `flags ${name.text} has ${items.length} flags; at most 32 are allowed`);
        unique(items.map((t) => ({ n: t.text, at: t })), kw.text === "enum" ? "case" : "flag");
        const names = items.map((t) => t.text);
        return { name: name.text, pos: name, def: kw.text === "enum" ? { k: "enum", cases: names } : { k: "flags", flags: names } };
      }
      default:
        return fail(kw, `unexpected '${kw.text}'`);
    }
  }

  private parseFunc(): InterfaceAst["functions"][number] {
    const name = this.next();
    const docs = name.docs ?? this.gateDocs;
    this.expect(":");
    this.refuseUnsupported();
    const kw = this.peek();
    if (!this.isKw("func")) this.fail(kw, `expected 'func' after '${name.text}:', found ${this.describe(kw)}`);
    this.next();
    this.expect("(");
    const params: { name: string; type: TypeExpr; pos: Pos }[] = [];
    const seen = new Set<string>();
    while (!this.eat(")")) {
      const p = this.name("a parameter name");
      if (seen.has(p.text)) this.fail(p, `parameter '${p.text}' appears twice in ${name.text}`);
      seen.add(p.text);
      this.expect(":");
      params.push({ name: p.text, type: this.parseType(), pos: p });
      if (!this.eat(",")) { this.expect(")", `',' or ')' in the parameters of ${name.text}`); break; }
    }
    let result: TypeExpr | undefined;
    if (this.eat("->")) {
      if (this.isPunct("(")) this.fail(this.peek(), "named multiple results (-> (a: T, b: U)) are no longer WIT; return a tuple or a record");
      result = this.parseType();
    }
    this.expect(";");
    return { name: name.text, pos: name, ...(docs ? { docs } : {}), params, ...(result ? { result } : {}) };
  }

  private parseType(): TypeExpr {
    this.refuseUnsupported();
    const t = this.peek();
    if (t.kind !== "id") this.fail(t, `expected a type, found ${this.describe(t)}`);
    this.next();
    if (t.escaped) return { k: "named", name: t.text, pos: t };
    const prim = PRIMITIVES.get(t.text);
    if (prim) return { k: "prim", prim };
    switch (t.text) {
      case "list": {
        this.expect("<");
        const el = this.parseType();
        if (this.eat(",")) this.fail(this.peek(), "fixed-size lists (list<T, N>) are not supported yet");
        this.expect(">");
        return { k: "list", el };
      }
      case "option": {
        this.expect("<");
        const some = this.parseType();
        this.expect(">");
        return { k: "option", some };
      }
      case "result": {
        if (!this.eat("<")) return { k: "result" };
        let ok: TypeExpr | undefined;
        if (!this.eat("_")) ok = this.parseType();
        let err: TypeExpr | undefined;
        if (this.eat(",")) err = this.parseType();
        else if (!ok) this.fail(this.peek(), "result<_> has neither side: write result, or result<_, E>");
        this.expect(">");
        return { k: "result", ...(ok ? { ok } : {}), ...(err ? { err } : {}) };
      }
      case "tuple": {
        this.expect("<");
        const items: TypeExpr[] = [];
        while (!this.eat(">")) {
          items.push(this.parseType());
          if (!this.eat(",")) { this.expect(">", "',' or '>' in tuple<...>"); break; }
        }
        if (items.length === 0) this.fail(t, "tuple<> is empty (a tuple needs at least one type)");
        return { k: "tuple", items };
      }
    }
    if (KEYWORDS.has(t.text)) this.fail(t, `expected a type, found the keyword '${t.text}'`);
    return { k: "named", name: t.text, pos: t };
  }

  private parseWorld(scope: FileScope): WorldAst {
    this.expectKw("world");
    const name = this.name("a world name");
    const world: WorldAst = { name: name.text, pos: name, scope, imports: [], exports: [], includes: [] };
    this.expect("{");
    while (!this.eat("}")) {
      if (this.peek().kind === "eof") this.fail(this.peek(), `expected '}' closing world ${name.text}, found the end of the file`);
      const unstable = this.gates();
      const t = this.peek();
      if (this.isKw("import") || this.isKw("export")) {
        const dir = this.next().text;
        // `import name: func(...)` / `import name: interface { ... }` are named externs, not interfaces by id.
        if (this.peek().kind === "id" && this.isPunct(":", 1) && (this.isKw("func", 2) || this.isKw("interface", 2) || this.isKw("async", 2))) {
          this.fail(this.peek(), `world ${name.text}: a named ${dir} (${dir} ${this.peek().text}: ...) is not supported yet; define an interface and ${dir} it`);
        }
        const ref = this.ifaceRef();
        this.expect(";");
        if (!unstable) (dir === "import" ? world.imports : world.exports).push(ref);
      } else if (this.isKw("include")) {
        this.next();
        const ref = this.ifaceRef();
        // `with { a as b }` renames plain-named externs, which this model has none of.
        // `include w with { a as b }` ends at its '}' (a ';' after it is tolerated). It renames plain-named
        // imports, which this model has none of (an interface imported by id keeps its id), so any entry is refused.
        if (this.isKw("with")) {
          this.next();
          this.expect("{");
          while (!this.eat("}")) {
            const n = this.name("a name");
            this.fail(n, `include … with { ${n.text} as … }: only plain-named imports can be renamed, and those are not supported yet (an interface imported by id keeps its id)`);
            this.expectKw("as");
            this.name("a name");
            if (!this.eat(",")) { this.expect("}"); break; }
          }
          this.eat(";");
        } else this.expect(";");
        if (!unstable) world.includes.push(ref);
      } else if (this.isKw("use")) {
        this.parseUse();
      } else if (this.isKw("type") || this.isKw("record") || this.isKw("variant") || this.isKw("enum") || this.isKw("flags")) {
        // Types in a world only serve its named externs, which are refused above.
        this.parseTypeDef();
      } else {
        this.refuseUnsupported();
        this.fail(t, `expected 'import', 'export', 'include', 'use' or a type in world ${name.text}, found ${this.describe(t)}`);
      }
    }
    return world;
  }
}

function pkgKey(name: string, version?: string): string {
  return version ? `${name}@${version}` : name;
}

/** Parses one file's text into its syntax tree (no resolution: `use`s may name packages of other files). */
export function parseWitFile(source: string, file = "<inline>"): WitFileAst {
  return new Parser(lex(source, file), file).parseFile();
}

// ── resolution ─────────────────────────────────────────────────────────────

interface PackageState {
  readonly name: string;
  readonly version?: string;
  readonly pos: Pos;
  readonly interfaces: Map<string, InterfaceAst>;
  readonly worlds: Map<string, WorldAst>;
}

class Resolver {
  private readonly packages = new Map<string, PackageState>();
  private readonly resolvedTypes = new Map<InterfaceAst, Map<string, WitType>>();
  private readonly inProgress = new Set<string>();
  private readonly worldCache = new Map<WorldAst, { imports: string[]; exports: string[] }>();

  fail(at: Pos, problem: string): never {
    throw new WitError(at.file, at.line, at.column, problem);
  }

  addUnit(name: string, version: string | undefined, pos: Pos, interfaces: InterfaceAst[], worlds: WorldAst[]): void {
    const key = pkgKey(name, version);
    let pkg = this.packages.get(key);
    if (!pkg) {
      pkg = { name, ...(version ? { version } : {}), pos, interfaces: new Map(), worlds: new Map() };
      this.packages.set(key, pkg);
    }
    for (const i of interfaces) {
      const prior = pkg.interfaces.get(i.name) ?? pkg.worlds.get(i.name);
      if (prior) this.fail(i.pos, `package ${key} defines '${i.name}' twice (also at ${prior.pos.file}:${prior.pos.line}:${prior.pos.column})`);
      pkg.interfaces.set(i.name, i);
    }
    for (const w of worlds) {
      const prior = pkg.interfaces.get(w.name) ?? pkg.worlds.get(w.name);
      if (prior) this.fail(w.pos, `package ${key} defines '${w.name}' twice (also at ${prior.pos.file}:${prior.pos.line}:${prior.pos.column})`);
      pkg.worlds.set(w.name, w);
    }
  }

  /** The package a full reference names: exact version, or the only (else newest) one when none is given. */
  private findPackage(ref: IfaceRef): PackageState {
    const name = ref.pkg!;
    if (ref.version) {
      const pkg = this.packages.get(pkgKey(name, ref.version));
      if (pkg) return pkg;
    }
    const candidates = [...this.packages.values()].filter((p) => p.name === name);
    if (!ref.version && candidates.length > 0) {
      return candidates.sort((a, b) => compareVersions(b.version ?? "0.0.0", a.version ?? "0.0.0"))[0]!;
    }
    const have = candidates.map((p) => pkgKey(p.name, p.version)).join(", ");
    return this.fail(
      ref.pos,
      candidates.length > 0
        ? `package ${pkgKey(name, ref.version)} is not loaded (there is ${have})`
        : `unknown package ${pkgKey(name, ref.version)}: load its WIT too (a nested package block, or a deps/ folder next to this one)`,
    );
  }

  private lookup(ref: IfaceRef, scope: FileScope, what: "interface" | "world"): { pkg: PackageState; iface?: InterfaceAst; world?: WorldAst } {
    let full: IfaceRef = ref;
    if (!ref.pkg) {
      const alias = scope.aliases.get(ref.name);
      if (alias) full = { ...alias, pos: ref.pos };
    }
    const pkg = full.pkg ? this.findPackage(full) : this.packages.get(scope.pkgKey);
    if (!pkg) return this.fail(ref.pos, `'${ref.name}' cannot be resolved: this file has no package declaration`);
    if (what === "interface") {
      const iface = pkg.interfaces.get(full.name);
      if (!iface) {
        const hint = pkg.worlds.has(full.name) ? ` ('${full.name}' is a world)` : "";
        return this.fail(ref.pos, `unknown interface '${full.name}' in package ${pkgKey(pkg.name, pkg.version)}${hint}`);
      }
      return { pkg, iface };
    }
    const world = pkg.worlds.get(full.name);
    if (!world) return this.fail(ref.pos, `unknown world '${full.name}' in package ${pkgKey(pkg.name, pkg.version)}`);
    return { pkg, world };
  }

  private ifaceKey(iface: InterfaceAst): string {
    return `${iface.scope.pkgKey}/${iface.name}`;
  }

  /** A named type of an interface, resolved (following `use`s and aliases). */
  private named(iface: InterfaceAst, name: string, at: Pos): WitType {
    let cache = this.resolvedTypes.get(iface);
    if (!cache) this.resolvedTypes.set(iface, (cache = new Map()));
    const done = cache.get(name);
    if (done) return done;
    const item = iface.types.get(name);
    const hint = name === "float32" ? " (write f32)" : name === "float64" ? " (write f64)" : "";
    if (!item) return this.fail(at, `unknown type '${name}' in interface ${iface.name}${hint}`);
    const key = `${this.ifaceKey(iface)}#${name}`;
    if (this.inProgress.has(key)) return this.fail(at, `type '${name}' refers to itself (recursive types are not WIT)`);
    this.inProgress.add(key);
    let type: WitType;
    if (item.k === "use") {
      const { iface: from } = this.lookup(item.from, iface.scope, "interface");
      if (!from!.types.has(item.name)) this.fail(item.pos, `interface ${from!.name} has no type '${item.name}'`);
      type = this.named(from!, item.name, item.pos);
    } else {
      type = this.def(iface, name, item.def);
    }
    this.inProgress.delete(key);
    cache.set(name, type);
    return type;
  }

  private def(iface: InterfaceAst, name: string, def: TypeDef): WitType {
    switch (def.k) {
      case "alias":
        return this.type(iface, def.target);
      case "record":
        return { kind: "record", name, fields: def.fields.map((f): WitField => ({ name: f.name, type: this.type(iface, f.type) })) };
      case "variant":
        return { kind: "variant", name, cases: def.cases.map((c): WitCase => (c.type ? { name: c.name, type: this.type(iface, c.type) } : { name: c.name })) };
      case "enum":
        return { kind: "enum", name, cases: [...def.cases] };
      case "flags":
        return { kind: "flags", name, flags: [...def.flags] };
    }
  }

  private type(iface: InterfaceAst, t: TypeExpr): WitType {
    switch (t.k) {
      case "prim":
        return { kind: t.prim };
      case "list":
        return { kind: "list", element: this.type(iface, t.el) };
      case "option":
        return { kind: "option", some: this.type(iface, t.some) };
      case "result":
        return { kind: "result", ...(t.ok ? { ok: this.type(iface, t.ok) } : {}), ...(t.err ? { err: this.type(iface, t.err) } : {}) };
      case "tuple":
        return { kind: "tuple", items: t.items.map((x) => this.type(iface, x)) };
      case "named":
        return this.named(iface, t.name, t.pos);
    }
  }

  private resolveInterface(pkg: PackageState, ast: InterfaceAst): WitInterface {
    const types = new Map<string, WitType>();
    for (const [name, item] of ast.types) types.set(name, this.named(ast, name, item.pos));
    const functions = ast.functions.map(
      (f): WitFunction => ({
        name: f.name,
        params: f.params.map((p): WitParam => ({ name: p.name, type: this.type(ast, p.type) })),
        ...(f.result ? { result: this.type(ast, f.result) } : {}),
        ...(f.docs ? { docs: f.docs } : {}),
      }),
    );
    return { package: pkg.name, name: ast.name, ...(pkg.version ? { version: pkg.version } : {}), types, functions, ...(ast.docs ? { docs: ast.docs } : {}) };
  }

  private idOf(pkg: PackageState, name: string): string {
    return interfaceId({ package: pkg.name, name, ...(pkg.version ? { version: pkg.version } : {}) });
  }

  private resolveWorld(world: WorldAst, stack: WorldAst[] = []): { imports: string[]; exports: string[] } {
    const done = this.worldCache.get(world);
    if (done) return done;
    if (stack.includes(world)) this.fail(world.pos, `world ${world.name} includes itself`);
    const imports: string[] = [];
    const exports: string[] = [];
    const add = (list: string[], id: string): void => {
      if (!list.includes(id)) list.push(id);
    };
    for (const inc of world.includes) {
      const { world: w } = this.lookup(inc, world.scope, "world");
      const sub = this.resolveWorld(w!, [...stack, world]);
      sub.imports.forEach((id) => add(imports, id));
      sub.exports.forEach((id) => add(exports, id));
    }
    for (const [refs, list] of [[world.imports, imports], [world.exports, exports]] as const) {
      for (const ref of refs) {
        const { pkg, iface } = this.lookup(ref, world.scope, "interface");
        add(list, this.idOf(pkg, iface!.name));
      }
    }
    const out = { imports, exports };
    this.worldCache.set(world, out);
    return out;
  }

  resolveAll(): WitPackage[] {
    const out: WitPackage[] = [];
    for (const pkg of this.packages.values()) {
      const interfaces = [...pkg.interfaces.values()].map((i) => this.resolveInterface(pkg, i));
      const worlds = [...pkg.worlds.values()].map((w): WitWorld => ({ name: w.name, ...this.resolveWorld(w) }));
      out.push({ name: pkg.name, ...(pkg.version ? { version: pkg.version } : {}), interfaces, worlds });
    }
    return out;
  }
}

/**
 * Resolves parsed files as one parse set. Each group is one package directory: its files' root items form one
 * package (their declarations must agree, and one must exist when there are root items); nested blocks form their
 * own packages; `use`s and world references may cross any of them. Packages come back in order of first appearance.
 */
export function resolveWitGroups(groups: readonly (readonly WitFileAst[])[]): WitPackage[] {
  const resolver = new Resolver();
  for (const files of groups) {
    const declared = files.find((f) => f.root)?.root;
    for (const f of files) {
      if (f.root && declared && (f.root.name !== declared.name || f.root.version !== declared.version)) {
        resolver.fail(f.root.pos, `this file declares package ${pkgKey(f.root.name, f.root.version)}, ${files.find((g) => g.root)!.file} declares ${pkgKey(declared.name, declared.version)}; the .wit files of one folder form one package`);
      }
    }
    for (const f of files) {
      const hasItems = f.rootInterfaces.length + f.rootWorlds.length + f.rootAliases.size > 0;
      if (hasItems && !declared) resolver.fail(f.firstItem!, "no package declaration: start the file with `package namespace:name@1.0.0;`");
      if (declared && (f.root || hasItems)) {
        // A file without its own declaration shares its folder's package: its items resolve there.
        if (!f.root) {
          const key = pkgKey(declared.name, declared.version);
          for (const i of f.rootInterfaces) (i.scope as { pkgKey: string }).pkgKey = key;
          for (const w of f.rootWorlds) (w.scope as { pkgKey: string }).pkgKey = key;
        }
        resolver.addUnit(declared.name, declared.version, f.root?.pos ?? f.firstItem!, f.rootInterfaces, f.rootWorlds);
      }
      for (const n of f.nested) resolver.addUnit(n.name, n.version, n.pos, n.interfaces, n.worlds);
    }
  }
  return resolver.resolveAll();
}

/** Resolves parsed files that form one package (with any nested packages); see `resolveWitGroups`. */
export function resolveWitFiles(files: readonly WitFileAst[]): WitPackage[] {
  return resolveWitGroups([files]);
}

/**
 * Parses WIT text: the package it declares and any nested `package x:y@v { … }` blocks, with every type resolved.
 * `use` may name interfaces of any package in the text. Throws a `WitError` (file, line, column) on anything it
 * cannot parse or resolve, including resources, handles, async, streams and futures (not supported yet).
 *
 * @param source the WIT text
 * @param file the name errors give for it
 */
export function parseWit(source: string, file = "<inline>"): WitPackage[] {
  return resolveWitFiles([parseWitFile(source, file)]);
}

/**
 * Finds an interface by id in parsed packages: `ns:pkg/name@1.2.3` matches that version exactly; `ns:pkg/name`
 * matches any version (the newest when several are loaded). Undefined when there is none.
 */
export function resolveInterface(packages: readonly WitPackage[], id: string): WitInterface | undefined {
  const at = id.indexOf("@");
  const version = at < 0 ? undefined : id.slice(at + 1);
  const bare = unversionedId(id);
  const slash = bare.lastIndexOf("/");
  if (slash < 0) return undefined;
  const pkgName = bare.slice(0, slash);
  const name = bare.slice(slash + 1);
  let best: WitInterface | undefined;
  for (const pkg of packages) {
    if (pkg.name !== pkgName) continue;
    if (version !== undefined && pkg.version !== version) continue;
    const iface = pkg.interfaces.find((i) => i.name === name);
    if (iface && (!best || compareVersions(iface.version ?? "0.0.0", best.version ?? "0.0.0") > 0)) best = iface;
  }
  return best;
}
