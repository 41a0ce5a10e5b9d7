/**
 * Trust (docs/signatures.md): signer levels and what they allow, revocation, and the trust list file (optionally
 * encrypted at rest).
 */
export * from "./levels.js";
export * from "./crypto.js";
export * from "./store.js";
export * from "./host.js";
export * from "./edit.js";
