// A fixed Ed25519 test key pair for the signature and package fuzz targets: their seed
// corpora hold signatures made with it (test/fuzz/make-seeds.mjs), so the fuzzer starts
// from inputs that verify. It signs nothing outside test/fuzz/.
export const FUZZ_KEY_ID = "fuzz";
export const FUZZ_PRIVATE_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIEutDFkPLdyeparwouYXDGQwxDGgsqQtPT/V6M/tpZgk
-----END PRIVATE KEY-----`;
export const FUZZ_PUBLIC_KEY = "vzR9X95H7Y6RcUfg7QtF/6Oj+O1gijd63uUdnc5UOYc=";
/** A second key, listed as revoked in the targets' trust list. */
export const REVOKED_KEY_ID = "old";
export const REVOKED_PRIVATE_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDvHTOVQFTfNwqyfZe8NyHsy2EbyRkmJH8vcBfB3BMeZ
-----END PRIVATE KEY-----`;
export const REVOKED_PUBLIC_KEY = "aMKS4KjbqcEGwnCDZbNLNw7sArCY8DsghP+oAF2K5I4=";

/** The trust list both targets verify against. */
export const FUZZ_TRUST_POLICY = {
  keys: { [FUZZ_KEY_ID]: FUZZ_PUBLIC_KEY, [REVOKED_KEY_ID]: { key: REVOKED_PUBLIC_KEY, revoked: "2026-01-01", reason: "rotated" } },
  pins: { "fuzz-sig": [FUZZ_KEY_ID, REVOKED_KEY_ID] },
};
