/**
 * Worker thread that runs jco's transpile (compile.ts `transpileOffThread`), so the host thread can instrument a
 * component's large core modules meanwhile. It only turns bytes into glue files: what comes back is checked on the
 * host exactly as a transpile on the host thread would be.
 */
import { parentPort } from "node:worker_threads";
import type { TranspileOptions, TranspileResult } from "../../../vendor/jco/index.js";

export interface JcoJob {
  id: number;
  component: Uint8Array;
  options: TranspileOptions;
}

export type JcoReply = { id: number; result: TranspileResult } | { id: number; error: string };

const { transpileBytes } = await import("../../../vendor/jco/index.js");

parentPort?.on("message", (job: JcoJob) => {
  transpileBytes(job.component, job.options).then(
    (result) => parentPort!.postMessage({ id: job.id, result } satisfies JcoReply), // copied: the glue is small
    (err: unknown) => parentPort!.postMessage({ id: job.id, error: err instanceof Error ? err.message : String(err) } satisfies JcoReply),
  );
});
