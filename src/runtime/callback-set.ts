/**
 * A plugin's registered event names. `has` remembers the last name it found: a loop of sync calls for one event
 * (`invokeSync`, `hookSync`) then costs a string comparison, not a hash-table lookup, per call. Names are only
 * added while an instance lives and the set is cleared with it, so a remembered name is dropped on `clear`/`delete`.
 */
export class CallbackSet extends Set<string> {
  #hit: string | undefined;

  override has(name: string): boolean {
    if (name === this.#hit) return true;
    const found = super.has(name);
    if (found) this.#hit = name;
    return found;
  }

  override delete(name: string): boolean {
    this.#hit = undefined;
    return super.delete(name);
  }

  override clear(): void {
    this.#hit = undefined;
    super.clear();
  }
}
