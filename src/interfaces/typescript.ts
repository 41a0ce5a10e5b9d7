/**
 * TypeScript declarations for app-defined interfaces (`plughost types`, docs/host-interfaces.md): the types a WIT
 * interface's values have in JS under plughost's value convention (interfaces/types.ts), the shape of an
 * implementation object for `registry.provide`, and the shape of a plugin's typed export as `handle.call` sees it.
 */
import type { WitFunction, WitInterface, WitType } from "./types.js";
import { interfaceId, jsName } from "./types.js";

/** `get-user` → `GetUser`. */
function pascal(witName: string): string {
  const camel = jsName(witName);
  return camel.charAt(0).toUpperCase() + camel.slice(1);
}

// Names a parameter cannot take in TypeScript (strict mode reserved words); they get a trailing `_`.
const RESERVED = new Set(
  ("break case catch class const continue debugger default delete do else enum export extends false finally for function if " +
    "import in instanceof new null return super switch this throw true try typeof var void while with yield let static " +
    "implements interface package private protected public await arguments eval").split(" "),
);

function paramName(witName: string): string {
  const n = jsName(witName);
  return RESERVED.has(n) ? `${n}_` : n;
}

/** A property key: bare when it is an identifier, quoted otherwise. */
function key(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name);
}

function jsDoc(docs: string | undefined, indent: string): string {
  if (!docs) return "";
  const lines = docs.replace(/\*\//g, "*\\/").split("\n");
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} *${l ? ` ${l}` : ""}`).join("\n")}\n${indent} */\n`;
}

type NamedType = Extract<WitType, { name: string }>;

function isNamed(t: WitType): t is NamedType {
  return t.kind === "record" || t.kind === "variant" || t.kind === "enum" || t.kind === "flags";
}

/** Gives each distinct named WIT type (by identity) one TypeScript name, unique in the module. */
class Namer {
  private readonly names = new Map<NamedType, string>();
  private readonly taken = new Set<string>();
  readonly order: NamedType[] = [];

  reserve(name: string): string {
    let n = name;
    for (let i = 2; this.taken.has(n); i++) n = `${name}${i}`;
    this.taken.add(n);
    return n;
  }
  /** The type's TS name, declaring it (and what it refers to, first) on first sight. */
  name(t: NamedType): string {
    const known = this.names.get(t);
    if (known) return known;
    const n = this.reserve(pascal(t.name));
    this.names.set(t, n);
    // Dependencies first, so the module reads top-down.
    const visit = (x: WitType): void => void this.walk(x);
    if (t.kind === "record") t.fields.forEach((f) => visit(f.type));
    if (t.kind === "variant") t.cases.forEach((c) => c.type && visit(c.type));
    this.order.push(t);
    return n;
  }
  walk(t: WitType): void {
    if (isNamed(t)) this.name(t);
    else if (t.kind === "list") this.walk(t.element);
    else if (t.kind === "option") this.walk(t.some);
    else if (t.kind === "result") { if (t.ok) this.walk(t.ok); if (t.err) this.walk(t.err); }
    else if (t.kind === "tuple") t.items.forEach((x) => this.walk(x));
  }
}

/** The TypeScript type of a WIT value, per the value convention. */
function tsType(t: WitType, namer: Namer): string {
  switch (t.kind) {
    case "bool":
      return "boolean";
    case "u8": case "u16": case "u32": case "s8": case "s16": case "s32": case "f32": case "f64":
      return "number";
    case "u64": case "s64":
      return "bigint";
    case "char": case "string":
      return "string";
    case "list":
      return t.element.kind === "u8" ? "Uint8Array" : `Array<${tsType(t.element, namer)}>`;
    case "tuple":
      return `[${t.items.map((x) => tsType(x, namer)).join(", ")}]`;
    case "option":
      // `undefined` is the outer none; a nested option's own none needs a tag to stay distinct.
      return t.some.kind === "option"
        ? `{ tag: "some"; val: ${tsType(t.some.some, namer)} } | { tag: "none" } | undefined`
        : `${tsType(t.some, namer)} | undefined`;
    case "result": {
      const side = (tag: string, x: WitType | undefined): string => (x ? `{ tag: "${tag}"; val: ${tsType(x, namer)} }` : `{ tag: "${tag}" }`);
      return `${side("ok", t.ok)} | ${side("err", t.err)}`;
    }
    case "record": case "variant": case "enum": case "flags":
      return namer.name(t);
  }
}

