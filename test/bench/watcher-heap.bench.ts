import { createBenchPipeline } from "./watcher-fixture.ts";
import { rawPod } from "./synthetic-pods.ts";

/**
 * Steady-state heap per watched pod: N realistic pods (~6 KB of JSON each, a tenth of them
 * crash-looping) listed through the pipeline, then a full GC; the figure is the heap kept per
 * pod. Run with --expose-gc (npm run bench does).
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i += 1) {
    gc!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

async function measure(pods: number) {
  const { pipeline, batcher } = createBenchPipeline();
  const before = await heapAfterGc();
  for (let from = 0; from < pods; from += 1000) {
    for (let i = from; i < Math.min(pods, from + 1000); i += 1) {
      pipeline.handle("ADDED", rawPod(i, i % 10 === 0 ? { crashed: true, restartCount: 1 } : {}));
    }
    while (!pipeline.idle()) await new Promise((resolve) => setImmediate(resolve));
  }
  const after = await heapAfterGc();
  const stats = pipeline.stats();
  batcher.stop();
  return {
    pods,
    bytesPerPod: Math.round((after - before) / pods),
    heapDeltaMiB: Number(((after - before) / 1024 / 1024).toFixed(1)),
    rawPodJsonBytes: JSON.stringify(rawPod(1)).length,
    kept: stats,
  };
}

const results = [await measure(20_000), await measure(100_000)];
process.stdout.write(
  `${JSON.stringify({ benchmark: "watcher-heap-per-pod", target: "<= 1536 bytes per pod", results })}\n`,
);
