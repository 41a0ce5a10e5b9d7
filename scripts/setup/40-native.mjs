// Native plugins: the node-api addon (in-process, trusted), the sandbox helper
// (untrusted), and the native test fixtures and examples, all with gcc.
// libseccomp is used when its header is present; otherwise the helper builds
// its seccomp filter as raw BPF. A raw-BPF helper is always built as well, so
// both filter paths are tested. scripts/pack-platform.mjs packs the addon and the
// raw-BPF helper (it needs nothing beyond glibc) as @plughost/native-<platform> (npm/).
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { root, sh, buildIfChanged } from "./_util.mjs";

export const name = "native addon, sandbox helper, native plugins (gcc)";
export const aptPackages = ["gcc", "g++", "make", "python3", "libseccomp-dev"];

const CFLAGS = ["-Wall", "-Wextra", "-O2"];
const include = path.join(root, "guest-sdks", "c", "include");
const sdkSrc = path.join(root, "guest-sdks", "c", "src");
const sdkNative = path.join(sdkSrc, "plughost_native.c");
const helperDir = path.join(root, "native", "sandbox-helper");
const helperOut = path.join(helperDir, "build", "plughost-sandbox-helper");
const addonOut = path.join(root, "native", "c-adapter", "build", "Release", "plughost_native.node");
const fixturesDir = path.join(root, "test", "fixtures", "native");
const examplesDir = path.join(root, "examples", "native");

const hasLibseccomp = () =>
  ["/usr/include/seccomp.h", "/usr/local/include/seccomp.h"].some((p) => existsSync(p));

function buildHelper(out, useLib) {
  const src = ["helper.c", "sandbox.c"].map((f) => path.join(helperDir, "src", f));
  const args = [...CFLAGS, "-I", include, ...src, "-o", out, "-ldl", "-lpthread"];
  if (useLib) args.push("-DHAVE_LIBSECCOMP", "-lseccomp");
  sh("gcc", args);
}

/** gcc -shared for one plugin: its sources plus (unless legacy-only) the SDK's native extensions. */
export function buildPlugin(sources, out, { sdk = true, extra = [] } = {}) {
  mkdirSync(path.dirname(out), { recursive: true });
  sh("gcc", [...CFLAGS, "-shared", "-fPIC", "-pthread", "-I", include, ...sources, ...(sdk ? [sdkNative] : []), ...extra, "-o", out]);
}

/** Fixture-specific flags: nodelete.so cannot be unmapped; hostile.c reads the helper's slot layout. */
const FIXTURE_FLAGS = {
  "nodelete.c": ["-Wl,-z,nodelete"],
  "hostile.c": ["-I", path.join(helperDir, "src")],
  "intruder.c": ["-lm"], // links a library the helper does not load: its private root must hold it
};

/** Fixtures built without the SDK's extensions: state_rogue.c and metrics_rogue.c keep the host table themselves. */
const NO_SDK = new Set(["state_rogue.c", "metrics_rogue.c"]);

function fixtureOutputs() {
  if (!existsSync(fixturesDir)) return [];
  return readdirSync(fixturesDir)
    .filter((f) => f.endsWith(".c"))
    .map((f) => [path.join(fixturesDir, f), path.join(fixturesDir, "build", f.replace(/\.c$/, ".so"))]);
}

function exampleOutputs() {
  if (!existsSync(examplesDir)) return [];
  return readdirSync(examplesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => path.join(examplesDir, d.name))
    .filter((dir) => existsSync(path.join(dir, `${path.basename(dir)}.c`)))
    .map((dir) => [path.join(dir, `${path.basename(dir)}.c`), path.join(dir, `${path.basename(dir)}.so`)]);
}

export async function run() {
  const nodedir = existsSync("/usr/include/node/node_api.h") ? ["--nodedir=/usr"] : [];
  await buildIfChanged(
    ".cache/stamps/native-addon",
    [
      "native/c-adapter/src",
      "native/c-adapter/binding.gyp",
      "native/sandbox-helper/src/protocol.h",
      "native/sandbox-helper/src/shm.h",
      "guest-sdks/c/include",
    ],
    [addonOut],
    () => {
      const gyp = path.join(root, "node_modules", "node-gyp", "bin", "node-gyp.js");
      sh(process.execPath, [gyp, "rebuild", ...nodedir], { cwd: path.join(root, "native", "c-adapter") });
    },
  );
  await buildIfChanged(
    ".cache/stamps/native-helper",
    ["native/sandbox-helper/src", "guest-sdks/c/include", "scripts/setup/40-native.mjs"],
    [helperOut, `${helperOut}-bpf`],
    () => {
      mkdirSync(path.dirname(helperOut), { recursive: true });
      buildHelper(helperOut, hasLibseccomp());
      buildHelper(`${helperOut}-bpf`, false);
    },
  );
  const fixtures = fixtureOutputs();
  const examples = exampleOutputs();
  await buildIfChanged(
    ".cache/stamps/native-plugins",
    [
      "test/fixtures/native",
      "test/fixtures/c/suspend-resume", // test/fixtures/native/suspend-resume.c includes its source
      "test/fixtures/c/state-counter", // ... and state_counter.c its
      "test/fixtures/c/metrics-probe", // ... and metrics_probe.c its
      "test/fixtures/c/common", // shared by fixtures on both sides (requester.c includes ask.h)
      "examples/native",
      "guest-sdks/c/include",
      "guest-sdks/c/src/plughost_native.c",
      "native/sandbox-helper/src/shm.h",
      "scripts/setup/40-native.mjs",
    ],
    [...fixtures, ...examples].map(([, out]) => out),
    () => {
      for (const [src, out] of fixtures) {
        const base = path.basename(src);
        buildPlugin([src], out, { sdk: !NO_SDK.has(base), extra: FIXTURE_FLAGS[base] ?? [] });
      }
      // Examples are legacy-ABI only: built without the SDK's extensions, as a user would.
      for (const [src, out] of examples) buildPlugin([src], out, { sdk: false });
    },
  );
}
