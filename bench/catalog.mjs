// Packages and catalogs (docs/catalog.md).
//
// install_local_ms: install examples/c/csv2json (a ~30 KB C component, packed and signed) from a directory catalog
// into a fresh plugin directory, verified against a trust list with requireSignature: fetch (file digest checked
// against the index), verify (every file's sha256, the package signature), extract, switch the link, write the
// lockfile. A fresh catalog object and Installer per install, as a CLI invocation has. Median of 25 after 3 warm-ups.
// install_oci_ms: the same from Debian's docker-registry on 127.0.0.1 (test/helpers/oci-registry.mjs), no auth.
// pack_ms: pack examples/js/hello (a ~12 MB JS component) into a package file: read and hash every file, lay out the
// deterministic tar, write it to disk. Median of 7 after a warm-up. Each figure also as _min and _max.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createPrivateKey } from "node:crypto";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openCatalog } from "../dist/catalog/index.js";
import { Installer } from "../dist/catalog/install.js";
import { packPlugin, writePackage } from "../dist/package/index.js";
import { generateSigningKey } from "../dist/plugin/signatures.js";
import { startOciRegistry } from "../test/helpers/oci-registry.mjs";
import { median } from "./stats.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const GOALS = { install_local_ms: 50, install_oci_ms: 200, pack_ms: 1000 };
const round = (x) => +x.toFixed(2);

/** Median, min and max ms of `runs` fresh installs of `name` from `location` (after `warm` untimed ones). */
async function timeInstalls(location, name, policy, tmp, { warm = 3, runs = 25 } = {}) {
  const ms = [];
  let digest;
  for (let i = 0; i < warm + runs; i++) {
    const pluginDir = path.join(tmp, `plugins-${path.basename(location)}-${i}`);
    const t0 = performance.now();
    const installer = new Installer({ pluginDir, catalog: openCatalog(location), signatures: policy, requireSignature: true });
    const result = await installer.install(name);
    const t = performance.now() - t0;
    if (result.installed.length !== 1 || !result.installed[0].key) throw new Error(`install ${name} did not install one signed plugin: ${JSON.stringify(result)}`);
    digest ??= result.installed[0].digest;
    if (i >= warm) ms.push(t);
    rmSync(pluginDir, { recursive: true, force: true });
  }
  return { median: median(ms), min: Math.min(...ms), max: Math.max(...ms), digest };
}

export async function run() {
  const tmp = mkdtempSync(path.join(tmpdir(), "plughost-bench-catalog-"));
  const { privateKeyPem, publicKey } = generateSigningKey();
  const key = createPrivateKey(privateKeyPem);
  const policy = { require: true, keys: { bench: publicKey } };
  const results = {};
  try {
    // The C plugin, packed and signed once, published to both catalogs.
    const pkg = await packPlugin(path.join(root, "examples/c/csv2json"), { key, keyId: "bench", created: new Date("2026-01-01T00:00:00Z") });
    const packageBytes = writePackage(pkg).byteLength;
    console.log(`csv2json-c package: ${packageBytes} bytes (${[...pkg.files.keys()].join(", ")})`);

    const dirCatalog = path.join(tmp, "catalog");
    await openCatalog(dirCatalog).publish(pkg);
    const local = await timeInstalls(dirCatalog, "csv2json-c", policy, tmp);
    if (local.digest !== pkg.digest) throw new Error(`installed digest ${local.digest} is not the package's ${pkg.digest}`);
    Object.assign(results, { install_local_ms: round(local.median), install_local_ms_min: round(local.min), install_local_ms_max: round(local.max) });
    console.log(`install_local_ms ${round(local.median)} (min ${round(local.min)}, max ${round(local.max)}; goal ≤ ${GOALS.install_local_ms})`);

    const registry = await startOciRegistry();
    try {
      await openCatalog(registry.location).publish(pkg);
      const oci = await timeInstalls(registry.location, "csv2json-c", policy, tmp);
      Object.assign(results, { install_oci_ms: round(oci.median), install_oci_ms_min: round(oci.min), install_oci_ms_max: round(oci.max) });
      console.log(`install_oci_ms ${round(oci.median)} (min ${round(oci.min)}, max ${round(oci.max)}; goal ≤ ${GOALS.install_oci_ms})`);
    } finally {
      await registry.close();
    }

    // pack: the JS example's 12 MB component.
    const jsDir = path.join(root, "examples/js/hello");
    const out = path.join(tmp, "hello-js.plughost");
    const packMs = [];
    let size = 0;
    for (let i = 0; i < 8; i++) {
      const t0 = performance.now();
      const bytes = writePackage(await packPlugin(jsDir));
      writeFileSync(out, bytes);
      const t = performance.now() - t0;
      size = bytes.byteLength;
      if (i > 0) packMs.push(t);
    }
    if (readFileSync(out).byteLength !== size) throw new Error("the package file was not written whole");
    Object.assign(results, { pack_ms: round(median(packMs)), pack_ms_min: round(Math.min(...packMs)), pack_ms_max: round(Math.max(...packMs)) });
    console.log(`pack_ms ${results.pack_ms} (min ${round(Math.min(...packMs))}, max ${round(Math.max(...packMs))}; ${(size / 1e6).toFixed(1)} MB package; goal ≤ ${GOALS.pack_ms})`);
    console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(" ")} on ${availableParallelism()} cores`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return results;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) console.log(await run());
