/**
 * App-defined WIT interfaces (docs/host-interfaces.md): the type model every part of plughost shares.
 *
 * An application extends the plugin contract with WIT packages of its own. The host holds their parsed form
 * (`WitPackage`, from `interfaces/wit-parser.ts`); it is the single source of types for:
 * - host interfaces the application implements in JS (`registry.provide`), imported by plugins;
 * - typed exports a plugin implements beyond `plughost:plugin/guest`, called by the host (`handle.call`) or by
 *   other plugins wired to it.
 *
 * Every type is resolved: `use`d types and aliases are replaced by their definitions, so a `WitType` never refers
 * to a name. Names are as the WIT spells them (kebab-case); `jsName` gives the JS spelling.
 *
 * ## Values in JS (the same convention as jco's bindings)
 * | WIT | JS |
 * |---|---|
 * | `bool` | `boolean` |
 * | `u8 u16 u32 s8 s16 s32 f32 f64` | `number` (integers checked for range; f32 rounded) |
 * | `u64 s64` | `bigint` |
 * | `char` | `string` of one Unicode scalar value |
 * | `string` | `string` (a guest's string must be valid UTF-8, else an `InterfaceValueError`) |
 * | `list<u8>` | `Uint8Array` |
 * | `list<T>` (other T) | `T[]` |
 * | `tuple<A, B>` | `[A, B]` |
 * | `record { a-b: T }` | `{ aB: T }` (field names in lowerCamelCase) |
 * | `variant { c(T), d }` | `{ tag: "c", val: T }` / `{ tag: "d" }` (case names as in WIT) |
 * | `enum { x-y }` | `"x-y"` |
 * | `flags { f-g }` | `{ fG: boolean }` (an absent flag is false) |
 * | `option<T>` | `T \| undefined`; for `option<option<T>>` the inner is `{ tag: "some", val } \| { tag: "none" }` |
 * | `result<T, E>` | `{ tag: "ok", val: T } \| { tag: "err", val: E }` (no throwing: `val` absent when the side has no type) |
 *
 * Function names: an implementation object's and `handle.call`'s keys are the lowerCamelCase of the WIT name
 * (`get-user` → `getUser`); `handle.call` also accepts the WIT name.
 */

/** A primitive WIT type. */
export type WitPrimitive = "bool" | "u8" | "u16" | "u32" | "u64" | "s8" | "s16" | "s32" | "s64" | "f32" | "f64" | "char" | "string";

/** A resolved WIT value type (no named references; resources are not supported yet). */
export type WitType =
  | { readonly kind: WitPrimitive }
  | { readonly kind: "list"; readonly element: WitType }
  | { readonly kind: "option"; readonly some: WitType }
  | { readonly kind: "result"; readonly ok?: WitType; readonly err?: WitType }
  | { readonly kind: "tuple"; readonly items: readonly WitType[] }
  | { readonly kind: "record"; readonly name: string; readonly fields: readonly WitField[] }
  | { readonly kind: "variant"; readonly name: string; readonly cases: readonly WitCase[] }
  | { readonly kind: "enum"; readonly name: string; readonly cases: readonly string[] }
  | { readonly kind: "flags"; readonly name: string; readonly flags: readonly string[] };

/** A record field. */
export interface WitField {
  readonly name: string;
  readonly type: WitType;
}

/** A variant case; `type` absent for a case without a payload. */
export interface WitCase {
  readonly name: string;
  readonly type?: WitType;
}

/** A named parameter of a function. */
export interface WitParam {
  readonly name: string;
  readonly type: WitType;
}

/** A freestanding function of an interface. `result` absent: returns nothing. (Named multiple results are not WIT any more.) */
export interface WitFunction {
  readonly name: string;
  readonly params: readonly WitParam[];
  readonly result?: WitType;
  /** The `///` doc comment, if any (for generated TypeScript). */
  readonly docs?: string;
}

/** One interface of a package, with its types and functions, fully resolved. */
export interface WitInterface {
  /** `namespace:package`, e.g. `acme:forms`. */
  readonly package: string;
  /** The interface's name in the package, e.g. `store`. */
  readonly name: string;
  /** The package's semver version, e.g. `1.0.0`; undefined for an unversioned package. */
  readonly version?: string;
  /** The named types the interface defines or `use`s, by WIT name. */
  readonly types: ReadonlyMap<string, WitType>;
  /** Its functions, in declaration order. */
  readonly functions: readonly WitFunction[];
  readonly docs?: string;
}

/** A world of a package: the interfaces it imports and exports, as ids (`acme:forms/store@1.0.0`). */
export interface WitWorld {
  readonly name: string;
  readonly imports: readonly string[];
  readonly exports: readonly string[];
}

/** A parsed WIT package (one `package` declaration, possibly from several files). */
export interface WitPackage {
  /** `namespace:package`. */
  readonly name: string;
  readonly version?: string;
  readonly interfaces: readonly WitInterface[];
  readonly worlds: readonly WitWorld[];
}

/** An interface's id with its version, `acme:forms/store@1.0.0` (no `@…` when unversioned). */
export function interfaceId(iface: Pick<WitInterface, "package" | "name" | "version">): string {
  return `${iface.package}/${iface.name}${iface.version ? `@${iface.version}` : ""}`;
}

/** An interface's id without its version, `acme:forms/store`: what capabilities (`iface:…`) and `handle.call` name. */
export function unversionedId(id: string): string {
  const at = id.indexOf("@");
  return at < 0 ? id : id.slice(0, at);
}

/** A WIT name in lowerCamelCase, as JS sees it: `get-user` → `getUser`, `http-URL` → `httpURL`. */
export function jsName(witName: string): string {
  return witName.replace(/-([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase()).replace(/^%/, "");
}

/** A JS function implementing one WIT function. On engines off the JS thread it may return a Promise. */
export type InterfaceFunction = (...args: never[]) => unknown;

/** An application's implementation of a host interface: one function per WIT function, keyed by `jsName`. */
export type InterfaceImplementation = Readonly<Record<string, InterfaceFunction>>;

/**
 * What an engine gets to satisfy one imported app interface of a plugin. `call` is the host's bound function for
 * one WIT function: the registry wraps the implementation with the call pipeline (context, metrics, checks), or
 * routes it to the exporting plugin. The engine lifts the guest's arguments to JS values, calls `call`, and lowers
 * what it returns (or what its Promise resolves to, on engines that may wait).
 */
export interface ImportBinding {
  /** The interface as the host knows it. */
  readonly iface: WitInterface;
  /** The id the plugin's component imports (with the version it was built against). */
  readonly importedAs: string;
  /** One function per WIT function, keyed by WIT name (kebab-case). A throw fails the guest's call (a typed error). */
  readonly functions: ReadonlyMap<string, (args: unknown[]) => unknown>;
}

/** The app interfaces bound for one plugin's instance (`LoadRequest.interfaces`). */
export interface InterfaceBindings {
  /** Imported app interfaces, by the id the component imports (versioned, `acme:forms/store@1.0.0`). */
  readonly imports: ReadonlyMap<string, ImportBinding>;
  /** Typed exports the host expects the plugin to have, by versioned id; their types come from here. */
  readonly exports: ReadonlyMap<string, WitInterface>;
}
