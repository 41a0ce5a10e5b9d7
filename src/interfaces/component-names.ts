/**
 * The top-level import and export names of a Wasm component binary, read without compiling or instantiating it.
 *
 * The registry needs them before an engine sees the plugin: which app interfaces (`acme:app/calc@1.0.0`) the
 * component imports (each must be granted and provided) and exports (each may be called typed). Only the outer
 * component's import section (id 10) and export section (id 11) are read; nested components and modules are skipped
 * by their section sizes. The input is untrusted: every length is checked against what is left, counts and names
 * are bounded, names must be UTF-8, and anything malformed is an `InvalidPluginBinary`, never a crash or a long loop.
 */
import { InvalidPluginBinary, type ErrorDetails } from "../contract/errors.js";

/** What a component import or export is (the component model's `sort`). */
export type ComponentItemKind = "core-module" | "func" | "value" | "type" | "component" | "instance" | "core";

/** One top-level import or export. */
export interface ComponentItem {
  /** As the binary spells it: `acme:app/calc@1.0.0`, `wasi:cli/stderr@0.2.0`, `run`. */
  readonly name: string;
  readonly kind: ComponentItemKind;
  /**
   * For an imported instance whose type the binary defines in its type section: the names of the functions it
   * exports (WIT function names; empty for an interface of types only, such as one a world pulls in for `use`).
   * Undefined when the type could not be followed.
   */
  readonly functions?: readonly string[];
}

/** A component's top-level imports and exports, in binary order. */
export interface ComponentNames {
  readonly imports: readonly ComponentItem[];
  readonly exports: readonly ComponentItem[];
}

/** Bounds on what `componentNames` accepts (a real component has tens of imports with short names). */
export const COMPONENT_NAME_BOUNDS = Object.freeze({
  /** Imports plus exports over all top-level sections. */
  items: 10_000,
  /** Bytes of one name. */
  nameBytes: 4096,
});

const PREAMBLE = [0x00, 0x61, 0x73, 0x6d] as const;
const SECTION_ALIAS = 6;
const SECTION_TYPE = 7;
const SECTION_IMPORT = 10;
const SECTION_EXPORT = 11;
/** Nesting of types inside types that `skipDefType` follows (wit-component nests two levels). */
const MAX_TYPE_DEPTH = 32;
const utf8 = new TextDecoder("utf-8", { fatal: true });

const EXTERN_KINDS: readonly ComponentItemKind[] = ["core-module", "func", "value", "type", "component", "instance"];

/** A bounded reader over one byte range; every read that would pass `end` fails the parse. */
class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
    readonly fail: (why: string) => never,
  ) {
    this.pos = start;
  }

  byte(what: string): number {
    if (this.pos >= this.end) this.fail(`truncated: ${what} runs past the end of its section`);
    return this.bytes[this.pos++]!;
  }

  /** An unsigned LEB128 of at most 32 bits (5 bytes). */
  u32(what: string): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte(what);
      if (shift === 28 && (b & 0x70) !== 0) this.fail(`${what} does not fit in 32 bits`);
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    return this.fail(`${what} is an over-long LEB128 number`);
  }

  /** Any LEB128 of at most 5 bytes (signed s33 type indexes and primitive value types are skipped this way). */
  skipLeb(what: string): void {
    for (let i = 0; i < 5; i++) if ((this.byte(what) & 0x80) === 0) return;
    this.fail(`${what} is an over-long LEB128 number`);
  }

  name(what: string): string {
    const len = this.u32(`${what}'s length`);
    if (len > COMPONENT_NAME_BOUNDS.nameBytes) this.fail(`${what} is ${len} bytes long (at most ${COMPONENT_NAME_BOUNDS.nameBytes})`);
    if (len > this.end - this.pos) this.fail(`truncated: ${what} (${len} bytes) runs past the end of its section`);
    const start = this.pos;
    this.pos += len;
    // ASCII, which toolchains write, reads the same as UTF-8: built here, without a view and a decoder call, whose
    // fixed costs were most of the parse (a load reads every name of the component's types).
    const b = this.bytes;
    let text = "";
    for (let i = start; i < start + len; i++) {
      const c = b[i]!;
      if (c > 0x7f) {
        text = "";
        break;
      }
      text += String.fromCharCode(c);
    }
    if (text.length === len) return text;
    try {
      return utf8.decode(b.subarray(start, start + len));
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }
}

