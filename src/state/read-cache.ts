/**
 * A bounded read cache in front of a backend whose writes all pass through this process (SQLite with the file held
 * exclusively): a get answered from memory costs a map lookup and a copy instead of a database read. Writes update it
 * only after they commit, so it never holds a value the database does not. Eviction is oldest-first by bytes.
 */

/** A cached miss: the key is known to be absent. */
const ABSENT = null;

export class StateReadCache {
  readonly #max: number;
  // ns + "\0" + key: plugin names cannot hold a NUL, so the first NUL splits the two unambiguously.
  readonly #map = new Map<string, Uint8Array | null>();
  #bytes = 0;

  /** `maxBytes`: the most value and key bytes held (0 or less: nothing is cached). */
  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  /** The cached value (a copy: callers may keep or change it), ABSENT for a known miss, or undefined when unknown. */
  get(ns: string, key: string): Uint8Array | null | undefined {
    const v = this.#map.get(ns + "\0" + key);
    return v === undefined || v === null ? v : v.slice();
  }

  /** Remember what the database holds now under the key (`null`: absent). Takes a copy of `value`. */
  put(ns: string, key: string, value: Uint8Array | null): void {
    if (this.#max <= 0) return;
    const id = ns + "\0" + key;
    const old = this.#map.get(id);
    if (old !== undefined) {
      this.#bytes -= cost(id, old);
      this.#map.delete(id); // re-inserted below: the newest entry goes last
    }
    const copy = value === null ? ABSENT : value.slice();
    const c = cost(id, copy);
    if (c > this.#max) return;
    this.#map.set(id, copy);
    this.#bytes += c;
    for (const [oldest, v] of this.#map) {
      if (this.#bytes <= this.#max) break;
      this.#map.delete(oldest);
      this.#bytes -= cost(oldest, v);
    }
  }

  /** Forget every key of a namespace. */
  dropNamespace(ns: string): void {
    const prefix = ns + "\0";
    for (const [id, v] of this.#map) {
      if (id.startsWith(prefix)) {
        this.#map.delete(id);
        this.#bytes -= cost(id, v);
      }
    }
  }

  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }

  /** Bytes held, for tests. */
  get bytes(): number {
    return this.#bytes;
  }
}

// UTF-16 units × 2 for the id, the value's bytes, and a rough per-entry overhead.
function cost(id: string, v: Uint8Array | null): number {
  return id.length * 2 + (v === null ? 0 : v.length) + 64;
}
