// File access for JS plugins through WASI preopens ("@plughost/guest/fs").
// Importing this module adds wasi:filesystem to the component's imports; the
// host only wires it when the plugin holds an `fs:read:<dir>` capability.
import { getDirectories } from "wasi:filesystem/preopens@0.2.12";

const decoder = new TextDecoder();

// Longest preopen whose guest path is a prefix of `path`, as wasi-libc does.
function resolve(path) {
  let best;
  for (const [dir, name] of getDirectories()) {
    const base = name === "/" ? "/" : name.replace(/\/+$/, "");
    let rel;
    if (path === base) rel = ".";
    else if (base === "/" && path.startsWith("/")) rel = path.slice(1);
    else if (path.startsWith(base + "/")) rel = path.slice(base.length + 1);
    else if ((base === "." || base === "") && !path.startsWith("/")) rel = path;
    else continue;
    if (!best || base.length > best.base.length) best = { dir, base, rel: rel || "." };
  }
  if (!best) throw new Error(`no preopened directory contains ${path}`);
  return best;
}

/** Read a whole file. Throws (with the WASI error code as `payload`) when it cannot. */
export function readFile(path) {
  const { dir, rel } = resolve(path);
  const file = dir.openAt({ symlinkFollow: false }, rel, {}, { read: true });
  const chunks = [];
  let total = 0;
  for (;;) {
    const [chunk, end] = file.read(65536n, BigInt(total));
    chunks.push(chunk);
    total += chunk.length;
    if (end || chunk.length === 0) break;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export function readTextFile(path) {
  return decoder.decode(readFile(path));
}
