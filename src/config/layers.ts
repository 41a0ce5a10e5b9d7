/** Merging configuration sources, remembering which source set each value (by JSON pointer). */
import { joinPointer } from "../plugin/manifest.js";
import type { ConfigSource } from "./errors.js";

/** A plain object (JSON or TOML table), not an array, a date or a class instance. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && [Object.prototype, null].includes(Object.getPrototypeOf(v) as object | null);
}

/** `{ secret = "NAME" }`: an object whose only key is `secret`, a string. Always read as a reference, never as data. */
export function isSecretRef(v: unknown): v is { secret: string } {
  return isPlainObject(v) && typeof v.secret === "string" && Object.keys(v).length === 1;
}

/** A value merged as a whole (replaced, not merged into): anything but a plain object, and secret references. */
function isLeaf(v: unknown): boolean {
  return !isPlainObject(v) || isSecretRef(v);
}

/**
 * Deep-merge `override` onto `base`: objects merge key by key, anything else
 * (arrays included) replaces. Neither input is modified.
 */
export function mergeConfig(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [key, value] of Object.entries(override)) {
    const current = out[key];
    out[key] = !isLeaf(current) && !isLeaf(value) ? mergeConfig(current as Record<string, unknown>, value as Record<string, unknown>) : structuredClone(value);
  }
  return out;
}

/**
 * A JSON merge patch (RFC 7396) onto `base`: objects merge, `null` removes the key, anything else replaces.
 * Neither input is modified.
 */
export function mergePatch(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (!isLeaf(value) && !isLeaf(out[key])) out[key] = mergePatch(out[key] as Record<string, unknown>, value as Record<string, unknown>);
    else if (!isLeaf(value)) out[key] = mergePatch({}, value as Record<string, unknown>);
    else out[key] = structuredClone(value);
  }
  return out;
}

/** The merged value and the source of each leaf (by pointer; a leaf is a scalar, an array, an empty object or a secret reference). */
export class Layered {
  value: Record<string, unknown> = {};
  readonly provenance = new Map<string, ConfigSource>();

  /** Merge `layer` over what is there, its leaves recorded as set by `source`. */
  apply(layer: Record<string, unknown>, source: ConfigSource): void {
    this.#merge(this.value, layer, "", source);
  }

  /** Set one value at `keys` (creating objects on the way, replacing a leaf in the way). */
  set(keys: readonly string[], value: unknown, source: ConfigSource): void {
    let obj = this.value;
    let pointer = "";
    for (const key of keys.slice(0, -1)) {
      pointer = joinPointer(pointer, key);
      if (isLeaf(obj[key])) {
        this.#forget(pointer);
        obj[key] = {};
      }
      obj = obj[key] as Record<string, unknown>;
    }
    const last = keys[keys.length - 1] as string;
    this.#merge(obj, { [last]: value }, pointer, source);
  }

  #merge(target: Record<string, unknown>, layer: Record<string, unknown>, base: string, source: ConfigSource): void {
    for (const [key, value] of Object.entries(layer)) {
      const pointer = joinPointer(base, key);
      const current = target[key];
      if (!isLeaf(value) && Object.keys(value as object).length > 0) {
        if (isLeaf(current)) {
          this.#forget(pointer);
          target[key] = {};
        } else this.provenance.delete(pointer); // it was an empty object: now it has leaves
        this.#merge(target[key] as Record<string, unknown>, value as Record<string, unknown>, pointer, source);
        continue;
      }
      if (!isLeaf(value) && !isLeaf(current)) {
        // An empty object over an object: nothing to replace, but a source that names it.
        if (Object.keys(current as object).length === 0) this.provenance.set(pointer, source);
        continue;
      }
      this.#forget(pointer);
      target[key] = structuredClone(value);
      this.provenance.set(pointer, source);
    }
  }

  /** Drop the provenance at `pointer` and below it. */
  #forget(pointer: string): void {
    for (const p of this.provenance.keys()) if (p === pointer || p.startsWith(pointer + "/")) this.provenance.delete(p);
  }

  /** The source of the value at `pointer`: its own, the nearest above it, or the first below it; undefined when none. */
  sourceAt(pointer: string): ConfigSource | undefined {
    for (let p = pointer; ; p = p.slice(0, p.lastIndexOf("/"))) {
      const s = this.provenance.get(p);
      if (s !== undefined) return s;
      if (p === "") break;
    }
    for (const [p, s] of this.provenance) if (p.startsWith(pointer + "/")) return s;
    return undefined;
  }
}

/** Every leaf of `value` by pointer (as `Layered` counts leaves). */
export function leafPointers(value: unknown, base = ""): string[] {
  if (isLeaf(value) || Object.keys(value as object).length === 0) return [base];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => leafPointers(v, joinPointer(base, k)));
}

/** The value at `pointer` in `root`, or undefined. */
export function valueAt(root: unknown, pointer: string): unknown {
  if (pointer === "") return root;
  let v = root;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (typeof v !== "object" || v === null || !Object.prototype.hasOwnProperty.call(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}
