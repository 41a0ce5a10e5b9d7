// `read-file`: read through WASI (wasi:filesystem preopens) via the SDK.
import { readFile as read } from "@plughost/guest/fs";

/** @param {string} path */
export function readFile(path) {
  try {
    read(path);
    return true;
  } catch {
    return false;
  }
}