/**
 * Read a component's top-level import and export names.
 * @param bytes The component binary.
 * @param file The file it came from, for the error (`InvalidPluginBinary.file`).
 * @param details The plugin, for the error.
 * @throws {@link InvalidPluginBinary} when the bytes are not a component (a core module, another format), or its
 *   sections are truncated, over-long, or hold malformed names.
 * @example
 *   componentNames(bytes).imports.map((i) => i.name); // ["acme:app/calc@1.0.0", "plughost:plugin/host@<API version>"]
 */
export function componentNames(bytes: Uint8Array, file = "<component>", details: ErrorDetails = {}): ComponentNames {
  return readNames(bytes, file, details, true);
}

/**
 * The component's names and `appInterfaces` of them, reading the type sections only when the component imports an
 * instance named like an app interface (its functions tell whether it is one to provide, and are in `names` then).
 * Most plugins import only plughost's and WASI's interfaces, and the types are most of a component's names: a load
 * reads them only when they matter.
 * @throws {@link InvalidPluginBinary} as `componentNames` does, for the sections it reads.
 */
export function componentAppInterfaces(bytes: Uint8Array, file = "<component>", details: ErrorDetails = {}): { names: ComponentNames; imports: string[]; exports: string[] } {
  const first = readNames(bytes, file, details, false);
  const names = first.imports.some(isAppInterface) ? readNames(bytes, file, details, true) : first;
  return { names, ...appInterfaces(names) };
}

/** `componentNames`; without `withTypes` the type and alias sections are skipped and no import has `functions`. */
function readNames(bytes: Uint8Array, file: string, details: ErrorDetails, withTypes: boolean): ComponentNames {
  // The same words as the engines' own checks (engines/v8/compile.ts), whichever reads the bytes first.
  const refuse = (what: string): never => {
    throw new InvalidPluginBinary(file, what, details);
  };
  const fail = (why: string): never => refuse(`not a valid component: ${why}; rebuild the plugin as a Wasm component`);
  if (!(bytes instanceof Uint8Array)) fail("the entry is not bytes");
  if (bytes.length < 8 || PREAMBLE.some((b, i) => bytes[i] !== b)) refuse("not a WebAssembly binary (no \\0asm header); the entry must be a .wasm component");
  // Version 0x0d, layer 1: a component. Layer 0 is a core module, which has no component imports.
  if (bytes[6] === 0x00 && bytes[7] === 0x00)
    refuse("is a core WebAssembly module, not a component; wrap it with `wasm-tools component new` (the SDK build scripts do this)");
  if (bytes[6] !== 0x01 || bytes[7] !== 0x00) fail("its layer field is not a component's");
  const imports: ComponentItem[] = [];
  const exports: ComponentItem[] = [];
  // The component-level type index space, as far as it matters here: an instance type's function names, else undefined.
  const types: (readonly string[] | undefined)[] = [];
  const top = new Reader(bytes, 8, bytes.length, fail);
  while (top.pos < top.end) {
    const id = top.byte("a section id");
    const size = top.u32("a section's size");
    if (size > top.end - top.pos) fail(`truncated: section ${id} claims ${size} bytes, ${top.end - top.pos} are left`);
    const end = top.pos + size;
    if (id === SECTION_IMPORT || id === SECTION_EXPORT) {
      const r = new Reader(bytes, top.pos, end, fail);
      const count = r.u32("the item count");
      // Each item takes at least 3 bytes, so a count beyond that is a lie: refused before looping over it.
      if (count > (end - r.pos) / 3 || imports.length + exports.length + count > COMPONENT_NAME_BOUNDS.items) {
        fail(`section ${id} claims ${count} items, more than it can hold or than ${COMPONENT_NAME_BOUNDS.items} in all`);
      }
      for (let i = 0; i < count; i++) {
        if (id === SECTION_IMPORT) {
          const item = readImport(r);
          if (item.kind === "type") types.push(undefined);
          imports.push(item.kind === "instance" && item.typeIndex !== undefined && types[item.typeIndex] !== undefined ? { name: item.name, kind: item.kind, functions: types[item.typeIndex]! } : { name: item.name, kind: item.kind });
        } else {
          const item = readExport(r);
          if (item.kind === "type") types.push(undefined);
          exports.push(item);
        }
      }
      if (r.pos !== end) fail(`section ${id} has ${end - r.pos} bytes after its last item`);
    } else if (withTypes && (id === SECTION_TYPE || id === SECTION_ALIAS)) {
      readTypeSpace(new Reader(bytes, top.pos, end, fail), id, types);
    }
    top.pos = end;
  }
  return { imports, exports };
}

/** `importname'` / `exportname'`: a discriminant byte (0x00; 0x01 in older binaries, read the same) and the name. */
function itemName(r: Reader, what: string): string {
  const tag = r.byte(`${what}'s discriminant`);
  if (tag !== 0x00 && tag !== 0x01) r.fail(`${what} has discriminant 0x${tag.toString(16)} (0x00 or 0x01 expected)`);
  return r.name(what);
}

