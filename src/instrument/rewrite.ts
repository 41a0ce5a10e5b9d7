/**
 * Single-pass binary rewriter for core Wasm modules: fuel metering, memory and
 * table caps. It never builds an AST: sections it does not change are copied in
 * bulk, function bodies are streamed instruction by instruction and only the
 * bytes that change are re-encoded. See docs/fuel-and-memory.md.
 */
import { ByteWriter, encodeName, encodeS32, encodeU32 } from "./byte-writer.js";
import { InstrumentError, LimitCapError } from "./errors.js";
import { LIMITS_MODULE, type MemoryInfo, type TableInfo } from "./types.js";

export interface RewriteOptions {
  fuel: boolean;
  memoryBytes: number | undefined;
  tableElements: number | undefined;
  label: string;
}

export interface RewriteOutput {
  bytes: Uint8Array;
  fuel: boolean;
  memories: MemoryInfo[];
  tables: TableInfo[];
  definedMemoryBytes: number;
  limitsImports: string[];
  codeBytes: number;
  functions: number;
}

const PAGE = 65536;
const MAX_PAGES = 65536; // V8's limit for 32-bit memories
const MAX_TABLE_INIT = 10_000_000; // V8's limit on a table's initial size
const MAX_LOCALS = 50_000; // V8's limit on params + locals

// Section ids and their required order (custom sections, id 0, go anywhere).
const RANK: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

// Control frame kinds.
const K_FUNC = 0, K_BLOCK = 1, K_LOOP = 2, K_IF = 3, K_TRY = 4, K_TRY_TABLE = 5;

interface Section {
  id: number;
  headerStart: number;
  start: number;
  end: number;
}

/** Thrown inside a body when local-cached fuel cannot be used (exception handling); the body is redone in global mode. */
const NEED_GLOBAL_MODE = Symbol("need-global-mode");
/** Thrown in global mode at the first loop: loops run faster with the counter in a local. */
const NEED_LOCAL_MODE = Symbol("need-local-mode");

export function rewriteModule(input: Uint8Array, opts: RewriteOptions): RewriteOutput {
  return new Rewriter(input, opts).run();
}

class Rewriter {
  readonly b: Uint8Array;
  readonly o: RewriteOptions;
  p = 0;
  readonly out: ByteWriter;

  sections: Section[] = [];
  // Type section facts.
  typeCount = 0;
  funcParamCount: number[] = []; // by type index; -1 for non-function types
  // Import facts.
  nImpF = 0;
  nImpG = 0;
  memories: MemoryInfo[] = [];
  tables: TableInfo[] = [];
  tableRefTypes: Uint8Array[] = [];
  definedFuncTypes: number[] = [];

  // Plan.
  needFuel = false;
  needMem = false;
  needTab = false;
  kF = 0; // function imports added
  kG = 0; // global imports added
  newTypes: number[][] = [];
  tyI32I32 = -1;
  tyI32I32I32 = -1;
  tyTableGrow: number[] = [];
  fuelGlobal = -1;
  memGrowFunc = -1;
  memReleaseFunc = -1;
  tableFailFunc = -1;
  memHelper: number[] = []; // memory index -> helper function index
  tableHelper: number[] = [];
  limitsImports: string[] = [];
  codeBytes = 0;
  functions = 0;

  // Reused across bodies: the control stack and the prefix being built.
  scratch = new Uint8Array(64);
  kinds = new Uint8Array(64);
  targeted = new Uint8Array(64);
  // Encoded indices used in the inserted sequences.
  encG: number[] = [];

  constructor(input: Uint8Array, opts: RewriteOptions) {
    this.b = input;
    this.o = opts;
    this.out = new ByteWriter(input.length + (input.length >> 2) + 256);
  }

  fail(at: number, reason: string): never {
    throw new InstrumentError(this.o.label, at, reason);
  }

  // ── reading ────────────────────────────────────────────────────────────────

  u8(): number {
    if (this.p >= this.b.length) this.fail(this.p, "unexpected end of module");
    return this.b[this.p++]!;
  }

