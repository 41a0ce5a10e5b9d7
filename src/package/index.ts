/**
 * Plugin packages (`.plughost` files, docs/catalog.md "Package format"): pack a plugin directory, write and read the
 * deterministic archive, sign and verify it, extract it.
 */
export * from "./types.js";
export { packPlugin, type PackOptions } from "./pack.js";
export { writePackage, packageDigest } from "./layout.js";
export { readPackage, readPackageFile, packageFromParts, PACKAGE_BOUNDS } from "./read.js";
export { signPackage, verifyPackage, packageStatement, type VerifyPackageOptions } from "./sign.js";
export { extractPackage } from "./extract.js";
export type { TarBounds } from "./tar.js";
export { isPackagePath, materializePackage, platformProblem } from "./load.js";
