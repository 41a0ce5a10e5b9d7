// The hook chain's synchronous path copies each hook's output into one of two buffers it reuses (src/hooks/sink.ts)
// and copies the final data out once. These tests pin what that must not change: every size arrives intact (odd
// lengths, a buffer that grows, outputs past the copy-by-words size and past the sink's limit), a chain's result is
// its own (a later chain does not rewrite it), two chains started back to back do not share a result, and a stopped or failing step leaves the data as it was before that step.
//
// Guest: test/fixtures/c/hook-policy; each copy's "tag" hook appends its config's tag, "pass" hands its input back.
import { rmSync } from "node:fs";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { PluginRegistry } from "../src/index.js";
import { copyPlugin, dec, enc, silentLogger } from "./helpers/plugins.js";

const FIXTURE = "test/fixtures/c/hook-policy";

let registry: PluginRegistry | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await registry?.unloadAll().catch(() => undefined);
  registry = undefined;
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A registry with copies of the fixture tagging "a", "b", "c"… in that order (in-process v8: the direct path). */
async function chainOf(tags: string[], onError: "fail" | "skip" = "fail"): Promise<PluginRegistry> {
  const r = (registry = new PluginRegistry({
    logger: silentLogger(),
    cacheDir: false,
    engine: "v8",
    isolation: "in-process",
    violationThreshold: 100,
    hooks: { defaultOnError: onError },
  }));
  for (const [i, tag] of tags.entries()) {
    const dir = copyPlugin(FIXTURE, (t) => t.replace('name = "hook-policy"', `name = "h-${tag}"`).replace('tag = "?"', `tag = "${tag}"`) + `\n[[hooks]]\nevent = "tag"\npriority = ${1000 - i}\n[[hooks]]\nevent = "pass"\npriority = ${1000 - i}\n`);
    dirs.push(dir);
    await r.load(dir);
  }
  return r;
}

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe("the hook chain's reused output buffers", () => {
  it("carry every size intact: odd lengths, growth past the first buffer, word-copied, set and oversized outputs", async () => {
    const r = await chainOf(["a", "b", "c", "d", "e"]);
    for (const n of [0, 1, 3, 15, 16, 59, 60, 61, 64, 65, 250, 252, 257, 1000, 4096, 70_000]) {
      const input = bytes(n, n);
      const result = await r.runHook("tag", input);
      expect(result.ok).toBe(true);
      expect(result.errors).toEqual([]);
      expect(result.data.length).toBe(n + 5);
      expect(Buffer.from(result.data.subarray(0, n)).equals(Buffer.from(input))).toBe(true);
      expect(dec(result.data.subarray(n))).toBe("abcde");
      // Passed through untouched by ten hooks' worth of buffers.
      const passed = await r.runHook("pass", input);
      expect(Buffer.from(passed.data).equals(Buffer.from(input))).toBe(true);
    }
  });

  it("hands each chain a result of its own: a later chain does not rewrite an earlier one's data", async () => {
    const r = await chainOf(["a", "b", "c"]);
    const first = await r.runHook("tag", enc("first"));
    const second = await r.runHook("tag", enc("2nd!!"));
    const third = await r.runHook("pass", enc("third"));
    expect(dec(first.data)).toBe("firstabc");
    expect(dec(second.data)).toBe("2nd!!abc");
    expect(dec(third.data)).toBe("third");
    // The caller's input is never written either.
    const input = enc("input");
    await r.runHook("tag", input);
    expect(dec(input)).toBe("input");
  });

  it("gives two chains started back to back (the second before the first is awaited) each its own result", async () => {
    const r = await chainOf(["a", "b", "c"]);
    const first = r.runHook("tag", enc("first"));
    const second = r.runHook("tag", enc("second"));
    expect([dec((await first).data), dec((await second).data)]).toEqual(["firstabc", "secondabc"]);
  });

  it("leaves the data as it was before a step that rejects, and before one that fails", async () => {
    const r = await chainOf(["a", "b"], "skip");
    // "reject" answers err(7): the chain stops with the data it had.
    const rejected = await r.runHook("reject", enc("kept"));
    expect(rejected.ok).toBe(false);
    expect(rejected.status).toBe(7);
    expect(dec(rejected.data)).toBe("kept");
    // "trap" faults (on-error skip here): each is reported, the data goes on unchanged.
    const trapped = await r.runHook("trap", enc("still"));
    expect(trapped.errors.map((e) => e.plugin)).toEqual(["h-a", "h-b"]);
    expect(dec(trapped.data)).toBe("still");
    // After the faults and restarts, the buffers still serve a chain.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(dec((await r.runHook("tag", enc("again"))).data)).toBe("againab");
  });
});
