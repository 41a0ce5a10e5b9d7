import { describe, expect, it } from "vitest";
import { SpinScore } from "../src/engines/spin-score.js";

// The spin policy the worker isolation's pump and the wasmtime call ring's pump share.
describe("SpinScore", () => {
  it("pauses once misses bring the score under the threshold, stays paused until the retry time, then resumes at its resume score", () => {
    const s = new SpinScore(16, 0.5, 0.75, 50);
    expect(s.paused).toBe(false);
    let misses = 0;
    while (!s.result(false)) misses++;
    // (15/16)^n < 0.5 first at n = 11: the 11th miss pauses.
    expect(misses + 1).toBe(11);
    expect(s.paused).toBe(true);
    expect(s.score).toBeLessThan(0.5);
    const now = performance.now();
    expect(s.resume(now)).toBe(false);
    expect(s.paused).toBe(true);
    expect(s.resume(now + 51)).toBe(true);
    expect(s.paused).toBe(false);
    expect(s.score).toBe(0.75);
  });

  it("hits raise the score towards 1 and never pause", () => {
    const s = new SpinScore(32, 0.25, 0.5);
    for (let i = 0; i < 20; i++) s.result(false);
    const low = s.score;
    for (let i = 0; i < 100; i++) expect(s.result(true)).toBe(false);
    expect(s.score).toBeGreaterThan(low);
    expect(s.score).toBeLessThanOrEqual(1);
    expect(s.paused).toBe(false);
    expect(s.resume(performance.now() + 1e6)).toBe(false);
  });
});