/** `externdesc`: what is imported, with its type bound; the kind is kept, and the type index of an instance. */
function externDesc(r: Reader, what: string): { kind: ComponentItemKind; typeIndex?: number } {
  const tag = r.byte(`${what}'s kind`);
  switch (tag) {
    case 0x00:
      if (r.byte(`${what}'s core sort`) !== 0x11) r.fail(`${what} is a core item other than a module`);
      r.u32(`${what}'s type index`);
      break;
    case 0x05:
      return { kind: "instance", typeIndex: r.u32(`${what}'s type index`) };
    case 0x01:
    case 0x04:
      r.u32(`${what}'s type index`);
      break;
    case 0x02: {
      const bound = r.byte(`${what}'s value bound`);
      if (bound === 0x00) r.u32(`${what}'s value index`);
      else if (bound === 0x01) r.skipLeb(`${what}'s value type`);
      else r.fail(`${what} has value bound 0x${bound.toString(16)}`);
      break;
    }
    case 0x03: {
      const bound = r.byte(`${what}'s type bound`);
      if (bound === 0x00) r.u32(`${what}'s type index`);
      else if (bound !== 0x01) r.fail(`${what} has type bound 0x${bound.toString(16)}`);
      break;
    }
    default:
      r.fail(`${what} has kind 0x${tag.toString(16)}`);
  }
  return { kind: EXTERN_KINDS[tag]! };
}

function readImport(r: Reader): { name: string; kind: ComponentItemKind; typeIndex?: number } {
  const name = itemName(r, "an import name");
  return { name, ...externDesc(r, `import "${name}"`) };
}

function readExport(r: Reader): ComponentItem {
  const name = itemName(r, "an export name");
  const sort = r.byte(`export "${name}"'s sort`);
  let kind: ComponentItemKind;
  if (sort === 0x00) {
    r.byte(`export "${name}"'s core sort`);
    kind = "core";
  } else if (sort >= 0x01 && sort <= 0x05) {
    kind = EXTERN_KINDS[sort]!;
  } else {
    return r.fail(`export "${name}" has sort 0x${sort.toString(16)}`);
  }
  r.u32(`export "${name}"'s index`);
  const ascribed = r.byte(`export "${name}"'s type ascription flag`);
  if (ascribed === 0x01) externDesc(r, `export "${name}"'s ascribed type`);
  else if (ascribed !== 0x00) r.fail(`export "${name}" has type ascription flag 0x${ascribed.toString(16)}`);
  return { name, kind };
}

const INTERFACE_NAME = /^[a-zA-Z%][a-zA-Z0-9-]*(?::[a-zA-Z%][a-zA-Z0-9-]*)+\/[a-zA-Z%][a-zA-Z0-9-]*(?:@[0-9A-Za-z.+-]+)?$/;

/** Whether an import or export is an application's interface: an instance named `ns:pkg/name[@version]`, neither plughost's nor WASI's. */
export function isAppInterface(item: ComponentItem): boolean {
  return item.kind === "instance" && INTERFACE_NAME.test(item.name) && !item.name.startsWith("plughost:") && !item.name.startsWith("wasi:");
}

/**
 * The app interfaces a component imports and exports (versioned ids as the binary names them). An imported interface
 * of types only (no functions: one a world pulls in for its `use`d types) needs no provider and is left out.
 */
export function appInterfaces(names: ComponentNames): { imports: string[]; exports: string[] } {
  return {
    imports: names.imports.filter((i) => isAppInterface(i) && i.functions?.length !== 0).map((i) => i.name),
    exports: names.exports.filter(isAppInterface).map((i) => i.name),
  };
}

// ── the type index space ────────────────────────────────────────────────────
// Only instance types matter (an imported interface's function names); every other type is skipped by its
// encoding. A type this reader does not know (a newer encoding) leaves the rest of its section unknown: indexes
// stay aligned because the section's count is known, and an unknown instance type only means `functions` is unset.

/** A parse that gave up on a type: the caller marks what is left unknown. */
class UnknownType extends Error {}

function readTypeSpace(r: Reader, id: number, types: (readonly string[] | undefined)[]): void {
  const count = r.u32("the item count");
  if (count > r.end - r.pos || types.length + count > COMPONENT_NAME_BOUNDS.items * 10) r.fail(`section ${id} claims ${count} items, more than it can hold`);
  for (let i = 0; i < count; i++) {
    try {
      if (id === SECTION_TYPE) types.push(readDefType(r, 0));
      else if (readAlias(r) === 0x03) types.push(undefined);
    } catch (err) {
      if (!(err instanceof UnknownType)) throw err;
      if (id === SECTION_TYPE) for (let j = i; j < count; j++) types.push(undefined);
      else for (let j = i; j < count; j++) types.push(undefined); // which of the rest alias types is unknown: assume all
      return;
    }
  }
}

