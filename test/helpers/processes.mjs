import { readdirSync, readFileSync } from "node:fs";
// The processes below a process, read from /proc: the soak (bench/soak.mjs) and its short in-suite form
// (test/soak-short.test.ts) count them to catch a sandbox helper left running.

/**
 * Every process below `pid` (sandbox helpers and whatever they started), zombies included.
 * @param {number} pid
 * @returns {number[]}
 */
export function descendants(pid) {
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    let tasks;
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // gone meanwhile
    }
    for (const t of tasks) {
      let kids = "";
      try {
        kids = readFileSync(`/proc/${p}/task/${t}/children`, "utf8");
      } catch {
        continue;
      }
      for (const k of kids.split(" ").filter(Boolean)) {
        out.push(Number(k));
        stack.push(Number(k));
      }
    }
  }
  return out;
}
