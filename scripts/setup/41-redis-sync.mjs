// The Redis state backend's synchronous transport (native/redis-sync): a node-api addon over Debian's hiredis, so a
// state call is one round trip on the caller's thread (src/state/redis-sync.ts). Optional: without hiredis's
// headers nothing is built and the backend uses its worker-thread transport (ioredis). Not shipped in the
// platform packages (it links libhiredis.so); PLUGHOST_REDIS_SYNC_ADDON points an installed plughost at a build.
import { existsSync } from "node:fs";
import path from "node:path";
import { root, sh, buildIfChanged } from "./_util.mjs";

export const name = "Redis state backend's synchronous transport (node-api addon over hiredis)";
export const aptPackages = ["gcc", "g++", "make", "python3", "libhiredis-dev"];

const dir = path.join(root, "native", "redis-sync");
export const addonOut = path.join(dir, "build", "Release", "plughost_redis_sync.node");

const hasHiredis = () => ["/usr/include/hiredis/hiredis.h", "/usr/local/include/hiredis/hiredis.h"].some((p) => existsSync(p));

export async function run() {
  if (!hasHiredis()) {
    console.log("[setup] redis-sync: hiredis's headers are missing (apt-get install libhiredis-dev); the Redis state backend uses its worker transport");
    return;
  }
  const nodedir = existsSync("/usr/include/node/node_api.h") ? ["--nodedir=/usr"] : [];
  await buildIfChanged(".cache/stamps/redis-sync", ["native/redis-sync/src", "native/redis-sync/binding.gyp"], [addonOut], () => {
    const gyp = path.join(root, "node_modules", "node-gyp", "bin", "node-gyp.js");
    sh(process.execPath, [gyp, "rebuild", ...nodedir], { cwd: dir });
  });
}