function declareNamed(t: NamedType, namer: Namer): string {
  const n = namer.name(t);
  switch (t.kind) {
    case "record":
      return `export interface ${n} {\n${t.fields.map((f) => `  ${key(jsName(f.name))}: ${tsType(f.type, namer)};`).join("\n")}\n}\n`;
    case "variant":
      return `export type ${n} =\n${t.cases.map((c) => `  | { tag: ${JSON.stringify(c.name)}${c.type ? `; val: ${tsType(c.type, namer)}` : ""} }`).join("\n")};\n`;
    case "enum":
      return `export type ${n} = ${t.cases.map((c) => JSON.stringify(c)).join(" | ")};\n`;
    case "flags":
      return `/** An absent flag is false. */\nexport interface ${n} {\n${t.flags.map((f) => `  ${key(jsName(f))}?: boolean;`).join("\n")}\n}\n`;
  }
}

function signature(fn: WitFunction, namer: Namer): { params: string; result: string } {
  const params = fn.params.map((p) => `${paramName(p.name)}: ${tsType(p.type, namer)}`).join(", ");
  return { params, result: fn.result ? tsType(fn.result, namer) : "void" };
}

/**
 * One TypeScript module declaring several interfaces; types they share (one `use`s another's) are declared once.
 * Each interface gets `<Name>Implementation` (for `registry.provide`) and `<Name>Exports` (a plugin's export, as
 * `handle.call` returns it: every result a Promise).
 */
export function interfacesDeclarations(ifaces: readonly WitInterface[]): string {
  const namer = new Namer();
  // The globals the declarations use: a WIT type named `array` must not shadow them.
  for (const g of ["Array", "Promise", "Uint8Array"]) namer.reserve(g);
  // Interface-level names first so types cannot take them.
  const ifaceNames = ifaces.map((i) => ({ impl: namer.reserve(`${pascal(i.name)}Implementation`), exp: namer.reserve(`${pascal(i.name)}Exports`) }));
  const aliases: string[] = [];
  for (const iface of ifaces) {
    for (const [witName, t] of iface.types) {
      namer.walk(t);
      // `type x = …` and `use … as x` name a type differently from its definition: say so with an alias.
      if (!isNamed(t) || t.name !== witName) aliases.push(`export type ${namer.reserve(pascal(witName))} = ${tsType(t, namer)};\n`);
    }
    for (const fn of iface.functions) {
      fn.params.forEach((p) => namer.walk(p.type));
      if (fn.result) namer.walk(fn.result);
    }
  }
  const out: string[] = [`// Generated by \`plughost types\` from ${ifaces.map((i) => interfaceId(i)).join(", ")}. Do not edit.\n`];
  for (const t of namer.order) out.push(declareNamed(t, namer));
  out.push(...aliases);
  ifaces.forEach((iface, k) => {
    const id = interfaceId(iface);
    const fns = iface.functions.map((fn) => ({ fn, sig: signature(fn, namer) }));
    const doc = iface.docs ? `${iface.docs}\n\n` : "";
    out.push(
      `${jsDoc(`${doc}An implementation of \`${id}\` for \`registry.provide\`: a function per WIT function, by its JS name.`, "")}` +
        `export interface ${ifaceNames[k]!.impl} {\n` +
        // Properties, not methods: function-typed properties are checked strictly (a method's parameters are bivariant).
        fns.map(({ fn, sig }) => `${jsDoc(fn.docs, "  ")}  ${key(jsName(fn.name))}: (${sig.params}) => ${sig.result} | Promise<${sig.result}>;\n`).join("") +
        `}\n`,
    );
    out.push(
      `${jsDoc(`${doc}A plugin's export of \`${id}\`, as \`handle.call\` returns it.`, "")}` +
        `export interface ${ifaceNames[k]!.exp} {\n` +
        fns.map(({ fn, sig }) => `${jsDoc(fn.docs, "  ")}  ${key(jsName(fn.name))}(${sig.params}): Promise<${sig.result}>;\n`).join("") +
        `}\n`,
    );
  });
  return out.join("\n");
}

/**
 * A TypeScript module for one interface: its record, variant, enum and flags types, `<Name>Implementation` (what
 * `registry.provide` takes: each function may return its result or a Promise of it) and `<Name>Exports` (a plugin's
 * export as `handle.call` returns it). `///` docs become JSDoc.
 */
export function interfaceDeclarations(iface: WitInterface): string {
  return interfacesDeclarations([iface]);
}
