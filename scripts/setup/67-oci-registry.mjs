// Debian's docker-registry (the CNCF distribution server) for the OCI catalog's tests and bench, which start it on
// 127.0.0.1 through test/helpers/oci-registry.mjs; apache2-utils for htpasswd (the registry's basic-auth file).
// openssl makes the certificate of the bearer-token service the tests run.
// PLUGHOST_OCI_REGISTRY names another registry binary.
import { ociRegistryBinary, htpasswdBinary } from "../../test/helpers/oci-registry.mjs";
import { spawnSync } from "node:child_process";

export const name = "OCI registry for the catalog tests (docker-registry, htpasswd)";
export const aptPackages = ["docker-registry", "apache2-utils", "openssl"];

export async function run() {
  let bin;
  try {
    bin = ociRegistryBinary();
    htpasswdBinary();
  } catch (e) {
    console.log(`[setup] oci-registry: ${e.message}`);
    return;
  }
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  if (r.status !== 0) console.log(`[setup] oci-registry: ${bin} does not run (${r.error?.message ?? r.stderr.trim()}); install Debian's docker-registry or set PLUGHOST_OCI_REGISTRY`);
}
