// Modules for bench/differential.mjs that reach the instrumenter's table paths wasm-smith's modules miss: wasm-smith
// exports every table, and a table that is exported never gets a threaded twin (src/instrument/rewrite.ts). Here a
// funcref table is private (not exported) and either immutable (the twin path) or changed by table.set, fill, copy,
// init or grow (the module is redone without the twin), with call_indirect and return_call_indirect sites that hit
// valid entries, nulls, out-of-bounds indexes and signature mismatches (structurally equal types included).
// `stripTableExports` makes a wasm-smith module's tables private too. Deterministic: a seed gives the same module.

/** mulberry32: enough for choosing shapes, and the same on every machine. */
function rng(seed) {
  let a = (seed * 0x9e3779b1) >>> 0 ^ 0x85ebca6b;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)], chance: (p) => next() < p };
}

const u32 = (v) => { const o = []; v >>>= 0; do { let b = v & 0x7f; v >>>= 7; if (v) b |= 0x80; o.push(b); } while (v); return o; };
const s64 = (v) => {
  const o = []; let x = BigInt(v);
  for (;;) {
    const b = Number(x & 0x7fn); x >>= 7n;
    if ((x === 0n && !(b & 0x40)) || (x === -1n && b & 0x40)) { o.push(b); return o; }
    o.push(b | 0x80);
  }
};
const vec = (items) => [...u32(items.length), ...items.flat()];
const name = (s) => vec([...Buffer.from(s)].map((b) => [b]));
const section = (id, body) => (body === null ? [] : [id, ...u32(body.length), ...body]);
const f64 = (x) => [...new Uint8Array(new Float64Array([x]).buffer)];

const I32 = 0x7f, I64 = 0x7e, F64 = 0x7c, FUNCREF = 0x70;
/** Function types to choose from: [params, results]. */
const TYPES = [
  [[I32], [I32]], [[], [I32]], [[I32, I64], [I64]], [[F64], [F64]], [[], []], [[I32], [I32, I32]], [[I64, I64], [I32]],
];

const constOf = (t, r) => (t === I32 ? [0x41, ...s64(r.int(2000) - 1000)] : t === I64 ? [0x42, ...s64(r.int(1 << 30) - (1 << 29))] : [0x44, ...f64(r.int(1000) / 8 - 60)]);
/** Folds the value of type `t` on top of the stack into i32 local `acc`. */
const fold = (t, acc) => [...(t === I64 ? [0xa7] : t === F64 ? [0xfc, 0x02] : []), 0x20, ...u32(acc), 0x6a, 0x21, ...u32(acc)];
const drop = (results) => results.map(() => 0x1a);

/**
 * One module with a private funcref table. `kind`: "immutable" (nothing changes the table: it gets a twin),
 * "mutated" (code changes it), or "exported" (the table is exported: the wrapper path, for comparison).
 */
