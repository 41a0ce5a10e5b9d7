/**
 * Single-pass binary rewriter for core Wasm modules: fuel metering, memory and
 * table caps. It never builds an AST: sections it does not change are copied in
 * bulk, function bodies are streamed instruction by instruction and only the
 * bytes that change are re-encoded. See docs/fuel-and-memory.md.
 */
import { ByteWriter, encodeName, encodeS32, encodeU32 } from "./byte-writer.js";
import { InstrumentError, LimitCapError } from "./errors.js";
import { FUEL_ENTRY_PREFIX, LIMITS_MODULE, type InstrumentResult, type MemoryInfo, type TableInfo } from "./types.js";

export interface RewriteOptions {
  fuel: boolean;
  memoryBytes: number | undefined;
  tableElements: number | undefined;
  label: string;
  /** The plugin, named in errors. */
  plugin?: string | undefined;
  /** Exported functions that get a fuel entry (`FUEL_ENTRY_PREFIX` + name; see `InstrumentOptions.fuelEntries`). */
  fuelEntries?: readonly string[] | undefined;
}

/** `InstrumentResult` without the cache key, which the caller adds. */
export type RewriteOutput = Omit<InstrumentResult, "key">;

const PAGE = 65536;
const MAX_PAGES = 65536; // V8's limit for 32-bit memories
const MAX_TABLE_INIT = 10_000_000; // V8's limit on a table's initial size
const MAX_LOCALS = 50_000; // V8's limit on params + locals

// Section ids and their required order (custom sections, id 0, go anywhere).
const RANK: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

// Control frame kinds.
const K_FUNC = 0, K_BLOCK = 1, K_LOOP = 2, K_IF = 3, K_TRY = 4, K_TRY_TABLE = 5;
// Segment kinds: where a straight-line segment starts.
const SEG_PLAIN = 0, SEG_LOOP = 1, SEG_ENTRY = 2;

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
/** Thrown when the module cannot use fuel threading; it is redone without it. */
const NEED_UNTHREADED = Symbol("need-unthreaded");
const MAX_PARAMS = 1000; // V8's limits on a function type
const MAX_RESULTS = 1000;
const MAX_FUNCTIONS = 1_000_000;
// A threaded twin of a table costs V8 as much memory as the table: only small ones get one (StarlingMonkey's has 7,707).
const MAX_TWIN_TABLE = 65_536;

/** Thrown when code mutates a table planned to have a threaded twin; the module is redone without that twin. */
class TableMutated {
  constructor(readonly table: number) {}
}

