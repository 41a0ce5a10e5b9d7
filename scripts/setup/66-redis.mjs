// Debian's redis-server for the Redis state backend's tests (test/state-backend.test.ts and the state tests) and
// bench, which start it on 127.0.0.1 through test/helpers/redis-server.mjs. PLUGHOST_REDIS_SERVER names another binary.
import { redisServerBinary } from "../../test/helpers/redis-server.mjs";
import { spawnSync } from "node:child_process";

export const name = "Redis server for the state backend tests (redis-server)";
export const aptPackages = ["redis-server"];

export async function run() {
  let bin;
  try {
    bin = redisServerBinary();
  } catch (e) {
    console.log(`[setup] redis: ${e.message}`);
    return;
  }
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  if (r.status !== 0) console.log(`[setup] redis: ${bin} does not run (${r.error?.message ?? r.stderr.trim()}); install Debian's redis-server or set PLUGHOST_REDIS_SERVER`);
}
