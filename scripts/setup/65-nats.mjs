// Debian's nats-server for the NATS transport's tests (test/nats-*.test.ts) and bench (bench/nats.mjs), which start
// it on 127.0.0.1 through test/helpers/nats-server.mjs. PLUGHOST_NATS_SERVER names another binary.
import { natsServerBinary } from "../../test/helpers/nats-server.mjs";
import { spawnSync } from "node:child_process";

export const name = "NATS server for the transport tests (nats-server)";
export const aptPackages = ["nats-server"];

export async function run() {
  let bin;
  try {
    bin = natsServerBinary();
  } catch (e) {
    console.log(`[setup] nats: ${e.message}`);
    return;
  }
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  if (r.status !== 0) console.log(`[setup] nats: ${bin} does not run (${r.error?.message ?? r.stderr.trim()}); install Debian's nats-server or set PLUGHOST_NATS_SERVER`);
}
