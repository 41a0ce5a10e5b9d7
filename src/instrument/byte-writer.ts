/** A growable byte buffer with the LEB128 encoders the rewriter needs. */
export class ByteWriter {
  buf: Uint8Array;
  len = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(64, capacity));
  }

  ensure(n: number): void {
    if (this.len + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n + 1024));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
  }

  byte(b: number): void {
    if (this.len >= this.buf.length) this.ensure(1);
    this.buf[this.len++] = b;
  }

  u32(v: number): void {
    this.ensure(5);
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.buf[this.len++] = b;
    } while (v !== 0);
  }

  s32(v: number): void {
    this.ensure(5);
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  /** A u32 in exactly 5 bytes, so a size can be patched in place later. */
  reserve5(): number {
    this.ensure(5);
    const at = this.len;
    this.len += 5;
    return at;
  }

  patch5(at: number, v: number): void {
    const b = this.buf;
    b[at] = (v & 0x7f) | 0x80;
    b[at + 1] = ((v >>> 7) & 0x7f) | 0x80;
    b[at + 2] = ((v >>> 14) & 0x7f) | 0x80;
    b[at + 3] = ((v >>> 21) & 0x7f) | 0x80;
    b[at + 4] = (v >>> 28) & 0x0f;
  }

  copy(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.ensure(n);
    if (n < 128) { // a loop beats allocating a subarray for set()
      const b = this.buf;
      let o = this.len;
      for (let i = start; i < end; i++) b[o++] = src[i]!;
    } else {
      this.buf.set(src.subarray(start, end), this.len);
    }
    this.len += n;
  }

  bytes(src: ArrayLike<number>): void {
    const n = src.length;
    this.ensure(n);
    const b = this.buf;
    let o = this.len;
    for (let i = 0; i < n; i++) b[o++] = src[i]!;
    this.len = o;
  }

  /** The first `n` bytes of `src`. */
  append(src: Uint8Array, n: number): void {
    this.ensure(n);
    const b = this.buf;
    let o = this.len;
    for (let i = 0; i < n; i++) b[o++] = src[i]!;
    this.len = o;
  }

    /** Insert `n` bytes of `src` at `at`, shifting what follows. */
  insert(at: number, src: Uint8Array, n: number): void {
    this.ensure(n);
    const b = this.buf;
    const len = this.len;
    // Segments are mostly short: a JS loop beats the native call for them.
    if (len - at > 64) b.copyWithin(at + n, at, len);
    else for (let i = len - 1; i >= at; i--) b[i + n] = b[i]!;
    for (let i = 0; i < n; i++) b[at + i] = src[i]!;
    this.len = len + n;
  }

  /** The bytes written; shares the buffer when little of it is unused (no copy). */
  result(): Uint8Array {
    if (this.buf.length - this.len <= this.len >> 2) return this.buf.subarray(0, this.len);
    return this.buf.slice(0, this.len);
  }
}

export function encodeU32(v: number): number[] {
  const out: number[] = [];
  v >>>= 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

export function encodeS32(v: number): number[] {
  const out: number[] = [];
  v |= 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export function encodeName(s: string): number[] {
  const bytes = new TextEncoder().encode(s);
  return [...encodeU32(bytes.length), ...bytes];
}