export function tableModule(seed) {
  const r = rng(seed);
  const kind = r.chance(0.5) ? "immutable" : r.chance(0.75) ? "mutated" : "exported";
  // Types: a few of TYPES, and one of them again (a distinct index, the same signature).
  const types = [];
  for (const i of [...TYPES.keys()].sort(() => r.next() - 0.5).slice(0, 3 + r.int(3))) types.push(TYPES[i]);
  types.push(r.pick(types));
  const sig = (t) => types[t][0].join() + "->" + types[t][1].join();
  const exportType = types.length;
  types.push([[], [I32]]);
  const exportTypeP = types.length;
  types.push([[I32], [I32]]);
  const nCallees = 3 + r.int(6);
  const calleeType = Array.from({ length: nCallees }, () => r.int(exportType));
  const size = 2 + r.int(12);
  const maxSize = r.chance(0.5) ? size + r.int(8) : undefined;
  const second = r.chance(0.25); // a second table, exported, so index 1 is another table's
  // Initial slots: a function, or null (-1); some left unset (null as well).
  const slots = new Array(size).fill(-1);
  const segs = [];
  for (let n = 1 + r.int(3); n > 0; n--) {
    const at = r.int(size);
    const len = 1 + r.int(size - at);
    const items = Array.from({ length: len }, () => (r.chance(0.2) ? -1 : r.int(nCallees)));
    items.forEach((f, k) => { slots[at + k] = f; });
    segs.push({ at, items, exprs: items.includes(-1) || r.chance(0.3) });
  }
  if (r.chance(0.03)) segs.push({ at: size - 1 + r.int(3), items: [r.int(nCallees), r.int(nCallees)], exprs: false }); // may trap at instantiation
  const B = 0; // global: nested indirect calls left (bounds recursion)
  const callees = nCallees;

  /** Index expression for a call_indirect of type `t`: a valid slot, a null, out of bounds, or a mismatch. */
  const index = (t, paramIdx) => {
    const ok = [], bad = [], nul = [];
    slots.forEach((f, k) => (f < 0 ? nul : sig(calleeType[f]) === sig(t) ? ok : bad).push(k));
    const c = r.int(20);
    let k;
    if (c < 14 && ok.length) k = r.pick(ok);
    else if (c < 16 && bad.length) k = r.pick(bad);
    else if (c < 17 && nul.length) k = r.pick(nul);
    else if (c < 19) k = r.pick([size, size + 1 + r.int(4), 0x7fffffff, -1]);
    else k = r.int(size + 2);
    // The runner passes 3 as the first i32 argument: sometimes the index comes from it.
    if (paramIdx !== undefined && r.chance(0.3)) return [0x20, ...u32(paramIdx), 0x41, ...s64(k - 3), 0x6a];
    return [0x41, ...s64(k)];
  };
  /** A type for a call site: mostly one a slot holds, so that many calls reach a function. */
  const siteType = () => {
    const held = slots.filter((f) => f >= 0);
    if (!held.length || r.chance(0.3)) return r.int(exportType);
    const t = calleeType[r.pick(held)];
    // The structurally equal type under another index, now and then.
    const alias = types.findIndex((u, i) => i !== t && i < exportType && sig(i) === sig(t));
    return alias >= 0 && r.chance(0.3) ? alias : t;
  };
  const args = (t) => types[t][0].flatMap((p) => constOf(p, r));
  const indirect = (t, table = 0, ix = index(t)) => [...args(t), ...ix, 0x11, ...u32(t), ...u32(table)];
  const ref = () => (r.chance(0.25) ? [0xd0, FUNCREF] : [0xd2, ...u32(r.int(nCallees))]);
  /** An operation that changes table 0 (mutated modules only); leaves nothing on the stack, or folds into `acc`. */
  const mutation = (acc) => {
    const lim = size + 3;
    switch (r.int(6)) {
      case 0: return [0x41, ...s64(r.int(lim)), ...ref(), 0x26, 0];
      case 1: return [0x41, ...s64(r.int(lim)), ...ref(), 0x41, ...s64(r.int(4)), 0xfc, 17, 0];
      case 2: return [0x41, ...s64(r.int(lim)), 0x41, ...s64(r.int(lim)), 0x41, ...s64(r.int(4)), 0xfc, 14, 0, 0];
      case 3: return [0x41, ...s64(r.int(lim)), 0x41, ...s64(r.int(nCallees + 1)), 0x41, ...s64(r.int(3)), 0xfc, 12, ...u32(segs.length), 0];
      case 4: return r.chance(0.3) ? [0xfc, 13, ...u32(segs.length)] : [0x41, ...s64(r.int(lim)), ...ref(), 0x41, ...s64(r.int(4)), 0xfc, 17, 0];
      default: {
        const grow = [...ref(), 0x41, ...s64(r.chance(0.2) ? 100_000 : r.int(5)), 0xfc, 15, 0];
        return acc === undefined ? [...grow, 0x1a] : [...grow, ...fold(I32, acc)];
      }
    }
  };
  /** Reads of table 0 that leave it as it is: table.get + ref.is_null, table.size. */
  const read = (acc) => (r.chance(0.5) ? [0x41, ...s64(r.int(size + 2)), 0x25, 0, 0xd1, ...fold(I32, acc)] : [0xfc, 16, 0, ...fold(I32, acc)]);

  const funcs = []; // [type, locals (i32 count), body]
  for (let f = 0; f < callees; f++) {
    const [params, results] = types[calleeType[f]];
    const ctr = params.length; // i32 local: loop counter, then accumulator
    const acc = ctr + 1;
    const body = [];
    // Some loops long enough that the exhaustion pass (2,000 units a call) runs out in them.
    if (r.chance(0.4)) body.push(0x41, ...s64(r.chance(0.3) ? 100 + r.int(600) : 1 + r.int(30)), 0x21, ctr, 0x03, 0x40, 0x20, ctr, 0x41, 1, 0x6b, 0x22, ctr, 0x0d, 0, 0x0b);
    if (r.chance(0.35)) {
      const t = siteType();
      body.push(0x23, B, 0x04, 0x40, 0x23, B, 0x41, 1, 0x6b, 0x24, B, ...indirect(t), ...drop(types[t][1]), 0x0b);
    }
    if (kind === "mutated" && r.chance(0.2)) body.push(...mutation(acc));
    if (r.chance(0.08)) body.push(...(params[0] === I32 ? [0x20, 0, 0x41, 3, 0x46, 0x04, 0x40, 0x00, 0x0b] : [0x00]));
    if (r.chance(0.15) && results.length === 1 && results[0] === I32) {
      body.push(0x23, B, 0x04, 0x40, 0x23, B, 0x41, 1, 0x6b, 0x24, B, ...args(calleeType[f]), ...index(calleeType[f]), 0x13, ...u32(calleeType[f]), 0, 0x0b);
    }
    for (const t of results) {
      const p = params.indexOf(t);
      body.push(...constOf(t, r));
      if (p >= 0) body.push(0x20, p, ...(t === I32 ? [0x6a] : t === I64 ? [0x7c] : [0xa0]));
    }
    funcs.push([calleeType[f], 2, body]);
  }
  const exports = [];
  const nExports = 4 + r.int(7);
  const forced = r.int(nExports); // a mutated module's export that surely changes the table (table.set)
  for (let e = 0; e < nExports; e++) {
    const withParam = r.chance(0.3);
    const acc = withParam ? 1 : 0;
    const body = [0x41, 6, 0x24, B];
    if (kind === "mutated" && e === forced) body.push(0x41, ...s64(r.int(size)), ...ref(), 0x26, 0);
    for (let s = 1 + r.int(3); s > 0; s--) {
      const c = r.int(10);
      if (kind === "mutated" && c < 3) body.push(...mutation(acc));
      else if (c < 4) body.push(...read(acc));
      else if (second && c < 5) {
        const t = siteType();
        body.push(...indirect(t, 1, [0x41, ...s64(r.int(4))]), ...types[t][1].slice().reverse().flatMap((x) => fold(x, acc)));
      } else {
        const t = siteType();
        body.push(...indirect(t, 0, index(t, withParam ? 0 : undefined)), ...types[t][1].slice().reverse().flatMap((x) => fold(x, acc)));
      }
    }
    body.push(0x20, acc);
    const tail = types.findIndex((t, i) => i < exportType && t[1].join() === String(I32) && t[1].length === 1);
    if (tail >= 0 && r.chance(0.2)) body.push(0x1a, ...indirect(tail, 0, index(tail, withParam ? 0 : undefined)).slice(0, -2 - u32(tail).length), 0x13, ...u32(tail), 0);
    exports.push(funcs.length);
    funcs.push([withParam ? exportTypeP : exportType, 1, body]);
  }

  const typeSec = vec(types.map(([p, res]) => [0x60, ...vec(p.map((x) => [x])), ...vec(res.map((x) => [x]))]));
  const funcSec = vec(funcs.map(([t]) => u32(t)));
  const limits = (min, max) => (max === undefined ? [0, ...u32(min)] : [1, ...u32(min), ...u32(max)]);
  const tables = [[FUNCREF, ...limits(size, maxSize)]];
  if (second) tables.push([FUNCREF, ...limits(4)]);
  const tableSec = vec(tables);
  const globalSec = vec([[I32, 1, 0x41, 0, 0x0b]]);
  const exps = exports.map((f, i) => [...name(`f${i}`), 0, ...u32(f)]);
  if (kind === "exported") exps.splice(r.int(exps.length + 1), 0, [...name("table"), 1, 0]);
  if (second) exps.push([...name("other"), 1, 1]);
  const exportSec = vec(exps);
  const elems = segs.map(({ at, items, exprs }) => exprs
    ? [4, 0x41, ...s64(at), 0x0b, ...vec(items.map((f) => (f < 0 ? [0xd0, FUNCREF, 0x0b] : [0xd2, ...u32(f), 0x0b])))]
    : [0, 0x41, ...s64(at), 0x0b, ...vec(items.map((f) => u32(f)))]);
  // A passive segment of every callee: table.init's source, and it declares them for ref.func.
  elems.push([1, 0, ...vec([...Array(nCallees).keys()].sort(() => r.next() - 0.5).map((f) => u32(f)))]);
  if (second) elems.push([2, 1, 0x41, 0, 0x0b, 0, ...vec([0, 1, 2].map((k) => u32(k % nCallees)))]);
  const codeSec = vec(funcs.map(([, nLocals, body]) => {
    const fn = [...vec(nLocals ? [[...u32(nLocals), I32]] : []), ...body, 0x0b];
    return [...u32(fn.length), ...fn];
  }));
  const bytes = new Uint8Array([
    0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, typeSec), ...section(3, funcSec), ...section(4, tableSec), ...section(6, globalSec),
    ...section(7, exportSec), ...section(9, vec(elems)), ...section(10, codeSec),
  ]);
  return { kind, bytes };
}

