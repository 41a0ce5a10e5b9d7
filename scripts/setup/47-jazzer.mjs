// Jazzer.js fuzzer addon: make the shipped linux-x64 prebuild load on glibc < 2.38.
//
// @jazzer.js/fuzzer 4.0.0 ships a prebuilt addon linked on a newer glibc: it needs only
// two symbols from GLIBC_2.38, `__isoc23_strtol` and `__isoc23_strtoul` (the C23
// variants that also accept a "0b" prefix; libFuzzer uses them to parse its own
// -flag=N options). Debian 12 has glibc 2.36, where dlopen refuses the addon. Building
// it from source needs Jazzer's patched libFuzzer from a repository we cannot reach, so
// this step writes a copy of the prebuild whose two imports are bound to the classic
// `strtol`/`strtoul` (GLIBC_2.2.5) instead, into dist/prebuilds/, the directory the
// addon loader looks in first. The package's own file is left as shipped.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { root } from "./_util.mjs";

export const name = "jazzer.js fuzzer addon (glibc compat)";

const pkgDir = path.join(root, "node_modules", "@jazzer.js", "fuzzer");
const shipped = path.join(pkgDir, "prebuilds", "fuzzer-linux-x64.node");
const patched = path.join(pkgDir, "dist", "prebuilds", "fuzzer-linux-x64.node");

function glibcAtLeast(major, minor) {
  const v = process.report?.getReport()?.header?.glibcVersionRuntime;
  if (typeof v !== "string") return true; // not glibc: nothing to patch for
  const [a, b] = v.split(".").map(Number);
  return a > major || (a === major && b >= minor);
}

export async function run() {
  if (process.platform !== "linux" || process.arch !== "x64" || !existsSync(shipped)) return;
  if (glibcAtLeast(2, 38)) return;
  const src = readFileSync(shipped);
  const marker = patched + ".src-size";
  if (existsSync(patched) && existsSync(marker) && readFileSync(marker, "utf8") === String(src.length)) return;
  mkdirSync(path.dirname(patched), { recursive: true });
  let out;
  try {
    out = patchIsoc23(Buffer.from(src));
  } catch (err) {
    // Only `npm run fuzz` needs the addon: the rest of set-up and the tests go on, and the fuzz run fails loudly.
    console.warn(`[setup] jazzer.js: cannot make the fuzzer addon load on this glibc (${err.message}); npm run fuzz will fail`);
    return;
  }
  writeFileSync(patched + ".tmp", out);
  copyFileSync(patched + ".tmp", patched);
  writeFileSync(marker, String(src.length));
  console.log("[setup] jazzer.js: wrote a glibc-2.36-compatible copy of the fuzzer addon");
}

/** Rebind `__isoc23_*` imports to their classic names at GLIBC_2.2.5 in an ELF64 LE shared object. */
export function patchIsoc23(buf) {
  if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) throw new Error("not an ELF64 LE file");
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    sections.push({
      type: buf.readUInt32LE(o + 4),
      offset: Number(buf.readBigUInt64LE(o + 0x18)),
      size: Number(buf.readBigUInt64LE(o + 0x20)),
      link: buf.readUInt32LE(o + 0x28),
      info: buf.readUInt32LE(o + 0x2c),
    });
  }
  const dynsym = sections.find((s) => s.type === 11);
  const versym = sections.find((s) => s.type === 0x6fffffff);
  const verneed = sections.find((s) => s.type === 0x6ffffffe);
  if (!dynsym || !versym || !verneed) throw new Error("missing .dynsym/.gnu.version/.gnu.version_r");
  const dynstr = sections[dynsym.link];
  const str = (off) => {
    const start = dynstr.offset + off;
    return buf.toString("latin1", start, buf.indexOf(0, start));
  };

  // Version requirements by "file:version", with the index (vna_other) symbols use to point at them.
  const reqs = new Map();
  let vn = verneed.offset;
  for (let i = 0; i < verneed.info; i++) {
    const cnt = buf.readUInt16LE(vn + 2);
    const file = str(buf.readUInt32LE(vn + 4));
    let aux = vn + buf.readUInt32LE(vn + 8);
    for (let j = 0; j < cnt; j++) {
      const entry = { at: aux, other: buf.readUInt16LE(aux + 6), name: buf.readUInt32LE(aux + 8), hash: buf.readUInt32LE(aux) };
      const n = str(entry.name);
      if (!reqs.has(`${file}:${n}`)) reqs.set(`${file}:${n}`, entry);
      aux += buf.readUInt32LE(aux + 12);
    }
    vn += buf.readUInt32LE(vn + 12);
  }
  // Symbol indices that a relocation refers to: only those are ever looked up by the loader.
  const relocated = new Set();
  for (const s of sections.filter((x) => x.type === 4 && x.link === sections.indexOf(dynsym))) {
    for (let o = s.offset; o < s.offset + s.size; o += 24) relocated.add(Number(buf.readBigUInt64LE(o + 8) >> 32n));
  }

  const count = dynsym.size / 24;
  const rebind = (from, to, fix) => {
    const newer = reqs.get(from);
    if (!newer) return;
    const base = reqs.get(to);
    if (!base) throw new Error(`no ${to} requirement to rebind ${from} to`);
    for (let i = 0; i < count; i++) {
      const o = dynsym.offset + i * 24;
      const vs = versym.offset + i * 2;
      if ((buf.readUInt16LE(vs) & 0x7fff) !== newer.other) continue;
      fix(o, str(buf.readUInt32LE(o)), relocated.has(i));
      buf.writeUInt16LE(base.other, vs);
    }
    // No symbol needs the newer version any more: the requirement names the older one too.
    buf.writeUInt32LE(base.hash, newer.at);
    buf.writeUInt32LE(base.name, newer.at + 8);
  };
  // libc: the C23 strtol/strtoul differ from the classic ones only in also accepting "0b".
  rebind("libc.so.6:GLIBC_2.38", "libc.so.6:GLIBC_2.2.5", (o, n) => {
    if (n !== "__isoc23_strtol" && n !== "__isoc23_strtoul") throw new Error(`unexpected GLIBC_2.38 import ${n}`);
    buf.writeUInt32LE(buf.readUInt32LE(o) + "__isoc23_".length, o); // the classic name is the suffix of the same string
  });
  // libstdc++: GCC 13's <iostream> only names ios_base_library_init (no relocation, never called)
  // to pull in the library's stream initialisation, which the older libstdc++ does per use.
  rebind("libstdc++.so.6:GLIBCXX_3.4.32", "libstdc++.so.6:GLIBCXX_3.4.30", (_o, n, isRelocated) => {
    if (n !== "_ZSt21ios_base_library_initv" || isRelocated) throw new Error(`unexpected GLIBCXX_3.4.32 import ${n}`);
  });
  return buf;
}