export function rewriteModule(input: Uint8Array, opts: RewriteOptions): RewriteOutput {
  const noTwin = new Set<number>();
  for (;;) {
    try {
      return new Rewriter(input, opts, true, noTwin).run();
    } catch (e) {
      if (e instanceof TableMutated) { noTwin.add(e.table); continue; }
      if (e !== NEED_UNTHREADED) throw e;
      break;
    }
  }
  // Tail calls that cannot carry the fuel along (to imports, indirect through
  // a table without a twin), or a function at V8's locals limit: meter the
  // module without threading.
  return new Rewriter(input, opts, false, noTwin).run();
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
  funcResultCount: number[] = [];
  funcParamsAt: number[] = []; // input offsets: params from funcParamsAt to funcResultsAt (with the count LEB)
  funcResultsAt: number[] = [];
  funcTypeEnd: number[] = [];
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
  tyTableGrow: number[] = [];
  fuelGlobal = -1;
  memGrowFunc = -1;
  memReleaseFunc = -1;
  tableGrowFunc = -1;
  tableReleaseFunc = -1;
  memHelper: number[] = []; // memory index -> helper function index
  tableHelper: number[] = [];
  limitsImports: string[] = [];
  codeBytes = 0;
  functions = 0;
  // Fuel threading: each defined function gets an extra i64 parameter and
  // result carrying the fuel left, so direct calls keep it in registers.
  // Functions referenced other than by a direct call (exports, tables,
  // ref.func, start) get an entry wrapper with the original type.
  readonly allowThreading: boolean;
  threaded = false;
  nDef = 0;
  referenced = new Uint8Array(0); // by defined function: needs a wrapper
  wrapperOf = new Int32Array(0); // by defined function: wrapper index or -1
  wrapped: number[] = []; // defined functions with a wrapper, in wrapper order
  threadedType: number[] = []; // by type index: the threaded type index
  // Fuel entries: an export's twin taking the counter's start value and an address, storing what is left there.
  entries: { func: number; type: number; name: string }[] = [];
  firstEntry = 0;
  blockType: (number[] | undefined)[] = []; // by type index: block type of the body's result block
  // Threaded twins of tables. A table the module defines, does not export and
  // never changes after instantiation (no table.set/grow/fill/init/copy into
  // it; its active segments hold only functions and nulls) gets a twin: the
  // same slots holding the threaded functions, imports through a thunk of
  // the threaded type. A call_indirect on the table becomes one on its twin
  // with the threaded type, passing the fuel as a direct call does, instead
  // of going through the callee's entry wrapper. Types that are equal map to
  // equal threaded types and unequal ones to unequal ones, so a signature
  // check fails exactly when it did; the twin has the table's size and nulls,
  // so out-of-bounds and null traps are the same too.
  readonly noTwin: ReadonlySet<number>;
  plainTypes = true; // every type a final function type outside any rec group
  impFuncTypes: number[] = [];
  tableExported: boolean[] = [];
  tableHasInit: boolean[] = [];
  twinOk: boolean[] = []; // by table: its active segments can be mirrored
  twinOf = new Int32Array(0); // by table: the twin's table index or -1
  twinTables: number[] = []; // tables with a twin, in twin order
  thunkOf = new Map<number, number>(); // imported function -> its threaded thunk
  thunked: number[] = []; // imported functions with a thunk, in thunk order
  twinSegments = 0; // element segments added to fill the twins

  // Reused across bodies: the control stack and the prefix being built.
  scratch = new Uint8Array(64);
  kinds = new Uint8Array(64);
  targeted = new Uint8Array(64);
  // Encoded indices used in the inserted sequences.
  encG: number[] = [];

  constructor(input: Uint8Array, opts: RewriteOptions, allowThreading: boolean, noTwin: ReadonlySet<number>) {
    this.b = input;
    this.o = opts;
    this.allowThreading = allowThreading;
    this.noTwin = noTwin;
    // Fuel adds about a third to the code: size the buffer so it never has to grow.
    this.out = new ByteWriter(input.length + (input.length >> 1) + 1024);
  }

  fail(at: number, reason: string): never {
    throw new InstrumentError(this.o.label, at, reason, this.o.plugin ? { plugin: this.o.plugin } : {});
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
        this.plainTypes = false;
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
      this.plainTypes = false;
      const m = this.u32();
      for (let j = 0; j < m; j++) this.u32();
      form = this.u8();
    }
    if (form === 0x60) {
      const pa = this.p;
      const np = this.u32();
      for (let k = 0; k < np; k++) this.skipValType();
      const ra = this.p;
      const nr = this.u32();
      for (let k = 0; k < nr; k++) this.skipValType();
      this.funcParamCount.push(np);
      this.funcResultCount.push(nr);
      this.funcParamsAt.push(pa);
      this.funcResultsAt.push(ra);
      this.funcTypeEnd.push(this.p);
    } else if (form === 0x5f) {
      this.plainTypes = false;
      const nf = this.u32();
      for (let k = 0; k < nf; k++) { this.skipStorageType(); this.u8(); }
      this.notFuncType();
    } else if (form === 0x5e) {
      this.plainTypes = false;
      this.skipStorageType();
      this.u8();
      this.notFuncType();
    } else {
      this.fail(this.p - 1, `unknown type form 0x${form.toString(16)}`);
    }
    this.typeCount++;
  }

  notFuncType(): void {
    this.funcParamCount.push(-1);
    this.funcResultCount.push(-1);
    this.funcParamsAt.push(-1);
    this.funcResultsAt.push(-1);
    this.funcTypeEnd.push(-1);
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
      const at = this.p;
      const module = this.readName();
      const name = this.readName();
      // The fuel counter is the rewriter's to import: a module naming it itself could set its own fuel.
      if (module === LIMITS_MODULE) this.fail(at, `imports from "${LIMITS_MODULE}" are reserved for the instrumenter`);
      const kind = this.u8();
      switch (kind) {
        case 0: this.impFuncTypes.push(this.u32()); this.nImpF++; break;
        case 1: {
          const rt = this.readRefType();
          const l = this.readLimits("table");
          this.tableRefTypes.push(rt);
          this.tableHasInit.push(false);
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

  /** Marks a defined function that is referenced other than by a direct call (it gets an entry wrapper). */
  markRef(i: number): void {
    const d = i - this.nImpF;
    if (d >= 0 && d < this.referenced.length) this.referenced[d] = 1;
  }

  /** Functions referenced by exports, elements, globals and the start section; which tables can have a twin. */
  scanRefs(): void {
    const nT = this.tables.length;
    this.tableExported = new Array<boolean>(nT).fill(false);
    this.twinOk = new Array<boolean>(nT).fill(true);
    const gs = this.section(6);
    if (gs) {
      this.p = gs.start;
      const n = this.u32();
      for (let i = 0; i < n; i++) { this.skipValType(); this.u8(); this.constExpr(null); }
    }
    const es = this.section(7);
    if (es) {
      this.p = es.start;
      const n = this.u32();
      for (let i = 0; i < n; i++) {
        this.skipName();
        const kind = this.u8();
        const idx = this.u32();
        if (kind === 0) this.markRef(idx);
        else if (kind === 1 && idx < nT) this.tableExported[idx] = true;
      }
    }
    const ss = this.section(8);
    if (ss) { this.p = ss.start; this.markRef(this.u32()); }
    const els = this.section(9);
    if (els) {
      this.p = els.start;
      const n = this.u32();
      for (let i = 0; i < n; i++) {
        const flags = this.u32();
        if (flags > 7) this.fail(this.p, `unknown element segment flags ${flags}`);
        const t = flags === 2 || flags === 6 ? this.u32() : 0;
        const active = (flags & 1) === 0;
        if (active) this.constExpr(null);
        const exprs = (flags & 4) !== 0;
        if (flags & 3) { if (exprs) this.skipValType(); else if (this.u8() !== 0) this.twinOk[t] = false; }
        const m = this.u32();
        for (let j = 0; j < m; j++) {
          if (exprs) {
            if (active && this.elemExprFunc() === -2) this.twinOk[t] = false;
            this.constExpr(null);
          } else {
            this.markRef(this.u32());
          }
        }
      }
    }
  }

  /**
   * The element expression at `p`, left unread: its function for `ref.func f`, -1 for `ref.null`, -2 for anything
   * else (a `global.get` cannot be mirrored: the global holds the original reference).
   */
  elemExprFunc(): number {
    const at = this.p;
    let r = -2;
    const op = this.u8();
    if (op === 0xd2) {
      const f = this.u32();
      if (this.u8() === 0x0b) r = f;
    } else if (op === 0xd0) {
      this.skipLeb(5);
      if (this.u8() === 0x0b) r = -1;
    }
    this.p = at;
    return r;
  }

  // ── plan ───────────────────────────────────────────────────────────────────

  plan(): void {
    const hasCode = this.definedFuncTypes.length > 0;
    this.needFuel = this.o.fuel && hasCode;
    this.needMem = this.o.memoryBytes !== undefined && hasCode && this.memories.length > 0;
    this.needTab = this.o.tableElements !== undefined && hasCode && this.tables.length > 0;
    const addType = (t: number[]): number => { this.newTypes.push(t); return this.typeCount + this.newTypes.length - 1; };
    if (this.needMem || this.needTab) this.tyI32I32 = addType([0x60, 0x01, 0x7f, 0x01, 0x7f]);
    if (this.needTab) {
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
      this.tableGrowFunc = f++;
      this.tableReleaseFunc = f++;
      this.limitsImports.push("table_grow", "table_release");
    }
    this.kF = f - this.nImpF;
    let h = this.nImpF + this.kF + this.definedFuncTypes.length;
    if (this.needMem) for (let m = 0; m < this.memories.length; m++) this.memHelper.push(h++);
    if (this.needTab) for (let t = 0; t < this.tables.length; t++) this.tableHelper.push(h++);
    this.encG = encodeU32(this.fuelGlobal);
    this.planThreading(h, addType);
    this.planEntries(h + this.wrapped.length + this.thunked.length, addType);
  }

  /**
   * The fuel entries `o.fuelEntries` asks for: one per exported defined function of that name, when the module is
   * metered and has a (32-bit) memory 0 to store the fuel left in. A name already exported is left alone.
   */
  planEntries(first: number, addType: (t: number[]) => number): void {
    const want = this.o.fuelEntries;
    const es = this.section(7);
    if (!this.needFuel || !want || want.length === 0 || this.memories.length === 0 || !es) return;
    const save = this.p;
    this.p = es.start;
    const n = this.u32();
    const names = new Set<string>();
    const found: { func: number; name: string }[] = [];
    for (let i = 0; i < n; i++) {
      const name = this.readName();
      const kind = this.u8();
      const idx = this.u32();
      names.add(name);
      if (kind === 0 && idx >= this.nImpF && want.includes(name)) found.push({ func: idx, name });
    }
    this.p = save;
    const b = this.b;
    for (const { func, name } of found) {
      const t = this.definedFuncTypes[func - this.nImpF];
      if (t === undefined) continue;
      const np = this.funcParamCount[t];
      if (np === undefined || np < 0 || np + 2 > MAX_PARAMS || names.has(FUEL_ENTRY_PREFIX + name)) continue;
      this.p = this.funcParamsAt[t]!;
      this.u32();
      const ps = this.p;
      const ra = this.funcResultsAt[t]!;
      const type = addType([0x60, ...encodeU32(np + 2), ...Array.from(b.subarray(ps, ra)), 0x7c, 0x7f, ...Array.from(b.subarray(ra, this.funcTypeEnd[t]!))]);
      this.entries.push({ func, type, name: FUEL_ENTRY_PREFIX + name });
    }
    this.p = save;
    this.firstEntry = first;
  }

  planThreading(firstWrapper: number, addType: (t: number[]) => number): void {
    const nDef = this.nDef;
    this.wrapperOf = new Int32Array(nDef).fill(-1);
    if (!this.needFuel || !this.allowThreading) return;
    let nWrap = 0;
    for (let d = 0; d < nDef; d++) if (this.referenced[d]) nWrap++;
    if (firstWrapper + nWrap > MAX_FUNCTIONS) return;
    for (const t of this.definedFuncTypes) {
      const np = this.funcParamCount[t];
      if (np === undefined || np < 0) return; // a body checks this and fails
      if (np + 1 > MAX_PARAMS || this.funcResultCount[t]! + 1 > MAX_RESULTS) return;
    }
    const b = this.b;
    for (const t of this.definedFuncTypes) {
      if (this.threadedType[t] !== undefined) continue;
      this.p = this.funcResultsAt[t]!;
      const nr = this.u32();
      const results = Array.from(b.subarray(this.p, this.funcTypeEnd[t]!));
      this.threadType(t, addType);
      if (nr === 0) this.blockType[t] = [0x40];
      else if (nr === 1) this.blockType[t] = results;
      else this.blockType[t] = encodeS32(addType([0x60, 0x00, ...encodeU32(nr), ...results]));
    }
    this.threaded = true;
    let w = firstWrapper;
    for (let d = 0; d < nDef; d++) {
      if (this.referenced[d]) { this.wrapperOf[d] = w++; this.wrapped.push(d); }
    }
    this.planTwins(w, addType);
  }

  /** Adds the threaded type of function type `t`: one more i64 parameter and result, the fuel. */
  threadType(t: number, addType: (t: number[]) => number): void {
    const b = this.b;
    this.p = this.funcParamsAt[t]!;
    const np = this.u32();
    const ps = this.p;
    const ra = this.funcResultsAt[t]!;
    this.p = ra;
    const nr = this.u32();
    const rs = this.p;
    const re = this.funcTypeEnd[t]!;
    this.threadedType[t] = addType([0x60, ...encodeU32(np + 1), ...Array.from(b.subarray(ps, ra)), 0x7e, ...encodeU32(nr + 1), ...Array.from(b.subarray(rs, re)), 0x7e]);
  }

  /** A function type whose threaded type stays within V8's limits. */
  threadable(t: number | undefined): t is number {
    if (t === undefined) return false;
    const np = this.funcParamCount[t];
    return np !== undefined && np >= 0 && np + 1 <= MAX_PARAMS && this.funcResultCount[t]! + 1 <= MAX_RESULTS;
  }

  /** Which tables get a threaded twin (see `noTwin`), the thunks their imported functions need, and the types. */
  planTwins(firstThunk: number, addType: (t: number[]) => number): void {
    const nT = this.tables.length;
    this.twinOf = new Int32Array(nT).fill(-1);
    if (!this.plainTypes) return; // subtyping or rec groups: keep V8's own signature check on the original types
    const want: number[] = [];
    for (let t = 0; t < nT; t++) {
      const rt = this.tableRefTypes[t]!;
      if (this.tables[t]!.imported || this.tableExported[t] || this.tableHasInit[t] || !this.twinOk[t] || this.noTwin.has(t)) continue;
      if (rt.length !== 1 || rt[0] !== 0x70 || this.tables[t]!.minimum > MAX_TWIN_TABLE) continue;
      want.push(t);
    }
    if (want.length === 0) return;
    // The imported functions in the twins' slots, each reached through a thunk of the threaded type.
    const thunked: number[] = [];
    const seen = new Set<number>();
    let ok = true;
    this.forTwinSegments(new Set(want), (_t, _at, slots) => {
      for (const f of slots) {
        if (f < 0 || f >= this.nImpF || seen.has(f)) continue;
        seen.add(f);
        thunked.push(f);
        if (!this.threadable(this.impFuncTypes[f])) ok = false;
      }
    });
    if (!ok || firstThunk + thunked.length > MAX_FUNCTIONS) return;
    for (let k = 0; k < thunked.length; k++) this.thunkOf.set(thunked[k]!, firstThunk + k);
    this.thunked = thunked;
    for (const t of want) { this.twinOf[t] = nT + this.twinTables.length; this.twinTables.push(t); }
    this.forTwinSegments(new Set(want), () => { this.twinSegments++; });
    // Every function type a call_indirect may name gets its threaded type.
    for (let t = 0; t < this.typeCount; t++) if (this.threadedType[t] === undefined && this.threadable(t)) this.threadType(t, addType);
  }

  /**
   * Calls `each` for every active segment on one of `tables`, in order, with the input offset of its offset
   * expression and its slots: function indices, -1 for a null.
   */
  forTwinSegments(tables: ReadonlySet<number>, each: (t: number, offsetAt: number, slots: number[]) => void): void {
    const es = this.section(9);
    if (!es) return;
    const save = this.p;
    this.p = es.start;
    const n = this.u32();
    for (let i = 0; i < n; i++) {
      const flags = this.u32();
      const t = flags === 2 || flags === 6 ? this.u32() : 0;
      const active = (flags & 1) === 0;
      const offsetAt = this.p;
      if (active) this.constExpr(null);
      const exprs = (flags & 4) !== 0;
      if (flags & 3) { if (exprs) this.skipValType(); else this.u8(); }
      const m = this.u32();
      const slots: number[] = [];
      for (let j = 0; j < m; j++) {
        if (exprs) { slots.push(this.elemExprFunc()); this.constExpr(null); } else slots.push(this.u32());
      }
      if (active && tables.has(t)) each(t, offsetAt, slots);
    }
    this.p = save;
  }

  /** A function index in a direct call: defined functions move up past the added imports. */
  remapF(i: number): number {
    if (i < this.nImpF) return i;
    if (i - this.nImpF >= this.nDef) this.fail(this.p, `unknown function ${i}`);
    return i + this.kF;
  }

  /** A function index used as a reference (export, table, ref.func, start): the entry wrapper when there is one. */
  remapRef(i: number): number {
    if (i < this.nImpF) return i;
    const d = i - this.nImpF;
    if (d >= this.nDef) this.fail(this.p, `unknown function ${i}`);
    const w = this.wrapperOf[d]!;
    return w >= 0 ? w : i + this.kF;
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
    this.nDef = this.definedFuncTypes.length;
    this.referenced = new Uint8Array(this.nDef);
    const tabs = this.section(4);
    if (tabs) {
      this.scanTablesSafe(tabs);
    }
    const ms = this.section(5);
    if (ms) this.scanMemories(ms);
    const cs = this.section(10);
    const nBodies = cs ? this.countAt(cs) : 0;
    if (nBodies !== this.definedFuncTypes.length) this.fail(cs?.start ?? 0, "function and code section counts differ");
    if (this.o.fuel && this.allowThreading && this.nDef > 0) this.scanRefs();
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
        case 4: if (this.o.tableElements !== undefined || this.twinTables.length > 0) this.writeSection(4, () => this.writeTables(s), s); else this.copySection(s); break;
        case 5: if (this.o.memoryBytes !== undefined) this.writeSection(5, () => this.writeMemories(s), s); else this.copySection(s); break;
        case 6: if (changed) this.writeSection(6, () => this.writeGlobals(s), s); else this.copySection(s); break;
        case 7: if (changed) this.writeSection(7, () => this.writeExports(s), s); else this.copySection(s); break;
        case 8: if (changed) this.writeSection(8, () => { this.p = s.start; out.u32(this.remapRef(this.u32())); }, s); else this.copySection(s); break;
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
    let definedTableElements = 0;
    for (const t of this.tables) if (!t.imported) definedTableElements += t.minimum;
    return {
      bytes: out.result(),
      fuel: this.needFuel,
      memories: this.memories,
      tables: this.tables,
      definedMemoryBytes,
      definedTableElements,
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
      this.tableHasInit.push(hasInit);
      const l = this.readLimits("table");
      if (l.min > MAX_TABLE_INIT) this.fail(l.at, `table minimum ${l.min} exceeds ${MAX_TABLE_INIT}`);
      this.tables.push({ index: this.tables.length, imported: false, minimum: l.min, ...(l.max !== undefined ? { maximum: l.max } : {}) });
      if (hasInit) this.constExpr(null);
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
    if (this.needTab) { fn("table_grow", this.tyI32I32); fn("table_release", this.tyI32I32); }
  }

  writeFunctions(s: Section): void {
    const out = this.out;
    this.p = s.start;
    const n = this.u32();
    out.u32(n + this.memHelper.length + this.tableHelper.length + this.wrapped.length + this.thunked.length + this.entries.length);
    if (this.threaded) {
      for (let i = 0; i < n; i++) out.u32(this.threadedType[this.u32()]!);
    } else {
      out.copy(this.b, this.p, s.end);
      this.p = s.end;
    }
    for (let m = 0; m < this.memHelper.length; m++) out.u32(this.tyI32I32);
    for (let t = 0; t < this.tableHelper.length; t++) out.u32(this.tyTableGrow[t]!);
    for (const d of this.wrapped) out.u32(this.definedFuncTypes[d]!);
    for (const f of this.thunked) out.u32(this.threadedType[this.impFuncTypes[f]!]!);
    for (const e of this.entries) out.u32(e.type);
  }

  writeLimits(kind: "memory" | "table", index: number, cap: number): void {
    const out = this.out;
    const l = this.readLimits(kind);
    if (l.min > cap) {
      const what = kind === "memory"
        ? `memory ${index} declares a minimum of ${l.min} pages (${l.min * PAGE} bytes), over the cap of ${cap * PAGE} bytes (${cap} pages)`
        : `table ${index} declares a minimum of ${l.min} elements, over the cap of ${cap} elements`;
      throw new LimitCapError(this.o.label, kind, index, kind === "memory" ? l.min * PAGE : l.min, kind === "memory" ? cap * PAGE : cap, what,
        this.o.plugin ? { plugin: this.o.plugin } : {});
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
    out.u32(n + this.twinTables.length);
    const cap = this.o.tableElements;
    if (cap === undefined) {
      out.copy(this.b, this.p, s.end);
      this.p = s.end;
    } else {
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
    // A twin never grows: its table never does (no table.grow, not exported).
    for (const t of this.twinTables) {
      const m = this.tables[t]!.minimum;
      out.byte(0x70); out.byte(0x01); out.u32(m); out.u32(m);
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
    out.u32(n + this.entries.length);
    for (let i = 0; i < n; i++) {
      const t = this.p;
      this.skipName();
      const kind = this.u8();
      out.copy(this.b, t, this.p);
      const idx = this.u32();
      out.u32(kind === 0 ? this.remapRef(idx) : kind === 3 ? this.remapG(idx) : idx);
    }
    this.entries.forEach((e, k) => {
      out.bytes(encodeName(e.name));
      out.byte(0);
      out.u32(this.firstEntry + k);
    });
  }

  writeElements(s: Section): void {
    const out = this.out;
    this.p = s.start;
    const n = this.u32();
    out.u32(n + this.twinSegments);
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
        else out.u32(this.remapRef(this.u32()));
      }
    }
    // The twins' segments, after all of the module's: one traps exactly when its original did, which ran first.
    if (this.twinSegments > 0) this.forTwinSegments(new Set(this.twinTables), (t, offsetAt, slots) => this.writeTwinSegment(t, offsetAt, slots));
  }

  writeTwinSegment(t: number, offsetAt: number, slots: number[]): void {
    const out = this.out;
    const nulls = slots.includes(-1);
    out.u32(nulls ? 6 : 2); // active, explicit table; expressions when there are nulls
    out.u32(this.twinOf[t]!);
    const save = this.p;
    this.p = offsetAt;
    this.constExpr(out);
    this.p = save;
    out.byte(nulls ? 0x70 : 0x00);
    out.u32(slots.length);
    for (const f of slots) {
      if (!nulls) { out.u32(this.twinFunc(f)); continue; }
      if (f < 0) { out.byte(0xd0); out.byte(0x70); } else { out.byte(0xd2); out.u32(this.twinFunc(f)); }
      out.byte(0x0b);
    }
  }

  /** What a twin table holds for function `f`: the threaded function, or an import's thunk. */
  twinFunc(f: number): number {
    return f < this.nImpF ? this.thunkOf.get(f)! : this.remapF(f);
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

  /**
   * Copy a constant expression, renumbering function and global references.
   * Without `out`, only read it and mark the functions it references.
   */
  constExpr(out: ByteWriter | null): void {
    for (;;) {
      const at = this.p;
      const op = this.u8();
      switch (op) {
        case 0x0b: out?.byte(op); return;
        case 0x41: case 0x42: this.skipLeb(10); out?.copy(this.b, at, this.p); break;
        case 0x43: this.p += 4; out?.copy(this.b, at, this.p); break;
        case 0x44: this.p += 8; out?.copy(this.b, at, this.p); break;
        case 0x23: { const g = this.u32(); if (out) { out.byte(op); out.u32(this.remapG(g)); } break; }
        case 0xd2: {
          const f = this.u32();
          if (out) { out.byte(op); out.u32(this.remapRef(f)); } else this.markRef(f);
          break;
        }
        case 0xd0: this.skipLeb(5); out?.copy(this.b, at, this.p); break;
        case 0xfd: {
          const sub = this.u32();
          if (sub !== 12) this.fail(at, `SIMD opcode ${sub} in a constant expression`);
          this.p += 16;
          out?.copy(this.b, at, this.p);
          break;
        }
        default:
          if (op >= 0x45 && op <= 0xc4) { out?.byte(op); break; } // extended-const arithmetic
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
          } else if (id === 2 && this.threaded && idx >= this.nImpF && idx - this.nImpF < this.nDef) {
            // Local names of a threaded function: the fuel parameter shifts the declared locals.
            const np = this.funcParamCount[this.definedFuncTypes[idx - this.nImpF]!]!;
            const m = this.u32();
            out.u32(m);
            for (let j = 0; j < m; j++) {
              const l = this.u32();
              out.u32(l >= np ? l + 1 : l);
              const t = this.p; this.skipName(); out.copy(this.b, t, this.p);
            }
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
    out.u32(n + this.memHelper.length + this.tableHelper.length + this.wrapped.length + this.thunked.length + this.entries.length);
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
      const bt = this.threaded ? this.blockType[ty]! : null;
      // Threaded: the counter lives in the fuel parameter, except in code
      // with exception handling, which keeps it in the global (a catch must
      // see what the callees used). Unthreaded: loop-free code keeps it in
      // the global (no syncing around calls), code with loops in a local.
      // A body is redone when a later opcode says so.
      let local = bt !== null;
      let upgrade = bt === null && this.needFuel;
      for (;;) {
        try {
          this.writeBody(start, end, np, bt, local, upgrade);
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
    for (const d of this.wrapped) this.writeWrapper(d);
    for (const f of this.thunked) this.writeThunk(f);
    for (const e of this.entries) this.writeEntry(e.func);
  }

  /**
   * Fuel entry of export `func`: its parameters, then the counter's start value (f64) and an address. It arms the
   * counter, calls the export (its entry wrapper when threaded), and stores the fuel left at the address as an f64
   * (memory 0), so the host reads it with a DataView instead of a second call into Wasm. The guest has returned
   * before the store: it cannot change what the host reads.
   */
  writeEntry(func: number): void {
    const out = this.out;
    const np = this.funcParamCount[this.definedFuncTypes[func - this.nImpF]!]!;
    const at = out.reserve5();
    out.byte(0); // no locals
    out.byte(0x20); out.u32(np); out.bytes([0xfc, 0x06]); out.byte(0x24); out.bytes(this.encG); // i64.trunc_sat_f64_s, global.set
    for (let i = 0; i < np; i++) { out.byte(0x20); out.u32(i); }
    out.byte(0x10); out.u32(this.remapRef(func));
    out.byte(0x20); out.u32(np + 1);
    out.byte(0x23); out.bytes(this.encG); out.byte(0xb9); // f64.convert_i64_s
    out.bytes([0x39, 0x03, 0x00]); // f64.store align=8 offset=0
    out.byte(0x0b);
    out.patch5(at, out.len - at - 5);
  }

  /** Entry wrapper of a threaded function: the original type, fuel from and back to the global. */
  writeWrapper(d: number): void {
    const out = this.out;
    const np = this.funcParamCount[this.definedFuncTypes[d]!]!;
    const at = out.reserve5();
    out.byte(0); // no locals
    for (let i = 0; i < np; i++) { out.byte(0x20); out.u32(i); }
    out.byte(0x23); out.bytes(this.encG);
    out.byte(0x10); out.u32(this.nImpF + this.kF + d);
    out.byte(0x24); out.bytes(this.encG);
    out.byte(0x0b);
    out.patch5(at, out.len - at - 5);
  }

  /** Thunk of an imported function in a twin table: the threaded type, fuel to and back from the global. */
  writeThunk(f: number): void {
    const out = this.out;
    const np = this.funcParamCount[this.impFuncTypes[f]!]!;
    const at = out.reserve5();
    out.byte(0); // no locals
    out.byte(0x20); out.u32(np); out.byte(0x24); out.bytes(this.encG);
    for (let i = 0; i < np; i++) { out.byte(0x20); out.u32(i); }
    out.byte(0x10); out.u32(f);
    out.byte(0x23); out.bytes(this.encG);
    out.byte(0x0b);
    out.patch5(at, out.len - at - 5);
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

  /** `table.grow` through the host's ledger, which caps the elements of all tables together. */
  writeTableHelper(t: number): void {
    const out = this.out;
    const body = [
      0x01, 0x01, 0x7f, // one i32 local
      0x20, 0x01, 0x10, ...encodeU32(this.tableGrowFunc), // ask the host's ledger for delta elements
      0x04, 0x7f,
      0x20, 0x00, 0x20, 0x01, 0xfc, 0x0f, ...encodeU32(t), 0x22, 0x02,
      0x41, 0x7f, 0x46, 0x04, 0x40, // grow failed anyway: give the reservation back
      0x20, 0x01, 0x10, ...encodeU32(this.tableReleaseFunc), 0x1a,
      0x0b,
      0x20, 0x02,
      0x05, 0x41, 0x7f,
      0x0b, 0x0b,
    ];
    out.u32(body.length);
    out.bytes(body);
  }

  // ── function bodies ───────────────────────────────────────────────────────
  // Per-body state, kept on the object (not in closures) so the hot loop stays fast.
  pending = 0; // input bytes not yet copied start here
  segOut = 0; // output offset where the current segment starts
  segCost = 0;
  segKind = SEG_ENTRY;
  entryAt = -1; // threaded: where the entry sequence goes, written last
  entryCost = 0;
  encF: number[] = [];
  bodyLocal = false;
  bodyExtra = false;
  bodyThreaded = false;
  // Threaded: the locals declaration as written (input from declFrom to declEnd after the count, output at declOut),
  // and the i32 scratch local added for the twin calls (null until the body has one).
  declOut = 0;
  declStart = 0;
  declFrom = 0;
  declEnd = 0;
  nDecl = 0;
  nLocals = 0;
  encS: number[] | null = null;

  /**
   * Threaded: declare one more i32 local, for the table index of a twin call (the fuel goes under it), in the
   * declaration already written. Returns false at V8's locals limit.
   */
  scratchLocal(): boolean {
    if (this.encS) return true;
    if (this.nLocals + 2 > MAX_LOCALS) return false;
    const out = this.out;
    const decl = [...encodeU32(this.nDecl + 1), ...this.b.subarray(this.declFrom, this.declEnd), 0x01, 0x7f];
    const old = this.declEnd - this.declStart;
    const delta = decl.length - old;
    out.insert(this.declOut + old, new Uint8Array(delta), delta);
    out.buf.set(decl, this.declOut);
    // Output offsets past the declaration move with it.
    this.segOut += delta;
    if (this.entryAt >= 0) this.entryAt += delta;
    this.encS = encodeU32(this.nLocals + 1);
    return true;
  }

  // Input offsets of one-byte local indices to copy as index + 1 (threaded
  // bodies shift the declared locals): patched after the copy, so the copy
  // runs stay long.
  patchAt = new Int32Array(256);
  nPatch = 0;

  addPatch(q: number): void {
    if (this.nPatch === this.patchAt.length) {
      const next = new Int32Array(this.patchAt.length * 2);
      next.set(this.patchAt);
      this.patchAt = next;
    }
    this.patchAt[this.nPatch++] = q;
  }

  flush(q: number): void {
    if (q > this.pending) {
      const base = this.out.len - this.pending;
      this.out.copy(this.b, this.pending, q);
      const n = this.nPatch;
      if (n > 0) {
        const buf = this.out.buf, at = this.patchAt;
        for (let i = 0; i < n; i++) buf[base + at[i]!]!++;
        this.nPatch = 0;
      }
    }
    this.pending = q;
  }

  /**
   * Copy the input up to `q`, then close the segment. When none of the
   * segment is written yet, its charge goes out first and nothing moves.
   */
  endSegAt(q: number): void {
    const kind = this.segKind, cost = this.segCost;
    if (this.needFuel && this.out.len === this.segOut && (cost > 0 || kind !== SEG_PLAIN) && !(kind === SEG_ENTRY && this.bodyThreaded)) {
      this.out.append(this.scratch, this.prefix(kind, cost, true));
      this.flush(q);
      this.segOut = this.out.len;
      this.segCost = 0;
      this.segKind = SEG_PLAIN;
      return;
    }
    this.flush(q);
    this.endSeg();
  }

  /** Close the current segment: insert its charge (and check) at its start. */
  endSeg(): void {
    const kind = this.segKind, cost = this.segCost;
    if (this.needFuel) {
      if (kind === SEG_ENTRY && this.bodyThreaded) {
        this.entryAt = this.segOut;
        this.entryCost = cost;
      } else if (cost > 0 || kind !== SEG_PLAIN) {
        const n = this.prefix(kind, cost, true);
        this.out.insert(this.segOut, this.scratch, n);
      }
    }
    this.segOut = this.out.len;
    this.segCost = 0;
    this.segKind = SEG_PLAIN;
  }

  /**
   * The fuel sequence of a segment, written into `scratch`; returns its length.
   * The counter is an i64, so it never needs refilling and running out is a
   * plain trap (no call in loops, which would cost TurboFan registers). The
   * trap stores the negative counter first, so the host can tell it apart.
   */
  prefix(kind: number, cost: number, check: boolean): number {
    const s = this.scratch, F = this.encF, G = this.encG;
    let n = 0;
    if (kind === SEG_PLAIN) {
      if (this.bodyLocal) { n = putIdx(s, n, 0x20, F); n = putCharge(s, n, cost); return putIdx(s, n, 0x21, F); }
      n = putIdx(s, n, 0x23, G); n = putCharge(s, n, cost); return putIdx(s, n, 0x24, G);
    }
    if (kind === SEG_ENTRY && this.bodyThreaded) {
      if (this.bodyLocal) {
        if (cost === 0 && !check) return 0;
        n = putIdx(s, n, 0x20, F);
        n = putCharge(s, n, cost);
        if (!check) return putIdx(s, n, 0x21, F);
        if (cost > 0) n = putIdx(s, n, 0x22, F);
        return putCheck(s, n, F, G);
      }
      // Global mode: the parameter moves to the global and becomes the scratch.
      n = putIdx(s, n, 0x20, F);
      n = putCharge(s, n, cost);
      if (!check) return putIdx(s, n, 0x24, G);
      n = putIdx(s, n, 0x22, F); n = putIdx(s, n, 0x24, G); n = putIdx(s, n, 0x20, F);
      return putCheck(s, n, null, G);
    }
    // A check point: a loop header, or the entry of an unthreaded function.
    if (this.bodyLocal) {
      n = putIdx(s, n, kind === SEG_ENTRY ? 0x23 : 0x20, kind === SEG_ENTRY ? G : F);
      n = putCharge(s, n, cost);
      if (cost > 0 || kind === SEG_ENTRY) n = putIdx(s, n, 0x22, F);
      return putCheck(s, n, F, G);
    }
    if (this.bodyExtra) {
      n = putIdx(s, n, 0x23, G);
      if (cost > 0) { n = putCharge(s, n, cost); n = putIdx(s, n, 0x22, F); n = putIdx(s, n, 0x24, G); n = putIdx(s, n, 0x20, F); }
      return putCheck(s, n, null, G);
    }
    if (cost > 0) { n = putIdx(s, n, 0x23, G); n = putCharge(s, n, cost); n = putIdx(s, n, 0x24, G); }
    n = putIdx(s, n, 0x23, G);
    return putCheck(s, n, null, G);
  }

  /** Local mode: store the counter before control leaves for code that reads the global. */
  sync(): void {
    if (this.bodyLocal) { const out = this.out; out.byte(0x20); out.bytes(this.encF); out.byte(0x24); out.bytes(this.encG); }
  }

  reload(): void {
    if (this.bodyLocal) { const out = this.out; out.byte(0x23); out.bytes(this.encG); out.byte(0x21); out.bytes(this.encF); }
  }

  /** Threaded: push the counter (the extra argument or result). */
  pushFuel(): void {
    const out = this.out;
    if (this.bodyLocal) { out.byte(0x20); out.bytes(this.encF); } else { out.byte(0x23); out.bytes(this.encG); }
  }

  /** Threaded: take back the counter a callee returned. */
  popFuel(): void {
    const out = this.out;
    if (this.bodyLocal) { out.byte(0x21); out.bytes(this.encF); } else { out.byte(0x24); out.bytes(this.encG); }
  }

  /**
   * Rewrite one function body. Fuel: every straight-line segment (between
   * branch sources and branch targets) is charged once at its start.
   *
   * Threaded (`bt` given): the counter is the extra last parameter, passed to
   * and returned from direct calls, and stored to the shared global only
   * around calls that leave the module's threaded code (imports, indirect
   * calls). It is checked at loop headers, and at entry only when the
   * function calls something outside any loop (a call inside a loop is
   * already preceded by that loop's check), so recursion and loops stay
   * bounded. The body is wrapped in a block of the function's result type,
   * so every branch to the function label lands where the fuel is appended.
   *
   * Unthreaded: the counter is checked at entry and loop headers; in `local`
   * mode it lives in an extra local and is synced with the global around
   * calls and at exits.
   */
  writeBody(start: number, end: number, nParams: number, bt: number[] | null, local: boolean, upgrade: boolean): void {
    const b = this.b;
    const out = this.out;
    const fuel = this.needFuel;
    const threaded = bt !== null;
    const memHelper = this.needMem ? this.memHelper : null;
    const tabHelper = this.needTab ? this.tableHelper : null;
    const kF = this.kF, nImpF = this.nImpF, kG = this.kG, nImpG = this.nImpG;
    const nFuncs = nImpF + this.nDef;
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
    let extra: boolean;
    this.declOut = out.len;
    this.declStart = declStart;
    this.declFrom = declsFrom;
    this.declEnd = this.p;
    this.nDecl = nDecl;
    this.nLocals = total;
    this.encS = null;
    if (threaded) {
      // The fuel parameter shifts the declared locals up by one.
      if (total + 1 > MAX_LOCALS) throw NEED_UNTHREADED;
      extra = true;
      out.copy(b, declStart, this.p);
      this.encF = encodeU32(nParams);
      out.byte(0x02);
      out.bytes(bt);
    } else {
      // One extra i64 local: the cached counter (local mode) or a scratch for the check.
      extra = fuel && total + 1 <= MAX_LOCALS;
      if (!extra) { local = false; upgrade = false; }
      if (extra) {
        out.u32(nDecl + 1);
        out.copy(b, declsFrom, this.p);
        out.byte(1);
        out.byte(0x7e);
      } else {
        out.copy(b, declStart, this.p);
      }
      this.encF = encodeU32(total);
    }
    this.bodyLocal = local;
    this.bodyExtra = extra;
    this.bodyThreaded = threaded;
    const syncExit = local && !threaded;
    const shiftFrom = threaded ? nParams : MAX_LOCALS + 1;

    this.segOut = out.len;
    this.segCost = 0;
    this.segKind = SEG_ENTRY;
    this.entryAt = -1;
    this.entryCost = 0;
    this.nPatch = 0;
    let callsOutsideLoops = false;
    let loops = 0;
    // Control stack.
    let kinds = this.kinds;
    let targeted = this.targeted;
    let depth = 1;
    kinds[0] = K_FUNC;
    this.pending = this.p;

    while (true) {
      // Fast scan over runs of the commonest operators that need no rewriting:
      // numeric ones, local access, short i32.const, loads and stores with
      // short immediates. Anything else, or anything odd, takes the switch.
      {
        let p = this.p, cost = this.segCost;
        while (p < end) {
          const op = b[p]!;
          if (op >= 0x45 && op <= 0xc4) { p++; cost++; continue; }
          if (op >= 0x20 && op <= 0x22) {
            const l = b[p + 1]!;
            if (l < 0x7f && l < total) {
              if (l >= shiftFrom) this.addPatch(p + 1);
              p += 2; cost++; continue;
            }
            break;
          }
          if (op === 0x41) {
            if (b[p + 1]! < 0x80) { p += 2; cost++; continue; }
            if (b[p + 2]! < 0x80) { p += 3; cost++; continue; }
            break;
          }
          if (op >= 0x28 && op <= 0x3e && b[p + 1]! < 0x40) {
            if (b[p + 2]! < 0x80) { p += 3; cost++; continue; }
            if (b[p + 3]! < 0x80) { p += 4; cost++; continue; }
          }
          break;
        }
        this.p = p;
        this.segCost = cost;
      }
      const at = this.p;
      if (at >= end) this.fail(at, "function body ends without `end`");
      const op = b[this.p++]!;
      if (op >= 0x45 && op <= 0xc4) { this.segCost++; continue; }
      if (op >= 0x28 && op <= 0x3e) { this.skipMemarg(); this.segCost++; continue; }
      switch (op) {
        case 0x20: case 0x21: case 0x22: {
          let l = b[this.p]!;
          if (l < 0x80) this.p++;
          else l = this.u32();
          // Validate here: an out-of-range index could otherwise name the added fuel local.
          if (l >= total) this.fail(at, "unknown local");
          this.segCost++;
          if (l >= shiftFrom) {
            this.flush(at);
            out.byte(op);
            out.u32(l + 1);
            this.pending = this.p;
          }
          break;
        }
        case 0x41: this.skipLeb(5); this.segCost++; break;
        case 0x00: // unreachable: publish the counter so a trapping call still accounts for its fuel
          if (local) { this.flush(at); this.sync(); }
          this.endSegAt(this.p); break;
        case 0x01: break; // nop
        case 0x02: this.skipBlockType(); depth = this.pushLabel(depth, K_BLOCK); kinds = this.kinds; targeted = this.targeted; break;
        case 0x03:
          if (upgrade && !local) throw NEED_LOCAL_MODE;
          this.skipBlockType(); depth = this.pushLabel(depth, K_LOOP); kinds = this.kinds; targeted = this.targeted;
          loops++;
          if (fuel) { this.endSegAt(this.p); this.segKind = SEG_LOOP; }
          break;
        case 0x04:
          this.skipBlockType(); depth = this.pushLabel(depth, K_IF); kinds = this.kinds; targeted = this.targeted;
          this.segCost++;
          if (fuel) { this.endSegAt(this.p); }
          break;
        case 0x05: // else
          if (kinds[depth - 1] !== K_IF) this.fail(at, "else outside if");
          if (fuel) { this.endSegAt(this.p); }
          break;
        case 0x06: // try (legacy exceptions)
          if (local) throw NEED_GLOBAL_MODE;
          upgrade = false;
          this.skipBlockType(); depth = this.pushLabel(depth, K_TRY); kinds = this.kinds; targeted = this.targeted;
          this.segCost++; break;
        case 0x07: case 0x19: // catch, catch_all
          if (local) throw NEED_GLOBAL_MODE;
          upgrade = false;
          if (kinds[depth - 1] !== K_TRY) this.fail(at, "catch outside try");
          if (op === 0x07) this.skipLeb(5);
          if (fuel) { this.endSegAt(this.p); }
          this.segCost++;
          break;
        case 0x08: case 0x09: // throw, rethrow
          if (local) throw NEED_GLOBAL_MODE;
          upgrade = false;
          this.skipLeb(5); this.segCost++;
          if (fuel) { this.endSegAt(this.p); }
          break;
        case 0x0a: // throw_ref
          if (local) throw NEED_GLOBAL_MODE;
          upgrade = false;
          this.segCost++;
          if (fuel) { this.endSegAt(this.p); }
          break;
        case 0x18: { // delegate: ends a try like `end`
          if (local) throw NEED_GLOBAL_MODE;
          upgrade = false;
          if (kinds[depth - 1] !== K_TRY) this.fail(at, "delegate outside try");
          depth--;
          this.target(depth, this.u32());
          this.segCost++;
          if (fuel) { this.endSegAt(this.p); }
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
            this.target(depth, this.u32());
          }
          depth = this.pushLabel(depth, K_TRY_TABLE); kinds = this.kinds; targeted = this.targeted;
          this.segCost++;
          break;
        }
        case 0x0b: { // end
          depth--;
          if (depth === 0) {
            if (this.p !== end) this.fail(this.p, "bytes after the end of a function body");
            if (threaded) {
              // This `end` closes the result block; then the fuel goes on top of the results.
              this.flush(this.p);
              this.pushFuel();
              out.byte(0x0b);
              this.endSeg();
              const n = this.prefix(SEG_ENTRY, this.entryCost, callsOutsideLoops);
              if (n > 0) out.insert(this.entryAt, this.scratch, n);
            } else if (fuel) {
              this.flush(at); this.sync(); this.endSegAt(this.p);
            } else {
              this.flush(this.p);
            }
            return;
          }
          const k = kinds[depth]!;
          if (k === K_LOOP) loops--;
          if (fuel && (k === K_IF || k === K_TRY || k === K_TRY_TABLE || (k === K_BLOCK && targeted[depth]))) {
            this.endSegAt(this.p);
          }
          break;
        }
        case 0x0c: case 0x0d: case 0xd5: case 0xd6: { // br, br_if, br_on_null, br_on_non_null
          let l = b[this.p]!;
          if (l < 0x80) this.p++;
          else l = this.u32();
          this.segCost++;
          if (fuel) {
            if (this.target(depth, l) && syncExit) { this.flush(at); this.sync(); }
            this.endSegAt(this.p);
          } else {
            this.target(depth, l);
          }
          break;
        }
        case 0x0e: { // br_table
          const n = this.u32();
          let leaves = false;
          for (let i = 0; i <= n; i++) if (this.target(depth, this.u32())) leaves = true;
          this.segCost++;
          if (fuel) {
            if (leaves && syncExit) { this.flush(at); this.sync(); }
            this.endSegAt(this.p);
          }
          break;
        }
        case 0x0f: // return
          if (threaded) { this.flush(at); this.pushFuel(); this.endSegAt(this.p); }
          else if (fuel) { this.flush(at); this.sync(); this.endSegAt(this.p); }
          break;
        case 0x10: { // call
          const f = this.u32();
          if (f >= nFuncs) this.fail(at, `unknown function ${f}`);
          this.segCost++;
          if (loops === 0) callsOutsideLoops = true;
          if (threaded && f >= nImpF) {
            this.flush(at);
            this.pushFuel();
            out.byte(0x10);
            out.u32(f + kF);
            this.pending = this.p;
            this.popFuel();
          } else if ((kF > 0 && f >= nImpF) || local) {
            this.flush(at);
            this.sync();
            out.byte(0x10);
            out.u32(f < nImpF ? f : f + kF);
            this.pending = this.p;
            this.reload();
          }
          break;
        }
        case 0x12: { // return_call
          const f = this.u32();
          if (f >= nFuncs) this.fail(at, `unknown function ${f}`);
          this.segCost++;
          if (loops === 0) callsOutsideLoops = true;
          if (threaded) {
            // The callee must hand the fuel back to our caller: only a threaded one can.
            if (f < nImpF) throw NEED_UNTHREADED;
            this.flush(at);
            this.pushFuel();
            out.byte(0x12);
            out.u32(f + kF);
            this.pending = this.p;
            this.endSeg();
          } else if (kF > 0 || fuel) {
            this.flush(at);
            this.sync();
            out.byte(0x12);
            out.u32(f < nImpF ? f : f + kF);
            this.pending = this.p;
            if (fuel) this.endSeg();
          }
          break;
        }
        case 0x11: case 0x13: { // call_indirect, return_call_indirect
          const x = this.u32();
          const t = this.u32();
          this.segCost++;
          if (loops === 0) callsOutsideLoops = true;
          const twin = threaded && t < this.twinOf.length ? this.twinOf[t]! : -1;
          const tx = this.threadedType[x];
          if (twin >= 0 && tx !== undefined) {
            this.flush(at);
            if (this.scratchLocal()) {
              // As a direct call: the fuel goes in under the table index and comes back on top of the results.
              const S = this.encS!;
              out.byte(0x21); out.bytes(S);
              // Stored before and after too, so the global reads as it did through the entry wrapper (what a trap reports).
              if (op === 0x11) this.sync();
              this.pushFuel();
              out.byte(0x20); out.bytes(S);
              out.byte(op); out.u32(tx); out.u32(twin);
              this.pending = this.p;
              if (op === 0x13) { this.endSeg(); break; }
              if (local) { out.byte(0x22); out.bytes(this.encF); out.byte(0x24); out.bytes(this.encG); } else this.popFuel();
              break;
            }
          }
          if (threaded && op === 0x13) throw NEED_UNTHREADED;
          if (local) {
            this.flush(at); this.sync(); this.flush(this.p);
            if (op === 0x11) this.reload();
          }
          if (op === 0x13 && fuel) { this.endSegAt(this.p); }
          break;
        }
        case 0x14: case 0x15: // call_ref, return_call_ref
          if (threaded && op === 0x15) throw NEED_UNTHREADED;
          this.skipLeb(5);
          this.segCost++;
          if (loops === 0) callsOutsideLoops = true;
          if (local) {
            this.flush(at); this.sync(); this.flush(this.p);
            if (op === 0x14) this.reload();
          }
          if (op === 0x15 && fuel) { this.endSegAt(this.p); }
          break;
        case 0x1a: break; // drop
        case 0x1b: this.segCost++; break; // select
        case 0x1c: { // select t*
          const n = this.u32();
          for (let i = 0; i < n; i++) this.skipValType();
          this.segCost++;
          break;
        }
        case 0x25: this.skipLeb(5); this.segCost++; break; // table.get
        case 0x26: this.mutates(this.u32()); this.segCost++; break; // table.set
        case 0x23: case 0x24: {
          const g = this.u32();
          this.segCost++;
          if (kG > 0 && g >= nImpG) {
            this.flush(at);
            out.byte(op);
            out.u32(g + kG);
            this.pending = this.p;
          }
          break;
        }
        case 0x3f: this.skipLeb(5); this.segCost++; break; // memory.size
        case 0x40: { // memory.grow
          const m = this.u32();
          this.segCost++;
          if (memHelper) {
            const h = memHelper[m];
            if (h === undefined) this.fail(at, `memory.grow of unknown memory ${m}`);
            this.flush(at);
            out.byte(0x10);
            out.u32(h);
            this.pending = this.p;
          }
          break;
        }
        case 0x42: this.skipLeb(10); this.segCost++; break;
        case 0x43: this.p += 4; this.segCost++; break;
        case 0x44: this.p += 8; this.segCost++; break;
        case 0xd0: this.skipLeb(5); this.segCost++; break; // ref.null
        case 0xd1: case 0xd3: case 0xd4: this.segCost++; break; // ref.is_null, ref.eq, ref.as_non_null
        case 0xd2: { // ref.func
          const f = this.u32();
          this.segCost++;
          const g = this.remapRef(f);
          if (g !== f) {
            this.flush(at);
            out.byte(0xd2);
            out.u32(g);
            this.pending = this.p;
          }
          break;
        }
        case 0xfc: {
          const sub = this.u32();
          this.segCost++;
          if (sub <= 7) break; // saturating truncations
          switch (sub) {
            case 8: this.skipLeb(5); this.skipLeb(5); break; // memory.init
            case 9: this.skipLeb(5); break; // data.drop
            case 10: this.skipLeb(5); this.skipLeb(5); break; // memory.copy
            case 11: this.skipLeb(5); break; // memory.fill
            case 12: this.skipLeb(5); this.mutates(this.u32()); break; // table.init
            case 13: this.skipLeb(5); break; // elem.drop
            case 14: this.mutates(this.u32()); this.skipLeb(5); break; // table.copy (to, from)
            case 15: { // table.grow
              const t = this.u32();
              this.mutates(t);
              if (tabHelper) {
                const h = tabHelper[t];
                if (h === undefined) this.fail(at, `table.grow of unknown table ${t}`);
                this.flush(at);
                out.byte(0x10);
                out.u32(h);
                this.pending = this.p;
              }
              break;
            }
            case 16: this.skipLeb(5); break; // table.size
            case 17: this.mutates(this.u32()); break; // table.fill
            default: this.fail(at, `unknown opcode 0xfc ${sub}`);
          }
          break;
        }
        case 0xfd: {
          const sub = this.u32();
          this.segCost++;
          if (sub <= 11 || sub === 92 || sub === 93) this.skipMemarg();
          else if (sub === 12 || sub === 13) this.p += 16;
          else if (sub >= 21 && sub <= 34) this.p += 1;
          else if (sub >= 84 && sub <= 91) { this.skipMemarg(); this.p += 1; }
          else if (sub > 0x113) this.fail(at, `unknown SIMD opcode ${sub}`);
          break;
        }
        case 0xfe: {
          const sub = this.u32();
          this.segCost++;
          if (sub === 3) { this.p += 1; break; } // atomic.fence
          if (sub > 0x4e || (sub > 3 && sub < 0x10)) this.fail(at, `unknown atomic opcode ${sub}`);
          this.skipMemarg();
          break;
        }
        default:
          this.fail(at, `unknown or unsupported opcode 0x${op.toString(16)}`);
      }
      if (this.p > end) this.fail(at, "instruction runs past the end of the function body");
    }
  }

  /** Code changes table `t` after instantiation: it cannot have a twin, so the module is redone without one. */
  mutates(t: number): void {
    if (t < this.twinOf.length && this.twinOf[t]! >= 0) throw new TableMutated(t);
  }

  /** Push a control frame; returns the new depth (the arrays may be replaced when they grow). */
  pushLabel(depth: number, k: number): number {
    if (depth >= this.kinds.length) {
      const nk = new Uint8Array(this.kinds.length * 2); nk.set(this.kinds); this.kinds = nk;
      const nt = new Uint8Array(this.targeted.length * 2); nt.set(this.targeted); this.targeted = nt;
    }
    this.kinds[depth] = k;
    this.targeted[depth] = 0;
    return depth + 1;
  }

  /** Marks a branch target; returns true when the branch leaves the function (its label). */
  target(depth: number, l: number): boolean {
    const f = depth - 1 - l;
    if (f < 0) this.fail(this.p, `branch depth ${l} out of range`);
    if (f === 0) return true;
    this.targeted[f] = 1;
    return false;
  }

  skipMemarg(): void {
    const align = this.u32();
    if (align & 0x40) this.skipLeb(5); // memory index (multi-memory)
    this.skipLeb(10);
  }
}


function putIdx(s: Uint8Array, n: number, op: number, idx: number[]): number {
  s[n++] = op;
  for (let i = 0; i < idx.length; i++) s[n++] = idx[i]!;
  return n;
}

/** `i64.const cost; i64.sub` (nothing for a zero cost). */
function putCharge(s: Uint8Array, n: number, cost: number): number {
  if (cost <= 0) return n;
  s[n++] = 0x42; // signed LEB128, cost > 0
  let v = cost;
  for (;;) {
    const byte = v & 0x7f;
    v = Math.floor(v / 128);
    if (v === 0 && (byte & 0x40) === 0) { s[n++] = byte; break; }
    s[n++] = byte | 0x80;
  }
  s[n++] = 0x7d;
  return n;
}

/** `if (counter < 0) { [global = local F]; unreachable }`, the counter on the stack. */
function putCheck(s: Uint8Array, n: number, publishFrom: number[] | null, G: number[]): number {
  s[n++] = 0x42; s[n++] = 0x00; s[n++] = 0x53; s[n++] = 0x04; s[n++] = 0x40; // i64.const 0; i64.lt_s; if
  if (publishFrom) { n = putIdx(s, n, 0x20, publishFrom); n = putIdx(s, n, 0x24, G); }
  s[n++] = 0x00; s[n++] = 0x0b;
  return n;
}
