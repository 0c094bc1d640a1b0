import { createBenchPipeline } from "./watcher-fixture.ts";
import { rawPod } from "./synthetic-pods.ts";

/**
 * Pod updates per second through filter → dedup → metadata cache → batch, on one core. Two
 * mixes: steady (status churn detection does not read: readiness, versions) and storm (every
 * update a new crash of a crash-looping pod: detected, resolved, folded and batched). Updates
 * are made in chunks outside the timed part, so the figure is the pipeline's, not the generator's.
 */
const PODS = 20_000;
const CHUNK = 2_000;

async function measure(label: string, rounds: number, make: (i: number, round: number) => unknown) {
  const { pipeline, batcher, counts } = createBenchPipeline();
  let timedNs = 0n;
  let updates = 0;
  for (let round = 1; round <= rounds; round += 1) {
    for (let from = 0; from < PODS; from += CHUNK) {
      const chunk = Array.from({ length: CHUNK }, (_, k) => make(from + k, round));
      const started = process.hrtime.bigint();
      for (const update of chunk) pipeline.handle("MODIFIED", update);
      while (!pipeline.idle()) await new Promise((resolve) => setImmediate(resolve));
      timedNs += process.hrtime.bigint() - started;
      updates += chunk.length;
    }
  }
  pipeline.drainFolded();
  await batcher.flush(10_000);
  batcher.stop();
  const seconds = Number(timedNs) / 1e9;
  return {
    mix: label,
    updates,
    seconds: Number(seconds.toFixed(3)),
    updatesPerSecond: Math.round(updates / seconds),
    ...counts(),
  };
}

const results = [
  await measure("steady status churn", 10, (i, round) => {
    const pod = rawPod(i);
    pod.metadata.resourceVersion = String(round * PODS + i);
    pod.status.conditions[1]!.lastTransitionTime = new Date(
      Date.UTC(2026, 10, 22, 10, round),
    ).toISOString();
    return pod;
  }),
  await measure("crash storm, every update a new crash", 5, (i, round) =>
    rawPod(i, { crashed: true, restartCount: round }),
  ),
];
process.stdout.write(
  `${JSON.stringify({ benchmark: "watcher-pipeline-throughput", target: ">= 100000 updates/s", audit: "off", node: process.version, results })}\n`,
);