const unknown = (): never => {
  throw new UnknownType();
};

/** One `deftype`; returns the function names when it is an instance type. */
function readDefType(r: Reader, depth: number): readonly string[] | undefined {
  if (depth > MAX_TYPE_DEPTH) unknown();
  const tag = r.byte("a type");
  switch (tag) {
    case 0x40: // func
    case 0x43: // async func
      skipVec(r, () => {
        r.name("a parameter name");
        r.skipLeb("a parameter type");
      });
      if (r.byte("a result list") === 0x00) r.skipLeb("a result type");
      else
        skipVec(r, () => {
          r.name("a result name");
          r.skipLeb("a result type");
        });
      return undefined;
    case 0x41: // component type
      skipVec(r, () => {
        const d = r.byte("a component declaration");
        if (d === 0x03) {
          itemName(r, "an import name");
          externDesc(r, "an import");
        } else instanceDecl(r, d, depth, undefined);
      });
      return undefined;
    case 0x42: {
      const functions: string[] = [];
      skipVec(r, () => instanceDecl(r, r.byte("an instance declaration"), depth, functions));
      return functions;
    }
    case 0x3f: // resource (dtor)
      if (r.byte("a resource representation") !== 0x7f) unknown();
      optional(r, () => r.u32("a destructor index"));
      return undefined;
    default:
      skipValType(r, tag, depth);
      return undefined;
  }
}

function instanceDecl(r: Reader, d: number, depth: number, functions: string[] | undefined): void {
  switch (d) {
    case 0x01:
      readDefType(r, depth + 1);
      return;
    case 0x02:
      readAlias(r);
      return;
    case 0x04: {
      const name = itemName(r, "an export name");
      if (externDesc(r, `export "${name}"`).kind === "func") functions?.push(name);
      return;
    }
    default:
      unknown(); // core types inside an instance type: not made by wit-component
  }
}

/** A `defvaltype` whose tag is read; primitives are single bytes. */
function skipValType(r: Reader, tag: number, depth: number): void {
  if ((tag >= 0x73 && tag <= 0x7f) || tag === 0x64) return; // bool … string, error-context
  if (depth > MAX_TYPE_DEPTH) unknown();
  const valType = () => r.skipLeb("a value type");
  switch (tag) {
    case 0x72: // record
      return skipVec(r, () => {
        r.name("a field name");
        valType();
      });
    case 0x71: // variant
      return skipVec(r, () => {
        r.name("a case name");
        optional(r, valType);
        if (r.byte("a case's refinement") === 0x01) r.u32("a refined case");
      });
    case 0x70: // list
    case 0x6b: // option
      return valType();
    case 0x67: // fixed-size list
      valType();
      r.u32("a list length");
      return;
    case 0x6f: // tuple
    case 0x6c: // union (old binaries)
      return skipVec(r, valType);
    case 0x6e: // flags
    case 0x6d: // enum
      return skipVec(r, () => void r.name("a label"));
    case 0x6a: // result
      optional(r, valType);
      optional(r, valType);
      return;
    case 0x69: // own
    case 0x68: // borrow
      r.u32("a resource type index");
      return;
    case 0x66: // stream
    case 0x65: // future
      optional(r, valType);
      return;
    default:
      unknown();
  }
}

/** `alias`: returns its sort byte (0x03 for a type). */
function readAlias(r: Reader): number {
  const sort = r.byte("an alias sort");
  if (sort === 0x00) r.byte("an alias core sort");
  else if (sort > 0x05) unknown();
  const target = r.byte("an alias target");
  if (target === 0x00 || target === 0x01) {
    r.u32("an alias instance index");
    r.name("an alias name");
  } else if (target === 0x02) {
    r.u32("an alias outer count");
    r.u32("an alias outer index");
  } else unknown();
  return sort;
}

function skipVec(r: Reader, each: () => void): void {
  const n = r.u32("a vector length");
  if (n > r.end - r.pos) r.fail(`a vector claims ${n} entries, more than its section holds`);
  for (let i = 0; i < n; i++) each();
}

function optional(r: Reader, read: () => unknown): void {
  const flag = r.byte("an option flag");
  if (flag === 0x01) read();
  else if (flag !== 0x00) unknown();
}
