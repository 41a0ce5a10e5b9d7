/**
 * A bounded read cache in front of a backend whose writes all pass through this process (SQLite with the file held
 * exclusively): a get answered from memory costs a map lookup and a copy instead of a database read. Writes update it
 * only after they commit, so it never holds a value the database does not. Eviction is oldest-first by bytes.
 */

/** A cached miss: the key is known to be absent. */
const ABSENT = null;

interface Entry {
  readonly ns: string;
  readonly key: string;
  readonly cost: number;
}

export class StateReadCache {
  readonly #max: number;
  // Per namespace, then per key: no string is built per lookup.
  readonly #spaces = new Map<string, Map<string, Uint8Array | null>>();
  // Insertion order of every held entry, oldest first, for eviction (a write moves its key to the end).
  readonly #order = new Set<Entry>();
  readonly #entries = new Map<Map<string, Uint8Array | null>, Map<string, Entry>>();
  #bytes = 0;

  /** `maxBytes`: the most value and key bytes held (0 or less: nothing is cached). */
  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  /** The cached value (a copy: callers may keep or change it), null for a known miss, or undefined when unknown. */
  get(ns: string, key: string): Uint8Array | null | undefined {
    const v = this.#spaces.get(ns)?.get(key);
    return v === undefined || v === null ? v : v.slice();
  }

  /** Remember what the database holds now under the key (`null`: absent). Takes a copy of `value`. */
  put(ns: string, key: string, value: Uint8Array | null): void {
    if (this.#max <= 0) return;
    let space = this.#spaces.get(ns);
    if (space === undefined) {
      space = new Map();
      this.#spaces.set(ns, space);
      this.#entries.set(space, new Map());
    }
    const entries = this.#entries.get(space)!;
    const old = entries.get(key);
    if (old !== undefined) this.#forget(space, entries, old);
    const copy = value === null ? ABSENT : value.slice();
    const cost = key.length * 2 + (copy === null ? 0 : copy.length) + 64;
    if (cost > this.#max) return;
    const entry: Entry = { ns, key, cost };
    space.set(key, copy);
    entries.set(key, entry);
    this.#order.add(entry);
    this.#bytes += cost;
    for (const oldest of this.#order) {
      if (this.#bytes <= this.#max) break;
      const s = this.#spaces.get(oldest.ns)!;
      this.#forget(s, this.#entries.get(s)!, oldest);
    }
  }

  #forget(space: Map<string, Uint8Array | null>, entries: Map<string, Entry>, entry: Entry): void {
    space.delete(entry.key);
    entries.delete(entry.key);
    this.#order.delete(entry);
    this.#bytes -= entry.cost;
  }

  /** Forget every key of a namespace. */
  dropNamespace(ns: string): void {
    const space = this.#spaces.get(ns);
    if (space === undefined) return;
    for (const entry of this.#entries.get(space)!.values()) {
      this.#order.delete(entry);
      this.#bytes -= entry.cost;
    }
    this.#spaces.delete(ns);
    this.#entries.delete(space);
  }

  clear(): void {
    this.#spaces.clear();
    this.#entries.clear();
    this.#order.clear();
    this.#bytes = 0;
  }

  /** Bytes held (keys, values and a per-entry overhead). */
  get bytes(): number {
    return this.#bytes;
  }
}
