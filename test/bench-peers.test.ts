// bench/peers.mjs compares plughost with Extism's JS SDK, stock jco glue and a raw V8 call on one workload: each
// must compute the same thing, or the timings compare different work. A correctness check, not a timing.
import { describe, expect, it } from "vitest";
import { expectedStatus, INPUT, peerOutputs } from "../bench/peers.mjs";

describe("bench/peers workloads", () => {
  it("every peer answers plughost's checksum for the same 16 bytes, in process and in a worker", async () => {
    const ramp = Uint8Array.from({ length: 16 }, (_, i) => i * 17); // every byte differs, 0..255
    const full = new Uint8Array(16).fill(255);
    const inputs = [INPUT, ramp, full];
    const out = await peerOutputs(inputs);
    const want = inputs.map(expectedStatus);
    expect(want).toEqual([112, 2040, 4080]);
    expect(Object.keys(out).sort()).toEqual(["extism", "extism_worker", "jco", "plughost", "plughost_async", "plughost_unmetered", "plughost_worker", "raw"]);
    for (const [name, answers] of Object.entries(out)) expect({ name, answers }).toEqual({ name, answers: want });
  });
});