function readU32(b, o) {
  let v = 0, s = 0, x;
  do { x = b[o++]; v |= (x & 0x7f) << s; s += 7; } while (x & 0x80);
  return [v >>> 0, o];
}

/** The sections of a module: [{ id, start, end }] (start after the size). */
function sections(b) {
  const out = [];
  for (let o = 8; o < b.length; ) {
    const id = b[o];
    const [len, p] = readU32(b, o + 1);
    out.push({ id, at: o, start: p, end: p + len });
    o = p + len;
  }
  return out;
}

function skipName(b, o) { const [n, p] = readU32(b, o); return p + n; }

/** Tables in a module's index space (imported and defined). */
export function tableCount(b) {
  let n = 0;
  for (const s of sections(b)) {
    if (s.id === 4) n += readU32(b, s.start)[0];
    if (s.id !== 2) continue;
    let [m, o] = readU32(b, s.start);
    for (; m > 0; m--) {
      o = skipName(b, skipName(b, o));
      const kind = b[o++];
      if (kind === 1) n++;
      // The rest of the descriptor: enough to skip the ones these modules hold (func, table, memory, global).
      if (kind === 0) o = readU32(b, o)[1];
      else if (kind === 1) { o++; const f = b[o++]; o = readU32(b, o)[1]; if (f & 1) o = readU32(b, o)[1]; }
      else if (kind === 2) { const f = b[o++]; o = readU32(b, o)[1]; if (f & 1) o = readU32(b, o)[1]; }
      else if (kind === 3) o += 2;
      else return n; // a tag or a type the check does not need: the count so far
    }
  }
  return n;
}

/** `b` with its table exports removed (null when it exports none): its tables become private. */
export function stripTableExports(b) {
  const s = sections(b).find((x) => x.id === 7);
  if (!s) return null;
  let [n, o] = readU32(b, s.start);
  const kept = [];
  let dropped = 0;
  for (; n > 0; n--) {
    const from = o;
    o = skipName(b, o);
    const kind = b[o++];
    o = readU32(b, o)[1];
    if (kind === 1) dropped++;
    else kept.push(b.subarray(from, o));
  }
  if (dropped === 0) return null;
  const body = [...u32(kept.length), ...kept.flatMap((k) => [...k])];
  return new Uint8Array([...b.subarray(0, s.at), 7, ...u32(body.length), ...body, ...b.subarray(s.end)]);
}
