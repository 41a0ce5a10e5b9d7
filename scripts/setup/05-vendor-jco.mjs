// vendor/jco/: the transpiler and wasm-tools, taken from the pinned
// jco-transpile devDependency (scripts/vendor-jco.mjs says why).
import { upToDate, vendor } from "../vendor-jco.mjs";

export const name = "vendored jco tools";
export async function run() {
  if (!upToDate()) vendor();
}