  u32(): number {
    const b = this.b;
    let result = 0;
    let shift = 0;
    const at = this.p;
    for (;;) {
      if (this.p >= b.length) this.fail(at, "unexpected end of module in LEB128");
      const byte = b[this.p++]!;
      if (shift === 28) {
        if ((byte & 0xf0) !== 0) this.fail(at, "integer representation too long or too large");
        return (result | (byte << 28)) >>> 0;
      }
      result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  }

  /** Skip a LEB128 of at most `max` bytes. */
  skipLeb(max: number): void {
    const b = this.b;
    const at = this.p;
    for (let i = 0; i < max; i++) {
      if (this.p >= b.length) this.fail(at, "unexpected end of module in LEB128");
      if ((b[this.p++]! & 0x80) === 0) return;
    }
    this.fail(at, "integer representation too long");
  }

  skipName(): void {
    const n = this.u32();
    if (this.p + n > this.b.length) this.fail(this.p, "name runs past the end");
    this.p += n;
  }

  readName(): string {
    const n = this.u32();
    if (this.p + n > this.b.length) this.fail(this.p, "name runs past the end");
    const s = new TextDecoder().decode(this.b.subarray(this.p, this.p + n));
    this.p += n;
    return s;
  }

  skipValType(): void {
    const t = this.u8();
    if (t === 0x63 || t === 0x64) this.skipLeb(5); // (ref null? heaptype)
    else if (t & 0x80) this.fail(this.p - 1, `unknown value type 0x${t.toString(16)}`);
  }

  /** Returns the bytes of a reference type (table element type). */
  readRefType(): Uint8Array {
    const s = this.p;
    this.skipValType();
    return this.b.slice(s, this.p);
  }

  skipBlockType(): void {
    const t = this.u8();
    if (t === 0x40) return;
    if (t === 0x63 || t === 0x64) { this.skipLeb(5); return; }
    if ((t & 0xc0) === 0x40) return; // single-byte negative s33: a value type
    // A type index as s33 (non-negative).
    this.p--;
    this.skipLeb(5);
  }

  // ── pre-scan ───────────────────────────────────────────────────────────────

  scanSections(): void {
    const b = this.b;
    if (b.length < 8 || b[0] !== 0x00 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) this.fail(0, "not a WebAssembly binary (bad magic)");
    if (b[4] === 0x0d && b[6] === 0x01) this.fail(4, "this is a component, not a core module; instrument its core modules");
    if (b[4] !== 1 || b[5] !== 0 || b[6] !== 0 || b[7] !== 0) this.fail(4, "unsupported binary version");
    this.p = 8;
    let lastRank = 0;
    while (this.p < b.length) {
      const headerStart = this.p;
      const id = this.u8();
      const size = this.u32();
      const start = this.p;
      const end = start + size;
      if (end > b.length) this.fail(headerStart, `section ${id} runs past the end of the module`);
      if (id !== 0) {
        const rank = RANK[id];
        if (rank === undefined) this.fail(headerStart, `unknown section id ${id}`);
        if (rank <= lastRank) this.fail(headerStart, `section ${id} out of order or duplicated`);
        lastRank = rank;
      }
      this.sections.push({ id, headerStart, start, end });
      this.p = end;
    }
  }

  section(id: number): Section | undefined {
    for (const s of this.sections) if (s.id === id) return s;
    return undefined;
  }

  scanTypes(s: Section): void {
    this.p = s.start;
    const n = this.u32();
    for (let i = 0; i < n; i++) {
      const form = this.u8();
      if (form === 0x4e) {
        const m = this.u32();
        for (let j = 0; j < m; j++) this.scanSubType(this.u8());
      } else {
        this.scanSubType(form);
      }
    }
    if (this.p !== s.end) this.fail(this.p, "type section size mismatch");
  }

  scanSubType(form: number): void {
    if (form === 0x50 || form === 0x4f) {
      const m = this.u32();
      for (let j = 0; j < m; j++) this.u32();
      form = this.u8();
    }
    if (form === 0x60) {
      const np = this.u32();
      for (let k = 0; k < np; k++) this.skipValType();
      const nr = this.u32();
      for (let k = 0; k < nr; k++) this.skipValType();
      this.funcParamCount.push(np);
    } else if (form === 0x5f) {
      const nf = this.u32();
      for (let k = 0; k < nf; k++) { this.skipStorageType(); this.u8(); }
      this.funcParamCount.push(-1);
    } else if (form === 0x5e) {
      this.skipStorageType();
      this.u8();
      this.funcParamCount.push(-1);
    } else {
      this.fail(this.p - 1, `unknown type form 0x${form.toString(16)}`);
    }
    this.typeCount++;
  }

  skipStorageType(): void {
    const t = this.b[this.p];
    if (t === 0x78 || t === 0x77) this.p++;
    else this.skipValType();
  }

  readLimits(kind: "memory" | "table"): { flags: number; min: number; max: number | undefined; at: number } {
    const at = this.p;
    const flags = this.u8(); // a byte, not a LEB128
    const allowed = kind === "memory" ? 0x07 : 0x05;
    if (flags & ~allowed) this.fail(at, `unsupported ${kind} limits flags 0x${flags.toString(16)}`);
    if (flags & 0x04) {
      // 64-bit indices: V8 in Node 20 does not accept them without flags.
      this.fail(at, `64-bit ${kind}s (memory64) are not supported`);
    }
    const min = this.u32();
    const max = flags & 1 ? this.u32() : undefined;
    if (max !== undefined && min > max) this.fail(at, `${kind} minimum ${min} exceeds its maximum ${max}`);
    if (kind === "memory") {
      if (min > MAX_PAGES) this.fail(at, `memory minimum ${min} pages exceeds 65536`);
      if (max !== undefined && max > MAX_PAGES) this.fail(at, `memory maximum ${max} pages exceeds 65536`);
      if ((flags & 2) && max === undefined) this.fail(at, "shared memory without a maximum");
    }
    return { flags, min, max, at };
  }

  scanImports(s: Section): void {
    this.p = s.start;
    const n = this.u32();
    for (let i = 0; i < n; i++) {
      const module = this.readName();
      const name = this.readName();
      const kind = this.u8();
      switch (kind) {
        case 0: this.u32(); this.nImpF++; break;
        case 1: {
          const rt = this.readRefType();
          const l = this.readLimits("table");
          this.tableRefTypes.push(rt);
          this.tables.push({ index: this.tables.length, imported: true, module, name, minimum: l.min, ...(l.max !== undefined ? { maximum: l.max } : {}) });
          break;
        }
        case 2: {
          const l = this.readLimits("memory");
          this.memories.push({ index: this.memories.length, imported: true, module, name, minimumPages: l.min, ...(l.max !== undefined ? { maximumPages: l.max } : {}), shared: (l.flags & 2) !== 0 });
          break;
        }
        case 3: this.skipValType(); this.u8(); this.nImpG++; break;
        case 4: this.u8(); this.u32(); break;
        default: this.fail(this.p - 1, `unknown import kind ${kind}`);
      }
    }
    if (this.p !== s.end) this.fail(this.p, "import section size mismatch");
  }

  scanFunctions(s: Section): void {
    this.p = s.start;
    const n = this.u32();
    for (let i = 0; i < n; i++) this.definedFuncTypes.push(this.u32());
    if (this.p !== s.end) this.fail(this.p, "function section size mismatch");
  }


  scanMemories(s: Section): void {
    this.p = s.start;
    const n = this.u32();
    for (let i = 0; i < n; i++) {
      const l = this.readLimits("memory");
      this.memories.push({ index: this.memories.length, imported: false, minimumPages: l.min, ...(l.max !== undefined ? { maximumPages: l.max } : {}), shared: (l.flags & 2) !== 0 });
    }
    if (this.p !== s.end) this.fail(this.p, "memory section size mismatch");
  }

  skipConstExpr(): void {
    const tmp = new ByteWriter(16);
    this.constExpr(tmp);
  }

  // ── plan ───────────────────────────────────────────────────────────────────

  plan(): void {
    const hasCode = this.definedFuncTypes.length > 0;
    this.needFuel = this.o.fuel && hasCode;
    this.needMem = this.o.memoryBytes !== undefined && hasCode && this.memories.length > 0;
    this.needTab = this.o.tableElements !== undefined && hasCode && this.tables.length > 0;
    const addType = (t: number[]): number => { this.newTypes.push(t); return this.typeCount + this.newTypes.length - 1; };
    if (this.needMem) this.tyI32I32 = addType([0x60, 0x01, 0x7f, 0x01, 0x7f]);
    if (this.needTab) {
      this.tyI32I32I32 = addType([0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]);
      for (const rt of this.tableRefTypes) this.tyTableGrow.push(addType([0x60, 0x02, ...rt, 0x7f, 0x01, 0x7f]));
    }
    let f = this.nImpF;
    if (this.needFuel) {
      this.fuelGlobal = this.nImpG;
      this.kG = 1;
      this.limitsImports.push("fuel");
    }
    if (this.needMem) {
      this.memGrowFunc = f++;
      this.memReleaseFunc = f++;
      this.limitsImports.push("memory_grow", "memory_release");
    }
    if (this.needTab) {
      this.tableFailFunc = f++;
      this.limitsImports.push("table_grow_failed");
    }
    this.kF = f - this.nImpF;
    let h = this.nImpF + this.kF + this.definedFuncTypes.length;
    if (this.needMem) for (let m = 0; m < this.memories.length; m++) this.memHelper.push(h++);
    if (this.needTab) for (let t = 0; t < this.tables.length; t++) this.tableHelper.push(h++);
    this.encG = encodeU32(this.fuelGlobal);
  }

  remapF(i: number): number {
    return i < this.nImpF ? i : i + this.kF;
  }

  remapG(i: number): number {
    return i < this.nImpG ? i : i + this.kG;
  }

  // ── run ────────────────────────────────────────────────────────────────────

  run(): RewriteOutput {
    this.scanSections();
    const ts = this.section(1);
    if (ts) this.scanTypes(ts);
    const is = this.section(2);
    if (is) this.scanImports(is);
    const fs = this.section(3);
    if (fs) this.scanFunctions(fs);
    const tabs = this.section(4);
    if (tabs) {
      this.scanTablesSafe(tabs);
    }
    const ms = this.section(5);
    if (ms) this.scanMemories(ms);
    const cs = this.section(10);
    const nBodies = cs ? this.countAt(cs) : 0;
    if (nBodies !== this.definedFuncTypes.length) this.fail(cs?.start ?? 0, "function and code section counts differ");
    this.plan();

    const out = this.out;
    out.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const changed = this.kF > 0 || this.kG > 0;
    let typeDone = this.newTypes.length === 0;
    let importDone = this.kF === 0 && this.kG === 0;
    for (const s of this.sections) {
      if (s.id !== 0) {
        const rank = RANK[s.id]!;
        if (!typeDone && rank > 1) { this.writeSection(1, () => this.writeTypes(undefined)); typeDone = true; }
        if (!importDone && rank > 2) { this.writeSection(2, () => this.writeImports(undefined)); importDone = true; }
      }
      switch (s.id) {
        case 1: this.writeSection(1, () => this.writeTypes(s)); typeDone = true; break;
        case 2: this.writeSection(2, () => this.writeImports(s)); importDone = true; break;
        case 3: this.writeSection(3, () => this.writeFunctions(s)); break;
        case 4: if (this.o.tableElements !== undefined) this.writeSection(4, () => this.writeTables(s), s); else this.copySection(s); break;
        case 5: if (this.o.memoryBytes !== undefined) this.writeSection(5, () => this.writeMemories(s), s); else this.copySection(s); break;
        case 6: if (changed) this.writeSection(6, () => this.writeGlobals(s), s); else this.copySection(s); break;
        case 7: if (changed) this.writeSection(7, () => this.writeExports(s), s); else this.copySection(s); break;
        case 8: if (changed) this.writeSection(8, () => { this.p = s.start; out.u32(this.remapF(this.u32())); }, s); else this.copySection(s); break;
        case 9: if (changed) this.writeSection(9, () => this.writeElements(s), s); else this.copySection(s); break;
        case 10: this.writeSection(10, () => this.writeCode(s)); break;
        case 11: if (changed) this.writeSection(11, () => this.writeData(s), s); else this.copySection(s); break;
        case 0: this.writeCustom(s, changed); break;
        default: this.copySection(s);
      }
    }
    if (!typeDone) this.writeSection(1, () => this.writeTypes(undefined));
    if (!importDone) this.writeSection(2, () => this.writeImports(undefined));

    let definedMemoryBytes = 0;
    for (const m of this.memories) if (!m.imported) definedMemoryBytes += m.minimumPages * PAGE;
    return {
      bytes: out.result(),
      fuel: this.needFuel,
      memories: this.memories,
      tables: this.tables,
      definedMemoryBytes,
      limitsImports: this.limitsImports,
      codeBytes: cs ? cs.end - cs.start : 0,
      functions: this.functions,
    };
  }

  scanTablesSafe(s: Section): void {
    this.p = s.start;
    const n = this.u32();
    for (let i = 0; i < n; i++) {
      let hasInit = false;
      if (this.b[this.p] === 0x40) {
        this.p++;
        if (this.u8() !== 0) this.fail(this.p - 1, "bad table encoding");
        hasInit = true;
      }
      const rt = this.readRefType();
      this.tableRefTypes.push(rt);
      const l = this.readLimits("table");
      if (l.min > MAX_TABLE_INIT) this.fail(l.at, `table minimum ${l.min} exceeds ${MAX_TABLE_INIT}`);
      this.tables.push({ index: this.tables.length, imported: false, minimum: l.min, ...(l.max !== undefined ? { maximum: l.max } : {}) });
      if (hasInit) this.skipConstExpr();
    }
    if (this.p !== s.end) this.fail(this.p, "table section size mismatch");
  }

  countAt(s: Section): number {
    this.p = s.start;
    return this.u32();
  }

  copySection(s: Section): void {
    this.out.copy(this.b, s.headerStart, s.end);
  }

  writeSection(id: number, body: () => void, s?: Section): void {
    const out = this.out;
    out.byte(id);
    const at = out.reserve5();
    body();
    if (s && this.p !== s.end) this.fail(this.p, `section ${id} size does not match its contents`);
    out.patch5(at, out.len - at - 5);
  }

  writeTypes(s: Section | undefined): void {
    const out = this.out;
    out.u32(this.typeCount + this.newTypes.length);
    if (s) {
      this.p = s.start;
      this.u32();
      out.copy(this.b, this.p, s.end);
    }
    for (const t of this.newTypes) out.bytes(t);
  }

  writeImports(s: Section | undefined): void {
    const out = this.out;
    let n = 0;
    if (s) { this.p = s.start; n = this.u32(); }
    out.u32(n + this.kF + this.kG);
    if (s) out.copy(this.b, this.p, s.end);
    const mod = encodeName(LIMITS_MODULE);
    const fn = (name: string, type: number): void => { out.bytes(mod); out.bytes(encodeName(name)); out.byte(0); out.u32(type); };
    if (this.needFuel) {
      out.bytes(mod); out.bytes(encodeName("fuel")); out.byte(3); out.byte(0x7e); out.byte(1);
    }
    if (this.needMem) { fn("memory_grow", this.tyI32I32); fn("memory_release", this.tyI32I32); }
    if (this.needTab) fn("table_grow_failed", this.tyI32I32I32);
  }

  writeFunctions(s: Section): void {
    const out = this.out;
    this.p = s.start;
    const n = this.u32();
    out.u32(n + this.memHelper.length + this.tableHelper.length);
    out.copy(this.b, this.p, s.end);
    for (let m = 0; m < this.memHelper.length; m++) out.u32(this.tyI32I32);
    for (let t = 0; t < this.tableHelper.length; t++) out.u32(this.tyTableGrow[t]!);
  }

  writeLimits(kind: "memory" | "table", index: number, cap: number): void {
    const out = this.out;
    const l = this.readLimits(kind);
    if (l.min > cap) {
      const what = kind === "memory"
        ? `memory ${index} declares a minimum of ${l.min} pages (${l.min * PAGE} bytes), over the cap of ${cap * PAGE} bytes (${cap} pages)`
        : `table ${index} declares a minimum of ${l.min} elements, over the cap of ${cap} elements`;
      throw new LimitCapError(this.o.label, kind, index, kind === "memory" ? l.min * PAGE : l.min, kind === "memory" ? cap * PAGE : cap, what);
    }
    const max = l.max === undefined ? cap : Math.min(l.max, cap);
    out.u32(l.flags | 1);
    out.u32(l.min);
    out.u32(max);
    const info = kind === "memory" ? this.memories[index] : this.tables[index];
    if (info && kind === "memory") (info as MemoryInfo).maximumPages = max;
    if (info && kind === "table") (info as TableInfo).maximum = max;
  }

  writeMemories(s: Section): void {
    const out = this.out;
    this.p = s.start;
    const n = this.u32();
    out.u32(n);
    const capPages = Math.floor(this.o.memoryBytes! / PAGE);
    const firstDefined = this.memories.length - n;
    for (let i = 0; i < n; i++) this.writeLimits("memory", firstDefined + i, Math.min(capPages, MAX_PAGES));
  }

  writeTables(s: Section): void {
    const out = this.out;
    this.p = s.start;
    const n = this.u32();
    out.u32(n);
    const cap = this.o.tableElements!;
    const firstDefined = this.tables.length - n;
    for (let i = 0; i < n; i++) {
      let hasInit = false;
      if (this.b[this.p] === 0x40) { out.byte(0x40); out.byte(0x00); this.p += 2; hasInit = true; }
      const rt = this.readRefType();
      out.bytes(rt);
      this.writeLimits("table", firstDefined + i, cap);
      if (hasInit) this.constExpr(out);
    }
  }

  writeGlobals(s: Section): void {
    const out = this.out;
    this.p = s.start;
    const n = this.u32();
    out.u32(n);
    for (let i = 0; i < n; i++) {
      const t = this.p;
      this.skipValType();
      this.u8();
      out.copy(this.b, t, this.p);
      this.constExpr(out);
    }
  }

  writeExports(s: Section): void {
    const out = this.out;
    this.p = s.start;
    const n = this.u32();
    out.u32(n);
    for (let i = 0; i < n; i++) {
      const t = this.p;
      this.skipName();
      const kind = this.u8();
      out.copy(this.b, t, this.p);
      const idx = this.u32();
      out.u32(kind === 0 ? this.remapF(idx) : kind === 3 ? this.remapG(idx) : idx);
    }
  }

  writeElements(s: Section): void {
    const out = this.out;
    this.p = s.start;
    const n = this.u32();
    out.u32(n);
    for (let i = 0; i < n; i++) {
      const flags = this.u32();
      out.u32(flags);
      if (flags > 7) this.fail(this.p, `unknown element segment flags ${flags}`);
      if (flags === 2 || flags === 6) out.u32(this.u32()); // table index
      if ((flags & 1) === 0) this.constExpr(out); // active: offset
      const exprs = (flags & 4) !== 0;
      if (flags & 3) {
        // elemkind byte or reference type
        if (exprs) { const t = this.p; this.skipValType(); out.copy(this.b, t, this.p); }
        else out.byte(this.u8());
      }
      const m = this.u32();
      out.u32(m);
      for (let j = 0; j < m; j++) {
        if (exprs) this.constExpr(out);
        else out.u32(this.remapF(this.u32()));
      }
    }
  }

  writeData(s: Section): void {
    const out = this.out;
    this.p = s.start;
    const n = this.u32();
    out.u32(n);
    for (let i = 0; i < n; i++) {
      const flags = this.u32();
      out.u32(flags);
      if (flags === 2) out.u32(this.u32());
      if (flags === 0 || flags === 2) this.constExpr(out);
      else if (flags !== 1) this.fail(this.p, `unknown data segment flags ${flags}`);
      const len = this.u32();
      if (this.p + len > s.end) this.fail(this.p, "data segment runs past its section");
      out.u32(len);
      out.copy(this.b, this.p, this.p + len);
      this.p += len;
    }
  }

  /** Copy a constant expression, renumbering function and global references. */
  constExpr(out: ByteWriter): void {
    for (;;) {
      const at = this.p;
      const op = this.u8();
      switch (op) {
        case 0x0b: out.byte(op); return;
        case 0x41: case 0x42: this.skipLeb(10); out.copy(this.b, at, this.p); break;
        case 0x43: this.p += 4; out.copy(this.b, at, this.p); break;
        case 0x44: this.p += 8; out.copy(this.b, at, this.p); break;
        case 0x23: out.byte(op); out.u32(this.remapG(this.u32())); break;
        case 0xd2: out.byte(op); out.u32(this.remapF(this.u32())); break;
        case 0xd0: this.skipLeb(5); out.copy(this.b, at, this.p); break;
        case 0xfd: {
          const sub = this.u32();
          if (sub !== 12) this.fail(at, `SIMD opcode ${sub} in a constant expression`);
          this.p += 16;
          out.copy(this.b, at, this.p);
          break;
        }
        default:
          if (op >= 0x45 && op <= 0xc4) { out.byte(op); break; } // extended-const arithmetic
          this.fail(at, `unsupported opcode 0x${op.toString(16)} in a constant expression`);
      }
      if (this.p > this.b.length) this.fail(at, "unexpected end of module");
    }
  }

  writeCustom(s: Section, changed: boolean): void {
    this.p = s.start;
    let name: string;
    try { name = this.readName(); } catch { this.copySection(s); return; }
    if (name !== "name" || !changed) { this.copySection(s); return; }
    // Renumber function and global names; drop the section if it is malformed.
    const mark = this.out.len;
    try {
      this.writeSection(0, () => this.writeNameSection(s));
    } catch (e) {
      if (!(e instanceof InstrumentError)) throw e;
      this.out.len = mark;
    }
  }

  writeNameSection(s: Section): void {
    const out = this.out;
    out.bytes(encodeName("name"));
    while (this.p < s.end) {
      const id = this.u8();
      const size = this.u32();
      const start = this.p;
      const end = start + size;
      if (end > s.end) this.fail(start, "name subsection runs past its section");
      if (id === 1 || id === 2 || id === 3 || id === 7) {
        out.byte(id);
        const at = out.reserve5();
        const n = this.u32();
        out.u32(n);
        for (let i = 0; i < n; i++) {
          const idx = this.u32();
          out.u32(id === 7 ? this.remapG(idx) : this.remapF(idx));
          if (id === 1 || id === 7) {
            const t = this.p; this.skipName(); out.copy(this.b, t, this.p);
          } else {
            const t = this.p;
            const m = this.u32();
            for (let j = 0; j < m; j++) { this.u32(); this.skipName(); }
            out.copy(this.b, t, this.p);
          }
        }
        if (this.p !== end) this.fail(this.p, "name subsection size mismatch");
        out.patch5(at, out.len - at - 5);
      } else {
        out.byte(id);
        out.u32(size);
        out.copy(this.b, start, end);
      }
      this.p = end;
    }
  }

  // ── code ───────────────────────────────────────────────────────────────────

  writeCode(s: Section): void {
    const out = this.out;
    this.p = s.start;
    const n = this.u32();
    out.u32(n + this.memHelper.length + this.tableHelper.length);
    for (let i = 0; i < n; i++) {
      const size = this.u32();
      const start = this.p;
      const end = start + size;
      if (end > s.end) this.fail(start, `function ${i} body runs past the code section`);
      const ty = this.definedFuncTypes[i]!;
      const np = this.funcParamCount[ty];
      if (np === undefined || np < 0) this.fail(start, `function ${i} has type ${ty}, which is not a function type`);
      const at = out.reserve5();
      const bodyStart = out.len;
      // Loop-free code keeps the counter in the global (no syncing around
      // calls); code with loops keeps it in a local; exception handling
      // forces the global. A body is redone when a later opcode says so.
      let local = false;
      let upgrade = this.needFuel;
      for (;;) {
        try {
          this.writeBody(start, end, np, local, upgrade);
          break;
        } catch (e) {
          out.len = bodyStart;
          if (e === NEED_LOCAL_MODE) local = true;
          else if (e === NEED_GLOBAL_MODE) { local = false; upgrade = false; }
          else throw e;
        }
      }
      out.patch5(at, out.len - at - 5);
      this.p = end;
      this.functions++;
    }
    if (this.p !== s.end) this.fail(this.p, "code section size mismatch");
    for (let m = 0; m < this.memHelper.length; m++) this.writeMemHelper(m);
    for (let t = 0; t < this.tableHelper.length; t++) this.writeTableHelper(t);
  }

  writeMemHelper(m: number): void {
    const out = this.out;
    const body = [
      0x01, 0x01, 0x7f, // one i32 local
      0x20, 0x00, 0x10, ...encodeU32(this.memGrowFunc), // ask the host's ledger
      0x04, 0x7f,
      0x20, 0x00, 0x40, ...encodeU32(m), 0x22, 0x01,
      0x41, 0x7f, 0x46, 0x04, 0x40, // grow failed anyway: give the reservation back
      0x20, 0x00, 0x10, ...encodeU32(this.memReleaseFunc), 0x1a,
      0x0b,
      0x20, 0x01,
      0x05, 0x41, 0x7f,
      0x0b, 0x0b,
    ];
    out.u32(body.length);
    out.bytes(body);
  }

  writeTableHelper(t: number): void {
    const out = this.out;
    const body = [
      0x01, 0x01, 0x7f,
      0x20, 0x00, 0x20, 0x01, 0xfc, 0x0f, ...encodeU32(t), 0x22, 0x02,
      0x41, 0x7f, 0x46, 0x04, 0x40,
      0xfc, 0x10, ...encodeU32(t), 0x20, 0x01, 0x10, ...encodeU32(this.tableFailFunc), 0x1a,
      0x0b,
      0x20, 0x02, 0x0b,
    ];
    out.u32(body.length);
    out.bytes(body);
  }

  /**
   * Rewrite one function body. Fuel: every straight-line segment (between
   * branch sources and branch targets) is charged once at its start; the
   * counter is checked at function entry and loop headers. In `local` mode the
   * counter lives in an extra local and is synced with the shared global
   * around calls and at exits.
   */
  writeBody(start: number, end: number, nParams: number, local: boolean, upgrade: boolean): void {
    const b = this.b;
    const out = this.out;
    const fuel = this.needFuel;
    const memHelper = this.needMem ? this.memHelper : null;
    const tabHelper = this.needTab ? this.tableHelper : null;
    const kF = this.kF, nImpF = this.nImpF, kG = this.kG, nImpG = this.nImpG;
    this.p = start;

    // Locals.
    const declStart = this.p;
    const nDecl = this.u32();
    const declsFrom = this.p;
    let total = nParams;
    for (let i = 0; i < nDecl; i++) {
      total += this.u32();
      this.skipValType();
    }
    if (total > MAX_LOCALS) this.fail(declStart, "too many locals");
    // One extra i32 local: the cached counter (local mode) or a scratch for the check.
    const extra = fuel && total + 1 <= MAX_LOCALS;
    if (!extra) { local = false; upgrade = false; }
    if (extra) {
      out.u32(nDecl + 1);
      out.copy(b, declsFrom, this.p);
      out.byte(1);
      out.byte(0x7e);
    } else {
      out.copy(b, declStart, this.p);
    }
    const encF = encodeU32(total);
    const encG = this.encG;

    // Fuel state.
    const scratch = this.scratch;
    let segOut = out.len;
    let segCost = 0;
    let segKind = 2; // 0 plain, 1 loop header, 2 function entry
    const endSeg = (): void => {
      if (fuel && (segCost > 0 || segKind !== 0)) {
        const n = prefix(scratch, segKind, segCost);
        out.insert(segOut, scratch, n);
      }
      segOut = out.len;
      segCost = 0;
      segKind = 0;
    };
    // The counter is an i64: it never needs refilling, so running out is a
    // plain trap (no call in loops, which would cost TurboFan registers).
    // Written byte by byte: this runs once per segment, so no temporary arrays.
    const prefix = (s: Uint8Array, kind: number, cost: number): number => {
      let n = 0;
      const idx = (op: number, e: number[]): void => { s[n++] = op; for (let i = 0; i < e.length; i++) s[n++] = e[i]!; };
      const charge = (): void => {
        if (cost <= 0) return;
        s[n++] = 0x42; // i64.const cost (signed LEB128, cost > 0)
        let v = cost;
        for (;;) {
          const byte = v & 0x7f;
          v = Math.floor(v / 128);
          if (v === 0 && (byte & 0x40) === 0) { s[n++] = byte; break; }
          s[n++] = byte | 0x80;
        }
        s[n++] = 0x7d; // i64.sub
      };
      const trapIfNegative = (): void => { s[n++] = 0x42; s[n++] = 0x00; s[n++] = 0x53; s[n++] = 0x04; s[n++] = 0x40; };
      if (kind === 0) {
        if (local) { idx(0x20, encF); charge(); idx(0x21, encF); }
        else { idx(0x23, encG); charge(); idx(0x24, encG); }
        return n;
      }
      // Charge; if the counter went negative, publish it and trap.
      if (local) {
        if (kind === 2) idx(0x23, encG); else idx(0x20, encF);
        charge();
        idx(0x22, encF);
        trapIfNegative();
        idx(0x20, encF); idx(0x24, encG); s[n++] = 0x00; s[n++] = 0x0b;
      } else if (extra) {
        idx(0x23, encG); charge(); idx(0x22, encF); idx(0x24, encG); idx(0x20, encF);
        trapIfNegative();
        s[n++] = 0x00; s[n++] = 0x0b;
      } else {
        if (cost > 0) { idx(0x23, encG); charge(); idx(0x24, encG); }
        idx(0x23, encG);
        trapIfNegative();
        s[n++] = 0x00; s[n++] = 0x0b;
      }
      return n;
    };
    // Control stack.
    let kinds = this.kinds;
    let targeted = this.targeted;
    let depth = 1;
    kinds[0] = K_FUNC;
    const push = (k: number): void => {
      if (depth >= kinds.length) {
        const nk = new Uint8Array(kinds.length * 2); nk.set(kinds); kinds = this.kinds = nk;
        const nt = new Uint8Array(targeted.length * 2); nt.set(targeted); targeted = this.targeted = nt;
      }
      kinds[depth] = k;
      targeted[depth] = 0;
      depth++;
    };
    // Marks a branch target; returns true when the branch leaves the function.
    const target = (l: number): boolean => {
      const f = depth - 1 - l;
      if (f < 0) this.fail(this.p, `branch depth ${l} out of range`);
      if (f === 0) return true;
      targeted[f] = 1;
      return false;
    };

    let run = this.p; // input bytes not yet copied
    const flush = (q: number): void => {
      if (q > run) out.copy(b, run, q);
      run = q;
    };
    const sync = (): void => {
      if (local) { out.byte(0x20); out.bytes(encF); out.byte(0x24); out.bytes(encG); }
    };
    const reload = (): void => {
      if (local) { out.byte(0x23); out.bytes(encG); out.byte(0x21); out.bytes(encF); }
    };

    while (true) {
      const at = this.p;
      if (at >= end) this.fail(at, "function body ends without `end`");
      const op = b[this.p++]!;
      switch (op) {
        case 0x00: // unreachable
          flush(this.p); endSeg(); break;
        case 0x01: break; // nop
        case 0x02: this.skipBlockType(); push(K_BLOCK); break;
        case 0x03:
          if (upgrade && !local) throw NEED_LOCAL_MODE;
          this.skipBlockType(); push(K_LOOP);
          if (fuel) { flush(this.p); endSeg(); segKind = 1; }
          break;
        case 0x04:
          this.skipBlockType(); push(K_IF); segCost++;
          if (fuel) { flush(this.p); endSeg(); }
          break;
        case 0x05: // else
          if (kinds[depth - 1] !== K_IF) this.fail(at, "else outside if");
          if (fuel) { flush(this.p); endSeg(); }
          break;
        case 0x06: // try (legacy exceptions)
          if (local) throw NEED_GLOBAL_MODE;
          upgrade = false;
          this.skipBlockType(); push(K_TRY); segCost++; break;
        case 0x07: case 0x19: // catch, catch_all
          if (local) throw NEED_GLOBAL_MODE;
          upgrade = false;
          if (kinds[depth - 1] !== K_TRY) this.fail(at, "catch outside try");
          if (op === 0x07) this.skipLeb(5);
          if (fuel) { flush(this.p); endSeg(); }
          segCost++;
          break;
        case 0x08: // throw
          if (local) throw NEED_GLOBAL_MODE;
          upgrade = false;
          this.skipLeb(5); segCost++;
          if (fuel) { flush(this.p); endSeg(); }
          break;
        case 0x09: // rethrow
          if (local) throw NEED_GLOBAL_MODE;
          upgrade = false;
          this.skipLeb(5); segCost++;
          if (fuel) { flush(this.p); endSeg(); }
          break;
        case 0x0a: // throw_ref
          if (local) throw NEED_GLOBAL_MODE;
          upgrade = false;
          segCost++;
          if (fuel) { flush(this.p); endSeg(); }
          break;
        case 0x18: { // delegate: ends a try like `end`
          if (local) throw NEED_GLOBAL_MODE;
          upgrade = false;
          if (kinds[depth - 1] !== K_TRY) this.fail(at, "delegate outside try");
          depth--;
          target(this.u32());
          segCost++;
          if (fuel) { flush(this.p); endSeg(); }
          break;
        }
        case 0x1f: { // try_table
          if (local) throw NEED_GLOBAL_MODE;
          upgrade = false;
          this.skipBlockType();
          const n = this.u32();
          for (let i = 0; i < n; i++) {
            const k = this.u8();
            if (k > 3) this.fail(this.p - 1, `unknown catch kind ${k}`);
            if (k < 2) this.skipLeb(5);
            target(this.u32());
          }
          push(K_TRY_TABLE);
          segCost++;
          break;
        }
        case 0x0b: { // end
          depth--;
          if (depth === 0) {
            if (fuel) { flush(at); sync(); flush(this.p); endSeg(); }
            else flush(this.p);
            if (this.p !== end) this.fail(this.p, "bytes after the end of a function body");
            return;
          }
          const k = kinds[depth]!;
          if (fuel && (k === K_IF || k === K_TRY || k === K_TRY_TABLE || (k === K_BLOCK && targeted[depth]))) {
            flush(this.p); endSeg();
          }
          break;
        }
        case 0x0c: { // br
          const l = this.u32();
          segCost++;
          if (target(l) && fuel) { flush(at); sync(); }
          if (fuel) { flush(this.p); endSeg(); }
          break;
        }
        case 0x0d: case 0xd5: case 0xd6: { // br_if, br_on_null, br_on_non_null
          const l = this.u32();
          segCost++;
          if (target(l) && fuel) { flush(at); sync(); }
          if (fuel) { flush(this.p); endSeg(); }
          break;
        }
        case 0x0e: { // br_table
          const n = this.u32();
          let leaves = false;
          for (let i = 0; i <= n; i++) if (target(this.u32())) leaves = true;
          segCost++;
          if (fuel) {
            if (leaves) { flush(at); sync(); }
            flush(this.p); endSeg();
          }
          break;
        }
        case 0x0f: // return
          if (fuel) { flush(at); sync(); flush(this.p); endSeg(); }
          break;
        case 0x10: { // call
          const f = this.u32();
          segCost++;
          if (kF > 0 || local) {
            flush(at);
            sync();
            out.byte(0x10);
            out.u32(f < nImpF ? f : f + kF);
            run = this.p;
            reload();
          }
          break;
        }
        case 0x12: { // return_call
          const f = this.u32();
          segCost++;
          if (kF > 0 || fuel) {
            flush(at);
            sync();
            out.byte(0x12);
            out.u32(f < nImpF ? f : f + kF);
            run = this.p;
            if (fuel) endSeg();
          }
          break;
        }
        case 0x11: case 0x13: // call_indirect, return_call_indirect
          this.skipLeb(5); this.skipLeb(5);
          segCost++;
          if (local) {
            flush(at); sync(); flush(this.p);
            if (op === 0x11) reload();
          }
          if (op === 0x13 && fuel) { flush(this.p); endSeg(); }
          break;
        case 0x14: case 0x15: // call_ref, return_call_ref
          this.skipLeb(5);
          segCost++;
          if (local) {
            flush(at); sync(); flush(this.p);
            if (op === 0x14) reload();
          }
          if (op === 0x15 && fuel) { flush(this.p); endSeg(); }
          break;
        case 0x1a: break; // drop
        case 0x1b: segCost++; break; // select
        case 0x1c: { // select t*
          const n = this.u32();
          for (let i = 0; i < n; i++) this.skipValType();
          segCost++;
          break;
        }
        case 0x20: case 0x21: case 0x22:
          // Validate here: an out-of-range index could otherwise name the added fuel local.
          if (this.u32() >= total) this.fail(at, "unknown local");
          segCost++;
          break;
        case 0x25: case 0x26: this.skipLeb(5); segCost++; break;
        case 0x23: case 0x24: {
          const g = this.u32();
          segCost++;
          if (kG > 0 && g >= nImpG) {
            flush(at);
            out.byte(op);
            out.u32(g + kG);
            run = this.p;
          }
          break;
        }
        case 0x3f: this.skipLeb(5); segCost++; break; // memory.size
        case 0x40: { // memory.grow
          const m = this.u32();
          segCost++;
          if (memHelper) {
            const h = memHelper[m];
            if (h === undefined) this.fail(at, `memory.grow of unknown memory ${m}`);
            flush(at);
            out.byte(0x10);
            out.u32(h);
            run = this.p;
          }
          break;
        }
        case 0x41: this.skipLeb(5); segCost++; break;
        case 0x42: this.skipLeb(10); segCost++; break;
        case 0x43: this.p += 4; segCost++; break;
        case 0x44: this.p += 8; segCost++; break;
        case 0xd0: this.skipLeb(5); segCost++; break; // ref.null
        case 0xd1: case 0xd3: case 0xd4: segCost++; break; // ref.is_null, ref.eq, ref.as_non_null
        case 0xd2: { // ref.func
          const f = this.u32();
          segCost++;
          if (kF > 0 && f >= nImpF) {
            flush(at);
            out.byte(0xd2);
            out.u32(f + kF);
            run = this.p;
          }
          break;
        }
        case 0xfc: {
          const sub = this.u32();
          segCost++;
          if (sub <= 7) break; // saturating truncations
          switch (sub) {
            case 8: this.skipLeb(5); this.skipLeb(5); break; // memory.init
            case 9: this.skipLeb(5); break; // data.drop
            case 10: this.skipLeb(5); this.skipLeb(5); break; // memory.copy
            case 11: this.skipLeb(5); break; // memory.fill
            case 12: this.skipLeb(5); this.skipLeb(5); break; // table.init
            case 13: this.skipLeb(5); break; // elem.drop
            case 14: this.skipLeb(5); this.skipLeb(5); break; // table.copy
            case 15: { // table.grow
              const t = this.u32();
              if (tabHelper) {
                const h = tabHelper[t];
                if (h === undefined) this.fail(at, `table.grow of unknown table ${t}`);
                flush(at);
                out.byte(0x10);
                out.u32(h);
                run = this.p;
              }
              break;
            }
            case 16: case 17: this.skipLeb(5); break; // table.size, table.fill
            default: this.fail(at, `unknown opcode 0xfc ${sub}`);
          }
          break;
        }
        case 0xfd: {
          const sub = this.u32();
          segCost++;
          if (sub <= 11 || sub === 92 || sub === 93) this.skipMemarg();
          else if (sub === 12 || sub === 13) this.p += 16;
          else if (sub >= 21 && sub <= 34) this.p += 1;
          else if (sub >= 84 && sub <= 91) { this.skipMemarg(); this.p += 1; }
          else if (sub > 0x113) this.fail(at, `unknown SIMD opcode ${sub}`);
          break;
        }
        case 0xfe: {
          const sub = this.u32();
          segCost++;
          if (sub === 3) { this.p += 1; break; } // atomic.fence
          if (sub > 0x4e || (sub > 3 && sub < 0x10)) this.fail(at, `unknown atomic opcode ${sub}`);
          this.skipMemarg();
          break;
        }
        default:
          if (op >= 0x28 && op <= 0x3e) { this.skipMemarg(); segCost++; break; }
          if (op >= 0x45 && op <= 0xc4) { segCost++; break; }
          this.fail(at, `unknown or unsupported opcode 0x${op.toString(16)}`);
      }
      if (this.p > end) this.fail(at, "instruction runs past the end of the function body");
    }
  }

  skipMemarg(): void {
    const align = this.u32();
    if (align & 0x40) this.skipLeb(5); // memory index (multi-memory)
    this.skipLeb(10);
  }
}

