// Types for "@plughost/guest/fs". Using it adds wasi:filesystem imports to the
// component; the plugin then needs an `fs:read:<dir>` capability.

/** Read a whole file from a preopened directory. Throws when it cannot (missing capability, no such file, ...). */
export function readFile(path: string): Uint8Array;
/** `readFile` decoded as UTF-8. */
export function readTextFile(path: string): string;
