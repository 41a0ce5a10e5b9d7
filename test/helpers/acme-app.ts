// Values of every kind in the test application's WIT (test/fixtures/wit/acme-app/app.wit), shared by the app-interface
// tests: each pair is a `kinds`/`mirror` function and a value that must cross both ways unchanged.

/** An `item` record of acme:app/kinds. */
export const item = (id: bigint, name: string, tags: string[], weight: number) => ({ id, name, tags, weight });

/** Every `echo-*` function with edge values: extremes of each integer, empty and long strings and lists, every case. */
export const ECHOES: [string, unknown][] = [
  ["echo-scalars", { b: true, u8v: 255, u16v: 65535, u32v: 4294967295, u64v: 2n ** 64n - 1n, s8v: -128, s16v: -32768, s32v: -2147483648, s64v: -(2n ** 63n), f32v: 1.5, f64v: -Math.PI, c: "😀" }],
  ["echo-scalars", { b: false, u8v: 0, u16v: 1, u32v: 2147483648, u64v: 0n, s8v: 127, s16v: 32767, s32v: 2147483647, s64v: 2n ** 63n - 1n, f32v: -0.25, f64v: 1e-300, c: "é" }],
  ["echo-string", "héllo wörld 😀"],
  ["echo-string", ""],
  ["echo-string", "y".repeat(200_000)],
  ["echo-bytes", new Uint8Array([0, 1, 2, 254, 255])],
  ["echo-bytes", new Uint8Array(0)],
  ["echo-item", item(2n ** 63n + 5n, "widget", ["a", "bé", ""], 2.5)],
  ["echo-items", [item(1n, "x", [], -1), item(2n, "", ["t"], 0.5), item(3n, "z".repeat(40), ["p", "q"], 1e300)]],
  ["echo-items", []],
  ["echo-shape", { tag: "circle", val: 1.25 }],
  ["echo-shape", { tag: "rect", val: { x: -1, y: 2147483647 } }],
  ["echo-shape", { tag: "empty" }],
  ["echo-color", "red"],
  ["echo-color", "blue-ish"],
  ["echo-perms", { read: true, write: false, execIt: true }],
  ["echo-perms", { read: false, write: true, execIt: false }],
  ["echo-maybe", "some text"],
  ["echo-maybe", undefined],
  ["echo-outcome", { tag: "ok", val: item(9n, "nine", ["n"], 9) }],
  ["echo-outcome", { tag: "err", val: "bad" }],
  ["echo-pair", [4294967295, "max"]],
];
